//! Hourly prices of cloud instance types, per region and zone, loaded from CSV.
//!
//! The format is SkyPilot's catalog format plus a `Cloud` column: a header names
//! the columns (any order, any case; extra columns such as `GpuInfo` are ignored)
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `Cloud` | yes | `aws`, `gcp`, `azure` or `onprem` |
//! | `InstanceType` | yes | the cloud's instance type |
//! | `AcceleratorName` | yes | a GPU model name [`GpuModel::parse`] knows; empty for an instance without GPUs |
//! | `AcceleratorCount` | yes | GPUs per instance, a whole number (`8` or `8.0`); ignored without a name |
//! | `vCPUs` | yes | vCPUs per instance, a whole number |
//! | `MemoryGiB` | yes | memory per instance in GiB, a decimal |
//! | `Price` | yes | on-demand dollars per hour |
//! | `SpotPrice` | no | spot dollars per hour; without the column the table has no spot prices |
//! | `Region` | yes | the cloud's region |
//! | `AvailabilityZone` | no | the zone; empty (or no column) for a region-wide price, as Azure's |
//!
//! The shipped table is `deploy/prices/gpu-prices.csv` (see the `PROVENANCE.md` next
//! to it).
//!
//! Invariants:
//! - Only a text that is not CSV, or a header without a required column, fails the
//!   whole load ([`PriceTableError`]). Every other problem rejects a price, or a
//!   row, and says so in a [`RejectedPrice`] with the 1-based line, the instance,
//!   the region and zone, which price and why; a row keeps the prices that pass, and
//!   a row with none is dropped.
//! - Every price kept is above zero and at most the sanity caps below. Prices are
//!   exact [`Money`]; decimals beyond the micro-dollar are rounded half away from
//!   zero.
//! - A price is rejected when it is missing, not a number, zero, negative, a known
//!   placeholder (`700.0`, SkyPilot's stand-in for an unknown TPU price, and
//!   `0.00001`, the spot price moto's fake EC2 returns), or absurd: a spot price
//!   above 3x the row's on-demand price, or any price above $150 per GPU-hour
//!   (above $1,000 an hour for an instance without GPUs). A row is rejected whole
//!   (both its prices) for an unknown cloud or GPU model, a GPU count that is not a
//!   whole number of at least one, vCPUs or memory that are not numbers, or an
//!   empty instance type or region.
//! - Memory is kept exactly, in bytes (GiB x 2^30, rounded to the byte), the unit
//!   [`ResourceVector`](crate::ResourceVector) and node shapes use; vCPUs are whole.
//! - Rows are keyed by (cloud, region, zone, instance type); a later row with the
//!   same key (later in the file, or in a table merged later) replaces the shape and
//!   each price it has, and keeps the earlier price it lacks.
//! - Nothing here panics, whatever the input; the order of everything observable is
//!   deterministic.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::csv_reader::{CsvError, CsvRecord, CsvTable};
use crate::gpu::GpuModel;
use crate::money::Money;
use crate::placement_terms::{CapacityType, Cloud};

/// SkyPilot writes 700.0 where it does not know a price (its TPU rows).
const SKYPILOT_PLACEHOLDER: Money = Money::from_micros(700_000_000);
/// moto, the AWS mock, answers every spot price request with 0.00001.
const MOTO_PLACEHOLDER: Money = Money::from_micros(10);
/// No GPU rents for more than this per GPU-hour on demand; above it, a typo.
const MAX_PER_GPU_HOUR: Money = Money::from_micros(150_000_000);
/// No instance without GPUs rents for more than this per hour.
const MAX_CPU_ONLY_HOUR: Money = Money::from_micros(1_000_000_000);
/// A spot price above this multiple of the on-demand price is not believable.
const MAX_SPOT_TO_ON_DEMAND: i64 = 3;
/// Bytes in one GiB.
const BYTES_PER_GIB: u128 = 1 << 30;

/// Where one row's prices apply.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PriceKey {
    /// The cloud.
    pub cloud: Cloud,
    /// The cloud's region, e.g. `us-east-1`, `europe-west4`, `eastus`.
    pub region: String,
    /// The zone, e.g. AWS's zone id `use1-az2` or GCP's `us-central1-a`; `None`
    /// for a region-wide price.
    pub zone: Option<String>,
    /// The instance type, e.g. `p4d.24xlarge`.
    pub instance_type: String,
}

/// One instance type's shape and hourly prices in one place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceRow {
    /// Where the prices apply.
    pub key: PriceKey,
    /// GPU model and count per instance; `None` for an instance without GPUs.
    pub gpu: Option<(GpuModel, u32)>,
    /// vCPUs per instance.
    pub vcpus: u32,
    /// Memory per instance in bytes (the file's GiB x 2^30).
    pub memory_bytes: u64,
    /// On-demand price per hour, if known and believable.
    pub on_demand: Option<Money>,
    /// Spot price per hour, if known and believable.
    pub spot: Option<Money>,
}

impl PriceRow {
    /// This row's price for `capacity`: reserved capacity is priced on demand
    /// (see [`PriceTable::price`]).
    pub fn price(&self, capacity: CapacityType) -> Option<Money> {
        match capacity {
            CapacityType::Spot => self.spot,
            CapacityType::OnDemand | CapacityType::Reserved => self.on_demand,
        }
    }
}

/// A price the loader refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedPrice {
    /// The 1-based line of the row in the file.
    pub line: usize,
    /// The row's instance type, as written.
    pub instance_type: String,
    /// The row's region, as written.
    pub region: String,
    /// The row's zone, if it has one.
    pub zone: Option<String>,
    /// Which price: on-demand or spot.
    pub capacity: CapacityType,
    /// Why, for a person reading the load report.
    pub reason: String,
}

