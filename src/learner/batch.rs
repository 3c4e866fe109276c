//! Batch TQ-learning from transition counts: the synchronous form of eq. 6 (Lee et al. 2021)
//! on a count-weighted estimate of the kernel, a second learning rule of online TMFQ
//! (`[learner] rule = "batch"`).
//!
//! A population step's N transitions are, for a learner, fully described by their counts
//! c_k(s,a,s′) (the reward is r(s,a,ẑ_k), known for every pair): agents are exchangeable and
//! the order of the buffer carries no information. The agent engine counts them inside its
//! step kernel ([`crate::population::Population::set_count_transitions`]); the count engine's
//! flows are exactly these counts. One call of [`BatchTqLearner::learn_counts`] uses all N
//! transitions at a cost of O(|S|·|A|·|S|) whatever N is.
//!
//! # Formula
//! ```text
//! Call k, with counts c_k(s,a,s′) of the N transitions taken at ẑ_k, n_k(s,a) = Σ_s′ c_k(s,a,s′),
//! ẑ_k(s) = Σ_a n_k(s,a) / N:
//!
//!  1. for every (s,a) with n_k(s,a) > 0:                                  (kernel memory)
//!        m       = clamp( S / n_k(s,a), 1, H )                 memory in calls
//!        λ       = 1 − 1/m                                     forgetting factor
//!        if the row has a memory (ΣW > 0):                     (drift cut)
//!           d    = ‖Z(s,a,·)/ΣW − ẑ_k‖₁ − Σ_s √(2·ẑ_k(s)(1 − ẑ_k(s))/(π·N))
//!           τ    = max( δ, √(G / ΣW) )
//!           if d > τ:  λ ← min( λ, n_k(s,a)·τ / ((d − τ)·ΣW) )
//!        W(s,a,s′) ← λ·W(s,a,s′) + c_k(s,a,s′)
//!        Z(s,a,·)  ← λ·Z(s,a,·)  + n_k(s,a)·ẑ_k
//!     P̂(s′|s,a) = W(s,a,s′) / Σ_s″ W(s,a,s″)                 (rows never visited: no P̂)
//!  2. repeat K times, or until ‖ΔQ‖_∞ < SWEEP_TOL:                       (synchronous eq. 6, α = 1)
//!        for every (s,a) with a P̂ row, all at once:
//!        Q(s,a) ← r(s,a,ẑ_k) + γ·Σ_s′ P̂(s′|s,a)·G(Q)(s′)
//!  3. μ_k = π^ε_Q
//!
//!  G(Q)(s′) = Σ_a′ π^ε_Q(s′,a′)·Q(s′,a′)        (as in [`super::tq`])
//! ```
//! * Q: the TQ-table, 0 before the first call, carried over (warm start); W, Z: 0 at first.
//!   ΣW = Σ_s′ W(s,a,s′); Z/ΣW is the mean field the row's memory was counted at (the
//!   count-weighted mean of the ẑ_j of its calls).
//! * S = [`BatchTqParams::samples`], H = [`BatchTqParams::memory`],
//!   K = [`BatchTqParams::sweeps`], δ = [`BatchTqParams::drift`],
//!   G = [`BatchTqParams::drift_gate`]; SWEEP_TOL = [`SWEEP_TOL`].
//!
//! # Why this rule
//!
//! **Average the kernel, not the targets.** Synchronous Q-learning,
//! Q ← (1 − α)·Q + α·(r + γ·P̂_k·G(Q)), with one fresh P̂_k per call, averages the targets
//! over calls with weights set by α. The target is linear in P̂, so the same average of the
//! *kernels* removes exactly the same sampling noise; but then the average can be taken
//! first and F applied to it with α = 1: every past sample is re-evaluated with the current
//! G(Q) instead of the G(Q) of the call it arrived in. The noise of Q is then that of the
//! fixed point of (r, P̂), set by the effective sample size of each row, while Q itself
//! contracts at rate γ per sweep whatever the noise level. A step size that decays like a
//! sample count (the sampled rule's α = 1/(1 + (1−γ)n)) moves the level of Q only at rate
//! (1−γ)·α: at 10^12 agents it would freeze Q long before the 1.4·10⁻⁴ Q-gaps of the
//! infection equilibrium are resolved, while α = 1 on a near-exact P̂ is TQ-value iteration
//! on the empirical kernel.
//!
//! **Forgetting chosen from the counts.** The memory of row (s,a) is m = S/n_k(s,a) calls,
//! so its effective sample size n_k·m is S whenever 1 ≤ m ≤ H: the row estimate has a fixed
//! noise level sd(P̂) ≈ √(P(1−P)/S), and the shortest memory that reaches it. A row with many
//! samples per call (greedy actions, or any row at N = 10^12: ≈ 10^9 samples per row) keeps
//! only the current call (m = 1: no stale kernel, the mean field moves the kernel and the old
//! counts were taken at another ẑ); a sparse row (an action played only by the tremble, a rare
//! state) averages up to H calls, like the sampled rule's memory cap. Counts forgotten at the
//! same rate in a row do not change P̂ of that row, so only the ratio of fresh to old counts
//! matters: the first visit sets W = c_k (no arbitrary prior), and a row that is not visited
//! keeps its estimate.
//!
//! **Forget the mean fields that are gone.** The kernel of a row moves with ẑ, so a memory
//! is only as good as the mean fields it was counted at. Two ways a memory goes stale were
//! measured on infection (the per-row error of P̂·G(Q*) against the exact kernel at ẑ_k):
//! (a) the start: ẑ moves from uniform (mean state 12) to the equilibrium (mean ≈ 20) in
//! ≈ 30 calls, and the rows of actions played only by the tremble (m = H) still carried
//! −3·10⁻⁴ of Q from those calls after 300 iterations at N = 10⁸; (b) a greedy action that is
//! demoted keeps the heavy counts of its greedy days, taken at the mean field its own
//! choice produced, and it then learns at the tremble's rate (1/H per call). (b) is a trap:
//! with a(19) = 1 instead of 0 the population sits one state higher (mean 20.53 instead of
//! 20.02, 3% less infection), row (19, 0) still holds the kernel of the old mean field, and
//! the wrong choice confirms itself (max exploitability 2.4·10⁻⁴ at N = 10⁸ for 9 seeds in
//! 10 on the count engine; seed 2 also at 600 and 1 200 iterations: it is not slowness). A
//! longer memory does not help (S = 10⁹, H = 300: 3 seeds of 4 still at 2.4·10⁻⁴), a shorter
//! one is noisier (H = 1: 8·10⁻⁴). So each row keeps the
//! mean field of its memory, Z/ΣW, and when the memory is farther than τ (in L1, less the
//! expected ‖ẑ_k − z‖₁ of N multinomial draws, so that sampling noise alone does not count)
//! from ẑ_k, the old weight is cut so that after the call the memory's mean field is exactly τ
//! from ẑ_k: λ·ΣW/(λ·ΣW + n)·d = τ. A still mean field never cuts, so at a stationary ẑ the
//! memory is the plain one. Drift in z is the generic cause of kernel drift (the kernel is a
//! function of z); a test on the counts themselves (a row's new counts against its P̂) was
//! ruled out by arithmetic: the 3% change of infection above moves a tremble row's
//! χ² statistic by ≈ 1.5 per call against a noise of ≈ 8, hundreds of calls to detect.
//!
//! **Gate by noise.** A cut trades bias for noise, and a sparse row is noise-bound: the bias
//! of a drift d is ∝ d while the noise of a row of W samples is ∝ 1/√W, so the row tolerates
//! τ = max(δ, √(G/W)). Without the gate (G = 0) small N suffers: at N = 10⁵ the noise flips
//! greedy actions, the flips move ẑ (0.3 of mass between states 19 and 20), the cuts shorten
//! every memory, and the run lands at 0.03–0.39 max exploitability instead of ≈ 10⁻³ (count
//! engine, δ = 0.1, 10 seeds). With G = 10⁴ a row of 10⁴ samples tolerates d = 1, one of
//! 10⁶ samples d = 0.1.
//!
//! **Sweeps.** A sweep costs |S|²|A| multiply-adds (3 125 for infection, ≈ 2 µs), so running
//! F on the estimate to convergence is cheap; warm-started, the change per sweep falls by γ,
//! and K bounds the work when ẑ still moves. Rows never visited keep Q = 0 (no information),
//! as in the sampled rule.
//!
//! # Knobs
//! * S (`batch_samples`, default 10⁹, range ≥ 1): effective samples per row. Larger S lowers
//!   the noise of P̂ (and of the learned greedy action between near-tied actions) but
//!   lengthens the memory of every row with fewer than S samples per call. With the drift
//!   cut the bias of a long memory is bounded, so S is large: every row of infection keeps
//!   H calls up to N ≈ 3·10⁸, and rows with ≥ 10⁹ samples per call (N = 10¹²) keep one.
//!   (Was 10⁷ without the cut; S = 10⁷ with the cut: 2 seeds in 10 at 0 at 10⁸ instead of
//!   10, 2 instead of 5 at 10⁷; count engine.)
//! * H (`batch_memory`, default 100 calls, range ≥ 1, finite): the longest memory. H = 300
//!   with the cut (count engine, seeds 0–9): better at 10⁵ (median 2.5·10⁻⁴ instead of
//!   9.5·10⁻⁴), worse at 10⁶ and 10⁷ (1 and 2 seeds in 10 at 0 instead of 3 and 5), the same
//!   at 10⁸ (10 in 10). H = 100 is kept for the N where accuracy can grow.
//! * K (`batch_sweeps`, default 50, range ≥ 1): most sweeps per call (γ^50 ≈ 0.005, so a
//!   warm-started Q is within ~10⁻³ of the estimate's fixed point after one call and far
//!   closer after a few; ≈ 0.07 ms per call on infection).
//! * δ (`batch_drift`, default 0.1, > 0, `inf` = never cut): the drift tolerance. Count
//!   engine, seeds 0–9, seeds at 0 for N = 10⁶ / 10⁷ / 10⁸: δ = 0.05: 1 / 4 / 9 (the tenth
//!   1.4·10⁻⁴); δ = 0.1: 3 / 5 / 10; δ = 0.2: 1 / 4 / 10.
//! * G (`batch_drift_gate`, default 10⁴, ≥ 0, finite): the noise gate. G = 0: 0.03–0.39 at
//!   10⁵ (see above); G = 10⁴: 20 seeds in 20 (0–19) at 0 at 10⁸; G = 10⁵: better at 10⁵
//!   (median 2.4·10⁻⁴), 2 seeds of 20 at 2.2·10⁻⁴ at 10⁸ (one state stuck for 200 calls
//!   before the cut reaches it).
//!
//! # Experiments
//! The runs behind the defaults, their numbers and the commands that reproduce them:
//! `doc/experiments/batch.md`.
//!
//! # Cost
//! O(|S|²·|A|·(1 + K)) per call, independent of N, on one thread (the counting itself is in
//! the population step, one increment per agent); the drift cut adds 2·|S|²·|A| (ẑ_k, the
//! distances and Z).
//!
//! # Determinism
//! The result is a function of the sequence of (counts, tables) and the parameters only:
//! integer counts, sums in a fixed order, no random numbers. Bitwise reproducible.
//!
//! # Example
//! ```
//! use mfgsim::learner::{BatchTqLearner, BatchTqParams};
//! use mfgsim::model::{GameParams, Gig, KernelTables, Model};
//! use mfgsim::space::uniform;
//!
//! let model = Gig::default();
//! let tables = KernelTables::of(&model, &uniform(10));
//! // Exact counts proportional to the kernel: 10⁶ transitions per (s, a).
//! let counts: Vec<u64> = tables.kernel.iter().map(|p| (p * 1e6).round() as u64).collect();
//! let mut learner = BatchTqLearner::try_new(10, 4, GameParams::default(), BatchTqParams::default())?;
//! let stats = learner.learn_counts(&counts, &tables);
//! assert_eq!(stats.rows, 40);
//! # Ok::<(), mfgsim::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::model::{GameParams, KernelTables};
use crate::operator::trembling::{g_values, trembling_policy, write_trembling_policy};
use crate::persist::{StateReader, StateWriter};
use crate::space::{Policy, QTable};

