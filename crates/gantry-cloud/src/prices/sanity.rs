//! The sanity rules every live price passes before anyone uses it.
//!
//! A quote is rejected, with a [`PriceRejection`] that says why, when:
//! - it names no instance type or zone, or has no price (`missing`);
//! - its price is not a plain decimal number (`not_a_number`);
//! - its price is zero or negative (`zero`, `negative`);
//! - its price is a known placeholder: `0.00001`, what moto's fake EC2 answers
//!   for every spot price (`placeholder`);
//! - it took effect before any spot market existed (EC2 Spot opened on
//!   2009-12-14; moto dates its placeholder 2006-01-02) or more than ten
//!   minutes in the future (`implausible_time`);
//! - it is absurd: above 3x the price table's on-demand price for the same type
//!   and region (`above_on_demand`), or, where the table has no on-demand
//!   price, above $150 per GPU-hour (`above_gpu_cap`; $1,000 an hour for an
//!   instance without GPUs), the caps the price table itself applies.
//!
//! The rules are pure: the price table and `now` are inputs.

use std::fmt;

use gantry_core::{CapacityType, Money, PriceTable};
use jiff::{SignedDuration, Timestamp};

use crate::prices::feed::PriceQuote;
use crate::prices::price_text::parse_price;

/// moto's spot price for everything.
pub const MOTO_PLACEHOLDER: Money = Money::from_micros(10);
/// A spot price above this multiple of the on-demand price is not believable.
pub const MAX_SPOT_TO_ON_DEMAND: i64 = 3;
/// No GPU rents for more than this per GPU-hour.
const MAX_PER_GPU_HOUR: Money = Money::from_micros(150_000_000);
/// No instance without GPUs rents for more than this per hour.
const MAX_CPU_ONLY_HOUR: Money = Money::from_micros(1_000_000_000);
/// EC2 Spot opened on 2009-12-14 (00:00 UTC).
const FIRST_SPOT_MARKET_SECOND: i64 = 1_260_748_800;
/// How far in the future a feed's clock may be.
const MAX_CLOCK_AHEAD: SignedDuration = SignedDuration::from_mins(10);

/// Why a live price was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PriceRejection {
    /// A field the price cannot do without is absent.
    Missing {
        /// `price`, `instance type` or `zone`.
        field: &'static str,
    },
    /// The price is not a plain decimal number.
    NotANumber {
        /// The text as sent.
        text: String,
    },
    /// The price is zero.
    Zero,
    /// The price is below zero.
    Negative {
        /// The price.
        price: Money,
    },
    /// A value feeds send when they know no price.
    Placeholder {
        /// The price.
        price: Money,
    },
    /// The price took effect before spot markets existed, or in the future.
    ImplausibleTime {
        /// When the feed says the price took effect.
        effective_since: Timestamp,
    },
    /// Above [`MAX_SPOT_TO_ON_DEMAND`] x the on-demand price.
    AboveOnDemand {
        /// The price.
        price: Money,
        /// The price table's on-demand price.
        on_demand: Money,
    },
    /// Above the per-GPU-hour (or CPU-only) cap.
    AboveCap {
        /// The price.
        price: Money,
        /// The cap for the instance.
        cap: Money,
    },
}

impl PriceRejection {
    /// Every reason label, in a fixed order (for metrics).
    pub const REASONS: [&'static str; 8] = [
        "missing",
        "not_a_number",
        "zero",
        "negative",
        "placeholder",
        "implausible_time",
        "above_on_demand",
        "above_cap",
    ];

    /// The reason as a metric label, one of [`PriceRejection::REASONS`].
    pub fn reason(&self) -> &'static str {
        match self {
            PriceRejection::Missing { .. } => "missing",
            PriceRejection::NotANumber { .. } => "not_a_number",
            PriceRejection::Zero => "zero",
            PriceRejection::Negative { .. } => "negative",
            PriceRejection::Placeholder { .. } => "placeholder",
            PriceRejection::ImplausibleTime { .. } => "implausible_time",
            PriceRejection::AboveOnDemand { .. } => "above_on_demand",
            PriceRejection::AboveCap { .. } => "above_cap",
        }
    }
}

