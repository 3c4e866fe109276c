//! The step kernel: per-state joint alias tables over (a, s′, regenerated) and the chunk loop.
//!
//! # Formula
//! ```text
//! μ(s, a)      the strategy            P(s' | s, a, z)  the model row (includes regeneration)
//! ζ, w(s')     regeneration probability and entry law (Model::regen_prob / regen_pmf)
//!
//! P(s' | s, a, z) = ζ·w(s')  +  (P(s' | s, a, z) − ζ·w(s'))
//!                   regenerated  stayed (clamped at 0, see REGEN_SPLIT_TOL)
//!
//! joint law of one agent in state s:
//!   P(a, s', regenerated = 1 | s) = μ(s, a) · ζ·w(s')
//!   P(a, s', regenerated = 0 | s) = μ(s, a) · max(P(s' | s, a, z) − ζ·w(s'), 0)
//! ```
//! One alias table per state over the (up to 2·|A|·|S|) outcomes of positive probability
//! turns a step into one u64 draw and two table loads per agent
//! ([`super::alias`] gives the sampling law).

use super::alias::{AliasRows, Outcome, RowError};
use super::StateCode;
use crate::error::{Error, Result};
use crate::model::{check_pmf, KernelTables};
use crate::rng::StreamRng;
use crate::space::Policy;
use crate::transition::{pack_action, ACTION_MASK, MAX_ACTIONS};
use rand::Rng;

/// How far below ζ·w(s′) an entry P(s′|s,a,z) may be before the model is rejected: the
/// `stay` part P − ζ·w is clamped at 0 when it is in [−`REGEN_SPLIT_TOL`, 0) (rounding in
/// the model's row), and the step fails when it is lower (the row does not contain the
/// regeneration part the [`crate::Model`] contract promises).
pub const REGEN_SPLIT_TOL: f64 = crate::tol::REGEN_SPLIT;

/// Tolerance on the sum of a policy row μ(s, ·) and of a kernel row P(· | s, a, z)
/// ([`crate::tol::SAMPLER_ROW_SUM`], 1e-9).
pub const ROW_SUM_TOL: f64 = crate::tol::SAMPLER_ROW_SUM;

/// The joint alias tables of one step: for each state s, the law of (a, s′, regenerated)
/// under μ and P(·|·,·,z). Allocated once, rebuilt in place by
/// [`StepSampler::try_rebuild`] at every step.
#[derive(Debug, Clone, Default)]
pub struct StepSampler<T: StateCode = u8> {
    rows: AliasRows<T>,
    num_actions: usize,
}

impl<T: StateCode> StepSampler<T> {
    /// An empty sampler (no states); call [`StepSampler::try_rebuild`] before sampling.
    pub fn new() -> Self {
        StepSampler {
            rows: AliasRows::default(),
            num_actions: 0,
        }
    }

    /// Number of states the tables cover.
    pub fn num_states(&self) -> usize {
        self.rows.num_rows()
    }

    /// Number of actions of the policy the tables were built from.
    pub fn num_actions(&self) -> usize {
        self.num_actions
    }

    /// Number of outcomes (a, s′, regenerated) of positive probability from state `s`.
    ///
    /// # Panics
    /// When `s ≥ num_states()`.
    pub fn num_outcomes(&self, s: usize) -> usize {
        self.rows.row_len(s)
    }

    /// Rebuilds the tables for strategy `policy`, kernel and rewards `tables` (at the step's
    /// mean field), and the regeneration law (`regen_prob` ζ, `regen_pmf` w). O(|S|²·|A|).
    ///
    /// # Errors
    /// [`Error::Param`] (key `policy`, `model` or `regen_pmf`) when the sizes disagree, when
    /// |S| exceeds what `T` holds or |A| > [`MAX_ACTIONS`], when a policy or kernel row is
    /// not a probability vector (within [`ROW_SUM_TOL`]), when ζ ∉ [0, 1] or w is not a pmf,
    /// or when some P(s′|s,a,z) < ζ·w(s′) − [`REGEN_SPLIT_TOL`]. On error the sampler is
    /// empty.
    pub fn try_rebuild(
        &mut self,
        tables: &KernelTables,
        policy: &Policy,
        regen_prob: f64,
        regen_pmf: &[f64],
    ) -> Result<()> {
        self.rows.clear();
        self.num_actions = 0;
        let built = self.fill(tables, policy, regen_prob, regen_pmf);
        match built {
            Ok(()) => self.num_actions = tables.num_actions(),
            // A failure mid-row leaves pushed weights and earlier rows behind.
            Err(_) => self.rows.clear(),
        }
        built
    }

