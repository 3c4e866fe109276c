//! The transitions dataset of `mfgsim learn --export-transitions`, encoded page by page
//! straight from the population's transition buffer.
//!
//! A general Parquet writer spends its time discovering what this writer knows in advance:
//! it hashes every value into a dictionary, tries encodings and computes statistics value by
//! value. Here every column's structure is known before a row is seen, so each data page is
//! written directly in its final encoding:
//!
//! ```text
//! column       physical   data pages                              dictionary page (per part)
//! iteration    INT32      RLE_DICTIONARY: one RLE run per page    the part's iterations k₀, k₁, …
//! agent        INT32/64   DELTA_BINARY_PACKED (sorted ids;        —
//!                         width 0 when consecutive)
//! s, s_next    INT32      RLE_DICTIONARY: the state itself,       0, 1, …, |S| − 1
//!                         bit-packed at ⌈log₂|S|⌉ bits
//! a            INT32      RLE_DICTIONARY: the action, bit-packed  0, 1, …, |A| − 1
//! r            DOUBLE     RLE_DICTIONARY: j·|S||A| + s·|A| + a    r(·,·,ẑ) of each of the part's
//!                         for the part's j-th iteration           iterations, row-major
//!                         (PLAIN when |S||A| > 2^16)
//! regenerated  BOOLEAN    PLAIN (bit-packed)                      —
//! ```
//!
//! One data page per chunk of [`CHUNK`] agents of a step (the kept ones), encoded and
//! compressed on the rayon pool, each page by one task: the page bytes depend only on the
//! page's rows, so the files are byte-identical for any thread count. A part (one row group,
//! one file) closes after the page that brings it to [`ROWS_PER_PART`] rows, or before a
//! page of a new iteration when it already holds [`TransitionsEncoder::max_iterations`]
//! iterations (which bounds the `r` dictionary). Column chunks carry min/max statistics, and
//! the footer the Arrow schema, so readers see the narrow unsigned types of
//! [`transitions_schema`].
//!
//! The encodings are the Parquet format's own (PLAIN, RLE_DICTIONARY with the RLE/bit-packing
//! hybrid, DELTA_BINARY_PACKED), data pages v1, no nulls: pandas, pyarrow, polars and DuckDB
//! read the parts and decode the same values (`scripts/check_parquet.py` compares every
//! column's sum and distinct count across them).
//!
//! # Measured (2 cores, infection, zstd)
//! * `cargo bench --bench sink -- transitions`: one step of 2^20 agents into a whole part in
//!   memory, 188 M rows/s on one thread and 334 M rows/s on two (snappy: 262 / 479); the
//!   same rows through parquet-rs's `ArrowWriter` (a dictionary per column, value-by-value
//!   statistics) 21 M rows/s on one thread.
//! * `scripts/export-bench.py`: `mfgsim learn --agents 1e6 --iterations 20
//!   --export-transitions` end to end (2·10^7 rows; the whole process: solve, steps,
//!   learning, files) 134 M rows/s, 40 MiB; pyarrow's single-core `pq.write_table(zstd)` of
//!   the same rows read back 17.4 M rows/s, 98 MiB (7.7×). Per row: ≈ 22 bits before
//!   compression (5-bit states, 3-bit actions, 8-bit rewards, 1-bit flag; `iteration` and
//!   consecutive `agent` ids cost nothing), ≈ 2 bytes after.

mod batch;
mod encoding;
mod export;

pub use self::batch::{transitions_batch, transitions_schema};
pub use self::export::TransitionsExport;
use crate::transition::{BufferRef, ChunkRows, Selection, StepTransitions};

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::SchemaRef;
use bytes::Bytes;
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::basic::Encoding;
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::properties::WriterPropertiesPtr;
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::SchemaDescPtr;
use rayon::prelude::*;

use self::encoding::{
    bit_width, delta_binary_packed, delta_consecutive, dictionary_indices, dictionary_run, pack,
};

use super::table::{Codec, PartWriter, RunMetadata};
use crate::error::{Error, Result};
use crate::population::CHUNK;
use crate::state::StateCode;
use crate::transition::{is_regenerated, unpack_action, TransitionBuffer};

/// Rows after which a part closes (at the end of the page that reaches it): 2^20.
pub const ROWS_PER_PART: usize = 1 << 20;

/// Pages encoded at once (in parallel) before they join their parts: 64 pages of
/// [`CHUNK`] agents, 4·2^20 rows.
pub const WINDOW_PAGES: usize = 64;

/// Largest |S|·|A| whose rewards are dictionary-encoded (above it `r` is PLAIN).
const MAX_REWARD_DICTIONARY: usize = 1 << 16;

/// Dictionary entries of `r` a part may hold (iterations × |S|·|A|).
const MAX_REWARD_ENTRIES: usize = 1 << 18;

// ---------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------

/// Min and max of a column over some rows: integers as unsigned values, doubles, booleans
/// as 0/1.
#[derive(Debug, Clone, Copy, PartialEq)]
enum MinMax {
    Int(u64, u64),
    Float(f64, f64),
}

