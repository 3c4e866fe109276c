//! Models: the reward r(s, a, z) and the kernel P(s' | s, a, z) of a finite mean field game.
//!
//! A model is anything that implements [`Model`]. The exact operators
//! ([`crate::operator`]), the solver and the strategic-complementarity checker all read a
//! model through dense [`KernelTables`] built once per mean field z, so a user-written model
//! only has to provide [`Model::reward`] and [`Model::transition_row`] (see
//! `examples/custom_model.rs`); the built-in models override [`Model::fill_tables`] to
//! compute their mean-field statistics once per z instead of once per row.
//!
//! Conventions: states are `0..num_states()`, actions `0..num_actions()`, and a mean field
//! `z` is a probability vector of length `num_states()` (ordered: state 0 is "lowest").

mod adoption;
mod gig;
mod infection;

pub use adoption::{Adoption, AdoptionParams};
pub use gig::{Gig, GigParams};
pub use infection::{Infection, InfectionParams};

use crate::error::{Error, Result};

/// A finite-state, finite-action mean field model.
///
/// Implementations must be pure functions of their arguments (no interior randomness):
/// the exact solver and the agent engine rely on getting the same numbers for the same z.
pub trait Model: Send + Sync + std::fmt::Debug {
    /// Number of states |S| (≥ 1).
    fn num_states(&self) -> usize;
    /// Number of actions |A| (≥ 1).
    fn num_actions(&self) -> usize;
    /// One-step reward r(s, a, z).
    fn reward(&self, s: usize, a: usize, z: &[f64]) -> f64;
    /// Writes the row P(· | s, a, z) into `out` (length `num_states()`); entries are
    /// non-negative and sum to 1. The row includes regeneration (see [`Model::regen_prob`]).
    fn transition_row(&self, s: usize, a: usize, z: &[f64], out: &mut [f64]);

    /// Probability ζ that an agent leaves and is replaced at each step (default 0). Already
    /// part of [`Model::transition_row`]; exposed so simulators can count regenerations.
    fn regen_prob(&self) -> f64 {
        0.0
    }
    /// Law of the state of a newly entered agent (default: state 0). Used together with
    /// [`Model::regen_prob`].
    fn regen_pmf(&self) -> Vec<f64> {
        let mut p = vec![0.0; self.num_states()];
        p[0] = 1.0;
        p
    }
    /// Short machine name, e.g. `"infection"`.
    fn name(&self) -> &str {
        "custom"
    }

    /// Fills `tables` with r(·,·,z) and P(·|·,·,z). The default calls [`Model::reward`] and
    /// [`Model::transition_row`] for every (s, a); models override it when the mean-field
    /// statistics they need are expensive to recompute per row.
    fn fill_tables(&self, z: &[f64], tables: &mut KernelTables) {
        let (ns, na) = (self.num_states(), self.num_actions());
        tables.resize(ns, na);
        for s in 0..ns {
            for a in 0..na {
                tables.reward[s * na + a] = self.reward(s, a, z);
                let row = &mut tables.kernel[(s * na + a) * ns..(s * na + a + 1) * ns];
                self.transition_row(s, a, z, row);
            }
        }
    }
}

/// Dense reward and kernel of a model at one mean field z.
///
/// `reward[s·A + a] = r(s, a, z)` and `kernel[(s·A + a)·S + s'] = P(s' | s, a, z)`.
/// Allocated once and refilled in place by [`Model::fill_tables`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelTables {
    num_states: usize,
    num_actions: usize,
    /// r(s, a, z), row-major in (s, a).
    pub reward: Vec<f64>,
    /// P(s' | s, a, z), row-major in (s, a, s').
    pub kernel: Vec<f64>,
}

impl KernelTables {
    /// Empty tables for `num_states` × `num_actions`.
    pub fn new(num_states: usize, num_actions: usize) -> Self {
        let mut t = KernelTables::default();
        t.resize(num_states, num_actions);
        t
    }

