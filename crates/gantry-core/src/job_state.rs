//! The job state machine, as a pure transition function.
//!
//! The legal edges, and nothing else:
//!
//! ```text
//! (new)                                         --Accept-->      Queued
//! (new)                                         --Reject-->      Rejected
//! Queued                                        --Place-->       Placed
//! Placed                                        --Unplace-->     Queued
//! Placed                                        --Launch-->      Launching
//! Launching                                     --Start-->       Running
//! Launching                                     --LaunchRetry--> Queued
//! Running                                       --Succeed-->     Succeeded
//! Launching, Running                            --Fail-->        Failed
//! Launching, Running                            --Preempt-->     Preempted
//! Launching, Running, Preempted                 --Requeue-->     Queued
//! Queued, Placed, Launching, Running, Preempted --Cancel-->      Cancelled
//! ```
//!
//! Invariants:
//! - [`next_state`] is total and pure: every (state, transition) pair either gives
//!   the one next state or an [`IllegalTransition`]; it never panics.
//! - Terminal states (Succeeded, Failed, Cancelled, Rejected) have no way out.
//! - A job enters the machine only by `Accept` (to Queued) or `Reject` (to
//!   Rejected), and only from "not yet known" (`None`).

use std::fmt;
use std::str::FromStr;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobState {
    /// Accepted and waiting for a placement.
    Queued,
    /// A cluster and offer are chosen; nothing is launched yet.
    Placed,
    /// Kubernetes objects are being created; pods are not all running yet.
    Launching,
    /// All replicas are running.
    Running,
    /// Finished successfully. Terminal.
    Succeeded,
    /// Finished unsuccessfully, with retries exhausted. Terminal.
    Failed,
    /// Cancelled by a user. Terminal.
    Cancelled,
    /// Its capacity was taken away (spot interruption, node loss or a higher
    /// priority job); it will be requeued.
    Preempted,
    /// Refused at submit (e.g. no cluster could ever fit it); never queued. Terminal.
    Rejected,
}

impl JobState {
    /// Every state, in declaration order.
    pub const ALL: [JobState; 9] = [
        JobState::Queued,
        JobState::Placed,
        JobState::Launching,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Preempted,
        JobState::Rejected,
    ];

    /// The state's name: `Queued`, `Placed`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "Queued",
            JobState::Placed => "Placed",
            JobState::Launching => "Launching",
            JobState::Running => "Running",
            JobState::Succeeded => "Succeeded",
            JobState::Failed => "Failed",
            JobState::Cancelled => "Cancelled",
            JobState::Preempted => "Preempted",
            JobState::Rejected => "Rejected",
        }
    }

    /// The state with this name, ignoring case and surrounding whitespace.
    pub fn parse(text: &str) -> Option<JobState> {
        let text = text.trim();
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(text))
    }

    /// Whether the job has finished for good: Succeeded, Failed, Cancelled or Rejected.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled | JobState::Rejected
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A text that names no job state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown job state `{text}`; states are Queued, Placed, Launching, Running, Succeeded, Failed, Cancelled, Preempted and Rejected"
)]
pub struct UnknownJobState {
    /// The text as given.
    pub text: String,
}

impl FromStr for JobState {
    type Err = UnknownJobState;

    fn from_str(text: &str) -> Result<JobState, UnknownJobState> {
        JobState::parse(text).ok_or_else(|| UnknownJobState {
            text: text.to_owned(),
        })
    }
}

/// Something that happens to a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobTransition {
    /// A new job is accepted: (new) to Queued.
    Accept,
    /// A new job is refused: (new) to Rejected.
    Reject,
    /// The scheduler chose a placement: Queued to Placed.
    Place,
    /// The placement became invalid before launch: Placed to Queued.
    Unplace,
    /// Creating the Kubernetes objects began: Placed to Launching.
    Launch,
    /// The launch failed in a way worth retrying elsewhere: Launching to Queued.
    LaunchRetry,
    /// All replicas are running: Launching to Running.
    Start,
    /// The job finished successfully: Running to Succeeded.
    Succeed,
    /// The job failed for good: Launching or Running to Failed.
    Fail,
    /// A user cancelled it: any non-terminal state except (new) to Cancelled.
    Cancel,
    /// Its capacity was taken away: Launching or Running to Preempted.
    Preempt,
    /// Back to the queue: Preempted, and Launching or Running (a retry, or a lost
    /// cluster), to Queued.
    Requeue,
}

impl JobTransition {
    /// Every transition, in declaration order.
    pub const ALL: [JobTransition; 12] = [
        JobTransition::Accept,
        JobTransition::Reject,
        JobTransition::Place,
        JobTransition::Unplace,
        JobTransition::Launch,
        JobTransition::LaunchRetry,
        JobTransition::Start,
        JobTransition::Succeed,
        JobTransition::Fail,
        JobTransition::Cancel,
        JobTransition::Preempt,
        JobTransition::Requeue,
    ];

