//! `solve` and `check` as library calls.

use std::time::Instant;

use serde::Serialize;

use super::RunInfo;
use crate::check::{check_model, CheckOptions, CheckReport};
use crate::error::Result;
use crate::scenario::{Scenario, StartSpec};
use crate::solver::{solve as tbr, Solution, SolutionSummary, Start};

/// One T-BR run of a [`SolveReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SolveRun {
    /// `uniform`, `lowest`, `highest` or `given`.
    pub start_label: &'static str,
    /// The scalar results.
    #[serde(flatten)]
    pub summary: SolutionSummary,
    /// Wall seconds of the run.
    pub seconds: f64,
    /// The full solution (trace, Q, μ) for the Parquet outputs; not in `summary.json`.
    #[serde(skip)]
    pub solution: Solution,
}

/// What [`solve`] found. `summary.json` holds the [`RunInfo`] keys, then either the one
/// run's keys (`converged`, `z`, `greedy_action`, …) or `least` and `greatest` objects
/// (start `extremal`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SolveReport {
    /// Common header.
    #[serde(flatten)]
    pub info: RunInfo,
    /// True when every run met its tolerance.
    pub all_converged: bool,
    /// The run from a single start.
    #[serde(flatten)]
    pub single: Option<SolveRun>,
    /// From the lowest mean field: the least T-MFE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub least: Option<SolveRun>,
    /// From the highest mean field: the greatest T-MFE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greatest: Option<SolveRun>,
}

impl SolveReport {
    /// The runs with their labels (`""` for a single start, else `least`, `greatest`).
    pub fn runs(&self) -> Vec<(&'static str, &SolveRun)> {
        let mut v = Vec::new();
        if let Some(r) = &self.single {
            v.push(("", r));
        }
        if let Some(r) = &self.least {
            v.push(("least", r));
        }
        if let Some(r) = &self.greatest {
            v.push(("greatest", r));
        }
        v
    }
}

fn one(sc: &Scenario, start: &Start) -> Result<SolveRun> {
    let t0 = Instant::now();
    let solution = tbr(sc.model.as_model(), sc.game, &sc.solver, start)?;
    Ok(SolveRun {
        start_label: start.label(),
        summary: SolutionSummary::of(&solution),
        seconds: t0.elapsed().as_secs_f64(),
        solution,
    })
}

/// T-BR (Algorithm 1) from `start` (default: the scenario's `solver.start`).
///
/// # Errors
/// [`crate::Error::Solver`] for a start vector of the wrong length.
pub fn solve(sc: &Scenario, start: Option<&StartSpec>) -> Result<SolveReport> {
    let spec = start.unwrap_or(&sc.start);
    let info = RunInfo::new("solve", sc, sc.sim.seed);
    let (single, least, greatest) = match spec {
        StartSpec::Single(s) => (Some(one(sc, s)?), None, None),
        StartSpec::Extremal => (
            None,
            Some(one(sc, &Start::Lowest)?),
            Some(one(sc, &Start::Highest)?),
        ),
    };
    let mut report = SolveReport {
        info,
        all_converged: false,
        single,
        least,
        greatest,
    };
    report.all_converged = report.runs().iter().all(|(_, r)| r.summary.converged);
    Ok(report)
}

/// What [`check`] found: the checker's report after the [`RunInfo`] keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckRun {
    /// Common header.
    #[serde(flatten)]
    pub info: RunInfo,
    /// True when every condition holds.
    pub all_hold: bool,
    /// The per-condition report.
    #[serde(flatten)]
    pub report: CheckReport,
}

/// Definition 1's conditions, tested at point masses, the uniform, the T-MFE (solved from
/// uniform) and `opts.random_pairs` random ordered pairs.
///
/// # Errors
/// [`crate::Error::Param`] for invalid options.
pub fn check(sc: &Scenario, opts: &CheckOptions) -> Result<CheckRun> {
    let model = sc.model.as_model();
    let tmfe = tbr(model, sc.game, &sc.solver, &Start::Uniform)?;
    let report = check_model(model, Some(&tmfe.z), opts)?;
    Ok(CheckRun {
        info: RunInfo::new("check", sc, opts.seed),
        all_hold: report.all_hold(),
        report,
    })
}
