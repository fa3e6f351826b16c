//! The legal paths through the job state machine from where a job is to
//! where the cluster says it got: a watch may skip a step (the job ran and
//! finished while the watch was down), and each step must still be
//! recorded, in order, as its own event.

use gantry_core::{JobState, JobTransition, next_state};

/// Where the cluster says an attempt is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reached {
    /// Objects exist.
    Launching,
    /// Every replica runs.
    Running,
    /// Finished well.
    Succeeded,
    /// Finished badly, retries left: back to the queue.
    FailedRetrying,
    /// Finished badly for good.
    Failed,
    /// Capacity taken away: back to the queue.
    Preempted,
    /// The attempt cannot run where it was placed: back to the queue.
    Requeue,
}

/// The transitions from `from` to `reached`, each legal from the state the
/// previous one leads to; empty when the job is already there or past it
/// (a stale or repeated report).
pub fn walk(from: JobState, reached: Reached) -> Vec<JobTransition> {
    use JobState as S;
    use JobTransition as T;
    let path: &[T] = match (from, reached) {
        (S::Placed, Reached::Launching) => &[T::Launch],
        (S::Placed, Reached::Running) => &[T::Launch, T::Start],
        (S::Launching, Reached::Running) => &[T::Start],
        (S::Placed, Reached::Succeeded) => &[T::Launch, T::Start, T::Succeed],
        (S::Launching, Reached::Succeeded) => &[T::Start, T::Succeed],
        (S::Running, Reached::Succeeded) => &[T::Succeed],
        (S::Placed, Reached::Failed) => &[T::Launch, T::Fail],
        (S::Launching | S::Running, Reached::Failed) => &[T::Fail],
        (S::Placed, Reached::FailedRetrying | Reached::Requeue) => &[T::Unplace],
        (S::Launching, Reached::FailedRetrying) | (S::Running, Reached::FailedRetrying) => {
            &[T::Requeue]
        }
        (S::Launching, Reached::Requeue) => &[T::LaunchRetry],
        (S::Running, Reached::Requeue) => &[T::Requeue],
        (S::Placed, Reached::Preempted) => &[T::Unplace],
        (S::Launching | S::Running, Reached::Preempted) => &[T::Preempt, T::Requeue],
        (S::Preempted, Reached::Preempted | Reached::Requeue) => &[T::Requeue],
        _ => &[],
    };
    debug_assert!(is_legal(from, path), "{from:?} {path:?}");
    path.to_vec()
}

fn is_legal(from: JobState, path: &[JobTransition]) -> bool {
    let mut state = from;
    for transition in path {
        match next_state(Some(state), *transition) {
            Ok(next) => state = next,
            Err(_) => return false,
        }
    }
    true
}

/// The state `path` leads to from `from` (`from` itself for an empty path).
pub fn end_state(from: JobState, path: &[JobTransition]) -> JobState {
    path.iter().fold(from, |state, transition| {
        next_state(Some(state), *transition).unwrap_or(state)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REACHED: [Reached; 7] = [
        Reached::Launching,
        Reached::Running,
        Reached::Succeeded,
        Reached::FailedRetrying,
        Reached::Failed,
        Reached::Preempted,
        Reached::Requeue,
    ];

    #[test]
    fn every_walk_is_legal_and_ends_where_it_should() {
        for from in JobState::ALL {
            for reached in REACHED {
                let path = walk(from, reached);
                assert!(is_legal(from, &path), "{from:?} -> {reached:?}: {path:?}");
                if path.is_empty() {
                    continue;
                }
                let end = end_state(from, &path);
                let expected = match reached {
                    Reached::Launching => JobState::Launching,
                    Reached::Running => JobState::Running,
                    Reached::Succeeded => JobState::Succeeded,
                    Reached::Failed => JobState::Failed,
                    Reached::FailedRetrying | Reached::Preempted | Reached::Requeue => {
                        JobState::Queued
                    }
                };
                assert_eq!(end, expected, "{from:?} -> {reached:?}");
            }
        }
    }

    #[test]
    fn a_skipped_running_is_walked_through_and_stale_reports_are_nothing() {
        assert_eq!(
            walk(JobState::Placed, Reached::Succeeded),
            vec![
                JobTransition::Launch,
                JobTransition::Start,
                JobTransition::Succeed
            ]
        );
        assert!(walk(JobState::Running, Reached::Launching).is_empty());
        assert!(walk(JobState::Succeeded, Reached::Failed).is_empty());
        assert!(walk(JobState::Queued, Reached::Running).is_empty());
    }
}
