//! `CustomModel`: a [`Model`] whose reward and kernel are Python callables of the mean field.
//!
//! `reward(z)` returns an S×A array and `transition(z)` an S×A×S array; both are called once
//! per mean field z (the exact operators fill dense [`KernelTables`] once per z; the agent
//! engine once per step). The per-entry [`Model::reward`] and [`Model::transition_row`] read
//! the tables of the last z from a cache and never call Python per entry.
//!
//! A callback that raises, or returns an array of the wrong shape, with non-finite values,
//! negative probabilities or rows that do not sum to 1 (within [`ROW_SUM_TOL`]; rows within
//! it but off by more than 1e-12 are renormalised to sum to 1), does not panic: the first error is stored, the tables are filled with a harmless placeholder (zero
//! rewards, every agent stays put) so that the Rust side finishes its unit of work, the
//! caller's stop flag ends the run, and the entry point raises the stored error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mfgsim::model::{check_pmf, check_prob, GameParams, KernelTables, Model};
use numpy::{PyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Tolerance on the sum of a kernel row returned by `transition(z)`: the agent engine's
/// own row tolerance (`mfgsim::population::ROW_SUM_TOL`, 1e-9), so every row accepted here
/// can be sampled.
pub const ROW_SUM_TOL: f64 = mfgsim::tol::SAMPLER_ROW_SUM;

/// A mean field z and the tables of the callbacks at z.
type CachedTables = (Vec<f64>, KernelTables);

/// The Rust side of a `CustomModel`.
pub struct PyModel {
    num_states: usize,
    num_actions: usize,
    name: String,
    regen_prob: f64,
    regen_pmf: Vec<f64>,
    reward: Py<PyAny>,
    transition: Py<PyAny>,
    /// The last z and its tables (shared by every run of the model: a table is only cached
    /// once both callbacks succeeded on it).
    cache: Arc<Mutex<Option<CachedTables>>>,
    /// The first error of a callback since the last [`PyModel::reset_error`]: this run's
    /// own (each run works on its own [`PyModel::for_run`]), so a failure in one run never
    /// reaches another.
    error: Mutex<Option<PyErr>>,
    failed: AtomicBool,
    /// Number of calls of `transition` (one per mean field not in the cache), over all runs.
    calls: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for PyModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyModel")
            .field("name", &self.name)
            .field("num_states", &self.num_states)
            .field("num_actions", &self.num_actions)
            .field("regen_prob", &self.regen_prob)
            .finish_non_exhaustive()
    }
}

impl PyModel {
    /// Validated constructor.
    ///
    /// # Errors
    /// `ValueError` for sizes out of range, a non-callable, or an invalid regeneration law.
    #[allow(clippy::too_many_arguments)]
    pub fn try_new(
        num_states: usize,
        num_actions: usize,
        reward: Py<PyAny>,
        transition: Py<PyAny>,
        name: String,
        regen_prob: f64,
        regen_pmf: Option<Vec<f64>>,
        py: Python<'_>,
    ) -> PyResult<Self> {
        let value_err = |e: mfgsim::Error| PyValueError::new_err(format!("CustomModel: {e}"));
        mfgsim::model::check_size("num_states", num_states, 1 << 16).map_err(value_err)?;
        // The agent engine packs an action in 7 bits.
        mfgsim::model::check_size("num_actions", num_actions, 128).map_err(value_err)?;
        for (key, f) in [("reward", &reward), ("transition", &transition)] {
            if !f.bind(py).is_callable() {
                return Err(PyValueError::new_err(format!(
                    "CustomModel: `{key}` must be callable (a function of the mean field z)"
                )));
            }
        }
        check_prob("regen_prob", regen_prob).map_err(value_err)?;
        let regen_pmf = regen_pmf.unwrap_or_else(|| {
            let mut p = vec![0.0; num_states];
            p[0] = 1.0;
            p
        });
        check_pmf("regen_pmf", &regen_pmf, Some(num_states)).map_err(value_err)?;
        Ok(PyModel {
            num_states,
            num_actions,
            name,
            regen_prob,
            regen_pmf,
            reward,
            transition,
            cache: Arc::new(Mutex::new(None)),
            error: Mutex::new(None),
            failed: AtomicBool::new(false),
            calls: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        })
    }

