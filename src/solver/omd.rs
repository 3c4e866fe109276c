//! Online mirror descent on Q-values (Pérolat et al., "Scaling up mean field games with
//! online mirror descent", AAMAS 2022), kept in the convex hull of Π^ε.
//!
//! # Formula
//! ```text
//! z_k       = z_{π_k}                                  π_k's stationary mean field
//! Q^π_z(s,a) = r(s,a,z) + γ Σ_s' P(s'|s,a,z) V_{π,z}(s')  π's own Q-values at z
//! y_{k+1}   = y_k + η Q^{π_k}_{z_k}                     (y_0 = 0, η = solver.omd_rate)
//! π_{k+1}   = (1 − c) softmax(y_{k+1}) + c/|A|,  c = |A|ε/(|A| − 1)
//! ```
//! The trembling-hand restriction: the convex hull of Π^ε (the strategies "1 − ε on one
//! action, ε/(|A| − 1) on each other") is exactly {(1 − c)λ + c/|A| : λ in the simplex}, so
//! mirror descent runs on λ = softmax(y) (the unconstrained simplex, where its regret bounds
//! hold) and the played strategy is λ's image in the hull. Iteration k certifies (π_{k−1},
//! z_{k−1}): its exploitability against the best trembling-hand response Q*_{z} and its
//! consistency (zero up to the stationary tolerance, by construction).

use super::stationary::settle;
use super::{q_star, End, IterationRecord, SolverParams, Termination, Workspace};
use crate::model::{mean_state, GameParams, Model};
use crate::operator::trembling::g_value;
use crate::operator::{phi, policy_value};
use crate::space::{l1_distance, Policy};

/// Writes (1 − c)·softmax(y_s) + c/|A| into `out` for every state s.
fn hull_softmax(y: &[f64], na: usize, c: f64, out: &mut [f64]) {
    for (ys, os) in y.chunks_exact(na).zip(out.chunks_exact_mut(na)) {
        let top = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for (o, v) in os.iter_mut().zip(ys) {
            *o = (v - top).exp();
            sum += *o;
        }
        for o in os.iter_mut() {
            *o = (1.0 - c) * *o / sum + c / na as f64;
        }
    }
}

pub(super) fn run(
    model: &(impl Model + ?Sized),
    game: GameParams,
    params: &SolverParams,
    z0: &[f64],
    ws: &mut Workspace,
    on_iteration: &mut dyn FnMut(&IterationRecord),
) -> End {
    let (ns, na) = (model.num_states(), model.num_actions());
    let c = if na > 1 {
        (na as f64 * game.epsilon / (na - 1) as f64).min(1.0)
    } else {
        0.0
    };
    let mut y = vec![0.0; ns * na];
    let mut probs = vec![0.0; ns * na];
    hull_softmax(&y, na, c, &mut probs);
    let mut pi = Policy::from_probs(ns, na, probs.clone());
    let mut z = z0.to_vec();
    let mut trace = Vec::new();
    let mut termination = Termination::IterationCap;
    for k in 1..=params.max_iterations {
        let Some(zk) = settle(model, &pi, &z, &mut ws.tables, &mut ws.next) else {
            termination = Termination::NoStationaryMeanField { iteration: k };
            break;
        };
        let delta = l1_distance(&zk, &z);
        z = zk;
        model.fill_tables(&z, &mut ws.tables);
        let v = policy_value(&ws.tables, game, &pi);
        let sweeps = match q_star(&mut ws.tq, &ws.tables, game, &mut ws.q, params, k) {
            Ok(n) => n,
            Err(t) => {
                termination = t;
                break;
            }
        };
        let mut expl = f64::NEG_INFINITY;
        for (s, vs) in v.iter().enumerate() {
            expl = expl.max(g_value(ws.q.row(s), game.epsilon) - vs);
        }
        phi(&ws.tables, &z, &pi, &mut ws.next);
        let consistency = l1_distance(&ws.next, &z);
        trace.push(IterationRecord {
            iteration: k,
            z: z.clone(),
            delta_l1: delta,
            tq_sweeps: sweeps,
            mean_state: mean_state(&z),
            exploitability: Some(expl),
            consistency_l1: consistency,
        });
        if let Some(last) = trace.last() {
            on_iteration(last);
        }
        if expl < params.target_exploitability && consistency < params.target_consistency {
            termination = Termination::Converged;
            break;
        }
        if k == params.max_iterations {
            break;
        }
        // y ← y + η Q^π_z.
        for s in 0..ns {
            for a in 0..na {
                let qa =
                    ws.tables.r(s, a) + game.gamma * crate::operator::dot(ws.tables.row(s, a), &v);
                y[s * na + a] += params.omd_rate * qa;
            }
        }
        hull_softmax(&y, na, c, &mut probs);
        pi = Policy::from_probs(ns, na, probs.clone());
    }
    End {
        z,
        policy: Some(pi),
        termination,
        trace,
    }
}
