//! The single integration-test binary (see `Cargo.toml`: `autotests = false`).

mod adoption;
mod bad_inputs;
mod certificates;
mod checkpoint;
mod cli;
mod determinism;
mod finite_n;
mod fuzz_corpus;
mod golden;
mod invariants;
mod memory;
#[cfg(feature = "mpi")]
mod mpi;
mod nash_gap;
mod plot;
mod reference;
mod reports;
mod sweep;
mod util;
