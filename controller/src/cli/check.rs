//! `xvrrpd check -f FILE [--json]`: read a keepalived.conf as the daemon would, print the
//! diagnostics and a short summary, exit 0 when the daemon would start and 1 otherwise.
//! `--json` prints the normalized configuration instead of the summary (diagnostics then go
//! to stderr, so stdout stays pure JSON).

use std::{fmt::Write as _, path::PathBuf, process::ExitCode};

use anyhow::Result;

use crate::config::{self, Config, HostInfo, Instance, Loaded, Severity, diag::count};

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (keepalived's `-f`).
    #[arg(
        short = 'f',
        long = "use-file",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    file: PathBuf,
    /// Print the normalized configuration as JSON.
    #[arg(long)]
    json: bool,
}

#[expect(clippy::unnecessary_wraps, reason = "every subcommand has the same signature")]
pub fn run(args: &Args) -> Result<ExitCode> {
    let loaded = match HostInfo::current() {
        Ok(host) => config::load_for_host(&args.file, &host),
        Err(err) => {
            eprintln!("xvrrpd: cannot list this host's interfaces ({err}); interface checks skipped");
            config::load(&args.file)
        }
    };
    let report = report(&loaded, args.json);
    print!("{}", report.stdout);
    eprint!("{}", report.stderr);
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What `check` prints, and whether the daemon would start.
struct Report {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn report(loaded: &Loaded, json: bool) -> Report {
    let tally = tally(&loaded.diagnostics);
    let mut diagnostics = String::new();
    for d in &loaded.diagnostics {
        let _ = writeln!(diagnostics, "{d}");
    }
    match (&loaded.config, json) {
        (Some(config), true) => Report {
            ok: true,
            stdout: config::to_json(config) + "\n",
            stderr: diagnostics,
        },
        (None, true) => Report {
            ok: false,
            stdout: String::new(),
            stderr: diagnostics + &format!("configuration refused: {tally}\n"),
        },
        (Some(config), false) => Report {
            ok: true,
            stdout: diagnostics + &summary(config) + &format!("configuration OK: {tally}\n"),
            stderr: String::new(),
        },
        (None, false) => Report {
            ok: false,
            stdout: diagnostics + &format!("configuration refused (the daemon would not start): {tally}\n"),
            stderr: String::new(),
        },
    }
}

fn tally(diagnostics: &[config::Diagnostic]) -> String {
    [
        (Severity::Error, "error"),
        (Severity::Warning, "warning"),
        (Severity::Note, "note"),
    ]
    .map(|(severity, word)| plural(count(diagnostics, severity), word))
    .join(", ")
}

fn summary(config: &Config) -> String {
    let mut out = String::new();
    for instance in &config.instances {
        out.push_str(&describe(instance));
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{}, {}, {}, {}",
        plural(config.instances.len(), "vrrp_instance"),
        plural(config.vip_count(), "virtual IP"),
        plural(config.scripts.len(), "vrrp_script"),
        plural(config.sync_groups.len(), "vrrp_sync_group"),
    );
    out
}

/// `vrrp_instance VI_1: VRID 51 on ens33, MASTER, priority 100, VRRPv2 every 1 s, ...`
fn describe(i: &Instance) -> String {
    let interface = i.interface.as_deref().unwrap_or("(unicast, no interface)");
    let cs = i.advert_int_cs;
    let every = format!("{}.{:02}", cs / 100, cs % 100);
    let every = every.trim_end_matches('0').trim_end_matches('.');
    let mut out = format!(
        "vrrp_instance {}: VRID {} on {interface}, {}, priority {}, VRRPv{} every {every} s",
        i.name, i.vrid, i.state, i.priority, i.version
    );
    let vips: Vec<String> = i.vips.iter().map(config::VirtualAddress::cidr).collect();
    let _ = write!(
        out,
        ", VIPs {}",
        if vips.is_empty() {
            "none".to_owned()
        } else {
            vips.join(" ")
        }
    );
    if i.is_unicast() {
        let peers: Vec<String> = i.unicast.peers.iter().map(|p| p.addr.to_string()).collect();
        let _ = write!(out, ", unicast to {}", peers.join(" "));
    }
    if !i.track_scripts.is_empty() {
        let names: Vec<&str> = i.track_scripts.iter().map(|t| t.name.as_str()).collect();
        let _ = write!(out, ", track_script {}", names.join(" "));
    }
    if !i.preempt {
        out.push_str(", nopreempt");
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 90\n \
                        virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n";

    #[test]
    fn good_config_prints_summary_and_succeeds() {
        let r = report(&config::load_str("k.conf", GOOD, None), false);
        assert!(r.ok);
        assert_eq!(
            r.stdout,
            "vrrp_instance VI_1: VRID 51 on eth0, BACKUP, priority 90, VRRPv2 every 1 s, VIPs 192.0.2.100/24\n\
             1 vrrp_instance, 1 virtual IP, 0 vrrp_scripts, 0 vrrp_sync_groups\n\
             configuration OK: 0 errors, 0 warnings, 0 notes\n"
        );
    }

    #[test]
    fn errors_fail_and_say_so() {
        let r = report(
            &config::load_str("k.conf", "vrrp_instance V {\n priority 300\n}\n", None),
            false,
        );
        assert!(!r.ok);
        assert!(
            r.stdout
                .contains("k.conf:2: error: priority 300 out of range 1..255\n"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.ends_with(
                "configuration refused (the daemon would not start): 3 errors, 1 warning, 0 notes\n"
            ),
            "{}",
            r.stdout
        );
    }

    #[test]
    fn json_goes_to_stdout_alone() {
        let loaded = config::load_str(
            "k.conf",
            &GOOD.replace("priority 90", "priority 90\n frob 1"),
            None,
        );
        let r = report(&loaded, true);
        assert!(r.ok);
        let back = config::from_json(&r.stdout).expect("stdout is the JSON");
        assert_eq!(Some(back), loaded.config);
        assert_eq!(
            r.stderr,
            "k.conf:5: warning: vrrp_instance: unknown keyword 'frob'; ignored\n"
        );

        let r = report(&config::load_str("k.conf", "}\n", None), true);
        assert!(!r.ok && r.stdout.is_empty());
    }

    #[test]
    fn fractional_adverts_show_as_seconds() {
        let text = GOOD.replace("priority 90", "version 3\n advert_int 0.25");
        let r = report(&config::load_str("k.conf", &text, None), false);
        assert!(r.stdout.contains("VRRPv3 every 0.25 s"), "{}", r.stdout);
    }
}
