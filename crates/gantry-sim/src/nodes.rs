//! Node objects for a simulated cluster's pools, labelled and tainted the way
//! each cloud's managed Kubernetes labels and taints them.
//!
//! Labels on every node: `kubernetes.io/hostname`, `kubernetes.io/os`,
//! `kubernetes.io/arch`, `node.kubernetes.io/instance-type`,
//! `topology.kubernetes.io/region`, `topology.kubernetes.io/zone`, the pool
//! label of the cloud (`eks.amazonaws.com/nodegroup`,
//! `cloud.google.com/gke-nodepool`, `kubernetes.azure.com/agentpool`), and
//! `sim.gantry.dev/pool` / `sim.gantry.dev/capacity-type`. GPU nodes add
//! `nvidia.com/gpu.product` (GPU feature discovery's value), `nvidia.com/gpu.count`
//! and `nvidia.com/gpu.present=true` (AMD: `amd.com/gpu.product-name`), and
//! have the GPU resource in capacity and allocatable.
//!
//! Capacity type: EKS labels every node `eks.amazonaws.com/capacityType=ON_DEMAND|SPOT`;
//! GKE labels spot nodes `cloud.google.com/gke-spot=true`; AKS labels spot nodes
//! `kubernetes.azure.com/scalesetpriority=spot`. Reserved pools carry
//! `gantry.dev/capacity-type=reserved`, the label Gantry's docs ask operators
//! to put on reserved or committed node groups, since no cloud has one.
//!
//! Taints (chosen, per cloud default where there is one): GPU nodes carry
//! `nvidia.com/gpu=present:NoSchedule` (`amd.com/gpu=present:NoSchedule`) on
//! every cloud, as GKE sets it and AKS/EKS GPU guides recommend. Spot nodes on
//! AKS carry `kubernetes.azure.com/scalesetpriority=spot:NoSchedule` (AKS's
//! default); on GKE `cloud.google.com/gke-spot=true:NoSchedule` (the taint GKE
//! documents for spot pools); on EKS none (EKS adds no spot taint).

use gantry_core::{CapacityType, Cloud, ClusterConfig, NodePoolConfig};
use serde_json::{Value, json};

/// A node's name for pool `pool_index`, node `node_index` (a counter per pool,
/// growing as interrupted nodes are replaced).
pub fn node_name(
    cluster: &ClusterConfig,
    pool: &NodePoolConfig,
    pool_index: usize,
    node_index: u32,
) -> String {
    match cluster.cloud {
        Cloud::Aws => format!(
            "ip-10-{}-{}-{}.ec2.internal",
            pool_index % 256,
            (node_index / 250) % 256,
            node_index % 250 + 4
        ),
        Cloud::Gcp => format!(
            "gke-{}-{}-{:08x}-{node_index:04}",
            short(&cluster.name, 12),
            short(&pool.name, 16),
            fnv(&pool.name) as u32
        ),
        Cloud::Azure => format!(
            "aks-{}-{:08}-vmss{node_index:06}",
            short(&pool.name.replace('-', ""), 12),
            fnv(&pool.name) % 100_000_000
        ),
        Cloud::Onprem => format!("{}-{}-{node_index}", short(&cluster.name, 20), pool.name),
    }
}

