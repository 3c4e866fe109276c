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
    /// The epsilon-Nash gap: how much one agent gains by deviating (within the trembling-hand
    /// strategies of its own state) when the other N - 1 play the mean-field strategy, over a
    /// grid of N, with confidence intervals and a fitted rate; writes nash_gap.parquet,
    /// summary.json and nash_gap.png.
    #[command(name = "nash-gap")]
    NashGap(NashGapArgs),
    /// Run a grid of scenario-key values × seeds (solve, learn or finite-n on each point,
    /// several runs at a time) and write one sweep.parquet row per run plus each run's own
    /// outputs under DIR/runs/<id>/; rerunning the same command resumes a stopped sweep.
    #[command(after_long_help = SWEEP_HELP)]
    Sweep(SweepArgs),
    /// The equilibrium census: T-BR and fictitious play from the lowest, highest and uniform
    /// mean fields, every point mass and seeded random starts; lists each distinct
    /// equilibrium (a T-MFE in Π^ε, or a mixture of trembling-hand strategies) with its
    /// certificates and the starts that reached it, and each T-BR cycle; writes summary.json
    /// and equilibria.parquet. Exit status 1 when no equilibrium was found.
    Equilibria(EquilibriaArgs),
    /// Draw charts of solve, learn, finite-n and sweep outputs (PNG or SVG): final mean
    /// fields as bars or CDF, mean state, L1 or W1 to z*, consistency or exploitability
    /// against iteration (mean ± 1 sd over a sweep's seeds), the finite-N rate, a sweep metric
    /// against a grid key (equilibrium branches).
    #[command(after_long_help = PLOT_KINDS_HELP)]
    Plot(PlotArgs),
}

/// The kinds, the inputs and the examples, under `mfgsim plot --help`.
const PLOT_KINDS_HELP: &str = "\
Inputs (any mix; a file inside a directory stands for the directory):
  solve     DIR with equilibrium.parquet and trajectory.parquet, or least/ and greatest/
            (mfgsim solve --start extremal): z* and the T-BR iterations
  learn     DIR with snapshots.parquet and summary.json (mfgsim learn)
  finite-n  DIR with finite_n.parquet / summary.json (mfgsim finite-n)
  nash-gap  DIR with nash_gap.parquet / summary.json (mfgsim nash-gap)
  sweep     DIR with sweep.json, sweep.parquet and runs/<id>/ (mfgsim sweep); one series per
            group of runs that share every grid value but the seed, named by the grid values
            that vary (e.g. learner.algo=iql), drawn as the mean with a +-1 sd band or error
            bar over its seeds

Kinds (--kind; default: --x or --y given -> sweep; only finite-n inputs -> finite-n; only
nash-gap inputs -> nash-gap; only solve sweeps -> sweep; any learn output -> mean-state;
otherwise bars):
  bars            final mean field z(s) per state, series side by side
  cdf             its CDF F(s)
  mean-state      mean state against iteration
  l1              ||z_k - z*||_1 against iteration, log y (solve: to its own result)
  w1              Wasserstein-1 distance to z* on the ordered states, sum over t < S-1 of
                  |F_k(t) - F*(t)| (F the CDFs), against iteration, log y (solve: to its own
                  result)
  consistency     ||Phi(z_k, mu_k) - z_k||_1 against iteration, log y (learn runs)
  exploitability  max_s V*(s) - V^mu_k(s) against iteration, log y (learn runs)
  finite-n        the finite-N log-log rate chart
  nash-gap        the epsilon-Nash gap against N, log-log, with the mean-field limit
  sweep           --y METRIC of sweep.parquet against --x KEY, mean +- 1 sd over seeds, one
                  line per combination of the other grid keys; for a solve sweep with
                  start = extremal, --y mean_state (the default) draws the two equilibrium
                  branches least_mean_state and greatest_mean_state

