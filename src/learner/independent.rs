//! IQL and MFQ: every one of N real agents learns its own TQ-table from its own transitions.
//!
//! The baselines of Lee et al. 2021 (§6), and the stress test of issue 9: a million agents
//! each learning alone, on the same agent engine as online TMFQ. One type, [`Independent`],
//! runs both; MFQ is IQL with one more table index, the agent's bin of a sampled mean state.
//!
//! # Algorithm
//! ```text
//! Q_i = 0, n_i = 0 for every agent i;  b_i^0 drawn from the initial states (MFQ)
//! a_i^0 ~ π^ε_{Q_i}(s_i^0, ·, b_i^0)
//! step k = 0, 1, 2, …:
//!     the engine moves every agent i with a_i^k at the empirical mean field z^N_k:
//!         (s_i, a_i, s′_i),  r_i = r(s_i, a_i, z^N_k)
//!     every agent i, independently:
//!         b′_i = bin of the mean of s′_j over K agents j drawn from the states after the step
//!         eq. 6 on Q_i(s_i, a_i, b_i^k), bootstrapping from row (s′_i, ·, b′_i)
//!         b_i^{k+1} = b′_i;   a_i^{k+1} ~ π^ε_{Q_i}(s′_i, ·, b′_i)
//! ```
//! IQL is the case B = 1 (every bin is 0, no draw): Q_i(s, a) ignores the mean field.
//!
//! # Formula
//! ```text
//! eq. 6, agent i, its transition (s, a, s′) at step k, b = b_i^k, b′ = b_i^{k+1}:
//!   α          = (1 + (1−γ)·n_i(s,a,b))^(−w)
//!   Q_i(s,a,b) ← (1 − α)·Q_i(s,a,b) + α·( r(s,a,z^N_k) + γ·G(Q_i(s′,·,b′)) )
//!   n_i(s,a,b) ← min(n_i(s,a,b) + 1, 65535)
//!
//!   G(row)     = (1−ε)·row[a*] + ε/(|A|−1)·Σ_{a′≠a*} row[a′]
//!              = (1−ε − ε/(|A|−1))·row[a*] + ε/(|A|−1)·Σ_a′ row[a′]     (as computed)
//!   a*(row)    = lowest argmax_a′ row[a′]
//!   π^ε_Q(s,·,b) puts 1 − ε on a*(Q(s,·,b)), ε/(|A|−1) on each other action
//!
//! MFQ's bin (b = 0 always for IQL):
//!   j_1, …, j_K  K distinct agents ≠ i, uniformly (see draw_neighbours)
//!   m          = (1/K)·Σ_t s_{j_t}                          states after step k (before step 0:
//!                                                             the initial states)
//!   b          = min(⌊m/(|S|−1)·B⌋, B − 1)  = min(⌊B·Σ_t s_{j_t} / (K·(|S|−1))⌋, B − 1)
//!                (integer arithmetic, exact; b = 0 when |S| = 1)
//!
//! the evaluated strategy (Learner::policy), after the step, s_i = s′_i:
//!   n_s        = #{i : s_i = s}
//!   μ̄(s,a)     = (1/n_s)·Σ_{i: s_i = s} π^ε_{Q_i}(s, a, b_i)            when n_s > 0
//!              = (1/N)·Σ_i π^ε_{Q_i}(s, a, b_i)                          when n_s = 0
//!              = (c(s,a)·(1−ε) + (n_s − c(s,a))·ε/(|A|−1)) / n_s,  c(s,a) = #{i : a*_i(s,b_i) = a}
//! ```
//! * i ∈ 0..N an agent; s, s′ ∈ 0..|S| states; a ∈ 0..|A| actions; b ∈ 0..B bins.
//! * Q_i(s,a,b): agent i's TQ-table, f32, 0 at the start; n_i(s,a,b) its visit count (u16).
//! * γ, ε: [`GameParams`]; w: `step_exponent` ([`super::TqLearnerParams::step_exponent`]); K:
//!   `mfq_neighbours`, B: `mfq_bins` ([`MfqParams`]).
//! * r(s,a,z^N_k) = `obs.source.tables().r(s, a)`: the rewards at the empirical mean field
//!   the step was taken at.
//!
//! **Arithmetic.** The entries are stored as f32; one update reads them as f64, computes α,
//! G, the target and the new value in f64 and rounds once to f32. So each stored value is
//! the exact eq. 6 of the stored inputs up to one f32 rounding (relative 2⁻²⁴) plus f64 noise.
//!
//! **Bins, precisely.** The bin an agent acts on at step k, b_i^k, is drawn from the states
//! *before* step k (the initial states for k = 0, drawn in [`Independent::try_new`]; the
//! states after step k − 1 otherwise). The update after step k bootstraps from
//! G(Q_i(s′, ·, b′)) with b′ = b_i^{k+1}, the bin the agent will act on at step k + 1, drawn
//! from the states after step k — the value of the row the agent really continues from. So
//! each step's bin is drawn exactly once per agent and stored (a u8 column) until the update
//! that consumes it as b.
//!
//! **Greedy cache.** Each row (agent, s, b) keeps its a* as a u8, so acting and G read one
//! byte instead of scanning the row. After Q(s,a,b) changes from q to q′, with g the cached
//! a* of the row:
//! ```text
//! a = g, q′ ≥ q                      g stays (it was the lowest max and only grew)
//! a = g, q′ < q                      rescan the row (lowest argmax)
//! a ≠ g, q′ > Q(s,g,b)               a* = a
//! a ≠ g, q′ = Q(s,g,b), a < g        a* = a (ties go to the lowest action)
//! otherwise                          g stays
//! ```
//! which is exactly the lowest argmax after the change (a proptest checks every row).
//!
//! **Acting.** Agent i's next action comes from one u64 x of `stream(seed, Learn, k, c)`
//! (c = i / [`CHUNK`], agents of a chunk in order, k the step the action is for), with
//! g = a*(Q_i(s_i, ·, b_i)):
//! ```text
//! T = ⌊ε·2³²⌋ (0 when |A| = 1)
//! x_hi = x ≫ 32,  x_lo = x mod 2³²
//! x_hi ≥ T:   a = g                                          probability 1 − T/2³²
//! x_hi < T:   j = ⌊x_lo·(|A|−1) / 2³²⌋ ∈ 0..|A|−1,  a = j + [j ≥ g]   (each other action)
//! ```
//! The tremble probability T/2³² is within 2⁻³² of ε and each other action gets
//! (T/2³²)·(1/(|A|−1) ± (|A|−1)/2³²) — the strategy π^ε_{Q_i} up to 10⁻⁹ ([`tremble_action`]).
//! MFQ's neighbour draws use their own stream, `stream(seed, Learn, k, c | 2⁶³)` (chunk
//! indices never reach 2⁶³, so the two families of keys never meet and the key map is a
//! bijection: distinct streams).
//!
//! # Memory
//! Per agent, with B = 1 for IQL ([`Independent::bytes_per_agent`]):
//! ```text
//! column    type   bytes per agent       infection IQL (25×5)   infection MFQ (B = 5)
//! q         f32    4·|S|·B·|A|           500                    2500
//! counts    u16    2·|S|·B·|A|           250                    1250
//! greedy    u8     |S|·B                 25                     125
//! actions   u8     1                     1                      1
//! bins      u8     1 (MFQ only)          0                      1
//! total                                  776                    3877
//! ```
//! plus the engine's 3 bytes (u8 states) and, per run ([`Independent::bytes_fixed`]), one
//! histogram of |S|·|A| u32 per chunk, one scratch of K agent indices per chunk (MFQ) and
//! the strategy μ̄. Counts are u16 rather than u8: an agent that stays in a state and plays
//! its greedy action visits that pair once per step, so u8 would saturate within 255
//! iterations (α frozen at 1/(1 + 25.5) with the defaults), while u16 saturates only after
//! 65 535 steps, beyond any run here (α is then frozen at ≈ 1.5·10⁻⁴).
//!
//! # Determinism
//! Agents are processed in fixed chunks of [`CHUNK`], chunk c of step k drawing from the
//! streams above; the chunks share nothing but read-only inputs (the source, for MFQ the
//! states of other agents), so every column is the same for any number of threads. The
//! strategy μ̄ comes from integer per-chunk counts reduced in chunk order, and the mean
//! |TD error| from per-chunk f64 sums (agents in order) added in chunk order. Bitwise
//! reproducible on a platform (with w ≠ 1 α uses `powf`, whose last bit may vary between
//! libm implementations).
//!
//! # Cost
//! Per agent and step: one transition read, two rows of |A| f32 (s and s′), one count, two
//! cache bytes, one u64 draw, a rescan of |A| entries only when the greedy entry decreased;
//! MFQ adds K uniform draws (Floyd's algorithm, O(K²) comparisons) and K reads of other
//! agents' states. The rows of 10⁶ agents (776 MB for IQL on infection) are far larger than
//! any cache, so the update is bound by memory latency: each agent's rows sit at
//! increasing but irregular addresses (its state picks the row), about four cache misses per
//! agent that the out-of-order core overlaps across consecutive agents. Measured in
//! `benches/agents.rs` (see its docs and the experiments below).
//!
//! # Experiments
//! `ALGO=iql N=1000 SEEDS=0,1,2,3,4 cargo test --release --lib experiment_independent --
//! --ignored --nocapture` (ALGO iql or mfq, N agents, ITERS iterations, default 300) runs the
//! learner through [`super::OnlineDriver`] on the default infection model (25 states, 5
//! actions, γ 0.9, ε 0.1, w = 1, K = 10, B = 5), agents initially uniform; after the last
//! iteration it reports ‖z^N − z*‖₁ (z* from [`crate::solve`] from uniform), the mean state
//! Σ_s s·z^N(s), the exploitability of μ̄ at z^N ([`super::Evaluator`]) and the wall time
//! (release build, 2 threads, other jobs sharing the machine).
//!
//! ```text
//! algo  N      seed  ‖z−z*‖₁   mean state  expl. max  expl. weighted  wall s
//! EXPERIMENT_TABLE
//! ```
//!
//! # Example
//! ```
//! use mfgsim::learner::{Algo, Algorithm, Independent, LearnerParams, OnlineDriver};
//! use mfgsim::model::{Infection, Model};
//! use mfgsim::population::Population;
//! use mfgsim::space::uniform;
//! use mfgsim::GameParams;
//!
//! let model = Infection::default();
//! let (ns, na) = (model.num_states(), model.num_actions());
//! let pop: Population = Population::try_new(ns, 5_000, &uniform(ns), 7)?;
//! let params = LearnerParams::default();
//! // The caller checks memory before allocating.
//! assert!(Independent::bytes_per_agent(ns, na, Algo::Iql, &params) <= 1200 - 3);
//! let learner = Independent::try_new(ns, na, GameParams::default(), &params, Algo::Iql,
//!                                    pop.states(), 7)?;
//! let mut run = OnlineDriver::new(&model, pop, learner, 7)?;
//! for _ in 0..3 {
//!     let it = run.iterate()?;
//!     assert_eq!(it.ledger.tq_updates, 5_000);
//! }
//! let mu = run.policy();
//! for s in 0..ns {
//!     assert!((mu.row(s).iter().sum::<f64>() - 1.0).abs() < 1e-12);
//! }
//! assert_eq!(run.num_agents(), Some(5_000));
//! # Ok::<(), mfgsim::Error>(())
//! ```

