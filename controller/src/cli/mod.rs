//! The `xvrrpd` command line: one module per subcommand.

mod check;
mod keepalived;
mod logging;
mod run;
mod status;
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
    /// Run the daemon in the foreground (SIGTERM stops, SIGHUP reloads).
    Run(run::Args),
    /// Show the running daemon's instances and counters.
    Status(status::Args),
    /// Read a keepalived.conf, print its diagnostics and a summary; exit 1 on errors.
    Check(check::Args),
    /// Attach the XDP program to an interface for a while and print what it counted.
    Watch(watch::Args),
    /// Load the data path and pin it in a bpffs directory, then exit: what
    /// `run` starts so that loading's memory peak stays out of the daemon.
    #[command(name = crate::datapath::kernel::LOADER_COMMAND, hide = true)]
    LoadDatapath {
        #[arg(long)]
        pin_dir: std::path::PathBuf,
        /// Load and pin the TC advert classifier too.
        #[arg(long)]
        tc: bool,
        /// The event ring's size in bytes (a power of two).
        #[arg(long, default_value_t = xvrrp_common::maps::EVENTS_BYTES)]
        events_bytes: u32,
    },
    /// Print the xvrrpd(8) man page (roff), for packaging.
    #[command(hide = true)]
    Man,
    /// Print shell completions (bash, zsh, fish, elvish, powershell), for packaging.
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
}

/// Runs the command line; errors are printed with their whole context chain.
pub fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if keepalived::invoked_as_keepalived(argv.first()) {
        return keepalived::main(argv);
    }
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run(_) | Command::LoadDatapath { .. }) {
        quiet_on_closed_pipe();
    }
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Status(args) => status::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::LoadDatapath {
            pin_dir,
            tc,
            events_bytes,
        } => crate::datapath::kernel::load_and_pin(&pin_dir, tc, events_bytes).map(|()| ExitCode::SUCCESS),
        Command::Man => man(),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "xvrrpd", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xvrrpd: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The printing commands end quietly when their reader goes (`xvrrpd check | head`), as
/// Unix tools do. Rust starts with SIGPIPE ignored, so the next `println!` would panic on
/// the broken pipe instead. The daemon keeps it ignored: its sockets and pipes to scripts
/// report EPIPE as an error it handles.
fn quiet_on_closed_pipe() {
    // SAFETY: restores the default disposition of one signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The man page: xvrrpd(8) from the clap definitions.
fn man() -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .section("8")
        .render(&mut out)?;
    std::io::Write::write_all(&mut std::io::stdout(), &out)?;
    Ok(ExitCode::SUCCESS)
}