    /// Tables of `model` at mean field `z`.
    pub fn of(model: &(impl Model + ?Sized), z: &[f64]) -> Self {
        let mut t = KernelTables::new(model.num_states(), model.num_actions());
        model.fill_tables(z, &mut t);
        t
    }

    /// Resizes (zero-filling) to `num_states` × `num_actions`; a no-op when sizes match.
    pub fn resize(&mut self, num_states: usize, num_actions: usize) {
        self.num_states = num_states;
        self.num_actions = num_actions;
        self.reward.resize(num_states * num_actions, 0.0);
        self.kernel
            .resize(num_states * num_actions * num_states, 0.0);
    }

    /// |S|.
    pub fn num_states(&self) -> usize {
        self.num_states
    }

    /// |A|.
    pub fn num_actions(&self) -> usize {
        self.num_actions
    }

    /// r(s, a, z).
    #[inline]
    pub fn r(&self, s: usize, a: usize) -> f64 {
        self.reward[s * self.num_actions + a]
    }

    /// The row P(· | s, a, z).
    #[inline]
    pub fn row(&self, s: usize, a: usize) -> &[f64] {
        let ns = self.num_states;
        let i = s * self.num_actions + a;
        &self.kernel[i * ns..(i + 1) * ns]
    }

    /// Mutable row P(· | s, a, z).
    #[inline]
    pub fn row_mut(&mut self, s: usize, a: usize) -> &mut [f64] {
        let ns = self.num_states;
        let i = s * self.num_actions + a;
        &mut self.kernel[i * ns..(i + 1) * ns]
    }
}

/// Parameters of the trembling-hand game that are not part of the model: the discount γ
/// and the tremble ε.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GameParams {
    /// Discount factor γ ∈ (0, 1). Default 0.9.
    pub gamma: f64,
    /// Tremble ε ∈ [0, 1): the greedy action gets 1 − ε, each other action ε/(|A| − 1).
    /// Default 0.1.
    pub epsilon: f64,
}

impl Default for GameParams {
    fn default() -> Self {
        GameParams {
            gamma: 0.9,
            epsilon: 0.1,
        }
    }
}

impl GameParams {
    /// Validated constructor.
    ///
    /// # Errors
    /// [`Error::Param`] when γ ∉ (0, 1) or ε ∉ [0, 1).
    pub fn try_new(gamma: f64, epsilon: f64) -> Result<Self> {
        if !(gamma > 0.0 && gamma < 1.0) {
            return Err(Error::param(
                "gamma",
                format!("must be in (0, 1), got {gamma}"),
            ));
        }
        if !(0.0..1.0).contains(&epsilon) {
            return Err(Error::param(
                "epsilon",
                format!("must be in [0, 1), got {epsilon}"),
            ));
        }
        Ok(GameParams { gamma, epsilon })
    }
}

/// Tolerance on the sum of a user-supplied pmf ([`crate::tol::PMF_SUM`], 1e-9).
pub const PMF_SUM_TOL: f64 = crate::tol::PMF_SUM;

/// Checks that `p` is a probability vector (finite, non-negative, sums to 1 within
/// [`PMF_SUM_TOL`]) and, when `len` is given, has that length.
///
/// # Errors
/// [`Error::Param`] naming `key`.
pub fn check_pmf(key: &str, p: &[f64], len: Option<usize>) -> Result<()> {
    if p.is_empty() {
        return Err(Error::param(key, "must not be empty"));
    }
    if let Some(n) = len {
        if p.len() != n {
            return Err(Error::param(
                key,
                format!("must have {n} entries (one per state), got {}", p.len()),
            ));
        }
    }
    if let Some((i, v)) = p
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || **v < 0.0 || **v > 1.0)
    {
        return Err(Error::param(
            key,
            format!("entry {i} is {v}, probabilities must be in [0, 1]"),
        ));
    }
    let sum: f64 = p.iter().sum();
    if (sum - 1.0).abs() > PMF_SUM_TOL {
        return Err(Error::param(key, format!("must sum to 1, sums to {sum}")));
    }
    Ok(())
}

