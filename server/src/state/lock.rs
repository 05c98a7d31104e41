//! One owner per workspace: `ferry sync` and `ferry lsp` take `.ferry/lock` before they
//! touch the index. A second process is told who holds it and leaves everything alone.
//!
//! The lock is an advisory `flock` on `.ferry/lock`, held for the owner's lifetime and
//! released by the kernel when the process ends — even on a crash, so there is no stale
//! lock to clean up. The file's content describes the owner for the message a second
//! process prints.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Who holds a workspace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// What runs: `ferry sync`, `ferry lsp (VS Code)`, …
    pub command: String,
    /// Seconds since the Unix epoch.
    pub since: u64,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {})", self.command, self.pid)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("this workspace is already synced by {0}; stop it first, or let it sync (`ferry status` shows what it does)")]
    Held(Owner),
    #[error(
        "this workspace is already synced by another process (its lock file does not say which)"
    )]
    HeldUnknown,
    #[error("cannot lock {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// How long [`WorkspaceLock::acquire`] waits for a momentary holder (a `ferry status`
/// probe) before it reports the workspace as owned.
pub const PROBE_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// The held lock; dropping it releases the workspace.
#[derive(Debug)]
pub struct WorkspaceLock {
    file: File,
}

impl WorkspaceLock {
    /// Takes the lock of `state_dir` (the `.ferry` folder) for `command`, or says who
    /// holds it.
    pub fn acquire(state_dir: &Path, command: &str) -> Result<WorkspaceLock, LockError> {
        let path = state_dir.join("lock");
        let io = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // A `ferry status` probe holds the lock (shared) for a moment: try again briefly
        // before reporting an owner.
        let deadline = std::time::Instant::now() + PROBE_GRACE;
        let rc = loop {
            // SAFETY: flock on a file descriptor we own; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            let busy = rc != 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK);
            if !busy || std::time::Instant::now() >= deadline {
                break rc;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(match serde_json::from_str::<Owner>(&text) {
                    Ok(owner) => LockError::Held(owner),
                    Err(_) => LockError::HeldUnknown,
                });
            }
            return Err(io(err));
        }
        let owner = Owner {
            pid: std::process::id(),
            command: command.to_string(),
            since: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(serde_json::to_string(&owner).unwrap().as_bytes())
            .map_err(io)?;
        file.flush().map_err(io)?;
        Ok(WorkspaceLock { file })
    }

    /// Who owns the workspace of `state_dir`, without becoming its owner and without
    /// changing the lock file: `None` when nobody does. The probe holds a shared lock for
    /// a moment; an owner starting meanwhile waits for it (see [`PROBE_GRACE`]).
    pub fn holder(state_dir: &Path) -> Result<Option<Result<Owner, ()>>, LockError> {
        let path = state_dir.join("lock");
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LockError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(None);
        }
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        Ok(Some(serde_json::from_str::<Owner>(&text).map_err(|_| ())))
    }

    /// Releases the lock now (dropping does the same).
    pub fn release(self) {
        drop(self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_told_who_holds_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let first = WorkspaceLock::acquire(dir.path(), "ferry sync").unwrap();
        match WorkspaceLock::acquire(dir.path(), "ferry lsp") {
            Err(LockError::Held(owner)) => {
                assert_eq!(owner.command, "ferry sync");
                assert_eq!(owner.pid, std::process::id());
            }
            other => panic!("expected Held, got {other:?}"),
        }
        let msg = WorkspaceLock::acquire(dir.path(), "x")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("already synced by ferry sync (pid"), "{msg}");
        first.release();
        let again = WorkspaceLock::acquire(dir.path(), "ferry lsp").unwrap();
        drop(again);
    }

    #[test]
    fn the_lock_is_released_when_the_owner_process_dies() {
        let dir = tempfile::tempdir().unwrap();
        // A child process holds the lock (flock locks belong to open files, so a
        // separate process is the honest test), then exits.
        let script = format!(
            "exec 9>>'{}/lock'; flock -n 9 && echo locked && exec sleep 30",
            dir.path().display()
        );
        let mut child = std::process::Command::new("sh")
            .args(["-c", &script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "locked");
        assert!(matches!(
            WorkspaceLock::acquire(dir.path(), "ferry sync"),
            Err(LockError::HeldUnknown)
        ));
        child.kill().unwrap();
        child.wait().unwrap();
        WorkspaceLock::acquire(dir.path(), "ferry sync").unwrap();
    }
}
