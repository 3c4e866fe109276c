//! The `mfgsim` binary end to end: outputs, exit statuses and error messages.

use crate::util::root;
use std::process::Command;

fn mfgsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mfgsim"))
        .args(args)
        .current_dir(root(""))
        .output()
        .expect("run mfgsim")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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
