//! [`AwsEc2`]: the [`Ec2Api`] over aws-sdk-ec2.
//!
//! Production: [`AwsEc2::from_environment`] reads the standard AWS chain
//! (environment, shared config and credentials files, web identity / IRSA, ECS
//! and EKS Pod Identity, IMDS) through aws-config. Tests and AWS-compatible
//! clouds: [`AwsEc2::with_endpoint`] with an endpoint URL and static keys.
//! Either way HTTPS is rustls on ring (the crypto the rest of the workspace
//! uses), and each call is a client for its region over one shared connection
//! pool. The SDK's own retries (standard mode) stay on, bounded by
//! [`Ec2Options`].

use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, InstanceType, LocationType};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use jiff::Timestamp;

use crate::aws::api::{
    Ec2Api, Ec2Error, Ec2Future, GpuDevice, InstanceOffering, InstanceTypeInfo, SpotPriceQuery,
    SpotPriceRecord,
};

/// Instance types per request: EC2 caps filter values and list parameters.
const TYPES_PER_REQUEST: usize = 50;
/// Records per page asked of `DescribeSpotPriceHistory` (its maximum).
const SPOT_PAGE_SIZE: i32 = 1000;

/// Retries and timeouts of every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ec2Options {
    /// Attempts per request, the first included (the SDK's standard retry mode).
    pub max_attempts: u32,
    /// Time for one attempt of one request.
    pub attempt_timeout: Duration,
    /// Time for one request with all its retries.
    pub operation_timeout: Duration,
    /// Time to open a connection.
    pub connect_timeout: Duration,
}

