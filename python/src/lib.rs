//! The native module `mfgsim._mfgsim` of the Python package `mfgsim`.
//!
//! Every entry point calls the library's run layer (`mfgsim::run::{solve, check, learn,
//! finite_n}`), as the command-line tool does, so results are the same for the same
//! scenario and seed. Long calls run on a worker thread with the GIL released; the calling
//! thread polls `PyErr_CheckSignals` every [`POLL`], so Ctrl-C sets the run layer's stop
//! flag and raises `KeyboardInterrupt` promptly. The pure-Python layer
//! (`python/python/mfgsim/__init__.py`) wraps the raw results into classes and tables.

// No unsafe code: `Population.states` is a copy (a zero-copy view was a data race with
// `step` on another thread), as in the core crate.
#![forbid(unsafe_code)]

mod custom;
mod population;
mod runs;
mod sweep;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mfgsim::scenario::Scenario;
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyOSError, PyValueError};
use pyo3::prelude::*;

pub use custom::{PyCustomModel, PyModel};

/// How often a long call checks for Ctrl-C (and for a failed Python callback).
pub const POLL: Duration = Duration::from_millis(50);

/// A library error as a Python exception: `OSError` for files, `MemoryError` for runs that
/// would not fit, `KeyboardInterrupt` for a run stopped before its first result, and
/// `ValueError` (with the file/key/reason text) for everything else.
pub(crate) fn to_py_err(e: mfgsim::Error) -> PyErr {
    match &e {
        mfgsim::Error::Io { .. } => PyOSError::new_err(e.to_string()),
        mfgsim::Error::Memory { .. } => PyMemoryError::new_err(e.to_string()),
        mfgsim::Error::Interrupted => PyKeyboardInterrupt::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Scenario overrides from Python: a dict of dotted keys to values (`bool`, `int`, `float`,
/// `str`, or lists of them), or a list of `key.path=value` strings as on the command line.
pub(crate) fn overrides_from(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    let Some(obj) = obj else {
        return Ok(Vec::new());
    };
    if obj.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(d) = obj.cast::<pyo3::types::PyDict>() {
        let mut out = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key: String = k
                .extract()
                .map_err(|_| PyValueError::new_err("overrides: keys must be strings"))?;
            let value = toml_value(&v)
                .map_err(|reason| PyValueError::new_err(format!("overrides: `{key}`: {reason}")))?;
            out.push(format!("{key}={value}"));
        }
        return Ok(out);
    }
    obj.extract::<Vec<String>>().map_err(|_| {
        PyValueError::new_err(
            "overrides: expected a dict of dotted keys to values, or a list of \
             \"key.path=value\" strings",
        )
    })
}

/// A Python value as a TOML value.
fn toml_value(v: &Bound<'_, PyAny>) -> Result<toml::Value, String> {
    use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(
            v.extract().map_err(|e: PyErr| e.to_string())?,
        ));
    }
    if v.is_instance_of::<PyInt>() {
        return v
            .extract::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| "integer out of range".to_string());
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(
            v.extract().map_err(|e: PyErr| e.to_string())?,
        ));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(
            v.extract().map_err(|e: PyErr| e.to_string())?,
        ));
    }
    // numpy scalars and other numbers.
    if let Ok(f) = v.extract::<f64>() {
        return Ok(toml::Value::Float(f));
    }
    if let Ok(items) = v.try_iter() {
        let mut out = Vec::new();
        for item in items {
            out.push(toml_value(&item.map_err(|e| e.to_string())?)?);
        }
        return Ok(toml::Value::Array(out));
    }
    Err(format!(
        "unsupported value type {}",
        v.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    ))
}

/// `mfgsim.Scenario`: a validated scenario (the same parser and messages as the CLI).
#[pyclass(name = "Scenario", module = "mfgsim._mfgsim", frozen)]
#[derive(Debug, Clone)]
pub struct PyScenario {
    pub(crate) inner: Scenario,
}

#[pymethods]
impl PyScenario {
    /// Reads a scenario file; `overrides` are `key.path=value` strings (like `--set`).
    #[staticmethod]
    #[pyo3(signature = (path, overrides=None))]
    fn from_file(path: std::path::PathBuf, overrides: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let overrides = overrides_from(overrides)?;
        let inner = Scenario::load(&path, &overrides).map_err(to_py_err)?;
        Ok(PyScenario { inner })
    }

    /// Parses scenario text (messages name the file `<string>`).
    #[staticmethod]
    #[pyo3(signature = (text, overrides=None))]
    fn from_toml(text: &str, overrides: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let overrides = overrides_from(overrides)?;
        let inner = Scenario::parse(text, std::path::Path::new("<string>"), &overrides)
            .map_err(to_py_err)?;
        Ok(PyScenario { inner })
    }

    /// The same scenario with more `key.path=value` overrides applied.
    fn with_overrides(&self, overrides: &Bound<'_, PyAny>) -> PyResult<Self> {
        let overrides = overrides_from(Some(overrides))?;
        Ok(PyScenario {
            inner: self.derive(&overrides)?,
        })
    }

    /// The scenario's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The file it was read from (`<string>` for text).
    #[getter]
    fn path(&self) -> String {
        self.inner.path.display().to_string()
    }

    /// The effective scenario (overrides applied) as TOML.
    #[getter]
    fn text(&self) -> String {
        self.inner.text.clone()
    }

