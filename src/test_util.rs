//! Helpers shared by the unit tests of several modules.

/// Runs `f` inside a rayon pool of `threads` workers (for 1-vs-2-thread determinism tests).
pub(crate) fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a test thread pool")
        .install(f)
}

/// The experiment knob `key` from the environment, `default` when unset or unparsable (the
/// ignored `experiment_*` tests read their settings this way).
pub(crate) fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
