//! The conformance suite: what every [`Store`] backend must do. Each public
//! `async fn` taking a store is one case; [`conformance_suite!`](crate::conformance_suite)
//! turns them all into `#[tokio::test]`s for one backend:
//!
//! ```ignore
//! gantry_store::conformance_suite!(async {
//!     let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//!     (store, ())
//! });
//! ```
//!
//! The expression is evaluated afresh for every case and gives the store and
//! a guard kept alive for the case (a temporary directory, say).
//!
//! [`check_consistent`] is the deep check the crash and property tests use:
//! the log replays through the state machine to every job, counts match the
//! jobs, sequence numbers are gap-free.
//!
//! Test code: it asserts, and is built only with the `conformance` feature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use gantry_core::{JobId, JobKind, JobState, JobTransition, TeamPath, next_state};
use serde_json::json;

use crate::{
    EventRecord, EventSeq, JobCounts, JobPage, JobQuery, JobRecord, ListOrder, NewJob, PageToken,
    RequestId, SpecDigest, StateUpdate, Store, StoreError, Submitted, TeamFilter, UnixMillis,
};

/// Every case, as `#[tokio::test]`s on a fresh store each.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            submit_then_get_returns_every_field,
            rejected_submit_is_terminal_and_holds_no_name,
            submit_refuses_a_transition_that_does_not_start_a_job,
            same_request_id_is_one_job,
            concurrent_submits_of_one_request_id_make_one_job,
            a_job_id_is_used_once,
            a_live_name_is_unique_per_team,
            apply_moves_a_job_and_appends_its_event,
            a_refused_update_refuses_the_whole_batch,
            updates_in_one_batch_see_each_other,
            a_note_keeps_the_state,
            empty_apply_is_a_no_op,
            events_after_resumes_without_gaps,
            listing_filters_by_team_state_and_kind,
            pages_cover_every_job_once_in_both_orders,
            page_tokens_are_bound_to_their_query,
            pages_stay_stable_under_concurrent_submits,
            counts_follow_every_change,
            live_jobs_are_the_non_terminal_ones_in_submission_order,
            committed_seq_follows_commits,
            concurrent_submits_all_land_with_gap_free_sequence_numbers,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $make.await;
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

// ---------------------------------------------------------------- helpers

pub fn job_id(text: &str) -> JobId {
    JobId::new(text).unwrap()
}

pub fn team(text: &str) -> TeamPath {
    TeamPath::parse(text).unwrap()
}

/// A spec text that differs per name.
pub fn spec_for(name: &str) -> String {
    format!(
        "apiVersion: gantry.dev/v1\nkind: TrainingJob\nmetadata:\n  name: {name}\nspec:\n  image: ghcr.io/acme/trainer:1\n"
    )
}

/// An accepted training job, submitted at 1000 + nothing.
pub fn new_job(id: &str, team_path: &str, name: &str) -> NewJob {
    NewJob {
        id: job_id(id),
        request_id: None,
        team: team(team_path),
        name: name.to_owned(),
        kind: JobKind::Training,
        spec_yaml: spec_for(name),
        submitter: "ada".to_owned(),
        transition: JobTransition::Accept,
        reason: "accepted".to_owned(),
        details: json!({"source": "conformance"}),
        submitted_at: UnixMillis(1_000),
    }
}

/// An update of `id` from `expected` by `transition`, at `at`.
pub fn update(
    id: &str,
    expected: JobState,
    transition: Option<JobTransition>,
    at: i64,
) -> StateUpdate {
    StateUpdate {
        job_id: job_id(id),
        expected_state: expected,
        transition,
        attempt: 0,
        placement: None,
        reason: format!("{transition:?} at {at}"),
        actor: "scheduler".to_owned(),
        details: json!({"at": at}),
        at: UnixMillis(at),
    }
}

async fn submit(store: &dyn Store, job: NewJob) -> JobRecord {
    match store.submit(job).await.unwrap() {
        Submitted::Created { job, .. } => job,
        Submitted::Existing { job } => panic!("expected a new job, got existing {}", job.id),
    }
}

