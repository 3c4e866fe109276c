//! The `mfgsim` binary end to end: outputs, exit statuses and error messages.

use crate::util::root;
use std::process::Command;

fn mfgsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mfgsim"))
        .args(args)
        .current_dir(root(""))
        // Fixed help width, whatever the caller's terminal says.
        .env("COLUMNS", "100")
        .output()
        .expect("run mfgsim")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Starts mfgsim with piped output, for tests that interrupt it.
fn spawn_mfgsim(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mfgsim"))
        .args(args)
        .current_dir(root(""))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn mfgsim")
}

/// Sends SIGINT (what Ctrl-C sends) to `child`.
fn interrupt(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn solve_writes_summary_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gig");
    let o = mfgsim(&[
        "solve",
        "scenarios/gig.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("converged (tolerance met)"), "{text}");
    assert!(
        text.contains("greedy action per state: 1 2 3 3 3 3 3 3 3 3"),
        "{text}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "converged",
        "iterations",
        "z",
        "greedy_action",
        "mean_state",
        "consistency_l1",
        "exploitability",
    ] {
        assert!(
            summary.get(key).is_some(),
            "summary.json lacks {key}: {summary}"
        );
    }
    assert_eq!(summary["converged"], true);
    assert!((summary["mean_state"].as_f64().unwrap() - 7.619811675884343).abs() < 1e-6);
    for f in ["trajectory.parquet", "equilibrium.parquet"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    // Nothing but the three outputs (no temporary files left behind).
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["equilibrium.parquet", "summary.json", "trajectory.parquet"]
    );
}

#[test]
fn extremal_writes_least_and_greatest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("inf");
    let o = mfgsim(&[
        "solve",
        "scenarios/infection.toml",
        "--start",
        "extremal",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let least = summary["least"]["mean_state"].as_f64().unwrap();
    let greatest = summary["greatest"]["mean_state"].as_f64().unwrap();
    assert!(least <= greatest + 1e-9, "{least} > {greatest}");
    assert!(out.join("least/trajectory.parquet").is_file());
    assert!(out.join("greatest/equilibrium.parquet").is_file());
}

#[test]
fn set_overrides_change_the_answer() {
    let o = mfgsim(&[
        "solve",
        "scenarios/gig.toml",
        "--no-write",
        "--set",
        "model.effort_cost=1.0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Effort is now too expensive: everybody shirks.
    assert!(
        stdout(&o).contains("greedy action per state: 0 0 0 0 0 0 0 0 0 0"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_input_names_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[model]\nkind = \"infection\"\nw1_pmf = [0.5, 0.4]\n").unwrap();
    let o = mfgsim(&["solve", bad.to_str().unwrap(), "--no-write"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("bad.toml") && e.contains("`model.w1_pmf`") && e.contains("must sum to 1"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");

    let o = mfgsim(&["solve", "scenarios/gig.toml", "--set", "model.gamma=1.5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`model.gamma`: must be in (0, 1)"),
        "{}",
        stderr(&o)
    );

    let o = mfgsim(&["solve", "does/not/exist.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does/not/exist.toml"), "{}", stderr(&o));
}

#[test]
fn check_reports_each_condition_and_sets_the_exit_status() {
    let o = mfgsim(&["check", "scenarios/infection.toml"]);
    let text = stdout(&o);
    assert!(text.contains("r_nondecreasing_in_s"), "{text}");
    assert!(text.contains("p_supermodular_sa"), "{text}");
    // The infection kernel is not stochastically supermodular (clamping at 0 and 24): see
    // src/check.rs tests for the pinned witnesses.
    assert_eq!(o.status.code(), Some(1), "{text}");
    let o = mfgsim(&["check", "scenarios/gig.toml", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.is_object(), "{v}");
}

#[test]
fn learn_writes_snapshots_summary_and_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("learn");
    let o = mfgsim(&[
        "learn",
        "scenarios/gig.toml",
        "--agents",
        "2e4",
        "--iterations",
        "12",
        "--seed",
        "3",
        "--threads",
        "2",
        "--export-transitions",
        "--export-fraction",
        "0.25",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("(W1 ") && text.contains("consistency ||Phi(z,mu)-z||_1 "),
        "{text}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["iterations"], 12);
    assert_eq!(summary["agents"], 20000);
    assert_eq!(summary["interrupted"], false);
    for key in [
        "z",
        "greedy_action",
        "l1_to_tmfe",
        "w1_to_tmfe",
        "consistency",
        "exploitability",
        "exploitability_weighted",
        "agent_steps_per_second",
        "peak_rss_bytes",
        "step_latency_ms",
    ] {
        assert!(!summary[key].is_null(), "summary.json lacks {key}");
    }
    let snaps = mfgsim::output::read_parquet(&out.join("snapshots.parquet")).unwrap();
    assert_eq!(snaps.num_rows(), 12);
    let names = snaps.column_names();
    for c in [
        "iteration",
        "z_0",
        "z_9",
        "mean_state",
        "l1_to_tmfe",
        "w1_to_tmfe",
        "consistency",
        "exploitability",
        "regenerated",
        "policy_changes",
        "step_seconds",
        "learn_seconds",
    ] {
        assert!(names.contains(&c), "snapshots.parquet lacks {c}: {names:?}");
    }
    assert!(snaps.metadata("mfgsim.version").is_some());
    // The parts directory is merged into snapshots.parquet and removed.
    assert!(!out.join("snapshots.parts").exists());
    // About a quarter of 12 × 20 000 transitions, all in part files.
    let rows: usize = std::fs::read_dir(out.join("transitions"))
        .unwrap()
        .map(|e| {
            mfgsim::output::read_parquet(&e.unwrap().path())
                .unwrap()
                .num_rows()
        })
        .sum();
    assert!(
        (50_000..70_000).contains(&rows),
        "{rows} exported transitions"
    );
}

/// The transitions dataset (part boundaries and every byte) is the same on 1 and 2 threads.
#[test]
fn exported_transitions_are_byte_identical_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let parts = |threads: &str| {
        let out = dir.path().join(format!("t{threads}"));
        let o = mfgsim(&[
            "learn",
            "scenarios/infection.toml",
            "--agents",
            "70000",
            "--iterations",
            "20",
            "--threads",
            threads,
            "--export-transitions",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut files: Vec<_> = std::fs::read_dir(out.join("transitions"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read(f).unwrap())
            .collect::<Vec<_>>()
    };
    let one = parts("1");
    // 1.4·10⁶ rows: a part of 2^20 rows (closed at the page that reaches it), then the rest.
    assert_eq!(one.len(), 2);
    assert_eq!(one, parts("2"));
}

#[test]
fn learn_runs_every_algorithm_with_the_same_outputs_and_ledger() {
    let dir = tempfile::tempdir().unwrap();
    for (algo, extra, kind) in [
        (
            "tmfq",
            &[
                "--set",
                "learner.sim_agents=1e5",
                "--set",
                "learner.max_sim_transitions=4e5",
            ][..],
            "simulator_transitions",
        ),
        ("gmbl", &[][..], "generative_samples"),
        ("online", &["--agents", "5000"][..], "real_transitions"),
        ("iql", &["--agents", "3000"][..], "real_transitions"),
        ("mfq", &["--agents", "3000"][..], "real_transitions"),
    ] {
        let out = dir.path().join(algo);
        let mut args = vec![
            "learn",
            "scenarios/gig.toml",
            "--algo",
            algo,
            "--iterations",
            "4",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = mfgsim(&args);
        assert!(o.status.success(), "{algo}: {}", stderr(&o));
        assert!(stdout(&o).contains(&format!("learning with {algo}")));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        // The keys every command's summary starts with.
        assert_eq!(summary["command"], "learn");
        assert_eq!(summary["scenario"], "gig");
        assert_eq!(summary["mfgsim_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(summary["algo"], algo);
        assert_eq!(summary["iterations"], 4);
        let total = summary["ledger"][kind].as_u64().unwrap();
        assert!(total > 0, "{algo}: no {kind} in the ledger");
        let snaps = mfgsim::output::read_parquet(&out.join("snapshots.parquet")).unwrap();
        assert_eq!(snaps.num_rows(), 4);
        let cumulative = snaps.i64_column(&format!("total_{kind}")).unwrap();
        assert_eq!(cumulative[3] as u64, total, "{algo}: cumulative ledger");
        let per_iteration: i64 = snaps.i64_column(kind).unwrap().iter().sum();
        assert_eq!(per_iteration as u64, total, "{algo}: per-iteration ledger");
        // Per-agent learners also report their agents' own strategies.
        let own = snaps.opt_f64_column("agent_exploitability").unwrap();
        assert_eq!(
            own.iter().all(Option::is_some),
            algo == "iql" || algo == "mfq",
            "{algo}: agent_exploitability {own:?}"
        );
    }
    // The solve summary starts with the same keys.
    let out = dir.path().join("solve");
    let o = mfgsim(&[
        "solve",
        "scenarios/gig.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["command"], "solve");
    assert_eq!(summary["mfgsim_version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn learn_rejects_bad_learner_keys_and_impossible_exports() {
    let o = mfgsim(&["learn", "scenarios/gig.toml", "--set", "learner.memroy=3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`learner.memroy`: unknown key"),
        "{}",
        stderr(&o)
    );
    let o = mfgsim(&[
        "learn",
        "scenarios/gig.toml",
        "--set",
        "learner.inner_tol=-1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`learner.inner_tol`"), "{}", stderr(&o));
    let o = mfgsim(&[
        "learn",
        "scenarios/gig.toml",
        "--algo",
        "gmbl",
        "--export-transitions",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--export-transitions needs a population"),
        "{}",
        stderr(&o)
    );
    // Per-agent learners need agent identities.
    let o = mfgsim(&[
        "learn",
        "scenarios/gig.toml",
        "--algo",
        "iql",
        "--engine",
        "counts",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("count engine: iql"), "{}", stderr(&o));
    let o = mfgsim(&[
        "learn",
        "scenarios/infection.toml",
        "--algo",
        "mfq",
        "--agents",
        "1e9",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("mfq with 1000000000 agents needs about"),
        "{}",
        stderr(&o)
    );
    // Refused before allocating: the memory needed and available are named.
    let o = mfgsim(&["learn", "scenarios/gig.toml", "--agents", "1e13"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("online with 10000000000000 agents needs about")
            && e.contains("GiB is available"),
        "{e}"
    );
}

#[test]
fn learn_stopped_by_ctrl_c_leaves_valid_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("learn");
    let child = spawn_mfgsim(&[
        "learn",
        "scenarios/gig.toml",
        "--agents",
        "2e5",
        "--iterations",
        "100000",
        "--flush-every",
        "1",
        "--export-transitions",
        "--export-fraction",
        "0.05",
        "--out",
        out.to_str().unwrap(),
    ]);
    // Wait until a few snapshot parts are on disk, then interrupt.
    let part = out.join("snapshots.parts").join("part-00002.parquet");
    let t0 = std::time::Instant::now();
    while !part.exists() {
        assert!(t0.elapsed().as_secs() < 120, "no snapshot part appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    interrupt(&child);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    let done = summary["iterations"].as_u64().unwrap();
    assert!((3..100_000).contains(&done), "{done}");
    let snaps = mfgsim::output::read_parquet(&out.join("snapshots.parquet")).unwrap();
    assert_eq!(snaps.num_rows() as u64, done);
    // The transitions directory holds closed, readable parts only (no temporary files),
    // about 5% of done × 2·10^5 rows.
    let mut rows = 0;
    for e in std::fs::read_dir(out.join("transitions")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("part-") && name.ends_with(".parquet"),
            "{name}"
        );
        rows += mfgsim::output::read_parquet(&path).unwrap().num_rows() as u64;
    }
    let expected = done * 10_000;
    assert!(
        rows.abs_diff(expected) * 20 < expected,
        "{rows} rows, {done} iterations"
    );
}

#[test]
fn finite_n_writes_tables_summary_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fn");
    let o = mfgsim(&[
        "finite-n",
        "scenarios/gig.toml",
        "--agents",
        "100,1e3,1e4",
        "--seeds",
        "3",
        "--steps",
        "20",
        "--burn-in",
        "5",
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("rate: E||z^N - z*||_1"),
        "{}",
        stdout(&o)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["engine"], "agents");
    assert_eq!(summary["interrupted"], false);
    let slope = summary["fit"]["slope"].as_f64().unwrap();
    let ci = summary["fit"]["slope_ci"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() <= slope && slope <= ci[1].as_f64().unwrap());
    // Three decades of N at 20 steps: the CLT slope within a generous band.
    assert!((-0.6..-0.4).contains(&slope), "slope {slope}");
    let per_n = summary["per_n"].as_array().unwrap();
    assert_eq!(per_n.len(), 3);
    assert_eq!(per_n[2]["agents"], 10_000);
    assert_eq!(per_n[2]["bias"].as_array().unwrap().len(), 10);

    let runs = mfgsim::output::read_parquet(&out.join("finite_n.parquet")).unwrap();
    assert_eq!(runs.num_rows(), 9);
    assert_eq!(
        runs.i64_column("seed").unwrap(),
        vec![7, 8, 9, 7, 8, 9, 7, 8, 9]
    );
    assert_eq!(runs.metadata("mfgsim.engine"), Some("agents"));
    for c in [
        "agents",
        "replicate",
        "mean_l1",
        "max_l1",
        "bias_9",
        "var_0",
    ] {
        assert!(
            runs.column_names().contains(&c),
            "finite_n.parquet lacks {c}"
        );
    }
    let steps = mfgsim::output::read_parquet(&out.join("finite_n_steps.parquet")).unwrap();
    assert_eq!(steps.num_rows(), 9 * 20);
    let t = steps.i64_column("t").unwrap();
    assert_eq!((t[0], t[19]), (6, 25));
    // The time average in the run table is the mean of the step rows.
    let l1 = steps.f64_column("l1").unwrap();
    let mean0 = l1[..20].iter().sum::<f64>() / 20.0;
    assert!((runs.f64_column("mean_l1").unwrap()[0] - mean0).abs() < 1e-12);
    let png = std::fs::read(out.join("finite_n.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // The count engine accepts N far beyond memory.
    let o = mfgsim(&[
        "finite-n",
        "scenarios/gig.toml",
        "--engine",
        "counts",
        "--agents",
        "1e6,1e15",
        "--seeds",
        "2",
        "--steps",
        "5",
        "--burn-in",
        "0",
        "--no-steps-file",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let runs = mfgsim::output::read_parquet(&out.join("finite_n.parquet")).unwrap();
    assert_eq!(runs.i64_column("agents").unwrap()[3], 1_000_000_000_000_000);
    // Without the per-step rows the previous run's step file is removed, not left stale.
    assert!(!out.join("finite_n_steps.parquet").exists());

    // `plot` overlays studies read back from their summary.json.
    let png = dir.path().join("overlay.png");
    let o = mfgsim(&[
        "plot",
        out.to_str().unwrap(),
        out.join("summary.json").to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
        "--width",
        "400",
        "--height",
        "300",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 400);
    // Not a study: the error names the file and the key.
    let o = mfgsim(&["plot", "scenarios/gig.toml", "--out", png.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("scenarios/gig.toml: `(file)`: not JSON"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn finite_n_rejects_bad_grids_with_a_clear_message() {
    for (args, want) in [
        (&["--agents", "0,100"][..], "every N must be at least 1"),
        (&["--agents", "100,1e2"][..], "appears twice"),
        (&["--agents", "1e30"][..], "`1e30` is too large"),
        (&["--seeds", "0"][..], "seeds"),
        (&["--agents", "1e15"][..], "--engine counts"),
    ] {
        let mut all = vec!["finite-n", "scenarios/gig.toml", "-q"];
        all.extend_from_slice(args);
        let o = mfgsim(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn finite_n_stopped_by_ctrl_c_keeps_the_finished_runs() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fn");
    let mut child = spawn_mfgsim(&[
        "finite-n",
        "scenarios/gig.toml",
        "--agents",
        "100,3e7",
        "--seeds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    // The first line is printed when the study starts; the N = 100 runs take milliseconds, the
    // N = 3·10⁷ ones about a minute.
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("policy, N in"), "{line}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    interrupt(&child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}{rest}", stderr(&o));
    assert!(rest.contains("INTERRUPTED"), "{rest}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["runs_completed"], 2);
    let runs = mfgsim::output::read_parquet(&out.join("finite_n.parquet")).unwrap();
    assert_eq!(runs.i64_column("agents").unwrap(), vec![100, 100]);
    assert!(out.join("finite_n.png").exists());
}

/// `--help` of every command matches its snapshot in `doc/help/` (style habit 14). After a
/// deliberate change, re-mint with `MFGSIM_BLESS=1 cargo test help_snapshots`.
#[test]
fn help_snapshots() {
    for (args, file) in [
        (&["--help"][..], "mfgsim.txt"),
        (&["solve", "--help"][..], "solve.txt"),
        (&["check", "--help"][..], "check.txt"),
        (&["learn", "--help"][..], "learn.txt"),
        (&["finite-n", "--help"][..], "finite-n.txt"),
        (&["nash-gap", "--help"][..], "nash-gap.txt"),
        (&["plot", "--help"][..], "plot.txt"),
        (&["sweep", "--help"][..], "sweep.txt"),
        (&["equilibria", "--help"][..], "equilibria.txt"),
    ] {
        let o = mfgsim(args);
        assert!(o.status.success());
        let path = root("doc/help").join(file);
        if std::env::var_os("MFGSIM_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &o.stdout).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(stdout(&o), want, "`mfgsim {}` changed", args.join(" "));
    }
}

/// Issue 20: `learn --algo X` silently replaced the previous algorithm's
/// `out/<name>/learn/`, and `plot` without `--out` wrote into the current directory.
#[test]
fn default_outputs_are_per_algorithm_and_plots_go_beside_their_input() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = crate::util::root("scenarios/gig.toml");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_mfgsim"))
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    for algo in ["online", "gmbl"] {
        run(&[
            "learn",
            scenario.to_str().unwrap(),
            "--algo",
            algo,
            "--agents",
            "1000",
            "--iterations",
            "2",
            "--quiet",
        ]);
    }
    for algo in ["online", "gmbl"] {
        let dir = tmp.path().join(format!("out/gig/learn-{algo}"));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["algo"], algo);
    }
    run(&["plot", "out/gig/learn-gmbl", "--kind", "l1"]);
    assert!(tmp.path().join("out/gig/learn-gmbl/plot-l1.png").is_file());
    let stray: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("plot-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
