//! [`Population`]: N agents as struct-of-arrays columns (the agent engine).

use super::*;

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
        self.run_shared(step, seed, true);
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
        self.run_shared(step, seed, true);
        Ok(self.finish(step))
    }

    /// The chunk loop of a prepared shared step, in parallel or on the calling thread (the
    /// same streams: bitwise the same result).
    fn run_shared(&mut self, step: u64, seed: u64, par: bool) {
        if self.count_transitions {
            return self.run_counting(step, seed, par);
        }
        let sampler = &self.sampler;
        let views = chunk_views(
            &mut self.buffer,
            &mut self.chunk_hist,
            &mut self.chunk_regen,
            T::hist_len(self.num_states),
            self.first_chunk,
            None,
        );
        drive(views, par, |v| {
            let mut rng = stream(seed, Purpose::Step, step, v.chunk);
            *v.regen = step_chunk(sampler, v.prev, v.next, v.actions, v.hist, &mut rng);
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
        self.run_shared(step, seed, false);
        Ok(self.finish(step))
    }

    /// The chunk loop of a prepared shared step that also counts transitions
    /// ([`step_chunk_counting`]), in parallel or on the calling thread. Each fold of chunks
    /// owns one u32 scratch array (zeroed per chunk) and one u64 total; the totals are summed
    /// exactly, so the result does not depend on how rayon splits the chunks.
    fn run_counting(&mut self, step: u64, seed: u64, par: bool) {
        let ns = self.num_states;
        let len = ns * self.sampler.num_actions() * ns;
        let sampler = &self.sampler;
        let views = chunk_views(
            &mut self.buffer,
            &mut self.chunk_hist,
            &mut self.chunk_regen,
            T::hist_len(self.num_states),
            self.first_chunk,
            None,
        );
        let work = |v: ChunkView<'_, T>, (scratch, total): &mut (Vec<u32>, Vec<u64>)| {
            let mut rng = stream(seed, Purpose::Step, step, v.chunk);
            *v.regen = step_chunk_counting(
                sampler, v.prev, v.next, v.actions, v.hist, scratch, &mut rng,
            );
            for (t, x) in total.iter_mut().zip(scratch.iter()) {
                *t += u64::from(*x);
            }
        };
        let init = || (vec![0u32; len], vec![0u64; len]);
        let totals = if par {
            views
                .into_par_iter()
                .fold(init, |mut acc, v| {
                    work(v, &mut acc);
                    acc
                })
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
            for v in views {
                work(v, &mut acc);
            }
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
        self.run_given(given, step, seed, true);
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
        self.run_given(given, step, seed, false);
        Ok(self.finish(step))
    }

    /// The chunk loop of a prepared per-agent step, in parallel or on the calling thread.
    fn run_given(&mut self, given: &[u8], step: u64, seed: u64, par: bool) {
        let sampler = &self.action_sampler;
        let views = chunk_views(
            &mut self.buffer,
            &mut self.chunk_hist,
            &mut self.chunk_regen,
            T::hist_len(self.num_states),
            self.first_chunk,
            Some(given),
        );
        drive(views, par, |v| {
            let mut rng = stream(seed, Purpose::Step, step, v.chunk);
            *v.regen = step_chunk_given(
                sampler, v.prev, v.given, v.next, v.actions, v.hist, &mut rng,
            );
        });
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

/// One chunk of a step: its global index (the key of its random stream), the states it
/// starts from, its agents' actions when they are given, and what it writes (next states,
/// packed actions, histogram, regenerations).
struct ChunkView<'a, T> {
    chunk: u64,
    prev: &'a [T],
    given: &'a [u8],
    next: &'a mut [T],
    actions: &'a mut [u8],
    hist: &'a mut [u32],
    regen: &'a mut u64,
}

/// Runs `f` on every chunk: on the current rayon pool (`par`) or in chunk order on the
/// calling thread. Every chunk writes only its own outputs with its own stream, so both give
/// bitwise the same result.
fn drive<'a, T: Send + Sync>(
    views: Vec<ChunkView<'a, T>>,
    par: bool,
    f: impl Fn(ChunkView<'a, T>) + Send + Sync,
) {
    if par {
        views.into_par_iter().for_each(f);
    } else {
        views.into_iter().for_each(f);
    }
}

/// One [`ChunkView`] per chunk of the columns (chunks keyed from the global index `first`),
/// with the per-agent action column `given` cut alike when there is one.
fn chunk_views<'a, T: StateCode>(
    b: &'a mut TransitionBuffer<T>,
    chunk_hist: &'a mut [u32],
    chunk_regen: &'a mut [u64],
    hist_len: usize,
    first: u64,
    given: Option<&'a [u8]>,
) -> Vec<ChunkView<'a, T>> {
    let mut given = given.map(|g| g.chunks(CHUNK));
    b.prev
        .chunks(CHUNK)
        .zip(b.next.chunks_mut(CHUNK))
        .zip(b.actions.chunks_mut(CHUNK))
        .zip(chunk_hist.chunks_mut(hist_len))
        .zip(chunk_regen.iter_mut())
        .enumerate()
        .map(|(c, ((((prev, next), actions), hist), regen))| ChunkView {
            chunk: first + c as u64,
            prev,
            given: given.as_mut().and_then(Iterator::next).unwrap_or(&[]),
            next,
            actions,
            hist,
            regen,
        })
        .collect()
}
