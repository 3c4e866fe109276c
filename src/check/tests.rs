use super::tally::{AllPairs, PairSite};
use super::*;
use crate::model::invariants::check_model_at;
use crate::model::{mean_state, Gig, Infection};
use crate::space::on_simplex;
use crate::{solve, GameParams, SolverParams, Start};

const NS: usize = 4;
const NA: usize = 3;

/// A 4-state, 3-action model given by a reward r(s, a, m) and a kernel tail
/// T(t | s, a, m), t ≥ 1, where m = m(z)/3 ∈ [0, 1] is the normalised mean state
/// (z ⪯ z' implies m ≤ m').
#[derive(Debug)]
struct Toy {
    reward: fn(usize, usize, f64) -> f64,
    tail: fn(usize, usize, usize, f64) -> f64,
}

fn m(z: &[f64]) -> f64 {
    mean_state(z) / (NS - 1) as f64
}

impl Model for Toy {
    fn num_states(&self) -> usize {
        NS
    }
    fn num_actions(&self) -> usize {
        NA
    }
    fn reward(&self, s: usize, a: usize, z: &[f64]) -> f64 {
        (self.reward)(s, a, m(z))
    }
    fn transition_row(&self, s: usize, a: usize, z: &[f64], out: &mut [f64]) {
        let m = m(z);
        let tail = |t: usize| match t {
            0 => 1.0,
            NS => 0.0,
            t => (self.tail)(t, s, a, m),
        };
        for (t, o) in out.iter_mut().enumerate() {
            *o = tail(t) - tail(t + 1);
        }
    }
    fn name(&self) -> &str {
        "toy"
    }
}

// Tails of the building blocks, t ≥ 1.
/// X = min(s + 1, 3).
fn u(t: usize, s: usize) -> f64 {
    f64::from((s + 1).min(NS - 1) >= t)
}
/// Y = b + Bernoulli(1/2), b ≤ 2.
fn v(t: usize, b: usize) -> f64 {
    if t <= b {
        1.0
    } else if t == b + 1 {
        0.5
    } else {
        0.0
    }
}
/// W = 1, or 3 with probability (1 + m)/2.
fn w(t: usize, m: f64) -> f64 {
    if t <= 1 {
        1.0
    } else {
        0.5 + 0.5 * m
    }
}

/// Satisfies (i): increasing in s, cross term 0.1·s·a, z-term 0.1(s + a)m.
fn good_reward(s: usize, a: usize, m: f64) -> f64 {
    let (s, a) = (s as f64, a as f64);
    s * (1.0 + 0.1 * a) + 0.1 * (s + a) * m - 0.05 * a * a
}
/// s' = min(X, Y, W): the tail u·v·w is a product of non-negative non-decreasing
/// factors, so (ii) holds with strict inequalities in many places.
fn good_product_tail(t: usize, s: usize, a: usize, m: f64) -> f64 {
    u(t, s) * v(t, a) * w(t, m)
}
/// Equal mixture of X, Y, W: (ii) holds, supermodularity and increasing differences
/// with equality, so each variant below can break exactly one condition.
fn good_additive_tail(t: usize, s: usize, a: usize, m: f64) -> f64 {
    (u(t, s) + v(t, a) + w(t, m)) / 3.0
}

fn toy(reward: fn(usize, usize, f64) -> f64, tail: fn(usize, usize, usize, f64) -> f64) -> Toy {
    let model = Toy { reward, tail };
    for z in [point_mass(NS, 0), uniform(NS), point_mass(NS, NS - 1)] {
        assert_eq!(check_model_at(&model, &z), None);
    }
    model
}

fn run(model: &Toy) -> CheckReport {
    check_model(model, None, &CheckOptions::default()).unwrap()
}

