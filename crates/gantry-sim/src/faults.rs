//! Faults: what can go wrong in a simulated cluster, injected by config, by the
//! admin endpoint (`POST /sim/v1/faults` on the cluster's own port, JSON body),
//! or by the Rust API ([`crate::SimCluster::inject`]).
//!
//! What a client sees for each, modelled on real clusters:
//!
//! | fault | nodes | pods | API |
//! |---|---|---|---|
//! | `spotInterruption` | node deleted (a replacement joins after `replacementDelaySeconds` of simulated time) | running pods: phase `Failed`, reason `Terminated`, message `Pod was terminated in response to imminent node shutdown.`, condition `DisruptionTarget` reason `TerminationByKubelet`, container exit code 137; a `Warning` event | — |
//! | `nodeFailure` | `Ready=Unknown` reason `NodeStatusUnknown`, taints `node.kubernetes.io/unreachable` NoSchedule + NoExecute | after the pods' toleration (300 s simulated), phase `Failed`, reason `NodeLost`, condition `DisruptionTarget` reason `DeletionByTaintManager` | — |
//! | `nodeRecovery` | `Ready=True`, taints removed | — | — |
//! | `apiErrors` | — | — | each request fails with `code` (500 InternalError or 429 TooManyRequests with `Retry-After`) at `rate` |
//! | `latency` | — | — | each request waits `millis` first |
//! | `dropWatches` | — | — | every open watch stream ends (clients re-watch) |
//! | `dark` | — | — | the listener closes and open connections end: connections are refused; it comes back after `seconds` (admin) or on [`crate::SimCluster::come_back`] |
//! | `clear` | — | — | API errors and latency off |

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A fault to inject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Fault {
    /// Reclaim a spot node: a named one, or a random node of a pool, or any spot node.
    SpotInterruption {
        /// Node name.
        #[serde(default)]
        node: Option<String>,
        /// Pool name.
        #[serde(default)]
        pool: Option<String>,
    },
    /// A node stops reporting (kubelet down, network partition).
    NodeFailure {
        /// Node name.
        node: String,
    },
    /// A failed node reports again.
    NodeRecovery {
        /// Node name.
        node: String,
    },
    /// Fail a fraction of API requests.
    ApiErrors {
        /// Fraction of requests, 0 to 1.
        rate: f64,
        /// 500 or 429.
        #[serde(default = "default_error_code")]
        code: u16,
        /// `Retry-After` for 429.
        #[serde(default = "default_retry_after")]
        retry_after_seconds: u32,
    },
    /// Delay every API request.
    Latency {
        /// Milliseconds of real time.
        millis: u64,
    },
    /// Close every open watch stream.
    DropWatches,
    /// Close the listener; come back after `seconds` (required on the admin endpoint,
    /// which goes dark too).
    Dark {
        /// Real seconds until the cluster comes back.
        #[serde(default)]
        seconds: Option<f64>,
    },
    /// Turn API errors and latency off.
    Clear,
}

fn default_error_code() -> u16 {
    500
}

fn default_retry_after() -> u32 {
    1
}

/// API-level fault settings in force.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiFaults {
    /// Fraction of requests that fail.
    pub error_rate: f64,
    /// Their code.
    pub error_code: u16,
    /// `Retry-After` for 429.
    pub retry_after_seconds: u32,
    /// Added latency.
    #[serde(with = "millis")]
    pub latency: Duration,
}

mod millis {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }
}
