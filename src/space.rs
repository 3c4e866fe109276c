//! Dense tables over states and actions: Q-values and stochastic policies.
//!
//! Both are row-major in (s, a): entry `s·A + a`. A mean field is a plain `&[f64]` of length
//! |S| on the probability simplex; helpers for it ([`l1_distance`], [`uniform`], …) live here.

/// A table Q(s, a), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct QTable {
    num_states: usize,
    num_actions: usize,
    /// Q(s, a) at index `s·A + a`.
    pub values: Vec<f64>,
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
    pub probs: Vec<f64>,
    /// The action that received 1 − ε in each state.
    pub greedy: Vec<usize>,
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

/// ||x − y||_∞.
pub fn sup_distance(x: &[f64], y: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    x.iter().zip(y).fold(0.0, |m, (a, b)| m.max((a - b).abs()))
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
