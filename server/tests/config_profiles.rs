//! DevSpace `profiles` in `ferry::config::parse`: which apply (activation by env and
//! vars, the caller's names, parents, order), what `replace`, `merge` and `patches` do to
//! the sync paths, the path selectors, and the diagnostics (positions in the profile).

use std::io;
use std::path::Path;

use ferry::config::{parse, Config, ConfigError, ParseOptions, ProfileChoice, Severity};

const ROOT: &str = "/work/project";
const FILE: &str = "/work/project/devspace.yaml";

fn no_files(path: &Path) -> io::Result<String> {
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} does not exist", path.display()),
    ))
}

fn run_with(
    text: &str,
    names: &[&str],
    env: &[(&str, &str)],
    no_activation: bool,
) -> Result<Config, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let choice = ProfileChoice {
        names: names.iter().map(|s| s.to_string()).collect(),
        no_activation,
    };
    let options = ParseOptions {
        workspace_root: Path::new(ROOT),
        format: None,
        env: &lookup,
        read_file: &no_files,
        profiles: &choice,
    };
    parse(text, Path::new(FILE), &options)
}

fn ok(text: &str, names: &[&str], env: &[(&str, &str)]) -> Config {
    run_with(text, names, env, false).unwrap_or_else(|e| panic!("expected a valid config:\n{e}"))
}

fn err(text: &str, names: &[&str], env: &[(&str, &str)]) -> ConfigError {
    match run_with(text, names, env, false) {
        Ok(c) => panic!("expected an error, got {:#?}", c.sync),
        Err(e) => e,
    }
}

/// `(name, local folder relative to ROOT, container path)` of every sync path.
fn paths(c: &Config) -> Vec<(String, String, String)> {
    c.sync
        .iter()
        .map(|s| {
            let local = format!(
                "/{}",
                s.local_path
                    .strip_prefix(ROOT)
                    .unwrap_or(&s.local_path)
                    .display()
            );
            (s.name.clone(), local, s.container_path.clone())
        })
        .collect()
}

fn p(name: &str, local: &str, container: &str) -> (String, String, String) {
    (name.into(), local.into(), container.into())
}

fn applied(c: &Config) -> Vec<(String, String)> {
    c.profiles
        .iter()
        .map(|a| (a.name.clone(), a.reason.clone()))
        .collect()
}

fn error_with<'e>(e: &'e ConfigError, needle: &str) -> &'e ferry::config::Diagnostic {
    e.diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error && d.message.contains(needle))
        .unwrap_or_else(|| panic!("no error containing {needle:?} in:\n{e}"))
}

const BASE: &str = "\
version: v2beta1
name: shop
vars:
  STAGE: development
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: ./src:/app
      excludePaths: [node_modules/]
";

fn with(profiles: &str) -> String {
    format!("{BASE}profiles:\n{profiles}")
}

#[test]
fn no_profile_applies_unless_activated_or_requested() {
    let text = with("- name: api\n  replace:\n    dev:\n      api:\n        labelSelector: {app: api}\n        sync:\n        - path: ./api:/srv\n");
    let c = ok(&text, &[], &[]);
    assert_eq!(paths(&c), vec![p("web", "/src", "/app")]);
    assert!(c.profiles.is_empty());
    let c = ok(&text, &["api"], &[]);
    assert_eq!(paths(&c), vec![p("api", "/api", "/srv")]);
    assert_eq!(applied(&c), vec![("api".into(), "requested".into())]);
}

#[test]
fn patches_replace_add_and_remove_with_every_path_form() {
    let text = with(
        "\
- name: p
  patches:
  - op: replace
    path: dev.web.sync[0].path
    value: ./web:/var/www
  - op: add
    path: dev.web.sync
    value:
      path: ./assets:/assets
  - op: add
    path: /dev/web/sync/1/excludePaths
    value: ['*.tmp']
  - op: add
    path: dev.web.sync[0].excludePaths
    value: dist/
  - op: replace
    path: dev.*.labelSelector.app
    value: shop-web
  - op: remove
    path: dev.web.sync[?(@.path=='./nothing:/x')]
",
    );
    let c = ok(&text, &["p"], &[]);
    assert_eq!(
        paths(&c),
        vec![
            p("web", "/web", "/var/www"),
            p("web#1", "/assets", "/assets")
        ]
    );
    let patterns = |i: usize| -> Vec<String> {
        c.sync[i]
            .excludes
            .both
            .iter()
            .map(|p| p.text.clone())
            .collect()
    };
    assert!(
        patterns(0).ends_with(&["node_modules/".into(), "dist/".into()]),
        "{:?}",
        patterns(0)
    );
    assert!(
        patterns(1).ends_with(&["*.tmp".into()]),
        "{:?}",
        patterns(1)
    );
    assert_eq!(
        c.sync[0]
            .target
            .label_selector
            .get("app")
            .map(String::as_str),
        Some("shop-web")
    );
}

