//! Per-agent actions: per-(s, a) alias rows over (s′, regenerated) and their chunk kernel.
//!
//! # Formula
//! ```text
//! a_i             given (agent i's own choice, e.g. from its Q-table)
//! P(s' | s, a, z) the model row (includes regeneration), ζ, w(s') as in super::step
//!
//! law of one agent in state s playing a:
//!   P(s', regenerated = 1 | s, a) = ζ·w(s')
//!   P(s', regenerated = 0 | s, a) = max(P(s' | s, a, z) − ζ·w(s'), 0)
//! ```
//! This is the shared step's joint law conditioned on the action: the same split, the same
//! clamp ([`super::REGEN_SPLIT_TOL`]), one alias row per (s, a) at index s·|A| + a instead of
//! one per s. A step is then one u64 draw and two table loads per agent, as in the shared
//! case, and the action byte written is `pack_action(a_i, regenerated)` as there.
//!
//! With a one-hot strategy on a* the shared sampler's row s holds the very weights of this
//! sampler's row (s, a*) (μ = 1 multiplies exactly), so a per-agent step where every agent
//! plays a* is bitwise the shared step under that strategy (tested in `super`).

use super::alias::{AliasRows, Outcome};
use super::step::{check_kernel_row, push_split_row, row_error, validate_regen, validate_sizes};
use super::{StateCode, CHUNK};
use crate::error::{Error, Result};
use crate::model::KernelTables;
use crate::rng::StreamRng;
use rand::Rng;
use rayon::prelude::*;

/// The per-(state, action) alias tables of one step with per-agent actions: row s·|A| + a is
/// the law of (s′, regenerated) for an agent in state s playing a, under P(·|·,·,z).
/// Allocated once, rebuilt in place by [`ActionSampler::try_rebuild`] at every such step.
#[derive(Debug, Clone, Default)]
pub struct ActionSampler<T: StateCode = u8> {
    rows: AliasRows<T>,
    num_states: usize,
    num_actions: usize,
}

impl<T: StateCode> ActionSampler<T> {
    /// An empty sampler (no rows); call [`ActionSampler::try_rebuild`] before sampling.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of states the tables cover (0 when empty).
    pub fn num_states(&self) -> usize {
        self.num_states
    }

    /// Number of actions the tables cover (0 when empty).
    pub fn num_actions(&self) -> usize {
        self.num_actions
    }

    /// Number of outcomes (s′, regenerated) of positive probability from `(s, a)`.
    ///
    /// # Panics
    /// When `s ≥ num_states()` or `a ≥ num_actions()`.
    pub fn num_outcomes(&self, s: usize, a: usize) -> usize {
        assert!(
            s < self.num_states && a < self.num_actions,
            "({s}, {a}) out of range"
        );
        self.rows.row_len(s * self.num_actions + a)
    }

    /// Rebuilds the tables for kernel `tables` (at the step's mean field) and the
    /// regeneration law (`regen_prob` ζ, `regen_pmf` w): |S|·|A| rows of at most 2·|S|
    /// outcomes, O(|S|²·|A|), no allocation once the sizes have been seen.
    ///
    /// # Errors
    /// [`Error::Param`] (key `model`, `regen_prob` or `regen_pmf`) when |S| exceeds what `T`
    /// holds or |A| > [`crate::transition::MAX_ACTIONS`], when a kernel row is not a
    /// probability vector (within [`super::ROW_SUM_TOL`]), when ζ ∉ [0, 1] or w is not a pmf,
    /// or when some P(s′|s,a,z) < ζ·w(s′) − [`super::REGEN_SPLIT_TOL`]. On error the sampler
    /// is empty.
    pub fn try_rebuild(
        &mut self,
        tables: &KernelTables,
        regen_prob: f64,
        regen_pmf: &[f64],
    ) -> Result<()> {
        self.rows.clear();
        (self.num_states, self.num_actions) = (0, 0);
        let built = self.fill(tables, regen_prob, regen_pmf);
        match built {
            Ok(()) => {
                (self.num_states, self.num_actions) = (tables.num_states(), tables.num_actions())
            }
            Err(_) => self.rows.clear(),
        }
        built
    }

