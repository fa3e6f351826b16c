//! Data egress prices: what moving a job's input data to a cluster costs, per GiB.
//!
//! The figures are the clouds' public first-tier list prices, kept in
//! `data/egress.csv` (embedded at build time; `data/SOURCES.md` says where each
//! comes from). A rate applies to a source cloud, a route, and the continents the
//! data leaves and arrives on:
//!
//! - `same-region`: the bucket is in the cluster's region; free.
//! - `inter-region`: another region of the same cloud. AWS prices it by the source
//!   region's continent; Azure and GCP by both ends (within a continent or across).
//! - `internet`: another cloud (or anywhere outside the source cloud), at the source
//!   cloud's internet egress price.
//!
//! Invariants:
//! - Every rate is in dollars per GiB (2^30 bytes), whatever unit the file gives:
//!   a price per GB (10^9 bytes, as AWS and Azure publish) is multiplied by
//!   2^30 / 10^9 = 1.073741824 and rounded half away from zero to the micro-dollar.
//! - A rate row's continents may be `*`; the most specific row wins: (from, to),
//!   then (from, `*`), then (`*`, to), then (`*`, `*`). Every cloud in the file has a
//!   (`*`, `*`) row for `inter-region` and for `internet`, so every route out of it
//!   has a price; a source cloud absent from the file (on-premises) moves data for
//!   free as far as this table knows.
//! - A source whose region is unknown (a multi-region bucket, or no region given)
//!   is priced as inter-region transfer within the cluster's continent: not free,
//!   and not the intercontinental price either.
//! - Continents come from region names ([`Continent::of_region`]); a region name it
//!   does not recognise has no continent and gets the `*` rates.
//! - Nothing here panics; the same inputs give the same prices.

use std::collections::BTreeMap;
use std::fmt;

use gantry_core::{Cloud, CsvError, CsvTable, Money};

use crate::snapshot::DataSource;

/// The embedded price list.
const EGRESS_CSV: &str = include_str!("../data/egress.csv");

/// Bytes in a GiB.
const BYTES_PER_GIB: u64 = 1 << 30;
/// Bytes in a (decimal) GB.
const BYTES_PER_GB: u64 = 1_000_000_000;

/// A continent, as the clouds' transfer price lists group regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Continent {
    /// North America (Canada, the US, Mexico).
    NorthAmerica,
    /// South America.
    SouthAmerica,
    /// Europe.
    Europe,
    /// Asia, without the Middle East.
    Asia,
    /// Australia and New Zealand.
    Oceania,
    /// The Middle East (including Israel).
    MiddleEast,
    /// Africa.
    Africa,
}

/// Region-name prefixes and the continent they mean, checked in order (so the
/// Oceania entries come before the generic AWS `ap-`). AWS (`us-east-1`,
/// `ap-southeast-2`), GCP (`europe-west4`, `australia-southeast1`) and Azure
/// (`westeurope`, `australiaeast`) names are all covered.
const REGION_PREFIXES: &[(&str, Continent)] = &[
    // AWS: Sydney, Melbourne, Auckland are in `ap-southeast-`, unlike the rest of APAC.
    ("ap-southeast-2", Continent::Oceania),
    ("ap-southeast-4", Continent::Oceania),
    ("ap-southeast-6", Continent::Oceania),
    ("us-", Continent::NorthAmerica),
    ("ca-", Continent::NorthAmerica),
    ("mx-", Continent::NorthAmerica),
    ("sa-", Continent::SouthAmerica),
    ("eu-", Continent::Europe),
    ("ap-", Continent::Asia),
    ("me-", Continent::MiddleEast),
    ("il-", Continent::MiddleEast),
    ("af-", Continent::Africa),
    ("cn-", Continent::Asia),
    // GCP.
    ("northamerica-", Continent::NorthAmerica),
    ("southamerica-", Continent::SouthAmerica),
    ("europe-", Continent::Europe),
    ("asia-", Continent::Asia),
    ("australia-", Continent::Oceania),
    ("africa-", Continent::Africa),
    // Azure (no separators): `eastus`, `westeurope`, `southeastasia`...
    ("southafrica", Continent::Africa),
    ("usgov", Continent::NorthAmerica),
    ("jioindia", Continent::Asia),
    ("australia", Continent::Oceania),
    ("newzealand", Continent::Oceania),
    ("canada", Continent::NorthAmerica),
    ("mexico", Continent::NorthAmerica),
    ("brazil", Continent::SouthAmerica),
    ("chile", Continent::SouthAmerica),
    ("uk", Continent::Europe),
    ("france", Continent::Europe),
    ("germany", Continent::Europe),
    ("switzerland", Continent::Europe),
    ("norway", Continent::Europe),
    ("sweden", Continent::Europe),
    ("poland", Continent::Europe),
    ("italy", Continent::Europe),
    ("spain", Continent::Europe),
    ("austria", Continent::Europe),
    ("belgium", Continent::Europe),
    ("denmark", Continent::Europe),
    ("finland", Continent::Europe),
    ("greece", Continent::Europe),
    ("japan", Continent::Asia),
    ("korea", Continent::Asia),
    ("indonesia", Continent::Asia),
    ("malaysia", Continent::Asia),
    ("taiwan", Continent::Asia),
    ("uae", Continent::MiddleEast),
    ("qatar", Continent::MiddleEast),
    ("israel", Continent::MiddleEast),
    ("saudiarabia", Continent::MiddleEast),
    ("kuwait", Continent::MiddleEast),
];

