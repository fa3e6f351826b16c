//! Kubernetes name syntax: DNS-1123 labels and subdomains, label keys and values.
//!
//! The rules are Kubernetes' own (`k8s.io/apimachinery/pkg/util/validation`):
//! - DNS-1123 label: 1 to 63 characters, lowercase `a-z`, digits and `-`, starting
//!   and ending with a letter or digit.
//! - DNS-1123 subdomain: 1 to 253 characters, DNS-1123 label characters joined by
//!   `.`; every `.`-separated part is non-empty and starts and ends with a letter or
//!   digit.
//! - Label key: an optional DNS-1123 subdomain prefix and `/`, then a name of 1 to
//!   63 characters from `A-Z a-z 0-9 - _ .`, starting and ending with a letter or
//!   digit.
//! - Label value: empty, or the same rules as a label key's name.
//!
//! Invariants:
//! - Each check reports the first rule broken, in the order: empty, too long,
//!   character, start, end; errors name the rule and, where a simple fix (lowercase,
//!   `_` to `-`, trimming) gives a valid name, suggest it. A suggestion is always
//!   itself valid.
//! - Nothing here panics, whatever the input.

use std::fmt;

/// Longest DNS-1123 label, label name or label value.
pub const MAX_LABEL_LENGTH: usize = 63;
/// Longest DNS-1123 subdomain.
pub const MAX_SUBDOMAIN_LENGTH: usize = 253;

/// What sort of name was being checked, so that errors can say which rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// A DNS-1123 label (most Kubernetes object names).
    Dns1123Label,
    /// A DNS-1123 subdomain.
    Dns1123Subdomain,
    /// The prefix of a label key, before the `/`.
    LabelKeyPrefix,
    /// The name of a label key, after the optional `/`.
    LabelKeyName,
    /// A label value.
    LabelValue,
    /// A Gantry job id: a DNS-1123 label that starts with a letter.
    JobId,
    /// One `/`-separated part of a Gantry team path: a DNS-1123 label.
    TeamName,
}

impl NameKind {
    /// The longest name of this kind.
    pub const fn max_length(self) -> usize {
        match self {
            NameKind::Dns1123Subdomain | NameKind::LabelKeyPrefix => MAX_SUBDOMAIN_LENGTH,
            NameKind::Dns1123Label
            | NameKind::LabelKeyName
            | NameKind::LabelValue
            | NameKind::JobId
            | NameKind::TeamName => MAX_LABEL_LENGTH,
        }
    }

    const fn is_label_syntax(self) -> bool {
        matches!(self, NameKind::LabelKeyName | NameKind::LabelValue)
    }

    const fn is_subdomain_syntax(self) -> bool {
        matches!(self, NameKind::Dns1123Subdomain | NameKind::LabelKeyPrefix)
    }

    fn allows_character(self, character: char) -> bool {
        if self.is_label_syntax() {
            character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.')
        } else {
            character.is_ascii_lowercase()
                || character.is_ascii_digit()
                || character == '-'
                || (self.is_subdomain_syntax() && character == '.')
        }
    }

    fn allows_first_character(self, character: char) -> bool {
        match self {
            NameKind::JobId => character.is_ascii_lowercase(),
            NameKind::LabelKeyName | NameKind::LabelValue => character.is_ascii_alphanumeric(),
            _ => character.is_ascii_lowercase() || character.is_ascii_digit(),
        }
    }

    fn allows_last_character(self, character: char) -> bool {
        if self.is_label_syntax() {
            character.is_ascii_alphanumeric()
        } else {
            character.is_ascii_lowercase() || character.is_ascii_digit()
        }
    }

