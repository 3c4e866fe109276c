//! TMFQ (Algorithm 2 of Lee et al. 2021): TQ-learning on a simulator at a frozen mean field
//! z_k, then a simulated Next-MF step.
//!
//! # Algorithm
//! ```text
//! Q ← 0;  z_1 = z0;  M_sim simulated agents drawn i.i.d. uniform on S (kept for the whole run)
//! for k = 1, 2, …:
//!     inner loop at the frozen z_k (t counts simulator steps over the whole run):
//!         every simulated agent acts once with π^ε_Q:  a ~ π^ε_Q(s, ·),  s′ ~ P(·|s,a,z_k)
//!         TqLearner::learn on those M_sim transitions (eq. 6, rewards r(s,a,z_k))
//!         every C steps:  stop when ‖Q − Q_C‖_∞ < ε1, Q_C = Q at the previous check
//!         stop anyway before the iteration's transitions would exceed T_max
//!     μ_k = π^ε_Q
//!     z_{k+1} = Next-MF(z_k, μ_k):  M_mf states s_i ~ z_k i.i.d., a_i ~ μ_k(s_i, ·),
//!                                    s′_i ~ P(·|s_i,a_i,z_k),  z_{k+1}(s′) = #{i: s′_i = s′}/M_mf
//! ```
//! * M_sim = [`TmfqParams::sim_agents`], ε1 = [`TmfqParams::inner_tol`],
//!   C = [`TmfqParams::check_every`], T_max = [`TmfqParams::max_sim_transitions`],
//!   M_mf = [`TmfqParams::mf_agents`];
//! * the TQ-learning rule, its step size α = (1 + (1−γ)·n)^(−w), the budget B and the memory
//!   cap H are [`super::tq`]'s ([`LearnerParams::tq`]); γ, ε from [`GameParams`];
//! * π^ε_Q is the trembling-hand strategy of Q ([`crate::operator::trembling`]).
//!
//! # Design
//! **Warm start.** Q (and the TqLearner's counts) carry over from k − 1 to k. T-BR moves the
//! mean field less and less (‖z_{k+1} − z_k‖₁ shrinks geometrically as it converges), so
//! Q*_{z_k} is close to Q*_{z_{k−1}}; a cold start would spend the first visits of every pair
//! relearning the level of Q (≈ r/(1−γ)), which is most of the samples at γ = 0.9.
//!
//! `[learner] cold_start = true` ([`TmfqParams::cold_start`]) runs Algorithm 2 as written
//! instead: at the start of every outer iteration k, Q = 0 and every step-size count
//! n(s,a) = 0 (and the previous-call visits v(s,a) = 0), and the simulated agents act with
//! π^ε(0) until the first TQ update of the iteration; only the simulated agents' states,
//! z_k and the stream counters carry over. It is not the default because of the cost
//! measured below (the "cold learner per k" row).
//!
//! **Step-size counts across k.** They are carried, subject to the learner's memory cap H
//! (counted in simulator steps, one [`TqLearner::learn`] call each). [`TqLearner`] has no way
//! to reset its counts while keeping Q, and a reset would anyway throw the warm start away:
//! the first visit after a reset has α = 1 and overwrites Q(s, a) with one noisy target. The
//! experiments below compare the defaults with a cold learner per k and with H = ∞.
//!
//! **Next-MF.** The paper's supplementary (which specifies Next-MF) is not available to us, so
//! we use the simplest simulator estimate of Φ(z_k, μ_k): M_mf fresh agents drawn i.i.d. from
//! z_k, stepped once with μ_k at z_k, and their histogram. It is drawn at the count level
//! ([`CountPopulation`]: the initial histogram is Multinomial(M_mf, z_k) from the stream
//! `(seed, Simulate, k, 0)`, the step uses `(seed, Step, k, COUNT_STREAM)`), which is the
//! same law as stepping M_mf agents one by one and costs O(|S|²·|A|) instead of O(M_mf).
//! E[z_{k+1}] = Φ(z_k, μ_k), and its noise is ≈ √(|S|/M_mf) in L1.
//!
//! **The simulated agents persist.** They start uniform on S and then keep the states the
//! simulator leaves them in, across checks and outer iterations: regeneration (ζ·w) and the
//! tremble ε keep every state and action visited, and no burn-in is spent after each k.
//!
//! # Errors
//! [`Tmfq::try_new`] returns [`crate::Error::Param`] naming the key: any invalid `[learner]`
//! knob ([`LearnerParams::validate`]), `gamma`/`epsilon`, `z0` (not a pmf on the model's
//! states) or `num_states` (more than 65 536 states). [`Algorithm::iterate`] fails only for a
//! model breaking its contract (kernel rows that are not pmfs).
//!
//! # Determinism
//! Simulator step t (0-based, counted over the whole run) uses the streams
//! `(seed, Step, t, chunk)` of the agent engine and `(seed, Learn, t, 0)` of the learner; the
//! Next-MF sample of iteration k uses `(seed, Simulate, k, 0)` and `(seed, Step, k,
//! COUNT_STREAM)`; the initial agents `(seed, Init, 0, chunk)`. The engine's chunks may run on
//! any number of threads and are reduced in chunk order, so a run is bitwise identical for any
//! rayon pool size.
//!
//! # Cost
//! Per simulator step: O(M_sim) for the agents (alias tables rebuilt for the new π^ε_Q,
//! O(|S|²·|A|)) plus min(B, M_sim) TQ updates; Next-MF O(|S|²·|A|) whatever M_mf is. Memory
//! O(M_sim + |S|²·|A|). `cargo bench --bench learners`: one cold inner loop on the default
//! infection model at z = uniform (10 steps of 10⁶ agents to T_max, 10⁷ TQ updates) takes
//! 61–71 ms on 2 shared cores (≈ 150 M transitions/s, stepping and learning). See
//! `doc/experiments/tmfq.md` for whole runs.
//!
//! # Experiments
//! The runs behind the defaults, their numbers and the commands that reproduce them:
//! `doc/experiments/tmfq.md`.
//!
//! # Example
//! ```
//! use mfgsim::learner::{Algorithm, LearnerParams, Tmfq};
//! use mfgsim::model::{Gig, Model};
//! use mfgsim::space::uniform;
//! use mfgsim::GameParams;
//!
//! let model = Gig::default();
//! let mut params = LearnerParams::default();
//! params.tmfq.sim_agents = 1000;
//! params.tmfq.max_sim_transitions = 50_000;
//! let mut tmfq = Tmfq::try_new(&model, GameParams::default(), &params, &uniform(10), 7)?;
//! let it = tmfq.iterate()?;
//! assert_eq!(it.iteration, 1);
//! let z_next = it.z_next.expect("TMFQ reports z_{k+1}");
//! assert!((z_next.iter().sum::<f64>() - 1.0).abs() < 1e-12);
//! assert!(it.ledger.simulator_transitions <= 50_000 + params.tmfq.mf_agents);
//! # Ok::<(), mfgsim::Error>(())
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::tq::TqLearner;
use super::{greedy_changes, Algo, Algorithm, Iteration, LearnerParams, Ledger, TmfqParams};
use crate::error::{Error, Result};
use crate::model::{check_pmf, GameParams, Model};
use crate::persist::{StateReader, StateWriter};
use crate::population::{multinomial, Actions, CountPopulation, Engine, Population};
use crate::rng::{stream, Purpose};
use crate::space::{sup_distance, uniform, Policy, QTable};

