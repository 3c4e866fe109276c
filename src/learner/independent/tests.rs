use super::*;
use crate::learner::{Algorithm, OnlineDriver, VecTransitions};
use crate::model::{Infection, KernelTables};
use crate::population::Population;
use crate::space::uniform;
use crate::test_util::in_pool;
use proptest::prelude::*;
use std::hash::{Hash, Hasher};

/// A source with a regeneration flag per transition.
struct Flagged {
    buf: VecTransitions,
    regen: Vec<bool>,
}

impl TransitionSource for Flagged {
    fn len(&self) -> usize {
        self.buf.len()
    }
    fn get(&self, i: usize) -> (usize, usize, usize) {
        self.buf.get(i)
    }
    fn tables(&self) -> &KernelTables {
        self.buf.tables()
    }
    fn regenerated(&self, i: usize) -> bool {
        self.regen[i]
    }
}

#[test]
fn reset_on_regeneration_zeroes_the_regenerated_agents_table() {
    let game = GameParams::default();
    let mut tables = KernelTables::new(2, 3);
    tables.reward = vec![0.3, 1.7, -0.4, 0.9, -1.1, 2.3];
    let z = [0.5, 0.5];
    let step = |l: &mut Independent, k: u64, regen: Vec<bool>| {
        let mut buf = VecTransitions::new(tables.clone());
        buf.transitions = vec![(0, 1, 1), (1, 2, 0)];
        let src = Flagged { buf, regen };
        let obs = Observation {
            step: k,
            seed: 5,
            agents: 2,
            source: &src,
            mean_field: &z,
            counts: None,
        };
        l.update(&obs).unwrap()
    };
    for algo in [Algo::Iql, Algo::Mfq] {
        for reset in [false, true] {
            let mut p = params_with(2, 1, 1.0);
            p.reset_on_regeneration = reset;
            let mut l = Independent::try_new(2, 3, game, &p, algo, &[0u8, 1], 1).unwrap();
            let up = step(&mut l, 0, vec![false, false]);
            assert_eq!(up.tq_updates, 2);
            let nonzero = |l: &Independent, i: usize| {
                (0..2)
                    .any(|s| (0..l.num_bins()).any(|b| l.q_row(i, s, b).iter().any(|v| *v != 0.0)))
            };
            assert!(nonzero(&l, 0) && nonzero(&l, 1));
            // Agent 0 regenerates during step 1.
            let before = l.clone();
            let up = step(&mut l, 1, vec![true, false]);
            assert_eq!(up.tq_updates, if reset { 1 } else { 2 }, "{algo} {reset}");
            assert_eq!(nonzero(&l, 0), !reset, "{algo} {reset}");
            for s in 0..2 {
                for b in 0..l.num_bins() {
                    if reset {
                        assert!(l.count_row(0, s, b).iter().all(|c| *c == 0));
                        assert_eq!(l.cached_greedy(0, s, b), 0);
                    }
                }
            }
            // Agent 1, not regenerated, is updated either way.
            let counts = |l: &Independent| -> u32 {
                (0..2)
                    .flat_map(|s| (0..l.num_bins()).map(move |b| (s, b)))
                    .map(|(s, b)| {
                        l.count_row(1, s, b)
                            .iter()
                            .map(|c| u32::from(*c))
                            .sum::<u32>()
                    })
                    .sum()
            };
            assert_eq!(counts(&l), counts(&before) + 1);
        }
    }
}

fn params_with(bins: usize, neighbours: usize, w: f64) -> LearnerParams {
    let mut p = LearnerParams {
        mfq: MfqParams { neighbours, bins },
        ..LearnerParams::default()
    };
    p.tq.step_exponent = w;
    p
}

fn observe<'a>(
    step: u64,
    buf: &'a VecTransitions,
    z: &'a [f64],
) -> Observation<'a, VecTransitions> {
    Observation {
        step,
        seed: 5,
        agents: buf.len() as u64,
        source: buf,
        mean_field: z,
        counts: None,
    }
}

/// Eq. 6 in f64 on a dense table, for the hand computations.
fn eq6(
    q: &mut [f64],
    n: &mut [f64],
    na: usize,
    (s, a, s2): (usize, usize, usize),
    r: f64,
    game: GameParams,
    w: f64,
) {
    let row = &q[s2 * na..(s2 + 1) * na];
    let best = (0..na).fold(0, |b, x| if row[x] > row[b] { x } else { b });
    let wo = game.epsilon / (na - 1) as f64;
    let g: f64 = (0..na)
        .map(|x| {
            if x == best {
                (1.0 - game.epsilon) * row[x]
            } else {
                wo * row[x]
            }
        })
        .sum();
    let alpha = (1.0 + (1.0 - game.gamma) * n[s * na + a]).powf(-w);
    let k = s * na + a;
    q[k] = (1.0 - alpha) * q[k] + alpha * (r + game.gamma * g);
    n[k] += 1.0;
}

