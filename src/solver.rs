//! T-BR (Algorithm 1 of Lee et al. 2021): trembling-hand best-response iteration on the mean
//! field.
//!
//! # Formula
//! ```text
//! Q*_{z_k}  = fixed point of F_{z_k}         (TQ-value iteration, warm-started from Q*_{z_{k-1}})
//! μ_k       = π^ε(Q*_{z_k})
//! z_{k+1}   = Φ(z_k, μ_k)
//! ```
//! Stops when ||z_{k+1} − z_k||_1 < `tol` ([`Termination::Converged`]), when z_{k+1} comes back
//! within `tol` of an earlier z_j, j < k, while still moving ([`Termination::Cycle`]), or after
//! `max_iterations` ([`Termination::IterationCap`]). A TQ-value iteration that spends
//! `max_tq_sweeps` without meeting `tq_tol` (or certifying its greedy actions) ends the run at
//! once ([`Termination::TqSweepCap`]): the policy it produced need not be the best response, so
//! the mean-field path after it is not T-BR's. Only [`Termination::Converged`] is
//! convergence; every other termination comes with [`Termination::advice`]. Under strategic complementarities
//! ([`crate::check`]) the lowest start converges to the least T-MFE and the highest start to
//! the greatest.

use crate::error::{Error, Result};
use crate::model::{mean_state, GameParams, KernelTables, Model};
use crate::operator::tq_value::TqIteration;
use crate::operator::trembling::write_trembling_policy;
use crate::operator::{exploitability, phi, Exploitability};
use crate::space::{l1_distance, on_simplex, point_mass, uniform, Policy, QTable};

/// Number of past mean fields remembered for cycle detection.
pub const CYCLE_MEMORY: usize = 64;

/// Solver knobs (scenario table `[solver]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SolverParams {
    /// Stop T-BR when ||z_{k+1} − z_k||_1 < tol. Default 1e-11.
    pub tol: f64,
    /// Cap on T-BR iterations. Default 10 000.
    pub max_iterations: usize,
    /// Sup-norm tolerance of each TQ-value iteration. Default 1e-12 (the reference's).
    pub tq_tol: f64,
    /// Cap on F_z applications per TQ-value iteration. Default 100 000.
    pub max_tq_sweeps: usize,
    /// Stop each intermediate TQ-value iteration as soon as the greedy actions of Q*_{z_k}
    /// are certain (see [`TqIteration::run_until_greedy_certain`]): the mean-field trajectory
    /// is identical, T-BR is several times faster. The returned Q*_z always meets `tq_tol`.
    /// Default true.
    pub certify_greedy: bool,
}

impl Default for SolverParams {
    fn default() -> Self {
        SolverParams {
            tol: 1e-11,
            max_iterations: 10_000,
            tq_tol: 1e-12,
            max_tq_sweeps: 100_000,
            certify_greedy: true,
        }
    }
}

