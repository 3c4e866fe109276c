//! TQ-learning (eq. 6 of Lee et al. 2021): the learning step of online TMFQ.
//!
//! At iteration k of online TMFQ (Algorithm 3), N agents take one step with the strategy
//! μ_{k−1} at the empirical mean field ẑ_k, and their N transitions (s, a, s′) form the buffer
//! D_k. One call of [`TqLearner::learn`] runs TQ-learning on D_k; the caller then pushes
//! μ_k = π^ε_Q ([`TqLearner::write_policy`]) back to the agents. Q and the visit counts
//! carry over from call to call, so the learner keeps improving one estimate while ẑ_k moves.
//!
//! # Formula
//! ```text
//! Call k, with buffer D_k of N transitions taken at the empirical mean field ẑ_k:
//!
//!  1. for every (s,a):  n(s,a) ← min( n(s,a), H·max(1, v(s,a)) );   v(s,a) ← 0
//!  2. M = min(B, N);   o ~ Uniform{0, …, N−1}, drawn from the stream rng::stream(seed, Learn, k, 0);
//!     run c (c = 0, …, R−1, R = ⌈N/L⌉) = positions p = cL, …, min((c+1)L, N) − 1,
//!     position p = transition D_k[(o + p) mod N];
//!     d = the integer nearest R/φ that is coprime to R
//!  3. for the runs c = 0, d, 2d, 3d, … (mod R), each run's positions in increasing order,
//!     until M updates are made:
//!        (s, a, s′) = the transition at the position
//!        α          = (1 + (1−γ)·n(s,a))^(−w)
//!        Q(s,a)     ← (1 − α)·Q(s,a) + α·( r(s,a,ẑ_k) + γ·G(Q)(s′) )          (eq. 6)
//!        n(s,a)     ← n(s,a) + 1;    v(s,a) ← v(s,a) + 1
//!  4. μ_k = π^ε_Q
//!
//!  G(Q)(s′) = Σ_a′ π^ε_Q(s′,a′)·Q(s′,a′)
//!           = (1−ε)·Q(s′,a*) + ε/(|A|−1)·Σ_{a′≠a*} Q(s′,a′),   a* = lowest argmax_a′ Q(s′,a′)
//! ```
//! * Q(s,a): the TQ-table, 0 before the first call; G reads the current Q (updates are
//!   asynchronous: an update sees all earlier updates of the same call).
//! * n(s,a): the step-size count, v(s,a): visits during the previous call; both start at 0.
//! * r(s,a,ẑ_k) = `src.tables().r(s, a)`; γ, ε from [`GameParams`].
//! * B = [`TqLearnerParams::budget`], w = [`TqLearnerParams::step_exponent`],
//!   H = [`TqLearnerParams::memory`]; L = [`RUN_LEN`] = 64; φ = (1 + √5)/2;
//!
//! # Why this rule
//!
//! **Order and subsample.** c ↦ c·d mod R is a permutation of the runs (d is coprime to
//! R), so when N ≤ B every transition is used exactly once, and when N > B the M sampled
//! positions are distinct. The sampled positions form a fixed set (it depends on N and M
//! only) and the offset o rotates it uniformly around the buffer, so *every transition is
//! sampled with probability exactly M/N*. Hence for every (s, a, s′) the expected number of
//! its copies in the subsample is (M/N)·c_k(s,a,s′), where c_k counts it in D_k: the
//! subsample is an unbiased thinning of the buffer, and the next states it shows for each
//! (s,a) follow the empirical kernel P̂_k(s′|s,a) = c_k(s,a,s′)/c_k(s,a) in expectation. The
//! golden-ratio stride (a Weyl sequence) spreads the runs evenly over the buffer and makes
//! consecutive runs come from far-apart agents; within a run of L = 64 neighbouring agents the
//! reads are sequential, so a buffer far larger than the cache costs about one miss per run
//! (at N = 2^26 byte-column transitions: 43 M updates/s instead of 12 M/s with single
//! random reads). The population draws its agents i.i.d., so neighbours in the buffer are
//! unrelated; a source sorted by state would see runs of 64 updates of one state, which
//! slows propagation slightly but biases nothing. Sampling with replacement would waste a
//! fraction 1/e of the buffer when M = N.
//!
//! **Step size.** With w = 1, α = 1/(1 + (1−γ)·n) is the *rescaled linear* step size
//! (Wainwright 2019, "Stochastic approximation with cone-contractive operators"): the first
//! visit has α = 1 and overwrites the arbitrary initial Q, and the (1−γ) scaling keeps the
//! sum of step sizes large enough for the level of Q, which the bootstrap contracts only at
//! rate (1−γ)·α, to converge. Plain α = 1/(1+n) converges at rate n^−(1−γ) and fails outright
//! (exploitability 0.02–0.04 after 300 iterations in the online experiment below).
//! w < 1 trades noise for tracking and is available for experiments.
//!
//! **Memory cap H.** With unbounded counts α → 0, and a pair whose visit rate drops — an
//! action that stops being greedy loses a factor (1−ε)(|A|−1)/ε = 36 of its samples at the
//! defaults — keeps the value it learned at an old mean field for hundreds of iterations. The
//! cap bounds each pair's count by H times its previous-call visits: for a pair visited at a
//! steady rate it does not bind during the first H calls (α is exactly the rescaled linear
//! schedule) and afterwards makes α ≈ 1/((1−γ)·H·visits per call), a memory of about H
//! calls for the level of Q and (1−γ)·H calls for the differences between actions, the same
//! for rare and frequent pairs. A floor on α is not scale-free (the same floor is a
//! sub-iteration memory for a pair visited 10⁵ times per call and a 100-call memory for one
//! visited 100 times), and multiplying counts by λ per call frees a stale pair only after
//! log(n/n_steady)/(1−λ) calls. Smaller H tracks a moving ẑ faster but makes the learned
//! greedy action flip more often between near-tied actions; see the experiments below.
//!
//! **Passes.** At most one pass over the buffer per call: replaying transitions adds no
//! information about the kernel, and the next call brings N fresh ones.
//!
//! # Experiments
//! The runs behind the defaults, their numbers and the commands that reproduce them:
//! `doc/experiments/tq.md`.
//!
//! # Cost
//! O(M·|A|) per call with M ≤ B, independent of N (plus O(|S||A|) for the cap and O(log N)
//! for the stride), on one thread. Measured (release build, one core of an AMD EPYC,
//! `cargo bench --bench learners -- tq_sampled`): 58 M updates/s from byte columns of 2^20 transitions,
//! 43 M/s from 2^26 (both ≈ 20 ms per call at B = 2^20), 90–100 M/s from a buffer that
//! fits in cache; with w ≠ 1 the `powf` halves the rate.
//!
//! # Determinism
//! The result is a function of the sequence of (buffer contents, k, seed) and the parameters
//! only: one thread, one seeded stream per call, sums in a fixed order. Bitwise reproducible
//! on a given platform (with w ≠ 1 the step size uses `powf`, whose last bit may differ
//! between libm implementations).
//!
//! # Example
//! ```
//! use mfgsim::learner::{TqLearner, TqLearnerParams, VecTransitions};
//! use mfgsim::model::{GameParams, Gig, KernelTables, Model};
//! use mfgsim::space::uniform;
//!
//! let model = Gig::default();
//! let tables = KernelTables::of(&model, &uniform(model.num_states()));
//! // Three observed transitions (s, a, s′); rewards come from the tables.
//! let mut buffer = VecTransitions::new(tables);
//! buffer.transitions = vec![(0, 1, 1), (1, 3, 2), (2, 0, 1)];
//!
//! let mut learner = TqLearner::try_new(10, 4, GameParams::default(), TqLearnerParams::default())?;
//! let stats = learner.learn(&buffer, 1, 42);
//! assert_eq!(stats.updates, 3);
//! let mu = learner.policy();
//! assert!((mu.row(0).iter().sum::<f64>() - 1.0).abs() < 1e-12);
//! # Ok::<(), mfgsim::Error>(())
//! ```

