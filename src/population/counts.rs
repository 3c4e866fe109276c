//! The exact count-level engine: N exchangeable agents stored as |S| counts.
//!
//! Agents that carry only their state are exchangeable, so the law of the next histogram
//! depends on the current histogram alone. One step of N agents under μ at the empirical
//! mean field z^N = n/N is, exactly in distribution:
//!
//! # Formula
//! ```text
//! for each state s with n(s) > 0:
//!     (n(s,a))_a              ~ Multinomial( n(s),   μ(s, ·) )
//!     for each action a with n(s,a) > 0:
//!         (m(s,a,s′,g))_{s′,g} ~ Multinomial( n(s,a), q(s,a,·,·) )
//! q(s,a,s′,1) = ζ·w(s′)                              (regenerated into s′)
//! q(s,a,s′,0) = max(P(s′|s,a,z^N) − ζ·w(s′), 0)       (moved to s′ by the dynamics)
//! n′(s′) = Σ_{s,a,g} m(s,a,s′,g)
//! ```
//! the same kernel rows, the same split into regenerated and ordinary moves, and the same
//! checks as the agent engine ([`super::StepSampler`]). A multinomial is drawn as a chain of
//! conditional binomials, x_i ~ Binomial(n − Σ_{j<i} x_j, q_i / Σ_{j≥i} q_j) (exact BTPE /
//! inversion samplers from `rand_distr`), or unit by unit when n is small, so a step costs at
//! most O(|S|²·|A|) draws whatever N is: N = 10¹² costs what N = 10⁴ does (≈ 0.5 ms for the
//! default infection model, `cargo bench --bench counts`). N is a `u64`.
//!
//! The flows m(s, a, s′) = Σ_g m(s, a, s′, g) of the last step are kept ([`CountPopulation::flows`]):
//! they are the step's transitions as a histogram, which is all a learner can use of them,
//! since agents are exchangeable ([`CountPopulation::transition_sample`]).
//!
//! Random streams: the initial draw uses `(seed, Init, 0, COUNT_STREAM)`, step k uses
//! `(seed, Step, k, COUNT_STREAM)`; one stream per step, consumed in state order, so results
//! never depend on threads.
//!
//! # Example
//! ```
//! use mfgsim::model::{Infection, Model};
//! use mfgsim::population::CountPopulation;
//! use mfgsim::space::{uniform, Policy};
//!
//! let model = Infection::default();
//! let policy = Policy::uniform(model.num_states(), model.num_actions());
//! let n = 1_000_000_000_000; // 10¹² agents, a few microseconds per step
//! let mut pop = CountPopulation::try_new(25, n, &uniform(25), 1)?;
//! for k in 0..5 {
//!     pop.step(&model, &policy, k, 1)?;
//!     assert_eq!(pop.counts().iter().sum::<u64>(), n);
//! }
//! # Ok::<(), mfgsim::Error>(())
//! ```

use rand::RngExt;
use rand_distr::{Binomial, Distribution};

use super::step::{check_kernel_row, validate_inputs};
use super::{Actions, Engine, StepStats};
use crate::error::{Error, Result};
use crate::model::{check_pmf, KernelTables, Model};
use crate::persist::{StateReader, StateWriter};
use crate::rng::{stream, Purpose, StreamRng};
use crate::space::Policy;
use crate::transition::TransitionSource;

/// The `chunk` key of the count engine's streams (a value no agent chunk reaches).
pub const COUNT_STREAM: u64 = u64::MAX;

/// The `chunk` key of the stream that draws a [`CountPopulation::transition_sample`].
pub const SAMPLE_STREAM: u64 = u64::MAX - 1;

/// N exchangeable agents as a histogram over states; see the module docs.
#[derive(Debug, Clone)]
pub struct CountPopulation {
    num_agents: u64,
    counts: Vec<u64>,
    mean_field: Vec<f64>,
    /// r and P at the mean field the last step was taken at.
    tables: KernelTables,
    /// The tables of the step being prepared.
    scratch_tables: KernelTables,
    /// m(s, a, s′) of the last step, row-major in (s, a, s′).
    flows: Vec<u64>,
    last_step: Option<u64>,
    /// The last [`Engine::learner_source`] sample.
    sample: Option<CountTransitions>,
    // Scratch for one multinomial over at most 2|S| outcomes.
    weights: Vec<f64>,
    suffix: Vec<f64>,
    draws: Vec<u64>,
}