/// What one inner loop (TQ-learning at a frozen z) did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InnerStats {
    /// Simulator steps taken.
    pub steps: u64,
    /// Simulator transitions drawn (steps · M_sim).
    pub transitions: u64,
    /// TQ updates made.
    pub tq_updates: u64,
    /// ‖Q − Q_C‖_∞ at the last check (∞ when no check was reached).
    pub last_change: f64,
    /// Whether ε1 was met before the cap T_max.
    pub converged: bool,
    /// Wall seconds stepping the agents.
    pub step_seconds: f64,
    /// Wall seconds in TQ-learning.
    pub learn_seconds: f64,
}

/// TMFQ (see the module docs).
#[derive(Debug)]
pub struct Tmfq<'m, M: Model + ?Sized> {
    model: &'m M,
    params: TmfqParams,
    seed: u64,
    learner: TqLearner,
    /// The M_sim simulated agents (u16 states: any model up to 65 536 states).
    sim: Population<u16>,
    /// π^ε_Q, kept in step with the learner.
    policy: Policy,
    /// z_{k+1}: the mean field the next iteration learns at.
    z: Vec<f64>,
    /// Simulator steps taken so far (the key of the next step's streams).
    t: u64,
    k: u64,
    prev_greedy: Vec<usize>,
    /// Q at the last check of the inner loop.
    q_check: QTable,
    suffix: Vec<f64>,
    /// The caller's stop flag, checked at every simulator step of the inner loop (one
    /// inner loop can run for hours with a large T_max).
    stop: Option<&'m AtomicBool>,
}