    /// The characters this kind of name may contain, in words.
    pub const fn allowed_characters(self) -> &'static str {
        match self {
            NameKind::LabelKeyName | NameKind::LabelValue => "letters, digits, `-`, `_` and `.`",
            NameKind::Dns1123Subdomain | NameKind::LabelKeyPrefix => {
                "lowercase letters (a-z), digits, `-` and `.`"
            }
            NameKind::Dns1123Label | NameKind::JobId | NameKind::TeamName => {
                "lowercase letters (a-z), digits and `-`"
            }
        }
    }

    /// What this kind of name must start with, in words.
    pub const fn start_rule(self) -> &'static str {
        match self {
            NameKind::JobId => "a lowercase letter",
            NameKind::LabelKeyName | NameKind::LabelValue => "a letter or digit",
            _ => "a lowercase letter or digit",
        }
    }

    /// What this kind of name must end with, in words.
    pub const fn end_rule(self) -> &'static str {
        match self {
            NameKind::LabelKeyName | NameKind::LabelValue => "a letter or digit",
            _ => "a lowercase letter or digit",
        }
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            NameKind::Dns1123Label => "name",
            NameKind::Dns1123Subdomain => "DNS subdomain name",
            NameKind::LabelKeyPrefix => "label key prefix",
            NameKind::LabelKeyName => "label key",
            NameKind::LabelValue => "label value",
            NameKind::JobId => "job id",
            NameKind::TeamName => "team name",
        })
    }
}

/// Why a text breaks Kubernetes name rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("{kind} is empty; it needs 1 to {} characters: {}", kind.max_length(), kind.allowed_characters())]
    Empty {
        /// What was being checked.
        kind: NameKind,
    },
    /// The name is longer than allowed.
    #[error("{kind} `{text}` is {length} characters long; at most {} are allowed", kind.max_length())]
    TooLong {
        /// What was being checked.
        kind: NameKind,
        /// The text as given.
        text: String,
        /// Its length in characters.
        length: usize,
    },
    /// The name contains a character the rules do not allow.
    #[error(
        "{kind} `{text}` contains {}; use only {}{}",
        describe_character(*character),
        kind.allowed_characters(),
        did_you_mean(suggestion.as_deref())
    )]
    InvalidCharacter {
        /// What was being checked.
        kind: NameKind,
        /// The text as given.
        text: String,
        /// The first character that is not allowed.
        character: char,
        /// A corrected, valid name, when one is obvious.
        suggestion: Option<String>,
    },
    /// The name starts with a character it may not start with.
    #[error("{kind} `{text}` must start with {}{}", kind.start_rule(), did_you_mean(suggestion.as_deref()))]
    BadStart {
        /// What was being checked.
        kind: NameKind,
        /// The text as given.
        text: String,
        /// A corrected, valid name, when one is obvious.
        suggestion: Option<String>,
    },
    /// The name ends with a character it may not end with.
    #[error("{kind} `{text}` must end with {}{}", kind.end_rule(), did_you_mean(suggestion.as_deref()))]
    BadEnd {
        /// What was being checked.
        kind: NameKind,
        /// The text as given.
        text: String,
        /// A corrected, valid name, when one is obvious.
        suggestion: Option<String>,
    },
    /// A `.`-separated part of a subdomain is empty or does not start and end with a
    /// letter or digit.
    #[error(
        "{kind} `{text}` has the part `{part}`; every `.`-separated part must be non-empty and start and end with a lowercase letter or digit"
    )]
    BadSubdomainPart {
        /// What was being checked.
        kind: NameKind,
        /// The text as given.
        text: String,
        /// The offending part (may be empty).
        part: String,
    },
    /// A label key has more than one `/`.
    #[error(
        "label key `{text}` has more than one `/`; a label key is an optional DNS subdomain prefix and `/`, then a name, e.g. `gantry.dev/team` or `team`"
    )]
    LabelKeyTooManySlashes {
        /// The text as given.
        text: String,
    },
}

fn describe_character(character: char) -> String {
    if character.is_ascii_uppercase() {
        format!("the uppercase letter `{character}`")
    } else if character == ' ' {
        "a space".to_owned()
    } else if character.is_whitespace() || character.is_control() {
        format!("the character {character:?}")
    } else {
        format!("`{character}`")
    }
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |suggestion| {
        format!(" (did you mean `{suggestion}`?)")
    })
}

/// Checks a DNS-1123 label: 1 to 63 characters, lowercase `a-z`, digits and `-`,
/// starting and ending with a letter or digit.
pub fn check_dns1123_label(text: &str) -> Result<(), NameError> {
    check_name(text, NameKind::Dns1123Label)
}

