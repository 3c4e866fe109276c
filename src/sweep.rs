//! Parameter sweeps and ensembles: a grid of scenario-key values × seeds, every run through
//! the run layer ([`crate::run`]), its outputs under `DIR/runs/<id>/` and one row per run in
//! `DIR/sweep.parquet`.
//!
//! * **Plan** ([`Sweep::plan`]): the Cartesian product of the grid axes (first axis slowest)
//!   × the seeds `sim.seed + j`, j < `seeds` (fastest; `finite-n`: `sim.seed + j·K`, K its
//!   replicates per N, so no two runs share a replicate). Each run is the base scenario with
//!   `KEY=VALUE` overrides and `sim.seed`; every run's scenario is validated here, before
//!   anything runs, and a bad grid value is reported with its key.
//! * **Run** ([`run_sweep`]): `jobs` runs at a time, each on its own rayon pool of
//!   `threads / jobs` workers (results do not depend on either). A run is finished when its
//!   `summary.json` exists (written last, atomically); a rerun of the same sweep into the same
//!   directory skips finished runs, so a stopped or killed sweep resumes where it was.
//! * **Table**: `sweep.parquet` is rebuilt from the finished runs' `summary.json` files in
//!   run-id order, so a resumed sweep's table equals an uninterrupted one's (apart from the
//!   `seconds` column, which is wall time).
//! * **Shards** ([`Shard`], for a cluster): shard `i` of `n` runs only the runs at plan
//!   positions p ≡ i (mod n) into the shared directory and writes no table; the same sweep
//!   without a shard then runs nothing that is finished and writes the table, equal to an
//!   unsharded sweep's. With [`SweepOptions::collect`] a shard instead waits, after its own
//!   runs, until every other shard's runs are finished and writes the table itself (one
//!   collector per sweep, e.g. MPI rank 0).
//!
//! The directory layout and the table's columns are documented in the README ("Sweeps").
//! This module composes [`crate::run`] and [`crate::output`]; it writes files (only under
//! the sweep directory, and only files it names) and never prints.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::finite_n::FiniteNParams;
use crate::nash_gap::NashGapParams;
use crate::output::{
    self, push_snapshot, snapshot_schema, ManifestAxis, ManifestRun, RunMetadata, SweepManifest,
    TableBuilder, MANIFEST_FILE,
};
use crate::run::{self, LearnOptions, NashPolicy};
use crate::scenario::{Scenario, StartSpec};

/// Which run-layer command every run of a sweep executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepCommand {
    /// [`run::solve`] (T-BR; with `start = "extremal"` the least and greatest T-MFE).
    Solve,
    /// [`run::learn`] (`[learner] algo`).
    Learn,
    /// [`run::finite_n`] (the finite-N study).
    FiniteN,
    /// [`run::nash_gap`] (the ε-Nash gap of a strategy among N agents).
    NashGap,
}

impl SweepCommand {
    /// `solve`, `learn`, `finite-n` or `nash-gap`.
    pub fn as_str(self) -> &'static str {
        match self {
            SweepCommand::Solve => "solve",
            SweepCommand::Learn => "learn",
            SweepCommand::FiniteN => "finite-n",
            SweepCommand::NashGap => "nash-gap",
        }
    }

    /// Parses `solve`, `learn`, `finite-n` or `nash-gap`.
    ///
    /// # Errors
    /// [`Error::Param`] (key `sweep.command`) for anything else.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "solve" => Ok(SweepCommand::Solve),
            "learn" => Ok(SweepCommand::Learn),
            "finite-n" | "finite_n" => Ok(SweepCommand::FiniteN),
            "nash-gap" | "nash_gap" => Ok(SweepCommand::NashGap),
            other => Err(Error::param(
                "sweep.command",
                format!(
                    "expected \"solve\", \"learn\", \"finite-n\" or \"nash-gap\", got {other:?}"
                ),
            )),
        }
    }
}

/// One grid axis: a dotted scenario key and its values (TOML values, as `--set` takes them).
#[derive(Debug, Clone, PartialEq)]
pub struct GridAxis {
    /// Dotted scenario key, e.g. `model.infection_constant`.
    pub key: String,
    /// The values, in order.
    pub values: Vec<toml::Value>,
}

impl GridAxis {
    /// Parses `KEY=V1,V2,...` (each value a TOML value; bare words are strings; commas inside
    /// `[...]` or quotes do not split) or `KEY=LO:HI:COUNT` (COUNT evenly spaced numbers
    /// from LO to HI inclusive).
    ///
    /// # Errors
    /// [`Error::Param`] naming the flag text for a missing `=`, an empty key or value list, or
    /// a malformed range.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: String| Error::param(format!("--grid {text}"), reason);
        let (key, list) = text
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=V1,V2,... or KEY=LO:HI:COUNT".into()))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(bad("empty key segment".into()));
        }
        let pieces = split_top_level(list.trim());
        if pieces.iter().all(|p| p.trim().is_empty()) {
            return Err(bad("no values".into()));
        }
        let values = match pieces.as_slice() {
            [one] if is_range(one) => linspace(one).map_err(bad)?,
            _ => pieces.iter().map(|p| toml_value(p.trim())).collect(),
        };
        Self::new(key, values)
    }

    /// An axis from a key and values.
    ///
    /// # Errors
    /// [`Error::Param`] for an empty list or a repeated value.
    pub fn new(key: &str, values: Vec<toml::Value>) -> Result<Self> {
        if values.is_empty() {
            return Err(Error::param(format!("sweep.grid.{key}"), "no values"));
        }
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return Err(Error::param(
                    format!("sweep.grid.{key}"),
                    format!("the value {v} appears twice"),
                ));
            }
        }
        Ok(GridAxis {
            key: key.to_string(),
            values,
        })
    }

    /// The Arrow type of this axis's column: Int64 when every value is an integer, Float64
    /// when every value is a number, Boolean when every value is a boolean, else Utf8.
    pub fn data_type(&self) -> DataType {
        use toml::Value as V;
        if self.values.iter().all(|v| matches!(v, V::Integer(_))) {
            DataType::Int64
        } else if self
            .values
            .iter()
            .all(|v| matches!(v, V::Integer(_) | V::Float(_)))
        {
            DataType::Float64
        } else if self.values.iter().all(|v| matches!(v, V::Boolean(_))) {
            DataType::Boolean
        } else {
            DataType::Utf8
        }
    }
}

