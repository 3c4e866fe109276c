//! Bitwise determinism across thread counts, and seed sensitivity, for the agent engine and
//! online TMFQ (golden values are re-minted only on purpose, with a note).

use mfgsim::learner::online_tmfq::{OnlineParams, OnlineTmfq};
use mfgsim::model::{Gig, Infection};
use mfgsim::{GameParams, Model};

/// Runs `iters` online TMFQ iterations on `threads` threads; returns every snapshot's
/// deterministic fields as bits, plus the final Q-table bits.
fn run(model: &dyn Model, agents: usize, iters: usize, seed: u64, threads: usize) -> Vec<u64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let params = OnlineParams {
            agents,
            seed,
            ..OnlineParams::default()
        };
        let mut run = OnlineTmfq::try_new(model, GameParams::default(), params, None).unwrap();
        let mut bits = Vec::new();
        for _ in 0..iters {
            let s = run.iterate().unwrap();
            bits.extend(s.z.iter().map(|x| x.to_bits()));
            bits.push(s.regenerated);
            bits.push(u64::from(s.policy_changes));
            bits.push(s.exploitability.max.to_bits());
        }
        bits.extend(run.q().values.iter().map(|x| x.to_bits()));
        bits.extend(run.population().states().iter().map(|s| u64::from(*s)));
        bits
    })
}

#[test]
fn online_tmfq_is_bitwise_identical_for_1_and_2_threads() {
    // Several chunks (CHUNK = 2^16) so that the threads really split the work.
    let n = 3 * (1 << 16) + 12_345;
    for model in [
        Box::new(Infection::default()) as Box<dyn Model>,
        Box::new(Gig::default()),
    ] {
        let one = run(model.as_ref(), n, 5, 7, 1);
        let two = run(model.as_ref(), n, 5, 7, 2);
        assert!(one == two, "{}: 1 and 2 threads differ", model.name());
        let other = run(model.as_ref(), n, 5, 8, 2);
        assert!(one != other, "{}: the seed has no effect", model.name());
    }
}
