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
//! four). The chunk's agents are updated `BLOCK` = 32 at a time: a gather pass reads one
//! word of both records of each agent of the block (and draws MFQ's next bins, in agent
//! order, from the neighbour stream only), so the block's ≤ 64 misses are issued together
//! (as many in flight as the core's dozen or so line-fill buffers allow); the update pass
//! then finds them in cache and runs in agent order. std's prefetch intrinsic needs
//! `unsafe`, so the gather pass uses plain loads. Neither changes the arithmetic or the
//! order of any draw: the results are bitwise those of the column layout.
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
//! Measured (release build, 2 cores of a VM shared with other builds, load 5–6, so the
//! ranges are wide: the slowest runs of both layouts are the most crowded ones; `benches/agents.rs`, `mfgsim learn … --algo iql --agents 1e6
//! --iterations 50` under `/usr/bin/time`), IQL on infection, 10⁶ agents, the column
//! layout (before issue 22) and the record layout measured alternately:
//! ```text
//!                                         columns              records
//! end to end, agent-steps per CPU-second  5.6–9.1 M (12 runs)  8.9–14.1 M (6 runs, BLOCK 32)
//!   (50·10⁶ / (user + sys))                                    10.8–13.7 M (3 runs, BLOCK 16)
//!   each new run against the columns run just before it       1.4–1.8× (median 1.6×)
//! minor page faults, sys seconds          383 k, 0.6–1.2 s     199 k, 0.35–0.5 s
//! criterion (10⁶, 2 runs each; records with BLOCK 32, ranges of the 95 % intervals):
//!   one iteration, 1 thread (per CPU-s)   6.8–9.3 M/s          13.8–15.3 M/s
//!   one iteration, 2 threads              8.8–10.9 M/s         14.1–16.6 M/s
//!   update alone, 1 thread                6.3–11.7 M/s         13.2–20.0 M/s (4 more runs)
//! ```
//! (2 threads gain little here: the two builds sharing the VM keep both cores busy.)
//! Cachegrind (1 thread, 2·10⁵ agents, 10 iterations, BLOCK 16, simulated 48 MB LL; the
//! learner's rows of `cg_annotate`, per agent-update): D1 read misses 2.8 → 1.3, LL read misses
//! 0.73 → 0.25, at +12 % instructions for the whole run (the gather pass, the bit fields).
//! The update's arithmetic, the RNG and the rescans cost ≈ 20 ns per agent per core
//! (tables in cache); at 10⁶ agents (800 MB) the rest is the latency of the two records.
//! MFQ's records are B = 5 times as many and its K = 10 neighbour reads land anywhere in
//! the transition buffer. (The VM exposes no hardware counters: the split is by timing,
//! the working-set size and cachegrind's simulated caches.)
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

/// Words (u32) of one cache line: records are aligned to 64 bytes.
const LINE_WORDS: usize = 16;

/// Agents whose records the update touches ahead of updating them (module docs' `# Layout`).
const BLOCK: usize = 32;

/// Where one record (agent i, state s, bin b) keeps its entries, in u32 words:
/// ```text
/// word 0 .. |A|                      Q(s, a, b) as f32 bits, a = 0 .. |A|−1
/// half-words 2|A| + a (a < |A|)      n(s, a, b), u16: word |A| + ⌊a/2⌋, bits 16·(a mod 2) ..
/// byte 4|A| + 2|A|                   a*(Q(s, ·, b)), u8: word |A| + ⌊|A|/2⌋, bits 16·(|A| mod 2) ..
/// used  U = |A| + ⌈(2|A| + 1)/4⌉ words; stride R = U rounded up to a power of two when U ≤ 16
///       (so a record never straddles a 64-byte line), R = U otherwise; padding words are 0
/// ```
/// |A| = 5 (infection): U = R = 8 (32 bytes, two records per line); |A| = 4 (gig): U = 7, R = 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordLayout {
    /// |A|: the first word of the counts.
    na: usize,
    /// The word holding the greedy byte.
    greedy_word: usize,
    /// Its bit offset there.
    greedy_shift: u32,
    /// R, the stride of records in words.
    words: usize,
}

impl RecordLayout {
    fn new(na: usize) -> Self {
        let used = na + (2 * na + 1).div_ceil(4);
        RecordLayout {
            na,
            greedy_word: na + na / 2,
            greedy_shift: 16 * (na as u32 % 2),
            words: if used <= LINE_WORDS {
                used.next_power_of_two()
            } else {
                used
            },
        }
    }

    #[inline(always)]
    fn q(&self, rec: &[u32], a: usize) -> f32 {
        f32::from_bits(rec[a])
    }

    #[inline(always)]
    fn count(&self, rec: &[u32], a: usize) -> u16 {
        (rec[self.na + a / 2] >> (16 * (a % 2))) as u16
    }

    #[inline(always)]
    fn set_count(&self, rec: &mut [u32], a: usize, n: u16) {
        let shift = 16 * (a % 2);
        let w = &mut rec[self.na + a / 2];
        *w = (*w & !(0xffff << shift)) | (u32::from(n) << shift);
    }

    #[inline(always)]
    fn greedy(&self, rec: &[u32]) -> u8 {
        (rec[self.greedy_word] >> self.greedy_shift) as u8
    }

