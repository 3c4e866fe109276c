use super::*;
use crate::model::{Infection, InfectionParams};
use crate::rng::StreamRng;
use crate::space::uniform;
use crate::test_util::in_pool;
use crate::transition::{is_regenerated, unpack_action};
use proptest::prelude::*;
use rand::Rng;

/// A policy that differs across states and has some zero entries.
fn test_policy(ns: usize, na: usize) -> Policy {
    let mut p = Policy::uniform(ns, na);
    for s in 0..ns {
        let row = &mut p.probs_mut()[s * na..(s + 1) * na];
        for (a, x) in row.iter_mut().enumerate() {
            *x = if (s + a) % 4 == 0 {
                0.0
            } else {
                1.0 + ((s * 7 + a * 3) % 5) as f64
            };
        }
        let sum: f64 = row.iter().sum();
        row.iter_mut().for_each(|x| *x /= sum);
    }
    p
}

/// Everything a run produces, for bitwise comparisons.
#[derive(Debug, PartialEq)]
struct Run {
    states: Vec<u8>,
    prev: Vec<u8>,
    actions: Vec<u8>,
    counts: Vec<u64>,
    mean_field_bits: Vec<u64>,
    stats: Vec<StepStats>,
}

fn run(n: usize, steps: u64, seed: u64, par: bool) -> Run {
    run_with(n, steps, seed, par, false)
}

/// Per-agent actions for step k that depend on the agent, its state and k (as a
/// learner's would), every one of the `na` actions used in every state.
fn given_actions(states: &[u8], k: u64, na: usize) -> Vec<u8> {
    states
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let h =
                (i as u64 ^ (k << 40) ^ (u64::from(*s) << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            ((h >> 32) % na as u64) as u8
        })
        .collect()
}

/// `run`, with per-agent actions ([`given_actions`]) when `given`.
fn run_with(n: usize, steps: u64, seed: u64, par: bool, given: bool) -> Run {
    let m = Infection::default();
    let policy = test_policy(25, 5);
    let mut pop = Population::try_new(25, n, &uniform(25), seed).unwrap();
    let stats = (0..steps)
        .map(|k| {
            let acts = given_actions(pop.states(), k, 5);
            match (given, par) {
                (false, true) => pop.step_par(&m, &policy, k, seed),
                (false, false) => pop.step_seq(&m, &policy, k, seed),
                (true, true) => pop.step_given_par(&m, &acts, None, k, seed),
                (true, false) => pop.step_given_seq(&m, &acts, None, k, seed),
            }
            .unwrap()
        })
        .collect();
    let b = pop.transitions().unwrap();
    Run {
        states: pop.states().to_vec(),
        prev: b.states().to_vec(),
        actions: b.actions().to_vec(),
        counts: pop.counts().to_vec(),
        mean_field_bits: pop.mean_field().iter().map(|z| z.to_bits()).collect(),
        stats,
    }
}

#[test]
fn bitwise_identical_across_thread_counts_and_seq() {
    let n = 3 * CHUNK + 1234;
    let one = in_pool(1, || run(n, 4, 99, true));
    let two = in_pool(2, || run(n, 4, 99, true));
    let three = in_pool(3, || run(n, 4, 99, true));
    let seq = in_pool(2, || run(n, 4, 99, false));
    assert_eq!(one, two);
    assert_eq!(one, three);
    assert_eq!(one, seq);
}

#[test]
fn per_agent_bitwise_identical_across_thread_counts_and_seq() {
    let n = 3 * CHUNK + 1234;
    let one = in_pool(1, || run_with(n, 4, 99, true, true));
    let two = in_pool(2, || run_with(n, 4, 99, true, true));
    let seq = in_pool(2, || run_with(n, 4, 99, false, true));
    assert_eq!(one, two);
    assert_eq!(one, seq);
    // And it is not the shared run.
    assert_ne!(one.actions, in_pool(2, || run(n, 4, 99, true)).actions);
}

