//! Loading YAML text into a tree of nodes that remember where they came from.
//!
//! This is the only place that touches YAML syntax. It refuses, before any
//! memory is spent on them: files over [`MAX_FILE_BYTES`], alias bombs (alias
//! replay and node budgets), and documents nested deeper than [`MAX_DEPTH`].
//! Duplicate mapping keys are reported, every one, with the place of the first.
//!
//! Architecture Invariant: nothing here panics on any input, and the depth of
//! every tree it returns is bounded, so recursive walks over it are safe.

use std::collections::BTreeMap;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use serde_saphyr::options::AliasLimits;
use serde_saphyr::{Budget, DuplicateKeyPolicy, MergeKeyPolicy, Options};

use crate::diagnostic::{Diagnostic, Diagnostics};

/// Files larger than this are refused before parsing (1 MiB).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Maximum nesting of mappings and sequences.
pub const MAX_DEPTH: usize = 32;
/// Maximum number of nodes in a file, aliases expanded.
pub const MAX_NODES: usize = 100_000;
/// Maximum number of parser events replayed for aliases, summed over the file.
pub const MAX_ALIAS_REPLAY_EVENTS: usize = 20_000;
/// Maximum number of documents (`---`) in a file.
pub const MAX_DOCUMENTS: usize = 256;

/// A YAML node with its 1-based position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// The value.
    pub value: Value,
    /// Byte range of the node in the source, when the parser knew it.
    byte_range: Option<(usize, usize)>,
    /// For plain (unquoted) numbers and booleans: the text as written, so that
    /// `version: 1.10` stays `1.10` where a string is expected.
    raw: Option<Box<str>>,
}

/// The value of a node, with YAML 1.2 core-schema scalar types.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false` (YAML 1.2: `yes`/`no` are strings).
    Bool(bool),
    /// An integer (decimal, `0x`, `0o`).
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string (quoted or plain).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order; keys are nodes too.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The text of a plain number or boolean as written in the file.
    pub fn raw_scalar_text(&self) -> Option<&str> {
        self.raw.as_deref()
    }

    /// A short description of the node's kind, for messages ("a string", "a mapping").
    pub fn kind_description(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The key as a string, if this node can serve as a mapping key.
    pub fn as_key(&self) -> Option<String> {
        match &self.value {
            Value::Str(text) => Some(text.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                self.raw.as_deref().map(str::to_owned)
            }
            _ => None,
        }
    }

    /// The node as JSON (for schema validation and for specs sent as
    /// structured data). Plain numbers keep their YAML type; mapping keys
    /// become strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as Json;
        match &self.value {
            Value::Null => Json::Null,
            Value::Bool(value) => Json::Bool(*value),
            Value::Int(value) => i64::try_from(*value)
                .map(Json::from)
                .or_else(|_| u64::try_from(*value).map(Json::from))
                .unwrap_or_else(|_| Json::from(*value as f64)),
            Value::Float(value) => {
                serde_json::Number::from_f64(*value).map_or(Json::Null, Json::Number)
            }
            Value::Str(text) => Json::String(text.clone()),
            Value::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.as_key().unwrap_or_default(), value.to_json()))
                    .collect(),
            ),
        }
    }

    /// The value of `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(entry_key, _)| entry_key.as_key().as_deref() == Some(key))
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// The string value of `key` when this node is a mapping and the value is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key).map(|node| &node.value) {
            Some(Value::Str(text)) => Some(text),
            _ => None,
        }
    }
}

/// Parses `text` into one node per YAML document.
///
/// Errors are diagnostics with positions; a syntax error stops parsing (YAML
/// cannot be resumed after one), but duplicate keys are all reported.
pub fn load_documents(text: &str) -> Result<Vec<Node>, Diagnostics> {
    if text.len() > MAX_FILE_BYTES {
        return Err(too_large(text.len()));
    }
    let mut options = Options::default();
    options.strict_booleans = true;
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    options.merge_keys = MergeKeyPolicy::Merge;
    let mut alias_limits = AliasLimits::default();
    alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAY_EVENTS;
    alias_limits.max_replay_stack_depth = 16;
    alias_limits.max_alias_expansions_per_anchor = 1_000;
    options.alias_limits = alias_limits;
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_documents = MAX_DOCUMENTS;
    budget.max_events = MAX_NODES * 4;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_total_scalar_bytes = MAX_FILE_BYTES * 2;
    options.budget = Some(budget);

    let parsed: Result<Vec<Node>, serde_saphyr::Error> =
        serde_saphyr::from_str_multiple_with_options(text, options);
    match parsed {
        Ok(mut documents) => {
            let mut diagnostics = Diagnostics::new();
            for document in &mut documents {
                fill_raw_text(document, text);
                report_duplicate_keys(document, &mut diagnostics);
            }
            if diagnostics.is_empty() {
                Ok(documents)
            } else {
                Err(diagnostics)
            }
        }
        Err(error) => Err(syntax_error(text, &error)),
    }
}

