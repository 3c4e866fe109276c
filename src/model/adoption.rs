//! Technology / network-standard adoption: a game that satisfies Definition 1 of Lee et al.
//! (AISTATS 2021).
//!
//! The paper lists the adoption of a technology or network standard among its examples of
//! mean field games with strategic complementarities but gives no model; every equation and
//! number here is mfgsim's choice. An agent's state is its level of adoption, its action how
//! much it invests; investing helps it climb and protects it from lapsing back to
//! non-adoption, and both effects, like the value of being adopted, grow with the
//! population's adoption m(z).
//!
//! # Formula
//! ```text
//! states s ∈ {0..S-1} (adoption level, S = 6), actions a ∈ {0..A-1} (investment, A = 2)
//! m(z) = Σ_s s·z(s) / (S-1)                            population adoption ∈ [0, 1]
//! f(a) = a / (A-1)                                     investment share ∈ [0, 1]
//! u(a,z) = f(a)·(α + β·m(z))                           advance probability
//! c(a,z) = c0 − f(a)·(η + θ·m(z))                      lapse probability
//! s' = min(s+1, S-1)  w.p. (1-ζ)·u(a,z)                (advance one level)
//! s' = 0              w.p. (1-ζ)·c(a,z)                (lapse to non-adoption)
//! s' = s              w.p. (1-ζ)·(1 − u(a,z) − c(a,z)) (stay)
//! s' ~ entry_pmf      w.p. ζ                           (replaced by a new agent)
//! r(s,a,z) = s/(S-1)·(ρ0 + ρ1·m(z)) − κ·f(a)
//!
//! α = advance_prob = 0.4            β = advance_network = 0.05
//! c0 = lapse_prob = 0.45            η = lapse_protection = 0.4
//! θ = lapse_protection_network = 0.05
//! ζ = regen_prob = 0.02             entry_pmf = all mass on state 0
//! ρ0 = standalone_value = 0         ρ1 = network_value = 1
//! κ = invest_cost = 0.1
//! ```
//! With S = 1 the level share s/(S−1) and m(z) are 0; with A = 1, f(0) = 0. Rewards are per
//! step, in units of the value of full adoption in a fully adopted population (ρ0 + ρ1 = 1 by
//! default).
//!
//! # Valid probabilities
//! u and c are bilinear in (f, m) ∈ [0, 1]², so they are valid probabilities with
//! u + c ≤ 1 everywhere iff they are at the four corners: c0 ∈ [0, 1] (f = 0);
//! α, c0 − η ∈ [0, 1] and α + c0 − η ≤ 1 (f = 1, m = 0); α + β, c0 − η − θ ∈ [0, 1] and
//! α + β + c0 − η − θ ≤ 1 (f = 1, m = 1). [`AdoptionParams::validate`] enforces exactly
//! these (the sums within [`AdoptionParams::SUM_TOL`]; also with A = 1, where f = 1 does not
//! occur) and nothing else: the inequalities of Definition 1 below are left to
//! `mfgsim check`, so that their violations can be explored.
//!
//! # Why Definition 1 holds
//! Write T(t|s,a,z) = Σ_{s' ≥ t} P(s'|s,a,z) for a threshold t ∈ {1..S-1}. Regeneration
//! adds ζ·Σ_{s' ≥ t} entry_pmf(s') to every T, the same for every (s, a, z), so it cancels in
//! every comparison; the rest is (1−ζ) times
//! ```text
//! 0          for s < t − 1    (one step cannot reach t)
//! u(a,z)     for s = t − 1    (only an advance reaches t)
//! 1 − c(a,z) for s ≥ t        (only a lapse leaves the upper set; at s = S-1 an advance stays)
//! ```
//! and z enters only through m(z), which is non-decreasing in first-order dominance
//! (z ⪯ z' ⇒ Δm = m(z') − m(z) ≥ 0). Hence, condition by condition (ids of [`crate::check`]):
//! * `p_nondecreasing_in_s`: 0 ≤ u ≤ 1 − c, which valid probabilities guarantee.
//! * `p_nondecreasing_in_a`: a step of a raises f by Δf = 1/(A−1), u by Δf·(α + β·m) and
//!   1 − c by Δf·(η + θ·m); both are ≥ 0 for m ∈ [0, 1] when α, α + β ≥ 0 (valid
//!   probabilities) and η, η + θ ≥ 0 (implied by the next condition).
//! * `p_supermodular_sa`: the effect of a step of a on T is 0, Δf·(α + β·m), Δf·(η + θ·m), …,
//!   Δf·(η + θ·m) along s; it is non-decreasing in s iff α + β·m ≤ η + θ·m for every m, i.e.
//!   **α ≤ η and α + β ≤ η + θ**: protection from a lapse must be worth at least as much as
//!   the chance to advance. (This is why a lapse goes to state 0: in a walk that steps
//!   down by one, no fall from s > t reaches below t, so the action's effect would drop
//!   back to 0 above s = t.)
//! * `p_nondecreasing_in_z`: T rises by f·β·Δm at s = t − 1 and by f·θ·Δm at s ≥ t:
//!   **β ≥ 0 and θ ≥ 0**.
//! * `p_increasing_differences_sa_z`: D_t(s,a) = T(t|s,a,z') − T(t|s,a,z) = f(a)·Δm·k(s)
//!   with k = 0, β, θ, …, θ along s; non-decreasing in s iff **β ≤ θ** (and β ≥ 0), and then
//!   in a because k ≥ 0.
//! * `r_nondecreasing_in_s`: r rises with s by (ρ0 + ρ1·m)/(S−1): **ρ0 ≥ 0 and ρ0 + ρ1 ≥ 0**.
//! * `r_supermodular_sa`: r is a function of s plus a function of a, so the cross
//!   difference is exactly 0.
//! * `r_increasing_differences_sa_z`: r(s,a,z') − r(s,a,z) = s/(S−1)·ρ1·Δm, non-decreasing
//!   in s iff **ρ1 ≥ 0**, constant in a.
//! * `r_max_nondecreasing_in_s`: max_a r(s,a,z) = s/(S−1)·(ρ0 + ρ1·m) + max_a(−κ·f(a)),
//!   non-decreasing in s under the same condition as r. κ is free (κ < 0 is a subsidy).
//!
//! With ζ < 1, S ≥ 2 and A ≥ 2 the inequalities in bold are also necessary (the point masses
//! on state 0 and on state S−1 give m = 0, m = 1 and Δm = 1). The defaults meet them with
//! α = η, β = θ (the supermodularity and increasing-differences inequalities hold with
//! equality) and ρ0 = 0, ρ1 = 1.
//!
//! # Equilibria
//! With the defaults (γ = 0.9, ε = 0.1) T-BR from the lowest mean field rises to a least
//! T-MFE where nobody invests (mean state Σ s·z(s) ≈ 0.0932) and from the highest falls to a
//! greatest T-MFE where everybody invests (≈ 2.868): adoption is bistable. The two differ
//! for κ ∈ (0.01178, 0.21710) (measured with `mfgsim sweep`, see README.md); above, the high
//! equilibrium is gone (at κ = 0.3 both starts end at the low one); below, investing is so
//! cheap that only the high one is left.

