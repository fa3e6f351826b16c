//! The common trace format of `shared/data/traces/`: one CSV row per job.
//!
//! Columns are found by header name, in any order; columns the reader does
//! not know are ignored. Required: `job_id, submit_time_s, duration_s,
//! num_gpus, user_or_group`. Optional (the column may be absent, a field
//! may be empty): `gpu_type, cpu, mem_gib, final_status`.
//!
//! A row that cannot be read is reported with its line and the reason and
//! left out; it never stops the others. Only a header without the required
//! columns fails the whole file.

use std::collections::BTreeMap;

use gantry_core::GpuModel;

use crate::csv_records::records;

/// Columns a trace must have.
pub const REQUIRED_COLUMNS: [&str; 5] = [
    "job_id",
    "submit_time_s",
    "duration_s",
    "num_gpus",
    "user_or_group",
];

/// Columns read when present.
pub const OPTIONAL_COLUMNS: [&str; 4] = ["gpu_type", "cpu", "mem_gib", "final_status"];

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// One job of a trace, as the trace gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceJob {
    /// Line of the row in the file (1-based).
    pub line: usize,
    /// `job_id`, as written.
    pub job_id: String,
    /// Seconds since the trace's origin.
    pub submit_time_s: u64,
    /// Run time on the trace's own hardware.
    pub duration_s: u64,
    /// GPUs of the whole job.
    pub num_gpus: u32,
    /// Acceptable GPU models; empty means any.
    pub gpu_models: Vec<GpuModel>,
    /// CPU of the whole job, when given.
    pub cpu_millis: Option<u64>,
    /// Memory of the whole job, when given.
    pub memory_bytes: Option<u64>,
    /// `user_or_group`, as written (may be empty).
    pub user_or_group: String,
    /// `final_status`, when given.
    pub final_status: Option<String>,
}

/// A row left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRow {
    /// Line of the row (1-based).
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "line {}: {}", self.line, self.reason)
    }
}

/// What a trace file yields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceLoad {
    /// Jobs read, in file order.
    pub jobs: Vec<TraceJob>,
    /// Rows left out.
    pub bad_rows: Vec<BadRow>,
}

/// Why a whole trace cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// No header line.
    #[error("the trace is empty; expected a CSV header with {}", REQUIRED_COLUMNS.join(", "))]
    Empty,
    /// The header is not valid CSV.
    #[error("the trace header on line {line} is not valid CSV: {reason}")]
    BadHeader {
        /// Line of the header.
        line: usize,
        /// Why.
        reason: String,
    },
    /// Required columns are missing.
    #[error("the trace header lacks the column(s) {}; the common format is job_id, submit_time_s, duration_s, num_gpus, gpu_type, cpu, mem_gib, user_or_group, final_status", missing.join(", "))]
    MissingColumns {
        /// The missing names.
        missing: Vec<String>,
    },
    /// A known column appears twice.
    #[error("the trace header names the column `{name}` twice")]
    DuplicateColumn {
        /// The name.
        name: String,
    },
}

/// Column positions found in the header.
#[derive(Debug)]
struct Columns {
    job_id: usize,
    submit_time_s: usize,
    duration_s: usize,
    num_gpus: usize,
    user_or_group: usize,
    gpu_type: Option<usize>,
    cpu: Option<usize>,
    mem_gib: Option<usize>,
    final_status: Option<usize>,
    count: usize,
}

