//! The finite-N study: the agent and count engines agree in distribution (which cross-checks
//! both), results do not depend on threads, and the fitted rate is the CLT's −1/2.

use std::sync::atomic::AtomicBool;

use mfgsim::finite_n::{
    run_study, EngineKind, FiniteNParams, FiniteNReport, Limit, PolicySource, RunResult,
};
use mfgsim::model::{Gig, Infection};
use mfgsim::space::Policy;
use mfgsim::{solve, GameParams, Model, Solution, SolverParams, Start};

fn tmfe(model: &dyn Model) -> Solution {
    solve(
        model,
        GameParams::default(),
        &SolverParams::default(),
        &Start::Uniform,
    )
    .unwrap()
}

/// Runs a study against the model's exact T-MFE with default γ, ε.
fn study_at(
    model: &dyn Model,
    sol: &Solution,
    policy: &Policy,
    params: &FiniteNParams,
) -> FiniteNReport {
    let limit = Limit { z: &sol.z, policy };
    run_study(
        model,
        GameParams::default(),
        limit,
        params,
        &AtomicBool::new(false),
        &|_| {},
    )
    .unwrap()
}

/// Replicates per engine in the agreement tests.
const K: usize = 600;
/// Steps from z* to the compared state.
const STEPS: u64 = 20;

/// K runs of N agents for STEPS steps from z*, recording only the last step.
fn last_steps(
    model: &dyn Model,
    sol: &Solution,
    policy: &Policy,
    engine: EngineKind,
    n: u64,
    base_seed: u64,
) -> Vec<RunResult> {
    let (k, steps) = (K, STEPS);
    let params = FiniteNParams {
        agents: vec![n],
        seeds: k,
        base_seed,
        steps: 1,
        burn_in: steps - 1,
        engine,
        bootstrap: 0,
        ..FiniteNParams::default()
    };
    let report = study_at(model, sol, policy, &params);
    assert_eq!(report.runs.len(), k);
    report.runs
}

/// Mean, variance (divisor K − 1) and the estimated variance of each of them.
struct Moments {
    mean: f64,
    var: f64,
    var_of_mean: f64,
    var_of_var: f64,
}

fn moments(xs: &[f64]) -> Moments {
    let k = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / k;
    let m2 = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / k;
    let m4 = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / k;
    let var = m2 * k / (k - 1.0);
    Moments {
        mean,
        var,
        var_of_mean: var / k,
        // Var(s²) ≈ (μ₄ − σ⁴)/K for i.i.d. samples.
        var_of_var: ((m4 - m2 * m2) / k).max(1e-300),
    }
}

/// The largest |z| over the two-sample tests of the mean and of the variance of ‖z^N − z*‖₁
/// and of every z^N(s).
fn worst_z(a: &[RunResult], b: &[RunResult]) -> (f64, String) {
    let ns = a[0].steps[0].z.len();
    let mut stats: Vec<(String, Vec<f64>, Vec<f64>)> = vec![(
        "l1".into(),
        a.iter().map(|r| r.steps[0].l1).collect(),
        b.iter().map(|r| r.steps[0].l1).collect(),
    )];
    for s in 0..ns {
        stats.push((
            format!("z({s})"),
            a.iter().map(|r| r.steps[0].z[s]).collect(),
            b.iter().map(|r| r.steps[0].z[s]).collect(),
        ));
    }
    let mut worst = (0.0f64, String::new());
    for (name, xa, xb) in &stats {
        let (ma, mb) = (moments(xa), moments(xb));
        if ma.var == 0.0 && mb.var == 0.0 {
            assert_eq!(ma.mean, mb.mean, "{name}: constant but different");
            continue;
        }
        let z_mean = (ma.mean - mb.mean) / (ma.var_of_mean + mb.var_of_mean).sqrt();
        let z_var = (ma.var - mb.var) / (ma.var_of_var + mb.var_of_var).sqrt();
        for (kind, z) in [("mean", z_mean), ("variance", z_var)] {
            if z.abs() > worst.0 {
                worst = (z.abs(), format!("{kind} of {name}: z = {z:.2}"));
            }
        }
    }
    worst
}