use super::TransitionSource;
use crate::error::{Error, Result};
use crate::model::GameParams;
use crate::operator::trembling::{trembling_policy, weights, write_trembling_policy};
use crate::persist::{StateReader, StateWriter};
use crate::rng::{stream, Purpose};
use crate::space::{Policy, QTable};
use rand::RngExt;

/// Knobs of [`TqLearner`] (see the module docs for the rule they enter).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TqLearnerParams {
    /// B: the most updates one call of [`TqLearner::learn`] makes; the buffer is subsampled
    /// when it holds more transitions. Default 2^20 = 1 048 576; range ≥ 1.
    ///
    /// Trade-off: cost per call is proportional to min(B, N) (about 20 ms per 2^20 updates
    /// on one core); beyond B, more agents no longer reduce the noise of Q.
    pub budget: usize,
    /// w in α = (1 + (1−γ)·n)^(−w). Default 1 (rescaled linear step size); range (0.5, 1].
    ///
    /// Trade-off: smaller w keeps α larger (faster tracking) at the price of more noise in Q.
    pub step_exponent: f64,
    /// H, in calls (iterations): each step-size count n(s,a) is capped at H times the pair's
    /// visits during the previous call. Default 300; range ≥ 1, `f64::INFINITY` for no cap.
    ///
    /// Trade-off: smaller H tracks a moving mean field faster (memory ≈ (1−γ)·H calls for
    /// action preferences, ≈ H calls for the level of Q) but lets noise flip the greedy action
    /// between near-tied actions more often.
    #[serde(deserialize_with = "crate::json::null_as_infinity")]
    pub memory: f64,
}

