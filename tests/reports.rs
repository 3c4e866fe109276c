//! Issue 21: every command's `summary.json` reads back as its report type (the sweep table
//! reads them so), what the type reads is what was written, key for key, and the charts'
//! typed views read the same values.

use std::path::Path;

use mfgsim::output::plot;
use mfgsim::run::{FiniteNRun, LearnReport, NashGapRun, SolveReport};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::util::mfgsim;

/// Runs `args` into `out`, reads `out/summary.json` as `T`, and checks that every key the type
/// writes back holds the value the file holds (a command may add keys of its own); returns
/// the report.
fn round_trip<T: DeserializeOwned + Serialize>(args: &[&str], out: &Path) -> T {
    let mut all = args.to_vec();
    all.extend(["--out", out.to_str().unwrap()]);
    if all[0] != "solve" {
        all.push("--quiet");
    }
    let o = mfgsim(&all);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let report: T = mfgsim::output::read_summary(out)
        .unwrap_or_else(|e| panic!("{args:?}: summary.json does not read back: {e}"));
    let again = serde_json::to_value(&report).unwrap();
    let Value::Object(keys) = &again else {
        panic!("{args:?}: the report is not an object")
    };
    assert!(keys.len() > 5, "{args:?}: {again}");
    for (k, v) in keys {
        assert_eq!(&file[k], v, "{args:?}: key {k} reads back differently");
    }
    report
}

#[test]
fn every_summary_reads_back_as_its_report_type() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);

    let single: SolveReport = round_trip(&["solve", "scenarios/gig.toml"], &dir("solve"));
    assert!(single.all_converged && single.single.is_some() && single.least.is_none());
    let extremal: SolveReport = round_trip(
        &["solve", "scenarios/adoption.toml", "--start", "extremal"],
        &dir("extremal"),
    );
    assert!(extremal.single.is_none());
    let (least, greatest) = (extremal.least.unwrap(), extremal.greatest.unwrap());
    assert!(least.summary.mean_state < greatest.summary.mean_state);

    for algo in ["online", "iql", "tmfq"] {
        let r: LearnReport = round_trip(
            &[
                "learn",
                "scenarios/gig.toml",
                "--algo",
                algo,
                "--agents",
                "2000",
                "--iterations",
                "3",
                "--set",
                "learner.sim_agents=2000",
                "--set",
                "learner.mf_agents=2000",
            ],
            &dir(algo),
        );
        assert_eq!((r.iterations, r.algo.as_str()), (3, algo));
        // The charts' typed views read the same summary.
        let t = plot::read::learn_tmfe(&dir(algo)).unwrap();
        assert_eq!(
            (t.z, t.mean_state, t.converged),
            (r.tmfe.z.clone(), r.tmfe.mean_state, r.tmfe.converged)
        );
        assert_eq!(plot::read::learn_agents(&dir(algo)), r.agents);
        assert!(plot::read::learn_label(&dir(algo)).is_some());
    }
    // The two knobs whose "never" is +inf, written as null, read back as +inf.
    let r: LearnReport = round_trip(
        &[
            "learn",
            "scenarios/gig.toml",
            "--agents",
            "1000",
            "--iterations",
            "2",
            "--set",
            "learner.memory=inf",
            "--set",
            "learner.batch_drift=inf",
        ],
        &dir("inf"),
    );
    assert_eq!(r.learner.tq.memory, f64::INFINITY);
    assert_eq!(r.learner.batch.drift, f64::INFINITY);

    let f: FiniteNRun = round_trip(
        &[
            "finite-n",
            "scenarios/gig.toml",
            "--agents",
            "100,1e3",
            "--seeds",
            "2",
            "--steps",
            "10",
            "--burn-in",
            "2",
        ],
        &dir("finite-n"),
    );
    assert_eq!(f.per_n.len(), 2);
    let fit = f.fit.as_ref().unwrap();
    let series = plot::read_finite_n_series(&dir("finite-n")).unwrap();
    assert_eq!(series.fit, Some((fit.slope, fit.intercept)));
    assert_eq!(series.points[1].1, f.per_n[1].mean_l1);

    let g: NashGapRun = round_trip(
        &[
            "nash-gap",
            "scenarios/adoption.toml",
            "--policy",
            "uniform",
            "--agents",
            "10,100",
            "--replications",
            "4",
            "--search-replications",
            "2",
            "--tolerance",
            "1e-2",
        ],
        &dir("nash-gap"),
    );
    assert_eq!(g.report.per_n.len(), 2);
    let (series, limit) = plot::read_nash_gap_series(&dir("nash-gap")).unwrap();
    assert_eq!(limit, g.report.mean_field.max);
    assert_eq!(series.points[0].1, g.report.per_n[0].gap);
}
