//! Making local writes durable before anything records them.
//!
//! Downloaded files are written to a temporary file and renamed into place without an
//! `fsync` each (that would cost milliseconds per file). Before the engine saves an index
//! that records downloads, [`flush_file_system`] asks the kernel to write out everything
//! pending on the sync folder's file system (`syncfs`, one call for any number of files),
//! so that a power loss cannot leave an index claiming a file that never reached the disk.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Writes out every pending change of the file system that holds `path` (Linux
/// `syncfs`; elsewhere `sync`).
pub fn flush_file_system(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    #[cfg(target_os = "linux")]
    {
        // SAFETY: the descriptor is valid for the duration of the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir.as_raw_fd();
        // SAFETY: sync has no preconditions.
        unsafe { libc::sync() };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn flushing_a_folder_works_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        super::flush_file_system(dir.path()).unwrap();
        assert!(super::flush_file_system(&dir.path().join("missing")).is_err());
    }
}
