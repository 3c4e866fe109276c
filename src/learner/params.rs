//! The `[learner]` table: which algorithm learns, and every knob of every algorithm.
//!
//! One flat table so that any knob can be set with `--set learner.<key>=<value>`; keys an
//! algorithm does not use are accepted and ignored by it (a sweep can vary `algo` alone).
//! [`LearnerParams::validate`] checks every key once, with its name.

use serde::Serialize;

use super::batch::BatchTqParams;
use super::tq::TqLearnerParams;
use crate::error::{Error, Result};

/// A learning algorithm (`[learner] algo`, `mfgsim learn --algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    /// Online TMFQ (Algorithm 3): N real agents, their transitions feed TQ-learning.
    Online,
    /// TMFQ (Algorithm 2): TQ-learning on a simulator at a fixed z_k, then a simulated
    /// Next-MF.
    Tmfq,
    /// GMBL: a generative model gives P̂_k, then exact TQ-value iteration and Φ̂ on it.
    Gmbl,
    /// IQL (baseline): every one of the N real agents learns its own TQ-table Q_i(s, a) from
    /// its own transitions, ignoring the mean field.
    Iql,
    /// MFQ (baseline, the paper's variant of Yang et al. 2018): as IQL with tables
    /// Q_i(s, a, b), b the bin of the mean state of K randomly drawn agents.
    Mfq,
}

impl Algo {
    /// Every algorithm, in the order of the docs.
    pub const ALL: [Algo; 5] = [Algo::Online, Algo::Tmfq, Algo::Gmbl, Algo::Iql, Algo::Mfq];

    /// The name used in scenario files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Algo::Online => "online",
            Algo::Tmfq => "tmfq",
            Algo::Gmbl => "gmbl",
            Algo::Iql => "iql",
            Algo::Mfq => "mfq",
        }
    }

    /// Parses a name of [`Algo::as_str`].
    ///
    /// # Errors
    /// A message listing the accepted names.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        Algo::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Algo::ALL.iter().map(|a| a.as_str()).collect();
                format!(
                    "unknown algorithm `{text}`; expected one of: {}",
                    names.join(", ")
                )
            })
    }

    /// True for algorithms that learn from a real N-agent population (and so use `[sim]
    /// agents`); false for the simulator-based ones.
    pub fn uses_population(self) -> bool {
        matches!(self, Algo::Online | Algo::Iql | Algo::Mfq)
    }

    /// True for algorithms where every agent has its own table (per-agent actions: the
    /// agent engine only).
    pub fn per_agent(self) -> bool {
        matches!(self, Algo::Iql | Algo::Mfq)
    }
}

impl std::fmt::Display for Algo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The learning rule of online TMFQ (`[learner] rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// TQ-learning (eq. 6) on a subsample of at most `budget` transitions, one update at a
    /// time ([`super::tq`]).
    Sampled,
    /// Synchronous eq. 6 on a count-weighted kernel estimate from all N transitions
    /// ([`super::batch`]).
    Batch,
    /// Algorithm 3 as the paper writes it: the memory buffer holds only the current step's N
    /// transitions (all of them, each used once), and TQ-learning is eq. 6 applied to each,
    /// Q(s,a) ← (1−α)·Q(s,a) + α·(r(s,a,z^N_k) + γ·G(Q)(s′)), with
    /// α = (1 + (1−γ)·n(s,a))^(−w) and n(s,a) the visits of (s,a) since the start, uncapped.
    /// Q and n(s,a) carry over between iterations (the paper's Q persists across k); no
    /// transition does. It is [`Rule::Sampled`] with `budget = ∞` and `memory = inf`: the
    /// keys `budget` and `memory` are ignored. See [`super::online_tmfq`]'s
    /// `# The paper's rule` for why the default differs.
    Paper,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 3] = [Rule::Sampled, Rule::Batch, Rule::Paper];

    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Sampled => "sampled",
            Rule::Batch => "batch",
            Rule::Paper => "paper",
        }
    }

    /// Parses a name of [`Rule::as_str`].
    ///
    /// # Errors
    /// A message listing the accepted names.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        Rule::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| format!("unknown rule `{text}`; expected one of: sampled, batch, paper"))
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Knobs of TMFQ (Algorithm 2) beyond the TQ-learning rule (which is
/// [`LearnerParams::tq`], shared with online TMFQ). The defaults are measured in
/// `doc/experiments/tmfq.md`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct TmfqParams {
    /// M_sim (`sim_agents`): simulated agents stepped together at the frozen z_k; each
    /// simulator step gives M_sim transitions, one call of TQ-learning. Default 10⁶; range ≥ 1.
    ///
    /// Trade-off: the learner's memory cap H counts calls, so M_sim sets how many transitions
    /// H calls hold (10⁶ matches online TMFQ's N, for which H was tuned); 10⁴ or 10⁵ with
    /// H = 300 forget too fast and leave max exploitability 0.008–0.037.
    pub sim_agents: usize,
    /// ε1 (`inner_tol`): the inner loop stops when ‖Q_t − Q_{t−check}‖_∞ < ε1 between two
    /// checks. Default 3·10⁻³; range > 0.
    ///
    /// Trade-off: smaller ε1 makes more inner loops run to their cap (10⁻³ never stops
    /// before it with the defaults: ≈ 1.1·10⁹ transitions per run instead of ≈ 6.5·10⁸).
    pub inner_tol: f64,
    /// `check_every` (C): simulator steps between two checks of the inner stopping rule.
    /// Default 2; range ≥ 1.
    pub check_every: u64,
    /// `max_sim_transitions` (T_max): cap on simulator transitions per outer iteration (the
    /// inner loop stops before exceeding it even if ε1 is not met). Default 10⁷ (10 steps of
    /// M_sim); range ≥ `sim_agents`.
    pub max_sim_transitions: u64,
    /// M_mf (`mf_agents`): states drawn i.i.d. from z_k and stepped once with μ_k at z_k to
    /// estimate z_{k+1} = Next-MF(z_k, μ_k). Default 10⁶; range ≥ 1.
    ///
    /// Trade-off: the L1 noise of z_{k+1} is ≈ √(|S|/M_mf); the draw costs O(|S|²·|A|)
    /// whatever M_mf is (count level), so only the ledger grows with it.
    pub mf_agents: u64,
    /// `cold_start`: when true, Q and the step-size counts start afresh (Q = 0, n = 0) at
    /// every outer iteration k, as Algorithm 2's line 3 writes it; the simulated agents then
    /// act with π^ε(0) until the first TQ update of the iteration. Default false (warm
    /// start: Q and the counts carry over from k − 1).
    ///
    /// Why the default differs: Q*_{z_k} is close to Q*_{z_{k−1}} once T-BR moves z little,
    /// and a cold start spends each iteration's samples relearning the level of Q
    /// (≈ r/(1−γ)) from one iteration's T_max transitions. Measured in
    /// `doc/experiments/tmfq.md` (infection, K = 100, seeds 0/1): final max exploitability
    /// .0162/.0488 cold against .0002/.0009 warm, with 1.7 times the simulator transitions
    /// (the cold inner loop never meets ε1). On gig both are unexploitable and cold is not
    /// worse (closer to z* at K = 20; same L1 at K = 100, at 1.7 times the transitions).
    pub cold_start: bool,
}

