//! The `path` of a profile patch: DevSpace's selectors (those of yaml-jsonpath, which it
//! uses, its older `key=value` form, and `/a/0/b`), the nodes they select, and the three
//! patch operations on the document tree. Pure.
//!
//! Understood: `a.b.c` (a leading `$` or `$.` is allowed), `a[0]`, `a[*]`, `a.*`,
//! `a['key with dots']`, `a[?(@.name=='x')]` (also `!=`, a number or `true` unquoted,
//! `=~ /regex/`, and `[?(@.field)]` for "has the field"), `a..b` (recursive descent),
//! `a.name=x.b` (DevSpace's legacy filter: items whose `name` is `x`) and `/a/0/b`.

use regex::Regex;

use super::super::yaml::{Kind, Node, Style};

/// A parsed patch path.
#[derive(Debug)]
pub(crate) struct Selector {
    segments: Vec<Segment>,
}

#[derive(Debug)]
enum Segment {
    /// The value of a mapping key.
    Child(String),
    /// A list item.
    Index(usize),
    /// Every value of a mapping, every item of a list.
    Wildcard,
    /// The values (or items) for which the filter holds.
    Filter(Filter),
    /// The inner segment applied to the node and to every node below it.
    Descend(Box<Segment>),
}

#[derive(Debug)]
struct Filter {
    /// The field below the candidate (`@.a.b` → `["a", "b"]`).
    field: Vec<String>,
    test: Test,
}

#[derive(Debug)]
enum Test {
    Exists,
    Eq(String),
    Ne(String),
    Matches(Regex),
}

/// Where a node is: the position of each step (a mapping's entry index or a list index).
pub(crate) type NodePath = Vec<usize>;

impl Selector {
    /// Parses a patch path.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the path is empty".into());
        }
        let segments = if text.starts_with('/') || (text.contains('/') && !text.contains("[?")) {
            slash_path(text)?
        } else {
            Parser { text, pos: 0 }.segments()?
        };
        if segments.is_empty() {
            return Err("the path selects the whole config; name a part of it".into());
        }
        Ok(Selector { segments })
    }

    /// The top-level key the path starts with, if it names one.
    pub fn first_key(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Child(name)) => Some(name),
            _ => None,
        }
    }

    /// The paths of the nodes selected in `root`, in document order, each once.
    pub fn find(&self, root: &Node) -> Vec<NodePath> {
        find_from(root, &self.segments)
    }
}

fn find_from(root: &Node, segments: &[Segment]) -> Vec<NodePath> {
    let mut current: Vec<NodePath> = vec![Vec::new()];
    for segment in segments {
        let mut next: Vec<NodePath> = Vec::new();
        for path in &current {
            let node = node_at(root, path).expect("found paths exist");
            select(node, segment, path, &mut next);
        }
        let mut seen = std::collections::HashSet::new();
        next.retain(|p| seen.insert(p.clone()));
        current = next;
    }
    current
}

fn select(node: &Node, segment: &Segment, at: &NodePath, out: &mut Vec<NodePath>) {
    let child = |i: usize| {
        let mut p = at.clone();
        p.push(i);
        p
    };
    match (segment, &node.kind) {
        (Segment::Child(name), Kind::Map(entries)) => {
            for (i, (k, _)) in entries.iter().enumerate() {
                if k.scalar() == Some(name.as_str()) {
                    out.push(child(i));
                }
            }
        }
        (Segment::Index(n), Kind::Seq(items)) if *n < items.len() => out.push(child(*n)),
        (Segment::Wildcard, Kind::Map(entries)) => out.extend((0..entries.len()).map(child)),
        (Segment::Wildcard, Kind::Seq(items)) => out.extend((0..items.len()).map(child)),
        (Segment::Filter(f), Kind::Map(entries)) => {
            for (i, (_, v)) in entries.iter().enumerate() {
                if f.holds(v) {
                    out.push(child(i));
                }
            }
        }
        (Segment::Filter(f), Kind::Seq(items)) => {
            for (i, v) in items.iter().enumerate() {
                if f.holds(v) {
                    out.push(child(i));
                }
            }
        }
        (Segment::Descend(inner), _) => {
            select(node, inner, at, out);
            let children: Vec<&Node> = match &node.kind {
                Kind::Map(entries) => entries.iter().map(|(_, v)| v).collect(),
                Kind::Seq(items) => items.iter().collect(),
                Kind::Scalar { .. } => Vec::new(),
            };
            for (i, c) in children.into_iter().enumerate() {
                select(c, segment, &child(i), out);
            }
        }
        _ => {}
    }
}

