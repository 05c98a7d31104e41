//! Typed reading of YAML nodes with diagnostics: the shared machinery of the format
//! readers.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::diagnostic::{Diagnostic, Severity, Span};
use super::fields::{Object, Support, Unknown};
use super::vars::{self, Vars};
use super::yaml::{Kind, Node, Pos, Range};

/// The reading context of one config file: where diagnostics go, and the variables.
pub(crate) struct Cx<'a> {
    pub file: &'a Path,
    pub source: &'a str,
    pub diagnostics: Vec<Diagnostic>,
    pub vars: Vars<'a>,
}

impl<'a> Cx<'a> {
    pub fn new(file: &'a Path, source: &'a str, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Cx {
            file,
            source,
            diagnostics: Vec::new(),
            vars: Vars {
                definitions: HashMap::new(),
                env,
                config_name: None,
            },
        }
    }

    /// The public span of a source range of the config file.
    pub fn span(&self, range: &Range) -> Span {
        Span {
            file: self.file.to_path_buf(),
            line: range.start.line,
            column: range.start.column,
            end_line: range.end.line,
            end_column: range.end.column,
        }
    }

    fn push(&mut self, severity: Severity, range: &Range, path: Option<&str>, message: String) {
        let span = self.span(range);
        self.diagnostics.push(Diagnostic {
            severity,
            span,
            message,
            field_path: path.map(str::to_string),
        });
    }

    /// Records an error about the field at `path`, written at `range`.
    pub fn error(&mut self, range: &Range, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, range, Some(path), message.into());
    }

    /// Records a warning about the field at `path`, written at `range`.
    pub fn warn(&mut self, range: &Range, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, range, Some(path), message.into());
    }

    /// Records a diagnostic that is not about one field.
    pub fn report(&mut self, severity: Severity, range: &Range, message: impl Into<String>) {
        self.push(severity, range, None, message.into());
    }

    /// How many errors have been recorded.
    pub fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Checks the keys of `map` against `object`: reports unknown keys (with a
    /// suggestion) as [`Unknown`] says, and warns about unsupported ones. Returns the entries.
    pub fn check_fields<'n>(
        &mut self,
        map: &'n [(Node, Node)],
        path: &str,
        object: &Object,
    ) -> &'n [(Node, Node)] {
        for (key, value) in map {
            let Some(name) = key.scalar() else {
                self.warn(&key.range, path, "a non-text key is not a known field");
                continue;
            };
            let field_path = join(path, name);
            match object.field(name).map(|f| f.support) {
                Some(Support::Read | Support::Skipped(_)) => {}
                Some(Support::Unsupported(why)) => {
                    if !asks_nothing(value) {
                        self.warn(
                            &key.range,
                            &field_path,
                            format!("`{name}` is not supported and has no effect: {why}"),
                        );
                    }
                }
                None => {
                    let hint = suggestion(name, object)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    let location = object.location;
                    match object.unknown {
                        Unknown::Allowed => {}
                        Unknown::Warning => self.warn(
                            &key.range,
                            &field_path,
                            format!("unknown field `{name}` in {location}; it is ignored{hint}"),
                        ),
                        Unknown::Error => self.error(
                            &key.range,
                            &field_path,
                            format!(
                                "unknown field `{name}` in {location}{hint}; nothing is \
                                 synced until it is fixed"
                            ),
                        ),
                    }
                }
            }
        }
        map
    }

    /// The entries of a mapping; `null` counts as empty. Any other type is an error.
    pub fn map<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [(Node, Node)]> {
        match &node.kind {
            Kind::Map(entries) => Some(entries),
            _ if node.is_null() => Some(&[]),
            _ => {
                self.type_error(node, path, "a mapping");
                None
            }
        }
    }

    /// The items of a sequence; `null` counts as empty. Any other type is an error.
    pub fn seq<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.kind {
            Kind::Seq(items) => Some(items),
            _ if node.is_null() => Some(&[]),
            _ => {
                self.type_error(node, path, "a list");
                None
            }
        }
    }

    /// Records "`field` must be X, found Y" at the value.
    pub fn type_error(&mut self, node: &Node, path: &str, expected: &str) {
        let field = last_segment(path);
        self.error(
            &node.range,
            path,
            format!("`{field}` must be {expected}, found {}", node.describe()),
        );
    }

    /// A scalar's text with `${VAR}`s substituted. Numbers and booleans count as their
    /// text. `null` gives `None` without a diagnostic (an absent value); a collection or
    /// an unresolvable variable gives `None` and an error.
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        if node.is_null() {
            return None;
        }
        let Some(text) = node.scalar() else {
            self.type_error(node, path, "a string");
            return None;
        };
        match self.vars.substitute(text) {
            Ok(value) => Some(value),
            Err(unresolved) => {
                let range = self.locate(node, &unresolved.reference);
                self.error(
                    &range,
                    path,
                    format!(
                        "cannot resolve {}: {}",
                        unresolved.reference, unresolved.message
                    ),
                );
                None
            }
        }
    }

    /// A boolean; also accepts the text `true`/`false` (any case) produced by a quoted
    /// value or a variable.
    pub fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        if node.is_null() {
            return None;
        }
        if let Some(b) = node.as_bool() {
            return Some(b);
        }
        if matches!(node.kind, Kind::Scalar { .. }) {
            let text = self.string(node, path)?;
            match text.to_ascii_lowercase().as_str() {
                "true" => return Some(true),
                "false" => return Some(false),
                _ => {}
            }
        }
        self.type_error(node, path, "true or false");
        None
    }

    /// A positive integer; also accepts digits produced by a quoted value or a variable.
    pub fn positive_int(&mut self, node: &Node, path: &str) -> Option<u64> {
        if node.is_null() {
            return None;
        }
        let value = match node.as_int() {
            Some(n) => Some(n),
            None if matches!(node.kind, Kind::Scalar { .. }) => {
                let text = self.string(node, path)?;
                super::yaml::parse_int(text.trim())
            }
            None => None,
        };
        match value {
            Some(n) if n > 0 => Some(n.unsigned_abs()),
            Some(_) => {
                let field = last_segment(path);
                self.error(
                    &node.range,
                    path,
                    format!("`{field}` must be a positive whole number (KiB per second)"),
                );
                None
            }
            None => {
                self.type_error(node, path, "a whole number");
                None
            }
        }
    }

    /// A list of strings with the range of each. `null` is empty.
    pub fn string_list(&mut self, node: &Node, path: &str) -> Vec<(String, Range)> {
        let Some(items) = self.seq(node, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            if !matches!(item.kind, Kind::Scalar { .. }) {
                self.type_error(item, &item_path, "a string");
                continue;
            }
            if let Some(s) = self.string(item, &item_path) {
                out.push((s, item.range));
            }
        }
        out
    }

    /// A mapping of strings to strings (labels). `null` is empty.
    pub fn string_map(&mut self, node: &Node, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(entries) = self.map(node, path) else {
            return out;
        };
        for (key, value) in entries {
            let Some(k) = key.scalar() else {
                self.type_error(key, path, "a mapping of text keys");
                continue;
            };
            let value_path = join(path, k);
            if !matches!(value.kind, Kind::Scalar { .. }) {
                self.type_error(value, &value_path, "a string");
                continue;
            }
            if let Some(v) = self.string(value, &value_path) {
                out.insert(k.to_string(), v);
            }
        }
        out
    }

    /// The source range of `needle` inside the text of `node`, or the node's range if it is
    /// not written literally there (e.g. because of escapes).
    pub fn locate(&self, node: &Node, needle: &str) -> Range {
        let start = node.range.start;
        let byte = |char_index: usize| {
            self.source
                .char_indices()
                .nth(char_index)
                .map_or(self.source.len(), |(b, _)| b)
        };
        let (from, to) = (byte(start.index), byte(node.range.end.index));
        let Some(written) = self.source.get(from..to) else {
            return node.range;
        };
        let Some(offset) = written.find(needle) else {
            return node.range;
        };
        let before = &written[..offset];
        let advance = |mut pos: Pos, text: &str| {
            for c in text.chars() {
                pos.index += 1;
                if c == '\n' {
                    pos.line += 1;
                    pos.column = 1;
                } else {
                    pos.column += 1;
                }
            }
            pos
        };
        let s = advance(start, before);
        let e = advance(s, needle);
        Range { start: s, end: e }
    }
}