Examples:
  mfgsim plot out/tbr out/sweep-algos --kind bars --out fig1.png
  mfgsim plot out/sweep-algos --kind cdf --where learner.algo=online --out cdf.svg
  mfgsim plot out/branches --x model.infection_constant --out branches.png";

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Output directories of solve, learn, finite-n or sweep runs (see below), e.g. out/tbr
    /// out/sweep-algos.
    #[arg(required = true, value_name = "DIR")]
    pub inputs: Vec<PathBuf>,
    /// Chart kind. Default: chosen from the inputs (see below).
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Option<mfgsim::output::plot::PlotKind>,
    /// The image to write; .png or .svg (SVG text is drawn as outlines, no font needed).
    /// Default: plot-<kind>.png in the first input directory.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Series name of the input at the same position (repeatable, in input order); an
    /// input with several series (a sweep, an extremal solve) prefixes them with it; an empty NAME
    /// keeps the series' own names.
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,
    /// Sweep charts: the grid key on the x axis, e.g. model.infection_constant. Default:
    /// the only grid key with several values.
    #[arg(long, value_name = "KEY")]
    pub x: Option<String>,
    /// Sweep charts: the sweep.parquet metric on the y axis, e.g. final_exploitability.
    /// Default: mean_state (solve; the least and greatest branches with start =
    /// extremal), final_l1_to_tmfe (learn), rate (finite-n).
    #[arg(long, value_name = "METRIC")]
    pub y: Option<String>,
    /// Keep only the sweep runs whose grid KEY (or seed) equals VALUE, e.g.
    /// --where learner.algo=iql (numbers compare numerically). Repeatable; all must hold.
    #[arg(long = "where", value_name = "KEY=VALUE", value_parser = parse_where)]
    pub filters: Vec<(String, String)>,
    /// Chart title. Default: one naming the kind (and the seeds averaged).
    #[arg(long)]
    pub title: Option<String>,
    /// --kind l1 or w1 of learn runs: the distance of each z_k to this output's mean field
    /// instead of each run's own T-MFE z*: a solve output's T-MFE, a learn run's final mean
    /// field, or the mean final mean field of a learn sweep's finished runs (the paper's
    /// Fig. 4 measures L1 to the final mean field online TMFQ reaches at large N).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Also draw each learn series' own exact T-MFE, dashed in its colour: a level line at
    /// its mean state (mean-state), the CDF of z* (cdf), or the distance to z* beside the
    /// distance to the --to reference (l1, w1).
    #[arg(long)]
    pub tmfe: bool,
    /// --kind l1: a finite-n study (directory or summary.json) whose time-average L1 error
    /// E||z^N - z*||_1 at each N is drawn as a dotted level line: the floor that N agents
    /// playing the T-MFE strategy exactly keep from z* (coloured as the series with that N).
    #[arg(long, value_name = "DIR")]
    pub floor: Option<PathBuf>,
    /// Width in pixels (160 to 8192).
    #[arg(long, default_value_t = 1000, value_name = "PX")]
    pub width: u32,
    /// Height in pixels (120 to 8192).
    #[arg(long, default_value_t = 700, value_name = "PX")]
    pub height: u32,
}

const SWEEP_HELP: &str = "\
Examples:
  mfgsim sweep scenarios/infection.toml --command solve --start extremal \\
      --grid model.infection_constant=0.05:1:20
  mfgsim sweep scenarios/infection.toml --grid learner.algo=online,iql,mfq --seeds 20 \\
      --set sim.agents=1000

