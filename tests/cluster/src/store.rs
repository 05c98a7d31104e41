//! The cluster's object store: every API object as JSON, one global `resourceVersion`
//! counter, and a bounded event log that watches replay from.
//!
//! Invariants:
//! - every change (create, update that changes something, delete) gets the next
//!   resourceVersion and exactly one event, in order;
//! - a watch started at version `v` sees every event after `v` exactly once: the replay
//!   from the log and the live subscription are taken under one lock;
//! - a watch from a version older than the log holds fails with `Gone` (HTTP 410), as on a
//!   real API server, so the client re-lists.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

/// How many events the log keeps for watches that resume from an older version.
const LOG_CAPACITY: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub resource: &'static str,
    pub namespace: String,
    pub name: String,
    pub kind: EventType,
    pub object: Arc<Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub resource: &'static str,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(resource: &'static str, namespace: &str, name: &str) -> Key {
        Key {
            resource,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    #[error("the resourceVersion {requested} is too old (oldest kept: {oldest})")]
    Gone { requested: u64, oldest: u64 },
    #[error("conflict: the object has been modified")]
    Conflict,
}

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    log: VecDeque<Event>,
}

pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Event>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Store {
        let (events, _) = broadcast::channel(8192);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                log: VecDeque::new(),
            }),
            events,
        }
    }

    /// The latest resourceVersion handed out.
    pub fn current_rv(&self) -> u64 {
        self.inner.lock().unwrap().rv
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Value>> {
        self.inner.lock().unwrap().objects.get(key).cloned()
    }

    /// All objects of a resource, in one namespace or all, with the version they are
    /// consistent at.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.inner.lock().unwrap();
        let items = inner
            .objects
            .iter()
            .filter(|(k, _)| k.resource == resource && namespace.is_none_or(|n| k.namespace == n))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.rv)
    }

    /// Stores a new object; sets `metadata.resourceVersion`.
    pub fn create(&self, key: Key, mut object: Value) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        if inner.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        inner.rv += 1;
        let rv = inner.rv;
        object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let object = Arc::new(object);
        inner.objects.insert(key.clone(), object.clone());
        self.emit(&mut inner, key, EventType::Added, object.clone());
        Ok(object)
    }

    /// Applies `f` to a copy of the object; if the copy differs, stores it with the next
    /// version and emits MODIFIED. `expected_rv`, when given, must match (optimistic
    /// concurrency, 409 otherwise).
    pub fn update(
        &self,
        key: &Key,
        expected_rv: Option<&str>,
        f: impl FnOnce(&mut Value),
    ) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        let current = inner.objects.get(key).ok_or(StoreError::NotFound)?.clone();
        if let Some(expected) = expected_rv {
            if current["metadata"]["resourceVersion"].as_str() != Some(expected) {
                return Err(StoreError::Conflict);
            }
        }
        let mut next = (*current).clone();
        f(&mut next);
        // Compare without the version so a no-op update stays a no-op.
        next["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        if next == *current {
            return Ok(current);
        }
        inner.rv += 1;
        let rv = inner.rv;
        next["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let next = Arc::new(next);
        inner.objects.insert(key.clone(), next.clone());
        self.emit(&mut inner, key.clone(), EventType::Modified, next.clone());
        Ok(next)
    }

    /// Removes the object and emits DELETED carrying its last state (with a new version).
    pub fn delete(&self, key: &Key) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        let old = inner.objects.remove(key).ok_or(StoreError::NotFound)?;
        inner.rv += 1;
        let mut last = (*old).clone();
        last["metadata"]["resourceVersion"] = Value::String(inner.rv.to_string());
        let last = Arc::new(last);
        self.emit(&mut inner, key.clone(), EventType::Deleted, last.clone());
        Ok(last)
    }

    fn emit(&self, inner: &mut Inner, key: Key, kind: EventType, object: Arc<Value>) {
        let event = Event {
            rv: inner.rv,
            resource: key.resource,
            namespace: key.namespace,
            name: key.name,
            kind,
            object,
        };
        if inner.log.len() == LOG_CAPACITY {
            inner.log.pop_front();
        }
        inner.log.push_back(event.clone());
        let _ = self.events.send(event);
    }

    /// Starts a watch: the events after `from_rv` (all of them replayed from the log) and a
    /// live receiver for what follows. `from_rv == None` means "from now on".
    pub fn watch(
        &self,
        from_rv: Option<u64>,
    ) -> Result<(Vec<Event>, broadcast::Receiver<Event>), StoreError> {
        let inner = self.inner.lock().unwrap();
        let rx = self.events.subscribe();
        let backlog = match from_rv {
            None => Vec::new(),
            Some(v) if v >= inner.rv => Vec::new(),
            Some(v) => {
                let oldest = inner.log.front().map(|e| e.rv).unwrap_or(inner.rv + 1);
                if v + 1 < oldest {
                    return Err(StoreError::Gone {
                        requested: v,
                        oldest,
                    });
                }
                inner.log.iter().filter(|e| e.rv > v).cloned().collect()
            }
        };
        Ok((backlog, rx))
    }

    /// A live receiver of every event from now on (the kubelet and controllers use it).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"}})
    }

    #[test]
    fn versions_increase_and_noop_updates_emit_nothing() {
        let s = Store::new();
        let k = Key::new("pods", "default", "a");
        let a = s.create(k.clone(), pod("a")).unwrap();
        let v1: u64 = a["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let same = s.update(&k, None, |_| {}).unwrap();
        assert_eq!(
            same["metadata"]["resourceVersion"],
            a["metadata"]["resourceVersion"]
        );
        let b = s
            .update(&k, None, |o| o["status"] = json!({"phase": "Running"}))
            .unwrap();
        let v2: u64 = b["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(v2 > v1);
        assert!(matches!(
            s.create(k.clone(), pod("a")),
            Err(StoreError::AlreadyExists)
        ));
        assert!(matches!(
            s.update(&k, Some("1"), |_| {}),
            Err(StoreError::Conflict)
        ));
    }

    #[test]
    fn watch_replays_exactly_the_events_after_a_version() {
        let s = Store::new();
        let k = Key::new("pods", "default", "a");
        let created = s.create(k.clone(), pod("a")).unwrap();
        let v: u64 = created["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        s.update(&k, None, |o| o["x"] = json!(1)).unwrap();
        s.delete(&k).unwrap();
        let (backlog, _) = s.watch(Some(v)).unwrap();
        let kinds: Vec<_> = backlog.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventType::Modified, EventType::Deleted]);
        let (backlog, mut rx) = s.watch(Some(s.current_rv())).unwrap();
        assert!(backlog.is_empty());
        s.create(Key::new("pods", "default", "b"), pod("b"))
            .unwrap();
        assert_eq!(rx.try_recv().unwrap().name, "b");
    }

    #[test]
    fn watch_from_a_version_older_than_the_log_is_gone() {
        let s = Store::new();
        for i in 0..(LOG_CAPACITY + 5) {
            s.create(Key::new("pods", "default", &format!("p{i}")), pod("p"))
                .unwrap();
        }
        assert!(matches!(s.watch(Some(1)), Err(StoreError::Gone { .. })));
        assert!(s.watch(Some(s.current_rv() - 3)).is_ok());
    }
}
