//! The settings of `ferry lsp`: `initializationOptions`, overridden by the `ferry` section
//! of `workspace/configuration` (see docs/protocol.md).

use std::path::PathBuf;

use serde::Deserialize;

use crate::target::KubeOverrides;

/// One workspace folder's settings. Every field is optional; `None` means the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// The config file, relative to the folder.
    pub config_path: Option<String>,
    /// A kubeconfig file.
    pub kubeconfig: Option<String>,
    /// The kubeconfig context.
    pub context: Option<String>,
    /// The namespace for sync paths that name none.
    pub namespace: Option<String>,
    /// Start syncing after `initialized` (default true).
    pub auto_start: Option<bool>,
    /// stderr log level.
    pub log_level: Option<String>,
    /// Whether the server watches the folder's files itself (default true). Off for
    /// clients that report every change (`didSave`, `didChangeWatchedFiles`).
    pub local_watcher: Option<bool>,
    /// DevSpace profiles to apply after the activated ones: a name or a list of names.
    #[serde(deserialize_with = "one_or_many")]
    pub profile: Option<Vec<String>>,
}

/// A string or a list of strings (`null`: none).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) if s.trim().is_empty() => Some(Vec::new()),
        Some(OneOrMany::One(s)) => Some(vec![s.trim().to_string()]),
        Some(OneOrMany::Many(v)) => Some(
            v.into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
    })
}

impl Settings {
    /// Reads settings from a JSON value; anything unreadable counts as no settings (and is
    /// logged), so a typo never stops the sync.
    pub fn from_json(v: Option<&serde_json::Value>) -> Settings {
        match v {
            None | Some(serde_json::Value::Null) => Settings::default(),
            Some(v) => serde_json::from_value(v.clone()).unwrap_or_else(|e| {
                tracing::warn!("ignoring unreadable ferry settings {v}: {e}");
                Settings::default()
            }),
        }
    }

    /// `self` with every field `over` sets replaced.
    pub fn merged(&self, over: &Settings) -> Settings {
        Settings {
            config_path: over
                .config_path
                .clone()
                .or_else(|| self.config_path.clone()),
            kubeconfig: over.kubeconfig.clone().or_else(|| self.kubeconfig.clone()),
            context: over.context.clone().or_else(|| self.context.clone()),
            namespace: over.namespace.clone().or_else(|| self.namespace.clone()),
            auto_start: over.auto_start.or(self.auto_start),
            log_level: over.log_level.clone().or_else(|| self.log_level.clone()),
            local_watcher: over.local_watcher.or(self.local_watcher),
            profile: over.profile.clone().or_else(|| self.profile.clone()),
        }
    }

    /// The profiles these settings ask for (activation stays on).
    pub fn profiles(&self) -> crate::config::ProfileChoice {
        crate::config::ProfileChoice {
            names: self.profile.clone().unwrap_or_default(),
            no_activation: false,
        }
    }

    /// Whether the folder starts syncing by itself.
    pub fn auto_start(&self) -> bool {
        self.auto_start.unwrap_or(true)
    }

    /// The kube overrides these settings make.
    pub fn kube(&self) -> KubeOverrides {
        KubeOverrides {
            kubeconfig: self.kubeconfig.as_ref().map(PathBuf::from),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// How the folder's workspace syncs with these settings.
    pub fn workspace(&self) -> crate::engine::workspace::WorkspaceOptions {
        crate::engine::workspace::WorkspaceOptions {
            kube: self.kube(),
            watch_local: self.local_watcher.unwrap_or(true),
        }
    }

    /// Whether a change from `self` to `other` needs the sync restarted.
    pub fn restart_needed(&self, other: &Settings) -> bool {
        self.config_path != other.config_path
            || self.kubeconfig != other.kubeconfig
            || self.context != other.context
            || self.namespace != other.namespace
            || self.local_watcher != other.local_watcher
            || self.profile != other.profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_defaults() {
        let init = Settings::from_json(Some(
            &serde_json::json!({"context": "a", "autoStart": false}),
        ));
        let pulled = Settings::from_json(Some(&serde_json::json!({"context": "b"})));
        let m = init.merged(&pulled);
        assert_eq!(m.context.as_deref(), Some("b"));
        assert!(!m.auto_start());
        assert!(Settings::default().auto_start());
        assert_eq!(
            Settings::from_json(Some(&serde_json::json!(42))),
            Settings::default()
        );
        assert!(init.restart_needed(&m));
    }

    #[test]
    fn profile_is_a_name_or_a_list() {
        let one = Settings::from_json(Some(&serde_json::json!({"profile": "dev"})));
        assert_eq!(one.profiles().names, vec!["dev".to_string()]);
        let many = Settings::from_json(Some(&serde_json::json!({"profile": ["a", " b ", ""]})));
        assert_eq!(
            many.profiles().names,
            vec!["a".to_string(), "b".to_string()]
        );
        let none = Settings::from_json(Some(&serde_json::json!({"profile": null})));
        assert!(none.profiles().names.is_empty());
        assert!(one.restart_needed(&many));
        // Set in the pulled settings, it wins over initializationOptions.
        assert_eq!(many.merged(&one).profiles().names, vec!["dev".to_string()]);
    }
}
