//! `/api/v1/status` and `/`.

use std::collections::BTreeSet;
use std::sync::Arc;

use gantry_store::MemoryStore;
use serde_json::Value;

use crate::support::{
    SCRIPT_TEAM, Server, VERSION, WEIRD_POOL, empty_snapshot, snapshot, store_with_jobs,
};

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

#[tokio::test]
async fn status_json_has_the_documented_fields_and_values() {
    let server = Server::start(snapshot(true), store_with_jobs().await).await;
    let reply = server.get("/api/v1/status").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/json");
    let json: Value = serde_json::from_str(&reply.body).unwrap();

    assert_eq!(
        keys(&json),
        set(&[
            "version",
            "mode",
            "started_at",
            "uptime_seconds",
            "snapshot_at",
            "recovered",
            "readiness",
            "store",
            "clusters",
            "queues",
            "job_counts",
            "live_jobs_by_state",
            "teams",
            "recent_decisions",
            "placement_latency",
            "counters",
        ])
    );
    assert_eq!(json["version"], VERSION);
    assert_eq!(json["mode"], "config:/etc/gantry/fleet.yaml");
    assert_eq!(json["started_at"], "2026-03-02T08:57:57Z");
    assert!(json["uptime_seconds"].as_u64().unwrap() >= 3_723);
    assert_eq!(json["snapshot_at"], "2026-03-02T09:59:59.9Z");
    assert_eq!(json["readiness"]["ready"], true);
    assert_eq!(
        json["store"],
        serde_json::json!({"ready": true, "problem": null})
    );

    // Clusters, by name, with their pools.
    let clusters = json["clusters"].as_array().unwrap();
    let names: Vec<&str> = clusters
        .iter()
        .map(|cluster| cluster["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aws-us-east-1", "azure-eastus", "gcp-us-central1"]);
    let aws = &clusters[0];
    assert_eq!(
        keys(aws),
        set(&[
            "name",
            "cloud",
            "region",
            "health",
            "reason",
            "synced",
            "live_jobs",
            "inventory_at",
            "pools",
            "issues"
        ])
    );
    assert_eq!(aws["cloud"], "aws");
    assert_eq!(aws["health"], "Reachable");
    assert_eq!(aws["live_jobs"], 2);
    let od = &aws["pools"][0];
    assert_eq!(
        keys(od),
        set(&[
            "name",
            "instance_type",
            "zone",
            "capacity_type",
            "gpu_model",
            "gpus_per_node",
            "nodes",
            "capacity",
            "allocated",
            "price_per_node_hour_usd",
            "price_source",
            "price_age_s",
            "price_note",
            "catalog_note"
        ])
    );
    assert_eq!(od["catalog_note"], serde_json::Value::Null);
    assert_eq!(
        aws["pools"][1]["catalog_note"],
        "EC2 does not offer it in us-east-1b"
    );
    assert_eq!(od["name"], "h100-od");
    assert_eq!(
        od["price_per_node_hour_usd"], "98.32",
        "money as a decimal string"
    );
    assert_eq!(od["price_source"], "price-table");
    assert_eq!(od["gpu_model"], "H100");
    assert_eq!(od["capacity"]["gpus"], 24);
    assert_eq!(od["allocated"]["gpus"], 16);
    assert_eq!(
        od["nodes"],
        serde_json::json!({"total": 4, "usable": 3, "idle": 2})
    );
    let gcp = &clusters[2];
    assert_eq!(gcp["health"], "Degraded");
    assert_eq!(
        gcp["reason"],
        "3 of 10 calls failed: 429 \"Too Many Requests\""
    );
    assert_eq!(gcp["pools"][0]["name"], WEIRD_POOL);
    assert_eq!(gcp["pools"][0]["price_per_node_hour_usd"], "30.00");
    assert_eq!(gcp["pools"][1]["gpu_model"], Value::Null);
    assert_eq!(gcp["pools"][1]["price_per_node_hour_usd"], Value::Null);
    assert_eq!(gcp["pools"][1]["price_source"], "missing");
    assert_eq!(clusters[1]["health"], "Lost");

    // Queues and jobs.
    let queues: Vec<(&str, u64)> = json["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|queue| {
            (
                queue["team"].as_str().unwrap(),
                queue["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(queues, [(SCRIPT_TEAM, 1), ("org/nlp", 2), ("vision", 1)]);
    let counts = &json["job_counts"];
    assert_eq!(counts["total"], 5);
    assert_eq!(
        keys(&counts["by_state"]).len(),
        9,
        "every state, 0 included"
    );
    assert_eq!(counts["by_state"]["Queued"], 3);
    assert_eq!(counts["by_state"]["Succeeded"], 0);
    assert_eq!(counts["by_team"][0]["team"], "org/nlp");
    assert_eq!(counts["by_team"][0]["by_state"]["Cancelled"], 1);
    assert_eq!(json["live_jobs_by_state"]["Running"], 2);

    // Teams.
    let teams = json["teams"].as_array().unwrap();
    let nlp = &teams[1];
    assert_eq!(nlp["team"], "org/nlp");
    assert_eq!(nlp["gpus_used"], 24);
    assert_eq!(nlp["spend_today_usd"], "1234.56");
    assert_eq!(nlp["quota"]["gpus"], 32);
    assert_eq!(nlp["quota"]["gpus_by_model"]["H100"], 24);
    assert_eq!(teams[0]["quota"]["budget_per_day_usd"], "5000.00");
    assert_eq!(teams[2]["team"], "vision");
    assert_eq!(teams[2]["quota"], Value::Null);
    assert_eq!(teams[2]["spend_today_usd"], "0.00");

    // Decisions, newest first, RFC 3339.
    let decisions = json["recent_decisions"].as_array().unwrap();
    assert_eq!(decisions[0]["job"], "eval-9q1");
    assert_eq!(decisions[0]["at"], "2026-03-02T09:59:30Z");
    assert_eq!(decisions[1]["job"], "sft-7f3k2");
    assert_eq!(
        keys(&decisions[0]),
        set(&["at", "at_unix_ms", "job", "summary"])
    );

    // Latency estimates from the histogram: 6 placements, the median
    // between the 3rd (0.02 s, in (0.01, 0.025]) and 4th.
    let latency = &json["placement_latency"];
    assert_eq!(latency["count"], 6);
    let p50 = latency["p50_seconds"].as_f64().unwrap();
    assert!((0.01..=0.025).contains(&p50), "{p50}");
    let p99 = latency["p99_seconds"].as_f64().unwrap();
    assert_eq!(p99, 60.0, "in +Inf: the highest finite bound");
    assert_eq!(
        json["counters"],
        serde_json::json!({
            "scheduling_passes": 42,
            "placements": 7,
            "preemptions": 1,
            "list_spend_usd": "4321.50"
        })
    );
}

#[tokio::test]
async fn status_json_of_an_empty_daemon_has_the_same_fields() {
    let server = Server::start(empty_snapshot(), Arc::new(MemoryStore::new())).await;
    let json: Value = serde_json::from_str(&server.get("/api/v1/status").await.body).unwrap();
    assert_eq!(json["clusters"], serde_json::json!([]));
    assert_eq!(json["snapshot_at"], Value::Null);
    assert_eq!(json["placement_latency"]["p50_seconds"], Value::Null);
    assert_eq!(json["job_counts"]["total"], 0);
    assert_eq!(json["readiness"]["ready"], false);
    assert_eq!(keys(&json).len(), 16);
}

#[tokio::test]
async fn the_dashboard_is_self_contained_html_that_escapes_what_it_prints() {
    let server = Server::start(snapshot(true), store_with_jobs().await).await;
    let reply = server.get("/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "text/html; charset=utf-8");
    let page = &reply.body;
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains(r#"<meta http-equiv="refresh" content="5">"#));
    for cluster in ["aws-us-east-1", "gcp-us-central1", "azure-eastus"] {
        assert!(page.contains(&format!("<td>{cluster}</td>")), "{cluster}");
    }
    assert!(page.contains("<td>EC2 does not offer it in us-east-1b</td>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        !page.contains("<script"),
        "no script, and markup is escaped"
    );
    assert!(page.contains("waits: &lt;b&gt;no room&lt;/b&gt;"));
    assert!(!page.contains("<b>"));
    assert!(
        page.contains("pool &quot;a\\b&quot;\nnext"),
        "the weird pool name"
    );
    assert!(page.contains("429 &quot;Too Many Requests&quot;"));
    assert!(page.contains("98.32"));
    assert!(page.contains("1234.56"));
    for external in ["http://", "https://", "src="] {
        assert!(!page.contains(external), "no external asset: {external}");
    }
    for section in [
        "Clusters",
        "Pools",
        "Queues",
        "Teams",
        "Jobs in the store",
        "Recent decisions",
    ] {
        assert!(page.contains(&format!("<h2>{section}")), "{section}");
    }
    assert!(page.trim_end().ends_with("</html>"));
}

#[tokio::test]
async fn the_dashboard_of_an_empty_daemon_says_none() {
    let server = Server::start(empty_snapshot(), Arc::new(MemoryStore::new())).await;
    let reply = server.get("/").await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("not ready"));
    assert!(
        reply
            .body
            .contains("<td colspan=\"8\" class=\"meta\">none</td>")
    );
}

#[tokio::test]
async fn unknown_paths_are_not_found() {
    let server = Server::start(empty_snapshot(), Arc::new(MemoryStore::new())).await;
    assert_eq!(server.get("/api/v1/nothing").await.status, 404);
}