impl fmt::Display for RejectedPrice {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "line {}: {} in {}",
            self.line, self.instance_type, self.region
        )?;
        if let Some(zone) = &self.zone {
            write!(formatter, " ({zone})")?;
        }
        write!(formatter, ", {}: {}", self.capacity, self.reason)
    }
}

/// Why a price table could not be loaded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceTableError {
    /// The text is not CSV.
    #[error("price table is not CSV: {0}")]
    NotCsv(#[source] CsvError),
    /// The header lacks a required column.
    #[error(
        "price table has no {} column{}; the header has {}; a price table needs {}",
        quoted_list(missing), if missing.len() == 1 { "" } else { "s" },
        quoted_list(found), quoted_list(&REQUIRED_COLUMNS.map(str::to_owned))
    )]
    MissingColumns {
        /// The required columns that are absent.
        missing: Vec<String>,
        /// The header's column names, in file order.
        found: Vec<String>,
    },
}

fn quoted_list(names: &[String]) -> String {
    if names.is_empty() {
        return "no columns".to_owned();
    }
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What [`PriceTable::parse`] gives: the table, and every price it refused.
#[derive(Clone, Debug, Default)]
pub struct PriceTableLoad {
    /// The rows with at least one price kept.
    pub table: PriceTable,
    /// Every price refused, in file order (on-demand before spot within a row).
    pub rejected: Vec<RejectedPrice>,
}

/// Rows by cloud, instance type, region and zone.
type RowsByZone = BTreeMap<Option<String>, PriceRow>;
type RowsByRegion = BTreeMap<String, RowsByZone>;
type RowsByInstance = BTreeMap<String, RowsByRegion>;

/// Hourly prices of instance types per (cloud, region, zone).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceTable {
    rows: BTreeMap<Cloud, RowsByInstance>,
    len: usize,
}

const REQUIRED_COLUMNS: [&str; 8] = [
    "Cloud",
    "InstanceType",
    "AcceleratorName",
    "AcceleratorCount",
    "vCPUs",
    "MemoryGiB",
    "Price",
    "Region",
];

/// Column indexes of one file.
#[derive(Debug)]
struct Columns {
    cloud: usize,
    instance_type: usize,
    accelerator_name: usize,
    accelerator_count: usize,
    vcpus: usize,
    memory_gib: usize,
    price: usize,
    region: usize,
    spot_price: Option<usize>,
    zone: Option<usize>,
}

impl PriceTable {
    /// Loads a price table (format in the module docs). Fails only when the text is
    /// not CSV or the header lacks a required column; every refused price is in
    /// [`PriceTableLoad::rejected`].
    pub fn parse(csv_text: &str) -> Result<PriceTableLoad, PriceTableError> {
        let csv = CsvTable::parse(csv_text).map_err(PriceTableError::NotCsv)?;
        let required = csv
            .require_columns(&REQUIRED_COLUMNS)
            .map_err(|error| match error {
                CsvError::MissingColumns { missing, found } => {
                    PriceTableError::MissingColumns { missing, found }
                }
                other => PriceTableError::NotCsv(other),
            })?;
        let &[
            cloud,
            instance_type,
            accelerator_name,
            accelerator_count,
            vcpus,
            memory_gib,
            price,
            region,
        ] = required.as_slice()
        else {
            // `require_columns` returns one index per name asked for.
            return Ok(PriceTableLoad::default());
        };
        let columns = Columns {
            cloud,
            instance_type,
            accelerator_name,
            accelerator_count,
            vcpus,
            memory_gib,
            price,
            region,
            spot_price: csv.column("SpotPrice"),
            zone: csv.column("AvailabilityZone"),
        };
        let mut load = PriceTableLoad::default();
        for record in csv.records() {
            load_record(record, &columns, &mut load);
        }
        Ok(load)
    }

    /// Adds `row`, or updates the row with its key: the shape is replaced, and each
    /// price `row` has replaces the old one (a price it lacks keeps the old one).
    pub fn insert(&mut self, row: PriceRow) {
        let zones = self
            .rows
            .entry(row.key.cloud)
            .or_default()
            .entry(row.key.instance_type.clone())
            .or_default()
            .entry(row.key.region.clone())
            .or_default();
        match zones.get_mut(&row.key.zone) {
            Some(existing) => {
                existing.gpu = row.gpu;
                existing.vcpus = row.vcpus;
                existing.memory_bytes = row.memory_bytes;
                existing.on_demand = row.on_demand.or(existing.on_demand);
                existing.spot = row.spot.or(existing.spot);
            }
            None => {
                zones.insert(row.key.zone.clone(), row);
                self.len += 1;
            }
        }
    }

    /// Merges `later` into `self`: rows of `later` override rows of `self` with the
    /// same key, price by price (see [`PriceTable::insert`]). Use it to lay an
    /// operator's price file over the shipped table.
    pub fn merge(&mut self, later: PriceTable) {
        for zones in later
            .rows
            .into_values()
            .flat_map(BTreeMap::into_values)
            .flat_map(BTreeMap::into_values)
        {
            for row in zones.into_values() {
                self.insert(row);
            }
        }
    }