/// Azure region-name suffixes, for the names that start with a compass point
/// (`eastus2`, `northeurope`, `southeastasia`, `centralindia`).
const REGION_SUFFIXES: &[(&str, Continent)] = &[
    ("us", Continent::NorthAmerica),
    ("europe", Continent::Europe),
    ("asia", Continent::Asia),
    ("india", Continent::Asia),
];

impl Continent {
    /// Every continent.
    pub const ALL: [Continent; 7] = [
        Continent::NorthAmerica,
        Continent::SouthAmerica,
        Continent::Europe,
        Continent::Asia,
        Continent::Oceania,
        Continent::MiddleEast,
        Continent::Africa,
    ];

    /// The name used in `data/egress.csv`: `north-america`, `europe`...
    pub fn as_str(self) -> &'static str {
        match self {
            Continent::NorthAmerica => "north-america",
            Continent::SouthAmerica => "south-america",
            Continent::Europe => "europe",
            Continent::Asia => "asia",
            Continent::Oceania => "oceania",
            Continent::MiddleEast => "middle-east",
            Continent::Africa => "africa",
        }
    }

    /// Parses [`Continent::as_str`]'s names.
    pub fn parse(text: &str) -> Option<Continent> {
        Continent::ALL
            .into_iter()
            .find(|continent| continent.as_str() == text)
    }

    /// The continent of an AWS, GCP or Azure region, from its name; `None` for a
    /// name that none of the three uses (an on-premises site, a typo).
    pub fn of_region(region: &str) -> Option<Continent> {
        let region = region.trim();
        let region: std::borrow::Cow<'_, str> =
            if region.bytes().any(|byte| byte.is_ascii_uppercase()) {
                region.to_ascii_lowercase().into()
            } else {
                region.into()
            };
        // AWS and GCP names have `-` separators (`us-east-1`, `us-central1`); Azure's
        // have none (`eastus2`). Each kind is matched against its own prefixes.
        let separated = region.contains('-');
        let by_prefix = REGION_PREFIXES
            .iter()
            .find(|(prefix, _)| prefix.contains('-') == separated && region.starts_with(prefix));
        let by_suffix = || {
            if separated {
                return None;
            }
            let base = region.trim_end_matches(|character: char| character.is_ascii_digit());
            REGION_SUFFIXES
                .iter()
                .find(|(suffix, _)| base.ends_with(suffix))
        };
        by_prefix
            .or_else(by_suffix)
            .map(|(_, continent)| *continent)
    }
}

impl fmt::Display for Continent {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Which boundary the data crosses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EgressRoute {
    /// Within one region of one cloud.
    SameRegion,
    /// Between two regions of one cloud.
    InterRegion,
    /// Out of the cloud, to another cloud.
    Internet,
}

impl EgressRoute {
    /// Every route.
    pub const ALL: [EgressRoute; 3] = [
        EgressRoute::SameRegion,
        EgressRoute::InterRegion,
        EgressRoute::Internet,
    ];

