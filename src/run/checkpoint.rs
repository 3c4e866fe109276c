//! Checkpoints of a `learn` run: the format, writing, reading and validation.
//!
//! A checkpoint directory holds two files:
//!
//! * `state.ckpt`: everything the next iteration reads, written whole through an
//!   [`AtomicFile`] (temporary name, fsync, rename), so a kill at any moment leaves either
//!   the previous or the new complete checkpoint;
//! * `history.bin`: the snapshots of iterations 1..=k (one fixed-size record each),
//!   appended and synced *before* `state.ckpt` is renamed into place. A resume reads the k
//!   records `state.ckpt` names and drops anything after them, so records of a run killed
//!   between the two writes are never read.
//!
//! # What is saved
//! The algorithm's state through [`Algorithm::save_state`] (online algorithms: the step
//! count, the engine's agents' state column (1 byte per agent with |S| ≤ 256, 2 otherwise)
//! or the count engine's histogram, and the learner: Q, the step-size counts n(s,a) and the
//! visit counts (sampled rule), or Q and the kernel memory W (batch rule), or every agent's
//! table, counts, greedy cache, next action and bin (IQL, MFQ); TMFQ: its TQ-learner, its
//! M_sim simulator agents, z_{k+1} and its counters; GMBL: Q̂, z_k and k), the evaluator's
//! warm start Q*_z, the summed sample ledger and the loop's timings.
//!
//! No random state is saved, and none is needed: every stream is created where it is used
//! from (seed, purpose, step, chunk) ([`crate::rng`]); the population steps (agent and count
//! engines, TMFQ's simulator and Next-MF), the learners' subsamples, IQL/MFQ's actions and
//! bins and GMBL's generative draws are all keyed by the iteration (or TMFQ's simulator step
//! t, which is saved). A resumed run therefore gives bitwise the results of an uninterrupted
//! one, for any thread count.
//!
//! # Format of `state.ckpt` (little endian)
//! ```text
//! "MFGSIMCK"  u32 format version (2)
//! u64 header length, header (JSON: mfgsim version, scenario name and effective TOML,
//!     options, iteration k), u64 checksum of the header
//! sections, each: u16 name length, name, u8 type (1 u8, 2 u16, 3 u32, 4 u64, 5 f32, 6 f64),
//!     u64 element count, the elements, u64 checksum of their bytes
//! "END!"  u32 number of sections
//! ```
//! A resume is refused, naming what differs, when the mfgsim version, the scenario (any key
//! of its effective TOML except `sim.iterations`, which may be raised to continue further)
//! or an option differs.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::finite_n::{FiniteNParams, PolicySource, RunResult, StepRecord};
use crate::learner::{Algorithm, Evaluator, Ledger, Snapshot};
use crate::model::Model;
use crate::operator::Exploitability;
use crate::output::AtomicFile;
use crate::persist::{StateReader, StateWriter};
use crate::scenario::Scenario;

/// The version of the `state.ckpt` and `history.bin` layouts this build reads and writes.
/// Version 2: each history record holds `w1_to_tmfe` and `consistency` after `l1_to_tmfe`.
/// Version 3: both files carry the run's identity (`run_id`, drawn when the run starts), and
/// a resume refuses a `history.bin` of another run.
/// Version 4: IQL/MFQ save their tables as one `agent_records` section (the record layout
/// of `learner::independent`), not `agent_q`, `agent_step_counts` and `agent_greedy`.
pub const FORMAT_VERSION: u32 = 4;
/// The state file in a checkpoint directory.
pub const STATE_FILE: &str = "state.ckpt";
/// The snapshot history in a checkpoint directory.
pub const HISTORY_FILE: &str = "history.bin";
const STATE_MAGIC: &[u8; 8] = b"MFGSIMCK";
const HISTORY_MAGIC: &[u8; 8] = b"MFGSIMHI";
const END_MAGIC: &[u8; 4] = b"END!";
/// `auto` interval: a checkpoint once the time since the last one is at least this many
/// times the last write's duration (so writing costs at most 1/20 = 5% of the run) ...
pub const AUTO_COST_RATIO: f64 = 20.0;
/// ... and at least this many seconds (short runs are not checkpointed every iteration).
pub const AUTO_MIN_SECONDS: f64 = 60.0;
/// Bytes converted per write or read call for non-byte sections.
const IO_CHUNK: usize = 1 << 20;
/// Scenario keys that may differ between a checkpoint and the run resuming it.
const FREE_KEYS: [&str; 1] = ["sim.iterations"];

/// When a run writes checkpoints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Interval {
    /// Never (a run that only resumes, or no checkpointing).
    Never,
    /// After every K-th iteration (K ≥ 1).
    Every(u64),
    /// When the wall time since the last checkpoint is at least [`AUTO_MIN_SECONDS`] and at
    /// least [`AUTO_COST_RATIO`] times the last write's duration: at most 5% slower.
    Auto,
}

impl Interval {
    /// Parses `K` (a positive integer) or `auto`.
    ///
    /// # Errors
    /// A message for anything else.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        if text.trim() == "auto" {
            return Ok(Interval::Auto);
        }
        match text.trim().parse::<u64>() {
            Ok(k) if k >= 1 => Ok(Interval::Every(k)),
            _ => Err(format!(
                "expected a number of iterations K >= 1 or `auto`, got `{text}`"
            )),
        }
    }
}

/// How a [`super::learn_checkpointed`] run writes and resumes checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointPlan {
    /// The checkpoint directory (created if missing).
    pub dir: PathBuf,
    /// When to write.
    pub every: Interval,
    /// Continue from the checkpoint in `dir` instead of starting afresh.
    pub resume: bool,
    /// The caller's options that change outputs (e.g. the binary's `flush_every`): saved,
    /// and compared on resume.
    pub options: BTreeMap<String, String>,
}

/// What checkpointing did during a run (the `checkpoint` object of `summary.json`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CheckpointSummary {
    /// The iteration the run resumed from, `None` for a fresh run.
    pub resumed_from: Option<u64>,
    /// Checkpoints written by this process.
    pub written: u64,
    /// The iteration of the last checkpoint written.
    pub last_iteration: Option<u64>,
    /// Bytes of the last `state.ckpt`.
    pub state_bytes: u64,
    /// Wall seconds of all writes (state and history, fsync included).
    pub write_seconds: f64,
    /// The longest write.
    pub max_write_seconds: f64,
    /// Wall seconds reading the checkpoint on resume.
    pub read_seconds: f64,
}

