//! The generic online driver: any [`Engine`] with any [`Learner`], one population step and
//! one update per iteration.
//!
//! # Loop
//! ```text
//! iteration k + 1:  actions = learner.actions()                 (μ_k, or per-agent actions)
//!                   engine.step(model, actions, k, seed)         (at the empirical z^N_k)
//!                   source = engine.learner_source(budget, seed) (the step's transitions)
//!                   counts = engine.transition_counts()          (if learner.wants_counts())
//!                   learner.update(step k, source, z^N_{k+1})
//! ```
//! The driver counts the ledger (N real transitions per step, the learner's TQ updates),
//! times each half and reports the greedy actions that changed; it evaluates nothing.

use std::time::Instant;

use super::{greedy_changes, Algo, Algorithm, Iteration, Learner, Ledger, Observation};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::persist::{StateReader, StateWriter};
use crate::population::Engine;
use crate::space::{Policy, QTable};

/// A population-based learning run: [`Algorithm`] over an `(Engine, Learner)` pair.
#[derive(Debug)]
pub struct OnlineDriver<'m, M: Model + ?Sized, E: Engine, L: Learner> {
    model: &'m M,
    engine: E,
    learner: L,
    seed: u64,
    k: u64,
    prev_greedy: Vec<usize>,
}

impl<'m, M: Model + ?Sized, E: Engine, L: Learner> OnlineDriver<'m, M, E, L> {
    /// A run of `learner` inside `engine` (already holding its initial agents); `seed` keys
    /// the steps and the learner's streams.
    ///
    /// # Errors
    /// [`Error::Param`] when the engine, the learner and the model disagree on |S| or |A|.
    pub fn new(model: &'m M, engine: E, learner: L, seed: u64) -> Result<Self> {
        let (ns, na) = (model.num_states(), model.num_actions());
        if engine.counts().len() != ns {
            return Err(Error::param(
                "population",
                format!("has {} states, the model {ns}", engine.counts().len()),
            ));
        }
        let p = learner.policy();
        if p.num_states() != ns || p.num_actions() != na {
            return Err(Error::param(
                "learner",
                format!(
                    "is {}×{}, the model {ns}×{na}",
                    p.num_states(),
                    p.num_actions()
                ),
            ));
        }
        let mut engine = engine;
        if learner.wants_counts() {
            crate::population::check_dense_counts(ns, na)
                .and_then(|()| engine.set_count_transitions(true))?;
        }
        Ok(OnlineDriver {
            model,
            prev_greedy: p.greedy().to_vec(),
            engine,
            learner,
            seed,
            k: 0,
        })
    }

    /// The engine (states or histogram, last transitions).
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// The learner.
    pub fn learner(&self) -> &L {
        &self.learner
    }
}

impl<'m, M: Model + ?Sized, E: Engine, L: Learner> Algorithm for OnlineDriver<'m, M, E, L> {
    fn algo(&self) -> Algo {
        self.learner.algo()
    }

    fn iterate(&mut self) -> Result<Iteration> {
        let (k, seed) = (self.k, self.seed);
        let t0 = Instant::now();
        let stats = self
            .engine
            .step(self.model, self.learner.actions(), k, seed)?;
        let t1 = Instant::now();
        let budget = self.learner.sample_budget();
        let agents = self.engine.num_agents();
        // Split borrows: the source borrows the engine, the mean field is copied first.
        let z = self.engine.mean_field().to_vec();
        // Copied for the same reason (|S|²|A| integers, a few KiB).
        let counts = if self.learner.wants_counts() {
            self.engine.transition_counts().map(<[u64]>::to_vec)
        } else {
            None
        };
        let source = self.engine.learner_source(budget, seed)?;
        let update = self.learner.update(&Observation {
            step: k,
            seed,
            agents,
            source,
            mean_field: &z,
            counts: counts.as_deref(),
        })?;
        let t2 = Instant::now();
        let greedy = self.learner.policy().greedy();
        let policy_changes = greedy_changes(&self.prev_greedy, greedy);
        self.prev_greedy.copy_from_slice(greedy);
        self.k += 1;
        Ok(Iteration {
            iteration: self.k,
            z,
            z_next: None,
            regenerated: stats.regenerated,
            policy_changes,
            ledger: Ledger {
                real_transitions: agents,
                tq_updates: update.tq_updates,
                ..Ledger::default()
            },
            inner_steps: 1,
            inner_converged: true,
            step_seconds: (t1 - t0).as_secs_f64(),
            learn_seconds: (t2 - t1).as_secs_f64(),
        })
    }

