//! Kubernetes resource quantities (`500m`, `16Gi`, `1.5T`, `1e3`), held exactly.
//!
//! The accepted syntax is Kubernetes' `resource.Quantity`:
//! `<sign>? <digits>? ("." <digits>?)? <suffix>` with at least one digit, where the
//! suffix is empty, a decimal SI suffix (`n u m k M G T P E`), a binary suffix
//! (`Ki Mi Gi Ti Pi Ei`) or a decimal exponent (`e3`, `E-3`, `e+6`).
//!
//! Invariants:
//! - A [`Quantity`] is an exact `i128` count of nano-units (10^-9); parsing never uses
//!   floating point.
//! - Like Kubernetes, a value with a non-zero part finer than one nano-unit is rounded
//!   away from zero to the next nano-unit ("if you ask for some, you get some").
//! - Unlike Kubernetes, a value that does not fit is an error instead of being capped.
//! - [`Quantity`]'s `Display` output parses back to an equal value, for every value.
//! - Nothing here panics, whatever the input.

use std::fmt;
use std::str::FromStr;

/// Nano-units in one unit.
const NANOS_PER_UNIT: u128 = 1_000_000_000;
/// Nano-units in one milli-unit.
const NANOS_PER_MILLI: u128 = 1_000_000;

/// Decimal suffixes and their power of ten, smallest first.
const DECIMAL_SUFFIXES: [(&str, i32); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// Binary suffixes and their power of 1024, smallest first.
const BINARY_SUFFIXES: [(&str, u32); 6] = [
    ("Ki", 1),
    ("Mi", 2),
    ("Gi", 3),
    ("Ti", 4),
    ("Pi", 5),
    ("Ei", 6),
];

/// The units a quantity accepts, as told to a person who typed a wrong one.
const ACCEPTED_UNITS: &str = "units are n, u, m, k, M, G, T, P, E (powers of 1000), \
     Ki, Mi, Gi, Ti, Pi, Ei (powers of 1024), or an exponent such as `1e3`";

/// An exact Kubernetes resource quantity, counted in nano-units (10^-9 of a unit).
///
/// A unit is whatever the resource counts: cores for CPU, bytes for memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nano_units: i128,
}

/// Why a text is not a valid quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is empty.
    #[error("quantity is empty; write a number with an optional unit, e.g. `500m`, `2` or `16Gi`")]
    Empty,
    /// The text contains whitespace somewhere.
    #[error(
        "quantity `{text}` contains whitespace; write it without spaces, e.g. `{without_whitespace}`"
    )]
    ContainsWhitespace {
        /// The text as given.
        text: String,
        /// The text with all whitespace removed.
        without_whitespace: String,
    },
    /// There is no digit before the unit.
    #[error(
        "quantity `{text}` has no number; write a number with an optional unit, e.g. `500m`, `2` or `16Gi`"
    )]
    MissingNumber {
        /// The text as given.
        text: String,
    },
    /// The number part is malformed, e.g. `1.2.3`.
    #[error(
        "quantity `{text}` has a malformed number; write digits with at most one `.`, an optional leading sign and no separators, e.g. `1.5Gi`, `0.5` or `-1`"
    )]
    MalformedNumber {
        /// The text as given.
        text: String,
    },
    /// The unit is a valid unit written in the wrong case, e.g. `16gi`.
    #[error(
        "quantity `{text}` has unknown unit `{unit}`; units are case-sensitive: did you mean {}?",
        join_alternatives(suggestions)
    )]
    WrongCaseUnit {
        /// The text as given.
        text: String,
        /// The unit as given.
        unit: String,
        /// Corrected quantities, best first.
        suggestions: Vec<String>,
    },
    /// The unit is not one Kubernetes knows, e.g. `16GB`.
    #[error(
        "quantity `{text}` has unknown unit `{unit}`; {}{ACCEPTED_UNITS}",
        did_you_mean(suggestions)
    )]
    UnknownUnit {
        /// The text as given.
        text: String,
        /// The unit as given.
        unit: String,
        /// Corrected quantities, best first; may be empty.
        suggestions: Vec<String>,
    },
    /// The decimal exponent after `e` or `E` is not a whole number.
    #[error(
        "quantity `{text}` has a malformed exponent `{exponent}`; an exponent is `e` or `E` then a whole number, e.g. `1e3` or `1.5E-3`"
    )]
    MalformedExponent {
        /// The text as given.
        text: String,
        /// The exponent part as given, starting with `e` or `E`.
        exponent: String,
    },
    /// The value does not fit in an `i128` count of nano-units.
    #[error(
        "quantity `{text}` is too large; quantities must lie within about ±1.7e29 units (±2^127 nano-units)"
    )]
    TooLarge {
        /// The text as given.
        text: String,
    },
}

