//! `mfgsim plot` and `output::plot`: every chart kind from small hand-built output
//! directories (solve, learn, finite-n, sweep), the numbers the readers compute, the automatic
//! kind and the error messages.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};
use mfgsim::output::plot::{
    build_chart, write_chart, Chart, Figure, Mark, PlotKind, PlotRequest, YScale,
};
use mfgsim::output::{write_json, write_parquet, RunMetadata};
use serde_json::json;

use crate::util::root;

enum Col {
    F(Vec<f64>),
    I(Vec<i64>),
    S(Vec<&'static str>),
    B(Vec<bool>),
}

fn table(path: &Path, cols: Vec<(&str, Col)>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols
        .into_iter()
        .map(|(name, c)| {
            let a: ArrayRef = match c {
                Col::F(v) => Arc::new(Float64Array::from(v)),
                Col::I(v) => Arc::new(Int64Array::from(v)),
                Col::S(v) => Arc::new(StringArray::from(v)),
                Col::B(v) => Arc::new(BooleanArray::from(v)),
            };
            (Field::new(name, a.data_type().clone(), false), a)
        })
        .unzip();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    write_parquet(path, &batch, &RunMetadata::new("", 0)).unwrap();
}

/// A learn run: `zs` is the mean field per iteration (1-based), on 3 states.
fn learn_dir(dir: &Path, zs: &[[f64; 3]], algo: &str) {
    let n = zs.len();
    let ms: Vec<f64> = zs.iter().map(|z| z[1] + 2.0 * z[2]).collect();
    let zstar = [0.2, 0.3, 0.5];
    let l1: Vec<f64> = zs
        .iter()
        .map(|z| z.iter().zip(zstar).map(|(a, b)| (a - b).abs()).sum())
        .collect();
    // W1 = |F_z(0) − F*(0)| + |F_z(1) − F*(1)| on 3 states.
    let w1: Vec<f64> = zs
        .iter()
        .map(|z| (z[0] - zstar[0]).abs() + (z[0] + z[1] - zstar[0] - zstar[1]).abs())
        .collect();
    table(
        &dir.join("snapshots.parquet"),
        vec![
            ("iteration", Col::I((1..=n as i64).collect())),
            ("z_0", Col::F(zs.iter().map(|z| z[0]).collect())),
            ("z_1", Col::F(zs.iter().map(|z| z[1]).collect())),
            ("z_2", Col::F(zs.iter().map(|z| z[2]).collect())),
            ("mean_state", Col::F(ms)),
            ("l1_to_tmfe", Col::F(l1)),
            ("w1_to_tmfe", Col::F(w1)),
            (
                "consistency",
                Col::F((1..=n).map(|k| 0.01 / (1u32 << k) as f64).collect()),
            ),
            (
                "exploitability",
                Col::F((1..=n).map(|k| 0.1 / k as f64).collect()),
            ),
        ],
    );
    write_json(
        &dir.join("summary.json"),
        &json!({"command": "learn", "algo": algo, "agents": 1000,
                "tmfe": {"z": zstar, "mean_state": 1.3, "converged": true}}),
    )
    .unwrap();
}

/// A T-BR run directory: trajectory `zs` (iteration 0 = start) and `equilibrium.parquet`
/// holding its last mean field.
fn solve_run(dir: &Path, zs: &[[f64; 3]]) {
    let n = zs.len();
    table(
        &dir.join("trajectory.parquet"),
        vec![
            ("iteration", Col::I((0..n as i64).collect())),
            ("z_0", Col::F(zs.iter().map(|z| z[0]).collect())),
            ("z_1", Col::F(zs.iter().map(|z| z[1]).collect())),
            ("z_2", Col::F(zs.iter().map(|z| z[2]).collect())),
            (
                "mean_state",
                Col::F(zs.iter().map(|z| z[1] + 2.0 * z[2]).collect()),
            ),
        ],
    );
    let z = zs[n - 1];
    table(
        &dir.join("equilibrium.parquet"),
        vec![("state", Col::I(vec![0, 1, 2])), ("z", Col::F(z.to_vec()))],
    );
}

fn solve_dir(dir: &Path) {
    solve_run(dir, &[[1.0, 0.0, 0.0], [0.4, 0.3, 0.3], [0.2, 0.3, 0.5]]);
    write_json(&dir.join("summary.json"), &json!({"command": "solve"})).unwrap();
}

fn extremal_dir(dir: &Path, least: [f64; 3], greatest: [f64; 3]) {
    solve_run(&dir.join("least"), &[[1.0, 0.0, 0.0], least]);
    solve_run(&dir.join("greatest"), &[[0.0, 0.0, 1.0], greatest]);
    write_json(&dir.join("summary.json"), &json!({"command": "solve"})).unwrap();
}

/// A learn sweep: learner.algo ∈ {online, iql} × seeds {0, 1}; final fields
/// online: [0.2, 0.3, 0.5], [0.4, 0.3, 0.3]; iql: [0.1, 0.1, 0.8] twice.
fn learn_sweep(dir: &Path) {
    let finals = [
        [0.2, 0.3, 0.5],
        [0.4, 0.3, 0.3],
        [0.1, 0.1, 0.8],
        [0.1, 0.1, 0.8],
    ];
    let algos = ["online", "online", "iql", "iql"];
    let mut runs = Vec::new();
    for (i, z) in finals.iter().enumerate() {
        let id = format!("r{i:04}");
        learn_dir(
            &dir.join("runs").join(&id),
            &[[1.0 / 3.0; 3], [0.5, 0.25, 0.25], *z],
            algos[i],
        );
        runs.push(json!({"id": id, "values": {"learner.algo": algos[i]}, "seed": i % 2}));
    }
    write_json(
        &dir.join("sweep.json"),
        &json!({"command": "learn", "scenario_file": "x.toml", "scenario": "",
                "mfgsim_version": "0.1.0", "start": null,
                "grid": [{"key": "learner.algo", "values": ["online", "iql"]}],
                "seeds": [0, 1], "runs": runs}),
    )
    .unwrap();
    table(
        &dir.join("sweep.parquet"),
        vec![
            ("run", Col::S(vec!["r0000", "r0001", "r0002", "r0003"])),
            ("learner.algo", Col::S(algos.to_vec())),
            ("seed", Col::I(vec![0, 1, 0, 1])),
            ("final_l1_to_tmfe", Col::F(vec![0.0, 0.4, 0.6, 0.6])),
            ("final_mean_state", Col::F(vec![1.3, 0.9, 1.7, 1.7])),
            ("final_consistency", Col::F(vec![1e-3, 2e-3, 4e-3, 4e-3])),
            ("total_real_transitions", Col::I(vec![10, 20, 30, 40])),
        ],
    );
}

/// A solve sweep from extremal starts: model.infection_constant ∈ {0.5, 0.8, 1.0} ×
/// model.gamma ∈ {0.9} × seeds {0, 1}; the branches split at 0.8.
fn branch_sweep(dir: &Path) {
    branch_sweep_with(dir, [true; 6]);
}

/// [`branch_sweep`] with the given `greatest_converged` per run.
fn branch_sweep_with(dir: &Path, greatest_converged: [bool; 6]) {
    let cs = [0.5, 0.5, 0.8, 0.8, 1.0, 1.0];
    let least = [0.5, 0.5, 0.6, 0.8, 1.5, 1.5];
    let greatest = [0.5, 0.5, 1.8, 1.8, 1.5, 1.5];
    let mut runs = Vec::new();
    let mut ids = Vec::new();
    for i in 0..6 {
        let id = format!("r{i:04}");
        extremal_dir(
            &dir.join("runs").join(&id),
            [0.6, 0.3, 0.1],
            [0.1, 0.3, 0.6],
        );
        runs.push(
            json!({"id": id, "values": {"model.infection_constant": cs[i],
                          "model.gamma": 0.9}, "seed": i % 2}),
        );
        ids.push(["r0000", "r0001", "r0002", "r0003", "r0004", "r0005"][i]);
    }
    write_json(
        &dir.join("sweep.json"),
        &json!({"command": "solve", "start": "extremal",
                "grid": [{"key": "model.infection_constant", "values": [0.5, 0.8, 1.0]},
                         {"key": "model.gamma", "values": [0.9]}],
                "seeds": [0, 1], "runs": runs}),
    )
    .unwrap();
    table(
        &dir.join("sweep.parquet"),
        vec![
            ("run", Col::S(ids)),
            ("model.infection_constant", Col::F(cs.to_vec())),
            ("model.gamma", Col::F(vec![0.9; 6])),
            ("seed", Col::I(vec![0, 1, 0, 1, 0, 1])),
            ("least_converged", Col::B(vec![true; 6])),
            ("greatest_converged", Col::B(greatest_converged.to_vec())),
            ("least_mean_state", Col::F(least.to_vec())),
            ("greatest_mean_state", Col::F(greatest.to_vec())),
        ],
    );
}

/// A fictitious-play solve sweep at c ∈ {0.6, 0.9}: mixed equilibria, one seed.
fn mixed_sweep(dir: &Path) {
    let mut runs = Vec::new();
    for (i, c) in [0.6, 0.9].iter().enumerate() {
        let id = format!("r{i:04}");
        solve_dir(&dir.join("runs").join(&id));
        runs.push(json!({"id": id, "values": {"model.infection_constant": c}, "seed": 0}));
    }
    write_json(
        &dir.join("sweep.json"),
        &json!({"command": "solve", "start": null,
                "grid": [{"key": "model.infection_constant", "values": [0.6, 0.9]}],
                "seeds": [0], "runs": runs}),
    )
    .unwrap();
    table(
        &dir.join("sweep.parquet"),
        vec![
            ("run", Col::S(vec!["r0000", "r0001"])),
            ("model.infection_constant", Col::F(vec![0.6, 0.9])),
            ("seed", Col::I(vec![0, 0])),
            ("converged", Col::B(vec![true, true])),
            ("mixed", Col::B(vec![true, true])),
            ("mean_state", Col::F(vec![1.2, 1.1])),
        ],
    );
}

fn finite_n_dir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    write_json(
        &dir.join("summary.json"),
        &json!({"command": "finite-n", "scenario": "gig", "engine": "agents",
                "policy": "tmfe",
                "per_n": [{"agents": 100, "mean_l1": 0.1, "ci_l1": [0.09, 0.11]},
                          {"agents": 10000, "mean_l1": 0.01, "ci_l1": [0.009, 0.011]}],
                "fit": {"slope": -0.5, "intercept": 0.0}}),
    )
    .unwrap();
}