use super::{check_finite, check_pmf, check_prob, check_size, KernelTables, Model};
use crate::error::{Error, Result};

/// Parameters of the adoption model. Every default is mfgsim's choice (the paper names the
/// example but gives no model); see [`Adoption`] for the formula and for which values satisfy
/// Definition 1.
#[derive(Debug, Clone, PartialEq)]
pub struct AdoptionParams {
    /// |S|, number of adoption levels (0 = not adopted, S−1 = fully adopted). Default 6.
    pub num_states: usize,
    /// |A|, number of investment levels (0 = none, A−1 = full). Default 2.
    pub num_actions: usize,
    /// α: probability that a full investor advances one level when nobody has adopted
    /// (m = 0); in [0, 1]. Default 0.4.
    pub advance_prob: f64,
    /// β: added to a full investor's advance probability per unit of m; α + β ∈ [0, 1].
    /// Definition 1 needs 0 ≤ β ≤ θ. Default 0.05.
    pub advance_network: f64,
    /// c0: probability that an agent who does not invest lapses to state 0; in [0, 1].
    /// Default 0.45.
    pub lapse_prob: f64,
    /// η: reduction of the lapse probability by full investment at m = 0;
    /// c0 − η ∈ [0, 1]. Definition 1 needs α ≤ η. Default 0.4.
    pub lapse_protection: f64,
    /// θ: further reduction of a full investor's lapse probability per unit of m;
    /// c0 − η − θ ∈ [0, 1]. Definition 1 needs β ≤ θ and α + β ≤ η + θ. Default 0.05.
    pub lapse_protection_network: f64,
    /// Regeneration probability ζ ∈ [0, 1]. Default 0.02.
    pub regen_prob: f64,
    /// Law of a new agent's adoption level (length |S|). Default: all mass on state 0.
    pub entry_pmf: Vec<f64>,
    /// ρ0: value per step of full adoption in a population without adopters (m = 0);
    /// finite. Definition 1 needs ρ0 ≥ 0 and ρ0 + ρ1 ≥ 0. Default 0.
    pub standalone_value: f64,
    /// ρ1: added to the value per step of full adoption per unit of m (the network effect);
    /// finite. Definition 1 needs ρ1 ≥ 0. Default 1.
    pub network_value: f64,
    /// κ: cost per step of full investment (a share f of it costs κ·f); finite, any sign.
    /// Default 0.1.
    pub invest_cost: f64,
}