use rand::{Rng, RngExt};
use rayon::prelude::*;

use super::Update;
use super::{Actions, Algo, Learner, LearnerParams, MfqParams, Observation, TransitionSource};
use crate::error::{Error, Result};
use crate::model::GameParams;
use crate::operator::trembling::{greedy_action, weights};
use crate::population::{StateCode, CHUNK};
use crate::rng::{stream, Purpose, StreamRng};
use crate::space::{Policy, QTable};
use crate::transition::MAX_ACTIONS;

/// Bit set in the chunk index of MFQ's neighbour streams (`stream(seed, Learn, k, c | 2⁶³)`),
/// so they never coincide with the acting streams `(seed, Learn, k, c)`.
pub const NEIGHBOUR_STREAM: u64 = 1 << 63;

/// The tremble threshold T = ⌊ε·2³²⌋ of [`tremble_action`] (0 when |A| = 1: no other action).
pub fn tremble_threshold(epsilon: f64, num_actions: usize) -> u64 {
    if num_actions <= 1 {
        0
    } else {
        (epsilon * 4_294_967_296.0).floor() as u64
    }
}

/// The action of an agent whose greedy action is `greedy`, for the uniform u64 `x` (see the
/// module docs' *Acting*): `greedy` when `x ≫ 32 ≥ threshold`, otherwise the
/// ⌊(x mod 2³²)·(|A|−1)/2³²⌋-th of the other actions in increasing order.
///
/// Trusts `greedy < num_actions ≤ 128` and `threshold = 0` when `num_actions = 1`.
#[inline(always)]
pub fn tremble_action(x: u64, greedy: u8, threshold: u64, num_actions: usize) -> u8 {
    if (x >> 32) < threshold {
        let j = (((x & 0xffff_ffff) * (num_actions as u64 - 1)) >> 32) as u8;
        j + u8::from(j >= greedy)
    } else {
        greedy
    }
}