/// All fixtures under one temporary directory.
struct Fixtures {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Fixtures {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path().to_path_buf();
        solve_dir(&r.join("tbr"));
        extremal_dir(&r.join("ext"), [0.6, 0.3, 0.1], [0.1, 0.3, 0.6]);
        extremal_dir(&r.join("unique"), [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]);
        learn_dir(
            &r.join("learn"),
            &[[0.5, 0.3, 0.2], [0.3, 0.3, 0.4], [0.2, 0.3, 0.5]],
            "online",
        );
        learn_sweep(&r.join("algos"));
        branch_sweep(&r.join("branches"));
        finite_n_dir(&r.join("finite"));
        Fixtures { _tmp: tmp, root: r }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn req(&self, inputs: &[&str], kind: Option<PlotKind>) -> PlotRequest {
        PlotRequest {
            inputs: inputs.iter().map(|i| self.p(i)).collect(),
            kind,
            ..PlotRequest::default()
        }
    }
}

fn figure(req: &PlotRequest) -> Figure {
    match build_chart(req).unwrap().chart {
        Chart::Figure(f) => f,
        other => panic!("not a figure: {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Width and height of a PNG (IHDR) after checking the signature.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

fn check_svg(path: &Path, w: u32, h: u32) {
    let svg = std::fs::read_to_string(path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
    assert!(svg.contains(&format!("width=\"{w}\" height=\"{h}\"")));
    assert!(svg.trim_end().ends_with("</svg>"));
    // Text is outlined: no <text> element needs a font, and the labels are there as paths.
    assert!(!svg.contains("<text"));
    assert!(
        svg.contains("<title>state s</title>")
            || svg.contains("<title>iteration k</title>")
            || svg.contains("<title>N (agents)</title>")
            || svg.contains("<title>infection constant c_f (model.")
    );
}

#[test]
fn every_kind_renders_as_png_and_svg_of_the_requested_size() {
    let f = Fixtures::new();
    let out = tempfile::tempdir().unwrap();
    let cases: Vec<(PlotRequest, &str)> = vec![
        (
            f.req(&["tbr", "algos", "learn"], Some(PlotKind::Bars)),
            "bars",
        ),
        (f.req(&["ext", "algos"], Some(PlotKind::Cdf)), "cdf"),
        (f.req(&["tbr", "algos"], Some(PlotKind::MeanState)), "mean"),
        (f.req(&["tbr", "algos", "learn"], Some(PlotKind::L1)), "l1"),
        (f.req(&["tbr", "algos", "learn"], Some(PlotKind::W1)), "w1"),
        (
            f.req(&["algos", "learn"], Some(PlotKind::Consistency)),
            "consistency",
        ),
        (
            f.req(&["algos", "learn"], Some(PlotKind::Exploitability)),
            "expl",
        ),
        (f.req(&["finite"], Some(PlotKind::FiniteN)), "finite"),
        (f.req(&["branches"], Some(PlotKind::Sweep)), "sweep"),
    ];
    for (req, name) in cases {
        let chart = build_chart(&req).unwrap().chart;
        let png = out.path().join(format!("{name}.png"));
        write_chart(&png, &chart, 640, 420).unwrap();
        assert_eq!(png_size(&png), (640, 420), "{name}");
        let svg = out.path().join(format!("{name}.svg"));
        write_chart(&svg, &chart, 500, 360).unwrap();
        check_svg(&svg, 500, 360);
    }
    let err = write_chart(
        &out.path().join("x.jpg"),
        &build_chart(&f.req(&["tbr"], None)).unwrap().chart,
        640,
        480,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("x.jpg") && err.contains(".png or .svg"),
        "{err}"
    );
}

#[test]
fn the_kind_is_chosen_from_the_inputs() {
    let f = Fixtures::new();
    let kind = |inputs: &[&str], x: Option<&str>| {
        let mut r = f.req(inputs, None);
        r.x = x.map(str::to_owned);
        build_chart(&r).unwrap().kind
    };
    assert_eq!(kind(&["tbr"], None), PlotKind::Bars);
    assert_eq!(kind(&["ext", "tbr"], None), PlotKind::Bars);
    assert_eq!(kind(&["learn"], None), PlotKind::MeanState);
    assert_eq!(kind(&["tbr", "algos"], None), PlotKind::MeanState);
    assert_eq!(
        kind(&["finite", "finite/summary.json"], None),
        PlotKind::FiniteN
    );
    assert_eq!(kind(&["branches"], None), PlotKind::Sweep);
    assert_eq!(kind(&["algos"], Some("learner.algo")), PlotKind::Sweep);
    // The default file names follow the kind.
    assert_eq!(PlotKind::MeanState.to_string(), "mean-state");
}

#[test]
fn bars_average_the_seeds_of_each_sweep_group() {
    let f = Fixtures::new();
    let mut req = f.req(&["tbr", "algos"], Some(PlotKind::Bars));
    req.labels = vec!["T-BR".into()];
    let fig = figure(&req);
    let labels: Vec<&str> = fig.series.iter().map(|s| s.label.as_str()).collect();
    // Legend names in the paper's notation, not raw grid keys.
    assert_eq!(labels, ["T-BR", "online TMFQ", "IQL"]);
    assert!(fig.series.iter().all(|s| s.mark == Mark::Bars));
    assert_eq!(
        fig.series[0].points,
        vec![(0.0, 0.2), (1.0, 0.3), (2.0, 0.5)]
    );
    assert!(fig.series[0].spread.is_empty(), "one run: no error bar");
    // online: seeds [0.2, 0.3, 0.5] and [0.4, 0.3, 0.3]: mean [0.3, 0.3, 0.4],
    // sample sd [√0.02, 0, √0.02].
    let online = &fig.series[1];
    let sd = 0.02f64.sqrt();
    for (k, (m, s)) in [(0.3, sd), (0.3, 0.0), (0.4, sd)].iter().enumerate() {
        assert!(close(online.points[k].1, *m), "{:?}", online.points);
        assert!(close(online.spread[k].0, m - s) && close(online.spread[k].1, m + s));
    }
    assert!(
        fig.title.contains("mean ± 1 sd over 2 seeds"),
        "{}",
        fig.title
    );
    assert_eq!(fig.x_label, "state s");
    assert_eq!(fig.y_label, "z(s) (fraction of agents)");

    // A run without summary.json has not finished: it is left out (online: one seed left).
    std::fs::remove_file(f.p("algos/runs/r0001/summary.json")).unwrap();
    let fig = figure(&f.req(&["algos"], Some(PlotKind::Bars)));
    assert_eq!(
        fig.series[0].points,
        vec![(0.0, 0.2), (1.0, 0.3), (2.0, 0.5)]
    );
    assert!(fig.series[0].spread.is_empty());
    assert!(fig.title.contains("over 2 seeds"), "{}", fig.title);

    // Several solves or sweeps: names prefixed by the directory, solves coloured.
    let fig = figure(&f.req(&["tbr", "ext", "algos", "algos"], Some(PlotKind::Bars)));
    let labels: Vec<&str> = fig.series.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "tbr: T-MFE (exact T-BR)",
            "ext: least T-MFE",
            "ext: greatest T-MFE",
            "algos: online TMFQ",
            "algos: IQL",
            "algos: online TMFQ",
            "algos: IQL"
        ]
    );
    assert!(fig.series.iter().all(|s| s.color.is_none()));

    // --where keeps one group; the CDF is the running sum.
    let mut req = f.req(&["algos"], Some(PlotKind::Cdf));
    req.filters = vec![("learner.algo".into(), "iql".into())];
    let fig = figure(&req);
    assert_eq!(fig.series.len(), 1);
    assert_eq!(fig.series[0].mark, Mark::Step);
    let ys: Vec<f64> = fig.series[0].points.iter().map(|p| p.1).collect();
    assert!(
        close(ys[0], 0.1) && close(ys[1], 0.2) && close(ys[2], 1.0),
        "{ys:?}"
    );
}

#[test]
fn extremal_solves_give_two_branches_or_one_when_they_coincide() {
    let f = Fixtures::new();
    let fig = figure(&f.req(&["ext"], Some(PlotKind::Bars)));
    let labels: Vec<&str> = fig.series.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["least T-MFE", "greatest T-MFE"]);
    let fig = figure(&f.req(&["unique"], Some(PlotKind::Bars)));
    assert_eq!(fig.series.len(), 1);
    assert_eq!(fig.series[0].label, "T-MFE (least = greatest)");
    // Their trajectories are two curves on the iteration axis.
    let fig = figure(&f.req(&["unique"], Some(PlotKind::MeanState)));
    assert_eq!(fig.series.len(), 2);
    assert_eq!(fig.series[1].points, vec![(0.0, 2.0), (1.0, 1.3)]);
}

#[test]
fn iteration_charts_read_traces_and_average_seeds() {
    let f = Fixtures::new();
    let fig = figure(&f.req(&["algos", "learn"], Some(PlotKind::MeanState)));
    assert_eq!(fig.x_label, "iteration k");
    assert_eq!(fig.y_scale, YScale::Linear);
    // online group, iteration 3: mean states 1.3 and 0.9 → mean 1.1, sd √0.08.
    let online = &fig.series[0];
    assert_eq!(online.points.len(), 3);
    assert_eq!(online.points[2].0, 3.0);
    assert!(close(online.points[2].1, 1.1));
    assert!(close(
        online.spread[2].1 - online.points[2].1,
        0.08f64.sqrt()
    ));
    assert_eq!(fig.series[2].label, "online TMFQ (N = 1000)");

    let fig = figure(&f.req(&["tbr", "learn"], Some(PlotKind::L1)));
    assert_eq!(fig.y_scale, YScale::Log);
    // T-BR: L1 to its own result z* = [0.2, 0.3, 0.5]: 1.6, 0.4, 0.
    let tbr = &fig.series[0];
    assert_eq!(tbr.label, "T-MFE (exact T-BR)");
    let ys: Vec<f64> = tbr.points.iter().map(|p| p.1).collect();
    assert!(
        close(ys[0], 1.6) && close(ys[1], 0.4) && ys[2] == 0.0,
        "{ys:?}"
    );

    let fig = figure(&f.req(&["learn"], Some(PlotKind::Exploitability)));
    assert_eq!(fig.series[0].points[1], (2.0, 0.05));

    // W1 on the ordered states, log y, the formula on the axis.
    let fig = figure(&f.req(&["tbr", "learn"], Some(PlotKind::W1)));
    assert_eq!(fig.y_scale, YScale::Log);
    assert!(
        fig.y_label.contains("Σₜ |Fₖ(t) − F*(t)|"),
        "{}",
        fig.y_label
    );
    assert!(fig.title.starts_with("Wasserstein-1"), "{}", fig.title);
    // T-BR, to its own result F* = (0.2, 0.5): F = (1, 1) → 0.8 + 0.5; (0.4, 0.7) → 0.2 + 0.2.
    let ys: Vec<f64> = fig.series[0].points.iter().map(|p| p.1).collect();
    assert!(
        close(ys[0], 1.3) && close(ys[1], 0.4) && ys[2] == 0.0,
        "{ys:?}"
    );
    // Learn: the w1_to_tmfe column; F = (0.5, 0.8) → 0.3 + 0.3, (0.3, 0.6) → 0.1 + 0.1.
    let ys: Vec<f64> = fig.series[1].points.iter().map(|p| p.1).collect();
    assert!(close(ys[0], 0.6) && close(ys[1], 0.2), "{ys:?}");
    // Mass that moves by more than one state counts more than once: at T-BR's start
    // W1 = 1.3 > L1/2 = 0.8.
    let l1 = figure(&f.req(&["tbr"], Some(PlotKind::L1)));
    assert!(close(l1.series[0].points[0].1, 1.6));

    // Consistency: the learn column, log y, the formula on the axis.
    let fig = figure(&f.req(&["algos", "learn"], Some(PlotKind::Consistency)));
    assert_eq!(fig.y_scale, YScale::Log);
    assert_eq!(fig.y_label, "consistency ‖Φ(zₖ, μₖ) − zₖ‖₁");
    assert_eq!(
        fig.series[2].points,
        vec![(1.0, 0.005), (2.0, 0.0025), (3.0, 0.00125)]
    );
    assert_eq!(PlotKind::Consistency.to_string(), "consistency");
    assert_eq!(PlotKind::W1.to_string(), "w1");
}

#[test]
fn sweep_charts_draw_the_equilibrium_branches() {
    let f = Fixtures::new();
    let mut req = f.req(&["branches"], None);
    req.x = Some("model.infection_constant".into());
    let fig = figure(&req);
    assert_eq!(
        fig.x_label,
        "infection constant c_f (model.infection_constant)"
    );
    assert!(
        fig.title.starts_with("Equilibrium branches"),
        "{}",
        fig.title
    );
    let labels: Vec<&str> = fig.series.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["least T-MFE", "greatest T-MFE"]);
    let least = &fig.series[0];
    // c = 0.8: least mean states 0.6 and 0.8 → 0.7 ± √0.02.
    assert_eq!(least.points[1].0, 0.8);
    assert!(close(least.points[1].1, 0.7));
    assert!(close(least.spread[1].1 - 0.7, 0.02f64.sqrt()));
    // The branches split between c = 0.5 and 0.8 and merge again at 1.0: the branch that
    // jumps there (greatest 0.5 → 1.8; least 0.7 → 1.5) is not joined across the jump.
    let ys = |s: &mfgsim::output::plot::Series| s.points.iter().map(|p| p.1).collect::<Vec<_>>();
    let (l, g) = (ys(least), ys(&fig.series[1]));
    assert_eq!(l.len(), 4, "{l:?}");
    assert!(l[2].is_nan() && close(l[3], 1.5), "{l:?}");
    assert!(
        g[1].is_nan() && close(g[2], 1.8) && close(g[3], 1.5),
        "{g:?}"
    );
    assert!(fig.series[1].dashed && !least.dashed);
    assert!(!fig.x_log, "0.5..1 is not a wide grid");
    // Beside them, mixed equilibria of another sweep: markers, never a joining line (NaN
    // between the points); an empty label keeps the branches' own names.
    mixed_sweep(&f.p("fp"));
    let mut req = f.req(&["branches", "fp"], None);
    req.x = Some("model.infection_constant".into());
    req.labels = vec![String::new(), "fictitious play".into()];
    let fig = figure(&req);
    let labels: Vec<&str> = fig.series.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["least T-MFE", "greatest T-MFE", "fictitious play"]);
    let fp: Vec<(f64, f64)> = fig.series[2].points.clone();
    assert_eq!(fp.len(), 4);
    assert_eq!((fp[0], fp[2]), ((0.6, 1.2), (0.9, 1.1)));
    assert!(fp[1].1.is_nan() && fp[3].1.is_nan());

