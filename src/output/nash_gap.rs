//! `nash_gap.parquet` and reading a nash-gap `summary.json` back as a plot series
//! ([`crate::nash_gap`], [`crate::run::nash_gap`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;

use super::parquet::{numbered_fields, TableBuilder};
use super::plot::LogLogSeries;
use crate::error::{Error, Result};
use crate::nash_gap::NashGapReport;

/// The table's file name.
pub const NASH_GAP_TABLE: &str = "nash_gap.parquet";

/// Schema of `nash_gap.parquet`, one row per (N, s0), for |S| = `num_states`:
///
/// | column | type | meaning |
/// | --- | --- | --- |
/// | `agents` | Int64 | N |
/// | `state` | Int64 | s0, the tagged agent's initial state |
/// | `gap` | Float64 | estimated gain of the chosen deviation from s0 |
/// | `se` | Float64 | its standard error |
/// | `ci_lo`, `ci_hi` | Float64 | normal confidence interval |
/// | `value_mu` | Float64 | estimated V^N_μ(s0) |
/// | `mean_field_gap` | Float64 | V*_{z_μ}(s0) − V_{μ,z_μ}(s0), the N → ∞ limit |
/// | `deviates` | Boolean | false when no candidate beat μ (gap 0) |
/// | `best_alternative_gain`, `best_alternative_se` | Float64, nullable | the search's best candidate other than μ: mean gain on the search replicates and its standard error |
/// | `deviation_0` … | Int64 | the deviation's greedy action per state (μ's when it does not deviate) |
pub fn nash_gap_schema(num_states: usize) -> SchemaRef {
    let mut fields = vec![
        Field::new("agents", DataType::Int64, false),
        Field::new("state", DataType::Int64, false),
    ];
    for name in ["gap", "se", "ci_lo", "ci_hi", "value_mu", "mean_field_gap"] {
        fields.push(Field::new(name, DataType::Float64, false));
    }
    fields.push(Field::new("deviates", DataType::Boolean, false));
    fields.push(Field::new("best_alternative_gain", DataType::Float64, true));
    fields.push(Field::new("best_alternative_se", DataType::Float64, true));
    fields.extend(numbered_fields("deviation", num_states, DataType::Int64));
    Arc::new(Schema::new(fields))
}

/// The rows of `nash_gap.parquet`; `mu_greedy` fills the deviation columns of rows where μ
/// was kept.
pub fn nash_gap_batch(report: &NashGapReport, mu_greedy: &[usize]) -> RecordBatch {
    let ns = mu_greedy.len();
    let mut rows = TableBuilder::new(nash_gap_schema(ns), report.states.len());
    for r in &report.states {
        rows.push_row(|row| {
            row.i64(r.agents as i64)
                .i64(r.state as i64)
                .f64(r.gap)
                .f64(r.se)
                .f64(r.ci.0)
                .f64(r.ci.1)
                .f64(r.value_mu)
                .f64(r.mean_field_gap)
                .bool(r.deviation.is_some())
                .opt_f64(r.best_alternative.map(|b| b.0))
                .opt_f64(r.best_alternative.map(|b| b.1));
            for &a in r.deviation.as_deref().unwrap_or(mu_greedy) {
                row.i64(a as i64);
            }
        });
    }
    rows.finish()
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
        path.join("summary.json")
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
