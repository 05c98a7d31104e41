//! The workspace state folder `.ferry/` (never synced): who owns the workspace's sync
//! ([`lock`]), and small files written atomically for other processes to read
//! ([`write_atomic`]; the status file `ferry status` reads, the persisted index).

pub mod lock;

use std::io::Write;
use std::path::{Path, PathBuf};

/// The state folder's name, directly in the workspace root.
pub const STATE_DIR: &str = ".ferry";

/// `<workspace>/.ferry`, created if missing.
pub fn state_dir(workspace: &Path) -> std::io::Result<PathBuf> {
    let dir = workspace.join(STATE_DIR);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes `data` to `path` through a temporary file in the same folder, flushed to disk,
/// and a rename: a reader sees the old content or the new, never a mix, and a crash
/// leaves the old file intact. Each call has a temporary file of its own, so two writers
/// of the same file never take each other's.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["status.json"]);
    }
}
