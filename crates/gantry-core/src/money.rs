//! US dollars as an exact count of micro-dollars.
//!
//! Invariants:
//! - A [`Money`] is an `i64` of micro-dollars (10^-6 USD); no floating point is used
//!   to compute with it. [`Money::to_dollars_f64`] exists for display and metrics only.
//! - Rounding is half away from zero to the micro-dollar, in `i128` so intermediate
//!   products cannot overflow; results that do not fit in `i64` are `None`.
//! - The `+` and `-` operators and `Sum` saturate at the `i64` bounds (over 9 trillion
//!   dollars); use the `checked_*` methods where saturation would hide a bug.
//! - `Display` output parses back with [`Money::parse_dollars`] to an equal value.
//! - Nothing here panics, whatever the input.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::str::FromStr;

/// Micro-dollars in one dollar.
const MICROS_PER_DOLLAR: i64 = 1_000_000;
/// Micro-dollars in one cent.
const MICROS_PER_CENT: u64 = 10_000;
/// Seconds in one hour.
const SECONDS_PER_HOUR: u64 = 3_600;
/// Fractional digits a micro-dollar amount can hold.
const MAX_FRACTION_DIGITS: usize = 6;

/// An amount of US dollars, exact to the micro-dollar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money {
    micros: i64,
}

/// Why a text is not a valid dollar amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text is empty (or only whitespace).
    #[error("dollar amount is empty; write a number of US dollars, e.g. `3.06` or `400`")]
    Empty,
    /// The text is not a plain decimal number.
    #[error(
        "dollar amount `{text}` is not a number; write a number of US dollars with an optional `$` and up to 6 decimals, e.g. `3.06`, `$400` or `0.000125`"
    )]
    NotANumber {
        /// The text as given.
        text: String,
    },
    /// The text uses a thousands separator, e.g. `1,000`.
    #[error(
        "dollar amount `{text}` has a `,`; write it without thousands separators, e.g. `{without_separators}`"
    )]
    ThousandsSeparator {
        /// The text as given.
        text: String,
        /// The text with the commas removed.
        without_separators: String,
    },
    /// The text uses an exponent, e.g. `1e2`.
    #[error(
        "dollar amount `{text}` uses an exponent; write the plain number, e.g. `100` rather than `1e2`"
    )]
    Exponent {
        /// The text as given.
        text: String,
    },
    /// The text has more than six significant decimals.
    #[error(
        "dollar amount `{text}` is more precise than a micro-dollar; use at most 6 digits after the decimal point"
    )]
    TooPrecise {
        /// The text as given.
        text: String,
    },
    /// The amount does not fit in 64 bits of micro-dollars.
    #[error(
        "dollar amount `{text}` is too large; amounts must lie within about ±9.2 trillion dollars"
    )]
    TooLarge {
        /// The text as given.
        text: String,
    },
}

impl Money {
    /// Zero dollars.
    pub const ZERO: Money = Money { micros: 0 };

    /// The amount of exactly this many micro-dollars.
    pub const fn from_micros(micros: i64) -> Money {
        Money { micros }
    }

    /// The amount in micro-dollars.
    pub const fn micros(self) -> i64 {
        self.micros
    }

    /// The amount of this many whole dollars, or `None` if it does not fit.
    pub fn from_dollars(dollars: i64) -> Option<Money> {
        dollars
            .checked_mul(MICROS_PER_DOLLAR)
            .map(Money::from_micros)
    }

