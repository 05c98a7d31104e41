//! The persisted index of each sync path: `.ferry/index/<name>.json`.
//!
//! The file records which local folder and container folder the index belongs to, and
//! the container's [`Identity`] (its marker) at the time; an index written for another
//! pair of folders (the config changed) is not used. Whether the index may be trusted is
//! decided by [`super::identity::judge`]: this module only keeps it. A missing or
//! unreadable index only means a first-start initial sync, so errors here are logged,
//! never fatal. Writes are atomic (see [`crate::state::write_atomic`]).
//!
//! Format version 2 adds `identity`; version 1 files (written before container markers)
//! are still read, with no identity, so they are never trusted.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::Index;

use super::identity::Identity;

/// Version of the file format.
const INDEX_VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    version: u32,
    local_path: String,
    container_path: String,
    #[serde(default)]
    identity: Option<Identity>,
    index: Index,
    /// The index's racy paths (see [`crate::core::index`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    racy: Vec<crate::core::RelPath>,
}

/// A persisted index with the identity of the container folder it was made with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredIndex {
    /// The last agreed state.
    pub index: Index,
    /// The container folder's identity when it was saved (`None`: written before
    /// container markers existed).
    pub identity: Option<Identity>,
}

/// Where one sync path's index lives, and what it belongs to.
#[derive(Clone, Debug)]
pub struct IndexStore {
    file: PathBuf,
    local_path: String,
    container_path: String,
    /// The bytes last written to `file`, if that write succeeded (shared by clones).
    written: std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>,
}

/// A file name for `name` (sync path names may hold `/` and `#`).
fn file_name(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{out}.json")
}

impl IndexStore {
    /// The store of sync path `name` in the state folder `state_dir`, for the local
    /// folder `local_path` and the container folder `container_path` (as resolved in
    /// the container).
    pub fn new(state_dir: &Path, name: &str, local_path: &Path, container_path: &str) -> Self {
        IndexStore {
            file: state_dir.join("index").join(file_name(name)),
            local_path: local_path.display().to_string(),
            container_path: container_path.to_string(),
            written: Default::default(),
        }
    }

    /// The file the index is kept in.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The persisted index, if there is one for this pair of folders.
    pub fn load(&self) -> Option<StoredIndex> {
        let bytes = match std::fs::read(&self.file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(
                    "cannot read {}: {e}; starting without an index",
                    self.file.display()
                );
                return None;
            }
        };
        match serde_json::from_slice::<Stored>(&bytes) {
            Ok(s)
                if (s.version == INDEX_VERSION || s.version == 1)
                    && s.local_path == self.local_path
                    && s.container_path == self.container_path =>
            {
                let mut index = s.index;
                for p in &s.racy {
                    index.set_racy(p, true);
                }
                Some(StoredIndex {
                    index,
                    identity: if s.version == 1 { None } else { s.identity },
                })
            }
            Ok(_) => {
                tracing::info!(
                    "{} belongs to other folders or another format; starting without an index",
                    self.file.display()
                );
                None
            }
            Err(e) => {
                tracing::warn!(
                    "{} is damaged ({e}); starting without an index",
                    self.file.display()
                );
                None
            }
        }
    }

    /// Persists `index`, made with the container folder `identity`. Writes nothing when
    /// the file already holds exactly these bytes (an idle sync writes nothing).
    pub fn save(&self, index: &Index, identity: &Identity) -> std::io::Result<()> {
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let stored = Stored {
            version: INDEX_VERSION,
            local_path: self.local_path.clone(),
            container_path: self.container_path.clone(),
            identity: Some(identity.clone()),
            index: index.clone(),
            racy: index.racy().iter().cloned().collect(),
        };
        let json = serde_json::to_vec(&stored).map_err(std::io::Error::other)?;
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if written.as_deref() == Some(&json[..]) && self.file.exists() {
            return Ok(());
        }
        *written = None;
        crate::state::write_atomic(&self.file, &json)?;
        *written = Some(json);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Entry, RelPath, Snapshot};

    #[test]
    fn round_trip_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let store = IndexStore::new(dir.path(), "web/app#1", Path::new("/w"), "/app");
        assert!(store.load().is_none());
        let mut snap = Snapshot::new();
        snap.insert(RelPath::new("a.txt").unwrap(), Entry::file(3, 1_000));
        let mut index = Index::from_snapshot(snap);
        index.set_racy(&RelPath::new("a.txt").unwrap(), true);
        let identity = Identity::Marker {
            token: "t".into(),
            generation: 3,
            root_inode: None,
        };
        store.save(&index, &identity).unwrap();
        assert_eq!(
            store.load(),
            Some(StoredIndex {
                index: index.clone(),
                identity: Some(identity.clone())
            })
        );
        assert!(store.path().ends_with("web%2Fapp%231.json"));
        // The same index again writes nothing; a changed one is written.
        use std::os::unix::fs::MetadataExt;
        let ino = || std::fs::metadata(store.path()).unwrap().ino();
        let first = ino();
        store.save(&index, &identity).unwrap();
        assert_eq!(ino(), first, "an unchanged index is not rewritten");
        let mut changed = index.clone();
        changed.set_racy(&RelPath::new("a.txt").unwrap(), false);
        store.save(&changed, &identity).unwrap();
        assert_ne!(ino(), first, "a changed index is written");
        store.save(&index, &identity).unwrap();
        // Deleted behind ferry's back: written again, even unchanged.
        std::fs::remove_file(store.path()).unwrap();
        store.save(&index, &identity).unwrap();
        assert!(
            store.path().exists(),
            "a deleted index file is written again"
        );
        let other = IndexStore::new(dir.path(), "web/app#1", Path::new("/w"), "/srv");
        assert!(
            other.load().is_none(),
            "an index of another container folder is not used"
        );
        // An index from before container markers: read, but with no identity.
        index.set_racy(&RelPath::new("a.txt").unwrap(), false);
        let v1 = serde_json::json!({"version": 1, "localPath": "/w", "containerPath": "/app", "index": index});
        std::fs::write(store.path(), serde_json::to_vec(&v1).unwrap()).unwrap();
        assert_eq!(
            store.load(),
            Some(StoredIndex {
                index,
                identity: None
            })
        );
    }
}
