//! `xvrrpd run`: the daemon in the foreground, logging to stderr.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Result;

use crate::{
    daemon::{self, ModeChoice, RunOptions, VmacChoice},
    datapath::attach::{AdvertPath, ResponderChoice},
};

#[derive(clap::Args)]
pub struct Args {
    /// keepalived.conf to run.
    #[arg(
        short = 'f',
        long = "config-file",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    config: PathBuf,
    /// Where adverts are validated: XDP (falling back to sockets), XDP only (native
    /// driver mode), XDP in generic skb mode, or sockets only.
    #[arg(long, value_enum, default_value_t = ModeChoice::Auto)]
    mode: ModeChoice,
    /// Who answers ARP / Neighbor Solicitations for the VIPs in XDP mode:
    /// `auto` lets XDP answer where its replies are known to arrive (not
    /// native XDP on a veth) and the kernel elsewhere; `xdp` everywhere
    /// (arrange the far end of each veth yourself); `kernel` always.
    #[arg(long, value_enum, default_value_t = ResponderChoice::Auto)]
    arp_responder: ResponderChoice,
    /// Where adverts are validated in the kernel in XDP mode: `tc` (default)
    /// at TC ingress, which sees VLAN tags that rx / tx VLAN offload hides
    /// from XDP; `xdp` where you know no tag can be hidden (rx VLAN offload
    /// off, no VLANs behind a veth).
    #[arg(long, value_enum, default_value_t = AdvertPath::Tc)]
    adverts_in: AdvertPath,
    /// What `use_vmac` makes: `macvlan` (keepalived's private macvlan per
    /// instance, `vrrp.VRID`), or `xdp`: no interface, the XDP program
    /// answers for the virtual MAC on the instance's own interface (XDP
    /// modes only; no netdev per instance on dense hosts).
    #[arg(long, value_enum, default_value_t = VmacChoice::Macvlan)]
    vmac: VmacChoice,
    /// Directory for the pid file, the control socket and `state.json` (what
    /// this run installed, so that a start after a crash removes or adopts it).
    #[arg(long, default_value = "/run/xvrrp")]
    run_dir: PathBuf,
    /// Where bpffs is mounted (mounted there if missing): the XDP data path is
    /// pinned under it so a restarted daemon can adopt it.
    #[arg(long, default_value = crate::daemon::persist::DEFAULT_BPFFS)]
    bpffs: PathBuf,
    /// Where SIGUSR1, SIGUSR2 and keepalived's JSON signal write
    /// keepalived.data / .stats / .json (default: $TMPDIR if absolute, else /tmp).
    #[arg(long)]
    dump_dir: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9650).
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Log level: error, warn, info, debug, trace (or a tracing filter).
    #[arg(long, default_value = "info")]
    log_level: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    super::logging::init(&args.log_level, true, None)?;
    daemon::run(RunOptions {
        config: args.config,
        vmac: args.vmac,
        bpffs: args.bpffs,
        mode: args.mode,
        responder: args.arp_responder,
        adverts: args.adverts_in,
        run_dir: args.run_dir,
        metrics: args.metrics,
        dump_dir: daemon::dump::dir(args.dump_dir.as_deref()),
    })?;
    Ok(ExitCode::SUCCESS)
}
