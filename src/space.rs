//! Dense tables over states and actions: Q-values and stochastic policies.
//!
//! Both are row-major in (s, a): entry `s·A + a`. A mean field is a plain `&[f64]` of length
//! |S| on the probability simplex; helpers for it ([`l1_distance`], [`wasserstein1`],
//! [`uniform`], …) live here.

/// A table Q(s, a), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct QTable {
    num_states: usize,
    num_actions: usize,
    /// Q(s, a) at index `s·A + a`; always |S|·|A| entries.
    values: Vec<f64>,
}

impl QTable {
    /// All-zero table.
    pub fn zeros(num_states: usize, num_actions: usize) -> Self {
        QTable {
            num_states,
            num_actions,
            values: vec![0.0; num_states * num_actions],
        }
    }

    /// Q(s, a) at index `s·A + a` (row-major, |S|·|A| entries).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// As [`QTable::values`], writable (the length cannot change).
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// Exchanges the values with `other` (a scratch table of the same length, e.g. the next
    /// sweep's), without copying.
    ///
    /// # Panics
    /// When the lengths differ.
    pub fn swap_values(&mut self, other: &mut Vec<f64>) {
        assert_eq!(other.len(), self.values.len(), "Q needs |S|·|A| values");
        std::mem::swap(&mut self.values, other);
    }

    /// A table from its row-major values.
    ///
    /// # Panics
    /// When `values.len() != num_states · num_actions`.
    pub fn from_values(num_states: usize, num_actions: usize, values: Vec<f64>) -> Self {
        assert_eq!(
            values.len(),
            num_states * num_actions,
            "Q needs |S|·|A| values"
        );
        QTable {
            num_states,
            num_actions,
            values,
        }
    }

    /// |S|.
    pub fn num_states(&self) -> usize {
        self.num_states
    }

    /// |A|.
    pub fn num_actions(&self) -> usize {
        self.num_actions
    }

    /// The row Q(s, ·).
    #[inline]
    pub fn row(&self, s: usize) -> &[f64] {
        &self.values[s * self.num_actions..(s + 1) * self.num_actions]
    }

    /// Q(s, a).
    #[inline]
    pub fn get(&self, s: usize, a: usize) -> f64 {
        self.values[s * self.num_actions + a]
    }

    /// Iterator over rows.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f64> {
        self.values.chunks_exact(self.num_actions)
    }
}

/// A stochastic policy μ(s, a), row-major, with its greedy (highest-probability) action per
/// state.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    num_states: usize,
    num_actions: usize,
    /// μ(s, a) at index `s·A + a`; each row sums to 1.
    probs: Vec<f64>,
    /// The action that received 1 − ε in each state (the most likely one of a mixture).
    greedy: Vec<usize>,
}

impl Policy {
    /// A policy with every row uniform and greedy action 0 (a neutral placeholder).
    pub fn uniform(num_states: usize, num_actions: usize) -> Self {
        Policy {
            num_states,
            num_actions,
            probs: vec![1.0 / num_actions as f64; num_states * num_actions],
            greedy: vec![0; num_states],
        }
    }

    /// |S|.
    pub fn num_states(&self) -> usize {
        self.num_states
    }

    /// |A|.
    pub fn num_actions(&self) -> usize {
        self.num_actions
    }

    /// μ(s, a) at index `s·A + a` (row-major; each row on the simplex).
    pub fn probs(&self) -> &[f64] {
        &self.probs
    }

    /// The action that receives 1 − ε in each state (the most likely one of a mixture).
    pub fn greedy(&self) -> &[usize] {
        &self.greedy
    }

    /// The rows, writable, for the crate's writers of trembling-hand and mixed strategies
    /// (which keep each row on the simplex and [`Policy::greedy`] its argmax).
    pub(crate) fn probs_mut(&mut self) -> &mut [f64] {
        &mut self.probs
    }

