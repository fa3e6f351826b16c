//! The single writer thread and its group commit.
//!
//! Protocol, step by step:
//!
//! 1. Callers (tokio tasks) send a request with a oneshot reply channel on a
//!    bounded queue; a full queue makes them wait asynchronously, never
//!    blocking a worker thread.
//! 2. The writer thread blocks for one request, then takes whatever else is
//!    already queued, up to `max_batch` requests: one batch. While it waits
//!    for the disk, the next batch queues up, so batches grow with load and
//!    no request waits for a timer.
//! 3. `BEGIN IMMEDIATE`; read `max(seq)` of the log: the batch's events are
//!    numbered from there, gap-free.
//! 4. Each request runs inside `SAVEPOINT item`: its checks (through
//!    `rules`), then its inserts and updates. A refused request is rolled
//!    back to its savepoint and answered with its error; the others go on.
//!    If SQLite itself rolled the transaction back (disk full, I/O error),
//!    the whole batch stops and fails.
//! 5. The count changes of the requests that succeeded are added to
//!    `job_counts`.
//! 6. `COMMIT`: one fsync of the WAL for the whole batch (with
//!    `synchronous=FULL`).
//! 7. Only then are the callers answered, and the committed sequence number
//!    published. If `COMMIT` fails, every request of the batch is answered
//!    with the error, and nothing of it was written.

use std::thread::JoinHandle;

use gantry_core::{JobId, JobState, TeamPath};
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::StoreError;
use crate::records::{
    EventRecord, EventSeq, JobRecord, NewJob, RequestId, SpecDigest, StateUpdate, Submitted,
    state_named,
};
use crate::rules::{self, CountDeltas, SubmitLookups, SubmitPlan};
use crate::sql::{self, rows::RowContext};
use crate::sqlite::rows::{column, failed, prepare, query_jobs};

/// What the writer thread is asked to do.
#[derive(Debug)]
pub(crate) enum WriteRequest {
    /// Submit one job.
    Submit {
        job: Box<NewJob>,
        digest: SpecDigest,
        reply: oneshot::Sender<Result<Submitted, StoreError>>,
    },
    /// Apply one batch of updates.
    Apply {
        updates: Vec<StateUpdate>,
        reply: oneshot::Sender<Result<Vec<EventRecord>, StoreError>>,
    },
    /// Finish the current batch and stop.
    Close { reply: oneshot::Sender<()> },
}

/// A request's answer, held until its batch commits.
#[allow(
    clippy::large_enum_variant,
    reason = "answers live for one batch, in one Vec; boxing would allocate per request"
)]
enum Answer {
    Submit(
        oneshot::Sender<Result<Submitted, StoreError>>,
        Result<Submitted, StoreError>,
    ),
    Apply(
        oneshot::Sender<Result<Vec<EventRecord>, StoreError>>,
        Result<Vec<EventRecord>, StoreError>,
    ),
    Close(oneshot::Sender<()>),
}

impl Answer {
    /// Sends the answer; a caller that stopped waiting is no error.
    fn send(self) {
        match self {
            Answer::Submit(reply, result) => drop(reply.send(result)),
            Answer::Apply(reply, result) => drop(reply.send(result)),
            Answer::Close(reply) => drop(reply.send(())),
        }
    }

    /// Sends `message` as the error instead: the batch did not commit.
    fn fail(self, message: &str) {
        let error = || StoreError::backend("commit", message.to_owned());
        match self {
            Answer::Submit(reply, _) => drop(reply.send(Err(error()))),
            Answer::Apply(reply, _) => drop(reply.send(Err(error()))),
            Answer::Close(reply) => drop(reply.send(())),
        }
    }
}

/// Starts the writer thread on `connection`.
pub(crate) fn spawn(
    connection: Connection,
    requests: mpsc::Receiver<WriteRequest>,
    max_batch: usize,
    committed: watch::Sender<EventSeq>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("gantry-store-writer".to_owned())
        .spawn(move || run(connection, requests, max_batch.max(1), committed))
}

fn run(
    mut connection: Connection,
    mut requests: mpsc::Receiver<WriteRequest>,
    max_batch: usize,
    committed: watch::Sender<EventSeq>,
) {
    let mut batch: Vec<WriteRequest> = Vec::with_capacity(max_batch);
    while let Some(first) = requests.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let closing = batch
            .iter()
            .any(|request| matches!(request, WriteRequest::Close { .. }));
        commit_batch(&mut connection, &mut batch, &committed);
        if closing {
            break;
        }
    }
}

