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
//! # Regeneration
//! An agent whose s′_i came from the regeneration part ζ·w(s′) of the kernel has left and
//! been replaced by a new agent (the model's population turnover). By default
//! (`[learner] reset_on_regeneration = false`) the agent index keeps its table Q_i and its
//! counts n_i, and its transition of that step updates them like any other: the newcomer
//! inherits its predecessor's learning. With `reset_on_regeneration = true` the newcomer
//! starts a new table, as a new agent would:
//! ```text
//! agent i regenerated during step k:
//!     Q_i(·,·,·) ← 0,  n_i(·,·,·) ← 0,  a*_i(·,·) ← 0      (no eq. 6 update from its transition)
//!     b_i^{k+1} = b′_i as for every agent (MFQ);  a_i^{k+1} ~ π^ε_0(s′_i, ·) (tremble around action 0)
//! ```
//! The default keeps the tables because the learning curves then measure how fast a fixed
//! set of N learners improves, not a mixture with ζ·N new learners per step; with ζ = 0.01
//! the reset makes each table live ≈ 1/ζ = 100 steps on average, so at 300 or 2000
//! iterations the population is mostly agents younger than 100 steps whatever the run's
//! length. It is what the code has always done; the paper does not say which it used.
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
//! (T/2³²)·(1/(|A|−1) ± 2⁻³²) — the strategy π^ε_{Q_i} up to 10⁻⁹ ([`tremble_action`]).
//! MFQ's neighbour draws use their own stream, `stream(seed, Learn, k, c | 2⁶³)` (chunk
//! indices never reach 2⁶³, so the two families of keys never meet and the key map is a
//! bijection: distinct streams).
//!
//! # Layout
//! Everything eq. 6 and acting touch of one row (agent i, state s, bin b) sits in one
//! record of R u32 words (`RecordLayout`): Q_i(s, ·, b) as f32 bits, n_i(s, ·, b) as u16
//! pairs, then the greedy byte a*(Q_i(s, ·, b)); R = U = |A| + ⌈(2|A| + 1)/4⌉ rounded up
//! to a power of two while U ≤ 16, and the records start on a 64-byte boundary, so a
//! record never straddles a cache line (|A| = 5: 31 bytes used of R = 8 words = 32 bytes,
//! two records per line). Records are agent-major, (i·|S|·B + s·B + b)·R, so an update
//! touches two lines at irregular addresses, records (s, b) and (s′, b′), or one when
//! they share a line (the separate f32 / u16 / u8 columns of the previous layout cost about
//! four). The chunk's agents are updated `BLOCK` = 32 at a time, software pipelined:
//! before block n is updated, a pass over block n + 1 draws its next bins (MFQ, in agent
//! order, from the neighbour stream only) and prefetches both records of each of its agents
//! (`prefetch_index`, a safe wrapper of the SSE prefetch hint: this crate keeps
//! `forbid(unsafe_code)`), so block n + 1's ≤ 64 misses are in flight while block n's
//! arithmetic runs; a prefetch, unlike a load, does not hold up the instructions after it.
//! (The previous design read one word of each record in a gather pass of plain loads, which
//! overlapped the misses with each other but not with the arithmetic.) Neither changes the
//! arithmetic or the order of any draw: the results are bitwise those of the column layout.
//!
//! # Memory
//! Per agent, with B = 1 for IQL ([`Independent::bytes_per_agent`]):
//! ```text
//! column    type   bytes per agent       infection IQL (25×5)   infection MFQ (B = 5)
//! records   u32    4·R·|S|·B             800                    4000
//! actions   u8     1                     1                      1
//! bins      u8     1 (MFQ only)          0                      1
//! total                                  801                    4002
//! ```
//! (a record of |A| = 5 holds 20 bytes of Q, 10 of counts, 1 greedy byte and 1 of padding;
//! the column layout took 776 and 3877 bytes). With the engine's 3 bytes, IQL on infection
//! fits 1.24·10⁶ agents per GB (10⁹ / 804; the column layout: 1.28·10⁶); a whole
//! `mfgsim learn` run at 10⁶ agents peaks at 821 bytes of RSS per agent, 1.22·10⁶ agents
//! per GB (the column layout: 796, 1.26·10⁶).
//! Per run ([`Independent::bytes_fixed`]): one histogram of |S|·|A| u32 per chunk, one
//! scratch of K agent indices per chunk (MFQ), the strategy μ̄ and 60 bytes of alignment.
//!
//! Counts are u16 rather than u8: an agent that stays in a state and plays its greedy
//! action visits that pair once per step, so u8 would saturate within 255
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
//! # Sharded
//! Over K ranks (MPI processes, [`Independent::try_new_sharded`]) rank r holds the agents
//! of its block of whole chunks ([`block_of`]), their records, actions and bins, and steps
//! them with the streams of their *global* chunk and agent indices, so each agent's table
//! is bitwise what one process computes. What must be global goes through the
//! [`Collective`]'s u64 all-reduce:
//! ```text
//! per update:  [Σ_c hist_c(s, a) over the block's chunks | resets | bits(Σ_{i∈c} |TD_i|) in
//!              the slot of each global chunk c of the block, 0 elsewhere]  → summed
//!              totals and resets: integers; TD: each slot non-zero on one rank, so the sum
//!              is its bits, then Σ_c in chunk order (the one-process order)
//! MFQ, K > 1:  every agent's s′ packed 8 (|S| ≤ 256) or 4 to a u64, each word filled by
//!              its block's rank → summed = the whole state column on every rank
//!              (N·b/8 bytes per rank), read by the neighbour draws
//! μ̄ with an empty state: the block's greedy counts there → summed (integers)
//! agent_policies: the holder's flag and |S| greedy actions per sampled agent → summed
//! ```
//! So z^N, μ̄, the update's counts and mean |TD error| and every sampled agent's strategy
//! are bitwise those of one process, for any K and threads per rank.
//!
//! # Cost
//! Per agent and step: one transition read, two records (s and s′: |A| f32 each, one u16
//! count and two greedy bytes are used), one u64 draw, a rescan of |A| entries only when
//! the greedy entry decreased; MFQ adds K uniform draws (Floyd's algorithm, O(K²)
//! comparisons) and K reads of other agents' transitions. O(N) work and no allocation per
//! agent; μ̄ adds O(chunks·|S|·|A|), and O(N·#empty states) when some state has no agent.
//!
//! Speed (measured logs: `doc/experiments/independent.md`, "Speed"): at 10⁶ agents on one
//! core the update is latency-bound on the two records per agent; the software pipeline of
//! `# Layout` brings a whole `mfgsim learn --algo iql --agents 1e6 --threads 1` run to
//! 16.8–19.8 M agent-steps per CPU-second on this project's 2-core VM, 1.97–2.60× the column
//! layout before issue 22 (binaries alternated on one machine), bitwise the same results.
//! MFQ's records are B = 5 times as many and its K = 10 neighbour reads land anywhere in
//! the transition buffer.
//!
//! # Experiments
//! Whole IQL/MFQ runs at N = 10³ and 10⁶ against the exact T-MFE, with the numbers and the
//! command that reproduces them (`cargo run --release --example experiment_learners --
//! independent`): `doc/experiments/independent.md`.
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