impl CountPopulation {
    /// N = `num_agents` agents whose states are drawn i.i.d. from `init` (a pmf on
    /// `0..num_states`): the counts are Multinomial(N, init), drawn from the stream
    /// `(seed, Init, 0, COUNT_STREAM)`.
    ///
    /// # Errors
    /// [`Error::Param`] (key `num_states`, `num_agents` or `init`) when `num_states` is 0 or
    /// above 65 536, `num_agents` is 0, or `init` is not a pmf of length `num_states`.
    pub fn try_new(num_states: usize, num_agents: u64, init: &[f64], seed: u64) -> Result<Self> {
        if num_states == 0 || num_states > 1 << 16 {
            return Err(Error::param(
                "num_states",
                format!("must be in [1, 65536], got {num_states}"),
            ));
        }
        if num_agents == 0 {
            return Err(Error::param("num_agents", "must be at least 1"));
        }
        check_pmf("init", init, Some(num_states))?;
        let mut pop = Self::empty(num_states, num_agents);
        let mut rng = stream(seed, Purpose::Init, 0, COUNT_STREAM);
        let mut counts = vec![0; num_states];
        multinomial(num_agents, init, &mut pop.suffix, &mut counts, &mut rng);
        pop.set_counts(counts);
        Ok(pop)
    }

    /// A population with the given histogram (N = its sum).
    ///
    /// # Errors
    /// [`Error::Param`] (key `counts`) when it is empty, longer than 65 536, sums to 0 or
    /// overflows a `u64`.
    pub fn from_counts(counts: Vec<u64>) -> Result<Self> {
        if counts.is_empty() || counts.len() > 1 << 16 {
            return Err(Error::param("counts", "must have 1 to 65536 states"));
        }
        let n = counts
            .iter()
            .try_fold(0u64, |acc, &c| acc.checked_add(c))
            .ok_or_else(|| Error::param("counts", "the total overflows a u64"))?;
        if n == 0 {
            return Err(Error::param("counts", "must hold at least one agent"));
        }
        let mut pop = Self::empty(counts.len(), n);
        pop.set_counts(counts);
        Ok(pop)
    }

    fn empty(num_states: usize, num_agents: u64) -> Self {
        CountPopulation {
            num_agents,
            counts: vec![0; num_states],
            mean_field: vec![0.0; num_states],
            tables: KernelTables::new(num_states, 1),
            scratch_tables: KernelTables::new(num_states, 1),
            flows: Vec::new(),
            last_step: None,
            sample: None,
            weights: Vec::with_capacity(2 * num_states),
            suffix: Vec::with_capacity(2 * num_states),
            draws: Vec::with_capacity(2 * num_states),
        }
    }

    fn set_counts(&mut self, counts: Vec<u64>) {
        self.counts = counts;
        let n = self.num_agents as f64;
        for (z, &c) in self.mean_field.iter_mut().zip(&self.counts) {
            *z = c as f64 / n;
        }
    }

    /// N, the number of agents.
    pub fn num_agents(&self) -> u64 {
        self.num_agents
    }

    /// |S|.
    pub fn num_states(&self) -> usize {
        self.counts.len()
    }

    /// Number of agents in each state (length |S|); sums to N.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The empirical mean field z^N = counts / N.
    pub fn mean_field(&self) -> &[f64] {
        &self.mean_field
    }

    /// m(s, a, s′) of the last step, at index `(s·|A| + a)·|S| + s′` (empty before the first
    /// step). Sums to N.
    pub fn flows(&self) -> &[u64] {
        &self.flows
    }

    /// r and P at the mean field the last step was taken at.
    pub fn tables(&self) -> &KernelTables {
        &self.tables
    }

    /// The index of the last step, `None` before the first.
    pub fn last_step(&self) -> Option<u64> {
        self.last_step
    }

    /// Moves every agent once under `policy` at the current empirical mean field (see the
    /// module docs), drawing from the stream `(seed, Step, step, COUNT_STREAM)`.
    ///
    /// # Errors
    /// [`Error::Param`] when the model has another number of states than the population, or
    /// for a policy or kernel the agent engine would also reject (rows that are not
    /// probability vectors, a row that does not contain ζ·w, more than 255 actions). On
    /// error nothing changes.
    pub fn step(
        &mut self,
        model: &(impl Model + ?Sized),
        policy: &Policy,
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        self.step_inner(model, policy, None, step, seed)
    }

