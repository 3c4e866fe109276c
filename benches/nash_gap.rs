//! The ε-Nash gap study at one N ([`mfgsim::nash_gap::nash_gap`]) for the T-MFE of the
//! default gig scenario, N = 10, 10³, 10⁶ and 10⁹: the count engine moves the N − 1 others,
//! so the cost should not grow with N.
//!
//! Each iteration is a whole study at one N with small settings (16 replicates in the
//! search and the report, one policy-iteration round, truncation tolerance 10⁻², no
//! bootstrap). Criterion reports time per study and "game-steps/s"
//! (`Throughput::Elements` = the study's simulated steps of the N-player game, each one step
//! of every one of the N agents).
//!
//! Run: `cargo bench --bench nash_gap -- --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;
use std::sync::atomic::AtomicBool;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mfgsim::model::Gig;
use mfgsim::nash_gap::{nash_gap, NashGapParams};
use mfgsim::solver::stationary_mean_field;
use mfgsim::{solve, GameParams, SolverParams, Start};

fn bench_nash_gap(c: &mut Criterion) {
    let model = Gig::default();
    let game = GameParams::default();
    let sol = solve(&model, game, &SolverParams::default(), &Start::Uniform)
        .expect("the default gig scenario solves");
    let z = stationary_mean_field(&model, &sol.policy, &sol.z).expect("settles");
    let never = AtomicBool::new(false);
    let mut group = c.benchmark_group("nash_gap");
    group.sample_size(10);
    for n in [10u64, 1_000, 1_000_000, 1_000_000_000] {
        let params = NashGapParams {
            agents: vec![n],
            replications: 16,
            search_replications: 16,
            max_rounds: 1,
            neighbour_max: 0,
            tolerance: 1e-2,
            bootstrap: 0,
            ..NashGapParams::default()
        };
        let run = || nash_gap(&model, game, &sol.policy, &z, &params, &never, &|_| {});
        let steps = run().expect("valid settings").per_n[0].steps;
        group.throughput(Throughput::Elements(steps));
        group.bench_with_input(BenchmarkId::new("gig_tmfe", n), &n, |b, _| {
            b.iter(|| black_box(run().expect("valid settings")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_nash_gap);
criterion_main!(benches);