/// The sweeps of one call stop once a sweep changes Q by less than this (sup norm).
pub const SWEEP_TOL: f64 = 1e-12;

/// Knobs of [`BatchTqLearner`] (see the module docs for the rule they enter).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchTqParams {
    /// S (`batch_samples`): effective samples per (s, a) row of the kernel estimate; a row
    /// with n samples in a call keeps a memory of S/n calls (clamped to [1, H]). Default
    /// 10⁹ (10⁷ before the drift cut); range ≥ 1.
    ///
    /// Trade-off: larger S, less noise but longer memory (bias while ẑ moves).
    pub samples: f64,
    /// H (`batch_memory`): the longest memory of a row, in calls. Default 100; range ≥ 1.
    ///
    /// Trade-off: longer is less noisy for sparse rows, shorter tracks a moving ẑ faster.
    pub memory: f64,
    /// K (`batch_sweeps`): most synchronous sweeps of eq. 6 per call (they stop earlier once
    /// a sweep changes Q by less than [`SWEEP_TOL`]). Default 50; range ≥ 1.
    pub sweeps: usize,
    /// δ (`batch_drift`): the drift tolerance, in L1 distance between the mean field of a
    /// row's memory (count-weighted mean of the ẑ its counts were taken at) and the current
    /// ẑ_k, less the sampling noise of ẑ_k. A row whose memory is farther off is cut so that
    /// after the call it is at most that far. Default 0.1; range > 0 (`inf`: never cut).
    ///
    /// Trade-off: smaller forgets sooner when ẑ moves (less bias from kernels of older mean
    /// fields), but more often (more noise).
    #[serde(deserialize_with = "crate::json::null_as_infinity")]
    pub drift: f64,
    /// G (`batch_drift_gate`): a row holding W samples tolerates a drift of up to
    /// max(δ, √(G/W)): the bias of a drift that small stays below the row's own noise
    /// (∝ 1/√W), so sparse rows keep their memory. Default 10⁴; range ≥ 0, finite.
    ///
    /// Trade-off: larger protects small N from forgetting too often, smaller lets large N
    /// forget sooner.
    pub drift_gate: f64,
}