#[test]
fn per_agent_records_the_given_actions() {
    let m = Infection::default();
    let n = CHUNK + 321;
    let mut pop = Population::try_new(25, n, &uniform(25), 5).unwrap();
    for k in 0..3 {
        let acts = given_actions(pop.states(), k, 5);
        let stats = Engine::step(&mut pop, &m, Actions::PerAgent(&acts), k, 5).unwrap();
        let b = pop.transitions().unwrap();
        let flagged = b.actions().iter().filter(|a| is_regenerated(**a)).count();
        assert_eq!(flagged as u64, stats.regenerated);
        for (i, (&a, &byte)) in acts.iter().zip(b.actions()).enumerate() {
            assert_eq!(unpack_action(byte), usize::from(a), "agent {i}");
        }
        let mut recount = [0u64; 25];
        pop.states().iter().for_each(|s| recount[*s as usize] += 1);
        assert_eq!(pop.counts(), &recount[..]);
        assert_eq!(b.step(), k);
    }
}

/// μ(s, ·) = 1 on a* in every state.
fn one_hot(ns: usize, na: usize, a_star: usize) -> Policy {
    let mut p = Policy::uniform(ns, na);
    for s in 0..ns {
        for a in 0..na {
            p.probs_mut()[s * na + a] = if a == a_star { 1.0 } else { 0.0 };
        }
    }
    p
}

#[test]
fn per_agent_with_one_action_is_the_shared_one_hot_step() {
    // Every agent playing a* is the shared step under the one-hot strategy on a*: the
    // same law, and in fact the same tables (μ = 1 multiplies exactly), so the same run.
    let m = Infection::default();
    let n = 2 * CHUNK + 77;
    for a_star in 0..5u8 {
        let policy = one_hot(25, 5, usize::from(a_star));
        let mut shared = Population::try_new(25, n, &uniform(25), 3).unwrap();
        let mut given = shared.clone();
        let acts = vec![a_star; n];
        for k in 0..3 {
            let z = (k == 2).then(|| point_heavy(25));
            let (x, y) = match &z {
                None => (
                    Engine::step(&mut shared, &m, Actions::Shared(&policy), k, 3),
                    Engine::step(&mut given, &m, Actions::PerAgent(&acts), k, 3),
                ),
                Some(z) => (
                    Engine::step_at(&mut shared, &m, Actions::Shared(&policy), z, k, 3),
                    Engine::step_at(&mut given, &m, Actions::PerAgent(&acts), z, k, 3),
                ),
            };
            assert_eq!(x.unwrap(), y.unwrap(), "a* = {a_star}, step {k}");
            assert_eq!(shared.states(), given.states());
            assert_eq!(shared.counts(), given.counts());
            assert_eq!(shared.transitions(), given.transitions());
            for s in 0..25 {
                let law = given.action_sampler().implied_law(s, usize::from(a_star));
                assert_eq!(shared.sampler().implied_law(s), law, "state {s}");
            }
        }
    }
}

