//! Readers that turn output directories into the numbers a chart draws.
//!
//! | directory | recognised by | what is read |
//! | --- | --- | --- |
//! | sweep (`mfgsim sweep`) | `sweep.json` | the manifest, `sweep.parquet`, each `runs/<id>/` |
//! | learn (`mfgsim learn`) | `snapshots.parquet` | per iteration: `z_0..`, `mean_state`, `l1_to_tmfe`, `w1_to_tmfe`, `consistency`, `exploitability` |
//! | solve (`mfgsim solve`) | `equilibrium.parquet`, or `least/` and `greatest/` holding one (`--start extremal`) | `equilibrium.parquet`: z*; `trajectory.parquet`: z_k and `mean_state` per T-BR iteration |
//! | finite-n (`mfgsim finite-n`) | `finite_n.parquet`, or a `summary.json` whose `command` is `finite-n` | `summary.json` (see [`read_finite_n_series`](crate::output::read_finite_n_series)) |
//! | nash-gap (`mfgsim nash-gap`) | `nash_gap.parquet`, or a `summary.json` whose `command` is `nash-gap` | `summary.json` (see [`read_nash_gap_series`](crate::output::read_nash_gap_series)) |
//!
//! A path to a file inside such a directory (e.g. a study's `summary.json`) stands for the
//! directory. Ensembles are summarised by [`mean_sd`]: the mean and the sample standard
//! deviation (divisor n − 1; 0 for a single run) over the runs' finite values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::Array;
use arrow_schema::DataType;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::output::{read_parquet, ManifestAxis, ParquetTable, SweepManifest, MANIFEST_FILE};
use crate::space::{l1_distance, wasserstein1};

/// What an input directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `mfgsim solve` output.
    Solve,
    /// `mfgsim learn` output.
    Learn,
    /// `mfgsim finite-n` output.
    FiniteN,
    /// `mfgsim nash-gap` output.
    NashGap,
    /// `mfgsim sweep` output.
    Sweep,
}

impl InputKind {
    /// The command that writes it.
    pub fn command(self) -> &'static str {
        match self {
            InputKind::Solve => "solve",
            InputKind::Learn => "learn",
            InputKind::FiniteN => "finite-n",
            InputKind::NashGap => "nash-gap",
            InputKind::Sweep => "sweep",
        }
    }
}

fn input_error(path: &Path, key: &str, reason: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        key: key.into(),
        reason: reason.into(),
    }
}

/// The directory `path` stands for: itself, or the directory of a file in it.
pub fn input_dir(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        Ok(path.to_path_buf())
    } else if path.is_file() {
        Ok(path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf())
    } else {
        Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        })
    }
}

/// Recognises the directory `dir` (see the module table).
///
/// # Errors
/// [`Error::Input`] naming `dir` when it is none of the known kinds.
pub fn detect(dir: &Path) -> Result<InputKind> {
    let has = |name: &str| dir.join(name).is_file();
    if has(MANIFEST_FILE) {
        return Ok(InputKind::Sweep);
    }
    if has(crate::output::SNAPSHOTS_FILE) {
        return Ok(InputKind::Learn);
    }
    if has(crate::output::FINITE_N_FILE) || summary_command(dir).as_deref() == Some("finite-n") {
        return Ok(InputKind::FiniteN);
    }
    if has(crate::output::NASH_GAP_FILE) || summary_command(dir).as_deref() == Some("nash-gap") {
        return Ok(InputKind::NashGap);
    }
    if !solve_branches(dir).is_empty() {
        return Ok(InputKind::Solve);
    }
    let hint = if dir.join(crate::output::SNAPSHOT_PARTS_DIR).is_dir() {
        " (snapshots.parts/ without snapshots.parquet: the learn run has not finished)"
    } else {
        ""
    };
    Err(input_error(
        dir,
        "(directory)",
        format!(
            "not an mfgsim output directory: expected sweep.json (sweep), snapshots.parquet \
             (learn), equilibrium.parquet or least/ and greatest/ (solve), or \
             finite_n.parquet (finite-n), nash_gap.parquet (nash-gap){hint}"
        ),
    ))
}

/// The `command` every `summary.json` starts with (`run::RunInfo`).
fn summary_command(dir: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        command: String,
    }
    let text = std::fs::read_to_string(dir.join(crate::output::SUMMARY_FILE)).ok()?;
    Some(serde_json::from_str::<Head>(&text).ok()?.command)
}

