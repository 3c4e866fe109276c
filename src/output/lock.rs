//! One run per output directory: an advisory lock taken before anything is written.
//!
//! [`DirLock::acquire`] creates the directory when needed and locks `DIR/.mfgsim.lock`
//! (`flock`-style, through [`std::fs::File::try_lock`]); the holder writes its process id
//! into the file. A second run into the same directory, from another process or another
//! thread, is refused with [`Error::Busy`] naming that pid, before it writes anything. The
//! lock is released when the [`DirLock`] is dropped (also on a panic, and by the kernel when
//! the process dies), and the lock file is removed then.
//!
//! The lock file is never opened through a symbolic link: it is created with `create_new`
//! (which fails on any existing name, a dangling link included), and an existing one is
//! opened only when the name and the opened file are the same inode.
//!
//! # Example
//! ```
//! use mfgsim::output::DirLock;
//! let tmp = tempfile::tempdir()?;
//! let dir = tmp.path().join("run");
//! let lock = DirLock::acquire(&dir)?;
//! let err = DirLock::acquire(&dir).unwrap_err().to_string();
//! assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
//! drop(lock);
//! let _again = DirLock::acquire(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::io_error;
use crate::error::{Error, Result};

/// The lock file's name inside an output directory.
pub const LOCK_FILE: &str = ".mfgsim.lock";

/// The lock on an output directory; see the module docs.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    path: PathBuf,
    /// Held open: closing it releases the lock.
    file: Option<File>,
    /// The directories `acquire` created, deepest first: removed again on drop when left
    /// empty (a refused run leaves no `out/<name>/` behind).
    created: Vec<PathBuf>,
    /// Whether the lock file is unlinked on drop (not for a shared lock: other holders
    /// still hold that file, and a new file would let an exclusive run in beside them).
    unlink: bool,
    /// A shard's own exclusive lock, held beside the shared directory lock.
    shard: Option<Box<DirLock>>,
}

impl DirLock {
    /// Creates `dir` (and its parents) when missing and locks it for this run.
    ///
    /// # Errors
    /// [`Error::Busy`] naming the holder's pid when another run holds the lock;
    /// [`Error::Output`] when `dir` is not a directory or the lock file is a symbolic link
    /// or not a regular file; [`Error::Io`] naming the path otherwise.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        Self::acquire_file(dir, LOCK_FILE, false)
    }

    /// The lock of one shard of a sweep (`name`, e.g. `shard-0-of-4`): the directory lock
    /// taken *shared*, so the other shards of the sweep may run beside it while an
    /// unsharded run (which takes it exclusively) may not, plus an exclusive lock on
    /// `DIR/.mfgsim.<name>.lock`, so one shard runs once at a time.
    ///
    /// # Errors
    /// As [`DirLock::acquire`]: [`Error::Busy`] when an unsharded run holds the directory
    /// or another process runs the same shard.
    pub fn acquire_shard(dir: &Path, name: &str) -> Result<DirLock> {
        let mut shared = Self::acquire_file(dir, LOCK_FILE, true)?;
        let own = Self::acquire_file(dir, &format!(".mfgsim.{name}.lock"), false)?;
        shared.shard = Some(Box::new(own));
        Ok(shared)
    }

    fn acquire_file(dir: &Path, name: &str, shared: bool) -> Result<DirLock> {
        let created: Vec<PathBuf> = dir
            .ancestors()
            .filter(|d| !d.as_os_str().is_empty())
            .take_while(|d| std::fs::symlink_metadata(d).is_err())
            .map(Path::to_path_buf)
            .collect();
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        if !dir.is_dir() {
            return Err(Error::Output {
                path: dir.to_path_buf(),
                reason: "is not a directory".into(),
            });
        }
        let path = dir.join(name);
        // A lock file a dying holder had just unlinked is retried (a few times at most).
        for _ in 0..16 {
            let mut file = open_no_follow(&path)?;
            let tried = if shared {
                file.try_lock_shared()
            } else {
                file.try_lock()
            };
            match tried {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    let holder = text.trim();
                    return Err(Error::Busy {
                        dir: dir.to_path_buf(),
                        holder: if holder.is_empty() {
                            "unknown (shards of a sweep)".into()
                        } else {
                            holder.chars().take(20).collect()
                        },
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io_error(&path)(e)),
            }
            if !same_file(&file, &path) {
                continue;
            }
            if shared {
                return Ok(DirLock {
                    dir: dir.to_path_buf(),
                    path,
                    file: Some(file),
                    created: Vec::new(),
                    unlink: false,
                    shard: None,
                });
            }
            file.set_len(0).map_err(io_error(&path))?;
            file.seek(SeekFrom::Start(0)).map_err(io_error(&path))?;
            write!(file, "{}", std::process::id()).map_err(io_error(&path))?;
            file.flush().map_err(io_error(&path))?;
            return Ok(DirLock {
                dir: dir.to_path_buf(),
                path,
                file: Some(file),
                created,
                unlink: true,
                shard: None,
            });
        }
        Err(Error::Output {
            path,
            reason: "the lock file keeps being replaced; is another run starting and \
                     stopping there?"
                .into(),
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        drop(self.shard.take());
        if let Some(file) = self.file.take() {
            // Unlink while still holding the lock: a run that opened the old file and
            // locks it after us sees that the name moved on and tries again.
            if self.unlink && same_file(&file, &self.path) {
                let _ = std::fs::remove_file(&self.path);
            }
            drop(file);
            // Each removal only succeeds when the refused or failed run left nothing there.
            for d in &self.created {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
            }
        }
    }
}

/// Opens (creating when missing) the lock file, never through a symbolic link.
fn open_no_follow(path: &Path) -> Result<File> {
    let new = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path);
    match new {
        Ok(f) => return Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error(path)(e)),
    }
    let meta = std::fs::symlink_metadata(path).map_err(io_error(path))?;
    if !meta.file_type().is_file() {
        return Err(not_a_plain_file(path, &meta));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    if !same_file(&file, path) {
        return Err(Error::Output {
            path: path.to_path_buf(),
            reason: "changed while being opened (a symbolic link?); refusing to use it".into(),
        });
    }
    Ok(file)
}

/// The refusal for a name that is a symbolic link or not a regular file.
pub(crate) fn not_a_plain_file(path: &Path, meta: &std::fs::Metadata) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        reason: if meta.file_type().is_symlink() {
            "is a symbolic link; mfgsim never writes or deletes through a link it did not \
             create: remove it or choose another output directory (--out)"
                .into()
        } else {
            "exists and is not a regular file; refusing to replace it".into()
        },
    }
}

