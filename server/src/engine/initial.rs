//! The initial sync of each connection: recognise the container folder, list both sides,
//! decide whether the persisted index may be trusted, plan, and carry the plan out with
//! the index saved after every batch. See `docs/safety.md` for the rule.
//!
//! 1. [`super::identity::observe`]: read the container marker and move it on (before any
//!    transfer).
//! 2. List the container, scan the local folder. What a side could not read is
//!    *unknown*: it makes the index untrusted, and nothing is planned below it.
//! 3. [`super::identity::judge`]: the index is trusted only for the same container folder
//!    with complete listings and no side that looks emptied.
//! 4. Trusted: three-way with the index ([`crate::core::plan_initial`]). Not trusted
//!    because there is no index yet (a first start): the configured strategy. Not trusted
//!    otherwise: a merge ([`crate::core::initial::safe_strategy`]) that deletes nothing on
//!    either side and overwrites no local file, starting from an empty index.
//! 5. The index (with the identity this session wrote) is saved before the first transfer
//!    and after every batch, holding only completed transfers.

use std::time::Instant;

use tokio::sync::watch;

use crate::config::InitialSync;
use crate::core::initial::{looks_empty, safe_strategy};
use crate::core::{plan_initial, Index, Plan, RelPath, Snapshot, Tolerance};
use crate::local::{self, LocalErrorKind};
use crate::remote::{Session, SessionError};

use super::changes::listing_unknown;
use super::connect::PodIdentity;
use super::convert::snapshot_of;
use super::execute::{Failure, Retry};
use super::identity::{self, Distrust, Evidence, Verdict};
use super::plan_text;
use super::status::PathState;
use super::store::IndexStore;
use super::task::{EngineError, Safety, SyncTask};

/// Both sides as listed, with what could not be read.
struct Sides {
    local: Snapshot,
    remote: Snapshot,
    /// Per-file problems found while listing (unsyncable names, unreadable folders).
    failures: Vec<Failure>,
    /// Why the listings are incomplete, if they are (outside the excludes).
    incomplete: Option<String>,
    /// Paths below which a side could not tell what is there.
    unknown: Vec<RelPath>,
    /// The whole local or remote tree is unknown.
    all_unknown: bool,
}

