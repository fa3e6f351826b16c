//! The instance catalog: what each EC2 instance type is (GPU model and count,
//! vCPUs, memory) and in which zones of each region it is offered, read with
//! `DescribeInstanceTypes` and `DescribeInstanceTypeOfferings`.
//!
//! Used to complete and check what Gantry otherwise types in: the price
//! table's shapes ([`InstanceCatalog::check_price_table`]) and the node pools
//! found on EKS clusters ([`InstanceCatalog::shape`], [`InstanceCatalog::is_offered`]).
//! The catalog changes rarely: load it at startup (and, if you like, daily),
//! not every scheduling pass.

use std::collections::{BTreeMap, BTreeSet};

use gantry_core::{Cloud, GpuModel, PriceTable};

use crate::aws::api::{Ec2Api, Ec2Error, InstanceTypeInfo};

/// Bytes in one MiB.
const BYTES_PER_MIB: u64 = 1 << 20;

/// One instance type's shape, in Gantry's units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceShape {
    /// GPU model and count; `None` without GPUs, or when EC2 names a GPU
    /// Gantry does not know (see [`InstanceCatalog::unknown_gpus`]).
    pub gpu: Option<(GpuModel, u32)>,
    /// Default vCPUs.
    pub vcpus: u32,
    /// Memory in bytes.
    pub memory_bytes: u64,
}

/// A price table row whose shape disagrees with EC2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogMismatch {
    /// The instance type.
    pub instance_type: String,
    /// What differs, for a person: `gpu: table A100 x8, ec2 A100-80GB x8`.
    pub detail: String,
}

/// Instance types with their shapes and zones, per region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceCatalog {
    shapes: BTreeMap<String, InstanceShape>,
    /// Region -> instance type -> zones.
    zones: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    unknown_gpus: BTreeMap<String, String>,
}

impl InstanceCatalog {
    /// Reads the shapes and offerings of `instance_types` (names or wildcards)
    /// in every region of `regions`.
    pub async fn load(
        api: &dyn Ec2Api,
        regions: &[String],
        instance_types: &[String],
    ) -> Result<InstanceCatalog, Ec2Error> {
        let mut catalog = InstanceCatalog::default();
        for region in regions {
            for info in api.describe_instance_types(region, instance_types).await? {
                catalog.add_instance_type(&info);
            }
            for offering in api.describe_offerings(region, instance_types).await? {
                catalog
                    .zones
                    .entry(region.clone())
                    .or_default()
                    .entry(offering.instance_type)
                    .or_default()
                    .insert(offering.zone);
            }
        }
        Ok(catalog)
    }

    /// Adds what `other` knows, replacing what both describe.
    pub fn merge(&mut self, other: InstanceCatalog) {
        self.shapes.extend(other.shapes);
        for (region, types) in other.zones {
            let known = self.zones.entry(region).or_default();
            for (instance_type, zones) in types {
                known.insert(instance_type, zones);
            }
        }
        self.unknown_gpus.extend(other.unknown_gpus);
    }

    /// Adds one instance type as EC2 described it; one without vCPUs or memory
    /// is left out (EC2 always sends both).
    pub fn add_instance_type(&mut self, info: &InstanceTypeInfo) {
        let (Some(vcpus), Some(memory_mib)) = (info.vcpus, info.memory_mib) else {
            return;
        };
        let gpu = match info.gpus.first() {
            None => None,
            Some(device) => match (device.model(), device.count) {
                (Some(model), Some(count)) if count > 0 => Some((model, count)),
                _ => {
                    self.unknown_gpus.insert(
                        info.instance_type.clone(),
                        device.name.clone().unwrap_or_default(),
                    );
                    None
                }
            },
        };
        self.shapes.insert(
            info.instance_type.clone(),
            InstanceShape {
                gpu,
                vcpus,
                memory_bytes: memory_mib.saturating_mul(BYTES_PER_MIB),
            },
        );
    }

    /// The shape of `instance_type`, if EC2 described it.
    pub fn shape(&self, instance_type: &str) -> Option<InstanceShape> {
        self.shapes.get(instance_type).copied()
    }

    /// Every instance type with its shape, by name.
    pub fn shapes(&self) -> impl Iterator<Item = (&str, InstanceShape)> {
        self.shapes
            .iter()
            .map(|(name, shape)| (name.as_str(), *shape))
    }

    /// Instance types whose GPU EC2 names but Gantry does not know, with EC2's name.
    pub fn unknown_gpus(&self) -> &BTreeMap<String, String> {
        &self.unknown_gpus
    }

    /// The zones of `region` where `instance_type` is offered.
    pub fn zones(&self, region: &str, instance_type: &str) -> impl Iterator<Item = &str> {
        self.zones
            .get(region)
            .and_then(|types| types.get(instance_type))
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Whether `instance_type` is offered in `zone` of `region`.
    pub fn is_offered(&self, region: &str, zone: &str, instance_type: &str) -> bool {
        self.zones(region, instance_type)
            .any(|offered| offered == zone)
    }

    /// The price table's AWS rows whose GPU model, GPU count, vCPUs or memory
    /// disagree with EC2 (see [`InstanceCatalog::disagreement`]), one line
    /// per instance type, in name order. Types EC2 did not describe are skipped.
    pub fn check_price_table(&self, table: &PriceTable) -> Vec<CatalogMismatch> {
        let mut mismatches = Vec::new();
        let mut seen = BTreeSet::new();
        for row in table.rows().filter(|row| row.key.cloud == Cloud::Aws) {
            let name = row.key.instance_type.as_str();
            if !seen.insert(name) {
                continue;
            }
            let claimed = InstanceShape {
                gpu: row.gpu,
                vcpus: row.vcpus,
                memory_bytes: row.memory_bytes,
            };
            if let Some(detail) = self.disagreement(name, &claimed, "table") {
                mismatches.push(CatalogMismatch {
                    instance_type: name.to_owned(),
                    detail,
                });
            }
        }
        mismatches
    }

    /// How `claimed` (the shape `source` gives `instance_type`, e.g. a
    /// table row or a node pool) differs from EC2's: GPU model and count
    /// (unless EC2 names a GPU Gantry does not know), vCPUs, and memory
    /// beyond 1 % (catalogs round GiB). `None` when they agree, or when EC2
    /// did not describe the type.
    pub fn disagreement(
        &self,
        instance_type: &str,
        claimed: &InstanceShape,
        source: &str,
    ) -> Option<String> {
        let shape = self.shape(instance_type)?;
        let mut differences = Vec::new();
        if claimed.gpu != shape.gpu && !self.unknown_gpus.contains_key(instance_type) {
            differences.push(format!(
                "gpu: {source} {}, ec2 {}",
                describe_gpu(claimed.gpu),
                describe_gpu(shape.gpu)
            ));
        }
        if claimed.vcpus != shape.vcpus {
            differences.push(format!(
                "vcpus: {source} {}, ec2 {}",
                claimed.vcpus, shape.vcpus
            ));
        }
        if claimed.memory_bytes.abs_diff(shape.memory_bytes) > shape.memory_bytes / 100 {
            differences.push(format!(
                "memory: {source} {} MiB, ec2 {} MiB",
                claimed.memory_bytes / BYTES_PER_MIB,
                shape.memory_bytes / BYTES_PER_MIB
            ));
        }
        (!differences.is_empty()).then(|| differences.join("; "))
    }
}

fn describe_gpu(gpu: Option<(GpuModel, u32)>) -> String {
    match gpu {
        Some((model, count)) => format!("{model} x{count}"),
        None => "none".to_owned(),
    }
}
