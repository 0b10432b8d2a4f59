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
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
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
