//! Command-line arguments (clap types). Binary-only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mfgsim::scenario::StartSpec;

/// Mean field games with strategic complementarities: exact trembling-hand equilibria
/// (T-MFE), a strategic-complementarity checker, and Parquet outputs.
#[derive(Debug, Parser)]
#[command(name = "mfgsim", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compute the exact T-MFE by T-BR (Algorithm 1) and write summary.json,
    /// trajectory.parquet and equilibrium.parquet.
    Solve(SolveArgs),
    /// Test the strategic-complementarity conditions (Definition 1) numerically; exit status
    /// 0 when all hold, 1 when any is violated.
    Check(CheckArgs),
    /// Learn an equilibrium with one of the paper's algorithms (`[learner] algo`: online
    /// TMFQ, IQL or MFQ with N agents, TMFQ or GMBL with a simulator) and write
    /// snapshots.parquet and summary.json; every iteration is compared with the exact T-MFE.
    #[command(after_long_help = learner_keys_help())]
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
pub struct PlotArgs {
    /// Study output directories (or their summary.json files), e.g.
    /// out/gig/finite-n out/gig/finite-n-counts.
    #[arg(required = true, value_name = "STUDY")]
    pub studies: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long, default_value = "finite_n_overlay.png", value_name = "FILE")]
    pub out: PathBuf,
    /// Chart title.
    #[arg(long, default_value = "finite-N error against the mean-field limit")]
    pub title: String,
    /// Width in pixels (160 to 8192).
    #[arg(long, default_value_t = 1000, value_name = "PX")]
    pub width: u32,
    /// Height in pixels (120 to 8192).
    #[arg(long, default_value_t = 700, value_name = "PX")]
    pub height: u32,
}

