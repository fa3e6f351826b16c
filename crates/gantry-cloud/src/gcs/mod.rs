//! Google Cloud Storage: data locations, checkpoint checks, and the object
//! writes the provenance exporter makes.
//!
//! - `api`: the [`GcsApi`] trait (bucket, list a page, put, get) and its values.
//! - `client`: [`GcsClient`], the real one (JSON API + google-cloud-storage).
//! - `fake`: [`FakeGcs`], in memory.
//! - `location`: [`DataLocator`] (cached, every page) and [`checkpoint_exists`].

mod api;
mod client;
mod fake;
mod location;

pub use api::{BucketInfo, GcsApi, GcsError, GcsFuture, LocationType, ObjectInfo, ObjectPage};
pub use client::{DEFAULT_ENDPOINT, GcsClient, GcsConfig, GcsCredentials, GcsSetupError};
pub use fake::FakeGcs;
pub use location::{DataLocation, DataLocator, LocateError, LocatorConfig, checkpoint_exists};