/// Fills `out` with `out.len()` = K distinct agents of `0..num_agents`, none equal to
/// `agent`, drawn uniformly among all such sets with Floyd's algorithm: for t = M−K, …, M−1
/// (M = N − 1 candidates) draw u uniform in 0..=t and take u, or t when u was taken; candidate
/// c is agent c + [c ≥ `agent`]. K draws of `rng`, O(K²) comparisons, no allocation.
///
/// # Panics
/// When K > N − 1 or `agent ≥ num_agents`.
pub fn draw_neighbours(agent: usize, num_agents: usize, out: &mut [usize], rng: &mut StreamRng) {
    assert!(agent < num_agents, "agent {agent} of {num_agents}");
    let m = num_agents - 1;
    let k = out.len();
    assert!(k <= m, "{k} neighbours among {m} other agents");
    for (filled, t) in (m - k..m).enumerate() {
        let u = rng.random_range(0..=t);
        let pick = if out[..filled].contains(&u) { t } else { u };
        out[filled] = pick;
    }
    for c in out.iter_mut() {
        *c += usize::from(*c >= agent);
    }
}

/// MFQ's bin of the mean of K states whose sum is `state_sum`, on `num_states` states and
/// `bins` bins: min(⌊B·Σ / (K·(|S|−1))⌋, B − 1), 0 when |S| = 1 (module docs' formula).
///
/// Trusts K ≥ 1, B ≥ 1 and Σ ≤ K·(|S|−1).
#[inline]
pub fn bin_index(state_sum: u64, neighbours: usize, num_states: usize, bins: usize) -> u8 {
    if num_states <= 1 {
        return 0;
    }
    let den = neighbours as u64 * (num_states as u64 - 1);
    ((state_sum * bins as u64 / den).min(bins as u64 - 1)) as u8
}

