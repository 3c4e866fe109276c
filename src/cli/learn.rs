//! `mfgsim learn`: the library's `run::learn` with a progress bar, Ctrl-C, streamed snapshot
//! parts, the transitions dataset and `summary.json`. Binary-only.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use mfgsim::output::{self, LearnWriter, RunMetadata, TransitionsSpec};
use mfgsim::population::Collective;
use mfgsim::run::{self, LearnOptions, LearnReport};
use mfgsim::scenario::Override;
use serde::Serialize;

use crate::args::{EngineArg, LearnArgs};

/// What the binary adds to the library's report in `summary.json`.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    #[serde(flatten)]
    report: &'a LearnReport,
    /// Peak resident set size of the process.
    peak_rss_bytes: Option<u64>,
    /// Peak RSS / N (online algorithms).
    bytes_per_agent: Option<f64>,
    /// Seconds closing the output files.
    close_outputs_seconds: f64,
}

/// Runs `mfgsim learn`.
pub fn learn_cmd(a: LearnArgs) -> Result<ExitCode> {
    // Flags are shortcuts for scenario keys; explicit --set values given later win.
    let mut shortcuts = Vec::new();
    let mut shortcut = |flag: &str, key: &str, value: String| {
        shortcuts.push(Override {
            text: format!("{key}={value}"),
            source: format!("--{flag} {}", value.trim_matches('"')),
        })
    };
    if let Some(algo) = a.algo {
        shortcut("algo", "learner.algo", format!("\"{}\"", algo.as_str()));
    }
    if let Some(e) = a.engine {
        let name = match e {
            EngineArg::Agents => "agents",
            EngineArg::Counts => "counts",
        };
        shortcut("engine", "sim.engine", format!("\"{name}\""));
    }
    for (flag, v) in [
        ("agents", a.agents),
        ("iterations", a.iterations),
        ("seed", a.seed),
    ] {
        if let Some(v) = v {
            shortcut(flag, &format!("sim.{flag}"), v.to_string());
        }
    }
    let sc = crate::solve::load(&a.scenario, &shortcuts)?;
    if a.flush_every == 0 {
        bail!("--flush-every must be at least 1");
    }
    if a.export_transitions && !(a.export_fraction > 0.0 && a.export_fraction <= 1.0) {
        bail!(
            "--export-fraction must be in (0, 1], got {}",
            a.export_fraction
        );
    }
    if a.export_transitions
        && !(sc.learner.algo.uses_population()
            && sc.sim.engine == mfgsim::finite_n::EngineKind::Agents)
    {
        bail!(
            "--export-transitions needs a population of stored agents: an online algorithm \
             on the agent engine (got algo {} on the {} engine)",
            sc.learner.algo,
            sc.sim.engine.as_str()
        );
    }
    if a.export_transitions && (a.checkpoint_every.is_some() || a.resume.is_some()) {
        bail!(
            "--checkpoint-every and --resume cannot be combined with --export-transitions: \
             the transitions dataset of the steps before a resume cannot be rebuilt"
        );
    }
    if let (Some(out), Some(resume)) = (&a.out, &a.resume) {
        if out != resume {
            bail!(
                "--out {} and --resume {} name different directories; --resume DIR continues \
                 the run in DIR (drop --out)",
                out.display(),
                resume.display()
            );
        }
    }
    #[cfg(feature = "mpi")]
    if let Some(session) = crate::mpi::session()? {
        // One population over the ranks: refusals first, on every rank, before any collective.
        let comm = session.world();
        let opts = LearnOptions {
            export_fraction: a.export_transitions.then_some(a.export_fraction),
        };
        let check = sharded_resume(&sc, &a, comm.size())
            .and_then(|()| Ok(run::learn_sharded_preflight(&sc, &opts, comm.size())?));
        if let Some(code) = crate::mpi::agree(comm, check)? {
            return Ok(code);
        }
        let pool = crate::cmd::thread_pool(a.threads)?;
        let result = pool.install(|| run_learn(&sc, &a, Some(comm)));
        return crate::mpi::finish(comm, result);
    }
    let pool = crate::cmd::thread_pool(a.threads)?;
    pool.install(|| run_learn(&sc, &a, None))
}

