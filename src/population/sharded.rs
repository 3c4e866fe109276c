//! One population sharded over K ranks (MPI processes; threads in the tests): each rank
//! holds a contiguous block of whole chunks, steps it with the streams of the *global* chunk
//! indices, and one all-reduce (sum) of integer counts per step gives every rank the
//! population's histogram, its mean field and, when a learner wants them, its transition
//! counts.
//!
//! # Blocks
//! ```text
//! C  = ⌈N / CHUNK⌉                         global chunks (CHUNK = 2^16 agents)
//! rank r of K holds the chunks [⌊C·r/K⌋, ⌊C·(r+1)/K⌋), i.e. the agents
//!        [CHUNK·⌊C·r/K⌋, min(N, CHUNK·⌊C·(r+1)/K⌋))       (possibly none when C < K)
//! chunk c of step k draws from rng::stream(seed, Step, k, c)  (c global: never the rank)
//! ```
//! # One step
//! ```text
//! every rank:  its block moves once at the global z^N_k      (Population::step_par_at)
//!              words = [hist_r(0..|S|), regen_r, stop_r, c_r(s,a,s′) (if counted)]
//! all-reduce:  words ← Σ_r words_r                             (u64, exact)
//! every rank:  counts = words[0..|S|],  z^N_{k+1} = counts / N,  regen = Σ_r regen_r,
//!              c(s,a,s′) = Σ_r c_r(s,a,s′)
//! ```
//! Integer sums do not depend on the order of the reduction, and the one-process engine
//! sums the same chunk histograms (as u64) before dividing by the same N, so every rank's
//! z^N, regeneration count and transition counts are bitwise those of one
//! [`Population`] of N agents with the same seed, for any K and any threads per rank; each
//! agent's state is too (it lives on the rank that holds its chunk).
//!
//! The reduction is a [`Collective`]: [`SingleProcess`] (K = 1, no communication), the MPI
//! world communicator (`mfgsim::mpi::MpiWorld`, cargo feature `mpi`), or threads in tests.
//!
//! # Stopping together
//! A rank that stopped on its own while the others wait in the all-reduce would hang the job.
//! With a [`StopVote`], each step also sums the ranks' stop signals; when any is set, every
//! rank sets the same `agreed` flag after the same step, and callers poll `agreed`, so all
//! ranks stop after the same iteration.
//!
//! # Per-agent actions
//! With [`Actions::PerAgent`] (IQL, MFQ) each rank passes the actions of its own block, in
//! block order, and [`Engine::learner_source`] hands the learner the block's transitions
//! (transition i is global agent `block().start + i`); the learner reduces what it needs
//! over the same [`Collective`] ([`crate::learner::Independent::try_new_sharded`]).
//!
//! # What stays on the ranks
//! A shared-strategy learner's individual transitions (the sampled and paper rules) are
//! refused with [`Error::Unsupported`]: they need data that lives on the rank holding the
//! agents. A checkpoint saves and loads this rank's block only (one file per rank).
//!
//! # Example
//! One rank ([`SingleProcess`]) is the plain engine, bitwise:
//! ```
//! use mfgsim::model::{Infection, Model};
//! use mfgsim::population::{Actions, Engine, Population, ShardedPopulation, SingleProcess};
//! use mfgsim::space::{uniform, Policy};
//!
//! let model = Infection::default();
//! let policy = Policy::uniform(25, model.num_actions());
//! let mut one: Population = Population::try_new(25, 200_000, &uniform(25), 7)?;
//! let mut sharded = ShardedPopulation::<u8>::try_new(&SingleProcess, None, 25, 200_000, &uniform(25), 7)?;
//! for k in 0..3 {
//!     one.step(&model, Actions::Shared(&policy), k, 7)?;
//!     sharded.step(&model, Actions::Shared(&policy), k, 7)?;
//!     assert_eq!(Engine::counts(&one), Engine::counts(&sharded));
//! }
//! # Ok::<(), mfgsim::Error>(())
//! ```

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{Actions, Engine, Population, StepStats, CHUNK};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::persist::{StateReader, StateWriter};
use crate::state::StateCode;
use crate::transition::TransitionBuffer;

