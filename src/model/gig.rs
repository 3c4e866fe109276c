//! Gig economy / MTurk (Lee et al., AISTATS 2021, §6): worker reputation and effort.
//!
//! # Formula
//! ```text
//! states s ∈ {0..S-1} (reputation, S = 10), actions a ∈ {0..A-1} (effort, A = 4)
//! m(z) = Σ_s s·z(s) / (S-1)                                  market index ∈ [0, 1]
//! λ(z) = task_rate_floor + (1 - task_rate_floor)·m(z)        task arrival probability
//! q(a) = approval_min + (approval_max - approval_min)·a/(A-1) approval probability
//! s' = min(s+1, S-1) w.p. (1-ζ) λ(z) q(a)
//! s' = max(s-1, 0)   w.p. (1-ζ) λ(z) (1-q(a))
//! s' = s             w.p. (1-ζ) (1-λ(z))
//! s' ~ entry_pmf     w.p. ζ                                  (a new worker)
//! r(s,a,z) = base_pay·(1 + market_boost·m(z))·((s+1)/S)·((a+1)/A) - effort_cost·a²
//! ```

use super::{check_finite, check_pmf, check_prob, check_size, KernelTables, Model};
use crate::error::{Error, Result};

/// Parameters of the gig-economy model. The model and every default are mfgsim's reading of
/// the paper's MTurk narrative (the paper gives no equations).
#[derive(Debug, Clone, PartialEq)]
pub struct GigParams {
    /// |S|, number of reputation levels. Default 10.
    pub num_states: usize,
    /// |A|, number of effort levels. Default 4.
    pub num_actions: usize,
    /// Task arrival probability in an empty market, in [0, 1]. Default 0.5.
    pub task_rate_floor: f64,
    /// Approval probability at zero effort, in [0, 1]. Default 0.4.
    pub approval_min: f64,
    /// Approval probability at full effort, in [approval_min, 1]. Default 0.95.
    pub approval_max: f64,
    /// Regeneration probability ζ ∈ [0, 1]. Default 0.02.
    pub regen_prob: f64,
    /// Law of a new worker's reputation (length |S|). Default: all mass on state 0.
    pub entry_pmf: Vec<f64>,
    /// Pay per task at top reputation and effort, before the market boost. Default 0.5.
    pub base_pay: f64,
    /// Relative pay increase in a fully developed market (m(z) = 1). Default 1.0.
    pub market_boost: f64,
    /// Cost coefficient c in the effort cost c·a². Default 0.04.
    pub effort_cost: f64,
}

impl Default for GigParams {
    fn default() -> Self {
        let mut entry_pmf = vec![0.0; 10];
        entry_pmf[0] = 1.0;
        GigParams {
            num_states: 10,
            num_actions: 4,
            task_rate_floor: 0.5,
            approval_min: 0.4,
            approval_max: 0.95,
            regen_prob: 0.02,
            entry_pmf,
            base_pay: 0.5,
            market_boost: 1.0,
            effort_cost: 0.04,
        }
    }
}

impl GigParams {
    /// Checks every field (see the field docs for ranges).
    ///
    /// # Errors
    /// [`Error::Param`] naming the first invalid key.
    pub fn validate(&self) -> Result<()> {
        check_size("num_states", self.num_states, 1 << 16)?;
        check_size("num_actions", self.num_actions, 256)?;
        check_prob("task_rate_floor", self.task_rate_floor)?;
        check_prob("approval_min", self.approval_min)?;
        check_prob("approval_max", self.approval_max)?;
        if self.approval_max < self.approval_min {
            return Err(Error::param(
                "approval_max",
                format!(
                    "must be >= approval_min ({}), got {}",
                    self.approval_min, self.approval_max
                ),
            ));
        }
        check_prob("regen_prob", self.regen_prob)?;
        check_pmf("entry_pmf", &self.entry_pmf, Some(self.num_states))?;
        check_finite("base_pay", self.base_pay)?;
        check_finite("market_boost", self.market_boost)?;
        check_finite("effort_cost", self.effort_cost)?;
        Ok(())
    }
}

/// The gig-economy model (validated parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct Gig {
    params: GigParams,
}

impl Gig {
    /// Validated constructor.
    ///
    /// # Errors
    /// [`Error::Param`] when a parameter is out of range (see [`GigParams`]).
    pub fn try_new(params: GigParams) -> Result<Self> {
        params.validate()?;
        Ok(Gig { params })
    }

    /// The parameters.
    pub fn params(&self) -> &GigParams {
        &self.params
    }

