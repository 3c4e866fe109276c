//! Shared helpers for the integration tests.

use std::path::PathBuf;

/// A whole `learn` run of `sc` with default options, no stop and no callback.
pub fn learn_to_end(sc: &mfgsim::scenario::Scenario) -> mfgsim::run::LearnReport {
    mfgsim::run::learn(
        sc,
        &mfgsim::run::LearnOptions::default(),
        &std::sync::atomic::AtomicBool::new(false),
        &mut |_, _| Ok(()),
    )
    .unwrap()
}

/// Runs the `mfgsim` binary with `args` from the crate root and collects its output.
pub fn mfgsim(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mfgsim"))
        .args(args)
        .current_dir(root(""))
        .output()
        .expect("run mfgsim")
}

/// Path of a file under the crate root.
pub fn root(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The reference JSON (see tests/data/README.md).
pub fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(root("tests/data/tmfe_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A JSON array of numbers as `Vec<f64>`.
pub fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// A JSON array of integers as `Vec<usize>`.
pub fn usizes(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// Every row of a Parquet file as one Arrow batch (panics naming the file when unreadable).
pub fn read_parquet_batch(path: &std::path::Path) -> arrow_array::RecordBatch {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<arrow_array::RecordBatch> = r.map(|b| b.unwrap()).collect();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}
