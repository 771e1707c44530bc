//! Diagnostics: every message the reader gives, as `FILE:LINE[:COL]: severity: text`.
//!
//! `error` means the daemon refuses to start, `warning` means keepalived would start and so do
//! we (something is ignored or adjusted), `note` is information only.

use std::{
    fmt::{self, Write as _},
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

/// How bad a diagnostic is. Ordered from worst to mildest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration cannot be used: the daemon does not start.
    Error,
    /// Something is ignored or adjusted; the daemon starts.
    Warning,
    /// Information only.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Note => "note",
        })
    }
}

/// A place in a configuration file. `line` and `col` count from 1; `line` 0 means the file
/// as a whole (it could not be read, say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<Path>,
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub(crate) fn new(file: &Arc<Path>, line: u32, col: u32) -> Self {
        Self {
            file: Arc::clone(file),
            line,
            col,
        }
    }

    /// The whole file, no line.
    pub(crate) fn file(file: &Arc<Path>) -> Self {
        Self::new(file, 0, 0)
    }

    /// How a message at `here` names this earlier place: "line N" in the same file, "line N
    /// of FILE" when it is in another (one of them came by `include`: a bare line number
    /// would send the operator to the wrong file). FILE is named from `here`'s folder when
    /// it lies under it, as an `include` there would name it.
    pub(crate) fn as_seen_from(&self, here: &Pos) -> String {
        if self.file != here.file {
            let folder = here.file.parent().unwrap_or(Path::new(""));
            let file = self.file.strip_prefix(folder).unwrap_or(&self.file);
            format!("line {} of {}", self.line, file.display())
        } else if self.line == here.line {
            // The one file read twice (`include a.conf` and `include *.conf`).
            format!("line {} (the same file included twice)", self.line)
        } else {
            format!("line {}", self.line)
        }
    }
}

/// One message about the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file, as named on the command line or by `include` (joined to the including file's
    /// folder).
    pub file: PathBuf,
    /// 1-based; 0 when the message is about the whole file.
    pub line: u32,
    /// 1-based column, given where it helps (a value among several on a line).
    pub column: Option<u32>,
    pub message: String,
}

impl Diagnostic {
    /// Renders the location with `file` shown relative to `base` when it lies under it (the
    /// corpus tests use this to keep golden files independent of the checkout's path).
    pub fn display_relative_to(&self, base: &Path) -> String {
        let file = self.file.strip_prefix(base).unwrap_or(&self.file);
        self.render(file)
    }

    fn render(&self, file: &Path) -> String {
        let mut out = file.display().to_string();
        if self.line > 0 {
            let _ = write!(out, ":{}", self.line);
            if let Some(col) = self.column {
                let _ = write!(out, ":{col}");
            }
        }
        format!("{out}: {}: {}", self.severity, self.message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&self.file))
    }
}

/// Collects diagnostics while reading; remembers the one-time notes.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    list: Vec<(u64, Diagnostic)>,
    said_once: Vec<&'static str>,
    /// Order of the files as they were opened, so that diagnostics sort in reading order.
    file_order: Vec<Arc<Path>>,
}

impl Sink {
    fn push(&mut self, severity: Severity, at: &Pos, column: bool, message: String) {
        let rank = self.file_rank(&at.file);
        let key = (rank << 40) | (u64::from(at.line) << 16) | u64::from(at.col.min(0xffff));
        self.list.push((
            key,
            Diagnostic {
                severity,
                file: at.file.to_path_buf(),
                line: at.line,
                column: (column && at.line > 0 && at.col > 0).then_some(at.col),
                message,
            },
        ));
    }

    fn file_rank(&mut self, file: &Arc<Path>) -> u64 {
        let index = if let Some(i) = self.file_order.iter().position(|f| f == file) {
            i
        } else {
            self.file_order.push(Arc::clone(file));
            self.file_order.len() - 1
        };
        index as u64
    }

    /// Records that `file` was opened (diagnostics sort by file in this order).
    pub(crate) fn opened(&mut self, file: &Arc<Path>) {
        self.file_rank(file);
    }

    /// An error about a line (no column).
    pub(crate) fn error(&mut self, at: &Pos, message: impl Into<String>) {
        self.push(Severity::Error, at, false, message.into());
    }