    /// The name used in `data/egress.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            EgressRoute::SameRegion => "same-region",
            EgressRoute::InterRegion => "inter-region",
            EgressRoute::Internet => "internet",
        }
    }

    /// Parses [`EgressRoute::as_str`]'s names.
    pub fn parse(text: &str) -> Option<EgressRoute> {
        EgressRoute::ALL
            .into_iter()
            .find(|route| route.as_str() == text)
    }
}

impl fmt::Display for EgressRoute {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// What one rate applies to. `None` continents are the file's `*`: any continent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EgressRateKey {
    /// The cloud the data leaves.
    pub cloud: Cloud,
    /// The boundary crossed.
    pub route: EgressRoute,
    /// The continent the data leaves from.
    pub from: Option<Continent>,
    /// The continent the data goes to.
    pub to: Option<Continent>,
}

/// Why an egress price list cannot be used.
///
/// (`Display` and `Error` are written out: this crate depends on gantry-core only.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressError {
    /// The text is not CSV, or its header lacks a column.
    Csv(CsvError),
    /// One row is wrong.
    Row {
        /// The row's 1-based line.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A cloud lacks a default rate for a route.
    MissingDefault {
        /// The cloud.
        cloud: Cloud,
        /// The route.
        route: EgressRoute,
    },
}

impl fmt::Display for EgressError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EgressError::Csv(error) => write!(formatter, "egress price list: {error}"),
            EgressError::Row { line, problem } => {
                write!(formatter, "egress price list line {line}: {problem}")
            }
            EgressError::MissingDefault { cloud, route } => write!(
                formatter,
                "egress price list has no `{route}` row from `*` to `*` for {cloud}; every cloud listed needs one for inter-region and for internet transfer"
            ),
        }
    }
}

impl std::error::Error for EgressError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EgressError::Csv(error) => Some(error),
            EgressError::Row { .. } | EgressError::MissingDefault { .. } => None,
        }
    }
}

impl From<CsvError> for EgressError {
    fn from(error: CsvError) -> EgressError {
        EgressError::Csv(error)
    }
}

/// Egress prices in dollars per GiB.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressPrices {
    /// Dollars per GiB for each (source cloud, route, from, to).
    pub per_gib: BTreeMap<EgressRateKey, Money>,
}

impl EgressPrices {
    /// The clouds' public first-tier list prices (`data/egress.csv`).
    pub fn public_list_prices() -> EgressPrices {
        let parsed = EgressPrices::parse(EGRESS_CSV);
        debug_assert!(parsed.is_ok(), "data/egress.csv: {parsed:?}");
        parsed.unwrap_or_default()
    }

