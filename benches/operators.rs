//! Exact operators: one TQ-value sweep F_z, one McKean–Vlasov update Φ, and a full T-BR solve
//! of each default scenario.
//!
//! Run: `cargo bench --bench operators`. Setup (tables, Q*, policy) happens outside the timer.

use criterion::{criterion_group, criterion_main, Criterion};
use mfgsim::model::{Gig, Infection};
use mfgsim::operator::{phi, tq_value, trembling_policy, TqIteration};
use mfgsim::space::{uniform, QTable};
use mfgsim::{solve, GameParams, KernelTables, Model, SolverParams, Start};
use std::hint::black_box;

fn models() -> Vec<(&'static str, Box<dyn Model>)> {
    vec![
        ("infection", Box::new(Infection::default())),
        ("gig", Box::new(Gig::default())),
    ]
}

fn operators(c: &mut Criterion) {
    let game = GameParams::default();
    for (name, model) in models() {
        let (ns, na) = (model.num_states(), model.num_actions());
        let z = uniform(ns);
        let tables = KernelTables::of(model.as_ref(), &z);
        let mut q = QTable::zeros(ns, na);
        TqIteration::new().run(&tables, game, &mut q, 1e-12, 100_000);
        let policy = trembling_policy(&q, game.epsilon);
        let mut g = vec![0.0; ns];
        let mut out = QTable::zeros(ns, na);
        c.bench_function(&format!("tq_sweep/{name}"), |b| {
            b.iter(|| tq_value::apply(&tables, game, black_box(&q), &mut g, &mut out))
        });
        let mut next = vec![0.0; ns];
        c.bench_function(&format!("phi/{name}"), |b| {
            b.iter(|| phi(&tables, black_box(&z), &policy, &mut next))
        });
        let mut t = KernelTables::new(ns, na);
        c.bench_function(&format!("fill_tables/{name}"), |b| {
            b.iter(|| model.fill_tables(black_box(&z), &mut t))
        });
        c.bench_function(&format!("tbr_solve/{name}"), |b| {
            b.iter(|| {
                solve(
                    model.as_ref(),
                    game,
                    &SolverParams::default(),
                    black_box(&Start::Uniform),
                )
                .expect("default scenario solves")
            })
        });
    }
}

criterion_group!(benches, operators);
criterion_main!(benches);
