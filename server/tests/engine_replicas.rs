//! `replicas: all` end to end: a Deployment's every Running and Ready pod is synced — the
//! oldest (the primary) both ways, the others (secondaries) one way, made to mirror the
//! local folder — through scaling up, a deleted replica and a container write in the
//! primary. Both sides' whole trees are compared in every pod.

mod engine_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use engine_support::{
    check, local_tree, remote_tree, tree_diff, wait_ready_pods, wait_until, web_deployment_of, Env,
    Exec, Running, Workspace, FERRY_STATE,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;

/// The Ready, not deleting pods of the Deployment `web`.
async fn ready_pods(env: &Env) -> BTreeSet<String> {
    engine_support::ready_pods(env, "app=web").await
}

/// The sync path's replicas in the running sync's status: (pod, role, state).
fn replicas(ws: &Workspace, kubeconfig: &Path) -> Vec<(String, String, String)> {
    let status = ws.status(kubeconfig);
    status["report"]["paths"][0]["replicas"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let word = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (word("pod"), word("role"), word("state"))
        })
        .collect()
}

/// Waits until the status lists exactly the Ready pods of `web`, `n` of them, the
/// primary first and every replica watching; returns the primary's pod.
async fn wait_replicas_watching(
    env: &Env,
    ws: &Workspace,
    kubeconfig: &Path,
    sync: &Running,
    n: usize,
) -> String {
    wait_until(&format!("{n} replicas watching"), sync, || async {
        let pods = ready_pods(env).await;
        let listed = replicas(ws, kubeconfig);
        let names: BTreeSet<String> = listed.iter().map(|r| r.0.clone()).collect();
        check(
            pods.len() == n
                && names == pods
                && listed.len() == n
                && listed[0].1 == "primary"
                && listed[1..].iter().all(|r| r.1 == "secondary")
                && listed.iter().all(|r| r.2 == "watching"),
            || format!("pods {pods:?}, status {listed:?}"),
        )
    })
    .await;
    replicas(ws, kubeconfig)[0].0.clone()
}

/// Waits until every pod in `pods` holds exactly the local folder's tree.
async fn wait_all_mirror(env: &Env, ws: &Workspace, sync: &Running, pods: &BTreeSet<String>) {
    for pod in pods {
        wait_until(&format!("{pod} holds the local tree"), sync, || async {
            let local = local_tree(&ws.path("src"), FERRY_STATE);
            let remote = remote_tree(env, pod, "/app", FERRY_STATE).await;
            match tree_diff(&local, &remote) {
                None => Ok(()),
                Some(d) => Err(d),
            }
        })
        .await;
    }
}

async fn scale(env: &Env, replicas: u32) {
    let deploys: kube::Api<Deployment> = kube::Api::namespaced(env.client.clone(), &env.ns);
    deploys
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
        )
        .await
        .expect("scale the deployment");
}

