//! Infection spread (Lee et al., AISTATS 2021, §6).
//!
//! # Formula
//! ```text
//! states s ∈ {0..S-1} (health, S = 25), actions a ∈ {0..A-1} (protection effort, A = 5)
//! p(x)  = exp(-x / susceptibility_scale)              susceptibility
//! m(z)  = Σ_s s·z(s)                                   mean health
//! i_z   = infection_constant · p(m(z))                 infection probability
//! s' = clamp(s + a - w1, 0, S-1), w1 ~ w1_pmf          w.p. i_z (1-ζ)      (infected)
//! s' = min(s + a, S-1)                                 w.p. (1-i_z)(1-ζ)  (not infected)
//! s' = w2 ~ w2_pmf                                     w.p. ζ             (replaced)
//! r(s,a,z) = δ1 (1 - p(s)) + δ2 Σ_s z(s)(1 - p(s)) - δ3·a
//! ```

use super::{check_finite, check_pmf, check_prob, check_size, KernelTables, Model};
use crate::error::{Error, Result};

/// Parameters of the infection model. The paper's text fixes |S| = 25, |A| = 5 and uses
/// c_f ∈ {0.05, 0.1}; every other default is mfgsim's choice (README, "Where every parameter
/// comes from").
#[derive(Debug, Clone, PartialEq)]
pub struct InfectionParams {
    /// |S|, number of health levels. Default 25.
    pub num_states: usize,
    /// |A|, number of protection levels. Default 5.
    pub num_actions: usize,
    /// Scale of the susceptibility p(x) = exp(-x/scale); > 0. Default 20.
    pub susceptibility_scale: f64,
    /// Infection constant c in i_z = c·p(m(z)); in [0, 1]. Default 0.1.
    pub infection_constant: f64,
    /// Regeneration probability ζ ∈ [0, 1]. Default 0.05.
    pub regen_prob: f64,
    /// Law of the health loss w1 on infection (index = loss). Default uniform on {0..10}.
    pub w1_pmf: Vec<f64>,
    /// Law of a new agent's state (length |S|). Default uniform on {0..S-1}.
    pub w2_pmf: Vec<f64>,
    /// δ1, weight of own health in the reward. Default 0.5.
    pub delta1: f64,
    /// δ2, weight of population health in the reward. Default 0.3.
    pub delta2: f64,
    /// δ3, cost per unit of protection effort. Default 0.05.
    pub delta3: f64,
}

impl Default for InfectionParams {
    fn default() -> Self {
        InfectionParams {
            num_states: 25,
            num_actions: 5,
            susceptibility_scale: 20.0,
            infection_constant: 0.1,
            regen_prob: 0.05,
            w1_pmf: vec![1.0 / 11.0; 11],
            w2_pmf: vec![1.0 / 25.0; 25],
            delta1: 0.5,
            delta2: 0.3,
            delta3: 0.05,
        }
    }
}

impl InfectionParams {
    /// Checks every field (see the field docs for ranges).
    ///
    /// # Errors
    /// [`Error::Param`] naming the first invalid key.
    pub fn validate(&self) -> Result<()> {
        check_size("num_states", self.num_states, 1 << 16)?;
        check_size("num_actions", self.num_actions, 256)?;
        check_finite("susceptibility_scale", self.susceptibility_scale)?;
        if self.susceptibility_scale <= 0.0 {
            return Err(Error::param(
                "susceptibility_scale",
                format!("must be > 0, got {}", self.susceptibility_scale),
            ));
        }
        check_prob("infection_constant", self.infection_constant)?;
        check_prob("regen_prob", self.regen_prob)?;
        check_pmf("w1_pmf", &self.w1_pmf, None)?;
        check_pmf("w2_pmf", &self.w2_pmf, Some(self.num_states))?;
        check_finite("delta1", self.delta1)?;
        check_finite("delta2", self.delta2)?;
        check_finite("delta3", self.delta3)?;
        Ok(())
    }
}

/// The infection-spread model (validated parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct Infection {
    params: InfectionParams,
    /// 1 − p(s) for each state, precomputed.
    one_minus_p: Vec<f64>,
}

