//! Replays the committed corpus of the `scenario` fuzz target (`fuzz/corpus/scenario/`)
//! through the same body (`fuzz/fuzz_targets/body.rs`), so every input the fuzzer kept,
//! findings included, is checked by `cargo test` without libFuzzer.

#![allow(dead_code, reason = "the included body is also the fuzz target's")]

include!("../fuzz/fuzz_targets/body.rs");

#[test]
fn the_fuzz_corpus_replays_without_a_panic() {
    let dir = crate::util::root("fuzz/corpus/scenario");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 40,
        "only {} inputs in {}",
        inputs.len(),
        dir.display()
    );
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let result = std::panic::catch_unwind(|| run_one(&data));
        assert!(result.is_ok(), "{} panicked", path.display());
    }
}
