//! Parquet tables: a reusable row builder ([`TableBuilder`]), a column-table writer over any
//! `Write + Send` ([`ParquetTableWriter`]), rolling part files ([`PartWriter`],
//! [`StreamingParquet`]) and the solver's two tables ([`write_trajectory`],
//! [`write_equilibrium`]). See the [module docs](crate::output) for the layout rules.

use super::{io_error, AtomicFile};
use crate::error::{Error, Result};
use crate::model::mean_state;
use crate::operator::trembling::g_value;
use crate::solver::Solution;
use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::{Compression, ZstdLevel};
use ::parquet::file::metadata::KeyValue;
use ::parquet::file::properties::WriterProperties;
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Footer key of the scenario TOML text.
pub const KEY_SCENARIO: &str = "mfgsim.scenario";
/// Footer key of the run's master seed (decimal).
pub const KEY_SEED: &str = "mfgsim.seed";
/// Footer key of the mfgsim version that wrote the file.
pub const KEY_VERSION: &str = "mfgsim.version";

/// Default row-group target: a row group is closed once its estimated encoded size reaches
/// 32 MiB. Larger groups compress a little better; smaller ones bound the writer's memory.
pub const DEFAULT_ROW_GROUP_BYTES: usize = 32 << 20;

/// Wraps an encoder error with the file it concerns.
fn output_error<E: std::fmt::Display>(path: &Path) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A count as an `Int64` cell.
fn count(n: usize) -> i64 {
    i64::try_from(n).expect("count exceeds i64::MAX")
}

// ---------------------------------------------------------------------------------------
// Provenance
// ---------------------------------------------------------------------------------------

/// Provenance written into the key-value metadata of every Parquet file of a run.
///
/// The footer holds, in this order: [`KEY_SCENARIO`] = `scenario_text`, [`KEY_SEED`] =
/// `seed`, [`KEY_VERSION`] = this crate's version, then `extra` as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunMetadata {
    /// The scenario file's text, verbatim (so a result file reproduces its run).
    pub scenario_text: String,
    /// The run's master seed (0 for deterministic runs such as the exact solver).
    pub seed: u64,
    /// Further pairs (e.g. `("start", "lowest")`). Keys must not be one of the `mfgsim.*`
    /// keys above.
    pub extra: Vec<(String, String)>,
}

impl RunMetadata {
    /// Metadata without extra pairs.
    pub fn new(scenario_text: impl Into<String>, seed: u64) -> Self {
        RunMetadata {
            scenario_text: scenario_text.into(),
            seed,
            extra: Vec::new(),
        }
    }

    /// Adds an extra pair.
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// Every pair in footer order, the crate version included.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            (KEY_SCENARIO.to_string(), self.scenario_text.clone()),
            (KEY_SEED.to_string(), self.seed.to_string()),
            (
                KEY_VERSION.to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ];
        pairs.extend(self.extra.iter().cloned());
        pairs
    }

    /// Writer properties: `codec`, default statistics, these pairs in the footer.
    pub(crate) fn writer_properties(&self, path: &Path, codec: Codec) -> Result<WriterProperties> {
        if let Some((key, _)) = self
            .extra
            .iter()
            .find(|(k, _)| [KEY_SCENARIO, KEY_SEED, KEY_VERSION].contains(&k.as_str()))
        {
            return Err(Error::Output {
                path: path.to_path_buf(),
                reason: format!("metadata key `{key}` is reserved"),
            });
        }
        let kv = self
            .pairs()
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect();
        Ok(WriterProperties::builder()
            .set_compression(codec.compression())
            .set_key_value_metadata(Some(kv))
            .build())
    }
}

/// Compression codec of the pages of a Parquet file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    /// zstd at its default level: the smallest files (the default).
    #[default]
    Zstd,
    /// Snappy: faster to write and read, larger files.
    Snappy,
    /// No compression: the fastest, the largest files.
    None,
}

impl Codec {
    /// The codec's name as the CLI spells it: `zstd`, `snappy`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Zstd => "zstd",
            Codec::Snappy => "snappy",
            Codec::None => "none",
        }
    }

    pub(crate) fn compression(self) -> Compression {
        match self {
            Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
            Codec::Snappy => Compression::SNAPPY,
            Codec::None => Compression::UNCOMPRESSED,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Building record batches
// ---------------------------------------------------------------------------------------

/// `prefix_0`, `prefix_1`, …, `prefix_{n−1}`: one non-nullable column per state or action.
pub fn numbered_fields(prefix: &str, n: usize, data_type: DataType) -> Vec<Field> {
    (0..n)
        .map(|i| Field::new(format!("{prefix}_{i}"), data_type.clone(), false))
        .collect()
}

/// One typed column builder.
#[derive(Debug)]
enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int64(Int64Builder),
    UInt32(UInt32Builder),
    UInt64(UInt64Builder),
    Float64(Float64Builder),
}

impl ColumnBuilder {
    fn new(data_type: &DataType, capacity: usize) -> Option<Self> {
        Some(match data_type {
            DataType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity)),
            DataType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            DataType::UInt32 => ColumnBuilder::UInt32(UInt32Builder::with_capacity(capacity)),
            DataType::UInt64 => ColumnBuilder::UInt64(UInt64Builder::with_capacity(capacity)),
            DataType::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            _ => return None,
        })
    }

    /// The finished array; the builder is replaced by an empty one of `capacity` rows (the
    /// finished buffers now belong to the batch).
    fn finish(&mut self, capacity: usize) -> ArrayRef {
        fn take<B>(b: &mut B, fresh: B, finish: impl FnOnce(&mut B) -> ArrayRef) -> ArrayRef {
            let array = finish(b);
            *b = fresh;
            array
        }
        match self {
            ColumnBuilder::Boolean(b) => take(b, BooleanBuilder::with_capacity(capacity), |b| {
                Arc::new(b.finish())
            }),
            ColumnBuilder::Int64(b) => take(b, Int64Builder::with_capacity(capacity), |b| {
                Arc::new(b.finish())
            }),
            ColumnBuilder::UInt32(b) => take(b, UInt32Builder::with_capacity(capacity), |b| {
                Arc::new(b.finish())
            }),
            ColumnBuilder::UInt64(b) => take(b, UInt64Builder::with_capacity(capacity), |b| {
                Arc::new(b.finish())
            }),
            ColumnBuilder::Float64(b) => take(b, Float64Builder::with_capacity(capacity), |b| {
                Arc::new(b.finish())
            }),
        }
    }
}

