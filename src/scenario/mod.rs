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

mod fields;
mod keys;
mod tables;
#[cfg(test)]
mod tests;

use fields::{as_f64, Fields};
use keys::{parse_learner, parse_sim};
use tables::{parse_model, parse_solver};

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
