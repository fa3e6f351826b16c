//! EC2's GPU names to canonical models.
//!
//! `DescribeInstanceTypes` names GPUs by family (`A100`, `V100`, `H100`, `A10G`,
//! `L4`) and gives each GPU's memory separately: `p4d` and `p4de` both say
//! `A100`, with 40960 and 81920 MiB. Where one EC2 name covers two models, the
//! memory decides; everything else goes through [`GpuModel::parse`].

use gantry_core::GpuModel;

/// Names EC2 uses for two models, with the memory (GiB) at and above which the
/// larger one is meant.
const SPLIT_BY_MEMORY: [(&str, u64, GpuModel, GpuModel); 2] = [
    ("a100", 60, GpuModel::A100, GpuModel::A100_80GB),
    ("v100", 24, GpuModel::V100, GpuModel::V100_32GB),
];

/// The canonical model for EC2's `name` with `memory_mib` per GPU.
pub(crate) fn model_from_ec2(name: &str, memory_mib: Option<u64>) -> Option<GpuModel> {
    let lowered = name.trim().to_ascii_lowercase();
    for (ec2_name, threshold_gib, smaller, larger) in SPLIT_BY_MEMORY {
        if lowered == ec2_name {
            let large = memory_mib.is_some_and(|mib| mib / 1024 >= threshold_gib);
            return Some(if large { larger } else { smaller });
        }
    }
    GpuModel::parse(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_tells_the_a100s_and_v100s_apart() {
        assert_eq!(model_from_ec2("A100", Some(40960)), Some(GpuModel::A100));
        assert_eq!(
            model_from_ec2("A100", Some(81920)),
            Some(GpuModel::A100_80GB)
        );
        assert_eq!(model_from_ec2("A100", None), Some(GpuModel::A100));
        assert_eq!(model_from_ec2("V100", Some(16384)), Some(GpuModel::V100));
        assert_eq!(
            model_from_ec2("V100", Some(32768)),
            Some(GpuModel::V100_32GB)
        );
    }

    #[test]
    fn other_names_parse_as_usual() {
        assert_eq!(model_from_ec2("H100", Some(81920)), Some(GpuModel::H100));
        assert_eq!(model_from_ec2("A10G", Some(22888)), Some(GpuModel::A10G));
        assert_eq!(model_from_ec2("L4", Some(22888)), Some(GpuModel::L4));
        assert_eq!(model_from_ec2("T4", Some(15360)), Some(GpuModel::T4));
        assert_eq!(model_from_ec2("Radeon Pro V520", Some(8192)), None);
        assert_eq!(model_from_ec2("", None), None);
    }
}
