//! Helpers every section parser uses: read a keyword's value with the diagnostics keepalived
//! users expect ("virtual_router_id 300 out of range 1..255").

use std::{fmt::Display, ops::RangeInclusive};

use crate::config::{
    diag::{Pos, Sink},
    lexer::Word,
    tree::Node,
    value,
};

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct At<T> {
    pub v: T,
    pub at: Pos,
}

impl<T> At<T> {
    pub fn new(v: T, at: &Pos) -> Self {
        Self { v, at: at.clone() }
    }
}

pub(crate) struct Ctx<'s> {
    pub sink: &'s mut Sink,
}

impl Ctx<'_> {
    /// The keyword's single value; reports a missing value, extra words and a block.
    pub fn single<'n>(&mut self, node: &'n Node, expected: &str) -> Option<&'n Word> {
        self.no_block(node);
        let word = self.first(node, expected)?;
        self.extra_words(node, 2);
        Some(word)
    }

    /// The keyword's first value (more may follow); reports a missing value.
    pub fn first<'n>(&mut self, node: &'n Node, expected: &str) -> Option<&'n Word> {
        let word = node.stmt.words.get(1);
        if word.is_none() {
            self.sink
                .error(node.at(), format!("{}: expected {expected}", node.keyword()));
        }
        word
    }

    /// Warns about words from index `from` on (they are ignored).
    pub fn extra_words(&mut self, node: &Node, from: usize) {
        if let Some(extra) = node.stmt.words.get(from) {
            self.sink.warning_at(
                &extra.at,
                format!(
                    "{}: unexpected '{}' after the value; ignored",
                    node.keyword(),
                    extra.text
                ),
            );
        }
    }

    /// A keyword that takes no `{ }` block.
    pub fn no_block(&mut self, node: &Node) {
        if let Some(block) = &node.block {
            self.sink.warning_at(
                &block.open,
                format!("{} takes no {{ }} block; the block is ignored", node.keyword()),
            );
        }
    }

    /// A keyword that takes nothing at all (`nopreempt`).
    pub fn flag(&mut self, node: &Node) {
        self.no_block(node);
        self.extra_words(node, 1);
    }

    /// keepalived's optional boolean (`vrrp_strict`, `smtp_alert [BOOL]`): alone it is true.
    pub fn opt_bool(&mut self, node: &Node) -> Option<bool> {
        self.no_block(node);
        let Some(word) = node.stmt.words.get(1) else {
            return Some(true);
        };
        self.extra_words(node, 2);
        let parsed = value::boolean(&word.text);
        if parsed.is_none() {
            self.sink.error(
                node.at(),
                format!(
                    "{} '{}': expected true|false, on|off or yes|no (or nothing: true)",
                    node.keyword(),
                    word.text
                ),
            );
        }
        parsed
    }

    /// An unsigned value within `range`.
    pub fn uint(&mut self, node: &Node, range: RangeInclusive<u64>) -> Option<u64> {
        let expected = format!("a number {}..{}", range.start(), range.end());
        let word = self.single(node, &expected)?;
        self.unsigned(node.keyword(), word, range, false)
    }

    /// An unsigned word within `range` among others on its line (the column is shown), named
    /// `what` in messages.
    pub fn check_uint(&mut self, what: &str, word: &Word, range: RangeInclusive<u64>) -> Option<u64> {
        self.unsigned(what, word, range, true)
    }

    fn unsigned(&mut self, what: &str, word: &Word, range: RangeInclusive<u64>, column: bool) -> Option<u64> {
        match value::uint(&word.text) {
            Some(n) if range.contains(&n) => Some(n),
            Some(_) => {
                self.out_of_range(what, word, &range, column);
                None
            }
            None => {
                self.not_a_number(what, word, &range, column);
                None
            }
        }
    }

    /// A signed word within `range`.
    pub fn check_int(&mut self, what: &str, word: &Word, range: RangeInclusive<i64>) -> Option<i64> {
        match value::int(&word.text) {
            Some(n) if range.contains(&n) => Some(n),
            Some(_) => {
                self.out_of_range(what, word, &range, true);
                None
            }
            None => {
                self.not_a_number(what, word, &range, true);
                None
            }
        }
    }

    /// Decimal seconds, at most `max_us`, in microseconds.
    pub fn seconds_us(&mut self, node: &Node, min_us: u64, max_us: u64) -> Option<u64> {
        let range = format!("{}..{}", value::show_us(min_us), value::show_us(max_us));
        let word = self.single(node, &format!("seconds {range}"))?;
        match value::decimal_us(&word.text) {
            Some(us) if (min_us..=max_us).contains(&us) => Some(us),
            Some(_) => {
                self.sink.error(
                    node.at(),
                    format!("{} {} out of range {range} seconds", node.keyword(), word.text),
                );
                None
            }
            None => {
                self.sink.error(
                    node.at(),
                    format!(
                        "{} '{}' is not a number of seconds: expected {range} (decimals allowed)",
                        node.keyword(),
                        word.text
                    ),
                );
                None
            }
        }
    }

    /// Decimal seconds in milliseconds (keepalived reads microseconds; finer is rounded).
    pub fn seconds_ms(&mut self, node: &Node, max_s: u32) -> Option<u32> {
        let us = self.seconds_us(node, 0, u64::from(max_s) * 1_000_000)?;
        if us % 1000 != 0 {
            self.sink.warning(
                node.at(),
                format!("{}: rounded to whole milliseconds", node.keyword()),
            );
        }
        u32::try_from(us.div_ceil(1000)).ok()
    }

    fn out_of_range<T: Display>(&mut self, what: &str, word: &Word, range: &RangeInclusive<T>, column: bool) {
        self.number_error(
            word,
            column,
            format!(
                "{what} {} out of range {}..{}",
                word.text,
                range.start(),
                range.end()
            ),
        );
    }

    fn not_a_number<T: Display>(&mut self, what: &str, word: &Word, range: &RangeInclusive<T>, column: bool) {
        self.number_error(
            word,
            column,
            format!(
                "{what} '{}' is not a number: expected {}..{}",
                word.text,
                range.start(),
                range.end()
            ),
        );
    }

    fn number_error(&mut self, word: &Word, column: bool, message: String) {
        if column {
            self.sink.error_at(&word.at, message);
        } else {
            self.sink.error(&word.at, message);
        }
    }

    /// The lines of a value block (`virtual_ipaddress { ... }`): nested blocks in it are
    /// reported and skipped.
    pub fn value_lines<'n>(&mut self, node: &'n Node) -> Vec<&'n Node> {
        self.extra_words(node, 1);
        let Some(block) = &node.block else {
            self.sink.error(
                node.at(),
                format!("{}: expected a {{ }} block of values", node.keyword()),
            );
            return Vec::new();
        };
        let mut lines = Vec::with_capacity(block.children.len());
        for child in &block.children {
            if let Some(inner) = &child.block {
                self.sink.warning_at(
                    &inner.open,
                    format!("{}: unexpected nested block; ignored", node.keyword()),
                );
            }
            lines.push(child);
        }
        lines
    }

    /// A keyword this section does not know. keepalived keywords xvrrp does not implement get
    /// a message that says so.
    pub fn unknown(&mut self, section: &str, node: &Node, unsupported: &[&str]) {
        let with_block = if node.block.is_some() {
            " (with its block)"
        } else {
            ""
        };
        let message = if unsupported.contains(&node.keyword()) {
            format!(
                "{section}: keepalived keyword '{}' is not supported by xvrrp; ignored{with_block}",
                node.keyword()
            )
        } else {
            format!(
                "{section}: unknown keyword '{}'; ignored{with_block}",
                node.keyword()
            )
        };
        self.sink.warning(node.at(), message);
    }
}

/// Interface names as the kernel takes them (IFNAMSIZ is 16 with the NUL).
pub(crate) fn interface_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "." || name == ".." {
        Some("is not a valid interface name")
    } else if name.len() >= 16 {
        Some("is longer than 15 characters")
    } else if name.contains(['/', ':']) || name.contains(char::is_whitespace) {
        Some("contains '/', ':' or blanks")
    } else {
        None
    }
}
