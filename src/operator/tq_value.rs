//! The TQ-value operator F_z and TQ-value iteration at a fixed mean field z.
//!
//! # Formula
//! ```text
//! F_z(Q)(s, a) = r(s, a, z) + γ Σ_s' P(s' | s, a, z) G(Q)(s')
//! ```
//! F_z is a γ-contraction in the sup norm, so iterating it from any Q converges to the unique
//! fixed point Q*_z. Iteration stops when ||F_z(Q) − Q||_∞ < tol; then
//! ||Q − Q*_z||_∞ ≤ γ·tol/(1 − γ).
//!
//! # Speed
//! [`TqIteration`] first splits the kernel into a part common to every row and banded
//! residual rows ([`BandedKernel`]): c(s') = min_{s,a} P(s'|s,a,z) and
//! R(s'|s,a) = P(s'|s,a,z) − c(s') ≥ 0, non-zero only on a band [lo, hi) per row. Then
//! Σ_s' P(s'|s,a) g(s') = Σ_{s' ∈ band} R(s'|s,a) g(s') + Σ_s' c(s') g(s'), with the second sum
//! computed once per sweep. Regeneration to a fixed law (both built-in models) is exactly such
//! a common part, so a sweep costs O(|S||A|·band) instead of O(|S|²|A|). The result equals
//! [`apply`] up to floating-point reassociation (≈1e-16 relative).

use std::sync::atomic::{AtomicBool, Ordering};

use super::dot;
use super::trembling::g_values;
use crate::model::{GameParams, KernelTables};
use crate::space::{sup_distance, QTable};

/// How a TQ-value iteration ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TqOutcome {
    /// Number of applications of F_z.
    pub sweeps: usize,
    /// ||F_z(Q) − Q||_∞ at the last sweep.
    pub residual: f64,
    /// `residual < tol`.
    pub converged: bool,
    /// The greedy actions of the last iterate are those of the fixed point Q*_z (always true
    /// when `converged`; see [`TqIteration::run_until_greedy_certain`]).
    pub greedy_certified: bool,
    /// The cancel flag of [`TqIteration::run_cancellable`] ended the iteration early.
    pub cancelled: bool,
}

/// One application of F_z: `out = F_z(q)`. `g` is scratch of length |S|.
///
/// # Panics
/// When the sizes of `tables`, `q`, `g` and `out` disagree.
pub fn apply(tables: &KernelTables, game: GameParams, q: &QTable, g: &mut [f64], out: &mut QTable) {
    let (ns, na) = (tables.num_states(), tables.num_actions());
    assert!(
        q.num_states() == ns && q.num_actions() == na && out.values().len() == ns * na,
        "F_z: table sizes disagree"
    );
    assert_eq!(g.len(), ns, "F_z: scratch has the wrong length");
    g_values(q, game.epsilon, g);
    for (i, (o, r)) in out.values_mut().iter_mut().zip(&tables.reward).enumerate() {
        let row = &tables.kernel[i * ns..(i + 1) * ns];
        *o = r + game.gamma * dot(row, g);
    }
}

/// The kernel split into a common part and banded residual rows (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BandedKernel {
    num_states: usize,
    /// c(s') = min over rows of P(s' | ·).
    common: Vec<f64>,
    /// Residual rows R = P − c, row-major in (s, a, s').
    resid: Vec<f64>,
    /// Band [lo, hi) of the non-zero entries of each residual row.
    band: Vec<(u32, u32)>,
}

impl BandedKernel {
    /// Rebuilds from `tables`, reusing storage.
    pub fn rebuild(&mut self, tables: &KernelTables) {
        let ns = tables.num_states();
        let rows = tables.num_states() * tables.num_actions();
        self.num_states = ns;
        self.common.clear();
        self.common.resize(ns, f64::INFINITY);
        for row in tables.kernel.chunks_exact(ns) {
            for (c, p) in self.common.iter_mut().zip(row) {
                *c = c.min(*p);
            }
        }
        self.resid.clear();
        self.band.clear();
        for row in tables.kernel.chunks_exact(ns) {
            let start = self.resid.len();
            self.resid
                .extend(row.iter().zip(&self.common).map(|(p, c)| p - c));
            let r = &self.resid[start..];
            let lo = r.iter().position(|x| *x != 0.0).unwrap_or(0);
            let hi = r.iter().rposition(|x| *x != 0.0).map_or(lo, |i| i + 1);
            self.band.push((lo as u32, hi as u32));
        }
        debug_assert_eq!(self.band.len(), rows);
    }