/// "`a`", "`a` or `b`", "`a`, `b` or `c`".
fn join_alternatives(alternatives: &[String]) -> String {
    let quoted: Vec<String> = alternatives
        .iter()
        .map(|alternative| format!("`{alternative}`"))
        .collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// "did you mean `a` or `b`? " or nothing.
fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("did you mean {}? ", join_alternatives(suggestions))
    }
}

/// How the suffix scales the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scale {
    /// Times 10 to this power (an SI suffix or an exponent; saturated for huge exponents).
    Decimal(i64),
    /// Times 1024 to this power.
    Binary(u32),
}

/// Splits `text` after its longest prefix of ASCII digits.
fn split_leading_digits(text: &str) -> (&str, &str) {
    let digits_end = text
        .char_indices()
        .find(|(_, character)| !character.is_ascii_digit())
        .map_or(text.len(), |(index, _)| index);
    text.split_at_checked(digits_end).unwrap_or((text, ""))
}

/// The numeric value of an ASCII digit byte (0 for anything else, which callers exclude).
fn digit_value(byte: u8) -> u128 {
    u128::from(byte.wrapping_sub(b'0').min(9))
}

impl Quantity {
    /// The zero quantity.
    pub const ZERO: Quantity = Quantity { nano_units: 0 };

    /// Parses Kubernetes quantity syntax exactly, e.g. `500m`, `16Gi`, `1.5T`, `1e3`,
    /// `.5`, `+1`.
    ///
    /// Suffixes are case-sensitive, as in Kubernetes. A non-zero part finer than one
    /// nano-unit is rounded away from zero to the next nano-unit.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        if text.is_empty() {
            return Err(QuantityError::Empty);
        }
        if text.chars().any(char::is_whitespace) {
            let without_whitespace: String = text
                .chars()
                .filter(|character| !character.is_whitespace())
                .collect();
            // Suggest the spaceless form only when it is itself valid; otherwise
            // the real problem is elsewhere (`96 cores`), so report that.
            return match Quantity::parse(&without_whitespace) {
                Ok(_) => Err(QuantityError::ContainsWhitespace {
                    text: text.to_owned(),
                    without_whitespace,
                }),
                Err(QuantityError::UnknownUnit { unit, .. }) => Err(QuantityError::UnknownUnit {
                    text: text.to_owned(),
                    unit,
                    suggestions: Vec::new(),
                }),
                Err(other) => Err(other),
            };
        }
        let (is_negative, unsigned_text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (integer_digits, after_integer) = split_leading_digits(unsigned_text);
        let (has_point, fraction_digits, suffix) = match after_integer.strip_prefix('.') {
            Some(after_point) => {
                let (fraction_digits, suffix) = split_leading_digits(after_point);
                (true, fraction_digits, suffix)
            }
            None => (false, "", after_integer),
        };
        if integer_digits.is_empty() && fraction_digits.is_empty() {
            let starts_like_a_unit = suffix.chars().next().is_none_or(char::is_alphabetic);
            return Err(if starts_like_a_unit && !has_point {
                QuantityError::MissingNumber {
                    text: text.to_owned(),
                }
            } else {
                QuantityError::MalformedNumber {
                    text: text.to_owned(),
                }
            });
        }
        if suffix.starts_with(['.', '+', '-', '_', ','])
            || suffix.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(QuantityError::MalformedNumber {
                text: text.to_owned(),
            });
        }
        let number_text = text.strip_suffix(suffix).unwrap_or(text);
        let scale = parse_suffix(text, number_text, suffix)?;
        let magnitude =
            exact_nano_magnitude(integer_digits, fraction_digits, scale).ok_or_else(|| {
                QuantityError::TooLarge {
                    text: text.to_owned(),
                }
            })?;
        let nano_units = if is_negative {
            0_i128.checked_sub_unsigned(magnitude)
        } else {
            i128::try_from(magnitude).ok()
        };
        nano_units
            .map(Quantity::from_nano_units)
            .ok_or_else(|| QuantityError::TooLarge {
                text: text.to_owned(),
            })
    }

    /// A quantity of exactly this many nano-units (10^-9 units).
    pub const fn from_nano_units(nano_units: i128) -> Quantity {
        Quantity { nano_units }
    }

    /// A quantity of exactly this many whole units (cores, bytes, ...).
    pub const fn from_units(units: i64) -> Quantity {
        // |i64| * 10^9 < 2^94: cannot overflow i128.
        Quantity {
            nano_units: units as i128 * NANOS_PER_UNIT as i128,
        }
    }

    /// A quantity of exactly this many thousandths of a unit (e.g. millicores).
    pub const fn from_milli_units(milli_units: i64) -> Quantity {
        Quantity {
            nano_units: milli_units as i128 * NANOS_PER_MILLI as i128,
        }
    }

    /// Whether the quantity is below zero.
    pub const fn is_negative(&self) -> bool {
        self.nano_units < 0
    }

    /// Whether the quantity is exactly zero.
    pub const fn is_zero(&self) -> bool {
        self.nano_units == 0
    }

    /// The quantity in thousandths of a unit, rounded up (Kubernetes turns CPU
    /// `0.0001` into `1m`); `None` if negative or above `u64::MAX`.
    pub fn to_milli_units_ceil(&self) -> Option<u64> {
        self.non_negative_ceil_div(NANOS_PER_MILLI)
    }

    /// The quantity in whole units (e.g. bytes for memory), rounded up; `None` if
    /// negative or above `u64::MAX`.
    pub fn to_units_ceil(&self) -> Option<u64> {
        self.non_negative_ceil_div(NANOS_PER_UNIT)
    }

    /// The exact value in nano-units (10^-9 units).
    pub const fn nano_units(&self) -> i128 {
        self.nano_units
    }

    /// The sum, or `None` if it does not fit.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        self.nano_units
            .checked_add(other.nano_units)
            .map(Quantity::from_nano_units)
    }

    /// The difference, or `None` if it does not fit.
    pub fn checked_sub(self, other: Quantity) -> Option<Quantity> {
        self.nano_units
            .checked_sub(other.nano_units)
            .map(Quantity::from_nano_units)
    }

    fn non_negative_ceil_div(&self, divisor: u128) -> Option<u64> {
        let nano_units = u128::try_from(self.nano_units).ok()?;
        let quotient = nano_units / divisor + u128::from(nano_units % divisor != 0);
        u64::try_from(quotient).ok()
    }
}

