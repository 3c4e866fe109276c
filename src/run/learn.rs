//! `learn` as a library call: any algorithm of `[learner] algo`, evaluated every iteration by
//! an [`Evaluator`] against the exact T-MFE (exploitability, consistency ‖Φ(z, μ_k) − z‖₁, L1
//! and Wasserstein-1 distances to z*).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::checkpoint::{
    CheckpointPlan, CheckpointSummary, Checkpointer, Interval, Resume, Totals,
};
use super::RunInfo;
use crate::error::{Error, Result};
use crate::finite_n::EngineKind;
use crate::learner::evaluator::agent_sample;
use crate::learner::{
    Algo, Algorithm, Evaluator, Gmbl, Independent, Learner, LearnerParams, Ledger, OnlineDriver,
    OnlineTmfq, Snapshot, Tmfq,
};
use crate::model::Model;
use crate::population::{
    Collective, CountPopulation, Engine, Population, ShardedPopulation, StopVote,
};
use crate::scenario::Scenario;
use crate::solver::{solve, Start};
use crate::space::{uniform, Policy, QTable};
use crate::state::StateCode;
use crate::transition::{BufferCode, Selection, StepTransitions};

/// Options of [`learn`] that are not scenario keys (they change outputs, not results).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LearnOptions {
    /// Hand the transitions (s, a, r, s′) of every population step to `on_iteration` (a
    /// [`StepTransitions`] borrowed from the engine, for [`crate::output::TransitionsExport`]
    /// or `StepTransitions::to_batch`), keeping each agent with this probability (seeded,
    /// the same agents for any thread count). `None` (default): none. Needs the agent engine
    /// and an online algorithm.
    pub export_fraction: Option<f64>,
}

/// The exact T-MFE the run is measured against (T-BR from uniform).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TmfeSummary {
    /// z*.
    pub z: Vec<f64>,
    /// Greedy action of μ* per state.
    pub greedy_action: Vec<usize>,
    /// Σ_s s·z*(s).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub mean_state: f64,
    /// Whether T-BR met its tolerance.
    pub converged: bool,
}

/// Wall seconds of each phase of a [`learn`] run.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct LearnTimings {
    /// Solving the exact T-MFE.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub solve: f64,
    /// Building the algorithm (allocating the agents).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub setup: f64,
    /// The iteration loop, `on_iteration` included.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub total_loop: f64,
    /// Moving agents or drawing samples (sum over iterations).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub step: f64,
    /// Learning.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub learn: f64,
    /// Exact evaluation.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub eval: f64,
    /// Inside `on_iteration` (the caller's output) and building exported batches.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub output: f64,
    /// Writing checkpoints (see [`learn_checkpointed`]).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub checkpoint: f64,
}

/// Quantiles of the per-iteration step time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct StepLatency {
    /// Median.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub p50: f64,
    /// 99th percentile (nearest rank).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub p99: f64,
    /// Maximum.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub max: f64,
}

impl StepLatency {
    fn of(snapshots: &[Snapshot]) -> Self {
        let mut ms: Vec<f64> = snapshots.iter().map(|s| s.step_seconds * 1e3).collect();
        if ms.is_empty() {
            return StepLatency::default();
        }
        ms.sort_by(f64::total_cmp);
        let rank = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        StepLatency {
            p50: rank(0.5),
            p99: rank(0.99),
            max: ms[ms.len() - 1],
        }
    }
}

/// Which known equilibrium a learn run ended closest to (see
/// [`LearnReport::closest_equilibrium`]).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ClosestEquilibrium {
    /// Its index among the quick census's equilibria (ascending mean state).
    pub index: usize,
    /// `tmfe` (a T-MFE in Π^ε) or `mixed` (a mixture of trembling-hand strategies).
    pub kind: String,
    /// Its mean state Σ_s s·z(s).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub mean_state: f64,
    /// ‖z − z_eq‖₁ from the final mean field.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub l1: f64,
    /// W1(z, z_eq) from the final mean field.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub w1: f64,
    /// The starts (`start/algo`) that reached it.
    pub reached_from: Vec<String>,
}

