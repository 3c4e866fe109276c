//! Charts of runs: final mean fields (bars, CDFs) and per-iteration traces (mean state,
//! L1, W1, consistency, exploitability), with their series names and references.

use super::*;

/// A series before it is drawn: runs of one kind (one per seed), averaged.
pub(super) struct Item {
    name: String,
    kind: InputKind,
    /// One directory per seed (for solve: the branch directory).
    dirs: Vec<PathBuf>,
    /// An exact T-BR result (drawn in black / grey).
    exact: bool,
    /// The greatest of two extremal branches (grey, or dashed).
    greatest: bool,
}

pub(super) fn dir_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

pub(super) fn branch_name(branch: &str) -> &'static str {
    match branch {
        "least" => "least T-MFE",
        "greatest" => "greatest T-MFE",
        _ => "T-MFE (exact T-BR)",
    }
}

/// The name of a solve run's series: [`branch_name`] when the run converged (its files say
/// so in their footers), else what it is: an end point that is not an equilibrium.
pub(super) fn solve_item_name(branch: &str, dir: &Path) -> String {
    let table = crate::output::read_parquet(&dir.join(crate::output::EQUILIBRIUM_FILE)).ok();
    let meta = |k: &str| {
        table
            .as_ref()
            .and_then(|t| t.metadata(k).map(str::to_owned))
    };
    let algo = meta(crate::output::KEY_ALGO).unwrap_or_else(|| "tbr".into());
    let converged = meta(crate::output::KEY_CONVERGED).is_none_or(|c| c == "true");
    let mixed = meta(crate::output::KEY_MIXED).is_some_and(|c| c == "true");
    let start = match branch {
        "least" => "lowest-start ",
        "greatest" => "highest-start ",
        _ => "",
    };
    match (converged, algo.as_str()) {
        (true, "tbr") => branch_name(branch).into(),
        (true, a) if mixed => format!("{start}mixed equilibrium ({a})"),
        (true, a) => format!("{start}T-MFE ({a})"),
        (false, a) => format!("{start}{a} end point, NOT converged (not an equilibrium)"),
    }
}

pub(super) fn wrong_input(input: &Input, kind: PlotKind, what: &str) -> Error {
    Error::Input {
        path: input.path().to_path_buf(),
        key: "(directory)".into(),
        reason: format!("--kind {kind} cannot draw {what}"),
    }
}

/// The items of one input, labelled (the `--label` override applied).
pub(super) fn items(input: &Input, kind: PlotKind) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    match &input.source {
        Source::Solve(dir) => {
            for (b, d) in solve_branches(dir) {
                out.push(Item {
                    name: solve_item_name(b, &d),
                    kind: InputKind::Solve,
                    dirs: vec![d],
                    exact: true,
                    greatest: b == "greatest",
                });
            }
        }
        Source::Learn(dir) => out.push(Item {
            name: learn_label(dir).unwrap_or_else(|| dir_name(dir)),
            kind: InputKind::Learn,
            dirs: vec![dir.clone()],
            exact: false,
            greatest: false,
        }),
        Source::FiniteN(_) => {
            return Err(wrong_input(
                input,
                kind,
                "a finite-n study (use --kind finite-n)",
            ))
        }
        Source::NashGap(_) => {
            return Err(wrong_input(
                input,
                kind,
                "a nash-gap study (use --kind nash-gap)",
            ))
        }
        Source::Sweep(s) => {
            let run_kind = s.run_kind()?;
            if run_kind == InputKind::FiniteN {
                return Err(wrong_input(
                    input,
                    kind,
                    "a finite-n sweep (use --kind finite-n, or --kind sweep --y rate)",
                ));
            }
            // Only finished runs (summary.json is written last), so a running sweep plots.
            let mut groups = s.groups();
            for g in &mut groups {
                g.runs
                    .retain(|&i| s.run_dir(i).join(crate::output::SUMMARY_FILE).is_file());
            }
            groups.retain(|g| !g.runs.is_empty());
            if groups.is_empty() {
                return Err(Error::Input {
                    path: s.dir.join("runs"),
                    key: "(directory)".into(),
                    reason: "no finished run (no runs/<id>/summary.json)".into(),
                });
            }
            let single = groups.len() == 1;
            for g in groups {
                let mut name = if g.label.is_empty() {
                    dir_name(&s.dir)
                } else {
                    g.label.clone()
                };
                if single && !g.label.is_empty() && input.label.is_none() {
                    name = g.label.clone();
                }
                match run_kind {
                    InputKind::Solve => {
                        let first = s.run_dir(g.runs[0]);
                        for (b, _) in solve_branches(&first) {
                            let dirs = g
                                .runs
                                .iter()
                                .map(|&i| {
                                    let d = s.run_dir(i);
                                    if b.is_empty() {
                                        d
                                    } else {
                                        d.join(b)
                                    }
                                })
                                .collect();
                            let n = if b.is_empty() {
                                name.clone()
                            } else {
                                format!("{name}, {}", branch_name(b))
                            };
                            out.push(Item {
                                name: n,
                                kind: InputKind::Solve,
                                dirs,
                                exact: false,
                                greatest: b == "greatest",
                            });
                        }
                        if solve_branches(&first).is_empty() {
                            return Err(Error::Input {
                                path: first,
                                key: "(directory)".into(),
                                reason: "a solve run without equilibrium.parquet (unfinished?)"
                                    .into(),
                            });
                        }
                    }
                    _ => out.push(Item {
                        name,
                        kind: InputKind::Learn,
                        dirs: g.runs.iter().map(|&i| s.run_dir(i)).collect(),
                        exact: false,
                        greatest: false,
                    }),
                }
            }
        }
    }
    // An empty label keeps the series' own names (a placeholder to label a later input).
    if let Some(l) = input.label.as_ref().filter(|l| !l.is_empty()) {
        if out.len() == 1 {
            out[0].name = l.clone();
        } else {
            for it in &mut out {
                it.name = format!("{l}: {}", it.name);
            }
        }
    }
    Ok(out)
}