/// The T-BR runs of a solve directory: `("", dir)` for a single start, else `("least",
/// dir/least)` and `("greatest", dir/greatest)` (those present), each holding an
/// `equilibrium.parquet`.
pub fn solve_branches(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    if dir.join(crate::output::EQUILIBRIUM_FILE).is_file() {
        return vec![("", dir.to_path_buf())];
    }
    ["least", "greatest"]
        .into_iter()
        .map(|b| (b, dir.join(b)))
        .filter(|(_, d)| d.join(crate::output::EQUILIBRIUM_FILE).is_file())
        .collect()
}

/// The `z_0, z_1, …` columns of `table`, by index.
fn z_columns(table: &ParquetTable) -> Result<Vec<Vec<f64>>> {
    let mut idx: Vec<(usize, String)> = table
        .column_names()
        .into_iter()
        .filter_map(|n| Some((n.strip_prefix("z_")?.parse().ok()?, n.to_owned())))
        .collect();
    idx.sort();
    if idx.is_empty() || idx.iter().enumerate().any(|(i, (k, _))| i != *k) {
        return Err(Error::Output {
            path: table.path.clone(),
            reason: "no columns z_0, z_1, … (the mean field)".into(),
        });
    }
    idx.iter().map(|(_, n)| table.f64_column(n)).collect()
}

/// The final mean field of a learn run: the `z_*` of the last row of `snapshots.parquet`.
///
/// # Errors
/// [`Error::Io`] / [`Error::Output`] naming the file (missing, a missing column, no rows).
pub fn learn_final_field(dir: &Path) -> Result<Vec<f64>> {
    let t = read_parquet(&dir.join(crate::output::SNAPSHOTS_FILE))?;
    let cols = z_columns(&t)?;
    let last = t.num_rows().checked_sub(1).ok_or_else(|| Error::Output {
        path: t.path.clone(),
        reason: "no rows".into(),
    })?;
    Ok(cols.iter().map(|c| c[last]).collect())
}

/// The z* of one T-BR run directory (`equilibrium.parquet`, column `z`).
///
/// # Errors
/// [`Error::Io`] / [`Error::Output`] naming the file.
pub fn solve_field(branch_dir: &Path) -> Result<Vec<f64>> {
    read_parquet(&branch_dir.join(crate::output::EQUILIBRIUM_FILE))?.f64_column("z")
}

/// A per-iteration quantity of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Σ_s s·z_k(s).
    MeanState,
    /// ‖z_k − z*‖₁ (learn: `l1_to_tmfe`; solve: to the run's own final z).
    L1,
    /// W1(z_k, z*) = Σ_{t=0}^{S−2} |F_{z_k}(t) − F_{z*}(t)| (learn: `w1_to_tmfe`; solve: to the
    /// run's own final z).
    W1,
    /// ‖Φ(z_k, μ_k) − z_k‖₁ (learn: `consistency`; solve: `consistency_l1`).
    Consistency,
    /// max_s V*_z(s) − V_{μ_k,z}(s) (learn; solve with fp or omd).
    Exploitability,
}

impl Metric {
    /// Its `snapshots.parquet` column.
    fn learn_column(self) -> &'static str {
        match self {
            Metric::MeanState => "mean_state",
            Metric::L1 => "l1_to_tmfe",
            Metric::W1 => "w1_to_tmfe",
            Metric::Consistency => "consistency",
            Metric::Exploitability => "exploitability",
        }
    }
}

/// `(iteration, value)` of `metric` for a learn run (`snapshots.parquet`); a null reads NaN.
///
/// # Errors
/// [`Error::Io`] / [`Error::Output`] naming the file and any missing column;
/// [`Error::Input`] naming the file and the column for `w1_to_tmfe` or `consistency` missing
/// from snapshots an older mfgsim wrote.
pub fn learn_trace(dir: &Path, metric: Metric) -> Result<Vec<(f64, f64)>> {
    let path = dir.join(crate::output::SNAPSHOTS_FILE);
    let t = read_parquet(&path)?;
    let it = t.i64_column("iteration")?;
    let col = metric.learn_column();
    if matches!(metric, Metric::W1 | Metric::Consistency) && t.schema.index_of(col).is_err() {
        return Err(input_error(
            &path,
            col,
            "no such column: these snapshots were written before mfgsim recorded the \
             consistency and W1 certificates; run `mfgsim learn` again to plot them",
        ));
    }
    let v = t.f64_column(col)?;
    Ok(it.iter().map(|&k| k as f64).zip(v).collect())
}

