//! Label and field selectors in their query-string form, parsed as
//! `k8s.io/apimachinery/pkg/labels` and `pkg/fields` parse them: equality
//! (`=`, `==`, `!=`), set-based (`in`, `notin`), existence (`key`, `!key`) and
//! `gt`/`lt` for labels; `=`, `==`, `!=` for fields. A selector that does not
//! parse is a 400, never a panic.

use std::collections::BTreeMap;

use crate::api_error::ApiError;

/// One label requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelRequirement {
    /// `key=value` / `key==value`.
    Equals(String, String),
    /// `key!=value` (true when the label is absent).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (true when absent).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
    /// `key>n`.
    GreaterThan(String, i64),
    /// `key<n`.
    LessThan(String, i64),
}

/// A parsed label selector: all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(text: &str) -> Result<LabelSelector, ApiError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(LabelSelector { requirements })
    }

    /// A selector from `matchLabels` only.
    pub fn from_match_labels(labels: &BTreeMap<String, String>) -> LabelSelector {
        LabelSelector {
            requirements: labels
                .iter()
                .map(|(key, value)| LabelRequirement::Equals(key.clone(), value.clone()))
                .collect(),
        }
    }

    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                LabelRequirement::Equals(key, value) => labels.get(key) == Some(value),
                LabelRequirement::NotEquals(key, value) => labels.get(key) != Some(value),
                LabelRequirement::In(key, values) => {
                    labels.get(key).is_some_and(|v| values.contains(v))
                }
                LabelRequirement::NotIn(key, values) => {
                    labels.get(key).is_none_or(|v| !values.contains(v))
                }
                LabelRequirement::Exists(key) => labels.contains_key(key),
                LabelRequirement::DoesNotExist(key) => !labels.contains_key(key),
                LabelRequirement::GreaterThan(key, bound) => labels
                    .get(key)
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *bound),
                LabelRequirement::LessThan(key, bound) => labels
                    .get(key)
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *bound),
            })
    }
}

fn selector_error(text: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: {why}: {text:?}"))
}

fn split_top_level(text: &str) -> Result<Vec<&str>, ApiError> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| selector_error(text, "unbalanced parentheses"))?;
            }
            ',' if depth == 0 => {
                parts.push(text.get(start..index).unwrap_or_default());
                start = index + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(selector_error(text, "unbalanced parentheses"));
    }
    parts.push(text.get(start..).unwrap_or_default());
    Ok(parts)
}

fn parse_requirement(part: &str) -> Result<LabelRequirement, ApiError> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key, part)?;
        return Ok(LabelRequirement::DoesNotExist(key.to_owned()));
    }
    for (operator, build) in [
        (
            "==",
            LabelRequirement::Equals as fn(String, String) -> LabelRequirement,
        ),
        ("!=", LabelRequirement::NotEquals),
        ("=", LabelRequirement::Equals),
    ] {
        if let Some((key, value)) = part.split_once(operator) {
            let (key, value) = (key.trim(), value.trim());
            check_key(key, part)?;
            check_value(value, part)?;
            return Ok(build(key.to_owned(), value.to_owned()));
        }
    }
    for (operator, greater) in [(">", true), ("<", false)] {
        if let Some((key, value)) = part.split_once(operator) {
            let key = key.trim();
            check_key(key, part)?;
            let bound = value.trim().parse::<i64>().map_err(|_| {
                selector_error(
                    part,
                    "for 'gt', 'lt' operators, the value must be an integer",
                )
            })?;
            return Ok(if greater {
                LabelRequirement::GreaterThan(key.to_owned(), bound)
            } else {
                LabelRequirement::LessThan(key.to_owned(), bound)
            });
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [key] => {
            check_key(key, part)?;
            Ok(LabelRequirement::Exists((*key).to_owned()))
        }
        [key, rest] => {
            check_key(key, part)?;
            let rest = rest.trim();
            let (negated, set) = if let Some(set) = rest.strip_prefix("notin") {
                (true, set)
            } else if let Some(set) = rest.strip_prefix("in") {
                (false, set)
            } else {
                return Err(selector_error(
                    part,
                    "found unexpected operator, expected one of =, ==, !=, in, notin, exists",
                ));
            };
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|set| set.strip_suffix(')'))
                .ok_or_else(|| {
                    selector_error(
                        part,
                        "found values without parentheses, expected ( after in/notin",
                    )
                })?;
            let mut values = Vec::new();
            for value in inner.split(',') {
                let value = value.trim();
                check_value(value, part)?;
                values.push(value.to_owned());
            }
            Ok(if negated {
                LabelRequirement::NotIn((*key).to_owned(), values)
            } else {
                LabelRequirement::In((*key).to_owned(), values)
            })
        }
        _ => Err(selector_error(part, "empty requirement")),
    }
}