/// ` (mean ± 1 sd over 5 seeds)` when some series average several runs.
/// The items of every input. Several sweeps (or several solve outputs) without `--label`
/// prefix their series with the directory name, as their names may repeat; several solve
/// outputs take palette colours instead of black and grey.
pub(super) fn all_items(inputs: &[Input], kind: PlotKind) -> Result<Vec<Vec<Item>>> {
    let sweeps = inputs
        .iter()
        .filter(|i| i.kind() == InputKind::Sweep)
        .count();
    let solves = inputs
        .iter()
        .filter(|i| i.kind() == InputKind::Solve)
        .count();
    inputs
        .iter()
        .map(|input| {
            let mut its = items(input, kind)?;
            if let Source::Sweep(s) = &input.source {
                if sweeps > 1 && input.label.is_none() {
                    for it in &mut its {
                        it.name = format!("{}: {}", dir_name(&s.dir), it.name);
                    }
                }
            }
            if solves > 1 && input.kind() == InputKind::Solve {
                for it in &mut its {
                    it.exact = false;
                    if input.label.is_none() {
                        it.name = format!("{}: {}", dir_name(input.path()), it.name);
                    }
                }
            }
            Ok(its)
        })
        .collect()
}

pub(super) fn seeds_note(items: &[Item]) -> String {
    let counts: Vec<usize> = items
        .iter()
        .map(|i| i.dirs.len())
        .filter(|&n| n > 1)
        .collect();
    match counts.first() {
        None => String::new(),
        Some(&n) if counts.iter().all(|&c| c == n) => format!(" (mean ± 1 sd over {n} seeds)"),
        Some(_) => " (mean ± 1 sd over the seeds)".into(),
    }
}

pub(super) fn color_of(item: &Item) -> Option<(u8, u8, u8)> {
    match (item.exact, item.greatest) {
        (true, false) => Some((0, 0, 0)),
        (true, true) => Some((130, 130, 130)),
        _ => None,
    }
}

pub(super) fn field_of(item: &Item, dir: &Path) -> Result<Vec<f64>> {
    match item.kind {
        InputKind::Solve => solve_field(dir),
        _ => learn_final_field(dir),
    }
}

pub(super) fn cdf(z: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    z.iter()
        .map(|p| {
            acc += p;
            acc
        })
        .collect()
}

/// Largest |z_least(s) − z_greatest(s)| at which two extremal T-MFE count as one (T-BR stops
/// at a tolerance, so equal equilibria differ in the last digits).
pub(super) const COINCIDE: f64 = 1e-8;

