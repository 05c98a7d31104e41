//! The loaded configuration: what the sync engine gets as input.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::diagnostic::{Diagnostic, Span};

/// Which of the config formats a file was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Format {
    /// DevSpace CLI v1/v2 (2018), the seed's `.devspace/config.yaml`: `version: v1` or
    /// `v1alpha1`, sync entries in `devSpace.sync[]` with `labelSelector`, `namespace`,
    /// `containerName`, `localSubPath`, `containerPath`, the three exclude lists and
    /// `bandwidthLimits`; `service` names an entry of `devSpace.services[]`.
    DevSpaceSync,
    /// DevSpace v3 to v5 (2019–2021): `version: v1alpha2` … `v1beta11`, sync entries in
    /// `dev.sync[]` with the same per-entry fields, `selector` naming an entry of
    /// `dev.selectors[]` (v3), `imageName` naming an entry of `images` (v4), and
    /// `name`, `imageSelector`, `initialSync`, `disableUpload`, `disableDownload`,
    /// `polling`, `onUpload` (v5).
    DevSync,
    /// DevSpace v6 (today): `version: v2beta1`, one entry per dev container in
    /// `dev.<name>` (`imageSelector` or `labelSelector`, `namespace`, `container`) with
    /// `sync[]` entries written as `path: local:remote`; also
    /// `dev.<name>.containers.<container>.sync[]`.
    #[serde(rename = "v2beta1")]
    V2Beta1,
}

/// A loaded, validated config file: the input of the sync engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// The config file that was read (as given to [`super::parse`], or as found by
    /// [`super::load`]: absolute when the workspace root is).
    pub file: PathBuf,
    /// The format the file was read as.
    pub format: Format,
    /// The sync paths, in file order. Empty when the file configures no sync.
    pub sync: Vec<SyncPath>,
    /// Warnings about the file (there are no errors in a loaded config), sorted by
    /// position. They may point into `excludeFile`s too.
    pub diagnostics: Vec<Diagnostic>,
    /// The DevSpace profiles applied, in the order they were applied.
    pub profiles: Vec<super::AppliedProfile>,
}

/// One folder pair kept in sync: a local folder and a folder in the container(s) that
/// [`Target`] selects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPath {
    /// A name that is unique in the config and stable while the config keeps its shape,
    /// usable as a key for per-sync state (the `.ferry/` index, status, logs).
    ///
    /// `v2beta1`: the `dev.<name>` key for its first sync entry, then `name#1`, `name#2`,
    /// … for the next entries of the same dev container; entries under
    /// `dev.<name>.containers.<c>` are named `name/c`, `name/c#1`, …
    /// Older formats: the entry's `name` field (v5) if any, else `sync`, `sync#1`, … in file
    /// order. Should two entries still collide, the later one gets the next free `#n`.
    pub name: String,
    /// Where the sync entry is written (the YAML mapping of the entry).
    pub origin: Span,
    /// The local folder (or file), absolute and lexically normalized (no `.` or `..`;
    /// symlinks are not resolved). Relative paths in the config are relative to the
    /// workspace root; a relative path may not leave it, an absolute one may.
    pub local_path: PathBuf,
    /// The folder in the container, as written after variable substitution. An absolute
    /// path, or a path relative to the container's working directory (`.` is the working
    /// directory itself); an empty remote part in the config becomes `.`. Never resolved
    /// here: only the container knows its working directory.
    pub container_path: String,
    /// Which pods and which container to sync with.
    pub target: Target,
    /// Patterns excluded from the sync, per direction.
    pub excludes: Excludes,
    /// How the two sides are reconciled when the sync starts (and after a reconnect).
    pub initial_sync: InitialSync,
    /// Whether local changes are uploaded (`false` with `disableUpload: true`).
    pub upload: bool,
    /// Whether remote changes are downloaded (`false` with `disableDownload: true`).
    pub download: bool,
    /// Transfer rate limits.
    pub bandwidth: Bandwidth,
    /// Whether the container side is scanned periodically instead of being watched for
    /// changes (`polling: true`).
    pub polling: bool,
    /// Commands run after each applied upload batch, in order (`onUpload.exec[]`).
    pub on_upload: Vec<UploadHook>,
    /// The dev container this path belongs to, as `ferry.yaml` names it: `v2beta1`: the
    /// `dev.<name>` key (`name/container` for `dev.<name>.containers.<container>`);
    /// older formats: the entry's `name`, else `sync`. Several paths may share it.
    pub dev: String,
    /// How symbolic links are synced (`symlinks:` in `ferry.yaml`).
    pub symlinks: Symlinks,
    /// Which of the pods the target selects are synced (`replicas:` in `ferry.yaml`).
    pub replicas: Replicas,
    /// The files that configure this sync path, absolute: the config file, the
    /// workspace's `.env` (read when present) and every exclude file. Where one of them
    /// lies inside the local folder, the container side may never write, delete or
    /// rename it: a container must not be able to change what ferry does (a planted
    /// `onUpload` hook with `local: true` would run on the developer's machine). See
    /// `docs/safety.md`.
    pub protected: Vec<PathBuf>,
}

