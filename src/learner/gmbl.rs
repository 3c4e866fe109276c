//! GMBL: generative-model-based learning, the model-based twin of TMFQ. Each outer iteration
//! estimates the kernel at z_k from a generative model, then plans on the estimate exactly.
//!
//! # Algorithm
//! ```text
//! Q̂ ← 0;  z_1 = z0
//! for k = 1, 2, …:
//!     for every (s, a):  c_k(s,a,·) ~ Multinomial(M_gen, P(·|s,a,z_k))      (M_gen draws s′)
//!                        P̂_k(s′|s,a) = c_k(s,a,s′) / M_gen
//!     Q̂ ← TQ-value iteration on (r(·,·,z_k), P̂_k), warm-started from the last Q̂,
//!          until ‖F̂(Q̂) − Q̂‖_∞ < tol_v           F̂(Q)(s,a) = r(s,a,z_k) + γ Σ_s′ P̂_k(s′|s,a) G(Q)(s′)
//!     μ_k = π^ε(Q̂)
//!     z_{k+1} = Φ̂(z_k, μ_k),   Φ̂(z, μ)(s′) = Σ_s Σ_a z(s) μ(s,a) P̂_k(s′|s,a)
//! ```
//! * M_gen = [`GmblParams::gen_samples`], tol_v = [`GmblParams::value_tol`]; γ, ε from
//!   [`GameParams`]; G(Q)(s) = Σ_a π^ε_Q(s,a) Q(s,a) ([`crate::operator::trembling`]);
//! * the rewards r(s, a, z_k) are the model's (a generative model returns the reward with
//!   the sample, and it is deterministic here);
//! * the M_gen draws for (s, a) are i.i.d. s′ ~ P(·|s,a,z_k); their counts are exactly
//!   Multinomial(M_gen, P(·|s,a,z_k)), drawn as a chain of binomials (O(|S|) per row whatever
//!   M_gen is), so E[P̂_k] = P(·|·,·,z_k) and Var P̂_k(s′|s,a) = P(1 − P)/M_gen;
//! * F̂ is a γ-contraction like F_z (P̂_k rows are pmfs), so Q̂ is within γ·tol_v/(1 − γ) of
//!   the fixed point on P̂_k; the exact operators are [`crate::operator`]'s (`TqIteration::run`,
//!   `phi`) with P̂_k in the tables.
//!
//! With [`Gmbl::with_exact_kernel`], P̂_k = P(·|·,·,z_k) and nothing is drawn: the iteration is
//! then T-BR ([`crate::solver`]), and its mean-field path equals the solver's bitwise as long
//! as the greedy actions agree (μ_k depends on Q̂ only through them; the solver stops its
//! intermediate value iterations once they are certain, GMBL at tol_v).
//!
//! # Errors
//! [`Gmbl::try_new`] returns [`crate::Error::Param`] naming the key: an invalid `[learner]`
//! knob ([`LearnerParams::validate`]), `gamma`/`epsilon`, or `z0` (not a pmf on the model's
//! states). [`Algorithm::iterate`] never fails.
//!
//! # Determinism
//! The draws for state s at iteration k (all its actions, in action order) come from the
//! stream `(seed, Simulate, k, s)`, so the states are sampled in parallel on the rayon pool
//! and P̂_k is bitwise identical for any thread count; everything else is sequential with sums
//! in a fixed order.
//!
//! # Cost
//! Per iteration: |S|·|A| multinomials (O(|S|²·|A|) binomial draws, independent of M_gen),
//! sweeps × O(|S|²·|A|) for the value iteration (the sampled rows have no common part to
//! factor out, [`crate::operator::tq_value::BandedKernel`]), and O(|S|²·|A|) for Φ̂.
//! `cargo bench --bench learners`: one warm iteration on the default infection model takes
//! 316 µs on 2 shared cores. See `doc/experiments/gmbl.md` for whole runs.
//!
//! # Experiments
//! The runs behind the defaults, their numbers and the commands that reproduce them:
//! `doc/experiments/gmbl.md`.
//!
//! # Example
//! ```
//! use mfgsim::learner::{Algorithm, Gmbl, LearnerParams};
//! use mfgsim::model::{Infection, Model};
//! use mfgsim::space::uniform;
//! use mfgsim::GameParams;
//!
//! let model = Infection::default();
//! let params = LearnerParams::default();
//! let mut gmbl = Gmbl::try_new(&model, GameParams::default(), &params, &uniform(25), 7)?;
//! let it = gmbl.iterate()?;
//! let per_pair = params.gmbl.gen_samples;
//! assert_eq!(it.ledger.generative_samples, per_pair * 25 * 5);
//! assert_eq!(it.ledger.tq_updates, it.inner_steps * 25 * 5);
//! let z_next = it.z_next.expect("GMBL reports z_{k+1}");
//! assert!((z_next.iter().sum::<f64>() - 1.0).abs() < 1e-9);
//! # Ok::<(), mfgsim::Error>(())
//! ```

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rayon::prelude::*;

