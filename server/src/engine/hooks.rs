//! `onUpload.exec`: commands run after an upload batch landed, in the container (through
//! the same [`Launcher`] as the session) or locally (`local: true`, in the local sync
//! folder). `onChange` globs (doublestar syntax) limit a hook to batches that uploaded a
//! matching path; `once` runs it once per container.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use tokio::io::AsyncReadExt;

use crate::config::UploadHook;
use crate::core::RelPath;
use crate::remote::Launcher;

/// How long one hook may run.
const HOOK_TIMEOUT: Duration = Duration::from_secs(600);

/// How one hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    /// The hook's name or command, for messages.
    pub label: String,
    /// Exit code (`None`: killed, timed out, or unknown).
    pub code: Option<i32>,
    /// Its output (stdout then stderr), trimmed to the last 4 KiB.
    pub output: String,
    /// Whether a failure must fail the sync (`failOnError`).
    pub fail_on_error: bool,
}

impl HookRun {
    /// Whether it exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// The hooks of one sync path, with their compiled `onChange` globs.
pub struct Hooks {
    hooks: Vec<(UploadHook, Option<GlobSet>)>,
    ran_once: HashSet<usize>,
}

impl Hooks {
    /// Compiles the hooks; a glob that does not compile matches nothing (and is logged).
    pub fn new(hooks: &[UploadHook]) -> Hooks {
        let hooks = hooks
            .iter()
            .map(|h| {
                let set = if h.on_change.is_empty() {
                    None
                } else {
                    let mut b = GlobSetBuilder::new();
                    for g in &h.on_change {
                        match Glob::new(g) {
                            Ok(g) => {
                                b.add(g);
                            }
                            Err(e) => tracing::warn!("onChange pattern {g:?}: {e}"),
                        }
                    }
                    Some(b.build().unwrap_or_else(|_| GlobSet::empty()))
                };
                (h.clone(), set)
            })
            .collect();
        Hooks {
            hooks,
            ran_once: HashSet::new(),
        }
    }

    /// Whether there are hooks at all.
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// A new container: `once` hooks may run again.
    pub fn reset_once(&mut self) {
        self.ran_once.clear();
    }

    /// Runs, in order, every hook that applies to a batch that uploaded `uploaded`.
    pub async fn run(
        &mut self,
        uploaded: &[RelPath],
        launcher: &dyn Launcher,
        local_root: &Path,
    ) -> Vec<HookRun> {
        let mut runs = Vec::new();
        if uploaded.is_empty() {
            return runs;
        }
        for (i, (hook, set)) in self.hooks.iter().enumerate() {
            if hook.once && self.ran_once.contains(&i) {
                continue;
            }
            if let Some(set) = set {
                if !uploaded.iter().any(|p| set.is_match(p.as_str())) {
                    continue;
                }
            }
            let argv: Vec<String> = match &hook.args {
                Some(args) => std::iter::once(hook.command.clone())
                    .chain(args.iter().cloned())
                    .collect(),
                None => vec!["sh".into(), "-c".into(), hook.command.clone()],
            };
            let label = hook.name.clone().unwrap_or_else(|| hook.command.clone());
            let (code, output) = if hook.local {
                run_local(&argv, local_root).await
            } else {
                run_remote(&argv, launcher).await
            };
            self.ran_once.insert(i);
            runs.push(HookRun {
                label,
                code,
                output,
                fail_on_error: hook.fail_on_error,
            });
        }
        runs
    }
}

/// How much of a hook's output is kept (the end of it).
const TAIL_BYTES: usize = 4096;

fn tail(mut bytes: Vec<u8>) -> String {
    if bytes.len() > TAIL_BYTES {
        bytes.drain(..bytes.len() - TAIL_BYTES);
    }
    String::from_utf8_lossy(&bytes).trim().to_string()
}

/// Reads `r` to its end, keeping only the last [`TAIL_BYTES`] (a chatty hook must not
/// grow ferry's memory).
async fn read_tail(r: Option<crate::remote::transport::Output>) -> Vec<u8> {
    let mut keep = Vec::new();
    let Some(mut r) = r else { return keep };
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        keep.extend_from_slice(&buf[..n]);
        if keep.len() > 2 * TAIL_BYTES {
            keep.drain(..keep.len() - TAIL_BYTES);
        }
    }
    keep
}

async fn run_remote(argv: &[String], launcher: &dyn Launcher) -> (Option<i32>, String) {
    let mut p = match launcher.launch(argv.to_vec()).await {
        Ok(p) => p,
        Err(e) => return (None, e.to_string()),
    };
    // The hook reads nothing: its stdin is dropped (a v4 stream cannot close it; the
    // command simply never gets input).
    drop(p.take_stdin());
    let stdout = p.take_stdout();
    let stderr = p.take_stderr();
    let status = p.take_status();
    // Both streams at once: a hook that fills one pipe while ferry waits for the end
    // of the other would block until the timeout.
    let work = async {
        let (out, err) = tokio::join!(read_tail(stdout), read_tail(stderr));
        let code = match status {
            Some(s) => s.await.code,
            None => None,
        };
        (code, out, err)
    };
    match tokio::time::timeout(HOOK_TIMEOUT, work).await {
        Ok((code, mut out, err)) => {
            out.extend_from_slice(&err);
            (code, tail(out))
        }
        Err(_) => (
            None,
            format!("did not finish within {} s", HOOK_TIMEOUT.as_secs()),
        ),
    }
}

async fn run_local(argv: &[String], dir: &Path) -> (Option<i32>, String) {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(HOOK_TIMEOUT, cmd.output()).await {
        Ok(Ok(o)) => {
            let mut out = o.stdout;
            out.extend_from_slice(&o.stderr);
            (o.status.code(), tail(out))
        }
        Ok(Err(e)) => (None, format!("cannot run {:?}: {e}", argv[0])),
        Err(_) => (
            None,
            format!("did not finish within {} s", HOOK_TIMEOUT.as_secs()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(command: &str) -> UploadHook {
        UploadHook {
            name: None,
            command: command.into(),
            args: None,
            fail_on_error: false,
            local: false,
            once: false,
            on_change: Vec::new(),
            span: crate::config::Span::point(Path::new("devspace.yaml"), 1, 1),
        }
    }

    /// A hook that writes 1 MiB to stderr (more than any pipe or exec buffer holds)
    /// finishes in seconds, with the end of its stderr reported; before, ferry read
    /// stdout to its end first and the hook blocked on a full stderr until the 600 s
    /// timeout.
    #[tokio::test]
    async fn a_hook_writing_a_lot_to_stderr_does_not_hang() {
        let mut hooks = Hooks::new(&[hook(
            "i=0; while [ $i -lt 16 ]; do head -c 65536 /dev/zero | tr '\\0' e >&2; \
             i=$((i + 1)); done; echo the-end >&2; echo out-line; exit 3",
        )]);
        let uploaded = [RelPath::new("a").unwrap()];
        let shell = crate::remote::LocalShell::new();
        let t = std::time::Instant::now();
        let runs = tokio::time::timeout(
            Duration::from_secs(20),
            hooks.run(&uploaded, &shell, Path::new("/")),
        )
        .await
        .expect("the hook run hangs");
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert_eq!(runs.len(), 1);
        let r = &runs[0];
        assert_eq!(r.code, Some(3), "{r:?}");
        assert!(r.output.ends_with("the-end"), "{:?}", &r.output);
        assert!(r.output.len() <= TAIL_BYTES);
        assert!(r.output.starts_with("out-line") || r.output.contains('e'));
    }
}
