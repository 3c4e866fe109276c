//! Reading a table back ([`ParquetTable`], [`read_parquet`]), for tests, plots and sweeps.

use super::write::field_names;
use super::*;

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
/// [`Error::Io`] when the file cannot be opened, [`Error::Encode`] (the parquet error as
/// its source) when it is not valid Parquet; both name `path`.
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