/// `--resume` under mpirun: the checkpoint's manifest must name as many ranks as this run
/// has (refused on every rank before any collective, naming the manifest and both K).
#[cfg_attr(
    not(feature = "mpi"),
    expect(dead_code, reason = "used under mpirun only")
)]
fn sharded_resume(sc: &mfgsim::scenario::Scenario, a: &LearnArgs, ranks: usize) -> Result<()> {
    if a.resume.is_some() {
        let dir = learn_dir(sc, a).join(output::CHECKPOINT_DIR);
        run::check_sharded_resume(&dir, ranks)
            .with_context(|| format!("resuming from {}", dir.display()))?;
    }
    Ok(())
}

/// The directory a learn run writes: `--out`, `--resume` or `out/SCENARIO/learn-ALGO`
/// (one default directory per algorithm: `--algo X` never replaces another's run; the same
/// path on every rank, relative to the shared working directory).
fn learn_dir(sc: &mfgsim::scenario::Scenario, a: &LearnArgs) -> std::path::PathBuf {
    a.out.as_deref().or(a.resume.as_deref()).map_or_else(
        || {
            std::path::Path::new("out")
                .join(&sc.name)
                .join(format!("learn-{}", sc.learner.algo.as_str()))
        },
        std::path::Path::to_path_buf,
    )
}

/// The provenance every file of a learn run carries.
fn learn_meta(sc: &mfgsim::scenario::Scenario) -> RunMetadata {
    let algo = sc.learner.algo;
    let meta = RunMetadata::new(sc.text.clone(), sc.sim.seed)
        .with_extra("mfgsim.command", "learn")
        .with_extra("mfgsim.algo", algo.as_str());
    if algo.uses_population() {
        meta.with_extra("mfgsim.agents", sc.sim.agents.to_string())
    } else {
        meta
    }
}

/// The transitions dataset's spec with `--export-transitions`: this process's parts, or
/// this rank's under mpirun (every rank writes its block's rows).
fn transitions_spec(
    sc: &mfgsim::scenario::Scenario,
    a: &LearnArgs,
    comm: Option<&dyn Collective>,
) -> Option<TransitionsSpec> {
    // Transition pages encoded on the pool, parts of about 2^20 rows written by a thread.
    a.export_transitions.then(|| TransitionsSpec {
        num_actions: sc.model.as_model().num_actions(),
        agents: usize::try_from(sc.sim.agents).unwrap_or(usize::MAX),
        codec: a.export_codec.codec(),
        rank: comm.map(|c| c.rank()),
    })
}

/// Rank 0 has locked and prepared the output directory: one all-reduce, so no rank writes
/// into it before (rank 0 passes `ready`; an error before it ends the job, `mpi::finish`).
fn directory_ready(comm: &dyn Collective, ready: bool) -> bool {
    let mut words = [u64::from(ready && comm.rank() == 0)];
    comm.all_reduce_sum(&mut words);
    words[0] == 1
}