The same can be written in the scenario as a [sweep] table (flags override it):
  [sweep]
  command = \"learn\"          # solve | learn | finite-n
  seeds = 20
  [[sweep.grid]]
  key = \"learner.algo\"
  values = [\"online\", \"iql\", \"mfq\"]
  [sweep.finite_n]             # finite-n runs: agents, seeds, steps, burn_in
  agents = [1000, 100000]

Outputs: DIR/sweep.json (the plan), DIR/runs/<id>/ (each run's files; summary.json is
written last and marks the run finished), DIR/sweep.parquet (one row per finished run: run,
one column per grid key, seed, the run's final metrics). Results are bitwise identical for
any --jobs and --threads.";

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// What each run does: solve (T-BR), learn (`[learner] algo`), finite-n or nash-gap.
    /// Default: the `[sweep]` table's `command`, else learn.
    #[arg(long, value_name = "CMD", value_parser = ["solve", "learn", "finite-n", "nash-gap"])]
    pub command: Option<String>,
    /// A grid axis: a scenario key and its values, `KEY=V1,V2,...` (TOML values; bare words
    /// are strings) or `KEY=LO:HI:COUNT` (COUNT evenly spaced numbers). Repeatable; the
    /// runs are the Cartesian product (first axis slowest). Replaces the `[sweep]` table's
    /// grid.
    #[arg(long, value_name = "KEY=VALUES")]
    pub grid: Vec<String>,
    /// Seeds per grid point: sim.seed + j for j < K (finite-n: sim.seed + j·study-seeds, so
    /// no two runs share a replicate). Default: the `[sweep]` table's, else 1.
    #[arg(long, value_name = "K", value_parser = parse_count)]
    pub seeds: Option<u64>,
    /// solve: where T-BR starts (uniform, lowest, highest, extremal for the least and
    /// greatest T-MFE, or a distribution). Default: the scenario's solver.start.
    #[arg(long, value_name = "START", value_parser = StartSpec::parse)]
    pub start: Option<StartSpec>,
    /// finite-n and nash-gap: comma-separated population sizes of each study. Default:
    /// 1e2,...,1e7 (finite-n), 10,...,1e6 (nash-gap).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_count)]
    pub study_agents: Option<Vec<u64>>,
    /// finite-n: replicates per N of each study. Default: 10.
    #[arg(long, value_name = "K")]
    pub study_seeds: Option<usize>,
    /// finite-n: recorded steps of each run. Default: 200.
    #[arg(long, value_name = "T", value_parser = parse_count)]
    pub steps: Option<u64>,
    /// finite-n: steps before recording. Default: 50.
    #[arg(long, value_name = "B", value_parser = parse_count)]
    pub burn_in: Option<u64>,
    /// nash-gap: the strategy the N − 1 others play: tmfe, learned, uniform or a file
    /// (as `mfgsim nash-gap --policy`). Default: the `[sweep.nash_gap]` table's, else tmfe.
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<String>,
    /// nash-gap: replicates of the reported gain per initial state (≥ 2). Default: 256.
    #[arg(long, value_name = "K")]
    pub replications: Option<usize>,
    /// Runs at a time (at most the threads). Default (0): one per thread for small runs,
    /// one at a time with all threads for large ones (more than 2^17 agents, or more than
    /// 500 states for solve).
    #[arg(long, default_value_t = 0, value_name = "J")]
    pub jobs: usize,
    /// Worker threads in all, shared by the jobs (results do not depend on it). Default:
    /// all cores.
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Output directory. Default: out/<scenario name>/sweep/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run only shard I (counted from 0) of N: the runs at plan positions p with p mod N = I,
    /// into the shared --out directory (for a cluster); no table is written. Afterwards the
    /// same sweep without --shard runs nothing that is finished and writes sweep.parquet,
    /// equal to an unsharded sweep's. Default: read from a SLURM job array
    /// (SLURM_ARRAY_TASK_ID, _MIN, _COUNT) or an MPI launch (`mpirun -n K`:
    /// OMPI_COMM_WORLD_RANK/SIZE or PMI_RANK/SIZE; rank 0 then waits for the other ranks and
    /// writes the table); --shard 0/1 runs every run whatever the environment says.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `KEY=VALUE` of `--where`.
fn parse_where(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!(
            "expected KEY=VALUE, e.g. learner.algo=iql, got `{text}`"
        )),
    }
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
    /// The equilibrium algorithm (the scenario key `solver.algo`). Default: the scenario's,
    /// else tbr.
    #[arg(long, value_enum, value_name = "ALGO")]
    pub algo: Option<SolverAlgoArg>,
    /// Output directory. Default: out/<scenario name>/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing to disk; only print the summary.
    #[arg(long)]
    pub no_write: bool,
}

/// Equilibrium algorithm (the scenario key `solver.algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SolverAlgoArg {
    /// T-BR (Algorithm 1): z ← Φ(z, π^ε(Q*_z)); a T-MFE in Π^ε when it converges; can cycle
    /// where Definition 1 fails.
    Tbr,
    /// Damped T-BR: z ← (1 − β)z + βΦ(z, π^ε(Q*_z)), β = solver.damping (default 0.5).
    Damped,
    /// Fictitious play: averages trembling-hand best responses and their stationary mean
    /// fields; finds an equilibrium in mixtures of trembling-hand strategies where T-BR
    /// cycles (converged: exploitability < solver.target_exploitability and consistency <
    /// solver.target_consistency, both 1e-6 by default).
    Fp,
    /// Online mirror descent on Q-values, kept in the convex hull of the trembling-hand
    /// strategies (step solver.omd_rate, default 1); converges as fp does.
    Omd,
}

impl SolverAlgoArg {
    /// The scenario value.
    pub fn as_str(self) -> &'static str {
        match self {
            SolverAlgoArg::Tbr => "tbr",
            SolverAlgoArg::Damped => "damped",
            SolverAlgoArg::Fp => "fp",
            SolverAlgoArg::Omd => "omd",
        }
    }
}