/// Splits on commas that are not inside brackets, braces or quotes.
fn split_top_level(text: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, None);
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn is_range(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() == 3 && parts.iter().all(|p| p.trim().parse::<f64>().is_ok())
}

/// `LO:HI:COUNT` → COUNT values; integers when LO, HI and the step are integers.
fn linspace(text: &str) -> std::result::Result<Vec<toml::Value>, String> {
    let p: Vec<&str> = text.split(':').map(str::trim).collect();
    let (lo, hi): (f64, f64) = (
        p[0].parse().unwrap_or(f64::NAN),
        p[1].parse().unwrap_or(0.0),
    );
    let n: usize = p[2]
        .parse()
        .map_err(|_| format!("COUNT must be an integer ≥ 1, got {:?}", p[2]))?;
    if !(lo.is_finite() && hi.is_finite()) || n == 0 || n > 100_000 {
        return Err(format!(
            "expected finite LO:HI and 1 ≤ COUNT ≤ 100000, got {text:?}"
        ));
    }
    if n == 1 {
        return Ok(vec![toml_value(p[0])]);
    }
    let step = (hi - lo) / (n - 1) as f64;
    let ints = [p[0], p[1]].iter().all(|s| s.parse::<i64>().is_ok()) && step.fract() == 0.0;
    Ok((0..n)
        .map(|i| {
            let x = if i + 1 == n { hi } else { lo + step * i as f64 };
            if ints {
                toml::Value::Integer(x as i64)
            } else {
                // Round away the last-digit noise of lo + i·step (keeps 0.1 as 0.1).
                toml::Value::Float(format!("{x:.12e}").parse().unwrap_or(x))
            }
        })
        .collect())
}

/// A TOML value from flag text; bare words become strings (as `--set` does).
fn toml_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// What to sweep: the `[sweep]` table of a scenario, or the flags of `mfgsim sweep`.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    /// The command every run executes (default `learn`).
    pub command: SweepCommand,
    /// The grid axes (may be empty: an ensemble over seeds only).
    pub grid: Vec<GridAxis>,
    /// Seeds per grid point: `sim.seed + j` for j < `seeds` (default 1); for `finite-n`,
    /// `sim.seed + j·K` with K = `finite_n.seeds`, so the runs' replicates
    /// (`sim.seed + 0..K` each) are disjoint.
    pub seeds: u64,
    /// For `solve`: the T-BR start (default: the scenario's `solver.start`).
    pub start: Option<StartSpec>,
    /// For `finite-n`: the study's settings (`base_seed`, `engine` and `learner` are set per
    /// run from its scenario).
    pub finite_n: FiniteNParams,
    /// For `nash-gap`: the study's settings (`seed` is set per run to its `sim.seed`).
    pub nash_gap: NashGapParams,
    /// For `nash-gap`: the strategy μ the others play (default the T-MFE).
    pub nash_policy: NashPolicy,
}

impl Default for SweepSpec {
    fn default() -> Self {
        SweepSpec {
            command: SweepCommand::Learn,
            grid: Vec::new(),
            seeds: 1,
            start: None,
            finite_n: FiniteNParams::default(),
            nash_gap: NashGapParams::default(),
            nash_policy: NashPolicy::Tmfe,
        }
    }
}

/// Largest number of runs a sweep may plan.
pub const MAX_RUNS: usize = 1_000_000;

