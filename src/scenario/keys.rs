//! The `[sim]` and `[learner]` tables.

use super::*;

pub(super) fn parse_sim(path: &Path, t: toml::Table) -> Result<SimParams> {
    let mut f = Fields::new(path, "sim", t);
    let d = SimParams::default();
    let engine = match f.string("engine")?.as_deref() {
        None => d.engine,
        Some("agents") => EngineKind::Agents,
        Some("counts") => EngineKind::Counts,
        Some(other) => {
            return Err(f.error(
                "engine",
                format!("unknown engine `{other}`; expected \"agents\" or \"counts\""),
            ))
        }
    };
    let p = SimParams {
        agents: f.u64("agents")?.unwrap_or(d.agents),
        iterations: f.u64("iterations")?.unwrap_or(d.iterations),
        seed: f.u64("seed")?.unwrap_or(d.seed),
        engine,
    };
    if p.agents == 0 {
        return Err(f.error("agents", "must be >= 1".into()));
    }
    if p.iterations == 0 {
        return Err(f.error("iterations", "must be >= 1".into()));
    }
    f.finish(&["agents", "iterations", "seed", "engine"])?;
    Ok(p)
}

pub(super) fn parse_learner(path: &Path, t: toml::Table) -> Result<LearnerParams> {
    let mut f = Fields::new(path, "learner", t);
    let d = LearnerParams::default();
    let algo = match f.string("algo")? {
        None => d.algo,
        Some(name) => Algo::parse(&name).map_err(|r| f.error("algo", r))?,
    };
    let rule = match f.string("rule")? {
        None => d.rule,
        Some(name) => Rule::parse(&name).map_err(|r| f.error("rule", r))?,
    };
    // `memory = inf` is TOML for "no cap".
    let p = LearnerParams {
        algo,
        rule,
        batch: BatchTqParams {
            samples: f.f64("batch_samples")?.unwrap_or(d.batch.samples),
            memory: f.f64("batch_memory")?.unwrap_or(d.batch.memory),
            sweeps: f.usize("batch_sweeps")?.unwrap_or(d.batch.sweeps),
            drift: f.f64("batch_drift")?.unwrap_or(d.batch.drift),
            drift_gate: f.f64("batch_drift_gate")?.unwrap_or(d.batch.drift_gate),
        },
        tq: TqLearnerParams {
            budget: f.usize("budget")?.unwrap_or(d.tq.budget),
            step_exponent: f.f64("step_exponent")?.unwrap_or(d.tq.step_exponent),
            memory: f.f64("memory")?.unwrap_or(d.tq.memory),
        },
        tmfq: TmfqParams {
            sim_agents: f.usize("sim_agents")?.unwrap_or(d.tmfq.sim_agents),
            inner_tol: f.f64("inner_tol")?.unwrap_or(d.tmfq.inner_tol),
            check_every: f.u64("check_every")?.unwrap_or(d.tmfq.check_every),
            max_sim_transitions: f
                .u64("max_sim_transitions")?
                .unwrap_or(d.tmfq.max_sim_transitions),
            mf_agents: f.u64("mf_agents")?.unwrap_or(d.tmfq.mf_agents),
            cold_start: f.bool("cold_start")?.unwrap_or(d.tmfq.cold_start),
        },
        gmbl: GmblParams {
            gen_samples: f.u64("gen_samples")?.unwrap_or(d.gmbl.gen_samples),
            value_tol: f.f64("value_tol")?.unwrap_or(d.gmbl.value_tol),
        },
        mfq: MfqParams {
            neighbours: f.usize("mfq_neighbours")?.unwrap_or(d.mfq.neighbours),
            bins: f.usize("mfq_bins")?.unwrap_or(d.mfq.bins),
        },
        reset_on_regeneration: f
            .bool("reset_on_regeneration")?
            .unwrap_or(d.reset_on_regeneration),
    };
    f.finish(&LearnerParams::KEYS)?;
    p.validate().map_err(|e| e.in_file(path, "learner"))?;
    Ok(p)
}
