//! What the status tests share: a realistic snapshot, a store with jobs, the
//! router served on a loopback port, and a plain HTTP/1.1 client.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use gantry_api::status::{StatusState, router};
use gantry_control::driver::{Histogram, StatusSnapshot};
use gantry_control::{ControlMetrics, Decision, TeamUsage};
use gantry_core::{
    CapacityType, Cloud, GpuModel, JobId, JobKind, JobState, JobTransition, Money, TeamPath,
    TeamQuota,
};
use gantry_kube::{ClusterView, Health, Inventory, Pool, PoolKey, PriceSource, Room};
use gantry_store::{
    EventRecord, EventSeq, JobCounts, JobPage, JobQuery, JobRecord, LiveJobs, MemoryStore, NewJob,
    StateUpdate, Store, StoreFuture, Submitted, UnixMillis,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// 2026-03-02T10:00:00Z.
pub const NOW_MS: i64 = 1_772_445_600_000;
/// The weird pool name of the GCP cluster: quotes, a backslash, a line feed.
pub const WEIRD_POOL: &str = "pool \"a\\b\"\nnext";
/// A queue whose team name is markup.
pub const SCRIPT_TEAM: &str = "<script>alert(1)</script>";
pub const VERSION: &str = "0.1.0-test";

const GIB: u64 = 1 << 30;

pub fn money(text: &str) -> Money {
    Money::parse_dollars(text).unwrap()
}

fn team(path: &str) -> TeamPath {
    TeamPath::parse(path).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn pool(
    names: &[&str],
    instance_type: &str,
    zone: &str,
    capacity_type: CapacityType,
    gpu: Option<(GpuModel, u32)>,
    nodes: u32,
    used_gpus: u32,
    price: Option<(&str, PriceSource)>,
) -> Pool {
    let gpus_per_node = gpu.map_or(0, |(_, count)| count);
    let node = Room {
        gpus: gpus_per_node,
        cpu_millis: 190_000,
        memory_bytes: 1_900 * GIB,
    };
    let usable = nodes.saturating_sub(1).max(1).min(nodes);
    let allocatable = Room {
        gpus: gpus_per_node * usable,
        cpu_millis: node.cpu_millis * u64::from(usable),
        memory_bytes: node.memory_bytes * u64::from(usable),
    };
    Pool {
        key: PoolKey {
            instance_type: instance_type.to_owned(),
            zone: zone.to_owned(),
            capacity_type,
        },
        names: names.iter().map(|name| (*name).to_owned()).collect(),
        gpu,
        node,
        vcpus: 192,
        nodes,
        usable_nodes: usable,
        idle_nodes: usable.saturating_sub(1),
        partial_nodes: Vec::new(),
        allocatable,
        allocated: Room {
            gpus: used_gpus,
            cpu_millis: u64::from(used_gpus) * 20_000,
            memory_bytes: u64::from(used_gpus) * 200 * GIB,
        },
        price_per_node_hour: price.map(|(dollars, _)| money(dollars)),
        price_source: price.map_or(PriceSource::Missing, |(_, source)| source),
        price_age_s: None,
        price_note: None,
        catalog_note: None,
    }
}

fn view(
    name: &str,
    cloud: Cloud,
    region: &str,
    health: Health,
    reason: &str,
    pools: Vec<Pool>,
) -> Arc<ClusterView> {
    Arc::new(ClusterView {
        cluster: name.to_owned(),
        cloud,
        region: region.to_owned(),
        health,
        health_reason: reason.to_owned(),
        synced: true,
        inventory: Inventory {
            pools,
            issues: vec!["node gpu-7: no topology.kubernetes.io/zone label".to_owned()],
        },
        updated_at: jiff::Timestamp::from_millisecond(NOW_MS - 2_000).unwrap(),
    })
}

/// The three clusters of a dev-like fleet: AWS reachable, GCP degraded (with
/// the weird pool name), Azure lost.
pub fn clusters() -> Vec<Arc<ClusterView>> {
    vec![
        view(
            "aws-us-east-1",
            Cloud::Aws,
            "us-east-1",
            Health::Reachable,
            "all calls succeed",
            vec![
                pool(
                    &["h100-od"],
                    "p5.48xlarge",
                    "us-east-1a",
                    CapacityType::OnDemand,
                    Some((GpuModel::H100, 8)),
                    4,
                    16,
                    Some(("98.32", PriceSource::PriceTable)),
                ),
                Pool {
                    catalog_note: Some("EC2 does not offer it in us-east-1b".to_owned()),
                    ..pool(
                        &["h100-spot"],
                        "p5.48xlarge",
                        "us-east-1b",
                        CapacityType::Spot,
                        Some((GpuModel::H100, 8)),
                        2,
                        8,
                        Some(("39.33", PriceSource::PriceTable)),
                    )
                },
            ],
        ),
        view(
            "gcp-us-central1",
            Cloud::Gcp,
            "us-central1",
            Health::Degraded,
            "3 of 10 calls failed: 429 \"Too Many Requests\"",
            vec![
                pool(
                    &[WEIRD_POOL],
                    "a3-highgpu-8g",
                    "us-central1-a",
                    CapacityType::Spot,
                    Some((GpuModel::H100, 8)),
                    3,
                    8,
                    Some(("30", PriceSource::PoolOverride)),
                ),
                pool(
                    &[],
                    "n2-standard-32",
                    "us-central1-b",
                    CapacityType::OnDemand,
                    None,
                    2,
                    0,
                    None,
                ),
            ],
        ),
        view(
            "azure-eastus",
            Cloud::Azure,
            "eastus",
            Health::Lost,
            "no call has succeeded for 95s",
            vec![pool(
                &["a100-reserved"],
                "Standard_ND96asr_v4",
                "eastus-1",
                CapacityType::Reserved,
                Some((GpuModel::A100, 8)),
                2,
                8,
                Some(("27.2", PriceSource::PoolOverride)),
            )],
        ),
    ]
}

/// The latencies the fixture's histogram holds, in seconds.
pub const LATENCIES: [f64; 6] = [0.003, 0.02, 0.02, 0.7, 3.0, 120.0];

pub fn latency_histogram() -> Histogram {
    let mut histogram = Histogram::latency();
    for seconds in LATENCIES {
        histogram.observe(seconds);
    }
    histogram
}

fn teams() -> Vec<TeamUsage> {
    let org_quota = TeamQuota {
        team: team("org"),
        gpus: Some(64),
        gpus_by_model: BTreeMap::new(),
        cpu_millis: None,
        memory_bytes: None,
        budget_per_day: Some(money("5000")),
    };
    let nlp_quota = TeamQuota {
        team: team("org/nlp"),
        gpus: Some(32),
        gpus_by_model: BTreeMap::from([(GpuModel::H100, 24)]),
        cpu_millis: Some(400_000),
        memory_bytes: None,
        budget_per_day: None,
    };
    vec![
        TeamUsage {
            team: Some(team("org")),
            quota: Some(org_quota),
            gpus: 24,
            gpus_by_model: BTreeMap::from([(GpuModel::H100, 24)]),
            cpu_millis: 120_000,
            memory_bytes: 1_200 * GIB,
            spend_today: money("1234.56"),
            queued: 0,
            running: 0,
        },
        TeamUsage {
            team: Some(team("org/nlp")),
            quota: Some(nlp_quota),
            gpus: 24,
            gpus_by_model: BTreeMap::from([(GpuModel::H100, 24)]),
            cpu_millis: 120_000,
            memory_bytes: 1_200 * GIB,
            spend_today: money("1234.56"),
            queued: 2,
            running: 2,
        },
        TeamUsage {
            team: Some(team("vision")),
            quota: None,
            gpus: 8,
            gpus_by_model: BTreeMap::from([(GpuModel::A100, 8)]),
            cpu_millis: 20_000,
            memory_bytes: 100 * GIB,
            spend_today: Money::ZERO,
            queued: 1,
            running: 1,
        },
    ]
}

fn decision(at_unix_ms: i64, job: &str, summary: &str) -> Decision {
    Decision {
        at_unix_ms,
        job_id: JobId::new(job).unwrap(),
        summary: summary.to_owned(),
    }
}

/// A realistic snapshot of a running daemon.
pub fn snapshot(recovered: bool) -> StatusSnapshot {
    StatusSnapshot {
        at_unix_ms: NOW_MS - 100,
        recovered,
        clusters: clusters(),
        jobs_per_cluster: BTreeMap::from([
            ("aws-us-east-1".to_owned(), 2),
            ("gcp-us-central1".to_owned(), 1),
        ]),
        live_by_state: BTreeMap::from([
            (JobState::Queued, 3),
            (JobState::Launching, 1),
            (JobState::Running, 2),
        ]),
        queue_depth: BTreeMap::from([
            ("org/nlp".to_owned(), 2),
            ("vision".to_owned(), 1),
            (SCRIPT_TEAM.to_owned(), 1),
        ]),
        teams: teams(),
        recent: vec![
            decision(
                NOW_MS - 60_000,
                "sft-7f3k2",
                "placed on aws-us-east-1 h100-od (on-demand) at 98.32/h",
            ),
            decision(
                NOW_MS - 30_000,
                "eval-9q1",
                "waits: <b>no room</b> in any H100 pool",
            ),
        ],
        metrics: ControlMetrics {
            passes: 42,
            placements: 7,
            preemptions: 1,
            placement_latencies_ms: Vec::new(),
            list_spend: money("4321.5"),
        },
        placement_latency: latency_histogram(),
        pass_duration: {
            let mut passes = Histogram::latency();
            for seconds in [0.002, 0.004, 0.03] {
                passes.observe(seconds);
            }
            passes
        },
    }
}

/// What the driver publishes before its first snapshot.
pub fn empty_snapshot() -> StatusSnapshot {
    StatusSnapshot {
        at_unix_ms: 0,
        recovered: false,
        clusters: Vec::new(),
        jobs_per_cluster: BTreeMap::new(),
        live_by_state: BTreeMap::new(),
        queue_depth: BTreeMap::new(),
        teams: Vec::new(),
        recent: Vec::new(),
        metrics: ControlMetrics::default(),
        placement_latency: Histogram::latency(),
        pass_duration: Histogram::latency(),
    }
}

fn new_job(id: &str, team_path: &str, name: &str, transition: JobTransition) -> NewJob {
    NewJob {
        id: JobId::new(id).unwrap(),
        request_id: None,
        team: team(team_path),
        name: name.to_owned(),
        kind: JobKind::Training,
        spec_yaml: format!("apiVersion: gantry.dev/v1\nkind: TrainingJob\n# {name}\n"),
        submitter: "ada".to_owned(),
        transition,
        reason: "accepted".to_owned(),
        details: serde_json::Value::Null,
        submitted_at: UnixMillis(NOW_MS - 120_000),
    }
}

/// A store with five jobs: org/nlp 2 Queued + 1 Cancelled, vision 1
/// Queued, org/nlp 1 Rejected.
pub async fn store_with_jobs() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    for job in [
        new_job(
            "sft-7f3k2",
            "org/nlp",
            "llama-8b-sft",
            JobTransition::Accept,
        ),
        new_job("sft-8a1", "org/nlp", "llama-70b-sft", JobTransition::Accept),
        new_job("old-1", "org/nlp", "old", JobTransition::Accept),
        new_job("vis-1", "vision", "resnet", JobTransition::Accept),
        new_job("big-1", "org/nlp", "too-big", JobTransition::Reject),
    ] {
        store.submit(job).await.unwrap();
    }
    store
        .apply(vec![StateUpdate {
            job_id: JobId::new("old-1").unwrap(),
            expected_state: JobState::Queued,
            transition: Some(JobTransition::Cancel),
            attempt: 0,
            placement: None,
            reason: "cancelled by ada".to_owned(),
            actor: "ada".to_owned(),
            details: serde_json::Value::Null,
            at: UnixMillis(NOW_MS - 90_000),
        }])
        .await
        .unwrap();
    store
}

/// A store whose `job_counts` hangs while `stalled` is set.
#[derive(Debug)]
pub struct StallingStore {
    pub inner: MemoryStore,
    pub stalled: AtomicBool,
}

impl Store for StallingStore {
    fn submit(&self, job: NewJob) -> StoreFuture<'_, Submitted> {
        self.inner.submit(job)
    }
    fn apply(&self, updates: Vec<StateUpdate>) -> StoreFuture<'_, Vec<EventRecord>> {
        self.inner.apply(updates)
    }
    fn get_job(&self, id: &JobId) -> StoreFuture<'_, Option<JobRecord>> {
        self.inner.get_job(id)
    }
    fn list_jobs(&self, query: JobQuery) -> StoreFuture<'_, JobPage> {
        self.inner.list_jobs(query)
    }
    fn job_counts(&self) -> StoreFuture<'_, JobCounts> {
        if self.stalled.load(Ordering::SeqCst) {
            Box::pin(std::future::pending())
        } else {
            self.inner.job_counts()
        }
    }
    fn job_events(&self, id: &JobId) -> StoreFuture<'_, Vec<EventRecord>> {
        self.inner.job_events(id)
    }
    fn events_after(&self, after: EventSeq, limit: usize) -> StoreFuture<'_, Vec<EventRecord>> {
        self.inner.events_after(after, limit)
    }
    fn live_jobs(&self) -> StoreFuture<'_, LiveJobs> {
        self.inner.live_jobs()
    }
    fn committed_seq(&self) -> watch::Receiver<EventSeq> {
        self.inner.committed_seq()
    }
}