/// A cluster with the Deployment `web` of `n` Ready replicas in namespace `ns`, and a
/// workspace syncing `src` with `/app` in every one of them (`replicas: all`).
async fn replicated(ns: &str, n: usize) -> (Env, Workspace) {
    let env = Env::start(ns, Exec::V5).await;
    web_deployment_of(&env, n as u32).await;
    wait_ready_pods(&env, "app=web", n).await;
    let ws = Workspace::new();
    ws.devspace("web", &env.ns, "src", "/app", "");
    ws.write("ferry.yaml", "defaults:\n  replicas: all\n");
    (env, ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_gets_every_save_and_the_primary_syncs_back() {
    let (env, ws) = replicated("replicas", 3).await;
    let kubeconfig = env.cluster.kubeconfig();
    ws.write("src/index.js", "console.log(1)\n");
    ws.write("src/lib/util.js", "exports.x = 1\n");
    ws.write("src/assets/logo.svg", "<svg/>\n");
    let sync = ws.sync(&kubeconfig);

    // Every replica has the folder, the oldest is the primary.
    let primary = wait_replicas_watching(&env, &ws, &kubeconfig, &sync, 3).await;
    let pods = ready_pods(&env).await;
    wait_all_mirror(&env, &ws, &sync, &pods).await;

    // A save lands in all three.
    ws.write("src/index.js", "console.log(2)\n");
    wait_all_mirror(&env, &ws, &sync, &pods).await;

    // What the primary's container writes comes back, and goes on to the others.
    env.sh(&primary, "echo built > /app/from-primary.txt").await;
    wait_until("the primary's write comes back", &sync, || async {
        check(
            ws.read("src/from-primary.txt").as_deref() == Some(b"built\n".as_slice()),
            || "not here yet".into(),
        )
    })
    .await;
    wait_all_mirror(&env, &ws, &sync, &pods).await;

    // Scaling to 4: the new pod is brought up to date, the primary stays.
    scale(&env, 4).await;
    let now = wait_replicas_watching(&env, &ws, &kubeconfig, &sync, 4).await;
    assert_eq!(now, primary, "scaling up moved the primary");
    let pods = ready_pods(&env).await;
    wait_all_mirror(&env, &ws, &sync, &pods).await;

    // Deleting a secondary: it is dropped, its replacement joins, the others go on.
    let gone = pods.iter().find(|p| **p != primary).unwrap().clone();
    env.delete_pod(&gone).await;
    ws.write("src/lib/util.js", "exports.x = 2\n");
    let now = wait_replicas_watching(&env, &ws, &kubeconfig, &sync, 4).await;
    assert_eq!(now, primary);
    let pods = ready_pods(&env).await;
    assert!(!pods.contains(&gone));
    assert!(
        !replicas(&ws, &kubeconfig).iter().any(|r| r.0 == gone),
        "the deleted replica is still listed"
    );
    wait_all_mirror(&env, &ws, &sync, &pods).await;

    // A secondary is one way: what it writes itself never comes back (a later save
    // lands there while its own file stays, unsynced), and a resync mirrors it again.
    let secondary = pods.iter().find(|p| **p != primary).unwrap().clone();
    env.sh(&secondary, "echo mine > /app/own.txt").await;
    ws.write("src/later.txt", "later\n");
    wait_until("the later save lands in the secondary", &sync, || async {
        check(
            env.read(&secondary, "/app/later.txt").await.as_deref() == Some(b"later\n".as_slice()),
            || "not there yet".into(),
        )
    })
    .await;
    // The primary's watcher would have brought a file of its own back by now; the
    // secondary's never is.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ws.read("src/own.txt"),
        None,
        "a secondary's file was downloaded"
    );
    assert_eq!(
        env.read(&secondary, "/app/own.txt").await.as_deref(),
        Some(b"mine\n".as_slice())
    );
    let out = ws.ferry(&kubeconfig, &["resync"]);
    assert!(out.status.success(), "resync: {out:?}");
    wait_all_mirror(&env, &ws, &sync, &pods).await;
    assert_eq!(ws.read("src/own.txt"), None);

    // The local folder was never touched but by the primary's write.
    let mut expected = vec![
        "assets".to_string(),
        "assets/logo.svg".into(),
        "from-primary.txt".into(),
        "index.js".into(),
        "later.txt".into(),
        "lib".into(),
        "lib/util.js".into(),
    ];
    expected.sort();
    let local: Vec<String> = local_tree(&ws.path("src"), FERRY_STATE)
        .keys()
        .cloned()
        .collect();
    assert_eq!(local, expected);
    // Only the primary keeps an index: secondaries compare both sides in full.
    let indexes: Vec<_> = std::fs::read_dir(ws.path(".ferry/index"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(indexes.len(), 1, "{indexes:?}");
}

/// A replica that cannot sync is that replica's problem: its entry says why, the health
/// is a warning (not an error), and the primary and the other secondary go on getting
/// every save; once it is usable again it is brought up to date by itself. Then the
/// primary's pod is deleted: the oldest remaining pod takes its place, the local folder
/// is left as it was, and the new primary's writes come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_replica_stops_no_other_and_a_gone_primary_is_replaced() {
    let (env, ws) = replicated("replica-fails", 3).await;
    let kubeconfig = env.cluster.kubeconfig();
    ws.write("src/index.js", "console.log(1)\n");
    let sync = ws.sync(&kubeconfig);
    let primary = wait_replicas_watching(&env, &ws, &kubeconfig, &sync, 3).await;
    let pods = ready_pods(&env).await;
    let mut secondaries = pods.iter().filter(|p| **p != primary).cloned();
    let (broken, healthy) = (secondaries.next().unwrap(), secondaries.next().unwrap());

    // The broken replica's folder is a file now: nothing can land there.
    env.sh(&broken, "rm -rf /app && echo not-a-folder > /app")
        .await;
    ws.write("src/index.js", "console.log(2)\n");
    let others: BTreeSet<String> = [primary.clone(), healthy.clone()].into();
    wait_all_mirror(&env, &ws, &sync, &others).await;
    wait_until("the broken replica reports its problem", &sync, || async {
        let status = ws.status(&kubeconfig);
        let path = &status["report"]["paths"][0];
        let entry = path["replicas"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["pod"] == broken.as_str()).cloned())
            .unwrap_or_default();
        let with_pod = path["problems"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["pod"] == broken.as_str()));
        check(
            (entry["state"] == "error" && entry["lastError"].is_string())
                || (entry["problemCount"].as_u64() > Some(0) && with_pod),
            || format!("{entry}"),
        )?;
        check(
            path["state"] == "watching" && status["report"]["health"] == "warning",
            || {
                format!(
                    "path {} health {}",
                    path["state"], status["report"]["health"]
                )
            },
        )
    })
    .await;
    // A later save still reaches the others.
    ws.write("src/later.js", "later\n");
    wait_all_mirror(&env, &ws, &sync, &others).await;

    // Usable again: it is brought up to date without anything to do.
    env.sh(&broken, "rm -f /app && mkdir /app").await;
    wait_all_mirror(&env, &ws, &sync, &pods).await;
    wait_replicas_watching(&env, &ws, &kubeconfig, &sync, 3).await;

    // The primary's pod goes: the oldest remaining pod becomes the primary (its first
    // sync a merge that deletes nothing), and what its container writes comes back.
    let before = local_tree(&ws.path("src"), FERRY_STATE);
    env.delete_pod(&primary).await;
    let new_primary = wait_replicas_watching(&env, &ws, &kubeconfig, &sync, 3).await;
    assert_ne!(new_primary, primary);
    assert!(
        pods.contains(&new_primary),
        "a replacement pod became the primary"
    );
    env.sh(&new_primary, "echo again > /app/from-new-primary.txt")
        .await;
    wait_until("the new primary's write comes back", &sync, || async {
        check(
            ws.read("src/from-new-primary.txt").as_deref() == Some(b"again\n".as_slice()),
            || "not here yet".into(),
        )
    })
    .await;
    let mut after = local_tree(&ws.path("src"), FERRY_STATE);
    after.remove("from-new-primary.txt");
    assert!(
        tree_diff(&before, &after).is_none(),
        "the local folder changed when the primary moved: {:?}",
        tree_diff(&before, &after)
    );
    wait_all_mirror(&env, &ws, &sync, &ready_pods(&env).await).await;
}

