//! The experiments behind TMFQ's and GMBL's defaults (`doc/experiments/tmfq.md`,
//! `doc/experiments/gmbl.md`): whole runs on the default infection and gig models from
//! z0 = uniform, one row per (model, seed) on stderr.
//!
//! ```text
//! cargo run --release --example experiment_learners -- tmfq    # SIM TOL CHECK MAXT MF B H W K SEEDS MODEL COLD VERBOSE
//! cargo run --release --example experiment_learners -- gmbl    # MGEN VTOL K SEEDS MODEL
//! cargo run --release --example experiment_learners -- independent   # ALGO N ITERS SEEDS
//! ```
//! `independent` (`doc/experiments/independent.md`): IQL or MFQ (ALGO) with N agents on the
//! default infection model for ITERS iterations (300) from uniform, per seed of SEEDS (a comma
//! list, 0,1,2,3,4): ‖z^N − z*‖₁, the mean state, the exploitability of μ̄ at z^N, wall time.
//! Knobs come from the environment (defaults otherwise): K iterations (100), SEEDS seeds
//! counted from 0 (5), MODEL = infection | gig | both; TMFQ: SIM (M_sim), TOL (ε1), CHECK (C),
//! MAXT (T_max), MF (M_mf), B (budget), H (memory), W (step exponent), COLD = 1 for a cold
//! learner per k, VERBOSE = 1 for a trace; GMBL: MGEN (M_gen), VTOL (tol_v).

#![expect(clippy::print_stderr, reason = "an experiment reports on stderr")]

mod util;

use std::time::Instant;
use util::env;

use mfgsim::learner::{
    Algo, Algorithm, Evaluator, Gmbl, Independent, LearnerParams, Ledger, OnlineDriver, Tmfq,
};
use mfgsim::model::{mean_state, Gig, Infection, Model};
use mfgsim::operator::TqIteration;
use mfgsim::population::Population;
use mfgsim::space::{l1_distance, sup_distance, uniform, QTable};
use mfgsim::{solve, GameParams, KernelTables, SolverParams, Start};

/// Q*_z of the default game, to 10⁻¹³.
fn q_star(model: &dyn Model, z: &[f64]) -> QTable {
    let t = KernelTables::of(model, z);
    let mut q = QTable::zeros(model.num_states(), model.num_actions());
    TqIteration::new().run(&t, GameParams::default(), &mut q, 1e-13, 100_000);
    q
}

fn models() -> Vec<Box<dyn Model>> {
    let only = env("MODEL", String::from("both"));
    let all: Vec<Box<dyn Model>> = vec![Box::new(Infection::default()), Box::new(Gig::default())];
    all.into_iter()
        .filter(|m| only == "both" || only == m.name())
        .collect()
}

fn evaluator<'m>(model: &'m dyn Model, verbose: bool) -> Evaluator<'m, dyn Model + 'm> {
    let game = GameParams::default();
    let sol = solve(model, game, &SolverParams::default(), &Start::Uniform)
        .expect("the default models solve");
    if verbose {
        let path: Vec<String> = sol
            .trace
            .iter()
            .take(30)
            .map(|r| format!("{:.3}", l1_distance(&r.z, &sol.z)))
            .collect();
        eprintln!(
            "T-BR {} iterations, L1 to z*: {}",
            sol.iterations(),
            path.join(" ")
        );
    }
    Evaluator::new(model, game, Some(sol.z.clone()))
}

fn tmfq() {
    let mut p = LearnerParams::default();
    let d = p;
    p.tmfq.sim_agents = env("SIM", d.tmfq.sim_agents);
    p.tmfq.inner_tol = env("TOL", d.tmfq.inner_tol);
    p.tmfq.check_every = env("CHECK", d.tmfq.check_every);
    p.tmfq.max_sim_transitions = env("MAXT", d.tmfq.max_sim_transitions);
    p.tmfq.mf_agents = env("MF", d.tmfq.mf_agents);
    p.tq.budget = env("B", d.tq.budget);
    p.tq.memory = env("H", d.tq.memory);
    p.tq.step_exponent = env("W", d.tq.step_exponent);
    p.tmfq.cold_start = env("COLD", 0) == 1;
    let (iters, seeds, verbose) = (env("K", 100u64), env("SEEDS", 5u64), env("VERBOSE", 0) == 1);
    eprintln!("{p:?} K {iters} cold {}", p.tmfq.cold_start);
    for model in models() {
        let model = model.as_ref();
        let mut eval = evaluator(model, verbose);
        for seed in 0..seeds {
            let start = Instant::now();
            let ns = model.num_states();
            let mut t = Tmfq::try_new(model, GameParams::default(), &p, &uniform(ns), seed)
                .expect("valid settings");
            let mut total = Ledger::default();
            let mut last = None;
            for k in 0..iters {
                let it = t.iterate().expect("an iteration");
                total += it.ledger;
                if verbose && (k % 10 == 0 || k + 1 == iters) {
                    let e = eval.exploitability(t.policy(), &it.z);
                    let star = q_star(model, &it.z);
                    eprintln!(
                        "  k {:3} steps {:4} conv {} expl max {:.5} w {:.5} L1 {:.4} dz {:.4} m(z) {:.2} |Q-Q*| {:.4}",
                        it.iteration,
                        it.inner_steps,
                        it.inner_converged,
                        e.max,
                        e.weighted,
                        eval.l1_to_tmfe(&it.z),
                        l1_distance(&it.z, it.z_next.as_ref().expect("tmfq has z_next")),
                        mean_state(&it.z),
                        sup_distance(t.tq().q().values(), star.values())
                    );
                }
                last = Some(it);
            }
            let secs = start.elapsed().as_secs_f64();
            let it = last.expect("K ≥ 1");
            let e = eval.exploitability(t.policy(), &it.z);
            eprintln!(
                "tmfq {:9} seed {seed}: max {:.4} weighted {:.4} L1 {:.4} |Φ(z,μ)−z| {:.4} | sim {:.3e} updates {:.3e} | {:.1} s",
                model.name(),
                e.max,
                e.weighted,
                eval.l1_to_tmfe(&it.z),
                eval.consistency(t.policy(), &it.z),
                total.simulator_transitions as f64,
                total.tq_updates as f64,
                secs
            );
        }
    }
}