    /// The model of one run: the same callbacks, table cache and call count, its own error
    /// slot. Two threads running one `CustomModel` each get their own, so a callback error
    /// in one run stops that run only.
    pub fn for_run(&self, py: Python<'_>) -> PyModel {
        PyModel {
            num_states: self.num_states,
            num_actions: self.num_actions,
            name: self.name.clone(),
            regen_prob: self.regen_prob,
            regen_pmf: self.regen_pmf.clone(),
            reward: self.reward.clone_ref(py),
            transition: self.transition.clone_ref(py),
            cache: self.cache.clone(),
            error: Mutex::new(None),
            failed: AtomicBool::new(false),
            calls: self.calls.clone(),
        }
    }

    /// Forgets a stored error (at the start of every entry point).
    pub fn reset_error(&self) {
        *lock(&self.error) = None;
        self.failed.store(false, Ordering::SeqCst);
    }

    /// True once a callback failed since the last reset.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// The stored error, if any (clears it).
    pub fn take_error(&self) -> Option<PyErr> {
        let e = lock(&self.error).take();
        self.failed.store(false, Ordering::SeqCst);
        e
    }

    /// Number of `(reward, transition)` evaluations so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The tables at `z`, calling Python (the GIL is held) unless `z` is the cached one;
    /// errors are returned, not stored.
    ///
    /// # Errors
    /// The callback's exception, or `ValueError` for an invalid result.
    pub fn tables_at(&self, py: Python<'_>, z: &[f64]) -> PyResult<KernelTables> {
        if let Some(t) = self.cached(z) {
            return Ok(t);
        }
        let mut t = KernelTables::new(self.num_states, self.num_actions);
        self.evaluate(py, z, &mut t)?;
        *lock(&self.cache) = Some((z.to_vec(), t.clone()));
        Ok(t)
    }

    fn cached(&self, z: &[f64]) -> Option<KernelTables> {
        match &*lock(&self.cache) {
            Some((cz, t)) if cz.as_slice() == z => Some(t.clone()),
            _ => None,
        }
    }

