//! The chart kinds of `mfgsim plot`, built from output directories.
//!
//! | kind | x | y | inputs |
//! | --- | --- | --- | --- |
//! | [`PlotKind::Bars`] | state s | final z(s), bars side by side | solve, learn, sweep (solve / learn) |
//! | [`PlotKind::Cdf`] | state s | F(s) = Σ_{s′≤s} z(s′), steps | as bars |
//! | [`PlotKind::MeanState`] | iteration k | Σ_s s·z_k(s) | solve (T-BR iterations), learn, sweep |
//! | [`PlotKind::L1`] | iteration k | ‖z_k − z*‖₁, log | solve (to its own result), learn, sweep |
//! | [`PlotKind::W1`] | iteration k | W1(z_k, z*) = Σ_{t=0}^{S−2} \|F_{z_k}(t) − F_{z*}(t)\|, log | solve (to its own result), learn, sweep |
//! | [`PlotKind::Consistency`] | iteration k | ‖Φ(z_k, μ_k) − z_k‖₁, log | learn, learn sweep |
//! | [`PlotKind::Exploitability`] | iteration k | max_s V*_z(s) − V_{μ_k,z}(s), log | learn, learn sweep |
//! | [`PlotKind::FiniteN`] | N | time-average ‖z^N_t − z*‖₁, log-log with the fitted rate | finite-n, finite-n sweep |
//! | [`PlotKind::NashGap`] | N | the ε-Nash gap max_s0 gap(s0), log-log with the fitted rate and μ's mean-field exploitability (the limit) | nash-gap |
//! | [`PlotKind::Sweep`] | a grid key (`x`) | a `sweep.parquet` metric (`y`) | sweep |
//!
//! A sweep contributes one series per *group* (runs sharing every grid value but the seed;
//! only finished runs, those with a `summary.json`, so a sweep still running can be drawn),
//! named by the grid values that vary (`learner.algo=iql`) and drawn as the mean with a ±1
//! sample-sd band or error bar over its seeds ([`mean_sd`]; for bars and CDFs the bar is
//! clipped to [0, 1], the range of a fraction). A solve run from both extremal
//! starts contributes its least and greatest T-MFE (one series when they coincide, for the
//! final mean field). In a sweep chart each combination of the other grid keys is one line;
//! `y = mean_state` of an extremal solve sweep draws the two equilibrium branches
//! (`least_mean_state`, `greatest_mean_state`); a branch that jumps where the number of
//! equilibria changes between two grid points is not joined across the jump.
//!
//! References drawn beside the runs ([`PlotRequest::tmfe`], [`PlotRequest::to`],
//! [`PlotRequest::floor`]): each learn series' own T-MFE, dashed in its colour; the distance
//! to another output's mean field instead of z*; a finite-n study's E‖z^N − z*‖₁ per N,
//! dotted. Each is refused by the kinds it does not apply to.
//!
//! [`choose_kind`] picks the kind from the inputs when none is asked for: a given `x` or `y` →
//! sweep; only finite-n inputs → finite-n; only nash-gap inputs → nash-gap; only solve sweeps → sweep; any learn output →
//! mean-state; otherwise (solve outputs) → bars.

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;
use serde_json::Value;

use super::figure::{Figure, Mark, Series, YScale, AUTO};
use super::loglog::{LogLogPlot, LogLogSeries};
use super::read::{
    axis_label, detect, grid_label, input_dir, learn_agents, learn_final_field, learn_label,
    learn_tmfe, learn_trace, learn_trace_to, mean_sd, mean_sd_traces, mean_sd_vectors, read_sweep,
    solve_branches, solve_field, solve_trace, value_text, InputKind, LearnTmfe, Metric, Sweep,
};
use super::style::PALETTE;
use super::Chart;
use crate::error::{Error, Result};
use crate::output::{read_finite_n_series, read_nash_gap_series};

/// A chart kind of `mfgsim plot` (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    /// Final mean field as bars, several runs side by side.
    Bars,
    /// CDF of the final mean field.
    Cdf,
    /// Mean state against iteration.
    MeanState,
    /// L1 distance to z* against iteration (log y).
    L1,
    /// Wasserstein-1 distance to z* on the ordered states against iteration (log y).
    W1,
    /// Consistency residual ‖Φ(z_k, μ_k) − z_k‖₁ against iteration (log y).
    Consistency,
    /// Exploitability against iteration (log y).
    Exploitability,
    /// The finite-N log-log rate chart.
    FiniteN,
    /// The ε-Nash gap against N, log-log.
    NashGap,
    /// A sweep metric against a grid key.
    Sweep,
}

impl PlotKind {
    /// The name used on the command line (`mean-state`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PlotKind::Bars => "bars",
            PlotKind::Cdf => "cdf",
            PlotKind::MeanState => "mean-state",
            PlotKind::L1 => "l1",
            PlotKind::W1 => "w1",
            PlotKind::Consistency => "consistency",
            PlotKind::Exploitability => "exploitability",
            PlotKind::FiniteN => "finite-n",
            PlotKind::NashGap => "nash-gap",
            PlotKind::Sweep => "sweep",
        }
    }
}

impl std::fmt::Display for PlotKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to draw.
///
/// An input is an output directory or a file in one (`summary.json`, `sweep.json`, a
/// `.parquet` table); any other file is read as a finite-n `summary.json`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotRequest {
    /// Output directories (or files inside them) of solve, learn, finite-n or sweep runs.
    pub inputs: Vec<PathBuf>,
    /// Series names, one per input in order (fewer is fine); an input with several series
    /// gets `LABEL: <series>`.
    pub labels: Vec<String>,
    /// The kind; `None` = [`choose_kind`].
    pub kind: Option<PlotKind>,
    /// Sweep charts: the grid key on the x axis (default: the only grid key with several
    /// values).
    pub x: Option<String>,
    /// Sweep charts: the `sweep.parquet` metric on the y axis (default: `mean_state` for
    /// solve sweeps, `final_l1_to_tmfe` for learn sweeps, `rate` for finite-n sweeps).
    pub y: Option<String>,
    /// Sweep rows kept: every `(key, value)` must match (`key` a grid key or `seed`).
    pub filters: Vec<(String, String)>,
    /// The title; `None` = the kind's default.
    pub title: Option<String>,
    /// `--kind l1` / `w1` of learn runs: the distance of each z_k to this output's mean field
    /// instead of each run's own z* (a solve output's T-MFE, a learn run's final mean field,
    /// or the mean final mean field of a learn sweep's finished runs). The paper's Fig. 4
    /// measures L1 to the final mean field online TMFQ reaches at large N.
    pub to: Option<PathBuf>,
    /// Draw each learn series' own exact T-MFE (`summary.json` key `tmfe`) in its colour,
    /// dashed: `mean-state`, a level line at Σ_s s·z*(s); `cdf`, the CDF of z*; `l1` / `w1`
    /// with [`to`](Self::to), the distance to z* beside the distance to the reference.
    pub tmfe: bool,
    /// `--kind l1`: a finite-n study (or its `summary.json`) whose time-average
    /// E‖z^N − z*‖₁ at each N is drawn as a dotted level line, the floor a population of N
    /// agents playing μ* exactly keeps from z* (coloured as the learn series with the same N).
    pub floor: Option<PathBuf>,
}

