//! OCI runtime-spec documents (`config.json` for `runc run`, `process.json` for
//! `runc exec --process`), shaped like what containerd generates for a Kubernetes pod.

use serde_json::{json, Value};

use super::Mount;

/// `PATH` of every container, as containerd sets it when the image has none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's / containerd's default capability set, given to root processes (bounding,
/// effective, permitted). Non-root processes keep it as bounding set only.
pub(crate) const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// What a container or exec process runs as and with.
#[derive(Debug, Clone)]
pub(crate) struct ProcessSpec {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Merges `extra` into `env`: a name already present gets the new value in place, new
/// names are appended (so later entries win, as with Kubernetes `env`).
pub(crate) fn merge_env(env: &mut Vec<(String, String)>, extra: &[(String, String)]) {
    for (k, v) in extra {
        match env.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
}

/// The environment a container's processes start from: `PATH`, `HOSTNAME`, `HOME` (`/root`
/// for uid 0, else `/`), then `user_env` (which may override any of them).
pub(crate) fn base_env(
    hostname: &str,
    uid: u32,
    user_env: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), DEFAULT_PATH.to_string()),
        ("HOSTNAME".to_string(), hostname.to_string()),
        (
            "HOME".to_string(),
            if uid == 0 { "/root" } else { "/" }.to_string(),
        ),
    ];
    merge_env(&mut env, user_env);
    env
}

/// The `process` object of a spec.
pub(crate) fn process(p: &ProcessSpec) -> Value {
    let caps: Vec<&str> = DEFAULT_CAPS.to_vec();
    let granted: Vec<&str> = if p.uid == 0 { caps.clone() } else { Vec::new() };
    json!({
        "terminal": false,
        "user": {
            "uid": p.uid,
            "gid": p.gid,
            "additionalGids": p.additional_gids,
        },
        "args": p.args,
        "env": p.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "cwd": p.cwd,
        "capabilities": {
            "bounding": caps,
            "effective": granted,
            "permitted": granted,
            "inheritable": [],
            "ambient": [],
        },
        "noNewPrivileges": false,
        "oomScoreAdj": 0,
    })
}

/// A complete `config.json` for a bundle whose root file system is `<bundle>/rootfs`.
pub(crate) fn config(
    process: Value,
    hostname: &str,
    mounts: &[Mount],
    cgroups_path: &str,
) -> Value {
    let mut all = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ];
    for m in mounts {
        let mut options = vec!["rbind", "rprivate"];
        options.push(if m.read_only { "ro" } else { "rw" });
        all.push(json!({
            "destination": m.destination,
            "type": "bind",
            "source": m.source,
            "options": options,
        }));
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "rootfs", "readonly": false},
        "mounts": all,
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
            "cgroupsPath": cgroups_path,
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
        },
    });
    if !hostname.is_empty() {
        spec["hostname"] = json!(hostname);
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_env_merge_and_home() {
        let env = base_env(
            "h",
            0,
            &[("PATH".into(), "/x".into()), ("A".into(), "1".into())],
        );
        assert_eq!(
            env,
            vec![
                ("PATH".to_string(), "/x".to_string()),
                ("HOSTNAME".to_string(), "h".to_string()),
                ("HOME".to_string(), "/root".to_string()),
                ("A".to_string(), "1".to_string()),
            ]
        );
        let env = base_env("h", 1000, &[]);
        assert_eq!(env[2], ("HOME".to_string(), "/".to_string()));
    }

    #[test]
    fn runtime_non_root_gets_no_effective_caps() {
        let mk = |uid| ProcessSpec {
            args: vec!["sh".into()],
            env: vec![],
            cwd: "/".into(),
            uid,
            gid: uid,
            additional_gids: vec![],
        };
        let root = process(&mk(0));
        assert_eq!(
            root["capabilities"]["effective"].as_array().unwrap().len(),
            DEFAULT_CAPS.len()
        );
        let user = process(&mk(1000));
        assert!(user["capabilities"]["effective"]
            .as_array()
            .unwrap()
            .is_empty());
        assert!(user["capabilities"]["permitted"]
            .as_array()
            .unwrap()
            .is_empty());
        assert_eq!(
            user["capabilities"]["bounding"].as_array().unwrap().len(),
            DEFAULT_CAPS.len()
        );
    }
}
