//! Which offers could ever run a job, regardless of what is free now:
//! placement rules, spot policy, GPU model, node shape and pool size.
//! Jobs with the same shape and rules share one answer per pass.

use std::collections::BTreeSet;

use gantry_core::{CapacityType, Cloud, Glob, GpuModel, Money, SpotPolicy};

use crate::capacity::OfferCapacity;
use crate::plan::Rejection;
use crate::snapshot::{Offer, QueuedJob, ReplicaRequest};

/// The part of a job that decides which offers can run it, borrowed from
/// the job (no allocation: one is built per job per pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Signature<'a> {
    gpus: u32,
    gpu_models: &'a [GpuModel],
    cpu_millis: u64,
    memory_bytes: u64,
    replicas: u32,
    clouds: &'a BTreeSet<Cloud>,
    regions: &'a [Glob],
    clusters: &'a [Glob],
    spot: SpotPolicy,
    max_hourly_cost: Option<Money>,
}

impl<'a> Signature<'a> {
    pub(crate) fn of(job: &'a QueuedJob) -> Signature<'a> {
        Signature {
            gpus: job.replica.gpus,
            gpu_models: &job.replica.gpu_models,
            cpu_millis: job.replica.cpu_millis,
            memory_bytes: job.replica.memory_bytes,
            replicas: job.replicas,
            clouds: &job.placement.clouds,
            regions: &job.placement.regions,
            clusters: &job.placement.clusters,
            spot: job.placement.spot,
            max_hourly_cost: job.placement.max_hourly_cost,
        }
    }
}

/// Why an offer can never run the job, or `None` if it can.
pub(crate) fn static_rejection(offer: &Offer, job: &QueuedJob) -> Option<Rejection> {
    let placement = &job.placement;
    if !placement.allows_cloud(offer.cloud) {
        return Some(Rejection::PlacementRule(format!(
            "cloud {} not allowed",
            offer.cloud
        )));
    }
    if !placement.allows_region(&offer.region) {
        return Some(Rejection::PlacementRule(format!(
            "region {} not allowed",
            offer.region
        )));
    }
    if !placement.allows_cluster(&offer.cluster) {
        return Some(Rejection::PlacementRule(format!(
            "cluster {} not allowed",
            offer.cluster
        )));
    }
    if !placement.spot.accepts(offer.capacity_type) {
        return Some(Rejection::SpotPolicy);
    }
    shape_rejection(offer, &job.replica, job.replicas)
}

fn shape_rejection(offer: &Offer, replica: &ReplicaRequest, replicas: u32) -> Option<Rejection> {
    match (replica.gpus, offer.node.gpu) {
        (0, Some(_)) => return Some(Rejection::Shape("GPU pool; the job needs no GPU".into())),
        (0, None) => {}
        (_, None) => return Some(Rejection::Shape("no GPUs in this pool".into())),
        (gpus, Some((model, per_node))) => {
            if !replica.gpu_models.contains(&model) {
                return Some(Rejection::Shape(format!(
                    "{model} is not an accepted GPU model"
                )));
            }
            if gpus > per_node {
                return Some(Rejection::Shape(format!(
                    "{per_node} GPUs per node, {gpus} needed per replica"
                )));
            }
        }
    }
    let per_node = OfferCapacity::replicas_per_node(&offer.node, replica);
    if per_node == 0 {
        return Some(Rejection::Shape(
            "a node is too small for one replica (CPU or memory)".into(),
        ));
    }
    if u64::from(per_node) * u64::from(offer.total_nodes) < u64::from(replicas) {
        return Some(Rejection::Shape(format!(
            "{} nodes hold {} of the {replicas} replicas",
            offer.total_nodes,
            u64::from(per_node) * u64::from(offer.total_nodes)
        )));
    }
    None
}

/// Why no offer at all can run a job: the most specific reason, for
/// `WaitReason::NoMatchingOffer` and for rejecting a job at submit.
pub(crate) fn no_match_detail(offers: &[Offer], job: &QueuedJob) -> String {
    let allowed: Vec<&Offer> = offers
        .iter()
        .filter(|offer| {
            job.placement.allows_cloud(offer.cloud)
                && job.placement.allows_region(&offer.region)
                && job.placement.allows_cluster(&offer.cluster)
        })
        .collect();
    if allowed.is_empty() {
        return "no cluster is in the allowed clouds, regions and clusters".into();
    }
    let spot_ok: Vec<&Offer> = allowed
        .iter()
        .copied()
        .filter(|offer| job.placement.spot.accepts(offer.capacity_type))
        .collect();
    if spot_ok.is_empty() {
        return match job.placement.spot {
            SpotPolicy::Required => "spot is required but no allowed pool is spot".into(),
            _ => "every allowed pool is spot and spot is not allowed".into(),
        };
    }
    let models: Vec<String> = job
        .replica
        .gpu_models
        .iter()
        .map(ToString::to_string)
        .collect();
    if job.replica.gpus > 0 {
        let with_model: Vec<&Offer> = spot_ok
            .iter()
            .copied()
            .filter(|offer| {
                offer
                    .gpu_model()
                    .is_some_and(|model| job.replica.gpu_models.contains(&model))
            })
            .collect();
        if with_model.is_empty() {
            return format!("no allowed pool has {} GPUs", models.join(" or "));
        }
        let largest = with_model
            .iter()
            .filter_map(|offer| offer.node.gpu.map(|(_, count)| count))
            .max()
            .unwrap_or(0);
        if largest < job.replica.gpus {
            return format!(
                "no allowed pool has {} {} GPUs on one node (the most is {largest}); use more replicas with fewer GPUs each",
                job.replica.gpus,
                models.join(" or ")
            );
        }
    } else if !spot_ok.iter().any(|offer| offer.node.gpu.is_none()) {
        return "the job asks for no GPU and no allowed pool is CPU-only".into();
    }
    let shaped: Vec<&Offer> = spot_ok
        .iter()
        .copied()
        .filter(|offer| {
            !matches!(
                shape_rejection(offer, &job.replica, 1),
                Some(Rejection::Shape(_))
            )
        })
        .collect();
    if shaped.is_empty() {
        return format!(
            "no allowed node has room for one replica ({} CPU, {} memory)",
            gantry_core::Quantity::from_milli_units(
                i64::try_from(job.replica.cpu_millis).unwrap_or(i64::MAX)
            ),
            gantry_core::format_bytes(job.replica.memory_bytes)
        );
    }
    format!(
        "no allowed pool has enough nodes for a gang of {} replicas",
        job.replicas
    )
}

/// Capacity types in the order "already paid first" prefers them.
pub(crate) fn capacity_rank(capacity: CapacityType) -> u8 {
    match capacity {
        CapacityType::Reserved => 0,
        CapacityType::Spot => 1,
        CapacityType::OnDemand => 2,
    }
}
