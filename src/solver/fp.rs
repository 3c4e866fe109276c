//! Fictitious play over trembling-hand best responses (discrete time, Perrin et al.,
//! NeurIPS 2020), for the stationary game.
//!
//! # Formula
//! ```text
//! μ_k      = π^ε(Q*_{z̄_k})                  the best response to the averaged mean field
//! z_k      = x with x = Φ_{z̄_k}(x, μ_k)      the law μ_k induces in the population z̄_k
//!                                            plays against (kernel frozen at z̄_k)
//! z̄_{k+1}  = Σ_{j≤k} w_j z_j / Σ_{j≤k} w_j
//! μ̄_{k+1}(s,a) = Σ_{j≤k} w_j z_j(s) μ_j(s,a) / Σ_{j≤k} w_j z_j(s)
//! w_j      = j (`solver.fp_weights = "linear"`, default) or 1 ("uniform": the running mean)
//! ```
//! The state-weighted average makes μ̄ the strategy of a population whose members play μ_j in
//! proportion to w_j z_j, so Φ(z̄, μ̄) = Σ_j w_j Φ_{z̄}(z_j, μ_j) / Σ_j w_j, which tends to z̄
//! as the z̄_j settle. Freezing the kernel at the mean field each best response answers is
//! what makes that average consistent: the stationary mean field of μ_j under its own kernel
//! sits elsewhere when the best responses alternate (measured on infection at c_f = 0.45:
//! ||Φ(z̄, μ̄) − z̄||_1 = 1e-3 after 10⁴ iterations that way, 1e-5 frozen).
//!
//! # Certificate
//! Iteration k certifies μ̄_k at its *own* stationary mean field z_{μ̄_k} (the fixed point of
//! Φ(·, μ̄_k), warm-started from the last one): its exploitability there against the best
//! trembling-hand response Q*_{z_{μ̄_k}}, and its consistency (zero up to the stationary
//! tolerance). The returned pair is (μ̄_K, z_{μ̄_K}).
//!
//! # Weights (mfgsim's choice, measured)
//! The running mean of Perrin et al. keeps the first, worst best responses at weight 1/k, so
//! the exploitability falls like 1/k: on infection at c_f = 0.8 it was 5.6e-5 after 10⁴
//! iterations. Linear weights (the Frank–Wolfe step 2/(k + 1)) forget the start like 1/k²:
//! exploitability < 1e-6 after 22, 20, 778 and 1201 iterations at c_f = 0.1, 0.45, 0.725,
//! 0.8 (running mean: 243, 277, > 10⁴, > 10⁴).

use super::stationary::{frozen_stationary, settle};
use super::{q_star, End, FpWeights, IterationRecord, SolverParams, Termination, Workspace};
use crate::model::{mean_state, GameParams, Model};
use crate::operator::trembling::write_trembling_policy;
use crate::operator::{exploitability, phi};
use crate::space::{l1_distance, Policy};

