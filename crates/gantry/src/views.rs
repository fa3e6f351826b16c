//! What `-o json` and `-o yaml` print: the CLI's own serde structs, converted
//! once from the gRPC messages (prost messages do not derive serde, and the
//! wire shape is not a promise to scripts).
//!
//! The contract these structs keep, for scripts that read them:
//! - field names are `snake_case` and only ever added to, never renamed;
//! - money is given twice: `*_usd`, dollars as an exact decimal string
//!   (`"98.32"`, `"0.000125"`), and `*_micro_usd`, the integer micro-dollars
//!   the server sent;
//! - times are RFC 3339 in UTC (`submitted_at: "2025-06-01T12:00:01Z"`),
//!   `null` when unset; durations are whole seconds (`*_s`);
//! - enums are words: states as in the spec (`Queued`, `Running`), kinds
//!   `TrainingJob` / `InferenceService`, capacity `reserved` / `on-demand` /
//!   `spot`, health `reachable` / `degraded` / `lost`, rejections
//!   `capacity`, `team-quota`, ...; a value this build does not know is
//!   `unknown(N)`;
//! - `null` where the server's empty value means "none" (no placement yet,
//!   no GPU, no price, no limit).

use std::collections::BTreeMap;

use gantry_core::Money;
use gantry_proto as pb;
use serde::Serialize;

use crate::render::rfc3339;

/// Exact dollars, as a decimal string.
pub(crate) fn usd(micro_usd: i64) -> String {
    Money::from_micros(micro_usd).to_string()
}

/// A job state's name (`Queued`), `unspecified`, or `unknown(N)`.
pub(crate) fn state_name(value: i32) -> String {
    match gantry_proto::job_state_from_proto(value) {
        Some(state) => state.as_str().to_owned(),
        None if value == 0 => "unspecified".to_owned(),
        None => format!("unknown({value})"),
    }
}

/// `TrainingJob`, `InferenceService`, `unspecified` or `unknown(N)`.
pub(crate) fn kind_name(value: i32) -> String {
    match gantry_proto::job_kind_from_proto(value) {
        Some(kind) => kind.as_str().to_owned(),
        None if value == 0 => "unspecified".to_owned(),
        None => format!("unknown({value})"),
    }
}

/// `reserved`, `on-demand`, `spot`, `unspecified` or `unknown(N)`.
pub(crate) fn capacity_name(value: i32) -> String {
    match gantry_proto::capacity_type_from_proto(value) {
        Some(capacity) => capacity.as_str().to_owned(),
        None if value == 0 => "unspecified".to_owned(),
        None => format!("unknown({value})"),
    }
}

/// `reachable`, `degraded`, `lost`, `unspecified` or `unknown(N)`.
pub(crate) fn health_name(value: i32) -> String {
    match pb::ClusterHealth::try_from(value) {
        Ok(pb::ClusterHealth::Unspecified) => "unspecified".to_owned(),
        Ok(pb::ClusterHealth::Reachable) => "reachable".to_owned(),
        Ok(pb::ClusterHealth::Degraded) => "degraded".to_owned(),
        Ok(pb::ClusterHealth::Lost) => "lost".to_owned(),
        Err(_) => format!("unknown({value})"),
    }
}

/// Why a candidate lost, as a word: `none` for the chosen one, `capacity`,
/// `team-quota`, ...
pub(crate) fn rejection_name(value: i32) -> String {
    let name = match pb::RejectionKind::try_from(value) {
        Ok(pb::RejectionKind::Unspecified) => "unspecified",
        Ok(pb::RejectionKind::None) => "none",
        Ok(pb::RejectionKind::PlacementRule) => "placement-rule",
        Ok(pb::RejectionKind::SpotPolicy) => "spot-policy",
        Ok(pb::RejectionKind::Shape) => "shape",
        Ok(pb::RejectionKind::Capacity) => "capacity",
        Ok(pb::RejectionKind::MaxHourlyCost) => "max-hourly-cost",
        Ok(pb::RejectionKind::CloudQuota) => "cloud-quota",
        Ok(pb::RejectionKind::TeamQuota) => "team-quota",
        Ok(pb::RejectionKind::Costlier) => "costlier",
        Err(_) => return format!("unknown({value})"),
    };
    name.to_owned()
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// One job (`get job`, each item of `get jobs`).
#[derive(Debug, Serialize)]
pub(crate) struct JobView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) team: String,
    pub(crate) kind: String,
    pub(crate) state: String,
    /// The reason of the last event.
    pub(crate) reason: String,
    pub(crate) attempt: u32,
    pub(crate) priority: u32,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) submitter: String,
    pub(crate) request_id: Option<String>,
    pub(crate) submitted_at: Option<String>,
    pub(crate) updated_at: Option<String>,
    pub(crate) last_event_seq: u64,
    pub(crate) placement: Option<PlacementView>,
    pub(crate) spec_digest: String,
    pub(crate) spec_yaml: String,
}

