//! The all-reduce's share of a sharded step (cargo feature `mpi`):
//!
//! ```text
//! cargo build --features mpi --example mpi_allreduce
//! mpirun -n 2 target/debug/examples/mpi_allreduce [AGENTS_PER_RANK] [STEPS] [THREADS]
//! ```
//! Each rank holds AGENTS_PER_RANK agents (default 10⁶) of the infection model's population,
//! counting transitions as online TMFQ's batch rule does (|S| + 2 + |S|²|A| = 3152 words per
//! all-reduce), and steps STEPS times (default 20) with THREADS threads (default 1). Printed
//! by rank 0, medians over the steps:
//! - `step`: one whole sharded step (local chunks + all-reduce);
//! - `reduce`: the all-reduce inside it (waiting for the slowest rank included);
//! - `pure`: the same all-reduce after a barrier (the communication alone).

use std::time::Instant;

use mfgsim::model::{Infection, Model};
use mfgsim::mpi::MpiSession;
use mfgsim::population::{Actions, Collective, Engine, ShardedPopulation};
use mfgsim::space::{uniform, Policy};
use mpi::traits::CommunicatorCollectives;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let per_rank: u64 = args.get(1).map_or(Ok(1_000_000), |a| a.parse())?;
    let steps: u64 = args.get(2).map_or(Ok(20), |a| a.parse())?;
    let threads: usize = args.get(3).map_or(Ok(1), |a| a.parse())?;
    let session = MpiSession::initialize()?;
    let comm = session.world();
    let k = comm.size();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let model = Infection::default();
    let (ns, na) = (model.num_states(), model.num_actions());
    let policy = Policy::uniform(ns, na);
    let n = per_rank * k as u64;
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