/// What [`learn`] produced; `summary.json` is its serialization (the snapshots go to
/// `snapshots.parquet`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LearnReport {
    /// Common header.
    #[serde(flatten)]
    pub info: RunInfo,
    /// The algorithm.
    pub algo: Algo,
    /// Every `[learner]` knob as used.
    pub learner: LearnerParams,
    /// The population engine (online algorithms), else `None`.
    pub engine: Option<EngineKind>,
    /// N, the real agents (online algorithms), else `None`.
    pub agents: Option<u64>,
    /// True when the stop flag ended the run early.
    pub interrupted: bool,
    /// Iterations done.
    pub iterations: u64,
    /// Iterations asked for (`sim.iterations`).
    pub iterations_requested: u64,
    /// The final mean field (see [`Snapshot::z`]).
    pub z: Vec<f64>,
    /// The learned strategy's greedy action per state.
    pub greedy_action: Vec<usize>,
    /// Σ_s s·z(s).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub mean_state: f64,
    /// ‖z − z*‖₁.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub l1_to_tmfe: f64,
    /// W1(z, z*), the Wasserstein-1 distance on the ordered states (see
    /// [`Snapshot::w1_to_tmfe`]).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub w1_to_tmfe: f64,
    /// ‖Φ(z, μ) − z‖₁ of the final strategy at the final z, exact (see
    /// [`Snapshot::consistency`]).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub consistency: f64,
    /// max_s exploitability of the final strategy at the final z.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub exploitability: f64,
    /// z-weighted exploitability of the final strategy at the final z.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub exploitability_weighted: f64,
    /// Per-agent learners: the final mean exploitability of the sampled agents' own
    /// strategies (see [`Snapshot::agent_exploitability`]).
    pub agent_exploitability: Option<f64>,
    /// The same, z-weighted.
    pub agent_exploitability_weighted: Option<f64>,
    /// The sample ledger, summed over all iterations.
    pub ledger: Ledger,
    /// The exact T-MFE.
    pub tmfe: TmfeSummary,
    /// The known equilibrium (of a quick census: T-BR from the lowest, highest and uniform
    /// mean fields, fictitious play where none converges) closest to the final mean field,
    /// `None` when the census found none.
    pub closest_equilibrium: Option<ClosestEquilibrium>,
    /// Distinct equilibria that quick census found.
    pub known_equilibria: usize,
    /// Wall seconds per phase.
    pub seconds: LearnTimings,
    /// Per-iteration step time.
    pub step_latency_ms: StepLatency,
    /// N·iterations / loop seconds (online algorithms).
    pub agent_steps_per_second: Option<f64>,
    /// N·iterations / step seconds (online algorithms).
    pub step_agent_steps_per_second: Option<f64>,
    /// Rows of transitions handed to `on_iteration`.
    pub transitions_exported: Option<u64>,
    /// What checkpointing did (`None` without a [`CheckpointPlan`]).
    pub checkpoint: Option<CheckpointSummary>,
    /// Every iteration's snapshot.
    #[serde(skip)]
    pub snapshots: Vec<Snapshot>,
    /// The final strategy (not in `summary.json`: read back, it is the empty strategy of
    /// zero states).
    #[serde(skip, default = "no_policy")]
    pub policy: Policy,
    /// The final Q-table, when there is one shared table.
    #[serde(skip)]
    pub q: Option<QTable>,
}

/// The strategy of a report read back from `summary.json`, which does not hold one.
fn no_policy() -> Policy {
    Policy::uniform(0, 0)
}