    fn policy(&self) -> &Policy {
        self.learner.policy()
    }

    fn q(&self) -> Option<&QTable> {
        self.learner.q()
    }

    fn iterations(&self) -> u64 {
        self.k
    }

    fn num_agents(&self) -> Option<usize> {
        self.learner.num_agents()
    }

    fn agent_policy(&self, agent: usize) -> Option<Policy> {
        self.learner.agent_policy(agent)
    }

    fn agent_policies(&self, agents: &[usize]) -> Vec<Policy> {
        self.learner.agent_policies(agents)
    }

    /// The step count k (`driver_step`), then the engine's and the learner's state.
    fn save_state(&self, w: &mut dyn StateWriter) -> Result<()> {
        w.u64s("driver_step", &[self.k])?;
        self.engine.save_state(w)?;
        self.learner.save_state(w)
    }

    fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        self.k = crate::persist::read_u64(r, "driver_step")?;
        self.engine.load_state(r)?;
        self.learner.load_state(r)?;
        self.prev_greedy
            .copy_from_slice(self.learner.policy().greedy());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learner::{OnlineTmfq, TqLearnerParams};
    use crate::model::{GameParams, Gig};
    use crate::population::{CountPopulation, Population};
    use crate::space::uniform;

    #[test]
    fn the_ledger_counts_real_transitions_and_updates() {
        let model = Gig::default();
        let params = TqLearnerParams {
            budget: 3000,
            ..TqLearnerParams::default()
        };
        let learner = OnlineTmfq::try_new(10, 4, GameParams::default(), params).unwrap();
        // Fewer agents than the budget: every transition is one update.
        let pop: Population = Population::try_new(10, 2000, &uniform(10), 1).unwrap();
        let mut run = OnlineDriver::new(&model, pop, learner.clone(), 1).unwrap();
        let it = run.iterate().unwrap();
        assert_eq!(it.iteration, 1);
        assert_eq!(it.ledger.real_transitions, 2000);
        assert_eq!(it.ledger.tq_updates, 2000);
        assert_eq!(
            it.ledger.simulator_transitions + it.ledger.generative_samples,
            0
        );
        // More agents than the budget (count engine, 10⁹ agents): `budget` updates.
        let pop = CountPopulation::try_new(10, 1_000_000_000, &uniform(10), 1).unwrap();
        let mut run = OnlineDriver::new(&model, pop, learner, 1).unwrap();
        for k in 1..=3 {
            let it = run.iterate().unwrap();
            assert_eq!(it.iteration, k);
            assert_eq!(it.ledger.real_transitions, 1_000_000_000);
            assert_eq!(it.ledger.tq_updates, 3000);
        }
    }

    #[test]
    fn sizes_must_agree() {
        let model = Gig::default();
        let learner =
            OnlineTmfq::try_new(10, 3, GameParams::default(), TqLearnerParams::default()).unwrap();
        let pop: Population = Population::try_new(10, 100, &uniform(10), 1).unwrap();
        let e = OnlineDriver::new(&model, pop, learner, 1).unwrap_err();
        assert!(e.to_string().contains("learner"), "{e}");
        let learner =
            OnlineTmfq::try_new(10, 4, GameParams::default(), TqLearnerParams::default()).unwrap();
        let pop: Population = Population::try_new(9, 100, &uniform(9), 1).unwrap();
        let e = OnlineDriver::new(&model, pop, learner, 1).unwrap_err();
        assert!(e.to_string().contains("population"), "{e}");
    }
}