    /// A step at `at` (default: the empirical mean field).
    fn step_inner(
        &mut self,
        model: &(impl Model + ?Sized),
        policy: &Policy,
        at: Option<&[f64]>,
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        let ns = self.num_states();
        if model.num_states() != ns {
            return Err(Error::param(
                "model",
                format!("has {} states, the population has {ns}", model.num_states()),
            ));
        }
        let na = model.num_actions();
        let (zeta, w) = (model.regen_prob(), model.regen_pmf());
        validate_inputs::<u16>(ns, na, policy, zeta, &w)?;
        // Filled into scratch and swapped in on success: on error the last step's tables stay.
        let mut tables = std::mem::replace(&mut self.scratch_tables, KernelTables::new(0, 0));
        model.fill_tables(at.unwrap_or(&self.mean_field), &mut tables);
        for s in 0..ns {
            for a in 0..na {
                if let Err(e) = check_kernel_row(s, a, tables.row(s, a), zeta, &w) {
                    self.scratch_tables = tables;
                    return Err(e);
                }
            }
        }

        let mut rng = stream(seed, Purpose::Step, step, COUNT_STREAM);
        self.flows.clear();
        self.flows.resize(ns * na * ns, 0);
        let mut next = vec![0u64; ns];
        let mut per_action = vec![0u64; na];
        let mut regenerated = 0;
        for s in 0..ns {
            let n_s = self.counts[s];
            if n_s == 0 {
                continue;
            }
            per_action.fill(0);
            multinomial(
                n_s,
                policy.row(s),
                &mut self.suffix,
                &mut per_action,
                &mut rng,
            );
            for (a, &n_sa) in per_action.iter().enumerate() {
                if n_sa == 0 {
                    continue;
                }
                // Outcomes 2s′ (moved) and 2s′ + 1 (regenerated), as in the agent engine.
                self.weights.clear();
                for (&p, &wv) in tables.row(s, a).iter().zip(&w) {
                    let regen = zeta * wv;
                    self.weights.push((p - regen).max(0.0));
                    self.weights.push(regen);
                }
                self.draws.clear();
                self.draws.resize(2 * ns, 0);
                multinomial(
                    n_sa,
                    &self.weights,
                    &mut self.suffix,
                    &mut self.draws,
                    &mut rng,
                );
                let flows = &mut self.flows[(s * na + a) * ns..(s * na + a + 1) * ns];
                for (t, pair) in self.draws.chunks_exact(2).enumerate() {
                    let moved = pair[0] + pair[1];
                    flows[t] = moved;
                    next[t] += moved;
                    regenerated += pair[1];
                }
            }
        }
        self.scratch_tables = std::mem::replace(&mut self.tables, tables);
        self.last_step = Some(step);
        self.set_counts(next);
        Ok(StepStats {
            step,
            num_agents: self.num_agents,
            regenerated,
        })
    }

    /// The last step's transitions as a learner sees them: `min(size, N)` of the N
    /// transitions, drawn one after the other uniformly without replacement from
    /// [`CountPopulation::flows`] (a Fenwick tree over the remaining counts, O(log(|S|²|A|))
    /// per draw), so the sample is also in uniformly random order. Stream
    /// `(seed, Step, step, SAMPLE_STREAM)`.
    ///
    /// The agent engine stores its N agents in an exchangeable order, and the learner reads
    /// a fixed set of `size` distinct positions of it (see [`crate::learner::tq`]); what it
    /// reads is therefore distributed exactly as this sample. Memory: 4 bytes per sampled
    /// transition.
    ///
    /// # Errors
    /// [`Error::Param`] (key `step`) before the first step.
    pub fn transition_sample(&self, size: usize, seed: u64) -> Result<CountTransitions> {
        let step = self
            .last_step
            .ok_or_else(|| Error::param("step", "no transitions before the first step"))?;
        let m = (size as u64).min(self.num_agents) as usize;
        let mut rng = stream(seed, Purpose::Step, step, SAMPLE_STREAM);
        let mut tree = Fenwick::new(&self.flows);
        let mut left = self.num_agents;
        let mut codes = Vec::with_capacity(m);
        for _ in 0..m {
            let code = tree.take(rng.random_range(0..left));
            left -= 1;
            codes.push(code as u32);
        }
        Ok(CountTransitions {
            codes,
            num_states: self.num_states(),
            num_actions: self.tables.num_actions(),
            tables: self.tables.clone(),
        })
    }
}

