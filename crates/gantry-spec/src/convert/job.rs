//! `TrainingJob` / `InferenceService` wire types -> [`JobSpec`].

use std::collections::BTreeSet;
use std::time::Duration;

use gantry_core::{
    Checkpoint, DataInput, DataUri, GpuRequest, JobKind, JobSpec, Placement, PodResources,
    Replicas, ServiceSpec, SpotPolicy, priority_class,
};

use super::cursor::Cursor;
use super::scalars::{self, required};
use crate::v1;

/// Replicas of a gang at most.
pub const MAX_GANG_REPLICAS: u32 = 1024;
/// Default checkpoint interval.
pub const DEFAULT_CHECKPOINT_MINUTES: u32 = 30;

struct Common {
    name: String,
    team: gantry_core::TeamPath,
    labels: std::collections::BTreeMap<String, String>,
    annotations: std::collections::BTreeMap<String, String>,
}

fn api_version(version: &Option<v1::ApiVersion>, cursor: &Cursor<'_>) {
    required(
        version,
        &cursor.field("apiVersion"),
        "set it to gantry.dev/v1",
    );
}

fn metadata(metadata: &Option<v1::Metadata>, cursor: &Cursor<'_>) -> Option<Common> {
    let cursor = cursor.field("metadata");
    let metadata = required(metadata, &cursor, "name and team of the job")?;
    let name_cursor = cursor.field("name");
    let name = required(
        &metadata.name,
        &name_cursor,
        "a DNS-1123 name for the job, e.g. llama-8b-sft",
    )
    .and_then(|name| scalars::dns_label(name, &name_cursor));
    let team_cursor = cursor.field("team");
    let team = required(
        &metadata.team,
        &team_cursor,
        "the team whose quota pays, e.g. nlp or org/nlp",
    )
    .and_then(|team| scalars::team_path(team, &team_cursor));
    let labels = scalars::labels(&metadata.labels, &cursor.field("labels"), true);
    let annotations = scalars::labels(&metadata.annotations, &cursor.field("annotations"), false);
    Some(Common {
        name: name?,
        team: team?,
        labels,
        annotations,
    })
}

fn resources(resources: &Option<v1::Resources>, cursor: &Cursor<'_>) -> Option<PodResources> {
    let cursor = cursor.field("resources");
    let resources = required(
        resources,
        &cursor,
        "cpu, memory and, for GPU jobs, gpu per replica",
    )?;
    let cpu_cursor = cursor.field("cpu");
    let cpu = required(
        &resources.cpu,
        &cpu_cursor,
        "CPU cores per replica, e.g. 8 or 500m",
    )
    .and_then(|cpu| scalars::cpu_millis(cpu, &cpu_cursor));
    let memory_cursor = cursor.field("memory");
    let memory = required(
        &resources.memory,
        &memory_cursor,
        "memory per replica, e.g. 64Gi",
    )
    .and_then(|memory| scalars::memory_bytes(memory, &memory_cursor));
    let gpu = match &resources.gpu {
        Some(gpu) => Some(gpu_request(gpu, &cursor.field("gpu"))?),
        None => None,
    };
    Some(PodResources {
        cpu_millis: cpu?,
        memory_bytes: memory?,
        gpu,
    })
}

fn gpu_request(gpu: &v1::GpuResources, cursor: &Cursor<'_>) -> Option<GpuRequest> {
    let count_cursor = cursor.field("count");
    let count = match required(&gpu.count, &count_cursor, "GPUs per replica, e.g. 8") {
        Some(0) => count_cursor.fail("must be at least 1; leave `gpu` out for a CPU-only job"),
        Some(count) if *count > 64 => count_cursor.fail(format!(
            "{count} GPUs on one node is more than any machine has; use replicas for more nodes"
        )),
        Some(count) => Some(*count),
        None => None,
    };
    let types_cursor = cursor.field("types");
    let mut models = Vec::new();
    let mut all_known = true;
    if let Some(types) = required(
        &gpu.types,
        &types_cursor,
        "acceptable GPU models, e.g. [H100, A100-80GB]",
    ) {
        if types.is_empty() {
            types_cursor.error("list at least one GPU model, e.g. [H100]");
            all_known = false;
        }
        for (index, text) in types.iter().enumerate() {
            let item = types_cursor.index(index);
            match scalars::gpu_model(&text.0, &item) {
                Some(model) if models.contains(&model) => {
                    item.error(format!("`{}` is {model}, which is already listed", text.0));
                    all_known = false;
                }
                Some(model) => models.push(model),
                None => all_known = false,
            }
        }
    } else {
        all_known = false;
    }
    if !all_known {
        return None;
    }
    Some(GpuRequest {
        count: count?,
        models,
    })
}