    /// The body of [`ActionSampler::try_rebuild`], on cleared rows.
    fn fill(&mut self, tables: &KernelTables, regen_prob: f64, regen_pmf: &[f64]) -> Result<()> {
        let (ns, na) = (tables.num_states(), tables.num_actions());
        validate_sizes::<T>(ns, na)?;
        validate_regen(ns, regen_prob, regen_pmf)?;
        for s in 0..ns {
            for a in 0..na {
                let row = tables.row(s, a);
                check_kernel_row(s, a, row, regen_prob, regen_pmf)?;
                push_split_row(&mut self.rows, a, row, 1.0, regen_prob, regen_pmf);
                self.rows
                    .finish_row()
                    .map_err(|e| row_error(&format!("state {s}, action {a}"), e))?;
            }
        }
        Ok(())
    }

    /// The outcome for an agent in state `s` playing `a`, for the uniform draw `x`.
    ///
    /// Trusts `a < num_actions()` (checked once per step by the population): a larger `a`
    /// reads the row of another (state, action) pair, or panics past the last row. Debug
    /// builds assert it.
    ///
    /// # Panics
    /// When `s·|A| + a` is past the last row.
    #[inline(always)]
    pub fn sample_unchecked(&self, s: T, a: u8, x: u64) -> Outcome<T> {
        debug_assert!(usize::from(a) < self.num_actions, "action {a} out of range");
        self.rows
            .sample(s.index() * self.num_actions + usize::from(a), x)
    }

    /// The exact law of [`ActionSampler::sample_unchecked`] from `(s, a)` (tests only).
    #[cfg(test)]
    pub(crate) fn implied_law(&self, s: usize, a: usize) -> Vec<(Outcome<T>, f64)> {
        self.rows.implied_law(s * self.num_actions + a)
    }
}

/// Checks a per-agent action column once per step: `given.len() == num_agents` and every
/// entry `< num_actions`. One pass, chunks of [`CHUNK`] in parallel on the current rayon
/// pool (a max-reduction the compiler vectorises); the slow search for the first bad entry
/// runs only on failure.
///
/// # Errors
/// [`Error::Param`] (key `actions`) naming the length or the first bad agent.
pub fn check_actions(given: &[u8], num_agents: usize, num_actions: usize) -> Result<()> {
    if given.len() != num_agents {
        return Err(Error::param(
            "actions",
            format!(
                "has {} entries, the population has {num_agents} agents",
                given.len()
            ),
        ));
    }
    let max = given
        .par_chunks(CHUNK)
        .map(|c| c.iter().copied().max().unwrap_or(0))
        .max()
        .unwrap_or(0);
    if usize::from(max) < num_actions {
        return Ok(());
    }
    let (i, a) = given
        .iter()
        .enumerate()
        .find(|(_, a)| usize::from(**a) >= num_actions)
        .expect("some entry is at least the maximum");
    Err(Error::param(
        "actions",
        format!("agent {i} plays action {a}, the model has {num_actions} actions"),
    ))
}