async fn all_events(store: &dyn Store) -> Vec<EventRecord> {
    let mut events = Vec::new();
    loop {
        let after = events
            .last()
            .map_or(EventSeq(0), |event: &EventRecord| event.seq);
        let page = store.events_after(after, 1000).await.unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

/// Every job, following page tokens.
pub async fn all_jobs(store: &dyn Store, mut query: JobQuery) -> Vec<JobRecord> {
    let mut jobs = Vec::new();
    loop {
        let JobPage {
            jobs: page,
            next_page_token,
        } = store.list_jobs(query.clone()).await.unwrap();
        jobs.extend(page);
        match next_page_token {
            Some(token) => query.page_token = Some(token),
            None => return jobs,
        }
    }
}

fn ids(jobs: &[JobRecord]) -> Vec<String> {
    jobs.iter().map(|job| job.id.as_str().to_owned()).collect()
}

/// What [`check_consistent`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consistent {
    pub jobs: usize,
    pub events: usize,
}

/// The deep check: sequence numbers 1..=n without gaps; every job's events
/// are its entries of the global log, start with Accept or Reject, follow the
/// state machine edge by edge (a note keeps the state), and end in the job's
/// state, attempt, time and last sequence number; counts are the jobs
/// counted; live jobs are the non-terminal ones.
pub async fn check_consistent(store: &dyn Store) -> Consistent {
    let events = all_events(store).await;
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.seq, EventSeq(index as u64 + 1), "gap in the log");
    }
    let jobs = all_jobs(store, JobQuery::default()).await;
    let mut by_job: BTreeMap<&JobId, Vec<&EventRecord>> = BTreeMap::new();
    for event in &events {
        by_job.entry(&event.job_id).or_default().push(event);
    }
    let mut seen = HashSet::new();
    for job in &jobs {
        assert!(seen.insert(job.id.clone()), "job {} listed twice", job.id);
        let log = by_job.remove(&job.id).unwrap_or_default();
        let own = store.job_events(&job.id).await.unwrap();
        assert_eq!(
            own.iter().collect::<Vec<_>>(),
            log,
            "job_events of {} differ from its log entries",
            job.id
        );
        let mut state: Option<JobState> = None;
        let mut attempt = 0;
        for event in &log {
            assert_eq!(event.from_state, state, "event {} of {}", event.seq, job.id);
            match event.transition {
                Some(transition) => assert_eq!(
                    next_state(state, transition),
                    Ok(event.to_state),
                    "event {} of {} is no edge of the state machine",
                    event.seq,
                    job.id
                ),
                None => assert_eq!(Some(event.to_state), state, "a note changed state"),
            }
            assert!(event.attempt >= attempt, "attempt went back in the log");
            state = Some(event.to_state);
            attempt = event.attempt;
        }
        let last = log.last().expect("every job has a first event");
        assert_eq!(Some(job.state), state, "job {} state vs log", job.id);
        assert_eq!(job.attempt, attempt);
        assert_eq!(job.last_event_seq, last.seq);
        assert_eq!(job.updated_at, last.at);
        assert_eq!(job.spec_digest, SpecDigest::of(&job.spec_yaml));
    }
    assert!(
        by_job.is_empty(),
        "events of unknown jobs: {:?}",
        by_job.keys()
    );
    let mut expected_counts = JobCounts::default();
    for job in &jobs {
        *expected_counts
            .by_team
            .entry(job.team.clone())
            .or_default()
            .entry(job.state)
            .or_insert(0) += 1;
    }
    assert_eq!(store.job_counts().await.unwrap(), expected_counts);
    let live = store.live_jobs().await.unwrap();
    let expected_live: Vec<JobRecord> = jobs
        .iter()
        .filter(|job| !job.state.is_terminal())
        .cloned()
        .collect();
    assert_eq!(live.jobs, expected_live);
    assert_eq!(
        live.last_event_seq,
        events.last().map_or(EventSeq(0), |event| event.seq)
    );
    Consistent {
        jobs: jobs.len(),
        events: events.len(),
    }
}

// ------------------------------------------------------------------ cases

pub async fn submit_then_get_returns_every_field(store: Arc<dyn Store>) {
    let mut job = new_job("job-a", "org/nlp", "llama-sft");
    job.request_id = Some(RequestId::new("req-1").unwrap());
    job.spec_yaml = "kind: TrainingJob # ünïcödé ✓\n".to_owned();
    job.details = json!({"nested": {"list": [1, 2.5, "x", null, true]}});
    job.submitted_at = UnixMillis(1_700_000_000_123);
    let Submitted::Created {
        job: created,
        event,
    } = store.submit(job.clone()).await.unwrap()
    else {
        panic!("a new request id makes a new job");
    };
    let expected = JobRecord {
        id: job.id.clone(),
        request_id: job.request_id.clone(),
        team: job.team.clone(),
        name: "llama-sft".to_owned(),
        kind: JobKind::Training,
        spec_yaml: job.spec_yaml.clone(),
        spec_digest: SpecDigest::of(&job.spec_yaml),
        submitter: "ada".to_owned(),
        state: JobState::Queued,
        attempt: 0,
        submitted_at: UnixMillis(1_700_000_000_123),
        updated_at: UnixMillis(1_700_000_000_123),
        placement: None,
        reason: Some("accepted".to_owned()),
        last_event_seq: EventSeq(1),
    };
    assert_eq!(created, expected);
    assert_eq!(
        event,
        EventRecord {
            seq: EventSeq(1),
            job_id: job.id.clone(),
            at: UnixMillis(1_700_000_000_123),
            from_state: None,
            to_state: JobState::Queued,
            transition: Some(JobTransition::Accept),
            attempt: 0,
            reason: "accepted".to_owned(),
            actor: "ada".to_owned(),
            details: job.details.clone(),
        }
    );
    assert_eq!(store.get_job(&job.id).await.unwrap(), Some(expected));
    assert_eq!(store.job_events(&job.id).await.unwrap(), vec![event]);
    assert_eq!(store.get_job(&job_id("nobody")).await.unwrap(), None);
    assert_eq!(store.job_events(&job_id("nobody")).await.unwrap(), vec![]);

    // An inference service, and an empty reason kept as none.
    let mut service = new_job("svc-b", "vision", "serve");
    service.kind = JobKind::Inference;
    service.reason = String::new();
    let service = submit(&*store, service).await;
    assert_eq!(service.kind, JobKind::Inference);
    assert_eq!(service.reason, None);
    assert_eq!(service.last_event_seq, EventSeq(2));
    assert_eq!(
        store.get_job(&service.id).await.unwrap().unwrap().kind,
        JobKind::Inference
    );
    check_consistent(&*store).await;
}

