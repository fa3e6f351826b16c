//! `/metrics`: the Prometheus text exposition format 0.0.4.
//!
//! Every family has a `# HELP` and a `# TYPE` line and then its samples;
//! families are sorted by name and samples by their labels, so one state
//! always renders the same text. Units are in the names (`_seconds`,
//! `_usd`, `_bytes`, `_cores`), counters end in `_total`.
//!
//! Format rules kept here, once:
//! - label values escape `\` as `\\`, `"` as `\"` and a line feed as `\n`;
//!   help texts escape `\` and line feeds;
//! - values are finite: a non-finite number (which no real state produces)
//!   is written as 0, never as `NaN`;
//! - a histogram's `_bucket` samples are cumulative, in increasing `le`,
//!   and end with `le="+Inf"`, which equals `_count`.
//!
//! Families (labels in braces):
//! - build and loop: `gantry_build_info{version,mode}`,
//!   `gantry_start_time_seconds`, `gantry_control_loop_recovered`,
//!   `gantry_status_snapshot_timestamp_seconds`, `gantry_store_up`;
//! - jobs: `gantry_jobs{state}` and `gantry_jobs_by_team{team,state}` (every
//!   job in the store, terminal ones included; absent when the store did not
//!   answer), `gantry_live_jobs{state}` (what the control loop holds),
//!   `gantry_queue_depth{team}`, `gantry_cluster_live_jobs{cluster}`;
//! - scheduling: `gantry_placement_latency_seconds` (histogram, submit to
//!   Placed), `gantry_scheduling_pass_duration_seconds` (histogram),
//!   `gantry_placements_total`, `gantry_preemptions_total`,
//!   `gantry_scheduling_passes_total`;
//! - money: `gantry_spend_usd_total` (list price since start),
//!   `gantry_team_spend_today_usd{team}`, `gantry_team_budget_per_day_usd{team}`;
//! - teams: `gantry_team_gpus_used{team}`,
//!   `gantry_team_gpus_used_by_model{team,gpu_model}`,
//!   `gantry_team_cpu_cores_used{team}`, `gantry_team_memory_bytes_used{team}`,
//!   `gantry_team_gpus_quota{team}` and
//!   `gantry_team_gpus_quota_by_model{team,gpu_model}` (only where set);
//! - fleet: `gantry_cluster_up{cluster,cloud,region,health}` (1 unless Lost),
//!   and per pool, labelled
//!   `{cluster,pool,instance_type,zone,capacity_type,gpu_model}`:
//!   `gantry_cluster_gpus`, `gantry_cluster_gpus_allocated`,
//!   `gantry_cluster_cpu_cores`, `gantry_cluster_cpu_cores_allocated`,
//!   `gantry_cluster_memory_bytes`, `gantry_cluster_memory_bytes_allocated`
//!   (usable nodes), `gantry_cluster_nodes`, `gantry_cluster_nodes_usable`,
//!   `gantry_cluster_nodes_idle`, and
//!   `gantry_pool_price_usd_per_node_hour` (plus `price_source`; priced pools only),
//!   `gantry_pool_catalog_mismatch` (1 when the nodes disagree with the
//!   cloud's instance catalog);
//! - cloud APIs, when the daemon calls any: `gantry_cloud_api_up{api}` and the
//!   counters the daemon reports (`gantry_price_refreshes_total`,
//!   `gantry_price_fetch_failures_total{feed}`,
//!   `gantry_price_quotes_total{outcome,reason}`,
//!   `gantry_provenance_records_total{outcome}`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gantry_control::driver::Histogram;
use gantry_core::{JobState, Money};
use gantry_kube::{ClusterView, Health, Pool};
use gantry_store::LIVE_STATES;

use super::StatusInputs;

/// What a family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// A sample's value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Value {
    Count(u64),
    Real(f64),
}

impl From<u64> for Value {
    fn from(count: u64) -> Value {
        Value::Count(count)
    }
}

impl From<u32> for Value {
    fn from(count: u32) -> Value {
        Value::Count(u64::from(count))
    }
}

impl From<f64> for Value {
    fn from(real: f64) -> Value {
        Value::Real(real)
    }
}

/// Label names and values, in the family's label order.
type Labels = Vec<(&'static str, String)>;

/// A counter or gauge family; samples sorted (and made unique) by labels.
#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: BTreeMap<Labels, Value>,
}

impl Family {
    fn new(name: &'static str, kind: Kind, help: &'static str) -> Family {
        Family {
            name,
            help,
            kind,
            samples: BTreeMap::new(),
        }
    }

