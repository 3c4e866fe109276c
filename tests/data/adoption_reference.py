#!/usr/bin/env python3
"""Independent reference values for the adoption model (kind = "adoption").

Written from the formulas (the module docs of src/model/adoption.rs, Algorithm 1 of the
paper) and sharing no code with mfgsim, in plain Python (standard library only): the kernel
and reward, TQ-value iteration to a sup-norm change below 1e-13 (ties to the lowest action),
and T-BR z_{k+1} = Phi(z_k, mu_k) until ||z_{k+1} - z_k||_1 < 1e-13, from the lowest and the
highest mean field, at the default invest_cost 0.1 and at 0.3. Prints
adoption_reference.json:

    python3 tests/data/adoption_reference.py > tests/data/adoption_reference.json
"""

import json

DEFAULTS = dict(S=6, A=2, alpha=0.4, beta=0.05, c0=0.45, eta=0.4, theta=0.05, zeta=0.02,
                rho0=0.0, rho1=1.0, kappa=0.1, gamma=0.9, eps=0.1)


def tables(p, z):
    S, A = p["S"], p["A"]
    m = sum(s * x for s, x in enumerate(z)) / (S - 1)
    R, P = [], []
    for s in range(S):
        rr, pp = [], []
        for a in range(A):
            f = a / (A - 1)
            rr.append(s / (S - 1) * (p["rho0"] + p["rho1"] * m) - p["kappa"] * f)
            u = f * (p["alpha"] + p["beta"] * m)
            c = p["c0"] - f * (p["eta"] + p["theta"] * m)
            row = [0.0] * S
            row[0] += p["zeta"]  # a new agent enters at level 0
            row[min(s + 1, S - 1)] += (1 - p["zeta"]) * u
            row[0] += (1 - p["zeta"]) * c
            row[s] += (1 - p["zeta"]) * (1 - u - c)
            pp.append(row)
        R.append(rr)
        P.append(pp)
    return R, P


def greedy(row):
    best = 0
    for a in range(1, len(row)):
        if row[a] > row[best]:
            best = a
    return best


def tbr(p, z):
    S, A, eps, gamma = p["S"], p["A"], p["eps"], p["gamma"]
    q = [[0.0] * A for _ in range(S)]
    iterations = 0
    while True:
        R, P = tables(p, z)
        while True:
            g = []
            for s in range(S):
                b = greedy(q[s])
                g.append((1 - eps) * q[s][b] + eps / (A - 1) * sum(q[s][a] for a in range(A) if a != b))
            new = [[R[s][a] + gamma * sum(P[s][a][t] * g[t] for t in range(S)) for a in range(A)]
                   for s in range(S)]
            change = max(abs(new[s][a] - q[s][a]) for s in range(S) for a in range(A))
            q = new
            if change < 1e-13:
                break
        mu = [[(1 - eps) if a == greedy(q[s]) else eps / (A - 1) for a in range(A)] for s in range(S)]
        nxt = [sum(z[s] * mu[s][a] * P[s][a][t] for s in range(S) for a in range(A)) for t in range(S)]
        iterations += 1
        delta = sum(abs(x - y) for x, y in zip(nxt, z))
        z = nxt
        if delta < 1e-13 or iterations > 10000:
            break
    return {
        "z": z,
        "mean_state": sum(s * x for s, x in enumerate(z)),
        "greedy_action": [greedy(q[s]) for s in range(S)],
        "iterations": iterations,
    }


def main():
    out = {"about": __doc__.strip().splitlines()[0] + " See the docstring of adoption_reference.py."}
    for label, kappa in [("default", 0.1), ("kappa_0.3", 0.3)]:
        p = dict(DEFAULTS, kappa=kappa)
        lo = [1.0] + [0.0] * (p["S"] - 1)
        hi = [0.0] * (p["S"] - 1) + [1.0]
        out[label] = {"params": p, "lowest": tbr(p, lo), "highest": tbr(p, hi)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