impl Default for TmfqParams {
    fn default() -> Self {
        TmfqParams {
            sim_agents: 1_000_000,
            inner_tol: 3e-3,
            check_every: 2,
            max_sim_transitions: 10_000_000,
            mf_agents: 1_000_000,
            cold_start: false,
        }
    }
}

/// Knobs of GMBL (the model-based twin of TMFQ).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct GmblParams {
    /// M_gen (`gen_samples`): next states drawn from the generative model for every (s, a)
    /// at every outer iteration; P̂_k(s′|s,a) = count/M_gen. Default 10⁵; range ≥ 1.
    ///
    /// Trade-off: the sd of P̂_k(s′|s,a) is √(P(1 − P)/M_gen); the draw costs O(|S|) per
    /// (s, a) whatever M_gen is (a multinomial as a chain of binomials), so only the ledger
    /// grows with it. On the default infection model 10⁴ leaves final max exploitability up to
    /// 0.0076, 3·10⁴ up to 0.0037, 10⁵ at most 0.0010 (`doc/experiments/gmbl.md`).
    pub gen_samples: u64,
    /// `value_tol`: sup-norm tolerance of TQ-value iteration on (r, P̂_k). Default 1e-10;
    /// range > 0.
    pub value_tol: f64,
}

impl Default for GmblParams {
    fn default() -> Self {
        GmblParams {
            gen_samples: 100_000,
            value_tol: 1e-10,
        }
    }
}

/// Knobs of MFQ's mean-field bins (IQL uses none of them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct MfqParams {
    /// K (`mfq_neighbours`): agents drawn at random (distinct, not the agent itself) each
    /// step; the mean of their states is the agent's view of the mean field. Default 10;
    /// range 1..=N − 1.
    pub neighbours: usize,
    /// `mfq_bins`: equal-width bins of that mean over [0, |S| − 1]; the agent's table has one
    /// row per (state, bin). Default 5; range 1..=255.
    pub bins: usize,
}

impl Default for MfqParams {
    fn default() -> Self {
        MfqParams {
            neighbours: 10,
            bins: 5,
        }
    }
}

