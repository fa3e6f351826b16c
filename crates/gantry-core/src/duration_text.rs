//! Human-written durations: `30m`, `6h`, `2d`, `1h30m`, `500ms`, `1.5h`, `1w`.
//!
//! Syntax: one or more `<number><unit>` parts with nothing between them, where the
//! number is decimal digits with an optional fraction and the unit is one of `ms`,
//! `s`, `m`, `h`, `d` (24 hours) or `w` (7 days). Parts add up, in any order.
//! Whitespace around the whole text is ignored.
//!
//! Invariants:
//! - Parsing is exact to the nanosecond; digits finer than a nanosecond are dropped
//!   (rounded down). No floating point is used.
//! - [`format_duration`] output parses back with [`parse_duration`] to the same
//!   `Duration`, for every `Duration`.
//! - Nothing here panics, whatever the input.

use std::time::Duration;

/// Nanoseconds in one second.
const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Units, longest spelling first so that `ms` is tried before `m`, with their length
/// in nanoseconds.
const UNITS: [(&str, u128); 6] = [
    ("ms", 1_000_000),
    ("s", NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("h", 3_600 * NANOS_PER_SECOND),
    ("d", 86_400 * NANOS_PER_SECOND),
    ("w", 604_800 * NANOS_PER_SECOND),
];

/// The units, as told to a person who typed a wrong one.
const KNOWN_UNITS: &str = "ms, s, m, h, d (24h) and w (7d)";

/// Spellings people use for units, mapped to the unit they mean.
const UNIT_SPELLINGS: [(&str, &str); 22] = [
    ("msec", "ms"),
    ("msecs", "ms"),
    ("millis", "ms"),
    ("millisecond", "ms"),
    ("milliseconds", "ms"),
    ("sec", "s"),
    ("secs", "s"),
    ("second", "s"),
    ("seconds", "s"),
    ("min", "m"),
    ("mins", "m"),
    ("minute", "m"),
    ("minutes", "m"),
    ("hr", "h"),
    ("hrs", "h"),
    ("hour", "h"),
    ("hours", "h"),
    ("day", "d"),
    ("days", "d"),
    ("wk", "w"),
    ("week", "w"),
    ("weeks", "w"),
];

/// Why a text is not a valid duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is empty (or only whitespace).
    #[error("duration is empty; write a number and a unit, e.g. `30m`, `6h` or `1h30m`")]
    Empty,
    /// The text has whitespace between its parts.
    #[error(
        "duration `{text}` contains whitespace; write it without spaces, e.g. `{without_whitespace}`"
    )]
    ContainsWhitespace {
        /// The text as given.
        text: String,
        /// The text with all whitespace removed.
        without_whitespace: String,
    },
    /// The text starts with a minus sign.
    #[error("duration `{text}` is negative; durations must be zero or more, e.g. `0s` or `30m`")]
    Negative {
        /// The text as given.
        text: String,
    },
    /// A number has no unit after it, e.g. `30`.
    #[error(
        "duration `{text}` has a number without a unit; add a unit, e.g. `{number}m`; units are {KNOWN_UNITS}"
    )]
    MissingUnit {
        /// The text as given.
        text: String,
        /// The number that lacks a unit.
        number: String,
    },
    /// A unit has no number before it, e.g. `h`.
    #[error(
        "duration `{text}` has a unit without a number before it; write e.g. `30m`, `6h` or `1h30m`"
    )]
    MissingNumber {
        /// The text as given.
        text: String,
    },
    /// A number is malformed, e.g. `1.2.3h` or `.h`.
    #[error(
        "duration `{text}` has a malformed number; write digits with at most one `.`, e.g. `1.5h`"
    )]
    MalformedNumber {
        /// The text as given.
        text: String,
    },
    /// A unit is not one of the known units.
    #[error("duration `{text}` has unknown unit `{unit}`; {}units are {KNOWN_UNITS}", did_you_mean(suggestion.as_deref()))]
    UnknownUnit {
        /// The text as given.
        text: String,
        /// The unit as given.
        unit: String,
        /// The corrected duration, when the unit is a known spelling such as `hr`.
        suggestion: Option<String>,
    },
    /// The duration does not fit in a `std::time::Duration`.
    #[error("duration `{text}` is too large; durations must be under about 584 billion years")]
    TooLarge {
        /// The text as given.
        text: String,
    },
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |suggestion| {
        format!("did you mean `{suggestion}`? ")
    })
}

