//! The agent population: struct-of-arrays columns stepped in fixed chunks.
