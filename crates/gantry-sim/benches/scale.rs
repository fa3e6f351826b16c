//! Scale figures: 10 clusters x 1,000 nodes x 10,000 pods in one process.
//!
//! Run: `cargo bench -p gantry-sim --bench scale` (add `-- --clusters 2` for a
//! smaller run). Prints: time to start the fleet, time until every pod is
//! Running, resident memory, time to list 10,000 pods over HTTP (raw JSON, as
//! any client receives it), and the latency from a write to its watch event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use gantry_sim::{SimFleet, SimOptions};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const NODES_PER_CLUSTER: u32 = 1_000;
const PODS_PER_CLUSTER: usize = 10_000;

fn fleet_yaml(clusters: usize) -> String {
    let mut text = String::from(
        "apiVersion: gantry.dev/v1\nkind: GantryConfig\nsimulation: {timeScale: 60, defaultPodDuration: 1h}\nclusters:\n",
    );
    for index in 0..clusters {
        let _ = write!(
            text,
            "  - name: sim-{index}\n    cloud: aws\n    region: us-east-1\n    simulated:\n      nodePools:\n        - {{name: gpu, instanceType: p5.48xlarge, gpu: {{model: H100, count: 8}}, cpu: 192, memory: 2048Gi, nodes: {}, zone: us-east-1a}}\n        - {{name: cpu, instanceType: m6i.32xlarge, cpu: 128, memory: 512Gi, nodes: {}, zone: us-east-1b, pricePerHour: 6.144}}\n",
            NODES_PER_CLUSTER / 2,
            NODES_PER_CLUSTER / 2
        );
    }
    text
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn http_get(address: std::net::SocketAddr, path: &str) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    response
}

fn main() {
    let clusters: usize = std::env::args()
        .skip_while(|a| a != "--clusters")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(clusters));
}

async fn run(clusters: usize) {
    let config = gantry_spec::parse_config(&fleet_yaml(clusters)).unwrap();
    let before = rss_mib();
    let started = Instant::now();
    let options = SimOptions {
        record_scheduling_events: false,
        watch_history: 10_000,
        ..SimOptions::default()
    };
    let fleet = SimFleet::start(&config, options).await.unwrap();
    println!(
        "fleet: {clusters} clusters x {NODES_PER_CLUSTER} nodes started in {:.2?}",
        started.elapsed()
    );

    let created = Instant::now();
    for cluster in fleet.clusters() {
        let store = cluster.store();
        for index in 0..PODS_PER_CLUSTER {
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("pod-{index:05}"), "labels": {"app": "bench", "shard": (index % 10).to_string()}},
                "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
            });
            store
                .create(gantry_sim::resources::PODS, "default", pod)
                .unwrap();
        }
    }
    println!(
        "created {} pods in {:.2?}",
        clusters * PODS_PER_CLUSTER,
        created.elapsed()
    );
    loop {
        let running: usize = fleet
            .clusters()
            .iter()
            .map(|c| {
                c.store()
                    .all(gantry_sim::resources::PODS)
                    .iter()
                    .filter(|p| p.field("status.phase").as_deref() == Some("Running"))
                    .count()
            })
            .sum();
        if running == clusters * PODS_PER_CLUSTER {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "all pods scheduled and Running after {:.2?}",
        created.elapsed()
    );
    println!(
        "resident memory: {:.0} MiB (before start {:.0} MiB)",
        rss_mib(),
        before
    );

    let cluster = &fleet.clusters()[0];
    let mut timings = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let listed = Instant::now();
        let body = http_get(cluster.address(), "/api/v1/namespaces/default/pods").await;
        timings.push(listed.elapsed());
        size = body.len();
    }
    timings.sort();
    println!(
        "list 10,000 pods over HTTP ({:.1} MiB): median {:.2?}, best {:.2?}",
        size as f64 / 1048576.0,
        timings[2],
        timings[0]
    );
    let listed = Instant::now();
    let body = http_get(
        cluster.address(),
        "/api/v1/namespaces/default/pods?labelSelector=shard%3D3",
    )
    .await;
    println!(
        "list with labelSelector (1,000 of 10,000): {:.2?} ({} KiB)",
        listed.elapsed(),
        body.len() / 1024
    );

    // Watch latency: a write, then its event on an open watch stream.
    let resource_version = cluster.store().resource_version();
    let mut stream = tokio::net::TcpStream::connect(cluster.address())
        .await
        .unwrap();
    let request = format!(
        "GET /api/v1/namespaces/default/pods?watch=true&resourceVersion={resource_version}&fieldSelector=metadata.name%3Dpod-00001 HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        if line == "\r\n" {
            break;
        }
    }
    let mut latencies = Vec::new();
    for round in 0..200 {
        let wrote = Instant::now();
        cluster
            .store()
            .patch(
                gantry_sim::resources::PODS,
                "default",
                "pod-00001",
                gantry_sim::patch::PatchType::Merge,
                format!("{{\"metadata\":{{\"labels\":{{\"round\":\"{round}\"}}}}}}").as_bytes(),
                gantry_sim::store::Subresource::Main,
                None,
            )
            .unwrap();
        loop {
            line.clear();
            reader.read_line(&mut line).await.unwrap();
            if line.contains("MODIFIED") {
                break;
            }
        }
        latencies.push(wrote.elapsed());
    }
    latencies.sort();
    println!(
        "watch latency (write -> event, 200 writes): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        latencies[100], latencies[197], latencies[199]
    );
    fleet.shutdown().await;
}
