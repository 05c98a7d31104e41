//! `ferry.yaml`, ferry's own settings beside the config file: which sync paths each level
//! applies to, the most specific level winning, and its errors and warnings with positions
//! in `ferry.yaml` itself.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use ferry::config::{
    parse, Config, ConfigError, ParseOptions, ProfileChoice, Replicas, Severity, Symlinks,
    FERRY_FILE_NAME,
};

const ROOT: &str = "/work/project";
const FILE: &str = "/work/project/devspace.yaml";
const FERRY: &str = "/work/project/ferry.yaml";

const DEVSPACE: &str = "\
version: v2beta1
dev:
  app:
    labelSelector: {app: web}
    sync:
      - path: ./:/app
      - path: ./docs:/srv/docs
  worker:
    imageSelector: busybox
    sync:
      - path: ./jobs:/jobs
";

fn run(devspace: &str, files: &[(&str, &str)]) -> Result<Config, ConfigError> {
    run_at(FILE, devspace, files)
}

/// Parses `devspace` as the config file `file`, with `files` readable beside it.
fn run_at(file: &str, devspace: &str, files: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let files: HashMap<PathBuf, String> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
    let read = move |path: &Path| -> io::Result<String> {
        files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    };
    let options = ParseOptions {
        workspace_root: Path::new(ROOT),
        format: None,
        env: &|_| None,
        read_file: &read,
        profiles: &ProfileChoice::default(),
    };
    parse(devspace, Path::new(file), &options)
}

fn modes(config: &Config) -> Vec<(&str, Symlinks)> {
    config
        .sync
        .iter()
        .map(|s| (s.name.as_str(), s.symlinks))
        .collect()
}

#[test]
fn without_a_ferry_yaml_every_path_is_portable_and_the_file_is_still_protected() {
    let config = run(DEVSPACE, &[]).unwrap();
    assert_eq!(
        modes(&config),
        [
            ("app", Symlinks::Portable),
            ("app#1", Symlinks::Portable),
            ("worker", Symlinks::Portable)
        ]
    );
    assert!(config.diagnostics.is_empty(), "{:?}", config.diagnostics);
    // A container must not be able to plant a ferry.yaml that changes what ferry does.
    for sync in &config.sync {
        assert!(
            sync.protected.contains(&PathBuf::from(FERRY)),
            "{}: {:?}",
            sync.name,
            sync.protected
        );
    }
    assert_eq!(FERRY_FILE_NAME, "ferry.yaml");
    assert_eq!(
        config
            .sync
            .iter()
            .map(|s| s.dev.as_str())
            .collect::<Vec<_>>(),
        ["app", "app", "worker"]
    );
}

#[test]
fn the_most_specific_level_wins() {
    let ferry = "\
version: v1
defaults:
  symlinks: ignore
dev:
  app:
    symlinks: portable
    sync:
      - path: ./docs/:/srv/docs/
        symlinks: ignore
";
    let config = run(DEVSPACE, &[(FERRY, ferry)]).unwrap();
    assert_eq!(
        modes(&config),
        [
            ("app", Symlinks::Portable),  // dev.app
            ("app#1", Symlinks::Ignore),  // dev.app.sync[0], trailing slashes and all
            ("worker", Symlinks::Ignore)  // defaults
        ]
    );
    assert!(config.diagnostics.is_empty(), "{:?}", config.diagnostics);
}

#[test]
fn paths_match_as_written_in_any_spelling_of_the_same_folders() {
    let ferry = "dev:\n  app:\n    sync:\n      - path: .:/app\n        symlinks: ignore\n";
    let config = run(DEVSPACE, &[(FERRY, ferry)]).unwrap();
    assert_eq!(config.sync[0].symlinks, Symlinks::Ignore);
    assert_eq!(config.sync[1].symlinks, Symlinks::Portable);
}

#[test]
fn follow_is_a_mode() {
    let ferry = "defaults:\n  symlinks: follow\n";
    let config = run(DEVSPACE, &[(FERRY, ferry)]).unwrap();
    assert!(config.sync.iter().all(|s| s.symlinks == Symlinks::Follow));
    assert!(config.diagnostics.is_empty(), "{:?}", config.diagnostics);
}

#[test]
fn a_single_file_entry_is_matched_by_its_file_path() {
    let devspace = "\
version: v2beta1
dev:
  app:
    labelSelector: {app: web}
    sync:
      - path: ./config.json:/app/config.json
        file: true
";
    let ferry = "dev:\n  app:\n    sync:\n      - path: ./config.json:/app/config.json\n        symlinks: ignore\n";
    let config = run(devspace, &[(FERRY, ferry)]).unwrap();
    assert_eq!(config.sync[0].symlinks, Symlinks::Ignore);
    assert!(config.diagnostics.is_empty(), "{:?}", config.diagnostics);
}