impl Default for AdoptionParams {
    fn default() -> Self {
        let mut entry_pmf = vec![0.0; 6];
        entry_pmf[0] = 1.0;
        AdoptionParams {
            num_states: 6,
            num_actions: 2,
            advance_prob: 0.4,
            advance_network: 0.05,
            lapse_prob: 0.45,
            lapse_protection: 0.4,
            lapse_protection_network: 0.05,
            regen_prob: 0.02,
            entry_pmf,
            standalone_value: 0.0,
            network_value: 1.0,
            invest_cost: 0.1,
        }
    }
}

/// `Err` naming `key` unless `v ∈ [0, 1]` within [`AdoptionParams::SUM_TOL`]; `what` says which
/// probability `v` is.
fn check_sum_prob(key: &str, what: &str, v: f64) -> Result<()> {
    let tol = AdoptionParams::SUM_TOL;
    if !(-tol..=1.0 + tol).contains(&v) {
        return Err(Error::param(
            key,
            format!("{what} must be in [0, 1], got {v}"),
        ));
    }
    Ok(())
}

impl AdoptionParams {
    /// Tolerance of the validity checks on sums of parameters (α + c0 − η ≤ 1 and the like),
    /// so that sums exact in decimal but not in binary (0.7 + 0.1 + 0.2) are accepted. The
    /// kernel clamps u, c and the stay probability into [0, 1], so a row is off by at most
    /// this.
    pub const SUM_TOL: f64 = 1e-12;

