//! The run-layer entry points: `_solve`, `_check`, `_learn`, `_finite_n`, `_nash_gap`, and the exact
//! helpers `_exploitability` and `_kernel_tables`. They return raw pieces (dicts of numpy
//! arrays, JSON text, Arrow IPC bytes) that `mfgsim/__init__.py` wraps.

use std::sync::atomic::AtomicBool;

use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, RecordBatch, UInt64Array};
use mfgsim::check::CheckOptions;
use mfgsim::finite_n::{EngineKind, FiniteNParams, PolicySource};
use mfgsim::learner::Evaluator;
use mfgsim::model::{check_pmf, KernelTables};
use mfgsim::output::{finite_n_runs_batch, finite_n_steps_batch, nash_gap_batch, snapshots_batch};
use mfgsim::run::{self, LearnOptions, SolveRun};
use mfgsim::scenario::StartSpec;
use mfgsim::space::{Policy, QTable};
use mfgsim::Start;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::{run_blocking, to_py_err, ModelArg};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_solve, m)?)?;
    m.add_function(wrap_pyfunction!(_check, m)?)?;
    m.add_function(wrap_pyfunction!(_equilibria, m)?)?;
    m.add_function(wrap_pyfunction!(_learn, m)?)?;
    m.add_function(wrap_pyfunction!(_finite_n, m)?)?;
    m.add_function(wrap_pyfunction!(_nash_gap, m)?)?;
    m.add_function(wrap_pyfunction!(_exploitability, m)?)?;
    m.add_function(wrap_pyfunction!(_kernel_tables, m)?)?;
    Ok(())
}

/// Tolerance on a row sum of a strategy passed in from Python: the agent engine's
/// sampler rows (`mfgsim::tol::SAMPLER_ROW_SUM`).
const POLICY_ROW_TOL: f64 = mfgsim::tol::SAMPLER_ROW_SUM;

/// `v` (row-major) as a numpy array of shape `shape`.
pub(crate) fn array<'py>(
    py: Python<'py>,
    v: Vec<f64>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, v).reshape(shape)?.into_any())
}

/// A JSON-serializable report as Python objects (through `json.loads`; non-finite numbers
/// become `None`, as in `summary.json`).
pub(crate) fn to_python<'py>(
    py: Python<'py>,
    value: &impl serde::Serialize,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| PyValueError::new_err(format!("serializing a report: {e}")))?;
    PyModule::import(py, "json")?
        .getattr("loads")?
        .call1((text,))
}

/// A strategy μ(s, a) from an S×A array: finite entries in [0, 1], rows summing to 1
/// (within 1e-9); its greedy action is each row's argmax (lowest index on ties).
pub(crate) fn policy_from(
    arr: &Bound<'_, PyAny>,
    num_states: usize,
    num_actions: usize,
) -> PyResult<Policy> {
    let np = PyModule::import(arr.py(), "numpy")?;
    let a = np
        .getattr("ascontiguousarray")?
        .call1((arr, "float64"))
        .map_err(|e| PyValueError::new_err(format!("policy: not an array of numbers: {e}")))?;
    let a: PyReadonlyArrayDyn<'_, f64> = a.extract()?;
    if a.shape() != [num_states, num_actions] {
        return Err(PyValueError::new_err(format!(
            "policy has shape {:?}, expected [{num_states}, {num_actions}] (num_states × num_actions)",
            a.shape()
        )));
    }
    let probs = a.as_slice()?.to_vec();
    for (s, row) in probs.chunks_exact(num_actions).enumerate() {
        if let Some((act, v)) = row
            .iter()
            .enumerate()
            .find(|(_, v)| !(0.0..=1.0).contains(*v))
        {
            return Err(PyValueError::new_err(format!(
                "policy[{s}, {act}] = {v}: probabilities must be in [0, 1]"
            )));
        }
        let sum: f64 = row.iter().sum();
        if (sum - 1.0).abs() > POLICY_ROW_TOL {
            return Err(PyValueError::new_err(format!(
                "policy[{s}, :] sums to {sum}, not 1 (tolerance {POLICY_ROW_TOL:e})"
            )));
        }
    }
    // The greedy action of each row: its highest probability, ties to the lowest action.
    Ok(Policy::from_probs(num_states, num_actions, probs))
}

/// A mean field z from a sequence: a pmf on the states.
pub(crate) fn mean_field_from(z: Vec<f64>, num_states: usize) -> PyResult<Vec<f64>> {
    check_pmf("z", &z, Some(num_states)).map_err(to_py_err)?;
    Ok(z)
}

fn q_array<'py>(py: Python<'py>, q: &QTable) -> PyResult<Bound<'py, PyAny>> {
    array(py, q.values().to_vec(), &[q.num_states(), q.num_actions()])
}

