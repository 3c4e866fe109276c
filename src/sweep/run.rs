//! Running a plan: [`run_sweep`] (jobs × threads, resumable by each run's
//! `summary.json`, the manifest check, the directory lock), one run ([`execute`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Value};

use super::table::{finished_summaries, group_stats, markdown, write_table, GroupStats};
use super::{PlannedRun, Shard, Sweep, SweepCommand};
use crate::error::{Error, Result};
use crate::finite_n::FiniteNParams;
use crate::nash_gap::NashGapParams;
use crate::output::{self, RunMetadata, SweepManifest, MANIFEST_FILE};
use crate::run::{self, LearnOptions};

/// The file that marks a run finished: its `summary.json`, written last, atomically.
pub(super) const FINISHED: &str = output::SUMMARY_FILE;

/// True when `run` finished in the sweep directory `dir` (`dir/runs/<id>/summary.json`).
/// Links are not followed: a run directory or summary that is a symbolic link is not a
/// finished run of this sweep (and [`run_sweep`] refuses to write through it).
pub fn is_finished(dir: &Path, run: &PlannedRun) -> bool {
    let run_dir = dir.join("runs").join(&run.id);
    let real = |p: &Path, dir: bool| {
        std::fs::symlink_metadata(p).is_ok_and(|m| {
            if dir {
                m.file_type().is_dir()
            } else {
                m.file_type().is_file()
            }
        })
    };
    real(&dir.join("runs"), true) && real(&run_dir, true) && real(&run_dir.join(FINISHED), false)
}

/// How [`run_sweep`] schedules runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepOptions {
    /// Runs at a time, at most `threads`; 0 (default): one per thread for small runs, then
    /// the large ones ([`Sweep::run_is_large`]) one at a time on every thread.
    pub jobs: usize,
    /// Worker threads in all; 0 (default): the current rayon pool's.
    pub threads: usize,
    /// Run only this share of the runs (a cluster job); `None` (default): every run.
    pub shard: Option<Shard>,
    /// With a shard: after its own runs, wait (polling once a second, until `stop`) for every
    /// other shard's runs to finish, then write the table as an unsharded sweep does. One
    /// shard per sweep collects. Ignored without a shard.
    pub collect: bool,
}

/// A finished run, as reported to the progress callback.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDone {
    /// The run id.
    pub id: String,
    /// Wall seconds of the run.
    pub seconds: f64,
}

/// What [`run_sweep`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepOutcome {
    /// Runs planned.
    pub total: usize,
    /// Runs found finished from an earlier invocation (skipped).
    pub skipped: usize,
    /// Runs finished by this invocation.
    pub ran: usize,
    /// Runs still missing (interrupted); rerun the same sweep to finish them.
    pub missing: usize,
    /// Runs at a time.
    pub jobs: usize,
    /// Threads per run (of the small runs, when some were large).
    pub threads_per_run: usize,
    /// Large runs among those run now, one at a time on every thread
    /// ([`Sweep::run_is_large`]).
    pub large_runs: usize,
    /// `DIR/sweep.parquet` (rows of the finished runs).
    pub table: PathBuf,
    /// Wall seconds.
    pub seconds: f64,
    /// Mean ± sd over the seeds of each grid point (also in `DIR/summary.md` and
    /// `DIR/summary.json`).
    pub groups: Vec<GroupStats>,
    /// Finished solve runs in which some start did not converge (`all_converged` false in
    /// their `summary.json`): their rows are end points, not equilibria. 0 for other
    /// commands.
    pub not_converged: usize,
    /// The shard that ran, `None` for the whole sweep. A shard that wrote no table counts
    /// its share only in `total`, `skipped`, `missing` and `not_converged`; a collecting
    /// shard that wrote it counts the whole sweep in `total`, `missing` and
    /// `not_converged`, and its own share in `skipped` and `ran`.
    pub shard: Option<Shard>,
    /// Whether `table`, `summary.md` and `summary.json` were written (not by a shard that
    /// does not collect, nor by a collector stopped while waiting).
    pub wrote_table: bool,
}