impl MinMax {
    fn merge(self, other: MinMax) -> MinMax {
        match (self, other) {
            (MinMax::Int(a, b), MinMax::Int(c, d)) => MinMax::Int(a.min(c), b.max(d)),
            (MinMax::Float(a, b), MinMax::Float(c, d)) => MinMax::Float(a.min(c), b.max(d)),
            _ => unreachable!("one column, one kind"),
        }
    }
}

/// One column's data page: its compressed bytes, their uncompressed length, its encoding.
#[derive(Debug)]
struct ColumnPage {
    data: Vec<u8>,
    uncompressed: usize,
    encoding: Encoding,
    stats: MinMax,
}

/// The seven column pages of one chunk of one step.
#[derive(Debug)]
struct PageSet {
    rows: usize,
    columns: Vec<ColumnPage>,
}

/// A page compressor of one thread (a zstd context is costly to make, so each thread keeps
/// one): zstd at level 1 (parquet's default level), or raw Snappy (parquet's SNAPPY).
enum Compressor {
    Zstd(zstd::bulk::Compressor<'static>),
    Snappy(Box<snap::raw::Encoder>),
}

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor>> = const { RefCell::new(None) };
}

/// `raw` compressed with `codec` (as it is for [`Codec::None`]).
fn compress(codec: Codec, raw: Vec<u8>) -> Result<Vec<u8>> {
    if codec == Codec::None {
        return Ok(raw);
    }
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let fits = matches!(
            (&*cell, codec),
            (Some(Compressor::Zstd(_)), Codec::Zstd) | (Some(Compressor::Snappy(_)), Codec::Snappy)
        );
        if !fits {
            *cell = Some(match codec {
                Codec::Snappy => Compressor::Snappy(Box::new(snap::raw::Encoder::new())),
                _ => Compressor::Zstd(zstd::bulk::Compressor::new(1).map_err(encode_error)?),
            });
        }
        match cell.as_mut().expect("just made") {
            Compressor::Zstd(z) => z.compress(&raw).map_err(encode_error),
            Compressor::Snappy(e) => e.compress_vec(&raw).map_err(encode_error),
        }
    })
}

fn encode_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> Error {
    Error::encode("<transitions>", "encoding a page", e)
}

/// What a page's encoding needs besides its rows.
#[derive(Debug, Clone, Copy)]
struct PageContext {
    num_actions: usize,
    /// |S|·|A|.
    pairs: usize,
    codec: Codec,
    state_width: usize,
    action_width: usize,
    /// Index of the step's iteration in its part's `iteration` and `r` dictionaries.
    slot: u32,
    reward_dictionary: bool,
    wide_agents: bool,
    /// The global id of the buffer's agent 0 (a rank's block; 0 otherwise).
    first_agent: usize,
}

fn page(codec: Codec, raw: Vec<u8>, encoding: Encoding, stats: MinMax) -> Result<ColumnPage> {
    let uncompressed = raw.len();
    Ok(ColumnPage {
        data: compress(codec, raw)?,
        uncompressed,
        encoding,
        stats,
    })
}

