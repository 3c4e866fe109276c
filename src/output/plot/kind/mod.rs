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

mod runs;
mod study;
mod sweep;

use runs::{dir_name, field_chart, trace_chart, wrong_input, COINCIDE};
use study::{finite_n_chart, nash_gap_chart};
use sweep::sweep_chart;

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

/// A chart kind of `mfgsim plot` (see the module table). With the `cli` feature it is also
/// the `--kind` value (its doc lines are the help).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PlotKind {
    /// Final mean field z(s) as bars, one colour per series side by side.
    Bars,
    /// CDF of the final mean field, F(s) = sum of z(s') over s' <= s.
    Cdf,
    /// Mean state sum_s s z_k(s) against iteration k.
    MeanState,
    /// L1 distance ||z_k - z*||_1 to the T-MFE against iteration (log y).
    L1,
    /// Wasserstein-1 distance to the T-MFE on the ordered states, W1 = sum over t < S-1 of
    /// |F_k(t) - F*(t)| (F the CDFs), against iteration (log y).
    W1,
    /// Consistency ||Phi(z_k, mu_k) - z_k||_1 against iteration (log y; learn runs only).
    Consistency,
    /// Exploitability of the strategy mu_k against iteration (log y; learn runs only).
    Exploitability,
    /// The finite-N chart: time-average error against N, log-log, with the fitted rate.
    FiniteN,
    /// The epsilon-Nash gap against N, log-log, with the fitted rate and the mean-field limit.
    NashGap,
    /// A sweep.parquet metric (--y) against a grid key (--x).
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
pub(super) enum Source {
    Solve(PathBuf),
    Learn(PathBuf),
    FiniteN(PathBuf),
    NashGap(PathBuf),
    Sweep(Sweep),
}

pub(super) struct Input {
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

pub(super) fn read_inputs(req: &PlotRequest) -> Result<Vec<Input>> {
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
                || name == crate::output::MANIFEST_FILE
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

pub(super) fn auto_kind(inputs: &[Input], x_or_y_given: bool) -> Result<PlotKind> {
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
pub(super) fn check_options(req: &PlotRequest, kind: PlotKind) -> Result<()> {
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
pub(super) fn reference_field(path: &Path) -> Result<Vec<f64>> {
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
