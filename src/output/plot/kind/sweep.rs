//! A sweep's metric against a grid key.

use super::*;

/// The axis label of a sweep metric, with its meaning and unit.
pub(super) fn metric_label(name: &str) -> String {
    let known = match name {
        "mean_state" | "final_mean_state" => "mean state Σₛ s·z(s)",
        "tmfe_mean_state" => "T-MFE mean state Σₛ s·z*(s)",
        "final_l1_to_tmfe" => "final L1 distance to z*, ‖z − z*‖₁",
        "final_w1_to_tmfe" => "final W₁ distance to z*, Σₜ |F(t) − F*(t)|",
        "final_consistency" => "final consistency ‖Φ(z, μ) − z‖₁",
        "exploitability" | "final_exploitability" => "exploitability maxₛ V*(s) − V^μ(s)",
        "final_exploitability_weighted" => "z-weighted exploitability Σₛ z(s)(V* − V^μ)(s)",
        "iterations" => "T-BR iterations",
        "converged" => "converged (fraction of seeds)",
        "seconds" => "wall time (s)",
        "rate" => "fitted rate: slope of log ‖z^N − z*‖₁ in log N",
        _ => "",
    };
    if known.is_empty() {
        name.to_string()
    } else {
        format!("{known} [{name}]")
    }
}