impl Infection {
    /// Validated constructor.
    ///
    /// # Errors
    /// [`Error::Param`] when a parameter is out of range (see [`InfectionParams`]).
    pub fn try_new(params: InfectionParams) -> Result<Self> {
        params.validate()?;
        let one_minus_p = (0..params.num_states)
            .map(|s| 1.0 - (-(s as f64) / params.susceptibility_scale).exp())
            .collect();
        Ok(Infection {
            params,
            one_minus_p,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &InfectionParams {
        &self.params
    }

    /// Infection probability i_z = c·p(m(z)).
    pub fn infection_prob(&self, z: &[f64]) -> f64 {
        let m = super::mean_state(z);
        self.params.infection_constant * (-m / self.params.susceptibility_scale).exp()
    }

    /// Population term δ2 Σ_s z(s)(1 − p(s)) of the reward.
    fn population_reward(&self, z: &[f64]) -> f64 {
        let h: f64 = z.iter().zip(&self.one_minus_p).map(|(z, q)| z * q).sum();
        self.params.delta2 * h
    }

    /// r given the precomputed population term.
    #[inline]
    fn reward_with(&self, s: usize, a: usize, pop: f64) -> f64 {
        self.params.delta1 * self.one_minus_p[s] + pop - self.params.delta3 * a as f64
    }

    /// P(·|s,a,z) given i_z; `out` must be zeroed... it is overwritten entirely.
    #[inline]
    fn row_with(&self, s: usize, a: usize, iz: f64, out: &mut [f64]) {
        let top = self.params.num_states - 1;
        let zeta = self.params.regen_prob;
        for (o, w) in out.iter_mut().zip(&self.params.w2_pmf) {
            *o = zeta * w;
        }
        let up = (s + a).min(top);
        out[up] += (1.0 - iz) * (1.0 - zeta);
        let hit = iz * (1.0 - zeta);
        for (w1, p) in self.params.w1_pmf.iter().enumerate() {
            let dest = (s + a).saturating_sub(w1).min(top);
            out[dest] += hit * p;
        }
    }
}

impl Default for Infection {
    fn default() -> Self {
        Infection::try_new(InfectionParams::default()).expect("defaults are valid")
    }
}

impl Model for Infection {
    fn num_states(&self) -> usize {
        self.params.num_states
    }
    fn num_actions(&self) -> usize {
        self.params.num_actions
    }
    fn reward(&self, s: usize, a: usize, z: &[f64]) -> f64 {
        self.reward_with(s, a, self.population_reward(z))
    }
    fn transition_row(&self, s: usize, a: usize, z: &[f64], out: &mut [f64]) {
        self.row_with(s, a, self.infection_prob(z), out);
    }
    fn regen_prob(&self) -> f64 {
        self.params.regen_prob
    }
    fn regen_pmf(&self) -> Vec<f64> {
        self.params.w2_pmf.clone()
    }
    fn name(&self) -> &str {
        "infection"
    }
    fn fill_tables(&self, z: &[f64], t: &mut KernelTables) {
        let (ns, na) = (self.num_states(), self.num_actions());
        t.resize(ns, na);
        let (iz, pop) = (self.infection_prob(z), self.population_reward(z));
        for s in 0..ns {
            for a in 0..na {
                t.reward[s * na + a] = self.reward_with(s, a, pop);
                self.row_with(s, a, iz, t.row_mut(s, a));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invariants::check_model_at;

    #[test]
    fn rows_sum_to_one_and_match_the_cases() {
        let m = Infection::default();
        let z = vec![1.0 / 25.0; 25];
        assert_eq!(check_model_at(&m, &z), None);
        let iz = m.infection_prob(&z);
        // m(uniform) = 12, i_z = 0.1·exp(-0.6).
        assert!((iz - 0.1 * (-0.6f64).exp()).abs() < 1e-15);
        let mut row = vec![0.0; 25];
        m.transition_row(3, 2, &z, &mut row);
        // s + a = 5: not infected -> 5; infected with loss w1 ∈ 0..=10 -> max(5 - w1, 0).
        let expect5 = 0.95 * (1.0 - iz) + 0.95 * iz / 11.0 + 0.05 / 25.0;
        let expect0 = 0.95 * iz * 6.0 / 11.0 + 0.05 / 25.0;
        assert!((row[5] - expect5).abs() < 1e-15);
        assert!((row[0] - expect0).abs() < 1e-15);
        assert!((row[24] - 0.05 / 25.0).abs() < 1e-15);
    }

    #[test]
    fn reward_formula() {
        let m = Infection::default();
        let mut z = vec![0.0; 25];
        z[24] = 1.0;
        let p = |x: f64| (-x / 20.0).exp();
        let r = m.reward(10, 3, &z);
        let expect = 0.5 * (1.0 - p(10.0)) + 0.3 * (1.0 - p(24.0)) - 0.05 * 3.0;
        assert!((r - expect).abs() < 1e-15);
    }

    #[test]
    fn fill_tables_matches_per_row_calls() {
        let m = Infection::default();
        let z: Vec<f64> = (0..25).map(|s| (s as f64 + 1.0) / 325.0).collect();
        let fast = KernelTables::of(&m, &z);
        let mut row = vec![0.0; 25];
        for s in 0..25 {
            for a in 0..5 {
                m.transition_row(s, a, &z, &mut row);
                assert_eq!(fast.row(s, a), &row[..]);
                assert_eq!(fast.r(s, a), m.reward(s, a, &z));
            }
        }
    }

    #[test]
    fn rejects_bad_params() {
        let bad = InfectionParams {
            infection_constant: 1.5,
            ..Default::default()
        };
        let e = Infection::try_new(bad).unwrap_err().to_string();
        assert!(e.contains("infection_constant"), "{e}");
        let bad = InfectionParams {
            w2_pmf: vec![0.5; 25],
            ..Default::default()
        };
        let e = Infection::try_new(bad).unwrap_err().to_string();
        assert!(e.contains("w2_pmf") && e.contains("sum"), "{e}");
    }
}