    /// Checks every field: sizes, finiteness, and that u, c and 1 − u − c are probabilities
    /// for every investment share f ∈ [0, 1] and every m ∈ [0, 1], which holds iff it holds at
    /// the four corners (u and c are bilinear in (f, m)): c0 ∈ [0, 1]; α, c0 − η ∈ [0, 1] and
    /// α + c0 − η ≤ 1; α + β, c0 − η − θ ∈ [0, 1] and α + β + c0 − η − θ ≤ 1 (sums within
    /// [`Self::SUM_TOL`]). The Definition-1 inequalities (see [`Adoption`]) are not enforced,
    /// so that `mfgsim check` can explore their violations.
    ///
    /// # Errors
    /// [`Error::Param`] naming the first invalid key.
    pub fn validate(&self) -> Result<()> {
        check_size("num_states", self.num_states, 1 << 16)?;
        check_size("num_actions", self.num_actions, 256)?;
        for (key, v) in [
            ("advance_prob", self.advance_prob),
            ("advance_network", self.advance_network),
            ("lapse_prob", self.lapse_prob),
            ("lapse_protection", self.lapse_protection),
            ("lapse_protection_network", self.lapse_protection_network),
        ] {
            check_finite(key, v)?;
        }
        let (alpha, beta) = (self.advance_prob, self.advance_network);
        let (c0, eta, theta) = (
            self.lapse_prob,
            self.lapse_protection,
            self.lapse_protection_network,
        );
        check_prob("advance_prob", alpha)?;
        check_sum_prob(
            "advance_network",
            "advance_prob + advance_network (a full investor's advance probability at m = 1)",
            alpha + beta,
        )?;
        check_prob("lapse_prob", c0)?;
        check_sum_prob(
            "lapse_protection",
            "lapse_prob - lapse_protection (a full investor's lapse probability at m = 0)",
            c0 - eta,
        )?;
        check_sum_prob(
            "lapse_protection_network",
            "lapse_prob - lapse_protection - lapse_protection_network (a full investor's lapse \
             probability at m = 1)",
            c0 - eta - theta,
        )?;
        let (low, high) = (alpha + c0 - eta, alpha + beta + c0 - eta - theta);
        if low > 1.0 + Self::SUM_TOL {
            return Err(Error::param(
                "advance_prob",
                format!(
                    "advance_prob + lapse_prob - lapse_protection (a full investor's advance \
                     plus lapse probability at m = 0) must be <= 1, got {low}"
                ),
            ));
        }
        if high > 1.0 + Self::SUM_TOL {
            return Err(Error::param(
                "advance_network",
                format!(
                    "advance_prob + advance_network + lapse_prob - lapse_protection - \
                     lapse_protection_network (a full investor's advance plus lapse \
                     probability at m = 1) must be <= 1, got {high}"
                ),
            ));
        }
        check_prob("regen_prob", self.regen_prob)?;
        check_pmf("entry_pmf", &self.entry_pmf, Some(self.num_states))?;
        check_finite("standalone_value", self.standalone_value)?;
        check_finite("network_value", self.network_value)?;
        check_finite("invest_cost", self.invest_cost)?;
        Ok(())
    }
}

/// The adoption model (validated parameters).
///
/// ```text
/// m(z) = Σ_s s·z(s)/(S-1),  f(a) = a/(A-1)
/// u(a,z) = f(a)·(α + β·m(z))        advance to min(s+1, S-1)
/// c(a,z) = c0 − f(a)·(η + θ·m(z))   lapse to 0; stay w.p. 1 − u − c; all × (1 − ζ)
/// w.p. ζ a new agent enters, drawn from entry_pmf
/// r(s,a,z) = s/(S-1)·(ρ0 + ρ1·m(z)) − κ·f(a)
/// ```
/// Every condition of Definition 1 holds when α ≤ η, α + β ≤ η + θ, 0 ≤ β ≤ θ, ρ0 ≥ 0 and
/// ρ1 ≥ 0 (necessary too when ζ < 1, S ≥ 2 and A ≥ 2); the defaults meet them. The module
/// docs of `src/model/adoption.rs` derive each condition from the tail
/// T(t|s,a,z) = Σ_{s'≥t} P(s'|s,a,z), which is (1 − ζ)·(0, u, 1 − c) for s below t − 1, at
/// t − 1 and from t on, plus a regeneration term the same for every (s, a, z).
#[derive(Debug, Clone, PartialEq)]
pub struct Adoption {
    params: AdoptionParams,
}

impl Adoption {
    /// Validated constructor.
    ///
    /// # Errors
    /// [`Error::Param`] when a parameter is out of range (see [`AdoptionParams::validate`]).
    pub fn try_new(params: AdoptionParams) -> Result<Self> {
        params.validate()?;
        Ok(Adoption { params })
    }

    /// The parameters.
    pub fn params(&self) -> &AdoptionParams {
        &self.params
    }

    /// Population adoption m(z) = Σ s·z(s)/(S−1) ∈ [0, 1] (0 when S = 1).
    pub fn adoption_index(&self, z: &[f64]) -> f64 {
        let top = (self.params.num_states - 1) as f64;
        if top == 0.0 {
            0.0
        } else {
            super::mean_state(z) / top
        }
    }

    /// Level share s/(S−1) (0 when S = 1).
    #[inline]
    fn level(&self, s: usize) -> f64 {
        let top = self.params.num_states - 1;
        if top == 0 {
            0.0
        } else {
            s as f64 / top as f64
        }
    }

    /// Investment share f(a) = a/(A−1) (0 when A = 1).
    #[inline]
    fn share(&self, a: usize) -> f64 {
        let na = self.params.num_actions;
        if na > 1 {
            a as f64 / (na - 1) as f64
        } else {
            0.0
        }
    }