    /// The greedy actions, writable, for the same writers as [`Policy::probs_mut`].
    pub(crate) fn greedy_mut(&mut self) -> &mut [usize] {
        &mut self.greedy
    }

    /// The row μ(s, ·).
    #[inline]
    pub fn row(&self, s: usize) -> &[f64] {
        &self.probs[s * self.num_actions..(s + 1) * self.num_actions]
    }

    /// μ(s, a).
    #[inline]
    pub fn get(&self, s: usize, a: usize) -> f64 {
        self.probs[s * self.num_actions + a]
    }

    /// A policy from its rows `probs` (`s·A + a`, each row on the simplex), with `greedy` the
    /// highest-probability action per state (ties to the lowest): for a mixture of
    /// trembling-hand strategies, the action the mixture plays most.
    ///
    /// # Panics
    /// When `probs.len() != num_states·num_actions` or `num_actions == 0`.
    pub fn from_probs(num_states: usize, num_actions: usize, probs: Vec<f64>) -> Self {
        assert!(
            num_actions > 0 && probs.len() == num_states * num_actions,
            "Policy::from_probs: sizes disagree"
        );
        let greedy = probs
            .chunks_exact(num_actions)
            .map(|row| {
                // Lowest index of the maximum.
                (1..row.len()).fold(0, |best, a| if row[a] > row[best] { a } else { best })
            })
            .collect();
        Policy {
            num_states,
            num_actions,
            probs,
            greedy,
        }
    }

    /// True when every row is a trembling-hand row π^ε: 1 − ε on one action and ε/(|A| − 1)
    /// on each other (within `tol`), i.e. μ ∈ Π^ε rather than a mixture of its members.
    pub fn is_trembling(&self, epsilon: f64, tol: f64) -> bool {
        let (wg, wo) = if self.num_actions <= 1 {
            (1.0, 0.0)
        } else {
            (1.0 - epsilon, epsilon / (self.num_actions - 1) as f64)
        };
        (0..self.num_states).all(|s| {
            let g = self.greedy[s];
            self.row(s).iter().enumerate().all(|(a, &p)| {
                let want = if a == g { wg } else { wo };
                (p - want).abs() <= tol
            })
        })
    }
}

/// ||x − y||_1. Summed in index order.
pub fn l1_distance(x: &[f64], y: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    x.iter().zip(y).map(|(a, b)| (a - b).abs()).sum()
}

/// The Wasserstein-1 (earth mover's) distance between two distributions on the ordered states
/// 0, 1, …, S − 1 with unit spacing.
///
/// # Formula
/// ```text
/// W1(x, y) = min over couplings π of x and y of Σ_{s,t} π(s, t)·|s − t|
///          = Σ_{t=0}^{S−2} |F_x(t) − F_y(t)|,        F_x(t) = Σ_{s≤t} x(s)
/// ```
/// (on the line the optimal coupling is the quantile coupling, so W1 is the area between the
/// CDFs; the CDFs agree at t = S − 1 and that term is omitted). The CDFs are summed in index
/// order; the result is symmetric in its arguments bit for bit, and 0 for equal arguments.
///
/// With L1 = ‖x − y‖₁ and S states: L1/2 ≤ W1 ≤ (S − 1)·L1/2. Each term |F_x(t) − F_y(t)|
/// is the difference of the masses of {0, …, t}, at most the total variation L1/2, which
/// gives the upper bound; states are integers, so |s − t| ≥ 1 wherever s ≠ t and W1 is at
/// least the least P(X ≠ Y) over couplings, the total variation L1/2. The L1 distance
/// ignores how far mass moves; W1 counts each unit of mass times the states it moves.
pub fn wasserstein1(x: &[f64], y: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    let (mut fx, mut fy, mut w) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y).take(x.len().saturating_sub(1)) {
        fx += a;
        fy += b;
        w += (fx - fy).abs();
    }
    w
}

