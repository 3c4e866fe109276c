//! Property tests of the exact operators on both built-in models (random mean fields, random
//! Q-tables, random policies). Tolerances live in `TOL`.

use mfgsim::model::invariants::check_model_at;
use mfgsim::model::{Gig, GigParams, Infection, InfectionParams};
use mfgsim::operator::{phi, tq_value, trembling_policy};
use mfgsim::space::{l1_distance, on_simplex, sup_distance, wasserstein1, Policy, QTable};
use mfgsim::{GameParams, KernelTables, Model};
use proptest::prelude::*;

const TOL: f64 = 1e-12;

fn models() -> Vec<Box<dyn Model>> {
    vec![Box::new(Infection::default()), Box::new(Gig::default())]
}

/// A random distribution on `n` states (some entries exactly zero).
fn simplex(n: usize) -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(prop_oneof![Just(0.0), 0.0..1.0f64], n).prop_map(|mut v| {
        let s: f64 = v.iter().sum();
        if s == 0.0 {
            v[0] = 1.0;
        } else {
            v.iter_mut().for_each(|x| *x /= s);
        }
        v
    })
}

fn qtable(ns: usize, na: usize, values: Vec<f64>) -> QTable {
    QTable::from_values(ns, na, values)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn transition_rows_sum_to_one(z_inf in simplex(25), z_gig in simplex(10)) {
        prop_assert_eq!(check_model_at(&Infection::default(), &z_inf), None);
        prop_assert_eq!(check_model_at(&Gig::default(), &z_gig), None);
    }

    #[test]
    fn rows_sum_to_one_for_random_parameters(
        c in 0.0..=1.0f64, zeta in 0.0..=1.0f64, scale in 0.5..100.0f64,
        floor in 0.0..=1.0f64, lo in 0.0..=1.0f64, z in simplex(7),
    ) {
        let inf = Infection::try_new(InfectionParams {
            num_states: 7, num_actions: 3, infection_constant: c, regen_prob: zeta,
            susceptibility_scale: scale, w2_pmf: vec![1.0 / 7.0; 7], ..Default::default()
        }).unwrap();
        prop_assert_eq!(check_model_at(&inf, &z), None);
        let mut entry = vec![0.0; 7];
        entry[3] = 1.0;
        let gig = Gig::try_new(GigParams {
            num_states: 7, num_actions: 2, task_rate_floor: floor, approval_min: lo,
            approval_max: 1.0, regen_prob: zeta, entry_pmf: entry, ..Default::default()
        }).unwrap();
        prop_assert_eq!(check_model_at(&gig, &z), None);
    }

    #[test]
    fn f_z_is_a_gamma_contraction(
        z in simplex(25),
        q1 in proptest::collection::vec(-10.0..10.0f64, 125),
        q2 in proptest::collection::vec(-10.0..10.0f64, 125),
        gamma in 0.05..0.99f64,
        eps in 0.0..0.5f64,
    ) {
        let game = GameParams::try_new(gamma, eps).unwrap();
        let m = Infection::default();
        let t = KernelTables::of(&m, &z);
        let (a, b) = (qtable(25, 5, q1), qtable(25, 5, q2));
        let (mut fa, mut fb) = (QTable::zeros(25, 5), QTable::zeros(25, 5));
        let mut g = vec![0.0; 25];
        tq_value::apply(&t, game, &a, &mut g, &mut fa);
        tq_value::apply(&t, game, &b, &mut g, &mut fb);
        let lhs = sup_distance(fa.values(), fb.values());
        let rhs = gamma * sup_distance(a.values(), b.values());
        prop_assert!(lhs <= rhs + TOL, "{} > {}", lhs, rhs);
    }

    #[test]
    fn trembling_rows_put_one_minus_eps_on_one_action(
        values in proptest::collection::vec(prop_oneof![Just(1.0), -5.0..5.0f64], 40),
        eps in 0.0..0.99f64,
    ) {
        let q = qtable(10, 4, values);
        let p = trembling_policy(&q, eps);
        for s in 0..10 {
            let row = p.row(s);
            prop_assert!((row.iter().sum::<f64>() - 1.0).abs() < TOL);
            let g = p.greedy()[s];
            prop_assert_eq!(row[g], 1.0 - eps);
            // The greedy action is the lowest argmax.
            let max = q.row(s).iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            prop_assert_eq!(q.row(s).iter().position(|v| *v == max), Some(g));
            for (a, pa) in row.iter().enumerate() {
                if a != g {
                    prop_assert_eq!(*pa, eps / 3.0);
                }
            }
        }
    }

    #[test]
    fn phi_maps_the_simplex_to_itself(
        z_inf in simplex(25), z_gig in simplex(10),
        raw in proptest::collection::vec(0.0..1.0f64, 125),
    ) {
        for (m, z) in models().iter().zip([z_inf, z_gig]) {
            let (ns, na) = (m.num_states(), m.num_actions());
            let mut probs = vec![0.0; ns * na];
            for s in 0..ns {
                let row = &raw[s * na..(s + 1) * na];
                let tot: f64 = row.iter().sum::<f64>() + 1e-9;
                for (p, r) in probs[s * na..(s + 1) * na].iter_mut().zip(row) {
                    *p = (r + 1e-9 / na as f64) / tot;
                }
            }
            let mu = Policy::from_probs(ns, na, probs);
            let t = KernelTables::of(m.as_ref(), &z);
            let mut next = vec![0.0; ns];
            phi(&t, &z, &mu, &mut next);
            prop_assert!(on_simplex(&next, TOL), "{:?}", next);
        }
    }

    #[test]
    fn wasserstein1_lies_between_half_l1_and_s_minus_1_half_l1(
        x in simplex(25), y in simplex(25),
    ) {
        // W1 ≥ total variation (integer states move at least 1) and each of the S − 1 CDF
        // gaps is at most the total variation L1/2.
        let (w, half) = (wasserstein1(&x, &y), l1_distance(&x, &y) / 2.0);
        prop_assert!(w >= half - TOL, "W1 {} < L1/2 {}", w, half);
        prop_assert!(w <= 24.0 * half + TOL, "W1 {} > 24·L1/2 {}", w, half);
        prop_assert_eq!(w.to_bits(), wasserstein1(&y, &x).to_bits());
    }
}
