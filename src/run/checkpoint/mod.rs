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
//! "MFGSIMCK"  u32 format version (FORMAT_VERSION, now 4)
//! u64 header length, header (JSON: mfgsim version, scenario name and effective TOML,
//!     options, iteration k), u64 checksum of the header
//! sections, each: u16 name length, name, u8 type (1 u8, 2 u16, 3 u32, 4 u64, 5 f32, 6 f64),
//!     u64 element count, the elements, u64 checksum of their bytes
//! "END!"  u32 number of sections
//! ```
//! A resume is refused, naming what differs, when the mfgsim version, the scenario (any key
//! of its effective TOML except `sim.iterations`, which may be raised to continue further)
//! or an option differs.
//!
//! # Over MPI ranks
//! A run sharded over K ranks writes one state file per rank and a manifest that rank 0
//! writes last (`manifest.rs`); it resumes with the same K only.
//!
//! # Files
//! `format.rs` (checksums, the section container), `history.rs` (the snapshot records),
//! `checkpointer.rs` (writing, and `Resume`: opening and validating), `manifest.rs` (the
//! per-rank files and their manifest), `journal.rs` (the finite-N study's journal of
//! finished runs).

mod checkpointer;
mod format;
mod history;
mod journal;
mod manifest;

pub(crate) use checkpointer::{Checkpointer, Resume, Totals};
pub use journal::{StudyJournal, STUDY_FILE};
pub use manifest::{check_sharded_resume, MANIFEST_FILE};

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
#[derive(Debug, Clone, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct CheckpointSummary {
    /// The iteration the run resumed from, `None` for a fresh run.
    pub resumed_from: Option<u64>,
    /// Checkpoints written by this process.
    pub written: u64,
    /// The iteration of the last checkpoint written.
    pub last_iteration: Option<u64>,
    /// Bytes of the last `state.ckpt` (under mpirun: this rank's state file).
    pub state_bytes: u64,
    /// Wall seconds of all writes (state and history, fsync included).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub write_seconds: f64,
    /// The longest write.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub max_write_seconds: f64,
    /// Wall seconds reading the checkpoint on resume.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub read_seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse() {
        assert_eq!(Interval::parse("auto"), Ok(Interval::Auto));
        assert_eq!(Interval::parse("25"), Ok(Interval::Every(25)));
        assert!(Interval::parse("0").unwrap_err().contains("K >= 1"));
        assert!(Interval::parse("x").is_err());
    }
}
