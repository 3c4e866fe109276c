//! Online TMFQ (Algorithm 3 of Lee et al. 2021): N real agents, no simulator.
//!
//! # Algorithm
//! ```text
//! μ_0 = π^ε(Q_0), Q_0 = 0;  z^N_0 ~ init (N agents drawn i.i.d.)
//! for k = 1, 2, …, K:
//!     every agent acts once with μ_{k−1} at the empirical mean field z^N_{k−1}
//!         (a ~ μ_{k−1}(s, ·), s' ~ P(· | s, a, z^N_{k−1}), regeneration included)
//!     the N transitions (s, a, r(s, a, z^N_{k−1}), s') fill the memory buffer
//!     TQ-learning on the buffer (see [`super::tq`]) updates Q, carried over from k − 1
//!     μ_k = π^ε(Q), pushed to all agents
//! ```
//! Each iteration reports the empirical mean field z^N_k, its L1 distance to a reference
//! T-MFE z* (when given), and the exploitability of μ_k at z^N_k computed exactly from the
//! model (`V*_{z} − V_{μ_k, z}`, as the solver does).
//!
//! Random streams: the population uses `(seed, Init/Step, k, chunk)` and the learner
//! `(seed, k)`; results are bitwise identical for any number of threads.

use std::time::Instant;

use super::tq::{LearnStats, TqLearner, TqLearnerParams};
use crate::error::{Error, Result};
use crate::model::{mean_state, GameParams, KernelTables, Model};
use crate::operator::tq_value::TqIteration;
use crate::operator::{exploitability, Exploitability};
use crate::population::{Engine, Population, StateCode};
use crate::space::{l1_distance, uniform, Policy, QTable};

/// Settings of an online TMFQ run.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineParams {
    /// N, number of agents (≥ 1). Default 1 000 000.
    pub agents: usize,
    /// Seed of every random stream. Default 0.
    pub seed: u64,
    /// Law of the initial agent states (length |S|). Default uniform.
    pub init: Option<Vec<f64>>,
    /// The TQ-learning rule.
    pub learner: TqLearnerParams,
    /// Sup-norm tolerance of the exact TQ-value iteration used for exploitability.
    /// Default 1e-10.
    pub eval_tol: f64,
}

impl Default for OnlineParams {
    fn default() -> Self {
        OnlineParams {
            agents: 1_000_000,
            seed: 0,
            init: None,
            learner: TqLearnerParams::default(),
            eval_tol: 1e-10,
        }
    }
}

/// What one online TMFQ iteration produced.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineSnapshot {
    /// k (1-based).
    pub iteration: u64,
    /// z^N_k, the empirical mean field after the step.
    pub z: Vec<f64>,
    /// Σ_s s·z^N_k(s).
    pub mean_state: f64,
    /// ||z^N_k − z*||_1 (NaN without a reference).
    pub l1_to_tmfe: f64,
    /// Exploitability of μ_k at z^N_k.
    pub exploitability: Exploitability,
    /// Agents that regenerated during the step.
    pub regenerated: u64,
    /// States whose greedy action changed from μ_{k−1} to μ_k.
    pub policy_changes: u32,
    /// The learning step's statistics.
    pub learn: LearnStats,
    /// Wall seconds of the population step.
    pub step_seconds: f64,
    /// Wall seconds of TQ-learning.
    pub learn_seconds: f64,
    /// Wall seconds of the exact exploitability evaluation.
    pub eval_seconds: f64,
}

/// An online TMFQ run in progress: call [`OnlineTmfq::iterate`] K times.
///
/// The agents are simulated by an [`Engine`]: the agent engine ([`Population`], the default)
/// or the exact count engine ([`crate::population::CountPopulation`], via
/// [`OnlineTmfq::with_engine`]).
#[derive(Debug)]
pub struct OnlineTmfq<'m, M: Model + ?Sized, E: Engine = Population<u8>> {
    model: &'m M,
    game: GameParams,
    params: OnlineParams,
    population: E,
    learner: TqLearner,
    policy: Policy,
    prev_greedy: Vec<usize>,
    reference: Option<Vec<f64>>,
    k: u64,
    // Exact evaluation scratch (warm-started across iterations).
    tables: KernelTables,
    tq: TqIteration,
    q_star: QTable,
}

impl<'m, M: Model + ?Sized> OnlineTmfq<'m, M, Population<u8>> {
    /// A run with `u8` agent states (|S| ≤ 256). `reference` is the exact T-MFE z* used
    /// for `l1_to_tmfe`.
    ///
    /// # Errors
    /// [`Error::Param`] for invalid settings (sizes, init law, learner parameters).
    pub fn try_new(
        model: &'m M,
        game: GameParams,
        params: OnlineParams,
        reference: Option<Vec<f64>>,
    ) -> Result<Self> {
        Self::try_new_typed(model, game, params, reference)
    }
}

