//! The built-in images: their names, how references are normalized, and how each image is
//! built from the host's own files into a shared cache.
//!
//! # Cache
//!
//! Images are built lazily, the first time a reference resolves to them, into
//! `$FERRY_CLUSTER_IMAGES/<FORMAT_VERSION>/<dir>` (default root
//! `/var/tmp/ferry-cluster-images`), where `<dir>` is the image name with `:` replaced by
//! `-` (`debian:inotify` → `debian-inotify`). A build goes to a temporary sibling folder
//! (`.build-<dir>-<pid>-<random>`) holding `rootfs/` and `image.json`, which is then
//! renamed into place in one step: a folder with the final name is always complete. When
//! two processes build the same image at once, the first rename wins and the loser
//! throws its copy away. Within one process, builds are serialized by a lock and the
//! result is remembered, so resolving a reference again costs no file system access.
//!
//! Bump [`FORMAT_VERSION`] whenever what an image contains changes: old caches are then
//! simply ignored.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::sha256::Sha256;

/// Every image name this runtime knows, in canonical form (what [`Image::name`] holds).
/// Each is built from the host's files (a Debian bookworm host):
///
/// | name | contents | default command |
/// |---|---|---|
/// | `busybox` | `/bin/busybox` (busybox-static) plus a relative symlink for every applet of `busybox --list-full`, laid out like Alpine (`/bin/sh` is busybox `ash`) | `["sh"]` |
/// | `busybox:notar` | `busybox` without `tar`: no link, and the applet renamed in the binary (Debian's busybox `sh` runs applets by name even without links) | `["sh"]` |
/// | `debian` | usr-merged tree; `/bin/sh` → `dash`; GNU coreutils, GNU tar, findutils, gzip, grep, sed, `hostname`, `which`, procps `kill` `ps` `pgrep` `pkill`; every shared library they need (`ldd`) and the dynamic loader; `/etc/os-release` | `["sh"]` |
/// | `debian:inotify` | `debian` plus `inotifywait` and `inotifywatch` (inotify-tools) | `["sh"]` |
/// | `debian:notar` | `debian` without `tar` | `["sh"]` |
/// | `distroless` | no shell: only `/bin/sleep` (a copy of busybox-static, which dispatches on `argv[0]`), `/etc/passwd`, `/etc/group` | `["/bin/sleep", "2147483647"]` |
///
/// All images have `/etc/passwd` and `/etc/group` with root and nobody (distroless also
/// `nonroot`, 65532), `/root` (0700), `/tmp` (1777) and, except distroless, `/var/tmp`
/// (1777), `/home`, `/proc`, `/sys`, `/dev`, `/run`, `/mnt`. No image has an entrypoint:
/// [`Image::default_command`] is the image's `Cmd`.
///
/// See [`normalize`] for the references that resolve to each name.
pub const IMAGES: &[&str] = &[
    "busybox",
    "busybox:notar",
    "debian",
    "debian:inotify",
    "debian:notar",
    "distroless",
];

/// Version of the on-disk image format and contents; part of the cache path.
pub const FORMAT_VERSION: &str = "v3";

/// Environment variable naming the root of the image cache.
pub const CACHE_ENV: &str = "FERRY_CLUSTER_IMAGES";

/// Default root of the image cache, when [`CACHE_ENV`] is unset or empty.
pub const DEFAULT_CACHE_ROOT: &str = "/var/tmp/ferry-cluster-images";

/// A resolved, built image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The reference exactly as it was written in the pod spec.
    pub reference: String,
    /// Canonical image name, one of [`IMAGES`].
    pub name: String,
    /// `sha256:<64 hex digits>`: SHA-256 of a manifest of the image's files (paths,
    /// types, modes, contents, link targets). Stable for the same content; changes when
    /// the host's binaries change and the image is rebuilt.
    pub id: String,
    /// The image's default command (its `Cmd`; there is no entrypoint), used when the
    /// container has neither `command` nor `args`.
    pub default_command: Vec<String>,
    /// The image's root file system in the shared cache. Read-only by convention: every
    /// container start copies it.
    pub rootfs: PathBuf,
}

