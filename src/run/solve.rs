//! `solve` and `check` as library calls.

use std::time::Instant;

use serde::Serialize;

use super::RunInfo;
use crate::check::{check_model, CheckOptions, CheckReport};
use crate::error::Result;
use crate::operator::evaluation::Exploitability;
use crate::scenario::{Scenario, StartSpec};
use crate::solver::{
    solve as tbr, solve_observed, CertifiedAt, IterationRecord, Solution, SolutionSummary,
    SolverAlgo, Start, Termination,
};
use crate::space::{Policy, QTable};

/// One T-BR run of a [`SolveReport`].
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SolveRun {
    /// `uniform`, `lowest`, `highest` or `given`.
    pub start_label: String,
    /// The scalar results.
    #[serde(flatten)]
    pub summary: SolutionSummary,
    /// Wall seconds of the run.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub seconds: f64,
    /// The full solution (trace, Q, μ) for the Parquet outputs; not in `summary.json`
    /// (read back: an empty solution of no states, not converged).
    #[serde(skip, default = "unread_solution")]
    pub solution: Solution,
}

/// The [`Solution`] of a run read back from `summary.json`, which holds only its summary:
/// no states, no trace, not converged.
fn unread_solution() -> Solution {
    Solution {
        algo: SolverAlgo::default(),
        start: Vec::new(),
        termination: Termination::IterationCap,
        trace: Vec::new(),
        z: Vec::new(),
        q: QTable::zeros(0, 0),
        policy: Policy::uniform(0, 0),
        mixed: false,
        consistency_l1: f64::NAN,
        exploitability: Exploitability {
            max: f64::NAN,
            weighted: f64::NAN,
        },
        exploitability_at: CertifiedAt::Unavailable,
        stationary_z: None,
        mean_state: f64::NAN,
        advice: None,
        exploitability_tol: f64::NAN,
    }
}

/// What [`solve`] found. `summary.json` holds the [`RunInfo`] keys, then either the one
/// run's keys (`converged`, `z`, `greedy_action`, …) or `least` and `greatest` objects
/// (start `extremal`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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

/// Called with the start's label and each T-BR iteration's record.
type OnIteration<'a> = dyn FnMut(&'static str, &IterationRecord) + 'a;

fn one(sc: &Scenario, start: &Start, on_iteration: &mut OnIteration<'_>) -> Result<SolveRun> {
    let t0 = Instant::now();
    let label = start.label();
    let solution = solve_observed(sc.model.as_model(), sc.game, &sc.solver, start, &mut |r| {
        on_iteration(label, r)
    })?;
    Ok(SolveRun {
        start_label: start.label().to_owned(),
        summary: SolutionSummary::of(&solution),
        seconds: t0.elapsed().as_secs_f64(),
        solution,
    })
}

/// T-BR (Algorithm 1) from `start` (default: the scenario's `solver.start`).
///
/// # Errors
/// [`crate::Error::Memory`] when T-BR's tables would not fit in the available memory,
/// [`crate::Error::Solver`] for a start vector of the wrong length.
pub fn solve(sc: &Scenario, start: Option<&StartSpec>) -> Result<SolveReport> {
    solve_with(sc, start, &mut |_, _| {})
}

/// [`solve`], calling `on_iteration` with the start's label (`uniform`, `lowest`, …) and
/// each T-BR iteration's record (for progress displays).
///
/// # Errors
/// As [`solve`].
pub fn solve_with(
    sc: &Scenario,
    start: Option<&StartSpec>,
    on_iteration: &mut OnIteration<'_>,
) -> Result<SolveReport> {
    let spec = start.unwrap_or(&sc.start);
    super::check_solver_memory(sc, if *spec == StartSpec::Extremal { 2 } else { 1 })?;
    let info = RunInfo::new("solve", sc, sc.sim.seed);
    let (single, least, greatest) = match spec {
        StartSpec::Single(s) => (Some(one(sc, s, on_iteration)?), None, None),
        StartSpec::Extremal => (
            None,
            Some(one(sc, &Start::Lowest, on_iteration)?),
            Some(one(sc, &Start::Highest, on_iteration)?),
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
    // The solve, then the checker's tables at each pair (about one solver's worth), and
    // two labelled mean fields per random pair.
    super::check_solver_memory(sc, 2)?;
    let model = sc.model.as_model();
    let per_pair = (model.num_states() as u64)
        .saturating_mul(16)
        .saturating_add(160);
    super::check_memory(
        || format!("checking {} random pairs", opts.random_pairs),
        per_pair.saturating_mul(opts.random_pairs as u64),
        "; lower --random-pairs",
    )?;
    let tmfe = tbr(model, sc.game, &sc.solver, &Start::Uniform)?;
    let report = check_model(model, Some(&tmfe.z), opts)?;
    Ok(CheckRun {
        info: RunInfo::new("check", sc, opts.seed),
        all_hold: report.all_hold(),
        report,
    })
}
