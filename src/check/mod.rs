//! Strategic-complementarity checker: tests Definition 1 of Lee et al. (AISTATS 2021)
//! numerically for any [`Model`].
//!
//! # Formula
//! ```text
//! S = {0..|S|-1}, A = {0..|A|-1}    ordered states and actions (0 is "lowest")
//! z, z'                              mean fields (probability vectors on S)
//! z ⪯ z'                             first-order stochastic dominance:
//!                                    Σ_{s≥t} z(s) ≤ Σ_{s≥t} z'(s) for every t
//! T(t|s,a,z) = Σ_{s'≥t} P(s'|s,a,z) tail of the kernel at threshold t ∈ {1..|S|-1}
//!
//! (i)  reward
//!   r_nondecreasing_in_s            r(s+1,a,z) ≥ r(s,a,z)
//!   r_supermodular_sa               r(s+1,a+1,z) − r(s,a+1,z) ≥ r(s+1,a,z) − r(s,a,z)
//!   r_increasing_differences_sa_z   D(s,a) = r(s,a,z') − r(s,a,z), for z ⪯ z':
//!                                   D(s+1,a) ≥ D(s,a) and D(s,a+1) ≥ D(s,a)
//!   r_max_nondecreasing_in_s        max_a r(s+1,a,z) ≥ max_a r(s,a,z)
//! (ii) kernel, for every threshold t
//!   p_nondecreasing_in_s            T(t|s+1,a,z) ≥ T(t|s,a,z)
//!   p_nondecreasing_in_a            T(t|s,a+1,z) ≥ T(t|s,a,z)
//!   p_nondecreasing_in_z            T(t|s,a,z') ≥ T(t|s,a,z)          for z ⪯ z'
//!   p_supermodular_sa               T(t|s+1,a+1,z) − T(t|s,a+1,z) ≥ T(t|s+1,a,z) − T(t|s,a,z)
//!   p_increasing_differences_sa_z   D_t(s,a) = T(t|s,a,z') − T(t|s,a,z), for z ⪯ z':
//!                                   D_t(s+1,a) ≥ D_t(s,a) and D_t(s,a+1) ≥ D_t(s,a)
//! ```
//!
//! On a chain, P(·|x) ⪯ P(·|y) iff E_x f ≤ E_y f for every non-decreasing f, and it is
//! enough to test the indicators f = 1{s' ≥ t}, i.e. the tails T. On the lattice S × A,
//! comparing neighbours (s → s+1, a → a+1) is enough for monotonicity and
//! supermodularity. Conditions without z' are tested at every test mean field; those
//! with z' at every ordered test pair. An inequality `lhs ≥ rhs` counts as violated only
//! when `rhs − lhs` exceeds [`CheckOptions::tol`] (default [`DEFAULT_TOL`]).
//!
//! # Test mean fields and pairs z ⪯ z'
//! * point masses: `point(i) ⪯ point(j)` for all i < j when |S| ≤
//!   [`ALL_POINT_PAIRS_MAX_STATES`], otherwise adjacent pairs plus `(point(0), point(top))`;
//! * `point(0) ⪯ uniform ⪯ point(top)`;
//! * the T-MFE when the caller passes one: `point(0) ⪯ tmfe ⪯ point(top)` and against
//!   `uniform` in whichever direction holds (none when the two are not ordered);
//! * [`CheckOptions::random_pairs`] random pairs `random#k/lo ⪯ random#k/hi` from a
//!   seeded RNG: draw two random pmfs with CDFs F₁, F₂; `lo` has CDF max(F₁, F₂) and `hi`
//!   has CDF min(F₁, F₂).
//!
//! # Example
//! ```
//! use mfgsim::check::{check_model, CheckOptions, Condition};
//! use mfgsim::model::Gig;
//!
//! let report = check_model(&Gig::default(), None, &CheckOptions::default())?;
//! assert!(report.condition(Condition::RSupermodularSa).holds);
//! // One row per condition, ready for the terminal.
//! assert!(report.to_string().contains("p_nondecreasing_in_z"));
//! # Ok::<(), mfgsim::Error>(())
//! ```

mod report;
mod tally;
#[cfg(test)]
mod tests;

pub use report::{CheckReport, Condition, ConditionReport, PairWitness, Step, Witness};
use tally::{Evaluated, Tallies};

use std::fmt;

use rand::RngExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{KernelTables, Model, PMF_SUM_TOL};
use crate::rng::{stream, Purpose, StreamRng};
use crate::space::{on_simplex, point_mass, stochastically_le, uniform};