fn commit_batch(
    connection: &mut Connection,
    batch: &mut Vec<WriteRequest>,
    committed: &watch::Sender<EventSeq>,
) {
    let mut answers: Vec<Answer> = Vec::with_capacity(batch.len());
    match write_batch(connection, batch, &mut answers) {
        Ok(last_seq) => {
            committed.send_if_modified(|seq| {
                let advanced = last_seq > *seq;
                if advanced {
                    *seq = last_seq;
                }
                advanced
            });
            answers.into_iter().for_each(Answer::send);
        }
        Err(error) => {
            let message = error.to_string();
            answers.into_iter().for_each(|answer| answer.fail(&message));
        }
    }
}

/// Runs a batch in one transaction; every request ends up in `answers`,
/// whatever happens. Returns the last event's sequence number after commit.
fn write_batch(
    connection: &mut Connection,
    batch: &mut Vec<WriteRequest>,
    answers: &mut Vec<Answer>,
) -> Result<EventSeq, StoreError> {
    let begun = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed("begin a write transaction"));
    let transaction = match begun {
        Ok(transaction) => transaction,
        Err(error) => {
            answers.extend(batch.drain(..).map(unanswered));
            return Err(error);
        }
    };
    let mut total = TransactionState {
        next_seq: EventSeq(0),
        deltas: CountDeltas::default(),
    };
    let mut broken: Option<StoreError> = match last_event_seq(&transaction) {
        Ok(last) => {
            total.next_seq = EventSeq(last.0.saturating_add(1));
            None
        }
        Err(error) => Some(error),
    };
    for request in batch.drain(..) {
        if broken.is_some() {
            answers.push(unanswered(request));
            continue;
        }
        let mut item = TransactionState {
            next_seq: total.next_seq,
            deltas: CountDeltas::default(),
        };
        let answer = match request {
            WriteRequest::Submit { job, digest, reply } => {
                let result = in_savepoint(&transaction, || {
                    submit_item(&transaction, &job, &digest, &mut item)
                });
                match result {
                    Ok(result) => Answer::Submit(reply, result),
                    Err(error) => {
                        broken = Some(error);
                        Answer::Submit(reply, Err(StoreError::Closed))
                    }
                }
            }
            WriteRequest::Apply { updates, reply } => {
                let result = in_savepoint(&transaction, || {
                    apply_item(&transaction, &updates, &mut item)
                });
                match result {
                    Ok(result) => Answer::Apply(reply, result),
                    Err(error) => {
                        broken = Some(error);
                        Answer::Apply(reply, Err(StoreError::Closed))
                    }
                }
            }
            WriteRequest::Close { reply } => Answer::Close(reply),
        };
        let succeeded = match &answer {
            Answer::Submit(_, result) => result.is_ok(),
            Answer::Apply(_, result) => result.is_ok(),
            Answer::Close(_) => false,
        };
        if succeeded {
            total.next_seq = item.next_seq;
            total.deltas.merge(item.deltas);
        }
        answers.push(answer);
    }
    if let Some(error) = broken {
        return Err(error);
    }
    for (team, state, delta) in total.deltas.changes() {
        let mut statement =
            prepare(&transaction, sql::ADD_TO_COUNT).map_err(failed("count jobs"))?;
        statement
            .execute((team.as_str(), state.as_str(), delta))
            .map_err(failed("count jobs"))?;
    }
    transaction.commit().map_err(failed("commit"))?;
    Ok(EventSeq(total.next_seq.0.saturating_sub(1)))
}

/// A request the batch never ran, answered with the batch's failure later.
fn unanswered(request: WriteRequest) -> Answer {
    match request {
        WriteRequest::Submit { reply, .. } => Answer::Submit(reply, Err(StoreError::Closed)),
        WriteRequest::Apply { reply, .. } => Answer::Apply(reply, Err(StoreError::Closed)),
        WriteRequest::Close { reply } => Answer::Close(reply),
    }
}

/// What a transaction (or one request in it) has used and changed so far.
struct TransactionState {
    next_seq: EventSeq,
    deltas: CountDeltas,
}

