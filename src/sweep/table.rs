//! `sweep.parquet` (one row per finished run, its metrics read from the run's
//! `summary.json`) and the per-grid-point statistics ([`GroupStats`], `summary.md`).

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use super::run::FINISHED;
use super::{is_finished, PlannedRun, Sweep, SweepCommand};
use crate::error::{Error, Result};
use crate::finite_n::RateFit;
use crate::nash_gap::GroupGap;
use crate::output::{self, RunMetadata};
use crate::run::{FiniteNRun, LearnReport, NashGapRun, SolveReport};
use crate::scenario::StartSpec;
use crate::solver::SolutionSummary;

/// A finished run's `summary.json`, read as its command's report.
#[derive(Debug)]
pub(super) enum RunSummary {
    Learn(Box<LearnReport>),
    Solve(Box<SolveReport>),
    FiniteN(Box<FiniteNRun>),
    NashGap(Box<NashGapRun>),
}

impl RunSummary {
    /// Reads `path` as the report of `command`.
    fn read(command: SweepCommand, path: &Path) -> Result<Self> {
        Ok(match command {
            SweepCommand::Learn => RunSummary::Learn(Box::new(output::read_summary(path)?)),
            SweepCommand::Solve => RunSummary::Solve(Box::new(output::read_summary(path)?)),
            SweepCommand::FiniteN => RunSummary::FiniteN(Box::new(output::read_summary(path)?)),
            SweepCommand::NashGap => RunSummary::NashGap(Box::new(output::read_summary(path)?)),
        })
    }

    /// A solve run some of whose T-BR runs did not converge.
    pub(super) fn not_converged(&self) -> bool {
        matches!(self, RunSummary::Solve(r) if !r.all_converged)
    }

    fn learn(&self) -> Option<&LearnReport> {
        match self {
            RunSummary::Learn(r) => Some(r),
            _ => None,
        }
    }

    /// The solve run of a single start (`side` ""), or the least or greatest one.
    fn solve(&self, side: &str) -> Option<&SolutionSummary> {
        let RunSummary::Solve(r) = self else {
            return None;
        };
        let run = match side {
            "least" => r.least.as_ref(),
            "greatest" => r.greatest.as_ref(),
            _ => r.single.as_ref(),
        };
        run.map(|r| &r.summary)
    }

    fn nash_gap(&self) -> Option<&NashGapRun> {
        match self {
            RunSummary::NashGap(r) => Some(r),
            _ => None,
        }
    }

    /// A nash-gap study's gap at its `i`-th N (`per_n` follows the `agents` list).
    fn gap_at(&self, i: usize) -> Option<&GroupGap> {
        self.nash_gap()?.report.per_n.get(i)
    }

    /// The rate fit of a finite-n or nash-gap study.
    fn fit(&self) -> Option<&RateFit> {
        match self {
            RunSummary::FiniteN(r) => r.fit.as_ref(),
            RunSummary::NashGap(r) => r.report.fit.as_ref(),
            _ => None,
        }
    }

    /// Wall seconds: a learn run's loop, a study's whole run.
    fn seconds(&self) -> Option<f64> {
        match self {
            RunSummary::Learn(r) => Some(r.seconds.total_loop),
            RunSummary::FiniteN(r) => Some(r.seconds),
            RunSummary::NashGap(r) => Some(r.report.seconds),
            RunSummary::Solve(_) => None,
        }
    }
}

/// One metric's value in one run (`None`: absent, or not finite, a null cell).
enum Cell {
    Bool(Option<bool>),
    Int(Option<i64>),
    Float(Option<f64>),
}

type Getter = Box<dyn Fn(&RunSummary) -> Cell>;

/// A metric column: its name, type and how to read it from a run's report.
struct Metric {
    name: String,
    ty: DataType,
    get: Getter,
}

/// A Float64 metric; a non-finite value is a null cell (as `summary.json` writes it).
fn float(name: impl Into<String>, get: impl Fn(&RunSummary) -> Option<f64> + 'static) -> Metric {
    Metric {
        name: name.into(),
        ty: DataType::Float64,
        get: Box::new(move |s| Cell::Float(get(s).filter(|x| x.is_finite()))),
    }
}