    /// Parses a plain decimal dollar amount: `3.06`, `400`, `0.000001`, `$12.50`,
    /// `-1.5`, `.5`.
    ///
    /// Surrounding whitespace is ignored. A leading `+` or `-` may come before or
    /// after an optional `$`. At most six digits may follow the decimal point, apart
    /// from trailing zeros. Negative amounts are accepted; callers that need a
    /// non-negative amount check [`Money::is_negative`]. Exponents, thousands
    /// separators, `NaN` and infinities are rejected.
    pub fn parse_dollars(text: &str) -> Result<Money, MoneyError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(MoneyError::Empty);
        }
        let not_a_number = || MoneyError::NotANumber {
            text: text.to_owned(),
        };
        let without_dollar_sign = trimmed.strip_prefix('$').unwrap_or(trimmed);
        let (is_negative, unsigned) = match without_dollar_sign.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (
                false,
                without_dollar_sign
                    .strip_prefix('+')
                    .unwrap_or(without_dollar_sign),
            ),
        };
        let unsigned = if without_dollar_sign.len() == trimmed.len() {
            unsigned.strip_prefix('$').unwrap_or(unsigned)
        } else {
            unsigned
        };
        let (whole_digits, fraction_digits) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if !all_digits(whole_digits) || !all_digits(fraction_digits) {
            if unsigned.contains(',') {
                return Err(MoneyError::ThousandsSeparator {
                    text: text.to_owned(),
                    without_separators: trimmed.replace(',', ""),
                });
            }
            if unsigned.contains(['e', 'E'])
                && unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            {
                return Err(MoneyError::Exponent {
                    text: text.to_owned(),
                });
            }
            return Err(not_a_number());
        }
        if whole_digits.is_empty() && fraction_digits.is_empty() {
            return Err(not_a_number());
        }
        let significant_fraction = fraction_digits.trim_end_matches('0');
        if significant_fraction.len() > MAX_FRACTION_DIGITS {
            return Err(MoneyError::TooPrecise {
                text: text.to_owned(),
            });
        }
        let too_large = || MoneyError::TooLarge {
            text: text.to_owned(),
        };
        let whole_dollars = whole_digits.bytes().try_fold(0_i128, |accumulated, byte| {
            accumulated
                .checked_mul(10)?
                .checked_add(i128::from(byte.wrapping_sub(b'0')))
        });
        let fraction_micros = significant_fraction
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(MAX_FRACTION_DIGITS)
            .fold(0_i128, |accumulated, byte| {
                accumulated * 10 + i128::from(byte.wrapping_sub(b'0'))
            });
        let magnitude = whole_dollars
            .and_then(|dollars| dollars.checked_mul(i128::from(MICROS_PER_DOLLAR)))
            .and_then(|micros| micros.checked_add(fraction_micros))
            .ok_or_else(too_large)?;
        let signed = if is_negative { -magnitude } else { magnitude };
        i64::try_from(signed)
            .map(Money::from_micros)
            .map_err(|_| too_large())
    }

    /// The sum, or `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.micros
            .checked_add(other.micros)
            .map(Money::from_micros)
    }

    /// The difference, or `None` on overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.micros
            .checked_sub(other.micros)
            .map(Money::from_micros)
    }

    /// The sum, clamped to the representable range.
    pub fn saturating_add(self, other: Money) -> Money {
        Money::from_micros(self.micros.saturating_add(other.micros))
    }

    /// The difference, clamped to the representable range.
    pub fn saturating_sub(self, other: Money) -> Money {
        Money::from_micros(self.micros.saturating_sub(other.micros))
    }

    /// The amount times a whole factor, or `None` on overflow.
    pub fn checked_mul_int(self, factor: i64) -> Option<Money> {
        self.micros.checked_mul(factor).map(Money::from_micros)
    }

    /// Treating `self` as a rate in dollars per hour, the cost of `seconds` seconds,
    /// rounded half away from zero to the micro-dollar; `None` on overflow.
    pub fn per_hour_for_seconds(self, seconds: u64) -> Option<Money> {
        self.mul_ratio(seconds, SECONDS_PER_HOUR)
    }

    /// The amount times `numerator / denominator`, rounded half away from zero to the
    /// micro-dollar; `None` if `denominator` is zero or the result does not fit.
    pub fn mul_ratio(self, numerator: u64, denominator: u64) -> Option<Money> {
        if denominator == 0 {
            return None;
        }
        let product = i128::from(self.micros).checked_mul(i128::from(numerator))?;
        let denominator = i128::from(denominator);
        let quotient = product / denominator;
        let remainder = product % denominator;
        // |remainder| * 2 >= denominator means the exact value is at least half-way.
        let rounds_away = remainder.unsigned_abs() * 2 >= denominator.unsigned_abs();
        let rounded = match (rounds_away, product < 0) {
            (true, true) => quotient - 1,
            (true, false) => quotient + 1,
            (false, _) => quotient,
        };
        i64::try_from(rounded).ok().map(Money::from_micros)
    }

    /// The amount in dollars as a float, for display and metrics only.
    pub fn to_dollars_f64(self) -> f64 {
        self.micros as f64 / MICROS_PER_DOLLAR as f64
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.micros < 0
    }
}

impl fmt::Display for Money {
    /// Plain dollars without a currency sign: two decimals when the amount is whole
    /// cents (`12.35`, `400.00`, `-1.50`), otherwise up to six with trailing zeros
    /// trimmed (`0.000123`).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.micros < 0 { "-" } else { "" };
        let magnitude = self.micros.unsigned_abs();
        let dollars = magnitude / MICROS_PER_DOLLAR.unsigned_abs();
        let fraction_micros = magnitude % MICROS_PER_DOLLAR.unsigned_abs();
        if fraction_micros.is_multiple_of(MICROS_PER_CENT) {
            write!(
                formatter,
                "{sign}{dollars}.{:02}",
                fraction_micros / MICROS_PER_CENT
            )
        } else {
            let six_digits = format!("{fraction_micros:06}");
            write!(
                formatter,
                "{sign}{dollars}.{}",
                six_digits.trim_end_matches('0')
            )
        }
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Money, MoneyError> {
        Money::parse_dollars(text)
    }
}

