//! The ε-Nash gap of a mean-field strategy μ in the game N real agents play.
//!
//! N − 1 agents play μ; one *tagged* agent deviates to a stationary trembling-hand strategy
//! of its own state, π^ε_g (1 − ε on a greedy action g(s), ε/(|A| − 1) on the others): the
//! class Π^ε in which the mean-field analysis (and the T-MFE) is defined. The gap is what the
//! best such deviation gains.
//!
//! # The N-player game
//! ```text
//! start     the others' counts n_0 ~ Multinomial(N − 1, z_μ)   (i.i.d. from μ's stationary
//!           mean field; the same law in the exact check), the tagged agent at s0
//! step t    z^N_t = (n_t + e_{s_t}) / N       (the empirical law of all N agents, the tagged
//!                                              agent included: it is one of the N)
//!           every agent gets r(s, a, z^N_t) and moves by P(· | s, a, z^N_t) (regeneration ζ is
//!           part of P, as in the engines); the others act by μ, the tagged agent by π
//!           n_{t+1} = Σ_v Multinomial(n_t(v), Σ_a μ(v, a) P(· | v, a, z^N_t))   (the count
//!           engine's law; cost independent of N, so N = 10⁹ costs what 10³ does)
//! value     V^N_π(s0) = E Σ_t γ^t r(s_t, a_t, z^N_t)
//! gap       gap(s0) = max_{π ∈ Π^ε} V^N_π(s0) − V^N_μ(s0)
//!           gap = max_s0 gap(s0),   gap_weighted = Σ_s0 z_μ(s0) gap(s0)
//! ```
//! As N → ∞, z^N_t → z_μ and the tagged agent faces the frozen MDP at z_μ, so gap(s0) tends to
//! V*_{z_μ}(s0) − V_{μ,z_μ}(s0) and the gap to μ's mean-field exploitability at z_μ (0 for a
//! T-MFE). Since Π^ε is finite (|A|^|S| greedy maps) and the T-MFE's greedy map is strictly
//! best at z_μ (barring exact ties), a T-MFE's gap is exactly 0 for every N beyond some N₀:
//! the rate fit then covers the N where the gap is still positive.
//!
//! # Estimator (one replicate)
//! ```text
//! h = V_{π, z_μ}                         (π's exact mean-field value: a control variate)
//! Y = h(s0) + Σ_{t<T} γ^t [ (T^π_{z^N_t} h)(s_t) − h(s_t) ]
//!     (T^π_z h)(s) = Σ_a π(s, a) [ r(s, a, z) + γ Σ_s′ P(s′ | s, a, z) h(s′) ]
//! ```
//! The telescoping sum Σ γ^t (γ h(s_{t+1}) − h(s_t)) has mean γ^T E h(s_T) − h(s0), and the
//! draws of a_t and s_{t+1} are replaced by their conditional expectations given (s_t, z^N_t),
//! so E Y = E Σ_{t<T} γ^t r_t + γ^T E h(s_T): unbiased for the value up to
//! |E Y − V^N_π(s0)| ≤ γ^T (r_max + (1 + γ)·r_max/(1 − γ))/(1 − γ) = γ^T · 2 r_max/(1 − γ)²
//! (r_max = max |r|). T is the smallest horizon with that bound below `tolerance`, r_max taken
//! at z_μ; the report recomputes the bound with the largest |r| the simulation met. At z^N = z_μ
//! the bracket is 0 (Bellman's equation), so Y's variance vanishes as N → ∞.
//!
//! Common random numbers: the others' draws of replicate r at step t come from one keyed
//! stream, the tagged agent's move from one uniform of another (inversion of its next-state
//! law), both shared by every candidate and every s0; two strategies' replicates differ only
//! where their tagged agents' paths do, and their difference has a small variance.
//!
//! # Finding the best deviation
//! ```text
//! small class (|A|^|S| ≤ enumerate_max): every greedy map is a candidate from every s0
//! otherwise, policy iteration from each s0 on simulations:
//!     π_0 = μ
//!     round k: simulate π_k(s0) from s0 (K_search replicates, phase 0), accumulating the
//!              occupancy-weighted own-state MDP
//!              r̄(s, a) = Σ_t γ^t 1{s_t = s} r(s, a, z^N_t) / Σ_t γ^t 1{s_t = s}
//!              (and P̄ alike: the expected rows at the visited (s_t, z^N_t), not sampled moves)
//!              π_{k+1}(s0) = π^ε of the TQ-optimal greedy map of (r̄, P̄); s0 stops when it
//!              repeats a strategy already simulated from s0, all stop after `max_rounds`
//!     then, when |S|·(|A| − 1) ≤ neighbour_max: every single-state change of each s0's best
//!     strategy so far (one round of coordinate search)
//! choose:  for each s0, the candidate in Π^ε (μ itself when μ ∈ Π^ε) with the largest mean
//!          search gain over μ (common random numbers: the same replicates for every candidate)
//! report:  the chosen deviation's gain on K fresh replicates (phase 1), so the selection's
//!          optimism does not bias the estimate; a chosen μ gains exactly 0
//! ```
//! The own-state MDP is exact as N → ∞ (z^N → z_μ) and an approximation for small N (the
//! tagged agent's problem is then a partially observed one: it does not see n_t, and its own
//! state is correlated with the others' counts); every candidate it proposes is *verified* by
//! simulation, and the reported gap is the gain of the best verified deviation: a lower bound
//! on the gap over Π^ε, equal to it when the search finds the best map (always, up to the
//! search noise, when the class is enumerated). On the tiny game of the tests, policy
//! iteration misses the best map at N = 4 (0.0176 of gain), which the enumeration finds; the
//! exact check ([`exact`]) covers both. Deviations that observe z^N (or the counts, or time)
//! are outside the class.
//!
//! # Statistics
//! Per N and s0: mean, standard error and the normal interval of the replicate gains; `gap`
//! and `gap_weighted` with percentile-bootstrap intervals over replicates (the same
//! replicates for every s0: they share the others' streams), and the rate
//! ln gap = a + b·ln N fitted with [`crate::stats::bootstrap_rate_fit`] over the N with a
//! positive gap. Replicates are independent across N (streams keyed by N).
//!
//! # Determinism
//! Work is split into units (s0, block of replicates) run on the rayon pool and merged in unit
//! order; every stream is keyed (see [`crate::rng::Purpose::NashGap`]), so results are bitwise identical for any
//! thread count.
//!
//! # Example
//! ```
//! use std::sync::atomic::AtomicBool;
//! use mfgsim::model::{Adoption, Model};
//! use mfgsim::nash_gap::{nash_gap, NashGapParams};
//! use mfgsim::solver::stationary_mean_field;
//! use mfgsim::space::{uniform, Policy};
//! use mfgsim::GameParams;
//!
//! let model = Adoption::default();
//! let mu = Policy::uniform(model.num_states(), model.num_actions());
//! let z_mu = stationary_mean_field(&model, &mu, &uniform(model.num_states())).unwrap();
//! let params = NashGapParams { agents: vec![1_000_000], replications: 16,
//!     search_replications: 8, ..NashGapParams::default() };
//! let report = nash_gap(&model, GameParams::default(), &mu, &z_mu, &params,
//!     &AtomicBool::new(false), &|_| {})?;
//! // Far from the mean-field limit only by the simulation noise and the truncation.
//! let g = &report.per_n[0];
//! assert!((g.gap - report.mean_field.max).abs() < 0.05 * report.mean_field.max);
//! # Ok::<(), mfgsim::Error>(())
//! ```

