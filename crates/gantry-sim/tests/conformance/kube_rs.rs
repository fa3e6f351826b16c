//! kube-rs: Api CRUD and every patch type, selectors, pagination, watcher,
//! reflector, watch resume and 410 Gone, errors as `metav1.Status`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use gantry_sim::SimOptions;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::Api;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

use crate::common::{self, await_pod, client, gpu_pod, phase, start_fleet};

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
        ..Default::default()
    }
}

fn api_error(error: kube::Error) -> Box<kube::core::Status> {
    match error {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_patch_and_errors_follow_upstream() {
    let fleet = start_fleet(common::options()).await;
    let client = client(&fleet.clusters()[0]);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let created = maps
        .create(&PostParams::default(), &config_map("one", &[("tier", "a")]))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    assert!(created.metadata.creation_timestamp.is_some());
    let rv: u64 = created
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();

    let status = api_error(
        maps.create(&PostParams::default(), &config_map("one", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );

    // generateName
    let mut generated = config_map("", &[("tier", "b")]);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".to_owned());
    let generated = maps
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    assert!(
        generated
            .metadata
            .name
            .as_deref()
            .unwrap()
            .starts_with("gen-")
    );
    assert_eq!(generated.metadata.name.as_deref().unwrap().len(), 9);

    // Optimistic concurrency: a stale resourceVersion is 409 Conflict.
    let mut stale = created.clone();
    stale.data = Some(BTreeMap::from([("k".to_owned(), "new".to_owned())]));
    let replaced = maps
        .replace("one", &PostParams::default(), &stale)
        .await
        .unwrap();
    assert!(
        replaced
            .metadata
            .resource_version
            .as_ref()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > rv
    );
    let status = api_error(
        maps.replace("one", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));

    // Patch types.
    let merged = maps
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"m": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.metadata.labels.as_ref().unwrap()["m"], "1");
    let strategic = maps
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"s": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(strategic.metadata.labels.as_ref().unwrap()["s"], "1");
    // (JSON patch is driven through kubectl --type=json; kube's Patch::Json needs its jsonpatch feature.)
    let unset = maps
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"m": null}}})),
        )
        .await
        .unwrap();
    assert!(!unset.metadata.labels.as_ref().unwrap().contains_key("m"));
    let applied = maps
        .patch("applied", &PatchParams::apply("conformance"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}})))
        .await
        .unwrap();
    assert_eq!(applied.data.as_ref().unwrap()["a"], "1");
    let applied = maps
        .patch("applied", &PatchParams::apply("conformance"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"b": "2"}})))
        .await
        .unwrap();
    assert_eq!(
        applied.data.as_ref().unwrap().get("b").map(String::as_str),
        Some("2")
    );
    assert!(
        applied
            .metadata
            .managed_fields
            .as_ref()
            .unwrap()
            .iter()
            .any(|m| m.manager.as_deref() == Some("conformance"))
    );
    let bad = api_error(
        maps.patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"bad": 5}}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(bad.code, 400, "a label that is not a string");

    // Selectors and pagination.
    let listed = maps
        .list(&ListParams::default().labels("tier in (a,b),!missing"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
    let status = api_error(
        maps.list(&ListParams::default().labels("tier in a"))
            .await
            .unwrap_err(),
    );
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    let status = api_error(
        maps.list(&ListParams::default().fields("spec.bogus=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 400);
    let first = maps.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(first.items.len(), 1);
    let token = first.metadata.continue_.clone().unwrap();
    assert_eq!(first.metadata.remaining_item_count, Some(2));
    let second = maps
        .list(&ListParams::default().limit(5).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 2);
    assert!(
        second
            .metadata
            .continue_
            .as_deref()
            .unwrap_or_default()
            .is_empty()
    );

    // Not found, and delete with a uid precondition.
    let status = api_error(maps.get("nope").await.unwrap_err());
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    let wrong = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("other".to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    assert_eq!(
        api_error(maps.delete("one", &wrong).await.unwrap_err()).code,
        409
    );
    let right = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    maps.delete("one", &right).await.unwrap();
    assert_eq!(api_error(maps.get("one").await.unwrap_err()).code, 404);

    // A pod in a namespace that does not exist is 404; an invalid pod is 422.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "nowhere");
    assert_eq!(
        api_error(
            pods.create(&PostParams::default(), &gpu_pod("p", "1m", 0, json!({})))
                .await
                .unwrap_err()
        )
        .code,
        404
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let invalid: Pod = serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).unwrap();
    let status = api_error(
        pods.create(&PostParams::default(), &invalid)
            .await
            .unwrap_err(),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    fleet.shutdown().await;
}

#[tokio::test]
async fn nodes_carry_cloud_labels_taints_and_gpus() {
    let fleet = start_fleet(common::options()).await;
    let nodes: Api<Node> = Api::all(client(&fleet.clusters()[0]));
    let listed = nodes
        .list(&ListParams::default().labels("eks.amazonaws.com/capacityType=SPOT"))
        .await
        .unwrap();
    assert_eq!(
        listed.items.len(),
        6,
        "g5-a10g-spot (4) + g6e-l40s-spot (2)"
    );
    let node = &listed.items[0];
    let labels = node.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["topology.kubernetes.io/region"], "us-east-1");
    assert!(labels.contains_key("node.kubernetes.io/instance-type"));
    assert!(labels.contains_key("nvidia.com/gpu.product"));
    let allocatable = node.status.as_ref().unwrap().allocatable.as_ref().unwrap();
    assert!(allocatable.contains_key("nvidia.com/gpu"));
    let taints = node.spec.as_ref().unwrap().taints.clone().unwrap();
    assert!(
        taints
            .iter()
            .any(|t| t.key == "nvidia.com/gpu" && t.effect == "NoSchedule")
    );

    let gcp: Api<Node> = Api::all(client(fleet.cluster("gcp-us-central1").unwrap()));
    let spot = gcp
        .list(&ListParams::default().labels("cloud.google.com/gke-spot=true"))
        .await
        .unwrap();
    assert_eq!(spot.items.len(), 12);
    let azure: Api<Node> = Api::all(client(fleet.cluster("azure-westeurope").unwrap()));
    let spot = azure
        .list(&ListParams::default().labels("kubernetes.azure.com/scalesetpriority=spot"))
        .await
        .unwrap();
    assert!(spot.items.iter().all(|n| {
        n.spec
            .as_ref()
            .unwrap()
            .taints
            .as_ref()
            .unwrap()
            .iter()
            .any(|t| t.key == "kubernetes.azure.com/scalesetpriority")
    }));
    fleet.shutdown().await;
}

#[tokio::test]
async fn watcher_and_reflector_follow_a_pod_to_completion() {
    let fleet = start_fleet(common::options()).await;
    let client = client(&fleet.clusters()[0]);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (reader, writer) = reflector::store::<Pod>();
    let phases = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = phases.clone();
    let stream = reflector(
        writer,
        watcher(
            pods.clone(),
            watcher::Config::default().labels("app=conformance"),
        ),
    )
    .applied_objects()
    .try_for_each(move |pod| {
        let mut phases = seen.lock().unwrap();
        let phase = phase(&pod).to_owned();
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
        futures_util::future::ready(Ok(()))
    });
    let watching = tokio::spawn(stream);
    reader.wait_until_ready().await.unwrap();
    pods.create(
        &PostParams::default(),
        &gpu_pod("watched", "30m", 0, json!({})),
    )
    .await
    .unwrap();
    let done = await_pod(&pods, "watched", |pod| phase(pod) == "Succeeded").await;
    let terminated = done.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.reason.as_deref()),
        (0, Some("Completed"))
    );
    // The reflector converges on the same state.
    tokio::time::timeout(Duration::from_secs(10), async {
        while reader
            .get(&kube::runtime::reflector::ObjectRef::new("watched").within("default"))
            .is_none_or(|p| phase(&p) != "Succeeded")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        *phases.lock().unwrap(),
        vec!["Pending", "Running", "Succeeded"]
    );
    watching.abort();
    fleet.shutdown().await;
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version_and_old_ones_are_gone() {
    let options = SimOptions {
        watch_history: 16,
        ..common::options()
    };
    let fleet = start_fleet(options).await;
    let maps: Api<ConfigMap> = Api::namespaced(client(&fleet.clusters()[0]), "default");
    let start = maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for index in 0..3 {
        maps.create(
            &PostParams::default(),
            &config_map(&format!("w{index}"), &[]),
        )
        .await
        .unwrap();
    }
    let params = WatchParams::default().timeout(2);
    let mut stream = maps.watch(&params, &start).await.unwrap().boxed();
    let mut names = Vec::new();
    while names.len() < 3 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(map) => names.push(map.metadata.name.unwrap()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(names, ["w0", "w1", "w2"]);
    // Push the start out of the 16-event history: the same watch is now 410 Gone.
    for index in 0..20 {
        maps.patch(
            "w0",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"i": index.to_string()}})),
        )
        .await
        .unwrap();
    }
    let mut stream = maps.watch(&params, &start).await.unwrap().boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected 410, got {other:?}"),
    }
    // Bookmarks when asked.
    let now = maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = maps
        .watch(
            &WatchParams::default().timeout(5).labels("nothing=here"),
            &now,
        )
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Bookmark(bookmark) => assert!(
            bookmark.metadata.resource_version.parse::<u64>().unwrap()
                >= now.parse::<u64>().unwrap()
        ),
        other => panic!("expected a bookmark, got {other:?}"),
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn jobs_run_indexed_and_fail_past_their_backoff_limit() {
    let fleet = start_fleet(common::options()).await;
    let client = client(&fleet.clusters()[0]);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let job = |name: &str, code: i32, backoff: i32| -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "completions": 2, "parallelism": 2, "completionMode": "Indexed", "backoffLimit": backoff,
                "template": {
                    "metadata": {"annotations": {"sim.gantry.dev/duration": "20m", "sim.gantry.dev/exit-code": code.to_string()}},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]},
                },
            },
        }))
        .unwrap()
    };
    jobs.create(&PostParams::default(), &job("ok", 0, 1))
        .await
        .unwrap();
    jobs.create(&PostParams::default(), &job("bad", 1, 1))
        .await
        .unwrap();
    let condition = |wanted: &'static str| {
        move |job: Option<&Job>| {
            job.and_then(|j| j.status.as_ref()?.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == wanted && c.status == "True"))
        }
    };
    let ok = tokio::time::timeout(
        Duration::from_secs(30),
        kube::runtime::wait::await_condition(jobs.clone(), "ok", condition("Complete")),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let status = ok.status.unwrap();
    assert_eq!(
        (status.succeeded, status.completed_indexes.as_deref()),
        (Some(2), Some("0-1"))
    );
    let bad = tokio::time::timeout(
        Duration::from_secs(30),
        kube::runtime::wait::await_condition(jobs.clone(), "bad", condition("Failed")),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let failed = bad
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .unwrap();
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    let indexed = pods
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=ok"))
        .await
        .unwrap();
    let mut indexes: Vec<String> = indexed
        .items
        .iter()
        .map(|p| {
            p.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"]
                .clone()
        })
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["0", "1"]);
    // Background deletion garbage-collects the pods.
    jobs.delete("ok", &DeleteParams::background())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !pods
            .list(&ListParams::default().labels("batch.kubernetes.io/job-name=ok"))
            .await
            .unwrap()
            .items
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    fleet.shutdown().await;
}
