//! `gantry get jobs`, `gantry get job ID`, `gantry describe job ID`,
//! `gantry cancel ID`.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use gantry_core::JobState;
use gantry_proto::{CancelJobRequest, GetJobRequest, GetJobResponse, Job, ListJobsRequest};

use crate::client::{Target, connect, request_failed};
use crate::render::{
    OutputFormat, Table, age, dollars, dollars_per_hour, duration, or_dash, rfc3339, time_and_age,
    write_structured,
};
use crate::submit::candidates_table;
use crate::views::{JobList, JobView, capacity_name, kind_name, state_name};

/// Jobs asked for per page.
const PAGE_SIZE: u32 = 500;

/// `--state`: a job state name, any case.
pub(crate) fn parse_state(text: &str) -> Result<JobState, String> {
    text.parse::<JobState>().map_err(|error| error.to_string())
}

/// What `get jobs` was asked for.
#[derive(Debug)]
pub(crate) struct ListArgs {
    pub(crate) team: Option<String>,
    pub(crate) states: Vec<JobState>,
    pub(crate) output: OutputFormat,
}

/// Every job that passes the filters, newest first, following pages.
pub(crate) async fn list(
    target: &Target,
    args: ListArgs,
    now_unix_ms: i64,
) -> anyhow::Result<ExitCode> {
    let mut clients = connect(target).await?;
    let states: Vec<i32> = args
        .states
        .iter()
        .map(|state| gantry_proto::job_state_to_proto(*state) as i32)
        .collect();
    let mut jobs = Vec::new();
    let mut page_token = String::new();
    let mut tokens_seen = BTreeSet::new();
    loop {
        let request = ListJobsRequest {
            team: args.team.clone().unwrap_or_default(),
            states: states.clone(),
            kind: 0,
            page_size: PAGE_SIZE,
            page_token: page_token.clone(),
        };
        let page = clients
            .jobs
            .list_jobs(request)
            .await
            .map_err(|status| request_failed("get jobs", &status, &clients.server))?
            .into_inner();
        jobs.extend(page.jobs);
        if page.next_page_token.is_empty() {
            break;
        }
        if !tokens_seen.insert(page.next_page_token.clone()) {
            anyhow::bail!(
                "get jobs: gantryd sent page token `{}` twice; stopping rather than looping",
                page.next_page_token
            );
        }
        page_token = page.next_page_token;
    }
    let mut stdout = std::io::stdout().lock();
    match args.output {
        OutputFormat::Table if jobs.is_empty() => {
            writeln!(std::io::stderr(), "no jobs")?;
        }
        OutputFormat::Table => jobs_table(&jobs, now_unix_ms).write(&mut stdout, "")?,
        format => write_structured(
            &mut stdout,
            format,
            &JobList {
                jobs: jobs.iter().map(JobView::from).collect(),
            },
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

fn jobs_table(jobs: &[Job], now_unix_ms: i64) -> Table {
    let mut table = Table::new(&[
        "ID", "NAME", "TEAM", "KIND", "STATE", "CLUSTER", "CAPACITY", "PRICE", "AGE",
    ])
    .right_align(&["PRICE"]);
    for job in jobs {
        let placement = job.placement.as_ref();
        table.row(vec![
            job.id.clone(),
            job.name.clone(),
            job.team.clone(),
            kind_name(job.kind),
            state_name(job.state),
            placement.map_or_else(|| "-".to_owned(), |p| or_dash(&p.cluster)),
            placement.map_or_else(|| "-".to_owned(), |p| capacity_name(p.capacity_type)),
            placement.map_or_else(
                || "-".to_owned(),
                |p| dollars_per_hour(p.hourly_price_micro_usd),
            ),
            age(job.submitted_at_unix_ms, now_unix_ms),
        ]);
    }
    table
}

async fn get_job_response(
    target: &Target,
    id: &str,
    include_events: bool,
    action: &str,
) -> anyhow::Result<GetJobResponse> {
    let mut clients = connect(target).await?;
    let request = GetJobRequest {
        id: id.to_owned(),
        include_events,
    };
    Ok(clients
        .jobs
        .get_job(request)
        .await
        .map_err(|status| request_failed(action, &status, &clients.server))?
        .into_inner())
}

/// One job: a one-row table, or the whole job as JSON or YAML.
pub(crate) async fn get(
    target: &Target,
    id: &str,
    output: OutputFormat,
    now_unix_ms: i64,
) -> anyhow::Result<ExitCode> {
    let action = format!("get job {id}");
    let response = get_job_response(target, id, false, &action).await?;
    let Some(job) = response.job else {
        anyhow::bail!("{action}: gantryd answered without the job");
    };
    let mut stdout = std::io::stdout().lock();
    match output {
        OutputFormat::Table => {
            jobs_table(std::slice::from_ref(&job), now_unix_ms).write(&mut stdout, "")?
        }
        format => write_structured(&mut stdout, format, &JobView::from(&job))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The job, its placement and cost, its events, and the placement explanation.
pub(crate) async fn describe(
    target: &Target,
    id: &str,
    now_unix_ms: i64,
) -> anyhow::Result<ExitCode> {
    let action = format!("describe job {id}");
    let response = get_job_response(target, id, true, &action).await?;
    let mut stdout = std::io::stdout().lock();
    write_description(&mut stdout, &response, now_unix_ms)?;
    Ok(ExitCode::SUCCESS)
}

fn write_description(
    out: &mut impl Write,
    response: &GetJobResponse,
    now_unix_ms: i64,
) -> std::io::Result<()> {
    let Some(job) = &response.job else {
        return writeln!(out, "gantryd answered without the job");
    };
    let mut fields: Vec<(&str, String)> = vec![
        ("Job", job.id.clone()),
        ("Name", job.name.clone()),
        ("Team", job.team.clone()),
        ("Kind", kind_name(job.kind)),
        (
            "State",
            format!("{} (attempt {})", state_name(job.state), job.attempt),
        ),
        ("Reason", or_dash(&job.reason)),
        ("Priority", job.priority.to_string()),
        (
            "Submitted",
            format!(
                "{} by {}",
                time_and_age(job.submitted_at_unix_ms, now_unix_ms),
                or_dash(&job.submitter)
            ),
        ),
        ("Updated", time_and_age(job.updated_at_unix_ms, now_unix_ms)),
        ("Request id", or_dash(&job.request_id)),
        ("Spec digest", or_dash(&job.spec_digest)),
    ];
    let mut labels: Vec<String> = job
        .labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    labels.sort();
    fields.push((
        "Labels",
        if labels.is_empty() {
            "-".to_owned()
        } else {
            labels.join(", ")
        },
    ));
    write_fields(out, "", &fields)?;

    writeln!(out)?;
    match &job.placement {
        None => writeln!(out, "Placement: none yet")?,
        Some(placement) => {
            writeln!(out, "Placement:")?;
            let gpus = if placement.gpu_model.is_empty() {
                "none (CPU only)".to_owned()
            } else {
                placement.gpu_model.clone()
            };
            let cost = placement.expected_cost.unwrap_or_default();
            write_fields(
                out,
                "  ",
                &[
                    (
                        "Cluster",
                        format!(
                            "{} ({}, {})",
                            placement.cluster,
                            or_dash(&placement.cloud),
                            or_dash(&placement.region)
                        ),
                    ),
                    (
                        "Pool",
                        format!(
                            "{} ({}, zone {})",
                            placement.pool,
                            or_dash(&placement.instance_type),
                            or_dash(&placement.zone)
                        ),
                    ),
                    ("Capacity", capacity_name(placement.capacity_type)),
                    ("GPU", gpus),
                    ("Nodes", placement.replicas.to_string()),
                    (
                        "Price",
                        format!(
                            "{} ({})",
                            dollars_per_hour(placement.hourly_price_micro_usd),
                            or_dash(&placement.price_source)
                        ),
                    ),
                    ("Expected runtime", duration(placement.expected_runtime_s)),
                    (
                        "Expected cost",
                        format!(
                            "{} = compute {} + egress {} + spot loss {}",
                            dollars(cost.total_micro_usd),
                            dollars(cost.compute_micro_usd),
                            dollars(cost.egress_micro_usd),
                            dollars(cost.spot_loss_micro_usd)
                        ),
                    ),
                ],
            )?;
        }
    }

    writeln!(out)?;
    if response.events.is_empty() {
        writeln!(out, "Events: none")?;
    } else {
        writeln!(out, "Events:")?;
        let mut table = Table::new(&[
            "SEQ",
            "TIME",
            "AGE",
            "FROM",
            "TO",
            "TRANSITION",
            "ATTEMPT",
            "BY",
            "REASON",
        ])
        .right_align(&["SEQ", "ATTEMPT"]);
        for event in &response.events {
            let from = if event.from_state == 0 {
                "-".to_owned()
            } else {
                state_name(event.from_state)
            };
            table.row(vec![
                event.seq.to_string(),
                rfc3339(event.at_unix_ms).unwrap_or_else(|| "-".to_owned()),
                age(event.at_unix_ms, now_unix_ms),
                from,
                state_name(event.to_state),
                or_dash(&event.transition),
                event.attempt.to_string(),
                or_dash(&event.actor),
                event.reason.clone(),
            ]);
        }
        table.write(out, "  ")?;
    }

    writeln!(out)?;
    match &response.explanation {
        None => writeln!(out, "Explanation: none recorded")?,
        Some(explanation) => {
            writeln!(
                out,
                "Explanation (decided {}, {} offers considered):",
                if explanation.decided_at_unix_ms > 0 {
                    age(explanation.decided_at_unix_ms, now_unix_ms)
                } else {
                    "-".to_owned()
                },
                explanation.offers_considered
            )?;
            if !explanation.waiting_reason.is_empty() {
                writeln!(out, "  Waiting: {}", explanation.waiting_reason)?;
            }
            let candidates: Vec<&gantry_proto::Candidate> = explanation.candidates.iter().collect();
            if candidates.is_empty() {
                writeln!(out, "  No candidates.")?;
            } else {
                candidates_table(&candidates).write(out, "  ")?;
            }
        }
    }
    Ok(())
}

fn write_fields(
    out: &mut impl Write,
    indent: &str,
    fields: &[(&str, String)],
) -> std::io::Result<()> {
    let width = fields.iter().map(|(name, _)| name.len()).max().unwrap_or(0) + 1;
    for (name, value) in fields {
        writeln!(out, "{indent}{:<width$} {value}", format!("{name}:"))?;
    }
    Ok(())
}

/// Cancels a live job.
pub(crate) async fn cancel(
    target: &Target,
    id: &str,
    reason: Option<String>,
) -> anyhow::Result<ExitCode> {
    let mut clients = connect(target).await?;
    let request = CancelJobRequest {
        id: id.to_owned(),
        reason: reason.unwrap_or_default(),
    };
    let response = clients
        .jobs
        .cancel_job(request)
        .await
        .map_err(|status| request_failed(format!("cancel {id}"), &status, &clients.server))?
        .into_inner();
    let mut stdout = std::io::stdout().lock();
    match response.job {
        Some(job) if job.state == gantry_proto::JobState::Cancelled as i32 => {
            writeln!(stdout, "job {} cancelled", job.id)?;
        }
        Some(job) => writeln!(
            stdout,
            "job {} cancel requested; now {}",
            job.id,
            state_name(job.state)
        )?,
        None => writeln!(stdout, "job {id} cancel requested")?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn field_lists_line_up() {
        let mut out = Vec::new();
        write_fields(
            &mut out,
            "  ",
            &[("Job", "a".into()), ("Request id", "b".into())],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  Job:        a\n  Request id: b\n"
        );
    }
}
