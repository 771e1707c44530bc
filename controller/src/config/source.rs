//! Where configuration text comes from: the file system, or memory (tests and the fuzzer,
//! where an `include` must not wander off into the machine's files).

use std::{
    collections::BTreeMap,
    io,
    path::{Component, Path, PathBuf},
};

/// Reads configuration files and expands `include` patterns.
pub trait Source {
    /// The text of one file. Bytes that are not UTF-8 are replaced (keepalived reads bytes; a
    /// stray Latin-1 comment must not stop us).
    fn read(&self, path: &Path) -> io::Result<String>;

    /// The files matching a glob `pattern` (already made absolute or relative to the
    /// including file's folder), sorted, as glob(3) returns them.
    fn glob(&self, pattern: &str) -> Vec<PathBuf>;

    /// An identity for loop detection: the canonical path where there is one.
    fn identity(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsSource;

impl Source for FsSource {
    fn read(&self, path: &Path) -> io::Result<String> {
        let bytes = std::fs::read(path)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        let Ok(paths) = glob::glob(pattern) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
        out.sort();
        out
    }

    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Files held in memory, keyed by path. Globs match against the keys.
#[derive(Clone, Debug, Default)]
pub struct MemSource {
    files: BTreeMap<PathBuf, String>,
}

impl MemSource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    #[must_use]
    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.files.insert(path.into(), text.into());
        self
    }
}

/// `a/b/../c` as `a/c`: memory has no folders to walk through, so `..` is resolved by name.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(part);
                }
            }
            other => out.push(other),
        }
    }
    out
}

impl Source for MemSource {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(&lexical(path))
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        let pattern = lexical(Path::new(pattern));
        let Some(pattern) = pattern.to_str() else {
            return Vec::new();
        };
        let Ok(pattern) = glob::Pattern::new(pattern) else {
            return Vec::new();
        };
        let options = glob::MatchOptions {
            require_literal_separator: true,
            require_literal_leading_dot: true,
            ..glob::MatchOptions::new()
        };
        // BTreeMap keys are already sorted.
        self.files
            .keys()
            .filter(|p| pattern.matches_path_with(p, options))
            .cloned()
            .collect()
    }

    fn identity(&self, path: &Path) -> PathBuf {
        lexical(path)
    }
}

/// At most this many patterns come out of one `{a,b}` expansion.
const MAX_BRACE_EXPANSIONS: usize = 64;

/// Expands shell braces (`conf.d/{a,b}.conf`), as keepalived's glob(GLOB_BRACE) does; the
/// `glob` crate has no braces. Unbalanced braces are left as they are. The result is capped.
pub(crate) fn expand_braces(pattern: &str) -> Vec<String> {
    let mut done = Vec::new();
    let mut todo = vec![pattern.to_owned()];
    while let Some(p) = todo.pop() {
        if done.len() + todo.len() >= MAX_BRACE_EXPANSIONS {
            done.push(p);
            continue;
        }
        match innermost_braces(&p) {
            Some((open, close)) => {
                let (head, tail) = (&p[..open], &p[close + 1..]);
                // Reverse, so that popping keeps the written order.
                for alt in p[open + 1..close].split(',').rev() {
                    todo.push(format!("{head}{alt}{tail}"));
                }
            }
            None => done.push(p),
        }
    }
    done
}

/// The first `{...}` group without braces inside, that holds a comma.
fn innermost_braces(p: &str) -> Option<(usize, usize)> {
    let mut open = None;
    for (i, c) in p.char_indices() {
        match c {
            '{' => open = Some(i),
            '}' => {
                if let Some(o) = open
                    && p[o + 1..i].contains(',')
                {
                    return Some((o, i));
                }
                open = None;
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_expand_in_order() {
        assert_eq!(expand_braces("a/{x,y}.conf"), ["a/x.conf", "a/y.conf"]);
        assert_eq!(
            expand_braces("{a,b}/{c,d}"),
            ["a/c", "a/d", "b/c", "b/d"].map(String::from)
        );
        assert_eq!(expand_braces("plain*.conf"), ["plain*.conf"]);
        assert_eq!(expand_braces("odd{.conf"), ["odd{.conf"]);
        assert_eq!(expand_braces("{single}"), ["{single}"]);
    }

    #[test]
    fn braces_are_capped() {
        let many = "{a,b}".repeat(20);
        assert!(expand_braces(&many).len() <= MAX_BRACE_EXPANSIONS + 1);
    }

    #[test]
    fn mem_glob_matches_sorted_and_not_across_folders() {
        let src = MemSource::new()
            .with("/c/conf.d/b.conf", "")
            .with("/c/conf.d/a.conf", "")
            .with("/c/conf.d/sub/x.conf", "")
            .with("/c/other.txt", "");
        assert_eq!(
            src.glob("/c/conf.d/*.conf"),
            [
                PathBuf::from("/c/conf.d/a.conf"),
                PathBuf::from("/c/conf.d/b.conf")
            ]
        );
    }
}