/// Options shared by every subcommand that reads a scenario.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario file (TOML), e.g. scenarios/infection.toml.
    pub scenario: PathBuf,
    /// Override a scenario key, e.g. `--set model.gamma=0.95` or
    /// `--set model.w1_pmf=[0.5,0.5]`. Repeatable; applied in order before validation.
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    pub overrides: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SolveArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Where T-BR starts: uniform, lowest (all mass on state 0), highest (all mass on the top
    /// state), extremal (both lowest and highest: the least and greatest T-MFE under strategic
    /// complementarities), or a comma-separated distribution. Default: the scenario's
    /// `solver.start`.
    #[arg(long, value_name = "START", value_parser = StartSpec::parse)]
    pub start: Option<StartSpec>,
    /// Output directory. Default: out/<scenario name>/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing to disk; only print the summary.
    #[arg(long)]
    pub no_write: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Number of random mean-field pairs z ⪯ z' (ordered by stochastic dominance) to test,
    /// in addition to point masses, the uniform and the T-MFE.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub random_pairs: usize,
    /// Seed of the random pairs. Default: the scenario's `sim.seed`.
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Learning algorithm (the scenario key `learner.algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlgoArg {
    /// Online TMFQ (Algorithm 3): N real agents; their transitions feed TQ-learning.
    Online,
    /// TMFQ (Algorithm 2): TQ-learning on a simulator at a fixed mean field, then a
    /// simulated Next-MF.
    Tmfq,
    /// GMBL: a generative model gives an estimated kernel; exact TQ-value iteration on it.
    Gmbl,
    /// IQL (baseline): every agent learns its own TQ-table from its own transitions.
    Iql,
    /// MFQ (baseline): as IQL, with the table also indexed by the binned mean state of K
    /// random agents.
    Mfq,
}

impl AlgoArg {
    /// The scenario value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlgoArg::Online => "online",
            AlgoArg::Tmfq => "tmfq",
            AlgoArg::Gmbl => "gmbl",
            AlgoArg::Iql => "iql",
            AlgoArg::Mfq => "mfq",
        }
    }
}

/// The `[sim]` and `[learner]` keys with their defaults (read from the library, so the help
/// cannot drift from the code), shown under `mfgsim learn --help`.
fn learner_keys_help() -> String {
    let sim = mfgsim::scenario::SimParams::default();
    let l = mfgsim::learner::LearnerParams::default();
    let rows: Vec<(&str, &str, String, &str)> = vec![
        (
            "[sim]",
            "agents",
            sim.agents.to_string(),
            "N, real agents (online)",
        ),
        (
            "",
            "iterations",
            sim.iterations.to_string(),
            "K, outer iterations",
        ),
        (
            "",
            "seed",
            sim.seed.to_string(),
            "seed of every random stream",
        ),
        (
            "",
            "engine",
            "\"agents\"".into(),
            "population simulator: agents | counts",
        ),
        (
            "[learner]",
            "algo",
            format!("\"{}\"", l.algo),
            "online | tmfq | gmbl",
        ),
        (
            "",
            "rule",
            format!("\"{}\"", l.rule),
            "online: batch (all N as counts) | sampled (budget)",
        ),
        (
            "",
            "batch_samples",
            format!("{:?}", l.batch.samples),
            "online batch: S, effective samples per (s, a) row",
        ),
        (
            "",
            "batch_memory",
            format!("{:?}", l.batch.memory),
            "online batch: H, longest memory of a row in steps",
        ),
        (
            "",
            "batch_sweeps",
            l.batch.sweeps.to_string(),
            "online batch: K, most sweeps of eq. 6 per step",
        ),
        (
            "",
            "budget",
            l.tq.budget.to_string(),
            "online, tmfq: most TQ updates per step",
        ),
        (
            "",
            "step_exponent",
            format!("{:?}", l.tq.step_exponent),
            "online, tmfq: w in alpha = (1 + (1-gamma) n)^-w, (0.5, 1]",
        ),
        (
            "",
            "memory",
            format!("{:?}", l.tq.memory),
            "online, tmfq: cap H on step-size counts, >= 1 or inf",
        ),
        (
            "",
            "sim_agents",
            l.tmfq.sim_agents.to_string(),
            "tmfq: M_sim simulated agents at the frozen z_k",
        ),
        (
            "",
            "inner_tol",
            format!("{:e}", l.tmfq.inner_tol),
            "tmfq: eps1, stop when |Q_t - Q_(t-check)|_inf < eps1",
        ),
        (
            "",
            "check_every",
            l.tmfq.check_every.to_string(),
            "tmfq: simulator steps between two checks",
        ),
        (
            "",
            "max_sim_transitions",
            format!("{:e}", l.tmfq.max_sim_transitions as f64),
            "tmfq: cap on simulator transitions per iteration",
        ),
        (
            "",
            "mf_agents",
            format!("{:e}", l.tmfq.mf_agents as f64),
            "tmfq: M_mf states drawn from z_k for Next-MF",
        ),
        (
            "",
            "gen_samples",
            l.gmbl.gen_samples.to_string(),
            "gmbl: M_gen samples of s' per (s, a) per iteration",
        ),
        (
            "",
            "value_tol",
            format!("{:e}", l.gmbl.value_tol),
            "gmbl: tolerance of TQ-value iteration on P-hat",
        ),
    ];
    let mut text = String::from(
        "Scenario keys (set them in the file or with --set TABLE.KEY=VALUE), with defaults:\n",
    );
    for (table, key, default, what) in rows {
        text.push_str(&format!(
            "  {table:<10}{:<30}{what}\n",
            format!("{key} = {default}")
        ));
    }
    text.push_str(
        "Flags --algo, --engine, --agents, --iterations and --seed are shortcuts for these keys.",
    );
    text
}

#[derive(Debug, Args)]
pub struct LearnArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Learning algorithm (shortcut for --set learner.algo=...). Default: the scenario's
    /// `learner.algo` (online unless set).
    #[arg(long, value_enum)]
    pub algo: Option<AlgoArg>,
    /// Population simulator of the online algorithms (shortcut for --set sim.engine=...).
    /// Default: the scenario's `sim.engine` (agents unless set).
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
    /// Number of agents N (e.g. 1000000 or 1e6). Default: the scenario's `sim.agents`.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub agents: Option<u64>,
    /// Number of learning iterations K. Default: the scenario's `sim.iterations`.
    #[arg(long, value_name = "K", value_parser = parse_count)]
    pub iterations: Option<u64>,
    /// Seed of every random stream. Default: the scenario's `sim.seed`.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Worker threads (results do not depend on it). Default: all cores.
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Output directory. Default: out/<scenario name>/learn/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Close a snapshot part file every this many iterations (a run killed hard loses at most
    /// this many rows).
    #[arg(long, default_value_t = 10, value_name = "K")]
    pub flush_every: usize,
    /// Also write the transitions (iteration, agent, s, a, r, s_next, regenerated) as a
    /// Parquet dataset DIR/transitions/ for offline RL.
    #[arg(long)]
    pub export_transitions: bool,
    /// Fraction of agents whose transitions are exported each iteration (seeded, the same
    /// for any thread count).
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "F",
        requires = "export_transitions"
    )]
    pub export_fraction: f64,
    /// Compression of the exported transitions.
    #[arg(
        long,
        value_enum,
        default_value_t = CodecArg::Zstd,
        value_name = "CODEC",
        requires = "export_transitions"
    )]
    pub export_codec: CodecArg,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Strategy of the agents in `finite-n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyArg {
    /// The exact T-MFE strategy μ*, fixed.
    Tmfe,
    /// Online TMFQ (Algorithm 3): the agents learn from their own transitions, from Q = 0.
    Learned,
}

/// Compression codec of a Parquet dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodecArg {
    /// zstd: the smallest files.
    Zstd,
    /// Snappy: faster to write, larger files.
    Snappy,
    /// No compression: the fastest, the largest files.
    None,
}

impl CodecArg {
    /// The library's codec.
    pub fn codec(self) -> mfgsim::output::Codec {
        match self {
            CodecArg::Zstd => mfgsim::output::Codec::Zstd,
            CodecArg::Snappy => mfgsim::output::Codec::Snappy,
            CodecArg::None => mfgsim::output::Codec::None,
        }
    }
}

/// Population simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// Store and step every agent (3 bytes per agent).
    Agents,
    /// The exact count engine: multinomial draws per state and per (state, action); exact
    /// in distribution, cost independent of N (N up to about 1.8e19).
    Counts,
}

