//! Relative training throughput per GPU model: how much faster a job runs on one
//! model than on the reference, the A100 40 GB (1000 per mille).
//!
//! The figures live in `data/gpu-throughput.csv` (embedded at build time;
//! `data/SOURCES.md` cites the benchmark or spec sheet behind each row). They are
//! per GPU, for mixed-precision (BF16/FP16) transformer training, rounded to two
//! significant figures: a job's expected runtime is given for the reference model
//! and scaled by these ratios to compare offers of different models fairly.
//!
//! Invariants:
//! - Every figure is a whole per-mille ratio above zero; the reference model's is
//!   exactly 1000 in any table [`ThroughputTable::parse`] accepts.
//! - The shipped table has a row for every [`GpuModel`]. A model missing from a
//!   table (one an operator wrote) runs at the reference speed, as do CPU-only jobs.
//! - Scaled runtimes round up to the whole second, so a job that takes any time on
//!   the reference takes at least a second everywhere; nothing overflows or panics.

use std::collections::BTreeMap;
use std::fmt;

use gantry_core::{CsvError, CsvTable, GpuModel};

/// The embedded table.
const THROUGHPUT_CSV: &str = include_str!("../data/gpu-throughput.csv");

/// The reference model's per-mille figure.
const REFERENCE_PER_MILLE: u32 = 1000;

/// Why a throughput table cannot be used.
///
/// (`Display` and `Error` are written out: this crate depends on gantry-core only.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThroughputError {
    /// The text is not CSV, or its header lacks a column.
    Csv(CsvError),
    /// One row is wrong.
    Row {
        /// The row's 1-based line.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// The reference model is missing, or not at 1000.
    Reference,
}

impl fmt::Display for ThroughputError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThroughputError::Csv(error) => write!(formatter, "GPU throughput table: {error}"),
            ThroughputError::Row { line, problem } => {
                write!(formatter, "GPU throughput table line {line}: {problem}")
            }
            ThroughputError::Reference => write!(
                formatter,
                "GPU throughput table must list the reference model {} at 1000 per mille (every figure is relative to it)",
                ThroughputTable::REFERENCE
            ),
        }
    }
}

impl std::error::Error for ThroughputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ThroughputError::Csv(error) => Some(error),
            ThroughputError::Row { .. } | ThroughputError::Reference => None,
        }
    }
}

impl From<CsvError> for ThroughputError {
    fn from(error: CsvError) -> ThroughputError {
        ThroughputError::Csv(error)
    }
}

/// Throughput per mille of the reference model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThroughputTable {
    /// Per-mille throughput relative to [`ThroughputTable::REFERENCE`].
    pub per_mille: BTreeMap<GpuModel, u32>,
}

impl ThroughputTable {
    /// The model expected runtimes are given for.
    pub const REFERENCE: GpuModel = GpuModel::A100;

    /// Figures from public benchmark results and spec sheets
    /// (`data/gpu-throughput.csv`).
    pub fn published() -> ThroughputTable {
        let parsed = ThroughputTable::parse(THROUGHPUT_CSV);
        debug_assert!(parsed.is_ok(), "data/gpu-throughput.csv: {parsed:?}");
        parsed.unwrap_or_else(|_| ThroughputTable {
            per_mille: BTreeMap::from([(ThroughputTable::REFERENCE, REFERENCE_PER_MILLE)]),
        })
    }

    /// Reads a table with the columns `gpu` (any name [`GpuModel::parse`] knows) and
    /// `per_mille` (a whole number above zero); other columns (`basis`, `source`) are
    /// ignored. Each model may appear once, and the reference must be 1000.
    pub fn parse(csv_text: &str) -> Result<ThroughputTable, ThroughputError> {
        let table = CsvTable::parse(csv_text)?;
        let columns = table.require_columns(&["gpu", "per_mille"])?;
        let &[gpu, per_mille] = columns.as_slice() else {
            return Err(ThroughputError::Reference);
        };
        let mut figures = BTreeMap::new();
        for record in table.records() {
            let row_error = |problem: String| ThroughputError::Row {
                line: record.line,
                problem,
            };
            let model_text = record.field(gpu).trim();
            let model: GpuModel = model_text
                .parse()
                .map_err(|error: gantry_core::UnknownGpuModel| row_error(error.to_string()))?;
            let figure_text = record.field(per_mille).trim();
            let figure = figure_text
                .parse::<u32>()
                .ok()
                .filter(|figure| *figure > 0)
                .ok_or_else(|| {
                    row_error(format!(
                        "per_mille `{figure_text}` is not a whole number above zero (1000 = as fast as {})",
                        ThroughputTable::REFERENCE
                    ))
                })?;
            if figures.insert(model, figure).is_some() {
                return Err(row_error(format!("{model} is listed twice")));
            }
        }
        if figures.get(&ThroughputTable::REFERENCE) != Some(&REFERENCE_PER_MILLE) {
            return Err(ThroughputError::Reference);
        }
        Ok(ThroughputTable { per_mille: figures })
    }

