//! `sweep.parquet` (one row per finished run, its metrics read from the run's
//! `summary.json`) and the per-grid-point statistics ([`GroupStats`], `summary.md`).

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde_json::Value;

use super::run::FINISHED;
use super::{is_finished, PlannedRun, Sweep, SweepCommand};
use crate::error::{Error, Result};
use crate::output::{self, RunMetadata};
use crate::scenario::StartSpec;

/// A metric column: name, type and where its value sits in `summary.json`.
struct Metric {
    name: String,
    ty: DataType,
    pointer: String,
}

fn m(name: impl Into<String>, ty: DataType, pointer: impl Into<String>) -> Metric {
    Metric {
        name: name.into(),
        ty,
        pointer: pointer.into(),
    }
}

/// The number of states every run shares (`None` when a grid axis changes it).
fn common_states(sweep: &Sweep) -> Option<usize> {
    let sizes: Vec<usize> = sweep
        .runs
        .iter()
        .map(|r| r.scenario.model.as_model().num_states())
        .collect();
    sizes
        .windows(2)
        .all(|w| w[0] == w[1])
        .then(|| sizes.first().copied())
        .flatten()
}

/// The metric columns of `sweep.parquet`, in order (the mean-field columns `z_*`,
/// `least_z_*`, `greatest_z_*` only when every run has the same number of states).
fn metrics(sweep: &Sweep) -> Vec<Metric> {
    use DataType::{Boolean as B, Float64 as F, Int64 as I};
    let states = common_states(sweep).unwrap_or(0);
    let zs = |prefix: &str, at: &str| -> Vec<Metric> {
        (0..states)
            .map(|s| m(format!("{prefix}z_{s}"), F, format!("{at}/z/{s}")))
            .collect()
    };
    match sweep.spec.command {
        SweepCommand::Solve
            if matches!(
                sweep.spec.start.as_ref().unwrap_or(&sweep.base.start),
                StartSpec::Extremal
            ) =>
        {
            let mut v = Vec::new();
            for field in [
                ("converged", B),
                ("iterations", I),
                ("mean_state", F),
                ("exploitability", F),
                ("exploitability_weighted", F),
                ("consistency_l1", F),
                ("mixed", B),
            ] {
                for side in ["least", "greatest"] {
                    v.push(m(
                        format!("{side}_{}", field.0),
                        field.1.clone(),
                        format!("/{side}/{}", field.0),
                    ));
                }
            }
            v.extend(zs("least_", "/least"));
            v.extend(zs("greatest_", "/greatest"));
            v
        }
        SweepCommand::Solve => {
            let mut v = vec![
                m("converged", B, "/converged"),
                m("iterations", I, "/iterations"),
                m("mean_state", F, "/mean_state"),
                m("exploitability", F, "/exploitability"),
                m("exploitability_weighted", F, "/exploitability_weighted"),
                m("consistency_l1", F, "/consistency_l1"),
                m("mixed", B, "/mixed"),
            ];
            v.extend(zs("", ""));
            v
        }
        SweepCommand::Learn => {
            let mut v = vec![
                m("iterations", I, "/iterations"),
                m("final_l1_to_tmfe", F, "/l1_to_tmfe"),
                m("final_exploitability", F, "/exploitability"),
                m(
                    "final_exploitability_weighted",
                    F,
                    "/exploitability_weighted",
                ),
                m("final_agent_exploitability", F, "/agent_exploitability"),
                m("final_mean_state", F, "/mean_state"),
                m("tmfe_mean_state", F, "/tmfe/mean_state"),
                m("final_w1_to_tmfe", F, "/w1_to_tmfe"),
                m("final_consistency", F, "/consistency"),
                m(
                    "total_simulator_transitions",
                    I,
                    "/ledger/simulator_transitions",
                ),
                m("total_real_transitions", I, "/ledger/real_transitions"),
                m("total_generative_samples", I, "/ledger/generative_samples"),
                m("total_tq_updates", I, "/ledger/tq_updates"),
                m("seconds", F, "/seconds/total_loop"),
            ];
            v.extend(zs("", ""));
            v
        }
        SweepCommand::FiniteN => vec![
            m("rate", F, "/fit/slope"),
            m("rate_lo", F, "/fit/slope_ci/0"),
            m("rate_hi", F, "/fit/slope_ci/1"),
            m("points", I, "/fit/points"),
            m("seconds", F, "/seconds"),
        ],
        SweepCommand::NashGap => {
            // `per_n` follows the `agents` list, one entry per N.
            let mut v = vec![
                m("mean_field_exploitability", F, "/mean_field/max"),
                m(
                    "mean_field_exploitability_weighted",
                    F,
                    "/mean_field/weighted",
                ),
                m("rate", F, "/fit/slope"),
                m("rate_lo", F, "/fit/slope_ci/0"),
                m("rate_hi", F, "/fit/slope_ci/1"),
                m("rate_weighted", F, "/fit_weighted/slope"),
            ];
            for (i, n) in sweep.spec.nash_gap.agents.iter().enumerate() {
                v.push(m(format!("gap_n{n}"), F, format!("/per_n/{i}/gap")));
                v.push(m(format!("gap_se_n{n}"), F, format!("/per_n/{i}/gap_se")));
                v.push(m(
                    format!("gap_weighted_n{n}"),
                    F,
                    format!("/per_n/{i}/gap_weighted"),
                ));
            }
            v.push(m("seconds", F, "/seconds"));
            v
        }
    }
}