    /// The body of [`StepSampler::try_rebuild`], on cleared rows.
    fn fill(
        &mut self,
        tables: &KernelTables,
        policy: &Policy,
        regen_prob: f64,
        regen_pmf: &[f64],
    ) -> Result<()> {
        let (ns, na) = (tables.num_states(), tables.num_actions());
        validate_inputs::<T>(ns, na, policy, regen_prob, regen_pmf)?;
        for s in 0..ns {
            for (a, &mu) in policy.row(s).iter().enumerate() {
                let row = tables.row(s, a);
                check_kernel_row(s, a, row, regen_prob, regen_pmf)?;
                if mu == 0.0 {
                    continue;
                }
                push_split_row(&mut self.rows, a, row, mu, regen_prob, regen_pmf);
            }
            self.rows
                .finish_row()
                .map_err(|e| row_error(&format!("state {s}"), e))?;
        }
        Ok(())
    }

    /// The outcome for an agent in state `s` and the uniform draw `x`.
    ///
    /// # Panics
    /// When `s ≥ num_states()`.
    #[inline(always)]
    pub fn sample(&self, s: T, x: u64) -> Outcome<T> {
        self.rows.sample(s.index(), x)
    }

    /// The exact law of [`StepSampler::sample`] from state `s` (tests only).
    #[cfg(test)]
    pub(crate) fn implied_law(&self, s: usize) -> Vec<(Outcome<T>, f64)> {
        self.rows.implied_law(s)
    }
}

/// Pushes the split outcomes of one kernel row P(·|s,a,z) onto the row being built, each
/// weighted by `mu`: (s′, stayed) with weight μ·max(P(s′) − ζ·w(s′), 0) and (s′, regenerated)
/// with weight μ·ζ·w(s′). Zero weights are dropped by [`AliasRows::push_weight`].
#[inline]
pub(super) fn push_split_row<T: StateCode>(
    rows: &mut AliasRows<T>,
    a: usize,
    row: &[f64],
    mu: f64,
    regen_prob: f64,
    regen_pmf: &[f64],
) {
    for (next, (&p, &w)) in row.iter().zip(regen_pmf).enumerate() {
        let regen = regen_prob * w;
        let stay = (p - regen).max(0.0);
        let next = T::from_index(next);
        rows.push_weight(
            Outcome {
                next,
                action: pack_action(a, false),
            },
            mu * stay,
        );
        rows.push_weight(
            Outcome {
                next,
                action: pack_action(a, true),
            },
            mu * regen,
        );
    }
}

/// The error of a row that could not be built; `which` names the row (`state 3`).
pub(super) fn row_error(which: &str, e: RowError) -> Error {
    match e {
        RowError::BadTotal(t) => Error::param(
            "model",
            format!("{which}: outcomes have total probability {t}"),
        ),
        RowError::TooLarge => Error::param(
            "model",
            "too many (state, action, next state) outcomes for the step tables",
        ),
    }
}

/// Size and law checks shared by every rebuild.
pub(crate) fn validate_inputs<T: StateCode>(
    ns: usize,
    na: usize,
    policy: &Policy,
    regen_prob: f64,
    regen_pmf: &[f64],
) -> Result<()> {
    validate_sizes::<T>(ns, na)?;
    validate_policy(ns, na, policy)?;
    validate_regen(ns, regen_prob, regen_pmf)
}

