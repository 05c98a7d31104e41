//! `ferry-cluster`: a local Kubernetes API server that runs pods as real runc containers.
//!
//! ```text
//! ferry-cluster up --dir D [--kube-version 1.33] [--refuse-v5] [--port N]
//! ferry-cluster down --dir D
//! ferry-cluster images
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_cluster::cluster::{self, Options};

#[derive(Parser)]
#[command(
    name = "ferry-cluster",
    version,
    about = "A local Kubernetes API server that runs pods as real runc containers (for ferry's tests, benchmarks and demo)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a cluster that owns folder D; writes D/kubeconfig when ready and serves until
    /// SIGTERM/SIGINT or `ferry-cluster down --dir D`.
    Up {
        #[arg(long)]
        dir: PathBuf,
        /// The Kubernetes version /version reports (1.NN); kubectl's dispatcher picks its
        /// kubectl.1.NN by it.
        #[arg(long, default_value = "1.33", value_parser = parse_version)]
        kube_version: u32,
        /// Refuse exec over v5.channel.k8s.io, as a cluster older than 1.29 does.
        #[arg(long)]
        refuse_v5: bool,
        /// Port on 127.0.0.1 (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Log filter (also RUST_LOG), e.g. `info` or `ferry_cluster=debug`.
        #[arg(long, default_value = "info")]
        log: String,
    },
    /// Stop the cluster serving from D and remove its containers, mounts and processes.
    Down {
        #[arg(long)]
        dir: PathBuf,
    },
    /// List the container images the cluster can run.
    Images,
}

fn parse_version(s: &str) -> Result<u32, String> {
    let s = s.trim_start_matches('v');
    let minor = s
        .strip_prefix("1.")
        .ok_or("expected 1.NN")?
        .split('.')
        .next()
        .unwrap_or("");
    minor
        .parse()
        .map_err(|_| format!("bad Kubernetes version {s:?}, expected 1.NN"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Up {
            dir,
            kube_version,
            refuse_v5,
            port,
            log,
        } => {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log));
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .init();
            let mut opts = Options::new(dir);
            opts.kube_minor = kube_version;
            opts.refuse_v5 = refuse_v5;
            opts.port = port;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            match rt.block_on(cluster::run_until_signal(opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ferry-cluster: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Down { dir } => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .init();
            match cluster::down(&dir) {
                Ok(removed) => {
                    for r in removed {
                        println!("removed {r}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ferry-cluster down: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Images => {
            for name in ferry_cluster::runtime::IMAGES {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
    }
}
