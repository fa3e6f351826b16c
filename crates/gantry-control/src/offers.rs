//! The scheduler's offers, from the executor's views of the clusters, and
//! the room that placements not yet visible in those views still hold.
//!
//! A cluster's view counts the pods bound to its nodes. A job placed a
//! moment ago has no pods yet, so the control loop holds its room itself
//! ([`reserve`]) until a view built after the job's pods ran shows them:
//! capacity is never promised twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use gantry_core::{CapacityType, Money};
use gantry_kube::{ClusterView, Health};
use gantry_sched::{NodeFree, NodeShape, Offer, ReplicaRequest};

use crate::job::PlacementRecord;

/// Spot interruption rates per (cluster, pool name), for the cost of spot loss.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpotRates {
    /// Known rates (simulated pools say theirs).
    pub by_pool: BTreeMap<(String, String), f64>,
    /// Rate of a spot pool that says nothing (per hour).
    pub default_per_hour: f64,
}

/// Offers of every cluster that is not lost, one per priced pool with nodes.
pub fn offers(views: &BTreeMap<String, Arc<ClusterView>>, rates: &SpotRates) -> Vec<Offer> {
    let mut offers = Vec::new();
    for view in views.values() {
        if view.health == Health::Lost || !view.synced {
            continue;
        }
        for pool in &view.inventory.pools {
            let Some(price) = pool.price_per_node_hour else {
                continue;
            };
            let name = pool.display_name();
            let rate = if pool.key.capacity_type == CapacityType::Spot {
                pool.names
                    .iter()
                    .find_map(|pool_name| {
                        rates
                            .by_pool
                            .get(&(view.cluster.clone(), pool_name.clone()))
                    })
                    .copied()
                    .unwrap_or(rates.default_per_hour)
            } else {
                0.0
            };
            offers.push(Offer {
                cluster: view.cluster.clone(),
                cloud: view.cloud,
                region: view.region.clone(),
                zone: pool.key.zone.clone(),
                pool: name,
                instance_type: pool.key.instance_type.clone(),
                capacity_type: pool.key.capacity_type,
                node: NodeShape {
                    gpu: pool.gpu,
                    cpu_millis: pool.node.cpu_millis,
                    memory_bytes: pool.node.memory_bytes,
                    vcpus: pool.vcpus,
                },
                price_per_node_hour: price,
                interruption_rate_per_hour: rate,
                total_nodes: pool.usable_nodes,
                idle_nodes: pool.idle_nodes,
                partial_nodes: pool
                    .partial_nodes
                    .iter()
                    .map(|room| NodeFree {
                        gpus: room.gpus,
                        cpu_millis: room.cpu_millis,
                        memory_bytes: room.memory_bytes,
                    })
                    .collect(),
            });
        }
    }
    offers
}

/// An offer with no room, standing for a pool a job holds but no view
/// shows (its cluster is lost): the job's usage still counts against its
/// quotas.
pub fn ghost_offer(record: &PlacementRecord, gpus_per_replica: u32) -> Option<Offer> {
    let replicas = i64::from(record.replicas.max(1));
    Some(Offer {
        cluster: record.cluster.clone(),
        cloud: record.cloud()?,
        region: record.region.clone(),
        zone: record.zone.clone(),
        pool: record.pool.clone(),
        instance_type: record.instance_type.clone(),
        capacity_type: record.capacity_type()?,
        node: NodeShape {
            gpu: record.gpu_model().map(|model| (model, gpus_per_replica)),
            cpu_millis: 0,
            memory_bytes: 0,
            vcpus: 0,
        },
        price_per_node_hour: Money::from_micros(record.hourly_price_micro_usd / replicas),
        interruption_rate_per_hour: 0.0,
        total_nodes: 0,
        idle_nodes: 0,
        partial_nodes: Vec::new(),
    })
}

fn fits(free: &NodeFree, replica: &ReplicaRequest) -> bool {
    free.gpus >= replica.gpus
        && free.cpu_millis >= replica.cpu_millis
        && free.memory_bytes >= replica.memory_bytes
}

