//! Network namespaces for tests, torn down on drop (also when a test panics).
//!
//! Every namespace is named `xvt-<pid>-<n>-<tag>`; namespaces left by a test
//! process that no longer runs are removed the first time this module is used.

use std::{
    fs::File,
    os::fd::AsRawFd,
    path::Path,
    process::{Command, Output},
    sync::{
        Once,
        atomic::{AtomicU32, Ordering},
    },
};

/// Prefix of every namespace the tests create.
pub const PREFIX: &str = "xvt-";

static NEXT: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &[&str]) -> Output {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Removes namespaces left behind by test processes that are gone.
fn sweep_leftovers() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}

/// A network namespace owned by the test that created it.
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// `GET PATH` over HTTP/1.0 to `addr` from inside this namespace (a
    /// helper thread enters it); the whole answer, head and body ("" if the
    /// connection fails to produce one within 2 s).
    pub fn http_get(&self, addr: &str, path: &str) -> String {
        use std::io::{Read as _, Write as _};
        let ns = format!("/run/netns/{}", self.name());
        let (addr, request) = (addr.to_owned(), format!("GET {path} HTTP/1.0\r\n\r\n"));
        std::thread::spawn(move || {
            let f = std::fs::File::open(ns).expect("namespace file");
            // SAFETY: this helper thread alone moves into the namespace.
            assert_eq!(
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) },
                0
            );
            let mut s = std::net::TcpStream::connect(&addr).expect("HTTP endpoint");
            s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            s.write_all(request.as_bytes()).unwrap();
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            body
        })
        .join()
        .unwrap()
    }

    /// Creates `xvt-<pid>-<n>-<tag>` with its loopback up.
    pub fn new(tag: &str) -> Self {
        SWEEP.call_once(sweep_leftovers);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}-{tag}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME args...`
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut cmd = vec!["ip", "-n", &self.name];
        cmd.extend_from_slice(args);
        run(&cmd)
    }

    /// `ip netns exec NAME args...`, panicking on failure.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut cmd = vec!["ip", "netns", "exec", &self.name];
        cmd.extend_from_slice(args);
        run(&cmd)
    }

    /// `ip netns exec NAME args...`, whatever its exit status (a probe that
    /// may fail: a ping, an arping).
    pub fn try_exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {args:?} in {}: {e}", self.name))
    }

    /// Habets' arping (apt `arping`) from this namespace: `count` requests for
    /// `target` out of `iface`, at most `wait_s` seconds. Whether a reply
    /// came, and arping's output, lower-cased.
    pub fn arping(&self, iface: &str, target: &str, count: u32, wait_s: u32) -> (bool, String) {
        let (count, wait) = (count.to_string(), wait_s.to_string());
        let out = self.try_exec(&["arping", "-c", &count, "-w", &wait, "-i", iface, target]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_lowercase(),
        )
    }

    /// Moves the calling thread into this namespace until the guard drops.
    /// `tcpdump -tt -e -n` on `iface` here for `secs` (see `Capture`).
    pub fn capture(&self, iface: &str, secs: f32, filter: &str) -> crate::lab::Capture {
        crate::lab::Capture::tcpdump(self.name(), iface, secs, filter)
    }

    pub fn enter(&self) -> Entered {
        let back = File::open("/proc/thread-self/ns/net").expect("open own netns");
        let target = File::open(format!("/run/netns/{}", self.name)).expect("open test netns");
        setns(&target);
        Entered { back }
    }

    /// The interface index of `iface` in this namespace.
    pub fn ifindex(&self, iface: &str) -> u32 {
        let out = self.ip(&["-o", "link", "show", iface]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ifindex for {iface}: {text}"))
    }

    /// The MAC address of `iface` in this namespace.
    pub fn mac(&self, iface: &str) -> [u8; 6] {
        let out = self.ip(&["-o", "link", "show", iface]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mac = text
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_else(|| panic!("no MAC for {iface}: {text}"));
        let mut bytes = [0u8; 6];
        for (b, part) in bytes.iter_mut().zip(mac.split(':')) {
            *b = u8::from_str_radix(part, 16).expect("hex MAC");
        }
        bytes
    }
}

impl Drop for NetNs {
    /// Kills whatever still runs in the namespace (a daemon's scripts, a
    /// peer's children, after a failed test), then deletes it.
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &self.name]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: kill(2); the process runs in this test's own namespace.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

fn setns(file: &File) {
    // SAFETY: a valid namespace fd; only the calling thread changes namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// The calling thread is inside a test namespace while this lives.
pub struct Entered {
    back: File,
}

impl Drop for Entered {
    fn drop(&mut self) {
        setns(&self.back);
    }
}

/// Two namespaces joined by a veth pair `veth0` (in `a`) -- `veth0` (in `b`),
/// both up, with `192.0.2.1/24` on `a` and `192.0.2.2/24` on `b`
/// (TEST-NET-1: documentation addresses that exist only inside these namespaces).
pub struct Pair {
    pub a: NetNs,
    pub b: NetNs,
}

impl Pair {
    pub fn new() -> Self {
        let a = NetNs::new("a");
        let b = NetNs::new("b");
        a.ip(&[
            "link",
            "add",
            "veth0",
            "type",
            "veth",
            "peer",
            "name",
            "vethb",
            "netns",
            b.name(),
        ]);
        b.ip(&["link", "set", "vethb", "name", "veth0"]);
        for (ns, addr) in [(&a, "192.0.2.1/24"), (&b, "192.0.2.2/24")] {
            ns.ip(&["addr", "add", addr, "dev", "veth0"]);
            ns.ip(&["link", "set", "veth0", "up"]);
        }
        Self { a, b }
    }
}

impl Default for Pair {
    fn default() -> Self {
        Self::new()
    }
}