/// Encodes the rows `rows` of `buffer` (one chunk) as the seven column pages.
fn encode_page<T: StateCode>(
    buffer: &TransitionBuffer<T>,
    iteration: u32,
    rows: ChunkRows<'_>,
    cx: PageContext,
) -> Result<PageSet> {
    let n = rows.len();
    let (prev, packed, next, tables) = (
        buffer.states(),
        buffer.actions(),
        buffer.next_states(),
        buffer.tables(),
    );
    let mut columns = Vec::with_capacity(7);
    let codec = cx.codec;
    let it = u64::from(iteration);

    // iteration: one RLE run of the part's dictionary slot.
    let mut raw = Vec::with_capacity(16);
    dictionary_run(n, cx.slot, &mut raw);
    columns.push(page(
        codec,
        raw,
        Encoding::RLE_DICTIONARY,
        MinMax::Int(it, it),
    )?);

    // agent: sorted (global) ids.
    let id = |j: usize| cx.first_agent + rows.agent(j);
    let (lo, hi) = (id(0) as u64, id(n - 1) as u64);
    let mut raw = Vec::with_capacity(64 + n / 8);
    if let ChunkRows::Range(start, _) = rows {
        delta_consecutive((cx.first_agent + start) as u64, n, cx.wide_agents, &mut raw);
    } else if cx.wide_agents {
        let ids: Vec<i64> = (0..n).map(|j| id(j) as i64).collect();
        delta_binary_packed(&ids, &mut raw);
    } else {
        let ids: Vec<i32> = (0..n).map(|j| id(j) as u32 as i32).collect();
        delta_binary_packed(&ids, &mut raw);
    }
    columns.push(page(
        codec,
        raw,
        Encoding::DELTA_BINARY_PACKED,
        MinMax::Int(lo, hi),
    )?);

    let minmax = |v: &[u32]| {
        let (lo, hi) = v
            .iter()
            .fold((u32::MAX, 0), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        MinMax::Int(u64::from(lo), u64::from(hi))
    };
    let indices = |v: &[u32], width: usize| {
        let mut raw = Vec::with_capacity(8 + v.len().div_ceil(8) * width);
        dictionary_indices(v, width, &mut raw);
        raw
    };

    // s, a.
    let mut s = vec![0u32; n];
    let mut a = vec![0u32; n];
    let mut regen = vec![0u32; n];
    match rows {
        ChunkRows::Range(start, _) => {
            let (p, q) = (&prev[start..start + n], &packed[start..start + n]);
            for j in 0..n {
                s[j] = p[j].index() as u32;
                a[j] = unpack_action(q[j]) as u32;
                regen[j] = u32::from(is_regenerated(q[j]));
            }
        }
        ChunkRows::List(..) => {
            for j in 0..n {
                let i = rows.agent(j);
                s[j] = prev[i].index() as u32;
                a[j] = unpack_action(packed[i]) as u32;
                regen[j] = u32::from(is_regenerated(packed[i]));
            }
        }
    }
    let raw = indices(&s, cx.state_width);
    columns.push(page(codec, raw, Encoding::RLE_DICTIONARY, minmax(&s))?);
    let raw = indices(&a, cx.action_width);
    columns.push(page(codec, raw, Encoding::RLE_DICTIONARY, minmax(&a))?);

    // r.
    if cx.reward_dictionary {
        let base = cx.slot as usize * cx.pairs;
        let na = cx.num_actions;
        let mut used = vec![false; cx.pairs];
        let r: Vec<u32> = s
            .iter()
            .zip(&a)
            .map(|(&s, &a)| {
                let pair = s as usize * na + a as usize;
                used[pair] = true;
                (base + pair) as u32
            })
            .collect();
        let (lo, hi) = used
            .iter()
            .zip(&tables.reward)
            .filter(|(u, _)| **u)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, &v)| {
                (lo.min(v), hi.max(v))
            });
        let width = bit_width((base + cx.pairs - 1) as u64).max(1);
        let raw = indices(&r, width);
        columns.push(page(
            codec,
            raw,
            Encoding::RLE_DICTIONARY,
            MinMax::Float(lo, hi),
        )?);
    } else {
        let mut raw = Vec::with_capacity(8 * n);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (&s, &a) in s.iter().zip(&a) {
            let v = tables.r(s as usize, a as usize);
            (lo, hi) = (lo.min(v), hi.max(v));
            raw.extend_from_slice(&v.to_le_bytes());
        }
        columns.push(page(codec, raw, Encoding::PLAIN, MinMax::Float(lo, hi))?);
    }

    // s_next.
    match rows {
        ChunkRows::Range(start, _) => {
            for (d, x) in s.iter_mut().zip(&next[start..start + n]) {
                *d = x.index() as u32;
            }
        }
        ChunkRows::List(..) => {
            for (j, d) in s.iter_mut().enumerate() {
                *d = next[rows.agent(j)].index() as u32;
            }
        }
    }
    let raw = indices(&s, cx.state_width);
    columns.push(page(codec, raw, Encoding::RLE_DICTIONARY, minmax(&s))?);

    // regenerated: PLAIN booleans are bit-packed at width 1.
    let mut raw = Vec::with_capacity(n.div_ceil(8) + 16);
    pack(&regen, 1, &mut raw);
    raw.truncate(n.div_ceil(8));
    columns.push(page(codec, raw, Encoding::PLAIN, minmax(&regen))?);
    Ok(PageSet { rows: n, columns })
}

// ---------------------------------------------------------------------------------------
// Parts
// ---------------------------------------------------------------------------------------

/// One closed part: a whole Parquet file in memory.
#[derive(Debug, Clone)]
pub struct EncodedPart {
    /// Part number (the file is `part-{index:05}.parquet`).
    pub index: usize,
    /// Rows in the part.
    pub rows: usize,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// The open part: its pages, iterations and their reward tables.
#[derive(Debug, Default)]
struct OpenPart {
    rows: usize,
    iterations: Vec<u32>,
    rewards: Vec<f64>,
    pages: Vec<PageSet>,
}

/// Encodes the exported transitions of successive learning iterations into closed part
/// files held in memory ([`EncodedPart`]); [`TransitionsExport`] writes them.
///
/// Parts and their bytes depend only on the rows pushed, never on the thread count.
pub struct TransitionsEncoder {
    /// The dataset directory, named in errors.
    dir: PathBuf,
    arrow: SchemaRef,
    descr: SchemaDescPtr,
    props: WriterPropertiesPtr,
    codec: Codec,
    num_states: usize,
    num_actions: usize,
    num_agents: usize,
    max_iterations: usize,
    rows_per_part: usize,
    window: usize,
    reward_dictionary: bool,
    wide_agents: bool,
    open: OpenPart,
    next_part: usize,
    last_iteration: u64,
}

impl std::fmt::Debug for TransitionsEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitionsEncoder")
            .field("codec", &self.codec)
            .field("num_states", &self.num_states)
            .field("num_actions", &self.num_actions)
            .field("num_agents", &self.num_agents)
            .field("next_part", &self.next_part)
            .finish_non_exhaustive()
    }
}

