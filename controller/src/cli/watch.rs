//! `xvrrpd watch -i IFACE --seconds N`: attach the XDP program, wait, print the
//! counters. A quick way to see whether VRRP reaches an interface and what the
//! data path makes of it, without configuring anything.

use std::{process::ExitCode, thread, time::Duration};

use anyhow::Result;
use aya::programs::XdpMode;

use crate::datapath::Datapath;

#[derive(clap::Args)]
pub struct Args {
    /// Interface to attach to.
    #[arg(short, long)]
    interface: String,
    /// How long to watch.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Attach in generic (skb) mode instead of native (driver) mode.
    #[arg(long)]
    skb: bool,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let mut dp = Datapath::load()?;
    let mode = if args.skb { XdpMode::Skb } else { XdpMode::Driver };
    dp.attach(&args.interface, mode)?;
    println!(
        "watching {} for {} s ({mode:?} mode)",
        args.interface, args.seconds
    );
    thread::sleep(Duration::from_secs(args.seconds));
    for (name, value) in dp.named_counters()? {
        println!("{name:>18} {value}");
    }
    Ok(ExitCode::SUCCESS)
}