#[derive(Debug, Args)]
pub struct FiniteNArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Comma-separated population sizes N, e.g. `1000,1e6`. Default:
    /// 1e2,1e3,1e4,1e5,1e6,1e7.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_count)]
    pub agents: Option<Vec<u64>>,
    /// Replicates K per N; replicate j uses seed S + j. The confidence intervals need K ≥ 2.
    #[arg(long, default_value_t = 10, value_name = "K")]
    pub seeds: usize,
    /// Base seed S. Default: the scenario's `sim.seed`.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Steps T recorded after the burn-in.
    #[arg(long, default_value_t = 200, value_name = "T", value_parser = parse_count)]
    pub steps: u64,
    /// Steps B run before recording. Runs start from N agents drawn i.i.d. from z*; with
    /// `--policy learned` the burn-in is also the learning time (a few hundred steps).
    #[arg(long, default_value_t = 50, value_name = "B", value_parser = parse_count)]
    pub burn_in: u64,
    /// Strategy of the agents.
    #[arg(long, value_enum, default_value_t = PolicyArg::Tmfe)]
    pub policy: PolicyArg,
    /// Simulator. Default: agents.
    #[arg(long, value_enum, default_value_t = EngineArg::Agents)]
    pub engine: EngineArg,
    /// Worker threads (results do not depend on it). Default: all cores.
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Output directory. Default: out/<scenario name>/finite-n/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not keep or write the per-step rows (finite_n_steps.parquet): memory then stays
    /// constant in --steps, for long runs; the per-run statistics are the same.
    #[arg(long)]
    pub no_steps_file: bool,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Parses a count written as an integer or in scientific notation (`1e6`).
/// At most 2^63 − 1, the largest integer a scenario file (TOML) holds.
pub fn parse_count(text: &str) -> std::result::Result<u64, String> {
    const MAX: u64 = i64::MAX as u64;
    let too_large = || format!("`{text}` is too large: at most 2^63 - 1 (about 9.2e18)");
    if let Ok(v) = text.parse::<u64>() {
        return if v <= MAX { Ok(v) } else { Err(too_large()) };
    }
    match text.parse::<f64>() {
        Ok(v) if v < 0.0 => Err(format!("`{text}` is negative: a count is >= 0")),
        Ok(v) if v.is_finite() && v.fract() != 0.0 => {
            Err(format!("`{text}` is not a whole number"))
        }
        Ok(v) if v >= 0.0 && v < 2f64.powi(63) => Ok(v as u64),
        Ok(v) if v >= 2f64.powi(63) => Err(too_large()),
        _ => Err(format!(
            "expected a non-negative integer such as 1000000 or 1e6, got `{text}`"
        )),
    }
}
