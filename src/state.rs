//! The integer type of an agent-state column ([`StateCode`]: `u8` or `u16`).
//!
//! Its own module so that the population (which stores states) and the transition buffer
//! (which reads them) both depend on it and not on each other.

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
}

/// The integer type of a state column: `u8` (|S| ≤ 256) or `u16` (|S| ≤ 65 536).
///
/// Sealed: only `u8` and `u16` implement it.
pub trait StateCode:
    sealed::Sealed
    + Copy
    + Default
    + Eq
    + Ord
    + std::hash::Hash
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// Number of states the type can hold (256 or 65 536).
    const MAX_STATES: usize;

    /// The code of state `i`.
    ///
    /// # Panics
    /// In debug builds, when `i ≥ MAX_STATES`.
    fn from_index(i: usize) -> Self;

    /// The state index of this code.
    fn index(self) -> usize;

    /// Length of a chunk histogram for `num_states` states. `u8` pads to 256 so the hot loop
    /// needs no bounds check; `u16` uses `num_states` to keep per-chunk memory small.
    fn hist_len(num_states: usize) -> usize;
}

impl StateCode for u8 {
    const MAX_STATES: usize = 1 << 8;
    #[inline(always)]
    fn from_index(i: usize) -> Self {
        debug_assert!(i < Self::MAX_STATES);
        i as u8
    }
    #[inline(always)]
    fn index(self) -> usize {
        self as usize
    }
    #[inline(always)]
    fn hist_len(_num_states: usize) -> usize {
        Self::MAX_STATES
    }
}

impl StateCode for u16 {
    const MAX_STATES: usize = 1 << 16;
    #[inline(always)]
    fn from_index(i: usize) -> Self {
        debug_assert!(i < Self::MAX_STATES);
        i as u16
    }
    #[inline(always)]
    fn index(self) -> usize {
        self as usize
    }
    #[inline(always)]
    fn hist_len(num_states: usize) -> usize {
        num_states
    }
}
