//! `replicas: all`: one sync path over every Running and Ready pod its target selects.
//!
//! The *primary* — the oldest pod, so that scaling up never moves it — syncs both ways
//! under the safety rules, as a sync path with one pod does (its own index, marker and
//! status: the path's). Every other pod is a *secondary*: one way, it receives uploads
//! and is made to mirror the local folder ([`SyncTask::secondary`]); it is never
//! downloaded from, and what it changes itself may be overwritten. Each replica is known
//! by its pod UID, has its own session, marker and status entry
//! ([`super::status::StatusKey`]), and fails alone: an error in one is that replica's
//! problem, never a stop of the others.
//!
//! The [`Supervisor`] owns the tasks of one such path. Every [`RELIST_EVERY`] it lists
//! the pods again and applies [`plan`] (pure): a pod that appeared gets a secondary
//! (brought up to date by its initial sync, with no user action), one that went away is
//! dropped, and when the primary's pod goes the oldest remaining one becomes the primary
//! — its secondary stopped first, so that no pod is ever synced by two tasks. Requests
//! from the front ends reach the primary; saves and resyncs reach every replica.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::connect::{Connector, PodIdentity};
use super::status::{StatusHub, StatusKey};
use super::task::{Control, EngineError, EngineOptions, RunSummary, SyncTask};
use crate::config::SyncPath;

/// How often the pods are listed again.
pub const RELIST_EVERY: Duration = Duration::from_secs(3);

/// How long a secondary may take to stop (at its next batch boundary) before it is
/// aborted: when its pod becomes the primary, or at shutdown.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What to change after a listing of the pods (see [`plan`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaPlan {
    /// The primary's pod UID from now on (`None`: none yet, nothing listed).
    pub primary: Option<String>,
    /// Secondaries to stop: their pods went away or became the primary. Stopped before
    /// the primary moves.
    pub stop: Vec<String>,
    /// Pods that get a secondary, in listing order.
    pub start: Vec<PodIdentity>,
}

/// The replicas after a listing: `listed` (the oldest first), the current `primary` and
/// the `running` secondaries (pod UIDs). The primary stays while it is listed, else the
/// oldest listed pod takes its place; every other listed pod has a secondary; nothing
/// else does. An empty listing changes no primary (there is nothing to move to) and
/// stops every secondary. Pure.
pub fn plan(
    primary: Option<&str>,
    running: &BTreeSet<String>,
    listed: &[PodIdentity],
) -> ReplicaPlan {
    let primary = match primary {
        Some(p) if listed.iter().any(|l| l.pod_uid == p) => Some(p.to_string()),
        Some(p) if listed.is_empty() => Some(p.to_string()),
        _ => listed.first().map(|l| l.pod_uid.clone()),
    };
    let wanted: BTreeSet<&str> = listed
        .iter()
        .map(|l| l.pod_uid.as_str())
        .filter(|uid| Some(*uid) != primary.as_deref())
        .collect();
    ReplicaPlan {
        stop: running
            .iter()
            .filter(|uid| !wanted.contains(uid.as_str()))
            .cloned()
            .collect(),
        start: listed
            .iter()
            .filter(|l| wanted.contains(l.pod_uid.as_str()) && !running.contains(&l.pod_uid))
            .cloned()
            .collect(),
        primary,
    }
}

/// A running task of the set, stopped at its next batch boundary when asked, and
/// aborted if the set is dropped without waiting for it.
struct Child {
    control: mpsc::UnboundedSender<Control>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<Result<RunSummary, EngineError>>>,
}

impl Child {
    fn spawn(mut task: SyncTask, once: bool) -> Child {
        let control = task.controller();
        let (stop, stopped) = watch::channel(false);
        Child {
            control,
            stop,
            task: Some(crate::logging::spawn_scoped(task.run(once, stopped))),
        }
    }