/// True when `path` (not followed) names the file `file` has open.
fn same_file(file: &File, path: &Path) -> bool {
    let (Ok(open), Ok(named)) = (file.metadata(), std::fs::symlink_metadata(path)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        named.file_type().is_file() && open.dev() == named.dev() && open.ino() == named.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = open;
        named.file_type().is_file()
    }
}

/// Makes `dir` a real directory inside an output directory: created when missing, refused
/// when it is a symbolic link (even to a directory) or not a directory.
///
/// # Errors
/// [`Error::Output`] naming `dir`; [`Error::Io`] when it cannot be created.
pub fn ensure_real_dir(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_dir() => Ok(()),
        Ok(m) if m.file_type().is_symlink() => Err(not_a_plain_file(dir, &m)),
        Ok(_) => Err(Error::Output {
            path: dir.to_path_buf(),
            reason: "exists and is not a directory; refusing to write into it".into(),
        }),
        Err(_) => {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
            match std::fs::symlink_metadata(dir) {
                Ok(m) if m.file_type().is_dir() => Ok(()),
                Ok(m) => Err(not_a_plain_file(dir, &m)),
                Err(e) => Err(io_error(dir)(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_of_a_sweep_share_the_directory_but_not_a_shard_or_an_unsharded_run() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sweep");
        let a = DirLock::acquire_shard(&dir, "shard-0-of-2").unwrap();
        let b = DirLock::acquire_shard(&dir, "shard-1-of-2").unwrap();
        assert!(DirLock::acquire_shard(&dir, "shard-0-of-2").is_err());
        let e = DirLock::acquire(&dir).unwrap_err();
        assert!(matches!(e, Error::Busy { .. }), "{e:?}");
        drop(a);
        // One shard gone, the other still holds the directory (its lock file stays).
        assert!(DirLock::acquire(&dir).is_err());
        drop(b);
        let whole = DirLock::acquire(&dir).unwrap();
        assert!(DirLock::acquire_shard(&dir, "shard-0-of-2").is_err());
        drop(whole);
        drop(DirLock::acquire_shard(&dir, "shard-0-of-2").unwrap());
    }

    #[test]
    fn a_second_lock_is_refused_with_the_pid_and_released_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let lock = DirLock::acquire(&dir).unwrap();
        assert_eq!(lock.created, [dir.clone(), tmp.path().join("a")]);
        assert_eq!(
            std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap(),
            std::process::id().to_string()
        );
        let e = DirLock::acquire(&dir).unwrap_err();
        assert!(matches!(e, Error::Busy { .. }), "{e:?}");
        let e = e.to_string();
        assert!(
            e.contains(&format!("pid {}", std::process::id())) && e.contains("a/b"),
            "{e}"
        );
        // From another thread too.
        let d = dir.clone();
        assert!(std::thread::spawn(move || DirLock::acquire(&d).is_err())
            .join()
            .unwrap());
        drop(lock);
        // The directories it created, left empty, are gone with the lock.
        assert!(!tmp.path().join("a").exists());
        let lock = DirLock::acquire(&dir).unwrap();
        std::fs::write(dir.join("kept"), "x").unwrap();
        drop(lock);
        assert!(dir.join("kept").exists() && !dir.join(LOCK_FILE).exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_lock_link_is_refused_and_its_target_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(LOCK_FILE)).unwrap();
        let e = DirLock::acquire(&dir).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        std::fs::create_dir(tmp.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), dir.join("runs")).unwrap();
        let e = ensure_real_dir(&dir.join("runs")).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        ensure_real_dir(&dir.join("new/sub")).unwrap();
        assert!(dir.join("new/sub").is_dir());
    }
}
