//! One owner per output product: the name of every file a command writes, and the writers
//! of a learn run's directory ([`LearnWriter`]) and of a study's tables
//! ([`write_finite_n_tables`], [`write_nash_gap_table`]), called alike by the binary, sweeps
//! and the Python package. Readers (plots, sweep tables) use the same names.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use serde::Serialize;

use super::finite_n::{finite_n_runs_batch, finite_n_steps_batch};
use super::nash_gap::nash_gap_batch;
use super::online::{push_snapshot, snapshot_schema};
use super::table::{write_parquet, Codec, PartWriter, RunMetadata, StreamingParquet, TableBuilder};
use super::transitions::{TransitionsEncoder, TransitionsExport};
use super::{check_part_dir, check_replaceable, clear_part_dir, write_json};
use crate::error::{Error, Result};
use crate::finite_n::FiniteNReport;
use crate::learner::Snapshot;
use crate::nash_gap::NashGapReport;
use crate::transition::StepTransitions;

/// Every command's report (the run layer's `Serialize` report, plus what the binary adds).
pub const SUMMARY_FILE: &str = "summary.json";
/// A learn run's snapshots, one row per iteration ([`snapshot_schema`]).
pub const SNAPSHOTS_FILE: &str = "snapshots.parquet";
/// The snapshot parts streamed while a learn run goes (removed once `snapshots.parquet` is
/// written; what an interrupted run leaves).
pub const SNAPSHOT_PARTS_DIR: &str = "snapshots.parts";
/// The exported transitions dataset (`part-NNNNN.parquet` files).
pub const TRANSITIONS_DIR: &str = "transitions";
/// A learn run's checkpoint directory.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The exact solver's T-BR trajectory, one row per iteration.
pub const TRAJECTORY_FILE: &str = "trajectory.parquet";
/// The exact solver's end point, one row per state.
pub const EQUILIBRIUM_FILE: &str = "equilibrium.parquet";
/// The equilibrium census, one row per equilibrium × state.
pub const EQUILIBRIA_FILE: &str = "equilibria.parquet";
/// A finite-N study's runs, one row per (N, replicate).
pub const FINITE_N_FILE: &str = "finite_n.parquet";
/// A finite-N study's recorded steps.
pub const FINITE_N_STEPS_FILE: &str = "finite_n_steps.parquet";
/// A nash-gap study, one row per N × initial state.
pub const NASH_GAP_FILE: &str = "nash_gap.parquet";
/// A sweep's table, one row per finished run.
pub const SWEEP_TABLE_FILE: &str = "sweep.parquet";
/// A finite-N study's log-log chart.
pub const FINITE_N_PLOT: &str = "finite_n.png";
/// A nash-gap study's log-log chart.
pub const NASH_GAP_PLOT: &str = "nash_gap.png";
/// A finite-N study's journal of finished runs (for `--resume`).
pub const FINITE_N_JOURNAL_DIR: &str = "finite_n.runs";

/// The snapshot rows of a run as one batch of [`snapshot_schema`].
pub fn snapshots_batch(num_states: usize, snaps: &[Snapshot]) -> RecordBatch {
    let mut rows = TableBuilder::new(snapshot_schema(num_states), snaps.len());
    for s in snaps {
        push_snapshot(&mut rows, s);
    }
    rows.finish()
}

/// Writes `DIR/summary.json` (atomically; non-finite numbers become null).
///
/// # Errors
/// [`Error::Encode`] naming the file when the report cannot be serialized; those of
/// [`write_json`].
pub fn write_summary<T: Serialize + ?Sized>(dir: &Path, report: &T) -> Result<()> {
    let path = dir.join(SUMMARY_FILE);
    let value = serde_json::to_value(report)
        .map_err(|e| Error::encode(&path, "serializing the run's report", e))?;
    write_json(&path, &value)
}

/// The path and text of `summary.json` (`path`: the file, or the directory holding it).
///
/// # Errors
/// [`Error::Io`] naming the file when it cannot be read.
pub(crate) fn summary_text(path: &Path) -> Result<(PathBuf, String)> {
    let file = if path.is_dir() {
        path.join(SUMMARY_FILE)
    } else {
        path.to_path_buf()
    };
    match std::fs::read_to_string(&file) {
        Ok(text) => Ok((file, text)),
        Err(source) => Err(Error::Io { path: file, source }),
    }
}

