//! ConfigMap and Secret volumes: which files a volume holds ([`files`], pure) and how
//! they are written ([`write`]) — in the kubelet's layout, so programs that watch them
//! see what they see on a real node: the files live in a timestamped folder
//! `..2026_01_02_03_04_05.N`, `..data` links to it and each top-level name links into
//! `..data`; an update writes a new folder and swaps `..data` with one rename.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::pod_env::Source;

/// A `configMap:` or `secret:` volume of a pod spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigVolume {
    pub source: Source,
    /// The ConfigMap's or Secret's name.
    pub object: String,
    /// `items`: key → (relative path, mode); all keys when absent.
    pub items: Option<Vec<(String, String, Option<u32>)>>,
    pub default_mode: u32,
    pub optional: bool,
}

impl ConfigVolume {
    /// The volume's config source, if it is a ConfigMap or Secret volume.
    pub fn parse(v: &Value) -> Option<ConfigVolume> {
        let (source, spec, name_field) = if v["configMap"].is_object() {
            (Source::ConfigMap, &v["configMap"], "name")
        } else if v["secret"].is_object() {
            (Source::Secret, &v["secret"], "secretName")
        } else {
            return None;
        };
        let items = spec["items"].as_array().map(|a| {
            a.iter()
                .map(|i| {
                    (
                        i["key"].as_str().unwrap_or("").to_string(),
                        i["path"].as_str().unwrap_or("").to_string(),
                        i["mode"].as_u64().map(|m| m as u32),
                    )
                })
                .collect()
        });
        Some(ConfigVolume {
            source,
            object: spec[name_field].as_str().unwrap_or("").to_string(),
            items,
            default_mode: spec["defaultMode"].as_u64().map_or(0o644, |m| m as u32),
            optional: spec["optional"].as_bool() == Some(true),
        })
    }

    fn kind_lower(&self) -> &'static str {
        match self.source {
            Source::ConfigMap => "configmap",
            Source::Secret => "secret",
        }
    }
}

/// One file of a volume: path relative to the volume, bytes, mode.
pub type File = (PathBuf, Vec<u8>, u32);

/// The files `vol` holds given its object's entries (`None`: the object does not exist).
/// Errors are the kubelet's mount errors.
pub fn files(
    vol: &ConfigVolume,
    entries: Option<&BTreeMap<String, Vec<u8>>>,
) -> Result<Vec<File>, String> {
    let Some(entries) = entries else {
        if vol.optional {
            return Ok(Vec::new());
        }
        return Err(format!("{} \"{}\" not found", vol.kind_lower(), vol.object));
    };
    let Some(items) = &vol.items else {
        return Ok(entries
            .iter()
            .map(|(k, v)| (PathBuf::from(k), v.clone(), vol.default_mode))
            .collect());
    };
    let mut out = Vec::new();
    for (key, path, mode) in items {
        let rel = Path::new(path);
        let safe = !path.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(format!(
                "invalid path {path:?} for key {key}: must be relative and may not contain '..'"
            ));
        }
        match entries.get(key) {
            Some(v) => out.push((
                rel.to_path_buf(),
                v.clone(),
                mode.unwrap_or(vol.default_mode),
            )),
            None if vol.optional => {}
            None => {
                return Err(format!(
                    "{} references non-existent config key: {key}",
                    vol.kind_lower()
                ))
            }
        }
    }
    Ok(out)
}

fn timestamp_dir_name() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "..{:04}_{:02}_{:02}_{:02}_{:02}_{:02}.{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.nanosecond()
    )
}

