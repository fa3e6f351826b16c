//! `/metrics`: the exposition format, the families and their values, read by
//! our strict parser and by Python's `prometheus_client`.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use gantry_control::driver::Histogram;
use gantry_store::MemoryStore;

use crate::exposition::{Exposition, parse};
use crate::support::{
    LATENCIES, SCRIPT_TEAM, Server, VERSION, WEIRD_POOL, empty_snapshot, snapshot, store_with_jobs,
};

async fn scrape(server: &Server) -> (String, Exposition) {
    let reply = server.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let parsed = parse(&reply.body).unwrap_or_else(|error| {
        panic!("/metrics does not parse: {error}\n{}", reply.body);
    });
    (reply.body, parsed)
}

fn pool<'a>(cluster: &'a str, pool: &'a str, rest: [&'a str; 4]) -> Vec<(&'a str, &'a str)> {
    vec![
        ("cluster", cluster),
        ("pool", pool),
        ("instance_type", rest[0]),
        ("zone", rest[1]),
        ("capacity_type", rest[2]),
        ("gpu_model", rest[3]),
    ]
}

#[tokio::test]
async fn metrics_have_every_family_with_help_type_and_the_values_of_the_state() {
    let server = Server::start(snapshot(true), store_with_jobs().await).await;
    let (text, metrics) = scrape(&server).await;

    let mut sorted = metrics.order.clone();
    sorted.sort();
    assert_eq!(metrics.order, sorted, "families in name order");
    for (name, kind) in [
        ("gantry_build_info", "gauge"),
        ("gantry_jobs", "gauge"),
        ("gantry_jobs_by_team", "gauge"),
        ("gantry_queue_depth", "gauge"),
        ("gantry_placement_latency_seconds", "histogram"),
        ("gantry_scheduling_pass_duration_seconds", "histogram"),
        ("gantry_placements_total", "counter"),
        ("gantry_preemptions_total", "counter"),
        ("gantry_scheduling_passes_total", "counter"),
        ("gantry_spend_usd_total", "counter"),
        ("gantry_team_spend_today_usd", "gauge"),
        ("gantry_team_gpus_used", "gauge"),
        ("gantry_team_gpus_quota", "gauge"),
        ("gantry_cluster_up", "gauge"),
        ("gantry_cluster_gpus", "gauge"),
        ("gantry_cluster_gpus_allocated", "gauge"),
        ("gantry_cluster_nodes", "gauge"),
        ("gantry_pool_price_usd_per_node_hour", "gauge"),
        ("gantry_pool_catalog_mismatch", "gauge"),
        ("gantry_store_up", "gauge"),
    ] {
        let family = metrics.family(name);
        assert_eq!(family.kind, kind, "{name}");
        assert!(!family.help.is_empty(), "{name} has help");
        assert!(!family.samples.is_empty(), "{name} has samples");
    }

    assert_eq!(
        metrics.value(
            "gantry_build_info",
            &[
                ("version", VERSION),
                ("mode", "config:/etc/gantry/fleet.yaml")
            ]
        ),
        Some(1.0)
    );
    // Jobs: from the store, every state, terminal ones included.
    assert_eq!(metrics.family("gantry_jobs").samples.len(), 9);
    for (state, count) in [
        ("Queued", 3.0),
        ("Cancelled", 1.0),
        ("Rejected", 1.0),
        ("Running", 0.0),
    ] {
        assert_eq!(
            metrics.value("gantry_jobs", &[("state", state)]),
            Some(count),
            "{state}"
        );
    }
    assert_eq!(
        metrics.value(
            "gantry_jobs_by_team",
            &[("team", "org/nlp"), ("state", "Queued")]
        ),
        Some(2.0)
    );
    assert_eq!(
        metrics.value(
            "gantry_jobs_by_team",
            &[("team", "vision"), ("state", "Queued")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("gantry_queue_depth", &[("team", SCRIPT_TEAM)]),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("gantry_queue_depth", &[("team", "org/nlp")]),
        Some(2.0)
    );
    // Counters and money.
    assert_eq!(metrics.value("gantry_placements_total", &[]), Some(7.0));
    assert_eq!(metrics.value("gantry_preemptions_total", &[]), Some(1.0));
    assert_eq!(
        metrics.value("gantry_scheduling_passes_total", &[]),
        Some(42.0)
    );
    assert_eq!(metrics.value("gantry_spend_usd_total", &[]), Some(4321.5));
    assert_eq!(
        metrics.value("gantry_team_spend_today_usd", &[("team", "org/nlp")]),
        Some(1234.56)
    );
    assert_eq!(
        metrics.value("gantry_team_spend_today_usd", &[("team", "vision")]),
        Some(0.0)
    );
    assert_eq!(
        metrics.value("gantry_team_budget_per_day_usd", &[("team", "org")]),
        Some(5000.0)
    );
    // Teams: quota only where one is set.
    assert_eq!(
        metrics.value("gantry_team_gpus_used", &[("team", "vision")]),
        Some(8.0)
    );
    assert_eq!(
        metrics.value("gantry_team_gpus_quota", &[("team", "org/nlp")]),
        Some(32.0)
    );
    assert_eq!(
        metrics.value("gantry_team_gpus_quota", &[("team", "vision")]),
        None,
        "vision has no quota"
    );
    assert_eq!(
        metrics.value(
            "gantry_team_gpus_quota_by_model",
            &[("team", "org/nlp"), ("gpu_model", "H100")]
        ),
        Some(24.0)
    );
    // Fleet.
    for (cluster, cloud, region, health, up) in [
        ("aws-us-east-1", "aws", "us-east-1", "Reachable", 1.0),
        ("gcp-us-central1", "gcp", "us-central1", "Degraded", 1.0),
        ("azure-eastus", "azure", "eastus", "Lost", 0.0),
    ] {
        assert_eq!(
            metrics.value(
                "gantry_cluster_up",
                &[
                    ("cluster", cluster),
                    ("cloud", cloud),
                    ("region", region),
                    ("health", health)
                ]
            ),
            Some(up),
            "{cluster}"
        );
    }
    let h100_od = pool(
        "aws-us-east-1",
        "h100-od",
        ["p5.48xlarge", "us-east-1a", "on-demand", "H100"],
    );
    assert_eq!(metrics.value("gantry_cluster_gpus", &h100_od), Some(24.0));
    assert_eq!(
        metrics.value("gantry_cluster_gpus_allocated", &h100_od),
        Some(16.0)
    );
    assert_eq!(metrics.value("gantry_cluster_nodes", &h100_od), Some(4.0));
    assert_eq!(
        metrics.value("gantry_cluster_nodes_usable", &h100_od),
        Some(3.0)
    );
    assert_eq!(
        metrics.value("gantry_cluster_cpu_cores", &h100_od),
        Some(570.0)
    );
    let mut priced = h100_od.clone();
    priced.push(("price_source", "price-table"));
    assert_eq!(
        metrics.value("gantry_pool_price_usd_per_node_hour", &priced),
        Some(98.32)
    );
    // The pool whose nodes EC2 does not offer in their zone is flagged, the other not.
    assert_eq!(
        metrics.value("gantry_pool_catalog_mismatch", &h100_od),
        Some(0.0)
    );
    assert_eq!(
        metrics.value(
            "gantry_pool_catalog_mismatch",
            &pool(
                "aws-us-east-1",
                "h100-spot",
                ["p5.48xlarge", "us-east-1b", "spot", "H100"],
            )
        ),
        Some(1.0)
    );
    let cpu_pool = pool(
        "gcp-us-central1",
        "n2-standard-32/us-central1-b/on-demand",
        ["n2-standard-32", "us-central1-b", "on-demand", "none"],
    );
    assert_eq!(metrics.value("gantry_cluster_gpus", &cpu_pool), Some(0.0));
    assert!(
        metrics
            .family("gantry_pool_price_usd_per_node_hour")
            .samples
            .iter()
            .all(|sample| sample.labels["pool"] != "n2-standard-32/us-central1-b/on-demand"),
        "an unpriced pool has no price sample"
    );
    assert!(!text.contains("NaN"));
}

#[tokio::test]
async fn the_latency_histogram_is_cumulative_and_ends_with_inf_equal_to_count() {
    let server = Server::start(snapshot(true), store_with_jobs().await).await;
    let (_, metrics) = scrape(&server).await;
    let family = metrics.family("gantry_placement_latency_seconds");
    let buckets: Vec<(String, f64)> = family
        .samples
        .iter()
        .filter(|sample| sample.name == "gantry_placement_latency_seconds_bucket")
        .map(|sample| (sample.labels["le"].clone(), sample.value))
        .collect();
    let bounds = Histogram::latency().bounds;
    assert_eq!(buckets.len(), bounds.len() + 1);
    // Every bucket counts the observations at or below its bound.
    for ((le, value), bound) in buckets.iter().zip(&bounds) {
        assert_eq!(le.parse::<f64>().unwrap(), *bound);
        let expected = LATENCIES
            .iter()
            .filter(|seconds| **seconds <= *bound)
            .count();
        assert_eq!(*value, expected as f64, "le={le}");
    }
    assert_eq!(buckets.last().unwrap(), &("+Inf".to_owned(), 6.0));
    assert_eq!(
        metrics.value("gantry_placement_latency_seconds_count", &[]),
        Some(6.0)
    );
    // Pass durations: 2 ms and 4 ms are under 5 ms, 30 ms under 50 ms.
    assert_eq!(
        metrics.value(
            "gantry_scheduling_pass_duration_seconds_bucket",
            &[("le", "0.005")]
        ),
        Some(2.0)
    );
    assert_eq!(
        metrics.value(
            "gantry_scheduling_pass_duration_seconds_bucket",
            &[("le", "0.05")]
        ),
        Some(3.0)
    );
    assert_eq!(
        metrics.value("gantry_scheduling_pass_duration_seconds_count", &[]),
        Some(3.0)
    );
    let sum: f64 = LATENCIES.iter().sum();
    let exported = metrics
        .value("gantry_placement_latency_seconds_sum", &[])
        .unwrap();
    assert!((exported - sum).abs() < 1e-9, "{exported} vs {sum}");
}

#[tokio::test]
async fn label_values_with_quotes_backslashes_and_line_feeds_are_escaped() {
    let server = Server::start(snapshot(true), store_with_jobs().await).await;
    let (text, metrics) = scrape(&server).await;
    assert!(
        text.contains(r#"pool="pool \"a\\b\"\nnext""#),
        "escaped in the text:\n{text}"
    );
    let weird = pool(
        "gcp-us-central1",
        WEIRD_POOL,
        ["a3-highgpu-8g", "us-central1-a", "spot", "H100"],
    );
    assert_eq!(
        metrics.value("gantry_cluster_gpus", &weird),
        Some(16.0),
        "and decoded back to the original name"
    );
}

#[tokio::test]
async fn an_empty_state_and_an_odd_histogram_render_valid_metrics() {
    let mut odd = empty_snapshot();
    odd.placement_latency = Histogram {
        bounds: vec![f64::NAN, 1.0, 0.5, 0.5, f64::INFINITY],
        counts: vec![3, 1, 2],
        sum: f64::NAN,
        count: 99,
    };
    odd.teams.push(gantry_control::TeamUsage::default());
    let server = Server::start(odd, Arc::new(MemoryStore::new())).await;
    let (text, metrics) = scrape(&server).await;
    assert!(!text.contains("NaN"), "{text}");
    assert_eq!(
        metrics.value("gantry_placement_latency_seconds_count", &[]),
        Some(6.0),
        "+Inf and _count agree: the buckets' total"
    );
    assert_eq!(
        metrics.value("gantry_placement_latency_seconds_bucket", &[("le", "0.5")]),
        Some(2.0)
    );
    assert_eq!(
        metrics.value("gantry_jobs", &[("state", "Queued")]),
        Some(0.0)
    );
    assert_eq!(
        metrics.value("gantry_control_loop_recovered", &[]),
        Some(0.0)
    );

    server.snapshots.send_replace(Arc::new(empty_snapshot()));
    let (_, metrics) = scrape(&server).await;
    assert!(metrics.family("gantry_cluster_up").samples.is_empty());
    assert!(
        metrics
            .family("gantry_status_snapshot_timestamp_seconds")
            .samples
            .is_empty(),
        "no snapshot yet: no timestamp"
    );
}

#[tokio::test]
async fn two_scrapes_of_one_state_are_the_same_text() {
    let server = Server::start(snapshot(true), store_with_jobs().await).await;
    let (first, _) = scrape(&server).await;
    let (second, _) = scrape(&server).await;
    assert_eq!(first, second);
}

const PYTHON_SCRAPE: &str = r#"
import json, sys, urllib.request
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)
with urllib.request.urlopen(sys.argv[1]) as response:
    content_type = response.headers.get("Content-Type")
    body = response.read().decode("utf-8")
families = {}
for family in text_string_to_metric_families(body):
    families[family.name] = {
        "type": family.type,
        "help": family.documentation,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
print(json.dumps({"content_type": content_type, "families": families}, allow_nan=False))
"#;

#[tokio::test]
async fn python_prometheus_client_parses_the_metrics() {
    let server = Server::start(snapshot(true), store_with_jobs().await).await;
    let url = server.url("/metrics");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(PYTHON_SCRAPE)
            .arg(url)
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|error| {
        panic!("cannot run python3 ({error}); install Python 3 and `python3 -m pip install prometheus-client` (.ci/run does)")
    });
    if output.status.code() == Some(3) {
        panic!(
            "the Python package prometheus_client is missing: `python3 -m pip install prometheus-client` (.ci/run installs it)"
        );
    }
    assert!(
        output.status.success(),
        "prometheus_client refused /metrics:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        parsed["content_type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let families = parsed["families"].as_object().unwrap();
    // prometheus_client names a counter family without `_total`.
    for (name, kind) in [
        ("gantry_jobs", "gauge"),
        ("gantry_jobs_by_team", "gauge"),
        ("gantry_queue_depth", "gauge"),
        ("gantry_placement_latency_seconds", "histogram"),
        ("gantry_placements", "counter"),
        ("gantry_preemptions", "counter"),
        ("gantry_scheduling_passes", "counter"),
        ("gantry_spend_usd", "counter"),
        ("gantry_team_spend_today_usd", "gauge"),
        ("gantry_team_gpus_used", "gauge"),
        ("gantry_team_gpus_quota", "gauge"),
        ("gantry_cluster_up", "gauge"),
        ("gantry_cluster_gpus", "gauge"),
        ("gantry_cluster_gpus_allocated", "gauge"),
        ("gantry_cluster_nodes", "gauge"),
        ("gantry_pool_price_usd_per_node_hour", "gauge"),
        ("gantry_build_info", "gauge"),
    ] {
        let family = families
            .get(name)
            .unwrap_or_else(|| panic!("prometheus_client found no {name}"));
        assert_eq!(family["type"], kind, "{name}");
        assert!(!family["help"].as_str().unwrap().is_empty(), "{name}");
    }
    let samples = |name: &str| -> Vec<(String, BTreeMap<String, String>, f64)> {
        serde_json::from_value(families[name]["samples"].clone()).unwrap()
    };
    let histogram = samples("gantry_placement_latency_seconds");
    let buckets: Vec<&(String, BTreeMap<String, String>, f64)> = histogram
        .iter()
        .filter(|(name, _, _)| name.ends_with("_bucket"))
        .collect();
    assert!(buckets.windows(2).all(|pair| pair[0].2 <= pair[1].2));
    let last = buckets.last().unwrap();
    assert_eq!(last.1["le"], "+Inf");
    let count = histogram
        .iter()
        .find(|(name, _, _)| name == "gantry_placement_latency_seconds_count")
        .unwrap();
    assert_eq!(last.2, count.2);
    assert_eq!(count.2, 6.0);
    // The escaped pool name decodes to the original, quotes, backslash and line feed.
    assert!(
        samples("gantry_cluster_gpus")
            .iter()
            .any(|(_, labels, value)| labels["pool"] == WEIRD_POOL && *value == 16.0),
        "{:?}",
        samples("gantry_cluster_gpus")
    );
    assert!(
        samples("gantry_queue_depth")
            .iter()
            .any(|(_, labels, _)| labels["team"] == SCRIPT_TEAM)
    );
    assert_eq!(samples("gantry_placements")[0].2, 7.0);
}
