//! `gantry submit FILE [--wait] [--request-id ID]` and `gantry quote FILE`.
//!
//! Both check the spec locally first, exactly as `validate` does: a spec
//! with errors is reported and nothing is sent (exit 1). The YAML text goes
//! to the server as written, so the server sees (and stores) what the user
//! wrote, comments included.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gantry_core::{JobKind, JobSpec, JobState};
use gantry_proto::{QuoteJobRequest, SubmitJobRequest, quote_job_request, submit_job_request};

use crate::client::{Target, connect, request_failed};
use crate::render::{
    OutputFormat, Table, dollars, dollars_per_hour, duration, or_dash, write_structured,
};
use crate::validate::check_job_file;
use crate::views::{QuoteView, capacity_name, rejection_name, state_name};
use crate::watch::{Ended, StopAt, follow};

/// `--request-id`: 1 to 128 printable ASCII characters (the API's rule).
pub(crate) fn parse_request_id(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 128 {
        return Err("a request id has 1 to 128 characters".to_owned());
    }
    if !text.chars().all(|character| character.is_ascii_graphic()) {
        return Err("a request id is printable ASCII without spaces".to_owned());
    }
    Ok(text.to_owned())
}

/// What `submit` was asked to do.
#[derive(Debug)]
pub(crate) struct SubmitArgs {
    pub(crate) file: PathBuf,
    pub(crate) wait: bool,
    pub(crate) request_id: Option<String>,
}

/// Submits; prints the job id on stdout (so `ID=$(gantry submit f.yaml)`
/// works) and what happened on stderr. With `--wait`, follows the job:
/// exit 0 when it succeeded (or an `InferenceService` runs), 1 otherwise.
/// A job rejected at submit exits 1 with the reason.
pub(crate) async fn submit(target: &Target, args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let Some((text, spec)) = check_job_file(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    let mut clients = connect(target).await?;
    let action = format!("submit {}", args.file.display());
    let request = SubmitJobRequest {
        spec: Some(submit_job_request::Spec::SpecYaml(text)),
        request_id: args.request_id.clone().unwrap_or_default(),
    };
    let response = clients
        .jobs
        .submit_job(request)
        .await
        .map_err(|status| request_failed(action.as_str(), &status, &clients.server))?
        .into_inner();
    let Some(job) = response.job else {
        anyhow::bail!("{action}: gantryd answered without the job");
    };
    let state = gantry_proto::job_state_from_proto(job.state);
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", job.id)?;
        stdout.flush()?;
    }
    let mut stderr = std::io::stderr().lock();
    let what = format!("{} {}/{}", spec.kind.as_str(), job.team, job.name);
    if response.created {
        writeln!(stderr, "submitted {what}: {}", state_name(job.state))?;
    } else {
        writeln!(
            stderr,
            "already submitted (request id {}): {what} is {}",
            or_dash(&job.request_id),
            state_name(job.state)
        )?;
    }
    if state == Some(JobState::Rejected) {
        writeln!(stderr, "rejected: {}", or_dash(&job.reason))?;
        return Ok(ExitCode::from(1));
    }
    drop(stderr);
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let stop = match spec.kind {
        JobKind::Training => StopAt::JobEnd,
        JobKind::Inference => StopAt::JobEndOrRunning,
    };
    Ok(match follow(&mut clients, Some(&job.id), stop).await? {
        Ended::Reached(JobState::Succeeded | JobState::Running) => ExitCode::SUCCESS,
        Ended::Reached(_) => ExitCode::from(1),
        Ended::Interrupted => ExitCode::from(130),
    })
}