/// Why a reference could not be resolved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImageError {
    /// No built-in image has this name, tag or digest. The kubelet reports it as
    /// `ErrImagePull`.
    #[error("failed to pull and unpack image \"{reference}\": not found (ferry-cluster has only the built-in images {})", IMAGES.join(", "))]
    NotFound {
        /// The reference as written.
        reference: String,
    },
    /// The image is known but building it from the host's files failed (for example a
    /// host package is missing).
    #[error("building image {name}: {message}")]
    Build {
        /// Canonical image name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

/// Maps a reference to a canonical image name from [`IMAGES`] and an optional digest
/// (`sha256:<hex>`), or `None` if it names no built-in image.
///
/// Rules:
/// - the registry prefixes `docker.io/`, `index.docker.io/` and `registry-1.docker.io/`
///   are dropped, then a leading `library/`: `docker.io/library/busybox:latest` and
///   `library/busybox` are `busybox`. Any other registry is unknown, except
///   `gcr.io/distroless/…` below.
/// - `busybox` with no tag, `latest`, `stable`, `musl`, `glibc`, `uclibc` or a version
///   (`1.36`, `1.36.1`, optionally followed by `-musl`, `-glibc` or `-uclibc`) →
///   `busybox`; tag `notar` → `busybox:notar`.
/// - `debian` with no tag, `latest`, `stable`, `bookworm`, `12` or `12.<n>` (each
///   optionally with `-slim`), or `slim` → `debian`; tags `inotify` and `notar` →
///   `debian:inotify`, `debian:notar`.
/// - `distroless` (no tag or `latest`), and `gcr.io/distroless/static`, `…/static-debian12`,
///   `…/base`, `…/base-debian12` (no tag, `latest` or `debian12`) → `distroless`.
/// - a digest (`name[:tag]@sha256:<64 hex>`) is allowed; [`resolve`] accepts it only
///   when it equals the image's [`Image::id`].
/// - everything else (other names, tags, registries, uppercase, malformed) → `None`.
pub fn normalize(reference: &str) -> Option<(&'static str, Option<String>)> {
    let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:@".contains(c);
    if reference.is_empty() || !reference.chars().all(valid) {
        return None;
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => {
            let hex = d.strip_prefix("sha256:")?;
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            (r, Some(d.to_string()))
        }
        None => (reference, None),
    };
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match rest[last_slash..].find(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if tag == Some("") {
        return None;
    }
    let mut repo = repo;
    for registry in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(r) = repo.strip_prefix(registry) {
            repo = r;
            break;
        }
    }
    if let Some(r) = repo.strip_prefix("library/") {
        repo = r;
    }
    let version = |t: &str| {
        !t.is_empty()
            && t.split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    let name = match (repo, tag) {
        ("busybox", None) => "busybox",
        ("busybox", Some("notar")) => "busybox:notar",
        ("busybox", Some(t)) => {
            let base = ["-musl", "-glibc", "-uclibc"]
                .iter()
                .find_map(|s| t.strip_suffix(s))
                .unwrap_or(t);
            if ["latest", "stable", "musl", "glibc", "uclibc"].contains(&t) || version(base) {
                "busybox"
            } else {
                return None;
            }
        }
        ("debian", None) => "debian",
        ("debian", Some("inotify")) => "debian:inotify",
        ("debian", Some("notar")) => "debian:notar",
        ("debian", Some(t)) => {
            let base = t.strip_suffix("-slim").unwrap_or(t);
            let twelve = base == "12" || base.strip_prefix("12.").is_some_and(version);
            if t == "latest" || t == "slim" || ["stable", "bookworm"].contains(&base) || twelve {
                "debian"
            } else {
                return None;
            }
        }
        ("distroless", None | Some("latest")) => "distroless",
        (
            "gcr.io/distroless/static"
            | "gcr.io/distroless/static-debian12"
            | "gcr.io/distroless/base"
            | "gcr.io/distroless/base-debian12",
            None | Some("latest" | "debian12"),
        ) => "distroless",
        _ => return None,
    };
    Some((name, digest))
}

/// The cache folder for images of the current format:
/// `$FERRY_CLUSTER_IMAGES/<FORMAT_VERSION>` or `/var/tmp/ferry-cluster-images/<FORMAT_VERSION>`.
pub fn cache_dir() -> PathBuf {
    let root = std::env::var_os(CACHE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_ROOT));
    root.join(FORMAT_VERSION)
}

/// A built image as remembered in memory: everything of [`Image`] but the reference.
#[derive(Debug, Clone)]
struct Built {
    id: String,
    default_command: Vec<String>,
    rootfs: PathBuf,
}

/// Built images by image folder. Holding the lock during a build serializes builds.
static BUILT: Mutex<Option<HashMap<PathBuf, Built>>> = Mutex::new(None);

/// Resolves `reference` (see [`normalize`]), building the image into the cache if needed.
/// May take a second or two the first time an image is used in a cache; it blocks the
/// calling thread meanwhile.
pub fn resolve(reference: &str) -> Result<Image, ImageError> {
    let not_found = || ImageError::NotFound {
        reference: reference.to_string(),
    };
    let (name, digest) = normalize(reference).ok_or_else(not_found)?;
    let built = ensure_built(name).map_err(|message| ImageError::Build {
        name: name.to_string(),
        message,
    })?;
    if digest.is_some_and(|d| d != built.id) {
        return Err(not_found());
    }
    Ok(Image {
        reference: reference.to_string(),
        name: name.to_string(),
        id: built.id,
        default_command: built.default_command,
        rootfs: built.rootfs,
    })
}

fn default_command(name: &str) -> Vec<String> {
    let cmd: &[&str] = if name == "distroless" {
        &["/bin/sleep", "2147483647"]
    } else {
        &["sh"]
    };
    cmd.iter().map(|s| s.to_string()).collect()
}

fn ensure_built(name: &'static str) -> Result<Built, String> {
    let cache = cache_dir();
    let dir = cache.join(name.replace(':', "-"));
    let mut guard = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let memo = guard.get_or_insert_with(HashMap::new);
    // Re-checked each time (one stat) so that a deleted cache is rebuilt.
    if let Some(b) = memo.get(&dir).filter(|b| b.rootfs.is_dir()) {
        return Ok(b.clone());
    }
    let built = match load(&dir) {
        Some(b) => b,
        None => build_into_cache(name, &cache, &dir)?,
    };
    memo.insert(dir, built.clone());
    Ok(built)
}

/// Reads a complete image folder (`image.json` + `rootfs/`).
fn load(dir: &Path) -> Option<Built> {
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("image.json")).ok()?).ok()?;
    let rootfs = dir.join("rootfs");
    if !rootfs.is_dir() {
        return None;
    }
    Some(Built {
        id: meta["id"].as_str()?.to_string(),
        default_command: meta["default_command"]
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()?,
        rootfs,
    })
}