    /// |S|.
    #[getter]
    fn num_states(&self) -> usize {
        self.inner.model.as_model().num_states()
    }

    /// |A|.
    #[getter]
    fn num_actions(&self) -> usize {
        self.inner.model.as_model().num_actions()
    }

    /// The model's kind (`infection`, `gig`, `adoption`, or a custom model's name).
    #[getter]
    fn model_kind(&self) -> String {
        self.inner.model.as_model().name().to_string()
    }

    /// γ.
    #[getter]
    fn gamma(&self) -> f64 {
        self.inner.game.gamma
    }

    /// ε.
    #[getter]
    fn epsilon(&self) -> f64 {
        self.inner.game.epsilon
    }

    fn __repr__(&self) -> String {
        format!(
            "Scenario(name={:?}, path={:?}, model={:?}, num_states={}, num_actions={})",
            self.inner.name,
            self.inner.path.display().to_string(),
            self.inner.model.as_model().name(),
            self.num_states(),
            self.num_actions()
        )
    }
}

impl PyScenario {
    /// This scenario re-parsed from its effective text with `overrides` applied.
    pub(crate) fn derive(&self, overrides: &[String]) -> PyResult<Scenario> {
        if overrides.is_empty() {
            return Ok(self.inner.clone());
        }
        Scenario::parse(&self.inner.text, &self.inner.path, overrides).map_err(to_py_err)
    }
}

/// A `Scenario` or a `CustomModel`, as every entry point accepts; a custom model with the
/// [`PyModel::for_run`] of this call (its own error slot).
pub(crate) enum ModelArg {
    Scenario(Py<PyScenario>),
    Custom(Py<PyCustomModel>, std::sync::Arc<PyModel>),
}

impl ModelArg {
    pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.extract::<Py<PyScenario>>() {
            return Ok(ModelArg::Scenario(s));
        }
        if let Ok(c) = obj.extract::<Py<PyCustomModel>>() {
            let run = std::sync::Arc::new(c.get().model.for_run(obj.py()));
            return Ok(ModelArg::Custom(c, run));
        }
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "expected an mfgsim.Scenario or an mfgsim.CustomModel, got {}",
            obj.get_type().name()?
        )))
    }

    /// The scenario of a run with `overrides`; resets a custom model's stored error.
    pub(crate) fn scenario(&self, overrides: &[String]) -> PyResult<Scenario> {
        match self {
            ModelArg::Scenario(s) => s.get().derive(overrides),
            ModelArg::Custom(c, run) => {
                run.reset_error();
                c.get().scenario_with(run.clone(), overrides)
            }
        }
    }

    /// The Python model of this run, when there is one.
    pub(crate) fn py_model(&self) -> Option<std::sync::Arc<PyModel>> {
        match self {
            ModelArg::Scenario(_) => None,
            ModelArg::Custom(_, run) => Some(run.clone()),
        }
    }
}

/// Runs `work` on a scoped worker thread with the GIL released. Every [`POLL`] the calling
/// thread checks for signals (Ctrl-C) and for a failed callback of `model`; either sets
/// `stop`, and the error is raised once the worker has returned (so nothing is left
/// running and the objects stay usable).
///
/// # Errors
/// `KeyboardInterrupt` (or the signal handler's exception), the callback's exception, or
/// the worker's own error.
pub(crate) fn run_blocking<T: Send>(
    py: Python<'_>,
    stop: &AtomicBool,
    model: Option<&PyModel>,
    work: impl FnOnce() -> PyResult<T> + Send,
) -> PyResult<T> {
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    let mut signal: Option<PyErr> = None;
    let result = std::thread::scope(|scope| {
        let handle = scope.spawn(move || {
            let r = work();
            let _ = tx.send(());
            r
        });
        loop {
            let done = py.detach(|| {
                !matches!(
                    rx.recv_timeout(POLL),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout)
                )
            });
            if done {
                break;
            }
            if signal.is_none() {
                if let Err(e) = py.check_signals() {
                    // A Python model then answers with placeholder tables without calling
                    // back, so even a run without a stop flag (T-BR) ends promptly.
                    if let Some(m) = model {
                        m.fail(e.clone_ref(py));
                    }
                    signal = Some(e);
                    stop.store(true, Ordering::SeqCst);
                }
            }
            if model.is_some_and(PyModel::failed) {
                stop.store(true, Ordering::SeqCst);
            }
        }
        py.detach(|| handle.join())
    });
    // A panic never crosses into Python (where it would be a `PanicException`, which
    // `except Exception` does not catch): it becomes a `RuntimeError` naming the bug.
    let result = match result {
        Ok(r) => r,
        Err(panic) => return Err(panic_error(panic.as_ref())),
    };
    if let Some(e) = model.and_then(PyModel::take_error) {
        return Err(e);
    }
    if let Some(e) = signal {
        return Err(e);
    }
    result
}

/// A `RuntimeError` for a caught panic, with its message.
pub(crate) fn panic_error(panic: &(dyn std::any::Any + Send)) -> PyErr {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    pyo3::exceptions::PyRuntimeError::new_err(format!(
        "internal error in mfgsim (a bug; please report it): {msg}"
    ))
}

/// The native module.
#[pymodule]
fn _mfgsim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyScenario>()?;
    m.add_class::<PyCustomModel>()?;
    m.add_class::<population::PyPopulation>()?;
    runs::register(m)?;
    sweep::register(m)?;
    Ok(())
}