mod kernel;
mod records;
#[cfg(test)]
mod tests;

use kernel::{act_chunk, Pass};
pub use kernel::{bin_index, draw_neighbours, tremble_action, tremble_threshold};
use records::{ChunkMut, RecordLayout, Records, Shape, LINE_WORDS};

use rand::{Rng, RngExt};
use rayon::prelude::*;

use super::Update;
use super::{Actions, Algo, Learner, LearnerParams, MfqParams, Observation, TransitionSource};
use crate::error::{Error, Result};
use crate::model::GameParams;
use crate::operator::trembling::{greedy_action, weights};
use crate::persist::{StateReader, StateWriter};
use crate::population::{block_of, Collective, SingleProcess, StateCode, CHUNK};
use crate::rng::{stream, Purpose, StreamRng};
use crate::space::{Policy, QTable};
use crate::transition::MAX_ACTIONS;

/// Bit set in the chunk index of MFQ's neighbour streams (`stream(seed, Learn, k, c | 2⁶³)`),
/// so they never coincide with the acting streams `(seed, Learn, k, c)`.
pub const NEIGHBOUR_STREAM: u64 = 1 << 63;

/// IQL or MFQ: N agents, each with its own TQ-table (see the module docs), of which this
/// learner holds the block of its rank of `C` (all N with [`SingleProcess`], the default;
/// see `# Sharded` in the module docs).
///
/// Its `Debug` output summarises (it does not print N tables).
#[derive(Clone)]
pub struct Independent<C: Collective = SingleProcess> {
    algo: Algo,
    game: GameParams,
    shape: Shape,
    /// The ranks the agents are spread over.
    comm: C,
    /// The global indices of the agents held here ([`block_of`]; 0..N on one rank).
    block: std::ops::Range<usize>,
    /// The first global chunk of the block (`block.start / CHUNK`).
    first_chunk: usize,
    /// The reduction's words, reused: the greedy totals, the reset count, every global
    /// chunk's Σ |TD error| as f64 bits.
    words: Vec<u64>,
    /// MFQ over K > 1 ranks: every agent's state (the initial ones, then after the last
    /// step), `STATE_LANES` to a word, gathered each step by one all-reduce; empty otherwise.
    gathered: Vec<u64>,
    /// Record (i, s, b) at words (i·|S|·B + s·B + b)·R of it: Q_i(s, ·, b), n_i(s, ·, b) and
    /// a*(Q_i(s, ·, b)) ([`RecordLayout`], module docs' `# Layout`).
    records: Records,
    /// The next step's action of every agent.
    actions: Vec<u8>,
    /// b_i of the next step (MFQ; empty for IQL).
    bins: Vec<u8>,
    /// Per chunk of the block: |S|·|A| counts (state, greedy action).
    chunk_hist: Vec<u32>,
    /// Per chunk of the block: Σ |TD error|.
    chunk_td: Vec<f64>,
    /// Per chunk: K agent indices (MFQ; empty for IQL).
    chunk_scratch: Vec<usize>,
    /// Totals of `chunk_hist`, then μ̄'s numerators.
    totals: Vec<u64>,
    /// States with no agent (scratch of `write_policy`).
    empty: Vec<usize>,
    policy: Policy,
}