/// Asserts that exactly `expect` is violated and returns the witness of `expect[0]`.
fn violated_exactly(report: &CheckReport, expect: &[Condition]) -> Witness {
    assert_eq!(report.violated(), expect, "{report}");
    for c in &report.conditions {
        assert!(c.tested > 0, "{} tested nothing", c.condition);
        assert_eq!(c.holds, c.witness.is_none());
        assert_eq!(c.holds, c.worst_violation == 0.0);
    }
    report.condition(expect[0]).witness.clone().unwrap()
}

#[test]
fn good_toys_satisfy_everything() {
    for tail in [good_product_tail as fn(_, _, _, _) -> _, good_additive_tail] {
        let report = run(&toy(good_reward, tail));
        assert!(report.all_hold(), "{report}");
        assert!(report.violated().is_empty());
    }
}

#[test]
fn reward_decreasing_in_s_at_one_action() {
    // Slope in s is 0.2a − 0.1 + 0.1m: negative at a = 0 only; a = 2 stays the arg max.
    fn r(s: usize, a: usize, m: f64) -> f64 {
        let (s, a) = (s as f64, a as f64);
        s * (0.2 * a - 0.1) + 0.1 * (s + a) * m + a
    }
    let report = run(&toy(r, good_product_tail));
    let wit = violated_exactly(&report, &[Condition::RNondecreasingInS]);
    let c = report.condition(Condition::RNondecreasingInS);
    assert!((c.worst_violation - 0.1).abs() < 1e-12, "{report}");
    assert_eq!((wit.a, wit.step, wit.threshold), (0, Step::S, None));
    assert_eq!((wit.z.as_str(), wit.z_prime), ("point(0)", None));
    assert!((wit.rhs - wit.lhs - c.worst_violation).abs() < 1e-15);
}

#[test]
fn reward_decreasing_in_s_everywhere_also_breaks_the_max() {
    fn r(s: usize, a: usize, m: f64) -> f64 {
        -(s as f64) + 0.1 * (s + a) as f64 * m
    }
    let report = run(&toy(r, good_product_tail));
    violated_exactly(
        &report,
        &[
            Condition::RNondecreasingInS,
            Condition::RMaxNondecreasingInS,
        ],
    );
    let c = report.condition(Condition::RMaxNondecreasingInS);
    // At m = 0 every action gives −s: max drops by exactly 1, arg max a = 0.
    assert_eq!(c.worst_violation, 1.0);
    let wit = c.witness.as_ref().unwrap();
    assert_eq!((wit.s, wit.a, wit.step), (0, 0, Step::S));
    assert_eq!(wit.z, "point(0)");
}

#[test]
fn reward_submodular() {
    fn r(s: usize, a: usize, m: f64) -> f64 {
        let (s, a) = (s as f64, a as f64);
        s * (1.0 - 0.1 * a) + 0.1 * (s + a) * m
    }
    let report = run(&toy(r, good_product_tail));
    let wit = violated_exactly(&report, &[Condition::RSupermodularSa]);
    let c = report.condition(Condition::RSupermodularSa);
    assert!((c.worst_violation - 0.1).abs() < 1e-12, "{report}");
    assert_eq!(
        (wit.step, wit.threshold, wit.z_prime),
        (Step::SA, None, None)
    );
    assert!(wit.s < NS - 1 && wit.a < NA - 1);
}

#[test]
fn reward_differences_in_z_decreasing_in_s() {
    // D(s, a) = 0.1(3 − s)(m' − m): largest drop for point(0) ⪯ point(3).
    fn r(s: usize, a: usize, m: f64) -> f64 {
        let (s, a) = (s as f64, a as f64);
        s * (1.0 + 0.1 * a) + 0.1 * (3.0 - s) * m
    }
    let report = run(&toy(r, good_product_tail));
    let wit = violated_exactly(&report, &[Condition::RIncreasingDifferencesSaZ]);
    let c = report.condition(Condition::RIncreasingDifferencesSaZ);
    assert!((c.worst_violation - 0.1).abs() < 1e-12, "{report}");
    assert_eq!((wit.step, wit.threshold), (Step::S, None));
    assert_eq!(wit.z, "point(0)");
    assert_eq!(wit.z_prime.as_deref(), Some("point(3)"));
}

