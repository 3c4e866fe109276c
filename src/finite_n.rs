//! The finite-N study: how far N agents are from their mean-field limit, and at what rate.
//!
//! # What is measured
//! ```text
//! for each N in the grid and each replicate j = 0, …, K−1 (seed = base_seed + j):
//!     z^N_0 ~ Multinomial(N, z*)/N                     (N agents drawn i.i.d. from z*)
//!     for t = 1, …, B + T:
//!         every agent acts with μ_{t−1} at the empirical z^N_{t−1}    (feedback)
//!         μ_t = μ*                      with policy = tmfe
//!         μ_t = online TMFQ's strategy  with policy = learned (Algorithm 3 from Q = 0)
//!     e_t = ||z^N_t − z*||₁ for t = B+1, …, B+T         (B = burn-in, T = steps)
//!     run statistics:  ē = mean_t e_t,  max_t e_t,
//!                      bias(s) = mean_t z^N_t(s) − z*(s),
//!                      var(s)  = mean_t (z^N_t(s) − mean_t z^N_t(s))²
//! per N:   E_N = mean_j ē_j,  sd_N = sd_j ē_j (K − 1 in the denominator),  se_N = sd_N/√K
//! rate:    ln E_N = a + b·ln N   (least squares over the grid),   E_N ≈ e^a · N^b
//! CI:      percentile bootstrap over replicates: resample the K replicates with
//!          replacement (the same j's for every N: replicate j has seed base_seed + j at every
//!          N, so the runs of one j are correlated), refit; B_boot = 2000 resamples, stream
//!          (base_seed, Eval, r, 0)
//! ```
//! The central limit theorem for the empirical measure predicts fluctuations of order
//! N^(−1/2), so b ≈ −1/2 once N is large enough for every state to hold many agents; the
//! report gives what the numbers say. N·Σ_s var(s) estimates the stationary covariance's trace
//! and should level off when the N^(−1/2) scaling holds.
//!
//! # Engines and parallelism
//! [`EngineKind::Agents`] simulates every agent ([`Population`]); [`EngineKind::Counts`] the
//! exact count engine ([`CountPopulation`]), whose cost does not depend on N. Both are keyed
//! by the same seeds but draw different streams, so they agree in distribution, not bitwise.
//! Runs with few agents (all count-engine runs, agent runs with N ≤ [`PAR_SEEDS_MAX_AGENTS`])
//! run their replicates in parallel; larger agent runs go one after the other, each step
//! parallel over chunks of agents. Either way every result is bitwise identical for any
//! number of threads.
//!
//! # Example
//! The gig model's finite-N error from 10³ to 10¹² agents with the count engine:
//! ```
//! use std::sync::atomic::AtomicBool;
//! use mfgsim::finite_n::{run_study, EngineKind, FiniteNParams, Limit};
//! use mfgsim::model::Gig;
//! use mfgsim::{solve, GameParams, SolverParams, Start};
//!
//! let model = Gig::default();
//! let game = GameParams::default();
//! let tmfe = solve(&model, game, &SolverParams::default(), &Start::Uniform)?;
//! let params = FiniteNParams {
//!     agents: vec![1_000, 1_000_000, 1_000_000_000, 1_000_000_000_000],
//!     seeds: 4,
//!     steps: 50,
//!     engine: EngineKind::Counts,
//!     ..FiniteNParams::default()
//! };
//! let limit = Limit { z: &tmfe.z, policy: &tmfe.policy };
//! let report = run_study(&model, game, limit, &params, &AtomicBool::new(false), &|_| {})?;
//! let fit = report.fit.expect("four values of N");
//! assert!((fit.slope + 0.5).abs() < 0.03, "slope {}", fit.slope);
//! assert!(report.groups[3].mean_l1 < 1e-5); // 10¹² agents: ‖z^N − z*‖₁ ≈ 1.7·10⁻⁶
//! # Ok::<(), mfgsim::Error>(())
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::learner::{Algorithm, Evaluator, LearnerParams, OnlineDriver, OnlineTmfq, Rule};
use crate::model::{GameParams, Model};
use crate::operator::Exploitability;
use crate::population::{
    Actions, Collective, CountPopulation, Engine, Population, ShardedPopulation, StopVote,
};
use crate::space::{l1_distance, Policy};
use crate::state::StateWidth;
use crate::stats;
pub use crate::stats::{least_squares, RateFit};