impl Columns {
    fn from_header(header: &[std::borrow::Cow<'_, str>]) -> Result<Columns, TraceError> {
        let mut positions: BTreeMap<&str, usize> = BTreeMap::new();
        for (position, name) in header.iter().enumerate() {
            let name = name.trim().trim_start_matches('\u{feff}');
            let known = REQUIRED_COLUMNS
                .iter()
                .chain(OPTIONAL_COLUMNS.iter())
                .find(|known| known.eq_ignore_ascii_case(name));
            if let Some(known) = known
                && positions.insert(known, position).is_some()
            {
                return Err(TraceError::DuplicateColumn {
                    name: (*known).to_owned(),
                });
            }
        }
        let missing: Vec<String> = REQUIRED_COLUMNS
            .iter()
            .filter(|name| !positions.contains_key(*name))
            .map(|name| (*name).to_owned())
            .collect();
        let required = |name: &str| positions.get(name).copied();
        match (
            required("job_id"),
            required("submit_time_s"),
            required("duration_s"),
            required("num_gpus"),
            required("user_or_group"),
        ) {
            (
                Some(job_id),
                Some(submit_time_s),
                Some(duration_s),
                Some(num_gpus),
                Some(user_or_group),
            ) => Ok(Columns {
                job_id,
                submit_time_s,
                duration_s,
                num_gpus,
                user_or_group,
                gpu_type: required("gpu_type"),
                cpu: required("cpu"),
                mem_gib: required("mem_gib"),
                final_status: required("final_status"),
                count: header.len(),
            }),
            _ => Err(TraceError::MissingColumns { missing }),
        }
    }
}

/// Reads a trace in the common format.
pub fn parse_trace(text: &str) -> Result<TraceLoad, TraceError> {
    let mut rows = records(text);
    let (header_line, header) = rows.next().ok_or(TraceError::Empty)?;
    let header = header.map_err(|reason| TraceError::BadHeader {
        line: header_line,
        reason,
    })?;
    let columns = Columns::from_header(&header)?;
    let mut load = TraceLoad::default();
    let mut first_line_of_id: BTreeMap<String, usize> = BTreeMap::new();
    for (line, fields) in rows {
        let fields = match fields {
            Ok(fields) => fields,
            Err(reason) => {
                load.bad_rows.push(BadRow { line, reason });
                continue;
            }
        };
        match parse_row(&columns, line, &fields) {
            Ok(job) => match first_line_of_id.get(&job.job_id) {
                Some(first) => load.bad_rows.push(BadRow {
                    line,
                    reason: format!("duplicate job_id `{}` (first on line {first})", job.job_id),
                }),
                None => {
                    first_line_of_id.insert(job.job_id.clone(), line);
                    load.jobs.push(job);
                }
            },
            Err(reason) => load.bad_rows.push(BadRow { line, reason }),
        }
    }
    Ok(load)
}

fn parse_row(
    columns: &Columns,
    line: usize,
    fields: &[std::borrow::Cow<'_, str>],
) -> Result<TraceJob, String> {
    if fields.len() != columns.count {
        return Err(format!(
            "has {} fields, the header has {}",
            fields.len(),
            columns.count
        ));
    }
    let field = |position: usize| fields.get(position).map_or("", |field| field.trim());
    let optional = |position: Option<usize>| position.map(field).filter(|text| !text.is_empty());

    let job_id = field(columns.job_id);
    if job_id.is_empty() {
        return Err("job_id is empty".to_owned());
    }
    let submit_time_s = seconds(field(columns.submit_time_s), "submit_time_s")?;
    let duration_s = seconds(field(columns.duration_s), "duration_s")?;
    let num_gpus = gpu_count(field(columns.num_gpus))?;
    let gpu_models = match optional(columns.gpu_type) {
        Some(text) => gpu_models(text)?,
        None => Vec::new(),
    };
    let cpu_millis = optional(columns.cpu)
        .map(|text| non_negative(text, "cpu").map(|cores| (cores * 1000.0).round() as u64))
        .transpose()?;
    let memory_bytes = optional(columns.mem_gib)
        .map(|text| non_negative(text, "mem_gib").map(|gib| (gib * GIB).round() as u64))
        .transpose()?;
    Ok(TraceJob {
        line,
        job_id: job_id.to_owned(),
        submit_time_s,
        duration_s,
        num_gpus,
        gpu_models,
        cpu_millis,
        memory_bytes,
        user_or_group: field(columns.user_or_group).to_owned(),
        final_status: optional(columns.final_status).map(str::to_owned),
    })
}

/// A non-negative finite number.
fn non_negative(text: &str, column: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        Ok(_) => Err(format!(
            "{column} `{text}` must be a non-negative finite number"
        )),
        Err(_) => Err(format!("{column} `{text}` is not a number")),
    }
}

/// Whole seconds (decimals are rounded to the nearest second).
fn seconds(text: &str, column: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err(format!("{column} is empty"));
    }
    if let Ok(value) = text.parse::<u64>() {
        return Ok(value);
    }
    let value = non_negative(text, column)?;
    if value > 1e15 {
        return Err(format!("{column} `{text}` is too large"));
    }
    Ok(value.round() as u64)
}

/// A whole GPU count (`8` or `8.0`).
fn gpu_count(text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err("num_gpus is empty".to_owned());
    }
    if let Ok(value) = text.parse::<u32>() {
        return Ok(value);
    }
    let value = non_negative(text, "num_gpus")?;
    if value.fract() != 0.0 || value > f64::from(u32::MAX) {
        return Err(format!("num_gpus `{text}` must be a whole number of GPUs"));
    }
    Ok(value as u32)
}

