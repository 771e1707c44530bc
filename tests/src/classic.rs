//! The classic two-node nginx setup (shared/examples/classic-nginx) on a
//! namespace lab: hosts `a` and `b` run nginx and xvrrpd with the tutorial's
//! two configs, a `client` namespace probes the VIP over HTTP.
//!
//! The configs are the corpus copies of the tutorial's files
//! (`tests/configs/classic-{master,backup}`), adapted only in interface name,
//! addresses and script path. The health script has `check_ng.sh`'s logic
//! for a host without systemd: "start nginx" starts this host's nginx,
//! "stop keepalived" stops this host's xvrrpd.

use std::{
    fs,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use crate::{
    daemon::{Daemon, Scratch},
    lab::Lab,
    netns::NetNs,
};

/// The tutorial's VIP; it exists only inside the lab's namespaces.
pub const VIP: &str = "192.168.188.100";
pub const HOSTS: [(&str, &str); 2] = [("a", "192.168.188.1/24"), ("b", "192.168.188.2/24")];
pub const CLIENT: &str = "192.168.188.50/24";

const MASTER_CONF: &str = include_str!("../configs/classic-master/keepalived.conf");
const BACKUP_CONF: &str = include_str!("../configs/classic-backup/keepalived.conf");

pub struct Classic {
    pub lab: Lab,
    pub dir: Scratch,
    pub daemons: Vec<Option<Daemon>>,
}

impl Classic {
    /// The lab with nginx running on both hosts; no daemon yet.
    pub fn new(tag: &str) -> Self {
        let mut lab = Lab::new();
        for (name, addr) in HOSTS {
            lab.host(name, &[addr]);
        }
        lab.host("client", &[CLIENT]);
        let dir = Scratch::new(tag);
        let me = Self {
            lab,
            dir,
            daemons: vec![None, None],
        };
        for (name, _) in HOSTS {
            me.write_nginx_conf(name, true);
            me.write_check_script(name);
            me.start_nginx(name);
        }
        me
    }

    pub fn host_dir(&self, host: &str) -> PathBuf {
        let d = self.dir.0.join(host);
        fs::create_dir_all(d.join("tmp")).expect("host dir");
        d
    }

    pub fn nginx_conf(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("nginx.conf")
    }

    /// nginx serving "host NAME" on port 80; `valid = false` writes a config
    /// nginx refuses, so it cannot be started.
    pub fn write_nginx_conf(&self, host: &str, valid: bool) {
        let d = self.host_dir(host);
        let text = if valid {
            format!(
                "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n  \
                 fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n  \
                 server {{\n    listen 80;\n    location / {{ return 200 \"host {host}\\n\"; }}\n  }}\n}}\n",
                d = d.display()
            )
        } else {
            "this is not an nginx configuration;\n".to_owned()
        };
        fs::write(self.nginx_conf(host), text).expect("nginx.conf");
    }

    fn nginx_cmd(&self, host: &str) -> String {
        let d = self.host_dir(host);
        format!(
            "nginx -c {} -p {} -e {}/error.log",
            self.nginx_conf(host).display(),
            d.display(),
            d.display()
        )
    }

    pub fn start_nginx(&self, host: &str) {
        let ns = self.lab.get(host);
        let cmd = self.nginx_cmd(host);
        let args: Vec<&str> = cmd.split(' ').collect();
        let mut full = vec!["ip", "netns", "exec", ns.name()];
        full.extend(args);
        let out = Command::new(full[0])
            .args(&full[1..])
            .output()
            .expect("run nginx (apt package nginx)");
        assert!(
            out.status.success(),
            "nginx on {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn nginx_pid(&self, host: &str) -> Option<i32> {
        fs::read_to_string(self.host_dir(host).join("nginx.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn stop_nginx(&self, host: &str) {
        if let Some(pid) = self.nginx_pid(host) {
            // SAFETY: signalling a process this lab started.
            unsafe { libc::kill(pid, libc::SIGQUIT) };
            let gone = crate::daemon::wait_for(Duration::from_secs(5), || unsafe { libc::kill(pid, 0) } != 0);
            assert!(gone.is_some(), "nginx on {host} did not stop");
        }
    }

    fn run_dir(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("run")
    }

    /// check_ng.sh for this host.
    fn write_check_script(&self, host: &str) {
        let d = self.host_dir(host);
        let script = format!(
            "#!/bin/bash\n\
             # check_ng.sh of the classic tutorial, for the lab (no systemd): restart this host's\n\
             # nginx if it is down; if it cannot be started, stop this host's VRRP daemon.\n\
             d=`date --date today +%Y%m%d_%H:%M:%S`\n\
             running() {{ kill -0 \"$(cat {d}/nginx.pid 2>/dev/null)\" 2>/dev/null; }}\n\
             if ! running; then\n\
             \x20       {nginx}\n\
             \x20       if ! running; then\n\
             \x20               echo \"$d nginx down,keepalived will stop\" >> {d}/check_ng.log\n\
             \x20               kill $(cat {run}/xvrrpd.pid)\n\
             \x20       fi\n\
             fi\n",
            d = d.display(),
            nginx = self.nginx_cmd(host),
            run = self.run_dir(host).display()
        );
        let path = d.join("check_ng.sh");
        fs::write(&path, script).expect("check_ng.sh");
        Command::new("chmod")
            .arg("+x")
            .arg(&path)
            .status()
            .expect("chmod");
    }

    /// The tutorial's config for `host`, adapted only in interface, addresses and script path.
    pub fn config(&self, host: &str) -> PathBuf {
        let text = if host == "a" { MASTER_CONF } else { BACKUP_CONF };
        let script = self.host_dir(host).join("check_ng.sh");
        let adapted = text
            .replace("ens33", "eth0")
            .replace("/usr/local/sbin/check_ng.sh", &script.to_string_lossy());
        let path = self.host_dir(host).join("keepalived.conf");
        fs::write(&path, adapted).expect("keepalived.conf");
        path
    }

    fn index(host: &str) -> usize {
        usize::from(host != "a")
    }

    pub fn start_daemon(&mut self, host: &str, mode: &str) {
        self.start_daemon_args(host, mode, &[]);
    }

    /// `start_daemon` with extra `xvrrpd run` arguments.
    pub fn start_daemon_args(&mut self, host: &str, mode: &str, extra: &[&str]) {
        let conf = self.config(host);
        // The previous daemon on this host, if any, is stopped and reaped
        // first (as a service manager would have).
        drop(self.daemons[Self::index(host)].take());
        let d = Daemon::start_args(self.lab.get(host), &conf, &self.run_dir(host), mode, extra);
        self.daemons[Self::index(host)] = Some(d);
    }

    /// Waits (at most 30 s) until the daemon on `host` runs its instances.
    pub fn running(&self, host: &str) {
        assert!(
            self.daemon(host).wait_running(std::time::Duration::from_secs(30)),
            "the daemon on {host} did not start:\n{}",
            self.daemon(host).log_text()
        );
    }

    pub fn daemon(&self, host: &str) -> &Daemon {
        self.daemons[Self::index(host)].as_ref().expect("daemon started")
    }

    pub fn stop_daemon(&mut self, host: &str) -> Option<i32> {
        self.daemons[Self::index(host)].as_mut().and_then(Daemon::stop)
    }

    pub fn state(&self, host: &str) -> Option<String> {
        self.daemons[Self::index(host)].as_ref()?.state("VI_1")
    }

    pub fn holds_vip(&self, host: &str) -> bool {
        let out = self.lab.get(host).ip(&["-o", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout).contains(&format!("{VIP}/"))
    }

    pub fn client(&self) -> &NetNs {
        self.lab.get("client")
    }
}

/// One HTTP GET of the VIP from inside the calling thread's namespace:
/// the page's host name, or None on any failure within `timeout`.
pub fn get_vip(timeout: Duration) -> Option<String> {
    let addr: SocketAddr = format!("{VIP}:80").parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines()
        .last()
        .map(|l| l.trim().to_owned())
        .filter(|l| l.starts_with("host "))
}

/// One probe: when it was sent, and the page host that answered (None: no answer).
pub type Sample = (Instant, Option<String>);

/// A client probing the VIP every `every` from the client namespace, in a thread.
pub struct Probe {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<Vec<Sample>>>,
}

impl Probe {
    pub fn start(client: &NetNs, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let ns_path = format!("/run/netns/{}", client.name());
        let handle = thread::spawn(move || {
            let target = fs::File::open(&ns_path).expect("client netns");
            // SAFETY: moves only this probe thread into the client namespace.
            let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&target), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns into the client namespace");
            let mut samples = Vec::new();
            // Bounded: at most 10 minutes of probing whatever the caller does.
            let limit = Instant::now() + Duration::from_mins(10);
            while !flag.load(Ordering::Relaxed) && Instant::now() < limit {
                let t = Instant::now();
                samples.push((t, get_vip(every.max(Duration::from_millis(100)))));
                if let Some(rest) = every.checked_sub(t.elapsed()) {
                    thread::sleep(rest);
                }
            }
            samples
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops probing; returns every sample (time, page host).
    pub fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The longest stretch without a successful answer, from the last success
/// before it to the first success after it.
pub fn longest_gap(samples: &[Sample]) -> Duration {
    let mut last_ok: Option<Instant> = None;
    let mut worst = Duration::ZERO;
    for (t, r) in samples {
        if r.is_some() {
            if let Some(prev) = last_ok {
                worst = worst.max(t.duration_since(prev));
            }
            last_ok = Some(*t);
        }
    }
    worst
}
