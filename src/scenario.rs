//! Scenario files: TOML → [`RawTable`](toml::Table) (+ `--set` overrides) → validated
//! [`Scenario`].
//!
//! ```toml
//! name = "infection"          # optional; defaults to the file stem
//! [model]
//! kind = "infection"          # or "gig" or "adoption"; every other key is optional (defaults)
//! gamma = 0.9
//! epsilon = 0.1
//! [solver]
//! start = "uniform"           # "lowest" | "highest" | "extremal" | [z_0, z_1, ...]
//! algo = "tbr"                # "damped" | "fp" | "omd"
//! [sim]
//! agents = 1000000
//! ```
//!
//! Every value is checked once, here; errors name the file, the dotted key and the reason,
//! e.g. `scenarios/x.toml: `model.w1_pmf`: must sum to 1, sums to 0.9`. Unknown keys are
//! rejected. Downstream code only ever sees a [`Scenario`].

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::finite_n::EngineKind;
use crate::learner::{
    Algo, BatchTqParams, GmblParams, LearnerParams, MfqParams, Rule, TmfqParams, TqLearnerParams,
};
use crate::model::{
    Adoption, AdoptionParams, BuiltinModel, GameParams, Gig, GigParams, Infection, InfectionParams,
};
use crate::solver::{FpWeights, SolverAlgo, SolverParams, Start};

/// Where T-BR starts, as written in a scenario or on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum StartSpec {
    /// One run from this start.
    Single(Start),
    /// Two runs: from the lowest and from the highest mean field (least and greatest T-MFE).
    Extremal,
}

impl StartSpec {
    /// Parses `uniform`, `lowest`, `highest`, `extremal` or a comma-separated vector.
    ///
    /// # Errors
    /// A message describing the accepted forms.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        Ok(match text.trim() {
            "uniform" => StartSpec::Single(Start::Uniform),
            "lowest" => StartSpec::Single(Start::Lowest),
            "highest" => StartSpec::Single(Start::Highest),
            "extremal" => StartSpec::Extremal,
            other => {
                let v: std::result::Result<Vec<f64>, _> = other
                    .trim_matches(|c| c == '[' || c == ']')
                    .split(',')
                    .map(|x| x.trim().parse::<f64>())
                    .collect();
                match v {
                    Ok(v) if !v.is_empty() => StartSpec::Single(Start::Given(v)),
                    _ => {
                        return Err(format!(
                            "expected uniform, lowest, highest, extremal or a comma-separated \
                             distribution, got `{other}`"
                        ))
                    }
                }
            }
        })
    }
}

/// One `key.path=value` override of a scenario key, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// `key.path=value` (the value is TOML; anything that does not parse is a string).
    pub text: String,
    /// What to blame in messages, e.g. `--set model.gamma=abc` or `--agents 1e6`.
    pub source: String,
}

impl Override {
    /// An override from `--set TEXT`.
    pub fn set(text: impl Into<String>) -> Self {
        let text = text.into();
        Override {
            source: format!("--set {text}"),
            text,
        }
    }

    /// `--set` overrides of every string in `texts`.
    pub fn from_set(texts: &[String]) -> Vec<Self> {
        texts.iter().map(|t| Override::set(t.clone())).collect()
    }

    /// The dotted key it sets (trimmed; the whole text when it has no `=`).
    pub fn key(&self) -> &str {
        self.text
            .split_once('=')
            .map_or(&*self.text, |(k, _)| k)
            .trim()
    }
}

/// Population and run-length settings (table `[sim]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SimParams {
    /// `agents`: number of agents N ≥ 1 of the real population (online algorithms).
    /// Default 1 000 000.
    pub agents: u64,
    /// `iterations`: number of learning iterations K ≥ 1. Default 300.
    pub iterations: u64,
    /// `seed`: seed of every random stream. Default 0.
    pub seed: u64,
    /// `engine`: the simulator of the population, `"agents"` (every agent stored, 3 bytes
    /// each) or `"counts"` (the exact count engine, any N). Default `"agents"`.
    pub engine: EngineKind,
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            agents: 1_000_000,
            iterations: 300,
            seed: 0,
            engine: EngineKind::Agents,
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name used for the default output directory `out/<name>/`.
    pub name: String,
    /// File it came from (`<string>` when parsed from memory).
    pub path: PathBuf,
    /// The effective scenario (after `--set` overrides) as TOML, for output metadata.
    pub text: String,
    /// The model.
    pub model: BuiltinModel,
    /// γ and ε.
    pub game: GameParams,
    /// T-BR settings.
    pub solver: SolverParams,
    /// Default start of T-BR.
    pub start: StartSpec,
    /// Population and run-length settings.
    pub sim: SimParams,
    /// The learning algorithm and its knobs (table `[learner]`).
    pub learner: LearnerParams,
    /// The `[sweep]` table as written (read by [`crate::sweep::SweepSpec::from_table`]).
    pub sweep: Option<toml::Table>,
}

impl Scenario {
    /// Reads and validates a scenario file, applying `overrides` (`key.path=value`). Files
    /// above [`MAX_SCENARIO_BYTES`] (or endless ones such as `/dev/zero`) are refused after
    /// reading at most that many bytes; directories before reading.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::Scenario`] for a file too large,
    /// not UTF-8, or invalid content.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        Self::load_with(path, &Override::from_set(overrides))
    }

    /// [`Scenario::load`] with overrides that name their source (e.g. a flag), so that an
    /// error in an overridden key blames the flag, not the file.
    ///
    /// # Errors
    /// As [`Scenario::load`].
    pub fn load_with(path: &Path, overrides: &[Override]) -> Result<Self> {
        let text = read_text(path)?;
        Self::parse_with(&text, path, overrides)
    }

    /// Parses and validates scenario text; `path` is used in messages and for the default
    /// name.
    ///
    /// # Errors
    /// [`Error::Scenario`] naming the file, key and reason.
    pub fn parse(text: &str, path: &Path, overrides: &[String]) -> Result<Self> {
        Self::parse_with(text, path, &Override::from_set(overrides))
    }

    /// [`Scenario::parse`] with overrides that name their source: an error in a key an
    /// override set (or in a key inside it) names the override's source instead of the file,
    /// e.g. `--set model.gamma=abc: `model.gamma`: expected a number, got string "abc"`.
    ///
    /// # Errors
    /// As [`Scenario::parse`].
    pub fn parse_with(text: &str, path: &Path, overrides: &[Override]) -> Result<Self> {
        Self::parse_inner(text, path, overrides).map_err(|e| match e {
            Error::Scenario { file, key, reason } => {
                let blamed = overrides.iter().rev().find(|o| {
                    let k = o.key();
                    // The key itself, a key inside it, or (an unknown table the
                    // override created) a table the override's key is inside.
                    key == k
                        || key.starts_with(&format!("{k}."))
                        || k.starts_with(&format!("{key}."))
                });
                Error::Scenario {
                    file: blamed.map_or(file, |o| PathBuf::from(&o.source)),
                    key,
                    reason,
                }
            }
            other => other,
        })
    }

    fn parse_inner(text: &str, path: &Path, overrides: &[Override]) -> Result<Self> {
        let table = read_table(text, path, overrides)?;
        let effective = toml::to_string(&table).unwrap_or_default();
        let mut top = Fields::new(path, "", table);
        let name = read_name(&mut top, || {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| check_name(s).is_ok())
                .unwrap_or_else(|| "scenario".into())
        })?;
        let model_t = top.table("model")?.ok_or_else(|| Error::Scenario {
            file: path.to_path_buf(),
            key: "model".into(),
            reason: "missing table `[model]` (with `kind`)".into(),
        })?;
        assemble(path, top, name, effective, &["name", "model"], || {
            parse_model(path, model_t)
        })
    }
}

