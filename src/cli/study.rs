//! `mfgsim finite-n`: the finite-N study with a progress bar, Parquet tables, a summary and
//! a log-log plot. Binary-only (it prints, installs a Ctrl-C handler and reads /proc).

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use anyhow::Result;
use mfgsim::finite_n::{EngineKind, FiniteNParams, FiniteNReport, PolicySource, RunResult};
use mfgsim::output::plot::{write_loglog_png, LogLogPlot, LogLogSeries};
use mfgsim::output::{self, RunMetadata};
use mfgsim::population::Collective;
use mfgsim::run;
use mfgsim::scenario::Scenario;
use serde::Serialize;

use crate::args::{EngineArg, FiniteNArgs, PolicyArg};

/// What the binary adds to the library's report in `summary.json`.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    #[serde(flatten)]
    report: &'a run::FiniteNRun,
    /// Peak resident set size of the process.
    peak_rss_bytes: Option<u64>,
}

/// Runs `mfgsim finite-n`.
pub fn finite_n_cmd(a: FiniteNArgs) -> Result<ExitCode> {
    let sc = crate::solve::load(&a.scenario, &[])?;
    let params = FiniteNParams {
        agents: a
            .agents
            .clone()
            .unwrap_or_else(|| FiniteNParams::default().agents),
        seeds: a.seeds,
        base_seed: a.seed.unwrap_or(sc.sim.seed),
        steps: a.steps,
        burn_in: a.burn_in,
        policy: match a.policy {
            PolicyArg::Tmfe => PolicySource::Tmfe,
            PolicyArg::Learned => PolicySource::Learned,
        },
        engine: match a.engine {
            EngineArg::Agents => EngineKind::Agents,
            EngineArg::Counts => EngineKind::Counts,
        },
        keep_steps: !a.no_steps_file,
        learner: sc.learner,
        ..FiniteNParams::default()
    };
    params.validate().map_err(|e| match e {
        // The settings that come from flags are named by their flag.
        mfgsim::Error::Param { key, reason } if ["agents", "seeds", "steps"].contains(&&*key) => {
            anyhow::anyhow!("--{key}: {reason}")
        }
        e => e.into(),
    })?;
    #[cfg(feature = "mpi")]
    if let Some(session) = crate::mpi::session()? {
        // Every run's population over the ranks: refusals first, on every rank.
        let comm = session.world();
        let check = if a.resume {
            Err(anyhow::anyhow!(
                "--resume is not supported under mpirun; run the study again (or resume it \
                 without mpirun)"
            ))
        } else {
            mfgsim::finite_n::check_shardable(&params).map_err(|e| match e {
                mfgsim::Error::Param { key, reason } if key == "engine" => {
                    anyhow::anyhow!("--engine: {reason}")
                }
                e => e.into(),
            })
        };
        if let Some(code) = crate::mpi::agree(comm, check)? {
            return Ok(code);
        }
        let pool = crate::cmd::thread_pool(a.threads)?;
        let result = pool.install(|| run_study(&sc, &a, &params, Some(comm)));
        return crate::mpi::finish(comm, result);
    }
    let pool = crate::cmd::thread_pool(a.threads)?;
    pool.install(|| run_study(&sc, &a, &params, None))
}

