//! Canonical GPU models, the names clouds and Kubernetes use for them, and their
//! vendors.
//!
//! The model list covers the NVIDIA and AMD data-centre GPUs that appear in the
//! price catalogs under `shared/data/catalog` (AWS, GCP and Azure VM tables, and
//! SkyPilot's list of common accelerators), minus consumer GeForce and small
//! workstation cards that no Kubernetes node pool we target offers. TPUs, Gaudi,
//! Inferentia and Trainium are not GPUs here.
//!
//! Aliases come from: the catalogs' `AcceleratorName` values (`H100-MEGA`,
//! `A100-80GB`), GKE's `cloud.google.com/gke-accelerator` label (`nvidia-tesla-t4`,
//! `nvidia-h100-80gb`), NVIDIA GPU feature discovery's `nvidia.com/gpu.product` label
//! (`NVIDIA-H100-80GB-HBM3`, `Tesla-T4`), AMD's node labeller
//! (`AMD_Instinct_MI300X_OAM`) and the names people write (`H100-SXM`, `RTXA6000`).
//! EKS (Karpenter's `instance-gpu-name`, e.g. `a10g`) and AKS use the bare names.
//!
//! Invariants:
//! - Matching ignores case and surrounding whitespace and treats `_`, ` ` and `-` as
//!   the same separator; under that normalisation every canonical name and alias
//!   names exactly one model (a test checks this).
//! - [`GpuModel::ALL`] lists every model once, in declaration order, which is also
//!   the `Ord` order: newest and largest first within a vendor generation.
//! - Nothing here panics, whatever the input.

use std::fmt;
use std::str::FromStr;

use crate::suggest;

/// Who makes a GPU, which decides the Kubernetes resource and label names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GpuVendor {
    /// NVIDIA (resource `nvidia.com/gpu`).
    Nvidia,
    /// AMD (resource `amd.com/gpu`).
    Amd,
}

impl GpuVendor {
    /// The vendor's name: `NVIDIA` or `AMD`.
    pub const fn as_str(self) -> &'static str {
        match self {
            GpuVendor::Nvidia => "NVIDIA",
            GpuVendor::Amd => "AMD",
        }
    }

    /// The extended resource a pod requests to get one of this vendor's GPUs.
    pub const fn kubernetes_resource_name(self) -> &'static str {
        match self {
            GpuVendor::Nvidia => "nvidia.com/gpu",
            GpuVendor::Amd => "amd.com/gpu",
        }
    }

    /// The node label whose value is [`GpuModel::gpu_product_label`].
    pub const fn product_label_key(self) -> &'static str {
        match self {
            GpuVendor::Nvidia => "nvidia.com/gpu.product",
            GpuVendor::Amd => "amd.com/gpu.product-name",
        }
    }
}

impl fmt::Display for GpuVendor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A GPU model, named canonically as in the price catalogs (`H100`, `A100-80GB`).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GpuModel {
    /// NVIDIA B300 (Blackwell Ultra), 288 GB HBM3e.
    B300,
    /// NVIDIA B200 (Blackwell), 180 GB HBM3e.
    B200,
    /// NVIDIA GH200 Grace Hopper superchip, 96 GB HBM3.
    GH200,
    /// NVIDIA H200 SXM, 141 GB HBM3e.
    H200,
    /// NVIDIA H100 80 GB (SXM or PCIe; GCP's `H100-MEGA` is this GPU with more network).
    H100,
    /// NVIDIA H100 NVL, 94 GB.
    H100_NVL,
    /// AMD Instinct MI300X, 192 GB HBM3.
    MI300X,
    /// NVIDIA A100 80 GB.
    A100_80GB,
    /// NVIDIA A100 40 GB.
    A100,
    /// NVIDIA A800 80 GB (the A100 variant sold in China).
    A800,
    /// NVIDIA RTX PRO 6000 Blackwell, 96 GB.
    RTXPRO6000,
    /// NVIDIA L40S, 48 GB.
    L40S,
    /// NVIDIA L40, 48 GB.
    L40,
    /// NVIDIA RTX 6000 Ada Generation, 48 GB.
    RTX6000_Ada,
    /// NVIDIA RTX A6000, 48 GB.
    A6000,
    /// NVIDIA A40, 48 GB.
    A40,
    /// NVIDIA A30, 24 GB.
    A30,
    /// NVIDIA A10G (AWS g5), 24 GB.
    A10G,
    /// NVIDIA A10, 24 GB.
    A10,
    /// NVIDIA L4, 24 GB.
    L4,
    /// NVIDIA Tesla V100 32 GB.
    V100_32GB,
    /// NVIDIA Tesla V100 16 GB.
    V100,
    /// NVIDIA Tesla T4, 16 GB.
    T4,
    /// NVIDIA Tesla P100, 16 GB.
    P100,
    /// NVIDIA Tesla P4, 8 GB.
    P4,
    /// AMD Radeon Instinct MI25, 16 GB.
    MI25,
    /// NVIDIA Tesla K80 (one of the board's two GPUs), 12 GB.
    K80,
    /// NVIDIA Tesla M60 (one of the board's two GPUs), 8 GB.
    M60,
}

