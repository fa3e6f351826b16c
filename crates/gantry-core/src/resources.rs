//! Resource amounts: what a pod asks for, and vectors of usage, capacity and limits.
//!
//! Invariants:
//! - CPU is counted in millicores, memory in bytes, GPUs in whole devices; no
//!   fractions and no floats.
//! - In a [`ResourceVector`], `gpus` is the total GPU count and `gpus_by_model` a
//!   per-model breakdown. For usage and capacity the breakdown normally sums to
//!   `gpus`; for a limit, an absent model means "no per-model limit" (only the total
//!   applies) while an entry of 0 forbids that model.
//! - A [`GpuRequest`] built through [`GpuRequest::new`] lists at least one model when
//!   it asks for any GPU, and no model twice, in the order the user gave.
//! - Arithmetic is checked or saturating, never wrapping; nothing here panics.

use std::collections::BTreeMap;

use crate::gpu::GpuModel;

/// An amount of each schedulable resource: usage, free capacity, a quota or a limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceVector {
    /// CPU in millicores (1000 = one core).
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// GPUs of any model.
    pub gpus: u32,
    /// GPUs per model. As a limit, a model that is absent has no per-model limit.
    pub gpus_by_model: BTreeMap<GpuModel, u32>,
}

impl ResourceVector {
    /// The field-by-field sum, or `None` if any field overflows.
    ///
    /// Per-model entries are added over the union of both maps, an absent entry
    /// counting as zero: this is meant for adding usage, not for combining limits.
    pub fn checked_add(&self, other: &ResourceVector) -> Option<ResourceVector> {
        let mut gpus_by_model = self.gpus_by_model.clone();
        for (model, count) in &other.gpus_by_model {
            let entry = gpus_by_model.entry(*model).or_insert(0);
            *entry = entry.checked_add(*count)?;
        }
        Some(ResourceVector {
            cpu_millis: self.cpu_millis.checked_add(other.cpu_millis)?,
            memory_bytes: self.memory_bytes.checked_add(other.memory_bytes)?,
            gpus: self.gpus.checked_add(other.gpus)?,
            gpus_by_model,
        })
    }

    /// The field-by-field difference, each field floored at zero: e.g. what is left
    /// of a limit (`self`) after some usage (`other`).
    ///
    /// The result has exactly the per-model entries of `self` (a used-up model stays
    /// as an explicit 0, so a limit keeps forbidding it); entries only in `other` are
    /// ignored.
    pub fn saturating_sub(&self, other: &ResourceVector) -> ResourceVector {
        let gpus_by_model = self
            .gpus_by_model
            .iter()
            .map(|(model, count)| {
                let used = other.gpus_by_model.get(model).copied().unwrap_or(0);
                (*model, count.saturating_sub(used))
            })
            .collect();
        ResourceVector {
            cpu_millis: self.cpu_millis.saturating_sub(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_sub(other.memory_bytes),
            gpus: self.gpus.saturating_sub(other.gpus),
            gpus_by_model,
        }
    }

    /// Whether `self` stays within `limit` on every field.
    ///
    /// CPU, memory and the GPU total must each be at most the limit's. For each model
    /// the limit lists, `self`'s count of that model (zero if absent) must be at most
    /// the listed count; models the limit does not list are bounded only by the total.
    pub fn fits_within(&self, limit: &ResourceVector) -> bool {
        self.cpu_millis <= limit.cpu_millis
            && self.memory_bytes <= limit.memory_bytes
            && self.gpus <= limit.gpus
            && limit.gpus_by_model.iter().all(|(model, allowed)| {
                self.gpus_by_model.get(model).copied().unwrap_or(0) <= *allowed
            })
    }

    /// Every field multiplied by `factor` (e.g. one replica's needs times the replica
    /// count), or `None` on overflow.
    pub fn scaled(&self, factor: u32) -> Option<ResourceVector> {
        let gpus_by_model = self
            .gpus_by_model
            .iter()
            .map(|(model, count)| count.checked_mul(factor).map(|scaled| (*model, scaled)))
            .collect::<Option<BTreeMap<GpuModel, u32>>>()?;
        Some(ResourceVector {
            cpu_millis: self.cpu_millis.checked_mul(u64::from(factor))?,
            memory_bytes: self.memory_bytes.checked_mul(u64::from(factor))?,
            gpus: self.gpus.checked_mul(factor)?,
            gpus_by_model,
        })
    }

    /// Whether every field is zero (per-model entries included).
    pub fn is_zero(&self) -> bool {
        self.cpu_millis == 0
            && self.memory_bytes == 0
            && self.gpus == 0
            && self.gpus_by_model.values().all(|count| *count == 0)
    }
}

/// Why a GPU request is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// GPUs were asked for without saying which models are acceptable.
    #[error(
        "GPU count is {count} but no GPU model is given; list at least one acceptable model, e.g. `types: [H100]`"
    )]
    NoGpuModels {
        /// How many GPUs were asked for.
        count: u32,
    },
    /// A model is listed more than once.
    #[error("GPU model {model} is listed more than once; list each acceptable model once")]
    DuplicateGpuModel {
        /// The repeated model.
        model: GpuModel,
    },
}