#[test]
fn remove_by_filter_legacy_key_value_and_recursive_descent() {
    let base = "\
version: v2beta1
dev:
  web:
    labelSelector: {app: web}
    sync:
    - path: ./a:/a
    - path: ./b:/b
  worker:
    labelSelector: {app: worker}
    sync:
    - path: ./w:/w
profiles:
";
    let run = |patch: &str| {
        paths(&ok(
            &format!("{base}- name: x\n  patches:\n{patch}"),
            &["x"],
            &[],
        ))
    };
    assert_eq!(
        run("  - op: remove\n    path: dev.web.sync[?(@.path=='./a:/a')]\n"),
        vec![p("web", "/b", "/b"), p("worker", "/w", "/w")]
    );
    assert_eq!(
        run("  - op: remove\n    path: ..[?(@.path=~/^\\.\\/[ab]:/)]\n"),
        vec![p("worker", "/w", "/w")]
    );
    assert_eq!(
        run("  - op: remove\n    path: dev.worker\n"),
        vec![p("web", "/a", "/a"), p("web#1", "/b", "/b")]
    );
    // DevSpace's older form: `key=value` selects the items whose key has that value.
    let legacy = "\
version: v1beta11
dev:
  sync:
  - name: one
    labelSelector: {app: web}
    localSubPath: ./one
    containerPath: /one
  - name: two
    labelSelector: {app: web}
    localSubPath: ./two
    containerPath: /two
profiles:
- name: x
  patches:
  - op: replace
    path: dev.sync.name=two.containerPath
    value: /second
  - op: remove
    path: dev.sync.name=one
";
    let c = ok(legacy, &["x"], &[]);
    assert_eq!(c.sync.len(), 1);
    assert_eq!(c.sync[0].container_path, "/second");
}

#[test]
fn merge_patches_sections_and_null_deletes() {
    let text = with(
        "\
- name: m
  merge:
    dev:
      web: null
      api:
        labelSelector: {app: api}
        sync:
        - path: ./api:/srv
",
    );
    let c = ok(&text, &["m"], &[]);
    assert_eq!(paths(&c), vec![p("api", "/api", "/srv")]);
    // A mapping merges key by key; a list replaces the list.
    let text = with(
        "\
- name: m
  merge:
    dev:
      web:
        namespace: team-b
        sync:
        - path: ./other:/other
",
    );
    let c = ok(&text, &["m"], &[]);
    assert_eq!(paths(&c), vec![p("web", "/other", "/other")]);
    assert_eq!(c.sync[0].target.namespace.as_deref(), Some("team-b"));
    assert_eq!(
        c.sync[0]
            .target
            .label_selector
            .get("app")
            .map(String::as_str),
        Some("web")
    );
}

#[test]
fn activation_by_env_and_vars_is_an_anchored_regular_expression() {
    let text = with(
        "\
- name: ci
  activation:
  - env:
      CI: 'true'
      RUN: 'prod-\\d+'
  replace:
    dev:
      ci:
        labelSelector: {app: ci}
        sync:
        - path: ./ci:/ci
- name: staging
  activation:
  - vars:
      STAGE: staging
  patches:
  - op: replace
    path: dev.web.sync[0].path
    value: ./staging:/app
",
    );
    // Nothing matches: the base config.
    assert_eq!(
        paths(&ok(&text, &[], &[("CI", "true")])),
        vec![p("web", "/src", "/app")]
    );
    // Both env expressions must match, each the whole value.
    assert_eq!(
        paths(&ok(&text, &[], &[("CI", "true"), ("RUN", "prod-12x")])),
        vec![p("web", "/src", "/app")]
    );
    let c = ok(&text, &[], &[("CI", "true"), ("RUN", "prod-12")]);
    assert_eq!(paths(&c), vec![p("ci", "/ci", "/ci")]);
    assert_eq!(applied(&c), vec![("ci".into(), "activated".into())]);
    // `vars`: the variable's value (its default here, the environment when set).
    assert_eq!(paths(&ok(&text, &[], &[])), vec![p("web", "/src", "/app")]);
    assert_eq!(
        paths(&ok(&text, &[], &[("STAGE", "staging")])),
        vec![p("web", "/staging", "/app")]
    );
    // --disable-profile-activation.
    let c = run_with(&text, &[], &[("STAGE", "staging")], true).unwrap();
    assert_eq!(paths(&c), vec![p("web", "/src", "/app")]);
}

