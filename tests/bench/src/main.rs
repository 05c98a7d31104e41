//! `ferry-bench`: ferry against its peers in one run, on a local ferry-cluster it starts
//! itself. Today: the initial sync of a generated source-like tree into a busybox pod by
//! `ferry sync --once`, by `kubectl cp` and by a tar pipe over `kubectl exec` (what
//! Skaffold and Tilt do), on loopback and on a shaped link, each method run in turn
//! (the order rotating) so that a noisy machine hits all alike. Reported as wall times,
//! bytes on the wire (the cluster's exec stream counters) and ratios to the peers —
//! the ratios are the result; absolute times depend on the machine.
//!
//! `--smoke` runs a small tree once on loopback (CI runs it on the debug build so the
//! suite cannot rot; no timing is asserted anywhere). `--out FILE` writes the report as
//! Markdown (docs/benchmarks.md is made this way).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use ferry_testkit::{create_namespace, create_ready_pod, Control, PodBuilder, TestCluster};

const NS: &str = "bench";
const POD: &str = "target";
const DEST: &str = "/bench";

#[derive(Parser, Debug)]
#[command(about = "ferry against kubectl cp and a tar pipe, on a local cluster")]
struct Args {
    /// A small tree, one run, loopback only (CI's smoke mode).
    #[arg(long)]
    smoke: bool,
    /// Files in the generated tree.
    #[arg(long, default_value_t = 10_000)]
    files: usize,
    /// Runs of each method per link (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Write the report as Markdown to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The ferry binary (default: beside this one).
    #[arg(long)]
    ferry: Option<PathBuf>,
    /// The kubectl binary.
    #[arg(long, default_value = "kubectl")]
    kubectl: PathBuf,
}

/// A link the pod's exec streams go through.
#[derive(Clone, Copy)]
struct Link {
    name: &'static str,
    /// One-way latency.
    latency_ms: u64,
    /// 0: no cap.
    bytes_per_sec: u64,
}

const LOOPBACK: Link = Link {
    name: "loopback",
    latency_ms: 0,
    bytes_per_sec: 0,
};
/// 50 Mbit/s, 30 ms round trip. The cluster caps each exec stream, not the pod's total.
const SHAPED: Link = Link {
    name: "shaped (50 Mbit/s, 30 ms RTT, per stream)",
    latency_ms: 15,
    bytes_per_sec: 6_250_000,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Method {
    Ferry,
    KubectlCp,
    TarPipe,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Ferry => "ferry sync --once",
            Method::KubectlCp => "kubectl cp",
            Method::TarPipe => "tar c | kubectl exec -i -- tar x",
        }
    }
}

/// One measured run.
struct Sample {
    wall: Duration,
    wire_bytes: u64,
}

struct Row {
    link: &'static str,
    method: Method,
    samples: Vec<Sample>,
}

impl Row {
    fn median(&self) -> &Sample {
        let mut idx: Vec<usize> = (0..self.samples.len()).collect();
        idx.sort_by_key(|&i| self.samples[i].wall);
        &self.samples[idx[idx.len() / 2]]
    }
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.smoke {
        args.files = args.files.min(300);
        args.runs = 1;
    }
    let ferry = match &args.ferry {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary's folder")?
            .join("ferry"),
    };
    if !ferry.exists() {
        bail!(
            "no ferry binary at {} (build it beside this one: cargo build --release -p ferry, \
             or pass --ferry)",
            ferry.display()
        );
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(args, ferry))
}

/// The 1-minute load average (how busy the machine was around the run).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