    /// The transition's name: `Accept`, `LaunchRetry`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            JobTransition::Accept => "Accept",
            JobTransition::Reject => "Reject",
            JobTransition::Place => "Place",
            JobTransition::Unplace => "Unplace",
            JobTransition::Launch => "Launch",
            JobTransition::LaunchRetry => "LaunchRetry",
            JobTransition::Start => "Start",
            JobTransition::Succeed => "Succeed",
            JobTransition::Fail => "Fail",
            JobTransition::Cancel => "Cancel",
            JobTransition::Preempt => "Preempt",
            JobTransition::Requeue => "Requeue",
        }
    }

    /// The verb for messages: "cannot {verb} a job that is ...".
    const fn verb(self) -> &'static str {
        match self {
            JobTransition::Accept => "accept",
            JobTransition::Reject => "reject",
            JobTransition::Place => "place",
            JobTransition::Unplace => "unplace",
            JobTransition::Launch => "launch",
            JobTransition::LaunchRetry => "retry the launch of",
            JobTransition::Start => "start",
            JobTransition::Succeed => "succeed",
            JobTransition::Fail => "fail",
            JobTransition::Cancel => "cancel",
            JobTransition::Preempt => "preempt",
            JobTransition::Requeue => "requeue",
        }
    }
}

impl fmt::Display for JobTransition {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A transition that the job's current state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("cannot {} a job that {}", transition.verb(), describe_state(*from))]
pub struct IllegalTransition {
    /// The state the job was in; `None` for a job not yet known.
    pub from: Option<JobState>,
    /// The transition that was refused.
    pub transition: JobTransition,
}

fn describe_state(state: Option<JobState>) -> String {
    match state {
        None => "does not exist yet".to_owned(),
        Some(state) => format!("is {state}"),
    }
}

/// The state a job moves to when `transition` happens in state `current` (`None`:
/// the job is not yet known), or why that cannot happen.
pub fn next_state(
    current: Option<JobState>,
    transition: JobTransition,
) -> Result<JobState, IllegalTransition> {
    use JobState::{
        Cancelled, Failed, Launching, Placed, Preempted, Queued, Rejected, Running, Succeeded,
    };
    use JobTransition::{
        Accept, Cancel, Fail, Launch, LaunchRetry, Place, Preempt, Reject, Requeue, Start, Succeed,
        Unplace,
    };
    let next = match (current, transition) {
        (None, Accept) => Queued,
        (None, Reject) => Rejected,
        (Some(Queued), Place) => Placed,
        (Some(Placed), Unplace) => Queued,
        (Some(Placed), Launch) => Launching,
        (Some(Launching), Start) => Running,
        (Some(Launching), LaunchRetry) => Queued,
        (Some(Launching | Running), Fail) => Failed,
        (Some(Launching | Running), Preempt) => Preempted,
        (Some(Running), Succeed) => Succeeded,
        (Some(Launching | Running | Preempted), Requeue) => Queued,
        (Some(Queued | Placed | Launching | Running | Preempted), Cancel) => Cancelled,
        (from, transition) => return Err(IllegalTransition { from, transition }),
    };
    Ok(next)
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

    const QUEUED: Option<JobState> = Some(JobState::Queued);
    const PLACED: Option<JobState> = Some(JobState::Placed);
    const LAUNCHING: Option<JobState> = Some(JobState::Launching);
    const RUNNING: Option<JobState> = Some(JobState::Running);
    const SUCCEEDED: Option<JobState> = Some(JobState::Succeeded);
    const FAILED: Option<JobState> = Some(JobState::Failed);
    const CANCELLED: Option<JobState> = Some(JobState::Cancelled);
    const PREEMPTED: Option<JobState> = Some(JobState::Preempted);
    const REJECTED: Option<JobState> = Some(JobState::Rejected);
    /// Illegal.
    const NO: Option<JobState> = None;

    /// Every state (and "not yet known") against every transition, in the column order
    /// of `JobTransition::ALL`:
    /// Accept, Reject, Place, Unplace, Launch, LaunchRetry, Start, Succeed, Fail,
    /// Cancel, Preempt, Requeue.
    #[rustfmt::skip]
    const EXPECTED: [(Option<JobState>, [Option<JobState>; 12]); 10] = [
        //          Accept  Reject    Place   Unplace Launch     LRetry  Start    Succeed    Fail    Cancel     Preempt    Requeue
        (None,      [QUEUED, REJECTED, NO,     NO,     NO,        NO,     NO,      NO,        NO,     NO,        NO,        NO    ]),
        (QUEUED,    [NO,     NO,       PLACED, NO,     NO,        NO,     NO,      NO,        NO,     CANCELLED, NO,        NO    ]),
        (PLACED,    [NO,     NO,       NO,     QUEUED, LAUNCHING, NO,     NO,      NO,        NO,     CANCELLED, NO,        NO    ]),
        (LAUNCHING, [NO,     NO,       NO,     NO,     NO,        QUEUED, RUNNING, NO,        FAILED, CANCELLED, PREEMPTED, QUEUED]),
        (RUNNING,   [NO,     NO,       NO,     NO,     NO,        NO,     NO,      SUCCEEDED, FAILED, CANCELLED, PREEMPTED, QUEUED]),
        (SUCCEEDED, [NO,     NO,       NO,     NO,     NO,        NO,     NO,      NO,        NO,     NO,        NO,        NO    ]),
        (FAILED,    [NO,     NO,       NO,     NO,     NO,        NO,     NO,      NO,        NO,     NO,        NO,        NO    ]),
        (CANCELLED, [NO,     NO,       NO,     NO,     NO,        NO,     NO,      NO,        NO,     NO,        NO,        NO    ]),
        (PREEMPTED, [NO,     NO,       NO,     NO,     NO,        NO,     NO,      NO,        NO,     CANCELLED, NO,        QUEUED]),
        (REJECTED,  [NO,     NO,       NO,     NO,     NO,        NO,     NO,      NO,        NO,     NO,        NO,        NO    ]),
    ];

    #[test]
    fn every_state_and_transition_matches_the_table() {
        let mut rows_seen = Vec::new();
        for (from, row) in EXPECTED {
            rows_seen.push(from);
            for (transition, expected) in JobTransition::ALL.into_iter().zip(row) {
                let actual = next_state(from, transition);
                match expected {
                    Some(to) => assert_eq!(actual, Ok(to), "{from:?} --{transition}-->"),
                    None => assert_eq!(
                        actual,
                        Err(IllegalTransition { from, transition }),
                        "{from:?} --{transition}-->"
                    ),
                }
            }
        }
        // The table covers "not yet known" and every state exactly once.
        let mut expected_rows: Vec<Option<JobState>> = vec![None];
        expected_rows.extend(JobState::ALL.into_iter().map(Some));
        assert_eq!(rows_seen, expected_rows);
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for state in JobState::ALL {
            let has_exit = JobTransition::ALL
                .into_iter()
                .any(|transition| next_state(Some(state), transition).is_ok());
            assert_eq!(has_exit, !state.is_terminal(), "{state}");
        }
        let terminal: Vec<JobState> = JobState::ALL
            .into_iter()
            .filter(|state| state.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                JobState::Succeeded,
                JobState::Failed,
                JobState::Cancelled,
                JobState::Rejected
            ]
        );
    }

