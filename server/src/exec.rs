//! Kubernetes exec as a [`Launcher`]: the production transport of [`crate::remote`].
//!
//! [`PodLauncher`] starts each remote process with kube-rs' `Api::<Pod>::exec` (a
//! WebSocket stream; kube-rs offers `v5.channel.k8s.io` and `v4.channel.k8s.io`, the API
//! server picks). kube-rs does not tell which one was negotiated, so the process is
//! marked as unable to close stdin: the remote protocol never needs end-of-file (see
//! [`crate::remote`]), and on v4 closing stdin would close the whole stream.
//!
//! kube-rs buffers 1 KiB per stream by default, which cuts every upload into 1 KiB
//! WebSocket messages; the launcher asks for [`STREAM_BUFFER`] instead.
//!
//! Opening a stream is limited to [`crate::target::API_CALL_TIMEOUT`]. When the
//! connection breaks (a dropped stream, a deleted pod), kube-rs' message loop
//! ends with an error without closing the pipes it hands out, so a reader would wait
//! forever. The launcher watches the loop (`AttachedProcess::join`) and turns its end
//! into end-of-file on stdout and stderr and a broken pipe on stdin. Dropping the
//! process (all its parts) aborts kube-rs' message loop, which closes the connection
//! (and so the process's stdin in the container).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::remote::transport::Output;
use crate::remote::{BoxFuture, ExitStatus, LaunchError, Launcher, RemoteProcess};
use crate::target::{Connection, Resolved};

/// Bytes buffered per exec stream (stdin, stdout, stderr) between ferry and kube-rs.
pub const STREAM_BUFFER: usize = 256 * 1024;

/// Starts processes in one container of one pod through the Kubernetes exec API.
#[derive(Clone)]
pub struct PodLauncher {
    api: Api<Pod>,
    pod: String,
    container: String,
    description: String,
}

impl PodLauncher {
    /// A launcher for the container `resolved` names, over `conn`.
    pub fn new(conn: &Connection, resolved: &Resolved) -> PodLauncher {
        PodLauncher {
            api: Api::namespaced(conn.client.clone(), &resolved.namespace),
            pod: resolved.pod.clone(),
            container: resolved.container.clone(),
            description: format!(
                "pod {} container {} (namespace {})",
                resolved.pod, resolved.container, resolved.namespace
            ),
        }
    }
}

/// The exit status a Kubernetes exec `Status` describes: `Success` is 0; a failure
/// with an `ExitCode` cause carries that code; any other failure carries its message.
pub fn exit_status_from_k8s(status: Option<Status>) -> ExitStatus {
    let Some(status) = status else {
        return ExitStatus {
            code: None,
            message: Some("the exec stream ended without an exit status".into()),
        };
    };
    if status.status.as_deref() == Some("Success") {
        return ExitStatus {
            code: Some(0),
            message: None,
        };
    }
    let code = status.details.as_ref().and_then(|d| {
        d.causes.iter().flatten().find_map(|c| {
            (c.reason.as_deref() == Some("ExitCode"))
                .then(|| c.message.as_deref()?.trim().parse().ok())
                .flatten()
        })
    });
    ExitStatus {
        code,
        message: status.message.filter(|m| !m.is_empty()),
    }
}