/// |S| fits the state column and |A| the action byte.
pub(super) fn validate_sizes<T: StateCode>(ns: usize, na: usize) -> Result<()> {
    if ns == 0 || ns > T::MAX_STATES {
        return Err(Error::param(
            "model",
            format!(
                "{ns} states do not fit the population's {}-byte state column (1..={})",
                std::mem::size_of::<T>(),
                T::MAX_STATES
            ),
        ));
    }
    if na == 0 || na > MAX_ACTIONS {
        return Err(Error::param(
            "model",
            format!("{na} actions: the agent engine supports 1..={MAX_ACTIONS}"),
        ));
    }
    Ok(())
}

/// The policy is |S|×|A| with rows on the simplex (within [`ROW_SUM_TOL`]).
fn validate_policy(ns: usize, na: usize, policy: &Policy) -> Result<()> {
    if policy.num_states() != ns || policy.num_actions() != na {
        return Err(Error::param(
            "policy",
            format!(
                "is {}×{} (states × actions), the model is {ns}×{na}",
                policy.num_states(),
                policy.num_actions()
            ),
        ));
    }
    for s in 0..ns {
        let row = policy.row(s);
        let sum: f64 = row.iter().sum();
        if row.iter().any(|p| !(0.0..=1.0).contains(p)) || (sum - 1.0).abs() > ROW_SUM_TOL {
            return Err(Error::param(
                "policy",
                format!("row {s} is not a probability vector: {row:?}"),
            ));
        }
    }
    Ok(())
}

/// ζ ∈ [0, 1] and w is a pmf on the states.
pub(super) fn validate_regen(ns: usize, regen_prob: f64, regen_pmf: &[f64]) -> Result<()> {
    if !(0.0..=1.0).contains(&regen_prob) {
        return Err(Error::param(
            "regen_prob",
            format!("must be in [0, 1], got {regen_prob}"),
        ));
    }
    check_pmf("regen_pmf", regen_pmf, Some(ns))
}

/// Checks that P(·|s,a,z) is a probability vector containing ζ·w.
pub(crate) fn check_kernel_row(
    s: usize,
    a: usize,
    row: &[f64],
    zeta: f64,
    w: &[f64],
) -> Result<()> {
    let sum: f64 = row.iter().sum();
    if row.iter().any(|p| !(0.0..=1.0).contains(p)) || (sum - 1.0).abs() > ROW_SUM_TOL {
        return Err(Error::param(
            "model",
            format!("P(.|{s},{a}) is not a probability vector (sums to {sum})"),
        ));
    }
    if let Some((next, (p, w))) = row
        .iter()
        .zip(w)
        .enumerate()
        .find(|(_, (p, w))| **p < zeta * **w - REGEN_SPLIT_TOL)
    {
        return Err(Error::param(
            "model",
            format!(
                "P({next}|{s},{a}) = {p} is below ζ·w({next}) = {}: the row must include \
                 regeneration",
                zeta * w
            ),
        ));
    }
    Ok(())
}

/// Steps one chunk of agents: agent i in state `prev[i]` draws its outcome with one u64 from
/// `rng` (agents in order), writes s′ to `next[i]` and the packed action to `actions[i]`,
/// and counts s′ in `hist` (zeroed first). Returns the number of regenerated agents.
///
/// This is the whole per-agent work of a step; it trusts its inputs (every state is
/// `< sampler.num_states()`), checks only the slice lengths, once.
///
/// # Panics
/// When the three columns differ in length or `hist` is shorter than
/// `T::hist_len(sampler.num_states())`. A state outside the sampler also panics (a broken
/// invariant: states only come from the population's own tables).
pub fn step_chunk<T: StateCode>(
    sampler: &StepSampler<T>,
    prev: &[T],
    next: &mut [T],
    actions: &mut [u8],
    hist: &mut [u32],
    rng: &mut StreamRng,
) -> u64 {
    assert_eq!(prev.len(), next.len(), "state columns differ in length");
    assert_eq!(prev.len(), actions.len(), "action column length");
    assert!(
        prev.len() <= u32::MAX as usize,
        "chunk too long for u32 counts"
    );
    let hist = &mut hist[..T::hist_len(sampler.num_states())];
    hist.fill(0);
    // A local copy keeps the generator in registers across the stores below.
    let mut r = rng.clone();
    let mut regenerated = 0u64;
    for ((s, s_next), act) in prev.iter().zip(next.iter_mut()).zip(actions.iter_mut()) {
        let o = sampler.sample(*s, r.next_u64());
        *s_next = o.next;
        *act = o.action;
        hist[o.next.index()] += 1;
        regenerated += u64::from(o.action >> 7);
    }
    *rng = r;
    regenerated
}

