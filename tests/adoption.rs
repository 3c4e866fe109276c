//! The adoption model (`scenarios/adoption.toml`): a game that satisfies Definition 1, where
//! the paper's theory can be seen. T-BR moves monotonically (first-order dominance at every
//! iteration) from the lowest mean field up to the least T-MFE and from the highest down to
//! the greatest; the two differ at the bundled invest_cost 0.1 and coincide at 0.3; every
//! learner runs on it.
//!
//! Reference values: `tests/data/adoption_reference.json`, from the independent plain-Python
//! T-BR `tests/data/adoption_reference.py` (see tests/data/README.md).

use mfgsim::check::{CheckOptions, Condition};
use mfgsim::run;
use mfgsim::scenario::Scenario;
use mfgsim::solver::{solve, Solution, Start};
use mfgsim::space::{l1_distance, point_mass, stochastically_le};

use crate::util::{f64s, root, usizes};

/// Round-off allowed in a first-order-dominance comparison of two T-BR iterates (tails of
/// six probabilities, each a sum of a few products).
const ORDER_TOL: f64 = 1e-13;

fn scenario(overrides: &[&str]) -> Scenario {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(&root("scenarios/adoption.toml"), &o).unwrap()
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(root("tests/data/adoption_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn tbr(sc: &Scenario, start: &Start) -> Solution {
    let sol = solve(sc.model.as_model(), sc.game, &sc.solver, start).unwrap();
    assert!(sol.converged(), "{start:?}: {:?}", sol.termination);
    sol
}

/// Asserts that the T-BR path start, z_1, z_2, … rises (`up`) or falls in first-order
/// dominance at every iteration, and that it does move.
fn assert_monotone(sol: &Solution, up: bool) {
    let mut prev = sol.start.clone();
    for rec in &sol.trace {
        let ordered = if up {
            stochastically_le(&prev, &rec.z, ORDER_TOL)
        } else {
            stochastically_le(&rec.z, &prev, ORDER_TOL)
        };
        assert!(
            ordered,
            "iteration {}: {prev:?} -> {:?} is not {}",
            rec.iteration,
            rec.z,
            if up { "a rise" } else { "a fall" }
        );
        prev.clone_from(&rec.z);
    }
    assert!(sol.trace.len() > 10, "{} iterations", sol.trace.len());
    assert!(l1_distance(&sol.start, &sol.z) > 0.1);
}

/// Asserts that `sol` matches the reference run `r` (z to 1e-6 in L1, the mean state to
/// 1e-6, the greedy actions exactly).
fn assert_matches(sol: &Solution, r: &serde_json::Value, what: &str) {
    let z = f64s(&r["z"]);
    let l1 = l1_distance(&sol.z, &z);
    assert!(l1 < 1e-6, "{what}: L1 {l1:e} to the reference");
    let m = r["mean_state"].as_f64().unwrap();
    assert!(
        (sol.mean_state - m).abs() < 1e-6,
        "{what}: mean state {} vs {m}",
        sol.mean_state
    );
    assert_eq!(sol.policy.greedy(), usizes(&r["greedy_action"]), "{what}");
}

#[test]
fn check_passes_every_condition_of_definition_1() {
    let sc = scenario(&[]);
    let run = run::check(&sc, &CheckOptions::default()).unwrap();
    let report = &run.report;
    assert!(run.all_hold && report.all_hold(), "{report}");
    assert!(report.with_tmfe && report.pairs > 200, "{report}");
    assert_eq!(report.conditions.len(), Condition::ALL.len());
    for c in &report.conditions {
        assert!(c.holds && c.violations == 0 && c.tested > 0, "{report}");
        assert!(
            c.worst_violation <= 1e-12,
            "{}: {}",
            c.condition,
            c.worst_violation
        );
        if let Some(all) = c.worst_violation_all_pairs {
            assert!(all <= 1e-12, "{}: {all} over all pairs", c.condition);
        }
    }
}

#[test]
fn t_br_rises_from_the_lowest_and_falls_from_the_highest_to_distinct_equilibria() {
    let sc = scenario(&[]);
    let want = &reference()["default"];
    let least = tbr(&sc, &Start::Lowest);
    let greatest = tbr(&sc, &Start::Highest);
    assert_monotone(&least, true);
    assert_monotone(&greatest, false);
    assert_matches(&least, &want["lowest"], "least");
    assert_matches(&greatest, &want["highest"], "greatest");
    // mfgsim's own values (`mfgsim solve scenarios/adoption.toml --start extremal`), which the
    // reference above confirms: nobody invests at the least, everybody at the greatest.
    assert!(
        (least.mean_state - 0.093_171_262).abs() < 1e-6,
        "{}",
        least.mean_state
    );
    assert!((greatest.mean_state - 2.868_156_609).abs() < 1e-6);
    assert_eq!(least.policy.greedy(), vec![0; 6]);
    assert_eq!(greatest.policy.greedy(), vec![1; 6]);
    // The independent NumPy values of the sketch (shared/reference/adoption-sketch.md), to
    // their printed precision.
    assert_eq!(format!("{:.3}", least.mean_state), "0.093");
    assert_eq!(format!("{:.3}", greatest.mean_state), "2.868");
    // The two differ: the game is bistable.
    assert!(l1_distance(&least.z, &greatest.z) > 1.0);
    // Both are equilibria.
    for sol in [&least, &greatest] {
        assert!(sol.consistency_l1 < 1e-10, "{}", sol.consistency_l1);
        assert!(sol.exploitability.max <= sol.exploitability_tol);
    }
}

#[test]
fn every_t_br_end_point_lies_between_the_least_and_the_greatest() {
    let sc = scenario(&[]);
    let least = tbr(&sc, &Start::Lowest).z;
    let greatest = tbr(&sc, &Start::Highest).z;
    assert!(stochastically_le(&least, &greatest, 0.0));
    assert!(!stochastically_le(&greatest, &least, 1e-3));
    // Uniform, every point mass and mixtures of the extremes: each end point z satisfies
    // least ⪯ z ⪯ greatest (within T-BR's tolerance).
    let mut starts = vec![Start::Uniform];
    starts.extend((0..6).map(|s| Start::Given(point_mass(6, s))));
    for w in [0.1, 0.3, 0.5, 0.7, 0.9] {
        let mut z = vec![0.0; 6];
        z[0] = 1.0 - w;
        z[5] = w;
        starts.push(Start::Given(z));
    }
    let (mut to_least, mut to_greatest) = (0, 0);
    for start in &starts {
        let z = tbr(&sc, start).z;
        assert!(
            stochastically_le(&least, &z, 1e-9) && stochastically_le(&z, &greatest, 1e-9),
            "{start:?} ends at {z:?}"
        );
        if l1_distance(&z, &least) < 1e-8 {
            to_least += 1;
        } else if l1_distance(&z, &greatest) < 1e-8 {
            to_greatest += 1;
        }
    }
    // Every start ends at one of the two (T-BR finds no third equilibrium between them),
    // and both basins are reached.
    assert_eq!(to_least + to_greatest, starts.len());
    assert!(to_least > 1 && to_greatest > 1, "{to_least} {to_greatest}");
}

#[test]
fn at_invest_cost_0_3_the_least_and_the_greatest_coincide() {
    let sc = scenario(&["model.invest_cost=0.3"]);
    let want = &reference()["kappa_0.3"];
    let least = tbr(&sc, &Start::Lowest);
    let greatest = tbr(&sc, &Start::Highest);
    assert_monotone(&least, true);
    assert_monotone(&greatest, false);
    assert_matches(&least, &want["lowest"], "least at 0.3");
    assert_matches(&greatest, &want["highest"], "greatest at 0.3");
    assert!(l1_distance(&least.z, &greatest.z) < 1e-9);
    assert_eq!(greatest.policy.greedy(), vec![0; 6]);
}

#[test]
fn the_game_is_bistable_for_invest_cost_from_0_0118_to_0_2171() {
    // The edges, found with `mfgsim sweep … --grid model.invest_cost=0.010:0.015:51` (and
    // 0.215:0.220:51) and bisected with `mfgsim solve`: least ≠ greatest exactly for
    // invest_cost in (0.0117809, 0.2171035). Below, investing is so cheap that even the
    // least T-MFE invests everywhere; above, nobody invests even at the greatest.
    for (cost, bistable) in [
        (0.0, false),
        (0.0117, false),
        (0.0118, true),
        (0.013, true),
        (0.1, true),
        (0.2171, true),
        (0.2172, false),
        (0.25, false),
    ] {
        let set = format!("model.invest_cost={cost}");
        let sc = scenario(&[&set]);
        let least = tbr(&sc, &Start::Lowest);
        let greatest = tbr(&sc, &Start::Highest);
        let gap = l1_distance(&least.z, &greatest.z);
        assert_eq!(gap > 1e-3, bistable, "invest_cost {cost}: L1 gap {gap:e}");
        if !bistable {
            assert!(gap < 1e-9, "invest_cost {cost}: L1 gap {gap:e}");
        }
        assert!(stochastically_le(&least.z, &greatest.z, 1e-12));
        // Strategic complementarities: the greedy action is non-decreasing in the state
        // (near the lower edge the least T-MFE invests from level 3 or 4 up).
        for sol in [&least, &greatest] {
            let g = sol.policy.greedy();
            assert!(
                g.windows(2).all(|w| w[0] <= w[1]),
                "invest_cost {cost}: {g:?}"
            );
        }
    }
    let sc = scenario(&["model.invest_cost=0.0118"]);
    assert_eq!(tbr(&sc, &Start::Lowest).policy.greedy(), [0, 0, 0, 1, 1, 1]);
}

#[test]
fn every_learner_runs_on_adoption() {
    for (algo, extra) in [
        ("online", &["sim.agents=20000"][..]),
        ("online", &["sim.agents=1e9", "sim.engine=counts"][..]),
        ("online", &["sim.agents=20000", "learner.rule=sampled"][..]),
        (
            "tmfq",
            &[
                "learner.sim_agents=20000",
                "learner.max_sim_transitions=100000",
                "learner.mf_agents=20000",
            ][..],
        ),
        ("gmbl", &["learner.gen_samples=2000"][..]),
        ("iql", &["sim.agents=20000"][..]),
        ("mfq", &["sim.agents=20000"][..]),
    ] {
        let algo_key = format!("learner.algo={algo}");
        let mut o = vec![algo_key.as_str(), "sim.iterations=4", "sim.seed=3"];
        o.extend_from_slice(extra);
        let sc = scenario(&o);
        let report = crate::util::learn_to_end(&sc);
        let what = format!("{algo} {extra:?}");
        assert_eq!(report.iterations, 4, "{what}");
        assert_eq!(report.snapshots.len(), 4, "{what}");
        assert_eq!(report.z.len(), 6, "{what}");
        assert!(
            report.z.iter().all(|p| p.is_finite() && *p >= 0.0),
            "{what}"
        );
        assert!((report.z.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{what}");
        for v in [report.mean_state, report.l1_to_tmfe] {
            assert!(v.is_finite() && v >= 0.0, "{what}: {v}");
        }
        // Exploitabilities come from value iterations stopped at a tolerance: zero can show
        // as a tiny negative number.
        for v in [report.exploitability, report.exploitability_weighted] {
            assert!(v.is_finite() && v > -1e-6, "{what}: {v}");
        }
        assert!(
            report.policy.probs().iter().all(|p| p.is_finite()),
            "{what}"
        );
    }
}
