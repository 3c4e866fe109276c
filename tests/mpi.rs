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

/// `learn scenarios/gig.toml [--algo ALGO] --agents N REST… -q`: the arguments every
/// learn test starts from.
fn gig_learn<'a>(algo: Option<&'a str>, agents: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["learn", "scenarios/gig.toml"];
    if let Some(a) = algo {
        v.extend(["--algo", a]);
    }
    v.extend(["--agents", agents]);
    v.extend_from_slice(rest);
    v.push("-q");
    v
}

#[test]
fn learn_over_one_two_and_three_ranks_is_bitwise_one_process() {
    let Some(mpirun) = mpirun() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // 4 chunks of 2^16 (the last partial): 3 ranks hold 1, 1 and 2 of them.
    let common = gig_learn(None, "200000", &["--iterations", "25", "--seed", "3"]);
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

/// `mfgsim learn ARGS` once as one process (2 threads) and under `mpirun -n K` for K = 1,
/// 2, 3 with 1 or 2 threads per rank: the same `snapshots.parquet` (times aside) and
/// `summary.json` (machine measures aside), rank 0 writing alone.
fn learn_matches_one_process(mpirun: &Path, tmp: &Path, name: &str, common: &[&str]) {
    let one = tmp.join(format!("{name}-one"));
    let out = plain(&[common, &["--threads", "2", "--out", one.to_str().unwrap()]].concat());
    check(&out, &format!("{name}: one process"));
    let want = without_times(&read(&one.join("snapshots.parquet")));
    assert!(want.num_rows() > 0);
    for (k, threads) in [(1, "2"), (2, "1"), (3, "1"), (2, "2")] {
        let dir = tmp.join(format!("{name}-k{k}t{threads}"));
        let args = [
            common,
            &["--threads", threads, "--out", dir.to_str().unwrap()],
        ]
        .concat();
        let out = under_mpirun(mpirun, k, &args);
        check(&out, &format!("{name}: mpirun -n {k}, {threads} thread(s)"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("{k} MPI ranks")), "{stdout}");
        assert_eq!(
            without_times(&read(&dir.join("snapshots.parquet"))),
            want,
            "{name}: snapshots, K = {k}, {threads} thread(s)"
        );
        assert_eq!(summary(&dir), summary(&one), "{name}: summary, K = {k}");
        assert_files(&dir, &["snapshots.parquet", "summary.json"]);
    }
}

#[test]
fn iql_and_mfq_over_one_two_and_three_ranks_are_bitwise_one_process() {
    let Some(mpirun) = mpirun() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // 3 chunks of 2^16, the last partial: 3 ranks hold one each; each agent's table lives
    // on its rank. The agent sample of the per-agent exploitability spans every rank.
    for algo in ["iql", "mfq"] {
        let common = gig_learn(Some(algo), "140000", &["--iterations", "12", "--seed", "5"]);
        learn_matches_one_process(&mpirun, tmp.path(), algo, &common);
        let s = summary(&tmp.path().join(format!("{algo}-one")));
        assert!(s["agent_exploitability"].is_number(), "{s}");
    }
    // Reset on regeneration, and a population of one chunk (ranks 1 and 2 hold no agent).
    let common = gig_learn(
        Some("mfq"),
        "3000",
        &[
            "--iterations",
            "12",
            "--set",
            "learner.reset_on_regeneration=true",
        ],
    );
    learn_matches_one_process(&mpirun, tmp.path(), "mfq-small", &common);
}

/// One exported transition: (iteration, agent, s, a, r as bits, s′, regenerated).
type Row = (u64, u64, u64, u64, u64, u64, bool);

/// Every row of every part file in `dir`, sorted by (iteration, agent); and the part file
/// names.
fn transition_rows(dir: &Path) -> (Vec<Row>, Vec<String>) {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, UInt32Type, UInt8Type};
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut rows = Vec::new();
    for name in &names {
        let b = read(&dir.join(name));
        let u32s = |c: usize| b.column(c).as_primitive::<UInt32Type>().clone();
        let u8s = |c: usize| b.column(c).as_primitive::<UInt8Type>().clone();
        let (it, agent, s, a) = (u32s(0), u32s(1), u8s(2), u8s(3));
        let (r, s2) = (b.column(4).as_primitive::<Float64Type>().clone(), u8s(5));
        let regen = b.column(6).as_boolean().clone();
        for j in 0..b.num_rows() {
            rows.push((
                u64::from(it.value(j)),
                u64::from(agent.value(j)),
                u64::from(s.value(j)),
                u64::from(a.value(j)),
                r.value(j).to_bits(),
                u64::from(s2.value(j)),
                regen.value(j),
            ));
        }
    }
    rows.sort_unstable_by_key(|r| (r.0, r.1));
    (rows, names)
}