/// Runs the missing runs of `sweep` into `dir`, then writes `dir/sweep.parquet`.
///
/// `progress` is called after each finished run (from worker threads); `stop` ends the
/// sweep after the runs in progress (a stopped learn run is not finished and reruns).
///
/// # Errors
/// [`Error::Input`] when `dir/sweep.json` belongs to another sweep (naming the key that
/// differs) or `dir` holds files of something else; the first failing run's error, with its
/// id and grid values; I/O errors.
pub fn run_sweep(
    sweep: &Sweep,
    dir: &Path,
    opts: &SweepOptions,
    stop: &AtomicBool,
    progress: &(dyn Fn(&RunDone) + Sync),
) -> Result<SweepOutcome> {
    let t0 = Instant::now();
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = sweep.manifest().to_json();
    // What a run would refuse at its start (memory, learner settings) is refused now, before
    // the first run, not after the earlier ones finished.
    match sweep.spec.command {
        SweepCommand::Learn => {
            for run in &sweep.runs {
                run::learn_preflight(&run.scenario, &LearnOptions::default())
                    .map_err(|e| describe(sweep, run, e))?;
            }
        }
        // The study's own settings (the flags or `[sweep.finite_n]` / `[sweep.nash_gap]`).
        SweepCommand::FiniteN => sweep.spec.finite_n.validate()?,
        SweepCommand::NashGap => sweep.spec.nash_gap.validate()?,
        SweepCommand::Solve => {}
    }
    // One sweep per directory at a time (the shards of one sweep share it, one process per
    // shard): locked before the manifest is read or written.
    let _lock = match opts.shard {
        Some(sh) => {
            output::DirLock::acquire_shard(dir, &format!("shard-{}-of-{}", sh.index, sh.count))?
        }
        None => output::DirLock::acquire(dir)?,
    };
    claim_dir(dir, &manifest_path, &manifest)?;
    let runs_dir = dir.join("runs");
    output::ensure_real_dir(&runs_dir)?;
    let share: Vec<&PlannedRun> = sweep
        .runs
        .iter()
        .enumerate()
        .filter(|&(p, _)| opts.shard.is_none_or(|s| s.owns(p)))
        .map(|(_, r)| r)
        .collect();
    let pending: Vec<&PlannedRun> = share
        .iter()
        .copied()
        .filter(|r| !is_finished(dir, r))
        .collect();
    let skipped = share.len() - pending.len();
    let threads = if opts.threads == 0 {
        rayon::current_num_threads()
    } else {
        opts.threads
    };
    // Small runs several at a time, then large ones one at a time with every thread (or
    // `opts.jobs` at a time for all).
    let (small, large): (Vec<&PlannedRun>, Vec<&PlannedRun>) = if opts.jobs == 0 {
        pending.iter().partition(|r| !sweep.run_is_large(r))
    } else {
        (pending.clone(), Vec::new())
    };
    let ran = AtomicUsize::new(0);
    let failure: Mutex<Option<(String, Error)>> = Mutex::new(None);
    let mut used = (1, threads);
    for (batch, jobs) in [(&small, threads), (&large, 1)] {
        if batch.is_empty() || stop.load(Ordering::Relaxed) {
            continue;
        }
        let jobs = if opts.jobs == 0 { jobs } else { opts.jobs };
        // More jobs than threads would only oversubscribe the cores.
        let jobs = jobs.clamp(1, batch.len().min(threads).max(1));
        let per_run = (threads / jobs).max(1);
        if !std::ptr::eq(batch, &large) {
            used = (jobs, per_run);
        }
        let ctx = Batch {
            sweep,
            runs_dir: &runs_dir,
            stop,
            progress,
            ran: &ran,
            failure: &failure,
        };
        ctx.run(batch, jobs, per_run)?;
        if failure.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            break;
        }
    }
    let (jobs, per_run) = used;
    let failure = failure.into_inner().unwrap_or_else(|p| p.into_inner());
    let table = dir.join(output::SWEEP_TABLE_FILE);
    if let Some(shard) = opts.shard {
        if let Some((_, e)) = failure {
            return Err(e);
        }
        let all_done = || sweep.runs.iter().all(|r| is_finished(dir, r));
        let collected = opts.collect && {
            while !all_done() && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            all_done()
        };
        if !collected {
            let ids: Vec<&str> = share.iter().map(|r| r.id.as_str()).collect();
            let summaries = finished_summaries(sweep, &runs_dir)?;
            let mine: Vec<_> = summaries
                .iter()
                .filter(|(r, _)| ids.contains(&r.id.as_str()))
                .collect();
            return Ok(SweepOutcome {
                total: share.len(),
                skipped,
                ran: ran.into_inner(),
                missing: share.len() - mine.len(),
                jobs,
                threads_per_run: per_run,
                large_runs: large.len(),
                table,
                seconds: t0.elapsed().as_secs_f64(),
                groups: Vec::new(),
                not_converged: mine.iter().filter(|(_, v)| v.not_converged()).count(),
                shard: Some(shard),
                wrote_table: false,
            });
        }
    }
    let summaries = finished_summaries(sweep, &runs_dir)?;
    write_table(sweep, &summaries, &table)?;
    let groups = group_stats(sweep, &summaries);
    let finished = summaries.len();
    let not_converged = summaries.iter().filter(|(_, v)| v.not_converged()).count();
    let md = dir.join("summary.md");
    output::write_atomic(&md, |w| {
        use std::io::Write;
        w.write_all(markdown(&groups).as_bytes())
            .map_err(|source| Error::Io {
                path: md.clone(),
                source,
            })
    })?;
    output::write_json(
        &dir.join(output::SUMMARY_FILE),
        &json!({"groups": groups, "finished_runs": finished, "not_converged_runs": not_converged}),
    )?;
    if let Some((_, e)) = failure {
        return Err(e);
    }
    Ok(SweepOutcome {
        total: sweep.runs.len(),
        skipped,
        ran: ran.into_inner(),
        missing: sweep.runs.len() - finished,
        jobs,
        threads_per_run: per_run,
        large_runs: large.len(),
        table,
        seconds: t0.elapsed().as_secs_f64(),
        groups,
        not_converged,
        shard: opts.shard,
        wrote_table: true,
    })
}