    /// Asks it to stop and waits (up to `grace`, then aborts it).
    async fn finish(mut self, grace: Duration) -> Option<Result<RunSummary, EngineError>> {
        let _ = self.stop.send(true);
        let mut task = self.task.take()?;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(r) => r.ok(),
            Err(_) => {
                task.abort();
                None
            }
        }
    }

    /// Waits for it to end by itself.
    async fn join(mut self) -> Option<Result<RunSummary, EngineError>> {
        self.task.take()?.await.ok()
    }

    fn has_ended(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// The owner of one `replicas: all` sync path's tasks (see the module docs).
pub struct Supervisor {
    slot: usize,
    sync: SyncPath,
    opts: Arc<EngineOptions>,
    hub: Arc<StatusHub>,
    connector: Arc<dyn Connector>,
    /// The primary's pod, as its pinned connector reads it.
    primary_pod: watch::Sender<Option<String>>,
    primary: Option<Child>,
    secondaries: BTreeMap<String, Child>,
    control: mpsc::UnboundedReceiver<Control>,
}

impl Supervisor {
    /// The set of sync path `slot`, reaching the cluster through `connector`; returns it
    /// with the sender its requests go to. The primary's task is made here (its excludes
    /// checked), so a path that cannot start fails now, like a one-pod path.
    pub fn new(
        slot: usize,
        sync: SyncPath,
        opts: Arc<EngineOptions>,
        hub: Arc<StatusHub>,
        connector: Arc<dyn Connector>,
    ) -> Result<(Supervisor, mpsc::UnboundedSender<Control>, SyncTask), EngineError> {
        let (primary_pod, pod_rx) = watch::channel(None);
        let primary = SyncTask::new(slot, sync.clone(), opts.clone(), hub.clone())?.with_connector(
            Arc::new(super::connect::Pinned::new(connector.clone(), pod_rx)),
        );
        hub.set_replicated(slot);
        let (tx, control) = mpsc::unbounded_channel();
        Ok((
            Supervisor {
                slot,
                sync,
                opts,
                hub,
                connector,
                primary_pod,
                primary: None,
                secondaries: BTreeMap::new(),
                control,
            },
            tx,
            primary,
        ))
    }

    /// Runs the set until `shutdown` turns true (or, with `once`, until every replica's
    /// initial sync is done): the primary's summary is the path's.
    pub async fn run(
        mut self,
        primary: SyncTask,
        once: bool,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<RunSummary, EngineError> {
        if once {
            return self.run_once(primary).await;
        }
        self.relist().await;
        self.primary = Some(Child::spawn(primary, false));
        let mut relist = tokio::time::interval(RELIST_EVERY);
        relist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        relist.reset();
        let mut front_end = true;
        loop {
            tokio::select! {
                _ = super::task::stopped(&mut shutdown) => break,
                c = self.control.recv(), if front_end => match c {
                    Some(c) => self.forward(c),
                    // The front end is gone: nothing more will come.
                    None => front_end = false,
                },
                _ = relist.tick() => self.relist().await,
            }
        }
        let secondaries = std::mem::take(&mut self.secondaries);
        let primary = self.primary.take();
        for child in secondaries.values().chain(primary.iter()) {
            let _ = child.stop.send(true);
        }
        let stops = secondaries.into_iter().map(|(uid, child)| {
            let hub = self.hub.clone();
            let key = self.key(&uid);
            async move {
                child.finish(STOP_GRACE).await;
                hub.unregister_at(&key);
            }
        });
        let (_, summary) = tokio::join!(futures::future::join_all(stops), async {
            // Told to stop above: it saves its index at its next batch boundary.
            match primary {
                Some(p) => p.join().await,
                None => None,
            }
        });
        summary.unwrap_or_else(|| Ok(RunSummary::default()))
    }

    /// `--once`: one listing, every replica's initial sync, all waited for.
    async fn run_once(mut self, primary: SyncTask) -> Result<RunSummary, EngineError> {
        let listed = self.connector.replicas(&self.sync.target).await?;
        self.apply(plan(None, &BTreeSet::new(), &listed)).await;
        let primary = Child::spawn(primary, true);
        let secondaries = std::mem::take(&mut self.secondaries);
        let (summary, _) = tokio::join!(
            primary.join(),
            futures::future::join_all(secondaries.into_values().map(Child::join))
        );
        summary.unwrap_or_else(|| {
            Err(EngineError::Other(
                "the primary replica's sync was aborted".into(),
            ))
        })
    }

    /// Lists the pods and applies the [`plan`]; a failed listing changes nothing (the
    /// replicas' own connections report what is wrong).
    async fn relist(&mut self) {
        let ended: Vec<String> = self
            .secondaries
            .iter()
            .filter(|(_, c)| c.has_ended())
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in ended {
            self.secondaries.remove(&uid);
            self.hub.unregister_at(&self.key(&uid));
        }
        match self.connector.replicas(&self.sync.target).await {
            Ok(listed) => {
                let running: BTreeSet<String> = self.secondaries.keys().cloned().collect();
                let current = self.primary_pod.borrow().clone();
                self.apply(plan(current.as_deref(), &running, &listed))
                    .await;
            }
            Err(e) => tracing::debug!(sync = %self.sync.name, "listing the replicas: {e}"),
        }
    }

    /// Carries `plan` out: secondaries stopped (and their status dropped), then the
    /// primary moved, then the new secondaries started.
    async fn apply(&mut self, plan: ReplicaPlan) {
        for uid in &plan.stop {
            if let Some(child) = self.secondaries.remove(uid) {
                tracing::info!(sync = %self.sync.name, "replica with pod UID {uid}: dropped");
                child.finish(STOP_GRACE).await;
            }
            self.hub.unregister_at(&self.key(uid));
        }
        if *self.primary_pod.borrow() != plan.primary {
            tracing::info!(
                sync = %self.sync.name,
                "primary replica: pod UID {}",
                plan.primary.as_deref().unwrap_or("(none)")
            );
            self.primary_pod.send_replace(plan.primary.clone());
        }
        for pod in plan.start {
            match SyncTask::secondary(
                self.slot,
                self.sync.clone(),
                &pod.pod_uid,
                &pod.pod,
                self.opts.clone(),
                self.hub.clone(),
            ) {
                Ok(task) => {
                    tracing::info!(sync = %self.sync.name, "replica {}: secondary, one way", pod.pod);
                    let task = task.with_connector(Arc::new(super::connect::Pinned::new(
                        self.connector.clone(),
                        watch::channel(Some(pod.pod_uid.clone())).1,
                    )));
                    self.secondaries
                        .insert(pod.pod_uid.clone(), Child::spawn(task, false));
                }
                Err(e) => tracing::warn!(sync = %self.sync.name, "replica {}: {e}", pod.pod),
            }
        }
    }

    /// A front end's request: saves and resyncs go to every replica, the rest (conflicts,
    /// resolutions, container versions) to the primary, which alone syncs both ways.
    fn forward(&self, c: Control) {
        let all = || self.primary.iter().chain(self.secondaries.values());
        match c {
            Control::Changed(paths) => {
                for child in all() {
                    let _ = child.control.send(Control::Changed(paths.clone()));
                }
            }
            Control::Rescan => {
                for child in all() {
                    let _ = child.control.send(Control::Rescan);
                }
            }
            other => {
                if let Some(p) = &self.primary {
                    let _ = p.control.send(other);
                }
            }
        }
    }

    fn key(&self, uid: &str) -> StatusKey {
        StatusKey {
            slot: self.slot,
            replica: Some(uid.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str) -> PodIdentity {
        PodIdentity {
            namespace: "ns".into(),
            pod: format!("web-{uid}"),
            pod_uid: uid.into(),
            container: "main".into(),
            container_id: None,
        }
    }

    fn set(uids: &[&str]) -> BTreeSet<String> {
        uids.iter().map(|u| u.to_string()).collect()
    }

    fn uids(pods: &[PodIdentity]) -> Vec<&str> {
        pods.iter().map(|p| p.pod_uid.as_str()).collect()
    }

    #[test]
    fn the_oldest_pod_is_the_first_primary_and_every_other_a_secondary() {
        let p = plan(None, &set(&[]), &[pod("a"), pod("b"), pod("c")]);
        assert_eq!(p.primary.as_deref(), Some("a"));
        assert_eq!(uids(&p.start), ["b", "c"]);
        assert!(p.stop.is_empty());
    }

    #[test]
    fn scaling_up_adds_a_secondary_and_never_moves_the_primary() {
        // The new pod is listed first here (as if older): the primary still stays.
        let p = plan(
            Some("a"),
            &set(&["b", "c"]),
            &[pod("d"), pod("a"), pod("b"), pod("c")],
        );
        assert_eq!(p.primary.as_deref(), Some("a"));
        assert_eq!(uids(&p.start), ["d"]);
        assert!(p.stop.is_empty());
    }

    #[test]
    fn a_secondary_that_went_away_is_dropped() {
        let p = plan(Some("a"), &set(&["b", "c"]), &[pod("a"), pod("c")]);
        assert_eq!(p.primary.as_deref(), Some("a"));
        assert_eq!(p.stop, ["b"]);
        assert!(p.start.is_empty());
    }

    #[test]
    fn when_the_primary_goes_the_oldest_secondary_takes_its_place_and_stops_being_one() {
        let p = plan(
            Some("a"),
            &set(&["b", "c"]),
            &[pod("b"), pod("c"), pod("e")],
        );
        assert_eq!(p.primary.as_deref(), Some("b"));
        assert_eq!(p.stop, ["b"]);
        assert_eq!(uids(&p.start), ["e"]);
    }

    #[test]
    fn an_empty_listing_keeps_the_primary_and_stops_the_secondaries() {
        let p = plan(Some("a"), &set(&["b"]), &[]);
        assert_eq!(p.primary.as_deref(), Some("a"));
        assert_eq!(p.stop, ["b"]);
        assert!(p.start.is_empty());
        assert_eq!(plan(None, &set(&[]), &[]), ReplicaPlan::default());
    }

    /// Every combination of up to four pods listed, a primary and running secondaries:
    /// afterwards each listed pod is synced by exactly one task (the primary or one
    /// secondary), no unlisted pod by any secondary, and a listed primary never moves.
    #[test]
    fn every_listed_pod_is_synced_by_exactly_one_task() {
        let all = ["a", "b", "c", "d"];
        for listed_mask in 0u32..16 {
            for running_mask in 0u32..16 {
                for primary in [None, Some("a"), Some("b"), Some("x")] {
                    let listed: Vec<PodIdentity> = all
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| listed_mask & (1 << i) != 0)
                        .map(|(_, u)| pod(u))
                        .collect();
                    let running: BTreeSet<String> = all
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| running_mask & (1 << i) != 0)
                        .map(|(_, u)| u.to_string())
                        .filter(|u| Some(u.as_str()) != primary)
                        .collect();
                    let p = plan(primary, &running, &listed);
                    let mut after: BTreeSet<String> = running.clone();
                    for s in &p.stop {
                        assert!(after.remove(s), "stops what does not run: {s}");
                    }
                    for s in &p.start {
                        assert!(
                            after.insert(s.pod_uid.clone()),
                            "starts twice: {}",
                            s.pod_uid
                        );
                    }
                    let case =
                        format!("listed {listed_mask:04b} running {running:?} primary {primary:?}");
                    for l in &listed {
                        let n = usize::from(after.contains(&l.pod_uid))
                            + usize::from(p.primary.as_deref() == Some(l.pod_uid.as_str()));
                        assert_eq!(n, 1, "{}: {case}", l.pod_uid);
                    }
                    for s in &after {
                        assert!(listed.iter().any(|l| &l.pod_uid == s), "{s}: {case}");
                    }
                    if let Some(pr) = primary.filter(|pr| listed.iter().any(|l| l.pod_uid == *pr)) {
                        assert_eq!(p.primary.as_deref(), Some(pr), "{case}");
                    }
                    if !listed.is_empty() {
                        assert!(p.primary.is_some(), "{case}");
                    }
                }
            }
        }
    }
}
