//! Every numerical tolerance that more than one module (or the Python package) relies on,
//! each with its reason. Modules re-export these under their historical names
//! (`model::PMF_SUM_TOL`, `model::invariants::ROW_SUM_TOL`, `population::ROW_SUM_TOL`,
//! `population::REGEN_SPLIT_TOL`); tolerances private to one algorithm stay with it (the
//! solver's `tq_tol`, the evaluator's `EVAL_TOL`, the stationary solver's `STATIONARY_TOL`).

/// A user-supplied pmf (a scenario's `w1_pmf`, `entry_pmf`, a start z0, an initial
/// distribution) must sum to 1 within this: decimal inputs such as 0.1 + 0.2 + 0.7 are not
/// exact in binary, and 1e-9 is far above such rounding (n·2⁻⁵³) and far below any real
/// mistake. 1e-9.
pub const PMF_SUM: f64 = 1e-9;

/// A model's kernel row P(·|s, a, z) must sum to 1 within this (the `Model` contract,
/// checked by `model::invariants`): the bundled models build each row from a handful of
/// products, whose rounding is ~|S|·2⁻⁵³. 1e-12.
pub const KERNEL_ROW_SUM: f64 = 1e-12;

/// The agent engine's sampler accepts a policy row μ(s, ·) or a kernel row within this of
/// summing to 1 (looser than [`KERNEL_ROW_SUM`]: it also takes strategies read from files
/// and user callbacks, e.g. the Python package's `CustomModel`, whose rows it renormalises
/// when they are off by more than [`KERNEL_ROW_SUM`]). 1e-9.
pub const SAMPLER_ROW_SUM: f64 = 1e-9;

/// How far below ζ·w(s′) an entry P(s′|s, a, z) may be: the `stay` part P − ζ·w is clamped
/// at 0 when it is in [−this, 0) (rounding in the model's row); lower, the row does not
/// contain the regeneration part the `Model` contract promises. 1e-9.
pub const REGEN_SPLIT: f64 = 1e-9;

/// A policy counts as a trembling-hand strategy (1 − ε on one action, ε/(|A| − 1) on each
/// other) when every entry is within this of that shape; anything else is reported as
/// mixed. 1e-12.
pub const TREMBLING_SHAPE: f64 = 1e-12;
