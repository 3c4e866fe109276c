//! Exact equilibrium solvers on the mean field: T-BR (Algorithm 1 of Lee et al. 2021),
//! damped T-BR, fictitious play and online mirror descent.
//!
//! # Formula
//! ```text
//! tbr     Q*_{z_k} = fixed point of F_{z_k}  (TQ-value iteration, warm-started)
//!         μ_k = π^ε(Q*_{z_k}),  z_{k+1} = Φ(z_k, μ_k)
//! damped  z_{k+1} = (1 − β) z_k + β Φ(z_k, μ_k)                      (β = solver.damping)
//! fp      μ_k = π^ε(Q*_{z̄_k}),  z_k = z_{μ_k} (the stationary mean field of μ_k)
//!         z̄_{k+1} = z̄_k + (z_k − z̄_k)/(k + 1)
//!         μ̄_{k+1}(s,a) = Σ_{j≤k} z_j(s) μ_j(s,a) / Σ_{j≤k} z_j(s)      (so μ̄ induces z̄)
//! omd     z_k = z_{π_k},  y_{k+1} = y_k + η Q^{π_k}_{z_k}               (η = solver.omd_rate)
//!         π_{k+1} = (1 − c) softmax(y_{k+1}) + c/|A|,  c = |A|ε/(|A| − 1)
//! ```
//! z_μ is the fixed point of Φ(·, μ) reached by iterating it ([`stationary_mean_field`]).
//!
//! T-BR stops when ||z_{k+1} − z_k||_1 < `tol` ([`Termination::Converged`]), when z_{k+1}
//! comes back within `tol` of an earlier z_j, j < k, while still moving
//! ([`Termination::Cycle`]), or after `max_iterations` ([`Termination::IterationCap`]). A
//! TQ-value iteration that spends `max_tq_sweeps` without meeting `tq_tol` (or certifying its
//! greedy actions) ends the run at once ([`Termination::TqSweepCap`]). Damped T-BR stops the
//! same way on the consistency ||Φ(z_k, μ_k) − z_k||_1 < `tol`. Fictitious play and mirror
//! descent stop when the exploitability of their strategy at their mean field is below
//! `target_exploitability` *and* its consistency below `target_consistency`.
//!
//! Only [`Termination::Converged`] is convergence; every other termination comes with
//! [`Termination::advice`], and its end point is certified at its own stationary mean field
//! (see [`Solution::exploitability_at`]), so a non-equilibrium never shows exploitability 0.
//!
//! # Why fictitious play and mirror descent
//! Under strategic complementarities ([`crate::check`]) T-BR from the lowest start converges
//! to the least T-MFE and from the highest to the greatest. Without them (the bundled
//! infection game violates Definition 1), T-BR can cycle, and a T-MFE in Π^ε (one
//! trembling-hand strategy consistent with its own mean field) need not exist. What always
//! exists (Kakutani on the convex hull of Π^ε) is an equilibrium in *mixtures* of
//! trembling-hand strategies; fictitious play averages best responses into such a mixture,
//! and mirror descent moves a softmax strategy inside the same hull: every strategy either
//! returns puts at least ε/(|A| − 1) on every action and at most 1 − ε on any, which is
//! exactly the convex hull of Π^ε (the hull of the vertices "1 − ε on a, ε/(|A| − 1)
//! elsewhere" is {(1 − c)λ + c/|A| : λ in the simplex}, c = |A|ε/(|A| − 1)).

mod fp;
mod omd;
mod stationary;
mod tbr;

pub use stationary::{stationary_mean_field, STATIONARY_MAX_ITERATIONS, STATIONARY_TOL};

use crate::error::{Error, Result};
use crate::model::{mean_state, GameParams, KernelTables, Model};
use crate::operator::tq_value::TqIteration;
use crate::operator::trembling::write_trembling_policy;
use crate::operator::{exploitability, phi, Exploitability};
use crate::space::{l1_distance, on_simplex, point_mass, uniform, Policy, QTable};

/// Number of past mean fields remembered for cycle detection.
pub const CYCLE_MEMORY: usize = 64;