impl Default for BatchTqParams {
    fn default() -> Self {
        BatchTqParams {
            samples: 1e9,
            memory: 100.0,
            sweeps: 50,
            drift: 0.1,
            drift_gate: 1e4,
        }
    }
}

impl BatchTqParams {
    /// Checks every field against the ranges in the field docs.
    ///
    /// # Errors
    /// [`Error::Param`] naming the first invalid key (`batch_samples`, `batch_memory`,
    /// `batch_sweeps`, `batch_drift`, `batch_drift_gate`).
    pub fn validate(&self) -> Result<()> {
        let s = self.samples;
        if !(s >= 1.0 && s.is_finite()) {
            return Err(Error::param(
                "batch_samples",
                format!("must be a finite number >= 1, got {s}"),
            ));
        }
        let h = self.memory;
        if !(h >= 1.0 && h.is_finite()) {
            return Err(Error::param(
                "batch_memory",
                format!("must be a finite number >= 1, got {h}"),
            ));
        }
        if self.sweeps == 0 {
            return Err(Error::param("batch_sweeps", "must be >= 1, got 0"));
        }
        let d = self.drift;
        if d.is_nan() || d <= 0.0 {
            return Err(Error::param(
                "batch_drift",
                format!("must be a number > 0 (inf: never cut), got {d}"),
            ));
        }
        let g = self.drift_gate;
        if !(g >= 0.0 && g.is_finite()) {
            return Err(Error::param(
                "batch_drift_gate",
                format!("must be a finite number >= 0, got {g}"),
            ));
        }
        Ok(())
    }
}

