//! One step of the exact count engine ([`CountPopulation::step`]) at the T-MFE of each
//! default scenario, for N = 10³, 10⁶, 10⁹ and 10¹²: the cost should not grow with N.
//!
//! Criterion reports time per step and "agent-steps/s" (`Throughput::Elements(N)`): the
//! number of simulated agent moves per second, which is what the count engine replaces.
//! Also `sample/2^20`: drawing the 2²⁰ transitions a learner reads from the last step's
//! flows (N = 10⁹).
//!
//! Run: `cargo bench --bench counts -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mfgsim::model::{Gig, Infection};
use mfgsim::population::CountPopulation;
use mfgsim::space::Policy;
use mfgsim::{solve, GameParams, Model, SolverParams, Start};
use std::hint::black_box;

const SEED: u64 = 2021;

fn setup(model: &dyn Model, n: u64) -> (Vec<f64>, Policy, CountPopulation) {
    let sol = solve(
        model,
        GameParams::default(),
        &SolverParams::default(),
        &Start::Uniform,
    )
    .expect("the default scenarios solve");
    let pop = CountPopulation::try_new(model.num_states(), n, &sol.z, SEED).expect("valid");
    (sol.z, sol.policy, pop)
}

fn bench_step(c: &mut Criterion) {
    let models: [(&str, Box<dyn Model>); 2] = [
        ("infection", Box::new(Infection::default())),
        ("gig", Box::new(Gig::default())),
    ];
    let mut group = c.benchmark_group("count_step");
    for (name, model) in &models {
        for n in [1_000u64, 1_000_000, 1_000_000_000, 1_000_000_000_000] {
            let (_, policy, mut pop) = setup(model.as_ref(), n);
            let mut k = 0;
            group.throughput(Throughput::Elements(n));
            group.bench_with_input(BenchmarkId::new(*name, n), &n, |b, _| {
                b.iter(|| {
                    k += 1;
                    black_box(
                        pop.step(model.as_ref(), &policy, k, SEED)
                            .expect("valid step"),
                    )
                })
            });
        }
    }
    group.finish();

    let model = Infection::default();
    let (_, policy, mut pop) = setup(&model, 1_000_000_000);
    pop.step(&model, &policy, 0, SEED).expect("valid step");
    let mut group = c.benchmark_group("sample");
    group.throughput(Throughput::Elements(1 << 20));
    group.bench_function("2^20", |b| {
        b.iter(|| black_box(pop.transition_sample(1 << 20, SEED).expect("after a step")))
    });
    group.finish();
}

criterion_group!(benches, bench_step);
criterion_main!(benches);