impl TransactionState {
    fn take_seq(&mut self) -> EventSeq {
        let seq = self.next_seq;
        self.next_seq = EventSeq(seq.0.saturating_add(1));
        seq
    }
}

/// Runs `work` inside `SAVEPOINT item`, rolling back to it if `work` fails.
/// The outer error means the transaction itself is gone.
fn in_savepoint<T>(
    connection: &Connection,
    work: impl FnOnce() -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, StoreError> {
    execute_fixed(connection, "SAVEPOINT item")?;
    match work() {
        Ok(value) => {
            execute_fixed(connection, "RELEASE item")?;
            Ok(Ok(value))
        }
        Err(refusal) => {
            if connection.is_autocommit() {
                // SQLite rolled the whole transaction back (it does on disk
                // full and I/O errors): nothing of the batch is left.
                return Err(refusal);
            }
            execute_fixed(connection, "ROLLBACK TO item")?;
            execute_fixed(connection, "RELEASE item")?;
            Ok(Err(refusal))
        }
    }
}

fn execute_fixed(connection: &Connection, sql: &'static str) -> Result<(), StoreError> {
    prepare(connection, sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(failed("mark a savepoint"))
}

fn last_event_seq(connection: &Connection) -> Result<EventSeq, StoreError> {
    let last: i64 = prepare(connection, sql::LAST_EVENT_SEQ)
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(failed("read the last event sequence number"))?;
    u64::try_from(last).map(EventSeq).map_err(|_| {
        RowContext {
            table: "events",
            key: "max(seq)".to_owned(),
        }
        .corrupt("seq", format!("holds {last}"))
    })
}

/// An event sequence number as SQLite stores it.
fn seq_value(seq: EventSeq) -> Result<i64, StoreError> {
    i64::try_from(seq.0).map_err(|_| {
        StoreError::backend(
            "number an event",
            format!("sequence number {seq} is beyond what the store can hold"),
        )
    })
}

fn json_text(value: Option<&serde_json::Value>) -> Option<String> {
    value.map(serde_json::Value::to_string)
}

struct SqliteLookups<'a>(&'a Connection);

impl SubmitLookups for SqliteLookups<'_> {
    fn job_for_request_id(
        &mut self,
        request_id: &RequestId,
    ) -> Result<Option<JobRecord>, StoreError> {
        let jobs = query_jobs(
            self.0,
            "look up a request id",
            sql::SELECT_JOB_BY_REQUEST_ID,
            [request_id.as_str()],
        )?;
        Ok(jobs.into_iter().next().map(|(_, record)| record))
    }

    fn job_id_exists(&mut self, id: &JobId) -> Result<bool, StoreError> {
        let mut statement = self
            .0
            .prepare_cached(sql::JOB_ID_EXISTS)
            .map_err(failed("look up a job id"))?;
        statement
            .exists([id.as_str()])
            .map_err(failed("look up a job id"))
    }

    fn live_job_named(&mut self, team: &TeamPath, name: &str) -> Result<Option<JobId>, StoreError> {
        let mut statement = self
            .0
            .prepare_cached(sql::SELECT_LIVE_JOB_NAMED)
            .map_err(failed("look up a live job name"))?;
        let mut rows = statement
            .query((team.as_str(), name))
            .map_err(failed("look up a live job name"))?;
        let Some(row) = rows.next().map_err(failed("look up a live job name"))? else {
            return Ok(None);
        };
        let id: String = row.get(0).map_err(failed("look up a live job name"))?;
        JobId::new(id.as_str()).map(Some).map_err(|error| {
            RowContext {
                table: "jobs",
                key: format!("team={team},name={name}"),
            }
            .corrupt("id", format!("holds {id:?}: {error}"))
        })
    }
}

