//! Writing the encoded parts: [`TransitionsExport`], the encoder on the calling thread and a
//! writer thread that commits each part file.

use std::path::{Path, PathBuf};

use super::{EncodedPart, StepTransitions, TransitionsEncoder};
use crate::error::{Error, Result};
use crate::output::table::{open_part_dir, PartSummary, PartWriter};
use crate::output::AtomicFile;

/// A part the writer thread committed: index, path, rows.
type WrittenPart = (usize, PathBuf, usize);

/// The transitions export of a learning run: a [`TransitionsEncoder`] on the calling
/// thread (its pages on the rayon pool) and a writer thread that writes each closed part as
/// `DIR/part-NNNNN.parquet`, or `DIR/part-rRRRRR-NNNNN.parquet` for rank R of a population
/// sharded over MPI ranks (an [`AtomicFile`]: a killed run leaves closed parts only).
#[derive(Debug)]
pub struct TransitionsExport {
    dir: PathBuf,
    encoder: Option<TransitionsEncoder>,
    sender: Option<crossbeam_channel::Sender<EncodedPart>>,
    handle: Option<std::thread::JoinHandle<Result<Vec<WrittenPart>>>>,
}

impl TransitionsExport {
    /// Starts writing the parts of `encoder` into its directory (created if missing).
    ///
    /// # Errors
    /// [`Error::Output`] when the directory already holds part files; [`Error::Io`] when it
    /// cannot be created or the writer thread cannot be spawned.
    pub fn try_new(encoder: TransitionsEncoder) -> Result<Self> {
        open_part_dir(encoder.dir())?;
        Self::spawn(encoder, None)
    }

    /// As [`TransitionsExport::try_new`] for rank `rank` of a population sharded over MPI
    /// ranks, all writing into the same directory: its parts are
    /// `DIR/part-rRRRRR-NNNNN.parquet` (rank, then part number: no two ranks share a name),
    /// and the directory may already hold other ranks' parts (the caller cleared it before
    /// any rank started), but none of this rank's.
    ///
    /// # Errors
    /// As [`TransitionsExport::try_new`], for this rank's part files.
    pub fn try_new_for_rank(encoder: TransitionsEncoder, rank: usize) -> Result<Self> {
        let dir = encoder.dir().to_path_buf();
        crate::output::ensure_real_dir(&dir)?;
        let prefix = format!("part-r{rank:05}-");
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })? {
            let name = entry
                .map_err(|e| Error::Io {
                    path: dir.clone(),
                    source: e,
                })?
                .file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix) {
                return Err(Error::Output {
                    path: dir.clone(),
                    reason: format!(
                        "already holds rank {rank}'s part files ({name}); remove them or \
                         choose another directory"
                    ),
                });
            }
        }
        Self::spawn(encoder, Some(rank))
    }

    /// The path of part `index` of rank `rank` (or of the one process) in `dir`.
    pub fn part_path(dir: &Path, rank: Option<usize>, index: usize) -> PathBuf {
        match rank {
            Some(r) => dir.join(format!("part-r{r:05}-{index:05}.parquet")),
            None => PartWriter::part_path(dir, index),
        }
    }

    fn spawn(encoder: TransitionsEncoder, rank: Option<usize>) -> Result<Self> {
        let dir = encoder.dir().to_path_buf();
        let dir = dir.as_path();
        // Two parts in flight: the encoder runs ahead of the disk by at most that much.
        let (sender, receiver) = crossbeam_channel::bounded::<EncodedPart>(2);
        let target = dir.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("mfgsim-transitions".into())
            .spawn(move || {
                let mut done = Vec::new();
                for part in receiver {
                    let path = Self::part_path(&target, rank, part.index);
                    let mut file = AtomicFile::create(&path)?;
                    std::io::Write::write_all(&mut file, &part.bytes).map_err(|e| Error::Io {
                        path: path.clone(),
                        source: e,
                    })?;
                    file.commit()?;
                    done.push((part.index, path, part.rows));
                }
                Ok(done)
            })
            .map_err(|e| Error::Io {
                path: dir.to_path_buf(),
                source: e,
            })?;
        Ok(TransitionsExport {
            dir: dir.to_path_buf(),
            encoder: Some(encoder),
            sender: Some(sender),
            handle: Some(handle),
        })
    }

    /// Encodes `step` and queues the parts it closed for writing (blocks while two parts
    /// wait for the disk).
    ///
    /// # Errors
    /// The encoder's errors; the writer thread's error once it stopped on one.
    pub fn push(&mut self, step: &StepTransitions<'_>) -> Result<()> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(self.closed());
        };
        let (sender, dir) = (self.sender.as_ref(), &self.dir);
        let mut stopped = false;
        let pushed = encoder.push(step, &mut |part| {
            if sender.is_some_and(|s| s.send(part).is_ok()) {
                Ok(())
            } else {
                stopped = true;
                Err(writer_stopped(dir))
            }
        });
        if stopped {
            return Err(self.writer_error());
        }
        pushed
    }

    /// Closes the encoder's last part and queues it.
    fn flush_last(&mut self) -> Result<()> {
        let Some(encoder) = self.encoder.take() else {
            return Ok(());
        };
        let Some(part) = encoder.finish()? else {
            return Ok(());
        };
        match self.sender.as_ref().map(|s| s.send(part)) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.writer_error()),
        }
    }

    /// The writer thread's error, once a part could not be queued (it has stopped).
    fn writer_error(&mut self) -> Error {
        self.sender = None;
        self.join().err().unwrap_or_else(|| self.closed())
    }

    fn closed(&self) -> Error {
        writer_stopped(&self.dir)
    }

    /// Closes the last part, waits for the writer and returns the dataset's parts.
    ///
    /// # Errors
    /// As [`TransitionsExport::push`].
    pub fn finish(mut self) -> Result<PartSummary> {
        self.flush_last()?;
        self.join()
    }

    fn join(&mut self) -> Result<PartSummary> {
        self.sender = None;
        let handle = self.handle.take().ok_or_else(|| self.closed())?;
        let mut parts = handle.join().map_err(|_| Error::Output {
            path: self.dir.clone(),
            reason: "the transitions writer thread panicked".into(),
        })??;
        parts.sort_unstable_by_key(|p| p.0);
        Ok(PartSummary {
            dir: self.dir.clone(),
            rows: parts.iter().map(|p| p.2).sum(),
            parts: parts.into_iter().map(|p| p.1).collect(),
        })
    }
}

impl Drop for TransitionsExport {
    /// Closes the last part (also while unwinding) and waits for the writer.
    fn drop(&mut self) {
        let _ = self.flush_last();
        self.sender = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The error of a push or finish after the writer thread stopped.
fn writer_stopped(dir: &Path) -> Error {
    Error::Output {
        path: dir.to_path_buf(),
        reason: "the transitions writer has stopped".into(),
    }
}
