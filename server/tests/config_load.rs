//! `ferry::config::load` on real folders: finding the file, no config at all, overrides,
//! `.env`, exclude files, and errors with positions.

use std::fs;
use std::path::{Path, PathBuf};

use ferry::config::{load, Config, Format, Loaded, Severity};

fn no_env(_: &str) -> Option<String> {
    None
}

fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

fn loaded(result: Loaded) -> Config {
    match result {
        Loaded::Config(config) => config,
        Loaded::NoConfig { searched } => panic!("no config found in {searched:?}"),
    }
}

const CURRENT: &str = "\
version: v2beta1
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: ./src:/app
";

const SEED: &str = "\
version: v1alpha1
devSpace:
  sync:
  - containerPath: /app
    labelSelector:
      release: devspace-default
    localSubPath: ./
";

#[test]
fn no_config_file_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    match load(dir.path(), None, &Default::default(), &no_env).unwrap() {
        Loaded::NoConfig { searched } => assert_eq!(
            searched,
            vec![
                dir.path().join("devspace.yaml"),
                dir.path().join(".devspace/config.yaml")
            ]
        ),
        Loaded::Config(c) => panic!("unexpected config {c:?}"),
    }
}

#[test]
fn finds_the_seed_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), ".devspace/config.yaml", SEED);
    let config = loaded(load(dir.path(), None, &Default::default(), &no_env).unwrap());
    assert_eq!(config.file, file);
    assert_eq!(config.format, Format::DevSpaceSync);
    assert_eq!(config.sync[0].local_path, dir.path());
}

#[test]
fn prefers_devspace_yaml_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let preferred = write(dir.path(), "devspace.yaml", CURRENT);
    write(dir.path(), ".devspace/config.yaml", SEED);
    let config = loaded(load(dir.path(), None, &Default::default(), &no_env).unwrap());
    assert_eq!(config.file, preferred);
    assert_eq!(config.format, Format::V2Beta1);
    assert_eq!(config.sync[0].local_path, dir.path().join("src"));
    assert_eq!(config.diagnostics.len(), 1, "{:?}", config.diagnostics);
    let d = &config.diagnostics[0];
    assert_eq!(d.severity, Severity::Warning);
    assert!(d.message.contains("config.yaml is ignored"), "{d}");
    assert_eq!(
        (d.span.file.as_path(), d.span.line, d.span.column),
        (preferred.as_path(), 1, 1)
    );
}

#[test]
fn override_path_is_read_relative_to_the_root() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "devspace.yaml", CURRENT);
    let other = write(
        dir.path(),
        "conf/other.yaml",
        "dev:\n  api:\n    labelSelector: {app: api}\n    sync:\n    - path: ./api:/srv\n",
    );
    let config = loaded(
        load(
            dir.path(),
            Some(Path::new("conf/other.yaml")),
            &Default::default(),
            &no_env,
        )
        .unwrap(),
    );
    assert_eq!(config.file, other);
    assert_eq!(config.sync[0].name, "api");
    // Relative local paths stay relative to the workspace root, not the file.
    assert_eq!(config.sync[0].local_path, dir.path().join("api"));
}

#[test]
fn missing_override_is_an_error_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(
        dir.path(),
        Some(Path::new("nope.yaml")),
        &Default::default(),
        &no_env,
    )
    .unwrap_err();
    assert_eq!(e.diagnostics.len(), 1);
    let d = &e.diagnostics[0];
    assert_eq!(d.span.file, dir.path().join("nope.yaml"));
    assert_eq!((d.span.line, d.span.column), (1, 1));
    assert!(e.to_string().starts_with(&format!(
        "{}:1:1: error: cannot read the config file",
        dir.path().join("nope.yaml").display()
    )));
}

#[test]
fn broken_config_reports_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "devspace.yaml",
        "dev:\n  web:\n    labelSelector: {app: web}\n    sync:\n    - path: .\n      initialSync: mirror\n",
    );
    let e = load(dir.path(), None, &Default::default(), &no_env).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:6:20: error: unknown `initialSync` value `mirror`: expected one of merge, \
             mirrorLocal, preferLocal, preferRemote, preferNewest, mirrorRemote, keepAll, disabled",
            file.display()
        )
    );
}

