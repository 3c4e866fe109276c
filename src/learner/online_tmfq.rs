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
//! # The paper's rule
//! `[learner] rule` picks the TQ-learning step:
//! ```text
//! rule      buffer at step k                         update                         carried from k − 1
//! paper     the step's N transitions, all used once   eq. 6, α = (1+(1−γ)n)^(−w)     Q, n(s,a) (uncapped)
//! sampled   the step's N transitions, ≤ B used        eq. 6, same α, n capped at     Q, n(s,a), v(s,a)
//!                                                     H·(previous call's visits)
//! batch     the step's counts, pooled with up to H    synchronous eq. 6 on the       Q, the kernel memory W
//! (default) steps of memory (cut on drift)            count-weighted kernel estimate
//! ```
//! `paper` is Algorithm 3 as written: every (s, a, r, s′) of the step goes to the memory
//! buffer, which is reset every step (it holds no earlier transition), and TQ-learning
//! (eq. 6, `Q(s,a) ← (1−α)·Q(s,a) + α·(r(s,a,z^N_k) + γ·G(Q)(s′))`) runs once over it, one
//! asynchronous update per transition in [`super::tq`]'s walk order. It is the `sampled`
//! rule with no budget (B = ∞: all N, also with the count engine, which then draws all N)
//! and no memory cap (H = ∞); the keys `budget` and `memory` are ignored, `step_exponent` w
//! is used. What it carries between iterations is what the paper's Algorithm 3 carries: the
//! Q-table (Q is initialised once, before the loop, and TQ-learning continues from it at
//! every k; μ_k = π^ε(Q) needs it) and, for the step size, the visit counts n(s,a) since the
//! start, the usual per-pair Robbins–Monro schedule of Q-learning (the paper states eq. 6
//! with a step size α and no per-iteration reset; we read it as per-pair counts).
//!
//! Why the default differs: with uncapped counts α → 0, and a pair whose visit rate drops
//! keeps the value it learned at an old mean field (`doc/experiments/tq.md`, the row
//! "1/(1 + 0.1n), H = ∞": final max exploitability .0018 .0016 .0075 on infection at
//! N = 10⁶, seeds 1–3, against .0008 .0009 .0034 with the cap H = 300, and 100 violations
//! in the last 100 iterations on seed 3: a stale pair). A step size that decays like a count
//! also moves the level of Q only at rate (1−γ)·α per visit. `sampled` is the paper's update
//! with those two safeguards (cap H, and a budget B on the cost per step); `batch`, the
//! default, averages the kernel instead of the targets ([`super::batch`]'s `# Why this
//! rule`), which removes the same sampling noise and lets Q contract at rate γ per sweep.
//!
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
    /// The rule (`Paper` runs [`Inner::Sampled`] with B = ∞, H = ∞).
    rule: Rule,
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
            rule: Rule::Sampled,
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
            rule: Rule::Batch,
            policy,
        })
    }

    /// A learner with the paper's rule (module docs, `# The paper's rule`): eq. 6 on every
    /// transition of the current step, counts uncapped; only `step_exponent` w is read.
    ///
    /// # Errors
    /// As [`OnlineTmfq::try_new`].
    pub fn try_new_paper(
        num_states: usize,
        num_actions: usize,
        game: GameParams,
        step_exponent: f64,
    ) -> Result<Self> {
        let params = TqLearnerParams {
            budget: usize::MAX,
            step_exponent,
            memory: f64::INFINITY,
        };
        let mut l = Self::try_new(num_states, num_actions, game, params)?;
        l.rule = Rule::Paper;
        Ok(l)
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
            Rule::Paper => {
                Self::try_new_paper(num_states, num_actions, game, params.tq.step_exponent)
            }
        }
    }

    /// The rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The sampled or paper rule's TQ-learner (Q, step-size counts), `None` with the batch
    /// rule.
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

    /// The sampled rule's `budget` (`usize::MAX` for the paper rule: all N); 0 for the batch
    /// rule, which reads counts, so the count engine draws no sample.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learner::VecTransitions;
    use crate::model::{Gig, KernelTables};
    use crate::space::uniform;

    fn call(l: &mut OnlineTmfq, buf: &VecTransitions, k: u64) -> Update {
        let z = uniform(10);
        let obs = Observation {
            step: k,
            seed: 3,
            agents: buf.len() as u64,
            source: buf,
            mean_field: &z,
            counts: None,
        };
        l.update(&obs).unwrap()
    }

    fn learner(rule: Rule) -> OnlineTmfq {
        let mut p = LearnerParams {
            rule,
            ..LearnerParams::default()
        };
        p.tq.budget = 100; // binds for `sampled`, ignored by `paper`
        p.tq.memory = 2.0; // likewise
        OnlineTmfq::from_params(10, 4, GameParams::default(), &p).unwrap()
    }

    #[test]
    fn paper_rule_is_eq6_on_every_transition_of_the_step_with_uncapped_counts() {
        let game = GameParams::default();
        let tables = KernelTables::of(&Gig::default(), &uniform(10));
        let mut buf = VecTransitions::new(tables.clone());
        let mut paper = learner(Rule::Paper);
        let mut sampled = learner(Rule::Sampled);
        assert_eq!(paper.rule(), Rule::Paper);
        assert_eq!(paper.sample_budget(), usize::MAX);
        assert_eq!(sampled.sample_budget(), 100);
        // Step 1: 1000 copies of (0, 0, 1). Row 1 is untouched, so every target is r(0, 0):
        // Q(0, 0) = r(0, 0) after the first update (α = 1).
        buf.transitions = vec![(0, 0, 1); 1000];
        assert_eq!(call(&mut paper, &buf, 0).tq_updates, 1000);
        assert_eq!(call(&mut sampled, &buf, 0).tq_updates, 100);
        assert_eq!(paper.tq().unwrap().step_counts()[0], 1000.0);
        // Step 2: one (1, 1, 1): Q(1, 1) = r(1, 1) (first visit, row 1 was 0).
        buf.transitions = vec![(1, 1, 1)];
        call(&mut paper, &buf, 1);
        call(&mut sampled, &buf, 1);
        // Step 3: one (0, 0, 1). The paper's α uses all 1000 earlier visits; the sampled
        // rule's count was 100 and is capped at H·max(1, v) = 2 (v = 0 visits in step 2).
        buf.transitions = vec![(0, 0, 1)];
        call(&mut paper, &buf, 2);
        call(&mut sampled, &buf, 2);
        let (r00, r11) = (tables.r(0, 0), tables.r(1, 1));
        let eps = game.epsilon;
        let g1 = if r11 > 0.0 {
            (1.0 - eps) * r11
        } else {
            eps / 3.0 * r11
        };
        let expect = |n: f64| {
            let alpha = 1.0 / (1.0 + (1.0 - game.gamma) * n);
            (1.0 - alpha) * r00 + alpha * (r00 + game.gamma * g1)
        };
        let q_paper = paper.q().unwrap().get(0, 0);
        assert!((q_paper - expect(1000.0)).abs() < 1e-12, "{q_paper}");
        let q_sampled = sampled.q().unwrap().get(0, 0);
        assert!((q_sampled - expect(2.0)).abs() < 1e-12, "{q_sampled}");
        assert!((q_paper - q_sampled).abs() > 1e-4);
        assert_eq!(paper.tq().unwrap().step_counts()[0], 1001.0);
    }
}