/// The scenario text as a table, with `overrides` applied in order.
fn read_table(text: &str, path: &Path, overrides: &[Override]) -> Result<toml::Table> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::Scenario {
        file: path.to_path_buf(),
        key: "<syntax>".into(),
        reason: e.to_string().trim().to_string(),
    })?;
    for o in overrides {
        apply_override(&mut table, &o.text).map_err(|(key, reason)| Error::Scenario {
            file: PathBuf::from(&o.source),
            key,
            reason,
        })?;
    }
    Ok(table)
}

/// The top-level `name` (a single path component), else `fallback()`.
fn read_name(top: &mut Fields, fallback: impl FnOnce() -> String) -> Result<String> {
    match top.string("name")? {
        Some(name) => {
            check_name(&name).map_err(|r| top.error("name", r))?;
            Ok(name)
        }
        None => Ok(fallback()),
    }
}

/// The rest of a scenario once its name is read: the `[solver]`, `[sim]`, `[learner]` and
/// `[sweep]` tables, no other top-level key than those and `taken`, then the model (`model()`
/// runs after the unknown-key check, so that error comes first) and the start's length.
fn assemble(
    path: &Path,
    mut top: Fields,
    name: String,
    text: String,
    taken: &[&str],
    model: impl FnOnce() -> Result<(BuiltinModel, GameParams)>,
) -> Result<Scenario> {
    let solver_t = top.table("solver")?.unwrap_or_default();
    let sim_t = top.table("sim")?.unwrap_or_default();
    let learner_t = top.table("learner")?.unwrap_or_default();
    let sweep = top.table("sweep")?;
    let mut allowed = taken.to_vec();
    allowed.extend(["solver", "sim", "learner", "sweep"]);
    top.finish(&allowed)?;
    let (model, game) = model()?;
    let (solver, start) = parse_solver(path, solver_t)?;
    let sim = parse_sim(path, sim_t)?;
    let learner = parse_learner(path, learner_t)?;
    if let StartSpec::Single(s) = &start {
        s.vector(model.as_model().num_states())
            .map_err(|e| Error::Scenario {
                file: path.to_path_buf(),
                key: "solver.start".into(),
                reason: e.to_string(),
            })?;
    }
    Ok(Scenario {
        name,
        path: path.to_path_buf(),
        text,
        model,
        game,
        solver,
        start,
        sim,
        learner,
        sweep,
    })
}

/// Largest scenario file read, in bytes (16 MiB: a pmf of 10^5 states in full precision
/// is about 2.5 MB).
pub const MAX_SCENARIO_BYTES: u64 = 16 << 20;

