//! Gantry's language: the YAML job spec (`TrainingJob`, `InferenceService`)
//! and the daemon config (`GantryConfig`), parsed into `gantry-core` domain
//! types with every error reported at once, each with its line, column and
//! field path.
//!
//! The pipeline, one module each:
//! 1. [`yaml_tree`]: text -> nodes with positions (size, alias-bomb, depth and
//!    duplicate-key checks; serde-saphyr underneath);
//! 2. `node_deserializer`: nodes -> versioned wire types ([`v1`]) through a
//!    serde `Deserializer` that records type errors and unknown fields and
//!    keeps going;
//! 3. `convert`: wire types -> domain types, checking quantities, names,
//!    GPU models, globs, durations, URIs and cross-field rules.
//!
//! Architecture Invariant: no input makes anything here panic, allocate
//! without bound, or run for long: files over 1 MiB are refused before
//! parsing, and the tree's size and depth are bounded.
//! Architecture Invariant: the JSON Schema (`schema`) is generated from the
//! same wire types the parser reads, so they cannot drift apart.

mod convert;
mod diagnostic;
mod field_path;
mod image_reference;
mod node_deserializer;
mod schema;
pub mod v1;
pub mod yaml_tree;

use std::io::Read;
use std::path::Path;

use gantry_core::{FleetConfig, JobSpec};

pub use convert::{DEFAULT_CHECKPOINT_MINUTES, MAX_GANG_REPLICAS};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use schema::{config_schema, job_schema};

use convert::{Cursor, Report};
use yaml_tree::{Node, Value};

/// One parsed document.
#[derive(Clone, Debug, PartialEq)]
pub enum Document {
    /// A `TrainingJob` or an `InferenceService`.
    Job(Box<JobSpec>),
    /// A `GantryConfig`.
    Config(Box<FleetConfig>),
}

/// The kinds this build reads.
pub const KINDS: [&str; 3] = ["TrainingJob", "InferenceService", "GantryConfig"];

/// Parses every document in `text`. All errors of all documents are reported.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, Diagnostics> {
    let nodes = yaml_tree::load_documents(text)?;
    let mut diagnostics = Diagnostics::new();
    let mut documents = Vec::new();
    let non_empty: Vec<&Node> = nodes
        .iter()
        .filter(|node| node.value != Value::Null)
        .collect();
    if non_empty.is_empty() {
        diagnostics.push(Diagnostic::new(
            1,
            1,
            "",
            "file holds no document; expected a TrainingJob, InferenceService or GantryConfig",
        ));
        return Err(diagnostics);
    }
    for node in non_empty {
        match parse_node(node) {
            Ok(document) => documents.push(document),
            Err(errors) => diagnostics.extend(errors),
        }
    }
    if diagnostics.is_empty() {
        Ok(documents)
    } else {
        Err(diagnostics)
    }
}

/// Parses a file that must hold exactly one job.
pub fn parse_job(text: &str) -> Result<JobSpec, Diagnostics> {
    let mut documents = parse_documents(text)?;
    match (documents.pop(), documents.is_empty()) {
        (Some(Document::Job(job)), true) => Ok(*job),
        (Some(Document::Config(_)), true) => Err(whole_file_error(
            "this is a GantryConfig; expected a TrainingJob or InferenceService",
        )),
        _ => Err(whole_file_error(
            "expected exactly one job in the file; submit several jobs as several files",
        )),
    }
}

/// Parses a file that must hold exactly one `GantryConfig`.
pub fn parse_config(text: &str) -> Result<FleetConfig, Diagnostics> {
    let mut documents = parse_documents(text)?;
    match (documents.pop(), documents.is_empty()) {
        (Some(Document::Config(config)), true) => Ok(*config),
        (Some(Document::Job(_)), true) => Err(whole_file_error(
            "this is a job spec; expected a GantryConfig",
        )),
        _ => Err(whole_file_error(
            "expected exactly one GantryConfig document in the file",
        )),
    }
}

fn whole_file_error(message: &str) -> Diagnostics {
    std::iter::once(Diagnostic::new(1, 1, "", message)).collect()
}