use super::{greedy_changes, Algo, Algorithm, GmblParams, Iteration, LearnerParams, Ledger};
use crate::error::{Error, Result};
use crate::model::{check_pmf, GameParams, KernelTables, Model};
use crate::operator::phi;
use crate::operator::tq_value::TqIteration;
use crate::operator::trembling::write_trembling_policy;
use crate::persist::{StateReader, StateWriter};
use crate::population::multinomial;
use crate::rng::{stream, Purpose};
use crate::space::{Policy, QTable};

/// Cap on the sweeps of one value iteration (the solver's default cap; warm-started runs
/// need a few hundred at tol_v = 1e-10).
pub const MAX_SWEEPS: usize = 100_000;

/// GMBL (see the module docs).
#[derive(Debug)]
pub struct Gmbl<'m, M: Model + ?Sized> {
    model: &'m M,
    game: GameParams,
    params: GmblParams,
    seed: u64,
    exact: bool,
    /// r and P at z_k (the generative model's truth).
    tables: KernelTables,
    /// r and P̂_k.
    hat: KernelTables,
    tq: TqIteration,
    q: QTable,
    policy: Policy,
    z: Vec<f64>,
    k: u64,
    prev_greedy: Vec<usize>,
    /// The caller's stop flag, checked between sweeps of the value iteration.
    stop: Option<&'m AtomicBool>,
}

impl<'m, M: Model + ?Sized> Gmbl<'m, M> {
    /// GMBL on `model` from the mean field `z0`, Q̂ = 0, with the `[learner]` knobs `params`
    /// (its `gmbl` part) and the run's `seed`.
    ///
    /// # Errors
    /// [`crate::Error::Param`] naming the key: an invalid knob of `params`,
    /// `gamma`/`epsilon`, or `z0` (not a pmf of length |S|).
    pub fn try_new(
        model: &'m M,
        game: GameParams,
        params: &LearnerParams,
        z0: &[f64],
        seed: u64,
    ) -> Result<Self> {
        params.validate()?;
        GameParams::try_new(game.gamma, game.epsilon)?;
        let (ns, na) = (model.num_states(), model.num_actions());
        check_pmf("z0", z0, Some(ns))?;
        let q = QTable::zeros(ns, na);
        let mut policy = Policy::uniform(ns, na);
        write_trembling_policy(&q, game.epsilon, &mut policy);
        Ok(Gmbl {
            model,
            game,
            params: params.gmbl,
            seed,
            exact: false,
            tables: KernelTables::new(ns, na),
            hat: KernelTables::new(ns, na),
            tq: TqIteration::new(),
            q,
            prev_greedy: policy.greedy().to_vec(),
            policy,
            z: z0.to_vec(),
            k: 0,
            stop: None,
        })
    }

    /// As [`Gmbl::try_new`], but P̂_k is the exact P(·|·,·,z_k) and nothing is drawn: T-BR
    /// with GMBL's value tolerance (see the module docs).
    ///
    /// # Errors
    /// As [`Gmbl::try_new`].
    pub fn with_exact_kernel(
        model: &'m M,
        game: GameParams,
        params: &LearnerParams,
        z0: &[f64],
        seed: u64,
    ) -> Result<Self> {
        let mut g = Self::try_new(model, game, params, z0, seed)?;
        g.exact = true;
        Ok(g)
    }