impl<'m, M: Model + ?Sized> Tmfq<'m, M> {
    /// TMFQ on `model` from the mean field `z0`, Q = 0, with the `[learner]` knobs `params`
    /// (its `tq` and `tmfq` parts) and the run's `seed`.
    ///
    /// # Errors
    /// [`crate::Error::Param`] naming the key: an invalid knob of `params`, `gamma`/`epsilon`, `z0`
    /// (not a pmf of length |S|) or `num_states` (above 65 536).
    pub fn try_new(
        model: &'m M,
        game: GameParams,
        params: &LearnerParams,
        z0: &[f64],
        seed: u64,
    ) -> Result<Self> {
        params.validate()?;
        let (ns, na) = (model.num_states(), model.num_actions());
        check_pmf("z0", z0, Some(ns))?;
        let learner = TqLearner::try_new(ns, na, game, params.tq)?;
        let sim = Population::<u16>::try_new_typed(ns, params.tmfq.sim_agents, &uniform(ns), seed)?;
        let policy = learner.policy();
        Ok(Tmfq {
            model,
            params: params.tmfq,
            seed,
            prev_greedy: policy.greedy().to_vec(),
            q_check: learner.q().clone(),
            learner,
            sim,
            policy,
            z: z0.to_vec(),
            t: 0,
            k: 0,
            suffix: Vec::new(),
            stop: None,
        })
    }

