//! The container marker's home: which folder may hold ferry's marker for a sync folder
//! ([`choose`], pure over the `place` reply), and the marker itself ([`Mark`], the `mark`
//! reply).
//!
//! # Why the place matters
//!
//! The marker tells ferry whether the container folder is still the one its index was made
//! with. It must live and die with the folder's contents: on the **same mount** as the
//! folder. A marker in `/tmp` on an `emptyDir` would survive a container restart that
//! reset a folder on the root file system (and then a stale index would read the reset
//! as "everything was deleted"); a marker on the root file system beside a folder that is
//! a volume would be lost on every restart (ferry would merely distrust the folder, which
//! is safe).
//!
//! So a candidate qualifies when it is writable, has the folder's device number, and —
//! when `/proc/self/mountinfo` can be read — belongs to the same mount (bind mounts share
//! device numbers: two `emptyDir`s of a pod, or an `emptyDir` and a copied root file
//! system, can have equal `st_dev`). Without the mount table, only the folder's parent
//! and the folder itself qualify: an ancestor cannot outlive the folder's file system in
//! the dangerous direction, `$HOME` and `/tmp` could. The order of preference: the
//! parent, `$HOME`, `/tmp` (out of the user's folder), then the folder itself (its
//! `.ferry/` is always excluded from the sync).
//!
//! The marker folder is `PLACE/.ferry/KEY` with `KEY` the container folder's absolute path
//! escaped into one file name ([`marker_dir`]), so one place serves many sync folders.

/// One folder the `place` command reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// `root` (the sync folder itself), `parent`, `home` or `tmp`.
    pub name: String,
    /// Whether the container's user may create `.ferry/` there.
    pub writable: bool,
    /// Its device number (`stat -c %d`).
    pub dev: u64,
    /// Its physical path (`pwd -P`).
    pub path: String,
}

/// One line of `/proc/self/mountinfo`, as far as ferry needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The mount's id (first field).
    pub id: u64,
    /// Where it is mounted, unescaped.
    pub mount_point: String,
}

/// The `place` reply: the sync folder, the candidates, and the mount table if readable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlaceReport {
    /// `root` first, then the candidates in the order the container checked them.
    pub candidates: Vec<Candidate>,
    /// The container's mounts (`None`: `/proc/self/mountinfo` could not be read).
    pub mounts: Option<Vec<Mount>>,
}

/// Parses a `place` reply body. Lines that are not understood are an error (the
/// container is not trusted to say anything else).
pub(crate) fn parse_places(body: &[u8]) -> Result<PlaceReport, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the place reply is not UTF-8")?;
    let mut out = PlaceReport::default();
    let mut mounts = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("P ") {
            let mut f = rest.splitn(4, ' ');
            let (Some(name), Some(w), Some(dev), Some(path)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(format!("bad place line {line:?}"));
            };
            let dev = dev.parse().map_err(|_| format!("bad device in {line:?}"))?;
            if !path.starts_with('/') {
                return Err(format!("relative path in {line:?}"));
            }
            out.candidates.push(Candidate {
                name: name.to_string(),
                writable: w == "1",
                dev,
                path: path.to_string(),
            });
        } else if let Some(rest) = line.strip_prefix("M ") {
            // A line we cannot read makes the whole table unusable (never half-trusted).
            match parse_mountinfo_line(rest) {
                Some(m) => mounts.push(m),
                None => return Err(format!("bad mountinfo line {rest:?}")),
            }
        } else if !line.is_empty() {
            return Err(format!("unexpected place line {line:?}"));
        }
    }
    if !mounts.is_empty() {
        out.mounts = Some(mounts);
    }
    Ok(out)
}

/// `ID PARENT MAJ:MIN ROOT MOUNTPOINT …` → the id and the unescaped mount point.
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let mut f = line.split(' ');
    let id = f.next()?.parse().ok()?;
    let _parent = f.next()?;
    let _dev = f.next()?;
    let _root = f.next()?;
    let mount_point = unescape_octal(f.next()?)?;
    if !mount_point.starts_with('/') {
        return None;
    }
    Some(Mount { id, mount_point })
}

/// Undoes the kernel's `\ooo` escapes (space, tab, newline, backslash) in mountinfo.
fn unescape_octal(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let digits = b.get(i + 1..i + 4)?;
            if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                return None;
            }
            let v = digits
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(u8::try_from(v).ok()?);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The mount `path` (physical, absolute) lies on: the longest mount point that is
/// `path` or one of its ancestors; of equal ones the last (mounted over the others).
pub fn mount_of<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    let covers = |mp: &str| {
        mp == "/"
            || path == mp
            || (path.starts_with(mp) && path.as_bytes().get(mp.len()) == Some(&b'/'))
    };
    let mut best: Option<&Mount> = None;
    for m in mounts {
        if covers(&m.mount_point) && best.is_none_or(|b| m.mount_point.len() >= b.mount_point.len())
        {
            best = Some(m);
        }
    }
    best
}