pub(super) fn field_chart(inputs: &[Input], kind: PlotKind, req: &PlotRequest) -> Result<Chart> {
    let mut all = Vec::new();
    for (input, mut its) in inputs.iter().zip(all_items(inputs, kind)?) {
        // A solve run whose least and greatest T-MFE coincide shows one series.
        if let (Source::Solve(_), [a, b]) = (&input.source, its.as_slice()) {
            let (za, zb) = (solve_field(&a.dirs[0])?, solve_field(&b.dirs[0])?);
            let same =
                za.len() == zb.len() && za.iter().zip(&zb).all(|(x, y)| (x - y).abs() <= COINCIDE);
            if same {
                let name = match &input.label {
                    Some(l) => l.clone(),
                    None => "T-MFE (least = greatest)".into(),
                };
                its.truncate(1);
                its[0].name = name;
            }
        }
        all.extend(its);
    }
    let shared = shared_tmfe(&all, req.tmfe)?;
    let colors = companion_colors(&all, req.tmfe && shared.is_none());
    let mut series = Vec::new();
    let mut states = 0;
    for (item, &color) in all.iter().zip(&colors) {
        let fields = item
            .dirs
            .iter()
            .map(|d| {
                let z = field_of(item, d)?;
                Ok(if kind == PlotKind::Cdf { cdf(&z) } else { z })
            })
            .collect::<Result<Vec<_>>>()?;
        let stats = mean_sd_vectors(&item.dirs[0], &fields)?;
        states = states.max(stats.len());
        let points = stats
            .iter()
            .enumerate()
            .map(|(s, &(m, _))| (s as f64, m))
            .collect();
        // A fraction of agents (or a CDF) stays in [0, 1]: the ±sd bar is clipped there.
        let spread = if item.dirs.len() > 1 {
            stats
                .iter()
                .map(|&(m, sd)| ((m - sd).max(0.0), (m + sd).min(1.0)))
                .collect()
        } else {
            Vec::new()
        };
        series.push(Series {
            label: item.name.clone(),
            mark: if kind == PlotKind::Cdf {
                Mark::Step
            } else {
                Mark::Bars
            },
            points,
            spread,
            dashed: kind == PlotKind::Cdf && item.greatest,
            dotted: false,
            hollow: false,
            color,
        });
        if req.tmfe && shared.is_none() && item.kind == InputKind::Learn {
            let t = learn_tmfe(&item.dirs[0])?;
            series.push(tmfe_cdf(tmfe_label(item, &t), &t, color));
        }
    }
    if let Some(t) = &shared {
        series.push(tmfe_cdf(shared_tmfe_label(t), t, Some((0, 0, 0))));
    }
    let note = seeds_note(&all);
    let (title, y_label) = if kind == PlotKind::Cdf {
        (
            format!("CDF of the final mean field{note}"),
            "F(s) = z(0) + … + z(s) (fraction of agents)".to_string(),
        )
    } else {
        (
            format!("Final mean field{note}"),
            "z(s) (fraction of agents)".to_string(),
        )
    };
    Ok(Chart::Figure(Figure {
        title,
        x_label: "state s".into(),
        y_label,
        y_scale: YScale::Linear,
        x_categories: Vec::new(),
        x_integer: true,
        x_log: false,
        y_from_zero: true,
        series,
    }))
}

/// The first and last x of a series (`(0, 1)` when it has none).
pub(super) fn item_x_range(s: Option<&Series>) -> (f64, f64) {
    match s.map(|s| s.points.as_slice()) {
        Some([first, .., last]) => (first.0, last.0),
        Some([only]) => (only.0, only.0 + 1.0),
        _ => (0.0, 1.0),
    }
}

/// Where `--kind exploitability` draws values below it (zero up to the solvers' accuracy).
pub(super) const EXPLOITABILITY_FLOOR: f64 = 1e-10;

/// Each item's colour: [`color_of`], or with companion series (`--tmfe`, `--floor`) the
/// palette colour a learn item would take anyway, made explicit so that its companions share it.
pub(super) fn companion_colors(all: &[Item], companions: bool) -> Vec<Option<(u8, u8, u8)>> {
    let mut auto = 0;
    all.iter()
        .map(|item| match color_of(item) {
            Some(c) => Some(c),
            None if companions => {
                let RGBColor(r, g, b) = PALETTE[auto % AUTO];
                auto += 1;
                Some((r, g, b))
            }
            None => None,
        })
        .collect()
}

/// With `--tmfe`: the T-MFE every learn series shares (the same z*, e.g. several algorithms
/// on one scenario), drawn once in black; `None` when there is one learn series or they
/// differ (each then draws its own in its colour).
pub(super) fn shared_tmfe(all: &[Item], tmfe: bool) -> Result<Option<LearnTmfe>> {
    if !tmfe {
        return Ok(None);
    }
    let ts = all
        .iter()
        .filter(|it| it.kind == InputKind::Learn)
        .map(|it| learn_tmfe(&it.dirs[0]))
        .collect::<Result<Vec<_>>>()?;
    let same = |a: &LearnTmfe, b: &LearnTmfe| {
        a.converged == b.converged
            && a.z.len() == b.z.len()
            && a.z.iter().zip(&b.z).all(|(x, y)| (x - y).abs() <= COINCIDE)
    };
    Ok(match ts.split_first() {
        Some((first, rest)) if !rest.is_empty() && rest.iter().all(|t| same(first, t)) => {
            Some(first.clone())
        }
        _ => None,
    })
}