#[test]
fn per_agent_bad_actions_are_param_errors_and_change_nothing() {
    let m = Infection::default();
    let n = 2 * CHUNK + 9;
    let mut pop = Population::try_new(25, n, &uniform(25), 4).unwrap();
    let mut fresh = pop.clone();
    let acts = given_actions(pop.states(), 0, 5);
    let mut bad_value = acts.clone();
    bad_value[CHUNK + 5] = 5;
    let mut huge = acts.clone();
    huge[n - 1] = 200;
    let cases: [(&str, &[u8]); 5] = [
        ("short", &acts[..n - 1]),
        ("long", &[acts.as_slice(), &[0]].concat()),
        ("empty", &[]),
        ("action = |A|", &bad_value),
        ("action ≥ 128", &huge),
    ];
    // Before the first step: no transitions appear.
    for (name, bad) in &cases {
        let e = pop.step_given_par(&m, bad, None, 0, 4).unwrap_err();
        assert!(
            matches!(&e, Error::Param { key, .. } if key == "actions"),
            "{name}: {e}"
        );
        assert!(pop.transitions().is_none(), "{name}");
    }
    assert_eq!(pop.states(), fresh.states());
    // After steps of both kinds, through every entry point.
    pop.step_par(&m, &test_policy(25, 5), 0, 4).unwrap();
    pop.step_given_par(&m, &acts, None, 1, 4).unwrap();
    fresh = pop.clone();
    let z = point_heavy(25);
    for (name, bad) in &cases {
        for (entry, e) in [
            ("par", pop.step_given_par(&m, bad, None, 2, 4)),
            ("seq", pop.step_given_seq(&m, bad, Some(&z), 2, 4)),
            (
                "step",
                Engine::step(&mut pop, &m, Actions::PerAgent(bad), 2, 4),
            ),
            (
                "step_at",
                Engine::step_at(&mut pop, &m, Actions::PerAgent(bad), &z, 2, 4),
            ),
        ] {
            let e = e.unwrap_err();
            assert!(
                matches!(&e, Error::Param { key, .. } if key == "actions"),
                "{name} via {entry}: {e}"
            );
        }
        assert_eq!(pop.states(), fresh.states(), "{name}");
        assert_eq!(pop.counts(), fresh.counts(), "{name}");
        assert_eq!(pop.mean_field(), fresh.mean_field(), "{name}");
        assert_eq!(pop.transitions(), fresh.transitions(), "{name}");
        assert_eq!(
            pop.action_sampler().implied_law(3, 1),
            fresh.action_sampler().implied_law(3, 1)
        );
    }
    // A bad z is named as such, before the actions are looked at.
    let e = pop
        .step_given_par(&m, &acts, Some(&uniform(24)), 2, 4)
        .unwrap_err();
    assert!(matches!(&e, Error::Param { key, .. } if key == "z"), "{e}");
    assert_eq!(pop.transitions(), fresh.transitions());
    // The good slice still steps, identically to a population that never saw an error.
    let x = pop.step_given_par(&m, &acts, None, 2, 4).unwrap();
    let y = fresh.step_given_par(&m, &acts, None, 2, 4).unwrap();
    assert_eq!(x, y);
    assert_eq!(pop.transitions(), fresh.transitions());
}

/// c(s, a, s′) recounted from the buffer columns.
fn recount<T: StateCode>(pop: &Population<T>, na: usize) -> Vec<u64> {
    let ns = pop.num_states();
    let b = pop.transitions().unwrap();
    let mut c = vec![0u64; ns * na * ns];
    for i in 0..b.len() {
        let t = b.get(i);
        c[(t.state * na + t.action) * ns + t.next_state] += 1;
    }
    c
}

#[test]
fn counted_transitions_equal_a_recount_of_the_buffer_for_any_thread_count() {
    let m = Infection::default();
    let policy = test_policy(25, 5);
    let n = 3 * CHUNK + 1234;
    let mut results = Vec::new();
    for (threads, par) in [(1, true), (2, true), (2, false)] {
        let counts = in_pool(threads, || {
            let mut pop = Population::try_new(25, n, &uniform(25), 5).unwrap();
            assert!(pop.transition_counts().is_none());
            pop.set_count_transitions(true).unwrap();
            let mut all = Vec::new();
            for k in 0..3 {
                if par {
                    pop.step_par(&m, &policy, k, 5).unwrap();
                } else {
                    pop.step_seq(&m, &policy, k, 5).unwrap();
                }
                let c = pop.transition_counts().unwrap().to_vec();
                assert_eq!(c, recount(&pop, 5), "step {k}");
                assert_eq!(c.iter().sum::<u64>(), n as u64);
                all.push(c);
            }
            all
        });
        results.push(counts);
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);
}

#[test]
fn counting_changes_no_draw_and_turns_off() {
    let m = Infection::default();
    let policy = test_policy(25, 5);
    let mut a = Population::try_new(25, CHUNK + 7, &uniform(25), 9).unwrap();
    let mut b = a.clone();
    b.set_count_transitions(true).unwrap();
    a.step_par(&m, &policy, 0, 9).unwrap();
    b.step_par(&m, &policy, 0, 9).unwrap();
    assert_eq!(a.states(), b.states());
    assert_eq!(a.counts(), b.counts());
    assert!(a.transition_counts().is_none());
    b.set_count_transitions(false).unwrap();
    assert!(b.transition_counts().is_none());
}

