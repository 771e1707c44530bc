//! The keepalived.conf corpus: every folder of `tests/configs/` is a case whose
//! `keepalived.conf` (and what it includes) must give exactly the diagnostics in
//! `expected.txt`, and, when it loads without error, the normalized configuration in
//! `expected.json`. `XVRRP_BLESS=1` rewrites the golden files from the current output.
//!
//! The host is a fixed description (see [`HOST`]), not this machine, so the goldens hold
//! anywhere: interfaces `lo`, `eth0` and `eth1` exist, `ens33` does not.
//!
//! Those goldens come from xvrrp itself. [`every_case_is_judged_as_keepalived_judges_it`]
//! takes the reference from elsewhere: it runs keepalived 2.2.7 (`keepalived -t`) on every
//! case, in a namespace that has exactly the interfaces of [`HOST`], and compares with the
//! case's `keepalived.txt` (see `tests/configs/README.md`).

use std::{
    collections::{BTreeMap, BTreeSet},
    env, fs,
    net::IpAddr,
    os::unix::process::{CommandExt as _, ExitStatusExt as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use xvrrp_tests::{
    daemon::{Scratch, xvrrpd_bin},
    have_root,
    netns::NetNs,
};
use xvrrpd::config::{self, Diagnostic, HostInfo, Severity};

/// The host every case is checked against: each interface with its addresses (the prefix is
/// for the namespace that keepalived runs in; xvrrp's host description takes the address).
const HOST: &[(&str, &[&str])] = &[
    ("lo", &["127.0.0.1/8", "::1/128"]),
    ("eth0", &["192.0.2.10/24", "2001:db8::10/64", "fe80::10/64"]),
    ("eth1", &["198.51.100.10/24"]),
];

/// [`HOST`] as xvrrp's host description.
fn host() -> HostInfo {
    HOST.iter().fold(HostInfo::new(), |host, (name, addrs)| {
        let addrs = addrs.iter().map(|a| {
            let addr = a.split_once('/').map_or(*a, |(addr, _)| addr);
            addr.parse::<IpAddr>().expect("test address")
        });
        host.with_interface(name, addrs)
    })
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

/// A case's folder name.
fn case_name(case: &Path) -> String {
    case.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(corpus())
        .expect("tests/configs exists")
        .map(|e| e.expect("readable corpus entry").path())
        .filter(|p| p.join("keepalived.conf").is_file())
        .collect();
    cases.sort();
    cases
}

/// What a case gives: the diagnostics (paths relative to the case, also where a message names
/// another file) and the JSON, if any.
fn run(case: &Path) -> (String, Option<String>) {
    let loaded = config::load_for_host(&case.join("keepalived.conf"), &host());
    let mut text = String::new();
    let prefix = format!("{}/", case.display());
    for d in &loaded.diagnostics {
        text.push_str(&d.display_relative_to(case).replace(&prefix, ""));
        text.push('\n');
    }
    let json = loaded.config.as_ref().map(|c| config::to_json(c) + "\n");
    (text, json)
}

#[test]
fn every_case_gives_its_golden_diagnostics() {
    let bless = env::var_os("XVRRP_BLESS").is_some_and(|v| v == "1");
    let cases = cases();
    assert!(cases.len() >= 30, "the corpus lost cases: {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case_name(case);
        let (diagnostics, json) = run(case);
        let expected_txt = case.join("expected.txt");
        let expected_json = case.join("expected.json");
        if bless {
            fs::write(&expected_txt, &diagnostics).expect("write expected.txt");
            match &json {
                Some(json) => fs::write(&expected_json, json).expect("write expected.json"),
                None if expected_json.exists() => {
                    fs::remove_file(&expected_json).expect("remove expected.json");
                }
                None => {}
            }
            continue;
        }
        let want = fs::read_to_string(&expected_txt)
            .unwrap_or_else(|_| format!("(missing {})\n", expected_txt.display()));
        if want != diagnostics {
            failures.push(format!(
                "{name}: diagnostics differ\n--- expected\n{want}--- got\n{diagnostics}"
            ));
        }
        let want_json = fs::read_to_string(&expected_json).ok();
        if want_json != json {
            let show = |j: &Option<String>| {
                j.clone()
                    .unwrap_or_else(|| "(none: the case has errors)\n".to_owned())
            };
            failures.push(format!(
                "{name}: normalized configuration differs\n--- expected\n{}--- got\n{}",
                show(&want_json),
                show(&json)
            ));
        }
        println!("config corpus: {name}: ok");
    }
    assert!(
        failures.is_empty(),
        "{} corpus case(s) failed (XVRRP_BLESS=1 rewrites the goldens):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The two configurations of the classic nginx tutorial are in the corpus byte for byte, and
/// give keepalived's two warnings and no error (their mail settings are read; no instance
/// asks for mail).
#[test]
fn classic_configs_pass_with_keepalived_warnings() {
    for (case, state) in [("classic-master", "MASTER"), ("classic-backup", "BACKUP")] {
        let dir = corpus().join(case);
        let (diagnostics, json) = run(&dir);
        let lines: Vec<&str> = diagnostics.lines().collect();
        assert_eq!(lines.len(), 2, "{case}: {diagnostics}");
        assert_eq!(
            lines[0],
            "keepalived.conf:18: warning: interface ens33 for vrrp_instance VI_1 doesn't exist on this host"
        );
        assert!(
            lines[1].starts_with(
                "keepalived.conf:24: warning: auth_pass is 14 characters long: truncating auth_pass to 8"
            ),
            "{case}: {diagnostics}"
        );
        let json = json.unwrap_or_else(|| panic!("{case} must load"));
        assert!(json.contains(&format!("\"state\": \"{state}\"")), "{case}");
    }
}

// ---------------------------------------------------------------------------------------------
// keepalived 2.2.7 as the reference.
// ---------------------------------------------------------------------------------------------

/// How a configuration is taken: keepalived's outcome under `keepalived -t`, or the class of
/// xvrrp's diagnostics (only the first three).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    /// Nothing to say (keepalived: exit 0; xvrrp: no error or warning, notes allowed).
    Clean,
    /// Something is ignored or adjusted, and the daemon starts.
    Warnings,
    /// The daemon refuses to start.
    Errors,
    /// keepalived did not finish within [`KEEPALIVED_LIMIT`].
    Hangs,
    /// keepalived died of a signal.
    Crashes,
}

impl Verdict {
    const ALL: [Self; 5] = [
        Self::Clean,
        Self::Warnings,
        Self::Errors,
        Self::Hangs,
        Self::Crashes,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Warnings => "warnings",
            Self::Errors => "errors",
            Self::Hangs => "hangs",
            Self::Crashes => "crashes",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == word)
    }

    /// xvrrp's class: any error, else any warning, else clean (notes are information only).
    fn of_xvrrp(diagnostics: &[Diagnostic]) -> Self {
        let has = |s: Severity| diagnostics.iter().any(|d| d.severity == s);
        if has(Severity::Error) {
            Self::Errors
        } else if has(Severity::Warning) {
            Self::Warnings
        } else {
            Self::Clean
        }
    }
}

/// How long one `keepalived -t` may take (the include loop never ends; every
/// other case takes milliseconds, so a loaded machine has room).
const KEEPALIVED_LIMIT: Duration = Duration::from_secs(10);

/// How much of keepalived's output is read (the include loop writes megabytes).
const OUTPUT_LIMIT: usize = 256 * 1024;

/// Output past which a run counts as not ending (the include loop repeats one
/// complaint for ever): the run is stopped there rather than filling a disk.
const RUNAWAY_OUTPUT: u64 = 8 * 1024 * 1024;

/// Messages after which keepalived 2.2.7's VRRP process refuses to start: `start_vrrp`
/// (`keepalived/vrrp/vrrp_daemon.c`) calls `stop_vrrp(KEEPALIVED_EXIT_CONFIG)` after each, and the
/// daemon ends with "exited with permanent error CONFIG". Under `-t` that call returns, and the
/// exit status is 5 as for any complaint (`config_test_exit` reports the highest `config_err_t`
/// seen: `CONFIG_GENERAL_ERROR` for these, and for the warning before a missing interface's
/// `CONFIG_BAD_IF`), so the message is what tells a refusal from a complaint. Each with where
/// keepalived 2.2.7 gives it.
const REFUSALS: &[(&str, &str)] = &[
    (
        "Non-existent interface specified in configuration",
        "vrrp_daemon.c start_vrrp",
    ),
    ("the virtual router id must be set", "vrrp.c chk_min_cfg"),
    ("Unknown interface!", "vrrp.c chk_min_cfg"),
    (
        "No VIP specified; at least one is required",
        "vrrp.c vrrp_complete_instance",
    ),
    (
        "Unicast peers are not supported in strict mode",
        "vrrp.c vrrp_complete_instance",
    ),
    (
        "Unicast instances must have unicast_src_ip or interface",
        "vrrp.c vrrp_complete_instance",
    ),
    (
        "Non link-local address required if interface omitted",
        "vrrp.c vrrp_complete_instance",
    ),
    ("duplicate VRID conflict with", "vrrp.c check_vrid_conflicts"),
    (" both use VRID ", "vrrp.c check_vrid_conflicts"),
];

/// What one `keepalived -t` did.
struct KeepalivedRun {
    outcome: Verdict,
    /// How it ended, for messages: "exit 5", "signal 11", "no exit in 2s".
    ended: String,
    /// stderr and stdout, at most [`OUTPUT_LIMIT`] bytes.
    output: String,
}

impl KeepalivedRun {
    /// The places keepalived names, `(FILE: Line N)` or, for the top-level file, `(Line N)`,
    /// resolved in `case` (a name keepalived gives relative to a nested include's folder may not
    /// resolve there: those are returned apart, as text).
    fn lines(&self, case: &Path) -> (BTreeMap<Place, String>, Vec<String>) {
        let mut placed = BTreeMap::new();
        let mut unplaced = Vec::new();
        for text in self.output.lines() {
            let Some((at, message)) = text.strip_prefix('(').and_then(|t| t.split_once(") ")) else {
                continue;
            };
            let (file, line) = match at.rsplit_once("Line ") {
                Some(("", n)) => ("keepalived.conf", n),
                Some((f, n)) => match f.strip_suffix(": ") {
                    Some(f) => (f, n),
                    None => continue,
                },
                None => continue,
            };
            let Ok(line) = line.parse::<u32>() else {
                continue;
            };
            match Place::resolve(case, Path::new(file), line) {
                Some(place) => {
                    placed.entry(place).or_insert_with(|| message.to_owned());
                }
                None => unplaced.push(text.to_owned()),
            }
        }
        (placed, unplaced)
    }

    /// The first lines of the output, for a failure message.
    fn excerpt(&self) -> String {
        let mut lines: Vec<&str> = self.output.lines().take(25).collect();
        if self.output.lines().nth(25).is_some() {
            lines.push("...");
        }
        lines.iter().map(|l| format!("    {l}\n")).collect()
    }
}

/// A line of a file of a case, named relative to the case's folder (`conf.d/10-vi1.conf:8`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Place(String);

impl Place {
    fn resolve(case: &Path, file: &Path, line: u32) -> Option<Self> {
        let case = fs::canonicalize(case).ok()?;
        let file = fs::canonicalize(case.join(file)).ok()?;
        let rel = file.strip_prefix(&case).ok()?;
        Some(Self(format!("{}:{line}", rel.display())))
    }
}

/// A namespace with exactly the interfaces of [`HOST`]: `eth0` and `eth1` are veths whose far
/// ends live in a second namespace (no other interface is visible), up, with the addresses and
/// no kernel-made link-local address.
struct KeepalivedHost {
    ns: NetNs,
    _far: NetNs,
}

impl KeepalivedHost {
    fn new() -> Self {
        let ns = NetNs::new("kahost");
        let far = NetNs::new("kafar");
        for (iface, addrs) in HOST.iter().filter(|(name, _)| *name != "lo") {
            let peer = format!("{iface}f");
            ns.ip(&[
                "link",
                "add",
                iface,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
                "netns",
                far.name(),
            ]);
            ns.ip(&["link", "set", iface, "addrgenmode", "none"]);
            for addr in *addrs {
                let mut cmd = vec!["addr", "add", addr, "dev", iface];
                if addr.contains(':') {
                    cmd.push("nodad");
                }
                ns.ip(&cmd);
            }
            ns.ip(&["link", "set", iface, "up"]);
            far.ip(&["link", "set", &peer, "up"]);
        }
        // `lo` comes up with 127.0.0.1/8 and ::1/128, as HOST says.
        Self { ns, _far: far }
    }

    /// xvrrpd under keepalived's name: `keepalived -t -f keepalived.conf` in
    /// `case`'s folder; its exit status.
    fn xvrrp_config_test(&self, link: &Path, case: &Path) -> Option<i32> {
        Command::new("ip")
            .args(["netns", "exec", self.ns.name()])
            .arg(link)
            .args(["-t", "-f", "keepalived.conf"])
            .current_dir(case)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
            .code()
    }

    /// `keepalived -t -f keepalived.conf` in `case`'s folder. keepalived runs as PID 1 of a PID
    /// namespace of its own (`unshare --pid --fork`): keepalived 2.2.7's `-t` otherwise sends
    /// itself SIGTERM after checking a script that runs as another user (`check_script_secure`
    /// tests `main_pid != getppid()` without the `CONFIG_TEST_BIT` check later releases added),
    /// and a namespace's init ignores a signal it has no handler for, so the check goes on.
    fn config_test(&self, case: &Path, scratch: &Path) -> KeepalivedRun {
        let log = scratch.join("keepalived-t.out");
        let out = fs::File::create(&log).expect("keepalived output file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.ns.name()])
            .args(["unshare", "--pid", "--fork", "--kill-child"])
            .args(["keepalived", "-t", "-f", "keepalived.conf"]);
        // keepalived -t writes no pid file; were it to, it would write them here.
        for (flag, file) in [
            ("-p", "ka.pid"),
            ("-r", "vrrp.pid"),
            ("-c", "checker.pid"),
            ("-b", "bfd.pid"),
        ] {
            cmd.arg(flag).arg(scratch.join(file));
        }
        let mut child = cmd
            .current_dir(case)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup output file"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("spawn ip netns exec ... keepalived -t");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for keepalived -t") {
                break Some(status);
            }
            let runaway = fs::metadata(&log).is_ok_and(|m| m.len() > RUNAWAY_OUTPUT);
            if runaway || start.elapsed() > KEEPALIVED_LIMIT {
                // The whole group: ip, unshare and keepalived (PID 1 of its namespace, which
                // takes the rest of that namespace with it).
                let group = i32::try_from(child.id()).expect("pid fits i32");
                // SAFETY: kill(2) on the process group this test created.
                unsafe { libc::kill(-group, libc::SIGKILL) };
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(10));
        };
        let mut bytes = Vec::new();
        if let Ok(f) = fs::File::open(&log) {
            use std::io::Read as _;
            let _ = f.take(OUTPUT_LIMIT as u64).read_to_end(&mut bytes);
        }
        let output = String::from_utf8_lossy(&bytes).into_owned();
        let refusal = REFUSALS.iter().find(|(m, _)| output.contains(m));
        let (outcome, ended) = match status {
            None => (
                Verdict::Hangs,
                format!("no exit in {KEEPALIVED_LIMIT:?}, or over {RUNAWAY_OUTPUT} bytes of output"),
            ),
            Some(s) => match (s.code(), s.signal()) {
                (_, Some(sig)) => (Verdict::Crashes, format!("signal {sig}")),
                // unshare passes a child's death by signal on as 128 + the signal's number.
                (Some(code), _) if code > 128 => (Verdict::Crashes, format!("signal {}", code - 128)),
                (Some(0), _) => (Verdict::Clean, "exit 0".to_owned()),
                // 2: KEEPALIVED_EXIT_CONFIG (a parameter missing: the parser exits at once);
                // 4: KEEPALIVED_CHK_EXIT_CONFIG (only "cannot run" errors: no file, no interface).
                (Some(code @ (2 | 4)), _) => (Verdict::Errors, format!("exit {code}")),
                // 5: KEEPALIVED_CHK_EXIT_CONFIG_TEST (errors keepalived still runs with);
                // 6: ..._SECURITY (scripts run as root without enable_script_security).
                (Some(code @ (5 | 6)), _) => match refusal {
                    Some((message, at)) => (
                        Verdict::Errors,
                        format!("exit {code}; the daemon refuses after \"{message}\" ({at})"),
                    ),
                    None => (Verdict::Warnings, format!("exit {code}")),
                },
                (code, _) => panic!(
                    "keepalived -t in {} ended with {code:?}, not a config-test status \
                     (are ip, unshare and keepalived installed?):\n{output}",
                    case.display()
                ),
            },
        };
        KeepalivedRun {
            outcome,
            ended,
            output,
        }
    }
}

/// A case's `keepalived.txt`: keepalived's outcome, and why xvrrp differs where it does.
struct Declared {
    keepalived: Verdict,
    /// `xvrrp: CLASS because REASON`.
    xvrrp: Option<(Verdict, String)>,
    /// `line FILE:N because REASON`: keepalived names that line and xvrrp has nothing there.
    lines: BTreeMap<Place, String>,
}

impl Declared {
    fn read(case: &Path) -> Result<Self, String> {
        let path = case.join("keepalived.txt");
        let text = fs::read_to_string(&path).map_err(|e| format!("cannot read keepalived.txt: {e}"))?;
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let first = lines.next().unwrap_or_default();
        let keepalived = Verdict::parse(first)
            .ok_or_else(|| format!("keepalived.txt: first line {first:?} is not an outcome"))?;
        let mut declared = Self {
            keepalived,
            xvrrp: None,
            lines: BTreeMap::new(),
        };
        for line in lines {
            let bad = || format!("keepalived.txt: cannot read {line:?}");
            let (what, reason) = line.split_once(" because ").ok_or_else(bad)?;
            if reason.trim().is_empty() {
                return Err(bad());
            }
            if let Some(class) = what.strip_prefix("xvrrp: ") {
                let class = Verdict::parse(class)
                    .filter(|c| matches!(c, Verdict::Clean | Verdict::Warnings | Verdict::Errors))
                    .ok_or_else(bad)?;
                if declared.xvrrp.replace((class, reason.to_owned())).is_some() {
                    return Err("keepalived.txt: two `xvrrp:` lines".to_owned());
                }
            } else if let Some(place) = what.strip_prefix("line ") {
                let (file, n) = place.rsplit_once(':').ok_or_else(bad)?;
                let n = n.parse::<u32>().map_err(|_| bad())?;
                let place = Place::resolve(case, Path::new(file), n)
                    .ok_or_else(|| format!("keepalived.txt: no file {file} in the case"))?;
                declared.lines.insert(place, reason.to_owned());
            } else {
                return Err(bad());
            }
        }
        Ok(declared)
    }
}

/// The places where xvrrp says something (any severity).
fn xvrrp_places(case: &Path, diagnostics: &[Diagnostic]) -> BTreeSet<Place> {
    diagnostics
        .iter()
        .filter(|d| d.line > 0)
        .filter_map(|d| Place::resolve(case, &d.file, d.line))
        .collect()
}

/// The first line of `keepalived --version` (it prints on stderr).
fn keepalived_version() -> String {
    let out = Command::new("keepalived")
        .arg("--version")
        .output()
        .expect("keepalived is not installed (cargo xtask setup installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    text.lines().next().unwrap_or_default().to_owned()
}

/// Every case as keepalived 2.2.7 takes it: `keepalived -t` runs on the case in a namespace
/// with the interfaces of [`HOST`], and its outcome must be the first line of the case's
/// `keepalived.txt`. Where xvrrp's class differs, `keepalived.txt` must say why (and must not,
/// where they agree); where keepalived names a line xvrrp says nothing about, too.
#[test]
fn every_case_is_judged_as_keepalived_judges_it() {
    if !have_root("every_case_is_judged_as_keepalived_judges_it") {
        return;
    }
    let version = keepalived_version();
    assert!(
        version.starts_with("Keepalived v2.2.7 "),
        "the keepalived.txt files record keepalived 2.2.7; this machine has: {version:?}"
    );
    // keepalived runs scripts as `keepalived_script` when that user exists, and as root
    // otherwise, which it reports (exit 6): the recorded outcomes are those of a host without it,
    // as the Debian package leaves it.
    let user = Command::new("getent")
        .args(["passwd", "keepalived_script"])
        .output();
    assert!(
        user.is_ok_and(|o| o.stdout.is_empty()),
        "this host has a keepalived_script user: keepalived -t then judges scripts differently \
         from the recorded outcomes"
    );

    let lab = KeepalivedHost::new();
    let scratch = Scratch::new("kacorpus");
    let link = scratch.0.join("keepalived");
    std::os::unix::fs::symlink(xvrrpd_bin(), &link).expect("symlink xvrrpd as keepalived");
    let cases = cases();
    assert!(cases.len() >= 30, "the corpus lost cases: {}", cases.len());
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut table = Vec::new();
    let mut seen = BTreeSet::new();
    let (mut runs, mut lines_compared) = (0, 0);
    for case in &cases {
        let name = case_name(case);
        let run = lab.config_test(case, &scratch.0);
        runs += 1;
        seen.insert(run.outcome);
        let loaded = config::load_for_host(&case.join("keepalived.conf"), &host());
        let xvrrp = Verdict::of_xvrrp(&loaded.diagnostics);
        // The binary under keepalived's name answers `-t` with keepalived's
        // exit codes: 5 for what xvrrp refuses, 6 for a script security
        // violation, 0 for what it runs (warnings included).
        let want = if xvrrp == Verdict::Errors {
            5
        } else if loaded
            .config
            .as_ref()
            .is_some_and(|c| xvrrpd::scripts::validate(c).is_err())
        {
            6
        } else {
            0
        };
        let got = lab.xvrrp_config_test(&link, case);
        if got != Some(want) {
            failures.push(format!(
                "{name}: `keepalived -t` as xvrrpd exits {got:?}, expected {want} (xvrrp: {})",
                xvrrp.name()
            ));
        }
        let mut fail = |what: String| {
            failures.push(format!(
                "{name}: {what}\n  keepalived -t ({}):\n{}",
                run.ended,
                run.excerpt()
            ));
        };
        let declared = match Declared::read(case) {
            Ok(d) => d,
            Err(e) => {
                fail(format!(
                    "{e}; keepalived -t says `{}`, xvrrp `{}`",
                    run.outcome.name(),
                    xvrrp.name()
                ));
                continue;
            }
        };
        table.push(format!(
            "{name:36} keepalived {:9} xvrrp {:9}{}",
            run.outcome.name(),
            xvrrp.name(),
            if declared.xvrrp.is_some() {
                " (declared)"
            } else {
                ""
            }
        ));

        if declared.keepalived != run.outcome {
            fail(format!(
                "keepalived.txt says keepalived `{}`, but keepalived -t says `{}`",
                declared.keepalived.name(),
                run.outcome.name()
            ));
        }
        match (&declared.xvrrp, xvrrp == run.outcome) {
            (None, true) => {}
            (Some((class, _)), true) => fail(format!(
                "keepalived.txt explains why xvrrp gives `{}`, but xvrrp and keepalived agree on \
                 `{}`: remove the stale `xvrrp:` line",
                class.name(),
                xvrrp.name()
            )),
            (None, false) => fail(format!(
                "xvrrp gives `{}` where keepalived gives `{}`: fix xvrrp, or say why in \
                 keepalived.txt (`xvrrp: {} because ...`)",
                xvrrp.name(),
                run.outcome.name(),
                xvrrp.name()
            )),
            (Some((class, _)), false) if *class != xvrrp => fail(format!(
                "keepalived.txt explains xvrrp `{}`, but xvrrp gives `{}`",
                class.name(),
                xvrrp.name()
            )),
            (Some(_), false) => {}
        }

        // The lines keepalived names (not from a run that never ended: its output is the same
        // few lines over and over, and cut off).
        if run.outcome != Verdict::Hangs {
            let (named, unplaced) = run.lines(case);
            for text in unplaced {
                println!("config corpus: {name}: keepalived names a file not found in the case: {text}");
            }
            let said = xvrrp_places(case, &loaded.diagnostics);
            for (place, message) in &named {
                lines_compared += 1;
                if !said.contains(place) && !declared.lines.contains_key(place) {
                    fail(format!(
                        "keepalived reports {} ({message}) and xvrrp says nothing on that line: \
                         fix xvrrp, or say why in keepalived.txt (`line {} because ...`)",
                        place.0, place.0
                    ));
                }
            }
            for place in declared.lines.keys() {
                if !named.contains_key(place) {
                    fail(format!(
                        "keepalived.txt explains line {}, but keepalived names no such line: remove it",
                        place.0
                    ));
                } else if said.contains(place) {
                    fail(format!(
                        "keepalived.txt explains line {}, but xvrrp reports it: remove it",
                        place.0
                    ));
                }
            }
        }
        println!(
            "config corpus: {name}: keepalived {} ({})",
            run.outcome.name(),
            run.ended
        );
    }
    println!(
        "config corpus against keepalived ({version}): {runs} cases, {lines_compared} lines it \
         names, {:?}",
        started.elapsed()
    );
    for row in &table {
        println!("  {row}");
    }
    assert!(
        failures.is_empty(),
        "{} corpus case(s) disagree with keepalived (see tests/configs/README.md):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Not vacuous: keepalived judged every case, and said each of the three things somewhere.
    assert_eq!(runs, cases.len(), "keepalived -t ran on every case");
    for v in [Verdict::Clean, Verdict::Warnings, Verdict::Errors] {
        assert!(seen.contains(&v), "no case where keepalived says `{}`", v.name());
    }
    assert!(
        lines_compared >= 50,
        "only {lines_compared} lines named by keepalived were compared"
    );
}

/// `xvrrpd check | head`: the reader is gone while check still has lines to print. check
/// ends as Unix tools end there (SIGPIPE, nothing on stderr), never with a panic about the
/// broken pipe.
#[test]
fn check_ends_quietly_when_its_reader_goes() {
    use std::io::Read as _;
    let scratch = Scratch::new("pipe");
    // One warning per instance: no such interface on this (or any) host.
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!(
            "vrrp_instance VI_{i} {{\n  interface xvt-none{i}\n  virtual_router_id {}\n  priority 100\n  \
             virtual_ipaddress {{\n    192.0.2.{}/32\n  }}\n}}\n",
            i + 1,
            i + 1,
        ));
    }
    let conf = scratch.write("keepalived.conf", &text);
    // The read end is closed before check starts: its first write meets the broken pipe,
    // whatever a pipe holds on this machine and however the two are scheduled.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = Command::new(xvrrpd_bin())
        .args(["check", "-f"])
        .arg(&conf)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xvrrpd check");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for check") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "check still runs 30 s after its reader went"
        );
        thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(
        !stderr.contains("panicked"),
        "check panicked on the closed pipe: {stderr}"
    );
    assert_eq!(
        status.signal(),
        Some(libc::SIGPIPE),
        "status {status:?}, stderr: {stderr}"
    );
}