/// GPUs per replica: how many, and which models are acceptable (any one of them;
/// all GPUs of a replica are of the same model).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GpuRequest {
    /// GPUs per replica.
    pub count: u32,
    /// Acceptable models, in the order given; non-empty when `count > 0`, no
    /// duplicates.
    pub models: Vec<GpuModel>,
}

impl GpuRequest {
    /// Checks and builds a request: `models` must be non-empty when `count > 0` and
    /// must not repeat a model. Order is kept.
    pub fn new(count: u32, models: Vec<GpuModel>) -> Result<GpuRequest, ResourceError> {
        if count > 0 && models.is_empty() {
            return Err(ResourceError::NoGpuModels { count });
        }
        for (index, model) in models.iter().enumerate() {
            if models.iter().take(index).any(|earlier| earlier == model) {
                return Err(ResourceError::DuplicateGpuModel { model: *model });
            }
        }
        Ok(GpuRequest { count, models })
    }

    /// Whether `model` is one of the acceptable models.
    pub fn accepts(&self, model: GpuModel) -> bool {
        self.models.contains(&model)
    }
}

/// What one replica (one pod) asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodResources {
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// GPUs, if any.
    pub gpu: Option<GpuRequest>,
}

impl PodResources {
    /// GPUs per replica (zero without a GPU request).
    pub fn gpu_count(&self) -> u32 {
        self.gpu.as_ref().map_or(0, |gpu| gpu.count)
    }