/// A rank other than 0 of a sharded study: the same library call, its blocks of the
/// agents, no output.
fn follow_study(sc: &Scenario, params: &FiniteNParams, comm: &dyn Collective) -> Result<ExitCode> {
    let interrupted = crate::cmd::interrupt_flag();
    let study = run::finite_n_sharded(sc, params, comm, &interrupted, &|_| {})?;
    Ok(if study.report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_study(
    sc: &Scenario,
    a: &FiniteNArgs,
    params: &FiniteNParams,
    comm: Option<&dyn Collective>,
) -> Result<ExitCode> {
    if let Some(c) = comm.filter(|c| c.rank() != 0) {
        return follow_study(sc, params, c);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: {} engine, {} policy, N in {:?}, {} seeds from {}, {} steps after {} burn-in, \
         {} thread(s){}",
        sc.name,
        params.engine.as_str(),
        params.policy.as_str(),
        params.agents,
        params.seeds,
        params.base_seed,
        params.steps,
        params.burn_in,
        rayon::current_num_threads(),
        comm.map_or(String::new(), |c| format!(
            " per rank × {} MPI ranks (one population per run, rank 0 writes)",
            c.size()
        ))
    )?;
    let lock = crate::cmd::output_dir(a.out.as_deref(), &sc.name, "finite-n")?;
    let dir = lock.dir().to_path_buf();
    crate::cmd::refuse_foreign(
        &[
            output::FINITE_N_FILE,
            output::FINITE_N_STEPS_FILE,
            output::SUMMARY_FILE,
            "finite_n.png",
        ]
        .map(|f| dir.join(f)),
    )?;

    let journal_dir = dir.join("finite_n.runs");
    let (journal, finished) =
        mfgsim::run::checkpoint::StudyJournal::open(&journal_dir, sc, params, a.resume)?;
    if a.resume {
        writeln!(
            out,
            "resuming: {} finished run(s) found in {}",
            finished.len(),
            journal_dir.display()
        )?;
    }
    let journal_error = std::sync::Mutex::new(None);

    let interrupted = crate::cmd::interrupt_flag();
    // Progress in units of work: agent-steps for the agent engine, runs for the count engine.
    let total_steps = params.burn_in + params.steps;
    let weight = |n: u64| match params.engine {
        EngineKind::Agents => n.saturating_add(1000).saturating_mul(total_steps),
        EngineKind::Counts => 1,
    };
    let total = params
        .agents
        .iter()
        .fold(0u64, |acc, &n| acc.saturating_add(weight(n)))
        .saturating_mul(params.seeds as u64);
    let bar = crate::cmd::progress_bar(total, a.quiet, "{percent}%");
    let done_runs = std::sync::atomic::AtomicUsize::new(0);
    let grid = params.agents.len() * params.seeds;
    let progress = |r: &RunResult| {
        let k = done_runs.fetch_add(1, Ordering::Relaxed) + 1;
        bar.set_message(format!(
            "run {k}/{grid}: N = {} seed {} mean L1 {:.3e}",
            r.agents, r.seed, r.mean_l1
        ));
        bar.inc(weight(r.agents));
        if let Err(e) = journal.save(r) {
            // Stop the study: a run that cannot be journaled could not be resumed.
            interrupted.store(true, Ordering::SeqCst);
            let mut slot = journal_error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(e);
        }
    };
    for r in &finished {
        if params.agents.contains(&r.agents) && r.replicate < params.seeds {
            done_runs.fetch_add(1, Ordering::Relaxed);
            bar.inc(weight(r.agents));
        }
    }
    let result = match comm {
        Some(c) => run::finite_n_sharded(sc, params, c, &interrupted, &progress),
        None => run::finite_n_resumed(sc, params, &finished, &interrupted, &progress),
    };
    bar.finish_and_clear();
    if let Some(e) = journal_error
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        return Err(anyhow::Error::from(e).context("saving a finished run for --resume"));
    }
    let study = match result {
        Ok(s) => s,
        Err(e) => {
            // A study refused or failed before any run finished leaves no journal behind
            // (a fresh one held only its study.json).
            if done_runs.load(Ordering::Relaxed) == 0 {
                let _ = journal.clear();
            }
            if matches!(e, mfgsim::Error::Interrupted) {
                return Ok(crate::cmd::interrupted_early(
                    "interrupted before the first run finished; nothing written",
                ));
            }
            return Err(e.into());
        }
    };
    let report = &study.report;

    let ns = sc.model.as_model().num_states();
    let meta = RunMetadata::new(sc.text.clone(), params.base_seed)
        .with_extra("mfgsim.command", "finite-n")
        .with_extra("mfgsim.engine", params.engine.as_str())
        .with_extra("mfgsim.policy", params.policy.as_str());
    output::write_finite_n_tables(&dir, report, ns, params.keep_steps, &meta)?;
    let summary = Summary {
        report: &study,
        peak_rss_bytes: crate::cmd::peak_rss_bytes(),
    };
    output::write_summary(&dir, &summary)?;
    let png = dir.join("finite_n.png");
    write_loglog_png(&png, &plot_of(sc, params, report), 1000, 700)?;

    print_report(&mut out, report, params)?;
    writeln!(out, "wrote {}", dir.display())?;
    Ok(if report.interrupted {
        writeln!(
            out,
            "INTERRUPTED: the files hold the {} runs that finished; the same command with \
             --resume continues",
            report.runs.len()
        )?;
        ExitCode::from(130)
    } else {
        // Complete: the journal has served its purpose.
        journal.clear()?;
        ExitCode::SUCCESS
    })
}

fn plot_of(sc: &Scenario, params: &FiniteNParams, report: &FiniteNReport) -> LogLogPlot {
    let points = report
        .groups
        .iter()
        .map(|g| {
            let (lo, hi) = g.ci_l1.unwrap_or((g.mean_l1, g.mean_l1));
            (g.agents as f64, g.mean_l1, lo, hi)
        })
        .collect();
    LogLogPlot {
        title: format!(
            "{}: finite-N error, {} engine, {} policy, {} seeds",
            sc.name,
            params.engine.as_str(),
            params.policy.as_str(),
            params.seeds
        ),
        x_label: "N (agents)".into(),
        y_label: "time-average ||z^N_t - z*||_1".into(),
        series: vec![LogLogSeries {
            label: params.engine.as_str().into(),
            points,
            fit: report.fit.as_ref().map(|f| (f.slope, f.intercept)),
        }],
        reference_slope: Some(-0.5),
    }
}

fn print_report(
    out: &mut impl Write,
    report: &FiniteNReport,
    params: &FiniteNParams,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>14} {:>5} {:>11} {:>10} {:>23} {:>11} {:>12} {:>9}",
        "N", "runs", "mean L1", "std", "CI (bootstrap)", "mean max", "N*sum(var)", "s per run"
    )?;
    for g in &report.groups {
        let ci = g
            .ci_l1
            .map_or("-".to_string(), |(lo, hi)| format!("[{lo:.3e}, {hi:.3e}]"));
        writeln!(
            out,
            "{:>14} {:>5} {:>11.4e} {:>10.2e} {:>23} {:>11.4e} {:>12.4} {:>9.2}",
            g.agents,
            g.runs,
            g.mean_l1,
            g.std_l1,
            ci,
            g.mean_max_l1,
            g.n_times_variance,
            // The group's seconds are summed over its runs (seeds); the column is per run.
            g.seconds / g.runs.max(1) as f64
        )?;
    }
    for g in &report.groups {
        if let Some(e) = g.mean_exploitability {
            writeln!(
                out,
                "N = {}: learned strategy's exploitability at z^N_t, time average: max {:.3e}, \
                 z-weighted {:.3e}",
                g.agents, e.max, e.weighted
            )?;
        }
    }
    match &report.fit {
        Some(f) => {
            let ci = f
                .slope_ci
                .map_or("(one seed: no interval)".to_string(), |(lo, hi)| {
                    format!("{:.0}% CI [{lo:.4}, {hi:.4}]", params.confidence * 100.0)
                });
            writeln!(
                out,
                "rate: E||z^N - z*||_1 = {:.4} * N^{:.4}   slope {:.4} {ci}, intercept {:.4}, \
                 R^2 {:.4} (theory: -0.5)",
                f.intercept.exp(),
                f.slope,
                f.slope,
                f.intercept,
                f.r_squared
            )?;
        }
        None => writeln!(out, "rate: needs at least two values of N")?,
    }
    writeln!(out, "study wall time {:.2} s", report.seconds)
}
