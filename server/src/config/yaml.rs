//! A YAML document tree in which every node knows where it is written.
//!
//! Built from the events of `saphyr-parser`, which carry a start and an end position for
//! every scalar and collection. The tree keeps scalars untyped (their text, style and tag)
//! so that the config reader can resolve types itself, after `${VAR}` substitution, and
//! report a wrong type at the value. Anchors and aliases are expanded (with a size budget
//! against alias bombs), `<<` merge keys are applied, duplicate keys are errors.

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Span as EventSpan, StrInput};

/// A position in the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// 0-based character index in the source text.
    pub index: usize,
}

impl Pos {
    fn from_marker(m: &Marker) -> Pos {
        Pos {
            line: to_u32(m.line()),
            column: to_u32(m.col() + 1),
            index: m.index(),
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A range of source text; `end` is exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Range {
    pub start: Pos,
    pub end: Pos,
}

impl Range {
    fn from_event(span: &EventSpan) -> Range {
        Range {
            start: Pos::from_marker(&span.start),
            end: Pos::from_marker(&span.end),
        }
    }
}

/// How a scalar is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// Unquoted: subject to type resolution (`true`, `12`, `null`, …).
    Plain,
    /// Single- or double-quoted, or a block scalar (`|`, `>`): always a string.
    Quoted,
}

/// The content of a node.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A scalar with its (unescaped) text, style and tag (e.g. `!!str`), if any.
    Scalar {
        text: String,
        style: Style,
        tag: Option<String>,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order (merge-key entries appended after explicit ones).
    Map(Vec<(Node, Node)>),
}

/// A YAML node with its source range.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub range: Range,
    pub kind: Kind,
}

/// A parse failure: a YAML syntax (or structure) error at a position.
#[derive(Clone, Debug)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// The result of parsing a YAML text.
#[derive(Debug)]
pub(crate) struct Document {
    /// The first document's root; `None` for an empty stream.
    pub root: Option<Node>,
    /// Where further documents (after `---`) start; they are not read.
    pub ignored_documents: Vec<Range>,
}

/// Limit on the number of nodes the expanded tree may have (aliases copy subtrees).
const NODE_BUDGET: usize = 200_000;

/// Parses `text`; the first document becomes the tree.
pub(crate) fn parse(text: &str) -> Result<Document, SyntaxError> {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
    };
    let mut root = None;
    let mut ignored_documents = Vec::new();
    let mut documents = 0usize;
    loop {
        let (event, span) = builder.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                builder.anchors.clear();
                let (event, span2) = builder.next()?;
                let node = match event {
                    Event::DocumentEnd => None,
                    other => Some(builder.node(other, span2)?),
                };
                if documents == 1 {
                    root = node;
                } else if node.is_some() {
                    ignored_documents.push(Range::from_event(&span));
                }
            }
            other => {
                return Err(SyntaxError {
                    pos: Pos::from_marker(&span.start),
                    message: format!("unexpected YAML event {other:?}"),
                });
            }
        }
    }
    Ok(Document {
        root,
        ignored_documents,
    })
}