fn placement(placement: &Option<v1::Placement>, cursor: &Cursor<'_>) -> Option<Placement> {
    let Some(placement) = placement else {
        return Some(Placement::default());
    };
    let cursor = cursor.field("placement");
    let clouds_cursor = cursor.field("clouds");
    let mut clouds = BTreeSet::new();
    for (index, cloud) in placement.clouds.iter().enumerate() {
        let cloud = cloud_of(*cloud);
        if !clouds.insert(cloud) {
            clouds_cursor
                .index(index)
                .error(format!("`{cloud}` is listed twice"));
        }
    }
    let regions = scalars::globs(&placement.regions, &cursor.field("regions"));
    let clusters = scalars::globs(&placement.clusters, &cursor.field("clusters"));
    let cost_cursor = cursor.field("maxHourlyCost");
    let max_hourly_cost = match &placement.max_hourly_cost {
        Some(text) => match scalars::dollars(text, &cost_cursor) {
            Some(money) if money.micros() == 0 => {
                cost_cursor.fail("must be more than 0; leave it out for no limit")
            }
            Some(money) => Some(money),
            None => return None,
        },
        None => None,
    };
    Some(Placement {
        clouds,
        regions,
        clusters,
        spot: spot_of(placement.spot.unwrap_or_default()),
        max_hourly_cost,
    })
}

pub(crate) fn cloud_of(cloud: v1::Cloud) -> gantry_core::Cloud {
    match cloud {
        v1::Cloud::Aws => gantry_core::Cloud::Aws,
        v1::Cloud::Gcp => gantry_core::Cloud::Gcp,
        v1::Cloud::Azure => gantry_core::Cloud::Azure,
        v1::Cloud::Onprem => gantry_core::Cloud::Onprem,
    }
}

fn spot_of(spot: v1::SpotPolicy) -> SpotPolicy {
    match spot {
        v1::SpotPolicy::Never => SpotPolicy::Never,
        v1::SpotPolicy::Allowed => SpotPolicy::Allowed,
        v1::SpotPolicy::Required => SpotPolicy::Required,
    }
}

fn data_uri(uri: &Option<String>, cursor: &Cursor<'_>, what: &str) -> Option<DataUri> {
    let uri = required(uri, cursor, what)?;
    match DataUri::parse(uri) {
        Ok(uri) => Some(uri),
        Err(error) => cursor.fail(error.to_string()),
    }
}

fn data(inputs: &[v1::DataInput], cursor: &Cursor<'_>) -> Option<Vec<DataInput>> {
    let cursor = cursor.field("data");
    let mut converted = Vec::new();
    let mut ok = true;
    for (index, input) in inputs.iter().enumerate() {
        let item = cursor.index(index);
        let uri = data_uri(
            &input.uri,
            &item.field("uri"),
            "where the data is, e.g. gs://bucket/prefix/",
        );
        let size_bytes = match input.size_gib {
            Some(size) if !size.is_finite() || size < 0.0 => {
                item.field("sizeGiB").fail("must be 0 or more")
            }
            Some(size) if size > 1.0e9 => item
                .field("sizeGiB")
                .fail("is larger than an exabyte; check the unit (GiB)"),
            Some(size) => Some(Some((size * 1024.0 * 1024.0 * 1024.0).round() as u64)),
            None => Some(None),
        };
        match (uri, size_bytes) {
            (Some(uri), Some(size_bytes)) => converted.push(DataInput { uri, size_bytes }),
            _ => ok = false,
        }
    }
    ok.then_some(converted)
}

