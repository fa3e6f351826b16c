//! From observations to events, per workload, as plain state driven by `now`.
//!
//! Observations are level-triggered: after a dropped watch or a relist the
//! executor sees where a workload *is*, not every step it took. This turns
//! them into the edge-triggered events Gantry's job states need:
//! - Phases only move forward (Launching < Running < Succeeded | Failed |
//!   Preempted); an observation behind the last report is not reported (a
//!   service whose replicas become unready stays Running, with a warning).
//! - A Running skipped on the way to Succeeded (the watch was down while the
//!   job ran) is reported first, marked `synthesized`, so every transition of
//!   the state machine is seen.
//! - A launching problem (image pull, unschedulable) is warned about once
//!   when first seen; if it lasts its grace period the attempt is given up:
//!   an image that cannot be pulled fails the job (retrying elsewhere would
//!   fail the same way), capacity that vanished requeues it.
//! - After a final phase nothing more is reported for the attempt.

use std::time::{Duration, Instant};

use crate::observe::{Observation, Phase, Problem};

/// How long a launching problem may last before the attempt is given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Graces {
    /// An image that cannot be pulled.
    pub image_pull: Duration,
    /// A pod that cannot be scheduled.
    pub unschedulable: Duration,
}

impl Default for Graces {
    fn default() -> Graces {
        Graces {
            image_pull: Duration::from_secs(120),
            unschedulable: Duration::from_secs(300),
        }
    }
}

/// What to tell the rest of Gantry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The workload reached `phase`.
    Report {
        /// The phase.
        phase: Phase,
        /// Not observed itself: implied by a later phase.
        synthesized: bool,
    },
    /// A problem was first seen.
    Warn {
        /// Machine word.
        reason: String,
        /// The cluster's words.
        message: String,
    },
    /// The problem lasted too long: delete the workload and fail (`fail`) or
    /// requeue the attempt.
    GiveUp {
        /// Fail the job (else requeue it).
        fail: bool,
        /// Machine word.
        reason: String,
        /// The cluster's words.
        message: String,
    },
}

/// One workload's reporting state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    reported: Option<Phase>,
    problem: Option<(&'static str, Instant)>,
    finished: bool,
}

fn rank(phase: Phase) -> u8 {
    match phase {
        Phase::Launching => 0,
        Phase::Running => 1,
        Phase::Succeeded | Phase::Failed | Phase::Preempted => 2,
    }
}

impl Progress {
    /// A workload this executor just created: Launching is reported already.
    pub fn launched() -> Progress {
        Progress {
            reported: Some(Phase::Launching),
            ..Progress::default()
        }
    }

    /// The last phase reported.
    pub fn reported(&self) -> Option<Phase> {
        self.reported
    }

    /// A launching problem is being timed.
    pub fn has_problem(&self) -> bool {
        self.problem.is_some() && !self.finished
    }