pub async fn rejected_submit_is_terminal_and_holds_no_name(store: Arc<dyn Store>) {
    let mut rejected = new_job("job-r", "nlp", "big");
    rejected.transition = JobTransition::Reject;
    rejected.reason = "no cluster has 16 GPUs on one node".to_owned();
    let rejected = submit(&*store, rejected).await;
    assert_eq!(rejected.state, JobState::Rejected);
    // A rejected job holds no name: the same name can be submitted again.
    let accepted = submit(&*store, new_job("job-s", "nlp", "big")).await;
    assert_eq!(accepted.state, JobState::Queued);
    // A second rejected job of that name is fine too (it would not be live).
    let mut again = new_job("job-t", "nlp", "big");
    again.transition = JobTransition::Reject;
    assert_eq!(submit(&*store, again).await.state, JobState::Rejected);
    let live = store.live_jobs().await.unwrap();
    assert_eq!(ids(&live.jobs), ["job-s"]);
    check_consistent(&*store).await;
}

pub async fn submit_refuses_a_transition_that_does_not_start_a_job(store: Arc<dyn Store>) {
    for transition in JobTransition::ALL {
        if matches!(transition, JobTransition::Accept | JobTransition::Reject) {
            continue;
        }
        let mut job = new_job("job-x", "nlp", "x");
        job.transition = transition;
        let error = store.submit(job).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::IllegalTransition { id, refused }
                if id.as_str() == "job-x" && refused.from.is_none() && refused.transition == transition),
            "{transition}: {error}"
        );
    }
    assert_eq!(store.get_job(&job_id("job-x")).await.unwrap(), None);
    assert_eq!(store.events_after(EventSeq(0), 10).await.unwrap(), vec![]);
}

pub async fn same_request_id_is_one_job(store: Arc<dyn Store>) {
    let mut first = new_job("job-a", "nlp", "sft");
    first.request_id = Some(RequestId::new("retry-me").unwrap());
    let created = submit(&*store, first.clone()).await;

    // The retry comes with a new job id (the daemon makes one per call).
    let mut retry = first.clone();
    retry.id = job_id("job-b");
    retry.submitted_at = UnixMillis(9_999);
    let Submitted::Existing { job } = store.submit(retry.clone()).await.unwrap() else {
        panic!("the same request id must give the existing job");
    };
    assert_eq!(job, created);
    assert_eq!(store.get_job(&job_id("job-b")).await.unwrap(), None);

    // The existing job is returned as it is now, after it moved on.
    store
        .apply(vec![update(
            "job-a",
            JobState::Queued,
            Some(JobTransition::Place),
            2_000,
        )])
        .await
        .unwrap();
    let Submitted::Existing { job } = store.submit(retry).await.unwrap() else {
        panic!("the same request id must give the existing job");
    };
    assert_eq!(job.state, JobState::Placed);

    // ... even once terminal, when its name is free again: still one job.
    store
        .apply(vec![update(
            "job-a",
            JobState::Placed,
            Some(JobTransition::Cancel),
            3_000,
        )])
        .await
        .unwrap();
    let mut third = first.clone();
    third.id = job_id("job-c");
    assert!(matches!(
        store.submit(third).await.unwrap(),
        Submitted::Existing { job } if job.id.as_str() == "job-a" && job.state == JobState::Cancelled
    ));

    // A different spec under the same request id is a mistake, said clearly.
    let mut changed = first.clone();
    changed.id = job_id("job-d");
    changed.spec_yaml.push_str("# edited\n");
    let error = store.submit(changed).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::RequestIdConflict { request_id, job_id }
            if request_id.as_str() == "retry-me" && job_id.as_str() == "job-a"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "request id retry-me was used for job job-a with a different spec; use a new request id for a changed spec"
    );
    let all = all_jobs(&*store, JobQuery::default()).await;
    assert_eq!(ids(&all), ["job-a"]);
    assert_eq!(store.job_events(&job_id("job-a")).await.unwrap().len(), 3);
    check_consistent(&*store).await;
}

pub async fn concurrent_submits_of_one_request_id_make_one_job(store: Arc<dyn Store>) {
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..100 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let mut job = new_job(&format!("job-{index}"), "nlp", "sft");
            job.request_id = Some(RequestId::new("one-request").unwrap());
            store.submit(job).await.unwrap()
        });
    }
    let outcomes: Vec<Submitted> = tasks.join_all().await;
    let created: Vec<&Submitted> = outcomes
        .iter()
        .filter(|outcome| outcome.is_created())
        .collect();
    assert_eq!(created.len(), 1, "exactly one submit makes the job");
    let the_id = created[0].job().id.clone();
    assert!(outcomes.iter().all(|outcome| outcome.job().id == the_id));
    let all = all_jobs(&*store, JobQuery::default()).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        check_consistent(&*store).await,
        Consistent { jobs: 1, events: 1 }
    );
}

pub async fn a_job_id_is_used_once(store: Arc<dyn Store>) {
    submit(&*store, new_job("job-a", "nlp", "one")).await;
    let error = store
        .submit(new_job("job-a", "vision", "two"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::JobIdTaken { id } if id.as_str() == "job-a"),
        "{error}"
    );
    assert_eq!(
        store.get_job(&job_id("job-a")).await.unwrap().unwrap().name,
        "one"
    );
    check_consistent(&*store).await;
}