/// Agent-engine runs with at most this many agents run their replicates in parallel (2¹⁸).
pub const PAR_SEEDS_MAX_AGENTS: u64 = 1 << 18;

/// Which simulator moves the agents (defined with the engines; re-exported here, where the
/// study and `[sim] engine` name it).
pub use crate::population::EngineKind;

/// Which strategy the agents play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicySource {
    /// The exact T-MFE strategy μ*, fixed.
    Tmfe,
    /// Online TMFQ (Algorithm 3): the agents learn from their own transitions, from Q = 0.
    Learned,
}

impl PolicySource {
    /// `"tmfe"` or `"learned"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySource::Tmfe => "tmfe",
            PolicySource::Learned => "learned",
        }
    }
}

/// Settings of a finite-N study.
#[derive(Debug, Clone, PartialEq)]
pub struct FiniteNParams {
    /// The N grid. Default 10², 10³, …, 10⁷.
    pub agents: Vec<u64>,
    /// K, replicates per N (≥ 1; ≥ 2 for a confidence interval). Default 10.
    pub seeds: usize,
    /// Replicate j uses seed `base_seed + j`. Default 0.
    pub base_seed: u64,
    /// T, steps recorded after the burn-in (≥ 1). Default 200.
    pub steps: u64,
    /// B, steps run before recording. Default 50.
    pub burn_in: u64,
    /// The strategy. Default [`PolicySource::Tmfe`].
    pub policy: PolicySource,
    /// The simulator. Default [`EngineKind::Agents`].
    pub engine: EngineKind,
    /// The learning rule with [`PolicySource::Learned`].
    pub learner: LearnerParams,
    /// Bootstrap resamples for the confidence intervals. Default 2000, at most
    /// [`MAX_BOOTSTRAP`].
    pub bootstrap: usize,
    /// Two-sided confidence level of the intervals. Default 0.95.
    pub confidence: f64,
    /// Keep every recorded step's z^N_t in the report (memory O(K·T·|S|) per N); off, only
    /// the running statistics are kept. Default true.
    pub keep_steps: bool,
}

impl Default for FiniteNParams {
    fn default() -> Self {
        FiniteNParams {
            agents: (2..=7).map(|k| 10u64.pow(k)).collect(),
            seeds: 10,
            base_seed: 0,
            steps: 200,
            burn_in: 50,
            policy: PolicySource::Tmfe,
            engine: EngineKind::Agents,
            learner: LearnerParams::default(),
            bootstrap: 2000,
            confidence: 0.95,
            keep_steps: true,
        }
    }
}

