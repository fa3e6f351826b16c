//! Every file in `tests/fixtures/invalid/` breaks one rule (its `# rule:`
//! line says which) and lists, in `# expect: LINE:COLUMN PATH` lines, exactly
//! the diagnostics the parser must give: position and field path. The full
//! messages are snapshots.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use gantry_spec::parse_documents;

fn fixtures() -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
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

fn expectations(text: &str) -> Vec<(u64, u64, String)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# expect: "))
        .map(|expect| {
            let (position, path) = expect.split_once(' ').unwrap_or((expect, ""));
            let (line, column) = position.split_once(':').unwrap();
            (
                line.parse().unwrap(),
                column.parse().unwrap(),
                path.to_owned(),
            )
        })
        .collect()
}

#[test]
fn there_are_at_least_thirty_fixtures_each_with_a_rule_and_an_expectation() {
    let files = fixtures();
    assert!(files.len() >= 30, "only {} fixtures", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("# rule: "),
            "{} has no rule line",
            file.display()
        );
        assert!(
            !expectations(&text).is_empty(),
            "{} expects nothing",
            file.display()
        );
    }
}

#[test]
fn each_fixture_gets_exactly_its_expected_diagnostics() {
    for file in fixtures() {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected = expectations(&text);
        let diagnostics = match parse_documents(&text) {
            Ok(documents) => panic!("{} parsed: {documents:?}", file.display()),
            Err(diagnostics) => diagnostics.into_sorted(),
        };
        let actual: Vec<(u64, u64, String)> = diagnostics
            .iter()
            .map(|diagnostic| (diagnostic.line, diagnostic.column, diagnostic.path.clone()))
            .collect();
        assert_eq!(actual, expected, "{}", file.display());
        for diagnostic in &diagnostics {
            assert!(!diagnostic.message.is_empty());
            assert!(
                diagnostic
                    .message
                    .chars()
                    .next()
                    .is_some_and(|c| !c.is_uppercase() || c == 'Y'),
                "messages start lowercase (or with YAML): {}",
                diagnostic.message
            );
            assert!(
                !diagnostic.message.ends_with('.'),
                "no trailing period: {}",
                diagnostic.message
            );
        }
    }
}

#[test]
fn messages_are_stable() {
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rendered = parse_documents(&text).unwrap_err().render(&name);
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn a_file_over_one_mebibyte_is_refused_without_parsing() {
    let mut text =
        String::from("apiVersion: gantry.dev/v1\nkind: TrainingJob\nmetadata:\n  annotations:\n");
    let mut index = 0;
    while text.len() <= 1024 * 1024 {
        text.push_str(&format!("    key-{index}: value\n"));
        index += 1;
    }
    let started = std::time::Instant::now();
    let diagnostics = parse_documents(&text).unwrap_err().into_sorted();
    assert_eq!(diagnostics.len(), 1);
    assert!(
        diagnostics[0].message.contains("limit is 1 MiB"),
        "{}",
        diagnostics[0].message
    );
    // Refused by size, not by parsing: far below what parsing 1 MiB takes.
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn read_spec_file_does_not_read_past_the_limit() {
    let directory = std::env::temp_dir().join(format!("gantry-spec-read-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("huge.yaml");
    std::fs::write(&path, vec![b'#'; 3 * 1024 * 1024]).unwrap();
    let error = gantry_spec::read_spec_file(&path).unwrap_err();
    assert!(
        matches!(error, gantry_spec::ReadError::TooLarge { .. }),
        "{error}"
    );
    std::fs::remove_dir_all(&directory).unwrap();
}
