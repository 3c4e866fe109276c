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
mod alias;
mod counts;
mod given;
mod sharded;
mod step;

pub use crate::state::StateCode;
pub use actions::Actions;
pub use alias::Outcome;
pub(crate) use counts::multinomial;
pub use counts::{CountPopulation, CountTransitions, COUNT_STREAM, SAMPLE_STREAM};
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

/// Agents per chunk: the unit of parallel work and of random streams (2¹⁶).
///
/// A chunk's three columns (3 × 64 KiB with `u8` states) stay in L2 while it is stepped;
/// its histogram of u32 counts cannot overflow. Changing it changes every seeded result.
pub const CHUNK: usize = 1 << 16;

/// The most entries |S|²·|A| of the dense transition counts c(s, a, s′) the agent engine
/// keeps per worker ([`Engine::set_count_transitions`]): 2^16 entries, 256 KiB of u32 per
/// chunk being stepped, so the extra increment per agent stays in L2. Larger models are
/// refused by name rather than allocating per-worker arrays that would not fit any cache.
pub const MAX_DENSE_COUNTS: usize = 1 << 16;

/// A simulator of N agents at the level a study or a learner needs: step everyone once under
/// a strategy at the empirical mean field, read the histogram, and hand the last step's
/// transitions to a learner. Implemented by the agent engine ([`Population`]) and the exact
/// count engine ([`CountPopulation`]), which agree in distribution.
pub trait Engine: Send + std::fmt::Debug {
    /// What a learner reads of the last step's transitions.
    type Source: TransitionSource;

    /// N, the number of agents.
    fn num_agents(&self) -> u64;

    /// Number of agents in each state; sums to N.
    fn counts(&self) -> &[u64];

    /// The empirical mean field z^N = counts / N.
    fn mean_field(&self) -> &[f64];

    /// Moves every agent once under `actions` at the current empirical mean field z^N, with
    /// the random streams of step `step` of run `seed`.
    ///
    /// # Errors
    /// [`Error::Param`] for a model or strategy the engine cannot sample, or (key `actions`)
    /// for a per-agent column whose length is not N or with an action ≥ |A|;
    /// [`Error::Unsupported`] for per-agent actions on an engine without agent identities;
    /// nothing changes.
    fn step(
        &mut self,
        model: &(impl Model + ?Sized),
        actions: Actions<'_>,
        step: u64,
        seed: u64,
    ) -> Result<StepStats>;

    /// As [`Engine::step`], but rewards and transitions are taken at the given mean field `z`
    /// instead of the empirical one: the engine is then a *simulator* of the model at a frozen
    /// z (TMFQ's inner loop, Algorithm 2), and its own histogram feeds nothing back.
    ///
    /// # Errors
    /// As [`Engine::step`], and [`Error::Param`] (key `z`) when `z` is not a pmf on the
    /// states; nothing changes.
    fn step_at(
        &mut self,
        model: &(impl Model + ?Sized),
        actions: Actions<'_>,
        z: &[f64],
        step: u64,
        seed: u64,
    ) -> Result<StepStats>;

    /// The last step's transitions for a learner that makes at most `budget` updates (the
    /// agent engine hands over its whole buffer; the count engine draws an exchangeable
    /// sample of `budget`, which is what the learner would read of the buffer).
    ///
    /// # Errors
    /// [`Error::Param`] before the first step.
    fn learner_source(&mut self, budget: usize, seed: u64) -> Result<&Self::Source>;

    /// Asks the engine to count each step's transitions c(s, a, s′) (for learners that use
    /// counts, [`crate::learner::Learner::wants_counts`]); off by default on the agent engine,
    /// so the bare step keeps its speed. The count engine always has them (its flows).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the dense counts would have more than
    /// [`MAX_DENSE_COUNTS`] entries (|S|²·|A|); nothing changes.
    fn set_count_transitions(&mut self, on: bool) -> Result<()>;

    /// The last step's transition counts c(s, a, s′) at index (s·|A| + a)·|S| + s′ (they sum
    /// to N), or `None` before the first step or when the step did not count them.
    fn transition_counts(&self) -> Option<&[u64]>;

    /// Saves what the next step needs (the agents' states, or the histogram): the last
    /// step's transitions are not saved, the next step overwrites them. No random state is
    /// saved: every step's streams are keyed by (seed, step, chunk).
    ///
    /// # Errors
    /// The writer's error; [`Error::Unsupported`] for an engine that cannot checkpoint (the
    /// default).
    fn save_state(&self, _w: &mut dyn StateWriter) -> Result<()> {
        Err(no_checkpoint())
    }

    /// Restores what [`Engine::save_state`] saved into an engine of the same N and |S|;
    /// afterwards it is as if the saved engine had been reset to those states (no last step).
    ///
    /// # Errors
    /// The reader's error (a section of another name or length), [`Error::Param`] for a
    /// state out of range or counts that do not sum to N; [`Error::Unsupported`] as in
    /// [`Engine::save_state`].
    fn load_state(&mut self, _r: &mut dyn StateReader) -> Result<()> {
        Err(no_checkpoint())
    }
}

/// The error of an engine without checkpoint support.
fn no_checkpoint() -> Error {
    Error::Unsupported {
        engine: "this engine",
        reason: "it cannot save its state for a checkpoint".into(),
    }
}

impl<T: StateCode> Engine for Population<T> {
    type Source = TransitionBuffer<T>;

    fn num_agents(&self) -> u64 {
        Population::num_agents(self) as u64
    }

    fn counts(&self) -> &[u64] {
        Population::counts(self)
    }

    fn mean_field(&self) -> &[f64] {
        Population::mean_field(self)
    }

    fn step(
        &mut self,
        model: &(impl Model + ?Sized),
        actions: Actions<'_>,
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        match actions {
            Actions::Shared(policy) => self.step_par(model, policy, step, seed),
            Actions::PerAgent(given) => self.step_given_par(model, given, None, step, seed),
        }
    }

    fn step_at(
        &mut self,
        model: &(impl Model + ?Sized),
        actions: Actions<'_>,
        z: &[f64],
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        match actions {
            Actions::Shared(policy) => self.step_par_at(model, policy, z, step, seed),
            Actions::PerAgent(given) => self.step_given_par(model, given, Some(z), step, seed),
        }
    }

    fn learner_source(&mut self, _budget: usize, _seed: u64) -> Result<&Self::Source> {
        self.transitions()
            .ok_or_else(|| Error::param("step", "no transitions before the first step"))
    }

    fn set_count_transitions(&mut self, on: bool) -> Result<()> {
        Population::set_count_transitions(self, on)
    }

    fn transition_counts(&self) -> Option<&[u64]> {
        Population::transition_counts(self)
    }

    /// One section `agent_states`: the N state codes (1 byte per agent with u8 states, 2
    /// with u16).
    fn save_state(&self, w: &mut dyn StateWriter) -> Result<()> {
        write_codes(w, "agent_states", &self.buffer.next)
    }

    fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        Population::load_state(self, r)
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepStats {
    /// The step index k (the step went k → k + 1).
    pub step: u64,
    /// N, the number of agents moved.
    pub num_agents: u64,
    /// Number of agents that regenerated (≈ ζ·N).
    pub regenerated: u64,
}

/// N agents as struct-of-arrays columns, with their histogram and last step's transitions.
///
/// Memory: [`TransitionBuffer::bytes_per_agent`] bytes per agent (3 with `u8` states), plus
/// one histogram per chunk (1 KiB per 2¹⁶ agents with `u8` states) and O(|S|²·|A|) tables.
/// Its `Debug` output summarises (it does not print N states).
#[derive(Clone)]
pub struct Population<T: StateCode = u8> {
    num_states: usize,
    /// Columns: `buffer.next` are the current states.
    buffer: TransitionBuffer<T>,
    /// True once a step has filled `buffer` consistently.
    stepped: bool,
    counts: Vec<u64>,
    mean_field: Vec<f64>,
    /// One histogram of `T::hist_len(num_states)` counts per chunk, chunk-major.
    chunk_hist: Vec<u32>,
    /// Regenerations per chunk.
    chunk_regen: Vec<u64>,
    /// Whether shared steps count their transitions c(s, a, s′).
    count_transitions: bool,
    /// c(s, a, s′) of the last step, when it counted them.
    transition_counts: Vec<u64>,
    /// True when the last step filled `transition_counts`.
    counted: bool,
    /// The global index of this population's first chunk: chunk c draws from the streams
    /// of chunk `first_chunk + c` (0 unless this is one rank's block of a sharded
    /// population, [`Population::try_new_block`]).
    first_chunk: u64,
    /// Joint (a, s′, regenerated) tables of the last step under a shared strategy.
    sampler: StepSampler<T>,
    /// Per-(s, a) (s′, regenerated) tables of the last step with per-agent actions.
    action_sampler: ActionSampler<T>,
    /// Tables and samplers of the step being prepared; swapped in on success.
    scratch_tables: KernelTables,
    scratch_sampler: StepSampler<T>,
    scratch_action_sampler: ActionSampler<T>,
}

impl<T: StateCode> std::fmt::Debug for Population<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Population")
            .field("num_agents", &self.num_agents())
            .field("num_states", &self.num_states)
            .field("state_type", &std::any::type_name::<T>())
            .field("counts", &self.counts)
            .field("last_step", &self.stepped.then_some(self.buffer.step))
            .finish_non_exhaustive()
    }
}

impl Population<u8> {
    /// N = `num_agents` agents with `u8` states (|S| ≤ 256), drawn i.i.d. from `init`
    /// with the stream `(seed, Init, 0, chunk)`. See [`Population::try_new_typed`].
    ///
    /// # Errors
    /// As [`Population::try_new_typed`].
    pub fn try_new(num_states: usize, num_agents: usize, init: &[f64], seed: u64) -> Result<Self> {
        Self::try_new_typed(num_states, num_agents, init, seed)
    }
}

impl<T: StateCode> Population<T> {
    /// N = `num_agents` agents whose states are drawn i.i.d. from `init` (a pmf on
    /// `0..num_states`), chunk c from the stream `(seed, Init, 0, c)`, in parallel on the
    /// current rayon pool. Allocates every column once. The state type is explicit:
    /// `Population::<u16>::try_new_typed(…)` for more than 256 states.
    ///
    /// # Errors
    /// [`Error::Param`] (key `num_states`, `num_agents` or `init`) when `num_states` is 0 or
    /// more than `T` holds, `num_agents` is 0, or `init` is not a pmf of length `num_states`.
    pub fn try_new_typed(
        num_states: usize,
        num_agents: usize,
        init: &[f64],
        seed: u64,
    ) -> Result<Self> {
        check_num_states::<T>(num_states)?;
        if num_agents == 0 {
            return Err(Error::param("num_agents", "must be at least 1"));
        }
        Self::try_new_block(num_states, 0, num_agents, init, seed)
    }

    /// One rank's block of a population sharded over ranks ([`ShardedPopulation`]): the
    /// `num_agents` agents (possibly none) of the global chunks `first_chunk`,
    /// `first_chunk + 1`, …, drawn and stepped with those chunks' streams, so that the
    /// blocks of all ranks together hold exactly the agents of one
    /// [`Population::try_new_typed`] of their total size. Its counts and mean field are the
    /// block's own (all zero when it is empty).
    ///
    /// # Errors
    /// As [`Population::try_new_typed`], but an empty block is allowed.
    pub fn try_new_block(
        num_states: usize,
        first_chunk: u64,
        num_agents: usize,
        init: &[f64],
        seed: u64,
    ) -> Result<Self> {
        check_num_states::<T>(num_states)?;
        let chunks = num_agents.div_ceil(CHUNK);
        let hist_len = T::hist_len(num_states);
        let mut pop = Population {
            num_states,
            buffer: TransitionBuffer::try_zeroed(num_agents, num_states, 1)?,
            stepped: false,
            counts: vec![0; num_states],
            mean_field: vec![0.0; num_states],
            chunk_hist: vec![0; chunks * hist_len],
            chunk_regen: vec![0; chunks],
            count_transitions: false,
            transition_counts: Vec::new(),
            counted: false,
            first_chunk,
            sampler: StepSampler::new(),
            action_sampler: ActionSampler::new(),
            scratch_tables: KernelTables::new(num_states, 1),
            scratch_sampler: StepSampler::new(),
            scratch_action_sampler: ActionSampler::new(),
        };
        pop.reset(init, seed)?;
        Ok(pop)
    }

    /// Redraws every agent's state i.i.d. from `init` (as in [`Population::try_new_typed`])
    /// and forgets the last step's transitions.
    ///
    /// # Errors
    /// [`Error::Param`] (key `init`) when `init` is not a pmf of length `num_states()`; the
    /// population is then unchanged.
    pub fn reset(&mut self, init: &[f64], seed: u64) -> Result<()> {
        check_pmf("init", init, Some(self.num_states))?;
        let mut table = AliasRows::<T>::default();
        for (s, &p) in init.iter().enumerate() {
            table.push_weight(
                Outcome {
                    next: T::from_index(s),
                    action: 0,
                },
                p,
            );
        }
        table
            .finish_row()
            .map_err(|_| Error::param("init", "has no positive entry"))?;
        let hist_len = T::hist_len(self.num_states);
        let first = self.first_chunk;
        self.buffer
            .next
            .par_chunks_mut(CHUNK)
            .zip(self.chunk_hist.par_chunks_mut(hist_len))
            .enumerate()
            .for_each(|(c, (states, hist))| {
                let mut rng = stream(seed, Purpose::Init, 0, first + c as u64);
                step::init_chunk(&table, states, hist, &mut rng);
            });
        self.stepped = false;
        self.counted = false;
        self.reduce();
        Ok(())
    }

