//! `mfgsim nash-gap` end to end: the table, the summary, the chart, `mfgsim plot`, the
//! strategy sources and the flag errors.

use crate::util::mfgsim;

#[test]
fn nash_gap_writes_table_summary_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ng");
    let o = mfgsim(&[
        "nash-gap",
        "scenarios/adoption.toml",
        "--policy",
        "uniform",
        "--agents",
        "10,1e9",
        "--replications",
        "8",
        "--search-replications",
        "4",
        "--tolerance",
        "1e-2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("mean-field exploitability at z_mu"), "{text}");
    let t = mfgsim::output::read_parquet(&out.join("nash_gap.parquet")).unwrap();
    assert_eq!(t.num_rows(), 2 * 6);
    for c in [
        "gap",
        "se",
        "ci_lo",
        "ci_hi",
        "value_mu",
        "mean_field_gap",
        "deviation_5",
    ] {
        assert!(
            t.f64_column(c).is_ok() || t.i64_column(c).is_ok(),
            "lacks {c}"
        );
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(v["command"], "nash-gap");
    assert_eq!(v["policy"], "uniform");
    assert_eq!(v["per_n"].as_array().unwrap().len(), 2);
    assert!(v["mean_field"]["max"].as_f64().unwrap() > 0.0);
    assert!(v["horizon"].as_u64().unwrap() > 0);
    assert!(out.join("nash_gap.png").is_file());
    // `mfgsim plot` recognises the directory and draws the nash-gap kind by default.
    let png = dir.path().join("chart.png");
    let o = mfgsim(&[
        "plot",
        out.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(png.is_file());

    // The same strategy from the solve output's equilibrium.parquet.
    let solved = dir.path().join("solved");
    let o = mfgsim(&[
        "solve",
        "scenarios/adoption.toml",
        "--out",
        solved.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let o = mfgsim(&[
        "nash-gap",
        "scenarios/adoption.toml",
        "--policy",
        solved.join("equilibrium.parquet").to_str().unwrap(),
        "--agents",
        "100",
        "--replications",
        "4",
        "--search-replications",
        "2",
        "--tolerance",
        "1e-2",
        "--quiet",
        "--out",
        dir.path().join("from-file").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn nash_gap_flag_errors_name_the_flag() {
    for (flag, value, want) in [
        ("--agents", "1", "--agents"),
        ("--replications", "1", "--replications"),
        ("--policy", "/no/such/file.parquet", "/no/such/file.parquet"),
    ] {
        let o = mfgsim(&[
            "nash-gap",
            "scenarios/adoption.toml",
            flag,
            value,
            "--out",
            "/tmp/never-written-nash",
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err}");
    }
}