    // A categorical grid key; an integer metric; the default x is the only varying key.
    let mut req = f.req(&["algos"], Some(PlotKind::Sweep));
    req.y = Some("total_real_transitions".into());
    let fig = figure(&req);
    assert_eq!(fig.x_categories, ["online", "iql"]);
    assert_eq!(fig.series[0].points, vec![(0.0, 15.0), (1.0, 35.0)]);
    // Default y of a learn sweep: the final L1, on a log axis when positive.
    let mut req = f.req(&["algos"], Some(PlotKind::Sweep));
    req.filters = vec![("seed".into(), "1".into())];
    let fig = figure(&req);
    assert_eq!(fig.series[0].points, vec![(0.0, 0.4), (1.0, 0.6)]);
    assert_eq!(fig.y_scale, YScale::Log);
    // The final consistency: its formula on the axis, a log axis too.
    req.y = Some("final_consistency".into());
    let fig = figure(&req);
    assert_eq!(fig.series[0].points, vec![(0.0, 2e-3), (1.0, 4e-3)]);
    assert_eq!(fig.y_scale, YScale::Log);
    assert_eq!(
        fig.y_label,
        "final consistency ‖Φ(z, μ) − z‖₁ [final_consistency]"
    );
}

#[test]
fn end_points_that_did_not_converge_are_drawn_hollow_and_named() {
    let f = Fixtures::new();
    // The highest start of one seed at c = 0.8 did not converge: the whole point is an end
    // point (hollow, its own legend entry), the greatest line has a gap there.
    branch_sweep_with(&f.p("cycling"), [true, true, true, false, true, true]);
    let mut req = f.req(&["cycling"], None);
    req.x = Some("model.infection_constant".into());
    let fig = figure(&req);
    assert!(fig.title.starts_with("T-BR end points"), "{}", fig.title);
    assert!(fig.title.contains("hollow: not converged"), "{}", fig.title);
    assert_eq!(fig.y_label, "mean state Σₛ s·z(s) of the T-BR end point");
    let labels: Vec<&str> = fig.series.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "least T-MFE",
            "highest-start end point, NOT converged (not an equilibrium)",
            "greatest T-MFE"
        ]
    );
    let hollow = &fig.series[1];
    assert!(hollow.hollow && !fig.series[0].hollow && !fig.series[2].hollow);
    assert_eq!(hollow.points, vec![(0.8, 1.8)]);
    let greatest = &fig.series[2];
    assert!(greatest.points[1].1.is_nan() && greatest.points[0].1 == 0.5);
    // It renders.
    let out = f.p("cycling.png");
    let drawn = build_chart(&req).unwrap();
    write_chart(&out, &drawn.chart, 960, 640).unwrap();
    assert_eq!(png_size(&out), (960, 640));
}