/// What one call of [`BatchTqLearner::learn_counts`] did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BatchStats {
    /// Rows (s, a) with a kernel estimate (updated by every sweep).
    pub rows: usize,
    /// Sweeps made.
    pub sweeps: usize,
    /// Transitions in the counts, Σ c_k.
    pub transitions: u64,
    /// Mean over the rows of |F̂(Q) − Q| at the first sweep (0 without rows).
    pub mean_abs_td_error: f64,
    /// ‖ΔQ‖_∞ of the last sweep.
    pub residual: f64,
    /// Rows whose memory was cut for drift (see [`BatchTqParams::drift`]).
    pub cut_rows: usize,
}

/// Batch TQ-learning on transition counts (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchTqLearner {
    game: GameParams,
    params: BatchTqParams,
    q: QTable,
    /// W(s,a,s′), row-major in (s, a, s′).
    weights: Vec<f64>,
    /// Σ_s′ W(s,a,s′) per row.
    row_weight: Vec<f64>,
    /// Z(s,a,·) = Σ_j w_j·ẑ_j: the mean fields the row's memory was counted at, weighted as
    /// its counts (Z/Σ_s′ W is the memory's mean field), row-major in (s, a, state).
    row_z: Vec<f64>,
    /// Scratch: ẑ_k.
    z: Vec<f64>,
    /// Scratch: G(Q) per state, and the next iterate.
    g: Vec<f64>,
    next: Vec<f64>,
}

