//! AWS: EC2's instance catalog, offerings by zone and spot price history.
//!
//! - `api`: the [`Ec2Api`] trait (three read-only calls, every page collected)
//!   and its records, which keep what the wire said.
//! - `sdk`: [`AwsEc2`], the trait over aws-sdk-ec2 (the only place the SDK is used).
//! - `fake`: [`FakeEc2`], in memory.
//! - `catalog`: [`InstanceCatalog`], shapes and zones in Gantry's units.
//! - `gpu_names`: EC2's GPU names to canonical models.

mod api;
mod catalog;
mod fake;
pub(crate) mod gpu_names;
mod sdk;

pub use api::{
    Ec2Api, Ec2Error, Ec2Future, GpuDevice, InstanceOffering, InstanceTypeInfo, SpotPriceQuery,
    SpotPriceRecord,
};
pub use catalog::{CatalogMismatch, InstanceCatalog, InstanceShape};
pub use fake::FakeEc2;
pub use sdk::{AwsEc2, Ec2Endpoint, Ec2Options};