/// The two engines agree in distribution after 20 steps at N = 1000 (27 statistics, each
/// mean and variance over K = 600 seeds); the same test tells apart N = 1000 from N = 1250 and
/// μ* from a slightly different strategy, so it has the power to catch a wrong engine.
#[test]
fn agent_and_count_engines_agree_in_distribution() {
    let model = Infection::default();
    let sol = tmfe(&model);
    let n = 1000;
    let agents = last_steps(&model, &sol, &sol.policy, EngineKind::Agents, n, 0);
    let counts = last_steps(&model, &sol, &sol.policy, EngineKind::Counts, n, 10_000);
    let (z, which) = worst_z(&agents, &counts);
    assert!(z < 4.5, "engines disagree: {which}");

    // Power: 25% more agents.
    let more = last_steps(&model, &sol, &sol.policy, EngineKind::Counts, 1250, 20_000);
    let (z, which) = worst_z(&agents, &more);
    assert!(z > 6.0, "N = 1000 vs 1250 not detected (worst {which})");

    // Power: a strategy that moves 5% of the greedy mass to another action.
    let na = model.num_actions();
    let mut probs = sol.policy.probs().to_vec();
    for s in 0..model.num_states() {
        let g = sol.policy.greedy()[s];
        probs[s * na + g] -= 0.05;
        probs[s * na + (g + 1) % na] += 0.05;
    }
    let tilted = Policy::from_probs(model.num_states(), na, probs);
    let other = last_steps(&model, &sol, &tilted, EngineKind::Counts, n, 30_000);
    let (z, which) = worst_z(&agents, &other);
    assert!(
        z > 6.0,
        "a tilted strategy was not detected (worst {which})"
    );
}

/// The same on the gig model (a different kernel shape), at N = 300.
#[test]
fn engines_agree_on_gig() {
    let model = Gig::default();
    let sol = tmfe(&model);
    let agents = last_steps(&model, &sol, &sol.policy, EngineKind::Agents, 300, 1);
    let counts = last_steps(&model, &sol, &sol.policy, EngineKind::Counts, 300, 2);
    let (z, which) = worst_z(&agents, &counts);
    assert!(z < 4.5, "engines disagree: {which}");
}