/// A hostile secondary: its folder holds links to `/etc` and out of the folder, a FIFO, a
/// name ferry cannot sync, a folder where the local folder has a file and files of its
/// own. Mirroring it deletes and overwrites only inside its folder and never through a
/// link (its `/etc` and a decoy beside the folder stay as they were), leaves what it
/// cannot sync alone, and the local workspace does not change at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_secondary_is_mirrored_without_touching_anything_outside() {
    let (env, ws) = replicated("replica-hostile", 2).await;
    let kubeconfig = env.cluster.kubeconfig();
    ws.write("src/index.js", "console.log(1)\n");
    ws.write("src/lib/util.js", "exports.x = 1\n");
    // The secondary is the younger pod (the primary is the oldest, as ferry chooses).
    let pods: kube::Api<Pod> = kube::Api::namespaced(env.client.clone(), &env.ns);
    let mut all: Vec<Pod> = pods
        .list(&kube::api::ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    all.sort_by_key(|p| {
        (
            p.metadata.creation_timestamp.clone().map(|t| t.0),
            p.metadata.name.clone(),
        )
    });
    let secondary = all[1].metadata.name.clone().unwrap();
    env.sh(
        &secondary,
        "set -e; mkdir -p /decoy; echo secret > /decoy/secret; cd /app; \
         ln -s /etc etc; ln -s .. up; ln -s ../decoy decoy; mkfifo pipe; \
         printf x > \"$(printf 'new\\nline')\"; mkdir -p index.js lib; echo theirs > index.js/inner; \
         echo theirs > lib/util.js; echo stale > stale.txt",
    )
    .await;
    // (`-A`: the root folder gains ferry's marker folder beside /app, so its link count moves.)
    let outside = "ls -lA /etc /decoy; cat /decoy/secret /etc/*";
    let outside_before = env.sh(&secondary, outside).await;
    // The doctor names the replicas, the primary first (its checks are the primary's).
    let doctor = ws.ferry(&kubeconfig, &["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    let primary = all[0].metadata.name.clone().unwrap();
    assert!(
        text.contains(&format!(
            "replicas: all — 2 pods: {primary} (primary), {secondary};"
        )),
        "{text}"
    );
    let workspace_before = local_tree(ws.root(), &[".ferry"]);

    let sync = ws.sync(&kubeconfig);
    wait_replicas_watching(&env, &ws, &kubeconfig, &sync, 2).await;
    wait_until("the secondary mirrors what it can", &sync, || async {
        let listing = env
            .sh(
                &secondary,
                "cd /app; ls -A | sort; cat index.js lib/util.js 2>&1",
            )
            .await;
        check(
            listing.contains("console.log(1)\nexports.x = 1\n") && !listing.contains("stale.txt"),
            || listing.clone(),
        )
    })
    .await;
    // What it cannot sync is left alone: the links, the FIFO, the unsyncable name.
    let left = env
        .sh(
            &secondary,
            "cd /app; readlink etc; readlink up; readlink decoy; [ -p pipe ] && echo fifo; \
             ls | grep -c new",
        )
        .await;
    assert_eq!(left, "/etc\n..\n../decoy\nfifo\n1\n", "{left}");
    assert_eq!(
        env.sh(&secondary, outside).await,
        outside_before,
        "something outside the secondary's folder changed"
    );
    if let Some(d) = tree_diff(&workspace_before, &local_tree(ws.root(), &[".ferry"])) {
        panic!("the local workspace changed: {d}");
    }
}