pub async fn a_live_name_is_unique_per_team(store: Arc<dyn Store>) {
    submit(&*store, new_job("job-a", "org/nlp", "sft")).await;
    let error = store
        .submit(new_job("job-b", "org/nlp", "sft"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::NameTaken { team, name, live_job }
            if team.as_str() == "org/nlp" && name == "sft" && live_job.as_str() == "job-a"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "team org/nlp already has a live job named sft (job job-a)"
    );
    // Other teams, parent teams included, may use the name.
    submit(&*store, new_job("job-c", "org", "sft")).await;
    submit(&*store, new_job("job-d", "org/nlp/x", "sft")).await;
    // Once job-a is terminal, the name is free; while it moves through live
    // states, it is not.
    store
        .apply(vec![update(
            "job-a",
            JobState::Queued,
            Some(JobTransition::Place),
            2,
        )])
        .await
        .unwrap();
    assert!(matches!(
        store.submit(new_job("job-e", "org/nlp", "sft")).await,
        Err(StoreError::NameTaken { .. })
    ));
    store
        .apply(vec![update(
            "job-a",
            JobState::Placed,
            Some(JobTransition::Cancel),
            3,
        )])
        .await
        .unwrap();
    let reused = submit(&*store, new_job("job-e", "org/nlp", "sft")).await;
    assert_eq!(reused.state, JobState::Queued);
    assert!(matches!(
        store.submit(new_job("job-f", "org/nlp", "sft")).await,
        Err(StoreError::NameTaken { live_job, .. }) if live_job.as_str() == "job-e"
    ));
    check_consistent(&*store).await;
}

pub async fn apply_moves_a_job_and_appends_its_event(store: Arc<dyn Store>) {
    submit(&*store, new_job("job-a", "nlp", "sft")).await;
    let placement =
        json!({"cluster": "aws-us-east-1", "pool": "p5", "cost": {"usd_per_hour": 98.32}});
    let mut place = update("job-a", JobState::Queued, Some(JobTransition::Place), 5_000);
    place.placement = Some(placement.clone());
    place.attempt = 1;
    place.reason = "cheapest feasible offer".to_owned();
    place.details = json!({"candidates": 3});
    let events = store.apply(vec![place]).await.unwrap();
    let expected_event = EventRecord {
        seq: EventSeq(2),
        job_id: job_id("job-a"),
        at: UnixMillis(5_000),
        from_state: Some(JobState::Queued),
        to_state: JobState::Placed,
        transition: Some(JobTransition::Place),
        attempt: 1,
        reason: "cheapest feasible offer".to_owned(),
        actor: "scheduler".to_owned(),
        details: json!({"candidates": 3}),
    };
    assert_eq!(events, vec![expected_event.clone()]);
    let job = store.get_job(&job_id("job-a")).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Placed);
    assert_eq!(job.attempt, 1);
    assert_eq!(job.placement, Some(placement));
    assert_eq!(job.reason.as_deref(), Some("cheapest feasible offer"));
    assert_eq!(job.updated_at, UnixMillis(5_000));
    assert_eq!(job.submitted_at, UnixMillis(1_000));
    assert_eq!(job.last_event_seq, EventSeq(2));
    let own = store.job_events(&job_id("job-a")).await.unwrap();
    assert_eq!(own.len(), 2);
    assert_eq!(own[1], expected_event);

    // Through the whole life, with the placement cleared at the end.
    let mut at = 6_000;
    for (from, transition) in [
        (JobState::Placed, JobTransition::Launch),
        (JobState::Launching, JobTransition::Start),
        (JobState::Running, JobTransition::Succeed),
    ] {
        let mut step = update("job-a", from, Some(transition), at);
        step.attempt = 1;
        store.apply(vec![step]).await.unwrap();
        at += 1_000;
    }
    let job = store.get_job(&job_id("job-a")).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.placement, None);
    assert_eq!(
        check_consistent(&*store).await,
        Consistent { jobs: 1, events: 5 }
    );
}

pub async fn a_refused_update_refuses_the_whole_batch(store: Arc<dyn Store>) {
    submit(&*store, new_job("job-a", "nlp", "a")).await;
    let mut placed = update("job-b", JobState::Queued, Some(JobTransition::Place), 2);
    placed.attempt = 2;
    submit(&*store, new_job("job-b", "nlp", "b")).await;
    store.apply(vec![placed]).await.unwrap();
    let before_a = store.get_job(&job_id("job-a")).await.unwrap();
    let before_b = store.get_job(&job_id("job-b")).await.unwrap();
    let good = update("job-a", JobState::Queued, Some(JobTransition::Place), 10);

    type ErrorCheck = fn(&StoreError) -> bool;
    let cases: Vec<(StateUpdate, ErrorCheck)> = vec![
        (
            update("job-b", JobState::Running, Some(JobTransition::Succeed), 11),
            |error| matches!(error, StoreError::StateConflict { id, expected: JobState::Running, actual: JobState::Placed } if id.as_str() == "job-b"),
        ),
        (
            update("job-zz", JobState::Queued, Some(JobTransition::Place), 11),
            |error| matches!(error, StoreError::JobNotFound { id } if id.as_str() == "job-zz"),
        ),
        (
            update("job-b", JobState::Placed, Some(JobTransition::Succeed), 11),
            |error| {
                matches!(error, StoreError::IllegalTransition { id, refused }
                    if id.as_str() == "job-b" && refused.from == Some(JobState::Placed) && refused.transition == JobTransition::Succeed)
            },
        ),
        (
            {
                let mut back = update("job-b", JobState::Placed, Some(JobTransition::Launch), 11);
                back.attempt = 1;
                back
            },
            |error| matches!(error, StoreError::AttemptWentBack { id, current: 2, requested: 1 } if id.as_str() == "job-b"),
        ),
    ];
    let seq_before = *store.committed_seq().borrow();
    for (bad, expected) in cases {
        let error = store.apply(vec![good.clone(), bad]).await.unwrap_err();
        assert!(expected(&error), "unexpected error: {error}");
        assert_eq!(store.get_job(&job_id("job-a")).await.unwrap(), before_a);
        assert_eq!(store.get_job(&job_id("job-b")).await.unwrap(), before_b);
        assert_eq!(
            store.events_after(EventSeq(3), 10).await.unwrap(),
            vec![],
            "a refused batch appends no event"
        );
    }
    assert_eq!(*store.committed_seq().borrow(), seq_before);
    assert_eq!(
        StoreError::StateConflict {
            id: job_id("job-b"),
            expected: JobState::Running,
            actual: JobState::Placed
        }
        .to_string(),
        "job job-b is Placed, not Running as the update expected"
    );
    // The good update alone goes through, numbered right after the last event.
    let events = store.apply(vec![good]).await.unwrap();
    assert_eq!(events[0].seq, EventSeq(4));
    check_consistent(&*store).await;
}

