//! `mfgsim nash-gap`: the ε-Nash gap study with a progress bar, a Parquet table, a summary
//! and a log-log plot. Binary-only.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use anyhow::Result;
use mfgsim::nash_gap::{GroupGap, NashGapParams};
use mfgsim::output::plot::{write_loglog_png, LogLogPlot, LogLogSeries};
use mfgsim::output::{self, RunMetadata, NASH_GAP_FILE, SUMMARY_FILE};
use mfgsim::run::{self, NashGapRun, NashPolicy};
use serde::Serialize;

use crate::args::NashGapArgs;

/// What the binary adds to the library's report in `summary.json`.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    #[serde(flatten)]
    report: &'a NashGapRun,
    /// Peak resident set size of the process.
    peak_rss_bytes: Option<u64>,
}

/// Runs `mfgsim nash-gap`.
pub fn nash_gap_cmd(a: NashGapArgs) -> Result<ExitCode> {
    let sc = crate::solve::load(&a.scenario, &[])?;
    let params = NashGapParams {
        agents: a
            .agents
            .clone()
            .unwrap_or_else(|| NashGapParams::default().agents),
        replications: a.replications,
        search_replications: a.search_replications,
        max_rounds: a.max_rounds,
        tolerance: a.tolerance,
        seed: a.seed.unwrap_or(sc.sim.seed),
        ..NashGapParams::default()
    };
    params.validate().map_err(|e| match e {
        // The settings that come from flags are named by their flag.
        mfgsim::Error::Param { key, reason } => {
            anyhow::anyhow!("--{}: {reason}", key.replace('_', "-"))
        }
        e => e.into(),
    })?;
    let policy = NashPolicy::parse(&a.policy);
    if let NashPolicy::File(p) = &policy {
        anyhow::ensure!(
            p.exists(),
            "--policy {}: no such file or directory (expected tmfe, learned, uniform, an \
             equilibrium.parquet, or a learn run's summary.json or directory)",
            p.display()
        );
    }
    let pool = crate::cmd::thread_pool(a.threads)?;
    pool.install(|| run_study(&sc, &a, &policy, &params))
}

