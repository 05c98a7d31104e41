//! `docs/config.schema.json` is valid JSON and declares exactly the fields the config
//! reader knows (`ferry::config::fields`), object by object.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ferry::config::fields::{ferry_objects, objects, Object, Support, Unknown};
use ferry::config::{InitialSync, Replicas, Symlinks};
use serde_json::Value;

fn schema() -> Value {
    read_schema("config.schema.json")
}

fn read_schema(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

fn definition<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema
        .pointer(&format!("/definitions/{name}"))
        .unwrap_or_else(|| panic!("the schema has no definitions/{name}"))
}

#[test]
fn schema_is_draft_07_json() {
    let schema = schema();
    assert_eq!(
        schema["$schema"].as_str(),
        Some("http://json-schema.org/draft-07/schema#")
    );
    assert!(schema["definitions"].is_object());
}

#[test]
fn schema_declares_every_known_field_and_no_other() {
    declares_exactly(&schema(), objects());
}

#[test]
fn the_ferry_yaml_schema_declares_every_known_field_and_no_other() {
    let schema = read_schema("ferry.schema.json");
    assert_eq!(
        schema["$schema"].as_str(),
        Some("http://json-schema.org/draft-07/schema#")
    );
    assert_eq!(schema["$ref"].as_str(), Some("#/definitions/ferryConfig"));
    declares_exactly(&schema, ferry_objects());
    let symlinks: Vec<&str> = Symlinks::ALL.iter().map(|(_, n)| *n).collect();
    let replicas: Vec<&str> = Replicas::ALL.iter().map(|(_, n)| *n).collect();
    for def in ["ferryDefaults", "ferryDev", "ferrySyncPath"] {
        assert_eq!(enum_values(&schema, def, "symlinks"), symlinks, "{def}");
        assert_eq!(enum_values(&schema, def, "replicas"), replicas, "{def}");
    }
}

/// The `enum` of field `field` of definition `def`.
fn enum_values<'a>(schema: &'a Value, def: &str, field: &str) -> Vec<&'a str> {
    definition(schema, def)["properties"][field]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{def}.{field} has no enum"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// `schema`'s definitions are exactly `objects`, each with exactly its fields.
fn declares_exactly(schema: &Value, objects: &[Object]) {
    let mut seen = BTreeSet::new();
    for object in objects {
        assert!(
            seen.insert(object.definition),
            "{} twice",
            object.definition
        );
        let def = definition(schema, object.definition);
        let properties = def["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("definitions/{} has no properties", object.definition));
        let in_schema: BTreeSet<&str> = properties.keys().map(String::as_str).collect();
        let in_reader: BTreeSet<&str> = object.fields.iter().map(|f| f.name).collect();
        assert_eq!(
            in_schema, in_reader,
            "definitions/{} and fields::{} differ",
            object.definition, object.location
        );
        // Only objects whose unknown keys are allowed silently allow other properties.
        let open = object.unknown == Unknown::Allowed;
        assert_eq!(
            def["additionalProperties"].as_bool(),
            Some(open),
            "definitions/{}: additionalProperties must be {open}",
            object.definition,
        );
        for field in object.fields {
            let description = properties[field.name]["description"]
                .as_str()
                .unwrap_or_else(|| {
                    panic!(
                        "definitions/{}/{} has no description",
                        object.definition, field.name
                    )
                });
            match field.support {
                Support::Read => assert!(
                    !description.starts_with("Not supported")
                        && !description.starts_with("Skipped"),
                    "{}.{}: {description}",
                    object.definition,
                    field.name
                ),
                Support::Unsupported(why) => assert!(
                    description.starts_with("Not supported by ferry") && description.contains(why),
                    "{}.{}: {description}",
                    object.definition,
                    field.name
                ),
                Support::Skipped(why) => assert!(
                    description.starts_with("Skipped by ferry") && description.contains(why),
                    "{}.{}: {description}",
                    object.definition,
                    field.name
                ),
            }
        }
    }
    // Every definition in the schema is one the reader checks.
    let defined: BTreeSet<&str> = schema["definitions"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(defined, seen);
}

#[test]
fn schema_references_resolve() {
    let schema = schema();
    let text = schema.to_string();
    let mut rest = text.as_str();
    let mut count = 0;
    while let Some(at) = rest.find("\"$ref\":\"#/definitions/") {
        rest = &rest[at + "\"$ref\":\"#/definitions/".len()..];
        let name = &rest[..rest.find('"').unwrap()];
        definition(&schema, name);
        count += 1;
    }
    assert!(count > 10, "only {count} references");
}

#[test]
fn schema_initial_sync_values_match_the_parser() {
    let schema = schema();
    let expected: Vec<&str> = InitialSync::ALL.iter().map(|(_, n)| *n).collect();
    for def in ["v2beta1SyncEntry", "legacySyncEntry"] {
        assert_eq!(enum_values(&schema, def, "initialSync"), expected, "{def}");
    }
}

#[test]
fn the_top_level_picks_a_format_by_version() {
    let schema = schema();
    assert_eq!(
        schema["then"]["$ref"].as_str(),
        Some("#/definitions/v2beta1")
    );
    assert_eq!(
        schema["else"]["then"]["$ref"].as_str(),
        Some("#/definitions/devSpaceSyncConfig")
    );
    assert_eq!(
        schema["else"]["else"]["then"]["$ref"].as_str(),
        Some("#/definitions/devSyncConfig")
    );
}

#[test]
fn docs_list_every_known_field() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md");
    let docs = std::fs::read_to_string(&path).unwrap();
    for object in objects().iter().chain(ferry_objects()) {
        for field in object.fields {
            assert!(
                docs.contains(&format!("| `{}` |", field.name)),
                "docs/config.md does not list `{}` ({})",
                field.name,
                object.location
            );
        }
    }
    for name in Symlinks::ALL.iter().map(|(_, n)| n) {
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/config.md lacks `{name}`"
        );
    }
    for (_, name) in InitialSync::ALL {
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/config.md lacks `{name}`"
        );
    }
}
