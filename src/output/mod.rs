//! Writing results: Parquet tables and JSON summaries, atomically.
//!
//! Every file goes through [`AtomicFile`] (or its closure form [`write_atomic`]): bytes go to a
//! hidden temporary file in the destination directory, `.NAME.tmp-` and 16 random hex digits
//! (created with `create_new`, never through a link), which is flushed,
//! synced and then renamed over `NAME`. A failure at any point (an error from the closure, an
//! encoder error, a panic, a dropped writer) removes the temporary file, so a file under its
//! final name is always complete. Readers never see half a Parquet footer.
//!
//! | file                     | writer                            | one row per            |
//! |--------------------------|-----------------------------------|------------------------|
//! | `trajectory.parquet`     | [`write_trajectory`]              | T-BR iteration (0 = start) |
//! | `equilibrium.parquet`    | [`write_equilibrium`]             | state                  |
//! | `solution.json`          | [`solution_json`] + [`write_json`] | (one object)          |
//! | `finite_n.parquet`       | [`finite_n_runs_batch`]           | (N, replicate) run     |
//! | `finite_n_steps.parquet` | [`finite_n_steps_batch`]          | recorded step of a run |
//! | `DIR/part-00000.parquet` | [`PartWriter`] / [`StreamingParquet`] | streamed row (snapshots, transitions) |
//!
//! A command overwrites or deletes only files mfgsim wrote, and refuses before it starts
//! when it finds anything else where it would write ([`check_replaceable`],
//! [`clear_part_dir`]).
//!
//! # Parquet layout
//!
//! * One `Float64` column per state (`z_0`, `z_1`, …) and per action (`q_0`, `mu_0`, …), never
//!   a list column: list columns do not round-trip in every reader we checked, plain columns
//!   do (`scripts/check_parquet.py` opens every file with pandas, pyarrow, polars and DuckDB).
//! * Integers are `Int64` (portable to readers without unsigned types).
//! * zstd compression; a row group is closed when its estimated encoded size
//!   ([`ParquetTableWriter::in_progress_size`]) reaches
//!   [`DEFAULT_ROW_GROUP_BYTES`] (configurable).
//! * The footer's key-value metadata carries the run's provenance ([`RunMetadata`]):
//!   `mfgsim.scenario` (the scenario TOML text), `mfgsim.seed`, `mfgsim.version` (the crate
//!   version) and any extra pairs.
//!
//! # Example: a round trip
//!
//! Build a tiny table with a reusable [`TableBuilder`], write it atomically, read it back.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{cast::AsArray, types::Float64Type};
//! use arrow_schema::{DataType, Field, Schema};
//! use mfgsim::output::{read_parquet, write_parquet, RunMetadata, TableBuilder, KEY_SEED, KEY_VERSION};
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("iteration", DataType::Int64, false),
//!     Field::new("z_0", DataType::Float64, false),
//!     Field::new("z_1", DataType::Float64, false),
//! ]));
//! let mut rows = TableBuilder::new(schema, 2);
//! rows.push_row(|r| { r.i64(0).f64s(&[0.5, 0.5]); });
//! rows.push_row(|r| { r.i64(1).f64s(&[0.25, 0.75]); });
//! let batch = rows.finish(); // the builder is empty again and can be reused
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tiny.parquet");
//! let meta = RunMetadata::new("[model]\nkind = \"gig\"\n", 7).with_extra("start", "uniform");
//! write_parquet(&path, &batch, &meta)?;
//!
//! let table = read_parquet(&path)?;
//! assert_eq!(table.num_rows(), 2);
//! assert_eq!(table.f64_column("z_1")?, vec![0.5, 0.75]);
//! assert_eq!(table.batches[0].column(1).as_primitive::<Float64Type>().value(1), 0.25);
//! assert_eq!(table.metadata(KEY_SEED), Some("7"));
//! assert_eq!(table.metadata(KEY_VERSION), Some(env!("CARGO_PKG_VERSION")));
//! assert_eq!(table.metadata("start"), Some("uniform"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Streaming: part files
//!
//! A Parquet file is only readable once its footer is written, so a long run cannot keep one
//! file open and hope an interruption leaves something usable. Streams (mean-field snapshots
//! per learning iteration, the transitions dataset) are therefore written as a directory of
//! closed part files, `DIR/part-00000.parquet`, `DIR/part-00001.parquet`, …, each holding
//! `rows_per_part` rows and each written atomically ([`PartWriter`]). An interrupted run
//! leaves every closed part readable and loses at most the rows of the open part; readers
//! open the directory as one dataset (`pd.read_parquet(DIR)`, `pl.scan_parquet("DIR/*.parquet")`,
//! DuckDB `read_parquet('DIR/*.parquet')`).
//!
//! The simulation loop should not wait on zstd, so [`StreamingParquet`] moves the
//! [`PartWriter`] onto its own thread behind a bounded crossbeam channel of
//! [`RecordBatch`](arrow_array::RecordBatch)es. The producer keeps one [`TableBuilder`]
//! (allocated once), pushes a row per step and sends `builder.finish()` every few rows:
//!
//! ```text
//! sim thread:   push_row ×B ─ finish() ─▶ channel (bounded) ─▶ writer thread: PartWriter
//!                                                               closes a part every K rows
//! ```
//!
//! The channel applies back-pressure when the writer falls behind; dropping the
//! [`StreamingParquet`] (also during a panic) closes the channel, and the writer thread closes
//! the last, short part before it exits.