impl Launcher for PodLauncher {
    fn launch(&self, argv: Vec<String>) -> BoxFuture<'_, Result<RemoteProcess, LaunchError>> {
        Box::pin(async move {
            let params = AttachParams::default()
                .container(self.container.clone())
                .stdin(true)
                .stdout(true)
                .stderr(true)
                .max_stdin_buf_size(STREAM_BUFFER)
                .max_stdout_buf_size(STREAM_BUFFER)
                .max_stderr_buf_size(STREAM_BUFFER);
            let started = tokio::time::timeout(
                crate::target::API_CALL_TIMEOUT,
                self.api.exec(&self.pod, argv, &params),
            )
            .await
            .map_err(|_| LaunchError {
                target: self.description.clone(),
                message: format!(
                    "the API server did not open the exec stream within {} s; the cluster \
                     or the connection to it stalled",
                    crate::target::API_CALL_TIMEOUT.as_secs()
                ),
            })?;
            let mut attached = started.map_err(|e| LaunchError {
                target: self.description.clone(),
                message: match e {
                    kube::Error::Api(s) => format!(
                        "the API server refused the exec ({}): {}; check that the pod \
                                 is running and that you may `pods/exec` in its namespace",
                        s.code, s.message
                    ),
                    other => format!(
                        "{other}; check that the pod is running and the cluster is \
                                 reachable"
                    ),
                },
            })?;
            let (Some(stdin), Some(stdout), Some(status)) =
                (attached.stdin(), attached.stdout(), attached.take_status())
            else {
                return Err(LaunchError {
                    target: self.description.clone(),
                    message: "kube-rs gave no stdin, stdout or status for the exec".into(),
                });
            };
            let ended = Arc::new(Ended::default());
            let stderr = attached.stderr().map(|e| {
                Box::new(EofWhenEnded {
                    inner: e,
                    ended: ended.clone(),
                }) as Output
            });
            // kube-rs drops the status sender when its message loop ends, whichever
            // way: that is the end of the connection for the pipes, and the status for
            // whoever waits for it.
            let (status_tx, status_rx) = tokio::sync::oneshot::channel();
            let watcher = ended.clone();
            let monitor = crate::logging::spawn_scoped(async move {
                let st = status.await;
                watcher.set();
                let _ = status_tx.send(st);
            });
            let status: BoxFuture<'static, ExitStatus> =
                Box::pin(async move { exit_status_from_k8s(status_rx.await.ok().flatten()) });
            Ok(RemoteProcess::new(
                EofWhenEnded {
                    inner: stdin,
                    ended: ended.clone(),
                },
                EofWhenEnded {
                    inner: stdout,
                    ended,
                },
                stderr,
                status,
                false,
            )
            .keep_alive(ExecConnection { attached, monitor }))
        })
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// Whether kube-rs' message loop for one exec has ended, with the wakers waiting for it.
#[derive(Default)]
struct Ended {
    flag: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Ended {
    fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        for w in self
            .wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            w.wake();
        }
    }

    /// Whether it ended; otherwise `cx` is woken when it does.
    fn check(&self, cx: &Context<'_>) -> bool {
        if self.flag.load(Ordering::SeqCst) {
            return true;
        }
        self.wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(cx.waker().clone());
        self.flag.load(Ordering::SeqCst)
    }
}

/// A pipe end of an exec that reports end-of-file (reading) or a broken pipe (writing)
/// once the connection is gone, after whatever was already received.
struct EofWhenEnded<T> {
    inner: T,
    ended: Arc<Ended>,
}

impl<T: AsyncRead + Unpin> AsyncRead for EofWhenEnded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Pending if self.ended.check(cx) => {
                // Anything the loop wrote before it ended is readable now.
                match Pin::new(&mut self.inner).poll_read(cx, buf) {
                    Poll::Pending => Poll::Ready(Ok(())),
                    ready => ready,
                }
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for EofWhenEnded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.ended.flag.load(Ordering::SeqCst) {
            return Poll::Ready(Err(broken()));
        }
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending if self.ended.check(cx) => Poll::Ready(Err(broken())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn broken() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "the exec stream into the container is gone",
    )
}

/// The exec's connection, held as long as any part of the process is in use. Dropping
/// it drops the `AttachedProcess`, whose `Drop` aborts kube-rs' message loop: the
/// WebSocket and its TCP connection close, and the API server closes the process's
/// stdin, so the scripts end. (Dropping only the pipes would not do: kube-rs sees no
/// end of stdin when its write half is dropped, and `AttachedProcess::join` detaches
/// the loop instead of aborting it — every session or watcher ferry gave up on a live
/// connection stayed connected, and running in the container, until ferry exited.)
struct ExecConnection {
    attached: kube::api::AttachedProcess,
    monitor: tokio::task::JoinHandle<()>,
}

impl Drop for ExecConnection {
    fn drop(&mut self) {
        self.attached.abort();
        self.monitor.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    #[test]
    fn exit_codes_from_status() {
        let ok = Status {
            status: Some("Success".into()),
            ..Default::default()
        };
        assert_eq!(exit_status_from_k8s(Some(ok)).code, Some(0));
        let failed = Status {
            status: Some("Failure".into()),
            message: Some("command terminated with non-zero exit code".into()),
            reason: Some("NonZeroExitCode".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("3".into()),
                    field: None,
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = exit_status_from_k8s(Some(failed));
        assert_eq!(s.code, Some(3));
        assert!(s.message.unwrap().contains("non-zero"));
        let none = exit_status_from_k8s(None);
        assert_eq!(none.code, None);
        assert!(none.message.is_some());
    }
}
