//! The cloud adapters of `gantry-cloud`, wired into the executor and the
//! control loop, each only when the config asks for it:
//!
//! - `aws:` -> one EC2 spot price feed per AWS region of the fleet (for the
//!   GPU instance types of the price table in that region and of the
//!   configured pools), refreshed on a schedule; every AWS pool is priced by
//!   `LivePrices::choose` (a fresh live price, else the table saying why:
//!   stale, or rejected such as moto's placeholder `0.00001`); and EC2's
//!   instance catalog, which every AWS pool is checked against
//!   (`crate::catalog`).
//! - `gcs:` -> a `DataLocator` behind the control loop's `DataLocations`
//!   port: the bucket's region and the bytes under each `gs://` input.
//! - `provenance:` -> a `ProvenanceExporter` behind the `RunSink` port: an
//!   OpenLineage RunEvent per ended run, written to the bucket, retried,
//!   never blocking the loop.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gantry_api::status::clouds::{CloudApiHealth, CloudCounter, CloudStatus, CloudStatusSource};
use gantry_cloud::aws::{AwsEc2, Ec2Api, Ec2Endpoint, Ec2Options};
use gantry_cloud::gcs::{DataLocator, GcsApi, GcsClient, GcsConfig, GcsCredentials, LocatorConfig};
use gantry_cloud::prices::{
    Ec2SpotFeed, LivePrices, PriceFeed, PriceOrigin, PriceRefresher, RefresherConfig,
};
use gantry_cloud::provenance::{
    ExportStats, ProvenanceConfig, ProvenanceExporter, RunInput, RunPlacement, RunRecord,
};
use gantry_control::{
    CheckpointFuture, Checkpoints, CloudPorts, DataLocations, EndedRun, LocateFuture, LocatedData,
    RunSink,
};
use gantry_core::{
    CapacityType, Cloud, ClusterAccess, DataUri, FleetConfig, PriceTable, StorageScheme,
};
use gantry_kube::{CloudFeeds, LivePricing, PoolPrice, PoolPriceQuery, PriceSource};
use jiff::Timestamp;
use tokio::sync::watch;

use crate::catalog::Ec2PoolCatalog;

/// How long queued provenance records may take to be written at shutdown.
const PROVENANCE_GRACE: Duration = Duration::from_secs(5);
/// Live prices are re-priced into the pools at least this often, so their
/// age and staleness stay current between refreshes.
const REPRICE_EVERY_S: i64 = 30;
/// Static credentials sent to an endpoint override (moto takes any).
const OVERRIDE_KEY_ID: &str = "gantry";

/// The running adapters.
#[derive(Default)]
pub(crate) struct Clouds {
    refresher: Option<PriceRefresher>,
    exporter: Option<Arc<ProvenanceExporter>>,
    provenance_bucket: String,
    /// For the executor: live prices and the instance catalog.
    pub(crate) feeds: CloudFeeds,
    /// For the control loop.
    pub(crate) ports: CloudPorts,
}