#[test]
fn exploitabilities_at_zero_are_drawn_at_the_floor_and_the_axis_says_so() {
    let f = Fixtures::new();
    let dir = f.p("zeros");
    learn_dir(
        &dir,
        &[[0.5, 0.3, 0.2], [0.3, 0.3, 0.4], [0.2, 0.3, 0.5]],
        "online",
    );
    // Overwrite the exploitability column: a value, an exact 0, a rounding negative.
    let snaps = mfgsim::output::read_parquet(&dir.join("snapshots.parquet")).unwrap();
    let mut cols: Vec<(&str, Col)> = vec![("iteration", Col::I(vec![1, 2, 3]))];
    let names = [
        "z_0",
        "z_1",
        "z_2",
        "mean_state",
        "l1_to_tmfe",
        "w1_to_tmfe",
        "consistency",
    ];
    for name in names {
        cols.push((name, Col::F(snaps.f64_column(name).unwrap())));
    }
    cols.push(("exploitability", Col::F(vec![1e-3, 0.0, -8e-12])));
    table(&dir.join("snapshots.parquet"), cols);
    let fig = figure(&f.req(&["zeros"], Some(PlotKind::Exploitability)));
    assert_eq!(
        fig.series[0].points,
        vec![(1.0, 1e-3), (2.0, 1e-10), (3.0, 1e-10)]
    );
    assert!(
        fig.y_label.contains("(< 10⁻¹⁰ drawn at 10⁻¹⁰)"),
        "{}",
        fig.y_label
    );
    // Without such values the axis label is the plain one.
    let fig = figure(&f.req(&["learn"], Some(PlotKind::Exploitability)));
    assert!(!fig.y_label.contains("drawn at"), "{}", fig.y_label);
}

