//! `xvrrpd status`: what the running daemon reports (read-only).

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;

use crate::daemon::{runtime::query_status, status};

#[derive(clap::Args)]
pub struct Args {
    /// The daemon's run directory.
    #[arg(long, default_value = "/run/xvrrp")]
    run_dir: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let snap = query_status(&args.run_dir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&snap)?);
    } else {
        print!("{}", status::table(&snap));
    }
    Ok(ExitCode::SUCCESS)
}
