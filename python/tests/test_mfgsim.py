"""The Python package against the library and the CLI: every entry point, errors as
exceptions, determinism, KeyboardInterrupt."""

from __future__ import annotations

import _thread
import json
import signal
import subprocess
import threading
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

import mfgsim

from conftest import ROOT, gig_callbacks

TIMING_COLUMNS = {"step_seconds", "learn_seconds", "eval_seconds"}


# --- Scenario -------------------------------------------------------------------------

def test_scenario_from_file_and_overrides(gig):
    assert (gig.name, gig.num_states, gig.num_actions) == ("gig", 10, 4)
    assert (gig.gamma, gig.epsilon) == (0.9, 0.1)
    sc = mfgsim.Scenario.from_file(str(ROOT / "scenarios/gig.toml"),
                                   overrides={"model.gamma": 0.95, "sim.seed": 7})
    assert sc.gamma == 0.95
    assert "seed = 7" in sc.text
    # The list form is the CLI's --set.
    sc2 = mfgsim.Scenario.from_file(str(ROOT / "scenarios/gig.toml"),
                                    overrides=["model.gamma=0.95"])
    assert sc2.gamma == 0.95
    assert gig.with_overrides({"model.epsilon": 0.2}).epsilon == 0.2


def test_scenario_from_toml_and_errors():
    sc = mfgsim.Scenario.from_toml('[model]\nkind = "infection"\n')
    assert (sc.num_states, sc.num_actions, sc.model_kind) == (25, 5, "infection")
    sc = mfgsim.Scenario.from_toml('[model]\nkind = "adoption"\n')
    assert (sc.num_states, sc.num_actions, sc.model_kind) == (6, 2, "adoption")
    with pytest.raises(ValueError, match=r"<string>: `model.beta`: unknown key"):
        mfgsim.Scenario.from_toml('[model]\nkind = "gig"\nbeta = 1\n')
    with pytest.raises(ValueError, match=r"`model.entry_pmf`.*must sum to 1"):
        mfgsim.Scenario.from_toml('[model]\nkind = "gig"\nnum_states = 2\nentry_pmf = [0.5, 0.4]\n')
    with pytest.raises(ValueError, match=r"gamma"):
        mfgsim.Scenario.from_toml('[model]\nkind = "gig"\n', overrides={"model.gamma": 2.0})
    with pytest.raises(OSError, match="no_such.toml"):
        mfgsim.Scenario.from_file("no_such.toml")
    with pytest.raises(ValueError, match=r"--set"):
        mfgsim.Scenario.from_toml('[model]\nkind = "gig"\n', overrides=["model..x=1"])


# --- solve, check, exploitability -----------------------------------------------------

def test_solve(gig):
    sol = mfgsim.solve(gig)
    assert sol.converged and sol.start_label == "uniform"
    assert sol.z.shape == (10,) and abs(sol.z.sum() - 1) < 1e-12
    assert sol.q.shape == sol.mu.shape == (10, 4)
    np.testing.assert_allclose(sol.mu.sum(axis=1), 1.0, atol=1e-12)
    assert (sol.greedy == sol.mu.argmax(axis=1)).all()
    assert sol.trajectory.shape == (sol.iterations, 10)
    np.testing.assert_array_equal(sol.trajectory[-1], sol.z)
    assert sol.delta_l1[-1] < 1e-11
    assert abs(sol.exploitability) < 1e-8
    # A given start, and the extremal pair.
    given = mfgsim.solve(gig, start=np.full(10, 0.1))
    assert given.start_label == "given"
    np.testing.assert_allclose(given.z, sol.z, atol=1e-9)
    least, greatest = mfgsim.solve(gig, start="extremal")
    assert (least.start_label, greatest.start_label) == ("lowest", "highest")
    # Least ⪯ greatest in the stochastic order: CDFs of the least lie above.
    assert (np.cumsum(least.z) >= np.cumsum(greatest.z) - 1e-9).all()
    with pytest.raises(ValueError, match="start"):
        mfgsim.solve(gig, start="sideways")