#[test]
fn a_typo_in_a_field_is_an_error_in_ferry_yaml_with_its_position() {
    let ferry = "dev:\n  app:\n    symlink: ignore\n";
    let e = run(DEVSPACE, &[(FERRY, ferry)]).unwrap_err();
    let d = e
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .unwrap();
    assert_eq!(d.span.file, PathBuf::from(FERRY));
    assert_eq!((d.span.line, d.span.column), (3, 5), "{d}");
    assert!(d.message.contains("did you mean `symlinks`"), "{d}");
    assert!(d.message.contains("nothing is synced"), "{d}");
}

#[test]
fn an_unknown_mode_is_an_error_naming_the_modes() {
    let ferry = "defaults:\n  symlinks: folow\n";
    let e = run(DEVSPACE, &[(FERRY, ferry)]).unwrap_err();
    let d = &e.diagnostics[0];
    assert_eq!((d.span.line, d.span.column), (2, 13), "{d}");
    assert!(d.message.contains("`portable`, `ignore`, `follow`"), "{d}");
    assert!(d.message.contains("found `folow`"), "{d}");
    assert!(d.message.contains("did you mean `follow`"), "{d}");
}

#[test]
fn a_wrong_version_and_broken_yaml_are_errors() {
    let e = run(DEVSPACE, &[(FERRY, "version: v2\n")]).unwrap_err();
    assert!(e.diagnostics[0].message.contains("must be `v1`"), "{e}");
    let e = run(DEVSPACE, &[(FERRY, "dev: [\n")]).unwrap_err();
    assert!(
        e.diagnostics[0].message.contains("YAML syntax error"),
        "{e}"
    );
    assert_eq!(e.diagnostics[0].span.file, PathBuf::from(FERRY));
}

#[test]
fn names_that_match_nothing_are_warnings_with_a_hint() {
    let ferry = "\
dev:
  ap:
    symlinks: ignore
  worker:
    sync:
      - path: ./job:/jobs
        symlinks: ignore
";
    let config = run(DEVSPACE, &[(FERRY, ferry)]).unwrap();
    assert_eq!(
        modes(&config),
        [
            ("app", Symlinks::Portable),
            ("app#1", Symlinks::Portable),
            ("worker", Symlinks::Portable)
        ]
    );
    let messages: Vec<String> = config.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0].contains("`dev.ap` names no dev container"),
        "{messages:?}"
    );
    assert!(messages[0].contains("did you mean `app`"), "{messages:?}");
    assert!(
        messages[1].contains("no sync entry of `dev.worker`"),
        "{messages:?}"
    );
    assert!(config
        .diagnostics
        .iter()
        .all(|d| d.span.file == Path::new(FERRY) && d.severity == Severity::Warning));
    assert_eq!(config.diagnostics[0].span.line, 2);
}

#[test]
fn a_ferry_yaml_beside_a_config_in_a_subfolder_is_the_one_read() {
    let file = "/work/project/.devspace/config.yaml";
    let seed = "\
version: v1
devSpace:
  sync:
  - labelSelector: {app: web}
    containerPath: /app
";
    let ferry = "dev:\n  sync:\n    symlinks: ignore\n";
    let config = run_at(file, seed, &[("/work/project/.devspace/ferry.yaml", ferry)]).unwrap();
    assert_eq!(config.sync[0].dev, "sync");
    assert_eq!(config.sync[0].symlinks, Symlinks::Ignore);
}

/// `replicas:` is read at every level like `symlinks:` (the most specific winning), its
/// default is one pod, and a wrong value is an error naming the choices.
#[test]
fn replicas_are_chosen_per_level_and_checked() {
    let replicas =
        |config: &Config| -> Vec<Replicas> { config.sync.iter().map(|s| s.replicas).collect() };
    let config = run(DEVSPACE, &[]).unwrap();
    assert_eq!(replicas(&config), [Replicas::One; 3]);
    let ferry = "\
defaults:
  replicas: all
dev:
  app:
    sync:
      - path: ./docs:/srv/docs
        replicas: one
";
    let config = run(DEVSPACE, &[(FERRY, ferry)]).unwrap();
    assert_eq!(
        replicas(&config),
        [Replicas::All, Replicas::One, Replicas::All]
    );
    assert!(config.diagnostics.is_empty(), "{:?}", config.diagnostics);
    let e = run(DEVSPACE, &[(FERRY, "dev:\n  app:\n    replicas: al\n")]).unwrap_err();
    let d = &e.diagnostics[0];
    assert_eq!((d.span.line, d.span.column), (3, 15), "{d}");
    assert!(d.message.contains("`one`, `all`"), "{d}");
    assert!(d.message.contains("did you mean `all`"), "{d}");
}
