//! The exact ε-Nash gap of small games: the joint Markov chain of (own state, counts of the
//! others).
//!
//! # Formula
//! ```text
//! joint state   (s, n): s the tagged agent's state, n ∈ ℕ^S with Σn = N − 1 the others' counts
//!               (C(N − 1 + |S| − 1, |S| − 1) count vectors)
//! z(s, n)       = (n + e_s)/N
//! tagged        s′ ~ Σ_a π(s, a) P(· | s, a, z),   reward r_π(s, n) = Σ_a π(s, a) r(s, a, z)
//! others        n′ = Σ_v Multinomial(n(v), Σ_a μ(v, a) P(· | v, a, z))   (independent given z)
//! value         V_π = r_π + γ P_π V_π      (iterated to a sup change below 1e-13)
//! start         V^N_π(s0) = Σ_n Multinomial(N − 1, z_init)(n) · V_π(s0, n)
//! gap           gap(s0) = max over the |A|^|S| greedy maps g of V^N_{π^ε_g}(s0) − V^N_μ(s0)
//! ```
//! The same game and initial law as the simulation of [`super`], so its estimates must agree
//! with these values within their confidence intervals.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::model::{GameParams, KernelTables, Model};
use crate::space::Policy;

/// Largest joint chain (|S| × count vectors) [`exact_gap`] builds. 200 000.
pub const EXACT_MAX_JOINT_STATES: usize = 200_000;

/// Largest number of greedy maps |A|^|S| [`exact_gap`] enumerates. 4096.
pub const EXACT_MAX_MAPS: usize = 4096;

/// Sup-norm change at which value iteration on the joint chain stops. 1e-13.
pub const EXACT_VALUE_TOL: f64 = 1e-13;

/// The exact gap of μ among N agents.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExactGap {
    /// N.
    pub agents: u64,
    /// V^N_μ(s0) for every s0.
    pub value_mu: Vec<f64>,
    /// max_g V^N_{π^ε_g}(s0) − V^N_μ(s0) for every s0.
    pub gap_by_state: Vec<f64>,
    /// The best greedy map from each s0 (lowest map index among ties).
    pub best_greedy: Vec<Vec<usize>>,
    /// Every greedy map's values: `values[g][s0]`, maps in lexicographic order of
    /// (g(0), g(1), …) with g(|S| − 1) fastest.
    pub values: Vec<Vec<f64>>,
    /// Joint states of the chain.
    pub joint_states: usize,
}

impl ExactGap {
    /// max_s0 gap(s0).
    pub fn gap(&self) -> f64 {
        self.gap_by_state
            .iter()
            .fold(f64::NEG_INFINITY, |m, &g| m.max(g))
    }
}

/// The greedy map with index `g` (lexicographic, last state fastest).
pub fn greedy_map(mut g: usize, ns: usize, na: usize) -> Vec<usize> {
    let mut map = vec![0; ns];
    for s in (0..ns).rev() {
        map[s] = g % na;
        g /= na;
    }
    map
}

/// π^ε of a greedy map: 1 − ε on `map[s]`, ε/(|A| − 1) elsewhere.
pub fn trembling_of(map: &[usize], na: usize, epsilon: f64) -> Policy {
    let (wg, wo) = crate::operator::trembling::weights(epsilon, na);
    let mut probs = vec![wo; map.len() * na];
    for (s, &a) in map.iter().enumerate() {
        probs[s * na + a] = wg;
    }
    let mut p = Policy::from_probs(map.len(), na, probs);
    p.greedy_mut().copy_from_slice(map);
    p
}