/// Splits `text` after its longest prefix whose characters satisfy `predicate`.
fn split_leading(text: &str, predicate: impl Fn(char) -> bool) -> (&str, &str) {
    let end = text
        .char_indices()
        .find(|(_, character)| !predicate(*character))
        .map_or(text.len(), |(index, _)| index);
    text.split_at_checked(end).unwrap_or((text, ""))
}

/// Parses a human duration such as `30m`, `6h`, `2d`, `1h30m`, `500ms`, `1.5h` or `1w`.
///
/// A bare number is an error (the unit is never guessed); `0s` is fine.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    if trimmed.chars().any(char::is_whitespace) {
        return Err(DurationError::ContainsWhitespace {
            text: text.to_owned(),
            without_whitespace: trimmed
                .chars()
                .filter(|character| !character.is_whitespace())
                .collect(),
        });
    }
    if trimmed.starts_with('-') {
        return Err(DurationError::Negative {
            text: text.to_owned(),
        });
    }
    let too_large = || DurationError::TooLarge {
        text: text.to_owned(),
    };

    let mut total_nanos: u128 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let (number, after_number) = split_leading(rest, |character| {
            character.is_ascii_digit() || character == '.'
        });
        let (unit, after_unit) = split_leading(after_number, char::is_alphabetic);
        if number.is_empty() {
            return Err(if unit.is_empty() {
                DurationError::MalformedNumber {
                    text: text.to_owned(),
                }
            } else {
                DurationError::MissingNumber {
                    text: text.to_owned(),
                }
            });
        }
        let (whole_digits, fraction_digits) = number.split_once('.').unwrap_or((number, ""));
        if fraction_digits.contains('.') || (whole_digits.is_empty() && fraction_digits.is_empty())
        {
            return Err(DurationError::MalformedNumber {
                text: text.to_owned(),
            });
        }
        if unit.is_empty() {
            if after_unit.is_empty() {
                return Err(DurationError::MissingUnit {
                    text: text.to_owned(),
                    number: number.to_owned(),
                });
            }
            return Err(DurationError::MalformedNumber {
                text: text.to_owned(),
            });
        }
        let Some((_, nanos_per_unit)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(explain_unknown_unit(text, trimmed, unit));
        };
        let part_nanos =
            part_in_nanos(whole_digits, fraction_digits, *nanos_per_unit).ok_or_else(too_large)?;
        total_nanos = total_nanos.checked_add(part_nanos).ok_or_else(too_large)?;
        rest = after_unit;
    }

    let seconds = u64::try_from(total_nanos / NANOS_PER_SECOND).map_err(|_| too_large())?;
    let subsecond_nanos = u32::try_from(total_nanos % NANOS_PER_SECOND).map_err(|_| too_large())?;
    Ok(Duration::new(seconds, subsecond_nanos))
}

/// `whole.fraction × nanos_per_unit`, rounded down to the nanosecond; `None` on overflow.
fn part_in_nanos(whole_digits: &str, fraction_digits: &str, nanos_per_unit: u128) -> Option<u128> {
    let digit = |byte: u8| u128::from(byte.wrapping_sub(b'0'));
    let whole = whole_digits.bytes().try_fold(0_u128, |accumulated, byte| {
        accumulated.checked_mul(10)?.checked_add(digit(byte))
    })?;
    // floor(0.fraction × nanos_per_unit), exactly, by long multiplication from the
    // least significant digit: each step keeps floor((digit × unit + carry) / 10).
    let fraction_nanos = fraction_digits.bytes().rev().fold(0_u128, |carry, byte| {
        (digit(byte) * nanos_per_unit + carry) / 10
    });
    whole
        .checked_mul(nanos_per_unit)?
        .checked_add(fraction_nanos)
}

fn explain_unknown_unit(text: &str, trimmed: &str, unit: &str) -> DurationError {
    let suggestion = rewrite_units(trimmed).filter(|rewritten| parse_duration(rewritten).is_ok());
    DurationError::UnknownUnit {
        text: text.to_owned(),
        unit: unit.to_owned(),
        suggestion,
    }
}

