//! `gantry validate FILE...`: every error of every file, one line each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gantry_core::JobSpec;
use gantry_spec::{Document, parse_documents, parse_job, read_spec_file};

/// Validates `files`; exit 0 when all are valid, 1 otherwise.
pub(crate) fn run(files: &[PathBuf], quiet: bool) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut all_valid = true;
    for path in files {
        let shown = path.display().to_string();
        let text = match read_spec_file(path) {
            Ok(text) => text,
            Err(error) => {
                writeln!(stderr, "{error}")?;
                all_valid = false;
                continue;
            }
        };
        match parse_documents(&text) {
            Ok(documents) => {
                if !quiet {
                    for document in documents {
                        writeln!(stdout, "{shown}: ok: {}", describe(&document))?;
                    }
                }
            }
            Err(diagnostics) => {
                all_valid = false;
                write!(stderr, "{}", diagnostics.render(&shown))?;
            }
        }
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn describe(document: &Document) -> String {
    match document {
        Document::Job(job) => format!("{} {} (team {})", job.kind.as_str(), job.name, job.team),
        Document::Config(config) => format!("GantryConfig with {} clusters", config.clusters.len()),
    }
}

/// Reads one job spec and checks it as `validate` does, printing the same
/// diagnostics to stderr. `None` when it is not one valid job: the caller
/// sends nothing and exits 1.
pub(crate) fn check_job_file(path: &Path) -> anyhow::Result<Option<(String, JobSpec)>> {
    let mut stderr = std::io::stderr().lock();
    let text = match read_spec_file(path) {
        Ok(text) => text,
        Err(error) => {
            writeln!(stderr, "{error}")?;
            return Ok(None);
        }
    };
    match parse_job(&text) {
        Ok(job) => Ok(Some((text, job))),
        Err(diagnostics) => {
            write!(
                stderr,
                "{}",
                diagnostics.render(&path.display().to_string())
            )?;
            Ok(None)
        }
    }
}