impl TransitionsEncoder {
    /// An encoder of the transitions of a population of `num_agents` agents on
    /// `num_states` states and `num_actions` actions, pages compressed with `codec`, `meta`
    /// in every footer (`dir` names the dataset in errors).
    ///
    /// # Errors
    /// [`Error::Output`] for a reserved metadata key or a schema parquet cannot express.
    pub fn try_new(
        dir: &Path,
        num_states: usize,
        num_actions: usize,
        num_agents: usize,
        meta: &RunMetadata,
        codec: Codec,
    ) -> Result<Self> {
        let wide_agents = u32::try_from(num_agents).is_err();
        Self::build(
            dir,
            num_states,
            num_actions,
            num_agents,
            wide_agents,
            meta,
            codec,
        )
    }

    /// As [`TransitionsEncoder::try_new`], with 64-bit agent ids when `wide_agents`.
    fn build(
        dir: &Path,
        num_states: usize,
        num_actions: usize,
        num_agents: usize,
        wide_agents: bool,
        meta: &RunMetadata,
        codec: Codec,
    ) -> Result<Self> {
        let ids = if wide_agents { usize::MAX } else { num_agents };
        let arrow = transitions_schema(num_states, ids);
        let schema_error =
            |e: parquet::errors::ParquetError| Error::encode(dir, "transitions schema", e);
        let descr = Arc::new(
            ArrowSchemaConverter::new()
                .convert(&arrow)
                .map_err(schema_error)?,
        );
        let mut props = meta.writer_properties(dir, codec)?;
        add_encoded_arrow_schema_to_metadata(&arrow, &mut props);
        let pairs = num_states * num_actions;
        let reward_dictionary = pairs <= MAX_REWARD_DICTIONARY;
        let max_iterations = if reward_dictionary {
            (MAX_REWARD_ENTRIES / pairs.max(1)).max(1)
        } else {
            1 << 16
        };
        Ok(TransitionsEncoder {
            dir: dir.to_path_buf(),
            wide_agents,
            arrow,
            descr,
            props: Arc::new(props),
            codec,
            num_states,
            num_actions,
            num_agents,
            max_iterations,
            rows_per_part: ROWS_PER_PART,
            window: WINDOW_PAGES,
            reward_dictionary,
            open: OpenPart::default(),
            next_part: 0,
            last_iteration: 0,
        })
    }

    /// `e` with the dataset directory as its path (page errors are made without it).
    fn in_dir(&self, e: Error) -> Error {
        match e {
            Error::Output { reason, .. } => Error::Output {
                path: self.dir.clone(),
                reason,
            },
            Error::Encode { what, source, .. } => Error::Encode {
                path: self.dir.clone(),
                what,
                source,
            },
            other => other,
        }
    }

    /// Smaller parts and windows of 2 pages, to test part and window boundaries without
    /// millions of rows.
    #[cfg(test)]
    fn with_limits(mut self, rows_per_part: usize, max_iterations: usize) -> Self {
        (self.rows_per_part, self.max_iterations, self.window) = (rows_per_part, max_iterations, 2);
        self
    }

    /// The dataset directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Most iterations one part holds (so its `r` dictionary has at most 2^18 entries).
    pub fn max_iterations(&self) -> usize {
        self.max_iterations
    }

    /// The Arrow schema of the parts ([`transitions_schema`]).
    pub fn schema(&self) -> &SchemaRef {
        &self.arrow
    }

    /// Encodes `step`'s rows (pages in parallel on the rayon pool, [`WINDOW_PAGES`] at a
    /// time) and hands each part it closes to `emit` as soon as it is closed.
    ///
    /// # Errors
    /// [`Error::Output`] when the step does not fit the encoder (another population size or
    /// number of states, an iteration not after the previous one or above `u32::MAX`), or a
    /// page cannot be compressed; `emit`'s error.
    pub fn push(
        &mut self,
        step: &StepTransitions<'_>,
        emit: &mut dyn FnMut(EncodedPart) -> Result<()>,
    ) -> Result<()> {
        let (k, selection) = (step.iteration(), step.selection());
        match step.buffer() {
            BufferRef::U8(b) => self.push_typed(b, k, selection, emit),
            BufferRef::U16(b) => self.push_typed(b, k, selection, emit),
        }
    }

