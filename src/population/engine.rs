//! The [`Engine`] seam: what a study or a learner needs of a population simulator, and
//! what one step did ([`StepStats`]).

use super::*;

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

/// Which simulator moves the agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Every agent's state is stored and stepped ([`super::Population`]); 3 bytes per agent.
    Agents,
    /// The exact count engine ([`super::CountPopulation`]): a histogram, any N up to 2⁶⁴ − 1.
    Counts,
}

impl EngineKind {
    /// `"agents"` or `"counts"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Agents => "agents",
            EngineKind::Counts => "counts",
        }
    }
}
