//! `gantry.v1.JobService`.
//!
//! Submit, step by step:
//! 1. Read the spec (YAML text, or a structure turned into the same
//!    document); every error becomes one `google.rpc.BadRequest` field
//!    violation and one line of the message: `INVALID_ARGUMENT`.
//! 2. Check the request id.
//! 3. Ask the control loop whether any configured cluster could ever fit the
//!    job; if none could, the job is created Rejected with the reason.
//! 4. Draw an id and submit to the store: the job, its first event and the
//!    request id in one transaction. A request id seen before answers with
//!    the job it made (`created = false`).
//! 5. Tell the control loop (Queued jobs only), answer.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use gantry_core::{JobId, JobSpec, JobState, JobTransition, TeamPath};
use gantry_proto as pb;
use gantry_proto::job_service_server::JobService;
use gantry_proto::{job_kind_from_proto, job_state_from_proto};
use gantry_store::{
    EventSeq, JobQuery, ListOrder, NewJob, PageToken, RequestId, StoreError, Submitted, TeamFilter,
    UnixMillis,
};
use tonic::{Request, Response, Status};

use crate::grpc::ApiState;
use crate::grpc::convert;
use crate::grpc::errors::{control_status, spec_status, store_status};

/// The job service.
#[derive(Clone, Debug)]
pub struct Jobs {
    state: Arc<ApiState>,
}

impl Jobs {
    /// The service over `state`.
    pub fn new(state: Arc<ApiState>) -> Jobs {
        Jobs { state }
    }
}

fn now_unix_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Who is asking: the `x-gantry-user` metadata, else `anonymous`.
fn caller<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("x-gantry-user")
        .and_then(|value| value.to_str().ok())
        .filter(|user| !user.is_empty() && user.len() <= 128)
        .map_or_else(|| "anonymous".to_owned(), str::to_owned)
}

/// A structure as the JSON document it stands for.
fn struct_to_json(structure: &prost_types::Struct) -> serde_json::Value {
    fn convert(value: &prost_types::Value) -> serde_json::Value {
        use prost_types::value::Kind;
        match &value.kind {
            None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
            Some(Kind::BoolValue(flag)) => serde_json::Value::Bool(*flag),
            Some(Kind::NumberValue(number)) => {
                if number.fract() == 0.0 && number.abs() < 9.0e15 {
                    #[allow(clippy::cast_possible_truncation)]
                    let whole = *number as i64;
                    serde_json::json!(whole)
                } else {
                    serde_json::json!(number)
                }
            }
            Some(Kind::StringValue(text)) => serde_json::Value::String(text.clone()),
            Some(Kind::ListValue(list)) => {
                serde_json::Value::Array(list.values.iter().map(convert).collect())
            }
            Some(Kind::StructValue(inner)) => struct_to_json(inner),
        }
    }
    serde_json::Value::Object(
        structure
            .fields
            .iter()
            .map(|(key, field)| (key.clone(), convert(field)))
            .collect(),
    )
}

/// The spec text of a request: the YAML as sent, or the structure as JSON
/// (which is YAML too).
fn spec_text(
    yaml: Option<&str>,
    structure: Option<&prost_types::Struct>,
) -> Result<String, Status> {
    match (yaml, structure) {
        (Some(text), _) => Ok(text.to_owned()),
        (None, Some(structure)) => serde_json::to_string_pretty(&struct_to_json(structure))
            .map_err(|error| {
                Status::invalid_argument(format!("spec_struct cannot be read: {error}"))
            }),
        (None, None) => Err(Status::invalid_argument(
            "the request has no spec: set spec_yaml or spec_struct",
        )),
    }
}

fn parse_spec(text: &str) -> Result<JobSpec, Status> {
    gantry_spec::parse_job(text).map_err(|diagnostics| spec_status(&diagnostics))
}