/// `(iteration, value)` of `metric` for one solve run directory (`trajectory.parquet`):
/// the mean state, the L1 or W1 distance of each iterate to the run's own final z, the
/// consistency of each iterate, or (fp and omd only) its exploitability. Row 0 (the start)
/// has no consistency or exploitability and reads NaN.
///
/// # Errors
/// [`Error::Input`] for [`Metric::Exploitability`] of a T-BR or damped run (its strategy is
/// the best response to each z_k by construction: the exploitability there is 0) and for
/// traces written before the solver recorded them; [`Error::Io`] / [`Error::Output`] naming
/// the file and any missing column.
pub fn solve_trace(branch_dir: &Path, metric: Metric) -> Result<Vec<(f64, f64)>> {
    let path = branch_dir.join(crate::output::TRAJECTORY_FILE);
    if matches!(metric, Metric::Exploitability | Metric::Consistency) {
        let key = if metric == Metric::Exploitability {
            "exploitability"
        } else {
            "consistency_l1"
        };
        let t = read_parquet(&path)?;
        if t.schema.index_of(key).is_err() {
            return Err(input_error(
                &path,
                key,
                "no such column: this trajectory was written before mfgsim recorded it; run \
                 `mfgsim solve` again",
            ));
        }
        let v: Vec<f64> = t
            .opt_f64_column(key)?
            .into_iter()
            .map(|x| x.unwrap_or(f64::NAN))
            .collect();
        if metric == Metric::Exploitability && v.iter().all(|x| x.is_nan()) {
            return Err(input_error(
                &path,
                key,
                "a T-BR (or damped T-BR) run has no per-iteration exploitability: its strategy \
                 is the best response to each z_k, so it is 0 there (summary.json holds the \
                 certificate of its result); solve with --algo fp or omd, plot learn runs, or \
                 use --kind consistency, l1, w1 or mean-state",
            ));
        }
        let it = t.i64_column("iteration")?;
        return Ok(it.iter().map(|&k| k as f64).zip(v).collect());
    }
    let t = read_parquet(&path)?;
    let it: Vec<f64> = t
        .i64_column("iteration")?
        .iter()
        .map(|&k| k as f64)
        .collect();
    let v = match metric {
        Metric::MeanState => t.f64_column("mean_state")?,
        _ => {
            let z = z_columns(&t)?;
            let last = t.num_rows().saturating_sub(1);
            let at = |k: usize| z.iter().map(|c| c[k]).collect::<Vec<f64>>();
            let end = at(last);
            (0..t.num_rows())
                .map(|k| {
                    if metric == Metric::W1 {
                        wasserstein1(&at(k), &end)
                    } else {
                        l1_distance(&at(k), &end)
                    }
                })
                .collect()
        }
    };
    Ok(it.into_iter().zip(v).collect())
}

/// `(iteration, d(z_k, reference))` of one learn run: the L1 or Wasserstein-1 distance of
/// each iterate's mean field (`snapshots.parquet`, columns `z_*`) to `reference` instead of
/// the run's own z* (e.g. the paper's Fig. 4: to the final mean field online TMFQ reaches at
/// large N).
///
/// # Errors
/// [`Error::Input`] when `metric` is not a distance or the state counts differ;
/// [`Error::Io`] / [`Error::Output`] naming the file.
pub fn learn_trace_to(dir: &Path, metric: Metric, reference: &[f64]) -> Result<Vec<(f64, f64)>> {
    let path = dir.join(crate::output::SNAPSHOTS_FILE);
    let t = read_parquet(&path)?;
    let it = t.i64_column("iteration")?;
    let cols = z_columns(&t)?;
    if cols.len() != reference.len() {
        return Err(input_error(
            &path,
            "z_*",
            format!(
                "{} states, the reference mean field has {}",
                cols.len(),
                reference.len()
            ),
        ));
    }
    let distance: fn(&[f64], &[f64]) -> f64 = match metric {
        Metric::L1 => l1_distance,
        Metric::W1 => wasserstein1,
        _ => {
            return Err(input_error(
                &path,
                "--to",
                "a reference mean field applies to the distances only (--kind l1 or w1)",
            ))
        }
    };
    let mut z = vec![0.0; cols.len()];
    Ok(it
        .iter()
        .enumerate()
        .map(|(row, &k)| {
            for (zs, c) in z.iter_mut().zip(&cols) {
                *zs = c[row];
            }
            (k as f64, distance(&z, reference))
        })
        .collect())
}