impl SweepSpec {
    /// Reads a scenario's `[sweep]` table: `command` (string), `seeds` (integer ≥ 1),
    /// `start` (solve: `"extremal"`, `"uniform"`, …), `[[sweep.grid]]` entries with `key`
    /// and `values`, `[sweep.finite_n]` with `agents`, `seeds`, `steps`, `burn_in`, and
    /// `[sweep.nash_gap]` with `agents`, `replications`, `search_replications`, `max_rounds`,
    /// `tolerance`, `policy` (`tmfe`, `learned`, `uniform` or a file).
    ///
    /// # Errors
    /// [`Error::Scenario`] naming `file` and the `sweep.*` key.
    pub fn from_table(file: &Path, table: &toml::Table) -> Result<Self> {
        let err = |key: &str, reason: String| Error::Scenario {
            file: file.to_path_buf(),
            key: format!("sweep.{key}"),
            reason,
        };
        let mut spec = SweepSpec::default();
        for (k, v) in table {
            match (k.as_str(), v) {
                ("command", toml::Value::String(s)) => {
                    spec.command = SweepCommand::parse(s).map_err(|e| err(k, e.to_string()))?;
                }
                ("seeds", toml::Value::Integer(n)) if *n >= 1 => spec.seeds = *n as u64,
                ("start", toml::Value::String(s)) => {
                    spec.start = Some(StartSpec::parse(s).map_err(|e| err(k, e))?);
                }
                ("grid", toml::Value::Array(axes)) => {
                    for (i, axis) in axes.iter().enumerate() {
                        let t = axis.as_table().ok_or_else(|| {
                            err(
                                &format!("grid[{i}]"),
                                "expected a table {key, values}".into(),
                            )
                        })?;
                        let key = t.get("key").and_then(toml::Value::as_str).ok_or_else(|| {
                            err(&format!("grid[{i}].key"), "expected a string".into())
                        })?;
                        let values =
                            t.get("values")
                                .and_then(toml::Value::as_array)
                                .ok_or_else(|| {
                                    err(&format!("grid[{i}].values"), "expected an array".into())
                                })?;
                        if let Some(extra) = t.keys().find(|k| *k != "key" && *k != "values") {
                            return Err(err(&format!("grid[{i}].{extra}"), "unknown key".into()));
                        }
                        spec.grid.push(
                            GridAxis::new(key, values.clone())
                                .map_err(|e| err(&format!("grid[{i}]"), e.to_string()))?,
                        );
                    }
                }
                ("finite_n", toml::Value::Table(t)) => {
                    for (fk, fv) in t {
                        let key = format!("finite_n.{fk}");
                        let int = |v: &toml::Value| {
                            v.as_integer()
                                .filter(|n| *n >= 1)
                                .map(|n| n as u64)
                                .ok_or_else(|| {
                                    err(&key, format!("expected an integer ≥ 1, got {v}"))
                                })
                        };
                        match fk.as_str() {
                            "agents" => {
                                let list = fv.as_array().ok_or_else(|| {
                                    err(&key, "expected an array of integers".into())
                                })?;
                                spec.finite_n.agents =
                                    list.iter().map(int).collect::<Result<_>>()?;
                            }
                            "seeds" => spec.finite_n.seeds = int(fv)? as usize,
                            "steps" => spec.finite_n.steps = int(fv)?,
                            "burn_in" => {
                                spec.finite_n.burn_in =
                                    fv.as_integer().filter(|n| *n >= 0).ok_or_else(|| {
                                        err(&key, format!("expected an integer ≥ 0, got {fv}"))
                                    })? as u64;
                            }
                            _ => {
                                return Err(err(
                                    &key,
                                    "unknown key (agents, seeds, steps, burn_in)".into(),
                                ))
                            }
                        }
                    }
                }
                ("nash_gap", toml::Value::Table(t)) => {
                    for (nk, nv) in t {
                        let key = format!("nash_gap.{nk}");
                        let count = |min: i64| {
                            nv.as_integer()
                                .filter(|n| *n >= min)
                                .map(|n| n as u64)
                                .ok_or_else(|| {
                                    err(&key, format!("expected an integer ≥ {min}, got {nv}"))
                                })
                        };
                        let g = &mut spec.nash_gap;
                        match nk.as_str() {
                            "agents" => {
                                let list = nv.as_array().ok_or_else(|| {
                                    err(&key, "expected an array of integers".into())
                                })?;
                                g.agents = list
                                    .iter()
                                    .map(|v| {
                                        v.as_integer()
                                            .filter(|n| *n >= 2)
                                            .map(|n| n as u64)
                                            .ok_or_else(|| {
                                                err(&key, format!("expected integers ≥ 2, got {v}"))
                                            })
                                    })
                                    .collect::<Result<_>>()?;
                            }
                            "replications" => g.replications = count(2)? as usize,
                            "search_replications" => g.search_replications = count(2)? as usize,
                            "max_rounds" => g.max_rounds = count(1)? as usize,
                            "tolerance" => {
                                g.tolerance = nv
                                    .as_float()
                                    .or_else(|| nv.as_integer().map(|i| i as f64))
                                    .filter(|x| *x > 0.0 && x.is_finite())
                                    .ok_or_else(|| {
                                        err(&key, format!("expected a positive number, got {nv}"))
                                    })?;
                            }
                            "policy" => {
                                let text = nv.as_str().ok_or_else(|| {
                                    err(&key, format!("expected a string, got {nv}"))
                                })?;
                                spec.nash_policy = NashPolicy::parse(text);
                            }
                            _ => {
                                return Err(err(
                                    &key,
                                    "unknown key (agents, replications, search_replications, \
                                     max_rounds, tolerance, policy)"
                                        .into(),
                                ))
                            }
                        }
                    }
                    spec.nash_gap.validate().map_err(|e| match e {
                        Error::Param { key, reason } => err(&format!("nash_gap.{key}"), reason),
                        e => e,
                    })?;
                }
                ("command" | "seeds" | "start" | "grid" | "finite_n" | "nash_gap", v) => {
                    return Err(err(k, format!("wrong type or value: {v}")));
                }
                _ => {
                    return Err(err(
                        k,
                        "unknown key (command, seeds, start, grid, finite_n, nash_gap)".into(),
                    ))
                }
            }
        }
        Ok(spec)
    }
}

/// One planned run.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// `r0000`, `r0001`, … in Cartesian order.
    pub id: String,
    /// One value per grid axis.
    pub values: Vec<toml::Value>,
    /// `sim.seed` of the run.
    pub seed: u64,
    /// The validated scenario of the run.
    pub scenario: Scenario,
}

/// A planned sweep: every run's scenario validated.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// What is swept.
    pub spec: SweepSpec,
    /// The base scenario (its `--set` overrides applied, no grid value).
    pub base: Scenario,
    /// The runs in run-id order.
    pub runs: Vec<PlannedRun>,
}