    #[inline(always)]
    fn set_greedy(&self, rec: &mut [u32], g: u8) {
        let w = &mut rec[self.greedy_word];
        *w = (*w & !(0xff << self.greedy_shift)) | (u32::from(g) << self.greedy_shift);
    }
}

/// `len` zeroed u32 words whose first word sits on a 64-byte boundary: the vector holds up
/// to [`LINE_WORDS`] − 1 words more, skipped by `offset` (safe code cannot ask the allocator
/// for alignment). A clone is aligned again (data identical).
#[derive(Debug)]
struct Records {
    words: Vec<u32>,
    offset: usize,
    len: usize,
}

impl Records {
    /// The words are written once per 4 KiB page, in parallel: the kernel then maps each
    /// page once, on that write (the update's first access to a page is a read, which
    /// would map the shared zero page and fault a second time on the first write).
    fn zeroed(len: usize) -> Self {
        let mut words = vec![0u32; len + LINE_WORDS - 1];
        words.par_chunks_mut(1024).for_each(|page| page[0] = 0);
        let misalign = words.as_ptr().addr() % (4 * LINE_WORDS);
        // A Vec<u32> is 4-aligned, so `misalign` is a whole number of words.
        let offset = ((4 * LINE_WORDS - misalign) % (4 * LINE_WORDS)) / 4;
        Records { words, offset, len }
    }

    fn get(&self) -> &[u32] {
        &self.words[self.offset..self.offset + self.len]
    }

    fn get_mut(&mut self) -> &mut [u32] {
        &mut self.words[self.offset..self.offset + self.len]
    }
}

impl Clone for Records {
    fn clone(&self) -> Self {
        let mut r = Records::zeroed(self.len);
        r.get_mut().copy_from_slice(self.get());
        r
    }
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
    /// |S|·B: one agent's records.
    rows: usize,
    /// Where a record keeps its entries ([`RecordLayout`]).
    rec: RecordLayout,
    /// |S|·B·`rec.words`: one agent's words.
    agent_words: usize,
    wg: f64,
    wo: f64,
    gamma: f64,
    w: f64,
    threshold: u64,
    /// `reset_on_regeneration`.
    reset: bool,
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
    /// The chunk's agents' records, `agent_words` per agent.
    records: &'a mut [u32],
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
            let out = &mut self.policy.probs[s * na..(s + 1) * na];
            for (p, &c) in out.iter_mut().zip(row) {
                *p = (c as f64 * wg + (n_s - c) as f64 * wo) * inv;
            }
            self.policy.greedy[s] = greedy_action(out);
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

/// Chooses the actions (and MFQ bins) of global chunk `c` for `step` from `state_of` (the
/// states before `step`, by global agent index), with an empty update: the constructor's
/// pass for step 0.
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
    let rec = shape.rec;
    for (local, (records, act)) in view
        .records
        .chunks_exact(shape.agent_words)
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
        let g = rec.greedy(&records[(s * shape.nb + b) * rec.words..]);
        *act = tremble_action(rng.next_u64(), g, shape.threshold, shape.na);
        view.hist[s * shape.na + usize::from(g)] += 1;
    }
}

