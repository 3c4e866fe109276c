//! Learning algorithms on the default infection model: one TMFQ outer iteration (the inner
//! loop of TQ-learning on the simulator at a fixed z, then Next-MF) and one GMBL iteration
//! (P̂_k from the generative model, value iteration, Φ̂), and one call of the batch rule
//! (`batch_call`: kernel memory and up to K sweeps on the counts of one step).
//!
//! Run: `cargo bench --bench learners`. Construction and a few warm-up iterations (so Q is
//! warm, as inside a run) happen outside the timer; each sample starts from a clone of that
//! state, so every timed iteration does the same work.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use mfgsim::learner::{Algorithm, BatchTqLearner, BatchTqParams, Gmbl, LearnerParams, Tmfq};
use mfgsim::model::Infection;
use mfgsim::model::{KernelTables, Model};
use mfgsim::space::uniform;
use mfgsim::GameParams;
use std::hint::black_box;

fn learners(c: &mut Criterion) {
    let model = Infection::default();
    let game = GameParams::default();
    let params = LearnerParams::default();
    let z = uniform(25);

    let mut group = c.benchmark_group("learners");
    group.sample_size(10);
    // One inner loop at the fixed z = uniform from a cold learner: runs to its cap T_max
    // (10 steps of 10⁶ simulated agents, 10⁷ TQ updates).
    group.bench_function("tmfq_inner_loop/infection", |b| {
        b.iter_batched(
            || Tmfq::try_new(&model, game, &params, &z, 1).expect("default params are valid"),
            |mut t| {
                let st = t.learn_at(black_box(&z)).expect("the model samples");
                black_box(st.transitions)
            },
            BatchSize::PerIteration,
        )
    });
    let mut gmbl = Gmbl::try_new(&model, game, &params, &z, 1).expect("default params are valid");
    for _ in 0..5 {
        gmbl.iterate().expect("GMBL never fails");
    }
    group.bench_function("gmbl_iteration/infection", |b| {
        b.iter(|| black_box(gmbl.iterate().expect("GMBL never fails").inner_steps))
    });
    // One batch-rule call on the counts of 10⁶ transitions (kernel-proportional), warm Q.
    let tables = KernelTables::of(&model, &z);
    let counts: Vec<u64> = tables
        .kernel
        .iter()
        .map(|p| (p * 8000.0).round() as u64)
        .collect();
    let ns = model.num_states();
    let mut batch =
        BatchTqLearner::try_new(ns, model.num_actions(), game, BatchTqParams::default())
            .expect("default params are valid");
    for _ in 0..5 {
        batch.learn_counts(&counts, &tables);
    }
    group.bench_function("batch_call/infection", |b| {
        b.iter_batched(
            || batch.clone(),
            |mut l| black_box(l.learn_counts(black_box(&counts), &tables).sweeps),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, learners);
criterion_main!(benches);
