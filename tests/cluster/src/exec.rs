//! The exec bridge: connects one negotiated [`ExecStreams`] to a process in a container,
//! through the cluster's link shaping, and records the stream in the registry the control
//! interface reads (counters, subprotocol) and can abort.
//!
//! As on a real cluster, a dropped exec stream does not kill the process it started: its
//! stdin is closed and its output is drained and discarded until it exits by itself or
//! its container dies.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::debug;

use crate::runtime::{ExecConfig, Runtime};
use crate::status::{exec_exit_status, exec_internal_error};
use crate::streams::{Chunk, ExecStreams};

/// Link shaping applied to every exec stream's payload, in each direction.
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Shaping {
    /// Added one-way delay, milliseconds (so a round trip costs twice this).
    #[serde(default)]
    pub latency_ms: u64,
    /// Bandwidth cap per direction per stream, bytes per second; 0 = unlimited.
    #[serde(default)]
    pub bandwidth_bytes_per_sec: u64,
}

/// One exec stream as the control interface reports it.
#[derive(Debug, Serialize)]
pub struct StreamRecord {
    pub id: u64,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub command: Vec<String>,
    /// The negotiated subprotocol, e.g. `v5.channel.k8s.io`.
    pub protocol: String,
    /// `websocket` or `spdy`.
    pub transport: &'static str,
    #[serde(with = "epoch_ms")]
    pub started: SystemTime,
    pub stdin_bytes: AtomicU64,
    pub stdout_bytes: AtomicU64,
    pub stderr_bytes: AtomicU64,
    /// The client connection is still open.
    pub open: AtomicBool,
    pub exit_code: Mutex<Option<i32>>,
    #[serde(skip)]
    abort: mpsc::Sender<()>,
}

mod epoch_ms {
    use std::time::SystemTime;
    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        s.serialize_u64(ms)
    }
}

/// The cluster's record of exec streams (the most recent 1000).
#[derive(Default)]
pub struct StreamRegistry {
    next: AtomicU64,
    records: Mutex<Vec<Arc<StreamRecord>>>,
}

impl StreamRegistry {
    pub fn list(&self) -> Vec<Arc<StreamRecord>> {
        self.records.lock().unwrap().clone()
    }

    /// Tears down every open stream into `pod` at once; returns how many.
    pub fn drop_pod_streams(&self, namespace: &str, pod: &str) -> usize {
        let records = self.records.lock().unwrap();
        let mut n = 0;
        for r in records.iter() {
            if r.namespace == namespace && r.pod == pod && r.open.load(Ordering::SeqCst) {
                let _ = r.abort.try_send(());
                n += 1;
            }
        }
        n
    }

    fn add(&self, mut record: StreamRecord) -> Arc<StreamRecord> {
        record.id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let record = Arc::new(record);
        let mut records = self.records.lock().unwrap();
        if records.len() >= 1000 {
            records.remove(0);
        }
        records.push(record.clone());
        record
    }
}

/// Where an exec goes.
pub struct ExecTarget {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub runtime_id: String,
    pub command: Vec<String>,
}

