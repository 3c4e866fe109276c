//! Fuzz target: scenario text and `--set` overrides → parse and validate → a tiny solve and
//! check. See `fuzz/README.md`; the body is shared with the corpus replay test
//! (`tests/fuzz_corpus.rs`).
#![no_main]

include!("body.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run_one(data);
});
