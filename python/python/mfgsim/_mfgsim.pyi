"""Type stubs of the native module mfgsim._mfgsim (PyO3). Use the names re-exported by
``mfgsim``; the underscored functions are the raw run-layer calls behind ``mfgsim.solve``,
``mfgsim.check``, ``mfgsim.learn``, ``mfgsim.finite_n`` and ``mfgsim.nash_gap``."""

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

Overrides = Union[Mapping[str, Any], Sequence[str], None]
ArrayLike = npt.ArrayLike

class Scenario:
    """A validated scenario: the CLI's TOML parser, checks and messages."""

    @staticmethod
    def from_file(path: str, overrides: Overrides = None) -> "Scenario":
        """Reads a scenario file. ``overrides``: dotted keys to values (like ``--set``), or
        ``"key.path=value"`` strings. Raises OSError (unreadable file) or ValueError naming
        the file, key and reason."""
    @staticmethod
    def from_toml(text: str, overrides: Overrides = None) -> "Scenario":
        """Parses scenario text (messages name the file ``<string>``)."""
    def with_overrides(self, overrides: Overrides) -> "Scenario":
        """The same scenario with more overrides applied."""
    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def text(self) -> str:
        """The effective scenario (overrides applied) as TOML."""
    @property
    def num_states(self) -> int: ...
    @property
    def num_actions(self) -> int: ...
    @property
    def model_kind(self) -> str: ...
    @property
    def gamma(self) -> float: ...
    @property
    def epsilon(self) -> float: ...

class CustomModel:
    """A model written in Python.

    ``reward(z)`` returns an S×A array r(s, a, z) and ``transition(z)`` an S×A×S array
    P(s' | s, a, z) (each row summing to 1 within 1e-9, entries finite and non-negative);
    both are called once per mean field z (once per step in the agent engine) with z a
    float64 array of length S. ``regen_prob`` ζ and ``regen_pmf`` w describe the part
    ζ·w(s') of every row that is a regeneration (default 0: none). ``overrides`` are
    scenario keys of the ``[solver]``, ``[sim]`` and ``[learner]`` tables applied to every
    run. An invalid result raises ValueError; an exception in a callback is re-raised by
    the call that ran it."""

    def __init__(
        self,
        num_states: int,
        num_actions: int,
        reward: Callable[[np.ndarray], ArrayLike],
        transition: Callable[[np.ndarray], ArrayLike],
        gamma: float = 0.9,
        epsilon: float = 0.1,
        regen_prob: float = 0.0,
        regen_pmf: Optional[Sequence[float]] = None,
        name: str = "custom",
        overrides: Overrides = None,
    ) -> None: ...
    @property
    def num_states(self) -> int: ...
    @property
    def num_actions(self) -> int: ...
    @property
    def gamma(self) -> float: ...
    @property
    def epsilon(self) -> float: ...
    @property
    def name(self) -> str: ...
    @property
    def calls(self) -> int:
        """Evaluations of the callbacks so far (one per mean field not cached)."""

class Population:
    """N stored agents of a model, stepped under a strategy at their empirical mean field."""

    def __init__(
        self,
        model: Union[Scenario, CustomModel],
        agents: int,
        seed: int = 0,
        init: Optional[Sequence[float]] = None,
    ) -> None: ...
    def step(self, policy: ArrayLike) -> np.ndarray:
        """Moves every agent once under ``policy`` (S×A); returns the new mean field."""
    def reset(self, init: Optional[Sequence[float]] = None, seed: Optional[int] = None) -> None: ...
    @property
    def states(self) -> np.ndarray:
        """The agents' states (a copy: uint8, or uint16 above 256 states); later steps
        never change it. RuntimeError while another thread runs ``step``."""
    def transitions(self, regenerated: bool = False) -> Tuple[np.ndarray, ...]:
        """The last step's (s, a, s') arrays (and the regenerated flags if asked)."""
    @property
    def mean_field(self) -> np.ndarray: ...
    @property
    def counts(self) -> np.ndarray: ...
    @property
    def num_agents(self) -> int: ...
    @property
    def num_states(self) -> int: ...
    @property
    def num_actions(self) -> int: ...
    @property
    def steps(self) -> int: ...
    @property
    def seed(self) -> int: ...
    def __len__(self) -> int: ...

Model = Union[Scenario, CustomModel]

def _solve(model: Model, start: Union[str, List[float]], overrides: List[str] = ...) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]: ...
def _equilibria(model: Model, random_starts: int, seed: int, cluster_tol: float, fp_target: float, overrides: List[str] = ..., threads: Optional[int] = ...) -> Dict[str, Any]: ...
def _check(model: Model, tol: float, random_pairs: int, seed: int, overrides: List[str] = ...) -> Dict[str, Any]: ...
def _learn(model: Model, overrides: List[str] = ..., threads: Optional[int] = None) -> Dict[str, Any]: ...
def _nash_gap(
    model: Model,
    policy: str,
    agents: List[int],
    replications: int,
    search_replications: int,
    max_rounds: int,
    tolerance: float,
    seed: int,
    bootstrap: int,
    confidence: float,
    overrides: List[str] = ...,
    threads: Optional[int] = None,
) -> Dict[str, Any]: ...
def _finite_n(
    model: Model,
    agents: List[int],
    seeds: int,
    steps: int,
    burn_in: int,
    policy: str,
    engine: str,
    seed: int,
    bootstrap: int,
    confidence: float,
    overrides: List[str] = ...,
    threads: Optional[int] = None,
) -> Dict[str, Any]: ...
def _sweep(
    path: str,
    out: str,
    grid: List[str] = ...,
    seeds: int = 1,
    command: str = "learn",
    start: Optional[str] = None,
    overrides: List[str] = ...,
    jobs: int = 0,
    threads: Optional[int] = None,
    shard: Optional[Tuple[int, int]] = None,
    collect: bool = False,
) -> Dict[str, Any]: ...
def _exploitability(model: Model, policy: ArrayLike, z: List[float]) -> Tuple[float, float]: ...
def _kernel_tables(model: Model, z: List[float]) -> Tuple[np.ndarray, np.ndarray]: ...
