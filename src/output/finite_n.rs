//! Tables and summary of a finite-N study ([`crate::finite_n`]).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::table::{numbered_fields, TableBuilder};
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