    /// Market index m(z) = Σ s·z(s)/(S−1) (0 when S = 1).
    pub fn market_index(&self, z: &[f64]) -> f64 {
        let top = (self.params.num_states - 1) as f64;
        if top == 0.0 {
            0.0
        } else {
            super::mean_state(z) / top
        }
    }

    /// Approval probability q(a).
    #[inline]
    fn approval(&self, a: usize) -> f64 {
        let p = &self.params;
        let frac = if p.num_actions > 1 {
            a as f64 / (p.num_actions - 1) as f64
        } else {
            0.0
        };
        p.approval_min + (p.approval_max - p.approval_min) * frac
    }

    #[inline]
    fn reward_with(&self, s: usize, a: usize, m: f64) -> f64 {
        let p = &self.params;
        let (ns, na) = (p.num_states as f64, p.num_actions as f64);
        p.base_pay * (1.0 + p.market_boost * m) * ((s as f64 + 1.0) / ns) * ((a as f64 + 1.0) / na)
            - p.effort_cost * (a * a) as f64
    }

    #[inline]
    fn row_with(&self, s: usize, a: usize, m: f64, out: &mut [f64]) {
        let p = &self.params;
        let zeta = p.regen_prob;
        let lambda = p.task_rate_floor + (1.0 - p.task_rate_floor) * m;
        let q = self.approval(a);
        for (o, e) in out.iter_mut().zip(&p.entry_pmf) {
            *o = zeta * e;
        }
        let top = p.num_states - 1;
        out[(s + 1).min(top)] += (1.0 - zeta) * lambda * q;
        out[s.saturating_sub(1)] += (1.0 - zeta) * lambda * (1.0 - q);
        out[s] += (1.0 - zeta) * (1.0 - lambda);
    }
}

impl Default for Gig {
    fn default() -> Self {
        Gig::try_new(GigParams::default()).expect("defaults are valid")
    }
}

impl Model for Gig {
    fn num_states(&self) -> usize {
        self.params.num_states
    }
    fn num_actions(&self) -> usize {
        self.params.num_actions
    }
    fn reward(&self, s: usize, a: usize, z: &[f64]) -> f64 {
        self.reward_with(s, a, self.market_index(z))
    }
    fn transition_row(&self, s: usize, a: usize, z: &[f64], out: &mut [f64]) {
        self.row_with(s, a, self.market_index(z), out);
    }
    fn regen_prob(&self) -> f64 {
        self.params.regen_prob
    }
    fn regen_pmf(&self) -> Vec<f64> {
        self.params.entry_pmf.clone()
    }
    fn name(&self) -> &str {
        "gig"
    }
    fn fill_tables(&self, z: &[f64], t: &mut KernelTables) {
        let (ns, na) = (self.num_states(), self.num_actions());
        t.resize(ns, na);
        let m = self.market_index(z);
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
    use super::*;
    use crate::model::invariants::check_model_at;

    #[test]
    fn rows_and_reward_match_the_formula() {
        let m = Gig::default();
        let mut z = vec![0.0; 10];
        z[9] = 0.5;
        z[0] = 0.5; // m(z) = 4.5/9 = 0.5, λ = 0.75
        assert_eq!(check_model_at(&m, &z), None);
        let mut row = vec![0.0; 10];
        m.transition_row(4, 3, &z, &mut row);
        let (lam, q) = (0.75, 0.95);
        assert!((row[5] - 0.98 * lam * q).abs() < 1e-15);
        assert!((row[3] - 0.98 * lam * (1.0 - q)).abs() < 1e-15);
        assert!((row[4] - 0.98 * (1.0 - lam)).abs() < 1e-15);
        assert!((row[0] - 0.02).abs() < 1e-15);
        let r = m.reward(4, 3, &z);
        assert!((r - (0.5 * 1.5 * 0.5 * 1.0 - 0.04 * 9.0)).abs() < 1e-15);
    }

    #[test]
    fn boundaries_fold_mass() {
        let m = Gig::default();
        let z = vec![0.1; 10];
        let mut row = vec![0.0; 10];
        m.transition_row(0, 0, &z, &mut row);
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        m.transition_row(9, 3, &z, &mut row);
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn rejects_bad_entry_pmf() {
        let bad = GigParams {
            entry_pmf: vec![1.0; 3],
            ..Default::default()
        };
        let e = Gig::try_new(bad).unwrap_err().to_string();
        assert!(e.contains("entry_pmf") && e.contains("10 entries"), "{e}");
    }
}
