//! Pieces shared by the long-running commands (`learn`, `finite-n`): the worker pool, the
//! Ctrl-C flag and the progress bar. Binary-only.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A rayon pool with `threads` workers (default: one per core).
pub fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
        pool = pool.num_threads(t);
    }
    pool.build().context("starting the worker threads")
}

/// The output directory: `out` if given, else `out/<scenario>/<command>/`; created.
pub fn output_dir(out: Option<&Path>, scenario: &str, command: &str) -> Result<PathBuf> {
    let dir = out.map_or_else(
        || Path::new("out").join(scenario).join(command),
        Path::to_path_buf,
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A flag set by Ctrl-C (SIGINT). A second handler cannot be installed (e.g. in tests
/// running several commands in one process); Ctrl-C then keeps its default behaviour.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    let _ = ctrlc::set_handler(move || handler_flag.store(true, Ordering::SeqCst));
    flag
}

/// A progress bar of `len` units on stderr (hidden with `quiet`; indicatif also hides it when
/// stderr is not a terminal), showing `{pos_or_percent}` and a message.
pub fn progress_bar(len: u64, quiet: bool, counter: &str) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {counter} {{msg}} ETA {{eta}}"
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
