//! `equilibria` (the equilibrium census) as a library call.

use std::time::Instant;

use serde::Serialize;

use super::RunInfo;
use crate::census::{census, Census, CensusOptions};
use crate::error::Result;
use crate::scenario::Scenario;

/// What [`equilibria`] found: the [`RunInfo`] keys, then the census (`equilibria`,
/// `cycles`, `attempts`, `starts`, `not_converged`) and the options it ran with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CensusReport {
    /// Common header.
    #[serde(flatten)]
    pub info: RunInfo,
    /// Random starts (besides the extremal, uniform and point-mass ones).
    pub random_starts: usize,
    /// L1 distance below which two end points are one equilibrium.
    pub cluster_tol: f64,
    /// Fictitious play's exploitability and consistency targets in the census.
    pub fp_target: f64,
    /// What was found.
    #[serde(flatten)]
    pub census: Census,
    /// Wall seconds.
    pub seconds: f64,
}

/// The equilibrium census of `sc` (see [`crate::census`]), on the current rayon pool.
///
/// # Errors
/// [`crate::Error::Param`] for invalid options, [`crate::Error::Memory`] when the solver
/// runs would not fit.
pub fn equilibria(sc: &Scenario, opts: &CensusOptions) -> Result<CensusReport> {
    // Every attempt may run at once on the pool: one solver's memory per thread.
    super::check_solver_memory(sc, rayon::current_num_threads() as u64 + 1)?;
    let t0 = Instant::now();
    let c = census(sc.model.as_model(), sc.game, &sc.solver, opts)?;
    Ok(CensusReport {
        info: RunInfo::new("equilibria", sc, opts.seed),
        random_starts: opts.random_starts,
        cluster_tol: opts.cluster_tol,
        fp_target: opts.fp_target,
        census: c,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