#[derive(Debug, Args)]
pub struct EquilibriaArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Random starts (Dirichlet(1, ..., 1) mean fields) besides the lowest, highest, uniform
    /// and point-mass ones.
    #[arg(long, default_value_t = 16, value_name = "K")]
    pub random_starts: usize,
    /// Seed of the random starts. Default: the scenario's `sim.seed`.
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
    /// Two converged end points whose mean fields are closer than this in L1 are one
    /// equilibrium.
    #[arg(long, default_value_t = 1e-4, value_name = "L1")]
    pub cluster_tol: f64,
    /// Fictitious play's exploitability and consistency targets in the census (tight, so
    /// that an fp end point near a T-MFE lands in its cluster).
    #[arg(long, default_value_t = 1e-9, value_name = "X")]
    pub fp_target: f64,
    /// Worker threads (the attempts run in parallel; results do not depend on it). Default:
    /// every core.
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Output directory. Default: out/<scenario name>/equilibria/.
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
    let mut text = String::from(
        "Scenario keys (set them in the file or with --set TABLE.KEY=VALUE), with defaults:\n",
    );
    let mut table = "";
    for k in mfgsim::scenario::key_docs() {
        let head = if k.table == table {
            String::new()
        } else {
            format!("[{}]", k.table)
        };
        table = k.table;
        text.push_str(&format!(
            "  {head:<10}{:<30}{}\n",
            format!("{} = {}", k.key, k.default),
            k.help
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
    /// Output directory. Default: out/<scenario name>/learn-<algo>/ (one per algorithm).
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
    /// Write a checkpoint to DIR/checkpoint/ every K iterations, or `auto`: whenever the time
    /// since the last one is at least 60 s and 20 times the last write (at most 5% slower).
    /// A checkpoint holds what the run needs to continue (the agents' states, Q, counts,
    /// per-agent tables); a Ctrl-C also writes one. Not with --export-transitions.
    #[arg(long, value_name = "K|auto", value_parser = mfgsim::run::Interval::parse)]
    pub checkpoint_every: Option<mfgsim::run::Interval>,
    /// Continue the run whose output directory is DIR from its last complete checkpoint
    /// (give the same scenario, --set values and flags; --iterations may be raised). The
    /// results are bitwise those of an uninterrupted run. Add --checkpoint-every to keep
    /// writing checkpoints.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
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
    /// Skip the runs that a stopped or killed study into the same output directory finished
    /// (each finished run is kept in DIR/finite_n.runs/ until the study completes); the
    /// scenario, --steps, --burn-in, --policy, --engine and --no-steps-file must match, the
    /// grid and --seeds may grow. The results are those of an uninterrupted study.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct NashGapArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// The strategy mu of the N - 1 others: tmfe (the exact T-MFE), learned (the final
    /// strategy of the scenario's [learner] run), uniform (1/|A| each: a non-equilibrium
    /// reference), or FILE: an equilibrium.parquet (its mu_* columns) or a learn output's
    /// summary.json or directory (its final greedy actions, with tremble epsilon).
    #[arg(long, default_value = "tmfe", value_name = "tmfe|learned|uniform|FILE")]
    pub policy: String,
    /// Comma-separated population sizes N >= 2, e.g. `10,1e3,1e9`. Default:
    /// 1e1,1e2,1e3,1e4,1e5,1e6.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_count)]
    pub agents: Option<Vec<u64>>,
    /// Replicates K of the reported gain per initial state (fresh ones, not the search's).
    #[arg(long, default_value_t = 256, value_name = "K")]
    pub replications: usize,
    /// Replicates per candidate deviation in the policy-iteration search.
    #[arg(long, default_value_t = 64, value_name = "K")]
    pub search_replications: usize,
    /// Policy-iteration rounds at most.
    #[arg(long, default_value_t = 6, value_name = "R")]
    pub max_rounds: usize,
    /// Bound on the truncation bias of each value; sets the horizon T.
    #[arg(long, default_value_t = 1e-4, value_name = "TOL")]
    pub tolerance: f64,
    /// Seed of every stream. Default: the scenario's `sim.seed`.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Worker threads (results do not depend on it). Default: all cores.
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Output directory. Default: out/<scenario name>/nash-gap/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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