/// The JSON header of `state.ckpt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    mfgsim_version: String,
    scenario: String,
    scenario_text: String,
    algo: String,
    options: BTreeMap<String, String>,
    iteration: u64,
    history_records: u64,
    /// The run's identity: random, drawn at a fresh start, kept by every resume, and
    /// written into `history.bin`'s header too.
    run_id: u64,
}

/// Loop totals saved with the state (not part of any algorithm).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Totals {
    pub ledger: Ledger,
    /// total_loop, step, learn, eval, output, checkpoint seconds of the previous segments.
    pub seconds: [f64; 6],
}

// ---------------------------------------------------------------------------------------
// Checksums
// ---------------------------------------------------------------------------------------

/// A fast 64-bit checksum (four multiply-xorshift lanes over 8-byte words), fed in pieces
/// whose lengths are multiples of 32 bytes except the last. Detects truncation and bit rot;
/// not cryptographic.
#[derive(Debug, Clone, Copy)]
struct Checksum {
    lanes: [u64; 4],
    len: u64,
}

impl Checksum {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    fn new() -> Self {
        Checksum {
            lanes: [1, 2, 3, 4],
            len: 0,
        }
    }

    fn mix(h: u64, w: u64) -> u64 {
        let h = (h ^ w).wrapping_mul(Self::K);
        h ^ (h >> 29)
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        let mut blocks = bytes.chunks_exact(32);
        for b in &mut blocks {
            for (l, w) in self.lanes.iter_mut().zip(b.chunks_exact(8)) {
                *l = Self::mix(*l, u64::from_le_bytes(w.try_into().expect("8 bytes")));
            }
        }
        for (i, w) in blocks.remainder().chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..w.len()].copy_from_slice(w);
            self.lanes[i] = Self::mix(self.lanes[i], u64::from_le_bytes(word));
        }
    }

    fn finish(&self) -> u64 {
        let mut h = self.len;
        for l in self.lanes {
            h = Self::mix(h, l);
        }
        h
    }
}

fn checksum(bytes: &[u8]) -> u64 {
    let mut c = Checksum::new();
    c.feed(bytes);
    c.finish()
}

// ---------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------

/// Element types of a section, with their tags and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    U8 = 1,
    U16 = 2,
    U32 = 3,
    U64 = 4,
    F32 = 5,
    F64 = 6,
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::U8 => 1,
            Kind::U16 => 2,
            Kind::U32 | Kind::F32 => 4,
            Kind::U64 | Kind::F64 => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::U8 => "u8",
            Kind::U16 => "u16",
            Kind::U32 => "u32",
            Kind::U64 => "u64",
            Kind::F32 => "f32",
            Kind::F64 => "f64",
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            1 => Kind::U8,
            2 => Kind::U16,
            3 => Kind::U32,
            4 => Kind::U64,
            5 => Kind::F32,
            6 => Kind::F64,
            _ => return None,
        })
    }
}

/// Numbers that a section holds, converted to and from little-endian bytes.
trait Element: Copy {
    const KIND: Kind;
    fn put(self, out: &mut Vec<u8>);
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! element {
    ($t:ty, $kind:expr) => {
        impl Element for $t {
            const KIND: Kind = $kind;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("element size"))
            }
        }
    };
}
element!(u16, Kind::U16);
element!(u32, Kind::U32);
element!(u64, Kind::U64);
element!(f32, Kind::F32);
element!(f64, Kind::F64);

/// A [`StateWriter`] into a buffered file, counting sections and bytes.
struct SectionWriter<'a, W: Write> {
    out: &'a mut W,
    path: &'a Path,
    sections: u32,
    scratch: Vec<u8>,
}

impl<W: Write> SectionWriter<'_, W> {
    fn io(&self) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: self.path.to_path_buf(),
            source,
        }
    }

    fn head(&mut self, name: &str, kind: Kind, count: usize) -> Result<()> {
        let mut h = Vec::with_capacity(name.len() + 11);
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        h.push(kind as u8);
        h.extend_from_slice(&(count as u64).to_le_bytes());
        self.out.write_all(&h).map_err(self.io())?;
        self.sections += 1;
        Ok(())
    }

    fn bytes(&mut self, name: &str, v: &[u8]) -> Result<()> {
        self.head(name, Kind::U8, v.len())?;
        self.out.write_all(v).map_err(self.io())?;
        let sum = checksum(v);
        self.out.write_all(&sum.to_le_bytes()).map_err(self.io())
    }

    fn elements<T: Element>(&mut self, name: &str, v: &[T]) -> Result<()> {
        self.head(name, T::KIND, v.len())?;
        let mut sum = Checksum::new();
        let mut scratch = std::mem::take(&mut self.scratch);
        for piece in v.chunks(IO_CHUNK / T::KIND.size()) {
            scratch.clear();
            for &x in piece {
                x.put(&mut scratch);
            }
            sum.feed(&scratch);
            self.out.write_all(&scratch).map_err(self.io())?;
        }
        self.scratch = scratch;
        self.out
            .write_all(&sum.finish().to_le_bytes())
            .map_err(self.io())
    }
}

impl<W: Write> StateWriter for SectionWriter<'_, W> {
    fn u8s(&mut self, name: &str, v: &[u8]) -> Result<()> {
        self.bytes(name, v)
    }
    fn u16s(&mut self, name: &str, v: &[u16]) -> Result<()> {
        self.elements(name, v)
    }
    fn u32s(&mut self, name: &str, v: &[u32]) -> Result<()> {
        self.elements(name, v)
    }
    fn u64s(&mut self, name: &str, v: &[u64]) -> Result<()> {
        self.elements(name, v)
    }
    fn f32s(&mut self, name: &str, v: &[f32]) -> Result<()> {
        self.elements(name, v)
    }
    fn f64s(&mut self, name: &str, v: &[f64]) -> Result<()> {
        self.elements(name, v)
    }
}

/// A [`StateReader`] over a buffered file, checking every section's name, type, length and
/// checksum.
struct SectionReader<R: Read> {
    inp: R,
    path: PathBuf,
    sections: u32,
    scratch: Vec<u8>,
}

impl<R: Read> SectionReader<R> {
    fn corrupt(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::Input {
            path: self.path.clone(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    fn read_exact(&mut self, key: &str, buf: &mut [u8]) -> Result<()> {
        self.inp.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.corrupt(key, "the file ends early (truncated checkpoint)")
            } else {
                Error::Io {
                    path: self.path.clone(),
                    source: e,
                }
            }
        })
    }

