//! One population step at N = 10⁷ agents, default infection model, T-MFE policy.
//!
//! Variants (criterion prints agent-steps/s, `Throughput::Elements(N)`):
//! * `step/seq`           `Population::step_seq` on the bench thread;
//! * `step/par_1thread`   `Population::step_par` inside a 1-thread rayon pool;
//! * `step/par_2threads`  `Population::step_par` inside a 2-thread rayon pool;
//! * `step/par_2threads_counting`  the same with transition counting on
//!   (`Population::set_count_transitions`, what the batch learning rule reads);
//! * `step/kernel_only`   `step_chunk` over all chunks with prebuilt tables (no table build,
//!   no reduction): the per-agent cost alone.
//! * `step/per_agent_seq`, `step/per_agent_par_2threads`   `Population::step_given_seq` /
//!   `step_given_par` with a per-agent action column (drawn once from the T-MFE policy at
//!   the setup's states, as a learner would hand over), the IQL/MFQ path.
//! * `step/per_agent_kernel_only`   `step_chunk_given` over all chunks with prebuilt tables.
//!
//! Setup (solve for the T-MFE policy, draw the population) is outside the timer. Each
//! iteration steps the same population forward (step index k = 0, 1, …), which stays near
//! its stationary mean field.
//!
//! Per-CPU-second throughput: the `seq` and `par_1thread` variants use one core, so their
//! agent-steps/s are already per CPU-second. For `par_2threads`, divide by the number of
//! busy cores (≤ 2), or measure CPU time directly: `MFGSIM_BENCH_CPU=1 cargo bench --bench
//! step` first runs each variant for a fixed number of steps and prints agent-steps per
//! wall-second and per CPU-second (process user + system time from `/proc/self/stat`,
//! Linux only, 10 ms resolution) to stderr.
//!
//! Run: `cargo bench --bench step -- --warm-up-time 1 --measurement-time 5`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mfgsim::model::Infection;
use mfgsim::population::{
    step_chunk, step_chunk_given, ActionSampler, Population, StepSampler, CHUNK,
};
use mfgsim::rng::{stream, Purpose};
use mfgsim::space::{uniform, Policy};
use mfgsim::{solve, GameParams, SolverParams, Start};
use rand::RngExt;
use std::hint::black_box;
use std::time::Instant;

const N: usize = 10_000_000;
const SEED: u64 = 2021;

struct Bench {
    model: Infection,
    policy: Policy,
    pop: Population,
    /// One action per agent, for the per-agent variants.
    given: Vec<u8>,
    step: u64,
}

impl Bench {
    fn new() -> Bench {
        let model = Infection::default();
        let policy = solve(
            &model,
            GameParams::default(),
            &SolverParams::default(),
            &Start::Uniform,
        )
        .expect("the default infection model solves")
        .policy;
        let mut pop = Population::try_new(25, N, &uniform(25), SEED).expect("valid population");
        // A few steps towards the stationary mean field, so timed steps are typical.
        for k in 0..10 {
            pop.step_par(&model, &policy, k, SEED).expect("valid step");
        }
        let given = draw_actions(&policy, pop.states());
        // One per-agent step, so the per-agent tables exist for the kernel-only variant.
        pop.step_given_par(&model, &given, None, 10, SEED)
            .expect("valid step");
        Bench {
            model,
            policy,
            pop,
            given,
            step: 11,
        }
    }

    #[inline(never)]
    fn step_seq(&mut self) -> u64 {
        self.step += 1;
        let stats = self
            .pop
            .step_seq(&self.model, &self.policy, self.step, SEED);
        stats.expect("valid step").regenerated
    }

    #[inline(never)]
    fn step_par(&mut self) -> u64 {
        self.step += 1;
        let stats = self
            .pop
            .step_par(&self.model, &self.policy, self.step, SEED);
        stats.expect("valid step").regenerated
    }

    #[inline(never)]
    fn step_given_seq(&mut self) -> u64 {
        self.step += 1;
        let stats = self
            .pop
            .step_given_seq(&self.model, &self.given, None, self.step, SEED);
        stats.expect("valid step").regenerated
    }

    #[inline(never)]
    fn step_given_par(&mut self) -> u64 {
        self.step += 1;
        let stats = self
            .pop
            .step_given_par(&self.model, &self.given, None, self.step, SEED);
        stats.expect("valid step").regenerated
    }
}

/// a_i ~ μ(s_i, ·) for every agent, by inversion, from an `Eval` stream (outside the timer).
fn draw_actions(policy: &Policy, states: &[u8]) -> Vec<u8> {
    let mut rng = stream(SEED, Purpose::Eval, 0, 0);
    states
        .iter()
        .map(|&s| {
            let u: f64 = rng.random();
            let row = policy.row(usize::from(s));
            let mut acc = 0.0;
            let a = row
                .iter()
                .position(|p| {
                    acc += p;
                    u < acc
                })
                .unwrap_or(row.len() - 1);
            a as u8
        })
        .collect()
}

/// Columns and tables for timing the kernel alone.
struct Kernel {
    sampler: StepSampler,
    action_sampler: ActionSampler,
    given: Vec<u8>,
    prev: Vec<u8>,
    next: Vec<u8>,
    actions: Vec<u8>,
    hist: Vec<u32>,
    step: u64,
}

