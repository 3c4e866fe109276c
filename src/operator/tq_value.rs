//! The TQ-value operator F_z and TQ-value iteration at a fixed mean field z.
//!
//! # Formula
//! ```text
//! F_z(Q)(s, a) = r(s, a, z) + γ Σ_s' P(s' | s, a, z) G(Q)(s')
//! ```
//! F_z is a γ-contraction in the sup norm, so iterating it from any Q converges to the unique
//! fixed point Q*_z. Iteration stops when ||F_z(Q) − Q||_∞ < tol; then
//! ||Q − Q*_z||_∞ ≤ γ·tol/(1 − γ).

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
}

/// One application of F_z: `out = F_z(q)`. `g` is scratch of length |S|.
///
/// # Panics
/// When the sizes of `tables`, `q`, `g` and `out` disagree.
pub fn apply(tables: &KernelTables, game: GameParams, q: &QTable, g: &mut [f64], out: &mut QTable) {
    let (ns, na) = (tables.num_states(), tables.num_actions());
    assert!(
        q.num_states() == ns && q.num_actions() == na && out.values.len() == ns * na,
        "F_z: table sizes disagree"
    );
    assert_eq!(g.len(), ns, "F_z: scratch has the wrong length");
    g_values(q, game.epsilon, g);
    for (i, (o, r)) in out.values.iter_mut().zip(&tables.reward).enumerate() {
        let row = &tables.kernel[i * ns..(i + 1) * ns];
        *o = r + game.gamma * dot(row, g);
    }
}

/// TQ-value iteration with reusable scratch buffers (allocated once per size).
#[derive(Debug, Clone, Default)]
pub struct TqIteration {
    g: Vec<f64>,
    next: Option<QTable>,
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
        let (ns, na) = (tables.num_states(), tables.num_actions());
        self.g.resize(ns, 0.0);
        let next = match &mut self.next {
            Some(n) if n.num_states() == ns && n.num_actions() == na => n,
            slot => slot.insert(QTable::zeros(ns, na)),
        };
        let mut residual = f64::INFINITY;
        let mut sweeps = 0;
        while sweeps < max_sweeps {
            apply(tables, game, q, &mut self.g, next);
            sweeps += 1;
            residual = sup_distance(&next.values, &q.values);
            std::mem::swap(q, next);
            if residual < tol {
                break;
            }
        }
        TqOutcome {
            sweeps,
            residual,
            converged: residual < tol,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Infection, Model};

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
        assert!(sup_distance(&fq.values, &q.values) < 1e-12);
    }
}
