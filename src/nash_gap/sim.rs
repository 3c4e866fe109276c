//! One replicate of the N-player game: N − 1 others on the count engine's law, one tagged
//! agent, the control-variate estimator of the tagged agent's value (see the module docs of
//! [`super`]).

use rand::RngExt;

use crate::model::{GameParams, KernelTables, Model};
use crate::operator::dot;
use crate::population::multinomial;
use crate::rng::{stream, stream_state, Purpose};
use crate::space::Policy;

/// The `step` key of the stream that draws the others' initial counts.
pub(super) const INIT_STEP: u64 = u64::MAX;

/// The seed of the streams of one (N, phase): the first word of the keyed state
/// `(seed, NashGap, N, phase)`, so a result depends on N, not on its place in the grid.
pub(super) fn run_seed(seed: u64, agents: u64, phase: u64) -> u64 {
    stream_state(seed, Purpose::NashGap, agents, phase)[0]
}

/// What every replicate shares.
#[derive(Debug, Clone, Copy)]
pub(super) struct Setup<'a, M: ?Sized> {
    pub model: &'a M,
    pub game: GameParams,
    /// μ, the strategy of the N − 1 others.
    pub mu: &'a Policy,
    /// The others' initial law (each i.i.d.), z_μ.
    pub z_init: &'a [f64],
    /// T, steps per replicate.
    pub horizon: u64,
}

/// A strategy of the tagged agent with its control variate h = V_{π, z_μ}.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub policy: Policy,
    pub h: Vec<f64>,
}

/// Occupancy-weighted own-state MDP of the tagged agent: Σ_t γ^t 1{s_t = s} times the rows
/// r(s, ·, z_t), P(· | s, ·, z_t) of the visited (s_t, z_t).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OwnMdp {
    weight: Vec<f64>,
    reward: Vec<f64>,
    kernel: Vec<f64>,
}

impl OwnMdp {
    pub fn new(ns: usize, na: usize) -> Self {
        OwnMdp {
            weight: vec![0.0; ns],
            reward: vec![0.0; ns * na],
            kernel: vec![0.0; ns * na * ns],
        }
    }

    /// Adds `other` (sums in a fixed order: callers merge in unit order).
    pub fn add(&mut self, other: &OwnMdp) {
        for (a, b) in self.weight.iter_mut().zip(&other.weight) {
            *a += b;
        }
        for (a, b) in self.reward.iter_mut().zip(&other.reward) {
            *a += b;
        }
        for (a, b) in self.kernel.iter_mut().zip(&other.kernel) {
            *a += b;
        }
    }

    /// The averaged tables; states never visited keep the rows of `fallback`.
    pub fn tables(&self, fallback: &KernelTables) -> KernelTables {
        let mut t = fallback.clone();
        let (ns, na) = (t.num_states(), t.num_actions());
        for s in 0..ns {
            let w = self.weight[s];
            if w <= 0.0 {
                continue;
            }
            for a in 0..na {
                t.reward[s * na + a] = self.reward[s * na + a] / w;
                let row = &self.kernel[(s * na + a) * ns..(s * na + a + 1) * ns];
                let sum: f64 = row.iter().sum();
                for (dst, v) in t.row_mut(s, a).iter_mut().zip(row) {
                    *dst = v / sum;
                }
            }
        }
        t
    }
}

/// Reusable buffers of one worker.
#[derive(Debug, Clone)]
pub(super) struct Scratch {
    tables: KernelTables,
    z: Vec<f64>,
    counts: Vec<u64>,
    next: Vec<u64>,
    mixed: Vec<f64>,
    q: Vec<f64>,
    suffix: Vec<f64>,
    /// max |r(s_t, a, z_t)| over the tagged agent's visited rows.
    pub max_abs_reward: f64,
}

impl Scratch {
    pub fn new(ns: usize, na: usize) -> Self {
        Scratch {
            tables: KernelTables::new(ns, na),
            z: vec![0.0; ns],
            counts: vec![0; ns],
            next: vec![0; ns],
            mixed: vec![0.0; ns],
            q: vec![0.0; ns],
            suffix: Vec::with_capacity(ns + 1),
            max_abs_reward: 0.0,
        }
    }
}

/// The index drawn by inversion: the first i with Σ_{j≤i} p_j > u·Σp (the last positive
/// entry when rounding leaves u·Σp beyond the sum).
fn invert(p: &[f64], u: f64) -> usize {
    let total: f64 = p.iter().sum();
    let target = u * total;
    let mut acc = 0.0;
    let mut last = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > 0.0 {
            acc += v;
            last = i;
            if acc > target {
                return i;
            }
        }
    }
    last
}