    #[test]
    fn error_messages() {
        let cases: &[(Option<JobState>, JobTransition, &str)] = &[
            (
                QUEUED,
                JobTransition::Succeed,
                "cannot succeed a job that is Queued",
            ),
            (
                None,
                JobTransition::Place,
                "cannot place a job that does not exist yet",
            ),
            (
                QUEUED,
                JobTransition::Accept,
                "cannot accept a job that is Queued",
            ),
            (
                SUCCEEDED,
                JobTransition::Cancel,
                "cannot cancel a job that is Succeeded",
            ),
            (
                RUNNING,
                JobTransition::LaunchRetry,
                "cannot retry the launch of a job that is Running",
            ),
        ];
        for (from, transition, expected) in cases {
            assert_eq!(
                next_state(*from, *transition).unwrap_err().to_string(),
                *expected
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
            assert_eq!(JobState::parse(&state.as_str().to_uppercase()), Some(state));
            assert_eq!(
                JobState::parse(&format!(" {} ", state.as_str().to_lowercase())),
                Some(state)
            );
            assert_eq!(state.to_string().parse::<JobState>(), Ok(state));
        }
        assert_eq!(JobState::parse("Pending"), None);
        assert_eq!(JobState::parse(""), None);
        assert_eq!(
            "Done".parse::<JobState>().unwrap_err().to_string(),
            "unknown job state `Done`; states are Queued, Placed, Launching, Running, Succeeded, Failed, Cancelled, Preempted and Rejected"
        );
        let names: Vec<&str> = JobTransition::ALL
            .iter()
            .map(|transition| transition.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Accept",
                "Reject",
                "Place",
                "Unplace",
                "Launch",
                "LaunchRetry",
                "Start",
                "Succeed",
                "Fail",
                "Cancel",
                "Preempt",
                "Requeue"
            ]
        );
        assert_eq!(JobTransition::LaunchRetry.to_string(), "LaunchRetry");
    }

    proptest! {
        #[test]
        fn a_terminal_state_once_reached_is_never_left(
            transitions in proptest::collection::vec(proptest::sample::select(JobTransition::ALL.to_vec()), 0..60)
        ) {
            let mut current: Option<JobState> = None;
            let mut reached_terminal: Option<JobState> = None;
            for transition in transitions {
                match next_state(current, transition) {
                    Ok(next) => {
                        prop_assert!(reached_terminal.is_none(), "left {:?} by {}", reached_terminal, transition);
                        current = Some(next);
                        if next.is_terminal() {
                            reached_terminal = Some(next);
                        }
                    }
                    Err(error) => {
                        prop_assert_eq!(error, IllegalTransition { from: current, transition });
                    }
                }
            }
            if let Some(terminal) = reached_terminal {
                prop_assert_eq!(current, Some(terminal));
            }
        }

        #[test]
        fn only_accept_and_reject_start_a_job(transition in proptest::sample::select(JobTransition::ALL.to_vec())) {
            let result = next_state(None, transition);
            prop_assert_eq!(result.is_ok(), matches!(transition, JobTransition::Accept | JobTransition::Reject));
        }
    }
}
