//! [`GcsClient`]: the [`GcsApi`] over Cloud Storage.
//!
//! Objects (write, read) go through the google-cloud-storage crate's `Storage`
//! client, buffered and single-shot: every body Gantry writes is far below the resumable
//! threshold set here (resumable uploads lose the port of an endpoint that is
//! not on 80 or 443, which is every emulator). Bucket metadata and listing go
//! through the JSON API (`storage/v1`) with reqwest, the HTTP client the crate
//! itself is built on, and the same credentials: the crate's `StorageControl`
//! client speaks gRPC, which emulators do not serve, so this keeps one code
//! path for production and tests.
//!
//! Credentials: the standard Google chain (Application Default Credentials:
//! `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's user credentials, workload
//! identity, the metadata server) in production; anonymous for emulators.

use std::time::Duration;

use bytes::Bytes;
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_storage::client::Storage;
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::gcs::api::{
    BucketInfo, GcsApi, GcsError, GcsFuture, LocationType, ObjectInfo, ObjectPage,
};

/// Cloud Storage's public endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// Bodies up to this size are written in one request.
const SINGLE_SHOT_LIMIT: usize = 16 << 20;
/// The most the JSON API returns per page.
const MAX_PAGE_SIZE: u32 = 1000;
/// How much of an error body is kept in an error message.
const ERROR_SNIPPET: usize = 200;

/// Which credentials to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcsCredentials {
    /// Application Default Credentials.
    Default,
    /// No credentials (emulators, public buckets).
    Anonymous,
}

/// How to reach Cloud Storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcsConfig {
    /// The endpoint; [`DEFAULT_ENDPOINT`] in production, the emulator's URL in tests.
    pub endpoint: String,
    /// Which credentials.
    pub credentials: GcsCredentials,
    /// The most one metadata or listing request may take.
    pub request_timeout: Duration,
}

