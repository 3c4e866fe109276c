//! `mfgsim sweep`: the library's `sweep::run_sweep` with a progress bar over runs and Ctrl-C.
//! Binary-only.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use mfgsim::run::NashPolicy;
use mfgsim::scenario::Scenario;
use mfgsim::sweep::{
    self, GridAxis, Shard, ShardSource, Sweep, SweepCommand, SweepOptions, SweepSpec,
};

use crate::args::SweepArgs;

/// The sweep of `a`: the scenario's `[sweep]` table, then the flags over it.
fn spec_of(a: &SweepArgs) -> Result<(Scenario, SweepSpec)> {
    let sc = Scenario::load(&a.scenario.scenario, &a.scenario.overrides)?;
    let mut spec = match &sc.sweep {
        Some(t) => SweepSpec::from_table(&sc.path, t)?,
        None => SweepSpec::default(),
    };
    if let Some(c) = &a.command {
        spec.command = SweepCommand::parse(c)?;
    }
    if !a.grid.is_empty() {
        spec.grid = a
            .grid
            .iter()
            .map(|g| GridAxis::parse(g))
            .collect::<mfgsim::Result<_>>()?;
    }
    if let Some(k) = a.seeds {
        anyhow::ensure!(k >= 1, "--seeds must be at least 1");
        spec.seeds = k;
    }
    if a.start.is_some() {
        anyhow::ensure!(
            spec.command == SweepCommand::Solve,
            "--start applies to --command solve only"
        );
        spec.start = a.start.clone();
    }
    let f = &mut spec.finite_n;
    if let Some(v) = &a.study_agents {
        f.agents = v.clone();
        spec.nash_gap.agents = v.clone();
    }
    if let Some(k) = a.study_seeds {
        f.seeds = k;
    }
    if let Some(t) = a.steps {
        f.steps = t;
    }
    if let Some(b) = a.burn_in {
        f.burn_in = b;
    }
    anyhow::ensure!(
        spec.command == SweepCommand::NashGap || (a.policy.is_none() && a.replications.is_none()),
        "--policy and --replications apply to --command nash-gap only"
    );
    if let Some(p) = &a.policy {
        spec.nash_policy = NashPolicy::parse(p);
    }
    if let Some(k) = a.replications {
        spec.nash_gap.replications = k;
    }
    match spec.command {
        SweepCommand::FiniteN => spec.finite_n.validate()?,
        SweepCommand::NashGap => spec.nash_gap.validate().map_err(|e| match e {
            mfgsim::Error::Param { key, reason } if key == "agents" => {
                anyhow::anyhow!("--study-agents: {reason}")
            }
            mfgsim::Error::Param { key, reason } => {
                anyhow::anyhow!("--{}: {reason}", key.replace('_', "-"))
            }
            e => e.into(),
        })?,
        _ => {}
    }
    Ok((sc, spec))
}

/// Runs `mfgsim sweep`.
pub fn sweep_cmd(a: SweepArgs) -> Result<ExitCode> {
    let (sc, spec) = spec_of(&a)?;
    let plan = Sweep::plan(&a.scenario.scenario, &a.scenario.overrides, spec)
        .with_context(|| format!("planning the sweep of {}", sc.path.display()))?;
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("out").join(&sc.name).join("sweep"));
    let pool = crate::cmd::thread_pool(a.threads)?;
    pool.install(|| run(&plan, &dir, &a))
}

fn run(plan: &Sweep, dir: &Path, a: &SweepArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let axes: Vec<String> = plan
        .spec
        .grid
        .iter()
        .map(|g| format!("{} ({} values)", g.key, g.values.len()))
        .collect();
    writeln!(
        out,
        "sweep of {} ({}): {} {} runs over [{}] x {} seed(s) on {} threads",
        plan.base.name,
        plan.base.path.display(),
        plan.runs.len(),
        plan.spec.command.as_str(),
        axes.join(", "),
        plan.spec.seeds,
        rayon::current_num_threads(),
    )?;
    let shard = match &a.shard {
        Some(text) => Some((Shard::parse(text)?, ShardSource::Given)),
        None => Shard::from_env(|k| std::env::var(k).ok())?,
    }
    .filter(|(s, _)| s.count > 1);
    if let Some((s, source)) = shard {
        let from = match source {
            ShardSource::Given => "--shard".to_string(),
            ShardSource::SlurmArray => "the SLURM job array".to_string(),
            ShardSource::Mpi => format!(
                "the MPI launch{}",
                if s.index == 0 {
                    "; this rank writes the table when every rank is done"
                } else {
                    ""
                }
            ),
        };
        writeln!(
            out,
            "shard {s} (from {from}): {} of the {} runs",
            (0..plan.runs.len()).filter(|&p| s.owns(p)).count(),
            plan.runs.len()
        )?;
    }
    let interrupted = crate::cmd::interrupt_flag();
    let mine = |p: usize| shard.is_none_or(|(s, _)| s.owns(p));
    let share = (0..plan.runs.len()).filter(|&p| mine(p)).count();
    let bar = crate::cmd::progress_bar(share as u64, a.quiet, "{pos}/{len} runs");
    // Runs finished by an earlier invocation count as done from the start.
    let done_before = plan
        .runs
        .iter()
        .enumerate()
        .filter(|&(p, r)| mine(p) && sweep::is_finished(dir, r))
        .count();
    bar.set_position(done_before as u64);
    let opts = SweepOptions {
        jobs: a.jobs,
        threads: 0,
        shard: shard.map(|(s, _)| s),
        collect: matches!(shard, Some((s, ShardSource::Mpi)) if s.index == 0),
    };
    let result = sweep::run_sweep(plan, dir, &opts, &interrupted, &|done| {
        bar.set_message(format!("{} in {:.2} s", done.id, done.seconds));
        bar.inc(1);
    });
    bar.finish_and_clear();
    let o = result?;
    let large = if o.large_runs > 0 {
        format!(
            "; {} large one(s) one at a time on {} threads",
            o.large_runs,
            rayon::current_num_threads()
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} runs: {} ran now ({} at a time, {} thread(s) each{large}), {} already finished, {} missing; {:.1} s",
        o.total, o.ran, o.jobs, o.threads_per_run, o.skipped, o.missing, o.seconds
    )?;
    if o.wrote_table {
        write!(out, "{}", sweep::markdown(&o.groups))?;
        writeln!(
            out,
            "wrote {} and {}",
            o.table.display(),
            dir.join("summary.md").display()
        )?;
    } else if let Some(s) = o.shard {
        writeln!(
            out,
            "shard {s} wrote no table: when every shard is done, run the same sweep without \
             --shard (it runs nothing that is finished) to write {}",
            o.table.display()
        )?;
    }
    if o.missing > 0 || interrupted.load(Ordering::SeqCst) {
        writeln!(
            out,
            "interrupted: run the same command again to finish the {} missing runs",
            o.missing
        )?;
        return Ok(ExitCode::from(130));
    }
    if o.not_converged > 0 {
        writeln!(
            out,
            "NOT converged: {} of {} solve runs (some start did not converge): their rows are \
             end points, not equilibria (see the converged columns; `mfgsim plot` draws them \
             hollow); try --set solver.algo=\"fp\"",
            o.not_converged,
            o.total - o.missing
        )?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
