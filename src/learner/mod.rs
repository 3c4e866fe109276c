//! Learners that turn samples into strategies, and the seam every algorithm plugs into.
//!
//! # Two seams
//! * [`Learner`]: a learner that lives inside a real N-agent population (online TMFQ; IQL and
//!   MFQ, where every agent has its own table). Each step it says what the agents play
//!   ([`Actions`]), the [`Engine`] moves them at the empirical mean field, and the learner
//!   updates from what the engine observed ([`Observation`]). [`driver::OnlineDriver`] runs
//!   any `(Engine, Learner)` pair.
//! * [`Algorithm`]: one outer iteration of any learning algorithm, population-based (the
//!   driver) or simulator-based (TMFQ, GMBL), producing an [`Iteration`]: the mean field the
//!   learned strategy faces, the strategy, and the sample [`Ledger`]. The run layer
//!   ([`crate::run::learn`]) drives an `Algorithm` and an [`Evaluator`] (an observer that
//!   computes exact exploitability and L1 to z*), so no learner evaluates itself.
//!
//! A learner never sees the model's kernel: it reads transitions (s, a, s′) through a
//! [`TransitionSource`] and rewards r(s, a, ẑ) from the step's [`KernelTables`].
//!
//! * [`tq`]: TQ-learning (eq. 6 of Lee et al. 2021), the sampled rule;
//! * [`batch`]: batch TQ-learning from transition counts (synchronous eq. 6), the batch rule;
//! * [`online_tmfq`]: online TMFQ (Algorithm 3) as a [`Learner`];
//! * [`tmfq`]: TMFQ (Algorithm 2), TQ-learning on a simulator at a frozen z_k, as an
//!   [`Algorithm`];
//! * [`independent`]: IQL and MFQ, N agents each learning its own TQ-table (per-agent
//!   actions), as a [`Learner`];
//! * [`gmbl`]: GMBL, a generative model's P̂_k and exact TQ-value iteration on it, as an
//!   [`Algorithm`];
//! * [`params`]: the `[learner]` table ([`LearnerParams`], [`Algo`]);
//! * [`ledger`]: the sample ledger.

pub mod batch;
pub mod driver;
pub mod evaluator;
pub mod gmbl;
pub mod independent;
pub mod ledger;
pub mod online_tmfq;
pub mod params;
pub mod tmfq;
pub mod tq;

pub use batch::{BatchStats, BatchTqLearner, BatchTqParams};
pub use driver::OnlineDriver;
pub use evaluator::{eval_exploitability_tol, Evaluator, Snapshot};
pub use gmbl::Gmbl;
pub use independent::Independent;
pub use ledger::Ledger;
pub use online_tmfq::OnlineTmfq;
pub use params::{Algo, GmblParams, LearnerParams, MfqParams, Rule, TmfqParams};
pub use tmfq::Tmfq;
pub use tq::{LearnStats, TqLearner, TqLearnerParams};

pub use crate::population::{Actions, Engine};
pub use crate::transition::TransitionSource;

use crate::error::Result;
use crate::model::KernelTables;
use crate::persist::{StateReader, StateWriter};
use crate::space::{Policy, QTable};

/// What the engine observed in one step, handed to [`Learner::update`].
#[derive(Debug)]
pub struct Observation<'a, S: TransitionSource + ?Sized> {
    /// The step index k (0-based: the step went k → k + 1).
    pub step: u64,
    /// The run's seed (for the learner's own streams, `rng::stream(seed, Learn, k, ·)`).
    pub seed: u64,
    /// N, the number of agents that moved.
    pub agents: u64,
    /// The step's transitions (all N for the agent engine; an exchangeable sample of
    /// [`Learner::sample_budget`] for the count engine), with the step's tables.
    pub source: &'a S,
    /// The empirical mean field after the step, z^N_{k+1}.
    pub mean_field: &'a [f64],
    /// The step's transition counts c(s, a, s′) at (s·|A| + a)·|S| + s′ (all N
    /// transitions), when the learner asked for them ([`Learner::wants_counts`]) and the
    /// engine has them ([`Engine::transition_counts`]).
    pub counts: Option<&'a [u64]>,
}

