//! `gantry-replay`: replays a GPU-cluster trace through Gantry's scheduler
//! and the baseline policies on a simulated fleet, and prints one
//! comparison table (or a JSON array).
//!
//! Exit codes: 0 ok, 1 the replay failed (message on stderr), 2 usage error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use gantry_replay::fleet::FleetModel;
use gantry_replay::report::{PolicyReport, table};
use gantry_replay::simulation::World;
use gantry_replay::spot_trace::parse_spot_traces;
use gantry_replay::trace::parse_trace;
use gantry_replay::trace_stats::{render, trace_stats};
use gantry_replay::{Benchmark, PolicyName, Window};

/// Replays a trace in the common format (job_id, submit_time_s, duration_s,
/// num_gpus, gpu_type, cpu, mem_gib, user_or_group, final_status) through
/// the real scheduler in virtual time, and compares policies.
#[derive(Debug, Parser)]
#[command(name = "gantry-replay", version, about)]
struct Cli {
    /// Trace CSV in the common format.
    #[arg(long, value_name = "FILE")]
    trace: PathBuf,
    /// Fleet (a GantryConfig with simulated clusters; every pool sets pricePerHour).
    #[arg(long, value_name = "FILE", required_unless_present = "stats")]
    fleet: Option<PathBuf>,
    /// `gantry`, `fifo-first-fit`, `cheapest-now`, or `all`.
    #[arg(long, default_value = "all")]
    policy: String,
    /// Replay this many days of submissions (default: all).
    #[arg(long)]
    days: Option<u64>,
    /// First day to replay (0-based).
    #[arg(long, default_value_t = 0)]
    from_day: u64,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Directory with spot_traces_index.csv and spot_traces_values.csv; without
    /// it, spot pools are interrupted by a seeded Poisson process at their
    /// interruptionRatePerHour.
    #[arg(long, value_name = "DIR")]
    spot_traces: Option<PathBuf>,
    /// Seed of the Poisson spot interruptions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scheduling cycle in seconds of virtual time: 0 calls the scheduler at
    /// every event instant; N collects events and decides at the next
    /// multiple of N seconds.
    #[arg(long, default_value_t = 0)]
    cycle_s: u64,
    /// Show the scheduler every waiting job at every call, instead of parking
    /// the jobs it left waiting until capacity, quota or budget is released.
    #[arg(long)]
    no_parking: bool,
    /// Policies replayed at once.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print the trace's demand curve and per-team shares (and quotas
    /// suggested for --fleet, with --headroom) instead of replaying.
    #[arg(long)]
    stats: bool,
    /// Headroom of the suggested quotas.
    #[arg(long, default_value_t = 1.5)]
    headroom: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn load_fleet(path: &Path) -> anyhow::Result<FleetModel> {
    let text = read(path)?;
    let config = gantry_spec::parse_config(&text).map_err(|diagnostics| {
        anyhow::anyhow!(
            "invalid fleet\n{}",
            diagnostics.render(&path.display().to_string())
        )
    })?;
    FleetModel::from_config(&config).with_context(|| format!("fleet {}", path.display()))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let policies: Vec<PolicyName> = if cli.policy == "all" {
        PolicyName::ALL.to_vec()
    } else {
        match PolicyName::parse(&cli.policy) {
            Some(name) => vec![name],
            None => bail!(
                "unknown policy `{}`; use gantry, fifo-first-fit, cheapest-now or all",
                cli.policy
            ),
        }
    };
    let trace_text = read(&cli.trace)?;
    let trace =
        parse_trace(&trace_text).with_context(|| format!("trace {}", cli.trace.display()))?;
    drop(trace_text);
    let mut stderr = std::io::stderr().lock();
    if !trace.bad_rows.is_empty() {
        writeln!(
            stderr,
            "{}: {} row(s) left out:",
            cli.trace.display(),
            trace.bad_rows.len()
        )?;
        for row in trace.bad_rows.iter().take(20) {
            writeln!(stderr, "  {row}")?;
        }
    }
    let window = Window {
        from_day: cli.from_day,
        days: cli.days,
    };
    let fleet = match &cli.fleet {
        Some(path) => Some(load_fleet(path)?),
        None => None,
    };
    if cli.stats {
        let fleet_model = fleet.unwrap_or_else(|| FleetModel {
            pools: Vec::new(),
            teams: Vec::new(),
            cloud_quotas: Vec::new(),
        });
        let (benchmark, _) =
            Benchmark::new(&trace.jobs, fleet_model, window, None, World::default());
        let stats = trace_stats(&benchmark.jobs);
        let gpus = benchmark.fleet.gpu_totals().all;
        let text = render(&stats, (gpus > 0).then_some(gpus), cli.headroom);
        write!(std::io::stdout().lock(), "{text}")?;
        return Ok(());
    }
    let Some(fleet) = fleet else {
        bail!("--fleet is required");
    };
    let spot_series = match &cli.spot_traces {
        Some(dir) => {
            let index = read(&dir.join("spot_traces_index.csv"))?;
            let values = read(&dir.join("spot_traces_values.csv"))?;
            Some(
                parse_spot_traces(&index, &values)
                    .with_context(|| format!("spot traces in {}", dir.display()))?,
            )
        }
        None => None,
    };
    let world = World {
        seed: cli.seed,
        ..World::default()
    };
    let (mut benchmark, bad_jobs) =
        Benchmark::new(&trace.jobs, fleet, window, spot_series.as_deref(), world);
    benchmark.cycle_s = cli.cycle_s;
    benchmark.parking = !cli.no_parking;
    for row in bad_jobs.iter().take(20) {
        writeln!(stderr, "  left out: {row}")?;
    }
    if benchmark.jobs.is_empty() {
        bail!("no job of the trace falls in the window");
    }
    drop(stderr);

    let reports = run_policies(&benchmark, &policies, cli.threads.max(1));
    let mut stdout = std::io::stdout().lock();
    match cli.output {
        Output::Json => {
            let json = serde_json::to_string_pretty(&reports)?;
            writeln!(stdout, "{json}")?;
        }
        Output::Table => {
            let totals = benchmark.fleet.gpu_totals();
            writeln!(
                stdout,
                "trace {}: {} jobs (days {}..{}), fleet {}: {} GPUs ({} reserved, {} on-demand, {} spot)",
                cli.trace.display(),
                benchmark.jobs.len(),
                cli.from_day,
                cli.days
                    .map_or("end".to_owned(), |days| (cli.from_day + days).to_string()),
                cli.fleet
                    .as_deref()
                    .map_or(String::new(), |p| p.display().to_string()),
                totals.all,
                totals.reserved,
                totals.on_demand,
                totals.spot
            )?;
            let bound = &benchmark.lower_bound;
            writeln!(
                stdout,
                "span {:.1} days; reserved fixed ${}; lower bound ${} = reserved + ${} (each job at its cheapest non-reserved offer) - ${} (most reserved capacity could save)",
                benchmark.span_s as f64 / 86_400.0,
                bound.reserved_fixed,
                bound.total(),
                bound.cheapest_sum,
                bound.reserved_saving
            )?;
            for (pool, trace_id) in benchmark.fleet.pools.iter().zip(&benchmark.spot_trace_ids) {
                if let Some(trace_id) = trace_id {
                    writeln!(
                        stdout,
                        "spot pool {} follows spot trace {trace_id}",
                        pool.label()
                    )?;
                }
            }
            writeln!(stdout)?;
            write!(stdout, "{}", table(&reports))?;
            for report in &reports {
                for example in &report.quota_violation_examples {
                    writeln!(stdout, "{}: quota violation: {example}", report.policy)?;
                }
            }
        }
    }
    Ok(())
}

/// Runs each policy, `threads` at a time; reports come back in policy order.
fn run_policies(
    benchmark: &Benchmark,
    policies: &[PolicyName],
    threads: usize,
) -> Vec<PolicyReport> {
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<PolicyReport>>> = Mutex::new(vec![None; policies.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(policies.len()) {
            scope.spawn(|| {
                loop {
                    let index = {
                        let Ok(mut next) = next.lock() else { return };
                        let index = *next;
                        *next += 1;
                        index
                    };
                    let Some(name) = policies.get(index) else {
                        return;
                    };
                    let report =
                        benchmark.run(name.as_str(), &name.policy(), &gantry_sched::schedule);
                    if let Ok(mut results) = results.lock()
                        && let Some(slot) = results.get_mut(index)
                    {
                        *slot = Some(report);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}