/// Every vector of `parts` non-negative integers summing to `total`, in lexicographic order.
fn compositions(total: u64, parts: usize) -> Vec<Vec<u64>> {
    fn rec(left: u64, cur: &mut Vec<u64>, parts: usize, out: &mut Vec<Vec<u64>>) {
        if cur.len() + 1 == parts {
            cur.push(left);
            out.push(cur.clone());
            cur.pop();
            return;
        }
        for k in 0..=left {
            cur.push(k);
            rec(left - k, cur, parts, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    rec(total, &mut Vec::with_capacity(parts), parts, &mut out);
    out
}

/// Multinomial(n, q)(k) for k with Σk = n.
fn multinomial_pmf(k: &[u64], q: &[f64], ln_fact: &[f64]) -> f64 {
    let n: u64 = k.iter().sum();
    let mut ln = ln_fact[n as usize];
    for (&ki, &qi) in k.iter().zip(q) {
        if ki == 0 {
            continue;
        }
        if qi <= 0.0 {
            return 0.0;
        }
        ln += ki as f64 * qi.ln() - ln_fact[ki as usize];
    }
    ln.exp()
}

/// The joint chain's π-independent parts.
struct Chain {
    ns: usize,
    na: usize,
    /// Count vectors of the others.
    counts: Vec<Vec<u64>>,
    /// Multinomial(N − 1, z_init) over `counts`.
    init: Vec<f64>,
    /// Tables at z(s, n), index s·C + c.
    tables: Vec<KernelTables>,
    /// The others' next counts from (s, c): (index, probability).
    others: Vec<Vec<(usize, f64)>>,
}

impl Chain {
    fn build<M: Model + ?Sized>(
        model: &M,
        mu: &Policy,
        z_init: &[f64],
        agents: u64,
    ) -> Result<Self> {
        let (ns, na) = (model.num_states(), model.num_actions());
        if agents < 2 {
            return Err(Error::param("agents", "the N-player game needs N ≥ 2"));
        }
        let m = agents - 1;
        // C(m + ns − 1, ns − 1) without overflow: multiply step by step in f64.
        let mut size = 1.0f64;
        for i in 1..ns {
            size = size * (m as f64 + i as f64) / i as f64;
        }
        if size * ns as f64 > EXACT_MAX_JOINT_STATES as f64 {
            return Err(Error::param(
                "agents",
                format!(
                    "the exact joint chain for N = {agents} and |S| = {ns} has {:.0} states, \
                     above {EXACT_MAX_JOINT_STATES}",
                    size * ns as f64
                ),
            ));
        }
        let counts = compositions(m, ns);
        let index: BTreeMap<Vec<u64>, usize> = counts
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        let mut ln_fact = vec![0.0; m as usize + 1];
        for i in 1..=m as usize {
            ln_fact[i] = ln_fact[i - 1] + (i as f64).ln();
        }
        let init = counts
            .iter()
            .map(|c| multinomial_pmf(c, z_init, &ln_fact))
            .collect();
        let nf = agents as f64;
        let mut tables = Vec::with_capacity(ns * counts.len());
        let mut others = Vec::with_capacity(ns * counts.len());
        let mut z = vec![0.0; ns];
        for s in 0..ns {
            for c in &counts {
                for (u, zu) in z.iter_mut().enumerate() {
                    *zu = (c[u] + u64::from(u == s)) as f64 / nf;
                }
                let t = KernelTables::of(model, &z);
                // Convolution over the others' states v of Multinomial(n(v), q_v).
                let mut dist: BTreeMap<Vec<u64>, f64> = BTreeMap::new();
                dist.insert(vec![0; ns], 1.0);
                for (v, &n_v) in c.iter().enumerate() {
                    if n_v == 0 {
                        continue;
                    }
                    let mut q = vec![0.0; ns];
                    for a in 0..na {
                        for (qq, p) in q.iter_mut().zip(t.row(v, a)) {
                            *qq += mu.get(v, a) * p;
                        }
                    }
                    let moves: Vec<(Vec<u64>, f64)> = compositions(n_v, ns)
                        .into_iter()
                        .map(|k| {
                            let p = multinomial_pmf(&k, &q, &ln_fact);
                            (k, p)
                        })
                        .filter(|(_, p)| *p > 0.0)
                        .collect();
                    let mut next = BTreeMap::new();
                    for (base, pb) in &dist {
                        for (k, pk) in &moves {
                            let key: Vec<u64> = base.iter().zip(k).map(|(a, b)| a + b).collect();
                            *next.entry(key).or_insert(0.0) += pb * pk;
                        }
                    }
                    dist = next;
                }
                others.push(dist.into_iter().map(|(k, p)| (index[&k], p)).collect());
                tables.push(t);
            }
        }
        Ok(Chain {
            ns,
            na,
            counts,
            init,
            tables,
            others,
        })
    }

    /// V^N_π(s0) for every s0.
    fn values(&self, game: GameParams, pi: &Policy) -> Vec<f64> {
        let (ns, na, nc) = (self.ns, self.na, self.counts.len());
        let states = ns * nc;
        let mut r = vec![0.0; states];
        let mut tagged = vec![0.0; states * ns];
        for j in 0..states {
            let (s, t) = (j / nc, &self.tables[j]);
            for a in 0..na {
                let w = pi.get(s, a);
                r[j] += w * t.r(s, a);
                for (m, p) in tagged[j * ns..(j + 1) * ns].iter_mut().zip(t.row(s, a)) {
                    *m += w * p;
                }
            }
        }
        let mut v = vec![0.0; states];
        let mut next = vec![0.0; states];
        for _ in 0..10_000_000 {
            let mut change = 0.0f64;
            for j in 0..states {
                let mut ev = 0.0;
                for (s2, &pt) in tagged[j * ns..(j + 1) * ns].iter().enumerate() {
                    if pt == 0.0 {
                        continue;
                    }
                    let row = &v[s2 * nc..(s2 + 1) * nc];
                    let e: f64 = self.others[j].iter().map(|&(c, p)| p * row[c]).sum();
                    ev += pt * e;
                }
                next[j] = r[j] + game.gamma * ev;
                change = change.max((next[j] - v[j]).abs());
            }
            std::mem::swap(&mut v, &mut next);
            if change < EXACT_VALUE_TOL {
                break;
            }
        }
        (0..ns)
            .map(|s0| {
                self.init
                    .iter()
                    .zip(&v[s0 * nc..(s0 + 1) * nc])
                    .map(|(p, x)| p * x)
                    .sum()
            })
            .collect()
    }
}

/// V^N_π(s0) for every s0: the tagged agent plays `pi`, the N − 1 others play `mu` and
/// start i.i.d. from `z_init` (module docs).
///
/// # Errors
/// [`Error::Param`] (key `agents`) when N < 2 or the joint chain is above
/// [`EXACT_MAX_JOINT_STATES`].
pub fn exact_values<M: Model + ?Sized>(
    model: &M,
    game: GameParams,
    mu: &Policy,
    z_init: &[f64],
    agents: u64,
    pi: &Policy,
) -> Result<Vec<f64>> {
    Ok(Chain::build(model, mu, z_init, agents)?.values(game, pi))
}

/// The exact ε-Nash gap of μ among N agents over every trembling-hand greedy map.
///
/// # Errors
/// As [`exact_values`]; [`Error::Param`] (key `model`) when |A|^|S| > [`EXACT_MAX_MAPS`].
pub fn exact_gap<M: Model + ?Sized>(
    model: &M,
    game: GameParams,
    mu: &Policy,
    z_init: &[f64],
    agents: u64,
) -> Result<ExactGap> {
    let (ns, na) = (model.num_states(), model.num_actions());
    let maps = (na as f64).powi(ns as i32);
    if maps > EXACT_MAX_MAPS as f64 {
        return Err(Error::param(
            "model",
            format!("|A|^|S| = {maps} greedy maps, above {EXACT_MAX_MAPS} for the exact gap"),
        ));
    }
    let chain = Chain::build(model, mu, z_init, agents)?;
    let value_mu = chain.values(game, mu);
    let values: Vec<Vec<f64>> = (0..maps as usize)
        .map(|g| {
            chain.values(
                game,
                &trembling_of(&greedy_map(g, ns, na), na, game.epsilon),
            )
        })
        .collect();
    let mut gap_by_state = vec![f64::NEG_INFINITY; ns];
    let mut best = vec![0usize; ns];
    for (g, v) in values.iter().enumerate() {
        for s0 in 0..ns {
            let d = v[s0] - value_mu[s0];
            if d > gap_by_state[s0] {
                gap_by_state[s0] = d;
                best[s0] = g;
            }
        }
    }
    Ok(ExactGap {
        agents,
        value_mu,
        gap_by_state,
        best_greedy: best.iter().map(|&g| greedy_map(g, ns, na)).collect(),
        values,
        joint_states: ns * chain.counts.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compositions_are_all_there() {
        let c = compositions(4, 3);
        assert_eq!(c.len(), 15);
        assert!(c.iter().all(|v| v.iter().sum::<u64>() == 4));
        assert_eq!(c[0], vec![0, 0, 4]);
        assert_eq!(greedy_map(5, 3, 2), vec![1, 0, 1]);
    }

    #[test]
    fn the_multinomial_pmf_sums_to_one() {
        let q = [0.2, 0.3, 0.5];
        let lf: Vec<f64> = (0..8)
            .scan(0.0, |acc, i: u32| {
                if i > 0 {
                    *acc += f64::from(i).ln();
                }
                Some(*acc)
            })
            .collect();
        let total: f64 = compositions(7, 3)
            .iter()
            .map(|k| multinomial_pmf(k, &q, &lf))
            .sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
    }
}