/// Default tolerance: an inequality `lhs ≥ rhs` is violated only when `rhs − lhs > 1e-12`,
/// so that round-off in sums and differences of probabilities is ignored.
pub const DEFAULT_TOL: f64 = 1e-12;

/// Up to this many states every pair of point masses `point(i) ⪯ point(j)`, i < j, is
/// tested (|S|(|S|−1)/2 pairs); above it only adjacent pairs and `(point(0), point(top))`.
pub const ALL_POINT_PAIRS_MAX_STATES: usize = 32;

/// Tolerance with which a constructed pair is confirmed to be ordered (z ⪯ z').
const ORDER_TOL: f64 = 1e-12;

/// Knobs of [`check_model`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOptions {
    /// Violation tolerance, ≥ 0 and finite. Default [`DEFAULT_TOL`] (1e-12). Raising it
    /// hides small violations; lowering it towards 0 reports round-off as violations.
    pub tol: f64,
    /// Number of random ordered pairs z ⪯ z' added to the deterministic ones. Default 200.
    /// Each pair costs two table evaluations, O(|S|²|A|) each.
    pub random_pairs: usize,
    /// Seed of the random pairs (Xoshiro256++); the same seed gives the same report.
    /// Default 0.
    pub seed: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            tol: DEFAULT_TOL,
            random_pairs: 200,
            seed: 0,
        }
    }
}

impl CheckOptions {
    /// Checks the fields (see their docs for ranges).
    ///
    /// # Errors
    /// [`Error::Param`] naming `tol` when it is negative or not finite.
    pub fn validate(&self) -> Result<()> {
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(Error::param(
                "tol",
                format!("must be finite and >= 0, got {}", self.tol),
            ));
        }
        Ok(())
    }
}

/// Tests every condition of Definition 1 on `model` over the test mean fields and pairs
/// described in the [module docs](self). `tmfe` (e.g. [`crate::Solution::z`]) adds the
/// equilibrium to the test mean fields. Deterministic for fixed `opts`.
///
/// Cost: O(|S|²|A|) per evaluated mean field, one [`Model::fill_tables`] call each.
///
/// # Errors
/// [`Error::Param`] when `opts` is invalid (see [`CheckOptions::validate`]), when the
/// model has no states or no actions, or when `tmfe` does not have |S| entries or is not on
/// the simplex (within [`PMF_SUM_TOL`]).
pub fn check_model(
    model: &(impl Model + ?Sized),
    tmfe: Option<&[f64]>,
    opts: &CheckOptions,
) -> Result<CheckReport> {
    opts.validate()?;
    let (ns, na) = (model.num_states(), model.num_actions());
    if ns == 0 || na == 0 {
        return Err(Error::param(
            "model",
            format!("needs at least one state and one action, has |S| = {ns}, |A| = {na}"),
        ));
    }
    if let Some(z) = tmfe {
        if z.len() != ns {
            return Err(Error::param(
                "tmfe",
                format!("must have {ns} entries (one per state), got {}", z.len()),
            ));
        }
        if !on_simplex(z, PMF_SUM_TOL) {
            return Err(Error::param("tmfe", "must be a probability vector"));
        }
    }

    let (fields, pairs) = test_fields(ns, tmfe, opts);
    let mut tally = Tallies::new(opts.tol);
    let mut slots = [Evaluated::new(ns, na), Evaluated::new(ns, na)];
    let mut single_done = vec![false; fields.len()];

    for &(lo, hi) in &pairs {
        if slots[1].field == Some(lo) || slots[0].field == Some(hi) {
            slots.swap(0, 1);
        }
        for (slot, i) in slots.iter_mut().zip([lo, hi]) {
            if slot.field != Some(i) {
                slot.fill(model, i, &fields[i].z);
            }
            if !single_done[i] {
                tally.single(slot);
                single_done[i] = true;
            }
        }
        tally.pair(&slots[0], &slots[1]);
        tally.all_pairs(&slots[0], &slots[1]);
    }
    // Fields in no pair (only a T-MFE that is not ordered against point masses can be).
    for (i, field) in fields.iter().enumerate() {
        if !single_done[i] {
            slots[0].fill(model, i, &field.z);
            tally.single(&slots[0]);
        }
    }

    let conditions = Condition::ALL
        .iter()
        .map(|&c| tally.report(c, &fields))
        .collect();
    Ok(CheckReport {
        model: model.name().to_string(),
        num_states: ns,
        num_actions: na,
        tol: opts.tol,
        seed: opts.seed,
        mean_fields: fields.len(),
        pairs: pairs.len(),
        with_tmfe: tmfe.is_some(),
        conditions,
    })
}