/// A group of K ranks that can sum integer vectors: the one collective a sharded step needs.
pub trait Collective: Sync + std::fmt::Debug {
    /// This rank, r in 0..K.
    fn rank(&self) -> usize;

    /// K, the number of ranks.
    fn size(&self) -> usize;

    /// Replaces `words` on every rank by the element-wise sum over all ranks of their
    /// `words` (every rank passes the same length, in the same order of calls). The sums are
    /// of integers, so exact and independent of the reduction's order; a sum that overflows
    /// u64 is the caller's error (counts of agents never do).
    fn all_reduce_sum(&self, words: &mut [u64]);
}

/// K = 1: no communication, the reduction is the identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_reduce_sum(&self, _words: &mut [u64]) {}
}

/// A borrowed collective is one (learners hold `&dyn Collective`).
impl<C: Collective + ?Sized> Collective for &C {
    fn rank(&self) -> usize {
        (**self).rank()
    }

    fn size(&self) -> usize {
        (**self).size()
    }

    fn all_reduce_sum(&self, words: &mut [u64]) {
        (**self).all_reduce_sum(words);
    }
}

/// The agents held by rank `rank` of `ranks` in a population of `num_agents` (module docs,
/// `# Blocks`): whole chunks, contiguous, in rank order, sizes differing by at most one
/// chunk; empty for some ranks when there are fewer chunks than ranks.
///
/// # Panics
/// When `ranks` is 0 or `rank ≥ ranks`.
pub fn block_of(num_agents: u64, rank: usize, ranks: usize) -> Range<u64> {
    assert!(rank < ranks, "rank {rank} of {ranks}");
    let chunk = CHUNK as u64;
    let chunks = num_agents.div_ceil(chunk);
    // u128: C·r may exceed u64 for astronomically many chunks.
    let bound = |r: usize| (u128::from(chunks) * r as u128 / ranks as u128) as u64;
    let (lo, hi) = (bound(rank), bound(rank + 1));
    (lo * chunk).min(num_agents)..(hi * chunk).min(num_agents)
}

/// The stop signal of one rank and the flag all ranks agree on (module docs, `# Stopping
/// together`).
#[derive(Debug, Clone, Copy)]
pub struct StopVote<'a> {
    /// This rank's request to stop (e.g. its Ctrl-C flag); read at every step.
    pub signal: &'a AtomicBool,
    /// Set on every rank after the first step at which any rank's `signal` was set; the
    /// flag a run's loop polls.
    pub agreed: &'a AtomicBool,
}

/// One population of N agents of which this rank holds a block, behind [`Engine`]: the
/// histogram, mean field, regenerations and transition counts it reports are the whole
/// population's (module docs).
///
/// Memory per rank: the block's columns ([`TransitionBuffer::bytes_per_agent`] bytes per
/// agent) plus O(|S|²·|A|) words.
#[derive(Debug)]
pub struct ShardedPopulation<'c, T: StateCode = u8> {
    comm: &'c dyn Collective,
    vote: Option<StopVote<'c>>,
    /// This rank's agents, stepped with the global chunk streams.
    local: Population<T>,
    /// N, over all ranks.
    num_agents: u64,
    counts: Vec<u64>,
    mean_field: Vec<f64>,
    transition_counts: Vec<u64>,
    counted: bool,
    /// Whether the last step was taken with per-agent actions (this block's column).
    per_agent: bool,
    /// The reduction's buffer, reused.
    words: Vec<u64>,
    /// Seconds spent in the all-reduce: the last step's, and in all.
    last_reduce_seconds: f64,
    reduce_seconds: f64,
}

