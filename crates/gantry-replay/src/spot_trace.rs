//! Spot availability from the SkyPilot spot traces
//! (`spot_traces_index.csv` + `spot_traces_values.csv`).
//!
//! Reading of the values: **a non-zero value means spot is unavailable**
//! (the reading of the simulator published with "Can't Be Late", NSDI'24).
//! When a pool's series turns non-zero, every running node of that pool is
//! reclaimed (its jobs go back to the queue and resume from their last
//! checkpoint) and the pool offers nothing until the series is zero again.
//!
//! Mapping (deterministic): only series of GPU instances (`v100_1`, `k80_8`;
//! not the CPU series `intel_64`, `c3-88`) are used. Each spot pool, in fleet
//! order, takes the least-used series of the first tier that has one:
//! same cloud + zone + GPU model; same cloud + GPU model; same cloud + zone;
//! same cloud; any. Ties go to the lower trace id.
//!
//! Time: a series starts at the replay's origin and loops (its period is
//! ticks x tick gap) for as long as the replay runs.

use std::collections::BTreeMap;

use gantry_core::{CapacityType, Cloud, GpuModel};

use crate::csv_records::records;
use crate::fleet::Pool;

/// One series.
#[derive(Clone, Debug, PartialEq)]
pub struct SpotSeries {
    /// `trace_id`.
    pub trace_id: u32,
    /// Cloud, when known.
    pub cloud: Option<Cloud>,
    /// Zone, e.g. `us-east-1c`.
    pub zone: String,
    /// Instance, e.g. `v100_1`.
    pub instance: String,
    /// GPU model of the instance, when it is a GPU instance.
    pub gpu_model: Option<GpuModel>,
    /// Seconds between ticks.
    pub gap_s: u64,
    /// Per tick: true when spot is unavailable (value non-zero).
    pub unavailable: Vec<bool>,
}

/// Why the spot traces cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpotTraceError {
    /// A required column is missing.
    #[error("{file}: no column `{column}`")]
    MissingColumn {
        /// File.
        file: &'static str,
        /// Column.
        column: &'static str,
    },
    /// A row cannot be read.
    #[error("{file} line {line}: {reason}")]
    BadRow {
        /// File.
        file: &'static str,
        /// Line.
        line: usize,
        /// Why.
        reason: String,
    },
}

const INDEX: &str = "spot_traces_index.csv";
const VALUES: &str = "spot_traces_values.csv";

