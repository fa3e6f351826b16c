//! A fake `gantryd`: the generated `JobService` and `FleetService` server
//! traits over canned but realistic state, on `127.0.0.1:0`, in a thread of
//! its own so that tests can run the real `gantry` binary against it. It
//! records every request it receives.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::{Stream, StreamExt};
use gantry_proto::fleet_service_server::{FleetService, FleetServiceServer};
use gantry_proto::job_service_server::{JobService, JobServiceServer};
use gantry_proto::*;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

/// What the fake knows and what it was sent.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Newest first, as ListJobs answers.
    pub(crate) jobs: Vec<Job>,
    /// The global event log, ascending seq.
    pub(crate) events: Vec<JobEvent>,
    pub(crate) explanations: BTreeMap<String, Explanation>,
    pub(crate) clusters: Vec<Cluster>,
    pub(crate) teams: Vec<TeamQuota>,
    pub(crate) quote: QuoteJobResponse,
    /// What SubmitJob answers: the response, or a status (code, message).
    pub(crate) submit_reply: Option<Result<SubmitJobResponse, (Code, String)>>,
    /// ListJobs page size, whatever the client asks for.
    pub(crate) page_size: usize,
    /// For each successive WatchJobs call: drop the stream (UNAVAILABLE)
    /// after this many events. Calls beyond the list run to the end.
    pub(crate) watch_drops: VecDeque<usize>,

    pub(crate) submits: Vec<SubmitJobRequest>,
    pub(crate) quotes: Vec<QuoteJobRequest>,
    pub(crate) lists: Vec<ListJobsRequest>,
    pub(crate) gets: Vec<GetJobRequest>,
    pub(crate) cancels: Vec<CancelJobRequest>,
    pub(crate) watches: Vec<WatchJobsRequest>,
    /// The `authorization` header of every call, in order.
    pub(crate) authorization: Vec<Option<String>>,
}

/// A running fake; stops when dropped.
pub(crate) struct Running {
    pub(crate) address: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) fn start(state: State) -> Running {
    let state = Arc::new(Mutex::new(state));
    let service = Fake {
        state: Arc::clone(&state),
    };
    let (address_sender, address_receiver) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            address_sender.send(incoming.local_addr().unwrap()).unwrap();
            Server::builder()
                .add_service(JobServiceServer::new(service.clone()))
                .add_service(FleetServiceServer::new(service))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
    });
    let address = address_receiver.recv().unwrap();
    Running {
        address,
        state,
        stop: Some(stop),
        thread: Some(thread),
    }
}

#[derive(Clone)]
struct Fake {
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn record<T>(&self, request: &Request<T>) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap();
        let header = request
            .metadata()
            .get("authorization")
            .map(|value| value.to_str().unwrap().to_owned());
        state.authorization.push(header);
        state
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<JobEvent, Status>> + Send>>;

#[tonic::async_trait]
impl JobService for Fake {
    async fn submit_job(
        &self,
        request: Request<SubmitJobRequest>,
    ) -> Result<Response<SubmitJobResponse>, Status> {
        let mut state = self.record(&request);
        state.submits.push(request.into_inner());
        match state.submit_reply.clone() {
            Some(Ok(response)) => Ok(Response::new(response)),
            Some(Err((code, message))) => Err(Status::new(code, message)),
            None => Err(Status::unimplemented(
                "the test gave the fake no submit reply",
            )),
        }
    }

    async fn get_job(
        &self,
        request: Request<GetJobRequest>,
    ) -> Result<Response<GetJobResponse>, Status> {
        let mut state = self.record(&request);
        let request = request.into_inner();
        state.gets.push(request.clone());
        let Some(job) = state.jobs.iter().find(|job| job.id == request.id).cloned() else {
            return Err(Status::not_found(format!("no job `{}`", request.id)));
        };
        let mut response = GetJobResponse {
            job: Some(job),
            ..GetJobResponse::default()
        };
        if request.include_events {
            response.events = state
                .events
                .iter()
                .filter(|event| event.job_id == request.id)
                .cloned()
                .collect();
            response.explanation = state.explanations.get(&request.id).cloned();
        }
        Ok(Response::new(response))
    }