    /// Mean band width (diagnostics; |S| means no saving).
    pub fn mean_band(&self) -> f64 {
        let w: u64 = self.band.iter().map(|(l, h)| u64::from(h - l)).sum();
        w as f64 / self.band.len().max(1) as f64
    }

    /// `out[i] = Σ_s' P(s' | row i) g(s')` for every row i = s·A + a.
    #[inline]
    pub fn expect_into(&self, g: &[f64], mut f: impl FnMut(usize, f64)) {
        let ns = self.num_states;
        let base = dot(&self.common, g);
        for (i, (row, &(lo, hi))) in self.resid.chunks_exact(ns).zip(&self.band).enumerate() {
            let (lo, hi) = (lo as usize, hi as usize);
            f(i, dot(&row[lo..hi], &g[lo..hi]) + base);
        }
    }
}

/// Sweeps between two checks of [`TqIteration::run_cancellable`]'s flag. 16.
pub const CANCEL_CHECK_SWEEPS: usize = 16;

/// TQ-value iteration with reusable scratch buffers (allocated once per size).
#[derive(Debug, Clone, Default)]
pub struct TqIteration {
    g: Vec<f64>,
    next: Option<QTable>,
    banded: BandedKernel,
}

impl TqIteration {
    /// New, empty scratch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Iterates `q ← F_z(q)` (warm-started from the given `q`) until the sup-norm change is
    /// below `tol` or `max_sweeps` applications were made. `q` holds the last iterate.
    pub fn run(
        &mut self,
        tables: &KernelTables,
        game: GameParams,
        q: &mut QTable,
        tol: f64,
        max_sweeps: usize,
    ) -> TqOutcome {
        self.iterate(tables, game, q, (tol, max_sweeps), false, None)
    }

    /// As [`TqIteration::run`], but checks `cancel` every [`CANCEL_CHECK_SWEEPS`] sweeps and
    /// ends early (`cancelled` set, `q` the last iterate) once it is set: a large model's
    /// value iteration can run for minutes.
    pub fn run_cancellable(
        &mut self,
        tables: &KernelTables,
        game: GameParams,
        q: &mut QTable,
        tol: f64,
        max_sweeps: usize,
        cancel: &AtomicBool,
    ) -> TqOutcome {
        self.iterate(tables, game, q, (tol, max_sweeps), false, Some(cancel))
    }

    /// Like [`TqIteration::run`], but also stops as soon as the greedy action of Q*_z is
    /// certain in every state: after a sweep with change δ = ||F_z(Q) − Q||_∞ the error bound
    /// ||Q − Q*_z||_∞ ≤ e = γδ/(1 − γ) holds, so when Q(s, a*) − max_{a≠a*} Q(s, a) > 2e in
    /// every state, a* is also the (lowest-index) greedy action of Q*_z and π^ε(Q) = π^ε(Q*_z)
    /// exactly. Exact ties are never certified, so those fall back to `tol`. T-BR only needs
    /// the policy at intermediate iterations, so this changes no mean field it produces.
    pub fn run_until_greedy_certain(
        &mut self,
        tables: &KernelTables,
        game: GameParams,
        q: &mut QTable,
        tol: f64,
        max_sweeps: usize,
    ) -> TqOutcome {
        self.iterate(tables, game, q, (tol, max_sweeps), true, None)
    }

