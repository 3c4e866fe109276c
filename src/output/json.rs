//! The JSON summary of a solver run (`solution.json`).
//!
//! JSON has no NaN or infinity; every non-finite number is written as `null`, so the file
//! always parses (a `null` where a number is expected means "not finite").

use super::{io_error, write_atomic};
use crate::error::{Error, Result};
use crate::solver::{Solution, SolutionSummary};
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// The summary of `sol` as a JSON object.
///
/// | key                       | value                                                      |
/// |---------------------------|------------------------------------------------------------|
/// | `converged`               | bool: the tolerance was met                                |
/// | `termination`             | why T-BR stopped, e.g. `"tolerance met"`                   |
/// | `termination_kind`        | `"converged"`, `"iteration_cap"`, `"cycle"` or `"tq_sweep_cap"` |
/// | `cycle_period`            | the cycle's period, or `null`                              |
/// | `advice`                  | what to change when not converged, or `null`               |
/// | `iterations`              | T-BR iterations made                                       |
/// | `num_states`, `num_actions` | \|S\|, \|A\|                                             |
/// | `start`                   | the start vector z_0                                       |
/// | `z`                       | the returned mean field                                    |
/// | `mean_state`              | Σ_s s·z(s)                                                 |
/// | `greedy_action`           | the action given 1 − ε, per state                          |
/// | `last_delta_l1`           | ‖z_k − z_{k−1}‖₁ of the last iteration, or `null`          |
/// | `consistency_l1`          | ‖Φ(z, μ) − z‖₁                                             |
/// | `exploitability`          | max_s (V*_z(s) − V_{μ,z}(s))                               |
/// | `exploitability_weighted` | Σ_s z(s)(V*_z(s) − V_{μ,z}(s))                             |
/// | `exploitability_tol`      | accuracy of both: 4·tq_tol/(1 − γ)                         |
/// | `mfgsim_version`          | the crate version that wrote it                            |
///
/// Non-finite numbers become `null`.
///
/// # Example
/// ```
/// use mfgsim::{model::Gig, solve, GameParams, SolverParams, Start};
/// let sol = solve(&Gig::default(), GameParams::default(), &SolverParams::default(), &Start::Uniform)?;
/// let v = mfgsim::output::solution_json(&sol);
/// assert_eq!(v["converged"], true);
/// assert_eq!(v["z"].as_array().unwrap().len(), sol.z.len());
/// # Ok::<(), mfgsim::Error>(())
/// ```
pub fn solution_json(sol: &Solution) -> Value {
    let mut v = serde_json::to_value(SolutionSummary::of(sol)).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.insert("mfgsim_version".into(), env!("CARGO_PKG_VERSION").into());
    }
    v
}

/// Writes `value` to `path` as pretty-printed JSON with a final newline, atomically.
///
/// # Errors
/// [`Error::Io`] / [`Error::Output`] naming `path`; on error no file appears at `path`.
pub fn write_json(path: &Path, value: &Value) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(|e| Error::Output {
            path: path.to_path_buf(),
            reason: format!("JSON: {e}"),
        })?;
        w.write_all(b"\n").map_err(io_error(path))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::test_util::gig_solution;
    use crate::solver::Termination;

    const KEYS: [&str; 22] = [
        "algo",
        "mixed",
        "exploitability_at",
        "stationary_z",
        "converged",
        "termination",
        "termination_kind",
        "cycle_period",
        "advice",
        "exploitability_tol",
        "iterations",
        "num_states",
        "num_actions",
        "start",
        "z",
        "mean_state",
        "greedy_action",
        "last_delta_l1",
        "consistency_l1",
        "exploitability",
        "exploitability_weighted",
        "mfgsim_version",
    ];

    #[test]
    fn summary_has_the_keys_and_values() {
        let sol = gig_solution();
        let v = solution_json(&sol);
        let obj = v.as_object().unwrap();
        for key in KEYS {
            assert!(obj.contains_key(key), "missing `{key}`");
        }
        assert_eq!(obj.len(), KEYS.len());
        assert_eq!(v["converged"], sol.converged());
        assert_eq!(v["termination"], sol.termination.describe());
        assert_eq!(v["iterations"], sol.iterations());
        let z: Vec<f64> = serde_json::from_value(v["z"].clone()).unwrap();
        assert_eq!(z, sol.z);
        let start: Vec<f64> = serde_json::from_value(v["start"].clone()).unwrap();
        assert_eq!(start, sol.start);
        let greedy: Vec<usize> = serde_json::from_value(v["greedy_action"].clone()).unwrap();
        assert_eq!(greedy, sol.policy.greedy());
        assert_eq!(v["exploitability"], sol.exploitability.max);
        assert_eq!(v["mean_state"], sol.mean_state);
    }

    #[test]
    fn non_finite_numbers_become_null() {
        let mut sol = gig_solution();
        sol.exploitability.max = f64::NAN;
        sol.consistency_l1 = f64::INFINITY;
        sol.z[0] = f64::NEG_INFINITY;
        sol.termination = Termination::Cycle { period: 3 };
        let v = solution_json(&sol);
        assert_eq!(v["exploitability"], Value::Null);
        assert_eq!(v["consistency_l1"], Value::Null);
        assert_eq!(v["z"][0], Value::Null);
        assert_eq!(v["converged"], false);
        assert_eq!(v["termination_kind"], "cycle");
        assert_eq!(v["cycle_period"], 3);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("solution.json");
        write_json(&path, &v).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
        // serde_json's default float parser may be off by one ulp (no `float_roundtrip`
        // feature), so compare the numbers with a tolerance; the text itself is ryu's
        // shortest round-trip form.
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["z"][0], Value::Null);
        let (z, zb) = (v["z"].as_array().unwrap(), back["z"].as_array().unwrap());
        for (a, b) in z.iter().zip(zb).skip(1) {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= 2.0 * f64::EPSILON * a.abs(), "{a} vs {b}");
        }
        assert_eq!(back["termination"], v["termination"]);
        assert_eq!(back["greedy_action"], v["greedy_action"]);
    }

    #[test]
    fn write_into_missing_directory_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/solution.json");
        let err = write_json(&path, &Value::Null).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