/// Row-at-a-time builder of [`RecordBatch`]es for a fixed schema of numeric columns
/// (`Int64`, `UInt32`, `UInt64`, `Float64`; nullable or not).
///
/// Allocate one per table and keep it for the whole run: [`TableBuilder::push_row`] appends
/// into the column builders and [`TableBuilder::finish`] turns them into a batch and leaves
/// the builder empty, with `capacity` rows reserved for the next batch.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use mfgsim::output::{numbered_fields, TableBuilder};
///
/// let mut fields = vec![Field::new("step", DataType::Int64, false)];
/// fields.extend(numbered_fields("z", 3, DataType::Float64));
/// let mut rows = TableBuilder::new(Arc::new(Schema::new(fields)), 1024);
/// for step in 0..10 {
///     rows.push_row(|r| { r.i64(step).f64s(&[0.2, 0.3, 0.5]); });
/// }
/// let batch = rows.finish();
/// assert_eq!((batch.num_rows(), batch.num_columns()), (10, 4));
/// assert!(rows.is_empty());
/// ```
#[derive(Debug)]
pub struct TableBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    capacity: usize,
    rows: usize,
}

impl TableBuilder {
    /// A builder for `schema`, reserving `capacity` rows per batch.
    ///
    /// # Panics
    /// When a field's type is not `Boolean`, `Int64`, `UInt32`, `UInt64` or `Float64` (a schema is
    /// fixed by code, so this is a bug, not an input error).
    pub fn new(schema: SchemaRef, capacity: usize) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                ColumnBuilder::new(f.data_type(), capacity).unwrap_or_else(|| {
                    panic!(
                        "TableBuilder: column `{}` has unsupported type {}",
                        f.name(),
                        f.data_type()
                    )
                })
            })
            .collect();
        TableBuilder {
            schema,
            columns,
            capacity,
            rows: 0,
        }
    }

    /// The schema of the batches built.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows appended since the last [`TableBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row is pending.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one row: `fill` gives one value per column, in schema order.
    ///
    /// # Panics
    /// When `fill` gives too few or too many values, a value of the wrong type, or a null
    /// for a non-nullable column. A panic inside `fill` leaves the builder unusable.
    pub fn push_row(&mut self, fill: impl FnOnce(&mut RowAppender<'_>)) {
        let width = self.columns.len();
        let mut row = RowAppender {
            schema: &self.schema,
            columns: &mut self.columns,
            next: 0,
        };
        fill(&mut row);
        assert_eq!(
            row.next, width,
            "TableBuilder::push_row: row has {} values, the schema has {width} columns",
            row.next
        );
        self.rows += 1;
    }

    /// The pending rows as a batch; the builder is left empty for the next batch.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays = self
            .columns
            .iter_mut()
            .map(|c| c.finish(self.capacity))
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .expect("TableBuilder keeps columns equal in length and type")
    }
}

/// Cursor over one row of a [`TableBuilder`]: each call fills the next column.
#[derive(Debug)]
pub struct RowAppender<'a> {
    schema: &'a Schema,
    columns: &'a mut [ColumnBuilder],
    next: usize,
}

impl RowAppender<'_> {
    /// The next column's builder; panics past the last column.
    fn column(&mut self, want: &str) -> (&Field, &mut ColumnBuilder) {
        let i = self.next;
        assert!(
            i < self.columns.len(),
            "TableBuilder::push_row: more values than the {} columns (next is {want})",
            self.columns.len()
        );
        self.next += 1;
        (self.schema.field(i), &mut self.columns[i])
    }

    fn mismatch(field: &Field, got: &str) -> ! {
        panic!(
            "TableBuilder::push_row: column `{}` is {}, got {got}",
            field.name(),
            field.data_type()
        )
    }

    /// Appends a `Boolean` value.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        match self.column("bool") {
            (_, ColumnBuilder::Boolean(b)) => b.append_value(v),
            (f, _) => Self::mismatch(f, "bool"),
        }
        self
    }

    /// Appends an `Int64` value.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        match self.column("i64") {
            (_, ColumnBuilder::Int64(b)) => b.append_value(v),
            (f, _) => Self::mismatch(f, "i64"),
        }
        self
    }

    /// Appends a `UInt32` value.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        match self.column("u32") {
            (_, ColumnBuilder::UInt32(b)) => b.append_value(v),
            (f, _) => Self::mismatch(f, "u32"),
        }
        self
    }

    /// Appends a `UInt64` value.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        match self.column("u64") {
            (_, ColumnBuilder::UInt64(b)) => b.append_value(v),
            (f, _) => Self::mismatch(f, "u64"),
        }
        self
    }

    /// Appends a `Float64` value.
    pub fn f64(&mut self, v: f64) -> &mut Self {
        match self.column("f64") {
            (_, ColumnBuilder::Float64(b)) => b.append_value(v),
            (f, _) => Self::mismatch(f, "f64"),
        }
        self
    }

    /// Appends a `Float64` value or a null (the column must be nullable).
    pub fn opt_f64(&mut self, v: Option<f64>) -> &mut Self {
        match self.column("Option<f64>") {
            (f, _) if v.is_none() && !f.is_nullable() => {
                panic!(
                    "TableBuilder::push_row: null for non-nullable column `{}`",
                    f.name()
                )
            }
            (_, ColumnBuilder::Float64(b)) => b.append_option(v),
            (f, _) => Self::mismatch(f, "Option<f64>"),
        }
        self
    }

    /// Appends one `Float64` value to each of the next `vs.len()` columns (e.g. `z_0..z_{S−1}`).
    pub fn f64s(&mut self, vs: &[f64]) -> &mut Self {
        for v in vs {
            self.f64(*v);
        }
        self
    }
}