    fn push_typed<T: StateCode>(
        &mut self,
        buffer: &TransitionBuffer<T>,
        iteration: u64,
        selection: &Selection,
        emit: &mut dyn FnMut(EncodedPart) -> Result<()>,
    ) -> Result<()> {
        let n = buffer.len();
        let bad = |reason: String| Error::Output {
            path: self.dir.clone(),
            reason,
        };
        if selection.population() != self.num_agents
            || selection.first_agent() + n > self.num_agents
            || buffer.tables().num_states() != self.num_states
            || buffer.tables().num_actions() != self.num_actions
        {
            return Err(bad(format!(
                "a step of {n} agents (from agent {} of {}) on {} states and {} actions, the \
                 dataset has {} agents on {} states and {} actions",
                selection.first_agent(),
                selection.population(),
                buffer.tables().num_states(),
                buffer.tables().num_actions(),
                self.num_agents,
                self.num_states,
                self.num_actions
            )));
        }
        let k = u32::try_from(iteration)
            .map_err(|_| bad(format!("iteration {iteration} exceeds u32::MAX")))?;
        if iteration <= self.last_iteration {
            return Err(bad(format!(
                "iteration {iteration} after iteration {}",
                self.last_iteration
            )));
        }
        if selection.kept.len() != n.div_ceil(CHUNK) {
            return Err(bad("the selection was drawn for another population".into()));
        }
        self.last_iteration = iteration;

        // Plan: which part (0 = the open one, 1 = the next, …) and dictionary slot each
        // non-empty page takes; it depends on row counts only.
        let chunks = (0..n.div_ceil(CHUNK)).filter(|&c| selection.chunk_agents(c, n).len() > 0);
        let mut plan = Vec::new();
        let (mut part, mut rows, mut slots) = (0usize, self.open.rows, self.open.iterations.len());
        let mut has_k = false;
        for c in chunks {
            if !has_k && slots >= self.max_iterations && rows > 0 {
                (part, rows, slots) = (part + 1, 0, 0);
            }
            if !has_k {
                (slots, has_k) = (slots + 1, true);
            }
            plan.push((c, part, (slots - 1) as u32));
            rows += selection.chunk_agents(c, n).len();
            if rows >= self.rows_per_part {
                (part, rows, slots, has_k) = (part + 1, 0, 0, false);
            }
        }

        let (state_width, action_width) = (
            bit_width(self.num_states.saturating_sub(1) as u64).max(1),
            bit_width(self.num_actions.saturating_sub(1) as u64).max(1),
        );
        let base = PageContext {
            num_actions: self.num_actions,
            pairs: self.num_states * self.num_actions,
            codec: self.codec,
            state_width,
            action_width,
            slot: 0,
            reward_dictionary: self.reward_dictionary,
            wide_agents: self.wide_agents,
            first_agent: selection.first_agent(),
        };
        let cx = |slot: u32| PageContext { slot, ..base };
        // Encode a window of pages at a time, so a step of 10^9 agents holds a few
        // windows of pages in memory, not the whole step.
        let mut current = 0;
        for window in plan.chunks(self.window) {
            let pages: Vec<Result<PageSet>> = window
                .par_iter()
                .map(|&(c, _, slot)| encode_page(buffer, k, selection.chunk_agents(c, n), cx(slot)))
                .collect();
            for (&(_, part, _), page) in window.iter().zip(pages) {
                let page = page.map_err(|e| self.in_dir(e))?;
                if part != current {
                    emit(self.close()?)?;
                    current = part;
                }
                if self.open.iterations.last() != Some(&k) {
                    self.open.iterations.push(k);
                    self.open.rewards.extend_from_slice(&buffer.tables().reward);
                }
                self.open.rows += page.rows;
                self.open.pages.push(page);
            }
        }
        if self.open.rows >= self.rows_per_part {
            emit(self.close()?)?;
        }
        Ok(())
    }

    /// Closes the open part if it has rows (or when no part was written yet: an empty
    /// dataset still gets one part, so it has a schema).
    ///
    /// # Errors
    /// As [`TransitionsEncoder::push`].
    pub fn finish(mut self) -> Result<Option<EncodedPart>> {
        if self.open.rows > 0 || self.next_part == 0 {
            return self.close().map(Some);
        }
        Ok(None)
    }

    /// Assembles the open part into a Parquet file (one row group) and starts a new part.
    fn close(&mut self) -> Result<EncodedPart> {
        let mut open = std::mem::take(&mut self.open);
        let index = self.next_part;
        self.next_part += 1;
        let err = |e: parquet::errors::ParquetError| {
            Error::encode(
                PartWriter::part_path(&self.dir, index),
                "assembling the part",
                e,
            )
        };
        let mut file = SerializedFileWriter::new(
            Vec::with_capacity(
                open.pages
                    .iter()
                    .flat_map(|p| &p.columns)
                    .map(|c| c.data.len() + 32)
                    .sum::<usize>()
                    + (1 << 16),
            ),
            self.descr.root_schema_ptr(),
            self.props.clone(),
        )
        .map_err(err)?;
        let mut group = file.next_row_group().map_err(err)?;
        for col in 0..7 {
            let dictionary = self.dictionary(col, &open).map_err(|e| self.in_dir(e))?;
            let close = self.column_chunk(col, dictionary, &mut open).map_err(err)?;
            group.append_column(&close.0, close.1).map_err(err)?;
        }
        group.close().map_err(err)?;
        let bytes = file.into_inner().map_err(err)?;
        Ok(EncodedPart {
            index,
            rows: open.rows,
            bytes,
        })
    }

