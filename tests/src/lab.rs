//! A namespace lab: a switch namespace holding a bridge, and hosts plugged
//! into it with a veth each (`eth0` on the host side). Dropping the lab
//! removes every namespace (the `NetNs` guards).
//!
//! The lab is a user's network, no friendlier: the switch ports are plain
//! veths with no XDP program (which a veth needs to receive XDP_TX frames),
//! and IPv6 Duplicate Address Detection is the kernel's default. Host
//! addresses are waited for until DAD has finished, as on a host that has
//! been up for a while; VIPs get no such wait.

use std::time::{Duration, Instant};

use crate::netns::NetNs;

pub struct Lab {
    pub switch: NetNs,
    hosts: Vec<(String, NetNs)>,
}

impl Lab {
    pub fn new() -> Self {
        let switch = NetNs::new("sw");
        switch.ip(&["link", "add", "br0", "type", "bridge"]);
        // Forward at once: no STP listening/learning delay on a test bridge.
        switch.ip(&[
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
        ]);
        switch.ip(&["link", "set", "br0", "up"]);
        Self {
            switch,
            hosts: Vec::new(),
        }
    }

    /// Adds host `name` with `eth0` holding `addrs` (e.g. "192.0.2.1/24").
    pub fn host(&mut self, name: &str, addrs: &[&str]) -> &NetNs {
        let ns = NetNs::new(name);
        let port = format!("p-{name}");
        self.switch.ip(&[
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns.name(),
        ]);
        self.switch.ip(&["link", "set", &port, "master", "br0", "up"]);
        for a in addrs {
            ns.ip(&["addr", "add", a, "dev", "eth0"]);
        }
        ns.ip(&["link", "set", "eth0", "up"]);
        wait_for_dad(&ns);
        self.hosts.push((name.to_owned(), ns));
        &self.hosts.last().expect("just pushed").1
    }

    /// Deletes host `name`'s `eth0` (and its switch port) and plugs a new one
    /// with `addrs`: the interface disappears and comes back with a new index.
    pub fn replug(&mut self, name: &str, addrs: &[&str]) {
        let ns_name = self.get(name).name().to_owned();
        // Deleted and added again at once, as a container or a hotplug can.
        self.get(name).ip(&["link", "del", "eth0"]);
        let port = format!("p-{name}");
        self.switch.ip(&[
            "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns_name,
        ]);
        self.switch.ip(&["link", "set", &port, "master", "br0", "up"]);
        let ns = self.get(name);
        for a in addrs {
            ns.ip(&["addr", "add", a, "dev", "eth0"]);
        }
        ns.ip(&["link", "set", "eth0", "up"]);
    }

    /// A direct cable between hosts `a` and `b` besides the switch: a veth
    /// pair named `iface` on both sides, down and without addresses.
    pub fn cable(&self, a: &str, b: &str, iface: &str) {
        let peer = self.get(b).name().to_owned();
        self.get(a).ip(&[
            "link", "add", iface, "type", "veth", "peer", "name", iface, "netns", &peer,
        ]);
    }

    /// Starts `tcpdump -tt -e -n` on host `name`'s switch port for `secs`
    /// (what the host sends, as the switch sees it); returns once tcpdump says
    /// it is listening (at most 5 s). `Capture::text` waits for the end and
    /// returns its lines.
    pub fn capture(&self, name: &str, secs: f32, filter: &str) -> Capture {
        self.switch.capture(&format!("p-{name}"), secs, filter)
    }

    /// What host `name` sends on its `eth0` (`tcpdump -Q out`), from any of
    /// its interfaces (a macvlan's frames leave by its base), for `secs`.
    pub fn capture_sent(&self, name: &str, secs: f32, filter: &str) -> Capture {
        Capture::start(self.get(name).name(), "eth0", secs, &["-Q", "out"], filter)
    }

    /// Host `name`'s addresses on `eth0`, one per line (`ip -o addr show`).
    pub fn addrs(&self, name: &str) -> String {
        let out = self.get(name).ip(&["-o", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn get(&self, name: &str) -> &NetNs {
        &self
            .hosts
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no host {name}"))
            .1
    }

    /// Takes a host's switch port down or up (its cable, as seen from the switch).
    pub fn port(&self, name: &str, up: bool) {
        self.switch.ip(&[
            "link",
            "set",
            &format!("p-{name}"),
            if up { "up" } else { "down" },
        ]);
    }
}

/// A running capture (`Lab::capture`); killed if dropped unread (a test
/// that failed meanwhile).
pub struct Capture {
    child: Option<std::process::Child>,
    /// Reads tcpdump's output as it comes: a pipe nobody reads fills after
    /// 64 KiB and stops tcpdump (a busy capture then loses its tail).
    reader: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Capture {
    /// Starts `tcpdump -tt -e -n` on `iface` in namespace `ns` for `secs`;
    /// returns once tcpdump says it is listening (at most 5 s).
    pub fn tcpdump(ns: &str, iface: &str, secs: f32, filter: &str) -> Self {
        Self::start(ns, iface, secs, &[], filter)
    }

    fn start(ns: &str, iface: &str, secs: f32, extra: &[&str], filter: &str) -> Self {
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "timeout", &secs.to_string()])
            .args(["tcpdump", "-tt", "-e", "-n", "-l", "-i", iface])
            .args(extra)
            .arg(filter)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tcpdump (apt package tcpdump)");
        let mut stdout = child.stdout.take().expect("tcpdump's stdout is piped");
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut out);
            out
        });
        wait_listening(&mut child);
        Self {
            child: Some(child),
            reader: Some(reader),
        }
    }

    /// Waits for the capture to end; its output, lower-cased.
    pub fn text(mut self) -> String {
        let mut child = self.child.take().expect("a capture is read once");
        let _ = child.wait();
        let out = self.reader.take().and_then(|r| r.join().ok()).unwrap_or_default();
        String::from_utf8_lossy(&out).to_lowercase()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits (at most 5 s) until tcpdump reports "listening on" on stderr;
/// the rest of its stderr is drained in the background.
pub fn wait_listening(child: &mut std::process::Child) {
    use std::io::BufRead as _;
    let stderr = child.stderr.take().expect("tcpdump's stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("tcpdump did not start listening within 5 s");
}

/// Waits (at most 5 s) until no address of `ns` is tentative: Duplicate
/// Address Detection of the host's own addresses has finished.
pub fn wait_for_dad(ns: &NetNs) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                "ip",
                "-6",
                "addr",
                "show",
                "tentative",
            ])
            .output()
            .expect("ip");
        if out.stdout.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{}: IPv6 addresses still tentative after 5 s", ns.name());
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}