impl<'m, M: Model + ?Sized, T: StateCode> OnlineTmfq<'m, M, Population<T>> {
    /// As [`OnlineTmfq::try_new`] with an explicit state type (`u16` for |S| > 256).
    ///
    /// # Errors
    /// [`Error::Param`] for invalid settings.
    pub fn try_new_typed(
        model: &'m M,
        game: GameParams,
        params: OnlineParams,
        reference: Option<Vec<f64>>,
    ) -> Result<Self> {
        let ns = model.num_states();
        let init = params.init.clone().unwrap_or_else(|| uniform(ns));
        let agents = params.agents;
        if agents == 0 {
            return Err(Error::param("agents", "must be at least 1"));
        }
        let population = Population::<T>::try_new_typed(ns, agents, &init, params.seed)?;
        Self::with_engine(model, game, params, population, reference)
    }
}

impl<'m, M: Model + ?Sized, E: Engine> OnlineTmfq<'m, M, E> {
    /// A run on a given engine, already holding the initial agents (`params.agents` and
    /// `params.init` are ignored; `params.seed` keys the steps and the learner).
    ///
    /// # Errors
    /// [`Error::Param`] for invalid settings (sizes, learner parameters).
    pub fn with_engine(
        model: &'m M,
        game: GameParams,
        params: OnlineParams,
        population: E,
        reference: Option<Vec<f64>>,
    ) -> Result<Self> {
        let (ns, na) = (model.num_states(), model.num_actions());
        if params.eval_tol.is_nan() || params.eval_tol <= 0.0 {
            return Err(Error::param("eval_tol", "must be > 0"));
        }
        if let Some(r) = &reference {
            if r.len() != ns {
                return Err(Error::param("reference", "length must equal |S|"));
            }
        }
        if population.counts().len() != ns {
            return Err(Error::param(
                "population",
                format!("has {} states, the model {ns}", population.counts().len()),
            ));
        }
        let learner = TqLearner::try_new(ns, na, game, params.learner)?;
        let policy = learner.policy();
        Ok(OnlineTmfq {
            model,
            game,
            prev_greedy: policy.greedy.clone(),
            policy,
            population,
            learner,
            reference,
            k: 0,
            tables: KernelTables::new(ns, na),
            tq: TqIteration::new(),
            q_star: QTable::zeros(ns, na),
            params,
        })
    }

    /// One iteration of Algorithm 3: step every agent with μ_{k−1}, learn, push μ_k.
    ///
    /// # Errors
    /// Propagates a kernel the population cannot sample (a model breaking its contract).
    pub fn iterate(&mut self) -> Result<OnlineSnapshot> {
        let k = self.k;
        let t0 = Instant::now();
        let seed = self.params.seed;
        let stats = self.population.step(self.model, &self.policy, k, seed)?;
        let t1 = Instant::now();
        let buffer = self
            .population
            .learner_source(self.learner.params().budget, seed)?;
        let learn = self.learner.learn(buffer, k, seed);
        self.prev_greedy.clone_from(&self.policy.greedy);
        self.learner.write_policy(&mut self.policy);
        let t2 = Instant::now();
        let policy_changes = self
            .prev_greedy
            .iter()
            .zip(&self.policy.greedy)
            .filter(|(a, b)| a != b)
            .count() as u32;
        let z = self.population.mean_field().to_vec();
        let expl = self.evaluate(&z);
        let t3 = Instant::now();
        self.k += 1;
        Ok(OnlineSnapshot {
            iteration: self.k,
            mean_state: mean_state(&z),
            l1_to_tmfe: self
                .reference
                .as_ref()
                .map_or(f64::NAN, |r| l1_distance(&z, r)),
            z,
            exploitability: expl,
            regenerated: stats.regenerated,
            policy_changes,
            learn,
            step_seconds: (t1 - t0).as_secs_f64(),
            learn_seconds: (t2 - t1).as_secs_f64(),
            eval_seconds: (t3 - t2).as_secs_f64(),
        })
    }

    /// Exploitability of the current strategy at mean field `z` (exact, from the model).
    fn evaluate(&mut self, z: &[f64]) -> Exploitability {
        self.model.fill_tables(z, &mut self.tables);
        self.tq.run(
            &self.tables,
            self.game,
            &mut self.q_star,
            self.params.eval_tol,
            100_000,
        );
        exploitability(&self.tables, self.game, &self.policy, z, &self.q_star)
    }

    /// The current strategy μ_k.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The learner's current Q.
    pub fn q(&self) -> &QTable {
        self.learner.q()
    }

    /// The engine (states or histogram, last transitions).
    pub fn population(&self) -> &E {
        &self.population
    }

    /// Iterations done so far.
    pub fn iterations(&self) -> u64 {
        self.k
    }
}