impl Sweep {
    /// Plans the sweep of `spec` over the scenario file at `path` with `overrides`.
    ///
    /// # Errors
    /// The base scenario's own errors; for a grid value that does not validate,
    /// [`Error::Param`] with key `sweep.grid.KEY` quoting the value and the reason;
    /// [`Error::Param`] for more than [`MAX_RUNS`] runs or a seed axis given twice.
    pub fn plan(path: &Path, overrides: &[String], spec: SweepSpec) -> Result<Self> {
        // Read once (with the size cap), then parsed once per grid value and per run.
        let text = crate::scenario::read_text(path)?;
        let base = Scenario::parse(&text, path, overrides)?;
        let seeded_by_grid = spec.grid.iter().any(|a| a.key == "sim.seed");
        if seeded_by_grid && spec.seeds > 1 {
            return Err(Error::param(
                "sweep.seeds",
                "`sim.seed` is a grid axis; use seeds = 1 (or drop the axis)",
            ));
        }
        for (i, a) in spec.grid.iter().enumerate() {
            if spec.grid[..i].iter().any(|b| b.key == a.key) {
                return Err(Error::param(
                    format!("sweep.grid.{}", a.key),
                    "the key has two axes",
                ));
            }
        }
        let points: usize = spec
            .grid
            .iter()
            .map(|a| a.values.len())
            .try_fold(1usize, usize::checked_mul)
            .unwrap_or(usize::MAX);
        let total = points.saturating_mul(usize::try_from(spec.seeds).unwrap_or(usize::MAX));
        if total > MAX_RUNS || total == 0 {
            return Err(Error::param(
                "sweep",
                format!("{total} runs planned; a sweep has 1 to {MAX_RUNS} runs"),
            ));
        }
        // Each value is checked alone first, so the message names the axis that is wrong.
        for a in &spec.grid {
            for v in &a.values {
                let mut o = overrides.to_vec();
                o.push(format!("{}={v}", a.key));
                Scenario::parse(&text, path, &o).map_err(|e| {
                    Error::param(
                        format!("sweep.grid.{}", a.key),
                        format!("the value {v} does not validate: {e}"),
                    )
                })?;
            }
        }
        let width = (total.saturating_sub(1)).to_string().len().max(4);
        // A finite-n run's K replicates have seeds sim.seed + 0..K: step the sweep's seeds by
        // K, so the runs of one grid point share no replicate (their spread is a real one).
        let stride = match spec.command {
            SweepCommand::FiniteN => spec.finite_n.seeds.max(1) as u64,
            _ => 1,
        };
        let mut runs = Vec::with_capacity(total);
        for p in 0..points {
            let mut rest = p;
            let mut values = vec![toml::Value::Boolean(false); spec.grid.len()];
            for (i, a) in spec.grid.iter().enumerate().rev() {
                values[i] = a.values[rest % a.values.len()].clone();
                rest /= a.values.len();
            }
            for j in 0..spec.seeds {
                let mut o = overrides.to_vec();
                for (a, v) in spec.grid.iter().zip(&values) {
                    o.push(format!("{}={v}", a.key));
                }
                if !seeded_by_grid {
                    let seed = base.sim.seed.wrapping_add(j.wrapping_mul(stride));
                    o.push(format!("sim.seed={seed}"));
                }
                let scenario = Scenario::parse(&text, path, &o).map_err(|e| {
                    Error::param(
                        "sweep.grid",
                        format!("the combination {} does not validate: {e}", o.join(" ")),
                    )
                })?;
                runs.push(PlannedRun {
                    id: format!("r{:0width$}", runs.len()),
                    values: values.clone(),
                    seed: scenario.sim.seed,
                    scenario,
                });
            }
        }
        Ok(Sweep { spec, base, runs })
    }

    /// The manifest `sweep.json`: command, base scenario text, grid, seeds and the runs.
    pub fn manifest(&self) -> SweepManifest {
        let spec = &self.spec;
        let fin = &spec.finite_n;
        let json = |v: &toml::Value| serde_json::to_value(v).unwrap_or(Value::Null);
        let runs = self
            .runs
            .iter()
            .map(|r| ManifestRun {
                id: r.id.clone(),
                values: spec
                    .grid
                    .iter()
                    .zip(&r.values)
                    .map(|(a, v)| (a.key.clone(), json(v)))
                    .collect(),
                seed: r.seed,
            })
            .collect();
        SweepManifest {
            command: spec.command.as_str().into(),
            scenario_file: self.base.path.display().to_string(),
            scenario: self.base.text.clone(),
            mfgsim_version: env!("CARGO_PKG_VERSION").into(),
            start: spec.start.as_ref().map(start_json),
            grid: spec
                .grid
                .iter()
                .map(|a| ManifestAxis {
                    key: a.key.clone(),
                    values: a.values.iter().map(json).collect(),
                })
                .collect(),
            seeds: self.runs.iter().map(|r| r.seed).collect(),
            runs,
            finite_n: (spec.command == SweepCommand::FiniteN).then(|| {
                json!({
                    "agents": fin.agents, "seeds": fin.seeds, "steps": fin.steps,
                    "burn_in": fin.burn_in,
                    "policy": fin.policy.as_str(),
                })
            }),
            nash_gap: (spec.command == SweepCommand::NashGap).then(|| {
                let g = &spec.nash_gap;
                json!({
                    "agents": g.agents, "replications": g.replications,
                    "search_replications": g.search_replications, "max_rounds": g.max_rounds,
                    "tolerance": g.tolerance, "policy": spec.nash_policy.describe(),
                })
            }),
        }
    }

    /// True when any run is large ([`Sweep::run_is_large`]).
    pub fn is_large(&self) -> bool {
        self.runs.iter().any(|r| self.run_is_large(r))
    }

    /// True when a run is big enough to use every core by itself (such runs go one at a
    /// time, after the small ones ran several at a time): more than 2^17 agents on the agent
    /// engine, TMFQ's simulator above 2^17 agents, or more than 500 states for `solve`.
    pub fn run_is_large(&self, r: &PlannedRun) -> bool {
        use crate::finite_n::EngineKind;
        use crate::learner::Algo;
        const BIG: u64 = 1 << 17;
        let sc = &r.scenario;
        match self.spec.command {
            SweepCommand::Solve => sc.model.as_model().num_states() > 500,
            SweepCommand::Learn => match sc.learner.algo {
                Algo::Tmfq => sc.learner.tmfq.sim_agents as u64 > BIG,
                Algo::Gmbl => false,
                _ => sc.sim.engine == EngineKind::Agents && sc.sim.agents > BIG,
            },
            SweepCommand::FiniteN => {
                sc.sim.engine == EngineKind::Agents
                    && self.spec.finite_n.agents.iter().any(|&n| n > BIG)
            }
            // The count engine: a study costs what N = 10³ does, whatever N.
            SweepCommand::NashGap => false,
        }
    }
}

/// The file that marks a run finished: its `summary.json`, written last, atomically.
const FINISHED: &str = "summary.json";

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

/// One share of a sweep's runs: shard `index` (0-based) of `count` owns the runs at plan
/// positions p with p mod `count` = `index`. Round robin spreads each grid point's seeds and
/// the costly corners of a grid over the shards; the assignment depends only on the plan, so
/// every shard of one sweep agrees on it without talking to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0 ≤ `index` < `count`.
    pub index: usize,
    /// Shards in all, ≥ 1.
    pub count: usize,
}