fn checkpoint(
    checkpoint: &Option<v1::Checkpoint>,
    cursor: &Cursor<'_>,
) -> Option<Option<Checkpoint>> {
    let Some(checkpoint) = checkpoint else {
        return Some(None);
    };
    let cursor = cursor.field("checkpoint");
    let uri = data_uri(
        &checkpoint.uri,
        &cursor.field("uri"),
        "where checkpoints go, e.g. gs://bucket/ckpt/",
    );
    let minutes = match checkpoint.every_minutes {
        Some(0) => cursor.field("everyMinutes").fail("must be at least 1"),
        Some(minutes) => Some(minutes),
        None => Some(DEFAULT_CHECKPOINT_MINUTES),
    };
    Some(Some(Checkpoint {
        uri: uri?,
        every: Duration::from_secs(u64::from(minutes?) * 60),
    }))
}

fn runtimes(
    expected: &Option<v1::DurationText>,
    maximum: &Option<v1::DurationText>,
    cursor: &Cursor<'_>,
) -> Option<(Option<Duration>, Option<Duration>)> {
    let expected_cursor = cursor.field("expectedRuntime");
    let maximum_cursor = cursor.field("maxRuntime");
    let expected_runtime = match expected {
        Some(text) => Some(scalars::duration(text, &expected_cursor)?),
        None => None,
    };
    let max_runtime = match maximum {
        Some(text) => Some(scalars::duration(text, &maximum_cursor)?),
        None => None,
    };
    if let (Some(expected), Some(maximum)) = (expected_runtime, max_runtime)
        && expected > maximum
    {
        return expected_cursor.fail(format!(
            "expected runtime {} is longer than maxRuntime {}; the job would be killed before it finishes",
            gantry_core::format_duration(expected),
            gantry_core::format_duration(maximum)
        ));
    }
    Some((expected_runtime, max_runtime))
}

fn priority(priority: &Option<v1::PriorityText>, cursor: &Cursor<'_>) -> Option<u32> {
    match priority {
        Some(text) => scalars::priority(text, &cursor.field("priority")),
        None => Some(priority_class::NORMAL),
    }
}

/// What both kinds run: image, environment, per-replica resources.
struct Container {
    image: Option<String>,
    env: std::collections::BTreeMap<String, String>,
    resources: Option<PodResources>,
}

fn container(
    image: &Option<String>,
    env: &std::collections::BTreeMap<String, String>,
    wire_resources: &Option<v1::Resources>,
    spec_cursor: &Cursor<'_>,
    image_hint: &str,
) -> Container {
    let image_cursor = spec_cursor.field("image");
    Container {
        image: required(image, &image_cursor, image_hint)
            .and_then(|image| scalars::image(image, &image_cursor)),
        env: scalars::env(env, &spec_cursor.field("env")),
        resources: resources(wire_resources, spec_cursor),
    }
}

/// Converts a `TrainingJob`; `None` when anything was wrong (see the report).
pub(crate) fn training(wire: &v1::TrainingJob, cursor: &Cursor<'_>) -> Option<JobSpec> {
    api_version(&wire.api_version, cursor);
    let common = metadata(&wire.metadata, cursor);
    let spec_cursor = cursor.field("spec");
    let spec = required(
        &wire.spec,
        &spec_cursor,
        "what to run: image, resources, ...",
    )?;
    let Container {
        image,
        env,
        resources,
    } = container(
        &spec.image,
        &spec.env,
        &spec.resources,
        &spec_cursor,
        "the container image to run, e.g. ghcr.io/acme/trainer:1.0",
    );
    let replicas_cursor = spec_cursor.field("replicas");
    let replicas = match spec.replicas {
        Some(0) => replicas_cursor.fail("must be at least 1"),
        Some(count) if count > MAX_GANG_REPLICAS => replicas_cursor.fail(format!(
            "a gang of {count} nodes is more than the limit of {MAX_GANG_REPLICAS}"
        )),
        Some(count) => Some(count),
        None => Some(1),
    };
    let placement = placement(&spec.placement, &spec_cursor);
    let data = data(&spec.data, &spec_cursor);
    let checkpoint = checkpoint(&spec.checkpoint, &spec_cursor);
    let runtimes = runtimes(&spec.expected_runtime, &spec.max_runtime, &spec_cursor);
    let priority = priority(&spec.priority, &spec_cursor);
    let retries = match spec.retries {
        Some(retries) if retries > 100 => spec_cursor.field("retries").fail("at most 100 retries"),
        retries => Some(retries.unwrap_or(0)),
    };
    let common = common?;
    let (expected_runtime, max_runtime) = runtimes?;
    Some(JobSpec {
        kind: JobKind::Training,
        name: common.name,
        team: common.team,
        labels: common.labels,
        annotations: common.annotations,
        image: image?,
        command: spec.command.clone(),
        args: spec.args.clone(),
        env,
        resources: resources?,
        replicas: Replicas::Gang { count: replicas? },
        placement: placement?,
        data: data?,
        checkpoint: checkpoint?,
        expected_runtime,
        max_runtime,
        priority: priority?,
        preemptible: spec.preemptible.unwrap_or(true),
        retries: retries?,
        service: None,
    })
}