/// Checks a DNS-1123 subdomain: 1 to 253 characters, lowercase `a-z`, digits, `-`
/// and `.`, where every `.`-separated part starts and ends with a letter or digit.
pub fn check_dns1123_subdomain(text: &str) -> Result<(), NameError> {
    check_name(text, NameKind::Dns1123Subdomain)
}

/// Checks a Kubernetes label key: `[prefix/]name`, the prefix a DNS-1123 subdomain,
/// the name 1 to 63 characters from `A-Z a-z 0-9 - _ .` with a letter or digit at
/// each end.
pub fn check_label_key(text: &str) -> Result<(), NameError> {
    let mut parts = text.splitn(3, '/');
    let first = parts.next().unwrap_or_default();
    match (parts.next(), parts.next()) {
        (None, _) => check_name(first, NameKind::LabelKeyName),
        (Some(name), None) => {
            check_name(first, NameKind::LabelKeyPrefix)?;
            check_name(name, NameKind::LabelKeyName)
        }
        (Some(_), Some(_)) => Err(NameError::LabelKeyTooManySlashes {
            text: text.to_owned(),
        }),
    }
}

/// Checks a Kubernetes label value: empty, or 1 to 63 characters from
/// `A-Z a-z 0-9 - _ .` with a letter or digit at each end.
pub fn check_label_value(text: &str) -> Result<(), NameError> {
    if text.is_empty() {
        return Ok(());
    }
    check_name(text, NameKind::LabelValue)
}

/// Checks `text` against the rules of `kind`.
pub(crate) fn check_name(text: &str, kind: NameKind) -> Result<(), NameError> {
    check_name_without_suggestion(text, kind).map_err(|error| with_suggestion(error, text, kind))
}

fn check_name_without_suggestion(text: &str, kind: NameKind) -> Result<(), NameError> {
    let length = text.chars().count();
    if length == 0 {
        return Err(NameError::Empty { kind });
    }
    if length > kind.max_length() {
        return Err(NameError::TooLong {
            kind,
            text: text.to_owned(),
            length,
        });
    }
    if let Some(character) = text
        .chars()
        .find(|character| !kind.allows_character(*character))
    {
        return Err(NameError::InvalidCharacter {
            kind,
            text: text.to_owned(),
            character,
            suggestion: None,
        });
    }
    if !text
        .chars()
        .next()
        .is_some_and(|first| kind.allows_first_character(first))
    {
        return Err(NameError::BadStart {
            kind,
            text: text.to_owned(),
            suggestion: None,
        });
    }
    if !text
        .chars()
        .last()
        .is_some_and(|last| kind.allows_last_character(last))
    {
        return Err(NameError::BadEnd {
            kind,
            text: text.to_owned(),
            suggestion: None,
        });
    }
    if kind.is_subdomain_syntax() {
        let bad_part = text.split('.').find(|part| {
            !(part.starts_with(|c: char| kind.allows_last_character(c))
                && part.ends_with(|c: char| kind.allows_last_character(c)))
        });
        if let Some(part) = bad_part {
            return Err(NameError::BadSubdomainPart {
                kind,
                text: text.to_owned(),
                part: part.to_owned(),
            });
        }
    }
    Ok(())
}

/// Adds an obvious fix to a character, start or end error, when there is one.
fn with_suggestion(error: NameError, text: &str, kind: NameKind) -> NameError {
    let suggestion = || {
        obvious_fix(text, kind).filter(|fixed| {
            !fixed.is_empty() && fixed != text && check_name_without_suggestion(fixed, kind).is_ok()
        })
    };
    match error {
        NameError::InvalidCharacter {
            kind,
            text,
            character,
            ..
        } => NameError::InvalidCharacter {
            kind,
            text,
            character,
            suggestion: suggestion(),
        },
        NameError::BadStart { kind, text, .. } => NameError::BadStart {
            kind,
            text,
            suggestion: suggestion(),
        },
        NameError::BadEnd { kind, text, .. } => NameError::BadEnd {
            kind,
            text,
            suggestion: suggestion(),
        },
        other => other,
    }
}

