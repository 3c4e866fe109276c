//! Exact, allocation-free operators on dense tables at a fixed mean field.
//!
//! * [`trembling`]: the trembling-hand policy π^ε_Q and its value G(Q);
//! * [`tq_value`]: the TQ-value operator F_z and TQ-value iteration;
//! * [`mckean_vlasov`]: the population update Φ(z, μ);
//! * [`evaluation`]: exact policy evaluation and exploitability.
//!
//! All of them read a model through [`crate::model::KernelTables`] and are deterministic:
//! sums run in a fixed order.

pub mod evaluation;
pub mod mckean_vlasov;
pub mod tq_value;
pub mod trembling;

pub use evaluation::{exploitability, policy_value, Exploitability};
pub use mckean_vlasov::phi;
pub use tq_value::{TqIteration, TqOutcome};
pub use trembling::{g_value, greedy_action, trembling_policy};

/// Σ_i x_i·y_i with four interleaved partial sums (vectorises; fixed summation order).
#[inline]
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0.0f64; 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for k in 0..4 {
            acc[k] += a[k] * b[k];
        }
    }
    let mut tail = 0.0;
    for (a, b) in xr.iter().zip(yr) {
        tail += a * b;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}