pub async fn updates_in_one_batch_see_each_other(store: Arc<dyn Store>) {
    submit(&*store, new_job("job-a", "nlp", "a")).await;
    submit(&*store, new_job("job-b", "vision", "b")).await;
    let events = store
        .apply(vec![
            update("job-a", JobState::Queued, Some(JobTransition::Place), 10),
            update("job-b", JobState::Queued, Some(JobTransition::Cancel), 11),
            update("job-a", JobState::Placed, Some(JobTransition::Launch), 12),
            update("job-a", JobState::Launching, Some(JobTransition::Start), 13),
        ])
        .await
        .unwrap();
    let seqs: Vec<u64> = events.iter().map(|event| event.seq.0).collect();
    assert_eq!(seqs, [3, 4, 5, 6]);
    let states: Vec<(Option<JobState>, JobState)> = events
        .iter()
        .map(|event| (event.from_state, event.to_state))
        .collect();
    assert_eq!(
        states,
        [
            (Some(JobState::Queued), JobState::Placed),
            (Some(JobState::Queued), JobState::Cancelled),
            (Some(JobState::Placed), JobState::Launching),
            (Some(JobState::Launching), JobState::Running),
        ]
    );
    let job_a = store.get_job(&job_id("job-a")).await.unwrap().unwrap();
    assert_eq!(job_a.state, JobState::Running);
    assert_eq!(job_a.last_event_seq, EventSeq(6));
    // Within a batch, a later update that expects the old state is refused.
    let error = store
        .apply(vec![
            update("job-a", JobState::Running, Some(JobTransition::Preempt), 20),
            update("job-a", JobState::Running, Some(JobTransition::Fail), 21),
        ])
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        StoreError::StateConflict {
            actual: JobState::Preempted,
            ..
        }
    ));
    check_consistent(&*store).await;
}

pub async fn a_note_keeps_the_state(store: Arc<dyn Store>) {
    submit(&*store, new_job("job-a", "nlp", "a")).await;
    let mut note = update("job-a", JobState::Queued, None, 50);
    note.reason = "waiting: team nlp is at its H100 quota".to_owned();
    note.details = json!({"quota": "nlp/H100"});
    let events = store.apply(vec![note]).await.unwrap();
    assert_eq!(events[0].transition, None);
    assert_eq!(events[0].from_state, Some(JobState::Queued));
    assert_eq!(events[0].to_state, JobState::Queued);
    let job = store.get_job(&job_id("job-a")).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(
        job.reason.as_deref(),
        Some("waiting: team nlp is at its H100 quota")
    );
    assert_eq!(job.updated_at, UnixMillis(50));
    // A note is still compare-and-set.
    assert!(matches!(
        store
            .apply(vec![update("job-a", JobState::Running, None, 51)])
            .await,
        Err(StoreError::StateConflict { .. })
    ));
    // A terminal job may get a note (e.g. a late explanation), never a transition.
    store
        .apply(vec![update(
            "job-a",
            JobState::Queued,
            Some(JobTransition::Cancel),
            60,
        )])
        .await
        .unwrap();
    store
        .apply(vec![update("job-a", JobState::Cancelled, None, 61)])
        .await
        .unwrap();
    assert!(matches!(
        store
            .apply(vec![update(
                "job-a",
                JobState::Cancelled,
                Some(JobTransition::Requeue),
                62
            )])
            .await,
        Err(StoreError::IllegalTransition { .. })
    ));
    assert_eq!(
        check_consistent(&*store).await,
        Consistent { jobs: 1, events: 4 }
    );
}

pub async fn empty_apply_is_a_no_op(store: Arc<dyn Store>) {
    assert_eq!(store.apply(Vec::new()).await.unwrap(), vec![]);
    submit(&*store, new_job("job-a", "nlp", "a")).await;
    assert_eq!(store.apply(Vec::new()).await.unwrap(), vec![]);
    assert_eq!(
        check_consistent(&*store).await,
        Consistent { jobs: 1, events: 1 }
    );
}