/// A dry run: ranked placements, then the candidates that lost and why.
pub(crate) async fn quote(
    target: &Target,
    file: &Path,
    output: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let Some((text, spec)) = check_job_file(file)? else {
        return Ok(ExitCode::from(1));
    };
    let mut clients = connect(target).await?;
    let request = QuoteJobRequest {
        spec: Some(quote_job_request::Spec::SpecYaml(text)),
    };
    let response = clients
        .jobs
        .quote_job(request)
        .await
        .map_err(|status| {
            request_failed(
                format!("quote {}", file.display()),
                &status,
                &clients.server,
            )
        })?
        .into_inner();
    let mut stdout = std::io::stdout().lock();
    match output {
        OutputFormat::Table => write_quote(&mut stdout, &spec, &response)?,
        format => write_structured(&mut stdout, format, &QuoteView::from(&response))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn write_quote(
    out: &mut impl Write,
    spec: &JobSpec,
    quote: &gantry_proto::QuoteJobResponse,
) -> std::io::Result<()> {
    let what = format!("{} {}/{}", spec.kind.as_str(), spec.team, spec.name);
    let offers = quote
        .explanation
        .as_ref()
        .map_or(0, |explanation| explanation.offers_considered);
    if !quote.ever_fits {
        writeln!(
            out,
            "{what} would be rejected: no configured cluster could ever run it: {}",
            or_dash(&quote.never_fits_reason)
        )?;
    } else if quote.placements.is_empty() {
        let waiting = quote
            .explanation
            .as_ref()
            .map(|explanation| explanation.waiting_reason.as_str())
            .unwrap_or_default();
        writeln!(
            out,
            "{what} fits, but nowhere now ({offers} offers considered); it would wait: {}",
            or_dash(waiting)
        )?;
    } else {
        writeln!(
            out,
            "{what}: {} placements, cheapest first ({offers} offers considered)",
            quote.placements.len()
        )?;
        writeln!(out)?;
        let mut table = Table::new(&[
            "RANK",
            "CLUSTER",
            "POOL",
            "ZONE",
            "CAPACITY",
            "GPU",
            "NODES",
            "PRICE",
            "RUNTIME",
            "COMPUTE",
            "EGRESS",
            "SPOT LOSS",
            "EST. TOTAL",
        ])
        .right_align(&[
            "RANK",
            "NODES",
            "PRICE",
            "RUNTIME",
            "COMPUTE",
            "EGRESS",
            "SPOT LOSS",
            "EST. TOTAL",
        ]);
        for (rank, placement) in quote.placements.iter().enumerate() {
            let cost = placement.expected_cost.unwrap_or_default();
            table.row(vec![
                (rank + 1).to_string(),
                placement.cluster.clone(),
                placement.pool.clone(),
                or_dash(&placement.zone),
                capacity_name(placement.capacity_type),
                or_dash(&placement.gpu_model),
                placement.replicas.to_string(),
                dollars_per_hour(placement.hourly_price_micro_usd),
                duration(placement.expected_runtime_s),
                dollars(cost.compute_micro_usd),
                dollars(cost.egress_micro_usd),
                dollars(cost.spot_loss_micro_usd),
                dollars(cost.total_micro_usd),
            ]);
        }
        table.write(out, "")?;
    }
    let rejected: Vec<&gantry_proto::Candidate> = quote
        .explanation
        .iter()
        .flat_map(|explanation| &explanation.candidates)
        .filter(|candidate| candidate.rejection != gantry_proto::RejectionKind::None as i32)
        .collect();
    if !rejected.is_empty() {
        writeln!(out)?;
        writeln!(out, "Not chosen:")?;
        candidates_table(&rejected).write(out, "")?;
    }
    Ok(())
}

/// Candidates with their price, expected cost and verdict (`chosen`, or
/// the rejection and its detail); shared with `describe`.
pub(crate) fn candidates_table(candidates: &[&gantry_proto::Candidate]) -> Table {
    let mut table = Table::new(&[
        "CLUSTER",
        "POOL",
        "ZONE",
        "CAPACITY",
        "GPU",
        "PRICE",
        "EST. TOTAL",
        "VERDICT",
    ])
    .right_align(&["PRICE", "EST. TOTAL"]);
    for candidate in candidates {
        let verdict = if candidate.rejection == gantry_proto::RejectionKind::None as i32 {
            "chosen".to_owned()
        } else if candidate.rejection_detail.is_empty() {
            rejection_name(candidate.rejection)
        } else {
            format!(
                "{}: {}",
                rejection_name(candidate.rejection),
                candidate.rejection_detail
            )
        };
        let price = if candidate.hourly_price_micro_usd == 0 {
            "-".to_owned()
        } else {
            dollars_per_hour(candidate.hourly_price_micro_usd)
        };
        let total = if candidate.expected_cost_micro_usd == 0
            && candidate.rejection != gantry_proto::RejectionKind::None as i32
        {
            "-".to_owned()
        } else {
            dollars(candidate.expected_cost_micro_usd)
        };
        table.row(vec![
            candidate.cluster.clone(),
            candidate.pool.clone(),
            or_dash(&candidate.zone),
            capacity_name(candidate.capacity_type),
            or_dash(&candidate.gpu_model),
            price,
            total,
            verdict,
        ]);
    }
    table
}