/// The finished runs' summaries, in run-id order.
pub(super) fn finished_summaries<'a>(
    sweep: &'a Sweep,
    runs_dir: &Path,
) -> Result<Vec<(&'a PlannedRun, Value)>> {
    let mut summaries = Vec::new();
    for r in &sweep.runs {
        let p = runs_dir.join(&r.id).join(FINISHED);
        if !runs_dir.parent().is_some_and(|dir| is_finished(dir, r)) {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&p) {
            let v: Value = serde_json::from_str(&text).map_err(|e| Error::Input {
                path: p.clone(),
                key: "<json>".into(),
                reason: format!(
                    "unreadable run summary ({e}); delete the run's directory to rerun it"
                ),
            })?;
            summaries.push((r, v));
        }
    }
    Ok(summaries)
}

/// Builds `sweep.parquet` from the finished runs.
pub(super) fn write_table(
    sweep: &Sweep,
    summaries: &[(&PlannedRun, Value)],
    path: &Path,
) -> Result<()> {
    let metrics = metrics(sweep);
    let mut fields = vec![Field::new("run", DataType::Utf8, false)];
    for a in &sweep.spec.grid {
        fields.push(Field::new(&a.key, a.data_type(), false));
    }
    fields.push(Field::new("seed", DataType::Int64, false));
    for mt in &metrics {
        fields.push(Field::new(&mt.name, mt.ty.clone(), true));
    }
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    let mut run = StringBuilder::new();
    for (r, _) in summaries {
        run.append_value(&r.id);
    }
    cols.push(Arc::new(run.finish()));
    for (i, a) in sweep.spec.grid.iter().enumerate() {
        let vals = summaries.iter().map(|(r, _)| &r.values[i]);
        cols.push(match a.data_type() {
            DataType::Int64 => Arc::new(
                vals.map(|v| v.as_integer())
                    .collect::<arrow_array::Int64Array>(),
            ),
            DataType::Float64 => Arc::new(
                vals.map(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
                    .collect::<arrow_array::Float64Array>(),
            ),
            DataType::Boolean => Arc::new(
                vals.map(|v| v.as_bool())
                    .collect::<arrow_array::BooleanArray>(),
            ),
            _ => Arc::new(
                vals.map(|v| Some(v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                    .collect::<arrow_array::StringArray>(),
            ),
        });
    }
    cols.push(Arc::new(
        summaries
            .iter()
            .map(|(r, _)| i64::try_from(r.seed).ok())
            .collect::<arrow_array::Int64Array>(),
    ));
    // Metrics come from JSON pointers into each summary, typed by the column.
    for Metric { pointer, ty, .. } in &metrics {
        let vals = summaries.iter().map(|(_, v)| v.pointer(pointer));
        cols.push(match ty {
            DataType::Boolean => Arc::new(
                vals.map(|v| v.and_then(Value::as_bool))
                    .collect::<arrow_array::BooleanArray>(),
            ),
            DataType::Int64 => Arc::new(
                vals.map(|v| v.and_then(Value::as_i64))
                    .collect::<arrow_array::Int64Array>(),
            ),
            _ => Arc::new(
                vals.map(|v| v.and_then(Value::as_f64))
                    .collect::<arrow_array::Float64Array>(),
            ),
        });
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| Error::encode(path, "building the table", e))?;
    let meta = RunMetadata::new(sweep.base.text.clone(), sweep.base.sim.seed)
        .with_extra("mfgsim.command", "sweep")
        .with_extra("mfgsim.sweep_command", sweep.spec.command.as_str());
    output::write_parquet(path, &batch, &meta)
}

/// Mean and sample standard deviation over the seeds of one grid point.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricStats {
    /// The metric's column name in `sweep.parquet`.
    pub metric: String,
    /// Mean over the runs with a finite value (NaN, `null` in JSON, when there are none).
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for one run.
    pub sd: f64,
    /// Runs with a finite value.
    pub n: usize,
}

/// One grid point of a sweep: its values and the statistics of its finished runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupStats {
    /// `KEY=VALUE` per grid axis (the seed axis excluded).
    pub values: Vec<String>,
    /// Finished runs at this point.
    pub runs: usize,
    /// The command's headline metrics.
    pub metrics: Vec<MetricStats>,
}

/// The headline metrics of each command, summarised per grid point.
fn headline(sweep: &Sweep) -> Vec<Metric> {
    let keep: &[&str] = match sweep.spec.command {
        SweepCommand::Learn => &[
            "final_l1_to_tmfe",
            "final_exploitability",
            "final_exploitability_weighted",
            "final_agent_exploitability",
            "final_mean_state",
            "seconds",
        ],
        SweepCommand::Solve => &[
            "least_mean_state",
            "greatest_mean_state",
            "least_exploitability",
            "greatest_exploitability",
            "mean_state",
            "exploitability",
            "iterations",
        ],
        SweepCommand::FiniteN => &["rate", "seconds"],
        SweepCommand::NashGap => &["mean_field_exploitability", "rate", "seconds"],
    };
    // Nash-gap: also the gap at the largest N.
    let largest = sweep
        .spec
        .nash_gap
        .agents
        .iter()
        .max()
        .filter(|_| sweep.spec.command == SweepCommand::NashGap)
        .map(|n| format!("gap_n{n}"));
    metrics(sweep)
        .into_iter()
        .filter(|m| keep.contains(&m.name.as_str()) || largest.as_ref() == Some(&m.name))
        .collect()
}

/// Mean ± sd of the headline metrics over the seeds of each grid point, in grid order.
pub(super) fn group_stats(sweep: &Sweep, summaries: &[(&PlannedRun, Value)]) -> Vec<GroupStats> {
    let axes: Vec<usize> = (0..sweep.spec.grid.len())
        .filter(|&i| sweep.spec.grid[i].key != "sim.seed")
        .collect();
    let label = |r: &PlannedRun| -> Vec<String> {
        axes.iter()
            .map(|&i| {
                let v = &r.values[i];
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                format!("{}={text}", sweep.spec.grid[i].key)
            })
            .collect()
    };
    let mut groups: Vec<(Vec<String>, Vec<&Value>)> = Vec::new();
    for (r, v) in summaries {
        let l = label(r);
        match groups.iter_mut().find(|(g, _)| *g == l) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((l, vec![v])),
        }
    }
    let metrics = headline(sweep);
    groups
        .into_iter()
        .map(|(values, vs)| GroupStats {
            values,
            runs: vs.len(),
            metrics: metrics
                .iter()
                .map(|m| {
                    let xs: Vec<f64> = vs
                        .iter()
                        .filter_map(|v| v.pointer(&m.pointer).and_then(Value::as_f64))
                        .filter(|x| x.is_finite())
                        .collect();
                    let n = xs.len();
                    {
                        let mean = xs.iter().sum::<f64>() / n as f64;
                        let var = if n > 1 {
                            xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
                        } else {
                            0.0
                        };
                        MetricStats {
                            metric: m.name.clone(),
                            mean,
                            sd: var.sqrt(),
                            n,
                        }
                    }
                })
                .collect(),
        })
        .collect()
}