/// Checks that `v` is a probability in [0, 1].
///
/// # Errors
/// [`Error::Param`] naming `key`.
pub fn check_prob(key: &str, v: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&v) {
        return Err(Error::param(key, format!("must be in [0, 1], got {v}")));
    }
    Ok(())
}

/// Checks that `v` is finite.
///
/// # Errors
/// [`Error::Param`] naming `key`.
pub fn check_finite(key: &str, v: f64) -> Result<()> {
    if !v.is_finite() {
        return Err(Error::param(key, format!("must be finite, got {v}")));
    }
    Ok(())
}

/// Checks a size parameter: 1 ≤ `v` ≤ `max`.
///
/// # Errors
/// [`Error::Param`] naming `key`.
pub fn check_size(key: &str, v: usize, max: usize) -> Result<()> {
    if v == 0 || v > max {
        return Err(Error::param(key, format!("must be in [1, {max}], got {v}")));
    }
    Ok(())
}

/// Mean state m(z) = Σ_s s·z(s).
#[inline]
pub fn mean_state(z: &[f64]) -> f64 {
    z.iter().enumerate().map(|(s, p)| s as f64 * p).sum()
}

/// The models a [`crate::scenario::Scenario`] can hold: the built-in ones, selected by
/// `kind` in a scenario's `[model]` table, or one written in code.
#[derive(Debug, Clone)]
pub enum BuiltinModel {
    /// `kind = "infection"`.
    Infection(Infection),
    /// `kind = "gig"`.
    Gig(Gig),
    /// `kind = "adoption"`.
    Adoption(Adoption),
    /// A model written outside the crate (e.g. the Python package's `CustomModel`), put in
    /// a scenario by [`crate::scenario::Scenario::with_model`].
    Custom(std::sync::Arc<dyn Model>),
}

impl BuiltinModel {
    /// The model as a trait object.
    pub fn as_model(&self) -> &dyn Model {
        match self {
            BuiltinModel::Infection(m) => m,
            BuiltinModel::Gig(m) => m,
            BuiltinModel::Adoption(m) => m,
            BuiltinModel::Custom(m) => m.as_ref(),
        }
    }
}

/// Built-in models compare by parameters; custom models by identity (the same `Arc`).
impl PartialEq for BuiltinModel {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (BuiltinModel::Infection(a), BuiltinModel::Infection(b)) => a == b,
            (BuiltinModel::Gig(a), BuiltinModel::Gig(b)) => a == b,
            (BuiltinModel::Adoption(a), BuiltinModel::Adoption(b)) => a == b,
            (BuiltinModel::Custom(a), BuiltinModel::Custom(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Shared invariant checks for any [`Model`], with tolerances in one place.
pub mod invariants {
    use super::{KernelTables, Model};

    /// Tolerance on a kernel row's sum ([`crate::tol::KERNEL_ROW_SUM`], 1e-12).
    pub const ROW_SUM_TOL: f64 = crate::tol::KERNEL_ROW_SUM;

    /// Returns a description of the first broken invariant of `model` at `z`: every kernel
    /// row is a probability vector (entries in [0, 1], sum 1 within [`ROW_SUM_TOL`]) and
    /// every reward is finite. `None` when all hold.
    pub fn check_model_at(model: &(impl Model + ?Sized), z: &[f64]) -> Option<String> {
        let t = KernelTables::of(model, z);
        for s in 0..model.num_states() {
            for a in 0..model.num_actions() {
                if !t.r(s, a).is_finite() {
                    return Some(format!("r({s},{a}) = {} is not finite", t.r(s, a)));
                }
                let row = t.row(s, a);
                if let Some(p) = row.iter().find(|p| !(0.0..=1.0).contains(*p)) {
                    return Some(format!("P(.|{s},{a}) has entry {p}"));
                }
                let sum: f64 = row.iter().sum();
                if (sum - 1.0).abs() > ROW_SUM_TOL {
                    return Some(format!("P(.|{s},{a}) sums to {sum}"));
                }
            }
        }
        None
    }
}