    /// Calls both callbacks at `z` and validates their results into `t`.
    fn evaluate(&self, py: Python<'_>, z: &[f64], t: &mut KernelTables) -> PyResult<()> {
        let (ns, na) = (self.num_states, self.num_actions);
        self.calls.fetch_add(1, Ordering::Relaxed);
        // Each callback gets its own copy of z, so neither sees the other's writes.
        let r = self.reward.bind(py).call1((PyArray1::from_slice(py, z),))?;
        let r = as_f64_array(&r, "reward", &[ns, na], "num_states × num_actions")?;
        if let Some((i, v)) = r.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "CustomModel.reward(z) has a non-finite value {v} at (s={}, a={})",
                i / na,
                i % na
            )));
        }
        let p = self
            .transition
            .bind(py)
            .call1((PyArray1::from_slice(py, z),))?;
        let p = as_f64_array(
            &p,
            "transition",
            &[ns, na, ns],
            "num_states × num_actions × num_states",
        )?;
        for (i, row) in p.chunks_exact(ns).enumerate() {
            let (s, a) = (i / na, i % na);
            if let Some((s2, v)) = row
                .iter()
                .enumerate()
                .find(|(_, v)| !v.is_finite() || **v < 0.0)
            {
                return Err(PyValueError::new_err(format!(
                    "CustomModel.transition(z)[{s}, {a}, {s2}] = {v}: probabilities must be \
                     finite and non-negative"
                )));
            }
            let sum: f64 = row.iter().sum();
            if (sum - 1.0).abs() > ROW_SUM_TOL {
                return Err(PyValueError::new_err(format!(
                    "CustomModel.transition(z)[{s}, {a}, :] sums to {sum}, not 1 (tolerance \
                     {ROW_SUM_TOL:e})"
                )));
            }
        }
        t.resize(ns, na);
        t.reward.copy_from_slice(&r);
        t.kernel.copy_from_slice(&p);
        // Rows accepted above but off by more than the exact core's own row tolerance
        // (`mfgsim::model::invariants::ROW_SUM_TOL`, 1e-12) are renormalised: the exact
        // operators conserve mass only then, and T-BR's tolerance (1e-11) is far below the
        // 1e-9 accepted here. Rows already within it are kept bit for bit (a custom copy of
        // a built-in model then gives the built-in model's runs).
        for row in t.kernel.chunks_exact_mut(ns) {
            let sum: f64 = row.iter().sum();
            if (sum - 1.0).abs() > mfgsim::model::invariants::ROW_SUM_TOL {
                row.iter_mut().for_each(|x| *x /= sum);
            }
        }
        Ok(())
    }

    /// Zero rewards and every agent staying put: valid tables while a failed run winds down.
    fn placeholder(&self, t: &mut KernelTables) {
        let (ns, na) = (self.num_states, self.num_actions);
        t.resize(ns, na);
        t.reward.fill(0.0);
        t.kernel.fill(0.0);
        for s in 0..ns {
            for a in 0..na {
                t.row_mut(s, a)[s] = 1.0;
            }
        }
    }

    /// Stores `e` unless an error is already stored; later fills use placeholders.
    pub(crate) fn fail(&self, e: PyErr) {
        let mut slot = lock(&self.error);
        if slot.is_none() {
            *slot = Some(e);
        }
        self.failed.store(true, Ordering::SeqCst);
    }
}