fn check_key(key: &str, part: &str) -> Result<(), ApiError> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|prefix| {
        !prefix.is_empty()
            && prefix.len() <= 253
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
    });
    if name_ok && prefix_ok {
        Ok(())
    } else {
        Err(selector_error(
            part,
            &format!(
                "invalid label key {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
            ),
        ))
    }
}

fn check_value(value: &str, part: &str) -> Result<(), ApiError> {
    let ok = value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(selector_error(
            part,
            &format!(
                "invalid label value: {value:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
            ),
        ))
    }
}

/// One field requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Field label (`spec.nodeName`).
    pub field: String,
    /// Value.
    pub value: String,
    /// `!=` rather than `=`.
    pub negated: bool,
}

/// A parsed field selector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter, refusing fields outside `supported`
    /// (plus `metadata.name` and `metadata.namespace`), as upstream does.
    pub fn parse(text: &str, supported: &[&str]) -> Result<FieldSelector, ApiError> {
        let mut requirements = Vec::new();
        for part in split_unescaped(text, ',') {
            if part.trim().is_empty() {
                continue;
            }
            let (field, value, negated) = if let Some((field, value)) = split_operator(&part, "!=")
            {
                (field, value, true)
            } else if let Some((field, value)) = split_operator(&part, "==") {
                (field, value, false)
            } else if let Some((field, value)) = split_operator(&part, "=") {
                (field, value, false)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{text}'; can't understand '{part}'"
                )));
            };
            let field = field.trim().to_owned();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !supported.contains(&field.as_str())
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            requirements.push(FieldRequirement {
                field,
                value: unescape(&value),
                negated,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value required for `field` by an `=` requirement, if any (used to
    /// narrow lookups such as `metadata.name=x`).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|requirement| requirement.field == field && !requirement.negated)
            .map(|requirement| requirement.value.as_str())
    }

    /// Whether the object's field values satisfy every requirement; a field the
    /// object does not have reads as the empty string.
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|requirement| {
            let actual = lookup(&requirement.field).unwrap_or_default();
            (actual == requirement.value) != requirement.negated
        })
    }
}

fn split_unescaped(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for character in text.chars() {
        if escaped {
            current.push('\\');
            current.push(character);
            escaped = false;
        } else if character == '\\' {
            escaped = true;
        } else if character == separator {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(character);
        }
    }
    if escaped {
        current.push('\\');
    }
    parts.push(current);
    parts
}

fn split_operator(part: &str, operator: &str) -> Option<(String, String)> {
    // The first unescaped occurrence.
    let bytes = part.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes.get(index) == Some(&b'\\') {
            index += 2;
            continue;
        }
        if part
            .get(index..)
            .is_some_and(|rest| rest.starts_with(operator))
        {
            return Some((
                part.get(..index)?.to_owned(),
                part.get(index + operator.len()..)?.to_owned(),
            ));
        }
        index += 1;
    }
    None
}

fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for character in value.chars() {
        if escaped {
            out.push(character);
            escaped = false;
        } else if character == '\\' {
            escaped = true;
        } else {
            out.push(character);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_selectors_follow_upstream_semantics() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);
        let cases: &[Case<'_>] = &[
            ("app=web", &[("app", "web")], true),
            ("app==web", &[("app", "db")], false),
            ("app!=web", &[], true),
            ("app in (web, db)", &[("app", "db")], true),
            ("app notin (web,db)", &[], true),
            ("app notin (web,db)", &[("app", "web")], false),
            ("app", &[("app", "")], true),
            ("!app", &[("app", "x")], false),
            (
                "app=web,tier in (fe),!legacy",
                &[("app", "web"), ("tier", "fe")],
                true,
            ),
            ("gantry.dev/team=nlp", &[("gantry.dev/team", "nlp")], true),
            ("rank>2", &[("rank", "3")], true),
            ("", &[], true),
        ];
        for (text, pairs, expected) in cases {
            let selector = LabelSelector::parse(text).unwrap();
            assert_eq!(selector.matches(&labels(pairs)), *expected, "{text}");
        }
    }

    #[test]
    fn bad_label_selectors_are_400() {
        for text in [
            "app in web",
            "app=(",
            "app in (a",
            "a b c",
            "bad key!=x",
            "x=$$",
            "rank>x",
        ] {
            let error = LabelSelector::parse(text).unwrap_err();
            assert_eq!(error.code(), 400, "{text}");
        }
    }

    #[test]
    fn field_selectors_refuse_unknown_fields() {
        let selector = FieldSelector::parse(
            "spec.nodeName=n1,status.phase!=Failed",
            &["spec.nodeName", "status.phase"],
        )
        .unwrap();
        assert!(selector.matches(|f| match f {
            "spec.nodeName" => Some("n1".to_owned()),
            "status.phase" => Some("Running".to_owned()),
            _ => None,
        }));
        assert_eq!(
            FieldSelector::parse("spec.bogus=1", &[])
                .unwrap_err()
                .code(),
            400
        );
        assert_eq!(
            FieldSelector::parse("nonsense", &[]).unwrap_err().code(),
            400
        );
    }
}
