//! IQL with N = 10⁶ agents, each learning its own TQ-table, default infection model.
//!
//! Variants (criterion prints agent-steps/s, `Throughput::Elements(N)`):
//! * `agents/iql_iterate_{1,2}threads`: one `OnlineDriver::iterate`: the population step
//!   with per-agent actions, every agent's eq. 6 update, its next action and μ̄;
//! * `agents/iql_update_{1,2}threads`: `Learner::update` alone on one fixed step's
//!   transitions (eq. 6 for every agent, next actions, μ̄), no population step.
//!
//! The 1-thread variants run in a 1-thread rayon pool, so their agent-steps/s are per
//! CPU-second. Setup (allocating 801 MB of records, a population, 20 warm-up iterations so
//! that the agents' rows are spread over their states as in a run) is outside the timer.
//! `MFGSIM_BENCH_PHASES=1` first prints, for each thread count, the mean wall seconds of
//! the step and of the learning half over 20 iterations (the driver's own timers) to stderr.
//!
//! Run: `cargo bench --bench agents -- --warm-up-time 2 --measurement-time 10`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mfgsim::learner::OnlineDriver;
use mfgsim::learner::{Algo, Algorithm, Independent, Learner, LearnerParams, Observation};
use mfgsim::model::{Infection, Model};
use mfgsim::population::{Engine, Population};
use mfgsim::space::uniform;
use mfgsim::GameParams;
use std::hint::black_box;

const N: usize = 1_000_000;
const SEED: u64 = 2021;
const WARM_UP: usize = 20;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

fn driver(model: &Infection) -> OnlineDriver<'_, Infection, Population, Independent> {
    let (ns, na) = (model.num_states(), model.num_actions());
    let pop: Population = Population::try_new(ns, N, &uniform(ns), SEED).expect("valid sizes");
    let learner = Independent::try_new(
        ns,
        na,
        GameParams::default(),
        &LearnerParams::default(),
        Algo::Iql,
        pop.states(),
        SEED,
    )
    .expect("valid parameters");
    let mut run = OnlineDriver::new(model, pop, learner, SEED).expect("sizes agree");
    for _ in 0..WARM_UP {
        run.iterate().expect("the model samples");
    }
    run
}

#[expect(clippy::print_stderr, reason = "phase report")]
fn phases(model: &Infection) {
    if std::env::var_os("MFGSIM_BENCH_PHASES").is_none() {
        return;
    }
    for threads in [1, 2] {
        pool(threads).install(|| {
            let mut run = driver(model);
            let (mut step, mut learn) = (0.0, 0.0);
            let reps = 20;
            for _ in 0..reps {
                let it = run.iterate().expect("the model samples");
                step += it.step_seconds;
                learn += it.learn_seconds;
            }
            let (step, learn) = (step / reps as f64, learn / reps as f64);
            eprintln!(
                "{threads} thread(s): step {:.1} ms, learn {:.1} ms per iteration; {:.1} M agent-steps/s",
                step * 1e3,
                learn * 1e3,
                N as f64 / (step + learn) / 1e6
            );
        });
    }
}

fn agents(c: &mut Criterion) {
    let model = Infection::default();
    phases(&model);
    let mut group = c.benchmark_group("agents");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    for threads in [1, 2] {
        let pool = pool(threads);
        let mut run = pool.install(|| driver(&model));
        group.bench_function(
            format!(
                "iql_iterate_{threads}thread{}",
                if threads > 1 { "s" } else { "" }
            ),
            |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(run.iterate().expect("the model samples").ledger.tq_updates)
                    })
                })
            },
        );
        drop(run);
        // The update alone: the learner and population of a warm run, one fixed step.
        let run = pool.install(|| driver(&model));
        let mut learner = run.learner().clone();
        let mut pop = run.engine().clone();
        drop(run);
        let z = pop.mean_field().to_vec();
        let k = WARM_UP as u64;
        pool.install(|| {
            pop.step(&model, learner.actions(), k, SEED)
                .expect("the model samples")
        });
        let src = pop
            .learner_source(usize::MAX, SEED)
            .expect("one step was taken");
        group.bench_function(
            format!(
                "iql_update_{threads}thread{}",
                if threads > 1 { "s" } else { "" }
            ),
            |b| {
                pool.install(|| {
                    b.iter(|| {
                        let obs = Observation {
                            step: k,
                            seed: SEED,
                            agents: N as u64,
                            source: src,
                            mean_field: &z,
                            counts: None,
                        };
                        black_box(learner.update(&obs).expect("sizes agree").tq_updates)
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, agents);
criterion_main!(benches);
