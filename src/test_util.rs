//! Helpers shared by the unit tests of several modules.

/// Runs `f` inside a rayon pool of `threads` workers (for 1-vs-2-thread determinism tests).
pub(crate) fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a test thread pool")
        .install(f)
}