impl From<&pb::Job> for JobView {
    fn from(job: &pb::Job) -> JobView {
        JobView {
            id: job.id.clone(),
            name: job.name.clone(),
            team: job.team.clone(),
            kind: kind_name(job.kind),
            state: state_name(job.state),
            reason: job.reason.clone(),
            attempt: job.attempt,
            priority: job.priority,
            labels: job
                .labels
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
            submitter: job.submitter.clone(),
            request_id: non_empty(&job.request_id),
            submitted_at: rfc3339(job.submitted_at_unix_ms),
            updated_at: rfc3339(job.updated_at_unix_ms),
            last_event_seq: job.last_event_seq,
            placement: job.placement.as_ref().map(PlacementView::from),
            spec_digest: job.spec_digest.clone(),
            spec_yaml: job.spec_yaml.clone(),
        }
    }
}

/// `get jobs -o json|yaml`.
#[derive(Debug, Serialize)]
pub(crate) struct JobList {
    pub(crate) jobs: Vec<JobView>,
}

/// Where a job runs, or would run.
#[derive(Debug, Serialize)]
pub(crate) struct PlacementView {
    pub(crate) cluster: String,
    pub(crate) cloud: String,
    pub(crate) region: String,
    pub(crate) zone: String,
    pub(crate) pool: String,
    pub(crate) instance_type: String,
    pub(crate) capacity_type: String,
    pub(crate) gpu_model: Option<String>,
    pub(crate) replicas: u32,
    /// The whole job per hour at list price.
    pub(crate) hourly_price_usd: String,
    pub(crate) hourly_price_micro_usd: i64,
    pub(crate) expected_runtime_s: u64,
    pub(crate) price_source: String,
    pub(crate) expected_cost: Option<CostView>,
}

impl From<&pb::Placement> for PlacementView {
    fn from(placement: &pb::Placement) -> PlacementView {
        PlacementView {
            cluster: placement.cluster.clone(),
            cloud: placement.cloud.clone(),
            region: placement.region.clone(),
            zone: placement.zone.clone(),
            pool: placement.pool.clone(),
            instance_type: placement.instance_type.clone(),
            capacity_type: capacity_name(placement.capacity_type),
            gpu_model: non_empty(&placement.gpu_model),
            replicas: placement.replicas,
            hourly_price_usd: usd(placement.hourly_price_micro_usd),
            hourly_price_micro_usd: placement.hourly_price_micro_usd,
            expected_runtime_s: placement.expected_runtime_s,
            price_source: placement.price_source.clone(),
            expected_cost: placement.expected_cost.as_ref().map(CostView::from),
        }
    }
}

/// Expected cost by part.
#[derive(Debug, Serialize)]
pub(crate) struct CostView {
    pub(crate) compute_usd: String,
    pub(crate) compute_micro_usd: i64,
    pub(crate) egress_usd: String,
    pub(crate) egress_micro_usd: i64,
    pub(crate) spot_loss_usd: String,
    pub(crate) spot_loss_micro_usd: i64,
    pub(crate) total_usd: String,
    pub(crate) total_micro_usd: i64,
}

