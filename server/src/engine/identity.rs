//! Recognising the container folder: is it still the one the persisted index was made
//! with? Only then may the index drive deletions and overwrites (`docs/safety.md`).
//!
//! - [`observe`] (I/O): at the start of every session, before any transfer, the marker is
//!   read and moved on by one generation ([`crate::remote::place`] says where it lives).
//!   Where no marker can be kept, the container is known by its pod UID, container name
//!   and container ID ([`Identity::Pod`]).
//! - [`judge`] (pure): the identity recorded with the index against the one found, and
//!   whether both listings were complete, give a [`Verdict`].
//!
//! The index file records the identity the session *wrote* ([`Observed::now`]); the next
//! session must find exactly that. A marker with another token (another container or
//! volume), an older generation (a restored volume), a newer one (another client synced
//! the folder meanwhile), a folder made anew (another inode), no marker at all, or an
//! index from before markers existed: not recognised.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::remote::{place, Session, SessionError};

use super::connect::PodIdentity;

/// How a container folder is recognised; persisted with the index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Identity {
    /// The container marker.
    #[serde(rename_all = "camelCase")]
    Marker {
        /// Made by ferry when the marker was created.
        token: String,
        /// Moved on by one at each session start.
        generation: u64,
        /// The container folder's inode number, when known.
        root_inode: Option<u64>,
    },
    /// No marker could be kept: the pod and its container.
    #[serde(rename_all = "camelCase")]
    Pod {
        /// The pod's UID.
        pod_uid: String,
        /// The container's name.
        container: String,
        /// The running container's ID (`None` if the cluster does not report it: then
        /// the container is never recognised, since a restart could not be seen).
        container_id: Option<String>,
    },
}

/// What [`observe`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The container as it was when the session started (before the marker moved on),
    /// to compare with the index; `None`: no marker there (and one could be kept).
    pub found: Option<Identity>,
    /// What the index records from now on.
    pub now: Identity,
    /// Where the marker lives, or why none can be kept (for the log and `doctor`).
    pub place: Result<String, String>,
}

/// A fresh random token for a new marker.
fn new_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u32 {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.write_u32(std::process::id());
        h.write_u32(i);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Reads the container's marker for the folder `root` and, with `write`, moves it on (see
/// the module docs). Without a place for a marker (or when it cannot be written), the
/// pod's identity stands in.
pub async fn observe(
    session: &mut Session,
    pod: &PodIdentity,
    root: &str,
    write: bool,
) -> Result<Observed, SessionError> {
    let fallback = Identity::Pod {
        pod_uid: pod.pod_uid.clone(),
        container: pod.container.clone(),
        container_id: pod.container_id.clone(),
    };
    let report = session.places().await?;
    let Some(place) = place::choose(&report) else {
        return Ok(Observed {
            found: Some(fallback.clone()),
            now: fallback,
            place: Err(
                "no writable folder on the container folder's mount (its parent, $HOME, /tmp \
                 or the folder itself) for ferry's marker"
                    .into(),
            ),
        });
    };
    let dir = place::marker_dir(&place.path, root);
    let mark = session.mark(&dir, &new_token(), write).await?;
    let identity = |generation: u64| -> Option<Identity> {
        Some(Identity::Marker {
            token: mark.token.clone()?,
            generation,
            root_inode: mark.root_inode,
        })
    };
    let found = if mark.before > 0 {
        identity(mark.before)
    } else {
        None
    };
    if write && !mark.written() {
        // The marker cannot be kept up to date: recognising by it would miss a restored
        // volume. The pod's identity is all there is.
        let why = mark
            .error
            .clone()
            .unwrap_or_else(|| "it could not be written".into());
        return Ok(Observed {
            found: Some(fallback.clone()),
            now: fallback,
            place: Err(format!("the marker in {dir} cannot be kept: {why}")),
        });
    }
    let now = if write {
        identity(mark.after)
    } else {
        found.clone()
    };
    Ok(Observed {
        found,
        // A dry run that found no marker records nothing anyway; the fallback keeps the
        // type simple.
        now: now.unwrap_or(fallback),
        place: Ok(dir),
    })
}

/// Why the index cannot be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Distrust {
    /// There is no index yet (a first start): the strategy decides.
    NoIndex,
    /// The index was written by a ferry without container markers.
    OldIndex,
    /// The container holds no marker: a new, replaced or reset container.
    NoMarker,
    /// The marker was made for another sync (another container, volume or cluster).
    OtherMarker,
    /// The marker's generation is not the one recorded: older (a restored volume) or
    /// newer (another client synced the folder meanwhile).
    Generation {
        /// Recorded in the index.
        recorded: u64,
        /// Found in the container.
        found: u64,
    },
    /// The container folder was removed and made anew.
    FolderRecreated,
    /// Without a marker: another pod, or the container restarted.
    OtherPod,
    /// A listing could not read everything; what it missed is unknown.
    Incomplete(String),
    /// One side has nothing (outside the excludes) while the index has entries.
    Emptied(&'static str),
}

impl fmt::Display for Distrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distrust::NoIndex => f.write_str("first sync of this folder"),
            Distrust::OldIndex => {
                f.write_str("its index was written by a ferry without container markers")
            }
            Distrust::NoMarker => {
                f.write_str("no ferry marker in the container: a new, replaced or reset one")
            }
            Distrust::OtherMarker => {
                f.write_str("its marker belongs to another container, volume or cluster")
            }
            Distrust::Generation { recorded, found } if found < recorded => write!(
                f,
                "its marker is older than the index, generation {found} instead of \
                 {recorded}: a restored volume?"
            ),
            Distrust::Generation { recorded, found } => write!(
                f,
                "someone else synced it since, marker generation {found} instead of \
                 {recorded}"
            ),
            Distrust::FolderRecreated => f.write_str("its folder was removed and made anew"),
            Distrust::OtherPod => {
                f.write_str("another pod, or the container restarted, and it keeps no marker")
            }
            Distrust::Incomplete(why) => write!(f, "a listing was incomplete: {why}"),
            Distrust::Emptied(side) => write!(f, "the {side} folder is empty"),
        }
    }
}