impl Clouds {
    /// Starts what the config asks for.
    pub(crate) async fn start(config: &FleetConfig, table: &PriceTable) -> anyhow::Result<Clouds> {
        let apis = &config.cloud_apis;
        if apis.aws.is_none() && apis.gcs.is_none() {
            return Ok(Clouds::default());
        }
        gantry_cloud::install_crypto_provider();
        let mut clouds = Clouds::default();
        if let Some(aws) = &apis.aws {
            let ec2: Arc<dyn Ec2Api> = Arc::new(match &aws.endpoint {
                Some(url) => AwsEc2::with_endpoint(
                    &Ec2Endpoint {
                        url: url.clone(),
                        access_key_id: OVERRIDE_KEY_ID.to_owned(),
                        secret_access_key: OVERRIDE_KEY_ID.to_owned(),
                    },
                    Ec2Options::default(),
                ),
                None => AwsEc2::from_environment(Ec2Options::default()).await,
            });
            clouds.feeds.catalog = Some(Ec2PoolCatalog::spawn(
                ec2.clone(),
                table.clone(),
                aws_instance_types(config, table),
            ));
            let feeds = spot_feeds(config, table, &ec2);
            tracing::info!(
                feeds = feeds.len(),
                endpoint = aws.endpoint.as_deref().unwrap_or("standard"),
                refresh_s = aws.spot_price_refresh.as_secs(),
                max_age_s = aws.spot_price_max_age.as_secs(),
                "live EC2 spot prices"
            );
            let refresher = PriceRefresher::spawn(
                feeds,
                Arc::new(table.clone()),
                RefresherConfig {
                    interval: aws.spot_price_refresh,
                    stale_after: aws.spot_price_max_age,
                    ..RefresherConfig::default()
                },
                gantry_cloud::system_clock(),
            );
            clouds.feeds.prices = Some(Arc::new(LiveSpotPricing {
                prices: refresher.subscribe(),
            }));
            clouds.refresher = Some(refresher);
        }
        if let Some(gcs) = &apis.gcs {
            let mut gcs_config = match &gcs.endpoint {
                Some(endpoint) => GcsConfig::emulator(endpoint),
                None => GcsConfig::default(),
            };
            gcs_config.credentials = if gcs.anonymous {
                GcsCredentials::Anonymous
            } else {
                GcsCredentials::Default
            };
            let api: Arc<dyn GcsApi> = Arc::new(
                GcsClient::new(&gcs_config)
                    .await
                    .context("cannot set up the Cloud Storage client")?,
            );
            let locator = Arc::new(DataLocator::new(api.clone(), LocatorConfig::default()));
            tracing::info!(endpoint = %gcs_config.endpoint, "Cloud Storage data locations");
            clouds.ports.locations = Some(Arc::new(GcsLocations {
                locator: locator.clone(),
            }));
            clouds.ports.checkpoints = Some(Arc::new(GcsCheckpoints { api: api.clone() }));
            if let Some(provenance) = &apis.provenance {
                let exporter = Arc::new(ProvenanceExporter::start(
                    api,
                    ProvenanceConfig::new(&provenance.bucket, &provenance.prefix),
                ));
                tracing::info!(bucket = %provenance.bucket, prefix = %provenance.prefix, "provenance export");
                clouds.ports.runs = Some(Arc::new(ProvenanceSink {
                    exporter: exporter.clone(),
                    locator,
                }));
                clouds.exporter = Some(exporter);
                clouds.provenance_bucket = provenance.bucket.clone();
            }
        }
        Ok(clouds)
    }

    /// What `/readyz` and `/metrics` say of the cloud APIs; `None` when the
    /// daemon calls none.
    pub(crate) fn status_source(&self) -> Option<CloudStatusSource> {
        if self.refresher.is_none() && self.exporter.is_none() {
            return None;
        }
        let prices = self.refresher.as_ref().map(PriceRefresher::subscribe);
        let exporter = self.exporter.clone();
        let bucket = self.provenance_bucket.clone();
        Some(Arc::new(move || {
            let mut status = CloudStatus::default();
            if let Some(prices) = &prices {
                price_status(&prices.borrow(), &mut status);
            }
            if let Some(exporter) = &exporter {
                provenance_status(&exporter.stats(), &bucket, &mut status);
            }
            status
        }))
    }

    /// Stops the refresher and writes what provenance is queued (for a while).
    pub(crate) async fn shutdown(self) {
        drop(self.ports);
        if let Some(refresher) = self.refresher {
            refresher.shutdown().await;
        }
        if let Some(exporter) = self.exporter {
            match Arc::try_unwrap(exporter) {
                Ok(exporter) => {
                    let stats = exporter.shutdown(PROVENANCE_GRACE).await;
                    tracing::info!(
                        written = stats.written,
                        failed = stats.failed,
                        pending = stats.pending(),
                        "provenance export stopped"
                    );
                }
                Err(_) => tracing::warn!("provenance exporter still in use at shutdown"),
            }
        }
    }
}

