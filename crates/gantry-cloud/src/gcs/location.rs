//! Where a job's data lives and how big it is: [`DataLocator`] answers, for a
//! `gs://bucket/prefix`, the bucket's location and location type and the total
//! size, object count and generations under the prefix (every page of the
//! listing), cached for a while; and [`checkpoint_exists`] says whether a
//! checkpoint prefix has anything in it.
//!
//! A missing bucket, a permission error or an outage is a [`LocateError`] the
//! caller turns into a job event; nothing here panics on what the service says.
//! Errors are cached too, for a shorter time, so a job with a missing bucket
//! does not cost a request every scheduling pass.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gantry_core::{DataUri, StorageScheme};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::gcs::api::{BucketInfo, GcsApi, GcsError, ObjectInfo};

/// How the locator lists and caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocatorConfig {
    /// How long an answer is reused (default 10 minutes).
    pub ttl: Duration,
    /// How long an error is reused (default 1 minute).
    pub error_ttl: Duration,
    /// Objects per listing page (default 1000, the most the API gives).
    pub page_size: u32,
    /// Stop listing after this many objects; the size is then a lower bound
    /// and [`DataLocation::truncated`] says so (default 1,000,000).
    pub max_objects: u64,
    /// Objects whose names and generations are kept, for provenance (default 100).
    pub sample_objects: usize,
}

impl Default for LocatorConfig {
    fn default() -> Self {
        LocatorConfig {
            ttl: Duration::from_secs(10 * 60),
            error_ttl: Duration::from_secs(60),
            page_size: 1000,
            max_objects: 1_000_000,
            sample_objects: 100,
        }
    }
}

/// Why a data location could not be found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    /// The URI is not `gs://`.
    #[error("`{uri}` is not a Cloud Storage location (gs://)")]
    NotGcs {
        /// The URI.
        uri: String,
    },
    /// Cloud Storage refused or failed.
    #[error(transparent)]
    Storage(#[from] GcsError),
}

/// Where the data under one `gs://bucket/prefix` lives, and how much there is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataLocation {
    /// The URI asked for.
    pub uri: DataUri,
    /// The bucket's metadata.
    pub bucket: BucketInfo,
    /// Bytes under the prefix.
    pub total_bytes: u64,
    /// Objects under the prefix.
    pub object_count: u64,
    /// Whether the listing stopped at [`LocatorConfig::max_objects`].
    pub truncated: bool,
    /// SHA-256 (hex) of every listed `name generation` line in name order: it
    /// changes when any object is added, removed or overwritten.
    pub generations_digest: String,
    /// The first objects by name, with sizes and generations.
    pub sample: Vec<ObjectInfo>,
    /// When the listing was made.
    pub listed_at: Timestamp,
}

impl DataLocation {
    /// The region for egress pricing ([`BucketInfo::region`]): `None` for dual-
    /// and multi-region buckets.
    pub fn region(&self) -> Option<String> {
        self.bucket.region()
    }
}

type CacheEntry = (Timestamp, Result<Arc<DataLocation>, LocateError>);

/// Data locations with a cache. Share it (`Arc`) between tasks.
#[derive(Debug)]
pub struct DataLocator {
    api: Arc<dyn GcsApi>,
    config: LocatorConfig,
    cache: Mutex<BTreeMap<(String, String), CacheEntry>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn older_than(then: Timestamp, now: Timestamp, limit: Duration) -> bool {
    let limit = SignedDuration::try_from(limit).unwrap_or(SignedDuration::MAX);
    now.duration_since(then) >= limit
}

impl DataLocator {
    /// A locator over `api`.
    pub fn new(api: Arc<dyn GcsApi>, config: LocatorConfig) -> DataLocator {
        DataLocator {
            api,
            config,
            cache: Mutex::new(BTreeMap::new()),
        }
    }

    /// The cached answer for `uri`, if one is fresh at `now` (never waits on
    /// the network: what a scheduling pass may call).
    pub fn cached(
        &self,
        uri: &DataUri,
        now: Timestamp,
    ) -> Option<Result<Arc<DataLocation>, LocateError>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, answer) = cache.get(&(uri.bucket.clone(), uri.path.clone()))?;
        let ttl = if answer.is_ok() {
            self.config.ttl
        } else {
            self.config.error_ttl
        };
        (!older_than(*at, now, ttl)).then(|| answer.clone())
    }

    /// The location of `uri`: from the cache when fresh, else from the
    /// service (bucket metadata, then every page under the prefix).
    pub async fn locate(
        &self,
        uri: &DataUri,
        now: Timestamp,
    ) -> Result<Arc<DataLocation>, LocateError> {
        if let Some(answer) = self.cached(uri, now) {
            return answer;
        }
        let answer = self.fetch(uri, now).await.map(Arc::new);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                (uri.bucket.clone(), uri.path.clone()),
                (now, answer.clone()),
            );
        answer
    }

    /// Forgets every cached answer (e.g. after a job event says data changed).
    pub fn clear(&self) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    async fn fetch(&self, uri: &DataUri, now: Timestamp) -> Result<DataLocation, LocateError> {
        if uri.scheme != StorageScheme::Gcs {
            return Err(LocateError::NotGcs {
                uri: uri.to_string(),
            });
        }
        let bucket = self.api.bucket(&uri.bucket).await?;
        let mut digest = Sha256::new();
        let (mut total_bytes, mut object_count) = (0_u64, 0_u64);
        let mut sample = Vec::new();
        let mut truncated = false;
        let mut page_token: Option<String> = None;
        loop {
            let page = self
                .api
                .list_objects(
                    &uri.bucket,
                    &uri.path,
                    self.config.page_size,
                    page_token.as_deref(),
                )
                .await?;
            for object in page.objects {
                total_bytes = total_bytes.saturating_add(object.size);
                object_count += 1;
                digest.update(format!("{} {}\n", object.name, object.generation).as_bytes());
                if sample.len() < self.config.sample_objects {
                    sample.push(object);
                }
            }
            match page.next_page_token {
                Some(token) if page_token.as_deref() == Some(token.as_str()) => {
                    // A service that hands back the same token would loop forever.
                    return Err(LocateError::Storage(GcsError::BadResponse {
                        bucket: uri.bucket.clone(),
                        detail: "the listing repeated its page token".to_owned(),
                    }));
                }
                Some(_) if object_count >= self.config.max_objects => {
                    truncated = true;
                    break;
                }
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        Ok(DataLocation {
            uri: uri.clone(),
            bucket,
            total_bytes,
            object_count,
            truncated,
            generations_digest: hex(&digest.finalize()),
            sample,
            listed_at: now,
        })
    }
}

/// Whether anything exists under the checkpoint prefix `uri` (one listing
/// request of one object). A missing bucket is an error, not `false`: resuming
/// from scratch because a bucket name is wrong would throw work away silently.
pub async fn checkpoint_exists(api: &dyn GcsApi, uri: &DataUri) -> Result<bool, LocateError> {
    if uri.scheme != StorageScheme::Gcs {
        return Err(LocateError::NotGcs {
            uri: uri.to_string(),
        });
    }
    let page = api.list_objects(&uri.bucket, &uri.path, 1, None).await?;
    Ok(!page.objects.is_empty())
}
