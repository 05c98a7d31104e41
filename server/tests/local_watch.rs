//! `ferry::local::watch`: local changes arrive as batches of relative paths — both ends
//! of a rename, no temporary files, no events lost in a burst, invalid names as errors,
//! a rescan when the root goes away. Timeouts are generous and only bound how long a
//! test waits; nothing asserts on timing.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use ferry::core::RelPath;
use ferry::local::{temp_name, write_file, LocalBatch, LocalErrorKind, LocalWatcher};
use tokio::time::{timeout_at, Instant};

const QUIET: Duration = Duration::from_millis(300);
const MAX_WAIT: Duration = Duration::from_secs(3);
const PATIENCE: Duration = Duration::from_secs(10);

fn p(path: &str) -> RelPath {
    RelPath::new(path).unwrap()
}

fn set(paths: &[&str]) -> BTreeSet<RelPath> {
    paths.iter().map(|path| p(path)).collect()
}

/// Collects batches until `done` says the union is complete, for at most [`PATIENCE`].
async fn collect_until(
    watcher: &mut LocalWatcher,
    done: impl Fn(&LocalBatch) -> bool,
) -> (LocalBatch, usize) {
    let deadline = Instant::now() + PATIENCE;
    let mut union = LocalBatch::default();
    let mut batches = 0;
    while !done(&union) {
        match timeout_at(deadline, watcher.next_batch(QUIET, MAX_WAIT)).await {
            Ok(Some(batch)) => {
                batches += 1;
                union.paths.extend(batch.paths);
                union.rescan |= batch.rescan;
                union.errors.extend(batch.errors);
            }
            Ok(None) => panic!("the watcher ended"),
            Err(_) => panic!("gave up waiting; collected so far: {union:?}"),
        }
    }
    (union, batches)
}

fn start(root: &Path) -> LocalWatcher {
    LocalWatcher::start(root).unwrap()
}

#[tokio::test]
async fn create_modify_delete_and_rename_arrive_as_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("modified"), b"v1").unwrap();
    fs::write(root.join("deleted"), b"x").unwrap();
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("sub/old-name"), b"x").unwrap();
    let mut watcher = start(root);

    fs::write(root.join("created"), b"new").unwrap();
    fs::write(root.join("modified"), b"v2").unwrap();
    fs::remove_file(root.join("deleted")).unwrap();
    fs::rename(root.join("sub/old-name"), root.join("sub/new-name")).unwrap();

    let batch = tokio::time::timeout(
        PATIENCE,
        watcher.next_batch(Duration::from_secs(1), PATIENCE),
    )
    .await
    .expect("a batch within the patience")
    .expect("the watcher runs");
    assert_eq!(
        batch.paths,
        set(&[
            "created",
            "deleted",
            "modified",
            "sub/new-name",
            "sub/old-name"
        ]),
        "the four changes, both ends of the rename, nothing else"
    );
    assert!(!batch.rescan);
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
}

#[tokio::test]
async fn changes_in_folders_and_folder_renames_are_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("a/b")).unwrap();
    let mut watcher = start(root);

    fs::write(root.join("a/b/deep"), b"x").unwrap();
    let (batch, _) = collect_until(&mut watcher, |b| b.paths.contains(&p("a/b/deep"))).await;
    assert!(
        batch
            .paths
            .iter()
            .all(|path| path.as_str().starts_with("a/")),
        "{batch:?}"
    );

    fs::rename(root.join("a"), root.join("z")).unwrap();
    collect_until(&mut watcher, |b| b.paths.is_superset(&set(&["a", "z"]))).await;

    // The renamed folder is still watched under its new name.
    fs::write(root.join("z/b/later"), b"x").unwrap();
    collect_until(&mut watcher, |b| b.paths.contains(&p("z/b/later"))).await;
}

#[tokio::test]
async fn ferry_temporary_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut watcher = start(root);

    // A download lands through a temporary file renamed over the path.
    write_file(
        root,
        &p("downloaded"),
        b"content",
        0o644,
        1_700_000_000_000_000_000,
    )
    .unwrap();
    // A temporary file that stays (as after a crash), then a marker written after it.
    fs::write(root.join(temp_name("stale")), b"partial").unwrap();
    fs::write(root.join("marker"), b"x").unwrap();

    let (batch, _) = collect_until(&mut watcher, |b| b.paths.contains(&p("marker"))).await;
    assert_eq!(batch.paths, set(&["downloaded", "marker"]));
}

#[tokio::test]
async fn a_burst_of_200_writes_is_seen_completely() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join("burst")).unwrap();
    let mut watcher = start(root);

    let expected: BTreeSet<RelPath> = (0..200).map(|i| p(&format!("burst/file-{i:03}"))).collect();
    for path in &expected {
        fs::write(root.join(path.as_str()), path.as_str()).unwrap();
    }
    let (batch, batches) = collect_until(&mut watcher, |b| b.paths.is_superset(&expected)).await;
    assert!(batch.paths.is_superset(&expected));
    assert!(batches >= 1);
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
}

#[tokio::test]
async fn invalid_names_are_reported_once_per_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut watcher = start(root);

    fs::write(root.join("bad\nname"), b"x").unwrap();
    fs::write(root.join("bad\nname"), b"xy").unwrap();
    fs::write(root.join("good"), b"x").unwrap();
    let (batch, _) = collect_until(&mut watcher, |b| {
        b.paths.contains(&p("good")) && !b.errors.is_empty()
    })
    .await;
    assert_eq!(batch.paths, set(&["good"]));
    let bad: Vec<_> = batch
        .errors
        .iter()
        .filter(|e| e.path == "bad\nname")
        .collect();
    assert!(!bad.is_empty(), "{:?}", batch.errors);
    assert!(bad.iter().all(|e| e.kind == LocalErrorKind::InvalidName));
    assert!(bad[0].message.contains("newline"), "{}", bad[0].message);
}

#[tokio::test]
async fn a_cancelled_next_batch_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut watcher = start(root);

    fs::write(root.join("early"), b"x").unwrap();
    // Give the event time to reach the watcher, so that the call below most likely takes
    // it and is then cancelled while it waits for quiet (the assertion holds either way).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(500),
        watcher.next_batch(Duration::from_secs(30), Duration::from_secs(60)),
    )
    .await;
    assert!(cancelled.is_err(), "the call was still waiting for quiet");

    let (batch, _) = collect_until(&mut watcher, |b| b.paths.contains(&p("early"))).await;
    assert_eq!(batch.paths, set(&["early"]));
}

#[tokio::test]
async fn removing_the_root_asks_for_a_rescan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("f"), b"x").unwrap();
    let mut watcher = start(&root);

    fs::remove_dir_all(&root).unwrap();
    let (batch, _) = collect_until(&mut watcher, |b| b.rescan).await;
    assert!(batch.rescan);
}

#[tokio::test]
async fn starting_on_a_missing_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = LocalWatcher::start(&dir.path().join("missing")).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::NotFound);
    assert!(err.message.contains("does not exist"), "{}", err.message);
}

#[test]
fn the_watcher_and_its_batches_can_move_between_tasks() {
    fn send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let mut watcher = start(dir.path());
    send(&watcher.next_batch(QUIET, MAX_WAIT));
    send(&watcher);
}
