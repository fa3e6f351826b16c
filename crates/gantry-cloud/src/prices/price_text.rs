//! Price text from a feed to [`Money`].

use gantry_core::{Money, MoneyError};

/// Digits after the point that a micro-dollar holds.
const MICRO_DIGITS: usize = 6;

/// Parses a decimal dollar amount as feeds write it (`9.830400`, `0.00001`,
/// `0.01234567`); digits past the micro-dollar are rounded half away from
/// zero. `None` for anything that is not a plain decimal number.
pub(crate) fn parse_price(text: &str) -> Option<Money> {
    match Money::parse_dollars(text) {
        Ok(money) => Some(money),
        Err(MoneyError::TooPrecise { .. }) => round_to_micros(text.trim()),
        Err(_) => None,
    }
}

fn round_to_micros(text: &str) -> Option<Money> {
    let (integer, fraction) = text.split_once('.')?;
    let (kept, rest) = fraction.split_at(MICRO_DIGITS.min(fraction.len()));
    if !rest.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let truncated = Money::parse_dollars(&format!("{integer}.{kept}")).ok()?;
    let round_up = rest.chars().next().is_some_and(|digit| digit >= '5');
    if !round_up {
        return Some(truncated);
    }
    let step = if truncated.is_negative() || integer.trim_start().starts_with('-') {
        -1
    } else {
        1
    };
    truncated.checked_add(Money::from_micros(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_prices_parse_and_round_to_the_micro_dollar() {
        assert_eq!(parse_price("9.830400"), Some(Money::from_micros(9_830_400)));
        assert_eq!(parse_price("0.00001"), Some(Money::from_micros(10)));
        assert_eq!(parse_price("0.0123455"), Some(Money::from_micros(12_346)));
        assert_eq!(parse_price("0.0123454"), Some(Money::from_micros(12_345)));
        assert_eq!(parse_price("-0.0000005"), Some(Money::from_micros(-1)));
        assert_eq!(parse_price(" 1.5 "), Some(Money::from_micros(1_500_000)));
        for bad in ["", "abc", "1e3", "NaN", "1.2.3", "0.12345x7", "1,5"] {
            assert_eq!(parse_price(bad), None, "{bad:?}");
        }
    }
}
