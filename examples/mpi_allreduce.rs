//! The all-reduce's share of a sharded step (cargo feature `mpi`):
//!
//! ```text
//! cargo build --features mpi --example mpi_allreduce
//! mpirun -n 2 target/debug/examples/mpi_allreduce [AGENTS_PER_RANK] [STEPS] [THREADS] [ALGO]
//! ```
//! Each rank holds AGENTS_PER_RANK agents (default 10⁶) of the infection model's population
//! and steps STEPS times (default 20) with THREADS threads (default 1). Printed by rank 0,
//! medians over the steps.
//!
//! ALGO `counts` (default): the bare step, counting transitions as online TMFQ's batch rule
//! does (|S| + 2 + |S|²|A| = 3152 words per all-reduce):
//! - `step`: one whole sharded step (local chunks + all-reduce);
//! - `reduce`: the all-reduce inside it (waiting for the slowest rank included);
//! - `pure`: the same all-reduce after a barrier (the communication alone).
//!
//! ALGO `iql` or `mfq`: one learning iteration (the step, the per-agent update, the sampled
//! agents' strategies, as `mfgsim learn` runs them), every all-reduce of the engine and the
//! learner timed (waits included):
//! - `iteration`: step + update + gathering the sampled agents' strategies;
//! - `reduce`: the sum of the iteration's all-reduces and their words.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use mfgsim::learner::evaluator::agent_sample;
use mfgsim::learner::{Algo, Independent, Learner, LearnerParams, Observation};
use mfgsim::model::{GameParams, Infection, Model};
use mfgsim::mpi::MpiSession;
use mfgsim::population::{Actions, Collective, Engine, ShardedPopulation};
use mfgsim::space::{uniform, Policy};
use mpi::traits::CommunicatorCollectives;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A collective that adds up the nanoseconds and words of its all-reduces.
#[derive(Debug)]
struct Timed<'a> {
    inner: &'a dyn Collective,
    nanos: AtomicU64,
    words: AtomicU64,
    calls: AtomicU64,
}