fn build_into_cache(name: &'static str, cache: &Path, dir: &Path) -> Result<Built, String> {
    fs::create_dir_all(cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    remove_stale_builds(cache);
    let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or(name);
    let tmp = cache.join(format!(
        ".build-{dir_name}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let rootfs = tmp.join("rootfs");
        fs::create_dir_all(&rootfs).map_err(|e| format!("creating {}: {e}", rootfs.display()))?;
        build(name, &rootfs)?;
        let id = format!(
            "sha256:{}",
            content_digest(&rootfs).map_err(|e| format!("hashing: {e}"))?
        );
        let meta = serde_json::json!({
            "name": name,
            "id": id,
            "default_command": default_command(name),
            "format": FORMAT_VERSION,
        });
        fs::write(
            tmp.join("image.json"),
            serde_json::to_vec_pretty(&meta).unwrap(),
        )
        .map_err(|e| format!("writing image.json: {e}"))?;
        set_mode(&tmp, 0o755).map_err(|e| e.to_string())?;
        match fs::rename(&tmp, dir) {
            Ok(()) => {}
            // Another process finished first: use its image.
            Err(_) if load(dir).is_some() => {
                let _ = fs::remove_dir_all(&tmp);
            }
            Err(e) if dir.exists() => {
                // An incomplete folder with the final name (should not happen: renames are
                // atomic). Move it aside and try once more.
                let aside = cache.join(format!(".stale-{dir_name}-{:08x}", rand::random::<u32>()));
                fs::rename(dir, &aside)
                    .map_err(|e2| format!("replacing {}: {e}; {e2}", dir.display()))?;
                let _ = fs::remove_dir_all(&aside);
                fs::rename(&tmp, dir)
                    .map_err(|e| format!("renaming into {}: {e}", dir.display()))?;
            }
            Err(e) => return Err(format!("renaming into {}: {e}", dir.display())),
        }
        load(dir).ok_or_else(|| format!("{} is incomplete after building", dir.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    tracing::info!(image = name, dir = %dir.display(), ok = result.is_ok(), "built image");
    result
}

/// Removes temporary build folders left by crashed builds (older than an hour).
fn remove_stale_builds(cache: &Path) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if !(n.starts_with(".build-") || n.starts_with(".stale-")) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if old {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Building

/// Writes the tree of image `name` into the empty folder `root`.
fn build(name: &str, root: &Path) -> Result<(), String> {
    let b = Builder { root };
    match name {
        "busybox" => busybox(&b, true),
        "busybox:notar" => busybox(&b, false),
        "debian" => debian(&b, true, false),
        "debian:inotify" => debian(&b, true, true),
        "debian:notar" => debian(&b, false, false),
        "distroless" => distroless(&b),
        _ => Err(format!("no recipe for image {name}")),
    }
}

struct Builder<'a> {
    root: &'a Path,
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

impl Builder<'_> {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// Creates a folder (and its parents, 0755) with exactly `mode`.
    fn dir(&self, rel: &str, mode: u32) -> Result<(), String> {
        let p = self.path(rel);
        fs::create_dir_all(&p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
        set_mode(&p, mode).map_err(|e| format!("chmod {}: {e}", p.display()))
    }

    fn file(&self, rel: &str, contents: &str, mode: u32) -> Result<(), String> {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
        }
        fs::write(&p, contents).map_err(|e| format!("writing {}: {e}", p.display()))?;
        set_mode(&p, mode).map_err(|e| format!("chmod {}: {e}", p.display()))
    }

    fn symlink(&self, rel: &str, target: &str) -> Result<(), String> {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
        }
        if fs::symlink_metadata(&p).is_ok() {
            return Ok(());
        }
        std::os::unix::fs::symlink(target, &p).map_err(|e| format!("symlink {}: {e}", p.display()))
    }

    /// Copies host file `host` (following symlinks) to `rel`, keeping its mode. Does
    /// nothing if `rel` already exists.
    fn copy_host(&self, host: &Path, rel: &str) -> Result<(), String> {
        let p = self.path(rel);
        if fs::symlink_metadata(&p).is_ok() {
            return Ok(());
        }
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
        }
        fs::copy(host, &p)
            .map_err(|e| format!("copying {} to {}: {e}", host.display(), p.display()))?;
        Ok(())
    }

    /// The common skeleton of every image but distroless.
    fn skeleton(&self) -> Result<(), String> {
        for d in [
            "etc", "home", "proc", "sys", "dev", "run", "mnt", "var", "usr",
        ] {
            self.dir(d, 0o755)?;
        }
        self.dir("root", 0o700)?;
        self.dir("tmp", 0o1777)?;
        self.dir("var/tmp", 0o1777)
    }
}

fn host_busybox() -> Result<PathBuf, String> {
    [
        "/bin/busybox",
        "/usr/bin/busybox",
        "/usr/sbin/busybox",
        "/sbin/busybox",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .ok_or_else(|| {
        "busybox is not installed on the host (apt-get install busybox-static)".to_string()
    })
}

fn busybox(b: &Builder, with_tar: bool) -> Result<(), String> {
    let host = host_busybox()?;
    b.skeleton()?;
    for d in ["bin", "sbin", "usr/bin", "usr/sbin"] {
        b.dir(d, 0o755)?;
    }
    if with_tar {
        b.copy_host(&host, "bin/busybox")?;
    } else {
        let data = fs::read(&host).map_err(|e| format!("reading {}: {e}", host.display()))?;
        let patched = without_applet(&host, data, "tar")?;
        let dest = b.path("bin/busybox");
        fs::write(&dest, patched).map_err(|e| format!("writing {}: {e}", dest.display()))?;
        set_mode(&dest, 0o755).map_err(|e| e.to_string())?;
        let list = std::process::Command::new(&dest)
            .arg("--list")
            .output()
            .map_err(|e| format!("running the patched busybox: {e}"))?;
        let list = String::from_utf8_lossy(&list.stdout);
        if list.lines().count() < 50 || list.lines().any(|l| l == "tar") {
            return Err("patching tar out of busybox did not work".to_string());
        }
    }
    let out = std::process::Command::new(&host)
        .arg("--list-full")
        .output()
        .map_err(|e| format!("running {} --list-full: {e}", host.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} --list-full failed: {}",
            host.display(),
            out.status
        ));
    }
    let list = String::from_utf8_lossy(&out.stdout);
    let mut applets = 0;
    for rel in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        // `linuxrc` would sit at the root; busybox itself is already there.
        if !rel.contains('/') || rel == "bin/busybox" || rel.contains("..") {
            continue;
        }
        if !with_tar && rel.rsplit('/').next() == Some("tar") {
            continue;
        }
        // Relative links, so that they also resolve through /proc/<pid>/root on the host.
        let depth = rel.matches('/').count();
        let target = format!("{}bin/busybox", "../".repeat(depth));
        let target = target
            .strip_prefix("../bin/")
            .unwrap_or(&target)
            .to_string();
        b.symlink(rel, &target)?;
        applets += 1;
    }
    if applets < 50 {
        return Err(format!(
            "{} --list-full listed only {applets} applets",
            host.display()
        ));
    }
    add_libraries(b, &[host])?;
    b.file(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        0o644,
    )?;
    b.file("etc/group", "root:x:0:\ntty:x:5:\nnobody:x:65534:\n", 0o644)?;
    b.file("etc/hostname", "busybox\n", 0o644)
}

/// Debian's busybox-static is built with `FEATURE_SH_STANDALONE`: its `sh` runs any
/// applet by name, symlink or not. To really leave `applet` out, rename it in the binary's
/// table of applet names (one NUL-separated, sorted string, as `busybox --list` prints
/// it) to a name of the same length that keeps the order, so every other lookup works
/// exactly as before and `applet` is no longer found.
fn without_applet(host: &Path, mut data: Vec<u8>, applet: &str) -> Result<Vec<u8>, String> {
    let out = std::process::Command::new(host)
        .arg("--list")
        .output()
        .map_err(|e| format!("running {} --list: {e}", host.display()))?;
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    let Some(i) = names.iter().position(|n| n == applet) else {
        return Ok(data); // not there to begin with
    };
    let blob: Vec<u8> = names.iter().flat_map(|n| n.bytes().chain([0u8])).collect();
    let found: Vec<usize> = data
        .windows(blob.len())
        .enumerate()
        .filter(|(_, w)| *w == blob.as_slice())
        .map(|(i, _)| i)
        .take(2)
        .collect();
    if found.len() != 1 {
        return Err(format!(
            "found busybox's applet table {} times in {}",
            found.len(),
            host.display()
        ));
    }
    let prev = if i > 0 { names[i - 1].as_str() } else { "" };
    let next = names.get(i + 1).map(String::as_str);
    let stem = &applet[..applet.len() - 1];
    let replacement = (b'a'..=b'z')
        .map(|c| format!("{stem}{}", c as char))
        .find(|cand| {
            cand.as_str() > prev && next.is_none_or(|n| cand.as_str() < n) && !names.contains(cand)
        })
        .ok_or_else(|| format!("no order-keeping replacement name for applet {applet}"))?;
    let offset = found[0] + names[..i].iter().map(|n| n.len() + 1).sum::<usize>();
    data[offset..offset + applet.len()].copy_from_slice(replacement.as_bytes());
    Ok(data)
}

fn distroless(b: &Builder) -> Result<(), String> {
    let host = host_busybox()?;
    b.dir("bin", 0o755)?;
    b.dir("etc", 0o755)?;
    b.dir("home/nonroot", 0o700)?;
    std::os::unix::fs::chown(b.path("home/nonroot"), Some(65532), Some(65532))
        .map_err(|e| format!("chown home/nonroot: {e}"))?;
    b.dir("root", 0o700)?;
    b.dir("tmp", 0o1777)?;
    b.copy_host(&host, "bin/sleep")?;
    add_libraries(b, &[host])?;
    b.file(
        "etc/passwd",
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
        0o644,
    )?;
    b.file(
        "etc/group",
        "root:x:0:\ntty:x:5:\nstaff:x:50:\nnobody:x:65534:\nnonroot:x:65532:\n",
        0o644,
    )
}

/// Host packages whose programs make up the debian images; `None` = all of the
/// package's programs, else only those names.
const DEBIAN_PACKAGES: &[(&str, Option<&[&str]>)] = &[
    ("dash", Some(&["dash"])),
    ("coreutils", None),
    ("findutils", None),
    ("gzip", None),
    ("grep", None),
    ("sed", None),
    ("hostname", Some(&["hostname"])),
    ("procps", Some(&["kill", "ps", "pgrep", "pkill"])),
];

/// Used only when `dpkg-query` cannot list coreutils (a host without dpkg).
const COREUTILS_FALLBACK: &[&str] = &[
    "[",
    "arch",
    "b2sum",
    "base32",
    "base64",
    "basename",
    "basenc",
    "cat",
    "chcon",
    "chgrp",
    "chmod",
    "chown",
    "chroot",
    "cksum",
    "comm",
    "cp",
    "csplit",
    "cut",
    "date",
    "dd",
    "df",
    "dir",
    "dircolors",
    "dirname",
    "du",
    "echo",
    "env",
    "expand",
    "expr",
    "factor",
    "false",
    "fmt",
    "fold",
    "groups",
    "head",
    "hostid",
    "id",
    "install",
    "join",
    "link",
    "ln",
    "logname",
    "ls",
    "md5sum",
    "mkdir",
    "mkfifo",
    "mknod",
    "mktemp",
    "mv",
    "nice",
    "nl",
    "nohup",
    "nproc",
    "numfmt",
    "od",
    "paste",
    "pathchk",
    "pinky",
    "pr",
    "printenv",
    "printf",
    "ptx",
    "pwd",
    "readlink",
    "realpath",
    "rm",
    "rmdir",
    "runcon",
    "seq",
    "sha1sum",
    "sha224sum",
    "sha256sum",
    "sha384sum",
    "sha512sum",
    "shred",
    "shuf",
    "sleep",
    "sort",
    "split",
    "stat",
    "stdbuf",
    "stty",
    "sum",
    "sync",
    "tac",
    "tail",
    "tee",
    "test",
    "timeout",
    "touch",
    "tr",
    "true",
    "truncate",
    "tsort",
    "tty",
    "uname",
    "unexpand",
    "uniq",
    "unlink",
    "users",
    "vdir",
    "wc",
    "who",
    "whoami",
    "yes",
];

const HOST_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

fn find_on_host(name: &str) -> Option<PathBuf> {
    HOST_PATH
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// The programs (files in a bin/sbin folder) of host package `pkg`, via `dpkg-query -L`.
fn package_programs(pkg: &str) -> Option<Vec<PathBuf>> {
    let out = std::process::Command::new("dpkg-query")
        .args(["-L", pkg])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let progs: Vec<PathBuf> = text
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(PathBuf::from)
        .filter(|p| {
            let parent = p.parent().and_then(|d| d.to_str()).unwrap_or("");
            ["/bin", "/sbin", "/usr/bin", "/usr/sbin"].contains(&parent)
                && fs::symlink_metadata(p).is_ok_and(|m| !m.is_dir())
        })
        .collect();
    (!progs.is_empty()).then_some(progs)
}

/// Path of host file `abs` inside a usr-merged image (`/bin/x` → `usr/bin/x`, `/lib/…` →
/// `usr/lib/…`, `/lib64/…` → `usr/lib64/…`), relative to the image root.
fn usr_merged(abs: &Path) -> String {
    let s = abs.to_string_lossy();
    let rel = s.trim_start_matches('/');
    for top in ["bin/", "sbin/", "lib/", "lib64/", "lib32/", "libx32/"] {
        if rel.starts_with(top) {
            return format!("usr/{rel}");
        }
    }
    rel.to_string()
}

/// Copies host program `host` into a usr-merged image. A symlink to a sibling
/// (`pkill` → `pgrep`) stays a symlink and the sibling is queued; any other symlink is
/// copied as the file it points to. Returns the copied file if it is an ELF binary.
fn copy_program(
    b: &Builder,
    host: &Path,
    queue: &mut Vec<PathBuf>,
) -> Result<Option<PathBuf>, String> {
    let rel = usr_merged(host);
    let meta = fs::symlink_metadata(host).map_err(|e| format!("{}: {e}", host.display()))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(host).map_err(|e| format!("{}: {e}", host.display()))?;
        let t = target.to_string_lossy();
        if !t.contains('/') {
            b.symlink(&rel, &t)?;
            if let Some(dir) = host.parent() {
                queue.push(dir.join(&*t));
            }
            return Ok(None);
        }
    }
    b.copy_host(host, &rel)?;
    Ok(is_elf(host).then(|| host.to_path_buf()))
}

fn is_elf(p: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

fn debian(b: &Builder, with_tar: bool, with_inotify: bool) -> Result<(), String> {
    b.skeleton()?;
    for d in ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64"] {
        b.dir(d, 0o755)?;
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        b.symlink(link, target)?;
    }
    let mut packages: Vec<(&str, Option<&[&str]>)> = DEBIAN_PACKAGES.to_vec();
    if with_tar {
        packages.push(("tar", Some(&["tar"])));
    }
    if with_inotify {
        packages.push(("inotify-tools", Some(&["inotifywait", "inotifywatch"])));
    }
    let mut queue: Vec<PathBuf> = Vec::new();
    for (pkg, only) in packages {
        let progs = match package_programs(pkg) {
            Some(p) => p,
            None => {
                let names: Vec<&str> = match (pkg, only) {
                    ("coreutils", None) => COREUTILS_FALLBACK.to_vec(),
                    (_, Some(names)) => names.to_vec(),
                    (_, None) => vec![pkg],
                };
                names.iter().filter_map(|n| find_on_host(n)).collect()
            }
        };
        let progs: Vec<PathBuf> = progs
            .into_iter()
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                only.is_none_or(|names| names.contains(&name))
            })
            .collect();
        let required: &[&str] = match pkg {
            "dash" => &["dash"],
            "tar" => &["tar"],
            "inotify-tools" => &["inotifywait"],
            "coreutils" => &["ls", "cat"],
            _ => &[],
        };
        for r in required {
            if !progs
                .iter()
                .any(|p| p.file_name().and_then(|n| n.to_str()) == Some(*r))
            {
                return Err(format!("{r} (package {pkg}) is not installed on the host"));
            }
        }
        queue.extend(progs);
    }
    if let Some(which) = find_on_host("which") {
        // `which` is an alternatives link; copy the script it points to as `which`.
        b.copy_host(&which, "usr/bin/which")?;
    }
    let mut elves = Vec::new();
    let mut seen = BTreeSet::new();
    while let Some(p) = queue.pop() {
        if seen.insert(p.clone()) {
            if let Some(elf) = copy_program(b, &p, &mut queue)? {
                elves.push(elf);
            }
        }
    }
    b.symlink("usr/bin/sh", "dash")?;
    add_libraries(b, &elves)?;
    if let Ok(os) = fs::read_to_string("/etc/os-release") {
        b.file("etc/os-release", &os, 0o644)?;
    }
    b.file(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        0o644,
    )?;
    b.file(
        "etc/group",
        "root:x:0:\ndaemon:x:1:\ntty:x:5:\nstaff:x:50:\nusers:x:100:\nnogroup:x:65534:\n",
        0o644,
    )?;
    b.file(
        "etc/nsswitch.conf",
        "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
        0o644,
    )?;
    b.file("etc/hostname", "debian\n", 0o644)
}