/// The router, served on a loopback port.
pub struct Server {
    pub addr: SocketAddr,
    pub snapshots: watch::Sender<Arc<StatusSnapshot>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Server {
    pub async fn start(snapshot: StatusSnapshot, store: Arc<dyn Store>) -> Server {
        let (snapshots, receiver) = watch::channel(Arc::new(snapshot));
        let state = StatusState {
            snapshot: receiver,
            store,
            mode: "config:/etc/gantry/fleet.yaml".to_owned(),
            version: VERSION,
            started_at_unix_ms: NOW_MS - 3_723_000,
            clouds: None,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router(state))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Server {
            addr,
            snapshots,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> Reply {
        get(self.addr, path)
            .await
            .with_context(|| format!("GET {path}"))
            .unwrap()
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Lowercased names.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// GET over plain HTTP/1.1, one connection per request; checks the framing
/// (Content-Length or chunked) instead of trusting the connection's end.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: gantry-status-test\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split])?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().context("no status line")?;
    let mut parts = status_line.splitn(3, ' ');
    if parts.next() != Some("HTTP/1.1") {
        bail!("not HTTP/1.1: {status_line}");
    }
    let status: u16 = parts.next().context("no status")?.parse()?;
    let mut headers = BTreeMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').context("bad header line")?;
        if headers
            .insert(name.trim().to_ascii_lowercase(), value.trim().to_owned())
            .is_some()
        {
            bail!("header {name} twice");
        }
    }
    let body = if let Some(length) = headers.get("content-length") {
        let length: usize = length.parse()?;
        if body.len() != length {
            bail!("content-length {length}, body {} bytes", body.len());
        }
        body.to_vec()
    } else if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        dechunk(body)?
    } else {
        bail!("neither content-length nor chunked");
    };
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8(body)?,
    })
}

fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|window| window == b"\r\n")
            .context("chunk size line")?;
        let size_text = std::str::from_utf8(&body[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).context("short chunk")?);
        body = body.get(size + 2..).context("chunk end")?;
    }
}