fn gmbl() {
    let mut p = LearnerParams::default();
    p.gmbl.gen_samples = env("MGEN", p.gmbl.gen_samples);
    p.gmbl.value_tol = env("VTOL", p.gmbl.value_tol);
    let (iters, seeds) = (env("K", 100u64), env("SEEDS", 5u64));
    eprintln!("{:?} K {iters}", p.gmbl);
    for model in models() {
        let model = model.as_ref();
        let mut eval = evaluator(model, false);
        for seed in 0..seeds {
            let start = Instant::now();
            let ns = model.num_states();
            let mut g = Gmbl::try_new(model, GameParams::default(), &p, &uniform(ns), seed)
                .expect("valid settings");
            let mut total = Ledger::default();
            let mut last = None;
            for _ in 0..iters {
                let it = g.iterate().expect("an iteration");
                total += it.ledger;
                last = Some(it);
            }
            let secs = start.elapsed().as_secs_f64();
            let it = last.expect("K ≥ 1");
            let e = eval.exploitability(g.policy(), &it.z);
            eprintln!(
                "gmbl {:9} seed {seed}: max {:.4} weighted {:.4} L1 {:.4} |Φ(z,μ)−z| {:.4} | gen {:.3e} updates {:.3e} | {:.2} s",
                model.name(),
                e.max,
                e.weighted,
                eval.l1_to_tmfe(&it.z),
                eval.consistency(g.policy(), &it.z),
                total.generative_samples as f64,
                total.tq_updates as f64,
                secs
            );
        }
    }
}

/// IQL or MFQ whole runs (`doc/experiments/independent.md`). Env: ALGO, N, ITERS, SEEDS.
fn independent() {
    let algo = Algo::parse(&env("ALGO", "iql".to_string())).expect("ALGO is iql or mfq");
    let (n, iters) = (env("N", 1000usize), env("ITERS", 300usize));
    let seeds: Vec<u64> = env("SEEDS", "0,1,2,3,4".to_string())
        .split(',')
        .map(|s| s.trim().parse().expect("SEEDS is a comma list of integers"))
        .collect();
    let model = Infection::default();
    let game = GameParams::default();
    let star = solve(&model, game, &SolverParams::default(), &Start::Uniform)
        .expect("the default model solves");
    let mut eval = Evaluator::new(&model, game, Some(star.z.clone()));
    let params = LearnerParams::default();
    eprintln!("algo  N        seed  |z-z*|_1  mean state  expl. max  expl. weighted  wall s");
    for seed in seeds {
        let start = Instant::now();
        let pop: Population = Population::try_new(25, n, &uniform(25), seed).expect("valid N");
        let l = Independent::try_new(25, 5, game, &params, algo, pop.states(), seed)
            .expect("the tables fit");
        let mut run = OnlineDriver::new(&model, pop, l, seed).expect("matching sizes");
        let (mut step_s, mut learn_s) = (0.0, 0.0);
        for _ in 0..iters {
            let it = run.iterate().expect("the run steps");
            step_s += it.step_seconds;
            learn_s += it.learn_seconds;
        }
        let wall = start.elapsed().as_secs_f64();
        let z = run.engine().mean_field().to_vec();
        let e = eval.exploitability(run.policy(), &z);
        eprintln!(
            "{algo:4}  {n:7}  {seed:4}  {:.4}    {:.3}      {:.4}     {:.4}          {wall:.2} (step {step_s:.2}, learn {learn_s:.2})",
            eval.l1_to_tmfe(&z),
            mean_state(&z),
            e.max,
            e.weighted
        );
    }
    eprintln!("z* mean state {:.3}", star.mean_state);
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("tmfq") => tmfq(),
        Some("gmbl") => gmbl(),
        Some("independent") => independent(),
        _ => eprintln!(
            "usage: experiment_learners tmfq|gmbl|independent (knobs in the environment; see the file)"
        ),
    }
}