def test_solve_algorithms_where_tbr_cycles(infection):
    # c_f = 0.45: T-BR cycles (not an equilibrium); fictitious play finds a mixed one.
    ov = {"model.infection_constant": 0.45}
    tbr = mfgsim.solve(infection, overrides=ov)
    assert not tbr.converged and tbr.algo == "tbr"
    assert tbr.exploitability_at == "stationary_mean_field"
    assert tbr.stationary_z is not None and tbr.consistency_l1 > 0.1
    assert tbr.exploitability > 1e-4
    fp = mfgsim.solve(infection, overrides=ov, algo="fp")
    assert fp.converged and fp.algo == "fp" and fp.mixed
    assert fp.exploitability <= 1e-6 and fp.consistency_l1 <= 1e-6
    assert fp.exploitability_at == "returned_mean_field" and fp.stationary_z is None
    assert fp.exploitability_trace.shape == (fp.iterations,)
    assert fp.exploitability_trace[-1] <= 1e-6
    assert np.isnan(tbr.exploitability_trace).all()
    with pytest.raises(ValueError, match="solver.algo"):
        mfgsim.solve(infection, algo="newton")


def test_equilibria(infection):
    # Cheaper than the defaults: fp to 1e-7 and at most 1000 iterations per run.
    c = mfgsim.equilibria(infection, random_starts=1, fp_target=1e-7, cluster_tol=1e-3,
                          overrides={"model.infection_constant": 0.8,
                                     "solver.max_iterations": 1000}, threads=2)
    ms = [e["mean_state"] for e in c["equilibria"]]
    assert len(ms) >= 2 and ms[0] < 5 < 15 < ms[-1], ms
    assert all(e["kind"] == "tmfe" for e in c["equilibria"])
    assert c["starts"] == 3 + 23 + 1