    /// Column `col`'s dictionary page (PLAIN values, compressed), if it has one.
    fn dictionary(&self, col: usize, open: &OpenPart) -> Result<Option<(Vec<u8>, usize, u32)>> {
        let mut raw = Vec::new();
        let count = match col {
            0 => {
                for &k in &open.iterations {
                    raw.extend_from_slice(&k.to_le_bytes());
                }
                open.iterations.len()
            }
            2 | 5 => {
                for s in 0..self.num_states as u32 {
                    raw.extend_from_slice(&s.to_le_bytes());
                }
                self.num_states
            }
            3 => {
                for a in 0..self.num_actions as u32 {
                    raw.extend_from_slice(&a.to_le_bytes());
                }
                self.num_actions
            }
            4 if self.reward_dictionary => {
                for r in &open.rewards {
                    raw.extend_from_slice(&r.to_le_bytes());
                }
                open.rewards.len()
            }
            _ => return Ok(None),
        };
        let len = raw.len();
        Ok(Some((compress(self.codec, raw)?, len, count as u32)))
    }

    /// Column `col` of the open part as one column chunk (its bytes and metadata).
    fn column_chunk(
        &self,
        col: usize,
        dictionary: Option<(Vec<u8>, usize, u32)>,
        open: &mut OpenPart,
    ) -> parquet::errors::Result<(Bytes, ColumnCloseResult)> {
        let bytes = dictionary.as_ref().map_or(0, |d| d.0.len())
            + open
                .pages
                .iter()
                .map(|p| p.columns[col].data.len() + 64)
                .sum::<usize>();
        let mut sink = TrackedWrite::new(Vec::with_capacity(bytes + 64));
        let (mut compressed, mut uncompressed) = (0i64, 0i64);
        let mut dictionary_offset = None;
        let mut encodings = Vec::new();
        let data_offset;
        {
            let mut writer = SerializedPageWriter::new(&mut sink);
            if let Some((data, len, count)) = dictionary {
                let spec = writer.write_page(CompressedPage::new(
                    Page::DictionaryPage {
                        buf: Bytes::from(data),
                        num_values: count,
                        encoding: Encoding::PLAIN,
                        is_sorted: col != 4,
                    },
                    len,
                ))?;
                dictionary_offset = Some(spec.offset as i64);
                compressed += spec.compressed_size as i64;
                uncompressed += spec.uncompressed_size as i64;
                encodings.push(Encoding::PLAIN);
            }
            data_offset = compressed;
            let mut stats: Option<MinMax> = None;
            for p in &mut open.pages {
                let c = &mut p.columns[col];
                if !encodings.contains(&c.encoding) {
                    encodings.push(c.encoding);
                }
                stats = Some(stats.map_or(c.stats, |s| s.merge(c.stats)));
                let spec = writer.write_page(CompressedPage::new(
                    Page::DataPage {
                        buf: Bytes::from(std::mem::take(&mut c.data)),
                        num_values: p.rows as u32,
                        encoding: c.encoding,
                        def_level_encoding: Encoding::RLE,
                        rep_level_encoding: Encoding::RLE,
                        statistics: None,
                    },
                    c.uncompressed,
                ))?;
                compressed += spec.compressed_size as i64;
                uncompressed += spec.uncompressed_size as i64;
            }
            writer.close()?;
            let descr = self.descr.column(col);
            let statistics = stats.map(|s| self.statistics(col, s));
            let mut meta = ColumnChunkMetaData::builder(descr)
                .set_compression(self.codec.compression())
                .set_encodings(encodings)
                .set_num_values(open.rows as i64)
                .set_total_compressed_size(compressed)
                .set_total_uncompressed_size(uncompressed)
                .set_data_page_offset(data_offset)
                .set_dictionary_page_offset(dictionary_offset);
            if let Some(s) = statistics {
                meta = meta.set_statistics(s);
            }
            let metadata = meta.build()?;
            let bytes = Bytes::from(sink.into_inner()?);
            Ok((
                bytes,
                ColumnCloseResult {
                    bytes_written: compressed as u64,
                    rows_written: open.rows as u64,
                    metadata,
                    bloom_filter: None,
                    column_index: None,
                    offset_index: None,
                },
            ))
        }
    }