/// Resolves the suffix into a scale, or explains what is wrong with it.
fn parse_suffix(text: &str, number_text: &str, suffix: &str) -> Result<Scale, QuantityError> {
    if let Some((_, power_of_ten)) = DECIMAL_SUFFIXES.iter().find(|(name, _)| *name == suffix) {
        return Ok(Scale::Decimal(i64::from(*power_of_ten)));
    }
    if let Some((_, power_of_1024)) = BINARY_SUFFIXES.iter().find(|(name, _)| *name == suffix) {
        return Ok(Scale::Binary(*power_of_1024));
    }
    if let Some(exponent_text) = suffix.strip_prefix(['e', 'E']) {
        let looks_like_an_exponent = exponent_text.is_empty()
            || exponent_text.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-');
        if looks_like_an_exponent {
            return parse_exponent(exponent_text)
                .map(Scale::Decimal)
                .ok_or_else(|| QuantityError::MalformedExponent {
                    text: text.to_owned(),
                    exponent: suffix.to_owned(),
                });
        }
    }
    Err(explain_unknown_unit(text, number_text, suffix))
}

/// A signed whole exponent, saturated far beyond any value that can fit.
fn parse_exponent(exponent_text: &str) -> Option<i64> {
    let (is_negative, digits) = match exponent_text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (
            false,
            exponent_text.strip_prefix('+').unwrap_or(exponent_text),
        ),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.bytes().fold(0_i64, |accumulated, byte| {
        accumulated
            .saturating_mul(10)
            .saturating_add(i64::from(byte.wrapping_sub(b'0')))
    });
    Some(if is_negative { -magnitude } else { magnitude })
}