    /// Reads the agents' states saved by [`Engine::save_state`] into the state column and
    /// recounts the histograms (chunks in parallel, summed in chunk order, as after
    /// [`Population::reset`]); the last step's transitions are forgotten.
    ///
    /// # Errors
    /// The reader's error, or [`Error::Param`] (key `agent_states`) for a state ≥ |S|; the
    /// population is then unusable until the next successful load or reset.
    fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        read_codes(r, "agent_states", &mut self.buffer.next)?;
        let (ns, hist_len) = (self.num_states, T::hist_len(self.num_states));
        let bad = self
            .buffer
            .next
            .par_chunks(CHUNK)
            .zip(self.chunk_hist.par_chunks_mut(hist_len))
            .enumerate()
            .filter_map(|(c, (states, hist))| {
                hist.fill(0);
                for (i, s) in states.iter().enumerate() {
                    let s = s.index();
                    if s >= ns {
                        return Some((c * CHUNK + i, s));
                    }
                    hist[s] += 1;
                }
                None
            })
            .min();
        self.stepped = false;
        self.counted = false;
        if let Some((agent, s)) = bad {
            return Err(Error::param(
                "agent_states",
                format!("agent {agent} is in state {s}, of {ns}"),
            ));
        }
        self.reduce();
        Ok(())
    }

    /// Turns counting of the transitions c(s, a, s′) on or off. While on, every step under a
    /// shared strategy ([`Population::step_par`], [`Population::step_seq`], their `_at`
    /// twin) also counts its transitions, chunk by chunk into a dense u32 array of |S|²·|A|
    /// entries, summed into u64 totals ([`Population::transition_counts`]). Integer sums are
    /// exact, so the totals are the same for any number of threads. Steps with per-agent
    /// actions do not count. Cost: one increment per agent (`cargo bench --bench step`).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when |S|² alone exceeds [`MAX_DENSE_COUNTS`]; a step whose
    /// |S|²·|A| exceeds it fails the same way ([`check_dense_counts`]) and changes nothing.
    pub fn set_count_transitions(&mut self, on: bool) -> Result<()> {
        if on {
            check_dense_counts(self.num_states, 1)?;
        }
        self.count_transitions = on;
        self.counted = false;
        Ok(())
    }

    /// The last step's transition counts c(s, a, s′) at (s·|A| + a)·|S| + s′, or `None` when
    /// counting is off, before the first step, or after a step with per-agent actions.
    pub fn transition_counts(&self) -> Option<&[u64]> {
        self.counted.then_some(&self.transition_counts[..])
    }

    /// N, the number of agents.
    pub fn num_agents(&self) -> usize {
        self.buffer.len()
    }

    /// |S|.
    pub fn num_states(&self) -> usize {
        self.num_states
    }

    /// Number of chunks, ⌈N / CHUNK⌉.
    pub fn num_chunks(&self) -> usize {
        self.chunk_regen.len()
    }

    /// The current state of every agent.
    pub fn states(&self) -> &[T] {
        &self.buffer.next
    }

    /// Number of agents in each state (length |S|); sums to N.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The empirical mean field z^N = counts / N.
    pub fn mean_field(&self) -> &[f64] {
        &self.mean_field
    }

    /// The transitions of the last step, or `None` before the first step (and after
    /// [`Population::reset`]).
    pub fn transitions(&self) -> Option<&TransitionBuffer<T>> {
        self.stepped.then_some(&self.buffer)
    }

    /// The joint alias tables of the last step under a shared strategy (empty before the
    /// first such step); for benches that time [`step_chunk`] alone.
    pub fn sampler(&self) -> &StepSampler<T> {
        &self.sampler
    }

    /// The per-(s, a) alias tables of the last step with per-agent actions (empty before the
    /// first such step); for benches that time [`step_chunk_given`] alone.
    pub fn action_sampler(&self) -> &ActionSampler<T> {
        &self.action_sampler
    }

    /// Moves every agent once under `policy` at the current empirical mean field (see the
    /// module docs), chunk c drawing from `rng::stream(seed, Step, step, c)`, with chunks
    /// run in parallel on the current rayon pool. Bitwise identical to
    /// [`Population::step_seq`] for any pool size.
    ///
    /// # Errors
    /// [`Error::Param`] when the model has another number of states than the population,
    /// or as [`StepSampler::try_rebuild`]. On error nothing changes.
    pub fn step_par(
        &mut self,
        model: &(impl Model + ?Sized),
        policy: &Policy,
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        self.prepare(model, Actions::Shared(policy), None)?;
        self.run_par(step, seed);
        Ok(self.finish(step))
    }

    /// As [`Population::step_par`], but at the given mean field `z` (a simulator at a frozen
    /// mean field, see [`Engine::step_at`]); the histogram is still the agents' own.
    ///
    /// # Errors
    /// As [`Population::step_par`], and [`Error::Param`] (key `z`) when `z` is not a pmf of
    /// length |S|. On error nothing changes.
    pub fn step_par_at(
        &mut self,
        model: &(impl Model + ?Sized),
        policy: &Policy,
        z: &[f64],
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        self.prepare(model, Actions::Shared(policy), Some(z))?;
        self.run_par(step, seed);
        Ok(self.finish(step))
    }

    /// The parallel chunk loop of a prepared step.
    fn run_par(&mut self, step: u64, seed: u64) {
        if self.count_transitions {
            return self.run_counting(step, seed, true);
        }
        let hist_len = T::hist_len(self.num_states);
        let first = self.first_chunk;
        let sampler = &self.sampler;
        let b = &mut self.buffer;
        b.prev
            .par_chunks(CHUNK)
            .zip(b.next.par_chunks_mut(CHUNK))
            .zip(b.actions.par_chunks_mut(CHUNK))
            .zip(self.chunk_hist.par_chunks_mut(hist_len))
            .zip(self.chunk_regen.par_iter_mut())
            .enumerate()
            .for_each(|(c, ((((prev, next), actions), hist), regen))| {
                let mut rng = stream(seed, Purpose::Step, step, first + c as u64);
                *regen = step_chunk(sampler, prev, next, actions, hist, &mut rng);
            });
    }

    /// [`Population::step_par`] on the calling thread only, chunk after chunk, with the
    /// same streams: bitwise identical results.
    ///
    /// # Errors
    /// As [`Population::step_par`].
    pub fn step_seq(
        &mut self,
        model: &(impl Model + ?Sized),
        policy: &Policy,
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        self.prepare(model, Actions::Shared(policy), None)?;
        if self.count_transitions {
            self.run_counting(step, seed, false);
            return Ok(self.finish(step));
        }
        let hist_len = T::hist_len(self.num_states);
        let first = self.first_chunk;
        let sampler = &self.sampler;
        let b = &mut self.buffer;
        b.prev
            .chunks(CHUNK)
            .zip(b.next.chunks_mut(CHUNK))
            .zip(b.actions.chunks_mut(CHUNK))
            .zip(self.chunk_hist.chunks_mut(hist_len))
            .zip(self.chunk_regen.iter_mut())
            .enumerate()
            .for_each(|(c, ((((prev, next), actions), hist), regen))| {
                let mut rng = stream(seed, Purpose::Step, step, first + c as u64);
                *regen = step_chunk(sampler, prev, next, actions, hist, &mut rng);
            });
        Ok(self.finish(step))
    }

    /// The chunk loop of a prepared shared step that also counts transitions
    /// ([`step_chunk_counting`]), in parallel or on the calling thread. Each fold of chunks
    /// owns one u32 scratch array (zeroed per chunk) and one u64 total; the totals are summed
    /// exactly, so the result does not depend on how rayon splits the chunks.
    fn run_counting(&mut self, step: u64, seed: u64, par: bool) {
        let hist_len = T::hist_len(self.num_states);
        let first = self.first_chunk;
        let ns = self.num_states;
        let na = self.sampler.num_actions();
        let len = ns * na * ns;
        let sampler = &self.sampler;
        let b = &mut self.buffer;
        let work = |c: usize,
                    prev: &[T],
                    next: &mut [T],
                    actions: &mut [u8],
                    hist: &mut [u32],
                    regen: &mut u64,
                    (scratch, total): &mut (Vec<u32>, Vec<u64>)| {
            let mut rng = stream(seed, Purpose::Step, step, first + c as u64);
            *regen = step_chunk_counting(sampler, prev, next, actions, hist, scratch, &mut rng);
            for (t, x) in total.iter_mut().zip(scratch.iter()) {
                *t += u64::from(*x);
            }
        };
        let init = || (vec![0u32; len], vec![0u64; len]);
        let totals = if par {
            b.prev
                .par_chunks(CHUNK)
                .zip(b.next.par_chunks_mut(CHUNK))
                .zip(b.actions.par_chunks_mut(CHUNK))
                .zip(self.chunk_hist.par_chunks_mut(hist_len))
                .zip(self.chunk_regen.par_iter_mut())
                .enumerate()
                .fold(
                    init,
                    |mut acc, (c, ((((prev, next), actions), hist), regen))| {
                        work(c, prev, next, actions, hist, regen, &mut acc);
                        acc
                    },
                )
                .map(|(_, total)| total)
                .reduce(
                    || vec![0u64; len],
                    |mut a, b| {
                        for (x, y) in a.iter_mut().zip(&b) {
                            *x += y;
                        }
                        a
                    },
                )
        } else {
            let mut acc = init();
            b.prev
                .chunks(CHUNK)
                .zip(b.next.chunks_mut(CHUNK))
                .zip(b.actions.chunks_mut(CHUNK))
                .zip(self.chunk_hist.chunks_mut(hist_len))
                .zip(self.chunk_regen.iter_mut())
                .enumerate()
                .for_each(|(c, ((((prev, next), actions), hist), regen))| {
                    work(c, prev, next, actions, hist, regen, &mut acc);
                });
            acc.1
        };
        self.transition_counts = totals;
        self.counted = true;
    }

    /// Moves every agent once, agent i playing `given[i]` (indexed like
    /// [`Population::states`]): s′_i ~ P(·|s_i, given\[i\], z) with the regeneration split of
    /// the shared step, at `at` if given (a frozen mean field, see [`Engine::step_at`]) or
    /// else at the empirical z^N_k. The buffer records `pack_action(given[i], regenerated)`.
    /// Chunk c draws from `rng::stream(seed, Step, step, c)`, one u64 per agent, chunks in
    /// parallel on the current rayon pool; bitwise identical to
    /// [`Population::step_given_seq`] for any pool size.
    ///
    /// # Errors
    /// [`Error::Param`] when the model has another number of states than the population,
    /// (key `z`) when `at` is not a pmf of length |S|, (key `actions`) as
    /// [`check_actions`] against N and the model's |A|, or as [`ActionSampler::try_rebuild`].
    /// On error nothing changes.
    pub fn step_given_par(
        &mut self,
        model: &(impl Model + ?Sized),
        given: &[u8],
        at: Option<&[f64]>,
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        self.prepare(model, Actions::PerAgent(given), at)?;
        let hist_len = T::hist_len(self.num_states);
        let first = self.first_chunk;
        let sampler = &self.action_sampler;
        let b = &mut self.buffer;
        b.prev
            .par_chunks(CHUNK)
            .zip(given.par_chunks(CHUNK))
            .zip(b.next.par_chunks_mut(CHUNK))
            .zip(b.actions.par_chunks_mut(CHUNK))
            .zip(self.chunk_hist.par_chunks_mut(hist_len))
            .zip(self.chunk_regen.par_iter_mut())
            .enumerate()
            .for_each(|(c, (((((prev, given), next), actions), hist), regen))| {
                let mut rng = stream(seed, Purpose::Step, step, first + c as u64);
                *regen = step_chunk_given(sampler, prev, given, next, actions, hist, &mut rng);
            });
        Ok(self.finish(step))
    }

    /// [`Population::step_given_par`] with the chunk loop on the calling thread only, chunk
    /// after chunk, with the same streams: bitwise identical results. (The one-pass check of
    /// the action column, [`check_actions`], still runs on the current rayon pool.)
    ///
    /// # Errors
    /// As [`Population::step_given_par`].
    pub fn step_given_seq(
        &mut self,
        model: &(impl Model + ?Sized),
        given: &[u8],
        at: Option<&[f64]>,
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        self.prepare(model, Actions::PerAgent(given), at)?;
        let hist_len = T::hist_len(self.num_states);
        let first = self.first_chunk;
        let sampler = &self.action_sampler;
        let b = &mut self.buffer;
        b.prev
            .chunks(CHUNK)
            .zip(given.chunks(CHUNK))
            .zip(b.next.chunks_mut(CHUNK))
            .zip(b.actions.chunks_mut(CHUNK))
            .zip(self.chunk_hist.chunks_mut(hist_len))
            .zip(self.chunk_regen.iter_mut())
            .enumerate()
            .for_each(|(c, (((((prev, given), next), actions), hist), regen))| {
                let mut rng = stream(seed, Purpose::Step, step, first + c as u64);
                *regen = step_chunk_given(sampler, prev, given, next, actions, hist, &mut rng);
            });
        Ok(self.finish(step))
    }

    /// Validates, fills the step's tables at `at` (default: the empirical z^N_k), builds the
    /// sampler `actions` needs (joint tables for a shared strategy, per-(s, a) tables for
    /// per-agent actions, whose column is checked too), then swaps the state columns (the
    /// current states become `buffer.prev`). Changes nothing on error.
    fn prepare(
        &mut self,
        model: &(impl Model + ?Sized),
        actions: Actions<'_>,
        at: Option<&[f64]>,
    ) -> Result<()> {
        if let Some(z) = at {
            check_pmf("z", z, Some(self.num_states))?;
        }
        if model.num_states() != self.num_states {
            return Err(Error::param(
                "model",
                format!(
                    "has {} states, the population has {}",
                    model.num_states(),
                    self.num_states
                ),
            ));
        }
        if self.count_transitions && matches!(actions, Actions::Shared(_)) {
            check_dense_counts(self.num_states, model.num_actions())?;
        }
        let z = at.unwrap_or(&self.mean_field);
        model.fill_tables(z, &mut self.scratch_tables);
        let (zeta, w) = (model.regen_prob(), model.regen_pmf());
        match actions {
            Actions::Shared(policy) => {
                self.scratch_sampler
                    .try_rebuild(&self.scratch_tables, policy, zeta, &w)?;
                std::mem::swap(&mut self.scratch_sampler, &mut self.sampler);
            }
            Actions::PerAgent(given) => {
                self.scratch_action_sampler
                    .try_rebuild(&self.scratch_tables, zeta, &w)?;
                // After the rebuild, so |A| is known to fit the action byte.
                check_actions(given, self.buffer.len(), model.num_actions())?;
                std::mem::swap(&mut self.scratch_action_sampler, &mut self.action_sampler);
            }
        }
        std::mem::swap(&mut self.scratch_tables, &mut self.buffer.tables);
        let z = at.unwrap_or(&self.mean_field);
        self.buffer.mean_field.copy_from_slice(z);
        std::mem::swap(&mut self.buffer.prev, &mut self.buffer.next);
        self.counted = false;
        Ok(())
    }

    /// Sums the chunk histograms in chunk order into `counts` and `mean_field`; records
    /// the step in the buffer.
    fn finish(&mut self, step: u64) -> StepStats {
        let regenerated = self.chunk_regen.iter().sum();
        self.reduce();
        self.buffer.step = step;
        self.buffer.regenerated = regenerated;
        self.stepped = true;
        StepStats {
            step,
            num_agents: self.buffer.len() as u64,
            regenerated,
        }
    }

    /// counts(s) = Σ_c hist_c(s) in chunk order; z = counts / N.
    fn reduce(&mut self) {
        let hist_len = T::hist_len(self.num_states);
        self.counts.fill(0);
        for hist in self.chunk_hist.chunks_exact(hist_len) {
            for (c, h) in self.counts.iter_mut().zip(hist) {
                *c += u64::from(*h);
            }
        }
        debug_assert_eq!(
            self.counts.iter().sum::<u64>(),
            self.buffer.len() as u64,
            "histogram lost agents"
        );
        let n = self.buffer.len() as f64;
        if n > 0.0 {
            for (z, c) in self.mean_field.iter_mut().zip(&self.counts) {
                *z = *c as f64 / n;
            }
        }
    }
}