impl Default for Ec2Options {
    fn default() -> Self {
        Ec2Options {
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(20),
            operation_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// An endpoint override with static credentials: moto, LocalStack, or an
/// AWS-compatible cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ec2Endpoint {
    /// The endpoint URL, e.g. `http://127.0.0.1:5000`.
    pub url: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// EC2 through aws-sdk-ec2.
#[derive(Clone, Debug)]
pub struct AwsEc2 {
    config: aws_sdk_ec2::Config,
}

/// The HTTPS client: hyper with rustls on ring.
fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

fn timeouts(options: Ec2Options) -> aws_sdk_ec2::config::timeout::TimeoutConfig {
    aws_sdk_ec2::config::timeout::TimeoutConfig::builder()
        .connect_timeout(options.connect_timeout)
        .operation_attempt_timeout(options.attempt_timeout)
        .operation_timeout(options.operation_timeout)
        .build()
}

fn retries(options: Ec2Options) -> aws_sdk_ec2::config::retry::RetryConfig {
    aws_sdk_ec2::config::retry::RetryConfig::standard()
        .with_max_attempts(options.max_attempts.max(1))
}

impl AwsEc2 {
    /// EC2 with region, endpoint and credentials from the standard AWS chain.
    /// The region found there is only a default: every call names its region.
    pub async fn from_environment(options: Ec2Options) -> AwsEc2 {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .timeout_config(timeouts(options))
            .retry_config(retries(options))
            .load()
            .await;
        AwsEc2 {
            config: aws_sdk_ec2::config::Builder::from(&shared).build(),
        }
    }

    /// EC2 at `endpoint` with its static credentials, nothing read from the
    /// environment.
    pub fn with_endpoint(endpoint: &Ec2Endpoint, options: Ec2Options) -> AwsEc2 {
        let credentials = Credentials::new(
            endpoint.access_key_id.clone(),
            endpoint.secret_access_key.clone(),
            None,
            None,
            "gantry-static",
        );
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint.url.clone())
            .credentials_provider(credentials)
            .region(Region::new("us-east-1"))
            .http_client(https_client())
            .timeout_config(timeouts(options))
            .retry_config(retries(options))
            .build();
        AwsEc2 { config }
    }

    fn client(&self, region: &str) -> Client {
        Client::from_conf(
            self.config
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build(),
        )
    }
}

/// An SDK error in Gantry's words.
fn ec2_error<E, R>(operation: &'static str, region: &str, error: SdkError<E, R>) -> Ec2Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let region = region.to_owned();
    match &error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Ec2Error::Unreachable {
            operation,
            region,
            detail: DisplayErrorContext(&error).to_string(),
        },
        SdkError::ServiceError(service) => match service.err().code() {
            Some(code) => Ec2Error::Refused {
                operation,
                region,
                code: code.to_owned(),
                message: service.err().message().unwrap_or_default().to_owned(),
            },
            None => Ec2Error::BadResponse {
                operation,
                region,
                detail: DisplayErrorContext(&error).to_string(),
            },
        },
        SdkError::ResponseError(_) => Ec2Error::BadResponse {
            operation,
            region,
            detail: DisplayErrorContext(&error).to_string(),
        },
        _ => Ec2Error::Refused {
            operation,
            region,
            code: "RequestNotSent".to_owned(),
            message: DisplayErrorContext(&error).to_string(),
        },
    }
}

fn instance_type_filter(instance_types: &[String]) -> Filter {
    Filter::builder()
        .name("instance-type")
        .set_values(Some(instance_types.to_vec()))
        .build()
}

fn timestamp(date_time: &aws_sdk_ec2::primitives::DateTime) -> Option<Timestamp> {
    let nanos = i32::try_from(date_time.subsec_nanos()).ok()?;
    Timestamp::new(date_time.secs(), nanos).ok()
}

fn to_u32(value: Option<i32>) -> Option<u32> {
    value.and_then(|value| u32::try_from(value).ok())
}

fn instance_type_info(info: &aws_sdk_ec2::types::InstanceTypeInfo) -> Option<InstanceTypeInfo> {
    let instance_type = info.instance_type()?.as_str().to_owned();
    let gpus = info
        .gpu_info()
        .map(|gpu_info| {
            gpu_info
                .gpus()
                .iter()
                .map(|device| GpuDevice {
                    name: device.name().map(str::to_owned),
                    manufacturer: device.manufacturer().map(str::to_owned),
                    count: to_u32(device.count()),
                    memory_mib: device
                        .memory_info()
                        .and_then(|memory| memory.size_in_mib())
                        .and_then(|mib| u64::try_from(mib).ok()),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(InstanceTypeInfo {
        instance_type,
        vcpus: to_u32(info.v_cpu_info().and_then(|vcpu| vcpu.default_v_cpus())),
        memory_mib: info
            .memory_info()
            .and_then(|memory| memory.size_in_mib())
            .and_then(|mib| u64::try_from(mib).ok()),
        gpus,
    })
}

impl AwsEc2 {
    async fn instance_types(
        &self,
        region: &str,
        instance_types: &[String],
    ) -> Result<Vec<InstanceTypeInfo>, Ec2Error> {
        const OPERATION: &str = "DescribeInstanceTypes";
        let client = self.client(region);
        let mut found = Vec::new();
        for chunk in instance_types.chunks(TYPES_PER_REQUEST) {
            let mut pages = client
                .describe_instance_types()
                .filters(instance_type_filter(chunk))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|error| ec2_error(OPERATION, region, error))?;
                found.extend(page.instance_types().iter().filter_map(instance_type_info));
            }
        }
        found.sort_by(|a, b| a.instance_type.cmp(&b.instance_type));
        found.dedup_by(|a, b| a.instance_type == b.instance_type);
        Ok(found)
    }

    async fn offerings(
        &self,
        region: &str,
        instance_types: &[String],
    ) -> Result<Vec<InstanceOffering>, Ec2Error> {
        const OPERATION: &str = "DescribeInstanceTypeOfferings";
        let client = self.client(region);
        let mut found = Vec::new();
        for chunk in instance_types.chunks(TYPES_PER_REQUEST) {
            let mut pages = client
                .describe_instance_type_offerings()
                .location_type(LocationType::AvailabilityZone)
                .filters(instance_type_filter(chunk))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|error| ec2_error(OPERATION, region, error))?;
                found.extend(
                    page.instance_type_offerings()
                        .iter()
                        .filter_map(|offering| {
                            Some(InstanceOffering {
                                instance_type: offering.instance_type()?.as_str().to_owned(),
                                zone: offering.location()?.to_owned(),
                            })
                        }),
                );
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    async fn spot_prices(
        &self,
        region: &str,
        query: &SpotPriceQuery,
    ) -> Result<Vec<SpotPriceRecord>, Ec2Error> {
        const OPERATION: &str = "DescribeSpotPriceHistory";
        let client = self.client(region);
        let start = aws_sdk_ec2::primitives::DateTime::from_secs(query.start_time.as_second());
        let mut found = Vec::new();
        for chunk in query.instance_types.chunks(TYPES_PER_REQUEST) {
            let mut pages = client
                .describe_spot_price_history()
                .set_instance_types(Some(
                    chunk
                        .iter()
                        .map(|name| InstanceType::from(name.as_str()))
                        .collect(),
                ))
                .set_product_descriptions(Some(query.product_descriptions.clone()))
                .start_time(start)
                .max_results(SPOT_PAGE_SIZE)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|error| ec2_error(OPERATION, region, error))?;
                found.extend(page.spot_price_history().iter().map(|record| {
                    SpotPriceRecord {
                        zone: record.availability_zone().map(str::to_owned),
                        zone_id: record.availability_zone_id().map(str::to_owned),
                        instance_type: record.instance_type().map(|kind| kind.as_str().to_owned()),
                        product_description: record
                            .product_description()
                            .map(|product| product.as_str().to_owned()),
                        price_text: record.spot_price().map(str::to_owned),
                        effective_since: record.timestamp().and_then(timestamp),
                    }
                }));
            }
        }
        Ok(found)
    }
}

impl Ec2Api for AwsEc2 {
    fn describe_instance_types<'a>(
        &'a self,
        region: &'a str,
        instance_types: &'a [String],
    ) -> Ec2Future<'a, Vec<InstanceTypeInfo>> {
        Box::pin(self.instance_types(region, instance_types))
    }

    fn describe_offerings<'a>(
        &'a self,
        region: &'a str,
        instance_types: &'a [String],
    ) -> Ec2Future<'a, Vec<InstanceOffering>> {
        Box::pin(self.offerings(region, instance_types))
    }

    fn describe_spot_prices<'a>(
        &'a self,
        region: &'a str,
        query: &'a SpotPriceQuery,
    ) -> Ec2Future<'a, Vec<SpotPriceRecord>> {
        Box::pin(self.spot_prices(region, query))
    }
}
