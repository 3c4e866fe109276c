//! What the agents play in one step: the input of [`super::Engine::step`].

use crate::space::Policy;

/// The agents' actions for one population step.
///
/// * [`Actions::Shared`]: every agent draws a ~ μ(s, ·) from one strategy μ (online TMFQ,
///   the T-MFE strategy, a simulator of TMFQ). Both engines take it.
/// * [`Actions::PerAgent`]: agent i plays `actions[i]` (indexed like
///   [`super::Population::states`]), chosen by a learner that keeps one table per agent
///   (IQL, MFQ) from the agent's own trembling-hand strategy. Only the agent engine takes it:
///   the count engine's agents are exchangeable and have no identity, and refuses it with
///   [`crate::Error::Unsupported`].
#[derive(Debug, Clone, Copy)]
pub enum Actions<'a> {
    /// One strategy μ(s, a) for every agent; rows are probability vectors over actions.
    Shared(&'a Policy),
    /// One action index per agent, in agent order (length N, every entry < |A|).
    PerAgent(&'a [u8]),
}

impl<'a> Actions<'a> {
    /// `"shared"` or `"per-agent"`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Actions::Shared(_) => "shared",
            Actions::PerAgent(_) => "per-agent",
        }
    }

    /// The shared strategy, if any.
    pub fn shared(&self) -> Option<&'a Policy> {
        match self {
            Actions::Shared(p) => Some(p),
            Actions::PerAgent(_) => None,
        }
    }
}

impl<'a> From<&'a Policy> for Actions<'a> {
    fn from(p: &'a Policy) -> Self {
        Actions::Shared(p)
    }
}