/// The text of the scenario file `path`: at most [`MAX_SCENARIO_BYTES`], UTF-8.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let err = |reason: String| Error::Scenario {
        file: path.to_path_buf(),
        key: "<file>".into(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(err("is a directory, not a scenario file".into()));
    }
    if meta.len() > MAX_SCENARIO_BYTES {
        return Err(err(format!(
            "is {} bytes, more than the {MAX_SCENARIO_BYTES} a scenario file may have",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(err(format!(
            "holds more than the {MAX_SCENARIO_BYTES} bytes a scenario file may have \
             (not a regular file?)"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        err(format!(
            "is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Longest scenario name, in bytes (a file name on common file systems is at most 255).
pub const MAX_NAME_BYTES: usize = 200;

/// A scenario name is one path component (it names `out/<name>/`): non-empty, at most
/// [`MAX_NAME_BYTES`] bytes, without `/`, a backslash, control characters or a leading `-`
/// or `.` (so not `.` or `..`).
fn check_name(name: &str) -> std::result::Result<(), String> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.len() > MAX_NAME_BYTES {
        "must be at most 200 bytes"
    } else if name.contains(['/', '\\']) {
        "must be a single path component (no `/` or `\\`): it names the output directory out/<name>/"
    } else if name.starts_with('.') {
        "must not start with `.` (`.`, `..` and hidden names would escape or hide out/<name>/)"
    } else if name.starts_with('-') {
        "must not start with `-`"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(format!("{reason}, got {name:?}"))
}

fn parse_model(path: &Path, t: toml::Table) -> Result<(BuiltinModel, GameParams)> {
    let mut f = Fields::new(path, "model", t);
    let kind = f.string("kind")?.ok_or_else(|| {
        f.error(
            "kind",
            "missing; expected \"infection\", \"gig\" or \"adoption\"".into(),
        )
    })?;
    let game_d = GameParams::default();
    let gamma = f.f64("gamma")?.unwrap_or(game_d.gamma);
    let epsilon = f.f64("epsilon")?.unwrap_or(game_d.epsilon);
    let common = [
        "kind",
        "gamma",
        "epsilon",
        "num_states",
        "num_actions",
        "regen_prob",
    ];
    let model = match kind.as_str() {
        "infection" => {
            let d = InfectionParams::default();
            let num_states = f.num_states(d.num_states)?;
            let p = InfectionParams {
                num_states,
                num_actions: f.usize("num_actions")?.unwrap_or(d.num_actions),
                susceptibility_scale: f
                    .f64("susceptibility_scale")?
                    .unwrap_or(d.susceptibility_scale),
                infection_constant: f.f64("infection_constant")?.unwrap_or(d.infection_constant),
                regen_prob: f.f64("regen_prob")?.unwrap_or(d.regen_prob),
                w1_pmf: f.f64_vec("w1_pmf")?.map(renormalized).unwrap_or(d.w1_pmf),
                w2_pmf: f
                    .state_pmf("w2_pmf", num_states, "uniform")?
                    .unwrap_or_else(|| vec![1.0 / num_states.max(1) as f64; num_states]),
                delta1: f.f64("delta1")?.unwrap_or(d.delta1),
                delta2: f.f64("delta2")?.unwrap_or(d.delta2),
                delta3: f.f64("delta3")?.unwrap_or(d.delta3),
            };
            let extra = [
                "susceptibility_scale",
                "infection_constant",
                "w1_pmf",
                "w2_pmf",
                "delta1",
                "delta2",
                "delta3",
            ];
            f.finish(&[&common[..], &extra[..]].concat())?;
            BuiltinModel::Infection(Infection::try_new(p).map_err(|e| e.in_file(path, "model"))?)
        }
        "gig" => {
            let d = GigParams::default();
            let num_states = f.num_states(d.num_states)?;
            let p = GigParams {
                num_states,
                num_actions: f.usize("num_actions")?.unwrap_or(d.num_actions),
                task_rate_floor: f.f64("task_rate_floor")?.unwrap_or(d.task_rate_floor),
                approval_min: f.f64("approval_min")?.unwrap_or(d.approval_min),
                approval_max: f.f64("approval_max")?.unwrap_or(d.approval_max),
                regen_prob: f.f64("regen_prob")?.unwrap_or(d.regen_prob),
                entry_pmf: f
                    .state_pmf("entry_pmf", num_states, "all mass on state 0")?
                    .unwrap_or_else(|| {
                        let mut e = vec![0.0; num_states];
                        if let Some(x) = e.first_mut() {
                            *x = 1.0;
                        }
                        e
                    }),
                base_pay: f.f64("base_pay")?.unwrap_or(d.base_pay),
                market_boost: f.f64("market_boost")?.unwrap_or(d.market_boost),
                effort_cost: f.f64("effort_cost")?.unwrap_or(d.effort_cost),
            };
            let extra = [
                "task_rate_floor",
                "approval_min",
                "approval_max",
                "entry_pmf",
                "base_pay",
                "market_boost",
                "effort_cost",
            ];
            f.finish(&[&common[..], &extra[..]].concat())?;
            BuiltinModel::Gig(Gig::try_new(p).map_err(|e| e.in_file(path, "model"))?)
        }
        "adoption" => {
            let d = AdoptionParams::default();
            let num_states = f.num_states(d.num_states)?;
            let p = AdoptionParams {
                num_states,
                num_actions: f.usize("num_actions")?.unwrap_or(d.num_actions),
                advance_prob: f.f64("advance_prob")?.unwrap_or(d.advance_prob),
                advance_network: f.f64("advance_network")?.unwrap_or(d.advance_network),
                lapse_prob: f.f64("lapse_prob")?.unwrap_or(d.lapse_prob),
                lapse_protection: f.f64("lapse_protection")?.unwrap_or(d.lapse_protection),
                lapse_protection_network: f
                    .f64("lapse_protection_network")?
                    .unwrap_or(d.lapse_protection_network),
                regen_prob: f.f64("regen_prob")?.unwrap_or(d.regen_prob),
                entry_pmf: f
                    .state_pmf("entry_pmf", num_states, "all mass on state 0")?
                    .unwrap_or_else(|| {
                        let mut e = vec![0.0; num_states];
                        if let Some(x) = e.first_mut() {
                            *x = 1.0;
                        }
                        e
                    }),
                standalone_value: f.f64("standalone_value")?.unwrap_or(d.standalone_value),
                network_value: f.f64("network_value")?.unwrap_or(d.network_value),
                invest_cost: f.f64("invest_cost")?.unwrap_or(d.invest_cost),
            };
            let extra = [
                "advance_prob",
                "advance_network",
                "lapse_prob",
                "lapse_protection",
                "lapse_protection_network",
                "entry_pmf",
                "standalone_value",
                "network_value",
                "invest_cost",
            ];
            f.finish(&[&common[..], &extra[..]].concat())?;
            BuiltinModel::Adoption(Adoption::try_new(p).map_err(|e| e.in_file(path, "model"))?)
        }
        other => {
            return Err(f.error(
                "kind",
                format!("unknown model `{other}`; expected \"infection\", \"gig\" or \"adoption\""),
            ))
        }
    };
    let game = GameParams::try_new(gamma, epsilon).map_err(|e| e.in_file(path, "model"))?;
    if model.as_model().num_actions() == 1 && game.epsilon > 0.0 {
        return Err(Error::Scenario {
            file: path.to_path_buf(),
            key: "model.epsilon".into(),
            reason: format!(
                "must be 0 with model.num_actions = 1 (there is no other action to tremble \
                 to), got {}",
                game.epsilon
            ),
        });
    }
    Ok((model, game))
}

fn parse_solver(path: &Path, t: toml::Table) -> Result<(SolverParams, StartSpec)> {
    let mut f = Fields::new(path, "solver", t);
    let d = SolverParams::default();
    let algo = match f.string("algo")? {
        None => d.algo,
        Some(name) => SolverAlgo::parse(&name).map_err(|r| f.error("algo", r))?,
    };
    let p = SolverParams {
        algo,
        tol: f.f64("tol")?.unwrap_or(d.tol),
        max_iterations: f.usize("max_iterations")?.unwrap_or(d.max_iterations),
        tq_tol: f.f64("tq_tol")?.unwrap_or(d.tq_tol),
        max_tq_sweeps: f.usize("max_tq_sweeps")?.unwrap_or(d.max_tq_sweeps),
        certify_greedy: f.bool("certify_greedy")?.unwrap_or(d.certify_greedy),
        damping: f.f64("damping")?.unwrap_or(d.damping),
        omd_rate: f.f64("omd_rate")?.unwrap_or(d.omd_rate),
        fp_weights: match f.string("fp_weights")? {
            None => d.fp_weights,
            Some(w) => FpWeights::parse(&w).map_err(|r| f.error("fp_weights", r))?,
        },
        target_exploitability: f
            .f64("target_exploitability")?
            .unwrap_or(d.target_exploitability),
        target_consistency: f.f64("target_consistency")?.unwrap_or(d.target_consistency),
    };
    let start = match f.take("start") {
        None => StartSpec::Single(Start::Uniform),
        Some(toml::Value::String(s)) => StartSpec::parse(&s).map_err(|r| f.error("start", r))?,
        Some(toml::Value::Array(a)) => {
            let v = a
                .iter()
                .map(as_f64)
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| f.error("start", "array entries must be numbers".into()))?;
            StartSpec::Single(Start::Given(v))
        }
        Some(other) => {
            return Err(f.error(
                "start",
                format!("expected a string or an array, got {}", other.type_str()),
            ))
        }
    };
    f.finish(&[
        "tol",
        "max_iterations",
        "tq_tol",
        "max_tq_sweeps",
        "certify_greedy",
        "start",
        "algo",
        "damping",
        "omd_rate",
        "fp_weights",
        "target_exploitability",
        "target_consistency",
    ])?;
    p.validate().map_err(|e| e.in_file(path, "solver"))?;
    Ok((p, start))
}

fn parse_sim(path: &Path, t: toml::Table) -> Result<SimParams> {
    let mut f = Fields::new(path, "sim", t);
    let d = SimParams::default();
    let engine = match f.string("engine")?.as_deref() {
        None => d.engine,
        Some("agents") => EngineKind::Agents,
        Some("counts") => EngineKind::Counts,
        Some(other) => {
            return Err(f.error(
                "engine",
                format!("unknown engine `{other}`; expected \"agents\" or \"counts\""),
            ))
        }
    };
    let p = SimParams {
        agents: f.u64("agents")?.unwrap_or(d.agents),
        iterations: f.u64("iterations")?.unwrap_or(d.iterations),
        seed: f.u64("seed")?.unwrap_or(d.seed),
        engine,
    };
    if p.agents == 0 {
        return Err(f.error("agents", "must be >= 1".into()));
    }
    if p.iterations == 0 {
        return Err(f.error("iterations", "must be >= 1".into()));
    }
    f.finish(&["agents", "iterations", "seed", "engine"])?;
    Ok(p)
}

fn parse_learner(path: &Path, t: toml::Table) -> Result<LearnerParams> {
    let mut f = Fields::new(path, "learner", t);
    let d = LearnerParams::default();
    let algo = match f.string("algo")? {
        None => d.algo,
        Some(name) => Algo::parse(&name).map_err(|r| f.error("algo", r))?,
    };
    let rule = match f.string("rule")? {
        None => d.rule,
        Some(name) => Rule::parse(&name).map_err(|r| f.error("rule", r))?,
    };
    // `memory = inf` is TOML for "no cap".
    let p = LearnerParams {
        algo,
        rule,
        batch: BatchTqParams {
            samples: f.f64("batch_samples")?.unwrap_or(d.batch.samples),
            memory: f.f64("batch_memory")?.unwrap_or(d.batch.memory),
            sweeps: f.usize("batch_sweeps")?.unwrap_or(d.batch.sweeps),
            drift: f.f64("batch_drift")?.unwrap_or(d.batch.drift),
            drift_gate: f.f64("batch_drift_gate")?.unwrap_or(d.batch.drift_gate),
        },
        tq: TqLearnerParams {
            budget: f.usize("budget")?.unwrap_or(d.tq.budget),
            step_exponent: f.f64("step_exponent")?.unwrap_or(d.tq.step_exponent),
            memory: f.f64("memory")?.unwrap_or(d.tq.memory),
        },
        tmfq: TmfqParams {
            sim_agents: f.usize("sim_agents")?.unwrap_or(d.tmfq.sim_agents),
            inner_tol: f.f64("inner_tol")?.unwrap_or(d.tmfq.inner_tol),
            check_every: f.u64("check_every")?.unwrap_or(d.tmfq.check_every),
            max_sim_transitions: f
                .u64("max_sim_transitions")?
                .unwrap_or(d.tmfq.max_sim_transitions),
            mf_agents: f.u64("mf_agents")?.unwrap_or(d.tmfq.mf_agents),
            cold_start: f.bool("cold_start")?.unwrap_or(d.tmfq.cold_start),
        },
        gmbl: GmblParams {
            gen_samples: f.u64("gen_samples")?.unwrap_or(d.gmbl.gen_samples),
            value_tol: f.f64("value_tol")?.unwrap_or(d.gmbl.value_tol),
        },
        mfq: MfqParams {
            neighbours: f.usize("mfq_neighbours")?.unwrap_or(d.mfq.neighbours),
            bins: f.usize("mfq_bins")?.unwrap_or(d.mfq.bins),
        },
        reset_on_regeneration: f
            .bool("reset_on_regeneration")?
            .unwrap_or(d.reset_on_regeneration),
    };
    f.finish(&LearnerParams::KEYS)?;
    p.validate().map_err(|e| e.in_file(path, "learner"))?;
    Ok(p)
}

impl Scenario {
    /// A scenario around a model written in code (e.g. a Python `CustomModel`):
    /// `model` and `game` replace the `[model]` table, and `text` (TOML, may be empty)
    /// holds the other tables (`name`, `[solver]`, `[sim]`, `[learner]`), with
    /// `overrides` applied and every key checked as in [`Scenario::parse`]. The effective
    /// text records `[model] kind = "<model.name()>"`.
    ///
    /// # Errors
    /// [`Error::Scenario`] naming `path`, the key and the reason, also when `text` has a
    /// `[model]` table.
    pub fn with_model(
        model: BuiltinModel,
        game: GameParams,
        text: &str,
        path: &Path,
        overrides: &[String],
    ) -> Result<Self> {
        let table = read_table(text, path, &Override::from_set(overrides))?;
        if table.contains_key("model") {
            return Err(Error::Scenario {
                file: path.to_path_buf(),
                key: "model".into(),
                reason: "the model is given in code; remove the `[model]` table".into(),
            });
        }
        let mut recorded = table.clone();
        let mut model_t = toml::Table::new();
        model_t.insert("kind".into(), model.as_model().name().into());
        model_t.insert("gamma".into(), game.gamma.into());
        model_t.insert("epsilon".into(), game.epsilon.into());
        recorded.insert("model".into(), model_t.into());
        let effective = toml::to_string(&recorded).unwrap_or_default();
        let mut top = Fields::new(path, "", table);
        let default_name = model.as_model().name().to_string();
        let name = read_name(&mut top, || {
            Some(default_name)
                .filter(|s| check_name(s).is_ok())
                .unwrap_or_else(|| "custom".into())
        })?;
        assemble(path, top, name, effective, &["name"], || Ok((model, game)))
    }
}

/// A pmf accepted within [`PMF_SUM_TOL`](crate::model::PMF_SUM_TOL) of sum 1 but off by
/// more than rounding (n·ε) is divided by its sum: a kernel whose rows sum to 1 + 10⁻⁹ leaks
/// mass at every step, and T-BR's z drifted off the simplex (found by the fuzz target). A
/// pmf that is further off, or has a bad entry, is left for the model to reject by name.
fn renormalized(mut p: Vec<f64>) -> Vec<f64> {
    let sum: f64 = p.iter().sum();
    let off = (sum - 1.0).abs();
    let ok = p.iter().all(|x| x.is_finite() && *x >= 0.0);
    if ok && off <= crate::model::PMF_SUM_TOL && off > p.len() as f64 * f64::EPSILON {
        p.iter_mut().for_each(|x| *x /= sum);
    }
    p
}

/// A value as written in TOML, cut to 40 characters (for messages).
fn shown(v: &toml::Value) -> String {
    let text = match v {
        toml::Value::Table(_) => "{…}".to_string(),
        toml::Value::Array(a) if a.len() > 8 => format!("[… {} entries]", a.len()),
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

fn as_f64(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Float(x) => Some(*x),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

/// Applies one `a.b.c=value` override to `table`. The value is parsed as a TOML value
/// (`0.5`, `[0.2, 0.8]`, `"gig"`); anything that does not parse is taken as a bare string.
fn apply_override(
    table: &mut toml::Table,
    text: &str,
) -> std::result::Result<(), (String, String)> {
    // A key to name in the message, never an empty one (the fuzz target found "``").
    let shown_key = |k: &str| {
        if k.trim().is_empty() {
            "<empty key>".to_string()
        } else {
            k.trim().to_string()
        }
    };
    let (key, value) = text.split_once('=').ok_or_else(|| {
        (
            shown_key(text),
            "expected key.path=value (e.g. model.gamma=0.95)".to_string(),
        )
    })?;
    let key = key.trim();
    let value = value.trim();
    if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
        return Err((shown_key(key), "empty key segment".into()));
    }
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = table;
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        let entry = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err((
                    parts[..=i].join("."),
                    "is not a table, cannot set a key inside it".into(),
                ))
            }
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), parsed);
    Ok(())
}

/// Typed, key-naming access to one TOML table; keys are consumed as they are read so that
/// [`Fields::finish`] can reject unknown ones.
struct Fields<'a> {
    file: &'a Path,
    prefix: &'static str,
    table: toml::Table,
}

impl<'a> Fields<'a> {
    fn new(file: &'a Path, prefix: &'static str, table: toml::Table) -> Self {
        Fields {
            file,
            prefix,
            table,
        }
    }

    fn error(&self, key: &str, reason: String) -> Error {
        // TOML allows an empty quoted key (`'' = 1`); name it as written, never as ``
        // (a fuzz finding).
        let key = if key.is_empty() { "\"\"" } else { key };
        Error::Scenario {
            file: self.file.to_path_buf(),
            key: if self.prefix.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", self.prefix)
            },
            reason,
        }
    }

    fn take(&mut self, key: &str) -> Option<toml::Value> {
        self.table.remove(key)
    }

    fn wrong_type(&self, key: &str, want: &str, got: &toml::Value) -> Error {
        self.error(
            key,
            format!("expected {want}, got {} {}", got.type_str(), shown(got)),
        )
    }

    fn f64(&mut self, key: &str) -> Result<Option<f64>> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => as_f64(&v)
                .map(Some)
                .ok_or_else(|| self.wrong_type(key, "a number", &v)),
        }
    }

    fn u64(&mut self, key: &str) -> Result<Option<u64>> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) if i >= 0 => Ok(Some(i as u64)),
            // Allow 1e6-style floats when they are exact non-negative integers.
            Some(toml::Value::Float(x)) if x >= 0.0 && x.fract() == 0.0 && x < 2f64.powi(63) => {
                Ok(Some(x as u64))
            }
            Some(toml::Value::Integer(i)) => {
                Err(self.error(key, format!("must be a non-negative integer, got {i}")))
            }
            Some(toml::Value::Float(x)) if x.fract() == 0.0 && x >= 2f64.powi(63) => Err(self
                .error(
                    key,
                    format!("{x:e} is too large (at most 2^63 - 1 = 9.2e18)"),
                )),
            Some(v) => Err(self.wrong_type(key, "a non-negative integer", &v)),
        }
    }

    fn usize(&mut self, key: &str) -> Result<Option<usize>> {
        Ok(self.u64(key)?.map(|v| v as usize))
    }

    fn bool(&mut self, key: &str) -> Result<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(b)),
            Some(v) => Err(self.wrong_type(key, "true or false", &v)),
        }
    }

    fn string(&mut self, key: &str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong_type(key, "a string", &v)),
        }
    }

    fn f64_vec(&mut self, key: &str) -> Result<Option<Vec<f64>>> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    as_f64(v).ok_or_else(|| {
                        self.error(
                            key,
                            format!("entry {i}: expected a number, got {}", v.type_str()),
                        )
                    })
                })
                .collect::<Result<Vec<f64>>>()
                .map(Some),
            Some(v) => Err(self.wrong_type(key, "an array of numbers", &v)),
        }
    }

    /// `num_states`, checked against the models' bound (1..=2^16) *before* any default pmf
    /// of that length is built (the fuzz target found `num_states = 6577777777777` aborting
    /// on a 52 TB allocation).
    fn num_states(&mut self, default: usize) -> Result<usize> {
        let n = self.usize("num_states")?.unwrap_or(default);
        crate::model::check_size("num_states", n, 1 << 16).map_err(|e| match e {
            Error::Param { reason, .. } => self.error("num_states", reason),
            other => other,
        })?;
        Ok(n)
    }

    /// A pmf over the states: `num_states` entries. A length mismatch (typically after
    /// `--set model.num_states=…` on a scenario that lists the pmf) says which keys go
    /// together and what the default is.
    fn state_pmf(
        &mut self,
        key: &str,
        num_states: usize,
        default: &str,
    ) -> Result<Option<Vec<f64>>> {
        let v = self.f64_vec(key)?.map(renormalized);
        match &v {
            Some(p) if p.len() != num_states => Err(self.error(
                key,
                format!(
                    "has {} entries but model.num_states = {num_states}: a pmf has one entry \
                     per state, so set model.num_states and model.{key} together (e.g. \
                     --set model.num_states={num_states} --set 'model.{key}=[…]' with \
                     {num_states} entries), or delete `{key}` from the scenario to get the \
                     default ({default})",
                    p.len()
                ),
            )),
            _ => Ok(v),
        }
    }

    fn table(&mut self, key: &str) -> Result<Option<toml::Table>> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::Table(t)) => Ok(Some(t)),
            Some(v) => Err(self.wrong_type(key, "a table", &v)),
        }
    }

    /// Rejects any key not consumed yet.
    fn finish(self, allowed: &[&str]) -> Result<()> {
        if let Some(key) = self.table.keys().next() {
            return Err(self.error(
                key,
                format!("unknown key; expected one of: {}", allowed.join(", ")),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, overrides: &[&str]) -> Result<Scenario> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Scenario::parse(text, Path::new("x.toml"), &o)
    }

    fn err(text: &str, overrides: &[&str]) -> String {
        parse(text, overrides).unwrap_err().to_string()
    }

    #[test]
    fn minimal_scenario_gets_paper_defaults() {
        let s = parse("[model]\nkind = \"infection\"\n", &[]).unwrap();
        assert_eq!(s.name, "x");
        assert_eq!(s.game, GameParams::default());
        match s.model {
            BuiltinModel::Infection(m) => assert_eq!(m.params(), &InfectionParams::default()),
            _ => panic!(),
        }
        assert_eq!(s.sim, SimParams::default());
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let e = err("[model]\nkind = \"infection\"\nbeta = 1\n", &[]);
        assert!(e.starts_with("x.toml: `model.beta`: unknown key"), "{e}");
        let e = err("[model]\nkind = \"gig\"\ngamma = 1.0\n", &[]);
        assert!(e.contains("`model.gamma`: must be in (0, 1)"), "{e}");
        let e = err("[model]\nkind = \"gig\"\nepsilon = 1.0\n", &[]);
        assert!(e.contains("`model.epsilon`: must be in [0, 1)"), "{e}");
        let e = err("[model]\nkind = \"infection\"\nw1_pmf = [0.5, 0.4]\n", &[]);
        assert!(e.contains("`model.w1_pmf`: must sum to 1"), "{e}");
        let e = err("[model]\nkind = \"gig\"\nregen_prob = -0.1\n", &[]);
        assert!(e.contains("`model.regen_prob`: must be in [0, 1]"), "{e}");
        let e = err("[model]\nkind = \"gig\"\nbase_pay = \"a lot\"\n", &[]);
        assert!(
            e.contains("`model.base_pay`: expected a number, got string"),
            "{e}"
        );
        let e = err("[model]\nkind = \"chess\"\n", &[]);
        assert!(e.contains("`model.kind`: unknown model `chess`"), "{e}");
        let e = err(
            "[model]\nkind = \"gig\"\n[solver]\nstart = \"middle\"\n",
            &[],
        );
        assert!(e.contains("`solver.start`"), "{e}");
        let e = err("[model]\nkind = \"gig\"\n[sim]\nagents = 0\n", &[]);
        assert!(e.contains("`sim.agents`: must be >= 1"), "{e}");
        let e = err("[model\n", &[]);
        assert!(e.contains("x.toml: `<syntax>`"), "{e}");
        let e = err("[solver]\n", &[]);
        assert!(e.contains("missing table `[model]`"), "{e}");
    }

    #[test]
    fn adoption_keys_are_read_and_each_bad_one_is_named() {
        let base = "[model]\nkind = \"adoption\"\n";
        let s = parse(base, &[]).unwrap();
        match &s.model {
            BuiltinModel::Adoption(m) => assert_eq!(m.params(), &AdoptionParams::default()),
            _ => panic!("not an adoption model"),
        }
        let s = parse(
            base,
            &[
                "model.num_states=4",
                "model.num_actions=3",
                "model.advance_prob=0.3",
                "model.advance_network=0.1",
                "model.lapse_prob=0.5",
                "model.lapse_protection=0.35",
                "model.lapse_protection_network=0.15",
                "model.regen_prob=0.05",
                "model.entry_pmf=[0.5, 0.5, 0, 0]",
                "model.standalone_value=0.2",
                "model.network_value=0.7",
                "model.invest_cost=0.05",
            ],
        )
        .unwrap();
        let BuiltinModel::Adoption(m) = &s.model else {
            panic!("not an adoption model")
        };
        assert_eq!(
            m.params(),
            &AdoptionParams {
                num_states: 4,
                num_actions: 3,
                advance_prob: 0.3,
                advance_network: 0.1,
                lapse_prob: 0.5,
                lapse_protection: 0.35,
                lapse_protection_network: 0.15,
                regen_prob: 0.05,
                entry_pmf: vec![0.5, 0.5, 0.0, 0.0],
                standalone_value: 0.2,
                network_value: 0.7,
                invest_cost: 0.05,
            }
        );
        for (line, want) in [
            (
                "num_states = 0",
                "`model.num_states`: must be in [1, 65536]",
            ),
            (
                "num_actions = 0",
                "`model.num_actions`: must be in [1, 256]",
            ),
            (
                "advance_prob = 1.5",
                "`model.advance_prob`: must be in [0, 1]",
            ),
            (
                "advance_network = 0.7",
                "`model.advance_network`: advance_prob + advance_network",
            ),
            ("lapse_prob = -1", "`model.lapse_prob`: must be in [0, 1]"),
            (
                "lapse_protection = 0.5",
                "`model.lapse_protection`: lapse_prob - lapse_protection",
            ),
            (
                "lapse_protection_network = 0.2",
                "`model.lapse_protection_network`: lapse_prob - lapse_protection - \
                 lapse_protection_network",
            ),
            ("regen_prob = 1.5", "`model.regen_prob`: must be in [0, 1]"),
            ("entry_pmf = [1.0]", "`model.entry_pmf`: has 1 entries"),
            (
                "standalone_value = \"none\"",
                "`model.standalone_value`: expected a number",
            ),
            (
                "network_value = nan",
                "`model.network_value`: must be finite",
            ),
            ("invest_cost = inf", "`model.invest_cost`: must be finite"),
            (
                "kappa = 0.1",
                "`model.kappa`: unknown key; expected one of: kind",
            ),
        ] {
            let e = err(&format!("{base}{line}\n"), &[]);
            assert!(e.starts_with("x.toml: ") && e.contains(want), "{line}: {e}");
        }
        let e = err("[model]\n", &[]);
        assert!(
            e.contains("`model.kind`: missing; expected \"infection\", \"gig\" or \"adoption\""),
            "{e}"
        );
    }

    #[test]
    fn learner_keys_are_read_and_each_bad_one_is_named() {
        let base = "[model]\nkind = \"gig\"\n";
        let s = parse(
            base,
            &[
                "learner.algo=tmfq",
                "learner.memory=inf",
                "learner.sim_agents=500",
                "learner.max_sim_transitions=1e6",
                "learner.gen_samples=77",
                "learner.rule=sampled",
                "learner.batch_samples=1e6",
                "learner.batch_memory=30",
                "learner.batch_sweeps=7",
                "learner.cold_start=true",
                "learner.reset_on_regeneration=true",
                "sim.engine=counts",
            ],
        )
        .unwrap();
        assert!(s.learner.tmfq.cold_start);
        assert!(s.learner.reset_on_regeneration);
        let d = parse(base, &["learner.rule=paper"]).unwrap();
        assert_eq!(d.learner.rule, Rule::Paper);
        assert!(!d.learner.tmfq.cold_start);
        assert!(!d.learner.reset_on_regeneration);
        assert_eq!(s.learner.algo, Algo::Tmfq);
        assert_eq!(s.learner.tq.memory, f64::INFINITY);
        assert_eq!(s.learner.tmfq.sim_agents, 500);
        assert_eq!(s.learner.tmfq.max_sim_transitions, 1_000_000);
        assert_eq!(s.learner.gmbl.gen_samples, 77);
        assert_eq!(s.learner.rule, Rule::Sampled);
        assert_eq!(s.learner.batch.samples, 1e6);
        assert_eq!(s.learner.batch.memory, 30.0);
        assert_eq!(s.learner.batch.sweeps, 7);
        assert_eq!(s.sim.engine, EngineKind::Counts);
        for (set, want) in [
            (
                "learner.algo=sarsa",
                "`learner.algo`: unknown algorithm `sarsa`",
            ),
            (
                "learner.memroy=3",
                "`learner.memroy`: unknown key; expected one of: algo",
            ),
            ("learner.memory=0.5", "`learner.memory`: must be >= 1"),
            (
                "learner.rule=exact",
                "`learner.rule`: unknown rule `exact`; expected one of: sampled, batch, paper",
            ),
            (
                "learner.cold_start=1",
                "`learner.cold_start`: expected true or false, got integer",
            ),
            (
                "learner.reset_on_regeneration=\"yes\"",
                "`learner.reset_on_regeneration`: expected true or false, got string",
            ),
            (
                "learner.batch_samples=0.5",
                "`learner.batch_samples`: must be a finite number >= 1",
            ),
            (
                "learner.batch_memory=inf",
                "`learner.batch_memory`: must be a finite number >= 1",
            ),
            (
                "learner.batch_sweeps=0",
                "`learner.batch_sweeps`: must be >= 1",
            ),
            (
                "learner.budget=-3",
                "`learner.budget`: must be a non-negative integer, got -3",
            ),
            (
                "learner.step_exponent=2",
                "`learner.step_exponent`: must be in (0.5, 1]",
            ),
            ("learner.sim_agents=0", "`learner.sim_agents`: must be >= 1"),
            (
                "learner.inner_tol=0",
                "`learner.inner_tol`: must be a finite number > 0",
            ),
            (
                "learner.check_every=0",
                "`learner.check_every`: must be >= 1",
            ),
            (
                "learner.max_sim_transitions=5",
                "`learner.max_sim_transitions`: must be >=",
            ),
            ("learner.mf_agents=0", "`learner.mf_agents`: must be >= 1"),
            (
                "learner.gen_samples=0",
                "`learner.gen_samples`: must be >= 1",
            ),
            (
                "learner.value_tol=-1",
                "`learner.value_tol`: must be a finite number > 0",
            ),
            ("sim.engine=gpu", "`sim.engine`: unknown engine `gpu`"),
            (
                "learner.mfq_neighbours=0",
                "`learner.mfq_neighbours`: must be >= 1",
            ),
            (
                "learner.mfq_bins=300",
                "`learner.mfq_bins`: must be in 1..=255",
            ),
        ] {
            let e = err(base, &[set]);
            let blamed = format!("--set {set}: ");
            assert!(e.starts_with(&blamed) && e.contains(want), "{set}: {e}");
        }
    }

    #[test]
    fn overrides_apply_and_are_validated() {
        let base = "[model]\nkind = \"gig\"\n";
        let s = parse(
            base,
            &["model.gamma=0.95", "sim.seed=7", "solver.start=lowest"],
        )
        .unwrap();
        assert_eq!(s.game.gamma, 0.95);
        assert_eq!(s.sim.seed, 7);
        assert_eq!(s.start, StartSpec::Single(Start::Lowest));
        assert!(s.text.contains("0.95"));
        let e = err(base, &["model.gamma=2"]);
        assert!(e.contains("`model.gamma`"), "{e}");
        let e = err(base, &["model.gamma"]);
        assert!(e.contains("--set") && e.contains("key.path=value"), "{e}");
        let e = err(base, &["model.kind.x=1"]);
        assert!(e.contains("not a table"), "{e}");
    }

    #[test]
    fn a_name_is_one_path_component() {
        let named = |n: &str| format!("name = {n:?}\n[model]\nkind = \"gig\"\n");
        for (name, want) in [
            ("../../escape", "must be a single path component"),
            ("a/b", "must be a single path component"),
            ("a\\b", "must be a single path component"),
            ("", "must not be empty"),
            ("..", "must not start with `.`"),
            (".hidden", "must not start with `.`"),
            ("-rf", "must not start with `-`"),
            ("a\nb", "must not contain control characters"),
        ] {
            let e = err(&named(name), &[]);
            assert!(
                e.starts_with("x.toml: `name`: ") && e.contains(want),
                "{name:?}: {e}"
            );
        }
        assert_eq!(parse(&named("gig 2 (β)"), &[]).unwrap().name, "gig 2 (β)");
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(err(&named(&long), &[]).contains("at most 200 bytes"));
        // A file stem that is not a valid name falls back to `scenario`.
        let s = Scenario::parse("[model]\nkind = \"gig\"\n", Path::new("-x.toml"), &[]).unwrap();
        assert_eq!(s.name, "scenario");
    }

    #[test]
    fn errors_in_overridden_keys_name_the_override() {
        let base = "[model]\nkind = \"gig\"\n";
        let e = err(base, &["model.gamma=abc"]);
        assert_eq!(
            e,
            "--set model.gamma=abc: `model.gamma`: expected a number, got string \"abc\""
        );
        // The last override of a key is blamed; keys not overridden still name the file.
        let e = err(base, &["model.gamma=0.5", "model.gamma=2"]);
        assert!(e.starts_with("--set model.gamma=2: `model.gamma`"), "{e}");
        // An unknown table made by the override blames the override, not the file.
        let e = Scenario::parse(
            "[model]\nkind = \"gig\"\n",
            Path::new("s.toml"),
            &["learner.tmfq.sim_agents=0".to_string()],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("--set learner.tmfq.sim_agents=0: `learner.tmfq`: unknown key"),
            "{e}"
        );
        let e = err("[model]\nkind = \"gig\"\nbeta = 1\n", &["model.gamma=0.5"]);
        assert!(e.starts_with("x.toml: `model.beta`"), "{e}");
        // A table override is blamed for a key inside it.
        let e = err(base, &["sim={agents = -1}"]);
        assert!(
            e.starts_with(
                "--set sim={agents = -1}: `sim.agents`: must be a non-negative integer, got -1"
            ),
            "{e}"
        );
        // Flags name themselves.
        let o = [Override {
            text: "sim.agents=0".into(),
            source: "--agents 0".into(),
        }];
        let e = Scenario::parse_with(base, Path::new("x.toml"), &o)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--agents 0: `sim.agents`: must be >= 1");
        for bad in ["", "=3", " . =1", "model..gamma=1"] {
            let e = err(base, &[bad]);
            assert!(!e.contains("``"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_resized_pmf_says_which_keys_go_together() {
        let gig = "[model]\nkind = \"gig\"\nentry_pmf = [1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n";
        let e = err(gig, &["model.num_states=20"]);
        assert!(
            e.contains("`model.entry_pmf`: has 10 entries but model.num_states = 20"),
            "{e}"
        );
        assert!(
            e.contains("set model.num_states and model.entry_pmf together"),
            "{e}"
        );
        assert!(e.contains("default (all mass on state 0)"), "{e}");
        let inf = "[model]\nkind = \"infection\"\nw2_pmf = [0.5, 0.5]\n";
        let e = err(inf, &[]);
        assert!(
            e.contains("`model.w2_pmf`: has 2 entries but model.num_states = 25"),
            "{e}"
        );
        // Without the pmf in the file, the default follows the new size.
        assert!(parse("[model]\nkind = \"gig\"\n", &["model.num_states=20"]).is_ok());
    }

    #[test]
    fn sizes_and_integers_are_bounded_before_anything_is_built() {
        let e = err(
            "[model]\nkind = \"infection\"\nnum_states = 6577777777777\n",
            &[],
        );
        assert!(
            e.contains("`model.num_states`: must be in [1, 65536], got 6577777777777"),
            "{e}"
        );
        let e = err("[model]\nkind = \"gig\"\n[sim]\nagents = 1e19\n", &[]);
        assert!(e.contains("`sim.agents`: 1e19 is too large"), "{e}");
        let e = err("[model]\nkind = \"gig\"\nnum_actions = 1\n", &[]);
        assert!(
            e.contains("`model.epsilon`: must be 0 with model.num_actions = 1"),
            "{e}"
        );
        assert!(parse(
            "[model]\nkind = \"gig\"\nnum_actions = 1\nepsilon = 0\n",
            &[]
        )
        .is_ok());
    }

    #[test]
    fn pmfs_within_tolerance_are_renormalised_so_t_br_conserves_mass() {
        // Fuzz finding: w1_pmf summing to 1 + 9.1e-10 was accepted, and z drifted to a sum
        // of 1 + 6.4e-9.
        let mut w1 = vec![1.0 / 11.0; 11];
        w1[8] += 9.1e-10;
        let text = format!("[model]\nkind = \"infection\"\nw1_pmf = {w1:?}\n");
        let s = parse(&text, &[]).unwrap();
        let BuiltinModel::Infection(m) = &s.model else {
            panic!()
        };
        let sum: f64 = m.params().w1_pmf.iter().sum();
        assert!((sum - 1.0).abs() <= 11.0 * f64::EPSILON, "{sum}");
        let sol = crate::solver::solve(m, s.game, &s.solver, &Start::Uniform).unwrap();
        let z: f64 = sol.z.iter().sum();
        assert!((z - 1.0).abs() < 1e-12, "{z}");
        // Exact pmfs (the bundled ones) are left bit for bit.
        assert_eq!(renormalized(vec![0.25, 0.75]), vec![0.25, 0.75]);
        assert_eq!(
            renormalized(vec![0.5, 0.4]),
            vec![0.5, 0.4],
            "left for the model"
        );
    }

    #[test]
    fn scenario_files_are_capped_and_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let e = Scenario::load(dir.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b' '; MAX_SCENARIO_BYTES as usize + 1]).unwrap();
        let e = Scenario::load(&big, &[]).unwrap_err().to_string();
        assert!(
            e.contains("is 16777217 bytes, more than the 16777216"),
            "{e}"
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, b"[model]\nkind = \"\xff\"\n").unwrap();
        let e = Scenario::load(&bad, &[]).unwrap_err().to_string();
        assert!(
            e.contains("is not UTF-8 text (invalid byte at offset 16)"),
            "{e}"
        );
        if Path::new("/dev/zero").exists() {
            let e = Scenario::load(Path::new("/dev/zero"), &[])
                .unwrap_err()
                .to_string();
            assert!(e.contains("more than the 16777216 bytes"), "{e}");
        }
    }

    #[test]
    fn given_start_is_checked_against_the_model() {
        let e = err(
            "[model]\nkind = \"gig\"\n[solver]\nstart = [0.5, 0.5]\n",
            &[],
        );
        assert!(
            e.contains("`solver.start`") && e.contains("2 entries"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod bundled {
    use super::*;

    #[test]
    fn bundled_scenarios_hold_the_paper_defaults() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let s = Scenario::load(&root.join("scenarios/infection.toml"), &[]).unwrap();
        match &s.model {
            BuiltinModel::Infection(m) => {
                let (got, want) = (m.params(), InfectionParams::default());
                assert_eq!(got.w2_pmf, want.w2_pmf);
                for (g, w) in got.w1_pmf.iter().zip(&want.w1_pmf) {
                    assert!((g - w).abs() < 1e-16);
                }
                assert_eq!(
                    InfectionParams {
                        w1_pmf: want.w1_pmf.clone(),
                        ..got.clone()
                    },
                    want
                );
            }
            _ => panic!("infection.toml is not an infection scenario"),
        }
        assert_eq!(s.game, GameParams::default());
        assert_eq!(s.solver, SolverParams::default());
        let s = Scenario::load(&root.join("scenarios/gig.toml"), &[]).unwrap();
        match &s.model {
            BuiltinModel::Gig(m) => assert_eq!(m.params(), &GigParams::default()),
            _ => panic!("gig.toml is not a gig scenario"),
        }
        assert_eq!(s.sim, SimParams::default());
        assert_eq!(s.learner, LearnerParams::default());
        let s = Scenario::load(&root.join("scenarios/infection.toml"), &[]).unwrap();
        assert_eq!(s.sim, SimParams::default());
        assert_eq!(s.learner, LearnerParams::default());
    }

    #[test]
    fn the_bundled_adoption_scenario_holds_the_model_defaults() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let s = Scenario::load(&root.join("scenarios/adoption.toml"), &[]).unwrap();
        match &s.model {
            BuiltinModel::Adoption(m) => assert_eq!(m.params(), &AdoptionParams::default()),
            _ => panic!("adoption.toml is not an adoption scenario"),
        }
        assert_eq!(s.name, "adoption");
        assert_eq!(s.game, GameParams::default());
        assert_eq!(s.solver, SolverParams::default());
        assert_eq!(s.sim, SimParams::default());
        assert_eq!(s.learner, LearnerParams::default());
    }
}

#[cfg(test)]
mod with_model_tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::Gig;

    fn custom() -> BuiltinModel {
        BuiltinModel::Custom(Arc::new(Gig::default()))
    }

    #[test]
    fn a_model_in_code_takes_the_other_tables_and_overrides() {
        let game = GameParams::try_new(0.8, 0.2).unwrap();
        let text = "name = \"mine\"\n[sim]\nagents = 5\n";
        let s = Scenario::with_model(custom(), game, text, Path::new("m"), &["sim.seed=3".into()])
            .unwrap();
        assert_eq!((s.name.as_str(), s.sim.agents, s.sim.seed), ("mine", 5, 3));
        assert_eq!(s.game, game);
        assert_eq!(s.model.as_model().name(), "gig");
        assert!(s.text.contains("kind = \"gig\""), "{}", s.text);
        let d = Scenario::with_model(custom(), game, "", Path::new("m"), &[]).unwrap();
        assert_eq!(d.sim, SimParams::default());
        assert_eq!(d.learner, LearnerParams::default());
        // Custom models compare by identity.
        assert_eq!(d.model, d.model.clone());
        assert_ne!(d.model, custom());
    }

    #[test]
    fn a_model_table_or_an_unknown_key_is_refused_by_name() {
        let game = GameParams::default();
        let e = Scenario::with_model(
            custom(),
            game,
            "[model]\nkind = \"gig\"\n",
            Path::new("m"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("m: `model`: the model is given in code"),
            "{e}"
        );
        let e = Scenario::with_model(custom(), game, "", Path::new("m"), &["sim.agnets=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`sim.agnets`: unknown key"), "{e}");
        let e = Scenario::with_model(
            custom(),
            game,
            "[solver]\nstart = [1.0]\n",
            Path::new("m"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`solver.start`"), "{e}");
        // The name becomes out/<name>/: a path is refused here too.
        let e = Scenario::with_model(custom(), game, "name = \"../x\"\n", Path::new("m"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`name`: must be a single path component"), "{e}");
    }
}
