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

/// Builds the tree item by item and hands each top-level node to the caller once it is
/// complete (a statement without a block when the next item shows none follows), so the
/// whole configuration never exists as a tree (start-up's peak: at 4000 instances the tree
/// and the parse's drafts together were most of it). Iterative, so depth costs no stack.
#[derive(Default)]
pub(crate) struct Builder {
    stack: Vec<Frame>,
    /// Blocks opened beyond MAX_DEPTH, only counted so their braces still balance.
    dropped_depth: usize,
    /// A statement waiting to see whether a `{` follows.
    pending: Option<Statement>,
}

impl Builder {
    /// Takes one item; `out` receives the top-level nodes it completes.
    pub fn feed(&mut self, item: Item, sink: &mut Sink, out: &mut impl FnMut(Node, &mut Sink)) {
        match item {
            Item::Stmt(stmt) => {
                if self.dropped_depth > 0 {
                    return;
                }
                if let Some(prev) = self.pending.replace(stmt) {
                    self.push(leaf(prev), sink, out);
                }
            }
            Item::Open(pos) => {
                if self.dropped_depth > 0 || self.stack.len() >= MAX_DEPTH {
                    if self.dropped_depth == 0 {
                        sink.error_at(
                            &pos,
                            format!("blocks nested deeper than {MAX_DEPTH} levels; this block is ignored"),
                        );
                        if let Some(prev) = self.pending.take() {
                            self.push(leaf(prev), sink, out);
                        }
                    }
                    self.dropped_depth += 1;
                    return;
                }
                let owner = self.pending.take();
                if owner.is_none() {
                    sink.error_at(
                        &pos,
                        "unexpected '{': expected a keyword before it; block ignored",
                    );
                }
                self.stack.push(Frame {
                    owner,
                    open: pos,
                    children: Vec::new(),
                });
            }
            Item::Close(pos) => {
                if self.dropped_depth > 0 {
                    self.dropped_depth -= 1;
                    return;
                }
                if let Some(prev) = self.pending.take() {
                    self.push(leaf(prev), sink, out);
                }
                match self.stack.pop() {
                    Some(mut frame) => {
                        // A block lives until its section is read: no spare room.
                        frame.children.shrink_to_fit();
                        if let Some(node) = frame.into_node() {
                            self.push(node, sink, out);
                        }
                    }
                    None => sink.error_at(&pos, "unexpected '}': no block is open here"),
                }
            }
        }
    }

    /// The end of input: what is pending, and what is still open, innermost first.
    pub fn finish(mut self, sink: &mut Sink, out: &mut impl FnMut(Node, &mut Sink)) {
        if let Some(prev) = self.pending.take() {
            self.push(leaf(prev), sink, out);
        }
        while let Some(frame) = self.stack.pop() {
            match &frame.owner {
                Some(owner) => sink.error(
                    owner.at(),
                    format!("missing '}}': the block of '{}' is never closed", owner.keyword()),
                ),
                None => sink.error_at(&frame.open, "missing '}': this block is never closed"),
            }
            if let Some(node) = frame.into_node() {
                self.push(node, sink, out);
            }
        }
    }

    /// Adds a finished node to the innermost open block, or hands it out at the top level.
    fn push(&mut self, node: Node, sink: &mut Sink, out: &mut impl FnMut(Node, &mut Sink)) {
        match self.stack.last_mut() {
            Some(frame) => frame.children.push(node),
            None => out(node, sink),
        }
    }
}

fn leaf(stmt: Statement) -> Node {
    Node { stmt, block: None }
}

impl Frame {
    /// The node of a closed block; None for a stray `{` (reported when it opened).
    fn into_node(self) -> Option<Node> {
        let stmt = self.owner?;
        Some(Node {
            stmt,
            block: Some(Block {
                open: self.open,
                children: self.children,
            }),
        })
    }
}

/// Builds the whole tree at once (tests).
#[cfg(test)]
pub(crate) fn build(items: Vec<Item>, sink: &mut Sink) -> Vec<Node> {
    let mut top = Vec::new();
    let mut builder = Builder::default();
    let mut out = |node, _: &mut Sink| top.push(node);
    for item in items {
        builder.feed(item, sink, &mut out);
    }
    builder.finish(sink, &mut out);
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
