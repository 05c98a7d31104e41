//! What people type into kubectl beside a sync, with every kubectl on the machine: the
//! typed `create` commands (protobuf bodies from kubectl 1.32 on), `scale`, `apply -f` of a
//! dev manifest folder (Deployment, Service, ConfigMap, Secret) whose pod reads the
//! ConfigMap and the Secret through env and volumes, and `get` of each kind with the
//! usual columns.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::Kubectl;

const SLEEPER: &str = "trap 'exit 0' TERM; while true; do sleep 1; done";

/// The whitespace-separated cells of `kubectl get` output: header, then rows.
fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

fn header(out: &str) -> Vec<String> {
    table(out).into_iter().next().unwrap_or_default()
}

/// The row whose first cell is `name`.
fn row(out: &str, name: &str) -> Vec<String> {
    table(out)
        .into_iter()
        .find(|r| r.first().is_some_and(|c| c == name))
        .unwrap_or_else(|| panic!("no row {name:?} in:\n{out}"))
}

/// Polls `check` until it holds (generous deadline; returns the last output on failure).
fn eventually(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match check() {
            Ok(()) => return,
            Err(last) if Instant::now() > deadline => {
                panic!("{what}: never happened; last:\n{last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The pods of `selector` as (name, status) pairs.
fn pods(k: &Kubectl, selector: &str) -> (Vec<(String, String)>, String) {
    let out = k.ok(&["get", "pods", "-l", selector]);
    let rows = table(&out)
        .into_iter()
        .skip(1)
        .map(|r| (r[0].clone(), r.get(2).cloned().unwrap_or_default()))
        .collect();
    (rows, out)
}

const MANIFESTS: &[(&str, &str)] = &[
    (
        "configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  MODE: dev\n  app.conf: |\n    listen 8080\n",
    ),
    (
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secret\ntype: Opaque\nstringData:\n  PASSWORD: s3cret\ndata:\n  token: dG9rZW4tMTIz\n",
    ),
    (
        "service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\nspec:\n  selector:\n    app: app\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n",
    ),
    (
        "deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "echo started in $(MODE) mode; trap 'exit 0' TERM; while true; do sleep 1; done"]
        envFrom:
        - configMapRef: {name: app-config}
        env:
        - name: DB_PASSWORD
          valueFrom:
            secretKeyRef: {name: app-secret, key: PASSWORD}
        volumeMounts:
        - {name: config, mountPath: /etc/app}
        - {name: secret, mountPath: /etc/secret}
      volumes:
      - name: config
        configMap: {name: app-config}
      - name: secret
        secret: {secretName: app-secret, defaultMode: 0400}
"#,
    ),
];

fn scenario(label: &str, minor: Option<u32>) {
    let Some((bin, cluster)) = common::kubectl_and_cluster(label, minor) else {
        return;
    };
    let admin = Kubectl::new(&bin, &cluster.kubeconfig(), "default");

    // create namespace, and get it with its columns.
    admin.ok(&["create", "namespace", "dev"]);
    let out = admin.ok(&["get", "namespace", "dev"]);
    assert_eq!(header(&out), ["NAME", "STATUS", "AGE"], "{out}");
    assert_eq!(row(&out, "dev")[1], "Active", "{out}");
    let k = Kubectl::new(&bin, &cluster.kubeconfig(), "dev");

    // create configmap / secret generic from literals.
    k.ok(&[
        "create",
        "configmap",
        "greeting",
        "--from-literal=MODE=dev",
        "--from-literal=WHO=world",
    ]);
    let out = k.ok(&["get", "configmap", "greeting"]);
    assert_eq!(header(&out), ["NAME", "DATA", "AGE"], "{out}");
    assert_eq!(row(&out, "greeting")[1], "2", "{out}");
    let who = k.ok(&["get", "configmap", "greeting", "-o", "jsonpath={.data.WHO}"]);
    assert_eq!(who, "world");
    k.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=PASSWORD=s3cret",
    ]);
    let out = k.ok(&["get", "secret", "creds"]);
    assert_eq!(header(&out), ["NAME", "TYPE", "DATA", "AGE"], "{out}");
    assert_eq!(&row(&out, "creds")[1..3], ["Opaque", "1"], "{out}");
    let pw = k.ok(&["get", "secret", "creds", "-o", "jsonpath={.data.PASSWORD}"]);
    assert_eq!(pw, "czNjcmV0", "base64 of s3cret");

    // create deployment, then scale it to 3 and back to 1: the pods follow.
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--",
        "sh",
        "-c",
        SLEEPER,
    ]);
    k.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    k.ok(&["scale", "deployment", "web", "--replicas=3"]);
    eventually("3 running pods after scale --replicas=3", || {
        let (p, out) = pods(&k, "app=web");
        let running = p.iter().filter(|(_, s)| s == "Running").count();
        let d = k.ok(&["get", "deployment", "web"]);
        if running == 3 && p.len() == 3 && row(&d, "web")[1] == "3/3" {
            Ok(())
        } else {
            Err(format!("{out}\n{d}"))
        }
    });
    let scale = k.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(scale, "3");
    k.ok(&["scale", "deployment", "web", "--replicas=1"]);
    eventually("1 pod after scale --replicas=1", || {
        let (p, out) = pods(&k, "app=web");
        if p.len() == 1 && p[0].1 == "Running" {
            Ok(())
        } else {
            Err(out)
        }
    });

    // apply -f of a dev manifest folder; the pod reads both objects through env and volumes.
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in MANIFESTS {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = k.ok(&["apply", "-f", dir.path().to_str().unwrap()]);
    for created in [
        "configmap/app-config created",
        "secret/app-secret created",
        "service/app created",
        "deployment.apps/app created",
    ] {
        assert!(out.contains(created), "{created:?} missing from:\n{out}");
    }
    k.ok(&["rollout", "status", "deployment/app", "--timeout=90s"]);
    let (p, out) = pods(&k, "app=app");
    assert_eq!(p.len(), 1, "{out}");
    let pod = &p[0].0;
    let seen = k.ok(&[
        "exec", pod, "--", "sh", "-c",
        "echo \"$MODE $DB_PASSWORD\"; cat /etc/app/app.conf /etc/secret/token; echo; stat -L -c %a /etc/secret/token; touch /etc/app/new 2>/dev/null || echo read-only",
    ]);
    assert_eq!(seen, "dev s3cret\nlisten 8080\ntoken-123\n400\nread-only\n");
    let logs = k.ok(&["logs", pod]);
    assert_eq!(
        logs, "started in dev mode\n",
        "$(MODE) in the command is expanded"
    );
    // A second apply changes nothing. (The Secret reads "configured", as on a real
    // cluster: its `stringData` is never stored, so kubectl's three-way patch re-sends it.)
    let out = k.ok(&["apply", "-f", dir.path().to_str().unwrap()]);
    for unchanged in ["configmap/app-config", "service/app", "deployment.apps/app"] {
        assert!(out.contains(&format!("{unchanged} unchanged")), "{out}");
    }
    let token = k.ok(&[
        "get",
        "secret",
        "app-secret",
        "-o",
        "jsonpath={.data.PASSWORD}",
    ]);
    assert_eq!(token, "czNjcmV0", "{out}");

    // get of each kind, with the usual columns.
    let out = k.ok(&["get", "services"]);
    assert_eq!(
        header(&out),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ],
        "{out}"
    );
    let svc = row(&out, "app");
    assert_eq!(svc[1], "ClusterIP", "{out}");
    assert!(svc[2].starts_with("10."), "{out}");
    assert_eq!(&svc[3..5], ["<none>", "80/TCP"], "{out}");
    let out = k.ok(&["get", "deployments"]);
    assert_eq!(
        header(&out),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{out}"
    );
    assert_eq!(&row(&out, "app")[1..4], ["1/1", "1", "1"], "{out}");
    assert_eq!(&row(&out, "web")[1..4], ["1/1", "1", "1"], "{out}");
    let out = k.ok(&["get", "configmaps"]);
    assert_eq!(row(&out, "app-config")[1], "2", "{out}");
    let out = k.ok(&["get", "secrets"]);
    assert_eq!(&row(&out, "app-secret")[1..3], ["Opaque", "2"], "{out}");
    let out = k.ok(&["get", "pods"]);
    assert_eq!(
        header(&out),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );

    // A pod that references a missing ConfigMap waits in CreateContainerConfigError, and
    // starts once the ConfigMap exists.
    let missing = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: needs-config\n  labels: {app: needs-config}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n    envFrom:\n    - configMapRef: {name: later}\n";
    k.create(missing);
    eventually("CreateContainerConfigError", || {
        let (p, out) = pods(&k, "app=needs-config");
        if p.first()
            .is_some_and(|(_, s)| s == "CreateContainerConfigError")
        {
            Ok(())
        } else {
            Err(out)
        }
    });
    let reason = k.ok(&[
        "get",
        "pod",
        "needs-config",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.message}",
    ]);
    assert_eq!(reason, "configmap \"later\" not found");
    k.ok(&["create", "configmap", "later", "--from-literal=A=1"]);
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/needs-config",
        "--timeout=90s",
    ]);

    port_forward(&k, label);

    // Deleting the namespace removes what it holds.
    admin.ok(&["delete", "namespace", "dev", "--timeout=90s"]);
    let left = admin.run(&[
        "get",
        "configmaps,secrets,services,deployments",
        "-n",
        "dev",
    ]);
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "{}",
        String::from_utf8_lossy(&left.stdout)
    );
    eprintln!("{label}: ok");
}

