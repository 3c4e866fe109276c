//! Online TMFQ (Algorithm 3 of Lee et al. 2021) as a [`Learner`]: N real agents, no simulator.
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
//! The population step and the loop are the generic [`super::OnlineDriver`]'s; this type is
//! the learning half. Exploitability and L1 to z* come from an [`super::Evaluator`].
//!
//! Random streams: the population uses `(seed, Init/Step, k, chunk)` and the learner
//! `(seed, Learn, k, 0)`; results are bitwise identical for any number of threads.
//!
//! # Example
//! ```
//! use mfgsim::learner::{Algorithm, OnlineDriver, OnlineTmfq, TqLearnerParams};
//! use mfgsim::model::{Gig, Model};
//! use mfgsim::population::Population;
//! use mfgsim::space::uniform;
//! use mfgsim::GameParams;
//!
//! let model = Gig::default();
//! let game = GameParams::default();
//! let learner = OnlineTmfq::try_new(10, 4, game, TqLearnerParams::default())?;
//! let pop: Population = Population::try_new(10, 10_000, &uniform(10), 3)?;
//! let mut run = OnlineDriver::new(&model, pop, learner, 3)?;
//! for _ in 0..5 {
//!     let it = run.iterate()?;
//!     assert_eq!(it.ledger.real_transitions, 10_000);
//! }
//! assert_eq!(run.iterations(), 5);
//! # Ok::<(), mfgsim::Error>(())
//! ```

use super::batch::{count_source, BatchTqLearner, BatchTqParams};
use super::tq::{TqLearner, TqLearnerParams};
use super::{Actions, Algo, Learner, LearnerParams, Observation, Rule, TransitionSource, Update};
use crate::error::Result;
use crate::model::GameParams;
use crate::persist::{StateReader, StateWriter};
use crate::space::{Policy, QTable};

/// The learning rule inside [`OnlineTmfq`].
#[derive(Debug, Clone)]
enum Inner {
    Sampled(TqLearner),
    Batch(BatchTqLearner),
}

/// The learning half of online TMFQ: one TQ-table shared by all agents, learned by the
/// sampled rule ([`super::tq`]) or the batch rule ([`super::batch`]).
#[derive(Debug, Clone)]
pub struct OnlineTmfq {
    inner: Inner,
    policy: Policy,
}

impl OnlineTmfq {
    /// A learner with the sampled rule for `num_states` × `num_actions` with Q = 0 (μ_0 =
    /// π^ε(0): the tremble around action 0).
    ///
    /// # Errors
    /// [`crate::Error::Param`] for invalid `params`, `game` or sizes (see
    /// [`TqLearner::try_new`]).
    pub fn try_new(
        num_states: usize,
        num_actions: usize,
        game: GameParams,
        params: TqLearnerParams,
    ) -> Result<Self> {
        let learner = TqLearner::try_new(num_states, num_actions, game, params)?;
        let policy = learner.policy();
        Ok(OnlineTmfq {
            inner: Inner::Sampled(learner),
            policy,
        })
    }

    /// A learner with the batch rule (transition counts; see [`BatchTqLearner::try_new`]).
    ///
    /// # Errors
    /// As [`BatchTqLearner::try_new`].
    pub fn try_new_batch(
        num_states: usize,
        num_actions: usize,
        game: GameParams,
        params: BatchTqParams,
    ) -> Result<Self> {
        let learner = BatchTqLearner::try_new(num_states, num_actions, game, params)?;
        let policy = learner.policy();
        Ok(OnlineTmfq {
            inner: Inner::Batch(learner),
            policy,
        })
    }

    /// The learner `[learner] rule` selects, with its knobs.
    ///
    /// # Errors
    /// As [`OnlineTmfq::try_new`] or [`OnlineTmfq::try_new_batch`].
    pub fn from_params(
        num_states: usize,
        num_actions: usize,
        game: GameParams,
        params: &LearnerParams,
    ) -> Result<Self> {
        match params.rule {
            Rule::Sampled => Self::try_new(num_states, num_actions, game, params.tq),
            Rule::Batch => Self::try_new_batch(num_states, num_actions, game, params.batch),
        }
    }

    /// The rule.
    pub fn rule(&self) -> Rule {
        match self.inner {
            Inner::Sampled(_) => Rule::Sampled,
            Inner::Batch(_) => Rule::Batch,
        }
    }

    /// The sampled rule's TQ-learner (Q, step-size counts), `None` with the batch rule.
    pub fn tq(&self) -> Option<&TqLearner> {
        match &self.inner {
            Inner::Sampled(l) => Some(l),
            Inner::Batch(_) => None,
        }
    }

    /// The batch rule's learner, `None` with the sampled rule.
    pub fn batch(&self) -> Option<&BatchTqLearner> {
        match &self.inner {
            Inner::Batch(l) => Some(l),
            Inner::Sampled(_) => None,
        }
    }
}

impl Learner for OnlineTmfq {
    fn algo(&self) -> Algo {
        Algo::Online
    }

    fn actions(&self) -> Actions<'_> {
        Actions::Shared(&self.policy)
    }

    /// The sampled rule's `budget`; 0 for the batch rule, which reads counts, so the count
    /// engine draws no sample.
    fn sample_budget(&self) -> usize {
        match &self.inner {
            Inner::Sampled(l) => l.params().budget,
            Inner::Batch(_) => 0,
        }
    }

    fn wants_counts(&self) -> bool {
        matches!(self.inner, Inner::Batch(_))
    }

    fn update<S: TransitionSource + ?Sized>(&mut self, obs: &Observation<'_, S>) -> Result<Update> {
        match &mut self.inner {
            Inner::Sampled(l) => {
                let stats = l.learn(obs.source, obs.step, obs.seed);
                l.write_policy(&mut self.policy);
                Ok(Update {
                    tq_updates: stats.updates as u64,
                    mean_abs_td_error: stats.mean_abs_td_error,
                })
            }
            Inner::Batch(l) => {
                let tables = obs.source.tables();
                let stats = match obs.counts {
                    Some(c) => l.learn_counts(c, tables),
                    None => l.learn_counts(&count_source(obs.source), tables),
                };
                l.write_policy(&mut self.policy);
                Ok(Update {
                    tq_updates: (stats.rows * stats.sweeps) as u64,
                    mean_abs_td_error: stats.mean_abs_td_error,
                })
            }
        }
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn q(&self) -> Option<&QTable> {
        Some(match &self.inner {
            Inner::Sampled(l) => l.q(),
            Inner::Batch(l) => l.q(),
        })
    }

    /// The rule's state: [`TqLearner::save_state`] or [`BatchTqLearner::save_state`].
    fn save_state(&self, w: &mut dyn StateWriter) -> Result<()> {
        match &self.inner {
            Inner::Sampled(l) => l.save_state(w),
            Inner::Batch(l) => l.save_state(w),
        }
    }

    fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        match &mut self.inner {
            Inner::Sampled(l) => {
                l.load_state(r)?;
                l.write_policy(&mut self.policy);
            }
            Inner::Batch(l) => {
                l.load_state(r)?;
                l.write_policy(&mut self.policy);
            }
        }
        Ok(())
    }
}