pub async fn events_after_resumes_without_gaps(store: Arc<dyn Store>) {
    for index in 0..5 {
        submit(
            &*store,
            new_job(&format!("job-{index}"), "nlp", &format!("n{index}")),
        )
        .await;
    }
    store
        .apply(vec![
            update("job-1", JobState::Queued, Some(JobTransition::Place), 10),
            update("job-3", JobState::Queued, Some(JobTransition::Cancel), 11),
        ])
        .await
        .unwrap();
    let all = store.events_after(EventSeq(0), 100).await.unwrap();
    let seqs: Vec<u64> = all.iter().map(|event| event.seq.0).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7]);
    let resumed = store.events_after(EventSeq(4), 2).await.unwrap();
    assert_eq!(resumed, all[4..6].to_vec());
    assert_eq!(store.events_after(EventSeq(7), 100).await.unwrap(), vec![]);
    assert_eq!(
        store.events_after(EventSeq(u64::MAX), 100).await.unwrap(),
        vec![]
    );
    assert_eq!(store.events_after(EventSeq(0), 0).await.unwrap(), vec![]);
    assert_eq!(
        all[6].job_id.as_str(),
        "job-3",
        "the log is in commit order"
    );
    check_consistent(&*store).await;
}

async fn seed_for_listing(store: &dyn Store) {
    // 9 jobs over teams org, org/nlp, org/nlp/x, organic, vision; both
    // kinds; several states.
    let specs: [(&str, &str, JobKind); 9] = [
        ("job-1", "org", JobKind::Training),
        ("job-2", "org/nlp", JobKind::Training),
        ("job-3", "organic", JobKind::Training),
        ("job-4", "org/nlp/x", JobKind::Inference),
        ("job-5", "vision", JobKind::Inference),
        ("job-6", "org/nlp", JobKind::Inference),
        ("job-7", "org", JobKind::Training),
        ("job-8", "vision", JobKind::Training),
        ("job-9", "org/nlp", JobKind::Training),
    ];
    for (id, team_path, kind) in specs {
        let mut job = new_job(id, team_path, id);
        job.kind = kind;
        submit(store, job).await;
    }
    store
        .apply(vec![
            update("job-2", JobState::Queued, Some(JobTransition::Place), 10),
            update("job-4", JobState::Queued, Some(JobTransition::Cancel), 11),
            update("job-9", JobState::Queued, Some(JobTransition::Place), 12),
            update("job-9", JobState::Placed, Some(JobTransition::Launch), 13),
            update("job-9", JobState::Launching, Some(JobTransition::Start), 14),
        ])
        .await
        .unwrap();
}

