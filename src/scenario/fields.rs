//! Typed, key-naming reading of one TOML table ([`Fields`]) and the value helpers the
//! tables share.

use super::*;

/// A pmf accepted within [`PMF_SUM_TOL`](crate::model::PMF_SUM_TOL) of sum 1 but off by
/// more than rounding (n·ε) is divided by its sum: a kernel whose rows sum to 1 + 10⁻⁹ leaks
/// mass at every step, and T-BR's z drifted off the simplex (found by the fuzz target). A
/// pmf that is further off, or has a bad entry, is left for the model to reject by name.
pub(super) fn renormalized(mut p: Vec<f64>) -> Vec<f64> {
    let sum: f64 = p.iter().sum();
    let off = (sum - 1.0).abs();
    let ok = p.iter().all(|x| x.is_finite() && *x >= 0.0);
    if ok && off <= crate::model::PMF_SUM_TOL && off > p.len() as f64 * f64::EPSILON {
        p.iter_mut().for_each(|x| *x /= sum);
    }
    p
}

/// A value as written in TOML, cut to 40 characters (for messages).
pub(super) fn shown(v: &toml::Value) -> String {
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

pub(super) fn as_f64(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Float(x) => Some(*x),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

/// Typed, key-naming access to one TOML table; keys are consumed as they are read so that
/// [`Fields::finish`] can reject unknown ones.
pub(super) struct Fields<'a> {
    file: &'a Path,
    prefix: &'static str,
    table: toml::Table,
}

impl<'a> Fields<'a> {
    pub(super) fn new(file: &'a Path, prefix: &'static str, table: toml::Table) -> Self {
        Fields {
            file,
            prefix,
            table,
        }
    }

    pub(super) fn error(&self, key: &str, reason: String) -> Error {
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

    pub(super) fn take(&mut self, key: &str) -> Option<toml::Value> {
        self.table.remove(key)
    }

    pub(super) fn wrong_type(&self, key: &str, want: &str, got: &toml::Value) -> Error {
        self.error(
            key,
            format!("expected {want}, got {} {}", got.type_str(), shown(got)),
        )
    }

    pub(super) fn f64(&mut self, key: &str) -> Result<Option<f64>> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => as_f64(&v)
                .map(Some)
                .ok_or_else(|| self.wrong_type(key, "a number", &v)),
        }
    }

    pub(super) fn u64(&mut self, key: &str) -> Result<Option<u64>> {
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

    pub(super) fn usize(&mut self, key: &str) -> Result<Option<usize>> {
        Ok(self.u64(key)?.map(|v| v as usize))
    }

    pub(super) fn bool(&mut self, key: &str) -> Result<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(b)),
            Some(v) => Err(self.wrong_type(key, "true or false", &v)),
        }
    }

    pub(super) fn string(&mut self, key: &str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong_type(key, "a string", &v)),
        }
    }

    pub(super) fn f64_vec(&mut self, key: &str) -> Result<Option<Vec<f64>>> {
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
    pub(super) fn num_states(&mut self, default: usize) -> Result<usize> {
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
    pub(super) fn state_pmf(
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

    pub(super) fn table(&mut self, key: &str) -> Result<Option<toml::Table>> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::Table(t)) => Ok(Some(t)),
            Some(v) => Err(self.wrong_type(key, "a table", &v)),
        }
    }

    /// Rejects any key not consumed yet.
    pub(super) fn finish(self, allowed: &[&str]) -> Result<()> {
        if let Some(key) = self.table.keys().next() {
            return Err(self.error(
                key,
                format!("unknown key; expected one of: {}", allowed.join(", ")),
            ));
        }
        Ok(())
    }
}