impl SyncTask {
    /// Runs the initial sync (see the module docs). Returns `true` when it was stopped
    /// before the end by `shutdown` (what completed is recorded and saved).
    pub(super) async fn initial_sync(
        &mut self,
        session: &mut Session,
        store: &IndexStore,
        pod: &PodIdentity,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<bool, EngineError> {
        self.state(PathState::InitialSync);
        let t = Instant::now();
        let dry_run = self.opts.dry_run;
        let root = session.root().to_string();
        let observed = identity::observe(session, pod, &root, !dry_run).await?;
        match &observed.place {
            Ok(dir) => tracing::debug!(sync = %self.sync.name, "container marker: {dir}"),
            Err(why) => tracing::info!(
                sync = %self.sync.name,
                "{why}; the container is recognised by its pod and container ID only"
            ),
        }
        // Uploads are staged beside the marker: on the folder's mount, and out of the
        // folder unless the marker itself had to live in it (docs/safety.md, "Staging").
        if let (Ok(dir), false) = (&observed.place, dry_run) {
            match session.stage(dir).await {
                Ok(()) => {}
                Err(SessionError::Remote { message, .. }) => tracing::info!(
                    sync = %self.sync.name,
                    "uploads are staged inside the container folder: {message}"
                ),
                Err(e) => return Err(e.into()),
            }
        }
        let sides = self.read_sides(session).await?;
        // A secondary replica keeps no index: it mirrors the local folder in full.
        let stored = if self.is_secondary() {
            None
        } else {
            store.load()
        };
        let emptied = match &stored {
            Some(s) if !s.index.is_empty() => {
                if looks_empty(&sides.local, &self.excludes) {
                    Some("local")
                } else if looks_empty(&sides.remote, &self.excludes) {
                    Some("container")
                } else {
                    None
                }
            }
            _ => None,
        };
        let verdict = identity::judge(&Evidence {
            has_index: stored.is_some(),
            recorded: stored.as_ref().and_then(|s| s.identity.as_ref()),
            found: observed.found.as_ref(),
            incomplete: sides.incomplete.clone(),
            emptied,
        });
        let configured = self.sync.initial_sync;
        let (index, strategy) = match (&verdict, stored) {
            (Verdict::Recognised, Some(s)) => (Some(s.index), configured),
            (Verdict::NotRecognised(Distrust::NoIndex), _) => (None, configured),
            _ => (None, safe_strategy(configured)),
        };
        let (mut local, mut remote) = (sides.local, sides.remote);
        if sides.all_unknown {
            local = Snapshot::new();
            remote = Snapshot::new();
        }
        match &index {
            // Trusted (no unreadable folder, by the verdict): a path only an unsyncable
            // name hides counts as unchanged.
            Some(index) => {
                for (p, e) in index.entries().iter() {
                    if sides.unknown.iter().any(|u| u == p || u.is_ancestor_of(p)) {
                        local.insert(p.clone(), e.clone());
                        remote.insert(p.clone(), e.clone());
                    }
                }
            }
            // Not trusted: nothing is planned where a side cannot see.
            None => {
                for u in &sides.unknown {
                    local.remove_subtree(u);
                    remote.remove_subtree(u);
                }
            }
        }
        if let Some(index) = &index {
            // Racy entries are compared by content (see `super::racy`).
            super::racy::hash_local_view(&self.sync.local_path, &self.followed, &mut local, index);
            super::racy::hash_remote_view(session, &mut remote, index).await?;
        }
        let plan = plan_initial(
            &local,
            &remote,
            index.as_ref(),
            strategy,
            &self.excludes,
            Tolerance::default(),
        );
        let plan = self.directions(plan);
        tracing::info!(
            sync = %self.sync.name,
            "initial sync: {} local and {} remote entries, index of {} ({}), strategy {}, {} actions",
            local.len(),
            remote.len(),
            index.as_ref().map_or(0, Index::len),
            describe_verdict(&verdict),
            strategy.config_name(),
            plan.actions.len()
        );
        let recognition = if self.is_secondary() {
            "secondary replica: made to mirror the local folder".to_string()
        } else {
            describe_verdict(&verdict)
        };
        self.hub.update_at(&self.key, |p| {
            p.recognised = Some(verdict.recognised());
            p.recognition = Some(recognition);
        });
        if dry_run {
            self.summary.dry_run = plan_text::describe(&plan, &describe_verdict(&verdict));
            return Ok(false);
        }
        let trusted = index.is_some();
        self.index = index.unwrap_or_default();
        // Racy entries of the stored index are checked again as soon as possible.
        self.racy_queue = self.index.racy().clone();
        self.identity = Some(observed.now);
        // Before any transfer: the identity this session wrote, and only trusted entries.
        self.save(store);
        let safety = Safety {
            deletion_reason: if !trusted && strategy == InitialSync::MirrorRemote {
                crate::local::Reason::MirrorStrategy
            } else {
                crate::local::Reason::DeletedInContainer
            },
            remote_before: Some(&remote),
        };
        let outcome = self
            .execute(
                session,
                &plan,
                Some(&local),
                Some(store),
                Some(shutdown),
                safety,
            )
            .await?;
        let interrupted = outcome.interrupted;
        let (up, down) = (outcome.uploaded, outcome.downloaded);
        // Only now: a failed initial sync must not lose the old problems.
        self.problems.clear();
        // A folder kept on one side because it holds excluded files was reported when it
        // was deleted on the other; a restart does not repeat that.
        let mut reported = plan.clone();
        reported
            .skipped
            .retain(|s| s.reason != crate::core::SkipReason::NotEmpty);
        self.record(&reported, outcome, sides.failures, t.elapsed());
        self.rediscover_conflicts(&local);
        self.save(store);
        if interrupted {
            self.message(
                "stopped during the initial sync; what was transferred is recorded".into(),
                false,
            );
            return Ok(true);
        }
        if let Verdict::NotRecognised(why) = &verdict {
            if *why != Distrust::NoIndex {
                self.message(not_recognised_text(why, up, down, &plan), true);
            }
        }
        if configured == InitialSync::Disabled {
            self.message("initial sync disabled by the config".into(), false);
        }
        Ok(false)
    }

    /// Lists the container and scans the local folder (ferry's own names and the symlinks
    /// the sync path does not sync left out), with what could not be read.
    async fn read_sides(&mut self, session: &mut Session) -> Result<Sides, EngineError> {
        // A dry run does not create a missing container folder: it is empty.
        let listing = if session.capabilities().root_exists {
            session.list_all().await?
        } else {
            crate::remote::Listing::default()
        };
        let skip = self.local_skip();
        let (remote, unsupported) = snapshot_of(&listing, &skip);
        // A dry run does not create a missing local folder either: it is empty.
        let mut scan = if self.opts.dry_run && !self.sync.local_path.exists() {
            local::Scan::default()
        } else {
            local::scan(&self.sync.local_path, &skip)?
        };
        let followed =
            super::links::settle(&self.sync.local_path, &mut scan, self.sync.symlinks, &skip);
        drop(skip);
        self.set_followed(followed);
        super::links::log_skipped(
            &self.sync.name,
            self.sync.symlinks,
            Some(&scan),
            Some(&listing),
        );
        let special = unsupported.saturating_sub(listing.skipped_links.len());
        if special > 0 {
            tracing::info!(sync = %self.sync.name, "{special} special files (devices, FIFOs, sockets) in the container are not synced");
        }
        let mut failures: Vec<Failure> = Vec::new();
        failures.extend(
            listing
                .errors
                .iter()
                .map(|e| Failure::remote(e, Retry::Never)),
        );
        failures.extend(scan.errors.iter().map(|e| Failure::local(e, Retry::Never)));
        let excluded = |p: &str| {
            RelPath::new(p).is_ok_and(|p| {
                self.excludes.excluded(&p, true) && self.excludes.excluded(&p, false)
            })
        };
        let mut unknown: Vec<RelPath> = Vec::new();
        let mut all_unknown = false;
        let mut incomplete: Vec<String> = Vec::new();
        for e in &scan.skipped_links {
            if let Ok(p) = RelPath::new(&e.path) {
                unknown.push(p);
            }
        }
        for e in &listing.skipped_links {
            if let Ok(p) = RelPath::new(&e.path) {
                unknown.push(p);
            }
        }
        for e in &scan.errors {
            match RelPath::new(&e.path) {
                Ok(p) => unknown.push(p),
                Err(_) if e.path.is_empty() => all_unknown = true,
                Err(_) => {}
            }
            if e.kind != LocalErrorKind::InvalidName && !excluded(&e.path) {
                incomplete.push(format!("locally {}: {}", e.path, e.message));
            }
        }
        for e in &listing.errors {
            match RelPath::new(&e.path) {
                Ok(p) => unknown.push(p),
                Err(_) if e.path.is_empty() => all_unknown = true,
                Err(_) => {}
            }
            if super::changes::hides_contents(e) && !excluded(&e.path) {
                incomplete.push(format!("in the container {}: {}", e.path, e.message));
            }
        }
        let _ = listing_unknown;
        let incomplete = (!incomplete.is_empty()).then(|| {
            let n = incomplete.len();
            let mut text = incomplete
                .into_iter()
                .take(3)
                .collect::<Vec<_>>()
                .join("; ");
            if n > 3 {
                text.push_str(&format!(" (and {} more)", n - 3));
            }
            text
        });
        Ok(Sides {
            local: scan.snapshot,
            remote,
            failures,
            incomplete,
            unknown,
            all_unknown,
        })
    }
}

/// How the verdict reads in the log and the status.
pub fn describe_verdict(v: &Verdict) -> String {
    match v {
        Verdict::Recognised => "container recognised".to_string(),
        Verdict::NotRecognised(Distrust::NoIndex) => "first sync of this folder".to_string(),
        Verdict::NotRecognised(why) => format!("container not recognised: {why}"),
    }
}

/// The notice after an untrusted initial sync.
fn not_recognised_text(why: &Distrust, up: u64, down: u64, plan: &Plan) -> String {
    let mut counts = vec![format!("↑ {up}"), format!("↓ {down}")];
    if !plan.remote_newer.is_empty() {
        counts.push(format!(
            "{} newer in the container left as they are",
            plan.remote_newer.len()
        ));
    }
    if !plan.conflicts.is_empty() {
        counts.push(format!(
            "{} conflicts kept for you to decide",
            plan.conflicts.len()
        ));
    }
    format!(
        "container not recognised: merged, nothing deleted — {why}: {}",
        counts.join(", ")
    )
}