#[test]
fn kernel_moving_down_when_a_increases() {
    fn tail(t: usize, s: usize, a: usize, m: f64) -> f64 {
        (u(t, s) + v(t, 2 - a) + w(t, m)) / 3.0
    }
    let report = run(&toy(good_reward, tail));
    let wit = violated_exactly(&report, &[Condition::PNondecreasingInA]);
    let c = report.condition(Condition::PNondecreasingInA);
    assert!((c.worst_violation - 0.5 / 3.0).abs() < 1e-12, "{report}");
    assert_eq!((wit.step, wit.z_prime.as_deref()), (Step::A, None));
    // Y drops from 2 − a + B to 1 − a + B: the tail falls at t = 2 − a and t = 3 − a.
    let t = wit.threshold.unwrap();
    assert!(t == 2 - wit.a || t == 3 - wit.a, "{wit:?}");
}

#[test]
fn kernel_moving_down_when_s_increases() {
    fn tail(t: usize, s: usize, a: usize, m: f64) -> f64 {
        (u(t, 3 - s) + v(t, a) + w(t, m)) / 3.0
    }
    let report = run(&toy(good_reward, tail));
    let wit = violated_exactly(&report, &[Condition::PNondecreasingInS]);
    let c = report.condition(Condition::PNondecreasingInS);
    assert!((c.worst_violation - 1.0 / 3.0).abs() < 1e-12, "{report}");
    // X = min(4 − s, 3) falls from 3 to 2 (s = 1 → 2) and from 2 to 1 (s = 2 → 3).
    assert_eq!(wit.step, Step::S);
    assert_eq!(Some(4 - wit.s), wit.threshold, "{wit:?}");
}

#[test]
fn kernel_moving_down_when_z_increases() {
    fn tail(t: usize, s: usize, a: usize, m: f64) -> f64 {
        (u(t, s) + v(t, a) + w(t, 1.0 - m)) / 3.0
    }
    let report = run(&toy(good_reward, tail));
    let wit = violated_exactly(&report, &[Condition::PNondecreasingInZ]);
    let c = report.condition(Condition::PNondecreasingInZ);
    assert!((c.worst_violation - 0.5 / 3.0).abs() < 1e-12, "{report}");
    assert_eq!(wit.step, Step::Z);
    assert!(matches!(wit.threshold, Some(2 | 3)), "{wit:?}");
    assert_eq!(wit.z, "point(0)");
    assert_eq!(wit.z_prime.as_deref(), Some("point(3)"));
}

#[test]
fn kernel_submodular() {
    // Mixture of max(X, Y) and W: the tail of max(X, Y) is 1 − (1 − u)(1 − v).
    fn tail(t: usize, s: usize, a: usize, m: f64) -> f64 {
        (1.0 - (1.0 - u(t, s)) * (1.0 - v(t, a)) + w(t, m)) / 2.0
    }
    let report = run(&toy(good_reward, tail));
    let wit = violated_exactly(&report, &[Condition::PSupermodularSa]);
    let c = report.condition(Condition::PSupermodularSa);
    assert!((c.worst_violation - 0.25).abs() < 1e-12, "{report}");
    assert_eq!((wit.step, wit.z_prime.as_deref()), (Step::SA, None));
    // Needs X to cross t (t = s + 2) while Y's tail rises by 1/2 (t = a + 1 or a + 2).
    let t = wit.threshold.unwrap();
    assert_eq!(t, wit.s + 2, "{wit:?}");
    assert!(t == wit.a + 1 || t == wit.a + 2, "{wit:?}");
}