/// A rank other than 0 of a sharded run: the same library call, its block of the agents;
/// it writes only its own transitions parts (`--export-transitions`), once rank 0 has
/// prepared the directory.
fn follow_learn(
    sc: &mfgsim::scenario::Scenario,
    a: &LearnArgs,
    comm: &dyn Collective,
) -> Result<ExitCode> {
    if !directory_ready(comm, false) {
        return Ok(ExitCode::from(2));
    }
    let dir = learn_dir(sc, a);
    let ns = sc.model.as_model().num_states();
    let mut exporter = match transitions_spec(sc, a, Some(comm)) {
        Some(spec) => Some(output::open_transitions(&dir, &learn_meta(sc), ns, spec)?),
        None => None,
    };
    let opts = LearnOptions {
        export_fraction: a.export_transitions.then_some(a.export_fraction),
    };
    let interrupted = crate::cmd::interrupt_flag();
    let plan = checkpoint_plan(&dir, a);
    let report = run::learn_sharded_checkpointed(
        sc,
        &opts,
        plan.as_ref(),
        comm,
        &interrupted,
        &mut |_, batch| {
            if let (Some(exp), Some(b)) = (exporter.as_mut(), batch) {
                exp.push(&b)?;
            }
            Ok(())
        },
    )?;
    if let Some(e) = exporter {
        e.finish()?;
    }
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_learn(
    sc: &mfgsim::scenario::Scenario,
    a: &LearnArgs,
    comm: Option<&dyn Collective>,
) -> Result<ExitCode> {
    if let Some(c) = comm.filter(|c| c.rank() != 0) {
        return follow_learn(sc, a, c);
    }
    let mut out = std::io::stdout().lock();
    let algo = sc.learner.algo;
    let population = if algo.uses_population() {
        format!(
            "N = {} agents ({} engine), ",
            sc.sim.agents,
            match sc.sim.engine {
                mfgsim::finite_n::EngineKind::Agents => "agent",
                mfgsim::finite_n::EngineKind::Counts => "count",
            }
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "{}: learning with {algo}, {population}K = {}, seed {}, {} thread(s){}",
        sc.name,
        sc.sim.iterations,
        sc.sim.seed,
        rayon::current_num_threads(),
        comm.map_or(String::new(), |c| format!(
            " per rank × {} MPI ranks (one population, rank 0 writes)",
            c.size()
        ))
    )?;

    let lock = crate::cmd::output_dir(Some(&learn_dir(sc, a)), &sc.name, "")?;
    let dir = lock.dir().to_path_buf();
    let plan = checkpoint_plan(&dir, a);
    let plan = plan.as_ref();
    let ns = sc.model.as_model().num_states();
    let export = transitions_spec(sc, a, comm);
    let mut writer = LearnWriter::try_new(&dir, learn_meta(sc), ns, a.flush_every, export)?;
    if let Some(c) = comm {
        directory_ready(c, true);
    }
    let interrupted = crate::cmd::interrupt_flag();
    let bar = crate::cmd::progress_bar(sc.sim.iterations, a.quiet, "{pos}/{len}");
    let opts = LearnOptions {
        export_fraction: a.export_transitions.then_some(a.export_fraction),
    };
    let t_loop = Instant::now();
    let agents = sc.sim.agents as f64;
    let mut on_iteration = |snap: &mfgsim::learner::Snapshot,
                            batch: Option<mfgsim::transition::StepTransitions<'_>>|
     -> mfgsim::Result<()> {
        writer.push(snap, batch)?;
        let rate = if algo.uses_population() {
            format!(
                "  {:.1} M agent-steps/s",
                snap.iteration as f64 * agents / t_loop.elapsed().as_secs_f64() / 1e6
            )
        } else {
            String::new()
        };
        bar.set_message(format!(
            "L1 {:.4}  W1 {:.4}  expl {:.2e}  consistency {:.2e}{rate}",
            snap.l1_to_tmfe, snap.w1_to_tmfe, snap.exploitability.weighted, snap.consistency
        ));
        bar.inc(1);
        Ok(())
    };
    let result = match comm {
        Some(c) => {
            run::learn_sharded_checkpointed(sc, &opts, plan, c, &interrupted, &mut on_iteration)
        }
        None => run::learn_checkpointed(sc, &opts, plan, &interrupted, &mut on_iteration),
    };
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            // Nothing to keep: remove the (empty or partial) parts this run wrote, so a
            // refused or failed run leaves no debris (only mfgsim's own files go).
            writer.abort();
            if matches!(e, mfgsim::Error::Interrupted) {
                return Ok(crate::cmd::interrupted_early(
                    "interrupted before the first iteration; nothing written",
                ));
            }
            let e = anyhow::Error::from(e);
            return Err(match plan {
                Some(p) if p.resume => e.context(format!("resuming from {}", p.dir.display())),
                _ => e,
            });
        }
    };

    // Close the streams, then write the single-file snapshots.parquet and drop the parts.
    let t_close = Instant::now();
    writer
        .finish(&report.snapshots)
        .with_context(|| format!("closing the outputs in {}", dir.display()))?;
    let peak_rss = crate::cmd::peak_rss_bytes();
    let summary = Summary {
        report: &report,
        peak_rss_bytes: peak_rss,
        // Per agent held by this process (rank 0's block under mpirun).
        bytes_per_agent: report.agents.and_then(|n| {
            let here = comm.map_or(n, |c| {
                let b = mfgsim::population::block_of(n, 0, c.size());
                b.end - b.start
            });
            peak_rss.map(|b| b as f64 / here.max(1) as f64)
        }),
        close_outputs_seconds: t_close.elapsed().as_secs_f64(),
    };
    output::write_summary(&dir, &summary)?;
    print_report(&mut out, &report, sc.game.gamma, peak_rss)?;
    if let Some(c) = &report.checkpoint {
        print_checkpoints(&mut out, c, &dir, report.interrupted)?;
    }
    writeln!(out, "wrote {}", dir.display())?;
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// The checkpoint plan of the flags: DIR/checkpoint/, the interval, resume, and the options
/// a resume must repeat.
fn checkpoint_plan(dir: &std::path::Path, a: &LearnArgs) -> Option<run::CheckpointPlan> {
    if a.checkpoint_every.is_none() && a.resume.is_none() {
        return None;
    }
    let options = [("flush_every".to_string(), a.flush_every.to_string())].into();
    Some(run::CheckpointPlan {
        dir: dir.join(output::CHECKPOINT_DIR),
        every: a.checkpoint_every.unwrap_or(run::Interval::Never),
        resume: a.resume.is_some(),
        options,
    })
}

fn print_checkpoints(
    out: &mut impl Write,
    c: &run::CheckpointSummary,
    dir: &std::path::Path,
    interrupted: bool,
) -> Result<()> {
    if let Some(k) = c.resumed_from {
        writeln!(
            out,
            "resumed from the checkpoint at iteration {k} (read in {:.2} s)",
            c.read_seconds
        )?;
    }
    if let Some(k) = c.last_iteration {
        writeln!(
            out,
            "checkpoints: {} written, the last at iteration {k} ({:.1} MiB; {:.2} s writing in all, {:.2} s at most)",
            c.written,
            c.state_bytes as f64 / 1048576.0,
            c.write_seconds,
            c.max_write_seconds
        )?;
        if interrupted {
            writeln!(
                out,
                "continue with the same command and --resume {}",
                dir.display()
            )?;
        }
    }
    Ok(())
}

fn print_report(
    out: &mut impl Write,
    r: &LearnReport,
    gamma: f64,
    peak_rss: Option<u64>,
) -> Result<()> {
    let tol = mfgsim::learner::eval_exploitability_tol(gamma);
    writeln!(
        out,
        "{} after {} of {} iterations: L1 to T-MFE {:.4} (W1 {:.4}), exploitability {} \
         (z-weighted {}), consistency ||Phi(z,mu)-z||_1 {:.2e}",
        if r.interrupted { "INTERRUPTED" } else { "done" },
        r.iterations,
        r.iterations_requested,
        r.l1_to_tmfe,
        r.w1_to_tmfe,
        crate::solve::within_tol(r.exploitability, tol),
        crate::solve::within_tol(r.exploitability_weighted, tol),
        r.consistency
    )?;
    let l = &r.ledger;
    writeln!(
        out,
        "samples: {} simulator transitions, {} real transitions, {} generative samples; {} TQ updates",
        l.simulator_transitions, l.real_transitions, l.generative_samples, l.tq_updates
    )?;
    let t = &r.seconds;
    let total = t.total_loop.max(f64::MIN_POSITIVE);
    let rate = match (r.agent_steps_per_second, r.step_agent_steps_per_second) {
        (Some(all), Some(step)) => format!(
            "{:.1} M agent-steps/s overall ({:.1} M in the step); ",
            all / 1e6,
            step / 1e6
        ),
        _ => String::new(),
    };
    writeln!(
        out,
        "{rate}time {:.2} s: step {:.0}%, learn {:.0}%, eval {:.0}%, output {:.0}%; peak RSS {}",
        t.total_loop,
        100.0 * t.step / total,
        100.0 * t.learn / total,
        100.0 * t.eval / total,
        100.0 * t.output / total,
        peak_rss.map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
    )?;
    let greedy: Vec<String> = r.greedy_action.iter().map(|a| a.to_string()).collect();
    writeln!(out, "learned greedy action per state: {}", greedy.join(" "))?;
    if !r.tmfe.converged {
        writeln!(
            out,
            "NOTE: the exact T-MFE did not converge (see `mfgsim solve`): L1 and W1 to T-MFE \
             are measured against T-BR's last iterate, not an equilibrium"
        )?;
    }
    match &r.closest_equilibrium {
        Some(c) => writeln!(
            out,
            "closest known equilibrium: [{}] of {} ({}, mean state {:.4}): L1 {:.4}, W1 {:.4} \
             (`mfgsim equilibria` lists them all)",
            c.index,
            r.known_equilibria,
            if c.kind == "tmfe" {
                "a T-MFE"
            } else {
                "a mixed equilibrium"
            },
            c.mean_state,
            c.l1,
            c.w1
        )?,
        None => writeln!(
            out,
            "closest known equilibrium: none found (T-BR from the extremal and uniform starts \
             and fp did not converge; see `mfgsim equilibria`)"
        )?,
    }
    Ok(())
}