    fn u64_raw(&mut self, key: &str) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read_exact(key, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a section head and checks it against what the caller expects.
    fn head(&mut self, name: &str, kind: Kind, count: usize) -> Result<()> {
        let mut len = [0u8; 2];
        self.read_exact(name, &mut len)?;
        let mut found = vec![0u8; usize::from(u16::from_le_bytes(len))];
        self.read_exact(name, &mut found)?;
        let mut tag = [0u8; 1];
        self.read_exact(name, &mut tag)?;
        let n = self.u64_raw(name)?;
        let found = String::from_utf8_lossy(&found).into_owned();
        let found_kind = Kind::from_tag(tag[0]);
        if found != name || found_kind != Some(kind) || n != count as u64 {
            return Err(self.corrupt(
                name,
                format!(
                    "expected {count} × {} here, the checkpoint has section `{found}` of {n} × {} \
                     (written by a run of another algorithm, rule or size)",
                    kind.name(),
                    found_kind.map_or("?", Kind::name)
                ),
            ));
        }
        self.sections += 1;
        Ok(())
    }

    fn check(&mut self, name: &str, sum: u64) -> Result<()> {
        if self.u64_raw(name)? != sum {
            return Err(self.corrupt(name, "checksum mismatch (corrupt checkpoint)"));
        }
        Ok(())
    }

    fn bytes(&mut self, name: &str, out: &mut [u8]) -> Result<()> {
        self.head(name, Kind::U8, out.len())?;
        self.read_exact(name, out)?;
        let sum = checksum(out);
        self.check(name, sum)
    }

    fn elements<T: Element>(&mut self, name: &str, out: &mut [T]) -> Result<()> {
        self.head(name, T::KIND, out.len())?;
        let size = T::KIND.size();
        let mut sum = Checksum::new();
        let mut scratch = std::mem::take(&mut self.scratch);
        for piece in out.chunks_mut(IO_CHUNK / size) {
            scratch.resize(piece.len() * size, 0);
            self.read_exact(name, &mut scratch)?;
            sum.feed(&scratch);
            for (x, b) in piece.iter_mut().zip(scratch.chunks_exact(size)) {
                *x = T::get(b);
            }
        }
        self.scratch = scratch;
        self.check(name, sum.finish())
    }
}

impl<R: Read> StateReader for SectionReader<R> {
    fn u8s(&mut self, name: &str, out: &mut [u8]) -> Result<()> {
        self.bytes(name, out)
    }
    fn u16s(&mut self, name: &str, out: &mut [u16]) -> Result<()> {
        self.elements(name, out)
    }
    fn u32s(&mut self, name: &str, out: &mut [u32]) -> Result<()> {
        self.elements(name, out)
    }
    fn u64s(&mut self, name: &str, out: &mut [u64]) -> Result<()> {
        self.elements(name, out)
    }
    fn f32s(&mut self, name: &str, out: &mut [f32]) -> Result<()> {
        self.elements(name, out)
    }
    fn f64s(&mut self, name: &str, out: &mut [f64]) -> Result<()> {
        self.elements(name, out)
    }
}

// ---------------------------------------------------------------------------------------
// Snapshot history
// ---------------------------------------------------------------------------------------

/// Words of one history record for |S| states (the last word is its checksum).
fn record_words(ns: usize) -> usize {
    ns + 26
}

fn encode_snapshot(s: &Snapshot, out: &mut Vec<u64>) {
    let start = out.len();
    let f = |x: f64| x.to_bits();
    out.push(s.iteration);
    out.extend(s.z.iter().map(|&x| f(x)));
    out.extend([
        f(s.mean_state),
        f(s.l1_to_tmfe),
        f(s.w1_to_tmfe),
        f(s.consistency),
        f(s.exploitability.max),
        f(s.exploitability.weighted),
    ]);
    match s.agent_exploitability {
        Some(e) => out.extend([1, f(e.max), f(e.weighted)]),
        None => out.extend([0, 0, 0]),
    }
    out.extend([s.regenerated, u64::from(s.policy_changes)]);
    for l in [&s.ledger, &s.total] {
        out.extend([
            l.simulator_transitions,
            l.real_transitions,
            l.generative_samples,
            l.tq_updates,
        ]);
    }
    out.extend([
        s.inner_steps,
        u64::from(s.inner_converged),
        f(s.step_seconds),
        f(s.learn_seconds),
        f(s.eval_seconds),
    ]);
    let bytes: Vec<u8> = out[start..].iter().flat_map(|w| w.to_le_bytes()).collect();
    out.push(checksum(&bytes));
}

fn decode_snapshot(words: &[u64], ns: usize) -> Option<Snapshot> {
    let (body, sum) = words.split_at(words.len() - 1);
    let bytes: Vec<u8> = body.iter().flat_map(|w| w.to_le_bytes()).collect();
    if checksum(&bytes) != sum[0] {
        return None;
    }
    let mut it = body.iter().copied();
    let mut next = || it.next().expect("record length checked");
    let f = f64::from_bits;
    let iteration = next();
    let z = (0..ns).map(|_| f(next())).collect();
    let (mean_state, l1_to_tmfe) = (f(next()), f(next()));
    let (w1_to_tmfe, consistency) = (f(next()), f(next()));
    let exploitability = Exploitability {
        max: f(next()),
        weighted: f(next()),
    };
    let (flag, max, weighted) = (next(), f(next()), f(next()));
    let agent_exploitability = (flag == 1).then_some(Exploitability { max, weighted });
    let regenerated = next();
    let policy_changes = u32::try_from(next()).ok()?;
    let mut ledger = || Ledger {
        simulator_transitions: next(),
        real_transitions: next(),
        generative_samples: next(),
        tq_updates: next(),
    };
    let (ledger, total) = (ledger(), ledger());
    Some(Snapshot {
        iteration,
        z,
        mean_state,
        l1_to_tmfe,
        w1_to_tmfe,
        consistency,
        exploitability,
        agent_exploitability,
        regenerated,
        policy_changes,
        ledger,
        total,
        inner_steps: next(),
        inner_converged: next() == 1,
        step_seconds: f(next()),
        learn_seconds: f(next()),
        eval_seconds: f(next()),
    })
}

fn history_header(ns: usize, run_id: u64) -> Vec<u8> {
    let mut h = HISTORY_MAGIC.to_vec();
    h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&(ns as u32).to_le_bytes());
    h.extend_from_slice(&run_id.to_le_bytes());
    h
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// Writes the checkpoints of one run (see the module docs).
#[derive(Debug)]
pub(crate) struct Checkpointer {
    plan: CheckpointPlan,
    header: Header,
    history: File,
    /// Records in `history` (and snapshots they cover).
    history_records: u64,
    last_end: Instant,
    last_write_seconds: f64,
    pub(crate) summary: CheckpointSummary,
}

impl Checkpointer {
    /// Prepares `plan.dir` for a fresh run (removing a previous checkpoint mfgsim wrote
    /// there) or for continuing the resumed one at `resumed` records.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; [`Error::Output`] when `plan.dir` holds a
    /// `state.ckpt` or `history.bin` that is not an mfgsim checkpoint.
    pub(crate) fn try_new(
        plan: &CheckpointPlan,
        sc: &Scenario,
        options: BTreeMap<String, String>,
        resumed: Option<(u64, u64)>,
    ) -> Result<Self> {
        // (records, run id) of the resumed run; a fresh run draws its identity.
        let run_id = resumed.map_or_else(crate::output::random_id, |(_, id)| id);
        let resumed = resumed.map(|(k, _)| k);
        let dir = &plan.dir;
        crate::output::ensure_real_dir(dir)?;
        let ns = sc.model.as_model().num_states();
        let (state, hist) = (dir.join(STATE_FILE), dir.join(HISTORY_FILE));
        for path in [&state, &hist] {
            if let Ok(m) = std::fs::symlink_metadata(path) {
                if !m.file_type().is_file() {
                    return Err(crate::output::not_a_plain_file(path, &m));
                }
            }
        }
        remove_stale_temps(dir)?;
        let history = match resumed {
            None => {
                for (path, magic) in [(&state, &STATE_MAGIC[..]), (&hist, &HISTORY_MAGIC[..])] {
                    if path.exists() {
                        if !starts_with(path, magic)? {
                            return Err(Error::Output {
                                path: path.clone(),
                                reason: "is not an mfgsim checkpoint; refusing to replace it \
                                         (move it or choose another --out)"
                                    .into(),
                            });
                        }
                        std::fs::remove_file(path).map_err(io_at(path))?;
                    }
                }
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&hist)
                    .map_err(io_at(&hist))?;
                f.write_all(&history_header(ns, run_id))
                    .map_err(io_at(&hist))?;
                f.sync_data().map_err(io_at(&hist))?;
                f
            }
            Some(k) => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&hist)
                    .map_err(io_at(&hist))?;
                let keep =
                    history_header(ns, run_id).len() as u64 + k * record_words(ns) as u64 * 8;
                f.set_len(keep).map_err(io_at(&hist))?;
                f
            }
        };
        let mut history = history;
        history.seek(SeekFrom::End(0)).map_err(io_at(&hist))?;
        Ok(Checkpointer {
            plan: plan.clone(),
            header: Header {
                mfgsim_version: env!("CARGO_PKG_VERSION").to_string(),
                scenario: sc.name.clone(),
                scenario_text: sc.text.clone(),
                algo: sc.learner.algo.as_str().to_string(),
                options,
                iteration: resumed.unwrap_or(0),
                history_records: resumed.unwrap_or(0),
                run_id,
            },
            history,
            history_records: resumed.unwrap_or(0),
            last_end: Instant::now(),
            last_write_seconds: 0.0,
            summary: CheckpointSummary {
                resumed_from: resumed,
                ..CheckpointSummary::default()
            },
        })
    }

    /// Whether a checkpoint is due after iteration `k`.
    pub(crate) fn due(&self, k: u64) -> bool {
        match self.plan.every {
            Interval::Never => false,
            Interval::Every(every) => k.is_multiple_of(every),
            Interval::Auto => {
                let since = self.last_end.elapsed().as_secs_f64();
                since >= AUTO_MIN_SECONDS && since >= AUTO_COST_RATIO * self.last_write_seconds
            }
        }
    }

    /// Whether this run writes checkpoints at all.
    pub(crate) fn writes(&self) -> bool {
        self.plan.every != Interval::Never
    }

    /// Writes the checkpoint after the last of `snapshots`: the new history records (synced),
    /// then `state.ckpt` atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; the previous checkpoint is then still complete.
    pub(crate) fn write<M: Model + ?Sized>(
        &mut self,
        run: &dyn Algorithm,
        eval: &Evaluator<'_, M>,
        snapshots: &[Snapshot],
        totals: &Totals,
    ) -> Result<()> {
        let t0 = Instant::now();
        let k = snapshots.last().map_or(0, |s| s.iteration);
        let hist = self.plan.dir.join(HISTORY_FILE);
        let mut words = Vec::new();
        for s in &snapshots[self.history_records as usize..] {
            encode_snapshot(s, &mut words);
        }
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.history.write_all(&bytes).map_err(io_at(&hist))?;
        self.history.sync_data().map_err(io_at(&hist))?;
        self.history_records = snapshots.len() as u64;

        let path = self.plan.dir.join(STATE_FILE);
        self.header.iteration = k;
        self.header.history_records = self.history_records;
        let mut file = AtomicFile::create(&path)?;
        {
            // A large buffer: the agents' column is written in few system calls.
            let mut out = BufWriter::with_capacity(8 << 20, file.writer());
            let json = serde_json::to_vec(&self.header).map_err(|e| Error::Output {
                path: path.clone(),
                reason: format!("encoding the header: {e}"),
            })?;
            let mut head = STATE_MAGIC.to_vec();
            head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            head.extend_from_slice(&(json.len() as u64).to_le_bytes());
            head.extend_from_slice(&json);
            head.extend_from_slice(&checksum(&json).to_le_bytes());
            out.write_all(&head).map_err(io_at(&path))?;
            let mut w = SectionWriter {
                out: &mut out,
                path: &path,
                sections: 0,
                scratch: Vec::new(),
            };
            run.save_state(&mut w)?;
            eval.save_state(&mut w)?;
            save_totals(&mut w, totals)?;
            let sections = w.sections;
            out.write_all(END_MAGIC).map_err(io_at(&path))?;
            out.write_all(&sections.to_le_bytes())
                .map_err(io_at(&path))?;
            out.flush().map_err(io_at(&path))?;
        }
        file.commit()?;
        let seconds = t0.elapsed().as_secs_f64();
        let s = &mut self.summary;
        s.written += 1;
        s.last_iteration = Some(k);
        s.state_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        s.write_seconds += seconds;
        s.max_write_seconds = s.max_write_seconds.max(seconds);
        self.last_write_seconds = seconds;
        self.last_end = Instant::now();
        Ok(())
    }
}

