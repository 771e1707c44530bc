//! `cargo xtask dist`: the Debian package (`target/dist/xvrrp_VERSION_ARCH.deb`)
//! with the daemon, the man pages, shell completions, the systemd unit (with
//! `keepalived.service` as an alias, so scripts that run `systemctl stop
//! keepalived` still work), `keepalived` as an alternative for
//! `/usr/sbin/keepalived`, and the Grafana dashboard. Built with `dpkg-deb`;
//! the listing is checked before the command succeeds.

use std::{
    fs,
    os::unix::fs::{PermissionsExt as _, symlink},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};

use crate::util::{Cmd, cargo, step, target_dir, workspace_root};

/// What the package must contain (checked against `dpkg-deb -c`).
const EXPECTED: &[&str] = &[
    "./usr/sbin/xvrrpd",
    "./usr/lib/xvrrp/keepalived",
    "./lib/systemd/system/xvrrpd.service",
    "./usr/share/man/man8/xvrrpd.8.gz",
    "./usr/share/man/man5/xvrrp-keepalived.conf.5.gz",
    "./usr/share/bash-completion/completions/xvrrpd",
    "./usr/share/zsh/vendor-completions/_xvrrpd",
    "./usr/share/fish/vendor_completions.d/xvrrpd.fish",
    "./usr/share/doc/xvrrp/grafana-dashboard.json",
    "./usr/share/doc/xvrrp/README.md",
];

pub fn run() -> Result<PathBuf> {
    let root = workspace_root()?;
    step("release build of xvrrpd");
    cargo(&["build", "--release", "-p", "xvrrpd"]).status_ok()?;
    let bin = target_dir()?.join("release/xvrrpd");
    let version = env!("CARGO_PKG_VERSION");
    let out_dir = target_dir()?.join("dist");
    let tree = out_dir.join("deb");
    let _ = fs::remove_dir_all(&tree);
    step("staging the package tree");
    let put = |rel: &str, bytes: &[u8], mode: u32| -> Result<()> {
        let path = tree.join(rel);
        fs::create_dir_all(path.parent().context("a parent")?)?;
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        Ok(())
    };
    put(
        "usr/sbin/xvrrpd",
        &fs::read(&bin).context("the release binary")?,
        0o755,
    )?;
    fs::create_dir_all(tree.join("usr/lib/xvrrp"))?;
    symlink("/usr/sbin/xvrrpd", tree.join("usr/lib/xvrrp/keepalived"))?;
    put(
        "lib/systemd/system/xvrrpd.service",
        packaged_unit(&root)?.as_bytes(),
        0o644,
    )?;
    let man = Cmd::new(&bin, &["man"]).output_ok().context("xvrrpd man")?;
    put("usr/share/man/man8/xvrrpd.8.gz", &gzip(man.as_bytes())?, 0o644)?;
    let conf5 = fs::read(root.join("dist/man/xvrrp-keepalived.conf.5"))?;
    put(
        "usr/share/man/man5/xvrrp-keepalived.conf.5.gz",
        &gzip(&conf5)?,
        0o644,
    )?;
    for (shell, rel) in [
        ("bash", "usr/share/bash-completion/completions/xvrrpd"),
        ("zsh", "usr/share/zsh/vendor-completions/_xvrrpd"),
        ("fish", "usr/share/fish/vendor_completions.d/xvrrpd.fish"),
    ] {
        let text = Cmd::new(&bin, &["completions", shell])
            .output_ok()
            .with_context(|| format!("xvrrpd completions {shell}"))?;
        put(rel, text.as_bytes(), 0o644)?;
    }
    put(
        "usr/share/doc/xvrrp/grafana-dashboard.json",
        &fs::read(root.join("dist/grafana-dashboard.json"))?,
        0o644,
    )?;
    put(
        "usr/share/doc/xvrrp/README.md",
        &fs::read(root.join("README.md"))?,
        0o644,
    )?;
    let arch = Cmd::new("dpkg", &["--print-architecture"])
        .output_ok()
        .context("dpkg")?;
    let control = format!(
        "Package: xvrrp\nVersion: {version}\nArchitecture: {}\nMaintainer: xvrrp developers <xvrrp@example.invalid>\n\
         Section: net\nPriority: optional\nDepends: libc6\nConflicts: keepalived\nProvides: keepalived\n\
         Description: VRRP daemon with an XDP data path, keepalived.conf compatible\n \
         xvrrpd runs keepalived's VRRP side (RFC 3768 / RFC 5798) from the same\n \
         keepalived.conf, with adverts validated in the kernel. Installed as\n \
         keepalived too (an alternative), with keepalived's command line.\n",
        arch.trim()
    );
    put("DEBIAN/control", control.as_bytes(), 0o644)?;
    put(
        "DEBIAN/postinst",
        b"#!/bin/sh\nset -e\nupdate-alternatives --install /usr/sbin/keepalived keepalived /usr/lib/xvrrp/keepalived 50\n\
          if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi\n",
        0o755,
    )?;
    put(
        "DEBIAN/prerm",
        b"#!/bin/sh\nset -e\nif [ \"$1\" = remove ]; then \n  if [ -d /run/systemd/system ]; then systemctl stop xvrrpd.service || true; fi\n  update-alternatives --remove keepalived /usr/lib/xvrrp/keepalived\nfi\n",
        0o755,
    )?;
    let deb = out_dir.join(format!("xvrrp_{version}_{}.deb", arch.trim()));
    step("dpkg-deb --build");
    Cmd::new(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "--build",
            &tree.to_string_lossy(),
            &deb.to_string_lossy(),
        ],
    )
    .status_ok()?;
    let listing = Cmd::new("dpkg-deb", &["-c", &deb.to_string_lossy()])
        .output_ok()
        .context("dpkg-deb -c")?;
    let missing: Vec<&&str> = EXPECTED
        .iter()
        .filter(|f| !listing.lines().any(|l| l.split_whitespace().nth(5) == Some(**f)))
        .collect();
    if !missing.is_empty() {
        bail!("the package lacks {missing:?}:\n{listing}");
    }
    println!("package: {}", deb.display());
    Ok(deb)
}

/// The shipped unit for a package: the binary in /usr/sbin, and
/// `keepalived.service` as an alias instead of a conflict.
fn packaged_unit(root: &Path) -> Result<String> {
    let unit = fs::read_to_string(root.join("dist/xvrrpd.service"))?;
    let unit = unit
        .replace("/usr/local/sbin/", "/usr/sbin/")
        .replace("Conflicts=keepalived.service\n", "")
        .replace(
            "WantedBy=multi-user.target",
            "WantedBy=multi-user.target\nAlias=keepalived.service",
        );
    let stale = unit
        .lines()
        .any(|l| l.starts_with("Exec") && l.contains("/usr/local/"));
    if !unit.contains("Alias=keepalived.service") || stale {
        bail!("dist/xvrrpd.service changed shape: the packaged unit could not be derived");
    }
    Ok(unit)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("gzip")?;
    child.stdin.take().context("stdin")?.write_all(bytes)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("gzip failed");
    }
    Ok(out.stdout)
}
