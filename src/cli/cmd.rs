//! Pieces shared by the long-running commands (`learn`, `finite-n`): the worker pool, the
//! Ctrl-C flag and the progress bar. Binary-only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A rayon pool with `threads` workers: default or 0, one per core; more than the
/// machine's cores is capped at the cores, with a note on stderr (extra threads only
/// contend, and tens of thousands of them exhaust the process's memory maps).
pub fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = effective_threads(threads, cores);
    if let Some(asked) = threads.filter(|&asked| asked > cores) {
        #[expect(clippy::print_stderr, reason = "the binary notes a capped flag")]
        {
            eprintln!(
                "mfgsim: note: --threads {asked} is more than this machine's {cores} core(s); \
                 using {cores}"
            );
        }
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(t)
        .build()
        .context("starting the worker threads")
}

/// Worker threads for `--threads asked` on `cores` cores: `asked` capped at `cores`; none or 0
/// means all cores.
pub fn effective_threads(asked: Option<usize>, cores: usize) -> usize {
    match asked {
        None | Some(0) => cores,
        Some(t) => t.min(cores),
    }
}

/// The output directory: `out` if given, else `out/<scenario>/<command>/`; created and
/// locked for this run (a second run into it is refused, naming the holder's pid). The lock
/// is held until the returned [`mfgsim::output::DirLock`] is dropped.
pub fn output_dir(
    out: Option<&Path>,
    scenario: &str,
    command: &str,
) -> Result<mfgsim::output::DirLock> {
    let dir = out.map_or_else(
        || Path::new("out").join(scenario).join(command),
        Path::to_path_buf,
    );
    Ok(mfgsim::output::DirLock::acquire(&dir)?)
}

/// Refuses, before any work, when a file the command would write exists and was not
/// written by mfgsim (see `mfgsim::output::check_replaceable`).
pub fn refuse_foreign(paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        mfgsim::output::check_replaceable(p)?;
    }
    Ok(())
}

/// A flag set by Ctrl-C (SIGINT). A second handler cannot be installed (e.g. in tests
/// running several commands in one process); Ctrl-C then keeps its default behaviour.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            // The second Ctrl-C: every output is written to a temporary name and renamed,
            // and the directory lock dies with the process, so stopping now leaves only
            // complete files (and perhaps a hidden `.NAME.tmp-*` file).
            #[expect(clippy::print_stderr, reason = "the binary says why it stops")]
            {
                eprintln!("\nmfgsim: interrupted again: stopping now");
            }
            #[expect(clippy::exit, reason = "a second Ctrl-C stops the process at once")]
            std::process::exit(130);
        }
        #[expect(clippy::print_stderr, reason = "the binary says what Ctrl-C does")]
        {
            eprintln!("\nmfgsim: stopping at the next safe point (Ctrl-C again to stop at once)");
        }
    });
    flag
}

/// Exit status 130 (stopped with Ctrl-C, as the README's table says) for a run stopped
/// before anything was written, after saying so on stderr.
pub fn interrupted_early(what: &str) -> ExitCode {
    #[expect(clippy::print_stderr, reason = "the binary says why it stopped")]
    {
        eprintln!("mfgsim: {what}");
    }
    ExitCode::from(130)
}

/// A progress bar of `len` units on stderr (hidden with `quiet`; indicatif also hides it when
/// stderr is not a terminal), showing `{pos_or_percent}`, the ETA and a message cut to the
/// terminal's width (so the line never wraps, and Ctrl-C leaves no wrapped fragment).
pub fn progress_bar(len: u64, quiet: bool, counter: &str) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {counter} ETA {{eta}} {{wide_msg}}"
        ))
        .expect("valid template"),
    );
    bar
}

/// Peak resident set size (VmHWM) of this process, from /proc (Linux only).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::effective_threads;

    #[test]
    fn threads_are_capped_at_the_cores_and_zero_means_all() {
        assert_eq!(effective_threads(None, 8), 8);
        assert_eq!(effective_threads(Some(0), 8), 8);
        assert_eq!(effective_threads(Some(3), 8), 3);
        assert_eq!(effective_threads(Some(100_000), 2), 2);
    }
}