/// ||x − y||_∞.
pub fn sup_distance(x: &[f64], y: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    // NaN propagates (`f64::max` would drop it and report a NaN table as converged).
    x.iter().zip(y).fold(0.0, |m: f64, (a, b)| {
        let d = (a - b).abs();
        if d > m || d.is_nan() {
            d
        } else {
            m
        }
    })
}

/// The uniform distribution on `n` states.
pub fn uniform(n: usize) -> Vec<f64> {
    vec![1.0 / n as f64; n]
}

/// The point mass on state `s` among `n` states.
pub fn point_mass(n: usize, s: usize) -> Vec<f64> {
    let mut z = vec![0.0; n];
    z[s] = 1.0;
    z
}

/// True when `z` is on the simplex: entries ≥ −`tol` and sum within `tol` of 1.
pub fn on_simplex(z: &[f64], tol: f64) -> bool {
    z.iter().all(|p| p.is_finite() && *p >= -tol) && (z.iter().sum::<f64>() - 1.0).abs() <= tol
}

/// True when `lo ⪯ hi` in first-order stochastic dominance: for every threshold t,
/// Σ_{s ≥ t} lo(s) ≤ Σ_{s ≥ t} hi(s) + `tol`.
pub fn stochastically_le(lo: &[f64], hi: &[f64], tol: f64) -> bool {
    let (mut tail_lo, mut tail_hi) = (0.0, 0.0);
    for (l, h) in lo.iter().zip(hi).rev() {
        tail_lo += l;
        tail_hi += h;
        if tail_lo > tail_hi + tol {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasserstein1_of_point_masses_at_the_ends_is_the_span() {
        for n in [1, 2, 5, 25] {
            let (lo, hi) = (point_mass(n, 0), point_mass(n, n - 1));
            assert_eq!(wasserstein1(&lo, &hi), (n - 1) as f64, "{n} states");
        }
        // Between point masses at s and t: |s − t|.
        assert_eq!(wasserstein1(&point_mass(10, 2), &point_mass(10, 7)), 5.0);
    }

    #[test]
    fn wasserstein1_of_equal_distributions_is_zero() {
        let z = [0.1, 0.2, 0.3, 0.4];
        assert_eq!(wasserstein1(&z, &z), 0.0);
        assert_eq!(wasserstein1(&uniform(7), &uniform(7)), 0.0);
        assert_eq!(wasserstein1(&[], &[]), 0.0);
    }

    #[test]
    fn wasserstein1_by_hand_and_symmetric() {
        // F_x = (0.5, 1.0), F_y = (0, 0.5): 0.5 + 0.5.
        let (x, y) = ([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]);
        assert_eq!(wasserstein1(&x, &y), 1.0);
        // F_x = (0.25, 0.75, 0.75), F_y = (0.25, 0.25, 1.0): 0 + 0.5 + 0.25; L1 = 1.5.
        let (x, y) = ([0.25, 0.5, 0.0, 0.25], [0.25, 0.0, 0.75, 0.0]);
        assert_eq!(wasserstein1(&x, &y), 0.75);
        assert_eq!(l1_distance(&x, &y), 1.5);
        let pairs: [(&[f64], &[f64]); 3] = [
            (&x, &y),
            (&[0.1, 0.2, 0.3, 0.4], &[0.4, 0.3, 0.2, 0.1]),
            (&[0.7, 0.0, 0.3, 0.0], &[0.05, 0.15, 0.6, 0.2]),
        ];
        for (a, b) in pairs {
            let (ab, ba) = (wasserstein1(a, b), wasserstein1(b, a));
            assert_eq!(ab.to_bits(), ba.to_bits(), "{a:?} {b:?}");
            // L1/2 ≤ W1 ≤ (S − 1)·L1/2.
            let half = l1_distance(a, b) / 2.0;
            assert!(half <= ab + 1e-15 && ab <= (a.len() - 1) as f64 * half + 1e-15);
        }
    }
}
