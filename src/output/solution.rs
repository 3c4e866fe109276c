//! The exact solver's two tables: `trajectory.parquet` (one row per T-BR iteration) and
//! `equilibrium.parquet` (one row per state), and [`write_solutions`] for several starts.

use super::table::{count, numbered_fields, write_parquet, RunMetadata, TableBuilder};
use crate::error::Result;
use crate::model::mean_state;
use crate::operator::trembling::g_value;
use crate::solver::Solution;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use std::path::Path;
use std::sync::Arc;

/// Schema of `trajectory.parquet` for `num_states` states:
///
/// | column               | type            | meaning                                    |
/// |----------------------|-----------------|--------------------------------------------|
/// | `iteration`          | Int64           | k (0 = the start vector)                   |
/// | `z_0` … `z_{S−1}`    | Float64         | z_k(s)                                     |
/// | `mean_state`         | Float64         | Σ_s s·z_k(s)                               |
/// | `delta_l1`           | Float64, nullable | ‖z_k − z_{k−1}‖₁ (null at k = 0)         |
/// | `tq_sweeps`          | Int64           | F-applications spent in iteration k (0 at k = 0) |
/// | `consistency_l1`     | Float64, nullable | ‖Φ(z, μ) − z‖₁ of iteration k's pair (see [`IterationRecord`](crate::solver::IterationRecord)); null at k = 0 |
/// | `exploitability`     | Float64, nullable | fp / omd: exploitability of iteration k's strategy at z_k; null for tbr / damped and at k = 0 |
pub fn trajectory_schema(num_states: usize) -> SchemaRef {
    let mut fields = vec![Field::new("iteration", DataType::Int64, false)];
    fields.extend(numbered_fields("z", num_states, DataType::Float64));
    fields.push(Field::new("mean_state", DataType::Float64, false));
    fields.push(Field::new("delta_l1", DataType::Float64, true));
    fields.push(Field::new("tq_sweeps", DataType::Int64, false));
    fields.push(Field::new("consistency_l1", DataType::Float64, true));
    fields.push(Field::new("exploitability", DataType::Float64, true));
    Arc::new(Schema::new(fields))
}

/// The T-BR trajectory of `sol` as one batch of [`trajectory_schema`]: a row for the start
/// (iteration 0) and one per [`IterationRecord`](crate::solver::IterationRecord).
pub fn trajectory_batch(sol: &Solution) -> RecordBatch {
    let mut rows = TableBuilder::new(trajectory_schema(sol.start.len()), sol.trace.len() + 1);
    rows.push_row(|r| {
        r.i64(0)
            .f64s(&sol.start)
            .f64(mean_state(&sol.start))
            .opt_f64(None)
            .i64(0)
            .opt_f64(None)
            .opt_f64(None);
    });
    for rec in &sol.trace {
        rows.push_row(|r| {
            r.i64(count(rec.iteration))
                .f64s(&rec.z)
                .f64(rec.mean_state)
                .opt_f64(Some(rec.delta_l1))
                .i64(count(rec.tq_sweeps))
                .opt_f64(Some(rec.consistency_l1))
                .opt_f64(rec.exploitability);
        });
    }
    rows.finish()
}

/// Writes `trajectory.parquet` (see [`trajectory_schema`]) atomically.
///
/// # Errors
/// [`crate::Error::Io`] / [`crate::Error::Encode`] naming `path`.
pub fn write_trajectory(path: &Path, sol: &Solution, meta: &RunMetadata) -> Result<()> {
    write_parquet(path, &trajectory_batch(sol), meta)
}

