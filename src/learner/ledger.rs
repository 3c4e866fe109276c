//! The sample ledger: what a learning algorithm drew and consumed, per iteration and in
//! total, so that the sample costs of different algorithms (the paper's Theorems 4 and 5)
//! can be compared on one scenario.

use serde::Serialize;

/// Samples drawn and updates made. Every algorithm fills the kinds it uses and leaves the
/// others at 0.
///
/// * `simulator_transitions`: (s, a, s′) drawn from a simulator at a *given* mean field
///   (TMFQ's inner loop and its Next-MF estimate);
/// * `real_transitions`: transitions of the real N-agent system handed to the learner, N per
///   population step (online TMFQ, IQL, MFQ), whether or not the learner reads all of them;
/// * `generative_samples`: next states drawn from a generative model P(·|s, a, z) for a chosen
///   (s, a) (GMBL's P̂);
/// * `tq_updates`: TQ-table entries updated: one per sampled update (eq. 6), and |S|·|A| per
///   sweep of exact TQ-value iteration on an estimated kernel (GMBL).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Ledger {
    /// Simulator transitions drawn at a given mean field.
    pub simulator_transitions: u64,
    /// Real (population) transitions handed to the learner.
    pub real_transitions: u64,
    /// Generative-model samples s′ ~ P(·|s, a, z).
    pub generative_samples: u64,
    /// TQ-table entry updates.
    pub tq_updates: u64,
}

impl Ledger {
    /// The field-wise sum (saturating).
    pub fn plus(self, o: Ledger) -> Ledger {
        Ledger {
            simulator_transitions: self
                .simulator_transitions
                .saturating_add(o.simulator_transitions),
            real_transitions: self.real_transitions.saturating_add(o.real_transitions),
            generative_samples: self.generative_samples.saturating_add(o.generative_samples),
            tq_updates: self.tq_updates.saturating_add(o.tq_updates),
        }
    }

    /// All samples of every kind (the updates are not samples).
    pub fn samples(&self) -> u64 {
        self.simulator_transitions
            .saturating_add(self.real_transitions)
            .saturating_add(self.generative_samples)
    }
}

impl std::ops::AddAssign for Ledger {
    fn add_assign(&mut self, o: Ledger) {
        *self = self.plus(o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_field_by_field_and_saturates() {
        let mut a = Ledger {
            simulator_transitions: 1,
            real_transitions: 2,
            generative_samples: 3,
            tq_updates: 4,
        };
        a += a;
        assert_eq!(a.simulator_transitions, 2);
        assert_eq!(a.tq_updates, 8);
        assert_eq!(a.samples(), 12);
        let big = Ledger {
            tq_updates: u64::MAX,
            ..Ledger::default()
        };
        assert_eq!(big.plus(big).tq_updates, u64::MAX);
    }
}