#[test]
fn transitions_exported_per_rank_are_the_one_process_rows() {
    let Some(mpirun) = mpirun() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // 3 chunks; a fraction keeps a seeded subset of each chunk; iql acts per agent.
    for algo in ["online", "iql"] {
        let common = gig_learn(
            Some(algo),
            "140000",
            &[
                "--iterations",
                "4",
                "--export-transitions",
                "--export-fraction",
                "0.3",
            ],
        );
        let one = tmp.path().join(format!("{algo}-one"));
        let out = plain(&[&common[..], &["--out", one.to_str().unwrap()]].concat());
        check(&out, "one process");
        let (want, names) = transition_rows(&one.join("transitions"));
        assert!(want.len() > 100_000, "{}", want.len());
        assert!(names.iter().all(|n| !n.starts_with("part-r")), "{names:?}");
        for (k, threads) in [(2, "1"), (3, "1")] {
            let dir = tmp.path().join(format!("{algo}-k{k}"));
            let args = [
                &common[..],
                &["--threads", threads, "--out", dir.to_str().unwrap()],
            ]
            .concat();
            let out = under_mpirun(&mpirun, k, &args);
            check(&out, &format!("mpirun -n {k}"));
            let (got, names) = transition_rows(&dir.join("transitions"));
            // Every rank wrote its own parts (3 chunks: each rank holds at least one).
            for r in 0..k {
                let prefix = format!("part-r{r:05}-");
                assert!(names.iter().any(|n| n.starts_with(&prefix)), "{names:?}");
            }
            assert_eq!(got.len(), want.len(), "{algo}, K = {k}");
            assert!(got == want, "{algo}, K = {k}: the rows differ");
            assert_eq!(summary(&dir), summary(&one), "{algo}: summary, K = {k}");
        }
    }
}

#[test]
fn a_run_over_two_ranks_resumes_from_its_per_rank_checkpoints_bitwise() {
    let Some(mpirun) = mpirun() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // The checkpoint summary and its timings differ from a run without checkpoints.
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("checkpoint");
        v
    };
    for algo in ["iql", "mfq", "online"] {
        let common = gig_learn(Some(algo), "140000", &["--seed", "4"]);
        let one = tmp.path().join(format!("{algo}-one"));
        let out = plain(
            &[
                &common[..],
                &["--iterations", "12", "--out", one.to_str().unwrap()],
            ]
            .concat(),
        );
        check(&out, "one process");
        // K = 2 stops at its iteration limit (8) with checkpoints at 4 and 8, then resumes
        // to 12.
        let dir = tmp.path().join(format!("{algo}-k2"));
        let d = dir.to_str().unwrap();
        let first = [
            &common[..],
            &["--iterations", "8", "--checkpoint-every", "4", "--out", d],
        ];
        check(&under_mpirun(&mpirun, 2, &first.concat()), "first segment");
        let ck = dir.join("checkpoint");
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(ck.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["ranks"], 2, "{manifest}");
        assert_eq!(manifest["iteration"], 8, "{manifest}");
        for r in 0..2 {
            let name = format!("state.rank-{r}-of-2.k8.ckpt");
            assert_eq!(manifest["files"][r]["name"], name.as_str(), "{manifest}");
            assert!(ck.join(&name).is_file(), "{name}");
        }
        // Another number of ranks is refused, naming the manifest and both K.
        let again = [&common[..], &["--iterations", "12", "--resume", d]].concat();
        let out = under_mpirun(&mpirun, 3, &again);
        assert_eq!(out.status.code(), Some(2), "K = 3 resumes K = 2");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("manifest.json") && err.contains("2 ranks") && err.contains("has 3"),
            "{err}"
        );
        let out = under_mpirun(&mpirun, 2, &again);
        check(&out, "resumed");
        // The resume removed the first segment's older rank files (iteration 4).
        assert!(!ck.join("state.rank-0-of-2.k4.ckpt").exists());
        assert!(ck.join("state.rank-1-of-2.k8.ckpt").is_file());
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .contains("resumed from the checkpoint at iteration 8"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(
            without_times(&read(&dir.join("snapshots.parquet"))),
            without_times(&read(&one.join("snapshots.parquet"))),
            "{algo}: snapshots of the resumed run"
        );
        assert_eq!(
            strip(summary(&dir)),
            strip(summary(&one)),
            "{algo}: summary of the resumed run"
        );
        // A damaged rank file is refused by the manifest's checksum.
        let victim = ck.join("state.rank-1-of-2.k8.ckpt");
        let mut bytes = std::fs::read(&victim).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&victim, bytes).unwrap();
        let out = under_mpirun(&mpirun, 2, &again);
        assert!(!out.status.success(), "a damaged checkpoint resumed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("checksum") && err.contains("state.rank-1-of-2.k8.ckpt"),
            "{err}"
        );
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
    let cases: [(&[&str], &str); 4] = [
        (
            &["learn", "scenarios/gig.toml", "--algo", "tmfq"],
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
    // The memory check per rank counts the agents' tables (and MFQ's gathered states) and
    // says how many ranks the run needs (every rank reports its own).
    let args = [
        "learn",
        "scenarios/gig.toml",
        "--algo",
        "mfq",
        "--agents",
        "10000000000",
        "--out",
        d,
        "-q",
    ];
    let out = under_mpirun(&mpirun, 2, &args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mfq with 10000000000 agents over 2 ranks")
            && err.contains("ranks with this much memory"),
        "{err}"
    );
}