fn save_totals(w: &mut dyn StateWriter, t: &Totals) -> Result<()> {
    let l = &t.ledger;
    w.u64s(
        "ledger_total",
        &[
            l.simulator_transitions,
            l.real_transitions,
            l.generative_samples,
            l.tq_updates,
        ],
    )?;
    w.f64s("loop_seconds", &t.seconds)
}

fn load_totals(r: &mut dyn StateReader) -> Result<Totals> {
    let mut l = [0u64; 4];
    r.u64s("ledger_total", &mut l)?;
    let mut seconds = [0.0; 6];
    r.f64s("loop_seconds", &mut seconds)?;
    Ok(Totals {
        ledger: Ledger {
            simulator_transitions: l[0],
            real_transitions: l[1],
            generative_samples: l[2],
            tq_updates: l[3],
        },
        seconds,
    })
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Removes the temporary files of a `state.ckpt` write that a kill interrupted
/// (`AtomicFile` names them `.state.ckpt.tmp-` and random hex digits); they can be as large as the state.
fn remove_stale_temps(dir: &Path) -> Result<()> {
    let prefix = format!(".{STATE_FILE}.tmp-");
    for e in std::fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let path = e.path();
            std::fs::remove_file(&path).map_err(io_at(&path))?;
        }
    }
    Ok(())
}