    fn gauge(name: &'static str, help: &'static str) -> Family {
        Family::new(name, Kind::Gauge, help)
    }

    fn counter(name: &'static str, help: &'static str) -> Family {
        Family::new(name, Kind::Counter, help)
    }

    fn set(&mut self, labels: Labels, value: impl Into<Value>) {
        self.samples.insert(labels, value.into());
    }

    fn with(mut self, labels: Labels, value: impl Into<Value>) -> Family {
        self.set(labels, value);
        self
    }
}

/// A histogram's buckets made ready for output: finite bounds, strictly
/// increasing, with cumulative counts; `count` is the `+Inf` bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct CumulativeBuckets {
    /// (upper bound, observations at or below it), by increasing bound.
    pub buckets: Vec<(f64, u64)>,
    /// All observations: the `+Inf` bucket and `_count`.
    pub count: u64,
    /// Sum of observations (0 if it was not finite).
    pub sum: f64,
}

impl CumulativeBuckets {
    /// Cumulative buckets of `histogram`, whatever its shape: bounds that are
    /// not finite are dropped (their observations stay in `+Inf`), the rest
    /// are sorted and equal bounds merged; counts beyond the bounds are `+Inf`.
    pub fn of(histogram: &Histogram) -> CumulativeBuckets {
        let mut per_bound: Vec<(f64, u64)> = histogram
            .bounds
            .iter()
            .enumerate()
            .filter(|(_, bound)| bound.is_finite())
            .map(|(index, bound)| (*bound, histogram.counts.get(index).copied().unwrap_or(0)))
            .collect();
        per_bound.sort_by(|left, right| left.0.total_cmp(&right.0));
        let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(per_bound.len());
        let mut cumulative = 0u64;
        for (bound, count) in per_bound {
            cumulative = cumulative.saturating_add(count);
            match buckets.last_mut() {
                Some(last) if last.0 == bound => last.1 = cumulative,
                _ => buckets.push((bound, cumulative)),
            }
        }
        let count = histogram
            .counts
            .iter()
            .fold(0u64, |total, count| total.saturating_add(*count));
        CumulativeBuckets {
            buckets,
            count,
            sum: finite(histogram.sum),
        }
    }

    /// An estimate of the `q` quantile (0 to 1), interpolating linearly in
    /// the bucket that holds it (as PromQL's `histogram_quantile` does); the
    /// highest finite bound when it lies in `+Inf`; `None` with no
    /// observations or no finite bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !q.is_finite() {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        #[allow(clippy::cast_precision_loss)]
        let rank = q * self.count as f64;
        let mut lower_bound = 0.0f64;
        let mut lower_count = 0u64;
        for (bound, cumulative) in &self.buckets {
            #[allow(clippy::cast_precision_loss)]
            if *cumulative as f64 >= rank && *cumulative > 0 {
                let lower = lower_bound.min(*bound);
                let in_bucket = cumulative.saturating_sub(lower_count);
                if in_bucket == 0 {
                    return Some(*bound);
                }
                #[allow(clippy::cast_precision_loss)]
                let fraction = (rank - lower_count as f64) / in_bucket as f64;
                let estimate = lower + (bound - lower) * fraction.clamp(0.0, 1.0);
                return Some(finite(estimate));
            }
            lower_bound = *bound;
            lower_count = *cumulative;
        }
        self.buckets.last().map(|(bound, _)| *bound)
    }
}

/// The text for one histogram family.
#[derive(Debug)]
struct HistogramFamily {
    name: &'static str,
    help: &'static str,
    buckets: CumulativeBuckets,
}

#[derive(Debug)]
enum Block {
    Family(Family),
    Histogram(HistogramFamily),
}

impl Block {
    fn name(&self) -> &'static str {
        match self {
            Block::Family(family) => family.name,
            Block::Histogram(histogram) => histogram.name,
        }
    }
}

/// A number as the format wants it; never `NaN` or infinite.
fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

/// A float in the exposition's syntax (Go's `ParseFloat` reads it).
pub fn format_float(value: f64) -> String {
    let value = finite(value);
    if value == 0.0 {
        "0".to_owned()
    } else {
        format!("{value}")
    }
}

/// A label value escaped for the exposition: `\` `"` and line feed.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A help text escaped for the exposition: `\` and line feed.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn write_labels(out: &mut String, labels: &[(&'static str, String)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (index, (name, value)) in labels.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape_label_value(value));
    }
    out.push('}');
}

fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn write_value(out: &mut String, value: Value) {
    match value {
        Value::Count(count) => {
            let _ = write!(out, "{count}");
        }
        Value::Real(real) => out.push_str(&format_float(real)),
    }
}

fn write_block(out: &mut String, block: &Block) {
    match block {
        Block::Family(family) => {
            write_header(out, family.name, family.kind.as_str(), family.help);
            for (labels, value) in &family.samples {
                out.push_str(family.name);
                write_labels(out, labels);
                out.push(' ');
                write_value(out, *value);
                out.push('\n');
            }
        }
        Block::Histogram(histogram) => {
            let name = histogram.name;
            write_header(out, name, "histogram", histogram.help);
            for (bound, cumulative) in &histogram.buckets.buckets {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{le=\"{}\"}} {cumulative}",
                    format_float(*bound)
                );
            }
            let buckets = &histogram.buckets;
            let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", buckets.count);
            let _ = writeln!(out, "{name}_sum {}", format_float(buckets.sum));
            let _ = writeln!(out, "{name}_count {}", buckets.count);
        }
    }
}

fn dollars(money: Money) -> f64 {
    finite(money.to_dollars_f64())
}

fn cores(millis: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let cores = millis as f64 / 1000.0;
    cores
}

fn seconds(unix_ms: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let seconds = unix_ms as f64 / 1000.0;
    seconds
}

fn flag(value: bool) -> u64 {
    u64::from(value)
}

fn pool_labels(view: &ClusterView, pool: &Pool) -> Labels {
    vec![
        ("cluster", view.cluster.clone()),
        ("pool", pool.display_name()),
        ("instance_type", pool.key.instance_type.clone()),
        ("zone", pool.key.zone.clone()),
        ("capacity_type", pool.key.capacity_type.as_str().to_owned()),
        (
            "gpu_model",
            pool.gpu
                .map_or_else(|| "none".to_owned(), |(model, _)| model.to_string()),
        ),
    ]
}

