//! Following job events: `gantry watch [ID]` and `gantry submit --wait`.
//!
//! The resume protocol, step by step:
//! 1. Open `WatchJobs(job_id, after_seq)`; the first time `after_seq` is 0
//!    (a job's whole history, or "from now" for all jobs).
//! 2. Print each event once, remembering the highest `seq` seen; an event at
//!    or below it is a repeat and is dropped.
//! 3. Stop when the stop rule says so (the job ended, or an
//!    `InferenceService` runs, for `--wait`).
//! 4. If the stream breaks (a transient status, or it ends before the job
//!    did), say so on stderr, wait (100 ms, doubling, at most 5 s) and reopen
//!    after the last `seq` seen, so nothing is shown twice or skipped.
//!    Eight breaks in a row without a new event in between give up (exit 1).
//!
//! On a terminal the view is live: colored states, and when following one
//! job a status line under the events (spinner, state, time in state)
//! redrawn four times a second; elsewhere it prints plain lines only, one
//! per event, with RFC 3339 times.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use gantry_core::JobState;
use gantry_proto::{JobEvent, WatchJobsRequest};

use crate::client::{Clients, Target, connect, is_transient, request_failed};
use crate::now_unix_ms;
use crate::render::{duration, rfc3339};
use crate::views::state_name;

/// Breaks in a row, with no event in between, before giving up.
const MAX_BREAKS_IN_A_ROW: u32 = 8;

/// When to stop following.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopAt {
    /// When the job reaches a terminal state.
    JobEnd,
    /// When the job ends, or runs (an `InferenceService` that serves is done
    /// being submitted).
    JobEndOrRunning,
    /// Never: all jobs, until interrupted.
    Never,
}

impl StopAt {
    fn reached(self, event: &JobEvent) -> Option<JobState> {
        let state = gantry_proto::job_state_from_proto(event.to_state)?;
        let stop = match self {
            StopAt::JobEnd => state.is_terminal(),
            StopAt::JobEndOrRunning => state.is_terminal() || state == JobState::Running,
            StopAt::Never => false,
        };
        stop.then_some(state)
    }
}

/// How following ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The stop rule was met in this state.
    Reached(JobState),
    /// Ctrl-C.
    Interrupted,
}

/// `gantry watch [ID]`: a job's events until it ends, or every job's until
/// interrupted. Exit 0 when the job ended (whatever its state), 130 on Ctrl-C.
pub(crate) async fn watch(
    target: &Target,
    job_id: Option<&str>,
) -> anyhow::Result<std::process::ExitCode> {
    let mut clients = connect(target).await?;
    let stop = if job_id.is_some() {
        StopAt::JobEnd
    } else {
        StopAt::Never
    };
    Ok(match follow(&mut clients, job_id, stop).await? {
        Ended::Reached(_) => std::process::ExitCode::SUCCESS,
        Ended::Interrupted => std::process::ExitCode::from(130),
    })
}

/// Follows `job_id` (or every job) on the terminal until `stop`.
pub(crate) async fn follow(
    clients: &mut Clients,
    job_id: Option<&str>,
    stop: StopAt,
) -> anyhow::Result<Ended> {
    let stdout = std::io::stdout();
    let live = stdout.is_terminal() && std::env::var("TERM").map_or(true, |term| term != "dumb");
    let color = live && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let mut view = ProgressView::new(
        stdout.lock(),
        std::io::stderr(),
        Style {
            live,
            color,
            show_job: job_id.is_none(),
        },
    );
    let ended = follow_into(clients, job_id, stop, &mut view).await;
    view.finish()?;
    ended
}

