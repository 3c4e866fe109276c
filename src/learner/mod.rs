//! Learners that turn sampled transitions into strategies.
//!
//! A learner never sees the model: it reads the transitions (s, a, s′) of one population step
//! through a [`TransitionSource`], takes the rewards r(s, a, ẑ) from the step's
//! [`KernelTables`] (ẑ = the empirical mean field the step was taken at) and returns a
//! strategy μ. The transition kernel in the tables is *not* used by learners; it is there for
//! the rewards and for the caller's diagnostics.
//!
//! * [`tq`]: TQ-learning (eq. 6 of Lee et al. 2021), the learning step of online TMFQ;
//! * [`online_tmfq`]: online TMFQ (Algorithm 3): population step → buffer → TQ-learning.

pub mod online_tmfq;
pub mod tq;

pub use tq::{LearnStats, TqLearner, TqLearnerParams};

pub use crate::transition::TransitionSource;

use crate::model::KernelTables;

/// A [`TransitionSource`] backed by a `Vec`: for tests, examples and small experiments.
#[derive(Debug, Clone, PartialEq)]
pub struct VecTransitions {
    /// The transitions `(s, a, s′)`, in buffer order.
    pub transitions: Vec<(usize, usize, usize)>,
    /// The tables at the mean field the transitions were sampled at.
    pub tables: KernelTables,
}

impl VecTransitions {
    /// An empty buffer with the given tables.
    pub fn new(tables: KernelTables) -> Self {
        VecTransitions {
            transitions: Vec::new(),
            tables,
        }
    }
}

impl TransitionSource for VecTransitions {
    #[inline]
    fn len(&self) -> usize {
        self.transitions.len()
    }

    #[inline]
    fn get(&self, i: usize) -> (usize, usize, usize) {
        self.transitions[i]
    }

    fn tables(&self) -> &KernelTables {
        &self.tables
    }
}
