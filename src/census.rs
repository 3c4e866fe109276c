//! The equilibrium census: every equilibrium a user can reach with mfgsim's exact solvers.
//!
//! # What it does
//! ```text
//! starts   lowest, highest, uniform, every point mass δ_s, and K random mean fields
//!          (Dirichlet(1, …, 1), seeded: stream(seed, Census, k, 0))
//! algos    T-BR and fictitious play (fp, with the targets of `CensusOptions`) from each start
//! cluster  converged end points whose mean fields are within `cluster_tol` in L1 are one
//!          equilibrium; a T-MFE in Π^ε (pure trembling-hand strategy) represents its cluster
//!          before a mixture
//! cycles   T-BR runs that cycle are listed with the mean states they visit
//! ```
//! Each distinct equilibrium is reported with its mean field, its strategy (a trembling-hand
//! strategy or a mixture of them), its certificates (exploitability at its mean field and
//! consistency ||Φ(z, μ) − z||_1) and which starts reached it. The census is only as
//! complete as its starts: an equilibrium no start's dynamics reach (an unstable one) is not
//! found, and the report says how many starts ran.
//!
//! Deterministic: the attempts run in parallel (rayon) and are collected in start order.

use rand::RngExt;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::model::{GameParams, Model};
use crate::rng::{stream, Purpose};
use crate::solver::{solve, Solution, SolverAlgo, SolverParams, Start, Termination};
use crate::space::{l1_distance, point_mass};

/// Census knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct CensusOptions {
    /// Random starts besides the extremal, uniform and point-mass ones. Default 16.
    pub random_starts: usize,
    /// Seed of the random starts. Default 0.
    pub seed: u64,
    /// Two converged mean fields within this L1 distance are one equilibrium. Default 1e-4.
    pub cluster_tol: f64,
    /// Fictitious play's targets (exploitability and consistency) inside the census: tight,
    /// so that an fp end point near a T-MFE lands in its cluster. Default 1e-9.
    pub fp_target: f64,
}

impl Default for CensusOptions {
    fn default() -> Self {
        CensusOptions {
            random_starts: 16,
            seed: 0,
            cluster_tol: 1e-4,
            fp_target: 1e-9,
        }
    }
}

