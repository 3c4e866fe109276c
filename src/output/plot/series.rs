//! Reading a study's `summary.json` back as a chart series: a finite-N study's
//! ([`read_finite_n_series`]) and a nash-gap study's ([`read_nash_gap_series`]).

use std::path::Path;

use serde::Deserialize;

use super::LogLogSeries;
use crate::error::{Error, Result};

/// One curve of a finite-N overlay plot, read back from a study's `summary.json` (`path` is
/// the file or the study's output directory): the points (N, E_N) with their bootstrap
/// interval, the fitted line, and the label `"<scenario> <engine> <policy>"`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Input`] naming the key when it is not
/// a finite-n summary (bad JSON, a missing or mistyped `per_n`, `fit` or label key).
pub fn read_finite_n_series(path: &Path) -> Result<LogLogSeries> {
    let (file, text) = crate::output::products::summary_text(path)?;
    let bad = |reason: String| Error::Input {
        path: file.clone(),
        key: "(file)".into(),
        reason,
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let v: FiniteNView =
        serde_json::from_value(json).map_err(|e| bad(format!("not a finite-n summary: {e}")))?;
    let points = v
        .per_n
        .iter()
        .map(|g| {
            let (lo, hi) = g.ci_l1.unwrap_or((g.mean_l1, g.mean_l1));
            (g.agents, g.mean_l1, lo, hi)
        })
        .collect();
    Ok(LogLogSeries {
        label: format!("{} {} {}", v.scenario, v.engine, v.policy),
        points,
        fit: v.fit.map(|f| (f.slope, f.intercept)),
    })
}

/// The part of a finite-n `summary.json` (a `run::FiniteNRun`) a chart reads.
#[derive(Debug, Deserialize)]
struct FiniteNView {
    scenario: String,
    engine: String,
    policy: String,
    per_n: Vec<FiniteNGroupView>,
    fit: Option<FitView>,
}

#[derive(Debug, Deserialize)]
struct FiniteNGroupView {
    agents: f64,
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    mean_l1: f64,
    ci_l1: Option<(f64, f64)>,
}

/// The part of a nash-gap `summary.json` a chart reads.
#[derive(Debug, Deserialize)]
struct SummaryView {
    command: String,
    scenario: String,
    policy: String,
    per_n: Vec<GroupView>,
    fit: Option<FitView>,
    mean_field: MeanFieldView,
}

#[derive(Debug, Deserialize)]
struct GroupView {
    agents: f64,
    gap: f64,
    gap_ci: Option<(f64, f64)>,
}

#[derive(Debug, Deserialize)]
struct FitView {
    slope: f64,
    intercept: f64,
}

#[derive(Debug, Deserialize)]
struct MeanFieldView {
    max: f64,
}

/// One curve of a nash-gap chart read back from a study's `summary.json` (`path` is the
/// file or the output directory): the points (N, gap) with their bootstrap interval, the
/// fitted line, the label `"<scenario> <policy>"`, and μ's mean-field exploitability (the
/// N → ∞ limit).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Input`] when it is not a nash-gap
/// summary.
pub fn read_nash_gap_series(path: &Path) -> Result<(LogLogSeries, f64)> {
    let (file, text) = crate::output::products::summary_text(path)?;
    let v: SummaryView = serde_json::from_str(&text).map_err(|e| Error::Input {
        path: file.clone(),
        key: "(file)".into(),
        reason: format!("not a nash-gap summary: {e}"),
    })?;
    if v.command != "nash-gap" {
        return Err(Error::Input {
            path: file,
            key: "command".into(),
            reason: format!("is `{}`, not `nash-gap`", v.command),
        });
    }
    let points = v
        .per_n
        .iter()
        .map(|g| {
            let (lo, hi) = g.gap_ci.unwrap_or((g.gap, g.gap));
            (g.agents, g.gap, lo, hi)
        })
        .collect();
    Ok((
        LogLogSeries {
            label: format!("{} {}", v.scenario, v.policy),
            points,
            fit: v.fit.map(|f| (f.slope, f.intercept)),
        },
        v.mean_field.max,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finite_n::{EngineKind, FiniteNReport, GroupSummary, PolicySource, RateFit};
    use crate::output::write_json;

    fn group(agents: u64, mean_l1: f64, ci: Option<(f64, f64)>) -> GroupSummary {
        GroupSummary {
            agents,
            runs: 2,
            mean_l1,
            std_l1: 0.0,
            se_l1: 0.0,
            ci_l1: ci,
            mean_max_l1: mean_l1,
            bias: vec![0.0],
            variance: vec![0.0],
            n_times_variance: 0.0,
            mean_exploitability: None,
            seconds: 0.0,
        }
    }

    /// summary.json → overlay series: points, intervals (absent → no bar), fit and label.
    #[test]
    fn a_summary_reads_back_as_a_plot_series() {
        let report = FiniteNReport {
            runs: Vec::new(),
            groups: vec![
                group(100, 0.1, Some((0.09, 0.11))),
                group(10_000, 0.01, None),
            ],
            fit: Some(RateFit {
                slope: -0.5,
                intercept: 0.25,
                prefactor: 0.25f64.exp(),
                slope_ci: None,
                intercept_ci: None,
                slope_se: None,
                r_squared: 1.0,
                points: 2,
            }),
            interrupted: false,
            seconds: 1.0,
        };
        // The keys `run::finite_n`'s report serializes to.
        let mut v = serde_json::json!({
            "scenario": "gig",
            "engine": EngineKind::Agents,
            "policy": PolicySource::Tmfe,
            "per_n": report.groups,
            "fit": report.fit,
        });
        let dir = tempfile::tempdir().unwrap();
        write_json(&dir.path().join("summary.json"), &v).unwrap();
        let s = read_finite_n_series(dir.path()).unwrap();
        assert_eq!(s.label, "gig agents tmfe");
        assert_eq!(
            s.points,
            vec![(100.0, 0.1, 0.09, 0.11), (10_000.0, 0.01, 0.01, 0.01)]
        );
        assert_eq!(s.fit, Some((-0.5, 0.25)));

        v.as_object_mut().unwrap().remove("per_n");
        let path = dir.path().join("broken.json");
        write_json(&path, &v).unwrap();
        let err = read_finite_n_series(&path).unwrap_err().to_string();
        assert!(
            err.contains("broken.json") && err.contains("missing field `per_n`"),
            "{err}"
        );
    }
}
