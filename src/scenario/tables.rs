//! The `[model]` and `[solver]` tables: the model's kind and parameters, γ and ε, the
//! solver's algorithm, caps and start.

use super::fields::renormalized;
use super::*;

pub(super) fn parse_model(path: &Path, t: toml::Table) -> Result<(BuiltinModel, GameParams)> {
    let mut f = Fields::new(path, "model", t);
    let kind = f.string("kind")?.ok_or_else(|| {
        f.error(
            "kind",
            "missing; expected \"infection\", \"gig\" or \"adoption\"".into(),
        )
    })?;
    let game_d = GameParams::default();
    let gamma = f.f64("gamma")?.unwrap_or(game_d.gamma);
    let epsilon = f.f64("epsilon")?.unwrap_or(game_d.epsilon);
    let common = [
        "kind",
        "gamma",
        "epsilon",
        "num_states",
        "num_actions",
        "regen_prob",
    ];
    let model = match kind.as_str() {
        "infection" => {
            let d = InfectionParams::default();
            let num_states = f.num_states(d.num_states)?;
            let p = InfectionParams {
                num_states,
                num_actions: f.usize("num_actions")?.unwrap_or(d.num_actions),
                susceptibility_scale: f
                    .f64("susceptibility_scale")?
                    .unwrap_or(d.susceptibility_scale),
                infection_constant: f.f64("infection_constant")?.unwrap_or(d.infection_constant),
                regen_prob: f.f64("regen_prob")?.unwrap_or(d.regen_prob),
                w1_pmf: f.f64_vec("w1_pmf")?.map(renormalized).unwrap_or(d.w1_pmf),
                w2_pmf: f
                    .state_pmf("w2_pmf", num_states, "uniform")?
                    .unwrap_or_else(|| vec![1.0 / num_states.max(1) as f64; num_states]),
                delta1: f.f64("delta1")?.unwrap_or(d.delta1),
                delta2: f.f64("delta2")?.unwrap_or(d.delta2),
                delta3: f.f64("delta3")?.unwrap_or(d.delta3),
            };
            let extra = [
                "susceptibility_scale",
                "infection_constant",
                "w1_pmf",
                "w2_pmf",
                "delta1",
                "delta2",
                "delta3",
            ];
            f.finish(&[&common[..], &extra[..]].concat())?;
            BuiltinModel::Infection(Infection::try_new(p).map_err(|e| e.in_file(path, "model"))?)
        }
        "gig" => {
            let d = GigParams::default();
            let num_states = f.num_states(d.num_states)?;
            let p = GigParams {
                num_states,
                num_actions: f.usize("num_actions")?.unwrap_or(d.num_actions),
                task_rate_floor: f.f64("task_rate_floor")?.unwrap_or(d.task_rate_floor),
                approval_min: f.f64("approval_min")?.unwrap_or(d.approval_min),
                approval_max: f.f64("approval_max")?.unwrap_or(d.approval_max),
                regen_prob: f.f64("regen_prob")?.unwrap_or(d.regen_prob),
                entry_pmf: f
                    .state_pmf("entry_pmf", num_states, "all mass on state 0")?
                    .unwrap_or_else(|| {
                        let mut e = vec![0.0; num_states];
                        if let Some(x) = e.first_mut() {
                            *x = 1.0;
                        }
                        e
                    }),
                base_pay: f.f64("base_pay")?.unwrap_or(d.base_pay),
                market_boost: f.f64("market_boost")?.unwrap_or(d.market_boost),
                effort_cost: f.f64("effort_cost")?.unwrap_or(d.effort_cost),
            };
            let extra = [
                "task_rate_floor",
                "approval_min",
                "approval_max",
                "entry_pmf",
                "base_pay",
                "market_boost",
                "effort_cost",
            ];
            f.finish(&[&common[..], &extra[..]].concat())?;
            BuiltinModel::Gig(Gig::try_new(p).map_err(|e| e.in_file(path, "model"))?)
        }
        "adoption" => {
            let d = AdoptionParams::default();
            let num_states = f.num_states(d.num_states)?;
            let p = AdoptionParams {
                num_states,
                num_actions: f.usize("num_actions")?.unwrap_or(d.num_actions),
                advance_prob: f.f64("advance_prob")?.unwrap_or(d.advance_prob),
                advance_network: f.f64("advance_network")?.unwrap_or(d.advance_network),
                lapse_prob: f.f64("lapse_prob")?.unwrap_or(d.lapse_prob),
                lapse_protection: f.f64("lapse_protection")?.unwrap_or(d.lapse_protection),
                lapse_protection_network: f
                    .f64("lapse_protection_network")?
                    .unwrap_or(d.lapse_protection_network),
                regen_prob: f.f64("regen_prob")?.unwrap_or(d.regen_prob),
                entry_pmf: f
                    .state_pmf("entry_pmf", num_states, "all mass on state 0")?
                    .unwrap_or_else(|| {
                        let mut e = vec![0.0; num_states];
                        if let Some(x) = e.first_mut() {
                            *x = 1.0;
                        }
                        e
                    }),
                standalone_value: f.f64("standalone_value")?.unwrap_or(d.standalone_value),
                network_value: f.f64("network_value")?.unwrap_or(d.network_value),
                invest_cost: f.f64("invest_cost")?.unwrap_or(d.invest_cost),
            };
            let extra = [
                "advance_prob",
                "advance_network",
                "lapse_prob",
                "lapse_protection",
                "lapse_protection_network",
                "entry_pmf",
                "standalone_value",
                "network_value",
                "invest_cost",
            ];
            f.finish(&[&common[..], &extra[..]].concat())?;
            BuiltinModel::Adoption(Adoption::try_new(p).map_err(|e| e.in_file(path, "model"))?)
        }
        other => {
            return Err(f.error(
                "kind",
                format!("unknown model `{other}`; expected \"infection\", \"gig\" or \"adoption\""),
            ))
        }
    };
    let game = GameParams::try_new(gamma, epsilon).map_err(|e| e.in_file(path, "model"))?;
    if model.as_model().num_actions() == 1 && game.epsilon > 0.0 {
        return Err(Error::Scenario {
            file: path.to_path_buf(),
            key: "model.epsilon".into(),
            reason: format!(
                "must be 0 with model.num_actions = 1 (there is no other action to tremble \
                 to), got {}",
                game.epsilon
            ),
        });
    }
    Ok((model, game))
}

