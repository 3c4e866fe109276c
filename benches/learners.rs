//! Learning algorithms on the default infection model: one TMFQ outer iteration (the inner
//! loop of TQ-learning on the simulator at a fixed z, then Next-MF) and one GMBL iteration
//! (P̂_k from the generative model, value iteration, Φ̂), and one call of the batch rule
//! (`batch_call`: kernel memory and up to K sweeps on the counts of one step), and one
//! call of the sampled rule (`tq_sampled`: B = 2^20 TQ updates from byte columns of 2^20
//! and 2^26 transitions, like the population's buffer; throughput in updates/s).
//!
//! Run: `cargo bench --bench learners`. Construction and a few warm-up iterations (so Q is
//! warm, as inside a run) happen outside the timer; each sample starts from a clone of that
//! state, so every timed iteration does the same work.

use criterion::Throughput;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use mfgsim::learner::{
    Algorithm, BatchTqLearner, BatchTqParams, Gmbl, LearnerParams, Tmfq, TqLearner, TqLearnerParams,
};
use mfgsim::model::Infection;
use mfgsim::model::{KernelTables, Model};
use mfgsim::rng::{stream, Purpose};
use mfgsim::space::uniform;
use mfgsim::transition::TransitionSource;
use mfgsim::GameParams;
use rand::RngExt;
use std::hint::black_box;

/// Byte columns of transitions, like the population's transition buffer.
struct Columns {
    s: Vec<u8>,
    a: Vec<u8>,
    s_next: Vec<u8>,
    tables: KernelTables,
}

impl TransitionSource for Columns {
    fn len(&self) -> usize {
        self.s.len()
    }
    fn get(&self, i: usize) -> (usize, usize, usize) {
        (
            usize::from(self.s[i]),
            usize::from(self.a[i]),
            usize::from(self.s_next[i]),
        )
    }
    fn tables(&self) -> &KernelTables {
        &self.tables
    }
}

/// `n` transitions with s and a uniform and s′ ~ P(·|s, a, z) (inverse CDF).
fn columns(tables: &KernelTables, n: usize) -> Columns {
    let (ns, na) = (tables.num_states(), tables.num_actions());
    let mut rng = stream(1, Purpose::Eval, 0, 0);
    let mut c = Columns {
        s: Vec::with_capacity(n),
        a: Vec::with_capacity(n),
        s_next: Vec::with_capacity(n),
        tables: tables.clone(),
    };
    for _ in 0..n {
        let (s, a) = (rng.random_range(0..ns), rng.random_range(0..na));
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let row = tables.row(s, a);
        let next = row
            .iter()
            .position(|p| {
                acc += p;
                u < acc
            })
            .unwrap_or(ns - 1);
        c.s.push(s as u8);
        c.a.push(a as u8);
        c.s_next.push(next as u8);
    }
    c
}

/// One call of the sampled rule: B = 2^20 updates (the default budget) from 2^20 and 2^26
/// byte-column transitions (the larger misses the cache on every read).
fn tq_sampled(c: &mut Criterion) {
    let model = Infection::default();
    let game = GameParams::default();
    let tables = KernelTables::of(&model, &uniform(model.num_states()));
    let mut group = c.benchmark_group("tq_sampled");
    group.sample_size(10);
    let budget = TqLearnerParams::default().budget;
    group.throughput(Throughput::Elements(budget as u64));
    for log_n in [20u32, 26] {
        let src = columns(&tables, 1 << log_n);
        let mut l = TqLearner::try_new(
            model.num_states(),
            model.num_actions(),
            game,
            TqLearnerParams::default(),
        )
        .expect("default params are valid");
        l.learn(&src, 0, 0);
        let mut k = 0;
        group.bench_function(format!("infection/buffer_2^{log_n}"), |b| {
            b.iter(|| {
                k += 1;
                black_box(l.learn(black_box(&src), k, 0).mean_abs_td_error)
            })
        });
    }
    group.finish();
}

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

criterion_group!(benches, learners, tq_sampled);
criterion_main!(benches);