fn submit_item(
    connection: &Connection,
    job: &NewJob,
    digest: &SpecDigest,
    state: &mut TransactionState,
) -> Result<Submitted, StoreError> {
    let new_state = match rules::plan_submit(job, digest, &mut SqliteLookups(connection))? {
        SubmitPlan::Existing(existing) => return Ok(Submitted::Existing { job: *existing }),
        SubmitPlan::Insert(new_state) => new_state,
    };
    let seq = state.take_seq();
    let record = rules::new_job_record(job, digest, new_state, seq);
    let event = rules::first_event(job, new_state, seq);
    let seq_number = seq_value(seq)?;
    prepare(connection, sql::INSERT_JOB)
        .and_then(|mut statement| {
            statement.execute(rusqlite::params![
                record.id.as_str(),
                record.request_id.as_ref().map(RequestId::as_str),
                record.team.as_str(),
                record.name,
                record.kind.as_str(),
                record.spec_yaml,
                record.spec_digest.as_str(),
                record.submitter,
                record.state.as_str(),
                record.attempt,
                record.submitted_at.0,
                record.updated_at.0,
                json_text(record.placement.as_ref()),
                record.reason,
                seq_number,
            ])
        })
        .map_err(failed("insert a job"))?;
    if let Some(request_id) = &record.request_id {
        prepare(connection, sql::INSERT_REQUEST_ID)
            .and_then(|mut statement| statement.execute((request_id.as_str(), record.id.as_str())))
            .map_err(failed("record a request id"))?;
    }
    insert_event(connection, &event)?;
    state.deltas.enter(&record.team, new_state);
    Ok(rules::created(record, event))
}

fn insert_event(connection: &Connection, event: &EventRecord) -> Result<(), StoreError> {
    let seq = seq_value(event.seq)?;
    prepare(connection, sql::INSERT_EVENT)
        .and_then(|mut statement| {
            statement.execute(rusqlite::params![
                seq,
                event.job_id.as_str(),
                event.at.0,
                event.from_state.map(|state| state.as_str()),
                event.to_state.as_str(),
                event.transition.map(|transition| transition.as_str()),
                event.attempt,
                event.reason,
                event.actor,
                event.details.to_string(),
            ])
        })
        .map(drop)
        .map_err(failed("append an event"))
}

fn apply_item(
    connection: &Connection,
    updates: &[StateUpdate],
    state: &mut TransactionState,
) -> Result<Vec<EventRecord>, StoreError> {
    let mut events = Vec::with_capacity(updates.len());
    for update in updates {
        let current = current_of(connection, &update.job_id)?;
        let new_state = rules::plan_update(
            current
                .as_ref()
                .map(|current| (current.state, current.attempt)),
            update,
        )?;
        let Some(current) = current else {
            return Err(StoreError::JobNotFound {
                id: update.job_id.clone(),
            });
        };
        let seq = state.take_seq();
        let event = rules::update_event(update, current.state, new_state, seq);
        let reason = (!update.reason.is_empty()).then_some(update.reason.as_str());
        let seq_number = seq_value(seq)?;
        prepare(connection, sql::UPDATE_JOB)
            .and_then(|mut statement| {
                statement.execute(rusqlite::params![
                    update.job_id.as_str(),
                    new_state.as_str(),
                    update.attempt,
                    json_text(update.placement.as_ref()),
                    reason,
                    update.at.0,
                    seq_number,
                ])
            })
            .map_err(failed("update a job"))?;
        insert_event(connection, &event)?;
        state.deltas.moved(&current.team, current.state, new_state);
        events.push(event);
    }
    Ok(events)
}

/// What an update needs to know of a job.
struct Current {
    state: JobState,
    attempt: u32,
    team: TeamPath,
}

fn current_of(connection: &Connection, id: &JobId) -> Result<Option<Current>, StoreError> {
    let operation = "read a job to update";
    let mut statement =
        prepare(connection, sql::SELECT_JOB_FOR_UPDATE).map_err(failed(operation))?;
    let mut rows = statement.query([id.as_str()]).map_err(failed(operation))?;
    let Some(row) = rows.next().map_err(failed(operation))? else {
        return Ok(None);
    };
    let context = RowContext {
        table: "jobs",
        key: format!("id={id}"),
    };
    let state: String = column(row, 1, &context, "state")?;
    let state = state_named(&state).ok_or_else(|| {
        context.corrupt("state", format!("holds {state:?}, which is no job state"))
    })?;
    let attempt: i64 = column(row, 2, &context, "attempt")?;
    let attempt = u32::try_from(attempt).map_err(|_| {
        context.corrupt(
            "attempt",
            format!("holds {attempt}, outside 0 to {}", u32::MAX),
        )
    })?;
    let team: String = column(row, 3, &context, "team")?;
    let team = TeamPath::parse(&team)
        .map_err(|error| context.corrupt("team", format!("holds {team:?}: {error}")))?;
    Ok(Some(Current {
        state,
        attempt,
        team,
    }))
}
