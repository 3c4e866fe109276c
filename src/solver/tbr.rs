//! T-BR (Algorithm 1) and damped T-BR.
//!
//! # Formula
//! ```text
//! μ_k     = π^ε(Q*_{z_k})                         (TQ-value iteration, warm-started)
//! z_{k+1} = (1 − β) z_k + β Φ(z_k, μ_k)           (β = 1: T-BR; β = solver.damping: damped)
//! ```
//! T-BR stops when ||z_{k+1} − z_k||_1 < tol, damped T-BR when ||Φ(z_k, μ_k) − z_k||_1 < tol
//! (the same test for β = 1); both detect a return within tol of one of the last
//! [`CYCLE_MEMORY`] mean fields as a cycle.

use std::collections::VecDeque;

use super::{End, IterationRecord, SolverAlgo, SolverParams, Termination, Workspace, CYCLE_MEMORY};
use crate::model::{mean_state, GameParams, Model};
use crate::operator::phi;
use crate::operator::trembling::write_trembling_policy;
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
    let beta = if params.algo == SolverAlgo::Damped {
        params.damping
    } else {
        1.0
    };
    let mut z = z0.to_vec();
    let mut policy = Policy::uniform(ns, na);
    let mut trace = Vec::new();
    let mut memory: VecDeque<Vec<f64>> = VecDeque::new();
    let mut termination = Termination::IterationCap;

    for k in 1..=params.max_iterations {
        model.fill_tables(&z, &mut ws.tables);
        let out = if params.certify_greedy {
            ws.tq.run_until_greedy_certain(
                &ws.tables,
                game,
                &mut ws.q,
                params.tq_tol,
                params.max_tq_sweeps,
            )
        } else {
            ws.tq.run(
                &ws.tables,
                game,
                &mut ws.q,
                params.tq_tol,
                params.max_tq_sweeps,
            )
        };
        if !out.greedy_certified {
            // The policy below need not be the best response to z: stop here.
            termination = Termination::TqSweepCap {
                iteration: k,
                residual: out.residual,
            };
            break;
        }
        write_trembling_policy(&ws.q, game.epsilon, &mut policy);
        phi(&ws.tables, &z, &policy, &mut ws.next);
        let consistency = l1_distance(&ws.next, &z);
        if beta < 1.0 {
            for (n, zs) in ws.next.iter_mut().zip(&z) {
                *n = (1.0 - beta) * zs + beta * *n;
            }
        }
        let delta = l1_distance(&ws.next, &z);
        trace.push(IterationRecord {
            iteration: k,
            z: ws.next.clone(),
            delta_l1: delta,
            tq_sweeps: out.sweeps,
            mean_state: mean_state(&ws.next),
            exploitability: None,
            consistency_l1: consistency,
        });
        if let Some(last) = trace.last() {
            on_iteration(last);
        }
        if consistency < params.tol {
            std::mem::swap(&mut z, &mut ws.next);
            termination = Termination::Converged;
            break;
        }
        // z_{k+1} back near some z_j with j < k: a cycle of period k − j.
        if let Some(back) = memory
            .iter()
            .rev()
            .position(|old| l1_distance(old, &ws.next) < params.tol)
        {
            std::mem::swap(&mut z, &mut ws.next);
            termination = Termination::Cycle { period: back + 2 };
            break;
        }
        if memory.len() == CYCLE_MEMORY {
            memory.pop_front();
        }
        memory.push_back(std::mem::replace(&mut z, ws.next.clone()));
    }
    End {
        z,
        policy: None,
        termination,
        trace,
    }
}
