//! Vose alias tables, several rows in one flat array, sampled with one u64 each.
//!
//! # Formula
//! ```text
//! row with K outcomes o_j of weight w_j > 0, W = Σ_j w_j:
//!   build (Vose):  q_j = K·w_j / W; pair each q_l < 1 with some q_g ≥ 1:
//!                  threshold_l = q_l, alias_l = o_g, q_g ← (q_g + q_l) − 1;
//!                  columns left over get threshold 1 and alias = themselves
//!   sample:        x ~ U{0..2^64}; hi = x ≫ 32, lo = x mod 2^32
//!                  j = ⌊hi·K / 2^32⌋                        (column, multiply-shift)
//!                  outcome = o_j if lo < ⌊threshold_j·2^32⌉ else alias_j
//!   law:           P(o) = Σ_j n_j/2^32 · (t_j/2^32·[o_j = o] + (1 − t_j/2^32)·[alias_j = o])
//!                  n_j = #{hi : ⌊hi·K/2^32⌋ = j} ∈ {⌊2^32/K⌋, ⌈2^32/K⌉}, t_j the u32 threshold
//! ```
//! The high and low halves of x are independent, so the law is exactly the one above: the
//! target weights up to the rounding of thresholds and column counts to multiples of 2⁻³²
//! (an absolute error below K·2⁻³² per outcome; ~6·10⁻⁸ for the default infection model).
//! Zero-weight outcomes get no column, so they are never drawn.

use crate::population::StateCode;

/// What one draw from a step's tables yields: the next state and the packed action byte
/// (`a | REGEN_FLAG` when the agent regenerated, see [`crate::transition`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Outcome<T> {
    /// The next state s′.
    pub next: T,
    /// The packed action byte.
    pub action: u8,
}

/// One alias column: keep `keep` when the low half of the draw is below `threshold`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Entry<T> {
    pub(crate) threshold: u32,
    pub(crate) keep: Outcome<T>,
    pub(crate) alias: Outcome<T>,
}

/// Where a row's columns are in the flat entry array.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

/// Why a row could not be built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RowError {
    /// The weights sum to zero, or to something not finite.
    BadTotal(f64),
    /// More columns than a u32 index can address.
    TooLarge,
}

/// Alias tables for several rows; allocated once, rebuilt in place.
#[derive(Debug, Clone, Default)]
pub(crate) struct AliasRows<T> {
    spans: Vec<Span>,
    entries: Vec<Entry<T>>,
    // Scratch for building a row, kept to avoid per-step allocation.
    pending: Vec<(Outcome<T>, f64)>,
    scaled: Vec<f64>,
    small: Vec<u32>,
    large: Vec<u32>,
}

/// ⌊q·2^32⌉ as a u32 threshold, for q ∈ [0, 1).
#[inline]
fn threshold_of(q: f64) -> u32 {
    let t = (q * 4_294_967_296.0).round();
    if t >= u32::MAX as f64 {
        u32::MAX
    } else {
        t as u32
    }
}

impl<T: StateCode> AliasRows<T> {
    /// Drops all rows and any weights pushed for an unfinished row (keeps the allocations).
    pub(crate) fn clear(&mut self) {
        self.spans.clear();
        self.entries.clear();
        self.pending.clear();
    }

    /// Number of rows.
    pub(crate) fn num_rows(&self) -> usize {
        self.spans.len()
    }

    /// Number of columns of `row` (outcomes of positive weight).
    pub(crate) fn row_len(&self, row: usize) -> usize {
        self.spans[row].len as usize
    }

    /// Appends the weight of one outcome to the row being built; zero weights are dropped.
    #[inline]
    pub(crate) fn push_weight(&mut self, outcome: Outcome<T>, weight: f64) {
        if weight > 0.0 {
            self.pending.push((outcome, weight));
        }
    }

    /// Turns the pushed weights into the next row (Vose's method, see the module docs).
    pub(crate) fn finish_row(&mut self) -> Result<(), RowError> {
        let k = self.pending.len();
        let total: f64 = self.pending.iter().map(|(_, w)| w).sum();
        if !(total > 0.0 && total.is_finite()) {
            self.pending.clear();
            return Err(RowError::BadTotal(total));
        }
        let start = self.entries.len();
        if start + k > u32::MAX as usize {
            self.pending.clear();
            return Err(RowError::TooLarge);
        }
        self.scaled.clear();
        self.small.clear();
        self.large.clear();
        let scale = k as f64 / total;
        for (j, (o, w)) in self.pending.iter().enumerate() {
            let q = w * scale;
            self.scaled.push(q);
            if q < 1.0 {
                self.small.push(j as u32);
            } else {
                self.large.push(j as u32);
            }
            self.entries.push(Entry {
                threshold: u32::MAX,
                keep: *o,
                alias: *o,
            });
        }
        let row = &mut self.entries[start..];
        while let (Some(&l), Some(&g)) = (self.small.last(), self.large.last()) {
            self.small.pop();
            let (l, g) = (l as usize, g as usize);
            row[l].threshold = threshold_of(self.scaled[l]);
            row[l].alias = row[g].keep;
            let rest = (self.scaled[g] + self.scaled[l]) - 1.0;
            self.scaled[g] = rest;
            if rest < 1.0 {
                self.large.pop();
                self.small.push(g as u32);
            }
        }
        // Leftovers (q = 1 up to rounding) keep threshold u32::MAX and alias = themselves,
        // so they yield their own outcome for every draw.
        self.pending.clear();
        self.spans.push(Span {
            start: start as u32,
            len: k as u32,
        });
        Ok(())
    }