/// A Fenwick (binary indexed) tree over u64 counts: find the item holding the r-th unit and
/// remove that unit, in O(log n).
struct Fenwick {
    tree: Vec<u64>,
    top: usize,
}

impl Fenwick {
    fn new(counts: &[u64]) -> Self {
        let n = counts.len();
        let mut tree = vec![0u64; n + 1];
        for (i, &c) in counts.iter().enumerate() {
            let j = i + 1;
            tree[j] += c;
            let parent = j + (j & j.wrapping_neg());
            if parent <= n {
                let v = tree[j];
                tree[parent] += v;
            }
        }
        let top = if n == 0 {
            0
        } else {
            1 << (usize::BITS - 1 - n.leading_zeros())
        };
        Fenwick { tree, top }
    }

    /// The index i with Σ_{j<i} c_j ≤ r < Σ_{j≤i} c_j (r < the total); decrements c_i.
    fn take(&mut self, mut r: u64) -> usize {
        let n = self.tree.len() - 1;
        let mut pos = 0;
        let mut step = self.top;
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] <= r {
                r -= self.tree[next];
                pos = next;
            }
            step >>= 1;
        }
        // pos is the 1-based index of the last item before the target: the target is pos.
        let mut j = pos + 1;
        while j <= n {
            self.tree[j] -= 1;
            j += j & j.wrapping_neg();
        }
        pos
    }
}

impl Engine for CountPopulation {
    type Source = CountTransitions;

    fn num_agents(&self) -> u64 {
        self.num_agents
    }

    fn counts(&self) -> &[u64] {
        &self.counts
    }

    fn mean_field(&self) -> &[f64] {
        &self.mean_field
    }

    fn step(
        &mut self,
        model: &(impl Model + ?Sized),
        actions: Actions<'_>,
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        CountPopulation::step(self, model, shared_only(actions)?, step, seed)
    }

    fn step_at(
        &mut self,
        model: &(impl Model + ?Sized),
        actions: Actions<'_>,
        z: &[f64],
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        check_pmf("z", z, Some(self.num_states()))?;
        self.step_inner(model, shared_only(actions)?, Some(z), step, seed)
    }

    fn learner_source(&mut self, budget: usize, seed: u64) -> Result<&Self::Source> {
        let sample = self.transition_sample(budget, seed)?;
        Ok(self.sample.insert(sample))
    }

    /// A no-op: the count engine always has its transitions as counts (its flows).
    fn set_count_transitions(&mut self, _on: bool) -> Result<()> {
        Ok(())
    }

    fn transition_counts(&self) -> Option<&[u64]> {
        self.last_step.map(|_| &self.flows[..])
    }

    /// One section `state_counts`: the |S| counts (the engine's whole state).
    fn save_state(&self, w: &mut dyn StateWriter) -> Result<()> {
        w.u64s("state_counts", &self.counts)
    }

    /// # Errors
    /// As [`Engine::load_state`]; [`Error::Param`] (key `state_counts`) when the counts do not
    /// sum to N. On error nothing changes.
    fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        let mut counts = vec![0u64; self.counts.len()];
        r.u64s("state_counts", &mut counts)?;
        let total = counts.iter().try_fold(0u64, |a, &c| a.checked_add(c));
        if total != Some(self.num_agents) {
            return Err(Error::param(
                "state_counts",
                format!("do not sum to N = {}", self.num_agents),
            ));
        }
        self.set_counts(counts);
        self.last_step = None;
        self.sample = None;
        Ok(())
    }
}

/// The count engine's agents are exchangeable: it takes one shared strategy only.
fn shared_only(actions: Actions<'_>) -> Result<&Policy> {
    actions.shared().ok_or_else(|| Error::Unsupported {
        engine: "count engine",
        reason:
            "per-agent actions need agent identities, which the count engine does not \
                 keep (its agents are exchangeable); use the agent engine (sim.engine = \"agents\")"
                .into(),
    })
}

/// A sample of one count-engine step's transitions, in random order: a
/// [`TransitionSource`] for learners (see [`CountPopulation::transition_sample`]).
#[derive(Debug, Clone)]
pub struct CountTransitions {
    /// (s·|A| + a)·|S| + s′ per transition.
    codes: Vec<u32>,
    num_states: usize,
    num_actions: usize,
    tables: KernelTables,
}