// ---------------------------------------------------------------------------------------
// The column-table writer
// ---------------------------------------------------------------------------------------

/// Writes [`RecordBatch`]es of one schema as a Parquet file to any `Write + Send`, with the
/// run's [`RunMetadata`] in the footer and zstd compression.
///
/// A row group is closed whenever its estimated encoded size
/// ([`ParquetTableWriter::in_progress_size`]) reaches the target
/// ([`DEFAULT_ROW_GROUP_BYTES`], see [`ParquetTableWriter::with_row_group_bytes`]), on
/// [`ParquetTableWriter::flush_row_group`], or at parquet's own cap of 1 Mi rows. The bytes
/// depend only on the batches and the metadata (no timestamps), so equal inputs give
/// byte-identical files. Nothing is readable before
/// [`ParquetTableWriter::finish`] writes the footer; to write a file on disk, give it an
/// [`AtomicFile`] and commit what `finish` returns (as [`write_parquet`] does), or use
/// [`PartWriter`] for streams.
///
/// # Example: write to memory
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float64Array, RecordBatch};
/// use arrow_schema::{DataType, Field, Schema};
/// use mfgsim::output::{ParquetTableWriter, RunMetadata};
///
/// let schema = Arc::new(Schema::new(vec![Field::new("z_0", DataType::Float64, false)]));
/// let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Float64Array::from(vec![0.5, 1.0]))])?;
/// let mut w = ParquetTableWriter::try_new("<memory>", Vec::new(), schema, &RunMetadata::new("", 1))?;
/// w.write_batch(&batch)?;
/// let bytes: Vec<u8> = w.finish()?;
/// assert_eq!(&bytes[..4], b"PAR1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ParquetTableWriter<W: Write + Send> {
    path: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<W>,
    row_group_bytes: usize,
    rows: usize,
}

impl<W: Write + Send> std::fmt::Debug for ParquetTableWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetTableWriter")
            .field("path", &self.path)
            .field("columns", &self.schema.fields().len())
            .field("rows", &self.rows)
            .field("in_progress_size", &self.writer.in_progress_size())
            .field("row_group_bytes", &self.row_group_bytes)
            .finish()
    }
}

impl<W: Write + Send> ParquetTableWriter<W> {
    /// Starts a Parquet file on `sink` for batches of `schema`. `path` names the destination
    /// in error messages only (e.g. `"<memory>"` for a buffer).
    ///
    /// # Errors
    /// [`Error::Output`] when an extra metadata key is reserved, the schema has a type
    /// Parquet cannot store, or writing the header fails.
    pub fn try_new(
        path: impl Into<PathBuf>,
        sink: W,
        schema: SchemaRef,
        meta: &RunMetadata,
    ) -> Result<Self> {
        let path = path.into();
        let props = meta.writer_properties(&path, Codec::default())?;
        let writer =
            ArrowWriter::try_new(sink, schema.clone(), Some(props)).map_err(output_error(&path))?;
        Ok(ParquetTableWriter {
            path,
            schema,
            writer,
            row_group_bytes: DEFAULT_ROW_GROUP_BYTES,
            rows: 0,
        })
    }

    /// Sets the row-group target in (estimated, encoded) bytes; at least 1.
    pub fn with_row_group_bytes(mut self, bytes: usize) -> Self {
        self.row_group_bytes = bytes.max(1);
        self
    }

    /// The schema batches must have.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows accepted so far.
    pub fn rows_written(&self) -> usize {
        self.rows
    }

    /// Estimated encoded size of the open row group, in bytes.
    pub fn in_progress_size(&self) -> usize {
        self.writer.in_progress_size()
    }

    /// Encodes `batch`, closing the row group if it reached the size target.
    ///
    /// # Errors
    /// [`Error::Output`] when the batch's columns differ from the schema or encoding or
    /// writing fails.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(Error::Output {
                path: self.path.clone(),
                reason: format!(
                    "batch columns {:?} do not match the table's {:?}",
                    field_names(&batch.schema()),
                    field_names(&self.schema)
                ),
            });
        }
        self.writer.write(batch).map_err(output_error(&self.path))?;
        self.rows += batch.num_rows();
        if self.writer.in_progress_size() >= self.row_group_bytes {
            self.flush_row_group()?;
        }
        Ok(())
    }

    /// Closes the open row group now (a no-op when it is empty).
    ///
    /// # Errors
    /// [`Error::Output`] when encoding or writing fails.
    pub fn flush_row_group(&mut self) -> Result<()> {
        self.writer.flush().map_err(output_error(&self.path))
    }

    /// Closes the last row group, writes the footer and returns the sink.
    ///
    /// # Errors
    /// [`Error::Output`] when encoding or writing fails.
    pub fn finish(self) -> Result<W> {
        self.writer.into_inner().map_err(output_error(&self.path))
    }
}