impl Add for Money {
    type Output = Money;

    /// Saturating addition.
    fn add(self, other: Money) -> Money {
        self.saturating_add(other)
    }
}

impl AddAssign for Money {
    /// Saturating addition.
    fn add_assign(&mut self, other: Money) {
        *self = self.saturating_add(other);
    }
}

impl Sub for Money {
    type Output = Money;

    /// Saturating subtraction.
    fn sub(self, other: Money) -> Money {
        self.saturating_sub(other)
    }
}

impl SubAssign for Money {
    /// Saturating subtraction.
    fn sub_assign(&mut self, other: Money) {
        *self = self.saturating_sub(other);
    }
}

impl Sum for Money {
    /// Saturating sum.
    fn sum<I: Iterator<Item = Money>>(amounts: I) -> Money {
        amounts.fold(Money::ZERO, Money::saturating_add)
    }
}

impl<'a> Sum<&'a Money> for Money {
    /// Saturating sum.
    fn sum<I: Iterator<Item = &'a Money>>(amounts: I) -> Money {
        amounts.copied().sum()
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

    fn dollars(text: &str) -> Money {
        Money::parse_dollars(text).unwrap()
    }

    #[test]
    fn parses_dollar_amounts() {
        let cases: &[(&str, i64)] = &[
            ("3.06", 3_060_000),
            ("400", 400_000_000),
            ("0.000001", 1),
            ("$12.50", 12_500_000),
            ("-1.5", -1_500_000),
            ("-$1.5", -1_500_000),
            ("$-1.5", -1_500_000),
            ("+2", 2_000_000),
            (".5", 500_000),
            ("5.", 5_000_000),
            ("0", 0),
            ("-0", 0),
            ("  7.25  ", 7_250_000),
            ("0.0000010", 1),
            ("1.1000000000", 1_100_000),
            ("9223372036854.775807", i64::MAX),
            ("-9223372036854.775808", i64::MIN),
            ("000400", 400_000_000),
        ];
        for (text, expected_micros) in cases {
            assert_eq!(
                Money::parse_dollars(text).map(Money::micros),
                Ok(*expected_micros),
                "{text:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_amounts_with_helpful_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "",
                "dollar amount is empty; write a number of US dollars, e.g. `3.06` or `400`",
            ),
            (
                "   ",
                "dollar amount is empty; write a number of US dollars, e.g. `3.06` or `400`",
            ),
            (
                "1,000",
                "dollar amount `1,000` has a `,`; write it without thousands separators, e.g. `1000`",
            ),
            (
                "1e2",
                "dollar amount `1e2` uses an exponent; write the plain number, e.g. `100` rather than `1e2`",
            ),
            (
                "0.0000001",
                "dollar amount `0.0000001` is more precise than a micro-dollar; use at most 6 digits after the decimal point",
            ),
            (
                "9223372036854.775808",
                "dollar amount `9223372036854.775808` is too large; amounts must lie within about ±9.2 trillion dollars",
            ),
            (
                "NaN",
                "dollar amount `NaN` is not a number; write a number of US dollars with an optional `$` and up to 6 decimals, e.g. `3.06`, `$400` or `0.000125`",
            ),
        ];
        for (text, expected_message) in cases {
            assert_eq!(
                Money::parse_dollars(text).unwrap_err().to_string(),
                *expected_message,
                "{text:?}"
            );
        }
        for text in [
            "inf", "-inf", ".", "$", "-", "$$1", "--1", "1.2.3", "1 000", "1.5 USD", "USD 1",
            "1_000", "0x10", "١٢",
        ] {
            assert!(
                matches!(
                    Money::parse_dollars(text),
                    Err(MoneyError::NotANumber { .. })
                ),
                "{text:?}: {:?}",
                Money::parse_dollars(text)
            );
        }
    }

    #[test]
    fn displays_cents_or_micro_dollars() {
        let cases: &[(i64, &str)] = &[
            (0, "0.00"),
            (12_350_000, "12.35"),
            (400_000_000, "400.00"),
            (123, "0.000123"),
            (-1_500_000, "-1.50"),
            (1_234_500, "1.2345"),
            (10_000, "0.01"),
            (1, "0.000001"),
            (-1, "-0.000001"),
            (i64::MAX, "9223372036854.775807"),
            (i64::MIN, "-9223372036854.775808"),
        ];
        for (micros, expected) in cases {
            assert_eq!(Money::from_micros(*micros).to_string(), *expected);
        }
    }