/// The per-grid-point statistics as a Markdown table (`DIR/summary.md`): one row per grid
/// point, `mean ± sd` over its seeds for each headline metric.
pub fn markdown(groups: &[GroupStats]) -> String {
    // Every group lists the same metrics in the same order; keep those any group has.
    let names: Vec<&str> = groups.first().map_or_else(Vec::new, |g| {
        g.metrics
            .iter()
            .map(|m| m.metric.as_str())
            .filter(|n| {
                groups
                    .iter()
                    .any(|g| g.metrics.iter().any(|m| m.metric == *n && m.n > 0))
            })
            .collect()
    });
    let mut out = format!("| grid point | runs | {} |\n", names.join(" | "));
    out.push_str(&format!("|---|---:|{}\n", "---:|".repeat(names.len())));
    for g in groups {
        let point = if g.values.is_empty() {
            "(all)".to_string()
        } else {
            g.values.join(", ")
        };
        let cells: Vec<String> = names
            .iter()
            .map(|n| match g.metrics.iter().find(|m| m.metric == *n) {
                Some(m) if m.n == 0 => "–".into(),
                Some(m) if m.n > 1 => format!("{} ± {}", fmt_num(n, m.mean), fmt_num(n, m.sd)),
                Some(m) => fmt_num(n, m.mean),
                None => "–".into(),
            })
            .collect();
        out.push_str(&format!(
            "| {point} | {} | {} |\n",
            g.runs,
            cells.join(" | ")
        ));
    }
    out
}

fn fmt_num(metric: &str, x: f64) -> String {
    // Exact exploitabilities are accurate to ~1e-11: smaller values are zero.
    if metric.contains("exploitability") && x.abs() < 1e-10 {
        "< 1e-10".into()
    } else if metric.contains("mean_state") || metric == "rate" || metric == "seconds" {
        format!("{x:.4}")
    } else if metric == "iterations" {
        format!("{x:.1}")
    } else {
        format!("{x:.2e}")
    }
}
