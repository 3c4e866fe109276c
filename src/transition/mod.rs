//! Compact transition buffer filled by the population step.
//!
//! One [`TransitionBuffer`] holds the N transitions (s, a, r, s′) of the last population
//! step, one per agent, in three columns of one length:
//!
//! ```text
//! column        type   bytes/agent (u8 states)   meaning
//! states        T      1                          s_i   = state of agent i at step k
//! actions       u8     1                          a_i | REGEN_FLAG if agent i regenerated
//! next_states   T      1                          s'_i  = state of agent i at step k + 1
//! reward        —      0                          r(s_i, a_i, z^N_k) = tables().r(s_i, a_i)
//! ```
//!
//! The reward is not stored: it is a function of (s, a) through the step's
//! [`KernelTables`], which the buffer keeps (refilled in place at each step). The same holds
//! for the empirical mean field z^N_k the step was taken at ([`TransitionBuffer::mean_field`]).
//!
//! The buffer *is* the population's storage: `next_states` is the population's current state
//! column, and at the next step the population swaps `states` and `next_states` (double
//! buffering) and overwrites `next_states` and `actions`. So the whole agent engine needs
//! `2·size_of::<T>() + 1` bytes per agent: 3 bytes with `u8` states (|S| ≤ 256), 5 with
//! `u16` states (|S| ≤ 65 536), whatever the learner reads.
//!
//! # Example
//! ```
//! use mfgsim::model::Infection;
//! use mfgsim::population::Population;
//! use mfgsim::space::{uniform, Policy};
//!
//! let model = Infection::default();
//! let policy = Policy::uniform(25, 5);
//! let mut pop: Population = Population::try_new(25, 1000, &uniform(25), 7)?;
//! pop.step_seq(&model, &policy, 0, 7)?;
//! let buf = pop.transitions().expect("one step was taken");
//! assert_eq!(buf.len(), 1000);
//! let t = buf.get(0);
//! assert_eq!(buf.reward(0), buf.tables().r(t.state, t.action));
//! let regenerated = buf.iter().filter(|t| t.regenerated).count() as u64;
//! assert_eq!(regenerated, buf.regenerated());
//! # Ok::<(), mfgsim::Error>(())
//! ```

mod selection;

pub(crate) use self::selection::ChunkRows;
pub use self::selection::{BufferCode, BufferRef, Selection, StepTransitions};

use crate::model::KernelTables;
use crate::state::StateCode;

/// The transitions of one population step, all taken at one empirical mean field ẑ.
///
/// Transition `i` is `(s, a, s′)`: agent i was in state s, took action a and moved to s′.
/// Its reward is `tables().r(s, a)` = r(s, a, ẑ). Transitions of agents that left and were
/// replaced during the step are ordinary samples (the model's kernel includes replacement),
/// so a source should expose them like any other.
///
/// Learners only call [`TransitionSource::get`] with `i < len()`, in an order of their
/// choosing, and treat the source as read-only.
pub trait TransitionSource: Sync {
    /// Number of transitions N.
    fn len(&self) -> usize;

    /// True when there are no transitions.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Transition `i` as `(s, a, s′)`, with s, s′ < |S| and a < |A| of [`Self::tables`].
    fn get(&self, i: usize) -> (usize, usize, usize);

    /// Rewards (and kernel) at the step's empirical mean field ẑ.
    fn tables(&self) -> &KernelTables;

    /// True when agent `i` regenerated during the step (its s′ came from the regeneration
    /// part ζ·w(s′) of the kernel row: the agent left and a new one took its place). Sources
    /// that do not record it, and sources whose index `i` is not an agent, return false (the
    /// default). Only learners with per-agent tables read it (`reset_on_regeneration`).
    fn regenerated(&self, i: usize) -> bool {
        let _ = i;
        false
    }
}

impl<T: StateCode> TransitionSource for TransitionBuffer<T> {
    #[inline]
    fn len(&self) -> usize {
        TransitionBuffer::len(self)
    }