/// Builds the most helpful error for a suffix that is not a unit.
fn explain_unknown_unit(text: &str, number_text: &str, unit: &str) -> QuantityError {
    let all_units = DECIMAL_SUFFIXES
        .iter()
        .map(|(name, _)| *name)
        .chain(BINARY_SUFFIXES.iter().map(|(name, _)| *name));
    let mut same_but_for_case: Vec<String> = all_units
        .filter(|name| !name.is_empty() && name.eq_ignore_ascii_case(unit))
        .map(|name| format!("{number_text}{name}"))
        .collect();
    if !same_but_for_case.is_empty() {
        if unit == "K" {
            same_but_for_case.push(format!("{number_text}Ki"));
        }
        return QuantityError::WrongCaseUnit {
            text: text.to_owned(),
            unit: unit.to_owned(),
            suggestions: same_but_for_case,
        };
    }
    QuantityError::UnknownUnit {
        text: text.to_owned(),
        unit: unit.to_owned(),
        suggestions: byte_unit_suggestions(number_text, unit),
    }
}

/// Suggestions for units written the way people write byte sizes: `GB`, `GiB`, `B`.
fn byte_unit_suggestions(number_text: &str, unit: &str) -> Vec<String> {
    let Some(core) = unit.strip_suffix(['B', 'b']) else {
        return Vec::new();
    };
    if core.is_empty() {
        return vec![number_text.to_owned()];
    }
    if let Some((binary, _)) = BINARY_SUFFIXES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(core))
    {
        return vec![format!("{number_text}{binary}")];
    }
    let decimal_and_binary = match core {
        "k" | "K" => Some(("k", "Ki")),
        "m" | "M" => Some(("M", "Mi")),
        "g" | "G" => Some(("G", "Gi")),
        "t" | "T" => Some(("T", "Ti")),
        "p" | "P" => Some(("P", "Pi")),
        "e" | "E" => Some(("E", "Ei")),
        _ => None,
    };
    decimal_and_binary
        .map(|(decimal, binary)| {
            vec![
                format!("{number_text}{decimal}"),
                format!("{number_text}{binary}"),
            ]
        })
        .unwrap_or_default()
}

/// The exact magnitude in nano-units of `integer.fraction × scale`, rounded up to the
/// next nano-unit; `None` if it does not fit in a `u128`.
fn exact_nano_magnitude(integer_digits: &str, fraction_digits: &str, scale: Scale) -> Option<u128> {
    let fraction_digits = fraction_digits.trim_end_matches('0');
    let all_digits: Vec<u8> = integer_digits
        .bytes()
        .chain(fraction_digits.bytes())
        .skip_while(|byte| *byte == b'0')
        .collect();
    if all_digits.is_empty() {
        return Some(0);
    }
    let (power_of_ten_of_suffix, multiplier) = match scale {
        Scale::Decimal(power_of_ten) => (i128::from(power_of_ten), 1_u128),
        Scale::Binary(power_of_1024) => (0, 1024_u128.checked_pow(power_of_1024)?),
    };
    // value in nano-units = digits × multiplier × 10^power_of_ten
    let fraction_length = i128::try_from(fraction_digits.len()).ok()?;
    let power_of_ten = power_of_ten_of_suffix + 9 - fraction_length;

    if power_of_ten >= 0 {
        let digits_value = digits_to_u128(&all_digits)?;
        let power_of_ten = u32::try_from(power_of_ten).ok()?;
        return digits_value
            .checked_mul(multiplier)?
            .checked_mul(10_u128.checked_pow(power_of_ten)?);
    }

    // Split the digits into a whole part and a part below one nano-unit.
    let digits_below_nano = usize::try_from(power_of_ten.unsigned_abs()).unwrap_or(usize::MAX);
    let whole_digit_count = all_digits.len().saturating_sub(digits_below_nano);
    let (whole_digits, sub_nano_digits) = all_digits.split_at_checked(whole_digit_count)?;
    let whole_nanos = digits_to_u128(whole_digits)?.checked_mul(multiplier)?;

    // floor(sub_nano × multiplier / 10^digits_below_nano) by long multiplication from
    // the least significant digit, remembering whether anything was dropped.
    let mut carry: u128 = 0;
    let mut dropped_something = false;
    for &byte in sub_nano_digits.iter().rev() {
        let column = digit_value(byte) * multiplier + carry;
        dropped_something |= !column.is_multiple_of(10);
        carry = column / 10;
    }
    let implicit_leading_zeros = digits_below_nano.saturating_sub(sub_nano_digits.len());
    for _ in 0..implicit_leading_zeros {
        if carry == 0 {
            break;
        }
        dropped_something |= !carry.is_multiple_of(10);
        carry /= 10;
    }
    whole_nanos
        .checked_add(carry)?
        .checked_add(u128::from(dropped_something))
}

