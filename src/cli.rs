//! Command-line interface: argument types (clap) and subcommand dispatch. Binary-only; it
//! wires the library together and is the only place that prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use mfgsim::output::{self, RunMetadata};
use mfgsim::scenario::{Scenario, StartSpec};
use mfgsim::solver::{solve, Solution, Start};

/// Mean field games with strategic complementarities: exact trembling-hand equilibria
/// (T-MFE), a strategic-complementarity checker, and Parquet outputs.
#[derive(Debug, Parser)]
#[command(name = "mfgsim", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute the exact T-MFE by T-BR (Algorithm 1) and write summary.json,
    /// trajectory.parquet and equilibrium.parquet.
    Solve(SolveArgs),
    /// Test the strategic-complementarity conditions (Definition 1) numerically; exit status
    /// 0 when all hold, 1 when any is violated.
    Check(CheckArgs),
    /// Run online TMFQ (Algorithm 3) with N simulated agents and write snapshots.parquet and
    /// summary.json; every iteration is compared with the exact T-MFE.
    Learn(LearnArgs),
    /// Measure how far N agents (playing the T-MFE strategy, or learning online) are from
    /// the mean-field limit z*, over a grid of N and several seeds, and fit the rate of
    /// ||z^N - z*||_1 in N; writes finite_n.parquet, finite_n_steps.parquet, summary.json
    /// and finite_n.png.
    #[command(name = "finite-n")]
    FiniteN(FiniteNArgs),
    /// Overlay the log-log curves of several finite-n studies (their summary.json) in one
    /// PNG, e.g. the agent and the count engine, or two scenarios.
    Plot(PlotArgs),
}

#[derive(Debug, Args)]
struct PlotArgs {
    /// Study output directories (or their summary.json files), e.g.
    /// out/gig/finite-n out/gig/finite-n-counts.
    #[arg(required = true, value_name = "STUDY")]
    studies: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long, default_value = "finite_n_overlay.png", value_name = "FILE")]
    out: PathBuf,
    /// Chart title.
    #[arg(long, default_value = "finite-N error against the mean-field limit")]
    title: String,
    /// Width in pixels (160 to 8192).
    #[arg(long, default_value_t = 1000, value_name = "PX")]
    width: u32,
    /// Height in pixels (120 to 8192).
    #[arg(long, default_value_t = 700, value_name = "PX")]
    height: u32,
}

/// Options shared by every subcommand that reads a scenario.
#[derive(Debug, Args)]
struct ScenarioArgs {
    /// Scenario file (TOML), e.g. scenarios/infection.toml.
    scenario: PathBuf,
    /// Override a scenario key, e.g. `--set model.gamma=0.95` or
    /// `--set model.w1_pmf=[0.5,0.5]`. Repeatable; applied in order before validation.
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    overrides: Vec<String>,
}

#[derive(Debug, Args)]
struct SolveArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Where T-BR starts: uniform, lowest (all mass on state 0), highest (all mass on the top
    /// state), extremal (both lowest and highest: the least and greatest T-MFE under strategic
    /// complementarities), or a comma-separated distribution. Default: the scenario's
    /// `solver.start`.
    #[arg(long, value_name = "START", value_parser = StartSpec::parse)]
    start: Option<StartSpec>,
    /// Output directory. Default: out/<scenario name>/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write nothing to disk; only print the summary.
    #[arg(long)]
    no_write: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Number of random mean-field pairs z ⪯ z' (ordered by stochastic dominance) to test,
    /// in addition to point masses, the uniform and the T-MFE.
    #[arg(long, default_value_t = 200, value_name = "N")]
    random_pairs: usize,
    /// Seed of the random pairs. Default: the scenario's `sim.seed`.
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Learning algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Algo {
    /// Online TMFQ (Algorithm 3): the agents' own transitions feed TQ-learning.
    Online,
}

#[derive(Debug, Args)]
struct LearnArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Learning algorithm.
    #[arg(long, value_enum, default_value_t = Algo::Online)]
    algo: Algo,
    /// Number of agents N (e.g. 1000000 or 1e6). Default: the scenario's `sim.agents`.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    agents: Option<u64>,
    /// Number of learning iterations K. Default: the scenario's `sim.iterations`.
    #[arg(long, value_name = "K", value_parser = parse_count)]
    iterations: Option<u64>,
    /// Seed of every random stream. Default: the scenario's `sim.seed`.
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Worker threads (results do not depend on it). Default: all cores.
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
    /// Output directory. Default: out/<scenario name>/learn/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Close a snapshot part file every this many iterations (a run killed hard loses at most
    /// this many rows).
    #[arg(long, default_value_t = 10, value_name = "K")]
    flush_every: usize,
    /// Also write the transitions (iteration, agent, s, a, r, s_next, regenerated) as a
    /// Parquet dataset DIR/transitions/ for offline RL.
    #[arg(long)]
    export_transitions: bool,
    /// Fraction of agents whose transitions are exported each iteration (seeded, the same
    /// for any thread count).
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "F",
        requires = "export_transitions"
    )]
    export_fraction: f64,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short)]
    quiet: bool,
}

