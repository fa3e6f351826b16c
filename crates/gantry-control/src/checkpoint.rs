//! Checkpoint checks before a job resumes.
//!
//! A job that checkpoints and goes back to the queue after it ran
//! (preempted, its cluster lost, a failure retried) is held out of the
//! scheduler's queue until a storage adapter has said whether anything is
//! under its checkpoint prefix, and the answer is written to the job's
//! events: found (the next attempt resumes from it), empty (it starts from
//! the beginning, said plainly rather than found out from the bill). A
//! failed check is retried every [`RETRY_EVERY_MS`]: a bucket that cannot be
//! read is not an empty one, and starting over would throw work away
//! silently. After [`HOLD_AT_MOST_MS`] the job is placed anyway, saying so,
//! as it is when no adapter reads the URI's scheme.

use std::collections::BTreeMap;

use gantry_core::{DataUri, JobId};

/// A failed check is tried again after this long.
pub const RETRY_EVERY_MS: i64 = 30_000;
/// A job is held for its checkpoint check at most this long.
pub const HOLD_AT_MOST_MS: i64 = 600_000;

/// One check to run: is anything under `uri`?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointCheck {
    /// The held job.
    pub job: JobId,
    /// The attempt that ended (the hold is for the one after it).
    pub attempt: u32,
    /// The checkpoint prefix.
    pub uri: DataUri,
}

/// What a storage adapter answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointAnswer {
    /// Something is under the prefix.
    Found,
    /// Nothing is.
    Empty,
    /// No adapter reads this URI's scheme.
    NoAdapter,
    /// The check failed (bucket missing, permission, timeout): the message.
    Failed(String),
}

/// What answering did: whether the job is free to be scheduled, and the
/// note for its events, if any (a reason code and a message).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Answered {
    pub(crate) released: bool,
    pub(crate) note: Option<(&'static str, String)>,
}

#[derive(Debug)]
struct Hold {
    attempt: u32,
    uri: DataUri,
    since: i64,
    retry_at: Option<i64>,
    failures: u32,
}

/// The jobs held for a check, and the checks to start.
#[derive(Debug, Default)]
pub(crate) struct CheckpointHolds {
    held: BTreeMap<JobId, Hold>,
    due: Vec<CheckpointCheck>,
}

impl CheckpointHolds {
    /// Holds `job` (after `attempt` ended) until `uri` is checked; holding
    /// it again for the same attempt changes nothing.
    pub(crate) fn hold(&mut self, job: &JobId, attempt: u32, uri: &DataUri, now: i64) {
        if self
            .held
            .get(job)
            .is_some_and(|hold| hold.attempt == attempt && hold.uri == *uri)
        {
            return;
        }
        self.held.insert(
            job.clone(),
            Hold {
                attempt,
                uri: uri.clone(),
                since: now,
                retry_at: None,
                failures: 0,
            },
        );
        self.due.push(CheckpointCheck {
            job: job.clone(),
            attempt,
            uri: uri.clone(),
        });
    }

    /// Is `job` held?
    pub(crate) fn is_held(&self, job: &JobId) -> bool {
        self.held.contains_key(job)
    }

    /// Checks to start now (each once).
    pub(crate) fn take_due(&mut self) -> Vec<CheckpointCheck> {
        std::mem::take(&mut self.due)
    }

    /// Failed checks whose retry time has come are due again.
    pub(crate) fn tick(&mut self, now: i64) {
        for (job, hold) in &mut self.held {
            if hold.retry_at.is_some_and(|at| at <= now) {
                hold.retry_at = None;
                self.due.push(CheckpointCheck {
                    job: job.clone(),
                    attempt: hold.attempt,
                    uri: hold.uri.clone(),
                });
            }
        }
    }

    /// Drops the holds of jobs `live` says are gone or moved on.
    pub(crate) fn retain(&mut self, mut live: impl FnMut(&JobId) -> bool) {
        self.held.retain(|job, _| live(job));
    }

