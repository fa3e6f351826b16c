//! Every file in `examples/` parses, its domain form is a snapshot, and it
//! validates against the JSON Schema that `gantry schema` prints.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use gantry_spec::{Document, config_schema, job_schema, parse_documents, yaml_tree};

fn examples() -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn there_are_the_examples_the_foundation_promises() {
    let names: Vec<String> = examples()
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    assert!(names.contains(&"fleet-dev.yaml".to_owned()));
}

#[test]
fn every_example_parses_to_the_same_domain_value() {
    insta::glob!("../../..", "examples/*.yaml", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let documents = parse_documents(&text)
            .unwrap_or_else(|errors| panic!("{}:\n{}", path.display(), errors.render("")));
        insta::assert_debug_snapshot!(documents);
    });
}

#[test]
fn every_example_validates_against_the_json_schema() {
    let job_validator = jsonschema::validator_for(&job_schema()).unwrap();
    let config_validator = jsonschema::validator_for(&config_schema()).unwrap();
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let documents = parse_documents(&text).unwrap();
        let nodes = yaml_tree::load_documents(&text).unwrap();
        for (document, node) in documents.iter().zip(&nodes) {
            let validator = match document {
                Document::Job(_) => &job_validator,
                Document::Config(_) => &config_validator,
            };
            let instance = node.to_json();
            let errors: Vec<String> = validator
                .iter_errors(&instance)
                .map(|error| error.to_string())
                .collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        }
    }
}
