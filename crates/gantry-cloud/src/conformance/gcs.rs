//! What every [`GcsApi`] does, given an existing, empty bucket.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;

use bytes::Bytes;

use crate::gcs::{GcsApi, GcsError, LocationType, ObjectInfo};

/// Every case, as `#[tokio::test]`s on a fresh bucket each.
#[macro_export]
macro_rules! gcs_conformance_suite {
    ($make:expr) => {
        $crate::gcs_conformance_suite!(@cases $make;
            bucket_metadata_has_a_location,
            a_missing_bucket_is_bucket_not_found,
            put_then_get_round_trips,
            an_overwrite_changes_the_generation,
            listing_pages_cover_every_object_once,
            an_empty_prefix_lists_nothing,
            a_missing_object_is_object_not_found,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (api, bucket, _guard) = $make.await;
                $crate::conformance::gcs::$case(api, bucket).await;
            }
        )*
    };
}

const MISSING_BUCKET: &str = "gantry-conformance-no-such-bucket";

pub async fn bucket_metadata_has_a_location(api: Arc<dyn GcsApi>, bucket: String) {
    let info = api.bucket(&bucket).await.unwrap();
    assert_eq!(info.name, bucket);
    assert!(!info.location.is_empty(), "{info:?}");
    assert!(
        matches!(
            info.location_type,
            LocationType::Region | LocationType::DualRegion | LocationType::MultiRegion
        ),
        "{info:?}"
    );
    if info.location_type == LocationType::Region {
        assert_eq!(info.region(), Some(info.location.to_ascii_lowercase()));
    } else {
        assert_eq!(info.region(), None);
    }
}

pub async fn a_missing_bucket_is_bucket_not_found(api: Arc<dyn GcsApi>, _bucket: String) {
    let not_found = GcsError::BucketNotFound {
        bucket: MISSING_BUCKET.to_owned(),
    };
    assert_eq!(api.bucket(MISSING_BUCKET).await.unwrap_err(), not_found);
    assert_eq!(
        api.list_objects(MISSING_BUCKET, "", 10, None)
            .await
            .unwrap_err(),
        not_found
    );
    let put = api
        .put_object(
            MISSING_BUCKET,
            "x.json",
            Bytes::from_static(b"{}"),
            "application/json",
        )
        .await
        .unwrap_err();
    assert_eq!(put, not_found);
    assert!(!not_found.is_transient());
}

pub async fn put_then_get_round_trips(api: Arc<dyn GcsApi>, bucket: String) {
    let body = Bytes::from_static(br#"{"eventType":"COMPLETE"}"#);
    let written = api
        .put_object(
            &bucket,
            "lineage/run 1.json",
            body.clone(),
            "application/json",
        )
        .await
        .unwrap();
    assert_eq!(written.name, "lineage/run 1.json");
    assert_eq!(written.size, 24);
    assert!(written.generation > 0, "{written:?}");
    assert_eq!(
        api.get_object(&bucket, "lineage/run 1.json").await.unwrap(),
        body
    );
}

pub async fn an_overwrite_changes_the_generation(api: Arc<dyn GcsApi>, bucket: String) {
    let first = api
        .put_object(&bucket, "a.txt", Bytes::from_static(b"one"), "text/plain")
        .await
        .unwrap();
    let second = api
        .put_object(&bucket, "a.txt", Bytes::from_static(b"three"), "text/plain")
        .await
        .unwrap();
    assert_ne!(first.generation, second.generation);
    let listed = api.list_objects(&bucket, "a.txt", 10, None).await.unwrap();
    assert_eq!(
        listed.objects,
        [ObjectInfo {
            name: "a.txt".to_owned(),
            size: 5,
            generation: second.generation,
        }]
    );
    assert_eq!(
        api.get_object(&bucket, "a.txt").await.unwrap(),
        Bytes::from_static(b"three")
    );
}

pub async fn listing_pages_cover_every_object_once(api: Arc<dyn GcsApi>, bucket: String) {
    let mut expected = Vec::new();
    for index in 0..7_usize {
        let name = format!("data/part-{index:02}.bin");
        let written = api
            .put_object(
                &bucket,
                &name,
                Bytes::from(vec![7_u8; index + 1]),
                "application/octet-stream",
            )
            .await
            .unwrap();
        expected.push(ObjectInfo {
            name,
            size: u64::try_from(index + 1).unwrap(),
            generation: written.generation,
        });
    }
    for other in ["dat", "other/part-00.bin"] {
        api.put_object(&bucket, other, Bytes::from_static(b"x"), "text/plain")
            .await
            .unwrap();
    }
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = api
            .list_objects(&bucket, "data/", 3, token.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.objects.len() <= 3, "{page:?}");
        listed.extend(page.objects);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
        assert!(pages < 10, "the listing does not end");
    }
    assert_eq!(listed, expected);
    assert!(
        pages >= 3,
        "7 objects in pages of 3 take at least 3 pages, took {pages}"
    );
}

pub async fn an_empty_prefix_lists_nothing(api: Arc<dyn GcsApi>, bucket: String) {
    api.put_object(&bucket, "present/x", Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap();
    let page = api
        .list_objects(&bucket, "absent/", 10, None)
        .await
        .unwrap();
    assert!(page.objects.is_empty());
    assert_eq!(page.next_page_token, None);
}

pub async fn a_missing_object_is_object_not_found(api: Arc<dyn GcsApi>, bucket: String) {
    let error = api
        .get_object(&bucket, "nothing-here.json")
        .await
        .unwrap_err();
    assert_eq!(
        error,
        GcsError::ObjectNotFound {
            bucket: bucket.clone(),
            object: "nothing-here.json".to_owned(),
        }
    );
}