    /// Reads a price list with the columns `cloud`, `route`, `from`, `to`, `price`
    /// and `unit` (`GB` or `GiB`); other columns (`as_of`, `source`) are ignored.
    pub fn parse(csv_text: &str) -> Result<EgressPrices, EgressError> {
        let table = CsvTable::parse(csv_text)?;
        let columns = table.require_columns(&["cloud", "route", "from", "to", "price", "unit"])?;
        let &[cloud, route, from, to, price, unit] = columns.as_slice() else {
            return Ok(EgressPrices::default());
        };
        let mut prices = EgressPrices::default();
        for record in table.records() {
            let row_error = |problem: String| EgressError::Row {
                line: record.line,
                problem,
            };
            let field = |index: usize| record.field(index).trim();
            let cloud = Cloud::parse(field(cloud)).ok_or_else(|| {
                row_error(format!(
                    "cloud `{}` is not aws, gcp, azure or onprem",
                    field(cloud)
                ))
            })?;
            let route = EgressRoute::parse(field(route)).ok_or_else(|| {
                row_error(format!(
                    "route `{}` is not same-region, inter-region or internet",
                    field(route)
                ))
            })?;
            let continent = |text: &str| -> Result<Option<Continent>, EgressError> {
                if text == "*" {
                    return Ok(None);
                }
                Continent::parse(text).map(Some).ok_or_else(|| {
                    let known: Vec<&str> = Continent::ALL
                        .iter()
                        .map(|continent| continent.as_str())
                        .collect();
                    row_error(format!(
                        "continent `{text}` is not `*` or one of {}",
                        known.join(", ")
                    ))
                })
            };
            let key = EgressRateKey {
                cloud,
                route,
                from: continent(field(from))?,
                to: continent(field(to))?,
            };
            let listed =
                Money::parse_dollars(field(price)).map_err(|error| row_error(error.to_string()))?;
            if listed.is_negative() {
                return Err(row_error(format!("price `{}` is negative", field(price))));
            }
            let per_gib = match field(unit) {
                "GiB" => Some(listed),
                "GB" => listed.mul_ratio(BYTES_PER_GIB, BYTES_PER_GB),
                other => return Err(row_error(format!("unit `{other}` is not GB or GiB"))),
            }
            .ok_or_else(|| row_error(format!("price `{}` is too large", field(price))))?;
            if prices.per_gib.insert(key, per_gib).is_some() {
                return Err(row_error(format!(
                    "a second {route} rate for {cloud} from `{}` to `{}`",
                    field(from),
                    field(to)
                )));
            }
        }
        let clouds: Vec<Cloud> = prices.per_gib.keys().map(|key| key.cloud).collect();
        for cloud in clouds {
            for route in [EgressRoute::InterRegion, EgressRoute::Internet] {
                let default = EgressRateKey {
                    cloud,
                    route,
                    from: None,
                    to: None,
                };
                if !prices.per_gib.contains_key(&default) {
                    return Err(EgressError::MissingDefault { cloud, route });
                }
            }
        }
        Ok(prices)
    }

    /// The rate for `route` out of `cloud` from one continent to another: the most
    /// specific row, or `None` when the cloud has no row for the route.
    pub fn rate(
        &self,
        cloud: Cloud,
        route: EgressRoute,
        from: Option<Continent>,
        to: Option<Continent>,
    ) -> Option<Money> {
        let candidates = [(from, to), (from, None), (None, to), (None, None)];
        candidates.into_iter().find_map(|(from, to)| {
            self.per_gib
                .get(&EgressRateKey {
                    cloud,
                    route,
                    from,
                    to,
                })
                .copied()
        })
    }

    /// Price per GiB of moving data from `source` to a cluster in (`cloud`, `region`).
    pub fn price_per_gib(&self, source: &DataSource, cloud: Cloud, region: &str) -> Money {
        let to = Continent::of_region(region);
        let (route, from) = if source.cloud != cloud {
            let from = source.region.as_deref().and_then(Continent::of_region);
            (EgressRoute::Internet, from)
        } else {
            match source.region.as_deref() {
                Some(source_region) if source_region == region => (EgressRoute::SameRegion, to),
                Some(source_region) => (
                    EgressRoute::InterRegion,
                    Continent::of_region(source_region),
                ),
                // Unknown: assume another region on the cluster's continent.
                None => (EgressRoute::InterRegion, to),
            }
        };
        self.rate(source.cloud, route, from, to)
            .unwrap_or(Money::ZERO)
    }