#[test]
fn exclude_files_are_loaded_from_the_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "devspace.yaml",
        "\
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: ./src:/app
      excludeFile: .syncignore
      downloadExcludeFile: ../download.ignore
      excludePaths: [tmp/]
",
    );
    let ignore = write(
        dir.path(),
        "src/.syncignore",
        "# build output\nbuild/\n\n  *.log\n",
    );
    write(dir.path(), "download.ignore", "uploads/\n");
    let config = loaded(load(dir.path(), None, &Default::default(), &no_env).unwrap());
    let sync = &config.sync[0];
    let both: Vec<&str> = sync.excludes.both.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(
        both,
        vec![".devspace/", ".ferry/", "tmp/", "build/", "*.log"]
    );
    let log = sync.excludes.both[4].span.as_ref().unwrap();
    assert_eq!(log.file, ignore);
    assert_eq!(
        (log.line, log.column, log.end_line, log.end_column),
        (4, 3, 4, 8)
    );
    let download: Vec<&str> = sync
        .excludes
        .download
        .iter()
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(download, vec!["uploads/"]);
}

#[test]
fn missing_exclude_file_is_an_error_at_the_field() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "devspace.yaml",
        "dev:\n  web:\n    labelSelector: {app: web}\n    sync:\n    - path: .\n      excludeFile: .gone\n",
    );
    let e = load(dir.path(), None, &Default::default(), &no_env).unwrap_err();
    let d = &e.diagnostics[0];
    assert_eq!((d.span.line, d.span.column, d.span.end_column), (6, 20, 25));
    assert!(d.message.contains("cannot read the exclude file"), "{d}");
}

#[test]
fn dot_env_fills_variables_the_environment_lacks() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".env", "APP=from-dotenv\nNS=from-dotenv\n");
    write(
        dir.path(),
        "devspace.yaml",
        "dev:\n  web:\n    labelSelector: {app: '${APP}'}\n    namespace: ${NS}\n    sync:\n    - path: .\n",
    );
    let env = |name: &str| (name == "NS").then(|| "from-env".to_string());
    let config = loaded(load(dir.path(), None, &Default::default(), &env).unwrap());
    let target = &config.sync[0].target;
    assert_eq!(target.label_selector["app"], "from-dotenv");
    assert_eq!(target.namespace.as_deref(), Some("from-env"));
}

#[test]
fn config_serializes_to_camel_case_json() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "devspace.yaml", CURRENT);
    let config = loaded(load(dir.path(), None, &Default::default(), &no_env).unwrap());
    let json = serde_json::to_value(&config).unwrap();
    let sync = &json["sync"][0];
    assert_eq!(sync["containerPath"], "/app");
    assert_eq!(sync["initialSync"], "merge");
    assert_eq!(sync["target"]["labelSelector"]["app"], "web");
    assert_eq!(sync["origin"]["endColumn"], 23);
    assert_eq!(json["format"], "v2beta1");
}

#[test]
fn the_files_that_configure_a_sync_path_are_listed_as_protected() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cfg = write(
        root,
        "devspace.yaml",
        "version: v2beta1\ndev:\n  web:\n    labelSelector: {app: web}\n    sync:\n    - path: ./:/app\n      excludeFile: .syncignore\n      downloadExcludeFile: conf/down.ignore\n",
    );
    write(root, ".syncignore", "tmp/\n");
    write(root, "conf/down.ignore", "*.log\n");
    let config = loaded(load(root, None, &Default::default(), &no_env).unwrap());
    let protected = &config.sync[0].protected;
    for want in [
        cfg,
        root.join(".env"),
        root.join(".syncignore"),
        root.join("conf/down.ignore"),
    ] {
        assert!(protected.contains(&want), "{want:?} not in {protected:?}");
    }
}