    #[inline]
    fn get(&self, i: usize) -> (usize, usize, usize) {
        let t = TransitionBuffer::get(self, i);
        (t.state, t.action, t.next_state)
    }

    fn tables(&self) -> &KernelTables {
        TransitionBuffer::tables(self)
    }

    #[inline]
    fn regenerated(&self, i: usize) -> bool {
        is_regenerated(self.actions[i])
    }
}

/// Bit of an action byte that marks a regenerated agent (the high bit).
pub const REGEN_FLAG: u8 = 0x80;

/// Bits of an action byte that hold the action index.
pub const ACTION_MASK: u8 = 0x7f;

/// Largest number of actions an action byte can hold (7 bits).
pub const MAX_ACTIONS: usize = 128;

/// Packs an action index and a regeneration flag into one byte.
///
/// # Panics
/// In debug builds, when `action ≥ MAX_ACTIONS`.
#[inline]
pub fn pack_action(action: usize, regenerated: bool) -> u8 {
    debug_assert!(
        action < MAX_ACTIONS,
        "action {action} does not fit in 7 bits"
    );
    (action as u8) | if regenerated { REGEN_FLAG } else { 0 }
}

/// The action index of a packed action byte.
#[inline]
pub const fn unpack_action(byte: u8) -> usize {
    (byte & ACTION_MASK) as usize
}

/// True when a packed action byte carries the regeneration flag.
#[inline]
pub const fn is_regenerated(byte: u8) -> bool {
    byte & REGEN_FLAG != 0
}

/// One transition of one agent, decoded from the columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// s: the state before the step.
    pub state: usize,
    /// a: the action taken (drawn from μ(s, ·)).
    pub action: usize,
    /// s′: the state after the step.
    pub next_state: usize,
    /// True when the agent left and was replaced (s′ drawn from the entry law); s′ is then
    /// the new agent's state.
    pub regenerated: bool,
}

/// The transitions of one population step, as columns (see the module docs).
///
/// Only [`crate::population::Population`] writes it; everything else gets `&TransitionBuffer`.
/// Its `Debug` output summarises (it does not print N entries).
#[derive(Clone, PartialEq)]
pub struct TransitionBuffer<T: StateCode = u8> {
    pub(crate) prev: Vec<T>,
    pub(crate) actions: Vec<u8>,
    pub(crate) next: Vec<T>,
    pub(crate) tables: KernelTables,
    pub(crate) mean_field: Vec<f64>,
    pub(crate) step: u64,
    pub(crate) regenerated: u64,
}

impl<T: StateCode> TransitionBuffer<T> {
    /// A buffer of `n` zeroed transitions for `num_states` × `num_actions` tables. The three
    /// columns are reserved fallibly, so a population the allocator cannot hold is an error,
    /// not an abort (the run layer's memory estimate refuses it earlier in most cases).
    ///
    /// # Errors
    /// [`crate::Error::Unsupported`] naming the bytes when an allocation fails.
    pub(crate) fn try_zeroed(
        n: usize,
        num_states: usize,
        num_actions: usize,
    ) -> crate::Result<Self> {
        fn column<C: Clone>(n: usize, fill: C) -> crate::Result<Vec<C>> {
            let mut v = Vec::new();
            v.try_reserve_exact(n)
                .map_err(|e| crate::Error::Unsupported {
                    engine: "agent engine",
                    reason: format!(
                        "allocating a column of {n} agents ({} bytes) failed ({e}); use fewer \
                     agents or the count engine (sim.engine = \"counts\")",
                        n.saturating_mul(std::mem::size_of::<C>())
                    ),
                })?;
            v.resize(n, fill);
            Ok(v)
        }
        Ok(TransitionBuffer {
            prev: column(n, T::default())?,
            actions: column(n, 0)?,
            next: column(n, T::default())?,
            tables: KernelTables::new(num_states, num_actions),
            mean_field: vec![0.0; num_states],
            step: 0,
            regenerated: 0,
        })
    }

    /// Number of transitions (= number of agents N).
    #[inline]
    pub fn len(&self) -> usize {
        self.prev.len()
    }

