//! The command line: `ferry sync | list | status | conflicts | resolve | resync | stop |
//! doctor | restore | lsp`. Thin: each
//! command loads the config and hands over to the library ([`crate::engine`],
//! [`crate::doctor`]); `restore` reads only the trash ([`crate::local::trash`]).
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (`doctor`: ready to sync) |
//! | 1 | the sync failed (no cluster, no pod, a broken session, per-file errors in `--once`); `doctor` found a problem; `status`: nothing is running; `restore`: nothing matched, or a restore failed |
//! | 2 | bad usage or a config that cannot be used (no config, a config error at file:line:column) |
//! | 3 | another ferry process (`ferry sync`, `ferry lsp`) owns the workspace |

mod info;
mod owner;
mod restore;
mod status_text;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::filter::LevelFilter;

use crate::config::{self, Config, Loaded};
use crate::target::KubeOverrides;

/// Exit code: the sync failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage or config.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code: the workspace is owned by another process.
pub const EXIT_LOCKED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Client-only bidirectional file sync between your workspace and Kubernetes containers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sync every sync path of the config, in the foreground (Ctrl-C stops).
    Sync {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        kube: Kube,
        /// Run the initial sync, then exit (non-zero on failure).
        #[arg(long)]
        once: bool,
        /// Print what the initial sync would do (uploads, downloads, deletions on each
        /// side, conflicts) and change nothing on either side.
        #[arg(long)]
        dry_run: bool,
        /// Log level on stderr (off, error, warn, info, debug, trace). The command prints
        /// its own lines on stdout either way; the full log is `.ferry/sync.log`.
        #[arg(long, default_value = "off")]
        log_level: String,
    },
    /// List the sync paths of the config: folders, selector, excludes.
    List {
        #[command(flatten)]
        common: Common,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what the running sync of this workspace does.
    Status {
        #[command(flatten)]
        common: Common,
        /// Print the status report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the open conflicts (files both sides changed): what the running sync knows,
    /// or the conflict copies in the local folders when nothing runs.
    Conflicts {
        #[command(flatten)]
        common: Common,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Resolve a conflict: keep the local version or the container's. The other one goes
    /// to the trash (`ferry restore` brings it back).
    Resolve {
        #[command(flatten)]
        common: Common,
        /// The conflicting file (not its copy).
        path: PathBuf,
        /// Which version stays.
        #[arg(long, value_enum)]
        keep: KeepArg,
    },
    /// Ask the running sync to compare both sides again.
    Resync {
        #[command(flatten)]
        common: Common,
    },
    /// Stop the running sync of this workspace (`ferry sync`, or the sync paths of the
    /// editor's `ferry lsp`).
    Stop {
        #[command(flatten)]
        common: Common,
    },
    /// Check the config, the cluster, the pod and the container for everything a sync needs.
    Doctor {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        kube: Kube,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List what ferry kept in the trash (.ferry/trash/: every local file it deleted or
    /// overwrote), or bring items back. Works while a sync runs.
    Restore {
        #[command(flatten)]
        common: Common,
        /// Item ids (from the list), or paths relative to the workspace or to a sync folder
        /// (the newest item for each). None: list the trash.
        #[arg(value_name = "ID|PATH")]
        items: Vec<String>,
        /// Restore the one item named to DEST instead of its original place (relative to
        /// the current folder; into it when DEST is a folder). What is there is kept in
        /// the trash.
        #[arg(long, value_name = "DEST")]
        to: Option<PathBuf>,
        /// List the full records as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the editor backend (a Language Server on stdio; see docs/protocol.md).
    Lsp {
        /// Log level on stderr (the editor shows it); the full log is `.ferry/sync.log`.
        #[arg(long, default_value = "warn")]
        log_level: String,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// The workspace folder (default: the current folder).
    #[arg(long, short = 'w')]
    workspace: Option<PathBuf>,
    /// The config file, relative to the workspace (default: devspace.yaml, then
    /// .devspace/config.yaml).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// A DevSpace profile to apply, after those its `activation` selects (repeat it to
    /// apply several, in order).
    #[arg(long = "profile", short = 'p', value_name = "NAME")]
    profiles: Vec<String>,
    /// Apply no profile by its `activation` (as DevSpace's flag of the same name).
    #[arg(long)]
    disable_profile_activation: bool,
}

/// `ferry resolve --keep`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KeepArg {
    /// The local version.
    Local,
    /// The container's version.
    Container,
}

#[derive(Args, Clone)]
struct Kube {
    /// The kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: the current one).
    #[arg(long)]
    context: Option<String>,
    /// The namespace for sync paths that name none (default: the context's).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
}

impl Kube {
    fn overrides(&self) -> KubeOverrides {
        KubeOverrides {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

impl Common {
    /// The profiles to apply besides the activated ones.
    fn profiles(&self) -> config::ProfileChoice {
        config::ProfileChoice {
            names: self.profiles.clone(),
            no_activation: self.disable_profile_activation,
        }
    }

    fn workspace(&self) -> PathBuf {
        let w = self
            .workspace
            .clone()
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
        std::path::absolute(&w).unwrap_or(w)
    }

    /// Loads the config; prints why not and returns the exit code otherwise.
    fn load(&self) -> Result<Config, ExitCode> {
        let env = |k: &str| std::env::var(k).ok();
        match config::load(
            &self.workspace(),
            self.config.as_deref(),
            &self.profiles(),
            &env,
        ) {
            Ok(Loaded::Config(c)) => {
                for d in &c.diagnostics {
                    eprintln!("{d}");
                }
                Ok(c)
            }
            Ok(Loaded::NoConfig { searched }) => {
                eprintln!(
                    "ferry: no sync configured: none of {} exists (docs/config.md shows a minimal devspace.yaml)",
                    searched
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                Err(ExitCode::from(EXIT_CONFIG))
            }
            Err(e) => {
                eprintln!("{e}");
                eprintln!("ferry: the config cannot be used; nothing was synced");
                Err(ExitCode::from(EXIT_CONFIG))
            }
        }
    }
}

/// Runs the command line `args` (without the program name) and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferry: cannot start: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Sync {
                common,
                kube,
                once,
                dry_run,
                log_level,
            } => {
                if dry_run {
                    sync::dry_run(&common, kube.overrides(), &log_level).await
                } else {
                    sync::run(&common, kube.overrides(), once, &log_level).await
                }
            }
            Command::List { common, json } => info::list(&common, json),
            Command::Status { common, json } => info::status(&common, json),
            Command::Conflicts { common, json } => owner::conflicts(&common, json),
            Command::Resolve { common, path, keep } => {
                let keep = match keep {
                    KeepArg::Local => crate::engine::resolve::Keep::Local,
                    KeepArg::Container => crate::engine::resolve::Keep::Container,
                };
                owner::resolve(&common, &path, keep)
            }
            Command::Resync { common } => owner::tell(&common, "resync"),
            Command::Stop { common } => owner::tell(&common, "stop"),
            Command::Doctor { common, kube, json } => {
                info::doctor(&common, kube.overrides(), json).await
            }
            Command::Restore {
                common,
                items,
                to,
                json,
            } => restore::run(&common, &items, to.as_deref(), json),
            Command::Lsp { log_level } => {
                let Ok(level) = <LevelFilter as std::str::FromStr>::from_str(&log_level) else {
                    eprintln!(
                        "ferry: --log-level must be one of off, error, warn, info, debug, trace"
                    );
                    return ExitCode::from(EXIT_CONFIG);
                };
                crate::lsp::serve(level).await;
                // The stdin reader may still block a runtime thread: leave at once.
                std::process::exit(0);
            }
        }
    })
}