impl Filter {
    fn holds(&self, candidate: &Node) -> bool {
        let mut node = candidate;
        for name in &self.field {
            let Kind::Map(entries) = &node.kind else {
                return false;
            };
            match entries
                .iter()
                .find(|(k, _)| k.scalar() == Some(name.as_str()))
            {
                Some((_, v)) => node = v,
                None => return false,
            }
        }
        let text = node.scalar();
        match &self.test {
            Test::Exists => true,
            Test::Eq(want) => text == Some(want.as_str()),
            Test::Ne(want) => text != Some(want.as_str()),
            Test::Matches(re) => text.is_some_and(|t| re.is_match(t)),
        }
    }
}

/// The node at `path`.
pub(crate) fn node_at<'n>(root: &'n Node, path: &[usize]) -> Option<&'n Node> {
    let mut node = root;
    for &i in path {
        node = match &node.kind {
            Kind::Map(entries) => &entries.get(i)?.1,
            Kind::Seq(items) => items.get(i)?,
            Kind::Scalar { .. } => return None,
        };
    }
    Some(node)
}

fn node_at_mut<'n>(root: &'n mut Node, path: &[usize]) -> Option<&'n mut Node> {
    let mut node = root;
    for &i in path {
        node = match &mut node.kind {
            Kind::Map(entries) => &mut entries.get_mut(i)?.1,
            Kind::Seq(items) => items.get_mut(i)?,
            Kind::Scalar { .. } => return None,
        };
    }
    Some(node)
}

/// `op: replace`: every selected node becomes `value`; nothing selected → [`add`].
pub(crate) fn replace(root: &mut Node, selector: &Selector, value: &Node) -> Result<(), String> {
    let found = selector.find(root);
    if found.is_empty() {
        return add(root, selector, value);
    }
    for path in found {
        *node_at_mut(root, &path).expect("found") = value.clone();
    }
    Ok(())
}

/// `op: remove`: every selected node is removed; nothing selected is no error.
pub(crate) fn remove(root: &mut Node, selector: &Selector) {
    let mut found = selector.find(root);
    // Last first, so that the indices of those still to remove stay right.
    found.sort_by(|a, b| b.cmp(a));
    for path in found {
        let Some((&last, parent)) = path.split_last() else {
            continue;
        };
        match node_at_mut(root, parent).map(|n| &mut n.kind) {
            Some(Kind::Map(entries)) if last < entries.len() => {
                entries.remove(last);
            }
            Some(Kind::Seq(items)) if last < items.len() => {
                items.remove(last);
            }
            _ => {}
        }
    }
}