async fn follow_into<O: Write, E: Write>(
    clients: &mut Clients,
    job_id: Option<&str>,
    stop: StopAt,
    view: &mut ProgressView<O, E>,
) -> anyhow::Result<Ended> {
    let action = match job_id {
        Some(id) => format!("watch {id}"),
        None => "watch".to_owned(),
    };
    let mut last_seq = 0_u64;
    let mut breaks_in_a_row = 0_u32;
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let request = WatchJobsRequest {
            job_id: job_id.unwrap_or_default().to_owned(),
            after_seq: last_seq,
        };
        let opened = tokio::select! {
            opened = clients.jobs.watch_jobs(request) => opened,
            _ = &mut ctrl_c => return Ok(Ended::Interrupted),
        };
        let broke_because = match opened {
            Err(status) if is_transient(status.code()) => status_words(&status),
            Err(status) => return Err(request_failed(action, &status, &clients.server)),
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    tokio::select! {
                        message = stream.message() => match message {
                            Ok(Some(event)) => {
                                if event.seq <= last_seq {
                                    continue;
                                }
                                last_seq = event.seq;
                                breaks_in_a_row = 0;
                                view.event(&event, now_unix_ms())?;
                                if let Some(state) = stop.reached(&event) {
                                    return Ok(Ended::Reached(state));
                                }
                            }
                            Ok(None) => break "the stream ended before the job did".to_owned(),
                            Err(status) if is_transient(status.code()) => break status_words(&status),
                            Err(status) => return Err(request_failed(action, &status, &clients.server)),
                        },
                        _ = ticker.tick(), if view.style.live => view.redraw(now_unix_ms())?,
                        _ = &mut ctrl_c => return Ok(Ended::Interrupted),
                    }
                }
            }
        };
        breaks_in_a_row += 1;
        if breaks_in_a_row >= MAX_BREAKS_IN_A_ROW {
            anyhow::bail!(
                "{action}: the event stream broke {breaks_in_a_row} times in a row without a new event; last: {broke_because}"
            );
        }
        view.note(&format!(
            "{action}: {broke_because}; resuming after event {last_seq}"
        ))?;
        tokio::select! {
            () = tokio::time::sleep(backoff(breaks_in_a_row)) => {}
            _ = &mut ctrl_c => return Ok(Ended::Interrupted),
        }
    }
}

fn status_words(status: &tonic::Status) -> String {
    if status.message().is_empty() {
        format!("stream broke ({:?})", status.code())
    } else {
        format!("stream broke: {}", status.message())
    }
}

/// 100 ms, 200 ms, 400 ms, ... at most 5 s.
fn backoff(attempt: u32) -> Duration {
    let millis = 100_u64.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    Duration::from_millis(millis.min(5_000))
}

/// How the view looks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Style {
    /// Redraw a status line under the events (a terminal).
    pub(crate) live: bool,
    /// ANSI colors for states.
    pub(crate) color: bool,
    /// Show the job id on each line (watching all jobs).
    pub(crate) show_job: bool,
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const CLEAR_LINE: &str = "\r\x1b[2K";

/// One line per event, and on a terminal a live status line under them.
#[derive(Debug)]
pub(crate) struct ProgressView<O: Write, E: Write> {
    out: O,
    err: E,
    style: Style,
    /// The job's state, since when, and its id, once an event was seen.
    status: Option<(String, i64, String)>,
    status_drawn: bool,
    frame: usize,
}

impl<O: Write, E: Write> ProgressView<O, E> {
    pub(crate) fn new(out: O, err: E, style: Style) -> Self {
        ProgressView {
            out,
            err,
            style,
            status: None,
            status_drawn: false,
            frame: 0,
        }
    }

    /// Prints one event.
    pub(crate) fn event(&mut self, event: &JobEvent, now_unix_ms: i64) -> std::io::Result<()> {
        self.clear_status()?;
        writeln!(self.out, "{}", event_line(event, self.style))?;
        if !event.transition.is_empty() {
            self.status = Some((
                state_name(event.to_state),
                event.at_unix_ms,
                event.job_id.clone(),
            ));
        }
        self.draw_status(now_unix_ms)
    }

    /// A remark about the watch itself (a resume), on stderr.
    pub(crate) fn note(&mut self, text: &str) -> std::io::Result<()> {
        self.clear_status()?;
        writeln!(self.err, "{text}")?;
        self.err.flush()
    }

    /// Advances the spinner.
    pub(crate) fn redraw(&mut self, now_unix_ms: i64) -> std::io::Result<()> {
        self.frame = self.frame.wrapping_add(1);
        self.draw_status(now_unix_ms)
    }

    /// Removes the status line.
    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        self.clear_status()?;
        self.out.flush()
    }

    fn clear_status(&mut self) -> std::io::Result<()> {
        if self.status_drawn {
            write!(self.out, "{CLEAR_LINE}")?;
            self.status_drawn = false;
        }
        Ok(())
    }

    fn draw_status(&mut self, now_unix_ms: i64) -> std::io::Result<()> {
        if !self.style.live || self.style.show_job {
            return self.out.flush();
        }
        let Some((state, since, job_id)) = &self.status else {
            return self.out.flush();
        };
        let spinner = SPINNER
            .get(self.frame % SPINNER.len())
            .copied()
            .unwrap_or("*");
        let elapsed = u64::try_from(now_unix_ms.saturating_sub(*since) / 1000).unwrap_or(0);
        let state = paint(state, self.style.color);
        write!(
            self.out,
            "{CLEAR_LINE}{spinner} {state} for {} (job {job_id}; Ctrl-C stops watching, not the job)",
            duration(elapsed)
        )?;
        self.status_drawn = true;
        self.out.flush()
    }
}

