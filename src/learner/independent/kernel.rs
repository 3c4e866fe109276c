//! The per-agent kernels of IQL and MFQ: trembling-hand action draws, MFQ's neighbours and
//! bins, and one chunk's action and eq. 6 update passes over the record layout.

use prefetch_index::prefetch_index;

use super::records::*;
use super::*;

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

/// Chooses the actions (and MFQ bins) of global chunk `c` for `step` from `state_of` (the
/// states before `step`, by global agent index), with an empty update: the constructor's
/// pass for step 0.
pub(super) fn act_chunk<const MFQ: bool>(
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
/// (the module docs' algorithm, after step `step`), [`BLOCK`] agents at a time, software
/// pipelined: before block n is updated (in agent order), block n + 1's next bins (MFQ) are
/// drawn and both records of each of its agents are prefetched, so their cache misses
/// overlap each other and block n's arithmetic (`# Layout`).
/// Global agent i's transition is `src.get(i − offset)` (`offset`: the first agent `src`
/// holds); `state_after(j)` is global agent j's state after the step (MFQ's neighbours).
#[expect(
    clippy::too_many_arguments,
    reason = "the chunk, its source and its streams"
)]
pub(super) fn update_chunk<const MFQ: bool, S: TransitionSource + ?Sized>(
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
    let agents = view.actions.len();
    let blocks = agents.div_ceil(BLOCK);
    // The next bins of the block being updated and of the one after it (MFQ).
    let mut next_bins = [[0u8; BLOCK]; 2];
    let mut ahead = |block: usize, next_bins: &mut [u8; BLOCK], records: &[u32], bins: &[u8]| {
        let first = block * BLOCK;
        for j in 0..BLOCK.min(agents - first) {
            let i = base + first + j;
            let (s, _, s2) = src.get(i - offset);
            let (b, b2) = if MFQ {
                let b2 = shape.draw_bin(i, view.scratch, &mut nrng, state_after);
                next_bins[j] = b2;
                (usize::from(bins[first + j]), usize::from(b2))
            } else {
                (0, 0)
            };
            // A hint: an out-of-range transition prefetches nothing useful and the update
            // below panics on it.
            let at = (first + j) * agent_words;
            prefetch_index(records, at + (s * nb + b) * rw);
            prefetch_index(records, at + (s2 * nb + b2) * rw);
        }
    };
    if blocks > 0 {
        ahead(0, &mut next_bins[0], view.records, view.bins);
    }
    for block in 0..blocks {
        let first = block * BLOCK;
        let [even, odd] = &mut next_bins;
        let (cur, after) = if block % 2 == 0 {
            (even, odd)
        } else {
            (odd, even)
        };
        // Prefetch the next block's records (and draw its bins, in agent order) while this
        // one is updated: the hints do not hold up the update, so the two overlap.
        if block + 1 < blocks {
            ahead(block + 1, after, view.records, view.bins);
        }
        let next_bins = &*cur;
        let end = (first + BLOCK).min(agents);
        let records = &mut view.records[first * agent_words..end * agent_words];
        let actions = &mut view.actions[first..end];
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
pub(super) struct Pass {
    /// The block's first global chunk.
    pub(super) first: usize,
    /// The block's first global agent (the source's transition 0).
    pub(super) offset: usize,
    pub(super) step: u64,
    pub(super) seed: u64,
}

impl Pass {
    /// [`update_chunk`] on every chunk of the block, in parallel.
    pub(super) fn run<const MFQ: bool, S: TransitionSource + ?Sized>(
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
pub(super) fn greedy_f32(row: &[u32]) -> u8 {
    let mut best = 0;
    for (a, v) in row.iter().enumerate().skip(1) {
        if f32::from_bits(*v) > f32::from_bits(row[best]) {
            best = a;
        }
    }
    best as u8
}
