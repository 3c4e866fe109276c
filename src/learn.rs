//! `mfgsim learn`: online TMFQ with a progress bar, streamed snapshots and a summary.
//! Binary-only (it prints, installs a Ctrl-C handler and reads /proc).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use mfgsim::learner::online_tmfq::{OnlineParams, OnlineTmfq};
use mfgsim::output::{
    self, push_snapshot, snapshot_schema, transitions_batch, transitions_schema, PartWriter,
    RunMetadata, StreamingParquet, TableBuilder,
};
use mfgsim::scenario::Scenario;
use mfgsim::solver::{solve, Start};

/// Everything `learn` needs from the command line.
#[derive(Debug)]
pub struct LearnOptions {
    pub scenario: PathBuf,
    pub overrides: Vec<String>,
    pub agents: Option<u64>,
    pub iterations: Option<u64>,
    pub seed: Option<u64>,
    pub threads: Option<usize>,
    pub out: Option<PathBuf>,
    pub flush_every: usize,
    pub export_transitions: bool,
    pub export_fraction: f64,
    pub quiet: bool,
}

/// Runs `mfgsim learn`.
pub fn learn_cmd(o: LearnOptions) -> Result<ExitCode> {
    let sc = Scenario::load(&o.scenario, &o.overrides)?;
    let agents = o.agents.unwrap_or(sc.sim.agents);
    let iterations = o.iterations.unwrap_or(sc.sim.iterations);
    let seed = o.seed.unwrap_or(sc.sim.seed);
    if agents == 0 || iterations == 0 {
        bail!("--agents and --iterations must be at least 1");
    }
    if o.flush_every == 0 {
        bail!("--flush-every must be at least 1");
    }
    if !(o.export_fraction > 0.0 && o.export_fraction <= 1.0) {
        bail!(
            "--export-fraction must be in (0, 1], got {}",
            o.export_fraction
        );
    }
    let agents = usize::try_from(agents).context("--agents does not fit this machine")?;
    let pool = crate::cmd::thread_pool(o.threads)?;
    let threads = pool.current_num_threads();
    pool.install(|| run(&sc, &o, agents, iterations, seed, threads))
}