fn field_names(schema: &Schema) -> Vec<&str> {
    schema.fields().iter().map(|f| f.name().as_str()).collect()
}

/// Writes one batch to `path` as a complete Parquet file, atomically.
///
/// # Errors
/// [`Error::Io`] / [`Error::Output`] naming `path`; on error no file appears at `path`.
pub fn write_parquet(path: &Path, batch: &RecordBatch, meta: &RunMetadata) -> Result<()> {
    let file = AtomicFile::create(path)?;
    let mut w = ParquetTableWriter::try_new(path, file, batch.schema(), meta)?;
    w.write_batch(batch)?;
    w.finish()?.commit()
}

// ---------------------------------------------------------------------------------------
// Rolling part files
// ---------------------------------------------------------------------------------------

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
    super::ensure_real_dir(dir)?;
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
    /// [`Error::Output`] / [`Error::Io`] naming the part file.
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
    /// [`Error::Output`] / [`Error::Io`] naming the part file.
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

// ---------------------------------------------------------------------------------------
// The solver's tables
// ---------------------------------------------------------------------------------------

/// Schema of `trajectory.parquet` for `num_states` states:
///
/// | column               | type            | meaning                                    |
/// |----------------------|-----------------|--------------------------------------------|
/// | `iteration`          | Int64           | k (0 = the start vector)                   |
/// | `z_0` … `z_{S−1}`    | Float64         | z_k(s)                                     |
/// | `mean_state`         | Float64         | Σ_s s·z_k(s)                               |
/// | `delta_l1`           | Float64, nullable | ‖z_k − z_{k−1}‖₁ (null at k = 0)         |
/// | `tq_sweeps`          | Int64           | F-applications spent in iteration k (0 at k = 0) |
/// | `consistency_l1`     | Float64, nullable | ‖Φ(z, μ) − z‖₁ of iteration k's pair (see [`IterationRecord`](crate::solver::IterationRecord)); null at k = 0 |
/// | `exploitability`     | Float64, nullable | fp / omd: exploitability of iteration k's strategy at z_k; null for tbr / damped and at k = 0 |
pub fn trajectory_schema(num_states: usize) -> SchemaRef {
    let mut fields = vec![Field::new("iteration", DataType::Int64, false)];
    fields.extend(numbered_fields("z", num_states, DataType::Float64));
    fields.push(Field::new("mean_state", DataType::Float64, false));
    fields.push(Field::new("delta_l1", DataType::Float64, true));
    fields.push(Field::new("tq_sweeps", DataType::Int64, false));
    fields.push(Field::new("consistency_l1", DataType::Float64, true));
    fields.push(Field::new("exploitability", DataType::Float64, true));
    Arc::new(Schema::new(fields))
}

/// The T-BR trajectory of `sol` as one batch of [`trajectory_schema`]: a row for the start
/// (iteration 0) and one per [`IterationRecord`](crate::solver::IterationRecord).
pub fn trajectory_batch(sol: &Solution) -> RecordBatch {
    let mut rows = TableBuilder::new(trajectory_schema(sol.start.len()), sol.trace.len() + 1);
    rows.push_row(|r| {
        r.i64(0)
            .f64s(&sol.start)
            .f64(mean_state(&sol.start))
            .opt_f64(None)
            .i64(0)
            .opt_f64(None)
            .opt_f64(None);
    });
    for rec in &sol.trace {
        rows.push_row(|r| {
            r.i64(count(rec.iteration))
                .f64s(&rec.z)
                .f64(rec.mean_state)
                .opt_f64(Some(rec.delta_l1))
                .i64(count(rec.tq_sweeps))
                .opt_f64(Some(rec.consistency_l1))
                .opt_f64(rec.exploitability);
        });
    }
    rows.finish()
}

/// Writes `trajectory.parquet` (see [`trajectory_schema`]) atomically.
///
/// # Errors
/// [`Error::Io`] / [`Error::Output`] naming `path`.
pub fn write_trajectory(path: &Path, sol: &Solution, meta: &RunMetadata) -> Result<()> {
    write_parquet(path, &trajectory_batch(sol), meta)
}

/// Schema of `equilibrium.parquet` (one row per state) for |A| = `num_actions`:
///
/// | column                | type    | meaning                                   |
/// |-----------------------|---------|-------------------------------------------|
/// | `state`               | Int64   | s                                         |
/// | `z`                   | Float64 | z(s), the returned mean field             |
/// | `greedy_action`       | Int64   | the action given 1 − ε at s               |
/// | `q_0` … `q_{A−1}`     | Float64 | Q*_z(s, a)                                |
/// | `mu_0` … `mu_{A−1}`   | Float64 | μ(s, a) = π^ε(Q*_z)(s, a)                 |
/// | `v`                   | Float64 | G(Q*_z)(s) = Σ_a μ(s, a) Q*_z(s, a)       |
pub fn equilibrium_schema(num_actions: usize) -> SchemaRef {
    let mut fields = vec![
        Field::new("state", DataType::Int64, false),
        Field::new("z", DataType::Float64, false),
        Field::new("greedy_action", DataType::Int64, false),
    ];
    fields.extend(numbered_fields("q", num_actions, DataType::Float64));
    fields.extend(numbered_fields("mu", num_actions, DataType::Float64));
    fields.push(Field::new("v", DataType::Float64, false));
    Arc::new(Schema::new(fields))
}

