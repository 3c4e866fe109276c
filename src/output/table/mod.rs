//! Parquet tables, one concept per file: provenance ([`metadata`]), a reusable row builder
//! ([`build`]: [`TableBuilder`]), a column-table writer over any `Write + Send` ([`write`]:
//! [`ParquetTableWriter`]), rolling part files ([`parts`]: [`PartWriter`],
//! [`StreamingParquet`]) and reading back ([`read`]). The products (solver tables, snapshots,
//! study tables) live beside this module; see the [module docs](crate::output) for the
//! layout rules.

use super::{io_error, AtomicFile};
use crate::error::{Error, Result};
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
pub(super) fn output_error<E: std::fmt::Display>(path: &Path) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A count as an `Int64` cell.
pub(super) fn count(n: usize) -> i64 {
    i64::try_from(n).expect("count exceeds i64::MAX")
}

mod build;
mod metadata;
mod parts;
mod read;
mod write;

pub use build::{numbered_fields, RowAppender, TableBuilder};
pub use metadata::{Codec, RunMetadata};
pub(crate) use parts::open_part_dir;
pub use parts::{PartSummary, PartWriter, StreamingParquet};
pub use read::{read_parquet, ParquetTable};
pub use write::{write_parquet, ParquetTableWriter};

#[cfg(test)]
mod tests;