/// One model, or several separated by `|` or `;`.
fn gpu_models(text: &str) -> Result<Vec<GpuModel>, String> {
    let mut models = Vec::new();
    for name in text
        .split(['|', ';'])
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        match GpuModel::parse(name) {
            Some(model) => {
                if !models.contains(&model) {
                    models.push(model);
                }
            }
            None => return Err(format!("gpu_type `{name}` is not a known GPU model")),
        }
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    const COMMON: &str = "job_id,submit_time_s,duration_s,num_gpus,gpu_type,cpu,mem_gib,user_or_group,final_status,extra\n\
        philly-000000,0,2240194,8,,,,vc_7f04ca,,x\n\
        j2,10,60,1,V100,4,32,alice,Pass,y\n";

    #[test]
    fn reads_the_common_format_with_extra_columns() {
        let load = parse_trace(COMMON).unwrap();
        assert!(load.bad_rows.is_empty(), "{:?}", load.bad_rows);
        assert_eq!(load.jobs.len(), 2);
        let first = &load.jobs[0];
        assert_eq!(first.job_id, "philly-000000");
        assert_eq!(first.line, 2);
        assert_eq!(first.duration_s, 2_240_194);
        assert_eq!(first.num_gpus, 8);
        assert!(first.gpu_models.is_empty());
        assert_eq!(first.cpu_millis, None);
        assert_eq!(first.user_or_group, "vc_7f04ca");
        let second = &load.jobs[1];
        assert_eq!(second.gpu_models, vec![GpuModel::V100]);
        assert_eq!(second.cpu_millis, Some(4000));
        assert_eq!(second.memory_bytes, Some(32 << 30));
        assert_eq!(second.final_status.as_deref(), Some("Pass"));
    }

    #[test]
    fn reads_another_column_order_and_extra_columns() {
        // A trace never seen before: other order, unknown columns, no
        // optional columns but cpu, a quoted field, CRLF line ends.
        let text = "site,user_or_group,num_gpus,cpu,queue,duration_s,job_id,submit_time_s\r\n\
            \"east, dc1\",team-a,4,16,q1,3600.4,a-1,100\r\n\
            west,team-b,0,2,q2,10,b-2,5\r\n";
        let load = parse_trace(text).unwrap();
        assert!(load.bad_rows.is_empty(), "{:?}", load.bad_rows);
        assert_eq!(load.jobs.len(), 2);
        assert_eq!(load.jobs[0].job_id, "a-1");
        assert_eq!(load.jobs[0].duration_s, 3600);
        assert_eq!(load.jobs[0].num_gpus, 4);
        assert_eq!(load.jobs[0].cpu_millis, Some(16_000));
        assert_eq!(load.jobs[0].user_or_group, "team-a");
        assert_eq!(load.jobs[1].submit_time_s, 5);
        assert_eq!(load.jobs[1].num_gpus, 0);
    }

    #[test]
    fn bad_rows_are_reported_with_line_and_reason() {
        let text = "job_id,submit_time_s,duration_s,num_gpus,gpu_type,user_or_group\n\
            ok,0,10,1,,u\n\
            neg,-5,10,1,,u\n\
            nan,0,abc,1,,u\n\
            frac,0,10,1.5,,u\n\
            short,0,10\n\
            model,0,10,1,Z999,u\n\
            ok,1,1,1,,u\n\
            ,1,1,1,,u\n\
            fine,3,1,2,H100|A100,u\n";
        let load = parse_trace(text).unwrap();
        let lines: Vec<usize> = load.bad_rows.iter().map(|row| row.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9]);
        let reasons: Vec<&str> = load
            .bad_rows
            .iter()
            .map(|row| row.reason.as_str())
            .collect();
        assert!(reasons[0].contains("submit_time_s `-5`"), "{reasons:?}");
        assert!(reasons[1].contains("duration_s `abc` is not a number"));
        assert!(reasons[2].contains("whole number"));
        assert!(reasons[3].contains("has 3 fields"));
        assert!(reasons[4].contains("Z999"));
        assert!(reasons[5].contains("duplicate job_id `ok` (first on line 2)"));
        assert!(reasons[6].contains("job_id is empty"));
        assert_eq!(load.jobs.len(), 2);
        assert_eq!(
            load.jobs[1].gpu_models,
            vec![GpuModel::H100, GpuModel::A100]
        );
    }

    #[test]
    fn a_header_without_required_columns_fails_the_file() {
        assert_eq!(parse_trace(""), Err(TraceError::Empty));
        let error = parse_trace("job_id,num_gpus\n1,1\n").unwrap_err();
        assert_eq!(
            error,
            TraceError::MissingColumns {
                missing: vec![
                    "submit_time_s".into(),
                    "duration_s".into(),
                    "user_or_group".into()
                ]
            }
        );
        assert!(matches!(
            parse_trace("job_id,job_id,submit_time_s\n"),
            Err(TraceError::DuplicateColumn { .. })
        ));
    }

    #[test]
    fn never_panics_on_garbage() {
        for text in [
            "\"",
            "a\n\"",
            ",,,\n,,",
            "job_id\u{0}\n\u{ff}",
            "\u{feff}job_id,submit_time_s,duration_s,num_gpus,user_or_group\n1,2,3,4,5\n",
        ] {
            let _ = parse_trace(text);
        }
    }
}
