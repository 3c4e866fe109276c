//! A user-written model in a few lines: technology adoption on a network.
//!
//! States 0..=4 are adoption levels, actions {0 = wait, 1 = invest}. Investing moves an agent
//! up one level with a probability that grows with the population's mean level m(z)/4
//! (network effect); every level decays by one with probability `decay`. The reward values
//! one's own level more when others have adopted, minus the cost of investing.
//!
//! Run: `cargo run --example custom_model`.

#![expect(clippy::print_stdout, reason = "an example prints its result")]

use mfgsim::model::mean_state;
use mfgsim::{solve, GameParams, Model, SolverParams, Start};

#[derive(Debug)]
struct Adoption {
    levels: usize,
    decay: f64,
    cost: f64,
}

impl Adoption {
    /// Network effect m(z) / (levels − 1) ∈ [0, 1].
    fn network(&self, z: &[f64]) -> f64 {
        mean_state(z) / (self.levels - 1) as f64
    }
}

impl Model for Adoption {
    fn num_states(&self) -> usize {
        self.levels
    }
    fn num_actions(&self) -> usize {
        2
    }
    fn reward(&self, s: usize, a: usize, z: &[f64]) -> f64 {
        s as f64 * (0.2 + 0.3 * self.network(z)) - self.cost * a as f64
    }
    fn transition_row(&self, s: usize, a: usize, z: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        let top = self.levels - 1;
        let up = if a == 1 {
            0.3 + 0.6 * self.network(z)
        } else {
            0.0
        };
        // Up with probability `up`, otherwise decay with probability `decay`.
        out[(s + 1).min(top)] += up;
        out[s.saturating_sub(1)] += (1.0 - up) * self.decay;
        out[s] += (1.0 - up) * (1.0 - self.decay);
    }
    fn name(&self) -> &str {
        "adoption"
    }
}

fn main() -> Result<(), mfgsim::Error> {
    let model = Adoption {
        levels: 5,
        decay: 0.1,
        cost: 0.6,
    };
    let game = GameParams::try_new(0.9, 0.1)?;
    // Under strategic complementarities the lowest and highest starts bracket all equilibria.
    for start in [Start::Lowest, Start::Highest] {
        let sol = solve(&model, game, &SolverParams::default(), &start)?;
        println!(
            "{:>7} start: {} after {} iterations, mean level {:.4}, greedy {:?}, exploitability {:.1e}",
            start.label(),
            sol.termination.describe(),
            sol.iterations(),
            sol.mean_state,
            sol.policy.greedy(),
            sol.exploitability.max,
        );
        assert!(sol.converged() && sol.consistency_l1 < 1e-9);
    }
    Ok(())
}