fn column(
    header: &[std::borrow::Cow<'_, str>],
    file: &'static str,
    name: &'static str,
) -> Result<usize, SpotTraceError> {
    header
        .iter()
        .position(|field| field.trim() == name)
        .ok_or(SpotTraceError::MissingColumn { file, column: name })
}

fn number<T: std::str::FromStr>(
    text: &str,
    file: &'static str,
    line: usize,
    what: &str,
) -> Result<T, SpotTraceError> {
    text.trim()
        .parse::<T>()
        .map_err(|_| SpotTraceError::BadRow {
            file,
            line,
            reason: format!("{what} `{text}` is not a number"),
        })
}

/// Reads both files. Series are returned in trace-id order.
pub fn parse_spot_traces(
    index_text: &str,
    values_text: &str,
) -> Result<Vec<SpotSeries>, SpotTraceError> {
    let mut rows = records(index_text);
    let header = match rows.next() {
        Some((_, Ok(header))) => header,
        Some((line, Err(reason))) => {
            return Err(SpotTraceError::BadRow {
                file: INDEX,
                line,
                reason,
            });
        }
        None => {
            return Err(SpotTraceError::MissingColumn {
                file: INDEX,
                column: "trace_id",
            });
        }
    };
    let id_column = column(&header, INDEX, "trace_id")?;
    let cloud_column = column(&header, INDEX, "cloud")?;
    let zone_column = column(&header, INDEX, "zone")?;
    let instance_column = column(&header, INDEX, "instance")?;
    let gap_column = column(&header, INDEX, "gap_seconds")?;
    let mut series: BTreeMap<u32, SpotSeries> = BTreeMap::new();
    for (line, fields) in rows {
        let fields = fields.map_err(|reason| SpotTraceError::BadRow {
            file: INDEX,
            line,
            reason,
        })?;
        let field = |position: usize| fields.get(position).map_or("", |field| field.trim());
        let trace_id: u32 = number(field(id_column), INDEX, line, "trace_id")?;
        let gap_s: u64 = number(field(gap_column), INDEX, line, "gap_seconds")?;
        let instance = field(instance_column).to_owned();
        let gpu_model = instance.split(['_', '-']).next().and_then(GpuModel::parse);
        series.insert(
            trace_id,
            SpotSeries {
                trace_id,
                cloud: Cloud::parse(&field(cloud_column).to_ascii_lowercase()),
                zone: field(zone_column).to_owned(),
                instance,
                gpu_model,
                gap_s: gap_s.max(1),
                unavailable: Vec::new(),
            },
        );
    }
    let mut rows = records(values_text);
    let header = match rows.next() {
        Some((_, Ok(header))) => header,
        Some((line, Err(reason))) => {
            return Err(SpotTraceError::BadRow {
                file: VALUES,
                line,
                reason,
            });
        }
        None => {
            return Err(SpotTraceError::MissingColumn {
                file: VALUES,
                column: "trace_id",
            });
        }
    };
    let id_column = column(&header, VALUES, "trace_id")?;
    let tick_column = column(&header, VALUES, "tick")?;
    let value_column = column(&header, VALUES, "value")?;
    let mut ticks: BTreeMap<u32, Vec<(u64, bool)>> = BTreeMap::new();
    for (line, fields) in rows {
        let fields = fields.map_err(|reason| SpotTraceError::BadRow {
            file: VALUES,
            line,
            reason,
        })?;
        let field = |position: usize| fields.get(position).map_or("", |field| field.trim());
        let trace_id: u32 = number(field(id_column), VALUES, line, "trace_id")?;
        let tick: u64 = number(field(tick_column), VALUES, line, "tick")?;
        let value: f64 = number(field(value_column), VALUES, line, "value")?;
        if !series.contains_key(&trace_id) {
            return Err(SpotTraceError::BadRow {
                file: VALUES,
                line,
                reason: format!("trace_id {trace_id} is not in {INDEX}"),
            });
        }
        ticks
            .entry(trace_id)
            .or_default()
            .push((tick, value != 0.0));
    }
    for (trace_id, mut values) in ticks {
        values.sort_by_key(|(tick, _)| *tick);
        if let Some(entry) = series.get_mut(&trace_id) {
            entry.unavailable = values
                .into_iter()
                .map(|(_, unavailable)| unavailable)
                .collect();
        }
    }
    Ok(series
        .into_values()
        .filter(|series| !series.unavailable.is_empty())
        .collect())
}

/// Which series each pool follows (`None` for pools that are not spot, or
/// when no GPU series exists).
pub fn assign_series(pools: &[Pool], series: &[SpotSeries]) -> Vec<Option<usize>> {
    let gpu_series: Vec<usize> = series
        .iter()
        .enumerate()
        .filter(|(_, series)| series.gpu_model.is_some())
        .map(|(index, _)| index)
        .collect();
    let mut uses: BTreeMap<usize, usize> = BTreeMap::new();
    pools
        .iter()
        .map(|pool| {
            if pool.capacity_type != CapacityType::Spot {
                return None;
            }
            let same_cloud = |s: &SpotSeries| s.cloud == Some(pool.cloud);
            let same_zone = |s: &SpotSeries| s.zone == pool.zone;
            let same_model =
                |s: &SpotSeries| s.gpu_model.is_some() && s.gpu_model == pool.gpu_model();
            let tiers: [&dyn Fn(&SpotSeries) -> bool; 5] = [
                &|s| same_cloud(s) && same_zone(s) && same_model(s),
                &|s| same_cloud(s) && same_model(s),
                &|s| same_cloud(s) && same_zone(s),
                &|s| same_cloud(s),
                &|_| true,
            ];
            for tier in tiers {
                let chosen = gpu_series
                    .iter()
                    .copied()
                    .filter(|&index| series.get(index).is_some_and(tier))
                    .min_by_key(|index| (uses.get(index).copied().unwrap_or(0), *index));
                if let Some(index) = chosen {
                    *uses.entry(index).or_default() += 1;
                    return Some(index);
                }
            }
            None
        })
        .collect()
}

/// A series as changes of availability over one loop.
#[derive(Clone, Debug, PartialEq)]
pub struct SpotSchedule {
    /// Trace id of the series.
    pub trace_id: u32,
    /// Length of one loop.
    pub period_s: u64,
    /// Available at the origin?
    pub initially_available: bool,
    /// (offset in the loop, available after it), offsets ascending.
    pub changes: Vec<(u64, bool)>,
}

impl SpotSchedule {
    /// The changes of one series.
    pub fn from_series(series: &SpotSeries) -> SpotSchedule {
        let mut changes = Vec::new();
        let first = series.unavailable.first().copied().unwrap_or(false);
        let last = series.unavailable.last().copied().unwrap_or(false);
        if first != last {
            changes.push((0, !first));
        }
        for (tick, pair) in series.unavailable.windows(2).enumerate() {
            if let [before, after] = pair
                && before != after
            {
                changes.push(((tick as u64 + 1) * series.gap_s, !after));
            }
        }
        SpotSchedule {
            trace_id: series.trace_id,
            period_s: (series.unavailable.len() as u64 * series.gap_s).max(1),
            initially_available: !first,
            changes,
        }
    }

    /// The first change strictly after `now`, for a series started at `origin`.
    pub fn next_change_after(&self, origin: u64, now: u64) -> Option<(u64, bool)> {
        let elapsed = now.checked_sub(origin)?;
        let loop_start = origin + elapsed / self.period_s * self.period_s;
        let within = elapsed % self.period_s;
        if let Some(&(offset, available)) = self.changes.iter().find(|(offset, _)| *offset > within)
        {
            return Some((loop_start + offset, available));
        }
        self.changes
            .first()
            .map(|&(offset, available)| (loop_start + self.period_s + offset, available))
    }

    /// Times the series turns unavailable per hour, over one loop.
    pub fn interruptions_per_hour(&self) -> f64 {
        let downs = self
            .changes
            .iter()
            .filter(|(_, available)| !available)
            .count();
        downs as f64 * 3600.0 / self.period_s as f64
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use gantry_sched::NodeShape;

    use super::*;

    const INDEX_CSV: &str = "trace_id,kind,cloud,zone,instance,gap_seconds,n_ticks\n\
        0,availability,aws,us-east-1c,v100_1,10,4\n\
        1,preemption,gcp,us-central1-a,c3-88,10,2\n\
        2,availability,aws,us-west-2a,k80_8,10,3\n";
    const VALUES_CSV: &str =
        "trace_id,tick,value\n0,0,0\n0,1,1\n0,2,1\n0,3,0\n1,0,1\n1,1,1\n2,1,0\n2,0,1\n2,2,0\n";

    fn spot_pool(cloud: Cloud, zone: &str, model: GpuModel) -> Pool {
        Pool {
            cluster: "c".into(),
            cloud,
            region: "r".into(),
            zone: zone.into(),
            name: "p".into(),
            instance_type: "i".into(),
            capacity_type: CapacityType::Spot,
            node: NodeShape {
                gpu: Some((model, 8)),
                cpu_millis: 1,
                memory_bytes: 1,
                vcpus: 1,
            },
            price_per_node_hour: gantry_core::Money::ZERO,
            interruption_rate_per_hour: 0.0,
            nodes: 1,
        }
    }

    #[test]
    fn reads_series_and_their_changes() {
        let series = parse_spot_traces(INDEX_CSV, VALUES_CSV).unwrap();
        assert_eq!(series.len(), 3);
        assert_eq!(series[0].unavailable, vec![false, true, true, false]);
        assert_eq!(series[0].gpu_model, Some(GpuModel::V100));
        assert_eq!(series[1].gpu_model, None);
        assert_eq!(series[2].unavailable, vec![true, false, false]);
        let schedule = SpotSchedule::from_series(&series[0]);
        assert!(schedule.initially_available);
        assert_eq!(schedule.period_s, 40);
        assert_eq!(schedule.changes, vec![(10, false), (30, true)]);
        assert_eq!(schedule.next_change_after(100, 100), Some((110, false)));
        assert_eq!(schedule.next_change_after(100, 110), Some((130, true)));
        assert_eq!(schedule.next_change_after(100, 130), Some((150, false)));
        // Wrap-around change at the loop boundary.
        let wrapped = SpotSchedule::from_series(&series[2]);
        assert!(!wrapped.initially_available);
        assert_eq!(wrapped.changes, vec![(0, false), (10, true)]);
        assert_eq!(wrapped.next_change_after(0, 0), Some((10, true)));
        assert_eq!(wrapped.next_change_after(0, 10), Some((30, false)));
        assert!((schedule.interruptions_per_hour() - 90.0).abs() < 1e-9);
    }

    #[test]
    fn pools_map_to_gpu_series_by_model_and_zone_then_round_robin() {
        let series = parse_spot_traces(INDEX_CSV, VALUES_CSV).unwrap();
        let pools = [
            spot_pool(Cloud::Aws, "us-east-1c", GpuModel::V100),
            spot_pool(Cloud::Aws, "us-east-1a", GpuModel::A100),
            spot_pool(Cloud::Gcp, "us-central1-a", GpuModel::A100),
            spot_pool(Cloud::Aws, "us-west-2a", GpuModel::K80),
        ];
        let mut on_demand = spot_pool(Cloud::Aws, "x", GpuModel::A100);
        on_demand.capacity_type = CapacityType::OnDemand;
        let mut all = pools.to_vec();
        all.push(on_demand);
        // The GCP CPU series (index 1) is never used.
        assert_eq!(
            assign_series(&all, &series),
            vec![Some(0), Some(2), Some(0), Some(2), None]
        );
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(parse_spot_traces("id\n", VALUES_CSV).is_err());
        assert!(parse_spot_traces(INDEX_CSV, "trace_id,tick,value\n9,0,1\n").is_err());
        assert!(parse_spot_traces(INDEX_CSV, "trace_id,tick,value\n0,x,1\n").is_err());
    }
}
