//! Gantry's domain vocabulary: the values every other crate talks in.
//!
//! **Architecture Invariant:** gantry-core depends on std and thiserror only; no
//! I/O, no clock, no randomness. Everything here is a plain value or a pure function,
//! so the scheduler, the control loop and the tests can use it deterministically.
//!
//! **Architecture Invariant:** nothing here panics on input. Every parser returns a
//! `thiserror` error whose message is written for the person who typed the value:
//! lowercase, no trailing period, saying what was wrong and what is accepted.
//!
//! Code map (modules are private; everything is re-exported at the crate root):
//! - `quantity`: Kubernetes resource quantities (`500m`, `16Gi`), exact.
//! - `gpu`: canonical GPU models and the many names clouds and Kubernetes use.
//! - `suggest`: edit distance and "did you mean" search.
//! - `money`: US dollars as fixed-point micro-dollars.
//! - `csv_reader`: a small RFC 4180 CSV reader for the data tables Gantry loads.
//! - `price_table`: hourly instance prices per cloud, region and zone, loaded from
//!   CSV, with every refused price reported.
//! - `duration_text`: human durations (`30m`, `1h30m`, `2d`).
//! - `names`: Kubernetes name rules (DNS-1123 labels, label keys and values).
//! - `ids`: job ids and team paths.
//! - `resources`: resource vectors, GPU requests, per-pod resources.
//! - `job_state`: the job state machine as a pure transition function.
//! - `placement_terms`, `data_uri`, `job_spec`, `fleet_config`: the checked job spec
//!   and daemon configuration that `gantry-spec` converts YAML into (`fleet_config`
//!   is public as a module for its default constants).
//!
//! ```
//! use gantry_core::{GpuModel, JobState, JobTransition, Money, Quantity, next_state, parse_duration};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let memory = Quantity::parse("1000Gi")?;
//! assert_eq!(memory.to_units_ceil(), Some(1000 << 30));
//! assert_eq!(Quantity::parse("0.5")?.to_string(), "500m");
//!
//! assert_eq!("nvidia-h100-80gb".parse::<GpuModel>()?, GpuModel::H100);
//! let typo = "H10".parse::<GpuModel>().unwrap_err();
//! assert!(typo.to_string().starts_with("unknown GPU model `H10`; did you mean H100"));
//!
//! let price_per_hour = Money::parse_dollars("98.32")?;
//! let expected_runtime = parse_duration("6h")?;
//! let cost = price_per_hour.per_hour_for_seconds(expected_runtime.as_secs());
//! assert_eq!(cost.map(|cost| cost.to_string()), Some("589.92".to_owned()));
//!
//! assert_eq!(next_state(Some(JobState::Running), JobTransition::Preempt)?, JobState::Preempted);
//! # Ok(())
//! # }
//! ```

mod csv_reader;
mod data_uri;
mod duration_text;
pub mod fleet_config;
mod gpu;
mod ids;
mod job_spec;
mod job_state;
mod money;
mod names;
mod placement_terms;
mod price_table;
mod quantity;
mod resources;
mod suggest;

pub use csv_reader::{CsvError, CsvRecord, CsvTable, parse_csv};
pub use data_uri::{DataUri, DataUriError, StorageScheme};
pub use duration_text::{DurationError, format_duration, parse_duration};
pub use fleet_config::{
    AwsApi, CloudApis, CloudQuota, ClusterAccess, ClusterConfig, FleetConfig, GcsApi,
    NodePoolConfig, ProvenanceExport, SimulationConfig, StorageConfig, TeamQuota,
};
pub use gpu::{GpuModel, GpuVendor, UnknownGpuModel};
pub use ids::{IdError, JobId, MAX_TEAM_DEPTH, TeamPath};
pub use job_spec::{
    Checkpoint, DEFAULT_EXPECTED_RUNTIME, DataInput, JobKind, JobSpec, Placement, Replicas,
    ServiceSpec, priority_class,
};
pub use job_state::{IllegalTransition, JobState, JobTransition, UnknownJobState, next_state};
pub use money::{Money, MoneyError};
pub use names::{
    MAX_LABEL_LENGTH, MAX_SUBDOMAIN_LENGTH, NameError, NameKind, check_dns1123_label,
    check_dns1123_subdomain, check_label_key, check_label_value,
};
pub use placement_terms::{CapacityType, Cloud, Glob, GlobError, SpotPolicy};
pub use price_table::{
    PriceKey, PriceRow, PriceTable, PriceTableError, PriceTableLoad, RejectedPrice,
};
pub use quantity::{Quantity, QuantityError, format_bytes};
pub use resources::{GpuRequest, PodResources, ResourceError, ResourceVector};
pub use suggest::{MAX_SUGGESTIONS, edit_distance, nearest, suggestion_distance};
