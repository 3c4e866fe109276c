//! `mpirun -n K mfgsim learn|finite-n …` (cargo feature `mpi`): MPI is initialized only when
//! an MPI launcher started the process ([`mfgsim::mpi::launched`]); rank 0 runs the command
//! as usual (progress, files, report) and every other rank runs the same library call
//! silently, holding its block of the agents and writing nothing.

use std::process::ExitCode;

use anyhow::Result;
use mfgsim::mpi::{launched, MpiSession};
use mfgsim::population::Collective;

/// MPI, when launched by `mpirun` (or `srun`, Hydra); `None` otherwise.
pub fn session() -> Result<Option<MpiSession>> {
    if !launched() {
        return Ok(None);
    }
    Ok(Some(MpiSession::initialize()?))
}

/// Rank 0's outcome is the command's. Another rank's error is printed with its rank; a
/// memory refusal (made before any collective) then exits with status 2, and mpirun ends the
/// job; any other error, once the ranks may be inside a collective, ends the whole job at once
/// (`MPI_Abort`), so no rank waits forever for a partner that stopped.
pub fn finish(comm: &dyn Collective, result: Result<ExitCode>) -> Result<ExitCode> {
    let e = match result {
        Err(e) if comm.size() > 1 => e,
        other => return other,
    };
    let refusal = is_memory(&e);
    if refusal && comm.rank() == 0 {
        return Err(e);
    }
    report_on_rank(comm, &e);
    if refusal {
        return Ok(ExitCode::from(2));
    }
    use mpi::traits::Communicator;
    mpi::topology::SimpleCommunicator::world().abort(2)
}

/// Whether `e` is the library's memory refusal (its own on every rank: nodes differ).
/// Prints `e` on stderr with the rank that hit it (rank 0 returns its errors to `main`).
fn report_on_rank(comm: &dyn Collective, e: &anyhow::Error) {
    #[expect(clippy::print_stderr, reason = "the binary reports errors")]
    {
        eprintln!(
            "mfgsim: error (rank {} of {}): {}",
            comm.rank(),
            comm.size(),
            crate::error_message(e)
        );
    }
}

fn is_memory(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<mfgsim::Error>(),
        Some(mfgsim::Error::Memory { .. })
    )
}

/// The refusals every rank makes before any collective: one all-reduce tells every rank
/// whether any refused; then rank 0 prints its own refusal, another rank prints its refusal
/// with its rank only when it is its own (memory: ranks may sit on nodes of different
/// sizes), and a second all-reduce waits until everyone has printed (mpirun ends the job at
/// the first non-zero exit, which could otherwise cut rank 0's report); every rank then
/// exits with status 2.
pub fn agree(comm: &dyn Collective, check: Result<()>) -> Result<Option<ExitCode>> {
    let mut refused = [u64::from(check.is_err())];
    comm.all_reduce_sum(&mut refused);
    if refused[0] == 0 {
        return Ok(None);
    }
    if let Err(e) = &check {
        if comm.rank() == 0 {
            #[expect(clippy::print_stderr, reason = "the binary reports errors")]
            {
                eprintln!("mfgsim: error: {}", crate::error_message(e));
            }
        } else if is_memory(e) {
            report_on_rank(comm, e);
        }
    }
    comm.all_reduce_sum(&mut [0]);
    Ok(Some(ExitCode::from(2)))
}
