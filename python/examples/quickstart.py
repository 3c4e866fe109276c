"""mfgsim from Python in one page: solve, learn, a model of your own, plot.

Run from the repository root after `pip install ./python`:

    python python/examples/quickstart.py            # writes quickstart.png if matplotlib is there
"""

import pathlib

import numpy as np

import mfgsim

ROOT = pathlib.Path(__file__).resolve().parents[2]

# 1. A bundled scenario: the paper's gig economy (10 reputation levels, 4 effort levels).
sc = mfgsim.Scenario.from_file(str(ROOT / "scenarios" / "gig.toml"))
sol = mfgsim.solve(sc)
print(f"T-MFE: {sol.termination} after {sol.iterations} T-BR iterations, "
      f"mean reputation {np.dot(np.arange(sc.num_states), sol.z):.4f}, greedy {sol.greedy}")
least, greatest = mfgsim.solve(sc, start="extremal")
print(f"least and greatest T-MFE differ by {np.abs(least.z - greatest.z).sum():.2e} in L1")
held = [c.id for c in mfgsim.check(sc) if c.holds]
print(f"strategic complementarities: {len(held)} conditions hold")

# 2. Online TMFQ with 10^5 agents: the snapshots are a pyarrow Table (or a dict of arrays).
res = mfgsim.learn(sc, agents=10**5, iterations=60, seed=0)
rows = res.snapshots
l1 = np.asarray(rows["l1_to_tmfe"])
print(f"learned: L1 to the T-MFE {l1[-1]:.4f} (W1 {res.summary['w1_to_tmfe']:.4f}) after "
      f"{len(l1)} iterations, consistency ||Phi(z,mu)-z||_1 {res.summary['consistency']:.2e}, "
      f"{res.summary['agent_steps_per_second'] / 1e6:.0f} M agent-steps/s")

# 3. A model written in Python: technology adoption with a network effect
#    (the same model as examples/custom_model.rs).
L, decay, cost = 5, 0.1, 0.6


def network(z):
    return float(np.dot(np.arange(L), z)) / (L - 1)


def reward(z):
    s = np.arange(L)[:, None]
    a = np.arange(2)[None, :]
    return s * (0.2 + 0.3 * network(z)) - cost * a


def transition(z):
    P = np.zeros((L, 2, L))
    for s in range(L):
        for a in range(2):
            up = 0.3 + 0.6 * network(z) if a == 1 else 0.0
            P[s, a, min(s + 1, L - 1)] += up
            P[s, a, max(s - 1, 0)] += (1 - up) * decay
            P[s, a, s] += (1 - up) * (1 - decay)
    return P


adoption = mfgsim.CustomModel(L, 2, reward, transition, name="adoption")
lo, hi = mfgsim.solve(adoption, start="extremal")
print(f"adoption: mean level {np.dot(np.arange(L), lo.z):.4f} (from lowest) and "
      f"{np.dot(np.arange(L), hi.z):.4f} (from highest)")

# 4. The agent engine, step by step, at the T-MFE strategy.
pop = mfgsim.Population(sc, 10**6, seed=1)
errs = [np.abs(pop.step(sol.mu) - sol.z).sum() for _ in range(100)]
print(f"10^6 agents under mu*: L1 to z* after 100 steps {errs[-1]:.4f}; "
      f"states {pop.states.dtype}, {pop.states.nbytes / 1e6:.0f} MB (a copy)")

# 5. Plot, if matplotlib is installed.
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib not installed: no plot")
else:
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].semilogy(np.asarray(rows["iteration"]), l1, label="online TMFQ, N = 1e5")
    ax[0].semilogy(np.arange(1, len(errs) + 1), errs, label="mu* fixed, N = 1e6")
    ax[0].set_xlabel("iteration")
    ax[0].set_ylabel("L1 to z*")
    ax[0].legend()
    ax[1].bar(np.arange(sc.num_states), sol.z)
    ax[1].set_xlabel("reputation")
    ax[1].set_ylabel("z*(s)")
    fig.tight_layout()
    fig.savefig("quickstart.png", dpi=100)
    print("wrote quickstart.png")