#[test]
fn dense_counts_above_the_limit_are_refused_by_name() {
    // 300 states: 300²·1 = 90 000 > 2^16.
    let mut pop = Population::<u16>::try_new_typed(300, 10, &uniform(300), 1).unwrap();
    let e = pop.set_count_transitions(true).unwrap_err().to_string();
    assert!(
        e.contains("learner.rule") && e.contains("65536") && e.contains("sampled"),
        "{e}"
    );
    // 120 states, 5 actions: 72 000 > 2^16.
    let e = check_dense_counts(120, 5).unwrap_err().to_string();
    assert!(e.contains("120²·5 = 72000"), "{e}");
    check_dense_counts(25, 5).unwrap();
}

#[test]
fn seed_changes_the_run() {
    let n = CHUNK + 17;
    let a = run(n, 2, 1, true);
    let b = run(n, 2, 2, true);
    let same = a
        .states
        .iter()
        .zip(&b.states)
        .filter(|(x, y)| x == y)
        .count();
    // Independent runs agree on a state only by chance (well under half the agents).
    assert!(same < n / 2, "{same} of {n} states equal");
    assert_ne!(a.actions, b.actions);
    // The step index is part of the key too.
    let m = Infection::default();
    let policy = test_policy(25, 5);
    let mut p = Population::try_new(25, n, &uniform(25), 1).unwrap();
    let mut q = p.clone();
    p.step_par(&m, &policy, 0, 1).unwrap();
    q.step_par(&m, &policy, 1, 1).unwrap();
    assert_ne!(p.states(), q.states());
}

#[test]
fn histogram_sums_to_n_and_matches_the_states() {
    let infection = Infection::default();
    let m: &dyn Model = &infection;
    let policy = test_policy(25, 5);
    let n = 2 * CHUNK + 5;
    let mut pop = Population::try_new(25, n, &uniform(25), 3).unwrap();
    for k in 0..3 {
        let stats = pop.step_par(m, &policy, k, 3).unwrap();
        assert_eq!(stats.num_agents, n as u64);
        assert_eq!(pop.counts().iter().sum::<u64>(), n as u64);
        let mut recount = vec![0u64; 25];
        pop.states().iter().for_each(|s| recount[*s as usize] += 1);
        assert_eq!(pop.counts(), &recount[..]);
        for (z, c) in pop.mean_field().iter().zip(&recount) {
            assert_eq!(*z, *c as f64 / n as f64);
        }
        let b = pop.transitions().unwrap();
        let flagged = b.actions().iter().filter(|a| is_regenerated(**a)).count();
        assert_eq!(flagged as u64, stats.regenerated);
        assert_eq!(b.regenerated(), stats.regenerated);
        assert_eq!(b.step(), k);
    }
}

#[test]
fn regeneration_count_is_zeta_n_within_noise() {
    let m = Infection::default();
    let policy = test_policy(25, 5);
    let n = 1 << 20;
    let zeta = m.regen_prob();
    let sd = (n as f64 * zeta * (1.0 - zeta)).sqrt();
    let mut pop = Population::try_new(25, n, &uniform(25), 11).unwrap();
    let mut total = 0.0;
    for k in 0..5 {
        let r = pop.step_par(&m, &policy, k, 11).unwrap().regenerated as f64;
        assert!((r - zeta * n as f64).abs() < 5.0 * sd, "step {k}: {r}");
        total += r;
    }
    let sd5 = sd * 5f64.sqrt();
    assert!((total - 5.0 * zeta * n as f64).abs() < 4.0 * sd5, "{total}");
}

#[test]
fn transitions_before_first_step_and_after_reset() {
    let m = Infection::default();
    let mut pop = Population::try_new(25, 100, &uniform(25), 0).unwrap();
    assert!(pop.transitions().is_none());
    pop.step_seq(&m, &Policy::uniform(25, 5), 0, 0).unwrap();
    assert_eq!(pop.transitions().unwrap().len(), 100);
    pop.reset(&uniform(25), 1).unwrap();
    assert!(pop.transitions().is_none());
}

