//! One `kube::Client` per cluster, and the resilient way every call goes out.
//!
//! Clients come from a kubeconfig path and context, the same for a real EKS,
//! GKE or AKS cluster (exec credential plugins, tokens, client certificates,
//! TLS through rustls) and for a simulated one (the kubeconfig
//! `gantry-sim serve` writes). kube-rs's own retry layer is off: every call
//! goes through [`Caller::call`], which owns retries, backoff, `Retry-After`,
//! the circuit breaker and health, so that one policy governs them all.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::resilience::{Breaker, Failure, Health, HealthTracker, Jitter, RetryPolicy, classify};

/// A client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The kubeconfig file could not be read or parsed.
    #[error("cannot read kubeconfig {path}")]
    ReadKubeconfig {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The kubeconfig has no such context, or its entry is unusable.
    #[error("kubeconfig {path}: cannot use context {context}")]
    Context {
        /// The file.
        path: PathBuf,
        /// The context asked for (or `current-context`).
        context: String,
        /// Cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The client could not be built from the config (TLS, proxy).
    #[error("cannot build a Kubernetes client for context {context}")]
    Build {
        /// The context.
        context: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

/// A client for `context` of the kubeconfig at `path`, with kube-rs's retry
/// off and a connect timeout.
pub async fn connect(
    path: &Path,
    context: Option<&str>,
    connect_timeout: Duration,
) -> Result<kube::Client, ConnectError> {
    let kubeconfig =
        Kubeconfig::read_from(path).map_err(|source| ConnectError::ReadKubeconfig {
            path: path.to_owned(),
            source,
        })?;
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        cluster: None,
        user: None,
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| ConnectError::Context {
            path: path.to_owned(),
            context: context.unwrap_or("current-context").to_owned(),
            source,
        })?;
    config.default_retry = false;
    config.connect_timeout = Some(connect_timeout);
    kube::Client::try_from(config).map_err(|source| ConnectError::Build {
        context: context.unwrap_or("current-context").to_owned(),
        source,
    })
}

/// Breaker, health and jitter of one cluster, shared by its calls.
#[derive(Debug)]
pub struct Resilience {
    /// The circuit breaker.
    pub breaker: Breaker,
    /// Health.
    pub health: HealthTracker,
    /// Random source for jitter.
    pub jitter: Jitter,
}

/// Makes calls to one cluster through the retry protocol of [`crate::resilience`].
#[derive(Clone)]
pub struct Caller {
    /// The client.
    pub client: kube::Client,
    /// The cluster's name, for logs.
    pub cluster: Arc<str>,
    state: Arc<Mutex<Resilience>>,
    policy: RetryPolicy,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Caller")
            .field("cluster", &self.cluster)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// A caller over `client`.
    pub fn new(
        client: kube::Client,
        cluster: &str,
        resilience: Resilience,
        policy: RetryPolicy,
    ) -> Caller {
        Caller {
            client,
            cluster: Arc::from(cluster),
            state: Arc::new(Mutex::new(resilience)),
            policy,
        }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut Resilience) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    /// Records a success seen elsewhere (a watch event arrived).
    pub fn record_success(&self) {
        let now = Instant::now();
        self.with_state(|state| {
            state.breaker.success();
            state.health.success(now);
        });
    }

    /// Records a failure seen elsewhere (a watch failed).
    pub fn record_failure(&self, error: &str) {
        let now = Instant::now();
        self.with_state(|state| {
            state.breaker.failure(now);
            state.health.failure(now, error);
        });
    }

    /// The cluster's health now.
    pub fn health(&self) -> (Health, String) {
        let now = Instant::now();
        self.with_state(|state| state.health.health(now))
    }

    /// Is the breaker open now?
    pub fn breaker_open(&self) -> bool {
        let now = Instant::now();
        self.with_state(|state| state.breaker.is_open(now))
    }

    /// Calls `request` until it succeeds, fails for good, or runs out of
    /// tries; `what` names the call in logs. With `probe`, the breaker is not
    /// asked (health probes are how an open breaker learns the cluster is back).
    pub async fn call<T, F, Fut>(&self, what: &str, probe: bool, request: F) -> Result<T, Failure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if !probe && !self.with_state(|state| state.breaker.allows(Instant::now())) {
                return Err(Failure::Unavailable);
            }
            let outcome = request().await;
            let now = Instant::now();
            let error = match outcome {
                Ok(value) => {
                    self.with_state(|state| {
                        state.breaker.success();
                        state.health.success(now);
                    });
                    return Ok(value);
                }
                Err(error) => error,
            };
            let failure = classify(&error);
            if !failure.is_retryable() {
                // The server answered: it is up, the request is what failed.
                self.with_state(|state| {
                    state.breaker.success();
                    state.health.success(now);
                });
                return Err(failure);
            }
            let retry_after = match &failure {
                Failure::Retryable { retry_after, .. } => *retry_after,
                _ => None,
            };
            let unit = self.with_state(|state| {
                state.breaker.failure(now);
                state.health.failure(now, &failure.describe());
                state.jitter.next_unit()
            });
            if attempt >= self.policy.max_attempts {
                tracing::warn!(cluster = %self.cluster, call = what, attempts = attempt, error = %failure.describe(), "giving up on a call");
                return Err(failure);
            }
            let delay = self.policy.delay(attempt, retry_after, unit);
            tracing::debug!(cluster = %self.cluster, call = what, attempt, delay_ms = delay.as_millis() as u64, error = %failure.describe(), "retrying a call");
            tokio::time::sleep(delay).await;
        }
    }
}
