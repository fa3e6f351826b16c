//! Gantry's cloud adapters: live EC2 prices, the EC2 instance catalog, and
//! Cloud Storage data locations, checkpoint checks and provenance export.
//!
//! Each cloud API sits behind one small, dyn-compatible trait with an
//! in-memory fake, and one conformance suite (module `conformance`, feature
//! `conformance`) that the fake and the real adapter (against moto and
//! fake-gcs-server) both pass:
//!
//! | port | real adapter | fake | suite |
//! |---|---|---|---|
//! | [`aws::Ec2Api`] | [`aws::AwsEc2`] (aws-sdk-ec2) | [`aws::FakeEc2`] | `conformance::ec2` |
//! | [`prices::PriceFeed`] | [`prices::Ec2SpotFeed`] (over any `Ec2Api`) | [`prices::FakePriceFeed`] | `conformance::price_feed` |
//! | [`gcs::GcsApi`] | [`gcs::GcsClient`] (JSON API + google-cloud-storage) | [`gcs::FakeGcs`] | `conformance::gcs` |
//!
//! Above the ports, cloud-neutral logic: the price sanity rules
//! ([`prices::check_quote`]), the published snapshot and the one rule for
//! choosing a live price or the price table ([`prices::LivePrices::choose`]),
//! the price history for accounting ([`prices::SpotPriceHistory`]), the
//! scheduled refresher ([`prices::PriceRefresher`]), the instance catalog
//! ([`aws::InstanceCatalog`]), data locations with a cache
//! ([`gcs::DataLocator`]) and the provenance exporter
//! ([`provenance::ProvenanceExporter`]).
//!
//! Azure has no SDK here: its prices are the shipped price table's, which
//! `choose` falls back to for any key without a fresh live price. A live Azure
//! feed is one more [`prices::PriceFeed`] (see that module's docs).
//!
//! **Architecture Invariant:** aws-sdk-ec2 and google-cloud-storage are used in
//! this crate only, and only in `aws/sdk.rs` and `gcs/client.rs`. Nothing
//! outside those two files knows an SDK type.
//!
//! **Architecture Invariant:** no caller ever waits on a cloud in a scheduling
//! pass. Prices are read from the latest snapshot ([`prices::PriceRefresher::latest`]),
//! data locations from the cache ([`gcs::DataLocator::cached`]), provenance is
//! queued ([`provenance::ProvenanceExporter::submit`] never waits).
//!
//! **Architecture Invariant:** nothing a cloud answers can panic this crate or
//! be used unchecked: every live price passes the sanity rules, every field of
//! a response is optional until checked, and every failure is a typed error,
//! a counter and a log line.
//!
//! # How the daemon uses it
//!
//! (Implemented in `gantryd`'s `cloud.rs`; the executor and the control loop
//! see only their own ports, `gantry_kube::LivePricing` and
//! `gantry_control::{DataLocations, RunSink}`.)
//!
//! At startup (the composition root, `gantryd`'s `run.rs`):
//! 1. `gantry_cloud::install_crypto_provider()` once, before any client (rustls
//!    on ring, as the rest of the workspace).
//! 2. AWS, if any cluster is on AWS: `let ec2: Arc<dyn Ec2Api> =
//!    Arc::new(AwsEc2::from_environment(Ec2Options::default()).await)` (or
//!    `AwsEc2::with_endpoint` for moto and AWS-compatible clouds). Optionally
//!    `InstanceCatalog::load(&*ec2, &regions, &types)` to check the price
//!    table (`check_price_table`, log each mismatch) and pools' shapes.
//! 3. One [`prices::Ec2SpotFeed`] per AWS region of the fleet, for the GPU
//!    instance types of that region (those of the price table's AWS rows with
//!    a GPU, plus those the clusters' pools report), then
//!    `PriceRefresher::spawn(feeds, Arc::new(price_table), RefresherConfig {
//!    interval, stale_after, .. }, system_clock())`. Keep the handle; it
//!    stops when dropped.
//! 4. GCS, if jobs read `gs://` data or provenance is configured:
//!    `let gcs: Arc<dyn GcsApi> = Arc::new(GcsClient::new(&GcsConfig::default()).await?)`;
//!    `DataLocator::new(gcs.clone(), LocatorConfig::default())` (share it in
//!    an `Arc`); `ProvenanceExporter::start(gcs, ProvenanceConfig::new(bucket, prefix))`.
//!
//! Each scheduling pass (building offers), for every pool:
//! `let prices = refresher.latest();` once per pass, then
//! `prices.choose(&table, cloud, region, Some(zone), instance_type, capacity, now)`.
//! Use `choice.price` as the offer's price; put `choice.source_label()`
//! (`live`, `price-table`, `live-stale`, `missing`) in the placement's
//! `price_source`, and `choice.to_string()` in the explanation when
//! `choice.fell_back()` (it reads `price table (live price stale: 42m old,
//! limit 15m)` or `price table (live price rejected: price 0.00001 is a
//! placeholder ...)`), so `gantry describe` says why the table was used.
//! `gantry clusters` shows the same label and age per pool. For `/metrics`
//! and `/readyz`: `prices.counters()` (refreshes, fetch failures, quotes
//! accepted, quotes rejected by reason) and `prices.feeds()` (per feed: last
//! success, consecutive failures, last error); `prices.all_feeds_healthy()`
//! false means degraded, not down.
//!
//! Data locations: when a job is submitted or recovered, the driver (async)
//! spawns `locator.locate(&uri, now)` for each `gs://` input and feeds the
//! answer to the controller as an input: `DataSource { cloud: Gcp, region:
//! location.region(), bytes: location.total_bytes }` in place of the spec's
//! `sizeGiB` guess; an `Err(LocateError)` becomes a job event (its `Display`
//! is the message, e.g. `bucket gs://x does not exist`) and the spec's figures
//! stay. Passes may read `locator.cached(&uri, now)`, which never waits.
//! Before resuming a preempted job: `checkpoint_exists(&*gcs, &checkpoint_uri)`;
//! `Ok(false)` means start from scratch (say so in the event), `Err` means wait
//! and retry, not start from scratch.
//!
//! When a run ends (Succeeded, Failed, Cancelled, Preempted): fill a
//! [`provenance::RunRecord`] (inputs from `RunInput::from_location` where the
//! locator has them, else `RunInput::declared`) and call
//! `exporter.submit(&record)`: it returns at once; `exporter.stats()` feeds
//! `/metrics`; at shutdown, `exporter.shutdown(grace).await`.

pub mod aws;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod gcs;
pub mod prices;
pub mod provenance;

use std::sync::Arc;

use jiff::Timestamp;

/// The wall clock, as an input: `system_clock()` in the daemon, a controlled
/// one in tests.
pub type WallClock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system's wall clock.
pub fn system_clock() -> WallClock {
    Arc::new(Timestamp::now)
}

/// Installs rustls's ring provider as the process default, if none is
/// installed yet (the Google clients need one; AWS's is chosen explicitly).
/// Idempotent; returns whether ring is now the default.
pub fn install_crypto_provider() -> bool {
    let _ = rustls::crypto::ring::default_provider().install_default();
    rustls::crypto::CryptoProvider::get_default().is_some()
}
