//! The run layer: every command of the binary as a library call.
//!
//! Each function takes a validated [`Scenario`] plus its options, a stop flag (polled between
//! units of work; a stopped run returns what it finished, marked `interrupted`) and, for long
//! runs, a progress callback; it returns a report that derives `Serialize`. A command's
//! `summary.json` is its serialized report, and every report starts with the same
//! [`RunInfo`] keys (`command`, `scenario`, `scenario_file`, `mfgsim_version`, `seed`,
//! `threads`). The binary only parses flags, draws progress bars, handles Ctrl-C and writes
//! files; the Python package and the sweep command call exactly these functions.
//!
//! * [`solve`]: exact T-MFE by T-BR (one start, or the least and greatest T-MFE);
//! * [`check`]: the strategic-complementarity checker (Definition 1);
//! * [`learn`]: any learning algorithm of `[learner] algo`, evaluated every iteration;
//! * [`finite_n`]: the finite-N study.
//! * [`checkpoint`]: checkpoints of `learn` ([`learn_checkpointed`]) and the journal of a
//!   study's finished runs ([`finite_n_resumed`]); a resumed run ends bitwise as an
//!   uninterrupted one, since every random stream is keyed by (seed, purpose, step, chunk).
//!
//! Work runs on the current rayon pool (`pool.install(|| run::learn(…))` picks the thread
//! count); results do not depend on it.
//!
//! # Example
//! ```
//! use std::sync::atomic::AtomicBool;
//! use mfgsim::run;
//! use mfgsim::scenario::Scenario;
//!
//! let overrides = ["learner.algo=gmbl".to_string(), "sim.iterations=5".to_string()];
//! let sc = Scenario::load("scenarios/gig.toml".as_ref(), &overrides)?;
//! let report = run::learn(&sc, &run::LearnOptions::default(), &AtomicBool::new(false), &mut |_, _| Ok(()))?;
//! assert_eq!(report.iterations, 5);
//! assert_eq!(report.info.command, "learn");
//! let summary = serde_json::to_value(&report).unwrap();
//! assert_eq!(summary["algo"], "gmbl");
//! assert_eq!(summary["ledger"]["generative_samples"], 5 * 100_000 * 10 * 4);
//! # Ok::<(), mfgsim::Error>(())
//! ```

pub mod checkpoint;
mod learn;
mod solve;
mod study;

pub use checkpoint::{CheckpointPlan, CheckpointSummary, Interval};
pub use learn::{
    learn, learn_checkpointed, LearnOptions, LearnReport, LearnTimings, StepLatency, TmfeSummary,
};
pub use solve::{check, solve, CheckRun, SolveReport, SolveRun};
pub use study::{finite_n, finite_n_resumed, FiniteNRun};

use serde::Serialize;

use crate::scenario::Scenario;

/// MemAvailable from /proc/meminfo, in bytes (Linux; `None` elsewhere or when unreadable).
pub fn memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Bytes per agent of the agent engine's columns for `num_states` states (u8 or u16 states).
pub(crate) fn engine_bytes_per_agent(num_states: usize) -> u64 {
    use crate::state::StateCode;
    use crate::transition::TransitionBuffer;
    (if num_states <= u8::MAX_STATES {
        TransitionBuffer::<u8>::bytes_per_agent()
    } else {
        TransitionBuffer::<u16>::bytes_per_agent()
    }) as u64
}

/// Refuses a run whose estimate `needed` exceeds 90% of the available memory.
///
/// # Errors
/// [`crate::Error::Memory`] naming `what`, the bytes needed and available.
pub(crate) fn check_memory(
    what: impl FnOnce() -> String,
    needed: u64,
    hint: &str,
) -> crate::Result<()> {
    match memory_available() {
        Some(available) if needed > available / 10 * 9 => Err(crate::Error::Memory {
            what: what(),
            needed,
            available,
            hint: hint.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The keys every report starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunInfo {
    /// `solve`, `check`, `learn` or `finite-n`.
    pub command: &'static str,
    /// The scenario's name.
    pub scenario: String,
    /// The file it was read from.
    pub scenario_file: String,
    /// The crate version that produced the report.
    pub mfgsim_version: &'static str,
    /// The seed of every random stream (the base seed of a study).
    pub seed: u64,
    /// Worker threads of the rayon pool the run used (results do not depend on it).
    pub threads: usize,
}

impl RunInfo {
    /// The header of a `command` run of `sc` with `seed`, on the current rayon pool.
    pub fn new(command: &'static str, sc: &Scenario, seed: u64) -> Self {
        RunInfo {
            command,
            scenario: sc.name.clone(),
            scenario_file: sc.path.display().to_string(),
            mfgsim_version: env!("CARGO_PKG_VERSION"),
            seed,
            threads: rayon::current_num_threads(),
        }
    }
}
