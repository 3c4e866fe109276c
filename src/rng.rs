//! Deterministic random streams keyed by (seed, purpose, step, chunk).