pub(super) fn parse_solver(path: &Path, t: toml::Table) -> Result<(SolverParams, StartSpec)> {
    let mut f = Fields::new(path, "solver", t);
    let d = SolverParams::default();
    let algo = match f.string("algo")? {
        None => d.algo,
        Some(name) => SolverAlgo::parse(&name).map_err(|r| f.error("algo", r))?,
    };
    let p = SolverParams {
        algo,
        tol: f.f64("tol")?.unwrap_or(d.tol),
        max_iterations: f.usize("max_iterations")?.unwrap_or(d.max_iterations),
        tq_tol: f.f64("tq_tol")?.unwrap_or(d.tq_tol),
        max_tq_sweeps: f.usize("max_tq_sweeps")?.unwrap_or(d.max_tq_sweeps),
        certify_greedy: f.bool("certify_greedy")?.unwrap_or(d.certify_greedy),
        damping: f.f64("damping")?.unwrap_or(d.damping),
        omd_rate: f.f64("omd_rate")?.unwrap_or(d.omd_rate),
        fp_weights: match f.string("fp_weights")? {
            None => d.fp_weights,
            Some(w) => FpWeights::parse(&w).map_err(|r| f.error("fp_weights", r))?,
        },
        target_exploitability: f
            .f64("target_exploitability")?
            .unwrap_or(d.target_exploitability),
        target_consistency: f.f64("target_consistency")?.unwrap_or(d.target_consistency),
    };
    let start = match f.take("start") {
        None => StartSpec::Single(Start::Uniform),
        Some(toml::Value::String(s)) => StartSpec::parse(&s).map_err(|r| f.error("start", r))?,
        Some(toml::Value::Array(a)) => {
            let v = a
                .iter()
                .map(as_f64)
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| f.error("start", "array entries must be numbers".into()))?;
            StartSpec::Single(Start::Given(v))
        }
        Some(other) => {
            return Err(f.error(
                "start",
                format!("expected a string or an array, got {}", other.type_str()),
            ))
        }
    };
    f.finish(&[
        "tol",
        "max_iterations",
        "tq_tol",
        "max_tq_sweeps",
        "certify_greedy",
        "start",
        "algo",
        "damping",
        "omd_rate",
        "fp_weights",
        "target_exploitability",
        "target_consistency",
    ])?;
    p.validate().map_err(|e| e.in_file(path, "solver"))?;
    Ok((p, start))
}