pub mod exact;
mod sim;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{check_pmf, GameParams, KernelTables, Model};
use crate::operator::{
    exploitability, policy_value, trembling_policy, Exploitability, TqIteration,
};
use crate::space::{Policy, QTable};
use crate::stats::{self, RateFit};
use exact::trembling_of;
use sim::{Candidate, OwnMdp, Scratch, Setup};

/// Replicates per work unit (one unit = one s0 × this many replicates).
pub const UNIT_REPLICATES: usize = 16;

/// Sup-norm tolerance of the TQ-value iteration on the estimated own-state MDP. 1e-10.
pub const OWN_MDP_TQ_TOL: f64 = 1e-10;

/// Settings of an ε-Nash gap study.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct NashGapParams {
    /// The N grid (each ≥ 2). Default 10, 10², …, 10⁶.
    pub agents: Vec<u64>,
    /// K, replicates of the reported gain per s0 (≥ 2). Default 256.
    pub replications: usize,
    /// K_search, replicates per candidate in the search (≥ 2). Default 64.
    pub search_replications: usize,
    /// Policy-iteration rounds at most (≥ 1). Default 6.
    pub max_rounds: usize,
    /// Classes with at most this many greedy maps (|A|^|S|) are searched exhaustively
    /// instead of by policy iteration. Default 64 (adoption's 2⁶).
    pub enumerate_max: usize,
    /// When the class is not enumerated and |S|·(|A| − 1) ≤ this, the search ends with one
    /// round of every single-state change of each s0's best strategy. Default 32.
    pub neighbour_max: usize,
    /// Bound on the truncation bias of a value, which sets the horizon T (> 0). Default 1e-4.
    pub tolerance: f64,
    /// Seed of every stream. Default 0.
    pub seed: u64,
    /// Confidence level of the intervals, in (0, 1). Default 0.95.
    pub confidence: f64,
    /// Bootstrap resamples (0: no bootstrap intervals). Default 2000.
    pub bootstrap: usize,
}

