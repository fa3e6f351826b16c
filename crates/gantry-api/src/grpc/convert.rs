//! Stored records and control-loop answers as wire messages.

use std::collections::HashMap;

use gantry_control::{JobExplanation, NamedCandidate, PlacementRecord, TeamUsage};
use gantry_core::{CapacityType, JobTransition};
use gantry_kube::{ClusterView, Health};
use gantry_proto as pb;
use gantry_proto::{capacity_type_to_proto, job_kind_to_proto, job_state_to_proto};
use gantry_sched::Rejection;
use gantry_store::{EventRecord, JobRecord};

/// A stored job on the wire (labels and priority read from its spec).
pub fn job(record: &JobRecord) -> pb::Job {
    job_with_spec(
        record,
        gantry_spec::parse_job(&record.spec_yaml).ok().as_ref(),
    )
}

/// A stored job on the wire, with its spec already parsed.
pub fn job_with_spec(record: &JobRecord, spec: Option<&gantry_core::JobSpec>) -> pb::Job {
    pb::Job {
        id: record.id.to_string(),
        name: record.name.clone(),
        team: record.team.to_string(),
        kind: job_kind_to_proto(record.kind) as i32,
        state: job_state_to_proto(record.state) as i32,
        attempt: record.attempt,
        submitted_at_unix_ms: record.submitted_at.0,
        updated_at_unix_ms: record.updated_at.0,
        submitter: record.submitter.clone(),
        request_id: record
            .request_id
            .as_ref()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default(),
        spec_yaml: record.spec_yaml.clone(),
        spec_digest: record.spec_digest.as_str().to_owned(),
        placement: PlacementRecord::from_json(record.placement.as_ref()).map(|p| placement(&p)),
        reason: record.reason.clone().unwrap_or_default(),
        last_event_seq: record.last_event_seq.0,
        labels: spec
            .map(|spec| {
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>()
            })
            .unwrap_or_default(),
        priority: spec.map_or(0, |spec| spec.priority),
    }
}

/// A stored placement on the wire.
pub fn placement(record: &PlacementRecord) -> pb::Placement {
    let total = record
        .compute_micro_usd
        .saturating_add(record.egress_micro_usd)
        .saturating_add(record.spot_loss_micro_usd);
    pb::Placement {
        cluster: record.cluster.clone(),
        cloud: record.cloud.clone(),
        region: record.region.clone(),
        zone: record.zone.clone(),
        pool: record.pool.clone(),
        instance_type: record.instance_type.clone(),
        capacity_type: record
            .capacity_type()
            .map_or(pb::CapacityType::Unspecified, capacity_type_to_proto)
            as i32,
        gpu_model: record.gpu_model.clone().unwrap_or_default(),
        replicas: record.replicas,
        hourly_price_micro_usd: record.hourly_price_micro_usd,
        expected_runtime_s: record.expected_runtime_s,
        expected_cost: Some(pb::CostBreakdown {
            compute_micro_usd: record.compute_micro_usd,
            egress_micro_usd: record.egress_micro_usd,
            spot_loss_micro_usd: record.spot_loss_micro_usd,
            total_micro_usd: total,
        }),
        price_source: record.price_source.clone(),
    }
}

fn transition_name(transition: JobTransition) -> String {
    transition.to_string()
}

/// A stored event on the wire.
pub fn event(record: &EventRecord) -> pb::JobEvent {
    pb::JobEvent {
        seq: record.seq.0,
        job_id: record.job_id.to_string(),
        at_unix_ms: record.at.0,
        from_state: record
            .from_state
            .map_or(pb::JobState::Unspecified, job_state_to_proto) as i32,
        to_state: job_state_to_proto(record.to_state) as i32,
        transition: record.transition.map(transition_name).unwrap_or_default(),
        attempt: record.attempt,
        reason: record.reason.clone(),
        actor: record.actor.clone(),
        details_json: if record.details.is_null() {
            String::new()
        } else {
            record.details.to_string()
        },
    }
}