    /// The hourly price of `instance_type` in (`cloud`, `region`, `zone`) for
    /// `capacity`, or `None` when the table has none for the region.
    ///
    /// - The zone's own row wins when it has that price.
    /// - Otherwise (no zone given, no row for the zone, or the zone's price was
    ///   rejected) the region decides. On demand: the lowest on-demand price among
    ///   the region's rows; the clouds price on-demand capacity per region, so the
    ///   zones normally agree, and where a catalog differs the lowest is what a
    ///   buyer choosing the zone would pay. Spot: the median of the region's spot
    ///   prices (the mean of the middle two for an even count, rounded half up to
    ///   the micro-dollar). Spot prices differ by zone and move; the lowest zone is
    ///   often the one without capacity and one zone may be capped at the on-demand
    ///   price, so the minimum would promise too much and the maximum too little,
    ///   while the median stays put when one zone is odd.
    /// - Reserved capacity has no row of its own: it is priced on demand. What a
    ///   reservation or commitment costs per hour, amortized, is at most the
    ///   on-demand price, so this is an upper bound; operators who know their
    ///   contract price set it on the pool instead.
    ///
    /// The table prices what a pool would pay; whether the cloud offers the type
    /// in that zone at that capacity now is the fleet's business, not the table's.
    pub fn price(
        &self,
        cloud: Cloud,
        region: &str,
        zone: Option<&str>,
        instance_type: &str,
        capacity: CapacityType,
    ) -> Option<Money> {
        let zones = self.rows.get(&cloud)?.get(instance_type)?.get(region)?;
        if let Some(zone) = zone {
            let zone_price = zones
                .iter()
                .find(|(row_zone, _)| row_zone.as_deref() == Some(zone))
                .and_then(|(_, row)| row.price(capacity));
            if zone_price.is_some() {
                return zone_price;
            }
        }
        let prices = zones.values().filter_map(|row| row.price(capacity));
        match capacity {
            CapacityType::Spot => median(prices.collect()),
            CapacityType::OnDemand | CapacityType::Reserved => prices.min(),
        }
    }

    /// A row of `instance_type` in `cloud` (the first by region and zone), for its
    /// shape: GPUs, vCPUs and memory.
    pub fn instance(&self, cloud: Cloud, instance_type: &str) -> Option<&PriceRow> {
        self.rows
            .get(&cloud)?
            .get(instance_type)?
            .values()
            .flat_map(BTreeMap::values)
            .next()
    }