/// Copies every shared library that the ELF programs `bins` need (as `ldd` lists them,
/// including the dynamic loader) into the usr-merged image. Static programs need none.
fn add_libraries(b: &Builder, bins: &[PathBuf]) -> Result<(), String> {
    if bins.is_empty() {
        return Ok(());
    }
    let out = std::process::Command::new("ldd")
        .args(bins)
        .output()
        .map_err(|e| format!("running ldd: {e}"))?;
    // ldd exits non-zero when one of the files is static; its lines still count.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with('\t') || l.starts_with(' '))
    {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((name, rhs)) => {
                let rhs = rhs.trim();
                if rhs.starts_with("not found") {
                    return Err(format!("ldd: {} not found on the host", name.trim()));
                }
                rhs.split(" (").next().unwrap_or("").trim()
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libs.insert(PathBuf::from(path));
        }
    }
    for lib in libs {
        b.copy_host(&lib, &usr_merged(&lib))?;
    }
    Ok(())
}

/// SHA-256 over a manifest of the tree at `root`: for each entry in sorted path order,
/// its path, permission bits, type, and for files their size and SHA-256, for symlinks
/// their target. File contents are hashed by the host's `sha256sum` in one run (fast even
/// in a debug build), or in-process if that fails; both give the same digest.
pub(crate) fn content_digest(root: &Path) -> io::Result<String> {
    enum Kind {
        Dir,
        Link(PathBuf),
        File(u64),
    }
    let mut entries: Vec<(PathBuf, u32, Kind)> = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(root.join(&rel))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        // Visit in sorted order (depth first): push folders in reverse.
        let mut subdirs = Vec::new();
        for name in names {
            let rel_path = rel.join(&name);
            let full = root.join(&rel_path);
            let m = fs::symlink_metadata(&full)?;
            let ft = m.file_type();
            let kind = if ft.is_dir() {
                subdirs.push(rel_path.clone());
                Kind::Dir
            } else if ft.is_symlink() {
                Kind::Link(fs::read_link(&full)?)
            } else {
                Kind::File(m.len())
            };
            entries.push((rel_path, m.mode() & 0o7777, kind));
        }
        stack.extend(subdirs.into_iter().rev());
    }
    let files: Vec<PathBuf> = entries
        .iter()
        .filter(|(_, _, k)| matches!(k, Kind::File(_)))
        .map(|(p, _, _)| root.join(p))
        .collect();
    let digests = file_digests(&files)?;
    let mut digests = digests.into_iter();
    let mut h = Sha256::new();
    for (path, mode, kind) in &entries {
        let record = match kind {
            Kind::Dir => format!("{}\0{mode:o}\0d\0", path.display()),
            Kind::Link(t) => format!("{}\0{mode:o}\0l\0{}\0", path.display(), t.display()),
            Kind::File(size) => {
                let d = digests.next().unwrap_or_default();
                format!("{}\0{mode:o}\0f\0{size}\0{d}\0", path.display())
            }
        };
        h.update(record.as_bytes());
    }
    Ok(h.finish_hex())
}