#[test]
fn fictitious_play_traces_plot_their_exploitability_and_name_the_mixture() {
    use mfgsim::model::{GameParams, Infection, InfectionParams};
    use mfgsim::solver::{solve, SolverAlgo, SolverParams, Start};
    let tmp = tempfile::tempdir().unwrap();
    let m = Infection::try_new(InfectionParams {
        infection_constant: 0.45,
        ..Default::default()
    })
    .unwrap();
    let g = GameParams::default();
    let meta = RunMetadata::new(String::from("[model]\nkind = \"infection\"\n"), 0);
    let fp = SolverParams {
        algo: SolverAlgo::Fp,
        ..Default::default()
    };
    let sol = solve(&m, g, &fp, &Start::Uniform).unwrap();
    mfgsim::output::write_solutions(&tmp.path().join("fp"), &[("", &sol)], g.epsilon, &meta)
        .unwrap();
    let tbr = solve(&m, g, &SolverParams::default(), &Start::Lowest).unwrap();
    mfgsim::output::write_solutions(&tmp.path().join("tbr"), &[("", &tbr)], g.epsilon, &meta)
        .unwrap();
    let req = |dir: &str, kind| PlotRequest {
        inputs: vec![tmp.path().join(dir)],
        kind: Some(kind),
        ..PlotRequest::default()
    };
    let fig = figure(&req("fp", PlotKind::Exploitability));
    assert_eq!(fig.series.len(), 1);
    assert_eq!(fig.series[0].label, "mixed equilibrium (fp)");
    let last = fig.series[0].points.last().unwrap();
    assert_eq!(last.0, sol.iterations() as f64);
    assert!(last.1 <= 1e-6 && last.1 == sol.trace.last().unwrap().exploitability.unwrap());
    // The cycling T-BR run: named as what it is, its consistency plotted, no exploitability.
    let fig = figure(&req("tbr", PlotKind::Consistency));
    assert_eq!(
        fig.series[0].label,
        "tbr end point, NOT converged (not an equilibrium)"
    );
    assert!(fig.series[0].points.last().unwrap().1 > 0.1);
    let err = build_chart(&req("tbr", PlotKind::Exploitability))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no per-iteration exploitability"), "{err}");
}

