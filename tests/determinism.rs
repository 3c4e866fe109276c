//! Bitwise determinism across thread counts, and seed sensitivity, for every learning
//! algorithm through the run layer (the same call the binary and the Python package make).

use mfgsim::run;
use mfgsim::scenario::Scenario;

use crate::util::root;

/// Runs `learn` on `threads` threads; returns every snapshot's deterministic fields as bits,
/// plus the final strategy.
fn run(scenario: &str, overrides: &[&str], threads: usize) -> Vec<u64> {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let sc = Scenario::load(&root(scenario), &o).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let report = crate::util::learn_to_end(&sc);
        let mut bits = Vec::new();
        for s in &report.snapshots {
            bits.extend(s.z.iter().map(|x| x.to_bits()));
            bits.push(s.regenerated);
            bits.push(u64::from(s.policy_changes));
            bits.push(s.exploitability.max.to_bits());
            bits.push(s.consistency.to_bits());
            bits.push(s.w1_to_tmfe.to_bits());
            bits.push(s.total.samples());
            bits.push(s.total.tq_updates);
        }
        bits.extend(report.policy.probs().iter().map(|x| x.to_bits()));
        if let Some(q) = &report.q {
            bits.extend(q.values().iter().map(|x| x.to_bits()));
        }
        bits
    })
}

fn check(algo: &str, extra: &[&str]) {
    for scenario in ["scenarios/infection.toml", "scenarios/gig.toml"] {
        let algo_key = format!("learner.algo={algo}");
        let mut o = vec![algo_key.as_str(), "sim.seed=7"];
        o.extend_from_slice(extra);
        let one = run(scenario, &o, 1);
        let two = run(scenario, &o, 2);
        assert!(one == two, "{algo} {scenario}: 1 and 2 threads differ");
        o[1] = "sim.seed=8";
        let other = run(scenario, &o, 2);
        assert!(one != other, "{algo} {scenario}: the seed has no effect");
    }
}

#[test]
fn online_tmfq_is_bitwise_identical_for_1_and_2_threads() {
    // Several chunks (CHUNK = 2^16) so that the threads really split the work.
    check("online", &["sim.agents=209000", "sim.iterations=5"]);
}

#[test]
fn online_tmfq_on_the_count_engine_is_bitwise_identical() {
    check(
        "online",
        &["sim.agents=1e9", "sim.engine=counts", "sim.iterations=5"],
    );
}

#[test]
fn online_tmfq_batch_rule_is_bitwise_identical_for_1_and_2_threads() {
    // The counts are summed per fold of chunks; the split must not matter.
    check(
        "online",
        &[
            "learner.rule=batch",
            "sim.agents=209000",
            "sim.iterations=5",
        ],
    );
}

#[test]
fn online_tmfq_batch_rule_on_the_count_engine_is_bitwise_identical() {
    check(
        "online",
        &[
            "learner.rule=batch",
            "sim.agents=1e9",
            "sim.engine=counts",
            "sim.iterations=5",
        ],
    );
}

#[test]
fn online_tmfq_sampled_rule_is_bitwise_identical_for_1_and_2_threads() {
    check(
        "online",
        &[
            "learner.rule=sampled",
            "sim.agents=209000",
            "sim.iterations=5",
        ],
    );
}

#[test]
fn online_tmfq_paper_rule_is_bitwise_identical_for_1_and_2_threads() {
    check(
        "online",
        &[
            "learner.rule=paper",
            "sim.agents=209000",
            "sim.iterations=5",
        ],
    );
}

#[test]
fn online_tmfq_paper_rule_on_the_count_engine_is_bitwise_identical() {
    // The paper's rule reads all N transitions: the count engine draws every one of them.
    check(
        "online",
        &[
            "learner.rule=paper",
            "sim.agents=300000",
            "sim.engine=counts",
            "sim.iterations=5",
        ],
    );
}

#[test]
fn tmfq_cold_start_is_bitwise_identical_for_1_and_2_threads() {
    check(
        "tmfq",
        &[
            "learner.cold_start=true",
            "learner.sim_agents=150000",
            "learner.max_sim_transitions=600000",
            "learner.mf_agents=100000",
            "sim.iterations=3",
        ],
    );
}