impl From<&pb::CostBreakdown> for CostView {
    fn from(cost: &pb::CostBreakdown) -> CostView {
        CostView {
            compute_usd: usd(cost.compute_micro_usd),
            compute_micro_usd: cost.compute_micro_usd,
            egress_usd: usd(cost.egress_micro_usd),
            egress_micro_usd: cost.egress_micro_usd,
            spot_loss_usd: usd(cost.spot_loss_micro_usd),
            spot_loss_micro_usd: cost.spot_loss_micro_usd,
            total_usd: usd(cost.total_micro_usd),
            total_micro_usd: cost.total_micro_usd,
        }
    }
}

/// One offer weighed for a job.
#[derive(Debug, Serialize)]
pub(crate) struct CandidateView {
    pub(crate) cluster: String,
    pub(crate) pool: String,
    pub(crate) zone: String,
    pub(crate) capacity_type: String,
    pub(crate) gpu_model: Option<String>,
    pub(crate) instance_type: String,
    pub(crate) hourly_price_usd: String,
    pub(crate) hourly_price_micro_usd: i64,
    /// Zero when the candidate was rejected before it was priced.
    pub(crate) expected_cost_usd: String,
    pub(crate) expected_cost_micro_usd: i64,
    pub(crate) chosen: bool,
    pub(crate) rejection: String,
    pub(crate) rejection_detail: Option<String>,
}

impl From<&pb::Candidate> for CandidateView {
    fn from(candidate: &pb::Candidate) -> CandidateView {
        CandidateView {
            cluster: candidate.cluster.clone(),
            pool: candidate.pool.clone(),
            zone: candidate.zone.clone(),
            capacity_type: capacity_name(candidate.capacity_type),
            gpu_model: non_empty(&candidate.gpu_model),
            instance_type: candidate.instance_type.clone(),
            hourly_price_usd: usd(candidate.hourly_price_micro_usd),
            hourly_price_micro_usd: candidate.hourly_price_micro_usd,
            expected_cost_usd: usd(candidate.expected_cost_micro_usd),
            expected_cost_micro_usd: candidate.expected_cost_micro_usd,
            chosen: candidate.rejection == pb::RejectionKind::None as i32,
            rejection: rejection_name(candidate.rejection),
            rejection_detail: non_empty(&candidate.rejection_detail),
        }
    }
}

/// The candidates behind a decision.
#[derive(Debug, Serialize)]
pub(crate) struct ExplanationView {
    pub(crate) decided_at: Option<String>,
    pub(crate) offers_considered: u32,
    pub(crate) waiting_reason: Option<String>,
    pub(crate) candidates: Vec<CandidateView>,
}

impl From<&pb::Explanation> for ExplanationView {
    fn from(explanation: &pb::Explanation) -> ExplanationView {
        ExplanationView {
            decided_at: rfc3339(explanation.decided_at_unix_ms),
            offers_considered: explanation.offers_considered,
            waiting_reason: non_empty(&explanation.waiting_reason),
            candidates: explanation
                .candidates
                .iter()
                .map(CandidateView::from)
                .collect(),
        }
    }
}

/// `quote -o json|yaml`.
#[derive(Debug, Serialize)]
pub(crate) struct QuoteView {
    pub(crate) ever_fits: bool,
    pub(crate) never_fits_reason: Option<String>,
    /// Feasible now, cheapest expected total first.
    pub(crate) placements: Vec<PlacementView>,
    pub(crate) explanation: Option<ExplanationView>,
}

impl From<&pb::QuoteJobResponse> for QuoteView {
    fn from(quote: &pb::QuoteJobResponse) -> QuoteView {
        QuoteView {
            ever_fits: quote.ever_fits,
            never_fits_reason: non_empty(&quote.never_fits_reason),
            placements: quote.placements.iter().map(PlacementView::from).collect(),
            explanation: quote.explanation.as_ref().map(ExplanationView::from),
        }
    }
}