impl TransitionSource for CountTransitions {
    #[inline]
    fn len(&self) -> usize {
        self.codes.len()
    }

    #[inline]
    fn get(&self, i: usize) -> (usize, usize, usize) {
        let code = self.codes[i] as usize;
        let (sa, next) = (code / self.num_states, code % self.num_states);
        (sa / self.num_actions, sa % self.num_actions, next)
    }

    fn tables(&self) -> &KernelTables {
        &self.tables
    }
}

/// Adds a Multinomial(n, q / Σq) draw to `out` (same length as `q`). `q` is non-negative
/// and finite with a positive sum (checked by the callers); `suffix` is scratch.
///
/// Large n: a chain of conditional binomials, x_i ~ Binomial(n − Σ_{j<i} x_j, q_i / Σ_{j≥i} q_j),
/// cost O(#outcomes) whatever n is. Small n (at most [`PER_UNIT_FACTOR`] × #outcomes): each of
/// the n units draws its outcome by inversion, u ~ U[0, Σq), i = the first index whose prefix
/// sum exceeds u (a binary search), which is cheaper than setting up one binomial per outcome.
pub(crate) fn multinomial(
    n: u64,
    q: &[f64],
    suffix: &mut Vec<f64>,
    out: &mut [u64],
    rng: &mut StreamRng,
) {
    // Suffix sums Σ_{j≥i} q_j, computed from the end so that every ratio is ≤ 1.
    suffix.clear();
    suffix.resize(q.len() + 1, 0.0);
    for i in (0..q.len()).rev() {
        suffix[i] = suffix[i + 1] + q[i];
    }
    let Some(last) = q.iter().rposition(|&p| p > 0.0) else {
        return;
    };
    if n <= PER_UNIT_FACTOR * (last as u64 + 1) {
        // Outcome i covers (Σq − suffix[i], Σq − suffix[i+1]]; a zero q_i covers nothing
        // (suffix[i] == suffix[i+1] exactly), and v ≤ Σq always lands at or before `last`.
        let total = suffix[0];
        let tail = &suffix[1..=last + 1];
        for _ in 0..n {
            let v = total - rng.random::<f64>() * total;
            let i = tail.partition_point(|&x| x >= v);
            out[i.min(last)] += 1;
        }
        return;
    }
    let mut left = n;
    for i in 0..last {
        if left == 0 {
            return;
        }
        if q[i] > 0.0 {
            let x = binomial(left, q[i] / suffix[i], rng);
            out[i] += x;
            left -= x;
        }
    }
    out[last] += left;
}

/// Multinomials with at most this many units per outcome are drawn unit by unit.
const PER_UNIT_FACTOR: u64 = 2;