#[test]
fn kernel_differences_in_z_decreasing_in_s() {
    // Mixture of Y and max(X, W): D_t = (w' − w)(1 − u(t, s))/2 falls where X crosses t.
    fn tail(t: usize, s: usize, a: usize, m: f64) -> f64 {
        (v(t, a) + 1.0 - (1.0 - u(t, s)) * (1.0 - w(t, m))) / 2.0
    }
    let report = run(&toy(good_reward, tail));
    let wit = violated_exactly(&report, &[Condition::PIncreasingDifferencesSaZ]);
    let c = report.condition(Condition::PIncreasingDifferencesSaZ);
    assert!((c.worst_violation - 0.25).abs() < 1e-12, "{report}");
    assert_eq!(wit.step, Step::S);
    assert_eq!(wit.threshold, Some(wit.s + 2), "{wit:?}");
    assert!(matches!(wit.threshold, Some(2 | 3)), "{wit:?}");
    assert_eq!(wit.z, "point(0)");
    assert_eq!(wit.z_prime.as_deref(), Some("point(3)"));
}

#[test]
fn tolerance_hides_small_violations() {
    // r dips by 1e-9 from s = 1 to s = 2 and is flat otherwise.
    fn r(s: usize, _a: usize, _m: f64) -> f64 {
        -1e-9 * f64::from(s == 2)
    }
    let model = toy(r, good_product_tail);
    let strict = check_model(&model, None, &CheckOptions::default()).unwrap();
    let wit = violated_exactly(
        &strict,
        &[
            Condition::RNondecreasingInS,
            Condition::RMaxNondecreasingInS,
        ],
    );
    assert_eq!((wit.s, wit.a), (1, 0));
    assert_eq!(
        strict
            .condition(Condition::RNondecreasingInS)
            .worst_violation,
        1e-9
    );
    let loose = CheckOptions {
        tol: 1e-8,
        ..CheckOptions::default()
    };
    assert!(check_model(&model, None, &loose).unwrap().all_hold());
}

#[test]
fn pairs_are_ordered_and_reproducible() {
    let opts = CheckOptions {
        random_pairs: 50,
        seed: 7,
        ..CheckOptions::default()
    };
    let (fields, pairs) = test_fields(NS, Some(&[0.1, 0.2, 0.3, 0.4]), &opts);
    // 6 point pairs, 2 with the uniform, 3 with the T-MFE, 50 random.
    assert_eq!(pairs.len(), 6 + 2 + 3 + 50);
    assert_eq!(fields.len(), NS + 2 + 100);
    for f in &fields {
        assert!(on_simplex(&f.z, 1e-12), "{}: {:?}", f.label, f.z);
    }
    let (again, _) = test_fields(NS, Some(&[0.1, 0.2, 0.3, 0.4]), &opts);
    assert!(fields.iter().zip(&again).all(|(a, b)| a.z == b.z));
    let labels: Vec<_> = pairs
        .iter()
        .map(|&(l, h)| (fields[l].label.as_str(), fields[h].label.as_str()))
        .collect();
    assert!(labels.contains(&("uniform", "tmfe")));
    assert!(labels.contains(&("random#49/lo", "random#49/hi")));

    // Above ALL_POINT_PAIRS_MAX_STATES: adjacent point pairs plus (0, top).
    let ns = ALL_POINT_PAIRS_MAX_STATES + 8;
    let opts = CheckOptions {
        random_pairs: 3,
        ..CheckOptions::default()
    };
    let (fields, pairs) = test_fields(ns, None, &opts);
    assert_eq!(pairs.len(), (ns - 1) + 1 + 2 + 3);
    assert_eq!(fields.len(), ns + 1 + 6);
}

#[test]
fn tmfe_that_is_not_ordered_against_the_uniform_is_skipped_there() {
    // Mass at both ends: neither ⪯ nor ⪰ the uniform on 4 states.
    let z = [0.5, 0.0, 0.0, 0.5];
    let (fields, pairs) = test_fields(NS, Some(&z), &CheckOptions::default());
    let tmfe = fields.iter().position(|f| f.label == "tmfe").unwrap();
    let with_tmfe: Vec<_> = pairs
        .iter()
        .filter(|&&(l, h)| l == tmfe || h == tmfe)
        .collect();
    assert_eq!(with_tmfe, [&(0, tmfe), &(tmfe, NS - 1)]);
}

