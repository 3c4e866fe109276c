//! Which files mfgsim may replace: only those it wrote.
//!
//! A rerun into the same output directory replaces its own files, recognised by name *and*
//! content: a Parquet file whose footer carries [`KEY_VERSION`](super::KEY_VERSION) (every
//! table mfgsim writes has it), a JSON object with an `mfgsim_version` key (every
//! `summary.json`), a PNG (the plots; a PNG has no provenance field, so only its signature
//! is checked), an SVG carrying mfgsim's comment, or a leftover temporary file of [`AtomicFile`](super::AtomicFile)
//! (`.NAME.tmp-` and 16 random hex digits, from a killed run). Anything else where a command would write is a
//! *foreign* file: the command refuses before it starts, naming the file, and deletes or
//! overwrites nothing.
//!
//! # Example
//! ```
//! use mfgsim::output::{check_replaceable, clear_part_dir};
//! let dir = tempfile::tempdir()?;
//! let mine = dir.path().join("transitions");
//! std::fs::create_dir(&mine)?;
//! std::fs::write(mine.join("notes.txt"), "my notes")?;
//! let err = clear_part_dir(&mine).unwrap_err().to_string();
//! assert!(err.contains("notes.txt") && err.contains("not written by mfgsim"), "{err}");
//! assert!(mine.join("notes.txt").exists());
//! std::fs::write(dir.path().join("summary.json"), "{\"mine\": 1}")?;
//! assert!(check_replaceable(&dir.path().join("summary.json")).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use super::{io_error, KEY_VERSION};
use crate::error::{Error, Result};

/// What a refusal tells the user to do.
const WHAT_TO_DO: &str = "move it away or choose another output directory (--out)";

/// True when `path` is a file mfgsim wrote (see the module docs for how it is recognised).
pub fn written_by_mfgsim(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if is_temp_name(name) {
        return true;
    }
    if !path.is_file() {
        return false;
    }
    if name.ends_with(".parquet") {
        parquet_has_provenance(path)
    } else if name.ends_with(".json") {
        json_has_provenance(path)
    } else if name.ends_with(".png") {
        png_signature(path)
    } else if name.ends_with(".svg") {
        svg_has_provenance(path)
    } else {
        false
    }
}

/// `.NAME.tmp-` and 16 hex digits, the temporary name of an
/// [`AtomicFile`](super::AtomicFile) (or `.NAME.tmp-PID-N`, left by earlier versions).
pub(crate) fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some((_, tail)) = rest.rsplit_once(".tmp-") else {
        return false;
    };
    if tail.len() == 16 && tail.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    let mut parts = tail.split('-');
    let digits =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

fn parquet_has_provenance(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    // Reads the footer only.
    let Ok(reader) = parquet::file::serialized_reader::SerializedFileReader::new(file) else {
        return false;
    };
    use parquet::file::reader::FileReader;
    reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .is_some_and(|kv| kv.iter().any(|p| p.key == KEY_VERSION))
}

fn json_has_provenance(path: &Path) -> bool {
    // Summaries are small; anything above 64 MiB is not one of ours.
    if std::fs::metadata(path).map_or(true, |m| m.len() > 64 << 20) {
        return false;
    }
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("mfgsim_version").is_some())
}

/// The comment that marks an SVG as mfgsim's, so a later plot may replace it (written by
/// `output::plot`).
pub(crate) const SVG_PROVENANCE: &str = "<!-- drawn by mfgsim -->\n";

fn svg_has_provenance(path: &Path) -> bool {
    if std::fs::metadata(path).map_or(true, |m| m.len() > 256 << 20) {
        return false;
    }
    std::fs::read(path).is_ok_and(|b| {
        let mark = SVG_PROVENANCE.as_bytes();
        b.windows(mark.len()).any(|w| w == mark)
    })
}

fn png_signature(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == *b"\x89PNG\r\n\x1a\n"
}

/// Refuses when `path` exists and is not a file mfgsim wrote (or is a directory).
///
/// # Errors
/// [`Error::Output`] naming `path`.
pub fn check_replaceable(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_file() && written_by_mfgsim(path) => Ok(()),
        Ok(m) => Err(Error::Output {
            path: path.to_path_buf(),
            reason: format!(
                "exists and {}; refusing to overwrite it: {WHAT_TO_DO}",
                if m.is_symlink() {
                    "is a symbolic link (mfgsim never writes through a link it did not create)"
                        .to_string()
                } else if m.is_dir() {
                    "is a directory".to_string()
                } else {
                    "was not written by mfgsim (no mfgsim provenance in it)".to_string()
                }
            ),
        }),
    }
}

/// The foreign entries of a part directory `dir` (see [`clear_part_dir`]), at most `limit`.
fn foreign_parts(dir: &Path, limit: usize) -> Result<Vec<String>> {
    let mut foreign = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_part = name.starts_with("part-") && name.ends_with(".parquet");
        let is_file = entry.file_type().map_err(io_error(&path))?.is_file();
        if !(is_file && (is_temp_name(&name) || (is_part && written_by_mfgsim(&path)))) {
            foreign.push(name);
            if foreign.len() == limit {
                break;
            }
        }
    }
    foreign.sort();
    Ok(foreign)
}

