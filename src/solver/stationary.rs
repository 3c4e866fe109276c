//! The stationary mean field z_μ of a strategy: a fixed point of z ↦ Φ(z, μ).
//!
//! # Formula
//! ```text
//! z_{j+1} = Φ(z_j, μ)                    (the first half of the budget)
//! z_{j+1} = (z_j + Φ(z_j, μ)) / 2        (then, if it has not settled: same fixed points)
//! stop when ||Φ(z_j, μ) − z_j||_1 < STATIONARY_TOL
//! ```
//! The kernel depends on z, so Φ(·, μ) may have several fixed points: z_μ is the one reached
//! from the given start (the solvers start from the mean field at hand).

use crate::model::{KernelTables, Model};
use crate::operator::phi;
use crate::space::{l1_distance, Policy};

/// ||Φ(z, μ) − z||_1 at which z counts as stationary. 1e-12.
pub const STATIONARY_TOL: f64 = 1e-12;

/// Cap on applications of Φ(·, μ) when looking for z_μ. 100 000.
pub const STATIONARY_MAX_ITERATIONS: usize = 100_000;

/// z_μ, the stationary mean field of `policy` reached from `z0` (see the module docs), or
/// `None` when Φ(·, μ) does not settle within [`STATIONARY_MAX_ITERATIONS`] steps.
///
/// # Panics
/// When the sizes of `policy` and `z0` disagree with the model's.
pub fn stationary_mean_field(
    model: &(impl Model + ?Sized),
    policy: &Policy,
    z0: &[f64],
) -> Option<Vec<f64>> {
    let mut tables = KernelTables::new(model.num_states(), model.num_actions());
    let mut next = vec![0.0; z0.len()];
    settle(model, policy, z0, &mut tables, &mut next)
}

/// [`stationary_mean_field`] with caller-owned scratch (`tables`, `next` of length |S|).
pub(super) fn settle(
    model: &(impl Model + ?Sized),
    policy: &Policy,
    z0: &[f64],
    tables: &mut KernelTables,
    next: &mut [f64],
) -> Option<Vec<f64>> {
    fixed_point(z0, next, |z, out| {
        model.fill_tables(z, tables);
        phi(tables, z, policy, out);
    })
}

/// The stationary law of the Markov chain of one agent playing `policy` under the kernel
/// frozen in `tables` (built at some mean field z): x = Σ_s Σ_a x(s) μ(s,a) P(·|s,a,z),
/// reached by power iteration from `x0` (as [`stationary_mean_field`]: the second half of
/// the budget averages x with its image, which keeps the fixed points and damps a periodic
/// chain), or `None` when it does not settle within [`STATIONARY_MAX_ITERATIONS`] steps.
pub(super) fn frozen_stationary(
    tables: &KernelTables,
    policy: &Policy,
    x0: &[f64],
    next: &mut [f64],
) -> Option<Vec<f64>> {
    fixed_point(x0, next, |x, out| phi(tables, x, policy, out))
}

/// Iterates x ← f(x) from `x0` (then x ← (x + f(x))/2 for the second half of the budget)
/// until ||f(x) − x||_1 < [`STATIONARY_TOL`]; `None` after [`STATIONARY_MAX_ITERATIONS`].
fn fixed_point(
    x0: &[f64],
    next: &mut [f64],
    mut f: impl FnMut(&[f64], &mut [f64]),
) -> Option<Vec<f64>> {
    let mut x = x0.to_vec();
    for j in 0..STATIONARY_MAX_ITERATIONS {
        f(&x, next);
        if l1_distance(next, &x) < STATIONARY_TOL {
            return Some(x);
        }
        if j < STATIONARY_MAX_ITERATIONS / 2 {
            x.copy_from_slice(next);
        } else {
            for (xs, n) in x.iter_mut().zip(next.iter()) {
                *xs = 0.5 * (*xs + n);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GameParams, Infection};
    use crate::solver::{solve, SolverParams, Start};

    #[test]
    fn the_stationary_mean_field_of_the_tmfe_strategy_is_z_star() {
        let m = Infection::default();
        let sol = solve(
            &m,
            GameParams::default(),
            &SolverParams::default(),
            &Start::Uniform,
        )
        .unwrap();
        let zm = stationary_mean_field(&m, &sol.policy, &crate::space::uniform(25)).unwrap();
        assert!(
            l1_distance(&zm, &sol.z) < 1e-9,
            "{}",
            l1_distance(&zm, &sol.z)
        );
        // And it is a fixed point of Φ(·, μ).
        let t = KernelTables::of(&m, &zm);
        let mut out = vec![0.0; 25];
        phi(&t, &zm, &sol.policy, &mut out);
        assert!(l1_distance(&out, &zm) < STATIONARY_TOL);
    }
}
