"""mfgsim from Python: mean field games with strategic complementarities.

Every function calls the Rust library's run layer (``mfgsim::run``), the same code as the
``mfgsim`` command-line tool, so a scenario and a seed give the same numbers from both.
Arrays go in and come out as numpy arrays; the GIL is released while Rust works and Ctrl-C
raises ``KeyboardInterrupt`` within about 50 ms.

Wherever ``model`` appears it may be a :class:`Scenario` (a TOML scenario, as the CLI reads)
or a :class:`CustomModel` (reward and kernel written in Python).

Quick start::

    import mfgsim
    sc = mfgsim.Scenario.from_file("scenarios/gig.toml")
    sol = mfgsim.solve(sc)                      # exact T-MFE: sol.z, sol.mu, sol.q
    res = mfgsim.learn(sc, agents=10**5, iterations=50, seed=0)
    res.snapshots                               # pyarrow.Table (or dict of numpy arrays)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _mfgsim
from ._mfgsim import CustomModel, Population, Scenario, __version__

__all__ = [
    "Scenario",
    "CustomModel",
    "Population",
    "Solution",
    "Condition",
    "LearnResult",
    "FiniteNResult",
    "solve",
    "equilibria",
    "check",
    "learn",
    "finite_n",
    "sweep",
    "nash_gap",
    "NashGapResult",
    "exploitability",
    "kernel_tables",
    "FixedMeanFieldEnv",
    "__version__",
]

Model = Union[Scenario, CustomModel]


def _overrides(keys: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    return dict(keys) if keys else {}


def _as_override_list(d: Mapping[str, Any]) -> List[str]:
    """Dotted keys to ``key=value`` strings (TOML values), as ``--set`` takes them."""
    out = []
    for k, v in d.items():
        out.append(f"{k}={_toml(v)}")
    return out


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if f != f:
            return "nan"
        if f in (float("inf"), float("-inf")):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as a scenario value")


@dataclass
class Solution:
    """One exact solver run: T-BR (Algorithm 1), damped T-BR, fictitious play or mirror descent.

    Attributes:
        z: the mean field z (length S) the solver returned.
        q: Q*_z, the TQ-values at z (S×A).
        mu: the strategy (S×A, rows sum to 1): π^ε(Q*_z) for tbr/damped, a mixture of
            trembling-hand strategies for fp/omd (see ``mixed``).
        greedy: the greedy (most played) action per state (length S).
        trajectory: z_k after each iteration, one row per iteration (K×S).
        delta_l1: ‖z_k − z_{k−1}‖₁ per iteration (length K).
        consistency_trace: ‖Φ(z, μ) − z‖₁ of each iteration's pair (length K).
        exploitability_trace: fp/omd: exploitability of each iterate (NaN for tbr/damped).
        algo: "tbr", "damped", "fp" or "omd".
        mixed: whether μ is a mixture outside Π^ε.
        converged: whether the solver met its tolerance. When False, the run is NOT an
            equilibrium and ``exploitability`` is measured at μ's own stationary mean field
            (``stationary_z``), not at ``z``.
        iterations: K, the iterations run.
        exploitability: max_s V*(s) − V_μ(s) at ``exploitability_at``.
        exploitability_weighted: the same, weighted by that mean field.
        exploitability_at: "returned_mean_field", "stationary_mean_field" or "unavailable".
        stationary_z: μ's own stationary mean field (runs that did not converge), else None.
        consistency_l1: ‖Φ(z, μ) − z‖₁.
        termination: why the solver stopped, in words.
        start_label: "uniform", "lowest", "highest" or "given".
        seconds: wall seconds of the run.
        summary: the run's keys as in the CLI's summary.json.
    """

    z: np.ndarray
    q: np.ndarray
    mu: np.ndarray
    greedy: np.ndarray
    trajectory: np.ndarray
    delta_l1: np.ndarray
    consistency_trace: np.ndarray
    exploitability_trace: np.ndarray
    algo: str
    mixed: bool
    exploitability_at: str
    stationary_z: Optional[np.ndarray]
    converged: bool
    iterations: int
    exploitability: float
    exploitability_weighted: float
    consistency_l1: float
    termination: str
    start_label: str
    seconds: float
    summary: Dict[str, Any] = field(repr=False)

    @classmethod
    def _from_raw(cls, raw: Dict[str, Any]) -> "Solution":
        s = raw["summary"]
        return cls(
            z=raw["z"],
            q=raw["q"],
            mu=raw["mu"],
            greedy=raw["greedy"],
            trajectory=raw["trajectory"],
            delta_l1=raw["delta_l1"],
            consistency_trace=raw["consistency_trace"],
            exploitability_trace=raw["exploitability_trace"],
            algo=s["algo"],
            mixed=bool(s["mixed"]),
            exploitability_at=s["exploitability_at"],
            stationary_z=None if s["stationary_z"] is None else np.asarray(s["stationary_z"]),
            converged=bool(s["converged"]),
            iterations=int(s["iterations"]),
            exploitability=_num(s["exploitability"]),
            exploitability_weighted=_num(s["exploitability_weighted"]),
            consistency_l1=float(raw["consistency_l1"]),
            termination=s["termination"],
            start_label=s["start_label"],
            seconds=float(raw["seconds"]),
            summary=s,
        )


def _num(v: Optional[float]) -> float:
    return float("nan") if v is None else float(v)


def solve(
    model: Model,
    start: Union[str, Sequence[float]] = "uniform",
    overrides: Optional[Mapping[str, Any]] = None,
    algo: Optional[str] = None,
) -> Union[Solution, Tuple[Solution, Solution]]:
    """An exact equilibrium, through ``mfgsim::run::solve`` (as ``mfgsim solve``).

    Args:
        model: a Scenario or a CustomModel.
        start: "uniform" (default), "lowest", "highest", a distribution over the states, or
            "extremal" for the least and greatest T-MFE (from the lowest and highest starts).
        overrides: scenario keys (e.g. ``{"solver.tol": 1e-12}``).
        algo: "tbr" (T-BR, Algorithm 1), "damped", "fp" (fictitious play: an equilibrium in
            mixtures of trembling-hand strategies where T-BR cycles) or "omd" (mirror
            descent); default: the scenario's ``solver.algo``, else "tbr".

    Returns:
        A Solution, or ``(least, greatest)`` for ``start="extremal"``. Check ``converged``:
        a run that did not converge is an end point, not an equilibrium.
    """
    if not isinstance(start, str):
        start = [float(x) for x in np.asarray(start, dtype=float).ravel()]
    ov = dict(_overrides(overrides))
    if algo is not None:
        ov["solver.algo"] = str(algo)
    _, runs = _mfgsim._solve(model, start, _as_override_list(ov))
    sols = [Solution._from_raw(r) for r in runs]
    if len(sols) == 2:
        return sols[0], sols[1]
    return sols[0]


def equilibria(
    model: Model,
    random_starts: int = 16,
    seed: int = 0,
    cluster_tol: float = 1e-4,
    fp_target: float = 1e-9,
    overrides: Optional[Mapping[str, Any]] = None,
    threads: Optional[int] = None,
) -> Dict[str, Any]:
    """The equilibrium census (as ``mfgsim equilibria``): T-BR and fictitious play from the
    lowest, highest and uniform mean fields, every point mass and ``random_starts`` seeded
    random starts.

    Returns:
        The report as in the CLI's ``summary.json``: ``equilibria`` (each with ``kind``
        "tmfe" or "mixed", ``z``, ``mu``, ``mean_state``, ``exploitability``,
        ``consistency_l1``, ``reached``, ``starts``), ``cycles``, ``attempts``, ``starts``,
        ``not_converged``.
    """
    return _mfgsim._equilibria(
        model,
        int(random_starts),
        int(seed),
        float(cluster_tol),
        float(fp_target),
        _as_override_list(_overrides(overrides)),
        threads,
    )


@dataclass
class Condition:
    """One condition of Definition 1 as the checker found it.

    Attributes:
        id: the condition's identifier (as in ``mfgsim check``).
        description: what it states.
        holds: no inequality failed by more than the tolerance.
        verdict: "holds" or "violated".
        tested: inequalities tested.
        violations: inequalities that failed.
        worst_violation: the largest failure beyond the tolerance (0 when it holds).
        witness: where the worst violation occurred (None when it holds).
    """

    id: str
    description: str
    holds: bool
    tested: int
    violations: int
    worst_violation: float
    witness: Optional[Dict[str, Any]]

    @property
    def verdict(self) -> str:
        return "holds" if self.holds else "violated"


def check(
    model: Model,
    tol: float = 1e-12,
    random_pairs: int = 200,
    seed: int = 0,
    overrides: Optional[Mapping[str, Any]] = None,
) -> List[Condition]:
    """Definition 1's strategic-complementarity conditions, through ``mfgsim::run::check``.

    Tested at point masses, the uniform, the T-MFE and ``random_pairs`` random ordered
    pairs (seeded by ``seed``). Returns one Condition per condition, in the CLI's order.
    """
    rep = _mfgsim._check(model, float(tol), int(random_pairs), int(seed),
                         _as_override_list(_overrides(overrides)))
    out = []
    for c in rep["conditions"]:
        wv = c.get("worst_violation")
        out.append(Condition(
            id=c["id"],
            description=c["description"],
            holds=bool(c["holds"]),
            tested=int(c["tested"]),
            violations=int(c["violations"]),
            worst_violation=float("inf") if wv is None else float(wv),
            witness=c.get("witness"),
        ))
    return out


def _table(columns: Dict[str, np.ndarray], ipc: bytes):
    """A pyarrow.Table when pyarrow is installed (exact types, nulls kept), else the dict."""
    try:
        import pyarrow as pa
        import pyarrow.ipc  # noqa: F401
    except ImportError:
        return columns
    return pa.ipc.open_stream(pa.py_buffer(ipc)).read_all()


@dataclass
class LearnResult:
    """What ``learn`` produced.

    Attributes:
        snapshots: one row per iteration (the columns of the CLI's snapshots.parquet):
            a ``pyarrow.Table`` when pyarrow is installed, else a dict of numpy arrays
            (nulls as NaN). Beside the mean field ``z_0 …`` each row carries the exact
            certificates of the strategy μ_k at the mean field z it faces:
            ``exploitability`` (max_s V*_z(s) − V_{μ_k,z}(s)), ``consistency``
            (‖Φ(z, μ_k) − z‖₁, the McKean–Vlasov update computed exactly), and the
            distances to the exact T-MFE z*: ``l1_to_tmfe`` (‖z − z*‖₁) and ``w1_to_tmfe``
            (Wasserstein-1 on the ordered states, Σ_{t<S−1} |F_z(t) − F_{z*}(t)|).
        summary: the content of the CLI's summary.json (without the binary's own keys
            peak_rss_bytes, bytes_per_agent, close_outputs_seconds); the final iteration's
            certificates under the same names as the snapshot columns.
        policy: the final strategy (S×A).
        q: the final shared Q-table (S×A), or None for per-agent learners.
        z: the final mean field.
    """

    snapshots: Any
    summary: Dict[str, Any]
    policy: np.ndarray
    q: Optional[np.ndarray]
    z: np.ndarray


def learn(
    model: Model,
    algo: str = "online",
    agents: int = 10**6,
    iterations: int = 300,
    seed: int = 0,
    *,
    engine: Optional[str] = None,
    threads: Optional[int] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    **learner_keys: Any,
) -> LearnResult:
    """A learning run, through ``mfgsim::run::learn`` (as ``mfgsim learn``).

    Args:
        model: a Scenario or a CustomModel.
        algo: "online" (Algorithm 3), "tmfq", "gmbl", "iql" or "mfq".
        agents: N, the real agents (online algorithms).
        iterations: K, the learning iterations.
        seed: the seed of every random stream.
        engine: "agents" or "counts" (default: the scenario's ``sim.engine``).
        threads: worker threads (default one per core); results do not depend on it.
        overrides: other scenario keys (e.g. ``{"solver.tol": 1e-12}``).
        **learner_keys: ``[learner]`` keys, e.g. ``rule="sampled"``, ``budget=2**16``.
    """
    keys: Dict[str, Any] = _overrides(overrides)
    keys.update({
        "learner.algo": algo,
        "sim.agents": int(agents),
        "sim.iterations": int(iterations),
        "sim.seed": int(seed),
    })
    if engine is not None:
        keys["sim.engine"] = engine
    for k, v in learner_keys.items():
        keys[f"learner.{k}"] = v
    raw = _mfgsim._learn(model, _as_override_list(keys), threads)
    return LearnResult(
        snapshots=_table(raw["columns"], raw["ipc"]),
        summary=raw["summary"],
        policy=raw["policy"],
        q=raw["q"],
        z=raw["z"],
    )


@dataclass
class FiniteNResult:
    """What ``finite_n`` produced.

    Attributes:
        summary: the content of the CLI's finite-n summary.json (rate fit, per-N summaries).
        runs: one row per (N, seed) run (finite_n.parquet's columns).
        steps: one row per recorded step (finite_n_steps.parquet's columns).
    """

    summary: Dict[str, Any]
    runs: Any
    steps: Any


def finite_n(
    model: Model,
    agents: Sequence[int] = (10**2, 10**3, 10**4, 10**5),
    seeds: int = 10,
    steps: int = 200,
    burn_in: int = 50,
    policy: str = "tmfe",
    engine: str = "agents",
    seed: int = 0,
    bootstrap: int = 2000,
    confidence: float = 0.95,
    *,
    threads: Optional[int] = None,
    overrides: Optional[Mapping[str, Any]] = None,
) -> FiniteNResult:
    """The finite-N study (as ``mfgsim finite-n``), through ``mfgsim::run::finite_n``.

    For each N in ``agents`` and each of ``seeds`` replicates (seed + j), runs ``burn_in``
    then ``steps`` population steps under the T-MFE strategy (``policy="tmfe"``) or online
    TMFQ (``"learned"``) and measures ‖z^N_t − z*‖₁; fits the rate in N.
    """
    raw = _mfgsim._finite_n(
        model, [int(n) for n in agents], int(seeds), int(steps), int(burn_in), policy,
        engine, int(seed), int(bootstrap), float(confidence),
        _as_override_list(_overrides(overrides)), threads,
    )
    return FiniteNResult(
        summary=raw["summary"],
        runs=_table(raw["runs_columns"], raw["runs_ipc"]),
        steps=_table(raw["steps_columns"], raw["steps_ipc"]),
    )


def sweep(
    path: str,
    out: str,
    grid: Sequence[str] = (),
    seeds: int = 1,
    command: str = "learn",
    start: Optional[str] = None,
    *,
    overrides: Optional[Mapping[str, Any]] = None,
    jobs: int = 0,
    threads: Optional[int] = None,
    shard: Optional[Tuple[int, int]] = None,
    collect: bool = False,
    agents: Optional[Sequence[int]] = None,
    policy: Optional[str] = None,
    replications: Optional[int] = None,
) -> Dict[str, Any]:
    """A sweep of the scenario file ``path`` (as ``mfgsim sweep``) into the directory ``out``.

    ``grid`` holds ``"KEY=V1,V2"`` or ``"KEY=LO:HI:COUNT"`` strings (as ``--grid``), ``seeds``
    runs per grid point, ``command`` one of ``"learn"``, ``"solve"``, ``"finite-n"``,
    ``"nash-gap"``; ``agents`` the N of each finite-n or nash-gap study (``--study-agents``),
    ``policy`` and ``replications`` those of nash-gap (``--policy``, ``--replications``). Finished
    runs are skipped, so a stopped sweep resumes. ``shard=(i, n)`` runs only the runs at plan
    positions p with p % n == i and writes no table (a cluster job); the same call without
    ``shard`` afterwards writes ``sweep.parquet`` (running nothing finished); with
    ``collect=True`` the shard waits for the others and writes it. Returns the outcome:
    ``total``, ``ran``, ``skipped``, ``missing``, ``not_converged``, ``wrote_table``,
    ``table`` (the path of ``sweep.parquet``, for pandas / polars / DuckDB), ``seconds`` and
    ``groups`` (mean ± sd over the seeds of each grid point).
    """
    return _mfgsim._sweep(
        str(path), str(out), [str(g) for g in grid], int(seeds), str(command), start,
        _as_override_list(_overrides(overrides)), int(jobs), threads,
        None if shard is None else (int(shard[0]), int(shard[1])), bool(collect),
        None if agents is None else [int(n) for n in agents], policy,
        None if replications is None else int(replications),
    )


@dataclass
class NashGapResult:
    """What ``nash_gap`` produced.

    Attributes:
        summary: the content of the CLI's nash-gap summary.json (per-N gap with bootstrap
            intervals, the rate fit, the mean-field limit, per-state rows).
        states: one row per (N, initial state) (nash_gap.parquet's columns).
    """

    summary: Dict[str, Any]
    states: Any


def nash_gap(
    model: Model,
    policy: str = "tmfe",
    agents: Sequence[int] = (10, 10**2, 10**3, 10**4, 10**5, 10**6),
    replications: int = 256,
    search_replications: int = 64,
    max_rounds: int = 6,
    tolerance: float = 1e-4,
    seed: int = 0,
    bootstrap: int = 2000,
    confidence: float = 0.95,
    *,
    threads: Optional[int] = None,
    overrides: Optional[Mapping[str, Any]] = None,
) -> NashGapResult:
    """The ε-Nash gap (as ``mfgsim nash-gap``), through ``mfgsim::run::nash_gap``.

    N − 1 agents play ``policy`` (``"tmfe"``, ``"learned"``, ``"uniform"`` or a path to an
    ``equilibrium.parquet`` / learn ``summary.json``) from its stationary mean field; one
    tagged agent deviates to its best stationary trembling-hand strategy of its own state.
    Reports per N the gain from every initial state (max and z-weighted) with confidence
    intervals and a fitted rate in N. Deviations that observe the empirical mean field are
    outside the class.
    """
    raw = _mfgsim._nash_gap(
        model, str(policy), [int(n) for n in agents], int(replications),
        int(search_replications), int(max_rounds), float(tolerance), int(seed),
        int(bootstrap), float(confidence), _as_override_list(_overrides(overrides)), threads,
    )
    return NashGapResult(summary=raw["summary"], states=_table(raw["columns"], raw["ipc"]))


def exploitability(model: Model, policy: Any, z: Any) -> Tuple[float, float]:
    """Exact exploitability of any strategy ``policy`` (S×A) at mean field ``z``.

    Returns ``(max, weighted)``: max_s (V*_z(s) − V_{μ,z}(s)) and
    Σ_s z(s)(V*_z(s) − V_{μ,z}(s)), with V*_z from TQ-value iteration to 1e-10.
    """
    z = [float(x) for x in np.asarray(z, dtype=float).ravel()]
    return _mfgsim._exploitability(model, np.asarray(policy, dtype=float), z)


def kernel_tables(model: Model, z: Any) -> Tuple[np.ndarray, np.ndarray]:
    """The model at a fixed mean field z: rewards r(s, a, z) (S×A) and kernel
    P(s' | s, a, z) (S×A×S), as the exact operators and the agent engine read them."""
    z = [float(x) for x in np.asarray(z, dtype=float).ravel()]
    return _mfgsim._kernel_tables(model, z)


def _make_env_class():
    """Builds FixedMeanFieldEnv on first use, so `import mfgsim` does not import gymnasium."""
    try:
        import gymnasium as gym
        from gymnasium import spaces
    except ImportError:

        class FixedMeanFieldEnv:
            """Needs gymnasium: ``pip install gymnasium``."""

            def __init__(self, *args: Any, **kwargs: Any):
                raise ImportError(
                    "mfgsim.FixedMeanFieldEnv needs gymnasium: pip install gymnasium")

        return FixedMeanFieldEnv

    class FixedMeanFieldEnv(gym.Env):
        """One agent against a frozen mean field z, as a Gymnasium environment.

        The rewards and kernel are fetched from Rust once (``kernel_tables(model, z)``);
        stepping is pure numpy. Observation: the agent's state (``Discrete(S)``); action:
        ``Discrete(A)``; reward r(s, a, z); next state s' ~ P(· | s, a, z). Episodes never
        terminate; they are truncated after ``max_episode_steps`` (default 1000; the
        discount γ of the game is ``env.gamma``). ``reset(seed=)`` draws the initial state
        from ``init`` (default z).

        The agent trembles as in the game (``tremble=True``, the default): the action
        carried out is the chosen one with probability 1 − ε and each other action with
        probability ε/(A − 1) (ε is ``env.epsilon``, the model's), so the best response
        learned here is a trembling-hand best response, the one a T-MFE is measured
        against. ``tremble=False`` carries out every action as chosen (an untrembling
        best response can "beat" the T-MFE, which is not a finding). The action carried
        out is ``info["executed_action"]``.

        A best response trained here is evaluated exactly by
        ``mfgsim.exploitability(model, policy, z)``.
        """

        metadata = {"render_modes": []}

        def __init__(self, model: Model, z: Any, max_episode_steps: int = 1000,
                     init: Optional[Any] = None, tremble: bool = True):
            super().__init__()
            self.epsilon = float(model.epsilon) if tremble else 0.0
            self.tremble = bool(tremble)
            self.z = np.asarray(z, dtype=float).copy()
            self.reward_table, self.kernel = kernel_tables(model, self.z)
            self.num_states, self.num_actions = self.reward_table.shape
            self.gamma = float(model.gamma)
            self.init = self.z if init is None else np.asarray(init, dtype=float)
            self.max_episode_steps = int(max_episode_steps)
            self.observation_space = spaces.Discrete(self.num_states)
            self.action_space = spaces.Discrete(self.num_actions)
            self._cdf = np.cumsum(self.kernel, axis=2)
            self._state = 0
            self._t = 0

        def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
            """Starts an episode: s_0 ~ init (default z). Returns (s_0, {"z": z})."""
            super().reset(seed=seed)
            self._state = int(self.np_random.choice(self.num_states, p=self.init))
            self._t = 0
            return self._state, {"z": self.z.copy()}

        def step(self, action):
            """Returns (s', r(s, a, z), False, truncated, {})."""
            a = int(action)
            if not 0 <= a < self.num_actions:
                raise ValueError(f"action {a} is not in 0..{self.num_actions - 1}")
            if self.epsilon > 0.0 and self.num_actions > 1 \
                    and self.np_random.random() < self.epsilon:
                # A tremble: one of the other actions, uniformly.
                other = int(self.np_random.integers(self.num_actions - 1))
                a = other if other < a else other + 1
            s = self._state
            r = float(self.reward_table[s, a])
            u = self.np_random.random()
            s2 = int(np.searchsorted(self._cdf[s, a], u, side="right"))
            self._state = min(s2, self.num_states - 1)
            self._t += 1
            truncated = self._t >= self.max_episode_steps
            return self._state, r, False, truncated, {"executed_action": a}

    FixedMeanFieldEnv.__module__ = __name__
    return FixedMeanFieldEnv


if TYPE_CHECKING:  # for type checkers: the class __getattr__ builds on first use
    import gymnasium

    class FixedMeanFieldEnv(gymnasium.Env):  # noqa: F811
        def __init__(self, model: Model, z: Any, max_episode_steps: int = 1000,
                     init: Optional[Any] = None, tremble: bool = True) -> None: ...


def __getattr__(name: str) -> Any:
    if name == "FixedMeanFieldEnv":
        cls = _make_env_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