/// The value of a run of ASCII digits, or `None` on overflow.
fn digits_to_u128(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0_u128, |accumulated, &byte| {
        accumulated.checked_mul(10)?.checked_add(digit_value(byte))
    })
}

impl fmt::Display for Quantity {
    /// The canonical form: the shorter of the decimal form with the largest SI suffix
    /// that keeps the number whole (`500m`, `2`, `1500M`) and, for whole numbers of
    /// units divisible by 1024, the binary form with the largest such suffix (`16Gi`);
    /// the binary form wins ties.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nano_units < 0 { "-" } else { "" };
        let magnitude = self.nano_units.unsigned_abs();
        if magnitude == 0 {
            return formatter.write_str("0");
        }
        let decimal_form = DECIMAL_SUFFIXES
            .iter()
            .rev()
            .find_map(|(suffix, power_of_ten)| {
                let nanos_per_step = 10_u128.checked_pow(u32::try_from(power_of_ten + 9).ok()?)?;
                magnitude
                    .is_multiple_of(nanos_per_step)
                    .then(|| format!("{sign}{}{suffix}", magnitude / nanos_per_step))
            })
            .unwrap_or_else(|| format!("{sign}{magnitude}n"));
        let binary_form = magnitude
            .is_multiple_of(NANOS_PER_UNIT)
            .then(|| {
                let units = magnitude / NANOS_PER_UNIT;
                BINARY_SUFFIXES
                    .iter()
                    .rev()
                    .find_map(|(suffix, power_of_1024)| {
                        let units_per_step = 1024_u128.checked_pow(*power_of_1024)?;
                        units
                            .is_multiple_of(units_per_step)
                            .then(|| format!("{sign}{}{suffix}", units / units_per_step))
                    })
            })
            .flatten();
        match binary_form {
            Some(binary_form) if binary_form.len() <= decimal_form.len() => {
                formatter.write_str(&binary_form)
            }
            _ => formatter.write_str(&decimal_form),
        }
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse(text)
    }
}