#[test]
fn iql_and_mfq_with_reset_on_regeneration_are_bitwise_identical_for_1_and_2_threads() {
    for algo in ["iql", "mfq"] {
        check(
            algo,
            &[
                "learner.reset_on_regeneration=true",
                "sim.agents=140000",
                "sim.iterations=4",
            ],
        );
    }
}

/// The paper-literal options through `run::learn`: finite numbers in every snapshot, and a
/// run that differs from the default's (the option is not ignored).
#[test]
fn paper_options_run_end_to_end_with_finite_numbers_and_change_the_run() {
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "online",
            &["sim.agents=20000", "sim.iterations=6"],
            "learner.rule=paper",
        ),
        (
            "tmfq",
            &[
                "learner.sim_agents=20000",
                "learner.max_sim_transitions=100000",
                "learner.mf_agents=100000",
                "sim.iterations=4",
            ],
            "learner.cold_start=true",
        ),
        (
            "iql",
            &["sim.agents=20000", "sim.iterations=6"],
            "learner.reset_on_regeneration=true",
        ),
        (
            "mfq",
            &["sim.agents=20000", "sim.iterations=6"],
            "learner.reset_on_regeneration=true",
        ),
    ];
    for (algo, base, option) in cases {
        let algo_key = format!("learner.algo={algo}");
        let mut o = vec![algo_key.as_str(), "sim.seed=3"];
        o.extend_from_slice(base);
        let default = run("scenarios/infection.toml", &o, 2);
        o.push(option);
        let sc = Scenario::load(
            &root("scenarios/infection.toml"),
            &o.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        let report = crate::util::learn_to_end(&sc);
        assert!(!report.snapshots.is_empty(), "{option}");
        for s in &report.snapshots {
            assert!(s.z.iter().all(|x| x.is_finite()), "{option}");
            assert!(s.exploitability.max.is_finite(), "{option}");
            assert!(s.exploitability.weighted.is_finite(), "{option}");
            assert!(s.consistency.is_finite(), "{option}");
            assert!(s.l1_to_tmfe.is_finite(), "{option}");
        }
        assert!(report.policy.probs().iter().all(|x| x.is_finite()));
        let with = run("scenarios/infection.toml", &o, 2);
        assert!(default != with, "{option} changed nothing");
    }
}

#[test]
fn tmfq_is_bitwise_identical_for_1_and_2_threads() {
    // A simulator of several chunks, a short inner loop.
    check(
        "tmfq",
        &[
            "learner.sim_agents=150000",
            "learner.max_sim_transitions=600000",
            "learner.mf_agents=100000",
            "sim.iterations=3",
        ],
    );
}

#[test]
fn gmbl_is_bitwise_identical_for_1_and_2_threads() {
    check("gmbl", &["sim.iterations=5"]);
}

#[test]
fn iql_and_mfq_are_bitwise_identical_for_1_and_2_threads() {
    // Several chunks of agents, each with its own table.
    for algo in ["iql", "mfq"] {
        check(algo, &["sim.agents=140000", "sim.iterations=4"]);
    }
}

/// The equilibrium census (`mfgsim equilibria`) on `threads` threads: every attempt's end
/// point and every equilibrium's numbers, as JSON without the timing and thread keys.
fn census_on(threads: usize) -> serde_json::Value {
    let sc = Scenario::load(&root("scenarios/adoption.toml"), &[]).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let opts = mfgsim::census::CensusOptions {
        random_starts: 5,
        seed: 3,
        ..Default::default()
    };
    let report = pool.install(|| run::equilibria(&sc, &opts)).unwrap();
    let mut v = serde_json::to_value(&report).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.remove("seconds");
    obj.remove("threads");
    v
}

#[test]
fn the_census_is_the_same_on_one_and_two_threads() {
    let (one, two) = (census_on(1), census_on(2));
    assert_eq!(one, two);
    // The adoption game is bistable: both extremal T-MFE are found, each a T-MFE in Π^ε.
    let eq = one["equilibria"].as_array().unwrap();
    assert_eq!(eq.len(), 2, "{eq:?}");
    assert!(eq.iter().all(|e| e["kind"] == "tmfe"));
    assert!((eq[0]["mean_state"].as_f64().unwrap() - 0.093_171_262_2).abs() < 1e-6);
    assert!((eq[1]["mean_state"].as_f64().unwrap() - 2.868_156_608_8).abs() < 1e-6);
}