/// The unit that a spelling such as `hr`, `mins` or `D` means, if it is a known one.
fn intended_unit(spelling: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .map(|(name, _)| *name)
        .find(|name| *name == spelling)
        .or_else(|| {
            UNIT_SPELLINGS
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(spelling))
                .map(|(_, intended)| *intended)
        })
        .or_else(|| {
            UNITS
                .iter()
                .map(|(name, _)| *name)
                .find(|name| name.eq_ignore_ascii_case(spelling))
        })
}

/// `trimmed` with every unit rewritten to the unit it means (`1hr30mins` to
/// `1h30m`), or `None` if some unit means nothing known.
fn rewrite_units(trimmed: &str) -> Option<String> {
    let mut rewritten = String::with_capacity(trimmed.len());
    let mut rest = trimmed;
    while !rest.is_empty() {
        let (number, after_number) = split_leading(rest, |character| !character.is_alphabetic());
        let (spelling, after_unit) = split_leading(after_number, char::is_alphabetic);
        rewritten.push_str(number);
        if !spelling.is_empty() {
            rewritten.push_str(intended_unit(spelling)?);
        }
        rest = after_unit;
    }
    Some(rewritten)
}

/// A compact rendering: `6h`, `1h30m`, `2d`, `1m30s`, `500ms`, `0s`.
///
/// Parts are days, hours, minutes, seconds and milliseconds, largest first, zero parts
/// left out. Any part below a millisecond is written as a fraction of the
/// milliseconds (`1.5ms`), so the text always parses back to the same duration.
pub fn format_duration(duration: Duration) -> String {
    const SECONDS_PER_DAY: u64 = 86_400;
    const SECONDS_PER_HOUR: u64 = 3_600;
    const SECONDS_PER_MINUTE: u64 = 60;
    const NANOS_PER_MILLI: u32 = 1_000_000;

    let total_seconds = duration.as_secs();
    let subsecond_nanos = duration.subsec_nanos();
    if total_seconds == 0 && subsecond_nanos == 0 {
        return "0s".to_owned();
    }
    let days = total_seconds / SECONDS_PER_DAY;
    let hours = total_seconds % SECONDS_PER_DAY / SECONDS_PER_HOUR;
    let minutes = total_seconds % SECONDS_PER_HOUR / SECONDS_PER_MINUTE;
    let seconds = total_seconds % SECONDS_PER_MINUTE;
    let millis = subsecond_nanos / NANOS_PER_MILLI;
    let nanos_below_milli = subsecond_nanos % NANOS_PER_MILLI;

    let mut text = String::new();
    for (amount, unit) in [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")] {
        if amount > 0 {
            text.push_str(&format!("{amount}{unit}"));
        }
    }
    if nanos_below_milli > 0 {
        let fraction = format!("{nanos_below_milli:06}");
        text.push_str(&format!("{millis}.{}ms", fraction.trim_end_matches('0')));
    } else if millis > 0 {
        text.push_str(&format!("{millis}ms"));
    }
    text
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

    const MINUTE: u64 = 60;
    const HOUR: u64 = 3_600;
    const DAY: u64 = 86_400;

    #[test]
    fn parses_durations() {
        let cases: &[(&str, Duration)] = &[
            ("30m", Duration::from_secs(30 * MINUTE)),
            ("6h", Duration::from_secs(6 * HOUR)),
            ("2d", Duration::from_secs(2 * DAY)),
            ("90s", Duration::from_secs(90)),
            ("1h30m", Duration::from_secs(HOUR + 30 * MINUTE)),
            ("30m1h", Duration::from_secs(HOUR + 30 * MINUTE)),
            ("500ms", Duration::from_millis(500)),
            ("1w", Duration::from_secs(7 * DAY)),
            ("1.5h", Duration::from_secs(HOUR + 30 * MINUTE)),
            (".5h", Duration::from_secs(30 * MINUTE)),
            ("1.h", Duration::from_secs(HOUR)),
            ("0s", Duration::ZERO),
            ("0ms", Duration::ZERO),
            ("  6h\n", Duration::from_secs(6 * HOUR)),
            (
                "1d2h3m4s5ms",
                Duration::new(DAY + 2 * HOUR + 3 * MINUTE + 4, 5_000_000),
            ),
            ("1.5ms", Duration::from_micros(1_500)),
            ("0.000001ms", Duration::from_nanos(1)),
            ("0.0000001ms", Duration::ZERO),
            (
                "0.333333333333333333333h",
                Duration::new(1_199, 999_999_999),
            ),
            (
                "0.99999999999999999999999999999999999999w",
                Duration::new(604_799, 999_999_999),
            ),
            (
                "1.0000000000000000000000000000000000001w",
                Duration::from_secs(604_800),
            ),
            ("18446744073709551615s", Duration::from_secs(u64::MAX)),
            (
                "00000000000000000000000000000000000001s",
                Duration::from_secs(1),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(*expected), "{text:?}");
        }
    }

    #[test]
    fn rejects_bad_durations_with_helpful_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "",
                "duration is empty; write a number and a unit, e.g. `30m`, `6h` or `1h30m`",
            ),
            (
                "30",
                "duration `30` has a number without a unit; add a unit, e.g. `30m`; units are ms, s, m, h, d (24h) and w (7d)",
            ),
            (
                "6hr",
                "duration `6hr` has unknown unit `hr`; did you mean `6h`? units are ms, s, m, h, d (24h) and w (7d)",
            ),
            (
                "1h30mins",
                "duration `1h30mins` has unknown unit `mins`; did you mean `1h30m`? units are ms, s, m, h, d (24h) and w (7d)",
            ),
            (
                "2D",
                "duration `2D` has unknown unit `D`; did you mean `2d`? units are ms, s, m, h, d (24h) and w (7d)",
            ),
            (
                "1hr30min",
                "duration `1hr30min` has unknown unit `hr`; did you mean `1h30m`? units are ms, s, m, h, d (24h) and w (7d)",
            ),
            (
                "5y",
                "duration `5y` has unknown unit `y`; units are ms, s, m, h, d (24h) and w (7d)",
            ),
            (
                "1h 30m",
                "duration `1h 30m` contains whitespace; write it without spaces, e.g. `1h30m`",
            ),
            (
                "-5m",
                "duration `-5m` is negative; durations must be zero or more, e.g. `0s` or `30m`",
            ),
            (
                "h",
                "duration `h` has a unit without a number before it; write e.g. `30m`, `6h` or `1h30m`",
            ),
            (
                "1.2.3h",
                "duration `1.2.3h` has a malformed number; write digits with at most one `.`, e.g. `1.5h`",
            ),
            (
                "18446744073709551616s",
                "duration `18446744073709551616s` is too large; durations must be under about 584 billion years",
            ),
        ];
        for (text, expected_message) in cases {
            assert_eq!(
                parse_duration(text).unwrap_err().to_string(),
                *expected_message,
                "{text:?}"
            );
        }
        for text in [
            ".h",
            "+5m",
            "1h-",
            "1hm",
            "1h30",
            "5µs",
            "1h_30m",
            "99999999999999999999999999999999999999999w",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn formats_compactly() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (Duration::from_secs(6 * HOUR), "6h"),
            (Duration::from_secs(HOUR + 30 * MINUTE), "1h30m"),
            (Duration::from_secs(2 * DAY), "2d"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1_500), "1s500ms"),
            (Duration::from_secs(14 * DAY), "14d"),
            (Duration::from_micros(1_500), "1.5ms"),
            (Duration::from_nanos(1), "0.000001ms"),
            (Duration::new(DAY + 1, 1), "1d1s0.000001ms"),
        ];
        for (duration, expected) in cases {
            assert_eq!(format_duration(*duration), *expected, "{duration:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC*") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn parse_never_panics_on_duration_like_text(text in "[-0-9.]{0,25}(ms|s|m|h|d|w|hr|H|[a-z]{0,3})([0-9.]{0,25}(ms|s|m|h|d|w)?)?") {
            if let Ok(duration) = parse_duration(&text) {
                prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
            }
        }

        #[test]
        fn format_then_parse_round_trips_whole_milliseconds(millis in any::<u64>()) {
            let duration = Duration::from_millis(millis);
            prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }

        #[test]
        fn format_then_parse_round_trips_every_duration(seconds in any::<u64>(), nanos in 0_u32..1_000_000_000) {
            let duration = Duration::new(seconds, nanos);
            prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
    }
}