impl Collective for Timed<'_> {
    fn rank(&self) -> usize {
        self.inner.rank()
    }

    fn size(&self) -> usize {
        self.inner.size()
    }

    fn all_reduce_sum(&self, words: &mut [u64]) {
        let t0 = Instant::now();
        self.inner.all_reduce_sum(words);
        self.nanos
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.words.fetch_add(words.len() as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// What [`learn`] measured: medians of the iteration, of its all-reduces and of the same
/// calls repeated after a barrier (s); the words and calls of one iteration.
struct Measured {
    iteration: f64,
    reduce: f64,
    pure: f64,
    words: u64,
    calls: u64,
}

/// `iql` / `mfq` (see the module docs).
fn learn(comm: &dyn Collective, algo: Algo, n: u64, steps: u64) -> Result<Measured, mfgsim::Error> {
    let model = Infection::default();
    let (ns, na) = (model.num_states(), model.num_actions());
    let timed = Timed {
        inner: comm,
        nanos: AtomicU64::new(0),
        words: AtomicU64::new(0),
        calls: AtomicU64::new(0),
    };
    let params = LearnerParams {
        algo,
        ..LearnerParams::default()
    };
    let mut pop = ShardedPopulation::<u8>::try_new(&timed, None, ns, n, &uniform(ns), 1)?;
    let states = pop.local().states().to_vec();
    let game = GameParams::default();
    let mut l = Independent::try_new_sharded(&timed, ns, na, game, &params, algo, n, &states, 1)?;
    let sample = agent_sample(n as usize, 1);
    let world = mpi::topology::SimpleCommunicator::world();
    let (mut it, mut reduce, mut pure) = (Vec::new(), Vec::new(), Vec::new());
    let (mut words, mut calls) = (0, 0);
    for s in 0..steps {
        world.barrier();
        timed.nanos.store(0, Ordering::Relaxed);
        timed.words.store(0, Ordering::Relaxed);
        timed.calls.store(0, Ordering::Relaxed);
        let t0 = Instant::now();
        pop.step(&model, l.actions(), s, 1)?;
        let z = pop.mean_field().to_vec();
        let src = pop.learner_source(usize::MAX, 1)?;
        l.update(&Observation {
            step: s,
            seed: 1,
            agents: n,
            source: src,
            mean_field: &z,
            counts: None,
        })?;
        let policies = l.agent_policies(&sample);
        std::hint::black_box(policies);
        it.push(t0.elapsed().as_secs_f64());
        reduce.push(timed.nanos.load(Ordering::Relaxed) as f64 * 1e-9);
        words = timed.words.load(Ordering::Relaxed);
        calls = timed.calls.load(Ordering::Relaxed);
        // The communication alone: as many calls of the same total size after a barrier.
        let mut buf = vec![1u64; words.div_ceil(calls.max(1)) as usize];
        world.barrier();
        let t0 = Instant::now();
        for _ in 0..calls {
            comm.all_reduce_sum(&mut buf);
        }
        pure.push(t0.elapsed().as_secs_f64());
    }
    Ok(Measured {
        iteration: median(&mut it),
        reduce: median(&mut reduce),
        pure: median(&mut pure),
        words,
        calls,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let per_rank: u64 = args.get(1).map_or(Ok(1_000_000), |a| a.parse())?;
    let steps: u64 = args.get(2).map_or(Ok(20), |a| a.parse())?;
    let threads: usize = args.get(3).map_or(Ok(1), |a| a.parse())?;
    let algo = args.get(4).map_or("counts", String::as_str);
    let session = MpiSession::initialize()?;
    let comm = session.world();
    let k = comm.size();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let model = Infection::default();
    let (ns, na) = (model.num_states(), model.num_actions());
    let n = per_rank * k as u64;
    if algo == "iql" || algo == "mfq" {
        let a = if algo == "iql" { Algo::Iql } else { Algo::Mfq };
        let m = pool.install(|| learn(comm, a, n, steps))?;
        if comm.rank() == 0 {
            #[expect(clippy::print_stdout, reason = "an example reports its measurement")]
            {
                println!(
                    "{algo}: K = {k} ranks × {threads} thread(s), {per_rank} agents per rank, \
                     median of {steps} iterations: iteration {:.3} ms, its {} all-reduces \
                     ({} words in all) {:.3} ms ({:.2}%), the same calls after a barrier \
                     {:.3} ms ({:.2}%)",
                    m.iteration * 1e3,
                    m.calls,
                    m.words,
                    m.reduce * 1e3,
                    100.0 * m.reduce / m.iteration,
                    m.pure * 1e3,
                    100.0 * m.pure / m.iteration
                );
            }
        }
        return Ok(());
    }
    let policy = Policy::uniform(ns, na);
    let (mut step, mut reduce, mut pure) = (Vec::new(), Vec::new(), Vec::new());
    pool.install(|| -> Result<(), mfgsim::Error> {
        let mut pop = ShardedPopulation::<u8>::try_new(comm, None, ns, n, &uniform(ns), 1)?;
        pop.set_count_transitions(true)?;
        let world = mpi::topology::SimpleCommunicator::world();
        let mut words = vec![1u64; ns + 2 + ns * na * ns];
        for s in 0..steps {
            world.barrier();
            let t0 = Instant::now();
            pop.step(&model, Actions::Shared(&policy), s, 1)?;
            step.push(t0.elapsed().as_secs_f64());
            reduce.push(pop.last_reduce_seconds());
            world.barrier();
            let t0 = Instant::now();
            comm.all_reduce_sum(&mut words);
            pure.push(t0.elapsed().as_secs_f64());
        }
        Ok(())
    })?;
    if comm.rank() == 0 {
        let (st, re, pu) = (median(&mut step), median(&mut reduce), median(&mut pure));
        #[expect(clippy::print_stdout, reason = "an example reports its measurement")]
        {
            println!(
                "K = {k} ranks × {threads} thread(s), {per_rank} agents per rank, {} words per \
                 all-reduce, median of {steps} steps: step {:.3} ms, all-reduce in the step \
                 {:.3} ms ({:.2}% of the step), all-reduce after a barrier {:.3} ms ({:.2}%)",
                ns + 2 + ns * na * ns,
                st * 1e3,
                re * 1e3,
                100.0 * re / st,
                pu * 1e3,
                100.0 * pu / st
            );
        }
    }
    Ok(())
}
