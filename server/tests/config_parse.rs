//! `ferry::config::parse` on YAML strings: every format (including the exact samples in
//! the DevSpace notes), variables, selectors, initial-sync strategies, and diagnostics
//! with exact positions.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use ferry::config::{
    parse, Config, ConfigError, Diagnostic, Format, InitialSync, ParseOptions, ProfileChoice,
    Severity, SyncPath,
};

const ROOT: &str = "/work/project";
const FILE: &str = "/work/project/devspace.yaml";

fn env(name: &str) -> Option<String> {
    match name {
        "IMAGE_FROM_ENV" => Some("registry.example/app".to_string()),
        "OVERRIDDEN" => Some("from-env".to_string()),
        "NS" => Some("team-a".to_string()),
        "HOME" => Some("/home/dev".to_string()),
        _ => None,
    }
}

fn no_files(path: &Path) -> io::Result<String> {
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} does not exist", path.display()),
    ))
}

fn run(text: &str) -> Result<Config, ConfigError> {
    let options = ParseOptions {
        workspace_root: Path::new(ROOT),
        format: None,
        env: &env,
        read_file: &no_files,
        profiles: &ProfileChoice::default(),
    };
    parse(text, Path::new(FILE), &options)
}

fn ok(text: &str) -> Config {
    match run(text) {
        Ok(config) => config,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

fn err(text: &str) -> ConfigError {
    match run(text) {
        Ok(config) => panic!("expected an error, got {config:#?}"),
        Err(e) => e,
    }
}

fn warnings(config: &Config) -> Vec<String> {
    config.diagnostics.iter().map(ToString::to_string).collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn texts(patterns: &[ferry::config::Pattern]) -> Vec<&str> {
    patterns.iter().map(|p| p.text.as_str()).collect()
}

/// The one diagnostic of `severity` whose message contains `needle`.
fn find<'a>(diagnostics: &'a [Diagnostic], severity: Severity, needle: &str) -> &'a Diagnostic {
    let found: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.severity == severity && d.message.contains(needle))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {severity} containing {needle:?} in {diagnostics:#?}"
    );
    found[0]
}

/// Asserts `line:column-end_line:end_column`.
fn at(d: &Diagnostic, line: u32, column: u32, end_line: u32, end_column: u32) {
    assert_eq!(
        (
            d.span.line,
            d.span.column,
            d.span.end_line,
            d.span.end_column
        ),
        (line, column, end_line, end_column),
        "wrong position for {d}"
    );
    assert_eq!(d.span.file, PathBuf::from(FILE));
}

fn only(config: &Config) -> &SyncPath {
    assert_eq!(config.sync.len(), 1, "{:#?}", config.sync);
    &config.sync[0]
}

// ---------------------------------------------------------------------------------------
// The seed's format: `.devspace/config.yaml`, `devSpace.sync[]`.

/// Notes §2a: the exact v2.0.0 / v2.5.1 quickstart `.devspace/config.yaml`.
const SEED_QUICKSTART: &str = "\
version: v1alpha1
cluster:
  cloudProvider: devspace-cloud
devSpace:
  deployments:
  - helm:
      chartPath: ./chart
    name: devspace-default
  ports:
  - labelSelector:
      release: devspace-default
    portMappings:
    - localPort: 3000
      remotePort: 3000
  sync:
  - containerPath: /app
    labelSelector:
      release: devspace-default
    localSubPath: ./
    uploadExcludePaths:
    - Dockerfile
    - .devspace/
    - chart/
    - node_modules/
images:
  default:
    name: yourdockername/devspace
";

#[test]
fn seed_quickstart_sample_reads_unchanged() {
    let config = ok(SEED_QUICKSTART);
    assert_eq!(config.format, Format::DevSpaceSync);
    assert!(config.diagnostics.is_empty(), "{:?}", warnings(&config));
    let sync = only(&config);
    assert_eq!(sync.name, "sync");
    assert_eq!(sync.local_path, PathBuf::from(ROOT));
    assert_eq!(sync.container_path, "/app");
    assert_eq!(
        sync.target.label_selector,
        labels(&[("release", "devspace-default")])
    );
    assert_eq!(sync.target.image_selector, None);
    assert_eq!(sync.target.namespace, None);
    assert_eq!(sync.target.container, None);
    assert_eq!(texts(&sync.excludes.both), vec![".devspace/", ".ferry/"]);
    assert_eq!(
        texts(&sync.excludes.upload),
        vec!["Dockerfile", ".devspace/", "chart/", "node_modules/"]
    );
    assert!(sync.excludes.download.is_empty());
    assert_eq!(sync.initial_sync, InitialSync::Merge);
    assert!(sync.upload && sync.download && !sync.polling);
    assert_eq!(sync.bandwidth.upload_kib_per_sec, None);
    assert!(sync.on_upload.is_empty());
    // Where the entry and its patterns are written.
    assert_eq!((sync.origin.line, sync.origin.column), (16, 5));
    let dockerfile = sync.excludes.upload[0].span.as_ref().unwrap();
    assert_eq!(
        (dockerfile.line, dockerfile.column, dockerfile.end_column),
        (21, 7, 17)
    );
    assert!(sync.excludes.both[0].span.is_none());
}

