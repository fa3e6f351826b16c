//! `GantryConfig` wire type -> [`FleetConfig`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;

use gantry_core::{
    AwsApi, CapacityType, CloudApis, CloudQuota, ClusterAccess, ClusterConfig, FleetConfig, GcsApi,
    GpuModel, NodePoolConfig, ProvenanceExport, SimulationConfig, StorageConfig, TeamQuota,
    fleet_config,
};

use super::cursor::Cursor;
use super::job::cloud_of;
use super::scalars::{self, required};
use crate::v1;
use crate::v1::DurationText;

/// Converts a `GantryConfig`; `None` when anything was wrong.
pub(crate) fn gantry_config(wire: &v1::GantryConfig, cursor: &Cursor<'_>) -> Option<FleetConfig> {
    required(
        &wire.api_version,
        &cursor.field("apiVersion"),
        "set it to gantry.dev/v1",
    );
    let (grpc_address, http_address) = listen(&wire.listen, &cursor.field("listen"));
    let storage = storage(&wire.storage, &cursor.field("storage"));
    let simulation = simulation(&wire.simulation, &cursor.field("simulation"));
    let clusters_cursor = cursor.field("clusters");
    let clusters = required(
        &wire.clusters,
        &clusters_cursor,
        "the Kubernetes clusters to place on",
    )
    .and_then(|clusters| self::clusters(clusters, &clusters_cursor));
    let prices_cursor = cursor.field("prices");
    let price_tables: Vec<PathBuf> = wire
        .prices
        .iter()
        .enumerate()
        .filter_map(|(index, source)| {
            let path_cursor = prices_cursor.index(index).field("path");
            match required(&source.path, &path_cursor, "a CSV price table file") {
                Some(path) if path.trim().is_empty() => path_cursor.fail("must not be empty"),
                Some(path) => Some(PathBuf::from(path)),
                None => None,
            }
        })
        .collect();
    let teams = teams(&wire.teams, &cursor.field("teams"));
    let cloud_quotas = cloud_quotas(&wire.cloud_quotas, &cursor.field("cloudQuotas"));
    let cloud_apis = cloud_apis(wire, cursor);
    if !cursor.report().is_clean() {
        return None;
    }
    Some(FleetConfig {
        grpc_address: grpc_address?,
        http_address: http_address?,
        storage: storage?,
        simulation: simulation?,
        clusters: clusters?,
        price_tables,
        teams: teams?,
        cloud_quotas: cloud_quotas?,
        cloud_apis: cloud_apis?,
    })
}

fn endpoint(text: &Option<String>, cursor: &Cursor<'_>) -> Option<Option<String>> {
    match text {
        None => Some(None),
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(Some(url.trim_end_matches('/').to_owned()))
        }
        Some(_) => cursor.fail("must be an http:// or https:// URL"),
    }
}

fn cloud_apis(wire: &v1::GantryConfig, cursor: &Cursor<'_>) -> Option<CloudApis> {
    let aws = match &wire.aws {
        None => Some(None),
        Some(aws) => {
            let aws_cursor = cursor.field("aws");
            let endpoint = endpoint(&aws.endpoint, &aws_cursor.field("endpoint"));
            let spot = aws_cursor.field("spotPrices");
            let duration = |text: Option<&DurationText>, field: &str, default| match text {
                None => Some(default),
                Some(text) => {
                    let field = spot.field(field);
                    match scalars::duration(text, &field) {
                        Some(duration) if duration.is_zero() => field.fail("must be more than 0"),
                        other => other,
                    }
                }
            };
            let prices = aws.spot_prices.as_ref();
            let refresh = duration(
                prices.and_then(|p| p.refresh.as_ref()),
                "refresh",
                fleet_config::DEFAULT_SPOT_PRICE_REFRESH,
            );
            let max_age = duration(
                prices.and_then(|p| p.max_age.as_ref()),
                "maxAge",
                fleet_config::DEFAULT_SPOT_PRICE_MAX_AGE,
            );
            if let (Some(refresh), Some(max_age)) = (refresh, max_age)
                && max_age < refresh
            {
                spot.field("maxAge").error(
                    "must be at least `refresh`: every price would be stale between refreshes",
                );
            }
            Some(Some(AwsApi {
                endpoint: endpoint?,
                spot_price_refresh: refresh?,
                spot_price_max_age: max_age?,
            }))
        }
    };
    let gcs = match &wire.gcs {
        None => Some(None),
        Some(gcs) => {
            let gcs_cursor = cursor.field("gcs");
            let endpoint = endpoint(&gcs.endpoint, &gcs_cursor.field("endpoint"));
            Some(Some(GcsApi {
                endpoint: endpoint?,
                anonymous: gcs.anonymous.unwrap_or(false),
            }))
        }
    };
    let provenance = match &wire.provenance {
        None => Some(None),
        Some(provenance) => {
            let provenance_cursor = cursor.field("provenance");
            if wire.gcs.is_none() {
                provenance_cursor.error("records are written through Cloud Storage: set `gcs` too");
            }
            let bucket = required(
                &provenance.bucket,
                &provenance_cursor.field("bucket"),
                "the bucket records are written to",
            )
            .and_then(|bucket| {
                let valid = (3..=63).contains(&bucket.len())
                    && bucket
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
                if valid {
                    Some(bucket.clone())
                } else {
                    provenance_cursor
                        .field("bucket")
                        .fail("must be a bucket name: 3 to 63 of a-z, 0-9, -, _ and .")
                }
            });
            Some(Some(ProvenanceExport {
                bucket: bucket?,
                prefix: provenance
                    .prefix
                    .clone()
                    .unwrap_or_else(|| "gantry/runs/".to_owned()),
            }))
        }
    };
    Some(CloudApis {
        aws: aws?,
        gcs: gcs?,
        provenance: provenance?,
    })
}

