//! Exact policy evaluation and exploitability at a fixed mean field z.
//!
//! # Formula
//! ```text
//! V_{μ,z}   solves  V = r_μ + γ P_μ V,   r_μ(s) = Σ_a μ(s,a) r(s,a,z),
//!                                        P_μ(s,s') = Σ_a μ(s,a) P(s'|s,a,z)
//! V*_z(s)   = G(Q*_z)(s)                 (best trembling-hand value)
//! exploitability          = max_s (V*_z(s) − V_{μ,z}(s))
//! exploitability_weighted = Σ_s z(s) (V*_z(s) − V_{μ,z}(s))
//! ```
//! Evaluation solves the |S|×|S| linear system directly (Gaussian elimination with partial
//! pivoting) up to [`DIRECT_SOLVE_MAX_STATES`] states and iterates the Bellman operator to
//! 1e-13 beyond that.

use super::dot;
use super::trembling::g_value;
use crate::model::{GameParams, KernelTables};
use crate::space::{Policy, QTable};

/// Largest |S| evaluated by a direct solve.
pub const DIRECT_SOLVE_MAX_STATES: usize = 1024;

/// Exploitability of a strategy μ at a mean field z.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Exploitability {
    /// max_s (V*_z(s) − V_{μ,z}(s)) ≥ 0 (up to solver tolerance).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub max: f64,
    /// Σ_s z(s)(V*_z(s) − V_{μ,z}(s)).
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub weighted: f64,
}

/// V_{μ,z}: the value of following μ forever while the mean field stays at z.
///
/// # Panics
/// When the sizes of `tables` and `policy` disagree.
pub fn policy_value(tables: &KernelTables, game: GameParams, policy: &Policy) -> Vec<f64> {
    let (ns, na) = (tables.num_states(), tables.num_actions());
    assert!(
        policy.num_states() == ns && policy.num_actions() == na,
        "policy_value: sizes disagree"
    );
    // r_μ and P_μ.
    let mut r = vec![0.0; ns];
    let mut p = vec![0.0; ns * ns];
    for s in 0..ns {
        for a in 0..na {
            let w = policy.get(s, a);
            if w == 0.0 {
                continue;
            }
            r[s] += w * tables.r(s, a);
            for (dst, src) in p[s * ns..(s + 1) * ns].iter_mut().zip(tables.row(s, a)) {
                *dst += w * src;
            }
        }
    }
    if ns <= DIRECT_SOLVE_MAX_STATES {
        // (I − γ P_μ) V = r_μ.
        for (i, v) in p.iter_mut().enumerate() {
            *v *= -game.gamma;
            if i / ns == i % ns {
                *v += 1.0;
            }
        }
        solve_dense(&mut p, &mut r, ns);
        r
    } else {
        let mut v = vec![0.0; ns];
        let mut next = vec![0.0; ns];
        for _ in 0..1_000_000 {
            for (s, n) in next.iter_mut().enumerate() {
                *n = r[s] + game.gamma * dot(&p[s * ns..(s + 1) * ns], &v);
            }
            let change = crate::space::sup_distance(&next, &v);
            std::mem::swap(&mut v, &mut next);
            if change < 1e-13 {
                break;
            }
        }
        v
    }
}

/// Solves `a x = b` in place (`b` becomes x) by Gaussian elimination with partial pivoting.
/// `a` is n×n row-major and is destroyed. The matrix I − γP is strictly diagonally dominant,
/// so it is never singular here.
fn solve_dense(a: &mut [f64], b: &mut [f64], n: usize) {
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap_or(col);
        if pivot != col {
            for k in 0..n {
                a.swap(col * n + k, pivot * n + k);
            }
            b.swap(col, pivot);
        }
        let d = a[col * n + col];
        for row in col + 1..n {
            let f = a[row * n + col] / d;
            if f == 0.0 {
                continue;
            }
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            b[row] -= f * b[col];
        }
    }
    for row in (0..n).rev() {
        let mut acc = b[row];
        for k in row + 1..n {
            acc -= a[row * n + k] * b[k];
        }
        b[row] = acc / a[row * n + row];
    }
}

/// Exploitability of `policy` at mean field `z`, given Q*_z (from TQ-value iteration at z).
///
/// An exploitability is never negative; a negative difference (rounding, or Q*_z's own
/// error, which is within the tolerance Q*_z was computed to) is reported as 0, and −0.0
/// as 0. NaN passes through, so a broken table is never hidden.
pub fn exploitability(
    tables: &KernelTables,
    game: GameParams,
    policy: &Policy,
    z: &[f64],
    q_star: &QTable,
) -> Exploitability {
    let v_mu = policy_value(tables, game, policy);
    let mut max = f64::NEG_INFINITY;
    let mut weighted = 0.0;
    for (s, (vm, zs)) in v_mu.iter().zip(z).enumerate() {
        let gap = g_value(q_star.row(s), game.epsilon) - vm;
        max = max.max(gap);
        weighted += zs * gap;
    }
    let floor = |x: f64| if x <= 0.0 { 0.0 } else { x };
    Exploitability {
        max: floor(max),
        weighted: floor(weighted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Gig, Model};
    use crate::operator::{trembling_policy, TqIteration};

    #[test]
    fn value_of_the_trembling_best_response_is_g_of_q_star() {
        let m = Gig::default();
        let z = crate::space::uniform(m.num_states());
        let t = KernelTables::of(&m, &z);
        let game = GameParams::default();
        let mut q = QTable::zeros(10, 4);
        TqIteration::new().run(&t, game, &mut q, 1e-14, 100_000);
        let pi = trembling_policy(&q, game.epsilon);
        let v = policy_value(&t, game, &pi);
        for (s, vs) in v.iter().enumerate() {
            assert!((vs - g_value(q.row(s), game.epsilon)).abs() < 1e-11);
        }
        let e = exploitability(&t, game, &pi, &z, &q);
        assert!(e.max.abs() < 1e-11 && e.weighted.abs() < 1e-11, "{e:?}");
        // Issue 20: a Q* a little below the truth gave −1e-12 (printed and stored as is).
        let mut low = q.clone();
        low.values_mut().iter_mut().for_each(|x| *x -= 1e-9);
        let e = exploitability(&t, game, &pi, &z, &low);
        assert!(
            e.max == 0.0 && e.weighted == 0.0 && !e.max.is_sign_negative(),
            "{e:?}"
        );
        assert!(!e.weighted.is_sign_negative(), "{e:?}");
        // A worse policy (uniform) is exploitable.
        let bad = crate::space::Policy::uniform(10, 4);
        let e = exploitability(&t, game, &bad, &z, &q);
        assert!(e.max > 0.01 && e.weighted > 0.0, "{e:?}");
    }
}
