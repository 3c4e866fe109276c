//! The single integration-test binary (see `Cargo.toml`: `autotests = false`).

mod checkpoint;
mod cli;
mod determinism;
mod finite_n;
mod invariants;
mod plot;
mod reference;
mod sweep;
mod util;
