"""Shared fixtures: the repository's scenarios, the CLI binary, and the gig model in Python."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

import mfgsim

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def gig() -> mfgsim.Scenario:
    return mfgsim.Scenario.from_file(str(ROOT / "scenarios" / "gig.toml"))


@pytest.fixture(scope="session")
def infection() -> mfgsim.Scenario:
    return mfgsim.Scenario.from_file(str(ROOT / "scenarios" / "infection.toml"))


@pytest.fixture(scope="session")
def cli() -> str:
    """The `mfgsim` binary: $MFGSIM_BIN, else target/release or target/debug of the clone."""
    env = os.environ.get("MFGSIM_BIN")
    candidates = [env] if env else []
    candidates += [str(ROOT / "target" / p / "mfgsim") for p in ("release", "debug")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    pytest.skip("no mfgsim binary: build it with `cargo build --release` or set MFGSIM_BIN")


def gig_callbacks(num_states=10, num_actions=4, task_rate_floor=0.5, approval_min=0.4,
                  approval_max=0.95, regen_prob=0.02, base_pay=0.5, market_boost=1.0,
                  effort_cost=0.04):
    """The paper's gig-economy model (src/model/gig.rs) written with numpy."""
    S, A = num_states, num_actions
    s = np.arange(S, dtype=float)
    a = np.arange(A, dtype=float)
    q = approval_min + (approval_max - approval_min) * a / (A - 1)
    entry = np.zeros(S)
    entry[0] = 1.0

    def market(z):
        return float(np.dot(s, z)) / (S - 1)

    def reward(z):
        m = market(z)
        return (base_pay * (1.0 + market_boost * m) * ((s[:, None] + 1.0) / S)
                * ((a[None, :] + 1.0) / A) - effort_cost * (a[None, :] ** 2))

    def transition(z):
        lam = task_rate_floor + (1.0 - task_rate_floor) * market(z)
        P = np.zeros((S, A, S))
        P[:, :, :] = regen_prob * entry
        for st in range(S):
            P[st, :, min(st + 1, S - 1)] += (1.0 - regen_prob) * lam * q
            P[st, :, max(st - 1, 0)] += (1.0 - regen_prob) * lam * (1.0 - q)
            P[st, :, st] += (1.0 - regen_prob) * (1.0 - lam)
        return P

    return reward, transition, entry


@pytest.fixture(scope="session")
def gig_custom() -> mfgsim.CustomModel:
    reward, transition, entry = gig_callbacks()
    return mfgsim.CustomModel(
        10, 4, reward, transition, gamma=0.9, epsilon=0.1, regen_prob=0.02,
        regen_pmf=entry, name="gig-py",
        # The same solver settings as scenarios/gig.toml.
        overrides={"solver.tol": 1e-11, "solver.tq_tol": 1e-12},
    )
