//! [`LocalShell`]: a [`Launcher`] that runs the container side as a local process,
//! optionally `chroot`ed into a container root file system and as another user. It is
//! what the protocol tests use: no API server, no runc, the same scripts and tools.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use tokio::process::{ChildStdin, Command};

use super::transport::{BoxFuture, ExitStatus, LaunchError, Launcher, Output, RemoteProcess};

/// The `PATH` the local shell gets (the container default of most images).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs processes locally with `tokio::process`: inside `chroot <rootfs>` when a root
/// file system is set (needs root), as `uid:gid` when a user is set, with a clean
/// environment (`PATH`, `HOME` and what [`LocalShell::env`] adds). A dropped process is
/// not killed: its pipes close, as when an exec stream drops.
#[derive(Debug, Clone, Default)]
pub struct LocalShell {
    rootfs: Option<PathBuf>,
    user: Option<(u32, u32)>,
    v4: bool,
    env: Vec<(String, String)>,
    ignored: Vec<i32>,
}

impl LocalShell {
    /// A shell on this machine, as the current user, whose stdin can be closed (like
    /// exec over `v5.channel.k8s.io`).
    pub fn new() -> LocalShell {
        LocalShell::default()
    }

    /// Runs inside `chroot rootfs` (a container root file system; needs root).
    pub fn chroot(mut self, rootfs: impl AsRef<Path>) -> LocalShell {
        self.rootfs = Some(rootfs.as_ref().to_path_buf());
        self
    }

    /// Runs as `uid:gid` (needs root).
    pub fn user(mut self, uid: u32, gid: u32) -> LocalShell {
        self.user = Some((uid, gid));
        self
    }

    /// Behaves like exec over `v4.channel.k8s.io`: closing stdin does not reach the
    /// process (shutting the writer down only flushes it); only dropping the process's
    /// streams does.
    pub fn protocol_v4(mut self) -> LocalShell {
        self.v4 = true;
        self
    }

    /// Starts processes with `signal` (e.g. `libc::SIGTERM`) ignored, as a process
    /// inherits it from a parent that ignores it (some init systems, CI runners and
    /// wrappers do). A non-interactive shell cannot trap a signal that was ignored on
    /// entry, and every process it starts inherits the disposition: for tests that the
    /// scripts do not rely on signals they may not be able to deliver.
    pub fn ignoring(mut self, signal: i32) -> LocalShell {
        self.ignored.push(signal);
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> LocalShell {
        self.env.push((key.into(), value.into()));
        self
    }

    fn command(&self, argv: &[String]) -> Result<Command, LaunchError> {
        let (first, rest) = argv
            .split_first()
            .ok_or_else(|| self.error("empty command"))?;
        let mut cmd = match &self.rootfs {
            Some(root) => {
                let mut c = Command::new("chroot");
                if let Some((uid, gid)) = self.user {
                    c.arg(format!("--userspec={uid}:{gid}"));
                }
                c.arg(root).arg(first);
                c
            }
            None => {
                let mut c = Command::new(first);
                if let Some((uid, gid)) = self.user {
                    c.uid(uid).gid(gid);
                }
                c
            }
        };
        cmd.args(rest)
            .env_clear()
            .env("PATH", PATH)
            .env(
                "HOME",
                if self.user.is_some_and(|u| u.0 != 0) {
                    "/"
                } else {
                    "/root"
                },
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false);
        if !self.ignored.is_empty() {
            let ignored = self.ignored.clone();
            // SAFETY: only `signal(2)` runs between fork and exec; it is
            // async-signal-safe and allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    for s in &ignored {
                        libc::signal(*s, libc::SIG_IGN);
                    }
                    Ok(())
                });
            }
        }
        Ok(cmd)
    }

    fn error(&self, message: impl Into<String>) -> LaunchError {
        LaunchError {
            target: self.describe(),
            message: message.into(),
        }
    }
}

impl Launcher for LocalShell {
    fn launch(&self, argv: Vec<String>) -> BoxFuture<'_, Result<RemoteProcess, LaunchError>> {
        Box::pin(async move {
            let mut child = self
                .command(&argv)?
                .spawn()
                .map_err(|e| self.error(format!("{e} (is chroot installed, and are you root?)")))?;
            let (Some(stdin), Some(stdout), Some(stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                return Err(self.error("the child's pipes are missing"));
            };
            // Reap the process as soon as it ends, as a container runtime does, whether
            // or not anyone awaits the status (a zombie would still answer `kill -0`).
            let (tx, rx) = tokio::sync::oneshot::channel();
            crate::logging::spawn_scoped(async move {
                let st = match child.wait().await {
                    Ok(s) => ExitStatus {
                        code: s.code(),
                        message: std::os::unix::process::ExitStatusExt::signal(&s)
                            .map(|n| format!("killed by signal {n}")),
                    },
                    Err(e) => ExitStatus {
                        code: None,
                        message: Some(format!("waiting for the process failed: {e}")),
                    },
                };
                let _ = tx.send(st);
            });
            let status = Box::pin(async move { rx.await.unwrap_or_default() });
            let stderr: Output = Box::new(stderr);
            Ok(RemoteProcess::new(
                LocalStdin {
                    inner: Some(stdin),
                    v4: self.v4,
                },
                stdout,
                Some(stderr),
                status,
                !self.v4,
            ))
        })
    }

    fn describe(&self) -> String {
        let mut s = match &self.rootfs {
            Some(r) => format!("local chroot {}", r.display()),
            None => "a local shell".to_string(),
        };
        if let Some((uid, gid)) = self.user {
            s.push_str(&format!(" as {uid}:{gid}"));
        }
        if !self.ignored.is_empty() {
            s.push_str(&format!(" ignoring signals {:?}", self.ignored));
        }
        s
    }
}

/// A child's stdin. Shutting it down closes the pipe (tokio's `ChildStdin` only closes
/// on drop, so the writer is dropped here), except in v4 mode, where it only flushes:
/// the end-of-file reaches the process only when the writer itself is dropped.
struct LocalStdin {
    inner: Option<ChildStdin>,
    v4: bool,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "stdin was closed")
}

impl AsyncWrite for LocalStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.inner.as_mut() {
            Some(w) => Pin::new(w).poll_write(cx, buf),
            None => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(w) => Pin::new(w).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(w) = self.inner.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        match Pin::new(w).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                if !self.v4 {
                    self.inner = None;
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}
