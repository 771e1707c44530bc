//! `cargo xtask demo`: the smallest real thing xvrrp does today, on a lab of two
//! network namespaces joined by a veth pair.
//!
//! Host `a` runs a real keepalived 2.2.7 as VRRP master; host `b` runs
//! `xvrrpd watch`, whose XDP program counts keepalived's adverts as they
//! arrive. The lab is removed on exit and on failure; one left by a killed run
//! is removed at the next start.

use std::{
    fs,
    process::{Child, Command, Stdio},
    thread,
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

use crate::util::{Cmd, cargo, step, target_dir};

const LAB: &str = "xvdemo";
const WATCH_SECONDS: &str = "4";

struct Lab {
    dir: std::path::PathBuf,
    keepalived: Option<Child>,
}

fn ns(host: &str) -> String {
    format!("{LAB}-{host}")
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn teardown() {
    for host in ["a", "b"] {
        let _ = Command::new("ip")
            .args(["netns", "del", &ns(host)])
            .stderr(Stdio::null())
            .status();
    }
}

impl Lab {
    fn up() -> Result<Self> {
        teardown();
        for host in ["a", "b"] {
            ip(&["netns", "add", &ns(host)])?;
            ip(&["-n", &ns(host), "link", "set", "lo", "up"])?;
        }
        ip(&[
            "-n",
            &ns("a"),
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "ethb",
            "netns",
            &ns("b"),
        ])?;
        ip(&["-n", &ns("b"), "link", "set", "ethb", "name", "eth0"])?;
        for (host, addr) in [("a", "192.0.2.1/24"), ("b", "192.0.2.2/24")] {
            ip(&["-n", &ns(host), "addr", "add", addr, "dev", "eth0"])?;
            ip(&["-n", &ns(host), "link", "set", "eth0", "up"])?;
        }
        let dir = std::env::temp_dir().join(LAB);
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            keepalived: None,
        })
    }

    fn start_keepalived(&mut self) -> Result<()> {
        let conf = self.dir.join("keepalived-a.conf");
        fs::write(
            &conf,
            "vrrp_instance VI_1 {\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  \
             priority 100\n  advert_int 1\n  authentication {\n    auth_type PASS\n    auth_pass demo\n  }\n  \
             virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n",
        )?;
        let pid = |n: &str| self.dir.join(n).to_string_lossy().into_owned();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns("a"), "keepalived", "-n", "-P", "-f"])
            .arg(&conf)
            .args(["-p", &pid("ka.pid"), "-r", &pid("ka-vrrp.pid")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start keepalived (apt package keepalived; `cargo xtask setup` installs it)")?;
        self.keepalived = Some(child);
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.keepalived.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        teardown();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn run() -> Result<()> {
    crate::setup::ensure()?;
    step("building xvrrpd (release)");
    cargo(&["build", "--release", "--package", "xvrrpd"]).status_ok()?;
    let xvrrpd = target_dir()?.join("release/xvrrpd");

    step("lab: namespaces xvdemo-a and xvdemo-b, joined by a veth pair (eth0)");
    let mut lab = Lab::up()?;
    lab.start_keepalived()?;
    println!("a: keepalived 2.2.7, VRRP master for VRID 51, advert_int 1 s");
    thread::sleep(Duration::from_secs(1));

    step(&format!(
        "b: xvrrpd watch -i eth0 --seconds {WATCH_SECONDS} (XDP, native mode)"
    ));
    let out = Cmd::new("ip", &["netns", "exec", &ns("b")])
        .arg(&xvrrpd)
        .args(&["watch", "-i", "eth0", "--seconds", WATCH_SECONDS])
        .output_ok()
        .context("xvrrpd watch failed in the lab")?;
    print!("{out}");
    let seen: u64 = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("vrrp_seen")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    if seen == 0 {
        bail!("the XDP program on b saw no adverts from keepalived on a");
    }
    println!("\ndemo: xvrrp's XDP program on b counted {seen} adverts from keepalived on a");
    drop(lab);
    Ok(())
}
