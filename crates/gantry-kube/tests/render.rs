//! Render snapshots: every job in `examples/` placed on the first pool of the
//! dev fleet that its constraints allow, rendered for a real cluster; and
//! the properties every rendering keeps.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use gantry_core::{ClusterAccess, FleetConfig, JobId, JobKind, JobSpec, Replicas};
use gantry_kube::{RenderInput, Target, Workload, WorkloadKey, render};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn dev_fleet() -> FleetConfig {
    let text = std::fs::read_to_string(examples().join("fleet-dev.yaml")).unwrap();
    gantry_spec::parse_config(&text).unwrap()
}

fn job_examples() -> Vec<(String, JobSpec)> {
    let mut jobs = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Ok(job) = gantry_spec::parse_job(&text) {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            jobs.push((stem, job));
        }
    }
    assert!(
        jobs.len() >= 8,
        "expected the example jobs, found {}",
        jobs.len()
    );
    jobs
}

/// The first pool, in config order, that can hold one replica of `job`.
fn choose_target(fleet: &FleetConfig, job: &JobSpec) -> Target {
    for cluster in &fleet.clusters {
        let ClusterAccess::Simulated { node_pools } = &cluster.access else {
            continue;
        };
        if !job.placement.allows_cloud(cluster.cloud)
            || !job.placement.allows_region(&cluster.region)
        {
            continue;
        }
        for pool in node_pools {
            if !job.placement.spot.accepts(pool.capacity_type) {
                continue;
            }
            let gpus = job.resources.gpu_count();
            let gpu_ok = match (&job.resources.gpu, pool.gpu) {
                (Some(request), Some((model, count))) if gpus > 0 => {
                    request.accepts(model) && count >= gpus
                }
                (_, None) => gpus == 0,
                _ => gpus == 0,
            };
            if !gpu_ok
                || pool.cpu_millis < job.resources.cpu_millis
                || pool.memory_bytes < job.resources.memory_bytes
            {
                continue;
            }
            let replicas = match job.replicas {
                Replicas::Gang { count } => count,
                Replicas::Range { min, .. } => min,
            };
            return Target {
                cluster: cluster.name.clone(),
                cloud: cluster.cloud,
                pool: pool.name.clone(),
                instance_type: pool.instance_type.clone(),
                zone: pool.zone.clone(),
                capacity_type: pool.capacity_type,
                gpu_model: pool.gpu.map(|(model, _)| model),
                replicas,
                expected_runtime: job.expected_runtime_or_default(),
            };
        }
    }
    panic!("no dev pool fits {}", job.name);
}

fn objects(workload: &Workload) -> Vec<serde_json::Value> {
    match workload {
        Workload::Training { service, job } => vec![
            serde_json::to_value(service).unwrap(),
            serde_json::to_value(job.as_ref()).unwrap(),
        ],
        Workload::Inference {
            service,
            deployment,
        } => vec![
            serde_json::to_value(service).unwrap(),
            serde_json::to_value(deployment.as_ref()).unwrap(),
        ],
    }
}

#[test]
fn every_example_renders_as_its_snapshot() {
    let fleet = dev_fleet();
    for (stem, job) in job_examples() {
        let target = choose_target(&fleet, &job);
        let key = WorkloadKey::new(JobId::new(format!("{}-x7k2p", job.name)).unwrap(), 1);
        let workload = render(RenderInput {
            key: &key,
            spec: &job,
            target: &target,
            namespace: "gantry",
            simulated: false,
        });
        insta::assert_yaml_snapshot!(stem, objects(&workload));
    }
}

#[test]
fn renderings_keep_their_invariants() {
    let fleet = dev_fleet();
    for (stem, job) in job_examples() {
        let target = choose_target(&fleet, &job);
        let key = WorkloadKey::new(JobId::new("job-abc").unwrap(), 2);
        let input = RenderInput {
            key: &key,
            spec: &job,
            target: &target,
            namespace: "ns",
            simulated: true,
        };
        let first = render(input);
        assert_eq!(first, render(input), "{stem}: same input, same objects");
        let values = objects(&first);
        for object in &values {
            let labels = &object["metadata"]["labels"];
            assert_eq!(labels["app.kubernetes.io/managed-by"], "gantry", "{stem}");
            assert_eq!(labels["gantry.dev/job-id"], "job-abc", "{stem}");
            assert_eq!(labels["gantry.dev/attempt"], "2", "{stem}");
            assert_eq!(object["metadata"]["name"], "job-abc-2", "{stem}");
        }
        let workload = &values[1];
        let template = &workload["spec"]["template"];
        let pod = &template["spec"];
        let container = &pod["containers"][0];
        assert_eq!(container["image"], job.image.as_str(), "{stem}");
        assert_eq!(
            pod["nodeSelector"]["node.kubernetes.io/instance-type"],
            target.instance_type.as_str()
        );
        assert_eq!(
            pod["nodeSelector"]["topology.kubernetes.io/zone"],
            target.zone.as_str()
        );
        // The simulated run time is the expected runtime on the chosen model.
        let duration = template["metadata"]["annotations"]["sim.gantry.dev/duration"].as_str();
        if job.kind == JobKind::Training {
            assert_eq!(
                duration.map(|d| gantry_core::parse_duration(d).unwrap()),
                Some(target.expected_runtime),
                "{stem}"
            );
        }
        let gpus = job.resources.gpu_count();
        let limit = container["resources"]["limits"]["nvidia.com/gpu"].as_str();
        assert_eq!(
            limit,
            (gpus > 0).then(|| gpus.to_string()).as_deref(),
            "{stem}"
        );
        let tolerates_gpu = pod["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "nvidia.com/gpu");
        assert_eq!(tolerates_gpu, gpus > 0, "{stem}");
        match job.kind {
            JobKind::Training => {
                let spec = &workload["spec"];
                let replicas = target.replicas;
                assert_eq!(spec["completionMode"], "Indexed");
                assert_eq!(spec["completions"], replicas);
                assert_eq!(spec["parallelism"], replicas);
                assert_eq!(spec["backoffLimit"], 0);
                assert_eq!(
                    spec["activeDeadlineSeconds"].as_u64(),
                    job.max_runtime.map(|d| d.as_secs()),
                    "{stem}"
                );
                assert_eq!(pod["subdomain"], "job-abc-2");
                assert_eq!(values[0]["spec"]["clusterIP"], "None");
                let env = container["env"].as_array().unwrap();
                let find = |name: &str| env.iter().find(|e| e["name"] == name).cloned();
                assert_eq!(find("WORLD_SIZE").unwrap()["value"], replicas.to_string());
                assert_eq!(
                    find("MASTER_ADDR").unwrap()["value"],
                    "job-abc-2-0.job-abc-2.ns.svc"
                );
                assert_eq!(
                    find("RANK").unwrap()["valueFrom"]["fieldRef"]["fieldPath"],
                    "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                );
            }
            JobKind::Inference => {
                assert_eq!(workload["spec"]["replicas"], target.replicas);
                assert!(container["readinessProbe"]["httpGet"]["path"].is_string());
            }
        }
    }
}
