//! `mpirun -n K mfgsim learn|finite-n` (cargo feature `mpi`): one population sharded over K
//! ranks gives bitwise the files of one process, for K = 1, 2, 3 and any threads per rank;
//! rank 0 alone writes; what cannot be sharded is refused by name. Skipped, with the reason
//! printed, when `mpirun` is not on PATH.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::RecordBatch;

use crate::util::read_parquet_batch as read;

/// Launcher variables of an enclosing MPI job, removed from the one-process reference run.
const LAUNCHER: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"];

/// `mpirun` on PATH, or `None` after printing why the test is skipped.
fn mpirun() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("mpirun"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        #[expect(clippy::print_stdout, reason = "a skipped test says why")]
        {
            println!("skipped: mpirun is not on PATH (install openmpi-bin)");
        }
    }
    found
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `mfgsim ARGS` as one process.
fn plain(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mfgsim"));
    c.args(args).current_dir(crate::util::root(""));
    for v in LAUNCHER {
        c.env_remove(v);
    }
    c.output().expect("run mfgsim")
}

/// `mpirun -n K mfgsim ARGS` (root and more ranks than cores allowed, as in CI).
fn under_mpirun(mpirun: &Path, k: usize, args: &[&str]) -> Output {
    Command::new(mpirun)
        .args(["-n", &k.to_string(), env!("CARGO_BIN_EXE_mfgsim")])
        .args(args)
        .current_dir(crate::util::root(""))
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .output()
        .expect("run mpirun")
}

/// The table without its wall-time columns.
fn without_times(b: &RecordBatch) -> RecordBatch {
    let keep: Vec<usize> = (0..b.num_columns())
        .filter(|&i| !b.schema().field(i).name().ends_with("seconds"))
        .collect();
    b.project(&keep).unwrap()
}

/// The summary without what measures the machine (times, rates, memory, threads).
fn summary(dir: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        if let Some(a) = v.as_array_mut() {
            a.iter_mut().for_each(strip);
        }
        if let Some(m) = v.as_object_mut() {
            m.retain(|k, _| {
                !(k.contains("seconds")
                    || k.contains("per_second")
                    || k.starts_with("step_latency")
                    || k.contains("rss")
                    || k == "bytes_per_agent"
                    || k == "threads")
            });
            m.values_mut().for_each(strip);
        }
    }
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    strip(&mut v);
    v
}

/// The directory holds exactly `files` (rank 0 wrote them, nobody wrote anything else).
fn assert_files(dir: &Path, files: &[&str]) {
    let mut got: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".mfgsim.lock")
        .collect();
    got.sort();
    let mut want: Vec<String> = files.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{}", dir.display());
}

#[test]
fn learn_over_one_two_and_three_ranks_is_bitwise_one_process() {
    let Some(mpirun) = mpirun() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // 4 chunks of 2^16 (the last partial): 3 ranks hold 1, 1 and 2 of them.
    let common = [
        "learn",
        "scenarios/gig.toml",
        "--agents",
        "200000",
        "--iterations",
        "25",
        "--seed",
        "3",
        "-q",
    ];
    let one = tmp.path().join("one");
    let out = plain(
        &[
            &common[..],
            &["--threads", "2", "--out", one.to_str().unwrap()],
        ]
        .concat(),
    );
    check(&out, "one process");
    let want = without_times(&read(&one.join("snapshots.parquet")));
    assert_eq!(want.num_rows(), 25);
    for (k, threads) in [(1, "2"), (2, "1"), (3, "1"), (2, "2")] {
        let dir = tmp.path().join(format!("k{k}t{threads}"));
        let args = [
            &common[..],
            &["--threads", threads, "--out", dir.to_str().unwrap()],
        ]
        .concat();
        let out = under_mpirun(&mpirun, k, &args);
        check(&out, &format!("mpirun -n {k}, {threads} thread(s)"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("{k} MPI ranks")), "{stdout}");
        assert_eq!(
            stdout.matches("wrote ").count(),
            1,
            "rank 0 alone: {stdout}"
        );
        assert_eq!(
            without_times(&read(&dir.join("snapshots.parquet"))),
            want,
            "snapshots, K = {k}, {threads} thread(s)"
        );
        assert_eq!(summary(&dir), summary(&one), "summary, K = {k}");
        assert_files(&dir, &["snapshots.parquet", "summary.json"]);
    }
}

#[test]
fn finite_n_over_one_two_and_three_ranks_is_bitwise_one_process() {
    let Some(mpirun) = mpirun() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // N = 1000 is one chunk (ranks 1 and 2 hold no agents); 140000 is three.
    for policy in ["tmfe", "learned"] {
        let common = [
            "finite-n",
            "scenarios/gig.toml",
            "--agents",
            "1000,140000",
            "--seeds",
            "2",
            "--steps",
            "12",
            "--burn-in",
            "3",
            "--policy",
            policy,
            "-q",
        ];
        let one = tmp.path().join(format!("one-{policy}"));
        let out = plain(
            &[
                &common[..],
                &["--threads", "2", "--out", one.to_str().unwrap()],
            ]
            .concat(),
        );
        check(&out, "one process");
        let runs = without_times(&read(&one.join("finite_n.parquet")));
        let steps = read(&one.join("finite_n_steps.parquet"));
        assert_eq!(runs.num_rows(), 4);
        for k in 1..=3 {
            let dir = tmp.path().join(format!("k{k}-{policy}"));
            let args = [
                &common[..],
                &["--threads", "1", "--out", dir.to_str().unwrap()],
            ]
            .concat();
            let out = under_mpirun(&mpirun, k, &args);
            check(&out, &format!("mpirun -n {k}, {policy}"));
            assert_eq!(
                without_times(&read(&dir.join("finite_n.parquet"))),
                runs,
                "runs, K = {k}, {policy}"
            );
            assert_eq!(
                read(&dir.join("finite_n_steps.parquet")),
                steps,
                "steps, K = {k}, {policy}"
            );
            assert_eq!(summary(&dir), summary(&one), "summary, K = {k}, {policy}");
        }
    }
}

#[test]
fn what_cannot_be_sharded_is_refused_by_name_on_rank_zero() {
    let Some(mpirun) = mpirun() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let d = dir.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &["learn", "scenarios/gig.toml", "--algo", "iql"],
            "learner.algo",
        ),
        (
            &["learn", "scenarios/gig.toml", "--engine", "counts"],
            "sim.engine",
        ),
        (
            &[
                "learn",
                "scenarios/gig.toml",
                "--set",
                "learner.rule=\"sampled\"",
            ],
            "learner.rule",
        ),
        (
            &["learn", "scenarios/gig.toml", "--checkpoint-every", "5"],
            "--checkpoint-every",
        ),
        (
            &["learn", "scenarios/gig.toml", "--export-transitions"],
            "--export-transitions",
        ),
        (
            &["finite-n", "scenarios/gig.toml", "--engine", "counts"],
            "--engine",
        ),
    ];
    for (args, key) in cases {
        let out = under_mpirun(&mpirun, 2, &[args, &["--out", d, "-q"]].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{args:?}: {err}");
        // Rank 0 alone reports a refusal every rank makes.
        assert_eq!(err.matches("mfgsim: error").count(), 1, "{args:?}: {err}");
        assert!(!dir.join("summary.json").exists(), "{args:?}");
    }
}