/// One replicate `rep` of the N-player game from the tagged agent's initial state `s0`
/// with the tagged agent playing `cand`: returns
/// Y = h(s0) + Σ_{t<T} γ^t [(T^π_{z_t} h)(s_t) − h(s_t)], whose mean is the tagged agent's
/// value up to the truncation bias. `acc` (optional) receives the own-state MDP statistics.
///
/// Streams: the others' initial counts `(run_seed, NashGap, INIT_STEP, 2·rep)`, their
/// moves at step t `(run_seed, NashGap, t, 2·rep)`, the tagged agent's move
/// `(run_seed, NashGap, t, 2·rep + 1)` (one uniform, by inversion): common to every
/// candidate and initial state.
#[allow(clippy::too_many_arguments)]
pub(super) fn replicate<M: Model + ?Sized>(
    setup: &Setup<'_, M>,
    agents: u64,
    run_seed: u64,
    rep: u64,
    s0: usize,
    cand: &Candidate,
    sc: &mut Scratch,
    mut acc: Option<&mut OwnMdp>,
) -> f64 {
    let model = setup.model;
    let (ns, na) = (model.num_states(), model.num_actions());
    let gamma = setup.game.gamma;
    let nf = agents as f64;
    let others = agents - 1;
    sc.counts.fill(0);
    let mut rng = stream(run_seed, Purpose::NashGap, INIT_STEP, 2 * rep);
    multinomial(
        others,
        setup.z_init,
        &mut sc.suffix,
        &mut sc.counts,
        &mut rng,
    );
    let h = &cand.h;
    let mut s = s0;
    let mut y = h[s0];
    let mut disc = 1.0;
    for t in 0..setup.horizon {
        // z^N_t: the others' counts plus the tagged agent.
        for (u, (z, &c)) in sc.z.iter_mut().zip(&sc.counts).enumerate() {
            *z = (c + u64::from(u == s)) as f64 / nf;
        }
        model.fill_tables(&sc.z, &mut sc.tables);
        // The tagged agent's term (T^π_z h)(s) − h(s), Rao-Blackwellised over a and s′.
        sc.mixed.fill(0.0);
        let mut r_pi = 0.0;
        for a in 0..na {
            let r = sc.tables.r(s, a);
            sc.max_abs_reward = sc.max_abs_reward.max(r.abs());
            let w = cand.policy.get(s, a);
            if w == 0.0 {
                continue;
            }
            r_pi += w * r;
            for (m, p) in sc.mixed.iter_mut().zip(sc.tables.row(s, a)) {
                *m += w * p;
            }
        }
        y += disc * (r_pi + gamma * dot(&sc.mixed, h) - h[s]);
        if let Some(acc) = acc.as_deref_mut() {
            acc.weight[s] += disc;
            for a in 0..na {
                acc.reward[s * na + a] += disc * sc.tables.r(s, a);
                let dst = &mut acc.kernel[(s * na + a) * ns..(s * na + a + 1) * ns];
                for (d, p) in dst.iter_mut().zip(sc.tables.row(s, a)) {
                    *d += disc * p;
                }
            }
        }
        disc *= gamma;
        if t + 1 == setup.horizon {
            break;
        }
        // The tagged agent moves by inversion of one shared uniform.
        let u: f64 = stream(run_seed, Purpose::NashGap, t, 2 * rep + 1).random();
        let s_next = invert(&sc.mixed, u);
        // The others: Multinomial(n(v), Σ_a μ(v, a) P(· | v, a, z^N_t)) from each state v.
        let mut rng = stream(run_seed, Purpose::NashGap, t, 2 * rep);
        sc.next.fill(0);
        for v in 0..ns {
            let n_v = sc.counts[v];
            if n_v == 0 {
                continue;
            }
            sc.q.fill(0.0);
            for a in 0..na {
                let w = setup.mu.get(v, a);
                if w == 0.0 {
                    continue;
                }
                for (q, p) in sc.q.iter_mut().zip(sc.tables.row(v, a)) {
                    *q += w * p;
                }
            }
            multinomial(n_v, &sc.q, &mut sc.suffix, &mut sc.next, &mut rng);
        }
        std::mem::swap(&mut sc.counts, &mut sc.next);
        s = s_next;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inversion_picks_the_interval_of_u() {
        let p = [0.0, 0.25, 0.0, 0.75];
        assert_eq!(invert(&p, 0.0), 1);
        assert_eq!(invert(&p, 0.2499), 1);
        assert_eq!(invert(&p, 0.25), 3);
        assert_eq!(invert(&p, 0.999_999), 3);
        assert_eq!(invert(&[0.5, 0.5, 0.0], 1.0), 1);
    }
}
