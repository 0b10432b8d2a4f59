//! The `focal` command line: thin glue over the library crates (see docs/ARCHITECTURE.md).

mod audit_key;
mod cli;
mod commands;
mod config;
mod drop_folder;
mod folder_lock;
mod intelmq_import;
mod progress;
mod pull;
mod reminders;
mod workers;

use clap::Parser;

// Events are allocated by parse workers and freed by the writer thread; glibc's allocator makes
// such cross-thread frees expensive (a fifth of the writer's time in profiles), mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Writing to a closed pipe (`focal events | head`) is not an error worth reporting.
            if error.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
                    || c.downcast_ref::<serde_json::Error>()
                        .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", message(&error));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, each said once: a cause whose text an outer message
/// already carries (`{path}: {source}` wrapping `source`) is not repeated.
fn message(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("FOCAL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // On a terminal, human-readable lines; otherwise (CI, services) one JSON object per line.
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        builder.init();
    } else {
        builder.json().init();
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(io)
            .context("x.csv: No such file")
            .context("ingesting");
        assert_eq!(super::message(&e), "ingesting: x.csv: No such file");
        let e: anyhow::Result<()> = Err(anyhow::anyhow!("inner")).context("outer");
        assert_eq!(super::message(&e.unwrap_err()), "outer: inner");
    }
}