#[test]
fn errors_are_clear_and_leave_the_population_unchanged() {
    let e = Population::try_new(300, 10, &uniform(300), 0).unwrap_err();
    assert!(e.to_string().contains("u16"), "{e}");
    let wide = Population::<u16>::try_new_typed(300, 10, &uniform(300), 0).unwrap();
    assert_eq!(wide.num_states(), 300);
    let e = Population::try_new(25, 0, &uniform(25), 0).unwrap_err();
    assert!(e.to_string().contains("num_agents"), "{e}");
    let e = Population::try_new(25, 10, &uniform(24), 0).unwrap_err();
    assert!(e.to_string().contains("init"), "{e}");

    let m = Infection::default();
    let mut pop = Population::try_new(25, 1000, &uniform(25), 0).unwrap();
    pop.step_par(&m, &Policy::uniform(25, 5), 0, 0).unwrap();
    let before = (pop.states().to_vec(), pop.counts().to_vec());
    let buf = pop.transitions().unwrap().clone();
    let e = pop.step_par(&m, &Policy::uniform(25, 3), 1, 0).unwrap_err();
    assert!(e.to_string().contains("policy"), "{e}");
    let small = Infection::try_new(InfectionParams {
        num_states: 10,
        w2_pmf: uniform(10),
        ..Default::default()
    })
    .unwrap();
    let e = pop
        .step_par(&small, &Policy::uniform(10, 5), 1, 0)
        .unwrap_err();
    assert!(e.to_string().contains("10 states"), "{e}");
    assert_eq!((pop.states().to_vec(), pop.counts().to_vec()), before);
    assert_eq!(pop.transitions().unwrap(), &buf);
}

// ---- exactness in distribution ----

/// Pearson's χ² of the observed (a, s', regenerated) counts per start state against
/// `prob(s, a, s', g)`. Cells with expected count < 5 are pooled per state; an
/// observation in a cell of probability 0 gives +∞. Returns (χ², degrees of freedom).
fn chi_square(
    obs: &[u64],
    n_start: &[u64],
    ns: usize,
    na: usize,
    prob: impl Fn(usize, usize, usize, bool) -> f64,
) -> (f64, usize) {
    let (mut stat, mut cells) = (0.0, 0usize);
    for (s, &n_s) in n_start.iter().enumerate() {
        if n_s == 0 {
            continue;
        }
        let (mut pooled_o, mut pooled_e, mut groups) = (0.0, 0.0, 0usize);
        for a in 0..na {
            for next in 0..ns {
                for g in [false, true] {
                    let o = obs[((s * na + a) * ns + next) * 2 + usize::from(g)] as f64;
                    let e = n_s as f64 * prob(s, a, next, g);
                    if e <= 0.0 {
                        if o > 0.0 {
                            return (f64::INFINITY, 0);
                        }
                    } else if e < 5.0 {
                        pooled_o += o;
                        pooled_e += e;
                    } else {
                        stat += (o - e) * (o - e) / e;
                        groups += 1;
                    }
                }
            }
        }
        if pooled_e > 0.0 {
            stat += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
            groups += 1;
        }
        cells += groups - 1;
    }
    (stat, cells)
}