/// `TIME  [JOB]  STATE  REASON  (by ACTOR)`; the time is RFC 3339 in plain
/// output and `HH:MM:SS` (UTC) on a terminal.
fn event_line(event: &JobEvent, style: Style) -> String {
    let time = if style.live {
        jiff::Timestamp::from_millisecond(event.at_unix_ms)
            .map(|timestamp| timestamp.strftime("%H:%M:%S").to_string())
            .unwrap_or_else(|_| "--:--:--".to_owned())
    } else {
        rfc3339(event.at_unix_ms).unwrap_or_else(|| "-".to_owned())
    };
    let mut state = if event.transition.is_empty() {
        "note".to_owned()
    } else {
        state_name(event.to_state)
    };
    if event.attempt > 1 && !event.transition.is_empty() {
        state = format!("{state} #{}", event.attempt);
    }
    let state = paint(&format!("{state:<10}"), style.color);
    let mut line = time;
    if style.show_job {
        line.push_str("  ");
        line.push_str(&event.job_id);
    }
    line.push_str("  ");
    line.push_str(&state);
    let reason = if event.reason.is_empty() {
        &event.transition
    } else {
        &event.reason
    };
    if !reason.is_empty() {
        line.push_str("  ");
        line.push_str(reason);
    }
    if !event.actor.is_empty() {
        line.push_str(&format!("  (by {})", event.actor));
    }
    line.trim_end().to_owned()
}

/// Colors a state name by what it means: green done or serving, red failed,
/// yellow interrupted, cyan on the way.
fn paint(text: &str, color: bool) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match JobState::parse(text) {
        Some(JobState::Succeeded | JobState::Running) => "32",
        Some(JobState::Failed | JobState::Rejected) => "31",
        Some(JobState::Cancelled | JobState::Preempted) => "33",
        Some(_) => "36",
        None => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use gantry_proto::JobState as Wire;

    use super::*;

    fn event(seq: u64, to: Wire, reason: &str) -> JobEvent {
        JobEvent {
            seq,
            job_id: "llama-8b-sft-x7k2p".into(),
            at_unix_ms: 1_750_000_000_000 + i64::try_from(seq).unwrap() * 1000,
            from_state: 0,
            to_state: to as i32,
            transition: "Place".into(),
            attempt: 1,
            reason: reason.into(),
            actor: "scheduler".into(),
            details_json: String::new(),
        }
    }

    #[test]
    fn plain_output_is_one_line_per_event_and_nothing_else() {
        let style = Style {
            live: false,
            color: false,
            show_job: false,
        };
        let mut view = ProgressView::new(Vec::new(), Vec::new(), style);
        view.event(&event(1, Wire::Placed, "on gcp-us-central1"), 0)
            .unwrap();
        view.redraw(0).unwrap();
        view.finish().unwrap();
        assert_eq!(
            String::from_utf8(view.out).unwrap(),
            "2025-06-15T15:06:41Z  Placed      on gcp-us-central1  (by scheduler)\n"
        );
    }

    #[test]
    fn a_terminal_gets_a_status_line_that_is_cleared_before_each_event() {
        let style = Style {
            live: true,
            color: true,
            show_job: false,
        };
        let mut view = ProgressView::new(Vec::new(), Vec::new(), style);
        let first = event(1, Wire::Running, "all 4 replicas running");
        view.event(&first, first.at_unix_ms + 61_000).unwrap();
        view.redraw(first.at_unix_ms + 62_000).unwrap();
        view.event(&event(2, Wire::Succeeded, "exit 0"), 0).unwrap();
        view.finish().unwrap();
        let text = String::from_utf8(view.out).unwrap();
        assert!(
            text.starts_with("15:06:41  \x1b[32mRunning   \x1b[0m  all 4 replicas running"),
            "{text:?}"
        );
        assert!(
            text.contains("\r\x1b[2K⠋ \x1b[32mRunning\x1b[0m for 1m1s (job llama-8b-sft-x7k2p"),
            "{text:?}"
        );
        assert!(
            text.contains("\r\x1b[2K⠙ \x1b[32mRunning\x1b[0m for 1m2s"),
            "{text:?}"
        );
        // The status line is gone at the end.
        assert!(text.ends_with("\r\x1b[2K"), "{text:?}");
    }

    #[test]
    fn stop_rules_and_backoff() {
        assert_eq!(StopAt::JobEnd.reached(&event(1, Wire::Running, "")), None);
        assert_eq!(
            StopAt::JobEndOrRunning.reached(&event(1, Wire::Running, "")),
            Some(JobState::Running)
        );
        assert_eq!(
            StopAt::JobEnd.reached(&event(1, Wire::Failed, "")),
            Some(JobState::Failed)
        );
        assert_eq!(StopAt::Never.reached(&event(1, Wire::Failed, "")), None);
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(400));
        assert_eq!(backoff(30), Duration::from_secs(5));
    }
}