fn short(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The taints a node of this pool starts with.
pub fn pool_taints(cluster: &ClusterConfig, pool: &NodePoolConfig) -> Vec<Value> {
    let mut taints = Vec::new();
    if let Some((model, _)) = pool.gpu {
        taints.push(json!({"key": model.vendor().kubernetes_resource_name(), "value": "present", "effect": "NoSchedule"}));
    }
    if pool.capacity_type == CapacityType::Spot {
        match cluster.cloud {
            Cloud::Gcp => taints.push(json!({"key": "cloud.google.com/gke-spot", "value": "true", "effect": "NoSchedule"})),
            Cloud::Azure => taints.push(json!({"key": "kubernetes.azure.com/scalesetpriority", "value": "spot", "effect": "NoSchedule"})),
            Cloud::Aws | Cloud::Onprem => {}
        }
    }
    taints
}

/// The Node object.
pub fn node_object(
    cluster: &ClusterConfig,
    pool: &NodePoolConfig,
    pool_index: usize,
    node_index: u32,
    ip_counter: u32,
    kubelet_version: &str,
) -> Value {
    let name = node_name(cluster, pool, pool_index, node_index);
    let mut labels = serde_json::Map::new();
    let mut label = |key: &str, value: &str| {
        labels.insert(key.to_owned(), Value::String(value.to_owned()));
    };
    label("kubernetes.io/hostname", &name);
    label("kubernetes.io/os", "linux");
    label("kubernetes.io/arch", "amd64");
    label("beta.kubernetes.io/os", "linux");
    label("beta.kubernetes.io/arch", "amd64");
    label("node.kubernetes.io/instance-type", &pool.instance_type);
    label("topology.kubernetes.io/region", &cluster.region);
    label("topology.kubernetes.io/zone", &pool.zone);
    label("sim.gantry.dev/pool", &pool.name);
    label("sim.gantry.dev/capacity-type", pool.capacity_type.as_str());
    if pool.capacity_type == CapacityType::Reserved {
        // No cloud labels reserved capacity in a standard way (EKS calls it
        // ON_DEMAND): operators label reserved node groups for Gantry.
        label("gantry.dev/capacity-type", "reserved");
    }
    let spot = pool.capacity_type == CapacityType::Spot;
    match cluster.cloud {
        Cloud::Aws => {
            label("eks.amazonaws.com/nodegroup", &pool.name);
            label(
                "eks.amazonaws.com/capacityType",
                if spot { "SPOT" } else { "ON_DEMAND" },
            );
        }
        Cloud::Gcp => {
            label("cloud.google.com/gke-nodepool", &pool.name);
            label(
                "cloud.google.com/machine-family",
                pool.instance_type.split('-').next().unwrap_or_default(),
            );
            if spot {
                label("cloud.google.com/gke-spot", "true");
            }
        }
        Cloud::Azure => {
            label("kubernetes.azure.com/agentpool", &pool.name);
            label("agentpool", &pool.name);
            if spot {
                label("kubernetes.azure.com/scalesetpriority", "spot");
            }
        }
        Cloud::Onprem => {}
    }
    let mut capacity = serde_json::Map::new();
    capacity.insert("cpu".to_owned(), json!(cpu_quantity(pool.cpu_millis)));
    capacity.insert(
        "memory".to_owned(),
        json!(format!("{}Ki", pool.memory_bytes / 1024)),
    );
    capacity.insert("pods".to_owned(), json!("110"));
    capacity.insert("ephemeral-storage".to_owned(), json!("500Gi"));
    if let Some((model, count)) = pool.gpu {
        let vendor = model.vendor();
        capacity.insert(
            vendor.kubernetes_resource_name().to_owned(),
            json!(count.to_string()),
        );
        labels.insert(
            vendor.product_label_key().to_owned(),
            json!(model.gpu_product_label()),
        );
        let prefix = vendor.kubernetes_resource_name();
        labels.insert(format!("{prefix}.count"), json!(count.to_string()));
        labels.insert(format!("{prefix}.present"), json!("true"));
    }
    let ip = format!(
        "10.{}.{}.{}",
        100 + (ip_counter >> 16) % 100,
        (ip_counter >> 8) % 256,
        ip_counter % 256
    );
    let provider_id = match cluster.cloud {
        Cloud::Aws => format!("aws:///{}/i-{:017x}", pool.zone, fnv(&name) >> 4),
        Cloud::Gcp => format!("gce://gantry-sim/{}/{name}", pool.zone),
        Cloud::Azure => format!(
            "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_{}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}",
            cluster.name
        ),
        Cloud::Onprem => format!("sim://{}/{name}", cluster.name),
    };
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"providerID": provider_id, "taints": pool_taints(cluster, pool)},
        "status": {
            "capacity": capacity.clone(),
            "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "containerRuntimeVersion": "containerd://1.7.27",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "gantry-sim",
                "kernelVersion": "6.1.0-gantry-sim",
                "machineID": format!("{:032x}", u128::from(fnv(&name))),
                "systemUUID": format!("{:032x}", u128::from(fnv(&name)) << 1),
                "bootID": format!("{:032x}", u128::from(fnv(&name)) << 2),
            },
        },
    })
}

fn cpu_quantity(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Node conditions at a time: all healthy, or Unknown after a failure.
pub fn node_conditions(ready: bool, now: &str) -> Value {
    let healthy = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "False", "reason": reason, "message": message, "lastHeartbeatTime": now, "lastTransitionTime": now});
    if ready {
        json!([
            healthy("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            healthy("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            healthy("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now},
        ])
    } else {
        let unknown = |kind: &str| json!({"type": kind, "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": now, "lastTransitionTime": now});
        json!([
            unknown("MemoryPressure"),
            unknown("DiskPressure"),
            unknown("PIDPressure"),
            unknown("Ready")
        ])
    }
}