    /// Cost of moving all of `source` to (`cloud`, `region`).
    pub fn cost(&self, source: &DataSource, cloud: Cloud, region: &str) -> Money {
        self.price_per_gib(source, cloud, region)
            .mul_ratio(source.bytes, BYTES_PER_GIB)
            .unwrap_or(Money::from_micros(i64::MAX))
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

    fn dollars(text: &str) -> Money {
        Money::parse_dollars(text).unwrap()
    }

    fn per_gb(text: &str) -> Money {
        dollars(text)
            .mul_ratio(BYTES_PER_GIB, BYTES_PER_GB)
            .unwrap()
    }

    fn source(cloud: Cloud, region: Option<&str>, gib: u64) -> DataSource {
        DataSource {
            cloud,
            region: region.map(str::to_owned),
            bytes: gib << 30,
        }
    }

    #[test]
    fn the_shipped_list_parses_and_covers_every_cloud_and_route() {
        let prices = EgressPrices::parse(EGRESS_CSV).unwrap();
        assert_eq!(prices, EgressPrices::public_list_prices());
        for cloud in [Cloud::Aws, Cloud::Gcp, Cloud::Azure] {
            for route in EgressRoute::ALL {
                for from in Continent::ALL {
                    for to in Continent::ALL {
                        let rate = prices.rate(cloud, route, Some(from), Some(to));
                        let rate = rate.unwrap_or_else(|| panic!("{cloud} {route} {from} -> {to}"));
                        if route == EgressRoute::SameRegion {
                            assert_eq!(rate, Money::ZERO);
                        } else {
                            assert!(
                                rate > Money::ZERO && rate < dollars("0.25"),
                                "{cloud} {route} {from} -> {to}: {rate}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn same_region_is_free() {
        let prices = EgressPrices::public_list_prices();
        for (cloud, region) in [
            (Cloud::Aws, "us-east-1"),
            (Cloud::Gcp, "europe-west4"),
            (Cloud::Azure, "eastus"),
        ] {
            assert_eq!(
                prices.price_per_gib(&source(cloud, Some(region), 500), cloud, region),
                Money::ZERO
            );
            assert_eq!(
                prices.cost(&source(cloud, Some(region), 500), cloud, region),
                Money::ZERO
            );
        }
    }

    #[test]
    fn another_region_of_the_same_cloud_costs_the_inter_region_rate() {
        let prices = EgressPrices::public_list_prices();
        let price = |cloud, from: &str, to: &str| {
            prices.price_per_gib(&source(cloud, Some(from), 1), cloud, to)
        };
        assert_eq!(price(Cloud::Aws, "us-east-1", "us-west-2"), per_gb("0.02"));
        assert_eq!(price(Cloud::Aws, "us-east-1", "eu-west-1"), per_gb("0.02"));
        assert_eq!(
            price(Cloud::Aws, "ap-northeast-1", "us-east-1"),
            per_gb("0.09")
        );
        assert_eq!(
            price(Cloud::Gcp, "us-central1", "us-east4"),
            dollars("0.02")
        );
        assert_eq!(
            price(Cloud::Gcp, "europe-west4", "us-central1"),
            dollars("0.05")
        );
        assert_eq!(
            price(Cloud::Gcp, "asia-east1", "europe-west4"),
            dollars("0.08")
        );
        assert_eq!(price(Cloud::Azure, "eastus", "westus2"), per_gb("0.02"));
        assert_eq!(price(Cloud::Azure, "eastus", "westeurope"), per_gb("0.05"));
        // Within a continent is never dearer than across continents.
        assert!(
            price(Cloud::Gcp, "europe-west1", "europe-west4")
                < price(Cloud::Gcp, "europe-west1", "us-central1")
        );
    }

    #[test]
    fn another_cloud_costs_the_source_clouds_internet_rate() {
        let prices = EgressPrices::public_list_prices();
        let from_s3 = source(Cloud::Aws, Some("us-east-1"), 1);
        assert_eq!(
            prices.price_per_gib(&from_s3, Cloud::Gcp, "us-central1"),
            per_gb("0.09")
        );
        let from_gcs = source(Cloud::Gcp, Some("us-central1"), 1);
        assert_eq!(
            prices.price_per_gib(&from_gcs, Cloud::Aws, "us-east-1"),
            dollars("0.12")
        );
        let from_blob = source(Cloud::Azure, Some("westeurope"), 1);
        assert_eq!(
            prices.price_per_gib(&from_blob, Cloud::Aws, "eu-west-1"),
            per_gb("0.087")
        );
        // Whatever the regions, leaving the cloud is dearer than moving within it.
        for cloud in [Cloud::Aws, Cloud::Gcp, Cloud::Azure] {
            let inside = prices
                .rate(cloud, EgressRoute::InterRegion, None, None)
                .unwrap();
            let outside = prices
                .rate(cloud, EgressRoute::Internet, None, None)
                .unwrap();
            assert!(inside < outside, "{cloud}");
        }
        // On-premises data has no rate here: free as far as the table knows.
        let from_lab = source(Cloud::Onprem, Some("lab"), 1);
        assert_eq!(
            prices.price_per_gib(&from_lab, Cloud::Aws, "us-east-1"),
            Money::ZERO
        );
    }

    #[test]
    fn an_unknown_source_region_is_priced_as_inter_region() {
        let prices = EgressPrices::public_list_prices();
        let multi_region = source(Cloud::Gcp, None, 1);
        assert_eq!(
            prices.price_per_gib(&multi_region, Cloud::Gcp, "us-central1"),
            dollars("0.02")
        );
        assert_eq!(
            prices.price_per_gib(&multi_region, Cloud::Gcp, "asia-east1"),
            dollars("0.05")
        );
        // Never free, never the intercontinental price.
        assert!(
            prices.price_per_gib(&multi_region, Cloud::Gcp, "europe-west4")
                < prices.price_per_gib(
                    &source(Cloud::Gcp, Some("us-central1"), 1),
                    Cloud::Gcp,
                    "europe-west4"
                )
        );
        let unknown_s3 = source(Cloud::Aws, None, 1);
        assert_eq!(
            prices.price_per_gib(&unknown_s3, Cloud::Aws, "us-east-1"),
            per_gb("0.02")
        );
        // And an unknown destination region gets the `*` rates.
        assert_eq!(
            prices.price_per_gib(
                &source(Cloud::Gcp, Some("us-central1"), 1),
                Cloud::Gcp,
                "moon-base1"
            ),
            prices
                .rate(
                    Cloud::Gcp,
                    EgressRoute::InterRegion,
                    Some(Continent::NorthAmerica),
                    None
                )
                .unwrap()
        );
    }

    #[test]
    fn cost_of_500_gib() {
        let prices = EgressPrices::public_list_prices();
        let data = source(Cloud::Gcp, Some("europe-west4"), 500);
        // GCP lists per GiB: 500 x 0.05 to North America, 500 x 0.12 to the internet.
        assert_eq!(prices.cost(&data, Cloud::Gcp, "us-central1"), dollars("25"));
        assert_eq!(prices.cost(&data, Cloud::Aws, "us-east-1"), dollars("60"));
        assert_eq!(prices.cost(&data, Cloud::Gcp, "europe-west4"), Money::ZERO);
        // AWS lists per GB: 500 GiB x $0.09/GB = 536.870912 GB x 0.09 = $48.32.
        let s3 = source(Cloud::Aws, Some("us-east-1"), 500);
        assert_eq!(prices.cost(&s3, Cloud::Azure, "eastus"), dollars("48.3185"));
        // Huge data saturates instead of overflowing.
        let huge = DataSource {
            cloud: Cloud::Aws,
            region: Some("us-east-1".to_owned()),
            bytes: u64::MAX,
        };
        assert!(prices.cost(&huge, Cloud::Gcp, "us-central1") > dollars("1000000000"));
    }

    #[test]
    fn continents_come_from_region_names() {
        use Continent::*;
        let cases: &[(&str, Option<Continent>)] = &[
            ("us-east-1", Some(NorthAmerica)),
            ("us-gov-west-1", Some(NorthAmerica)),
            ("ca-central-1", Some(NorthAmerica)),
            ("sa-east-1", Some(SouthAmerica)),
            ("eu-west-1", Some(Europe)),
            ("ap-northeast-1", Some(Asia)),
            ("ap-south-1", Some(Asia)),
            ("ap-southeast-1", Some(Asia)),
            ("ap-southeast-2", Some(Oceania)),
            ("me-central-1", Some(MiddleEast)),
            ("il-central-1", Some(MiddleEast)),
            ("af-south-1", Some(Africa)),
            ("us-central1", Some(NorthAmerica)),
            ("northamerica-northeast2", Some(NorthAmerica)),
            ("southamerica-west1", Some(SouthAmerica)),
            ("europe-west4", Some(Europe)),
            ("asia-southeast1", Some(Asia)),
            ("australia-southeast1", Some(Oceania)),
            ("me-west1", Some(MiddleEast)),
            ("africa-south1", Some(Africa)),
            ("eastus", Some(NorthAmerica)),
            ("eastus2", Some(NorthAmerica)),
            ("southcentralus", Some(NorthAmerica)),
            ("canadacentral", Some(NorthAmerica)),
            ("brazilsouth", Some(SouthAmerica)),
            ("westeurope", Some(Europe)),
            ("northeurope", Some(Europe)),
            ("uksouth", Some(Europe)),
            ("swedencentral", Some(Europe)),
            ("southeastasia", Some(Asia)),
            ("eastasia", Some(Asia)),
            ("centralindia", Some(Asia)),
            ("japaneast", Some(Asia)),
            ("australiaeast", Some(Oceania)),
            ("uaenorth", Some(MiddleEast)),
            ("southafricanorth", Some(Africa)),
            ("WestEurope", Some(Europe)),
            ("lab", None),
            ("", None),
            ("moon-base1", None),
            ("u", None),
        ];
        for (region, continent) in cases {
            assert_eq!(Continent::of_region(region), *continent, "{region}");
        }
        for continent in Continent::ALL {
            assert_eq!(Continent::parse(continent.as_str()), Some(continent));
        }
    }

    #[test]
    fn every_region_of_the_shipped_price_table_has_a_continent() {
        // The regions of deploy/prices/gpu-prices.csv, as the clouds name them.
        let regions = [
            "af-south-1",
            "ap-east-1",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ca-central-1",
            "eu-central-1",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "me-central-1",
            "me-south-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "centralus",
            "eastus",
            "eastus2",
            "northcentralus",
            "southcentralus",
            "westus",
            "westus2",
            "westus3",
            "asia-east1",
            "asia-northeast1",
            "asia-northeast3",
            "asia-south1",
            "asia-south2",
            "asia-southeast1",
            "australia-southeast1",
            "europe-north1",
            "europe-west1",
            "europe-west2",
            "europe-west3",
            "europe-west4",
            "europe-west6",
            "europe-west8",
            "europe-west9",
            "me-central2",
            "me-west1",
            "northamerica-northeast1",
            "northamerica-northeast2",
            "us-central1",
            "us-east1",
            "us-east4",
            "us-east5",
            "us-west1",
            "us-west3",
            "us-west4",
        ];
        for region in regions {
            assert!(Continent::of_region(region).is_some(), "{region}");
        }
    }

    #[test]
    fn parse_refuses_bad_lists() {
        let header = "cloud,route,from,to,price,unit\n";
        let defaults = "aws,inter-region,*,*,0.02,GB\naws,internet,*,*,0.09,GB\n";
        let cases: &[(&str, &str)] = &[
            (
                "gcp,inter-region,*,*,0.02,GiB\n",
                "no `internet` row from `*` to `*` for gcp",
            ),
            (
                "aws,teleport,*,*,0.02,GB\n",
                "line 4: route `teleport` is not",
            ),
            (
                "azure,internet,*,*,0.087,GB\n",
                "no `inter-region` row from `*` to `*` for azure",
            ),
            (
                "aws,internet,atlantis,*,0.02,GB\n",
                "line 4: continent `atlantis` is not `*` or one of",
            ),
            (
                "aws,internet,europe,*,0.02,TB\n",
                "line 4: unit `TB` is not GB or GiB",
            ),
            (
                "aws,internet,europe,*,-0.02,GB\n",
                "line 4: price `-0.02` is negative",
            ),
            (
                "aws,internet,europe,*,two cents,GB\n",
                "line 4: dollar amount `two cents` is not a number",
            ),
            (
                "aws,internet,*,*,0.08,GB\n",
                "line 4: a second internet rate for aws from `*` to `*`",
            ),
            ("ibm,internet,*,*,0.08,GB\n", "line 4: cloud `ibm` is not"),
        ];
        for (row, message) in cases {
            let error = EgressPrices::parse(&format!("{header}{defaults}{row}")).unwrap_err();
            assert!(error.to_string().contains(message), "{row}: {error}");
        }
        let missing = EgressPrices::parse("cloud,route,price\n").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "egress price list: missing columns `from`, `to`, `unit`; the header has `cloud`, `route`, `price`"
        );
        assert!(matches!(
            EgressPrices::parse("cloud,\"route\n"),
            Err(EgressError::Csv(_))
        ));
        // A list without any row is empty, not an error.
        assert_eq!(
            EgressPrices::parse(header).unwrap(),
            EgressPrices::default()
        );
    }
}