/// The folder that may hold the marker of the sync folder (see the module docs), or
/// `None` when no candidate qualifies (then ferry falls back to the pod's identity).
pub fn choose(report: &PlaceReport) -> Option<&Candidate> {
    let root = report.candidates.iter().find(|c| c.name == "root")?;
    let root_mount = report
        .mounts
        .as_deref()
        .map(|m| mount_of(m, &root.path).map(|m| m.id));
    let qualifies = |c: &Candidate| {
        if !c.writable || c.dev != root.dev {
            return false;
        }
        match (&report.mounts, root_mount) {
            (Some(mounts), Some(Some(root_id))) => {
                mount_of(mounts, &c.path).map(|m| m.id) == Some(root_id)
            }
            // Without a usable mount table: only what cannot outlive the folder.
            _ => c.name == "parent" || c.name == "root",
        }
    };
    ["parent", "home", "tmp", "root"]
        .iter()
        .filter_map(|n| report.candidates.iter().find(|c| &c.name == n))
        .find(|c| qualifies(c))
}

/// `PLACE/.ferry/KEY`: the marker folder of the container folder `root` in `place`.
pub fn marker_dir(place: &str, root: &str) -> String {
    let mut key = String::new();
    for b in root.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            key.push(b as char);
        } else {
            key.push_str(&format!("%{b:02X}"));
        }
    }
    if key.is_empty() || key.starts_with('.') {
        key.insert(0, '_');
    }
    format!("{}/.ferry/{key}", place.trim_end_matches('/'))
}

/// The `mark` reply: the marker as it was, and whether it was moved on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The marker's token (`None`: there was no valid marker and none was written).
    pub token: Option<String>,
    /// The generation found (0: no valid marker).
    pub before: u64,
    /// The generation now (equal to `before` when nothing was written).
    pub after: u64,
    /// The sync folder's inode number (a folder removed and made anew gets another).
    pub root_inode: Option<u64>,
    /// Why writing failed, if it did.
    pub error: Option<String>,
}

impl Mark {
    /// Whether the marker now holds a generation this session wrote.
    pub fn written(&self) -> bool {
        self.after > self.before && self.token.is_some()
    }
}

