//! [`FakeEc2`]: an in-memory [`Ec2Api`] for the tests above the boundary.
//!
//! It answers the way EC2 documents: instance types and offerings match exact
//! names or `*` wildcards, unknown names are left out, and spot price history
//! returns every record from the start time on plus the one in effect at the
//! start time for each (type, zone, product). [`FakeEc2::set_failure`] makes
//! every call fail until cleared, for outage tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use gantry_core::Glob;

use crate::aws::api::{
    Ec2Api, Ec2Error, Ec2Future, GpuDevice, InstanceOffering, InstanceTypeInfo, SpotPriceQuery,
    SpotPriceRecord,
};

#[derive(Debug, Default)]
struct State {
    instance_types: BTreeMap<String, InstanceTypeInfo>,
    offerings: BTreeMap<String, Vec<InstanceOffering>>,
    spot_prices: BTreeMap<String, Vec<SpotPriceRecord>>,
    failure: Option<Ec2Error>,
    calls: u64,
}

/// An in-memory EC2. Clones share their state.
#[derive(Clone, Debug, Default)]
pub struct FakeEc2 {
    state: Arc<Mutex<State>>,
}

fn matches_any(patterns: &[String], name: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| pattern == name || Glob::parse(pattern).is_ok_and(|glob| glob.matches(name)))
}

fn gpu_type(
    name: &str,
    vcpus: u32,
    memory_mib: u64,
    gpu: &str,
    count: u32,
    gpu_mib: u64,
) -> InstanceTypeInfo {
    InstanceTypeInfo {
        instance_type: name.to_owned(),
        vcpus: Some(vcpus),
        memory_mib: Some(memory_mib),
        gpus: vec![GpuDevice {
            name: Some(gpu.to_owned()),
            manufacturer: Some("NVIDIA".to_owned()),
            count: Some(count),
            memory_mib: Some(gpu_mib),
        }],
    }
}

impl FakeEc2 {
    /// An empty EC2: no instance types, offerings or prices.
    pub fn new() -> FakeEc2 {
        FakeEc2::default()
    }

    /// A small catalog with EC2's real shapes (`p4d.24xlarge`, `p4de.24xlarge`,
    /// `p5.48xlarge`, `g5.xlarge`, `g6.xlarge`, and the CPU-only `m5.large`),
    /// each offered in three zones of `us-east-1` and `us-west-2`, with the spot
    /// prices of `g5.xlarge` and `p4d.24xlarge` in `us-east-1` as EC2 reported
    /// them on 2026-01-05 (one change each in zone `a`).
    pub fn with_sample_catalog() -> FakeEc2 {
        let fake = FakeEc2::new();
        for info in [
            gpu_type("p4d.24xlarge", 96, 1_179_648, "A100", 8, 40_960),
            gpu_type("p4de.24xlarge", 96, 1_179_648, "A100", 8, 81_920),
            gpu_type("p5.48xlarge", 192, 2_097_152, "H100", 8, 81_920),
            gpu_type("g5.xlarge", 4, 16_384, "A10G", 1, 22_888),
            gpu_type("g6.xlarge", 4, 16_384, "L4", 1, 22_888),
            InstanceTypeInfo {
                instance_type: "m5.large".to_owned(),
                vcpus: Some(2),
                memory_mib: Some(8_192),
                gpus: Vec::new(),
            },
        ] {
            let name = info.instance_type.clone();
            fake.add_instance_type(info);
            for region in ["us-east-1", "us-west-2"] {
                for zone in ["a", "b", "c"] {
                    fake.add_offering(region, &name, &format!("{region}{zone}"));
                }
            }
        }
        let sample_prices = [
            (
                "g5.xlarge",
                "us-east-1a",
                "use1-az6",
                "0.412300",
                "2026-01-05T08:00:00Z",
            ),
            (
                "g5.xlarge",
                "us-east-1a",
                "use1-az6",
                "0.398100",
                "2026-01-05T14:30:00Z",
            ),
            (
                "g5.xlarge",
                "us-east-1b",
                "use1-az1",
                "0.455200",
                "2026-01-05T06:10:00Z",
            ),
            (
                "g5.xlarge",
                "us-east-1c",
                "use1-az2",
                "0.377900",
                "2026-01-04T22:45:00Z",
            ),
            (
                "p4d.24xlarge",
                "us-east-1a",
                "use1-az6",
                "10.125600",
                "2026-01-05T03:00:00Z",
            ),
            (
                "p4d.24xlarge",
                "us-east-1a",
                "use1-az6",
                "10.844100",
                "2026-01-05T12:00:00Z",
            ),
            (
                "p4d.24xlarge",
                "us-east-1b",
                "use1-az1",
                "11.302000",
                "2026-01-04T19:20:00Z",
            ),
        ];
        for (instance_type, zone, zone_id, price, at) in sample_prices {
            fake.add_spot_price(
                "us-east-1",
                SpotPriceRecord {
                    zone: Some(zone.to_owned()),
                    zone_id: Some(zone_id.to_owned()),
                    instance_type: Some(instance_type.to_owned()),
                    product_description: Some("Linux/UNIX".to_owned()),
                    price_text: Some(price.to_owned()),
                    effective_since: at.parse().ok(),
                },
            );
        }
        fake
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds (or replaces) an instance type's shape.
    pub fn add_instance_type(&self, info: InstanceTypeInfo) {
        self.state()
            .instance_types
            .insert(info.instance_type.clone(), info);
    }

    /// Offers `instance_type` in `zone` of `region`.
    pub fn add_offering(&self, region: &str, instance_type: &str, zone: &str) {
        self.state()
            .offerings
            .entry(region.to_owned())
            .or_default()
            .push(InstanceOffering {
                instance_type: instance_type.to_owned(),
                zone: zone.to_owned(),
            });
    }

    /// Adds a spot price record to `region`'s history.
    pub fn add_spot_price(&self, region: &str, record: SpotPriceRecord) {
        self.state()
            .spot_prices
            .entry(region.to_owned())
            .or_default()
            .push(record);
    }

    /// Every call fails with `failure` until it is set back to `None`.
    pub fn set_failure(&self, failure: Option<Ec2Error>) {
        self.state().failure = failure;
    }

    /// Calls made so far, failed ones included.
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    fn begin(&self) -> Result<std::sync::MutexGuard<'_, State>, Ec2Error> {
        let mut state = self.state();
        state.calls += 1;
        match &state.failure {
            Some(failure) => Err(failure.clone()),
            None => Ok(state),
        }
    }
}