/// An Int64 metric.
fn int(name: impl Into<String>, get: impl Fn(&RunSummary) -> Option<u64> + 'static) -> Metric {
    Metric {
        name: name.into(),
        ty: DataType::Int64,
        get: Box::new(move |s| Cell::Int(get(s).and_then(|v| i64::try_from(v).ok()))),
    }
}

/// A Boolean metric.
fn boolean(name: impl Into<String>, get: impl Fn(&RunSummary) -> Option<bool> + 'static) -> Metric {
    Metric {
        name: name.into(),
        ty: DataType::Boolean,
        get: Box::new(move |s| Cell::Bool(get(s))),
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
    let states = common_states(sweep).unwrap_or(0);
    // z(s) of a solve side, or of a learn run's final mean field (side "learn").
    let zs = |prefix: &'static str, side: &'static str| -> Vec<Metric> {
        (0..states)
            .map(|s| {
                float(format!("{prefix}z_{s}"), move |r: &RunSummary| {
                    let z = match side {
                        "learn" => &r.learn()?.z,
                        _ => &r.solve(side)?.z,
                    };
                    z.get(s).copied()
                })
            })
            .collect()
    };
    // The columns of one solve run, named `{prefix}{field}`.
    let solve_columns = |prefix: &'static str, side: &'static str| -> Vec<Metric> {
        vec![
            boolean(format!("{prefix}converged"), move |r| {
                r.solve(side).map(|x| x.converged)
            }),
            int(format!("{prefix}iterations"), move |r| {
                r.solve(side).map(|x| x.iterations as u64)
            }),
            float(format!("{prefix}mean_state"), move |r| {
                r.solve(side).map(|x| x.mean_state)
            }),
            float(format!("{prefix}exploitability"), move |r| {
                r.solve(side).map(|x| x.exploitability)
            }),
            float(format!("{prefix}exploitability_weighted"), move |r| {
                r.solve(side).map(|x| x.exploitability_weighted)
            }),
            float(format!("{prefix}consistency_l1"), move |r| {
                r.solve(side).map(|x| x.consistency_l1)
            }),
            boolean(format!("{prefix}mixed"), move |r| {
                r.solve(side).map(|x| x.mixed)
            }),
        ]
    };
    match sweep.spec.command {
        SweepCommand::Solve
            if matches!(
                sweep.spec.start.as_ref().unwrap_or(&sweep.base.start),
                StartSpec::Extremal
            ) =>
        {
            // Interleaved: least_converged, greatest_converged, least_iterations, …
            let (least, greatest) = (
                solve_columns("least_", "least"),
                solve_columns("greatest_", "greatest"),
            );
            let mut v: Vec<Metric> = least
                .into_iter()
                .zip(greatest)
                .flat_map(|(l, g)| [l, g])
                .collect();
            v.extend(zs("least_", "least"));
            v.extend(zs("greatest_", "greatest"));
            v
        }
        SweepCommand::Solve => {
            let mut v = solve_columns("", "");
            v.extend(zs("", ""));
            v
        }
        SweepCommand::Learn => {
            let l = RunSummary::learn;
            let mut v = vec![
                int("iterations", move |r| l(r).map(|x| x.iterations)),
                float("final_l1_to_tmfe", move |r| l(r).map(|x| x.l1_to_tmfe)),
                float("final_exploitability", move |r| {
                    l(r).map(|x| x.exploitability)
                }),
                float("final_exploitability_weighted", move |r| {
                    l(r).map(|x| x.exploitability_weighted)
                }),
                float("final_agent_exploitability", move |r| {
                    l(r).and_then(|x| x.agent_exploitability)
                }),
                float("final_mean_state", move |r| l(r).map(|x| x.mean_state)),
                float("tmfe_mean_state", move |r| l(r).map(|x| x.tmfe.mean_state)),
                float("final_w1_to_tmfe", move |r| l(r).map(|x| x.w1_to_tmfe)),
                float("final_consistency", move |r| l(r).map(|x| x.consistency)),
                int("total_simulator_transitions", move |r| {
                    l(r).map(|x| x.ledger.simulator_transitions)
                }),
                int("total_real_transitions", move |r| {
                    l(r).map(|x| x.ledger.real_transitions)
                }),
                int("total_generative_samples", move |r| {
                    l(r).map(|x| x.ledger.generative_samples)
                }),
                int("total_tq_updates", move |r| {
                    l(r).map(|x| x.ledger.tq_updates)
                }),
                float("seconds", RunSummary::seconds),
            ];
            v.extend(zs("", "learn"));
            v
        }
        SweepCommand::FiniteN => vec![
            float("rate", |r| r.fit().map(|f| f.slope)),
            float("rate_lo", |r| r.fit()?.slope_ci.map(|c| c.0)),
            float("rate_hi", |r| r.fit()?.slope_ci.map(|c| c.1)),
            int("points", |r| r.fit().map(|f| f.points as u64)),
            float("seconds", RunSummary::seconds),
        ],
        SweepCommand::NashGap => {
            let mut v = vec![
                float("mean_field_exploitability", |r| {
                    r.nash_gap().map(|x| x.report.mean_field.max)
                }),
                float("mean_field_exploitability_weighted", |r| {
                    r.nash_gap().map(|x| x.report.mean_field.weighted)
                }),
                float("rate", |r| r.fit().map(|f| f.slope)),
                float("rate_lo", |r| r.fit()?.slope_ci.map(|c| c.0)),
                float("rate_hi", |r| r.fit()?.slope_ci.map(|c| c.1)),
                float("rate_weighted", |r| {
                    r.nash_gap()?.report.fit_weighted.as_ref().map(|f| f.slope)
                }),
            ];
            // `per_n` follows the `agents` list, one entry per N.
            for (i, n) in sweep.spec.nash_gap.agents.iter().enumerate() {
                v.push(float(format!("gap_n{n}"), move |r| {
                    r.gap_at(i).map(|g| g.gap)
                }));
                v.push(float(format!("gap_se_n{n}"), move |r| {
                    r.gap_at(i).map(|g| g.gap_se)
                }));
                v.push(float(format!("gap_weighted_n{n}"), move |r| {
                    r.gap_at(i).map(|g| g.gap_weighted)
                }));
            }
            v.push(float("seconds", RunSummary::seconds));
            v
        }
    }
}

/// The finished runs' summaries, in run-id order.
pub(super) fn finished_summaries<'a>(
    sweep: &'a Sweep,
    runs_dir: &Path,
) -> Result<Vec<(&'a PlannedRun, RunSummary)>> {
    let mut summaries = Vec::new();
    for r in &sweep.runs {
        let p = runs_dir.join(&r.id).join(FINISHED);
        if !runs_dir.parent().is_some_and(|dir| is_finished(dir, r)) || !p.is_file() {
            continue;
        }
        let summary = RunSummary::read(sweep.spec.command, &p).map_err(|e| match e {
            Error::Input { path, key, reason } => Error::Input {
                path,
                key,
                reason: format!("{reason}; delete the run's directory to rerun it"),
            },
            other => other,
        })?;
        summaries.push((r, summary));
    }
    Ok(summaries)
}

