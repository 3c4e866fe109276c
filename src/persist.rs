//! The seam between a run's state and a checkpoint file: named, typed arrays.
//!
//! Engines ([`crate::population::Engine`]), learners ([`crate::learner::Learner`]),
//! algorithms ([`crate::learner::Algorithm`]) and the [`crate::learner::Evaluator`] save what
//! they need to continue into a [`StateWriter`] and read it back from a [`StateReader`], in
//! the same order, section by section. The file format lives in
//! [`crate::run::checkpoint`]; nothing here does I/O.
//!
//! A reader fills slices the caller already allocated (the agents' columns are read in
//! place, with no second copy), and refuses a section whose name, type or length differs
//! from what the caller expects, naming the section.
//!
//! Random streams need no section: every stream is created from (seed, purpose, step,
//! chunk) where it is used ([`crate::rng`]), so the iteration counters that key them are all
//! a run has to save.

use crate::error::Result;
use crate::state::{Codes, CodesMut, StateCode};

/// Receives a run's state as named arrays (see the module docs).
pub trait StateWriter {
    /// A section of bytes.
    ///
    /// # Errors
    /// The writer's I/O error.
    fn u8s(&mut self, name: &str, v: &[u8]) -> Result<()>;
    /// A section of u16.
    ///
    /// # Errors
    /// The writer's I/O error.
    fn u16s(&mut self, name: &str, v: &[u16]) -> Result<()>;
    /// A section of u32.
    ///
    /// # Errors
    /// The writer's I/O error.
    fn u32s(&mut self, name: &str, v: &[u32]) -> Result<()>;
    /// A section of u64.
    ///
    /// # Errors
    /// The writer's I/O error.
    fn u64s(&mut self, name: &str, v: &[u64]) -> Result<()>;
    /// A section of f32 (bit patterns kept exactly).
    ///
    /// # Errors
    /// The writer's I/O error.
    fn f32s(&mut self, name: &str, v: &[f32]) -> Result<()>;
    /// A section of f64 (bit patterns kept exactly).
    ///
    /// # Errors
    /// The writer's I/O error.
    fn f64s(&mut self, name: &str, v: &[f64]) -> Result<()>;
}

/// Gives back what a [`StateWriter`] received, in the same order, into slices of the
/// expected length (see the module docs).
pub trait StateReader {
    /// Fills `out` from the next section, which must be `name`, of bytes, of `out.len()`.
    ///
    /// # Errors
    /// A section of another name, type or length, a corrupt section, or an I/O error.
    fn u8s(&mut self, name: &str, out: &mut [u8]) -> Result<()>;
    /// As [`StateReader::u8s`], for u16.
    ///
    /// # Errors
    /// As [`StateReader::u8s`].
    fn u16s(&mut self, name: &str, out: &mut [u16]) -> Result<()>;
    /// As [`StateReader::u8s`], for u32.
    ///
    /// # Errors
    /// As [`StateReader::u8s`].
    fn u32s(&mut self, name: &str, out: &mut [u32]) -> Result<()>;
    /// As [`StateReader::u8s`], for u64.
    ///
    /// # Errors
    /// As [`StateReader::u8s`].
    fn u64s(&mut self, name: &str, out: &mut [u64]) -> Result<()>;
    /// As [`StateReader::u8s`], for f32.
    ///
    /// # Errors
    /// As [`StateReader::u8s`].
    fn f32s(&mut self, name: &str, out: &mut [f32]) -> Result<()>;
    /// As [`StateReader::u8s`], for f64.
    ///
    /// # Errors
    /// As [`StateReader::u8s`].
    fn f64s(&mut self, name: &str, out: &mut [f64]) -> Result<()>;
}

/// Reads one u64 section of length 1.
///
/// # Errors
/// As [`StateReader::u64s`].
pub fn read_u64(r: &mut dyn StateReader, name: &str) -> Result<u64> {
    let mut v = [0u64];
    r.u64s(name, &mut v)?;
    Ok(v[0])
}

/// Writes a column of state codes (u8 or u16) as one section.
///
/// # Errors
/// As [`StateWriter::u8s`].
pub fn write_codes<T: StateCode>(w: &mut dyn StateWriter, name: &str, v: &[T]) -> Result<()> {
    match T::column(v) {
        Codes::U8(b) => w.u8s(name, b),
        Codes::U16(b) => w.u16s(name, b),
    }
}

/// Reads a column written by [`write_codes`] into `v` (its length is the expected one).
/// The codes are not range-checked here: the caller knows |S|.
///
/// # Errors
/// As [`StateReader::u8s`].
pub fn read_codes<T: StateCode>(r: &mut dyn StateReader, name: &str, v: &mut [T]) -> Result<()> {
    match T::column_mut(v) {
        CodesMut::U8(b) => r.u8s(name, b),
        CodesMut::U16(b) => r.u16s(name, b),
    }
}
