//! The Cloud Storage boundary: four calls as a small dyn-compatible trait.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

/// A boxed future of a storage call.
pub type GcsFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, GcsError>> + Send + 'a>>;

/// What went wrong talking to Cloud Storage. Every variant names the bucket.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GcsError {
    /// The bucket does not exist.
    #[error("bucket gs://{bucket} does not exist")]
    BucketNotFound {
        /// The bucket.
        bucket: String,
    },
    /// The object does not exist.
    #[error("object gs://{bucket}/{object} does not exist")]
    ObjectNotFound {
        /// The bucket.
        bucket: String,
        /// The object.
        object: String,
    },
    /// The credentials may not do this (HTTP 401 or 403).
    #[error("not allowed to {action} gs://{bucket} (HTTP {status}): {message}")]
    PermissionDenied {
        /// The bucket.
        bucket: String,
        /// What was attempted: `read bucket metadata of`, `list`, `write to`, `read from`.
        action: &'static str,
        /// 401 or 403.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The service could not be reached, timed out, or answered 5xx / 429.
    #[error("cloud storage unavailable for gs://{bucket}: {detail}")]
    Unavailable {
        /// The bucket.
        bucket: String,
        /// What happened.
        detail: String,
    },
    /// Credentials could not be found or refreshed.
    #[error("no usable google credentials for gs://{bucket}: {detail}")]
    Credentials {
        /// The bucket.
        bucket: String,
        /// What happened.
        detail: String,
    },
    /// Any other refusal, or an answer that is not the expected JSON.
    #[error("cloud storage refused or garbled a request for gs://{bucket}: {detail}")]
    BadResponse {
        /// The bucket.
        bucket: String,
        /// What happened.
        detail: String,
    },
}

impl GcsError {
    /// Whether trying again later may help (outages, throttling), as opposed to
    /// a missing bucket, a permission or a malformed answer.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GcsError::Unavailable { .. } | GcsError::Credentials { .. }
        )
    }

    /// A short label for metrics and job events.
    pub fn kind(&self) -> &'static str {
        match self {
            GcsError::BucketNotFound { .. } => "bucket_not_found",
            GcsError::ObjectNotFound { .. } => "object_not_found",
            GcsError::PermissionDenied { .. } => "permission_denied",
            GcsError::Unavailable { .. } => "unavailable",
            GcsError::Credentials { .. } => "credentials",
            GcsError::BadResponse { .. } => "bad_response",
        }
    }
}

/// How a bucket's data is placed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LocationType {
    /// One region, e.g. `EUROPE-WEST4`.
    Region,
    /// Two regions, e.g. `EUR4` or a configurable pair.
    DualRegion,
    /// A multi-region, e.g. `US`, `EU`, `ASIA`.
    MultiRegion,
    /// A type this code does not know, as the service wrote it.
    Other(String),
}

impl LocationType {
    /// Reads the JSON API's `locationType` (`region`, `dual-region`, `multi-region`).
    pub fn parse(text: &str) -> LocationType {
        match text.to_ascii_lowercase().as_str() {
            "region" => LocationType::Region,
            "dual-region" => LocationType::DualRegion,
            "multi-region" => LocationType::MultiRegion,
            _ => LocationType::Other(text.to_owned()),
        }
    }

    /// The JSON API's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            LocationType::Region => "region",
            LocationType::DualRegion => "dual-region",
            LocationType::MultiRegion => "multi-region",
            LocationType::Other(text) => text,
        }
    }
}

impl fmt::Display for LocationType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A bucket's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketInfo {
    /// The bucket's name.
    pub name: String,
    /// Its location as the service writes it (`EUROPE-WEST4`, `US`, `EUR4`).
    pub location: String,
    /// How its data is placed.
    pub location_type: LocationType,
}

impl BucketInfo {
    /// The region for egress pricing: the lowercase location of a
    /// single-region bucket (`europe-west4`), else `None` (the scheduler prices
    /// an unknown region as another region of the same cloud).
    pub fn region(&self) -> Option<String> {
        (self.location_type == LocationType::Region && !self.location.is_empty())
            .then(|| self.location.to_ascii_lowercase())
    }
}

/// One object's listing entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectInfo {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its generation (changes on every overwrite).
    pub generation: i64,
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectPage {
    /// Objects, in name order.
    pub objects: Vec<ObjectInfo>,
    /// The token for the next page; `None` on the last.
    pub next_page_token: Option<String>,
}

/// The calls Gantry makes to Cloud Storage. Implementations:
/// [`crate::gcs::GcsClient`] (the JSON API for metadata and listing, the
/// google-cloud-storage crate for objects) and [`crate::gcs::FakeGcs`]; both
/// pass `gantry_cloud::conformance::gcs`.
pub trait GcsApi: fmt::Debug + Send + Sync {
    /// The bucket's metadata.
    fn bucket<'a>(&'a self, bucket: &'a str) -> GcsFuture<'a, BucketInfo>;

    /// One page of the objects whose names start with `prefix`, at most
    /// `page_size` (1 to 1000), from `page_token` on.
    fn list_objects<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        page_size: u32,
        page_token: Option<&'a str>,
    ) -> GcsFuture<'a, ObjectPage>;

    /// Writes `body` as `name` in one request (no resumable upload), replacing
    /// any object of that name.
    fn put_object<'a>(
        &'a self,
        bucket: &'a str,
        name: &'a str,
        body: Bytes,
        content_type: &'a str,
    ) -> GcsFuture<'a, ObjectInfo>;

    /// Reads a whole object.
    fn get_object<'a>(&'a self, bucket: &'a str, name: &'a str) -> GcsFuture<'a, Bytes>;
}