/// Builds `sweep.parquet` from the finished runs.
pub(super) fn write_table(
    sweep: &Sweep,
    summaries: &[(&PlannedRun, RunSummary)],
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
    // Metrics are read from each run's typed report, one column per metric.
    for Metric { ty, get, .. } in &metrics {
        let cells = summaries.iter().map(|(_, r)| get(r));
        cols.push(match ty {
            DataType::Boolean => Arc::new(
                cells
                    .map(|c| if let Cell::Bool(v) = c { v } else { None })
                    .collect::<arrow_array::BooleanArray>(),
            ),
            DataType::Int64 => Arc::new(
                cells
                    .map(|c| if let Cell::Int(v) = c { v } else { None })
                    .collect::<arrow_array::Int64Array>(),
            ),
            _ => Arc::new(
                cells
                    .map(|c| if let Cell::Float(v) = c { v } else { None })
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
pub(super) fn group_stats(
    sweep: &Sweep,
    summaries: &[(&PlannedRun, RunSummary)],
) -> Vec<GroupStats> {
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
    let mut groups: Vec<(Vec<String>, Vec<&RunSummary>)> = Vec::new();
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
                        .filter_map(|r| match (m.get)(r) {
                            Cell::Float(v) => v,
                            Cell::Int(v) => v.map(|i| i as f64),
                            Cell::Bool(_) => None,
                        })
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