/// `kubectl port-forward pod/srv :8080` to busybox httpd in a container: kubectl picks a
/// free local port and prints it; an HTTP request through it is answered by the pod, twice
/// (each connection is its own stream pair).
fn port_forward(k: &Kubectl, label: &str) {
    use std::io::{BufRead, BufReader, Read, Write};
    let srv = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: srv\n  labels: {app: srv}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: busybox\n    command: [\"sh\", \"-c\", \"mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n";
    k.create(srv);
    k.ok(&["wait", "--for=condition=Ready", "pod/srv", "--timeout=90s"]);
    let mut child = k
        .cmd(&["port-forward", "pod/srv", ":8080"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl port-forward");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // "Forwarding from 127.0.0.1:43125 -> 8080"
    let port: u16 = loop {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("{label}: port-forward ended without forwarding: {err}");
        }
        if let Some(rest) = line.trim().strip_prefix("Forwarding from 127.0.0.1:") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    for _ in 0..2 {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        conn.write_all(b"GET /index.html HTTP/1.0\r\nHost: srv\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.") && answer.contains(" 200 "),
            "{label}: {answer}"
        );
        assert!(answer.ends_with("hello from srv\n"), "{label}: {answer}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

// One test per kubectl on the machine (and the dispatcher), each running `scenario`.
kubectl_tests!(scenario);