fn build_families(inputs: &StatusInputs) -> Vec<Block> {
    let snapshot = inputs.snapshot.as_ref();
    let mut families = Vec::new();

    families.push(Family::gauge(
        "gantry_build_info",
        "Always 1; the labels say which gantryd this is and how it was started (dev or config:PATH).",
    )
    .with(
        vec![("version", inputs.version.clone()), ("mode", inputs.mode.clone())],
        1u64,
    ));
    families.push(
        Family::gauge(
            "gantry_start_time_seconds",
            "When gantryd started, in seconds since the Unix epoch.",
        )
        .with(Vec::new(), seconds(inputs.started_at_unix_ms)),
    );
    families.push(
        Family::gauge(
            "gantry_control_loop_recovered",
            "1 once the control loop has read the live jobs back from the store and told the executor what should run.",
        )
        .with(Vec::new(), flag(snapshot.recovered)),
    );
    let mut snapshot_time = Family::gauge(
        "gantry_status_snapshot_timestamp_seconds",
        "When the control loop published the status these metrics show, in seconds since the Unix epoch.",
    );
    if snapshot.at_unix_ms > 0 {
        snapshot_time.set(Vec::new(), seconds(snapshot.at_unix_ms));
    }
    families.push(snapshot_time);
    families.push(
        Family::gauge(
            "gantry_store_up",
            "1 when the store gave its job counts for this scrape in time, else 0 (and the gantry_jobs families are absent).",
        )
        .with(Vec::new(), flag(inputs.counts.is_ok())),
    );

    // Jobs.
    let mut jobs = Family::gauge(
        "gantry_jobs",
        "Jobs in the store by state, terminal states included.",
    );
    let mut jobs_by_team = Family::gauge(
        "gantry_jobs_by_team",
        "Jobs in the store by team (that team only, not its sub-teams) and state; pairs with no job are left out.",
    );
    if let Ok(counts) = &inputs.counts {
        let by_state = counts.by_state();
        for state in JobState::ALL {
            jobs.set(
                vec![("state", state.as_str().to_owned())],
                by_state.get(&state).copied().unwrap_or(0),
            );
        }
        for (team, states) in &counts.by_team {
            for (state, count) in states {
                jobs_by_team.set(
                    vec![
                        ("team", team.to_string()),
                        ("state", state.as_str().to_owned()),
                    ],
                    *count,
                );
            }
        }
        families.push(jobs);
        families.push(jobs_by_team);
    }
    let mut live = Family::gauge(
        "gantry_live_jobs",
        "Live jobs the control loop holds, by state.",
    );
    for state in LIVE_STATES {
        live.set(
            vec![("state", state.as_str().to_owned())],
            snapshot.live_by_state.get(&state).copied().unwrap_or(0),
        );
    }
    for (state, count) in &snapshot.live_by_state {
        live.set(vec![("state", state.as_str().to_owned())], *count);
    }
    families.push(live);
    let mut queue = Family::gauge(
        "gantry_queue_depth",
        "Queued jobs per team (that team only).",
    );
    for (team, depth) in &snapshot.queue_depth {
        queue.set(vec![("team", team.clone())], *depth);
    }
    families.push(queue);
    let mut per_cluster = Family::gauge(
        "gantry_cluster_live_jobs",
        "Live jobs placed on each cluster (holding or about to hold capacity there).",
    );
    for (cluster, count) in &snapshot.jobs_per_cluster {
        per_cluster.set(vec![("cluster", cluster.clone())], *count);
    }
    families.push(per_cluster);

    // Scheduling.
    let metrics = &snapshot.metrics;
    families.push(
        Family::counter(
            "gantry_placements_total",
            "Jobs placed since gantryd started.",
        )
        .with(Vec::new(), metrics.placements),
    );
    families.push(
        Family::counter(
            "gantry_preemptions_total",
            "Jobs preempted for higher-priority ones since gantryd started.",
        )
        .with(Vec::new(), metrics.preemptions),
    );
    families.push(
        Family::counter(
            "gantry_scheduling_passes_total",
            "Scheduling passes run since gantryd started.",
        )
        .with(Vec::new(), metrics.passes),
    );
    families.push(
        Family::counter(
            "gantry_spend_usd_total",
            "Spend at list price since gantryd started, in US dollars (reserved capacity at its amortized price).",
        )
        .with(Vec::new(), dollars(metrics.list_spend)),
    );

    // Teams.
    let mut spend_today = Family::gauge(
        "gantry_team_spend_today_usd",
        "Spend of each team (with its sub-teams) today (UTC), in US dollars; reserved capacity is already paid and counts 0.",
    );
    let mut budget = Family::gauge(
        "gantry_team_budget_per_day_usd",
        "Daily budget of each team that has one, in US dollars.",
    );
    let mut gpus_used = Family::gauge(
        "gantry_team_gpus_used",
        "GPUs held by each team's jobs (with its sub-teams').",
    );
    let mut gpus_used_by_model = Family::gauge(
        "gantry_team_gpus_used_by_model",
        "GPUs held by each team's jobs (with its sub-teams'), by GPU model.",
    );
    let mut cpu_used = Family::gauge(
        "gantry_team_cpu_cores_used",
        "CPU cores requested by each team's placed jobs (with its sub-teams').",
    );
    let mut memory_used = Family::gauge(
        "gantry_team_memory_bytes_used",
        "Memory in bytes requested by each team's placed jobs (with its sub-teams').",
    );
    let mut gpus_quota = Family::gauge(
        "gantry_team_gpus_quota",
        "GPU quota (any model) of each team that has one.",
    );
    let mut gpus_quota_by_model = Family::gauge(
        "gantry_team_gpus_quota_by_model",
        "GPU quota per model of each team that has one.",
    );
    for usage in &snapshot.teams {
        let team = usage
            .team
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let by_team = || vec![("team", team.clone())];
        spend_today.set(by_team(), dollars(usage.spend_today));
        gpus_used.set(by_team(), usage.gpus);
        cpu_used.set(by_team(), cores(usage.cpu_millis));
        memory_used.set(by_team(), usage.memory_bytes);
        for (model, gpus) in &usage.gpus_by_model {
            gpus_used_by_model.set(
                vec![("team", team.clone()), ("gpu_model", model.to_string())],
                *gpus,
            );
        }
        if let Some(quota) = &usage.quota {
            if let Some(gpus) = quota.gpus {
                gpus_quota.set(by_team(), gpus);
            }
            for (model, gpus) in &quota.gpus_by_model {
                gpus_quota_by_model.set(
                    vec![("team", team.clone()), ("gpu_model", model.to_string())],
                    *gpus,
                );
            }
            if let Some(per_day) = quota.budget_per_day {
                budget.set(by_team(), dollars(per_day));
            }
        }
    }
    families.extend([
        spend_today,
        budget,
        gpus_used,
        gpus_used_by_model,
        cpu_used,
        memory_used,
        gpus_quota,
        gpus_quota_by_model,
    ]);

    // Fleet.
    let mut up = Family::gauge(
        "gantry_cluster_up",
        "1 when the cluster serves (Reachable or Degraded), 0 when Lost; the health label says which.",
    );
    let mut gpus = Family::gauge(
        "gantry_cluster_gpus",
        "Allocatable GPUs of the pool's usable nodes.",
    );
    let mut gpus_allocated = Family::gauge(
        "gantry_cluster_gpus_allocated",
        "GPUs requested by pods on the pool's usable nodes.",
    );
    let mut cpu = Family::gauge(
        "gantry_cluster_cpu_cores",
        "Allocatable CPU cores of the pool's usable nodes.",
    );
    let mut cpu_allocated = Family::gauge(
        "gantry_cluster_cpu_cores_allocated",
        "CPU cores requested by pods on the pool's usable nodes.",
    );
    let mut memory = Family::gauge(
        "gantry_cluster_memory_bytes",
        "Allocatable memory in bytes of the pool's usable nodes.",
    );
    let mut memory_allocated = Family::gauge(
        "gantry_cluster_memory_bytes_allocated",
        "Memory in bytes requested by pods on the pool's usable nodes.",
    );
    let mut nodes = Family::gauge("gantry_cluster_nodes", "Nodes of the pool, usable or not.");
    let mut nodes_usable = Family::gauge(
        "gantry_cluster_nodes_usable",
        "Nodes of the pool that can take work (Ready, not cordoned, no foreign NoSchedule taint).",
    );
    let mut nodes_idle = Family::gauge(
        "gantry_cluster_nodes_idle",
        "Usable nodes of the pool with nothing requested on them.",
    );
    let mut price = Family::gauge(
        "gantry_pool_price_usd_per_node_hour",
        "Price of one node of the pool for one hour, in US dollars (reserved capacity at its amortized price); priced pools only.",
    );
    let mut catalog_mismatch = Family::gauge(
        "gantry_pool_catalog_mismatch",
        "1 when the pool's nodes disagree with the cloud's instance catalog (GPUs, vCPUs, memory, or not offered in the zone; gantry clusters says how), else 0.",
    );
    for view in &snapshot.clusters {
        up.set(
            vec![
                ("cluster", view.cluster.clone()),
                ("cloud", view.cloud.as_str().to_owned()),
                ("region", view.region.clone()),
                ("health", view.health.as_str().to_owned()),
            ],
            flag(view.health != Health::Lost),
        );
        for pool in &view.inventory.pools {
            let labels = pool_labels(view, pool);
            gpus.set(labels.clone(), pool.allocatable.gpus);
            gpus_allocated.set(labels.clone(), pool.allocated.gpus);
            cpu.set(labels.clone(), cores(pool.allocatable.cpu_millis));
            cpu_allocated.set(labels.clone(), cores(pool.allocated.cpu_millis));
            memory.set(labels.clone(), pool.allocatable.memory_bytes);
            memory_allocated.set(labels.clone(), pool.allocated.memory_bytes);
            nodes.set(labels.clone(), pool.nodes);
            nodes_usable.set(labels.clone(), pool.usable_nodes);
            nodes_idle.set(labels.clone(), pool.idle_nodes);
            catalog_mismatch.set(labels.clone(), flag(pool.catalog_note.is_some()));
            if let Some(per_hour) = pool.price_per_node_hour {
                let mut priced = labels;
                priced.push(("price_source", pool.price_source.as_str().to_owned()));
                price.set(priced, dollars(per_hour));
            }
        }
    }
    families.extend([
        up,
        gpus,
        gpus_allocated,
        cpu,
        cpu_allocated,
        memory,
        memory_allocated,
        nodes,
        nodes_usable,
        nodes_idle,
        price,
        catalog_mismatch,
    ]);

    // Cloud API counters, grouped into their families.
    let mut cloud: BTreeMap<&'static str, Family> = BTreeMap::new();
    for counter in &inputs.clouds.counters {
        cloud
            .entry(counter.family)
            .or_insert_with(|| Family::counter(counter.family, counter.help))
            .set(counter.labels.clone(), counter.value);
    }
    let mut cloud_up = Family::gauge(
        "gantry_cloud_api_up",
        "1 while the cloud API's last call succeeded, 0 while it fails (the daemon runs on what it last knew).",
    );
    for api in &inputs.clouds.apis {
        cloud_up.set(vec![("api", api.name.clone())], flag(api.healthy));
    }
    if !inputs.clouds.apis.is_empty() {
        families.push(cloud_up);
    }
    families.extend(cloud.into_values());

    let mut blocks: Vec<Block> = families.into_iter().map(Block::Family).collect();
    blocks.push(Block::Histogram(HistogramFamily {
        name: "gantry_placement_latency_seconds",
        help: "Time from submit to Placed, in seconds.",
        buckets: CumulativeBuckets::of(&snapshot.placement_latency),
    }));
    blocks.push(Block::Histogram(HistogramFamily {
        name: "gantry_scheduling_pass_duration_seconds",
        help: "Wall time of one scheduling pass (snapshot, schedule, commands), in seconds.",
        buckets: CumulativeBuckets::of(&snapshot.pass_duration),
    }));
    blocks.sort_by_key(Block::name);
    blocks
}

