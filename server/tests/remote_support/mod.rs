//! Shared helpers of the `remote_*` tests: container root file systems from
//! ferry-cluster's images, copied per test, with `/dev/null` and a sync folder, and a
//! [`LocalShell`] chrooted into them.
#![allow(dead_code)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ferry::remote::{
    BoxFuture, Download, LaunchError, Launcher, LocalShell, MemorySink, RelPath, RemoteProcess,
    Session, SessionOptions,
};

/// The sync folder inside every test root file system.
pub const ROOT: &str = "/app";

/// Whether the tests can run (they chroot, mknod and chown: root only).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Fails the calling test, loudly, when not root: the remote tests chroot, mknod and
/// chown. CI runs as root; a test that silently passed without running would prove
/// nothing.
pub fn require_root() {
    assert!(
        is_root(),
        "this test needs root (it chroots into container root file systems, mknods \
         /dev/null and chowns files): run it as root, as CI does"
    );
}

/// The older spelling of [`require_root`], kept for the files that still call it: it
/// never skips — it fails the test when not root, and returns false otherwise.
pub fn skip() -> bool {
    require_root();
    false
}

fn image_rootfs(image: &str) -> PathBuf {
    static RT: OnceLock<(tempfile::TempDir, ferry_cluster::runtime::Runtime)> = OnceLock::new();
    let (_, rt) = RT.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let rt = ferry_cluster::runtime::Runtime::open(d.path(), "ferry-remote-tests").unwrap();
        (d, rt)
    });
    rt.resolve_image(image).unwrap().rootfs
}

/// A private copy of an image's root file system.
pub struct Rootfs {
    _dir: tempfile::TempDir,
    /// The root file system on the host.
    pub path: PathBuf,
    /// The image name.
    pub image: String,
}

impl Rootfs {
    /// Copies `image` ("busybox", "debian", "busybox:notar", "debian:notar",
    /// "debian:inotify"), adds `/dev/null` and an empty world-writable `/app` (like an
    /// emptyDir).
    pub fn new(image: &str) -> Rootfs {
        let src = image_rootfs(image);
        let dir = tempfile::Builder::new()
            .prefix("ferry-remote-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("rootfs");
        let st = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success(), "copying {}", src.display());
        let null = path.join("dev/null");
        let _ = std::fs::remove_file(&null);
        let st = Command::new("mknod")
            .args(["-m", "666"])
            .arg(&null)
            .args(["c", "1", "3"])
            .status()
            .unwrap();
        assert!(st.success(), "mknod /dev/null");
        let app = path.join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o777)).unwrap();
        Rootfs {
            _dir: dir,
            path,
            image: image.to_string(),
        }
    }

    /// The host path of a container path.
    pub fn host(&self, container_path: &str) -> PathBuf {
        self.path.join(container_path.trim_start_matches('/'))
    }

    /// The host path of a path below the sync folder.
    pub fn app(&self, rel: &str) -> PathBuf {
        self.host(ROOT).join(rel)
    }

    /// A shell chrooted into this root file system, as root.
    pub fn shell(&self) -> LocalShell {
        LocalShell::new().chroot(&self.path)
    }

    /// A session on `/app` as root.
    pub async fn session(&self) -> Session {
        self.session_with(self.shell(), SessionOptions::default())
            .await
    }

    /// A session on `/app` through `shell`.
    pub async fn session_with(&self, shell: LocalShell, opts: SessionOptions) -> Session {
        Session::start(&shell, ROOT, opts)
            .await
            .unwrap_or_else(|e| panic!("starting a session in {}: {e}", self.image))
    }

    /// Runs a shell command in the root file system (as root) and returns its stdout.
    pub fn sh(&self, script: &str) -> String {
        let out = Command::new("chroot")
            .arg(&self.path)
            .args(["sh", "-c", script])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Pids and command lines of the processes whose root is this file system.
    pub fn processes(&self) -> Vec<(u32, String)> {
        let me = std::fs::canonicalize(&self.path).unwrap();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(root) = std::fs::read_link(e.path().join("root")) else {
                continue;
            };
            if root != me {
                continue;
            }
            // A zombie is gone for our purposes.
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            if stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'))
            {
                continue;
            }
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            out.push((pid, cmd.chars().take(80).collect()));
        }
        out
    }

    /// Waits up to `limit` for every process in this root file system to be gone.
    pub async fn wait_no_processes(&self, limit: Duration) -> Vec<(u32, String)> {
        let t = Instant::now();
        loop {
            let p = self.processes();
            if p.is_empty() || t.elapsed() > limit {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The owner uid of a host path.
pub fn owner(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().uid()
}

/// Names that must survive the trip untouched and run nothing.
pub fn hostile_names() -> Vec<String> {
    let long = format!("{}/{}", "d".repeat(60), "f".repeat(70));
    vec![
        "with space".into(),
        " leading and trailing ".into(),
        "quote'single".into(),
        "quote\"double".into(),
        "$(touch /tmp/pwned)".into(),
        "`touch /tmp/pwned2`".into(),
        "back\\slash".into(),
        "unicodé ✓ 日本".into(),
        "-leading-dash".into(),
        "--help".into(),
        "star*and?[x]".into(),
        "semi;colon&amp|pipe".into(),
        "tab\tname".into(),
        "percent%s%n".into(),
        long,
        format!("{}/{}/{}", "a".repeat(90), "b".repeat(90), "c".repeat(90)),
    ]
}

/// A [`LocalShell`] whose session script starts with `prelude`: shell functions defined
/// there take the place of the container's tools of the same name (in busybox ash as in
/// dash, a function wins over a built-in applet, which a wrapper earlier in `PATH`
/// cannot do). For tests that need a tool to fail or lie in a precise way.
pub struct Prelude {
    /// The shell that runs the script.
    pub shell: LocalShell,
    /// Shell text put before the session script.
    pub prelude: String,
}

impl Launcher for Prelude {
    fn launch(&self, mut argv: Vec<String>) -> BoxFuture<'_, Result<RemoteProcess, LaunchError>> {
        if argv.len() > 2 && argv[0] == "sh" && argv[1] == "-c" {
            argv[2] = format!("{}\n{}", self.prelude, argv[2]);
        }
        self.shell.launch(argv)
    }

    fn describe(&self) -> String {
        format!("{} (with a test prelude)", self.shell.describe())
    }
}

/// Downloads `paths` into memory, any size accepted; the session must stay usable.
pub async fn download_all(s: &mut Session, paths: &[RelPath]) -> (Download, MemorySink) {
    let mut sink = MemorySink::default();
    let d = s
        .download(paths, &|_| Some(u64::MAX), &mut sink)
        .await
        .unwrap_or_else(|e| panic!("downloading {paths:?}: {e}"));
    (d, sink)
}

/// Runs the ignored test `name` of this test binary in a child process under `prlimit
/// --as=LIMIT` (an address-space limit), with the environment variable `marker` set so
/// the child knows it runs there.
pub fn under_prlimit(name: &str, limit: u64, marker: &str) -> std::process::Output {
    Command::new("prlimit")
        .arg(format!("--as={limit}"))
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(marker, "1")
        .output()
        .expect("prlimit (util-linux) runs")
}
