//! Wire enums <-> domain enums. Unknown or unspecified wire values map to
//! `None`: a client's bad value is an error for the caller to report, never
//! a panic or a silent default.

use gantry_core::{CapacityType, JobKind, JobState};

use crate::generated as pb;

/// A domain job state on the wire.
pub fn job_state_to_proto(state: JobState) -> pb::JobState {
    match state {
        JobState::Queued => pb::JobState::Queued,
        JobState::Placed => pb::JobState::Placed,
        JobState::Launching => pb::JobState::Launching,
        JobState::Running => pb::JobState::Running,
        JobState::Succeeded => pb::JobState::Succeeded,
        JobState::Failed => pb::JobState::Failed,
        JobState::Cancelled => pb::JobState::Cancelled,
        JobState::Preempted => pb::JobState::Preempted,
        JobState::Rejected => pb::JobState::Rejected,
    }
}

/// A wire job state (as its `i32`) in the domain; `None` for unspecified or unknown.
pub fn job_state_from_proto(value: i32) -> Option<JobState> {
    let state = pb::JobState::try_from(value).ok()?;
    Some(match state {
        pb::JobState::Unspecified => return None,
        pb::JobState::Queued => JobState::Queued,
        pb::JobState::Placed => JobState::Placed,
        pb::JobState::Launching => JobState::Launching,
        pb::JobState::Running => JobState::Running,
        pb::JobState::Succeeded => JobState::Succeeded,
        pb::JobState::Failed => JobState::Failed,
        pb::JobState::Cancelled => JobState::Cancelled,
        pb::JobState::Preempted => JobState::Preempted,
        pb::JobState::Rejected => JobState::Rejected,
    })
}

/// A domain job kind on the wire.
pub fn job_kind_to_proto(kind: JobKind) -> pb::JobKind {
    match kind {
        JobKind::Training => pb::JobKind::Training,
        JobKind::Inference => pb::JobKind::Inference,
    }
}

/// A wire job kind in the domain; `None` for unspecified or unknown.
pub fn job_kind_from_proto(value: i32) -> Option<JobKind> {
    match pb::JobKind::try_from(value).ok()? {
        pb::JobKind::Unspecified => None,
        pb::JobKind::Training => Some(JobKind::Training),
        pb::JobKind::Inference => Some(JobKind::Inference),
    }
}

/// A domain capacity type on the wire.
pub fn capacity_type_to_proto(capacity: CapacityType) -> pb::CapacityType {
    match capacity {
        CapacityType::Reserved => pb::CapacityType::Reserved,
        CapacityType::OnDemand => pb::CapacityType::OnDemand,
        CapacityType::Spot => pb::CapacityType::Spot,
    }
}

/// A wire capacity type in the domain; `None` for unspecified or unknown.
pub fn capacity_type_from_proto(value: i32) -> Option<CapacityType> {
    match pb::CapacityType::try_from(value).ok()? {
        pb::CapacityType::Unspecified => None,
        pb::CapacityType::Reserved => Some(CapacityType::Reserved),
        pb::CapacityType::OnDemand => Some(CapacityType::OnDemand),
        pb::CapacityType::Spot => Some(CapacityType::Spot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_unknown_values_are_none() {
        for state in JobState::ALL {
            assert_eq!(
                job_state_from_proto(job_state_to_proto(state) as i32),
                Some(state)
            );
        }
        for kind in [JobKind::Training, JobKind::Inference] {
            assert_eq!(
                job_kind_from_proto(job_kind_to_proto(kind) as i32),
                Some(kind)
            );
        }
        for capacity in CapacityType::ALL {
            assert_eq!(
                capacity_type_from_proto(capacity_type_to_proto(capacity) as i32),
                Some(capacity)
            );
        }
        assert_eq!(job_state_from_proto(0), None);
        assert_eq!(job_state_from_proto(99), None);
        assert_eq!(job_kind_from_proto(-1), None);
        assert_eq!(capacity_type_from_proto(7), None);
    }

    #[test]
    fn the_descriptor_set_names_both_services() {
        use prost::Message;
        let set =
            prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap_or_default();
        let services: Vec<String> = set
            .file
            .iter()
            .flat_map(|file| file.service.iter().filter_map(|s| s.name.clone()))
            .collect();
        assert!(services.contains(&"JobService".to_owned()), "{services:?}");
        assert!(
            services.contains(&"FleetService".to_owned()),
            "{services:?}"
        );
    }
}
