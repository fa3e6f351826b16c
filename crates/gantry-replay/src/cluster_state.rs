//! The replay's own node-level model of every pool: what is free on each
//! node, and whether a spot pool can be used now.
//!
//! The scheduler chooses a pool; this model chooses the nodes. A replica
//! goes on the fullest node it fits on (best fit: fewest free GPUs, then
//! lowest node index), so single-GPU jobs pack and leave whole nodes for
//! gangs. A placement that does not fit here is refused and counted.

use gantry_sched::{NodeFree, Offer, ReplicaRequest};

use crate::fleet::Pool;

/// One pool's nodes.
#[derive(Clone, Debug)]
pub struct PoolState {
    /// Free resources per node.
    pub nodes: Vec<NodeFree>,
    /// What a node has when empty.
    pub full: NodeFree,
    /// False while a spot pool is unavailable: nothing can be placed.
    pub available: bool,
}

impl PoolState {
    /// All nodes empty.
    pub fn new(pool: &Pool) -> PoolState {
        let full = NodeFree {
            gpus: pool.gpus_per_node(),
            cpu_millis: pool.node.cpu_millis,
            memory_bytes: pool.node.memory_bytes,
        };
        PoolState {
            nodes: vec![full; usize::try_from(pool.nodes).unwrap_or(0)],
            full,
            available: true,
        }
    }

    fn fits(free: &NodeFree, replica: &ReplicaRequest) -> bool {
        free.gpus >= replica.gpus
            && free.cpu_millis >= replica.cpu_millis
            && free.memory_bytes >= replica.memory_bytes
    }

    /// Places `replicas` replicas, or nothing. Returns the node of each.
    pub fn place(&mut self, replica: &ReplicaRequest, replicas: u32) -> Option<Vec<u32>> {
        if !self.available {
            return None;
        }
        let mut chosen: Vec<u32> = Vec::with_capacity(usize::try_from(replicas).unwrap_or(0));
        for _ in 0..replicas {
            let best = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, free)| Self::fits(free, replica))
                .min_by_key(|(index, free)| (free.gpus, free.cpu_millis, *index))
                .map(|(index, _)| index);
            let Some(index) = best else {
                self.release(replica, &chosen);
                return None;
            };
            if let Some(free) = self.nodes.get_mut(index) {
                free.gpus -= replica.gpus;
                free.cpu_millis -= replica.cpu_millis;
                free.memory_bytes -= replica.memory_bytes;
            }
            chosen.push(u32::try_from(index).unwrap_or(u32::MAX));
        }
        Some(chosen)
    }

    /// Gives back what `place` took.
    pub fn release(&mut self, replica: &ReplicaRequest, nodes: &[u32]) {
        for &index in nodes {
            if let Some(free) = usize::try_from(index)
                .ok()
                .and_then(|i| self.nodes.get_mut(i))
            {
                free.gpus = (free.gpus + replica.gpus).min(self.full.gpus);
                free.cpu_millis = (free.cpu_millis + replica.cpu_millis).min(self.full.cpu_millis);
                free.memory_bytes =
                    (free.memory_bytes + replica.memory_bytes).min(self.full.memory_bytes);
            }
        }
    }

    /// Writes this pool's free capacity into its offer.
    pub fn fill_offer(&self, offer: &mut Offer) {
        offer.partial_nodes.clear();
        offer.idle_nodes = 0;
        if !self.available {
            return;
        }
        for free in &self.nodes {
            if *free == self.full {
                offer.idle_nodes += 1;
            } else if free.gpus > 0 || (self.full.gpus == 0 && free.cpu_millis > 0) {
                offer.partial_nodes.push(*free);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use gantry_core::{CapacityType, Cloud, GpuModel, Money};
    use gantry_sched::NodeShape;

    use super::*;

    fn pool(nodes: u32) -> Pool {
        Pool {
            cluster: "c".into(),
            cloud: Cloud::Aws,
            region: "r".into(),
            zone: "z".into(),
            name: "p".into(),
            instance_type: "i".into(),
            capacity_type: CapacityType::OnDemand,
            node: NodeShape {
                gpu: Some((GpuModel::A100, 8)),
                cpu_millis: 96_000,
                memory_bytes: 1 << 40,
                vcpus: 96,
            },
            price_per_node_hour: Money::from_micros(1),
            interruption_rate_per_hour: 0.0,
            nodes,
        }
    }

    fn request(gpus: u32) -> ReplicaRequest {
        ReplicaRequest {
            gpus,
            gpu_models: vec![GpuModel::A100],
            cpu_millis: 1000 * u64::from(gpus),
            memory_bytes: 1 << 30,
        }
    }

    #[test]
    fn best_fit_packs_small_replicas_and_gangs_are_all_or_nothing() {
        let mut state = PoolState::new(&pool(2));
        assert_eq!(state.place(&request(1), 1), Some(vec![0]));
        assert_eq!(state.place(&request(1), 1), Some(vec![0]));
        // A gang of two whole nodes does not fit while node 0 is in use,
        // and leaves nothing behind when refused.
        assert_eq!(state.place(&request(8), 2), None);
        assert_eq!(state.nodes[1].gpus, 8);
        assert_eq!(state.place(&request(8), 1), Some(vec![1]));
        let mut offer = Offer {
            cluster: "c".into(),
            cloud: Cloud::Aws,
            region: "r".into(),
            zone: "z".into(),
            pool: "p".into(),
            instance_type: "i".into(),
            capacity_type: CapacityType::OnDemand,
            node: pool(2).node,
            price_per_node_hour: Money::ZERO,
            interruption_rate_per_hour: 0.0,
            total_nodes: 2,
            idle_nodes: 9,
            partial_nodes: Vec::new(),
        };
        state.fill_offer(&mut offer);
        assert_eq!(offer.idle_nodes, 0);
        assert_eq!(offer.partial_nodes.len(), 1);
        assert_eq!(offer.partial_nodes[0].gpus, 6);
        state.release(&request(8), &[1]);
        state.fill_offer(&mut offer);
        assert_eq!(offer.idle_nodes, 1);
        state.available = false;
        state.fill_offer(&mut offer);
        assert_eq!((offer.idle_nodes, offer.partial_nodes.len()), (0, 0));
        assert_eq!(state.place(&request(1), 1), None);
    }
}
