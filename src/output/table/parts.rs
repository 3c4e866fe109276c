//! Rolling part files: [`PartWriter`] (closed part files, each complete), and
//! [`StreamingParquet`] (a writer thread fed by a channel).

use super::*;

/// What a [`PartWriter`] left on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSummary {
    /// The dataset directory.
    pub dir: PathBuf,
    /// The part files, in order.
    pub parts: Vec<PathBuf>,
    /// Rows over all parts.
    pub rows: usize,
}

/// Creates the dataset directory `dir` if missing and checks that it holds no
/// `part-*.parquet` files (which would mix two runs in one dataset).
pub(crate) fn open_part_dir(dir: &Path) -> Result<()> {
    crate::output::ensure_real_dir(dir)?;
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let name = entry.map_err(io_error(dir))?.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("part-") && name.ends_with(".parquet") {
            return Err(Error::Output {
                path: dir.to_path_buf(),
                reason: format!(
                    "already holds part files ({name}); remove them or choose another directory"
                ),
            });
        }
    }
    Ok(())
}

/// Writes a stream of batches as a directory of closed Parquet files,
/// `DIR/part-00000.parquet`, `DIR/part-00001.parquet`, …, each holding `rows_per_part` rows
/// (the last one possibly fewer).
///
/// Each part is written through an [`AtomicFile`] and renamed into place when it is full, so
/// at any moment the directory holds only complete, readable parts. Dropping the writer
/// without [`PartWriter::finish`] (an interrupted run) discards the open part only; `finish`
/// closes it. Every part carries the same [`RunMetadata`] and schema.
#[derive(Debug)]
pub struct PartWriter {
    dir: PathBuf,
    schema: SchemaRef,
    meta: RunMetadata,
    rows_per_part: usize,
    row_group_bytes: usize,
    open: Option<(PathBuf, ParquetTableWriter<AtomicFile>)>,
    open_rows: usize,
    parts: Vec<PathBuf>,
    rows: usize,
}

impl PartWriter {
    /// A writer of parts of `rows_per_part` rows into `dir` (created if missing).
    ///
    /// # Errors
    /// [`Error::Param`] when `rows_per_part` is 0; [`Error::Io`] when `dir` cannot be created
    /// or listed; [`Error::Output`] when `dir` already holds `part-*.parquet` files (which
    /// would mix two runs in one dataset).
    pub fn try_new(
        dir: &Path,
        schema: SchemaRef,
        meta: RunMetadata,
        rows_per_part: usize,
    ) -> Result<Self> {
        if rows_per_part == 0 {
            return Err(Error::param("rows_per_part", "must be >= 1"));
        }
        open_part_dir(dir)?;
        Ok(PartWriter {
            dir: dir.to_path_buf(),
            schema,
            meta,
            rows_per_part,
            row_group_bytes: DEFAULT_ROW_GROUP_BYTES,
            open: None,
            open_rows: 0,
            parts: Vec::new(),
            rows: 0,
        })
    }

    /// Sets the row-group target of each part (see [`ParquetTableWriter::with_row_group_bytes`]).
    pub fn with_row_group_bytes(mut self, bytes: usize) -> Self {
        self.row_group_bytes = bytes.max(1);
        self
    }

    /// The path of part `index` in `dir`: `dir/part-{index:05}.parquet`.
    pub fn part_path(dir: &Path, index: usize) -> PathBuf {
        dir.join(format!("part-{index:05}.parquet"))
    }

    /// The schema batches must have.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The parts closed so far.
    pub fn parts(&self) -> &[PathBuf] {
        &self.parts
    }

    /// Rows in closed parts (readable now).
    pub fn rows_committed(&self) -> usize {
        self.rows
    }

    /// Rows accepted so far, including those of the open part.
    pub fn rows_written(&self) -> usize {
        self.rows + self.open_rows
    }

    /// Appends `batch`, closing a part each time one reaches `rows_per_part` rows (a batch
    /// may be split across parts).
    ///
    /// # Errors
    /// [`Error::Encode`] / [`Error::Io`] naming the part file.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.open.is_none() {
                self.open_part()?;
            }
            let take = (self.rows_per_part - self.open_rows).min(batch.num_rows() - offset);
            let (_, writer) = self.open.as_mut().expect("a part is open");
            writer.write_batch(&batch.slice(offset, take))?;
            self.open_rows += take;
            offset += take;
            if self.open_rows == self.rows_per_part {
                self.close_part()?;
            }
        }
        Ok(())
    }

    /// Closes the open part (writing an empty part 0 if no row was ever written, so the
    /// dataset has a schema) and reports what is on disk.
    ///
    /// # Errors
    /// [`Error::Encode`] / [`Error::Io`] naming the part file.
    pub fn finish(mut self) -> Result<PartSummary> {
        if self.open.is_none() && self.parts.is_empty() {
            self.open_part()?;
        }
        if self.open.is_some() {
            self.close_part()?;
        }
        Ok(PartSummary {
            dir: std::mem::take(&mut self.dir),
            parts: std::mem::take(&mut self.parts),
            rows: self.rows,
        })
    }

    fn open_part(&mut self) -> Result<()> {
        let index = self.parts.len();
        self.open = Some(self.spec().create(index)?);
        self.open_rows = 0;
        Ok(())
    }

    /// What a thread needs to write whole parts of this writer's dataset.
    fn spec(&self) -> PartSpec {
        PartSpec {
            dir: self.dir.clone(),
            schema: self.schema.clone(),
            meta: self.meta.clone(),
            row_group_bytes: self.row_group_bytes,
        }
    }

    fn close_part(&mut self) -> Result<()> {
        let (path, writer) = self.open.take().expect("a part is open");
        writer.finish()?.commit()?;
        self.parts.push(path);
        self.rows += self.open_rows;
        self.open_rows = 0;
        Ok(())
    }
}