    /// Column chunk statistics of column `col` (integers stored as their unsigned bit
    /// pattern, the order of their unsigned logical type).
    fn statistics(&self, col: usize, s: MinMax) -> Statistics {
        match (col, s) {
            (4, MinMax::Float(lo, hi)) => {
                Statistics::double(Some(lo), Some(hi), None, Some(0), false)
            }
            (6, MinMax::Int(lo, hi)) => {
                Statistics::boolean(Some(lo != 0), Some(hi != 0), None, Some(0), false)
            }
            (1, MinMax::Int(lo, hi)) if self.wide_agents => {
                Statistics::int64(Some(lo as i64), Some(hi as i64), None, Some(0), false)
            }
            (_, MinMax::Int(lo, hi)) => Statistics::int32(
                Some(lo as u32 as i32),
                Some(hi as u32 as i32),
                None,
                Some(0),
                false,
            ),
            (_, MinMax::Float(..)) => unreachable!("only r is a double"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Infection, InfectionParams, Model};
    use crate::population::Population;
    use crate::space::{uniform, Policy};
    use crate::test_util::in_pool;
    use arrow_array::RecordBatch;
    use arrow_array::{Array, UInt32Array};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn infection(num_states: usize) -> Infection {
        Infection::try_new(InfectionParams {
            num_states,
            w2_pmf: vec![1.0 / num_states as f64; num_states],
            ..InfectionParams::default()
        })
        .unwrap()
    }

    /// The batches of `steps` successive steps of `n` agents (state code `T`), and the parts
    /// an encoder with these limits makes of them.
    fn export<T: crate::transition::BufferCode>(
        model: &Infection,
        n: usize,
        steps: u64,
        fraction: f64,
        limits: (usize, usize),
        wide: bool,
    ) -> (Vec<RecordBatch>, Vec<EncodedPart>, TransitionsEncoder) {
        let (ns, na) = (model.num_states(), model.num_actions());
        let mut pop = Population::<T>::try_new_typed(ns, n, &uniform(ns), 5).unwrap();
        let meta = RunMetadata::new("scenario text", 5);
        let mut enc =
            TransitionsEncoder::build(Path::new("t"), ns, na, n, wide, &meta, Codec::Zstd)
                .unwrap()
                .with_limits(limits.0, limits.1);
        let (mut batches, mut parts) = (Vec::new(), Vec::new());
        let mut selection = Selection::default();
        for k in 1..=steps {
            pop.step_par(model, &Policy::uniform(ns, na), k - 1, 5)
                .unwrap();
            let buffer = pop.transitions().unwrap();
            selection.draw(n, k, fraction, 9);
            let step = StepTransitions::new(buffer, k, &selection);
            batches.push(step.to_batch());
            enc.push(&step, &mut |p| {
                parts.push(p);
                Ok(())
            })
            .unwrap();
        }
        (batches, parts, enc)
    }

    fn read(part: &EncodedPart) -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(Bytes::from(part.bytes.clone()))
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect()
    }

    fn concat(batches: &[RecordBatch]) -> RecordBatch {
        arrow_select::concat::concat_batches(&batches[0].schema(), batches).unwrap()
    }

    /// Reads every part back with parquet-rs (as readers see it: the Arrow schema's narrow
    /// unsigned types) and compares with the Arrow batches of the same steps; checks part
    /// sizes, iterations per part and the column statistics.
    fn check_round_trip<T: crate::transition::BufferCode>(
        num_states: usize,
        n: usize,
        fraction: f64,
        wide: bool,
    ) {
        let model = infection(num_states);
        let (rows_per_part, max_iterations) = (3 * CHUNK / 2, 3);
        let (batches, mut parts, enc) = export::<T>(
            &model,
            n,
            7,
            fraction,
            (rows_per_part, max_iterations),
            wide,
        );
        parts.extend(enc.finish().unwrap());
        assert!(parts.len() >= 3, "{} parts", parts.len());
        let mut read_back = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(p.index, i);
            let b = read(p);
            let rows: usize = b.iter().map(RecordBatch::num_rows).sum();
            assert_eq!(rows, p.rows);
            if i + 1 < parts.len() {
                assert!(rows >= rows_per_part.min(1) && rows < rows_per_part + CHUNK);
            }
            let file = SerializedFileReader::new(Bytes::from(p.bytes.clone())).unwrap();
            let meta = file.metadata();
            assert_eq!(meta.num_row_groups(), 1);
            let whole = concat(&b);
            let iterations = whole
                .column(0)
                .as_any()
                .downcast_ref::<UInt32Array>()
                .unwrap();
            let mut distinct: Vec<u32> = iterations.values().to_vec();
            distinct.dedup();
            assert!(distinct.len() <= max_iterations, "{distinct:?}");
            // Statistics: min/max of each integer column, as stored.
            let rg = meta.row_group(0);
            for (c, name) in [(0, "iteration"), (1, "agent"), (2, "s"), (5, "s_next")] {
                let col = arrow_cast_u64(whole.column(c));
                let (lo, hi) = (col.iter().min().unwrap(), col.iter().max().unwrap());
                let st = rg.column(c).statistics().expect(name);
                let got = match st {
                    Statistics::Int32(v) => (
                        u64::from(*v.min_opt().unwrap() as u32),
                        u64::from(*v.max_opt().unwrap() as u32),
                    ),
                    Statistics::Int64(v) => {
                        (*v.min_opt().unwrap() as u64, *v.max_opt().unwrap() as u64)
                    }
                    other => panic!("{name}: {other:?}"),
                };
                assert_eq!(got, (*lo, *hi), "{name}");
            }
            read_back.extend(b);
        }
        let (got, want) = (concat(&read_back), concat(&batches));
        if wide {
            // UInt64 agent ids: the same values as the batches' UInt32 ones.
            assert_eq!(
                arrow_cast_u64(got.column(1)),
                arrow_cast_u64(want.column(1))
            );
            for c in [0, 2, 3, 4, 5, 6] {
                assert_eq!(got.column(c), want.column(c));
            }
        } else {
            assert_eq!(got, want);
        }
    }