/// One step of 2²¹ agents spread over all states; the (s → a, s', regenerated)
/// frequencies must match μ(s,a)·ζ·w(s') and μ(s,a)·(P(s'|s,a,z) − ζ·w(s')), and the
/// same test must reject slightly wrong laws (so it is not vacuous).
///
/// With `at`, the step is [`Engine::step_at`] there: the buffer must hold `at` and the
/// tables at `at`, and the law at the empirical mean field must be rejected.
fn exactness_for<T: StateCode>(at: Option<&[f64]>) {
    let m = Infection::default();
    let (ns, na) = (25, 5);
    let policy = test_policy(ns, na);
    let n = 1 << 21;
    let mut pop = Population::<T>::try_new_typed(ns, n, &uniform(ns), 2024).unwrap();
    let empirical = KernelTables::of(&m, pop.mean_field());
    match at {
        None => pop.step_par(&m, &policy, 0, 2024).unwrap(),
        Some(z) => Engine::step_at(&mut pop, &m, Actions::Shared(&policy), z, 0, 2024).unwrap(),
    };
    let b = pop.transitions().unwrap();
    if let Some(z) = at {
        assert_eq!(b.mean_field(), z);
        assert_eq!(b.tables(), &KernelTables::of(&m, z));
    }
    let mut obs = vec![0u64; ns * na * ns * 2];
    let mut n_start = vec![0u64; ns];
    for t in b.iter() {
        n_start[t.state] += 1;
        obs[((t.state * na + t.action) * ns + t.next_state) * 2 + usize::from(t.regenerated)] += 1;
    }
    let tables = b.tables();
    let w = m.regen_pmf();
    // The law under test, and wrong variants: `flip` swaps the regeneration flag,
    // `shift` uses the row of another action, `tilt` mixes μ with the uniform policy.
    let law = |tables: &KernelTables, zeta: f64, flip: bool, shift: usize, tilt: f64| {
        let (w, policy) = (&w, &policy);
        let tables = tables.clone();
        move |s: usize, a: usize, next: usize, g: bool| {
            let p = split_prob(&tables, w, zeta, flip, s, (a + shift) % na, next, g);
            ((1.0 - tilt) * policy.get(s, a) + tilt / na as f64) * p
        }
    };
    let zeta = m.regen_prob();
    let (stat, df) = chi_square(&obs, &n_start, ns, na, law(tables, zeta, false, 0, 0.0));
    let limit = df as f64 + 5.0 * (2.0 * df as f64).sqrt();
    assert!(stat < limit, "χ² = {stat} with {df} dof (limit {limit})");
    // Negative controls on the same sample: each must be rejected.
    let mut controls = vec![
        ("regen flag flipped", tables, true, 0, zeta, 0.0),
        ("row of another action", tables, false, 1, zeta, 0.0),
        ("ζ off by 10%", tables, false, 0, zeta * 1.1, 0.0),
        ("μ tilted 5% to uniform", tables, false, 0, zeta, 0.05),
    ];
    if at.is_some() {
        controls.push(("kernel at the empirical z", &empirical, false, 0, zeta, 0.0));
    }
    for (name, tables, flip, shift, zeta, tilt) in controls {
        let (wrong, df) = chi_square(&obs, &n_start, ns, na, law(tables, zeta, flip, shift, tilt));
        let lim = df as f64 + 5.0 * (2.0 * df as f64).sqrt();
        assert!(
            wrong > lim,
            "{name}: χ² = {wrong} with {df} dof not rejected"
        );
    }
}

/// P(s′, regenerated = g | s, a) under `tables`: ζ·w(s′) or max(P(s′|s,a) − ζ·w(s′), 0),
/// the two swapped when `flip`.
#[expect(clippy::too_many_arguments, reason = "a test law with its knobs")]
fn split_prob(
    tables: &KernelTables,
    w: &[f64],
    zeta: f64,
    flip: bool,
    s: usize,
    a: usize,
    next: usize,
    g: bool,
) -> f64 {
    let regen = zeta * w[next];
    if g != flip {
        regen
    } else {
        (tables.row(s, a)[next] - regen).max(0.0)
    }
}

/// A mean field far from uniform (half the mass on state 0), so the infection
/// probability, and with it the kernel, differs clearly from the empirical one.
fn point_heavy(ns: usize) -> Vec<f64> {
    let mut z = vec![0.5 / (ns - 1) as f64; ns];
    z[0] = 0.5;
    z
}