/// Everything known about one model, kept together so the table reads as one list.
#[derive(Debug)]
struct GpuModelFacts {
    canonical_name: &'static str,
    vendor: GpuVendor,
    memory_gib: u32,
    gpu_product_label: &'static str,
    aliases: &'static [&'static str],
}

impl GpuModel {
    /// Every model, in declaration (and `Ord`) order.
    pub const ALL: &'static [GpuModel] = &[
        GpuModel::B300,
        GpuModel::B200,
        GpuModel::GH200,
        GpuModel::H200,
        GpuModel::H100,
        GpuModel::H100_NVL,
        GpuModel::MI300X,
        GpuModel::A100_80GB,
        GpuModel::A100,
        GpuModel::A800,
        GpuModel::RTXPRO6000,
        GpuModel::L40S,
        GpuModel::L40,
        GpuModel::RTX6000_Ada,
        GpuModel::A6000,
        GpuModel::A40,
        GpuModel::A30,
        GpuModel::A10G,
        GpuModel::A10,
        GpuModel::L4,
        GpuModel::V100_32GB,
        GpuModel::V100,
        GpuModel::T4,
        GpuModel::P100,
        GpuModel::P4,
        GpuModel::MI25,
        GpuModel::K80,
        GpuModel::M60,
    ];

    const fn facts(self) -> &'static GpuModelFacts {
        use GpuVendor::{Amd, Nvidia};
        match self {
            GpuModel::B300 => &GpuModelFacts {
                canonical_name: "B300",
                vendor: Nvidia,
                memory_gib: 288,
                gpu_product_label: "NVIDIA-B300-SXM6-AC",
                aliases: &["B300-SXM6", "NVIDIA-B300", "nvidia-b300"],
            },
            GpuModel::B200 => &GpuModelFacts {
                canonical_name: "B200",
                vendor: Nvidia,
                memory_gib: 180,
                gpu_product_label: "NVIDIA-B200",
                aliases: &["B200-SXM", "B200-180GB", "nvidia-b200"],
            },
            GpuModel::GH200 => &GpuModelFacts {
                canonical_name: "GH200",
                vendor: Nvidia,
                memory_gib: 96,
                gpu_product_label: "NVIDIA-GH200-480GB",
                aliases: &["NVIDIA-GH200", "nvidia-gh200"],
            },
            GpuModel::H200 => &GpuModelFacts {
                canonical_name: "H200",
                vendor: Nvidia,
                memory_gib: 141,
                gpu_product_label: "NVIDIA-H200",
                aliases: &[
                    "H200-SXM",
                    "H200-141GB",
                    "H200-SXM5-141GB",
                    "nvidia-h200-141gb",
                ],
            },
            GpuModel::H100 => &GpuModelFacts {
                canonical_name: "H100",
                vendor: Nvidia,
                memory_gib: 80,
                gpu_product_label: "NVIDIA-H100-80GB-HBM3",
                aliases: &[
                    "H100-SXM",
                    "H100-SXM5",
                    "H100-80GB",
                    "H100-SXM-80GB",
                    "H100-SXM5-80GB",
                    "H100-NVLINK",
                    "H100-PCIe",
                    "H100-MEGA",
                    "H100-MEGA-80GB",
                    "NVIDIA-H100",
                    "NVIDIA-H100-PCIe",
                    "nvidia-h100-80gb",
                    "nvidia-h100-mega-80gb",
                ],
            },
            GpuModel::H100_NVL => &GpuModelFacts {
                canonical_name: "H100-NVL",
                vendor: Nvidia,
                memory_gib: 94,
                gpu_product_label: "NVIDIA-H100-NVL",
                aliases: &["H100NVL", "H100-NVL-94GB", "nvidia-h100-nvl"],
            },
            GpuModel::MI300X => &GpuModelFacts {
                canonical_name: "MI300X",
                vendor: Amd,
                memory_gib: 192,
                gpu_product_label: "AMD_Instinct_MI300X_OAM",
                aliases: &[
                    "MI300X-192GB",
                    "Instinct-MI300X",
                    "AMD-MI300X",
                    "AMD-MI300X-192G",
                    "AMD-Instinct-MI300X",
                ],
            },
            GpuModel::A100_80GB => &GpuModelFacts {
                canonical_name: "A100-80GB",
                vendor: Nvidia,
                memory_gib: 80,
                gpu_product_label: "NVIDIA-A100-SXM4-80GB",
                aliases: &[
                    "A100-80G",
                    "A100-80GB-SXM",
                    "A100-SXM4-80GB",
                    "A100-80GB-PCIe",
                    "A100-PCIe-80GB",
                    "NVIDIA-A100-80GB-PCIe",
                    "nvidia-a100-80gb",
                ],
            },
            GpuModel::A100 => &GpuModelFacts {
                canonical_name: "A100",
                vendor: Nvidia,
                memory_gib: 40,
                gpu_product_label: "NVIDIA-A100-SXM4-40GB",
                aliases: &[
                    "A100-40GB",
                    "A100-40G",
                    "A100-SXM4-40GB",
                    "A100-PCIe-40GB",
                    "NVIDIA-A100-PCIE-40GB",
                    "Tesla-A100",
                    "nvidia-tesla-a100",
                ],
            },
            GpuModel::A800 => &GpuModelFacts {
                canonical_name: "A800",
                vendor: Nvidia,
                memory_gib: 80,
                gpu_product_label: "NVIDIA-A800-SXM4-80GB",
                aliases: &["A800-80GB", "A800-SXM4-80GB"],
            },
            GpuModel::RTXPRO6000 => &GpuModelFacts {
                canonical_name: "RTXPRO6000",
                vendor: Nvidia,
                memory_gib: 96,
                gpu_product_label: "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition",
                aliases: &[
                    "RTX-PRO-6000",
                    "RTXPRO6000S",
                    "RTXPRO6000WS",
                    "RTX-PRO-6000-Blackwell",
                    "NVIDIA-RTX-PRO-6000-Blackwell-Workstation-Edition",
                    "nvidia-rtx-pro-6000",
                ],
            },
            GpuModel::L40S => &GpuModelFacts {
                canonical_name: "L40S",
                vendor: Nvidia,
                memory_gib: 48,
                gpu_product_label: "NVIDIA-L40S",
                aliases: &["L40S-48GB", "nvidia-l40s"],
            },
            GpuModel::L40 => &GpuModelFacts {
                canonical_name: "L40",
                vendor: Nvidia,
                memory_gib: 48,
                gpu_product_label: "NVIDIA-L40",
                aliases: &["L40-48GB", "nvidia-l40"],
            },
            GpuModel::RTX6000_Ada => &GpuModelFacts {
                canonical_name: "RTX6000-Ada",
                vendor: Nvidia,
                memory_gib: 48,
                gpu_product_label: "NVIDIA-RTX-6000-Ada-Generation",
                aliases: &["RTX6000Ada", "RTX-6000-Ada", "RTX6000-Ada-Generation"],
            },
            GpuModel::A6000 => &GpuModelFacts {
                canonical_name: "A6000",
                vendor: Nvidia,
                memory_gib: 48,
                gpu_product_label: "NVIDIA-RTX-A6000",
                aliases: &["RTXA6000", "RTX-A6000"],
            },
            GpuModel::A40 => &GpuModelFacts {
                canonical_name: "A40",
                vendor: Nvidia,
                memory_gib: 48,
                gpu_product_label: "NVIDIA-A40",
                aliases: &["A40-48GB", "nvidia-a40"],
            },
            GpuModel::A30 => &GpuModelFacts {
                canonical_name: "A30",
                vendor: Nvidia,
                memory_gib: 24,
                gpu_product_label: "NVIDIA-A30",
                aliases: &["A30-24GB", "nvidia-a30"],
            },
            GpuModel::A10G => &GpuModelFacts {
                canonical_name: "A10G",
                vendor: Nvidia,
                memory_gib: 24,
                gpu_product_label: "NVIDIA-A10G",
                aliases: &["A10G-24GB", "nvidia-a10g"],
            },
            GpuModel::A10 => &GpuModelFacts {
                canonical_name: "A10",
                vendor: Nvidia,
                memory_gib: 24,
                gpu_product_label: "NVIDIA-A10",
                aliases: &["A10-24GB", "nvidia-a10"],
            },
            GpuModel::L4 => &GpuModelFacts {
                canonical_name: "L4",
                vendor: Nvidia,
                memory_gib: 24,
                gpu_product_label: "NVIDIA-L4",
                aliases: &["L4-24GB", "nvidia-l4"],
            },
            GpuModel::V100_32GB => &GpuModelFacts {
                canonical_name: "V100-32GB",
                vendor: Nvidia,
                memory_gib: 32,
                gpu_product_label: "Tesla-V100-SXM2-32GB",
                aliases: &[
                    "V100-32G",
                    "V100-SXM2-32GB",
                    "V100-PCIe-32GB",
                    "Tesla-V100-32GB",
                    "Tesla-V100-PCIE-32GB",
                    "Tesla-V100-SXM3-32GB",
                ],
            },
            GpuModel::V100 => &GpuModelFacts {
                canonical_name: "V100",
                vendor: Nvidia,
                memory_gib: 16,
                gpu_product_label: "Tesla-V100-SXM2-16GB",
                aliases: &[
                    "V100-16GB",
                    "V100-16G",
                    "V100-SXM2-16GB",
                    "V100-PCIe-16GB",
                    "Tesla-V100",
                    "Tesla-V100-PCIE-16GB",
                    "nvidia-tesla-v100",
                ],
            },
            GpuModel::T4 => &GpuModelFacts {
                canonical_name: "T4",
                vendor: Nvidia,
                memory_gib: 16,
                gpu_product_label: "Tesla-T4",
                aliases: &[
                    "T4-16GB",
                    "NVIDIA-T4",
                    "nvidia-tesla-t4",
                    "nvidia-tesla-t4-vws",
                ],
            },
            GpuModel::P100 => &GpuModelFacts {
                canonical_name: "P100",
                vendor: Nvidia,
                memory_gib: 16,
                gpu_product_label: "Tesla-P100-PCIE-16GB",
                aliases: &[
                    "P100-16GB",
                    "Tesla-P100",
                    "Tesla-P100-SXM2-16GB",
                    "nvidia-tesla-p100",
                    "nvidia-tesla-p100-vws",
                ],
            },
            GpuModel::P4 => &GpuModelFacts {
                canonical_name: "P4",
                vendor: Nvidia,
                memory_gib: 8,
                gpu_product_label: "Tesla-P4",
                aliases: &["P4-8GB", "nvidia-tesla-p4", "nvidia-tesla-p4-vws"],
            },
            GpuModel::MI25 => &GpuModelFacts {
                canonical_name: "MI25",
                vendor: Amd,
                memory_gib: 16,
                gpu_product_label: "AMD_Radeon_Instinct_MI25",
                aliases: &[
                    "Radeon MI25",
                    "Radeon-Instinct-MI25",
                    "Instinct-MI25",
                    "AMD-MI25",
                ],
            },
            GpuModel::K80 => &GpuModelFacts {
                canonical_name: "K80",
                vendor: Nvidia,
                memory_gib: 12,
                gpu_product_label: "Tesla-K80",
                aliases: &["nvidia-tesla-k80"],
            },
            GpuModel::M60 => &GpuModelFacts {
                canonical_name: "M60",
                vendor: Nvidia,
                memory_gib: 8,
                gpu_product_label: "Tesla-M60",
                aliases: &["nvidia-tesla-m60"],
            },
        }
    }

    /// The canonical name, as the price catalogs spell it: `H100`, `A100-80GB`,
    /// `V100-32GB`, `MI300X`.
    pub const fn canonical_name(self) -> &'static str {
        self.facts().canonical_name
    }

    /// Other names for this model (not including the canonical name or the
    /// [`gpu_product_label`](GpuModel::gpu_product_label)), as written by clouds,
    /// Kubernetes labels and people.
    pub const fn aliases(self) -> &'static [&'static str] {
        self.facts().aliases
    }

    /// Every name [`GpuModel::parse`] accepts for this model: the canonical name, the
    /// product label, then the aliases.
    pub fn accepted_names(self) -> impl Iterator<Item = &'static str> {
        [self.canonical_name(), self.gpu_product_label()]
            .into_iter()
            .chain(self.aliases().iter().copied())
    }

    /// The model a name refers to: its canonical name, product label or any alias,
    /// ignoring case and surrounding whitespace, and treating `_`, ` ` and `-` alike.
    pub fn parse(text: &str) -> Option<GpuModel> {
        let wanted = normalize_model_name(text);
        if wanted.is_empty() {
            return None;
        }
        GpuModel::ALL.iter().copied().find(|model| {
            model
                .accepted_names()
                .any(|name| normalize_model_name(name) == wanted)
        })
    }

    /// Up to three canonical names close to `text`, best first, without duplicates;
    /// empty when nothing is close. Aliases count too, but are reported by the
    /// canonical name of their model.
    pub fn suggest(text: &str) -> Vec<&'static str> {
        let wanted = normalize_model_name(text);
        let mut scored: Vec<(usize, GpuModel)> = GpuModel::ALL
            .iter()
            .filter_map(|model| {
                model
                    .accepted_names()
                    .filter_map(|name| {
                        suggest::suggestion_distance(&wanted, &normalize_model_name(name))
                    })
                    .min()
                    .map(|distance| (distance, *model))
            })
            .collect();
        // A stable sort keeps `ALL` order among equal distances.
        scored.sort_by_key(|(distance, _)| *distance);
        scored
            .into_iter()
            .take(suggest::MAX_SUGGESTIONS)
            .map(|(_, model)| model.canonical_name())
            .collect()
    }

    /// Nominal on-board memory per GPU in GiB, as vendors and clouds advertise it
    /// (`H100` 80, `L4` 24); the driver reports slightly less.
    pub const fn memory_gib(self) -> u32 {
        self.facts().memory_gib
    }

    /// Who makes this model.
    pub const fn vendor(self) -> GpuVendor {
        self.facts().vendor
    }

    /// The node label value naming this model: for NVIDIA, what GPU feature discovery
    /// writes into `nvidia.com/gpu.product` for its most common form (SXM for data
    /// centre parts), e.g. `NVIDIA-H100-80GB-HBM3`, `Tesla-T4`, `NVIDIA-A10G`; for AMD,
    /// what AMD's node labeller writes into `amd.com/gpu.product-name`, e.g.
    /// `AMD_Instinct_MI300X_OAM`. See [`GpuVendor::product_label_key`].
    pub const fn gpu_product_label(self) -> &'static str {
        self.facts().gpu_product_label
    }
}