impl BatchTqLearner {
    /// A learner for `num_states` × `num_actions` with Q = 0 and no kernel estimate.
    ///
    /// # Errors
    /// [`Error::Param`] for invalid `params` (see [`BatchTqParams::validate`]), an invalid
    /// `game` or a zero size.
    pub fn try_new(
        num_states: usize,
        num_actions: usize,
        game: GameParams,
        params: BatchTqParams,
    ) -> Result<Self> {
        params.validate()?;
        GameParams::try_new(game.gamma, game.epsilon)?;
        if num_states == 0 {
            return Err(Error::param("num_states", "must be >= 1, got 0"));
        }
        if num_actions == 0 {
            return Err(Error::param("num_actions", "must be >= 1, got 0"));
        }
        let rows = num_states * num_actions;
        Ok(BatchTqLearner {
            game,
            params,
            q: QTable::zeros(num_states, num_actions),
            weights: vec![0.0; rows * num_states],
            row_weight: vec![0.0; rows],
            row_z: vec![0.0; rows * num_states],
            z: vec![0.0; num_states],
            g: vec![0.0; num_states],
            next: vec![0.0; rows],
        })
    }

    /// The parameters.
    pub fn params(&self) -> &BatchTqParams {
        &self.params
    }

    /// The current Q.
    pub fn q(&self) -> &QTable {
        &self.q
    }

    /// The effective sample size Σ_s′ W(s,a,s′) of each row, row-major in (s, a).
    pub fn row_weights(&self) -> &[f64] {
        &self.row_weight
    }

    /// Saves Q and the kernel memory W, Z (sections `batch_q`, `batch_weights`,
    /// `batch_row_weights`, `batch_row_mean_fields`).
    ///
    /// # Errors
    /// The writer's error.
    pub fn save_state(&self, w: &mut dyn StateWriter) -> Result<()> {
        w.f64s("batch_q", self.q.values())?;
        w.f64s("batch_weights", &self.weights)?;
        w.f64s("batch_row_weights", &self.row_weight)?;
        w.f64s("batch_row_mean_fields", &self.row_z)
    }