    /// Advance and lapse probabilities (u(a, z), c(a, z)) at adoption m, clamped into
    /// [0, 1] (they are already there up to [`AdoptionParams::SUM_TOL`]).
    #[inline]
    pub fn advance_and_lapse(&self, a: usize, m: f64) -> (f64, f64) {
        let p = &self.params;
        let f = self.share(a);
        let u = f * (p.advance_prob + p.advance_network * m);
        let c = p.lapse_prob - f * (p.lapse_protection + p.lapse_protection_network * m);
        (u.clamp(0.0, 1.0), c.clamp(0.0, 1.0))
    }

    #[inline]
    fn reward_with(&self, s: usize, a: usize, m: f64) -> f64 {
        let p = &self.params;
        self.level(s) * (p.standalone_value + p.network_value * m) - p.invest_cost * self.share(a)
    }

    #[inline]
    fn row_with(&self, s: usize, a: usize, m: f64, out: &mut [f64]) {
        let p = &self.params;
        let zeta = p.regen_prob;
        let (u, c) = self.advance_and_lapse(a, m);
        let stay = (1.0 - u - c).max(0.0);
        for (o, e) in out.iter_mut().zip(&p.entry_pmf) {
            *o = zeta * e;
        }
        let top = p.num_states - 1;
        out[(s + 1).min(top)] += (1.0 - zeta) * u;
        out[0] += (1.0 - zeta) * c;
        out[s] += (1.0 - zeta) * stay;
    }
}

impl Default for Adoption {
    fn default() -> Self {
        Adoption::try_new(AdoptionParams::default()).expect("defaults are valid")
    }
}