fn solve_run<'py>(py: Python<'py>, label: &str, run: &SolveRun) -> PyResult<Bound<'py, PyDict>> {
    let sol = &run.solution;
    let (ns, na) = (sol.q.num_states(), sol.q.num_actions());
    let d = PyDict::new(py);
    d.set_item("label", label)?;
    d.set_item("z", array(py, sol.z.clone(), &[ns])?)?;
    d.set_item("q", q_array(py, &sol.q)?)?;
    d.set_item("mu", array(py, sol.policy.probs().to_vec(), &[ns, na])?)?;
    d.set_item(
        "greedy",
        PyArray1::from_iter(py, sol.policy.greedy().iter().map(|&a| a as i64)),
    )?;
    let k = sol.trace.len();
    let traj: Vec<f64> = sol.trace.iter().flat_map(|r| r.z.iter().copied()).collect();
    d.set_item("trajectory", array(py, traj, &[k, ns])?)?;
    d.set_item(
        "delta_l1",
        array(py, sol.trace.iter().map(|r| r.delta_l1).collect(), &[k])?,
    )?;
    d.set_item(
        "tq_sweeps",
        PyArray1::from_iter(py, sol.trace.iter().map(|r| r.tq_sweeps as i64)),
    )?;
    d.set_item("start", array(py, sol.start.clone(), &[ns])?)?;
    d.set_item("consistency_l1", sol.consistency_l1)?;
    d.set_item(
        "consistency_trace",
        array(
            py,
            sol.trace.iter().map(|r| r.consistency_l1).collect(),
            &[k],
        )?,
    )?;
    d.set_item(
        "exploitability_trace",
        array(
            py,
            sol.trace
                .iter()
                .map(|r| r.exploitability.unwrap_or(f64::NAN))
                .collect(),
            &[k],
        )?,
    )?;
    d.set_item("seconds", run.seconds)?;
    d.set_item("summary", to_python(py, run)?)?;
    Ok(d)
}

/// T-BR through `run::solve`: a list of run dicts (one, or `least` and `greatest`).
#[pyfunction]
#[pyo3(signature = (model, start, overrides=Vec::new()))]
fn _solve<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    start: &Bound<'py, PyAny>,
    overrides: Vec<String>,
) -> PyResult<(Bound<'py, PyAny>, Vec<Bound<'py, PyDict>>)> {
    let m = ModelArg::from_py(model)?;
    let sc = m.scenario(&overrides)?;
    let spec = if let Ok(text) = start.extract::<String>() {
        StartSpec::parse(&text).map_err(|e| PyValueError::new_err(format!("start: {e}")))?
    } else {
        let v: Vec<f64> = start.extract().map_err(|_| {
            PyValueError::new_err(
                "start: expected \"uniform\", \"lowest\", \"highest\", \"extremal\" or a \
                 distribution over the states",
            )
        })?;
        StartSpec::Single(Start::Given(v))
    };
    let pm = m.py_model();
    let stop = AtomicBool::new(false);
    let report = run_blocking(py, &stop, pm.as_deref(), || {
        run::solve(&sc, Some(&spec)).map_err(to_py_err)
    })?;
    let runs = report
        .runs()
        .into_iter()
        .map(|(label, r)| solve_run(py, label, r))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((to_python(py, &report)?, runs))
}

/// The equilibrium census through `run::equilibria`: the report as Python objects.
#[pyfunction]
#[pyo3(signature = (model, random_starts, seed, cluster_tol, fp_target, overrides=Vec::new(), threads=None))]
#[expect(
    clippy::too_many_arguments,
    reason = "one Python keyword per census option"
)]
fn _equilibria<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    random_starts: usize,
    seed: u64,
    cluster_tol: f64,
    fp_target: f64,
    overrides: Vec<String>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let m = ModelArg::from_py(model)?;
    let sc = m.scenario(&overrides)?;
    let opts = mfgsim::census::CensusOptions {
        random_starts,
        seed,
        cluster_tol,
        fp_target,
    };
    let pm = m.py_model();
    let stop = AtomicBool::new(false);
    let pool = thread_pool(threads)?;
    let report = run_blocking(py, &stop, pm.as_deref(), || {
        pool.install(|| run::equilibria(&sc, &opts))
            .map_err(to_py_err)
    })?;
    to_python(py, &report)
}

