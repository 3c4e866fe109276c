//! The `mfgsim` command-line tool. All work happens in [`cli::run`]; this file only maps the
//! outcome to an exit status.

mod cli;
mod cmd;
mod learn;
mod study;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            // A closed stdout (e.g. `mfgsim solve ... | head`) is not an error.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            // The chain, outermost first, without repeating a cause the message already ends
            // with (library errors such as `Error::Io` show their source in their own text).
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
            #[expect(clippy::print_stderr, reason = "the binary reports errors")]
            {
                eprintln!("mfgsim: error: {message}");
            }
            ExitCode::from(2)
        }
    }
}