/// Selects the pod and the container a [`SyncPath`] syncs with. At least one of
/// `label_selector` and `image_selector` is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Pods must carry all of these labels (`key: value`, as in a Kubernetes
    /// `matchLabels`). Empty: no label constraint.
    pub label_selector: BTreeMap<String, String>,
    /// Pods must have a container running this image; that container is the target unless
    /// `container` names another one. The reference is compared as written. When it has no
    /// tag and no digest it matches any tag of the repository: DevSpace appends the tag it
    /// built last, which ferry (which builds nothing) cannot know. `image(name)`,
    /// `${runtime.images.name.image}` and an `imageName` (v4) are resolved from the file's
    /// `images` section; `tag(name)` and `${runtime.images.name.tag}` become "any tag".
    pub image_selector: Option<String>,
    /// The namespace to look for pods in; `None`: the current context's namespace.
    pub namespace: Option<String>,
    /// The container in the pod; `None`: the container matched by `image_selector`, or
    /// else the pod's first container.
    pub container: Option<String>,
}

/// Exclude patterns in gitignore syntax, per direction. The engine matches paths relative
/// to the sync path's folders against them; a later `!pattern` re-includes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Excludes {
    /// Ignored in both directions (`excludePaths`, `excludeFile`). Always starts with the
    /// built-in `.devspace/` and `.ferry/` (see [`super::ALWAYS_EXCLUDED`]), which a
    /// negation in the config cannot re-include (such a pattern is dropped with a warning).
    pub both: Vec<Pattern>,
    /// Never uploaded, still downloaded (`uploadExcludePaths`, `uploadExcludeFile`).
    pub upload: Vec<Pattern>,
    /// Never downloaded, still uploaded (`downloadExcludePaths`, `downloadExcludeFile`).
    pub download: Vec<Pattern>,
}

/// One gitignore-syntax exclude pattern.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pattern {
    /// The pattern as written, with surrounding whitespace trimmed (e.g. `node_modules/`,
    /// `!keep.log`, `/build`). Not cleaned: a trailing `/` keeps its "directories only"
    /// meaning.
    pub text: String,
    /// Where it is written: in the config file, or in an `excludeFile` (line of the
    /// pattern). `None` for the built-in patterns.
    pub span: Option<Span>,
}

/// How a sync reconciles the two sides when it starts.
///
/// Without `initialSync` ferry uses [`InitialSync::Merge`], the seed's rules, for every
/// format, also for a `devspace.yaml` (where DevSpace itself would use `mirrorLocal`, which
/// deletes files that exist only in the container). The DevSpace strategies are accepted
/// under their DevSpace names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum InitialSync {
    /// The seed's rules, ferry's default: a file or folder only in the container is
    /// downloaded; only local is uploaded; a file newer locally is uploaded; an older local
    /// file is never overwritten by a newer remote one (it is left as it is on both
    /// sides). Nothing is deleted. Written `merge` (a ferry extension; DevSpace does not
    /// know it).
    #[default]
    Merge,
    /// `mirrorLocal`: make the container equal the local side: upload what differs and
    /// delete container-only files (except upload-excluded ones, which are downloaded).
    MirrorLocal,
    /// `preferLocal`: like merge, but on a conflict (both sides differ) the local file
    /// wins whatever its age; container-only files are downloaded.
    PreferLocal,
    /// `preferRemote`: on a conflict the container's file wins; local-only files are
    /// uploaded.
    PreferRemote,
    /// `preferNewest`: on a conflict the newer file wins (equal times: nothing happens).
    PreferNewest,
    /// `mirrorRemote`: make the local side equal the container: download what differs
    /// and delete local-only files (except download-excluded ones, which are uploaded).
    MirrorRemote,
    /// `keepAll`: copy files that exist on one side only; on a conflict keep both sides
    /// as they are.
    KeepAll,
    /// `disabled`: no initial reconciliation; only changes made after the start sync.
    Disabled,
}