/// What the workers of one batch of runs share.
struct Batch<'a> {
    sweep: &'a Sweep,
    runs_dir: &'a Path,
    stop: &'a AtomicBool,
    progress: &'a (dyn Fn(&RunDone) + Sync),
    ran: &'a AtomicUsize,
    /// The first failure in run-id order.
    failure: &'a Mutex<Option<(String, Error)>>,
}

impl Batch<'_> {
    /// Runs `runs`, `jobs` at a time, each on a pool of `per_run` threads; stops taking new
    /// runs after the stop flag or a failure.
    fn run(&self, runs: &[&PlannedRun], jobs: usize, per_run: usize) -> Result<()> {
        let next = AtomicUsize::new(0);
        let halt = AtomicBool::new(false);
        let worker = || -> Result<()> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(per_run)
                .build()
                .map_err(|e| {
                    Error::param("threads", format!("cannot start {per_run} threads: {e}"))
                })?;
            loop {
                if self.stop.load(Ordering::Relaxed) || halt.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let Some(run) = runs.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return Ok(());
                };
                let t = Instant::now();
                let dir = self.runs_dir.join(&run.id);
                match pool.install(|| execute(self.sweep, run, &dir, self.stop)) {
                    Ok(true) => {
                        self.ran.fetch_add(1, Ordering::Relaxed);
                        (self.progress)(&RunDone {
                            id: run.id.clone(),
                            seconds: t.elapsed().as_secs_f64(),
                        });
                    }
                    Ok(false) => return Ok(()),
                    Err(e) => {
                        halt.store(true, Ordering::Relaxed);
                        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                        // Keep the first failure in run order, whatever thread saw it first.
                        if f.as_ref().is_none_or(|(id, _)| run.id < *id) {
                            *f = Some((run.id.clone(), describe(self.sweep, run, e)));
                        }
                        return Ok(());
                    }
                }
            }
        };
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..jobs).map(|_| s.spawn(worker)).collect();
            handles.into_iter().try_for_each(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::Unsupported {
                        engine: "sweep",
                        reason: "a worker thread panicked (a bug in mfgsim: please report it \
                                 with the sweep's sweep.json)"
                            .into(),
                    })
                })
            })
        })
    }
}