fn starts_with(path: &Path, magic: &[u8]) -> Result<bool> {
    let mut f = File::open(path).map_err(io_at(path))?;
    let mut buf = vec![0u8; magic.len()];
    Ok(f.read_exact(&mut buf).is_ok() && buf == magic)
}

// ---------------------------------------------------------------------------------------
// Reading and validation
// ---------------------------------------------------------------------------------------

/// An opened, validated checkpoint, positioned at its first section.
pub(crate) struct Resume {
    reader: SectionReader<BufReader<File>>,
    header: Header,
    started: Instant,
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resume")
            .field("path", &self.reader.path)
            .field("iteration", &self.header.iteration)
            .finish_non_exhaustive()
    }
}

/// The dotted keys of a TOML document with their values (arrays and inline values as TOML
/// text).
fn flatten(text: &str) -> BTreeMap<String, String> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => walk(&key, t, out),
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(t) = text.parse::<toml::Table>() {
        walk("", &t, &mut out);
    }
    out
}

impl Resume {
    /// Opens `dir/state.ckpt` and checks that it continues a run of `sc` with `options`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Input`] naming the file and what
    /// differs: not a checkpoint, another format version, mfgsim version, scenario key,
    /// option, or a checkpoint beyond `sim.iterations`.
    pub(crate) fn open(
        dir: &Path,
        sc: &Scenario,
        options: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let started = Instant::now();
        let path = dir.join(STATE_FILE);
        let file = File::open(&path).map_err(io_at(&path))?;
        let mut reader = SectionReader {
            inp: BufReader::with_capacity(8 << 20, file),
            path: path.clone(),
            sections: 0,
            scratch: Vec::new(),
        };
        let mut magic = [0u8; 8];
        reader.read_exact("format", &mut magic)?;
        if &magic != STATE_MAGIC {
            return Err(reader.corrupt("format", "is not an mfgsim checkpoint"));
        }
        let mut v = [0u8; 4];
        reader.read_exact("format", &mut v)?;
        let version = u32::from_le_bytes(v);
        if version != FORMAT_VERSION {
            return Err(reader.corrupt(
                "format",
                format!(
                    "checkpoint format version {version}; this mfgsim reads version {FORMAT_VERSION}"
                ),
            ));
        }
        let len = reader.u64_raw("header")?;
        if len > 1 << 26 {
            return Err(reader.corrupt("header", format!("implausible length {len}")));
        }
        let mut json = vec![0u8; len as usize];
        reader.read_exact("header", &mut json)?;
        reader.check("header", checksum(&json))?;
        let header: Header = serde_json::from_slice(&json)
            .map_err(|e| reader.corrupt("header", format!("unreadable: {e}")))?;
        let it = Resume {
            reader,
            header,
            started,
        };
        it.validate(sc, options)?;
        Ok(it)
    }

    fn differs(&self, key: &str, saved: &str, now: &str) -> Error {
        self.reader.corrupt(
            key,
            format!(
                "the checkpoint was written with {saved}, this run has {now}; resume with the \
                 same scenario, --set values and flags, or start afresh without --resume"
            ),
        )
    }

    fn validate(&self, sc: &Scenario, options: &BTreeMap<String, String>) -> Result<()> {
        let h = &self.header;
        let version = env!("CARGO_PKG_VERSION");
        if h.mfgsim_version != version {
            return Err(self.differs(
                "mfgsim_version",
                &format!("mfgsim {}", h.mfgsim_version),
                &format!("mfgsim {version}"),
            ));
        }
        if h.scenario != sc.name {
            return Err(self.differs(
                "name",
                &format!("scenario `{}`", h.scenario),
                &format!("scenario `{}`", sc.name),
            ));
        }
        let (saved, now) = (flatten(&h.scenario_text), flatten(&sc.text));
        let keys: std::collections::BTreeSet<&String> = saved.keys().chain(now.keys()).collect();
        for key in keys {
            if FREE_KEYS.contains(&key.as_str()) {
                continue;
            }
            let (a, b) = (saved.get(key), now.get(key));
            if a != b {
                let show = |v: Option<&String>| v.map_or("no value".to_string(), |v| v.clone());
                return Err(self.differs(key, &show(a), &show(b)));
            }
        }
        let keys: std::collections::BTreeSet<&String> =
            h.options.keys().chain(options.keys()).collect();
        for key in keys {
            let (a, b) = (h.options.get(key), options.get(key));
            if a != b {
                let show = |v: Option<&String>| v.map_or("it unset".to_string(), |v| v.clone());
                return Err(self.differs(key, &show(a), &show(b)));
            }
        }
        if h.iteration > sc.sim.iterations {
            return Err(self.reader.corrupt(
                "sim.iterations",
                format!(
                    "the checkpoint is at iteration {}, beyond the {} asked for",
                    h.iteration, sc.sim.iterations
                ),
            ));
        }
        Ok(())
    }

    /// The checkpoint's iteration k.
    pub(crate) fn iteration(&self) -> u64 {
        self.header.iteration
    }

    /// The run's identity (see [`Header`]).
    pub(crate) fn run_id(&self) -> u64 {
        self.header.run_id
    }