struct Builder<'a> {
    parser: Parser<'a, StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, EventSpan), SyntaxError> {
        match self.parser.next_event() {
            Some(Ok(pair)) => Ok(pair),
            Some(Err(e)) => Err(scan_error(&e)),
            None => Ok((Event::StreamEnd, EventSpan::default())),
        }
    }

    fn count(&mut self, n: usize, at: Pos) -> Result<(), SyntaxError> {
        self.nodes += n;
        if self.nodes > NODE_BUDGET {
            return Err(SyntaxError {
                pos: at,
                message: format!(
                    "the document expands to more than {NODE_BUDGET} nodes (too many aliases)"
                ),
            });
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: EventSpan) -> Result<Node, SyntaxError> {
        let range = Range::from_event(&span);
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, range.start)?;
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    _ => Style::Quoted,
                };
                let node = Node {
                    range,
                    kind: Kind::Scalar {
                        text: text.into_owned(),
                        style,
                        tag: tag.map(|t| format!("{}{}", t.handle, t.suffix)),
                    },
                };
                (node, anchor)
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id).cloned() else {
                    return Err(SyntaxError {
                        pos: range.start,
                        message: "alias to an unknown anchor".to_string(),
                    });
                };
                self.count(size(&target), range.start)?;
                return Ok(target);
            }
            Event::SequenceStart(anchor, _tag) => {
                self.count(1, range.start)?;
                let mut items = Vec::new();
                let end = loop {
                    let (event, span) = self.next()?;
                    if let Event::SequenceEnd = event {
                        break Range::from_event(&span).end;
                    }
                    items.push(self.node(event, span)?);
                };
                let node = Node {
                    range: Range {
                        start: range.start,
                        end: end_of(&items, end),
                    },
                    kind: Kind::Seq(items),
                };
                (node, anchor)
            }
            Event::MappingStart(anchor, _tag) => {
                self.count(1, range.start)?;
                let mut entries: Vec<(Node, Node)> = Vec::new();
                let mut merges: Vec<Node> = Vec::new();
                let end = loop {
                    let (event, span) = self.next()?;
                    if let Event::MappingEnd = event {
                        break Range::from_event(&span).end;
                    }
                    let key = self.node(event, span)?;
                    let (event, span) = self.next()?;
                    let value = self.node(event, span)?;
                    if key.is_merge_key() {
                        merges.push(value);
                        continue;
                    }
                    if let Some(text) = key.key_text() {
                        if let Some((first, _)) = entries
                            .iter()
                            .find(|(k, _)| k.key_text().as_deref() == Some(text.as_str()))
                        {
                            return Err(SyntaxError {
                                pos: key.range.start,
                                message: format!(
                                    "duplicate key `{text}` (first defined at line {})",
                                    first.range.start.line
                                ),
                            });
                        }
                    }
                    entries.push((key, value));
                };
                for merge in merges {
                    merge_into(&mut entries, merge)?;
                }
                let last_value: Vec<Node> =
                    entries.last().map(|(_, v)| v.clone()).into_iter().collect();
                let node = Node {
                    range: Range {
                        start: range.start,
                        end: end_of(&last_value, end),
                    },
                    kind: Kind::Map(entries),
                };
                (node, anchor)
            }
            other => {
                return Err(SyntaxError {
                    pos: range.start,
                    message: format!("unexpected YAML event {other:?}"),
                });
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

/// A block collection's end event is reported where the next token starts (often the
/// next line); end the range at the last child instead, if that comes first.
fn end_of(children: &[Node], end_event: Pos) -> Pos {
    match children.last() {
        Some(last) if last.range.end.index < end_event.index => {
            // Flow collections end with `]`/`}` right after the last child; keep the
            // bracket in the range when it is on the same line.
            if end_event.line == last.range.end.line {
                end_event
            } else {
                last.range.end
            }
        }
        _ => end_event,
    }
}

/// Applies a `<<` merge: keys of the merged mapping(s) that the mapping does not define
/// explicitly are appended. In a sequence of mappings, earlier ones win.
fn merge_into(entries: &mut Vec<(Node, Node)>, merge: Node) -> Result<(), SyntaxError> {
    let sources = match merge.kind {
        Kind::Map(_) => vec![merge],
        Kind::Seq(items) => items,
        Kind::Scalar { .. } => {
            return Err(SyntaxError {
                pos: merge.range.start,
                message: "the value of a `<<` merge key must be a mapping or a list of mappings"
                    .to_string(),
            });
        }
    };
    for source in sources {
        let Kind::Map(source_entries) = source.kind else {
            return Err(SyntaxError {
                pos: source.range.start,
                message: "the value of a `<<` merge key must be a mapping or a list of mappings"
                    .to_string(),
            });
        };
        for (key, value) in source_entries {
            // Explicit keys and keys of earlier merge sources win.
            let text = key.key_text();
            if !entries.iter().any(|(k, _)| k.key_text() == text) {
                entries.push((key, value));
            }
        }
    }
    Ok(())
}

fn size(node: &Node) -> usize {
    match &node.kind {
        Kind::Scalar { .. } => 1,
        Kind::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Kind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size(k) + size(v))
                .sum::<usize>()
        }
    }
}

fn scan_error(e: &ScanError) -> SyntaxError {
    SyntaxError {
        pos: Pos::from_marker(e.marker()),
        message: e.info().to_string(),
    }
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The text of a scalar mapping key (`None` for a collection used as a key).
    pub fn key_text(&self) -> Option<String> {
        self.scalar().map(str::to_string)
    }

    fn is_merge_key(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, style: Style::Plain, tag: None } if text == "<<")
    }

    /// Whether this is a plain scalar, untagged or with a core-schema tag.
    fn plain(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar {
                text,
                style: Style::Plain,
                tag,
            } if tag.is_none() || tag.as_deref() == Some("!!null") => Some(text),
            _ => None,
        }
    }

    /// `null`, `~`, `Null`, `NULL` or nothing at all (YAML 1.2 core schema), or `!!null`.
    pub fn is_null(&self) -> bool {
        if let Kind::Scalar { tag: Some(tag), .. } = &self.kind {
            return tag == "!!null";
        }
        matches!(self.plain(), Some("" | "~" | "null" | "Null" | "NULL"))
    }

    /// A boolean: `true`/`false` in the core schema's spellings, and — as Go's YAML
    /// decoder does for boolean fields — YAML 1.1's `yes`/`no`/`on`/`off`/`y`/`n`.
    pub fn as_bool(&self) -> Option<bool> {
        self.plain().and_then(parse_bool)
    }

    /// An integer: decimal with an optional sign, `0x…` or `0o…` (core schema).
    pub fn as_int(&self) -> Option<i64> {
        self.plain().and_then(parse_int)
    }

    /// A short description of the node's type, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar { .. } if self.is_null() => "null",
            Kind::Scalar { .. } => match self.plain() {
                Some("true" | "True" | "TRUE" | "false" | "False" | "FALSE") => "a boolean",
                Some(t) if parse_int(t).is_some() || t.parse::<f64>().is_ok() => "a number",
                _ => "a string",
            },
        }
    }
}