fn counter(
    family: &'static str,
    help: &'static str,
    labels: Vec<(&'static str, String)>,
    value: u64,
) -> CloudCounter {
    CloudCounter {
        family,
        help,
        labels,
        value,
    }
}

/// Feed health lines and price counters.
fn price_status(prices: &LivePrices, status: &mut CloudStatus) {
    let now = Timestamp::now();
    for (name, feed) in prices.feeds() {
        let ago = |at: Timestamp| now.duration_since(at).as_secs().max(0);
        let detail = match (
            feed.consecutive_failures,
            &feed.last_error,
            feed.last_success_at,
        ) {
            (0, _, Some(at)) => format!(
                "last refresh {}s ago: {} quotes accepted, {} rejected",
                ago(at),
                feed.accepted_last,
                feed.rejected_last
            ),
            (0, _, None) => "no refresh yet".to_owned(),
            (failures, error, last) => format!(
                "{failures} refreshes failed in a row ({}); prices kept from {}",
                error.as_deref().unwrap_or("no detail"),
                last.map_or_else(
                    || "no refresh (the price table)".to_owned(),
                    |at| format!("{}s ago", ago(at))
                )
            ),
        };
        status.apis.push(CloudApiHealth {
            name: name.clone(),
            healthy: feed.consecutive_failures == 0,
            detail,
        });
        status.counters.push(counter(
            "gantry_price_fetch_failures_total",
            "Live price fetches that failed, per feed.",
            vec![("feed", name.clone())],
            feed.failures_total,
        ));
    }
    let counters = prices.counters();
    status.counters.push(counter(
        "gantry_price_refreshes_total",
        "Live price refresh rounds run.",
        Vec::new(),
        counters.refreshes,
    ));
    let quotes =
        "Live price quotes received, accepted or rejected by the sanity checks (with the reason).";
    status.counters.push(counter(
        "gantry_price_quotes_total",
        quotes,
        vec![
            ("outcome", "accepted".to_owned()),
            ("reason", String::new()),
        ],
        counters.quotes_accepted,
    ));
    for (reason, count) in &counters.quotes_rejected {
        status.counters.push(counter(
            "gantry_price_quotes_total",
            quotes,
            vec![
                ("outcome", "rejected".to_owned()),
                ("reason", (*reason).to_owned()),
            ],
            *count,
        ));
    }
}

/// The exporter's line and counters.
fn provenance_status(stats: &ExportStats, bucket: &str, status: &mut CloudStatus) {
    status.apis.push(CloudApiHealth {
        name: format!("provenance gs://{bucket}"),
        healthy: stats.failed == 0 && stats.dropped == 0,
        detail: format!(
            "{} records written, {} pending, {} retries, {} given up, {} dropped",
            stats.written,
            stats.pending(),
            stats.retries,
            stats.failed,
            stats.dropped
        ),
    });
    let help = "Provenance records of ended runs: written, retried (attempts), failed (given up) or dropped (queue full).";
    for (outcome, value) in [
        ("written", stats.written),
        ("retried", stats.retries),
        ("failed", stats.failed),
        ("dropped", stats.dropped),
    ] {
        status.counters.push(counter(
            "gantry_provenance_records_total",
            help,
            vec![("outcome", outcome.to_owned())],
            value,
        ));
    }
}

/// The instance types Gantry asks EC2 about, by AWS region of the fleet:
/// the GPU types the price table lists there and the types of the
/// configured pools.
fn aws_instance_types(config: &FleetConfig, table: &PriceTable) -> BTreeMap<String, Vec<String>> {
    let mut by_region: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for cluster in config.clusters.iter().filter(|c| c.cloud == Cloud::Aws) {
        let types = by_region.entry(cluster.region.clone()).or_default();
        types.extend(
            table
                .rows()
                .filter(|row| {
                    row.key.cloud == Cloud::Aws
                        && row.key.region == cluster.region
                        && row.gpu.is_some()
                })
                .map(|row| row.key.instance_type.clone()),
        );
        if let ClusterAccess::Simulated { node_pools } = &cluster.access {
            types.extend(node_pools.iter().map(|pool| pool.instance_type.clone()));
        }
    }
    by_region
        .into_iter()
        .map(|(region, types)| (region, types.into_iter().collect()))
        .collect()
}

/// One feed per AWS region of the fleet, for [`aws_instance_types`].
fn spot_feeds(
    config: &FleetConfig,
    table: &PriceTable,
    ec2: &Arc<dyn Ec2Api>,
) -> Vec<Arc<dyn PriceFeed>> {
    aws_instance_types(config, table)
        .into_iter()
        .map(|(region, types)| {
            Arc::new(Ec2SpotFeed::new(ec2.clone(), &region, types)) as Arc<dyn PriceFeed>
        })
        .collect()
}

/// AWS pools priced by the refresher's latest snapshot.
#[derive(Debug)]
struct LiveSpotPricing {
    prices: watch::Receiver<Arc<LivePrices>>,
}

impl LivePricing for LiveSpotPricing {
    fn pool_price(&self, pool: &PoolPriceQuery<'_>) -> Option<PoolPrice> {
        if pool.cloud != Cloud::Aws {
            return None;
        }
        let prices = self.prices.borrow().clone();
        let choice = prices.choose(
            pool.table,
            pool.cloud,
            pool.region,
            Some(pool.zone),
            pool.instance_type,
            pool.capacity_type,
            Timestamp::now(),
        );
        let (source, age_s, note) = match &choice.origin {
            PriceOrigin::Live { age, .. } => (PriceSource::Live, Some(age.as_secs()), None),
            PriceOrigin::LiveStaleNoTable { age, feed } => (
                PriceSource::LiveStale,
                Some(age.as_secs()),
                Some(format!(
                    "stale live price from {feed}; the price table has none"
                )),
            ),
            PriceOrigin::TableLiveStale { age, stale_after } => (
                PriceSource::PriceTable,
                None,
                Some(format!(
                    "live price stale: {}s old, limit {}s",
                    age.as_secs(),
                    stale_after.as_secs()
                )),
            ),
            PriceOrigin::TableLiveRejected { rejection } => (
                PriceSource::PriceTable,
                None,
                Some(format!("live price rejected: {rejection}")),
            ),
            PriceOrigin::Table => (PriceSource::PriceTable, None, None),
            PriceOrigin::Missing => (PriceSource::Missing, None, None),
        };
        Some(PoolPrice {
            price: choice.price,
            source,
            age_s,
            note,
        })
    }

    fn version(&self) -> u64 {
        let prices = self.prices.borrow();
        let refreshed = prices.refreshed_at().map_or(0, |at| at.as_millisecond());
        let bucket = Timestamp::now().as_second() / REPRICE_EVERY_S;
        u64::try_from(refreshed.wrapping_mul(31).wrapping_add(bucket)).unwrap_or(0)
    }
}

/// `gs://` inputs located through the cached locator.
#[derive(Debug)]
struct GcsLocations {
    locator: Arc<DataLocator>,
}

impl DataLocations for GcsLocations {
    fn locate(&self, uri: &DataUri) -> Option<LocateFuture> {
        if uri.scheme != StorageScheme::Gcs {
            return None;
        }
        let locator = self.locator.clone();
        let uri = uri.clone();
        Some(Box::pin(async move {
            match locator.locate(&uri, Timestamp::now()).await {
                Ok(location) => Ok(LocatedData {
                    cloud: Cloud::Gcp,
                    region: location.region(),
                    bytes: location.total_bytes,
                    description: format!(
                        "{} ({}), {} objects, {} bytes",
                        location.bucket.location,
                        location.bucket.location_type,
                        location.object_count,
                        location.total_bytes
                    ),
                }),
                Err(error) => Err(error.to_string()),
            }
        }))
    }
}

/// `gs://` checkpoint prefixes checked with one listing request.
#[derive(Debug)]
struct GcsCheckpoints {
    api: Arc<dyn GcsApi>,
}

impl Checkpoints for GcsCheckpoints {
    fn exists(&self, uri: &DataUri) -> Option<CheckpointFuture> {
        if uri.scheme != StorageScheme::Gcs {
            return None;
        }
        let api = self.api.clone();
        let uri = uri.clone();
        Some(Box::pin(async move {
            gantry_cloud::gcs::checkpoint_exists(&*api, &uri)
                .await
                .map_err(|error| error.to_string())
        }))
    }
}

/// Ended runs as OpenLineage records.
#[derive(Debug)]
struct ProvenanceSink {
    exporter: Arc<ProvenanceExporter>,
    locator: Arc<DataLocator>,
}

impl RunSink for ProvenanceSink {
    fn run_ended(&self, run: EndedRun) {
        let record = run_record(&run, &self.locator);
        if let Err(error) = self.exporter.submit(&record) {
            tracing::warn!(job = %run.job.id, attempt = run.attempt, %error, "provenance record not queued");
        }
    }
}

fn timestamp(unix_ms: i64) -> Timestamp {
    Timestamp::from_millisecond(unix_ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The provenance record of one ended run.
fn run_record(run: &EndedRun, locator: &DataLocator) -> RunRecord {
    let spec = gantry_spec::parse_job(&run.job.spec_yaml).ok();
    let now = Timestamp::now();
    let inputs = spec
        .as_ref()
        .map(|spec| {
            spec.data
                .iter()
                .map(|input| match locator.cached(&input.uri, now) {
                    Some(Ok(location)) => RunInput::from_location(&location),
                    _ => RunInput::declared(&input.uri.to_string(), input.size_bytes),
                })
                .collect()
        })
        .unwrap_or_default();
    let placement = run.placement.as_ref().and_then(|placement| {
        Some(RunPlacement {
            cluster: placement.cluster.clone(),
            cloud: placement.cloud()?,
            region: placement.region.clone(),
            zone: placement.zone.clone(),
            instance_type: placement.instance_type.clone(),
            capacity_type: placement.capacity_type().unwrap_or(CapacityType::OnDemand),
            replicas: placement.replicas,
            hourly_price: placement.hourly_price(),
            price_source: placement.price_source.clone(),
        })
    });
    RunRecord {
        job_id: run.job.id.to_string(),
        attempt: run.attempt,
        team: run.job.team.to_string(),
        job_name: run.job.name.clone(),
        kind: run.job.kind.as_str().to_owned(),
        submitter: Some(run.job.submitter.clone()).filter(|who| !who.is_empty()),
        spec_digest: format!("sha256:{}", run.job.spec_digest),
        image: spec.map(|spec| spec.image.clone()).unwrap_or_default(),
        final_state: run.final_state,
        reason: run.reason.clone(),
        started_at: run.started_at_unix_ms().map(timestamp),
        finished_at: timestamp(run.ended_at_unix_ms),
        placement,
        inputs,
    }
}
