//! `nash_gap.parquet` ([`crate::nash_gap`], [`crate::run::nash_gap`]); reading its
//! `summary.json` back as a chart series is `output::plot`'s (`read_nash_gap_series`).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::table::{numbered_fields, TableBuilder};
use crate::nash_gap::NashGapReport;

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