pub(super) fn run(
    model: &(impl Model + ?Sized),
    game: GameParams,
    params: &SolverParams,
    z0: &[f64],
    ws: &mut Workspace,
    on_iteration: &mut dyn FnMut(&IterationRecord),
) -> End {
    let (ns, na) = (model.num_states(), model.num_actions());
    let mut zbar = z0.to_vec();
    let mut trace = Vec::new();
    let mut br = Policy::uniform(ns, na);
    // Σ_j w_j z_j(s) μ_j(s,a), Σ_j w_j z_j(s), and Σ_j w_j μ_j(s,a) / Σ_j w_j (`count`) for
    // states no z_j reaches.
    let mut num = vec![0.0; ns * na];
    let mut den = vec![0.0; ns];
    let mut plain = vec![0.0; ns * na];
    let mut count = 0.0;
    let mut mixture = Policy::uniform(ns, na);
    // The certified pair's mean field z_{μ̄_k}, its tables and Q*.
    let mut zcert = z0.to_vec();
    let mut cert_tables = crate::model::KernelTables::new(ns, na);
    let mut q_cert = crate::space::QTable::zeros(ns, na);
    let end = |z, policy, termination, trace| End {
        z,
        policy,
        termination,
        trace,
    };

    // The best response to the start and its stationary mean field: z̄_1 = z_0.
    model.fill_tables(&zbar, &mut ws.tables);
    let mut sweeps = match q_star(&mut ws.tq, &ws.tables, game, &mut ws.q, params, 1) {
        Ok(n) => n,
        Err(t) => return end(zbar, None, t, trace),
    };
    write_trembling_policy(&ws.q, game.epsilon, &mut br);
    let Some(mut zk) = frozen_stationary(&ws.tables, &br, &zbar, &mut ws.next) else {
        let t = Termination::NoStationaryMeanField { iteration: 1 };
        return end(zbar, None, t, trace);
    };

    for k in 1..=params.max_iterations {
        // Fold (μ_{k−1}, z_{k−1}) into the averages.
        let w = match params.fp_weights {
            FpWeights::Linear => k as f64,
            FpWeights::Uniform => 1.0,
        };
        for s in 0..ns {
            den[s] += w * zk[s];
            for a in 0..na {
                num[s * na + a] += w * zk[s] * br.get(s, a);
                plain[s * na + a] += w * br.get(s, a);
            }
        }
        count += w;
        for (zb, zj) in zbar.iter_mut().zip(&zk) {
            *zb = if k == 1 {
                *zj
            } else {
                *zb + (zj - *zb) * w / count
            };
        }
        let mut probs = vec![0.0; ns * na];
        for s in 0..ns {
            for a in 0..na {
                probs[s * na + a] = if den[s] > 0.0 {
                    num[s * na + a] / den[s]
                } else {
                    plain[s * na + a] / count
                };
            }
        }
        mixture = Policy::from_probs(ns, na, probs);

        // The best response to z̄_k is the next μ_k.
        model.fill_tables(&zbar, &mut ws.tables);
        match q_star(&mut ws.tq, &ws.tables, game, &mut ws.q, params, k) {
            Ok(n) => sweeps += n,
            Err(t) => return end(zbar, Some(mixture), t, trace),
        }
        write_trembling_policy(&ws.q, game.epsilon, &mut br);
        // The certificate of μ̄_k: its own stationary mean field z_{μ̄_k} (warm-started from
        // the last one) and its exploitability there.
        let Some(zm) = settle(model, &mixture, &zcert, &mut cert_tables, &mut ws.next) else {
            let t = Termination::NoStationaryMeanField { iteration: k };
            return end(zbar, Some(mixture), t, trace);
        };
        model.fill_tables(&zm, &mut cert_tables);
        match q_star(&mut ws.tq, &cert_tables, game, &mut q_cert, params, k) {
            Ok(n) => sweeps += n,
            Err(t) => return end(zbar, Some(mixture), t, trace),
        }
        let expl = exploitability(&cert_tables, game, &mixture, &zm, &q_cert);
        phi(&cert_tables, &zm, &mixture, &mut ws.next);
        let consistency = l1_distance(&ws.next, &zm);
        let delta = l1_distance(&zm, &zcert);
        zcert = zm;
        trace.push(IterationRecord {
            iteration: k,
            z: zcert.clone(),
            delta_l1: delta,
            tq_sweeps: std::mem::take(&mut sweeps),
            mean_state: mean_state(&zcert),
            exploitability: Some(expl.max),
            consistency_l1: consistency,
        });
        if let Some(last) = trace.last() {
            on_iteration(last);
        }
        if expl.max < params.target_exploitability && consistency < params.target_consistency {
            return end(zcert, Some(mixture), Termination::Converged, trace);
        }
        if k == params.max_iterations {
            break;
        }
        match frozen_stationary(&ws.tables, &br, &zk, &mut ws.next) {
            Some(z) => zk = z,
            None => {
                let t = Termination::NoStationaryMeanField { iteration: k + 1 };
                return end(zbar, Some(mixture), t, trace);
            }
        }
    }
    end(zcert, Some(mixture), Termination::IterationCap, trace)
}