fn too_large(len: usize) -> Diagnostics {
    let mut diagnostics = Diagnostics::new();
    diagnostics.push(Diagnostic::new(
        0,
        0,
        "",
        format!(
            "file is {:.1} MiB; the limit is 1 MiB (a job spec or config this large is almost certainly a mistake)",
            len as f64 / (1024.0 * 1024.0)
        ),
    ));
    diagnostics
}

fn syntax_error(text: &str, error: &serde_saphyr::Error) -> Diagnostics {
    let (line, column) = error
        .location()
        .map(|location| (location.line(), location.column()))
        .unwrap_or((0, 0));
    let mut diagnostics = Diagnostics::new();
    if let Some((tab_line, tab_column)) = first_tab_indentation(text, line) {
        diagnostics.push(Diagnostic::new(
            tab_line,
            tab_column,
            "",
            "tab character in indentation; YAML indents with spaces only",
        ));
        return diagnostics;
    }
    let message = explain_parser_message(&error.without_snippet().to_string());
    diagnostics.push(Diagnostic::new(line, column, "", message));
    diagnostics
}

/// Turns the parser's wording into ours where we know better, and strips the
/// position it repeats (we print it in front).
fn explain_parser_message(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or(message).trim();
    let lower = first_line.to_ascii_lowercase();
    let without_position = strip_trailing_position(first_line);
    if lower.contains("alias")
        && (lower.contains("limit") || lower.contains("budget") || lower.contains("exceed"))
    {
        format!(
            "YAML aliases expand beyond the limit of {MAX_ALIAS_REPLAY_EVENTS} nodes; refusing this file (an alias bomb?)"
        )
    } else if lower.contains("budget") || lower.contains("depth") && lower.contains("exceed") {
        format!(
            "file exceeds the parser's safety limits (at most {MAX_NODES} nodes, nesting depth {MAX_DEPTH}): {without_position}"
        )
    } else {
        format!("invalid YAML: {without_position}")
    }
}

fn strip_trailing_position(message: &str) -> &str {
    match message.find(" at line ") {
        Some(index) => message.get(..index).unwrap_or(message),
        None => message,
    }
}

/// The first line at or before `limit_line` (all lines when 0) whose
/// indentation contains a tab, with the tab's column.
fn first_tab_indentation(text: &str, limit_line: u64) -> Option<(u64, u64)> {
    for (index, line) in text.lines().enumerate() {
        let line_number = index as u64 + 1;
        if limit_line != 0 && line_number > limit_line {
            break;
        }
        let indentation: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if let Some(position) = indentation.find('\t') {
            // Only indentation followed by content counts; a tab in a blank line is harmless.
            if line.trim().is_empty() {
                continue;
            }
            return Some((line_number, position as u64 + 1));
        }
    }
    None
}

fn fill_raw_text(node: &mut Node, text: &str) {
    match &mut node.value {
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            if let Some((start, end)) = node.byte_range
                && let Some(raw) = text.get(start..end)
                && !raw.starts_with(['"', '\'', '*', '&', '!'])
                && !raw.is_empty()
            {
                node.raw = Some(raw.trim_end().into());
            }
            if node.raw.is_none() {
                node.raw = Some(
                    match &node.value {
                        Value::Int(value) => value.to_string(),
                        Value::Float(value) => value.to_string(),
                        Value::Bool(value) => value.to_string(),
                        _ => String::new(),
                    }
                    .into(),
                );
            }
        }
        Value::Seq(items) => items.iter_mut().for_each(|item| fill_raw_text(item, text)),
        Value::Map(entries) => entries.iter_mut().for_each(|(key, value)| {
            fill_raw_text(key, text);
            fill_raw_text(value, text);
        }),
        Value::Null | Value::Str(_) => {}
    }
}

