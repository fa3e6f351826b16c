//! `/`: a small HTML dashboard of the [`StatusReport`], for a browser.
//!
//! Self-contained (inline CSS, no script, no external asset) and refreshed
//! by the browser every five seconds (`<meta http-equiv="refresh">`).
//! Every string from the report goes through [`escape`]; numbers are
//! formatted here and never `NaN`.

use std::fmt::Write as _;

use gantry_core::JobState;

use super::report::{ResourcesReport, StatusReport};

/// Seconds between refreshes.
pub const REFRESH_SECONDS: u32 = 5;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#1b1f23;background:#fff}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
table{border-collapse:collapse;margin-bottom:.5em}\
th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.meta{color:#57606a}.ok{color:#1a7f37}.bad{color:#cf222e}.warn{color:#9a6700}\
ul.checks{margin:.3em 0;padding-left:1.2em;font-family:ui-monospace,monospace}";

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn health_class(health: &str) -> &'static str {
    match health {
        "Reachable" => "ok",
        "Degraded" => "warn",
        _ => "bad",
    }
}

fn duration(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, rest) = (rest / 3_600, rest % 3_600);
    let (minutes, seconds) = (rest / 60, rest % 60);
    if days > 0 {
        format!("{days}d {hours}h {minutes}m")
    } else if hours > 0 {
        format!("{hours}h {minutes}m {seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m {seconds}s")
    } else {
        format!("{seconds}s")
    }
}

fn latency(seconds: Option<f64>) -> String {
    match seconds {
        Some(seconds) if seconds.is_finite() && seconds < 1.0 => {
            format!("{:.1} ms", seconds * 1000.0)
        }
        Some(seconds) if seconds.is_finite() => format!("{seconds:.2} s"),
        _ => "-".to_owned(),
    }
}

fn cores(millis: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let cores = millis as f64 / 1000.0;
    format!("{cores:.1}")
}

fn gib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let gib = bytes as f64 / f64::from(1u32 << 30);
    format!("{gib:.1}")
}

fn used_of(used: &ResourcesReport, of: &ResourcesReport) -> [String; 3] {
    [
        format!("{} / {}", used.gpus, of.gpus),
        format!("{} / {}", cores(used.cpu_millis), cores(of.cpu_millis)),
        format!("{} / {}", gib(used.memory_bytes), gib(of.memory_bytes)),
    ]
}

/// A table: header cells, then rows of cells (escaped when made).
struct Table {
    headers: &'static [&'static str],
    rows: Vec<Vec<Cell>>,
}