    /// Reads the state into `run` and `eval`, then the loop totals and the k snapshots of
    /// the history.
    ///
    /// # Errors
    /// [`Error::Input`] naming the file and section for anything that does not fit (or is
    /// corrupt), [`Error::Io`] for read errors.
    pub(crate) fn load<M: Model + ?Sized>(
        mut self,
        dir: &Path,
        run: &mut dyn Algorithm,
        eval: &mut Evaluator<'_, M>,
        ns: usize,
    ) -> Result<(Totals, Vec<Snapshot>, f64)> {
        let r = &mut self.reader;
        run.load_state(r)?;
        eval.load_state(r)?;
        let totals = load_totals(r)?;
        let mut end = [0u8; 8];
        r.read_exact("end", &mut end)?;
        if &end[..4] != END_MAGIC
            || u32::from_le_bytes(end[4..].try_into().expect("4")) != r.sections
        {
            return Err(r.corrupt("end", "the sections do not end where the trailer says"));
        }
        if run.iterations() != self.header.iteration {
            return Err(r.corrupt(
                "iteration",
                format!(
                    "the header says {}, the algorithm's state {}",
                    self.header.iteration,
                    run.iterations()
                ),
            ));
        }
        let history = read_history(
            &dir.join(HISTORY_FILE),
            ns,
            self.header.history_records,
            self.header.run_id,
        )?;
        Ok((totals, history, self.started.elapsed().as_secs_f64()))
    }
}

/// The first `records` snapshots of a history file.
fn read_history(path: &Path, ns: usize, records: u64, run_id: u64) -> Result<Vec<Snapshot>> {
    let bad = |reason: String| Error::Input {
        path: path.to_path_buf(),
        key: "history".into(),
        reason,
    };
    let mut f = BufReader::new(File::open(path).map_err(io_at(path))?);
    let header = history_header(ns, run_id);
    let mut found = vec![0u8; header.len()];
    f.read_exact(&mut found)
        .map_err(|_| bad("the file ends early".into()))?;
    let id_at = header.len() - 8;
    if found[..id_at] != header[..id_at] {
        return Err(bad(format!(
            "not the snapshot history of a {ns}-state run (format {FORMAT_VERSION})"
        )));
    }
    if found[id_at..] != header[id_at..] {
        return Err(bad(format!(
            "belongs to another run (run id {:016x}, the checkpoint's is {run_id:016x}); a \
             history is only valid with the state.ckpt written beside it: start afresh \
             without --resume",
            u64::from_le_bytes(found[id_at..].try_into().expect("8 bytes"))
        )));
    }
    let words = record_words(ns);
    let mut buf = vec![0u8; words * 8];
    let mut record = vec![0u64; words];
    let mut out = Vec::with_capacity(records.min(1 << 20) as usize);
    for i in 0..records {
        f.read_exact(&mut buf).map_err(|_| {
            bad(format!(
                "holds {i} snapshots, the checkpoint needs {records} (truncated)"
            ))
        })?;
        for (w, b) in record.iter_mut().zip(buf.chunks_exact(8)) {
            *w = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        }
        let s = decode_snapshot(&record, ns)
            .ok_or_else(|| bad(format!("snapshot {} is corrupt (checksum)", i + 1)))?;
        if s.iteration != i + 1 {
            return Err(bad(format!(
                "record {} holds iteration {}",
                i + 1,
                s.iteration
            )));
        }
        out.push(s);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The finite-N study's journal
// ---------------------------------------------------------------------------------------

/// The journal file of a study's settings in its journal directory.
pub const STUDY_FILE: &str = "study.json";
const RUN_MAGIC: &[u8; 8] = b"MFGSIMRN";

/// The finished runs of a finite-N study, one file per run (`run-N-SEED.bin`, written
/// atomically as each run finishes), so a study that is stopped or killed resumes by
/// skipping them ([`crate::finite_n::run_study_resumed`]).
///
/// `study.json` holds what a run's result depends on: the mfgsim version, the effective
/// scenario, T, B, the strategy, the engine, whether steps are kept and (learned strategy)
/// the `[learner]` knobs; the grid and the number of seeds may change between sessions (a
/// larger grid reuses the runs it shares).
#[derive(Debug)]
pub struct StudyJournal {
    dir: PathBuf,
}

impl StudyJournal {
    /// What a study's run results depend on, by name.
    pub fn settings(sc: &Scenario, params: &FiniteNParams) -> BTreeMap<String, String> {
        let learned = params.policy == PolicySource::Learned;
        BTreeMap::from([
            ("mfgsim_version".into(), env!("CARGO_PKG_VERSION").into()),
            ("scenario".into(), sc.text.clone()),
            ("steps".into(), params.steps.to_string()),
            ("burn_in".into(), params.burn_in.to_string()),
            ("policy".into(), params.policy.as_str().into()),
            ("engine".into(), params.engine.as_str().into()),
            ("keep_steps".into(), params.keep_steps.to_string()),
            (
                "learner".into(),
                if learned {
                    // What `run::finite_n` runs with: the scenario's `[learner]` table.
                    serde_json::to_string(&sc.learner).unwrap_or_default()
                } else {
                    String::new()
                },
            ),
        ])
    }

    /// Opens the journal in `dir` for a study of `sc` with `params`. With `resume`, checks
    /// `study.json` against these settings and returns the finished runs; without, removes
    /// a previous journal mfgsim wrote there and starts an empty one.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Input`] naming `study.json` and the setting that differs, or a
    /// run file that is corrupt; [`Error::Output`] for files there that mfgsim did not write.
    pub fn open(
        dir: &Path,
        sc: &Scenario,
        params: &FiniteNParams,
        resume: bool,
    ) -> Result<(Self, Vec<RunResult>)> {
        let settings = Self::settings(sc, params);
        let study = dir.join(STUDY_FILE);
        let journal = StudyJournal {
            dir: dir.to_path_buf(),
        };
        let ns = sc.model.as_model().num_states();
        if let Ok(m) = std::fs::symlink_metadata(dir) {
            if !m.file_type().is_dir() {
                return Err(crate::output::not_a_plain_file(dir, &m));
            }
        }
        if resume && study.exists() {
            let text = std::fs::read_to_string(&study).map_err(io_at(&study))?;
            let saved: BTreeMap<String, String> =
                serde_json::from_str(&text).map_err(|e| Error::Input {
                    path: study.clone(),
                    key: "settings".into(),
                    reason: format!("unreadable: {e}"),
                })?;
            // The telling keys first (a policy change also changes `learner`).
            let order = [
                "mfgsim_version",
                "scenario",
                "engine",
                "policy",
                "steps",
                "burn_in",
                "keep_steps",
            ];
            let mut keys: Vec<&String> = settings.keys().chain(saved.keys()).collect();
            keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(order.len()));
            for key in keys {
                let (a, b) = (saved.get(key), settings.get(key));
                if a != b {
                    let what = if key == "scenario" {
                        "another scenario or --set values".to_string()
                    } else {
                        format!(
                            "{}, this study has {}",
                            a.filter(|v| !v.is_empty()).map_or("none", |v| v),
                            b.filter(|v| !v.is_empty()).map_or("none", |v| v)
                        )
                    };
                    return Err(Error::Input {
                        path: study.clone(),
                        key: key.clone(),
                        reason: format!(
                            "the finished runs were made with {what}; resume with the same \
                             settings, or start afresh without --resume"
                        ),
                    });
                }
            }
            let runs = journal.read_runs(ns)?;
            return Ok((journal, runs));
        }
        journal.clear()?;
        crate::output::ensure_real_dir(dir)?;
        let text = serde_json::to_string_pretty(&settings).map_err(|e| Error::Output {
            path: study.clone(),
            reason: e.to_string(),
        })?;
        let mut f = AtomicFile::create(&study)?;
        f.write_all(text.as_bytes()).map_err(io_at(&study))?;
        f.commit()?;
        Ok((journal, Vec::new()))
    }

    fn run_path(&self, agents: u64, seed: u64) -> PathBuf {
        self.dir.join(format!("run-{agents}-{seed}.bin"))
    }

    /// Saves one finished run, atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn save(&self, r: &RunResult) -> Result<()> {
        let path = self.run_path(r.agents, r.seed);
        let mut words = vec![r.agents, r.replicate as u64, r.seed, r.recorded];
        let f = |x: f64| x.to_bits();
        words.extend([f(r.mean_l1), f(r.max_l1), f(r.sd_l1), f(r.seconds)]);
        words.push(r.bias.len() as u64);
        words.extend(r.bias.iter().chain(&r.variance).map(|&x| f(x)));
        let expl = |e: Option<Exploitability>| match e {
            Some(e) => [1, f(e.max), f(e.weighted)],
            None => [0, 0, 0],
        };
        words.extend(expl(r.mean_exploitability));
        words.push(r.steps.len() as u64);
        for s in &r.steps {
            words.extend([s.t, f(s.l1)]);
            words.extend(s.z.iter().map(|&x| f(x)));
            words.extend(expl(s.exploitability));
        }
        let mut bytes = RUN_MAGIC.to_vec();
        bytes.extend(words.iter().flat_map(|w| w.to_le_bytes()));
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        let mut file = AtomicFile::create(&path)?;
        file.write_all(&bytes).map_err(io_at(&path))?;
        file.commit()
    }

    /// The runs in the journal, sorted by (N, seed).
    fn read_runs(&self, ns: usize) -> Result<Vec<RunResult>> {
        let mut runs = Vec::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(io_at(&self.dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("run-") && n.ends_with(".bin"))
            })
            .collect();
        names.sort();
        for path in names {
            let bytes = std::fs::read(&path).map_err(io_at(&path))?;
            let run = decode_run(&bytes, ns).ok_or_else(|| Error::Input {
                path: path.clone(),
                key: "run".into(),
                reason: "corrupt or of another size; delete it and resume again".into(),
            })?;
            runs.push(run);
        }
        runs.sort_by_key(|r| (r.agents, r.seed));
        Ok(runs)
    }

    /// Removes the journal's files (after the study's outputs are written, or before a
    /// fresh study); files mfgsim did not write are left, and the directory with them.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn clear(&self) -> Result<()> {
        // Never through a link: a journal folder that is one is not ours to empty.
        if !std::fs::symlink_metadata(&self.dir).is_ok_and(|m| m.file_type().is_dir()) {
            return Ok(());
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(());
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            // Regular files only (a link is never followed), and only by content: a
            // `study.json` of ours has the `mfgsim_version` key, a run file its magic.
            if !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let ours = (name == STUDY_FILE && crate::output::written_by_mfgsim(&path))
                || (name.starts_with("run-")
                    && name.ends_with(".bin")
                    && starts_with(&path, RUN_MAGIC)?);
            if ours {
                std::fs::remove_file(&path).map_err(io_at(&path))?;
            }
        }
        // Only succeeds when nothing else is left.
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }
}