/// `op: add`: appends `value` to a selected list, adds the keys of a mapping `value` to
/// a selected mapping, or — when nothing is selected — creates the last key of the path
/// (or inserts at its index) in each node its parent path selects.
pub(crate) fn add(root: &mut Node, selector: &Selector, value: &Node) -> Result<(), String> {
    let found = selector.find(root);
    if let Some(first) = found.first() {
        let kind_of = |n: &Node| match n.kind {
            Kind::Seq(_) => 0,
            Kind::Map(_) => 1,
            Kind::Scalar { .. } => 2,
        };
        if kind_of(node_at(root, first).expect("found")) == 2 {
            return Err(
                "it already exists and is not a list or a mapping (use `op: replace`)".into(),
            );
        }
        for path in found {
            let node = node_at_mut(root, &path).expect("found");
            match (&mut node.kind, &value.kind) {
                (Kind::Seq(items), _) => items.push(value.clone()),
                (Kind::Map(entries), Kind::Map(add)) => {
                    for (k, v) in add {
                        match entries.iter_mut().find(|(ek, _)| ek.scalar() == k.scalar()) {
                            Some((_, old)) => *old = v.clone(),
                            None => entries.push((k.clone(), v.clone())),
                        }
                    }
                }
                (Kind::Map(_), _) => {
                    return Err(format!(
                        "it selects a mapping, and {} cannot be added to a mapping (give \
                         a mapping, or use `op: replace`)",
                        value.describe()
                    ))
                }
                (Kind::Scalar { .. }, _) => {
                    return Err("it selects values that are not lists or mappings".into())
                }
            }
        }
        return Ok(());
    }
    let (last, parents) = selector
        .segments
        .split_last()
        .expect("a selector has segments");
    let parent_paths = find_from(root, parents);
    if parent_paths.is_empty() {
        return Err("nothing matches the path, nor the path without its last part".into());
    }
    for path in parent_paths {
        let parent = node_at_mut(root, &path).expect("found");
        if parent.is_null() {
            parent.kind = Kind::Map(Vec::new());
        }
        match (&mut parent.kind, last) {
            (Kind::Map(entries), Segment::Child(name)) => {
                let key = Node {
                    range: value.range,
                    kind: Kind::Scalar {
                        text: name.clone(),
                        style: Style::Plain,
                        tag: None,
                    },
                };
                entries.push((key, value.clone()));
            }
            (Kind::Seq(items), Segment::Index(n)) => {
                let at = (*n).min(items.len());
                items.insert(at, value.clone());
            }
            _ => {
                return Err(
                    "nothing matches it, and its last part cannot be created there (a key \
                     is added to a mapping, an index to a list)"
                        .into(),
                )
            }
        }
    }
    Ok(())
}

/// `/a/0/b`: `/`-separated keys, indices and `*`.
fn slash_path(text: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    for part in text.trim_start_matches('/').split('/') {
        if part.is_empty() {
            return Err("an empty part between two `/`".into());
        }
        out.push(match part {
            "*" => Segment::Wildcard,
            p if p.bytes().all(|b| b.is_ascii_digit()) => {
                Segment::Index(p.parse().map_err(|_| format!("index `{p}` is too large"))?)
            }
            p => Segment::Child(p.to_string()),
        });
    }
    Ok(out)
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Parser<'t> {
    fn rest(&self) -> &'t str {
        &self.text[self.pos..]
    }

    fn segments(mut self) -> Result<Vec<Segment>, String> {
        let mut out = Vec::new();
        if self.rest().starts_with('$') {
            self.pos += 1;
        }
        let mut first = true;
        while !self.rest().is_empty() {
            let rest = self.rest();
            if rest.starts_with("..") {
                self.pos += 2;
                let inner = if self.rest().starts_with('[') {
                    self.bracket()?
                } else {
                    self.name()?
                };
                out.push(Segment::Descend(Box::new(inner)));
            } else if rest.starts_with('.') {
                self.pos += 1;
                out.push(self.name()?);
            } else if rest.starts_with('[') {
                out.push(self.bracket()?);
            } else if first {
                out.push(self.name()?);
            } else {
                return Err(format!(
                    "unexpected `{}`",
                    &rest[..rest.chars().next().map_or(1, char::len_utf8)]
                ));
            }
            first = false;
        }
        Ok(out)
    }

    /// A key up to the next `.` or `[`; `*`; or DevSpace's legacy `key=value` filter.
    fn name(&mut self) -> Result<Segment, String> {
        let rest = self.rest();
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        self.pos += end;
        if name.is_empty() {
            return Err("a key is missing (two dots, or a dot at the end?)".into());
        }
        if name == "*" {
            return Ok(Segment::Wildcard);
        }
        if let Some((field, value)) = name.split_once('=') {
            if field.is_empty() || value.is_empty() || value.starts_with('=') {
                return Err(format!(
                    "`{name}` is neither a key nor a `key=value` filter"
                ));
            }
            return Ok(Segment::Filter(Filter {
                field: vec![field.to_string()],
                test: Test::Eq(value.to_string()),
            }));
        }
        Ok(Segment::Child(name.to_string()))
    }

    /// `[*]`, `[N]`, `['key']`, `["key"]` or `[?(filter)]`.
    fn bracket(&mut self) -> Result<Segment, String> {
        let rest = &self.rest()[1..];
        if let Some(r) = rest.strip_prefix("?(") {
            let end = r
                .find(")]")
                .ok_or_else(|| "a filter `[?(` without its closing `)]`".to_string())?;
            let filter = parse_filter(&r[..end])?;
            self.pos += 1 + 2 + end + 2;
            return Ok(Segment::Filter(filter));
        }
        if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let inner = &rest[1..];
            let end = inner
                .find(q)
                .ok_or_else(|| format!("a quoted key without its closing {q}"))?;
            if !inner[end + 1..].starts_with(']') {
                return Err("a quoted key must be followed by `]`".into());
            }
            self.pos += 1 + 1 + end + 1 + 1;
            return Ok(Segment::Child(inner[..end].to_string()));
        }
        let end = rest
            .find(']')
            .ok_or_else(|| "a `[` without its closing `]`".to_string())?;
        let inside = rest[..end].trim();
        self.pos += 1 + end + 1;
        if inside == "*" {
            return Ok(Segment::Wildcard);
        }
        inside
            .parse::<usize>()
            .map(Segment::Index)
            .map_err(|_| format!("`[{inside}]` is not an index, `*`, a quoted key or a filter"))
    }
}