/// One node pool of a cluster.
#[derive(Debug, Serialize)]
pub(crate) struct PoolView {
    pub(crate) name: String,
    pub(crate) instance_type: String,
    pub(crate) zone: String,
    pub(crate) capacity_type: String,
    pub(crate) gpu_model: Option<String>,
    pub(crate) gpus_per_node: u32,
    pub(crate) nodes: u32,
    pub(crate) usable_nodes: u32,
    pub(crate) idle_nodes: u32,
    pub(crate) gpus_allocatable: u32,
    pub(crate) gpus_allocated: u32,
    pub(crate) cpu_millis_allocatable: u64,
    pub(crate) cpu_millis_allocated: u64,
    pub(crate) memory_bytes_allocatable: u64,
    pub(crate) memory_bytes_allocated: u64,
    /// `null` when no price is known.
    pub(crate) price_per_node_hour_usd: Option<String>,
    pub(crate) price_per_node_hour_micro_usd: Option<i64>,
    pub(crate) price_source: String,
    pub(crate) price_age_s: u64,
    /// Why the table was used although a live feed knows the pool.
    pub(crate) price_note: Option<String>,
    /// How the pool disagrees with the cloud's instance catalog.
    pub(crate) catalog_note: Option<String>,
}

impl From<&pb::Pool> for PoolView {
    fn from(pool: &pb::Pool) -> PoolView {
        let price =
            (pool.price_per_node_hour_micro_usd != 0).then_some(pool.price_per_node_hour_micro_usd);
        PoolView {
            name: pool.name.clone(),
            instance_type: pool.instance_type.clone(),
            zone: pool.zone.clone(),
            capacity_type: capacity_name(pool.capacity_type),
            gpu_model: non_empty(&pool.gpu_model),
            gpus_per_node: pool.gpus_per_node,
            nodes: pool.nodes,
            usable_nodes: pool.usable_nodes,
            idle_nodes: pool.idle_nodes,
            gpus_allocatable: pool.gpus_allocatable,
            gpus_allocated: pool.gpus_allocated,
            cpu_millis_allocatable: pool.cpu_millis_allocatable,
            cpu_millis_allocated: pool.cpu_millis_allocated,
            memory_bytes_allocatable: pool.memory_bytes_allocatable,
            memory_bytes_allocated: pool.memory_bytes_allocated,
            price_per_node_hour_usd: price.map(usd),
            price_per_node_hour_micro_usd: price,
            price_source: pool.price_source.clone(),
            price_age_s: pool.price_age_s,
            price_note: non_empty(&pool.price_note),
            catalog_note: non_empty(&pool.catalog_note),
        }
    }
}

/// One cluster with its pools.
#[derive(Debug, Serialize)]
pub(crate) struct ClusterView {
    pub(crate) name: String,
    pub(crate) cloud: String,
    pub(crate) region: String,
    pub(crate) health: String,
    pub(crate) health_reason: Option<String>,
    pub(crate) jobs: u32,
    pub(crate) issues: Vec<String>,
    pub(crate) pools: Vec<PoolView>,
}

impl From<&pb::Cluster> for ClusterView {
    fn from(cluster: &pb::Cluster) -> ClusterView {
        ClusterView {
            name: cluster.name.clone(),
            cloud: cluster.cloud.clone(),
            region: cluster.region.clone(),
            health: health_name(cluster.health),
            health_reason: non_empty(&cluster.health_reason),
            jobs: cluster.jobs,
            issues: cluster.issues.clone(),
            pools: cluster.pools.iter().map(PoolView::from).collect(),
        }
    }
}

/// `clusters -o json|yaml`.
#[derive(Debug, Serialize)]
pub(crate) struct ClusterList {
    pub(crate) clusters: Vec<ClusterView>,
}

/// A usage against a limit; `limit: null` is unlimited.
#[derive(Debug, Serialize)]
pub(crate) struct Usage<T> {
    pub(crate) used: T,
    pub(crate) limit: Option<T>,
}

/// One team's quota, usage and spend.
#[derive(Debug, Serialize)]
pub(crate) struct TeamQuotaView {
    pub(crate) team: String,
    pub(crate) gpus: Usage<u32>,
    /// Per GPU model, for every model with a limit or a use.
    pub(crate) gpus_by_model: BTreeMap<String, Usage<u32>>,
    pub(crate) cpu_millis: Usage<u64>,
    pub(crate) memory_bytes: Usage<u64>,
    /// `null` when the team has no daily budget.
    pub(crate) budget_per_day_usd: Option<String>,
    pub(crate) budget_per_day_micro_usd: Option<i64>,
    pub(crate) spend_today_usd: String,
    pub(crate) spend_today_micro_usd: i64,
    pub(crate) queued_jobs: u32,
    pub(crate) running_jobs: u32,
}