mod census;
mod finite_n;
mod json;
mod lock;
mod manifest;
mod nash_gap;
mod online;
mod owned;
#[cfg(feature = "plot")]
pub mod plot;
mod products;
mod solution;
mod table;
mod transitions;

pub use self::census::{census_batch, census_schema, write_census};
pub use self::finite_n::{
    finite_n_runs_batch, finite_n_runs_schema, finite_n_steps_batch, finite_n_steps_schema,
};
pub use self::json::{solution_json, write_json};
pub(crate) use self::lock::not_a_plain_file;
pub use self::lock::{ensure_real_dir, DirLock, LOCK_FILE};
pub use self::manifest::{ManifestAxis, ManifestRun, SweepManifest, MANIFEST_FILE};
pub use self::nash_gap::{nash_gap_batch, nash_gap_schema};
pub use self::online::{push_snapshot, snapshot_schema};
pub use self::owned::{check_part_dir, check_replaceable, clear_part_dir, written_by_mfgsim};
#[cfg(feature = "plot")]
pub use self::plot::{read_finite_n_series, read_nash_gap_series};
pub use self::products::{
    open_transitions, read_summary, snapshots_batch, write_finite_n_tables, write_nash_gap_table,
    write_snapshots, write_summary, LearnWriter, TransitionsSpec, CHECKPOINT_DIR, EQUILIBRIA_FILE,
    EQUILIBRIUM_FILE, FINITE_N_FILE, FINITE_N_JOURNAL_DIR, FINITE_N_PLOT, FINITE_N_STEPS_FILE,
    NASH_GAP_FILE, NASH_GAP_PLOT, SNAPSHOTS_FILE, SNAPSHOT_PARTS_DIR, SUMMARY_FILE,
    SWEEP_TABLE_FILE, TRAJECTORY_FILE, TRANSITIONS_DIR,
};
pub use self::solution::{
    equilibrium_batch, equilibrium_schema, trajectory_batch, trajectory_schema, write_equilibrium,
    write_solutions, write_trajectory, KEY_ALGO, KEY_CONVERGED, KEY_MIXED,
};
pub use self::table::{
    numbered_fields, read_parquet, write_parquet, Codec, ParquetTable, ParquetTableWriter,
    PartSummary, PartWriter, RowAppender, RunMetadata, StreamingParquet, TableBuilder,
    DEFAULT_ROW_GROUP_BYTES, KEY_SCENARIO, KEY_SEED, KEY_VERSION,
};
pub use self::transitions::{transitions_batch, transitions_schema};
pub use self::transitions::{
    EncodedPart, TransitionsEncoder, TransitionsExport, ROWS_PER_PART, WINDOW_PAGES,
};

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary files of one process (several writers may target one directory).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 unpredictable bits for a temporary name or a checkpoint's run identity: the standard
/// library's per-process random hash keys (seeded by the OS) over the process id, a counter
/// and the time. Not a random stream of the simulation (those come only from `rng`); it
/// never reaches a result.
pub(crate) fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(TEMP_COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// Wraps an I/O error with the file it concerns.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A file written under a temporary name and renamed into place by [`AtomicFile::commit`].
///
/// Implements [`Write`] (buffered), so it can be handed to encoders that take a writer by
/// value, such as [`ParquetTableWriter`]. Dropping it without committing removes the
/// temporary file; the final path is never touched.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    temp: PathBuf,
    /// `None` once committed (or after a failed commit cleaned up).
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates `.NAME.tmp-XXXXXXXXXXXXXXXX` (16 random hex digits) next to `path`, ready
    /// for writing. The temporary file is created with `create_new`, so it is never opened
    /// through a symbolic link or over an existing file (a clash draws another name).
    ///
    /// # Errors
    /// [`Error::Output`] when `path` has no file name; [`Error::Io`] naming `path` when the
    /// temporary file cannot be created, e.g. because the directory does not exist.
    pub fn create(path: &Path) -> Result<Self> {
        let name = path.file_name().ok_or_else(|| Error::Output {
            path: path.to_path_buf(),
            reason: "not a file path".into(),
        })?;
        let mut last = None;
        for _ in 0..8 {
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(".tmp-{:016x}", random_id()));
            let temp = path.with_file_name(temp_name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        path: path.to_path_buf(),
                        temp,
                        file: Some(BufWriter::new(file)),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                // Errors name the final path: that is the file the user asked for.
                Err(e) => return Err(io_error(path)(e)),
            }
        }
        Err(io_error(path)(last.expect("the loop ran")))
    }

    /// The final path (where the file appears on [`AtomicFile::commit`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary path the bytes are written to until the commit.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The buffered writer.
    ///
    /// # Panics
    /// Never in practice: the writer is only taken by [`AtomicFile::commit`], which consumes
    /// `self`.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.file
            .as_mut()
            .expect("AtomicFile used after commit (a bug in mfgsim)")
    }

    /// Flushes, syncs the data to disk, closes and renames the temporary file to the final
    /// path, replacing any file already there.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; the temporary file is removed and the final path is
    /// left as it was.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.file.take().expect("AtomicFile committed twice");
        let file = writer
            .into_inner()
            .map_err(|e| Error::Io {
                path: self.path.clone(),
                source: e.into_error(),
            })
            .inspect_err(|_| self.remove_temp())?;
        file.sync_all()
            .map_err(io_error(&self.path))
            .inspect_err(|_| self.remove_temp())?;
        drop(file);
        std::fs::rename(&self.temp, &self.path)
            .map_err(io_error(&self.path))
            .inspect_err(|_| self.remove_temp())?;
        sync_parent_dir(&self.path);
        Ok(())
    }

    fn remove_temp(&self) {
        // Best effort: the error being reported is the interesting one.
        let _ = std::fs::remove_file(&self.temp);
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.writer().write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(writer) = self.file.take() {
            // Not committed: discard the bytes (an error flushing them is irrelevant).
            drop(writer);
            self.remove_temp();
        }
    }
}

