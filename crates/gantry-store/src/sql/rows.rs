//! Rows as the driver hands them (text and integers) to records, refusing
//! anything that does not decode with an error that names the row and the
//! column. A corrupt row is an error, never a panic and never a guess.

use gantry_core::{JobId, JobState, TeamPath};

use crate::error::StoreError;
use crate::records::{
    EventRecord, EventSeq, JobRecord, RequestId, SpecDigest, UnixMillis, kind_named, state_named,
    transition_named,
};

/// A `jobs` row, column by column (see [`crate::sql::job_columns`]).
#[derive(Debug)]
pub(crate) struct RawJob {
    pub(crate) job_seq: i64,
    pub(crate) id: String,
    pub(crate) request_id: Option<String>,
    pub(crate) team: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) spec_yaml: String,
    pub(crate) spec_digest: String,
    pub(crate) submitter: String,
    pub(crate) state: String,
    pub(crate) attempt: i64,
    pub(crate) submitted_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) placement: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) last_event_seq: i64,
}

/// An `events` row, column by column (see `event_columns!` in `sql`).
#[derive(Debug)]
pub(crate) struct RawEvent {
    pub(crate) seq: i64,
    pub(crate) job_id: String,
    pub(crate) at: i64,
    pub(crate) from_state: Option<String>,
    pub(crate) to_state: String,
    pub(crate) transition: Option<String>,
    pub(crate) attempt: i64,
    pub(crate) reason: String,
    pub(crate) actor: String,
    pub(crate) details: String,
}

/// Builds the error for one bad column of one row.
pub(crate) struct RowContext {
    pub(crate) table: &'static str,
    pub(crate) key: String,
}

impl RowContext {
    pub(crate) fn corrupt(&self, column: &'static str, problem: impl Into<String>) -> StoreError {
        StoreError::CorruptRow {
            table: self.table,
            key: self.key.clone(),
            column,
            problem: problem.into(),
        }
    }

    fn state(&self, column: &'static str, text: &str) -> Result<JobState, StoreError> {
        state_named(text)
            .ok_or_else(|| self.corrupt(column, format!("holds {text:?}, which is no job state")))
    }

    fn count(&self, column: &'static str, value: i64) -> Result<u32, StoreError> {
        u32::try_from(value)
            .map_err(|_| self.corrupt(column, format!("holds {value}, outside 0 to {}", u32::MAX)))
    }

    fn seq(&self, column: &'static str, value: i64) -> Result<EventSeq, StoreError> {
        match u64::try_from(value) {
            Ok(seq) if seq > 0 => Ok(EventSeq(seq)),
            _ => Err(self.corrupt(
                column,
                format!("holds {value}; event sequence numbers start at 1"),
            )),
        }
    }

    fn json(&self, column: &'static str, text: &str) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(text)
            .map_err(|error| self.corrupt(column, format!("is not JSON: {error}")))
    }
}

impl RawJob {
    /// The record, and the row's listing position.
    pub(crate) fn decode(self) -> Result<(i64, JobRecord), StoreError> {
        let context = RowContext {
            table: "jobs",
            key: format!("job_seq={}", self.job_seq),
        };
        let id = JobId::new(self.id.as_str())
            .map_err(|error| context.corrupt("id", format!("holds {:?}: {error}", self.id)))?;
        let context = RowContext {
            table: "jobs",
            key: format!("id={id}"),
        };
        let request_id = self
            .request_id
            .map(|text| {
                RequestId::new(text.as_str()).map_err(|error| {
                    context.corrupt("request_id", format!("holds {text:?}: {error}"))
                })
            })
            .transpose()?;
        let team = TeamPath::parse(&self.team)
            .map_err(|error| context.corrupt("team", format!("holds {:?}: {error}", self.team)))?;
        let kind = kind_named(&self.kind).ok_or_else(|| {
            context.corrupt(
                "kind",
                format!("holds {:?}, which is no job kind", self.kind),
            )
        })?;
        let spec_digest = SpecDigest::from_stored(self.spec_digest)
            .ok_or_else(|| context.corrupt("spec_digest", "is not 64 lowercase hex digits"))?;
        let state = context.state("state", &self.state)?;
        let attempt = context.count("attempt", self.attempt)?;
        let placement = self
            .placement
            .map(|text| context.json("placement", &text))
            .transpose()?;
        let last_event_seq = context.seq("last_event_seq", self.last_event_seq)?;
        let record = JobRecord {
            id,
            request_id,
            team,
            name: self.name,
            kind,
            spec_yaml: self.spec_yaml,
            spec_digest,
            submitter: self.submitter,
            state,
            attempt,
            submitted_at: UnixMillis(self.submitted_at),
            updated_at: UnixMillis(self.updated_at),
            placement,
            reason: self.reason,
            last_event_seq,
        };
        Ok((self.job_seq, record))
    }
}