impl Default for GcsConfig {
    fn default() -> Self {
        GcsConfig {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            credentials: GcsCredentials::Default,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl GcsConfig {
    /// An emulator at `endpoint` (`http://127.0.0.1:4443`), anonymous.
    pub fn emulator(endpoint: &str) -> GcsConfig {
        GcsConfig {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            credentials: GcsCredentials::Anonymous,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a client could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GcsSetupError {
    /// The endpoint is not a URL.
    #[error("cloud storage endpoint `{endpoint}` is not a URL: {detail}")]
    BadEndpoint {
        /// The endpoint.
        endpoint: String,
        /// Why.
        detail: String,
    },
    /// The credentials chain found nothing usable.
    #[error("no google credentials found: {detail}")]
    Credentials {
        /// Why.
        detail: String,
    },
    /// The HTTP or storage client could not be built.
    #[error("cannot build the cloud storage client: {detail}")]
    Client {
        /// Why.
        detail: String,
    },
}

/// Cloud Storage through its JSON API and the google-cloud-storage crate.
#[derive(Clone, Debug)]
pub struct GcsClient {
    json_base: Url,
    http: reqwest::Client,
    credentials: Credentials,
    storage: Storage,
}

impl GcsClient {
    /// A client for `config`.
    pub async fn new(config: &GcsConfig) -> Result<GcsClient, GcsSetupError> {
        crate::install_crypto_provider();
        let endpoint = config.endpoint.trim_end_matches('/');
        let json_base = Url::parse(&format!("{endpoint}/storage/v1/")).map_err(|error| {
            GcsSetupError::BadEndpoint {
                endpoint: config.endpoint.clone(),
                detail: error.to_string(),
            }
        })?;
        let credentials = match config.credentials {
            GcsCredentials::Anonymous => {
                google_cloud_auth::credentials::anonymous::Builder::new().build()
            }
            GcsCredentials::Default => google_cloud_auth::credentials::Builder::default()
                .build()
                .map_err(|error| GcsSetupError::Credentials {
                detail: error.to_string(),
            })?,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(config.request_timeout)
            .build()
            .map_err(|error| GcsSetupError::Client {
                detail: error.to_string(),
            })?;
        let storage = Storage::builder()
            .with_endpoint(endpoint)
            .with_credentials(credentials.clone())
            .with_resumable_upload_threshold(SINGLE_SHOT_LIMIT)
            .build()
            .await
            .map_err(|error| GcsSetupError::Client {
                detail: error.to_string(),
            })?;
        Ok(GcsClient {
            json_base,
            http,
            credentials,
            storage,
        })
    }

    fn url(&self, bucket: &str, objects: bool) -> Result<Url, GcsError> {
        let mut url = self.json_base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| GcsError::BadResponse {
                    bucket: bucket.to_owned(),
                    detail: "the endpoint cannot take a path".to_owned(),
                })?;
            segments.pop_if_empty().push("b").push(bucket);
            if objects {
                segments.push("o");
            }
        }
        Ok(url)
    }

    async fn auth_headers(&self, bucket: &str) -> Result<reqwest::header::HeaderMap, GcsError> {
        match self.credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) => Ok(reqwest::header::HeaderMap::new()),
            Err(error) => Err(GcsError::Credentials {
                bucket: bucket.to_owned(),
                detail: error.to_string(),
            }),
        }
    }

    /// GETs `url` and returns its JSON, mapping statuses to [`GcsError`].
    async fn get_json(
        &self,
        bucket: &str,
        action: &'static str,
        url: Url,
    ) -> Result<Value, GcsError> {
        let headers = self.auth_headers(bucket).await?;
        let response = self
            .http
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(|error| GcsError::Unavailable {
                bucket: bucket.to_owned(),
                detail: error_chain(&error),
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| GcsError::Unavailable {
                bucket: bucket.to_owned(),
                detail: error_chain(&error),
            })?;
        if !status.is_success() {
            return Err(status_error(bucket, action, status, &body));
        }
        serde_json::from_slice(&body).map_err(|error| GcsError::BadResponse {
            bucket: bucket.to_owned(),
            detail: format!("the answer is not JSON: {error}"),
        })
    }

    async fn fetch_bucket(&self, bucket: &str) -> Result<BucketInfo, GcsError> {
        let url = self.url(bucket, false)?;
        let json = self
            .get_json(bucket, "read bucket metadata of", url)
            .await?;
        parse_bucket(bucket, &json)
    }

    async fn fetch_page(
        &self,
        bucket: &str,
        prefix: &str,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<ObjectPage, GcsError> {
        let mut url = self.url(bucket, true)?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("prefix", prefix)
                .append_pair("maxResults", &page_size.clamp(1, MAX_PAGE_SIZE).to_string())
                .append_pair("fields", "items(name,size,generation),nextPageToken");
            if let Some(token) = page_token {
                query.append_pair("pageToken", token);
            }
        }
        let json = self.get_json(bucket, "list", url).await?;
        parse_page(bucket, &json)
    }

    async fn write(
        &self,
        bucket: &str,
        name: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<ObjectInfo, GcsError> {
        let object = self
            .storage
            .write_object(format!("projects/_/buckets/{bucket}"), name, body)
            .set_content_type(content_type)
            // Buffered: the crate computes the CRC32C first and sends it with
            // the metadata, a two-part multipart upload. Unbuffered single-shot
            // uploads send it in a third, trailing part, which fake-gcs-server
            // does not understand (it reports another CRC32C and the write fails).
            .send_buffered()
            .await
            .map_err(|error| storage_error(bucket, name, "write to", &error))?;
        Ok(ObjectInfo {
            name: object.name,
            size: u64::try_from(object.size).unwrap_or(0),
            generation: object.generation,
        })
    }

    async fn read(&self, bucket: &str, name: &str) -> Result<Bytes, GcsError> {
        let mut response = self
            .storage
            .read_object(format!("projects/_/buckets/{bucket}"), name)
            .send()
            .await
            .map_err(|error| storage_error(bucket, name, "read from", &error))?;
        let mut contents = Vec::new();
        while let Some(chunk) = response.next().await {
            let chunk = chunk.map_err(|error| storage_error(bucket, name, "read from", &error))?;
            contents.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(contents))
    }
}

/// The error and its sources, one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn snippet(body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|json| {
            json.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    message.chars().take(ERROR_SNIPPET).collect()
}

fn status_error(bucket: &str, action: &'static str, status: StatusCode, body: &[u8]) -> GcsError {
    let bucket = bucket.to_owned();
    match status.as_u16() {
        404 => GcsError::BucketNotFound { bucket },
        code @ (401 | 403) => GcsError::PermissionDenied {
            bucket,
            action,
            status: code,
            message: snippet(body),
        },
        429 | 500..=599 => GcsError::Unavailable {
            bucket,
            detail: format!("HTTP {status}: {}", snippet(body)),
        },
        _ => GcsError::BadResponse {
            bucket,
            detail: format!("HTTP {status}: {}", snippet(body)),
        },
    }
}

fn storage_error(
    bucket: &str,
    object: &str,
    action: &'static str,
    error: &google_cloud_storage::Error,
) -> GcsError {
    let bucket = bucket.to_owned();
    let detail = error_chain(error);
    match error.http_status_code() {
        Some(404) if action == "write to" => GcsError::BucketNotFound { bucket },
        Some(404) => GcsError::ObjectNotFound {
            bucket,
            object: object.to_owned(),
        },
        Some(code @ (401 | 403)) => GcsError::PermissionDenied {
            bucket,
            action,
            status: code,
            message: detail,
        },
        Some(429 | 500..=599) => GcsError::Unavailable { bucket, detail },
        Some(_) => GcsError::BadResponse { bucket, detail },
        None if error.is_authentication() => GcsError::Credentials { bucket, detail },
        None if error.is_transport() || error.is_timeout() || error.is_io() => {
            GcsError::Unavailable { bucket, detail }
        }
        None => GcsError::BadResponse { bucket, detail },
    }
}

/// A JSON integer the API may send as a string (`"size": "123"`).
fn integer(value: Option<&Value>) -> Option<i128> {
    match value? {
        Value::String(text) => text.parse().ok(),
        Value::Number(number) => number.as_i64().map(i128::from),
        _ => None,
    }
}

pub(crate) fn parse_bucket(bucket: &str, json: &Value) -> Result<BucketInfo, GcsError> {
    let bad = |detail: &str| GcsError::BadResponse {
        bucket: bucket.to_owned(),
        detail: detail.to_owned(),
    };
    let location = json
        .get("location")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("bucket metadata has no `location`"))?;
    let location_type = json
        .get("locationType")
        .and_then(Value::as_str)
        .map_or(LocationType::Other(String::new()), LocationType::parse);
    Ok(BucketInfo {
        name: json
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(bucket)
            .to_owned(),
        location: location.to_owned(),
        location_type,
    })
}

pub(crate) fn parse_page(bucket: &str, json: &Value) -> Result<ObjectPage, GcsError> {
    let bad = |detail: String| GcsError::BadResponse {
        bucket: bucket.to_owned(),
        detail,
    };
    if !json.is_object() {
        return Err(bad("a listing is a JSON object".to_owned()));
    }
    let items = match json.get("items") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err(bad("`items` is not a list".to_owned())),
    };
    let mut objects = Vec::with_capacity(items.len());
    for item in items {
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a listed object has no `name`".to_owned()))?;
        let size = integer(item.get("size"))
            .and_then(|size| u64::try_from(size).ok())
            .ok_or_else(|| bad(format!("object `{name}` has no valid `size`")))?;
        let generation = integer(item.get("generation"))
            .and_then(|generation| i64::try_from(generation).ok())
            .unwrap_or(0);
        objects.push(ObjectInfo {
            name: name.to_owned(),
            size,
            generation,
        });
    }
    let next_page_token = json
        .get("nextPageToken")
        .and_then(Value::as_str)
        .filter(|token| !token.is_empty())
        .map(str::to_owned);
    Ok(ObjectPage {
        objects,
        next_page_token,
    })
}

impl GcsApi for GcsClient {
    fn bucket<'a>(&'a self, bucket: &'a str) -> GcsFuture<'a, BucketInfo> {
        Box::pin(self.fetch_bucket(bucket))
    }

    fn list_objects<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        page_size: u32,
        page_token: Option<&'a str>,
    ) -> GcsFuture<'a, ObjectPage> {
        Box::pin(self.fetch_page(bucket, prefix, page_size, page_token))
    }

    fn put_object<'a>(
        &'a self,
        bucket: &'a str,
        name: &'a str,
        body: Bytes,
        content_type: &'a str,
    ) -> GcsFuture<'a, ObjectInfo> {
        Box::pin(self.write(bucket, name, body, content_type))
    }

    fn get_object<'a>(&'a self, bucket: &'a str, name: &'a str) -> GcsFuture<'a, Bytes> {
        Box::pin(self.read(bucket, name))
    }
}