/// One Binomial(n, p) draw, p clamped to [0, 1].
#[inline]
fn binomial(n: u64, p: f64, rng: &mut StreamRng) -> u64 {
    if p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    Binomial::new(n, p)
        .expect("p is in (0, 1) (a bug in mfgsim otherwise)")
        .sample(rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Gig, Infection};
    use crate::operator::phi;
    use crate::space::uniform;

    #[test]
    fn fenwick_finds_and_removes_units() {
        let counts = [3u64, 0, 2, 5, 0, 1];
        let expect: Vec<usize> = counts
            .iter()
            .enumerate()
            .flat_map(|(i, &c)| std::iter::repeat_n(i, c as usize))
            .collect();
        for (r, &want) in expect.iter().enumerate() {
            assert_eq!(Fenwick::new(&counts).take(r as u64), want, "r = {r}");
        }
        // Taking the first unit repeatedly empties the items in order.
        let mut tree = Fenwick::new(&counts);
        let got: Vec<usize> = (0..expect.len()).map(|_| tree.take(0)).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn multinomial_sums_to_n_and_has_the_right_moments() {
        let q = [0.2, 0.0, 0.5, 0.3e-6, 0.3 - 0.3e-6];
        let n = 1_000_000_000_000u64;
        let reps = 4000;
        let mut rng = stream(3, Purpose::Eval, 0, 0);
        let mut suffix = Vec::new();
        let (mut sum, mut sum2) = ([0.0f64; 5], [0.0f64; 5]);
        for _ in 0..reps {
            let mut out = [0u64; 5];
            multinomial(n, &q, &mut suffix, &mut out, &mut rng);
            assert_eq!(out.iter().sum::<u64>(), n);
            assert_eq!(out[1], 0);
            for i in 0..5 {
                let x = out[i] as f64;
                sum[i] += x;
                sum2[i] += x * x;
            }
        }
        for i in [0, 2, 3, 4] {
            let mean = sum[i] / reps as f64;
            let var = sum2[i] / reps as f64 - mean * mean;
            let (m_true, v_true) = (n as f64 * q[i], n as f64 * q[i] * (1.0 - q[i]));
            let z = (mean - m_true) / (v_true / reps as f64).sqrt();
            assert!(
                z.abs() < 5.0,
                "state {i}: mean {mean} vs {m_true} (z = {z})"
            );
            // Var of the sample variance ≈ 2σ⁴/reps for a near-normal count.
            let zv = (var - v_true) / (v_true * (2.0 / reps as f64).sqrt());
            assert!(
                zv.abs() < 5.0,
                "state {i}: var {var} vs {v_true} (z = {zv})"
            );
        }
    }

    /// The unit-by-unit path (small n): frequencies over many draws match q / Σq, zero
    /// outcomes are never drawn.
    #[test]
    fn small_multinomials_have_the_right_law() {
        let q = [0.0, 0.25, 0.0, 0.5, 0.125, 0.125, 0.0];
        let mut rng = stream(4, Purpose::Eval, 0, 0);
        let mut suffix = Vec::new();
        let mut total = [0u64; 7];
        let (reps, n) = (20_000, 5u64);
        for _ in 0..reps {
            let mut out = [0u64; 7];
            multinomial(n, &q, &mut suffix, &mut out, &mut rng);
            assert_eq!(out.iter().sum::<u64>(), n);
            for (t, o) in total.iter_mut().zip(out) {
                *t += o;
            }
        }
        let draws = (reps * n) as f64;
        for (i, &p) in q.iter().enumerate() {
            if p == 0.0 {
                assert_eq!(total[i], 0, "outcome {i} has q = 0");
                continue;
            }
            let z = (total[i] as f64 - draws * p) / (draws * p * (1.0 - p)).sqrt();
            assert!(z.abs() < 5.0, "outcome {i}: z = {z}");
        }
    }

    /// E[n′] = N·Φ(z^N, μ) exactly; a z-test per state over many independent steps.
    #[test]
    fn one_step_mean_is_the_mckean_vlasov_update() {
        let model = Infection::default();
        let (ns, na) = (model.num_states(), model.num_actions());
        let mut policy = Policy::uniform(ns, na);
        for s in 0..ns {
            let row = &mut policy.probs_mut()[s * na..(s + 1) * na];
            row.copy_from_slice(&[0.6, 0.1, 0.1, 0.1, 0.1]);
            row.rotate_right(s % na);
        }
        let n = 2000u64;
        let start = CountPopulation::try_new(ns, n, &uniform(ns), 9).unwrap();
        let z0 = start.mean_field().to_vec();
        let tables = KernelTables::of(&model, &z0);
        let mut expect = vec![0.0; ns];
        phi(&tables, &z0, &policy, &mut expect);
        let reps = 3000;
        let (mut sum, mut sum2) = (vec![0.0; ns], vec![0.0; ns]);
        for r in 0..reps {
            let mut pop = start.clone();
            let stats = pop.step(&model, &policy, r, 5).unwrap();
            assert_eq!(stats.num_agents, n);
            assert_eq!(pop.flows().iter().sum::<u64>(), n);
            for s in 0..ns {
                let x = pop.counts()[s] as f64;
                sum[s] += x;
                sum2[s] += x * x;
            }
        }
        for s in 0..ns {
            let mean = sum[s] / reps as f64;
            let var = (sum2[s] / reps as f64 - mean * mean).max(1e-9);
            let z = (mean - n as f64 * expect[s]) / (var / reps as f64).sqrt();
            assert!(
                z.abs() < 5.0,
                "state {s}: {mean} vs {} (z = {z})",
                n as f64 * expect[s]
            );
        }
    }

    #[test]
    fn same_key_same_counts_other_seed_other_counts() {
        let model = Gig::default();
        let policy = Policy::uniform(model.num_states(), model.num_actions());
        let run = |seed| {
            let mut pop = CountPopulation::try_new(
                model.num_states(),
                10_000,
                &uniform(model.num_states()),
                seed,
            )
            .unwrap();
            for k in 0..10 {
                pop.step(&model, &policy, k, seed).unwrap();
            }
            pop.counts().to_vec()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn a_full_sample_is_the_flow_histogram_and_a_partial_one_is_proportional() {
        let model = Infection::default();
        let (ns, na) = (model.num_states(), model.num_actions());
        let policy = Policy::uniform(ns, na);
        let mut pop = CountPopulation::try_new(ns, 50_000, &uniform(ns), 4).unwrap();
        assert!(pop.transition_sample(10, 4).is_err());
        pop.step(&model, &policy, 0, 4).unwrap();
        let full = pop.transition_sample(usize::MAX, 4).unwrap();
        assert_eq!(full.len(), 50_000);
        let mut hist = vec![0u64; ns * na * ns];
        for i in 0..full.len() {
            let (s, a, t) = full.get(i);
            hist[(s * na + a) * ns + t] += 1;
        }
        assert_eq!(hist, pop.flows());
        // The order is random: the first 1000 are not sorted by state.
        let first: Vec<usize> = (0..1000).map(|i| full.get(i).0).collect();
        assert!(first.windows(2).any(|w| w[0] > w[1]));
        // A 20% sample: per-state counts near 20% of the flows' (hypergeometric z-test).
        let part = pop.transition_sample(10_000, 4).unwrap();
        assert_eq!(part.len(), 10_000);
        let mut by_state = vec![0u64; ns];
        for i in 0..part.len() {
            by_state[part.get(i).0] += 1;
        }
        for (s, &got) in by_state.iter().enumerate() {
            let c: u64 = pop.flows()[s * na * ns..(s + 1) * na * ns].iter().sum();
            let p = c as f64 / 50_000.0;
            let sd = (10_000.0 * p * (1.0 - p) * 0.8).sqrt().max(1.0);
            let z = (got as f64 - 10_000.0 * p) / sd;
            assert!(z.abs() < 5.0, "state {s}: z = {z}");
        }
    }

    #[test]
    fn transition_counts_are_the_flows() {
        let m = Infection::default();
        let policy = Policy::uniform(25, 5);
        let mut pop = CountPopulation::try_new(25, 1_000_000_007, &uniform(25), 2).unwrap();
        assert!(Engine::transition_counts(&pop).is_none());
        Engine::set_count_transitions(&mut pop, true).unwrap();
        pop.step(&m, &policy, 0, 2).unwrap();
        let c = Engine::transition_counts(&pop).unwrap();
        assert_eq!(c, pop.flows());
        assert_eq!(c.iter().sum::<u64>(), 1_000_000_007);
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let model = Infection::default();
        assert!(CountPopulation::try_new(0, 10, &[], 0).is_err());
        assert!(CountPopulation::try_new(2, 0, &[0.5, 0.5], 0).is_err());
        assert!(CountPopulation::try_new(2, 10, &[0.5, 0.6], 0).is_err());
        assert!(CountPopulation::from_counts(vec![0, 0]).is_err());
        assert!(CountPopulation::from_counts(vec![u64::MAX, 1]).is_err());
        let mut small = CountPopulation::from_counts(vec![5, 5]).unwrap();
        let policy = Policy::uniform(25, 5);
        let err = small.step(&model, &policy, 0, 0).unwrap_err();
        assert!(err.to_string().contains("25 states"), "{err}");
        assert_eq!(small.counts(), &[5, 5]);
        let mut pop = CountPopulation::from_counts(vec![1; 25]).unwrap();
        let bad = Policy::uniform(25, 4);
        assert!(pop.step(&model, &bad, 0, 0).is_err());
        assert_eq!(pop.last_step(), None);
    }

    #[test]
    fn refuses_per_agent_actions() {
        let model = Infection::default();
        let mut pop = CountPopulation::try_new(25, 1000, &uniform(25), 1).unwrap();
        let given = vec![0u8; 1000];
        let e = Engine::step(&mut pop, &model, Actions::PerAgent(&given), 0, 1).unwrap_err();
        assert!(
            matches!(&e, Error::Unsupported { engine, .. } if *engine == "count engine"),
            "{e}"
        );
        let e = Engine::step_at(
            &mut pop,
            &model,
            Actions::PerAgent(&given),
            &uniform(25),
            0,
            1,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert_eq!(pop.last_step(), None);
        assert_eq!(Engine::counts(&pop).iter().sum::<u64>(), 1000);
    }
}