/// Sizes and constants of the per-agent kernels, copied into every chunk's job.
#[derive(Debug, Clone, Copy)]
struct Shape {
    num_agents: usize,
    ns: usize,
    na: usize,
    /// B (1 for IQL).
    nb: usize,
    /// K (0 for IQL).
    k: usize,
    /// |S|·B·|A|: one agent's entries.
    q_stride: usize,
    /// |S|·B: one agent's rows.
    g_stride: usize,
    wg: f64,
    wo: f64,
    gamma: f64,
    w: f64,
    threshold: u64,
}

impl Shape {
    /// Agent `i`'s bin for the next step, from `state_of(j)`, the states the draw reads.
    #[inline]
    fn draw_bin(
        &self,
        i: usize,
        scratch: &mut [usize],
        rng: &mut StreamRng,
        state_of: &(impl Fn(usize) -> usize + ?Sized),
    ) -> u8 {
        draw_neighbours(i, self.num_agents, scratch, rng);
        let sum: u64 = scratch.iter().map(|&j| state_of(j) as u64).sum();
        bin_index(sum, self.k, self.ns, self.nb)
    }
}

/// One chunk's mutable slices of every column, and its scratch.
struct ChunkMut<'a> {
    q: &'a mut [f32],
    counts: &'a mut [u16],
    greedy: &'a mut [u8],
    actions: &'a mut [u8],
    /// Empty for IQL.
    bins: &'a mut [u8],
    /// |S|·|A| counts of (state, greedy action) of the chunk's agents.
    hist: &'a mut [u32],
    /// Σ |TD error| over the chunk's agents.
    td: &'a mut f64,
    /// K agent indices (empty for IQL).
    scratch: &'a mut [usize],
}

/// IQL or MFQ: N agents, each with its own TQ-table (see the module docs).
///
/// Its `Debug` output summarises (it does not print N tables).
#[derive(Clone)]
pub struct Independent {
    algo: Algo,
    game: GameParams,
    shape: Shape,
    /// Q_i(s, a, b) at i·|S|·B·|A| + (s·B + b)·|A| + a.
    q: Vec<f32>,
    /// n_i(s, a, b), same layout.
    counts: Vec<u16>,
    /// a*(Q_i(s, ·, b)) at i·|S|·B + s·B + b.
    greedy: Vec<u8>,
    /// The next step's action of every agent.
    actions: Vec<u8>,
    /// b_i of the next step (MFQ; empty for IQL).
    bins: Vec<u8>,
    /// Per chunk: |S|·|A| counts (state, greedy action).
    chunk_hist: Vec<u32>,
    /// Per chunk: Σ |TD error|.
    chunk_td: Vec<f64>,
    /// Per chunk: K agent indices (MFQ; empty for IQL).
    chunk_scratch: Vec<usize>,
    /// Totals of `chunk_hist`, then μ̄'s numerators.
    totals: Vec<u64>,
    /// States with no agent (scratch of `write_policy`).
    empty: Vec<usize>,
    policy: Policy,
}

impl std::fmt::Debug for Independent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Independent")
            .field("algo", &self.algo)
            .field("num_agents", &self.shape.num_agents)
            .field("num_states", &self.shape.ns)
            .field("num_actions", &self.shape.na)
            .field("bins", &self.shape.nb)
            .field("neighbours", &self.shape.k)
            .finish_non_exhaustive()
    }
}

/// B for `algo`: `mfq.bins` for MFQ, 1 for IQL.
fn bins_of(algo: Algo, mfq: &MfqParams) -> usize {
    if algo == Algo::Mfq {
        mfq.bins
    } else {
        1
    }
}

