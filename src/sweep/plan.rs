//! The plan: [`SweepSpec`] (the `[sweep]` table or the flags), every run's scenario
//! validated before anything runs ([`Sweep::plan`]), the manifest `sweep.json`.

use std::path::Path;

use serde_json::{json, Value};

use super::{GridAxis, SweepCommand};
use crate::error::{Error, Result};
use crate::finite_n::FiniteNParams;
use crate::nash_gap::NashGapParams;
use crate::output::{ManifestAxis, ManifestRun, SweepManifest};
use crate::run::NashPolicy;
use crate::scenario::{Scenario, StartSpec};

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

fn start_json(s: &StartSpec) -> Value {
    use crate::solver::Start;
    match s {
        StartSpec::Extremal => json!("extremal"),
        StartSpec::Single(Start::Given(v)) => json!(v),
        StartSpec::Single(s) => json!(s.label()),
    }
}