/// Lowercases (where the kind needs it), turns separators (`_`, ` `, `.`, `/`) that
/// the kind does not allow into `-`, and trims punctuation from both ends;
/// `None` when some other character would have to be dropped.
fn obvious_fix(text: &str, kind: NameKind) -> Option<String> {
    let mut fixed = String::with_capacity(text.len());
    for character in text.chars() {
        let character = if kind.is_label_syntax() {
            character
        } else {
            character.to_ascii_lowercase()
        };
        if kind.allows_character(character) {
            fixed.push(character);
        } else if matches!(character, '_' | ' ' | '.' | '/') {
            fixed.push('-');
        } else {
            return None;
        }
    }
    // Trim only punctuation: dropping a letter or digit would change the name.
    Some(
        fixed
            .trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_owned(),
    )
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

    #[test]
    fn dns1123_labels() {
        let long_valid = "a".repeat(63);
        let too_long = "a".repeat(64);
        let valid = [
            "a",
            "0",
            "abc",
            "a-b",
            "a--b",
            "1abc",
            "abc1",
            long_valid.as_str(),
        ];
        for text in valid {
            assert_eq!(check_dns1123_label(text), Ok(()), "{text:?}");
        }
        let cases: &[(&str, &str)] = &[
            (
                "",
                "name is empty; it needs 1 to 63 characters: lowercase letters (a-z), digits and `-`",
            ),
            (
                too_long.as_str(),
                "name `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` is 64 characters long; at most 63 are allowed",
            ),
            (
                "My_Job",
                "name `My_Job` contains the uppercase letter `M`; use only lowercase letters (a-z), digits and `-` (did you mean `my-job`?)",
            ),
            (
                "my_job",
                "name `my_job` contains `_`; use only lowercase letters (a-z), digits and `-` (did you mean `my-job`?)",
            ),
            (
                "my job",
                "name `my job` contains a space; use only lowercase letters (a-z), digits and `-` (did you mean `my-job`?)",
            ),
            (
                "a.b",
                "name `a.b` contains `.`; use only lowercase letters (a-z), digits and `-` (did you mean `a-b`?)",
            ),
            (
                "-abc",
                "name `-abc` must start with a lowercase letter or digit (did you mean `abc`?)",
            ),
            (
                "abc-",
                "name `abc-` must end with a lowercase letter or digit (did you mean `abc`?)",
            ),
            ("-", "name `-` must start with a lowercase letter or digit"),
            (
                "ünï",
                "name `ünï` contains `ü`; use only lowercase letters (a-z), digits and `-`",
            ),
        ];
        for (text, expected_message) in cases {
            assert_eq!(
                check_dns1123_label(text).unwrap_err().to_string(),
                *expected_message,
                "{text:?}"
            );
        }
    }

    #[test]
    fn dns1123_subdomains() {
        let long_valid = format!("{}.{}", "a".repeat(126), "b".repeat(126));
        for text in [
            "a",
            "gantry.dev",
            "a.b.c",
            "a-1.b-2",
            long_valid.as_str(),
            &"a".repeat(100),
        ] {
            assert_eq!(check_dns1123_subdomain(text), Ok(()), "{text:?}");
        }
        let cases: &[(&str, &str)] = &[
            (
                "a..b",
                "DNS subdomain name `a..b` has the part ``; every `.`-separated part must be non-empty and start and end with a lowercase letter or digit",
            ),
            (
                "a.-b",
                "DNS subdomain name `a.-b` has the part `-b`; every `.`-separated part must be non-empty and start and end with a lowercase letter or digit",
            ),
            (
                ".a",
                "DNS subdomain name `.a` must start with a lowercase letter or digit (did you mean `a`?)",
            ),
            (
                "Gantry.Dev",
                "DNS subdomain name `Gantry.Dev` contains the uppercase letter `G`; use only lowercase letters (a-z), digits, `-` and `.` (did you mean `gantry.dev`?)",
            ),
        ];
        for (text, expected_message) in cases {
            assert_eq!(
                check_dns1123_subdomain(text).unwrap_err().to_string(),
                *expected_message,
                "{text:?}"
            );
        }
        assert!(matches!(
            check_dns1123_subdomain(&"a".repeat(254)),
            Err(NameError::TooLong { length: 254, .. })
        ));
    }

    #[test]
    fn label_keys() {
        for text in [
            "team",
            "gantry.dev/job-id",
            "app.kubernetes.io/managed-by",
            "nvidia.com/gpu.product",
            "Team_Name.v2",
            "a",
            "kubernetes.io/hostname",
        ] {
            assert_eq!(check_label_key(text), Ok(()), "{text:?}");
        }
        let cases: &[(&str, &str)] = &[
            (
                "",
                "label key is empty; it needs 1 to 63 characters: letters, digits, `-`, `_` and `.`",
            ),
            (
                "/team",
                "label key prefix is empty; it needs 1 to 253 characters: lowercase letters (a-z), digits, `-` and `.`",
            ),
            (
                "gantry.dev/",
                "label key is empty; it needs 1 to 63 characters: letters, digits, `-`, `_` and `.`",
            ),
            (
                "a/b/c",
                "label key `a/b/c` has more than one `/`; a label key is an optional DNS subdomain prefix and `/`, then a name, e.g. `gantry.dev/team` or `team`",
            ),
            (
                "Gantry.dev/team",
                "label key prefix `Gantry.dev` contains the uppercase letter `G`; use only lowercase letters (a-z), digits, `-` and `.` (did you mean `gantry.dev`?)",
            ),
            (
                "gantry.dev/team name",
                "label key `team name` contains a space; use only letters, digits, `-`, `_` and `.` (did you mean `team-name`?)",
            ),
            (
                "_team",
                "label key `_team` must start with a letter or digit (did you mean `team`?)",
            ),
        ];
        for (text, expected_message) in cases {
            assert_eq!(
                check_label_key(text).unwrap_err().to_string(),
                *expected_message,
                "{text:?}"
            );
        }
    }

    #[test]
    fn label_values() {
        for text in ["", "a", "sft-v3", "Team_A.1", &"x".repeat(63)] {
            assert_eq!(check_label_value(text), Ok(()), "{text:?}");
        }
        let cases: &[(&str, &str)] = &[
            (
                "a/b",
                "label value `a/b` contains `/`; use only letters, digits, `-`, `_` and `.` (did you mean `a-b`?)",
            ),
            (
                "a\u{e9}",
                "label value `a\u{e9}` contains `\u{e9}`; use only letters, digits, `-`, `_` and `.`",
            ),
            (
                "v3.",
                "label value `v3.` must end with a letter or digit (did you mean `v3`?)",
            ),
            ("-", "label value `-` must start with a letter or digit"),
        ];
        for (text, expected_message) in cases {
            assert_eq!(
                check_label_value(text).unwrap_err().to_string(),
                *expected_message,
                "{text:?}"
            );
        }
        assert!(matches!(
            check_label_value(&"x".repeat(64)),
            Err(NameError::TooLong { .. })
        ));
    }

    proptest! {
        #[test]
        fn checks_never_panic_and_suggestions_are_valid(text in "\\PC{0,80}") {
            for (kind, result) in [
                (NameKind::Dns1123Label, check_dns1123_label(&text)),
                (NameKind::Dns1123Subdomain, check_dns1123_subdomain(&text)),
                (NameKind::LabelValue, check_label_value(&text)),
            ] {
                if let Err(
                    NameError::InvalidCharacter { suggestion: Some(suggestion), .. }
                    | NameError::BadStart { suggestion: Some(suggestion), .. }
                    | NameError::BadEnd { suggestion: Some(suggestion), .. },
                ) = result
                {
                    prop_assert_eq!(check_name(&suggestion, kind), Ok(()), "{:?} -> {:?}", text, suggestion);
                }
            }
            let _ = check_label_key(&text);
        }

        #[test]
        fn generated_dns_labels_are_accepted(text in "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?") {
            prop_assert_eq!(check_dns1123_label(&text), Ok(()));
            prop_assert_eq!(check_dns1123_subdomain(&text), Ok(()));
            prop_assert_eq!(check_label_value(&text), Ok(()));
            prop_assert_eq!(check_label_key(&text), Ok(()));
        }
    }
}