/// Strategy of the agents in `finite-n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PolicyArg {
    /// The exact T-MFE strategy μ*, fixed.
    Tmfe,
    /// Online TMFQ (Algorithm 3): the agents learn from their own transitions, from Q = 0.
    Learned,
}

/// Simulator of `finite-n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EngineArg {
    /// Store and step every agent (3 bytes per agent).
    Agents,
    /// The exact count engine: multinomial draws per state and per (state, action); exact
    /// in distribution, cost independent of N (N up to about 1.8e19).
    Counts,
}

#[derive(Debug, Args)]
struct FiniteNArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Comma-separated population sizes N, e.g. `1000,1e6`. Default:
    /// 1e2,1e3,1e4,1e5,1e6,1e7.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_count)]
    agents: Option<Vec<u64>>,
    /// Replicates K per N; replicate j uses seed S + j. The confidence intervals need K ≥ 2.
    #[arg(long, default_value_t = 10, value_name = "K")]
    seeds: usize,
    /// Base seed S. Default: the scenario's `sim.seed`.
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Steps T recorded after the burn-in.
    #[arg(long, default_value_t = 200, value_name = "T", value_parser = parse_count)]
    steps: u64,
    /// Steps B run before recording. Runs start from N agents drawn i.i.d. from z*; with
    /// `--policy learned` the burn-in is also the learning time (a few hundred steps).
    #[arg(long, default_value_t = 50, value_name = "B", value_parser = parse_count)]
    burn_in: u64,
    /// Strategy of the agents.
    #[arg(long, value_enum, default_value_t = PolicyArg::Tmfe)]
    policy: PolicyArg,
    /// Simulator.
    #[arg(long, value_enum, default_value_t = EngineArg::Agents)]
    engine: EngineArg,
    /// Worker threads (results do not depend on it). Default: all cores.
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
    /// Output directory. Default: out/<scenario name>/finite-n/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Do not keep or write the per-step rows (finite_n_steps.parquet): memory then stays
    /// constant in --steps, for long runs; the per-run statistics are the same.
    #[arg(long)]
    no_steps_file: bool,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short)]
    quiet: bool,
}

impl FiniteNArgs {
    fn into_options(self) -> crate::study::FiniteNOptions {
        use mfgsim::finite_n::{EngineKind, PolicySource};
        crate::study::FiniteNOptions {
            scenario: self.scenario.scenario,
            overrides: self.scenario.overrides,
            agents: self.agents,
            seeds: self.seeds,
            seed: self.seed,
            steps: self.steps,
            burn_in: self.burn_in,
            policy: match self.policy {
                PolicyArg::Tmfe => PolicySource::Tmfe,
                PolicyArg::Learned => PolicySource::Learned,
            },
            engine: match self.engine {
                EngineArg::Agents => EngineKind::Agents,
                EngineArg::Counts => EngineKind::Counts,
            },
            threads: self.threads,
            out: self.out,
            keep_steps: !self.no_steps_file,
            quiet: self.quiet,
        }
    }
}

/// Parses a count written as an integer or in scientific notation (`1e6`).
fn parse_count(text: &str) -> std::result::Result<u64, String> {
    if let Ok(v) = text.parse::<u64>() {
        return Ok(v);
    }
    match text.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.fract() == 0.0 && v < 1.8e19 => Ok(v as u64),
        _ => Err(format!(
            "expected a non-negative integer such as 1000000 or 1e6, got `{text}`"
        )),
    }
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Solve(a) => solve_cmd(a),
        Command::Check(a) => check_cmd(a),
        Command::Learn(a) => crate::learn::learn_cmd(a.into_options()),
        Command::FiniteN(a) => crate::study::finite_n_cmd(a.into_options()),
        Command::Plot(a) => plot_cmd(a),
    }
}

impl LearnArgs {
    fn into_options(self) -> crate::learn::LearnOptions {
        let Algo::Online = self.algo;
        crate::learn::LearnOptions {
            scenario: self.scenario.scenario,
            overrides: self.scenario.overrides,
            agents: self.agents,
            iterations: self.iterations,
            seed: self.seed,
            threads: self.threads,
            out: self.out,
            flush_every: self.flush_every,
            export_transitions: self.export_transitions,
            export_fraction: self.export_fraction,
            quiet: self.quiet,
        }
    }
}

fn plot_cmd(a: PlotArgs) -> Result<ExitCode> {
    use mfgsim::output::plot::{write_loglog_png, LogLogPlot};
    let series = a
        .studies
        .iter()
        .map(|p| output::read_finite_n_series(p))
        .collect::<mfgsim::Result<Vec<_>>>()?;
    let plot = LogLogPlot {
        title: a.title,
        x_label: "N (agents)".into(),
        y_label: "time-average ||z^N_t - z*||_1".into(),
        series,
        reference_slope: Some(-0.5),
    };
    write_loglog_png(&a.out, &plot, a.width, a.height)?;
    writeln!(std::io::stdout(), "wrote {}", a.out.display())?;
    Ok(ExitCode::SUCCESS)
}