#[test]
fn dominance_pairs_are_pmfs_in_order() {
    let mut rng = stream(3, Purpose::Check, 0, 0);
    let (mut p1, mut p2) = (vec![0.0; 25], vec![0.0; 25]);
    for _ in 0..1000 {
        random_pmf(&mut rng, &mut p1);
        random_pmf(&mut rng, &mut p2);
        let (lo, hi) = dominance_pair(&p1, &p2);
        assert!(on_simplex(&lo, 1e-12) && on_simplex(&hi, 1e-12));
        assert!(lo.iter().chain(&hi).all(|p| *p >= 0.0));
        assert!(stochastically_le(&lo, &hi, ORDER_TOL));
        assert!(stochastically_le(&lo, &p1, 1e-12) && stochastically_le(&p2, &hi, 1e-12));
    }
}

#[test]
fn rejects_bad_inputs() {
    let model = toy(good_reward, good_product_tail);
    let opts = CheckOptions {
        tol: -1.0,
        ..CheckOptions::default()
    };
    let e = check_model(&model, None, &opts).unwrap_err().to_string();
    assert!(e.contains("tol"), "{e}");
    let e = check_model(&model, Some(&[1.0]), &CheckOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("tmfe") && e.contains("4 entries"), "{e}");
    let e = check_model(&model, Some(&[0.5; 4]), &CheckOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("tmfe") && e.contains("probability"), "{e}");
}

#[test]
fn report_displays_and_serializes() {
    fn r(s: usize, a: usize, m: f64) -> f64 {
        let (s, a) = (s as f64, a as f64);
        s * (1.0 - 0.1 * a) + 0.1 * (s + a) * m
    }
    let report = run(&toy(r, good_product_tail));
    let table = report.to_string();
    for c in Condition::ALL {
        assert!(table.contains(c.id()), "{table}");
    }
    assert!(table.contains("VIOLATED") && table.contains("1 of 9 conditions violated"));
    assert!(table.contains("step=sa z="), "{table}");

    let json = serde_json::to_value(&report).unwrap();
    let conds = json["conditions"].as_array().unwrap();
    assert_eq!(conds.len(), 9);
    for (c, j) in Condition::ALL.iter().zip(conds) {
        assert_eq!(j["id"], c.id());
    }
    assert_eq!(conds[1]["holds"], false);
    assert_eq!(conds[1]["witness"]["step"], "sa");
    assert_eq!(conds[1]["witness"]["threshold"], serde_json::Value::Null);
    assert_eq!(conds[0]["witness"], serde_json::Value::Null);
}

#[test]
fn same_seed_same_report() {
    let model = Infection::default();
    let opts = CheckOptions {
        random_pairs: 20,
        seed: 11,
        ..CheckOptions::default()
    };
    let a = check_model(&model, None, &opts).unwrap();
    let b = check_model(&model, None, &opts).unwrap();
    assert_eq!(a, b);
}

fn default_report(model: &(impl Model + ?Sized)) -> CheckReport {
    let params = SolverParams::default();
    let sol = solve(model, GameParams::default(), &params, &Start::Uniform).unwrap();
    let report = check_model(model, Some(&sol.z), &CheckOptions::default()).unwrap();
    assert!(report.with_tmfe);
    report
}

