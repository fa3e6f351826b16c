//! Conversions of single values, shared by jobs and configs. Each returns
//! `None` after recording an error at the cursor.

use std::collections::BTreeMap;
use std::time::Duration;

use gantry_core::{
    Glob, GpuModel, Money, Quantity, TeamPath, check_dns1123_label, check_label_key,
    check_label_value, parse_duration, priority_class,
};

use super::cursor::Cursor;
use crate::image_reference::check_image_reference;
use crate::v1;

/// A required value: records "missing" when absent.
pub(crate) fn required<'w, T>(
    value: &'w Option<T>,
    cursor: &Cursor<'_>,
    what: &str,
) -> Option<&'w T> {
    if value.is_none() {
        cursor.missing(what);
    }
    value.as_ref()
}

pub(crate) fn dns_label(text: &str, cursor: &Cursor<'_>) -> Option<String> {
    match check_dns1123_label(text) {
        Ok(()) => Some(text.to_owned()),
        Err(error) => cursor.fail(error.to_string()),
    }
}

pub(crate) fn team_path(text: &str, cursor: &Cursor<'_>) -> Option<TeamPath> {
    match TeamPath::parse(text) {
        Ok(team) => Some(team),
        Err(error) => cursor.fail(error.to_string()),
    }
}

pub(crate) fn labels(
    map: &BTreeMap<String, String>,
    cursor: &Cursor<'_>,
    check_values: bool,
) -> BTreeMap<String, String> {
    for (key, value) in map {
        if let Err(error) = check_label_key(key) {
            cursor.key(key).error(error.to_string());
        }
        if check_values && let Err(error) = check_label_value(value) {
            cursor.field(key).error(error.to_string());
        }
    }
    map.clone()
}

/// CPU in millicores; must be positive.
pub(crate) fn cpu_millis(text: &v1::QuantityText, cursor: &Cursor<'_>) -> Option<u64> {
    let quantity = quantity(text, cursor)?;
    match quantity.to_milli_units_ceil() {
        Some(0) => cursor.fail("must be more than 0 CPU"),
        Some(millis) => Some(millis),
        None => cursor.fail(format!("`{}` is not a usable amount of CPU", text.0)),
    }
}

/// Memory in bytes; must be positive, and a bare small number is called out.
pub(crate) fn memory_bytes(text: &v1::QuantityText, cursor: &Cursor<'_>) -> Option<u64> {
    let quantity = quantity(text, cursor)?;
    match quantity.to_units_ceil() {
        Some(0) => cursor.fail("must be more than 0 bytes"),
        Some(bytes) if bytes < 1024 * 1024 => cursor.fail(format!(
            "`{}` is {bytes} bytes, less than 1Mi; did you mean `{}Gi`?",
            text.0,
            text.0.trim()
        )),
        Some(bytes) => Some(bytes),
        None => cursor.fail(format!("`{}` is not a usable amount of memory", text.0)),
    }
}

fn quantity(text: &v1::QuantityText, cursor: &Cursor<'_>) -> Option<Quantity> {
    match Quantity::parse(&text.0) {
        Ok(quantity) if quantity.is_negative() => cursor.fail(format!("`{}` is negative", text.0)),
        Ok(quantity) => Some(quantity),
        Err(error) => cursor.fail(error.to_string()),
    }
}

/// A positive duration.
pub(crate) fn duration(text: &v1::DurationText, cursor: &Cursor<'_>) -> Option<Duration> {
    match parse_duration(&text.0) {
        Ok(duration) if duration.is_zero() => cursor.fail("must be longer than 0s"),
        Ok(duration) => Some(duration),
        Err(error) => cursor.fail(error.to_string()),
    }
}

/// A positive amount of dollars.
pub(crate) fn dollars(text: &v1::DollarsText, cursor: &Cursor<'_>) -> Option<Money> {
    match Money::parse_dollars(&text.0) {
        Ok(money) if money.is_negative() => cursor.fail("must not be negative"),
        Ok(money) => Some(money),
        Err(error) => cursor.fail(error.to_string()),
    }
}

/// A priority: integer or class name.
pub(crate) fn priority(text: &v1::PriorityText, cursor: &Cursor<'_>) -> Option<u32> {
    let trimmed = text.0.trim();
    match trimmed {
        "low" => Some(priority_class::LOW),
        "normal" => Some(priority_class::NORMAL),
        "high" => Some(priority_class::HIGH),
        _ => match trimmed.parse::<i64>() {
            Ok(value) if (0..=i64::from(priority_class::MAX)).contains(&value) => {
                u32::try_from(value).ok()
            }
            Ok(value) => cursor.fail(format!(
                "priority {value} is out of range; use 0 to {} or low, normal, high",
                priority_class::MAX
            )),
            Err(_) => {
                let hint = gantry_core::nearest(trimmed, ["low", "normal", "high"]);
                match hint.first() {
                    Some(best) => cursor.fail(format!("unknown priority class `{trimmed}`; did you mean `{best}`?")),
                    None => cursor.fail(format!(
                        "`{trimmed}` is not a priority; use an integer (higher first) or low, normal, high"
                    )),
                }
            }
        },
    }
}

pub(crate) fn gpu_model(text: &str, cursor: &Cursor<'_>) -> Option<GpuModel> {
    match text.parse::<GpuModel>() {
        Ok(model) => Some(model),
        Err(error) => cursor.fail(error.to_string()),
    }
}

pub(crate) fn globs(patterns: &[String], cursor: &Cursor<'_>) -> Vec<Glob> {
    patterns
        .iter()
        .enumerate()
        .filter_map(|(index, pattern)| match Glob::parse(pattern) {
            Ok(glob) => Some(glob),
            Err(error) => cursor.index(index).fail(error.to_string()),
        })
        .collect()
}

pub(crate) fn image(text: &str, cursor: &Cursor<'_>) -> Option<String> {
    match check_image_reference(text) {
        Ok(()) => Some(text.to_owned()),
        Err(message) => cursor.fail(message),
    }
}

/// Environment variable names: C identifiers, and `GANTRY_` is ours.
pub(crate) fn env(map: &BTreeMap<String, String>, cursor: &Cursor<'_>) -> BTreeMap<String, String> {
    for name in map.keys() {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            cursor.key(name).error(format!(
                "`{name}` is not a valid environment variable name; use letters, digits and `_`, not starting with a digit"
            ));
        } else if name.starts_with("GANTRY_") {
            cursor.key(name).error(format!(
                "`{name}`: the GANTRY_ prefix is reserved for variables Gantry sets"
            ));
        }
    }
    map.clone()
}