    async fn list_jobs(
        &self,
        request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        let mut state = self.record(&request);
        let request = request.into_inner();
        state.lists.push(request.clone());
        let matching: Vec<Job> = state
            .jobs
            .iter()
            .filter(|job| {
                request.team.is_empty()
                    || job.team == request.team
                    || job.team.starts_with(&format!("{}/", request.team))
            })
            .filter(|job| request.states.is_empty() || request.states.contains(&job.state))
            .cloned()
            .collect();
        let offset: usize = match request.page_token.as_str() {
            "" => 0,
            token => token
                .strip_prefix("page-")
                .and_then(|rest| rest.parse().ok())
                .ok_or_else(|| Status::invalid_argument("bad page token"))?,
        };
        let page_size = state.page_size.max(1);
        let end = (offset + page_size).min(matching.len());
        let next_page_token = if end < matching.len() {
            format!("page-{end}")
        } else {
            String::new()
        };
        Ok(Response::new(ListJobsResponse {
            jobs: matching[offset.min(end)..end].to_vec(),
            next_page_token,
        }))
    }

    async fn cancel_job(
        &self,
        request: Request<CancelJobRequest>,
    ) -> Result<Response<CancelJobResponse>, Status> {
        let mut state = self.record(&request);
        let request = request.into_inner();
        state.cancels.push(request.clone());
        let Some(job) = state.jobs.iter_mut().find(|job| job.id == request.id) else {
            return Err(Status::not_found(format!("no job `{}`", request.id)));
        };
        let terminal = [
            JobState::Succeeded,
            JobState::Failed,
            JobState::Cancelled,
            JobState::Rejected,
        ];
        if terminal.iter().any(|state| *state as i32 == job.state) {
            return Err(Status::failed_precondition(format!(
                "job `{}` has already ended ({})",
                job.id,
                JobState::try_from(job.state).unwrap().as_str_name()
            )));
        }
        job.state = JobState::Cancelled as i32;
        job.reason = format!("cancelled: {}", request.reason);
        Ok(Response::new(CancelJobResponse {
            job: Some(job.clone()),
        }))
    }

    type WatchJobsStream = EventStream;

    async fn watch_jobs(
        &self,
        request: Request<WatchJobsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let mut state = self.record(&request);
        let request = request.into_inner();
        state.watches.push(request.clone());
        let events: Vec<JobEvent> = state
            .events
            .iter()
            .filter(|event| request.job_id.is_empty() || event.job_id == request.job_id)
            .filter(|event| event.seq > request.after_seq)
            .cloned()
            .collect();
        let stream: EventStream = match state.watch_drops.pop_front() {
            Some(after) => {
                let items: Vec<Result<JobEvent, Status>> = events
                    .into_iter()
                    .take(after)
                    .map(Ok)
                    .chain(std::iter::once(Err(Status::unavailable(
                        "the fake dropped the stream",
                    ))))
                    .collect();
                futures_util::stream::iter(items).boxed()
            }
            None => futures_util::stream::iter(events.into_iter().map(Ok)).boxed(),
        };
        Ok(Response::new(stream))
    }

    async fn quote_job(
        &self,
        request: Request<QuoteJobRequest>,
    ) -> Result<Response<QuoteJobResponse>, Status> {
        let mut state = self.record(&request);
        state.quotes.push(request.into_inner());
        Ok(Response::new(state.quote.clone()))
    }
}

#[tonic::async_trait]
impl FleetService for Fake {
    async fn list_clusters(
        &self,
        request: Request<ListClustersRequest>,
    ) -> Result<Response<ListClustersResponse>, Status> {
        let state = self.record(&request);
        Ok(Response::new(ListClustersResponse {
            clusters: state.clusters.clone(),
        }))
    }