impl Default for TqLearnerParams {
    fn default() -> Self {
        TqLearnerParams {
            budget: 1 << 20,
            step_exponent: 1.0,
            memory: 300.0,
        }
    }
}

impl TqLearnerParams {
    /// Checks every field against the ranges in the field docs.
    ///
    /// # Errors
    /// [`Error::Param`] naming the first invalid key (`budget`, `step_exponent`, `memory`).
    pub fn validate(&self) -> Result<()> {
        if self.budget == 0 {
            return Err(Error::param("budget", "must be >= 1, got 0"));
        }
        let w = self.step_exponent;
        if !(w > 0.5 && w <= 1.0) {
            return Err(Error::param(
                "step_exponent",
                format!("must be in (0.5, 1], got {w}"),
            ));
        }
        let h = self.memory;
        if h.is_nan() || h < 1.0 {
            return Err(Error::param(
                "memory",
                format!("must be >= 1 (or inf for no cap), got {h}"),
            ));
        }
        Ok(())
    }
}

/// What one call of [`TqLearner::learn`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearnStats {
    /// Number of updates made: min(B, N).
    pub updates: usize,
    /// Number of transitions N in the source.
    pub buffer_len: usize,
    /// Mean over the updates of |r + γ·G(Q)(s′) − Q(s,a)| before the update (0 when no
    /// update was made). Falls to the noise level of the targets once Q has converged.
    pub mean_abs_td_error: f64,
    /// Mean step size α over the updates (0 when no update was made).
    pub mean_step_size: f64,
}

/// TQ-learning on the transitions of successive population steps (see the module docs).
///
/// Holds Q, the step-size counts and the previous call's visit counts; all three carry over
/// between calls of [`TqLearner::learn`].
#[derive(Debug, Clone, PartialEq)]
pub struct TqLearner {
    game: GameParams,
    params: TqLearnerParams,
    q: QTable,
    /// n(s,a), row-major in (s, a).
    counts: Vec<f64>,
    /// v(s,a): visits during the last call that made updates.
    visits: Vec<u64>,
}

/// L: the subsample walk takes runs of this many consecutive transitions (one cache line of
/// a byte column), so a large buffer costs one cache miss per run instead of one per update.
pub const RUN_LEN: usize = 64;

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The stride d of the subsample walk over `n` indices: the integer nearest n/φ, moved up
/// to the next integer coprime to n (0 for n ≤ 1).
fn weyl_stride(n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    const INV_PHI: f64 = 0.618_033_988_749_894_8;
    let mut d = ((n as f64 * INV_PHI).round() as usize).clamp(1, n - 1);
    while gcd(d, n) != 1 {
        d = if d + 1 < n { d + 1 } else { 1 };
    }
    d
}

impl TqLearner {
    /// A learner for `num_states` × `num_actions` with Q = 0 and all counts 0.
    ///
    /// # Errors
    /// [`Error::Param`] for invalid `params` (see [`TqLearnerParams::validate`]), an invalid
    /// `game` (γ ∉ (0, 1) or ε ∉ [0, 1)) or a zero size.
    pub fn try_new(
        num_states: usize,
        num_actions: usize,
        game: GameParams,
        params: TqLearnerParams,
    ) -> Result<Self> {
        params.validate()?;
        GameParams::try_new(game.gamma, game.epsilon)?;
        if num_states == 0 {
            return Err(Error::param("num_states", "must be >= 1, got 0"));
        }
        if num_actions == 0 {
            return Err(Error::param("num_actions", "must be >= 1, got 0"));
        }
        Ok(TqLearner {
            game,
            params,
            q: QTable::zeros(num_states, num_actions),
            counts: vec![0.0; num_states * num_actions],
            visits: vec![0; num_states * num_actions],
        })
    }

    /// The parameters.
    pub fn params(&self) -> &TqLearnerParams {
        &self.params
    }

    /// γ and ε.
    pub fn game(&self) -> GameParams {
        self.game
    }

    /// The current Q (an estimate of Q*_z at the recent mean fields).
    pub fn q(&self) -> &QTable {
        &self.q
    }