impl fmt::Display for PriceRejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriceRejection::Missing { field } => write!(formatter, "no {field}"),
            PriceRejection::NotANumber { text } => {
                write!(formatter, "price `{text}` is not a number")
            }
            PriceRejection::Zero => formatter.write_str("price is zero"),
            PriceRejection::Negative { price } => write!(formatter, "price {price} is negative"),
            PriceRejection::Placeholder { price } => write!(
                formatter,
                "price {price} is a placeholder (moto's fake EC2 answers it for everything)"
            ),
            PriceRejection::ImplausibleTime { effective_since } => write!(
                formatter,
                "price dated {effective_since}, before spot markets existed or in the future"
            ),
            PriceRejection::AboveOnDemand { price, on_demand } => write!(
                formatter,
                "price {price} is above {MAX_SPOT_TO_ON_DEMAND}x the on-demand price {on_demand}"
            ),
            PriceRejection::AboveCap { price, cap } => {
                write!(
                    formatter,
                    "price {price} is above the cap {cap} for the instance"
                )
            }
        }
    }
}

/// The price of `quote` if it passes every rule (see the module docs), with
/// `table` as the reference for on-demand prices and GPU counts.
pub fn check_quote(
    quote: &PriceQuote,
    table: &PriceTable,
    now: Timestamp,
) -> Result<Money, PriceRejection> {
    let Some(instance_type) = quote
        .instance_type
        .as_deref()
        .filter(|name| !name.is_empty())
    else {
        return Err(PriceRejection::Missing {
            field: "instance type",
        });
    };
    if quote.zone.as_deref().is_none_or(str::is_empty) {
        return Err(PriceRejection::Missing { field: "zone" });
    }
    let Some(text) = quote
        .price_text
        .as_deref()
        .filter(|text| !text.trim().is_empty())
    else {
        return Err(PriceRejection::Missing { field: "price" });
    };
    let Some(price) = parse_price(text) else {
        return Err(PriceRejection::NotANumber {
            text: text.chars().take(40).collect(),
        });
    };
    if price == Money::ZERO {
        return Err(PriceRejection::Zero);
    }
    if price.is_negative() {
        return Err(PriceRejection::Negative { price });
    }
    if price == MOTO_PLACEHOLDER {
        return Err(PriceRejection::Placeholder { price });
    }
    if let Some(effective_since) = quote.effective_since {
        let too_early = effective_since.as_second() < FIRST_SPOT_MARKET_SECOND;
        let too_late = now
            .checked_add(MAX_CLOCK_AHEAD)
            .is_ok_and(|limit| effective_since > limit);
        if too_early || too_late {
            return Err(PriceRejection::ImplausibleTime { effective_since });
        }
    }
    let on_demand = table.price(
        quote.cloud,
        &quote.region,
        quote.zone_id.as_deref().or(quote.zone.as_deref()),
        instance_type,
        CapacityType::OnDemand,
    );
    if let Some(on_demand) = on_demand {
        let limit = on_demand.checked_mul_int(MAX_SPOT_TO_ON_DEMAND);
        if limit.is_none_or(|limit| price > limit) && quote.capacity_type == CapacityType::Spot {
            return Err(PriceRejection::AboveOnDemand { price, on_demand });
        }
        return Ok(price);
    }
    let gpus = table
        .instance(quote.cloud, instance_type)
        .and_then(|row| row.gpu)
        .map(|(_, count)| count);
    let cap = match gpus {
        Some(count) => MAX_PER_GPU_HOUR.checked_mul_int(i64::from(count)),
        None => Some(MAX_CPU_ONLY_HOUR),
    };
    match cap {
        Some(cap) if price > cap => Err(PriceRejection::AboveCap { price, cap }),
        _ => Ok(price),
    }
}
