//! The `gantry` binary as a user runs it: exit codes and output lines.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gantry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .output()
        .unwrap()
}

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

fn scratch(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("gantry-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

#[test]
fn validate_accepts_every_example_and_exits_zero() {
    let files = examples();
    let mut args = vec!["validate"];
    args.extend(files.iter().map(|path| path.to_str().unwrap()));
    let output = gantry(&args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
    assert!(
        stdout.lines().all(|line| line.contains(": ok: ")),
        "{stdout}"
    );
}

#[test]
fn a_broken_copy_of_any_example_exits_one_pointing_at_the_broken_line() {
    let directory = scratch("broken");
    for example in examples() {
        let text = std::fs::read_to_string(&example).unwrap();
        // Break the first `name:` value: an uppercase name is invalid in every kind.
        let (index, line) = text
            .lines()
            .enumerate()
            .find(|(_, line)| {
                line.trim_start().starts_with("name: ")
                    || line.trim_start().starts_with("- name: ")
                    || line.trim_start().starts_with("- {name: ")
            })
            .unwrap();
        let broken_line = line.replacen("name: ", "name: Not_A_Name", 1);
        let broken: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(number, original)| {
                if number == index {
                    broken_line.clone()
                } else {
                    original.to_owned()
                }
            })
            .collect();
        let path = directory.join(example.file_name().unwrap());
        std::fs::write(&path, broken.join("\n")).unwrap();
        let output = gantry(&["validate", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{}", path.display());
        let stderr = String::from_utf8(output.stderr).unwrap();
        let expected_prefix = format!("{}:{}:", path.display(), index + 1);
        assert!(
            stderr
                .lines()
                .any(|line| line.starts_with(&expected_prefix) && line.contains("Not_A_Name")),
            "{}: expected an error at line {}, got:\n{stderr}",
            example.display(),
            index + 1
        );
    }
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn every_error_line_has_the_file_line_column_shape() {
    let directory = scratch("shape");
    let path = directory.join("job.yaml");
    std::fs::write(
        &path,
        "apiVersion: gantry.dev/v1\nkind: TrainingJob\nmetadata: {name: Bad_Name, team: nlp}\nspec:\n  image: x\n  resources: {cpu: 1 core, memory: 16GB}\n  replicaz: 2\n",
    )
    .unwrap();
    let output = gantry(&["validate", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    for line in lines {
        let rest = line.strip_prefix(&format!("{}:", path.display())).unwrap();
        let mut parts = rest.splitn(3, ':');
        let line_number: u64 = parts.next().unwrap().parse().unwrap();
        let column: u64 = parts.next().unwrap().parse().unwrap();
        assert!(line_number >= 3 && column >= 1, "{line}");
        assert!(parts.next().unwrap().starts_with(" error: "), "{line}");
    }
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(gantry(&["validate"]).status.code(), Some(2));
    assert_eq!(gantry(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(gantry(&["schema", "--bogus"]).status.code(), Some(2));
}

#[test]
fn a_missing_file_is_a_failure_not_a_usage_error() {
    let output = gantry(&["validate", "/nonexistent/gantry/job.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("cannot read /nonexistent/gantry/job.yaml")
    );
}

#[test]
fn schema_prints_json_schema_for_jobs_and_for_the_config() {
    let output = gantry(&["schema"]);
    assert_eq!(output.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["$id"], "https://gantry.dev/schemas/v1/job.json");
    assert!(schema["$defs"]["TrainingJob"].is_object());
    assert!(schema["$defs"]["InferenceService"].is_object());
    let output = gantry(&["schema", "--config"]);
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(schema["$defs"]["GantryConfig"].is_object());
}