    /// Starts afresh: Q = 0, n(s,a) = 0 and v(s,a) = 0, as [`TqLearner::try_new`] leaves them
    /// (TMFQ's `cold_start`).
    pub fn reset(&mut self) {
        self.q.values_mut().fill(0.0);
        self.counts.fill(0.0);
        self.visits.fill(0);
    }

    /// The step-size counts n(s,a), row-major in (s, a), as left by the last call.
    pub fn step_counts(&self) -> &[f64] {
        &self.counts
    }

    /// Saves Q, n(s,a) and v(s,a) (sections `tq_q`, `tq_step_counts`, `tq_visits`).
    ///
    /// # Errors
    /// The writer's error.
    pub fn save_state(&self, w: &mut dyn StateWriter) -> Result<()> {
        w.f64s("tq_q", self.q.values())?;
        w.f64s("tq_step_counts", &self.counts)?;
        w.u64s("tq_visits", &self.visits)
    }

    /// Restores what [`TqLearner::save_state`] saved (same sizes).
    ///
    /// # Errors
    /// The reader's error.
    pub fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        r.f64s("tq_q", self.q.values_mut())?;
        r.f64s("tq_step_counts", &mut self.counts)?;
        r.u64s("tq_visits", &mut self.visits)
    }

    /// Fills `policy` with π^ε_Q, reusing its storage.
    ///
    /// # Panics
    /// When `policy` has other sizes than the learner.
    pub fn write_policy(&self, policy: &mut Policy) {
        assert!(
            policy.num_states() == self.q.num_states()
                && policy.num_actions() == self.q.num_actions(),
            "TqLearner::write_policy: policy sizes disagree"
        );
        write_trembling_policy(&self.q, self.game.epsilon, policy);
    }

    /// π^ε_Q as a new [`Policy`].
    pub fn policy(&self) -> Policy {
        trembling_policy(&self.q, self.game.epsilon)
    }

    /// One call of TQ-learning on the transitions of `src` (steps 1–3 of the module docs'
    /// formula); `iteration` (k) and `seed` select the subsample. A source with no
    /// transitions changes nothing.
    ///
    /// Cost: about 20 ms per 2^20 updates on one core (see the module docs' `# Cost`).
    ///
    /// # Panics
    /// When the source's tables have other sizes than the learner, or a transition holds a
    /// state or action out of range.
    pub fn learn<S: TransitionSource + ?Sized>(
        &mut self,
        src: &S,
        iteration: u64,
        seed: u64,
    ) -> LearnStats {
        let (ns, na) = (self.q.num_states(), self.q.num_actions());
        let tables = src.tables();
        assert!(
            tables.num_states() == ns && tables.num_actions() == na,
            "TqLearner::learn: tables are {}×{}, the learner is {ns}×{na}",
            tables.num_states(),
            tables.num_actions(),
        );
        let n = src.len();
        let m = n.min(self.params.budget);
        let mut stats = LearnStats {
            updates: m,
            buffer_len: n,
            mean_abs_td_error: 0.0,
            mean_step_size: 0.0,
        };
        if m == 0 {
            return stats;
        }

        // 1. Cap the counts by the previous call's visits.
        let h = self.params.memory;
        for (c, v) in self.counts.iter_mut().zip(&mut self.visits) {
            *c = c.min(h * (*v).max(1) as f64);
            *v = 0;
        }

        // 2. The walk: runs c = 0, d, 2d, … (mod R) of the buffer rotated by o.
        let mut rng = stream(seed, Purpose::Learn, iteration, 0);
        let offset = rng.random_range(0..n);
        let num_runs = n.div_ceil(RUN_LEN);
        let run_stride = weyl_stride(num_runs);

        // 3. The updates. Each run is read into `run` first: its reads do not depend on the
        // updates, so they overlap; the order of the updates is the walk's.
        let (wg, wo) = weights(self.game.epsilon, na);
        let gamma = self.game.gamma;
        let scale = 1.0 - gamma;
        let w = self.params.step_exponent;
        let q = self.q.values_mut();
        let (mut sum_td, mut sum_alpha) = (0.0, 0.0);
        let mut run = [(0usize, 0usize, 0usize); RUN_LEN];
        let mut c = 0;
        let mut remaining = m;
        while remaining > 0 {
            let start = c * RUN_LEN;
            let len = RUN_LEN.min(n - start).min(remaining);
            remaining -= len;
            let mut i = offset + start;
            if i >= n {
                i -= n;
            }
            for slot in &mut run[..len] {
                *slot = src.get(i);
                i += 1;
                if i == n {
                    i = 0;
                }
            }
            c += run_stride;
            if c >= num_runs {
                c -= num_runs;
            }
            for &(s, a, s_next) in &run[..len] {
                assert!(
                    s < ns && a < na && s_next < ns,
                    "TqLearner::learn: transition ({s}, {a}, {s_next}) out of range"
                );
                let g = g_of_row(&q[s_next * na..(s_next + 1) * na], wg, wo);
                let target = tables.r(s, a) + gamma * g;
                let k = s * na + a;
                let base = 1.0 + scale * self.counts[k];
                let alpha = if w == 1.0 { 1.0 / base } else { base.powf(-w) };
                let td = target - q[k];
                q[k] += alpha * td;
                self.counts[k] += 1.0;
                self.visits[k] += 1;
                sum_td += td.abs();
                sum_alpha += alpha;
            }
        }
        stats.mean_abs_td_error = sum_td / m as f64;
        stats.mean_step_size = sum_alpha / m as f64;
        stats
    }
}

