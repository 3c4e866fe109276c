//! The exact equilibrium solvers side by side on infection at c_f = 0.45, where T-BR cycles
//! (period 2, detected) and fictitious play and mirror descent converge to a mixed
//! equilibrium, and at c_f = 0.8, where all four converge; plus the census of the adoption
//! game (6 states, 16 random starts).
//!
//! Run: `cargo bench --bench solvers`. Each iteration is one whole solve from the uniform
//! mean field with the default targets (exploitability and consistency 1e-6).

use criterion::{criterion_group, criterion_main, Criterion};
use mfgsim::census::{census, CensusOptions};
use mfgsim::model::{Adoption, AdoptionParams, Infection, InfectionParams};
use mfgsim::solver::{solve, SolverAlgo, SolverParams, Start};
use mfgsim::GameParams;
use std::hint::black_box;

fn solvers(c: &mut Criterion) {
    let game = GameParams::default();
    let mut group = c.benchmark_group("solve");
    group.sample_size(10);
    for c_f in [0.45, 0.8] {
        let m = Infection::try_new(InfectionParams {
            infection_constant: c_f,
            ..Default::default()
        })
        .expect("valid parameters");
        for algo in SolverAlgo::ALL {
            let p = SolverParams {
                algo,
                ..Default::default()
            };
            group.bench_function(format!("infection_cf{c_f}/{}", algo.name()), |b| {
                b.iter(|| solve(&m, game, &p, black_box(&Start::Uniform)).expect("solves"))
            });
        }
    }
    group.finish();
    let adoption = Adoption::try_new(AdoptionParams::default()).expect("defaults are valid");
    c.bench_function("census/adoption", |b| {
        b.iter(|| {
            census(
                &adoption,
                game,
                &SolverParams::default(),
                black_box(&CensusOptions::default()),
            )
            .expect("census runs")
        })
    });
}

criterion_group!(benches, solvers);
criterion_main!(benches);