/// Regression: the verdicts on the default infection model. The reward satisfies (i)
/// (it is additively separable in s, a and z); the kernel is monotone in s, a and z, but
/// depends on (s, a) only through s + a with an indicator jump at s + a = t, so it is
/// not supermodular, and the infected part makes the z-differences fall in s and a.
#[test]
fn regression_infection_default() {
    let report = default_report(&Infection::default());
    assert_eq!(
        report.violated(),
        [
            Condition::PSupermodularSa,
            Condition::PIncreasingDifferencesSaZ
        ],
        "{report}"
    );
    let (zeta, w1_levels) = (0.05, 11.0);
    let infection = |m: f64| 0.1 * (-m / 20.0f64).exp();

    // Worst at the lowest infection probability (everyone at the top, m = 24): the
    // uninfected mass (1 − ζ)(1 − i) jumps over t at s + a = t − 1 → t.
    let c = report.condition(Condition::PSupermodularSa);
    let expect = (1.0 - zeta) * (1.0 - infection(24.0));
    assert!((c.worst_violation - expect).abs() < 1e-12, "{report}");
    let wit = c.witness.as_ref().unwrap();
    assert_eq!((wit.step, wit.z.as_str()), (Step::SA, "point(24)"));
    assert_eq!(wit.threshold, Some(wit.s + wit.a + 1));

    // D_t = (1 − ζ)(i_z − i_z')(1{s+a ≥ t} − P(w1 ≤ s+a−t)) loses (1−ζ)Δi/11 per step
    // once s + a ≥ t; Δi is largest for point(0) ⪯ point(24).
    let c = report.condition(Condition::PIncreasingDifferencesSaZ);
    let expect = (1.0 - zeta) * (infection(0.0) - infection(24.0)) / w1_levels;
    assert!((c.worst_violation - expect).abs() < 1e-12, "{report}");
    let wit = c.witness.as_ref().unwrap();
    assert_eq!(wit.z, "point(0)");
    assert_eq!(wit.z_prime.as_deref(), Some("point(24)"));
    let (x, t) = (wit.s + wit.a, wit.threshold.unwrap());
    assert!(x >= t && x - t < 10, "{wit:?}");
}

/// Regression: the verdicts on the default gig model. The reward satisfies (i); the
/// kernel is monotone in s and a, but a busier market (larger λ(z)) also moves more
/// workers *down* (with probability 1 − q(a)), so it is not monotone in z; and the
/// "stay" mass 1 − λ(1 − q(a)) at t = s shrinks with a, so it is not supermodular.
#[test]
fn regression_gig_default() {
    let report = default_report(&Gig::default());
    assert_eq!(
        report.violated(),
        [
            Condition::PNondecreasingInZ,
            Condition::PSupermodularSa,
            Condition::PIncreasingDifferencesSaZ
        ],
        "{report}"
    );
    let (keep, q_min, dq) = (0.98, 0.4, 0.55 / 3.0);

    // T(s | s, 0, z) = (1 − ζ)(1 − λ(1 − q(0))), λ from 0.5 (point(0)) to 1 (point(9)).
    let c = report.condition(Condition::PNondecreasingInZ);
    assert!((c.worst_violation - keep * 0.5 * (1.0 - q_min)).abs() < 1e-12);
    let wit = c.witness.as_ref().unwrap();
    assert_eq!((wit.a, wit.step, wit.threshold), (0, Step::Z, Some(wit.s)));
    assert_eq!(wit.z, "point(0)");
    assert_eq!(wit.z_prime.as_deref(), Some("point(9)"));

    // At t = s ≥ 1 the s-step gains (1 − ζ)λ(1 − q(a)), which falls by (1 − ζ)λΔq.
    let c = report.condition(Condition::PSupermodularSa);
    assert!((c.worst_violation - keep * dq).abs() < 1e-12);
    let wit = c.witness.as_ref().unwrap();
    assert_eq!((wit.step, wit.z.as_str()), (Step::SA, "point(9)"));
    assert_eq!(wit.threshold, Some(wit.s));

    // At t = s + 1: D = (1 − ζ)Δλ q(a) at s, −(1 − ζ)Δλ(1 − q(a)) at s + 1.
    let c = report.condition(Condition::PIncreasingDifferencesSaZ);
    assert!((c.worst_violation - keep * 0.5).abs() < 1e-12);
    let wit = c.witness.as_ref().unwrap();
    assert_eq!((wit.step, wit.threshold), (Step::S, Some(wit.s + 1)));
    assert_eq!(wit.z, "point(0)");
    assert_eq!(wit.z_prime.as_deref(), Some("point(9)"));
}