impl Default for NashGapParams {
    fn default() -> Self {
        NashGapParams {
            agents: (1..=6).map(|k| 10u64.pow(k)).collect(),
            replications: 256,
            search_replications: 64,
            max_rounds: 6,
            enumerate_max: 64,
            neighbour_max: 32,
            tolerance: 1e-4,
            seed: 0,
            confidence: 0.95,
            bootstrap: 2000,
        }
    }
}

impl NashGapParams {
    /// Checks every field, naming the key.
    ///
    /// # Errors
    /// [`Error::Param`] naming `agents`, `replications`, `search_replications`, `max_rounds`,
    /// `tolerance` or `confidence`.
    pub fn validate(&self) -> Result<()> {
        if self.agents.is_empty() {
            return Err(Error::param("agents", "needs at least one N"));
        }
        if let Some(n) = self.agents.iter().find(|&&n| n < 2) {
            return Err(Error::param(
                "agents",
                format!("every N must be at least 2 (one tagged agent and others), got {n}"),
            ));
        }
        let mut sorted = self.agents.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.agents.len() {
            return Err(Error::param("agents", "the N in the grid must be distinct"));
        }
        if self.replications < 2 {
            return Err(Error::param("replications", "must be at least 2"));
        }
        if self.search_replications < 2 {
            return Err(Error::param("search_replications", "must be at least 2"));
        }
        if self.max_rounds == 0 {
            return Err(Error::param("max_rounds", "must be at least 1"));
        }
        if !(self.tolerance > 0.0 && self.tolerance.is_finite()) {
            return Err(Error::param(
                "tolerance",
                format!("must be positive, got {}", self.tolerance),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(Error::param(
                "confidence",
                format!("must be in (0, 1), got {}", self.confidence),
            ));
        }
        Ok(())
    }
}

/// The gap from one initial state at one N.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StateGap {
    /// N.
    pub agents: u64,
    /// s0.
    pub state: usize,
    /// Estimated gain of the chosen deviation, V^N_π(s0) − V^N_μ(s0) (0 when μ is chosen).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub gap: f64,
    /// Its standard error (0 when μ is chosen).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub se: f64,
    /// Normal confidence interval gap ± z·se.
    pub ci: (f64, f64),
    /// Estimated V^N_μ(s0).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub value_mu: f64,
    /// The chosen deviation's greedy map g(s), or None when no candidate beat μ.
    pub deviation: Option<Vec<usize>>,
    /// The mean-field limit V*_{z_μ}(s0) − V_{μ,z_μ}(s0).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub mean_field_gap: f64,
    /// The search's best candidate other than μ: its mean gain over μ on the search
    /// replicates and that mean's standard error (None when no other candidate was tried).
    /// When μ is kept (gap 0), this says how close the best alternative came.
    pub best_alternative: Option<(f64, f64)>,
}

/// Everything about one N.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct GroupGap {
    /// N.
    pub agents: u64,
    /// max_s0 gap(s0).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub gap: f64,
    /// Bootstrap standard deviation of `gap` (the arg-max state's standard error without
    /// bootstrap).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub gap_se: f64,
    /// Bootstrap percentile interval of `gap`.
    pub gap_ci: Option<(f64, f64)>,
    /// Σ_s0 z_μ(s0) gap(s0).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub gap_weighted: f64,
    /// Its standard error (over replicates).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub gap_weighted_se: f64,
    /// Bootstrap percentile interval of `gap_weighted`.
    pub gap_weighted_ci: Option<(f64, f64)>,
    /// The s0 attaining `gap`.
    pub argmax_state: usize,
    /// The deviation from that s0 (None: μ).
    pub deviation: Option<Vec<usize>>,
    /// Policy-iteration rounds run (0 when the class was enumerated).
    pub rounds: usize,
    /// Trajectories of the N-player game simulated (search and report).
    pub trajectories: u64,
    /// Steps of the N-player game simulated (trajectories × T).
    pub steps: u64,
    /// Wall seconds.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub seconds: f64,
}