impl<C: Collective> std::fmt::Debug for Independent<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Independent")
            .field("algo", &self.algo)
            .field("num_agents", &self.shape.num_agents)
            .field("block", &self.block)
            .field("ranks", &self.comm.size())
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

/// States per u64 word of the gathered state column (MFQ over K > 1 ranks): 8 of 8 bits
/// when |S| ≤ 256, else 4 of 16 bits.
fn state_bits(num_states: usize) -> u32 {
    if num_states <= 256 {
        8
    } else {
        16
    }
}

/// State of agent `j` in a gathered column of `bits`-bit lanes.
#[inline(always)]
fn unpack_state(words: &[u64], bits: u32, j: usize) -> usize {
    let lanes = (64 / bits) as usize;
    ((words[j / lanes] >> (bits as usize * (j % lanes))) & ((1u64 << bits) - 1)) as usize
}

impl Independent {
    /// Exact bytes of the learner's per-agent columns for one agent (module docs' `# Memory`):
    /// 4·R·|S|·B (the records, R words each, see `# Layout`) + 1, plus 1 for MFQ's bin;
    /// B = `params.mfq.bins` for MFQ, 1 otherwise. For the caller's memory check before
    /// [`Independent::try_new`] allocates.
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
        let record_bytes = 4 * RecordLayout::new(na as usize).words as u64;
        ns * nb * record_bytes + 1 + u64::from(algo == Algo::Mfq)
    }

    /// Bytes of the learner's per-run buffers for `num_agents` agents on one process
    /// ([`Independent::bytes_fixed_sharded`] with one rank).
    pub fn bytes_fixed(
        num_states: usize,
        num_actions: usize,
        num_agents: usize,
        algo: Algo,
        params: &LearnerParams,
    ) -> u64 {
        Self::bytes_fixed_sharded(num_states, num_actions, num_agents as u64, 1, algo, params)
    }

    /// Bytes of the per-run buffers of the rank holding the largest of `ranks` blocks of
    /// `num_agents` agents: per chunk of the block a histogram of |S|·|A| u32, a TD sum and
    /// (MFQ) K agent indices; per global chunk one reduction word; μ̄ (|S|·|A| f64 and |S|
    /// greedy actions), |S|·|A| u64 totals and as many reduction words (+ 1), |S| indices of
    /// empty states, the 60 bytes that
    /// align the records to a line; and for MFQ over `ranks` > 1 the gathered state column,
    /// ⌈N·b/64⌉ u64 words (b = 8 bits per state when |S| ≤ 256, else 16), held by every
    /// rank.
    pub fn bytes_fixed_sharded(
        num_states: usize,
        num_actions: usize,
        num_agents: u64,
        ranks: usize,
        algo: Algo,
        params: &LearnerParams,
    ) -> u64 {
        let ranks = ranks.max(1);
        let largest = (0..ranks)
            .map(|r| {
                let b = block_of(num_agents, r, ranks);
                b.end - b.start
            })
            .max()
            .unwrap_or(num_agents);
        let chunk = CHUNK as u64;
        let chunks = largest.div_ceil(chunk);
        let global_chunks = num_agents.div_ceil(chunk);
        let (ns, na) = (num_states as u64, num_actions as u64);
        let mfq = algo == Algo::Mfq;
        let k = if mfq { params.mfq.neighbours as u64 } else { 0 };
        let word = std::mem::size_of::<usize>() as u64;
        let gathered = if mfq && ranks > 1 {
            num_agents.div_ceil(u64::from(64 / state_bits(num_states))) * 8
        } else {
            0
        };
        chunks
            .saturating_mul(4 * ns * na + 8 + word * k)
            .saturating_add(global_chunks.saturating_mul(8))
            .saturating_add(8 * ns * na + word * ns + 8 * ns * na + word * ns + 8 * ns * na + 8)
            .saturating_add(4 * (LINE_WORDS as u64 - 1))
            .saturating_add(gathered)
    }

    /// N = `initial_states.len()` agents with Q_i = 0 and n_i = 0, their first bins (MFQ)
    /// drawn from `initial_states` and their first actions drawn with `seed` (step 0 of the
    /// streams in the module docs), all on this process. The driver must pass the same
    /// `seed`.
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
        Independent::try_new_sharded(
            SingleProcess,
            num_states,
            num_actions,
            game,
            params,
            algo,
            initial_states.len() as u64,
            initial_states,
            seed,
        )
    }
}