/// [`step_chunk`] that also counts the chunk's transitions: `counts[(s·|A| + a)·|S| + s′]`
/// (zeroed first) is the number of agents that went from s with action a to s′ (regenerated
/// or not), for `na` = |A| actions. One extra increment per agent into a dense array of
/// |S|²·|A| u32 (at most [`super::MAX_DENSE_COUNTS`] entries, so it stays in L1/L2); a chunk
/// has at most 2^32 − 1 agents, so no count overflows. The draws and the columns are those
/// of [`step_chunk`], bit for bit.
///
/// # Panics
/// As [`step_chunk`], and when `counts` is shorter than |S|²·`na`.
pub fn step_chunk_counting<T: StateCode>(
    sampler: &StepSampler<T>,
    prev: &[T],
    next: &mut [T],
    actions: &mut [u8],
    hist: &mut [u32],
    counts: &mut [u32],
    rng: &mut StreamRng,
) -> u64 {
    assert_eq!(prev.len(), next.len(), "state columns differ in length");
    assert_eq!(prev.len(), actions.len(), "action column length");
    assert!(
        prev.len() <= u32::MAX as usize,
        "chunk too long for u32 counts"
    );
    let ns = sampler.num_states();
    let na = sampler.num_actions();
    let hist = &mut hist[..T::hist_len(ns)];
    hist.fill(0);
    let counts = &mut counts[..ns * na * ns];
    counts.fill(0);
    let mut r = rng.clone();
    let mut regenerated = 0u64;
    for ((s, s_next), act) in prev.iter().zip(next.iter_mut()).zip(actions.iter_mut()) {
        let o = sampler.sample(*s, r.next_u64());
        *s_next = o.next;
        *act = o.action;
        let j = o.next.index();
        hist[j] += 1;
        let a = usize::from(o.action & ACTION_MASK);
        counts[(s.index() * na + a) * ns + j] += 1;
        regenerated += u64::from(o.action >> 7);
    }
    *rng = r;
    regenerated
}

