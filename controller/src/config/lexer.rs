//! keepalived.conf as keepalived's reader sees it: lines, comments, quotes, braces and
//! `include`, turned into a flat stream of statements and block braces.
//!
//! - `#` and `!` start a comment anywhere outside double quotes; `\#` and `\!` are literal.
//! - Words are separated by blanks; `"..."` is one word without its quotes.
//! - A `{` or `}` outside quotes ends the statement before it and stands alone, so
//!   `vrrp_instance VI_1 {`, a `{` on the next line and `virtual_ipaddress { 10.0.0.1 }` all
//!   read the same.
//! - `include PATTERN` (a whole line) reads the files matching the glob, relative to the
//!   including file's folder, in sorted order, in place. Nesting and the number of files are
//!   bounded, and a file that includes itself (directly or not) is reported, not followed.
//! - keepalived's preprocessor (`@id` conditional lines, `$NAME=` definitions, `~SEQ`) is not
//!   supported: such lines are errors.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{
    diag::{Pos, Sink},
    source::{Source, expand_braces},
};

/// Deepest `include` nesting followed.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;
/// Most files read for one configuration (globs can fan out).
pub(crate) const MAX_FILES: usize = 256;

/// One word of a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    pub at: Pos,
}

/// The words of one statement, plus its text (comments removed) for the few keywords that
/// re-read their line with shell-like quoting (`script`, `notify_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Statement {
    pub words: Vec<Word>,
    pub raw: String,
}

impl Statement {
    pub fn keyword(&self) -> &str {
        &self.words[0].text
    }

    pub fn at(&self) -> &Pos {
        &self.words[0].at
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    Stmt(Statement),
    Open(Pos),
    Close(Pos),
}

/// Reads `path` (and what it includes) into items, reporting problems to `sink`.
#[cfg(test)]
pub(crate) fn lex(source: &dyn Source, path: &Path, sink: &mut Sink) -> Vec<Item> {
    let mut items = Vec::new();
    lex_into(source, path, sink, &mut |item, _| items.push(item));
    items
}

/// Reads `path` (and what it includes), handing each item to `out` as soon as it is read:
/// the daemon's start-up never holds the whole file as items (at 4000 instances they were
/// a third of the parse's peak).
pub(crate) fn lex_into(
    source: &dyn Source,
    path: &Path,
    sink: &mut Sink,
    out: &mut dyn FnMut(Item, &mut Sink),
) {
    let mut lexer = Lexer {
        source,
        sink,
        out,
        stack: Vec::new(),
        files: 0,
        said_too_many: false,
    };
    let file: Arc<Path> = Arc::from(path);
    lexer.sink.opened(&file);
    match source.read(path) {
        Ok(text) => {
            lexer.stack.push(source.identity(path));
            lexer.files = 1;
            lexer.file(&file, &text);
        }
        Err(err) => lexer
            .sink
            .error(&Pos::file(&file), format!("cannot read the configuration: {err}")),
    }
}

struct Lexer<'a> {
    source: &'a dyn Source,
    sink: &'a mut Sink,
    out: &'a mut dyn FnMut(Item, &mut Sink),
    /// Identities of the files being read, outermost first.
    stack: Vec<PathBuf>,
    files: usize,
    said_too_many: bool,
}

/// Blanks as keepalived's reader counts them (not newlines: lines are split first).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

/// A character with its 1-based column in the original line.
type Cell = (char, u32);