/// Reads a report back from `summary.json` (`path`: the file, or the directory holding
/// it) as its type: `run::LearnReport`, `run::SolveReport`, `run::FiniteNRun` or
/// `run::NashGapRun` (keys a command adds beyond its report are ignored; `null` stands for
/// the non-finite values [`write_summary`] wrote as `null`, see `crate::json`).
///
/// # Errors
/// [`Error::Io`] naming the file when it cannot be read; [`Error::Input`] naming it when it
/// is not that report (serde's reason: the missing or mistyped key, with its line).
pub fn read_summary<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let (file, text) = summary_text(path)?;
    serde_json::from_str(&text).map_err(|e| Error::Input {
        path: file.clone(),
        key: "(file)".into(),
        reason: format!("not the report this command writes: {e}"),
    })
}

/// Writes a finished learn run's `snapshots.parquet` in one piece.
///
/// # Errors
/// Those of [`write_parquet`].
pub fn write_snapshots(
    dir: &Path,
    num_states: usize,
    snaps: &[Snapshot],
    meta: &RunMetadata,
) -> Result<()> {
    write_parquet(
        &dir.join(SNAPSHOTS_FILE),
        &snapshots_batch(num_states, snaps),
        meta,
    )
}

/// Writes a finite-N study's tables: `finite_n.parquet` and, with `steps`,
/// `finite_n_steps.parquet` (without, a previous run's steps file is removed: it would not
/// match this run's table).
///
/// # Errors
/// Those of [`write_parquet`]; [`Error::Io`] naming the stale steps file it cannot remove.
pub fn write_finite_n_tables(
    dir: &Path,
    report: &FiniteNReport,
    num_states: usize,
    steps: bool,
    meta: &RunMetadata,
) -> Result<()> {
    write_parquet(
        &dir.join(FINITE_N_FILE),
        &finite_n_runs_batch(report, num_states),
        meta,
    )?;
    let steps_path = dir.join(FINITE_N_STEPS_FILE);
    if steps {
        write_parquet(&steps_path, &finite_n_steps_batch(report, num_states), meta)
    } else if steps_path.exists() {
        check_replaceable(&steps_path)?;
        std::fs::remove_file(&steps_path).map_err(|source| Error::Io {
            path: steps_path,
            source,
        })
    } else {
        Ok(())
    }
}

/// Writes a nash-gap study's `nash_gap.parquet` (`policy` names the strategy in the footer).
///
/// # Errors
/// Those of [`write_parquet`].
pub fn write_nash_gap_table(
    dir: &Path,
    report: &NashGapReport,
    policy_greedy: &[usize],
    policy: &str,
    meta: &RunMetadata,
) -> Result<()> {
    write_parquet(
        &dir.join(NASH_GAP_FILE),
        &nash_gap_batch(report, policy_greedy),
        &meta.clone().with_extra("mfgsim.policy", policy),
    )
}

/// What a learn run exports besides its snapshots: the transitions dataset's shape and codec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransitionsSpec {
    /// |A|.
    pub num_actions: usize,
    /// N, the agents of the population (agent ids are `0..N`).
    pub agents: usize,
    /// The parts' compression.
    pub codec: Codec,
    /// Rank R of a population sharded over MPI ranks: this process writes its block's rows
    /// (global agent ids) as `part-rRRRRR-NNNNN.parquet`, beside the other ranks' parts;
    /// `None`: one process, `part-NNNNN.parquet`.
    pub rank: Option<usize>,
}

/// The transitions dataset `DIR/transitions/` of one process, or of one rank
/// ([`TransitionsSpec::rank`]: rank 0 prepares the directory with [`LearnWriter::try_new`]
/// before any other rank opens its own parts there).
///
/// # Errors
/// Those of [`TransitionsEncoder::try_new`], [`TransitionsExport::try_new`] and
/// [`TransitionsExport::try_new_for_rank`].
pub fn open_transitions(
    dir: &Path,
    meta: &RunMetadata,
    num_states: usize,
    spec: TransitionsSpec,
) -> Result<TransitionsExport> {
    let encoder = TransitionsEncoder::try_new(
        &dir.join(TRANSITIONS_DIR),
        num_states,
        spec.num_actions,
        spec.agents,
        meta,
        spec.codec,
    )?;
    match spec.rank {
        Some(r) => TransitionsExport::try_new_for_rank(encoder, r),
        None => TransitionsExport::try_new(encoder),
    }
}

