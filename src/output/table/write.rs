//! The column-table writer over any `Write + Send` ([`ParquetTableWriter`]) and one-shot
//! [`write_parquet`].

use super::*;

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
    /// [`Error::Output`] when an extra metadata key is reserved; [`Error::Encode`] when the
    /// schema has a type Parquet cannot store or writing the header fails.
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
    /// [`Error::Output`] when the batch's columns differ from the schema; [`Error::Encode`]
    /// when encoding or writing fails.
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

pub(super) fn field_names(schema: &Schema) -> Vec<&str> {
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
