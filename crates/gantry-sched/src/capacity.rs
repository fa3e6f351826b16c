//! Free capacity of one offer during a scheduling pass, node by node, and
//! fitting a gang's replicas into it.
//!
//! Replicas go to partly used nodes first (best fit: the node left with the
//! fewest free GPUs, then least CPU), then to idle nodes, packing as many
//! replicas per idle node as fit. Whole idle nodes stay whole as long as
//! possible, so big gangs still find them.

use crate::snapshot::{NodeFree, NodeShape, Offer, ReplicaRequest};

/// Free capacity of one offer.
#[derive(Clone, Debug)]
pub(crate) struct OfferCapacity {
    pub(crate) idle_nodes: u32,
    pub(crate) partial_nodes: Vec<NodeFree>,
}

/// Where a gang's replicas would go: indices of partial nodes (one entry
/// per replica) and how many idle nodes are opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fit {
    partial_replicas: Vec<usize>,
    idle_nodes_opened: u32,
    /// Replicas on the last idle node opened; the rest of the opened idle
    /// nodes hold `per_idle_node` replicas each.
    replicas_on_last_idle: u32,
    per_idle_node: u32,
}

impl OfferCapacity {
    pub(crate) fn of(offer: &Offer) -> OfferCapacity {
        OfferCapacity {
            idle_nodes: offer.idle_nodes,
            partial_nodes: offer.partial_nodes.clone(),
        }
    }

    /// How many replicas of `replica` fit on an empty node of `shape` (0 if none).
    pub(crate) fn replicas_per_node(shape: &NodeShape, replica: &ReplicaRequest) -> u32 {
        let whole = NodeFree {
            gpus: shape.gpu.map_or(0, |(_, count)| count),
            cpu_millis: shape.cpu_millis,
            memory_bytes: shape.memory_bytes,
        };
        replicas_in(&whole, replica)
    }

    /// Finds room for `replicas` replicas, or `None` with how many would fit.
    pub(crate) fn fit(
        &self,
        shape: &NodeShape,
        replica: &ReplicaRequest,
        replicas: u32,
    ) -> Result<Fit, u32> {
        let mut fit = Fit::default();
        let mut placed = 0u32;
        if !self.partial_nodes.is_empty() {
            let mut order: Vec<(NodeFree, usize)> = self
                .partial_nodes
                .iter()
                .enumerate()
                .filter(|(_, node)| replicas_in(node, replica) > 0)
                .map(|(index, node)| (*node, index))
                .collect();
            order.sort_unstable();
            let order = order.into_iter().map(|(_, index)| index);
            for index in order {
                if placed == replicas {
                    break;
                }
                let Some(node) = self.partial_nodes.get(index) else {
                    continue;
                };
                let room = replicas_in(node, replica).min(replicas - placed);
                for _ in 0..room {
                    fit.partial_replicas.push(index);
                }
                placed += room;
            }
        }
        if placed < replicas {
            let per_node = Self::replicas_per_node(shape, replica);
            if per_node == 0 {
                return Err(placed);
            }
            let remaining = replicas - placed;
            let nodes_needed = remaining.div_ceil(per_node);
            if nodes_needed > self.idle_nodes {
                return Err(placed.saturating_add(self.idle_nodes.saturating_mul(per_node)));
            }
            fit.idle_nodes_opened = nodes_needed;
            fit.per_idle_node = per_node;
            fit.replicas_on_last_idle = remaining - (nodes_needed - 1) * per_node;
        }
        Ok(fit)
    }

    /// A quick bound: could `replicas` replicas fit at all, counting GPUs
    /// (or CPU on CPU pools) over the whole offer? False means they cannot.
    pub(crate) fn might_fit(
        &self,
        shape: &NodeShape,
        replica: &ReplicaRequest,
        replicas: u32,
    ) -> bool {
        match shape.gpu {
            Some((_, per_node)) if replica.gpus > 0 => {
                let free = u64::from(self.idle_nodes) * u64::from(per_node)
                    + self
                        .partial_nodes
                        .iter()
                        .map(|node| u64::from(node.gpus))
                        .sum::<u64>();
                free >= u64::from(replica.gpus) * u64::from(replicas)
            }
            _ => {
                let free = u64::from(self.idle_nodes) * shape.cpu_millis
                    + self
                        .partial_nodes
                        .iter()
                        .map(|node| node.cpu_millis)
                        .sum::<u64>();
                free >= replica.cpu_millis.saturating_mul(u64::from(replicas))
            }
        }
    }

    /// How many replicas would fit now (for explanations).
    pub(crate) fn replicas_that_fit(&self, shape: &NodeShape, replica: &ReplicaRequest) -> u32 {
        let partial: u32 = self
            .partial_nodes
            .iter()
            .map(|node| replicas_in(node, replica))
            .fold(0, u32::saturating_add);
        partial.saturating_add(
            self.idle_nodes
                .saturating_mul(Self::replicas_per_node(shape, replica)),
        )
    }

    /// Takes the capacity a [`Fit`] found.
    pub(crate) fn commit(&mut self, shape: &NodeShape, replica: &ReplicaRequest, fit: &Fit) {
        for &index in &fit.partial_replicas {
            if let Some(node) = self.partial_nodes.get_mut(index) {
                take(node, replica);
            }
        }
        if fit.idle_nodes_opened > 0 {
            self.idle_nodes = self.idle_nodes.saturating_sub(fit.idle_nodes_opened);
            let whole = NodeFree {
                gpus: shape.gpu.map_or(0, |(_, count)| count),
                cpu_millis: shape.cpu_millis,
                memory_bytes: shape.memory_bytes,
            };
            for node_index in 0..fit.idle_nodes_opened {
                let on_this_node = if node_index + 1 == fit.idle_nodes_opened {
                    fit.replicas_on_last_idle
                } else {
                    fit.per_idle_node
                };
                let mut node = whole;
                for _ in 0..on_this_node {
                    take(&mut node, replica);
                }
                if node.gpus > 0 || (shape.gpu.is_none() && node.cpu_millis > 0) {
                    self.partial_nodes.push(node);
                }
            }
        }
        let gpu_pool = shape.gpu.is_some();
        self.partial_nodes.retain(|node| {
            if gpu_pool {
                node.gpus > 0
            } else {
                node.cpu_millis > 0 && node.memory_bytes > 0
            }
        });
    }