    pub(crate) fn warning(&mut self, at: &Pos, message: impl Into<String>) {
        self.push(Severity::Warning, at, false, message.into());
    }

    pub(crate) fn note(&mut self, at: &Pos, message: impl Into<String>) {
        self.push(Severity::Note, at, false, message.into());
    }

    /// An error about one token: the column is shown.
    pub(crate) fn error_at(&mut self, at: &Pos, message: impl Into<String>) {
        self.push(Severity::Error, at, true, message.into());
    }

    pub(crate) fn warning_at(&mut self, at: &Pos, message: impl Into<String>) {
        self.push(Severity::Warning, at, true, message.into());
    }

    /// A note given at most once per reading, keyed by `key`.
    pub(crate) fn note_once(&mut self, key: &'static str, at: &Pos, message: impl Into<String>) {
        if !self.said_once.contains(&key) {
            self.said_once.push(key);
            self.note(at, message);
        }
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.list.iter().any(|(_, d)| d.severity == Severity::Error)
    }

    /// The diagnostics in reading order (file opening order, line, column); a stable sort, so
    /// messages about the same place keep the order they were given in.
    pub(crate) fn finish(mut self) -> Vec<Diagnostic> {
        self.list.sort_by_key(|(key, _)| *key);
        self.list.into_iter().map(|(_, d)| d).collect()
    }
}

/// Counts by severity, for summaries.
pub fn count(diagnostics: &[Diagnostic], severity: Severity) -> usize {
    diagnostics.iter().filter(|d| d.severity == severity).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> Arc<Path> {
        Arc::from(Path::new(name))
    }

    #[test]
    fn renders_file_line_severity_text() {
        let mut sink = Sink::default();
        let f = file("dir/keepalived.conf");
        sink.warning(&Pos::new(&f, 18, 5), "w");
        sink.error_at(&Pos::new(&f, 3, 7), "e");
        sink.error(&Pos::file(&f), "unreadable");
        let out: Vec<String> = sink.finish().iter().map(ToString::to_string).collect();
        assert_eq!(
            out,
            [
                "dir/keepalived.conf: error: unreadable",
                "dir/keepalived.conf:3:7: error: e",
                "dir/keepalived.conf:18: warning: w",
            ]
        );
    }

    #[test]
    fn relative_rendering_strips_the_base() {
        let mut sink = Sink::default();
        sink.note(&Pos::new(&file("/a/b/c.conf"), 2, 1), "n");
        let d = &sink.finish()[0];
        assert_eq!(d.display_relative_to(Path::new("/a/b")), "c.conf:2: note: n");
    }

    #[test]
    fn an_earlier_place_in_another_file_names_the_file() {
        let main = file("/etc/keepalived/keepalived.conf");
        let inc = file("/etc/keepalived/conf.d/vi.conf");
        let first = Pos::new(&main, 4, 1);
        assert_eq!(first.as_seen_from(&Pos::new(&main, 9, 1)), "line 4");
        assert_eq!(
            first.as_seen_from(&Pos::new(&inc, 2, 1)),
            "line 4 of /etc/keepalived/keepalived.conf"
        );
        assert_eq!(
            Pos::new(&inc, 2, 1).as_seen_from(&first),
            "line 2 of conf.d/vi.conf"
        );
        assert_eq!(
            first.as_seen_from(&Pos::new(&main, 4, 1)),
            "line 4 (the same file included twice)"
        );
    }

    #[test]
    fn sorted_by_file_opening_order_then_line() {
        let mut sink = Sink::default();
        let main = file("main.conf");
        let inc = file("inc.conf");
        sink.opened(&main);
        sink.opened(&inc);
        sink.warning(&Pos::new(&inc, 1, 1), "in include");
        sink.warning(&Pos::new(&main, 9, 1), "main late");
        sink.warning(&Pos::new(&main, 2, 1), "main early");
        let msgs: Vec<String> = sink.finish().into_iter().map(|d| d.message).collect();
        assert_eq!(msgs, ["main early", "main late", "in include"]);
    }

    #[test]
    fn note_once_says_it_once() {
        let mut sink = Sink::default();
        let f = file("k.conf");
        sink.note_once("mail", &Pos::new(&f, 1, 1), "no mail");
        sink.note_once("mail", &Pos::new(&f, 5, 1), "no mail");
        assert_eq!(sink.finish().len(), 1);
    }
}