fn socket_address(text: Option<&String>, default: &str, cursor: &Cursor<'_>) -> Option<SocketAddr> {
    let text = text.map_or(default, String::as_str);
    match text.parse::<SocketAddr>() {
        Ok(address) => Some(address),
        Err(_) => cursor.fail(format!(
            "`{text}` is not a host:port address, e.g. 127.0.0.1:7070 or [::1]:7070"
        )),
    }
}

fn listen(
    listen: &Option<v1::Listen>,
    cursor: &Cursor<'_>,
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let (grpc, http) = match listen {
        Some(listen) => (listen.grpc.as_ref(), listen.http.as_ref()),
        None => (None, None),
    };
    let grpc = socket_address(
        grpc,
        fleet_config::DEFAULT_GRPC_ADDRESS,
        &cursor.field("grpc"),
    );
    let http = socket_address(
        http,
        fleet_config::DEFAULT_HTTP_ADDRESS,
        &cursor.field("http"),
    );
    if let (Some(grpc), Some(http)) = (grpc, http)
        && grpc == http
        && grpc.port() != 0
    {
        cursor
            .field("http")
            .error(format!("gRPC and HTTP cannot both listen on {grpc}"));
        return (None, None);
    }
    (grpc, http)
}

fn storage(storage: &Option<v1::Storage>, cursor: &Cursor<'_>) -> Option<StorageConfig> {
    let Some(storage) = storage else {
        return Some(StorageConfig::Embedded {
            path: PathBuf::from(".gantry"),
        });
    };
    match storage.backend.unwrap_or_default() {
        v1::StorageBackend::Embedded => {
            if storage.url.is_some() {
                cursor
                    .field("url")
                    .error("`url` is for the postgres backend; the embedded store takes `path`");
                return None;
            }
            let path = storage.path.clone().unwrap_or_else(|| ".gantry".to_owned());
            if path.trim().is_empty() {
                return cursor.field("path").fail("must not be empty");
            }
            Some(StorageConfig::Embedded {
                path: PathBuf::from(path),
            })
        }
        v1::StorageBackend::Postgres => {
            if storage.path.is_some() {
                cursor
                    .field("path")
                    .error("`path` is for the embedded backend; postgres takes `url`");
                return None;
            }
            let url_cursor = cursor.field("url");
            let url = required(
                &storage.url,
                &url_cursor,
                "a PostgreSQL URL, e.g. postgres://gantry@db/gantry",
            )?;
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return url_cursor.fail("must start with postgres:// or postgresql://");
            }
            Some(StorageConfig::Postgres { url: url.clone() })
        }
    }
}