    /// An unsigned integer column as u64s.
    fn arrow_cast_u64(a: &arrow_array::ArrayRef) -> Vec<u64> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{UInt16Type, UInt32Type, UInt64Type, UInt8Type};
        use arrow_array::ArrowPrimitiveType;
        use arrow_schema::DataType;
        fn widen<T: ArrowPrimitiveType>(a: &arrow_array::ArrayRef) -> Vec<u64>
        where
            T::Native: Into<u64>,
        {
            a.as_primitive::<T>()
                .values()
                .iter()
                .map(|&v| v.into())
                .collect()
        }
        match a.data_type() {
            DataType::UInt8 => widen::<UInt8Type>(a),
            DataType::UInt16 => widen::<UInt16Type>(a),
            DataType::UInt32 => widen::<UInt32Type>(a),
            DataType::UInt64 => widen::<UInt64Type>(a),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn parts_read_back_as_the_batches_of_every_step() {
        // Several chunks (the last one short), all agents and a seeded fraction.
        check_round_trip::<u8>(25, 2 * CHUNK + 999, 1.0, false);
        check_round_trip::<u8>(25, 2 * CHUNK + 999, 0.37, false);
        // 64-bit agent ids (populations above 2^32), consecutive and with gaps.
        check_round_trip::<u8>(25, CHUNK + 999, 1.0, true);
        check_round_trip::<u8>(25, 2 * CHUNK + 999, 0.05, true);
        // u16 state codes with 25 states (UInt8 columns), and 300 states (UInt16, 9-bit
        // indices, an `r` dictionary of 1500 entries per iteration: 11–13-bit indices).
        check_round_trip::<u16>(25, CHUNK + 5, 1.0, false);
        check_round_trip::<u16>(300, 2 * CHUNK + 17, 0.6, false);
    }

    #[test]
    fn parts_are_byte_identical_for_any_thread_count() {
        let model = infection(25);
        let run = |threads| {
            in_pool(threads, || {
                let (_, mut parts, enc) =
                    export::<u8>(&model, 3 * CHUNK + 7, 4, 0.5, (CHUNK, 2), false);
                parts.extend(enc.finish().unwrap());
                parts.into_iter().map(|p| p.bytes).collect::<Vec<_>>()
            })
        };
        let one = run(1);
        assert!(one.len() >= 3);
        assert_eq!(one, run(2));
        assert_eq!(one, run(4));
    }

    #[test]
    fn default_parts_hold_about_a_million_rows() {
        let model = infection(25);
        let n = 5 * CHUNK;
        let (_, parts, enc) = export::<u8>(&model, n, 5, 1.0, (ROWS_PER_PART, 1 << 10), false);
        // 5 steps of 327 680 rows: the first part closes at the page that reaches 2^20.
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].rows, 16 * CHUNK);
        let last = enc.finish().unwrap().unwrap();
        assert_eq!((last.index, last.rows), (1, 9 * CHUNK));
        assert_eq!(
            read(&last).iter().map(RecordBatch::num_rows).sum::<usize>(),
            9 * CHUNK
        );
    }

    #[test]
    fn an_empty_dataset_has_one_part_with_the_schema() {
        let meta = RunMetadata::new("", 1);
        let enc =
            TransitionsEncoder::try_new(Path::new("t"), 25, 5, 100, &meta, Codec::Snappy).unwrap();
        let schema = enc.schema().clone();
        let part = enc.finish().unwrap().unwrap();
        assert_eq!(part.rows, 0);
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(part.bytes)).unwrap();
        assert_eq!(reader.schema().fields(), schema.fields());
    }

    #[test]
    fn steps_that_do_not_fit_are_refused() {
        let model = infection(25);
        let (_, _, mut enc) = export::<u8>(&model, 1000, 2, 1.0, (ROWS_PER_PART, 8), false);
        let mut pop = Population::<u8>::try_new_typed(25, 1000, &uniform(25), 1).unwrap();
        pop.step_par(&model, &Policy::uniform(25, 5), 0, 1).unwrap();
        let mut selection = Selection::default();
        selection.draw(1000, 2, 1.0, 1);
        let again = StepTransitions::new(pop.transitions().unwrap(), 2, &selection);
        let e = enc.push(&again, &mut |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("iteration 2 after iteration 2"), "{e}");
        let mut other = Population::<u8>::try_new_typed(25, 999, &uniform(25), 1).unwrap();
        other
            .step_par(&model, &Policy::uniform(25, 5), 0, 1)
            .unwrap();
        selection.draw(999, 3, 1.0, 1);
        let e = enc
            .push(
                &StepTransitions::new(other.transitions().unwrap(), 3, &selection),
                &mut |_| Ok(()),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("a step of 999 agents"), "{e}");
    }
}