pub(super) fn default_x(s: &Sweep) -> Result<String> {
    let varying: Vec<&str> = s
        .grid
        .iter()
        .filter(|g| g.values.len() > 1)
        .map(|g| g.key.as_str())
        .collect();
    match varying.as_slice() {
        [one] => Ok((*one).to_string()),
        _ => Err(Error::Input {
            path: s.dir.join(crate::output::MANIFEST_FILE),
            key: "--x".into(),
            reason: format!(
                "give --x KEY, the grid key for the x axis (the grid keys: {})",
                s.grid
                    .iter()
                    .map(|g| g.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

pub(super) fn sweep_chart(inputs: &[Input], req: &PlotRequest) -> Result<Chart> {
    let sweeps: Vec<(&Sweep, Option<&String>)> = inputs
        .iter()
        .map(|i| match &i.source {
            Source::Sweep(s) => Ok((s, i.label.as_ref())),
            _ => Err(wrong_input(
                i,
                PlotKind::Sweep,
                &format!(
                    "a {} output: it draws sweep directories (sweep.json)",
                    i.kind().command()
                ),
            )),
        })
        .collect::<Result<_>>()?;
    let x_key = match &req.x {
        Some(x) => x.clone(),
        None => default_x(sweeps[0].0)?,
    };
    let mut series = Vec::new();
    let mut categories: Vec<String> = Vec::new();
    let mut branches_drawn = false;
    let mut not_converged = 0usize;
    let mut y_names: Vec<String> = Vec::new();
    let mut max_seeds = 1;
    let mut line = 0usize;
    for (s, label) in &sweeps {
        let xi = s.key_index(&x_key)?;
        let x_values = &s.grid[xi].values;
        let numeric = x_values.iter().all(Value::is_number);
        if !numeric && categories.is_empty() {
            categories = x_values.iter().map(value_text).collect();
        }
        let y = match &req.y {
            Some(y) => y.clone(),
            None => match s.command.as_str() {
                "learn" => "final_l1_to_tmfe".into(),
                "finite-n" => "rate".into(),
                _ => "mean_state".into(),
            },
        };
        // A solve sweep from extremal starts has least_Y and greatest_Y instead of Y.
        let have = s.columns()?;
        let (least, greatest) = (format!("least_{y}"), format!("greatest_{y}"));
        let branches = !have.contains(&y) && have.contains(&least) && have.contains(&greatest);
        let columns: Vec<(String, &str)> = if branches {
            branches_drawn |= y == "mean_state";
            vec![(least, "least T-MFE"), (greatest, "greatest T-MFE")]
        } else {
            vec![(y.clone(), "")]
        };
        // A solve sweep records per run (branch) whether it converged (points that did not
        // are end points, not equilibria, drawn hollow) and whether its equilibrium is mixed
        // (isolated points, drawn unjoined).
        let solve_flag = |suffix: &str| -> Result<Vec<Option<Vec<f64>>>> {
            columns
                .iter()
                .map(|(c, _)| {
                    let col = match c.strip_suffix(&format!("_{y}")) {
                        Some(branch) if branches => format!("{branch}_{suffix}"),
                        _ => suffix.to_string(),
                    };
                    if s.command == "solve" && have.contains(&col) {
                        s.metric(&col).map(Some)
                    } else {
                        Ok(None)
                    }
                })
                .collect()
        };
        let flags = solve_flag("converged")?;
        let mixed = solve_flag("mixed")?;
        if !y_names.contains(&y) {
            y_names.push(y.clone());
        }
        let values = columns
            .iter()
            .map(|(c, _)| s.metric(c))
            .collect::<Result<Vec<_>>>()?;
        // Lines: combinations of the other grid keys' values, in run order.
        let mut lines: Vec<(Vec<Value>, String)> = Vec::new();
        for r in &s.runs {
            let other: Vec<Value> = r
                .values
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != xi)
                .map(|(_, v)| v.clone())
                .collect();
            if !lines.iter().any(|(o, _)| *o == other) {
                let name = s
                    .grid
                    .iter()
                    .enumerate()
                    .filter(|&(k, g)| k != xi && g.values.len() > 1)
                    .map(|(k, g)| grid_label(&g.key, &r.values[k]))
                    .collect::<Vec<_>>()
                    .join(", ");
                lines.push((other, name));
            }
        }
        // One colour per line; with a single line the two branches get two colours.
        let split_colors = lines.len() == 1;
        for (other, name) in &lines {
            for (b, ((_, branch), vals)) in columns.iter().zip(&values).enumerate() {
                let color = PALETTE[(line + if split_colors { b } else { 0 }) % AUTO];
                let mut points = Vec::new();
                let mut spread = Vec::new();
                let mut ended = Vec::new();
                // Per drawn point: this branch's mean and the other branch's (extremal sweeps).
                let mut pair_means = Vec::new();
                for (j, xv) in x_values.iter().enumerate() {
                    let at: Vec<usize> = s
                        .runs
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| {
                            r.values[xi] == *xv
                                && r.values
                                    .iter()
                                    .enumerate()
                                    .filter(|&(k, _)| k != xi)
                                    .map(|(_, v)| v)
                                    .eq(other.iter())
                        })
                        .map(|(i, _)| i)
                        .collect();
                    let ys: Vec<f64> = at.iter().map(|&i| vals[i]).collect();
                    if ys.is_empty() {
                        continue;
                    }
                    max_seeds = max_seeds.max(ys.len());
                    let (m, sd) = mean_sd(&ys);
                    let m_other = if branches {
                        let o: Vec<f64> = at.iter().map(|&i| values[1 - b][i]).collect();
                        mean_sd(&o).0
                    } else {
                        m
                    };
                    pair_means.push((m, m_other));
                    // Converged only when every seed's run at this x converged.
                    let converged = flags[b].as_ref().is_none_or(|f| {
                        s.runs.iter().enumerate().all(|(i, r)| {
                            r.values[xi] != *xv
                                || !r
                                    .values
                                    .iter()
                                    .enumerate()
                                    .filter(|&(k, _)| k != xi)
                                    .map(|(_, v)| v)
                                    .eq(other.iter())
                                || f[i] == 1.0
                        })
                    });
                    let x = if numeric {
                        xv.as_f64().unwrap_or(f64::NAN)
                    } else {
                        categories
                            .iter()
                            .position(|c| *c == value_text(xv))
                            .unwrap_or(j) as f64
                    };
                    if converged {
                        points.push((x, m));
                        spread.push((m - sd, m + sd));
                    } else {
                        // A gap in the line, and a hollow marker.
                        points.push((x, f64::NAN));
                        spread.push((f64::NAN, f64::NAN));
                        ended.push((x, m));
                    }
                }
                // Where the number of equilibria changes between two grid points (the least
                // and greatest coincide at one and differ at the other), the branch that jumps
                // (it moves more than the other) is not joined across the jump: a line there
                // would draw equilibria that do not exist between the grid points.
                if branches && points.len() == pair_means.len() {
                    let split = |(m, o): (f64, f64)| (m - o).abs() > 1e-6 * m.abs().max(1.0);
                    let mut joined = Vec::with_capacity(points.len());
                    let mut joined_spread = Vec::with_capacity(points.len());
                    for k in 0..points.len() {
                        joined.push(points[k]);
                        joined_spread.push(spread[k]);
                        if let (Some(&now), Some(&next)) =
                            (pair_means.get(k), pair_means.get(k + 1))
                        {
                            let jumps = split(now) != split(next)
                                && (next.0 - now.0).abs() > (next.1 - now.1).abs();
                            if jumps {
                                joined.push((points[k].0, f64::NAN));
                                joined_spread.push((f64::NAN, f64::NAN));
                            }
                        }
                    }
                    points = joined;
                    spread = joined_spread;
                }
                // Mixed equilibria (fictitious play, mirror descent) are isolated points, found
                // where T-BR cycles: markers only, no line joining them across the grid.
                if mixed[b].as_ref().is_some_and(|m| m.contains(&1.0)) {
                    points = points
                        .into_iter()
                        .flat_map(|p| [p, (p.0, f64::NAN)])
                        .collect();
                    spread = spread.into_iter().flat_map(|q| [q, q]).collect();
                }
                let mut parts: Vec<String> = Vec::new();
                match label {
                    // An empty label keeps the series' own names.
                    Some(l) if l.is_empty() => {}
                    Some(l) => parts.push((*l).clone()),
                    None if sweeps.len() > 1 => parts.push(dir_name(&s.dir)),
                    None => {}
                }
                if !name.is_empty() {
                    parts.push(name.clone());
                }
                if !branch.is_empty() {
                    parts.push((*branch).to_string());
                }
                // A lone series needs no legend: the y axis names it.
                let label = parts.join(", ");
                if !ended.is_empty() {
                    not_converged += ended.len();
                    let start = match *branch {
                        "least T-MFE" => "lowest-start ",
                        "greatest T-MFE" => "highest-start ",
                        _ => "",
                    };
                    let mut hollow = parts.clone();
                    hollow.retain(|p| p != branch);
                    hollow.push(format!(
                        "{start}end point, NOT converged (not an equilibrium)"
                    ));
                    series.push(Series {
                        label: hollow.join(", "),
                        mark: Mark::Points,
                        points: ended,
                        spread: Vec::new(),
                        dashed: false,
                        dotted: false,
                        hollow: true,
                        color: Some((color.0, color.1, color.2)),
                    });
                }
                series.push(Series {
                    label,
                    mark: Mark::Points,
                    points,
                    spread,
                    dashed: *branch == "greatest T-MFE",
                    dotted: false,
                    hollow: false,
                    color: Some((color.0, color.1, color.2)),
                });
            }
            line += if split_colors { columns.len() } else { 1 };
        }
    }
    let all_positive = series
        .iter()
        .flat_map(|s| s.points.iter())
        .all(|p| !p.1.is_finite() || p.1 > 0.0);
    let logish = y_names.iter().all(|y| {
        ["l1", "w1", "consistency", "exploitability"]
            .iter()
            .any(|m| y.contains(m))
    });
    let note = if max_seeds > 1 {
        format!(" (mean ± 1 sd over {max_seeds} seeds)")
    } else {
        String::new()
    };
    // A wide grid of positive numbers (e.g. N = 100, 1000, 10000) gets a log x axis.
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let x_log = categories.is_empty()
        && !xs.is_empty()
        && xs.iter().all(|&x| x > 0.0)
        && xs.iter().copied().fold(f64::MIN, f64::max)
            >= 50.0 * xs.iter().copied().fold(f64::MAX, f64::min);
    let title = match (branches_drawn, not_converged > 0) {
        (true, false) => format!("Equilibrium branches against {x_key}{note}"),
        (true, true) => format!("T-BR end points against {x_key}{note} (hollow: not converged)"),
        (false, false) => format!("{} against {x_key}{note}", y_names.join(", ")),
        (false, true) => format!(
            "{} against {x_key}{note}; hollow: did not converge",
            y_names.join(", ")
        ),
    };
    let y_label = if branches_drawn && not_converged > 0 {
        "mean state Σₛ s·z(s) of the T-BR end point".to_string()
    } else if branches_drawn {
        "T-MFE mean state Σₛ s·z*(s)".to_string()
    } else if y_names.len() == 1 {
        metric_label(&y_names[0])
    } else {
        y_names.join(", ")
    };
    Ok(Chart::Figure(Figure {
        title,
        x_label: axis_label(&x_key),
        y_label,
        y_scale: if logish && all_positive {
            YScale::Log
        } else {
            YScale::Linear
        },
        x_categories: categories,
        x_integer: false,
        x_log,
        y_from_zero: false,
        series,
    }))
}
