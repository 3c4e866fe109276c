#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod model;
pub mod operator;
pub mod solver;
pub mod space;

pub use error::{Error, Result};
pub use model::{GameParams, KernelTables, Model};
pub use solver::{solve, Solution, SolverParams, Start, Termination};