impl Model for Adoption {
    fn num_states(&self) -> usize {
        self.params.num_states
    }
    fn num_actions(&self) -> usize {
        self.params.num_actions
    }
    fn reward(&self, s: usize, a: usize, z: &[f64]) -> f64 {
        self.reward_with(s, a, self.adoption_index(z))
    }
    fn transition_row(&self, s: usize, a: usize, z: &[f64], out: &mut [f64]) {
        self.row_with(s, a, self.adoption_index(z), out);
    }
    fn regen_prob(&self) -> f64 {
        self.params.regen_prob
    }
    fn regen_pmf(&self) -> Vec<f64> {
        self.params.entry_pmf.clone()
    }
    fn name(&self) -> &str {
        "adoption"
    }
    fn fill_tables(&self, z: &[f64], t: &mut KernelTables) {
        let (ns, na) = (self.num_states(), self.num_actions());
        t.resize(ns, na);
        let m = self.adoption_index(z);
        for s in 0..ns {
            for a in 0..na {
                t.reward[s * na + a] = self.reward_with(s, a, m);
                self.row_with(s, a, m, t.row_mut(s, a));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::RngExt;

    use super::*;
    use crate::check::{check_model, CheckOptions, Condition};
    use crate::model::invariants::check_model_at;
    use crate::rng::{stream, Purpose};

    #[test]
    fn rows_and_reward_match_the_formula() {
        let m = Adoption::default();
        let mut z = vec![0.0; 6];
        z[0] = 0.5;
        z[5] = 0.5; // m(z) = 2.5/5 = 0.5
        assert_eq!(m.adoption_index(&z), 0.5);
        assert_eq!(check_model_at(&m, &z), None);
        let mut row = vec![0.0; 6];
        // Investing at s = 2: u = 0.4 + 0.05·0.5, c = 0.45 − (0.4 + 0.05·0.5).
        m.transition_row(2, 1, &z, &mut row);
        let (u, c) = (0.425, 0.45 - 0.425);
        assert!((row[3] - 0.98 * u).abs() < 1e-15, "{row:?}");
        assert!((row[0] - (0.02 + 0.98 * c)).abs() < 1e-15, "{row:?}");
        assert!((row[2] - 0.98 * (1.0 - u - c)).abs() < 1e-15, "{row:?}");
        assert_eq!((row[1], row[4], row[5]), (0.0, 0.0, 0.0));
        // Not investing: no advance, lapse with c0.
        m.transition_row(2, 0, &z, &mut row);
        assert!((row[0] - (0.02 + 0.98 * 0.45)).abs() < 1e-15, "{row:?}");
        assert!((row[2] - 0.98 * 0.55).abs() < 1e-15, "{row:?}");
        assert_eq!(row[3], 0.0);
        // At the top an advance stays.
        m.transition_row(5, 1, &z, &mut row);
        assert!((row[5] - 0.98 * (1.0 - c)).abs() < 1e-15, "{row:?}");
        // r = s/(S-1)·(ρ0 + ρ1 m) − κ f.
        assert!((m.reward(2, 1, &z) - (0.4 * 0.5 - 0.1)).abs() < 1e-15);
        assert!((m.reward(5, 0, &z) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn more_actions_step_the_investment_share() {
        let m = Adoption::try_new(AdoptionParams {
            num_actions: 5,
            ..Default::default()
        })
        .unwrap();
        let z = vec![1.0 / 6.0; 6]; // m = 0.5
        let (u, c) = m.advance_and_lapse(2, m.adoption_index(&z));
        assert!((u - 0.5 * 0.425).abs() < 1e-15);
        assert!((c - (0.45 - 0.5 * 0.425)).abs() < 1e-15);
        assert!((m.reward(3, 4, &z) - (0.6 * 0.5 - 0.1)).abs() < 1e-15);
        assert_eq!(check_model_at(&m, &z), None);
        // One state, one action: no division by zero.
        let tiny = Adoption::try_new(AdoptionParams {
            num_states: 1,
            num_actions: 1,
            entry_pmf: vec![1.0],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(check_model_at(&tiny, &[1.0]), None);
        assert_eq!(tiny.reward(0, 0, &[1.0]), 0.0);
    }

    #[test]
    fn fill_tables_matches_per_row_calls() {
        let m = Adoption::default();
        let z: Vec<f64> = (0..6).map(|s| (s as f64 + 1.0) / 21.0).collect();
        let fast = KernelTables::of(&m, &z);
        let mut row = vec![0.0; 6];
        for s in 0..6 {
            for a in 0..2 {
                m.transition_row(s, a, &z, &mut row);
                assert_eq!(fast.row(s, a), &row[..]);
                assert_eq!(fast.r(s, a), m.reward(s, a, &z));
            }
        }
    }

    #[test]
    fn invalid_probabilities_name_their_key() {
        let d = AdoptionParams::default;
        for (p, key, want) in [
            (
                AdoptionParams {
                    advance_prob: 1.2,
                    ..d()
                },
                "advance_prob",
                "must be in [0, 1]",
            ),
            (
                AdoptionParams {
                    advance_network: -0.5,
                    ..d()
                },
                "advance_network",
                "advance probability at m = 1) must be in [0, 1], got -0.09",
            ),
            (
                AdoptionParams {
                    lapse_prob: -0.1,
                    ..d()
                },
                "lapse_prob",
                "must be in [0, 1]",
            ),
            (
                AdoptionParams {
                    lapse_protection: 0.5,
                    ..d()
                },
                "lapse_protection",
                "lapse probability at m = 0) must be in [0, 1]",
            ),
            (
                AdoptionParams {
                    lapse_protection_network: 0.1,
                    ..d()
                },
                "lapse_protection_network",
                "lapse probability at m = 1) must be in [0, 1]",
            ),
            (
                // α + c0 − η = 0.9 + 0.45 − 0.3 > 1.
                AdoptionParams {
                    advance_prob: 0.9,
                    lapse_protection: 0.3,
                    advance_network: 0.0,
                    ..d()
                },
                "advance_prob",
                "must be <= 1",
            ),
            (
                // At m = 1: 0.4 + 0.6 + 0.45 − 0.4 − 0.05 = 1.0 + ... > 1.
                AdoptionParams {
                    advance_network: 0.6,
                    lapse_protection_network: 0.0,
                    ..d()
                },
                "advance_network",
                "must be <= 1",
            ),
            (
                AdoptionParams {
                    invest_cost: f64::NAN,
                    ..d()
                },
                "invest_cost",
                "must be finite",
            ),
            (
                AdoptionParams {
                    entry_pmf: vec![1.0],
                    ..d()
                },
                "entry_pmf",
                "6 entries",
            ),
            (
                AdoptionParams {
                    regen_prob: 2.0,
                    ..d()
                },
                "regen_prob",
                "must be in [0, 1]",
            ),
        ] {
            match Adoption::try_new(p) {
                Err(Error::Param { key: k, reason }) => {
                    assert_eq!(k, key, "{reason}");
                    assert!(reason.contains(want), "{key}: {reason}");
                }
                other => panic!("{key}: {other:?}"),
            }
        }
        // Sums exact in decimal but not in binary are accepted.
        let edge = AdoptionParams {
            advance_prob: 0.7,
            advance_network: 0.0,
            lapse_prob: 0.1 + 0.2,
            lapse_protection: 0.0,
            lapse_protection_network: 0.0,
            ..d()
        };
        let m = Adoption::try_new(edge).unwrap();
        assert_eq!(check_model_at(&m, &uniform6()), None);
    }

    fn uniform6() -> Vec<f64> {
        vec![1.0 / 6.0; 6]
    }

    #[test]
    fn the_defaults_satisfy_definition_1() {
        let report = check_model(&Adoption::default(), None, &CheckOptions::default()).unwrap();
        assert!(report.all_hold(), "{report}");
        for c in &report.conditions {
            assert_eq!(c.worst_violation, 0.0, "{}", c.condition);
        }
    }

    /// The verdict of each condition of [`Condition::ALL`] that the module docs derive.
    fn predicted(p: &AdoptionParams) -> [bool; 9] {
        let (al, be, eta, th) = (
            p.advance_prob,
            p.advance_network,
            p.lapse_protection,
            p.lapse_protection_network,
        );
        let (r0, r1) = (p.standalone_value, p.network_value);
        let r_s = r0 >= 0.0 && r0 + r1 >= 0.0;
        [
            r_s,                              // r_nondecreasing_in_s
            true,                             // r_supermodular_sa
            r1 >= 0.0,                        // r_increasing_differences_sa_z
            r_s,                              // r_max_nondecreasing_in_s
            true,                             // p_nondecreasing_in_s
            eta >= 0.0 && eta + th >= 0.0,    // p_nondecreasing_in_a
            be >= 0.0 && th >= 0.0,           // p_nondecreasing_in_z
            al <= eta && al + be <= eta + th, // p_supermodular_sa
            be >= 0.0 && th >= be,            // p_increasing_differences_sa_z
        ]
    }

    #[test]
    fn the_checker_agrees_with_the_derived_inequalities() {
        // Random valid parameters, half of them violating something: the checker's verdict
        // on every condition is the one the module docs derive.
        let mut rng = stream(11, Purpose::Learn, 0, 0);
        let opts = CheckOptions {
            random_pairs: 10,
            ..Default::default()
        };
        let (mut tried, mut holds, mut fails) = (0, 0, 0);
        while tried < 150 {
            let ns = rng.random_range(2..8usize);
            let mut entry_pmf = vec![0.0; ns];
            entry_pmf[rng.random_range(0..ns)] = 1.0;
            let p = AdoptionParams {
                num_states: ns,
                num_actions: rng.random_range(2..5usize),
                advance_prob: rng.random_range(0.0..0.5),
                advance_network: rng.random_range(-0.1..0.2),
                lapse_prob: rng.random_range(0.2..0.8),
                lapse_protection: rng.random_range(-0.1..0.6),
                lapse_protection_network: rng.random_range(-0.1..0.2),
                regen_prob: rng.random_range(0.0..0.2),
                entry_pmf,
                standalone_value: rng.random_range(-0.2..1.0),
                network_value: rng.random_range(-0.3..1.0),
                invest_cost: rng.random_range(-0.2..0.5),
            };
            let Ok(model) = Adoption::try_new(p.clone()) else {
                continue;
            };
            tried += 1;
            let report = check_model(&model, None, &opts).unwrap();
            let want = predicted(&p);
            for (c, w) in Condition::ALL.iter().zip(want) {
                assert_eq!(report.condition(*c).holds, w, "{c} at {p:?}\n{report}");
            }
            if want.iter().all(|&w| w) {
                holds += 1;
            } else {
                fails += 1;
            }
        }
        assert!(holds >= 5 && fails >= 5, "{holds} hold, {fails} fail");
    }
}