fn report_duplicate_keys(node: &Node, diagnostics: &mut Diagnostics) {
    match &node.value {
        Value::Map(entries) => {
            let mut first_seen: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for (key, value) in entries {
                if let Some(name) = key.as_key() {
                    if let Some((line, column)) = first_seen.get(&name) {
                        diagnostics.push(Diagnostic::new(
                            key.line,
                            key.column,
                            "",
                            format!("duplicate key `{name}` (first defined at line {line}, column {column})"),
                        ));
                    } else {
                        first_seen.insert(name, (key.line, key.column));
                    }
                }
                report_duplicate_keys(value, diagnostics);
            }
        }
        Value::Seq(items) => items
            .iter()
            .for_each(|item| report_duplicate_keys(item, diagnostics)),
        _ => {}
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        let span = spanned.referenced.span();
        let byte_range = match (span.byte_offset(), span.byte_len()) {
            (Some(offset), Some(len)) => usize::try_from(offset)
                .ok()
                .zip(usize::try_from(offset.saturating_add(len)).ok()),
            _ => None,
        };
        Ok(Node {
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
            value: spanned.value,
            byte_range,
            raw: None,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Int(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Int(value.into()))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<Value, E> {
        Ok(Value::Int(value))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Value, E> {
        match i128::try_from(value) {
            Ok(value) => Ok(Value::Int(value)),
            Err(_) => Ok(Value::Float(value as f64)),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Ok(Value::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::Str(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::Str(value))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(value).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = access.next_entry::<Node, Node>()? {
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    fn one(text: &str) -> Node {
        let mut documents = load_documents(text).unwrap();
        assert_eq!(documents.len(), 1);
        documents.remove(0)
    }

    #[test]
    fn positions_are_one_based_and_point_at_values() {
        let node = one("a: 1\nb:\n  c: hello\n");
        let b = node.get("b").unwrap();
        let c = b.get("c").unwrap();
        assert_eq!((c.line, c.column), (3, 6));
        assert_eq!(c.value, Value::Str("hello".into()));
    }

    #[test]
    fn plain_numbers_keep_their_text() {
        let node = one("version: 1.10\nhex: 0x10\n");
        assert_eq!(node.get("version").unwrap().raw_scalar_text(), Some("1.10"));
        assert_eq!(node.get("hex").unwrap().value, Value::Int(16));
        assert_eq!(node.get("hex").unwrap().raw_scalar_text(), Some("0x10"));
    }

    #[test]
    fn yaml_1_1_booleans_are_strings() {
        let node = one("spot: yes\n");
        assert_eq!(node.get("spot").unwrap().value, Value::Str("yes".into()));
    }

    #[test]
    fn every_duplicate_key_is_reported_with_the_first_place() {
        let errors = load_documents("a: 1\nb: 2\na: 3\nc:\n  d: 1\n  d: 2\n")
            .unwrap_err()
            .into_sorted();
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].line, errors[0].column), (3, 1));
        assert!(
            errors[0]
                .message
                .contains("first defined at line 1, column 1"),
            "{}",
            errors[0].message
        );
        assert_eq!((errors[1].line, errors[1].column), (6, 3));
    }

    #[test]
    fn tabs_in_indentation_are_named() {
        let errors = load_documents("a:\n\tb: 1\n").unwrap_err().into_sorted();
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column), (2, 1));
        assert!(errors[0].message.contains("tab"), "{}", errors[0].message);
    }

    #[test]
    fn files_over_the_limit_are_refused_before_parsing() {
        let text = "a: 1\n".repeat(MAX_FILE_BYTES / 5 + 1);
        let errors = load_documents(&text).unwrap_err().into_sorted();
        assert!(
            errors[0].message.contains("limit is 1 MiB"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let previous = level - 1;
            text.push_str(&format!(
                "a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"
            ));
        }
        let started = std::time::Instant::now();
        let errors = load_documents(&text).unwrap_err().into_sorted();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(load_documents(&text).is_err());
    }

    #[test]
    fn several_documents_are_returned_in_order() {
        let documents = load_documents("kind: A\n---\nkind: B\n").unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[1].get_str("kind"), Some("B"));
        assert_eq!(documents[1].line, 3);
    }
}