/// The equilibrium algorithm (`[solver] algo`, `solve --algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SolverAlgo {
    /// T-BR, Algorithm 1 of the paper (default).
    #[default]
    Tbr,
    /// Damped T-BR: z_{k+1} = (1 − β) z_k + β Φ(z_k, μ_k).
    Damped,
    /// Fictitious play over trembling-hand best responses (Perrin et al., NeurIPS 2020).
    Fp,
    /// Online mirror descent on Q-values (Pérolat et al., AAMAS 2022), kept in the convex
    /// hull of Π^ε.
    Omd,
}

impl SolverAlgo {
    /// Every algorithm, in the order of [`SolverAlgo::name`]'s list.
    pub const ALL: [SolverAlgo; 4] = [
        SolverAlgo::Tbr,
        SolverAlgo::Damped,
        SolverAlgo::Fp,
        SolverAlgo::Omd,
    ];

    /// `tbr`, `damped`, `fp` or `omd`.
    pub fn name(self) -> &'static str {
        match self {
            SolverAlgo::Tbr => "tbr",
            SolverAlgo::Damped => "damped",
            SolverAlgo::Fp => "fp",
            SolverAlgo::Omd => "omd",
        }
    }

    /// The algorithm named `s`.
    ///
    /// # Errors
    /// A message listing the names, for the caller to attach to its key.
    pub fn parse(s: &str) -> std::result::Result<SolverAlgo, String> {
        SolverAlgo::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown algorithm `{s}`; expected tbr, damped, fp or omd"))
    }

    /// A long name for printouts, e.g. `fictitious play`.
    pub fn describe(self) -> &'static str {
        match self {
            SolverAlgo::Tbr => "T-BR",
            SolverAlgo::Damped => "damped T-BR",
            SolverAlgo::Fp => "fictitious play",
            SolverAlgo::Omd => "online mirror descent",
        }
    }

    /// True for the algorithms that return a mixture of trembling-hand strategies.
    pub fn mixes(self) -> bool {
        matches!(self, SolverAlgo::Fp | SolverAlgo::Omd)
    }
}

/// Weights of fictitious play's averages (`[solver] fp_weights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FpWeights {
    /// w_j = j: the Frank–Wolfe step 2/(k + 1); forgets the first best responses like 1/k²
    /// (default, mfgsim's choice: see `solver::fp`).
    #[default]
    Linear,
    /// w_j = 1: the running mean of Perrin et al.; exploitability falls like 1/k.
    Uniform,
}

impl FpWeights {
    /// `linear` or `uniform`.
    pub fn name(self) -> &'static str {
        match self {
            FpWeights::Linear => "linear",
            FpWeights::Uniform => "uniform",
        }
    }

    /// The weights named `s`.
    ///
    /// # Errors
    /// A message listing the names.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "linear" => Ok(FpWeights::Linear),
            "uniform" => Ok(FpWeights::Uniform),
            _ => Err(format!("unknown weights `{s}`; expected linear or uniform")),
        }
    }
}

/// Solver knobs (scenario table `[solver]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SolverParams {
    /// The algorithm. Default [`SolverAlgo::Tbr`].
    pub algo: SolverAlgo,
    /// Stop T-BR when ||z_{k+1} − z_k||_1 < tol, damped T-BR when ||Φ(z_k, μ_k) − z_k||_1 <
    /// tol. Default 1e-11.
    pub tol: f64,
    /// Cap on iterations (of any algorithm). Default 10 000.
    pub max_iterations: usize,
    /// Sup-norm tolerance of each TQ-value iteration. Default 1e-12 (the reference's).
    pub tq_tol: f64,
    /// Cap on F_z applications per TQ-value iteration. Default 100 000.
    pub max_tq_sweeps: usize,
    /// Stop each intermediate TQ-value iteration of T-BR as soon as the greedy actions of
    /// Q*_{z_k} are certain (see [`TqIteration::run_until_greedy_certain`]): the mean-field
    /// trajectory is identical, T-BR is several times faster. The returned Q*_z always meets
    /// `tq_tol`. Default true.
    pub certify_greedy: bool,
    /// β ∈ (0, 1] of damped T-BR. Default 0.5 (mfgsim's choice).
    pub damping: f64,
    /// Step size η > 0 of mirror descent on Q-values. Default 100 (mfgsim's choice: see
    /// `solver::omd`).
    pub omd_rate: f64,
    /// Fictitious play's averaging weights. Default [`FpWeights::Linear`].
    pub fp_weights: FpWeights,
    /// Fictitious play and mirror descent converge when the max-over-states exploitability of
    /// their strategy at their mean field is below this. Default 1e-6.
    pub target_exploitability: f64,
    /// … and their consistency ||Φ(z, μ) − z||_1 below this. Default 1e-6.
    pub target_consistency: f64,
}

