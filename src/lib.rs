#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod census;
pub mod check;
pub mod error;
pub mod finite_n;
pub mod json;
pub mod learner;
pub mod model;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod nash_gap;
pub mod operator;
pub mod output;
pub mod persist;
pub mod population;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod solver;
pub mod space;
pub mod state;
pub mod stats;
pub mod sweep;
#[cfg(test)]
mod test_util;
pub mod tol;
pub mod transition;

pub use error::{Error, Result};
pub use model::{GameParams, KernelTables, Model};
pub use solver::{solve, Solution, SolverParams, Start, Termination};