/// A callback's result as a C-contiguous float64 array of shape `want`, row-major.
fn as_f64_array(
    v: &Bound<'_, PyAny>,
    what: &str,
    want: &[usize],
    dims: &str,
) -> PyResult<Vec<f64>> {
    let np = PyModule::import(v.py(), "numpy")?;
    let arr = np
        .getattr("ascontiguousarray")?
        .call1((v, "float64"))
        .map_err(|e| {
            PyValueError::new_err(format!(
                "CustomModel.{what}(z) did not return an array of numbers: {e}"
            ))
        })?;
    let arr: PyReadonlyArrayDyn<'_, f64> = arr.extract()?;
    if arr.shape() != want {
        return Err(PyValueError::new_err(format!(
            "CustomModel.{what}(z) returned shape {:?}, expected {want:?} ({dims})",
            arr.shape()
        )));
    }
    Ok(arr.as_slice()?.to_vec())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Model for PyModel {
    fn num_states(&self) -> usize {
        self.num_states
    }
    fn num_actions(&self) -> usize {
        self.num_actions
    }
    fn reward(&self, s: usize, a: usize, z: &[f64]) -> f64 {
        let mut t = KernelTables::new(self.num_states, self.num_actions);
        self.fill_tables(z, &mut t);
        t.r(s, a)
    }
    fn transition_row(&self, s: usize, a: usize, z: &[f64], out: &mut [f64]) {
        let mut t = KernelTables::new(self.num_states, self.num_actions);
        self.fill_tables(z, &mut t);
        out.copy_from_slice(t.row(s, a));
    }
    fn regen_prob(&self) -> f64 {
        self.regen_prob
    }
    fn regen_pmf(&self) -> Vec<f64> {
        self.regen_pmf.clone()
    }
    fn name(&self) -> &str {
        &self.name
    }
    /// One call of each callback per mean field (the GIL is taken here), cached for the
    /// per-entry methods; after a failure, placeholder tables without calling Python.
    fn fill_tables(&self, z: &[f64], tables: &mut KernelTables) {
        if self.failed() {
            return self.placeholder(tables);
        }
        if let Some(t) = self.cached(z) {
            *tables = t;
            return;
        }
        let result = Python::attach(|py| self.tables_at(py, z));
        match result {
            Ok(t) => *tables = t,
            Err(e) => {
                self.fail(e);
                self.placeholder(tables);
            }
        }
    }
}

/// `mfgsim.CustomModel(num_states, num_actions, reward, transition, gamma=0.9, epsilon=0.1,
/// regen_prob=0.0, regen_pmf=None, name="custom", overrides=None)`.
#[pyclass(name = "CustomModel", module = "mfgsim._mfgsim", frozen)]
#[derive(Debug)]
pub struct PyCustomModel {
    pub(crate) model: std::sync::Arc<PyModel>,
    pub(crate) game: GameParams,
    /// `key=value` settings of the scenario tables (`sim.*`, `solver.*`, `learner.*`)
    /// applied to every run of this model.
    pub(crate) overrides: Vec<String>,
}

#[pymethods]
impl PyCustomModel {
    #[new]
    #[pyo3(signature = (num_states, num_actions, reward, transition, gamma=0.9, epsilon=0.1,
        regen_prob=0.0, regen_pmf=None, name="custom".to_string(), overrides=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        num_states: usize,
        num_actions: usize,
        reward: Py<PyAny>,
        transition: Py<PyAny>,
        gamma: f64,
        epsilon: f64,
        regen_prob: f64,
        regen_pmf: Option<Vec<f64>>,
        name: String,
        overrides: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let overrides = crate::overrides_from(overrides)?;
        let game = GameParams::try_new(gamma, epsilon)
            .map_err(|e| PyValueError::new_err(format!("CustomModel: {e}")))?;
        let model = PyModel::try_new(
            num_states,
            num_actions,
            reward,
            transition,
            name,
            regen_prob,
            regen_pmf,
            py,
        )?;
        let me = PyCustomModel {
            model: std::sync::Arc::new(model),
            game,
            overrides,
        };
        // Checks the settings now, so a typo fails at construction.
        me.scenario(&[])?;
        Ok(me)
    }

    /// |S|.
    #[getter]
    fn num_states(&self) -> usize {
        self.model.num_states
    }

    /// |A|.
    #[getter]
    fn num_actions(&self) -> usize {
        self.model.num_actions
    }

    /// γ.
    #[getter]
    fn gamma(&self) -> f64 {
        self.game.gamma
    }

    /// ε.
    #[getter]
    fn epsilon(&self) -> f64 {
        self.game.epsilon
    }

    /// The model's name.
    #[getter]
    fn name(&self) -> String {
        self.model.name.clone()
    }

    /// How many times the callbacks were evaluated (one per mean field not cached).
    #[getter]
    fn calls(&self) -> u64 {
        self.model.calls()
    }

    fn __repr__(&self) -> String {
        format!(
            "CustomModel(name={:?}, num_states={}, num_actions={}, gamma={}, epsilon={})",
            self.model.name,
            self.model.num_states,
            self.model.num_actions,
            self.game.gamma,
            self.game.epsilon
        )
    }
}

impl PyCustomModel {
    /// The scenario of a run: this model, its settings, then `extra` overrides.
    pub(crate) fn scenario(&self, extra: &[String]) -> PyResult<mfgsim::scenario::Scenario> {
        self.scenario_with(self.model.clone(), extra)
    }

    /// The scenario of a run on `model` (this model's [`PyModel::for_run`]).
    pub(crate) fn scenario_with(
        &self,
        model: Arc<PyModel>,
        extra: &[String],
    ) -> PyResult<mfgsim::scenario::Scenario> {
        let all: Vec<String> = self.overrides.iter().chain(extra).cloned().collect();
        mfgsim::scenario::Scenario::with_model(
            mfgsim::model::BuiltinModel::Custom(model),
            self.game,
            "",
            std::path::Path::new("<CustomModel>"),
            &all,
        )
        .map_err(crate::to_py_err)
    }
}
