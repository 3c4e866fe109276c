//! `nash-gap` as a library call: which strategy μ, its stationary mean field z_μ, then
//! [`crate::nash_gap::nash_gap`].

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::RunInfo;
use crate::error::{Error, Result};
use crate::nash_gap::{self, GroupGap, NashGapParams, NashGapReport};
use crate::scenario::Scenario;
use crate::solver::{solve, stationary_mean_field, Start};
use crate::space::{uniform, Policy};

/// The strategy μ the N − 1 others play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NashPolicy {
    /// The exact T-MFE (T-BR from the uniform mean field).
    Tmfe,
    /// The final strategy of the scenario's `[learner]` run (`mfgsim learn`'s, same seed).
    Learned,
    /// Every action with probability 1/|A| (not in Π^ε: a non-equilibrium reference).
    Uniform,
    /// An `equilibrium.parquet` (its `mu_*` columns), a `summary.json` of `mfgsim learn` or
    /// its directory (the final strategy's `greedy_action`, played with tremble ε).
    File(PathBuf),
}

impl NashPolicy {
    /// `tmfe`, `learned`, `uniform` or the file's path.
    pub fn describe(&self) -> String {
        match self {
            NashPolicy::Tmfe => "tmfe".into(),
            NashPolicy::Learned => "learned".into(),
            NashPolicy::Uniform => "uniform".into(),
            NashPolicy::File(p) => p.display().to_string(),
        }
    }

    /// Parses `tmfe`, `learned`, `uniform`, or anything else as a path.
    pub fn parse(text: &str) -> Self {
        match text {
            "tmfe" => NashPolicy::Tmfe,
            "learned" => NashPolicy::Learned,
            "uniform" => NashPolicy::Uniform,
            p => NashPolicy::File(PathBuf::from(p)),
        }
    }
}

/// What [`nash_gap()`] produced; `summary.json` is its serialization.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct NashGapRun {
    /// Common header.
    #[serde(flatten)]
    pub info: RunInfo,
    /// Which μ.
    pub policy: String,
    /// μ's greedy action per state (the most likely action for a mixed μ).
    pub policy_greedy: Vec<usize>,
    /// z_μ, μ's stationary mean field (the others' initial law).
    pub z_mu: Vec<f64>,
    /// The settings.
    pub params: NashGapParams,
    /// The study.
    #[serde(flatten)]
    pub report: NashGapReport,
}

/// The ε-Nash gap of `policy` in the game of `sc`.
///
/// # Errors
/// [`Error::Param`] for invalid settings or a strategy file of the wrong sizes;
/// [`Error::Solver`] when the T-MFE does not converge or μ's stationary mean field does not
/// settle; errors reading a strategy file or of the learning run; [`Error::Interrupted`].
pub fn nash_gap(
    sc: &Scenario,
    policy: &NashPolicy,
    params: &NashGapParams,
    stop: &AtomicBool,
    progress: &(dyn Fn(&GroupGap) + Sync),
) -> Result<NashGapRun> {
    params.validate()?;
    let model = sc.model.as_model();
    let (ns, na) = (model.num_states(), model.num_actions());
    super::check_solver_memory(sc, 1)?;
    let (mu, z0) = match policy {
        NashPolicy::Tmfe => {
            let sol = solve(model, sc.game, &sc.solver, &Start::Uniform)?;
            if !sol.converged() {
                return Err(Error::Solver(format!(
                    "the exact T-MFE did not converge ({})",
                    sol.termination.describe()
                )));
            }
            (sol.policy.clone(), sol.z.clone())
        }
        NashPolicy::Uniform => (Policy::uniform(ns, na), uniform(ns)),
        NashPolicy::Learned => {
            let r = super::learn(
                sc,
                &super::LearnOptions::default(),
                stop,
                &mut |_, _| Ok(()),
            )?;
            if r.interrupted {
                return Err(Error::Interrupted);
            }
            (r.policy, r.z)
        }
        NashPolicy::File(p) => (read_policy(p, ns, na, sc.game.epsilon)?, uniform(ns)),
    };
    let z_mu = stationary_mean_field(model, &mu, &z0).ok_or_else(|| {
        Error::Solver(format!(
            "the stationary mean field of the {} strategy did not settle",
            policy.describe()
        ))
    })?;
    let report = nash_gap::nash_gap(model, sc.game, &mu, &z_mu, params, stop, progress)?;
    Ok(NashGapRun {
        info: RunInfo::new("nash-gap", sc, params.seed),
        policy: policy.describe(),
        policy_greedy: mu.greedy().to_vec(),
        z_mu,
        params: params.clone(),
        report,
    })
}

/// A strategy from `path` (see [`NashPolicy::File`]).
fn read_policy(path: &Path, ns: usize, na: usize, epsilon: f64) -> Result<Policy> {
    let path = if path.is_dir() {
        let eq = path.join(crate::output::EQUILIBRIUM_FILE);
        if eq.exists() {
            eq
        } else {
            path.join(crate::output::SUMMARY_FILE)
        }
    } else {
        path.to_path_buf()
    };
    let bad = |reason: String| Error::param(path.display().to_string(), reason);
    if path.extension().is_some_and(|e| e == "json") {
        /// The key a learn or single-start solve `summary.json` holds the strategy in.
        #[derive(serde::Deserialize)]
        struct Greedy {
            greedy_action: Vec<usize>,
        }
        let text = crate::scenario::read_text(&path)?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let Greedy {
            greedy_action: greedy,
        } = serde_json::from_value(v).map_err(|e| {
            bad(format!(
                "has no `greedy_action` list of actions (a learn summary.json): {e}"
            ))
        })?;
        if greedy.len() != ns || greedy.iter().any(|&a| a >= na) {
            return Err(bad(format!(
                "`greedy_action` must hold {ns} actions below {na}"
            )));
        }
        return Ok(nash_gap::exact::trembling_of(&greedy, na, epsilon));
    }
    let table = crate::output::read_parquet(&path)?;
    let mut probs = vec![0.0; ns * na];
    for a in 0..na {
        let col = table.f64_column(&format!("mu_{a}"))?;
        if col.len() != ns {
            return Err(bad(format!(
                "has {} rows, the model has {ns} states",
                col.len()
            )));
        }
        for (s, p) in col.iter().enumerate() {
            probs[s * na + a] = *p;
        }
    }
    for s in 0..ns {
        crate::model::check_pmf(
            &format!("{}: mu row {s}", path.display()),
            &probs[s * na..(s + 1) * na],
            None,
        )?;
    }
    Ok(Policy::from_probs(ns, na, probs))
}