/// Makes a rename durable (best effort: some file systems cannot sync a directory).
fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes `path` atomically: `f` fills a buffered temporary file in the same directory, which
/// is synced and renamed to `path` only when `f` returns `Ok`.
///
/// # Errors
/// The error of `f`, or [`Error::Io`] naming the file when creating, flushing, syncing or
/// renaming fails. In every error case (and when `f` panics) the temporary file is removed
/// and `path` is left untouched.
///
/// # Example
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("hello.txt");
/// mfgsim::output::write_atomic(&path, |w| {
///     writeln!(w, "hello").map_err(|source| mfgsim::Error::Io { path: "hello.txt".into(), source })
/// })?;
/// assert_eq!(std::fs::read_to_string(&path)?, "hello\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic<T>(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<File>) -> Result<T>,
) -> Result<T> {
    let mut file = AtomicFile::create(path)?;
    let value = f(file.writer())?;
    file.commit()?;
    Ok(value)
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers shared by the output module's tests.

    use crate::model::{GameParams, Gig};
    use crate::solver::{solve, Solution, SolverParams, Start};
    use std::path::Path;

    /// The sorted file names in `dir`.
    pub fn dir_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The T-MFE of the default gig scenario.
    pub fn gig_solution() -> Solution {
        solve(
            &Gig::default(),
            GameParams::default(),
            &SolverParams::default(),
            &Start::Uniform,
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::dir_names as entries;
    use super::*;

    #[test]
    fn failing_closure_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        let err = write_atomic(&path, |w| {
            w.write_all(b"half a file").unwrap();
            Err::<(), _>(Error::Output {
                path: path.clone(),
                reason: "encoder failed".into(),
            })
        })
        .unwrap_err();
        assert!(err.to_string().contains("encoder failed"), "{err}");
        assert!(err.to_string().contains("out.parquet"), "{err}");
        assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    }

    #[test]
    fn failure_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, |w| w.write_all(b"old").map_err(io_error(&path))).unwrap();
        let _ = write_atomic(&path, |w| {
            w.write_all(b"new, but broken").unwrap();
            Err::<(), _>(Error::Solver("boom".into()))
        });
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(dir.path()), vec!["out.json"]);
    }

    #[test]
    fn panicking_closure_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        let r = std::panic::catch_unwind(|| {
            write_atomic(&path, |w| -> Result<()> {
                w.write_all(b"partial").unwrap();
                panic!("interrupted");
            })
        });
        assert!(r.is_err());
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn success_replaces_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        for text in ["one", "two"] {
            write_atomic(&path, |w| {
                w.write_all(text.as_bytes()).map_err(io_error(&path))
            })
            .unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(entries(dir.path()), vec!["a.txt"]);
    }

    #[test]
    fn missing_directory_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/x.parquet");
        let err = write_atomic(&path, |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }

    /// Issue 20: temporary names were `.NAME.tmp-PID-N`, opened with `File::create`, so a
    /// link planted under the next name made a write land outside the output directory.
    #[cfg(unix)]
    #[test]
    fn planted_links_at_temporary_names_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let pid = std::process::id();
        for n in 0..64 {
            std::os::unix::fs::symlink(&victim, out.join(format!(".x.json.tmp-{pid}-{n}")))
                .unwrap();
        }
        let path = out.join("x.json");
        write_atomic(&path, |w| w.write_all(b"mine").map_err(io_error(&path))).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
        // The temporary name is unpredictable: 16 hex digits, different each time.
        let a = AtomicFile::create(&path).unwrap();
        let b = AtomicFile::create(&path).unwrap();
        let name = |f: &AtomicFile| {
            f.temp_path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        assert_ne!(name(&a), name(&b));
        assert!(owned::is_temp_name(&name(&a)), "{}", name(&a));
    }

    #[test]
    fn dropped_atomic_file_removes_temp() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = AtomicFile::create(&dir.path().join("x.bin")).unwrap();
        f.write_all(b"abc").unwrap();
        assert!(f.temp_path().exists());
        assert!(f
            .temp_path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".x.bin.tmp-"));
        drop(f);
        assert!(entries(dir.path()).is_empty());
    }
}
