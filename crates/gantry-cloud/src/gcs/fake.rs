//! [`FakeGcs`]: an in-memory [`GcsApi`]: buckets with a location, objects with
//! sizes and generations, paged listing, and switches for outages and
//! permission errors. Clones share their state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

use crate::gcs::api::{
    BucketInfo, GcsApi, GcsError, GcsFuture, LocationType, ObjectInfo, ObjectPage,
};

#[derive(Debug, Default)]
struct Bucket {
    info: Option<BucketInfo>,
    objects: BTreeMap<String, (Bytes, i64)>,
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<String, Bucket>,
    forbidden: BTreeSet<String>,
    unavailable: bool,
    next_generation: i64,
    calls: u64,
    puts: u64,
}

/// An in-memory Cloud Storage.
#[derive(Clone, Debug, Default)]
pub struct FakeGcs {
    state: Arc<Mutex<State>>,
}

impl FakeGcs {
    /// No buckets.
    pub fn new() -> FakeGcs {
        FakeGcs::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates an empty bucket (or changes an existing one's location).
    pub fn create_bucket(&self, name: &str, location: &str, location_type: LocationType) {
        self.state()
            .buckets
            .entry(name.to_owned())
            .or_default()
            .info = Some(BucketInfo {
            name: name.to_owned(),
            location: location.to_owned(),
            location_type,
        });
    }

    /// Every call on `bucket` answers 403 from now on.
    pub fn forbid(&self, bucket: &str) {
        self.state().forbidden.insert(bucket.to_owned());
    }

    /// Every call fails as if the service were down, until set back.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.state().unavailable = unavailable;
    }

    /// Calls so far, failed ones included.
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Successful writes so far.
    pub fn puts(&self) -> u64 {
        self.state().puts
    }

    fn check<'s>(
        &self,
        state: &'s mut State,
        bucket: &str,
        action: &'static str,
    ) -> Result<&'s mut Bucket, GcsError> {
        state.calls += 1;
        if state.unavailable {
            return Err(GcsError::Unavailable {
                bucket: bucket.to_owned(),
                detail: "connection refused (fake)".to_owned(),
            });
        }
        if state.forbidden.contains(bucket) {
            return Err(GcsError::PermissionDenied {
                bucket: bucket.to_owned(),
                action,
                status: 403,
                message: "the caller does not have permission (fake)".to_owned(),
            });
        }
        match state.buckets.get_mut(bucket) {
            Some(found) if found.info.is_some() => Ok(found),
            _ => Err(GcsError::BucketNotFound {
                bucket: bucket.to_owned(),
            }),
        }
    }

    fn answer_bucket(&self, bucket: &str) -> Result<BucketInfo, GcsError> {
        let mut state = self.state();
        let found = self.check(&mut state, bucket, "read bucket metadata of")?;
        found.info.clone().ok_or_else(|| GcsError::BucketNotFound {
            bucket: bucket.to_owned(),
        })
    }

    fn answer_list(
        &self,
        bucket: &str,
        prefix: &str,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<ObjectPage, GcsError> {
        let mut state = self.state();
        let found = self.check(&mut state, bucket, "list")?;
        let page_size = usize::try_from(page_size.clamp(1, 1000)).unwrap_or(1000);
        let mut matching = found
            .objects
            .range(page_token.unwrap_or("").to_owned()..)
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, (body, generation))| ObjectInfo {
                name: name.clone(),
                size: u64::try_from(body.len()).unwrap_or(u64::MAX),
                generation: *generation,
            });
        let objects: Vec<ObjectInfo> = matching.by_ref().take(page_size).collect();
        let next_page_token = matching.next().map(|next| next.name);
        Ok(ObjectPage {
            objects,
            next_page_token,
        })
    }

    fn answer_put(&self, bucket: &str, name: &str, body: Bytes) -> Result<ObjectInfo, GcsError> {
        let mut state = self.state();
        state.next_generation += 1;
        let generation = 1_700_000_000_000_000 + state.next_generation;
        let size = u64::try_from(body.len()).unwrap_or(u64::MAX);
        let found = self.check(&mut state, bucket, "write to")?;
        found.objects.insert(name.to_owned(), (body, generation));
        state.puts += 1;
        Ok(ObjectInfo {
            name: name.to_owned(),
            size,
            generation,
        })
    }

    fn answer_get(&self, bucket: &str, name: &str) -> Result<Bytes, GcsError> {
        let mut state = self.state();
        let found = self.check(&mut state, bucket, "read from")?;
        found
            .objects
            .get(name)
            .map(|(body, _)| body.clone())
            .ok_or_else(|| GcsError::ObjectNotFound {
                bucket: bucket.to_owned(),
                object: name.to_owned(),
            })
    }
}

impl GcsApi for FakeGcs {
    fn bucket<'a>(&'a self, bucket: &'a str) -> GcsFuture<'a, BucketInfo> {
        Box::pin(std::future::ready(self.answer_bucket(bucket)))
    }

    fn list_objects<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        page_size: u32,
        page_token: Option<&'a str>,
    ) -> GcsFuture<'a, ObjectPage> {
        Box::pin(std::future::ready(
            self.answer_list(bucket, prefix, page_size, page_token),
        ))
    }

    fn put_object<'a>(
        &'a self,
        bucket: &'a str,
        name: &'a str,
        body: Bytes,
        _content_type: &'a str,
    ) -> GcsFuture<'a, ObjectInfo> {
        Box::pin(std::future::ready(self.answer_put(bucket, name, body)))
    }

    fn get_object<'a>(&'a self, bucket: &'a str, name: &'a str) -> GcsFuture<'a, Bytes> {
        Box::pin(std::future::ready(self.answer_get(bucket, name)))
    }
}