fn parse_node(node: &Node) -> Result<Document, Diagnostics> {
    let report = Report::default();
    let cursor = Cursor::root(node, &report);
    if !matches!(node.value, Value::Map(_)) {
        cursor.error(format!(
            "expected a mapping with apiVersion, kind, metadata and spec, found {}",
            node.kind_description()
        ));
        return Err(report.into_diagnostics());
    }
    if let Some(version) = node.get("apiVersion")
        && version.value != Value::Str(v1::API_VERSION.to_owned())
    {
        let shown = version
            .as_key()
            .unwrap_or_else(|| version.kind_description().to_owned());
        cursor.field("apiVersion").error(format!(
            "unsupported apiVersion `{shown}`; this version of Gantry reads {}",
            v1::API_VERSION
        ));
        return Err(report.into_diagnostics());
    }
    let kind_cursor = cursor.field("kind");
    let document = match node.get("kind").map(|kind| &kind.value) {
        None => {
            kind_cursor.missing("one of TrainingJob, InferenceService, GantryConfig");
            None
        }
        Some(Value::Str(kind)) if kind == "TrainingJob" => {
            decode_and_convert::<v1::TrainingJob, _>(node, &report, convert::training)
                .map(|job| Document::Job(Box::new(job)))
        }
        Some(Value::Str(kind)) if kind == "InferenceService" => {
            decode_and_convert::<v1::InferenceService, _>(node, &report, convert::inference)
                .map(|job| Document::Job(Box::new(job)))
        }
        Some(Value::Str(kind)) if kind == "GantryConfig" => {
            decode_and_convert::<v1::GantryConfig, _>(node, &report, convert::gantry_config)
                .map(|config| Document::Config(Box::new(config)))
        }
        Some(Value::Str(kind)) => {
            let suggestion = gantry_core::nearest(kind, KINDS);
            match suggestion.first() {
                Some(best) => {
                    kind_cursor.error(format!("unknown kind `{kind}`; did you mean `{best}`?"))
                }
                None => kind_cursor.error(format!(
                    "unknown kind `{kind}`; expected one of {}",
                    KINDS.join(", ")
                )),
            }
            None
        }
        Some(_) => {
            kind_cursor.error(format!("expected one of {}", KINDS.join(", ")));
            None
        }
    };
    match document {
        Some(document) if report.is_clean() => Ok(document),
        _ => Err(report.into_diagnostics()),
    }
}

fn decode_and_convert<'a, W, T>(
    node: &'a Node,
    report: &Report,
    convert: impl FnOnce(&W, &Cursor<'_>) -> Option<T>,
) -> Option<T>
where
    W: serde::Deserialize<'a>,
{
    let (wire, decode_diagnostics) = node_deserializer::decode::<W>(node, "");
    let wire = wire?;
    // Semantic checks run even after shape errors, so that a file with a
    // typo and a bad quantity reports both. A field the decoder already
    // complained about holds a placeholder, so conversion errors at or under
    // that field are dropped rather than reported twice.
    let conversion_report = Report::default();
    let converted = convert(&wire, &Cursor::root(node, &conversion_report));
    let conversion_diagnostics = conversion_report.into_diagnostics();
    let shadowed = |path: &str| {
        decode_diagnostics.iter().any(|earlier| {
            path == earlier.path
                || path
                    .strip_prefix(earlier.path.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
    };
    let kept: Diagnostics = conversion_diagnostics
        .iter()
        .filter(|diagnostic| !shadowed(&diagnostic.path))
        .cloned()
        .collect();
    let clean = decode_diagnostics.is_empty() && kept.is_empty();
    report.add(decode_diagnostics);
    report.add(kept);
    if clean { converted } else { None }
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// I/O failure.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// More than [`yaml_tree::MAX_FILE_BYTES`].
    #[error("{path}: error: file is larger than 1 MiB; refusing to read it")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// Not UTF-8.
    #[error("{path}: error: file is not UTF-8 text")]
    NotUtf8 {
        /// The file.
        path: String,
    },
}

/// Reads a spec or config file, refusing files over 1 MiB without reading
/// more than that into memory.
pub fn read_spec_file(path: &Path) -> Result<String, ReadError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: shown.clone(),
        source,
    })?;
    let mut bytes = Vec::new();
    let limit = yaml_tree::MAX_FILE_BYTES as u64 + 1;
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Io {
            path: shown.clone(),
            source,
        })?;
    if bytes.len() > yaml_tree::MAX_FILE_BYTES {
        return Err(ReadError::TooLarge { path: shown });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 { path: shown })
}