/// Eq. 6 for every agent of global chunk `c` on its transition, then its next bin and action
/// (the module docs' algorithm, after step `step`), [`BLOCK`] agents at a time: first the
/// block's next bins (MFQ) are drawn and one word of each of its 2·[`BLOCK`] records is read,
/// so their cache misses overlap; then the block is updated in agent order (`# Layout`).
/// Global agent i's transition is `src.get(i − offset)` (`offset`: the first agent `src`
/// holds); `state_after(j)` is global agent j's state after the step (MFQ's neighbours).
#[expect(
    clippy::too_many_arguments,
    reason = "the chunk, its source and its streams"
)]
fn update_chunk<const MFQ: bool, S: TransitionSource + ?Sized>(
    shape: &Shape,
    c: usize,
    offset: usize,
    view: ChunkMut<'_>,
    src: &S,
    state_after: &(impl Fn(usize) -> usize + Sync),
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
        reset,
        rec,
        agent_words,
        ..
    } = *shape;
    let rw = rec.words;
    let next = step + 1;
    let mut rng = stream(seed, Purpose::Learn, next, c as u64);
    let mut nrng = stream(seed, Purpose::Learn, next, c as u64 | NEIGHBOUR_STREAM);
    let tables = src.tables();
    let rewards = &tables.reward;
    let scale = 1.0 - gamma;
    view.hist.fill(0);
    let mut td_sum = 0.0;
    let base = c * CHUNK;
    let mut next_bins = [0u8; BLOCK];
    for (block, (records, actions)) in view
        .records
        .chunks_mut(BLOCK * agent_words)
        .zip(view.actions.chunks_mut(BLOCK))
        .enumerate()
    {
        let first = block * BLOCK;
        // Gather: the bins the block continues on (drawn in agent order, the neighbour stream
        // only), and a read of both records of every agent. An out-of-range transition reads
        // nothing here; the update below panics on it.
        let mut touched = 0u32;
        for (j, agent) in records.chunks_exact(agent_words).enumerate() {
            let i = base + first + j;
            let (s, _, s2) = src.get(i - offset);
            let (b, b2) = if MFQ {
                let b2 = shape.draw_bin(i, view.scratch, &mut nrng, state_after);
                next_bins[j] = b2;
                (usize::from(view.bins[first + j]), usize::from(b2))
            } else {
                (0, 0)
            };
            touched ^= agent.get((s * nb + b) * rw).copied().unwrap_or(0)
                ^ agent.get((s2 * nb + b2) * rw).copied().unwrap_or(0);
        }
        std::hint::black_box(touched);
        for (j, (agent, act)) in records
            .chunks_exact_mut(agent_words)
            .zip(actions.iter_mut())
            .enumerate()
        {
            let local = first + j;
            let i = base + local;
            let (s, a, s2) = src.get(i - offset);
            assert!(
                s < ns && a < na && s2 < ns,
                "Independent::update: transition ({s}, {a}, {s2}) of agent {i} out of range"
            );
            let (b, b2) = if MFQ {
                let b = std::mem::replace(&mut view.bins[local], next_bins[j]);
                (usize::from(b), usize::from(next_bins[j]))
            } else {
                (0, 0)
            };
            let r2 = (s2 * nb + b2) * rw;
            if reset && src.regenerated(i - offset) {
                // A new agent: zeroed records (Q, counts, lowest argmax 0), no update from
                // the old agent's transition; its first action trembles around action 0.
                agent.fill(0);
                *act = tremble_action(rng.next_u64(), 0, threshold, na);
                view.hist[s2 * na] += 1;
                continue;
            }
            // Bootstrap from the row the agent continues from, before the update.
            let next_row = &agent[r2..r2 + na];
            let top = f64::from(f32::from_bits(
                next_row[usize::from(rec.greedy(&agent[r2..]))],
            ));
            let sum: f64 = next_row.iter().map(|v| f64::from(f32::from_bits(*v))).sum();
            let target = rewards[s * na + a] + gamma * ((wg - wo) * top + wo * sum);
            let r1 = (s * nb + b) * rw;
            let row = &mut agent[r1..r1 + rw];
            let n = rec.count(row, a);
            let base_n = 1.0 + scale * f64::from(n);
            let alpha = if w == 1.0 {
                1.0 / base_n
            } else {
                base_n.powf(-w)
            };
            let old = rec.q(row, a);
            let td = target - f64::from(old);
            let new = (f64::from(old) + alpha * td) as f32;
            row[a] = new.to_bits();
            rec.set_count(row, a, n.saturating_add(1));
            td_sum += td.abs();
            // The greedy cache of row (s, b) (module docs' rule).
            let g = usize::from(rec.greedy(row));
            if a == g {
                if new < old {
                    let best = greedy_f32(&row[..na]);
                    rec.set_greedy(row, best);
                }
            } else {
                let at_g = rec.q(row, g);
                if new > at_g || (new == at_g && a < g) {
                    rec.set_greedy(row, a as u8);
                }
            }
            // The next action, on the (possibly just updated) row (s′, b′).
            let g2 = rec.greedy(&agent[r2..]);
            *act = tremble_action(rng.next_u64(), g2, threshold, na);
            view.hist[s2 * na + usize::from(g2)] += 1;
        }
    }
    *view.td = td_sum;
}

/// One update pass over the block's chunks: where the block starts, and the step's keys.
#[derive(Debug, Clone, Copy)]
struct Pass {
    /// The block's first global chunk.
    first: usize,
    /// The block's first global agent (the source's transition 0).
    offset: usize,
    step: u64,
    seed: u64,
}

impl Pass {
    /// [`update_chunk`] on every chunk of the block, in parallel.
    fn run<const MFQ: bool, S: TransitionSource + ?Sized>(
        self,
        shape: &Shape,
        views: Vec<ChunkMut<'_>>,
        src: &S,
        state_after: &(impl Fn(usize) -> usize + Sync),
    ) {
        views.into_par_iter().enumerate().for_each(|(c, view)| {
            update_chunk::<MFQ, S>(
                shape,
                self.first + c,
                self.offset,
                view,
                src,
                state_after,
                self.step,
                self.seed,
            );
        });
    }
}