fn rejection(rejection: Option<&Rejection>) -> (pb::RejectionKind, String) {
    let Some(rejection) = rejection else {
        return (pb::RejectionKind::None, String::new());
    };
    match rejection {
        Rejection::PlacementRule(detail) => (pb::RejectionKind::PlacementRule, detail.clone()),
        Rejection::SpotPolicy => (
            pb::RejectionKind::SpotPolicy,
            "the job's spot policy excludes this capacity type".to_owned(),
        ),
        Rejection::Shape(detail) => (pb::RejectionKind::Shape, detail.clone()),
        Rejection::Capacity { fits, needed } => (
            pb::RejectionKind::Capacity,
            format!("{fits} of {needed} replicas fit now"),
        ),
        Rejection::MaxHourlyCost { limit, price } => (
            pb::RejectionKind::MaxHourlyCost,
            format!("${price}/h is above maxHourlyCost ${limit}/h"),
        ),
        Rejection::CloudQuota(detail) => (pb::RejectionKind::CloudQuota, detail.clone()),
        Rejection::TeamQuota(detail) => (pb::RejectionKind::TeamQuota, detail.clone()),
        Rejection::Costlier => (
            pb::RejectionKind::Costlier,
            "costs more than the chosen offer".to_owned(),
        ),
    }
}

/// A named candidate on the wire.
pub fn candidate(candidate: &NamedCandidate) -> pb::Candidate {
    let (kind, detail) = rejection(candidate.rejection.as_ref());
    pb::Candidate {
        cluster: candidate.cluster.clone(),
        pool: candidate.pool.clone(),
        zone: candidate.zone.clone(),
        capacity_type: capacity_type_to_proto(candidate.capacity_type) as i32,
        gpu_model: candidate
            .gpu_model
            .map(|model| model.to_string())
            .unwrap_or_default(),
        instance_type: candidate.instance_type.clone(),
        hourly_price_micro_usd: candidate.hourly_price.micros(),
        expected_cost_micro_usd: candidate.expected_cost.micros(),
        rejection: kind as i32,
        rejection_detail: detail,
    }
}

/// An explanation on the wire.
pub fn explanation(explanation: &JobExplanation) -> pb::Explanation {
    pb::Explanation {
        candidates: explanation.candidates.iter().map(candidate).collect(),
        offers_considered: u32::try_from(explanation.offers_considered).unwrap_or(u32::MAX),
        waiting_reason: explanation.waiting_reason.clone().unwrap_or_default(),
        decided_at_unix_ms: explanation.decided_at_unix_ms,
    }
}

/// A cluster's view on the wire.
pub fn cluster(view: &ClusterView, jobs: u32, now_unix_ms: i64) -> pb::Cluster {
    let health = match view.health {
        Health::Reachable => pb::ClusterHealth::Reachable,
        Health::Degraded => pb::ClusterHealth::Degraded,
        Health::Lost => pb::ClusterHealth::Lost,
    };
    let age = u64::try_from(
        now_unix_ms
            .saturating_sub(view.updated_at.as_millisecond())
            .max(0)
            / 1000,
    )
    .unwrap_or(0);
    pb::Cluster {
        name: view.cluster.clone(),
        cloud: view.cloud.as_str().to_owned(),
        region: view.region.clone(),
        health: health as i32,
        health_reason: view.health_reason.clone(),
        pools: view
            .inventory
            .pools
            .iter()
            .map(|pool| pb::Pool {
                name: pool.display_name(),
                instance_type: pool.key.instance_type.clone(),
                zone: pool.key.zone.clone(),
                capacity_type: capacity_type_to_proto(pool.key.capacity_type) as i32,
                gpu_model: pool
                    .gpu
                    .map(|(model, _)| model.to_string())
                    .unwrap_or_default(),
                gpus_per_node: pool.gpu.map_or(0, |(_, count)| count),
                nodes: pool.nodes,
                usable_nodes: pool.usable_nodes,
                idle_nodes: pool.idle_nodes,
                gpus_allocatable: pool.allocatable.gpus,
                gpus_allocated: pool.allocated.gpus,
                cpu_millis_allocatable: pool.allocatable.cpu_millis,
                cpu_millis_allocated: pool.allocated.cpu_millis,
                memory_bytes_allocatable: pool.allocatable.memory_bytes,
                memory_bytes_allocated: pool.allocated.memory_bytes,
                price_per_node_hour_micro_usd: pool
                    .price_per_node_hour
                    .map_or(0, |price| price.micros()),
                price_source: pool.price_source.as_str().to_owned(),
                // As old as it was when the inventory was built, plus since.
                price_age_s: pool.price_age_s.map_or(0, |at_build| at_build + age),
                price_note: pool.price_note.clone().unwrap_or_default(),
                catalog_note: pool.catalog_note.clone().unwrap_or_default(),
            })
            .collect(),
        jobs,
        issues: view.inventory.issues.clone(),
    }
}

