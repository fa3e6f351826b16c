//! Identifiers users see: job ids and team paths.
//!
//! Invariants:
//! - A [`JobId`] is a DNS-1123 label (1 to 63 characters of `a-z`, `0-9`, `-`,
//!   ending with a letter or digit) that starts with a letter, so it can be used as
//!   is in Kubernetes object names and label values.
//! - A [`TeamPath`] is 1 to [`MAX_TEAM_DEPTH`] DNS-1123 labels joined by single `/`,
//!   root first (`org/research/vision`); no leading, trailing or doubled `/`.
//! - Both can only be built through their checking constructors, so every value in
//!   memory is valid. Nothing here panics, whatever the input.

use std::fmt;
use std::str::FromStr;

use crate::names::{NameError, NameKind, check_name};

/// Most levels a team path may have.
pub const MAX_TEAM_DEPTH: usize = 8;

/// Why a text is not a valid job id or team path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The job id breaks a naming rule; the inner error says which.
    #[error(transparent)]
    InvalidJobId(NameError),
    /// The team path is empty.
    #[error(
        "team path is empty; write a team name such as `nlp`, or a nested one such as `org/nlp`"
    )]
    EmptyTeamPath,
    /// The team path has an empty level (leading, trailing or doubled `/`).
    #[error(
        "team path `{text}` has an empty level; write team names separated by single `/`, e.g. `org/nlp`"
    )]
    EmptyTeamLevel {
        /// The text as given.
        text: String,
    },
    /// The team path has too many levels.
    #[error("team path `{text}` has {depth} levels; at most {MAX_TEAM_DEPTH} are allowed")]
    TeamPathTooDeep {
        /// The text as given.
        text: String,
        /// How many levels it has.
        depth: usize,
    },
    /// One level of the team path breaks a naming rule.
    #[error("team path `{text}` is invalid: {problem}")]
    InvalidTeamName {
        /// The text as given.
        text: String,
        /// The rule the level breaks.
        problem: NameError,
    },
}

/// A job's id: a lowercase DNS-1123 label that starts with a letter, e.g.
/// `llama-8b-sft-7f3k2`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(String);