/// What one [`Learner::update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Update {
    /// TQ-table entries updated.
    pub tq_updates: u64,
    /// Mean |TD error| over the updates (0 when there were none).
    pub mean_abs_td_error: f64,
}

/// A learner inside a real N-agent population (see the module docs).
pub trait Learner: Send + std::fmt::Debug {
    /// Its `[learner] algo`.
    fn algo(&self) -> Algo;

    /// What the agents play in the next step.
    fn actions(&self) -> Actions<'_>;

    /// How many of a step's transitions the learner reads at most (the count engine draws
    /// an exchangeable sample of this size instead of materialising all N).
    fn sample_budget(&self) -> usize;

    /// Whether the learner reads the step's transition counts ([`Observation::counts`]);
    /// the driver then asks the engine to count them ([`Engine::set_count_transitions`]).
    fn wants_counts(&self) -> bool {
        false
    }

    /// Learns from the step the engine just took.
    ///
    /// # Errors
    /// When the observation does not fit the learner (sizes).
    fn update<S: TransitionSource + ?Sized>(&mut self, obs: &Observation<'_, S>) -> Result<Update>;

    /// The strategy to evaluate: μ_k for a shared-strategy learner; the population-average
    /// strategy for learners with per-agent tables.
    fn policy(&self) -> &Policy;

    /// The learned Q-table, when there is one shared table.
    fn q(&self) -> Option<&QTable>;

    /// Agents with their own tables (IQL, MFQ); `None` for a shared-table learner.
    fn num_agents(&self) -> Option<usize> {
        None
    }

    /// Agent i's own strategy π^ε_{Q_i} over all states (for MFQ, at the agent's current
    /// bin), for the observer's per-agent exploitability; `None` for a shared-table learner.
    fn agent_policy(&self, _agent: usize) -> Option<Policy> {
        None
    }

    /// The own strategies of `agents` (global indices) that exist, in that order: by
    /// default [`Learner::agent_policy`] of each. A learner whose agents are spread over
    /// ranks gathers them (then every rank calls it with the same agents at the same point).
    fn agent_policies(&self, agents: &[usize]) -> Vec<Policy> {
        agents
            .iter()
            .filter_map(|&i| self.agent_policy(i))
            .collect()
    }

    /// Saves everything the next [`Learner::actions`] and [`Learner::update`] read (Q, the
    /// step-size counts, any memory; per-agent tables) for a checkpoint
    /// ([`crate::persist`]). Scratch is not saved, nor random state (streams are keyed).
    ///
    /// # Errors
    /// The writer's error; [`crate::Error::Unsupported`] for a learner that cannot
    /// checkpoint (the default).
    fn save_state(&self, _w: &mut dyn StateWriter) -> Result<()> {
        Err(no_checkpoint(self.algo()))
    }

    /// Restores what [`Learner::save_state`] saved into a learner built with the same sizes
    /// and knobs; the strategy is recomputed from it.
    ///
    /// # Errors
    /// The reader's error (a section of another name or length);
    /// [`crate::Error::Unsupported`] as in [`Learner::save_state`].
    fn load_state(&mut self, _r: &mut dyn StateReader) -> Result<()> {
        Err(no_checkpoint(self.algo()))
    }
}

/// The error of a learner or algorithm without checkpoint support.
pub(crate) fn no_checkpoint(algo: Algo) -> crate::Error {
    crate::Error::Unsupported {
        engine: "checkpoint",
        reason: format!("{algo} cannot save its state; run it without --checkpoint-every"),
    }
}

/// One outer iteration of a learning algorithm, before evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Iteration {
    /// k, 1-based.
    pub iteration: u64,
    /// The mean field the strategy μ_k faces and is evaluated at: the empirical z^N_k after
    /// the population step (online), or the z_k that μ_k was learned at (TMFQ, GMBL).
    pub z: Vec<f64>,
    /// The algorithm's next mean field z_{k+1} when it is not the population's (TMFQ, GMBL);
    /// `None` for population algorithms.
    pub z_next: Option<Vec<f64>>,
    /// Agents that regenerated during the population step (0 without a population).
    pub regenerated: u64,
    /// States whose greedy action changed from μ_{k−1} to μ_k.
    pub policy_changes: u32,
    /// Samples drawn and updates made during this iteration.
    pub ledger: Ledger,
    /// Inner steps: simulator steps of TMFQ's inner loop, value-iteration sweeps of GMBL, 1
    /// population step for online algorithms.
    pub inner_steps: u64,
    /// Whether the inner loop met its tolerance (TMFQ's ε1, GMBL's value tolerance) before
    /// its cap; `true` for online algorithms (no inner loop).
    pub inner_converged: bool,
    /// Wall seconds spent moving agents or drawing samples.
    pub step_seconds: f64,
    /// Wall seconds spent learning (TQ-learning, value iteration).
    pub learn_seconds: f64,
}