/// Steps one chunk of agents that choose their own actions: agent i in state `prev[i]`
/// playing `given[i]` draws (s′, regenerated) with one u64 from `rng` (agents in order),
/// writes s′ to `next[i]` and `pack_action(given[i], regenerated)` to `actions[i]`, and
/// counts s′ in `hist` (zeroed first). Returns the number of regenerated agents.
///
/// The twin of [`super::step_chunk`]: no allocation, no lock, one draw per agent. It trusts
/// its inputs (states `< sampler.num_states()`, actions `< sampler.num_actions()`, see
/// [`check_actions`]) and checks only the slice lengths, once.
///
/// # Panics
/// When the four columns differ in length or `hist` is shorter than
/// `T::hist_len(sampler.num_states())`.
pub fn step_chunk_given<T: StateCode>(
    sampler: &ActionSampler<T>,
    prev: &[T],
    given: &[u8],
    next: &mut [T],
    actions: &mut [u8],
    hist: &mut [u32],
    rng: &mut StreamRng,
) -> u64 {
    assert_eq!(prev.len(), next.len(), "state columns differ in length");
    assert_eq!(prev.len(), given.len(), "given action column length");
    assert_eq!(prev.len(), actions.len(), "action column length");
    assert!(
        prev.len() <= u32::MAX as usize,
        "chunk too long for u32 counts"
    );
    let hist = &mut hist[..T::hist_len(sampler.num_states())];
    hist.fill(0);
    let mut r = rng.clone();
    let mut regenerated = 0u64;
    for (((s, a), s_next), act) in prev
        .iter()
        .zip(given)
        .zip(next.iter_mut())
        .zip(actions.iter_mut())
    {
        let o = sampler.sample_unchecked(*s, *a, r.next_u64());
        *s_next = o.next;
        *act = o.action;
        hist[o.next.index()] += 1;
        regenerated += u64::from(o.action >> 7);
    }
    *rng = r;
    regenerated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Infection, Model};
    use crate::transition::{is_regenerated, unpack_action};

    #[test]
    fn rows_reproduce_the_split_kernel() {
        let m = Infection::default();
        let z: Vec<f64> = (0..25).map(|s| (s as f64 + 1.0) / 325.0).collect();
        let t = KernelTables::of(&m, &z);
        let (zeta, w) = (m.regen_prob(), m.regen_pmf());
        let mut sampler = ActionSampler::<u8>::new();
        sampler.try_rebuild(&t, zeta, &w).unwrap();
        assert_eq!((sampler.num_states(), sampler.num_actions()), (25, 5));
        for s in 0..25 {
            for a in 0..5 {
                let law = sampler.implied_law(s, a);
                assert_eq!(law.len(), sampler.num_outcomes(s, a));
                let mut marginal = [0.0; 25];
                for (o, p) in &law {
                    assert_eq!(unpack_action(o.action), a);
                    let next = o.next as usize;
                    let target = if is_regenerated(o.action) {
                        zeta * w[next]
                    } else {
                        (t.row(s, a)[next] - zeta * w[next]).max(0.0)
                    };
                    assert!(target > 0.0, "impossible outcome {o:?} from ({s}, {a})");
                    assert!(
                        (p - target).abs() < 1e-7,
                        "({s},{a}) {o:?}: {p} vs {target}"
                    );
                    marginal[next] += p;
                }
                // Summing out the flag gives the model's row.
                for (next, (p, q)) in marginal.iter().zip(t.row(s, a)).enumerate() {
                    assert!((p - q).abs() < 1e-7, "P({next}|{s},{a}): {p} vs {q}");
                }
            }
        }
    }

    #[test]
    fn failed_rebuild_leaves_an_empty_sampler_and_no_residue() {
        let m = Infection::default();
        let good = KernelTables::of(&m, &crate::space::uniform(25));
        let (zeta, w) = (m.regen_prob(), m.regen_pmf());
        let mut fresh = ActionSampler::<u8>::new();
        fresh.try_rebuild(&good, zeta, &w).unwrap();
        // A bad row late in the table, after many rows (and pushed weights) were built.
        let mut bad = good.clone();
        bad.row_mut(20, 3)[0] += 0.5;
        let mut s = ActionSampler::<u8>::new();
        let e = s.try_rebuild(&bad, zeta, &w).unwrap_err();
        assert!(e.to_string().contains("P(.|20,3)"), "{e}");
        assert_eq!((s.num_states(), s.num_actions()), (0, 0));
        s.try_rebuild(&good, zeta, &w).unwrap();
        for (st, a) in [(0, 0), (7, 2), (24, 4)] {
            assert_eq!(s.implied_law(st, a), fresh.implied_law(st, a));
        }
        let e = s.try_rebuild(&good, 1.5, &w).unwrap_err();
        assert!(e.to_string().contains("regen_prob"), "{e}");
    }

    #[test]
    fn check_actions_names_length_and_first_bad_agent() {
        let ok = vec![4u8; 3 * CHUNK + 5];
        check_actions(&ok, ok.len(), 5).unwrap();
        let e = check_actions(&ok, ok.len() + 1, 5).unwrap_err();
        assert!(
            matches!(&e, Error::Param { key, .. } if key == "actions"),
            "{e}"
        );
        let mut bad = ok.clone();
        bad[2 * CHUNK + 3] = 5;
        bad[2 * CHUNK + 4] = 200;
        let e = check_actions(&bad, bad.len(), 5).unwrap_err();
        assert!(
            matches!(&e, Error::Param { key, .. } if key == "actions"),
            "{e}"
        );
        assert!(
            e.to_string().contains(&format!("agent {}", 2 * CHUNK + 3)),
            "{e}"
        );
    }

    #[test]
    #[should_panic(expected = "given action column length")]
    fn kernel_checks_column_lengths() {
        let m = Infection::default();
        let t = KernelTables::of(&m, &crate::space::uniform(25));
        let mut sampler = ActionSampler::<u8>::new();
        sampler
            .try_rebuild(&t, m.regen_prob(), &m.regen_pmf())
            .unwrap();
        let mut rng = crate::rng::stream(0, crate::rng::Purpose::Step, 0, 0);
        let (mut next, mut act, mut hist) = (vec![0u8; 4], vec![0u8; 4], vec![0u32; 256]);
        step_chunk_given(
            &sampler, &[0u8; 4], &[0u8; 3], &mut next, &mut act, &mut hist, &mut rng,
        );
    }
}