/// Notes §2a: the annotated v2.5.1 reference: `service`, `excludePaths`,
/// `bandwidthLimits`; plus `containerName` and `namespace` (v2.0.0).
#[test]
fn seed_services_bandwidth_and_container() {
    let config = ok("\
version: v1alpha1
devSpace:
  services:
  - name: default
    labelSelector:
      release: devspace-default
    namespace: my-namespace
    containerName: web
  sync:
  - service: default
    localSubPath: ./
    containerPath: /app
    excludePaths:
    - node_modules/
    bandwidthLimits:
      download: 100
      upload: 1024
  - labelSelector:
      app: other
    containerName: sidecar
    namespace: ns2
    localSubPath: ./conf
    containerPath: /etc/conf
    downloadExcludePaths: [secrets/]
");
    assert!(config.diagnostics.is_empty(), "{:?}", warnings(&config));
    assert_eq!(config.sync.len(), 2);
    let first = &config.sync[0];
    assert_eq!(first.name, "sync");
    assert_eq!(
        first.target.label_selector,
        labels(&[("release", "devspace-default")])
    );
    assert_eq!(first.target.namespace.as_deref(), Some("my-namespace"));
    assert_eq!(first.target.container.as_deref(), Some("web"));
    assert_eq!(
        texts(&first.excludes.both),
        vec![".devspace/", ".ferry/", "node_modules/"]
    );
    assert_eq!(first.bandwidth.download_kib_per_sec, Some(100));
    assert_eq!(first.bandwidth.upload_kib_per_sec, Some(1024));
    let second = &config.sync[1];
    assert_eq!(second.name, "sync#1");
    assert_eq!(second.local_path, PathBuf::from("/work/project/conf"));
    assert_eq!(second.container_path, "/etc/conf");
    assert_eq!(second.target.container.as_deref(), Some("sidecar"));
    assert_eq!(second.target.namespace.as_deref(), Some("ns2"));
    assert_eq!(texts(&second.excludes.download), vec!["secrets/"]);
}

/// Notes §2a: the v1.0.0 docs example, `version: v1` with `resourceType: pod`.
#[test]
fn seed_v1_with_resource_type() {
    let config = ok("\
version: v1
devSpace:
  sync:
  - resourceType: pod
    labelSelector:
      release: my-app
    localSubPath: ./
    containerPath: /app
");
    assert_eq!(config.format, Format::DevSpaceSync);
    assert!(config.diagnostics.is_empty(), "{:?}", warnings(&config));
    assert_eq!(only(&config).container_path, "/app");

    let e = err("\
version: v1
devSpace:
  sync:
  - resourceType: deployment
    labelSelector: {release: my-app}
    containerPath: /app
");
    let d = find(&e.diagnostics, Severity::Error, "resourceType: deployment");
    at(d, 4, 19, 4, 29);
}

#[test]
fn seed_requires_container_path() {
    let e = err("\
devSpace:
  sync:
  - labelSelector:
      release: x
    localSubPath: ./
");
    let d = find(&e.diagnostics, Severity::Error, "no `containerPath`");
    at(d, 3, 5, 5, 21);
    assert_eq!(d.field_path.as_deref(), Some("devSpace.sync[0]"));
}

#[test]
fn seed_unknown_service_is_an_error_at_the_reference() {
    let e = err("\
devSpace:
  services:
  - name: api
    labelSelector: {app: api}
  sync:
  - service: web
    containerPath: /app
");
    let d = find(&e.diagnostics, Severity::Error, "no entry named `web`");
    at(d, 6, 14, 6, 17);
    assert!(d.message.contains("known: api"), "{d}");
}

// ---------------------------------------------------------------------------------------
// `dev.sync[]`: v3 (v1alpha2/3, named selectors), v4/v5 (v1beta*).

/// Notes §2b: the exact v3.2.0 quickstart `.devspace/config.yaml`.
const V3_QUICKSTART: &str = "\
version: v1alpha3
dev:
  overrideImages:
  - name: default
    entrypoint:
    - sleep
    - \"999999999999\"
  ports:
  - portMappings:
    - localPort: 3000
      remotePort: 3000
    selector: default
  selectors:
  - name: default
    labelSelector:
      app.kubernetes.io/component: default
      app.kubernetes.io/name: devspace-app
  sync:
  - containerPath: /app
    localSubPath: ./
    selector: default
    uploadExcludePaths:
    - Dockerfile
    - .devspace/
    - chart/
    - node_modules/
";

#[test]
fn v3_quickstart_sample_with_named_selector() {
    let config = ok(V3_QUICKSTART);
    assert_eq!(config.format, Format::DevSync);
    assert!(config.diagnostics.is_empty(), "{:?}", warnings(&config));
    let sync = only(&config);
    assert_eq!(
        sync.target.label_selector,
        labels(&[
            ("app.kubernetes.io/component", "default"),
            ("app.kubernetes.io/name", "devspace-app")
        ])
    );
    assert_eq!(sync.container_path, "/app");
    assert_eq!(sync.local_path, PathBuf::from(ROOT));
    assert_eq!(
        texts(&sync.excludes.upload),
        vec!["Dockerfile", ".devspace/", "chart/", "node_modules/"]
    );
}

/// Notes §2c: the v3.5 (`v1beta2`) example; without `containerPath` the container's
/// working directory is used, as DevSpace v3.5–v5 did.
#[test]
fn v1beta2_sample_without_container_path() {
    let config = ok("\
version: v1beta2
dev:
  sync:
  - labelSelector:
      app.kubernetes.io/component: quickstart
    excludePaths:
    - node_modules
");
    assert_eq!(config.format, Format::DevSync);
    let sync = only(&config);
    assert_eq!(sync.container_path, ".");
    assert_eq!(
        texts(&sync.excludes.both),
        vec![".devspace/", ".ferry/", "node_modules"]
    );
}

#[test]
fn v5_entries_with_names_image_selector_and_options() {
    let config = ok("\
version: v1beta11
vars:
- name: IMAGE
  value: registry.com/production:latest
images:
  app:
    image: registry.example/app
dev:
  sync:
  - name: backend
    imageSelector: ${IMAGE}
    containerName: api
    localSubPath: ./src
    containerPath: /app/src
    initialSync: preferNewest
    disableDownload: true
    polling: true
    waitInitialSync: true
    onUpload:
      restartContainer: true
      exec:
      - onChange: [\"./package.json\"]
        command: |-
          npm install
  - imageName: app
    containerPath: /srv
    downloadOnInitialSync: true
");
    assert_eq!(config.sync.len(), 2);
    let backend = &config.sync[0];
    assert_eq!(backend.name, "backend");
    assert_eq!(
        backend.target.image_selector.as_deref(),
        Some("registry.com/production:latest")
    );
    assert_eq!(backend.target.container.as_deref(), Some("api"));
    assert_eq!(backend.initial_sync, InitialSync::PreferNewest);
    assert!(backend.upload && !backend.download && backend.polling);
    assert_eq!(backend.on_upload.len(), 1);
    assert_eq!(backend.on_upload[0].command, "npm install");
    assert_eq!(backend.on_upload[0].on_change, vec!["./package.json"]);
    let second = &config.sync[1];
    assert_eq!(second.name, "sync");
    assert_eq!(
        second.target.image_selector.as_deref(),
        Some("registry.example/app")
    );
    assert_eq!(second.initial_sync, InitialSync::PreferLocal);
    let restart = find(
        &config.diagnostics,
        Severity::Warning,
        "`restartContainer` is not supported",
    );
    at(restart, 20, 7, 20, 23);
    assert!(restart.message.contains("restart helper"), "{restart}");
    find(
        &config.diagnostics,
        Severity::Warning,
        "`waitInitialSync` is not supported",
    );
    assert_eq!(config.diagnostics.len(), 2, "{:?}", warnings(&config));
}

#[test]
fn shape_detection_without_version() {
    let seed = ok("devSpace:\n  sync:\n  - labelSelector: {a: b}\n    containerPath: /app\n");
    assert_eq!(seed.format, Format::DevSpaceSync);
    let list = ok("dev:\n  sync:\n  - labelSelector: {a: b}\n");
    assert_eq!(list.format, Format::DevSync);
    let current = ok("dev:\n  web:\n    labelSelector: {a: b}\n    sync:\n    - path: .\n");
    assert_eq!(current.format, Format::V2Beta1);
    let empty = ok("");
    assert!(empty.sync.is_empty());
    let deployments_only = ok("version: v2beta1\ndeployments:\n  app: {}\n");
    assert!(deployments_only.sync.is_empty());
    assert!(deployments_only.diagnostics.is_empty());
}

// ---------------------------------------------------------------------------------------
// Today's format: `version: v2beta1`.

/// Notes §1's fields, all at once.
const V2BETA1_FULL: &str = "\
version: v2beta1
name: shop
vars:
  IMAGE: registry.example/web
  LIMIT:
    default: \"512\"
dev:
  web:
    imageSelector: ${IMAGE}
    namespace: shop-dev
    container: app
    sync:
    - path: ./src:/app/src
      excludePaths:
      - node_modules/
      - '!node_modules/keep/'
      uploadExcludePaths: [dist/]
      downloadExcludePaths: [logs/]
      initialSync: preferLocal
      disableUpload: false
      disableDownload: false
      bandwidthLimits:
        download: 100
        upload: ${LIMIT}
      polling: true
      onUpload:
        exec:
        - name: deps
          command: npm
          args: [install]
          failOnError: true
          onChange: [package.json, 'src/**/*.lock']
        - command: touch /tmp/reload
          local: true
          once: true
    - path: ./static
    ports:
    - port: \"8080\"
  worker:
    labelSelector:
      app: worker
      tier: backend
    sync:
    - path: ./worker:/opt/worker
";

#[test]
fn v2beta1_every_sync_field() {
    let config = ok(V2BETA1_FULL);
    assert_eq!(config.format, Format::V2Beta1);
    assert!(config.diagnostics.is_empty(), "{:?}", warnings(&config));
    assert_eq!(config.sync.len(), 3);
    let web = &config.sync[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.local_path, PathBuf::from("/work/project/src"));
    assert_eq!(web.container_path, "/app/src");
    assert_eq!(
        web.target.image_selector.as_deref(),
        Some("registry.example/web")
    );
    assert_eq!(web.target.namespace.as_deref(), Some("shop-dev"));
    assert_eq!(web.target.container.as_deref(), Some("app"));
    assert!(web.target.label_selector.is_empty());
    assert_eq!(
        texts(&web.excludes.both),
        vec![
            ".devspace/",
            ".ferry/",
            "node_modules/",
            "!node_modules/keep/"
        ]
    );
    assert_eq!(texts(&web.excludes.upload), vec!["dist/"]);
    assert_eq!(texts(&web.excludes.download), vec!["logs/"]);
    assert_eq!(web.initial_sync, InitialSync::PreferLocal);
    assert!(web.upload && web.download && web.polling);
    assert_eq!(web.bandwidth.download_kib_per_sec, Some(100));
    assert_eq!(web.bandwidth.upload_kib_per_sec, Some(512));
    assert_eq!(web.on_upload.len(), 2);
    let deps = &web.on_upload[0];
    assert_eq!(deps.name.as_deref(), Some("deps"));
    assert_eq!(deps.command, "npm");
    assert_eq!(deps.args.as_deref(), Some(&["install".to_string()][..]));
    assert!(deps.fail_on_error && !deps.local && !deps.once);
    assert_eq!(deps.on_change, vec!["package.json", "src/**/*.lock"]);
    let touch = &web.on_upload[1];
    assert_eq!(touch.args, None);
    assert!(touch.local && touch.once && !touch.fail_on_error);
    assert_eq!((touch.span.line, touch.span.column), (33, 11));

    let web1 = &config.sync[1];
    assert_eq!(web1.name, "web#1");
    assert_eq!(web1.local_path, PathBuf::from("/work/project/static"));
    assert_eq!(web1.container_path, "./static");
    assert_eq!(web1.initial_sync, InitialSync::Merge);
    assert_eq!(web1.target, web.target);

    let worker = &config.sync[2];
    assert_eq!(worker.name, "worker");
    assert_eq!(
        worker.target.label_selector,
        labels(&[("app", "worker"), ("tier", "backend")])
    );
    assert_eq!(worker.target.namespace, None);
    assert_eq!((worker.origin.line, worker.origin.column), (44, 7));
}

#[test]
fn v2beta1_sync_path_forms() {
    let config = ok("\
version: v2beta1
dev:
  a:
    labelSelector: {app: a}
    sync:
    - path: ./web:/app
    - path: api
    - path: ''
    - path:
    - path: .:.
    - path: './x:'
    - path: /abs/outside:/data
    - path: ../project/sub:/sub
");
    let got: Vec<(String, &str)> = config
        .sync
        .iter()
        .map(|s| {
            (
                s.local_path.display().to_string(),
                s.container_path.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("/work/project/web".to_string(), "/app"),
            ("/work/project/api".to_string(), "api"),
            ("/work/project".to_string(), "."),
            ("/work/project".to_string(), "."),
            ("/work/project".to_string(), "."),
            ("/work/project/x".to_string(), "."),
            ("/abs/outside".to_string(), "/data"),
            ("/work/project/sub".to_string(), "/sub"),
        ]
    );
    let names: Vec<&str> = config.sync.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["a", "a#1", "a#2", "a#3", "a#4", "a#5", "a#6", "a#7"]
    );
}

#[test]
fn windows_drive_letters_split_at_the_last_colon() {
    let config = ok("\
dev:
  a:
    labelSelector: {app: a}
    sync:
    - path: C:/codeproject:/home/dev/codeproject
");
    let sync = only(&config);
    assert_eq!(sync.container_path, "/home/dev/codeproject");
    // On a unix host `C:/codeproject` is a relative path.
    if cfg!(unix) {
        assert_eq!(
            sync.local_path,
            PathBuf::from("/work/project/C:/codeproject")
        );
    }
}

#[test]
fn relative_local_path_may_not_leave_the_workspace() {
    let e = err("\
dev:
  a:
    labelSelector: {app: a}
    sync:
    - path: ../elsewhere:/app
");
    let d = find(&e.diagnostics, Severity::Error, "leaves the workspace root");
    at(d, 5, 13, 5, 30);
    assert_eq!(d.field_path.as_deref(), Some("dev.a.sync[0].path"));
}

#[test]
fn v2beta1_containers_section() {
    let config = ok("\
dev:
  app:
    labelSelector: {app: shop}
    container: main
    sync:
    - path: ./src:/src
    containers:
      sidecar:
        sync:
        - path: ./conf:/etc/conf
        - path: ./more:/etc/more
      other:
        container: renamed
        sync:
        - path: ./o:/o
");
    let got: Vec<(&str, Option<&str>)> = config
        .sync
        .iter()
        .map(|s| (s.name.as_str(), s.target.container.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("app", Some("main")),
            ("app/sidecar", Some("sidecar")),
            ("app/sidecar#1", Some("sidecar")),
            ("app/other", Some("renamed")),
        ]
    );
    assert!(config
        .sync
        .iter()
        .all(|s| s.target.label_selector == labels(&[("app", "shop")])));
}

#[test]
fn v2beta1_missing_path_is_an_error_at_the_entry() {
    let e = err("\
dev:
  web:
    labelSelector: {app: web}
    sync:
    - excludePaths: [x]
");
    let d = find(&e.diagnostics, Severity::Error, "has no `path`");
    at(d, 5, 7, 5, 24);
    assert_eq!(d.field_path.as_deref(), Some("dev.web.sync[0]"));
}

#[test]
fn a_sync_without_any_selector_is_an_error() {
    let e = err("\
dev:
  web:
    namespace: x
    sync:
    - path: .:/app
");
    let d = find(&e.diagnostics, Severity::Error, "selects no pod");
    at(d, 2, 3, 2, 6);
    // A dev container without sync needs no selector.
    ok("dev:\n  web:\n    ports:\n    - port: \"80\"\n");
    // Older formats: at the entry.
    let e = err("dev:\n  sync:\n  - containerPath: /app\n    namespace: x\n");
    let d = find(&e.diagnostics, Severity::Error, "selects no pod");
    at(d, 3, 5, 4, 17);
}

// ---------------------------------------------------------------------------------------
// imageSelector.

#[test]
fn image_selector_forms() {
    let config = ok("\
version: v2beta1
images:
  app:
    image: registry.example/shop/app
    dockerfile: ./Dockerfile
dev:
  plain:
    imageSelector: nginx:1.25
    sync: [{path: ./a:/a}]
  helper:
    imageSelector: image(app):tag(app)
    sync: [{path: ./b:/b}]
  runtime:
    imageSelector: ${runtime.images.app.image}:${runtime.images.app.tag}
    sync: [{path: ./c:/c}]
  from-env:
    imageSelector: ${IMAGE_FROM_ENV}:dev
    sync: [{path: ./d:/d}]
  whole:
    imageSelector: ${runtime.images.app}
    sync: [{path: ./e:/e}]
");
    let got: Vec<(&str, Option<&str>)> = config
        .sync
        .iter()
        .map(|s| (s.name.as_str(), s.target.image_selector.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("plain", Some("nginx:1.25")),
            ("helper", Some("registry.example/shop/app")),
            ("runtime", Some("registry.example/shop/app")),
            ("from-env", Some("registry.example/app:dev")),
            ("whole", Some("registry.example/shop/app")),
        ]
    );
    assert!(config.diagnostics.is_empty(), "{:?}", warnings(&config));
}

#[test]
fn image_helper_naming_an_unknown_image_is_an_error() {
    let e = err("\
dev:
  web:
    imageSelector: image(nope):tag(nope)
    sync: [{path: .}]
");
    let d = find(&e.diagnostics, Severity::Error, "names no image");
    at(d, 3, 20, 3, 31);
}

// ---------------------------------------------------------------------------------------
// Variables.

#[test]
fn variables_from_vars_defaults_and_environment() {
    let config = ok("\
version: v2beta1
name: shop
vars:
  APP: web
  OVERRIDDEN: from-file
  DIR:
    value: ./services/${APP}
  REMOTE:
    source: env
    default: /srv/${DEVSPACE_NAME}
  PORT: 8080
dev:
  ${APP}:
    labelSelector:
      app: ${APP}
      port: ${PORT}
      who: ${OVERRIDDEN}
    namespace: ${NS}
    sync:
    - path: ${DIR}:${REMOTE}
      excludePaths: ['${DEVSPACE_USER_HOME}/x']
");
    let sync = only(&config);
    assert_eq!(sync.name, "${APP}", "keys are not substituted");
    assert_eq!(
        sync.target.label_selector,
        labels(&[("app", "web"), ("port", "8080"), ("who", "from-env")])
    );
    assert_eq!(sync.target.namespace.as_deref(), Some("team-a"));
    assert_eq!(sync.local_path, PathBuf::from("/work/project/services/web"));
    assert_eq!(sync.container_path, "/srv/shop");
    assert_eq!(texts(&sync.excludes.both)[2], "/home/dev/x");
}

#[test]
fn v5_list_form_vars() {
    let config = ok("\
version: v1beta10
vars:
- name: IMAGE
  default: registry.example/v5
- name: ASKED
  question: Which one?
  default: answer
dev:
  sync:
  - imageSelector: ${IMAGE}
    containerPath: /${ASKED}
");
    let sync = only(&config);
    assert_eq!(
        sync.target.image_selector.as_deref(),
        Some("registry.example/v5")
    );
    assert_eq!(sync.container_path, "/answer");
}

#[test]
fn unknown_variable_is_an_error_at_the_reference() {
    let e = err("\
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: ./src:/app/${MISSING}/x
");
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    let d = find(&e.diagnostics, Severity::Error, "cannot resolve ${MISSING}");
    at(d, 5, 24, 5, 34);
    assert!(d.message.contains("not defined in `vars`"), "{d}");
    assert_eq!(d.field_path.as_deref(), Some("dev.web.sync[0].path"));
}

#[test]
fn variables_ferry_cannot_compute() {
    let e = err("\
vars:
  TAG:
    command: git rev-parse HEAD
  ASK:
    question: Namespace?
dev:
  web:
    labelSelector: {tag: '${TAG}'}
    namespace: ${ASK}
    sync: [{path: .}]
");
    let tag = find(&e.diagnostics, Severity::Error, "${TAG}");
    assert!(tag.message.contains("runs no commands"), "{tag}");
    at(tag, 8, 27, 8, 33);
    let ask = find(&e.diagnostics, Severity::Error, "${ASK}");
    assert!(ask.message.contains("cannot ask"), "{ask}");
    at(ask, 9, 16, 9, 22);
}

#[test]
fn unresolved_variables_outside_sync_are_not_ferry_s_business() {
    let config = ok("\
deployments:
  app:
    helm:
      values:
        image: ${NOT_SET_ANYWHERE}
dev:
  web:
    labelSelector: {app: web}
    sync: [{path: .}]
");
    assert!(config.diagnostics.is_empty());
}

#[test]
fn devspace_namespace_means_the_current_namespace() {
    let config = ok("\
dev:
  web:
    labelSelector: {app: web}
    namespace: ${DEVSPACE_NAMESPACE}
    sync: [{path: .}]
");
    assert_eq!(only(&config).target.namespace, None);
}

// ---------------------------------------------------------------------------------------
// Initial sync.

#[test]
fn every_initial_sync_strategy() {
    for (strategy, name) in InitialSync::ALL {
        let config = ok(&format!(
            "dev:\n  w:\n    labelSelector: {{a: b}}\n    sync:\n    - path: .\n      initialSync: {name}\n"
        ));
        assert_eq!(only(&config).initial_sync, strategy, "{name}");
        assert_eq!(strategy.config_name(), name);
    }
    let names: Vec<&str> = InitialSync::ALL.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        names,
        vec![
            "merge",
            "mirrorLocal",
            "preferLocal",
            "preferRemote",
            "preferNewest",
            "mirrorRemote",
            "keepAll",
            "disabled"
        ]
    );
}

#[test]
fn default_initial_sync_is_merge_in_every_format() {
    assert_eq!(only(&ok(SEED_QUICKSTART)).initial_sync, InitialSync::Merge);
    assert_eq!(only(&ok(V3_QUICKSTART)).initial_sync, InitialSync::Merge);
    let current = ok("dev:\n  w:\n    labelSelector: {a: b}\n    sync:\n    - path: .\n");
    assert_eq!(only(&current).initial_sync, InitialSync::Merge);
    assert_eq!(InitialSync::default(), InitialSync::Merge);
}

#[test]
fn unknown_initial_sync_is_an_error_at_the_value() {
    let e = err("\
dev:
  w:
    labelSelector: {a: b}
    sync:
    - path: .
      initialSync: preferlocal
");
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    let d = find(
        &e.diagnostics,
        Severity::Error,
        "unknown `initialSync` value `preferlocal`",
    );
    at(d, 6, 20, 6, 31);
    assert!(d.message.contains("did you mean `preferLocal`?"), "{d}");
    assert_eq!(d.field_path.as_deref(), Some("dev.w.sync[0].initialSync"));
    assert_eq!(
        d.to_string(),
        format!(
            "{FILE}:6:20: error: unknown `initialSync` value `preferlocal`: did you mean \
             `preferLocal`? expected one of merge, mirrorLocal, preferLocal, preferRemote, \
             preferNewest, mirrorRemote, keepAll, disabled"
        )
    );
}

// ---------------------------------------------------------------------------------------
// Diagnostics: syntax errors, type errors, unknown and unsupported fields.

#[test]
fn syntax_error_position() {
    let e = err("\
version: v2beta1
dev:
  web:
    sync:
    - path: [unclosed
");
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    let d = &e.diagnostics[0];
    assert_eq!(d.severity, Severity::Error);
    assert!(d.message.starts_with("YAML syntax error"), "{d}");
    at(d, 6, 1, 6, 1);
    assert_eq!(d.field_path, None);
}

#[test]
fn syntax_error_position_bad_indentation() {
    let e = err("\
dev:
  web:
    labelSelector: {app: web}
   sync: []
");
    let d = &e.diagnostics[0];
    assert!(d.message.starts_with("YAML syntax error"), "{d}");
    at(d, 4, 4, 4, 4);
}

#[test]
fn tab_indentation_is_a_syntax_error_with_position() {
    let e = err("dev:\n\tweb: {}\n");
    let d = &e.diagnostics[0];
    assert!(d.message.starts_with("YAML syntax error"), "{d}");
    assert!(d.message.contains("tabs"), "{d}");
    // The parser reports the position right after the tab.
    at(d, 2, 2, 2, 2);
}

#[test]
fn duplicate_key_is_an_error_at_the_second_key() {
    let e = err("dev:\n  web: {}\n  web: {}\n");
    let d = find(&e.diagnostics, Severity::Error, "duplicate key `web`");
    at(d, 3, 3, 3, 3);
}

#[test]
fn type_errors_are_at_the_value() {
    let e = err("\
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: .
      excludePaths: node_modules/
      polling: sometimes
      bandwidthLimits:
        upload: fast
        download: -5
");
    let excludes = find(
        &e.diagnostics,
        Severity::Error,
        "`excludePaths` must be a list",
    );
    at(excludes, 6, 21, 6, 34);
    assert!(excludes.message.ends_with("found a string"), "{excludes}");
    assert_eq!(
        excludes.field_path.as_deref(),
        Some("dev.web.sync[0].excludePaths")
    );
    let polling = find(
        &e.diagnostics,
        Severity::Error,
        "`polling` must be true or false",
    );
    at(polling, 7, 16, 7, 25);
    let upload = find(
        &e.diagnostics,
        Severity::Error,
        "`upload` must be a whole number",
    );
    at(upload, 9, 17, 9, 21);
    let download = find(
        &e.diagnostics,
        Severity::Error,
        "`download` must be a positive",
    );
    at(download, 10, 19, 10, 21);
    assert_eq!(e.errors().count(), 4, "{e}");
}

#[test]
fn wrong_type_for_a_section() {
    let e = err("dev:\n  web:\n    labelSelector: [app, web]\n    sync: [{path: .}]\n");
    let d = find(
        &e.diagnostics,
        Severity::Error,
        "`labelSelector` must be a mapping",
    );
    at(d, 3, 20, 3, 30);
    assert!(d.message.ends_with("found a list"), "{d}");
}

#[test]
fn unknown_field_in_a_sync_entry_is_an_error_that_suggests() {
    // A typo for `excludePaths`: syncing anyway would upload what it meant to keep out.
    let e = err("\
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: .
      excludePath: [tmp/]
");
    assert_eq!(e.diagnostics.len(), 1, "{:#?}", e.diagnostics);
    let d = &e.diagnostics[0];
    assert_eq!(d.severity, Severity::Error);
    at(d, 6, 7, 6, 18);
    assert_eq!(
        d.message,
        "unknown field `excludePath` in dev.<name>.sync[] (did you mean `excludePaths`?); \
         nothing is synced until it is fixed"
    );
    assert_eq!(d.field_path.as_deref(), Some("dev.web.sync[0].excludePath"));
    assert_eq!(d.to_string(), format!("{FILE}:6:7: error: {}", d.message));
}

#[test]
fn unknown_fields_in_every_part_of_a_sync_entry_are_errors_in_every_format() {
    let cases = [
        // v2beta1, the entry and its parts.
        "version: v2beta1\ndev:\n  web:\n    labelSelector: {app: web}\n    sync:\n    - path: .:/app\n      excludePathz: [a]\n",
        "version: v2beta1\ndev:\n  web:\n    labelSelector: {app: web}\n    sync:\n    - path: .:/app\n      onUpload: {restartContainerz: true}\n",
        "version: v2beta1\ndev:\n  web:\n    labelSelector: {app: web}\n    sync:\n    - path: .:/app\n      bandwidthLimits: {downlod: 10}\n",
        // v1beta* `dev.sync[]`.
        "version: v1beta10\ndev:\n  sync:\n  - labelSelector: {app: web}\n    excludePath: [a]\n",
        // the seed's `devSpace.sync[]`.
        "version: v1alpha1\ndevSpace:\n  sync:\n  - labelSelector: {app: web}\n    containerPath: /app\n    excludePath: [a]\n",
    ];
    for text in cases {
        let e = err(text);
        let d = e.errors().next().expect("an error");
        assert!(d.message.starts_with("unknown field `"), "{text}\n{d}");
        assert!(
            d.message.ends_with("nothing is synced until it is fixed"),
            "{d}"
        );
    }
}

#[test]
fn unknown_field_outside_sync_entries_is_a_warning_that_suggests() {
    let config = ok("\
version: v2beta1
dev:
  web:
    labelSelector: {app: web}
    namespce: web
    sync:
    - path: .:/app
");
    assert_eq!(config.diagnostics.len(), 1);
    let d = &config.diagnostics[0];
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(
        d.message,
        "unknown field `namespce` in dev.<name>; it is ignored (did you mean `namespace`?)"
    );
}

#[test]
fn unsupported_fields_warn_with_the_reason_never_silently() {
    let config = ok("\
version: v2beta1
dev:
  web:
    labelSelector: {app: web}
    devImage: loftsh/javascript:latest
    arch: arm64
    sync:
    - path: .
      startContainer: true
      printLogs: false
      onUpload:
        restartContainer: true
        execRemote:
          onBatch:
            command: ./reload.sh
");
    let names = [
        ("devImage", 5, 5),
        ("startContainer", 9, 7),
        ("restartContainer", 12, 9),
        ("execRemote", 13, 9),
    ];
    for (name, line, column) in names {
        let d = find(
            &config.diagnostics,
            Severity::Warning,
            &format!("`{name}` is not supported"),
        );
        assert_eq!((d.span.line, d.span.column), (line, column), "{d}");
    }
    // `printLogs: false` asks for nothing; `arch` is meaningless without a helper.
    assert_eq!(
        config.diagnostics.len(),
        names.len(),
        "{:?}",
        warnings(&config)
    );
}

#[test]
fn unknown_top_level_field_and_unknown_version() {
    let config = ok("version: v2beta9\ndevv:\n  web: {}\n");
    find(
        &config.diagnostics,
        Severity::Warning,
        "unknown config version `v2beta9`",
    );
    let d = find(
        &config.diagnostics,
        Severity::Warning,
        "unknown field `devv`",
    );
    assert!(d.message.contains("did you mean `dev`?"), "{d}");
}

#[test]
fn errors_collect_every_problem_and_warnings_too() {
    let e = err("\
dev:
  web:
    labelSelector: {app: web}
    colour: blue
    sync:
    - path: .
      initialSync: sometimes
    - path: ${NOPE}
");
    assert_eq!(e.errors().count(), 2, "{e}");
    assert_eq!(e.diagnostics.len(), 3, "{e}");
    let lines: Vec<u32> = e.diagnostics.iter().map(|d| d.span.line).collect();
    assert_eq!(lines, vec![4, 7, 8], "sorted by position");
    assert_eq!(e.to_string().lines().count(), 3);
}

#[test]
fn negations_of_always_excluded_folders_are_dropped() {
    let config = ok("\
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: .
      excludePaths: ['!.ferry/', '', keep]
");
    let sync = only(&config);
    assert_eq!(
        texts(&sync.excludes.both),
        vec![".devspace/", ".ferry/", "keep"]
    );
    find(&config.diagnostics, Severity::Warning, "always excluded");
    find(
        &config.diagnostics,
        Severity::Warning,
        "empty exclude pattern",
    );
}

#[test]
fn anchors_and_merge_keys_work_like_in_devspace() {
    let config = ok("\
dev:
  web: &base
    labelSelector: {app: web}
    sync:
    - path: ./web:/app
  api:
    <<: *base
    labelSelector: {app: api}
");
    let got: Vec<(&str, String)> = config
        .sync
        .iter()
        .map(|s| (s.name.as_str(), s.target.label_selector["app"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![("web", "web".to_string()), ("api", "api".to_string())]
    );
}

#[test]
fn both_directions_disabled_is_a_warning() {
    let config = ok("\
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: .
      disableUpload: true
      disableDownload: true
");
    let sync = only(&config);
    assert!(!sync.upload && !sync.download);
    find(&config.diagnostics, Severity::Warning, "transfers nothing");
}

#[test]
fn forced_format_overrides_detection() {
    let options = ParseOptions {
        workspace_root: Path::new(ROOT),
        format: Some(Format::DevSync),
        env: &env,
        read_file: &no_files,
        profiles: &ProfileChoice::default(),
    };
    let config = parse(
        "dev:\n  sync:\n  - labelSelector: {a: b}\n    containerPath: /x\n",
        Path::new(FILE),
        &options,
    )
    .unwrap();
    assert_eq!(config.format, Format::DevSync);
    assert_eq!(only(&config).container_path, "/x");
}

#[test]
fn exclude_files_are_read_relative_to_the_local_folder() {
    let read = |path: &Path| -> io::Result<String> {
        match path.to_str() {
            Some("/work/project/src/.syncignore") => {
                Ok("# comment\n\nbuild/\n  *.tmp  \n!keep.tmp\n".into())
            }
            Some("/work/project/up.ignore") => Ok("secrets/\n".into()),
            _ => no_files(path),
        }
    };
    let options = ParseOptions {
        workspace_root: Path::new(ROOT),
        format: None,
        env: &env,
        read_file: &read,
        profiles: &ProfileChoice::default(),
    };
    let text = "\
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: ./src:/app
      excludeFile: .syncignore
      uploadExcludeFile: ../up.ignore
      downloadExcludeFile: missing.ignore
";
    let e = parse(text, Path::new(FILE), &options).unwrap_err();
    let d = find(
        &e.diagnostics,
        Severity::Error,
        "cannot read the exclude file",
    );
    at(d, 8, 28, 8, 42);
    assert!(
        d.message.contains("/work/project/src/missing.ignore"),
        "{d}"
    );

    let config = parse(
        &text.replace("      downloadExcludeFile: missing.ignore\n", ""),
        Path::new(FILE),
        &options,
    )
    .unwrap();
    let sync = only(&config);
    assert_eq!(
        texts(&sync.excludes.both),
        vec![".devspace/", ".ferry/", "build/", "*.tmp", "!keep.tmp"]
    );
    let tmp = sync.excludes.both[3].span.as_ref().unwrap();
    assert_eq!(tmp.file, PathBuf::from("/work/project/src/.syncignore"));
    assert_eq!((tmp.line, tmp.column, tmp.end_column), (4, 3, 8));
    assert_eq!(texts(&sync.excludes.upload), vec!["secrets/"]);
}

#[test]
fn file_true_syncs_one_file_through_its_parent_folders() {
    let config = ok("\
version: v2beta1
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: ./conf/app[1].json:/etc/app/app[1].json
      file: true
      excludePaths: [extra/]
");
    let s = &config.sync[0];
    assert_eq!(s.local_path, PathBuf::from("/work/project/conf"));
    assert_eq!(s.container_path, "/etc/app");
    let both: Vec<&str> = s.excludes.both.iter().map(|p| p.text.as_str()).collect();
    // Built-ins, then everything but the file (its name taken literally), then the user's.
    assert_eq!(
        both,
        vec![".devspace/", ".ferry/", "**", "!/app\\[1\\].json", "extra/"]
    );
    let excludes = ferry::core::excludes::ExcludeSet::new(&s.excludes).unwrap();
    assert!(!excludes.excluded(
        &ferry::core::path::RelPath::new("app[1].json").unwrap(),
        false
    ));
    for other in ["app1.json", "other.txt", "sub/app[1].json"] {
        assert!(
            excludes.excluded(&ferry::core::path::RelPath::new(other).unwrap(), false),
            "{other}"
        );
    }
    // `file: false` is an ordinary folder; a name that differs is an error at `file`.
    let config = ok("version: v2beta1\ndev:\n  web:\n    labelSelector: {app: web}\n    sync:\n    - path: ./src:/app\n      file: false\n");
    assert_eq!(config.sync[0].container_path, "/app");
    let e = err("version: v2beta1\ndev:\n  web:\n    labelSelector: {app: web}\n    sync:\n    - path: ./local.json:/app/config.json\n      file: true\n");
    let d = find(
        &e.diagnostics,
        Severity::Error,
        "the same name on both sides",
    );
    assert_eq!((d.span.line, d.span.column), (7, 7), "{d}");
    assert!(
        d.message.contains("`local.json`") && d.message.contains("`config.json`"),
        "{d}"
    );
}