/// Whether the index may drive deletions and overwrites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Same container folder, complete listings: three-way with the index.
    Recognised,
    /// Merge: nothing deleted on either side, no local file overwritten.
    NotRecognised(Distrust),
}

impl Verdict {
    /// Whether the index may be used.
    pub fn recognised(&self) -> bool {
        matches!(self, Verdict::Recognised)
    }
}

/// What [`judge`] weighs.
#[derive(Clone, Debug, Default)]
pub struct Evidence<'a> {
    /// Whether an index exists for this pair of folders.
    pub has_index: bool,
    /// The identity recorded with it (`None`: an index from before markers).
    pub recorded: Option<&'a Identity>,
    /// The identity found in the container ([`Observed::found`]).
    pub found: Option<&'a Identity>,
    /// Why a listing was incomplete, if one was (either side).
    pub incomplete: Option<String>,
    /// A side that has nothing while the index has entries.
    pub emptied: Option<&'static str>,
}

/// The verdict on an index (see the module docs). Pure.
pub fn judge(e: &Evidence<'_>) -> Verdict {
    use Verdict::NotRecognised as No;
    if !e.has_index {
        return No(Distrust::NoIndex);
    }
    let Some(recorded) = e.recorded else {
        return No(Distrust::OldIndex);
    };
    let verdict = match (recorded, e.found) {
        (_, None) => No(Distrust::NoMarker),
        (
            Identity::Marker {
                token: rt,
                generation: rg,
                root_inode: ri,
            },
            Some(Identity::Marker {
                token: ft,
                generation: fg,
                root_inode: fi,
            }),
        ) => {
            if rt != ft {
                No(Distrust::OtherMarker)
            } else if rg != fg {
                No(Distrust::Generation {
                    recorded: *rg,
                    found: *fg,
                })
            } else if ri.is_some() && fi.is_some() && ri != fi {
                No(Distrust::FolderRecreated)
            } else {
                Verdict::Recognised
            }
        }
        (
            Identity::Pod {
                pod_uid: ru,
                container: rc,
                container_id: rid,
            },
            Some(Identity::Pod {
                pod_uid: fu,
                container: fc,
                container_id: fid,
            }),
        ) => {
            if ru == fu && rc == fc && rid.is_some() && rid == fid {
                Verdict::Recognised
            } else {
                No(Distrust::OtherPod)
            }
        }
        (Identity::Pod { .. }, Some(Identity::Marker { .. })) => No(Distrust::OtherMarker),
        (Identity::Marker { .. }, Some(Identity::Pod { .. })) => No(Distrust::OtherPod),
    };
    if !verdict.recognised() {
        return verdict;
    }
    if let Some(why) = &e.incomplete {
        return No(Distrust::Incomplete(why.clone()));
    }
    if let Some(side) = e.emptied {
        return No(Distrust::Emptied(side));
    }
    Verdict::Recognised
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(token: &str, generation: u64, inode: u64) -> Identity {
        Identity::Marker {
            token: token.into(),
            generation,
            root_inode: Some(inode),
        }
    }

    fn pod(uid: &str, id: Option<&str>) -> Identity {
        Identity::Pod {
            pod_uid: uid.into(),
            container: "main".into(),
            container_id: id.map(String::from),
        }
    }

    fn verdict(recorded: Option<&Identity>, found: Option<&Identity>) -> Verdict {
        judge(&Evidence {
            has_index: true,
            recorded,
            found,
            ..Evidence::default()
        })
    }

    #[test]
    fn only_the_exact_marker_is_recognised() {
        let m = marker("t1", 4, 9);
        assert_eq!(verdict(Some(&m), Some(&m)), Verdict::Recognised);
        assert_eq!(
            verdict(Some(&m), None),
            Verdict::NotRecognised(Distrust::NoMarker)
        );
        assert_eq!(
            verdict(Some(&m), Some(&marker("t2", 4, 9))),
            Verdict::NotRecognised(Distrust::OtherMarker)
        );
        for g in [3, 5] {
            assert_eq!(
                verdict(Some(&m), Some(&marker("t1", g, 9))),
                Verdict::NotRecognised(Distrust::Generation {
                    recorded: 4,
                    found: g
                })
            );
        }
        assert_eq!(
            verdict(Some(&m), Some(&marker("t1", 4, 10))),
            Verdict::NotRecognised(Distrust::FolderRecreated)
        );
    }

    #[test]
    fn the_pod_fallback_needs_the_same_running_container() {
        let p = pod("u1", Some("c1"));
        assert_eq!(verdict(Some(&p), Some(&p)), Verdict::Recognised);
        for other in [
            pod("u2", Some("c1")),
            pod("u1", Some("c2")),
            pod("u1", None),
        ] {
            assert_eq!(
                verdict(Some(&p), Some(&other)),
                Verdict::NotRecognised(Distrust::OtherPod)
            );
        }
        let unknown = pod("u1", None);
        assert_eq!(
            verdict(Some(&unknown), Some(&unknown)),
            Verdict::NotRecognised(Distrust::OtherPod),
            "a container that reports no ID could have restarted unseen"
        );
        assert!(!verdict(Some(&p), Some(&marker("t", 1, 1))).recognised());
        assert!(!verdict(Some(&marker("t", 1, 1)), Some(&p)).recognised());
    }

    #[test]
    fn no_index_an_old_index_incomplete_or_emptied_sides_are_not_trusted() {
        let m = marker("t1", 4, 9);
        assert_eq!(
            judge(&Evidence {
                has_index: false,
                found: Some(&m),
                ..Evidence::default()
            }),
            Verdict::NotRecognised(Distrust::NoIndex)
        );
        assert_eq!(
            verdict(None, Some(&m)),
            Verdict::NotRecognised(Distrust::OldIndex)
        );
        let base = Evidence {
            has_index: true,
            recorded: Some(&m),
            found: Some(&m),
            ..Evidence::default()
        };
        assert_eq!(
            judge(&Evidence {
                incomplete: Some("x: Permission denied".into()),
                ..base.clone()
            }),
            Verdict::NotRecognised(Distrust::Incomplete("x: Permission denied".into()))
        );
        assert_eq!(
            judge(&Evidence {
                emptied: Some("container"),
                ..base
            }),
            Verdict::NotRecognised(Distrust::Emptied("container"))
        );
    }

    #[test]
    fn identities_round_trip_as_json() {
        for id in [
            marker("abc", 7, 3),
            pod("u", Some("runc://x")),
            pod("u", None),
        ] {
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(serde_json::from_str::<Identity>(&json).unwrap(), id);
        }
        assert_eq!(
            serde_json::to_value(marker("abc", 7, 3)).unwrap(),
            serde_json::json!({"kind": "marker", "token": "abc", "generation": 7, "rootInode": 3})
        );
    }
}
