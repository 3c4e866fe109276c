//! MPI (cargo feature `mpi`, rsmpi): the world communicator as a [`Collective`], so one
//! population can be sharded over the ranks of `mpirun -n K` ([`ShardedPopulation`]).
//!
//! Only the binary initializes MPI, and only when it was started by an MPI launcher
//! ([`launched`]); the library calls nothing else of MPI but the all-reduce. MPI is
//! initialized with `MPI_THREAD_SERIALIZED`: the run layer calls the all-reduce from
//! whichever thread runs it (a rayon worker inside `pool.install`), never two at once, and
//! the chunk loops inside a step make no MPI calls.
//!
//! # Cost
//! One `MPI_Allreduce` (sum) per step of W = |S| + 2 u64 words, plus |S|²·|A| words when the
//! learner reads the transition counts (online TMFQ's batch rule): on the bundled scenarios
//! at most 25 + 2 + 25²·5 = 3152 words, 25 KiB. IQL and MFQ add the learner's all-reduces
//! per iteration (`learner::independent`, `# Sharded`): |S|·|A| + 1 + C words (greedy totals,
//! resets, one TD slot per chunk), 256·(|S| + 1) for the sampled agents' strategies, and
//! for MFQ N/8 words (every agent's state). See the README's "One population over MPI
//! ranks" for measured shares and a latency–bandwidth model.
//!
//! [`ShardedPopulation`]: crate::population::ShardedPopulation

use ::mpi::collective::SystemOperation;
use ::mpi::environment::Universe;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::{Communicator, CommunicatorCollectives};
use ::mpi::Threading;

use crate::error::{Error, Result};
use crate::population::Collective;

/// Environment variables that MPI launchers set in every process they start: Open MPI's
/// `mpirun`, the PMI of MPICH / Intel MPI (Hydra), and PMIx (Slurm's `srun --mpi=pmix`,
/// Open MPI 5).
pub const LAUNCHER_VARIABLES: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"];

/// Whether this process was started by an MPI launcher (one of [`LAUNCHER_VARIABLES`] is
/// set). A binary built with the `mpi` feature but started without one runs as one process
/// and never initializes MPI.
pub fn launched() -> bool {
    LAUNCHER_VARIABLES
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// MPI, initialized; finalized when dropped (keep it alive until every collective is done).
pub struct MpiSession {
    _universe: Universe,
    world: MpiWorld,
}

impl std::fmt::Debug for MpiSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiSession")
            .field("world", &self.world)
            .finish_non_exhaustive()
    }
}

impl MpiSession {
    /// Initializes MPI with `MPI_THREAD_SERIALIZED` (module docs).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when MPI was already initialized or the library provides a
    /// lower thread level than serialized.
    pub fn initialize() -> Result<Self> {
        let (universe, provided) = ::mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| Error::Unsupported {
                engine: "MPI",
                reason: "MPI was already initialized in this process".into(),
            })?;
        if provided < Threading::Serialized {
            return Err(Error::Unsupported {
                engine: "MPI",
                reason: format!(
                    "the MPI library provides thread level {provided:?}, mfgsim needs \
                     Serialized (the run's thread may not be the main thread)"
                ),
            });
        }
        let comm = universe.world();
        let world = MpiWorld {
            rank: usize::try_from(comm.rank()).unwrap_or(0),
            size: usize::try_from(comm.size()).unwrap_or(1),
        };
        Ok(MpiSession {
            _universe: universe,
            world,
        })
    }

    /// `MPI_COMM_WORLD` as a [`Collective`].
    pub fn world(&self) -> &MpiWorld {
        &self.world
    }
}

/// `MPI_COMM_WORLD`: rank and size read once at initialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpiWorld {
    rank: usize,
    size: usize,
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    /// `MPI_Allreduce(MPI_UINT64_T, MPI_SUM)` over `MPI_COMM_WORLD`.
    ///
    /// # Panics
    /// When `words` has more than `i32::MAX` entries (MPI counts are C ints); MPI's default
    /// error handler aborts the job on a communication error.
    fn all_reduce_sum(&self, words: &mut [u64]) {
        assert!(
            i32::try_from(words.len()).is_ok(),
            "an all-reduce of {} words exceeds MPI's count",
            words.len()
        );
        let send = words.to_vec();
        SimpleCommunicator::world().all_reduce_into(&send[..], words, SystemOperation::sum());
    }
}