/// (instance type, zone, product) of a spot price record.
type HistoryKey = (Option<String>, Option<String>, Option<String>);

/// The records `query` selects from one region's history, as EC2 answers.
fn select_spot_prices(history: &[SpotPriceRecord], query: &SpotPriceQuery) -> Vec<SpotPriceRecord> {
    let wanted = |record: &SpotPriceRecord| {
        record
            .instance_type
            .as_deref()
            .is_some_and(|name| query.instance_types.iter().any(|wanted| wanted == name))
            && (query.product_descriptions.is_empty()
                || record
                    .product_description
                    .as_deref()
                    .is_some_and(|product| {
                        query
                            .product_descriptions
                            .iter()
                            .any(|wanted| product.starts_with(wanted.as_str()))
                    }))
    };
    let mut selected: Vec<SpotPriceRecord> = Vec::new();
    // The price in effect at the start time: the latest record before it, per
    // (type, zone, product).
    let mut in_effect: BTreeMap<HistoryKey, &SpotPriceRecord> = BTreeMap::new();
    for record in history.iter().filter(|record| wanted(record)) {
        match record.effective_since {
            Some(since) if since >= query.start_time => selected.push(record.clone()),
            _ => {
                let key = (
                    record.instance_type.clone(),
                    record.zone.clone(),
                    record.product_description.clone(),
                );
                let later = in_effect
                    .get(&key)
                    .is_none_or(|kept| kept.effective_since <= record.effective_since);
                if later {
                    in_effect.insert(key, record);
                }
            }
        }
    }
    selected.extend(in_effect.into_values().cloned());
    selected
}

impl Ec2Api for FakeEc2 {
    fn describe_instance_types<'a>(
        &'a self,
        _region: &'a str,
        instance_types: &'a [String],
    ) -> Ec2Future<'a, Vec<InstanceTypeInfo>> {
        let answer = self.begin().map(|state| {
            state
                .instance_types
                .values()
                .filter(|info| matches_any(instance_types, &info.instance_type))
                .cloned()
                .collect()
        });
        Box::pin(std::future::ready(answer))
    }

    fn describe_offerings<'a>(
        &'a self,
        region: &'a str,
        instance_types: &'a [String],
    ) -> Ec2Future<'a, Vec<InstanceOffering>> {
        let answer = self.begin().map(|state| {
            let mut found: Vec<InstanceOffering> = state
                .offerings
                .get(region)
                .into_iter()
                .flatten()
                .filter(|offering| matches_any(instance_types, &offering.instance_type))
                .cloned()
                .collect();
            found.sort();
            found.dedup();
            found
        });
        Box::pin(std::future::ready(answer))
    }

    fn describe_spot_prices<'a>(
        &'a self,
        region: &'a str,
        query: &'a SpotPriceQuery,
    ) -> Ec2Future<'a, Vec<SpotPriceRecord>> {
        let answer = self.begin().map(|state| {
            state
                .spot_prices
                .get(region)
                .map(|history| select_spot_prices(history, query))
                .unwrap_or_default()
        });
        Box::pin(std::future::ready(answer))
    }
}