/// The writer of a learn run's directory: snapshot rows streamed as closed parts while the
/// run goes (`snapshots.parts/`, so an interrupted run leaves readable files), the optional
/// transitions dataset (`transitions/`), then `snapshots.parquet` in one piece; the caller
/// writes `summary.json` last with [`write_summary`] (its presence marks the run finished).
#[derive(Debug)]
pub struct LearnWriter {
    dir: PathBuf,
    meta: RunMetadata,
    num_states: usize,
    row: TableBuilder,
    stream: StreamingParquet,
    exporter: Option<TransitionsExport>,
}

impl LearnWriter {
    /// Makes `dir` ready, deleting only what a previous mfgsim run wrote, and opens the
    /// streams: refuses when `snapshots.parquet` or `summary.json` are foreign, or when a part
    /// directory this run writes (`snapshots.parts/`, and `transitions/` when exporting)
    /// holds foreign files; removes a previous run's parts (a previous run's `transitions/`
    /// too, which would not match this run's summary; one holding foreign files is left alone
    /// when this run does not export). Snapshot rows are grouped `flush_every` to a part.
    ///
    /// # Errors
    /// [`Error::Output`] naming the foreign file; [`Error::Io`] when a directory cannot be
    /// created or cleared; those of [`PartWriter::try_new`] and [`TransitionsEncoder::try_new`].
    pub fn try_new(
        dir: &Path,
        meta: RunMetadata,
        num_states: usize,
        flush_every: usize,
        export: Option<TransitionsSpec>,
    ) -> Result<Self> {
        for f in [SNAPSHOTS_FILE, SUMMARY_FILE] {
            check_replaceable(&dir.join(f))?;
        }
        let parts_dir = dir.join(SNAPSHOT_PARTS_DIR);
        let trans_dir = dir.join(TRANSITIONS_DIR);
        check_part_dir(&parts_dir)?;
        let stale_ours = check_part_dir(&trans_dir).is_ok();
        if export.is_some() {
            check_part_dir(&trans_dir)?;
        }
        clear_part_dir(&parts_dir)?;
        if stale_ours {
            clear_part_dir(&trans_dir)?;
        }
        let schema = snapshot_schema(num_states);
        let stream = StreamingParquet::spawn(
            PartWriter::try_new(&parts_dir, schema.clone(), meta.clone(), flush_every)?,
            64,
        )?;
        let exporter = match export {
            Some(t) => Some(open_transitions(dir, &meta, num_states, t)?),
            None => None,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            row: TableBuilder::new(schema, 1),
            num_states,
            stream,
            exporter,
        })
    }

    /// Streams one snapshot row and, when exporting, the step's kept transitions.
    ///
    /// # Errors
    /// Those of the writer threads (a full disk, a removed directory), naming the file.
    pub fn push(
        &mut self,
        snap: &Snapshot,
        transitions: Option<StepTransitions<'_>>,
    ) -> Result<()> {
        push_snapshot(&mut self.row, snap);
        self.stream.send(self.row.finish())?;
        if let (Some(exp), Some(t)) = (self.exporter.as_mut(), transitions) {
            exp.push(&t)?;
        }
        Ok(())
    }

    /// A run that failed before its first result: closes the streams and removes the parts
    /// this run wrote, so nothing is left behind (only mfgsim's own files go; best effort).
    pub fn abort(self) {
        let exported = self.exporter.is_some();
        drop(self.stream);
        drop(self.exporter);
        let _ = clear_part_dir(&self.dir.join(SNAPSHOT_PARTS_DIR));
        if exported {
            let _ = clear_part_dir(&self.dir.join(TRANSITIONS_DIR));
        }
    }

    /// Closes the streams, writes `snapshots.parquet` (all of `snaps`, including those of a
    /// resumed run's earlier segments) and removes the snapshot parts.
    ///
    /// # Errors
    /// Those of the writer threads and of [`write_parquet`]; [`Error::Io`] when the parts
    /// cannot be removed.
    pub fn finish(self, snaps: &[Snapshot]) -> Result<()> {
        let parts = self.stream.finish()?;
        if let Some(e) = self.exporter {
            e.finish()?;
        }
        write_snapshots(&self.dir, self.num_states, snaps, &self.meta)?;
        clear_part_dir(&parts.dir)
    }
}
