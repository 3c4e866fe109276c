//! Tables of an online learning run: one snapshot row per iteration, and the exported
//! transitions (an offline-RL dataset).

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rand::Rng;

use super::parquet::{numbered_fields, TableBuilder};
use crate::learner::Snapshot;
use crate::population::{StateCode, CHUNK};
use crate::rng::{stream, Purpose};
use crate::transition::TransitionBuffer;

/// Schema of `snapshots.parquet` for |S| = `num_states`:
///
/// | column | type | meaning |
/// | --- | --- | --- |
/// | `iteration` | Int64 | k (1-based) |
/// | `z_0` … `z_{S−1}` | Float64 | z^N_k(s), the empirical mean field after the step |
/// | `mean_state` | Float64 | Σ_s s·z^N_k(s) |
/// | `l1_to_tmfe` | Float64, nullable | ‖z^N_k − z*‖₁ |
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

/// Schema of the transitions dataset: `iteration` Int64, `agent` Int64, `s` Int32,
/// `a` Int32, `r` Float64 (r(s, a, z^N) at the step's empirical mean field), `s_next` Int32,
/// `regenerated` Boolean.
pub fn transitions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("iteration", DataType::Int64, false),
        Field::new("agent", DataType::Int64, false),
        Field::new("s", DataType::Int32, false),
        Field::new("a", DataType::Int32, false),
        Field::new("r", DataType::Float64, false),
        Field::new("s_next", DataType::Int32, false),
        Field::new("regenerated", DataType::Boolean, false),
    ]))
}

/// The transitions of `buffer` (the step of learning iteration `iteration`) as one batch of
/// [`transitions_schema`]. With `fraction` < 1 each agent is kept independently with that
/// probability, decided by the stream `(seed, Export, iteration, chunk)`: the same agents
/// for any thread count.
pub fn transitions_batch<T: StateCode>(
    buffer: &TransitionBuffer<T>,
    iteration: u64,
    fraction: f64,
    seed: u64,
) -> RecordBatch {
    let n = buffer.len();
    let keep_all = fraction >= 1.0;
    // Keep agent i when its u64 draw is below fraction·2^64.
    let threshold = (fraction.clamp(0.0, 1.0) * 2f64.powi(64)) as u64;
    let mut agents: Vec<i64> = Vec::with_capacity(if keep_all {
        n
    } else {
        (n as f64 * fraction * 1.1) as usize + 16
    });
    for (c, start) in (0..n).step_by(CHUNK).enumerate() {
        let end = (start + CHUNK).min(n);
        if keep_all {
            agents.extend((start..end).map(|i| i as i64));
        } else {
            let mut rng = stream(seed, Purpose::Export, iteration, c as u64);
            agents.extend(
                (start..end)
                    .filter(|_| rng.next_u64() < threshold)
                    .map(|i| i as i64),
            );
        }
    }
    let (s, a, r, s_next, regen) = {
        let mut s = Vec::with_capacity(agents.len());
        let mut a = Vec::with_capacity(agents.len());
        let mut r = Vec::with_capacity(agents.len());
        let mut s_next = Vec::with_capacity(agents.len());
        let mut regen = Vec::with_capacity(agents.len());
        for &i in &agents {
            let t = buffer.get(i as usize);
            s.push(t.state as i32);
            a.push(t.action as i32);
            r.push(buffer.tables().r(t.state, t.action));
            s_next.push(t.next_state as i32);
            regen.push(t.regenerated);
        }
        (s, a, r, s_next, regen)
    };
    let iteration = vec![i64::try_from(iteration).unwrap_or(i64::MAX); agents.len()];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(iteration)),
        Arc::new(Int64Array::from(agents)),
        Arc::new(Int32Array::from(s)),
        Arc::new(Int32Array::from(a)),
        Arc::new(Float64Array::from(r)),
        Arc::new(Int32Array::from(s_next)),
        Arc::new(BooleanArray::from(regen)),
    ];
    RecordBatch::try_new(transitions_schema(), columns).expect("columns match the schema")
}