    async fn list_quotas(
        &self,
        request: Request<ListQuotasRequest>,
    ) -> Result<Response<ListQuotasResponse>, Status> {
        let state = self.record(&request);
        Ok(Response::new(ListQuotasResponse {
            teams: state.teams.clone(),
        }))
    }
}

// ---- canned state ----------------------------------------------------------

pub(crate) const GIB: u64 = 1 << 30;

pub(crate) fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The placement of `llama-8b-sft`: 4 x a3-highgpu-8g spot at $24.58 a node-hour.
pub(crate) fn gcp_spot_placement() -> Placement {
    Placement {
        cluster: "gcp-us-central1".into(),
        cloud: "gcp".into(),
        region: "us-central1".into(),
        zone: "us-central1-a".into(),
        pool: "a3-spot".into(),
        instance_type: "a3-highgpu-8g".into(),
        capacity_type: CapacityType::Spot as i32,
        gpu_model: "H100".into(),
        replicas: 4,
        hourly_price_micro_usd: 98_320_000,
        expected_runtime_s: 6 * 3600 + 30 * 60,
        expected_cost: Some(CostBreakdown {
            compute_micro_usd: 639_080_000,
            egress_micro_usd: 6_000_000,
            spot_loss_micro_usd: 31_950_000,
            total_micro_usd: 677_030_000,
        }),
        price_source: "price-table".into(),
    }
}

fn job(id: &str, name: &str, team: &str, kind: JobKind, state: JobState, minutes_ago: i64) -> Job {
    let submitted = now_ms() - minutes_ago * 60_000;
    Job {
        id: id.into(),
        name: name.into(),
        team: team.into(),
        kind: kind as i32,
        state: state as i32,
        attempt: u32::from(state != JobState::Queued && state != JobState::Rejected),
        submitted_at_unix_ms: submitted,
        updated_at_unix_ms: submitted + 30_000,
        submitter: "alice@acme.dev".into(),
        request_id: String::new(),
        spec_yaml: format!(
            "apiVersion: gantry.dev/v1\nkind: TrainingJob\nmetadata: {{name: {name}, team: {team}}}\n"
        ),
        spec_digest: "sha256:5d41402abc4b2a76b9719d911017c592".into(),
        placement: None,
        reason: String::new(),
        last_event_seq: 0,
        labels: Default::default(),
        priority: 100,
    }
}

pub(crate) fn event(
    seq: u64,
    job_id: &str,
    from: JobState,
    to: JobState,
    transition: &str,
    reason: &str,
    actor: &str,
) -> JobEvent {
    JobEvent {
        seq,
        job_id: job_id.into(),
        at_unix_ms: 1_750_000_000_000 + i64::try_from(seq).unwrap() * 7_000,
        from_state: from as i32,
        to_state: to as i32,
        transition: transition.into(),
        attempt: 1,
        reason: reason.into(),
        actor: actor.into(),
        details_json: String::new(),
    }
}

/// Six jobs of five teams in every interesting state, their events, two
/// explanations, three clusters and four teams.
pub(crate) fn fleet() -> State {
    let mut llama = job(
        "llama-8b-sft-x7k2p",
        "llama-8b-sft",
        "nlp",
        JobKind::Training,
        JobState::Running,
        3,
    );
    llama.placement = Some(gcp_spot_placement());
    llama.reason = "all 4 replicas running".into();
    llama.labels = [("experiment".to_owned(), "sft-v3".to_owned())]
        .into_iter()
        .collect();
    llama.request_id = "ci-run-41".into();
    llama.last_event_seq = 18;

    let mut eval = job(
        "mistral-eval-3b1c9",
        "mistral-eval",
        "nlp/eval",
        JobKind::Training,
        JobState::Queued,
        12,
    );
    eval.reason = "waiting: team quota nlp: 16 of 16 H100 in use".into();

    let mut vllm = job(
        "vllm-llama-70b-k2m4q",
        "vllm-llama-70b",
        "serving",
        JobKind::Inference,
        JobState::Running,
        60 * 26,
    );
    vllm.placement = Some(Placement {
        cluster: "aws-us-east-1".into(),
        cloud: "aws".into(),
        region: "us-east-1".into(),
        zone: "us-east-1b".into(),
        pool: "p5-on-demand".into(),
        instance_type: "p5.48xlarge".into(),
        capacity_type: CapacityType::OnDemand as i32,
        gpu_model: "H100".into(),
        replicas: 2,
        hourly_price_micro_usd: 196_640_000,
        expected_runtime_s: 3600,
        expected_cost: Some(CostBreakdown {
            compute_micro_usd: 196_640_000,
            egress_micro_usd: 0,
            spot_loss_micro_usd: 0,
            total_micro_usd: 196_640_000,
        }),
        price_source: "aws-pricing-api".into(),
    });

    let mut tokenize = job(
        "tokenize-corpus-9f8e7",
        "tokenize-corpus",
        "data",
        JobKind::Training,
        JobState::Succeeded,
        60 * 5,
    );
    tokenize.placement = Some(Placement {
        cluster: "azure-westeurope".into(),
        cloud: "azure".into(),
        region: "westeurope".into(),
        zone: "westeurope-1".into(),
        pool: "cpu-spot".into(),
        instance_type: "Standard_D96as_v5".into(),
        capacity_type: CapacityType::Spot as i32,
        gpu_model: String::new(),
        replicas: 1,
        hourly_price_micro_usd: 1_045_000,
        expected_runtime_s: 2 * 3600,
        expected_cost: Some(CostBreakdown {
            compute_micro_usd: 2_090_000,
            egress_micro_usd: 0,
            spot_loss_micro_usd: 104_500,
            total_micro_usd: 2_194_500,
        }),
        price_source: "price-table".into(),
    });

    let mut sweep = job(
        "sweep-lr-3e5-a1b2c",
        "sweep-lr-3e5",
        "nlp",
        JobKind::Training,
        JobState::Failed,
        60 * 30,
    );
    sweep.reason = "OOMKilled: container trainer exit 137".into();

    let mut pretrain = job(
        "pretrain-70b-zz9x0",
        "pretrain-70b",
        "research",
        JobKind::Training,
        JobState::Rejected,
        60 * 24 * 3,
    );
    pretrain.reason = "no pool has 16 GPUs on one node (largest: 8 x H100)".into();

    use JobState::*;
    let events = vec![
        event(
            11,
            "llama-8b-sft-x7k2p",
            Unspecified,
            Queued,
            "Accept",
            "accepted: fits 3 clusters",
            "alice@acme.dev",
        ),
        event(
            12,
            "llama-8b-sft-x7k2p",
            Queued,
            Placed,
            "Place",
            "cheapest of 14 offers: gcp-us-central1/a3-spot at $98.32/h",
            "scheduler",
        ),
        event(
            13,
            "mistral-eval-3b1c9",
            Unspecified,
            Queued,
            "Accept",
            "accepted",
            "bob@acme.dev",
        ),
        event(
            15,
            "llama-8b-sft-x7k2p",
            Placed,
            Launching,
            "Launch",
            "created Job llama-8b-sft-x7k2p-1 and its Service",
            "executor",
        ),
        event(
            18,
            "llama-8b-sft-x7k2p",
            Launching,
            Running,
            "Start",
            "all 4 replicas running",
            "executor",
        ),
        event(
            21,
            "llama-8b-sft-x7k2p",
            Running,
            Succeeded,
            "Succeed",
            "all 4 replicas exited 0",
            "executor",
        ),
    ];

    let chosen = Candidate {
        cluster: "gcp-us-central1".into(),
        pool: "a3-spot".into(),
        zone: "us-central1-a".into(),
        capacity_type: CapacityType::Spot as i32,
        gpu_model: "H100".into(),
        instance_type: "a3-highgpu-8g".into(),
        hourly_price_micro_usd: 98_320_000,
        expected_cost_micro_usd: 677_030_000,
        rejection: RejectionKind::None as i32,
        rejection_detail: String::new(),
    };
    let costlier = Candidate {
        cluster: "aws-us-east-1".into(),
        pool: "p5-on-demand".into(),
        zone: "us-east-1b".into(),
        capacity_type: CapacityType::OnDemand as i32,
        gpu_model: "H100".into(),
        instance_type: "p5.48xlarge".into(),
        hourly_price_micro_usd: 393_280_000,
        expected_cost_micro_usd: 2_556_320_000,
        rejection: RejectionKind::Costlier as i32,
        rejection_detail: "$2,556.32 expected, $1,879.29 more than the chosen".into(),
    };
    let no_room = Candidate {
        cluster: "aws-us-east-1".into(),
        pool: "p5-spot".into(),
        zone: "us-east-1a".into(),
        capacity_type: CapacityType::Spot as i32,
        gpu_model: "H100".into(),
        instance_type: "p5.48xlarge".into(),
        hourly_price_micro_usd: 0,
        expected_cost_micro_usd: 0,
        rejection: RejectionKind::Capacity as i32,
        rejection_detail: "needs 4 nodes, 2 free now".into(),
    };
    let over_quota = Candidate {
        cluster: "gcp-us-central1".into(),
        pool: "a3-spot".into(),
        zone: "us-central1-a".into(),
        capacity_type: CapacityType::Spot as i32,
        gpu_model: "H100".into(),
        instance_type: "a3-highgpu-8g".into(),
        hourly_price_micro_usd: 24_580_000,
        expected_cost_micro_usd: 0,
        rejection: RejectionKind::TeamQuota as i32,
        rejection_detail: "team nlp: 16 of 16 H100 in use".into(),
    };
    let mut explanations = BTreeMap::new();
    explanations.insert(
        "llama-8b-sft-x7k2p".to_owned(),
        Explanation {
            candidates: vec![chosen.clone(), costlier.clone(), no_room.clone()],
            offers_considered: 14,
            waiting_reason: String::new(),
            decided_at_unix_ms: now_ms() - 170_000,
        },
    );
    explanations.insert(
        "mistral-eval-3b1c9".to_owned(),
        Explanation {
            candidates: vec![over_quota, no_room.clone()],
            offers_considered: 14,
            waiting_reason: "team quota nlp: 16 of 16 H100 in use".into(),
            decided_at_unix_ms: now_ms() - 20_000,
        },
    );

    let quote = QuoteJobResponse {
        placements: vec![gcp_spot_placement(), {
            let mut aws = gcp_spot_placement();
            aws.cluster = "aws-us-east-1".into();
            aws.cloud = "aws".into();
            aws.region = "us-east-1".into();
            aws.zone = "us-east-1b".into();
            aws.pool = "p5-on-demand".into();
            aws.instance_type = "p5.48xlarge".into();
            aws.capacity_type = CapacityType::OnDemand as i32;
            aws.hourly_price_micro_usd = 393_280_000;
            aws.expected_cost = Some(CostBreakdown {
                compute_micro_usd: 2_556_320_000,
                egress_micro_usd: 0,
                spot_loss_micro_usd: 0,
                total_micro_usd: 2_556_320_000,
            });
            aws.price_source = "aws-pricing-api".into();
            aws
        }],
        explanation: Some(Explanation {
            candidates: vec![chosen, costlier, no_room],
            offers_considered: 14,
            waiting_reason: String::new(),
            decided_at_unix_ms: now_ms(),
        }),
        ever_fits: true,
        never_fits_reason: String::new(),
    };

    let pool = |name: &str,
                instance: &str,
                zone: &str,
                capacity: CapacityType,
                gpu: &str,
                nodes: u32,
                used_nodes: u32,
                price: i64,
                source: &str,
                age: u64| {
        let gpus_per_node = if gpu.is_empty() { 0 } else { 8 };
        Pool {
            name: name.into(),
            instance_type: instance.into(),
            zone: zone.into(),
            capacity_type: capacity as i32,
            gpu_model: gpu.into(),
            gpus_per_node,
            nodes,
            usable_nodes: nodes,
            idle_nodes: nodes - used_nodes,
            gpus_allocatable: nodes * gpus_per_node,
            gpus_allocated: used_nodes * gpus_per_node,
            cpu_millis_allocatable: u64::from(nodes) * 96_000,
            cpu_millis_allocated: u64::from(used_nodes) * 90_000,
            memory_bytes_allocatable: u64::from(nodes) * 1800 * GIB,
            memory_bytes_allocated: u64::from(used_nodes) * 1000 * GIB,
            price_per_node_hour_micro_usd: price,
            price_source: source.into(),
            price_age_s: age,
            price_note: String::new(),
            catalog_note: String::new(),
        }
    };
    let clusters = vec![
        Cluster {
            name: "aws-us-east-1".into(),
            cloud: "aws".into(),
            region: "us-east-1".into(),
            health: ClusterHealth::Reachable as i32,
            health_reason: String::new(),
            pools: vec![
                pool(
                    "p5-on-demand",
                    "p5.48xlarge",
                    "us-east-1b",
                    CapacityType::OnDemand,
                    "H100",
                    4,
                    2,
                    98_320_000,
                    "live",
                    300,
                ),
                Pool {
                    price_note: "live price rejected: price 0.00001 is a placeholder".into(),
                    ..pool(
                        "p5-spot",
                        "p5.48xlarge",
                        "us-east-1a",
                        CapacityType::Spot,
                        "H100",
                        4,
                        2,
                        39_330_000,
                        "price-table",
                        0,
                    )
                },
            ],
            jobs: 1,
            issues: vec![],
        },
        Cluster {
            name: "gcp-us-central1".into(),
            cloud: "gcp".into(),
            region: "us-central1".into(),
            health: ClusterHealth::Degraded as i32,
            health_reason: "API latency p99 2.4s".into(),
            pools: vec![Pool {
                catalog_note: "vcpus: pool 192, catalog 208".into(),
                ..pool(
                    "a3-spot",
                    "a3-highgpu-8g",
                    "us-central1-a",
                    CapacityType::Spot,
                    "H100",
                    8,
                    4,
                    24_580_000,
                    "price-table",
                    0,
                )
            }],
            jobs: 1,
            issues: vec!["node gke-a3-7 has no instance-type label; left out".into()],
        },
        Cluster {
            name: "azure-westeurope".into(),
            cloud: "azure".into(),
            region: "westeurope".into(),
            health: ClusterHealth::Lost as i32,
            health_reason: "no answer for 5m".into(),
            pools: vec![pool(
                "cpu-spot",
                "Standard_D96as_v5",
                "westeurope-1",
                CapacityType::Spot,
                "",
                10,
                0,
                0,
                "",
                0,
            )],
            jobs: 0,
            issues: vec![],
        },
    ];

    let teams = vec![
        TeamQuota {
            team: "nlp".into(),
            gpus_limit: Some(16),
            gpus_used: 16,
            gpus_by_model_limit: [("H100".to_owned(), 16)].into_iter().collect(),
            gpus_by_model_used: [("H100".to_owned(), 16)].into_iter().collect(),
            cpu_millis_limit: Some(400_000),
            cpu_millis_used: 180_000,
            memory_bytes_limit: Some(4096 * GIB),
            memory_bytes_used: 2000 * GIB,
            budget_per_day_micro_usd: Some(5_000_000_000),
            spend_today_micro_usd: 1_234_560_000,
            queued_jobs: 1,
            running_jobs: 1,
        },
        TeamQuota {
            team: "nlp/eval".into(),
            gpus_limit: Some(8),
            gpus_used: 0,
            queued_jobs: 1,
            ..TeamQuota::default()
        },
        TeamQuota {
            team: "serving".into(),
            gpus_used: 16,
            gpus_by_model_used: [("H100".to_owned(), 16)].into_iter().collect(),
            cpu_millis_used: 192_000,
            memory_bytes_used: 2000 * GIB,
            spend_today_micro_usd: 3_146_240_000,
            running_jobs: 1,
            ..TeamQuota::default()
        },
        TeamQuota {
            team: "data".into(),
            cpu_millis_limit: Some(960_000),
            budget_per_day_micro_usd: Some(200_000_000),
            spend_today_micro_usd: 2_194_500,
            ..TeamQuota::default()
        },
    ];

    State {
        jobs: vec![llama, eval, vllm, tokenize, sweep, pretrain],
        events,
        explanations,
        clusters,
        teams,
        quote,
        page_size: 2,
        ..State::default()
    }
}