fn run(
    sc: &Scenario,
    o: &LearnOptions,
    agents: usize,
    iterations: u64,
    seed: u64,
    threads: usize,
) -> Result<ExitCode> {
    let model = sc.model.as_model();
    let mut out = std::io::stdout().lock();
    let t_solve = Instant::now();
    let exact = solve(model, sc.game, &sc.solver, &Start::Uniform)?;
    writeln!(
        out,
        "{}: exact T-MFE {} in {:.1} ms (mean state {:.4}); online TMFQ with N = {agents}, K = {iterations}, seed {seed}, {threads} thread(s)",
        sc.name,
        exact.termination.describe(),
        t_solve.elapsed().as_secs_f64() * 1e3,
        exact.mean_state
    )?;

    let dir = crate::cmd::output_dir(o.out.as_deref(), &sc.name, "learn")?;
    let parts_dir = dir.join("snapshots.parts");
    let trans_dir = dir.join("transitions");
    for stale in [&parts_dir, &trans_dir] {
        if stale.exists() {
            std::fs::remove_dir_all(stale)
                .with_context(|| format!("removing the previous run's {}", stale.display()))?;
        }
    }
    let meta = RunMetadata::new(sc.text.clone(), seed)
        .with_extra("mfgsim.command", "learn")
        .with_extra("mfgsim.algo", "online")
        .with_extra("mfgsim.agents", agents.to_string());

    let ns = model.num_states();
    let schema = snapshot_schema(ns);
    let mut stream = StreamingParquet::spawn(
        PartWriter::try_new(&parts_dir, schema.clone(), meta.clone(), o.flush_every)?,
        64,
    )?;
    let mut exporter = if o.export_transitions {
        Some(StreamingParquet::spawn(
            PartWriter::try_new(&trans_dir, transitions_schema(), meta.clone(), 1 << 22)?,
            2,
        )?)
    } else {
        None
    };
    let mut row = TableBuilder::new(schema.clone(), 1);
    let mut all_rows = TableBuilder::new(schema, iterations.min(1 << 20) as usize);

    let interrupted = crate::cmd::interrupt_flag();

    let params = OnlineParams {
        agents,
        seed,
        ..OnlineParams::default()
    };
    let t_setup = Instant::now();
    let mut learner = OnlineTmfq::try_new(model, sc.game, params, Some(exact.z.clone()))?;
    let setup_seconds = t_setup.elapsed().as_secs_f64();

    let bar = crate::cmd::progress_bar(iterations, o.quiet, "{pos}/{len}");
    let mut latency = hdrhistogram::Histogram::<u64>::new(3).expect("valid precision");
    let (mut step_s, mut learn_s, mut eval_s, mut output_s) = (0.0, 0.0, 0.0, 0.0);
    let t_loop = Instant::now();
    let mut last = None;
    for _ in 0..iterations {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let snap = learner.iterate()?;
        let t_out = Instant::now();
        push_snapshot(&mut row, &snap);
        push_snapshot(&mut all_rows, &snap);
        stream.send(row.finish())?;
        if let Some(exp) = exporter.as_mut() {
            let buffer = learner
                .population()
                .transitions()
                .expect("a step has filled the buffer");
            exp.send(transitions_batch(
                buffer,
                snap.iteration,
                o.export_fraction,
                seed,
            ))?;
        }
        output_s += t_out.elapsed().as_secs_f64();
        step_s += snap.step_seconds;
        learn_s += snap.learn_seconds;
        eval_s += snap.eval_seconds;
        let _ = latency.record((snap.step_seconds * 1e6).round().max(1.0) as u64);
        let done = snap.iteration as f64 * agents as f64;
        bar.set_message(format!(
            "L1 {:.4}  expl {:.2e}  {:.1} M agent-steps/s",
            snap.l1_to_tmfe,
            snap.exploitability.weighted,
            done / t_loop.elapsed().as_secs_f64() / 1e6
        ));
        bar.inc(1);
        last = Some(snap);
    }
    let loop_seconds = t_loop.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let was_interrupted = interrupted.load(Ordering::SeqCst);

    // Close the streams, then write the single-file snapshots.parquet and drop the parts.
    let t_close = Instant::now();
    let parts = stream.finish()?;
    let exported = exporter.map(|e| e.finish()).transpose()?;
    let snapshots_path = dir.join("snapshots.parquet");
    output::write_parquet(&snapshots_path, &all_rows.finish(), &meta)?;
    std::fs::remove_dir_all(&parts.dir)
        .with_context(|| format!("removing {}", parts.dir.display()))?;
    let close_seconds = t_close.elapsed().as_secs_f64();
    output_s += close_seconds;
    // Shares of the whole run after setup: the loop plus closing the outputs.
    let total_s = loop_seconds + close_seconds;

    let Some(last) = last else {
        bail!("interrupted before the first iteration");
    };
    let done = last.iteration;
    let agent_steps = done as f64 * agents as f64;
    let peak_rss = crate::cmd::peak_rss_bytes();
    let summary = serde_json::json!({
        "scenario": sc.name,
        "algo": "online",
        "interrupted": was_interrupted,
        "iterations": done,
        "iterations_requested": iterations,
        "agents": agents,
        "seed": seed,
        "threads": threads,
        "z": last.z,
        "greedy_action": learner.policy().greedy,
        "mean_state": last.mean_state,
        "l1_to_tmfe": last.l1_to_tmfe,
        "exploitability": last.exploitability.max,
        "exploitability_weighted": last.exploitability.weighted,
        "tmfe": {
            "z": exact.z,
            "greedy_action": exact.policy.greedy,
            "mean_state": exact.mean_state,
        },
        "agent_steps_per_second": agent_steps / loop_seconds,
        "step_agent_steps_per_second": agent_steps / step_s,
        "seconds": {
            "total_loop": loop_seconds,
            "close_outputs": close_seconds,
            "setup": setup_seconds,
            "step": step_s,
            "learn": learn_s,
            "eval": eval_s,
            "output": output_s,
        },
        "step_latency_ms": {
            "p50": latency.value_at_quantile(0.5) as f64 / 1e3,
            "p99": latency.value_at_quantile(0.99) as f64 / 1e3,
            "max": latency.max() as f64 / 1e3,
        },
        "peak_rss_bytes": peak_rss,
        "bytes_per_agent": peak_rss.map(|b| b as f64 / agents as f64),
        "transitions_exported": exported.as_ref().map(|e| e.rows),
        "version": env!("CARGO_PKG_VERSION"),
    });
    output::write_json(&dir.join("summary.json"), &summary)?;

    writeln!(
        out,
        "{} after {done} of {iterations} iterations: L1 to T-MFE {:.4}, exploitability {:.2e} (z-weighted {:.2e})",
        if was_interrupted { "INTERRUPTED" } else { "done" },
        last.l1_to_tmfe,
        last.exploitability.max,
        last.exploitability.weighted
    )?;
    writeln!(
        out,
        "{:.1} M agent-steps/s overall ({:.1} M in the step); time: step {:.0}%, learn {:.0}%, eval {:.0}%, output {:.0}%; peak RSS {}",
        agent_steps / loop_seconds / 1e6,
        agent_steps / step_s / 1e6,
        100.0 * step_s / total_s,
        100.0 * learn_s / total_s,
        100.0 * eval_s / total_s,
        100.0 * output_s / total_s,
        peak_rss.map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
    )?;
    let greedy: Vec<String> = learner
        .policy()
        .greedy
        .iter()
        .map(|a| a.to_string())
        .collect();
    writeln!(out, "learned greedy action per state: {}", greedy.join(" "))?;
    writeln!(out, "wrote {}", dir.display())?;
    Ok(if was_interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