    /// Watches `stop`: once it is set, the inner loop ends at its next simulator step and
    /// [`Algorithm::iterate`] returns [`Error::Interrupted`] (the iteration is abandoned;
    /// the run keeps the iterations before it).
    pub fn with_stop(mut self, stop: &'m AtomicBool) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The mean field the next iteration learns at (z0 before the first iteration).
    pub fn z(&self) -> &[f64] {
        &self.z
    }

    /// The TQ-learner (Q, step-size counts).
    pub fn tq(&self) -> &TqLearner {
        &self.learner
    }

    /// Simulator steps taken so far, over all iterations.
    pub fn simulator_steps(&self) -> u64 {
        self.t
    }

    /// The inner loop of the module docs at the frozen mean field `z`: TQ-learning on the
    /// simulator until ε1 or T_max. [`Algorithm::iterate`] calls it at z_k; it is public for
    /// tests and benches (Q and the counts carry over as in a run).
    ///
    /// # Errors
    /// [`crate::Error::Param`] (key `z`) when `z` is not a pmf on the states, or for a model the
    /// engine cannot sample; [`Error::Interrupted`] once the stop flag ([`Tmfq::with_stop`])
    /// is set.
    pub fn learn_at(&mut self, z: &[f64]) -> Result<InnerStats> {
        let m = self.params.sim_agents as u64;
        let max_steps = self.params.max_sim_transitions / m;
        let mut st = InnerStats {
            steps: 0,
            transitions: 0,
            tq_updates: 0,
            last_change: f64::INFINITY,
            converged: false,
            step_seconds: 0.0,
            learn_seconds: 0.0,
        };
        self.q_check.clone_from(self.learner.q());
        while st.steps < max_steps {
            if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Err(Error::Interrupted);
            }
            let t0 = Instant::now();
            self.sim.step_at(
                self.model,
                Actions::Shared(&self.policy),
                z,
                self.t,
                self.seed,
            )?;
            let t1 = Instant::now();
            let src = self
                .sim
                .transitions()
                .expect("the population has just stepped");
            let ls = self.learner.learn(src, self.t, self.seed);
            self.learner.write_policy(&mut self.policy);
            st.learn_seconds += t1.elapsed().as_secs_f64();
            st.step_seconds += (t1 - t0).as_secs_f64();
            self.t += 1;
            st.steps += 1;
            st.transitions += m;
            st.tq_updates += ls.updates as u64;
            if st.steps.is_multiple_of(self.params.check_every) {
                st.last_change = sup_distance(self.learner.q().values(), self.q_check.values());
                self.q_check.clone_from(self.learner.q());
                if st.last_change < self.params.inner_tol {
                    st.converged = true;
                    break;
                }
            }
        }
        Ok(st)
    }

    /// Next-MF(z, μ) of the module docs, for iteration `k`.
    fn next_mf(&mut self, z: &[f64], k: u64) -> Result<Vec<f64>> {
        let n = self.params.mf_agents;
        let mut counts = vec![0u64; z.len()];
        let mut rng = stream(self.seed, Purpose::Simulate, k, 0);
        multinomial(n, z, &mut self.suffix, &mut counts, &mut rng);
        let mut pop = CountPopulation::from_counts(counts)?;
        pop.step_at(self.model, Actions::Shared(&self.policy), z, k, self.seed)?;
        Ok(pop.mean_field().to_vec())
    }
}

impl<'m, M: Model + ?Sized> Algorithm for Tmfq<'m, M> {
    fn algo(&self) -> Algo {
        Algo::Tmfq
    }