    /// Every row, ordered by cloud, instance type, region and zone.
    pub fn rows(&self) -> impl Iterator<Item = &PriceRow> {
        self.rows
            .values()
            .flat_map(BTreeMap::values)
            .flat_map(BTreeMap::values)
            .flat_map(BTreeMap::values)
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The median of `prices`; the mean of the middle two, rounded half up, for an
/// even count.
fn median(mut prices: Vec<Money>) -> Option<Money> {
    prices.sort_unstable();
    let middle = prices.len() / 2;
    let upper = *prices.get(middle)?;
    if prices.len() % 2 == 1 {
        return Some(upper);
    }
    let lower = *prices.get(middle.checked_sub(1)?)?;
    let sum = i128::from(lower.micros()) + i128::from(upper.micros());
    i64::try_from((sum + 1).div_euclid(2))
        .ok()
        .map(Money::from_micros)
}

/// Reads one record into `load`.
fn load_record(record: &CsvRecord, columns: &Columns, load: &mut PriceTableLoad) {
    let text = |index: usize| record.field(index).trim();
    let instance_type = text(columns.instance_type);
    let region = text(columns.region);
    let zone = columns
        .zone
        .map(text)
        .filter(|zone| !zone.is_empty())
        .map(str::to_owned);
    let mut capacities = vec![CapacityType::OnDemand];
    if columns.spot_price.is_some() {
        capacities.push(CapacityType::Spot);
    }
    let mut reject = |capacity: CapacityType, reason: String| {
        load.rejected.push(RejectedPrice {
            line: record.line,
            instance_type: instance_type.to_owned(),
            region: region.to_owned(),
            zone: zone.clone(),
            capacity,
            reason,
        });
    };

    let shape = match read_shape(record, columns) {
        Ok(shape) => shape,
        Err(reason) => {
            for capacity in capacities {
                reject(capacity, reason.clone());
            }
            return;
        }
    };
    let n_gpus = shape.gpu.map(|(_, count)| count);
    let mut on_demand = check_price(text(columns.price), CapacityType::OnDemand, n_gpus);
    let mut spot = columns
        .spot_price
        .map(|index| check_price(text(index), CapacityType::Spot, n_gpus));
    if let (Ok(on_demand_price), Some(Ok(spot_price))) = (&on_demand, &spot)
        && i128::from(spot_price.micros())
            > i128::from(MAX_SPOT_TO_ON_DEMAND) * i128::from(on_demand_price.micros())
    {
        spot = Some(Err(format!(
            "spot price {spot_price} is more than {MAX_SPOT_TO_ON_DEMAND}x the on-demand price {on_demand_price}"
        )));
    }
    if let Err(reason) = &mut on_demand {
        reject(CapacityType::OnDemand, std::mem::take(reason));
    }
    if let Some(Err(reason)) = &mut spot {
        reject(CapacityType::Spot, std::mem::take(reason));
    }
    let on_demand = on_demand.ok();
    let spot = spot.and_then(Result::ok);
    if on_demand.is_none() && spot.is_none() {
        return;
    }
    load.table.insert(PriceRow {
        key: PriceKey {
            cloud: shape.cloud,
            region: region.to_owned(),
            zone,
            instance_type: instance_type.to_owned(),
        },
        gpu: shape.gpu,
        vcpus: shape.vcpus,
        memory_bytes: shape.memory_bytes,
        on_demand,
        spot,
    });
}

/// What a row says about the instance, apart from prices.
#[derive(Debug)]
struct Shape {
    cloud: Cloud,
    gpu: Option<(GpuModel, u32)>,
    vcpus: u32,
    memory_bytes: u64,
}

/// The row's cloud and shape, or why the whole row is refused.
fn read_shape(record: &CsvRecord, columns: &Columns) -> Result<Shape, String> {
    let text = |index: usize| record.field(index).trim();
    let cloud_text = text(columns.cloud);
    let cloud = Cloud::parse(&cloud_text.to_ascii_lowercase()).ok_or_else(|| {
        let known: Vec<&str> = Cloud::ALL.iter().map(|cloud| cloud.as_str()).collect();
        if cloud_text.is_empty() {
            format!(
                "the cloud is empty; write one of {}; the row is skipped",
                known.join(", ")
            )
        } else {
            format!(
                "cloud `{cloud_text}` is not one of {}; the row is skipped",
                known.join(", ")
            )
        }
    })?;
    if text(columns.instance_type).is_empty() {
        return Err("the instance type is empty; the row is skipped".to_owned());
    }
    if text(columns.region).is_empty() {
        return Err("the region is empty; the row is skipped".to_owned());
    }
    let accelerator_name = text(columns.accelerator_name);
    let gpu = if accelerator_name.is_empty() {
        None
    } else {
        let model = GpuModel::from_str(accelerator_name)
            .map_err(|unknown| format!("{unknown}; the row is skipped"))?;
        let count_text = text(columns.accelerator_count);
        let count = Decimal::parse(count_text)
            .and_then(|count| count.whole())
            .and_then(|count| u32::try_from(count).ok())
            .filter(|count| *count >= 1)
            .ok_or_else(|| {
                format!(
                    "GPU count `{count_text}` is not a whole number of at least 1; the row is skipped"
                )
            })?;
        Some((model, count))
    };
    let vcpus_text = text(columns.vcpus);
    let vcpus = Decimal::parse(vcpus_text)
        .and_then(|vcpus| vcpus.whole())
        .and_then(|vcpus| u32::try_from(vcpus).ok())
        .ok_or_else(|| format!("vCPUs `{vcpus_text}` is not a whole number; the row is skipped"))?;
    let memory_text = text(columns.memory_gib);
    let memory_bytes = Decimal::parse(memory_text)
        .filter(|memory| !memory.negative)
        .and_then(|memory| memory.times(BYTES_PER_GIB))
        .and_then(|bytes| bytes.scaled(0))
        .and_then(|bytes| u64::try_from(bytes).ok())
        .ok_or_else(|| {
            format!("memory `{memory_text}` GiB is not a non-negative number; the row is skipped")
        })?;
    Ok(Shape {
        cloud,
        gpu,
        vcpus,
        memory_bytes,
    })
}

/// The price in `text`, or why it is refused. `n_gpus` is the row's GPU count
/// (`None` without GPUs), for the sanity cap.
fn check_price(text: &str, capacity: CapacityType, n_gpus: Option<u32>) -> Result<Money, String> {
    if text.is_empty() {
        return Err(format!("no {capacity} price: the field is empty"));
    }
    let micros = Decimal::parse(text)
        .and_then(|price| price.scaled(6))
        .ok_or_else(|| format!("{capacity} price `{text}` is not a number"))?;
    if micros < 0 {
        return Err(format!("{capacity} price `{text}` is negative"));
    }
    if micros == 0 {
        return Err(format!("{capacity} price `{text}` is zero"));
    }
    if micros == i128::from(SKYPILOT_PLACEHOLDER.micros()) {
        return Err(format!(
            "{capacity} price `{text}` is SkyPilot's placeholder for an unknown price"
        ));
    }
    if micros == i128::from(MOTO_PLACEHOLDER.micros()) {
        return Err(format!(
            "{capacity} price `{text}` is moto's placeholder spot price"
        ));
    }
    let cap = match n_gpus {
        Some(count) => MAX_PER_GPU_HOUR.checked_mul_int(i64::from(count)),
        None => Some(MAX_CPU_ONLY_HOUR),
    };
    let price = i64::try_from(micros).ok().map(Money::from_micros);
    let price = match (price, cap) {
        (Some(price), Some(cap)) if price <= cap => price,
        _ => {
            return Err(match n_gpus {
                Some(count) => format!(
                    "{capacity} price `{text}` is more than ${MAX_PER_GPU_HOUR} per GPU-hour for {count} GPU{}",
                    if count == 1 { "" } else { "s" }
                ),
                None => format!(
                    "{capacity} price `{text}` is more than ${MAX_CPU_ONLY_HOUR} an hour for an instance without GPUs"
                ),
            });
        }
    };
    Ok(price)
}

/// An exact decimal number as written in a catalog: `21.957642`, `8.0`, `1e-05`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    /// The digits, without the decimal point.
    mantissa: u128,
    /// Digits after the decimal point: the value is mantissa / 10^scale.
    scale: u32,
}

/// Exponents beyond this are refused (no catalog writes them).
const MAX_EXPONENT: i64 = 40;

impl Decimal {
    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]`; `None` for anything else,
    /// including NaN, infinities and more digits than 128 bits hold.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (number, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((number, exponent)) => {
                let exponent_digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
                if exponent_digits.is_empty()
                    || !exponent_digits.bytes().all(|byte| byte.is_ascii_digit())
                    || exponent_digits.len() > 4
                {
                    return None;
                }
                (number, i64::from_str(exponent).ok()?)
            }
            None => (unsigned, 0),
        };
        if !(-MAX_EXPONENT..=MAX_EXPONENT).contains(&exponent) {
            return None;
        }
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let mut mantissa: u128 = 0;
        for byte in whole.bytes().chain(fraction.bytes()) {
            if !byte.is_ascii_digit() {
                return None;
            }
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(u128::from(byte.wrapping_sub(b'0')))?;
        }
        let fraction_digits = i64::try_from(fraction.len()).ok()?;
        let scale = fraction_digits - exponent;
        if scale < 0 {
            let factor = 10_u128.checked_pow(u32::try_from(-scale).ok()?)?;
            return Some(Decimal {
                negative,
                mantissa: mantissa.checked_mul(factor)?,
                scale: 0,
            });
        }
        Some(Decimal {
            negative,
            mantissa,
            scale: u32::try_from(scale).ok()?,
        })
    }

    /// The value times a whole factor, or `None` on overflow.
    fn times(self, factor: u128) -> Option<Decimal> {
        Some(Decimal {
            mantissa: self.mantissa.checked_mul(factor)?,
            ..self
        })
    }

    /// The value times 10^`decimals`, rounded half away from zero, or `None` if it
    /// does not fit.
    fn scaled(self, decimals: u32) -> Option<i128> {
        let magnitude = if decimals >= self.scale {
            let factor = 10_u128.checked_pow(decimals - self.scale)?;
            self.mantissa.checked_mul(factor)?
        } else {
            match 10_u128.checked_pow(self.scale - decimals) {
                Some(divisor) => {
                    let quotient = self.mantissa / divisor;
                    let remainder = self.mantissa % divisor;
                    if remainder >= divisor - remainder {
                        quotient.checked_add(1)?
                    } else {
                        quotient
                    }
                }
                // The divisor is beyond 128 bits, so the value rounds to zero.
                None => 0,
            }
        };
        let magnitude = i128::try_from(magnitude).ok()?;
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// The value as a non-negative whole number, if it is exactly one.
    fn whole(self) -> Option<u128> {
        if self.negative && self.mantissa != 0 {
            return None;
        }
        let divisor = 10_u128.checked_pow(self.scale)?;
        self.mantissa
            .is_multiple_of(divisor)
            .then_some(self.mantissa / divisor)
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

    const HEADER: &str = "Cloud,InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,SpotPrice,Region,AvailabilityZone\n";

    fn load(rows: &str) -> PriceTableLoad {
        PriceTable::parse(&format!("{HEADER}{rows}")).unwrap()
    }

    fn dollars(text: &str) -> Money {
        Money::parse_dollars(text).unwrap()
    }

    fn key(cloud: Cloud, region: &str, zone: Option<&str>, instance_type: &str) -> PriceKey {
        PriceKey {
            cloud,
            region: region.to_owned(),
            zone: zone.map(str::to_owned),
            instance_type: instance_type.to_owned(),
        }
    }

    #[test]
    fn loads_a_good_row() {
        let loaded =
            load("aws,p4d.24xlarge,A100,8.0,96.0,1152.0,21.957642,2.465500,us-east-1,use1-az1\n");
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        assert_eq!(loaded.table.len(), 1);
        let row = loaded.table.rows().next().unwrap();
        assert_eq!(
            row,
            &PriceRow {
                key: key(Cloud::Aws, "us-east-1", Some("use1-az1"), "p4d.24xlarge"),
                gpu: Some((GpuModel::A100, 8)),
                vcpus: 96,
                memory_bytes: 1152 << 30,
                on_demand: Some(dollars("21.957642")),
                spot: Some(dollars("2.4655")),
            }
        );
        assert_eq!(loaded.table.instance(Cloud::Aws, "p4d.24xlarge"), Some(row));
        assert_eq!(loaded.table.instance(Cloud::Gcp, "p4d.24xlarge"), None);
    }

    /// One row per rejection reason: (row, capacity rejected, start of the reason,
    /// whether the row survives with its other price).
    #[test]
    fn rejects_each_bad_price_with_its_reason() {
        let cases: &[(&str, CapacityType, &str, bool)] = &[
            (
                "aws,p5e.48xlarge,H200,8.0,192.0,2048.0,,12.5,us-east-1,use1-az1",
                CapacityType::OnDemand,
                "no on-demand price: the field is empty",
                true,
            ),
            (
                "aws,g5.xlarge,A10G,1,4,16,1.006,,us-east-1,",
                CapacityType::Spot,
                "no spot price: the field is empty",
                true,
            ),
            (
                "aws,g5.xlarge,A10G,1,4,16,about 1,0.3,us-east-1,",
                CapacityType::OnDemand,
                "on-demand price `about 1` is not a number",
                true,
            ),
            (
                "aws,g5.xlarge,A10G,1,4,16,1.006,NaN,us-east-1,",
                CapacityType::Spot,
                "spot price `NaN` is not a number",
                true,
            ),
            (
                "gcp,a4-highgpu-8g,B200,8,224,3968,0.0,0.0,us-central1,us-central1-b",
                CapacityType::OnDemand,
                "on-demand price `0.0` is zero",
                false,
            ),
            (
                "gcp,g2-standard-4,L4,1,4,16,0.7,-0.2,us-central1,us-central1-a",
                CapacityType::Spot,
                "spot price `-0.2` is negative",
                true,
            ),
            (
                "gcp,tpu-host,L4,1,4,16,700.0,1.5,us-central2,us-central2-b",
                CapacityType::OnDemand,
                "on-demand price `700.0` is SkyPilot's placeholder",
                true,
            ),
            (
                "aws,g4dn.xlarge,T4,1,4,16,0.526,0.00001,us-east-1,use1-az1",
                CapacityType::Spot,
                "spot price `0.00001` is moto's placeholder",
                true,
            ),
            (
                "aws,g4dn.xlarge,T4,1,4,16,0.526,1.6,us-east-1,use1-az1",
                CapacityType::Spot,
                "spot price 1.60 is more than 3x the on-demand price 0.526",
                true,
            ),
            (
                "aws,p5.48xlarge,H100,8,192,2048,1300,40,us-east-1,use1-az1",
                CapacityType::OnDemand,
                "on-demand price `1300` is more than $150.00 per GPU-hour for 8 GPUs",
                true,
            ),
            (
                "aws,m5.large,,,2,8,1000.01,0.05,us-east-1,use1-az1",
                CapacityType::OnDemand,
                "on-demand price `1000.01` is more than $1000.00 an hour for an instance without GPUs",
                true,
            ),
        ];
        for (row, capacity, reason, survives) in cases {
            let loaded = load(&format!("{row}\n"));
            let rejected: Vec<&RejectedPrice> = loaded
                .rejected
                .iter()
                .filter(|rejected| rejected.capacity == *capacity)
                .collect();
            assert_eq!(rejected.len(), 1, "{row}: {:?}", loaded.rejected);
            assert!(
                rejected[0].reason.starts_with(reason),
                "{row}: reason {:?}",
                rejected[0].reason
            );
            assert_eq!(rejected[0].line, 2, "{row}");
            assert_eq!(loaded.table.len(), usize::from(*survives), "{row}");
            if *survives {
                let kept = loaded.table.rows().next().unwrap();
                assert_eq!(kept.price(*capacity), None, "{row}");
            }
        }
    }

    #[test]
    fn rejects_whole_rows_that_cannot_be_read() {
        let cases: &[(&str, &str)] = &[
            (
                "azure,Standard_NG8ads_V620_v1,V620,1,8,16,0.908,0.227,eastus2,",
                "unknown GPU model `V620`",
            ),
            (
                "aws,g6f.2xlarge,L4,0.25,8,32,0.5,0.2,us-east-1,",
                "GPU count `0.25` is not a whole number of at least 1",
            ),
            (
                "aws,g6.xlarge,L4,0,4,16,0.8,0.3,us-east-1,",
                "GPU count `0` is not a whole number",
            ),
            (
                "oracle,BM.GPU4.8,A100,8,64,2048,24,,us-ashburn-1,",
                "cloud `oracle` is not one of aws, gcp, azure, onprem",
            ),
            (
                "aws,g6.xlarge,L4,1,four,16,0.8,0.3,us-east-1,",
                "vCPUs `four` is not a whole number",
            ),
            (
                "aws,g6.xlarge,L4,1,4,-16,0.8,0.3,us-east-1,",
                "memory `-16` GiB is not a non-negative number",
            ),
            (
                "aws,,L4,1,4,16,0.8,0.3,us-east-1,",
                "the instance type is empty",
            ),
            ("aws,g6.xlarge,L4,1,4,16,0.8,0.3,,", "the region is empty"),
        ];
        for (row, reason) in cases {
            let loaded = load(&format!("{row}\n"));
            assert!(loaded.table.is_empty(), "{row}");
            let capacities: Vec<CapacityType> = loaded
                .rejected
                .iter()
                .map(|rejected| rejected.capacity)
                .collect();
            assert_eq!(
                capacities,
                [CapacityType::OnDemand, CapacityType::Spot],
                "{row}"
            );
            for rejected in &loaded.rejected {
                assert!(
                    rejected.reason.starts_with(reason),
                    "{row}: {:?}",
                    rejected.reason
                );
            }
        }
    }

    #[test]
    fn cpu_only_rows_have_no_gpu() {
        let loaded = load("azure,Standard_NC8ads_A10_v4,,,8.0,100,1.1,0.275,westus3,\n");
        assert!(loaded.rejected.is_empty());
        let row = loaded.table.rows().next().unwrap();
        assert_eq!(row.gpu, None);
        assert_eq!(row.key.zone, None);
        assert_eq!((row.vcpus, row.memory_bytes), (8, 100 << 30));
    }

    #[test]
    fn a_rejection_names_row_instance_place_and_price() {
        let loaded = load(
            "aws,g5.xlarge,A10G,1,4,16,1.006,0.3,us-east-1,use1-az1\n\
             aws,p5e.48xlarge,H200,8.0,192.0,2048.0,,,us-east-1,use1-az2\n",
        );
        assert_eq!(loaded.table.len(), 1);
        assert_eq!(
            loaded.rejected[0],
            RejectedPrice {
                line: 3,
                instance_type: "p5e.48xlarge".to_owned(),
                region: "us-east-1".to_owned(),
                zone: Some("use1-az2".to_owned()),
                capacity: CapacityType::OnDemand,
                reason: "no on-demand price: the field is empty".to_owned(),
            }
        );
        assert_eq!(loaded.rejected[1].capacity, CapacityType::Spot);
        assert_eq!(
            loaded.rejected[0].to_string(),
            "line 3: p5e.48xlarge in us-east-1 (use1-az2), on-demand: no on-demand price: the field is empty"
        );
    }

    #[test]
    fn reads_quoted_fields_crlf_any_column_order_and_extra_columns() {
        let text = "Region,Price,GpuInfo,InstanceType,Cloud,AcceleratorCount,AcceleratorName,vCPUs,MemoryGiB,SpotPrice\r\n\
                    eastus,\"3.2\",\"{'Name': 'A10', \"\"Count\"\": 1}\",Standard_NV36ads_A10_v5,azure,1,\"A10\",36.0,440,0.8\r\n";
        let loaded = PriceTable::parse(text).unwrap();
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        let row = loaded.table.rows().next().unwrap();
        assert_eq!(
            row.key,
            key(Cloud::Azure, "eastus", None, "Standard_NV36ads_A10_v5")
        );
        assert_eq!(row.gpu, Some((GpuModel::A10, 1)));
        assert_eq!(
            (row.on_demand, row.spot),
            (Some(dollars("3.2")), Some(dollars("0.8")))
        );
    }

    #[test]
    fn without_a_spot_column_there_are_no_spot_prices_and_no_spot_rejections() {
        let text = "Cloud,InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region\n\
                    onprem,dgx-a100,A100,8,256,2048,12,lab\n\
                    onprem,dgx-h100,H100,8,224,2048,,lab\n";
        let loaded = PriceTable::parse(text).unwrap();
        assert_eq!(loaded.table.len(), 1);
        assert_eq!(loaded.rejected.len(), 1);
        assert_eq!(loaded.rejected[0].capacity, CapacityType::OnDemand);
        assert_eq!(
            loaded
                .table
                .price(Cloud::Onprem, "lab", None, "dgx-a100", CapacityType::Spot),
            None
        );
    }

    #[test]
    fn whole_file_errors_are_only_for_bad_csv_and_missing_columns() {
        let missing = PriceTable::parse("InstanceType,Price,Region\nx,1,r\n").unwrap_err();
        assert_eq!(
            missing,
            PriceTableError::MissingColumns {
                missing: [
                    "Cloud",
                    "AcceleratorName",
                    "AcceleratorCount",
                    "vCPUs",
                    "MemoryGiB"
                ]
                .map(str::to_owned)
                .to_vec(),
                found: ["InstanceType", "Price", "Region"]
                    .map(str::to_owned)
                    .to_vec(),
            }
        );
        assert!(missing.to_string().starts_with(
            "price table has no `Cloud`, `AcceleratorName`, `AcceleratorCount`, `vCPUs`, `MemoryGiB` columns; the header has `InstanceType`, `Price`, `Region`"
        ));
        let not_csv = PriceTable::parse(&format!("{HEADER}aws,\"g5.xlarge,A10G\n")).unwrap_err();
        assert_eq!(
            not_csv,
            PriceTableError::NotCsv(CsvError::UnterminatedQuote { line: 2 })
        );
        assert!(matches!(
            PriceTable::parse(""),
            Err(PriceTableError::NotCsv(CsvError::NoHeader))
        ));
        let empty = PriceTable::parse(HEADER).unwrap();
        assert!(empty.table.is_empty() && empty.rejected.is_empty());
    }

    #[test]
    fn parses_catalog_numbers_exactly() {
        let loaded = load(
            "aws,a,T4,4.0,48.0,0.5,5.19,0.519000,r,\n\
             aws,b,T4,1,4,3.75,1e-1,5E-02,r,\n\
             aws,c,T4,1,4,16,0.12345649,0.1234565,r,\n",
        );
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        let rows: Vec<&PriceRow> = loaded.table.rows().collect();
        assert_eq!(rows[0].memory_bytes, 512 << 20);
        assert_eq!(rows[0].spot, Some(dollars("0.519")));
        assert_eq!(rows[1].memory_bytes, 3840 << 20);
        assert_eq!(
            (rows[1].on_demand, rows[1].spot),
            (Some(dollars("0.1")), Some(dollars("0.05")))
        );
        assert_eq!(
            (rows[2].on_demand, rows[2].spot),
            (Some(dollars("0.123456")), Some(dollars("0.123457")))
        );
    }

    #[test]
    fn later_rows_override_earlier_ones_price_by_price() {
        let mut shipped = load(
            "aws,g5.xlarge,A10G,1,4,16,1.006,0.30,us-east-1,use1-az1\n\
             aws,g5.xlarge,A10G,1,4,16,1.006,0.40,us-east-1,use1-az2\n",
        )
        .table;
        let operator = load(
            "aws,g5.xlarge,A10G,1,4,16,0.80,,us-east-1,use1-az1\n\
             aws,g5.xlarge,A10G,1,4,16,1.10,0.35,us-west-2,usw2-az1\n",
        )
        .table;
        shipped.merge(operator);
        assert_eq!(shipped.len(), 3);
        let price = |zone, capacity| {
            shipped.price(Cloud::Aws, "us-east-1", Some(zone), "g5.xlarge", capacity)
        };
        assert_eq!(
            price("use1-az1", CapacityType::OnDemand),
            Some(dollars("0.80"))
        );
        // The operator's row had no spot price: the shipped one stays.
        assert_eq!(price("use1-az1", CapacityType::Spot), Some(dollars("0.30")));
        assert_eq!(
            price("use1-az2", CapacityType::OnDemand),
            Some(dollars("1.006"))
        );
        assert_eq!(
            shipped.price(
                Cloud::Aws,
                "us-west-2",
                None,
                "g5.xlarge",
                CapacityType::Spot
            ),
            Some(dollars("0.35"))
        );
    }

    #[test]
    fn a_later_row_in_the_same_file_overrides_too() {
        let loaded = load(
            "aws,g5.xlarge,A10G,1,4,16,1.006,0.30,us-east-1,use1-az1\n\
             aws,g5.xlarge,A10G,1,4,16,,0.25,us-east-1,use1-az1\n",
        );
        assert_eq!(loaded.table.len(), 1);
        let row = loaded.table.rows().next().unwrap();
        assert_eq!(
            (row.on_demand, row.spot),
            (Some(dollars("1.006")), Some(dollars("0.25")))
        );
    }

    #[test]
    fn region_fallback_takes_lowest_on_demand_and_median_spot() {
        let loaded = load(
            "gcp,a2-highgpu-1g,A100,1,12,85,3.67339,1.9,us-central1,us-central1-a\n\
             gcp,a2-highgpu-1g,A100,1,12,85,3.67339,1.1,us-central1,us-central1-b\n\
             gcp,a2-highgpu-1g,A100,1,12,85,3.5,1.5,us-central1,us-central1-c\n\
             gcp,a2-highgpu-1g,A100,1,12,85,3.67339,,us-central1,us-central1-f\n",
        );
        let table = &loaded.table;
        let price = |zone, capacity| {
            table.price(Cloud::Gcp, "us-central1", zone, "a2-highgpu-1g", capacity)
        };
        // The zone's own row first.
        assert_eq!(
            price(Some("us-central1-a"), CapacityType::Spot),
            Some(dollars("1.9"))
        );
        assert_eq!(
            price(Some("us-central1-a"), CapacityType::OnDemand),
            Some(dollars("3.67339"))
        );
        // No zone, an unknown zone, or a zone without that price: the region.
        assert_eq!(price(None, CapacityType::OnDemand), Some(dollars("3.5")));
        assert_eq!(price(None, CapacityType::Spot), Some(dollars("1.5")));
        assert_eq!(
            price(Some("us-central1-z"), CapacityType::Spot),
            Some(dollars("1.5"))
        );
        assert_eq!(
            price(Some("us-central1-f"), CapacityType::Spot),
            Some(dollars("1.5"))
        );
        // Reserved is priced on demand.
        assert_eq!(
            price(Some("us-central1-c"), CapacityType::Reserved),
            Some(dollars("3.5"))
        );
        // Even count: the mean of the middle two, rounded half up.
        let even = load(
            "aws,g5.xlarge,A10G,1,4,16,1.0,0.300001,us-east-1,a\n\
             aws,g5.xlarge,A10G,1,4,16,1.0,0.9,us-east-1,b\n\
             aws,g5.xlarge,A10G,1,4,16,1.0,0.1,us-east-1,c\n\
             aws,g5.xlarge,A10G,1,4,16,1.0,0.4,us-east-1,d\n",
        )
        .table;
        assert_eq!(
            even.price(
                Cloud::Aws,
                "us-east-1",
                None,
                "g5.xlarge",
                CapacityType::Spot
            ),
            Some(Money::from_micros(350_001))
        );
        // Nothing for another region, cloud or type.
        assert_eq!(
            table.price(
                Cloud::Gcp,
                "us-east1",
                None,
                "a2-highgpu-1g",
                CapacityType::OnDemand
            ),
            None
        );
        assert_eq!(
            table.price(
                Cloud::Aws,
                "us-central1",
                None,
                "a2-highgpu-1g",
                CapacityType::OnDemand
            ),
            None
        );
    }

    #[test]
    fn median_handles_edges() {
        assert_eq!(median(vec![]), None);
        assert_eq!(
            median(vec![Money::from_micros(5)]),
            Some(Money::from_micros(5))
        );
        assert_eq!(
            median(vec![
                Money::from_micros(i64::MAX),
                Money::from_micros(i64::MAX)
            ]),
            Some(Money::from_micros(i64::MAX))
        );
    }

    #[test]
    fn decimal_parses_only_plain_numbers() {
        for bad in [
            "", ".", "-", "1.2.3", "1,5", "inf", "NaN", "0x10", "1e", "1e+", "1e99999", " 1",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Decimal::parse("8.0").and_then(Decimal::whole), Some(8));
        assert_eq!(
            Decimal::parse(".5").and_then(|value| value.scaled(1)),
            Some(5)
        );
        assert_eq!(
            Decimal::parse("-0.0000005").and_then(|value| value.scaled(6)),
            Some(-1)
        );
        assert_eq!(
            Decimal::parse("1e-40").and_then(|value| value.scaled(6)),
            Some(0)
        );
        assert_eq!(Decimal::parse("2E3").and_then(Decimal::whole), Some(2000));
        assert_eq!(Decimal::parse("0.25").and_then(Decimal::whole), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "[a-zA-Z0-9,.\"\r\n -]{0,200}") {
            let _ = PriceTable::parse(&format!("{HEADER}{text}"));
            let _ = PriceTable::parse(&text);
        }

        #[test]
        fn every_kept_price_is_positive_and_within_caps(
            price in "-?[0-9]{0,4}(\\.[0-9]{0,8})?",
            spot in "-?[0-9]{0,4}(\\.[0-9]{0,8})?",
            gpus in 0_u32..10,
        ) {
            let gpu = if gpus == 0 { ",".to_owned() } else { format!("H100,{gpus}") };
            let loaded = load(&format!("aws,x,{gpu},4,16,{price},{spot},r,z\n"));
            for row in loaded.table.rows() {
                let cap = if gpus == 0 {
                    MAX_CPU_ONLY_HOUR
                } else {
                    MAX_PER_GPU_HOUR.checked_mul_int(i64::from(gpus)).unwrap()
                };
                for kept in [row.on_demand, row.spot].into_iter().flatten() {
                    prop_assert!(kept > Money::ZERO && kept <= cap);
                }
                if let (Some(on_demand), Some(spot)) = (row.on_demand, row.spot) {
                    prop_assert!(spot.micros() <= on_demand.micros() * 3);
                }
            }
            // Every price is either kept or rejected, never both, never neither.
            let kept = loaded
                .table
                .rows()
                .map(|row| usize::from(row.on_demand.is_some()) + usize::from(row.spot.is_some()))
                .sum::<usize>();
            prop_assert_eq!(kept + loaded.rejected.len(), 2);
        }
    }
}
