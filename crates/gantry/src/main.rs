//! `gantry`: the command-line interface (PRODUCT.md "CLI").
//!
//! Exit codes: 0 ok, 1 the request failed (or a spec is invalid), 2 usage error.

mod validate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Gantry places AI training and inference jobs on Kubernetes clusters
/// across clouds at the lowest cost that quotas allow.
#[derive(Debug, Parser)]
#[command(name = "gantry", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check job specs and configs offline; prints FILE:LINE:COL errors.
    Validate {
        /// Files to check (TrainingJob, InferenceService or GantryConfig).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print nothing for valid files.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print the JSON Schema of the job spec (for editors).
    Schema {
        /// Print the schema of the daemon config file instead.
        #[arg(long)]
        config: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { files, quiet } => validate::run(&files, quiet),
        Command::Schema { config } => print_schema(config),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn print_schema(config: bool) -> anyhow::Result<ExitCode> {
    let schema = if config {
        gantry_spec::config_schema()
    } else {
        gantry_spec::job_schema()
    };
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &schema)?;
    writeln!(stdout)?;
    Ok(ExitCode::SUCCESS)
}
