//! `finite-n` as a library call.

use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::RunInfo;
use crate::error::{Error, Result};
use crate::finite_n::{
    run_study_on, EngineKind, FiniteNParams, FiniteNReport, GroupSummary, Limit, PolicySource,
    RateFit, RunResult,
};
use crate::population::Collective;
use crate::scenario::Scenario;
use crate::solver::{solve, Start};

/// What [`finite_n`] produced; `summary.json` is its serialization (the runs and steps go
/// to `finite_n.parquet` and `finite_n_steps.parquet`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FiniteNRun {
    /// Common header (`seed` is the base seed: replicate j uses seed + j).
    #[serde(flatten)]
    pub info: RunInfo,
    /// The simulator.
    pub engine: EngineKind,
    /// The agents' strategy.
    pub policy: PolicySource,
    /// The N grid.
    pub agents: Vec<u64>,
    /// Replicates per N.
    pub seeds: usize,
    /// Steps recorded after the burn-in.
    pub steps: u64,
    /// Steps before recording.
    pub burn_in: u64,
    /// Confidence level of the intervals.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub confidence: f64,
    /// Bootstrap resamples.
    pub bootstrap: usize,
    /// The rate fit (None with fewer than two N).
    pub fit: Option<RateFit>,
    /// One summary per N.
    pub per_n: Vec<GroupSummary>,
    /// Runs that finished.
    pub runs_completed: usize,
    /// Of those, runs taken from an earlier session ([`finite_n_resumed`]).
    pub runs_reused: usize,
    /// True when the stop flag ended the study early.
    pub interrupted: bool,
    /// Wall seconds of the study.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub seconds: f64,
    /// z*, the mean-field limit the runs are measured against.
    pub tmfe_z: Vec<f64>,
    /// Agent-steps simulated per wall second, over the whole study.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub agent_steps_per_second: f64,
    /// The full report (runs, steps) for the Parquet outputs (empty when read back from
    /// `summary.json`).
    #[serde(skip)]
    pub report: FiniteNReport,
}

/// Bytes of the rows a study keeps: per run its per-step rows (z and a few scalars) unless
/// the steps file is off, and its own row.
fn study_rows_bytes(ns: u64, params: &FiniteNParams) -> u64 {
    let runs = (params.agents.len() as u64).saturating_mul(params.seeds as u64);
    if params.keep_steps {
        runs.saturating_mul(params.steps)
            .saturating_mul(ns.saturating_mul(8).saturating_add(48))
    } else {
        0
    }
    .saturating_add(runs.saturating_mul(ns.saturating_mul(8).saturating_add(256)))
}

/// The estimated peak memory of `finite-n` on `sc` with `params`, in bytes: the process's
/// base ([`super::PROCESS_BASE_BYTES`]), the solver's tables, the kept rows, and on the agent
/// engine the largest population (one at a time; replicates run in parallel only below 2^18
/// agents). Checked against measured peak RSS in `tests/memory.rs`.
pub fn finite_n_memory_bytes(sc: &Scenario, params: &FiniteNParams) -> u64 {
    let model = sc.model.as_model();
    let (ns, na) = (model.num_states(), model.num_actions());
    let agents = if params.engine == EngineKind::Agents {
        let largest = params.agents.iter().copied().max().unwrap_or(0);
        largest.saturating_mul(super::engine_bytes_per_agent(ns))
    } else {
        0
    };
    super::PROCESS_BASE_BYTES
        .saturating_add(super::solver_bytes(ns, na, sc.solver.max_iterations))
        .saturating_add(study_rows_bytes(ns as u64, params))
        .saturating_add(agents)
}

/// The finite-N study of `sc` with `params` (its `learner` is the scenario's `[learner]` table:
/// online TMFQ's rule with the `learned` policy); `progress` is called after every finished run (from worker
/// threads) and `stop` ends the study keeping the finished runs.
///
/// # Errors
/// [`Error::Param`] for invalid settings, [`Error::Memory`] when the largest agent-engine
/// population would not fit in the available memory, [`Error::Solver`] when T-BR does not converge
/// (the study needs z*), [`Error::Interrupted`] when stopped before the first run finished.
pub fn finite_n(
    sc: &Scenario,
    params: &FiniteNParams,
    stop: &AtomicBool,
    progress: &(dyn Fn(&RunResult) + Sync),
) -> Result<FiniteNRun> {
    finite_n_resumed(sc, params, &[], stop, progress)
}

/// As [`finite_n`], reusing the runs of `finished` (an earlier session's, e.g. from a
/// [`super::checkpoint::StudyJournal`]) instead of running them again; the report is the
/// one an uninterrupted study gives (see [`crate::finite_n::run_study_resumed`]).
///
/// # Errors
/// As [`finite_n`].
pub fn finite_n_resumed(
    sc: &Scenario,
    params: &FiniteNParams,
    finished: &[RunResult],
    stop: &AtomicBool,
    progress: &(dyn Fn(&RunResult) + Sync),
) -> Result<FiniteNRun> {
    finite_n_impl(sc, params, finished, None, stop, progress)
}

