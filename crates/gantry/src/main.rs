//! `gantry`: the command-line interface (PRODUCT.md "CLI").
//!
//! `validate` and `schema` work offline; every other command talks gRPC to
//! `gantryd` (`client`), one module per command group (`submit`, `jobs`,
//! `watch`, `fleet`), with tables in `render` and `-o json|yaml` shapes in
//! `views`.
//!
//! Exit codes: 0 ok, 1 the request failed (or a spec is invalid), 2 usage
//! error (clap), 130 interrupted while following a job.

mod client;
mod fleet;
mod jobs;
mod render;
mod submit;
mod validate;
mod views;
mod watch;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gantry_core::JobState;

use crate::client::Target;
use crate::render::OutputFormat;

/// Gantry places AI training and inference jobs on Kubernetes clusters
/// across clouds at the lowest cost that quotas allow.
#[derive(Debug, Parser)]
#[command(name = "gantry", version, about)]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: Command,
}

/// Where `gantryd` is, and who we are to it.
#[derive(Debug, Args)]
struct Connection {
    /// gantryd's gRPC address: HOST:PORT or http://HOST:PORT.
    #[arg(
        long,
        global = true,
        env = "GANTRY_SERVER",
        default_value = client::DEFAULT_SERVER,
        value_parser = client::parse_server,
        value_name = "ADDR"
    )]
    server: String,
    /// Bearer token sent with every call.
    #[arg(
        long,
        global = true,
        env = "GANTRY_TOKEN",
        hide_env_values = true,
        value_parser = client::parse_token
    )]
    token: Option<String>,
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
    /// Submit a job spec; prints the job id. Checked locally first.
    Submit {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Follow the job; exit 0 if it succeeds (an InferenceService: runs), 1 if not.
        #[arg(long)]
        wait: bool,
        /// Idempotency key: the same id twice is one job.
        #[arg(long, value_name = "ID", value_parser = submit::parse_request_id)]
        request_id: Option<String>,
    },
    /// Dry run: where the job would go now, at what cost, and why not elsewhere.
    Quote {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// List jobs, or show one.
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// Show a job in full: placement and cost, events, and the placement explanation.
    Describe {
        #[command(subcommand)]
        what: DescribeWhat,
    },
    /// Cancel a live job.
    Cancel {
        #[arg(value_name = "ID")]
        id: String,
        /// Why, recorded on the Cancelled event.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Stream job events until the job ends (all jobs: until interrupted).
    Watch {
        /// The job to watch; every job when absent.
        #[arg(value_name = "ID")]
        id: Option<String>,
    },
    /// The fleet: clusters, health, pools with capacity, usage and prices.
    Clusters {
        #[command(flatten)]
        output: Output,
    },
    /// Teams: quota, usage and spend today.
    Quotas {
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
enum GetWhat {
    /// Jobs, newest first.
    Jobs {
        /// Only this team and its sub-teams.
        #[arg(long, value_name = "TEAM")]
        team: Option<String>,
        /// Only jobs in this state (repeat for several).
        #[arg(long = "state", value_name = "STATE", value_parser = jobs::parse_state)]
        states: Vec<JobState>,
        #[command(flatten)]
        output: Output,
    },
    /// One job.
    Job {
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
enum DescribeWhat {
    /// One job.
    Job {
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Args)]
struct Output {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let target = Target {
        server: cli.connection.server,
        token: cli.connection.token,
    };
    let now = now_unix_ms();
    let result = match cli.command {
        Command::Validate { files, quiet } => validate::run(&files, quiet),
        Command::Schema { config } => print_schema(config),
        Command::Submit {
            file,
            wait,
            request_id,
        } => block_on(submit::submit(
            &target,
            submit::SubmitArgs {
                file,
                wait,
                request_id,
            },
        )),
        Command::Quote { file, output } => block_on(submit::quote(&target, &file, output.format)),
        Command::Get {
            what:
                GetWhat::Jobs {
                    team,
                    states,
                    output,
                },
        } => block_on(jobs::list(
            &target,
            jobs::ListArgs {
                team,
                states,
                output: output.format,
            },
            now,
        )),
        Command::Get {
            what: GetWhat::Job { id, output },
        } => block_on(jobs::get(&target, &id, output.format, now)),
        Command::Describe {
            what: DescribeWhat::Job { id },
        } => block_on(jobs::describe(&target, &id, now)),
        Command::Cancel { id, reason } => block_on(jobs::cancel(&target, &id, reason)),
        Command::Watch { id } => block_on(watch::watch(&target, id.as_deref())),
        Command::Clusters { output } => block_on(fleet::clusters(&target, output.format)),
        Command::Quotas { output } => block_on(fleet::quotas(&target, output.format)),
    };
    match result {
        Ok(code) => code,
        // `gantry get jobs | head` closing the pipe early is not a failure.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => Some(io.kind()),
            None => cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind),
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs a command that talks to `gantryd` on a single-threaded runtime.
fn block_on(command: impl Future<Output = anyhow::Result<ExitCode>>) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(command)
}

/// The wall clock, read at the edges (ages in tables, the live status line).
pub(crate) fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
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