    /// True when there are no transitions.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.prev.is_empty()
    }

    /// The step index k these transitions went from (k → k + 1).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Number of agents that regenerated during the step.
    pub fn regenerated(&self) -> u64 {
        self.regenerated
    }

    /// Transition `i`.
    ///
    /// # Panics
    /// When `i ≥ len()`.
    #[inline]
    pub fn get(&self, i: usize) -> Transition {
        let byte = self.actions[i];
        Transition {
            state: self.prev[i].index(),
            action: unpack_action(byte),
            next_state: self.next[i].index(),
            regenerated: is_regenerated(byte),
        }
    }

    /// Reward r(s_i, a_i, z^N_k) of transition `i`.
    ///
    /// # Panics
    /// When `i ≥ len()`.
    #[inline]
    pub fn reward(&self, i: usize) -> f64 {
        self.tables
            .r(self.prev[i].index(), unpack_action(self.actions[i]))
    }

    /// All transitions in agent order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Transition> + '_ {
        self.prev
            .iter()
            .zip(&self.actions)
            .zip(&self.next)
            .map(|((s, byte), next)| Transition {
                state: s.index(),
                action: unpack_action(*byte),
                next_state: next.index(),
                regenerated: is_regenerated(*byte),
            })
    }

    /// Column of states s before the step.
    #[inline]
    pub fn states(&self) -> &[T] {
        &self.prev
    }

    /// Column of packed action bytes (`a | REGEN_FLAG` if regenerated); decode with
    /// [`unpack_action`] and [`is_regenerated`].
    #[inline]
    pub fn actions(&self) -> &[u8] {
        &self.actions
    }

    /// Column of states s′ after the step (the population's current states).
    #[inline]
    pub fn next_states(&self) -> &[T] {
        &self.next
    }

    /// Reward and kernel tables at the step's mean field z^N_k: the rewards of these
    /// transitions are `tables().r(s, a)`, and their kernel was `tables().row(s, a)`.
    pub fn tables(&self) -> &KernelTables {
        &self.tables
    }

    /// The empirical mean field z^N_k the step was taken at.
    pub fn mean_field(&self) -> &[f64] {
        &self.mean_field
    }

    /// Bytes held per agent by the three columns: `2·size_of::<T>() + 1`.
    pub const fn bytes_per_agent() -> usize {
        2 * std::mem::size_of::<T>() + 1
    }
}

impl<T: StateCode> std::fmt::Debug for TransitionBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitionBuffer")
            .field("len", &self.len())
            .field("state_type", &std::any::type_name::<T>())
            .field("step", &self.step)
            .field("regenerated", &self.regenerated)
            .field("mean_field", &self.mean_field)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_packing_round_trips() {
        for a in 0..MAX_ACTIONS {
            for g in [false, true] {
                let b = pack_action(a, g);
                assert_eq!((unpack_action(b), is_regenerated(b)), (a, g));
            }
        }
    }

    #[test]
    fn layout_is_three_bytes_per_agent_for_u8() {
        assert_eq!(TransitionBuffer::<u8>::bytes_per_agent(), 3);
        assert_eq!(TransitionBuffer::<u16>::bytes_per_agent(), 5);
    }

    #[test]
    fn get_iter_and_reward_agree() {
        let mut b = TransitionBuffer::<u8>::try_zeroed(3, 4, 2).unwrap();
        b.prev.copy_from_slice(&[0, 3, 2]);
        b.actions
            .copy_from_slice(&[pack_action(1, false), pack_action(0, true), 1]);
        b.next.copy_from_slice(&[1, 0, 3]);
        for (i, r) in b.tables.reward.iter_mut().enumerate() {
            *r = i as f64;
        }
        let all: Vec<Transition> = b.iter().collect();
        for (i, t) in all.iter().enumerate() {
            assert_eq!(*t, b.get(i));
            assert_eq!(b.reward(i), (t.state * 2 + t.action) as f64);
        }
        assert_eq!(
            all[1],
            Transition {
                state: 3,
                action: 0,
                next_state: 0,
                regenerated: true
            }
        );
    }
}