/// Writes `files` into the volume folder `dir` in the kubelet's layout, replacing what an
/// earlier write left.
pub fn write(dir: &Path, files: &[File]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let ts = timestamp_dir_name();
    let staged = dir.join(&ts);
    std::fs::create_dir(&staged)?;
    for (rel, bytes, mode) in files {
        let path = staged.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode & 0o7777))?;
    }
    // Swap `..data` with one rename, then drop older timestamped folders.
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&ts, &tmp)?;
    std::fs::rename(&tmp, dir.join("..data"))?;
    let mut tops: Vec<String> = files
        .iter()
        .filter_map(|(rel, _, _)| rel.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    tops.sort();
    tops.dedup();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") {
            if name != ts && name != "..data" {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        } else if !tops.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    for top in tops {
        let link = dir.join(&top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(&top), &link)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries() -> BTreeMap<String, Vec<u8>> {
        [("a.conf", "A"), ("b.conf", "B")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn parses_both_volume_kinds() {
        let cm = ConfigVolume::parse(&json!({"name": "v", "configMap": {"name": "app",
            "items": [{"key": "a.conf", "path": "conf/a", "mode": 0o600}], "defaultMode": 0o640}}))
        .unwrap();
        assert_eq!(cm.source, Source::ConfigMap);
        assert_eq!(cm.object, "app");
        assert_eq!(cm.default_mode, 0o640);
        assert_eq!(
            cm.items,
            Some(vec![("a.conf".into(), "conf/a".into(), Some(0o600))])
        );
        let s = ConfigVolume::parse(
            &json!({"name": "v", "secret": {"secretName": "creds", "optional": true}}),
        )
        .unwrap();
        assert_eq!(
            (s.source, s.object.as_str(), s.optional, s.default_mode),
            (Source::Secret, "creds", true, 0o644)
        );
        assert!(ConfigVolume::parse(&json!({"name": "v", "emptyDir": {}})).is_none());
    }

    #[test]
    fn files_follow_items_and_fail_like_the_kubelet() {
        let mut v = ConfigVolume::parse(&json!({"configMap": {"name": "app"}})).unwrap();
        let all = files(&v, Some(&entries())).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(files(&v, None).unwrap_err(), "configmap \"app\" not found");
        v.items = Some(vec![("b.conf".into(), "sub/b".into(), None)]);
        let one = files(&v, Some(&entries())).unwrap();
        assert_eq!(one, [(PathBuf::from("sub/b"), b"B".to_vec(), 0o644)]);
        v.items = Some(vec![("nope".into(), "x".into(), None)]);
        assert_eq!(
            files(&v, Some(&entries())).unwrap_err(),
            "configmap references non-existent config key: nope"
        );
        for bad in ["../x", "/etc/x", "a/../../x", ""] {
            v.items = Some(vec![("a.conf".into(), bad.into(), None)]);
            assert!(files(&v, Some(&entries())).is_err(), "{bad}");
        }
        v.optional = true;
        assert_eq!(files(&v, None).unwrap(), []);
    }

    #[test]
    fn write_uses_the_kubelet_layout_and_replaces_old_contents() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let v1: Vec<File> = vec![
            ("a.conf".into(), b"1".to_vec(), 0o600),
            ("sub/b".into(), b"2".to_vec(), 0o644),
        ];
        write(d, &v1).unwrap();
        assert_eq!(std::fs::read(d.join("a.conf")).unwrap(), b"1");
        assert_eq!(std::fs::read(d.join("sub/b")).unwrap(), b"2");
        assert_eq!(
            std::fs::read_link(d.join("a.conf")).unwrap(),
            Path::new("..data/a.conf")
        );
        let target = std::fs::read_link(d.join("..data")).unwrap();
        assert!(target.to_string_lossy().starts_with("..20"), "{target:?}");
        let mode = std::fs::metadata(d.join("a.conf"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        std::thread::sleep(std::time::Duration::from_millis(2));
        write(d, &[("a.conf".into(), b"new".to_vec(), 0o644)]).unwrap();
        assert_eq!(std::fs::read(d.join("a.conf")).unwrap(), b"new");
        assert!(
            std::fs::symlink_metadata(d.join("sub")).is_err(),
            "stale link removed"
        );
        let dots: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("..20"))
            .collect();
        assert_eq!(dots.len(), 1, "{dots:?}");
    }
}