/// One cell's escaped text, and how it is shown.
enum Cell {
    /// Left-aligned.
    Text(String),
    /// Right-aligned.
    Number(String),
    /// With a CSS class (health colours).
    Class(&'static str, String),
}

fn text(value: &str) -> Cell {
    Cell::Text(escape(value))
}

fn number(value: impl ToString) -> Cell {
    Cell::Number(escape(&value.to_string()))
}

fn write_table(out: &mut String, table: &Table) {
    out.push_str("<table><thead><tr>");
    for header in table.headers {
        let _ = write!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr></thead><tbody>");
    if table.rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\" class=\"meta\">none</td></tr>",
            table.headers.len()
        );
    }
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = match cell {
                Cell::Text(value) => write!(out, "<td>{value}</td>"),
                Cell::Number(value) => write!(out, "<td class=\"n\">{value}</td>"),
                Cell::Class(class, value) => write!(out, "<td class=\"{class}\">{value}</td>"),
            };
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

fn section(out: &mut String, title: &str, table: &Table) {
    let _ = writeln!(out, "<h2>{}</h2>", escape(title));
    write_table(out, table);
}

/// The page.
pub fn render(report: &StatusReport) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Gantry status</title><style>{STYLE}</style></head><body>\n"
    );
    let (class, verdict) = if report.readiness.ready {
        ("ok", "ready")
    } else {
        ("bad", "not ready")
    };
    let _ = writeln!(
        out,
        "<h1>Gantry <span class=\"{class}\">{verdict}</span></h1>\
         <p class=\"meta\">version {} &middot; mode {} &middot; up {} &middot; status of {}</p>",
        escape(&report.version),
        escape(&report.mode),
        duration(report.uptime_seconds),
        escape(report.snapshot_at.as_deref().unwrap_or("(none yet)")),
    );
    out.push_str("<ul class=\"checks\">");
    for check in &report.readiness.checks {
        let _ = write!(out, "<li>{}</li>", escape(check));
    }
    out.push_str("</ul>\n");

    section(
        &mut out,
        "Clusters",
        &Table {
            headers: &[
                "cluster",
                "cloud",
                "region",
                "health",
                "reason",
                "synced",
                "live jobs",
                "pools",
            ],
            rows: report
                .clusters
                .iter()
                .map(|cluster| {
                    vec![
                        text(&cluster.name),
                        text(&cluster.cloud),
                        text(&cluster.region),
                        Cell::Class(health_class(&cluster.health), escape(&cluster.health)),
                        text(&cluster.reason),
                        text(if cluster.synced { "yes" } else { "no" }),
                        number(cluster.live_jobs),
                        number(cluster.pools.len()),
                    ]
                })
                .collect(),
        },
    );
    section(
        &mut out,
        "Pools",
        &Table {
            headers: &[
                "cluster",
                "pool",
                "instance type",
                "zone",
                "capacity",
                "GPU",
                "nodes usable / total (idle)",
                "GPUs used / allocatable",
                "CPU cores used / allocatable",
                "memory GiB used / allocatable",
                "$ per node-hour",
                "price source",
                "notes",
            ],
            rows: report
                .clusters
                .iter()
                .flat_map(|cluster| {
                    cluster.pools.iter().map(move |pool| {
                        let [gpus, cpu, memory] = used_of(&pool.allocated, &pool.capacity);
                        let gpu = pool.gpu_model.as_ref().map_or_else(
                            || "-".to_owned(),
                            |model| format!("{} x {model}", pool.gpus_per_node),
                        );
                        vec![
                            text(&cluster.name),
                            text(&pool.name),
                            text(&pool.instance_type),
                            text(&pool.zone),
                            text(&pool.capacity_type),
                            text(&gpu),
                            number(format!(
                                "{} / {} ({})",
                                pool.nodes.usable, pool.nodes.total, pool.nodes.idle
                            )),
                            number(gpus),
                            number(cpu),
                            number(memory),
                            number(pool.price_per_node_hour_usd.as_deref().unwrap_or("-")),
                            text(&pool.price_source),
                            text(
                                &[&pool.price_note, &pool.catalog_note]
                                    .into_iter()
                                    .flatten()
                                    .map(String::as_str)
                                    .collect::<Vec<_>>()
                                    .join("; "),
                            ),
                        ]
                    })
                })
                .collect(),
        },
    );
    section(
        &mut out,
        "Queues",
        &Table {
            headers: &["team", "queued jobs"],
            rows: report
                .queues
                .iter()
                .map(|queue| vec![text(&queue.team), number(queue.depth)])
                .collect(),
        },
    );
    section(
        &mut out,
        "Teams",
        &Table {
            headers: &[
                "team",
                "GPUs used / quota",
                "CPU cores used",
                "memory GiB used",
                "queued",
                "running",
                "$ spent today",
                "$ budget per day",
            ],
            rows: report
                .teams
                .iter()
                .map(|team| {
                    let quota = team.quota.as_ref();
                    let gpu_quota = quota
                        .and_then(|quota| quota.gpus)
                        .map_or_else(|| "-".to_owned(), |gpus| gpus.to_string());
                    let budget = quota
                        .and_then(|quota| quota.budget_per_day_usd.clone())
                        .unwrap_or_else(|| "-".to_owned());
                    vec![
                        text(team.team.as_deref().unwrap_or("(no team)")),
                        number(format!("{} / {gpu_quota}", team.gpus_used)),
                        number(cores(team.cpu_millis_used)),
                        number(gib(team.memory_bytes_used)),
                        number(team.queued),
                        number(team.running),
                        number(&team.spend_today_usd),
                        number(budget),
                    ]
                })
                .collect(),
        },
    );
    let job_rows = match &report.job_counts {
        Some(counts) => {
            // In lifecycle order, not by name.
            let mut rows: Vec<Vec<Cell>> = JobState::ALL
                .iter()
                .map(|state| {
                    let count = counts.by_state.get(state.as_str()).copied().unwrap_or(0);
                    vec![text(state.as_str()), number(count)]
                })
                .collect();
            rows.push(vec![text("total"), number(counts.total)]);
            rows
        }
        None => vec![vec![
            Cell::Class("bad", "store".to_owned()),
            text(report.store.problem.as_deref().unwrap_or("no answer")),
        ]],
    };
    section(
        &mut out,
        "Jobs in the store",
        &Table {
            headers: &["state", "jobs"],
            rows: job_rows,
        },
    );
    let latency_report = &report.placement_latency;
    let counters = &report.counters;
    section(
        &mut out,
        "Scheduling",
        &Table {
            headers: &[
                "placements",
                "preemptions",
                "passes",
                "placement p50",
                "placement p99",
                "$ list spend since start",
            ],
            rows: vec![vec![
                number(counters.placements),
                number(counters.preemptions),
                number(counters.scheduling_passes),
                number(latency(latency_report.p50_seconds)),
                number(latency(latency_report.p99_seconds)),
                number(&counters.list_spend_usd),
            ]],
        },
    );
    section(
        &mut out,
        "Recent decisions (newest first)",
        &Table {
            headers: &["at", "job", "decision"],
            rows: report
                .recent_decisions
                .iter()
                .map(|decision| {
                    vec![
                        text(decision.at.as_deref().unwrap_or("-")),
                        text(&decision.job),
                        text(&decision.summary),
                    ]
                })
                .collect(),
        },
    );
    out.push_str(
        "<p class=\"meta\">JSON: <a href=\"api/v1/status\">/api/v1/status</a> &middot; \
         Prometheus: <a href=\"metrics\">/metrics</a></p>\n</body></html>\n",
    );
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn markup_quotes_and_ampersands_are_escaped() {
        assert_eq!(
            escape("<script>alert('x' & \"y\")</script>"),
            "&lt;script&gt;alert(&#39;x&#39; &amp; &quot;y&quot;)&lt;/script&gt;"
        );
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(61), "1m 1s");
        assert_eq!(duration(3_723), "1h 2m 3s");
        assert_eq!(duration(90_061), "1d 1h 1m");
        assert_eq!(latency(Some(0.0075)), "7.5 ms");
        assert_eq!(latency(Some(2.5)), "2.50 s");
        assert_eq!(latency(None), "-");
    }
}