/// One per-agent step of 2²¹ agents spread over all states, actions varying by agent;
/// the (s, a → s', regenerated) frequencies must match ζ·w(s') and
/// max(P(s'|s,a,z) − ζ·w(s'), 0) for each start pair (s, a), and wrong laws must be
/// rejected. With `at`, the step is taken at that frozen mean field (as in
/// [`exactness_for`]).
fn per_agent_exactness_for<T: StateCode>(at: Option<&[f64]>) {
    let m = Infection::default();
    let (ns, na) = (25, 5);
    let n = 1 << 21;
    let mut pop = Population::<T>::try_new_typed(ns, n, &uniform(ns), 2025).unwrap();
    let empirical = KernelTables::of(&m, pop.mean_field());
    let codes: Vec<u8> = pop.states().iter().map(|s| s.index() as u8).collect();
    let acts = given_actions(&codes, 0, na);
    match at {
        None => pop.step_given_par(&m, &acts, None, 0, 2025).unwrap(),
        Some(z) => Engine::step_at(&mut pop, &m, Actions::PerAgent(&acts), z, 0, 2025).unwrap(),
    };
    let b = pop.transitions().unwrap();
    if let Some(z) = at {
        assert_eq!(b.mean_field(), z);
        assert_eq!(b.tables(), &KernelTables::of(&m, z));
    }
    // Start "states" are the pairs (s, a), s·|A| + a, each with one action slot.
    let mut obs = vec![0u64; ns * na * ns * 2];
    let mut n_start = vec![0u64; ns * na];
    for (t, &a) in b.iter().zip(&acts) {
        assert_eq!(t.action, usize::from(a));
        let sa = t.state * na + t.action;
        n_start[sa] += 1;
        obs[(sa * ns + t.next_state) * 2 + usize::from(t.regenerated)] += 1;
    }
    assert!(
        n_start.iter().all(|c| *c > 10_000),
        "every (s, a) is played"
    );
    let w = m.regen_pmf();
    let zeta = m.regen_prob();
    let law = |tables: &KernelTables, zeta: f64, flip: bool, shift: usize| {
        let (w, tables) = (&w, tables.clone());
        move |sa: usize, _: usize, next: usize, g: bool| {
            let (s, a) = (sa / na, (sa % na + shift) % na);
            split_prob(&tables, w, zeta, flip, s, a, next, g)
        }
    };
    let tables = b.tables();
    let (stat, df) = chi_square(&obs, &n_start, ns, 1, law(tables, zeta, false, 0));
    let limit = df as f64 + 5.0 * (2.0 * df as f64).sqrt();
    assert!(stat < limit, "χ² = {stat} with {df} dof (limit {limit})");
    let mut controls = vec![
        ("regen flag flipped", tables, true, 0, zeta),
        ("row of another action", tables, false, 1, zeta),
        ("ζ off by 10%", tables, false, 0, zeta * 1.1),
    ];
    if at.is_some() {
        controls.push(("kernel at the empirical z", &empirical, false, 0, zeta));
    }
    for (name, tables, flip, shift, zeta) in controls {
        let (wrong, df) = chi_square(&obs, &n_start, ns, 1, law(tables, zeta, flip, shift));
        let lim = df as f64 + 5.0 * (2.0 * df as f64).sqrt();
        assert!(
            wrong > lim,
            "{name}: χ² = {wrong} with {df} dof not rejected"
        );
    }
}

#[test]
fn per_agent_step_is_exact_in_distribution_u8() {
    per_agent_exactness_for::<u8>(None);
}

#[test]
fn per_agent_step_is_exact_in_distribution_u16() {
    per_agent_exactness_for::<u16>(None);
}

#[test]
fn per_agent_step_at_uses_the_given_mean_field() {
    per_agent_exactness_for::<u8>(Some(&point_heavy(25)));
}

#[test]
fn shared_step_at_uses_the_given_mean_field() {
    exactness_for::<u8>(Some(&point_heavy(25)));
}

#[test]
fn step_is_exact_in_distribution_u8() {
    exactness_for::<u8>(None);
}

#[test]
fn step_is_exact_in_distribution_u16() {
    exactness_for::<u16>(None);
}

#[test]
fn init_follows_the_initial_law() {
    let ns = 25;
    let init: Vec<f64> = (0..ns).map(|s| (s % 5) as f64 / 50.0).collect();
    let n = 1 << 20;
    let pop = Population::try_new(ns, n, &init, 8).unwrap();
    let mut stat = 0.0;
    for (c, p) in pop.counts().iter().zip(&init) {
        let e = n as f64 * p;
        if e == 0.0 {
            assert_eq!(*c, 0);
        } else {
            stat += (*c as f64 - e).powi(2) / e;
        }
    }
    let df = init.iter().filter(|p| **p > 0.0).count() as f64 - 1.0;
    assert!(stat < df + 5.0 * (2.0 * df).sqrt(), "χ² {stat}");
}

// ---- the SoA step against a naive per-agent loop ----

#[derive(Debug, Clone, Copy, PartialEq)]
struct Agent {
    state: usize,
    action: usize,
    regenerated: bool,
}

