//! The integer type of an agent-state column ([`StateCode`]: `u8` or `u16`), the width
//! chosen from |S| ([`StateWidth`]) and a column of either width as one enum ([`Codes`]).
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

    /// This type's [`StateWidth`].
    const WIDTH: StateWidth;

    /// A column of codes as the one enum over both widths (for code that stores or sends
    /// columns, e.g. checkpoints: a `match`, never a downcast).
    fn column(v: &[Self]) -> Codes<'_>;

    /// As [`StateCode::column`], writable.
    fn column_mut(v: &mut [Self]) -> CodesMut<'_>;
}

/// The width of a state column, chosen once from |S|: `U8` up to 256 states, `U16` up to
/// 65 536.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateWidth {
    /// One byte per agent.
    U8,
    /// Two bytes per agent.
    U16,
}

impl StateWidth {
    /// The narrowest width that holds `num_states` states, `None` above 65 536.
    pub fn of(num_states: usize) -> Option<Self> {
        if num_states <= u8::MAX_STATES {
            Some(StateWidth::U8)
        } else if num_states <= u16::MAX_STATES {
            Some(StateWidth::U16)
        } else {
            None
        }
    }

    /// Bytes per state code.
    pub fn bytes(self) -> usize {
        match self {
            StateWidth::U8 => 1,
            StateWidth::U16 => 2,
        }
    }
}

/// A column of state codes of either width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codes<'a> {
    /// `u8` codes.
    U8(&'a [u8]),
    /// `u16` codes.
    U16(&'a [u16]),
}

/// A writable column of state codes of either width.
#[derive(Debug, PartialEq, Eq)]
pub enum CodesMut<'a> {
    /// `u8` codes.
    U8(&'a mut [u8]),
    /// `u16` codes.
    U16(&'a mut [u16]),
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
    const WIDTH: StateWidth = StateWidth::U8;
    fn column(v: &[Self]) -> Codes<'_> {
        Codes::U8(v)
    }
    fn column_mut(v: &mut [Self]) -> CodesMut<'_> {
        CodesMut::U8(v)
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
    const WIDTH: StateWidth = StateWidth::U16;
    fn column(v: &[Self]) -> Codes<'_> {
        Codes::U16(v)
    }
    fn column_mut(v: &mut [Self]) -> CodesMut<'_> {
        CodesMut::U16(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_width_is_the_narrowest_that_holds_every_state() {
        assert_eq!(StateWidth::of(1), Some(StateWidth::U8));
        assert_eq!(StateWidth::of(256), Some(StateWidth::U8));
        assert_eq!(StateWidth::of(257), Some(StateWidth::U16));
        assert_eq!(StateWidth::of(65_536), Some(StateWidth::U16));
        assert_eq!(StateWidth::of(65_537), None);
        assert_eq!(<u8 as StateCode>::WIDTH.bytes(), 1);
        assert_eq!(<u16 as StateCode>::WIDTH.bytes(), 2);
        assert_eq!(u16::column(&[3u16, 7]), Codes::U16(&[3, 7]));
    }
}
