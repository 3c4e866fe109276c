//! Golden hashes: a 100-iteration learn run of every algorithm, hashed over every number it
//! reports (each iteration's mean field, exploitability, consistency and sample ledger, the
//! final strategy). Determinism tests compare runs with each other; these compare with the
//! past, so a change that moves any number of any learner by one bit fails here and must be
//! re-pinned on purpose (the failure names the new hash to paste into `pinned`).

use mfgsim::scenario::Scenario;

use crate::util::{learn_to_end, root};

/// FNV-1a over 64-bit words: stable across Rust versions (unlike `DefaultHasher`).
fn fnv(words: impl IntoIterator<Item = u64>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The hash of one run of `algo` on gig (100 iterations, small samples, seed 7).
fn run_hash(algo: &str) -> u64 {
    let overrides: Vec<String> = [
        format!("learner.algo=\"{algo}\""),
        "sim.iterations=100".into(),
        "sim.agents=2000".into(),
        "sim.seed=7".into(),
        "learner.sim_agents=2000".into(),
        "learner.max_sim_transitions=20000".into(),
        "learner.mf_agents=2000".into(),
        "learner.gen_samples=200".into(),
    ]
    .into();
    let sc = Scenario::load(&root("scenarios/gig.toml"), &overrides).unwrap();
    let r = learn_to_end(&sc);
    assert_eq!(r.snapshots.len(), 100);
    let mut words = Vec::new();
    for s in &r.snapshots {
        words.push(s.iteration);
        words.extend(s.z.iter().map(|x| x.to_bits()));
        words.extend(
            [
                s.mean_state,
                s.l1_to_tmfe,
                s.w1_to_tmfe,
                s.consistency,
                s.exploitability.max,
                s.exploitability.weighted,
            ]
            .map(f64::to_bits),
        );
        words.extend([
            s.total.simulator_transitions,
            s.total.real_transitions,
            s.total.generative_samples,
            s.total.tq_updates,
            s.regenerated,
            u64::from(s.policy_changes),
        ]);
    }
    words.extend(r.policy.probs().iter().map(|x| x.to_bits()));
    fnv(words)
}

#[test]
fn every_learner_reproduces_its_pinned_hash() {
    let pinned: [(&str, u64); 5] = [
        ("online", 0xeea4e8de31740627),
        ("tmfq", 0x250820385b766ee6),
        ("gmbl", 0xd9022a6797c3abd6),
        ("iql", 0xa97bbb07cdc19967),
        ("mfq", 0xa2a494a843e99419),
    ];
    let got: Vec<(&str, u64)> = pinned.iter().map(|&(a, _)| (a, run_hash(a))).collect();
    for ((algo, want), (_, have)) in pinned.iter().zip(&got) {
        assert_eq!(
            *have, *want,
            "{algo}: the run's numbers changed (hash {have:#018x}, pinned {want:#018x}); if on \
             purpose, paste the new hash into `pinned` in tests/golden.rs"
        );
    }
}