pub async fn listing_filters_by_team_state_and_kind(store: Arc<dyn Store>) {
    seed_for_listing(&*store).await;
    let list = |query: JobQuery| {
        let store = Arc::clone(&store);
        async move { ids(&all_jobs(&*store, query).await) }
    };
    let exact = |path: &str| {
        Some(TeamFilter {
            team: team(path),
            include_sub_teams: false,
        })
    };
    let with_subs = |path: &str| {
        Some(TeamFilter {
            team: team(path),
            include_sub_teams: true,
        })
    };
    assert_eq!(
        list(JobQuery::default()).await,
        [
            "job-1", "job-2", "job-3", "job-4", "job-5", "job-6", "job-7", "job-8", "job-9"
        ]
    );
    assert_eq!(
        list(JobQuery {
            team: exact("org"),
            ..JobQuery::default()
        })
        .await,
        ["job-1", "job-7"]
    );
    assert_eq!(
        list(JobQuery {
            team: with_subs("org"),
            ..JobQuery::default()
        })
        .await,
        ["job-1", "job-2", "job-4", "job-6", "job-7", "job-9"],
        "sub-teams of org, never organic"
    );
    assert_eq!(
        list(JobQuery {
            team: with_subs("org/nlp"),
            ..JobQuery::default()
        })
        .await,
        ["job-2", "job-4", "job-6", "job-9"]
    );
    assert_eq!(
        list(JobQuery {
            team: exact("nobody"),
            ..JobQuery::default()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(JobQuery {
            states: [JobState::Placed, JobState::Running].into_iter().collect(),
            ..JobQuery::default()
        })
        .await,
        ["job-2", "job-9"]
    );
    assert_eq!(
        list(JobQuery {
            kind: Some(JobKind::Inference),
            ..JobQuery::default()
        })
        .await,
        ["job-4", "job-5", "job-6"]
    );
    assert_eq!(
        list(JobQuery {
            team: with_subs("org"),
            states: [JobState::Queued].into_iter().collect(),
            kind: Some(JobKind::Training),
            order: ListOrder::NewestFirst,
            ..JobQuery::default()
        })
        .await,
        ["job-7", "job-1"]
    );
}

pub async fn pages_cover_every_job_once_in_both_orders(store: Arc<dyn Store>) {
    for index in 0..23 {
        let mut job = new_job(
            &format!("job-{index:02}"),
            if index % 3 == 0 { "org/nlp" } else { "org" },
            &format!("n{index}"),
        );
        job.submitted_at = UnixMillis(1_000 - index);
        submit(&*store, job).await;
    }
    let oldest_first: Vec<String> = (0..23).map(|index| format!("job-{index:02}")).collect();
    let newest_first: Vec<String> = oldest_first.iter().rev().cloned().collect();
    for page_size in [1, 2, 5, 22, 23, 24, 1000] {
        for (order, expected) in [
            (ListOrder::OldestFirst, &oldest_first),
            (ListOrder::NewestFirst, &newest_first),
        ] {
            let query = JobQuery {
                order,
                page_size,
                ..JobQuery::default()
            };
            let mut pages = 0;
            let mut seen = Vec::new();
            let mut query_now = query.clone();
            loop {
                let page = store.list_jobs(query_now.clone()).await.unwrap();
                assert!(page.jobs.len() <= page_size);
                pages += 1;
                seen.extend(ids(&page.jobs));
                match page.next_page_token {
                    Some(token) => {
                        assert_eq!(page.jobs.len(), page_size, "only the last page is short");
                        query_now.page_token = Some(token);
                    }
                    None => break,
                }
            }
            assert_eq!(&seen, expected, "page size {page_size}, {order:?}");
            assert_eq!(
                pages,
                23_usize.div_ceil(page_size).max(1),
                "page size {page_size}"
            );
        }
    }
    // Page size 0 means the default, and sizes above the maximum are cut.
    let page = store.list_jobs(JobQuery::default()).await.unwrap();
    assert_eq!(page.jobs.len(), 23);
    assert_eq!(page.next_page_token, None);
    // A filtered listing pages too.
    let filtered = all_jobs(
        &*store,
        JobQuery {
            team: Some(TeamFilter {
                team: team("org/nlp"),
                include_sub_teams: false,
            }),
            page_size: 2,
            ..JobQuery::default()
        },
    )
    .await;
    assert_eq!(
        ids(&filtered),
        [
            "job-00", "job-03", "job-06", "job-09", "job-12", "job-15", "job-18", "job-21"
        ]
    );
}

pub async fn page_tokens_are_bound_to_their_query(store: Arc<dyn Store>) {
    seed_for_listing(&*store).await;
    let query = JobQuery {
        page_size: 2,
        ..JobQuery::default()
    };
    let token = store
        .list_jobs(query.clone())
        .await
        .unwrap()
        .next_page_token
        .unwrap();
    for changed in [
        JobQuery {
            order: ListOrder::NewestFirst,
            ..query.clone()
        },
        JobQuery {
            kind: Some(JobKind::Training),
            ..query.clone()
        },
        JobQuery {
            states: BTreeSet::from([JobState::Queued]),
            ..query.clone()
        },
        JobQuery {
            team: Some(TeamFilter {
                team: team("org"),
                include_sub_teams: true,
            }),
            ..query.clone()
        },
    ] {
        let error = store
            .list_jobs(JobQuery {
                page_token: Some(token.clone()),
                ..changed
            })
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::InvalidPageToken { .. }),
            "{error}"
        );
    }
    for garbage in ["", "abc", "p1.5", "p1.5.nothex", "p1.-3.0"] {
        let error = store
            .list_jobs(JobQuery {
                page_token: Some(PageToken::new(garbage)),
                ..query.clone()
            })
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::InvalidPageToken { .. }),
            "{garbage:?}: {error}"
        );
    }
    // The page size may change between pages.
    let rest = store
        .list_jobs(JobQuery {
            page_token: Some(token),
            page_size: 100,
            ..query
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&rest.jobs),
        [
            "job-3", "job-4", "job-5", "job-6", "job-7", "job-8", "job-9"
        ]
    );
}

pub async fn pages_stay_stable_under_concurrent_submits(store: Arc<dyn Store>) {
    let initial: Vec<String> = (0..60).map(|index| format!("job-{index}")).collect();
    for id in &initial {
        submit(&*store, new_job(id, "nlp", id)).await;
    }
    for order in [ListOrder::OldestFirst, ListOrder::NewestFirst] {
        let writer_store = Arc::clone(&store);
        let prefix = match order {
            ListOrder::OldestFirst => "late-a",
            ListOrder::NewestFirst => "late-b",
        };
        let writer = tokio::spawn(async move {
            for index in 0..60 {
                let id = format!("{prefix}-{index}");
                submit(&*writer_store, new_job(&id, "nlp", &id)).await;
                // Also move an old job, so rows change under the reader.
                if index % 4 == 0 {
                    let _ = writer_store
                        .apply(vec![update(
                            &format!("job-{index}"),
                            JobState::Queued,
                            None,
                            index,
                        )])
                        .await;
                }
                tokio::task::yield_now().await;
            }
        });
        let mut query = JobQuery {
            order,
            page_size: 7,
            ..JobQuery::default()
        };
        let mut seen: Vec<String> = Vec::new();
        loop {
            let page = store.list_jobs(query.clone()).await.unwrap();
            seen.extend(ids(&page.jobs));
            tokio::task::yield_now().await;
            match page.next_page_token {
                Some(token) => query.page_token = Some(token),
                None => break,
            }
        }
        writer.await.unwrap();
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{order:?}: a job was listed twice"
        );
        for id in &initial {
            assert!(unique.contains(id), "{order:?}: {id} was skipped");
        }
    }
    check_consistent(&*store).await;
}