/// G(Q)(s) of one row Q(s, ·), given the trembling weights (greedy, each other):
/// (wg − wo)·max + wo·Σ, which equals wg·Q(s,a*) + wo·Σ_{a≠a*} Q(s,a).
#[inline]
fn g_of_row(row: &[f64], wg: f64, wo: f64) -> f64 {
    let mut best = row[0];
    let mut sum = row[0];
    for v in &row[1..] {
        sum += v;
        if *v > best {
            best = *v;
        }
    }
    (wg - wo) * best + wo * sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learner::VecTransitions;
    use crate::model::{Gig, Infection, KernelTables, Model};
    use crate::operator::{exploitability, g_value, greedy_action, Exploitability, TqIteration};
    use crate::rng::StreamRng;
    use crate::space::{sup_distance, uniform};
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Index drawn from `pmf` with the uniform number `u` (inverse CDF, last index on
    /// round-off).
    fn sample_index(pmf: &[f64], u: f64) -> usize {
        let mut acc = 0.0;
        for (j, p) in pmf.iter().enumerate() {
            acc += p;
            if u < acc {
                return j;
            }
        }
        pmf.len() - 1
    }

    /// Replaces the transitions of `buf` with `m` samples from the exact kernel in its tables:
    /// s uniform, a uniform, s′ ~ P(·|s,a,z) — a behaviour that visits every (s,a).
    fn resample_uniform(buf: &mut VecTransitions, m: usize, rng: &mut StreamRng) {
        let (ns, na) = (buf.tables.num_states(), buf.tables.num_actions());
        buf.transitions.clear();
        for _ in 0..m {
            let s = rng.random_range(0..ns);
            let a = rng.random_range(0..na);
            let s_next = sample_index(buf.tables.row(s, a), rng.random::<f64>());
            buf.transitions.push((s, a, s_next));
        }
    }

    fn q_star(tables: &KernelTables, game: GameParams) -> QTable {
        let mut q = QTable::zeros(tables.num_states(), tables.num_actions());
        let out = TqIteration::new().run(tables, game, &mut q, 1e-13, 100_000);
        assert!(out.converged);
        q
    }

    /// Learns at a fixed z from `per_call` fresh uniform-behaviour samples per call; returns
    /// ||Q − Q*_z||_∞ after each call, the exploitability of π^ε_Q at z and the number of
    /// states whose greedy action differs from Q*_z's although Q*_z's gap there exceeds
    /// `margin`.
    fn learn_at_fixed_z(
        model: &dyn Model,
        per_call: usize,
        calls: usize,
        margin: f64,
        seed: u64,
    ) -> (Vec<f64>, Exploitability, usize) {
        let game = GameParams::default();
        let (ns, na) = (model.num_states(), model.num_actions());
        let z = uniform(ns);
        let mut buf = VecTransitions::new(KernelTables::of(model, &z));
        let star = q_star(&buf.tables, game);
        let mut learner = TqLearner::try_new(ns, na, game, TqLearnerParams::default()).unwrap();
        let mut rng = stream(seed, Purpose::Eval, 0, 0);
        let mut errors = Vec::new();
        for k in 0..calls as u64 {
            resample_uniform(&mut buf, per_call, &mut rng);
            learner.learn(&buf, k, seed);
            errors.push(sup_distance(learner.q().values(), star.values()));
        }
        let pi = learner.policy();
        let e = exploitability(&buf.tables, game, &pi, &z, &star);
        let wrong = (0..ns)
            .filter(|&s| {
                let best = greedy_action(star.row(s));
                best != pi.greedy()[s] && star.get(s, best) - star.get(s, pi.greedy()[s]) > margin
            })
            .count();
        (errors, e, wrong)
    }

    // Measured with 2^16 samples per call (seeds 7/8/9): infection sup error 0.032/0.030/0.031
    // after 20 calls and 0.013/0.008/0.009 after 160 (8× the samples: 2.5–3.8× smaller,
    // sampling noise alone would give √8 = 2.8×); max exploitability 0.0011/0.0034/0.0042.
    // Gig: 0.046/0.021/0.033 → 0.013/0.012/0.006, max exploitability 0/0.0018/0.0028. No
    // greedy action differs from Q*'s where Q*'s gap exceeds 0.01. The thresholds leave
    // ~1.5–2× room over the worst measured value.
    #[test]
    fn approaches_q_star_at_a_fixed_mean_field_infection() {
        let (err, e, wrong) = learn_at_fixed_z(&Infection::default(), 1 << 16, 160, 0.01, 7);
        assert!(err[19] < 0.06, "after 20 calls: {}", err[19]);
        assert!(err[159] < 0.02, "after 160 calls: {}", err[159]);
        assert!(err[159] < 0.6 * err[19], "{} → {}", err[19], err[159]);
        assert_eq!(wrong, 0, "greedy actions differ where Q* has a gap > 0.01");
        assert!(e.max < 0.008 && e.weighted < 0.003, "{e:?}");
    }

    #[test]
    fn approaches_q_star_at_a_fixed_mean_field_gig() {
        let (err, e, wrong) = learn_at_fixed_z(&Gig::default(), 1 << 16, 160, 0.01, 7);
        assert!(err[19] < 0.06, "after 20 calls: {}", err[19]);
        assert!(err[159] < 0.02, "after 160 calls: {}", err[159]);
        assert!(err[159] < 0.6 * err[19], "{} → {}", err[19], err[159]);
        assert_eq!(wrong, 0, "greedy actions differ where Q* has a gap > 0.01");
        assert!(e.max < 0.005 && e.weighted < 0.003, "{e:?}");
    }

    fn run_fixed(seed: u64, params: TqLearnerParams) -> TqLearner {
        let model = Gig::default();
        let mut buf = VecTransitions::new(KernelTables::of(&model, &uniform(10)));
        let mut rng = stream(99, Purpose::Eval, 0, 0);
        let mut learner = TqLearner::try_new(10, 4, GameParams::default(), params).unwrap();
        for k in 0..5 {
            resample_uniform(&mut buf, 5000, &mut rng);
            learner.learn(&buf, k, seed);
        }
        learner
    }

    fn bits(q: &QTable) -> Vec<u64> {
        q.values().iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn same_seed_gives_bitwise_identical_q_and_another_seed_does_not() {
        for budget in [1 << 20, 1000] {
            let p = TqLearnerParams {
                budget,
                ..Default::default()
            };
            let (a, b, c) = (run_fixed(1, p), run_fixed(1, p), run_fixed(2, p));
            assert_eq!(bits(a.q()), bits(b.q()));
            assert_eq!(a, b);
            assert_ne!(bits(a.q()), bits(c.q()), "budget {budget}");
        }
    }

    #[test]
    fn first_visit_sets_q_to_the_target() {
        let model = Infection::default();
        let mut buf = VecTransitions::new(KernelTables::of(&model, &uniform(25)));
        buf.transitions = vec![(3, 2, 7)];
        let mut l = TqLearner::try_new(25, 5, GameParams::default(), Default::default()).unwrap();
        let st = l.learn(&buf, 0, 0);
        // α = 1 and G(0) = 0: Q(3,2) = r(3,2,z) exactly.
        assert_eq!(l.q().get(3, 2), buf.tables.r(3, 2));
        assert_eq!(st.mean_step_size, 1.0);
        assert_eq!(l.step_counts()[3 * 5 + 2], 1.0);
        assert_eq!(l.q().values().iter().filter(|v| **v != 0.0).count(), 1);
    }

    proptest! {
        /// One update is eq. 6 with α = (1 + (1−γ)n)^(−w), G from the crate's own π^ε.
        #[test]
        fn one_update_is_eq_6(
            q0 in prop::collection::vec(-5.0f64..5.0, 10 * 4),
            s in 0usize..10, a in 0usize..4, s_next in 0usize..10,
            n in 0u32..1000,
            w in 0.51f64..=1.0,
            gamma in 0.05f64..0.99,
            epsilon in 0.0f64..0.9,
        ) {
            let model = Gig::default();
            let mut buf = VecTransitions::new(KernelTables::of(&model, &uniform(10)));
            buf.transitions = vec![(s, a, s_next)];
            let game = GameParams { gamma, epsilon };
            let params = TqLearnerParams { step_exponent: w, ..Default::default() };
            let mut l = TqLearner::try_new(10, 4, game, params).unwrap();
            l.q.values_mut().copy_from_slice(&q0);
            l.counts[s * 4 + a] = f64::from(n);
            l.visits[s * 4 + a] = u64::from(n);
            let before = l.q().clone();
            l.learn(&buf, 0, 0);

            let alpha = (1.0 + (1.0 - gamma) * f64::from(n)).powf(-w);
            let pi = trembling_policy(&before, epsilon);
            let g: f64 = (0..4).map(|b| pi.get(s_next, b) * before.get(s_next, b)).sum();
            prop_assert!((g - g_value(before.row(s_next), epsilon)).abs() < 1e-12);
            let expected = (1.0 - alpha) * before.get(s, a) + alpha * (buf.tables.r(s, a) + gamma * g);
            prop_assert!((l.q().get(s, a) - expected).abs() < 1e-12, "{} vs {expected}", l.q().get(s, a));
            for (j, (x, y)) in l.q().values().iter().zip(before.values()).enumerate() {
                if j != s * 4 + a {
                    prop_assert_eq!(x.to_bits(), y.to_bits());
                }
            }
            prop_assert_eq!(l.step_counts()[s * 4 + a], f64::from(n) + 1.0);
        }
    }

    /// A source that counts how often each index is read.
    struct Counting {
        reads: Vec<AtomicU32>,
        tables: KernelTables,
    }

    impl Counting {
        fn new(n: usize) -> Self {
            Counting {
                reads: (0..n).map(|_| AtomicU32::new(0)).collect(),
                tables: KernelTables::of(&Gig::default(), &uniform(10)),
            }
        }

        fn take(&self) -> Vec<u32> {
            self.reads
                .iter()
                .map(|r| r.swap(0, Ordering::Relaxed))
                .collect()
        }
    }

    impl TransitionSource for Counting {
        fn len(&self) -> usize {
            self.reads.len()
        }
        fn get(&self, i: usize) -> (usize, usize, usize) {
            self.reads[i].fetch_add(1, Ordering::Relaxed);
            (i % 10, i % 4, (i + 1) % 10)
        }
        fn tables(&self) -> &KernelTables {
            &self.tables
        }
    }

    #[test]
    fn stride_is_coprime_and_near_n_over_phi() {
        assert_eq!(weyl_stride(0), 0);
        assert_eq!(weyl_stride(1), 0);
        for n in 2..3000 {
            let d = weyl_stride(n);
            assert!(d >= 1 && d < n && gcd(d, n) == 1, "n {n} d {d}");
            assert!(
                (d as f64 - n as f64 / 1.618_033_988_749_895).abs() < 8.0,
                "n {n} d {d}"
            );
        }
    }

    #[test]
    fn each_transition_is_used_once_when_the_buffer_fits_the_budget() {
        let mut l = TqLearner::try_new(10, 4, GameParams::default(), Default::default()).unwrap();
        for n in [1, 2, 3, 10, 63, 64, 65, 128, 997, 4097] {
            let src = Counting::new(n);
            let st = l.learn(&src, 5, 9);
            assert_eq!(st.updates, n);
            assert!(src.take().iter().all(|&c| c == 1), "n {n}");
        }
    }

    #[test]
    fn the_subsample_has_distinct_indices_each_with_probability_m_over_n() {
        // One run (N < L) and several runs with a partial last one (N = 300 = 4·64 + 44).
        for (n, budget, trials) in [(10usize, 3usize, 4000u64), (300, 100, 3000)] {
            let params = TqLearnerParams {
                budget,
                ..Default::default()
            };
            let mut l = TqLearner::try_new(10, 4, GameParams::default(), params).unwrap();
            let src = Counting::new(n);
            let mut total = vec![0u32; n];
            for t in 0..trials {
                l.learn(&src, t, t / 7);
                let reads = src.take();
                assert_eq!(reads.iter().sum::<u32>() as usize, budget);
                assert!(reads.iter().all(|&c| c <= 1), "duplicate index: {reads:?}");
                for (acc, r) in total.iter_mut().zip(reads) {
                    *acc += r;
                }
            }
            // Each index: Binomial(trials, budget/n); allow 5 standard deviations.
            let p = budget as f64 / n as f64;
            let mean = trials as f64 * p;
            let sd = (mean * (1.0 - p)).sqrt();
            for c in &total {
                assert!((f64::from(*c) - mean).abs() < 5.0 * sd, "n {n}: {total:?}");
            }
        }
    }

    #[test]
    fn counts_are_capped_by_memory_times_previous_visits() {
        let params = TqLearnerParams {
            memory: 2.0,
            ..Default::default()
        };
        let model = Gig::default();
        let mut buf = VecTransitions::new(KernelTables::of(&model, &uniform(10)));
        let mut l = TqLearner::try_new(10, 4, GameParams::default(), params).unwrap();
        buf.transitions = vec![(0, 0, 1); 5];
        l.learn(&buf, 0, 0); // n = 5, v = 5
        buf.transitions = vec![(0, 0, 1)];
        l.learn(&buf, 1, 0); // cap 2·5 = 10 does not bind: n = 6, v = 1
        assert_eq!(l.step_counts()[0], 6.0);
        buf.transitions = vec![(1, 1, 1)];
        l.learn(&buf, 2, 0); // cap 2·1: n(0,0) = 2; n(1,1) = 1
        assert_eq!(l.step_counts()[0], 2.0);
        assert_eq!(l.step_counts()[4 + 1], 1.0);
        // No cap with H = ∞.
        let mut l = TqLearner::try_new(
            10,
            4,
            GameParams::default(),
            TqLearnerParams {
                memory: f64::INFINITY,
                ..Default::default()
            },
        )
        .unwrap();
        for k in 0..3 {
            buf.transitions = vec![(0, 0, 1); 4];
            l.learn(&buf, k, 0);
            buf.transitions = vec![(1, 1, 1)];
            l.learn(&buf, k + 10, 0);
        }
        assert_eq!(l.step_counts()[0], 12.0);
    }

    #[test]
    fn an_empty_source_changes_nothing() {
        let model = Gig::default();
        let mut buf = VecTransitions::new(KernelTables::of(&model, &uniform(10)));
        let mut l = run_fixed(3, TqLearnerParams::default());
        let before = l.clone();
        buf.transitions.clear();
        let st = l.learn(&buf, 77, 3);
        assert_eq!(
            st,
            LearnStats {
                updates: 0,
                buffer_len: 0,
                mean_abs_td_error: 0.0,
                mean_step_size: 0.0
            }
        );
        assert_eq!(l, before);
    }

    #[test]
    fn invalid_parameters_are_named() {
        let bad = [
            (
                TqLearnerParams {
                    budget: 0,
                    ..Default::default()
                },
                "budget",
            ),
            (
                TqLearnerParams {
                    step_exponent: 0.5,
                    ..Default::default()
                },
                "step_exponent",
            ),
            (
                TqLearnerParams {
                    step_exponent: f64::NAN,
                    ..Default::default()
                },
                "step_exponent",
            ),
            (
                TqLearnerParams {
                    memory: 0.5,
                    ..Default::default()
                },
                "memory",
            ),
            (
                TqLearnerParams {
                    memory: f64::NAN,
                    ..Default::default()
                },
                "memory",
            ),
        ];
        for (p, key) in bad {
            let e = p.validate().unwrap_err();
            assert!(matches!(&e, Error::Param { key: k, .. } if k == key), "{e}");
            assert!(TqLearner::try_new(2, 2, GameParams::default(), p).is_err());
        }
        assert!(TqLearnerParams::default().validate().is_ok());
        let game = GameParams {
            gamma: 1.0,
            epsilon: 0.1,
        };
        let e = TqLearner::try_new(2, 2, game, Default::default()).unwrap_err();
        assert!(e.to_string().contains("gamma"), "{e}");
        let e = TqLearner::try_new(0, 2, GameParams::default(), Default::default()).unwrap_err();
        assert!(e.to_string().contains("num_states"), "{e}");
        let e = TqLearner::try_new(2, 0, GameParams::default(), Default::default()).unwrap_err();
        assert!(e.to_string().contains("num_actions"), "{e}");
    }

    #[test]
    #[should_panic(expected = "tables are 10×4, the learner is 25×5")]
    fn tables_of_another_size_panic() {
        let buf = VecTransitions::new(KernelTables::of(&Gig::default(), &uniform(10)));
        let mut l = TqLearner::try_new(25, 5, GameParams::default(), Default::default()).unwrap();
        l.learn(&buf, 0, 0);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn a_transition_out_of_range_panics() {
        let mut buf = VecTransitions::new(KernelTables::of(&Gig::default(), &uniform(10)));
        buf.transitions = vec![(0, 4, 1)];
        let mut l = TqLearner::try_new(10, 4, GameParams::default(), Default::default()).unwrap();
        l.learn(&buf, 0, 0);
    }

    #[test]
    fn policy_is_the_trembling_policy_of_q() {
        let l = run_fixed(5, TqLearnerParams::default());
        let mut p = Policy::uniform(10, 4);
        l.write_policy(&mut p);
        assert_eq!(p, trembling_policy(l.q(), 0.1));
        assert_eq!(p, l.policy());
    }
}
