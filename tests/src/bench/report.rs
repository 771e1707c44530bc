//! The results: table rows (xvrrpd's figures, keepalived's, the ratio), the
//! machine they ran on, the raw samples, and the JSON file.

use std::{fmt::Write as _, fs, path::Path, process::Command};

use serde_json::{Value, json};

use super::impls::Impl;

/// One line of the table: a figure per implementation.
#[derive(Debug, Clone)]
pub struct Row {
    pub section: &'static str,
    pub measure: String,
    pub unit: &'static str,
    pub xdp: Option<f64>,
    pub socket: Option<f64>,
    pub keepalived: Option<f64>,
    /// Shown after the figures (a reference value, a caveat).
    pub note: String,
}

impl Row {
    pub fn new(section: &'static str, measure: impl Into<String>, unit: &'static str) -> Self {
        Self {
            section,
            measure: measure.into(),
            unit,
            xdp: None,
            socket: None,
            keepalived: None,
            note: String::new(),
        }
    }

    pub fn set(&mut self, which: Impl, value: f64) {
        match which {
            Impl::Xdp => self.xdp = Some(value),
            Impl::Socket => self.socket = Some(value),
            Impl::Keepalived => self.keepalived = Some(value),
        }
    }

    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "section": self.section,
            "measure": self.measure,
            "unit": self.unit,
            "xvrrpd_xdp": self.xdp,
            "xvrrpd_socket": self.socket,
            "keepalived": self.keepalived,
            "ratio_xdp_keepalived": ratio(self.xdp, self.keepalived),
            "ratio_socket_keepalived": ratio(self.socket, self.keepalived),
            "note": self.note,
        })
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// A figure with three significant digits (whole numbers above 100).
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), fmt_num)
}

fn ratio_cell(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => fmt_num(a / b),
        (Some(_), Some(_)) => "n/a (0)".to_owned(),
        _ => "-".to_owned(),
    }
}

/// Everything one run produced.
#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Extra tables printed as they are (the kernel cost has no keepalived counterpart).
    pub extra: Vec<String>,
    /// Raw samples per case name.
    pub raw: serde_json::Map<String, Value>,
    pub notes: Vec<String>,
    /// Runs that failed to measure (the benchmark then exits non-zero).
    pub failures: usize,
}

impl Report {
    /// Records a run that failed: a progress line, a note under the table,
    /// and the raw entry returned (the caller may add the case's fields).
    pub fn failed(&mut self, case: &str, which: Impl, e: &str) -> Value {
        super::progress(&format!("  FAILED: {e}"));
        self.failures += 1;
        self.notes.push(format!(
            "{case} {}: failed: {}",
            which.label(),
            e.lines().next().unwrap_or("")
        ));
        json!({"impl": which.key(), "error": e})
    }

    /// Records a measurement whose trials disagree: like a failure, the
    /// benchmark exits non-zero and the note says which and how.
    pub fn unstable(&mut self, case: &str, which: Impl, what: &str) {
        super::progress(&format!("  UNSTABLE: {what}"));
        self.failures += 1;
        self.notes
            .push(format!("{case} {}: unstable: {what}", which.label()));
    }

    /// The Markdown table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        if !self.rows.is_empty() {
            s.push_str(
                "| measure | xvrrpd xdp | xvrrpd socket | keepalived | xdp / keepalived | socket / keepalived | note |\n",
            );
            s.push_str("|---|---|---|---|---|---|---|\n");
        }
        let mut section = "";
        for r in &self.rows {
            if r.section != section {
                section = r.section;
                let _ = writeln!(s, "| **{section}** | | | | | | |");
            }
            let _ = writeln!(
                s,
                "| {} ({}) | {} | {} | {} | {} | {} | {} |",
                r.measure,
                r.unit,
                cell(r.xdp),
                cell(r.socket),
                cell(r.keepalived),
                ratio_cell(r.xdp, r.keepalived),
                ratio_cell(r.socket, r.keepalived),
                r.note
            );
        }
        for e in &self.extra {
            s.push('\n');
            s.push_str(e);
        }
        for n in &self.notes {
            let _ = writeln!(s, "\n{n}");
        }
        s
    }

    pub fn to_json(&self, machine: &Value, args: &[String]) -> Value {
        json!({
            "machine": machine,
            "command": format!("cargo xtask bench {}", args.join(" ")).trim_end().to_owned(),
            "rows": self.rows.iter().map(Row::to_json).collect::<Vec<_>>(),
            "notes": self.notes,
            "raw": Value::Object(self.raw.clone()),
        })
    }

    pub fn write(&self, path: &Path, machine: &Value, args: &[String]) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(&self.to_json(machine, args)).unwrap_or_default();
        fs::write(path, text + "\n")
    }
}

fn first_line(cmd: &[&str]) -> String {
    Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .ok()
        .map(|o| {
            let mut t = String::from_utf8_lossy(&o.stdout).into_owned();
            t.push_str(&String::from_utf8_lossy(&o.stderr));
            t.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_default()
}

/// nproc, CPU model, kernel, versions, date.
pub fn machine(xvrrpd: &Path) -> Value {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_owned();
    let mem_kib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        "model_name": model,
        "mem_gib": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "kernel": first_line(&["uname", "-r"]),
        "keepalived": first_line(&["keepalived", "--version"]),
        "xvrrpd": first_line(&[&xvrrpd.to_string_lossy(), "--version"]),
        "date": first_line(&["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        "git": first_line(&["git", "-C", concat!(env!("CARGO_MANIFEST_DIR"), "/.."), "describe", "--always", "--dirty"]),
        "loadavg_at_start": fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    })
}

/// "2 x AMD EPYC, kernel 6.18.44, keepalived v2.2.7, xvrrpd 0.1.0, 2026-11-25".
pub fn machine_line(m: &Value) -> String {
    format!(
        "{} CPU x {} ({} GiB), kernel {}, {}, {}, {}",
        m["nproc"],
        m["model_name"].as_str().unwrap_or("?"),
        m["mem_gib"],
        m["kernel"].as_str().unwrap_or("?"),
        m["keepalived"].as_str().unwrap_or("?"),
        m["xvrrpd"].as_str().unwrap_or("?"),
        m["date"].as_str().unwrap_or("?"),
    )
}

/// The `q`-quantile (0..=1) of `v` (nearest rank); NaN when empty.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = (q * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}