#[test]
fn one_agent_update_is_eq6_by_hand() {
    // Two states, three actions, one agent; rewards chosen so no row has a near tie.
    // Each stored value is the f64 formula of the stored inputs rounded once to f32
    // (relative error ≤ 2⁻²⁴); the recursion contracts ((1 − α) + αγ ≤ 1), so after u
    // updates the f32 table is within u·2⁻²⁴·max|Q| of the f64 one (plus f64 noise).
    // A wrong step size (n + 1 for n) or G (the max instead of the tremble mean) moves
    // values by ≥ 10⁻², far outside.
    let game = GameParams {
        gamma: 0.8,
        epsilon: 0.2,
    };
    let mut tables = KernelTables::new(2, 3);
    tables.reward = vec![0.3, 1.7, -0.4, 0.9, -1.1, 2.3];
    let seq = [
        (0, 1, 1),
        (1, 2, 0),
        (0, 1, 0),
        (1, 2, 1),
        (0, 0, 1),
        (1, 0, 0),
        (0, 1, 1),
    ];
    for w in [1.0, 0.8] {
        let params = params_with(5, 10, w);
        let mut l = Independent::try_new(2, 3, game, &params, Algo::Iql, &[0u8], 1).unwrap();
        let (mut q, mut n) = (vec![0.0f64; 6], vec![0.0f64; 6]);
        let z = [0.5, 0.5];
        for (u, &t) in seq.iter().enumerate() {
            let mut buf = VecTransitions::new(tables.clone());
            buf.transitions = vec![t];
            let up = l.update(&observe(u as u64, &buf, &z)).unwrap();
            assert_eq!(up.tq_updates, 1);
            eq6(&mut q, &mut n, 3, t, tables.r(t.0, t.1), game, w);
            let max = q.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let tol = (u + 1) as f64 * max * f64::powi(2.0, -24) + 1e-12;
            for s in 0..2 {
                let got = l.q_row(0, s, 0);
                for a in 0..3 {
                    let d = (f64::from(got[a]) - q[s * 3 + a]).abs();
                    assert!(
                        d <= tol,
                        "w {w} update {u}: Q({s},{a}) {} vs {} (tol {tol:e})",
                        got[a],
                        q[s * 3 + a]
                    );
                    assert_eq!(f64::from(l.count_row(0, s, 0)[a]), n[s * 3 + a]);
                }
                let best = (0..3).fold(0, |b, x| if q[s * 3 + x] > q[s * 3 + b] { x } else { b });
                assert_eq!(l.cached_greedy(0, s, 0), best);
            }
        }
    }
}

/// Lowest argmax of an f32 row, the naive way.
fn argmax(row: &[f32]) -> usize {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    row.iter().position(|v| *v == m).unwrap()
}