/// Whether a token is one ferry could have made (the container is not trusted).
pub(crate) fn valid_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Parses a `mark` reply body.
pub(crate) fn parse_mark(body: &[u8]) -> Result<Mark, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the mark reply is not UTF-8")?;
    let mut lines = text.lines();
    let first = lines.next().ok_or("empty mark reply")?;
    let f: Vec<&str> = first.split(' ').collect();
    let ["K", token, before, after, inode] = f.as_slice() else {
        return Err(format!("bad mark line {first:?}"));
    };
    let num = |s: &str| -> Result<u64, String> {
        s.parse::<u64>()
            .ok()
            .filter(|n| *n < 1_000_000_000_000_000)
            .ok_or_else(|| format!("bad number in {first:?}"))
    };
    let (before, after) = (num(before)?, num(after)?);
    let token = (*token != "-").then(|| token.to_string());
    if token.as_deref().is_some_and(|t| !valid_token(t)) {
        return Err(format!("bad token in {first:?}"));
    }
    if after != before && after != before + 1 {
        return Err(format!("impossible generations in {first:?}"));
    }
    let error = lines
        .find_map(|l| l.strip_prefix("E "))
        .map(|m| m.trim().to_string());
    Ok(Mark {
        token,
        before,
        after,
        root_inode: inode.parse().ok(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(cands: &[(&str, bool, u64, &str)], mounts: Option<&[(u64, &str)]>) -> PlaceReport {
        PlaceReport {
            candidates: cands
                .iter()
                .map(|(n, w, d, p)| Candidate {
                    name: n.to_string(),
                    writable: *w,
                    dev: *d,
                    path: p.to_string(),
                })
                .collect(),
            mounts: mounts.map(|m| {
                m.iter()
                    .map(|(id, mp)| Mount {
                        id: *id,
                        mount_point: mp.to_string(),
                    })
                    .collect()
            }),
        }
    }

    #[test]
    fn the_parent_on_the_same_mount_is_preferred() {
        let r = report(
            &[
                ("root", true, 5, "/app"),
                ("parent", true, 5, "/"),
                ("home", true, 5, "/root"),
                ("tmp", true, 5, "/tmp"),
            ],
            Some(&[(1, "/"), (2, "/proc")]),
        );
        assert_eq!(choose(&r).unwrap().name, "parent");
    }

    #[test]
    fn a_volume_folder_keeps_its_marker_inside() {
        // /app is an emptyDir bind mount: same device as the root file system.
        let r = report(
            &[
                ("root", true, 5, "/app"),
                ("parent", true, 5, "/"),
                ("tmp", true, 5, "/tmp"),
            ],
            Some(&[(1, "/"), (7, "/app")]),
        );
        assert_eq!(choose(&r).unwrap().name, "root");
    }

    #[test]
    fn tmp_on_a_volume_never_holds_the_marker_of_a_root_fs_folder() {
        // /app on the root file system (not writable beside), /tmp an emptyDir.
        let r = report(
            &[
                ("root", true, 5, "/app"),
                ("parent", false, 5, "/"),
                ("tmp", true, 5, "/tmp"),
            ],
            Some(&[(1, "/"), (9, "/tmp")]),
        );
        assert_eq!(choose(&r).unwrap().name, "root");
        // Without a mount table /tmp is never chosen, even with the same device.
        let r = report(
            &[
                ("root", true, 5, "/app"),
                ("parent", false, 5, "/"),
                ("tmp", true, 5, "/tmp"),
            ],
            None,
        );
        assert_eq!(choose(&r).unwrap().name, "root");
    }

    #[test]
    fn other_devices_and_read_only_folders_do_not_qualify() {
        let r = report(
            &[
                ("root", false, 5, "/app"),
                ("parent", true, 6, "/"),
                ("tmp", false, 5, "/tmp"),
            ],
            Some(&[(1, "/")]),
        );
        assert_eq!(choose(&r), None);
    }

    #[test]
    fn mounts_are_matched_by_whole_components_and_the_last_wins() {
        let m = [
            Mount {
                id: 1,
                mount_point: "/".into(),
            },
            Mount {
                id: 2,
                mount_point: "/app".into(),
            },
            Mount {
                id: 3,
                mount_point: "/app".into(),
            },
        ];
        assert_eq!(mount_of(&m, "/app/x").unwrap().id, 3);
        assert_eq!(mount_of(&m, "/application").unwrap().id, 1);
        assert_eq!(mount_of(&m, "/").unwrap().id, 1);
    }

    #[test]
    fn place_replies_parse_and_garbage_is_refused() {
        let body = b"P root 1 66 /srv/my app\nP tmp 0 66 /tmp\nM 25 1 0:22 / /srv/my\\040app rw - tmpfs x rw\nM 1 0 8:1 / / rw - ext4 /dev/x rw\n";
        let r = parse_places(body).unwrap();
        assert_eq!(r.candidates[0].path, "/srv/my app");
        assert!(!r.candidates[1].writable);
        let mounts = r.mounts.unwrap();
        assert_eq!(mounts[0].mount_point, "/srv/my app");
        assert!(parse_places(b"hello\n").is_err());
        assert!(parse_places(b"M 1 0 8:1 / rel rw\n").is_err());
        assert!(parse_places(b"P root 1 x /app\n").is_err());
    }

    #[test]
    fn marker_dirs_are_one_safe_name() {
        assert_eq!(marker_dir("/", "/app"), "/.ferry/app");
        assert_eq!(
            marker_dir("/tmp", "/srv/my app"),
            "/tmp/.ferry/srv%2Fmy%20app"
        );
        assert_eq!(marker_dir("/x/", "/"), "/x/.ferry/_");
        assert_eq!(marker_dir("/x", "/.hidden"), "/x/.ferry/_.hidden");
    }

    #[test]
    fn mark_replies_parse_and_lies_are_refused() {
        let m = parse_mark(b"K abc123 4 5 77\n").unwrap();
        assert_eq!(
            (m.token.as_deref(), m.before, m.after, m.root_inode),
            (Some("abc123"), 4, 5, Some(77))
        );
        assert!(m.written());
        let m = parse_mark(b"K - 0 0 77\nE mkdir: Permission denied\n").unwrap();
        assert!(!m.written());
        assert_eq!(m.error.as_deref(), Some("mkdir: Permission denied"));
        assert!(parse_mark(b"K a$b 1 2 3\n").is_err());
        assert!(parse_mark(b"K abc 1 7 3\n").is_err());
        assert!(parse_mark(b"K abc 99999999999999999999 1 3\n").is_err());
        assert!(parse_mark(b"ok\n").is_err());
    }
}
