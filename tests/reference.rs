//! The exact solver against independent reference values (tests/data/tmfe_reference.json).

use crate::util::{f64s, reference, usizes};
use mfgsim::model::{Gig, Infection};
use mfgsim::space::l1_distance;
use mfgsim::{solve, GameParams, Model, SolverParams, Start};

fn check(model: &dyn Model, key: &str) {
    let r = &reference()[key];
    let sol = solve(
        model,
        GameParams::default(),
        &SolverParams::default(),
        &Start::Uniform,
    )
    .unwrap();
    assert!(sol.converged(), "{key}: {:?}", sol.termination);
    let z_ref = f64s(&r["z"]);
    let l1 = l1_distance(&sol.z, &z_ref);
    assert!(l1 < 1e-6, "{key}: ||z - z_ref||_1 = {l1:e}");
    assert_eq!(sol.policy.greedy(), usizes(&r["greedy_action"]), "{key}");
    assert!((sol.mean_state - r["mean_state"].as_f64().unwrap()).abs() < 1e-5);
    let q_ref: Vec<f64> = r["Q"].as_array().unwrap().iter().flat_map(f64s).collect();
    let dq = mfgsim::space::sup_distance(sol.q.values(), &q_ref);
    assert!(dq < 1e-6, "{key}: ||Q - Q_ref||_inf = {dq:e}");
    assert!(sol.consistency_l1 < 1e-9, "{key}: {}", sol.consistency_l1);
    assert!(
        sol.exploitability.max.abs() < 1e-9,
        "{key}: {:?}",
        sol.exploitability
    );
}

#[test]
fn infection_default_matches_reference() {
    check(&Infection::default(), "infection_default");
}

#[test]
fn gig_default_matches_reference() {
    check(&Gig::default(), "gig_default");
}
