//! Checkpoints of a run sharded over K MPI ranks: one state file per rank and
//! `manifest.json`, written by rank 0 last (the commit point of a checkpoint).
//!
//! ```text
//! rank r writes  state.rank-R-of-K.kITER.ckpt   (its block: agents, their tables; the
//!                                                 shared state, identical on every rank)
//! all-reduce     words[r] = checksum of rank r's file, words[K + r] = its length
//! rank 0 writes  history.bin (appended, synced, as on one process), then manifest.json:
//!                K, the iteration, the run id, every rank's file name, checksum, length
//! rank r removes its file of two checkpoints ago (the manifest names the last one, or, while
//!                rank 0 writes the new manifest, the one before it)
//! ```
//! A resume reads the manifest: another K is refused naming it and both K; each rank
//! verifies its file's checksum and length against it before reading its sections; rank 0
//! removes the rank files the manifest does not name.

use super::format::{io_at, Checksum};
use super::*;
use crate::population::Collective;

/// The manifest of a sharded checkpoint.
pub const MANIFEST_FILE: &str = "manifest.json";

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// [`FORMAT_VERSION`] of the state files.
    pub format_version: u32,
    pub mfgsim_version: String,
    /// K.
    pub ranks: usize,
    /// The iteration every rank's file holds.
    pub iteration: u64,
    /// The run's identity (as in every state file's header and `history.bin`).
    pub run_id: u64,
    /// Rank r's file, in rank order.
    pub files: Vec<RankFile>,
}

/// One rank's state file in a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RankFile {
    pub name: String,
    /// [`Checksum`] of the whole file.
    pub checksum: u64,
    pub bytes: u64,
}

/// The state file of rank `rank` of `ranks` at iteration `k`.
pub(crate) fn rank_state_file(rank: usize, ranks: usize, k: u64) -> String {
    format!("state.rank-{rank}-of-{ranks}.k{k}.ckpt")
}

/// Whether `name` is a rank's state file (`state.rank-…ckpt`).
pub(crate) fn is_rank_state_file(name: &str) -> bool {
    name.starts_with("state.rank-") && name.ends_with(".ckpt")
}

/// The checksum and length of the file at `path`, read in 1 MiB pieces.
pub(crate) fn file_checksum(path: &Path) -> Result<(u64, u64)> {
    let mut f = BufReader::new(File::open(path).map_err(io_at(path))?);
    let mut c = Checksum::new();
    let mut buf = vec![0u8; IO_CHUNK];
    loop {
        // Fill whole pieces (multiples of 32 bytes) except the last.
        let mut filled = 0;
        while filled < buf.len() {
            let n = f.read(&mut buf[filled..]).map_err(io_at(path))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        c.feed(&buf[..filled]);
        if filled < buf.len() {
            return Ok((c.finish(), c.len));
        }
    }
}

/// Reads `dir/manifest.json`.
///
/// # Errors
/// [`Error::Io`] naming the file when it cannot be read (no sharded checkpoint there);
/// [`Error::Input`] naming it when it is not a manifest.
pub(crate) fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read(&path).map_err(io_at(&path))?;
    serde_json::from_slice(&text).map_err(|e| Error::Input {
        path: path.clone(),
        key: "manifest".into(),
        reason: format!("is not an mfgsim checkpoint manifest: {e}"),
    })
}

/// Refuses, before any collective, to resume the checkpoint in `dir` with `ranks` ranks
/// when its manifest was written by another number of ranks.
///
/// # Errors
/// [`Error::Io`] naming `manifest.json` when it cannot be read (no checkpoint of a sharded
/// run there), [`Error::Input`] naming it when it is not a manifest, or naming it and both K.
pub fn check_sharded_resume(dir: &Path, ranks: usize) -> Result<()> {
    let m = read_manifest(dir)?;
    if m.ranks != ranks {
        return Err(Error::Input {
            path: dir.join(MANIFEST_FILE),
            key: "ranks".into(),
            reason: format!(
                "the checkpoint was written by {} ranks, this run has {ranks}; resume with \
                 mpirun -n {} (each rank's agents are in its own file)",
                m.ranks, m.ranks
            ),
        });
    }
    Ok(())
}

/// Agrees on one `u64` over the ranks: rank 0's `value`.
pub(crate) fn from_rank_zero(comm: &dyn Collective, value: u64) -> u64 {
    let mut w = [if comm.rank() == 0 { value } else { 0 }];
    comm.all_reduce_sum(&mut w);
    w[0]
}