    /// Watches `stop`: once it is set, the value iteration ends within
    /// [`crate::operator::tq_value::CANCEL_CHECK_SWEEPS`] sweeps and [`Algorithm::iterate`]
    /// returns [`crate::Error::Interrupted`] with the state as before the iteration (so a
    /// checkpoint taken then resumes to the uninterrupted run's bits).
    pub fn with_stop(mut self, stop: &'m AtomicBool) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The mean field the next iteration learns at (z0 before the first iteration).
    pub fn z(&self) -> &[f64] {
        &self.z
    }

    /// r(·,·,z_k) and P̂_k of the last iteration (zeros before the first).
    pub fn p_hat(&self) -> &KernelTables {
        &self.hat
    }

    /// Draws P̂_k into `self.hat` from `self.tables` (see the module docs).
    fn sample_kernel(&mut self, k: u64) {
        let (ns, na) = (self.tables.num_states(), self.tables.num_actions());
        let m = self.params.gen_samples;
        let inv = 1.0 / m as f64;
        let (seed, truth) = (self.seed, &self.tables);
        self.hat
            .kernel
            .par_chunks_mut(na * ns)
            .enumerate()
            .for_each_init(
                // Scratch only: every value is overwritten, so which job made it is irrelevant.
                || (Vec::new(), vec![0u64; ns]),
                |(suffix, counts), (s, rows)| {
                    let mut rng = stream(seed, Purpose::Simulate, k, s as u64);
                    for (a, row) in rows.chunks_exact_mut(ns).enumerate() {
                        counts.fill(0);
                        multinomial(m, truth.row(s, a), suffix, counts, &mut rng);
                        for (p, c) in row.iter_mut().zip(counts.iter()) {
                            *p = *c as f64 * inv;
                        }
                    }
                },
            );
    }
}

impl<'m, M: Model + ?Sized> Algorithm for Gmbl<'m, M> {
    fn algo(&self) -> Algo {
        Algo::Gmbl
    }