    /// Gives back the capacity of replicas that stop (preemption victims):
    /// each replica's resources come back as room on some node.
    pub(crate) fn release(&mut self, shape: &NodeShape, replica: &ReplicaRequest, replicas: u32) {
        let per_node = Self::replicas_per_node(shape, replica).max(1);
        let mut remaining = replicas;
        while remaining > 0 {
            let on_node = remaining.min(per_node);
            let freed = NodeFree {
                gpus: replica.gpus.saturating_mul(on_node),
                cpu_millis: replica.cpu_millis.saturating_mul(u64::from(on_node)),
                memory_bytes: replica.memory_bytes.saturating_mul(u64::from(on_node)),
            };
            let node_gpus = shape.gpu.map_or(0, |(_, count)| count);
            let whole_node = freed.gpus >= node_gpus && node_gpus > 0
                || node_gpus == 0 && freed.cpu_millis >= shape.cpu_millis;
            if whole_node {
                self.idle_nodes = self.idle_nodes.saturating_add(1);
            } else {
                self.partial_nodes.push(freed);
            }
            remaining -= on_node;
        }
    }
}

fn replicas_in(node: &NodeFree, replica: &ReplicaRequest) -> u32 {
    let by_gpu = node.gpus.checked_div(replica.gpus).unwrap_or(u32::MAX);
    let by_cpu = node
        .cpu_millis
        .checked_div(replica.cpu_millis)
        .map_or(u32::MAX, |fits| u32::try_from(fits).unwrap_or(u32::MAX));
    let by_memory = node
        .memory_bytes
        .checked_div(replica.memory_bytes)
        .map_or(u32::MAX, |fits| u32::try_from(fits).unwrap_or(u32::MAX));
    let fits = by_gpu.min(by_cpu).min(by_memory);
    if fits == u32::MAX { 1 } else { fits }
}

fn take(node: &mut NodeFree, replica: &ReplicaRequest) {
    node.gpus = node.gpus.saturating_sub(replica.gpus);
    node.cpu_millis = node.cpu_millis.saturating_sub(replica.cpu_millis);
    node.memory_bytes = node.memory_bytes.saturating_sub(replica.memory_bytes);
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use gantry_core::GpuModel;

    use super::*;

    const GIB: u64 = 1 << 30;

    fn shape() -> NodeShape {
        NodeShape {
            gpu: Some((GpuModel::H100, 8)),
            cpu_millis: 192_000,
            memory_bytes: 2048 * GIB,
            vcpus: 192,
        }
    }

    fn replica(gpus: u32) -> ReplicaRequest {
        ReplicaRequest {
            gpus,
            gpu_models: vec![GpuModel::H100],
            cpu_millis: 8_000 * u64::from(gpus),
            memory_bytes: 100 * GIB * u64::from(gpus),
        }
    }

    #[test]
    fn small_replicas_fill_partial_nodes_before_opening_idle_ones() {
        let mut capacity = OfferCapacity {
            idle_nodes: 2,
            partial_nodes: vec![NodeFree {
                gpus: 2,
                cpu_millis: 16_000,
                memory_bytes: 200 * GIB,
            }],
        };
        let fit = capacity.fit(&shape(), &replica(1), 3).unwrap();
        capacity.commit(&shape(), &replica(1), &fit);
        assert_eq!(capacity.idle_nodes, 1);
        assert_eq!(
            capacity.partial_nodes,
            vec![NodeFree {
                gpus: 7,
                cpu_millis: 184_000,
                memory_bytes: 1948 * GIB
            }]
        );
    }

    #[test]
    fn a_gang_needs_enough_whole_nodes() {
        let capacity = OfferCapacity {
            idle_nodes: 3,
            partial_nodes: vec![],
        };
        assert_eq!(capacity.fit(&shape(), &replica(8), 4), Err(3));
        assert!(capacity.fit(&shape(), &replica(8), 3).is_ok());
        assert_eq!(capacity.replicas_that_fit(&shape(), &replica(8)), 3);
        assert_eq!(capacity.replicas_that_fit(&shape(), &replica(2)), 12);
    }

    #[test]
    fn cpu_and_memory_limit_packing_too() {
        let fat = ReplicaRequest {
            gpus: 1,
            gpu_models: vec![GpuModel::H100],
            cpu_millis: 100_000,
            memory_bytes: GIB,
        };
        assert_eq!(OfferCapacity::replicas_per_node(&shape(), &fat), 1);
    }

    #[test]
    fn released_capacity_can_be_used_again() {
        let mut capacity = OfferCapacity {
            idle_nodes: 1,
            partial_nodes: vec![],
        };
        let fit = capacity.fit(&shape(), &replica(8), 1).unwrap();
        capacity.commit(&shape(), &replica(8), &fit);
        assert_eq!(capacity.idle_nodes, 0);
        assert!(capacity.partial_nodes.is_empty());
        capacity.release(&shape(), &replica(8), 1);
        assert_eq!(capacity.idle_nodes, 1);
    }
}
