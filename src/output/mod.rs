//! Writing results: Parquet tables and JSON summaries, atomically.