impl Independent {
    /// Exact bytes of the learner's per-agent columns for one agent (module docs' `# Memory`):
    /// 6·|S|·B·|A| + |S|·B + 1, plus 1 for MFQ's bin; B = `params.mfq.bins` for MFQ, 1
    /// otherwise. For the caller's memory check before [`Independent::try_new`] allocates.
    pub fn bytes_per_agent(
        num_states: usize,
        num_actions: usize,
        algo: Algo,
        params: &LearnerParams,
    ) -> u64 {
        let (ns, na, nb) = (
            num_states as u64,
            num_actions as u64,
            bins_of(algo, &params.mfq) as u64,
        );
        let rows = ns * nb;
        rows * na * (4 + 2) + rows + 1 + u64::from(algo == Algo::Mfq)
    }

    /// Bytes of the learner's per-run buffers for `num_agents` agents: per chunk a histogram
    /// of |S|·|A| u32, a TD sum and (MFQ) K agent indices; μ̄ (|S|·|A| f64 and |S| greedy
    /// actions) and |S|·|A| u64 totals.
    pub fn bytes_fixed(
        num_states: usize,
        num_actions: usize,
        num_agents: usize,
        algo: Algo,
        params: &LearnerParams,
    ) -> u64 {
        let chunks = num_agents.div_ceil(CHUNK) as u64;
        let (ns, na) = (num_states as u64, num_actions as u64);
        let k = if algo == Algo::Mfq {
            params.mfq.neighbours as u64
        } else {
            0
        };
        let word = std::mem::size_of::<usize>() as u64;
        chunks * (4 * ns * na + 8 + word * k) + 8 * ns * na + word * ns + 8 * ns * na + word * ns
    }

    /// N = `initial_states.len()` agents with Q_i = 0 and n_i = 0, their first bins (MFQ)
    /// drawn from `initial_states` and their first actions drawn with `seed` (step 0 of the
    /// streams in the module docs). The driver must pass the same `seed`.
    ///
    /// # Errors
    /// [`Error::Param`] naming the key: `algo` (not iql or mfq), `num_states` (0),
    /// `num_actions` (0 or more than 128, what the engine's action byte holds),
    /// `agents` (no agent, or more than memory can index), `initial_states` (a state
    /// ≥ |S|), `mfq_neighbours` (K ≥ N for MFQ), the keys of [`LearnerParams::validate`]
    /// and of [`GameParams::try_new`].
    pub fn try_new<T: StateCode>(
        num_states: usize,
        num_actions: usize,
        game: GameParams,
        params: &LearnerParams,
        algo: Algo,
        initial_states: &[T],
        seed: u64,
    ) -> Result<Self> {
        if !algo.per_agent() {
            return Err(Error::param(
                "algo",
                format!("Independent runs iql or mfq, got {algo}"),
            ));
        }
        params.validate()?;
        GameParams::try_new(game.gamma, game.epsilon)?;
        if num_states == 0 {
            return Err(Error::param("num_states", "must be >= 1, got 0"));
        }
        if num_actions == 0 || num_actions > MAX_ACTIONS {
            return Err(Error::param(
                "num_actions",
                format!("must be in 1..={MAX_ACTIONS} (one action byte), got {num_actions}"),
            ));
        }
        let n = initial_states.len();
        if n == 0 {
            return Err(Error::param("agents", "must be >= 1, got 0"));
        }
        if let Some((i, s)) = initial_states
            .iter()
            .enumerate()
            .find(|(_, s)| s.index() >= num_states)
        {
            return Err(Error::param(
                "initial_states",
                format!("agent {i} is in state {}, of {num_states}", s.index()),
            ));
        }
        let mfq = algo == Algo::Mfq;
        let nb = bins_of(algo, &params.mfq);
        let k = if mfq { params.mfq.neighbours } else { 0 };
        if mfq && k >= n {
            return Err(Error::param(
                "mfq_neighbours",
                format!("must be < the number of agents ({n}), got {k}"),
            ));
        }
        let q_stride = num_states * nb * num_actions;
        let total = q_stride
            .checked_mul(n)
            .filter(|t| t.checked_mul(4).is_some())
            .ok_or_else(|| Error::param("agents", format!("{n} agents overflow the tables")))?;
        let (wg, wo) = weights(game.epsilon, num_actions);
        let shape = Shape {
            num_agents: n,
            ns: num_states,
            na: num_actions,
            nb,
            k,
            q_stride,
            g_stride: num_states * nb,
            wg,
            wo,
            gamma: game.gamma,
            w: params.tq.step_exponent,
            threshold: tremble_threshold(game.epsilon, num_actions),
        };
        let chunks = n.div_ceil(CHUNK);
        let mut learner = Independent {
            algo,
            game,
            shape,
            q: vec![0.0; total],
            counts: vec![0; total],
            greedy: vec![0; n * shape.g_stride],
            actions: vec![0; n],
            bins: if mfq { vec![0; n] } else { Vec::new() },
            chunk_hist: vec![0; chunks * num_states * num_actions],
            chunk_td: vec![0.0; chunks],
            chunk_scratch: vec![0; chunks * k],
            totals: vec![0; num_states * num_actions],
            empty: Vec::with_capacity(num_states),
            policy: Policy::uniform(num_states, num_actions),
        };
        let state_of = |j: usize| initial_states[j].index();
        learner
            .views()
            .into_par_iter()
            .enumerate()
            .for_each(|(c, view)| {
                if mfq {
                    act_chunk::<true>(&shape, c, view, 0, seed, &state_of);
                } else {
                    act_chunk::<false>(&shape, c, view, 0, seed, &state_of);
                }
            });
        learner.write_policy();
        Ok(learner)
    }