/// `@.a.b`, `@.a == 'v'`, `@.a != v`, `@.a =~ /re/`.
fn parse_filter(text: &str) -> Result<Filter, String> {
    let text = text.trim();
    let body = text
        .strip_prefix("@.")
        .ok_or_else(|| format!("a filter must start with `@.` (found `{text}`)"))?;
    let op_at = ["==", "!=", "=~"]
        .iter()
        .filter_map(|op| body.find(op).map(|i| (i, *op)))
        .min();
    let (field, test) = match op_at {
        None => (body.trim(), Test::Exists),
        Some((i, op)) => {
            let field = body[..i].trim();
            let value = body[i + 2..].trim();
            let test = match op {
                "=~" => {
                    let re = value
                        .strip_prefix('/')
                        .and_then(|v| v.strip_suffix('/'))
                        .ok_or_else(|| {
                            format!("`=~` needs a /regular expression/ (found `{value}`)")
                        })?;
                    Test::Matches(
                        Regex::new(re).map_err(|e| format!("not a regular expression: {e}"))?,
                    )
                }
                _ => {
                    let v = unquote(value);
                    if op == "==" {
                        Test::Eq(v)
                    } else {
                        Test::Ne(v)
                    }
                }
            };
            (field, test)
        }
    };
    if field.is_empty() || field.split('.').any(str::is_empty) {
        return Err(format!("the filter's field `{field}` is not a dotted key"));
    }
    Ok(Filter {
        field: field.split('.').map(str::to_string).collect(),
        test,
    })
}