/// A labelled test mean field.
#[derive(Debug, Clone)]
struct Field {
    label: String,
    z: Vec<f64>,
}

/// The test mean fields and the ordered pairs (indices into the fields, lo ⪯ hi).
fn test_fields(
    ns: usize,
    tmfe: Option<&[f64]>,
    opts: &CheckOptions,
) -> (Vec<Field>, Vec<(usize, usize)>) {
    let top = ns - 1;
    let mut fields: Vec<Field> = (0..ns)
        .map(|i| Field {
            label: format!("point({i})"),
            z: point_mass(ns, i),
        })
        .collect();
    let mut pairs = Vec::new();
    if ns <= ALL_POINT_PAIRS_MAX_STATES {
        for i in 0..ns {
            for j in i + 1..ns {
                pairs.push((i, j));
            }
        }
    } else {
        pairs.extend((0..top).map(|i| (i, i + 1)));
        pairs.push((0, top));
    }

    let uni = fields.len();
    fields.push(Field {
        label: "uniform".into(),
        z: uniform(ns),
    });
    pairs.push((0, uni));
    pairs.push((uni, top));

    let mut conditional = Vec::new();
    if let Some(z) = tmfe {
        let eq = fields.len();
        fields.push(Field {
            label: "tmfe".into(),
            z: z.to_vec(),
        });
        conditional.extend([(0, eq), (eq, top), (uni, eq), (eq, uni)]);
    }
    // The T-MFE is used only where it is really ordered (and once against the uniform).
    let mut against_uniform = false;
    for (lo, hi) in conditional {
        let is_uniform_pair = lo == uni || hi == uni;
        if is_uniform_pair && against_uniform {
            continue;
        }
        if stochastically_le(&fields[lo].z, &fields[hi].z, ORDER_TOL) {
            pairs.push((lo, hi));
            against_uniform |= is_uniform_pair;
        }
    }

    let mut rng = stream(opts.seed, Purpose::Check, 0, 0);
    let (mut p1, mut p2) = (vec![0.0; ns], vec![0.0; ns]);
    for k in 0..opts.random_pairs {
        random_pmf(&mut rng, &mut p1);
        random_pmf(&mut rng, &mut p2);
        let (lo, hi) = dominance_pair(&p1, &p2);
        let i = fields.len();
        fields.push(Field {
            label: format!("random#{k}/lo"),
            z: lo,
        });
        fields.push(Field {
            label: format!("random#{k}/hi"),
            z: hi,
        });
        pairs.push((i, i + 1));
    }

    for &(lo, hi) in &pairs {
        assert!(
            stochastically_le(&fields[lo].z, &fields[hi].z, ORDER_TOL),
            "test pair {} ⪯ {} is not ordered",
            fields[lo].label,
            fields[hi].label
        );
    }
    (fields, pairs)
}

/// Writes a random pmf into `out`: i.i.d. U[0,1) weights raised to a random power in
/// [1, 8), normalised. Higher powers concentrate the mass on a few states, so the draws
/// range from near-uniform to near-point-mass.
fn random_pmf(rng: &mut StreamRng, out: &mut [f64]) {
    let power: f64 = rng.random_range(1.0..8.0);
    for o in out.iter_mut() {
        *o = rng.random::<f64>().powf(power);
    }
    let sum: f64 = out.iter().sum();
    if sum > 0.0 {
        out.iter_mut().for_each(|o| *o /= sum);
    } else {
        out.fill(1.0 / out.len() as f64);
    }
}

/// The pair (lo, hi) with CDFs max(F₁, F₂) and min(F₁, F₂): lo ⪯ hi, and each is a pmf.
fn dominance_pair(p1: &[f64], p2: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = p1.len();
    let (mut lo, mut hi) = (vec![0.0; n], vec![0.0; n]);
    let (mut f1, mut f2) = (0.0, 0.0);
    let (mut prev_lo, mut prev_hi) = (0.0, 0.0);
    for s in 0..n {
        f1 += p1[s];
        f2 += p2[s];
        let (mut c_lo, mut c_hi) = (f1.max(f2).min(1.0), f1.min(f2).min(1.0));
        if s + 1 == n {
            (c_lo, c_hi) = (1.0, 1.0);
        }
        lo[s] = c_lo - prev_lo;
        hi[s] = c_hi - prev_hi;
        (prev_lo, prev_hi) = (c_lo, c_hi);
    }
    (lo, hi)
}