fn describe(sweep: &Sweep, run: &PlannedRun, e: Error) -> Error {
    let values: Vec<String> = sweep
        .spec
        .grid
        .iter()
        .zip(&run.values)
        .map(|(a, v)| format!("{}={v}", a.key))
        .chain(std::iter::once(format!("sim.seed={}", run.seed)))
        .collect();
    Error::Context {
        context: format!("sweep run {} ({})", run.id, values.join(" ")),
        source: Box::new(e),
    }
}

fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// A JSON value as it reads back from its own text (so fresh and resumed values compare
/// and tabulate identically).
/// Makes `dir` this sweep's directory: a new or empty directory gets the manifest; one
/// with the same manifest is resumed; anything else is refused.
fn claim_dir(dir: &Path, manifest_path: &Path, manifest: &Value) -> Result<()> {
    let refuse = |key: &str, reason: String| Error::Input {
        path: manifest_path.to_path_buf(),
        key: key.to_string(),
        reason,
    };
    if manifest_path.is_file() {
        let text = std::fs::read_to_string(manifest_path).map_err(|source| Error::Io {
            path: manifest_path.to_path_buf(),
            source,
        })?;
        let stored: Value = serde_json::from_str(&text).map_err(|e| {
            refuse(
                "<json>",
                format!("unreadable manifest ({e}); delete the directory or pick another --out"),
            )
        })?;
        for key in SweepManifest::IDENTITY {
            if stored.get(key) != manifest.get(key) {
                return Err(refuse(
                    key,
                    format!(
                        "this directory holds a different sweep (`{key}` differs: stored {}, now {}); \
                         rerun the same sweep to resume it, or pick another --out",
                        short(stored.get(key)),
                        short(manifest.get(key))
                    ),
                ));
            }
        }
        return Ok(());
    }
    if dir.exists() {
        let manifest_temp = format!(".{MANIFEST_FILE}.tmp-");
        let foreign: Vec<String> = std::fs::read_dir(dir)
            .map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            // Another shard of this sweep may be writing the same manifest right now.
            .filter(|name| !is_lock_file(name) && !name.starts_with(&manifest_temp))
            .collect();
        if !foreign.is_empty() {
            // ... or have written it (and `runs/`) since the check above.
            if manifest_path.is_file() {
                return claim_dir(dir, manifest_path, manifest);
            }
            return Err(Error::Input {
                path: dir.to_path_buf(),
                key: "--out".into(),
                reason: format!(
                    "the directory is not empty and has no sweep.json (found {}); a sweep writes \
                     only into a new or empty directory or its own earlier sweep",
                    foreign.join(", ")
                ),
            });
        }
    }
    mkdir(dir)?;
    output::write_json(manifest_path, manifest)
}

/// The directory lock and the shards' own locks ([`output::DirLock`]).
fn is_lock_file(name: &str) -> bool {
    name == output::LOCK_FILE || (name.starts_with(".mfgsim.") && name.ends_with(".lock"))
}