impl SolverParams {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Param`] naming the first invalid key.
    pub fn validate(&self) -> Result<()> {
        for (key, v) in [("tol", self.tol), ("tq_tol", self.tq_tol)] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(Error::param(key, format!("must be > 0, got {v}")));
            }
        }
        for (key, v) in [
            ("max_iterations", self.max_iterations),
            ("max_tq_sweeps", self.max_tq_sweeps),
        ] {
            if v == 0 {
                return Err(Error::param(key, "must be >= 1"));
            }
        }
        Ok(())
    }
}

/// Where T-BR starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// The uniform mean field (default).
    Uniform,
    /// All mass on state 0: converges to the least T-MFE under strategic complementarities.
    Lowest,
    /// All mass on the top state: converges to the greatest T-MFE.
    Highest,
    /// A given distribution over states.
    Given(Vec<f64>),
}

impl Start {
    /// The start vector for `num_states` states.
    ///
    /// # Errors
    /// [`Error::Solver`] when a given vector has the wrong length or is not on the simplex.
    pub fn vector(&self, num_states: usize) -> Result<Vec<f64>> {
        Ok(match self {
            Start::Uniform => uniform(num_states),
            Start::Lowest => point_mass(num_states, 0),
            Start::Highest => point_mass(num_states, num_states - 1),
            Start::Given(z) => {
                if z.len() != num_states {
                    return Err(Error::Solver(format!(
                        "start vector has {} entries, the model has {num_states} states",
                        z.len()
                    )));
                }
                if !on_simplex(z, 1e-9) {
                    return Err(Error::Solver(
                        "start vector must be non-negative and sum to 1".into(),
                    ));
                }
                // Accepted within 1e-9: divided by its sum so that T-BR conserves mass
                // exactly (Φ keeps the sum of z).
                let sum: f64 = z.iter().sum();
                z.iter().map(|x| x / sum).collect()
            }
        })
    }

    /// Short label: `uniform`, `lowest`, `highest` or `given`.
    pub fn label(&self) -> &'static str {
        match self {
            Start::Uniform => "uniform",
            Start::Lowest => "lowest",
            Start::Highest => "highest",
            Start::Given(_) => "given",
        }
    }
}

/// Why T-BR stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Termination {
    /// ||z_{k+1} − z_k||_1 < tol.
    Converged,
    /// `max_iterations` reached without convergence.
    IterationCap,
    /// z came back to an earlier value: a cycle of this period (≥ 2).
    Cycle {
        /// Cycle length in iterations.
        period: usize,
    },
    /// A TQ-value iteration used `max_tq_sweeps` applications of F_z with its sup-norm change
    /// still above `tq_tol` (and its greedy actions not certified).
    TqSweepCap {
        /// The T-BR iteration whose TQ-value iteration hit the cap (`iterations + 1` for the
        /// final best response at the returned z).
        iteration: usize,
        /// ||F_z(Q) − Q||_∞ after the last sweep.
        residual: f64,
    },
}

impl Termination {
    /// Human-readable reason.
    pub fn describe(&self) -> String {
        match self {
            Termination::Converged => "tolerance met".into(),
            Termination::IterationCap => "iteration cap reached".into(),
            Termination::Cycle { period } => format!("cycle of period {period} detected"),
            Termination::TqSweepCap {
                iteration,
                residual,
            } => format!(
                "TQ-value iteration hit the sweep cap at T-BR iteration {iteration} \
                 (change {residual:.2e} per sweep)"
            ),
        }
    }

    /// `converged`, `iteration_cap`, `cycle` or `tq_sweep_cap`.
    pub fn kind(&self) -> &'static str {
        match self {
            Termination::Converged => "converged",
            Termination::IterationCap => "iteration_cap",
            Termination::Cycle { .. } => "cycle",
            Termination::TqSweepCap { .. } => "tq_sweep_cap",
        }
    }

    /// What to change for a run that did not converge (`None` when it did), naming the
    /// scenario keys and their values in `params` / `game`.
    pub fn advice(&self, params: &SolverParams, game: GameParams) -> Option<String> {
        match self {
            Termination::Converged => None,
            Termination::IterationCap => Some(format!(
                "raise solver.max_iterations (now {}) or loosen solver.tol (now {:e})",
                params.max_iterations, params.tol
            )),
            Termination::Cycle { period } => Some(format!(
                "T-BR is cycling (period {period}): the model may lack strategic \
                 complementarities (see `mfgsim check`); start from solver.start = \
                 \"lowest\" or \"highest\", or raise model.epsilon (now {})",
                game.epsilon
            )),
            Termination::TqSweepCap { .. } => Some(format!(
                "raise solver.max_tq_sweeps (now {}; TQ-value iteration needs about \
                 ln(1/tq_tol)/(1 - gamma) = {:.0} sweeps), lower model.gamma (now {}) or \
                 loosen solver.tq_tol (now {:e})",
                params.max_tq_sweeps,
                (1.0 / params.tq_tol).ln() / (1.0 - game.gamma),
                game.gamma,
                params.tq_tol
            )),
        }
    }
}

/// One T-BR iteration: z_k was produced from z_{k−1}.
#[derive(Debug, Clone, PartialEq)]
pub struct IterationRecord {
    /// k (1-based; k = 0 is the start and has no record).
    pub iteration: usize,
    /// z_k.
    pub z: Vec<f64>,
    /// ||z_k − z_{k−1}||_1.
    pub delta_l1: f64,
    /// F-applications spent computing Q*_{z_{k−1}}.
    pub tq_sweeps: usize,
    /// Σ_s s·z_k(s).
    pub mean_state: f64,
}

/// Result of a T-BR run.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Where it started.
    pub start: Vec<f64>,
    /// Why it stopped.
    pub termination: Termination,
    /// Per-iteration trace.
    pub trace: Vec<IterationRecord>,
    /// The returned mean field z (the last iterate).
    pub z: Vec<f64>,
    /// Q*_z (TQ-value iteration at the returned z).
    pub q: QTable,
    /// μ = π^ε(Q*_z).
    pub policy: Policy,
    /// ||Φ(z, μ) − z||_1.
    pub consistency_l1: f64,
    /// Exploitability of μ at z.
    pub exploitability: Exploitability,
    /// Σ_s s·z(s).
    pub mean_state: f64,
    /// What to change when T-BR did not converge ([`Termination::advice`]).
    pub advice: Option<String>,
    /// Accuracy of the exploitabilities ([`exploitability_tol`]).
    pub exploitability_tol: f64,
}

/// The scalar results of a [`Solution`] and its final mean field, as written to
/// `summary.json` (the trace and tables go to Parquet files).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SolutionSummary {
    /// True when the tolerance was met.
    pub converged: bool,
    /// Why T-BR stopped, in words.
    pub termination: String,
    /// `converged`, `iteration_cap`, `cycle` or `tq_sweep_cap`.
    pub termination_kind: &'static str,
    /// Period of the detected cycle, if any.
    pub cycle_period: Option<usize>,
    /// What to change when T-BR did not converge (see [`Termination::advice`]).
    pub advice: Option<String>,
    /// T-BR iterations made.
    pub iterations: usize,
    /// |S|.
    pub num_states: usize,
    /// |A|.
    pub num_actions: usize,
    /// The start z_0.
    pub start: Vec<f64>,
    /// The returned z.
    pub z: Vec<f64>,
    /// Σ_s s·z(s).
    pub mean_state: f64,
    /// Greedy action of μ per state.
    pub greedy_action: Vec<usize>,
    /// ||z_K − z_{K−1}||_1 of the last iteration.
    pub last_delta_l1: Option<f64>,
    /// ||Φ(z, μ) − z||_1.
    pub consistency_l1: f64,
    /// max_s exploitability of μ at z.
    pub exploitability: f64,
    /// z-weighted exploitability of μ at z.
    pub exploitability_weighted: f64,
    /// Accuracy of the exploitabilities: tq_tol / (1 − γ) bounds the error of Q*_z, so values
    /// of magnitude below it are zero up to rounding (shown as zero).
    pub exploitability_tol: f64,
}

impl SolutionSummary {
    /// The summary of `sol`.
    pub fn of(sol: &Solution) -> Self {
        let period = match sol.termination {
            Termination::Cycle { period } => Some(period),
            _ => None,
        };
        SolutionSummary {
            converged: sol.converged(),
            termination: sol.termination.describe(),
            termination_kind: sol.termination.kind(),
            cycle_period: period,
            advice: sol.advice.clone(),
            iterations: sol.iterations(),
            num_states: sol.q.num_states(),
            num_actions: sol.q.num_actions(),
            start: sol.start.clone(),
            z: sol.z.clone(),
            mean_state: sol.mean_state,
            greedy_action: sol.policy.greedy.clone(),
            last_delta_l1: sol.trace.last().map(|r| r.delta_l1),
            consistency_l1: sol.consistency_l1,
            exploitability: sol.exploitability.max,
            exploitability_weighted: sol.exploitability.weighted,
            exploitability_tol: sol.exploitability_tol,
        }
    }
}

/// The accuracy of an exploitability computed from a Q*_z that meets `tq_tol`:
/// ||Q − Q*_z||_∞ ≤ γ·tq_tol/(1 − γ) < tq_tol/(1 − γ) (a factor 4 covers both value
/// functions the difference is made of, and rounding).
pub fn exploitability_tol(params: &SolverParams, game: GameParams) -> f64 {
    4.0 * params.tq_tol / (1.0 - game.gamma)
}

impl Solution {
    /// True when the tolerance was met.
    pub fn converged(&self) -> bool {
        self.termination == Termination::Converged
    }

    /// Number of T-BR iterations made.
    pub fn iterations(&self) -> usize {
        self.trace.len()
    }
}

/// Runs T-BR for `model` from `start`. Deterministic.
///
/// # Errors
/// [`Error::Param`] for invalid `params`, [`Error::Solver`] for a bad start vector.
pub fn solve(
    model: &(impl Model + ?Sized),
    game: GameParams,
    params: &SolverParams,
    start: &Start,
) -> Result<Solution> {
    solve_observed(model, game, params, start, &mut |_| {})
}

/// [`solve`], calling `on_iteration` with each iteration's record as it is made (for
/// progress displays; it cannot change the run).
///
/// # Errors
/// As [`solve`].
pub fn solve_observed(
    model: &(impl Model + ?Sized),
    game: GameParams,
    params: &SolverParams,
    start: &Start,
    on_iteration: &mut dyn FnMut(&IterationRecord),
) -> Result<Solution> {
    params.validate()?;
    let (ns, na) = (model.num_states(), model.num_actions());
    let z0 = start.vector(ns)?;
    let mut z = z0.clone();
    let mut next = vec![0.0; ns];
    let mut tables = KernelTables::new(ns, na);
    let mut tq = TqIteration::new();
    let mut q = QTable::zeros(ns, na);
    let mut policy = Policy::uniform(ns, na);
    let mut trace = Vec::new();
    let mut memory: std::collections::VecDeque<Vec<f64>> = std::collections::VecDeque::new();
    let mut termination = Termination::IterationCap;

    for k in 1..=params.max_iterations {
        model.fill_tables(&z, &mut tables);
        let out = if params.certify_greedy {
            tq.run_until_greedy_certain(&tables, game, &mut q, params.tq_tol, params.max_tq_sweeps)
        } else {
            tq.run(&tables, game, &mut q, params.tq_tol, params.max_tq_sweeps)
        };
        if !out.greedy_certified {
            // The policy below need not be the best response to z: stop here.
            termination = Termination::TqSweepCap {
                iteration: k,
                residual: out.residual,
            };
            break;
        }
        write_trembling_policy(&q, game.epsilon, &mut policy);
        phi(&tables, &z, &policy, &mut next);
        let delta = l1_distance(&next, &z);
        trace.push(IterationRecord {
            iteration: k,
            z: next.clone(),
            delta_l1: delta,
            tq_sweeps: out.sweeps,
            mean_state: mean_state(&next),
        });
        if let Some(last) = trace.last() {
            on_iteration(last);
        }
        if delta < params.tol {
            std::mem::swap(&mut z, &mut next);
            termination = Termination::Converged;
            break;
        }
        // z_{k+1} back near some z_j with j < k: a cycle of period k − j.
        if let Some(back) = memory
            .iter()
            .rev()
            .position(|old| l1_distance(old, &next) < params.tol)
        {
            std::mem::swap(&mut z, &mut next);
            termination = Termination::Cycle { period: back + 2 };
            break;
        }
        if memory.len() == CYCLE_MEMORY {
            memory.pop_front();
        }
        memory.push_back(std::mem::replace(&mut z, next.clone()));
    }

    // Best response at the returned z.
    model.fill_tables(&z, &mut tables);
    let last = tq.run(&tables, game, &mut q, params.tq_tol, params.max_tq_sweeps);
    if !last.converged && termination == Termination::Converged {
        termination = Termination::TqSweepCap {
            iteration: trace.len() + 1,
            residual: last.residual,
        };
    }
    write_trembling_policy(&q, game.epsilon, &mut policy);
    phi(&tables, &z, &policy, &mut next);
    let consistency_l1 = l1_distance(&next, &z);
    let expl = exploitability(&tables, game, &policy, &z, &q);
    Ok(Solution {
        advice: termination.advice(params, game),
        exploitability_tol: exploitability_tol(params, game),
        start: z0,
        termination,
        trace,
        mean_state: mean_state(&z),
        z,
        q,
        policy,
        consistency_l1,
        exploitability: expl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Gig;

    #[test]
    fn bad_start_is_an_error() {
        let m = Gig::default();
        let e = solve(
            &m,
            GameParams::default(),
            &SolverParams::default(),
            &Start::Given(vec![0.5; 3]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("3 entries"), "{e}");
    }

    #[test]
    fn certified_greedy_gives_the_same_mean_field_path() {
        for m in [
            Box::new(crate::model::Infection::default()) as Box<dyn Model>,
            Box::new(Gig::default()),
        ] {
            let fast = SolverParams::default();
            let slow = SolverParams {
                certify_greedy: false,
                ..fast.clone()
            };
            let a = solve(m.as_ref(), GameParams::default(), &fast, &Start::Uniform).unwrap();
            let b = solve(m.as_ref(), GameParams::default(), &slow, &Start::Uniform).unwrap();
            assert_eq!(a.trace.len(), b.trace.len());
            for (x, y) in a.trace.iter().zip(&b.trace) {
                assert_eq!(x.z, y.z, "iteration {}", x.iteration);
            }
            assert_eq!(a.z, b.z);
            let (sa, sb): (usize, usize) = (
                a.trace.iter().map(|r| r.tq_sweeps).sum(),
                b.trace.iter().map(|r| r.tq_sweeps).sum(),
            );
            assert!(sa * 2 < sb, "certified {sa} sweeps vs {sb}");
        }
    }

    #[test]
    fn iteration_cap_is_reported() {
        let m = Gig::default();
        let p = SolverParams {
            max_iterations: 2,
            ..Default::default()
        };
        let sol = solve(&m, GameParams::default(), &p, &Start::Uniform).unwrap();
        assert_eq!(sol.termination, Termination::IterationCap);
        assert_eq!(sol.iterations(), 2);
    }

    #[test]
    fn a_capped_tq_iteration_is_not_convergence() {
        // gig at γ = 0.999999 needs ~2.8e7 sweeps per TQ-value iteration; before the
        // TqSweepCap termination this reported "converged" with exploitability −303.6.
        let m = Gig::default();
        let game = GameParams::try_new(0.999999, 0.1).unwrap();
        let p = SolverParams::default();
        let sol = solve(&m, game, &p, &Start::Uniform).unwrap();
        assert!(!sol.converged());
        match sol.termination {
            Termination::TqSweepCap {
                iteration,
                residual,
            } => {
                assert_eq!(iteration, 1);
                assert!(residual > p.tq_tol, "{residual}");
            }
            other => panic!("{other:?}"),
        }
        let advice = sol.advice.unwrap();
        assert!(
            advice.contains("solver.max_tq_sweeps (now 100000"),
            "{advice}"
        );
        assert_eq!(
            SolutionSummary::of(&solve(&m, GameParams::default(), &p, &Start::Uniform).unwrap())
                .advice,
            None
        );
    }

    #[test]
    fn every_termination_but_convergence_says_what_to_change() {
        let (p, g) = (SolverParams::default(), GameParams::default());
        assert_eq!(Termination::Converged.advice(&p, g), None);
        let cap = Termination::IterationCap.advice(&p, g).unwrap();
        assert!(cap.contains("solver.max_iterations (now 10000)"), "{cap}");
        let cyc = Termination::Cycle { period: 2 }.advice(&p, g).unwrap();
        assert!(
            cyc.contains("period 2") && cyc.contains("mfgsim check"),
            "{cyc}"
        );
        let kinds = [
            Termination::Converged.kind(),
            Termination::IterationCap.kind(),
            Termination::Cycle { period: 2 }.kind(),
            Termination::TqSweepCap {
                iteration: 1,
                residual: 1.0,
            }
            .kind(),
        ];
        assert_eq!(
            kinds,
            ["converged", "iteration_cap", "cycle", "tq_sweep_cap"]
        );
    }
}