fn run_study(
    sc: &mfgsim::scenario::Scenario,
    a: &NashGapArgs,
    policy: &NashPolicy,
    params: &NashGapParams,
) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: nash-gap of the {} strategy, N in {:?}, {} replicates ({} in the search), seed {}, \
         {} thread(s)",
        sc.name,
        policy.describe(),
        params.agents,
        params.replications,
        params.search_replications,
        params.seed,
        rayon::current_num_threads(),
    )?;
    let lock = crate::cmd::output_dir(a.out.as_deref(), &sc.name, "nash-gap")?;
    let dir = lock.dir().to_path_buf();
    crate::cmd::refuse_foreign(
        &[NASH_GAP_FILE, SUMMARY_FILE, "nash_gap.png"].map(|f| dir.join(f)),
    )?;
    let interrupted = crate::cmd::interrupt_flag();
    let bar = crate::cmd::progress_bar(params.agents.len() as u64, a.quiet, "{pos}/{len} N");
    let progress = |g: &GroupGap| {
        bar.set_message(format!(
            "N = {}: gap {:.3e} ({:.1} s)",
            g.agents, g.gap, g.seconds
        ));
        bar.inc(1);
    };
    let result = run::nash_gap(sc, policy, params, &interrupted, &progress);
    bar.finish_and_clear();
    let study = match result {
        Ok(s) => s,
        Err(mfgsim::Error::Interrupted) => {
            return Ok(crate::cmd::interrupted_early(
                "interrupted before the first N finished; nothing written",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let meta =
        RunMetadata::new(sc.text.clone(), params.seed).with_extra("mfgsim.command", "nash-gap");
    output::write_nash_gap_table(
        &dir,
        &study.report,
        &study.policy_greedy,
        &study.policy,
        &meta,
    )?;
    let summary = Summary {
        report: &study,
        peak_rss_bytes: crate::cmd::peak_rss_bytes(),
    };
    output::write_summary(&dir, &summary)?;
    write_loglog_png(&dir.join("nash_gap.png"), &plot_of(sc, &study), 1000, 700)?;
    print_report(&mut out, &study)?;
    writeln!(out, "wrote {}", dir.display())?;
    Ok(
        if study.report.interrupted || interrupted.load(Ordering::Relaxed) {
            writeln!(
                out,
                "INTERRUPTED: the files hold the {} values of N that finished",
                study.report.per_n.len()
            )?;
            ExitCode::from(130)
        } else {
            ExitCode::SUCCESS
        },
    )
}

fn plot_of(sc: &mfgsim::scenario::Scenario, study: &NashGapRun) -> LogLogPlot {
    let r = &study.report;
    let points: Vec<(f64, f64, f64, f64)> = r
        .per_n
        .iter()
        .map(|g| {
            let (lo, hi) = g.gap_ci.unwrap_or((g.gap, g.gap));
            (g.agents as f64, g.gap, lo, hi)
        })
        .collect();
    let mut series = vec![LogLogSeries {
        label: format!("{} strategy", study.policy),
        points: points.clone(),
        fit: r.fit.as_ref().map(|f| (f.slope, f.intercept)),
    }];
    let limit = r.mean_field.max;
    if limit > 1e-10 {
        series.push(LogLogSeries {
            label: "mean-field exploitability at z_mu (N -> infinity)".into(),
            points: points.iter().map(|p| (p.0, limit, limit, limit)).collect(),
            fit: Some((0.0, limit.ln())),
        });
    }
    LogLogPlot {
        title: format!(
            "{}: epsilon-Nash gap of the {} strategy, {} replicates",
            sc.name, study.policy, study.params.replications
        ),
        x_label: "N (agents)".into(),
        y_label: "gap: best own-state deviation's gain (max over s0)".into(),
        series,
        reference_slope: Some(-1.0),
    }
}

fn print_report(out: &mut impl Write, study: &NashGapRun) -> std::io::Result<()> {
    let r = &study.report;
    writeln!(
        out,
        "horizon T = {} (truncation bias <= {:.1e}); mean-field exploitability at z_mu: max \
         {:.4e}, z-weighted {:.4e}",
        r.horizon, r.truncation_bias_bound, r.mean_field.max, r.mean_field.weighted
    )?;
    writeln!(
        out,
        "{:>12} {:>11} {:>25} {:>11} {:>25} {:>4} {:>6} {:>10} {:>8}",
        "N", "gap", "CI (bootstrap)", "weighted", "CI (bootstrap)", "s0", "rounds", "steps", "s"
    )?;
    let ci = |c: Option<(f64, f64)>| {
        c.map_or("-".to_string(), |(lo, hi)| format!("[{lo:.3e}, {hi:.3e}]"))
    };
    for g in &r.per_n {
        writeln!(
            out,
            "{:>12} {:>11.4e} {:>25} {:>11.4e} {:>25} {:>4} {:>6} {:>10} {:>8.2}",
            g.agents,
            g.gap,
            ci(g.gap_ci),
            g.gap_weighted,
            ci(g.gap_weighted_ci),
            g.argmax_state,
            g.rounds,
            g.steps,
            g.seconds
        )?;
    }
    match &r.fit {
        Some(f) => {
            let ci = f
                .slope_ci
                .map_or("-".to_string(), |(lo, hi)| format!("CI [{lo:.3}, {hi:.3}]"));
            writeln!(
                out,
                "rate: gap = {:.4} * N^{:.4} ({ci}) over the {} N with a positive gap",
                f.prefactor, f.slope, f.points
            )?;
        }
        None => writeln!(
            out,
            "rate: fewer than two N with a positive gap (no deviation in the class gains)"
        )?,
    }
    writeln!(out, "study wall time {:.2} s", r.seconds)
}