/// The equilibrium of `sol` as one batch of [`equilibrium_schema`], one row per state, with
/// `v` computed for tremble `epsilon` (the game's ε).
pub fn equilibrium_batch(sol: &Solution, epsilon: f64) -> RecordBatch {
    let (ns, na) = (sol.q.num_states(), sol.q.num_actions());
    let mut rows = TableBuilder::new(equilibrium_schema(na), ns);
    for s in 0..ns {
        rows.push_row(|r| {
            r.i64(count(s))
                .f64(sol.z[s])
                .i64(count(sol.policy.greedy[s]))
                .f64s(sol.q.row(s))
                .f64s(sol.policy.row(s))
                .f64(g_value(sol.q.row(s), epsilon));
        });
    }
    rows.finish()
}

/// Writes `equilibrium.parquet` (see [`equilibrium_schema`]) atomically; `epsilon` is the
/// game's tremble, used for the `v` column.
///
/// # Errors
/// [`Error::Io`] / [`Error::Output`] naming `path`.
pub fn write_equilibrium(
    path: &Path,
    sol: &Solution,
    epsilon: f64,
    meta: &RunMetadata,
) -> Result<()> {
    write_parquet(path, &equilibrium_batch(sol, epsilon), meta)
}

/// Footer key of a solve's files: the algorithm (`tbr`, `damped`, `fp`, `omd`).
pub const KEY_ALGO: &str = "mfgsim.solver.algo";
/// Footer key of a solve's files: `true` when the run converged, else `false` (the file
/// holds an end point, not an equilibrium).
pub const KEY_CONVERGED: &str = "mfgsim.solver.converged";
/// Footer key of a solve's files: `true` when μ is a mixture of trembling-hand strategies.
pub const KEY_MIXED: &str = "mfgsim.solver.mixed";

/// Writes the files of `mfgsim solve` for each labelled solver run into `dir`:
/// `trajectory.parquet` and `equilibrium.parquet`, in `dir` itself for the unlabelled run
/// (label `""`) and in `dir/<label>/` otherwise (`least/`, `greatest/` with start extremal).
///
/// # Errors
/// [`Error::Io`] / [`Error::Output`] naming the directory or file.
pub fn write_solutions(
    dir: &Path,
    runs: &[(&str, &Solution)],
    epsilon: f64,
    meta: &RunMetadata,
) -> Result<()> {
    for (label, sol) in runs {
        let sub = if label.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(label)
        };
        super::ensure_real_dir(&sub)?;
        // Each file says what it holds: a readers (and `mfgsim plot`) never shows an end
        // point that did not converge as an equilibrium.
        let meta = meta
            .clone()
            .with_extra(KEY_ALGO, sol.algo.name())
            .with_extra(KEY_CONVERGED, sol.converged().to_string())
            .with_extra(KEY_MIXED, sol.mixed.to_string());
        write_trajectory(&sub.join("trajectory.parquet"), sol, &meta)?;
        write_equilibrium(&sub.join("equilibrium.parquet"), sol, epsilon, &meta)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading back
// ---------------------------------------------------------------------------------------

/// A Parquet file read into memory: for tests, checks and plots of small outputs.
#[derive(Debug, Clone)]
pub struct ParquetTable {
    /// The file read.
    pub path: PathBuf,
    /// Its Arrow schema.
    pub schema: SchemaRef,
    /// Its rows, as stored (one batch per reader chunk).
    pub batches: Vec<RecordBatch>,
    /// The footer's key-value metadata, in file order (includes `ARROW:schema`); a missing
    /// value reads as `""`.
    pub key_values: Vec<(String, String)>,
}

impl ParquetTable {
    /// Total rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Column names in schema order.
    pub fn column_names(&self) -> Vec<&str> {
        field_names(&self.schema)
    }

    /// The value of footer key `key`, if present.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.key_values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn arrays(&self, name: &str) -> Result<impl Iterator<Item = &ArrayRef>> {
        let i = self.schema.index_of(name).map_err(|_| Error::Output {
            path: self.path.clone(),
            reason: format!("no column `{name}`"),
        })?;
        Ok(self.batches.iter().map(move |b| b.column(i)))
    }

    fn wrong_type(&self, name: &str, want: &str) -> Error {
        Error::Output {
            path: self.path.clone(),
            reason: format!("column `{name}` is not {want}"),
        }
    }

    /// The `Float64` column `name`, nulls read as NaN.
    ///
    /// # Errors
    /// [`Error::Output`] when there is no such column or it is not `Float64`.
    pub fn f64_column(&self, name: &str) -> Result<Vec<f64>> {
        Ok(self
            .opt_f64_column(name)?
            .into_iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    }

    /// The `Float64` column `name` with its nulls.
    ///
    /// # Errors
    /// [`Error::Output`] when there is no such column or it is not `Float64`.
    pub fn opt_f64_column(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let mut out = Vec::with_capacity(self.num_rows());
        for a in self.arrays(name)? {
            let a = a
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| self.wrong_type(name, "Float64"))?;
            out.extend(a.iter());
        }
        Ok(out)
    }

    /// The `Int64` column `name` (non-null).
    ///
    /// # Errors
    /// [`Error::Output`] when there is no such column, it is not `Int64` or it holds nulls.
    pub fn i64_column(&self, name: &str) -> Result<Vec<i64>> {
        let mut out = Vec::with_capacity(self.num_rows());
        for a in self.arrays(name)? {
            let a = a
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| self.wrong_type(name, "Int64"))?;
            for v in a.iter() {
                out.push(v.ok_or_else(|| self.wrong_type(name, "free of nulls"))?);
            }
        }
        Ok(out)
    }
}

