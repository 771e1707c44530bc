//! The soak's running cluster: three routers on a bridge of plain veths,
//! each running its implementation (and FRR beside router 3's), the faults
//! done to them and undone, and the looks at what they hold.

use std::{
    collections::{BTreeSet, HashMap},
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{
    check::Observation,
    plan::{Cluster, FRR_PRIORITY, FRR_VRIDS, Fault, Kind, LOSS, ROUTERS, Role, host_addrs, vip},
};
use crate::{
    daemon::{Daemon, Keepalived, SharedBpffs, wait_for},
    frr::Frr,
    lab::Lab,
    netns::NetNs,
};

/// Where xvrrpd serves metrics inside its router's namespace.
const METRICS: &str = "127.0.0.1:9100";
/// Stalled connections a `Scrape` fault holds open on each endpoint.
const STALLED: usize = 20;
/// How many times, and how far apart, a checkpoint counts each daemon's
/// descriptors (`Cluster::processes`).
const FD_LOOKS: usize = 5;
const FD_LOOK_GAP: Duration = Duration::from_millis(100);

/// A router's daemon.
enum Node {
    X(Daemon),
    K(Keepalived),
    /// Stopped or killed by a fault.
    Down,
}

/// One process in a router's namespace at a checkpoint.
#[derive(Debug, Clone)]
pub struct Proc {
    pub router: usize,
    pub pid: u32,
    pub comm: String,
    pub fds: usize,
    /// `fds` by kind ("socket 20, pipe 2, anon_inode:bpf-map 8, file 6"),
    /// so that a growth says what grew.
    pub fd_kinds: String,
    pub anon_kib: u64,
}

/// Clients a `Scrape` fault runs until it is undone.
struct Clients {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

pub struct Running {
    /// First: dropped (daemons stopped, FRR too) before the lab and bpffs go.
    nodes: Vec<Node>,
    pub frr: Frr,
    pub roles: [Role; ROUTERS],
    pub lab: Lab,
    pub bpffs: SharedBpffs,
    dir: PathBuf,
    /// Per router: port up, daemon running.
    pub port_up: [bool; ROUTERS],
    pub alive: [bool; ROUTERS],
    clients: Vec<Clients>,
    restarts: usize,
    /// Per keepalived router, its processes (the parent and its VRRP child;
    /// not the scripts the child forks) as first seen: one of them gone is a
    /// crash even when the parent has started a new child.
    keepalived_pids: [Option<BTreeSet<u32>>; ROUTERS],
}

fn name(r: usize) -> String {
    format!("r{}", r + 1)
}

impl Running {
    /// Builds the lab, starts FRR and every router's daemon on `cluster`.
    pub fn start(roles: [Role; ROUTERS], cluster: &Cluster, dir: &Path) -> Self {
        let mut lab = Lab::new();
        for r in 0..ROUTERS {
            let [a4, a6] = host_addrs(r);
            lab.host(&name(r), &[&a4, &a6]);
        }
        let bpffs = SharedBpffs::mount("soak");
        let frr_vrs: Vec<(u8, u8, String, String)> = FRR_VRIDS
            .map(|vrid| (vrid, FRR_PRIORITY, vip(false, 1, vrid), vip(true, 1, vrid)))
            .collect();
        let frr = Frr::start_many(lab.get(&name(ROUTERS - 1)), dir, &frr_vrs);
        let mut running = Self {
            roles,
            lab,
            bpffs,
            frr,
            nodes: Vec::new(),
            dir: dir.to_owned(),
            port_up: [true; ROUTERS],
            alive: [false; ROUTERS],
            clients: Vec::new(),
            restarts: 0,
            keepalived_pids: Default::default(),
        };
        running.write_confs(cluster);
        for r in 0..ROUTERS {
            let node = running.spawn(r);
            running.nodes.push(node);
            running.alive[r] = true;
        }
        running
    }

    fn router_dir(&self, r: usize) -> PathBuf {
        self.dir.join(name(r))
    }

    fn conf_path(&self, r: usize) -> PathBuf {
        self.router_dir(r).join("keepalived.conf")
    }

    fn down_file(&self, r: usize) -> PathBuf {
        self.router_dir(r).join("health-down")
    }

    /// Writes every router's configuration (what config management does
    /// before it signals).
    pub fn write_confs(&self, cluster: &Cluster) {
        for r in 0..ROUTERS {
            fs::create_dir_all(self.router_dir(r)).expect("router directory");
            let text = cluster.conf(r, &self.down_file(r).to_string_lossy());
            fs::write(self.conf_path(r), text).expect("write keepalived.conf");
        }
    }

    fn spawn(&mut self, r: usize) -> Node {
        self.keepalived_pids[r] = None;
        let ns = self.lab.get(&name(r));
        let conf = self.conf_path(r);
        let dir = self.router_dir(r);
        let run_dir = dir.join("run");
        // Keep the log of the daemon a fault ended: the next start truncates it.
        let log = run_dir.with_extension("log");
        if log.exists() {
            self.restarts += 1;
            let _ = fs::rename(&log, dir.join(format!("run-{}.log", self.restarts)));
        }
        let bpffs = self.bpffs.0.to_string_lossy().into_owned();
        match self.roles[r] {
            Role::Keepalived => Node::K(Keepalived::start(ns, &conf, &dir)),
            role => Node::X(Daemon::start_args(
                ns,
                &conf,
                &run_dir,
                if role == Role::Xdp { "xdp" } else { "socket" },
                &["--bpffs", &bpffs, "--metrics", METRICS],
            )),
        }
    }

    /// Starts the fault; `cluster` is already the new one for a reload.
    pub fn apply(&mut self, fault: Fault, cluster: &Cluster) {
        let r = fault.router;
        let ns = self.lab.get(&name(r));
        match fault.kind {
            Kind::Link => {
                self.lab.port(&name(r), false);
                self.port_up[r] = false;
            }
            Kind::Loss => {
                loss(ns, "-A");
            }
            Kind::Kill => {
                match &self.nodes[r] {
                    Node::X(d) => d.signal("KILL"),
                    Node::K(_) => {
                        for p in procs(ns, r).iter().filter(|p| p.comm == "keepalived") {
                            // SAFETY: kill(2) on a keepalived of this test's namespace.
                            unsafe { libc::kill(p.pid.cast_signed(), libc::SIGKILL) };
                        }
                    }
                    Node::Down => {}
                }
                self.take_down(r);
            }
            Kind::Restart => self.take_down(r),
            Kind::Reload => {
                self.write_confs(cluster);
                // Config management signals every node within a moment.
                for (r, node) in self.nodes.iter().enumerate() {
                    match node {
                        Node::X(d) => d.signal("HUP"),
                        Node::K(k) => {
                            if let Some(pid) = k.pid() {
                                // SAFETY: kill(2) on the keepalived this test started.
                                unsafe { libc::kill(pid.cast_signed(), libc::SIGHUP) };
                            }
                        }
                        Node::Down => {}
                    }
                    if r + 1 < ROUTERS {
                        thread::sleep(Duration::from_millis(150));
                    }
                }
            }
            Kind::Health => {
                fs::write(self.down_file(r), "down").expect("health flag");
            }
            Kind::Scrape => {
                if self.roles[r].is_xvrrpd() {
                    let socket = self.router_dir(r).join("run").join("xvrrpd.sock");
                    self.clients.push(clients(ns, socket));
                }
            }
        }
    }

    /// Stops router `r`'s daemon (SIGTERM, or reaps the one SIGKILL ended).
    fn take_down(&mut self, r: usize) {
        match std::mem::replace(&mut self.nodes[r], Node::Down) {
            Node::X(mut d) => {
                d.stop();
            }
            Node::K(mut k) => k.stop(),
            Node::Down => {}
        }
        self.alive[r] = false;
    }

    /// Undoes the fault.
    pub fn revert(&mut self, fault: Fault) {
        let r = fault.router;
        match fault.kind {
            Kind::Link => {
                self.lab.port(&name(r), true);
                self.port_up[r] = true;
            }
            Kind::Loss => {
                loss(self.lab.get(&name(r)), "-D");
            }
            Kind::Kill | Kind::Restart => {
                if matches!(self.nodes[r], Node::Down) {
                    self.nodes[r] = self.spawn(r);
                    self.alive[r] = true;
                }
            }
            Kind::Reload => {}
            Kind::Health => {
                let _ = fs::remove_file(self.down_file(r));
            }
            Kind::Scrape => {
                for c in self.clients.drain(..) {
                    c.stop.store(true, Ordering::Relaxed);
                    for t in c.threads {
                        let _ = t.join();
                    }
                }
            }
        }
    }

    /// Starts router `r`'s daemon again after it ended by itself.
    pub fn revive(&mut self, r: usize) {
        self.take_down(r);
        self.nodes[r] = self.spawn(r);
        self.alive[r] = true;
    }

    /// Daemons that ended without a fault ending them: (router, exit status).
    pub fn crashed(&mut self) -> Vec<(usize, i32)> {
        let mut out = Vec::new();
        for (r, node) in self.nodes.iter_mut().enumerate() {
            match node {
                Node::X(d) => {
                    if let Some(code) = d.exited() {
                        out.push((r, code));
                    }
                }
                Node::K(k) => {
                    let ns = self.lab.get(&name(r));
                    let parent = k.pid();
                    let now: BTreeSet<u32> = procs(ns, r)
                        .iter()
                        .filter(|p| p.comm == "keepalived")
                        .filter(|p| Some(p.pid) == parent || parent.is_some() && ppid(p.pid) == parent)
                        .map(|p| p.pid)
                        .collect();
                    let seen = &mut self.keepalived_pids[r];
                    let gone = seen.as_ref().is_some_and(|s| !s.is_subset(&now));
                    if k.pid().is_some() && (now.is_empty() || gone) {
                        out.push((r, -1));
                    } else if seen.is_none() && now.len() >= 2 {
                        *seen = Some(now);
                    }
                }
                Node::Down => {}
            }
        }
        out
    }

    /// For xvrrpd routers: instances whose state is neither MASTER nor
    /// BACKUP, or a daemon that does not answer `status`.
    pub fn status_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (r, node) in self.nodes.iter().enumerate() {
            let Node::X(d) = node else { continue };
            let Some(st) = d.status() else {
                out.push(format!("r{}: xvrrpd does not answer status", r + 1));
                continue;
            };
            for i in st["instances"].as_array().into_iter().flatten() {
                let state = i["state"].as_str().unwrap_or("?");
                if state != "MASTER" && state != "BACKUP" {
                    out.push(format!("r{}: {} is {state}", r + 1, i["name"]));
                }
            }
        }
        out
    }

    /// What a sampler thread needs to look at the routers.
    pub fn probe(&self) -> Probe {
        Probe {
            routers: std::array::from_fn(|r| self.lab.get(&name(r)).name().to_owned()),
            frr: self.frr.ns().to_owned(),
            frr_seen: Arc::default(),
        }
    }

    /// Every process in the routers' namespaces.
    pub fn processes(&self) -> Vec<Proc> {
        let mut procs: Vec<Proc> = (0..ROUTERS)
            .flat_map(|r| procs(self.lab.get(&name(r)), r))
            .collect();
        // Descriptors: the fewest of a few looks. A leaked one stays; one a
        // daemon holds for a moment (a health script's pipes while it runs,
        // a client's connection being closed) does not: one look that fell
        // on such a moment would read a growth that is not there.
        for _ in 1..FD_LOOKS {
            thread::sleep(FD_LOOK_GAP);
            for p in &mut procs {
                if let Some((n, kinds)) = fd_kinds(p.pid)
                    && n < p.fds
                {
                    (p.fds, p.fd_kinds) = (n, kinds);
                }
            }
        }
        procs
    }

    /// Stops everything (daemons, then FRR); what was left behind: processes,
    /// VIPs, bpffs pins, loss rules.
    pub fn stop_all(&mut self) -> Vec<String> {
        for r in 0..ROUTERS {
            self.take_down(r);
        }
        self.frr.stop();
        let mut leaks = Vec::new();
        for r in 0..ROUTERS {
            let ns = self.lab.get(&name(r));
            // Health checks a daemon started just before it stopped end by themselves.
            let gone = wait_for(Duration::from_secs(3), || procs(ns, r).is_empty()).is_some();
            if !gone {
                for p in procs(ns, r) {
                    leaks.push(format!("r{}: process {} ({}) left running", r + 1, p.pid, p.comm));
                }
            }
            match eth0_addrs(ns.name()) {
                Some(addrs) => {
                    for a in addrs.iter().filter(|a| super::check::is_vip(a)) {
                        leaks.push(format!("r{}: VIP {a} left on eth0", r + 1));
                    }
                }
                None => leaks.push(format!("r{}: its addresses could not be read at the end", r + 1)),
            }
            for tool in ["iptables", "ip6tables"] {
                let rules = String::from_utf8_lossy(&ns.exec(&[tool, "-S", "OUTPUT"]).stdout).into_owned();
                if rules.contains("statistic") {
                    leaks.push(format!("r{}: {tool} loss rule left: {rules}", r + 1));
                }
            }
        }
        for pin in self.bpffs.pin_dirs() {
            leaks.push(format!("bpffs pin directory xvrrp/{pin} left"));
        }
        leaks
    }

    /// The daemons' logs (for a failure's report): router, log text's tail.
    pub fn log_tails(&self) -> Vec<(usize, String)> {
        (0..ROUTERS)
            .map(|r| {
                let text = match &self.nodes[r] {
                    Node::X(d) => d.log_text(),
                    Node::K(k) => k.log_text(),
                    Node::Down => String::new(),
                };
                let lines: Vec<&str> = text.lines().collect();
                (r, lines[lines.len().saturating_sub(40)..].join("\n"))
            })
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for c in self.clients.drain(..) {
            c.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Drops `LOSS` of the namespace's outgoing VRRP (protocol 112) with
/// iptables' `statistic` match (this kernel has no netem): adverts leave by
/// raw sockets through OUTPUT in every implementation.
fn loss(ns: &NetNs, op: &str) {
    let p = LOSS.to_string();
    for tool in ["iptables", "ip6tables"] {
        ns.exec(&[
            tool,
            op,
            "OUTPUT",
            "-p",
            "112",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            &p,
            "-j",
            "DROP",
        ]);
    }
}

/// The namespaces to look into (names: a sampler thread's copy), and FRR's
/// advert counts shared by the copies.
#[derive(Debug, Clone)]
pub struct Probe {
    routers: [String; ROUTERS],
    frr: String,
    /// Per FRR virtual router: its adverts and mastership over the looks.
    frr_seen: Arc<Mutex<HashMap<(bool, u8), FrrSeen>>>,
}

/// One FRR virtual router over the looks.
#[derive(Debug, Clone, Copy)]
struct FrrSeen {
    adverts_sent: Option<u64>,
    /// When its advert count last moved.
    moved: Instant,
    /// Since when it says Master (None: it does not).
    master_since: Option<Instant>,
}

/// An FRR master whose advert count stood still this long sends nothing
/// (adverts are 1 s apart): FRR 8.4's "Failed to find address to bind".
const FRR_MUTE_AFTER: Duration = Duration::from_millis(2500);

impl Probe {
    /// One look at every router's `eth0` and FRR's state; None when a
    /// router's could not be read (an empty set would read as a master lost).
    pub fn observe(&self) -> Option<Observation> {
        let mut addrs: [BTreeSet<String>; ROUTERS] = Default::default();
        for (a, ns) in addrs.iter_mut().zip(&self.routers) {
            *a = eth0_addrs(ns)?;
        }
        let states = crate::frr::states_in(&self.frr);
        let mut frr_mute = BTreeSet::new();
        if let Some(states) = &states {
            let now = Instant::now();
            let mut all = self
                .frr_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (key, s) in states {
                let seen = all.entry(*key).or_insert(FrrSeen {
                    adverts_sent: s.adverts_sent,
                    moved: now,
                    master_since: None,
                });
                if seen.adverts_sent != s.adverts_sent {
                    seen.adverts_sent = s.adverts_sent;
                    seen.moved = now;
                }
                seen.master_since = if s.master {
                    seen.master_since.or(Some(now))
                } else {
                    None
                };
                // Master for a while and silent for as long (its count known).
                let long = |t: Instant| now.duration_since(t) >= FRR_MUTE_AFTER;
                if seen.adverts_sent.is_some() && seen.master_since.is_some_and(long) && long(seen.moved) {
                    frr_mute.insert(*key);
                }
            }
        }
        Some(Observation {
            addrs,
            frr: states.map(|s| s.into_iter().map(|(k, v)| (k, v.master)).collect()),
            frr_mute,
        })
    }
}

/// The addresses on `eth0` in namespace `ns` (no prefix); None when `ip`
/// failed or said something else than a list of links.
fn eth0_addrs(ns: &str) -> Option<BTreeSet<String>> {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-j", "addr", "show", "dev", "eth0"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(
        v.as_array()?
            .iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["local"].as_str().map(str::to_owned))
            .collect(),
    )
}

/// The parent of process `pid` (`/proc/PID/stat`, after the command name).
fn ppid(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// How many descriptors `pid` holds, and of which kinds (what each links
/// to: `socket`, `pipe`, `anon_inode:KIND`, else `file`).
fn fd_kinds(pid: u32) -> Option<(usize, String)> {
    let mut kinds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let target = fs::read_link(entry.path()).map(|t| t.to_string_lossy().into_owned());
        let kind = match target.as_deref() {
            Ok(t) if t.starts_with("socket:") => "socket".to_owned(),
            Ok(t) if t.starts_with("pipe:") => "pipe".to_owned(),
            Ok(t) if t.starts_with("anon_inode:") => t.to_owned(),
            Ok(_) => "file".to_owned(),
            Err(_) => "gone".to_owned(),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    let total = kinds.values().sum();
    let text = kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    Some((total, text))
}

/// The processes in `ns` with their descriptors and anonymous memory.
fn procs(ns: &NetNs, router: usize) -> Vec<Proc> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", ns.name()])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .filter_map(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            let (fds, fd_kinds) = fd_kinds(pid).unwrap_or_default();
            let anon_kib = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("Anonymous:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0);
            Some(Proc {
                router,
                pid,
                comm: comm.trim().to_owned(),
                fds,
                fd_kinds,
                anon_kib,
            })
        })
        .collect()
}

/// `STALLED` connections that send half a request and wait, on the metrics
/// endpoint and on the control socket, and one client scraping both in a
/// loop, until stopped.
fn clients(ns: &NetNs, socket: PathBuf) -> Clients {
    let stop = Arc::new(AtomicBool::new(false));
    let ns_path = format!("/run/netns/{}", ns.name());
    let stalled = {
        let (stop, ns_path, socket) = (stop.clone(), ns_path.clone(), socket.clone());
        thread::spawn(move || {
            enter(&ns_path);
            let mut held: Vec<Box<dyn std::io::Write>> = Vec::new();
            for _ in 0..STALLED {
                if let Ok(mut s) = std::net::TcpStream::connect(METRICS) {
                    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHo");
                    held.push(Box::new(s));
                }
                // The control socket answers at once: this one never reads it.
                if let Ok(s) = std::os::unix::net::UnixStream::connect(&socket) {
                    held.push(Box::new(s));
                }
            }
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(50));
            }
            drop(held);
        })
    };
    let busy = {
        let stop = stop.clone();
        thread::spawn(move || {
            enter(&ns_path);
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut s) = std::net::TcpStream::connect(METRICS) {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
                    let _ = std::io::Read::read_to_end(&mut s, &mut Vec::new());
                }
                if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&socket) {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = std::io::Read::read_to_end(&mut s, &mut Vec::new());
                }
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    Clients {
        stop,
        threads: vec![stalled, busy],
    }
}

/// Moves the calling (helper) thread into the namespace at `path`.
fn enter(path: &str) {
    let f = fs::File::open(path).expect("namespace file");
    // SAFETY: setns on a helper thread of this test, which stays there.
    let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}");
}

/// Waits until every router answers (daemons started); at most `limit`.
pub fn wait_started(running: &Running, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if running.status_problems().is_empty() {
            return true;
        }
        thread::sleep(Duration::from_millis(200));
    }
    false
}