/// The validated `[learner]` table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct LearnerParams {
    /// `algo`: which algorithm learns. Default [`Algo::Online`].
    pub algo: Algo,
    /// `rule`: online TMFQ's learning rule. Default [`Rule::Batch`] (see [`super::batch`]'s
    /// experiments).
    pub rule: Rule,
    /// `batch_samples`, `batch_memory`, `batch_sweeps`, `batch_drift`, `batch_drift_gate`:
    /// the batch rule; see
    /// [`BatchTqParams`].
    pub batch: BatchTqParams,
    /// `budget`, `step_exponent`, `memory`: the TQ-learning rule (eq. 6) of online TMFQ and
    /// TMFQ; see [`TqLearnerParams`].
    pub tq: TqLearnerParams,
    /// TMFQ's simulator knobs.
    pub tmfq: TmfqParams,
    /// GMBL's generative-model knobs.
    pub gmbl: GmblParams,
    /// MFQ's bins (IQL and MFQ also use `step_exponent` for each agent's own step size).
    pub mfq: MfqParams,
    /// `reset_on_regeneration` (IQL, MFQ): when true, an agent that regenerated during a
    /// step (its s′ drawn from the regeneration part ζ·w(s′) of the kernel: the agent left
    /// and a new one took its place) starts a new table: all its Q_i(s, a, b) and counts
    /// n_i(s, a, b) are set to 0 and its transition of that step updates nothing (it was the
    /// old agent's). Default false: a regenerated agent keeps its table and counts, and its
    /// transition updates them like any other (the agent index persists and its learning
    /// carries on). See [`super::independent`]'s `# Regeneration` for why.
    pub reset_on_regeneration: bool,
}

impl Default for LearnerParams {
    fn default() -> Self {
        LearnerParams {
            algo: Algo::Online,
            rule: Rule::Batch,
            batch: BatchTqParams::default(),
            tq: TqLearnerParams::default(),
            tmfq: TmfqParams::default(),
            gmbl: GmblParams::default(),
            mfq: MfqParams::default(),
            reset_on_regeneration: false,
        }
    }
}

impl LearnerParams {
    /// Checks every knob, whatever the algorithm (a typo in an unused knob is still a typo).
    ///
    /// # Errors
    /// [`Error::Param`] naming the key (without the `learner.` prefix).
    pub fn validate(&self) -> Result<()> {
        self.tq.validate()?;
        self.batch.validate()?;
        let t = &self.tmfq;
        if t.sim_agents == 0 {
            return Err(Error::param("sim_agents", "must be >= 1, got 0"));
        }
        if !(t.inner_tol > 0.0 && t.inner_tol.is_finite()) {
            return Err(Error::param(
                "inner_tol",
                format!("must be a finite number > 0, got {}", t.inner_tol),
            ));
        }
        if t.check_every == 0 {
            return Err(Error::param("check_every", "must be >= 1, got 0"));
        }
        if t.max_sim_transitions < t.sim_agents as u64 {
            return Err(Error::param(
                "max_sim_transitions",
                format!(
                    "must be >= sim_agents ({}) so that one simulator step fits, got {}",
                    t.sim_agents, t.max_sim_transitions
                ),
            ));
        }
        if t.mf_agents == 0 {
            return Err(Error::param("mf_agents", "must be >= 1, got 0"));
        }
        let g = &self.gmbl;
        if g.gen_samples == 0 {
            return Err(Error::param("gen_samples", "must be >= 1, got 0"));
        }
        if !(g.value_tol > 0.0 && g.value_tol.is_finite()) {
            return Err(Error::param(
                "value_tol",
                format!("must be a finite number > 0, got {}", g.value_tol),
            ));
        }
        let m = &self.mfq;
        if m.neighbours == 0 {
            return Err(Error::param("mfq_neighbours", "must be >= 1, got 0"));
        }
        if !(1..=255).contains(&m.bins) {
            return Err(Error::param(
                "mfq_bins",
                format!("must be in 1..=255, got {}", m.bins),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_names_round_trip() {
        LearnerParams::default().validate().unwrap();
        for a in Algo::ALL {
            assert_eq!(Algo::parse(a.as_str()), Ok(a));
        }
        let e = Algo::parse("sarsa").unwrap_err();
        assert!(e.contains("online, tmfq, gmbl, iql, mfq"), "{e}");
    }

    #[test]
    fn each_bad_knob_is_named() {
        let bad = |f: fn(&mut LearnerParams), key: &str| {
            let mut p = LearnerParams::default();
            f(&mut p);
            match p.validate() {
                Err(Error::Param { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        };
        bad(|p| p.tq.memory = 0.5, "memory");
        bad(|p| p.batch.samples = 0.0, "batch_samples");
        bad(|p| p.batch.memory = 0.0, "batch_memory");
        bad(|p| p.batch.sweeps = 0, "batch_sweeps");
        bad(|p| p.batch.drift = 0.0, "batch_drift");
        bad(|p| p.batch.drift_gate = f64::INFINITY, "batch_drift_gate");
        bad(|p| p.tmfq.sim_agents = 0, "sim_agents");
        bad(|p| p.tmfq.inner_tol = f64::NAN, "inner_tol");
        bad(|p| p.tmfq.check_every = 0, "check_every");
        bad(|p| p.tmfq.max_sim_transitions = 10, "max_sim_transitions");
        bad(|p| p.tmfq.mf_agents = 0, "mf_agents");
        bad(|p| p.gmbl.gen_samples = 0, "gen_samples");
        bad(|p| p.gmbl.value_tol = 0.0, "value_tol");
        bad(|p| p.mfq.neighbours = 0, "mfq_neighbours");
        bad(|p| p.mfq.bins = 256, "mfq_bins");
    }
}