pub async fn counts_follow_every_change(store: Arc<dyn Store>) {
    assert_eq!(store.job_counts().await.unwrap(), JobCounts::default());
    seed_for_listing(&*store).await;
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts.get(&team("org/nlp"), JobState::Queued), 1);
    assert_eq!(counts.get(&team("org/nlp"), JobState::Placed), 1);
    assert_eq!(counts.get(&team("org/nlp"), JobState::Running), 1);
    assert_eq!(counts.get(&team("org/nlp/x"), JobState::Cancelled), 1);
    assert_eq!(counts.get(&team("org"), JobState::Queued), 2);
    assert_eq!(counts.get(&team("vision"), JobState::Queued), 2);
    assert_eq!(counts.total(), 9);
    assert_eq!(
        counts.by_state(),
        BTreeMap::from([
            (JobState::Queued, 6),
            (JobState::Placed, 1),
            (JobState::Running, 1),
            (JobState::Cancelled, 1),
        ])
    );
    // A refused batch moves no count; a state that empties disappears.
    let _ = store
        .apply(vec![
            update("job-2", JobState::Placed, Some(JobTransition::Unplace), 20),
            update("job-5", JobState::Running, Some(JobTransition::Fail), 21),
        ])
        .await
        .unwrap_err();
    assert_eq!(store.job_counts().await.unwrap(), counts);
    store
        .apply(vec![update(
            "job-2",
            JobState::Placed,
            Some(JobTransition::Unplace),
            20,
        )])
        .await
        .unwrap();
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts.get(&team("org/nlp"), JobState::Queued), 2);
    assert_eq!(counts.get(&team("org/nlp"), JobState::Placed), 0);
    assert!(!counts.by_team[&team("org/nlp")].contains_key(&JobState::Placed));
    check_consistent(&*store).await;
}

pub async fn live_jobs_are_the_non_terminal_ones_in_submission_order(store: Arc<dyn Store>) {
    assert_eq!(store.live_jobs().await.unwrap().jobs, vec![]);
    seed_for_listing(&*store).await;
    let mut rejected = new_job("job-10", "nlp", "r");
    rejected.transition = JobTransition::Reject;
    submit(&*store, rejected).await;
    store
        .apply(vec![
            update("job-9", JobState::Running, Some(JobTransition::Preempt), 30),
            update("job-1", JobState::Queued, Some(JobTransition::Cancel), 31),
        ])
        .await
        .unwrap();
    let live = store.live_jobs().await.unwrap();
    assert_eq!(
        ids(&live.jobs),
        [
            "job-2", "job-3", "job-5", "job-6", "job-7", "job-8", "job-9"
        ]
    );
    assert_eq!(live.jobs[6].state, JobState::Preempted);
    assert_eq!(live.last_event_seq, EventSeq(17));
    check_consistent(&*store).await;
}

pub async fn committed_seq_follows_commits(store: Arc<dyn Store>) {
    let mut watch = store.committed_seq();
    assert_eq!(*watch.borrow_and_update(), EventSeq(0));
    submit(&*store, new_job("job-a", "nlp", "a")).await;
    // The write returned, so the watch has moved already.
    assert!(watch.has_changed().unwrap());
    assert_eq!(*watch.borrow_and_update(), EventSeq(1));
    store
        .apply(vec![
            update("job-a", JobState::Queued, Some(JobTransition::Place), 2),
            update("job-a", JobState::Placed, Some(JobTransition::Launch), 3),
        ])
        .await
        .unwrap();
    assert_eq!(*watch.borrow_and_update(), EventSeq(3));
    // A waiter wakes up on the next commit.
    let waiter = {
        let mut watch = store.committed_seq();
        watch.borrow_and_update();
        tokio::spawn(async move {
            watch.changed().await.unwrap();
            *watch.borrow()
        })
    };
    tokio::task::yield_now().await;
    submit(&*store, new_job("job-b", "nlp", "b")).await;
    assert_eq!(waiter.await.unwrap(), EventSeq(4));
    assert_eq!(*watch.borrow_and_update(), EventSeq(4));
    // Refused writes move nothing.
    let _ = store
        .submit(new_job("job-a", "nlp", "again"))
        .await
        .unwrap_err();
    assert!(!watch.has_changed().unwrap());
}

pub async fn concurrent_submits_all_land_with_gap_free_sequence_numbers(store: Arc<dyn Store>) {
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..200 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let id = format!("job-{index}");
            // Every tenth name collides with another's: one of each pair is refused.
            let name = if index % 10 == 0 {
                "shared".to_owned()
            } else {
                id.clone()
            };
            let outcome = store.submit(new_job(&id, "nlp", &name)).await;
            if let Ok(submitted) = &outcome {
                // And each one that landed moves on right away.
                store
                    .apply(vec![update(
                        &id,
                        JobState::Queued,
                        Some(JobTransition::Place),
                        7,
                    )])
                    .await
                    .unwrap();
                assert!(submitted.is_created());
            }
            (index, outcome.map(|submitted| submitted.job().id.clone()))
        });
    }
    let outcomes = tasks.join_all().await;
    let landed = outcomes
        .iter()
        .filter(|(_, outcome)| outcome.is_ok())
        .count();
    let refused: Vec<_> = outcomes
        .iter()
        .filter_map(|(index, outcome)| outcome.as_ref().err().map(|error| (index, error)))
        .collect();
    assert_eq!(
        landed, 181,
        "180 distinct names and one of the 20 sharing one"
    );
    assert!(refused.iter().all(|(index, error)| *index % 10 == 0
        && matches!(error, StoreError::NameTaken { .. })));
    assert_eq!(
        check_consistent(&*store).await,
        Consistent {
            jobs: 181,
            events: 362
        }
    );
}
