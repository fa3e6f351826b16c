//! The EC2 boundary: the three read-only calls Gantry makes, as a small
//! dyn-compatible trait, and the records they return.
//!
//! Records keep what the API said, with every field optional where the wire
//! allows it to be absent: deciding what is believable is the callers' job
//! ([`crate::prices::check_quote`], [`crate::aws::InstanceCatalog`]), so a
//! garbage answer is rejected with a reason instead of failing the whole call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use gantry_core::GpuModel;
use jiff::Timestamp;

/// A boxed future of an EC2 call, so the trait stays dyn-compatible.
pub type Ec2Future<'a, T> = Pin<Box<dyn Future<Output = Result<T, Ec2Error>> + Send + 'a>>;

/// What went wrong talking to EC2.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ec2Error {
    /// The endpoint could not be reached (connection refused, DNS, TLS, timeout).
    #[error("ec2 endpoint unreachable for {operation} in {region}: {detail}")]
    Unreachable {
        /// The API operation, e.g. `DescribeSpotPriceHistory`.
        operation: &'static str,
        /// The region asked.
        region: String,
        /// The transport's words.
        detail: String,
    },
    /// EC2 answered with an error code (auth, throttling, a bad parameter).
    #[error("ec2 refused {operation} in {region}: {code}: {message}")]
    Refused {
        /// The API operation.
        operation: &'static str,
        /// The region asked.
        region: String,
        /// EC2's error code, e.g. `AuthFailure`, `RequestLimitExceeded`.
        code: String,
        /// EC2's message.
        message: String,
    },
    /// The answer was not a response of the operation's shape.
    #[error(
        "ec2 answered {operation} in {region} with something that is not its response: {detail}"
    )]
    BadResponse {
        /// The API operation.
        operation: &'static str,
        /// The region asked.
        region: String,
        /// What could not be read.
        detail: String,
    },
}

impl Ec2Error {
    /// A short label for metrics: `unreachable`, `refused`, `bad_response`.
    pub fn kind(&self) -> &'static str {
        match self {
            Ec2Error::Unreachable { .. } => "unreachable",
            Ec2Error::Refused { .. } => "refused",
            Ec2Error::BadResponse { .. } => "bad_response",
        }
    }
}

/// One instance type's shape, from `DescribeInstanceTypes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceTypeInfo {
    /// The instance type, e.g. `p4d.24xlarge`.
    pub instance_type: String,
    /// Default vCPUs.
    pub vcpus: Option<u32>,
    /// Memory in MiB.
    pub memory_mib: Option<u64>,
    /// The GPUs, one entry per kind (EC2 lists one for every GPU type today).
    pub gpus: Vec<GpuDevice>,
}

/// One kind of GPU in an instance type, as EC2 names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuDevice {
    /// EC2's name, e.g. `A100`, `H100`, `A10G`, `L4`.
    pub name: Option<String>,
    /// EC2's manufacturer, e.g. `NVIDIA`.
    pub manufacturer: Option<String>,
    /// GPUs of this kind per instance.
    pub count: Option<u32>,
    /// Memory of one GPU in MiB.
    pub memory_mib: Option<u64>,
}

impl GpuDevice {
    /// The canonical model: EC2's name, told apart by memory where one name
    /// covers two models (EC2 calls both A100s `A100`, both V100s `V100`).
    pub fn model(&self) -> Option<GpuModel> {
        crate::aws::gpu_names::model_from_ec2(self.name.as_deref()?, self.memory_mib)
    }
}

/// Where an instance type can be launched, from `DescribeInstanceTypeOfferings`
/// by availability zone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct InstanceOffering {
    /// The instance type.
    pub instance_type: String,
    /// The zone's name, e.g. `us-east-1a` (what `topology.kubernetes.io/zone` says).
    pub zone: String,
}

/// What to ask `DescribeSpotPriceHistory` for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpotPriceQuery {
    /// Instance types; empty asks for none (not for all).
    pub instance_types: Vec<String>,
    /// Product descriptions, e.g. `Linux/UNIX`.
    pub product_descriptions: Vec<String>,
    /// The start of the window. EC2 also returns the price in effect at that
    /// moment, so every (type, zone) with a price appears at least once.
    pub start_time: Timestamp,
}

/// One record of `DescribeSpotPriceHistory`, as EC2 wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpotPriceRecord {
    /// The zone's name.
    pub zone: Option<String>,
    /// The zone's id, e.g. `use1-az6` (EC2 sends it; moto does not).
    pub zone_id: Option<String>,
    /// The instance type.
    pub instance_type: Option<String>,
    /// The product, e.g. `Linux/UNIX`.
    pub product_description: Option<String>,
    /// The price per hour, as text (EC2 sends a decimal string).
    pub price_text: Option<String>,
    /// When this price took effect.
    pub effective_since: Option<Timestamp>,
}

/// The calls Gantry makes to EC2, per region. Implementations: [`crate::aws::AwsEc2`]
/// (aws-sdk-ec2) and [`crate::aws::FakeEc2`]; both pass
/// `gantry_cloud::conformance::ec2`.
///
/// Every method collects all pages before it returns; a failure on any page
/// fails the call (no partial answers).
pub trait Ec2Api: fmt::Debug + Send + Sync {
    /// The shapes of `instance_types` (exact names or EC2 wildcards such as
    /// `p5.*`); names EC2 does not know are left out, not an error.
    fn describe_instance_types<'a>(
        &'a self,
        region: &'a str,
        instance_types: &'a [String],
    ) -> Ec2Future<'a, Vec<InstanceTypeInfo>>;

    /// The zones of `region` where each of `instance_types` is offered.
    fn describe_offerings<'a>(
        &'a self,
        region: &'a str,
        instance_types: &'a [String],
    ) -> Ec2Future<'a, Vec<InstanceOffering>>;

    /// Spot price records of `region` for the query.
    fn describe_spot_prices<'a>(
        &'a self,
        region: &'a str,
        query: &'a SpotPriceQuery,
    ) -> Ec2Future<'a, Vec<SpotPriceRecord>>;
}