/// Lowercase, trimmed, with runs of `_`, ` ` and `-` turned into one `-`.
fn normalize_model_name(text: &str) -> String {
    let mut normalized = String::with_capacity(text.len());
    for character in text.trim().chars() {
        if matches!(character, '_' | ' ' | '-') || character.is_whitespace() {
            if !normalized.ends_with('-') {
                normalized.push('-');
            }
        } else {
            normalized.extend(character.to_lowercase());
        }
    }
    normalized
}

impl fmt::Display for GpuModel {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.canonical_name())
    }
}

/// A text that names no known GPU model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown GPU model `{text}`; {}", describe_alternatives(suggestions))]
pub struct UnknownGpuModel {
    /// The text as given.
    pub text: String,
    /// Canonical names close to the text, best first; may be empty.
    pub suggestions: Vec<&'static str>,
}

fn describe_alternatives(suggestions: &[&'static str]) -> String {
    if suggestions.is_empty() {
        let known: Vec<&str> = GpuModel::ALL
            .iter()
            .map(|model| model.canonical_name())
            .collect();
        format!("known models are {}", known.join(", "))
    } else {
        format!("did you mean {}?", suggestions.join(", "))
    }
}

impl FromStr for GpuModel {
    type Err = UnknownGpuModel;

    fn from_str(text: &str) -> Result<GpuModel, UnknownGpuModel> {
        GpuModel::parse(text).ok_or_else(|| UnknownGpuModel {
            text: text.to_owned(),
            suggestions: GpuModel::suggest(text),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Every NVIDIA or AMD `AcceleratorName` in `shared/data/catalog/*.csv`.
    const CATALOG_ACCELERATOR_NAMES: &[(&str, GpuModel)] = &[
        ("A10", GpuModel::A10),
        ("A100", GpuModel::A100),
        ("A100-80GB", GpuModel::A100_80GB),
        ("A100-80GB-SXM", GpuModel::A100_80GB),
        ("A10G", GpuModel::A10G),
        ("A30", GpuModel::A30),
        ("A40", GpuModel::A40),
        ("A6000", GpuModel::A6000),
        ("A800", GpuModel::A800),
        ("B200", GpuModel::B200),
        ("B300", GpuModel::B300),
        ("GH200", GpuModel::GH200),
        ("H100", GpuModel::H100),
        ("H100-MEGA", GpuModel::H100),
        ("H100-NVL", GpuModel::H100_NVL),
        ("H100-NVLINK", GpuModel::H100),
        ("H100-SXM", GpuModel::H100),
        ("H200", GpuModel::H200),
        ("H200-SXM", GpuModel::H200),
        ("K80", GpuModel::K80),
        ("L4", GpuModel::L4),
        ("L40", GpuModel::L40),
        ("L40S", GpuModel::L40S),
        ("M60", GpuModel::M60),
        ("MI300X", GpuModel::MI300X),
        ("P100", GpuModel::P100),
        ("P4", GpuModel::P4),
        ("RTX6000-Ada", GpuModel::RTX6000_Ada),
        ("RTX6000Ada", GpuModel::RTX6000_Ada),
        ("RTXA6000", GpuModel::A6000),
        ("RTXPRO6000S", GpuModel::RTXPRO6000),
        ("RTXPRO6000WS", GpuModel::RTXPRO6000),
        ("Radeon MI25", GpuModel::MI25),
        ("T4", GpuModel::T4),
        ("V100", GpuModel::V100),
        ("V100-32GB", GpuModel::V100_32GB),
    ];

    #[test]
    fn every_catalog_accelerator_name_parses() {
        for (name, expected) in CATALOG_ACCELERATOR_NAMES {
            assert_eq!(GpuModel::parse(name), Some(*expected), "{name:?}");
        }
    }

    #[test]
    fn parses_aliases_from_clouds_and_node_labels() {
        let cases: &[(&str, GpuModel)] = &[
            ("H100-SXM", GpuModel::H100),
            ("H100-80GB", GpuModel::H100),
            ("H100-SXM5-80GB", GpuModel::H100),
            ("H100-MEGA", GpuModel::H100),
            ("nvidia-h100-80gb", GpuModel::H100),
            ("nvidia-h100-mega-80gb", GpuModel::H100),
            ("NVIDIA-H100-80GB-HBM3", GpuModel::H100),
            ("NVIDIA H100 80GB HBM3", GpuModel::H100),
            ("h100", GpuModel::H100),
            ("  H100\t", GpuModel::H100),
            ("A100-40GB", GpuModel::A100),
            ("A100-SXM4-40GB", GpuModel::A100),
            ("NVIDIA-A100-SXM4-40GB", GpuModel::A100),
            ("nvidia-tesla-a100", GpuModel::A100),
            ("NVIDIA-A100-SXM4-80GB", GpuModel::A100_80GB),
            ("nvidia-a100-80gb", GpuModel::A100_80GB),
            ("A100_80GB", GpuModel::A100_80GB),
            ("Tesla-T4", GpuModel::T4),
            ("nvidia-tesla-t4", GpuModel::T4),
            ("NVIDIA-L4", GpuModel::L4),
            ("nvidia-l4", GpuModel::L4),
            ("NVIDIA-A10G", GpuModel::A10G),
            ("a10g", GpuModel::A10G),
            ("Tesla-V100-SXM2-16GB", GpuModel::V100),
            ("Tesla-V100-SXM2-32GB", GpuModel::V100_32GB),
            ("nvidia-tesla-v100", GpuModel::V100),
            ("AMD-Instinct-MI300X", GpuModel::MI300X),
            ("AMD_Instinct_MI300X_OAM", GpuModel::MI300X),
            ("mi300x", GpuModel::MI300X),
            ("nvidia-h200-141gb", GpuModel::H200),
            ("NVIDIA-H200", GpuModel::H200),
            ("nvidia-b200", GpuModel::B200),
            ("NVIDIA-B300-SXM6-AC", GpuModel::B300),
            ("nvidia-tesla-p100", GpuModel::P100),
            ("nvidia-tesla-p4", GpuModel::P4),
            ("nvidia-tesla-k80", GpuModel::K80),
            ("NVIDIA-RTX-A6000", GpuModel::A6000),
            ("nvidia-rtx-pro-6000", GpuModel::RTXPRO6000),
            ("NVIDIA-L40S", GpuModel::L40S),
        ];
        for (text, expected) in cases {
            assert_eq!(GpuModel::parse(text), Some(*expected), "{text:?}");
        }
    }

    #[test]
    fn rejects_unknown_names() {
        for text in [
            "",
            "   ",
            "-",
            "H10",
            "H1000",
            "A100-40",
            "tpu-v6e-8",
            "Gaudi HL-205",
            "RTX4090",
            "GPU",
        ] {
            assert_eq!(GpuModel::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn every_name_belongs_to_exactly_one_model() {
        let mut owner_by_name: BTreeMap<String, GpuModel> = BTreeMap::new();
        for model in GpuModel::ALL {
            for name in model.accepted_names() {
                let normalized = normalize_model_name(name);
                if let Some(previous) = owner_by_name.insert(normalized.clone(), *model) {
                    assert_eq!(
                        previous, *model,
                        "{name:?} names both {previous} and {model}"
                    );
                }
            }
        }
    }

    #[test]
    fn all_lists_every_model_once_in_order() {
        let mut sorted = GpuModel::ALL.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, GpuModel::ALL.to_vec());
        for model in GpuModel::ALL {
            assert_eq!(GpuModel::parse(model.canonical_name()), Some(*model));
            assert_eq!(GpuModel::parse(model.gpu_product_label()), Some(*model));
            assert_eq!(model.canonical_name().parse::<GpuModel>(), Ok(*model));
            assert_eq!(model.to_string(), model.canonical_name());
            assert!(model.memory_gib() > 0);
        }
    }

    #[test]
    fn facts_of_common_models() {
        let cases: &[(GpuModel, &str, u32, GpuVendor, &str)] = &[
            (
                GpuModel::H100,
                "H100",
                80,
                GpuVendor::Nvidia,
                "NVIDIA-H100-80GB-HBM3",
            ),
            (
                GpuModel::A100_80GB,
                "A100-80GB",
                80,
                GpuVendor::Nvidia,
                "NVIDIA-A100-SXM4-80GB",
            ),
            (
                GpuModel::A100,
                "A100",
                40,
                GpuVendor::Nvidia,
                "NVIDIA-A100-SXM4-40GB",
            ),
            (
                GpuModel::V100_32GB,
                "V100-32GB",
                32,
                GpuVendor::Nvidia,
                "Tesla-V100-SXM2-32GB",
            ),
            (GpuModel::T4, "T4", 16, GpuVendor::Nvidia, "Tesla-T4"),
            (GpuModel::A10G, "A10G", 24, GpuVendor::Nvidia, "NVIDIA-A10G"),
            (GpuModel::L4, "L4", 24, GpuVendor::Nvidia, "NVIDIA-L4"),
            (
                GpuModel::MI300X,
                "MI300X",
                192,
                GpuVendor::Amd,
                "AMD_Instinct_MI300X_OAM",
            ),
        ];
        for (model, name, memory_gib, vendor, label) in cases {
            assert_eq!(model.canonical_name(), *name);
            assert_eq!(model.memory_gib(), *memory_gib, "{name}");
            assert_eq!(model.vendor(), *vendor, "{name}");
            assert_eq!(model.gpu_product_label(), *label, "{name}");
        }
        assert_eq!(
            GpuVendor::Nvidia.kubernetes_resource_name(),
            "nvidia.com/gpu"
        );
        assert_eq!(
            GpuVendor::Amd.product_label_key(),
            "amd.com/gpu.product-name"
        );
        assert_eq!(GpuVendor::Amd.to_string(), "AMD");
    }

    #[test]
    fn suggests_nearby_canonical_names() {
        let cases: &[(&str, &[&str])] = &[
            ("H10", &["H100", "A10", "H100-NVL"]),
            ("H1000", &["H100"]),
            ("A100-40", &["A100", "A100-80GB", "A10"]),
            ("nvidia-h100", &["H100", "H200", "B300"]),
            ("nvidia-tesla-t5", &["T4", "P4", "K80"]),
            ("Tesla-V100-SXM2-64GB", &["V100-32GB", "V100", "P100"]),
            ("MI300", &["MI300X"]),
            ("RTX4090", &[]),
            ("zzzzzz", &[]),
            ("", &[]),
        ];
        for (text, expected) in cases {
            assert_eq!(GpuModel::suggest(text), expected.to_vec(), "{text:?}");
        }
    }

    #[test]
    fn from_str_error_message() {
        let error = "H10".parse::<GpuModel>().unwrap_err();
        assert_eq!(error.text, "H10");
        assert_eq!(
            error.to_string(),
            format!(
                "unknown GPU model `H10`; did you mean {}?",
                error.suggestions.join(", ")
            )
        );
        assert!(
            error
                .to_string()
                .starts_with("unknown GPU model `H10`; did you mean H100")
        );

        let error = "zzzzzz".parse::<GpuModel>().unwrap_err();
        assert!(error.suggestions.is_empty());
        assert!(
            error
                .to_string()
                .starts_with("unknown GPU model `zzzzzz`; known models are B300, B200, "),
            "{error}"
        );
        assert!(error.to_string().ends_with(", K80, M60"), "{error}");
    }

    proptest! {
        #[test]
        fn parse_and_suggest_never_panic(text in "\\PC{0,40}") {
            let parsed = GpuModel::parse(&text);
            let suggestions = GpuModel::suggest(&text);
            prop_assert!(suggestions.len() <= 3);
            let mut unique = suggestions.clone();
            unique.sort_unstable();
            unique.dedup();
            prop_assert_eq!(unique.len(), suggestions.len());
            if let Some(model) = parsed {
                prop_assert_eq!(suggestions.first().copied(), Some(model.canonical_name()));
            }
        }

        #[test]
        fn case_and_separators_do_not_matter(index in 0..GpuModel::ALL.len(), upper in any::<bool>()) {
            let model = GpuModel::ALL[index];
            for name in model.accepted_names() {
                let respelled = if upper { name.to_uppercase() } else { name.to_lowercase().replace('-', "_") };
                prop_assert_eq!(GpuModel::parse(&respelled), Some(model), "{}", respelled);
            }
        }
    }
}
