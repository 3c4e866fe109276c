//! Which agents' transitions a step exports ([`Selection`]), and the borrowed view of one
//! step the run layer hands its callback ([`StepTransitions`]); the output layer turns it
//! into Parquet parts or an Arrow batch (`output::transitions`).

use rand::Rng;
use rayon::prelude::*;

use super::TransitionBuffer;
use crate::rng::{stream, Purpose, CHUNK};
use crate::state::StateCode;

// A chunk's kept offsets are u16s.
const _: () = assert!(CHUNK <= 1 << 16);

/// The agents whose transitions a step exports: each agent independently with probability
/// `fraction`, decided by the stream `(seed, Export, iteration, chunk)` of its (global) chunk
/// of [`CHUNK`] agents (agent i is kept when its u64 draw is below fraction·2^64). Drawn in
/// parallel per chunk; the same agents for any thread count, and for any split of the
/// population into blocks of whole chunks ([`Selection::draw_block`]: a rank's block over
/// MPI). Reused across steps.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Per chunk of the block: the kept offsets within the chunk (`None`: every agent,
    /// fraction 1).
    pub(crate) kept: Vec<Option<Vec<u16>>>,
    rows: usize,
    /// The global index of the block's first agent (0 for a whole population).
    first: usize,
    /// N, the whole population (the width of the agent ids).
    population: usize,
}

impl Selection {
    /// Draws the selection of step `iteration` of `n` agents.
    pub fn draw(&mut self, n: usize, iteration: u64, fraction: f64, seed: u64) {
        self.draw_block(0..n, n, iteration, fraction, seed);
    }

    /// Draws the selection of step `iteration` among the agents `block` of a population of
    /// `population` agents (a rank's block: it starts on a chunk boundary); chunk c of the
    /// block draws from the stream of its global chunk `block.start / CHUNK + c`, so the
    /// kept agents are those [`Selection::draw`] keeps of the whole population, and the
    /// rows carry global agent ids.
    ///
    /// # Panics
    /// When `block` does not start on a chunk boundary or ends beyond `population`.
    pub fn draw_block(
        &mut self,
        block: std::ops::Range<usize>,
        population: usize,
        iteration: u64,
        fraction: f64,
        seed: u64,
    ) {
        assert!(
            block.start.is_multiple_of(CHUNK)
                && block.start <= block.end
                && block.end <= population,
            "block {block:?} of {population} agents"
        );
        (self.first, self.population) = (block.start, population);
        let first_chunk = (block.start / CHUNK) as u64;
        let n = block.len();
        let chunks = n.div_ceil(CHUNK);
        let len = |c: usize| ((c + 1) * CHUNK).min(n) - c * CHUNK;
        if fraction >= 1.0 {
            self.kept.clear();
            self.kept.resize(chunks, None);
            self.rows = n;
            return;
        }
        let threshold = (fraction.clamp(0.0, 1.0) * 2f64.powi(64)) as u64;
        self.kept.resize_with(chunks, || Some(Vec::new()));
        self.kept.par_iter_mut().enumerate().for_each(|(c, kept)| {
            let v = kept.get_or_insert_with(Vec::new);
            let mut rng = stream(seed, Purpose::Export, iteration, first_chunk + c as u64);
            // Branch-free compaction: write every offset, advance past the kept ones.
            v.clear();
            v.resize(len(c), 0);
            let mut m = 0;
            for j in 0..len(c) {
                v[m] = j as u16;
                m += usize::from(rng.next_u64() < threshold);
            }
            v.truncate(m);
        });
        self.rows = self
            .kept
            .iter()
            .map(|k| k.as_ref().map_or(0, Vec::len))
            .sum();
    }

    /// Rows kept.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The global index of the selection's first agent (0 unless drawn for a block).
    pub fn first_agent(&self) -> usize {
        self.first
    }

    /// N, the population the selection's block belongs to.
    pub fn population(&self) -> usize {
        self.population
    }

    /// The kept agents of chunk `c`, in order.
    pub(crate) fn chunk_agents(&self, c: usize, n: usize) -> ChunkRows<'_> {
        let start = c * CHUNK;
        match &self.kept[c] {
            None => ChunkRows::Range(start, ((c + 1) * CHUNK).min(n) - start),
            Some(v) => ChunkRows::List(start, v),
        }
    }
}

/// The kept agents of one chunk: `Range(start, len)` or `List(start, offsets)`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ChunkRows<'a> {
    Range(usize, usize),
    List(usize, &'a [u16]),
}

impl ChunkRows<'_> {
    pub(crate) fn len(self) -> usize {
        match self {
            ChunkRows::Range(_, n) => n,
            ChunkRows::List(_, v) => v.len(),
        }
    }

    /// Agent index of row `j`.
    #[inline(always)]
    pub(crate) fn agent(self, j: usize) -> usize {
        match self {
            ChunkRows::Range(s, _) => s + j,
            ChunkRows::List(s, v) => s + usize::from(v[j]),
        }
    }
}

/// The transitions one learning iteration exports: the population step's buffer (borrowed
/// from the engine) and the [`Selection`] of its agents.
#[derive(Debug, Clone, Copy)]
pub struct StepTransitions<'a> {
    buffer: BufferRef<'a>,
    iteration: u64,
    selection: &'a Selection,
}

/// A transition buffer of either state width, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum BufferRef<'a> {
    /// States as `u8` (|S| ≤ 256).
    U8(&'a TransitionBuffer<u8>),
    /// States as `u16`.
    U16(&'a TransitionBuffer<u16>),
}

/// A state code whose buffers a [`StepTransitions`] carries: `u8` and `u16`, the two
/// [`StateCode`]s, each naming its [`BufferRef`] variant (no downcast).
pub trait BufferCode: StateCode {
    /// `buffer` as the variant of this width.
    fn buffer_ref(buffer: &TransitionBuffer<Self>) -> BufferRef<'_>;
}

impl BufferCode for u8 {
    fn buffer_ref(buffer: &TransitionBuffer<u8>) -> BufferRef<'_> {
        BufferRef::U8(buffer)
    }
}

impl BufferCode for u16 {
    fn buffer_ref(buffer: &TransitionBuffer<u16>) -> BufferRef<'_> {
        BufferRef::U16(buffer)
    }
}

impl<'a> StepTransitions<'a> {
    /// The rows of `selection` (drawn for this buffer's length) of the step of learning
    /// iteration `iteration` (1-based).
    pub fn new<T: BufferCode>(
        buffer: &'a TransitionBuffer<T>,
        iteration: u64,
        selection: &'a Selection,
    ) -> Self {
        StepTransitions {
            buffer: T::buffer_ref(buffer),
            iteration,
            selection,
        }
    }

    /// The learning iteration k (1-based).
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Rows exported.
    pub fn rows(&self) -> usize {
        self.selection.rows()
    }

    /// The step's buffer.
    pub fn buffer(&self) -> BufferRef<'a> {
        self.buffer
    }

    /// The agents kept.
    pub fn selection(&self) -> &'a Selection {
        self.selection
    }
}