/// The exposition text of everything the inputs hold.
pub fn render(inputs: &StatusInputs) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for block in build_families(inputs) {
        write_block(&mut out, &block);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;

    fn histogram(bounds: Vec<f64>, counts: Vec<u64>) -> Histogram {
        Histogram {
            bounds,
            count: counts.iter().sum(),
            counts,
            sum: 1.5,
        }
    }

    #[test]
    fn label_values_escape_backslash_quote_and_line_feed() {
        assert_eq!(
            escape_label_value("a\\b \"c\"\nd\te"),
            "a\\\\b \\\"c\\\"\\nd\te"
        );
    }

    #[test]
    fn floats_are_plain_and_never_nan() {
        assert_eq!(format_float(0.005), "0.005");
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(-0.0), "0");
        assert_eq!(format_float(f64::NAN), "0");
        assert_eq!(format_float(f64::INFINITY), "0");
        assert_eq!(format_float(1e-7), "0.0000001");
    }

    #[test]
    fn buckets_are_cumulative_and_odd_bounds_are_tamed() {
        let buckets = CumulativeBuckets::of(&histogram(
            vec![1.0, f64::NAN, 0.5, 1.0, 2.0],
            vec![1, 5, 2, 3, 4, 7, 9],
        ));
        // 0.5 -> 2; 1.0 -> 2 + 1 + 3; 2.0 -> + 4; NaN's 5 and the extra
        // slots only in +Inf.
        assert_eq!(buckets.buckets, vec![(0.5, 2), (1.0, 6), (2.0, 10)]);
        assert_eq!(buckets.count, 31);
    }

    #[test]
    fn quantiles_interpolate_like_histogram_quantile() {
        let latency = Histogram::latency();
        let mut observed = latency.clone();
        assert_eq!(CumulativeBuckets::of(&observed).quantile(0.5), None);
        for _ in 0..10 {
            observed.observe(0.007);
        }
        // All ten in (0.005, 0.01]: the median is the middle of the bucket.
        let buckets = CumulativeBuckets::of(&observed);
        let median = buckets.quantile(0.5).unwrap();
        assert!((median - 0.0075).abs() < 1e-9, "{median}");
        observed.observe(1000.0);
        let buckets = CumulativeBuckets::of(&observed);
        assert_eq!(buckets.quantile(1.0), Some(60.0), "in +Inf: the top bound");
        assert_eq!(
            CumulativeBuckets::of(&histogram(Vec::new(), vec![3])).quantile(0.5),
            None
        );
    }

    fn unescape(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(character) = chars.next() {
            if character == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                }
            } else {
                out.push(character);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn any_histogram_renders_cumulative_finite_buckets(
            bounds in proptest::collection::vec(prop_oneof![
                any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), 0.0f64..100.0
            ], 0..20),
            counts in proptest::collection::vec(0u64..1_000_000, 0..25),
            q in 0.0f64..=1.0,
        ) {
            let buckets = CumulativeBuckets::of(&histogram(bounds, counts));
            let mut previous: Option<(f64, u64)> = None;
            for (bound, cumulative) in &buckets.buckets {
                prop_assert!(bound.is_finite());
                if let Some((last_bound, last_count)) = previous {
                    prop_assert!(*bound > last_bound);
                    prop_assert!(*cumulative >= last_count);
                }
                prop_assert!(*cumulative <= buckets.count);
                previous = Some((*bound, *cumulative));
            }
            if let Some(estimate) = buckets.quantile(q) {
                prop_assert!(estimate.is_finite());
            }
        }

        #[test]
        fn escaped_label_values_round_trip_on_one_line(value in ".*") {
            let escaped = escape_label_value(&value);
            prop_assert!(!escaped.contains('\n'));
            prop_assert_eq!(unescape(&escaped), value);
        }
    }
}
