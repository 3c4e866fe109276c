//! The crate's error type.
//!
//! Every fallible library function returns [`Result`]. Variants carry enough context to
//! say *where* the problem is (file, key) and *why*; the binary adds its own context with
//! `anyhow` and prints the chain.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in mfgsim's library code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scenario value is invalid: `file: [table] key: reason`.
    #[error("{}: `{key}`: {reason}", file.display())]
    Scenario {
        /// The scenario file (or `<string>` / `<--set>` for in-memory input).
        file: PathBuf,
        /// Dotted key path, e.g. `model.w1_pmf`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A model or game parameter is invalid (raised by `*Params::try_new`).
    #[error("`{key}`: {reason}")]
    Param {
        /// Parameter name, as used in scenario files.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A solver input is inconsistent (e.g. a start vector of the wrong length).
    #[error("solver: {0}")]
    Solver(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An input file other than a scenario (e.g. a study's `summary.json`) lacks a key or
    /// holds a bad value: `file: key: reason`.
    #[error("{}: `{key}`: {reason}", path.display())]
    Input {
        /// The file read.
        path: PathBuf,
        /// Dotted key path, e.g. `fit.slope`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An engine or learner cannot do what was asked (e.g. per-agent actions on the count
    /// engine, whose agents are exchangeable): `engine: reason`.
    #[error("{engine}: {reason}")]
    Unsupported {
        /// The component that refused (e.g. `count engine`).
        engine: &'static str,
        /// What it cannot do, and what to use instead.
        reason: String,
    },
    /// A run would need more memory than the machine has available; refused before
    /// allocating anything.
    #[error(
        "{what} needs about {:.2} GiB but only {:.2} GiB is available ({measured_by}){hint}",
        *needed as f64 / 1073741824.0,
        *available as f64 / 1073741824.0
    )]
    Memory {
        /// What was asked for (e.g. `iql with 10000000 agents`).
        what: String,
        /// Estimated bytes.
        needed: u64,
        /// Bytes available: MemAvailable, or the room under the cgroup limit if lower.
        available: u64,
        /// Where `available` comes from: `MemAvailable` or `the cgroup limit`.
        measured_by: &'static str,
        /// What to do instead (empty, or starting with `; `).
        hint: String,
    },
    /// The caller's stop flag ended a run before it produced anything.
    #[error("interrupted before the first result")]
    Interrupted,
    /// A computed value is NaN or infinite (e.g. rewards so large that the values overflow):
    /// never reported as a result, let alone as converged.
    #[error("{what} is not finite (NaN or infinite){hint}")]
    NonFinite {
        /// What overflowed, e.g. `the Q-values of T-BR at iteration 3`.
        what: String,
        /// What to do instead (empty, or starting with `; `).
        hint: String,
    },
    /// A failure inside a larger job (e.g. one run of a sweep): where it happened, then the
    /// error itself.
    #[error("{context}: {source}")]
    Context {
        /// Where, e.g. `sweep run r0003 (model.gamma=0.5 sim.seed=1)`.
        context: String,
        /// The error of that part.
        #[source]
        source: Box<Error>,
    },
    /// An output directory is locked by another run (see `output::DirLock`); refused before
    /// anything is written.
    #[error(
        "{}: in use by another mfgsim run (pid {holder}); wait for it to finish or choose \
         another output directory (--out)",
        dir.display()
    )]
    Busy {
        /// The output directory.
        dir: PathBuf,
        /// The process id written by the holder (`unknown` when it wrote none yet).
        holder: String,
    },
    /// Encoding or decoding a file's content failed in a library (Parquet, Arrow): its error
    /// is the source, so callers can downcast it.
    #[error("{}: {}{}{source}", path.display(), what, if what.is_empty() { "" } else { ": " })]
    Encode {
        /// The file (or dataset directory) being written or read.
        path: PathBuf,
        /// What was being done (`""` when the path says it all).
        what: &'static str,
        /// The library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An output cannot be written for a reason of mfgsim's (a foreign file, a stopped writer).
    #[error("{}: {reason}", path.display())]
    Output {
        /// The file being written.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    /// Shorthand for [`Error::Encode`].
    pub fn encode(
        path: impl Into<PathBuf>,
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Encode {
            path: path.into(),
            what,
            source: Box::new(source),
        }
    }

    /// Shorthand for [`Error::Param`].
    pub fn param(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Param {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// Re-labels a [`Error::Param`] as a [`Error::Scenario`] error located in `file`, with
    /// `prefix` (e.g. `model`) prepended to the key. Other variants pass through.
    pub fn in_file(self, file: &std::path::Path, prefix: &str) -> Self {
        match self {
            Error::Param { key, reason } => Error::Scenario {
                file: file.to_path_buf(),
                key: if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                },
                reason,
            },
            other => other,
        }
    }
}
