//! The experiments behind TQ-learning's `sampled` rule defaults (`doc/experiments/tq.md`):
//! online TMFQ on the infection model with a plain agent simulation, and tracking a drifting
//! mean field. One report on stderr.
//!
//! ```text
//! cargo run --release --example experiment_tq -- online   # N K SEED B W H
//! cargo run --release --example experiment_tq -- drift    # GIG M K K0 K1 SEED B W H
//! ```
//! Knobs come from the environment (defaults otherwise); B, W, H are the learner's budget,
//! step-size exponent and memory (`[learner]` `budget`, `step_exponent`, `memory`).

#![expect(clippy::print_stderr, reason = "an experiment reports on stderr")]

mod util;

use util::env;

use mfgsim::learner::{TqLearner, TqLearnerParams, VecTransitions};
use mfgsim::model::{mean_state, Gig, Infection, Model};
use mfgsim::operator::{exploitability, TqIteration};
use mfgsim::rng::{stream, Purpose, StreamRng};
use mfgsim::space::{sup_distance, Policy, QTable};
use mfgsim::{GameParams, KernelTables};
use rand::RngExt;

/// Learner parameters from the environment: B, W, H (defaults otherwise).
fn env_params() -> TqLearnerParams {
    let d = TqLearnerParams::default();
    TqLearnerParams {
        budget: env("B", d.budget),
        step_exponent: env("W", d.step_exponent),
        memory: env("H", d.memory),
    }
}

/// Index drawn from `pmf` with the uniform number `u` (inverse CDF, last index on round-off).
fn sample_index(pmf: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (j, p) in pmf.iter().enumerate() {
        acc += p;
        if u < acc {
            return j;
        }
    }
    pmf.len() - 1
}

/// Online TMFQ on the infection model with a plain agent simulation (N agents; each call
/// sees one step of all agents taken with μ_{k−1} at ẑ_k). Env: N, K, SEED, B, W, H.
fn online() {
    let (params, n_agents, iters, seed) = (
        env_params(),
        env("N", 1_000_000usize),
        env("K", 300usize),
        env("SEED", 1u64),
    );
    let model = Infection::default();
    let game = GameParams::default();
    let (ns, na) = (model.num_states(), model.num_actions());
    let mut rng: StreamRng = stream(seed, Purpose::Eval, 0, 0);
    let mut states: Vec<usize> = (0..n_agents).map(|_| rng.random_range(0..ns)).collect();
    let mut learner = TqLearner::try_new(ns, na, game, params).expect("valid parameters");
    let mut policy = Policy::uniform(ns, na);
    let mut tq = TqIteration::new();
    let mut star = QTable::zeros(ns, na);
    let mut buf = VecTransitions::new(KernelTables::new(ns, na));
    buf.transitions.resize(n_agents, (0, 0, 0));
    let (mut worst, mut violations, mut last) = ((0.0f64, 0.0f64), 0, (0.0, 0.0));
    for k in 1..=iters {
        let mut z = vec![0.0; ns];
        for s in &states {
            z[*s] += 1.0 / n_agents as f64;
        }
        model.fill_tables(&z, &mut buf.tables);
        for (i, s) in states.iter_mut().enumerate() {
            let a = sample_index(policy.row(*s), rng.random::<f64>());
            let s_next = sample_index(buf.tables.row(*s, a), rng.random::<f64>());
            buf.transitions[i] = (*s, a, s_next);
            *s = s_next;
        }
        let st = learner.learn(&buf, k as u64, seed);
        learner.write_policy(&mut policy);
        tq.run(&buf.tables, game, &mut star, 1e-12, 100_000);
        let e = exploitability(&buf.tables, game, &policy, &z, &star);
        if k + 100 > iters {
            violations += usize::from(e.weighted > 0.002 || e.max > 0.005);
            worst = (worst.0.max(e.weighted), worst.1.max(e.max));
            last = (e.weighted, e.max);
        }
        if k % 25 == 0 || k <= 3 {
            eprintln!(
                "k {k:4} m(z) {:.3} expl weighted {:.5} max {:.5} |Q-Q*| {:.4} |td| {:.4} α {:.2e}",
                mean_state(&z),
                e.weighted,
                e.max,
                sup_distance(learner.q().values(), star.values()),
                st.mean_abs_td_error,
                st.mean_step_size
            );
        }
    }
    eprintln!(
        "{params:?} N {n_agents} seed {seed}: last 100 iterations: {violations} violations, \
         worst weighted {:.5} max {:.5}; final weighted {:.5} max {:.5}",
        worst.0, worst.1, last.0, last.1
    );
}

/// Tracking: z_k = 0.8·((1−t)·δ_0 + t·δ_top) + 0.2·uniform with t going 0 → 1 over calls
/// [K0, K1); per call M transitions with s ~ ½ z_k + ½ uniform and a ~ the learner's own μ.
/// Env: GIG (1 = gig, else infection), M, K, K0, K1, SEED, B, W, H.
fn drift() {
    let params = env_params();
    let (per_call, iters, k0, k1, seed) = (
        env("M", 1usize << 18),
        env("K", 300usize),
        env("K0", 50usize),
        env("K1", 150usize),
        env("SEED", 1u64),
    );
    let model: Box<dyn Model> = if env("GIG", 1) == 1 {
        Box::new(Gig::default())
    } else {
        Box::new(Infection::default())
    };
    let game = GameParams::default();
    let (ns, na) = (model.num_states(), model.num_actions());
    let mut rng = stream(seed, Purpose::Eval, 0, 0);
    let mut learner = TqLearner::try_new(ns, na, game, params).expect("valid parameters");
    let mut policy = Policy::uniform(ns, na);
    let mut tq = TqIteration::new();
    let mut star = QTable::zeros(ns, na);
    let mut buf = VecTransitions::new(KernelTables::new(ns, na));
    let (mut sum_max, mut worst, mut trace) = (0.0, 0.0f64, String::new());
    for k in 1..=iters {
        let t = ((k as f64 - k0 as f64) / (k1 - k0).max(1) as f64).clamp(0.0, 1.0);
        let mut z = vec![0.2 / ns as f64; ns];
        z[0] += 0.8 * (1.0 - t);
        z[ns - 1] += 0.8 * t;
        model.fill_tables(&z, &mut buf.tables);
        buf.transitions.clear();
        for _ in 0..per_call {
            let s = if rng.random::<f64>() < 0.5 {
                sample_index(&z, rng.random::<f64>())
            } else {
                rng.random_range(0..ns)
            };
            let a = sample_index(policy.row(s), rng.random::<f64>());
            let s_next = sample_index(buf.tables.row(s, a), rng.random::<f64>());
            buf.transitions.push((s, a, s_next));
        }
        learner.learn(&buf, k as u64, seed);
        learner.write_policy(&mut policy);
        tq.run(&buf.tables, game, &mut star, 1e-12, 100_000);
        let e = exploitability(&buf.tables, game, &policy, &z, &star);
        if k > 20 {
            sum_max += e.max;
            worst = worst.max(e.max);
        }
        if k % 10 == 0 {
            trace += &format!(" {:.3}", e.max);
        }
    }
    eprintln!(
        "{params:?} {} drift {k0}..{k1}: mean max {:.4}, worst max {:.4}\n  max every 10 calls:{trace}",
        model.name(),
        sum_max / (iters - 20).max(1) as f64,
        worst
    );
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("online") => online(),
        Some("drift") => drift(),
        _ => {
            eprintln!(
                "usage: experiment_tq online|drift   (knobs from the environment; see the source)"
            );
            std::process::exit(2);
        }
    }
}
