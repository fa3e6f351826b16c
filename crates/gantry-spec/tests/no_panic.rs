//! Random and mutated YAML never makes `parse_documents` panic, and every
//! diagnostic it returns points inside the file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use gantry_spec::parse_documents;
use proptest::prelude::*;

fn example_texts() -> Vec<String> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut texts: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    texts.sort();
    texts
}

fn check(text: &str) {
    // YAML breaks lines at \n, \r\n and a lone \r.
    let line_count = text.replace("\r\n", "\n").split(['\n', '\r']).count() as u64;
    if let Err(diagnostics) = parse_documents(text) {
        assert!(!diagnostics.is_empty());
        for diagnostic in diagnostics.iter() {
            assert!(
                diagnostic.line <= line_count + 1,
                "{diagnostic:?} beyond {line_count} lines"
            );
            assert!(!diagnostic.message.is_empty());
        }
    }
}

/// One edit of a text: what a careless keyboard or a bad merge does.
#[derive(Clone, Debug)]
enum Edit {
    DeleteRange(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceChar(usize, char),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    let yaml_ish = prop::sample::select(vec![
        ":",
        " ",
        "  ",
        "\t",
        "-",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a",
        "*a",
        "<<: *a",
        "!!int",
        "'",
        "\"",
        "#",
        "\n",
        "?",
        "|",
        ">",
        "~",
        "null",
        "0x",
        "1e9999",
        "-1",
        "99999999999999999999",
        "Gi",
        "m",
        "💥",
        "\u{0}",
    ]);
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(start, len)| Edit::DeleteRange(start, len)),
        (any::<usize>(), yaml_ish).prop_map(|(at, text)| Edit::Insert(at, text.to_owned())),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<usize>(), any::<char>()).prop_map(|(at, c)| Edit::ReplaceChar(at, c)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let clamp = |index: usize| {
        if chars.is_empty() {
            0
        } else {
            index % (chars.len() + 1)
        }
    };
    match edit {
        Edit::DeleteRange(start, len) => {
            let start = clamp(*start);
            let end = (start + len).min(chars.len());
            chars[..start].iter().chain(&chars[end..]).collect()
        }
        Edit::Insert(at, insert) => {
            let at = clamp(*at);
            chars[..at].iter().collect::<String>()
                + insert
                + &chars[at..].iter().collect::<String>()
        }
        Edit::ReplaceChar(at, c) => {
            let mut chars = chars.clone();
            if !chars.is_empty() {
                let at = at % chars.len();
                chars[at] = *c;
            }
            chars.into_iter().collect()
        }
        Edit::DuplicateLine(index) | Edit::SwapLines(index, _) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return text.to_owned();
            }
            let first = index % lines.len();
            if let Edit::SwapLines(_, other) = edit {
                let second = other % lines.len();
                lines.swap(first, second);
            } else {
                let line = lines[first];
                lines.insert(first, line);
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn lone_carriage_returns_count_as_line_breaks(prefix in "[a-z: ]{0,20}", breaks in 1usize..40) {
        check(&format!("{prefix}{}a: [\n", "\r".repeat(breaks)));
    }

    #[test]
    fn yaml_shaped_noise_never_panics(text in "([a-zA-Z]{1,8}: ?(\\[|\\{|-|[0-9]{1,4}(Gi|m)?|[a-z*&!]{0,6})?\n {0,4}){0,30}") {
        check(&text);
    }

    #[test]
    fn mutated_examples_never_panic(
        example in 0usize..64,
        edits in prop::collection::vec(edit_strategy(), 1..6),
    ) {
        let texts = example_texts();
        let mut text = texts[example % texts.len()].clone();
        for edit in &edits {
            text = apply(&text, edit);
        }
        check(&text);
    }
}