/// The legend name of a T-MFE every series shares.
pub(super) fn shared_tmfe_label(t: &LearnTmfe) -> String {
    if t.converged {
        "T-MFE z* (exact T-BR)".into()
    } else {
        "T-BR end point, NOT converged (not an equilibrium)".into()
    }
}

/// The dashed CDF of a series' T-MFE.
pub(super) fn tmfe_cdf(label: String, t: &LearnTmfe, color: Option<(u8, u8, u8)>) -> Series {
    Series {
        label,
        mark: Mark::Step,
        points: cdf(&t.z)
            .into_iter()
            .enumerate()
            .map(|(s, f)| (s as f64, f))
            .collect(),
        dashed: true,
        color,
        ..Series::default()
    }
}

/// The legend name of a learn series' own T-MFE (`--tmfe`).
pub(super) fn tmfe_label(item: &Item, t: &LearnTmfe) -> String {
    if t.converged {
        format!("{}: its T-MFE", item.name)
    } else {
        format!("{}: T-BR end point, NOT converged", item.name)
    }
}

pub(super) fn trace_chart(inputs: &[Input], kind: PlotKind, req: &PlotRequest) -> Result<Chart> {
    let metric = match kind {
        PlotKind::MeanState => Metric::MeanState,
        PlotKind::L1 => Metric::L1,
        PlotKind::W1 => Metric::W1,
        PlotKind::Consistency => Metric::Consistency,
        _ => Metric::Exploitability,
    };
    let all: Vec<Item> = all_items(inputs, kind)?.into_iter().flatten().collect();
    let reference = req.to.as_deref().map(reference_field).transpose()?;
    let floors = req.floor.as_deref().map(read_finite_n_series).transpose()?;
    let shared = shared_tmfe(&all, req.tmfe && kind == PlotKind::MeanState)?;
    let colors = companion_colors(&all, (req.tmfe && shared.is_none()) || floors.is_some());
    let mut series = Vec::new();
    let mut x_range = (f64::INFINITY, f64::NEG_INFINITY);
    for (item, &color) in all.iter().zip(&colors) {
        let (traces, to_tmfe) = match (&reference, item.kind) {
            (Some(r), InputKind::Learn) => {
                let to_ref = item
                    .dirs
                    .iter()
                    .map(|d| learn_trace_to(d, metric, r))
                    .collect::<Result<Vec<_>>>()?;
                let to_tmfe = if req.tmfe {
                    Some(
                        item.dirs
                            .iter()
                            .map(|d| learn_trace(d, metric))
                            .collect::<Result<Vec<_>>>()?,
                    )
                } else {
                    None
                };
                (to_ref, to_tmfe)
            }
            _ => (
                item.dirs
                    .iter()
                    .map(|d| match item.kind {
                        InputKind::Solve => solve_trace(d, metric),
                        _ => learn_trace(d, metric),
                    })
                    .collect::<Result<Vec<_>>>()?,
                None,
            ),
        };
        let color = color.map(|c| if item.exact { (0, 0, 0) } else { c });
        let several = item.dirs.len() > 1;
        let mut push = |label: String, traces: &[Vec<(f64, f64)>], dashed: bool| {
            let stats = mean_sd_traces(traces);
            for &(k, _, _) in &stats {
                x_range = (x_range.0.min(k), x_range.1.max(k));
            }
            series.push(Series {
                label,
                mark: Mark::Line,
                points: stats.iter().map(|&(k, m, _)| (k, m)).collect(),
                spread: if several {
                    stats.iter().map(|&(_, m, sd)| (m - sd, m + sd)).collect()
                } else {
                    Vec::new()
                },
                dashed,
                color,
                ..Series::default()
            });
        };
        match to_tmfe {
            Some(t) => {
                push(format!("{}: to z_ref", item.name), &traces, false);
                push(format!("{}: to its z*", item.name), &t, true);
            }
            None => push(item.name.clone(), &traces, item.greatest),
        }
        if req.tmfe
            && shared.is_none()
            && kind == PlotKind::MeanState
            && item.kind == InputKind::Learn
        {
            let t = learn_tmfe(&item.dirs[0])?;
            let (x0, x1) = item_x_range(series.last());
            series.push(Series {
                label: tmfe_label(item, &t),
                mark: Mark::Line,
                points: vec![(x0, t.mean_state), (x1, t.mean_state)],
                dashed: true,
                color,
                ..Series::default()
            });
        }
    }
    if let (Some(t), PlotKind::MeanState) = (&shared, kind) {
        if x_range.0 <= x_range.1 {
            series.push(Series {
                label: shared_tmfe_label(t),
                mark: Mark::Line,
                points: vec![(x_range.0, t.mean_state), (x_range.1, t.mean_state)],
                dashed: true,
                color: Some((0, 0, 0)),
                ..Series::default()
            });
        }
    }
    if let Some(floors) = floors {
        // Each N of the study: a dotted level line across the chart, in the colour of the
        // learn series with the same N (grey when none has it).
        let (x0, x1) = if x_range.0 <= x_range.1 {
            x_range
        } else {
            (0.0, 1.0)
        };
        for &(n, l1, _, _) in &floors.points {
            let color = all
                .iter()
                .zip(&colors)
                .find(|(it, _)| {
                    it.kind == InputKind::Learn
                        && learn_agents(&it.dirs[0]).is_some_and(|a| a as f64 == n)
                })
                .and_then(|(_, c)| *c)
                .unwrap_or((120, 120, 120));
            series.push(Series {
                label: format!("finite-N floor at N = {n} (to z*)"),
                mark: Mark::Line,
                points: vec![(x0, l1), (x1, l1)],
                dotted: true,
                color: Some(color),
                ..Series::default()
            });
        }
    }
    // Exploitabilities below the solvers' accuracy (4·tq_tol/(1 − γ) = 4·10⁻¹¹ by default)
    // are zero up to rounding, and may be exactly 0 or a tiny negative: a log axis would drop
    // them silently (a gap, or a dip of the seed mean) and stretch itself to fit. They are
    // drawn at the floor instead, and the axis says so.
    let mut floored = false;
    if kind == PlotKind::Exploitability {
        for s in &mut series {
            // The points only: a band whose lower edge is at or below 0 (mean − sd) keeps
            // the log axis's rule (not drawn there) rather than a wall down to the floor.
            for p in s.points.iter_mut().map(|p| &mut p.1) {
                if *p < EXPLOITABILITY_FLOOR {
                    floored = true;
                    *p = EXPLOITABILITY_FLOOR;
                }
            }
        }
    }
    let note = seeds_note(&all);
    let (title, y_label, y_scale) = match kind {
        PlotKind::MeanState => (
            format!("Mean state against iteration{note}"),
            "mean state Σₛ s·zₖ(s)",
            YScale::Linear,
        ),
        PlotKind::L1 if reference.is_some() => (
            format!("L1 distance to the reference mean field against iteration{note}"),
            if req.tmfe {
                "L1 distance ‖zₖ − z_ref‖₁ (solid), ‖zₖ − z*‖₁ (dashed)"
            } else {
                "L1 distance to the reference, ‖zₖ − z_ref‖₁"
            },
            YScale::Log,
        ),
        PlotKind::L1 => (
            format!("L1 distance to the T-MFE against iteration{note}"),
            "L1 distance to z*, ‖zₖ − z*‖₁",
            YScale::Log,
        ),
        PlotKind::W1 if reference.is_some() => (
            format!("Wasserstein-1 distance to the reference mean field against iteration{note}"),
            if req.tmfe {
                "W₁ distance to z_ref (solid), to z* (dashed)"
            } else {
                "W₁ distance to the reference, Σₜ |Fₖ(t) − F_ref(t)|"
            },
            YScale::Log,
        ),
        PlotKind::W1 => (
            format!("Wasserstein-1 distance to the T-MFE against iteration{note}"),
            "W₁ distance to z*, Σₜ |Fₖ(t) − F*(t)| (F the CDFs)",
            YScale::Log,
        ),
        PlotKind::Consistency => (
            format!("Consistency of the mean field against iteration{note}"),
            "consistency ‖Φ(zₖ, μₖ) − zₖ‖₁",
            YScale::Log,
        ),
        _ => (
            format!("Exploitability against iteration{note}"),
            "exploitability maxₛ V*(s) − V^μₖ(s)",
            YScale::Log,
        ),
    };
    let y_label = if floored {
        format!("{y_label} (< 10⁻¹⁰ drawn at 10⁻¹⁰)")
    } else {
        y_label.to_string()
    };
    Ok(Chart::Figure(Figure {
        title,
        x_label: "iteration k".into(),
        y_label,
        y_scale,
        x_categories: Vec::new(),
        x_integer: true,
        x_log: false,
        y_from_zero: false,
        series,
    }))
}
