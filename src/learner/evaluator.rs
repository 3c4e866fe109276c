//! The observer of a learning run: exact exploitability of the learned strategy, its
//! consistency residual ‖Φ(z, μ_k) − z‖₁, and the L1 and Wasserstein-1 distances to the exact
//! T-MFE, computed from the model, outside every learner.

use crate::model::{GameParams, KernelTables, Model};
use crate::operator::tq_value::TqIteration;
use crate::operator::{exploitability, phi, Exploitability};
use crate::space::{l1_distance, wasserstein1, Policy, QTable};

/// Agents whose own strategies are evaluated each iteration for learners with per-agent
/// tables ([`Snapshot::agent_exploitability`]).
pub const AGENT_SAMPLE: usize = 256;

/// The fixed sample of agents of [`Snapshot::agent_exploitability`]: `min(AGENT_SAMPLE, n)`
/// distinct agents of `0..n` in increasing order, drawn by a partial Fisher–Yates shuffle
/// from the stream `(seed, Eval, 0, 0)`, the same for the whole run.
pub fn agent_sample(n: usize, seed: u64) -> Vec<usize> {
    use rand::RngExt;
    if n <= AGENT_SAMPLE {
        return (0..n).collect();
    }
    let mut rng = crate::rng::stream(seed, crate::rng::Purpose::Eval, 0, 0);
    // Floyd's algorithm: AGENT_SAMPLE distinct draws without an O(n) array.
    let mut chosen: Vec<usize> = Vec::with_capacity(AGENT_SAMPLE);
    for j in (n - AGENT_SAMPLE)..n {
        let t = rng.random_range(0..=j);
        if chosen.contains(&t) {
            chosen.push(j);
        } else {
            chosen.push(t);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Sup-norm tolerance of the exact TQ-value iteration behind [`Evaluator::exploitability`].
pub const EVAL_TOL: f64 = 1e-10;

/// The accuracy of [`Evaluator`]'s exploitabilities at discount γ: 4·EVAL_TOL/(1 − γ)
/// (Q*_z is within γ·EVAL_TOL/(1 − γ) of the fixed point, and a gap compares two values);
/// smaller values are zero as far as the evaluation can tell.
pub fn eval_exploitability_tol(gamma: f64) -> f64 {
    4.0 * EVAL_TOL / (1.0 - gamma)
}

/// Cap on its sweeps (γ = 0.9 needs about 240 from cold, a few from warm).
pub const EVAL_MAX_SWEEPS: usize = 100_000;

/// Exact evaluation of strategies at mean fields, with warm-started scratch.
///
/// # Formula
/// ```text
/// exploitability(μ, z) = max_s (V*_z(s) − V_{μ,z}(s))      and   Σ_s z(s)(V*_z(s) − V_{μ,z}(s))
/// V*_z(s) = G(Q*_z)(s),  Q*_z the fixed point of F_z (to EVAL_TOL),  V_{μ,z} exact policy value
/// consistency(μ, z)    = ‖Φ(z, μ) − z‖₁,  Φ the exact McKean–Vlasov update (kernel tables at z)
/// l1_to_tmfe(z)        = ‖z − z*‖₁
/// w1_to_tmfe(z)        = W1(z, z*) = Σ_{t=0}^{S−2} |F_z(t) − F_{z*}(t)|   (F the CDFs)
/// ```
/// A strategy μ and a mean field z form a mean field equilibrium when both certificates are
/// zero: exploitability (μ is a best response to z) and consistency (z is the mean field μ
/// keeps in place). Either alone can be zero away from an equilibrium.
#[derive(Debug)]
pub struct Evaluator<'m, M: Model + ?Sized> {
    model: &'m M,
    game: GameParams,
    reference: Option<Vec<f64>>,
    tables: KernelTables,
    tq: TqIteration,
    q_star: QTable,
    /// Scratch for Φ(z, μ).
    next: Vec<f64>,
}

impl<'m, M: Model + ?Sized> Evaluator<'m, M> {
    /// An evaluator of `model`; `reference` is the exact T-MFE z* (length |S|) for
    /// [`Evaluator::l1_to_tmfe`].
    ///
    /// # Panics
    /// When `reference` has another length than |S| (callers pass the solver's z*).
    pub fn new(model: &'m M, game: GameParams, reference: Option<Vec<f64>>) -> Self {
        let (ns, na) = (model.num_states(), model.num_actions());
        if let Some(r) = &reference {
            assert_eq!(r.len(), ns, "reference mean field has the wrong length");
        }
        Evaluator {
            model,
            game,
            reference,
            tables: KernelTables::new(ns, na),
            tq: TqIteration::new(),
            q_star: QTable::zeros(ns, na),
            next: vec![0.0; ns],
        }
    }

    /// Exploitability of `policy` at mean field `z` (exact, from the model).
    pub fn exploitability(&mut self, policy: &Policy, z: &[f64]) -> Exploitability {
        self.prepare(z);
        exploitability(&self.tables, self.game, policy, z, &self.q_star)
    }

    /// The mean exploitability of several strategies at one mean field `z` (Q*_z solved
    /// once): per-agent strategies of learners with one table per agent. `None` for an empty
    /// list.
    pub fn mean_exploitability(
        &mut self,
        policies: impl IntoIterator<Item = Policy>,
        z: &[f64],
    ) -> Option<Exploitability> {
        self.prepare(z);
        let (mut n, mut max, mut weighted) = (0usize, 0.0, 0.0);
        for p in policies {
            let e = exploitability(&self.tables, self.game, &p, z, &self.q_star);
            n += 1;
            max += e.max;
            weighted += e.weighted;
        }
        (n > 0).then(|| Exploitability {
            max: max / n as f64,
            weighted: weighted / n as f64,
        })
    }

    /// The consistency residual ‖Φ(z, μ) − z‖₁ of `policy` at mean field `z` (exact: the
    /// model's kernel tables at z and [`phi`]); 0 exactly when z is the mean field `policy`
    /// keeps in place. Does not touch the warm start of [`Evaluator::exploitability`].
    pub fn consistency(&mut self, policy: &Policy, z: &[f64]) -> f64 {
        self.model.fill_tables(z, &mut self.tables);
        self.consistency_at_filled(policy, z)
    }

    /// [`Evaluator::consistency`] with the tables already filled at `z`.
    fn consistency_at_filled(&mut self, policy: &Policy, z: &[f64]) -> f64 {
        phi(&self.tables, z, policy, &mut self.next);
        l1_distance(&self.next, z)
    }

    /// Fills the tables at `z` and solves Q*_z (warm-started from the last z).
    fn prepare(&mut self, z: &[f64]) {
        self.model.fill_tables(z, &mut self.tables);
        self.tq.run(
            &self.tables,
            self.game,
            &mut self.q_star,
            EVAL_TOL,
            EVAL_MAX_SWEEPS,
        );
    }

    /// Saves Q*_z of the last evaluation (`eval_q_star`): the warm start of the next one, so
    /// a resumed run evaluates bitwise as an uninterrupted one.
    ///
    /// # Errors
    /// The writer's error.
    pub fn save_state(&self, w: &mut dyn crate::persist::StateWriter) -> crate::Result<()> {
        w.f64s("eval_q_star", self.q_star.values())
    }

    /// Restores what [`Evaluator::save_state`] saved.
    ///
    /// # Errors
    /// The reader's error.
    pub fn load_state(&mut self, r: &mut dyn crate::persist::StateReader) -> crate::Result<()> {
        r.f64s("eval_q_star", self.q_star.values_mut())
    }

    /// ‖z − z*‖₁, NaN without a reference.
    pub fn l1_to_tmfe(&self, z: &[f64]) -> f64 {
        self.reference
            .as_ref()
            .map_or(f64::NAN, |r| l1_distance(z, r))
    }

    /// W1(z, z*) on the ordered states ([`wasserstein1`]), NaN without a reference.
    pub fn w1_to_tmfe(&self, z: &[f64]) -> f64 {
        self.reference
            .as_ref()
            .map_or(f64::NAN, |r| wasserstein1(z, r))
    }

    /// The reference z*, if any.
    pub fn reference(&self) -> Option<&[f64]> {
        self.reference.as_deref()
    }
}

/// One evaluated iteration: what the algorithm did ([`super::Iteration`]) and how good its
/// strategy is. A row of `snapshots.parquet`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Snapshot {
    /// k (1-based).
    pub iteration: u64,
    /// The mean field μ_k faces (see [`super::Iteration::z`]).
    pub z: Vec<f64>,
    /// Σ_s s·z(s).
    pub mean_state: f64,
    /// ‖z − z*‖₁ (NaN without a reference).
    pub l1_to_tmfe: f64,
    /// W1(z, z*) = Σ_{t=0}^{S−2} |F_z(t) − F_{z*}(t)|, the Wasserstein-1 distance on the
    /// ordered states (NaN without a reference).
    pub w1_to_tmfe: f64,
    /// ‖Φ(z, μ_k) − z‖₁, exact: how far z is from the mean field μ_k keeps in place.
    pub consistency: f64,
    /// Exploitability of μ_k at z.
    pub exploitability: Exploitability,
    /// Learners with one table per agent (IQL, MFQ): the mean exploitability of the
    /// individual agents' own strategies π^ε_{Q_i} at z, over a fixed seeded sample of
    /// [`AGENT_SAMPLE`] agents (all agents when there are fewer); `None` otherwise.
    pub agent_exploitability: Option<Exploitability>,
    /// Agents that regenerated during the population step.
    pub regenerated: u64,
    /// States whose greedy action changed from μ_{k−1} to μ_k.
    pub policy_changes: u32,
    /// Samples and updates of this iteration.
    pub ledger: super::Ledger,
    /// Samples and updates of iterations 1..=k.
    pub total: super::Ledger,
    /// See [`super::Iteration::inner_steps`].
    pub inner_steps: u64,
    /// See [`super::Iteration::inner_converged`].
    pub inner_converged: bool,
    /// Wall seconds moving agents or drawing samples.
    pub step_seconds: f64,
    /// Wall seconds learning.
    pub learn_seconds: f64,
    /// Wall seconds of the exact evaluation.
    pub eval_seconds: f64,
}

impl<'m, M: Model + ?Sized> Evaluator<'m, M> {
    /// Evaluates `policy` (the algorithm's μ_k) at the iteration's mean field: its
    /// exploitability and consistency (one filling of the kernel tables serves both) and the
    /// distances to z*; `total` is the ledger of iterations 1..k−1, to which this iteration's is
    /// added.
    pub fn observe(
        &mut self,
        it: super::Iteration,
        policy: &Policy,
        total: &mut super::Ledger,
    ) -> Snapshot {
        let t0 = std::time::Instant::now();
        let exploitability = self.exploitability(policy, &it.z);
        // The tables are at it.z since `exploitability` filled them.
        let consistency = self.consistency_at_filled(policy, &it.z);
        *total += it.ledger;
        Snapshot {
            iteration: it.iteration,
            mean_state: crate::model::mean_state(&it.z),
            l1_to_tmfe: self.l1_to_tmfe(&it.z),
            w1_to_tmfe: self.w1_to_tmfe(&it.z),
            consistency,
            z: it.z,
            exploitability,
            agent_exploitability: None,
            regenerated: it.regenerated,
            policy_changes: it.policy_changes,
            ledger: it.ledger,
            total: *total,
            inner_steps: it.inner_steps,
            inner_converged: it.inner_converged,
            step_seconds: it.step_seconds,
            learn_seconds: it.learn_seconds,
            eval_seconds: t0.elapsed().as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_sample_is_distinct_sorted_seeded_and_covers_small_populations() {
        assert_eq!(agent_sample(5, 1), vec![0, 1, 2, 3, 4]);
        let s = agent_sample(1_000_000, 3);
        assert_eq!(s.len(), AGENT_SAMPLE);
        assert!(s.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert!(*s.last().unwrap() < 1_000_000);
        assert_eq!(s, agent_sample(1_000_000, 3));
        assert_ne!(s, agent_sample(1_000_000, 4));
        // Spread over the range: the sample's mean is near n/2 (sd ≈ n/√(12·256) ≈ 0.018 n).
        let mean = s.iter().sum::<usize>() as f64 / s.len() as f64;
        assert!((mean / 1e6 - 0.5).abs() < 0.08, "{mean}");
    }

    /// An iteration at `z` (only its mean field matters to the certificates).
    fn at(z: &[f64]) -> crate::learner::Iteration {
        crate::learner::Iteration {
            iteration: 1,
            z: z.to_vec(),
            z_next: None,
            regenerated: 0,
            policy_changes: 0,
            ledger: crate::learner::Ledger::default(),
            inner_steps: 1,
            inner_converged: true,
            step_seconds: 0.0,
            learn_seconds: 0.0,
        }
    }

    #[test]
    fn certificates_vanish_at_the_exact_tmfe_and_match_phi_elsewhere() {
        let path = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/infection.toml"
        ));
        let sc = crate::scenario::Scenario::load(path, &[]).unwrap();
        let model = sc.model.as_model();
        let star = crate::solver::solve(
            model,
            sc.game,
            &crate::solver::SolverParams::default(),
            &crate::solver::Start::Uniform,
        )
        .unwrap();
        assert!(star.converged());
        let mut eval = Evaluator::new(model, sc.game, Some(star.z.clone()));
        let mut total = crate::learner::Ledger::default();
        // At z* with the T-MFE strategy μ*: consistent, and at distance 0 from z*.
        let snap = eval.observe(at(&star.z), &star.policy, &mut total);
        assert!(snap.consistency < 1e-9, "{}", snap.consistency);
        assert_eq!(snap.w1_to_tmfe, 0.0);
        assert_eq!(snap.l1_to_tmfe, 0.0);
        // At the uniform mean field: ‖Φ(uniform, μ*) − uniform‖₁, computed here independently.
        let ns = model.num_states();
        let u = crate::space::uniform(ns);
        let mut next = vec![0.0; ns];
        crate::operator::phi(
            &crate::model::KernelTables::of(model, &u),
            &u,
            &star.policy,
            &mut next,
        );
        let expected = l1_distance(&next, &u);
        assert!(expected > 1e-3, "{expected}");
        let snap = eval.observe(at(&u), &star.policy, &mut total);
        assert_eq!(snap.consistency, expected);
        assert_eq!(eval.consistency(&star.policy, &u), expected);
        // W1 to z* by its definition: the CDF gaps over t = 0..S−2, F_uniform(t) = (t + 1)/S.
        let w1: f64 = (0..ns - 1)
            .map(|t| ((t + 1) as f64 / ns as f64 - star.z[..=t].iter().sum::<f64>()).abs())
            .sum();
        assert!(
            (snap.w1_to_tmfe - w1).abs() < 1e-12,
            "{} {w1}",
            snap.w1_to_tmfe
        );
        let l1 = snap.l1_to_tmfe;
        assert!(l1 / 2.0 <= snap.w1_to_tmfe && snap.w1_to_tmfe <= (ns - 1) as f64 * l1 / 2.0);
        // Without a reference the distances are NaN, the consistency is still exact.
        let mut bare = Evaluator::new(model, sc.game, None);
        let snap = bare.observe(at(&u), &star.policy, &mut total);
        assert!(snap.w1_to_tmfe.is_nan() && snap.l1_to_tmfe.is_nan());
        assert_eq!(snap.consistency, expected);
    }

    #[test]
    fn mean_exploitability_averages_and_matches_single_evaluations() {
        let model = crate::model::Gig::default();
        let game = GameParams::default();
        let z = crate::space::uniform(10);
        let mut eval = Evaluator::new(&model, game, None);
        let a = Policy::uniform(10, 4);
        let mut q = QTable::zeros(10, 4);
        q.values_mut()[3] = 1.0;
        let b = crate::operator::trembling_policy(&q, game.epsilon);
        let ea = eval.exploitability(&a, &z);
        let eb = eval.exploitability(&b, &z);
        let m = eval.mean_exploitability([a, b], &z).unwrap();
        assert!((m.max - (ea.max + eb.max) / 2.0).abs() < 1e-9);
        assert!((m.weighted - (ea.weighted + eb.weighted) / 2.0).abs() < 1e-9);
        assert!(eval.mean_exploitability(Vec::new(), &z).is_none());
    }
}
