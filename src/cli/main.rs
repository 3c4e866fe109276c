//! The `mfgsim` command-line tool: flags, progress bars, Ctrl-C and files around the
//! library's run layer (`mfgsim::run`). `main` only maps the outcome to an exit status.

mod args;
mod cmd;
mod learn;
#[cfg(feature = "mpi")]
mod mpi;
mod nash_gap;
mod plot;
mod solve;
mod study;
mod sweep;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line and runs the chosen subcommand.
fn run() -> anyhow::Result<ExitCode> {
    use args::Command;
    match args::Cli::parse().command {
        Command::Solve(a) => solve::solve_cmd(a),
        Command::Check(a) => solve::check_cmd(a),
        Command::Learn(a) => learn::learn_cmd(a),
        Command::FiniteN(a) => study::finite_n_cmd(a),
        Command::NashGap(a) => nash_gap::nash_gap_cmd(a),
        Command::Sweep(a) => sweep::sweep_cmd(a),
        Command::Equilibria(a) => solve::equilibria_cmd(a),
        Command::Plot(a) => plot::plot_cmd(a),
    }
}

/// The chain, outermost first, without repeating a cause the message already ends with
/// (library errors such as `Error::Io` show their source in their own text).
fn error_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.is_empty() {
            message = text;
        } else if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            // A closed stdout (e.g. `mfgsim solve ... | head`) is not an error.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let message = error_message(&err);
            #[expect(clippy::print_stderr, reason = "the binary reports errors")]
            {
                eprintln!("mfgsim: error: {message}");
            }
            ExitCode::from(2)
        }
    }
}