/// max over (s, a) ⪯ (s', a') of d(s, a) − d(s', a'), by brute force.
fn naive_all_pairs(ns: usize, na: usize, d: &[f64]) -> (f64, usize, usize) {
    let mut best = (f64::NEG_INFINITY, 0, 0);
    for i in 0..ns * na {
        for j in 0..ns * na {
            if i / na <= j / na && i % na <= j % na && d[i] - d[j] > best.0 {
                best = (d[i] - d[j], i, j);
            }
        }
    }
    best
}

#[test]
fn all_pairs_scan_equals_brute_force() {
    let mut rng = stream(5, Purpose::Check, 1, 0);
    for trial in 0..200 {
        let (ns, na) = (rng.random_range(1..7usize), rng.random_range(1..6usize));
        let d: Vec<f64> = (0..ns * na).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut all = AllPairs::default();
        let mut min_up = vec![(0.0, 0); ns * na];
        let site = |i: usize, j: usize| PairSite {
            s: i / na,
            a: i % na,
            s_prime: j / na,
            a_prime: j % na,
            t: None,
            z: 0,
            z_prime: 1,
        };
        all.scan(0.0, ns, na, &d, &mut min_up, site);
        let (want, i, j) = naive_all_pairs(ns, na, &d);
        if want > 0.0 {
            let (p, lhs, rhs) = all.witness.expect("a violation");
            assert_eq!(all.worst, want, "trial {trial}");
            assert_eq!((rhs, lhs), (d[i], d[j]), "trial {trial}");
            assert!(p.s <= p.s_prime && p.a <= p.a_prime);
            assert_eq!(d[p.s * na + p.a] - d[p.s_prime * na + p.a_prime], want);
        } else {
            assert!(all.witness.is_none(), "trial {trial}");
        }
    }
}

#[test]
fn infection_reports_the_all_pairs_violation_ten_times_the_neighbour_one() {
    // The figures: 6.0e-3 over neighbour steps, about 0.06 over all pairs.
    let m = Infection::default();
    let report = check_model(&m, None, &CheckOptions::default()).unwrap();
    let c = report.condition(Condition::PIncreasingDifferencesSaZ);
    let all = c.worst_violation_all_pairs.unwrap();
    assert!(
        (c.worst_violation - 6.035e-3).abs() < 1e-6,
        "{}",
        c.worst_violation
    );
    assert!((all - 6.035e-2).abs() < 1e-5, "{all}");
    // The witness is a real violation of D_t(s', a') ≥ D_t(s, a) at its mean fields.
    let w = c.witness_all_pairs.as_ref().unwrap();
    assert!(w.s <= w.s_prime && w.a <= w.a_prime);
    let (lo, hi) = (point_mass(25, 0), point_mass(25, 24));
    assert_eq!(
        (w.z.as_str(), w.z_prime.as_str()),
        ("point(0)", "point(24)")
    );
    let (tl, th) = (KernelTables::of(&m, &lo), KernelTables::of(&m, &hi));
    let t = w.threshold.unwrap();
    let tail = |tab: &KernelTables, s: usize, a: usize| tab.row(s, a)[t..].iter().sum::<f64>();
    let d = |s, a| tail(&th, s, a) - tail(&tl, s, a);
    let gap = d(w.s, w.a) - d(w.s_prime, w.a_prime);
    assert!((gap - all).abs() < 1e-12, "{gap} vs {all}");
    assert!((w.lhs - d(w.s_prime, w.a_prime)).abs() < 1e-12, "{w:?}");
    assert!((w.rhs - d(w.s, w.a)).abs() < 1e-12, "{w:?}");
    // Every other condition reports no all-pairs figure; the reward's holds with 0.
    let r = report.condition(Condition::RIncreasingDifferencesSaZ);
    assert_eq!(r.worst_violation_all_pairs, Some(0.0));
    assert!(r.witness_all_pairs.is_none());
    assert_eq!(
        report
            .condition(Condition::PSupermodularSa)
            .worst_violation_all_pairs,
        None
    );
    assert!(report.to_string().contains("over all (s,a) ⪯ (s',a')"));
}
