//! The keepalived.conf corpus: every folder of `tests/configs/` is a case whose
//! `keepalived.conf` (and what it includes) must give exactly the diagnostics in
//! `expected.txt`, and, when it loads without error, the normalized configuration in
//! `expected.json`. `XVRRP_BLESS=1` rewrites the golden files from the current output.
//!
//! The host is a fixed description (see [`host`]), not this machine, so the goldens hold
//! anywhere: interfaces `lo`, `eth0` and `eth1` exist, `ens33` does not.

use std::{
    env, fs,
    net::IpAddr,
    path::{Path, PathBuf},
};

use xvrrpd::config::{self, HostInfo};

/// The host every case is checked against.
fn host() -> HostInfo {
    let ip = |s: &str| s.parse::<IpAddr>().expect("test address");
    HostInfo::new()
        .with_interface("lo", [ip("127.0.0.1"), ip("::1")])
        .with_interface("eth0", [ip("192.0.2.10"), ip("2001:db8::10"), ip("fe80::10")])
        .with_interface("eth1", [ip("198.51.100.10")])
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
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

/// What a case gives: the diagnostics (paths relative to the case) and the JSON, if any.
fn run(case: &Path) -> (String, Option<String>) {
    let loaded = config::load_for_host(&case.join("keepalived.conf"), &host());
    let mut text = String::new();
    for d in &loaded.diagnostics {
        text.push_str(&d.display_relative_to(case));
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
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (diagnostics, json) = run(case);
        let expected_txt = case.join("expected.txt");
        let expected_json = case.join("expected.json");
        if bless {
            fs::write(&expected_txt, &diagnostics).expect("write expected.txt");
            match &json {
                Some(json) => fs::write(&expected_json, json).expect("write expected.json"),
                None if expected_json.exists() => {
                    fs::remove_file(&expected_json).expect("remove expected.json")
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
/// give keepalived's two warnings plus the mail note, and no error.
#[test]
fn classic_configs_pass_with_keepalived_warnings() {
    for (case, state) in [("classic-master", "MASTER"), ("classic-backup", "BACKUP")] {
        let dir = corpus().join(case);
        let (diagnostics, json) = run(&dir);
        let lines: Vec<&str> = diagnostics.lines().collect();
        assert_eq!(lines.len(), 3, "{case}: {diagnostics}");
        assert!(
            lines[0].starts_with("keepalived.conf:2: note: mail alerts are not sent"),
            "{case}: {diagnostics}"
        );
        assert_eq!(
            lines[1],
            "keepalived.conf:18: warning: interface ens33 for vrrp_instance VI_1 doesn't exist on this host"
        );
        assert!(
            lines[2].starts_with(
                "keepalived.conf:24: warning: auth_pass is 14 characters long: truncating auth_pass to 8"
            ),
            "{case}: {diagnostics}"
        );
        let json = json.unwrap_or_else(|| panic!("{case} must load"));
        assert!(json.contains(&format!("\"state\": \"{state}\"")), "{case}");
    }
}