/// Parses `text` as YAML into its first document; a syntax error is an error at its
/// position (`None`), each further document a warning that it is ignored.
pub(crate) fn read_document(cx: &mut Cx<'_>, text: &str) -> Option<super::yaml::Document> {
    let document = match super::yaml::parse(text) {
        Ok(document) => document,
        Err(e) => {
            let range = Range {
                start: e.pos,
                end: e.pos,
            };
            cx.report(
                Severity::Error,
                &range,
                format!("YAML syntax error: {}", e.message),
            );
            return None;
        }
    };
    for extra in &document.ignored_documents {
        cx.report(
            Severity::Warning,
            extra,
            "only the first YAML document of the file is read; this one is ignored",
        );
    }
    Some(document)
}

/// Whether a value of an unsupported field asks for nothing (`false`, `null`, empty).
fn asks_nothing(value: &Node) -> bool {
    if value.is_null() || value.as_bool() == Some(false) {
        return true;
    }
    match &value.kind {
        Kind::Seq(items) => items.is_empty(),
        Kind::Map(entries) => entries.is_empty(),
        Kind::Scalar { text, .. } => text.is_empty(),
    }
}

/// `parent.child`, or `child` at the top.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

fn last_segment(path: &str) -> &str {
    let tail = path.rsplit('.').next().unwrap_or(path);
    match tail.find('[') {
        Some(i) if i > 0 => &tail[..i],
        _ => tail,
    }
}

/// The value of key `name` in `map`.
pub(crate) fn get<'n>(map: &'n [(Node, Node)], name: &str) -> Option<&'n Node> {
    entry(map, name).map(|(_, v)| v)
}

/// The key and value of key `name` in `map`.
pub(crate) fn entry<'n>(map: &'n [(Node, Node)], name: &str) -> Option<&'n (Node, Node)> {
    map.iter().find(|(k, _)| k.scalar() == Some(name))
}

