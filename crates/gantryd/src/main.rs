//! `gantryd`: Gantry's control-plane daemon. A thin main: arguments, logs,
//! the runtime; everything is wired in `run`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

mod catalog;
mod cloud;
mod run;
mod settings;

/// Gantry's control-plane daemon.
#[derive(Debug, Parser)]
#[command(name = "gantryd", version, about = "Gantry's control-plane daemon")]
pub(crate) struct Cli {
    /// The config file (clusters, prices, quotas, storage, listeners). Without
    /// one, gantryd runs in dev mode: a built-in simulated fleet of three
    /// clusters and an embedded store under ./.gantry/.
    #[arg(long, env = "GANTRY_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// gRPC listen address (overrides the config's).
    #[arg(long)]
    pub(crate) grpc: Option<std::net::SocketAddr>,
    /// HTTP status listen address (overrides the config's).
    #[arg(long)]
    pub(crate) http: Option<std::net::SocketAddr>,
    /// Directory of the embedded store and the dev kubeconfig (overrides the config's).
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Seconds a cluster may stay lost before its jobs are placed elsewhere.
    #[arg(long, default_value_t = 60)]
    pub(crate) lost_grace_seconds: u64,
    /// Simulated seconds per real second for the dev fleet (default: the fleet's).
    #[arg(long)]
    pub(crate) time_scale: Option<f64>,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow::Error::from(error)),
    };
    match runtime.block_on(run::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GANTRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[allow(clippy::print_stderr)]
fn fail(error: &anyhow::Error) -> ExitCode {
    tracing::error!(error = %format!("{error:#}"), "gantryd stopped");
    eprintln!("gantryd: error: {error:#}");
    ExitCode::FAILURE
}