fn load(a: &ScenarioArgs) -> Result<Scenario> {
    Ok(Scenario::load(&a.scenario, &a.overrides)?)
}

fn solve_cmd(a: SolveArgs) -> Result<ExitCode> {
    let sc = load(&a.scenario)?;
    let spec = a.start.clone().unwrap_or_else(|| sc.start.clone());
    let runs: Vec<(&str, Start)> = match &spec {
        StartSpec::Single(s) => vec![("", s.clone())],
        StartSpec::Extremal => vec![("least", Start::Lowest), ("greatest", Start::Highest)],
    };
    let model = sc.model.as_model();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} ({}): {} states, {} actions, gamma {}, epsilon {}",
        sc.name,
        sc.path.display(),
        model.num_states(),
        model.num_actions(),
        sc.game.gamma,
        sc.game.epsilon
    )?;
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("out").join(&sc.name));
    let meta = RunMetadata {
        scenario_text: sc.text.clone(),
        seed: sc.sim.seed,
        extra: vec![("mfgsim.command".into(), "solve".into())],
    };
    let mut summary = serde_json::Map::new();
    let mut all_converged = true;
    for (label, start) in &runs {
        let t0 = Instant::now();
        let sol = solve(model, sc.game, &sc.solver, start)
            .with_context(|| format!("solving {}", sc.path.display()))?;
        let secs = t0.elapsed().as_secs_f64();
        all_converged &= sol.converged();
        print_solution(&mut out, label, start, &sol, secs)?;
        let mut json = output::solution_json(&sol);
        if let Some(obj) = json.as_object_mut() {
            obj.insert("start_label".into(), start.label().into());
            obj.insert("seconds".into(), secs.into());
        }
        if !a.no_write {
            let sub = if label.is_empty() {
                dir.clone()
            } else {
                dir.join(label)
            };
            std::fs::create_dir_all(&sub)
                .with_context(|| format!("creating output directory {}", sub.display()))?;
            output::write_trajectory(&sub.join("trajectory.parquet"), &sol, &meta)?;
            output::write_equilibrium(
                &sub.join("equilibrium.parquet"),
                &sol,
                sc.game.epsilon,
                &meta,
            )?;
        }
        if label.is_empty() {
            if let serde_json::Value::Object(m) = json {
                summary = m;
            }
        } else {
            summary.insert((*label).into(), json);
        }
    }
    if !a.no_write {
        summary.insert("scenario".into(), sc.name.clone().into());
        summary.insert("version".into(), env!("CARGO_PKG_VERSION").into());
        let path = dir.join("summary.json");
        output::write_json(&path, &serde_json::Value::Object(summary))?;
        writeln!(out, "wrote {}", dir.display())?;
    }
    Ok(if all_converged {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_solution(
    out: &mut impl Write,
    label: &str,
    start: &Start,
    sol: &Solution,
    secs: f64,
) -> std::io::Result<()> {
    let head = if label.is_empty() {
        String::new()
    } else {
        format!("[{label}] ")
    };
    writeln!(
        out,
        "{head}start {}: {} ({}) after {} T-BR iterations in {:.2} ms",
        start.label(),
        if sol.converged() {
            "converged"
        } else {
            "NOT converged"
        },
        sol.termination.describe(),
        sol.iterations(),
        secs * 1e3
    )?;
    writeln!(
        out,
        "{head}mean state {:.6}   ||Phi(z,mu)-z||_1 {:.2e}   exploitability {:.2e}",
        sol.mean_state, sol.consistency_l1, sol.exploitability.max
    )?;
    let greedy: Vec<String> = sol.policy.greedy.iter().map(|a| a.to_string()).collect();
    writeln!(out, "{head}greedy action per state: {}", greedy.join(" "))?;
    let z: Vec<String> = sol.z.iter().map(|p| format!("{p:.4}")).collect();
    writeln!(out, "{head}z*: {}", z.join(" "))
}

fn check_cmd(a: CheckArgs) -> Result<ExitCode> {
    let sc = load(&a.scenario)?;
    let model = sc.model.as_model();
    let tmfe = solve(model, sc.game, &sc.solver, &Start::Uniform)?;
    let opts = mfgsim::check::CheckOptions {
        random_pairs: a.random_pairs,
        seed: a.seed.unwrap_or(sc.sim.seed),
        ..Default::default()
    };
    let report = mfgsim::check::check_model(model, Some(&tmfe.z), &opts)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        writeln!(
            out,
            "{} ({}): Definition 1 of Lee et al. (2021)",
            sc.name,
            sc.path.display()
        )?;
        write!(out, "{report}")?;
    }
    Ok(if report.all_hold() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
