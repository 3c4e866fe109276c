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
//! * [`finite_n`]: the finite-N study;
//! * [`nash_gap`]: the ε-Nash gap of a mean-field strategy among N agents.
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

mod census;
pub mod checkpoint;
mod learn;
mod memory;
mod nash_gap;
mod solve;
mod study;

pub use census::{equilibria, CensusReport};
pub use checkpoint::{
    check_sharded_resume, CheckpointPlan, CheckpointSummary, Interval, MANIFEST_FILE,
};
pub(crate) use learn::preflight as learn_preflight;
pub use learn::{
    learn, learn_checkpointed, learn_memory_bytes, learn_sharded, learn_sharded_checkpointed,
    learn_sharded_preflight, ClosestEquilibrium, LearnOptions, LearnReport, LearnTimings,
    StepLatency, TmfeSummary,
};
pub use nash_gap::{nash_gap, NashGapRun, NashPolicy};
pub use solve::{check, solve, solve_with, CheckRun, SolveReport, SolveRun};
pub use study::{finite_n, finite_n_memory_bytes, finite_n_resumed, finite_n_sharded, FiniteNRun};

pub use memory::{available_memory, memory_available, solver_bytes, PROCESS_BASE_BYTES};
pub(crate) use memory::{
    check_memory, check_solver_memory, engine_bytes_per_agent, snapshot_bytes,
};

use serde::Serialize;

use crate::scenario::Scenario;

/// The keys every report starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RunInfo {
    /// `solve`, `check`, `learn` or `finite-n`.
    pub command: String,
    /// The scenario's name.
    pub scenario: String,
    /// The file it was read from.
    pub scenario_file: String,
    /// The crate version that produced the report.
    pub mfgsim_version: String,
    /// The seed of every random stream (the base seed of a study).
    pub seed: u64,
    /// Worker threads of the rayon pool the run used (results do not depend on it).
    pub threads: usize,
}

impl RunInfo {
    /// The header of a `command` run of `sc` with `seed`, on the current rayon pool.
    pub fn new(command: &'static str, sc: &Scenario, seed: u64) -> Self {
        RunInfo {
            command: command.to_owned(),
            scenario: sc.name.clone(),
            scenario_file: sc.path.display().to_string(),
            mfgsim_version: env!("CARGO_PKG_VERSION").to_owned(),
            seed,
            threads: rayon::current_num_threads(),
        }
    }
}