fn decode_run(bytes: &[u8], ns: usize) -> Option<RunResult> {
    if bytes.len() < 16 || &bytes[..8] != RUN_MAGIC || !bytes.len().is_multiple_of(8) {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if checksum(body) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let words: Vec<u64> = body[8..]
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    let mut it = words.into_iter();
    let mut next = || it.next();
    let f = f64::from_bits;
    let (agents, replicate, seed, recorded) = (next()?, next()?, next()?, next()?);
    let (mean_l1, max_l1, sd_l1, seconds) = (f(next()?), f(next()?), f(next()?), f(next()?));
    if next()? != ns as u64 {
        return None;
    }
    let bias = (0..ns).map(|_| next().map(f)).collect::<Option<Vec<_>>>()?;
    let variance = (0..ns).map(|_| next().map(f)).collect::<Option<Vec<_>>>()?;
    let expl = |next: &mut dyn FnMut() -> Option<u64>| -> Option<Option<Exploitability>> {
        let (flag, max, weighted) = (next()?, f(next()?), f(next()?));
        Some((flag == 1).then_some(Exploitability { max, weighted }))
    };
    let mean_exploitability = expl(&mut next)?;
    let count = next()?;
    let mut steps = Vec::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let (t, l1) = (next()?, f(next()?));
        let z = (0..ns).map(|_| next().map(f)).collect::<Option<Vec<_>>>()?;
        steps.push(StepRecord {
            t,
            l1,
            z,
            exploitability: expl(&mut next)?,
        });
    }
    if next().is_some() {
        return None;
    }
    Some(RunResult {
        agents,
        replicate: usize::try_from(replicate).ok()?,
        seed,
        mean_l1,
        max_l1,
        sd_l1,
        bias,
        variance,
        mean_exploitability,
        recorded,
        steps,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_sees_every_byte_and_the_length() {
        let a = vec![7u8; 1000];
        let mut b = a.clone();
        b[999] = 8;
        assert_ne!(checksum(&a), checksum(&b));
        assert_ne!(checksum(&a), checksum(&a[..999]));
        assert_ne!(checksum(&[0u8; 8]), checksum(&[0u8; 16]));
        // Fed in 32-byte multiples, the same as fed whole.
        let mut c = Checksum::new();
        c.feed(&a[..320]);
        c.feed(&a[320..]);
        assert_eq!(c.finish(), checksum(&a));
    }

    #[test]
    fn sections_round_trip_and_mismatches_are_named() {
        let mut buf = Vec::new();
        let path = Path::new("x.ckpt");
        {
            let mut w = SectionWriter {
                out: &mut buf,
                path,
                sections: 0,
                scratch: Vec::new(),
            };
            w.u8s("a", &[1, 2, 3]).unwrap();
            w.f64s("b", &[0.1, -0.0, f64::MIN_POSITIVE]).unwrap();
            w.u16s("c", &(0..70_000u32).map(|i| i as u16).collect::<Vec<_>>())
                .unwrap();
        }
        let mut r = SectionReader {
            inp: &buf[..],
            path: path.into(),
            sections: 0,
            scratch: Vec::new(),
        };
        let mut a = [0u8; 3];
        r.u8s("a", &mut a).unwrap();
        assert_eq!(a, [1, 2, 3]);
        let mut b = [0.0; 3];
        r.f64s("b", &mut b).unwrap();
        assert_eq!(
            b.map(f64::to_bits),
            [0.1, -0.0, f64::MIN_POSITIVE].map(f64::to_bits)
        );
        let mut c = vec![0u16; 69_999];
        let e = r.u16s("c", &mut c).unwrap_err().to_string();
        assert!(
            e.contains("`c`") && e.contains("69999 × u16") && e.contains("70000"),
            "{e}"
        );

        // A flipped data byte is caught by the checksum.
        let mut bad = buf.clone();
        bad[2 + 1 + 1 + 8] ^= 1;
        let mut r = SectionReader {
            inp: &bad[..],
            path: path.into(),
            sections: 0,
            scratch: Vec::new(),
        };
        let e = r.u8s("a", &mut a).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        // A truncated file says so.
        let mut r = SectionReader {
            inp: &buf[..30],
            path: path.into(),
            sections: 0,
            scratch: Vec::new(),
        };
        r.u8s("a", &mut a).unwrap();
        let e = r.f64s("b", &mut b).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn snapshots_round_trip_bitwise() {
        let s = Snapshot {
            iteration: 7,
            z: vec![0.25, 0.75],
            mean_state: 0.75,
            l1_to_tmfe: f64::NAN,
            w1_to_tmfe: 0.5,
            consistency: 1e-12,
            exploitability: Exploitability {
                max: 1e-300,
                weighted: -0.0,
            },
            agent_exploitability: Some(Exploitability {
                max: 2.0,
                weighted: 3.0,
            }),
            regenerated: 11,
            policy_changes: 2,
            ledger: Ledger {
                real_transitions: 5,
                ..Ledger::default()
            },
            total: Ledger {
                tq_updates: u64::MAX,
                ..Ledger::default()
            },
            inner_steps: 1,
            inner_converged: true,
            step_seconds: 0.5,
            learn_seconds: 0.25,
            eval_seconds: 0.125,
        };
        let mut words = Vec::new();
        encode_snapshot(&s, &mut words);
        assert_eq!(words.len(), record_words(2));
        let back = decode_snapshot(&words, 2).unwrap();
        assert!(back.l1_to_tmfe.is_nan());
        let (mut a, mut b) = (s.clone(), back.clone());
        (a.l1_to_tmfe, b.l1_to_tmfe) = (0.0, 0.0);
        assert_eq!(a, b);
        assert_eq!(back.exploitability.weighted.to_bits(), (-0.0f64).to_bits());
        words[3] ^= 1;
        assert!(decode_snapshot(&words, 2).is_none());
    }

    #[test]
    fn a_checkpoint_of_another_mfgsim_version_or_format_is_refused() {
        use std::sync::atomic::AtomicBool;
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/gig.toml"));
        let o = [
            "sim.agents=1000".to_string(),
            "sim.iterations=3".to_string(),
        ];
        let sc = Scenario::load(path, &o).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let plan = CheckpointPlan {
            dir: dir.path().to_path_buf(),
            every: Interval::Every(1),
            resume: false,
            options: BTreeMap::new(),
        };
        let opts = crate::run::LearnOptions::default();
        crate::run::learn_checkpointed(
            &sc,
            &opts,
            Some(&plan),
            &AtomicBool::new(false),
            &mut |_, _| Ok(()),
        )
        .unwrap();
        let state = dir.path().join(STATE_FILE);
        let bytes = std::fs::read(&state).unwrap();
        let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
        let mut header: Header = serde_json::from_slice(&bytes[20..20 + len]).unwrap();
        header.mfgsim_version = "0.0.1".into();
        let json = serde_json::to_vec(&header).unwrap();
        let mut out = bytes[..12].to_vec();
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&checksum(&json).to_le_bytes());
        out.extend_from_slice(&bytes[20 + len + 8..]);
        std::fs::write(&state, &out).unwrap();
        let e = Resume::open(dir.path(), &sc, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`mfgsim_version`")
                && e.contains("mfgsim 0.0.1")
                && e.contains(env!("CARGO_PKG_VERSION")),
            "{e}"
        );
        let other = FORMAT_VERSION + 1;
        out[8..12].copy_from_slice(&other.to_le_bytes());
        std::fs::write(&state, &out).unwrap();
        let e = Resume::open(dir.path(), &sc, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("format version {other}")), "{e}");
        std::fs::write(&state, b"hello").unwrap();
        let e = Resume::open(dir.path(), &sc, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("truncated") || e.contains("not an mfgsim checkpoint"),
            "{e}"
        );
    }

    #[test]
    fn intervals_parse() {
        assert_eq!(Interval::parse("auto"), Ok(Interval::Auto));
        assert_eq!(Interval::parse("25"), Ok(Interval::Every(25)));
        assert!(Interval::parse("0").unwrap_err().contains("K >= 1"));
        assert!(Interval::parse("x").is_err());
    }

    #[test]
    fn flatten_names_nested_keys() {
        let f = flatten("name = \"a\"\n[model]\ngamma = 0.9\n[sim]\nagents = 10\n");
        assert_eq!(f["model.gamma"], "0.9");
        assert_eq!(f["sim.agents"], "10");
        assert_eq!(f["name"], "\"a\"");
    }
}