fn job_id(text: &str) -> Result<JobId, Status> {
    JobId::new(text).map_err(|error| Status::invalid_argument(format!("id: {error}")))
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::JobEvent, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl JobService for Jobs {
    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::SubmitJobResponse>, Status> {
        let submitter = caller(&request);
        let request = request.into_inner();
        let (yaml, structure) = match &request.spec {
            Some(pb::submit_job_request::Spec::SpecYaml(text)) => (Some(text.as_str()), None),
            Some(pb::submit_job_request::Spec::SpecStruct(structure)) => (None, Some(structure)),
            None => (None, None),
        };
        let text = spec_text(yaml, structure)?;
        let spec = Arc::new(parse_spec(&text)?);
        let request_id = if request.request_id.is_empty() {
            None
        } else {
            Some(
                RequestId::new(request.request_id.clone())
                    .map_err(|error| Status::invalid_argument(format!("request_id: {error}")))?,
            )
        };
        let never_fits = self.state.control.never_fits(&spec).await;
        let (transition, reason) = match &never_fits {
            Some(why) => (
                JobTransition::Reject,
                format!("no configured cluster could ever run it: {why}"),
            ),
            None => (JobTransition::Accept, "accepted".to_owned()),
        };
        let submitted_at = now_unix_ms();
        let mut last_error = None;
        for _ in 0..4 {
            let Some(id) = self.state.ids.next(&spec.name) else {
                return Err(Status::internal("cannot make a job id"));
            };
            let new = NewJob {
                id: id.clone(),
                request_id: request_id.clone(),
                team: spec.team.clone(),
                name: spec.name.clone(),
                kind: spec.kind,
                spec_yaml: text.clone(),
                submitter: submitter.clone(),
                transition,
                reason: reason.clone(),
                details: serde_json::json!({}),
                submitted_at: UnixMillis(submitted_at),
            };
            match self.state.store.submit(new).await {
                Ok(Submitted::Created { job, .. }) => {
                    if job.state == JobState::Queued {
                        self.state
                            .control
                            .submitted(job.id.clone(), spec.clone(), submitted_at)
                            .map_err(control_status)?;
                    }
                    tracing::info!(job = %job.id, team = %job.team, state = %job.state, "job submitted");
                    return Ok(Response::new(pb::SubmitJobResponse {
                        job: Some(convert::job_with_spec(&job, Some(&spec))),
                        created: true,
                    }));
                }
                Ok(Submitted::Existing { job }) => {
                    return Ok(Response::new(pb::SubmitJobResponse {
                        job: Some(convert::job(&job)),
                        created: false,
                    }));
                }
                Err(StoreError::JobIdTaken { .. }) => {
                    last_error = Some(Status::internal("job id collisions; try again"));
                }
                Err(error) => return Err(store_status(&error)),
            }
        }
        Err(last_error.unwrap_or_else(|| Status::internal("cannot submit")))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::GetJobResponse>, Status> {
        let request = request.into_inner();
        let id = job_id(&request.id)?;
        let Some(record) = self
            .state
            .store
            .get_job(&id)
            .await
            .map_err(|error| store_status(&error))?
        else {
            return Err(Status::not_found(format!("no job {id}")));
        };
        let mut response = pb::GetJobResponse {
            job: Some(convert::job(&record)),
            events: Vec::new(),
            explanation: None,
        };
        if request.include_events {
            let events = self
                .state
                .store
                .job_events(&id)
                .await
                .map_err(|error| store_status(&error))?;
            response.events = events.iter().map(convert::event).collect();
            let live = self
                .state
                .control
                .explanation(id)
                .await
                .map_err(control_status)?;
            // The control loop explains live jobs; the last Place event keeps
            // the decision for the rest.
            response.explanation = match live {
                Some(explanation) => Some(convert::explanation(&explanation)),
                None => events
                    .iter()
                    .rev()
                    .find(|event| event.transition == Some(gantry_core::JobTransition::Place))
                    .and_then(|event| convert::explanation_from_event(&event.details)),
            };
        }
        Ok(Response::new(response))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let request = request.into_inner();
        let team = if request.team.is_empty() {
            None
        } else {
            Some(TeamFilter {
                team: TeamPath::parse(&request.team)
                    .map_err(|error| Status::invalid_argument(format!("team: {error}")))?,
                include_sub_teams: true,
            })
        };
        let mut states = BTreeSet::new();
        for value in &request.states {
            states.insert(job_state_from_proto(*value).ok_or_else(|| {
                Status::invalid_argument(format!("states: {value} is not a job state"))
            })?);
        }
        let kind = match request.kind {
            0 => None,
            value => Some(job_kind_from_proto(value).ok_or_else(|| {
                Status::invalid_argument(format!("kind: {value} is not a job kind"))
            })?),
        };
        let page_size = usize::try_from(request.page_size.min(1000)).unwrap_or(1000);
        let query = JobQuery {
            team,
            states,
            kind,
            order: ListOrder::NewestFirst,
            page_size,
            page_token: (!request.page_token.is_empty())
                .then(|| PageToken::new(request.page_token)),
        };
        let page = self
            .state
            .store
            .list_jobs(query)
            .await
            .map_err(|error| store_status(&error))?;
        Ok(Response::new(pb::ListJobsResponse {
            jobs: page.jobs.iter().map(convert::job).collect(),
            next_page_token: page
                .next_page_token
                .map(|token| token.as_str().to_owned())
                .unwrap_or_default(),
        }))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let actor = caller(&request);
        let request = request.into_inner();
        let id = job_id(&request.id)?;
        let outcome = self
            .state
            .control
            .cancel(id.clone(), &actor, &request.reason)
            .await
            .map_err(control_status)?;
        let record = self
            .state
            .store
            .get_job(&id)
            .await
            .map_err(|error| store_status(&error))?;
        match (outcome, record) {
            (Ok(_), Some(record)) => Ok(Response::new(pb::CancelJobResponse {
                job: Some(convert::job(&record)),
            })),
            (Err(_), Some(record)) => Err(Status::failed_precondition(format!(
                "job {id} is {} and cannot be cancelled",
                record.state
            ))),
            (_, None) => Err(Status::not_found(format!("no job {id}"))),
        }
    }

    type WatchJobsStream = EventStream;

    async fn watch_jobs(
        &self,
        request: Request<pb::WatchJobsRequest>,
    ) -> Result<Response<Self::WatchJobsStream>, Status> {
        let request = request.into_inner();
        let store = self.state.store.clone();
        let only = if request.job_id.is_empty() {
            None
        } else {
            let id = job_id(&request.job_id)?;
            if store
                .get_job(&id)
                .await
                .map_err(|error| store_status(&error))?
                .is_none()
            {
                return Err(Status::not_found(format!("no job {id}")));
            }
            Some(id)
        };
        let mut committed = store.committed_seq();
        let start = match (&only, request.after_seq) {
            (None, 0) => *committed.borrow(),
            (_, after) => EventSeq(after),
        };
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<pb::JobEvent, Status>>(256);
        tokio::spawn(async move {
            let mut after = start;
            // A single job's past is read from its own log first.
            if let Some(id) = &only {
                match store.job_events(id).await {
                    Ok(events) => {
                        let mut finished = false;
                        let from = after;
                        for event in events.iter().filter(|event| event.seq > from) {
                            after = event.seq;
                            finished = event.to_state.is_terminal();
                            if sender.send(Ok(convert::event(event))).await.is_err() {
                                return;
                            }
                        }
                        if finished {
                            return;
                        }
                    }
                    Err(error) => {
                        let _ = sender.send(Err(store_status(&error))).await;
                        return;
                    }
                }
            }
            loop {
                let events = match store.events_after(after, 1000).await {
                    Ok(events) => events,
                    Err(error) => {
                        let _ = sender.send(Err(store_status(&error))).await;
                        return;
                    }
                };
                let got = !events.is_empty();
                for event in &events {
                    after = event.seq;
                    if only.as_ref().is_some_and(|id| *id != event.job_id) {
                        continue;
                    }
                    let end = only.is_some() && event.to_state.is_terminal();
                    if sender.send(Ok(convert::event(event))).await.is_err() {
                        return;
                    }
                    if end {
                        return;
                    }
                }
                if got {
                    continue;
                }
                // Wait for the next commit (or a bounded while, in case a
                // notification was missed), or for the client to go away.
                tokio::select! {
                    changed = committed.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = sender.closed() => return,
                }
            }
        });
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn quote_job(
        &self,
        request: Request<pb::QuoteJobRequest>,
    ) -> Result<Response<pb::QuoteJobResponse>, Status> {
        let request = request.into_inner();
        let (yaml, structure) = match &request.spec {
            Some(pb::quote_job_request::Spec::SpecYaml(text)) => (Some(text.as_str()), None),
            Some(pb::quote_job_request::Spec::SpecStruct(structure)) => (None, Some(structure)),
            None => (None, None),
        };
        let text = spec_text(yaml, structure)?;
        let spec = Arc::new(parse_spec(&text)?);
        let quote = self
            .state
            .control
            .quote(spec)
            .await
            .map_err(control_status)?;
        Ok(Response::new(pb::QuoteJobResponse {
            placements: quote
                .placements
                .iter()
                .map(|(_, record)| convert::placement(record))
                .collect(),
            explanation: Some(convert::explanation(&quote.explanation)),
            ever_fits: quote.never_fits.is_none(),
            never_fits_reason: quote.never_fits.unwrap_or_default(),
        }))
    }
}