    /// Restores what [`BatchTqLearner::save_state`] saved (same sizes).
    ///
    /// # Errors
    /// The reader's error.
    pub fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        r.f64s("batch_q", self.q.values_mut())?;
        r.f64s("batch_weights", &mut self.weights)?;
        r.f64s("batch_row_weights", &mut self.row_weight)?;
        r.f64s("batch_row_mean_fields", &mut self.row_z)
    }

    /// Fills `policy` with π^ε_Q, reusing its storage.
    ///
    /// # Panics
    /// When `policy` has other sizes than the learner.
    pub fn write_policy(&self, policy: &mut Policy) {
        assert!(
            policy.num_states() == self.q.num_states()
                && policy.num_actions() == self.q.num_actions(),
            "BatchTqLearner::write_policy: policy sizes disagree"
        );
        write_trembling_policy(&self.q, self.game.epsilon, policy);
    }

    /// π^ε_Q as a new [`Policy`].
    pub fn policy(&self) -> Policy {
        trembling_policy(&self.q, self.game.epsilon)
    }

    /// One call (steps 1–2 of the module docs' formula) on the counts `counts` at index
    /// (s·|A| + a)·|S| + s′ of one step, whose rewards are `tables` (at the step's ẑ_k).
    ///
    /// # Panics
    /// When `tables` or `counts` have other sizes than the learner.
    pub fn learn_counts(&mut self, counts: &[u64], tables: &KernelTables) -> BatchStats {
        let (ns, na) = (self.q.num_states(), self.q.num_actions());
        assert!(
            tables.num_states() == ns && tables.num_actions() == na,
            "BatchTqLearner::learn_counts: tables are {}×{}, the learner is {ns}×{na}",
            tables.num_states(),
            tables.num_actions(),
        );
        assert_eq!(
            counts.len(),
            ns * na * ns,
            "BatchTqLearner::learn_counts: counts have the wrong length"
        );
        let (s_eff, h) = (self.params.samples, self.params.memory);
        let mut stats = BatchStats::default();
        // 1. The kernel memory, at ẑ_k (the counts' state marginal).
        // (No counts at all: nothing to remember, the sweeps still run on the estimate.)
        let big_n = counts.iter().sum::<u64>().max(1) as f64;
        for (z, c) in self.z.iter_mut().zip(counts.chunks_exact(ns * na)) {
            *z = c.iter().sum::<u64>() as f64 / big_n;
        }
        // E‖ẑ_k − z‖₁ of N multinomial draws: Σ_s √(2·z(1 − z)/(π·N)).
        let noise: f64 = self
            .z
            .iter()
            .map(|z| (2.0 * z * (1.0 - z) / (std::f64::consts::PI * big_n)).sqrt())
            .sum();
        let (delta, gate) = (self.params.drift, self.params.drift_gate);
        for (((c, w), rw), rz) in counts
            .chunks_exact(ns)
            .zip(self.weights.chunks_exact_mut(ns))
            .zip(&mut self.row_weight)
            .zip(self.row_z.chunks_exact_mut(ns))
        {
            let n: u64 = c.iter().sum();
            if n == 0 {
                continue;
            }
            stats.transitions += n;
            let n = n as f64;
            let m = (s_eff / n).clamp(1.0, h);
            let mut keep = 1.0 - 1.0 / m;
            if *rw > 0.0 {
                let d = rz
                    .iter()
                    .zip(&self.z)
                    .map(|(z_mem, z)| (z_mem / *rw - z).abs())
                    .sum::<f64>()
                    - noise;
                let tol = delta.max((gate / *rw).sqrt());
                if d > tol {
                    // After the call the memory's mean field is keep·W/(keep·W + n)·d from ẑ_k.
                    let cut = n * tol / ((d - tol) * *rw);
                    if cut < keep {
                        keep = cut;
                        stats.cut_rows += 1;
                    }
                }
            }
            let mut sum = 0.0;
            for (w, c) in w.iter_mut().zip(c) {
                *w = keep * *w + *c as f64;
                sum += *w;
            }
            *rw = sum;
            for (z_mem, z) in rz.iter_mut().zip(&self.z) {
                *z_mem = keep * *z_mem + n * z;
            }
        }
        // 2. Synchronous sweeps of eq. 6 on (r, P̂), α = 1.
        let gamma = self.game.gamma;
        for sweep in 0..self.params.sweeps {
            g_values(&self.q, self.game.epsilon, &mut self.g);
            let (mut rows, mut sum_td, mut residual) = (0usize, 0.0, 0.0f64);
            for (i, ((w, &rw), q)) in self
                .weights
                .chunks_exact(ns)
                .zip(&self.row_weight)
                .zip(self.q.values())
                .enumerate()
            {
                if rw == 0.0 {
                    self.next[i] = *q;
                    continue;
                }
                let e: f64 = w.iter().zip(&self.g).map(|(w, g)| w * g).sum::<f64>() / rw;
                let target = tables.reward[i] + gamma * e;
                let d = (target - q).abs();
                rows += 1;
                sum_td += d;
                residual = residual.max(d);
                self.next[i] = target;
            }
            self.q.swap_values(&mut self.next);
            stats.sweeps = sweep + 1;
            stats.rows = rows;
            stats.residual = residual;
            if sweep == 0 && rows > 0 {
                stats.mean_abs_td_error = sum_td / rows as f64;
            }
            if residual < SWEEP_TOL {
                break;
            }
        }
        stats
    }
}