fn unquote(value: &str) -> String {
    for q in ['\'', '"'] {
        if let Some(v) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return v.to_string();
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Node {
        crate::config::yaml::parse(text).unwrap().root.unwrap()
    }

    /// The scalars the path selects, as text.
    fn select(text: &str, path: &str) -> Vec<String> {
        let root = tree(text);
        let s = Selector::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        s.find(&root)
            .iter()
            .map(|p| match &node_at(&root, p).unwrap().kind {
                Kind::Scalar { text, .. } => text.clone(),
                Kind::Seq(items) => format!("[{}]", items.len()),
                Kind::Map(entries) => format!("{{{}}}", entries.len()),
            })
            .collect()
    }

    const DOC: &str = "\
a:
  b: [x, y, z]
  c.d: dotted
list:
- {name: one, v: 1, deep: {k: yes}}
- {name: two, v: 2}
- {name: three}
";

    #[test]
    fn every_path_form_selects_what_devspace_selects() {
        assert_eq!(select(DOC, "a.b[1]"), ["y"]);
        assert_eq!(select(DOC, "$.a.b[2]"), ["z"]);
        assert_eq!(select(DOC, "/a/b/0"), ["x"]);
        assert_eq!(select(DOC, "a.b[*]"), ["x", "y", "z"]);
        assert_eq!(select(DOC, "a.*"), ["[3]", "dotted"]);
        assert_eq!(select(DOC, "a['c.d']"), ["dotted"]);
        assert_eq!(select(DOC, "list[?(@.name=='two')].v"), ["2"]);
        assert_eq!(select(DOC, "list[?(@.v == 1)].name"), ["one"]);
        assert_eq!(
            select(DOC, "list[?(@.name != 'two')].name"),
            ["one", "three"]
        );
        assert_eq!(
            select(DOC, "list[?(@.name =~ /^t/)].name"),
            ["two", "three"]
        );
        assert_eq!(select(DOC, "list[?(@.v)].name"), ["one", "two"]);
        assert_eq!(select(DOC, "list[?(@.deep.k=='yes')].name"), ["one"]);
        assert_eq!(select(DOC, "list.name=three"), ["{1}"]);
        assert_eq!(select(DOC, "..name"), ["one", "two", "three"]);
        assert_eq!(select(DOC, "..[?(@.name=='two')].v"), ["2"]);
        assert!(select(DOC, "a.missing").is_empty());
        assert!(select(DOC, "a.b[9]").is_empty());
    }

    #[test]
    fn unreadable_paths_say_why() {
        for (path, why) in [
            ("", "empty"),
            ("$", "whole config"),
            ("a..", "key is missing"),
            ("a[x]", "not an index"),
            ("a[?(@.x=='1'", "closing `)]`"),
            ("a[?(x)]", "must start with `@.`"),
            ("a[?(@.x =~ y)]", "/regular expression/"),
            ("a['k]", "closing '"),
            ("a//b", "empty part"),
            ("a.=x", "neither a key"),
        ] {
            let e = Selector::parse(path).unwrap_err();
            assert!(e.contains(why), "{path:?}: {e}");
        }
    }

    #[test]
    fn operations_change_what_they_select_and_only_that() {
        let mut root = tree(DOC);
        let value = tree("new");
        replace(&mut root, &Selector::parse("list[*].v").unwrap(), &value).unwrap();
        assert_eq!(select_in(&root, "list[*].v"), ["new", "new"]);
        remove(&mut root, &Selector::parse("list[?(@.name=~/o/)]").unwrap());
        assert_eq!(select_in(&root, "list[*].name"), ["three"]);
        add(&mut root, &Selector::parse("a.b").unwrap(), &value).unwrap();
        assert_eq!(select_in(&root, "a.b[*]"), ["x", "y", "z", "new"]);
        add(&mut root, &Selector::parse("a.fresh").unwrap(), &value).unwrap();
        assert_eq!(select_in(&root, "a.fresh"), ["new"]);
        add(&mut root, &Selector::parse("a.b[0]").unwrap(), &value).unwrap_err();
        add(&mut root, &Selector::parse("nothing.here").unwrap(), &value).unwrap_err();
        // A replace of something missing adds it.
        replace(&mut root, &Selector::parse("a.other").unwrap(), &value).unwrap();
        assert_eq!(select_in(&root, "a.other"), ["new"]);
    }

    fn select_in(root: &Node, path: &str) -> Vec<String> {
        Selector::parse(path)
            .unwrap()
            .find(root)
            .iter()
            .filter_map(|p| node_at(root, p).unwrap().scalar().map(str::to_string))
            .collect()
    }
}
