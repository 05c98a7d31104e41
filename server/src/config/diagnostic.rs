//! Positions, diagnostics and the error type of the config loader.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A range of text in a file: where a config entry, value or exclude pattern is written.
///
/// Lines and columns are 1-based. Columns count Unicode scalar values (characters), not
/// bytes and not UTF-16 code units: a front end that speaks LSP's default UTF-16 positions
/// converts them (for ASCII text they are the same). The end is exclusive: it is the
/// position just after the last character of the range, as in an LSP `Range`. A range may
/// be empty (`end == start`), e.g. at the end of a file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    /// The file the range is in: the config file, or an `excludeFile`.
    pub file: PathBuf,
    /// Line of the first character (1-based).
    pub line: u32,
    /// Column of the first character (1-based, in characters).
    pub column: u32,
    /// Line of the end position (1-based).
    pub end_line: u32,
    /// Column just after the last character (1-based, in characters, exclusive).
    pub end_column: u32,
}

impl Span {
    /// An empty span at `line:column` of `file`.
    pub fn point(file: &Path, line: u32, column: u32) -> Span {
        Span {
            file: file.to_path_buf(),
            line,
            column,
            end_line: line,
            end_column: column,
        }
    }
}

impl fmt::Display for Span {
    /// `file:line:column`, the form editors and terminals turn into links.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// How bad a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// The config cannot be used: nothing is synced until it is fixed.
    Error,
    /// The config is used, but something in it has no effect or may not do what was meant
    /// (an unknown or unsupported field, for example).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding about a config file, with the place it is about.
///
/// `Display` renders it as `file:line:column: severity: message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where: the offending value, key or entry.
    pub span: Span,
    /// What is wrong, in one sentence, naming the field when there is one.
    pub message: String,
    /// The path of the field in the YAML document, e.g. `dev.web.sync[0].excludePaths[2]`,
    /// when the finding is about a field (not, e.g., about a YAML syntax error).
    pub field_path: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.span, self.severity, self.message)
    }
}

/// A config that cannot be used. Carries every diagnostic found in the file, errors and
/// warnings (at least one of them an error), sorted by position, so that a front end can
/// show all of them at once.
///
/// `Display` renders one diagnostic per line (`file:line:column: severity: message`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_lines(.diagnostics))]
pub struct ConfigError {
    /// All findings, sorted by file and position; at least one has [`Severity::Error`].
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    /// The diagnostics with [`Severity::Error`].
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
}

fn render_lines(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// Sorts diagnostics by file, position, then errors before warnings; stable otherwise.
pub(crate) fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (&a.span.file, a.span.line, a.span.column, a.severity).cmp(&(
            &b.span.file,
            b.span.line,
            b.span.column,
            b.severity,
        ))
    });
}