impl CensusOptions {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Param`] naming the field.
    pub fn validate(&self) -> Result<()> {
        for (key, v) in [
            ("cluster_tol", self.cluster_tol),
            ("fp_target", self.fp_target),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(Error::param(key, format!("must be > 0, got {v}")));
            }
        }
        if self.random_starts > 100_000 {
            return Err(Error::param(
                "random_starts",
                format!("must be at most 100000, got {}", self.random_starts),
            ));
        }
        Ok(())
    }
}

/// One solver run of the census.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attempt {
    /// `lowest`, `highest`, `uniform`, `point:S` or `random:K`.
    pub start: String,
    /// `tbr` or `fp`.
    pub algo: &'static str,
    /// See [`Termination::kind`].
    pub termination: &'static str,
    /// True when it converged.
    pub converged: bool,
    /// Iterations made.
    pub iterations: usize,
    /// Mean state of its end point.
    pub mean_state: f64,
    /// Index into [`Census::equilibria`] of the equilibrium it reached (converged runs).
    pub equilibrium: Option<usize>,
    /// Index into [`Census::cycles`] of the cycle it found (T-BR runs that cycled).
    pub cycle: Option<usize>,
}

/// One distinct equilibrium.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FoundEquilibrium {
    /// `tmfe` (a T-MFE in Π^ε: one trembling-hand strategy) or `mixed` (a mixture of
    /// trembling-hand strategies: no T-MFE in Π^ε was found here).
    pub kind: &'static str,
    /// The mean field z.
    pub z: Vec<f64>,
    /// Σ_s s·z(s).
    pub mean_state: f64,
    /// μ(s, ·) per state.
    pub mu: Vec<Vec<f64>>,
    /// The action μ plays most in each state (for a T-MFE: the one given 1 − ε).
    pub greedy_action: Vec<usize>,
    /// max_s exploitability of μ at z.
    pub exploitability: f64,
    /// z-weighted exploitability of μ at z.
    pub exploitability_weighted: f64,
    /// ||Φ(z, μ) − z||_1.
    pub consistency_l1: f64,
    /// The algorithm whose end point represents it (`tbr` when a T-BR run reached it).
    pub found_by: &'static str,
    /// How many attempts reached it.
    pub reached: usize,
    /// The starts (with the algorithm, `start/algo`) that reached it.
    pub starts: Vec<String>,
}

/// A cycle of T-BR.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CycleFound {
    /// Its period.
    pub period: usize,
    /// The mean states of the mean fields it visits, ascending.
    pub mean_states: Vec<f64>,
    /// How many attempts ended in it.
    pub reached: usize,
    /// The starts that ended in it.
    pub starts: Vec<String>,
}

/// What [`census`] found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Census {
    /// Distinct equilibria, by ascending mean state.
    pub equilibria: Vec<FoundEquilibrium>,
    /// Distinct T-BR cycles.
    pub cycles: Vec<CycleFound>,
    /// Every solver run, in start order (T-BR then fp for each start).
    pub attempts: Vec<Attempt>,
    /// Starts tried.
    pub starts: usize,
    /// Attempts that did not converge.
    pub not_converged: usize,
}

impl Census {
    /// The equilibrium whose mean field is closest to `z` in L1, with the distance.
    pub fn closest(&self, z: &[f64]) -> Option<(usize, f64)> {
        self.equilibria
            .iter()
            .enumerate()
            .map(|(i, e)| (i, l1_distance(&e.z, z)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The starts of a census over `ns` states, labelled.
pub fn starts(ns: usize, opts: &CensusOptions) -> Vec<(String, Start)> {
    let mut v = vec![
        ("lowest".to_string(), Start::Lowest),
        ("highest".to_string(), Start::Highest),
        ("uniform".to_string(), Start::Uniform),
    ];
    // Point masses at the interior states (0 and S − 1 are the extremal starts).
    for s in 1..ns.saturating_sub(1) {
        v.push((format!("point:{s}"), Start::Given(point_mass(ns, s))));
    }
    for k in 0..opts.random_starts {
        let mut rng = stream(opts.seed, Purpose::Census, k as u64, 0);
        // Dirichlet(1, …, 1): normalised exponentials.
        let mut z: Vec<f64> = (0..ns).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
        let sum: f64 = z.iter().sum();
        z.iter_mut().for_each(|x| *x /= sum);
        v.push((format!("random:{k}"), Start::Given(z)));
    }
    v
}

/// Runs the census of `model` (see the module docs). `params` are the scenario's solver
/// settings (tolerances, caps); the census sets the algorithm and fp's targets itself.
///
/// # Errors
/// [`Error::Param`] for invalid options or solver settings; a solver error.
pub fn census(
    model: &(impl Model + ?Sized),
    game: GameParams,
    params: &SolverParams,
    opts: &CensusOptions,
) -> Result<Census> {
    opts.validate()?;
    params.validate()?;
    let starts = starts(model.num_states(), opts);
    let jobs: Vec<(usize, SolverAlgo)> = (0..starts.len())
        .flat_map(|i| [(i, SolverAlgo::Tbr), (i, SolverAlgo::Fp)])
        .collect();
    let p = SolverParams {
        target_exploitability: opts.fp_target,
        target_consistency: opts.fp_target,
        ..params.clone()
    };
    let solutions = jobs
        .par_iter()
        .map(|&(i, algo)| {
            let mut sol = solve(
                model,
                game,
                &SolverParams { algo, ..p.clone() },
                &starts[i].1,
            )?;
            // Only a cycle's last period (at most CYCLE_MEMORY + 1 records) is read: the
            // rest of the trace would hold |S| floats per iteration for every attempt.
            let iterations = sol.iterations();
            let keep = crate::solver::CYCLE_MEMORY + 1;
            sol.trace.drain(..iterations.saturating_sub(keep));
            Ok((iterations, sol))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(tally(&starts, &jobs, &solutions, opts.cluster_tol))
}

/// A census small enough to run beside every learn run: T-BR from the lowest, highest and
/// uniform mean fields and, only when none of them converges, fictitious play from the
/// uniform one (with the scenario's `target_exploitability` / `target_consistency`).
/// Milliseconds where T-BR converges.
///
/// # Errors
/// [`Error::Param`] for invalid solver settings; a solver error.
///
/// `from_uniform`: a T-BR solution from the uniform mean field with these `params` that the
/// caller already has (reused instead of solved again; ignored unless its algorithm is T-BR).
pub fn quick_census(
    model: &(impl Model + ?Sized),
    game: GameParams,
    params: &SolverParams,
    cluster_tol: f64,
    from_uniform: Option<&Solution>,
) -> Result<Census> {
    params.validate()?;
    let starts = vec![
        ("lowest".to_string(), Start::Lowest),
        ("highest".to_string(), Start::Highest),
        ("uniform".to_string(), Start::Uniform),
    ];
    let tbr = SolverParams {
        algo: SolverAlgo::Tbr,
        ..params.clone()
    };
    let mut jobs: Vec<(usize, SolverAlgo)> = (0..3).map(|i| (i, SolverAlgo::Tbr)).collect();
    let reuse = from_uniform.filter(|s| s.algo == SolverAlgo::Tbr);
    let mut solutions = starts
        .iter()
        .map(|(_, s)| match (s, reuse) {
            (Start::Uniform, Some(sol)) => Ok((sol.iterations(), sol.clone())),
            _ => solve(model, game, &tbr, s).map(|sol| (sol.iterations(), sol)),
        })
        .collect::<Result<Vec<_>>>()?;
    if !solutions.iter().any(|(_, sol)| sol.converged()) {
        let fp = SolverParams {
            algo: SolverAlgo::Fp,
            ..params.clone()
        };
        let sol = solve(model, game, &fp, &Start::Uniform)?;
        solutions.push((sol.iterations(), sol));
        jobs.push((2, SolverAlgo::Fp));
    }
    Ok(tally(&starts, &jobs, &solutions, cluster_tol))
}

/// Clusters the end points of `solutions` (one `(iterations, solution)` per job `(start
/// index, algorithm)`; a solution's trace may be cut to its last records).
fn tally(
    starts: &[(String, Start)],
    jobs: &[(usize, SolverAlgo)],
    solutions: &[(usize, Solution)],
    cluster_tol: f64,
) -> Census {
    let mut attempts = Vec::with_capacity(jobs.len());
    let mut clusters: Vec<FoundEquilibrium> = Vec::new();
    let mut cycles: Vec<CycleFound> = Vec::new();
    for (&(i, algo), (iterations, sol)) in jobs.iter().zip(solutions) {
        let label = format!("{}/{}", starts[i].0, algo.name());
        let mut attempt = Attempt {
            start: starts[i].0.clone(),
            algo: algo.name(),
            termination: sol.termination.kind(),
            converged: sol.converged(),
            iterations: *iterations,
            mean_state: sol.mean_state,
            equilibrium: None,
            cycle: None,
        };
        if sol.converged() {
            let found = FoundEquilibrium {
                kind: if sol.mixed { "mixed" } else { "tmfe" },
                z: sol.z.clone(),
                mean_state: sol.mean_state,
                mu: sol
                    .policy
                    .probs()
                    .chunks(sol.policy.num_actions())
                    .map(<[f64]>::to_vec)
                    .collect(),
                greedy_action: sol.policy.greedy().to_vec(),
                exploitability: sol.exploitability.max,
                exploitability_weighted: sol.exploitability.weighted,
                consistency_l1: sol.consistency_l1,
                found_by: algo.name(),
                reached: 0,
                starts: Vec::new(),
            };
            let at = match clusters
                .iter()
                .position(|c| l1_distance(&c.z, &sol.z) < cluster_tol)
            {
                Some(c) => {
                    // A T-MFE in Π^ε represents its cluster before a mixture.
                    if clusters[c].kind == "mixed" && found.kind == "tmfe" {
                        let (reached, starts) =
                            (clusters[c].reached, std::mem::take(&mut clusters[c].starts));
                        clusters[c] = FoundEquilibrium {
                            reached,
                            starts,
                            ..found
                        };
                    }
                    c
                }
                None => {
                    clusters.push(found);
                    clusters.len() - 1
                }
            };
            clusters[at].reached += 1;
            clusters[at].starts.push(label);
            attempt.equilibrium = Some(at);
        } else if let Termination::Cycle { period } = sol.termination {
            let k = sol.trace.len();
            let mut ms: Vec<f64> = sol.trace[k.saturating_sub(period)..]
                .iter()
                .map(|r| r.mean_state)
                .collect();
            ms.sort_by(f64::total_cmp);
            let same = |c: &CycleFound| {
                c.period == period
                    && c.mean_states
                        .iter()
                        .zip(&ms)
                        .all(|(a, b)| (a - b).abs() < 1e-9)
            };
            let at = match cycles.iter().position(same) {
                Some(c) => c,
                None => {
                    cycles.push(CycleFound {
                        period,
                        mean_states: ms,
                        reached: 0,
                        starts: Vec::new(),
                    });
                    cycles.len() - 1
                }
            };
            cycles[at].reached += 1;
            cycles[at].starts.push(label);
            attempt.cycle = Some(at);
        }
        attempts.push(attempt);
    }
    // Equilibria by ascending mean state; attempts point at the new indices.
    let mut order: Vec<usize> = (0..clusters.len()).collect();
    order.sort_by(|&a, &b| clusters[a].mean_state.total_cmp(&clusters[b].mean_state));
    let mut new_index = vec![0; clusters.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    for a in &mut attempts {
        a.equilibrium = a.equilibrium.map(|e| new_index[e]);
    }
    let mut slots: Vec<Option<FoundEquilibrium>> = clusters.into_iter().map(Some).collect();
    let equilibria = order.iter().filter_map(|&i| slots[i].take()).collect();
    let not_converged = attempts.iter().filter(|a| !a.converged).count();
    Census {
        equilibria,
        cycles,
        starts: starts.len(),
        attempts,
        not_converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Infection, InfectionParams};

    fn infection_at(c_f: f64) -> Infection {
        Infection::try_new(InfectionParams {
            infection_constant: c_f,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn starts_are_seeded_and_on_the_simplex() {
        let o = CensusOptions {
            random_starts: 3,
            ..Default::default()
        };
        let a = starts(5, &o);
        assert_eq!(a.len(), 3 + 3 + 3);
        assert_eq!(a, starts(5, &o));
        for (_, s) in &a {
            let z = s.vector(5).unwrap();
            assert!((z.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        let other = starts(5, &CensusOptions { seed: 1, ..o });
        assert_ne!(a[8], other[8]);
    }

    #[test]
    fn the_census_at_high_infection_lists_both_branches() {
        let m = infection_at(0.8);
        // Cheaper than the defaults (fp to 1e-7, at most 1000 iterations): the same two
        // branches.
        let o = CensusOptions {
            random_starts: 1,
            fp_target: 1e-7,
            cluster_tol: 1e-3,
            ..Default::default()
        };
        let p = SolverParams {
            max_iterations: 1000,
            ..Default::default()
        };
        let c = census(&m, GameParams::default(), &p, &o).unwrap();
        let ms: Vec<f64> = c.equilibria.iter().map(|e| e.mean_state).collect();
        assert!(ms.len() >= 2, "{ms:?}");
        assert!(ms[0] < 5.0 && *ms.last().unwrap() > 15.0, "{ms:?}");
        for e in &c.equilibria {
            assert!(e.exploitability < 1e-6 && e.consistency_l1 < 1e-8, "{e:?}");
        }
        // Both branches are T-MFE in Π^ε, reached by T-BR.
        assert_eq!(c.equilibria[0].kind, "tmfe");
        assert_eq!(c.equilibria.last().unwrap().kind, "tmfe");
        // Every converged attempt points at an equilibrium within the cluster tolerance...
        for a in c.attempts.iter().filter(|a| a.converged) {
            let e = &c.equilibria[a.equilibrium.unwrap()];
            assert!((e.mean_state - a.mean_state).abs() < 25.0 * o.cluster_tol);
        }
        // ...and the counts add up.
        let reached: usize = c.equilibria.iter().map(|e| e.reached).sum();
        assert_eq!(reached + c.not_converged, c.attempts.len());
    }

    #[test]
    fn where_tbr_cycles_the_census_lists_the_cycle_and_a_mixed_equilibrium() {
        let m = infection_at(0.45);
        // Cheap settings: a few hundred fp iterations reach 1e-7 here.
        let o = CensusOptions {
            random_starts: 0,
            fp_target: 1e-7,
            cluster_tol: 1e-2,
            ..Default::default()
        };
        let p = SolverParams {
            max_iterations: 800,
            ..Default::default()
        };
        let c = census(&m, GameParams::default(), &p, &o).unwrap();
        assert!(!c.cycles.is_empty());
        assert!(c.cycles.iter().all(|cy| cy.period == 2));
        assert!(!c.equilibria.is_empty());
        assert!(
            c.equilibria.iter().all(|e| e.kind == "mixed"),
            "{:?}",
            c.equilibria
        );
    }
}