#[test]
fn order_is_activated_then_requested_each_after_its_parents_and_the_last_mention_counts() {
    let text = with(
        "\
- name: base
  patches:
  - op: replace
    path: dev.web.sync[0].path
    value: ./base:/app
- name: child
  parents:
  - profile: base
  patches:
  - op: replace
    path: dev.web.sync[0].path
    value: ./child:/app
- name: auto
  activation:
  - env: {AUTO: '1'}
  patches:
  - op: replace
    path: dev.web.sync[0].path
    value: ./auto:/app
",
    );
    let c = ok(&text, &["child"], &[("AUTO", "1")]);
    assert_eq!(paths(&c), vec![p("web", "/child", "/app")]);
    assert_eq!(
        applied(&c),
        vec![
            ("auto".into(), "activated".into()),
            ("base".into(), "parent of child".into()),
            ("child".into(), "requested".into()),
        ]
    );
    // Asked for again by name, the activated one moves to its last mention.
    let c = ok(&text, &["child", "auto"], &[("AUTO", "1")]);
    assert_eq!(paths(&c), vec![p("web", "/auto", "/app")]);
    assert_eq!(c.profiles.last().map(|a| a.name.as_str()), Some("auto"));
}

#[test]
fn an_unknown_profile_is_an_error_naming_the_known_ones() {
    let text = with("- name: staging\n- name: production\n");
    let e = err(&text, &["prod"], &[]);
    let d = error_with(&e, "no profile `prod`");
    assert!(d.message.contains("`staging`, `production`"), "{d}");
    // The `profiles:` line.
    assert_eq!(d.span.line, 11, "{d}");
    let e = err(&text, &["stagin"], &[]);
    let d = error_with(&e, "no profile `stagin`");
    assert!(d.message.contains("did you mean `staging`?"), "{d}");
    let e = err(BASE, &["dev"], &[]);
    error_with(&e, "this config file has no `profiles`");
}

#[test]
fn errors_inside_an_applied_profile_point_at_the_profile() {
    // A typo in a sync entry the profile adds: the error is where the profile writes it.
    let text = with(
        "\
- name: typo
  patches:
  - op: add
    path: dev.web.sync
    value:
      path: ./x:/x
      excludePath: [tmp/]
",
    );
    assert!(ok(&text, &[], &[]).sync.len() == 1, "not applied: no error");
    let e = err(&text, &["typo"], &[]);
    let d = error_with(&e, "unknown field `excludePath`");
    assert_eq!((d.span.line, d.span.column), (18, 7), "{d}");
    // Unknown fields of a profile, a patch without a value, an unknown op, a bad path.
    let text = with(
        "\
- name: bad
  patchs: []
  patches:
  - op: replace
    path: dev.web.namespace
  - op: move
    path: dev.web
    value: 1
  - op: remove
    path: dev.web.sync[x]
",
    );
    let e = err(&text, &["bad"], &[]);
    let d = error_with(&e, "unknown field `patchs`");
    assert!(d.message.contains("did you mean `patches`?"), "{d}");
    error_with(&e, "`op: replace` needs a `value`");
    error_with(&e, "unknown patch op `move`");
    error_with(&e, "cannot read the path `dev.web.sync[x]`");
}

#[test]
fn what_ferry_cannot_apply_is_an_error_only_when_the_profile_applies() {
    let text = with(
        "\
- name: strategic
  strategicMerge:
    dev: {}
- name: remote
  parents:
  - profile: base
    source: {git: https://example.invalid/repo}
- name: self
  patches:
  - op: remove
    path: profiles
- name: loop1
  parent: loop2
- name: loop2
  parent: loop1
",
    );
    assert_eq!(paths(&ok(&text, &[], &[])), vec![p("web", "/src", "/app")]);
    error_with(
        &err(&text, &["strategic"], &[]),
        "`strategicMerge` is not supported",
    );
    error_with(
        &err(&text, &["remote"], &[]),
        "parents from another config file",
    );
    error_with(
        &err(&text, &["self"], &[]),
        "a patch cannot change `profiles`",
    );
    error_with(&err(&text, &["loop1"], &[]), "in a cycle");
}

#[test]
fn the_seed_format_has_no_profiles() {
    let seed = "\
version: v1
devSpace:
  sync:
  - labelSelector: {app: web}
    localSubPath: ./src
    containerPath: /app
";
    error_with(&err(seed, &["dev"], &[]), "has no profiles");
}