/// A team's usage on the wire.
pub fn team(usage: &TeamUsage) -> pb::TeamQuota {
    let quota = usage.quota.as_ref();
    pb::TeamQuota {
        team: usage
            .team
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        gpus_limit: quota.and_then(|q| q.gpus),
        gpus_used: usage.gpus,
        gpus_by_model_limit: quota
            .map(|q| {
                q.gpus_by_model
                    .iter()
                    .map(|(model, limit)| (model.to_string(), *limit))
                    .collect()
            })
            .unwrap_or_default(),
        gpus_by_model_used: usage
            .gpus_by_model
            .iter()
            .map(|(model, used)| (model.to_string(), *used))
            .collect(),
        cpu_millis_limit: quota.and_then(|q| q.cpu_millis),
        cpu_millis_used: usage.cpu_millis,
        memory_bytes_limit: quota.and_then(|q| q.memory_bytes),
        memory_bytes_used: usage.memory_bytes,
        budget_per_day_micro_usd: quota.and_then(|q| q.budget_per_day).map(|m| m.micros()),
        spend_today_micro_usd: usage.spend_today.micros(),
        queued_jobs: usage.queued,
        running_jobs: usage.running,
    }
}

/// A wire capacity type for a domain one (re-exported for the services).
pub fn capacity(capacity: CapacityType) -> i32 {
    capacity_type_to_proto(capacity) as i32
}

/// An explanation kept in a Place event's details (see
/// `JobExplanation::to_json`), for jobs the control loop no longer holds.
pub fn explanation_from_event(details: &serde_json::Value) -> Option<pb::Explanation> {
    let explanation = details.get("explanation")?;
    let text = |value: &serde_json::Value, key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let number = |value: &serde_json::Value, key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_i64)
            .unwrap_or_default()
    };
    let candidates = explanation
        .get("candidates")?
        .as_array()?
        .iter()
        .map(|candidate| {
            let rejection = match text(candidate, "rejection").as_str() {
                "None" => pb::RejectionKind::None,
                "PlacementRule" => pb::RejectionKind::PlacementRule,
                "SpotPolicy" => pb::RejectionKind::SpotPolicy,
                "Shape" => pb::RejectionKind::Shape,
                "Capacity" => pb::RejectionKind::Capacity,
                "MaxHourlyCost" => pb::RejectionKind::MaxHourlyCost,
                "CloudQuota" => pb::RejectionKind::CloudQuota,
                "TeamQuota" => pb::RejectionKind::TeamQuota,
                "Costlier" => pb::RejectionKind::Costlier,
                _ => pb::RejectionKind::Unspecified,
            };
            pb::Candidate {
                cluster: text(candidate, "cluster"),
                pool: text(candidate, "pool"),
                zone: text(candidate, "zone"),
                capacity_type: CapacityType::parse(&text(candidate, "capacity_type"))
                    .map_or(pb::CapacityType::Unspecified, capacity_type_to_proto)
                    as i32,
                gpu_model: text(candidate, "gpu_model"),
                instance_type: text(candidate, "instance_type"),
                hourly_price_micro_usd: number(candidate, "hourly_price_micro_usd"),
                expected_cost_micro_usd: number(candidate, "expected_cost_micro_usd"),
                rejection: rejection as i32,
                rejection_detail: text(candidate, "rejection_detail"),
            }
        })
        .collect();
    Some(pb::Explanation {
        candidates,
        offers_considered: u32::try_from(number(explanation, "offers_considered")).unwrap_or(0),
        waiting_reason: String::new(),
        decided_at_unix_ms: number(explanation, "decided_at_unix_ms"),
    })
}