fn short(v: Option<&Value>) -> String {
    let s = v.map_or_else(|| "nothing".to_string(), Value::to_string);
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

/// Runs one planned run into `dir`; `Ok(false)` when it was stopped before finishing.
fn execute(sweep: &Sweep, run: &PlannedRun, dir: &Path, stop: &AtomicBool) -> Result<bool> {
    let sc = &run.scenario;
    // Never through a link (a planted `runs/<id>` symlink would send the files elsewhere).
    // The files themselves are this sweep's (its locked directory holds only its own runs;
    // a killed run's leftovers are replaced), but a link or a directory under their names
    // is refused.
    output::ensure_real_dir(dir)?;
    let done = dir.join(FINISHED);
    let files: &[&str] = match sweep.spec.command {
        SweepCommand::Solve => &[output::TRAJECTORY_FILE, output::EQUILIBRIUM_FILE],
        SweepCommand::Learn => &[output::SNAPSHOTS_FILE],
        SweepCommand::FiniteN => &[output::FINITE_N_FILE, output::FINITE_N_STEPS_FILE],
        SweepCommand::NashGap => &[output::NASH_GAP_FILE],
    };
    let mut paths: Vec<_> = files.iter().map(|f| dir.join(f)).collect();
    if sweep.spec.command == SweepCommand::Solve {
        for side in ["least", "greatest"] {
            for f in [output::TRAJECTORY_FILE, output::EQUILIBRIUM_FILE] {
                paths.push(dir.join(side).join(f));
            }
        }
    }
    paths.push(done.clone());
    for path in &paths {
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if !m.file_type().is_file() {
                return Err(output::not_a_plain_file(path, &m));
            }
        }
    }
    let command = sweep.spec.command.as_str();
    let meta = RunMetadata::new(sc.text.clone(), run.seed)
        .with_extra("mfgsim.command", command)
        .with_extra("mfgsim.sweep_run", run.id.clone());
    let summary = match sweep.spec.command {
        SweepCommand::Solve => {
            let report = run::solve(sc, sweep.spec.start.as_ref())?;
            let runs: Vec<_> = report
                .runs()
                .into_iter()
                .map(|(l, r)| (l, &r.solution))
                .collect();
            output::write_solutions(dir, &runs, sc.game.epsilon, &meta)?;
            to_json(&report, &done)?
        }
        SweepCommand::Learn => {
            let report = match run::learn(sc, &LearnOptions::default(), stop, &mut |_, _| Ok(())) {
                Ok(r) if !r.interrupted => r,
                Ok(_) | Err(Error::Interrupted) => return Ok(false),
                Err(e) => return Err(e),
            };
            let ns = sc.model.as_model().num_states();
            output::write_snapshots(dir, ns, &report.snapshots, &meta)?;
            to_json(&report, &done)?
        }
        SweepCommand::FiniteN => {
            // The run's own engine, so `sim.engine` can be a grid axis.
            let params = FiniteNParams {
                base_seed: run.seed,
                engine: sc.sim.engine,
                ..sweep.spec.finite_n.clone()
            };
            let study = match run::finite_n(sc, &params, stop, &|_| {}) {
                Ok(s) if !s.interrupted => s,
                Ok(_) | Err(Error::Interrupted) => return Ok(false),
                Err(e) => return Err(e),
            };
            let ns = sc.model.as_model().num_states();
            output::write_finite_n_tables(dir, &study.report, ns, params.keep_steps, &meta)?;
            to_json(&study, &done)?
        }
        SweepCommand::NashGap => {
            let params = NashGapParams {
                seed: run.seed,
                ..sweep.spec.nash_gap.clone()
            };
            let study = match run::nash_gap(sc, &sweep.spec.nash_policy, &params, stop, &|_| {}) {
                Ok(s) if !s.report.interrupted => s,
                Ok(_) | Err(Error::Interrupted) => return Ok(false),
                Err(e) => return Err(e),
            };
            output::write_nash_gap_table(
                dir,
                &study.report,
                &study.policy_greedy,
                &study.policy,
                &meta,
            )?;
            to_json(&study, &done)?
        }
    };
    // Written last: its presence marks the run finished.
    output::write_json(&done, &summary)?;
    Ok(true)
}

/// A run's report as the JSON of `path`, its `summary.json`.
fn to_json<T: serde::Serialize>(v: &T, path: &Path) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::encode(path, "serializing the run's report", e))
}