impl JobId {
    /// Checks and wraps a job id: 1 to 63 characters of `a-z`, `0-9` and `-`,
    /// starting with a letter and ending with a letter or digit.
    pub fn new(text: impl Into<String>) -> Result<JobId, IdError> {
        let text = text.into();
        check_name(&text, NameKind::JobId).map_err(IdError::InvalidJobId)?;
        Ok(JobId(text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl FromStr for JobId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<JobId, IdError> {
        JobId::new(text)
    }
}

impl AsRef<str> for JobId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A team's place in the team tree, root first: `nlp`, `org/nlp`,
/// `org/research/vision`. Quotas nest along it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TeamPath(String);

impl TeamPath {
    /// Checks and wraps a team path: 1 to 8 DNS-1123 labels joined by `/`.
    pub fn parse(text: &str) -> Result<TeamPath, IdError> {
        if text.is_empty() {
            return Err(IdError::EmptyTeamPath);
        }
        let depth = text.split('/').count();
        if text.split('/').any(str::is_empty) {
            return Err(IdError::EmptyTeamLevel {
                text: text.to_owned(),
            });
        }
        if depth > MAX_TEAM_DEPTH {
            return Err(IdError::TeamPathTooDeep {
                text: text.to_owned(),
                depth,
            });
        }
        for team_name in text.split('/') {
            check_name(team_name, NameKind::TeamName).map_err(|problem| {
                IdError::InvalidTeamName {
                    text: text.to_owned(),
                    problem,
                }
            })?;
        }
        Ok(TeamPath(text.to_owned()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The team names from the root down to this team.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// How many levels the path has: 1 for a root team.
    pub fn depth(&self) -> usize {
        self.segments().count()
    }

    /// This team's own name, the last level: `vision` for `org/research/vision`.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The enclosing team, or `None` for a root team.
    pub fn parent(&self) -> Option<TeamPath> {
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| TeamPath(parent.to_owned()))
    }

    /// Every enclosing team and then this one, root first:
    /// `org`, `org/research`, `org/research/vision`.
    pub fn ancestors_and_self(&self) -> Vec<TeamPath> {
        let mut paths: Vec<TeamPath> = self
            .0
            .match_indices('/')
            .map(|(index, _)| TeamPath(self.0.get(..index).unwrap_or_default().to_owned()))
            .collect();
        paths.push(self.clone());
        paths
    }

    /// Whether `other` lies strictly below this team (`org` is an ancestor of
    /// `org/nlp`, but not of itself nor of `organic`).
    pub fn is_ancestor_of(&self, other: &TeamPath) -> bool {
        other
            .0
            .strip_prefix(self.0.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Whether `other` is this team or lies below it.
    pub fn is_ancestor_or_self_of(&self, other: &TeamPath) -> bool {
        self == other || self.is_ancestor_of(other)
    }
}

impl fmt::Display for TeamPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl FromStr for TeamPath {
    type Err = IdError;

    fn from_str(text: &str) -> Result<TeamPath, IdError> {
        TeamPath::parse(text)
    }
}

impl AsRef<str> for TeamPath {
    fn as_ref(&self) -> &str {
        &self.0
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

    fn team(text: &str) -> TeamPath {
        TeamPath::parse(text).unwrap()
    }

    #[test]
    fn job_ids() {
        let longest = format!("a{}", "1".repeat(62));
        for text in ["a", "llama-8b-sft", "job-1", "a-b-c", longest.as_str()] {
            let id = JobId::new(text).unwrap();
            assert_eq!(id.as_str(), text);
            assert_eq!(id.to_string(), text);
            assert_eq!(text.parse::<JobId>(), Ok(id));
        }
        let cases: &[(&str, &str)] = &[
            (
                "",
                "job id is empty; it needs 1 to 63 characters: lowercase letters (a-z), digits and `-`",
            ),
            ("1job", "job id `1job` must start with a lowercase letter"),
            (
                "-job",
                "job id `-job` must start with a lowercase letter (did you mean `job`?)",
            ),
            (
                "job-",
                "job id `job-` must end with a lowercase letter or digit (did you mean `job`?)",
            ),
            (
                "Llama_SFT",
                "job id `Llama_SFT` contains the uppercase letter `L`; use only lowercase letters (a-z), digits and `-` (did you mean `llama-sft`?)",
            ),
        ];
        for (text, expected_message) in cases {
            assert_eq!(
                JobId::new(*text).unwrap_err().to_string(),
                *expected_message,
                "{text:?}"
            );
        }
        assert!(matches!(
            JobId::new("a".repeat(64)),
            Err(IdError::InvalidJobId(NameError::TooLong { length: 64, .. }))
        ));
    }

    #[test]
    fn team_paths_parse() {
        for text in [
            "nlp",
            "org/nlp",
            "org/research/vision",
            "a/b/c/d/e/f/g/h",
            "team-1/x",
        ] {
            assert_eq!(team(text).as_str(), text);
            assert_eq!(text.parse::<TeamPath>().unwrap().to_string(), text);
        }
        let cases: &[(&str, &str)] = &[
            (
                "",
                "team path is empty; write a team name such as `nlp`, or a nested one such as `org/nlp`",
            ),
            (
                "/nlp",
                "team path `/nlp` has an empty level; write team names separated by single `/`, e.g. `org/nlp`",
            ),
            (
                "org/",
                "team path `org/` has an empty level; write team names separated by single `/`, e.g. `org/nlp`",
            ),
            (
                "org//nlp",
                "team path `org//nlp` has an empty level; write team names separated by single `/`, e.g. `org/nlp`",
            ),
            (
                "a/b/c/d/e/f/g/h/i",
                "team path `a/b/c/d/e/f/g/h/i` has 9 levels; at most 8 are allowed",
            ),
            (
                "org/NLP",
                "team path `org/NLP` is invalid: team name `NLP` contains the uppercase letter `N`; use only lowercase letters (a-z), digits and `-` (did you mean `nlp`?)",
            ),
            (
                "org/my team",
                "team path `org/my team` is invalid: team name `my team` contains a space; use only lowercase letters (a-z), digits and `-` (did you mean `my-team`?)",
            ),
        ];
        for (text, expected_message) in cases {
            assert_eq!(
                TeamPath::parse(text).unwrap_err().to_string(),
                *expected_message,
                "{text:?}"
            );
        }
    }

    #[test]
    fn team_path_navigation() {
        let vision = team("org/research/vision");
        assert_eq!(
            vision.segments().collect::<Vec<_>>(),
            ["org", "research", "vision"]
        );
        assert_eq!(vision.depth(), 3);
        assert_eq!(vision.name(), "vision");
        assert_eq!(vision.parent(), Some(team("org/research")));
        assert_eq!(team("org").parent(), None);
        assert_eq!(team("org").name(), "org");
        assert_eq!(
            vision.ancestors_and_self(),
            vec![
                team("org"),
                team("org/research"),
                team("org/research/vision")
            ]
        );
        assert_eq!(team("nlp").ancestors_and_self(), vec![team("nlp")]);

        let cases: &[(&str, &str, bool, bool)] = &[
            ("org", "org/nlp", true, true),
            ("org", "org/research/vision", true, true),
            ("org/research", "org/research/vision", true, true),
            ("org", "org", false, true),
            ("org/nlp", "org", false, false),
            ("org", "organic", false, false),
            ("org", "organic/nlp", false, false),
            ("org/nlp", "org/nlp-2", false, false),
        ];
        for (ancestor, descendant, strict, inclusive) in cases {
            assert_eq!(
                team(ancestor).is_ancestor_of(&team(descendant)),
                *strict,
                "{ancestor} < {descendant}"
            );
            assert_eq!(
                team(ancestor).is_ancestor_or_self_of(&team(descendant)),
                *inclusive,
                "{ancestor} <= {descendant}"
            );
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,100}") {
            let _ = JobId::new(text.as_str());
            let _ = TeamPath::parse(&text);
        }

        #[test]
        fn ancestors_are_consistent(text in "[a-z]{1,3}(/[a-z]{1,3}){0,7}") {
            let path = team(&text);
            let chain = path.ancestors_and_self();
            prop_assert_eq!(chain.len(), path.depth());
            prop_assert_eq!(chain.last(), Some(&path));
            for ancestor in &chain[..chain.len() - 1] {
                prop_assert!(ancestor.is_ancestor_of(&path));
                prop_assert!(!path.is_ancestor_of(ancestor));
            }
            for pair in chain.windows(2) {
                prop_assert_eq!(pair[1].parent(), Some(pair[0].clone()));
            }
        }
    }
}
