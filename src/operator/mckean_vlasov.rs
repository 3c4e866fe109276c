//! The McKean–Vlasov update of the mean field.
//!
//! # Formula
//! ```text
//! Φ(z, μ)(s') = Σ_s Σ_a z(s) μ(s, a) P(s' | s, a, z)
//! ```
//! where the kernel tables were built at the same z. Φ maps the simplex to itself.

use crate::model::KernelTables;
use crate::space::Policy;

/// Writes Φ(z, μ) into `out` (length |S|). Summation runs over s then a in index order.
///
/// # Panics
/// When the sizes of `tables`, `z`, `policy` and `out` disagree.
pub fn phi(tables: &KernelTables, z: &[f64], policy: &Policy, out: &mut [f64]) {
    let (ns, na) = (tables.num_states(), tables.num_actions());
    assert!(
        z.len() == ns && out.len() == ns && policy.num_states() == ns && policy.num_actions() == na,
        "Φ: sizes disagree"
    );
    out.fill(0.0);
    for (s, zs) in z.iter().enumerate() {
        if *zs == 0.0 {
            continue;
        }
        for (a, mu) in policy.row(s).iter().enumerate() {
            let w = zs * mu;
            if w == 0.0 {
                continue;
            }
            for (o, p) in out.iter_mut().zip(tables.row(s, a)) {
                *o += w * p;
            }
        }
    }
}