impl<'c, T: StateCode> ShardedPopulation<'c, T> {
    /// This rank's block ([`block_of`]) of a population of `num_agents` agents drawn
    /// i.i.d. from `init` with the streams of one [`Population::try_new_typed`] of that
    /// size and `seed`; one all-reduce gives the initial histogram. Collective: every rank
    /// calls it with the same arguments but its own `comm`.
    ///
    /// # Errors
    /// [`Error::Param`] as [`Population::try_new_typed`] (key `num_agents` when it is 0 or
    /// this rank's block does not fit a `usize`).
    pub fn try_new(
        comm: &'c dyn Collective,
        vote: Option<StopVote<'c>>,
        num_states: usize,
        num_agents: u64,
        init: &[f64],
        seed: u64,
    ) -> Result<Self> {
        if num_agents == 0 {
            return Err(Error::param("num_agents", "must be at least 1"));
        }
        let block = block_of(num_agents, comm.rank(), comm.size());
        let len = usize::try_from(block.end - block.start).map_err(|_| {
            Error::param(
                "num_agents",
                format!(
                    "rank {}'s block of {} agents does not fit this platform's memory",
                    comm.rank(),
                    block.end - block.start
                ),
            )
        })?;
        let first_chunk = block.start / CHUNK as u64;
        let local = Population::try_new_block(num_states, first_chunk, len, init, seed)?;
        let mut pop = ShardedPopulation {
            comm,
            vote,
            local,
            num_agents,
            counts: vec![0; num_states],
            mean_field: vec![0.0; num_states],
            transition_counts: Vec::new(),
            counted: false,
            per_agent: false,
            words: Vec::new(),
            last_reduce_seconds: 0.0,
            reduce_seconds: 0.0,
        };
        pop.reduce(false);
        Ok(pop)
    }

    /// This rank's block of agents (their states, the last step's transitions).
    pub fn local(&self) -> &Population<T> {
        &self.local
    }

    /// The global indices of this rank's agents.
    pub fn block(&self) -> Range<u64> {
        block_of(self.num_agents, self.comm.rank(), self.comm.size())
    }

    /// The collective the steps reduce over.
    pub fn comm(&self) -> &'c dyn Collective {
        self.comm
    }

    /// Wall seconds of the last step's all-reduce (waiting for the slowest rank included).
    pub fn last_reduce_seconds(&self) -> f64 {
        self.last_reduce_seconds
    }

    /// Wall seconds of every all-reduce so far.
    pub fn reduce_seconds(&self) -> f64 {
        self.reduce_seconds
    }

    /// Sums the blocks' histograms, the step's regenerations and stop votes and (when
    /// `step` and the block counted them) the transition counts over the ranks; returns the
    /// total regenerations.
    fn reduce(&mut self, step: bool) -> u64 {
        let ns = self.counts.len();
        let tc = if step {
            self.local.transition_counts()
        } else {
            None
        };
        self.words.clear();
        self.words.extend_from_slice(self.local.counts());
        let regen = if step {
            self.local.transitions().map_or(0, |b| b.regenerated())
        } else {
            0
        };
        let stop = self.vote.is_some_and(|v| v.signal.load(Ordering::SeqCst));
        self.words.push(regen);
        self.words.push(u64::from(stop));
        if let Some(c) = tc {
            self.words.extend_from_slice(c);
        }
        let t0 = Instant::now();
        self.comm.all_reduce_sum(&mut self.words);
        self.last_reduce_seconds = t0.elapsed().as_secs_f64();
        self.reduce_seconds += self.last_reduce_seconds;
        self.counts.copy_from_slice(&self.words[..ns]);
        debug_assert_eq!(
            self.counts.iter().sum::<u64>(),
            self.num_agents,
            "the blocks' histograms lost agents"
        );
        // As Population::reduce: counts / N, the same division on every rank.
        let n = self.num_agents as f64;
        for (z, c) in self.mean_field.iter_mut().zip(&self.counts) {
            *z = *c as f64 / n;
        }
        if self.words[ns + 1] > 0 {
            if let Some(v) = self.vote {
                v.agreed.store(true, Ordering::SeqCst);
            }
        }
        self.counted = tc.is_some();
        if self.counted {
            self.transition_counts.clear();
            self.transition_counts
                .extend_from_slice(&self.words[ns + 2..]);
        }
        self.words[ns]
    }

    /// One step of the block under `actions` at `z`, then the reduction.
    fn step_block(
        &mut self,
        model: &(impl Model + ?Sized),
        actions: Actions<'_>,
        z: Option<&[f64]>,
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        let at = z.unwrap_or(&self.mean_field);
        match actions {
            Actions::Shared(policy) => self.local.step_par_at(model, policy, at, step, seed)?,
            Actions::PerAgent(given) => {
                self.local
                    .step_given_par(model, given, Some(at), step, seed)?
            }
        };
        self.per_agent = matches!(actions, Actions::PerAgent(_));
        let regenerated = self.reduce(true);
        Ok(StepStats {
            step,
            num_agents: self.num_agents,
            regenerated,
        })
    }
}

