//! The snapshot table of a learning run: one row per iteration (`snapshots.parquet`). The
//! exported transitions have their own module, [`super::transitions`].

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::table::{numbered_fields, TableBuilder};
use crate::learner::Snapshot;

/// Schema of `snapshots.parquet` for |S| = `num_states`:
///
/// | column | type | meaning |
/// | --- | --- | --- |
/// | `iteration` | Int64 | k (1-based) |
/// | `z_0` … `z_{S−1}` | Float64 | z^N_k(s), the empirical mean field after the step |
/// | `mean_state` | Float64 | Σ_s s·z^N_k(s) |
/// | `l1_to_tmfe` | Float64, nullable | ‖z^N_k − z*‖₁ |
/// | `w1_to_tmfe` | Float64, nullable | W1(z^N_k, z*) = Σ_{t=0}^{S−2} \|F_{z^N_k}(t) − F_{z*}(t)\|, Wasserstein-1 on the ordered states (F the CDFs) |
/// | `consistency` | Float64 | ‖Φ(z, μ_k) − z‖₁ at z = z^N_k, exact (kernel tables at z) |
/// | `exploitability` | Float64 | max_s V*_z(s) − V_{μ_k,z}(s) at z = z^N_k |
/// | `exploitability_weighted` | Float64 | Σ_s z(s)(V*_z(s) − V_{μ_k,z}(s)) |
/// | `agent_exploitability`, `agent_exploitability_weighted` | Float64, nullable | per-agent learners: mean over a fixed sample of 256 agents of their own strategies' exploitability at z |
/// | `regenerated` | Int64 | agents replaced during the population step (0 without one) |
/// | `policy_changes` | Int64 | states whose greedy action changed |
/// | `simulator_transitions`, `real_transitions`, `generative_samples`, `tq_updates` | Int64 | the iteration's sample ledger ([`crate::learner::Ledger`]) |
/// | `total_simulator_transitions`, …, `total_tq_updates` | Int64 | the ledger of iterations 1..=k |
/// | `inner_steps` | Int64 | simulator steps (TMFQ), value-iteration sweeps (GMBL), 1 (online) |
/// | `inner_converged` | Boolean | the inner loop met its tolerance before its cap |
/// | `step_seconds`, `learn_seconds`, `eval_seconds` | Float64 | wall time of each phase |
pub fn snapshot_schema(num_states: usize) -> SchemaRef {
    let mut fields = vec![Field::new("iteration", DataType::Int64, false)];
    fields.extend(numbered_fields("z", num_states, DataType::Float64));
    fields.push(Field::new("mean_state", DataType::Float64, false));
    fields.push(Field::new("l1_to_tmfe", DataType::Float64, true));
    fields.push(Field::new("w1_to_tmfe", DataType::Float64, true));
    fields.push(Field::new("consistency", DataType::Float64, false));
    for name in ["exploitability", "exploitability_weighted"] {
        fields.push(Field::new(name, DataType::Float64, false));
    }
    for name in ["agent_exploitability", "agent_exploitability_weighted"] {
        fields.push(Field::new(name, DataType::Float64, true));
    }
    for name in ["regenerated", "policy_changes"] {
        fields.push(Field::new(name, DataType::Int64, false));
    }
    for prefix in ["", "total_"] {
        for name in LEDGER_COLUMNS {
            fields.push(Field::new(
                format!("{prefix}{name}"),
                DataType::Int64,
                false,
            ));
        }
    }
    fields.push(Field::new("inner_steps", DataType::Int64, false));
    fields.push(Field::new("inner_converged", DataType::Boolean, false));
    for name in ["step_seconds", "learn_seconds", "eval_seconds"] {
        fields.push(Field::new(name, DataType::Float64, false));
    }
    Arc::new(Schema::new(fields))
}

/// The ledger's columns, in schema order.
pub const LEDGER_COLUMNS: [&str; 4] = [
    "simulator_transitions",
    "real_transitions",
    "generative_samples",
    "tq_updates",
];

/// Appends one snapshot to `rows` (a [`TableBuilder`] of [`snapshot_schema`]).
pub fn push_snapshot(rows: &mut TableBuilder, s: &Snapshot) {
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    rows.push_row(|r| {
        r.i64(int(s.iteration))
            .f64s(&s.z)
            .f64(s.mean_state)
            .opt_f64(s.l1_to_tmfe.is_finite().then_some(s.l1_to_tmfe))
            .opt_f64(s.w1_to_tmfe.is_finite().then_some(s.w1_to_tmfe))
            .f64(s.consistency)
            .f64(s.exploitability.max)
            .f64(s.exploitability.weighted)
            .opt_f64(s.agent_exploitability.map(|e| e.max))
            .opt_f64(s.agent_exploitability.map(|e| e.weighted))
            .i64(int(s.regenerated))
            .i64(i64::from(s.policy_changes));
        for l in [&s.ledger, &s.total] {
            r.i64(int(l.simulator_transitions))
                .i64(int(l.real_transitions))
                .i64(int(l.generative_samples))
                .i64(int(l.tq_updates));
        }
        r.i64(int(s.inner_steps))
            .bool(s.inner_converged)
            .f64(s.step_seconds)
            .f64(s.learn_seconds)
            .f64(s.eval_seconds);
    });
}
