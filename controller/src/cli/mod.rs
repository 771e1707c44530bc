//! The `xvrrpd` command line: one module per subcommand.

mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xvrrpd",
    version,
    about = "VRRP daemon with an XDP data path (keepalived's VRRP side)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Attach the XDP program to an interface for a while and print what it counted.
    Watch(watch::Args),
}

/// Runs the command line; errors are printed with their whole context chain.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Watch(args) => watch::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xvrrpd: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