/// Definition 1's checker through `run::check`: the report as Python objects.
#[pyfunction]
#[pyo3(signature = (model, tol, random_pairs, seed, overrides=Vec::new()))]
fn _check<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    tol: f64,
    random_pairs: usize,
    seed: u64,
    overrides: Vec<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let m = ModelArg::from_py(model)?;
    let sc = m.scenario(&overrides)?;
    let opts = CheckOptions {
        tol,
        random_pairs,
        seed,
    };
    let pm = m.py_model();
    let stop = AtomicBool::new(false);
    let report = run_blocking(py, &stop, pm.as_deref(), || {
        run::check(&sc, &opts).map_err(to_py_err)
    })?;
    to_python(py, &report)
}

/// A record batch as (columns as numpy arrays, Arrow IPC stream bytes). Nullable floats
/// become NaN in the numpy columns; the IPC stream keeps the nulls and the exact types.
fn batch_to_python<'py>(
    py: Python<'py>,
    batch: &RecordBatch,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
    let cols = PyDict::new(py);
    let schema = batch.schema();
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        let any = col.as_any();
        let value: Bound<'py, PyAny> = if let Some(a) = any.downcast_ref::<Float64Array>() {
            PyArray1::from_iter(
                py,
                (0..a.len()).map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) }),
            )
            .into_any()
        } else if let Some(a) = any.downcast_ref::<Int64Array>() {
            PyArray1::from_slice(py, a.values()).into_any()
        } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
            PyArray1::from_slice(py, a.values()).into_any()
        } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
            PyArray1::from_iter(py, (0..a.len()).map(|i| a.value(i))).into_any()
        } else {
            return Err(PyValueError::new_err(format!(
                "column `{}` has type {} with no numpy conversion here",
                field.name(),
                field.data_type()
            )));
        };
        cols.set_item(field.name(), value)?;
    }
    let mut buf = Vec::new();
    {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut buf, &schema)
            .map_err(|e| PyValueError::new_err(format!("Arrow IPC: {e}")))?;
        w.write(batch)
            .and_then(|()| w.finish())
            .map_err(|e| PyValueError::new_err(format!("Arrow IPC: {e}")))?;
    }
    Ok((cols, PyBytes::new(py, &buf)))
}

/// A learning run through `run::learn`: a dict with `summary` (the content of
/// `summary.json`), the snapshot rows (`columns`, `ipc`), the final `policy`, `q`, `z`.
#[pyfunction]
#[pyo3(signature = (model, overrides=Vec::new(), threads=None))]
fn _learn<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    overrides: Vec<String>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let m = ModelArg::from_py(model)?;
    let sc = m.scenario(&overrides)?;
    let pm = m.py_model();
    let stop = AtomicBool::new(false);
    let pool = thread_pool(threads)?;
    let report = run_blocking(py, &stop, pm.as_deref(), || {
        pool.install(|| {
            run::learn(&sc, &LearnOptions::default(), &stop, &mut |_, _| Ok(())).map_err(to_py_err)
        })
    })?;
    let ns = sc.model.as_model().num_states();
    let (cols, ipc) = batch_to_python(py, &snapshots_batch(ns, &report.snapshots))?;
    let d = PyDict::new(py);
    d.set_item("summary", to_python(py, &report)?)?;
    d.set_item("columns", cols)?;
    d.set_item("ipc", ipc)?;
    let p = &report.policy;
    d.set_item(
        "policy",
        array(py, p.probs().to_vec(), &[p.num_states(), p.num_actions()])?,
    )?;
    d.set_item("q", report.q.as_ref().map(|q| q_array(py, q)).transpose()?)?;
    d.set_item("z", array(py, report.z.clone(), &[ns])?)?;
    Ok(d)
}

/// The rayon pool of a run: `threads` workers, or one per core; more than the machine's
/// cores is capped at the cores, as on the command line (extra threads only contend, and
/// a million of them never finish starting).
pub(crate) fn thread_pool(threads: Option<usize>) -> PyResult<rayon::ThreadPool> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        if t == 0 {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        b = b.num_threads(t.min(cores));
    }
    b.build()
        .map_err(|e| PyValueError::new_err(format!("starting the worker threads: {e}")))
}

/// The finite-N study through `run::finite_n`.
#[pyfunction]
#[pyo3(signature = (model, agents, seeds, steps, burn_in, policy, engine, seed, bootstrap,
    confidence, overrides=Vec::new(), threads=None))]
