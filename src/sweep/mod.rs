//! Parameter sweeps and ensembles: a grid of scenario-key values × seeds, every run through
//! the run layer ([`crate::run`]), its outputs under `DIR/runs/<id>/` and one row per run in
//! `DIR/sweep.parquet`.
//!
//! * **Plan** ([`Sweep::plan`]): the Cartesian product of the grid axes (first axis slowest)
//!   × the seeds `sim.seed + j`, j < `seeds` (fastest; `finite-n`: `sim.seed + j·K`, K its
//!   replicates per N, so no two runs share a replicate). Each run is the base scenario with
//!   `KEY=VALUE` overrides and `sim.seed`; every run's scenario is validated here, before
//!   anything runs, and a bad grid value is reported with its key.
//! * **Run** ([`run_sweep`]): `jobs` runs at a time, each on its own rayon pool of
//!   `threads / jobs` workers (results do not depend on either). A run is finished when its
//!   `summary.json` exists (written last, atomically); a rerun of the same sweep into the same
//!   directory skips finished runs, so a stopped or killed sweep resumes where it was.
//! * **Table**: `sweep.parquet` is rebuilt from the finished runs' `summary.json` files in
//!   run-id order, so a resumed sweep's table equals an uninterrupted one's (apart from the
//!   `seconds` column, which is wall time).
//! * **Shards** ([`Shard`], for a cluster): shard `i` of `n` runs only the runs at plan
//!   positions p ≡ i (mod n) into the shared directory and writes no table; the same sweep
//!   without a shard then runs nothing that is finished and writes the table, equal to an
//!   unsharded sweep's. With [`SweepOptions::collect`] a shard instead waits, after its own
//!   runs, until every other shard's runs are finished and writes the table itself (one
//!   collector per sweep, e.g. MPI rank 0).
//!
//! The directory layout and the table's columns are documented in the README ("Sweeps").
//! This module composes [`crate::run`] and [`crate::output`]; it writes files (only under
//! the sweep directory, and only files it names) and never prints.

mod grid;
mod plan;
mod run;
mod shard;
mod table;
#[cfg(test)]
mod tests;

pub use grid::{GridAxis, SweepCommand};
pub use plan::{PlannedRun, Sweep, SweepSpec, MAX_RUNS};
pub use run::{is_finished, run_sweep, RunDone, SweepOptions, SweepOutcome};
pub use shard::{Shard, ShardSource};
pub use table::{markdown, GroupStats, MetricStats};