fn check_every_cache(l: &Independent) -> std::result::Result<(), TestCaseError> {
    for i in 0..l.num_agents() {
        for s in 0..l.shape.ns {
            for b in 0..l.num_bins() {
                prop_assert_eq!(
                    l.cached_greedy(i, s, b),
                    argmax(&l.q_row(i, s, b)),
                    "agent {} row ({}, {})",
                    i,
                    s,
                    b
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Random transitions with rewards from {−1, 0, 0, 1} (ties are frequent: equal
    /// targets from equal rows), IQL and MFQ (2 bins), w = 1 and 0.75: after every update
    /// every row's cache is its lowest argmax, and every action is < |A|.
    #[test]
    fn greedy_cache_is_always_the_lowest_argmax(
        mfq in any::<bool>(),
        slow in any::<bool>(),
        steps in prop::collection::vec(
            (prop::collection::vec((0usize..3, 0usize..4, 0usize..3), 3),
             prop::collection::vec(0usize..4, 12)),
            1..40),
    ) {
        let algo = if mfq { Algo::Mfq } else { Algo::Iql };
        let params = params_with(2, 1, if slow { 0.75 } else { 1.0 });
        let game = GameParams { gamma: 0.5, epsilon: 0.3 };
        let mut l = Independent::try_new(3, 4, game, &params, algo, &[0u8, 1, 2], 9).unwrap();
        check_every_cache(&l)?;
        let z = uniform(3);
        for (k, (transitions, rewards)) in steps.iter().enumerate() {
            let mut tables = KernelTables::new(3, 4);
            tables.reward = rewards.iter().map(|&r| [-1.0, 0.0, 0.0, 1.0][r]).collect();
            let mut buf = VecTransitions::new(tables);
            buf.transitions.clone_from(transitions);
            l.update(&observe(k as u64, &buf, &z)).unwrap();
            check_every_cache(&l)?;
            prop_assert!(l.agent_actions().iter().all(|a| *a < 4));
        }
    }
}

/// μ̄ the naive way: agents in s average π^ε of their rows' argmax (not the cache) at
/// their bin; an empty state averages over all agents.
fn naive_average(l: &Independent, states: &[u8]) -> Vec<f64> {
    let (ns, na) = (l.shape.ns, l.shape.na);
    let (wg, wo) = weights(l.game.epsilon, na);
    let mut out = vec![0.0; ns * na];
    for s in 0..ns {
        let mut members: Vec<usize> = (0..states.len())
            .filter(|&i| usize::from(states[i]) == s)
            .collect();
        if members.is_empty() {
            members = (0..states.len()).collect();
        }
        for &i in &members {
            let g = argmax(&l.q_row(i, s, l.agent_bin(i)));
            for a in 0..na {
                out[s * na + a] += if a == g { wg } else { wo } / members.len() as f64;
            }
        }
    }
    out
}

#[test]
fn average_strategy_sums_to_one_and_matches_a_naive_recomputation() {
    let model = Infection::default();
    let game = GameParams::default();
    for (algo, n) in [
        (Algo::Iql, 40),
        (Algo::Iql, 3000),
        (Algo::Mfq, 40),
        (Algo::Mfq, 3000),
    ] {
        let params = LearnerParams::default();
        let pop: Population = Population::try_new(25, n, &uniform(25), 3).unwrap();
        let l = Independent::try_new(25, 5, game, &params, algo, pop.states(), 3).unwrap();
        let mut run = OnlineDriver::new(&model, pop, l, 3).unwrap();
        let mut saw_empty = false;
        for _ in 0..15 {
            run.iterate().unwrap();
            let states = run.engine().states();
            saw_empty |= run.engine().counts().contains(&0);
            let mu = run.policy();
            let naive = naive_average(run.learner(), states);
            for s in 0..25 {
                let row = mu.row(s);
                assert!(
                    (row.iter().sum::<f64>() - 1.0).abs() < 1e-12,
                    "{algo} row {s}"
                );
                for (a, p) in row.iter().enumerate() {
                    assert!(
                        (p - naive[s * 5 + a]).abs() < 1e-12,
                        "{algo} N {n} μ̄({s},{a}) {p} vs {}",
                        naive[s * 5 + a]
                    );
                }
                assert_eq!(mu.greedy()[s], greedy_action(row));
            }
        }
        if n == 40 {
            assert!(saw_empty, "the small run should leave some state empty");
        }
    }
}

#[test]
fn neighbour_draws_are_k_distinct_other_agents() {
    let mut rng = stream(1, Purpose::Eval, 0, 0);
    let mut out = [0usize; 12];
    for n in 1..=13 {
        for k in 0..n {
            for agent in 0..n {
                for _ in 0..20 {
                    let o = &mut out[..k];
                    draw_neighbours(agent, n, o, &mut rng);
                    let mut seen = vec![false; n];
                    for &j in o.iter() {
                        assert!(
                            j < n && j != agent && !seen[j],
                            "N {n} K {k} agent {agent}: {o:?}"
                        );
                        seen[j] = true;
                    }
                }
            }
        }
    }
    // Uniform over the C(5, 2) = 10 pairs of the other agents (sd of a count 93.9 at
    // 10⁴ per pair, tolerance 5 sd).
    let draws = 100_000;
    let mut pairs = std::collections::BTreeMap::new();
    for _ in 0..draws {
        let o = &mut out[..2];
        draw_neighbours(2, 6, o, &mut rng);
        o.sort_unstable();
        *pairs.entry((o[0], o[1])).or_insert(0u32) += 1;
    }
    assert_eq!(pairs.len(), 10);
    for (p, c) in pairs {
        assert!(
            (f64::from(c) - 10_000.0).abs() < 5.0 * 94.9,
            "pair {p:?}: {c}"
        );
    }
}

#[test]
#[should_panic(expected = "neighbours among")]
fn too_many_neighbours_panic() {
    draw_neighbours(0, 3, &mut [0; 3], &mut stream(1, Purpose::Eval, 0, 0));
}

#[test]
fn bins_at_the_edges() {
    // 25 states, K = 10, B = 5: the mean m = Σ/10 ∈ [0, 24], bin j is m ∈ [4.8j, 4.8(j+1)).
    assert_eq!(bin_index(0, 10, 25, 5), 0);
    assert_eq!(bin_index(240, 10, 25, 5), 4); // m = |S| − 1: the top bin, not B
    for j in 1..5u64 {
        assert_eq!(bin_index(48 * j, 10, 25, 5), j as u8); // m = 4.8j exactly
        assert_eq!(bin_index(48 * j - 1, 10, 25, 5), j as u8 - 1);
    }
    assert_eq!(bin_index(0, 3, 1, 5), 0); // one state
    assert_eq!(bin_index(7, 7, 2, 1), 0); // one bin
                                          // Against the float formula wherever it is not at a boundary.
    for (k, ns, nb) in [(10, 25, 5), (3, 7, 4), (1, 2, 255), (4, 25, 7)] {
        for sum in 0..=(k * (ns - 1)) as u64 {
            let x = sum as f64 / k as f64 / (ns - 1) as f64 * nb as f64;
            if (x - x.round()).abs() > 1e-9 {
                assert_eq!(
                    usize::from(bin_index(sum, k, ns, nb)),
                    (x.floor() as usize).min(nb - 1)
                );
            }
        }
    }
}

#[test]
fn acting_trembles_at_rate_epsilon() {
    // The pure map: rate T/2³² of trembles, spread evenly over the other actions.
    let mut rng = stream(2, Purpose::Eval, 0, 0);
    let (na, eps, draws) = (5, 0.3, 400_000);
    let t = tremble_threshold(eps, na);
    for g in 0..na as u8 {
        let mut hits = [0u32; 5];
        for _ in 0..draws {
            let a = tremble_action(rng.next_u64(), g, t, na);
            hits[usize::from(a)] += 1;
        }
        for (a, h) in hits.iter().enumerate() {
            let p = if a == usize::from(g) {
                1.0 - eps
            } else {
                eps / 4.0
            };
            let sd = (p * (1.0 - p) / draws as f64).sqrt();
            assert!(
                (f64::from(*h) / draws as f64 - p).abs() < 5.0 * sd,
                "greedy {g} action {a}: {h}"
            );
        }
    }
    assert!((0..1000).all(|_| tremble_action(rng.next_u64(), 3, tremble_threshold(0.0, 5), 5) == 3));
    assert!((0..1000).all(|_| tremble_action(rng.next_u64(), 0, tremble_threshold(0.5, 1), 1) == 0));
    // Through the learner: Q = 0 so every greedy action is 0; 2·10⁵ agents.
    let n = 200_000;
    let game = GameParams {
        gamma: 0.9,
        epsilon: 0.3,
    };
    let states: Vec<u8> = (0..n).map(|i| (i % 25) as u8).collect();
    for algo in [Algo::Iql, Algo::Mfq] {
        let l =
            Independent::try_new(25, 5, game, &LearnerParams::default(), algo, &states, 4).unwrap();
        let acts = l.agent_actions();
        assert!(acts.iter().all(|a| *a < 5));
        let rate = acts.iter().filter(|a| **a != 0).count() as f64 / n as f64;
        let sd = (0.3 * 0.7 / n as f64).sqrt();
        assert!((rate - 0.3).abs() < 5.0 * sd, "{algo}: tremble rate {rate}");
    }
}

#[test]
fn record_fields_are_disjoint_and_round_trip() {
    for na in 1..=MAX_ACTIONS {
        let rec = RecordLayout::new(na);
        let used = na + (2 * na + 1).div_ceil(4);
        assert!(rec.words >= used && (used > LINE_WORDS || LINE_WORDS.is_multiple_of(rec.words)));
        let mut row = vec![0u32; rec.words];
        for a in 0..na {
            row[a] = (1.5 + a as f32).to_bits();
            rec.set_count(&mut row, a, 0xfff0 + a as u16 % 16);
        }
        rec.set_greedy(&mut row, (na - 1) as u8);
        for a in 0..na {
            assert_eq!(rec.q(&row, a), 1.5 + a as f32, "|A| {na}");
            assert_eq!(rec.count(&row, a), 0xfff0 + a as u16 % 16, "|A| {na}");
        }
        assert_eq!(usize::from(rec.greedy(&row)), na - 1, "|A| {na}");
        assert!(row[used..].iter().all(|w| *w == 0), "|A| {na}: padding");
        rec.set_greedy(&mut row, 0);
        rec.set_count(&mut row, na - 1, 0);
        assert_eq!(
            rec.count(&row, na.saturating_sub(2)),
            if na > 1 {
                0xfff0 + (na as u16 - 2) % 16
            } else {
                0
            }
        );
    }
    assert_eq!(RecordLayout::new(5).words, 8);
    assert_eq!(RecordLayout::new(4).words, 8);
}

/// The per-run buffers [`Independent::bytes_fixed_sharded`] counts.
fn fixed_bytes<C: Collective>(l: &Independent<C>) -> usize {
    l.chunk_hist.len() * 4
        + l.chunk_td.len() * 8
        + l.chunk_scratch.len() * std::mem::size_of::<usize>()
        + l.totals.len() * 8
        + l.words.len() * 8
        + l.gathered.len() * 8
        + l.empty.capacity() * std::mem::size_of::<usize>()
        + l.policy.probs().len() * 8
        + std::mem::size_of_val(l.policy.greedy())
        + (l.records.words.len() - l.records.len) * 4
}

#[test]
fn sharded_buffers_are_what_the_memory_check_counts() {
    use crate::population::ThreadGroup;
    let p = LearnerParams::default();
    // 4 chunks over 2 ranks: 2 each (the last partial).
    let n = 3 * CHUNK + 5;
    let states: Vec<u8> = (0..n).map(|i| (i % 25) as u8).collect();
    for algo in [Algo::Iql, Algo::Mfq] {
        let want = Independent::bytes_fixed_sharded(25, 5, n as u64, 2, algo, &p);
        let got = ThreadGroup::new(2).run(|m| {
            let b = block_of(n as u64, m.rank(), 2);
            let local = &states[b.start as usize..b.end as usize];
            let l = Independent::try_new_sharded(
                m,
                25,
                5,
                GameParams::default(),
                &p,
                algo,
                n as u64,
                local,
                1,
            )
            .unwrap();
            assert_eq!(l.block(), b.start as usize..b.end as usize);
            fixed_bytes(&l) as u64
        });
        assert_eq!(got, vec![want, want], "{algo}");
    }
}

#[test]
fn bytes_per_agent_is_exact_and_within_budget() {
    let p = LearnerParams::default();
    assert_eq!(Independent::bytes_per_agent(25, 5, Algo::Iql, &p), 801);
    assert!(Independent::bytes_per_agent(25, 5, Algo::Iql, &p) <= 1200 - 3);
    assert_eq!(Independent::bytes_per_agent(25, 5, Algo::Mfq, &p), 4002);
    let states: Vec<u8> = (0..1000).map(|i| (i % 25) as u8).collect();
    for algo in [Algo::Iql, Algo::Mfq] {
        let l = Independent::try_new(25, 5, GameParams::default(), &p, algo, &states, 1).unwrap();
        assert_eq!(l.records.get().as_ptr().addr() % 64, 0, "records on a line");
        let columns = l.records.len * 4 + l.actions.len() + l.bins.len();
        assert_eq!(
            columns as u64,
            1000 * Independent::bytes_per_agent(25, 5, algo, &p),
            "{algo}"
        );
        let fixed = fixed_bytes(&l);
        assert_eq!(
            fixed as u64,
            Independent::bytes_fixed(25, 5, 1000, algo, &p),
            "{algo}"
        );
    }
}

fn key_of(e: Error) -> String {
    match e {
        Error::Param { key, .. } => key,
        other => panic!("not a Param error: {other}"),
    }
}

#[test]
fn bad_inputs_are_param_errors_naming_the_key() {
    let g = GameParams::default();
    let p = LearnerParams::default();
    let s = [0u8, 1, 2];
    let new = |ns, na, g, p: &LearnerParams, algo, st: &[u8]| {
        Independent::try_new(ns, na, g, p, algo, st, 1)
            .map(|_| ())
            .unwrap_err()
    };
    assert_eq!(key_of(new(3, 2, g, &p, Algo::Online, &s)), "algo");
    assert_eq!(key_of(new(3, 2, g, &p, Algo::Tmfq, &s)), "algo");
    assert_eq!(key_of(new(0, 2, g, &p, Algo::Iql, &s)), "num_states");
    assert_eq!(key_of(new(3, 0, g, &p, Algo::Iql, &s)), "num_actions");
    assert_eq!(key_of(new(3, 129, g, &p, Algo::Iql, &s)), "num_actions");
    assert_eq!(key_of(new(3, 2, g, &p, Algo::Iql, &[])), "agents");
    assert_eq!(key_of(new(2, 2, g, &p, Algo::Iql, &s)), "initial_states");
    let k3 = params_with(5, 3, 1.0);
    assert_eq!(key_of(new(3, 2, g, &k3, Algo::Mfq, &s)), "mfq_neighbours");
    assert!(Independent::try_new(3, 2, g, &k3, Algo::Iql, &s, 1).is_ok()); // IQL has no K
    assert_eq!(
        key_of(new(3, 2, g, &params_with(256, 1, 1.0), Algo::Mfq, &s)),
        "mfq_bins"
    );
    assert_eq!(
        key_of(new(3, 2, g, &params_with(5, 1, 0.3), Algo::Iql, &s)),
        "step_exponent"
    );
    let bad_game = GameParams {
        gamma: 1.0,
        epsilon: 0.1,
    };
    assert_eq!(key_of(new(3, 2, bad_game, &p, Algo::Iql, &s)), "gamma");
    // Update: one transition per agent, tables of the learner's size; nothing changes.
    let mut l = Independent::try_new(3, 2, g, &p, Algo::Iql, &s, 1).unwrap();
    let before = l.records.get().to_vec();
    let mut buf = VecTransitions::new(KernelTables::new(3, 2));
    buf.transitions = vec![(0, 0, 1); 2];
    assert_eq!(
        key_of(l.update(&observe(0, &buf, &[1.0, 0.0, 0.0])).unwrap_err()),
        "agents"
    );
    let mut buf = VecTransitions::new(KernelTables::new(3, 3));
    buf.transitions = vec![(0, 0, 1); 3];
    assert_eq!(
        key_of(l.update(&observe(0, &buf, &[1.0, 0.0, 0.0])).unwrap_err()),
        "tables"
    );
    assert_eq!(l.records.get(), before);
}

#[test]
#[should_panic(expected = "out of range")]
fn a_transition_out_of_range_panics() {
    let mut l = Independent::try_new(
        3,
        2,
        GameParams::default(),
        &LearnerParams::default(),
        Algo::Iql,
        &[0u8],
        1,
    )
    .unwrap();
    let mut buf = VecTransitions::new(KernelTables::new(3, 2));
    buf.transitions = vec![(0, 2, 1)];
    let _ = l.update(&observe(0, &buf, &[1.0, 0.0, 0.0]));
}

/// A hash of every column of the learner and the engine after `iters` iterations.
fn fingerprint(algo: Algo, n: usize, iters: usize, seed: u64) -> u64 {
    let model = Infection::default();
    let game = GameParams::default();
    let pop: Population = Population::try_new(25, n, &uniform(25), seed).unwrap();
    let l = Independent::try_new(
        25,
        5,
        game,
        &LearnerParams::default(),
        algo,
        pop.states(),
        seed,
    )
    .unwrap();
    let mut run = OnlineDriver::new(&model, pop, l, seed).unwrap();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for _ in 0..iters {
        let it = run.iterate().unwrap();
        it.z.iter().for_each(|z| z.to_bits().hash(&mut h));
        it.ledger.tq_updates.hash(&mut h);
    }
    let l = run.learner();
    l.records.get().hash(&mut h);
    l.actions.hash(&mut h);
    l.bins.hash(&mut h);
    l.chunk_td.iter().for_each(|t| t.to_bits().hash(&mut h));
    l.policy
        .probs()
        .iter()
        .for_each(|p| p.to_bits().hash(&mut h));
    run.engine().states().hash(&mut h);
    h.finish()
}

#[test]
fn bitwise_identical_for_one_and_two_threads_and_the_seed_matters() {
    let n = 3 * CHUNK + 123;
    for algo in [Algo::Iql, Algo::Mfq] {
        let one = in_pool(1, || fingerprint(algo, n, 3, 11));
        let two = in_pool(2, || fingerprint(algo, n, 3, 11));
        assert_eq!(one, two, "{algo}");
        let other = in_pool(2, || fingerprint(algo, n, 3, 12));
        assert_ne!(one, other, "{algo}: the seed must matter");
    }
}
