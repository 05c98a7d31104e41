//! Operating-system helpers for the runtime: finding `runc`, pidfds, memfds, reading
//! runc's state and logs, and finding and removing processes and cgroups.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Environment variable that overrides where `runc` is.
pub const RUNC_ENV: &str = "FERRY_CLUSTER_RUNC";

/// `$FERRY_CLUSTER_RUNC`, else the first `runc` in `$PATH` or in the usual system folders.
pub(crate) fn find_runc() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(RUNC_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
            .iter()
            .map(PathBuf::from),
        )
        .map(|d| d.join("runc"))
        .find(|p| p.is_file())
}

/// A pidfd: signals the process it was opened for, never a later process with a
/// recycled pid.
#[derive(Debug)]
pub(crate) struct Pidfd(OwnedFd);

impl Pidfd {
    pub(crate) fn open(pid: u32) -> io::Result<Pidfd> {
        // SAFETY: plain syscall; on success it returns a new file descriptor we own.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        Ok(Pidfd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    pub(crate) fn signal(&self, signal: i32) -> io::Result<()> {
        // SAFETY: plain syscall on a descriptor we own; null siginfo is allowed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// An anonymous in-memory file (close-on-exec) holding `data`, read from offset 0 by
/// whoever opens `/proc/self/fd/<fd>`.
pub(crate) fn memfd_with(name: &str, data: &[u8]) -> io::Result<OwnedFd> {
    let cname = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))?;
    // SAFETY: valid C string; returns a new descriptor or -1.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = fs::File::from(fd);
    io::Write::write_all(&mut file, data)?;
    Ok(OwnedFd::from(file))
}

/// The error messages in a runc JSON log (`--log-format json`), joined; `None` if none.
pub(crate) fn errors_in_log(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let msgs: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
        .filter_map(|v| v["msg"].as_str().map(String::from))
        .collect();
    (!msgs.is_empty()).then(|| msgs.join("; "))
}

/// The pid in a pid file written by runc (complete once it exists: runc renames it into
/// place).
pub(crate) fn read_pid_file(path: &Path) -> Option<u32> {
    fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

/// The cgroup folders runc recorded for a container (`cgroup_paths` in its `state.json`).
pub(crate) fn cgroup_paths(state_json: &Path) -> Vec<PathBuf> {
    let Ok(data) = fs::read(state_json) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
        return Vec::new();
    };
    v["cgroup_paths"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|p| p.as_str())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `dir` looks like a cluster's cgroup parent that this runtime created:
/// `/sys/fs/cgroup/…/ferry-cluster/<cluster id>`. Guards every kill and rmdir below.
pub(crate) fn is_cluster_cgroup_parent(dir: &Path) -> bool {
    dir.starts_with("/sys/fs/cgroup")
        && !dir
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        && dir
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == super::CGROUP_PARENT)
        && dir.file_name().is_some()
}

/// Pids in the cgroup `dir` and all cgroups below it.
fn cgroup_tree_pids(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
            pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if let Ok(entries) = fs::read_dir(&d) {
            stack.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    pids
}

/// SIGKILLs every process in the cluster cgroup parent `dir` (see
/// [`is_cluster_cgroup_parent`]), waits for them to go (up to 5 s), then removes the
/// cgroups below it, `dir` itself and its `ferry-cluster` parent if that is now empty.
/// Returns how many processes it killed. Missing folders are fine.
pub(crate) fn remove_cluster_cgroup(dir: &Path) -> usize {
    if !is_cluster_cgroup_parent(dir) || !dir.is_dir() {
        return 0;
    }
    let mut killed = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = cgroup_tree_pids(dir);
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        for pid in pids {
            // SAFETY: plain kill(2) of a pid that is in this cluster's own cgroup.
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Depth-first: children before parents.
    let mut dirs = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(entries) = fs::read_dir(&d) {
            stack.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
        dirs.push(d);
    }
    for d in dirs.iter().rev() {
        let _ = fs::remove_dir(d);
    }
    if let Some(p) = dir.parent() {
        let _ = fs::remove_dir(p);
    }
    killed
}

/// Pids (other than this process) whose argument list holds `args` as consecutive
/// arguments, e.g. `["--root", "/d/runc"]`.
pub(crate) fn processes_with_args(args: &[&str]) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            argv.windows(needle.len()).any(|w| w == needle.as_slice())
        })
        .collect()
}

/// Whether process `pid` has exited (gone, or a zombie waiting to be reaped).
pub(crate) fn gone_or_zombie(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// Whether this machine runs the unified cgroup v2 hierarchy only.
pub(crate) fn cgroup_v2_only() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}