/// Parses a boolean as [`Node::as_bool`] does.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            Some(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            Some(false)
        }
        _ => None,
    }
}

/// Parses an integer as [`Node::as_int`] does.
pub(crate) fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().ok()?
    } else {
        return None;
    };
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text).unwrap().root.unwrap()
    }

    fn map(node: &Node) -> &[(Node, Node)] {
        match &node.kind {
            Kind::Map(entries) => entries,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn scalar_positions_are_one_based_and_end_exclusive() {
        let doc = root("a: hello\nlist:\n  - 'x y'\n");
        let entries = map(&doc);
        let (k, v) = &entries[0];
        assert_eq!((k.range.start.line, k.range.start.column), (1, 1));
        assert_eq!((v.range.start.line, v.range.start.column), (1, 4));
        assert_eq!((v.range.end.line, v.range.end.column), (1, 9));
        let Kind::Seq(items) = &entries[1].1.kind else {
            panic!()
        };
        assert_eq!(items[0].scalar(), Some("x y"));
        assert_eq!(
            (items[0].range.start.line, items[0].range.start.column),
            (3, 5)
        );
        assert_eq!(
            (items[0].range.end.line, items[0].range.end.column),
            (3, 10)
        );
    }

    #[test]
    fn block_collection_ends_at_last_child() {
        let doc = root("a:\n  b: 1\n  c: 22\nd: 3\n");
        let a = &map(&doc)[0].1;
        assert_eq!((a.range.start.line, a.range.start.column), (2, 3));
        assert_eq!((a.range.end.line, a.range.end.column), (3, 8));
    }

    #[test]
    fn columns_count_characters() {
        let doc = root("ä: ö\n");
        let (k, v) = &map(&doc)[0];
        assert_eq!(k.range.end.column, 2);
        assert_eq!(v.range.start.column, 4);
    }

    #[test]
    fn duplicate_keys_are_errors_at_the_second_key() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((err.pos.line, err.pos.column), (3, 1));
        assert!(err.message.contains("duplicate key `a`"), "{}", err.message);
        assert!(err.message.contains("line 1"), "{}", err.message);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let doc = root("base: &b\n  x: 1\n  y: 2\nuse:\n  <<: *b\n  y: 3\nagain: *b\n");
        let entries = map(&doc);
        let used = map(&entries[1].1);
        let pairs: Vec<(String, String)> = used
            .iter()
            .map(|(k, v)| (k.key_text().unwrap(), v.scalar().unwrap().to_string()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("y".to_string(), "3".to_string()),
                ("x".to_string(), "1".to_string())
            ]
        );
        assert_eq!(map(&entries[2].1).len(), 2);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("too many aliases"), "{}", err.message);
    }

    #[test]
    fn further_documents_are_reported() {
        let doc = parse("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(doc.ignored_documents.len(), 1);
        assert_eq!(doc.ignored_documents[0].start.line, 2);
    }

    #[test]
    fn empty_text_has_no_root() {
        assert!(parse("").unwrap().root.is_none());
        assert!(parse("# only a comment\n").unwrap().root.is_none());
    }

    #[test]
    fn scalar_types() {
        let doc = root("a: true\nb: 'true'\nc: 12\nd: ~\ne:\nf: 0x1f\ng: yes\nh: 1.5\n");
        let e = map(&doc);
        assert_eq!(e[0].1.as_bool(), Some(true));
        assert_eq!(e[1].1.as_bool(), None);
        assert_eq!(e[1].1.describe(), "a string");
        assert_eq!(e[2].1.as_int(), Some(12));
        assert!(e[3].1.is_null());
        assert!(e[4].1.is_null());
        assert_eq!(e[5].1.as_int(), Some(31));
        assert_eq!(e[6].1.as_bool(), Some(true));
        assert_eq!(e[7].1.describe(), "a number");
    }
}