impl Default for SolverParams {
    fn default() -> Self {
        SolverParams {
            algo: SolverAlgo::Tbr,
            tol: 1e-11,
            max_iterations: 10_000,
            tq_tol: 1e-12,
            max_tq_sweeps: 100_000,
            certify_greedy: true,
            damping: 0.5,
            omd_rate: 100.0,
            fp_weights: FpWeights::Linear,
            target_exploitability: 1e-6,
            target_consistency: 1e-6,
        }
    }
}

impl SolverParams {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Param`] naming the first invalid key.
    pub fn validate(&self) -> Result<()> {
        for (key, v) in [
            ("tol", self.tol),
            ("tq_tol", self.tq_tol),
            ("omd_rate", self.omd_rate),
            ("target_exploitability", self.target_exploitability),
            ("target_consistency", self.target_consistency),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(Error::param(key, format!("must be > 0, got {v}")));
            }
        }
        if !(self.damping > 0.0 && self.damping <= 1.0) {
            return Err(Error::param(
                "damping",
                format!("must be in (0, 1], got {}", self.damping),
            ));
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
/// Where a solver starts.
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
                if !on_simplex(z, crate::tol::PMF_SUM) {
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

/// Why a solver stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Termination {
    /// T-BR: ||z_{k+1} − z_k||_1 < tol; damped T-BR: consistency < tol; fp/omd: exploitability
    /// and consistency below their targets.
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
        /// The iteration whose TQ-value iteration hit the cap (`iterations + 1` for the
        /// final best response at the returned z).
        iteration: usize,
        /// ||F_z(Q) − Q||_∞ after the last sweep.
        residual: f64,
    },
    /// Iterating Φ(·, μ) found no stationary mean field for an iterate's strategy (fp, omd).
    NoStationaryMeanField {
        /// The iteration at which it failed.
        iteration: usize,
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
                "TQ-value iteration hit the sweep cap at iteration {iteration} \
                 (change {residual:.2e} per sweep)"
            ),
            Termination::NoStationaryMeanField { iteration } => format!(
                "no stationary mean field of the strategy at iteration {iteration} \
                 (Φ(·, μ) did not settle in {STATIONARY_MAX_ITERATIONS} steps)"
            ),
        }
    }

    /// `converged`, `iteration_cap`, `cycle`, `tq_sweep_cap` or `no_stationary_mean_field`.
    pub fn kind(&self) -> &'static str {
        match self {
            Termination::Converged => "converged",
            Termination::IterationCap => "iteration_cap",
            Termination::Cycle { .. } => "cycle",
            Termination::TqSweepCap { .. } => "tq_sweep_cap",
            Termination::NoStationaryMeanField { .. } => "no_stationary_mean_field",
        }
    }

    /// What to change for a run of `params.algo` from `start` that did not converge (`None`
    /// when it did), naming the scenario keys and their values in `params` / `game`.
    pub fn advice(&self, params: &SolverParams, game: GameParams, start: &Start) -> Option<String> {
        let algo = params.algo;
        match self {
            Termination::Converged => None,
            Termination::IterationCap if algo.mixes() => Some(format!(
                "raise solver.max_iterations (now {}; {} approaches an equilibrium at a rate \
                 near 1/k) or loosen solver.target_exploitability (now {:e}) and \
                 solver.target_consistency (now {:e})",
                params.max_iterations,
                algo.describe(),
                params.target_exploitability,
                params.target_consistency
            )),
            Termination::IterationCap => Some(format!(
                "raise solver.max_iterations (now {}) or loosen solver.tol (now {:e}); if the \
                 mean field keeps moving, try --algo fp (solver.algo = \"fp\")",
                params.max_iterations, params.tol
            )),
            Termination::Cycle { period } => {
                let other_start = match start {
                    Start::Lowest | Start::Highest => String::new(),
                    _ => "; under strategic complementarities T-BR from --start lowest or \
                          highest is monotone"
                        .into(),
                };
                let damp = if algo == SolverAlgo::Damped {
                    format!(
                        "lower solver.damping (now {}) or use --algo fp",
                        params.damping
                    )
                } else {
                    "use --algo fp (solver.algo = \"fp\")".into()
                };
                Some(format!(
                    "{} is cycling (period {period}) from the {} start: no trembling-hand \
                     strategy it visits is consistent with its own mean field, and a T-MFE in \
                     Π^ε may not exist here (`mfgsim check` tests Definition 1); {damp}, which \
                     finds an equilibrium in mixtures of trembling-hand strategies{other_start}",
                    algo.describe(),
                    start.label()
                ))
            }
            Termination::TqSweepCap { .. } => Some(format!(
                "raise solver.max_tq_sweeps (now {}; TQ-value iteration needs about \
                 ln(1/tq_tol)/(1 - gamma) = {:.0} sweeps), lower model.gamma (now {}) or \
                 loosen solver.tq_tol (now {:e})",
                params.max_tq_sweeps,
                (1.0 / params.tq_tol).ln() / (1.0 - game.gamma),
                game.gamma,
                params.tq_tol
            )),
            Termination::NoStationaryMeanField { .. } => Some(format!(
                "the population under one strategy does not settle (Φ(·, μ) oscillates); try \
                 --algo tbr or damped (solver.algo), or raise model.epsilon (now {})",
                game.epsilon
            )),
        }
    }
}

/// One iteration: z_k was produced from z_{k−1}.
#[derive(Debug, Clone, PartialEq)]
pub struct IterationRecord {
    /// k (1-based; k = 0 is the start and has no record).
    pub iteration: usize,
    /// z_k (fp: the averaged z̄_k; omd: the stationary mean field of π_{k−1}).
    pub z: Vec<f64>,
    /// ||z_k − z_{k−1}||_1.
    pub delta_l1: f64,
    /// F-applications spent in this iteration's TQ-value iterations.
    pub tq_sweeps: usize,
    /// Σ_s s·z_k(s).
    pub mean_state: f64,
    /// fp / omd: max_s exploitability of the iterate's strategy at z_k (`None` for T-BR and
    /// damped T-BR, whose strategy is the best response to z_k by construction).
    pub exploitability: Option<f64>,
    /// ||Φ(z, μ) − z||_1 of the iterate's pair (T-BR: of (z_{k−1}, μ_{k−1}), so it equals
    /// `delta_l1`; damped: `delta_l1`/β; fp/omd: of (z_k, μ_k)).
    pub consistency_l1: f64,
}

/// The mean field an exploitability is measured at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertifiedAt {
    /// The returned z (a converged run: z is consistent with μ up to the tolerances).
    ReturnedMeanField,
    /// μ's own stationary mean field z_μ (a run that did not converge: its z need not be
    /// consistent with μ, and the exploitability at a z μ was a best response to would be 0).
    StationaryMeanField,
    /// Neither: no stationary mean field of μ was found, or Q* there could not be computed to
    /// `tq_tol`; the exploitability is NaN.
    Unavailable,
}

/// Result of a solver run.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// The algorithm that ran.
    pub algo: SolverAlgo,
    /// Where it started.
    pub start: Vec<f64>,
    /// Why it stopped.
    pub termination: Termination,
    /// Per-iteration trace.
    pub trace: Vec<IterationRecord>,
    /// The returned mean field z (the last iterate; fp: z̄).
    pub z: Vec<f64>,
    /// Q*_z (TQ-value iteration at the returned z).
    pub q: QTable,
    /// The returned strategy μ: π^ε(Q*_z) for T-BR and damped T-BR; the mixture μ̄ (fp) or
    /// π (omd) otherwise.
    pub policy: Policy,
    /// True when μ is a mixture outside Π^ε (some row is not "1 − ε on one action").
    pub mixed: bool,
    /// ||Φ(z, μ) − z||_1.
    pub consistency_l1: f64,
    /// Exploitability of μ, measured at [`Solution::exploitability_at`].
    pub exploitability: Exploitability,
    /// Where the exploitability was measured: the returned z when converged, μ's own
    /// stationary mean field otherwise.
    pub exploitability_at: CertifiedAt,
    /// z_μ, the stationary mean field of μ (computed for runs that did not converge).
    pub stationary_z: Option<Vec<f64>>,
    /// Σ_s s·z(s).
    pub mean_state: f64,
    /// What to change when the run did not converge ([`Termination::advice`]).
    pub advice: Option<String>,
    /// Accuracy of the exploitabilities ([`exploitability_tol`]).
    pub exploitability_tol: f64,
}

/// The scalar results of a [`Solution`] and its final mean field, as written to
/// `summary.json` (the trace and tables go to Parquet files).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SolutionSummary {
    /// `tbr`, `damped`, `fp` or `omd`.
    pub algo: String,
    /// True when the tolerance was met.
    pub converged: bool,
    /// Why the solver stopped, in words.
    pub termination: String,
    /// See [`Termination::kind`].
    pub termination_kind: String,
    /// Period of the detected cycle, if any.
    pub cycle_period: Option<usize>,
    /// What to change when the run did not converge (see [`Termination::advice`]).
    pub advice: Option<String>,
    /// Iterations made.
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
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub mean_state: f64,
    /// Greedy action of μ per state (for a mixture: the action it plays most).
    pub greedy_action: Vec<usize>,
    /// True when μ is a mixture of trembling-hand strategies, not one of them.
    pub mixed: bool,
    /// ||z_K − z_{K−1}||_1 of the last iteration.
    pub last_delta_l1: Option<f64>,
    /// ||Φ(z, μ) − z||_1.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub consistency_l1: f64,
    /// max_s exploitability of μ, at `exploitability_at`.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub exploitability: f64,
    /// z-weighted exploitability of μ (weighted by the mean field it is measured at).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub exploitability_weighted: f64,
    /// `returned_mean_field` (converged), `stationary_mean_field` (not converged: at μ's own
    /// z_μ) or `unavailable`.
    pub exploitability_at: CertifiedAt,
    /// z_μ, μ's own stationary mean field, for a run that did not converge.
    pub stationary_z: Option<Vec<f64>>,
    /// Accuracy of the exploitabilities: tq_tol / (1 − γ) bounds the error of Q*_z, so values
    /// of magnitude below it are zero up to rounding (shown as zero).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
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
            algo: sol.algo.name().to_owned(),
            converged: sol.converged(),
            termination: sol.termination.describe(),
            termination_kind: sol.termination.kind().to_owned(),
            cycle_period: period,
            advice: sol.advice.clone(),
            iterations: sol.iterations(),
            num_states: sol.q.num_states(),
            num_actions: sol.q.num_actions(),
            start: sol.start.clone(),
            z: sol.z.clone(),
            mean_state: sol.mean_state,
            greedy_action: sol.policy.greedy().to_vec(),
            mixed: sol.mixed,
            last_delta_l1: sol.trace.last().map(|r| r.delta_l1),
            consistency_l1: sol.consistency_l1,
            exploitability: sol.exploitability.max,
            exploitability_weighted: sol.exploitability.weighted,
            exploitability_at: sol.exploitability_at,
            stationary_z: sol.stationary_z.clone(),
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

    /// Number of iterations made.
    pub fn iterations(&self) -> usize {
        self.trace.len()
    }
}

/// Runs `params.algo` for `model` from `start`. Deterministic.
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
    let z0 = start.vector(model.num_states())?;
    let mut ws = Workspace::new(model.num_states(), model.num_actions());
    let end = match params.algo {
        SolverAlgo::Tbr | SolverAlgo::Damped => {
            tbr::run(model, game, params, &z0, &mut ws, on_iteration)
        }
        SolverAlgo::Fp => fp::run(model, game, params, &z0, &mut ws, on_iteration),
        SolverAlgo::Omd => omd::run(model, game, params, &z0, &mut ws, on_iteration),
    };
    let sol = finish(model, game, params, start, z0, end, &mut ws);
    check_finite(&sol)?;
    Ok(sol)
}

/// Refuses a solution holding NaN or infinite values: the rewards (scaled by 1/(1 − γ))
/// overflowed, and no end point, converged or not, can be reported.
fn check_finite(sol: &Solution) -> Result<()> {
    let what = if !sol.q.values().iter().all(|x| x.is_finite()) {
        "the Q-values"
    } else if !sol
        .z
        .iter()
        .chain(sol.policy.probs())
        .all(|x| x.is_finite())
    {
        "the mean field or the strategy"
    } else if !sol.consistency_l1.is_finite() {
        "the consistency"
    } else if sol.converged() && !(sol.exploitability.max.is_finite()) {
        "the exploitability"
    } else {
        return Ok(());
    };
    Err(Error::NonFinite {
        what: format!(
            "{what} of {} after {} iteration(s)",
            sol.algo.describe(),
            sol.trace.len()
        ),
        hint: "; the rewards are too large for f64 (Q is about max |r| / (1 − gamma)): \
               rescale the model's rewards"
            .into(),
    })
}

/// Scratch shared by the algorithms and the final certificate.
struct Workspace {
    tables: KernelTables,
    tq: TqIteration,
    q: QTable,
    next: Vec<f64>,
}

impl Workspace {
    fn new(ns: usize, na: usize) -> Self {
        Workspace {
            tables: KernelTables::new(ns, na),
            tq: TqIteration::new(),
            q: QTable::zeros(ns, na),
            next: vec![0.0; ns],
        }
    }
}

/// Q*_z by TQ-value iteration to `params.tq_tol`, warm-started from `q`: the sweeps it took,
/// or the [`Termination::TqSweepCap`] of `iteration` when it hit `params.max_tq_sweeps`.
fn q_star(
    tq: &mut TqIteration,
    tables: &KernelTables,
    game: GameParams,
    q: &mut QTable,
    params: &SolverParams,
    iteration: usize,
) -> std::result::Result<usize, Termination> {
    let out = tq.run(tables, game, q, params.tq_tol, params.max_tq_sweeps);
    if out.converged {
        Ok(out.sweeps)
    } else {
        Err(Termination::TqSweepCap {
            iteration,
            residual: out.residual,
        })
    }
}

/// Where an algorithm stopped: its z, its strategy (`None`: the best response to z, computed
/// by [`finish`]) and why.
struct End {
    z: Vec<f64>,
    policy: Option<Policy>,
    termination: Termination,
    trace: Vec<IterationRecord>,
}

/// The certificate of an end point: Q*_z, the strategy, its consistency and its exploitability
/// (at z when converged, at μ's own stationary mean field otherwise).
fn finish(
    model: &(impl Model + ?Sized),
    game: GameParams,
    params: &SolverParams,
    start: &Start,
    z0: Vec<f64>,
    end: End,
    ws: &mut Workspace,
) -> Solution {
    let End {
        z,
        policy,
        mut termination,
        trace,
    } = end;
    let (ns, na) = (model.num_states(), model.num_actions());
    model.fill_tables(&z, &mut ws.tables);
    let last = ws.tq.run(
        &ws.tables,
        game,
        &mut ws.q,
        params.tq_tol,
        params.max_tq_sweeps,
    );
    if !last.converged && termination == Termination::Converged {
        termination = Termination::TqSweepCap {
            iteration: trace.len() + 1,
            residual: last.residual,
        };
    }
    let policy = policy.unwrap_or_else(|| {
        let mut p = Policy::uniform(ns, na);
        write_trembling_policy(&ws.q, game.epsilon, &mut p);
        p
    });
    phi(&ws.tables, &z, &policy, &mut ws.next);
    let consistency_l1 = l1_distance(&ws.next, &z);
    let q = ws.q.clone();
    let (expl, at, stationary_z) = if termination == Termination::Converged {
        let e = exploitability(&ws.tables, game, &policy, &z, &q);
        (e, CertifiedAt::ReturnedMeanField, None)
    } else {
        match stationary::settle(model, &policy, &z, &mut ws.tables, &mut ws.next) {
            Some(zm) => {
                model.fill_tables(&zm, &mut ws.tables);
                let mut qm = q.clone();
                let out = ws.tq.run(
                    &ws.tables,
                    game,
                    &mut qm,
                    params.tq_tol,
                    params.max_tq_sweeps,
                );
                if out.converged {
                    let e = exploitability(&ws.tables, game, &policy, &zm, &qm);
                    (e, CertifiedAt::StationaryMeanField, Some(zm))
                } else {
                    // Q*_{z_μ} not found to tq_tol: any exploitability would be noise.
                    let nan = Exploitability {
                        max: f64::NAN,
                        weighted: f64::NAN,
                    };
                    (nan, CertifiedAt::Unavailable, Some(zm))
                }
            }
            None => (
                Exploitability {
                    max: f64::NAN,
                    weighted: f64::NAN,
                },
                CertifiedAt::Unavailable,
                None,
            ),
        }
    };
    Solution {
        algo: params.algo,
        advice: termination.advice(params, game, start),
        exploitability_tol: exploitability_tol(params, game),
        mixed: !policy.is_trembling(game.epsilon, crate::tol::TREMBLING_SHAPE),
        start: z0,
        termination,
        trace,
        mean_state: mean_state(&z),
        z,
        q,
        policy,
        consistency_l1,
        exploitability: expl,
        exploitability_at: at,
        stationary_z,
    }
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
        let u = Start::Uniform;
        assert_eq!(Termination::Converged.advice(&p, g, &u), None);
        let cap = Termination::IterationCap.advice(&p, g, &u).unwrap();
        assert!(cap.contains("solver.max_iterations (now 10000)"), "{cap}");
        let cyc = Termination::Cycle { period: 2 }.advice(&p, g, &u).unwrap();
        assert!(
            cyc.contains("period 2") && cyc.contains("mfgsim check") && cyc.contains("--algo fp"),
            "{cyc}"
        );
        assert!(cyc.contains("--start lowest"), "{cyc}");
        // From an extremal start, the advice does not suggest the start that was run.
        let low = Termination::Cycle { period: 2 }
            .advice(&p, g, &Start::Lowest)
            .unwrap();
        assert!(
            !low.contains("--start lowest") && low.contains("--algo fp"),
            "{low}"
        );
        let fp = SolverParams {
            algo: SolverAlgo::Fp,
            ..p.clone()
        };
        let fcap = Termination::IterationCap.advice(&fp, g, &u).unwrap();
        assert!(fcap.contains("solver.target_exploitability"), "{fcap}");
        let kinds = [
            Termination::Converged.kind(),
            Termination::IterationCap.kind(),
            Termination::Cycle { period: 2 }.kind(),
            Termination::TqSweepCap {
                iteration: 1,
                residual: 1.0,
            }
            .kind(),
            Termination::NoStationaryMeanField { iteration: 1 }.kind(),
        ];
        assert_eq!(
            kinds,
            [
                "converged",
                "iteration_cap",
                "cycle",
                "tq_sweep_cap",
                "no_stationary_mean_field"
            ]
        );
    }

    fn infection_at(c_f: f64) -> crate::model::Infection {
        crate::model::Infection::try_new(crate::model::InfectionParams {
            infection_constant: c_f,
            ..Default::default()
        })
        .unwrap()
    }

    fn with(algo: SolverAlgo, max_iterations: usize) -> SolverParams {
        SolverParams {
            algo,
            max_iterations,
            ..Default::default()
        }
    }

    #[test]
    fn a_cycling_end_point_is_certified_at_its_own_mean_field() {
        // At c_f = 0.45 T-BR cycles from both extremal starts (period 2). The best response
        // to the returned z has exploitability 0 at z; at its own stationary mean field it
        // is exploitable, and it is not consistent.
        let m = infection_at(0.45);
        let g = GameParams::default();
        for start in [Start::Lowest, Start::Highest] {
            let sol = solve(&m, g, &SolverParams::default(), &start).unwrap();
            assert_eq!(
                sol.termination,
                Termination::Cycle { period: 2 },
                "{start:?}"
            );
            assert_eq!(sol.exploitability_at, CertifiedAt::StationaryMeanField);
            assert!(sol.consistency_l1 > 0.1, "{}", sol.consistency_l1);
            assert!(sol.exploitability.max > 1e-4, "{:?}", sol.exploitability);
            let zm = sol.stationary_z.as_ref().unwrap();
            assert!(l1_distance(zm, &sol.z) > 0.01);
            assert!(!sol.mixed);
            let advice = sol.advice.unwrap();
            assert!(advice.contains("--algo fp"), "{advice}");
        }
    }

    #[test]
    fn fictitious_play_finds_a_mixed_equilibrium_where_tbr_cycles() {
        let m = infection_at(0.45);
        let g = GameParams::default();
        let sol = solve(&m, g, &with(SolverAlgo::Fp, 2000), &Start::Uniform).unwrap();
        assert!(
            sol.converged(),
            "{:?} after {}",
            sol.termination,
            sol.iterations()
        );
        assert!(sol.exploitability.max < 1e-6 && sol.consistency_l1 < 1e-6);
        assert_eq!(sol.exploitability_at, CertifiedAt::ReturnedMeanField);
        assert!(sol.mixed, "a T-MFE in Π^ε does not exist here");
        // The trace certifies each iterate; the last one is the returned pair.
        let last = sol.trace.last().unwrap();
        assert_eq!(last.z, sol.z);
        assert!(last.exploitability.unwrap() < 1e-6);
    }

    #[test]
    fn every_algorithm_reaches_the_tmfe_where_tbr_converges() {
        let g = GameParams::default();
        for m in [
            Box::new(crate::model::Infection::default()) as Box<dyn Model>,
            Box::new(Gig::default()),
        ] {
            let tbr = solve(m.as_ref(), g, &SolverParams::default(), &Start::Uniform).unwrap();
            assert!(tbr.converged());
            for algo in [SolverAlgo::Damped, SolverAlgo::Fp, SolverAlgo::Omd] {
                // Tight targets: at 1e-6 a near tie (infection's Q*-gap 1.4e-4 at states
                // 16-19) lets an ε-equilibrium mix and sit 3e-3 (L1) from z*.
                let p = SolverParams {
                    target_exploitability: 1e-9,
                    target_consistency: 1e-9,
                    ..with(algo, 100_000)
                };
                let sol = solve(m.as_ref(), g, &p, &Start::Uniform).unwrap();
                assert!(
                    sol.converged(),
                    "{} {:?}: {:?} after {}",
                    m.name(),
                    algo,
                    sol.termination,
                    sol.iterations()
                );
                let d = l1_distance(&sol.z, &tbr.z);
                assert!(d < 1e-5, "{} {algo:?}: L1 to T-BR's z* {d}", m.name());
                assert!(sol.exploitability.max < 1e-9, "{algo:?}");
            }
        }
    }

    #[test]
    fn damped_tbr_with_beta_one_is_tbr() {
        let m = Gig::default();
        let g = GameParams::default();
        let a = solve(&m, g, &SolverParams::default(), &Start::Uniform).unwrap();
        let p = SolverParams {
            algo: SolverAlgo::Damped,
            damping: 1.0,
            ..Default::default()
        };
        let b = solve(&m, g, &p, &Start::Uniform).unwrap();
        assert_eq!(a.z, b.z);
        assert_eq!(a.trace.len(), b.trace.len());
    }

    #[test]
    fn mirror_descent_stays_in_the_hull_of_the_trembling_strategies() {
        let m = infection_at(0.45);
        let g = GameParams::default();
        let sol = solve(&m, g, &with(SolverAlgo::Omd, 50), &Start::Uniform).unwrap();
        let (lo, hi) = (g.epsilon / 4.0, 1.0 - g.epsilon);
        for p in sol.policy.probs() {
            assert!(*p >= lo - 1e-15 && *p <= hi + 1e-15, "{p}");
        }
    }

    #[test]
    fn bad_solver_keys_are_named() {
        for (p, key) in [
            (
                SolverParams {
                    damping: 0.0,
                    ..Default::default()
                },
                "damping",
            ),
            (
                SolverParams {
                    omd_rate: f64::NAN,
                    ..Default::default()
                },
                "omd_rate",
            ),
            (
                SolverParams {
                    target_consistency: 0.0,
                    ..Default::default()
                },
                "target_consistency",
            ),
        ] {
            let e = p.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        assert_eq!(SolverAlgo::parse("fp"), Ok(SolverAlgo::Fp));
        assert!(SolverAlgo::parse("br")
            .unwrap_err()
            .contains("tbr, damped, fp or omd"));
    }
}