impl Lexer<'_> {
    fn emit(&mut self, item: Item) {
        (self.out)(item, self.sink);
    }

    fn file(&mut self, file: &Arc<Path>, text: &str) {
        for (index, line) in text.split('\n').enumerate() {
            let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let cells = self.decomment(file, line_no, line);
            if cells.is_empty() {
                continue;
            }
            let pos = Pos::new(file, line_no, cells[0].1);
            let text: String = cells.iter().map(|c| c.0).collect();
            if self.preprocessor(&pos, &text) {
                continue;
            }
            if let Some(pattern) = include_pattern(&text) {
                self.include(file, &pos, pattern.trim());
                continue;
            }
            self.split(file, line_no, &cells);
        }
    }

    /// Removes the comment and the surrounding blanks; reports an unterminated quote.
    fn decomment(&mut self, file: &Arc<Path>, line_no: u32, line: &str) -> Vec<Cell> {
        let mut cells: Vec<Cell> = Vec::with_capacity(line.len());
        let mut quote_col = None;
        let mut chars = line.chars().zip(1u32..).peekable();
        while let Some((c, col)) = chars.next() {
            match c {
                '\\' => {
                    match chars.peek().copied() {
                        // `\#` and `\!` outside quotes are the characters themselves.
                        Some((next @ ('#' | '!'), next_col)) if quote_col.is_none() => {
                            chars.next();
                            cells.push((next, next_col));
                        }
                        // Anything else keeps its backslash and is not a quote or comment.
                        Some(next) => {
                            chars.next();
                            cells.push((c, col));
                            cells.push(next);
                        }
                        None => cells.push((c, col)),
                    }
                    continue;
                }
                '"' => quote_col = if quote_col.is_some() { None } else { Some(col) },
                '#' | '!' if quote_col.is_none() => break,
                _ => {}
            }
            cells.push((c, col));
        }
        if let Some(col) = quote_col {
            self.sink.error_at(
                &Pos::new(file, line_no, col),
                "unterminated quote: expected a closing '\"' on the same line",
            );
        }
        let start = cells.iter().position(|c| !is_blank(c.0)).unwrap_or(cells.len());
        let end = cells
            .iter()
            .rposition(|c| !is_blank(c.0))
            .map_or(start, |i| i + 1);
        cells.truncate(end);
        cells.drain(..start);
        cells
    }

    /// keepalived's preprocessor lines, which we do not support. True when `text` was one.
    fn preprocessor(&mut self, pos: &Pos, text: &str) -> bool {
        let what = if text.starts_with('@') {
            "conditional lines (@CONFIG_ID ...)"
        } else if text.starts_with('$') && text.contains('=') {
            "parameter definitions ($NAME=...)"
        } else if text.starts_with("~SEQ") || text.starts_with("~LST") {
            "~SEQ/~LST line generators"
        } else {
            return false;
        };
        self.sink.error(
            pos,
            format!("keepalived {what} are not supported by xvrrp; expand them in the file"),
        );
        true
    }

    fn include(&mut self, file: &Arc<Path>, pos: &Pos, pattern: &str) {
        if pattern.is_empty() {
            self.sink
                .error(pos, "include: expected a file name or glob pattern");
            return;
        }
        let folder = file.parent().unwrap_or(Path::new(""));
        let mut matches: Vec<PathBuf> = Vec::new();
        for expanded in expand_braces(pattern) {
            let full = folder.join(&expanded);
            let Some(full) = full.to_str() else { continue };
            for found in self.source.glob(full) {
                if !matches.contains(&found) {
                    matches.push(found);
                }
            }
        }
        if matches.is_empty() {
            self.sink
                .warning(pos, format!("include {pattern}: no file matches"));
            return;
        }
        for path in matches {
            self.include_file(pos, &path);
        }
    }

    fn include_file(&mut self, pos: &Pos, path: &Path) {
        let identity = self.source.identity(path);
        // Named as the including file would name it (and so the same on every machine).
        let folder = pos.file.parent().unwrap_or(Path::new(""));
        let shown = path.strip_prefix(folder).unwrap_or(path).display().to_string();
        if self.stack.contains(&identity) {
            self.sink.error(
                pos,
                format!("include loop: {shown} is already being read; not included again"),
            );
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.sink.error(
                pos,
                format!("include {shown}: includes nested deeper than {MAX_INCLUDE_DEPTH} levels; not read"),
            );
            return;
        }
        if self.files >= MAX_FILES {
            if !self.said_too_many {
                self.said_too_many = true;
                self.sink.error(
                    pos,
                    format!("more than {MAX_FILES} files included; the rest are not read"),
                );
            }
            return;
        }
        match self.source.read(path) {
            Ok(text) => {
                self.files += 1;
                let file: Arc<Path> = Arc::from(path);
                self.sink.opened(&file);
                self.stack.push(identity);
                self.file(&file, &text);
                self.stack.pop();
            }
            Err(err) => self
                .sink
                .error(pos, format!("include {shown}: cannot read: {err}")),
        }
    }

    /// Splits a line at braces outside quotes and turns each piece into items.
    fn split(&mut self, file: &Arc<Path>, line_no: u32, mut rest: &[Cell]) {
        loop {
            let skip = rest.iter().position(|c| !is_blank(c.0)).unwrap_or(rest.len());
            rest = &rest[skip..];
            let Some(&(first, col)) = rest.first() else { break };
            let pos = Pos::new(file, line_no, col);
            match first {
                '{' => {
                    self.emit(Item::Open(pos));
                    rest = &rest[1..];
                }
                '}' => {
                    self.emit(Item::Close(pos));
                    rest = &rest[1..];
                }
                _ => {
                    let end = brace_outside_quotes(rest).unwrap_or(rest.len());
                    let piece = &rest[..end];
                    self.emit(Item::Stmt(Statement {
                        words: words(file, line_no, piece),
                        raw: piece
                            .iter()
                            .map(|c| c.0)
                            .collect::<String>()
                            .trim_end()
                            .to_owned(),
                    }));
                    rest = &rest[end..];
                }
            }
        }
    }
}