/// What [`nash_gap`] produced.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct NashGapReport {
    /// T, steps per trajectory.
    pub horizon: u64,
    /// The truncation bound γ^T·2·r_max/(1 − γ)² on a value's bias, with r_max the largest
    /// |r| at z_μ or met in the simulation.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub truncation_bias_bound: f64,
    /// The largest |r(s, a, z)| met.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub reward_max: f64,
    /// μ's exploitability at z_μ (the gap's N → ∞ limit).
    pub mean_field: Exploitability,
    /// Whether μ ∈ Π^ε (then μ is itself a candidate and the gap is ≥ 0 by construction).
    pub mu_in_class: bool,
    /// One summary per completed N, in grid order.
    pub per_n: Vec<GroupGap>,
    /// One row per completed N × s0.
    pub states: Vec<StateGap>,
    /// ln gap = a + b·ln N over the N with a positive gap.
    pub fit: Option<RateFit>,
    /// The same for `gap_weighted`.
    pub fit_weighted: Option<RateFit>,
    /// True when the stop flag ended the study early.
    pub interrupted: bool,
    /// Wall seconds.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub seconds: f64,
}

/// The ε-Nash gap of `mu` over the N grid; `z_init` is μ's stationary mean field z_μ (the
/// others' initial law and the mean-field reference). `progress` is called after each N;
/// `cancel` is polled between work units and keeps the finished N.
///
/// # Errors
/// [`Error::Param`] for invalid settings or sizes; [`Error::Interrupted`] when stopped before
/// the first N finished.
pub fn nash_gap<M: Model + Sync + ?Sized>(
    model: &M,
    game: GameParams,
    mu: &Policy,
    z_init: &[f64],
    params: &NashGapParams,
    cancel: &AtomicBool,
    progress: &(dyn Fn(&GroupGap) + Sync),
) -> Result<NashGapReport> {
    params.validate()?;
    let (ns, na) = (model.num_states(), model.num_actions());
    if mu.num_states() != ns || mu.num_actions() != na {
        return Err(Error::param("policy", "μ has other sizes than the model"));
    }
    check_pmf("z_init", z_init, Some(ns))?;
    let t0 = Instant::now();
    let gamma = game.gamma;
    // Mean-field reference at z_μ.
    let tables_ref = KernelTables::of(model, z_init);
    let mut q_star = QTable::zeros(ns, na);
    TqIteration::new().run(&tables_ref, game, &mut q_star, 1e-13, 1_000_000);
    let mean_field = exploitability(&tables_ref, game, mu, z_init, &q_star);
    let v_mu_ref = policy_value(&tables_ref, game, mu);
    let v_best_ref = policy_value(&tables_ref, game, &trembling_policy(&q_star, game.epsilon));
    let mf_gap: Vec<f64> = v_best_ref
        .iter()
        .zip(&v_mu_ref)
        .map(|(b, m)| b - m)
        .collect();
    let r_ref = tables_ref.reward.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    let bound = |r_max: f64, t: u64| gamma.powf(t as f64) * 2.0 * r_max / (1.0 - gamma).powi(2);
    let horizon = if r_ref == 0.0 {
        1
    } else {
        let t =
            ((params.tolerance * (1.0 - gamma).powi(2) / (2.0 * r_ref)).ln() / gamma.ln()).ceil();
        (t.max(1.0)) as u64
    };
    let setup = Setup {
        model,
        game,
        mu,
        z_init,
        horizon,
    };
    let mu_in_class = ns > 0 && mu.is_trembling(game.epsilon, crate::tol::TREMBLING_SHAPE);
    let cand_of = |policy: Policy| -> Candidate {
        let h = policy_value(&tables_ref, game, &policy);
        Candidate { policy, h }
    };
    let mu_cand = cand_of(mu.clone());
    let z_crit = stats::normal_quantile(0.5 + params.confidence / 2.0);

    let mut per_n = Vec::new();
    let mut states = Vec::new();
    let mut unit_data: Vec<(Vec<Vec<f64>>, Vec<f64>)> = Vec::new(); // per N: D[s0][rep], W[rep]
    let mut reward_max = r_ref;
    let mut interrupted = false;
    'grid: for &agents in &params.agents {
        let tn = Instant::now();
        let mut trajectories = 0u64;
        // --- Search (phase 0): candidates per s0, all on the same replicates.
        let seed0 = sim::run_seed(params.seed, agents, 0);
        let ks = params.search_replications;
        // tried[s0]: (greedy map, candidate, search values) of every strategy simulated from s0.
        let mut tried: Vec<Vec<Tried>> = vec![Vec::new(); ns];
        let Some(out) = simulate(
            &setup,
            agents,
            seed0,
            &vec![Some(&mu_cand); ns],
            ks,
            true,
            cancel,
        ) else {
            interrupted = true;
            break 'grid;
        };
        trajectories += (ns * ks) as u64;
        reward_max = reward_max.max(out.reward_max);
        let base_search = out.values;
        let mut mdps = out.mdps;
        let maps = (na as f64).powi(ns as i32);
        let mut rounds = 0;
        if maps <= params.enumerate_max as f64 {
            // Small class: every greedy map from every s0.
            let all: Vec<Vec<usize>> = (0..maps as usize)
                .map(|g| exact::greedy_map(g, ns, na))
                .filter(|g| !(mu_in_class && *g == mu.greedy()))
                .collect();
            for g in all {
                let cand = cand_of(trembling_of(&g, na, game.epsilon));
                let Some(out) = simulate(
                    &setup,
                    agents,
                    seed0,
                    &vec![Some(&cand); ns],
                    ks,
                    false,
                    cancel,
                ) else {
                    interrupted = true;
                    break 'grid;
                };
                trajectories += (ns * ks) as u64;
                reward_max = reward_max.max(out.reward_max);
                for (s0, v) in out.values.into_iter().enumerate() {
                    tried[s0].push((g.clone(), cand.clone(), v));
                }
            }
        } else {
            // Policy iteration from each s0 on its own occupancy-weighted MDP.
            let mut active: Vec<bool> = vec![true; ns];
            while rounds < params.max_rounds {
                let mut next: Vec<Option<Candidate>> = vec![None; ns];
                for s0 in 0..ns {
                    let Some(m) = mdps[s0].as_ref().filter(|_| active[s0]) else {
                        continue;
                    };
                    let own = m.tables(&tables_ref);
                    let mut q = QTable::zeros(ns, na);
                    TqIteration::new().run(&own, game, &mut q, OWN_MDP_TQ_TOL, 1_000_000);
                    let g = trembling_policy(&q, game.epsilon).greedy().to_vec();
                    let repeat =
                        (mu_in_class && g == mu.greedy()) || tried[s0].iter().any(|t| t.0 == g);
                    if repeat {
                        active[s0] = false;
                    } else {
                        next[s0] = Some(cand_of(trembling_of(&g, na, game.epsilon)));
                    }
                }
                if next.iter().all(Option::is_none) {
                    break;
                }
                rounds += 1;
                let refs: Vec<Option<&Candidate>> = next.iter().map(Option::as_ref).collect();
                let Some(out) = simulate(&setup, agents, seed0, &refs, ks, true, cancel) else {
                    interrupted = true;
                    break 'grid;
                };
                trajectories += (refs.iter().flatten().count() * ks) as u64;
                reward_max = reward_max.max(out.reward_max);
                mdps = out.mdps;
                for (s0, (c, v)) in next.into_iter().zip(out.values).enumerate() {
                    if let Some(c) = c {
                        tried[s0].push((c.policy.greedy().to_vec(), c, v));
                    }
                }
            }
            // One round of single-state changes of each s0's best strategy so far.
            if ns * (na - 1) <= params.neighbour_max {
                let mean_gain = |v: &[f64], s0: usize| {
                    v.iter()
                        .zip(&base_search[s0])
                        .map(|(a, b)| a - b)
                        .sum::<f64>()
                        / ks as f64
                };
                let centre: Vec<Vec<usize>> = (0..ns)
                    .map(|s0| {
                        let mut best = (
                            if mu_in_class { 0.0 } else { f64::NEG_INFINITY },
                            mu.greedy().to_vec(),
                        );
                        for (g, _, v) in &tried[s0] {
                            let m = mean_gain(v, s0);
                            if m > best.0 {
                                best = (m, g.clone());
                            }
                        }
                        best.1
                    })
                    .collect();
                for s in 0..ns {
                    for a in 0..na {
                        let next: Vec<Option<Candidate>> = (0..ns)
                            .map(|s0| {
                                let mut g = centre[s0].clone();
                                if g[s] == a {
                                    return None;
                                }
                                g[s] = a;
                                let known = (mu_in_class && g == mu.greedy())
                                    || tried[s0].iter().any(|t| t.0 == g);
                                (!known).then(|| cand_of(trembling_of(&g, na, game.epsilon)))
                            })
                            .collect();
                        if next.iter().all(Option::is_none) {
                            continue;
                        }
                        let refs: Vec<Option<&Candidate>> =
                            next.iter().map(Option::as_ref).collect();
                        let Some(out) = simulate(&setup, agents, seed0, &refs, ks, false, cancel)
                        else {
                            interrupted = true;
                            break 'grid;
                        };
                        trajectories += (refs.iter().flatten().count() * ks) as u64;
                        reward_max = reward_max.max(out.reward_max);
                        for (s0, (c, v)) in next.into_iter().zip(out.values).enumerate() {
                            if let Some(c) = c {
                                tried[s0].push((c.policy.greedy().to_vec(), c, v));
                            }
                        }
                    }
                }
            }
        }
        // Choose per s0: the largest mean search gain over μ (μ itself, gain 0, competes
        // only when μ ∈ Π^ε).
        let mut chosen: Vec<Option<Candidate>> = vec![None; ns];
        // The best alternative to μ in the search: (mean gain, its standard error).
        let mut alternative: Vec<Option<(f64, f64)>> = vec![None; ns];
        for s0 in 0..ns {
            let mut best: Option<(f64, f64, usize)> = None;
            for (i, (_, _, v)) in tried[s0].iter().enumerate() {
                let d: Vec<f64> = v.iter().zip(&base_search[s0]).map(|(a, b)| a - b).collect();
                let (g, _, se) = stats::mean_sd_se(&d);
                if best.is_none_or(|(b, _, _)| g > b) {
                    best = Some((g, se, i));
                }
            }
            alternative[s0] = best.map(|(g, se, _)| (g, se));
            chosen[s0] = best
                .filter(|&(g, _, _)| !mu_in_class || g > 0.0)
                .map(|(_, _, i)| tried[s0][i].1.clone());
        }
        // --- Report (phase 1): μ and each s0's chosen deviation on fresh replicates.
        let seed1 = sim::run_seed(params.seed, agents, 1);
        let kk = params.replications;
        let Some(base) = simulate(
            &setup,
            agents,
            seed1,
            &vec![Some(&mu_cand); ns],
            kk,
            false,
            cancel,
        ) else {
            interrupted = true;
            break 'grid;
        };
        trajectories += (ns * kk) as u64;
        reward_max = reward_max.max(base.reward_max);
        let refs: Vec<Option<&Candidate>> = chosen.iter().map(Option::as_ref).collect();
        let Some(dev) = simulate(&setup, agents, seed1, &refs, kk, false, cancel) else {
            interrupted = true;
            break 'grid;
        };
        trajectories += (refs.iter().flatten().count() * kk) as u64;
        reward_max = reward_max.max(dev.reward_max);
        let mut gains = vec![vec![0.0; kk]; ns];
        for s0 in 0..ns {
            if chosen[s0].is_some() {
                for (g, (a, b)) in gains[s0]
                    .iter_mut()
                    .zip(dev.values[s0].iter().zip(&base.values[s0]))
                {
                    *g = a - b;
                }
            }
        }
        let chosen: Vec<Option<Vec<usize>>> = chosen
            .iter()
            .map(|c| c.as_ref().map(|c| c.policy.greedy().to_vec()))
            .collect();
        let weighted: Vec<f64> = (0..kk)
            .map(|r| (0..ns).map(|s0| z_init[s0] * gains[s0][r]).sum())
            .collect();
        let mut gap = f64::NEG_INFINITY;
        let mut argmax = 0;
        for s0 in 0..ns {
            let (m, _, se) = stats::mean_sd_se(&gains[s0]);
            if m > gap {
                gap = m;
                argmax = s0;
            }
            states.push(StateGap {
                agents,
                state: s0,
                gap: m,
                se,
                ci: (m - z_crit * se, m + z_crit * se),
                value_mu: stats::mean_sd_se(&base.values[s0]).0,
                deviation: chosen[s0].clone(),
                mean_field_gap: mf_gap[s0],
                best_alternative: alternative[s0],
            });
        }
        let (gw, _, gw_se) = stats::mean_sd_se(&weighted);
        let group = GroupGap {
            agents,
            gap,
            gap_se: f64::NAN,
            gap_ci: None,
            gap_weighted: gw,
            gap_weighted_se: gw_se,
            gap_weighted_ci: None,
            argmax_state: argmax,
            deviation: chosen[argmax].clone(),
            rounds,
            trajectories,
            steps: trajectories * horizon,
            seconds: tn.elapsed().as_secs_f64(),
        };
        progress(&group);
        per_n.push(group);
        unit_data.push((gains, weighted));
    }
    if per_n.is_empty() {
        return Err(Error::Interrupted);
    }
    // Bootstrap intervals and the rate fits.
    let agents: Vec<u64> = per_n.iter().map(|g| g.agents).collect();
    let sizes = vec![params.replications; per_n.len()];
    let spec = stats::BootstrapSpec {
        agents: &agents,
        sizes: &sizes,
        paired: false,
        resamples: params.bootstrap,
        alpha: 1.0 - params.confidence,
        seed: params.seed,
    };
    let max_stat = |g: usize, picks: &[usize]| -> f64 {
        unit_data[g]
            .0
            .iter()
            .map(|d| picks.iter().map(|&j| d[j]).sum::<f64>() / picks.len() as f64)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let w_stat = |g: usize, picks: &[usize]| -> f64 {
        picks.iter().map(|&j| unit_data[g].1[j]).sum::<f64>() / picks.len() as f64
    };
    let fit_max = stats::bootstrap_rate_fit(&spec, &max_stat);
    let fit_w = stats::bootstrap_rate_fit(&spec, &w_stat);
    for (g, group) in per_n.iter_mut().enumerate() {
        group.gap_ci = fit_max.intervals[g];
        group.gap_weighted_ci = fit_w.intervals[g];
        // The bootstrap sd of the max over s0; without resamples, the arg-max state's se.
        group.gap_se = if params.bootstrap > 1 {
            fit_max.sds[g]
        } else {
            states[g * ns + group.argmax_state].se
        };
    }
    Ok(NashGapReport {
        horizon,
        truncation_bias_bound: bound(reward_max, horizon),
        reward_max,
        mean_field,
        mu_in_class,
        per_n,
        states,
        fit: fit_max.fit,
        fit_weighted: fit_w.fit,
        interrupted: interrupted || cancel.load(Ordering::Relaxed),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// A strategy simulated from one s0 in the search: its greedy map, itself, its search values.
type Tried = (Vec<usize>, Candidate, Vec<f64>);

/// The replicate values of the candidates of every s0.
struct SimOut {
    /// `values[s0][rep]` (empty where s0 had no candidate).
    values: Vec<Vec<f64>>,
    /// The own-state MDP statistics of each s0, merged over its units in order.
    mdps: Vec<Option<OwnMdp>>,
    reward_max: f64,
}

/// Runs `reps` replicates of `cands[s0]` from every s0 that has one, in units of
/// [`UNIT_REPLICATES`] on the rayon pool (merged in unit order); `None` when cancelled.
fn simulate<M: Model + Sync + ?Sized>(
    setup: &Setup<'_, M>,
    agents: u64,
    run_seed: u64,
    cands: &[Option<&Candidate>],
    reps: usize,
    with_mdp: bool,
    cancel: &AtomicBool,
) -> Option<SimOut> {
    let (ns, na) = (setup.model.num_states(), setup.model.num_actions());
    let blocks = reps.div_ceil(UNIT_REPLICATES);
    let units: Vec<(usize, usize)> = (0..ns)
        .filter(|&s0| cands[s0].is_some())
        .flat_map(|s0| (0..blocks).map(move |b| (s0, b)))
        .collect();
    type Unit = (Vec<f64>, Option<OwnMdp>, f64);
    let results: Vec<Option<Unit>> = units
        .par_iter()
        .map(|&(s0, b)| {
            if cancel.load(Ordering::Relaxed) {
                return None;
            }
            let cand = cands[s0]?;
            let mut sc = Scratch::new(ns, na);
            let mut mdp = with_mdp.then(|| OwnMdp::new(ns, na));
            let lo = b * UNIT_REPLICATES;
            let hi = (lo + UNIT_REPLICATES).min(reps);
            let vals = (lo..hi)
                .map(|r| {
                    sim::replicate(
                        setup,
                        agents,
                        run_seed,
                        r as u64,
                        s0,
                        cand,
                        &mut sc,
                        mdp.as_mut(),
                    )
                })
                .collect();
            Some((vals, mdp, sc.max_abs_reward))
        })
        .collect();
    let mut values = vec![Vec::new(); ns];
    let mut mdps: Vec<Option<OwnMdp>> = vec![None; ns];
    let mut reward_max = 0.0f64;
    for (&(s0, _), res) in units.iter().zip(results) {
        let (vals, m, rmax) = res?;
        values[s0].extend(vals);
        if let Some(m) = m {
            match &mut mdps[s0] {
                Some(acc) => acc.add(&m),
                slot => *slot = Some(m),
            }
        }
        reward_max = reward_max.max(rmax);
    }
    Some(SimOut {
        values,
        mdps,
        reward_max,
    })
}

#[cfg(test)]
mod tests;
