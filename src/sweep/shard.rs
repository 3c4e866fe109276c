//! [`Shard`]: a round-robin share of a sweep's runs for a cluster (`--shard I/N`, a SLURM
//! job array, an MPI launch's environment).

use crate::error::{Error, Result};

/// One share of a sweep's runs: shard `index` (0-based) of `count` owns the runs at plan
/// positions p with p mod `count` = `index`. Round robin spreads each grid point's seeds and
/// the costly corners of a grid over the shards; the assignment depends only on the plan, so
/// every shard of one sweep agrees on it without talking to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0 ≤ `index` < `count`.
    pub index: usize,
    /// Shards in all, ≥ 1.
    pub count: usize,
}

impl Shard {
    /// A shard, checked.
    ///
    /// # Errors
    /// [`Error::Param`] naming `--shard` when `count` = 0 or `index` ≥ `count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::param(
                "--shard",
                format!("shard {index} of {count}: need 0 ≤ I < N (shards count from 0)"),
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N` (0-based `I`), e.g. `0/4`.
    ///
    /// # Errors
    /// [`Error::Param`] naming `--shard` and the text.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::param(
                "--shard",
                format!("`{text}` is not I/N with whole numbers 0 ≤ I < N, e.g. 0/4"),
            )
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n)
    }

    /// The shard a batch system or MPI launcher gives this process, read through `var` (the
    /// binary passes `std::env::var`): a SLURM job array (`SLURM_ARRAY_TASK_ID` −
    /// `SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT`), else an MPI launch of several
    /// processes (Open MPI's `OMPI_COMM_WORLD_RANK` / `_SIZE`, MPICH's `PMI_RANK` /
    /// `PMI_SIZE`); `None` when neither is set (or the MPI size is 1). The second value
    /// names the source, e.g. `SLURM_ARRAY_TASK_ID`.
    ///
    /// # Errors
    /// [`Error::Param`] naming the variable that is not a whole number or out of range.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<(Self, ShardSource)>> {
        let num = |key: &str| -> Result<Option<usize>> {
            match var(key) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| Error::param(key, format!("`{v}` is not a whole number"))),
            }
        };
        if let (Some(id), Some(count)) =
            (num("SLURM_ARRAY_TASK_ID")?, num("SLURM_ARRAY_TASK_COUNT")?)
        {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(min).ok_or_else(|| {
                Error::param(
                    "SLURM_ARRAY_TASK_ID",
                    format!("{id} is below SLURM_ARRAY_TASK_MIN {min}"),
                )
            })?;
            return Shard::new(index, count)
                .map(|s| Some((s, ShardSource::SlurmArray)))
                .map_err(|_| {
                    Error::param(
                        "SLURM_ARRAY_TASK_ID",
                        format!(
                            "task {id} (minimum {min}) of {count}: use a contiguous --array, \
                             e.g. --array=0-{}",
                            count.saturating_sub(1)
                        ),
                    )
                });
        }
        for (rank, size) in [
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
            ("PMI_RANK", "PMI_SIZE"),
        ] {
            if let (Some(r), Some(n)) = (num(rank)?, num(size)?) {
                if n <= 1 {
                    return Ok(None);
                }
                return Shard::new(r, n)
                    .map(|s| Some((s, ShardSource::Mpi)))
                    .map_err(|_| Error::param(rank, format!("rank {r} of {n}")));
            }
        }
        Ok(None)
    }

    /// True when this shard runs the run at plan position `position`.
    pub fn owns(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where a [`Shard`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSource {
    /// `--shard I/N` (or the Python argument).
    Given,
    /// A SLURM job array's environment.
    SlurmArray,
    /// An MPI launcher's environment (`mpirun -n K`): rank 0 collects.
    Mpi,
}