impl From<&pb::TeamQuota> for TeamQuotaView {
    fn from(quota: &pb::TeamQuota) -> TeamQuotaView {
        let mut gpus_by_model: BTreeMap<String, Usage<u32>> = BTreeMap::new();
        for (model, limit) in &quota.gpus_by_model_limit {
            gpus_by_model.insert(
                model.clone(),
                Usage {
                    used: quota.gpus_by_model_used.get(model).copied().unwrap_or(0),
                    limit: Some(*limit),
                },
            );
        }
        for (model, used) in &quota.gpus_by_model_used {
            gpus_by_model.entry(model.clone()).or_insert(Usage {
                used: *used,
                limit: None,
            });
        }
        TeamQuotaView {
            team: quota.team.clone(),
            gpus: Usage {
                used: quota.gpus_used,
                limit: quota.gpus_limit,
            },
            gpus_by_model,
            cpu_millis: Usage {
                used: quota.cpu_millis_used,
                limit: quota.cpu_millis_limit,
            },
            memory_bytes: Usage {
                used: quota.memory_bytes_used,
                limit: quota.memory_bytes_limit,
            },
            budget_per_day_usd: quota.budget_per_day_micro_usd.map(usd),
            budget_per_day_micro_usd: quota.budget_per_day_micro_usd,
            spend_today_usd: usd(quota.spend_today_micro_usd),
            spend_today_micro_usd: quota.spend_today_micro_usd,
            queued_jobs: quota.queued_jobs,
            running_jobs: quota.running_jobs,
        }
    }
}

/// `quotas -o json|yaml`.
#[derive(Debug, Serialize)]
pub(crate) struct QuotaList {
    pub(crate) teams: Vec<TeamQuotaView>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn unknown_enum_values_are_named_not_dropped() {
        assert_eq!(state_name(pb::JobState::Running as i32), "Running");
        assert_eq!(state_name(0), "unspecified");
        assert_eq!(state_name(42), "unknown(42)");
        assert_eq!(kind_name(pb::JobKind::Inference as i32), "InferenceService");
        assert_eq!(
            capacity_name(pb::CapacityType::OnDemand as i32),
            "on-demand"
        );
        assert_eq!(health_name(9), "unknown(9)");
        assert_eq!(
            rejection_name(pb::RejectionKind::TeamQuota as i32),
            "team-quota"
        );
    }

    #[test]
    fn money_is_exact_dollars_and_micro_dollars() {
        assert_eq!(usd(98_320_000), "98.32");
        assert_eq!(usd(125), "0.000125");
        let cost = CostView::from(&pb::CostBreakdown {
            compute_micro_usd: 1_000_000,
            egress_micro_usd: 250_000,
            spot_loss_micro_usd: 0,
            total_micro_usd: 1_250_000,
        });
        assert_eq!(cost.total_usd, "1.25");
        assert_eq!(cost.total_micro_usd, 1_250_000);
    }

    #[test]
    fn model_limits_and_uses_are_merged() {
        let quota = pb::TeamQuota {
            team: "nlp".into(),
            gpus_by_model_limit: [("H100".to_owned(), 16)].into_iter().collect(),
            gpus_by_model_used: [("H100".to_owned(), 8), ("A100-80GB".to_owned(), 2)]
                .into_iter()
                .collect(),
            ..pb::TeamQuota::default()
        };
        let view = TeamQuotaView::from(&quota);
        let h100 = view.gpus_by_model.get("H100").unwrap();
        assert_eq!((h100.used, h100.limit), (8, Some(16)));
        let a100 = view.gpus_by_model.get("A100-80GB").unwrap();
        assert_eq!((a100.used, a100.limit), (2, None));
    }
}