#[allow(clippy::too_many_arguments)]
fn _finite_n<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    agents: Vec<u64>,
    seeds: usize,
    steps: u64,
    burn_in: u64,
    policy: &str,
    engine: &str,
    seed: u64,
    bootstrap: usize,
    confidence: f64,
    overrides: Vec<String>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let m = ModelArg::from_py(model)?;
    let sc = m.scenario(&overrides)?;
    let params = FiniteNParams {
        agents,
        seeds,
        base_seed: seed,
        steps,
        burn_in,
        policy: match policy {
            "tmfe" => PolicySource::Tmfe,
            "learned" => PolicySource::Learned,
            other => {
                return Err(PyValueError::new_err(format!(
                    "policy: expected \"tmfe\" or \"learned\", got {other:?}"
                )))
            }
        },
        engine: match engine {
            "agents" => EngineKind::Agents,
            "counts" => EngineKind::Counts,
            other => {
                return Err(PyValueError::new_err(format!(
                    "engine: expected \"agents\" or \"counts\", got {other:?}"
                )))
            }
        },
        bootstrap,
        confidence,
        ..FiniteNParams::default()
    };
    let pm = m.py_model();
    let stop = AtomicBool::new(false);
    let pool = thread_pool(threads)?;
    let report = run_blocking(py, &stop, pm.as_deref(), || {
        pool.install(|| run::finite_n(&sc, &params, &stop, &|_| {}).map_err(to_py_err))
    })?;
    let ns = sc.model.as_model().num_states();
    let d = PyDict::new(py);
    d.set_item("summary", to_python(py, &report)?)?;
    let (cols, ipc) = batch_to_python(py, &finite_n_runs_batch(&report.report, ns))?;
    d.set_item("runs_columns", cols)?;
    d.set_item("runs_ipc", ipc)?;
    let (cols, ipc) = batch_to_python(py, &finite_n_steps_batch(&report.report, ns))?;
    d.set_item("steps_columns", cols)?;
    d.set_item("steps_ipc", ipc)?;
    Ok(d)
}

/// The ε-Nash gap study through `run::nash_gap`.
#[pyfunction]
#[pyo3(signature = (model, policy, agents, replications, search_replications, max_rounds,
    tolerance, seed, bootstrap, confidence, overrides=Vec::new(), threads=None))]
#[allow(clippy::too_many_arguments)]
fn _nash_gap<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    policy: &str,
    agents: Vec<u64>,
    replications: usize,
    search_replications: usize,
    max_rounds: usize,
    tolerance: f64,
    seed: u64,
    bootstrap: usize,
    confidence: f64,
    overrides: Vec<String>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let m = ModelArg::from_py(model)?;
    let sc = m.scenario(&overrides)?;
    let params = mfgsim::nash_gap::NashGapParams {
        agents,
        replications,
        search_replications,
        max_rounds,
        tolerance,
        seed,
        bootstrap,
        confidence,
        ..mfgsim::nash_gap::NashGapParams::default()
    };
    let policy = run::NashPolicy::parse(policy);
    let pm = m.py_model();
    let stop = AtomicBool::new(false);
    let pool = thread_pool(threads)?;
    let report = run_blocking(py, &stop, pm.as_deref(), || {
        pool.install(|| run::nash_gap(&sc, &policy, &params, &stop, &|_| {}).map_err(to_py_err))
    })?;
    let d = PyDict::new(py);
    d.set_item("summary", to_python(py, &report)?)?;
    let (cols, ipc) = batch_to_python(py, &nash_gap_batch(&report.report, &report.policy_greedy))?;
    d.set_item("columns", cols)?;
    d.set_item("ipc", ipc)?;
    Ok(d)
}

/// Exact exploitability (max over states, z-weighted) of `policy` at `z`.
#[pyfunction]
fn _exploitability(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    policy: &Bound<'_, PyAny>,
    z: Vec<f64>,
) -> PyResult<(f64, f64)> {
    let m = ModelArg::from_py(model)?;
    let sc = m.scenario(&[])?;
    let md = sc.model.as_model();
    let policy = policy_from(policy, md.num_states(), md.num_actions())?;
    let z = mean_field_from(z, md.num_states())?;
    let pm = m.py_model();
    let stop = AtomicBool::new(false);
    let e = run_blocking(py, &stop, pm.as_deref(), || {
        let mut eval = Evaluator::new(md, sc.game, None);
        Ok(eval.exploitability(&policy, &z))
    })?;
    Ok((e.max, e.weighted))
}

/// r(·,·,z) as an S×A array and P(·|·,·,z) as an S×A×S array.
#[pyfunction]
fn _kernel_tables<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    z: Vec<f64>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let m = ModelArg::from_py(model)?;
    let sc = m.scenario(&[])?;
    let md = sc.model.as_model();
    let (ns, na) = (md.num_states(), md.num_actions());
    let z = mean_field_from(z, ns)?;
    let t = match m.py_model() {
        Some(pm) => pm.tables_at(py, &z)?,
        None => KernelTables::of(md, &z),
    };
    Ok((
        array(py, t.reward, &[ns, na])?,
        array(py, t.kernel, &[ns, na, ns])?,
    ))
}