fn study(threads: usize, engine: EngineKind, policy: PolicySource) -> Vec<u64> {
    let model = Infection::default();
    let sol = tmfe(&model);
    let params = FiniteNParams {
        // 300 000 > PAR_SEEDS_MAX_AGENTS: replicates one after the other, steps in parallel.
        agents: vec![500, 300_000],
        seeds: 3,
        base_seed: 11,
        steps: 4,
        burn_in: 2,
        engine,
        policy,
        bootstrap: 50,
        ..FiniteNParams::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let report = pool
        .install(|| {
            run_study(
                &model,
                GameParams::default(),
                Limit {
                    z: &sol.z,
                    policy: &sol.policy,
                },
                &params,
                &AtomicBool::new(false),
                &|_| {},
            )
        })
        .unwrap();
    let mut bits = Vec::new();
    for r in &report.runs {
        bits.push(r.agents);
        bits.push(r.seed);
        for s in &r.steps {
            bits.push(s.l1.to_bits());
            bits.extend(s.z.iter().map(|x| x.to_bits()));
        }
    }
    let fit = report.fit.unwrap();
    bits.push(fit.slope.to_bits());
    bits.push(fit.slope_ci.unwrap().0.to_bits());
    bits
}

#[test]
fn studies_are_bitwise_identical_for_1_and_2_threads() {
    for engine in [EngineKind::Agents, EngineKind::Counts] {
        for policy in [PolicySource::Tmfe, PolicySource::Learned] {
            let one = study(1, engine, policy);
            assert_eq!(one, study(2, engine, policy), "{engine:?} {policy:?}");
        }
    }
}

/// With the count engine the CLT rate holds over ten decades: slope −1/2 within its CI.
#[test]
fn count_engine_rate_is_minus_one_half_up_to_a_trillion_agents() {
    let model = Gig::default();
    let sol = tmfe(&model);
    let params = FiniteNParams {
        agents: vec![1_000, 1_000_000, 1_000_000_000, 1_000_000_000_000],
        seeds: 8,
        steps: 100,
        burn_in: 20,
        engine: EngineKind::Counts,
        ..FiniteNParams::default()
    };
    let report = study_at(&model, &sol, &sol.policy, &params);
    let fit = report.fit.unwrap();
    let (lo, hi) = fit.slope_ci.unwrap();
    assert!(lo < hi && lo < fit.slope && fit.slope < hi);
    assert!(
        (lo - 0.01..hi + 0.01).contains(&-0.5),
        "slope {} CI [{lo}, {hi}]",
        fit.slope
    );
    assert!((fit.slope + 0.5).abs() < 0.02, "slope {}", fit.slope);
    // N·Σ var levels off: within 20% across nine decades.
    let nv: Vec<f64> = report.groups.iter().map(|g| g.n_times_variance).collect();
    let (min, max) = nv
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(max / min < 1.2, "N·Σvar = {nv:?}");
    assert!(report.groups[3].mean_l1 < 1e-5);
}

/// Online TMFQ on either engine (the count engine hands the learner an exchangeable sample
/// of its transitions): both learn the gig T-MFE to within sampling error at N = 10⁵
/// (measured ≈ 0.005 for both; at z* exactly the error would be ≈ 0.005 too).
#[test]
fn learned_policy_reaches_the_mean_field_on_both_engines() {
    let model = Gig::default();
    let sol = tmfe(&model);
    let mut means = Vec::new();
    for engine in [EngineKind::Agents, EngineKind::Counts] {
        let params = FiniteNParams {
            agents: vec![100_000],
            seeds: 2,
            steps: 50,
            burn_in: 100,
            engine,
            policy: PolicySource::Learned,
            bootstrap: 0,
            ..FiniteNParams::default()
        };
        let report = study_at(&model, &sol, &sol.policy, &params);
        let g = &report.groups[0];
        assert!(g.mean_l1 < 0.01, "{engine:?}: mean L1 {}", g.mean_l1);
        // The learned greedy actions are the T-MFE's (gig has large action gaps).
        let expl = g.mean_exploitability.unwrap();
        assert!(expl.max < 1e-3, "{engine:?}: exploitability {expl:?}");
        assert!(report.runs[0].steps[0].exploitability.is_some());
        means.push(g.mean_l1);
    }
    assert!((means[0] / means[1]).ln().abs() < 0.5, "{means:?}");
}

/// More than 256 states: the agent engine switches to a u16 state column and still agrees
/// with the count engine on the mean error (300-state infection, N = 3000, 60 seeds).
#[test]
fn more_than_256_states_use_the_wide_state_column() {
    use mfgsim::model::InfectionParams;
    let model = Infection::try_new(InfectionParams {
        num_states: 300,
        w2_pmf: vec![1.0 / 300.0; 300],
        ..InfectionParams::default()
    })
    .unwrap();
    let sol = tmfe(&model);
    let mut means = Vec::new();
    for engine in [EngineKind::Agents, EngineKind::Counts] {
        let params = FiniteNParams {
            agents: vec![3000],
            seeds: 60,
            steps: 1,
            burn_in: 9,
            engine,
            bootstrap: 0,
            ..FiniteNParams::default()
        };
        let report = study_at(&model, &sol, &sol.policy, &params);
        let g = &report.groups[0];
        means.push((g.mean_l1, g.se_l1));
    }
    let ((a, sa), (b, sb)) = (means[0], means[1]);
    let z = (a - b) / (sa * sa + sb * sb).sqrt();
    assert!(z.abs() < 4.5, "{means:?}: z = {z}");
}

/// The running statistics (kept without the steps) equal those recomputed from the steps.
#[test]
fn statistics_do_not_depend_on_keeping_the_steps() {
    let model = Gig::default();
    let sol = tmfe(&model);
    let mut params = FiniteNParams {
        agents: vec![1000, 50_000],
        seeds: 3,
        steps: 40,
        burn_in: 5,
        bootstrap: 100,
        ..FiniteNParams::default()
    };
    let kept = study_at(&model, &sol, &sol.policy, &params);
    params.keep_steps = false;
    let lean = study_at(&model, &sol, &sol.policy, &params);
    assert!(lean
        .runs
        .iter()
        .all(|r| r.steps.is_empty() && r.recorded == 40));
    for (a, b) in kept.runs.iter().zip(&lean.runs) {
        assert_eq!(a.steps.len(), 40);
        assert_eq!(a.steps[0].t, 6);
        assert_eq!(
            (a.mean_l1, a.max_l1, &a.variance),
            (b.mean_l1, b.max_l1, &b.variance)
        );
        // Two-pass statistics from the kept steps agree with the running ones.
        let t = a.steps.len() as f64;
        let mean = a.steps.iter().map(|s| s.l1).sum::<f64>() / t;
        let max = a.steps.iter().map(|s| s.l1).fold(0.0, f64::max);
        assert!((mean - a.mean_l1).abs() < 1e-14 && max == a.max_l1);
        for s in 0..model.num_states() {
            let m = a.steps.iter().map(|r| r.z[s]).sum::<f64>() / t;
            let v = a.steps.iter().map(|r| (r.z[s] - m).powi(2)).sum::<f64>() / t;
            assert!((m - sol.z[s] - a.bias[s]).abs() < 1e-14);
            assert!(
                (v - a.variance[s]).abs() < 1e-15 + 1e-10 * v,
                "{v} vs {}",
                a.variance[s]
            );
        }
    }
    assert_eq!(kept.fit, lean.fit);
}