impl FiniteNParams {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Param`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.agents.is_empty() {
            return Err(Error::param("agents", "the N grid is empty"));
        }
        if self.agents.contains(&0) {
            return Err(Error::param("agents", "every N must be at least 1"));
        }
        for (i, n) in self.agents.iter().enumerate() {
            if self.agents[..i].contains(n) {
                return Err(Error::param("agents", format!("N = {n} appears twice")));
            }
        }
        if self.engine == EngineKind::Agents {
            if let Some(&n) = self.agents.iter().find(|&&n| usize::try_from(n).is_err()) {
                return Err(Error::param(
                    "agents",
                    format!("N = {n} does not fit this platform's memory; use the count engine"),
                ));
            }
        }
        if self.seeds == 0 {
            return Err(Error::param("seeds", "must be at least 1"));
        }
        if self.steps == 0 {
            return Err(Error::param("steps", "must be at least 1"));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(Error::param("confidence", "must be in (0, 1)"));
        }
        if self.bootstrap > MAX_BOOTSTRAP {
            return Err(Error::param(
                "bootstrap",
                format!(
                    "must be at most {MAX_BOOTSTRAP} resamples (the intervals settle long \
                     before), got {}",
                    self.bootstrap
                ),
            ));
        }
        if self.policy == PolicySource::Learned {
            self.learner.validate()?;
        }
        Ok(())
    }

    /// The seed of replicate j.
    pub fn seed(&self, j: usize) -> u64 {
        self.base_seed.wrapping_add(j as u64)
    }
}

/// Most bootstrap resamples a study accepts ([`FiniteNParams::bootstrap`]): each costs a
/// pass over the replicates, and the percentile intervals settle within a few thousand.
pub const MAX_BOOTSTRAP: usize = 1_000_000;

/// The equilibrium the study measures against.
#[derive(Debug, Clone, Copy)]
pub struct Limit<'a> {
    /// z*, the T-MFE mean field (also the initial law).
    pub z: &'a [f64],
    /// μ*, the T-MFE strategy (played with [`PolicySource::Tmfe`]).
    pub policy: &'a Policy,
}

/// One recorded step of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// t (1-based; the first recorded step is B + 1).
    pub t: u64,
    /// ||z^N_t − z*||₁.
    pub l1: f64,
    /// z^N_t.
    pub z: Vec<f64>,
    /// With [`PolicySource::Learned`]: the exploitability of the learned strategy μ_t at
    /// z^N_t, max over states and z-weighted (exact, as in online TMFQ); `None` with the
    /// T-MFE strategy.
    pub exploitability: Option<Exploitability>,
}

/// The result of one (N, replicate) run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// N.
    pub agents: u64,
    /// j, the replicate index.
    pub replicate: usize,
    /// The run's seed.
    pub seed: u64,
    /// ē, the time average of ||z^N_t − z*||₁ over the recorded steps.
    pub mean_l1: f64,
    /// Its maximum over the recorded steps.
    pub max_l1: f64,
    /// Standard deviation over the recorded steps (divisor T).
    pub sd_l1: f64,
    /// mean_t z^N_t(s) − z*(s), per state.
    pub bias: Vec<f64>,
    /// mean_t (z^N_t(s) − mean_t z^N_t(s))², per state.
    pub variance: Vec<f64>,
    /// With [`PolicySource::Learned`]: the time averages of the exploitability (max, weighted).
    pub mean_exploitability: Option<Exploitability>,
    /// T, the number of recorded steps.
    pub recorded: u64,
    /// Every recorded step (empty unless [`FiniteNParams::keep_steps`]).
    pub steps: Vec<StepRecord>,
    /// Wall seconds of the run.
    pub seconds: f64,
}

impl RunResult {
    /// Agent-steps simulated: N·(B + T).
    pub fn agent_steps(&self, burn_in: u64) -> f64 {
        self.agents as f64 * (burn_in + self.recorded) as f64
    }
}

/// The replicates of one N, summarised.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupSummary {
    /// N.
    pub agents: u64,
    /// Replicates completed.
    pub runs: usize,
    /// E_N = mean over replicates of ē.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub mean_l1: f64,
    /// Standard deviation of ē over replicates (divisor K − 1; 0 with one replicate).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub std_l1: f64,
    /// Standard error sd/√K.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub se_l1: f64,
    /// Bootstrap percentile interval of E_N (None with one replicate).
    pub ci_l1: Option<(f64, f64)>,
    /// Mean over replicates of max_t ||z^N_t − z*||₁.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub mean_max_l1: f64,
    /// Mean over replicates of the per-state bias.
    pub bias: Vec<f64>,
    /// Mean over replicates of the per-state time variance.
    pub variance: Vec<f64>,
    /// N·Σ_s variance(s): levels off when fluctuations scale as N^(−1/2).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub n_times_variance: f64,
    /// With [`PolicySource::Learned`]: mean over replicates of the time-average
    /// exploitability (max, weighted).
    pub mean_exploitability: Option<Exploitability>,
    /// Total wall seconds of the group's runs (summed over replicates).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub seconds: f64,
}

/// Everything a study produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FiniteNReport {
    /// Completed runs, in grid order (N, then replicate).
    pub runs: Vec<RunResult>,
    /// One summary per N with at least one completed run, in grid order.
    pub groups: Vec<GroupSummary>,
    /// The rate; None with fewer than two distinct N.
    pub fit: Option<RateFit>,
    /// True when `cancel` stopped the study early (the runs above are complete ones).
    pub interrupted: bool,
    /// Wall seconds of the whole study.
    pub seconds: f64,
}

/// Runs the study; see the module docs.
///
/// `progress` is called (from worker threads) after every completed run; `cancel` is polled
/// every step and stops the study, keeping the runs that finished.
///
/// # Errors
/// [`Error::Param`] for invalid settings or a `limit` of the wrong size; errors of the
/// engines (a model the engine cannot sample).
pub fn run_study<M: Model + Sync + ?Sized>(
    model: &M,
    game: GameParams,
    limit: Limit<'_>,
    params: &FiniteNParams,
    cancel: &AtomicBool,
    progress: &(dyn Fn(&RunResult) + Sync),
) -> Result<FiniteNReport> {
    run_study_resumed(model, game, limit, params, &[], cancel, progress)
}

/// As [`run_study`], taking the runs of `finished` (results of an earlier study with the
/// same settings, e.g. read back from a journal) instead of running them again: a run
/// (N, j) whose N, replicate and seed match one of them is not run, and `progress` is not
/// called for it. Every run is deterministic in (N, seed), so the report is the one an
/// uninterrupted study gives.
///
/// # Errors
/// As [`run_study`].
pub fn run_study_resumed<M: Model + Sync + ?Sized>(
    model: &M,
    game: GameParams,
    limit: Limit<'_>,
    params: &FiniteNParams,
    finished: &[RunResult],
    cancel: &AtomicBool,
    progress: &(dyn Fn(&RunResult) + Sync),
) -> Result<FiniteNReport> {
    run_study_on(model, game, limit, params, finished, None, cancel, progress)
}

/// As [`run_study_resumed`]; with `comm`, every run's population is sharded over its ranks
/// ([`ShardedPopulation`]): every rank calls this with the same arguments, runs the same
/// (N, j) runs one after the other (never replicates in parallel, so the ranks' all-reduces
/// pair up) and returns the same report, bitwise the one-process report (timings aside).
/// `cancel` is this rank's signal; the ranks agree on it at every step.
///
/// # Errors
/// As [`run_study`]; with `comm`, [`Error::Param`] naming `engine` for the count engine and
/// `learner.rule` for a rule other than `batch` with [`PolicySource::Learned`] (they read
/// individual transitions, which stay on their ranks).
#[expect(
    clippy::too_many_arguments,
    reason = "run_study_resumed's plus the ranks"
)]
pub fn run_study_on<M: Model + Sync + ?Sized>(
    model: &M,
    game: GameParams,
    limit: Limit<'_>,
    params: &FiniteNParams,
    finished: &[RunResult],
    comm: Option<&dyn Collective>,
    cancel: &AtomicBool,
    progress: &(dyn Fn(&RunResult) + Sync),
) -> Result<FiniteNReport> {
    params.validate()?;
    if comm.is_some() {
        check_shardable(params)?;
    }
    // Sharded: the study polls the flag the ranks agree on (set by the steps' votes).
    let agreed = AtomicBool::new(false);
    let (cancel, shard) = match comm {
        Some(c) => (
            &agreed,
            Some((
                c,
                StopVote {
                    signal: cancel,
                    agreed: &agreed,
                },
            )),
        ),
        None => (cancel, None),
    };
    let (ns, na) = (model.num_states(), model.num_actions());
    if limit.z.len() != ns {
        return Err(Error::param("limit", "z* must have one entry per state"));
    }
    if limit.policy.num_states() != ns || limit.policy.num_actions() != na {
        return Err(Error::param("limit", "μ* has other sizes than the model"));
    }
    let t0 = Instant::now();
    let mut runs = Vec::new();
    for &n in &params.agents {
        let one = |j: usize| -> Result<Option<RunResult>> {
            let seed = params.seed(j);
            if let Some(done) = finished
                .iter()
                .find(|r| r.agents == n && r.replicate == j && r.seed == seed)
            {
                return Ok(Some(done.clone()));
            }
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let r = run_one(model, game, limit, params, n, j, shard, cancel)?;
            if let Some(r) = &r {
                progress(r);
            }
            Ok(r)
        };
        let parallel_seeds =
            shard.is_none() && (params.engine == EngineKind::Counts || n <= PAR_SEEDS_MAX_AGENTS);
        let group: Vec<Option<RunResult>> = if parallel_seeds {
            (0..params.seeds)
                .into_par_iter()
                .map(one)
                .collect::<Result<_>>()?
        } else {
            (0..params.seeds).map(one).collect::<Result<_>>()?
        };
        runs.extend(group.into_iter().flatten());
        if cancel.load(Ordering::Relaxed) {
            break;
        }
    }
    let interrupted = cancel.load(Ordering::Relaxed);
    let (groups, fit) = summarise(&runs, limit.z, params);
    Ok(FiniteNReport {
        runs,
        groups,
        fit,
        interrupted,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// What a sharded study cannot run, by key.
///
/// # Errors
/// [`Error::Param`] naming `engine` or `learner.rule`.
pub fn check_shardable(params: &FiniteNParams) -> Result<()> {
    if params.engine != EngineKind::Agents {
        return Err(Error::param(
            "engine",
            "the count engine keeps one histogram, there are no agents to shard over MPI \
             ranks; run it without mpirun, or use the agent engine",
        ));
    }
    if params.policy == PolicySource::Learned && params.learner.rule != Rule::Batch {
        return Err(Error::param(
            "learner.rule",
            format!(
                "\"{}\" reads individual transitions, which stay on the rank that holds the \
                 agents; under mpirun use learner.rule = \"batch\" (the default)",
                params.learner.rule
            ),
        ));
    }
    Ok(())
}

/// One (N, replicate) run, sharded over `shard`'s ranks if given; `None` when cancelled.
#[expect(
    clippy::too_many_arguments,
    reason = "one run's coordinates and context"
)]
fn run_one<M: Model + ?Sized>(
    model: &M,
    game: GameParams,
    limit: Limit<'_>,
    params: &FiniteNParams,
    n: u64,
    j: usize,
    shard: Option<(&dyn Collective, StopVote<'_>)>,
    cancel: &AtomicBool,
) -> Result<Option<RunResult>> {
    let seed = params.seed(j);
    let ns = model.num_states();
    let t0 = Instant::now();
    // Above 65 536 states the u16 engines refuse the run by name.
    let narrow = StateWidth::of(ns) == Some(StateWidth::U8);
    let acc = match (params.engine, shard) {
        (EngineKind::Agents, Some((comm, vote))) if narrow => {
            let pop = ShardedPopulation::<u8>::try_new(comm, Some(vote), ns, n, limit.z, seed)?;
            simulate(model, game, limit, params, pop, seed, cancel)?
        }
        (EngineKind::Agents, Some((comm, vote))) => {
            let pop = ShardedPopulation::<u16>::try_new(comm, Some(vote), ns, n, limit.z, seed)?;
            simulate(model, game, limit, params, pop, seed, cancel)?
        }
        (engine, _) => match engine {
            // validate() checked that N fits a usize.
            EngineKind::Agents if narrow => {
                let pop = Population::<u8>::try_new_typed(ns, n as usize, limit.z, seed)?;
                simulate(model, game, limit, params, pop, seed, cancel)?
            }
            EngineKind::Agents => {
                let pop = Population::<u16>::try_new_typed(ns, n as usize, limit.z, seed)?;
                simulate(model, game, limit, params, pop, seed, cancel)?
            }
            EngineKind::Counts => {
                let pop = CountPopulation::try_new(ns, n, limit.z, seed)?;
                simulate(model, game, limit, params, pop, seed, cancel)?
            }
        },
    };
    Ok(acc.map(|acc| acc.finish(n, j, seed, limit.z, t0.elapsed().as_secs_f64())))
}

/// B + T steps of one engine, accumulated; `None` when cancelled.
fn simulate<M: Model + ?Sized, E: Engine>(
    model: &M,
    game: GameParams,
    limit: Limit<'_>,
    params: &FiniteNParams,
    mut engine: E,
    seed: u64,
    cancel: &AtomicBool,
) -> Result<Option<RunAccumulator>> {
    let total = params.burn_in + params.steps;
    let mut acc = RunAccumulator::new(limit.z.len(), params);
    match params.policy {
        PolicySource::Tmfe => {
            for k in 0..total {
                if cancel.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                engine.step(model, Actions::Shared(limit.policy), k, seed)?;
                acc.record(k + 1, engine.mean_field(), limit.z, None);
            }
        }
        PolicySource::Learned => {
            let (ns, na) = (model.num_states(), model.num_actions());
            let learner = OnlineTmfq::from_params(ns, na, game, &params.learner)?;
            let mut run = OnlineDriver::new(model, engine, learner, seed)?;
            let mut eval = Evaluator::new(model, game, None);
            for _ in 0..total {
                if cancel.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                let it = run.iterate()?;
                // Exploitability only where it is recorded (after the burn-in).
                let expl = (it.iteration > params.burn_in)
                    .then(|| eval.exploitability(run.policy(), &it.z));
                acc.record(it.iteration, &it.z, limit.z, expl);
            }
        }
    }
    Ok(Some(acc))
}

/// Running time statistics of one run (Welford's updates, so memory does not grow with T
/// unless the steps themselves are kept).
#[derive(Debug)]
struct RunAccumulator {
    burn_in: u64,
    keep_steps: bool,
    count: f64,
    mean_l1: f64,
    m2_l1: f64,
    max_l1: f64,
    mean_z: Vec<f64>,
    m2_z: Vec<f64>,
    /// Σ exploitability (max, weighted); `None` once a step has none.
    sum_expl: Option<(f64, f64)>,
    steps: Vec<StepRecord>,
}

impl RunAccumulator {
    fn new(num_states: usize, params: &FiniteNParams) -> Self {
        RunAccumulator {
            burn_in: params.burn_in,
            keep_steps: params.keep_steps,
            count: 0.0,
            mean_l1: 0.0,
            m2_l1: 0.0,
            max_l1: 0.0,
            mean_z: vec![0.0; num_states],
            m2_z: vec![0.0; num_states],
            sum_expl: Some((0.0, 0.0)),
            steps: Vec::new(),
        }
    }

    /// Step t's mean field; ignored during the burn-in (t ≤ B).
    fn record(&mut self, t: u64, z: &[f64], z_star: &[f64], expl: Option<Exploitability>) {
        if t <= self.burn_in {
            return;
        }
        let l1 = l1_distance(z, z_star);
        self.count += 1.0;
        let d = l1 - self.mean_l1;
        self.mean_l1 += d / self.count;
        self.m2_l1 += d * (l1 - self.mean_l1);
        self.max_l1 = self.max_l1.max(l1);
        for ((m, m2), &x) in self.mean_z.iter_mut().zip(&mut self.m2_z).zip(z) {
            let d = x - *m;
            *m += d / self.count;
            *m2 += d * (x - *m);
        }
        self.sum_expl = match (self.sum_expl, expl) {
            (Some((a, b)), Some(e)) => Some((a + e.max, b + e.weighted)),
            _ => None,
        };
        if self.keep_steps {
            self.steps.push(StepRecord {
                t,
                l1,
                z: z.to_vec(),
                exploitability: expl,
            });
        }
    }

    fn finish(
        self,
        agents: u64,
        replicate: usize,
        seed: u64,
        z_star: &[f64],
        seconds: f64,
    ) -> RunResult {
        let t = self.count;
        RunResult {
            agents,
            replicate,
            seed,
            recorded: t as u64,
            mean_l1: self.mean_l1,
            max_l1: self.max_l1,
            sd_l1: (self.m2_l1 / t).sqrt(),
            bias: self.mean_z.iter().zip(z_star).map(|(m, z)| m - z).collect(),
            variance: self.m2_z.iter().map(|m2| m2 / t).collect(),
            mean_exploitability: self.sum_expl.map(|(a, b)| Exploitability {
                max: a / t,
                weighted: b / t,
            }),
            steps: self.steps,
            seconds,
        }
    }
}

/// Per-N summaries and the rate fit with bootstrap intervals.
fn summarise(
    runs: &[RunResult],
    z_star: &[f64],
    params: &FiniteNParams,
) -> (Vec<GroupSummary>, Option<RateFit>) {
    let ns = z_star.len();
    // Groups in grid order (the N in the grid are distinct).
    let mut bounds: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for i in 1..=runs.len() {
        if i == runs.len() || runs[i].agents != runs[start].agents {
            bounds.push((start, i));
            start = i;
        }
    }
    let alpha = 1.0 - params.confidence;
    // Replicate j of every N shares seed base + j (common random numbers), so when every N
    // has all K replicates the bootstrap resamples the same j's for every N (paired).
    let reps = if runs.is_empty() { 0 } else { params.bootstrap };
    let sizes: Vec<usize> = bounds.iter().map(|(lo, hi)| hi - lo).collect();
    let paired = sizes.iter().all(|&k| k == sizes[0]);
    let agents: Vec<u64> = bounds.iter().map(|&(lo, _)| runs[lo].agents).collect();
    let boot = stats::bootstrap_rate_fit(
        &stats::BootstrapSpec {
            agents: &agents,
            sizes: &sizes,
            paired,
            resamples: reps,
            alpha,
            seed: params.base_seed,
        },
        &|g, picks| {
            let lo = bounds[g].0;
            picks.iter().map(|&j| runs[lo + j].mean_l1).sum::<f64>() / picks.len() as f64
        },
    );
    let mut groups = Vec::with_capacity(bounds.len());
    for (g, &(lo, hi)) in bounds.iter().enumerate() {
        let group = &runs[lo..hi];
        let k = group.len() as f64;
        let mean_l1 = group.iter().map(|r| r.mean_l1).sum::<f64>() / k;
        let std_l1 = if group.len() > 1 {
            (group
                .iter()
                .map(|r| (r.mean_l1 - mean_l1).powi(2))
                .sum::<f64>()
                / (k - 1.0))
                .sqrt()
        } else {
            0.0
        };
        let mut bias = vec![0.0; ns];
        let mut variance = vec![0.0; ns];
        for r in group {
            for s in 0..ns {
                bias[s] += r.bias[s] / k;
                variance[s] += r.variance[s] / k;
            }
        }
        let ci_l1 = if group.len() > 1 {
            boot.intervals[g]
        } else {
            None
        };
        let agents = group[0].agents;
        groups.push(GroupSummary {
            agents,
            runs: group.len(),
            mean_l1,
            std_l1,
            se_l1: std_l1 / k.sqrt(),
            ci_l1,
            mean_max_l1: group.iter().map(|r| r.max_l1).sum::<f64>() / k,
            n_times_variance: agents as f64 * variance.iter().sum::<f64>(),
            mean_exploitability: group
                .iter()
                .map(|r| r.mean_exploitability)
                .collect::<Option<Vec<_>>>()
                .map(|e| Exploitability {
                    max: e.iter().map(|x| x.max).sum::<f64>() / k,
                    weighted: e.iter().map(|x| x.weighted).sum::<f64>() / k,
                }),
            bias,
            variance,
            seconds: group.iter().map(|r| r.seconds).sum(),
        });
    }
    let with_ci = groups.iter().all(|g| g.runs > 1);
    let fit = boot.fit.map(|mut f| {
        if !with_ci {
            (f.slope_ci, f.intercept_ci, f.slope_se) = (None, None, None);
        }
        f
    });
    (groups, fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(n: u64, j: usize, mean_l1: f64) -> RunResult {
        RunResult {
            agents: n,
            replicate: j,
            seed: j as u64,
            mean_l1,
            max_l1: 2.0 * mean_l1,
            sd_l1: 0.0,
            bias: vec![0.0; 2],
            variance: vec![mean_l1 * mean_l1; 2],
            mean_exploitability: None,
            recorded: 1,
            steps: Vec::new(),
            seconds: 0.0,
        }
    }

    /// E_N = 3·N^(−1/2)·(1 + noise): the fit finds b = −1/2 inside its interval, the per-N
    /// statistics are the plain ones, and one replicate gives no interval.
    #[test]
    fn summaries_and_fit_on_known_data() {
        let noise = [-0.02, 0.01, 0.03, -0.01, -0.01];
        let mut runs = Vec::new();
        for n in [100u64, 10_000, 1_000_000] {
            for (j, e) in noise.iter().enumerate() {
                runs.push(synthetic(n, j, 3.0 * (n as f64).powf(-0.5) * (1.0 + e)));
            }
        }
        let params = FiniteNParams::default();
        let (groups, fit) = summarise(&runs, &[0.5, 0.5], &params);
        assert_eq!(groups.len(), 3);
        let g = &groups[1];
        assert_eq!((g.agents, g.runs), (10_000, 5));
        assert!((g.mean_l1 - 0.03).abs() < 1e-15, "{}", g.mean_l1);
        let sd = 0.03 * (noise.iter().map(|e| e * e).sum::<f64>() / 4.0).sqrt();
        assert!((g.std_l1 - sd).abs() < 1e-15);
        assert!((g.se_l1 - sd / 5f64.sqrt()).abs() < 1e-15);
        let (lo, hi) = g.ci_l1.unwrap();
        assert!(lo < g.mean_l1 && g.mean_l1 < hi);
        // N·Σ_s mean_j (0.03(1+e_j))² = 1e4·2·9e-4·(1 + mean e²), mean e² = 3.2e-4.
        assert!(
            (g.n_times_variance - 18.0 * 1.00032).abs() < 1e-9,
            "{}",
            g.n_times_variance
        );
        let fit = fit.unwrap();
        // Every N has the same relative noise: the slope is exactly −1/2 and every paired
        // resample keeps it (the common random numbers cancel).
        assert!((fit.slope + 0.5).abs() < 1e-12, "{}", fit.slope);
        assert!((fit.intercept - 3f64.ln()).abs() < 1e-12);
        let (lo, hi) = fit.slope_ci.unwrap();
        assert!(
            (lo + 0.5).abs() < 1e-12 && (hi + 0.5).abs() < 1e-12,
            "[{lo}, {hi}]"
        );

        // Independent noise per N: a proper interval around the slope.
        let mut runs = Vec::new();
        for (i, n) in [100u64, 10_000, 1_000_000].into_iter().enumerate() {
            for (j, _) in noise.iter().enumerate() {
                let e = noise[(j + 2 * i) % noise.len()];
                runs.push(synthetic(n, j, 3.0 * (n as f64).powf(-0.5) * (1.0 + e)));
            }
        }
        let (_, fit) = summarise(&runs, &[0.5, 0.5], &params);
        let fit = fit.unwrap();
        let (lo, hi) = fit.slope_ci.unwrap();
        assert!(
            lo < fit.slope && fit.slope < hi && hi - lo < 0.05,
            "[{lo}, {hi}]"
        );
        assert!(fit.slope_se.unwrap() > 0.0);

        let single: Vec<RunResult> = [100u64, 10_000]
            .iter()
            .map(|&n| synthetic(n, 0, (n as f64).powf(-0.5)))
            .collect();
        let (groups, fit) = summarise(&single, &[0.5, 0.5], &params);
        assert_eq!(groups[0].ci_l1, None);
        let fit = fit.unwrap();
        assert!((fit.slope + 0.5).abs() < 1e-12 && fit.slope_ci.is_none());
    }

    #[test]
    fn bad_settings_name_the_field() {
        let bad = |f: fn(&mut FiniteNParams)| {
            let mut p = FiniteNParams::default();
            f(&mut p);
            p.validate().unwrap_err().to_string()
        };
        assert!(bad(|p| p.agents.clear()).contains("empty"));
        assert!(bad(|p| p.agents.push(0)).contains("at least 1"));
        assert!(bad(|p| p.agents.push(100)).contains("twice"));
        assert!(bad(|p| p.seeds = 0).contains("seeds"));
        assert!(bad(|p| p.steps = 0).contains("steps"));
        assert!(bad(|p| p.confidence = 1.0).contains("confidence"));
        assert!(FiniteNParams::default().validate().is_ok());
    }
}