def test_solve_matches_cli(gig, cli, tmp_path):
    subprocess.run([cli, "solve", str(ROOT / "scenarios/gig.toml"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    summary = json.loads((tmp_path / "summary.json").read_text())
    sol = mfgsim.solve(gig)
    assert sol.z.tolist() == summary["z"]
    assert sol.iterations == summary["iterations"]


def test_check(gig, infection):
    conds = mfgsim.check(gig)
    assert len(conds) >= 5
    for c in conds:
        assert c.verdict in ("holds", "violated")
        assert c.tested > 0
        assert (c.witness is None) == c.holds
        assert (c.worst_violation == 0) == c.holds
    # The same seed gives the same report.
    assert [(c.id, c.worst_violation) for c in mfgsim.check(gig)] == \
        [(c.id, c.worst_violation) for c in conds]
    with pytest.raises(ValueError, match="tol"):
        mfgsim.check(infection, tol=-1.0)


def test_exploitability(gig):
    sol = mfgsim.solve(gig)
    e_max, e_w = mfgsim.exploitability(gig, sol.mu, sol.z)
    assert abs(e_max) < 1e-8 and abs(e_w) < 1e-8
    u_max, u_w = mfgsim.exploitability(gig, np.full((10, 4), 0.25), sol.z)
    assert u_max > 0.1 and 0 < u_w <= u_max
    with pytest.raises(ValueError, match=r"policy has shape"):
        mfgsim.exploitability(gig, np.full((10, 3), 1 / 3), sol.z)
    with pytest.raises(ValueError, match=r"policy\[0, :\] sums to"):
        mfgsim.exploitability(gig, np.full((10, 4), 0.2), sol.z)
    with pytest.raises(ValueError, match=r"`z`"):
        mfgsim.exploitability(gig, sol.mu, np.full(10, 0.2))


def test_kernel_tables(gig):
    r, P = mfgsim.kernel_tables(gig, np.full(10, 0.1))
    assert r.shape == (10, 4) and P.shape == (10, 4, 10)
    np.testing.assert_allclose(P.sum(axis=2), 1.0, atol=1e-12)


# --- CustomModel ----------------------------------------------------------------------

def test_custom_gig_solves_to_the_builtin_tmfe(gig, gig_custom):
    builtin = mfgsim.solve(gig)
    custom = mfgsim.solve(gig_custom)
    assert custom.converged
    diff = np.abs(custom.z - builtin.z).max()
    assert diff <= 1e-12, diff
    assert (custom.greedy == builtin.greedy).all()
    # The tables themselves agree to rounding.
    z = builtin.z
    rb, Pb = mfgsim.kernel_tables(gig, z)
    rc, Pc = mfgsim.kernel_tables(gig_custom, z)
    np.testing.assert_allclose(rc, rb, rtol=0, atol=1e-15)
    np.testing.assert_allclose(Pc, Pb, rtol=0, atol=1e-15)


def test_custom_model_everywhere(gig, gig_custom):
    sol = mfgsim.solve(gig)
    conds = mfgsim.check(gig_custom, random_pairs=20)
    assert [c.id for c in conds] == [c.id for c in mfgsim.check(gig, random_pairs=20)]
    # Agent engine: the callbacks run once per step (plus the exact evaluation's tables).
    before = gig_custom.calls
    res = mfgsim.learn(gig_custom, agents=20_000, iterations=10, seed=1)
    assert res.summary["iterations"] == 10 and res.summary["agents"] == 20_000
    # T-BR's z* solve, the quick census's T-BR solves from the lowest and highest mean fields
    # (about 100 iterations each) and the per-step fills.
    assert gig_custom.calls - before <= 4 * 10 + 400
    assert res.snapshots.num_rows == 10
    fn = mfgsim.finite_n(gig_custom, agents=[100, 1000], seeds=2, steps=5, burn_in=2,
                         bootstrap=50)
    assert fn.runs.num_rows == 4
    np.testing.assert_allclose(fn.summary["tmfe_z"], sol.z, atol=1e-12)
    pop = mfgsim.Population(gig_custom, 5000, seed=2)
    z1 = pop.step(sol.mu)
    assert abs(z1.sum() - 1) < 1e-12
    # Every algorithm and both engines take it.
    for kw in [dict(engine="counts", agents=10**9, iterations=3),
               dict(algo="tmfq", iterations=2, sim_agents=10**4, max_sim_transitions=10**5,
                    mf_agents=10**4),
               dict(algo="gmbl", iterations=2, gen_samples=1000),
               dict(algo="mfq", agents=1000, iterations=2)]:
        s = mfgsim.learn(gig_custom, **kw).summary
        assert s["iterations"] == kw["iterations"] and s["algo"] == kw.get("algo", "online")
    fn = mfgsim.finite_n(gig_custom, agents=[10**3, 10**6], engine="counts", seeds=2, steps=5,
                         burn_in=2, bootstrap=20, policy="learned")
    assert fn.summary["runs_completed"] == 4
    # With the built-in gig's numbers (tables equal to ~1e-16), the same seed gives the
    # built-in model's run (identical here; the bound allows a few agents' draws to differ
    # should rounding move an alias-table boundary).
    a = mfgsim.learn(gig, agents=10**5, iterations=10, seed=3)
    b = mfgsim.learn(gig_custom, agents=10**5, iterations=10, seed=3)
    assert np.abs(np.asarray(a.summary["z"]) - np.asarray(b.summary["z"])).sum() <= 1e-4


def _const_model(reward=None, transition=None, S=2, A=2):
    def r(z):
        return np.zeros((S, A))

    def p(z):
        P = np.zeros((S, A, S))
        P[:, :, 0] = 1.0
        return P

    return mfgsim.CustomModel(S, A, reward or r, transition or p)


def test_custom_model_validation():
    with pytest.raises(ValueError, match=r"returned shape \[2, 3\], expected \[2, 2\]"):
        mfgsim.solve(_const_model(reward=lambda z: np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"non-finite value NaN at \(s=1, a=0\)"):
        mfgsim.solve(_const_model(reward=lambda z: np.array([[0.0, 0.0], [np.nan, 0.0]])))
    bad_sum = np.full((2, 2, 2), 0.4)
    with pytest.raises(ValueError, match=r"transition\(z\)\[0, 0, :\] sums to 0.8"):
        mfgsim.solve(_const_model(transition=lambda z: bad_sum))
    neg = np.zeros((2, 2, 2))
    neg[:, :, 0] = 1.5
    neg[:, :, 1] = -0.5
    with pytest.raises(ValueError, match=r"\[0, 0, 1\] = -0.5.*non-negative"):
        mfgsim.solve(_const_model(transition=lambda z: neg))
    with pytest.raises(ValueError, match="not return an array of numbers"):
        mfgsim.solve(_const_model(reward=lambda z: "nope"))
    with pytest.raises(ValueError, match="callable"):
        mfgsim.CustomModel(2, 2, 3, 4)
    with pytest.raises(ValueError, match="gamma"):
        mfgsim.CustomModel(2, 2, lambda z: 0, lambda z: 0, gamma=1.0)
    with pytest.raises(ValueError, match=r"`sim.agnets`: unknown key"):
        mfgsim.CustomModel(2, 2, lambda z: 0, lambda z: 0, overrides={"sim.agnets": 3})


def test_callback_exceptions_surface(gig):
    reward, transition, entry = gig_callbacks()
    calls = {"n": 0}

    def flaky(z):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("boom in transition")
        return transition(z)

    m = mfgsim.CustomModel(10, 4, reward, flaky, regen_prob=0.02, regen_pmf=entry)
    with pytest.raises(RuntimeError, match="boom in transition"):
        mfgsim.solve(m)
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="boom in transition"):
        mfgsim.learn(m, agents=1000, iterations=50)
    # A failing step changes nothing and the population stays usable.
    calls["n"] = -10**9
    pop = mfgsim.Population(m, 2000, seed=3)
    sol = mfgsim.solve(gig)
    pop.step(sol.mu)
    before = pop.states.copy()
    counts = pop.counts.copy()
    calls["n"] = 10**9
    with pytest.raises(RuntimeError, match="boom"):
        pop.step(sol.mu)
    np.testing.assert_array_equal(pop.states, before)
    np.testing.assert_array_equal(pop.counts, counts)
    assert pop.steps == 1
    calls["n"] = -10**9
    pop.step(sol.mu)
    assert pop.steps == 2


# --- learn ----------------------------------------------------------------------------

def _comparable(table):
    return {c: table.column(c).to_pylist() for c in table.column_names if c not in TIMING_COLUMNS}


def test_learn_matches_cli(cli, tmp_path):
    path = str(ROOT / "scenarios/gig.toml")
    subprocess.run([cli, "learn", path, "--agents", "20000", "--iterations", "15", "--seed", "5",
                    "--quiet", "--out", str(tmp_path)], check=True, capture_output=True)
    cli_rows = pq.read_table(tmp_path / "snapshots.parquet")
    cli_summary = json.loads((tmp_path / "summary.json").read_text())
    res = mfgsim.learn(mfgsim.Scenario.from_file(path), agents=20000, iterations=15, seed=5)
    assert res.snapshots.column_names == cli_rows.column_names
    assert res.snapshots.schema.equals(cli_rows.schema.remove_metadata())
    assert _comparable(res.snapshots) == _comparable(cli_rows)
    for key in ("z", "greedy_action", "l1_to_tmfe", "w1_to_tmfe", "consistency",
                "exploitability", "ledger", "tmfe",
                "iterations", "algo", "learner", "agents", "engine"):
        assert res.summary[key] == cli_summary[key], key


def test_learn_algorithms_and_determinism(gig, infection):
    a = mfgsim.learn(gig, agents=30_000, iterations=8, seed=11, threads=1)
    b = mfgsim.learn(gig, agents=30_000, iterations=8, seed=11, threads=2)
    assert _comparable(a.snapshots) == _comparable(b.snapshots)
    np.testing.assert_array_equal(a.policy, b.policy)
    c = mfgsim.learn(gig, agents=30_000, iterations=8, seed=12)
    assert _comparable(a.snapshots) != _comparable(c.snapshots)
    assert a.policy.shape == (10, 4) and a.q.shape == (10, 4) and a.z.shape == (10,)
    g = mfgsim.learn(infection, algo="gmbl", iterations=3, gen_samples=1000)
    assert g.summary["algo"] == "gmbl" and g.summary["agents"] is None
    assert g.summary["ledger"]["generative_samples"] == 3 * 1000 * 25 * 5
    s = mfgsim.learn(gig, agents=5000, iterations=3, rule="sampled", budget=4096)
    assert s.summary["learner"]["rule"] == "sampled"
    cnt = mfgsim.learn(infection, engine="counts", agents=10**9, iterations=3)
    assert cnt.summary["engine"] == "counts" and cnt.summary["agents"] == 10**9
    iql = mfgsim.learn(gig, algo="iql", agents=2000, iterations=3)
    assert iql.q is None
    with pytest.raises(ValueError, match=r"`learner.rule`"):
        mfgsim.learn(gig, rule="magic", iterations=1, agents=10)
    with pytest.raises(ValueError, match=r"count engine"):
        mfgsim.learn(gig, algo="iql", engine="counts", iterations=1, agents=10)


def test_learn_reports_consistency_and_w1_beside_l1(gig):
    res = mfgsim.learn(gig, agents=20_000, iterations=5, seed=2)
    rows = res.snapshots
    l1, w1, cons = (np.asarray(rows[c]) for c in ("l1_to_tmfe", "w1_to_tmfe", "consistency"))
    assert len(w1) == 5 and np.isfinite(l1).all() and np.isfinite(w1).all()
    assert np.isfinite(cons).all() and (cons >= 0).all()
    # Wasserstein-1 on the 10 ordered states: between L1/2 and 9·L1/2.
    assert (w1 >= l1 / 2 - 1e-12).all() and (w1 <= 9 * l1 / 2 + 1e-12).all()
    assert res.summary["consistency"] == cons[-1]
    assert res.summary["w1_to_tmfe"] == w1[-1]


def test_learn_without_pyarrow_gives_numpy(gig, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    res = mfgsim.learn(gig, agents=2000, iterations=4)
    assert isinstance(res.snapshots, dict)
    assert res.snapshots["iteration"].tolist() == [1, 2, 3, 4]
    assert res.snapshots["z_0"].dtype == np.float64
    assert np.isnan(res.snapshots["agent_exploitability"]).all()


def test_finite_n(gig):
    fn = mfgsim.finite_n(gig, agents=[100, 1000, 10000], seeds=3, steps=20, burn_in=5,
                         bootstrap=100)
    assert fn.runs.num_rows == 9
    assert fn.summary["runs_completed"] == 9 and fn.summary["fit"] is not None
    assert fn.steps.num_rows == 9 * 20
    again = mfgsim.finite_n(gig, agents=[100, 1000, 10000], seeds=3, steps=20, burn_in=5,
                            bootstrap=100)
    assert fn.runs.column("mean_l1").to_pylist() == again.runs.column("mean_l1").to_pylist()
    with pytest.raises(ValueError, match="engine"):
        mfgsim.finite_n(gig, engine="gpu")


def test_sweep_shards_then_merge_equals_one_sweep(tmp_path):
    import pyarrow.parquet as pq
    args = dict(grid=["learner.algo=online,gmbl"], seeds=2,
                overrides={"sim.agents": 2000, "sim.iterations": 10})
    path = str(ROOT / "scenarios/gig.toml")
    whole = mfgsim.sweep(path, str(tmp_path / "whole"), **args)
    assert (whole["total"], whole["ran"], whole["wrote_table"]) == (4, 4, True)
    shared = str(tmp_path / "shared")
    for i in range(2):
        o = mfgsim.sweep(path, shared, shard=(i, 2), **args)
        assert (o["total"], o["ran"], o["wrote_table"]) == (2, 2, False)
    merged = mfgsim.sweep(path, shared, **args)
    assert (merged["ran"], merged["skipped"], merged["wrote_table"]) == (0, 4, True)
    a = pq.read_table(whole["table"]).drop(["seconds"])
    b = pq.read_table(merged["table"]).drop(["seconds"])
    assert a.equals(b)
    with pytest.raises(ValueError, match="--shard"):
        mfgsim.sweep(path, shared, shard=(2, 2), **args)


def test_sweep_nash_gap(tmp_path):
    import pyarrow.parquet as pq
    path = str(ROOT / "scenarios/gig.toml")
    o = mfgsim.sweep(path, str(tmp_path / "ng"), grid=["model.epsilon=0.1,0.2"],
                     command="nash-gap", agents=[10, 100], policy="uniform", replications=4,
                     overrides={"sim.seed": 3})
    assert (o["total"], o["ran"], o["wrote_table"]) == (2, 2, True)
    t = pq.read_table(o["table"])
    for c in ["gap_n10", "gap_n100", "gap_se_n100", "mean_field_exploitability", "rate"]:
        assert c in t.column_names, c
    # The uniform strategy is no equilibrium: a deviation gains at every N.
    assert min(t.column("gap_n100").to_pylist()) > 0.1
    with pytest.raises(ValueError, match="nash-gap"):
        mfgsim.sweep(path, str(tmp_path / "x"), command="learn", policy="uniform")
    with pytest.raises(ValueError, match="agents"):
        mfgsim.sweep(path, str(tmp_path / "y"), command="nash-gap", agents=[1])


# --- Population -----------------------------------------------------------------------

def test_population(gig):
    sol = mfgsim.solve(gig)
    pop = mfgsim.Population(gig, 100_000, seed=4)
    assert len(pop) == 100_000 and pop.steps == 0
    st = pop.states
    assert st.dtype == np.uint8 and st.shape == (100_000,)
    np.testing.assert_array_equal(np.bincount(st, minlength=10), pop.counts)
    with pytest.raises(ValueError, match="before the first step"):
        pop.transitions()
    before = st.copy()
    z = pop.step(sol.mu)
    assert pop.steps == 1
    np.testing.assert_array_equal(z, pop.mean_field)
    np.testing.assert_allclose(z, pop.counts / 100_000)
    s, a, s2, regen = pop.transitions(regenerated=True)
    np.testing.assert_array_equal(s, before)
    np.testing.assert_array_equal(s2, pop.states)
    assert a.max() < 4 and 0.01 < regen.mean() < 0.03  # ζ = 0.02
    # Issue 20: a copy; a kept array is never rewritten by later steps.
    assert not np.shares_memory(pop.states, pop.states)
    kept = pop.states
    kept_before = kept.copy()
    pop.step(sol.mu)
    np.testing.assert_array_equal(kept, kept_before)
    assert not np.array_equal(pop.states, kept)
    # Same seed, same strategies: the same agents.
    twin = mfgsim.Population(gig, 100_000, seed=4)
    twin.step(sol.mu)
    twin.step(sol.mu)
    np.testing.assert_array_equal(twin.states, pop.states)
    for _ in range(50):
        z = pop.step(sol.mu)
    assert np.abs(z - sol.z).sum() < 0.05
    pop.reset(seed=4)
    np.testing.assert_array_equal(pop.states, before)
    with pytest.raises(ValueError, match="policy has shape"):
        pop.step(np.ones((3, 3)))


def test_population_u16_states():
    S = 300
    m = _const_model(S=S, A=1,
                     reward=lambda z: np.zeros((S, 1)),
                     transition=lambda z: np.tile(np.eye(S)[np.r_[1:S, 0]][:, None, :], (1, 1, 1)))
    pop = mfgsim.Population(m, 1000)
    assert pop.states.dtype == np.uint16
    before = pop.states.astype(int)
    pop.step(np.ones((S, 1)))
    np.testing.assert_array_equal(pop.states, (before + 1) % S)


# --- Ctrl-C ---------------------------------------------------------------------------

@pytest.fixture
def sigint_raises():
    """Python's own SIGINT handler, even when the suite was started with SIGINT ignored (a
    background job of a non-interactive shell), where `interrupt_main` would do nothing."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_keyboard_interrupt_is_prompt_and_leaves_objects_usable(gig, sigint_raises):
    pop = mfgsim.Population(gig, 10_000, seed=0)
    sol = mfgsim.solve(gig)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    t0 = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        mfgsim.learn(gig, agents=100_000, iterations=10**5)
    elapsed = time.monotonic() - t0
    timer.join()
    assert elapsed < 0.5 + 1.0, elapsed
    pop.step(sol.mu)
    assert mfgsim.learn(gig, agents=1000, iterations=2).summary["iterations"] == 2


# --- Gymnasium ------------------------------------------------------------------------

def test_fixed_mean_field_env(gig):
    gym = pytest.importorskip("gymnasium")
    from gymnasium.utils.env_checker import check_env

    sol = mfgsim.solve(gig)
    env = mfgsim.FixedMeanFieldEnv(gig, sol.z, max_episode_steps=50)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert 0 <= obs < 10 and np.allclose(info["z"], sol.z)
    out = env.step(2)
    assert len(out) == 5
    r_table, P = mfgsim.kernel_tables(gig, sol.z)
    # Empirical next-state law from one (s, a) against the kernel (no tremble).
    env = mfgsim.FixedMeanFieldEnv(gig, sol.z, max_episode_steps=50, tremble=False)
    env.reset(seed=1)
    hits = np.zeros(10)
    n = 20_000
    for _ in range(n):
        env._state = 5
        s2, r, term, trunc, _ = env.step(1)
        assert r == r_table[5, 1] and not term
        hits[s2] += 1
    assert np.abs(hits / n - P[5, 1]).max() < 0.02
    # Truncation after max_episode_steps.
    env.reset(seed=2)
    for t in range(50):
        *_, trunc, _ = env.step(0)
    assert trunc
    assert isinstance(env, gym.Env)


def test_keyboard_interrupt_stops_a_slow_custom_model_solve(gig, sigint_raises):
    reward, transition, entry = gig_callbacks()

    def slow(z):
        time.sleep(0.01)
        return transition(z)

    m = mfgsim.CustomModel(10, 4, reward, slow, regen_prob=0.02, regen_pmf=entry)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    t0 = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        mfgsim.solve(m)  # about 100 mean fields: > 1 s of callbacks without the interrupt
    timer.join()
    assert time.monotonic() - t0 < 0.2 + 0.5
    # The model is usable again and gives the built-in T-MFE.
    np.testing.assert_allclose(mfgsim.solve(m).z, mfgsim.solve(gig).z, rtol=0, atol=1e-12)


def test_fixed_mean_field_env_trembles_like_the_game(gig):
    """Issue 20: without the tremble, a best response "beat" the T-MFE (exploitability
    -0.154). The action carried out is the chosen one with probability 1 - eps."""
    pytest.importorskip("gymnasium")
    sol = mfgsim.solve(gig)
    env = mfgsim.FixedMeanFieldEnv(gig, sol.z)
    assert env.epsilon == gig.epsilon == 0.1
    r_table, P = mfgsim.kernel_tables(gig, sol.z)
    env.reset(seed=1)
    n, executed, hits = 20_000, np.zeros(4), np.zeros(10)
    for _ in range(n):
        env._state = 5
        s2, r, _, _, info = env.step(1)
        a = info["executed_action"]
        assert r == r_table[5, a]
        executed[a] += 1
        hits[s2] += 1
    # 1 - eps on the chosen action, eps/3 on each other (4 sd of a binomial).
    want = np.array([0.1 / 3, 0.9, 0.1 / 3, 0.1 / 3])
    assert np.abs(executed / n - want).max() < 4 * np.sqrt(0.9 * 0.1 / n), executed / n
    np.testing.assert_allclose(hits / n, want @ P[5], atol=0.02)


# --- Issue 20: the Python API under threads and hostile arguments ------------------------

def test_states_while_another_thread_steps_never_panics(gig):
    sol = mfgsim.solve(gig)
    pop = mfgsim.Population(gig, 2_000_000, seed=1)
    done = threading.Event()
    errors = []

    def stepper():
        try:
            for _ in range(10):
                pop.step(sol.mu)
        except BaseException as e:  # noqa: BLE001 - recorded for the assertion
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=stepper)
    t.start()
    reads = 0
    while not done.is_set():
        try:
            st = pop.states
            assert st.shape == (2_000_000,)
            reads += 1
        except RuntimeError:
            pass  # busy: a step is running
    t.join()
    assert not errors, errors
    assert pop.steps == 10


def test_arguments_are_bounded_as_on_the_command_line(gig):
    with pytest.raises(ValueError, match="bootstrap"):
        mfgsim.finite_n(gig, agents=[100], seeds=2, steps=5, burn_in=1, bootstrap=10**12)
    # A million threads is capped at the cores (it never returned).
    res = mfgsim.learn(gig, agents=1000, iterations=2, threads=10**6)
    assert res.summary["iterations"] == 2


def test_one_custom_model_in_two_threads_keeps_each_runs_error(gig):
    reward, transition, entry = gig_callbacks()

    def picky(z):
        if z[0] > 0.99:  # only the failing run's start reaches it
            raise RuntimeError("boom at the point mass")
        time.sleep(0.001)
        return transition(z)

    m = mfgsim.CustomModel(10, 4, reward, picky, regen_prob=0.02, regen_pmf=entry,
                           overrides={"solver.tol": 1e-11, "solver.tq_tol": 1e-12})
    want = mfgsim.solve(gig).z
    point = np.zeros(10)
    point[0] = 1.0
    for _ in range(3):
        good = {}

        def run_good():
            try:
                good["z"] = mfgsim.solve(m).z
            except BaseException as e:  # noqa: BLE001
                good["error"] = e

        t = threading.Thread(target=run_good)
        t.start()
        with pytest.raises(RuntimeError, match="boom at the point mass"):
            mfgsim.solve(m, start=point)
        t.join()
        assert "error" not in good, good
        np.testing.assert_allclose(good["z"], want, rtol=0, atol=1e-12)


def test_kernel_rows_within_the_tolerance_are_renormalised(gig):
    """Issue 20: rows off by 5e-10 (within the documented 1e-9) kept T-BR from converging."""
    reward, transition, entry = gig_callbacks()
    m = mfgsim.CustomModel(10, 4, reward, lambda z: transition(z) * (1 + 5e-10),
                           regen_prob=0.02, regen_pmf=entry,
                           overrides={"solver.tol": 1e-11, "solver.tq_tol": 1e-12})
    sol = mfgsim.solve(m)
    assert sol.converged
    np.testing.assert_allclose(sol.z, mfgsim.solve(gig).z, rtol=0, atol=1e-9)
    _, P = mfgsim.kernel_tables(m, sol.z)
    np.testing.assert_allclose(P.sum(axis=2), 1.0, rtol=0, atol=1e-12)


def test_the_readme_python_snippet_runs(monkeypatch):
    """Issue 20: the README's snippet did not run (``def reward(z): ...``)."""
    pytest.importorskip("gymnasium")
    text = (ROOT / "README.md").read_text()
    python = text[text.index("## Python"):]
    block = python[python.index("```python\n") + len("```python\n"):]
    block = block[:block.index("```")]
    monkeypatch.chdir(ROOT)
    exec(compile(block, "README.md (## Python)", "exec"), {})


def test_nash_gap(gig):
    ng = mfgsim.nash_gap(gig, policy="uniform",
                         agents=[10, 10**6], replications=8, search_replications=4,
                         tolerance=1e-2, bootstrap=50, threads=1)
    s = ng.summary
    assert s["command"] == "nash-gap"
    assert len(s["per_n"]) == 2
    assert s["mean_field"]["max"] > 0
    assert len(ng.states["gap"]) == 2 * 10
    again = mfgsim.nash_gap(gig, policy="uniform", agents=[10, 10**6], replications=8,
                            search_replications=4, tolerance=1e-2, bootstrap=50, threads=2)
    # Bitwise the same numbers on 1 and 2 threads (wall times aside).
    key = lambda r: [(g["agents"], g["gap"], g["gap_weighted"]) for g in r.summary["per_n"]]
    assert key(again) == key(ng)