impl RawEvent {
    /// The record.
    pub(crate) fn decode(self) -> Result<EventRecord, StoreError> {
        let context = RowContext {
            table: "events",
            key: format!("seq={}", self.seq),
        };
        let seq = context.seq("seq", self.seq)?;
        let job_id = JobId::new(self.job_id.as_str()).map_err(|error| {
            context.corrupt("job_id", format!("holds {:?}: {error}", self.job_id))
        })?;
        let from_state = self
            .from_state
            .map(|text| context.state("from_state", &text))
            .transpose()?;
        let to_state = context.state("to_state", &self.to_state)?;
        let transition = self
            .transition
            .map(|text| {
                transition_named(&text).ok_or_else(|| {
                    context.corrupt(
                        "transition",
                        format!("holds {text:?}, which is no transition"),
                    )
                })
            })
            .transpose()?;
        let attempt = context.count("attempt", self.attempt)?;
        let details = context.json("details", &self.details)?;
        Ok(EventRecord {
            seq,
            job_id,
            at: UnixMillis(self.at),
            from_state,
            to_state,
            transition,
            attempt,
            reason: self.reason,
            actor: self.actor,
            details,
        })
    }
}

/// A `job_counts` row.
pub(crate) fn decode_count(
    team: &str,
    state: &str,
    count: i64,
) -> Result<(TeamPath, JobState, u64), StoreError> {
    let context = RowContext {
        table: "job_counts",
        key: format!("team={team},state={state}"),
    };
    let team_path = TeamPath::parse(team)
        .map_err(|error| context.corrupt("team", format!("holds {team:?}: {error}")))?;
    let state = context.state("state", state)?;
    let count = u64::try_from(count)
        .map_err(|_| context.corrupt("n", format!("holds {count}; a count is never negative")))?;
    Ok((team_path, state, count))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn good_job() -> RawJob {
        RawJob {
            job_seq: 7,
            id: "job-a".into(),
            request_id: Some("req".into()),
            team: "org/nlp".into(),
            name: "sft".into(),
            kind: "TrainingJob".into(),
            spec_yaml: "kind: TrainingJob\n".into(),
            spec_digest: SpecDigest::of("kind: TrainingJob\n").as_str().to_owned(),
            submitter: "ada".into(),
            state: "Queued".into(),
            attempt: 0,
            submitted_at: 5,
            updated_at: 6,
            placement: Some("{\"cluster\":\"aws-1\"}".into()),
            reason: None,
            last_event_seq: 3,
        }
    }

    #[test]
    fn a_good_row_decodes() {
        let (position, record) = good_job().decode().unwrap();
        assert_eq!(position, 7);
        assert_eq!(record.id.as_str(), "job-a");
        assert_eq!(record.team.as_str(), "org/nlp");
        assert_eq!(
            record.placement,
            Some(serde_json::json!({"cluster": "aws-1"}))
        );
        assert_eq!(record.last_event_seq, EventSeq(3));
    }

    #[test]
    fn every_bad_column_is_named_with_its_row() {
        let cases: Vec<(RawJob, &str)> = vec![
            (
                RawJob {
                    id: "Bad Id".into(),
                    ..good_job()
                },
                "stored row jobs job_seq=7 is corrupt: column id holds \"Bad Id\"",
            ),
            (
                RawJob {
                    team: "org//x".into(),
                    ..good_job()
                },
                "stored row jobs id=job-a is corrupt: column team holds \"org//x\"",
            ),
            (
                RawJob {
                    kind: "Pod".into(),
                    ..good_job()
                },
                "stored row jobs id=job-a is corrupt: column kind holds \"Pod\", which is no job kind",
            ),
            (
                RawJob {
                    spec_digest: "x".into(),
                    ..good_job()
                },
                "stored row jobs id=job-a is corrupt: column spec_digest is not 64 lowercase hex digits",
            ),
            (
                RawJob {
                    state: "queued".into(),
                    ..good_job()
                },
                "stored row jobs id=job-a is corrupt: column state holds \"queued\", which is no job state",
            ),
            (
                RawJob {
                    attempt: -1,
                    ..good_job()
                },
                "stored row jobs id=job-a is corrupt: column attempt holds -1, outside 0 to 4294967295",
            ),
            (
                RawJob {
                    placement: Some("{oops".into()),
                    ..good_job()
                },
                "stored row jobs id=job-a is corrupt: column placement is not JSON",
            ),
            (
                RawJob {
                    last_event_seq: 0,
                    ..good_job()
                },
                "stored row jobs id=job-a is corrupt: column last_event_seq holds 0",
            ),
            (
                RawJob {
                    request_id: Some(String::new()),
                    ..good_job()
                },
                "stored row jobs id=job-a is corrupt: column request_id holds \"\"",
            ),
        ];
        for (row, expected) in cases {
            let message = row.decode().unwrap_err().to_string();
            assert!(message.starts_with(expected), "{message}");
        }
        let event = RawEvent {
            seq: 4,
            job_id: "job-a".into(),
            at: 1,
            from_state: Some("Queued".into()),
            to_state: "Placed".into(),
            transition: Some("Teleport".into()),
            attempt: 0,
            reason: String::new(),
            actor: "scheduler".into(),
            details: "null".into(),
        };
        assert_eq!(
            event.decode().unwrap_err().to_string(),
            "stored row events seq=4 is corrupt: column transition holds \"Teleport\", which is no transition"
        );
        assert_eq!(
            decode_count("nlp", "Queued", -2).unwrap_err().to_string(),
            "stored row job_counts team=nlp,state=Queued is corrupt: column n holds -2; a count is never negative"
        );
    }
}