impl Kernel {
    fn new(b: &Bench) -> Kernel {
        Kernel {
            sampler: b.pop.sampler().clone(),
            action_sampler: b.pop.action_sampler().clone(),
            given: b.given.clone(),
            prev: b.pop.states().to_vec(),
            next: vec![0; N],
            actions: vec![0; N],
            hist: vec![0; 256],
            step: 0,
        }
    }

    #[inline(never)]
    fn run(&mut self) -> u64 {
        self.step += 1;
        let mut regen = 0;
        for (c, ((prev, next), actions)) in self
            .prev
            .chunks(CHUNK)
            .zip(self.next.chunks_mut(CHUNK))
            .zip(self.actions.chunks_mut(CHUNK))
            .enumerate()
        {
            let mut rng = stream(SEED, Purpose::Step, self.step, c as u64);
            regen += step_chunk(&self.sampler, prev, next, actions, &mut self.hist, &mut rng);
        }
        regen
    }

    #[inline(never)]
    fn run_given(&mut self) -> u64 {
        self.step += 1;
        let mut regen = 0;
        for (c, (((prev, given), next), actions)) in self
            .prev
            .chunks(CHUNK)
            .zip(self.given.chunks(CHUNK))
            .zip(self.next.chunks_mut(CHUNK))
            .zip(self.actions.chunks_mut(CHUNK))
            .enumerate()
        {
            let mut rng = stream(SEED, Purpose::Step, self.step, c as u64);
            regen += step_chunk_given(
                &self.action_sampler,
                prev,
                given,
                next,
                actions,
                &mut self.hist,
                &mut rng,
            );
        }
        regen
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

fn bench_step(c: &mut Criterion) {
    let mut b = Bench::new();
    let mut kernel = Kernel::new(&b);
    let (one, two) = (pool(1), pool(2));
    if std::env::var_os("MFGSIM_BENCH_CPU").is_some() {
        cpu_report(&mut b, &mut kernel, &one, &two);
    }
    let mut g = c.benchmark_group("step");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("seq", N), |bn| {
        bn.iter(|| black_box(b.step_seq()))
    });
    g.bench_function(BenchmarkId::new("par_1thread", N), |bn| {
        one.install(|| bn.iter(|| black_box(b.step_par())))
    });
    g.bench_function(BenchmarkId::new("par_2threads", N), |bn| {
        two.install(|| bn.iter(|| black_box(b.step_par())))
    });
    g.bench_function(BenchmarkId::new("par_2threads_counting", N), |bn| {
        b.pop.set_count_transitions(true).expect("25²·5 counts fit");
        two.install(|| bn.iter(|| black_box(b.step_par())));
        b.pop
            .set_count_transitions(false)
            .expect("turning off never fails");
    });
    g.bench_function(BenchmarkId::new("kernel_only", N), |bn| {
        bn.iter(|| black_box(kernel.run()))
    });
    g.bench_function(BenchmarkId::new("per_agent_seq", N), |bn| {
        bn.iter(|| black_box(b.step_given_seq()))
    });
    g.bench_function(BenchmarkId::new("per_agent_par_2threads", N), |bn| {
        two.install(|| bn.iter(|| black_box(b.step_given_par())))
    });
    g.bench_function(BenchmarkId::new("per_agent_kernel_only", N), |bn| {
        bn.iter(|| black_box(kernel.run_given()))
    });
    g.finish();
}

/// Process CPU time (user + system) in seconds, from `/proc/self/stat` (Linux; assumes the
/// usual 100 clock ticks per second). `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Runs each variant for a fixed number of steps and reports agent-steps per wall-second and
/// per CPU-second on stderr.
#[expect(
    clippy::print_stderr,
    reason = "bench report requested by MFGSIM_BENCH_CPU"
)]
fn cpu_report(
    b: &mut Bench,
    kernel: &mut Kernel,
    one: &rayon::ThreadPool,
    two: &rayon::ThreadPool,
) {
    const STEPS: u32 = 40;
    let measure = |name: &str, f: &mut dyn FnMut() -> u64| {
        f();
        let (t0, c0) = (Instant::now(), cpu_seconds());
        for _ in 0..STEPS {
            black_box(f());
        }
        let wall = t0.elapsed().as_secs_f64();
        let agent_steps = f64::from(STEPS) * N as f64;
        let per_cpu = match (c0, cpu_seconds()) {
            (Some(a), Some(b)) if b > a => format!("{:.1} M/CPU-s", agent_steps / (b - a) / 1e6),
            _ => "n/a".to_string(),
        };
        eprintln!(
            "cpu-report {name:<14} {:>7.1} M agent-steps/s wall, {per_cpu}",
            agent_steps / wall / 1e6
        );
    };
    measure("seq", &mut || b.step_seq());
    measure("par_1thread", &mut || one.install(|| b.step_par()));
    measure("par_2threads", &mut || two.install(|| b.step_par()));
    measure("kernel_only", &mut || kernel.run());
    measure("per_agent_seq", &mut || b.step_given_seq());
    measure("per_agent_par_2t", &mut || {
        two.install(|| b.step_given_par())
    });
    measure("per_agent_kernel", &mut || kernel.run_given());
}

criterion_group!(benches, bench_step);
criterion_main!(benches);