/// `include PATTERN`: the pattern, when the line is one. keepalived also has `includer`,
/// `includem`, ... (differing only in how missing files are reported): read like `include`.
fn include_pattern(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("include")?;
    let rest = match rest.chars().next() {
        Some(c) if is_blank(c) => rest,
        Some('r' | 'm' | 'w' | 'b' | 'a') if rest[1..].starts_with(is_blank) => &rest[1..],
        _ => return None,
    };
    Some(rest)
}

fn brace_outside_quotes(cells: &[Cell]) -> Option<usize> {
    let mut quoted = false;
    cells.iter().position(|&(c, _)| {
        if c == '"' {
            quoted = !quoted;
        }
        !quoted && (c == '{' || c == '}')
    })
}

/// Blank-separated words; `"..."` is one word without its quotes (an unterminated quote runs
/// to the end of the line, already reported).
fn words(file: &Arc<Path>, line_no: u32, cells: &[Cell]) -> Vec<Word> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cells.len() {
        if is_blank(cells[i].0) {
            i += 1;
            continue;
        }
        let col = cells[i].1;
        let (start, end, next) = if cells[i].0 == '"' {
            let close = cells[i + 1..].iter().position(|c| c.0 == '"').map(|p| p + i + 1);
            match close {
                Some(close) => (i + 1, close, close + 1),
                None => (i + 1, cells.len(), cells.len()),
            }
        } else {
            let end = cells[i..]
                .iter()
                .position(|c| is_blank(c.0) || c.0 == '"')
                .map_or(cells.len(), |p| p + i);
            (i, end, end)
        };
        out.push(Word {
            text: cells[start..end].iter().map(|c| c.0).collect(),
            at: Pos::new(file, line_no, col),
        });
        i = next;
    }
    // A statement has one to three words: the doubling growth would leave
    // room for four, for every statement of a 16,000-instance file at once.
    out.shrink_to_fit();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{diag::Diagnostic, source::MemSource};

    /// Items rendered compactly: statements as their words joined by `|`, braces as `{`/`}`,
    /// each with its line.
    fn render(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|item| match item {
                Item::Stmt(s) => {
                    let words: Vec<&str> = s.words.iter().map(|w| w.text.as_str()).collect();
                    format!("{}:{}", s.at().line, words.join("|"))
                }
                Item::Open(p) => format!("{}:{{", p.line),
                Item::Close(p) => format!("{}:}}", p.line),
            })
            .collect()
    }

    fn lex_mem(src: &MemSource, path: &str) -> (Vec<Item>, Vec<Diagnostic>) {
        let mut sink = Sink::default();
        let items = lex(src, Path::new(path), &mut sink);
        (items, sink.finish())
    }

    fn lex_text(text: &str) -> (Vec<String>, Vec<String>) {
        let (items, diags) = lex_mem(&MemSource::new().with("/k.conf", text), "/k.conf");
        (render(&items), diags.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn hash_and_bang_comments_also_trailing() {
        let (items, diags) = lex_text("# whole line\n! another\nrouter_id A # trailing\npriority 9! x\n");
        assert_eq!(items, ["3:router_id|A", "4:priority|9"]);
        assert!(diags.is_empty());
    }

    #[test]
    fn comment_chars_inside_quotes_and_escaped_are_kept() {
        let (items, _) = lex_text("auth_pass \"a#b!c\"\nauth_pass x\\#y\n");
        assert_eq!(items, ["1:auth_pass|a#b!c", "2:auth_pass|x#y"]);
    }

    #[test]
    fn quoted_strings_are_one_word() {
        let (items, _) = lex_text("script \"/bin/check arg1 arg2\" user\n");
        assert_eq!(items, ["1:script|/bin/check arg1 arg2|user"]);
    }

    #[test]
    fn unterminated_quote_is_an_error_with_column() {
        let (items, diags) = lex_text("script \"/bin/x arg\n");
        assert_eq!(items, ["1:script|/bin/x arg"]);
        assert_eq!(
            diags,
            ["/k.conf:1:8: error: unterminated quote: expected a closing '\"' on the same line"]
        );
    }

    #[test]
    fn brace_on_same_line_next_line_or_inline() {
        let same = lex_text("vrrp_instance VI_1 {\n state MASTER\n}\n").0;
        let next = lex_text("vrrp_instance VI_1\n{\n state MASTER\n}\n").0;
        let glued = lex_text("vrrp_instance VI_1{\n state MASTER }\n").0;
        assert_eq!(same, ["1:vrrp_instance|VI_1", "1:{", "2:state|MASTER", "3:}"]);
        assert_eq!(next, ["1:vrrp_instance|VI_1", "2:{", "3:state|MASTER", "4:}"]);
        assert_eq!(glued, ["1:vrrp_instance|VI_1", "1:{", "2:state|MASTER", "2:}"]);
        let inline = lex_text("virtual_ipaddress { 10.0.0.1 10.0.0.2 } priority 5\n").0;
        assert_eq!(
            inline,
            [
                "1:virtual_ipaddress",
                "1:{",
                "1:10.0.0.1|10.0.0.2",
                "1:}",
                "1:priority|5"
            ]
        );
    }

    #[test]
    fn braces_inside_quotes_do_not_split() {
        let (items, _) = lex_text("notify \"/bin/n {x}\"\n");
        assert_eq!(items, ["1:notify|/bin/n {x}"]);
    }

    #[test]
    fn crlf_and_blank_lines_keep_line_numbers() {
        let (items, _) = lex_text("\r\n\r\npriority 5\r\n");
        assert_eq!(items, ["3:priority|5"]);
    }

    #[test]
    fn raw_text_is_kept_for_script_keywords() {
        let (items, _) = lex_mem(
            &MemSource::new().with("/k.conf", "  script \"/bin/a 'b c'\"   # check\n"),
            "/k.conf",
        );
        let Item::Stmt(s) = &items[0] else {
            panic!("expected a statement")
        };
        assert_eq!(s.raw, "script \"/bin/a 'b c'\"");
        assert_eq!(s.at().col, 3);
    }

    #[test]
    fn include_globs_are_relative_to_the_including_file_and_sorted() {
        let src = MemSource::new()
            .with("/etc/k/keepalived.conf", "a 1\ninclude conf.d/*.conf\nz 9\n")
            .with("/etc/k/conf.d/20-b.conf", "b 2\n")
            .with("/etc/k/conf.d/10-a.conf", "include ../more/{x,y}.inc\n")
            .with("/etc/k/more/x.inc", "x 3\n")
            .with("/etc/k/more/y.inc", "y 4\n")
            .with("/etc/k/conf.d/skip.txt", "nope\n");
        let (items, diags) = lex_mem(&src, "/etc/k/keepalived.conf");
        assert_eq!(render(&items), ["1:a|1", "1:x|3", "1:y|4", "1:b|2", "3:z|9"]);
        assert!(diags.is_empty(), "{diags:?}");
        let Item::Stmt(x) = &items[1] else { panic!() };
        assert_eq!(&*x.at().file, Path::new("/etc/k/more/x.inc"));
    }

    #[test]
    fn include_without_match_warns() {
        let (_, diags) = lex_text("include nothing/*.conf\n");
        assert_eq!(
            diags,
            ["/k.conf:1: warning: include nothing/*.conf: no file matches"]
        );
    }

    #[test]
    fn include_loops_are_reported_and_bounded() {
        let src = MemSource::new()
            .with("/c/a.conf", "include b.conf\nafter_a 1\n")
            .with("/c/b.conf", "include a.conf\nafter_b 1\n");
        let (items, diags) = lex_mem(&src, "/c/a.conf");
        assert_eq!(render(&items), ["2:after_b|1", "2:after_a|1"]);
        let diags: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(
            diags,
            ["/c/b.conf:1: error: include loop: a.conf is already being read; not included again"]
        );

        let itself = MemSource::new().with("/c/self.conf", "include *.conf\n");
        let (_, diags) = lex_mem(&itself, "/c/self.conf");
        assert_eq!(diags.len(), 1);
    }

    #[test]
    fn fan_out_of_includes_is_bounded() {
        // Every file includes all the others: without a bound this would read n! files.
        let mut src = MemSource::new();
        for i in 0..8 {
            src = src.with(format!("/f/{i}.conf"), "include *.conf\nk v\n");
        }
        let (items, diags) = lex_mem(&src, "/f/0.conf");
        assert!(items.len() <= MAX_FILES);
        assert!(
            diags
                .iter()
                .any(|d| d.message.starts_with(&format!("more than {MAX_FILES} files"))),
        );
    }

    #[test]
    fn deep_include_chains_stop() {
        let mut src = MemSource::new();
        for i in 0..40 {
            src = src.with(format!("/d/{i}.conf"), format!("include {}.conf\n", i + 1));
        }
        let (_, diags) = lex_mem(&src, "/d/0.conf");
        assert!(
            diags.iter().any(|d| d.message.contains("nested deeper than")),
            "{diags:?}"
        );
    }

    #[test]
    fn preprocessor_lines_are_errors() {
        let (items, diags) = lex_text("@host1 priority 5\n$X=1\n~SEQ(i,1,3) a\npriority 1\n");
        assert_eq!(items, ["4:priority|1"]);
        assert_eq!(diags.len(), 3);
        assert!(diags.iter().all(|d| d.contains("error: keepalived")));
    }

    #[test]
    fn unreadable_main_file() {
        let (items, diags) = lex_mem(&MemSource::new(), "/missing.conf");
        assert!(items.is_empty());
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0]
                .to_string()
                .starts_with("/missing.conf: error: cannot read")
        );
    }

    #[test]
    fn include_word_prefix_is_not_an_include() {
        let (items, _) = lex_text("include_me 1\nincluder x.conf\n");
        assert_eq!(items, ["1:include_me|1"]);
    }
}
