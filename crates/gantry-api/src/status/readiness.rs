//! `/readyz`: is this daemon ready for work? Three checks, one text line each
//! (and one line per cluster):
//!
//! 1. the store answers (its job counts came back within the timeout);
//! 2. the control loop has recovered (read the live jobs back and told the
//!    executor what should run);
//! 3. at least one cluster is not Lost.
//!
//! Then one line per cloud API the daemon calls (`ok:` or `degraded:`): a
//! failing one degrades the daemon (it schedules on the last known prices),
//! it never makes it unready.
//!
//! Lines start with `ok:`, `not ready:`, `degraded:` or `lost:`; a degraded
//! or lost cluster is named, with its reason, whether or not the daemon is
//! ready. Names and reasons are escaped so that each check stays one line.

use std::fmt::Write as _;

use gantry_control::driver::StatusSnapshot;
use gantry_kube::Health;

use super::StoreProblem;
use super::clouds::CloudApiHealth;

/// The outcome of the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Every check passed.
    pub ready: bool,
    /// One line per check, without line breaks.
    pub lines: Vec<String>,
}

impl Readiness {
    /// The lines as a text body.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// A text on one line: control characters (line breaks above all) escaped.
pub(crate) fn one_line(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_control() {
            escaped.extend(character.escape_default());
        } else {
            escaped.push(character);
        }
    }
    escaped
}

/// Runs the checks over a snapshot and the store's answer.
pub fn check(
    snapshot: &StatusSnapshot,
    store: Result<(), &StoreProblem>,
    clouds: &[CloudApiHealth],
) -> Readiness {
    let mut lines = Vec::new();
    let mut ready = true;
    match store {
        Ok(()) => lines.push("ok: store answers".to_owned()),
        Err(problem) => {
            ready = false;
            lines.push(format!(
                "not ready: store {}",
                one_line(&problem.to_string())
            ));
        }
    }
    if snapshot.recovered {
        lines.push("ok: control loop recovered".to_owned());
    } else {
        ready = false;
        lines.push("not ready: control loop has not recovered yet".to_owned());
    }
    let mut clusters: Vec<_> = snapshot.clusters.iter().collect();
    clusters.sort_by(|left, right| left.cluster.cmp(&right.cluster));
    let total = clusters.len();
    let serving = clusters
        .iter()
        .filter(|view| view.health != Health::Lost)
        .count();
    if serving > 0 {
        lines.push(format!("ok: {serving} of {total} clusters serving"));
    } else {
        ready = false;
        if total == 0 {
            lines.push("not ready: no cluster is known".to_owned());
        } else {
            lines.push(format!("not ready: none of {total} clusters is serving"));
        }
    }
    for view in clusters {
        let mut line = String::new();
        let name = one_line(&view.cluster);
        let reason = one_line(&view.health_reason);
        let _ = match view.health {
            Health::Reachable => write!(line, "ok: cluster \"{name}\" reachable"),
            Health::Degraded => write!(line, "degraded: cluster \"{name}\": {reason}"),
            Health::Lost => write!(line, "lost: cluster \"{name}\": {reason}"),
        };
        lines.push(line);
    }
    for api in clouds {
        let name = one_line(&api.name);
        let detail = one_line(&api.detail);
        lines.push(if api.healthy {
            format!("ok: cloud API \"{name}\": {detail}")
        } else {
            format!("degraded: cloud API \"{name}\": {detail}")
        });
    }
    Readiness { ready, lines }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn line_breaks_and_other_controls_are_escaped() {
        assert_eq!(one_line("a\nb\r\tc\u{7}"), "a\\nb\\r\\tc\\u{7}");
        assert_eq!(one_line("plain \"quoted\""), "plain \"quoted\"");
    }
}