    /// Takes an answer; `None` when it is for a hold that no longer exists
    /// (the job was cancelled, or a newer attempt is held).
    pub(crate) fn answer(
        &mut self,
        check: &CheckpointCheck,
        answer: CheckpointAnswer,
        now: i64,
    ) -> Option<Answered> {
        let hold = self.held.get_mut(&check.job)?;
        if hold.attempt != check.attempt || hold.uri != check.uri {
            return None;
        }
        let uri = &check.uri;
        let (released, note) = match answer {
            CheckpointAnswer::Found => (
                true,
                Some((
                    "CheckpointFound",
                    format!("checkpoint found under {uri}: the next attempt resumes from it"),
                )),
            ),
            CheckpointAnswer::Empty => (
                true,
                Some((
                    "NoCheckpoint",
                    format!("nothing under {uri}: the next attempt starts from the beginning"),
                )),
            ),
            CheckpointAnswer::NoAdapter => (
                true,
                Some((
                    "CheckpointNotChecked",
                    format!(
                        "no storage adapter reads {}:// URIs here: {uri} was not checked",
                        uri.scheme.as_str()
                    ),
                )),
            ),
            CheckpointAnswer::Failed(message) => {
                hold.failures += 1;
                if now.saturating_sub(hold.since) >= HOLD_AT_MOST_MS {
                    (
                        true,
                        Some((
                            "CheckpointNotChecked",
                            format!(
                                "{uri} could not be checked for {} min ({message}): placing it anyway",
                                HOLD_AT_MOST_MS / 60_000
                            ),
                        )),
                    )
                } else {
                    hold.retry_at = Some(now.saturating_add(RETRY_EVERY_MS));
                    // One event for a run of failures, not one per retry.
                    let note = (hold.failures == 1).then(|| {
                        (
                            "CheckpointCheckFailed",
                            format!(
                                "cannot check {uri}: {message}; retrying every {} s for up to {} min before placing it anyway",
                                RETRY_EVERY_MS / 1000,
                                HOLD_AT_MOST_MS / 60_000
                            ),
                        )
                    });
                    (false, note)
                }
            }
        };
        if released {
            self.held.remove(&check.job);
        }
        Some(Answered { released, note })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn check(attempt: u32) -> CheckpointCheck {
        CheckpointCheck {
            job: JobId::new("job-1").unwrap(),
            attempt,
            uri: DataUri::parse("gs://ckpt/run-1/").unwrap(),
        }
    }

    fn held() -> CheckpointHolds {
        let mut holds = CheckpointHolds::default();
        let check = check(1);
        holds.hold(&check.job, 1, &check.uri, 0);
        assert_eq!(holds.take_due(), [check]);
        holds
    }

    #[test]
    fn found_and_empty_release_the_job_with_a_note_that_says_which() {
        for (answer, code) in [
            (CheckpointAnswer::Found, "CheckpointFound"),
            (CheckpointAnswer::Empty, "NoCheckpoint"),
            (CheckpointAnswer::NoAdapter, "CheckpointNotChecked"),
        ] {
            let mut holds = held();
            let answered = holds.answer(&check(1), answer, 10).unwrap();
            assert!(answered.released);
            assert_eq!(answered.note.unwrap().0, code);
            assert!(!holds.is_held(&check(1).job));
        }
    }

    #[test]
    fn a_failed_check_holds_and_retries_then_gives_up_saying_so() {
        let mut holds = held();
        let failed = || CheckpointAnswer::Failed("bucket gs://ckpt does not exist".to_owned());
        let first = holds.answer(&check(1), failed(), 1_000).unwrap();
        assert!(!first.released);
        assert_eq!(first.note.unwrap().0, "CheckpointCheckFailed");
        holds.tick(1_000 + RETRY_EVERY_MS - 1);
        assert!(holds.take_due().is_empty());
        holds.tick(1_000 + RETRY_EVERY_MS);
        assert_eq!(holds.take_due(), [check(1)]);
        let second = holds.answer(&check(1), failed(), 40_000).unwrap();
        assert_eq!(
            second,
            Answered {
                released: false,
                note: None
            }
        );
        let last = holds.answer(&check(1), failed(), HOLD_AT_MOST_MS).unwrap();
        assert!(last.released);
        let (code, message) = last.note.unwrap();
        assert_eq!(code, "CheckpointNotChecked");
        assert!(message.contains("does not exist"), "{message}");
    }

    #[test]
    fn an_answer_for_another_attempt_or_a_dropped_hold_is_ignored() {
        let mut holds = held();
        assert!(
            holds
                .answer(&check(2), CheckpointAnswer::Found, 5)
                .is_none()
        );
        assert!(holds.is_held(&check(1).job));
        holds.retain(|_| false);
        assert!(
            holds
                .answer(&check(1), CheckpointAnswer::Found, 5)
                .is_none()
        );
    }
}