    /// Every chunk's slices, in chunk order.
    fn views(&mut self) -> Vec<ChunkMut<'_>> {
        let s = self.shape;
        let empty_bins = std::iter::repeat_with(<&mut [u8]>::default);
        let empty_scratch = std::iter::repeat_with(<&mut [usize]>::default);
        let bins: Box<dyn Iterator<Item = &mut [u8]>> = if s.k > 0 {
            Box::new(self.bins.chunks_mut(CHUNK))
        } else {
            Box::new(empty_bins)
        };
        let scratch: Box<dyn Iterator<Item = &mut [usize]>> = if s.k > 0 {
            Box::new(self.chunk_scratch.chunks_mut(s.k))
        } else {
            Box::new(empty_scratch)
        };
        self.q
            .chunks_mut(CHUNK * s.q_stride)
            .zip(self.counts.chunks_mut(CHUNK * s.q_stride))
            .zip(self.greedy.chunks_mut(CHUNK * s.g_stride))
            .zip(self.actions.chunks_mut(CHUNK))
            .zip(bins)
            .zip(self.chunk_hist.chunks_mut(s.ns * s.na))
            .zip(self.chunk_td.iter_mut())
            .zip(scratch)
            .map(
                |(((((((q, counts), greedy), actions), bins), hist), td), scratch)| ChunkMut {
                    q,
                    counts,
                    greedy,
                    actions,
                    bins,
                    hist,
                    td,
                    scratch,
                },
            )
            .collect()
    }

    /// μ̄ from the chunk histograms (module docs' formula), reduced in chunk order.
    fn write_policy(&mut self) {
        let Shape { ns, na, nb, .. } = self.shape;
        let width = ns * na;
        self.totals.fill(0);
        for hist in self.chunk_hist.chunks_exact(width) {
            for (t, h) in self.totals.iter_mut().zip(hist) {
                *t += u64::from(*h);
            }
        }
        let mut empty = std::mem::take(&mut self.empty);
        empty.clear();
        empty.extend(
            (0..ns).filter(|&s| self.totals[s * na..(s + 1) * na].iter().sum::<u64>() == 0),
        );
        if !empty.is_empty() {
            // Rows of empty states are 0 in every chunk: count every agent's greedy action
            // there, then add those rows up again.
            let g_stride = self.shape.g_stride;
            let bins = &self.bins;
            self.chunk_hist
                .par_chunks_mut(width)
                .zip(self.greedy.par_chunks(CHUNK * g_stride))
                .enumerate()
                .for_each(|(c, (hist, greedy))| {
                    for (local, g) in greedy.chunks_exact(g_stride).enumerate() {
                        let b = if nb > 1 {
                            usize::from(bins[c * CHUNK + local])
                        } else {
                            0
                        };
                        for &s in &empty {
                            hist[s * na + usize::from(g[s * nb + b])] += 1;
                        }
                    }
                });
            for hist in self.chunk_hist.chunks_exact(width) {
                for &s in &empty {
                    for a in 0..na {
                        self.totals[s * na + a] += u64::from(hist[s * na + a]);
                    }
                }
            }
        }
        self.empty = empty;
        let (wg, wo) = (self.shape.wg, self.shape.wo);
        for s in 0..ns {
            let row = &self.totals[s * na..(s + 1) * na];
            let n_s: u64 = row.iter().sum();
            let inv = 1.0 / n_s as f64;
            let out = &mut self.policy.probs[s * na..(s + 1) * na];
            for (p, &c) in out.iter_mut().zip(row) {
                *p = (c as f64 * wg + (n_s - c) as f64 * wo) * inv;
            }
            self.policy.greedy[s] = greedy_action(out);
        }
    }

    /// N, the number of agents.
    pub fn num_agents(&self) -> usize {
        self.shape.num_agents
    }

    /// B: 1 for IQL, `mfq_bins` for MFQ.
    pub fn num_bins(&self) -> usize {
        self.shape.nb
    }

    /// γ and ε.
    pub fn game(&self) -> GameParams {
        self.game
    }

    /// The action every agent plays in the next step (agent order).
    pub fn agent_actions(&self) -> &[u8] {
        &self.actions
    }

    /// The bin agent `i` acts on in the next step (0 for IQL).
    ///
    /// # Panics
    /// When `agent ≥ N`.
    pub fn agent_bin(&self, agent: usize) -> usize {
        assert!(agent < self.shape.num_agents, "agent {agent} out of range");
        self.bins.get(agent).map_or(0, |b| usize::from(*b))
    }

    fn row_index(&self, agent: usize, state: usize, bin: usize) -> usize {
        let s = &self.shape;
        assert!(
            agent < s.num_agents && state < s.ns && bin < s.nb,
            "row ({agent}, {state}, {bin}) out of range"
        );
        agent * s.g_stride + state * s.nb + bin
    }

    /// Q_i(s, ·, b), the |A| entries of one row.
    ///
    /// # Panics
    /// When an index is out of range.
    pub fn q_row(&self, agent: usize, state: usize, bin: usize) -> &[f32] {
        let r = self.row_index(agent, state, bin) * self.shape.na;
        &self.q[r..r + self.shape.na]
    }

    /// n_i(s, ·, b), the |A| visit counts of one row.
    ///
    /// # Panics
    /// When an index is out of range.
    pub fn count_row(&self, agent: usize, state: usize, bin: usize) -> &[u16] {
        let r = self.row_index(agent, state, bin) * self.shape.na;
        &self.counts[r..r + self.shape.na]
    }

    /// The cached greedy action a*(Q_i(s, ·, b)).
    ///
    /// # Panics
    /// When an index is out of range.
    pub fn cached_greedy(&self, agent: usize, state: usize, bin: usize) -> usize {
        usize::from(self.greedy[self.row_index(agent, state, bin)])
    }
}