/// Checks that the part directory `dir` (e.g. `DIR/transitions/`) holds only mfgsim's part
/// files (`part-NNNNN.parquet` with provenance, or leftover temporary files), without
/// deleting anything.
///
/// # Errors
/// [`Error::Output`] naming `dir` and the first foreign entries; [`Error::Io`] when it
/// cannot be listed.
pub fn check_part_dir(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(_) => return Ok(()),
        Ok(m) if !m.is_dir() => {
            return Err(Error::Output {
                path: dir.to_path_buf(),
                reason: format!(
                    "exists and is not a directory; refusing to replace it: {WHAT_TO_DO}"
                ),
            })
        }
        Ok(_) => {}
    }
    let foreign = foreign_parts(dir, 4)?;
    if let Some(first) = foreign.first() {
        return Err(Error::Output {
            path: dir.join(first),
            reason: format!(
                "not written by mfgsim ({} foreign entr{} in {}: {}); refusing to replace the \
                 directory: {WHAT_TO_DO}",
                foreign.len(),
                if foreign.len() == 1 { "y" } else { "ies" },
                dir.display(),
                foreign.join(", ")
            ),
        });
    }
    Ok(())
}

/// Removes a previous run's part directory `dir`: its part files and leftover temporary
/// files, then the directory itself. Nothing is removed unless every entry is mfgsim's.
///
/// # Errors
/// Those of [`check_part_dir`]; [`Error::Io`] when a removal fails.
pub fn clear_part_dir(dir: &Path) -> Result<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    check_part_dir(dir)?;
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        std::fs::remove_file(&path).map_err(io_error(&path))?;
    }
    std::fs::remove_dir(dir).map_err(io_error(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{write_json, write_parquet, RunMetadata};
    use arrow_array::{Int64Array, RecordBatch};
    use std::sync::Arc;

    fn tiny_parquet(path: &Path) {
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "x",
            arrow_schema::DataType::Int64,
            false,
        )]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1i64]))]).unwrap();
        write_parquet(path, &batch, &RunMetadata::new("", 0)).unwrap();
    }

    #[test]
    fn own_files_are_recognised_and_foreign_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        tiny_parquet(&d.join("a.parquet"));
        write_json(
            &d.join("summary.json"),
            &serde_json::json!({"mfgsim_version": "0"}),
        )
        .unwrap();
        std::fs::write(d.join("other.json"), "{\"x\": 1}").unwrap();
        std::fs::write(d.join("fake.parquet"), "PAR1 not really").unwrap();
        std::fs::write(d.join(".a.parquet.tmp-12-3"), "half").unwrap();
        std::fs::write(d.join(".a.parquet.tmp-x-3"), "half").unwrap();
        assert!(written_by_mfgsim(&d.join("a.parquet")));
        assert!(written_by_mfgsim(&d.join("summary.json")));
        assert!(written_by_mfgsim(&d.join(".a.parquet.tmp-12-3")));
        assert!(!written_by_mfgsim(&d.join(".a.parquet.tmp-x-3")));
        assert!(!written_by_mfgsim(&d.join("other.json")));
        assert!(!written_by_mfgsim(&d.join("fake.parquet")));
        assert!(check_replaceable(&d.join("missing.json")).is_ok());
        assert!(check_replaceable(&d.join("a.parquet")).is_ok());
        let e = check_replaceable(&d.join("other.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("other.json") && e.contains("not written by mfgsim"),
            "{e}"
        );
        std::fs::create_dir(d.join("sub.json")).unwrap();
        let e = check_replaceable(&d.join("sub.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory"), "{e}");
    }

    #[test]
    fn a_part_dir_is_cleared_only_when_every_entry_is_ours() {
        let dir = tempfile::tempdir().unwrap();
        let parts = dir.path().join("parts");
        std::fs::create_dir(&parts).unwrap();
        tiny_parquet(&parts.join("part-00000.parquet"));
        tiny_parquet(&parts.join("part-00001.parquet"));
        std::fs::write(parts.join(".part-00002.parquet.tmp-5-9"), "half").unwrap();
        std::fs::write(parts.join("mine.txt"), "x").unwrap();
        let e = clear_part_dir(&parts).unwrap_err().to_string();
        assert!(
            e.contains("mine.txt") && e.contains("1 foreign entry"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_dir(&parts).unwrap().count(),
            4,
            "nothing removed"
        );
        // An mfgsim table under a part name it would not write is still ours only by name.
        tiny_parquet(&parts.join("results.parquet"));
        let e = clear_part_dir(&parts).unwrap_err().to_string();
        assert!(e.contains("2 foreign entries"), "{e}");
        std::fs::remove_file(parts.join("mine.txt")).unwrap();
        std::fs::remove_file(parts.join("results.parquet")).unwrap();
        clear_part_dir(&parts).unwrap();
        assert!(!parts.exists());
        clear_part_dir(&parts).unwrap();
        std::fs::write(&parts, "a file").unwrap();
        assert!(clear_part_dir(&parts).is_err());
    }
}