impl Shard {
    /// A shard, checked.
    ///
    /// # Errors
    /// [`Error::Param`] naming `--shard` when `count` = 0 or `index` ≥ `count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::param(
                "--shard",
                format!("shard {index} of {count}: need 0 ≤ I < N (shards count from 0)"),
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N` (0-based `I`), e.g. `0/4`.
    ///
    /// # Errors
    /// [`Error::Param`] naming `--shard` and the text.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::param(
                "--shard",
                format!("`{text}` is not I/N with whole numbers 0 ≤ I < N, e.g. 0/4"),
            )
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n)
    }

    /// The shard a batch system or MPI launcher gives this process, read through `var` (the
    /// binary passes `std::env::var`): a SLURM job array (`SLURM_ARRAY_TASK_ID` −
    /// `SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT`), else an MPI launch of several
    /// processes (Open MPI's `OMPI_COMM_WORLD_RANK` / `_SIZE`, MPICH's `PMI_RANK` /
    /// `PMI_SIZE`); `None` when neither is set (or the MPI size is 1). The second value
    /// names the source, e.g. `SLURM_ARRAY_TASK_ID`.
    ///
    /// # Errors
    /// [`Error::Param`] naming the variable that is not a whole number or out of range.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<(Self, ShardSource)>> {
        let num = |key: &str| -> Result<Option<usize>> {
            match var(key) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| Error::param(key, format!("`{v}` is not a whole number"))),
            }
        };
        if let (Some(id), Some(count)) =
            (num("SLURM_ARRAY_TASK_ID")?, num("SLURM_ARRAY_TASK_COUNT")?)
        {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(min).ok_or_else(|| {
                Error::param(
                    "SLURM_ARRAY_TASK_ID",
                    format!("{id} is below SLURM_ARRAY_TASK_MIN {min}"),
                )
            })?;
            return Shard::new(index, count)
                .map(|s| Some((s, ShardSource::SlurmArray)))
                .map_err(|_| {
                    Error::param(
                        "SLURM_ARRAY_TASK_ID",
                        format!(
                            "task {id} (minimum {min}) of {count}: use a contiguous --array, \
                             e.g. --array=0-{}",
                            count.saturating_sub(1)
                        ),
                    )
                });
        }
        for (rank, size) in [
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
            ("PMI_RANK", "PMI_SIZE"),
        ] {
            if let (Some(r), Some(n)) = (num(rank)?, num(size)?) {
                if n <= 1 {
                    return Ok(None);
                }
                return Shard::new(r, n)
                    .map(|s| Some((s, ShardSource::Mpi)))
                    .map_err(|_| Error::param(rank, format!("rank {r} of {n}")));
            }
        }
        Ok(None)
    }

    /// True when this shard runs the run at plan position `position`.
    pub fn owns(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where a [`Shard`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSource {
    /// `--shard I/N` (or the Python argument).
    Given,
    /// A SLURM job array's environment.
    SlurmArray,
    /// An MPI launcher's environment (`mpirun -n K`): rank 0 collects.
    Mpi,
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
    if sweep.spec.command == SweepCommand::Learn {
        for run in &sweep.runs {
            run::learn_preflight(&run.scenario, &LearnOptions::default())
                .map_err(|e| describe(sweep, run, e))?;
        }
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
    let table = dir.join("sweep.parquet");
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
                not_converged: mine
                    .iter()
                    .filter(|(_, v)| v.pointer("/all_converged") == Some(&Value::Bool(false)))
                    .count(),
                shard: Some(shard),
                wrote_table: false,
            });
        }
    }
    let summaries = finished_summaries(sweep, &runs_dir)?;
    write_table(sweep, &summaries, &table)?;
    let groups = group_stats(sweep, &summaries);
    let finished = summaries.len();
    let not_converged = summaries
        .iter()
        .filter(|(_, v)| v.pointer("/all_converged") == Some(&Value::Bool(false)))
        .count();
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
        &dir.join("summary.json"),
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

fn start_json(s: &StartSpec) -> Value {
    use crate::solver::Start;
    match s {
        StartSpec::Extremal => json!("extremal"),
        StartSpec::Single(Start::Given(v)) => json!(v),
        StartSpec::Single(s) => json!(s.label()),
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
        SweepCommand::Solve => &[
            "trajectory.parquet",
            "equilibrium.parquet",
            "least/trajectory.parquet",
            "least/equilibrium.parquet",
            "greatest/trajectory.parquet",
            "greatest/equilibrium.parquet",
        ],
        SweepCommand::Learn => &["snapshots.parquet"],
        SweepCommand::FiniteN => &["finite_n.parquet", "finite_n_steps.parquet"],
        SweepCommand::NashGap => &[output::NASH_GAP_TABLE],
    };
    for f in files.iter().chain(&[FINISHED]) {
        let path = dir.join(f);
        if let Ok(m) = std::fs::symlink_metadata(&path) {
            if !m.file_type().is_file() {
                return Err(output::not_a_plain_file(&path, &m));
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
            let mut rows = TableBuilder::new(snapshot_schema(ns), report.snapshots.len());
            for s in &report.snapshots {
                push_snapshot(&mut rows, s);
            }
            output::write_parquet(&dir.join("snapshots.parquet"), &rows.finish(), &meta)?;
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
            output::write_parquet(
                &dir.join("finite_n.parquet"),
                &output::finite_n_runs_batch(&study.report, ns),
                &meta,
            )?;
            output::write_parquet(
                &dir.join("finite_n_steps.parquet"),
                &output::finite_n_steps_batch(&study.report, ns),
                &meta,
            )?;
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
            output::write_parquet(
                &dir.join(output::NASH_GAP_TABLE),
                &output::nash_gap_batch(&study.report, &study.policy_greedy),
                &meta.with_extra("mfgsim.policy", study.policy.clone()),
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
    serde_json::to_value(v).map_err(|e| Error::Output {
        path: path.to_path_buf(),
        reason: format!("serializing the run's report: {e}"),
    })
}

/// A metric column: name, type and where its value sits in `summary.json`.
struct Metric {
    name: String,
    ty: DataType,
    pointer: String,
}

fn m(name: impl Into<String>, ty: DataType, pointer: impl Into<String>) -> Metric {
    Metric {
        name: name.into(),
        ty,
        pointer: pointer.into(),
    }
}

/// The number of states every run shares (`None` when a grid axis changes it).
fn common_states(sweep: &Sweep) -> Option<usize> {
    let sizes: Vec<usize> = sweep
        .runs
        .iter()
        .map(|r| r.scenario.model.as_model().num_states())
        .collect();
    sizes
        .windows(2)
        .all(|w| w[0] == w[1])
        .then(|| sizes.first().copied())
        .flatten()
}

/// The metric columns of `sweep.parquet`, in order (the mean-field columns `z_*`,
/// `least_z_*`, `greatest_z_*` only when every run has the same number of states).
fn metrics(sweep: &Sweep) -> Vec<Metric> {
    use DataType::{Boolean as B, Float64 as F, Int64 as I};
    let states = common_states(sweep).unwrap_or(0);
    let zs = |prefix: &str, at: &str| -> Vec<Metric> {
        (0..states)
            .map(|s| m(format!("{prefix}z_{s}"), F, format!("{at}/z/{s}")))
            .collect()
    };
    match sweep.spec.command {
        SweepCommand::Solve
            if matches!(
                sweep.spec.start.as_ref().unwrap_or(&sweep.base.start),
                StartSpec::Extremal
            ) =>
        {
            let mut v = Vec::new();
            for field in [
                ("converged", B),
                ("iterations", I),
                ("mean_state", F),
                ("exploitability", F),
                ("exploitability_weighted", F),
                ("consistency_l1", F),
                ("mixed", B),
            ] {
                for side in ["least", "greatest"] {
                    v.push(m(
                        format!("{side}_{}", field.0),
                        field.1.clone(),
                        format!("/{side}/{}", field.0),
                    ));
                }
            }
            v.extend(zs("least_", "/least"));
            v.extend(zs("greatest_", "/greatest"));
            v
        }
        SweepCommand::Solve => {
            let mut v = vec![
                m("converged", B, "/converged"),
                m("iterations", I, "/iterations"),
                m("mean_state", F, "/mean_state"),
                m("exploitability", F, "/exploitability"),
                m("exploitability_weighted", F, "/exploitability_weighted"),
                m("consistency_l1", F, "/consistency_l1"),
                m("mixed", B, "/mixed"),
            ];
            v.extend(zs("", ""));
            v
        }
        SweepCommand::Learn => {
            let mut v = vec![
                m("iterations", I, "/iterations"),
                m("final_l1_to_tmfe", F, "/l1_to_tmfe"),
                m("final_exploitability", F, "/exploitability"),
                m(
                    "final_exploitability_weighted",
                    F,
                    "/exploitability_weighted",
                ),
                m("final_agent_exploitability", F, "/agent_exploitability"),
                m("final_mean_state", F, "/mean_state"),
                m("tmfe_mean_state", F, "/tmfe/mean_state"),
                m("final_w1_to_tmfe", F, "/w1_to_tmfe"),
                m("final_consistency", F, "/consistency"),
                m(
                    "total_simulator_transitions",
                    I,
                    "/ledger/simulator_transitions",
                ),
                m("total_real_transitions", I, "/ledger/real_transitions"),
                m("total_generative_samples", I, "/ledger/generative_samples"),
                m("total_tq_updates", I, "/ledger/tq_updates"),
                m("seconds", F, "/seconds/total_loop"),
            ];
            v.extend(zs("", ""));
            v
        }
        SweepCommand::FiniteN => vec![
            m("rate", F, "/fit/slope"),
            m("rate_lo", F, "/fit/slope_ci/0"),
            m("rate_hi", F, "/fit/slope_ci/1"),
            m("points", I, "/fit/points"),
            m("seconds", F, "/seconds"),
        ],
        SweepCommand::NashGap => {
            // `per_n` follows the `agents` list, one entry per N.
            let mut v = vec![
                m("mean_field_exploitability", F, "/mean_field/max"),
                m(
                    "mean_field_exploitability_weighted",
                    F,
                    "/mean_field/weighted",
                ),
                m("rate", F, "/fit/slope"),
                m("rate_lo", F, "/fit/slope_ci/0"),
                m("rate_hi", F, "/fit/slope_ci/1"),
                m("rate_weighted", F, "/fit_weighted/slope"),
            ];
            for (i, n) in sweep.spec.nash_gap.agents.iter().enumerate() {
                v.push(m(format!("gap_n{n}"), F, format!("/per_n/{i}/gap")));
                v.push(m(format!("gap_se_n{n}"), F, format!("/per_n/{i}/gap_se")));
                v.push(m(
                    format!("gap_weighted_n{n}"),
                    F,
                    format!("/per_n/{i}/gap_weighted"),
                ));
            }
            v.push(m("seconds", F, "/seconds"));
            v
        }
    }
}

/// The finished runs' summaries, in run-id order.
fn finished_summaries<'a>(
    sweep: &'a Sweep,
    runs_dir: &Path,
) -> Result<Vec<(&'a PlannedRun, Value)>> {
    let mut summaries = Vec::new();
    for r in &sweep.runs {
        let p = runs_dir.join(&r.id).join(FINISHED);
        if !runs_dir.parent().is_some_and(|dir| is_finished(dir, r)) {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&p) {
            let v: Value = serde_json::from_str(&text).map_err(|e| Error::Input {
                path: p.clone(),
                key: "<json>".into(),
                reason: format!(
                    "unreadable run summary ({e}); delete the run's directory to rerun it"
                ),
            })?;
            summaries.push((r, v));
        }
    }
    Ok(summaries)
}

/// Builds `sweep.parquet` from the finished runs.
fn write_table(sweep: &Sweep, summaries: &[(&PlannedRun, Value)], path: &Path) -> Result<()> {
    let metrics = metrics(sweep);
    let mut fields = vec![Field::new("run", DataType::Utf8, false)];
    for a in &sweep.spec.grid {
        fields.push(Field::new(&a.key, a.data_type(), false));
    }
    fields.push(Field::new("seed", DataType::Int64, false));
    for mt in &metrics {
        fields.push(Field::new(&mt.name, mt.ty.clone(), true));
    }
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    let mut run = StringBuilder::new();
    for (r, _) in summaries {
        run.append_value(&r.id);
    }
    cols.push(Arc::new(run.finish()));
    for (i, a) in sweep.spec.grid.iter().enumerate() {
        let vals = summaries.iter().map(|(r, _)| &r.values[i]);
        cols.push(match a.data_type() {
            DataType::Int64 => Arc::new(
                vals.map(|v| v.as_integer())
                    .collect::<arrow_array::Int64Array>(),
            ),
            DataType::Float64 => Arc::new(
                vals.map(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
                    .collect::<arrow_array::Float64Array>(),
            ),
            DataType::Boolean => Arc::new(
                vals.map(|v| v.as_bool())
                    .collect::<arrow_array::BooleanArray>(),
            ),
            _ => Arc::new(
                vals.map(|v| Some(v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                    .collect::<arrow_array::StringArray>(),
            ),
        });
    }
    cols.push(Arc::new(
        summaries
            .iter()
            .map(|(r, _)| i64::try_from(r.seed).ok())
            .collect::<arrow_array::Int64Array>(),
    ));
    // Metrics come from JSON pointers into each summary, typed by the column.
    for Metric { pointer, ty, .. } in &metrics {
        let vals = summaries.iter().map(|(_, v)| v.pointer(pointer));
        cols.push(match ty {
            DataType::Boolean => Arc::new(
                vals.map(|v| v.and_then(Value::as_bool))
                    .collect::<arrow_array::BooleanArray>(),
            ),
            DataType::Int64 => Arc::new(
                vals.map(|v| v.and_then(Value::as_i64))
                    .collect::<arrow_array::Int64Array>(),
            ),
            _ => Arc::new(
                vals.map(|v| v.and_then(Value::as_f64))
                    .collect::<arrow_array::Float64Array>(),
            ),
        });
    }
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| Error::Output {
            path: path.to_path_buf(),
            reason: format!("building the table: {e}"),
        })?;
    let meta = RunMetadata::new(sweep.base.text.clone(), sweep.base.sim.seed)
        .with_extra("mfgsim.command", "sweep")
        .with_extra("mfgsim.sweep_command", sweep.spec.command.as_str());
    output::write_parquet(path, &batch, &meta)
}

/// Mean and sample standard deviation over the seeds of one grid point.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricStats {
    /// The metric's column name in `sweep.parquet`.
    pub metric: String,
    /// Mean over the runs with a finite value (NaN, `null` in JSON, when there are none).
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for one run.
    pub sd: f64,
    /// Runs with a finite value.
    pub n: usize,
}

/// One grid point of a sweep: its values and the statistics of its finished runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupStats {
    /// `KEY=VALUE` per grid axis (the seed axis excluded).
    pub values: Vec<String>,
    /// Finished runs at this point.
    pub runs: usize,
    /// The command's headline metrics.
    pub metrics: Vec<MetricStats>,
}

/// The headline metrics of each command, summarised per grid point.
fn headline(sweep: &Sweep) -> Vec<Metric> {
    let keep: &[&str] = match sweep.spec.command {
        SweepCommand::Learn => &[
            "final_l1_to_tmfe",
            "final_exploitability",
            "final_exploitability_weighted",
            "final_agent_exploitability",
            "final_mean_state",
            "seconds",
        ],
        SweepCommand::Solve => &[
            "least_mean_state",
            "greatest_mean_state",
            "least_exploitability",
            "greatest_exploitability",
            "mean_state",
            "exploitability",
            "iterations",
        ],
        SweepCommand::FiniteN => &["rate", "seconds"],
        SweepCommand::NashGap => &["mean_field_exploitability", "rate", "seconds"],
    };
    // Nash-gap: also the gap at the largest N.
    let largest = sweep
        .spec
        .nash_gap
        .agents
        .iter()
        .max()
        .filter(|_| sweep.spec.command == SweepCommand::NashGap)
        .map(|n| format!("gap_n{n}"));
    metrics(sweep)
        .into_iter()
        .filter(|m| keep.contains(&m.name.as_str()) || largest.as_ref() == Some(&m.name))
        .collect()
}

/// Mean ± sd of the headline metrics over the seeds of each grid point, in grid order.
fn group_stats(sweep: &Sweep, summaries: &[(&PlannedRun, Value)]) -> Vec<GroupStats> {
    let axes: Vec<usize> = (0..sweep.spec.grid.len())
        .filter(|&i| sweep.spec.grid[i].key != "sim.seed")
        .collect();
    let label = |r: &PlannedRun| -> Vec<String> {
        axes.iter()
            .map(|&i| {
                let v = &r.values[i];
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                format!("{}={text}", sweep.spec.grid[i].key)
            })
            .collect()
    };
    let mut groups: Vec<(Vec<String>, Vec<&Value>)> = Vec::new();
    for (r, v) in summaries {
        let l = label(r);
        match groups.iter_mut().find(|(g, _)| *g == l) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((l, vec![v])),
        }
    }
    let metrics = headline(sweep);
    groups
        .into_iter()
        .map(|(values, vs)| GroupStats {
            values,
            runs: vs.len(),
            metrics: metrics
                .iter()
                .map(|m| {
                    let xs: Vec<f64> = vs
                        .iter()
                        .filter_map(|v| v.pointer(&m.pointer).and_then(Value::as_f64))
                        .filter(|x| x.is_finite())
                        .collect();
                    let n = xs.len();
                    {
                        let mean = xs.iter().sum::<f64>() / n as f64;
                        let var = if n > 1 {
                            xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
                        } else {
                            0.0
                        };
                        MetricStats {
                            metric: m.name.clone(),
                            mean,
                            sd: var.sqrt(),
                            n,
                        }
                    }
                })
                .collect(),
        })
        .collect()
}

/// The per-grid-point statistics as a Markdown table (`DIR/summary.md`): one row per grid
/// point, `mean ± sd` over its seeds for each headline metric.
pub fn markdown(groups: &[GroupStats]) -> String {
    // Every group lists the same metrics in the same order; keep those any group has.
    let names: Vec<&str> = groups.first().map_or_else(Vec::new, |g| {
        g.metrics
            .iter()
            .map(|m| m.metric.as_str())
            .filter(|n| {
                groups
                    .iter()
                    .any(|g| g.metrics.iter().any(|m| m.metric == *n && m.n > 0))
            })
            .collect()
    });
    let mut out = format!("| grid point | runs | {} |\n", names.join(" | "));
    out.push_str(&format!("|---|---:|{}\n", "---:|".repeat(names.len())));
    for g in groups {
        let point = if g.values.is_empty() {
            "(all)".to_string()
        } else {
            g.values.join(", ")
        };
        let cells: Vec<String> = names
            .iter()
            .map(|n| match g.metrics.iter().find(|m| m.metric == *n) {
                Some(m) if m.n == 0 => "–".into(),
                Some(m) if m.n > 1 => format!("{} ± {}", fmt_num(n, m.mean), fmt_num(n, m.sd)),
                Some(m) => fmt_num(n, m.mean),
                None => "–".into(),
            })
            .collect();
        out.push_str(&format!(
            "| {point} | {} | {} |\n",
            g.runs,
            cells.join(" | ")
        ));
    }
    out
}

fn fmt_num(metric: &str, x: f64) -> String {
    // Exact exploitabilities are accurate to ~1e-11: smaller values are zero.
    if metric.contains("exploitability") && x.abs() < 1e-10 {
        "< 1e-10".into()
    } else if metric.contains("mean_state") || metric == "rate" || metric == "seconds" {
        format!("{x:.4}")
    } else if metric == "iterations" {
        format!("{x:.1}")
    } else {
        format!("{x:.2e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_values_parse_as_toml_with_ranges_and_nested_commas() {
        let a = GridAxis::parse("model.infection_constant=0.05,0.1,1").unwrap();
        assert_eq!(a.key, "model.infection_constant");
        assert_eq!(a.data_type(), DataType::Float64);
        assert_eq!(a.values.len(), 3);
        let a = GridAxis::parse("learner.algo=online,iql,mfq").unwrap();
        assert_eq!(a.data_type(), DataType::Utf8);
        assert_eq!(a.values[1].as_str(), Some("iql"));
        let a = GridAxis::parse("model.w1_pmf=[0.5,0.5],[0.25,0.75]").unwrap();
        assert_eq!(a.values.len(), 2);
        assert!(a.values[0].is_array());
        let a = GridAxis::parse("x=0:1:5").unwrap();
        let xs: Vec<f64> = a.values.iter().map(|v| v.as_float().unwrap()).collect();
        assert_eq!(xs, [0.0, 0.25, 0.5, 0.75, 1.0]);
        let a = GridAxis::parse("sim.agents=100:1000:4").unwrap();
        assert_eq!(a.data_type(), DataType::Int64);
        let ns: Vec<i64> = a.values.iter().map(|v| v.as_integer().unwrap()).collect();
        assert_eq!(ns, [100, 400, 700, 1000]);
        let a = GridAxis::parse("x=0.05:1:20").unwrap();
        assert_eq!(a.values[1].as_float(), Some(0.1));
        assert_eq!(a.values[19].as_float(), Some(1.0));
        for bad in ["novalue", "=1,2", "a..b=1", "x=", "x=1,1", "x=0:1:0"] {
            assert!(GridAxis::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn sweep_table_reads_every_key_and_names_bad_ones() {
        let t: toml::Table = r#"
command = "solve"
seeds = 3
start = "extremal"
[[grid]]
key = "model.infection_constant"
values = [0.1, 0.5]
[finite_n]
agents = [100, 1000]
steps = 20
"#
        .parse()
        .unwrap();
        let s = SweepSpec::from_table(Path::new("f.toml"), &t).unwrap();
        assert_eq!(s.command, SweepCommand::Solve);
        assert_eq!(s.seeds, 3);
        assert_eq!(s.start, Some(StartSpec::Extremal));
        assert_eq!(s.grid[0].values.len(), 2);
        assert_eq!(s.finite_n.agents, [100, 1000]);
        assert_eq!(s.finite_n.steps, 20);
        for (text, key) in [
            ("seeds = 0", "sweep.seeds"),
            ("command = \"plot\"", "sweep.command"),
            ("colour = 1", "sweep.colour"),
            ("[[grid]]\nkey = \"a\"", "sweep.grid[0].values"),
            ("[finite_n]\nsteps = -1", "sweep.finite_n.steps"),
        ] {
            let t: toml::Table = text.parse().unwrap();
            let e = SweepSpec::from_table(Path::new("f.toml"), &t).unwrap_err();
            assert!(e.to_string().contains(key), "{text}: {e}");
            assert!(e.to_string().contains("f.toml"), "{text}: {e}");
        }
    }

    #[test]
    fn finite_n_runs_of_a_point_share_no_replicate() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/gig.toml"));
        let spec = |command| SweepSpec {
            command,
            seeds: 3,
            grid: vec![GridAxis::parse("sim.engine=agents,counts").unwrap()],
            finite_n: FiniteNParams {
                seeds: 4,
                ..FiniteNParams::default()
            },
            ..SweepSpec::default()
        };
        let seeds = |command| -> Vec<u64> {
            Sweep::plan(path, &["sim.seed=10".into()], spec(command))
                .unwrap()
                .runs
                .iter()
                .map(|r| r.seed)
                .collect()
        };
        // Replicates 10..14, 14..18, 18..22 at each grid point.
        assert_eq!(seeds(SweepCommand::FiniteN), [10, 14, 18, 10, 14, 18]);
        assert_eq!(seeds(SweepCommand::Learn), [10, 11, 12, 10, 11, 12]);
    }
}
