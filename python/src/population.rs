//! `mfgsim.Population`: the agent engine (N stored agents) driven step by step from Python.

use std::sync::Arc;

use mfgsim::model::BuiltinModel;
use mfgsim::population::Population;
use mfgsim::space::uniform;
use mfgsim::transition::TransitionBuffer;
use numpy::{Element, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::runs::{mean_field_from, policy_from};
use crate::{to_py_err, ModelArg, PyModel};

/// The state column's type follows |S|: u8 up to 256 states, u16 above.
#[derive(Debug)]
enum Inner {
    U8(Population<u8>),
    U16(Population<u16>),
}

/// Runs `$body` with `$p` bound to the population, whatever its state type.
macro_rules! with_pop {
    ($inner:expr, $p:ident => $body:expr) => {
        match $inner {
            Inner::U8($p) => $body,
            Inner::U16($p) => $body,
        }
    };
}

/// N agents of a model (a `Scenario`'s or a `CustomModel`), moved one step at a time under a
/// strategy at their empirical mean field. Step k draws from the streams of (seed, k), as
/// `mfgsim::population::Population::step_par` does, so the same seed and strategies give
/// the same states for any thread count.
#[pyclass(name = "Population", module = "mfgsim._mfgsim")]
#[derive(Debug)]
pub struct PyPopulation {
    model: BuiltinModel,
    py_model: Option<Arc<PyModel>>,
    inner: Inner,
    seed: u64,
    steps: u64,
}

#[pymethods]
impl PyPopulation {
    #[new]
    #[pyo3(signature = (model, agents, seed=0, init=None))]
    fn new(
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        agents: usize,
        seed: u64,
        init: Option<Vec<f64>>,
    ) -> PyResult<Self> {
        let m = ModelArg::from_py(model)?;
        let sc = m.scenario(&[])?;
        let ns = sc.model.as_model().num_states();
        let init = match init {
            Some(v) => mean_field_from(v, ns)?,
            None => uniform(ns),
        };
        let inner = py.detach(|| {
            if ns <= 256 {
                Population::<u8>::try_new_typed(ns, agents, &init, seed).map(Inner::U8)
            } else {
                Population::<u16>::try_new_typed(ns, agents, &init, seed).map(Inner::U16)
            }
        });
        Ok(PyPopulation {
            model: sc.model,
            py_model: m.py_model(),
            inner: inner.map_err(to_py_err)?,
            seed,
            steps: 0,
        })
    }

    /// Moves every agent once under `policy` (an S×A strategy array) at the current empirical
    /// mean field, with the GIL released, and returns the new mean field z^N (a copy).
    /// A CustomModel's callbacks run once, before the agents move; if they fail, nothing
    /// changes and their exception is raised.
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        policy: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let md = self.model.as_model();
        let policy = policy_from(policy, md.num_states(), md.num_actions())?;
        if let Some(pm) = &self.py_model {
            pm.reset_error();
            let z = with_pop!(&self.inner, p => p.mean_field().to_vec());
            // Evaluated here (the tables are cached for the step), so an error leaves the
            // agents where they are.
            pm.tables_at(py, &z)?;
        }
        let (k, seed) = (self.steps, self.seed);
        let model = &self.model;
        let inner = &mut self.inner;
        let result = py.detach(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                with_pop!(inner, p => p.step_par(model.as_model(), &policy, k, seed).map(|_| ()))
            }))
        });
        let result = result.map_err(|panic| crate::panic_error(panic.as_ref()))?;
        if let Some(e) = self.py_model.as_ref().and_then(|pm| pm.take_error()) {
            return Err(e);
        }
        result.map_err(to_py_err)?;
        self.steps += 1;
        Ok(self.mean_field(py))
    }

    /// Redraws every agent i.i.d. from `init` (default uniform) with `seed` (default: the
    /// population's), and restarts the step count at 0.
    #[pyo3(signature = (init=None, seed=None))]
    fn reset(&mut self, py: Python<'_>, init: Option<Vec<f64>>, seed: Option<u64>) -> PyResult<()> {
        let ns = self.model.as_model().num_states();
        let init = match init {
            Some(v) => mean_field_from(v, ns)?,
            None => uniform(ns),
        };
        let seed = seed.unwrap_or(self.seed);
        let inner = &mut self.inner;
        py.detach(|| with_pop!(inner, p => p.reset(&init, seed)))
            .map_err(to_py_err)?;
        self.seed = seed;
        self.steps = 0;
        Ok(())
    }

    /// The agents' current states: a numpy array (a copy; dtype uint8, or uint16 above 256
    /// states), so later steps never change an array you kept. While another thread runs
    /// `step` on this population, reading it raises `RuntimeError` (the population is busy).
    #[getter]
    fn states<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match &self.inner {
            Inner::U8(p) => PyArray1::from_slice(py, p.states()).into_any(),
            Inner::U16(p) => PyArray1::from_slice(py, p.states()).into_any(),
        }
    }

    /// The last step's transitions as three numpy arrays (s, a, s′) of length N (copies);
    /// with `regenerated=True` a fourth boolean array tells which agents were replaced.
    #[pyo3(signature = (regenerated=false))]
    fn transitions<'py>(
        &self,
        py: Python<'py>,
        regenerated: bool,
    ) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        fn columns<'py, T: mfgsim::state::StateCode + Element>(
            py: Python<'py>,
            b: &TransitionBuffer<T>,
            regenerated: bool,
        ) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
            let s = PyArray1::from_slice(py, b.states());
            let a = PyArray1::from_iter(
                py,
                b.actions()
                    .iter()
                    .map(|&x| mfgsim::transition::unpack_action(x) as u8),
            );
            let s2 = PyArray1::from_slice(py, b.next_states());
            if regenerated {
                let r = PyArray1::from_iter(
                    py,
                    b.actions()
                        .iter()
                        .map(|&x| mfgsim::transition::is_regenerated(x)),
                );
                pyo3::types::PyTuple::new(
                    py,
                    [s.into_any(), a.into_any(), s2.into_any(), r.into_any()],
                )
            } else {
                pyo3::types::PyTuple::new(py, [s.into_any(), a.into_any(), s2.into_any()])
            }
        }
        let none = || PyValueError::new_err("no transitions before the first step");
        match &self.inner {
            Inner::U8(p) => columns(py, p.transitions().ok_or_else(none)?, regenerated),
            Inner::U16(p) => columns(py, p.transitions().ok_or_else(none)?, regenerated),
        }
    }

    /// The empirical mean field z^N = counts / N (a copy).
    #[getter]
    fn mean_field<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        with_pop!(&self.inner, p => PyArray1::from_slice(py, p.mean_field()))
    }

    /// Agents per state (a copy; sums to N).
    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        with_pop!(&self.inner, p => PyArray1::from_slice(py, p.counts()))
    }

    /// N.
    #[getter]
    fn num_agents(&self) -> usize {
        with_pop!(&self.inner, p => p.num_agents())
    }

    /// |S|.
    #[getter]
    fn num_states(&self) -> usize {
        self.model.as_model().num_states()
    }

    /// |A|.
    #[getter]
    fn num_actions(&self) -> usize {
        self.model.as_model().num_actions()
    }

    /// Steps taken since construction or the last reset (the next step's index k).
    #[getter]
    fn steps(&self) -> u64 {
        self.steps
    }

    /// The seed of every random stream.
    #[getter]
    fn seed(&self) -> u64 {
        self.seed
    }

    fn __len__(&self) -> usize {
        self.num_agents()
    }

    fn __repr__(&self) -> String {
        format!(
            "Population(model={:?}, agents={}, seed={}, steps={})",
            self.model.as_model().name(),
            self.num_agents(),
            self.seed,
            self.steps
        )
    }
}