/// As [`finite_n`], every run's population sharded over the ranks of `comm`
/// ([`crate::finite_n::run_study_on`]): every rank calls it with the same arguments and
/// returns the same report, bitwise the one-process report (timings aside). The memory
/// check counts the largest rank's block of the largest N.
///
/// # Errors
/// As [`finite_n`]; [`Error::Param`] naming `engine` for the count engine and `learner.rule`
/// for a rule other than `batch` with the learned policy; [`Error::Memory`] saying how many
/// ranks the largest N needs.
pub fn finite_n_sharded(
    sc: &Scenario,
    params: &FiniteNParams,
    comm: &dyn Collective,
    stop: &AtomicBool,
    progress: &(dyn Fn(&RunResult) + Sync),
) -> Result<FiniteNRun> {
    finite_n_impl(sc, params, &[], Some(comm), stop, progress)
}

/// The body of [`finite_n_resumed`] and [`finite_n_sharded`].
fn finite_n_impl(
    sc: &Scenario,
    params: &FiniteNParams,
    finished: &[RunResult],
    comm: Option<&dyn Collective>,
    stop: &AtomicBool,
    progress: &(dyn Fn(&RunResult) + Sync),
) -> Result<FiniteNRun> {
    let params = &FiniteNParams {
        learner: sc.learner,
        ..params.clone()
    };
    params.validate()?;
    if comm.is_some() {
        crate::finite_n::check_shardable(params)?;
    }
    let ranks = comm.map_or(1, |c| c.size());
    let model = sc.model.as_model();
    let ns = model.num_states() as u64;
    super::check_solver_memory(sc, 1)?;
    let runs = (params.agents.len() as u64).saturating_mul(params.seeds as u64);
    let step_rows = study_rows_bytes(ns, params);
    super::check_memory(
        || format!("finite-n keeping {runs} runs × {} steps", params.steps),
        step_rows,
        "; lower --steps, --seeds or the --agents grid, or pass --no-steps-file",
    )?;
    if params.engine == EngineKind::Agents {
        // One population at a time (replicates run in parallel only below 2^18 agents).
        let largest = params.agents.iter().copied().max().unwrap_or(0);
        let per_agent = super::engine_bytes_per_agent(model.num_states());
        if ranks > 1 {
            // Every rank holds the base, the solver's tables and the rows; the agents of the
            // largest block are its own.
            let fixed =
                finite_n_memory_bytes(sc, params).saturating_sub(largest.saturating_mul(per_agent));
            let block = super::learn::largest_block(largest, ranks);
            super::check_memory(
                || {
                    format!(
                        "finite-n with {largest} agents over {ranks} ranks ({block} agents on \
                         the largest rank)"
                    )
                },
                block.saturating_mul(per_agent).saturating_add(fixed),
                &super::learn::ranks_hint(per_agent, largest, fixed),
            )?;
        } else {
            super::check_memory(
                || format!("finite-n with {largest} agents on the agent engine"),
                finite_n_memory_bytes(sc, params),
                "; use the count engine (--engine counts: exact in distribution, any N)",
            )?;
        }
    }
    let exact = solve(model, sc.game, &sc.solver, &Start::Uniform)?;
    if !exact.converged() {
        return Err(Error::Solver(format!(
            "the exact T-MFE did not converge ({}); the study needs z*",
            exact.termination.describe()
        )));
    }
    let limit = Limit {
        z: &exact.z,
        policy: &exact.policy,
    };
    let report = run_study_on(
        model, sc.game, limit, params, finished, comm, stop, progress,
    )?;
    if report.runs.is_empty() {
        return Err(Error::Interrupted);
    }
    let reused = |r: &RunResult| finished.iter().any(|f| f == r);
    // This session's work only.
    let agent_steps: f64 = report
        .runs
        .iter()
        .filter(|r| !reused(r))
        .map(|r| r.agent_steps(params.burn_in))
        .sum();
    let runs_reused = report.runs.iter().filter(|r| reused(r)).count();
    Ok(FiniteNRun {
        info: RunInfo::new("finite-n", sc, params.base_seed),
        engine: params.engine,
        policy: params.policy,
        agents: params.agents.clone(),
        seeds: params.seeds,
        steps: params.steps,
        burn_in: params.burn_in,
        confidence: params.confidence,
        bootstrap: params.bootstrap,
        fit: report.fit.clone(),
        per_n: report.groups.clone(),
        runs_completed: report.runs.len(),
        runs_reused,
        interrupted: report.interrupted,
        seconds: report.seconds,
        tmfe_z: exact.z.clone(),
        agent_steps_per_second: agent_steps / report.seconds,
        report,
    })
}