/// A short, human, binary-unit rendering of a byte count for tables: `100`, `512Mi`,
/// `16Gi`, `1.5Ti`.
///
/// Below 1 KiB the exact count is shown. Above, the value is shown in the largest
/// binary unit it reaches, rounded half up to one decimal (a trailing `.0` is
/// dropped). This is lossy; use [`Quantity`]'s `Display` for an exact form.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let bytes = u128::from(bytes);
    let bytes_per_unit = |index: usize| 1_u128 << (10 * (index + 1));
    let tenths_of = |index: usize| (bytes * 10 + bytes_per_unit(index) / 2) / bytes_per_unit(index);
    let Some(mut index) = (0..UNITS.len())
        .rev()
        .find(|index| bytes >= bytes_per_unit(*index))
    else {
        return bytes.to_string();
    };
    // 1023.96Mi rounds to 1024.0Mi: show it as 1Gi instead.
    if tenths_of(index) >= 10_240 && index + 1 < UNITS.len() {
        index += 1;
    }
    let tenths = tenths_of(index);
    let unit = UNITS.get(index).copied().unwrap_or_default();
    if tenths % 10 == 0 {
        format!("{}{unit}", tenths / 10)
    } else {
        format!("{}.{}{unit}", tenths / 10, tenths % 10)
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

    const NANO: i128 = 1;
    const MICRO: i128 = 1_000;
    const MILLI: i128 = 1_000_000;
    const UNIT: i128 = 1_000_000_000;

    #[test]
    fn parses_valid_quantities_exactly() {
        let cases: &[(&str, i128)] = &[
            ("0", 0),
            ("-0", 0),
            ("+0", 0),
            ("0.0", 0),
            ("1", UNIT),
            ("+1", UNIT),
            ("-1", -UNIT),
            ("500m", 500 * MILLI),
            ("0.5", 500 * MILLI),
            (".5", 500 * MILLI),
            ("1.", UNIT),
            ("2", 2 * UNIT),
            ("100n", 100 * NANO),
            ("1u", MICRO),
            ("1k", 1_000 * UNIT),
            ("1M", 1_000_000 * UNIT),
            ("1.5T", 1_500_000_000_000 * UNIT),
            ("1P", 10_i128.pow(15) * UNIT),
            ("1E", 10_i128.pow(18) * UNIT),
            ("1Ki", 1024 * UNIT),
            ("16Gi", 16 * (1 << 30) * UNIT),
            ("1.5Gi", 3 * (1 << 29) * UNIT),
            ("1Ei", (1 << 60) * UNIT),
            ("0.5Ki", 512 * UNIT),
            ("1e3", 1_000 * UNIT),
            ("1E3", 1_000 * UNIT),
            ("1e+3", 1_000 * UNIT),
            ("1.5E-3", 1_500 * MICRO),
            ("1e-9", NANO),
            ("1e0", UNIT),
            ("0e999999999999999999999", 0),
            ("000000000000000000000000000000000000000000001", UNIT),
            ("1.000000000000000000000000000000000000000000", UNIT),
            ("1000Mi", 1000 * (1 << 20) * UNIT),
            ("-500m", -500 * MILLI),
            ("128974848", 128_974_848 * UNIT),
            ("129e6", 129_000_000 * UNIT),
            ("123Mi", 123 * (1 << 20) * UNIT),
        ];
        for (text, expected_nanos) in cases {
            let parsed = Quantity::parse(text).unwrap_or_else(|error| panic!("{text:?}: {error}"));
            assert_eq!(parsed.nano_units(), *expected_nanos, "{text:?}");
        }
    }

    #[test]
    fn rounds_sub_nano_parts_away_from_zero() {
        let cases: &[(&str, i128)] = &[
            ("0.0000000001", 1),
            ("0.0000000011", 2),
            ("1e-10", 1),
            ("1e-999999999999999", 1),
            ("-0.0000000001", -1),
            ("1.0000000001", UNIT + 1),
            ("0.1n", 1),
            ("1.5n", 2),
            (
                "1.0000000000000000000000000000000000000000000000001",
                UNIT + 1,
            ),
            // 0.001 Ki = 1.024 bytes, exactly representable
            ("0.001Ki", 1_024_000_000),
            // 0.0000000001 Ki = 1.024e-7 units = 102.4 nanos, rounds up to 103
            ("0.0000000001Ki", 103),
        ];
        for (text, expected_nanos) in cases {
            assert_eq!(
                Quantity::parse(text).unwrap().nano_units(),
                *expected_nanos,
                "{text:?}"
            );
        }
    }

    #[test]
    fn rejects_invalid_quantities_with_helpful_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "",
                "quantity is empty; write a number with an optional unit, e.g. `500m`, `2` or `16Gi`",
            ),
            (
                " 1",
                "quantity ` 1` contains whitespace; write it without spaces, e.g. `1`",
            ),
            (
                "16 Gi",
                "quantity `16 Gi` contains whitespace; write it without spaces, e.g. `16Gi`",
            ),
            (
                "Gi",
                "quantity `Gi` has no number; write a number with an optional unit, e.g. `500m`, `2` or `16Gi`",
            ),
            (
                "-",
                "quantity `-` has no number; write a number with an optional unit, e.g. `500m`, `2` or `16Gi`",
            ),
            (
                "1.2.3",
                "quantity `1.2.3` has a malformed number; write digits with at most one `.`, an optional leading sign and no separators, e.g. `1.5Gi`, `0.5` or `-1`",
            ),
            (
                ".",
                "quantity `.` has a malformed number; write digits with at most one `.`, an optional leading sign and no separators, e.g. `1.5Gi`, `0.5` or `-1`",
            ),
            (
                "16GB",
                "quantity `16GB` has unknown unit `GB`; did you mean `16G` or `16Gi`? units are n, u, m, k, M, G, T, P, E (powers of 1000), Ki, Mi, Gi, Ti, Pi, Ei (powers of 1024), or an exponent such as `1e3`",
            ),
            (
                "16gi",
                "quantity `16gi` has unknown unit `gi`; units are case-sensitive: did you mean `16Gi`?",
            ),
            (
                "2K",
                "quantity `2K` has unknown unit `K`; units are case-sensitive: did you mean `2k` or `2Ki`?",
            ),
            (
                "1e",
                "quantity `1e` has a malformed exponent `e`; an exponent is `e` or `E` then a whole number, e.g. `1e3` or `1.5E-3`",
            ),
            (
                "1ei",
                "quantity `1ei` has unknown unit `ei`; units are case-sensitive: did you mean `1Ei`?",
            ),
            (
                "1e1.5",
                "quantity `1e1.5` has a malformed exponent `e1.5`; an exponent is `e` or `E` then a whole number, e.g. `1e3` or `1.5E-3`",
            ),
            (
                "1e+",
                "quantity `1e+` has a malformed exponent `e+`; an exponent is `e` or `E` then a whole number, e.g. `1e3` or `1.5E-3`",
            ),
            (
                "1e40",
                "quantity `1e40` is too large; quantities must lie within about ±1.7e29 units (±2^127 nano-units)",
            ),
        ];
        for (text, expected_message) in cases {
            let error = Quantity::parse(text).unwrap_err();
            assert_eq!(error.to_string(), *expected_message, "{text:?}");
        }
    }

    #[test]
    fn malformed_numbers_are_called_malformed() {
        for text in [
            "1_000", "1,000", "--1", "+-1", "1.5.Gi", "1..5", ".e3", "\u{ff12}", "1-2",
        ] {
            assert_eq!(
                Quantity::parse(text),
                Err(QuantityError::MalformedNumber {
                    text: text.to_owned()
                }),
                "{text:?}"
            );
        }
        for text in ["Gi", "e3", "Infinity", "+", "-Mi"] {
            assert_eq!(
                Quantity::parse(text),
                Err(QuantityError::MissingNumber {
                    text: text.to_owned()
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn suggests_fixes_for_byte_style_units() {
        let cases: &[(&str, &[&str])] = &[
            ("16GiB", &["16Gi"]),
            ("16gib", &["16Gi"]),
            ("512MB", &["512M", "512Mi"]),
            ("512mb", &["512M", "512Mi"]),
            ("1kB", &["1k", "1Ki"]),
            ("1KB", &["1k", "1Ki"]),
            ("100B", &["100"]),
            ("1.5TB", &["1.5T", "1.5Ti"]),
            ("4cores", &[]),
            ("0x10", &[]),
        ];
        for (text, expected) in cases {
            match Quantity::parse(text) {
                Err(QuantityError::UnknownUnit { suggestions, .. }) => {
                    assert_eq!(suggestions, *expected, "{text:?}");
                }
                other => panic!("{text:?}: expected UnknownUnit, got {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_values_too_large_for_i128_nanos() {
        for text in [
            "1e30",
            "170141183460469231731687303715884105728n",
            "1000000000000000000000000000000000000000000000",
            "200000000000Ei",
        ] {
            assert_eq!(
                Quantity::parse(text),
                Err(QuantityError::TooLarge {
                    text: text.to_owned()
                }),
                "{text:?}"
            );
        }
        assert_eq!(
            Quantity::parse("-170141183460469231731687303715884105728n")
                .unwrap()
                .nano_units(),
            i128::MIN
        );
        assert_eq!(
            Quantity::parse("170141183460469231731687303715884105727n")
                .unwrap()
                .nano_units(),
            i128::MAX
        );
    }

    #[test]
    fn displays_canonical_forms() {
        let cases: &[(Quantity, &str)] = &[
            (Quantity::ZERO, "0"),
            (Quantity::from_milli_units(500), "500m"),
            (Quantity::from_units(2), "2"),
            (Quantity::parse("16Gi").unwrap(), "16Gi"),
            (Quantity::parse("1.5G").unwrap(), "1500M"),
            (Quantity::parse("1.5Gi").unwrap(), "1536Mi"),
            (Quantity::parse("1000").unwrap(), "1k"),
            (Quantity::parse("1024").unwrap(), "1Ki"),
            (Quantity::parse("1000Ki").unwrap(), "1024k"),
            (Quantity::parse("100").unwrap(), "100"),
            (Quantity::parse("-1.5").unwrap(), "-1500m"),
            (Quantity::parse("0.0000000001").unwrap(), "1n"),
            (Quantity::parse("1e3").unwrap(), "1k"),
            (Quantity::parse("1Ei").unwrap(), "1Ei"),
            (Quantity::parse("128974848").unwrap(), "123Mi"),
            (Quantity::parse("128974849").unwrap(), "128974849"),
            (Quantity::parse("1500").unwrap(), "1500"),
            (Quantity::parse("123Mi").unwrap(), "123Mi"),
            (Quantity::parse("1500u").unwrap(), "1500u"),
        ];
        for (quantity, expected) in cases {
            assert_eq!(quantity.to_string(), *expected);
        }
    }

    #[test]
    fn converts_to_milli_and_whole_units_rounding_up() {
        let cases: &[(&str, Option<u64>, Option<u64>)] = &[
            ("0", Some(0), Some(0)),
            ("0.0001", Some(1), Some(1)),
            ("500m", Some(500), Some(1)),
            ("2", Some(2_000), Some(2)),
            ("16Gi", Some(17_179_869_184_000), Some(17_179_869_184)),
            ("1n", Some(1), Some(1)),
            ("-1", None, None),
            ("-1n", None, None),
            ("18446744073709551615", None, Some(u64::MAX)),
            ("18446744073709551616", None, None),
        ];
        for (text, expected_milli, expected_units) in cases {
            let quantity = Quantity::parse(text).unwrap();
            assert_eq!(
                quantity.to_milli_units_ceil(),
                *expected_milli,
                "{text:?} milli"
            );
            assert_eq!(quantity.to_units_ceil(), *expected_units, "{text:?} units");
        }
    }

    #[test]
    fn constructors_and_predicates() {
        assert_eq!(Quantity::from_units(-3).nano_units(), -3 * UNIT);
        assert_eq!(Quantity::from_milli_units(250).nano_units(), 250 * MILLI);
        assert_eq!(
            Quantity::from_units(i64::MAX).nano_units(),
            i128::from(i64::MAX) * UNIT
        );
        assert!(Quantity::from_units(-1).is_negative());
        assert!(!Quantity::ZERO.is_negative());
        assert!(Quantity::ZERO.is_zero());
        assert!(!Quantity::from_nano_units(1).is_zero());
        assert!(Quantity::from_units(1) > Quantity::from_milli_units(999));
        assert_eq!(
            "250m".parse::<Quantity>(),
            Ok(Quantity::from_milli_units(250))
        );
        assert_eq!(
            Quantity::from_units(1).checked_add(Quantity::from_milli_units(500)),
            Some(Quantity::from_milli_units(1500))
        );
        assert_eq!(
            Quantity::from_nano_units(i128::MAX).checked_add(Quantity::from_nano_units(1)),
            None
        );
        assert_eq!(
            Quantity::from_nano_units(i128::MIN).checked_sub(Quantity::from_nano_units(1)),
            None
        );
    }

    #[test]
    fn formats_bytes_for_tables() {
        let cases: &[(u64, &str)] = &[
            (0, "0"),
            (100, "100"),
            (1023, "1023"),
            (1024, "1Ki"),
            (1536, "1.5Ki"),
            (512 * (1 << 20), "512Mi"),
            (16 * (1 << 30), "16Gi"),
            (3 * (1 << 39), "1.5Ti"),
            ((1 << 30) - 1, "1Gi"),
            ((1 << 20) * 1023 + (1 << 20) / 2, "1023.5Mi"),
            (u64::MAX, "16Ei"),
            ((1 << 20) - 1, "1Mi"),
            ((1 << 20) - 52, "1023.9Ki"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(format_bytes(*bytes), *expected, "{bytes}");
        }
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(nano_units in any::<i128>()) {
            let quantity = Quantity::from_nano_units(nano_units);
            prop_assert_eq!(Quantity::parse(&quantity.to_string()), Ok(quantity));
        }

        #[test]
        fn display_then_parse_round_trips_for_typical_values(units in any::<i64>(), power in 0_u32..7) {
            let quantity = Quantity::from_nano_units(i128::from(units) * 1024_i128.pow(power));
            prop_assert_eq!(Quantity::parse(&quantity.to_string()), Ok(quantity));
        }

        #[test]
        fn parse_never_panics_on_arbitrary_text(text in "\\PC*") {
            let _ = Quantity::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_quantity_like_text(text in "[-+]?[0-9.]{0,30}([eE][-+]?[0-9]{0,25})?(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|GB|gi|[a-zA-Z.]{0,3})?") {
            if let Ok(quantity) = Quantity::parse(&text) {
                prop_assert_eq!(Quantity::parse(&quantity.to_string()), Ok(quantity));
            }
        }

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = Quantity::parse(&text);
        }

        #[test]
        fn decimal_and_exponent_forms_agree(mantissa in 0_i64..1_000_000, exponent in -12_i32..12) {
            let with_exponent = Quantity::parse(&format!("{mantissa}e{exponent}")).unwrap();
            let plain = if exponent >= 0 {
                format!("{mantissa}{}", "0".repeat(exponent.unsigned_abs() as usize))
            } else {
                let digits = format!("{mantissa:0>width$}", width = exponent.unsigned_abs() as usize + 1);
                let (whole, fraction) = digits.split_at(digits.len() - exponent.unsigned_abs() as usize);
                format!("{whole}.{fraction}")
            };
            prop_assert_eq!(Quantity::parse(&plain).unwrap(), with_exponent);
        }
    }
}