    /// Expected runtime on `model`, given the runtime on the reference model,
    /// rounded up to the second. Unknown models (and CPU-only jobs) run at the
    /// reference speed.
    pub fn runtime_on(&self, model: Option<GpuModel>, reference_runtime_s: u64) -> u64 {
        let per_mille = model
            .and_then(|model| self.per_mille.get(&model).copied())
            .unwrap_or(REFERENCE_PER_MILLE)
            .max(1);
        let scaled = (u128::from(reference_runtime_s) * u128::from(REFERENCE_PER_MILLE))
            .div_ceil(u128::from(per_mille));
        u64::try_from(scaled).unwrap_or(u64::MAX)
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

    #[test]
    fn the_shipped_table_parses_and_has_every_model() {
        let table = ThroughputTable::parse(THROUGHPUT_CSV).unwrap();
        assert_eq!(table, ThroughputTable::published());
        for model in GpuModel::ALL {
            assert!(table.per_mille.contains_key(model), "{model} has no row");
        }
        assert_eq!(table.per_mille.len(), GpuModel::ALL.len());
        assert_eq!(table.per_mille[&ThroughputTable::REFERENCE], 1000);
    }

    #[test]
    fn the_shipped_figures_have_two_significant_figures_at_most() {
        for (model, figure) in ThroughputTable::published().per_mille {
            let mut significant = figure;
            while significant >= 100 {
                assert_eq!(significant % 10, 0, "{model}: {figure}");
                significant /= 10;
            }
        }
    }

    #[test]
    fn the_shipped_figures_keep_the_known_order() {
        let table = ThroughputTable::published();
        let figure = |model| table.per_mille[&model];
        use GpuModel::*;
        // Newer generations are faster; more memory on the same chip is not slower.
        let chains: &[&[GpuModel]] = &[
            &[B200, H200, H100, A100_80GB, A100, V100, T4],
            &[H100, L40S, A10G, L4, T4],
            &[A100_80GB, A100, A30, A10, L4],
            &[L40S, L40, A40],
            &[V100, P100, P4, K80],
        ];
        for chain in chains {
            for pair in chain.windows(2) {
                assert!(
                    figure(pair[0]) >= figure(pair[1]),
                    "{} < {}",
                    pair[0],
                    pair[1]
                );
            }
        }
        assert_eq!(figure(V100_32GB), figure(V100));
        assert!(figure(H100) >= 2 * figure(A100) && figure(H100) <= 3 * figure(A100));
    }

    #[test]
    fn runtime_scales_with_throughput() {
        let table = ThroughputTable::published();
        let hour = 3600;
        assert_eq!(table.runtime_on(Some(GpuModel::A100), hour), hour);
        assert_eq!(table.runtime_on(Some(GpuModel::H100), hour), 1440);
        assert_eq!(table.runtime_on(Some(GpuModel::B200), hour), 720);
        assert_eq!(table.runtime_on(Some(GpuModel::T4), hour), 24_000);
        assert_eq!(table.runtime_on(None, hour), hour);
        assert_eq!(table.runtime_on(Some(GpuModel::H100), 0), 0);
        // Rounded up: never zero for a job that takes time.
        assert_eq!(table.runtime_on(Some(GpuModel::B200), 1), 1);
        assert_eq!(table.runtime_on(Some(GpuModel::K80), u64::MAX), u64::MAX);
        // A model the table lacks runs at the reference speed.
        let partial = ThroughputTable::parse("gpu,per_mille\nA100,1000\nH100,2000\n").unwrap();
        assert_eq!(partial.runtime_on(Some(GpuModel::L4), hour), hour);
        assert_eq!(partial.runtime_on(Some(GpuModel::H100), hour), 1800);
    }

    #[test]
    fn parse_refuses_bad_tables() {
        let cases: &[(&str, &str)] = &[
            (
                "gpu,per_mille\nA100,1000\nH1000,2500\n",
                "line 3: unknown GPU model `H1000`",
            ),
            (
                "gpu,per_mille\nA100,1000\nH100,2.5x\n",
                "line 3: per_mille `2.5x` is not a whole number above zero",
            ),
            (
                "gpu,per_mille\nA100,1000\nH100,0\n",
                "line 3: per_mille `0` is not a whole number above zero",
            ),
            (
                "gpu,per_mille\nA100,1000\nH100,-5\n",
                "line 3: per_mille `-5`",
            ),
            (
                "gpu,per_mille\nA100,1000\nnvidia-h100-80gb,2500\nH100,2600\n",
                "line 4: H100 is listed twice",
            ),
            (
                "gpu,per_mille\nH100,2500\n",
                "must list the reference model A100 at 1000",
            ),
            (
                "gpu,per_mille\nA100,900\n",
                "must list the reference model A100 at 1000",
            ),
            (
                "gpu,speed\nA100,1000\n",
                "missing column `per_mille`; the header has `gpu`, `speed`",
            ),
            (
                "gpu,per_mille\n\"A100,1000\n",
                "a quoted field starts here and never ends",
            ),
        ];
        for (text, message) in cases {
            let error = ThroughputTable::parse(text).unwrap_err();
            assert!(error.to_string().contains(message), "{text:?}: {error}");
        }
        // Column order and extra columns do not matter.
        let table =
            ThroughputTable::parse("note,per_mille,gpu\nfast,2500,H100\n,1000,A100\n").unwrap();
        assert_eq!(table.per_mille[&GpuModel::H100], 2500);
    }
}