/// Converts an `InferenceService`; `None` when anything was wrong.
pub(crate) fn inference(wire: &v1::InferenceService, cursor: &Cursor<'_>) -> Option<JobSpec> {
    api_version(&wire.api_version, cursor);
    let common = metadata(&wire.metadata, cursor);
    let spec_cursor = cursor.field("spec");
    let spec = required(
        &wire.spec,
        &spec_cursor,
        "what to serve: image, resources, replicas, port",
    )?;
    let Container {
        image,
        env,
        resources,
    } = container(
        &spec.image,
        &spec.env,
        &spec.resources,
        &spec_cursor,
        "the container image to serve, e.g. vllm/vllm-openai:v0.6.3",
    );
    let replicas_cursor = spec_cursor.field("replicas");
    let replicas = required(
        &spec.replicas,
        &replicas_cursor,
        "how many replicas serve, e.g. {min: 1, max: 4}",
    )
    .and_then(|range| {
        let min_cursor = replicas_cursor.field("min");
        let max_cursor = replicas_cursor.field("max");
        let min = match required(
            &range.min,
            &min_cursor,
            "fewest replicas serving, at least 1",
        ) {
            Some(0) => min_cursor.fail("must be at least 1"),
            other => other.copied(),
        };
        let max = required(&range.max, &max_cursor, "most replicas serving").copied();
        match (min, max) {
            (Some(min), Some(max)) if max < min => {
                max_cursor.fail(format!("max ({max}) is less than min ({min})"))
            }
            (Some(min), Some(max)) => Some(Replicas::Range { min, max }),
            _ => None,
        }
    });
    let port_cursor = spec_cursor.field("port");
    let port = match required(
        &spec.port,
        &port_cursor,
        "the port the server listens on, e.g. 8000",
    ) {
        Some(port) => match u16::try_from(*port) {
            Ok(0) | Err(_) => port_cursor.fail(format!("{port} is not a TCP port; use 1 to 65535")),
            Ok(port) => Some(port),
        },
        None => None,
    };
    let readiness_cursor = spec_cursor.field("readiness");
    let (readiness_path, initial_delay, period) = match &spec.readiness {
        Some(readiness) => {
            let path_cursor = readiness_cursor.field("path");
            let path = match required(
                &readiness.path,
                &path_cursor,
                "the HTTP path that answers when ready, e.g. /health",
            ) {
                Some(path) if !path.starts_with('/') => {
                    path_cursor.fail(format!("`{path}` must start with `/`"))
                }
                Some(path) => Some(path.clone()),
                None => None,
            };
            let period = match readiness.period_seconds {
                Some(0) => readiness_cursor
                    .field("periodSeconds")
                    .fail("must be at least 1"),
                other => Some(other.unwrap_or(10)),
            };
            (path, readiness.initial_delay_seconds.unwrap_or(0), period)
        }
        None => (Some("/".to_owned()), 0, Some(10)),
    };
    let placement = placement(&spec.placement, &spec_cursor);
    let data = data(&spec.data, &spec_cursor);
    let priority = priority(&spec.priority, &spec_cursor);
    let common = common?;
    Some(JobSpec {
        kind: JobKind::Inference,
        name: common.name,
        team: common.team,
        labels: common.labels,
        annotations: common.annotations,
        image: image?,
        command: spec.command.clone(),
        args: spec.args.clone(),
        env,
        resources: resources?,
        replicas: replicas?,
        placement: placement?,
        data: data?,
        checkpoint: None,
        expected_runtime: None,
        max_runtime: None,
        priority: priority?,
        preemptible: spec.preemptible.unwrap_or(false),
        retries: 0,
        service: Some(ServiceSpec {
            port: port?,
            readiness_path: readiness_path?,
            readiness_initial_delay_seconds: initial_delay,
            readiness_period_seconds: period?,
        }),
    })
}
