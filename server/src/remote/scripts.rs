//! The shell scripts that run in the container, from the `.sh` files beside this module.
//!
//! A script always travels as an argument (`sh -c "$script" NAME ARGS…`), never through
//! stdin: busybox ash reads its input ahead, and would swallow payload bytes meant for
//! the commands it runs. Stdin belongs to the protocol alone.
//!
//! | file | job |
//! |---|---|
//! | `sweep.sh` | removes `.ferry-tmp-PID…` folders of killed sessions and watchers (never a living process's) |
//! | `common.sh` | reply framing (`say`, `send`, `fail`), reading a payload (`recv`), per-file records |
//! | `probe.sh` | detects the tools once (`probe`), prints them as `key=value` |
//! | `list.sh` | `list`: `find … -exec stat -c` records, newline names flagged |
//! | `put.sh` | `stage` (where uploads are staged: beside the marker), `put` (tar → staging folder → one `mv` per file), `putf` (one file without tar), `land` |
//! | `get.sh` | `get` (tar of the listed paths), `getf` (files without tar) |
//! | `edit.sh` | `rm`, `mkdir`, `mv` |
//! | `sum.sh` | `sum`: sha256 of files (to check racy entries by content) |
//! | `place.sh` | `place` (where the container marker may live), `mark` (read and bump it) |
//! | `loop.sh` | the session: state folder, cleanup traps, hello, the command loop |
//! | `watch_poll.sh` | polling watcher (`find -newer` a marker) |
//! | `watch_inotify.sh` | `inotifywait -m -r` watcher with a guard |
//!
//! Comments and indentation are stripped before sending, so the command line stays
//! short (a Kubernetes exec sends it in the URL).

use std::sync::OnceLock;

const SWEEP: &str = include_str!("scripts/sweep.sh");
const COMMON: &str = include_str!("scripts/common.sh");
const PROBE: &str = include_str!("scripts/probe.sh");
const LIST: &str = include_str!("scripts/list.sh");
const PUT: &str = include_str!("scripts/put.sh");
const GET: &str = include_str!("scripts/get.sh");
const EDIT: &str = include_str!("scripts/edit.sh");
const PLACE: &str = include_str!("scripts/place.sh");
const SUM: &str = include_str!("scripts/sum.sh");
const LOOP: &str = include_str!("scripts/loop.sh");
const WATCH_POLL: &str = include_str!("scripts/watch_poll.sh");
const WATCH_INOTIFY: &str = include_str!("scripts/watch_inotify.sh");

/// The session script: helpers and commands, then the loop.
pub(crate) fn session() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| minify(&[SWEEP, COMMON, PROBE, LIST, PUT, GET, EDIT, PLACE, SUM, LOOP]))
}

/// The polling watcher.
pub(crate) fn watch_poll() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| minify(&[SWEEP, WATCH_POLL]))
}

/// The inotifywait watcher.
pub(crate) fn watch_inotify() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| minify(&[WATCH_INOTIFY]))
}

/// Drops comment lines, blank lines and leading indentation. The scripts are written
/// so that this is safe: no line of a multi-line string starts with `#` or depends on
/// its indentation.
fn minify(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        for line in part.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `argv` for running `script` as `sh -c script name args…`.
pub(crate) fn argv(script: &str, name: &str, args: &[&str]) -> Vec<String> {
    let mut v = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        name.to_string(),
    ];
    v.extend(args.iter().map(|a| a.to_string()));
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn scripts_stay_small() {
        // A Kubernetes exec carries the script in the request URL (Go's API server takes
        // 1 MB of headers; this bound keeps well clear of proxies with small buffers).
        assert!(
            super::session().len() < 16_000,
            "{}",
            super::session().len()
        );
        assert!(!super::session().contains("\n#"));
    }
}