impl<C: Collective> Independent<C> {
    /// This rank's block ([`block_of`]) of the N = `num_agents` agents of
    /// [`Independent::try_new`]: `block_states` are the block's initial states (in block
    /// order), and everything is bitwise what one process holds for these agents (module
    /// docs' `# Sharded`). Collective: every rank of `comm` calls it with the same arguments
    /// but its own block.
    ///
    /// # Errors
    /// As [`Independent::try_new`], and [`Error::Param`] (key `initial_states`) when
    /// `block_states` is not as long as this rank's block.
    #[expect(
        clippy::too_many_arguments,
        reason = "the sizes, the knobs, the block and the seed"
    )]
    pub fn try_new_sharded<T: StateCode>(
        comm: C,
        num_states: usize,
        num_actions: usize,
        game: GameParams,
        params: &LearnerParams,
        algo: Algo,
        num_agents: u64,
        block_states: &[T],
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
        if num_agents == 0 {
            return Err(Error::param("agents", "must be >= 1, got 0"));
        }
        let n = usize::try_from(num_agents)
            .map_err(|_| Error::param("agents", format!("{num_agents} agents overflow")))?;
        let global = block_of(num_agents, comm.rank(), comm.size());
        // Within 0..N, which fits a usize.
        let block = global.start as usize..global.end as usize;
        if block_states.len() != block.len() {
            return Err(Error::param(
                "initial_states",
                format!(
                    "rank {} of {} holds agents {}..{}, got {} initial states",
                    comm.rank(),
                    comm.size(),
                    block.start,
                    block.end,
                    block_states.len()
                ),
            ));
        }
        if let Some((i, s)) = block_states
            .iter()
            .enumerate()
            .find(|(_, s)| s.index() >= num_states)
        {
            return Err(Error::param(
                "initial_states",
                format!(
                    "agent {} is in state {}, of {num_states}",
                    block.start + i,
                    s.index()
                ),
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
        let rec = RecordLayout::new(num_actions);
        let agent_words = num_states * nb * rec.words;
        let total = agent_words
            .checked_mul(block.len())
            .filter(|t| {
                t.checked_add(LINE_WORDS)
                    .and_then(|t| t.checked_mul(4))
                    .is_some()
            })
            .ok_or_else(|| Error::param("agents", format!("{n} agents overflow the tables")))?;
        let (wg, wo) = weights(game.epsilon, num_actions);
        let shape = Shape {
            num_agents: n,
            ns: num_states,
            na: num_actions,
            nb,
            k,
            rows: num_states * nb,
            rec,
            agent_words,
            wg,
            wo,
            gamma: game.gamma,
            w: params.tq.step_exponent,
            threshold: tremble_threshold(game.epsilon, num_actions),
            reset: params.reset_on_regeneration,
        };
        let chunks = block.len().div_ceil(CHUNK);
        let first_chunk = block.start / CHUNK;
        let sharded = comm.size() > 1;
        let mut learner = Independent {
            algo,
            game,
            shape,
            comm,
            first_chunk,
            words: Vec::new(),
            gathered: Vec::new(),
            records: Records::zeroed(total),
            actions: vec![0; block.len()],
            bins: if mfq {
                vec![0; block.len()]
            } else {
                Vec::new()
            },
            chunk_hist: vec![0; chunks * num_states * num_actions],
            chunk_td: vec![0.0; chunks],
            chunk_scratch: vec![0; chunks * k],
            totals: vec![0; num_states * num_actions],
            empty: Vec::with_capacity(num_states),
            policy: Policy::uniform(num_states, num_actions),
            block,
        };
        if mfq && sharded {
            learner.gather_states(|l| block_states[l].index());
        }
        let (start, first) = (learner.block.start, learner.first_chunk);
        let gathered = std::mem::take(&mut learner.gathered);
        let bits = state_bits(num_states);
        {
            let g = &gathered[..];
            // Own states from the block, neighbours' from the gathered column (MFQ, K > 1).
            let state_of = |j: usize| {
                if g.is_empty() {
                    block_states[j - start].index()
                } else {
                    unpack_state(g, bits, j)
                }
            };
            learner
                .views()
                .into_par_iter()
                .enumerate()
                .for_each(|(c, view)| {
                    if mfq {
                        act_chunk::<true>(&shape, first + c, view, 0, seed, &state_of);
                    } else {
                        act_chunk::<false>(&shape, first + c, view, 0, seed, &state_of);
                    }
                });
        }
        learner.gathered = gathered;
        learner.reduce(0);
        learner.write_policy();
        Ok(learner)
    }

    /// Replaces `gathered` by every rank's states, `state(l)` the state of the block's l-th
    /// agent: this rank fills its block's words (blocks are whole chunks, so no word is
    /// shared by two ranks), the others are 0, and one all-reduce sums them.
    fn gather_states(&mut self, state: impl Fn(usize) -> usize + Sync) {
        let bits = state_bits(self.shape.ns);
        let lanes = (64 / bits) as usize;
        self.gathered.clear();
        self.gathered
            .resize(self.shape.num_agents.div_ceil(lanes), 0);
        let (start, len) = (self.block.start, self.block.len());
        debug_assert_eq!(start % lanes, 0, "blocks start on a chunk");
        let own = &mut self.gathered[start / lanes..(start + len).div_ceil(lanes)];
        own.par_chunks_mut(CHUNK / lanes)
            .enumerate()
            .for_each(|(c, words)| {
                for (w, word) in words.iter_mut().enumerate() {
                    let first = c * CHUNK + w * lanes;
                    let mut v = 0u64;
                    for l in 0..lanes.min(len - first) {
                        v |= (state(first + l) as u64) << (bits as usize * l);
                    }
                    *word = v;
                }
            });
        self.comm.all_reduce_sum(&mut self.gathered);
    }

    /// One all-reduce of the block's greedy totals (summed over its chunks), `reset` and the
    /// block's per-chunk Σ |TD error| (as f64 bits in the slots of their global chunks, 0
    /// elsewhere: each slot is non-zero on one rank at most, so the sum is that rank's
    /// bits). Afterwards `totals` are the population's; returns the total resets and
    /// Σ |TD error| added over the global chunks in chunk order, the one-process order.
    fn reduce(&mut self, reset: u64) -> (u64, f64) {
        let width = self.shape.ns * self.shape.na;
        let chunks = self.shape.num_agents.div_ceil(CHUNK);
        self.totals.fill(0);
        for hist in self.chunk_hist.chunks_exact(width) {
            for (t, h) in self.totals.iter_mut().zip(hist) {
                *t += u64::from(*h);
            }
        }
        self.words.clear();
        self.words.reserve_exact(width + 1 + chunks);
        self.words.extend_from_slice(&self.totals);
        self.words.push(reset);
        self.words.resize(width + 1 + chunks, 0);
        let slots = &mut self.words[width + 1 + self.first_chunk..];
        for (slot, td) in slots.iter_mut().zip(&self.chunk_td) {
            *slot = td.to_bits();
        }
        self.comm.all_reduce_sum(&mut self.words);
        self.totals.copy_from_slice(&self.words[..width]);
        let td: f64 = self.words[width + 1..]
            .iter()
            .map(|w| f64::from_bits(*w))
            .sum();
        (self.words[width], td)
    }

    /// Every chunk's slices of the block, in chunk order.
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
        self.records
            .get_mut()
            .chunks_mut(CHUNK * s.agent_words)
            .zip(self.actions.chunks_mut(CHUNK))
            .zip(bins)
            .zip(self.chunk_hist.chunks_mut(s.ns * s.na))
            .zip(self.chunk_td.iter_mut())
            .zip(scratch)
            .map(
                |(((((records, actions), bins), hist), td), scratch)| ChunkMut {
                    records,
                    actions,
                    bins,
                    hist,
                    td,
                    scratch,
                },
            )
            .collect()
    }

    /// μ̄ from the population's greedy totals (after [`Independent::reduce`]; module docs'
    /// formula). When some state holds no agent anywhere (all ranks see the same totals),
    /// every agent's greedy action in that state is counted on its rank and the counts are
    /// all-reduced: integers, so the order does not matter.
    fn write_policy(&mut self) {
        let Shape { ns, na, nb, .. } = self.shape;
        let width = ns * na;
        let mut empty = std::mem::take(&mut self.empty);
        empty.clear();
        empty.extend(
            (0..ns).filter(|&s| self.totals[s * na..(s + 1) * na].iter().sum::<u64>() == 0),
        );
        if !empty.is_empty() {
            // Rows of empty states are 0 in every chunk: count every agent's greedy action
            // there, then add those rows up again.
            let (agent_words, rec) = (self.shape.agent_words, self.shape.rec);
            let bins = &self.bins;
            self.chunk_hist
                .par_chunks_mut(width)
                .zip(self.records.get().par_chunks(CHUNK * agent_words))
                .enumerate()
                .for_each(|(c, (hist, records))| {
                    for (local, agent) in records.chunks_exact(agent_words).enumerate() {
                        let b = if nb > 1 {
                            usize::from(bins[c * CHUNK + local])
                        } else {
                            0
                        };
                        for &s in &empty {
                            let r = (s * nb + b) * rec.words;
                            hist[s * na + usize::from(rec.greedy(&agent[r..]))] += 1;
                        }
                    }
                });
            self.words.clear();
            self.words.resize(empty.len() * na, 0);
            for hist in self.chunk_hist.chunks_exact(width) {
                for (e, &s) in empty.iter().enumerate() {
                    for a in 0..na {
                        self.words[e * na + a] += u64::from(hist[s * na + a]);
                    }
                }
            }
            self.comm.all_reduce_sum(&mut self.words);
            for (e, &s) in empty.iter().enumerate() {
                for a in 0..na {
                    self.totals[s * na + a] += self.words[e * na + a];
                }
            }
        }
        self.empty = empty;
        let (wg, wo) = (self.shape.wg, self.shape.wo);
        for s in 0..ns {
            let row = &self.totals[s * na..(s + 1) * na];
            let n_s: u64 = row.iter().sum();
            let inv = 1.0 / n_s as f64;
            let out = &mut self.policy.probs_mut()[s * na..(s + 1) * na];
            for (p, &c) in out.iter_mut().zip(row) {
                *p = (c as f64 * wg + (n_s - c) as f64 * wo) * inv;
            }
            let g = greedy_action(out);
            self.policy.greedy_mut()[s] = g;
        }
    }

    /// N, the number of agents (over all ranks).
    pub fn num_agents(&self) -> usize {
        self.shape.num_agents
    }

    /// The global indices of the agents held here (0..N on one process).
    pub fn block(&self) -> std::ops::Range<usize> {
        self.block.clone()
    }

    /// B: 1 for IQL, `mfq_bins` for MFQ.
    pub fn num_bins(&self) -> usize {
        self.shape.nb
    }

    /// γ and ε.
    pub fn game(&self) -> GameParams {
        self.game
    }

    /// The action every agent of the block plays in the next step (block order).
    pub fn agent_actions(&self) -> &[u8] {
        &self.actions
    }

    /// The block's index of global agent `agent`.
    ///
    /// # Panics
    /// When the agent is not held here.
    fn local(&self, agent: usize) -> usize {
        assert!(
            self.block.contains(&agent),
            "agent {agent} out of range {:?}",
            self.block
        );
        agent - self.block.start
    }

    /// The bin agent `i` acts on in the next step (0 for IQL).
    ///
    /// # Panics
    /// When agent `i` is not held here (`agent ≥ N` on one process).
    pub fn agent_bin(&self, agent: usize) -> usize {
        let l = self.local(agent);
        self.bins.get(l).map_or(0, |b| usize::from(*b))
    }

    fn row_index(&self, agent: usize, state: usize, bin: usize) -> usize {
        let s = &self.shape;
        let l = self.local(agent);
        assert!(
            state < s.ns && bin < s.nb,
            "row ({agent}, {state}, {bin}) out of range"
        );
        l * s.rows + state * s.nb + bin
    }

    /// The record of row (agent, state, bin): its R words.
    fn record(&self, agent: usize, state: usize, bin: usize) -> &[u32] {
        let w = self.shape.rec.words;
        let r = self.row_index(agent, state, bin) * w;
        &self.records.get()[r..r + w]
    }

    /// Q_i(s, ·, b), the |A| entries of one row (copied out of the agent's record).
    ///
    /// # Panics
    /// When an index is out of range (or the agent is not held here).
    pub fn q_row(&self, agent: usize, state: usize, bin: usize) -> Vec<f32> {
        let (rec, row) = (self.shape.rec, self.record(agent, state, bin));
        (0..self.shape.na).map(|a| rec.q(row, a)).collect()
    }

    /// n_i(s, ·, b), the |A| visit counts of one row (copied out of the agent's record).
    ///
    /// # Panics
    /// When an index is out of range (or the agent is not held here).
    pub fn count_row(&self, agent: usize, state: usize, bin: usize) -> Vec<u16> {
        let (rec, row) = (self.shape.rec, self.record(agent, state, bin));
        (0..self.shape.na).map(|a| rec.count(row, a)).collect()
    }

    /// The cached greedy action a*(Q_i(s, ·, b)).
    ///
    /// # Panics
    /// When an index is out of range (or the agent is not held here).
    pub fn cached_greedy(&self, agent: usize, state: usize, bin: usize) -> usize {
        usize::from(self.shape.rec.greedy(self.record(agent, state, bin)))
    }
}

impl<C: Collective + Send + Clone> Learner for Independent<C> {
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

    /// Eq. 6 for every agent of the block on its transition `obs.source.get(i − start)`
    /// (`start` the block's first agent, 0 on one process), then its next bin (MFQ) and
    /// action, and μ̄ (module docs). Collective over the ranks.
    ///
    /// # Errors
    /// [`Error::Param`] (key `agents`) when the source does not hold one transition per agent
    /// of the block, (key `tables`) when its tables have other sizes; nothing changes.
    ///
    /// # Panics
    /// When a transition holds a state or action out of range.
    fn update<S: TransitionSource + ?Sized>(&mut self, obs: &Observation<'_, S>) -> Result<Update> {
        let shape = self.shape;
        let src = obs.source;
        if src.len() != self.block.len() {
            return Err(Error::param(
                "agents",
                format!(
                    "the source holds {} transitions, the learner has {} agents{}",
                    src.len(),
                    self.block.len(),
                    if self.comm.size() > 1 {
                        format!(" on rank {} of {}", self.comm.rank(), self.comm.size())
                    } else {
                        String::new()
                    }
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
        if mfq && self.comm.size() > 1 {
            self.gather_states(|l| src.get(l).2);
        }
        let (offset, first) = (self.block.start, self.first_chunk);
        let gathered = std::mem::take(&mut self.gathered);
        let bits = state_bits(shape.ns);
        let pass = Pass {
            first,
            offset,
            step,
            seed,
        };
        match (mfq, gathered.is_empty()) {
            (false, _) => pass.run::<false, S>(&shape, self.views(), src, &|_| 0),
            // One process: every agent's s′ is in the source.
            (true, true) => pass.run::<true, S>(&shape, self.views(), src, &|j| src.get(j).2),
            (true, false) => pass.run::<true, S>(&shape, self.views(), src, &|j| {
                unpack_state(&gathered, bits, j)
            }),
        }
        self.gathered = gathered;
        let local_reset = if shape.reset {
            (0..self.block.len())
                .into_par_iter()
                .filter(|&l| src.regenerated(l))
                .count() as u64
        } else {
            0
        };
        let (reset, td) = self.reduce(local_reset);
        self.write_policy();
        let updates = shape.num_agents - reset as usize;
        Ok(Update {
            tq_updates: updates as u64,
            mean_abs_td_error: if updates == 0 {
                0.0
            } else {
                td / updates as f64
            },
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

    /// Sections `agent_records` (u32: Q, counts and greedy cache of every (agent, state,
    /// bin), as laid out in memory, `# Layout`), `agent_actions` (the next step's actions),
    /// `agent_bins` (MFQ) and `chunk_greedy_hist` (what μ̄ is computed from): 4·R·|S|·B + 1
    /// (+ 1 for MFQ) bytes per agent, as in memory.
    fn save_state(&self, w: &mut dyn StateWriter) -> Result<()> {
        w.u32s("agent_records", self.records.get())?;
        w.u8s("agent_actions", &self.actions)?;
        w.u8s("agent_bins", &self.bins)?;
        w.u32s("chunk_greedy_hist", &self.chunk_hist)
    }

    /// # Errors
    /// As [`Learner::load_state`], and [`Error::Param`] (key `agent_actions`, `agent_records`
    /// or `agent_bins`) for an action ≥ |A|, a cached greedy action ≥ |A| or a bin ≥ B.
    fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        r.u32s("agent_records", self.records.get_mut())?;
        r.u8s("agent_actions", &mut self.actions)?;
        r.u8s("agent_bins", &mut self.bins)?;
        r.u32s("chunk_greedy_hist", &mut self.chunk_hist)?;
        let (na, nb, rec) = (self.shape.na, self.shape.nb, self.shape.rec);
        if let Some(i) = self
            .records
            .get()
            .par_chunks_exact(rec.words)
            .position_first(|row| usize::from(rec.greedy(row)) >= na)
        {
            return Err(Error::param(
                "agent_records",
                format!(
                    "record {i} caches greedy action {}, of {na}",
                    rec.greedy(&self.records.get()[i * rec.words..])
                ),
            ));
        }
        for (key, column, bound) in [
            ("agent_actions", &self.actions, na),
            ("agent_bins", &self.bins, nb),
        ] {
            if let Some(i) = column
                .par_iter()
                .position_first(|&v| usize::from(v) >= bound)
            {
                return Err(Error::param(
                    key,
                    format!("entry {i} is {}, of {bound}", column[i]),
                ));
            }
        }
        self.reduce(0);
        self.write_policy();
        Ok(())
    }

    /// π^ε_{Q_i}(s, ·, b_i) for every state s, b_i the agent's bin for the next step;
    /// `None` for an agent not held here (≥ N on one process).
    fn agent_policy(&self, agent: usize) -> Option<Policy> {
        if !self.block.contains(&agent) {
            return None;
        }
        let b = self.agent_bin(agent);
        Some(self.trembling(|s| self.cached_greedy(agent, s, b)))
    }

    /// [`Learner::agent_policy`] of each of `agents` wherever it is held: the holder puts a
    /// flag 1 and the agent's |S| greedy actions into the agent's slot (0 elsewhere), one
    /// all-reduce sums the slots, and every rank builds the same strategies; agents nobody
    /// holds (≥ N) are skipped. Collective over the ranks.
    fn agent_policies(&self, agents: &[usize]) -> Vec<Policy> {
        if self.comm.size() == 1 {
            return agents
                .iter()
                .filter_map(|&i| self.agent_policy(i))
                .collect();
        }
        let ns = self.shape.ns;
        let mut words = vec![0u64; agents.len() * (ns + 1)];
        for (slot, &i) in words.chunks_exact_mut(ns + 1).zip(agents) {
            if self.block.contains(&i) {
                let b = self.agent_bin(i);
                slot[0] = 1;
                for (s, g) in slot[1..].iter_mut().enumerate() {
                    *g = self.cached_greedy(i, s, b) as u64;
                }
            }
        }
        self.comm.all_reduce_sum(&mut words);
        words
            .chunks_exact(ns + 1)
            .filter(|slot| slot[0] == 1)
            .map(|slot| self.trembling(|s| slot[1 + s] as usize))
            .collect()
    }
}

impl<C: Collective> Independent<C> {
    /// π^ε of the greedy actions `greedy(s)`: 1 − ε on it, ε/(|A|−1) on each other action.
    fn trembling(&self, greedy: impl Fn(usize) -> usize) -> Policy {
        let Shape { ns, na, wg, wo, .. } = self.shape;
        let mut p = Policy::uniform(ns, na);
        for s in 0..ns {
            let g = greedy(s);
            p.greedy_mut()[s] = g;
            let row = &mut p.probs_mut()[s * na..(s + 1) * na];
            row.fill(wo);
            row[g] = wg;
        }
        p
    }
}
