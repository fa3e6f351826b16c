//! Gantry's Kubernetes executor: turns placements into running work on
//! Kubernetes clusters with kube-rs, and what the clusters report back into
//! job events and a live inventory of capacity. The same code drives EKS,
//! GKE, AKS, on-prem clusters and `gantry-sim`'s simulated ones, over HTTP.
//!
//! Code map:
//! - [`names`]: labels and deterministic object names (job id + attempt).
//! - [`capacity`]: a node's capacity type from its labels, and the node
//!   affinity that selects exactly one capacity type.
//! - [`render`]: placement -> objects (Indexed Job + headless Service, or
//!   Deployment + Service), a pure function with snapshot tests.
//! - [`observe`]: objects -> phase, real reason, exit codes (pure).
//! - [`progress`]: observations -> forward-only events, problem graces (pure).
//! - [`reconcile`]: what is there vs what is wanted -> adopt, create, collect
//!   orphans (pure).
//! - [`inventory`]: nodes and pods -> priced node pools (pure).
//! - [`resilience`]: error classes, backoff with jitter, `Retry-After`, the
//!   circuit breaker, health (pure).
//! - [`client`]: kube clients from kubeconfig, and the retrying caller.
//! - [`executor`]: the public API; one task per cluster (`cluster`) owns
//!   that cluster's state.
//!
//! **Architecture Invariant:** decisions are pure functions of their inputs
//! (`now` included); only `client`, `cluster` and `executor` do I/O.
//!
//! **Architecture Invariant:** nothing a cluster sends can panic the
//! executor: every field is read as optional, every error becomes an event
//! or a log line.
//!
//! **Architecture Invariant:** never two copies of one attempt: objects are
//! named from job id and attempt, created only if absent, and an existing
//! object with Gantry's labels for that attempt is adopted.

pub mod capacity;
pub mod client;
mod cluster;
pub mod executor;
pub mod inventory;
pub mod names;
pub mod observe;
pub mod progress;
pub mod reconcile;
pub mod render;
pub mod resilience;

pub use executor::{
    CloudFeeds, ClusterSpec, ClusterView, Desired, Executor, ExecutorError, ExecutorEvent,
    ExecutorSettings, LaunchRequest,
};
pub use inventory::{
    Inventory, LivePricing, Pool, PoolCatalog, PoolKey, PoolPrice, PoolPriceQuery, PoolShape,
    PriceSource, Room,
};
pub use names::WorkloadKey;
pub use observe::{ContainerExit, Observation, Phase, Problem};
pub use render::{RenderInput, Target, Workload, render};
pub use resilience::Health;