/// Any learning algorithm, one outer iteration at a time (see the module docs).
pub trait Algorithm: Send + std::fmt::Debug {
    /// Its `[learner] algo`.
    fn algo(&self) -> Algo;

    /// Runs outer iteration k + 1.
    ///
    /// # Errors
    /// A model the algorithm cannot sample (a model breaking its contract).
    fn iterate(&mut self) -> Result<Iteration>;

    /// The current strategy μ_k (see [`Learner::policy`]).
    fn policy(&self) -> &Policy;

    /// The current Q-table, when there is one shared table.
    fn q(&self) -> Option<&QTable>;

    /// Iterations done so far.
    fn iterations(&self) -> u64;

    /// See [`Learner::num_agents`].
    fn num_agents(&self) -> Option<usize> {
        None
    }

    /// See [`Learner::agent_policy`].
    fn agent_policy(&self, _agent: usize) -> Option<Policy> {
        None
    }

    /// See [`Learner::agent_policies`].
    fn agent_policies(&self, agents: &[usize]) -> Vec<Policy> {
        agents
            .iter()
            .filter_map(|&i| self.agent_policy(i))
            .collect()
    }

    /// Saves what the next [`Algorithm::iterate`] needs: the iteration count, Q and the
    /// step-size counts, the engine's or simulator's agents, the current mean field (see
    /// [`Learner::save_state`] and [`Engine::save_state`]).
    ///
    /// # Errors
    /// As [`Learner::save_state`].
    fn save_state(&self, _w: &mut dyn StateWriter) -> Result<()> {
        Err(no_checkpoint(self.algo()))
    }

    /// Restores what [`Algorithm::save_state`] saved into an algorithm built from the same
    /// scenario: iterating it then gives bitwise the iterations the saved run would have.
    ///
    /// # Errors
    /// As [`Learner::load_state`].
    fn load_state(&mut self, _r: &mut dyn StateReader) -> Result<()> {
        Err(no_checkpoint(self.algo()))
    }
}

/// States whose greedy action differs between two strategies of the same size.
pub fn greedy_changes(before: &[usize], after: &[usize]) -> u32 {
    before.iter().zip(after).filter(|(a, b)| a != b).count() as u32
}

/// A [`TransitionSource`] backed by a `Vec`: for tests, examples and small experiments.
#[derive(Debug, Clone, PartialEq)]
pub struct VecTransitions {
    /// The transitions `(s, a, s′)`, in buffer order.
    pub transitions: Vec<(usize, usize, usize)>,
    /// The tables at the mean field the transitions were sampled at.
    pub tables: KernelTables,
}

impl VecTransitions {
    /// An empty buffer with the given tables.
    pub fn new(tables: KernelTables) -> Self {
        VecTransitions {
            transitions: Vec::new(),
            tables,
        }
    }
}

impl TransitionSource for VecTransitions {
    #[inline]
    fn len(&self) -> usize {
        self.transitions.len()
    }

    #[inline]
    fn get(&self, i: usize) -> (usize, usize, usize) {
        self.transitions[i]
    }

    fn tables(&self) -> &KernelTables {
        &self.tables
    }
}
