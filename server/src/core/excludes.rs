//! [`ExcludeSet`]: the three exclude lists of a sync path compiled into gitignore
//! matchers, answering "may this path go up / come down?".
//!
//! # Semantics (the seed's, per direction)
//!
//! - `both` (`excludePaths`): ignored completely — never uploaded, never downloaded,
//!   never deleted on either side.
//! - `upload` (`uploadExcludePaths`): local changes are not uploaded, remote changes are
//!   downloaded.
//! - `download` (`downloadExcludePaths`): local changes are uploaded, remote changes are
//!   not downloaded.
//!
//! Deletions are changes like any other: an upload-excluded local deletion is not carried
//! out in the container (unlike DevSpace, whose `uploadExcludePaths` did not stop remote
//! deletes, devspace#1630), and a download-excluded remote deletion is not carried out
//! locally.
//!
//! # Matching
//!
//! Each list is one gitignore file at the sync root (the `ignore` crate): a pattern
//! with a `/` before its end is anchored at the root (`/build`, `src/gen`), one without
//! matches at any depth (`node_modules/`, `*.log`); a trailing `/` matches directories
//! only; a later `!pattern` re-includes. A path is excluded when it or one of its parent
//! directories is matched, the nearest match deciding — so a negation re-includes a file
//! inside an excluded directory (`**` + `!/app.py` syncs exactly `app.py`, as DevSpace's
//! single-file sync does). A negation in one list does not re-include what another list
//! excludes.
//!
//! # Upload-only subtrees
//!
//! Besides the patterns, a set holds subtrees that only go up ([`ExcludeSet::set_upload_only`]):
//! the local links `symlinks: follow` follows. They are not patterns because they change
//! with every scan (a link made or removed) and must not be re-included by a `!` pattern
//! of the user's: a path at or below one of them is excluded from download whatever the
//! lists say, and the planners' rule that no action crosses an exclude keeps everything
//! the container does there from reaching the local side.

use std::collections::BTreeSet;
use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::path::RelPath;
use crate::config::{Excludes, Pattern, Span};

/// The compiled exclude lists of one sync path.
#[derive(Clone, Debug)]
pub struct ExcludeSet {
    both: Gitignore,
    upload: Gitignore,
    download: Gitignore,
    /// Subtrees excluded from download, each at and below its path (see the module).
    upload_only: BTreeSet<RelPath>,
}

/// A pattern the gitignore compiler rejects (e.g. an unclosed `[` class).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid exclude pattern {pattern:?}: {message}")]
pub struct ExcludeError {
    /// The pattern as written.
    pub pattern: String,
    /// Where it is written (`None` for a built-in pattern).
    pub span: Option<Span>,
    /// What is wrong with it.
    pub message: String,
}

fn compile<'a>(patterns: impl IntoIterator<Item = &'a Pattern>) -> Result<Gitignore, ExcludeError> {
    // Root ".": the `ignore` crate then strips nothing from the relative paths given.
    let mut builder = GitignoreBuilder::new(".");
    for pattern in patterns {
        builder
            .add_line(None, &pattern.text)
            .map_err(|err| ExcludeError {
                pattern: pattern.text.clone(),
                span: pattern.span.clone(),
                message: err.to_string(),
            })?;
    }
    builder.build().map_err(|err| ExcludeError {
        pattern: String::new(),
        span: None,
        message: err.to_string(),
    })
}

impl ExcludeSet {
    /// Compiles a sync path's exclude lists.
    ///
    /// # Errors
    ///
    /// The first pattern that is not valid gitignore syntax.
    pub fn new(excludes: &Excludes) -> Result<ExcludeSet, ExcludeError> {
        Ok(ExcludeSet {
            both: compile(&excludes.both)?,
            upload: compile(&excludes.upload)?,
            download: compile(&excludes.download)?,
            upload_only: BTreeSet::new(),
        })
    }