/// Runs the exec to completion (or until the client is gone and the process has ended).
pub async fn bridge(
    runtime: Runtime,
    registry: Arc<StreamRegistry>,
    shaping: Arc<RwLock<Shaping>>,
    target: ExecTarget,
    streams: ExecStreams,
) {
    let ExecStreams {
        protocol,
        transport,
        flags,
        stdin,
        stdout,
        stderr,
        finish,
        dropped,
        abort,
    } = streams;
    let record = registry.add(StreamRecord {
        id: 0,
        namespace: target.namespace.clone(),
        pod: target.pod.clone(),
        container: target.container.clone(),
        command: target.command.clone(),
        protocol,
        transport,
        started: SystemTime::now(),
        stdin_bytes: AtomicU64::new(0),
        stdout_bytes: AtomicU64::new(0),
        stderr_bytes: AtomicU64::new(0),
        open: AtomicBool::new(true),
        exit_code: Mutex::new(None),
        abort,
    });
    {
        let record = record.clone();
        tokio::spawn(async move {
            let _ = dropped.await;
            record.open.store(false, Ordering::SeqCst);
        });
    }

    let cfg = ExecConfig {
        command: target.command.clone(),
        user: None,
        env: Vec::new(),
        working_dir: None,
    };
    let mut child = match runtime.exec(&target.runtime_id, &cfg) {
        Ok(c) => c,
        Err(e) => {
            let status = exec_internal_error(&format!("failed to exec in container: {e:#}"));
            let _ = finish.send(serde_json::to_vec(&status).unwrap());
            return;
        }
    };

    // stdin: client → (shaped) → process.
    let child_stdin = child.stdin.take();
    let stdin_task = match (flags.stdin, stdin, child_stdin) {
        (true, Some(rx), Some(mut w)) => {
            let shaped = shape(rx, shaping.clone(), record.clone(), Counter::Stdin);
            Some(tokio::spawn(async move {
                let mut shaped = shaped;
                while let Some(chunk) = shaped.recv().await {
                    if w.write_all(&chunk).await.is_err() {
                        break;
                    }
                    let _ = w.flush().await;
                }
                // Dropping `w` closes the process's stdin.
            }))
        }
        _ => None,
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stdout_for_tty = stdout.clone();
    let out_task = pump_output(
        child.stdout.take(),
        stdout,
        shaping.clone(),
        record.clone(),
        Counter::Stdout,
        stop_rx.clone(),
    );
    // With a tty the client opens no stderr stream: a terminal shows both on one screen.
    // (ferry-cluster allocates no pseudo-terminal; the process sees pipes.)
    let stderr = if flags.tty && stderr.is_none() {
        stdout_for_tty
    } else {
        stderr
    };
    let err_task = pump_output(
        child.stderr.take(),
        stderr,
        shaping.clone(),
        record.clone(),
        Counter::Stderr,
        stop_rx,
    );

    let status = child.wait().await;
    let code = match status {
        Ok(s) => s.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&s).unwrap_or(0)
        }),
        Err(_) => 1,
    };
    *record.exit_code.lock().unwrap() = Some(code);
    // Output written just before exit is still in the pipes: read on until end of file,
    // but at most 2 s more (background processes may hold the pipes open), then deliver
    // everything read — through shaping, however long that takes.
    let stop_reading = stop_tx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = stop_reading.send(true);
    });
    let _ = out_task.await;
    let _ = err_task.await;
    if let Some(t) = stdin_task {
        t.abort();
    }
    debug!(pod = %target.pod, code, "exec finished");
    let status = exec_exit_status(code, &target.command);
    let _ = finish.send(serde_json::to_vec(&status).unwrap());
}

#[derive(Clone, Copy)]
enum Counter {
    Stdin,
    Stdout,
    Stderr,
}

impl Counter {
    fn add(self, r: &StreamRecord, n: usize) {
        let c = match self {
            Counter::Stdin => &r.stdin_bytes,
            Counter::Stdout => &r.stdout_bytes,
            Counter::Stderr => &r.stderr_bytes,
        };
        c.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Reads a process's output and forwards it through shaping to the client; after the
/// client is gone it keeps reading (and discarding) so the process never blocks or dies
/// on a full pipe. Reading ends at end of file or when `stop` turns true; the task ends
/// once everything read was delivered.
fn pump_output(
    reader: Option<impl AsyncRead + Unpin + Send + 'static>,
    to_client: Option<mpsc::Sender<Chunk>>,
    shaping: Arc<RwLock<Shaping>>,
    record: Arc<StreamRecord>,
    counter: Counter,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut reader) = reader else { return };
        let (raw_tx, raw_rx) = mpsc::channel::<Chunk>(16);
        let mut shaped = shape(raw_rx, shaping, record.clone(), counter);
        let forward = tokio::spawn(async move {
            let mut client = to_client;
            while let Some(chunk) = shaped.recv().await {
                if let Some(c) = &client {
                    if c.send(chunk).await.is_err() {
                        client = None;
                    }
                }
            }
        });
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let read = tokio::select! {
                r = reader.read(&mut buf) => r,
                _ = stop.wait_for(|s| *s) => break,
            };
            match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !record.open.load(Ordering::SeqCst) {
                        continue; // client gone: discard
                    }
                    if raw_tx.send(buf[..n].to_vec()).await.is_err() {
                        continue;
                    }
                }
            }
        }
        drop(raw_tx);
        let _ = forward.await;
    })
}

/// A shaped link: chunks come out after the configured one-way delay, paced to the
/// bandwidth cap, in order. Counts bytes as they enter.
fn shape(
    mut input: mpsc::Receiver<Chunk>,
    shaping: Arc<RwLock<Shaping>>,
    record: Arc<StreamRecord>,
    counter: Counter,
) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let (timed_tx, mut timed_rx) = mpsc::channel::<(Instant, Chunk)>(64);
    tokio::spawn(async move {
        let mut next_free = Instant::now();
        while let Some(chunk) = input.recv().await {
            counter.add(&record, chunk.len());
            let s = *shaping.read().unwrap();
            let now = Instant::now();
            let start = next_free.max(now);
            let serialize = if s.bandwidth_bytes_per_sec > 0 {
                Duration::from_secs_f64(chunk.len() as f64 / s.bandwidth_bytes_per_sec as f64)
            } else {
                Duration::ZERO
            };
            next_free = start + serialize;
            let deliver = next_free + Duration::from_millis(s.latency_ms);
            if timed_tx.send((deliver, chunk)).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some((at, chunk)) = timed_rx.recv().await {
            if at > Instant::now() {
                tokio::time::sleep_until(at.into()).await;
            }
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    rx
}