    fn iterate(&mut self) -> Result<Iteration> {
        let k = self.k;
        let z = self.z.clone();
        if self.params.cold_start {
            // Algorithm 2, line 3: Q (and the step-size counts) start afresh at every k.
            self.learner.reset();
            self.learner.write_policy(&mut self.policy);
        }
        let inner = self.learn_at(&z)?;
        let t0 = Instant::now();
        let z_next = self.next_mf(&z, k)?;
        let mf_seconds = t0.elapsed().as_secs_f64();
        let policy_changes = greedy_changes(&self.prev_greedy, self.policy.greedy());
        self.prev_greedy.copy_from_slice(self.policy.greedy());
        self.z.clone_from(&z_next);
        self.k += 1;
        Ok(Iteration {
            iteration: self.k,
            z,
            z_next: Some(z_next),
            regenerated: 0,
            policy_changes,
            ledger: Ledger {
                simulator_transitions: inner.transitions + self.params.mf_agents,
                tq_updates: inner.tq_updates,
                ..Ledger::default()
            },
            inner_steps: inner.steps,
            inner_converged: inner.converged,
            step_seconds: inner.step_seconds + mf_seconds,
            learn_seconds: inner.learn_seconds,
        })
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn q(&self) -> Option<&QTable> {
        Some(self.learner.q())
    }

    fn iterations(&self) -> u64 {
        self.k
    }

    /// The TQ-learner ([`TqLearner::save_state`]), the simulator's M_sim agents
    /// (`agent_states`), z_{k+1} (`tmfq_z`) and the counters t and k (`tmfq_counters`).
    fn save_state(&self, w: &mut dyn StateWriter) -> Result<()> {
        self.learner.save_state(w)?;
        self.sim.save_state(w)?;
        w.f64s("tmfq_z", &self.z)?;
        w.u64s("tmfq_counters", &[self.t, self.k])
    }

    fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        self.learner.load_state(r)?;
        self.sim.load_state(r)?;
        r.f64s("tmfq_z", &mut self.z)?;
        let mut counters = [0u64; 2];
        r.u64s("tmfq_counters", &mut counters)?;
        [self.t, self.k] = counters;
        self.learner.write_policy(&mut self.policy);
        self.prev_greedy.copy_from_slice(self.policy.greedy());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::{Gig, Infection, KernelTables};
    use crate::operator::{greedy_action, phi, TqIteration};

    use crate::test_util::in_pool;

    /// Issue 20: Ctrl-C was not seen inside one outer iteration: with a large
    /// `max_sim_transitions` the run could only be killed.
    #[test]
    fn the_stop_flag_ends_the_inner_loop() {
        let m = Gig::default();
        let mut p = LearnerParams::default();
        p.tmfq.sim_agents = 1000;
        p.tmfq.max_sim_transitions = 100_000; // 100 steps: the run ends (Ok) without the check
        p.tmfq.inner_tol = 1e-300;
        let stop = AtomicBool::new(false);
        let z = uniform(10);
        let mut t = Tmfq::try_new(&m, GameParams::default(), &p, &z, 1)
            .unwrap()
            .with_stop(&stop);
        stop.store(true, Ordering::Relaxed);
        let e = t.iterate().unwrap_err();
        assert!(matches!(e, Error::Interrupted), "{e:?}");
        assert_eq!(t.simulator_steps(), 0);
        assert_eq!(t.iterations(), 0, "the abandoned iteration does not count");
    }

    fn small_params() -> LearnerParams {
        let mut p = LearnerParams::default();
        p.tmfq.sim_agents = 2000;
        p.tmfq.max_sim_transitions = 200_000;
        p.tmfq.mf_agents = 100_000;
        p
    }

    fn q_star(model: &dyn Model, z: &[f64]) -> QTable {
        let t = KernelTables::of(model, z);
        let mut q = QTable::zeros(model.num_states(), model.num_actions());
        assert!(
            TqIteration::new()
                .run(&t, GameParams::default(), &mut q, 1e-13, 100_000)
                .converged
        );
        q
    }

    /// Everything a run produces, for bitwise comparisons.
    fn run_bits(seed: u64, iters: usize) -> (Vec<Vec<u64>>, Vec<u64>, Vec<Ledger>) {
        let model = Infection::default();
        let p = small_params();
        let mut t = Tmfq::try_new(&model, GameParams::default(), &p, &uniform(25), seed).unwrap();
        let mut zs = Vec::new();
        let mut ledgers = Vec::new();
        for _ in 0..iters {
            let it = t.iterate().unwrap();
            zs.push(it.z_next.unwrap().iter().map(|x| x.to_bits()).collect());
            ledgers.push(it.ledger);
        }
        let q = t
            .q()
            .unwrap()
            .values()
            .iter()
            .map(|x| x.to_bits())
            .collect();
        (zs, q, ledgers)
    }

    #[test]
    fn bitwise_identical_for_one_and_two_threads_and_the_seed_matters() {
        let one = in_pool(1, || run_bits(5, 3));
        let two = in_pool(2, || run_bits(5, 3));
        assert_eq!(one, two);
        let other = in_pool(2, || run_bits(6, 3));
        assert_ne!(one.0, other.0);
        assert_ne!(one.1, other.1);
    }

    #[test]
    fn cold_start_begins_every_iteration_with_q_and_counts_at_zero() {
        let model = Gig::default();
        for cold in [false, true] {
            let mut p = small_params();
            p.tmfq.sim_agents = 30; // one step of 30 transitions: some pairs unvisited
            p.tmfq.max_sim_transitions = 30;
            p.tmfq.cold_start = cold;
            let mut t = Tmfq::try_new(&model, GameParams::default(), &p, &uniform(10), 4).unwrap();
            for k in 1..=3u32 {
                t.iterate().unwrap();
                let n: f64 = t.tq().step_counts().iter().sum();
                // Warm: the counts hold every iteration's transitions (the cap H = 300 does
                // not bind in 3 calls); cold: only this iteration's.
                let want = if cold { 30.0 } else { 30.0 * f64::from(k) };
                assert_eq!(n, want, "cold {cold} k {k}");
                if cold {
                    // A pair not visited in this iteration still has the Q it started with: 0.
                    for (q, c) in t.tq().q().values().iter().zip(t.tq().step_counts()) {
                        if *c == 0.0 {
                            assert_eq!(*q, 0.0);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ledger_counts_what_was_drawn() {
        let model = Gig::default();
        let mut p = small_params();
        p.tmfq.inner_tol = 1e-12; // never met: every iteration runs to its cap
        p.tmfq.max_sim_transitions = 20_500; // 10 steps of 2000 fit, an 11th would not
        p.tq.budget = 1500; // each step's 2000 transitions are subsampled to 1500 updates
        let mut t = Tmfq::try_new(&model, GameParams::default(), &p, &uniform(10), 1).unwrap();
        for k in 1..=3 {
            let it = t.iterate().unwrap();
            assert_eq!(it.iteration, k);
            assert_eq!(it.inner_steps, 10);
            assert!(!it.inner_converged);
            assert_eq!(
                it.ledger,
                Ledger {
                    simulator_transitions: 10 * 2000 + 100_000,
                    tq_updates: 10 * 1500,
                    ..Ledger::default()
                }
            );
        }
        assert_eq!(t.simulator_steps(), 30);
        assert_eq!(t.iterations(), 3);
        // A loose tolerance stops at the first check.
        p.tmfq.inner_tol = 1e9;
        p.tmfq.check_every = 3;
        let mut t = Tmfq::try_new(&model, GameParams::default(), &p, &uniform(10), 1).unwrap();
        let it = t.iterate().unwrap();
        assert!(it.inner_converged);
        assert_eq!(it.inner_steps, 3);
        assert_eq!(it.ledger.simulator_transitions, 3 * 2000 + 100_000);
    }

    #[test]
    fn next_mf_is_phi_within_sampling_noise() {
        // z_{k+1} ~ Multinomial(M_mf, Φ(z_k, μ_k)) / M_mf: each entry within 5 sd of Φ.
        let model = Infection::default();
        let mut p = small_params();
        p.tmfq.mf_agents = 1_000_000;
        let z0: Vec<f64> = (0..25).map(|s| (s + 1) as f64 / 325.0).collect();
        let mut t = Tmfq::try_new(&model, GameParams::default(), &p, &z0, 3).unwrap();
        let it = t.iterate().unwrap();
        let mut exact = vec![0.0; 25];
        phi(&KernelTables::of(&model, &z0), &z0, t.policy(), &mut exact);
        let n = p.tmfq.mf_agents as f64;
        for (s, (x, e)) in it.z_next.unwrap().iter().zip(&exact).enumerate() {
            let sd = (e * (1.0 - e) / n).sqrt();
            assert!((x - e).abs() < 5.0 * sd + 1e-12, "state {s}: {x} vs {e}");
        }
        assert_eq!(it.z, z0);
    }

    // One inner loop of 2·10⁷ transitions (10⁵ agents) from Q = 0 at z = uniform, measured
    // with seeds 1/2/3: ‖Q − Q*‖_∞ after 2·10⁵ transitions 0.157/0.198/0.166 (infection),
    // 0.191/0.138/– (gig); after 2·10⁷ 0.032/0.046/0.027 (infection), 0.014/0.008/– (gig);
    // the worst Q*-gap of a greedy action picked by Q: 0.0018/0.0045/0.021 (infection),
    // 0.0003/0.0013/– (gig). Bounds leave ~1.7–2× room over the worst measured value.
    #[test]
    fn inner_loop_approaches_q_star_at_a_fixed_mean_field() {
        for (model, bound) in [
            (Box::new(Infection::default()) as Box<dyn Model>, 0.08),
            (Box::new(Gig::default()), 0.08),
        ] {
            let ns = model.num_states();
            let z = uniform(ns);
            let star = q_star(model.as_ref(), &z);
            let mut p = LearnerParams::default();
            p.tmfq.sim_agents = 100_000;
            p.tmfq.inner_tol = 1e-12;
            p.tmfq.max_sim_transitions = 20_000_000;
            let mut t = Tmfq::try_new(model.as_ref(), GameParams::default(), &p, &z, 1).unwrap();
            let first = {
                let mut short = p;
                short.tmfq.max_sim_transitions = 200_000;
                let mut s =
                    Tmfq::try_new(model.as_ref(), GameParams::default(), &short, &z, 1).unwrap();
                s.learn_at(&z).unwrap();
                sup_distance(s.tq().q().values(), star.values())
            };
            let st = t.learn_at(&z).unwrap();
            assert_eq!(st.transitions, 20_000_000);
            let q = t.tq().q();
            let err = sup_distance(q.values(), star.values());
            assert!(err < bound, "{}: ‖Q − Q*‖ = {err}", model.name());
            assert!(err < 0.4 * first, "{}: {first} → {err}", model.name());
            for s in 0..ns {
                let best = greedy_action(star.row(s));
                let got = greedy_action(q.row(s));
                let gap = star.get(s, best) - star.get(s, got);
                assert!(
                    gap <= 0.02,
                    "{}: state {s} picks {got}, gap {gap}",
                    model.name()
                );
            }
        }
    }

    #[test]
    fn bad_params_and_z0_are_named() {
        let model = Gig::default();
        let game = GameParams::default();
        let key_of = |r: Result<Tmfq<'_, Gig>>| match r {
            Err(Error::Param { key, .. }) => key,
            other => panic!("{other:?}"),
        };
        let mut p = LearnerParams::default();
        p.tmfq.sim_agents = 0;
        assert_eq!(
            key_of(Tmfq::try_new(&model, game, &p, &uniform(10), 0)),
            "sim_agents"
        );
        let mut p = LearnerParams::default();
        p.tmfq.inner_tol = -1.0;
        assert_eq!(
            key_of(Tmfq::try_new(&model, game, &p, &uniform(10), 0)),
            "inner_tol"
        );
        let mut p = LearnerParams::default();
        p.tq.budget = 0;
        assert_eq!(
            key_of(Tmfq::try_new(&model, game, &p, &uniform(10), 0)),
            "budget"
        );
        let p = LearnerParams::default();
        assert_eq!(
            key_of(Tmfq::try_new(&model, game, &p, &uniform(9), 0)),
            "z0"
        );
        assert_eq!(key_of(Tmfq::try_new(&model, game, &p, &[0.5; 10], 0)), "z0");
        let bad_game = GameParams {
            gamma: 1.5,
            epsilon: 0.1,
        };
        assert_eq!(
            key_of(Tmfq::try_new(&model, bad_game, &p, &uniform(10), 0)),
            "gamma"
        );
        let mut t = Tmfq::try_new(&model, game, &small_params(), &uniform(10), 0).unwrap();
        match t.learn_at(&[0.1; 10][..9]) {
            Err(Error::Param { key, .. }) => assert_eq!(key, "z"),
            other => panic!("{other:?}"),
        }
    }
}
