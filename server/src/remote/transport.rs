//! The transport seam: "a process in the container".
//!
//! Everything above this module talks to the container through a [`RemoteProcess`]
//! (its stdin, stdout, stderr and exit status) that a [`Launcher`] starts. Two launchers
//! exist: [`crate::remote::LocalShell`] (a local `sh`, optionally `chroot`ed into a root
//! file system, for fast protocol tests) and the Kubernetes exec launcher of the sync
//! engine, which wraps kube-rs' `AttachedProcess`:
//!
//! ```ignore
//! let mut attached = pods.exec(&pod, argv, &AttachParams::default().stdin(true).stderr(true)).await?;
//! let status = attached.take_status().expect("the status is taken once");
//! let process = RemoteProcess::new(
//!     attached.stdin().expect("stdin was requested"),
//!     attached.stdout().expect("stdout was requested"),
//!     attached.stderr().map(|e| Box::new(e) as Output),
//!     Box::pin(async move { status.await.map(exit_status_from_k8s).unwrap_or_default() }),
//!     negotiated_v5, // whether the stream can close stdin (v5.channel.k8s.io)
//! )
//! .keep_alive(attached);
//! ```
//!
//! When the negotiated subprotocol is unknown, pass `false`: the protocol never needs
//! end-of-file on stdin, only [`crate::remote::Session::close`] skips closing it then.
//!
//! A dropped [`RemoteProcess`] closes the pipes (a dropped exec stream) but does not kill
//! the process, exactly like a real cluster: the scripts end themselves when their stdin
//! ends.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// A boxed future that can move between threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The writing end of a process's stdin.
pub type Stdin = Box<dyn AsyncWrite + Send + Unpin>;

/// The reading end of a process's stdout or stderr.
pub type Output = Box<dyn AsyncRead + Send + Unpin>;

/// How a process in the container ended, as far as the transport can tell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExitStatus {
    /// The exit code, when known (a local process, or a Kubernetes `Status` with an
    /// `ExitCode` cause). `None` when the process was killed by a signal or the
    /// transport could not tell.
    pub code: Option<i32>,
    /// What the transport said about the end (a Kubernetes `Status` message, a signal
    /// name, a broken connection), if anything.
    pub message: Option<String>,
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, "exit code {c} ({m})"),
            (Some(c), None) => write!(f, "exit code {c}"),
            (None, Some(m)) => write!(f, "{m}"),
            (None, None) => write!(f, "unknown exit status"),
        }
    }
}

/// A process running in the container: its three streams, its exit status, and
/// whether its stdin can be closed without dropping the whole stream.
///
/// Build one with [`RemoteProcess::new`]; the session and watcher take the parts they
/// need with the `take_*` methods.
pub struct RemoteProcess {
    stdin: Option<Stdin>,
    stdout: Option<Output>,
    stderr: Option<Output>,
    status: Option<BoxFuture<'static, ExitStatus>>,
    stdin_close: bool,
    keep: Option<Box<dyn Any + Send>>,
}

impl RemoteProcess {
    /// Wraps the parts of a started process. `stdin_close` says whether closing
    /// `stdin` reaches the process as end-of-file while the stream stays up: true for
    /// a local process and for Kubernetes exec over `v5.channel.k8s.io`, false for
    /// `v4.channel.k8s.io` and older (there, the process sees end-of-file only when the
    /// whole stream is dropped). `status` resolves when the process has ended.
    pub fn new(
        stdin: impl AsyncWrite + Send + Unpin + 'static,
        stdout: impl AsyncRead + Send + Unpin + 'static,
        stderr: Option<Output>,
        status: BoxFuture<'static, ExitStatus>,
        stdin_close: bool,
    ) -> RemoteProcess {
        RemoteProcess {
            stdin: Some(Box::new(stdin)),
            stdout: Some(Box::new(stdout)),
            stderr,
            status: Some(status),
            stdin_close,
            keep: None,
        }
    }

    /// Keeps `guard` alive as long as this process's streams are in use (for example
    /// kube-rs' `AttachedProcess`, which owns the connection the streams run over).
    /// It is dropped with the last part of the process.
    pub fn keep_alive(mut self, guard: impl Any + Send) -> RemoteProcess {
        self.keep = Some(Box::new(guard));
        self
    }

    /// Whether closing stdin reaches the process as end-of-file (Kubernetes exec v5,
    /// local processes) or not (exec v4 and older).
    pub fn supports_stdin_close(&self) -> bool {
        self.stdin_close
    }

    /// Takes the stdin writer (once).
    pub fn take_stdin(&mut self) -> Option<Stdin> {
        self.stdin.take()
    }

    /// Takes the stdout reader (once).
    pub fn take_stdout(&mut self) -> Option<Output> {
        self.stdout.take()
    }

    /// Takes the stderr reader (once); `None` if the transport merges or drops stderr.
    pub fn take_stderr(&mut self) -> Option<Output> {
        self.stderr.take()
    }

    /// Takes the exit-status future (once).
    pub fn take_status(&mut self) -> Option<BoxFuture<'static, ExitStatus>> {
        self.status.take()
    }

    /// Takes the keep-alive guard (once), to be held by whoever holds the streams.
    pub fn take_keep_alive(&mut self) -> Option<Box<dyn Any + Send>> {
        self.keep.take()
    }
}

impl fmt::Debug for RemoteProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteProcess")
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("stdin_close", &self.stdin_close)
            .finish()
    }
}

/// Closes `stdin` if the transport can signal end-of-file (see
/// [`RemoteProcess::supports_stdin_close`]); otherwise leaves it open for the caller to
/// drop. Errors are ignored: the process may already be gone.
pub(crate) async fn close_stdin(stdin: &mut Stdin, supported: bool) {
    if supported {
        let _ = stdin.shutdown().await;
    }
}

/// Why a process could not be started in the container.
#[derive(Debug, thiserror::Error)]
#[error("starting a process in {target} failed: {message}")]
pub struct LaunchError {
    /// Where the process was to run (a pod and container, a root file system).
    pub target: String,
    /// What went wrong, with a hint what to do.
    pub message: String,
}

/// Starts processes in one container. The session and the watchers each start one
/// long-lived process through it.
pub trait Launcher: Send + Sync {
    /// Starts `argv` (`argv[0]` is looked up in the container's `PATH`; it is always
    /// `sh` here) with stdin, stdout and stderr attached. Must not kill the process
    /// when the returned [`RemoteProcess`] is dropped.
    fn launch(&self, argv: Vec<String>) -> BoxFuture<'_, Result<RemoteProcess, LaunchError>>;

    /// A short description of the container for messages, e.g. `pod web-0 container app`.
    fn describe(&self) -> String;
}