/// The SHA-256 (hex) of each file, in order.
pub(crate) fn file_digests(files: &[PathBuf]) -> io::Result<Vec<String>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let out = std::process::Command::new("sha256sum")
        .arg("--")
        .args(files)
        .stderr(std::process::Stdio::null())
        .output();
    if let Ok(out) = out {
        let text = String::from_utf8_lossy(&out.stdout);
        let digests: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim_start_matches('\\').split_whitespace().next())
            .map(String::from)
            .collect();
        let ok = out.status.success()
            && digests.len() == files.len()
            && digests
                .iter()
                .all(|d| d.len() == 64 && d.chars().all(|c| c.is_ascii_hexdigit()));
        if ok {
            return Ok(digests);
        }
    }
    files
        .iter()
        .map(|f| {
            let mut h = Sha256::new();
            h.update(&fs::read(f)?);
            Ok(h.finish_hex())
        })
        .collect()
}

/// Copies the tree at `src` to `dst` (which must not exist): folders with their modes,
/// regular files with their contents and modes (`copy_file_range`, so in-kernel), and
/// symlinks as symlinks. Ownership is the caller's (root), as in the image. Other file
/// types (none in the built-in images) are skipped.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    fs::create_dir(dst)?;
    let mut stack = vec![(src.to_path_buf(), dst.to_path_buf(), meta.mode() & 0o7777)];
    // Folder modes are set after their contents, so that a read-only folder can be filled.
    let mut modes = Vec::new();
    while let Some((s, d, mode)) = stack.pop() {
        for entry in fs::read_dir(&s)? {
            let entry = entry?;
            let sp = entry.path();
            let dp = d.join(entry.file_name());
            let ft = entry.file_type()?;
            if ft.is_dir() {
                fs::create_dir(&dp)?;
                let m = entry.metadata()?;
                if m.uid() != 0 || m.gid() != 0 {
                    std::os::unix::fs::chown(&dp, Some(m.uid()), Some(m.gid()))?;
                }
                stack.push((sp, dp, m.mode() & 0o7777));
            } else if ft.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&sp)?, &dp)?;
            } else if ft.is_file() {
                fs::copy(&sp, &dp)?;
            }
        }
        modes.push((d, mode));
    }
    for (d, mode) in modes.into_iter().rev() {
        set_mode(&d, mode)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_image_references_normalize() {
        let ok = [
            ("busybox", "busybox"),
            ("busybox:latest", "busybox"),
            ("busybox:1.36", "busybox"),
            ("busybox:1.36.1-musl", "busybox"),
            ("library/busybox", "busybox"),
            ("docker.io/busybox", "busybox"),
            ("docker.io/library/busybox:latest", "busybox"),
            ("index.docker.io/library/busybox:stable", "busybox"),
            ("busybox:notar", "busybox:notar"),
            ("docker.io/library/busybox:notar", "busybox:notar"),
            ("debian", "debian"),
            ("debian:latest", "debian"),
            ("debian:bookworm", "debian"),
            ("debian:bookworm-slim", "debian"),
            ("debian:12", "debian"),
            ("debian:12.5", "debian"),
            ("docker.io/library/debian:stable-slim", "debian"),
            ("debian:inotify", "debian:inotify"),
            ("debian:notar", "debian:notar"),
            ("distroless", "distroless"),
            ("distroless:latest", "distroless"),
            ("gcr.io/distroless/static-debian12", "distroless"),
            ("gcr.io/distroless/base:latest", "distroless"),
        ];
        for (r, want) in ok {
            assert_eq!(normalize(r).map(|(n, _)| n), Some(want), "{r}");
        }
        let digest = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(
            normalize(&digest),
            Some(("busybox", Some(format!("sha256:{}", "a".repeat(64)))))
        );
        let bad = [
            "",
            "alpine",
            "nginx:latest",
            "busybox:nope",
            "busybox:",
            "Busybox",
            "debian:bullseye",
            "debian:11",
            "quay.io/busybox",
            "docker.io/other/busybox",
            "gcr.io/distroless/static:nonroot",
            "busybox@sha256:abc",
            "busybox@md5:0123",
            "busybox latest",
            "distroless:debug",
        ];
        for r in bad {
            assert_eq!(normalize(r), None, "{r}");
        }
        for name in IMAGES {
            assert_eq!(normalize(name).map(|(n, _)| n), Some(*name));
        }
        let err = resolve("nope:1").unwrap_err();
        assert!(matches!(&err, ImageError::NotFound { reference } if reference == "nope:1"));
        assert!(err.to_string().contains("not found"), "{err}");
    }

    #[test]
    fn runtime_usr_merged_paths() {
        assert_eq!(usr_merged(Path::new("/bin/ls")), "usr/bin/ls");
        assert_eq!(
            usr_merged(Path::new("/lib64/ld-linux-x86-64.so.2")),
            "usr/lib64/ld-linux-x86-64.so.2"
        );
        assert_eq!(
            usr_merged(Path::new("/lib/x86_64-linux-gnu/libc.so.6")),
            "usr/lib/x86_64-linux-gnu/libc.so.6"
        );
        assert_eq!(usr_merged(Path::new("/usr/bin/find")), "usr/bin/find");
        assert_eq!(usr_merged(Path::new("/binx/y")), "binx/y");
    }
}