/// Chooses the chunk's actions (and MFQ bins) for `step` from `state_of` (the states before
/// `step`), with an empty update: the constructor's pass for step 0.
fn act_chunk<const MFQ: bool>(
    shape: &Shape,
    c: usize,
    view: ChunkMut<'_>,
    step: u64,
    seed: u64,
    state_of: &(impl Fn(usize) -> usize + Sync),
) {
    let mut rng = stream(seed, Purpose::Learn, step, c as u64);
    let mut nrng = stream(seed, Purpose::Learn, step, c as u64 | NEIGHBOUR_STREAM);
    view.hist.fill(0);
    *view.td = 0.0;
    let base = c * CHUNK;
    for (local, (greedy, act)) in view
        .greedy
        .chunks_exact(shape.g_stride)
        .zip(view.actions.iter_mut())
        .enumerate()
    {
        let i = base + local;
        let s = state_of(i);
        let b = if MFQ {
            let b = shape.draw_bin(i, view.scratch, &mut nrng, state_of);
            view.bins[local] = b;
            usize::from(b)
        } else {
            0
        };
        let g = greedy[s * shape.nb + b];
        *act = tremble_action(rng.next_u64(), g, shape.threshold, shape.na);
        view.hist[s * shape.na + usize::from(g)] += 1;
    }
}

/// Eq. 6 for every agent of chunk `c` on its transition, then its next bin and action (the
/// module docs' algorithm, after step `step`).
fn update_chunk<const MFQ: bool, S: TransitionSource + ?Sized>(
    shape: &Shape,
    c: usize,
    view: ChunkMut<'_>,
    src: &S,
    step: u64,
    seed: u64,
) {
    let Shape {
        ns,
        na,
        nb,
        wg,
        wo,
        gamma,
        w,
        threshold,
        ..
    } = *shape;
    let next = step + 1;
    let mut rng = stream(seed, Purpose::Learn, next, c as u64);
    let mut nrng = stream(seed, Purpose::Learn, next, c as u64 | NEIGHBOUR_STREAM);
    let tables = src.tables();
    let rewards = &tables.reward;
    let scale = 1.0 - gamma;
    let state_after = |j: usize| src.get(j).2;
    view.hist.fill(0);
    let mut td_sum = 0.0;
    let base = c * CHUNK;
    for (local, (((q, counts), greedy), act)) in view
        .q
        .chunks_exact_mut(shape.q_stride)
        .zip(view.counts.chunks_exact_mut(shape.q_stride))
        .zip(view.greedy.chunks_exact_mut(shape.g_stride))
        .zip(view.actions.iter_mut())
        .enumerate()
    {
        let i = base + local;
        let (s, a, s2) = src.get(i);
        assert!(
            s < ns && a < na && s2 < ns,
            "Independent::update: transition ({s}, {a}, {s2}) of agent {i} out of range"
        );
        let (b, b2) = if MFQ {
            let b2 = shape.draw_bin(i, view.scratch, &mut nrng, &state_after);
            let b = std::mem::replace(&mut view.bins[local], b2);
            (usize::from(b), usize::from(b2))
        } else {
            (0, 0)
        };
        // Bootstrap from the row the agent continues from, before the update.
        let row2 = s2 * nb + b2;
        let next_row = &q[row2 * na..(row2 + 1) * na];
        let top = f64::from(next_row[usize::from(greedy[row2])]);
        let sum: f64 = next_row.iter().map(|v| f64::from(*v)).sum();
        let target = rewards[s * na + a] + gamma * ((wg - wo) * top + wo * sum);
        let row1 = s * nb + b;
        let k = row1 * na + a;
        let n = counts[k];
        let base_n = 1.0 + scale * f64::from(n);
        let alpha = if w == 1.0 {
            1.0 / base_n
        } else {
            base_n.powf(-w)
        };
        let old = q[k];
        let td = target - f64::from(old);
        let new = (f64::from(old) + alpha * td) as f32;
        q[k] = new;
        counts[k] = n.saturating_add(1);
        td_sum += td.abs();
        // The greedy cache of row (s, b) (module docs' rule).
        let g = usize::from(greedy[row1]);
        let row = &q[row1 * na..(row1 + 1) * na];
        if a == g {
            if new < old {
                greedy[row1] = greedy_f32(row);
            }
        } else if new > row[g] || (new == row[g] && a < g) {
            greedy[row1] = a as u8;
        }
        // The next action, on the (possibly just updated) row (s′, b′).
        let g2 = greedy[row2];
        *act = tremble_action(rng.next_u64(), g2, threshold, na);
        view.hist[s2 * na + usize::from(g2)] += 1;
    }
    *view.td = td_sum;
}