/// The exact T-MFE a learn run measured itself against (`summary.json` key `tmfe`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct LearnTmfe {
    /// z*.
    pub z: Vec<f64>,
    /// Σ_s s·z*(s).
    pub mean_state: f64,
    /// Whether T-BR met its tolerance (else z* is an end point, not an equilibrium).
    pub converged: bool,
}

/// The part of a learn run's `summary.json` (a `run::LearnReport`) the charts read, typed
/// (tests/reports.rs reads real summaries through it).
#[derive(Debug, serde::Deserialize)]
struct LearnView {
    algo: Option<String>,
    agents: Option<u64>,
    tmfe: Option<LearnTmfe>,
}

/// `dir`'s `summary.json` as a [`LearnView`].
fn learn_view(dir: &Path) -> Result<(PathBuf, LearnView)> {
    let (path, text) = crate::output::products::summary_text(dir)?;
    let v = serde_json::from_str(&text)
        .map_err(|e| input_error(&path, "(file)", format!("not a learn summary: {e}")))?;
    Ok((path, v))
}

/// The `tmfe` of a learn run's `summary.json`.
///
/// # Errors
/// [`Error::Io`] naming the file; [`Error::Input`] naming the key when it is missing or
/// mistyped.
pub fn learn_tmfe(dir: &Path) -> Result<LearnTmfe> {
    let (path, v) = learn_view(dir)?;
    v.tmfe
        .ok_or_else(|| input_error(&path, "tmfe", "missing (is this a learn summary.json?)"))
}

/// N of a learn run of an online algorithm (`summary.json` key `agents`), `None` for TMFQ,
/// GMBL or an unreadable summary.
pub fn learn_agents(dir: &Path) -> Option<u64> {
    learn_view(dir).ok()?.1.agents
}

/// A learn run's label from its `summary.json`: `online TMFQ (N = 1000)`, `GMBL`, …;
/// `None` when the summary is missing or has no `algo`.
pub fn learn_label(dir: &Path) -> Option<String> {
    let v = learn_view(dir).ok()?.1;
    let algo = algo_name(v.algo.as_deref()?);
    Some(match v.agents {
        Some(n) => format!("{algo} (N = {n})"),
        None => algo,
    })
}

/// The paper's name of a `learner.algo` value.
pub fn algo_name(algo: &str) -> String {
    match algo {
        "online" => "online TMFQ".into(),
        "tmfq" => "TMFQ".into(),
        "gmbl" => "GMBL".into(),
        "iql" => "IQL".into(),
        "mfq" => "MFQ".into(),
        other => other.into(),
    }
}

/// Mean and sample standard deviation (divisor n − 1; 0 when n = 1) of the finite values;
/// `(NaN, NaN)` when there are none.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let ss: f64 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
    (mean, (ss / (n - 1) as f64).sqrt())
}

/// Pointwise mean and sd of equal-length vectors (e.g. mean fields of several seeds).
///
/// # Errors
/// [`Error::Input`] naming `path` when the lengths differ.
pub fn mean_sd_vectors(path: &Path, vectors: &[Vec<f64>]) -> Result<Vec<(f64, f64)>> {
    let n = vectors.first().map_or(0, Vec::len);
    if vectors.iter().any(|v| v.len() != n) {
        return Err(input_error(
            path,
            "z",
            "the runs have different numbers of states",
        ));
    }
    Ok((0..n)
        .map(|s| mean_sd(&vectors.iter().map(|v| v[s]).collect::<Vec<_>>()))
        .collect())
}