    fn iterate(
        &mut self,
        tables: &KernelTables,
        game: GameParams,
        q: &mut QTable,
        (tol, max_sweeps): (f64, usize),
        certify: bool,
        cancel: Option<&AtomicBool>,
    ) -> TqOutcome {
        let (ns, na) = (tables.num_states(), tables.num_actions());
        self.g.resize(ns, 0.0);
        let next = match &mut self.next {
            Some(n) if n.num_states() == ns && n.num_actions() == na => n,
            slot => slot.insert(QTable::zeros(ns, na)),
        };
        self.banded.rebuild(tables);
        let mut residual = f64::INFINITY;
        let mut sweeps = 0;
        let mut certified = false;
        let mut cancelled = false;
        while sweeps < max_sweeps {
            if sweeps % CANCEL_CHECK_SWEEPS == 0
                && cancel.is_some_and(|c| c.load(Ordering::Relaxed))
            {
                cancelled = true;
                break;
            }
            g_values(q, game.epsilon, &mut self.g);
            let out = next.values_mut();
            self.banded.expect_into(&self.g, |i, e| {
                out[i] = tables.reward[i] + game.gamma * e;
            });
            sweeps += 1;
            residual = sup_distance(next.values(), q.values());
            std::mem::swap(q, next);
            if residual < tol || !residual.is_finite() {
                // A non-finite residual (values overflowed to inf / NaN) never converges.
                break;
            }
            if certify {
                // Safety factor 1 + 1e-9 covers rounding in the bound itself.
                let bound = game.gamma * residual / (1.0 - game.gamma) * (1.0 + 1e-9);
                if greedy_certain(q, 2.0 * bound) {
                    certified = true;
                    break;
                }
            }
        }
        TqOutcome {
            sweeps,
            residual,
            converged: residual < tol,
            greedy_certified: certified || residual < tol,
            cancelled,
        }
    }
}

/// True when, in every state, the best action beats every other by more than `margin`.
fn greedy_certain(q: &QTable, margin: f64) -> bool {
    q.rows().all(|row| {
        let best = super::trembling::greedy_action(row);
        row.iter()
            .enumerate()
            .all(|(a, v)| a == best || row[best] - v > margin)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Infection, Model};

    #[test]
    fn banded_sweep_equals_the_dense_operator() {
        for m in [
            Box::new(Infection::default()) as Box<dyn Model>,
            Box::new(crate::model::Gig::default()),
        ] {
            let (ns, na) = (m.num_states(), m.num_actions());
            let z: Vec<f64> = (0..ns).map(|s| (s + 1) as f64).collect();
            let tot: f64 = z.iter().sum();
            let z: Vec<f64> = z.iter().map(|x| x / tot).collect();
            let t = KernelTables::of(m.as_ref(), &z);
            let mut q = QTable::zeros(ns, na);
            for (i, v) in q.values_mut().iter_mut().enumerate() {
                *v = ((i * 7919) % 101) as f64 / 13.0;
            }
            let game = GameParams::default();
            let mut dense = QTable::zeros(ns, na);
            apply(&t, game, &q, &mut vec![0.0; ns], &mut dense);
            let mut it = TqIteration::new();
            let mut banded = q.clone();
            it.run(&t, game, &mut banded, 0.0, 1);
            assert!(sup_distance(dense.values(), banded.values()) < 1e-13);
            assert!(
                it.banded.mean_band() < ns as f64 / 2.0,
                "{}",
                it.banded.mean_band()
            );
        }
    }

    #[test]
    fn fixed_point_satisfies_the_bellman_equation() {
        let m = Infection::default();
        let z = crate::space::uniform(m.num_states());
        let t = KernelTables::of(&m, &z);
        let game = GameParams::default();
        let mut q = QTable::zeros(25, 5);
        let out = TqIteration::new().run(&t, game, &mut q, 1e-13, 10_000);
        assert!(out.converged, "{out:?}");
        let mut fq = QTable::zeros(25, 5);
        apply(&t, game, &q, &mut [0.0; 25], &mut fq);
        assert!(sup_distance(fq.values(), q.values()) < 1e-12);
    }
}
