//! The finite-N and ε-Nash-gap log-log charts.

use super::*;

pub(super) fn finite_n_chart(inputs: &[Input]) -> Result<Chart> {
    let mut series = Vec::new();
    for input in inputs {
        let mut its = Vec::new();
        match &input.source {
            Source::FiniteN(dir) => its.push(read_finite_n_series(dir)?),
            Source::Sweep(s) if s.run_kind()? == InputKind::FiniteN => {
                let groups = s.groups();
                for g in groups {
                    for &i in &g.runs {
                        let mut one = read_finite_n_series(&s.run_dir(i))?;
                        let seed = format!("seed {}", s.runs[i].seed);
                        one.label = if g.label.is_empty() {
                            seed
                        } else {
                            format!("{}, {seed}", g.label)
                        };
                        its.push(one);
                    }
                }
            }
            _ => {
                return Err(wrong_input(
                    input,
                    PlotKind::FiniteN,
                    &format!("a {} output", input.run_kind()?.command()),
                ))
            }
        }
        if let Some(l) = &input.label {
            if its.len() == 1 {
                its[0].label = l.clone();
            } else {
                for s in &mut its {
                    s.label = format!("{l}: {}", s.label);
                }
            }
        }
        series.extend(its);
    }
    Ok(Chart::LogLog(LogLogPlot {
        title: "finite-N error against the mean-field limit".into(),
        x_label: "N (agents)".into(),
        y_label: "time-average ||z^N_t - z*||_1".into(),
        series,
        reference_slope: Some(-0.5),
    }))
}

// ---------------------------------------------------------------------------------------
// ε-Nash gap

pub(super) fn nash_gap_chart(inputs: &[Input]) -> Result<Chart> {
    let mut series = Vec::new();
    let mut limits = Vec::new();
    for input in inputs {
        let Source::NashGap(dir) = &input.source else {
            return Err(wrong_input(
                input,
                PlotKind::NashGap,
                &format!("a {} output", input.run_kind()?.command()),
            ));
        };
        let (mut one, limit) = read_nash_gap_series(dir)?;
        if let Some(l) = &input.label {
            one.label = l.clone();
        }
        // μ's mean-field exploitability: the N → ∞ limit, drawn as a flat line when positive.
        if limit > 1e-10 {
            limits.push(LogLogSeries {
                label: format!("{}: mean-field limit", one.label),
                points: one
                    .points
                    .iter()
                    .map(|p| (p.0, limit, limit, limit))
                    .collect(),
                fit: Some((0.0, limit.ln())),
            });
        }
        series.push(one);
    }
    series.extend(limits);
    Ok(Chart::LogLog(LogLogPlot {
        title: "epsilon-Nash gap of the mean-field strategy among N agents".into(),
        x_label: "N (agents)".into(),
        y_label: "gap: best own-state deviation's gain (max over s0)".into(),
        series,
        reference_slope: Some(-1.0),
    }))
}
