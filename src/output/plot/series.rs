//! Reading a study's `summary.json` back as a chart series: a finite-N study's
//! ([`read_finite_n_series`]) and a nash-gap study's ([`read_nash_gap_series`]).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

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
    let file: PathBuf = if path.is_dir() {
        path.join(crate::output::SUMMARY_FILE)
    } else {
        path.to_path_buf()
    };
    let bad = |key: &str, reason: &str| Error::Input {
        path: file.clone(),
        key: key.into(),
        reason: reason.into(),
    };
    let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
        path: file.clone(),
        source,
    })?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| bad("(file)", &format!("not JSON: {e}")))?;
    let label_part = |key: &str| -> Result<String> {
        v[key].as_str().map(str::to_owned).ok_or_else(|| {
            bad(
                key,
                "missing or not a string (is this a finite-n summary.json?)",
            )
        })
    };
    let label = format!(
        "{} {} {}",
        label_part("scenario")?,
        label_part("engine")?,
        label_part("policy")?
    );
    let groups = v["per_n"]
        .as_array()
        .ok_or_else(|| bad("per_n", "missing or not an array"))?;
    let mut points = Vec::with_capacity(groups.len());
    for (i, g) in groups.iter().enumerate() {
        let field = |k: &str| -> Result<f64> {
            g[k].as_f64()
                .ok_or_else(|| bad(&format!("per_n[{i}].{k}"), "missing or not a number"))
        };
        let (n, mean) = (field("agents")?, field("mean_l1")?);
        // Value indexing never panics: a missing or short interval reads as null.
        let (lo, hi) = match (g["ci_l1"][0].as_f64(), g["ci_l1"][1].as_f64()) {
            (Some(lo), Some(hi)) => (lo, hi),
            _ => (mean, mean),
        };
        points.push((n, mean, lo, hi));
    }
    let fit = match &v["fit"] {
        Value::Null => None,
        f => Some((
            f["slope"]
                .as_f64()
                .ok_or_else(|| bad("fit.slope", "missing or not a number"))?,
            f["intercept"]
                .as_f64()
                .ok_or_else(|| bad("fit.intercept", "missing or not a number"))?,
        )),
    };
    Ok(LogLogSeries { label, points, fit })
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
    let file: PathBuf = if path.is_dir() {
        path.join(crate::output::SUMMARY_FILE)
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
        path: file.clone(),
        source,
    })?;
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
        assert!(err.contains("broken.json: `per_n`"), "{err}");
    }
}