    /// Compiles lists given as plain pattern texts (built-in patterns, tests).
    ///
    /// # Errors
    ///
    /// As [`ExcludeSet::new`].
    pub fn from_patterns(
        both: &[&str],
        upload: &[&str],
        download: &[&str],
    ) -> Result<ExcludeSet, ExcludeError> {
        let list = |texts: &[&str]| -> Vec<Pattern> {
            texts
                .iter()
                .map(|text| Pattern {
                    text: text.to_string(),
                    span: None,
                })
                .collect()
        };
        ExcludeSet::new(&Excludes {
            both: list(both),
            upload: list(upload),
            download: list(download),
        })
    }

    /// A set that excludes nothing.
    pub fn none() -> ExcludeSet {
        ExcludeSet {
            both: Gitignore::empty(),
            upload: Gitignore::empty(),
            download: Gitignore::empty(),
            upload_only: BTreeSet::new(),
        }
    }

    /// Makes `roots` the subtrees that only go up: each path and everything below it is
    /// excluded from download (replacing the previous ones).
    pub fn set_upload_only(&mut self, roots: impl IntoIterator<Item = RelPath>) {
        self.upload_only = roots.into_iter().collect();
    }

    /// Whether `path` is at or below one of the upload-only subtrees.
    pub fn is_upload_only(&self, path: &RelPath) -> bool {
        !self.upload_only.is_empty()
            && (self.upload_only.contains(path)
                || path.ancestors().any(|a| self.upload_only.contains(&a)))
    }

    /// Whether `path` (a directory when `is_dir`) is excluded in both directions by the
    /// `both` list.
    pub fn excluded(&self, path: &RelPath, is_dir: bool) -> bool {
        matches(&self.both, path, is_dir)
    }

    /// Whether local changes to `path` (new content, creation, deletion) must not be
    /// carried out in the container: `both` or `upload` matches.
    pub fn excluded_from_upload(&self, path: &RelPath, is_dir: bool) -> bool {
        self.excluded(path, is_dir) || matches(&self.upload, path, is_dir)
    }

    /// Whether remote changes to `path` must not be carried out locally: `both` or
    /// `download` matches.
    pub fn excluded_from_download(&self, path: &RelPath, is_dir: bool) -> bool {
        self.excluded(path, is_dir)
            || matches(&self.download, path, is_dir)
            || self.is_upload_only(path)
    }

    /// Whether any list has a `!` pattern. Without one, a scanner may skip the whole
    /// subtree of an excluded directory; with one it must look inside.
    pub fn has_negations(&self) -> bool {
        [&self.both, &self.upload, &self.download]
            .iter()
            .any(|g| g.num_whitelists() > 0)
    }
}

fn matches(matcher: &Gitignore, path: &RelPath, is_dir: bool) -> bool {
    matcher
        .matched_path_or_any_parents(Path::new(path.as_str()), is_dir)
        .is_ignore()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(p: &str) -> RelPath {
        RelPath::new(p).unwrap()
    }

    #[test]
    fn upload_only_subtrees_are_excluded_from_download_whatever_the_patterns_say() {
        let mut ex = ExcludeSet::from_patterns(&[], &[], &["*.log", "!lnk/keep"]).unwrap();
        ex.set_upload_only([rel("lnk"), rel("a/b")]);
        for p in ["lnk", "lnk/keep", "lnk/x/y", "a/b", "a/b/c"] {
            assert!(ex.excluded_from_download(&rel(p), false), "{p}");
            assert!(ex.excluded_from_download(&rel(p), true), "{p}");
            assert!(
                !ex.excluded_from_upload(&rel(p), false),
                "{p} still goes up"
            );
        }
        for p in ["lnkx", "a", "a/bc", "other"] {
            assert!(!ex.excluded_from_download(&rel(p), false), "{p}");
        }
        assert!(ex.excluded_from_download(&rel("x.log"), false));
        ex.set_upload_only([]);
        assert!(!ex.excluded_from_download(&rel("lnk/x"), false));
    }
}
