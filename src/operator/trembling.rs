//! The trembling-hand policy and its value.
//!
//! # Formula
//! ```text
//! a*(s)        = lowest argmax_a Q(s, a)
//! π^ε_Q(s, a)  = 1 − ε             if a = a*(s)
//!              = ε / (|A| − 1)     otherwise          (with |A| = 1: π = 1 on the only action)
//! G(Q)(s)      = Σ_a π^ε_Q(s, a) Q(s, a)
//! ```

use crate::space::{Policy, QTable};

/// Lowest index of a maximum of `row` (ties go to the lowest action).
///
/// # Panics
/// When `row` is empty.
#[inline]
pub fn greedy_action(row: &[f64]) -> usize {
    assert!(!row.is_empty(), "greedy_action of an empty row");
    let mut best = 0;
    for (a, v) in row.iter().enumerate().skip(1) {
        if *v > row[best] {
            best = a;
        }
    }
    best
}

/// (weight on the greedy action, weight on each other action) for ε and |A|.
#[inline]
pub fn weights(epsilon: f64, num_actions: usize) -> (f64, f64) {
    if num_actions <= 1 {
        (1.0, 0.0)
    } else {
        (1.0 - epsilon, epsilon / (num_actions - 1) as f64)
    }
}

/// G(Q)(s) for one row: the value of the trembling-hand policy at s.
#[inline]
pub fn g_value(row: &[f64], epsilon: f64) -> f64 {
    let best = greedy_action(row);
    let (wg, wo) = weights(epsilon, row.len());
    let others: f64 = row
        .iter()
        .enumerate()
        .filter(|(a, _)| *a != best)
        .map(|(_, v)| v)
        .sum();
    wg * row[best] + wo * others
}

/// Writes G(Q)(s) for every s into `out`.
pub fn g_values(q: &QTable, epsilon: f64, out: &mut [f64]) {
    for (o, row) in out.iter_mut().zip(q.rows()) {
        *o = g_value(row, epsilon);
    }
}

/// Fills `policy` with π^ε_Q (probabilities and greedy actions), reusing its storage.
pub fn write_trembling_policy(q: &QTable, epsilon: f64, policy: &mut Policy) {
    let na = q.num_actions();
    let (wg, wo) = weights(epsilon, na);
    for (s, row) in q.rows().enumerate() {
        let best = greedy_action(row);
        policy.greedy_mut()[s] = best;
        let out = &mut policy.probs_mut()[s * na..(s + 1) * na];
        out.fill(wo);
        out[best] = wg;
    }
}

/// π^ε_Q as a new [`Policy`].
pub fn trembling_policy(q: &QTable, epsilon: f64) -> Policy {
    let mut p = Policy::uniform(q.num_states(), q.num_actions());
    write_trembling_policy(q, epsilon, &mut p);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_lowest_action() {
        assert_eq!(greedy_action(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(greedy_action(&[5.0, 5.0]), 0);
    }

    #[test]
    fn policy_rows_have_the_tremble() {
        let mut q = QTable::zeros(2, 4);
        q.values_mut()
            .copy_from_slice(&[0.0, 2.0, 1.0, 2.0, -1.0, -3.0, -2.0, -5.0]);
        let p = trembling_policy(&q, 0.3);
        assert_eq!(p.greedy(), vec![1, 0]);
        let o = 0.3 / 3.0;
        assert_eq!(p.row(0), &[o, 0.7, o, o]);
        assert_eq!(p.row(1), &[0.7, o, o, o]);
        let g = g_value(q.row(0), 0.3);
        assert!((g - (0.7 * 2.0 + 0.1 * 3.0)).abs() < 1e-15);
    }

    #[test]
    fn single_action_gets_all_mass() {
        let q = QTable::zeros(3, 1);
        let p = trembling_policy(&q, 0.5);
        assert_eq!(p.probs(), vec![1.0; 3]);
    }

    #[test]
    #[should_panic(expected = "empty row")]
    fn empty_row_panics() {
        greedy_action(&[]);
    }
}
