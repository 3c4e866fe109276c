//! What a sweep runs and over what: [`SweepCommand`] and the grid axes ([`GridAxis`]:
//! `KEY=V1,V2,...` or `KEY=LO:HI:COUNT`).

use arrow_schema::DataType;

use crate::error::{Error, Result};

/// Which run-layer command every run of a sweep executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepCommand {
    /// [`crate::run::solve`] (T-BR; with `start = "extremal"` the least and greatest T-MFE).
    Solve,
    /// [`crate::run::learn`] (`[learner] algo`).
    Learn,
    /// [`crate::run::finite_n`] (the finite-N study).
    FiniteN,
    /// [`crate::run::nash_gap`] (the ε-Nash gap of a strategy among N agents).
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
