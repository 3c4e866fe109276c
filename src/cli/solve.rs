//! `mfgsim solve` and `check`: the short commands. Binary-only.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use mfgsim::check::CheckOptions;
use mfgsim::model::mean_state;
use mfgsim::output::{self, RunMetadata};
use mfgsim::run::{self, SolveRun};
use mfgsim::scenario::{Override, Scenario, StartSpec};
use mfgsim::solver::{exploitability_tol, CertifiedAt};

use crate::args::{CheckArgs, EquilibriaArgs, ScenarioArgs, SolveArgs};

/// Reads the scenario of `a` with `extra` (flags that are shortcuts for scenario keys),
/// then its `--set` overrides (which win).
pub fn load(a: &ScenarioArgs, extra: &[Override]) -> Result<Scenario> {
    let mut overrides = extra.to_vec();
    overrides.extend(a.overrides.iter().map(|t| Override::set(t.clone())));
    Ok(Scenario::load_with(&a.scenario, &overrides)?)
}

/// Runs `mfgsim solve`.
pub fn solve_cmd(a: SolveArgs) -> Result<ExitCode> {
    let algo: Vec<Override> = a
        .algo
        .iter()
        .map(|x| Override {
            text: format!("solver.algo=\"{}\"", x.as_str()),
            source: format!("--algo {}", x.as_str()),
        })
        .collect();
    let sc = load(&a.scenario, &algo)?;
    let model = sc.model.as_model();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} ({}): {} states, {} actions, gamma {}, epsilon {}",
        sc.name,
        sc.path.display(),
        model.num_states(),
        model.num_actions(),
        sc.game.gamma,
        sc.game.epsilon
    )?;
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("out").join(&sc.name));
    // One run per output directory: locked before anything is written.
    let _lock = if a.no_write {
        None
    } else {
        Some(mfgsim::output::DirLock::acquire(&dir)?)
    };
    if !a.no_write {
        let subs: &[&str] = match a.start.as_ref().unwrap_or(&sc.start) {
            StartSpec::Extremal => &["least", "greatest"],
            StartSpec::Single(_) => &[""],
        };
        let mut files = vec![dir.join(output::SUMMARY_FILE)];
        for sub in subs {
            for f in [output::TRAJECTORY_FILE, output::EQUILIBRIUM_FILE] {
                files.push(dir.join(sub).join(f));
            }
        }
        crate::cmd::refuse_foreign(&files)?;
    }
    // A spinner on stderr (when it is a terminal) once the solve has run for a second.
    let bar = indicatif::ProgressBar::hidden();
    let algo_name = sc.solver.algo.describe();
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {algo_name} {{wide_msg}}"
        ))
        .expect("valid template"),
    );
    bar.set_message("iteration 1");
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let timer = {
        let bar = bar.clone();
        std::thread::spawn(move || {
            let waited = wait.recv_timeout(std::time::Duration::from_secs(1));
            if waited == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.enable_steady_tick(std::time::Duration::from_millis(200));
            }
        })
    };
    let result = run::solve_with(&sc, a.start.as_ref(), &mut |label, r| {
        let expl = r
            .exploitability
            .map(|e| format!(", exploitability {e:.2e}"))
            .unwrap_or_default();
        bar.set_message(format!(
            "from {label}: iteration {} done, ||z_k - z_(k-1)||_1 {:.2e}, \
             ||Phi(z,mu)-z||_1 {:.2e}{expl}, {} TQ sweeps",
            r.iteration, r.delta_l1, r.consistency_l1, r.tq_sweeps
        ));
    });
    drop(done);
    let _ = timer.join();
    bar.finish_and_clear();
    let report = result.with_context(|| format!("solving {}", sc.path.display()))?;
    for (label, r) in report.runs() {
        print_run(&mut out, label, r)?;
    }
    if !a.no_write {
        let meta =
            RunMetadata::new(sc.text.clone(), sc.sim.seed).with_extra("mfgsim.command", "solve");
        let runs: Vec<_> = report
            .runs()
            .into_iter()
            .map(|(l, r)| (l, &r.solution))
            .collect();
        output::write_solutions(&dir, &runs, sc.game.epsilon, &meta)?;
        output::write_summary(&dir, &report)?;
        writeln!(out, "wrote {}", dir.display())?;
    }
    Ok(if report.all_converged {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_run(out: &mut impl Write, label: &str, r: &SolveRun) -> std::io::Result<()> {
    let head = if label.is_empty() {
        String::new()
    } else {
        format!("[{label}] ")
    };
    let s = &r.summary;
    writeln!(
        out,
        "{head}start {}: {} {} ({}) after {} iterations in {:.2} ms",
        r.start_label,
        r.solution.algo.describe(),
        if s.converged {
            "converged"
        } else {
            "did NOT converge"
        },
        s.termination,
        s.iterations,
        r.seconds * 1e3
    )?;
    let expl = within_tol(s.exploitability, s.exploitability_tol);
    match s.exploitability_at {
        CertifiedAt::ReturnedMeanField => writeln!(
            out,
            "{head}mean state {:.6}   ||Phi(z,mu)-z||_1 {:.2e}   exploitability {expl}",
            s.mean_state, s.consistency_l1,
        )?,
        CertifiedAt::StationaryMeanField => {
            let zm = s.stationary_z.as_deref().unwrap_or_default();
            writeln!(
                out,
                "{head}end point (NOT an equilibrium): mean state {:.6}   \
                 ||Phi(z,mu)-z||_1 {:.2e}",
                s.mean_state, s.consistency_l1,
            )?;
            writeln!(
                out,
                "{head}its strategy at its own stationary mean field z_mu (mean state {:.6}): \
                 exploitability {expl}",
                mean_state(zm)
            )?;
        }
        CertifiedAt::Unavailable => writeln!(
            out,
            "{head}end point (NOT an equilibrium): mean state {:.6}   ||Phi(z,mu)-z||_1 {:.2e}   \
             exploitability unavailable (no stationary mean field of its strategy, or no Q* \
             there to solver.tq_tol)",
            s.mean_state, s.consistency_l1,
        )?,
    }
    let greedy: Vec<String> = s.greedy_action.iter().map(|a| a.to_string()).collect();
    let what = if s.mixed {
        "most played action per state (a mixture of trembling-hand strategies)"
    } else {
        "greedy action per state"
    };
    writeln!(out, "{head}{what}: {}", greedy.join(" "))?;
    let z: Vec<String> = s.z.iter().map(|p| format!("{p:.4}")).collect();
    let label = if s.converged { "z*" } else { "z" };
    writeln!(out, "{head}{label}: {}", z.join(" "))?;
    if let Some(advice) = &s.advice {
        writeln!(out, "{head}NOT an equilibrium: {advice}")?;
    }
    Ok(())
}

/// `x` in `{:.2e}`, or `0 (< tol)` when |x| is below the accuracy `tol` it was computed to
/// (a tiny negative exploitability is rounding, not a gain).
pub fn within_tol(x: f64, tol: f64) -> String {
    if x.abs() < tol {
        format!("0 (< {tol:.0e})")
    } else {
        format!("{x:.2e}")
    }
}

/// Runs `mfgsim check`.
pub fn check_cmd(a: CheckArgs) -> Result<ExitCode> {
    let sc = load(&a.scenario, &[])?;
    let opts = CheckOptions {
        random_pairs: a.random_pairs,
        seed: a.seed.unwrap_or(sc.sim.seed),
        ..Default::default()
    };
    let checked = run::check(&sc, &opts)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&checked)?)?;
    } else {
        writeln!(
            out,
            "{} ({}): Definition 1 of Lee et al. (2021)",
            sc.name,
            sc.path.display()
        )?;
        write!(out, "{}", checked.report)?;
    }
    Ok(if checked.all_hold {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs `mfgsim equilibria`.
pub fn equilibria_cmd(a: EquilibriaArgs) -> Result<ExitCode> {
    let sc = load(&a.scenario, &[])?;
    let opts = mfgsim::census::CensusOptions {
        random_starts: a.random_starts,
        seed: a.seed.unwrap_or(sc.sim.seed),
        cluster_tol: a.cluster_tol,
        fp_target: a.fp_target,
    };
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("out").join(&sc.name).join("equilibria"));
    let files = [
        dir.join(output::SUMMARY_FILE),
        dir.join(output::EQUILIBRIA_FILE),
    ];
    let _lock = if a.no_write {
        None
    } else {
        Some(mfgsim::output::DirLock::acquire(&dir)?)
    };
    if !a.no_write {
        crate::cmd::refuse_foreign(&files)?;
    }
    let pool = crate::cmd::thread_pool(a.threads)?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_message("equilibrium census: T-BR and fictitious play from every start");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let report = pool.install(|| run::equilibria(&sc, &opts));
    bar.finish_and_clear();
    let report = report.with_context(|| format!("census of {}", sc.path.display()))?;
    let c = &report.census;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} ({}): {} starts x (T-BR, fp) in {:.2} s: {} distinct equilibria, {} T-BR cycles, \
         {} of {} runs did not converge",
        sc.name,
        sc.path.display(),
        c.starts,
        report.seconds,
        c.equilibria.len(),
        c.cycles.len(),
        c.not_converged,
        c.attempts.len()
    )?;
    for (i, e) in c.equilibria.iter().enumerate() {
        let what = if e.kind == "tmfe" {
            "T-MFE in Pi^eps (one trembling-hand strategy)"
        } else {
            "mixed equilibrium (a mixture of trembling-hand strategies)"
        };
        writeln!(
            out,
            "[{i}] {what}: mean state {:.6}   exploitability {}   ||Phi(z,mu)-z||_1 {:.2e}   \
             reached by {} runs (first: {})",
            e.mean_state,
            within_tol(e.exploitability, exploitability_tol(&sc.solver, sc.game)),
            e.consistency_l1,
            e.reached,
            e.starts.first().map_or("", String::as_str)
        )?;
        let greedy: Vec<String> = e.greedy_action.iter().map(|a| a.to_string()).collect();
        writeln!(
            out,
            "    most played action per state: {}",
            greedy.join(" ")
        )?;
    }
    for (i, cy) in c.cycles.iter().enumerate() {
        let ms: Vec<String> = cy.mean_states.iter().map(|m| format!("{m:.4}")).collect();
        writeln!(
            out,
            "cycle {i}: T-BR period {} through mean states {} (NOT an equilibrium), from {} runs",
            cy.period,
            ms.join(", "),
            cy.reached
        )?;
    }
    // Runs that stopped at a cap (not a cycle): neither an equilibrium nor a cycle.
    let capped: Vec<String> = c
        .attempts
        .iter()
        .filter(|t| !t.converged && t.cycle.is_none())
        .map(|t| {
            format!(
                "{}/{} ({} after {}, mean state {:.4})",
                t.start, t.algo, t.termination, t.iterations, t.mean_state
            )
        })
        .collect();
    if !capped.is_empty() {
        let shown = capped.len().min(5);
        writeln!(
            out,
            "{} runs stopped without converging (not counted as equilibria): {}{}",
            capped.len(),
            capped[..shown].join("; "),
            if capped.len() > shown { "; ..." } else { "" }
        )?;
    }
    if !a.no_write {
        let meta =
            RunMetadata::new(sc.text.clone(), opts.seed).with_extra("mfgsim.command", "equilibria");
        let na = sc.model.as_model().num_actions();
        output::write_census(&files[1], c, na, &meta)?;
        output::write_summary(&dir, &report)?;
        writeln!(out, "wrote {}", dir.display())?;
    }
    Ok(if c.equilibria.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
