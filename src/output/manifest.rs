//! `sweep.json`, the manifest of a sweep directory: one typed description shared by its
//! writer ([`crate::sweep`]) and its reader ([`crate::output::plot`]), so every key is
//! spelled once, here.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The manifest's file name in a sweep directory.
pub const MANIFEST_FILE: &str = "sweep.json";

/// What a sweep is: the command, the base scenario, the grid, the seeds and every run. A
/// reader needs `command`, `grid` and `runs`; the other keys default when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepManifest {
    /// `solve`, `learn` or `finite-n`.
    pub command: String,
    /// The base scenario's path, as given.
    #[serde(default)]
    pub scenario_file: String,
    /// The base scenario's text.
    #[serde(default)]
    pub scenario: String,
    /// The mfgsim version that planned the sweep.
    #[serde(default)]
    pub mfgsim_version: String,
    /// Solve sweeps: `"extremal"`, a start's label, or a given z; `null` otherwise.
    #[serde(default)]
    pub start: Option<Value>,
    /// The grid axes, first (slowest) first.
    pub grid: Vec<ManifestAxis>,
    /// Every run's `sim.seed`.
    #[serde(default)]
    pub seeds: BTreeSet<u64>,
    /// The runs, in plan order.
    pub runs: Vec<ManifestRun>,
    /// Finite-n sweeps: the study's settings (`agents`, `seeds`, `steps`, `burn_in`,
    /// `policy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finite_n: Option<Value>,
    /// Nash-gap sweeps: the study's settings (`agents`, `replications`,
    /// `search_replications`, `max_rounds`, `tolerance`, `policy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nash_gap: Option<Value>,
}

/// One grid axis: a dotted scenario key and its values (TOML values as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestAxis {
    /// E.g. `model.infection_constant`.
    pub key: String,
    /// Its values, in grid order.
    pub values: Vec<Value>,
}

/// One planned run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRun {
    /// Run id, e.g. `r0007` (its directory is `runs/<id>/`).
    pub id: String,
    /// Its value of each grid key, by key.
    pub values: serde_json::Map<String, Value>,
    /// Its `sim.seed`.
    pub seed: u64,
}

impl SweepManifest {
    /// The keys that make two sweeps the same sweep: a sweep resumes a directory only when
    /// every one of them matches (`scenario_file` may differ: a moved file is the same
    /// scenario).
    pub const IDENTITY: [&'static str; 9] = [
        "mfgsim_version",
        "command",
        "scenario",
        "start",
        "grid",
        "seeds",
        "finite_n",
        "nash_gap",
        "runs",
    ];

    /// The manifest as JSON (numbers normalised as a reader will see them).
    pub fn to_json(&self) -> Value {
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        serde_json::from_str(&v.to_string()).unwrap_or(Value::Null)
    }
}