    fn iterate(&mut self) -> Result<Iteration> {
        let k = self.k;
        let (ns, na) = (self.model.num_states(), self.model.num_actions());
        let t0 = Instant::now();
        self.model.fill_tables(&self.z, &mut self.tables);
        let drawn = if self.exact {
            self.hat.clone_from(&self.tables);
            0
        } else {
            self.hat.reward.clone_from(&self.tables.reward);
            self.sample_kernel(k);
            self.params.gen_samples.saturating_mul((ns * na) as u64)
        };
        let t1 = Instant::now();
        let out = match self.stop {
            Some(stop) => {
                let before = self.q.clone();
                let out = self.tq.run_cancellable(
                    &self.hat,
                    self.game,
                    &mut self.q,
                    self.params.value_tol,
                    MAX_SWEEPS,
                    stop,
                );
                if out.cancelled {
                    self.q = before;
                    return Err(Error::Interrupted);
                }
                out
            }
            None => self.tq.run(
                &self.hat,
                self.game,
                &mut self.q,
                self.params.value_tol,
                MAX_SWEEPS,
            ),
        };
        write_trembling_policy(&self.q, self.game.epsilon, &mut self.policy);
        let mut z_next = vec![0.0; ns];
        phi(&self.hat, &self.z, &self.policy, &mut z_next);
        let t2 = Instant::now();
        let policy_changes = greedy_changes(&self.prev_greedy, self.policy.greedy());
        self.prev_greedy.copy_from_slice(self.policy.greedy());
        let z = std::mem::replace(&mut self.z, z_next.clone());
        self.k += 1;
        Ok(Iteration {
            iteration: self.k,
            z,
            z_next: Some(z_next),
            regenerated: 0,
            policy_changes,
            ledger: Ledger {
                generative_samples: drawn,
                tq_updates: (out.sweeps * ns * na) as u64,
                ..Ledger::default()
            },
            inner_steps: out.sweeps as u64,
            inner_converged: out.converged,
            step_seconds: (t1 - t0).as_secs_f64(),
            learn_seconds: (t2 - t1).as_secs_f64(),
        })
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn q(&self) -> Option<&QTable> {
        Some(&self.q)
    }

    fn iterations(&self) -> u64 {
        self.k
    }

    /// Q̂ (`gmbl_q`, the warm start of the next value iteration), z_k (`gmbl_z`) and k
    /// (`gmbl_k`); P̂ is redrawn every iteration from keyed streams.
    fn save_state(&self, w: &mut dyn StateWriter) -> Result<()> {
        w.f64s("gmbl_q", self.q.values())?;
        w.f64s("gmbl_z", &self.z)?;
        w.u64s("gmbl_k", &[self.k])
    }

    fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        r.f64s("gmbl_q", self.q.values_mut())?;
        r.f64s("gmbl_z", &mut self.z)?;
        self.k = crate::persist::read_u64(r, "gmbl_k")?;
        write_trembling_policy(&self.q, self.game.epsilon, &mut self.policy);
        self.prev_greedy.copy_from_slice(self.policy.greedy());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::{Gig, Infection};
    use crate::solver::{solve, SolverParams, Start};
    use crate::space::{l1_distance, uniform};

    use crate::test_util::in_pool;
    use crate::Error;

    #[test]
    fn exact_kernel_gives_the_tbr_mean_field_path() {
        for model in [
            Box::new(Infection::default()) as Box<dyn Model>,
            Box::new(Gig::default()),
        ] {
            let game = GameParams::default();
            let ns = model.num_states();
            let sol = solve(
                model.as_ref(),
                game,
                &SolverParams::default(),
                &Start::Uniform,
            )
            .unwrap();
            assert!(sol.iterations() > 20, "{}", sol.iterations());
            let p = LearnerParams::default();
            let mut g = Gmbl::with_exact_kernel(model.as_ref(), game, &p, &uniform(ns), 0).unwrap();
            for rec in &sol.trace {
                let it = g.iterate().unwrap();
                assert_eq!(it.ledger.generative_samples, 0);
                assert_eq!(
                    it.z_next.as_deref(),
                    Some(&rec.z[..]),
                    "{}: iteration {}",
                    model.name(),
                    rec.iteration
                );
            }
            assert!(l1_distance(g.z(), &sol.z) < 1e-10);
        }
    }

    #[test]
    fn p_hat_is_unbiased() {
        // Mean over R seeds of P̂(s′|s,a) vs P: each within 5 standard errors
        // √(P(1−P)/(M_gen·R)); entries with P = 0 are never drawn.
        let model = Infection::default();
        let game = GameParams::default();
        let mut p = LearnerParams::default();
        p.gmbl.gen_samples = 50;
        let z = uniform(25);
        let truth = KernelTables::of(&model, &z);
        let reps = 400;
        let mut mean = vec![0.0; truth.kernel.len()];
        for seed in 0..reps {
            let mut g = Gmbl::try_new(&model, game, &p, &z, seed).unwrap();
            g.iterate().unwrap();
            assert_eq!(g.p_hat().reward, truth.reward);
            for (m, x) in mean.iter_mut().zip(&g.p_hat().kernel) {
                *m += x / reps as f64;
            }
        }
        let n = (p.gmbl.gen_samples * reps) as f64;
        let mut worst: f64 = 0.0;
        for (i, (m, t)) in mean.iter().zip(&truth.kernel).enumerate() {
            if *t == 0.0 {
                assert_eq!(*m, 0.0, "entry {i}");
                continue;
            }
            let z = (m - t) / (t * (1.0 - t) / n).sqrt();
            worst = worst.max(z.abs());
            assert!(z.abs() < 5.0, "entry {i}: {m} vs {t} (z = {z})");
        }
        // The test has power: 3125 entries make a max |z| well above 2 (a biased
        // P̂ = P·(1 + 5%) on the larger entries would exceed 5).
        assert!(worst > 2.0, "{worst}");
    }

    #[test]
    fn ledger_counts_what_was_drawn() {
        let model = Gig::default();
        let mut p = LearnerParams::default();
        p.gmbl.gen_samples = 777;
        let mut g = Gmbl::try_new(&model, GameParams::default(), &p, &uniform(10), 3).unwrap();
        let mut tq = TqIteration::new();
        let mut q = QTable::zeros(10, 4);
        for k in 1..=4 {
            let it = g.iterate().unwrap();
            assert_eq!(it.iteration, k);
            assert_eq!(it.ledger.generative_samples, 777 * 10 * 4);
            assert_eq!(it.ledger.tq_updates, it.inner_steps * 40);
            assert_eq!(
                it.ledger.simulator_transitions + it.ledger.real_transitions,
                0
            );
            assert!(it.inner_converged);
            // Every row of P̂ is a count vector of exactly M_gen draws.
            for row in g.p_hat().kernel.chunks_exact(10) {
                let total: f64 = row.iter().map(|x| (x * 777.0).round()).sum();
                assert_eq!(total, 777.0);
            }
            // The sweeps are those of the same warm-started value iteration on P̂.
            let out = tq.run(
                g.p_hat(),
                GameParams::default(),
                &mut q,
                p.gmbl.value_tol,
                MAX_SWEEPS,
            );
            assert_eq!(out.sweeps as u64, it.inner_steps);
            assert_eq!(&q, g.q().unwrap());
        }
    }

    fn run_bits(seed: u64) -> (Vec<Vec<u64>>, Vec<u64>) {
        let model = Infection::default();
        let p = LearnerParams::default();
        let mut g = Gmbl::try_new(&model, GameParams::default(), &p, &uniform(25), seed).unwrap();
        let zs = (0..4)
            .map(|_| {
                g.iterate()
                    .unwrap()
                    .z_next
                    .unwrap()
                    .iter()
                    .map(|x| x.to_bits())
                    .collect()
            })
            .collect();
        let kernel = g.p_hat().kernel.iter().map(|x| x.to_bits()).collect();
        (zs, kernel)
    }

    #[test]
    fn bitwise_identical_for_one_and_two_threads_and_the_seed_matters() {
        let one = in_pool(1, || run_bits(9));
        let two = in_pool(2, || run_bits(9));
        assert_eq!(one, two);
        let other = in_pool(2, || run_bits(10));
        assert_ne!(one.0, other.0);
        assert_ne!(one.1, other.1);
    }

    /// Issue 20: Ctrl-C was seen only between iterations; a large model's value iteration
    /// runs for minutes.
    #[test]
    fn the_stop_flag_ends_the_value_iteration_and_keeps_the_state() {
        use std::sync::atomic::Ordering;
        let m = Infection::default();
        let p = LearnerParams::default();
        let stop = AtomicBool::new(false);
        let mut g = Gmbl::try_new(&m, GameParams::default(), &p, &uniform(25), 3)
            .unwrap()
            .with_stop(&stop);
        g.iterate().unwrap();
        let (q, z) = (g.q.clone(), g.z.clone());
        stop.store(true, Ordering::Relaxed);
        let e = g.iterate().unwrap_err();
        assert!(matches!(e, Error::Interrupted), "{e:?}");
        assert_eq!(g.iterations(), 1, "the abandoned iteration does not count");
        assert_eq!(
            (g.q.values().to_vec(), g.z.clone()),
            (q.values().to_vec(), z)
        );
    }

    #[test]
    fn bad_params_and_z0_are_named() {
        let model = Gig::default();
        let game = GameParams::default();
        let key_of = |r: Result<Gmbl<'_, Gig>>| match r {
            Err(Error::Param { key, .. }) => key,
            other => panic!("{other:?}"),
        };
        let mut p = LearnerParams::default();
        p.gmbl.gen_samples = 0;
        assert_eq!(
            key_of(Gmbl::try_new(&model, game, &p, &uniform(10), 0)),
            "gen_samples"
        );
        let mut p = LearnerParams::default();
        p.gmbl.value_tol = f64::NAN;
        assert_eq!(
            key_of(Gmbl::with_exact_kernel(&model, game, &p, &uniform(10), 0)),
            "value_tol"
        );
        let p = LearnerParams::default();
        assert_eq!(
            key_of(Gmbl::try_new(&model, game, &p, &uniform(11), 0)),
            "z0"
        );
        assert_eq!(
            key_of(Gmbl::try_new(&model, game, &p, &[-0.1; 10], 0)),
            "z0"
        );
        let bad = GameParams {
            gamma: 0.9,
            epsilon: 1.0,
        };
        assert_eq!(
            key_of(Gmbl::try_new(&model, bad, &p, &uniform(10), 0)),
            "epsilon"
        );
    }
}