/// Lowest index of a maximum of a non-empty row of f32 bits.
#[inline]
fn greedy_f32(row: &[u32]) -> u8 {
    let mut best = 0;
    for (a, v) in row.iter().enumerate().skip(1) {
        if f32::from_bits(*v) > f32::from_bits(row[best]) {
            best = a;
        }
    }
    best as u8
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
            p.greedy[s] = g;
            let row = &mut p.probs[s * na..(s + 1) * na];
            row.fill(wo);
            row[g] = wg;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learner::{Algorithm, OnlineDriver, VecTransitions};
    use crate::model::{Infection, KernelTables};
    use crate::population::Population;
    use crate::space::uniform;
    use crate::test_util::in_pool;
    use proptest::prelude::*;
    use std::hash::{Hash, Hasher};

    /// A source with a regeneration flag per transition.
    struct Flagged {
        buf: VecTransitions,
        regen: Vec<bool>,
    }

    impl TransitionSource for Flagged {
        fn len(&self) -> usize {
            self.buf.len()
        }
        fn get(&self, i: usize) -> (usize, usize, usize) {
            self.buf.get(i)
        }
        fn tables(&self) -> &KernelTables {
            self.buf.tables()
        }
        fn regenerated(&self, i: usize) -> bool {
            self.regen[i]
        }
    }

    #[test]
    fn reset_on_regeneration_zeroes_the_regenerated_agents_table() {
        let game = GameParams::default();
        let mut tables = KernelTables::new(2, 3);
        tables.reward = vec![0.3, 1.7, -0.4, 0.9, -1.1, 2.3];
        let z = [0.5, 0.5];
        let step = |l: &mut Independent, k: u64, regen: Vec<bool>| {
            let mut buf = VecTransitions::new(tables.clone());
            buf.transitions = vec![(0, 1, 1), (1, 2, 0)];
            let src = Flagged { buf, regen };
            let obs = Observation {
                step: k,
                seed: 5,
                agents: 2,
                source: &src,
                mean_field: &z,
                counts: None,
            };
            l.update(&obs).unwrap()
        };
        for algo in [Algo::Iql, Algo::Mfq] {
            for reset in [false, true] {
                let mut p = params_with(2, 1, 1.0);
                p.reset_on_regeneration = reset;
                let mut l = Independent::try_new(2, 3, game, &p, algo, &[0u8, 1], 1).unwrap();
                let up = step(&mut l, 0, vec![false, false]);
                assert_eq!(up.tq_updates, 2);
                let nonzero = |l: &Independent, i: usize| {
                    (0..2).any(|s| {
                        (0..l.num_bins()).any(|b| l.q_row(i, s, b).iter().any(|v| *v != 0.0))
                    })
                };
                assert!(nonzero(&l, 0) && nonzero(&l, 1));
                // Agent 0 regenerates during step 1.
                let before = l.clone();
                let up = step(&mut l, 1, vec![true, false]);
                assert_eq!(up.tq_updates, if reset { 1 } else { 2 }, "{algo} {reset}");
                assert_eq!(nonzero(&l, 0), !reset, "{algo} {reset}");
                for s in 0..2 {
                    for b in 0..l.num_bins() {
                        if reset {
                            assert!(l.count_row(0, s, b).iter().all(|c| *c == 0));
                            assert_eq!(l.cached_greedy(0, s, b), 0);
                        }
                    }
                }
                // Agent 1, not regenerated, is updated either way.
                let counts = |l: &Independent| -> u32 {
                    (0..2)
                        .flat_map(|s| (0..l.num_bins()).map(move |b| (s, b)))
                        .map(|(s, b)| {
                            l.count_row(1, s, b)
                                .iter()
                                .map(|c| u32::from(*c))
                                .sum::<u32>()
                        })
                        .sum()
                };
                assert_eq!(counts(&l), counts(&before) + 1);
            }
        }
    }

    fn params_with(bins: usize, neighbours: usize, w: f64) -> LearnerParams {
        let mut p = LearnerParams {
            mfq: MfqParams { neighbours, bins },
            ..LearnerParams::default()
        };
        p.tq.step_exponent = w;
        p
    }

    fn observe<'a>(
        step: u64,
        buf: &'a VecTransitions,
        z: &'a [f64],
    ) -> Observation<'a, VecTransitions> {
        Observation {
            step,
            seed: 5,
            agents: buf.len() as u64,
            source: buf,
            mean_field: z,
            counts: None,
        }
    }

    /// Eq. 6 in f64 on a dense table, for the hand computations.
    fn eq6(
        q: &mut [f64],
        n: &mut [f64],
        na: usize,
        (s, a, s2): (usize, usize, usize),
        r: f64,
        game: GameParams,
        w: f64,
    ) {
        let row = &q[s2 * na..(s2 + 1) * na];
        let best = (0..na).fold(0, |b, x| if row[x] > row[b] { x } else { b });
        let wo = game.epsilon / (na - 1) as f64;
        let g: f64 = (0..na)
            .map(|x| {
                if x == best {
                    (1.0 - game.epsilon) * row[x]
                } else {
                    wo * row[x]
                }
            })
            .sum();
        let alpha = (1.0 + (1.0 - game.gamma) * n[s * na + a]).powf(-w);
        let k = s * na + a;
        q[k] = (1.0 - alpha) * q[k] + alpha * (r + game.gamma * g);
        n[k] += 1.0;
    }

    #[test]
    fn one_agent_update_is_eq6_by_hand() {
        // Two states, three actions, one agent; rewards chosen so no row has a near tie.
        // Each stored value is the f64 formula of the stored inputs rounded once to f32
        // (relative error ≤ 2⁻²⁴); the recursion contracts ((1 − α) + αγ ≤ 1), so after u
        // updates the f32 table is within u·2⁻²⁴·max|Q| of the f64 one (plus f64 noise).
        // A wrong step size (n + 1 for n) or G (the max instead of the tremble mean) moves
        // values by ≥ 10⁻², far outside.
        let game = GameParams {
            gamma: 0.8,
            epsilon: 0.2,
        };
        let mut tables = KernelTables::new(2, 3);
        tables.reward = vec![0.3, 1.7, -0.4, 0.9, -1.1, 2.3];
        let seq = [
            (0, 1, 1),
            (1, 2, 0),
            (0, 1, 0),
            (1, 2, 1),
            (0, 0, 1),
            (1, 0, 0),
            (0, 1, 1),
        ];
        for w in [1.0, 0.8] {
            let params = params_with(5, 10, w);
            let mut l = Independent::try_new(2, 3, game, &params, Algo::Iql, &[0u8], 1).unwrap();
            let (mut q, mut n) = (vec![0.0f64; 6], vec![0.0f64; 6]);
            let z = [0.5, 0.5];
            for (u, &t) in seq.iter().enumerate() {
                let mut buf = VecTransitions::new(tables.clone());
                buf.transitions = vec![t];
                let up = l.update(&observe(u as u64, &buf, &z)).unwrap();
                assert_eq!(up.tq_updates, 1);
                eq6(&mut q, &mut n, 3, t, tables.r(t.0, t.1), game, w);
                let max = q.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let tol = (u + 1) as f64 * max * f64::powi(2.0, -24) + 1e-12;
                for s in 0..2 {
                    let got = l.q_row(0, s, 0);
                    for a in 0..3 {
                        let d = (f64::from(got[a]) - q[s * 3 + a]).abs();
                        assert!(
                            d <= tol,
                            "w {w} update {u}: Q({s},{a}) {} vs {} (tol {tol:e})",
                            got[a],
                            q[s * 3 + a]
                        );
                        assert_eq!(f64::from(l.count_row(0, s, 0)[a]), n[s * 3 + a]);
                    }
                    let best =
                        (0..3).fold(0, |b, x| if q[s * 3 + x] > q[s * 3 + b] { x } else { b });
                    assert_eq!(l.cached_greedy(0, s, 0), best);
                }
            }
        }
    }

    /// Lowest argmax of an f32 row, the naive way.
    fn argmax(row: &[f32]) -> usize {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.iter().position(|v| *v == m).unwrap()
    }

    fn check_every_cache(l: &Independent) -> std::result::Result<(), TestCaseError> {
        for i in 0..l.num_agents() {
            for s in 0..l.shape.ns {
                for b in 0..l.num_bins() {
                    prop_assert_eq!(
                        l.cached_greedy(i, s, b),
                        argmax(&l.q_row(i, s, b)),
                        "agent {} row ({}, {})",
                        i,
                        s,
                        b
                    );
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Random transitions with rewards from {−1, 0, 0, 1} (ties are frequent: equal
        /// targets from equal rows), IQL and MFQ (2 bins), w = 1 and 0.75: after every update
        /// every row's cache is its lowest argmax, and every action is < |A|.
        #[test]
        fn greedy_cache_is_always_the_lowest_argmax(
            mfq in any::<bool>(),
            slow in any::<bool>(),
            steps in prop::collection::vec(
                (prop::collection::vec((0usize..3, 0usize..4, 0usize..3), 3),
                 prop::collection::vec(0usize..4, 12)),
                1..40),
        ) {
            let algo = if mfq { Algo::Mfq } else { Algo::Iql };
            let params = params_with(2, 1, if slow { 0.75 } else { 1.0 });
            let game = GameParams { gamma: 0.5, epsilon: 0.3 };
            let mut l = Independent::try_new(3, 4, game, &params, algo, &[0u8, 1, 2], 9).unwrap();
            check_every_cache(&l)?;
            let z = uniform(3);
            for (k, (transitions, rewards)) in steps.iter().enumerate() {
                let mut tables = KernelTables::new(3, 4);
                tables.reward = rewards.iter().map(|&r| [-1.0, 0.0, 0.0, 1.0][r]).collect();
                let mut buf = VecTransitions::new(tables);
                buf.transitions.clone_from(transitions);
                l.update(&observe(k as u64, &buf, &z)).unwrap();
                check_every_cache(&l)?;
                prop_assert!(l.agent_actions().iter().all(|a| *a < 4));
            }
        }
    }

    /// μ̄ the naive way: agents in s average π^ε of their rows' argmax (not the cache) at
    /// their bin; an empty state averages over all agents.
    fn naive_average(l: &Independent, states: &[u8]) -> Vec<f64> {
        let (ns, na) = (l.shape.ns, l.shape.na);
        let (wg, wo) = weights(l.game.epsilon, na);
        let mut out = vec![0.0; ns * na];
        for s in 0..ns {
            let mut members: Vec<usize> = (0..states.len())
                .filter(|&i| usize::from(states[i]) == s)
                .collect();
            if members.is_empty() {
                members = (0..states.len()).collect();
            }
            for &i in &members {
                let g = argmax(&l.q_row(i, s, l.agent_bin(i)));
                for a in 0..na {
                    out[s * na + a] += if a == g { wg } else { wo } / members.len() as f64;
                }
            }
        }
        out
    }

    #[test]
    fn average_strategy_sums_to_one_and_matches_a_naive_recomputation() {
        let model = Infection::default();
        let game = GameParams::default();
        for (algo, n) in [
            (Algo::Iql, 40),
            (Algo::Iql, 3000),
            (Algo::Mfq, 40),
            (Algo::Mfq, 3000),
        ] {
            let params = LearnerParams::default();
            let pop: Population = Population::try_new(25, n, &uniform(25), 3).unwrap();
            let l = Independent::try_new(25, 5, game, &params, algo, pop.states(), 3).unwrap();
            let mut run = OnlineDriver::new(&model, pop, l, 3).unwrap();
            let mut saw_empty = false;
            for _ in 0..15 {
                run.iterate().unwrap();
                let states = run.engine().states();
                saw_empty |= run.engine().counts().contains(&0);
                let mu = run.policy();
                let naive = naive_average(run.learner(), states);
                for s in 0..25 {
                    let row = mu.row(s);
                    assert!(
                        (row.iter().sum::<f64>() - 1.0).abs() < 1e-12,
                        "{algo} row {s}"
                    );
                    for (a, p) in row.iter().enumerate() {
                        assert!(
                            (p - naive[s * 5 + a]).abs() < 1e-12,
                            "{algo} N {n} μ̄({s},{a}) {p} vs {}",
                            naive[s * 5 + a]
                        );
                    }
                    assert_eq!(mu.greedy[s], greedy_action(row));
                }
            }
            if n == 40 {
                assert!(saw_empty, "the small run should leave some state empty");
            }
        }
    }

    #[test]
    fn neighbour_draws_are_k_distinct_other_agents() {
        let mut rng = stream(1, Purpose::Eval, 0, 0);
        let mut out = [0usize; 12];
        for n in 1..=13 {
            for k in 0..n {
                for agent in 0..n {
                    for _ in 0..20 {
                        let o = &mut out[..k];
                        draw_neighbours(agent, n, o, &mut rng);
                        let mut seen = vec![false; n];
                        for &j in o.iter() {
                            assert!(
                                j < n && j != agent && !seen[j],
                                "N {n} K {k} agent {agent}: {o:?}"
                            );
                            seen[j] = true;
                        }
                    }
                }
            }
        }
        // Uniform over the C(5, 2) = 10 pairs of the other agents (sd of a count 93.9 at
        // 10⁴ per pair, tolerance 5 sd).
        let draws = 100_000;
        let mut pairs = std::collections::BTreeMap::new();
        for _ in 0..draws {
            let o = &mut out[..2];
            draw_neighbours(2, 6, o, &mut rng);
            o.sort_unstable();
            *pairs.entry((o[0], o[1])).or_insert(0u32) += 1;
        }
        assert_eq!(pairs.len(), 10);
        for (p, c) in pairs {
            assert!(
                (f64::from(c) - 10_000.0).abs() < 5.0 * 94.9,
                "pair {p:?}: {c}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "neighbours among")]
    fn too_many_neighbours_panic() {
        draw_neighbours(0, 3, &mut [0; 3], &mut stream(1, Purpose::Eval, 0, 0));
    }

    #[test]
    fn bins_at_the_edges() {
        // 25 states, K = 10, B = 5: the mean m = Σ/10 ∈ [0, 24], bin j is m ∈ [4.8j, 4.8(j+1)).
        assert_eq!(bin_index(0, 10, 25, 5), 0);
        assert_eq!(bin_index(240, 10, 25, 5), 4); // m = |S| − 1: the top bin, not B
        for j in 1..5u64 {
            assert_eq!(bin_index(48 * j, 10, 25, 5), j as u8); // m = 4.8j exactly
            assert_eq!(bin_index(48 * j - 1, 10, 25, 5), j as u8 - 1);
        }
        assert_eq!(bin_index(0, 3, 1, 5), 0); // one state
        assert_eq!(bin_index(7, 7, 2, 1), 0); // one bin
                                              // Against the float formula wherever it is not at a boundary.
        for (k, ns, nb) in [(10, 25, 5), (3, 7, 4), (1, 2, 255), (4, 25, 7)] {
            for sum in 0..=(k * (ns - 1)) as u64 {
                let x = sum as f64 / k as f64 / (ns - 1) as f64 * nb as f64;
                if (x - x.round()).abs() > 1e-9 {
                    assert_eq!(
                        usize::from(bin_index(sum, k, ns, nb)),
                        (x.floor() as usize).min(nb - 1)
                    );
                }
            }
        }
    }

    #[test]
    fn acting_trembles_at_rate_epsilon() {
        // The pure map: rate T/2³² of trembles, spread evenly over the other actions.
        let mut rng = stream(2, Purpose::Eval, 0, 0);
        let (na, eps, draws) = (5, 0.3, 400_000);
        let t = tremble_threshold(eps, na);
        for g in 0..na as u8 {
            let mut hits = [0u32; 5];
            for _ in 0..draws {
                let a = tremble_action(rng.next_u64(), g, t, na);
                hits[usize::from(a)] += 1;
            }
            for (a, h) in hits.iter().enumerate() {
                let p = if a == usize::from(g) {
                    1.0 - eps
                } else {
                    eps / 4.0
                };
                let sd = (p * (1.0 - p) / draws as f64).sqrt();
                assert!(
                    (f64::from(*h) / draws as f64 - p).abs() < 5.0 * sd,
                    "greedy {g} action {a}: {h}"
                );
            }
        }
        assert!(
            (0..1000).all(|_| tremble_action(rng.next_u64(), 3, tremble_threshold(0.0, 5), 5) == 3)
        );
        assert!(
            (0..1000).all(|_| tremble_action(rng.next_u64(), 0, tremble_threshold(0.5, 1), 1) == 0)
        );
        // Through the learner: Q = 0 so every greedy action is 0; 2·10⁵ agents.
        let n = 200_000;
        let game = GameParams {
            gamma: 0.9,
            epsilon: 0.3,
        };
        let states: Vec<u8> = (0..n).map(|i| (i % 25) as u8).collect();
        for algo in [Algo::Iql, Algo::Mfq] {
            let l = Independent::try_new(25, 5, game, &LearnerParams::default(), algo, &states, 4)
                .unwrap();
            let acts = l.agent_actions();
            assert!(acts.iter().all(|a| *a < 5));
            let rate = acts.iter().filter(|a| **a != 0).count() as f64 / n as f64;
            let sd = (0.3 * 0.7 / n as f64).sqrt();
            assert!((rate - 0.3).abs() < 5.0 * sd, "{algo}: tremble rate {rate}");
        }
    }

    #[test]
    fn record_fields_are_disjoint_and_round_trip() {
        for na in 1..=MAX_ACTIONS {
            let rec = RecordLayout::new(na);
            let used = na + (2 * na + 1).div_ceil(4);
            assert!(
                rec.words >= used && (used > LINE_WORDS || LINE_WORDS.is_multiple_of(rec.words))
            );
            let mut row = vec![0u32; rec.words];
            for a in 0..na {
                row[a] = (1.5 + a as f32).to_bits();
                rec.set_count(&mut row, a, 0xfff0 + a as u16 % 16);
            }
            rec.set_greedy(&mut row, (na - 1) as u8);
            for a in 0..na {
                assert_eq!(rec.q(&row, a), 1.5 + a as f32, "|A| {na}");
                assert_eq!(rec.count(&row, a), 0xfff0 + a as u16 % 16, "|A| {na}");
            }
            assert_eq!(usize::from(rec.greedy(&row)), na - 1, "|A| {na}");
            assert!(row[used..].iter().all(|w| *w == 0), "|A| {na}: padding");
            rec.set_greedy(&mut row, 0);
            rec.set_count(&mut row, na - 1, 0);
            assert_eq!(
                rec.count(&row, na.saturating_sub(2)),
                if na > 1 {
                    0xfff0 + (na as u16 - 2) % 16
                } else {
                    0
                }
            );
        }
        assert_eq!(RecordLayout::new(5).words, 8);
        assert_eq!(RecordLayout::new(4).words, 8);
    }

    /// The per-run buffers [`Independent::bytes_fixed_sharded`] counts.
    fn fixed_bytes<C: Collective>(l: &Independent<C>) -> usize {
        l.chunk_hist.len() * 4
            + l.chunk_td.len() * 8
            + l.chunk_scratch.len() * std::mem::size_of::<usize>()
            + l.totals.len() * 8
            + l.words.len() * 8
            + l.gathered.len() * 8
            + l.empty.capacity() * std::mem::size_of::<usize>()
            + l.policy.probs.len() * 8
            + l.policy.greedy.len() * std::mem::size_of::<usize>()
            + (l.records.words.len() - l.records.len) * 4
    }

    #[test]
    fn sharded_buffers_are_what_the_memory_check_counts() {
        use crate::population::ThreadGroup;
        let p = LearnerParams::default();
        // 4 chunks over 2 ranks: 2 each (the last partial).
        let n = 3 * CHUNK + 5;
        let states: Vec<u8> = (0..n).map(|i| (i % 25) as u8).collect();
        for algo in [Algo::Iql, Algo::Mfq] {
            let want = Independent::bytes_fixed_sharded(25, 5, n as u64, 2, algo, &p);
            let got = ThreadGroup::new(2).run(|m| {
                let b = block_of(n as u64, m.rank(), 2);
                let local = &states[b.start as usize..b.end as usize];
                let l = Independent::try_new_sharded(
                    m,
                    25,
                    5,
                    GameParams::default(),
                    &p,
                    algo,
                    n as u64,
                    local,
                    1,
                )
                .unwrap();
                assert_eq!(l.block(), b.start as usize..b.end as usize);
                fixed_bytes(&l) as u64
            });
            assert_eq!(got, vec![want, want], "{algo}");
        }
    }

    #[test]
    fn bytes_per_agent_is_exact_and_within_budget() {
        let p = LearnerParams::default();
        assert_eq!(Independent::bytes_per_agent(25, 5, Algo::Iql, &p), 801);
        assert!(Independent::bytes_per_agent(25, 5, Algo::Iql, &p) <= 1200 - 3);
        assert_eq!(Independent::bytes_per_agent(25, 5, Algo::Mfq, &p), 4002);
        let states: Vec<u8> = (0..1000).map(|i| (i % 25) as u8).collect();
        for algo in [Algo::Iql, Algo::Mfq] {
            let l =
                Independent::try_new(25, 5, GameParams::default(), &p, algo, &states, 1).unwrap();
            assert_eq!(l.records.get().as_ptr().addr() % 64, 0, "records on a line");
            let columns = l.records.len * 4 + l.actions.len() + l.bins.len();
            assert_eq!(
                columns as u64,
                1000 * Independent::bytes_per_agent(25, 5, algo, &p),
                "{algo}"
            );
            let fixed = fixed_bytes(&l);
            assert_eq!(
                fixed as u64,
                Independent::bytes_fixed(25, 5, 1000, algo, &p),
                "{algo}"
            );
        }
    }

    fn key_of(e: Error) -> String {
        match e {
            Error::Param { key, .. } => key,
            other => panic!("not a Param error: {other}"),
        }
    }

    #[test]
    fn bad_inputs_are_param_errors_naming_the_key() {
        let g = GameParams::default();
        let p = LearnerParams::default();
        let s = [0u8, 1, 2];
        let new = |ns, na, g, p: &LearnerParams, algo, st: &[u8]| {
            Independent::try_new(ns, na, g, p, algo, st, 1)
                .map(|_| ())
                .unwrap_err()
        };
        assert_eq!(key_of(new(3, 2, g, &p, Algo::Online, &s)), "algo");
        assert_eq!(key_of(new(3, 2, g, &p, Algo::Tmfq, &s)), "algo");
        assert_eq!(key_of(new(0, 2, g, &p, Algo::Iql, &s)), "num_states");
        assert_eq!(key_of(new(3, 0, g, &p, Algo::Iql, &s)), "num_actions");
        assert_eq!(key_of(new(3, 129, g, &p, Algo::Iql, &s)), "num_actions");
        assert_eq!(key_of(new(3, 2, g, &p, Algo::Iql, &[])), "agents");
        assert_eq!(key_of(new(2, 2, g, &p, Algo::Iql, &s)), "initial_states");
        let k3 = params_with(5, 3, 1.0);
        assert_eq!(key_of(new(3, 2, g, &k3, Algo::Mfq, &s)), "mfq_neighbours");
        assert!(Independent::try_new(3, 2, g, &k3, Algo::Iql, &s, 1).is_ok()); // IQL has no K
        assert_eq!(
            key_of(new(3, 2, g, &params_with(256, 1, 1.0), Algo::Mfq, &s)),
            "mfq_bins"
        );
        assert_eq!(
            key_of(new(3, 2, g, &params_with(5, 1, 0.3), Algo::Iql, &s)),
            "step_exponent"
        );
        let bad_game = GameParams {
            gamma: 1.0,
            epsilon: 0.1,
        };
        assert_eq!(key_of(new(3, 2, bad_game, &p, Algo::Iql, &s)), "gamma");
        // Update: one transition per agent, tables of the learner's size; nothing changes.
        let mut l = Independent::try_new(3, 2, g, &p, Algo::Iql, &s, 1).unwrap();
        let before = l.records.get().to_vec();
        let mut buf = VecTransitions::new(KernelTables::new(3, 2));
        buf.transitions = vec![(0, 0, 1); 2];
        assert_eq!(
            key_of(l.update(&observe(0, &buf, &[1.0, 0.0, 0.0])).unwrap_err()),
            "agents"
        );
        let mut buf = VecTransitions::new(KernelTables::new(3, 3));
        buf.transitions = vec![(0, 0, 1); 3];
        assert_eq!(
            key_of(l.update(&observe(0, &buf, &[1.0, 0.0, 0.0])).unwrap_err()),
            "tables"
        );
        assert_eq!(l.records.get(), before);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn a_transition_out_of_range_panics() {
        let mut l = Independent::try_new(
            3,
            2,
            GameParams::default(),
            &LearnerParams::default(),
            Algo::Iql,
            &[0u8],
            1,
        )
        .unwrap();
        let mut buf = VecTransitions::new(KernelTables::new(3, 2));
        buf.transitions = vec![(0, 2, 1)];
        let _ = l.update(&observe(0, &buf, &[1.0, 0.0, 0.0]));
    }

    /// A hash of every column of the learner and the engine after `iters` iterations.
    fn fingerprint(algo: Algo, n: usize, iters: usize, seed: u64) -> u64 {
        let model = Infection::default();
        let game = GameParams::default();
        let pop: Population = Population::try_new(25, n, &uniform(25), seed).unwrap();
        let l = Independent::try_new(
            25,
            5,
            game,
            &LearnerParams::default(),
            algo,
            pop.states(),
            seed,
        )
        .unwrap();
        let mut run = OnlineDriver::new(&model, pop, l, seed).unwrap();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for _ in 0..iters {
            let it = run.iterate().unwrap();
            it.z.iter().for_each(|z| z.to_bits().hash(&mut h));
            it.ledger.tq_updates.hash(&mut h);
        }
        let l = run.learner();
        l.records.get().hash(&mut h);
        l.actions.hash(&mut h);
        l.bins.hash(&mut h);
        l.chunk_td.iter().for_each(|t| t.to_bits().hash(&mut h));
        l.policy.probs.iter().for_each(|p| p.to_bits().hash(&mut h));
        run.engine().states().hash(&mut h);
        h.finish()
    }

    #[test]
    fn bitwise_identical_for_one_and_two_threads_and_the_seed_matters() {
        let n = 3 * CHUNK + 123;
        for algo in [Algo::Iql, Algo::Mfq] {
            let one = in_pool(1, || fingerprint(algo, n, 3, 11));
            let two = in_pool(2, || fingerprint(algo, n, 3, 11));
            assert_eq!(one, two, "{algo}");
            let other = in_pool(2, || fingerprint(algo, n, 3, 12));
            assert_ne!(one, other, "{algo}: the seed must matter");
        }
    }
}
