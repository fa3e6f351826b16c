//! The conformance suites: what every implementation of a port must do. Each
//! public `async fn` of a suite is one case; the suite's macro turns them all
//! into `#[tokio::test]`s for one implementation, building it afresh per case:
//!
//! ```ignore
//! gantry_cloud::ec2_conformance_suite!(async { (Arc::new(FakeEc2::with_sample_catalog()) as Arc<dyn Ec2Api>, ()) });
//! gantry_cloud::price_feed_conformance_suite!(async { (feed, ()) });
//! gantry_cloud::gcs_conformance_suite!(async { (api, bucket_name, guard) });
//! ```
//!
//! The second value (the third for GCS) is a guard kept alive for the case.
//! Test code: it asserts, and is built only with the `conformance` feature.

pub mod ec2;
pub mod gcs;
pub mod price_feed;