/// Lowest index of a maximum of a non-empty f32 row.
#[inline]
fn greedy_f32(row: &[f32]) -> u8 {
    let mut best = 0;
    for (a, v) in row.iter().enumerate().skip(1) {
        if *v > row[best] {
            best = a;
        }
    }
    best as u8
}

impl Learner for Independent {
    fn algo(&self) -> Algo {
        self.algo
    }

    fn actions(&self) -> Actions<'_> {
        Actions::PerAgent(&self.actions)
    }

    /// `usize::MAX`: the update needs every agent's own transition, in agent order.
    fn sample_budget(&self) -> usize {
        usize::MAX
    }

    /// Eq. 6 for every agent on its transition `obs.source.get(i)`, then every agent's next
    /// bin (MFQ) and action, and μ̄ (module docs).
    ///
    /// # Errors
    /// [`Error::Param`] (key `agents`) when the source does not hold one transition per agent,
    /// (key `tables`) when its tables have other sizes; nothing changes.
    ///
    /// # Panics
    /// When a transition holds a state or action out of range.
    fn update<S: TransitionSource + ?Sized>(&mut self, obs: &Observation<'_, S>) -> Result<Update> {
        let shape = self.shape;
        let src = obs.source;
        if src.len() != shape.num_agents {
            return Err(Error::param(
                "agents",
                format!(
                    "the source holds {} transitions, the learner has {} agents",
                    src.len(),
                    shape.num_agents
                ),
            ));
        }
        let t = src.tables();
        if t.num_states() != shape.ns || t.num_actions() != shape.na {
            return Err(Error::param(
                "tables",
                format!(
                    "are {}×{}, the learner is {}×{}",
                    t.num_states(),
                    t.num_actions(),
                    shape.ns,
                    shape.na
                ),
            ));
        }
        let (step, seed) = (obs.step, obs.seed);
        let mfq = self.algo == Algo::Mfq;
        self.views()
            .into_par_iter()
            .enumerate()
            .for_each(|(c, view)| {
                if mfq {
                    update_chunk::<true, S>(&shape, c, view, src, step, seed);
                } else {
                    update_chunk::<false, S>(&shape, c, view, src, step, seed);
                }
            });
        self.write_policy();
        let td: f64 = self.chunk_td.iter().sum();
        Ok(Update {
            tq_updates: shape.num_agents as u64,
            mean_abs_td_error: td / shape.num_agents as f64,
        })
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn q(&self) -> Option<&QTable> {
        None
    }

    fn num_agents(&self) -> Option<usize> {
        Some(self.shape.num_agents)
    }

    /// π^ε_{Q_i}(s, ·, b_i) for every state s, b_i the agent's bin for the next step.
    fn agent_policy(&self, agent: usize) -> Option<Policy> {
        let Shape { ns, na, .. } = self.shape;
        if agent >= self.shape.num_agents {
            return None;
        }
        let b = self.agent_bin(agent);
        let (wg, wo) = (self.shape.wg, self.shape.wo);
        let mut p = Policy::uniform(ns, na);
        for s in 0..ns {
            let g = self.cached_greedy(agent, s, b);
            p.greedy[s] = g;
            let row = &mut p.probs[s * na..(s + 1) * na];
            row.fill(wo);
            row[g] = wg;
        }
        Some(p)
    }
}