    /// Nothing more will be reported.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Marks the attempt over (cancelled, given up).
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The steps an observation at `now` calls for.
    pub fn observe(
        &mut self,
        observation: &Observation,
        now: Instant,
        graces: Graces,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        if self.finished {
            return steps;
        }
        let last = self.reported.map(rank);
        let next = rank(observation.phase);
        if last.is_none_or(|last| next > last) {
            if observation.phase == Phase::Succeeded && last.is_none_or(|last| last < 1) {
                steps.push(Step::Report {
                    phase: Phase::Running,
                    synthesized: true,
                });
            }
            steps.push(Step::Report {
                phase: observation.phase,
                synthesized: false,
            });
            self.reported = Some(observation.phase);
            if observation.phase.is_final() {
                self.finished = true;
                return steps;
            }
        }
        match &observation.problem {
            None => self.problem = None,
            Some(problem) => {
                let reason = problem.reason();
                let since = match self.problem {
                    Some((seen, since)) if seen == reason => since,
                    _ => {
                        self.problem = Some((reason, now));
                        steps.push(Step::Warn {
                            reason: reason.to_owned(),
                            message: problem.message().to_owned(),
                        });
                        now
                    }
                };
                let (grace, fail) = match problem {
                    Problem::ImagePull { .. } => (graces.image_pull, true),
                    Problem::Unschedulable { .. } => (graces.unschedulable, false),
                };
                let launching = self.reported.is_none_or(|phase| phase == Phase::Launching);
                if launching && now.saturating_duration_since(since) >= grace {
                    self.finished = true;
                    steps.push(Step::GiveUp {
                        fail,
                        reason: reason.to_owned(),
                        message: problem.message().to_owned(),
                    });
                }
            }
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(phase: Phase, problem: Option<Problem>) -> Observation {
        Observation {
            phase,
            reason: String::new(),
            message: String::new(),
            at: None,
            problem,
            exits: Vec::new(),
            running_replicas: 0,
            replicas: 1,
        }
    }

    fn phases(steps: &[Step]) -> Vec<(Phase, bool)> {
        steps
            .iter()
            .filter_map(|step| match step {
                Step::Report { phase, synthesized } => Some((*phase, *synthesized)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn phases_move_forward_and_a_skipped_running_is_synthesized() {
        let now = Instant::now();
        let graces = Graces::default();
        let mut progress = Progress::launched();
        assert!(
            progress
                .observe(&observation(Phase::Launching, None), now, graces)
                .is_empty()
        );
        let steps = progress.observe(&observation(Phase::Succeeded, None), now, graces);
        assert_eq!(
            phases(&steps),
            vec![(Phase::Running, true), (Phase::Succeeded, false)]
        );
        assert!(progress.is_finished());
        assert!(
            progress
                .observe(&observation(Phase::Failed, None), now, graces)
                .is_empty()
        );

        let mut service = Progress::launched();
        let steps = service.observe(&observation(Phase::Running, None), now, graces);
        assert_eq!(phases(&steps), vec![(Phase::Running, false)]);
        assert!(
            service
                .observe(&observation(Phase::Launching, None), now, graces)
                .is_empty(),
            "never backwards"
        );
    }

    #[test]
    fn a_lasting_image_pull_error_fails_and_lost_capacity_requeues() {
        let start = Instant::now();
        let graces = Graces {
            image_pull: Duration::from_secs(10),
            unschedulable: Duration::from_secs(20),
        };
        let pull = Problem::ImagePull {
            reason: "ErrImagePull".to_owned(),
            message: "no such host".to_owned(),
        };
        let mut progress = Progress::launched();
        let steps = progress.observe(
            &observation(Phase::Launching, Some(pull.clone())),
            start,
            graces,
        );
        assert_eq!(
            steps,
            vec![Step::Warn {
                reason: "ImagePullError".to_owned(),
                message: "no such host".to_owned()
            }]
        );
        let later = start + Duration::from_secs(9);
        assert!(
            progress
                .observe(
                    &observation(Phase::Launching, Some(pull.clone())),
                    later,
                    graces
                )
                .is_empty()
        );
        let steps = progress.observe(
            &observation(Phase::Launching, Some(pull)),
            start + Duration::from_secs(10),
            graces,
        );
        assert!(matches!(
            steps.as_slice(),
            [Step::GiveUp { fail: true, .. }]
        ));
        assert!(progress.is_finished());

        let pending = Problem::Unschedulable {
            message: "0/4 nodes are available".to_owned(),
        };
        let mut progress = Progress::launched();
        progress.observe(
            &observation(Phase::Launching, Some(pending.clone())),
            start,
            graces,
        );
        // The problem went away and came back: the clock restarts.
        progress.observe(
            &observation(Phase::Launching, None),
            start + Duration::from_secs(15),
            graces,
        );
        let again = start + Duration::from_secs(16);
        progress.observe(
            &observation(Phase::Launching, Some(pending.clone())),
            again,
            graces,
        );
        assert!(
            progress
                .observe(
                    &observation(Phase::Launching, Some(pending.clone())),
                    again + Duration::from_secs(19),
                    graces
                )
                .iter()
                .all(|step| !matches!(step, Step::GiveUp { .. }))
        );
        let steps = progress.observe(
            &observation(Phase::Launching, Some(pending)),
            again + Duration::from_secs(20),
            graces,
        );
        assert!(matches!(
            steps.as_slice(),
            [Step::GiveUp { fail: false, .. }]
        ));
    }
}