/// The counts c(s,a,s′) of the transitions of `src` at (s·|A| + a)·|S| + s′ (a fallback for
/// sources whose engine did not count them). O(len).
pub fn count_source<S: crate::transition::TransitionSource + ?Sized>(src: &S) -> Vec<u64> {
    let t = src.tables();
    let (ns, na) = (t.num_states(), t.num_actions());
    let mut counts = vec![0u64; ns * na * ns];
    for i in 0..src.len() {
        let (s, a, s_next) = src.get(i);
        counts[(s * na + a) * ns + s_next] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Gig, Infection, Model};
    use crate::operator::TqIteration;
    use crate::space::{sup_distance, uniform};

    fn q_star(tables: &KernelTables, game: GameParams) -> QTable {
        let mut q = QTable::zeros(tables.num_states(), tables.num_actions());
        let out = TqIteration::new().run(tables, game, &mut q, 1e-14, 100_000);
        assert!(out.converged);
        q
    }

    /// Counts proportional to the exact kernel, `per_row` transitions per (s, a) (rounded).
    fn exact_counts(tables: &KernelTables, per_row: f64) -> Vec<u64> {
        tables
            .kernel
            .iter()
            .map(|p| (p * per_row).round() as u64)
            .collect()
    }

    fn converges_at_fixed_z(model: &dyn Model) {
        let game = GameParams::default();
        let (ns, na) = (model.num_states(), model.num_actions());
        let tables = KernelTables::of(model, &uniform(ns));
        let star = q_star(&tables, game);
        let counts = exact_counts(&tables, 1e12);
        let mut l = BatchTqLearner::try_new(ns, na, game, BatchTqParams::default()).unwrap();
        let mut errors = Vec::new();
        for _ in 0..40 {
            l.learn_counts(&counts, &tables);
            errors.push(sup_distance(l.q().values(), star.values()));
        }
        // 50 sweeps per call: γ^50 = 0.005 per call; the kernel is exact to ~1e-12.
        assert!(errors[0] < 0.05 * star.values().iter().fold(0.0f64, |m, v| m.max(v.abs())));
        assert!(errors[39] < 1e-9, "{errors:?}");
        assert_eq!(l.policy().greedy(), trembling_policy(&star, 0.1).greedy());
    }

    #[test]
    fn converges_to_q_star_on_exact_counts_infection() {
        converges_at_fixed_z(&Infection::default());
    }

    #[test]
    fn converges_to_q_star_on_exact_counts_gig() {
        converges_at_fixed_z(&Gig::default());
    }

    #[test]
    fn one_sweep_is_synchronous_eq_6_with_the_empirical_kernel() {
        let model = Gig::default();
        let game = GameParams::default();
        let tables = KernelTables::of(&model, &uniform(10));
        let counts: Vec<u64> = (0..400).map(|i| (i * 7 % 13) as u64).collect();
        let params = BatchTqParams {
            sweeps: 1,
            ..Default::default()
        };
        let mut l = BatchTqLearner::try_new(10, 4, game, params).unwrap();
        for (i, v) in l.q.values_mut().iter_mut().enumerate() {
            *v = (i as f64 * 0.37).sin();
        }
        let before = l.q.clone();
        l.learn_counts(&counts, &tables);
        let mut g = vec![0.0; 10];
        g_values(&before, game.epsilon, &mut g);
        for i in 0..40 {
            let row = &counts[i * 10..(i + 1) * 10];
            let n: u64 = row.iter().sum();
            let want = if n == 0 {
                before.values()[i]
            } else {
                let e: f64 = row.iter().zip(&g).map(|(c, g)| *c as f64 * g).sum::<f64>();
                tables.reward[i] + game.gamma * e / n as f64
            };
            assert!((l.q.values()[i] - want).abs() < 1e-12, "row {i}");
        }
    }

    #[test]
    fn memory_follows_the_samples_per_row() {
        // Row with n = S per call keeps only the current call (m = 1); a sparse row
        // accumulates up to H calls.
        let tables = KernelTables::of(&Gig::default(), &uniform(10));
        let params = BatchTqParams {
            samples: 1000.0,
            memory: 10.0,
            sweeps: 1,
            ..Default::default()
        };
        let mut l = BatchTqLearner::try_new(10, 4, GameParams::default(), params).unwrap();
        let mut counts = vec![0u64; 400];
        counts[0] = 1000; // row 0: n = S
        counts[10] = 1; // row 1: n = 1 → m = H = 10
        for _ in 0..200 {
            l.learn_counts(&counts, &tables);
        }
        assert_eq!(l.row_weights()[0], 1000.0);
        // Steady state of W ← 0.9 W + 1: 10.
        assert!((l.row_weights()[1] - 10.0).abs() < 1e-6);
        assert_eq!(l.row_weights()[2], 0.0);
    }

    /// Row (0, 0) gets 1000 transitions per call; 10⁶ agents sit in state `crowd` (row
    /// (crowd, 0)), which sets ẑ_k ≈ e_crowd.
    fn drift_counts(crowd: usize) -> Vec<u64> {
        let mut c = vec![0u64; 400];
        c[0] = 1000;
        c[(crowd * 4) * 10 + crowd] = 1_000_000;
        c
    }

    /// The weight of row (0, 0) after 200 calls at ẑ ≈ e_1, then one call at ẑ ≈ e_2.
    fn weight_after_a_jump(drift: f64, drift_gate: f64) -> (f64, f64) {
        let tables = KernelTables::of(&Gig::default(), &uniform(10));
        let params = BatchTqParams {
            samples: 1e9,
            memory: 10.0,
            sweeps: 1,
            drift,
            drift_gate,
        };
        let mut l = BatchTqLearner::try_new(10, 4, GameParams::default(), params).unwrap();
        let before = drift_counts(1);
        let mut stats = BatchStats::default();
        for _ in 0..200 {
            stats = l.learn_counts(&before, &tables);
        }
        assert_eq!(stats.cut_rows, 0, "a still mean field never cuts");
        let w_before = l.row_weights()[0];
        // Steady state of W ← 0.9·W + 1000: 10⁴ (up to 0.9^200).
        assert!((w_before - 1e4).abs() < 1e-6 * 1e4, "{w_before}");
        stats = l.learn_counts(&drift_counts(2), &tables);
        (l.row_weights()[0], stats.cut_rows as f64)
    }

    #[test]
    fn a_jump_of_the_mean_field_cuts_the_memory_to_the_tolerance() {
        let n_total = 1_001_000.0f64;
        let z1 = 1e6 / n_total;
        // ‖Z̄ − ẑ‖₁ = 2·z1, less the noise Σ_s √(2 z(1 − z)/(π N)) of ẑ = (1 − z1, 0, z1, 0…).
        let noise = 2.0 * (2.0 * z1 * (1.0 - z1) / (std::f64::consts::PI * n_total)).sqrt();
        let d = 2.0 * z1 - noise;
        // tol = max(δ, √(G/W)) = max(0.1, √(10⁴/10⁴)) = 1: the old memory is cut to
        // n·tol/(d − tol), so that the new mean field is tol from ẑ_k.
        let (w, cuts) = weight_after_a_jump(0.1, 1e4);
        let want = 1000.0 + 1000.0 * 1.0 / (d - 1.0);
        assert!((w - want).abs() < 1e-6 * want, "{w} vs {want}");
        // Rows (0, 0) and (2, 0) (the crowd's new row had no memory: not cut).
        assert_eq!(cuts, 1.0);
        // δ = 0.1 and no gate: cut to n·0.1/(d − 0.1).
        let (w, _) = weight_after_a_jump(0.1, 0.0);
        let want = 1000.0 + 1000.0 * 0.1 / (d - 0.1);
        assert!((w - want).abs() < 1e-6 * want, "{w} vs {want}");
    }

    #[test]
    fn no_cut_without_drift_control_or_below_the_gate() {
        // δ = ∞: the plain memory, 0.9·10⁴ + 1000.
        let (w, cuts) = weight_after_a_jump(f64::INFINITY, 1e4);
        assert!((w - 1e4).abs() < 1e-6 * 1e4, "{w}");
        assert_eq!(cuts, 0.0);
        // G = 10⁹: a row of 10⁴ samples tolerates √(10⁵) ≫ 2 (the largest L1 distance).
        let (w, cuts) = weight_after_a_jump(0.1, 1e9);
        assert!((w - 1e4).abs() < 1e-6 * 1e4, "{w}");
        assert_eq!(cuts, 0.0);
    }

    #[test]
    fn counting_a_source_matches_its_transitions() {
        let tables = KernelTables::of(&Gig::default(), &uniform(10));
        let mut src = crate::learner::VecTransitions::new(tables);
        src.transitions = vec![(0, 1, 2), (0, 1, 2), (9, 3, 0)];
        let c = count_source(&src);
        assert_eq!(c[10 + 2], 2);
        assert_eq!(c[(9 * 4 + 3) * 10], 1);
        assert_eq!(c.iter().sum::<u64>(), 3);
    }

    #[test]
    fn invalid_parameters_are_named() {
        let bad = |p: BatchTqParams, key: &str| match p.validate() {
            Err(Error::Param { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{key}: {other:?}"),
        };
        let d = BatchTqParams::default();
        bad(BatchTqParams { samples: 0.5, ..d }, "batch_samples");
        bad(
            BatchTqParams {
                memory: f64::NAN,
                ..d
            },
            "batch_memory",
        );
        bad(BatchTqParams { sweeps: 0, ..d }, "batch_sweeps");
        bad(BatchTqParams { drift: 0.0, ..d }, "batch_drift");
        bad(
            BatchTqParams {
                drift: f64::NAN,
                ..d
            },
            "batch_drift",
        );
        bad(
            BatchTqParams {
                drift_gate: -1.0,
                ..d
            },
            "batch_drift_gate",
        );
        assert!(BatchTqParams {
            drift: f64::INFINITY,
            ..d
        }
        .validate()
        .is_ok());
    }
}
