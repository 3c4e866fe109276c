//! Tables and summary of a finite-N study ([`crate::finite_n`]).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::parquet::{numbered_fields, TableBuilder};
use super::plot::LogLogSeries;
use crate::error::{Error, Result};
use crate::finite_n::FiniteNReport;

/// Integer columns are Int64: a u64 above i64::MAX keeps its bits (two's complement).
fn int(v: u64) -> i64 {
    v as i64
}

fn key_fields() -> Vec<Field> {
    ["agents", "replicate", "seed"]
        .into_iter()
        .map(|n| Field::new(n, DataType::Int64, false))
        .collect()
}

/// Schema of `finite_n.parquet`, one row per (N, replicate), for |S| = `num_states`:
///
/// | column | type | meaning |
/// | --- | --- | --- |
/// | `agents` | Int64 | N |
/// | `replicate` | Int64 | j |
/// | `seed` | Int64 | the run's seed (base seed + j) |
/// | `mean_l1` | Float64 | time average of ‖z^N_t − z*‖₁ over the recorded steps |
/// | `max_l1` | Float64 | its maximum |
/// | `sd_l1` | Float64 | its standard deviation over time |
/// | `seconds` | Float64 | wall time of the run |
/// | `mean_exploitability`, `mean_exploitability_weighted` | Float64, nullable | with `--policy learned`: time averages of the learned strategy's exploitability (null otherwise) |
/// | `bias_0` … | Float64 | mean_t z^N_t(s) − z*(s) |
/// | `var_0` … | Float64 | time variance of z^N_t(s) |
pub fn finite_n_runs_schema(num_states: usize) -> SchemaRef {
    let mut fields = key_fields();
    for name in ["mean_l1", "max_l1", "sd_l1", "seconds"] {
        fields.push(Field::new(name, DataType::Float64, false));
    }
    for name in ["mean_exploitability", "mean_exploitability_weighted"] {
        fields.push(Field::new(name, DataType::Float64, true));
    }
    fields.extend(numbered_fields("bias", num_states, DataType::Float64));
    fields.extend(numbered_fields("var", num_states, DataType::Float64));
    Arc::new(Schema::new(fields))
}

/// The rows of `finite_n.parquet` ([`finite_n_runs_schema`]).
pub fn finite_n_runs_batch(report: &FiniteNReport, num_states: usize) -> RecordBatch {
    let mut rows = TableBuilder::new(finite_n_runs_schema(num_states), report.runs.len());
    for r in &report.runs {
        rows.push_row(|row| {
            row.i64(int(r.agents))
                .i64(r.replicate as i64)
                .i64(int(r.seed))
                .f64(r.mean_l1)
                .f64(r.max_l1)
                .f64(r.sd_l1)
                .f64(r.seconds)
                .opt_f64(r.mean_exploitability.map(|e| e.max))
                .opt_f64(r.mean_exploitability.map(|e| e.weighted))
                .f64s(&r.bias)
                .f64s(&r.variance);
        });
    }
    rows.finish()
}

/// Schema of `finite_n_steps.parquet`, one row per recorded step of every run:
/// `agents`, `replicate`, `seed`, `t` (Int64), `l1` = ‖z^N_t − z*‖₁, `z_0` … `z_{S−1}`
/// (Float64), and `exploitability`, `exploitability_weighted` (Float64, nullable: the learned
/// strategy's exploitability at z^N_t with `--policy learned`, null otherwise).
pub fn finite_n_steps_schema(num_states: usize) -> SchemaRef {
    let mut fields = key_fields();
    fields.push(Field::new("t", DataType::Int64, false));
    fields.push(Field::new("l1", DataType::Float64, false));
    fields.extend(numbered_fields("z", num_states, DataType::Float64));
    for name in ["exploitability", "exploitability_weighted"] {
        fields.push(Field::new(name, DataType::Float64, true));
    }
    Arc::new(Schema::new(fields))
}

/// The rows of `finite_n_steps.parquet` ([`finite_n_steps_schema`]).
pub fn finite_n_steps_batch(report: &FiniteNReport, num_states: usize) -> RecordBatch {
    let len = report.runs.iter().map(|r| r.steps.len()).sum();
    let mut rows = TableBuilder::new(finite_n_steps_schema(num_states), len);
    for r in &report.runs {
        for s in &r.steps {
            rows.push_row(|row| {
                row.i64(int(r.agents))
                    .i64(r.replicate as i64)
                    .i64(int(r.seed))
                    .i64(int(s.t))
                    .f64(s.l1)
                    .f64s(&s.z)
                    .opt_f64(s.exploitability.map(|e| e.max))
                    .opt_f64(s.exploitability.map(|e| e.weighted));
            });
        }
    }
    rows.finish()
}

/// One curve of a finite-N overlay plot, read back from a study's `summary.json` (`path` is
/// the file or the study's output directory): the points (N, E_N) with their bootstrap
/// interval, the fitted line, and the label `"<scenario> <engine> <policy>"`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Input`] naming the key when it is not
/// a finite-n summary (bad JSON, a missing or mistyped `per_n`, `fit` or label key).
pub fn read_finite_n_series(path: &Path) -> Result<LogLogSeries> {
    let file: PathBuf = if path.is_dir() {
        path.join("summary.json")
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