impl InitialSync {
    /// Every strategy with the name it is written as in a config file.
    pub const ALL: [(InitialSync, &'static str); 8] = [
        (InitialSync::Merge, "merge"),
        (InitialSync::MirrorLocal, "mirrorLocal"),
        (InitialSync::PreferLocal, "preferLocal"),
        (InitialSync::PreferRemote, "preferRemote"),
        (InitialSync::PreferNewest, "preferNewest"),
        (InitialSync::MirrorRemote, "mirrorRemote"),
        (InitialSync::KeepAll, "keepAll"),
        (InitialSync::Disabled, "disabled"),
    ];

    /// The strategy written as `name` in a config file (case-sensitive, as DevSpace).
    pub fn from_config_name(name: &str) -> Option<InitialSync> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(strategy, _)| *strategy)
    }

    /// The name the strategy is written as in a config file.
    pub fn config_name(self) -> &'static str {
        name_in(&Self::ALL, self)
    }
}

/// How a sync path treats symbolic links (`symlinks:` in `ferry.yaml`; `docs/config.md`
/// says what each does on both sides).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Symlinks {
    /// Relative links whose target stays inside the sync folder are synced as links, both
    /// ways; any other link is skipped with a warning that says why.
    #[default]
    Portable,
    /// Links are not synced, on either side.
    Ignore,
    /// Local links are followed for upload only: the container gets the target's file or
    /// folder at the link's path, never downloaded or changed locally; container links
    /// are left alone as under `Ignore`.
    Follow,
}

impl Symlinks {
    /// Every mode with the name it is written as in `ferry.yaml`.
    pub const ALL: [(Symlinks, &'static str); 3] = [
        (Symlinks::Portable, "portable"),
        (Symlinks::Ignore, "ignore"),
        (Symlinks::Follow, "follow"),
    ];

    /// The name the mode is written as in `ferry.yaml`.
    pub fn config_name(self) -> &'static str {
        name_in(&Self::ALL, self)
    }
}

/// Which pods a sync path syncs with (`replicas:` in `ferry.yaml`; `docs/config.md` says
/// what each does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Replicas {
    /// One pod: the newest Running and Ready one the target selects, both ways.
    #[default]
    One,
    /// Every Running and Ready pod the target selects: the oldest (the *primary*) both
    /// ways, every other one (a *secondary*) one way, made to mirror the local folder.
    All,
}

impl Replicas {
    /// Every choice with the name it is written as in `ferry.yaml`.
    pub const ALL: [(Replicas, &'static str); 2] = [(Replicas::One, "one"), (Replicas::All, "all")];

    /// The name the choice is written as in `ferry.yaml`.
    pub fn config_name(self) -> &'static str {
        name_in(&Self::ALL, self)
    }
}

/// Transfer rate limits of one sync path, in KiB per second (DevSpace's `bandwidthLimits`
/// are in "KB/s" and multiplied by 1024; ferry keeps the number and its meaning).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bandwidth {
    /// Limit for uploads (local → container); `None`: unlimited.
    pub upload_kib_per_sec: Option<u64>,
    /// Limit for downloads (container → local); `None`: unlimited.
    pub download_kib_per_sec: Option<u64>,
}

/// A command run after each applied upload batch (one `onUpload.exec[]` entry). Not run
/// during the initial sync; changes queued during it run the hooks once afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadHook {
    /// The entry's `name`, for logs; `None` if it has none.
    pub name: Option<String>,
    /// The command. Without `args` it is a shell command line run with `sh -c`; with
    /// `args` it is the program to run.
    pub command: String,
    /// The program's arguments; `None`: run `command` through `sh -c`.
    pub args: Option<Vec<String>>,
    /// Whether a failing command fails (and restarts) the sync (`failOnError`).
    pub fail_on_error: bool,
    /// Whether the command runs on the local machine in the local sync folder instead of
    /// in the container (`local`).
    pub local: bool,
    /// Whether the command runs only once per container start (`once`).
    pub once: bool,
    /// Glob patterns (doublestar syntax) of uploaded paths; when non-empty the command runs
    /// only if a changed path matches one (`onChange`).
    pub on_change: Vec<String>,
    /// Where the entry is written.
    pub span: Span,
}

/// The name `value` is written as, from a type's table of every value and its name (each
/// value is in its table; the unit tests of the config check the tables).
fn name_in<T: PartialEq + Copy>(all: &[(T, &'static str)], value: T) -> &'static str {
    all.iter().find(|(v, _)| *v == value).map_or("", |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of each table is named by its own entry, and the default has a name.
    #[test]
    fn every_choice_is_named_by_its_table() {
        for (v, n) in InitialSync::ALL {
            assert_eq!(v.config_name(), n);
        }
        for (v, n) in Symlinks::ALL {
            assert_eq!(v.config_name(), n);
        }
        for (v, n) in Replicas::ALL {
            assert_eq!(v.config_name(), n);
        }
        assert_eq!(Symlinks::default().config_name(), "portable");
        assert_eq!(Replicas::default().config_name(), "one");
    }
}
