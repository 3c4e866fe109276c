//! The agent population: struct-of-arrays columns stepped in fixed chunks.
//!
//! A [`Population`] is N agents, each a state in `0..|S|`, stored as one column of small
//! integers ([`StateCode`]: `u8` for |S| ≤ 256, the default, or `u16` for |S| ≤ 65 536).
//! One step under a strategy μ moves every agent once, at the *empirical* mean field
//! z^N_k (the histogram of the N agents divided by N):
//!
//! # Formula
//! ```text
//! z^N_k(s)   = #{i : s_i = s} / N
//! a_i        ~ μ(s_i, ·)
//! s'_i       ~ P(· | s_i, a_i, z^N_k)          the Model's kernel, regeneration included
//! regen_i    = 1 when s'_i came from the regeneration part ζ·w(s'_i) of that row
//! z^N_{k+1}  = #{i : s'_i = s} / N
//! ```
//! (a_i, s′_i, regen_i) is drawn jointly with one u64 per agent from per-state alias tables
//! built once per step ([`StepSampler`]); agents are processed in chunks of [`CHUNK`], chunk
//! c of step k drawing from the stream `rng::stream(seed, Step, k, c)`. Results are therefore
//! bitwise identical for any number of threads and between [`Population::step_seq`] and
//! [`Population::step_par`]. `README.md` in this folder explains the layout and why the
//! sampling is exact.
//!
//! # Per-agent actions
//! Learners that keep one table per agent (IQL, MFQ) choose every agent's action
//! themselves and pass the column ([`Actions::PerAgent`], or
//! [`Population::step_given_par`] / [`Population::step_given_seq`]): agent i plays
//! `given[i]` and draws (s′_i, regen_i) from the law above conditioned on a_i, with one u64
//! from the same streams, via per-(s, a) alias tables ([`ActionSampler`], kernel
//! [`step_chunk_given`]). The column is checked once per step ([`check_actions`]) before
//! anything changes. Every step, shared or per-agent, can also be taken at a frozen mean field
//! z instead of z^N_k ([`Engine::step_at`]).
//!
//! ```
//! use mfgsim::model::{Infection, Model};
//! use mfgsim::population::Population;
//! use mfgsim::space::uniform;
//!
//! let model = Infection::default();
//! let mut pop: Population = Population::try_new(25, 10_000, &uniform(25), 1)?;
//! // Agent i plays action i mod |A| (a learner would read its own Q-table).
//! let given: Vec<u8> = (0..10_000).map(|i| (i % model.num_actions()) as u8).collect();
//! pop.step_given_par(&model, &given, None, 0, 1)?;
//! let buf = pop.transitions().expect("one step was taken");
//! assert!(buf.iter().zip(&given).all(|(t, &a)| t.action == a as usize));
//! // A frozen mean field: the buffer's rewards and kernel are taken there.
//! let z = uniform(25);
//! pop.step_given_seq(&model, &given, Some(&z), 1, 1)?;
//! assert_eq!(pop.transitions().unwrap().mean_field(), &z[..]);
//! # Ok::<(), mfgsim::Error>(())
//! ```
//!
//! # Example
//! ```
//! use mfgsim::model::{Infection, Model};
//! use mfgsim::population::Population;
//! use mfgsim::space::{uniform, Policy};
//!
//! let model = Infection::default();
//! let policy = Policy::uniform(model.num_states(), model.num_actions());
//! let mut pop: Population = Population::try_new(25, 10_000, &uniform(25), 1)?;
//! for k in 0..5 {
//!     let stats = pop.step_par(&model, &policy, k, 1)?;
//!     assert_eq!(pop.counts().iter().sum::<u64>(), 10_000);
//!     assert!(stats.regenerated < 10_000);
//! }
//! let z = pop.mean_field();
//! assert!((z.iter().sum::<f64>() - 1.0).abs() < 1e-12);
//! # Ok::<(), mfgsim::Error>(())
//! ```

mod actions;
mod agents;
mod alias;
mod counts;
mod engine;
mod given;
mod sharded;
mod step;

pub use crate::state::StateCode;
pub use actions::Actions;
pub use agents::Population;
pub use alias::Outcome;
pub(crate) use counts::multinomial;
pub use counts::{CountPopulation, CountTransitions, COUNT_STREAM, SAMPLE_STREAM};
pub use engine::{Engine, EngineKind, StepStats};
pub use given::{check_actions, step_chunk_given, ActionSampler};
/// K ranks as threads, for the tests of what runs over ranks.
#[cfg(test)]
pub(crate) use sharded::tests::ThreadGroup;
pub use sharded::{block_of, Collective, ShardedPopulation, SingleProcess, StopVote};
pub use step::{step_chunk, step_chunk_counting, StepSampler, REGEN_SPLIT_TOL, ROW_SUM_TOL};

use crate::error::{Error, Result};
use crate::model::{check_pmf, KernelTables, Model};
use crate::persist::{read_codes, write_codes, StateReader, StateWriter};
use crate::rng::{stream, Purpose};
use crate::space::Policy;
use crate::transition::TransitionBuffer;
use crate::transition::TransitionSource;
use alias::AliasRows;
use rayon::prelude::*;

#[cfg(test)]
mod tests;

/// Agents per chunk (2¹⁶), defined with the streams it keys ([`crate::rng::CHUNK`]).
pub use crate::rng::CHUNK;

/// The most entries |S|²·|A| of the dense transition counts c(s, a, s′) the agent engine
/// keeps per worker ([`Engine::set_count_transitions`]): 2^16 entries, 256 KiB of u32 per
/// chunk being stepped, so the extra increment per agent stays in L2. Larger models are
/// refused by name rather than allocating per-worker arrays that would not fit any cache.
pub const MAX_DENSE_COUNTS: usize = 1 << 16;

/// Whether dense transition counts of |S|²·|A| entries are within [`MAX_DENSE_COUNTS`].
///
/// # Errors
/// [`Error::Unsupported`] naming `learner.rule` when they are not (or |A| = 0).
pub fn check_dense_counts(ns: usize, na: usize) -> Result<()> {
    let entries = ns.saturating_mul(ns).saturating_mul(na);
    if na == 0 || entries > MAX_DENSE_COUNTS {
        return Err(dense_refusal(ns, na));
    }
    Ok(())
}

/// The refusal of dense transition counts for |S|²·|A| > [`MAX_DENSE_COUNTS`].
fn dense_refusal(ns: usize, na: usize) -> Error {
    Error::Unsupported {
        engine: "agent engine",
        reason: format!(
            "learner.rule = \"batch\" needs dense transition counts with |S|²|A| ≤ {MAX_DENSE_COUNTS} \
             entries, this model has {ns}²·{na} = {}; use learner.rule = \"sampled\" (or the count \
             engine, sim.engine = \"counts\")",
            ns.saturating_mul(ns).saturating_mul(na)
        ),
    }
}