/// A built chart and the kind it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Plotted {
    /// The chart, ready for [`write_chart`](super::write_chart).
    pub chart: Chart,
    /// Its kind (chosen or asked for).
    pub kind: PlotKind,
}

/// One input, recognised.
enum Source {
    Solve(PathBuf),
    Learn(PathBuf),
    FiniteN(PathBuf),
    NashGap(PathBuf),
    Sweep(Sweep),
}

struct Input {
    source: Source,
    label: Option<String>,
}

impl Input {
    fn kind(&self) -> InputKind {
        match self.source {
            Source::Solve(_) => InputKind::Solve,
            Source::Learn(_) => InputKind::Learn,
            Source::FiniteN(_) => InputKind::FiniteN,
            Source::NashGap(_) => InputKind::NashGap,
            Source::Sweep(_) => InputKind::Sweep,
        }
    }

    fn path(&self) -> &Path {
        match &self.source {
            Source::Solve(p) | Source::Learn(p) | Source::FiniteN(p) | Source::NashGap(p) => p,
            Source::Sweep(s) => &s.dir,
        }
    }

    /// The kind of the runs: the input's, or a sweep's runs'.
    fn run_kind(&self) -> Result<InputKind> {
        match &self.source {
            Source::Sweep(s) => s.run_kind(),
            _ => Ok(self.kind()),
        }
    }
}

fn read_inputs(req: &PlotRequest) -> Result<Vec<Input>> {
    if req.inputs.is_empty() {
        return Err(Error::param("inputs", "no input directory given"));
    }
    if req.labels.len() > req.inputs.len() {
        return Err(Error::param(
            "--label",
            format!(
                "{} labels for {} inputs (one label per input, in order)",
                req.labels.len(),
                req.inputs.len()
            ),
        ));
    }
    req.inputs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let known_file = name == crate::output::SUMMARY_FILE
                || name == "sweep.json"
                || name.ends_with(".parquet");
            if p.is_file() && !known_file {
                // Any other file is a finite-n summary under another name (as before sweeps).
                return Ok(Input {
                    source: Source::FiniteN(p.clone()),
                    label: req.labels.get(i).cloned(),
                });
            }
            let dir = input_dir(p)?;
            let source = match detect(&dir)? {
                InputKind::Solve => Source::Solve(dir),
                InputKind::Learn => Source::Learn(dir),
                InputKind::FiniteN => Source::FiniteN(dir),
                InputKind::NashGap => Source::NashGap(dir),
                InputKind::Sweep => {
                    let mut s = read_sweep(&dir)?;
                    s.filter(&req.filters)?;
                    Source::Sweep(s)
                }
            };
            Ok(Input {
                source,
                label: req.labels.get(i).cloned(),
            })
        })
        .collect()
}

fn auto_kind(inputs: &[Input], x_or_y_given: bool) -> Result<PlotKind> {
    if x_or_y_given {
        return Ok(PlotKind::Sweep);
    }
    let run_kinds = inputs
        .iter()
        .map(Input::run_kind)
        .collect::<Result<Vec<_>>>()?;
    if run_kinds.iter().all(|k| *k == InputKind::FiniteN) {
        return Ok(PlotKind::FiniteN);
    }
    if run_kinds.iter().all(|k| *k == InputKind::NashGap) {
        return Ok(PlotKind::NashGap);
    }
    let all_solve_sweeps = inputs
        .iter()
        .zip(&run_kinds)
        .all(|(i, k)| i.kind() == InputKind::Sweep && *k == InputKind::Solve);
    if all_solve_sweeps {
        return Ok(PlotKind::Sweep);
    }
    if run_kinds.contains(&InputKind::Learn) {
        return Ok(PlotKind::MeanState);
    }
    Ok(PlotKind::Bars)
}

/// The kind [`build_chart`] draws for `req` when `req.kind` is `None` (see the module docs).
///
/// # Errors
/// As [`build_chart`] for unreadable inputs.
pub fn choose_kind(req: &PlotRequest) -> Result<PlotKind> {
    match req.kind {
        Some(k) => Ok(k),
        None => auto_kind(&read_inputs(req)?, req.x.is_some() || req.y.is_some()),
    }
}

/// Reads the inputs of `req` and builds its chart.
///
/// # Errors
/// [`Error::Io`] / [`Error::Input`] / [`Error::Output`] naming the path and key: an input
/// that is none of the known kinds, a missing file or column, an `x` that is not a grid key,
/// a `y` that is not a metric, an input the kind cannot draw (e.g. a finite-n study as bars).
pub fn build_chart(req: &PlotRequest) -> Result<Plotted> {
    let inputs = read_inputs(req)?;
    let kind = match req.kind {
        Some(k) => k,
        None => auto_kind(&inputs, req.x.is_some() || req.y.is_some())?,
    };
    check_options(req, kind)?;
    let mut chart = match kind {
        PlotKind::Bars | PlotKind::Cdf => field_chart(&inputs, kind, req)?,
        PlotKind::MeanState
        | PlotKind::L1
        | PlotKind::W1
        | PlotKind::Consistency
        | PlotKind::Exploitability => trace_chart(&inputs, kind, req)?,
        PlotKind::FiniteN => finite_n_chart(&inputs)?,
        PlotKind::NashGap => nash_gap_chart(&inputs)?,
        PlotKind::Sweep => sweep_chart(&inputs, req)?,
    };
    if let Some(t) = &req.title {
        chart.set_title(t.clone());
    }
    Ok(Plotted { chart, kind })
}

/// `--to`, `--tmfe` and `--floor` each apply to some kinds only: anything else is refused
/// rather than silently ignored.
fn check_options(req: &PlotRequest, kind: PlotKind) -> Result<()> {
    let refuse = |flag: &str, kinds: &str| {
        Err(Error::param(
            flag,
            format!("applies to --kind {kinds} only, not --kind {kind}"),
        ))
    };
    if req.to.is_some() && !matches!(kind, PlotKind::L1 | PlotKind::W1) {
        return refuse("--to", "l1 or w1");
    }
    if req.floor.is_some() && kind != PlotKind::L1 {
        return refuse("--floor", "l1");
    }
    if req.tmfe {
        let ok = match kind {
            PlotKind::MeanState | PlotKind::Cdf => true,
            PlotKind::L1 | PlotKind::W1 => req.to.is_some(),
            _ => false,
        };
        if !ok {
            return refuse("--tmfe", "mean-state, cdf, or l1 / w1 with --to");
        }
    }
    Ok(())
}