/// The step written agent by agent, with no chunk loop, columns or histograms: only the
/// streams (a new one every CHUNK agents) and the sampler are shared with the engine.
fn naive_step(agents: &mut [Agent], m: &Infection, policy: &Policy, step: u64, seed: u64) {
    let ns = m.num_states();
    let mut counts = vec![0usize; ns];
    for a in agents.iter() {
        counts[a.state] += 1;
    }
    let z: Vec<f64> = counts
        .iter()
        .map(|c| *c as f64 / agents.len() as f64)
        .collect();
    let tables = KernelTables::of(m, &z);
    let mut sampler = StepSampler::<u8>::new();
    sampler
        .try_rebuild(&tables, policy, m.regen_prob(), &m.regen_pmf())
        .unwrap();
    let mut rng: Option<StreamRng> = None;
    for (i, agent) in agents.iter_mut().enumerate() {
        if i % CHUNK == 0 {
            rng = Some(stream(seed, Purpose::Step, step, (i / CHUNK) as u64));
        }
        let x = rng.as_mut().unwrap().next_u64();
        let o = sampler.sample(agent.state as u8, x);
        *agent = Agent {
            state: o.next as usize,
            action: unpack_action(o.action),
            regenerated: is_regenerated(o.action),
        };
    }
}

fn policy_from(weights: &[u8], ns: usize, na: usize) -> Policy {
    let mut p = Policy::uniform(ns, na);
    for s in 0..ns {
        let w = &weights[s * na..(s + 1) * na];
        let sum: f64 = w.iter().map(|x| f64::from(*x)).sum();
        if sum > 0.0 {
            for (dst, x) in p.probs_mut()[s * na..(s + 1) * na].iter_mut().zip(w) {
                *dst = f64::from(*x) / sum;
            }
        }
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn soa_step_equals_naive_per_agent_loop(
        n in 1usize..(2 * CHUNK + 300),
        seed in any::<u64>(),
        steps in 1u64..4,
        weights in proptest::collection::vec(0u8..4, 125),
    ) {
        let m = Infection::default();
        let policy = policy_from(&weights, 25, 5);
        let mut pop = Population::try_new(25, n, &uniform(25), seed).unwrap();
        let mut agents: Vec<Agent> = pop
            .states()
            .iter()
            .map(|s| Agent { state: *s as usize, action: 0, regenerated: false })
            .collect();
        for k in 0..steps {
            let stats = pop.step_par(&m, &policy, k, seed).unwrap();
            naive_step(&mut agents, &m, &policy, k, seed);
            let b = pop.transitions().unwrap();
            for (i, a) in agents.iter().enumerate() {
                let t = b.get(i);
                prop_assert_eq!(
                    (t.next_state, t.action, t.regenerated),
                    (a.state, a.action, a.regenerated),
                    "agent {} at step {}", i, k
                );
            }
            let mut counts = [0u64; 25];
            agents.iter().for_each(|a| counts[a.state] += 1);
            prop_assert_eq!(pop.counts(), &counts[..]);
            let regen = agents.iter().filter(|a| a.regenerated).count() as u64;
            prop_assert_eq!(stats.regenerated, regen);
        }
    }

    #[test]
    fn init_equals_naive_per_agent_loop(n in 1usize..(2 * CHUNK + 300), seed in any::<u64>()) {
        let init: Vec<f64> = (0..25).map(|s| (1 + s % 3) as f64 / 49.0).collect();
        let pop = Population::try_new(25, n, &init, seed).unwrap();
        let mut table = AliasRows::<u8>::default();
        for (s, p) in init.iter().enumerate() {
            table.push_weight(Outcome { next: s as u8, action: 0 }, *p);
        }
        table.finish_row().unwrap();
        let mut rng: Option<StreamRng> = None;
        for (i, s) in pop.states().iter().enumerate() {
            if i % CHUNK == 0 {
                rng = Some(stream(seed, Purpose::Init, 0, (i / CHUNK) as u64));
            }
            let x = rng.as_mut().unwrap().next_u64();
            prop_assert_eq!(*s, table.sample(0, x).next);
        }
    }
}