fn simulation(
    simulation: &Option<v1::Simulation>,
    cursor: &Cursor<'_>,
) -> Option<SimulationConfig> {
    let default_duration = std::time::Duration::from_secs(3600);
    let Some(simulation) = simulation else {
        return Some(SimulationConfig {
            time_scale: fleet_config::DEFAULT_TIME_SCALE,
            default_pod_duration: default_duration,
        });
    };
    let time_scale = match simulation.time_scale {
        Some(scale) if !(scale.is_finite() && scale > 0.0 && scale <= 1_000_000.0) => cursor
            .field("timeScale")
            .fail("must be more than 0 and at most 1000000"),
        Some(scale) => Some(scale),
        None => Some(fleet_config::DEFAULT_TIME_SCALE),
    };
    let default_pod_duration = match &simulation.default_pod_duration {
        Some(text) => scalars::duration(text, &cursor.field("defaultPodDuration")),
        None => Some(default_duration),
    };
    Some(SimulationConfig {
        time_scale: time_scale?,
        default_pod_duration: default_pod_duration?,
    })
}

fn region_name(region: &Option<String>, cursor: &Cursor<'_>) -> Option<String> {
    let region = required(region, cursor, "the cloud region, e.g. us-east-1")?;
    let valid = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Some(region.clone())
    } else {
        cursor.fail(format!(
            "`{region}` is not a region name; use lowercase letters, digits and `-`"
        ))
    }
}