/// Takes room for `replicas` replicas of `replica` from `offer`, each on the
/// fullest node it fits (partial nodes first, then an idle one). Returns how
/// many replicas found no room (0 when all did).
pub fn reserve(offer: &mut Offer, replicas: u32, replica: &ReplicaRequest) -> u32 {
    let whole = NodeFree {
        gpus: offer.node.gpu.map_or(0, |(_, count)| count),
        cpu_millis: offer.node.cpu_millis,
        memory_bytes: offer.node.memory_bytes,
    };
    let mut missing = 0;
    for _ in 0..replicas {
        let best = offer
            .partial_nodes
            .iter()
            .enumerate()
            .filter(|(_, free)| fits(free, replica))
            .min_by_key(|(_, free)| (free.gpus, free.cpu_millis, free.memory_bytes))
            .map(|(index, _)| index);
        let taken = match best {
            Some(index) => Some(offer.partial_nodes.swap_remove(index)),
            None if offer.idle_nodes > 0 && fits(&whole, replica) => {
                offer.idle_nodes -= 1;
                Some(whole)
            }
            None => None,
        };
        match taken {
            Some(free) => {
                let left = NodeFree {
                    gpus: free.gpus - replica.gpus,
                    cpu_millis: free.cpu_millis - replica.cpu_millis,
                    memory_bytes: free.memory_bytes - replica.memory_bytes,
                };
                let useful = if whole.gpus > 0 {
                    left.gpus > 0
                } else {
                    left != NodeFree::default()
                };
                if useful {
                    offer.partial_nodes.push(left);
                }
            }
            None => missing += 1,
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use gantry_core::{Cloud, GpuModel};

    use super::*;

    fn offer() -> Offer {
        let mut offer = Offer {
            cluster: "c".to_owned(),
            cloud: Cloud::Aws,
            region: "us-east-1".to_owned(),
            zone: "us-east-1a".to_owned(),
            pool: "p".to_owned(),
            instance_type: "p4d.24xlarge".to_owned(),
            capacity_type: CapacityType::OnDemand,
            node: NodeShape {
                gpu: Some((GpuModel::A100, 8)),
                cpu_millis: 0,
                memory_bytes: 0,
                vcpus: 96,
            },
            price_per_node_hour: Money::from_micros(1),
            interruption_rate_per_hour: 0.0,
            total_nodes: 0,
            idle_nodes: 0,
            partial_nodes: Vec::new(),
        };
        offer.node.cpu_millis = 96_000;
        offer.node.memory_bytes = 1 << 40;
        offer.total_nodes = 3;
        offer.idle_nodes = 2;
        offer.partial_nodes = vec![NodeFree {
            gpus: 4,
            cpu_millis: 48_000,
            memory_bytes: 1 << 39,
        }];
        offer
    }

    fn replica(gpus: u32) -> ReplicaRequest {
        ReplicaRequest {
            gpus,
            gpu_models: vec![GpuModel::A100],
            cpu_millis: 8_000,
            memory_bytes: 1 << 30,
        }
    }

    #[test]
    fn reservations_fill_partial_nodes_first_then_idle_ones() {
        let mut held = offer();
        assert_eq!(reserve(&mut held, 1, &replica(4)), 0);
        assert_eq!(
            (held.idle_nodes, held.partial_nodes.len()),
            (2, 0),
            "the half-full node is full now"
        );
        assert_eq!(reserve(&mut held, 2, &replica(8)), 0);
        assert_eq!(held.idle_nodes, 0);
        assert_eq!(reserve(&mut held, 1, &replica(1)), 1, "nothing left");

        let mut split = offer();
        assert_eq!(reserve(&mut split, 3, &replica(2)), 0);
        assert_eq!(split.idle_nodes, 1);
        assert_eq!(split.partial_nodes.len(), 1);
        assert_eq!(split.partial_nodes[0].gpus, 6);
    }
}