async fn run(args: Args, ferry: PathBuf) -> Result<()> {
    let load_before = load();
    let work = tempfile::Builder::new().prefix("ferry-bench.").tempdir()?;
    let ws = work.path().join("ws");
    let src = ws.join("src");
    let (files, bytes) = generate(&src, args.files, 0x5eed)?;
    eprintln!(
        "bench: a tree of {files} files, {:.1} MB",
        bytes as f64 / 1e6
    );
    std::fs::write(
        ws.join("devspace.yaml"),
        format!(
            "version: v2beta1\nname: bench\ndev:\n  {POD}:\n    labelSelector:\n      app: {POD}\n    namespace: {NS}\n    sync:\n    - path: ./src:{DEST}\n"
        ),
    )?;

    let cluster = TestCluster::start()?;
    let client = cluster.client().await?;
    let control = cluster.control().await?;
    create_namespace(&client, NS).await?;
    create_ready_pod(&client, NS, &PodBuilder::new(POD, "busybox")).await?;
    let kubeconfig = cluster.kubeconfig();
    let env = Env {
        control: &control,
        kubeconfig: &kubeconfig,
        kubectl: &args.kubectl,
        ferry: &ferry,
        ws: &ws,
        files,
    };

    let links: &[Link] = if args.smoke {
        &[LOOPBACK]
    } else {
        &[LOOPBACK, SHAPED]
    };
    let methods = [Method::Ferry, Method::KubectlCp, Method::TarPipe];
    let mut rows: Vec<Row> = Vec::new();
    for link in links {
        control
            .set_shaping(link.latency_ms, link.bytes_per_sec)
            .await?;
        for m in methods {
            rows.push(Row {
                link: link.name,
                method: m,
                samples: Vec::new(),
            });
        }
        for run in 0..args.runs {
            for k in 0..methods.len() {
                let m = methods[(k + run) % methods.len()];
                let s = env.measure(m).await?;
                eprintln!(
                    "bench: {} · {} · run {}: {:.2} s, {:.1} MB on the wire",
                    link.name,
                    m.name(),
                    run + 1,
                    s.wall.as_secs_f64(),
                    s.wire_bytes as f64 / 1e6
                );
                rows.iter_mut()
                    .find(|r| r.link == link.name && r.method == m)
                    .expect("a row per method")
                    .samples
                    .push(s);
            }
        }
    }
    control.set_shaping(0, 0).await?;
    let loads = (load_before, load());
    let report = report(&args, files, bytes, &rows, &loads);
    println!("{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

struct Env<'a> {
    control: &'a Control,
    kubeconfig: &'a Path,
    kubectl: &'a Path,
    ferry: &'a Path,
    ws: &'a Path,
    files: usize,
}

impl Env<'_> {
    /// One run of `m` into an empty container folder, checked to have landed whole.
    async fn measure(&self, m: Method) -> Result<Sample> {
        self.sh(&format!("rm -rf {DEST} && mkdir -p {DEST}"))
            .await?;
        // ferry's own state (index, trash, marker) goes too: every run is a first sync.
        let _ = std::fs::remove_dir_all(self.ws.join(".ferry"));
        self.sh("rm -rf /.ferry /.ferry-tmp-* /tmp/.ferry* 2>/dev/null; true")
            .await?;
        let before: BTreeSet<u64> = self.stream_ids().await?;
        let src = self.ws.join("src");
        let t = Instant::now();
        let status = match m {
            Method::Ferry => Command::new(self.ferry)
                .args(["sync", "--once"])
                .current_dir(self.ws)
                .env("KUBECONFIG", self.kubeconfig)
                .stdout(Stdio::null())
                .status()?,
            Method::KubectlCp => Command::new(self.kubectl)
                .arg("--kubeconfig")
                .arg(self.kubeconfig)
                .args(["cp", "-n", NS])
                .arg(format!("{}/.", src.display()))
                .arg(format!("{POD}:{DEST}"))
                .stdout(Stdio::null())
                .status()?,
            Method::TarPipe => Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "tar cf - -C '{}' . | '{}' --kubeconfig '{}' exec -i -n {NS} {POD} -- tar xf - -C {DEST}",
                    src.display(),
                    self.kubectl.display(),
                    self.kubeconfig.display()
                ))
                .status()?,
        };
        let wall = t.elapsed();
        if !status.success() {
            bail!("{} failed: {status}", m.name());
        }
        let landed: usize = self
            .sh(&format!("find {DEST} -type f | wc -l"))
            .await?
            .trim()
            .parse()
            .context("a file count")?;
        if landed != self.files {
            bail!(
                "{}: {landed} files in the container, {} expected",
                m.name(),
                self.files
            );
        }
        let wire_bytes = self.wire_bytes_since(&before).await?;
        Ok(Sample { wall, wire_bytes })
    }

    async fn sh(&self, script: &str) -> Result<String> {
        let out = self
            .control
            .run(NS, POD, &["sh", "-c", script], b"")
            .await?;
        if out.exit_code != 0 {
            bail!("`{script}` in the pod: {}", out.stderr);
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    async fn stream_ids(&self) -> Result<BTreeSet<u64>> {
        Ok(self
            .control
            .streams(NS, POD)
            .await?
            .iter()
            .filter_map(|s| s["id"].as_u64())
            .collect())
    }

    /// The bytes of every exec stream opened since `before`, both ways.
    async fn wire_bytes_since(&self, before: &BTreeSet<u64>) -> Result<u64> {
        Ok(self
            .control
            .streams(NS, POD)
            .await?
            .iter()
            .filter(|s| s["id"].as_u64().is_some_and(|id| !before.contains(&id)))
            .map(|s| {
                ["stdin_bytes", "stdout_bytes", "stderr_bytes"]
                    .iter()
                    .map(|k| s[*k].as_u64().unwrap_or(0))
                    .sum::<u64>()
            })
            .sum())
    }
}

/// A source-like tree of `files` files below `root` (seeded, the same on every
/// machine): folders of up to 16 files, 3 levels deep; text made of identifiers,
/// punctuation and indentation; sizes mostly 200 B – 8 KiB with a tail to 128 KiB.
/// Returns the file count and the total size.
fn generate(root: &Path, files: usize, seed: u64) -> Result<(usize, u64)> {
    const WORDS: &[&str] = &[
        "fn", "let", "mut", "self", "impl", "pub", "struct", "match", "return", "if", "else",
        "for", "in", "while", "use", "mod", "const", "Option", "Result", "String", "Vec", "value",
        "index", "path", "entry", "config", "state", "error", "sync", "file", "len", "into",
        "from", "map", "iter", "collect", "unwrap", "await", "async", "true", "false",
    ];
    const PUNCT: &[&str] = &[
        "(", ")", "{", "}", ";", ",", ".", "::", " = ", " => ", "&", "<", ">",
    ];
    let mut rng = Rng(seed);
    let mut total = 0u64;
    for i in 0..files {
        let dir = format!(
            "m{:02}/s{:02}/d{:02}",
            (i / 4096) % 100,
            (i / 256) % 16,
            (i / 16) % 16
        );
        let ext = ["rs", "ts", "json", "md", "toml", "js"][rng.below(6) as usize];
        let path = root.join(dir).join(format!("f{i:05}.{ext}"));
        let size = match rng.below(100) {
            0..=59 => 200 + rng.below(2_000),
            60..=89 => 2_000 + rng.below(6_000),
            90..=98 => 8_000 + rng.below(24_000),
            _ => 32_000 + rng.below(96_000),
        } as usize;
        let mut text = String::with_capacity(size + 64);
        while text.len() < size {
            for _ in 0..rng.below(4) {
                text.push_str("    ");
            }
            for _ in 0..3 + rng.below(8) {
                text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
                text.push_str(PUNCT[rng.below(PUNCT.len() as u64) as usize]);
                if rng.below(5) == 0 {
                    text.push_str(&format!("{}", rng.below(10_000)));
                }
            }
            text.push('\n');
        }
        text.truncate(size);
        std::fs::create_dir_all(path.parent().expect("a folder"))?;
        std::fs::write(&path, &text)?;
        total += text.len() as u64;
    }
    Ok((files, total))
}

/// xorshift*: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The report, as Markdown.
fn report(args: &Args, files: usize, bytes: u64, rows: &[Row], loads: &(String, String)) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "Made by `ferry-bench` (tests/bench); every number below comes from the run it \
         describes. Ratios to the peers are the result: these machines are shared and noisy, \
         and absolute times depend on them.\n\n",
    );
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    out.push_str(&format!(
        "- date: {date}; commit {commit}; {cores} cores ({cpu}); {profile} build; load \
         average {} before the run, {} after\n- command: \
         `{}`\n- tree: {files} generated source-like files, {:.1} MB; a busybox pod on the \
         local ferry-cluster; the median of {} runs per method and link, methods in rotating \
         order\n\n",
        loads.0,
        loads.1,
        command_line(args),
        bytes as f64 / 1e6,
        args.runs
    ));
    out.push_str("## Initial sync\n\n");
    out.push_str(
        "| link | method | wall time | on the wire | time ÷ kubectl cp | time ÷ tar pipe |\n",
    );
    out.push_str("|---|---|---|---|---|---|\n");
    for r in rows {
        let m = r.median();
        let of = |method: Method| {
            rows.iter()
                .find(|x| x.link == r.link && x.method == method)
                .map(|x| m.wall.as_secs_f64() / x.median().wall.as_secs_f64().max(1e-9))
                .map_or_else(|| "–".into(), |v| format!("{v:.2}×"))
        };
        out.push_str(&format!(
            "| {} | {} | {:.2} s | {:.1} MB | {} | {} |\n",
            r.link,
            r.method.name().replace('|', "\\|"),
            m.wall.as_secs_f64(),
            m.wire_bytes as f64 / 1e6,
            of(Method::KubectlCp),
            of(Method::TarPipe)
        ));
    }
    out.push_str(
        "\nThe shaped link caps each exec stream (the cluster cannot cap a pod's total yet), \
         so a method that opens several streams is not held to one link's bandwidth. Not \
         measured yet: save and container-write latency, idle cost, 100k files, bursts \
         (issue 13).\n",
    );
    out
}

/// The command that reproduces the report.
fn command_line(args: &Args) -> String {
    let mut c = if cfg!(debug_assertions) {
        String::from(
            "cargo build -p ferry -p ferry-cluster -p ferry-bench && target/debug/ferry-bench",
        )
    } else {
        String::from(
            "cargo build --release -p ferry -p ferry-cluster -p ferry-bench && target/release/ferry-bench",
        )
    };
    if args.smoke {
        c.push_str(" --smoke");
    } else {
        if args.files != 10_000 {
            c.push_str(&format!(" --files {}", args.files));
        }
        if args.runs != 3 {
            c.push_str(&format!(" --runs {}", args.runs));
        }
    }
    if let Some(out) = &args.out {
        c.push_str(&format!(" --out {}", out.display()));
    }
    c
}
