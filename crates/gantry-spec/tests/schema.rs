//! The JSON Schema rejects what a schema can express: every invalid fixture
//! except the ones listed here, whose rule needs more than a schema (or
//! which are not YAML a schema could even see).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use gantry_spec::{config_schema, job_schema, yaml_tree};

/// Fixtures a JSON Schema cannot reject, and why.
const BEYOND_A_SCHEMA: &[(&str, &str)] = &[
    ("alias-bomb", "not loadable YAML"),
    ("duplicate-key", "JSON objects lose duplicate keys"),
    ("empty-file", "no document"),
    ("syntax-error-unclosed-flow", "not YAML"),
    ("tab-indentation", "not YAML"),
    ("duplicate-gpu-alias", "needs the alias table"),
    (
        "unknown-gpu-model",
        "GPU models are case-insensitive with aliases; the schema says string",
    ),
    (
        "config-unknown-pool-gpu",
        "GPU models are case-insensitive with aliases; the schema says string",
    ),
    ("min-greater-than-max", "compares two fields"),
    ("expected-longer-than-max", "compares two durations"),
    (
        "memory-without-unit",
        "16 is a valid quantity; only its size is suspicious",
    ),
    ("bad-env-name", "map keys are not constrained"),
    ("reserved-env-name", "map keys are not constrained"),
    ("bad-label-key", "map keys are not constrained"),
    ("bad-image", "the image grammar is not a schema pattern"),
    (
        "bad-image-digest",
        "the image grammar is not a schema pattern",
    ),
    (
        "config-duplicate-cluster",
        "uniqueness of a field across items",
    ),
    (
        "config-kubeconfig-and-simulated",
        "mutually exclusive fields",
    ),
    ("config-spot-rate-on-demand", "depends on another field"),
    ("config-team-model-over-total", "compares two fields"),
    ("config-bad-listen", "socket address syntax"),
    (
        "unknown-priority-class",
        "rejected: listed here only if the schema misses it",
    ),
];

#[test]
fn the_schema_rejects_every_fixture_it_can_express() {
    let job_validator = jsonschema::validator_for(&job_schema()).unwrap();
    let config_validator = jsonschema::validator_for(&config_schema()).unwrap();
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut checked = 0;
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let beyond = BEYOND_A_SCHEMA.iter().any(|(fixture, _)| *fixture == name);
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(nodes) = yaml_tree::load_documents(&text) else {
            assert!(beyond, "{name}: not loadable but not listed");
            continue;
        };
        let Some(node) = nodes.first() else {
            assert!(beyond, "{name}: empty but not listed");
            continue;
        };
        let instance = node.to_json();
        let validator = if node.get_str("kind") == Some("GantryConfig") {
            &config_validator
        } else {
            &job_validator
        };
        let rejected = !validator.is_valid(&instance);
        if beyond {
            continue;
        }
        assert!(rejected, "{name}: the schema accepts it");
        checked += 1;
    }
    assert!(
        checked >= 25,
        "only {checked} fixtures checked against the schema"
    );
}

#[test]
fn the_job_schema_is_draft_2020_12_and_closes_objects() {
    let schema = job_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["oneOf"].as_array().unwrap().len(), 2);
    let training = &schema["$defs"]["TrainingJob"];
    assert_eq!(training["additionalProperties"], false);
    let required: Vec<&str> = training["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["apiVersion", "kind", "metadata", "spec"]);
}