/// The mean field a `--to` reference stands for (see [`PlotRequest::to`]).
fn reference_field(path: &Path) -> Result<Vec<f64>> {
    let dir = input_dir(path)?;
    let bad = |reason: &str| Error::Input {
        path: dir.clone(),
        key: "--to".into(),
        reason: reason.into(),
    };
    match detect(&dir)? {
        InputKind::Solve => {
            let fields = solve_branches(&dir)
                .iter()
                .map(|(_, d)| solve_field(d))
                .collect::<Result<Vec<_>>>()?;
            match fields.as_slice() {
                [z] => Ok(z.clone()),
                [a, b]
                    if a.len() == b.len()
                        && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= COINCIDE) =>
                {
                    Ok(a.clone())
                }
                [] => Err(bad(
                    "a solve output without equilibrium.parquet (unfinished?)",
                )),
                _ => Err(bad(
                    "two different extremal T-MFE: name one, e.g. DIR/least or DIR/greatest",
                )),
            }
        }
        InputKind::Learn => learn_final_field(&dir),
        InputKind::Sweep => {
            let s = read_sweep(&dir)?;
            if s.run_kind()? != InputKind::Learn {
                return Err(bad("a sweep of solve or finite-n runs: give a learn sweep"));
            }
            let fields = (0..s.runs.len())
                .map(|i| s.run_dir(i))
                .filter(|d| d.join(crate::output::SUMMARY_FILE).is_file())
                .map(|d| learn_final_field(&d))
                .collect::<Result<Vec<_>>>()?;
            if fields.is_empty() {
                return Err(bad("no finished run (no runs/<id>/summary.json)"));
            }
            Ok(mean_sd_vectors(&dir, &fields)?
                .into_iter()
                .map(|(m, _)| m)
                .collect())
        }
        InputKind::FiniteN | InputKind::NashGap => Err(bad(
            "a finite-n or nash-gap study has no mean field to compare with",
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Series of runs: final mean fields and per-iteration traces

/// A series before it is drawn: runs of one kind (one per seed), averaged.
struct Item {
    name: String,
    kind: InputKind,
    /// One directory per seed (for solve: the branch directory).
    dirs: Vec<PathBuf>,
    /// An exact T-BR result (drawn in black / grey).
    exact: bool,
    /// The greatest of two extremal branches (grey, or dashed).
    greatest: bool,
}

fn dir_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn branch_name(branch: &str) -> &'static str {
    match branch {
        "least" => "least T-MFE",
        "greatest" => "greatest T-MFE",
        _ => "T-MFE (exact T-BR)",
    }
}

/// The name of a solve run's series: [`branch_name`] when the run converged (its files say
/// so in their footers), else what it is: an end point that is not an equilibrium.
fn solve_item_name(branch: &str, dir: &Path) -> String {
    let table = crate::output::read_parquet(&dir.join(crate::output::EQUILIBRIUM_FILE)).ok();
    let meta = |k: &str| {
        table
            .as_ref()
            .and_then(|t| t.metadata(k).map(str::to_owned))
    };
    let algo = meta(crate::output::KEY_ALGO).unwrap_or_else(|| "tbr".into());
    let converged = meta(crate::output::KEY_CONVERGED).is_none_or(|c| c == "true");
    let mixed = meta(crate::output::KEY_MIXED).is_some_and(|c| c == "true");
    let start = match branch {
        "least" => "lowest-start ",
        "greatest" => "highest-start ",
        _ => "",
    };
    match (converged, algo.as_str()) {
        (true, "tbr") => branch_name(branch).into(),
        (true, a) if mixed => format!("{start}mixed equilibrium ({a})"),
        (true, a) => format!("{start}T-MFE ({a})"),
        (false, a) => format!("{start}{a} end point, NOT converged (not an equilibrium)"),
    }
}

fn wrong_input(input: &Input, kind: PlotKind, what: &str) -> Error {
    Error::Input {
        path: input.path().to_path_buf(),
        key: "(directory)".into(),
        reason: format!("--kind {kind} cannot draw {what}"),
    }
}

/// The items of one input, labelled (the `--label` override applied).
fn items(input: &Input, kind: PlotKind) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    match &input.source {
        Source::Solve(dir) => {
            for (b, d) in solve_branches(dir) {
                out.push(Item {
                    name: solve_item_name(b, &d),
                    kind: InputKind::Solve,
                    dirs: vec![d],
                    exact: true,
                    greatest: b == "greatest",
                });
            }
        }
        Source::Learn(dir) => out.push(Item {
            name: learn_label(dir).unwrap_or_else(|| dir_name(dir)),
            kind: InputKind::Learn,
            dirs: vec![dir.clone()],
            exact: false,
            greatest: false,
        }),
        Source::FiniteN(_) => {
            return Err(wrong_input(
                input,
                kind,
                "a finite-n study (use --kind finite-n)",
            ))
        }
        Source::NashGap(_) => {
            return Err(wrong_input(
                input,
                kind,
                "a nash-gap study (use --kind nash-gap)",
            ))
        }
        Source::Sweep(s) => {
            let run_kind = s.run_kind()?;
            if run_kind == InputKind::FiniteN {
                return Err(wrong_input(
                    input,
                    kind,
                    "a finite-n sweep (use --kind finite-n, or --kind sweep --y rate)",
                ));
            }
            // Only finished runs (summary.json is written last), so a running sweep plots.
            let mut groups = s.groups();
            for g in &mut groups {
                g.runs
                    .retain(|&i| s.run_dir(i).join(crate::output::SUMMARY_FILE).is_file());
            }
            groups.retain(|g| !g.runs.is_empty());
            if groups.is_empty() {
                return Err(Error::Input {
                    path: s.dir.join("runs"),
                    key: "(directory)".into(),
                    reason: "no finished run (no runs/<id>/summary.json)".into(),
                });
            }
            let single = groups.len() == 1;
            for g in groups {
                let mut name = if g.label.is_empty() {
                    dir_name(&s.dir)
                } else {
                    g.label.clone()
                };
                if single && !g.label.is_empty() && input.label.is_none() {
                    name = g.label.clone();
                }
                match run_kind {
                    InputKind::Solve => {
                        let first = s.run_dir(g.runs[0]);
                        for (b, _) in solve_branches(&first) {
                            let dirs = g
                                .runs
                                .iter()
                                .map(|&i| {
                                    let d = s.run_dir(i);
                                    if b.is_empty() {
                                        d
                                    } else {
                                        d.join(b)
                                    }
                                })
                                .collect();
                            let n = if b.is_empty() {
                                name.clone()
                            } else {
                                format!("{name}, {}", branch_name(b))
                            };
                            out.push(Item {
                                name: n,
                                kind: InputKind::Solve,
                                dirs,
                                exact: false,
                                greatest: b == "greatest",
                            });
                        }
                        if solve_branches(&first).is_empty() {
                            return Err(Error::Input {
                                path: first,
                                key: "(directory)".into(),
                                reason: "a solve run without equilibrium.parquet (unfinished?)"
                                    .into(),
                            });
                        }
                    }
                    _ => out.push(Item {
                        name,
                        kind: InputKind::Learn,
                        dirs: g.runs.iter().map(|&i| s.run_dir(i)).collect(),
                        exact: false,
                        greatest: false,
                    }),
                }
            }
        }
    }
    // An empty label keeps the series' own names (a placeholder to label a later input).
    if let Some(l) = input.label.as_ref().filter(|l| !l.is_empty()) {
        if out.len() == 1 {
            out[0].name = l.clone();
        } else {
            for it in &mut out {
                it.name = format!("{l}: {}", it.name);
            }
        }
    }
    Ok(out)
}

/// ` (mean ± 1 sd over 5 seeds)` when some series average several runs.
/// The items of every input. Several sweeps (or several solve outputs) without `--label`
/// prefix their series with the directory name, as their names may repeat; several solve
/// outputs take palette colours instead of black and grey.
fn all_items(inputs: &[Input], kind: PlotKind) -> Result<Vec<Vec<Item>>> {
    let sweeps = inputs
        .iter()
        .filter(|i| i.kind() == InputKind::Sweep)
        .count();
    let solves = inputs
        .iter()
        .filter(|i| i.kind() == InputKind::Solve)
        .count();
    inputs
        .iter()
        .map(|input| {
            let mut its = items(input, kind)?;
            if let Source::Sweep(s) = &input.source {
                if sweeps > 1 && input.label.is_none() {
                    for it in &mut its {
                        it.name = format!("{}: {}", dir_name(&s.dir), it.name);
                    }
                }
            }
            if solves > 1 && input.kind() == InputKind::Solve {
                for it in &mut its {
                    it.exact = false;
                    if input.label.is_none() {
                        it.name = format!("{}: {}", dir_name(input.path()), it.name);
                    }
                }
            }
            Ok(its)
        })
        .collect()
}

fn seeds_note(items: &[Item]) -> String {
    let counts: Vec<usize> = items
        .iter()
        .map(|i| i.dirs.len())
        .filter(|&n| n > 1)
        .collect();
    match counts.first() {
        None => String::new(),
        Some(&n) if counts.iter().all(|&c| c == n) => format!(" (mean ± 1 sd over {n} seeds)"),
        Some(_) => " (mean ± 1 sd over the seeds)".into(),
    }
}

fn color_of(item: &Item) -> Option<(u8, u8, u8)> {
    match (item.exact, item.greatest) {
        (true, false) => Some((0, 0, 0)),
        (true, true) => Some((130, 130, 130)),
        _ => None,
    }
}

fn field_of(item: &Item, dir: &Path) -> Result<Vec<f64>> {
    match item.kind {
        InputKind::Solve => solve_field(dir),
        _ => learn_final_field(dir),
    }
}

fn cdf(z: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    z.iter()
        .map(|p| {
            acc += p;
            acc
        })
        .collect()
}

/// Largest |z_least(s) − z_greatest(s)| at which two extremal T-MFE count as one (T-BR stops
/// at a tolerance, so equal equilibria differ in the last digits).
const COINCIDE: f64 = 1e-8;

fn field_chart(inputs: &[Input], kind: PlotKind, req: &PlotRequest) -> Result<Chart> {
    let mut all = Vec::new();
    for (input, mut its) in inputs.iter().zip(all_items(inputs, kind)?) {
        // A solve run whose least and greatest T-MFE coincide shows one series.
        if let (Source::Solve(_), [a, b]) = (&input.source, its.as_slice()) {
            let (za, zb) = (solve_field(&a.dirs[0])?, solve_field(&b.dirs[0])?);
            let same =
                za.len() == zb.len() && za.iter().zip(&zb).all(|(x, y)| (x - y).abs() <= COINCIDE);
            if same {
                let name = match &input.label {
                    Some(l) => l.clone(),
                    None => "T-MFE (least = greatest)".into(),
                };
                its.truncate(1);
                its[0].name = name;
            }
        }
        all.extend(its);
    }
    let shared = shared_tmfe(&all, req.tmfe)?;
    let colors = companion_colors(&all, req.tmfe && shared.is_none());
    let mut series = Vec::new();
    let mut states = 0;
    for (item, &color) in all.iter().zip(&colors) {
        let fields = item
            .dirs
            .iter()
            .map(|d| {
                let z = field_of(item, d)?;
                Ok(if kind == PlotKind::Cdf { cdf(&z) } else { z })
            })
            .collect::<Result<Vec<_>>>()?;
        let stats = mean_sd_vectors(&item.dirs[0], &fields)?;
        states = states.max(stats.len());
        let points = stats
            .iter()
            .enumerate()
            .map(|(s, &(m, _))| (s as f64, m))
            .collect();
        // A fraction of agents (or a CDF) stays in [0, 1]: the ±sd bar is clipped there.
        let spread = if item.dirs.len() > 1 {
            stats
                .iter()
                .map(|&(m, sd)| ((m - sd).max(0.0), (m + sd).min(1.0)))
                .collect()
        } else {
            Vec::new()
        };
        series.push(Series {
            label: item.name.clone(),
            mark: if kind == PlotKind::Cdf {
                Mark::Step
            } else {
                Mark::Bars
            },
            points,
            spread,
            dashed: kind == PlotKind::Cdf && item.greatest,
            dotted: false,
            hollow: false,
            color,
        });
        if req.tmfe && shared.is_none() && item.kind == InputKind::Learn {
            let t = learn_tmfe(&item.dirs[0])?;
            series.push(tmfe_cdf(tmfe_label(item, &t), &t, color));
        }
    }
    if let Some(t) = &shared {
        series.push(tmfe_cdf(shared_tmfe_label(t), t, Some((0, 0, 0))));
    }
    let note = seeds_note(&all);
    let (title, y_label) = if kind == PlotKind::Cdf {
        (
            format!("CDF of the final mean field{note}"),
            "F(s) = z(0) + … + z(s) (fraction of agents)".to_string(),
        )
    } else {
        (
            format!("Final mean field{note}"),
            "z(s) (fraction of agents)".to_string(),
        )
    };
    Ok(Chart::Figure(Figure {
        title,
        x_label: "state s".into(),
        y_label,
        y_scale: YScale::Linear,
        x_categories: Vec::new(),
        x_integer: true,
        x_log: false,
        y_from_zero: true,
        series,
    }))
}

/// The first and last x of a series (`(0, 1)` when it has none).
fn item_x_range(s: Option<&Series>) -> (f64, f64) {
    match s.map(|s| s.points.as_slice()) {
        Some([first, .., last]) => (first.0, last.0),
        Some([only]) => (only.0, only.0 + 1.0),
        _ => (0.0, 1.0),
    }
}

/// Where `--kind exploitability` draws values below it (zero up to the solvers' accuracy).
const EXPLOITABILITY_FLOOR: f64 = 1e-10;

/// Each item's colour: [`color_of`], or with companion series (`--tmfe`, `--floor`) the
/// palette colour a learn item would take anyway, made explicit so that its companions share it.
fn companion_colors(all: &[Item], companions: bool) -> Vec<Option<(u8, u8, u8)>> {
    let mut auto = 0;
    all.iter()
        .map(|item| match color_of(item) {
            Some(c) => Some(c),
            None if companions => {
                let RGBColor(r, g, b) = PALETTE[auto % AUTO];
                auto += 1;
                Some((r, g, b))
            }
            None => None,
        })
        .collect()
}

/// With `--tmfe`: the T-MFE every learn series shares (the same z*, e.g. several algorithms
/// on one scenario), drawn once in black; `None` when there is one learn series or they
/// differ (each then draws its own in its colour).
fn shared_tmfe(all: &[Item], tmfe: bool) -> Result<Option<LearnTmfe>> {
    if !tmfe {
        return Ok(None);
    }
    let ts = all
        .iter()
        .filter(|it| it.kind == InputKind::Learn)
        .map(|it| learn_tmfe(&it.dirs[0]))
        .collect::<Result<Vec<_>>>()?;
    let same = |a: &LearnTmfe, b: &LearnTmfe| {
        a.converged == b.converged
            && a.z.len() == b.z.len()
            && a.z.iter().zip(&b.z).all(|(x, y)| (x - y).abs() <= COINCIDE)
    };
    Ok(match ts.split_first() {
        Some((first, rest)) if !rest.is_empty() && rest.iter().all(|t| same(first, t)) => {
            Some(first.clone())
        }
        _ => None,
    })
}

/// The legend name of a T-MFE every series shares.
fn shared_tmfe_label(t: &LearnTmfe) -> String {
    if t.converged {
        "T-MFE z* (exact T-BR)".into()
    } else {
        "T-BR end point, NOT converged (not an equilibrium)".into()
    }
}

/// The dashed CDF of a series' T-MFE.
fn tmfe_cdf(label: String, t: &LearnTmfe, color: Option<(u8, u8, u8)>) -> Series {
    Series {
        label,
        mark: Mark::Step,
        points: cdf(&t.z)
            .into_iter()
            .enumerate()
            .map(|(s, f)| (s as f64, f))
            .collect(),
        dashed: true,
        color,
        ..Series::default()
    }
}

/// The legend name of a learn series' own T-MFE (`--tmfe`).
fn tmfe_label(item: &Item, t: &LearnTmfe) -> String {
    if t.converged {
        format!("{}: its T-MFE", item.name)
    } else {
        format!("{}: T-BR end point, NOT converged", item.name)
    }
}

fn trace_chart(inputs: &[Input], kind: PlotKind, req: &PlotRequest) -> Result<Chart> {
    let metric = match kind {
        PlotKind::MeanState => Metric::MeanState,
        PlotKind::L1 => Metric::L1,
        PlotKind::W1 => Metric::W1,
        PlotKind::Consistency => Metric::Consistency,
        _ => Metric::Exploitability,
    };
    let all: Vec<Item> = all_items(inputs, kind)?.into_iter().flatten().collect();
    let reference = req.to.as_deref().map(reference_field).transpose()?;
    let floors = req.floor.as_deref().map(read_finite_n_series).transpose()?;
    let shared = shared_tmfe(&all, req.tmfe && kind == PlotKind::MeanState)?;
    let colors = companion_colors(&all, (req.tmfe && shared.is_none()) || floors.is_some());
    let mut series = Vec::new();
    let mut x_range = (f64::INFINITY, f64::NEG_INFINITY);
    for (item, &color) in all.iter().zip(&colors) {
        let (traces, to_tmfe) = match (&reference, item.kind) {
            (Some(r), InputKind::Learn) => {
                let to_ref = item
                    .dirs
                    .iter()
                    .map(|d| learn_trace_to(d, metric, r))
                    .collect::<Result<Vec<_>>>()?;
                let to_tmfe = if req.tmfe {
                    Some(
                        item.dirs
                            .iter()
                            .map(|d| learn_trace(d, metric))
                            .collect::<Result<Vec<_>>>()?,
                    )
                } else {
                    None
                };
                (to_ref, to_tmfe)
            }
            _ => (
                item.dirs
                    .iter()
                    .map(|d| match item.kind {
                        InputKind::Solve => solve_trace(d, metric),
                        _ => learn_trace(d, metric),
                    })
                    .collect::<Result<Vec<_>>>()?,
                None,
            ),
        };
        let color = color.map(|c| if item.exact { (0, 0, 0) } else { c });
        let several = item.dirs.len() > 1;
        let mut push = |label: String, traces: &[Vec<(f64, f64)>], dashed: bool| {
            let stats = mean_sd_traces(traces);
            for &(k, _, _) in &stats {
                x_range = (x_range.0.min(k), x_range.1.max(k));
            }
            series.push(Series {
                label,
                mark: Mark::Line,
                points: stats.iter().map(|&(k, m, _)| (k, m)).collect(),
                spread: if several {
                    stats.iter().map(|&(_, m, sd)| (m - sd, m + sd)).collect()
                } else {
                    Vec::new()
                },
                dashed,
                color,
                ..Series::default()
            });
        };
        match to_tmfe {
            Some(t) => {
                push(format!("{}: to z_ref", item.name), &traces, false);
                push(format!("{}: to its z*", item.name), &t, true);
            }
            None => push(item.name.clone(), &traces, item.greatest),
        }
        if req.tmfe
            && shared.is_none()
            && kind == PlotKind::MeanState
            && item.kind == InputKind::Learn
        {
            let t = learn_tmfe(&item.dirs[0])?;
            let (x0, x1) = item_x_range(series.last());
            series.push(Series {
                label: tmfe_label(item, &t),
                mark: Mark::Line,
                points: vec![(x0, t.mean_state), (x1, t.mean_state)],
                dashed: true,
                color,
                ..Series::default()
            });
        }
    }
    if let (Some(t), PlotKind::MeanState) = (&shared, kind) {
        if x_range.0 <= x_range.1 {
            series.push(Series {
                label: shared_tmfe_label(t),
                mark: Mark::Line,
                points: vec![(x_range.0, t.mean_state), (x_range.1, t.mean_state)],
                dashed: true,
                color: Some((0, 0, 0)),
                ..Series::default()
            });
        }
    }
    if let Some(floors) = floors {
        // Each N of the study: a dotted level line across the chart, in the colour of the
        // learn series with the same N (grey when none has it).
        let (x0, x1) = if x_range.0 <= x_range.1 {
            x_range
        } else {
            (0.0, 1.0)
        };
        for &(n, l1, _, _) in &floors.points {
            let color = all
                .iter()
                .zip(&colors)
                .find(|(it, _)| {
                    it.kind == InputKind::Learn
                        && learn_agents(&it.dirs[0]).is_some_and(|a| a as f64 == n)
                })
                .and_then(|(_, c)| *c)
                .unwrap_or((120, 120, 120));
            series.push(Series {
                label: format!("finite-N floor at N = {n} (to z*)"),
                mark: Mark::Line,
                points: vec![(x0, l1), (x1, l1)],
                dotted: true,
                color: Some(color),
                ..Series::default()
            });
        }
    }
    // Exploitabilities below the solvers' accuracy (4·tq_tol/(1 − γ) = 4·10⁻¹¹ by default)
    // are zero up to rounding, and may be exactly 0 or a tiny negative: a log axis would drop
    // them silently (a gap, or a dip of the seed mean) and stretch itself to fit. They are
    // drawn at the floor instead, and the axis says so.
    let mut floored = false;
    if kind == PlotKind::Exploitability {
        for s in &mut series {
            // The points only: a band whose lower edge is at or below 0 (mean − sd) keeps
            // the log axis's rule (not drawn there) rather than a wall down to the floor.
            for p in s.points.iter_mut().map(|p| &mut p.1) {
                if *p < EXPLOITABILITY_FLOOR {
                    floored = true;
                    *p = EXPLOITABILITY_FLOOR;
                }
            }
        }
    }
    let note = seeds_note(&all);
    let (title, y_label, y_scale) = match kind {
        PlotKind::MeanState => (
            format!("Mean state against iteration{note}"),
            "mean state Σₛ s·zₖ(s)",
            YScale::Linear,
        ),
        PlotKind::L1 if reference.is_some() => (
            format!("L1 distance to the reference mean field against iteration{note}"),
            if req.tmfe {
                "L1 distance ‖zₖ − z_ref‖₁ (solid), ‖zₖ − z*‖₁ (dashed)"
            } else {
                "L1 distance to the reference, ‖zₖ − z_ref‖₁"
            },
            YScale::Log,
        ),
        PlotKind::L1 => (
            format!("L1 distance to the T-MFE against iteration{note}"),
            "L1 distance to z*, ‖zₖ − z*‖₁",
            YScale::Log,
        ),
        PlotKind::W1 if reference.is_some() => (
            format!("Wasserstein-1 distance to the reference mean field against iteration{note}"),
            if req.tmfe {
                "W₁ distance to z_ref (solid), to z* (dashed)"
            } else {
                "W₁ distance to the reference, Σₜ |Fₖ(t) − F_ref(t)|"
            },
            YScale::Log,
        ),
        PlotKind::W1 => (
            format!("Wasserstein-1 distance to the T-MFE against iteration{note}"),
            "W₁ distance to z*, Σₜ |Fₖ(t) − F*(t)| (F the CDFs)",
            YScale::Log,
        ),
        PlotKind::Consistency => (
            format!("Consistency of the mean field against iteration{note}"),
            "consistency ‖Φ(zₖ, μₖ) − zₖ‖₁",
            YScale::Log,
        ),
        _ => (
            format!("Exploitability against iteration{note}"),
            "exploitability maxₛ V*(s) − V^μₖ(s)",
            YScale::Log,
        ),
    };
    let y_label = if floored {
        format!("{y_label} (< 10⁻¹⁰ drawn at 10⁻¹⁰)")
    } else {
        y_label.to_string()
    };
    Ok(Chart::Figure(Figure {
        title,
        x_label: "iteration k".into(),
        y_label,
        y_scale,
        x_categories: Vec::new(),
        x_integer: true,
        x_log: false,
        y_from_zero: false,
        series,
    }))
}

// ---------------------------------------------------------------------------------------
// Finite-N

fn finite_n_chart(inputs: &[Input]) -> Result<Chart> {
    let mut series = Vec::new();
    for input in inputs {
        let mut its = Vec::new();
        match &input.source {
            Source::FiniteN(dir) => its.push(read_finite_n_series(dir)?),
            Source::Sweep(s) if s.run_kind()? == InputKind::FiniteN => {
                let groups = s.groups();
                for g in groups {
                    for &i in &g.runs {
                        let mut one = read_finite_n_series(&s.run_dir(i))?;
                        let seed = format!("seed {}", s.runs[i].seed);
                        one.label = if g.label.is_empty() {
                            seed
                        } else {
                            format!("{}, {seed}", g.label)
                        };
                        its.push(one);
                    }
                }
            }
            _ => {
                return Err(wrong_input(
                    input,
                    PlotKind::FiniteN,
                    &format!("a {} output", input.run_kind()?.command()),
                ))
            }
        }
        if let Some(l) = &input.label {
            if its.len() == 1 {
                its[0].label = l.clone();
            } else {
                for s in &mut its {
                    s.label = format!("{l}: {}", s.label);
                }
            }
        }
        series.extend(its);
    }
    Ok(Chart::LogLog(LogLogPlot {
        title: "finite-N error against the mean-field limit".into(),
        x_label: "N (agents)".into(),
        y_label: "time-average ||z^N_t - z*||_1".into(),
        series,
        reference_slope: Some(-0.5),
    }))
}

// ---------------------------------------------------------------------------------------
// ε-Nash gap

fn nash_gap_chart(inputs: &[Input]) -> Result<Chart> {
    let mut series = Vec::new();
    let mut limits = Vec::new();
    for input in inputs {
        let Source::NashGap(dir) = &input.source else {
            return Err(wrong_input(
                input,
                PlotKind::NashGap,
                &format!("a {} output", input.run_kind()?.command()),
            ));
        };
        let (mut one, limit) = read_nash_gap_series(dir)?;
        if let Some(l) = &input.label {
            one.label = l.clone();
        }
        // μ's mean-field exploitability: the N → ∞ limit, drawn as a flat line when positive.
        if limit > 1e-10 {
            limits.push(LogLogSeries {
                label: format!("{}: mean-field limit", one.label),
                points: one
                    .points
                    .iter()
                    .map(|p| (p.0, limit, limit, limit))
                    .collect(),
                fit: Some((0.0, limit.ln())),
            });
        }
        series.push(one);
    }
    series.extend(limits);
    Ok(Chart::LogLog(LogLogPlot {
        title: "epsilon-Nash gap of the mean-field strategy among N agents".into(),
        x_label: "N (agents)".into(),
        y_label: "gap: best own-state deviation's gain (max over s0)".into(),
        series,
        reference_slope: Some(-1.0),
    }))
}

// ---------------------------------------------------------------------------------------
// Sweep metric against a grid key

/// The axis label of a sweep metric, with its meaning and unit.
fn metric_label(name: &str) -> String {
    let known = match name {
        "mean_state" | "final_mean_state" => "mean state Σₛ s·z(s)",
        "tmfe_mean_state" => "T-MFE mean state Σₛ s·z*(s)",
        "final_l1_to_tmfe" => "final L1 distance to z*, ‖z − z*‖₁",
        "final_w1_to_tmfe" => "final W₁ distance to z*, Σₜ |F(t) − F*(t)|",
        "final_consistency" => "final consistency ‖Φ(z, μ) − z‖₁",
        "exploitability" | "final_exploitability" => "exploitability maxₛ V*(s) − V^μ(s)",
        "final_exploitability_weighted" => "z-weighted exploitability Σₛ z(s)(V* − V^μ)(s)",
        "iterations" => "T-BR iterations",
        "converged" => "converged (fraction of seeds)",
        "seconds" => "wall time (s)",
        "rate" => "fitted rate: slope of log ‖z^N − z*‖₁ in log N",
        _ => "",
    };
    if known.is_empty() {
        name.to_string()
    } else {
        format!("{known} [{name}]")
    }
}

fn default_x(s: &Sweep) -> Result<String> {
    let varying: Vec<&str> = s
        .grid
        .iter()
        .filter(|g| g.values.len() > 1)
        .map(|g| g.key.as_str())
        .collect();
    match varying.as_slice() {
        [one] => Ok((*one).to_string()),
        _ => Err(Error::Input {
            path: s.dir.join("sweep.json"),
            key: "--x".into(),
            reason: format!(
                "give --x KEY, the grid key for the x axis (the grid keys: {})",
                s.grid
                    .iter()
                    .map(|g| g.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

fn sweep_chart(inputs: &[Input], req: &PlotRequest) -> Result<Chart> {
    let sweeps: Vec<(&Sweep, Option<&String>)> = inputs
        .iter()
        .map(|i| match &i.source {
            Source::Sweep(s) => Ok((s, i.label.as_ref())),
            _ => Err(wrong_input(
                i,
                PlotKind::Sweep,
                &format!(
                    "a {} output: it draws sweep directories (sweep.json)",
                    i.kind().command()
                ),
            )),
        })
        .collect::<Result<_>>()?;
    let x_key = match &req.x {
        Some(x) => x.clone(),
        None => default_x(sweeps[0].0)?,
    };
    let mut series = Vec::new();
    let mut categories: Vec<String> = Vec::new();
    let mut branches_drawn = false;
    let mut not_converged = 0usize;
    let mut y_names: Vec<String> = Vec::new();
    let mut max_seeds = 1;
    let mut line = 0usize;
    for (s, label) in &sweeps {
        let xi = s.key_index(&x_key)?;
        let x_values = &s.grid[xi].values;
        let numeric = x_values.iter().all(Value::is_number);
        if !numeric && categories.is_empty() {
            categories = x_values.iter().map(value_text).collect();
        }
        let y = match &req.y {
            Some(y) => y.clone(),
            None => match s.command.as_str() {
                "learn" => "final_l1_to_tmfe".into(),
                "finite-n" => "rate".into(),
                _ => "mean_state".into(),
            },
        };
        // A solve sweep from extremal starts has least_Y and greatest_Y instead of Y.
        let have = s.columns()?;
        let (least, greatest) = (format!("least_{y}"), format!("greatest_{y}"));
        let branches = !have.contains(&y) && have.contains(&least) && have.contains(&greatest);
        let columns: Vec<(String, &str)> = if branches {
            branches_drawn |= y == "mean_state";
            vec![(least, "least T-MFE"), (greatest, "greatest T-MFE")]
        } else {
            vec![(y.clone(), "")]
        };
        // A solve sweep records per run (branch) whether it converged (points that did not
        // are end points, not equilibria, drawn hollow) and whether its equilibrium is mixed
        // (isolated points, drawn unjoined).
        let solve_flag = |suffix: &str| -> Result<Vec<Option<Vec<f64>>>> {
            columns
                .iter()
                .map(|(c, _)| {
                    let col = match c.strip_suffix(&format!("_{y}")) {
                        Some(branch) if branches => format!("{branch}_{suffix}"),
                        _ => suffix.to_string(),
                    };
                    if s.command == "solve" && have.contains(&col) {
                        s.metric(&col).map(Some)
                    } else {
                        Ok(None)
                    }
                })
                .collect()
        };
        let flags = solve_flag("converged")?;
        let mixed = solve_flag("mixed")?;
        if !y_names.contains(&y) {
            y_names.push(y.clone());
        }
        let values = columns
            .iter()
            .map(|(c, _)| s.metric(c))
            .collect::<Result<Vec<_>>>()?;
        // Lines: combinations of the other grid keys' values, in run order.
        let mut lines: Vec<(Vec<Value>, String)> = Vec::new();
        for r in &s.runs {
            let other: Vec<Value> = r
                .values
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != xi)
                .map(|(_, v)| v.clone())
                .collect();
            if !lines.iter().any(|(o, _)| *o == other) {
                let name = s
                    .grid
                    .iter()
                    .enumerate()
                    .filter(|&(k, g)| k != xi && g.values.len() > 1)
                    .map(|(k, g)| grid_label(&g.key, &r.values[k]))
                    .collect::<Vec<_>>()
                    .join(", ");
                lines.push((other, name));
            }
        }
        // One colour per line; with a single line the two branches get two colours.
        let split_colors = lines.len() == 1;
        for (other, name) in &lines {
            for (b, ((_, branch), vals)) in columns.iter().zip(&values).enumerate() {
                let color = PALETTE[(line + if split_colors { b } else { 0 }) % AUTO];
                let mut points = Vec::new();
                let mut spread = Vec::new();
                let mut ended = Vec::new();
                // Per drawn point: this branch's mean and the other branch's (extremal sweeps).
                let mut pair_means = Vec::new();
                for (j, xv) in x_values.iter().enumerate() {
                    let at: Vec<usize> = s
                        .runs
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| {
                            r.values[xi] == *xv
                                && r.values
                                    .iter()
                                    .enumerate()
                                    .filter(|&(k, _)| k != xi)
                                    .map(|(_, v)| v)
                                    .eq(other.iter())
                        })
                        .map(|(i, _)| i)
                        .collect();
                    let ys: Vec<f64> = at.iter().map(|&i| vals[i]).collect();
                    if ys.is_empty() {
                        continue;
                    }
                    max_seeds = max_seeds.max(ys.len());
                    let (m, sd) = mean_sd(&ys);
                    let m_other = if branches {
                        let o: Vec<f64> = at.iter().map(|&i| values[1 - b][i]).collect();
                        mean_sd(&o).0
                    } else {
                        m
                    };
                    pair_means.push((m, m_other));
                    // Converged only when every seed's run at this x converged.
                    let converged = flags[b].as_ref().is_none_or(|f| {
                        s.runs.iter().enumerate().all(|(i, r)| {
                            r.values[xi] != *xv
                                || !r
                                    .values
                                    .iter()
                                    .enumerate()
                                    .filter(|&(k, _)| k != xi)
                                    .map(|(_, v)| v)
                                    .eq(other.iter())
                                || f[i] == 1.0
                        })
                    });
                    let x = if numeric {
                        xv.as_f64().unwrap_or(f64::NAN)
                    } else {
                        categories
                            .iter()
                            .position(|c| *c == value_text(xv))
                            .unwrap_or(j) as f64
                    };
                    if converged {
                        points.push((x, m));
                        spread.push((m - sd, m + sd));
                    } else {
                        // A gap in the line, and a hollow marker.
                        points.push((x, f64::NAN));
                        spread.push((f64::NAN, f64::NAN));
                        ended.push((x, m));
                    }
                }
                // Where the number of equilibria changes between two grid points (the least
                // and greatest coincide at one and differ at the other), the branch that jumps
                // (it moves more than the other) is not joined across the jump: a line there
                // would draw equilibria that do not exist between the grid points.
                if branches && points.len() == pair_means.len() {
                    let split = |(m, o): (f64, f64)| (m - o).abs() > 1e-6 * m.abs().max(1.0);
                    let mut joined = Vec::with_capacity(points.len());
                    let mut joined_spread = Vec::with_capacity(points.len());
                    for k in 0..points.len() {
                        joined.push(points[k]);
                        joined_spread.push(spread[k]);
                        if let (Some(&now), Some(&next)) =
                            (pair_means.get(k), pair_means.get(k + 1))
                        {
                            let jumps = split(now) != split(next)
                                && (next.0 - now.0).abs() > (next.1 - now.1).abs();
                            if jumps {
                                joined.push((points[k].0, f64::NAN));
                                joined_spread.push((f64::NAN, f64::NAN));
                            }
                        }
                    }
                    points = joined;
                    spread = joined_spread;
                }
                // Mixed equilibria (fictitious play, mirror descent) are isolated points, found
                // where T-BR cycles: markers only, no line joining them across the grid.
                if mixed[b].as_ref().is_some_and(|m| m.contains(&1.0)) {
                    points = points
                        .into_iter()
                        .flat_map(|p| [p, (p.0, f64::NAN)])
                        .collect();
                    spread = spread.into_iter().flat_map(|q| [q, q]).collect();
                }
                let mut parts: Vec<String> = Vec::new();
                match label {
                    // An empty label keeps the series' own names.
                    Some(l) if l.is_empty() => {}
                    Some(l) => parts.push((*l).clone()),
                    None if sweeps.len() > 1 => parts.push(dir_name(&s.dir)),
                    None => {}
                }
                if !name.is_empty() {
                    parts.push(name.clone());
                }
                if !branch.is_empty() {
                    parts.push((*branch).to_string());
                }
                // A lone series needs no legend: the y axis names it.
                let label = parts.join(", ");
                if !ended.is_empty() {
                    not_converged += ended.len();
                    let start = match *branch {
                        "least T-MFE" => "lowest-start ",
                        "greatest T-MFE" => "highest-start ",
                        _ => "",
                    };
                    let mut hollow = parts.clone();
                    hollow.retain(|p| p != branch);
                    hollow.push(format!(
                        "{start}end point, NOT converged (not an equilibrium)"
                    ));
                    series.push(Series {
                        label: hollow.join(", "),
                        mark: Mark::Points,
                        points: ended,
                        spread: Vec::new(),
                        dashed: false,
                        dotted: false,
                        hollow: true,
                        color: Some((color.0, color.1, color.2)),
                    });
                }
                series.push(Series {
                    label,
                    mark: Mark::Points,
                    points,
                    spread,
                    dashed: *branch == "greatest T-MFE",
                    dotted: false,
                    hollow: false,
                    color: Some((color.0, color.1, color.2)),
                });
            }
            line += if split_colors { columns.len() } else { 1 };
        }
    }
    let all_positive = series
        .iter()
        .flat_map(|s| s.points.iter())
        .all(|p| !p.1.is_finite() || p.1 > 0.0);
    let logish = y_names.iter().all(|y| {
        ["l1", "w1", "consistency", "exploitability"]
            .iter()
            .any(|m| y.contains(m))
    });
    let note = if max_seeds > 1 {
        format!(" (mean ± 1 sd over {max_seeds} seeds)")
    } else {
        String::new()
    };
    // A wide grid of positive numbers (e.g. N = 100, 1000, 10000) gets a log x axis.
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let x_log = categories.is_empty()
        && !xs.is_empty()
        && xs.iter().all(|&x| x > 0.0)
        && xs.iter().copied().fold(f64::MIN, f64::max)
            >= 50.0 * xs.iter().copied().fold(f64::MAX, f64::min);
    let title = match (branches_drawn, not_converged > 0) {
        (true, false) => format!("Equilibrium branches against {x_key}{note}"),
        (true, true) => format!("T-BR end points against {x_key}{note} (hollow: not converged)"),
        (false, false) => format!("{} against {x_key}{note}", y_names.join(", ")),
        (false, true) => format!(
            "{} against {x_key}{note}; hollow: did not converge",
            y_names.join(", ")
        ),
    };
    let y_label = if branches_drawn && not_converged > 0 {
        "mean state Σₛ s·z(s) of the T-BR end point".to_string()
    } else if branches_drawn {
        "T-MFE mean state Σₛ s·z*(s)".to_string()
    } else if y_names.len() == 1 {
        metric_label(&y_names[0])
    } else {
        y_names.join(", ")
    };
    Ok(Chart::Figure(Figure {
        title,
        x_label: axis_label(&x_key),
        y_label,
        y_scale: if logish && all_positive {
            YScale::Log
        } else {
            YScale::Linear
        },
        x_categories: categories,
        x_integer: false,
        x_log,
        y_from_zero: false,
        series,
    }))
}