/// The settings of a [`PartWriter`]'s parts, shared by the threads of a pool.
#[derive(Debug, Clone)]
struct PartSpec {
    dir: PathBuf,
    schema: SchemaRef,
    meta: RunMetadata,
    row_group_bytes: usize,
}

impl PartSpec {
    /// Opens part `index` under its temporary name.
    fn create(&self, index: usize) -> Result<(PathBuf, ParquetTableWriter<AtomicFile>)> {
        let path = PartWriter::part_path(&self.dir, index);
        let file = AtomicFile::create(&path)?;
        let writer = ParquetTableWriter::try_new(&path, file, self.schema.clone(), &self.meta)?
            .with_row_group_bytes(self.row_group_bytes);
        Ok((path, writer))
    }
}

/// A [`PartWriter`] on its own thread, fed through a bounded crossbeam channel of batches.
///
/// The producer keeps a [`TableBuilder`], pushes rows and hands
/// [`TableBuilder::finish`]ed batches to [`StreamingParquet::send`]; the writer thread
/// encodes them and closes a part every `rows_per_part` rows. When the channel is full, `send`
/// blocks (back-pressure). Batches are written in the order sent and part boundaries depend
/// only on row counts, never on thread timing, so the parts are byte-identical to those a
/// [`PartWriter`] on the calling thread would write. Dropping a `StreamingParquet` (also while unwinding from a panic)
/// closes the channel and waits for the thread, which closes the last part; use
/// [`StreamingParquet::finish`] to see its result.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use mfgsim::output::{PartWriter, RunMetadata, StreamingParquet, TableBuilder, read_parquet};
///
/// let dir = tempfile::tempdir()?;
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("step", DataType::Int64, false),
///     Field::new("z_0", DataType::Float64, false),
/// ]));
/// let parts = PartWriter::try_new(&dir.path().join("snapshots"), schema.clone(), RunMetadata::new("", 3), 100)?;
/// let mut stream = StreamingParquet::spawn(parts, 4)?;
/// let mut rows = TableBuilder::new(schema, 16);
/// for step in 0..250 {
///     rows.push_row(|r| { r.i64(step).f64(0.5); });
///     if rows.len() == 16 {
///         stream.send(rows.finish())?;
///     }
/// }
/// stream.send(rows.finish())?;
/// let summary = stream.finish()?;
/// assert_eq!((summary.parts.len(), summary.rows), (3, 250));
/// assert_eq!(read_parquet(&summary.parts[2])?.num_rows(), 50);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StreamingParquet {
    dir: PathBuf,
    sender: Option<crossbeam_channel::Sender<RecordBatch>>,
    handle: Option<std::thread::JoinHandle<Result<PartSummary>>>,
}

impl StreamingParquet {
    /// Moves `writer` onto a new thread reading a channel of `capacity` batches (at least 1).
    ///
    /// # Errors
    /// [`Error::Io`] naming the dataset directory when the thread cannot be spawned.
    pub fn spawn(mut writer: PartWriter, capacity: usize) -> Result<Self> {
        let dir = writer.dir.clone();
        let (sender, receiver) = crossbeam_channel::bounded::<RecordBatch>(capacity.max(1));
        let handle = std::thread::Builder::new()
            .name("mfgsim-parquet".into())
            .spawn(move || {
                for batch in receiver {
                    writer.write_batch(&batch)?;
                }
                writer.finish()
            })
            .map_err(io_error(&dir))?;
        Ok(StreamingParquet {
            dir,
            sender: Some(sender),
            handle: Some(handle),
        })
    }

    /// Queues `batch` for writing (an empty batch is skipped).
    ///
    /// # Errors
    /// The writer thread's error, once it has stopped on one; the stream is then closed.
    pub fn send(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let sender = self.sender.as_ref().ok_or_else(|| self.closed())?;
        if sender.send(batch).is_err() {
            // The thread dropped its receiver: it stopped on an error. Collect it.
            self.sender = None;
            return match self.join() {
                Err(e) => Err(e),
                Ok(_) => Err(self.closed()),
            };
        }
        Ok(())
    }

    /// Closes the channel, waits for the writer to close the last part and reports.
    ///
    /// # Errors
    /// The writer thread's error, or [`Error::Output`] if it panicked.
    pub fn finish(mut self) -> Result<PartSummary> {
        self.sender = None;
        self.join()
    }

    fn closed(&self) -> Error {
        Error::Output {
            path: self.dir.clone(),
            reason: "the Parquet writer thread has stopped".into(),
        }
    }

    fn join(&mut self) -> Result<PartSummary> {
        let handle = self.handle.take().ok_or_else(|| self.closed())?;
        handle.join().unwrap_or_else(|_| {
            Err(Error::Output {
                path: self.dir.clone(),
                reason: "the Parquet writer thread panicked".into(),
            })
        })
    }
}

impl Drop for StreamingParquet {
    fn drop(&mut self) {
        self.sender = None;
        if self.handle.is_some() {
            // Errors cannot be reported from a drop; `finish` reports them.
            let _ = self.join();
        }
    }
}