    /// The outcome of `row` for the draw `x` (see the module docs).
    ///
    /// # Panics
    /// When `row` does not exist.
    #[inline(always)]
    pub(crate) fn sample(&self, row: usize, x: u64) -> Outcome<T> {
        let span = self.spans[row];
        let col = ((x >> 32) * u64::from(span.len)) >> 32;
        let e = &self.entries[span.start as usize + col as usize];
        if (x as u32) < e.threshold {
            e.keep
        } else {
            e.alias
        }
    }

    /// The exact law of [`AliasRows::sample`] on `row` under a uniform u64, outcome by
    /// outcome (sorted, merged). Used by tests to check a table against its target weights.
    #[cfg(test)]
    pub(crate) fn implied_law(&self, row: usize) -> Vec<(Outcome<T>, f64)> {
        let span = self.spans[row];
        let k = u128::from(span.len);
        let two32 = 1u128 << 32;
        let ceil_div = |a: u128| a.div_ceil(k);
        let mut law: std::collections::BTreeMap<Outcome<T>, f64> = Default::default();
        for j in 0..span.len as usize {
            let e = &self.entries[span.start as usize + j];
            let jj = j as u128;
            let n_j = (ceil_div((jj + 1) * two32) - ceil_div(jj * two32)) as f64;
            let p_col = n_j / two32 as f64;
            let p_keep = f64::from(e.threshold) / two32 as f64;
            *law.entry(e.keep).or_default() += p_col * p_keep;
            *law.entry(e.alias).or_default() += p_col * (1.0 - p_keep);
        }
        law.into_iter().filter(|(_, p)| *p > 0.0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(next: u8, action: u8) -> Outcome<u8> {
        Outcome { next, action }
    }

    fn build(weights: &[f64]) -> AliasRows<u8> {
        let mut t = AliasRows::default();
        for (i, w) in weights.iter().enumerate() {
            t.push_weight(o(i as u8, 0), *w);
        }
        t.finish_row().unwrap();
        t
    }

    #[test]
    fn implied_law_matches_weights() {
        let cases: [&[f64]; 5] = [
            &[1.0],
            &[0.5, 0.5],
            &[0.1, 0.0, 0.6, 0.3],
            &[1e-9, 1.0 - 1e-9],
            &[3.0, 1.0, 1.0, 7.0, 0.25, 0.0, 11.0],
        ];
        for w in cases {
            let t = build(w);
            let total: f64 = w.iter().sum();
            let law = t.implied_law(0);
            let nonzero = w.iter().filter(|x| **x > 0.0).count();
            assert_eq!(law.len(), nonzero, "{w:?}: zero weights must get no mass");
            for (out, p) in law {
                let target = w[out.next as usize] / total;
                assert!((p - target).abs() < 1e-9, "{w:?}: {out:?} {p} vs {target}");
            }
        }
    }

    #[test]
    fn many_columns_and_rows() {
        let mut t = AliasRows::<u8>::default();
        for r in 0..3 {
            for i in 0..250u32 {
                let w = f64::from((i * 7919 + r * 31) % 101);
                t.push_weight(o((i % 256) as u8, (i / 256) as u8), w);
            }
            t.finish_row().unwrap();
        }
        assert_eq!(t.num_rows(), 3);
        for r in 0..3u32 {
            let total: f64 = (0..250u32)
                .map(|i| f64::from((i * 7919 + r * 31) % 101))
                .sum();
            for (out, p) in t.implied_law(r as usize) {
                let i = u32::from(out.next);
                let target = f64::from((i * 7919 + r * 31) % 101) / total;
                assert!((p - target).abs() < 250.0 / 4_294_967_296.0);
            }
        }
    }

    #[test]
    fn extreme_draws_stay_in_the_row() {
        let t = build(&[0.2, 0.3, 0.5]);
        for x in [0, 1, u64::MAX, u64::MAX - 1, 1 << 63, u32::MAX as u64] {
            assert!(t.sample(0, x).next < 3);
        }
    }

    #[test]
    fn rejects_empty_or_bad_rows() {
        let mut t = AliasRows::<u8>::default();
        assert_eq!(t.finish_row(), Err(RowError::BadTotal(0.0)));
        t.push_weight(o(0, 0), f64::INFINITY);
        assert!(matches!(t.finish_row(), Err(RowError::BadTotal(_))));
        assert_eq!(t.num_rows(), 0);
    }
}
