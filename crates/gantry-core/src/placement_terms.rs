//! The words placement is described in: clouds, capacity types, spot
//! policy, region and cluster globs.

use std::fmt;

/// A cloud provider, or your own hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cloud {
    /// Amazon Web Services.
    Aws,
    /// Google Cloud.
    Gcp,
    /// Microsoft Azure.
    Azure,
    /// On-premises clusters.
    Onprem,
}

impl Cloud {
    /// Every cloud, in a fixed order.
    pub const ALL: [Cloud; 4] = [Cloud::Aws, Cloud::Gcp, Cloud::Azure, Cloud::Onprem];

    /// The lowercase name used in specs and configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Gcp => "gcp",
            Cloud::Azure => "azure",
            Cloud::Onprem => "onprem",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(text: &str) -> Option<Cloud> {
        Cloud::ALL.into_iter().find(|cloud| cloud.as_str() == text)
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How capacity is bought.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CapacityType {
    /// Already paid for: reservations, committed use, owned hardware.
    Reserved,
    /// Pay as you go.
    OnDemand,
    /// Interruptible and cheaper.
    Spot,
}

impl CapacityType {
    /// Every capacity type.
    pub const ALL: [CapacityType; 3] = [
        CapacityType::Reserved,
        CapacityType::OnDemand,
        CapacityType::Spot,
    ];

    /// The name used in configs: `reserved`, `on-demand`, `spot`.
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::Reserved => "reserved",
            CapacityType::OnDemand => "on-demand",
            CapacityType::Spot => "spot",
        }
    }

    /// Parses the config name.
    pub fn parse(text: &str) -> Option<CapacityType> {
        CapacityType::ALL
            .into_iter()
            .find(|capacity| capacity.as_str() == text)
    }
}

impl fmt::Display for CapacityType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Whether a job may use spot capacity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpotPolicy {
    /// On-demand or reserved only.
    #[default]
    Never,
    /// Spot when it is cheaper after expected interruption losses.
    Allowed,
    /// Spot only.
    Required,
}

impl SpotPolicy {
    /// Does this policy accept capacity of `capacity_type`?
    pub fn accepts(self, capacity_type: CapacityType) -> bool {
        match (self, capacity_type) {
            (SpotPolicy::Never, CapacityType::Spot) => false,
            (SpotPolicy::Required, CapacityType::Spot) => true,
            (SpotPolicy::Required, _) => false,
            (_, _) => true,
        }
    }

    /// The spec name.
    pub fn as_str(self) -> &'static str {
        match self {
            SpotPolicy::Never => "never",
            SpotPolicy::Allowed => "allowed",
            SpotPolicy::Required => "required",
        }
    }
}

/// A glob over names (`us-*`, `europe-west?`): `*` any run, `?` one character.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Glob(String);

/// Why a glob was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// Nothing given.
    #[error("empty pattern")]
    Empty,
    /// A character that cannot appear in region or cluster names.
    #[error(
        "invalid character {character:?} in pattern `{pattern}`; use lowercase letters, digits, `-`, and the wildcards `*` and `?`"
    )]
    InvalidCharacter {
        /// The pattern.
        pattern: String,
        /// The offending character.
        character: char,
    },
}

impl Glob {
    /// Parses a glob of lowercase letters, digits, `-`, `*` and `?`.
    pub fn parse(pattern: &str) -> Result<Glob, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        if let Some(character) = pattern.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '*' | '?'))
        }) {
            return Err(GlobError::InvalidCharacter {
                pattern: pattern.to_owned(),
                character,
            });
        }
        Ok(Glob(pattern.to_owned()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let pattern: Vec<char> = self.0.chars().collect();
        let text: Vec<char> = name.chars().collect();
        // Iterative matcher with single-star backtracking: linear in practice, never exponential.
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match pattern.get(p) {
                Some('*') => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(&c) if c == '?' || Some(&c) == text.get(t) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((star_p, star_t)) => {
                        p = star_p + 1;
                        t = star_t + 1;
                        star = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern
            .get(p..)
            .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn globs_match_whole_names() {
        let cases = [
            ("us-*", "us-east-1", true),
            ("us-*", "eu-west-1", false),
            ("europe-west?", "europe-west4", true),
            ("europe-west?", "europe-west10", false),
            ("*", "anything", true),
            ("*-1", "us-east-1", true),
            ("*east*", "us-east-1", true),
            ("eastus", "eastus2", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                Glob::parse(pattern).unwrap().matches(name),
                expected,
                "{pattern} vs {name}"
            );
        }
    }

    #[test]
    fn globs_refuse_what_names_cannot_hold() {
        assert_eq!(Glob::parse(""), Err(GlobError::Empty));
        assert!(matches!(
            Glob::parse("US-*"),
            Err(GlobError::InvalidCharacter { character: 'U', .. })
        ));
        assert!(Glob::parse("us-[ab]").is_err());
    }

    #[test]
    fn spot_policy_accepts_the_right_capacity() {
        assert!(!SpotPolicy::Never.accepts(CapacityType::Spot));
        assert!(SpotPolicy::Never.accepts(CapacityType::Reserved));
        assert!(SpotPolicy::Allowed.accepts(CapacityType::Spot));
        assert!(SpotPolicy::Required.accepts(CapacityType::Spot));
        assert!(!SpotPolicy::Required.accepts(CapacityType::OnDemand));
    }
}