/// Runs `sc.learner.algo` for `sc.sim.iterations` iterations with seed `sc.sim.seed`
/// (online algorithms: `sc.sim.agents` agents on `sc.sim.engine`, drawn i.i.d. uniform;
/// TMFQ and GMBL: z_0 uniform).
/// After each iteration `on_iteration` receives the snapshot and, with
/// [`LearnOptions::export_fraction`], the step's transitions; an error it returns stops the
/// run. `stop` is polled before each iteration and at every simulator step of TMFQ's inner
/// loop.
///
/// # Errors
/// [`Error::Param`] for options that do not fit the scenario (export without a population,
/// too many agents for this platform), [`Error::Unsupported`] for an engine that cannot run
/// the algorithm, and errors of the algorithm or of `on_iteration`. Nothing is returned
/// for a run stopped before its first iteration: [`Error::Interrupted`].
pub fn learn(
    sc: &Scenario,
    opts: &LearnOptions,
    stop: &AtomicBool,
    on_iteration: &mut dyn FnMut(&Snapshot, Option<StepTransitions<'_>>) -> Result<()>,
) -> Result<LearnReport> {
    learn_checkpointed(sc, opts, None, stop, on_iteration)
}

/// As [`learn`], writing checkpoints as `plan` says and, with `plan.resume`, continuing from
/// the checkpoint in `plan.dir` (format and guarantees: [`super::checkpoint`]).
///
/// A resumed run first hands the k restored snapshots to `on_iteration` (without transitions),
/// then iterates k + 1, …; its report, snapshots and final state are bitwise those of an
/// uninterrupted run (timings aside). A run stopped by `stop` writes a last checkpoint at
/// the iteration it finished, so it can be resumed there.
///
/// # Errors
/// As [`learn`]; [`Error::Input`] naming the checkpoint file and what differs when the
/// checkpoint was written by another mfgsim version, scenario or option, or is corrupt;
/// [`Error::Param`] (key `checkpoint`) with transitions export (their dataset cannot be
/// resumed); [`Error::Unsupported`] for an algorithm or engine that cannot checkpoint.
pub fn learn_checkpointed(
    sc: &Scenario,
    opts: &LearnOptions,
    plan: Option<&CheckpointPlan>,
    stop: &AtomicBool,
    on_iteration: &mut dyn FnMut(&Snapshot, Option<StepTransitions<'_>>) -> Result<()>,
) -> Result<LearnReport> {
    learn_impl(sc, opts, plan, None, stop, on_iteration)
}

/// As [`learn`], with the population sharded over the ranks of `comm`
/// ([`ShardedPopulation`]): every rank calls it with the same scenario and options, holds
/// its block of the `sc.sim.agents` agents, and returns the same report, bitwise the report
/// of [`learn`] on one process (timings aside). `stop` is this rank's signal; the ranks
/// agree on it at every step, so all of them stop after the same iteration.
///
/// Supported on the agent engine: online TMFQ (`learner.algo = "online"`) with the batch
/// rule (`learner.rule = "batch"`, the default), and IQL and MFQ (each rank holds its
/// block's agents and their tables, [`Independent::try_new_sharded`]). With
/// [`LearnOptions::export_fraction`] each rank hands `on_iteration` its own block's rows
/// (global agent ids; the union over the ranks is the one-process export) and
/// `transitions_exported` counts all ranks' rows.
///
/// # Errors
/// Refused before any work, naming the key: another `learner.algo`, `learner.rule` or
/// `sim.engine`; [`Error::Memory`] when this rank's block does not fit, saying how many
/// ranks the run needs. Otherwise as [`learn`].
pub fn learn_sharded(
    sc: &Scenario,
    opts: &LearnOptions,
    comm: &dyn Collective,
    stop: &AtomicBool,
    on_iteration: &mut dyn FnMut(&Snapshot, Option<StepTransitions<'_>>) -> Result<()>,
) -> Result<LearnReport> {
    learn_impl(sc, opts, None, Some(comm), stop, on_iteration)
}

/// As [`learn_sharded`], writing checkpoints as `plan` says and, with `plan.resume`,
/// continuing from the checkpoint in `plan.dir`: every rank writes its own state file (its
/// block's agents and tables), rank 0 the history and, last, `manifest.json` (the ranks,
/// the iteration, every file's checksum); a resume needs the same number of ranks
/// ([`super::checkpoint::check_sharded_resume`]) and is bitwise an uninterrupted run, as
/// on one process ([`learn_checkpointed`]). Every rank passes the same `plan`.
///
/// # Errors
/// As [`learn_sharded`] and [`learn_checkpointed`]; [`Error::Input`] naming the manifest
/// and both K when it was written by another number of ranks, or naming a rank's file
/// whose checksum differs from the manifest's.
pub fn learn_sharded_checkpointed(
    sc: &Scenario,
    opts: &LearnOptions,
    plan: Option<&CheckpointPlan>,
    comm: &dyn Collective,
    stop: &AtomicBool,
    on_iteration: &mut dyn FnMut(&Snapshot, Option<StepTransitions<'_>>) -> Result<()>,
) -> Result<LearnReport> {
    learn_impl(sc, opts, plan, Some(comm), stop, on_iteration)
}

/// What a sharded run cannot do, refused by key before any work; then the memory check of
/// this rank's block.
///
/// # Errors
/// [`Error::Scenario`] naming `learner.algo`, `learner.rule` or `sim.engine`,
/// [`Error::Memory`] when the largest block (⌈C/K⌉ whole chunks, with the agents' tables for
/// IQL and MFQ) does not fit this rank's memory, saying how many ranks the run needs.
pub fn learn_sharded_preflight(sc: &Scenario, opts: &LearnOptions, ranks: usize) -> Result<()> {
    let refuse = |key: &str, reason: String| Error::Scenario {
        file: sc.path.clone(),
        key: key.into(),
        reason,
    };
    let algo = sc.learner.algo;
    if !matches!(algo, Algo::Online | Algo::Iql | Algo::Mfq) {
        return Err(refuse(
            "learner.algo",
            format!(
                "{algo} is not supported on a population sharded over MPI ranks (\"online\" \
                 with learner.rule = \"batch\", \"iql\" and \"mfq\" are); run it without \
                 mpirun"
            ),
        ));
    }
    if sc.sim.engine != EngineKind::Agents {
        return Err(refuse(
            "sim.engine",
            "the count engine keeps one histogram, there are no agents to shard; run it \
             without mpirun, or use sim.engine = \"agents\""
                .into(),
        ));
    }
    if algo == Algo::Online && sc.learner.rule != crate::learner::Rule::Batch {
        return Err(refuse(
            "learner.rule",
            format!(
                "\"{}\" reads individual transitions, which stay on the rank that holds the \
                 agents; under mpirun use learner.rule = \"batch\" (the default: it reads the \
                 all-reduced transition counts)",
                sc.learner.rule
            ),
        ));
    }
    preflight_ranks(sc, opts, ranks.max(1))
}

/// The body of [`learn_checkpointed`] and [`learn_sharded`].
fn learn_impl(
    sc: &Scenario,
    opts: &LearnOptions,
    plan: Option<&CheckpointPlan>,
    comm: Option<&dyn Collective>,
    stop: &AtomicBool,
    on_iteration: &mut dyn FnMut(&Snapshot, Option<StepTransitions<'_>>) -> Result<()>,
) -> Result<LearnReport> {
    if let Some(c) = comm {
        learn_sharded_preflight(sc, opts, c.size())?;
    }
    // Sharded: the loop polls the flag the ranks agree on (set by the steps' votes).
    let agreed = AtomicBool::new(false);
    let (loop_stop, shard) = match comm {
        Some(c) => (
            &agreed,
            Some((
                c,
                StopVote {
                    signal: stop,
                    agreed: &agreed,
                },
            )),
        ),
        None => (stop, None),
    };
    let stop = loop_stop;
    let options = plan.map(|p| {
        let mut o = p.options.clone();
        o.insert(
            "export_fraction".into(),
            format!("{:?}", opts.export_fraction),
        );
        o
    });
    if let (Some(p), Some(_)) = (plan, opts.export_fraction) {
        if p.resume || p.every != Interval::Never {
            return Err(Error::param(
                "checkpoint",
                "cannot be combined with exporting transitions: the transitions dataset \
                 of the steps before a resume cannot be rebuilt",
            ));
        }
    }
    // Validated before any work: a mismatch is refused in milliseconds, not after the solve.
    let resume = match (plan, &options) {
        (Some(p), Some(o)) if p.resume => Some(Resume::open(&p.dir, sc, o, comm)?),
        _ => None,
    };
    if let Some(f) = opts.export_fraction {
        if !(f > 0.0 && f <= 1.0) {
            return Err(Error::param(
                "export_fraction",
                format!("must be in (0, 1], got {f}"),
            ));
        }
        if !sc.learner.algo.uses_population() || sc.sim.engine != EngineKind::Agents {
            return Err(Error::param(
                "export_fraction",
                "exporting transitions needs a population of stored agents: an online \
                 algorithm on the agent engine (sim.engine = \"agents\")",
            ));
        }
    }
    if comm.is_none() {
        preflight(sc, opts)?;
    }
    let model = sc.model.as_model();
    let t0 = Instant::now();
    let exact = solve(model, sc.game, &sc.solver, &Start::Uniform)?;
    let known = crate::census::quick_census(model, sc.game, &sc.solver, 1e-4, Some(&exact))?;
    let solve_s = t0.elapsed().as_secs_f64();
    let ns = model.num_states();
    let na = model.num_actions();
    let seed = sc.sim.seed;
    let mut ctx = Ctx {
        sc,
        opts,
        stop,
        on_iteration,
        eval: Evaluator::new(model, sc.game, Some(exact.z.clone())),
        tmfe: TmfeSummary {
            z: exact.z.clone(),
            greedy_action: exact.policy.greedy().to_vec(),
            mean_state: exact.mean_state,
            converged: exact.converged(),
        },
        solve_seconds: solve_s,
        known,
        t_setup: Instant::now(),
        plan,
        options: options.unwrap_or_default(),
        resume,
        shard,
    };
    let algo = sc.learner.algo;
    let report = match (algo, sc.sim.engine) {
        (Algo::Tmfq, _) => {
            let run =
                Tmfq::try_new(model, sc.game, &sc.learner, &uniform(ns), seed)?.with_stop(stop);
            ctx.drive(run, |_, _, _| None)?
        }
        (Algo::Gmbl, _) => {
            let run =
                Gmbl::try_new(model, sc.game, &sc.learner, &uniform(ns), seed)?.with_stop(stop);
            ctx.drive(run, |_, _, _| None)?
        }
        (Algo::Online, EngineKind::Counts) => {
            let learner = OnlineTmfq::from_params(ns, na, sc.game, &sc.learner)?;
            let pop = CountPopulation::try_new(ns, sc.sim.agents, &uniform(ns), seed)?;
            let run = OnlineDriver::new(model, pop, learner, seed)?;
            ctx.drive(run, |_, _, _| None)?
        }
        (Algo::Iql | Algo::Mfq, EngineKind::Counts) => {
            return Err(Error::Unsupported {
                engine: "count engine",
                reason: format!(
                    "{algo} gives every agent its own table and its own actions, which \
                     needs agent identities; use the agent engine (sim.engine = \"agents\")"
                ),
            })
        }
        (Algo::Online | Algo::Iql | Algo::Mfq, EngineKind::Agents) => {
            let n = stored_agents(sc.sim.agents)?;
            if ns <= u8::MAX_STATES {
                ctx.drive_agents::<u8>(model, n)?
            } else {
                ctx.drive_agents::<u16>(model, n)?
            }
        }
    };
    Ok(report)
}

/// What can be refused before the exact solve: a learning rule the engine cannot run on
/// this model, and any run whose memory estimate does not fit (the solver's tables, the
/// agents' columns and per-agent tables, the simulator of TMFQ, GMBL's two kernels, the
/// transitions export's pages and parts in flight, and one kept snapshot per iteration).
///
/// # Errors
/// [`Error::Scenario`] naming `learner.rule` for the batch rule on too many states with the
/// agent engine, [`Error::Memory`] for a run that would not fit.
pub(crate) fn preflight(sc: &Scenario, opts: &LearnOptions) -> Result<()> {
    preflight_ranks(sc, opts, 1)
}

/// [`preflight`] of one rank of `ranks` sharing the agents ([`learn_sharded`]): the agents'
/// columns counted are the largest block's (⌈C/K⌉ whole chunks), everything else is held by
/// every rank. A run that does not fit says how many ranks of this rank's memory it needs.
///
/// # Errors
/// As [`preflight`].
pub(crate) fn preflight_ranks(sc: &Scenario, opts: &LearnOptions, ranks: usize) -> Result<()> {
    let model = sc.model.as_model();
    let (ns, na) = (model.num_states(), model.num_actions());
    let algo = sc.learner.algo;
    if algo == Algo::Online
        && sc.sim.engine == EngineKind::Agents
        && sc.learner.rule == crate::learner::Rule::Batch
    {
        crate::population::check_dense_counts(ns, na).map_err(|e| Error::Scenario {
            file: sc.path.clone(),
            key: "learner.rule".into(),
            reason: match e {
                Error::Unsupported { reason, .. } => reason,
                other => other.to_string(),
            },
        })?;
    }
    let snapshots = super::snapshot_bytes(ns).saturating_mul(sc.sim.iterations);
    super::check_memory(
        || format!("keeping {} snapshots of {ns} states", sc.sim.iterations),
        snapshots,
        "; lower sim.iterations (--iterations)",
    )?;
    super::check_solver_memory(sc, if algo == Algo::Gmbl { 2 } else { 1 })?;
    let (what, hint): (String, &str) = match algo {
        Algo::Tmfq => (
            format!("tmfq with {} simulated agents", sc.learner.tmfq.sim_agents),
            "; lower learner.sim_agents",
        ),
        Algo::Online | Algo::Iql | Algo::Mfq if sc.sim.engine == EngineKind::Agents => (
            format!("{algo} with {} agents", sc.sim.agents),
            if algo.per_agent() {
                "; lower sim.agents (--agents)"
            } else if opts.export_fraction.is_some() {
                "; lower --export-fraction or sim.agents (--agents)"
            } else {
                "; use the count engine (--engine counts: exact in distribution, any N)"
            },
        ),
        Algo::Online if sc.learner.rule == crate::learner::Rule::Paper => (
            format!(
                "the paper rule on the count engine with {} agents (it draws every transition)",
                sc.sim.agents
            ),
            "; use learner.rule = \"sampled\" (at most `budget` transitions) or \"batch\"",
        ),
        _ => (format!("{algo}"), ""),
    };
    let (fixed, engine) = learn_memory_parts(sc, opts);
    if ranks > 1 && sc.sim.engine == EngineKind::Agents && algo.uses_population() {
        // Each rank: its block's agents with their tables; every rank: the learner's
        // per-run buffers (MFQ: the gathered state column of all N).
        let per_agent =
            super::engine_bytes_per_agent(ns) + learner_bytes_per_agent(algo, ns, na, &sc.learner);
        let fixed = fixed.saturating_add(if algo.per_agent() {
            Independent::bytes_fixed_sharded(ns, na, sc.sim.agents, ranks, algo, &sc.learner)
        } else {
            0
        });
        let block = largest_block(sc.sim.agents, ranks);
        return super::check_memory(
            || {
                format!(
                    "{algo} with {} agents over {ranks} ranks ({block} agents on the largest \
                     rank)",
                    sc.sim.agents
                )
            },
            per_agent.saturating_mul(block).saturating_add(fixed),
            &ranks_hint(per_agent, sc.sim.agents, fixed),
        );
    }
    super::check_memory(|| what, fixed.saturating_add(engine), hint)
}

/// The estimated peak memory of `learn` on `sc` with `opts`, in bytes: the process's own
/// base ([`super::PROCESS_BASE_BYTES`]), the solver's tables (twice for GMBL), one kept
/// snapshot per iteration, the transitions export in flight, and the engine: the agents'
/// columns and per-agent tables (agent engine), TMFQ's simulator, or the transitions the
/// paper's rule draws on the count engine. Checked against measured peak RSS in
/// `tests/memory.rs`.
pub fn learn_memory_bytes(sc: &Scenario, opts: &LearnOptions) -> u64 {
    let (fixed, engine) = learn_memory_parts(sc, opts);
    fixed.saturating_add(engine)
}

/// [`learn_memory_bytes`] in two parts: what every rank holds (base, solver, snapshots,
/// export) and the engine's share (agents, simulator, drawn transitions).
fn learn_memory_parts(sc: &Scenario, opts: &LearnOptions) -> (u64, u64) {
    let model = sc.model.as_model();
    let (ns, na) = (model.num_states(), model.num_actions());
    let algo = sc.learner.algo;
    let snapshots = super::snapshot_bytes(ns).saturating_mul(sc.sim.iterations);
    let solver = super::solver_bytes(ns, na, sc.solver.max_iterations);
    let export = export_bytes(sc, opts);
    let fixed = super::PROCESS_BASE_BYTES
        .saturating_add(solver.saturating_mul(if algo == Algo::Gmbl { 2 } else { 1 }))
        .saturating_add(snapshots)
        .saturating_add(export);
    let engine = match algo {
        Algo::Tmfq => super::engine_bytes_per_agent(u8::MAX_STATES + 1)
            .saturating_mul(sc.learner.tmfq.sim_agents as u64),
        Algo::Gmbl => 0,
        Algo::Online | Algo::Iql | Algo::Mfq if sc.sim.engine == EngineKind::Agents => {
            let per_agent = super::engine_bytes_per_agent(ns)
                + learner_bytes_per_agent(algo, ns, na, &sc.learner);
            per_agent
                .saturating_mul(sc.sim.agents)
                .saturating_add(if algo.per_agent() {
                    let n = usize::try_from(sc.sim.agents).unwrap_or(usize::MAX);
                    Independent::bytes_fixed(ns, na, n, algo, &sc.learner)
                } else {
                    0
                })
        }
        // The count engine draws every transition for the paper's rule (4 bytes each).
        Algo::Online if sc.learner.rule == crate::learner::Rule::Paper => {
            sc.sim.agents.saturating_mul(4)
        }
        Algo::Online | Algo::Iql | Algo::Mfq => 0,
    };
    (fixed, engine)
}

/// Exported transitions in flight: a window of encoded pages, the open part, the parts
/// queued for the writer and the one it writes (at most 16 bytes a row, raw, before
/// compression), and the selection's 2 bytes per kept agent (none when every agent is kept).
fn export_bytes(sc: &Scenario, opts: &LearnOptions) -> u64 {
    opts.export_fraction.map_or(0, |f| {
        use crate::output::{ROWS_PER_PART, WINDOW_PAGES};
        let rows = (f * sc.sim.agents as f64).ceil() as u64;
        let chunk = crate::population::CHUNK as u64;
        let window = rows.min(WINDOW_PAGES as u64 * chunk);
        let parts = 5 * rows
            .saturating_mul(sc.sim.iterations)
            .min(ROWS_PER_PART as u64 + chunk);
        (window + parts)
            .saturating_mul(16)
            .saturating_add(rows.saturating_mul(2))
    })
}

/// Agents on the largest of `ranks` blocks of N agents ([`crate::population::block_of`]:
/// ⌈C/K⌉ whole chunks at most, fewer when the last chunk is partial).
pub(crate) fn largest_block(agents: u64, ranks: usize) -> u64 {
    let ranks = ranks.max(1);
    (0..ranks)
        .map(|r| {
            let b = crate::population::block_of(agents, r, ranks);
            b.end - b.start
        })
        .max()
        .unwrap_or(agents)
}

/// The hint of a sharded run that does not fit: the fewest ranks K, each with this rank's
/// available memory, whose largest block fits in 90% of it after the `fixed` bytes every
/// rank holds, i.e. the least K with per_agent·⌈C/K⌉·CHUNK + fixed ≤ 0.9·available.
pub(crate) fn ranks_hint(per_agent: u64, agents: u64, fixed: u64) -> String {
    let Some((available, _)) = super::available_memory() else {
        return String::new();
    };
    let room = (available / 10 * 9).saturating_sub(fixed);
    let chunk = crate::population::CHUNK as u64;
    let chunk_bytes = per_agent.saturating_mul(chunk).max(1);
    if room < chunk_bytes {
        return "; the bytes every rank holds alone (solver, snapshots) do not fit: lower \
                sim.iterations"
            .into();
    }
    // Chunks per rank that fit, then ranks for all chunks.
    let per_rank = room / chunk_bytes;
    let needed = agents.div_ceil(chunk).div_ceil(per_rank);
    format!(
        "; the run needs at least {needed} ranks with this much memory each \
         (mpirun -n {needed}, one rank per node)"
    )
}

/// N as an index of stored agents.
fn stored_agents(agents: u64) -> Result<usize> {
    usize::try_from(agents).map_err(|_| {
        Error::param(
            "agents",
            format!("{agents} agents do not fit this platform's memory"),
        )
    })
}

/// Bytes per agent of a population learner's own columns (0 for a shared table).
fn learner_bytes_per_agent(algo: Algo, ns: usize, na: usize, params: &LearnerParams) -> u64 {
    match algo {
        Algo::Online | Algo::Tmfq | Algo::Gmbl => 0,
        Algo::Iql | Algo::Mfq => Independent::bytes_per_agent(ns, na, algo, params),
    }
}

/// Refuses a snapshot with NaN or infinite values (the learner's values overflowed):
/// never stored, printed or counted as a result.
fn check_snapshot_finite(s: &Snapshot) -> Result<()> {
    let finite = s.z.iter().all(|x| x.is_finite())
        && [
            s.l1_to_tmfe,
            s.w1_to_tmfe,
            s.consistency,
            s.exploitability.max,
            s.exploitability.weighted,
        ]
        .iter()
        .all(|x| x.is_finite());
    if finite {
        return Ok(());
    }
    Err(Error::NonFinite {
        what: format!(
            "the learned mean field or its evaluation at iteration {}",
            s.iteration
        ),
        hint: "; the rewards are too large for f64 (values are about max |r| / (1 − gamma)): \
               rescale the model's rewards"
            .into(),
    })
}

/// What every algorithm's loop shares.
struct Ctx<'a, 'm> {
    sc: &'a Scenario,
    opts: &'a LearnOptions,
    stop: &'a AtomicBool,
    on_iteration: &'a mut dyn FnMut(&Snapshot, Option<StepTransitions<'_>>) -> Result<()>,
    eval: Evaluator<'m, dyn Model + 'm>,
    /// The exact T-MFE the run is measured against, and the seconds it took.
    tmfe: TmfeSummary,
    solve_seconds: f64,
    /// The quick census the final mean field is placed in.
    known: crate::census::Census,
    t_setup: Instant,
    plan: Option<&'a CheckpointPlan>,
    /// The options saved with (and compared against) a checkpoint.
    options: std::collections::BTreeMap<String, String>,
    /// The opened checkpoint of a resumed run, until it is loaded.
    resume: Option<Resume>,
    /// The ranks a sharded run's population is spread over, and this rank's stop vote.
    shard: Option<(&'a dyn Collective, StopVote<'a>)>,
}

impl<'a, 'm> Ctx<'a, 'm> {
    /// A population algorithm (online TMFQ, IQL, MFQ) on the agent engine with state type
    /// `T`: N agents drawn i.i.d. uniform, the learner of `[learner]`.
    fn drive_agents<T: BufferCode>(
        &mut self,
        model: &'m dyn Model,
        n: usize,
    ) -> Result<LearnReport> {
        let (ns, na, seed) = (model.num_states(), model.num_actions(), self.sc.sim.seed);
        let (game, params) = (self.sc.game, &self.sc.learner);
        if let Some((comm, vote)) = self.shard {
            // learn_sharded_preflight admitted online TMFQ (batch rule), IQL and MFQ.
            let pop = ShardedPopulation::<T>::try_new(
                comm,
                Some(vote),
                ns,
                self.sc.sim.agents,
                &uniform(ns),
                seed,
            )?;
            if params.algo.per_agent() {
                let learner = Independent::try_new_sharded(
                    comm,
                    ns,
                    na,
                    game,
                    params,
                    params.algo,
                    self.sc.sim.agents,
                    pop.local().states(),
                    seed,
                )?;
                return self.drive_sharded(model, pop, learner);
            }
            let learner = OnlineTmfq::from_params(ns, na, game, params)?;
            return self.drive_sharded(model, pop, learner);
        }
        let pop = Population::<T>::try_new_typed(ns, n, &uniform(ns), seed)?;
        if params.algo.per_agent() {
            let states = pop.states();
            let learner = Independent::try_new(ns, na, game, params, params.algo, states, seed)?;
            self.drive_stored(model, pop, learner)
        } else {
            let learner = OnlineTmfq::from_params(ns, na, game, params)?;
            self.drive_stored(model, pop, learner)
        }
    }

    /// `learner` inside the stored agents `pop`; exports their transitions if asked.
    fn drive_stored<T: BufferCode, L: Learner>(
        &mut self,
        model: &'m dyn Model,
        pop: Population<T>,
        learner: L,
    ) -> Result<LearnReport> {
        let seed = self.sc.sim.seed;
        let run = OnlineDriver::new(model, pop, learner, seed)?;
        let fraction = self.opts.export_fraction;
        self.drive(run, move |run, k, selection| {
            let f = fraction?;
            let buffer = run.engine().transitions()?;
            selection.draw(buffer.len(), k, f, seed);
            Some(StepTransitions::new(buffer, k, selection))
        })
    }

    /// `learner` inside this rank's block `pop` of a sharded population; exports the block's
    /// transitions (global agent ids, the selection of one process) if asked.
    fn drive_sharded<T: BufferCode, L: Learner>(
        &mut self,
        model: &'m dyn Model,
        pop: ShardedPopulation<'a, T>,
        learner: L,
    ) -> Result<LearnReport> {
        let seed = self.sc.sim.seed;
        let run = OnlineDriver::new(model, pop, learner, seed)?;
        let fraction = self.opts.export_fraction;
        self.drive(run, move |run, k, selection| {
            let f = fraction?;
            let pop = run.engine();
            let buffer = pop.local().transitions()?;
            let b = pop.block();
            // Within 0..N, which fits a usize (stored_agents).
            let block = b.start as usize..b.end as usize;
            selection.draw_block(block, Engine::num_agents(pop) as usize, k, f, seed);
            Some(StepTransitions::new(buffer, k, selection))
        })
    }

    /// The loop: iterate, export, evaluate, report.
    fn drive<A: Algorithm>(
        &mut self,
        mut run: A,
        export: impl for<'r> Fn(&'r A, u64, &'r mut Selection) -> Option<StepTransitions<'r>>,
    ) -> Result<LearnReport> {
        let setup = self.t_setup.elapsed().as_secs_f64();
        let requested = self.sc.sim.iterations;
        let mut snapshots: Vec<Snapshot> = Vec::with_capacity(requested.min(1 << 20) as usize);
        let mut total = Ledger::default();
        let mut t = LearnTimings {
            solve: self.solve_seconds,
            setup,
            ..LearnTimings::default()
        };
        let mut exported = self.opts.export_fraction.map(|_| 0u64);
        let mut selection = Selection::default();
        let sample = run
            .num_agents()
            .map(|n| agent_sample(n, self.sc.sim.seed))
            .unwrap_or_default();
        // Resume: the state into `run` and the evaluator, the totals and the history.
        let mut prev_loop = 0.0;
        let mut read_seconds = 0.0;
        let resumed = self.resume.as_ref().map(|r| (r.iteration(), r.run_id()));
        let resumed_file = self.resume.as_ref().and_then(Resume::rank_file);
        if let (Some(resume), Some(plan)) = (self.resume.take(), self.plan) {
            let ns = self.sc.model.as_model().num_states();
            let (totals, history, read_s) = resume.load(&plan.dir, &mut run, &mut self.eval, ns)?;
            total = totals.ledger;
            let [total_loop, step, learn, eval, output, checkpoint] = totals.seconds;
            prev_loop = total_loop;
            (t.step, t.learn, t.eval, t.output, t.checkpoint) =
                (step, learn, eval, output, checkpoint);
            read_seconds = read_s;
            for s in &history {
                (self.on_iteration)(s, None)?;
            }
            snapshots = history;
        }
        let mut ckpt = match self.plan {
            Some(p) => Some(Checkpointer::try_new(
                p,
                self.sc,
                std::mem::take(&mut self.options),
                resumed,
                self.shard.map(|(c, _)| c),
                resumed_file,
            )?),
            None => None,
        };
        if let Some(c) = ckpt.as_mut() {
            c.summary.read_seconds = read_seconds;
        }
        let t_loop = Instant::now();
        let totals_now = |t: &LearnTimings, total: Ledger| Totals {
            ledger: total,
            seconds: [
                prev_loop + t_loop.elapsed().as_secs_f64(),
                t.step,
                t.learn,
                t.eval,
                t.output,
                t.checkpoint,
            ],
        };
        let mut abandoned = false;
        for _ in run.iterations()..requested {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let it = match run.iterate() {
                Ok(it) => it,
                // Stopped inside an iteration (TMFQ's inner loop): the iteration is
                // abandoned, the run keeps those before it (and its last checkpoint).
                Err(Error::Interrupted) if self.stop.load(Ordering::SeqCst) => {
                    abandoned = true;
                    break;
                }
                Err(e) => return Err(e),
            };
            let mut snap = self.eval.observe(it, run.policy(), &mut total);
            check_snapshot_finite(&snap)?;
            if !sample.is_empty() {
                let t_eval = Instant::now();
                snap.agent_exploitability = self
                    .eval
                    .mean_exploitability(run.agent_policies(&sample), &snap.z);
                snap.eval_seconds += t_eval.elapsed().as_secs_f64();
            }
            let t_out = Instant::now();
            let step = export(&run, snap.iteration, &mut selection);
            if let (Some(rows), Some(step)) = (exported.as_mut(), &step) {
                *rows += step.rows() as u64;
            }
            (self.on_iteration)(&snap, step)?;
            t.output += t_out.elapsed().as_secs_f64();
            t.step += snap.step_seconds;
            t.learn += snap.learn_seconds;
            t.eval += snap.eval_seconds;
            let k = snap.iteration;
            snapshots.push(snap);
            if let Some(c) = ckpt.as_mut().filter(|c| c.due(k)) {
                let t_ck = Instant::now();
                c.write(&run, &self.eval, &snapshots, &totals_now(&t, total))?;
                t.checkpoint += t_ck.elapsed().as_secs_f64();
            }
        }
        // Stopped early: a last checkpoint where the run stopped, so it resumes there.
        if let Some(c) = ckpt.as_mut() {
            let k = snapshots.last().map_or(0, |s| s.iteration);
            let stopped = self.stop.load(Ordering::SeqCst) && k < requested;
            // Not after an abandoned iteration: the algorithm's state is mid-iteration.
            if stopped
                && !abandoned
                && c.writes()
                && k > 0
                && c.summary.last_iteration.unwrap_or(0) < k
            {
                let t_ck = Instant::now();
                c.write(&run, &self.eval, &snapshots, &totals_now(&t, total))?;
                t.checkpoint += t_ck.elapsed().as_secs_f64();
            }
        }
        t.total_loop = prev_loop + t_loop.elapsed().as_secs_f64();
        // Sharded: every rank exported its own block's rows; the report counts all ranks'.
        if let (Some(rows), Some((comm, _))) = (exported.as_mut(), self.shard) {
            let mut words = [*rows];
            comm.all_reduce_sum(&mut words);
            *rows = words[0];
        }
        let Some(last) = snapshots.last() else {
            return Err(Error::Interrupted);
        };
        let sim = &self.sc.sim;
        // Population algorithms: N and its engine, and agent-steps per second.
        let population = run.algo().uses_population();
        let agent_steps = last.iteration as f64 * sim.agents as f64;
        Ok(LearnReport {
            info: RunInfo::new("learn", self.sc, sim.seed),
            algo: run.algo(),
            learner: self.sc.learner,
            engine: population.then_some(sim.engine),
            agents: population.then_some(sim.agents),
            interrupted: self.stop.load(Ordering::SeqCst) && last.iteration < requested,
            iterations: last.iteration,
            iterations_requested: requested,
            z: last.z.clone(),
            greedy_action: run.policy().greedy().to_vec(),
            mean_state: last.mean_state,
            l1_to_tmfe: last.l1_to_tmfe,
            w1_to_tmfe: last.w1_to_tmfe,
            consistency: last.consistency,
            exploitability: last.exploitability.max,
            exploitability_weighted: last.exploitability.weighted,
            agent_exploitability: last.agent_exploitability.map(|e| e.max),
            agent_exploitability_weighted: last.agent_exploitability.map(|e| e.weighted),
            ledger: total,
            tmfe: self.tmfe.clone(),
            closest_equilibrium: self.known.closest(&last.z).map(|(i, l1)| {
                let e = &self.known.equilibria[i];
                ClosestEquilibrium {
                    index: i,
                    kind: e.kind.to_string(),
                    mean_state: e.mean_state,
                    l1,
                    w1: crate::space::wasserstein1(&last.z, &e.z),
                    reached_from: e.starts.clone(),
                }
            }),
            known_equilibria: self.known.equilibria.len(),
            seconds: t,
            step_latency_ms: StepLatency::of(&snapshots),
            agent_steps_per_second: population.then(|| agent_steps / t.total_loop),
            step_agent_steps_per_second: population.then(|| agent_steps / t.step),
            transitions_exported: exported,
            checkpoint: ckpt.map(|c| c.summary),
            policy: run.policy().clone(),
            q: run.q().cloned(),
            snapshots,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::{block_of, CHUNK};

    #[test]
    fn the_largest_block_is_balanced_to_one_chunk() {
        let c = CHUNK as u64;
        for n in [1, 100, c, c + 1, 3 * c + 1234, 10 * c, 1_000_000_007] {
            for k in 1..=7usize {
                let total: u64 = (0..k)
                    .map(|r| {
                        let b = block_of(n, r, k);
                        b.end - b.start
                    })
                    .sum();
                assert_eq!(total, n);
                let largest = largest_block(n, k);
                // At least the mean, at most ⌈C/K⌉ whole chunks.
                assert!(largest >= n.div_ceil(k as u64), "n {n}, k {k}");
                assert!(
                    largest <= n.div_ceil(c).div_ceil(k as u64) * c,
                    "n {n}, k {k}"
                );
            }
        }
    }
}