/// Draws every state of `states` i.i.d. from row 0 of `init`, one u64 each, and counts them
/// in `hist` (zeroed first).
pub(crate) fn init_chunk<T: StateCode>(
    init: &AliasRows<T>,
    states: &mut [T],
    hist: &mut [u32],
    rng: &mut StreamRng,
) {
    hist.fill(0);
    let mut r = rng.clone();
    for s in states.iter_mut() {
        *s = init.sample(0, r.next_u64()).next;
        hist[s.index()] += 1;
    }
    *rng = r;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Infection, Model};
    use crate::space::uniform;
    use crate::transition::{is_regenerated, unpack_action};

    #[test]
    fn joint_tables_reproduce_the_split_kernel() {
        let m = Infection::default();
        let z: Vec<f64> = (0..25).map(|s| (s as f64 + 1.0) / 325.0).collect();
        let t = KernelTables::of(&m, &z);
        let mut policy = Policy::uniform(25, 5);
        for s in 0..25 {
            let row = &mut policy.probs_mut()[s * 5..(s + 1) * 5];
            row.copy_from_slice(&[0.5, 0.2, 0.0, 0.1, 0.2]);
        }
        let w = m.regen_pmf();
        let zeta = m.regen_prob();
        let mut sampler = StepSampler::<u8>::new();
        sampler.try_rebuild(&t, &policy, zeta, &w).unwrap();
        for s in 0..25 {
            let law = sampler.implied_law(s);
            let mut total = 0.0;
            for (o, p) in &law {
                let (a, next, g) = (
                    unpack_action(o.action),
                    o.next as usize,
                    is_regenerated(o.action),
                );
                let mu = policy.get(s, a);
                let target = if g {
                    mu * zeta * w[next]
                } else {
                    mu * (t.row(s, a)[next] - zeta * w[next]).max(0.0)
                };
                assert!(target > 0.0, "impossible outcome {o:?} from {s}");
                assert!((p - target).abs() < 1e-7, "s={s} {o:?}: {p} vs {target}");
                total += p;
            }
            assert!((total - 1.0).abs() < 1e-12);
            // Action 2 has μ = 0: never drawn.
            assert!(law.iter().all(|(o, _)| unpack_action(o.action) != 2));
        }
    }

    #[test]
    fn rejects_inconsistent_inputs() {
        let m = Infection::default();
        let t = KernelTables::of(&m, &uniform(25));
        let w = m.regen_pmf();
        let mut sampler = StepSampler::<u8>::new();
        let e = sampler
            .try_rebuild(&t, &Policy::uniform(25, 4), 0.05, &w)
            .unwrap_err();
        assert!(e.to_string().contains("policy"), "{e}");
        let mut bad = Policy::uniform(25, 5);
        bad.probs_mut()[7] = 0.9;
        let e = sampler.try_rebuild(&t, &bad, 0.05, &w).unwrap_err();
        assert!(e.to_string().contains("row 1"), "{e}");
        // Claiming more regeneration than the rows contain.
        let e = sampler
            .try_rebuild(&t, &Policy::uniform(25, 5), 0.5, &w)
            .unwrap_err();
        assert!(e.to_string().contains("include"), "{e}");
        assert_eq!(sampler.num_states(), 0);
        sampler
            .try_rebuild(&t, &Policy::uniform(25, 5), 0.05, &w)
            .unwrap();
        assert_eq!(sampler.num_states(), 25);
    }

    #[test]
    fn failed_rebuild_leaves_an_empty_sampler_and_no_residue() {
        // A bad row for (state 3, action 2), reached after weights of (3, 0) and (3, 1) were
        // pushed: the next rebuild must not inherit them.
        let m = Infection::default();
        let good = KernelTables::of(&m, &uniform(25));
        let (zeta, w) = (m.regen_prob(), m.regen_pmf());
        let policy = Policy::uniform(25, 5);
        let mut fresh = StepSampler::<u8>::new();
        fresh.try_rebuild(&good, &policy, zeta, &w).unwrap();
        let mut bad = good.clone();
        bad.row_mut(3, 2)[0] += 0.5;
        let mut sampler = StepSampler::<u8>::new();
        let e = sampler.try_rebuild(&bad, &policy, zeta, &w).unwrap_err();
        assert!(e.to_string().contains("P(.|3,2)"), "{e}");
        assert_eq!((sampler.num_states(), sampler.num_actions()), (0, 0));
        sampler.try_rebuild(&good, &policy, zeta, &w).unwrap();
        for s in 0..25 {
            assert_eq!(sampler.implied_law(s), fresh.implied_law(s), "state {s}");
        }
    }

    #[test]
    fn clamps_tiny_negative_stay_parts() {
        // A 2-state model whose rows fall short of ζ·w by rounding noise.
        let mut t = KernelTables::new(2, 1);
        let (zeta, w) = (0.5, [0.5, 0.5]);
        t.row_mut(0, 0)
            .copy_from_slice(&[0.75 + 1e-12, 0.25 - 1e-12]);
        t.row_mut(1, 0)
            .copy_from_slice(&[0.25 - 1e-12, 0.75 + 1e-12]);
        let mut sampler = StepSampler::<u8>::new();
        sampler
            .try_rebuild(&t, &Policy::uniform(2, 1), zeta, &w)
            .unwrap();
        // Stay at the short state has weight 0 (clamped): 2 regen + 1 stay outcomes.
        assert_eq!(sampler.num_outcomes(0), 3);
        assert_eq!(sampler.num_outcomes(1), 3);
        // ζ = 1: rows equal w, every outcome is a regeneration.
        t.row_mut(0, 0).copy_from_slice(&w);
        t.row_mut(1, 0).copy_from_slice(&w);
        sampler
            .try_rebuild(&t, &Policy::uniform(2, 1), 1.0, &w)
            .unwrap();
        for s in 0..2 {
            let law = sampler.implied_law(s);
            assert_eq!(law.len(), 2);
            assert!(law.iter().all(|(o, _)| is_regenerated(o.action)));
        }
    }
}
