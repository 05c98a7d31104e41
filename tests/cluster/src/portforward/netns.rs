//! Connecting to a port on the loopback of a container's network namespace.
//!
//! Every container has its own network namespace with only a loopback interface, so the
//! host cannot reach its ports. A socket belongs to the namespace it was created in for its
//! whole life, whichever thread uses it later: [`connect`] creates and connects the socket
//! on a short-lived thread of its own that first joins the namespace of the container's
//! main process (`setns` on `/proc/PID/ns/net`), then ends, so no thread of the server is
//! ever left in a container's namespace. The connected socket is then used from Tokio as
//! usual. As containerd does, `localhost` means 127.0.0.1, then ::1.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// How long one connection attempt may take (loopback answers at once, or not at all).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `localhost:port` inside the network namespace of process `pid`. The error
/// says what failed, e.g. `IPv4: connect 127.0.0.1:8080: connection refused, IPv6: …`.
pub async fn connect(pid: u32, port: u16) -> Result<tokio::net::TcpStream, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("netns-connect-{pid}"))
        .spawn(move || {
            let _ = tx.send(connect_in_namespace(pid, port));
        })
        .map_err(|e| format!("cannot start a thread to enter the network namespace: {e}"))?;
    let stream = rx
        .await
        .map_err(|_| "the network namespace thread died".to_string())??;
    stream
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpStream::from_std(stream))
        .map_err(|e| format!("cannot use the connection: {}", describe(&e)))
}

/// Runs on a thread of its own that ends right after: joins the namespace, connects.
fn connect_in_namespace(pid: u32, port: u16) -> Result<TcpStream, String> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = File::open(&path).map_err(|e| format!("cannot open {path}: {}", describe(&e)))?;
    // SAFETY: setns(2) on a valid open namespace file; it changes only this thread's
    // network namespace, and this thread ends when the function returns.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        let e = io::Error::last_os_error();
        return Err(format!(
            "cannot enter the network namespace {path}: {}",
            describe(&e)
        ));
    }
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let e4 = match TcpStream::connect_timeout(&v4, CONNECT_TIMEOUT) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    let e6 = match TcpStream::connect_timeout(&v6, CONNECT_TIMEOUT) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    Err(format!(
        "IPv4: connect {v4}: {}, IPv6: connect {v6}: {}",
        describe(&e4),
        describe(&e6)
    ))
}

/// An I/O error as the C library spells it, lower-case and without Rust's
/// ` (os error N)` suffix: `connection refused`, as Kubernetes' messages read.
pub fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_like_the_c_library() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(describe(&refused), "connection refused");
        assert_eq!(describe(&io::Error::other("Plain text")), "plain text");
    }

    #[tokio::test]
    async fn connects_in_our_own_namespace_and_reports_refusal() {
        // Joining a namespace, even our own, needs root (as the whole cluster does).
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        // Our own namespace: a listener on 127.0.0.1 is reachable through /proc/self's.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id();
        let stream = connect(me, port)
            .await
            .expect("connect to our own listener");
        assert_eq!(stream.peer_addr().unwrap().port(), port);
        drop(listener);
        let err = connect(me, port).await.unwrap_err();
        assert!(err.contains("IPv4: connect 127.0.0.1:"), "{err}");
        assert!(err.contains("connection refused"), "{err}");
    }
}
