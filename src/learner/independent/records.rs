//! The record layout: one 64-byte-aligned record per (agent, state, bin) holding the Q row
//! (f32 bits), the u16 step-size counts and the greedy byte; a chunk's mutable view.

use super::*;

/// Words (u32) of one cache line: records are aligned to 64 bytes.
pub(super) const LINE_WORDS: usize = 16;

/// Agents whose records the update touches ahead of updating them (module docs' `# Layout`).
pub(super) const BLOCK: usize = 32;

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
pub(super) struct RecordLayout {
    /// |A|: the first word of the counts.
    pub(super) na: usize,
    /// The word holding the greedy byte.
    pub(super) greedy_word: usize,
    /// Its bit offset there.
    pub(super) greedy_shift: u32,
    /// R, the stride of records in words.
    pub(super) words: usize,
}

impl RecordLayout {
    pub(super) fn new(na: usize) -> Self {
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
    pub(super) fn q(&self, rec: &[u32], a: usize) -> f32 {
        f32::from_bits(rec[a])
    }

    #[inline(always)]
    pub(super) fn count(&self, rec: &[u32], a: usize) -> u16 {
        (rec[self.na + a / 2] >> (16 * (a % 2))) as u16
    }

    #[inline(always)]
    pub(super) fn set_count(&self, rec: &mut [u32], a: usize, n: u16) {
        let shift = 16 * (a % 2);
        let w = &mut rec[self.na + a / 2];
        *w = (*w & !(0xffff << shift)) | (u32::from(n) << shift);
    }

    #[inline(always)]
    pub(super) fn greedy(&self, rec: &[u32]) -> u8 {
        (rec[self.greedy_word] >> self.greedy_shift) as u8
    }

    #[inline(always)]
    pub(super) fn set_greedy(&self, rec: &mut [u32], g: u8) {
        let w = &mut rec[self.greedy_word];
        *w = (*w & !(0xff << self.greedy_shift)) | (u32::from(g) << self.greedy_shift);
    }
}

/// `len` zeroed u32 words whose first word sits on a 64-byte boundary: the vector holds up
/// to [`LINE_WORDS`] − 1 words more, skipped by `offset` (safe code cannot ask the allocator
/// for alignment). A clone is aligned again (data identical).
#[derive(Debug)]
pub(super) struct Records {
    pub(super) words: Vec<u32>,
    pub(super) offset: usize,
    pub(super) len: usize,
}

impl Records {
    /// The words are written once per 4 KiB page, in parallel: the kernel then maps each
    /// page once, on that write (the update's first access to a page is a read, which
    /// would map the shared zero page and fault a second time on the first write).
    pub(super) fn zeroed(len: usize) -> Self {
        let mut words = vec![0u32; len + LINE_WORDS - 1];
        words.par_chunks_mut(1024).for_each(|page| page[0] = 0);
        let misalign = words.as_ptr().addr() % (4 * LINE_WORDS);
        // A Vec<u32> is 4-aligned, so `misalign` is a whole number of words.
        let offset = ((4 * LINE_WORDS - misalign) % (4 * LINE_WORDS)) / 4;
        Records { words, offset, len }
    }

    pub(super) fn get(&self) -> &[u32] {
        &self.words[self.offset..self.offset + self.len]
    }

    pub(super) fn get_mut(&mut self) -> &mut [u32] {
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
pub(super) struct Shape {
    pub(super) num_agents: usize,
    pub(super) ns: usize,
    pub(super) na: usize,
    /// B (1 for IQL).
    pub(super) nb: usize,
    /// K (0 for IQL).
    pub(super) k: usize,
    /// |S|·B: one agent's records.
    pub(super) rows: usize,
    /// Where a record keeps its entries ([`RecordLayout`]).
    pub(super) rec: RecordLayout,
    /// |S|·B·`rec.words`: one agent's words.
    pub(super) agent_words: usize,
    pub(super) wg: f64,
    pub(super) wo: f64,
    pub(super) gamma: f64,
    pub(super) w: f64,
    pub(super) threshold: u64,
    /// `reset_on_regeneration`.
    pub(super) reset: bool,
}

impl Shape {
    /// Agent `i`'s bin for the next step, from `state_of(j)`, the states the draw reads.
    #[inline]
    pub(super) fn draw_bin(
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
pub(super) struct ChunkMut<'a> {
    /// The chunk's agents' records, `agent_words` per agent.
    pub(super) records: &'a mut [u32],
    pub(super) actions: &'a mut [u8],
    /// Empty for IQL.
    pub(super) bins: &'a mut [u8],
    /// |S|·|A| counts of (state, greedy action) of the chunk's agents.
    pub(super) hist: &'a mut [u32],
    /// Σ |TD error| over the chunk's agents.
    pub(super) td: &'a mut f64,
    /// K agent indices (empty for IQL).
    pub(super) scratch: &'a mut [usize],
}