    /// What one replica uses once placed on GPUs of `model`: its CPU and memory,
    /// and its GPU count both in total and under `model`. `model` is ignored when the
    /// pod asks for no GPU.
    pub fn usage_on(&self, model: GpuModel) -> ResourceVector {
        let gpus = self.gpu_count();
        let mut gpus_by_model = BTreeMap::new();
        if gpus > 0 {
            gpus_by_model.insert(model, gpus);
        }
        ResourceVector {
            cpu_millis: self.cpu_millis,
            memory_bytes: self.memory_bytes,
            gpus,
            gpus_by_model,
        }
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

    fn vector(
        cpu_millis: u64,
        memory_bytes: u64,
        gpus: u32,
        by_model: &[(GpuModel, u32)],
    ) -> ResourceVector {
        ResourceVector {
            cpu_millis,
            memory_bytes,
            gpus,
            gpus_by_model: by_model.iter().copied().collect(),
        }
    }

    #[test]
    fn adds_usage() {
        let a = vector(1_000, 10, 2, &[(GpuModel::H100, 2)]);
        let b = vector(500, 5, 3, &[(GpuModel::H100, 1), (GpuModel::A100, 2)]);
        assert_eq!(
            a.checked_add(&b),
            Some(vector(
                1_500,
                15,
                5,
                &[(GpuModel::H100, 3), (GpuModel::A100, 2)]
            ))
        );
        assert_eq!(a.checked_add(&vector(u64::MAX, 0, 0, &[])), None);
        assert_eq!(
            a.checked_add(&vector(0, 0, 0, &[(GpuModel::H100, u32::MAX)])),
            None
        );
        assert_eq!(ResourceVector::default().checked_add(&a), Some(a.clone()));
    }

    #[test]
    fn subtracts_keeping_the_limit_entries() {
        let limit = vector(8_000, 100, 8, &[(GpuModel::H100, 4)]);
        let used = vector(10_000, 40, 4, &[(GpuModel::H100, 4), (GpuModel::A100, 1)]);
        assert_eq!(
            limit.saturating_sub(&used),
            vector(0, 60, 4, &[(GpuModel::H100, 0)])
        );
    }

    #[test]
    fn fits_within_table() {
        let limit = vector(8_000, 100, 8, &[(GpuModel::H100, 4), (GpuModel::T4, 0)]);
        let cases: &[(ResourceVector, bool)] = &[
            (ResourceVector::default(), true),
            (
                vector(8_000, 100, 8, &[(GpuModel::H100, 4), (GpuModel::A100, 4)]),
                true,
            ),
            (vector(8_001, 0, 0, &[]), false),
            (vector(0, 101, 0, &[]), false),
            (vector(0, 0, 9, &[(GpuModel::A100, 9)]), false),
            (vector(0, 0, 5, &[(GpuModel::H100, 5)]), false),
            (vector(0, 0, 1, &[(GpuModel::T4, 1)]), false),
            (vector(0, 0, 8, &[(GpuModel::A100, 8)]), true),
        ];
        for (usage, expected) in cases {
            assert_eq!(usage.fits_within(&limit), *expected, "{usage:?}");
        }
    }

    #[test]
    fn scales() {
        let replica = vector(4_000, 1 << 30, 8, &[(GpuModel::H100, 8)]);
        assert_eq!(
            replica.scaled(4),
            Some(vector(16_000, 4 << 30, 32, &[(GpuModel::H100, 32)]))
        );
        assert_eq!(
            replica.scaled(0),
            Some(vector(0, 0, 0, &[(GpuModel::H100, 0)]))
        );
        assert!(replica.scaled(0).unwrap().is_zero());
        assert_eq!(replica.scaled(u32::MAX), None);
        assert!(!replica.is_zero());
    }

    #[test]
    fn gpu_requests() {
        let request = GpuRequest::new(8, vec![GpuModel::H100, GpuModel::A100_80GB]).unwrap();
        assert_eq!(request.models, [GpuModel::H100, GpuModel::A100_80GB]);
        assert!(request.accepts(GpuModel::A100_80GB));
        assert!(!request.accepts(GpuModel::A100));
        assert_eq!(GpuRequest::new(0, vec![]).unwrap().count, 0);
        assert_eq!(
            GpuRequest::new(8, vec![]).unwrap_err().to_string(),
            "GPU count is 8 but no GPU model is given; list at least one acceptable model, e.g. `types: [H100]`"
        );
        assert_eq!(
            GpuRequest::new(1, vec![GpuModel::H100, GpuModel::L4, GpuModel::H100])
                .unwrap_err()
                .to_string(),
            "GPU model H100 is listed more than once; list each acceptable model once"
        );
    }

    #[test]
    fn pod_usage() {
        let pod = PodResources {
            cpu_millis: 96_000,
            memory_bytes: 1 << 40,
            gpu: Some(GpuRequest::new(8, vec![GpuModel::H100]).unwrap()),
        };
        assert_eq!(pod.gpu_count(), 8);
        assert_eq!(
            pod.usage_on(GpuModel::H100),
            vector(96_000, 1 << 40, 8, &[(GpuModel::H100, 8)])
        );
        let cpu_only = PodResources {
            cpu_millis: 500,
            memory_bytes: 1 << 20,
            gpu: None,
        };
        assert_eq!(cpu_only.gpu_count(), 0);
        assert_eq!(
            cpu_only.usage_on(GpuModel::H100),
            vector(500, 1 << 20, 0, &[])
        );
    }

    fn any_vector() -> impl Strategy<Value = ResourceVector> {
        (
            0_u64..1_000_000,
            0_u64..1_000_000,
            0_u32..100,
            proptest::collection::btree_map(
                proptest::sample::select(GpuModel::ALL),
                0_u32..100,
                0..4,
            ),
        )
            .prop_map(
                |(cpu_millis, memory_bytes, gpus, gpus_by_model)| ResourceVector {
                    cpu_millis,
                    memory_bytes,
                    gpus,
                    gpus_by_model,
                },
            )
    }

    proptest! {
        #[test]
        fn usage_fits_within_itself_plus_more(a in any_vector(), b in any_vector()) {
            let sum = a.checked_add(&b).unwrap();
            prop_assert!(a.fits_within(&sum));
            prop_assert!(b.fits_within(&sum));
            prop_assert!(a.fits_within(&a));
        }

        #[test]
        fn subtracting_what_was_added_gives_back_the_original_fields(a in any_vector(), b in any_vector()) {
            let sum = a.checked_add(&b).unwrap();
            let back = sum.saturating_sub(&b);
            prop_assert_eq!(back.cpu_millis, a.cpu_millis);
            prop_assert_eq!(back.memory_bytes, a.memory_bytes);
            prop_assert_eq!(back.gpus, a.gpus);
            for (model, count) in &a.gpus_by_model {
                prop_assert_eq!(back.gpus_by_model.get(model), Some(count));
            }
        }

        #[test]
        fn scaling_by_two_equals_adding_to_itself(a in any_vector()) {
            prop_assert_eq!(a.scaled(2), a.checked_add(&a));
        }
    }
}