    #[test]
    fn arithmetic() {
        assert_eq!(Money::from_dollars(3), Some(dollars("3")));
        assert_eq!(Money::from_dollars(i64::MAX), None);
        assert_eq!(
            dollars("1.25").checked_add(dollars("2.5")),
            Some(dollars("3.75"))
        );
        assert_eq!(
            Money::from_micros(i64::MAX).checked_add(Money::from_micros(1)),
            None
        );
        assert_eq!(
            dollars("1").checked_sub(dollars("2.5")),
            Some(dollars("-1.5"))
        );
        assert_eq!(
            Money::from_micros(i64::MIN).checked_sub(Money::from_micros(1)),
            None
        );
        assert_eq!(
            Money::from_micros(i64::MAX).saturating_add(Money::from_micros(5)),
            Money::from_micros(i64::MAX)
        );
        assert_eq!(dollars("3.06").checked_mul_int(8), Some(dollars("24.48")));
        assert_eq!(Money::from_micros(i64::MAX).checked_mul_int(2), None);
        assert_eq!(dollars("1") + dollars("2"), dollars("3"));
        assert_eq!(dollars("1") - dollars("2"), dollars("-1"));
        assert_eq!(
            Money::from_micros(i64::MIN) - dollars("1"),
            Money::from_micros(i64::MIN)
        );
        let mut total = dollars("1");
        total += dollars("0.5");
        total -= dollars("0.25");
        assert_eq!(total, dollars("1.25"));
        assert_eq!(
            [dollars("1"), dollars("2.5")].iter().sum::<Money>(),
            dollars("3.5")
        );
        assert_eq!(
            [Money::from_micros(i64::MAX), dollars("1")]
                .into_iter()
                .sum::<Money>(),
            Money::from_micros(i64::MAX)
        );
        assert!(dollars("-0.01").is_negative());
        assert!(!Money::ZERO.is_negative());
        assert_eq!(Money::default(), Money::ZERO);
        assert!((dollars("3.06").to_dollars_f64() - 3.06).abs() < 1e-9);
        assert_eq!("400".parse::<Money>(), Ok(dollars("400")));
    }

    #[test]
    fn hourly_rates_over_seconds_round_half_up() {
        let cases: &[(&str, u64, Option<i64>)] = &[
            ("3.6", 1, Some(1_000)),
            ("36", 3_600, Some(36_000_000)),
            ("98.32", 1_800, Some(49_160_000)),
            ("1", 1, Some(278)),          // 277.77.. rounds up
            ("0.000001", 1_800, Some(1)), // exactly half a micro rounds up
            ("0.000001", 1_799, Some(0)),
            ("-1", 1, Some(-278)),
            ("0", u64::MAX, Some(0)),
            ("1", u64::MAX, None),
        ];
        for (rate, seconds, expected) in cases {
            assert_eq!(
                dollars(rate)
                    .per_hour_for_seconds(*seconds)
                    .map(Money::micros),
                *expected,
                "{rate} for {seconds}s"
            );
        }
    }

    #[test]
    fn mul_ratio_rounds_half_away_from_zero() {
        let cases: &[(i64, u64, u64, Option<i64>)] = &[
            (10, 1, 3, Some(3)),
            (10, 2, 3, Some(7)),
            (1, 1, 2, Some(1)),
            (-1, 1, 2, Some(-1)),
            (-10, 1, 3, Some(-3)),
            (5, 0, 7, Some(0)),
            (5, 7, 0, None),
            (i64::MAX, 2, 1, None),
            (i64::MAX, 2, 2, Some(i64::MAX)),
            (i64::MIN, 1, 1, Some(i64::MIN)),
        ];
        for (micros, numerator, denominator, expected) in cases {
            assert_eq!(
                Money::from_micros(*micros)
                    .mul_ratio(*numerator, *denominator)
                    .map(Money::micros),
                *expected,
                "{micros} * {numerator} / {denominator}"
            );
        }
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(micros in any::<i64>()) {
            let money = Money::from_micros(micros);
            prop_assert_eq!(Money::parse_dollars(&money.to_string()), Ok(money));
        }

        #[test]
        fn parse_never_panics(text in "\\PC*") {
            let _ = Money::parse_dollars(&text);
        }

        #[test]
        fn parse_never_panics_on_number_like_text(text in "[-+$ ]{0,3}[0-9.,eE]{0,30}") {
            if let Ok(money) = Money::parse_dollars(&text) {
                prop_assert_eq!(Money::parse_dollars(&money.to_string()), Ok(money));
            }
        }

        #[test]
        fn per_hour_for_seconds_is_within_half_a_micro(rate in 0_i64..1_000_000_000, seconds in 0_u64..10_000_000) {
            let cost = Money::from_micros(rate).per_hour_for_seconds(seconds).unwrap();
            let exact_times_3600 = i128::from(rate) * i128::from(seconds);
            let error_times_3600 = i128::from(cost.micros()) * 3600 - exact_times_3600;
            prop_assert!(error_times_3600 > -1800 && error_times_3600 <= 1800);
        }
    }
}