/// Whether a state column of type `T` holds `num_states` states.
///
/// # Errors
/// [`Error::Param`] (key `num_states`) when it is 0 or more than `T` holds.
fn check_num_states<T: StateCode>(num_states: usize) -> Result<()> {
    if num_states == 0 || num_states > T::MAX_STATES {
        let hint = if T::MAX_STATES < 1 << 16 {
            "; use Population::<u16>::try_new_typed for up to 65536 states"
        } else {
            ""
        };
        return Err(Error::param(
            "num_states",
            format!(
                "must be in [1, {}] for a {}-byte state column, got {num_states}{hint}",
                T::MAX_STATES,
                std::mem::size_of::<T>()
            ),
        ));
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Infection, InfectionParams};
    use crate::rng::StreamRng;
    use crate::space::uniform;
    use crate::test_util::in_pool;
    use crate::transition::{is_regenerated, unpack_action};
    use proptest::prelude::*;
    use rand::Rng;

    /// A policy that differs across states and has some zero entries.
    fn test_policy(ns: usize, na: usize) -> Policy {
        let mut p = Policy::uniform(ns, na);
        for s in 0..ns {
            let row = &mut p.probs[s * na..(s + 1) * na];
            for (a, x) in row.iter_mut().enumerate() {
                *x = if (s + a) % 4 == 0 {
                    0.0
                } else {
                    1.0 + ((s * 7 + a * 3) % 5) as f64
                };
            }
            let sum: f64 = row.iter().sum();
            row.iter_mut().for_each(|x| *x /= sum);
        }
        p
    }

    /// Everything a run produces, for bitwise comparisons.
    #[derive(Debug, PartialEq)]
    struct Run {
        states: Vec<u8>,
        prev: Vec<u8>,
        actions: Vec<u8>,
        counts: Vec<u64>,
        mean_field_bits: Vec<u64>,
        stats: Vec<StepStats>,
    }

    fn run(n: usize, steps: u64, seed: u64, par: bool) -> Run {
        run_with(n, steps, seed, par, false)
    }

    /// Per-agent actions for step k that depend on the agent, its state and k (as a
    /// learner's would), every one of the `na` actions used in every state.
    fn given_actions(states: &[u8], k: u64, na: usize) -> Vec<u8> {
        states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let h = (i as u64 ^ (k << 40) ^ (u64::from(*s) << 32))
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15);
                ((h >> 32) % na as u64) as u8
            })
            .collect()
    }

    /// `run`, with per-agent actions ([`given_actions`]) when `given`.
    fn run_with(n: usize, steps: u64, seed: u64, par: bool, given: bool) -> Run {
        let m = Infection::default();
        let policy = test_policy(25, 5);
        let mut pop = Population::try_new(25, n, &uniform(25), seed).unwrap();
        let stats = (0..steps)
            .map(|k| {
                let acts = given_actions(pop.states(), k, 5);
                match (given, par) {
                    (false, true) => pop.step_par(&m, &policy, k, seed),
                    (false, false) => pop.step_seq(&m, &policy, k, seed),
                    (true, true) => pop.step_given_par(&m, &acts, None, k, seed),
                    (true, false) => pop.step_given_seq(&m, &acts, None, k, seed),
                }
                .unwrap()
            })
            .collect();
        let b = pop.transitions().unwrap();
        Run {
            states: pop.states().to_vec(),
            prev: b.states().to_vec(),
            actions: b.actions().to_vec(),
            counts: pop.counts().to_vec(),
            mean_field_bits: pop.mean_field().iter().map(|z| z.to_bits()).collect(),
            stats,
        }
    }

    #[test]
    fn bitwise_identical_across_thread_counts_and_seq() {
        let n = 3 * CHUNK + 1234;
        let one = in_pool(1, || run(n, 4, 99, true));
        let two = in_pool(2, || run(n, 4, 99, true));
        let three = in_pool(3, || run(n, 4, 99, true));
        let seq = in_pool(2, || run(n, 4, 99, false));
        assert_eq!(one, two);
        assert_eq!(one, three);
        assert_eq!(one, seq);
    }

    #[test]
    fn per_agent_bitwise_identical_across_thread_counts_and_seq() {
        let n = 3 * CHUNK + 1234;
        let one = in_pool(1, || run_with(n, 4, 99, true, true));
        let two = in_pool(2, || run_with(n, 4, 99, true, true));
        let seq = in_pool(2, || run_with(n, 4, 99, false, true));
        assert_eq!(one, two);
        assert_eq!(one, seq);
        // And it is not the shared run.
        assert_ne!(one.actions, in_pool(2, || run(n, 4, 99, true)).actions);
    }

    #[test]
    fn per_agent_records_the_given_actions() {
        let m = Infection::default();
        let n = CHUNK + 321;
        let mut pop = Population::try_new(25, n, &uniform(25), 5).unwrap();
        for k in 0..3 {
            let acts = given_actions(pop.states(), k, 5);
            let stats = Engine::step(&mut pop, &m, Actions::PerAgent(&acts), k, 5).unwrap();
            let b = pop.transitions().unwrap();
            let flagged = b.actions().iter().filter(|a| is_regenerated(**a)).count();
            assert_eq!(flagged as u64, stats.regenerated);
            for (i, (&a, &byte)) in acts.iter().zip(b.actions()).enumerate() {
                assert_eq!(unpack_action(byte), usize::from(a), "agent {i}");
            }
            let mut recount = [0u64; 25];
            pop.states().iter().for_each(|s| recount[*s as usize] += 1);
            assert_eq!(pop.counts(), &recount[..]);
            assert_eq!(b.step(), k);
        }
    }

    /// μ(s, ·) = 1 on a* in every state.
    fn one_hot(ns: usize, na: usize, a_star: usize) -> Policy {
        let mut p = Policy::uniform(ns, na);
        for s in 0..ns {
            for a in 0..na {
                p.probs[s * na + a] = if a == a_star { 1.0 } else { 0.0 };
            }
        }
        p
    }

    #[test]
    fn per_agent_with_one_action_is_the_shared_one_hot_step() {
        // Every agent playing a* is the shared step under the one-hot strategy on a*: the
        // same law, and in fact the same tables (μ = 1 multiplies exactly), so the same run.
        let m = Infection::default();
        let n = 2 * CHUNK + 77;
        for a_star in 0..5u8 {
            let policy = one_hot(25, 5, usize::from(a_star));
            let mut shared = Population::try_new(25, n, &uniform(25), 3).unwrap();
            let mut given = shared.clone();
            let acts = vec![a_star; n];
            for k in 0..3 {
                let z = (k == 2).then(|| point_heavy(25));
                let (x, y) = match &z {
                    None => (
                        Engine::step(&mut shared, &m, Actions::Shared(&policy), k, 3),
                        Engine::step(&mut given, &m, Actions::PerAgent(&acts), k, 3),
                    ),
                    Some(z) => (
                        Engine::step_at(&mut shared, &m, Actions::Shared(&policy), z, k, 3),
                        Engine::step_at(&mut given, &m, Actions::PerAgent(&acts), z, k, 3),
                    ),
                };
                assert_eq!(x.unwrap(), y.unwrap(), "a* = {a_star}, step {k}");
                assert_eq!(shared.states(), given.states());
                assert_eq!(shared.counts(), given.counts());
                assert_eq!(shared.transitions(), given.transitions());
                for s in 0..25 {
                    let law = given.action_sampler().implied_law(s, usize::from(a_star));
                    assert_eq!(shared.sampler().implied_law(s), law, "state {s}");
                }
            }
        }
    }

    #[test]
    fn per_agent_bad_actions_are_param_errors_and_change_nothing() {
        let m = Infection::default();
        let n = 2 * CHUNK + 9;
        let mut pop = Population::try_new(25, n, &uniform(25), 4).unwrap();
        let mut fresh = pop.clone();
        let acts = given_actions(pop.states(), 0, 5);
        let mut bad_value = acts.clone();
        bad_value[CHUNK + 5] = 5;
        let mut huge = acts.clone();
        huge[n - 1] = 200;
        let cases: [(&str, &[u8]); 5] = [
            ("short", &acts[..n - 1]),
            ("long", &[acts.as_slice(), &[0]].concat()),
            ("empty", &[]),
            ("action = |A|", &bad_value),
            ("action ≥ 128", &huge),
        ];
        // Before the first step: no transitions appear.
        for (name, bad) in &cases {
            let e = pop.step_given_par(&m, bad, None, 0, 4).unwrap_err();
            assert!(
                matches!(&e, Error::Param { key, .. } if key == "actions"),
                "{name}: {e}"
            );
            assert!(pop.transitions().is_none(), "{name}");
        }
        assert_eq!(pop.states(), fresh.states());
        // After steps of both kinds, through every entry point.
        pop.step_par(&m, &test_policy(25, 5), 0, 4).unwrap();
        pop.step_given_par(&m, &acts, None, 1, 4).unwrap();
        fresh = pop.clone();
        let z = point_heavy(25);
        for (name, bad) in &cases {
            for (entry, e) in [
                ("par", pop.step_given_par(&m, bad, None, 2, 4)),
                ("seq", pop.step_given_seq(&m, bad, Some(&z), 2, 4)),
                (
                    "step",
                    Engine::step(&mut pop, &m, Actions::PerAgent(bad), 2, 4),
                ),
                (
                    "step_at",
                    Engine::step_at(&mut pop, &m, Actions::PerAgent(bad), &z, 2, 4),
                ),
            ] {
                let e = e.unwrap_err();
                assert!(
                    matches!(&e, Error::Param { key, .. } if key == "actions"),
                    "{name} via {entry}: {e}"
                );
            }
            assert_eq!(pop.states(), fresh.states(), "{name}");
            assert_eq!(pop.counts(), fresh.counts(), "{name}");
            assert_eq!(pop.mean_field(), fresh.mean_field(), "{name}");
            assert_eq!(pop.transitions(), fresh.transitions(), "{name}");
            assert_eq!(
                pop.action_sampler().implied_law(3, 1),
                fresh.action_sampler().implied_law(3, 1)
            );
        }
        // A bad z is named as such, before the actions are looked at.
        let e = pop
            .step_given_par(&m, &acts, Some(&uniform(24)), 2, 4)
            .unwrap_err();
        assert!(matches!(&e, Error::Param { key, .. } if key == "z"), "{e}");
        assert_eq!(pop.transitions(), fresh.transitions());
        // The good slice still steps, identically to a population that never saw an error.
        let x = pop.step_given_par(&m, &acts, None, 2, 4).unwrap();
        let y = fresh.step_given_par(&m, &acts, None, 2, 4).unwrap();
        assert_eq!(x, y);
        assert_eq!(pop.transitions(), fresh.transitions());
    }

    /// c(s, a, s′) recounted from the buffer columns.
    fn recount<T: StateCode>(pop: &Population<T>, na: usize) -> Vec<u64> {
        let ns = pop.num_states();
        let b = pop.transitions().unwrap();
        let mut c = vec![0u64; ns * na * ns];
        for i in 0..b.len() {
            let t = b.get(i);
            c[(t.state * na + t.action) * ns + t.next_state] += 1;
        }
        c
    }

    #[test]
    fn counted_transitions_equal_a_recount_of_the_buffer_for_any_thread_count() {
        let m = Infection::default();
        let policy = test_policy(25, 5);
        let n = 3 * CHUNK + 1234;
        let mut results = Vec::new();
        for (threads, par) in [(1, true), (2, true), (2, false)] {
            let counts = in_pool(threads, || {
                let mut pop = Population::try_new(25, n, &uniform(25), 5).unwrap();
                assert!(pop.transition_counts().is_none());
                pop.set_count_transitions(true).unwrap();
                let mut all = Vec::new();
                for k in 0..3 {
                    if par {
                        pop.step_par(&m, &policy, k, 5).unwrap();
                    } else {
                        pop.step_seq(&m, &policy, k, 5).unwrap();
                    }
                    let c = pop.transition_counts().unwrap().to_vec();
                    assert_eq!(c, recount(&pop, 5), "step {k}");
                    assert_eq!(c.iter().sum::<u64>(), n as u64);
                    all.push(c);
                }
                all
            });
            results.push(counts);
        }
        assert_eq!(results[0], results[1]);
        assert_eq!(results[0], results[2]);
    }

    #[test]
    fn counting_changes_no_draw_and_turns_off() {
        let m = Infection::default();
        let policy = test_policy(25, 5);
        let mut a = Population::try_new(25, CHUNK + 7, &uniform(25), 9).unwrap();
        let mut b = a.clone();
        b.set_count_transitions(true).unwrap();
        a.step_par(&m, &policy, 0, 9).unwrap();
        b.step_par(&m, &policy, 0, 9).unwrap();
        assert_eq!(a.states(), b.states());
        assert_eq!(a.counts(), b.counts());
        assert!(a.transition_counts().is_none());
        b.set_count_transitions(false).unwrap();
        assert!(b.transition_counts().is_none());
    }

    #[test]
    fn dense_counts_above_the_limit_are_refused_by_name() {
        // 300 states: 300²·1 = 90 000 > 2^16.
        let mut pop = Population::<u16>::try_new_typed(300, 10, &uniform(300), 1).unwrap();
        let e = pop.set_count_transitions(true).unwrap_err().to_string();
        assert!(
            e.contains("learner.rule") && e.contains("65536") && e.contains("sampled"),
            "{e}"
        );
        // 120 states, 5 actions: 72 000 > 2^16.
        let e = check_dense_counts(120, 5).unwrap_err().to_string();
        assert!(e.contains("120²·5 = 72000"), "{e}");
        check_dense_counts(25, 5).unwrap();
    }

    #[test]
    fn seed_changes_the_run() {
        let n = CHUNK + 17;
        let a = run(n, 2, 1, true);
        let b = run(n, 2, 2, true);
        let same = a
            .states
            .iter()
            .zip(&b.states)
            .filter(|(x, y)| x == y)
            .count();
        // Independent runs agree on a state only by chance (well under half the agents).
        assert!(same < n / 2, "{same} of {n} states equal");
        assert_ne!(a.actions, b.actions);
        // The step index is part of the key too.
        let m = Infection::default();
        let policy = test_policy(25, 5);
        let mut p = Population::try_new(25, n, &uniform(25), 1).unwrap();
        let mut q = p.clone();
        p.step_par(&m, &policy, 0, 1).unwrap();
        q.step_par(&m, &policy, 1, 1).unwrap();
        assert_ne!(p.states(), q.states());
    }

    #[test]
    fn histogram_sums_to_n_and_matches_the_states() {
        let infection = Infection::default();
        let m: &dyn Model = &infection;
        let policy = test_policy(25, 5);
        let n = 2 * CHUNK + 5;
        let mut pop = Population::try_new(25, n, &uniform(25), 3).unwrap();
        for k in 0..3 {
            let stats = pop.step_par(m, &policy, k, 3).unwrap();
            assert_eq!(stats.num_agents, n as u64);
            assert_eq!(pop.counts().iter().sum::<u64>(), n as u64);
            let mut recount = vec![0u64; 25];
            pop.states().iter().for_each(|s| recount[*s as usize] += 1);
            assert_eq!(pop.counts(), &recount[..]);
            for (z, c) in pop.mean_field().iter().zip(&recount) {
                assert_eq!(*z, *c as f64 / n as f64);
            }
            let b = pop.transitions().unwrap();
            let flagged = b.actions().iter().filter(|a| is_regenerated(**a)).count();
            assert_eq!(flagged as u64, stats.regenerated);
            assert_eq!(b.regenerated(), stats.regenerated);
            assert_eq!(b.step(), k);
        }
    }

    #[test]
    fn regeneration_count_is_zeta_n_within_noise() {
        let m = Infection::default();
        let policy = test_policy(25, 5);
        let n = 1 << 20;
        let zeta = m.regen_prob();
        let sd = (n as f64 * zeta * (1.0 - zeta)).sqrt();
        let mut pop = Population::try_new(25, n, &uniform(25), 11).unwrap();
        let mut total = 0.0;
        for k in 0..5 {
            let r = pop.step_par(&m, &policy, k, 11).unwrap().regenerated as f64;
            assert!((r - zeta * n as f64).abs() < 5.0 * sd, "step {k}: {r}");
            total += r;
        }
        let sd5 = sd * 5f64.sqrt();
        assert!((total - 5.0 * zeta * n as f64).abs() < 4.0 * sd5, "{total}");
    }

    #[test]
    fn transitions_before_first_step_and_after_reset() {
        let m = Infection::default();
        let mut pop = Population::try_new(25, 100, &uniform(25), 0).unwrap();
        assert!(pop.transitions().is_none());
        pop.step_seq(&m, &Policy::uniform(25, 5), 0, 0).unwrap();
        assert_eq!(pop.transitions().unwrap().len(), 100);
        pop.reset(&uniform(25), 1).unwrap();
        assert!(pop.transitions().is_none());
    }

    #[test]
    fn errors_are_clear_and_leave_the_population_unchanged() {
        let e = Population::try_new(300, 10, &uniform(300), 0).unwrap_err();
        assert!(e.to_string().contains("u16"), "{e}");
        let wide = Population::<u16>::try_new_typed(300, 10, &uniform(300), 0).unwrap();
        assert_eq!(wide.num_states(), 300);
        let e = Population::try_new(25, 0, &uniform(25), 0).unwrap_err();
        assert!(e.to_string().contains("num_agents"), "{e}");
        let e = Population::try_new(25, 10, &uniform(24), 0).unwrap_err();
        assert!(e.to_string().contains("init"), "{e}");

        let m = Infection::default();
        let mut pop = Population::try_new(25, 1000, &uniform(25), 0).unwrap();
        pop.step_par(&m, &Policy::uniform(25, 5), 0, 0).unwrap();
        let before = (pop.states().to_vec(), pop.counts().to_vec());
        let buf = pop.transitions().unwrap().clone();
        let e = pop.step_par(&m, &Policy::uniform(25, 3), 1, 0).unwrap_err();
        assert!(e.to_string().contains("policy"), "{e}");
        let small = Infection::try_new(InfectionParams {
            num_states: 10,
            w2_pmf: uniform(10),
            ..Default::default()
        })
        .unwrap();
        let e = pop
            .step_par(&small, &Policy::uniform(10, 5), 1, 0)
            .unwrap_err();
        assert!(e.to_string().contains("10 states"), "{e}");
        assert_eq!((pop.states().to_vec(), pop.counts().to_vec()), before);
        assert_eq!(pop.transitions().unwrap(), &buf);
    }

    // ---- exactness in distribution ----

    /// Pearson's χ² of the observed (a, s', regenerated) counts per start state against
    /// `prob(s, a, s', g)`. Cells with expected count < 5 are pooled per state; an
    /// observation in a cell of probability 0 gives +∞. Returns (χ², degrees of freedom).
    fn chi_square(
        obs: &[u64],
        n_start: &[u64],
        ns: usize,
        na: usize,
        prob: impl Fn(usize, usize, usize, bool) -> f64,
    ) -> (f64, usize) {
        let (mut stat, mut cells) = (0.0, 0usize);
        for (s, &n_s) in n_start.iter().enumerate() {
            if n_s == 0 {
                continue;
            }
            let (mut pooled_o, mut pooled_e, mut groups) = (0.0, 0.0, 0usize);
            for a in 0..na {
                for next in 0..ns {
                    for g in [false, true] {
                        let o = obs[((s * na + a) * ns + next) * 2 + usize::from(g)] as f64;
                        let e = n_s as f64 * prob(s, a, next, g);
                        if e <= 0.0 {
                            if o > 0.0 {
                                return (f64::INFINITY, 0);
                            }
                        } else if e < 5.0 {
                            pooled_o += o;
                            pooled_e += e;
                        } else {
                            stat += (o - e) * (o - e) / e;
                            groups += 1;
                        }
                    }
                }
            }
            if pooled_e > 0.0 {
                stat += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
                groups += 1;
            }
            cells += groups - 1;
        }
        (stat, cells)
    }

    /// One step of 2²¹ agents spread over all states; the (s → a, s', regenerated)
    /// frequencies must match μ(s,a)·ζ·w(s') and μ(s,a)·(P(s'|s,a,z) − ζ·w(s')), and the
    /// same test must reject slightly wrong laws (so it is not vacuous).
    ///
    /// With `at`, the step is [`Engine::step_at`] there: the buffer must hold `at` and the
    /// tables at `at`, and the law at the empirical mean field must be rejected.
    fn exactness_for<T: StateCode>(at: Option<&[f64]>) {
        let m = Infection::default();
        let (ns, na) = (25, 5);
        let policy = test_policy(ns, na);
        let n = 1 << 21;
        let mut pop = Population::<T>::try_new_typed(ns, n, &uniform(ns), 2024).unwrap();
        let empirical = KernelTables::of(&m, pop.mean_field());
        match at {
            None => pop.step_par(&m, &policy, 0, 2024).unwrap(),
            Some(z) => Engine::step_at(&mut pop, &m, Actions::Shared(&policy), z, 0, 2024).unwrap(),
        };
        let b = pop.transitions().unwrap();
        if let Some(z) = at {
            assert_eq!(b.mean_field(), z);
            assert_eq!(b.tables(), &KernelTables::of(&m, z));
        }
        let mut obs = vec![0u64; ns * na * ns * 2];
        let mut n_start = vec![0u64; ns];
        for t in b.iter() {
            n_start[t.state] += 1;
            obs[((t.state * na + t.action) * ns + t.next_state) * 2
                + usize::from(t.regenerated)] += 1;
        }
        let tables = b.tables();
        let w = m.regen_pmf();
        // The law under test, and wrong variants: `flip` swaps the regeneration flag,
        // `shift` uses the row of another action, `tilt` mixes μ with the uniform policy.
        let law = |tables: &KernelTables, zeta: f64, flip: bool, shift: usize, tilt: f64| {
            let (w, policy) = (&w, &policy);
            let tables = tables.clone();
            move |s: usize, a: usize, next: usize, g: bool| {
                let p = split_prob(&tables, w, zeta, flip, s, (a + shift) % na, next, g);
                ((1.0 - tilt) * policy.get(s, a) + tilt / na as f64) * p
            }
        };
        let zeta = m.regen_prob();
        let (stat, df) = chi_square(&obs, &n_start, ns, na, law(tables, zeta, false, 0, 0.0));
        let limit = df as f64 + 5.0 * (2.0 * df as f64).sqrt();
        assert!(stat < limit, "χ² = {stat} with {df} dof (limit {limit})");
        // Negative controls on the same sample: each must be rejected.
        let mut controls = vec![
            ("regen flag flipped", tables, true, 0, zeta, 0.0),
            ("row of another action", tables, false, 1, zeta, 0.0),
            ("ζ off by 10%", tables, false, 0, zeta * 1.1, 0.0),
            ("μ tilted 5% to uniform", tables, false, 0, zeta, 0.05),
        ];
        if at.is_some() {
            controls.push(("kernel at the empirical z", &empirical, false, 0, zeta, 0.0));
        }
        for (name, tables, flip, shift, zeta, tilt) in controls {
            let (wrong, df) =
                chi_square(&obs, &n_start, ns, na, law(tables, zeta, flip, shift, tilt));
            let lim = df as f64 + 5.0 * (2.0 * df as f64).sqrt();
            assert!(
                wrong > lim,
                "{name}: χ² = {wrong} with {df} dof not rejected"
            );
        }
    }

    /// P(s′, regenerated = g | s, a) under `tables`: ζ·w(s′) or max(P(s′|s,a) − ζ·w(s′), 0),
    /// the two swapped when `flip`.
    #[expect(clippy::too_many_arguments, reason = "a test law with its knobs")]
    fn split_prob(
        tables: &KernelTables,
        w: &[f64],
        zeta: f64,
        flip: bool,
        s: usize,
        a: usize,
        next: usize,
        g: bool,
    ) -> f64 {
        let regen = zeta * w[next];
        if g != flip {
            regen
        } else {
            (tables.row(s, a)[next] - regen).max(0.0)
        }
    }

    /// A mean field far from uniform (half the mass on state 0), so the infection
    /// probability, and with it the kernel, differs clearly from the empirical one.
    fn point_heavy(ns: usize) -> Vec<f64> {
        let mut z = vec![0.5 / (ns - 1) as f64; ns];
        z[0] = 0.5;
        z
    }

    /// One per-agent step of 2²¹ agents spread over all states, actions varying by agent;
    /// the (s, a → s', regenerated) frequencies must match ζ·w(s') and
    /// max(P(s'|s,a,z) − ζ·w(s'), 0) for each start pair (s, a), and wrong laws must be
    /// rejected. With `at`, the step is taken at that frozen mean field (as in
    /// [`exactness_for`]).
    fn per_agent_exactness_for<T: StateCode>(at: Option<&[f64]>) {
        let m = Infection::default();
        let (ns, na) = (25, 5);
        let n = 1 << 21;
        let mut pop = Population::<T>::try_new_typed(ns, n, &uniform(ns), 2025).unwrap();
        let empirical = KernelTables::of(&m, pop.mean_field());
        let codes: Vec<u8> = pop.states().iter().map(|s| s.index() as u8).collect();
        let acts = given_actions(&codes, 0, na);
        match at {
            None => pop.step_given_par(&m, &acts, None, 0, 2025).unwrap(),
            Some(z) => Engine::step_at(&mut pop, &m, Actions::PerAgent(&acts), z, 0, 2025).unwrap(),
        };
        let b = pop.transitions().unwrap();
        if let Some(z) = at {
            assert_eq!(b.mean_field(), z);
            assert_eq!(b.tables(), &KernelTables::of(&m, z));
        }
        // Start "states" are the pairs (s, a), s·|A| + a, each with one action slot.
        let mut obs = vec![0u64; ns * na * ns * 2];
        let mut n_start = vec![0u64; ns * na];
        for (t, &a) in b.iter().zip(&acts) {
            assert_eq!(t.action, usize::from(a));
            let sa = t.state * na + t.action;
            n_start[sa] += 1;
            obs[(sa * ns + t.next_state) * 2 + usize::from(t.regenerated)] += 1;
        }
        assert!(
            n_start.iter().all(|c| *c > 10_000),
            "every (s, a) is played"
        );
        let w = m.regen_pmf();
        let zeta = m.regen_prob();
        let law = |tables: &KernelTables, zeta: f64, flip: bool, shift: usize| {
            let (w, tables) = (&w, tables.clone());
            move |sa: usize, _: usize, next: usize, g: bool| {
                let (s, a) = (sa / na, (sa % na + shift) % na);
                split_prob(&tables, w, zeta, flip, s, a, next, g)
            }
        };
        let tables = b.tables();
        let (stat, df) = chi_square(&obs, &n_start, ns, 1, law(tables, zeta, false, 0));
        let limit = df as f64 + 5.0 * (2.0 * df as f64).sqrt();
        assert!(stat < limit, "χ² = {stat} with {df} dof (limit {limit})");
        let mut controls = vec![
            ("regen flag flipped", tables, true, 0, zeta),
            ("row of another action", tables, false, 1, zeta),
            ("ζ off by 10%", tables, false, 0, zeta * 1.1),
        ];
        if at.is_some() {
            controls.push(("kernel at the empirical z", &empirical, false, 0, zeta));
        }
        for (name, tables, flip, shift, zeta) in controls {
            let (wrong, df) = chi_square(&obs, &n_start, ns, 1, law(tables, zeta, flip, shift));
            let lim = df as f64 + 5.0 * (2.0 * df as f64).sqrt();
            assert!(
                wrong > lim,
                "{name}: χ² = {wrong} with {df} dof not rejected"
            );
        }
    }

    #[test]
    fn per_agent_step_is_exact_in_distribution_u8() {
        per_agent_exactness_for::<u8>(None);
    }

    #[test]
    fn per_agent_step_is_exact_in_distribution_u16() {
        per_agent_exactness_for::<u16>(None);
    }

    #[test]
    fn per_agent_step_at_uses_the_given_mean_field() {
        per_agent_exactness_for::<u8>(Some(&point_heavy(25)));
    }

    #[test]
    fn shared_step_at_uses_the_given_mean_field() {
        exactness_for::<u8>(Some(&point_heavy(25)));
    }

    #[test]
    fn step_is_exact_in_distribution_u8() {
        exactness_for::<u8>(None);
    }

    #[test]
    fn step_is_exact_in_distribution_u16() {
        exactness_for::<u16>(None);
    }

    #[test]
    fn init_follows_the_initial_law() {
        let ns = 25;
        let init: Vec<f64> = (0..ns).map(|s| (s % 5) as f64 / 50.0).collect();
        let n = 1 << 20;
        let pop = Population::try_new(ns, n, &init, 8).unwrap();
        let mut stat = 0.0;
        for (c, p) in pop.counts().iter().zip(&init) {
            let e = n as f64 * p;
            if e == 0.0 {
                assert_eq!(*c, 0);
            } else {
                stat += (*c as f64 - e).powi(2) / e;
            }
        }
        let df = init.iter().filter(|p| **p > 0.0).count() as f64 - 1.0;
        assert!(stat < df + 5.0 * (2.0 * df).sqrt(), "χ² {stat}");
    }

    // ---- the SoA step against a naive per-agent loop ----

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Agent {
        state: usize,
        action: usize,
        regenerated: bool,
    }

    /// The step written agent by agent, with no chunk loop, columns or histograms: only the
    /// streams (a new one every CHUNK agents) and the sampler are shared with the engine.
    fn naive_step(agents: &mut [Agent], m: &Infection, policy: &Policy, step: u64, seed: u64) {
        let ns = m.num_states();
        let mut counts = vec![0usize; ns];
        for a in agents.iter() {
            counts[a.state] += 1;
        }
        let z: Vec<f64> = counts
            .iter()
            .map(|c| *c as f64 / agents.len() as f64)
            .collect();
        let tables = KernelTables::of(m, &z);
        let mut sampler = StepSampler::<u8>::new();
        sampler
            .try_rebuild(&tables, policy, m.regen_prob(), &m.regen_pmf())
            .unwrap();
        let mut rng: Option<StreamRng> = None;
        for (i, agent) in agents.iter_mut().enumerate() {
            if i % CHUNK == 0 {
                rng = Some(stream(seed, Purpose::Step, step, (i / CHUNK) as u64));
            }
            let x = rng.as_mut().unwrap().next_u64();
            let o = sampler.sample(agent.state as u8, x);
            *agent = Agent {
                state: o.next as usize,
                action: unpack_action(o.action),
                regenerated: is_regenerated(o.action),
            };
        }
    }

    fn policy_from(weights: &[u8], ns: usize, na: usize) -> Policy {
        let mut p = Policy::uniform(ns, na);
        for s in 0..ns {
            let w = &weights[s * na..(s + 1) * na];
            let sum: f64 = w.iter().map(|x| f64::from(*x)).sum();
            if sum > 0.0 {
                for (dst, x) in p.probs[s * na..(s + 1) * na].iter_mut().zip(w) {
                    *dst = f64::from(*x) / sum;
                }
            }
        }
        p
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn soa_step_equals_naive_per_agent_loop(
            n in 1usize..(2 * CHUNK + 300),
            seed in any::<u64>(),
            steps in 1u64..4,
            weights in proptest::collection::vec(0u8..4, 125),
        ) {
            let m = Infection::default();
            let policy = policy_from(&weights, 25, 5);
            let mut pop = Population::try_new(25, n, &uniform(25), seed).unwrap();
            let mut agents: Vec<Agent> = pop
                .states()
                .iter()
                .map(|s| Agent { state: *s as usize, action: 0, regenerated: false })
                .collect();
            for k in 0..steps {
                let stats = pop.step_par(&m, &policy, k, seed).unwrap();
                naive_step(&mut agents, &m, &policy, k, seed);
                let b = pop.transitions().unwrap();
                for (i, a) in agents.iter().enumerate() {
                    let t = b.get(i);
                    prop_assert_eq!(
                        (t.next_state, t.action, t.regenerated),
                        (a.state, a.action, a.regenerated),
                        "agent {} at step {}", i, k
                    );
                }
                let mut counts = [0u64; 25];
                agents.iter().for_each(|a| counts[a.state] += 1);
                prop_assert_eq!(pop.counts(), &counts[..]);
                let regen = agents.iter().filter(|a| a.regenerated).count() as u64;
                prop_assert_eq!(stats.regenerated, regen);
            }
        }

        #[test]
        fn init_equals_naive_per_agent_loop(n in 1usize..(2 * CHUNK + 300), seed in any::<u64>()) {
            let init: Vec<f64> = (0..25).map(|s| (1 + s % 3) as f64 / 49.0).collect();
            let pop = Population::try_new(25, n, &init, seed).unwrap();
            let mut table = AliasRows::<u8>::default();
            for (s, p) in init.iter().enumerate() {
                table.push_weight(Outcome { next: s as u8, action: 0 }, *p);
            }
            table.finish_row().unwrap();
            let mut rng: Option<StreamRng> = None;
            for (i, s) in pop.states().iter().enumerate() {
                if i % CHUNK == 0 {
                    rng = Some(stream(seed, Purpose::Init, 0, (i / CHUNK) as u64));
                }
                let x = rng.as_mut().unwrap().next_u64();
                prop_assert_eq!(*s, table.sample(0, x).next);
            }
        }
    }
}