fn clusters(clusters: &[v1::Cluster], cursor: &Cursor<'_>) -> Option<Vec<ClusterConfig>> {
    if clusters.is_empty() {
        return cursor.fail("list at least one cluster");
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut converted = Vec::new();
    let mut ok = true;
    for (index, cluster) in clusters.iter().enumerate() {
        let item = cursor.index(index);
        let name_cursor = item.field("name");
        let name = required(
            &cluster.name,
            &name_cursor,
            "a DNS-1123 name, e.g. aws-use1",
        )
        .and_then(|name| scalars::dns_label(name, &name_cursor));
        if let Some(name) = &name
            && let Some(first) = seen.insert(name.clone(), index)
        {
            name_cursor.error(format!(
                "cluster `{name}` is already defined at clusters[{first}]"
            ));
            ok = false;
        }
        let cloud = required(
            &cluster.cloud,
            &item.field("cloud"),
            "aws, gcp, azure or onprem",
        )
        .map(|cloud| cloud_of(*cloud));
        let region = region_name(&cluster.region, &item.field("region"));
        let labels = scalars::labels(&cluster.labels, &item.field("labels"), true);
        let access = match (&cluster.kubeconfig, &cluster.simulated) {
            (Some(_), Some(_)) => item.field("simulated").fail("a cluster is either `kubeconfig` (real) or `simulated`, not both"),
            (None, None) => item.fail("a cluster needs `kubeconfig` (a real cluster) or `simulated` (node pools to simulate)"),
            (Some(kubeconfig), None) => {
                let kubeconfig_cursor = item.field("kubeconfig");
                let path_cursor = kubeconfig_cursor.field("path");
                match required(&kubeconfig.path, &path_cursor, "the kubeconfig file, e.g. ~/.kube/config") {
                    Some(path) if path.trim().is_empty() => path_cursor.fail("must not be empty"),
                    Some(path) => Some(ClusterAccess::Kubeconfig {
                        path: PathBuf::from(path),
                        context: kubeconfig.context.clone(),
                    }),
                    None => None,
                }
            }
            (None, Some(simulated)) => {
                let pools_cursor = item.field("simulated").field("nodePools");
                required(&simulated.node_pools, &pools_cursor, "the node pools to simulate")
                    .and_then(|pools| node_pools(pools, &pools_cursor))
                    .map(|node_pools| ClusterAccess::Simulated { node_pools })
            }
        };
        match (name, cloud, region, access) {
            (Some(name), Some(cloud), Some(region), Some(access)) => {
                converted.push(ClusterConfig {
                    name,
                    cloud,
                    region,
                    access,
                    labels,
                })
            }
            _ => ok = false,
        }
    }
    ok.then_some(converted)
}

fn capacity_of(capacity: v1::CapacityType) -> CapacityType {
    match capacity {
        v1::CapacityType::OnDemand => CapacityType::OnDemand,
        v1::CapacityType::Spot => CapacityType::Spot,
        v1::CapacityType::Reserved => CapacityType::Reserved,
    }
}

fn node_pools(pools: &[v1::NodePool], cursor: &Cursor<'_>) -> Option<Vec<NodePoolConfig>> {
    if pools.is_empty() {
        return cursor.fail("list at least one node pool");
    }
    let mut seen = BTreeSet::new();
    let mut converted = Vec::new();
    let mut ok = true;
    for (index, pool) in pools.iter().enumerate() {
        let item = cursor.index(index);
        let name_cursor = item.field("name");
        let name = required(&pool.name, &name_cursor, "a DNS-1123 name, e.g. h100-spot")
            .and_then(|name| scalars::dns_label(name, &name_cursor));
        if let Some(name) = &name
            && !seen.insert(name.clone())
        {
            name_cursor.error(format!(
                "node pool `{name}` is defined twice in this cluster"
            ));
            ok = false;
        }
        let instance_cursor = item.field("instanceType");
        let instance_type = match required(
            &pool.instance_type,
            &instance_cursor,
            "the cloud instance type, e.g. p5.48xlarge",
        ) {
            Some(text) if text.trim().is_empty() || text.chars().any(char::is_whitespace) => {
                instance_cursor.fail("must be a single word, e.g. p5.48xlarge")
            }
            Some(text) => Some(text.clone()),
            None => None,
        };
        let gpu = match &pool.gpu {
            Some(gpu) => {
                let gpu_cursor = item.field("gpu");
                let model_cursor = gpu_cursor.field("model");
                let model = required(&gpu.model, &model_cursor, "the GPU model, e.g. H100")
                    .and_then(|model| scalars::gpu_model(&model.0, &model_cursor));
                let count_cursor = gpu_cursor.field("count");
                let count = match required(&gpu.count, &count_cursor, "GPUs per node, e.g. 8") {
                    Some(0) => {
                        count_cursor.fail("must be at least 1; leave `gpu` out for CPU nodes")
                    }
                    Some(count) => Some(*count),
                    None => None,
                };
                match (model, count) {
                    (Some(model), Some(count)) => Some(Some((model, count))),
                    _ => None,
                }
            }
            None => Some(None),
        };
        let cpu_cursor = item.field("cpu");
        let cpu = required(&pool.cpu, &cpu_cursor, "CPU cores per node, e.g. 192")
            .and_then(|cpu| scalars::cpu_millis(cpu, &cpu_cursor));
        let memory_cursor = item.field("memory");
        let memory = required(&pool.memory, &memory_cursor, "memory per node, e.g. 2048Gi")
            .and_then(|memory| scalars::memory_bytes(memory, &memory_cursor));
        let nodes = match required(&pool.nodes, &item.field("nodes"), "how many nodes, e.g. 4") {
            Some(0) => item.field("nodes").fail("must be at least 1"),
            other => other.copied(),
        };
        let zone_cursor = item.field("zone");
        let zone = match required(&pool.zone, &zone_cursor, "the zone, e.g. us-east-1a") {
            Some(zone)
                if zone.is_empty()
                    || zone
                        .chars()
                        .any(|c| !(c.is_ascii_alphanumeric() || c == '-')) =>
            {
                zone_cursor.fail(format!("`{zone}` is not a zone name"))
            }
            Some(zone) => Some(zone.clone()),
            None => None,
        };
        let capacity_type = capacity_of(pool.capacity_type.unwrap_or_default());
        let price_per_hour = match &pool.price_per_hour {
            Some(text) => scalars::dollars(text, &item.field("pricePerHour")).map(Some),
            None => Some(None),
        };
        let rate_cursor = item.field("interruptionRatePerHour");
        let interruption_rate_per_hour = match pool.interruption_rate_per_hour {
            Some(_) if capacity_type != CapacityType::Spot => rate_cursor
                .fail("only spot pools are interrupted; remove this or set capacityType: spot"),
            Some(rate) if !(0.0..=1.0).contains(&rate) => {
                rate_cursor.fail("must be between 0 and 1")
            }
            other => Some(other),
        };
        match (
            name,
            instance_type,
            gpu,
            cpu,
            memory,
            nodes,
            zone,
            price_per_hour,
            interruption_rate_per_hour,
        ) {
            (
                Some(name),
                Some(instance_type),
                Some(gpu),
                Some(cpu_millis),
                Some(memory_bytes),
                Some(nodes),
                Some(zone),
                Some(price_per_hour),
                Some(interruption_rate_per_hour),
            ) => converted.push(NodePoolConfig {
                name,
                instance_type,
                gpu,
                cpu_millis,
                memory_bytes,
                nodes,
                capacity_type,
                zone,
                price_per_hour,
                interruption_rate_per_hour,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(converted)
}

fn gpus_by_model(
    map: &BTreeMap<String, u32>,
    cursor: &Cursor<'_>,
) -> Option<BTreeMap<GpuModel, u32>> {
    let mut converted = BTreeMap::new();
    let mut ok = true;
    for (text, count) in map {
        match scalars::gpu_model(text, &cursor.key(text)) {
            Some(model) if converted.contains_key(&model) => {
                cursor
                    .key(text)
                    .error(format!("`{text}` is {model}, which is already listed"));
                ok = false;
            }
            Some(model) => {
                converted.insert(model, *count);
            }
            None => ok = false,
        }
    }
    ok.then_some(converted)
}

fn teams(teams: &[v1::Team], cursor: &Cursor<'_>) -> Option<Vec<TeamQuota>> {
    let mut seen = BTreeMap::new();
    let mut converted = Vec::new();
    let mut ok = true;
    for (index, team) in teams.iter().enumerate() {
        let item = cursor.index(index);
        let name_cursor = item.field("name");
        let Some(path) = required(&team.name, &name_cursor, "the team path, e.g. org/nlp")
            .and_then(|name| scalars::team_path(name, &name_cursor))
        else {
            ok = false;
            continue;
        };
        if let Some(first) = seen.insert(path.clone(), index) {
            name_cursor.error(format!(
                "team `{path}` is already defined at teams[{first}]"
            ));
            ok = false;
        }
        let quota = team.quota.clone().unwrap_or_default();
        let quota_cursor = item.field("quota");
        let gpus_by_model = gpus_by_model(&quota.gpus_by_model, &quota_cursor.field("gpusByModel"));
        let cpu_millis = match &quota.cpu {
            Some(cpu) => scalars::cpu_millis(cpu, &quota_cursor.field("cpu")).map(Some),
            None => Some(None),
        };
        let memory_bytes = match &quota.memory {
            Some(memory) => scalars::memory_bytes(memory, &quota_cursor.field("memory")).map(Some),
            None => Some(None),
        };
        let budget_per_day = match &quota.budget_per_day {
            Some(budget) => scalars::dollars(budget, &quota_cursor.field("budgetPerDay")).map(Some),
            None => Some(None),
        };
        if let (Some(total), Some(by_model)) = (quota.gpus, &gpus_by_model)
            && let Some((model, count)) = by_model.iter().find(|(_, count)| **count > total)
        {
            quota_cursor
                .field("gpusByModel")
                .key(model.canonical_name())
                .error(format!(
                    "{count} {model} GPUs is more than the team's total of {total} GPUs"
                ));
        }
        match (gpus_by_model, cpu_millis, memory_bytes, budget_per_day) {
            (Some(gpus_by_model), Some(cpu_millis), Some(memory_bytes), Some(budget_per_day)) => {
                converted.push(TeamQuota {
                    team: path,
                    gpus: quota.gpus,
                    gpus_by_model,
                    cpu_millis,
                    memory_bytes,
                    budget_per_day,
                })
            }
            _ => ok = false,
        }
    }
    ok.then_some(converted)
}

fn cloud_quotas(quotas: &[v1::CloudQuota], cursor: &Cursor<'_>) -> Option<Vec<CloudQuota>> {
    let mut seen = BTreeMap::new();
    let mut converted = Vec::new();
    let mut ok = true;
    for (index, quota) in quotas.iter().enumerate() {
        let item = cursor.index(index);
        let cloud = required(
            &quota.cloud,
            &item.field("cloud"),
            "aws, gcp, azure or onprem",
        )
        .map(|cloud| cloud_of(*cloud));
        let region = region_name(&quota.region, &item.field("region"));
        let gpus_by_model = gpus_by_model(&quota.gpus_by_model, &item.field("gpusByModel"));
        match (cloud, region, gpus_by_model) {
            (Some(cloud), Some(region), Some(gpus_by_model)) => {
                if let Some(first) = seen.insert((cloud, region.clone()), index) {
                    item.field("region").error(format!(
                        "a quota for {cloud} {region} is already defined at cloudQuotas[{first}]"
                    ));
                    ok = false;
                }
                converted.push(CloudQuota {
                    cloud,
                    region,
                    gpus: quota.gpus,
                    gpus_by_model,
                    vcpus: quota.vcpus,
                    spot_gpus: quota.spot_gpus,
                });
            }
            _ => ok = false,
        }
    }
    ok.then_some(converted)
}