#[test]
fn references_the_tmfe_and_the_finite_n_floor_are_drawn_beside_the_runs() {
    let f = Fixtures::new();
    learn_dir(&f.p("big"), &[[0.9, 0.1, 0.0], [0.4, 0.3, 0.3]], "online");
    // L1 to another run's final mean field [0.4, 0.3, 0.3], and (dashed) to z*.
    let req = PlotRequest {
        to: Some(f.p("big")),
        tmfe: true,
        floor: Some(f.p("finite")),
        ..f.req(&["learn"], Some(PlotKind::L1))
    };
    let fig = figure(&req);
    assert!(fig.y_label.contains("(solid)"), "{}", fig.y_label);
    let [to_ref, to_tmfe, floor100, floor10k] = fig.series.as_slice() else {
        panic!("{:?}", fig.series);
    };
    assert_eq!(to_ref.label, "online TMFQ (N = 1000): to z_ref");
    let ys: Vec<f64> = to_ref.points.iter().map(|p| p.1).collect();
    assert!(
        close(ys[0], 0.2) && close(ys[1], 0.2) && close(ys[2], 0.4),
        "{ys:?}"
    );
    assert!(to_tmfe.dashed && to_tmfe.color == to_ref.color && to_ref.color.is_some());
    let ys: Vec<f64> = to_tmfe.points.iter().map(|p| p.1).collect();
    assert!(
        close(ys[0], 0.6) && close(ys[1], 0.2) && close(ys[2], 0.0),
        "{ys:?}"
    );
    // The study's N (100, 10⁴) are not the run's (1000): grey dotted level lines.
    assert!(floor100.dotted && floor100.label.contains("N = 100 "));
    assert_eq!(floor100.points, vec![(1.0, 0.1), (3.0, 0.1)]);
    assert_eq!(floor10k.points, vec![(1.0, 0.01), (3.0, 0.01)]);
    assert_eq!(floor10k.color, Some((120, 120, 120)));
    // A solve output as the reference: its z* is the run's own, so the two curves agree.
    let req = PlotRequest {
        to: Some(f.p("tbr")),
        ..f.req(&["learn"], Some(PlotKind::L1))
    };
    let ys: Vec<f64> = figure(&req).series[0].points.iter().map(|p| p.1).collect();
    assert!(
        close(ys[0], 0.6) && close(ys[1], 0.2) && close(ys[2], 0.0),
        "{ys:?}"
    );
    // Mean state: the T-MFE's level line in the series' colour, over its iterations.
    let req = PlotRequest {
        tmfe: true,
        ..f.req(&["learn"], Some(PlotKind::MeanState))
    };
    let fig = figure(&req);
    assert_eq!(fig.series.len(), 2);
    assert_eq!(fig.series[1].points, vec![(1.0, 1.3), (3.0, 1.3)]);
    assert!(fig.series[1].dashed && fig.series[1].color == fig.series[0].color);
    assert_eq!(fig.series[1].label, "online TMFQ (N = 1000): its T-MFE");
    // Several series with one T-MFE (a sweep over algorithms): one black line for all.
    let req = PlotRequest {
        tmfe: true,
        ..f.req(&["algos"], Some(PlotKind::MeanState))
    };
    let fig = figure(&req);
    assert_eq!(fig.series.len(), 3);
    assert_eq!(fig.series[2].label, "T-MFE z* (exact T-BR)");
    assert_eq!(fig.series[2].color, Some((0, 0, 0)));
    assert_eq!(fig.series[2].points, vec![(1.0, 1.3), (3.0, 1.3)]);
    assert_eq!(fig.series[0].color, None);
    // CDF: z*'s CDF, dashed.
    let req = PlotRequest {
        tmfe: true,
        ..f.req(&["learn"], Some(PlotKind::Cdf))
    };
    let fig = figure(&req);
    let ys: Vec<f64> = fig.series[1].points.iter().map(|p| p.1).collect();
    assert!(
        close(ys[0], 0.2) && close(ys[1], 0.5) && close(ys[2], 1.0),
        "{ys:?}"
    );
    // Each option where it does not apply is refused, not ignored.
    for (req, flag) in [
        (
            PlotRequest {
                to: Some(f.p("big")),
                ..f.req(&["learn"], Some(PlotKind::MeanState))
            },
            "--to",
        ),
        (
            PlotRequest {
                floor: Some(f.p("finite")),
                ..f.req(&["learn"], Some(PlotKind::Cdf))
            },
            "--floor",
        ),
        (
            PlotRequest {
                tmfe: true,
                ..f.req(&["learn"], Some(PlotKind::Bars))
            },
            "--tmfe",
        ),
        (
            PlotRequest {
                to: Some(f.p("ext")),
                ..f.req(&["learn"], Some(PlotKind::L1))
            },
            "DIR/least",
        ),
    ] {
        let e = error(&req);
        assert!(e.contains(flag), "{flag}: {e}");
    }
}

