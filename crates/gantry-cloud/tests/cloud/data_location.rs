//! Data locations: sizes over every page, the bucket's region, the cache, and
//! typed errors for missing buckets and permissions; checkpoints.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gantry_cloud::gcs::{
    DataLocator, FakeGcs, GcsApi, GcsClient, GcsConfig, GcsError, LocateError, LocationType,
    LocatorConfig, checkpoint_exists,
};
use gantry_core::DataUri;

use crate::support::{at, create_emulator_bucket, gcs_url, unique_bucket};

fn uri(text: &str) -> DataUri {
    DataUri::parse(text).unwrap()
}

fn small_pages() -> LocatorConfig {
    LocatorConfig {
        page_size: 2,
        sample_objects: 3,
        ..LocatorConfig::default()
    }
}

async fn fill(api: &dyn GcsApi, bucket: &str) {
    for index in 0..5_usize {
        api.put_object(
            bucket,
            &format!("sft-v3/shard-{index}"),
            Bytes::from(vec![0_u8; 100 * (index + 1)]),
            "application/octet-stream",
        )
        .await
        .unwrap();
    }
    api.put_object(
        bucket,
        "other/file",
        Bytes::from_static(b"12345"),
        "text/plain",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_prefix_on_the_emulator_is_sized_over_every_page() {
    let url = gcs_url();
    let bucket = unique_bucket("locate");
    create_emulator_bucket(&url, &bucket).await;
    let api: Arc<dyn GcsApi> = Arc::new(GcsClient::new(&GcsConfig::emulator(&url)).await.unwrap());
    fill(&*api, &bucket).await;
    let locator = DataLocator::new(Arc::clone(&api), small_pages());
    let location = locator
        .locate(
            &uri(&format!("gs://{bucket}/sft-v3/")),
            at("2026-01-05T15:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(location.total_bytes, 1500);
    assert_eq!(location.object_count, 5);
    assert!(!location.truncated);
    assert_eq!(location.sample.len(), 3);
    assert!(location.sample.iter().all(|object| object.generation > 0));
    // fake-gcs-server puts every bucket in its -location (default US-CENTRAL1).
    assert_eq!(location.bucket.location_type, LocationType::Region);
    assert_eq!(location.region(), Some("us-central1".to_owned()));
    assert_eq!(location.generations_digest.len(), 64);

    assert!(
        checkpoint_exists(&*api, &uri(&format!("gs://{bucket}/sft-v3/")))
            .await
            .unwrap()
    );
    assert!(
        !checkpoint_exists(&*api, &uri(&format!("gs://{bucket}/ckpt/none/")))
            .await
            .unwrap()
    );
    let missing = checkpoint_exists(&*api, &uri("gs://gantry-no-such-bucket/ckpt/"))
        .await
        .unwrap_err();
    assert_eq!(
        missing,
        LocateError::Storage(GcsError::BucketNotFound {
            bucket: "gantry-no-such-bucket".to_owned()
        })
    );
}

#[tokio::test]
async fn a_missing_bucket_on_the_emulator_is_a_clear_error() {
    let api: Arc<dyn GcsApi> = Arc::new(
        GcsClient::new(&GcsConfig::emulator(&gcs_url()))
            .await
            .unwrap(),
    );
    let locator = DataLocator::new(api, LocatorConfig::default());
    let error = locator
        .locate(
            &uri("gs://gantry-no-such-bucket/data/"),
            at("2026-01-05T15:00:00Z"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "bucket gs://gantry-no-such-bucket does not exist"
    );
}

#[tokio::test]
async fn answers_are_cached_for_the_ttl_and_errors_for_less() {
    let fake = FakeGcs::new();
    fake.create_bucket("acme-datasets", "EUROPE-WEST4", LocationType::Region);
    fill(&fake, "acme-datasets").await;
    let locator = DataLocator::new(Arc::new(fake.clone()), small_pages());
    let data = uri("gs://acme-datasets/sft-v3/");
    let now = at("2026-01-05T15:00:00Z");
    assert_eq!(locator.cached(&data, now), None);
    let first = locator.locate(&data, now).await.unwrap();
    assert_eq!(first.region(), Some("europe-west4".to_owned()));
    let calls = fake.calls();
    // Within the TTL: no call, the same answer, also through `cached`.
    let again = locator
        .locate(&data, now + jiff::SignedDuration::from_mins(9))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(fake.calls(), calls);
    assert!(
        locator
            .cached(&data, now + jiff::SignedDuration::from_mins(9))
            .is_some()
    );
    // After it: listed again.
    locator
        .locate(&data, now + jiff::SignedDuration::from_mins(10))
        .await
        .unwrap();
    assert!(fake.calls() > calls);

    // Errors are cached for a minute.
    let missing = uri("gs://nope-bucket/x/");
    locator.locate(&missing, now).await.unwrap_err();
    let calls = fake.calls();
    locator
        .locate(&missing, now + jiff::SignedDuration::from_secs(59))
        .await
        .unwrap_err();
    assert_eq!(fake.calls(), calls);
    locator
        .locate(&missing, now + jiff::SignedDuration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(fake.calls(), calls + 1);
}

#[tokio::test]
async fn permission_errors_and_multi_region_buckets_say_what_they_are() {
    let fake = FakeGcs::new();
    fake.create_bucket("locked", "US-EAST1", LocationType::Region);
    fake.forbid("locked");
    fake.create_bucket("everywhere", "US", LocationType::MultiRegion);
    fake.put_object(
        "everywhere",
        "d/x",
        Bytes::from_static(b"abc"),
        "text/plain",
    )
    .await
    .unwrap();
    let locator = DataLocator::new(Arc::new(fake), LocatorConfig::default());
    let now = at("2026-01-05T15:00:00Z");
    let error = locator
        .locate(&uri("gs://locked/d/"), now)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            LocateError::Storage(GcsError::PermissionDenied { status: 403, .. })
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("not allowed to read bucket metadata of gs://locked")
    );
    let everywhere = locator
        .locate(&uri("gs://everywhere/d/"), now)
        .await
        .unwrap();
    assert_eq!(
        everywhere.region(),
        None,
        "a multi-region bucket has no one region"
    );
    assert_eq!(everywhere.total_bytes, 3);
    let not_gcs = locator
        .locate(&uri("s3://bucket/x"), now)
        .await
        .unwrap_err();
    assert!(matches!(not_gcs, LocateError::NotGcs { .. }));
}

#[tokio::test]
async fn a_listing_stops_at_the_object_limit_and_says_so() {
    let fake = FakeGcs::new();
    fake.create_bucket("big", "US-CENTRAL1", LocationType::Region);
    fill(&fake, "big").await;
    let locator = DataLocator::new(
        Arc::new(fake),
        LocatorConfig {
            page_size: 2,
            max_objects: 3,
            ttl: Duration::from_secs(1),
            ..LocatorConfig::default()
        },
    );
    let location = locator
        .locate(&uri("gs://big/sft-v3/"), at("2026-01-05T15:00:00Z"))
        .await
        .unwrap();
    assert!(location.truncated);
    assert_eq!(location.object_count, 4);
}
