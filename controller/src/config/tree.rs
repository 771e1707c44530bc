//! Statements and braces into a tree: a statement followed by `{ ... }` owns that block.
//! Unbalanced braces are reported; nesting is bounded (keepalived's language nests four
//! levels at most, and a bound keeps hostile input from exhausting the stack).

use super::{
    diag::{Pos, Sink},
    lexer::{Item, Statement},
};

/// Deepest block nesting kept; deeper blocks are reported and dropped.
pub(crate) const MAX_DEPTH: usize = 16;

#[derive(Debug)]
pub(crate) struct Node {
    pub stmt: Statement,
    pub block: Option<Block>,
}

#[derive(Debug)]
pub(crate) struct Block {
    /// Where the `{` is.
    pub open: Pos,
    pub children: Vec<Node>,
}

impl Node {
    pub fn keyword(&self) -> &str {
        self.stmt.keyword()
    }

    pub fn at(&self) -> &Pos {
        self.stmt.at()
    }
}

/// An open block: the statement that owns it (None for a stray `{`), and its children.
struct Frame {
    owner: Option<Statement>,
    open: Pos,
    children: Vec<Node>,
}

/// Adds a finished node to the innermost open block, or to the top level.
fn push(top: &mut Vec<Node>, stack: &mut [Frame], node: Node) {
    match stack.last_mut() {
        Some(frame) => frame.children.push(node),
        None => top.push(node),
    }
}

/// Builds the tree. Iterative, so depth costs no stack.
pub(crate) fn build(items: Vec<Item>, sink: &mut Sink) -> Vec<Node> {
    let mut top: Vec<Node> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    // Blocks opened beyond MAX_DEPTH, only counted so their braces still balance.
    let mut dropped_depth = 0usize;
    // A statement waiting to see whether a `{` follows.
    let mut pending: Option<Statement> = None;

    for item in items {
        match item {
            Item::Stmt(stmt) => {
                if dropped_depth > 0 {
                    continue;
                }
                if let Some(prev) = pending.replace(stmt) {
                    push(
                        &mut top,
                        &mut stack,
                        Node {
                            stmt: prev,
                            block: None,
                        },
                    );
                }
            }
            Item::Open(pos) => {
                if dropped_depth > 0 || stack.len() >= MAX_DEPTH {
                    if dropped_depth == 0 {
                        sink.error_at(
                            &pos,
                            format!("blocks nested deeper than {MAX_DEPTH} levels; this block is ignored"),
                        );
                        if let Some(prev) = pending.take() {
                            push(
                                &mut top,
                                &mut stack,
                                Node {
                                    stmt: prev,
                                    block: None,
                                },
                            );
                        }
                    }
                    dropped_depth += 1;
                    continue;
                }
                let owner = pending.take();
                if owner.is_none() {
                    sink.error_at(
                        &pos,
                        "unexpected '{': expected a keyword before it; block ignored",
                    );
                }
                stack.push(Frame {
                    owner,
                    open: pos,
                    children: Vec::new(),
                });
            }
            Item::Close(pos) => {
                if dropped_depth > 0 {
                    dropped_depth -= 1;
                    continue;
                }
                if let Some(prev) = pending.take() {
                    push(
                        &mut top,
                        &mut stack,
                        Node {
                            stmt: prev,
                            block: None,
                        },
                    );
                }
                match stack.pop() {
                    Some(mut frame) => {
                        // All blocks live until the parse is done: no spare room.
                        frame.children.shrink_to_fit();
                        if let Some(owner) = frame.owner {
                            let block = Block {
                                open: frame.open,
                                children: frame.children,
                            };
                            push(
                                &mut top,
                                &mut stack,
                                Node {
                                    stmt: owner,
                                    block: Some(block),
                                },
                            );
                        }
                    }
                    None => sink.error_at(&pos, "unexpected '}': no block is open here"),
                }
            }
        }
    }
    if let Some(prev) = pending.take() {
        push(
            &mut top,
            &mut stack,
            Node {
                stmt: prev,
                block: None,
            },
        );
    }
    // Close what is still open at the end of input, innermost first.
    while let Some(frame) = stack.pop() {
        match &frame.owner {
            Some(owner) => sink.error(
                owner.at(),
                format!("missing '}}': the block of '{}' is never closed", owner.keyword()),
            ),
            None => sink.error_at(&frame.open, "missing '}': this block is never closed"),
        }
        if let Some(owner) = frame.owner {
            let block = Block {
                open: frame.open,
                children: frame.children,
            };
            push(
                &mut top,
                &mut stack,
                Node {
                    stmt: owner,
                    block: Some(block),
                },
            );
        }
    }
    top
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{lexer::lex, source::MemSource};

    fn tree(text: &str) -> (String, Vec<String>) {
        let mut sink = Sink::default();
        let items = lex(
            &MemSource::new().with("/t.conf", text),
            Path::new("/t.conf"),
            &mut sink,
        );
        let nodes = build(items, &mut sink);
        let mut out = String::new();
        render(&nodes, &mut out);
        (out, sink.finish().iter().map(ToString::to_string).collect())
    }

    fn render(nodes: &[Node], out: &mut String) {
        for (i, node) in nodes.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(node.keyword());
            if let Some(block) = &node.block {
                out.push('{');
                render(&block.children, out);
                out.push('}');
            }
        }
    }

    #[test]
    fn nested_blocks() {
        let (t, d) = tree("a {\n b {\n c 1\n }\n d\n}\ne\n");
        assert_eq!(t, "a{b{c} d} e");
        assert!(d.is_empty());
    }

    #[test]
    fn empty_block() {
        assert_eq!(tree("a {}\n").0, "a{}");
    }

    #[test]
    fn extra_close_is_an_error() {
        let (t, d) = tree("a 1\n}\nb 2\n");
        assert_eq!(t, "a b");
        assert_eq!(d, ["/t.conf:2:1: error: unexpected '}': no block is open here"]);
    }

    #[test]
    fn unclosed_block_is_an_error_at_its_keyword() {
        let (t, d) = tree("x 1\nvrrp_instance V {\n state MASTER\n");
        assert_eq!(t, "x vrrp_instance{state}");
        assert_eq!(
            d,
            ["/t.conf:2: error: missing '}': the block of 'vrrp_instance' is never closed"]
        );
    }

    #[test]
    fn stray_open_is_an_error() {
        let (t, d) = tree("a {\n}\n{\nb\n}\n");
        assert_eq!(t, "a{}");
        assert_eq!(
            d,
            ["/t.conf:3:1: error: unexpected '{': expected a keyword before it; block ignored"]
        );
    }

    #[test]
    fn very_deep_nesting_is_bounded_without_recursion() {
        let text = "k {\n".repeat(100_000) + &"}\n".repeat(100_000) + "after 1\n";
        let (t, d) = tree(&text);
        assert!(t.ends_with(" after"), "{}", &t[t.len() - 40..]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].contains("nested deeper than"));
    }
}