fn error(req: &PlotRequest) -> String {
    build_chart(req).unwrap_err().to_string()
}

#[test]
fn errors_name_the_path_and_the_key() {
    let f = Fixtures::new();
    // A directory of no known kind.
    let empty = f.p("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = error(&f.req(&["empty"], None));
    assert!(err.contains(&empty.display().to_string()), "{err}");
    assert!(err.contains("not an mfgsim output directory"), "{err}");
    // A path that does not exist.
    let err = error(&f.req(&["nowhere"], None));
    assert!(
        err.contains("nowhere") && err.contains("no such file"),
        "{err}"
    );
    // An --x that is not a grid key names it and lists the grid keys.
    let mut req = f.req(&["branches"], Some(PlotKind::Sweep));
    req.x = Some("model.gama".into());
    let err = error(&req);
    assert!(
        err.contains("sweep.json: `model.gama`: not a grid key"),
        "{err}"
    );
    assert!(
        err.contains("model.infection_constant, model.gamma"),
        "{err}"
    );
    // A --y that is not a metric lists the metrics.
    let mut req = f.req(&["algos"], Some(PlotKind::Sweep));
    req.y = Some("final_l2".into());
    let err = error(&req);
    assert!(
        err.contains("sweep.parquet: `final_l2`: no such metric column"),
        "{err}"
    );
    assert!(err.contains("final_l1_to_tmfe, final_mean_state"), "{err}");
    // --where on an unknown key, and one that matches nothing.
    let mut req = f.req(&["algos"], Some(PlotKind::Bars));
    req.filters = vec![("learner.alg".into(), "iql".into())];
    assert!(error(&req).contains("`learner.alg`: not a grid key"));
    req.filters = vec![("learner.algo".into(), "sarsa".into())];
    assert!(error(&req).contains("no run of the sweep matches --where"));
    // A missing column names the file and the column.
    let broken = f.p("broken");
    table(
        &broken.join("snapshots.parquet"),
        vec![("iteration", Col::I(vec![1, 2]))],
    );
    let err = error(&f.req(&["broken"], Some(PlotKind::MeanState)));
    assert!(
        err.contains("broken/snapshots.parquet") && err.contains("no column `mean_state`"),
        "{err}"
    );
    // Kinds that cannot draw an input say so.
    let err = error(&f.req(&["finite"], Some(PlotKind::Bars)));
    assert!(
        err.contains("--kind bars cannot draw a finite-n study"),
        "{err}"
    );
    let err = error(&f.req(&["tbr"], Some(PlotKind::Exploitability)));
    assert!(
        err.contains("trajectory.parquet: `exploitability`"),
        "{err}"
    );
    // A trajectory of an older mfgsim has no per-iteration consistency.
    let err = error(&f.req(&["tbr"], Some(PlotKind::Consistency)));
    assert!(
        err.contains("trajectory.parquet: `consistency_l1`: no such column")
            && err.contains("mfgsim solve` again"),
        "{err}"
    );
    // Snapshots of an older mfgsim, without the certificate columns, say so.
    let old = f.p("old");
    table(
        &old.join("snapshots.parquet"),
        vec![
            ("iteration", Col::I(vec![1, 2])),
            ("l1_to_tmfe", Col::F(vec![0.5, 0.25])),
        ],
    );
    for kind in [PlotKind::W1, PlotKind::Consistency] {
        let err = error(&f.req(&["old"], Some(kind)));
        assert!(
            err.contains("old/snapshots.parquet") && err.contains("run `mfgsim learn` again"),
            "{err}"
        );
    }
    let err = error(&f.req(&["tbr"], Some(PlotKind::Sweep)));
    assert!(
        err.contains("--kind sweep cannot draw a solve output"),
        "{err}"
    );
    let mut req = f.req(&["tbr"], None);
    req.labels = vec!["a".into(), "b".into()];
    assert!(error(&req).contains("2 labels for 1 inputs"));
}

#[test]
fn the_binary_writes_the_chosen_kind() {
    let f = Fixtures::new();
    let svg = f.p("fig1.svg");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mfgsim"))
        .args([
            "plot",
            f.p("tbr").to_str().unwrap(),
            f.p("algos").to_str().unwrap(),
            "--kind",
            "bars",
            "--label",
            "exact T-BR",
            "--out",
            svg.to_str().unwrap(),
            "--width",
            "800",
            "--height",
            "500",
        ])
        .current_dir(root(""))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("(bars chart)"));
    check_svg(&svg, 800, 500);
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("<title>exact T-BR</title>"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mfgsim"))
        .args(["plot", f.p("branches").to_str().unwrap(), "--x", "seed"])
        .current_dir(f.p(""))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`seed`: not a grid key"), "{err}");
}
