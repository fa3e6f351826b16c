//! `gantry-sim`: simulated Kubernetes clusters in a process of their own.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gantry_sim::{SimFleet, SimOptions};

#[derive(Debug, Parser)]
#[command(
    name = "gantry-sim",
    version,
    about = "Simulated Kubernetes clusters that speak the real API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the fleet's simulated clusters until SIGTERM or SIGINT.
    Serve {
        /// Fleet config (a GantryConfig with `simulated` clusters).
        #[arg(long)]
        fleet: PathBuf,
        /// Where to write the kubeconfig (one context per cluster).
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Simulated seconds per real second (default: the fleet's `simulation.timeScale`).
        #[arg(long)]
        time_scale: Option<f64>,
        /// Seed for uids, names, fault rates and spot interruptions.
        #[arg(long, default_value_t = 0x5eed)]
        seed: u64,
        /// Interrupt spot nodes at random at their pool's `interruptionRatePerHour`.
        #[arg(long)]
        spot_interruptions: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow::Error::from(error)),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

#[allow(clippy::print_stderr)]
fn fail(error: &anyhow::Error) -> std::process::ExitCode {
    eprintln!("gantry-sim: error: {error:#}");
    std::process::ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            fleet,
            kubeconfig,
            time_scale,
            seed,
            spot_interruptions,
        } => {
            let text = std::fs::read_to_string(&fleet)
                .with_context(|| format!("cannot read {}", fleet.display()))?;
            let config = gantry_spec::parse_config(&text).map_err(|diagnostics| {
                anyhow::anyhow!(
                    "{} is not a valid fleet config:\n{diagnostics}",
                    fleet.display()
                )
            })?;
            let options = SimOptions {
                time_scale,
                seed,
                random_spot_interruptions: spot_interruptions,
                ..SimOptions::default()
            };
            let sims = SimFleet::start(&config, options).await?;
            sims.write_kubeconfig(&kubeconfig)?;
            announce(&sims, &kubeconfig);
            wait_for_signal().await?;
            sims.shutdown().await;
            Ok(())
        }
    }
}

#[allow(clippy::print_stdout)]
fn announce(sims: &SimFleet, kubeconfig: &std::path::Path) {
    let clusters: Vec<String> = sims
        .clusters()
        .iter()
        .map(|c| format!("{} {}", c.name(), c.base_url()))
        .collect();
    println!(
        "gantry-sim: serving {} clusters ({}); kubeconfig at {}",
        clusters.len(),
        clusters.join(", "),
        kubeconfig.display()
    );
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
