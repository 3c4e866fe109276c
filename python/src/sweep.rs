//! `_sweep`: `mfgsim sweep` from Python, through the library's `sweep::{Sweep::plan,
//! run_sweep}` (the same plan, files and table as the command line), with a shard of the
//! runs for a cluster.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use mfgsim::run::NashPolicy;
use mfgsim::scenario::StartSpec;
use mfgsim::sweep::{run_sweep, GridAxis, Shard, Sweep, SweepCommand, SweepOptions, SweepSpec};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::runs::{thread_pool, to_python};
use crate::{run_blocking, to_py_err};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_sweep, m)?)?;
    Ok(())
}

/// Plans and runs a sweep of the scenario file `path` into `out`: `grid` as `--grid`
/// (`KEY=V1,V2` or `KEY=LO:HI:COUNT`), `seeds`, `command`, `start` (solve), `overrides` as
/// `--set`; `shard = (i, n)` runs only shard i of n (no table; `collect` waits for the other
/// shards and writes it); `agents` the N of each finite-n or nash-gap study, `policy` and
/// `replications` those of nash-gap. Returns the outcome as a dict.
#[pyfunction]
#[pyo3(signature = (path, out, grid=Vec::new(), seeds=1, command="learn".to_string(),
    start=None, overrides=Vec::new(), jobs=0, threads=None, shard=None, collect=false,
    agents=None, policy=None, replications=None))]
#[allow(clippy::too_many_arguments)]
fn _sweep<'py>(
    py: Python<'py>,
    path: PathBuf,
    out: PathBuf,
    grid: Vec<String>,
    seeds: u64,
    command: String,
    start: Option<String>,
    overrides: Vec<String>,
    jobs: usize,
    threads: Option<usize>,
    shard: Option<(usize, usize)>,
    collect: bool,
    agents: Option<Vec<u64>>,
    policy: Option<String>,
    replications: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut spec = SweepSpec {
        command: SweepCommand::parse(&command).map_err(to_py_err)?,
        grid: grid
            .iter()
            .map(|g| GridAxis::parse(g))
            .collect::<mfgsim::Result<_>>()
            .map_err(to_py_err)?,
        seeds,
        start: start
            .as_deref()
            .map(StartSpec::parse)
            .transpose()
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("start: {e}")))?,
        ..SweepSpec::default()
    };
    let bad = |key: &str, reason: String| {
        pyo3::exceptions::PyValueError::new_err(format!("{key}: {reason}"))
    };
    if spec.command != SweepCommand::NashGap && (policy.is_some() || replications.is_some()) {
        return Err(bad(
            "policy",
            "policy and replications apply to command=\"nash-gap\" only".into(),
        ));
    }
    if let Some(a) = agents {
        spec.finite_n.agents = a.clone();
        spec.nash_gap.agents = a;
    }
    if let Some(p) = policy {
        spec.nash_policy = NashPolicy::parse(&p);
    }
    if let Some(k) = replications {
        spec.nash_gap.replications = k;
    }
    match spec.command {
        SweepCommand::FiniteN => spec.finite_n.validate().map_err(to_py_err)?,
        SweepCommand::NashGap => spec.nash_gap.validate().map_err(to_py_err)?,
        _ => {}
    }
    let plan = Sweep::plan(&path, &overrides, spec).map_err(to_py_err)?;
    let opts = SweepOptions {
        jobs,
        threads: 0,
        shard: shard
            .map(|(i, n)| Shard::new(i, n))
            .transpose()
            .map_err(to_py_err)?,
        collect,
    };
    let stop = AtomicBool::new(false);
    let pool = thread_pool(threads)?;
    let o = run_blocking(py, &stop, None, || {
        pool.install(|| run_sweep(&plan, &out, &opts, &stop, &|_| {}).map_err(to_py_err))
    })?;
    let d = PyDict::new(py);
    d.set_item("total", o.total)?;
    d.set_item("ran", o.ran)?;
    d.set_item("skipped", o.skipped)?;
    d.set_item("missing", o.missing)?;
    d.set_item("not_converged", o.not_converged)?;
    d.set_item("wrote_table", o.wrote_table)?;
    d.set_item("table", o.table.display().to_string())?;
    d.set_item("seconds", o.seconds)?;
    d.set_item("groups", to_python(py, &o.groups)?)?;
    Ok(d)
}