/// The known name closest to `name` (case-insensitive equality, or a small edit distance).
pub(crate) fn suggestion(name: &str, object: &Object) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    object
        .fields
        .iter()
        .map(|f| {
            let d = if f.name.to_ascii_lowercase() == lower {
                0
            } else {
                edit_distance(&lower, &f.name.to_ascii_lowercase())
            };
            (d, f.name)
        })
        .filter(|(d, n)| *d <= 2.max(n.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// The closest of `candidates` to `word`, if it is close.
pub(crate) fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Reads the variable definitions of a `vars` section (mapping or list form) into `cx`.
pub(crate) fn read_vars(cx: &mut Cx<'_>, node: &Node) {
    use super::fields::VARIABLE;
    use super::vars::{Definition, Source};

    let mut definitions: Vec<(String, Definition)> = Vec::new();
    let read_definition = |cx: &mut Cx<'_>, fields: &[(Node, Node)], path: &str| {
        cx.check_fields(fields, path, &VARIABLE);
        let mut value = None;
        for key in ["value", "default"] {
            if let Some(v) = get(fields, key) {
                match v.scalar() {
                    Some(text) if !v.is_null() => {
                        value.get_or_insert_with(|| text.to_string());
                    }
                    Some(_) => {}
                    None => cx.type_error(v, &join(path, key), "a scalar"),
                }
            }
        }
        let mut source = Source::All;
        if let Some(s) = get(fields, "source") {
            let text = s.scalar().unwrap_or_default();
            source = match text {
                "" | "all" => Source::All,
                "env" => Source::Env,
                "none" => Source::None,
                "input" => Source::Input,
                "command" => Source::Command,
                other => {
                    cx.error(
                        &s.range,
                        &join(path, "source"),
                        format!(
                            "unknown variable source `{other}`; expected all, env, input, \
                             command or none"
                        ),
                    );
                    Source::All
                }
            };
        }
        let command = ["command", "commands"]
            .iter()
            .any(|k| get(fields, k).is_some_and(|v| !v.is_null()));
        Definition {
            value,
            source,
            command,
        }
    };
    match &node.kind {
        Kind::Map(entries) => {
            for (key, value) in entries {
                let Some(name) = key.scalar() else { continue };
                let path = join("vars", name);
                let definition = match &value.kind {
                    Kind::Map(fields) => read_definition(cx, fields, &path),
                    Kind::Scalar { text, .. } => Definition {
                        value: (!value.is_null()).then(|| text.clone()),
                        source: Source::All,
                        command: false,
                    },
                    Kind::Seq(_) => {
                        cx.type_error(value, &path, "a value or a mapping");
                        continue;
                    }
                };
                definitions.push((name.to_string(), definition));
            }
        }
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("vars[{i}]");
                let Kind::Map(fields) = &item.kind else {
                    cx.type_error(item, &path, "a mapping");
                    continue;
                };
                let Some(name) = get(fields, "name").and_then(Node::scalar) else {
                    cx.error(&item.range, &path, "a variable definition needs a `name`");
                    continue;
                };
                let name = name.to_string();
                let definition = read_definition(cx, fields, &path);
                definitions.push((name, definition));
            }
        }
        _ if node.is_null() => {}
        _ => cx.type_error(node, "vars", "a mapping or a list"),
    }
    cx.vars.definitions.extend(definitions);
}

/// Whether the text is exactly one reference to the current-namespace variable.
pub(crate) fn is_current_namespace_reference(text: &str) -> bool {
    let refs = vars::references(text.trim());
    refs.len() == 1
        && refs[0].0 == 0
        && refs[0].1 == text.trim().len()
        && matches!(
            refs[0].2.as_str(),
            "DEVSPACE_NAMESPACE" | "devspace.namespace"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fields::V2BETA1_SYNC;

    #[test]
    fn suggestions_find_near_misses() {
        assert_eq!(
            suggestion("excludePath", &V2BETA1_SYNC),
            Some("excludePaths")
        );
        assert_eq!(
            suggestion("ExcludePaths", &V2BETA1_SYNC),
            Some("excludePaths")
        );
        assert_eq!(suggestion("initalSync", &V2BETA1_SYNC), Some("initialSync"));
        assert_eq!(suggestion("completelyDifferent", &V2BETA1_SYNC), None);
        assert_eq!(
            closest("preferlocal", &["preferLocal", "mirrorLocal"]),
            Some("preferLocal")
        );
    }

    #[test]
    fn paths() {
        assert_eq!(join("", "dev"), "dev");
        assert_eq!(join("dev", "web"), "dev.web");
        assert_eq!(
            last_segment("dev.web.sync[0].excludePaths[2]"),
            "excludePaths"
        );
        assert_eq!(last_segment("polling"), "polling");
    }

    #[test]
    fn current_namespace_reference() {
        assert!(is_current_namespace_reference("${DEVSPACE_NAMESPACE}"));
        assert!(is_current_namespace_reference(" ${devspace.namespace} "));
        assert!(!is_current_namespace_reference("x-${DEVSPACE_NAMESPACE}"));
    }
}