/// Reads a whole Parquet file with its footer metadata.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened, [`Error::Output`] when it is not valid
/// Parquet; both name `path`.
pub fn read_parquet(path: &Path) -> Result<ParquetTable> {
    let file = std::fs::File::open(path).map_err(io_error(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(output_error(path))?;
    let key_values = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|p| (p.key.clone(), p.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let schema = builder.schema().clone();
    let batches = builder
        .build()
        .map_err(output_error(path))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(output_error(path))?;
    Ok(ParquetTable {
        path: path.to_path_buf(),
        schema,
        batches,
        key_values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GameParams;
    use crate::output::test_util::{dir_names, gig_solution};

    fn meta() -> RunMetadata {
        RunMetadata::new("[model]\nkind = \"gig\"\n", 42).with_extra("start", "uniform")
    }

    fn assert_provenance(t: &ParquetTable) {
        assert_eq!(t.metadata(KEY_SCENARIO), Some("[model]\nkind = \"gig\"\n"));
        assert_eq!(t.metadata(KEY_SEED), Some("42"));
        assert_eq!(t.metadata(KEY_VERSION), Some(env!("CARGO_PKG_VERSION")));
        assert_eq!(t.metadata("start"), Some("uniform"));
    }

    fn tiny_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("step", DataType::Int64, false),
            Field::new("x", DataType::Float64, false),
        ]))
    }

    fn tiny_batch(rows: &mut TableBuilder, from: i64, n: i64) -> RecordBatch {
        for i in from..from + n {
            rows.push_row(|r| {
                r.i64(i).f64(i as f64 * 0.5);
            });
        }
        rows.finish()
    }

    #[test]
    fn trajectory_round_trip() {
        let sol = gig_solution();
        let ns = sol.start.len();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trajectory.parquet");
        write_trajectory(&path, &sol, &meta()).unwrap();
        let t = read_parquet(&path).unwrap();

        let mut expected = vec!["iteration".to_string()];
        expected.extend((0..ns).map(|s| format!("z_{s}")));
        expected.extend(
            [
                "mean_state",
                "delta_l1",
                "tq_sweeps",
                "consistency_l1",
                "exploitability",
            ]
            .map(String::from),
        );
        assert_eq!(t.column_names(), expected);
        assert_eq!(t.num_rows(), sol.iterations() + 1);
        assert_provenance(&t);

        let it = t.i64_column("iteration").unwrap();
        assert_eq!(it, (0..=sol.iterations() as i64).collect::<Vec<_>>());
        for s in 0..ns {
            let col = t.f64_column(&format!("z_{s}")).unwrap();
            assert_eq!(col[0], sol.start[s]);
            for (k, rec) in sol.trace.iter().enumerate() {
                assert_eq!(col[k + 1].to_bits(), rec.z[s].to_bits());
            }
        }
        let delta = t.opt_f64_column("delta_l1").unwrap();
        assert_eq!(delta[0], None);
        let sweeps = t.i64_column("tq_sweeps").unwrap();
        assert_eq!(sweeps[0], 0);
        let mean = t.f64_column("mean_state").unwrap();
        assert_eq!(mean[0], mean_state(&sol.start));
        let cons = t.opt_f64_column("consistency_l1").unwrap();
        let expl = t.opt_f64_column("exploitability").unwrap();
        assert_eq!((cons[0], expl[0]), (None, None));
        for (k, rec) in sol.trace.iter().enumerate() {
            assert_eq!(delta[k + 1], Some(rec.delta_l1));
            assert_eq!(sweeps[k + 1], rec.tq_sweeps as i64);
            assert_eq!(mean[k + 1], rec.mean_state);
            assert_eq!(cons[k + 1], Some(rec.consistency_l1));
            // T-BR's strategy is the best response to z_k: no exploitability column value.
            assert_eq!(expl[k + 1], None);
        }
        // The last row is the returned mean field.
        let last: Vec<f64> = (0..ns)
            .map(|s| *t.f64_column(&format!("z_{s}")).unwrap().last().unwrap())
            .collect();
        assert_eq!(last, sol.z);
        assert_eq!(dir_names(dir.path()), vec!["trajectory.parquet"]);
    }

    #[test]
    fn equilibrium_round_trip() {
        let sol = gig_solution();
        let eps = GameParams::default().epsilon;
        let (ns, na) = (sol.q.num_states(), sol.q.num_actions());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("equilibrium.parquet");
        write_equilibrium(&path, &sol, eps, &meta()).unwrap();
        let t = read_parquet(&path).unwrap();

        let mut expected = vec!["state".to_string(), "z".into(), "greedy_action".into()];
        expected.extend((0..na).map(|a| format!("q_{a}")));
        expected.extend((0..na).map(|a| format!("mu_{a}")));
        expected.push("v".into());
        assert_eq!(t.column_names(), expected);
        assert_eq!(t.num_rows(), ns);
        assert_provenance(&t);

        assert_eq!(
            t.i64_column("state").unwrap(),
            (0..ns as i64).collect::<Vec<_>>()
        );
        assert_eq!(t.f64_column("z").unwrap(), sol.z);
        let greedy: Vec<usize> = t
            .i64_column("greedy_action")
            .unwrap()
            .into_iter()
            .map(|a| a as usize)
            .collect();
        assert_eq!(greedy, sol.policy.greedy);
        let v = t.f64_column("v").unwrap();
        for a in 0..na {
            let q = t.f64_column(&format!("q_{a}")).unwrap();
            let mu = t.f64_column(&format!("mu_{a}")).unwrap();
            for s in 0..ns {
                assert_eq!(q[s], sol.q.get(s, a));
                assert_eq!(mu[s], sol.policy.get(s, a));
            }
        }
        for (s, v) in v.iter().enumerate() {
            assert_eq!(*v, g_value(sol.q.row(s), eps));
            // v = Σ_a μ(s,a) Q(s,a) for the trembling policy.
            let dot: f64 = (0..na)
                .map(|a| sol.policy.get(s, a) * sol.q.get(s, a))
                .sum();
            assert!((v - dot).abs() <= 1e-9 * (1.0 + dot.abs()), "{v} vs {dot}");
        }
    }

    #[test]
    fn files_are_zstd_compressed() {
        let sol = gig_solution();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trajectory.parquet");
        write_trajectory(&path, &sol, &meta()).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        for rg in reader.metadata().row_groups() {
            for col in rg.columns() {
                assert!(
                    matches!(col.compression(), Compression::ZSTD(_)),
                    "{:?}",
                    col.compression()
                );
            }
        }
    }

    #[test]
    fn reserved_extra_key_is_rejected() {
        let m = RunMetadata::new("", 1).with_extra(KEY_SEED, "2");
        let err = ParquetTableWriter::try_new("x.parquet", Vec::new(), tiny_schema(), &m)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.parquet") && err.contains("reserved"),
            "{err}"
        );
    }

    #[test]
    fn mismatched_batch_is_an_error() {
        let mut w =
            ParquetTableWriter::try_new("<memory>", Vec::new(), tiny_schema(), &meta()).unwrap();
        let other = Arc::new(Schema::new(vec![Field::new("y", DataType::Float64, false)]));
        let mut rows = TableBuilder::new(other, 1);
        rows.push_row(|r| {
            r.f64(1.0);
        });
        let err = w.write_batch(&rows.finish()).unwrap_err().to_string();
        assert!(err.contains("<memory>") && err.contains("\"y\""), "{err}");
    }

    #[test]
    fn row_groups_close_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let file = AtomicFile::create(&path).unwrap();
        let mut w = ParquetTableWriter::try_new(&path, file, tiny_schema(), &meta())
            .unwrap()
            .with_row_group_bytes(1);
        let mut rows = TableBuilder::new(tiny_schema(), 10);
        for k in 0..3 {
            w.write_batch(&tiny_batch(&mut rows, k * 10, 10)).unwrap();
            assert_eq!(w.in_progress_size(), 0);
        }
        assert_eq!(w.rows_written(), 30);
        w.finish().unwrap().commit().unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
    }

    #[test]
    fn builder_is_reused_across_batches() {
        let mut rows = TableBuilder::new(tiny_schema(), 4);
        let a = tiny_batch(&mut rows, 0, 3);
        let b = tiny_batch(&mut rows, 3, 5);
        assert_eq!((a.num_rows(), b.num_rows()), (3, 5));
        let x = b.column(1).as_primitive::<Float64Type>();
        assert_eq!(x.values().as_ref(), &[1.5, 2.0, 2.5, 3.0, 3.5]);
    }

    #[test]
    #[should_panic(expected = "row has 1 values, the schema has 2 columns")]
    fn short_row_panics() {
        let mut rows = TableBuilder::new(tiny_schema(), 1);
        rows.push_row(|r| {
            r.i64(1);
        });
    }

    #[test]
    #[should_panic(expected = "column `step` is Int64, got f64")]
    fn wrong_type_panics() {
        let mut rows = TableBuilder::new(tiny_schema(), 1);
        rows.push_row(|r| {
            r.f64(1.0).f64(2.0);
        });
    }

    #[test]
    fn parts_survive_an_interrupted_run() {
        let dir = tempfile::tempdir().unwrap();
        let parts_dir = dir.path().join("snapshots");
        let mut w = PartWriter::try_new(&parts_dir, tiny_schema(), meta(), 5).unwrap();
        let mut rows = TableBuilder::new(tiny_schema(), 3);
        for k in 0..4 {
            w.write_batch(&tiny_batch(&mut rows, k * 3, 3)).unwrap();
        }
        assert_eq!(
            (w.parts().len(), w.rows_committed(), w.rows_written()),
            (2, 10, 12)
        );
        drop(w); // interrupted: the open part (2 rows) is lost, nothing half-written remains

        assert_eq!(
            dir_names(&parts_dir),
            vec!["part-00000.parquet", "part-00001.parquet"]
        );
        let mut steps = Vec::new();
        for i in 0..2 {
            let t = read_parquet(&PartWriter::part_path(&parts_dir, i)).unwrap();
            assert_eq!(t.num_rows(), 5);
            assert_provenance(&t);
            steps.extend(t.i64_column("step").unwrap());
        }
        assert_eq!(steps, (0..10).collect::<Vec<_>>());

        // The same directory cannot be reused without clearing it.
        let err = PartWriter::try_new(&parts_dir, tiny_schema(), meta(), 5).unwrap_err();
        assert!(
            err.to_string().contains("already holds part files"),
            "{err}"
        );
    }

    #[test]
    fn finish_closes_the_short_last_part() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PartWriter::try_new(dir.path(), tiny_schema(), meta(), 5).unwrap();
        let mut rows = TableBuilder::new(tiny_schema(), 12);
        w.write_batch(&tiny_batch(&mut rows, 0, 12)).unwrap();
        let summary = w.finish().unwrap();
        assert_eq!(summary.rows, 12);
        let counts: Vec<usize> = summary
            .parts
            .iter()
            .map(|p| read_parquet(p).unwrap().num_rows())
            .collect();
        assert_eq!(counts, vec![5, 5, 2]);
    }

    #[test]
    fn empty_stream_leaves_one_empty_part() {
        let dir = tempfile::tempdir().unwrap();
        let w = PartWriter::try_new(dir.path(), tiny_schema(), meta(), 5).unwrap();
        let summary = w.finish().unwrap();
        assert_eq!(summary.parts.len(), 1);
        let t = read_parquet(&summary.parts[0]).unwrap();
        assert_eq!((t.num_rows(), t.column_names()), (0, vec!["step", "x"]));
        assert_provenance(&t);
    }

    #[test]
    fn zero_rows_per_part_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let err = PartWriter::try_new(dir.path(), tiny_schema(), meta(), 0).unwrap_err();
        assert!(err.to_string().contains("rows_per_part"), "{err}");
    }

    #[test]
    fn streaming_drop_closes_the_last_part() {
        let dir = tempfile::tempdir().unwrap();
        let w = PartWriter::try_new(dir.path(), tiny_schema(), meta(), 4).unwrap();
        let mut stream = StreamingParquet::spawn(w, 2).unwrap();
        let mut rows = TableBuilder::new(tiny_schema(), 3);
        for k in 0..3 {
            stream.send(tiny_batch(&mut rows, k * 3, 3)).unwrap();
        }
        drop(stream); // e.g. the producer unwinding from a panic
        let names = dir_names(dir.path());
        assert_eq!(
            names,
            vec![
                "part-00000.parquet",
                "part-00001.parquet",
                "part-00002.parquet"
            ]
        );
        let total: usize = (0..3)
            .map(|i| {
                read_parquet(&PartWriter::part_path(dir.path(), i))
                    .unwrap()
                    .num_rows()
            })
            .sum();
        assert_eq!(total, 9);
    }

    #[test]
    fn streaming_reports_writer_errors() {
        let dir = tempfile::tempdir().unwrap();
        let w = PartWriter::try_new(dir.path(), tiny_schema(), meta(), 4).unwrap();
        let mut stream = StreamingParquet::spawn(w, 1).unwrap();
        let other = Arc::new(Schema::new(vec![Field::new("y", DataType::Float64, false)]));
        let mut rows = TableBuilder::new(other, 1);
        rows.push_row(|r| {
            r.f64(1.0);
        });
        let bad = rows.finish();
        // The first bad batch stops the thread; a later send or finish reports why.
        let mut result = Ok(());
        for _ in 0..4 {
            result = stream.send(bad.clone());
            if result.is_err() {
                break;
            }
        }
        let err = match result {
            Err(e) => e,
            Ok(()) => stream.finish().unwrap_err(),
        };
        assert!(err.to_string().contains("do not match"), "{err}");
    }

    #[test]
    fn equal_inputs_give_identical_bytes() {
        let sol = gig_solution();
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        write_trajectory(&a, &sol, &meta()).unwrap();
        write_trajectory(&b, &sol, &meta()).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn streaming_parts_equal_direct_parts() {
        let dir = tempfile::tempdir().unwrap();
        let (direct, streamed) = (dir.path().join("direct"), dir.path().join("streamed"));
        let mut rows = TableBuilder::new(tiny_schema(), 7);
        let batches: Vec<RecordBatch> = (0..9).map(|k| tiny_batch(&mut rows, k * 7, 7)).collect();

        let mut w = PartWriter::try_new(&direct, tiny_schema(), meta(), 10).unwrap();
        for b in &batches {
            w.write_batch(b).unwrap();
        }
        let d = w.finish().unwrap();
        let w = PartWriter::try_new(&streamed, tiny_schema(), meta(), 10).unwrap();
        let mut stream = StreamingParquet::spawn(w, 1).unwrap();
        for b in &batches {
            stream.send(b.clone()).unwrap();
        }
        let s = stream.finish().unwrap();

        assert_eq!(
            (d.rows, s.rows, d.parts.len(), s.parts.len()),
            (63, 63, 7, 7)
        );
        for (p, q) in d.parts.iter().zip(&s.parts) {
            assert_eq!(
                std::fs::read(p).unwrap(),
                std::fs::read(q).unwrap(),
                "{p:?}"
            );
        }
    }

    /// Writes sample outputs for `scripts/check_parquet.py`:
    /// `MFGSIM_PARQUET_OUT=/tmp/pq cargo test --lib output -- --ignored write_samples`.
    #[test]
    #[ignore = "writes sample files for scripts/check_parquet.py"]
    fn write_samples() {
        let out = PathBuf::from(
            std::env::var("MFGSIM_PARQUET_OUT").unwrap_or_else(|_| "target/parquet-samples".into()),
        );
        std::fs::create_dir_all(&out).unwrap();
        let sol = gig_solution();
        write_trajectory(&out.join("trajectory.parquet"), &sol, &meta()).unwrap();
        write_equilibrium(
            &out.join("equilibrium.parquet"),
            &sol,
            GameParams::default().epsilon,
            &meta(),
        )
        .unwrap();
        super::super::write_json(
            &out.join("solution.json"),
            &super::super::solution_json(&sol),
        )
        .unwrap();
        for sub in ["snapshots", "empty"] {
            if out.join(sub).exists() {
                std::fs::remove_dir_all(out.join(sub)).unwrap();
            }
        }
        let schema = trajectory_schema(sol.start.len());
        let mut parts =
            PartWriter::try_new(&out.join("snapshots"), schema.clone(), meta(), 10).unwrap();
        parts.write_batch(&trajectory_batch(&sol)).unwrap();
        parts.finish().unwrap();
        // A stream that never received a row: one schema-only part.
        let parts = PartWriter::try_new(&out.join("empty"), schema, meta(), 10).unwrap();
        parts.finish().unwrap();
    }
}