/// Schema of `equilibrium.parquet` (one row per state) for |A| = `num_actions`:
///
/// | column                | type    | meaning                                   |
/// |-----------------------|---------|-------------------------------------------|
/// | `state`               | Int64   | s                                         |
/// | `z`                   | Float64 | z(s), the returned mean field             |
/// | `greedy_action`       | Int64   | the action given 1 − ε at s               |
/// | `q_0` … `q_{A−1}`     | Float64 | Q*_z(s, a)                                |
/// | `mu_0` … `mu_{A−1}`   | Float64 | μ(s, a) = π^ε(Q*_z)(s, a)                 |
/// | `v`                   | Float64 | G(Q*_z)(s) = Σ_a μ(s, a) Q*_z(s, a)       |
pub fn equilibrium_schema(num_actions: usize) -> SchemaRef {
    let mut fields = vec![
        Field::new("state", DataType::Int64, false),
        Field::new("z", DataType::Float64, false),
        Field::new("greedy_action", DataType::Int64, false),
    ];
    fields.extend(numbered_fields("q", num_actions, DataType::Float64));
    fields.extend(numbered_fields("mu", num_actions, DataType::Float64));
    fields.push(Field::new("v", DataType::Float64, false));
    Arc::new(Schema::new(fields))
}

/// The equilibrium of `sol` as one batch of [`equilibrium_schema`], one row per state, with
/// `v` computed for tremble `epsilon` (the game's ε).
pub fn equilibrium_batch(sol: &Solution, epsilon: f64) -> RecordBatch {
    let (ns, na) = (sol.q.num_states(), sol.q.num_actions());
    let mut rows = TableBuilder::new(equilibrium_schema(na), ns);
    for s in 0..ns {
        rows.push_row(|r| {
            r.i64(count(s))
                .f64(sol.z[s])
                .i64(count(sol.policy.greedy()[s]))
                .f64s(sol.q.row(s))
                .f64s(sol.policy.row(s))
                .f64(g_value(sol.q.row(s), epsilon));
        });
    }
    rows.finish()
}

/// Writes `equilibrium.parquet` (see [`equilibrium_schema`]) atomically; `epsilon` is the
/// game's tremble, used for the `v` column.
///
/// # Errors
/// [`crate::Error::Io`] / [`crate::Error::Encode`] naming `path`.
pub fn write_equilibrium(
    path: &Path,
    sol: &Solution,
    epsilon: f64,
    meta: &RunMetadata,
) -> Result<()> {
    write_parquet(path, &equilibrium_batch(sol, epsilon), meta)
}

/// Footer key of a solve's files: the algorithm (`tbr`, `damped`, `fp`, `omd`).
pub const KEY_ALGO: &str = "mfgsim.solver.algo";
/// Footer key of a solve's files: `true` when the run converged, else `false` (the file
/// holds an end point, not an equilibrium).
pub const KEY_CONVERGED: &str = "mfgsim.solver.converged";
/// Footer key of a solve's files: `true` when μ is a mixture of trembling-hand strategies.
pub const KEY_MIXED: &str = "mfgsim.solver.mixed";

/// Writes the files of `mfgsim solve` for each labelled solver run into `dir`:
/// `trajectory.parquet` and `equilibrium.parquet`, in `dir` itself for the unlabelled run
/// (label `""`) and in `dir/<label>/` otherwise (`least/`, `greatest/` with start extremal).
///
/// # Errors
/// [`crate::Error::Io`] / [`crate::Error::Encode`] naming the directory or file.
pub fn write_solutions(
    dir: &Path,
    runs: &[(&str, &Solution)],
    epsilon: f64,
    meta: &RunMetadata,
) -> Result<()> {
    for (label, sol) in runs {
        let sub = if label.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(label)
        };
        super::ensure_real_dir(&sub)?;
        // Each file says what it holds: a readers (and `mfgsim plot`) never shows an end
        // point that did not converge as an equilibrium.
        let meta = meta
            .clone()
            .with_extra(KEY_ALGO, sol.algo.name())
            .with_extra(KEY_CONVERGED, sol.converged().to_string())
            .with_extra(KEY_MIXED, sol.mixed.to_string());
        write_trajectory(&sub.join(super::TRAJECTORY_FILE), sol, &meta)?;
        write_equilibrium(&sub.join(super::EQUILIBRIUM_FILE), sol, epsilon, &meta)?;
    }
    Ok(())
}