/// Mean and sd over traces at each iteration that every trace has: `(iteration, mean, sd)`.
pub fn mean_sd_traces(traces: &[Vec<(f64, f64)>]) -> Vec<(f64, f64, f64)> {
    let mut by_iter: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for t in traces {
        for &(k, v) in t {
            by_iter.entry(k.round() as i64).or_default().push(v);
        }
    }
    by_iter
        .into_iter()
        .filter(|(_, v)| v.len() == traces.len())
        .map(|(k, v)| {
            let (m, s) = mean_sd(&v);
            (k as f64, m, s)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Sweeps

/// One grid axis of a sweep (dotted key, values in grid order): the manifest's own type.
pub type GridKey = ManifestAxis;

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRun {
    /// Run id, e.g. `r0007` (its directory is `runs/<id>/`).
    pub id: String,
    /// Its grid values, in grid-key order.
    pub values: Vec<Value>,
    /// Its seed.
    pub seed: i64,
}

/// A sweep directory's manifest (`sweep.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// The directory.
    pub dir: PathBuf,
    /// `solve`, `learn` or `finite-n`.
    pub command: String,
    /// `extremal` for solve sweeps from both extremal starts, else `None`.
    pub start: Option<String>,
    /// The grid axes.
    pub grid: Vec<GridKey>,
    /// The runs (after any [`Sweep::filter`]).
    pub runs: Vec<SweepRun>,
}

/// A set of runs sharing every grid value (they differ only in the seed).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// `key=value` of every grid key with more than one value, joined by `, `; empty when
    /// no key varies.
    pub label: String,
    /// The shared grid values, in grid-key order.
    pub values: Vec<Value>,
    /// Indices into [`Sweep::runs`].
    pub runs: Vec<usize>,
}

/// A JSON grid value as text: `0.8`, `iql`, `true`.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A legend name for grid key `key` at value `v`: the paper's notation for the keys it names
/// (`learner.algo=tmfq` → `TMFQ`, `sim.agents=1000` → `N = 1000`,
/// `model.infection_constant=0.05` → `c_f = 0.05`, `solver.algo=fp` → `fictitious play`),
/// `key=value` for the others.
pub fn grid_label(key: &str, v: &Value) -> String {
    let text = value_text(v);
    match key {
        "learner.algo" => algo_name(&text),
        "sim.agents" => format!("N = {text}"),
        "model.infection_constant" => format!("c_f = {text}"),
        "solver.algo" => {
            crate::solver::SolverAlgo::parse(&text).map_or(text, |a| a.describe().to_string())
        }
        _ => format!("{key}={text}"),
    }
}

/// An axis name for a grid key: the paper's notation beside the key
/// (`infection constant c_f (model.infection_constant)`), else the key itself.
pub fn axis_label(key: &str) -> String {
    match key {
        "model.infection_constant" => format!("infection constant c_f ({key})"),
        "sim.agents" => format!("N, agents ({key})"),
        "model.gamma" => format!("discount γ ({key})"),
        "model.epsilon" => format!("tremble ε ({key})"),
        _ => key.to_string(),
    }
}

/// True when `v` equals the command-line text `text` (numbers compare numerically).
fn value_matches(v: &Value, text: &str) -> bool {
    match v {
        Value::Number(n) => match (n.as_f64(), text.parse::<f64>()) {
            (Some(a), Ok(b)) => a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
            _ => false,
        },
        Value::Bool(b) => text.parse::<bool>().is_ok_and(|t| t == *b),
        Value::String(s) => s == text,
        _ => false,
    }
}

/// Reads `dir/sweep.json`.
///
/// # Errors
/// [`Error::Io`] when it cannot be read, [`Error::Input`] naming the key that is missing or
/// mistyped.
pub fn read_sweep(dir: &Path) -> Result<Sweep> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let m: SweepManifest = serde_json::from_str(&text)
        .map_err(|e| input_error(&path, "(file)", format!("not a sweep manifest: {e}")))?;
    let bad = |key: &str, reason: &str| input_error(&path, key, reason);
    let grid: Vec<GridKey> = m.grid;
    let runs = m
        .runs
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let values = grid
                .iter()
                .map(|g| match r.values.get(&g.key) {
                    Some(v) if !v.is_null() => Ok(v.clone()),
                    _ => Err(bad(&format!("runs[{i}].values.{}", g.key), "missing")),
                })
                .collect::<Result<Vec<_>>>()?;
            let seed =
                i64::try_from(r.seed).map_err(|_| bad(&format!("runs[{i}].seed"), "above 2^63"))?;
            Ok(SweepRun {
                id: r.id,
                values,
                seed,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Sweep {
        dir: dir.to_path_buf(),
        command: m.command,
        start: m.start.as_ref().and_then(Value::as_str).map(str::to_owned),
        grid,
        runs,
    })
}

impl Sweep {
    /// The position of grid key `key`.
    ///
    /// # Errors
    /// [`Error::Input`] naming `sweep.json` and `key`, listing the grid keys.
    pub fn key_index(&self, key: &str) -> Result<usize> {
        self.grid.iter().position(|g| g.key == key).ok_or_else(|| {
            let keys: Vec<&str> = self.grid.iter().map(|g| g.key.as_str()).collect();
            input_error(
                &self.dir.join(crate::output::MANIFEST_FILE),
                key,
                format!(
                    "not a grid key of this sweep (its grid keys: {})",
                    if keys.is_empty() {
                        "none".to_string()
                    } else {
                        keys.join(", ")
                    }
                ),
            )
        })
    }

    /// Keeps the runs whose value of each `(key, value)` matches (`key` may be `seed`).
    ///
    /// # Errors
    /// [`Error::Input`] when a key is neither a grid key nor `seed`, or no run is left.
    pub fn filter(&mut self, wheres: &[(String, String)]) -> Result<()> {
        for (key, text) in wheres {
            if key == "seed" {
                self.runs.retain(|r| text.parse::<i64>() == Ok(r.seed));
            } else {
                let i = self.key_index(key)?;
                self.runs.retain(|r| value_matches(&r.values[i], text));
            }
        }
        if self.runs.is_empty() {
            let w: Vec<String> = wheres.iter().map(|(k, v)| format!("{k}={v}")).collect();
            return Err(input_error(
                &self.dir.join(crate::output::MANIFEST_FILE),
                &w.join(" "),
                "no run of the sweep matches --where",
            ));
        }
        Ok(())
    }

    /// The groups of runs sharing all grid values, in run order.
    pub fn groups(&self) -> Vec<Group> {
        let varying: Vec<bool> = self.grid.iter().map(|g| g.values.len() > 1).collect();
        let mut groups: Vec<Group> = Vec::new();
        for (i, r) in self.runs.iter().enumerate() {
            match groups.iter_mut().find(|g| g.values == r.values) {
                Some(g) => g.runs.push(i),
                None => {
                    let label = self
                        .grid
                        .iter()
                        .zip(&r.values)
                        .zip(&varying)
                        .filter(|(_, &v)| v)
                        .map(|((g, v), _)| grid_label(&g.key, v))
                        .collect::<Vec<_>>()
                        .join(", ");
                    groups.push(Group {
                        label,
                        values: r.values.clone(),
                        runs: vec![i],
                    });
                }
            }
        }
        groups
    }

    /// The output directory of run `i`.
    pub fn run_dir(&self, i: usize) -> PathBuf {
        self.dir.join("runs").join(&self.runs[i].id)
    }

    /// What each run directory holds.
    ///
    /// # Errors
    /// [`Error::Input`] naming `sweep.json` for an unknown command.
    pub fn run_kind(&self) -> Result<InputKind> {
        match self.command.as_str() {
            "solve" => Ok(InputKind::Solve),
            "learn" => Ok(InputKind::Learn),
            "finite-n" => Ok(InputKind::FiniteN),
            "nash-gap" => Ok(InputKind::NashGap),
            other => Err(input_error(
                &self.dir.join(crate::output::MANIFEST_FILE),
                "command",
                format!("unknown command `{other}` (expected solve, learn, finite-n or nash-gap)"),
            )),
        }
    }

    /// The column names of `sweep.parquet`.
    ///
    /// # Errors
    /// As [`Sweep::metric`].
    pub fn columns(&self) -> Result<Vec<String>> {
        let path = self.table_path()?;
        let t = read_parquet(&path)?;
        Ok(t.column_names().into_iter().map(str::to_owned).collect())
    }

    fn table_path(&self) -> Result<PathBuf> {
        let path = self.dir.join(crate::output::SWEEP_TABLE_FILE);
        if path.is_file() {
            Ok(path)
        } else {
            Err(input_error(
                &path,
                "(file)",
                "missing: the sweep has not finished (sweep.parquet is written last)",
            ))
        }
    }

    /// The metric `name` of every run (after [`Sweep::filter`]), from `sweep.parquet`,
    /// matched by the `run` column; Boolean columns read 0/1, Int64 as floats, nulls NaN.
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::Output`] naming `sweep.parquet` when it is missing or lacks
    /// the column (the message lists the metric columns), or a run has no row.
    pub fn metric(&self, name: &str) -> Result<Vec<f64>> {
        let path = self.table_path()?;
        let t = read_parquet(&path)?;
        let grid: Vec<&str> = self.grid.iter().map(|g| g.key.as_str()).collect();
        if t.schema.index_of(name).is_err() || grid.contains(&name) || name == "run" {
            let metrics: Vec<&str> = t
                .column_names()
                .into_iter()
                .filter(|c| *c != "run" && *c != "seed" && !grid.contains(c))
                .filter(|c| !is_z_column(c))
                .collect();
            return Err(input_error(
                &path,
                name,
                format!(
                    "no such metric column; the metrics of this sweep: {}",
                    metrics.join(", ")
                ),
            ));
        }
        let ids = string_column(&t, "run")?;
        let values = numeric_column(&t, name)?;
        self.runs
            .iter()
            .map(|r| {
                ids.iter()
                    .position(|id| *id == r.id)
                    .map(|i| values[i])
                    .ok_or_else(|| input_error(&path, "run", format!("no row for run {}", r.id)))
            })
            .collect()
    }
}

fn is_z_column(name: &str) -> bool {
    name.strip_prefix("z_")
        .is_some_and(|s| s.parse::<usize>().is_ok())
}

/// The index of the column `name`.
fn column_index(t: &ParquetTable, name: &str) -> Result<usize> {
    t.schema.index_of(name).map_err(|_| Error::Output {
        path: t.path.clone(),
        reason: format!("no column `{name}`"),
    })
}

/// The Utf8 column `name`.
fn string_column(t: &ParquetTable, name: &str) -> Result<Vec<String>> {
    let i = column_index(t, name)?;
    let mut out = Vec::with_capacity(t.num_rows());
    for b in &t.batches {
        let a = b
            .column(i)
            .as_string_opt::<i32>()
            .ok_or_else(|| Error::Output {
                path: t.path.clone(),
                reason: format!("column `{name}` is not Utf8"),
            })?;
        out.extend(a.iter().map(|v| v.unwrap_or_default().to_owned()));
    }
    Ok(out)
}

/// A Float64, Int64 or Boolean column as floats (nulls NaN, booleans 0/1).
fn numeric_column(t: &ParquetTable, name: &str) -> Result<Vec<f64>> {
    let i = column_index(t, name)?;
    let mut out = Vec::with_capacity(t.num_rows());
    for b in &t.batches {
        let a = b.column(i);
        match a.data_type() {
            DataType::Float64 => out.extend(
                a.as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| v.unwrap_or(f64::NAN)),
            ),
            DataType::Int64 => out.extend(
                a.as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.map_or(f64::NAN, |v| v as f64)),
            ),
            DataType::Boolean => out.extend(
                a.as_boolean()
                    .iter()
                    .map(|v| v.map_or(f64::NAN, |v| if v { 1.0 } else { 0.0 })),
            ),
            other => {
                return Err(Error::Output {
                    path: t.path.clone(),
                    reason: format!("column `{name}` is {other}, not a number"),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd() {
        let (m, s) = mean_sd(&[1.0, 2.0, 3.0, 6.0]);
        assert_eq!(m, 3.0);
        // Σ (x − 3)² = 4 + 1 + 0 + 9 = 14, / 3.
        assert!((s - (14.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(mean_sd(&[2.5]), (2.5, 0.0));
        assert_eq!(mean_sd(&[f64::NAN, 4.0, 2.0]).0, 3.0);
        assert!(mean_sd(&[]).0.is_nan());
    }

    #[test]
    fn traces_are_averaged_on_common_iterations() {
        let a = vec![(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)];
        let b = vec![(1.0, 3.0), (2.0, 4.0)];
        let m = mean_sd_traces(&[a, b]);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].0, m[0].1), (1.0, 2.0));
        assert!((m[0].2 - 2f64.sqrt()).abs() < 1e-15);
        assert_eq!((m[1].0, m[1].1), (2.0, 3.0));
    }

    #[test]
    fn values_match_numerically() {
        assert!(value_matches(&serde_json::json!(0.8), "0.80"));
        assert!(value_matches(&serde_json::json!(1000), "1e3"));
        assert!(!value_matches(&serde_json::json!(0.8), "0.7"));
        assert!(value_matches(&serde_json::json!("iql"), "iql"));
        assert!(value_matches(&serde_json::json!(true), "true"));
        assert_eq!(value_text(&serde_json::json!("iql")), "iql");
        assert_eq!(value_text(&serde_json::json!(0.05)), "0.05");
    }

    #[test]
    fn an_unknown_directory_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = detect(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(err.contains("not an mfgsim output directory"), "{err}");
    }
}