/// The refusal of what needs one rank's data on another.
fn unsupported(what: &str) -> Error {
    Error::Unsupported {
        engine: "sharded agent engine",
        reason: format!(
            "{what} on a population sharded over MPI ranks is not supported (the data stays \
             on the rank that holds the agents); run without mpirun"
        ),
    }
}

impl<T: StateCode> Engine for ShardedPopulation<'_, T> {
    type Source = TransitionBuffer<T>;

    fn num_agents(&self) -> u64 {
        self.num_agents
    }

    fn counts(&self) -> &[u64] {
        &self.counts
    }

    fn mean_field(&self) -> &[f64] {
        &self.mean_field
    }

    /// The block steps at the global z^N_k (the same tables on every rank), so it draws
    /// what its chunks draw in one [`Population`].
    fn step(
        &mut self,
        model: &(impl Model + ?Sized),
        actions: Actions<'_>,
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        self.step_block(model, actions, None, step, seed)
    }

    fn step_at(
        &mut self,
        model: &(impl Model + ?Sized),
        actions: Actions<'_>,
        z: &[f64],
        step: u64,
        seed: u64,
    ) -> Result<StepStats> {
        self.step_block(model, actions, Some(z), step, seed)
    }

    /// This rank's block's buffer (transition i is the block's i-th agent, global agent
    /// `block().start + i`); its kernel tables (taken at the global z) are what the batch
    /// rule reads with the reduced counts, and what a per-agent learner reads its own
    /// agents' transitions from.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a shared-strategy learner that reads individual
    /// transitions (`budget` > 0 after a step with one shared strategy: the sampled and
    /// paper rules, which sample all N); [`Error::Param`] before the first step.
    fn learner_source(&mut self, budget: usize, _seed: u64) -> Result<&Self::Source> {
        if budget > 0 && !self.per_agent {
            return Err(unsupported(
                "learner.rule = \"sampled\" or \"paper\" (they read individual transitions; \
                 the default \"batch\" reads the reduced counts)",
            ));
        }
        self.local
            .transitions()
            .ok_or_else(|| Error::param("step", "no transitions before the first step"))
    }

    fn set_count_transitions(&mut self, on: bool) -> Result<()> {
        self.local.set_count_transitions(on)?;
        self.counted = false;
        Ok(())
    }

    fn transition_counts(&self) -> Option<&[u64]> {
        self.counted.then_some(&self.transition_counts[..])
    }

    /// This rank's block only: section `agent_states` of its [`Population`] (one
    /// checkpoint file per rank, `run::checkpoint`).
    fn save_state(&self, w: &mut dyn StateWriter) -> Result<()> {
        self.local.save_state(w)
    }

    /// Reads this rank's block, then one all-reduce recounts the population's histogram and
    /// mean field (collective: every rank loads its own block at the same point).
    fn load_state(&mut self, r: &mut dyn StateReader) -> Result<()> {
        self.local.load_state(r)?;
        self.counted = false;
        self.per_agent = false;
        self.reduce(false);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::learner::{Algorithm, OnlineDriver, OnlineTmfq};
    use crate::model::{Gig, Infection};
    use crate::space::{uniform, Policy};
    use std::sync::{Barrier, Mutex};

    /// K ranks as threads: a shared accumulator between barriers.
    #[derive(Debug)]
    pub(crate) struct ThreadGroup {
        size: usize,
        acc: Mutex<Vec<u64>>,
        barrier: Barrier,
    }

    /// One thread's handle on a [`ThreadGroup`].
    #[derive(Debug)]
    pub(crate) struct Member<'g> {
        group: &'g ThreadGroup,
        rank: usize,
    }

    impl ThreadGroup {
        pub(crate) fn new(size: usize) -> Self {
            ThreadGroup {
                size,
                acc: Mutex::new(Vec::new()),
                barrier: Barrier::new(size),
            }
        }

        /// Runs `f(rank)` on K threads and returns the results in rank order.
        pub(crate) fn run<R: Send>(&self, f: impl Fn(&Member<'_>) -> R + Sync) -> Vec<R> {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..self.size)
                    .map(|rank| {
                        let f = &f;
                        s.spawn(move || f(&Member { group: self, rank }))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            })
        }
    }

    impl Collective for Member<'_> {
        fn rank(&self) -> usize {
            self.rank
        }

        fn size(&self) -> usize {
            self.group.size
        }

        fn all_reduce_sum(&self, words: &mut [u64]) {
            {
                let mut acc = self.group.acc.lock().unwrap();
                acc.resize(words.len(), 0);
                for (a, w) in acc.iter_mut().zip(words.iter()) {
                    *a += *w;
                }
            }
            self.group.barrier.wait();
            words.copy_from_slice(&self.group.acc.lock().unwrap());
            if self.group.barrier.wait().is_leader() {
                self.group.acc.lock().unwrap().fill(0);
            }
            self.group.barrier.wait();
        }
    }

    #[test]
    fn blocks_are_whole_chunks_in_rank_order_and_cover_every_agent() {
        for n in [
            1,
            100,
            CHUNK as u64,
            3 * CHUNK as u64 + 1234,
            10 * CHUNK as u64,
        ] {
            for k in 1..=5 {
                let blocks: Vec<_> = (0..k).map(|r| block_of(n, r, k)).collect();
                assert_eq!(blocks[0].start, 0);
                assert_eq!(blocks[k - 1].end, n);
                for w in blocks.windows(2) {
                    assert_eq!(w[0].end, w[1].start, "n {n}, k {k}");
                }
                for b in &blocks[..k - 1] {
                    assert_eq!(b.start % CHUNK as u64, 0);
                    assert!(b.end == n || b.end % CHUNK as u64 == 0);
                }
            }
        }
    }

    #[derive(Debug, PartialEq)]
    struct Trace {
        states: Vec<u8>,
        counts: Vec<Vec<u64>>,
        z_bits: Vec<Vec<u64>>,
        regen: Vec<u64>,
        transition_counts: Vec<Vec<u64>>,
    }

    fn policy() -> Policy {
        let mut p = Policy::uniform(25, 5);
        p.probs_mut()[3] = 0.4;
        p.probs_mut()[4] = 0.0;
        p
    }

    fn trace_of<E: Engine>(e: &mut E, steps: u64, states: impl Fn(&E) -> Vec<u8>) -> Trace {
        let m = Infection::default();
        let p = policy();
        e.set_count_transitions(true).unwrap();
        let mut t = Trace {
            states: Vec::new(),
            counts: Vec::new(),
            z_bits: Vec::new(),
            regen: Vec::new(),
            transition_counts: Vec::new(),
        };
        for k in 0..steps {
            let s = if k == 2 {
                e.step_at(&m, Actions::Shared(&p), &uniform(25), k, 11)
            } else {
                e.step(&m, Actions::Shared(&p), k, 11)
            }
            .unwrap();
            assert_eq!(s.num_agents, e.num_agents());
            t.counts.push(e.counts().to_vec());
            t.z_bits
                .push(e.mean_field().iter().map(|x| x.to_bits()).collect());
            t.regen.push(s.regenerated);
            t.transition_counts
                .push(e.transition_counts().unwrap().to_vec());
        }
        t.states = states(e);
        t
    }

    #[test]
    fn any_number_of_ranks_is_bitwise_one_population() {
        for n in [100usize, 3 * CHUNK + 1234] {
            let mut one: Population = Population::try_new(25, n, &uniform(25), 11).unwrap();
            let want = trace_of(&mut one, 4, |p| p.states().to_vec());
            for k in 1..=3 {
                let group = ThreadGroup::new(k);
                let traces = group.run(|m| {
                    let mut e =
                        ShardedPopulation::<u8>::try_new(m, None, 25, n as u64, &uniform(25), 11)
                            .unwrap();
                    trace_of(&mut e, 4, |e| e.local().states().to_vec())
                });
                let states: Vec<u8> = traces.iter().flat_map(|t| t.states.clone()).collect();
                assert_eq!(states, want.states, "n {n}, k {k}");
                for t in traces {
                    assert_eq!(
                        Trace {
                            states: want.states.clone(),
                            ..t
                        },
                        want,
                        "n {n}, k {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn online_tmfq_over_ranks_is_bitwise_one_process() {
        let model = Gig::default();
        let params = crate::learner::LearnerParams::default();
        let n = 2 * CHUNK + 99;
        let run = |e: &mut dyn FnMut() -> (Vec<u64>, Vec<usize>)| (0..5).map(|_| e()).collect();
        let want: Vec<(Vec<u64>, Vec<usize>)> = {
            let l = OnlineTmfq::from_params(10, 4, Default::default(), &params).unwrap();
            let pop: Population = Population::try_new(10, n, &uniform(10), 5).unwrap();
            let mut d = OnlineDriver::new(&model, pop, l, 5).unwrap();
            run(&mut || {
                let it = d.iterate().unwrap();
                (
                    it.z.iter().map(|x| x.to_bits()).collect(),
                    d.policy().greedy().to_vec(),
                )
            })
        };
        for k in [2, 3] {
            let group = ThreadGroup::new(k);
            for got in group.run(|m| {
                let l = OnlineTmfq::from_params(10, 4, Default::default(), &params).unwrap();
                let pop = ShardedPopulation::<u8>::try_new(m, None, 10, n as u64, &uniform(10), 5)
                    .unwrap();
                let mut d = OnlineDriver::new(&model, pop, l, 5).unwrap();
                let got: Vec<(Vec<u64>, Vec<usize>)> = run(&mut || {
                    let it = d.iterate().unwrap();
                    (
                        it.z.iter().map(|x| x.to_bits()).collect(),
                        d.policy().greedy().to_vec(),
                    )
                });
                got
            }) {
                assert_eq!(got, want, "k {k}");
            }
        }
    }

    /// What one step of a per-agent learner produced, as bits: z^N, μ̄, the update's count
    /// and mean |TD error|, the sampled agents' greedy actions, and this rank's agents' Q
    /// rows (states 0 and 3, bin 0).
    type AgentTrace = (Vec<u64>, Vec<u64>, u64, u64, Vec<Vec<usize>>, Vec<u32>);

    fn agent_step<E: Engine, C: Collective + Send + Clone>(
        model: &Infection,
        e: &mut E,
        l: &mut crate::learner::Independent<C>,
        k: u64,
        source: impl Fn(&E) -> &TransitionBuffer<u8>,
    ) -> AgentTrace {
        use crate::learner::{Learner, Observation};
        e.step(model, l.actions(), k, 9).unwrap();
        let z = e.mean_field().to_vec();
        let up = l
            .update(&Observation {
                step: k,
                seed: 9,
                agents: e.num_agents(),
                source: source(e),
                mean_field: &z,
                counts: None,
            })
            .unwrap();
        let sample = crate::learner::evaluator::agent_sample(l.num_agents(), 9);
        let q: Vec<u32> = l
            .block()
            .flat_map(|i| [l.q_row(i, 0, 0), l.q_row(i, 3, 0)])
            .flatten()
            .map(f32::to_bits)
            .collect();
        (
            z.iter().map(|x| x.to_bits()).collect(),
            l.policy().probs().iter().map(|x| x.to_bits()).collect(),
            up.tq_updates,
            up.mean_abs_td_error.to_bits(),
            l.agent_policies(&sample)
                .into_iter()
                .map(|p| p.greedy().to_vec())
                .collect(),
            q,
        )
    }

    #[test]
    fn iql_and_mfq_over_ranks_are_bitwise_one_process() {
        use crate::learner::{Algo, Independent, LearnerParams};
        let model = Infection::default();
        let game = crate::model::GameParams::default();
        // 100 agents: one chunk (ranks beyond the first hold none), empty states; 2 chunks
        // and a partial third.
        for (n, reset) in [(100usize, true), (2 * CHUNK + 99, false)] {
            for algo in [Algo::Iql, Algo::Mfq] {
                let params = LearnerParams {
                    algo,
                    reset_on_regeneration: reset,
                    ..LearnerParams::default()
                };
                let want: Vec<AgentTrace> = {
                    let mut pop: Population = Population::try_new(25, n, &uniform(25), 9).unwrap();
                    let mut l =
                        Independent::try_new(25, 5, game, &params, algo, pop.states(), 9).unwrap();
                    (0..4)
                        .map(|k| {
                            agent_step(&model, &mut pop, &mut l, k, |p| p.transitions().unwrap())
                        })
                        .collect()
                };
                for k in [1, 2, 3] {
                    let group = ThreadGroup::new(k);
                    let traces = group.run(|m| {
                        let mut pop = ShardedPopulation::<u8>::try_new(
                            m,
                            None,
                            25,
                            n as u64,
                            &uniform(25),
                            9,
                        )
                        .unwrap();
                        let mut l = Independent::try_new_sharded(
                            m,
                            25,
                            5,
                            game,
                            &params,
                            algo,
                            n as u64,
                            pop.local().states(),
                            9,
                        )
                        .unwrap();
                        (0..4)
                            .map(|s| {
                                agent_step(&model, &mut pop, &mut l, s, |p| {
                                    p.local().transitions().unwrap()
                                })
                            })
                            .collect::<Vec<AgentTrace>>()
                    });
                    for step in 0..4 {
                        let q: Vec<u32> = traces.iter().flat_map(|t| t[step].5.clone()).collect();
                        assert_eq!(q, want[step].5, "{algo}, n {n}, k {k}, step {step}");
                        for t in &traces {
                            let (mut got, mut w) = (t[step].clone(), want[step].clone());
                            (got.5, w.5) = (Vec::new(), Vec::new());
                            assert_eq!(got, w, "{algo}, n {n}, k {k}, step {step}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_stop_on_one_rank_stops_every_rank_after_the_same_step() {
        let model = Infection::default();
        let p = policy();
        let group = ThreadGroup::new(3);
        let stopped = group.run(|m| {
            let (signal, agreed) = (AtomicBool::new(false), AtomicBool::new(false));
            let vote = StopVote {
                signal: &signal,
                agreed: &agreed,
            };
            let mut e =
                ShardedPopulation::<u8>::try_new(m, Some(vote), 25, 1000, &uniform(25), 1).unwrap();
            let mut k = 0;
            while !agreed.load(Ordering::SeqCst) {
                if m.rank() == 1 && k == 3 {
                    signal.store(true, Ordering::SeqCst);
                }
                e.step(&model, Actions::Shared(&p), k, 1).unwrap();
                k += 1;
            }
            k
        });
        assert_eq!(stopped, vec![4, 4, 4]);
    }

    #[test]
    fn what_needs_another_rank_s_data_is_refused_by_name() {
        let model = Infection::default();
        let mut e =
            ShardedPopulation::<u8>::try_new(&SingleProcess, None, 25, 1000, &uniform(25), 1)
                .unwrap();
        // Per-agent actions: the block's transitions for a per-agent learner.
        let given = vec![0u8; 1000];
        e.step(&model, Actions::PerAgent(&given), 0, 1).unwrap();
        assert_eq!(e.learner_source(usize::MAX, 1).unwrap().len(), 1000);
        e.step(&model, Actions::Shared(&policy()), 1, 1).unwrap();
        let err = e.learner_source(100, 1).unwrap_err();
        assert!(err.to_string().contains("learner.rule"), "{err}");
        assert!(e.learner_source(0, 1).is_ok());
    }
}
