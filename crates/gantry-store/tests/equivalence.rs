//! Random sequences of operations against the in-memory fake and SQLite give
//! the same observable results, step by step: the same records, the same
//! errors (by message), the same pages and tokens, the same counts. Both
//! stores then pass the deep consistency check.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;

use gantry_core::{JobKind, JobState, JobTransition};
use gantry_store::conformance::{check_consistent, job_id, new_job, team};
use gantry_store::{
    Durability, EventSeq, JobQuery, ListOrder, MemoryStore, RequestId, SqliteOptions, SqliteStore,
    StateUpdate, Store, TeamFilter, UnixMillis,
};
use proptest::prelude::*;

const TEAMS: [&str; 4] = ["org", "org/nlp", "organic", "org/nlp/x"];

#[derive(Clone, Debug)]
enum Op {
    Submit {
        id: u8,
        team: usize,
        name: u8,
        request: Option<u8>,
        spec_variant: u8,
        reject: bool,
        kind_inference: bool,
    },
    Apply(Vec<(u8, usize, Option<usize>, u32)>),
    List {
        team: Option<(usize, bool)>,
        states: Vec<usize>,
        kind_inference: Option<bool>,
        newest_first: bool,
        page_size: usize,
    },
    Counts,
    Live,
    EventsAfter(u64, usize),
    Get(u8),
    Events(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..24, 0..TEAMS.len(), 0u8..4, proptest::option::of(0u8..6), 0u8..2, proptest::bool::weighted(0.15), any::<bool>())
            .prop_map(|(id, team, name, request, spec_variant, reject, kind_inference)| Op::Submit { id, team, name, request, spec_variant, reject, kind_inference }),
        4 => proptest::collection::vec((0u8..24, 0..JobState::ALL.len(), proptest::option::of(0..JobTransition::ALL.len()), 0u32..3), 1..4).prop_map(Op::Apply),
        1 => (proptest::option::of((0..TEAMS.len(), any::<bool>())), proptest::collection::vec(0..JobState::ALL.len(), 0..3), proptest::option::of(any::<bool>()), any::<bool>(), 1usize..5)
            .prop_map(|(team, states, kind_inference, newest_first, page_size)| Op::List { team, states, kind_inference, newest_first, page_size }),
        1 => Just(Op::Counts),
        1 => Just(Op::Live),
        1 => (0u64..40, 0usize..8).prop_map(|(after, limit)| Op::EventsAfter(after, limit)),
        1 => (0u8..24).prop_map(Op::Get),
        1 => (0u8..24).prop_map(Op::Events),
    ]
}

fn kind(inference: bool) -> JobKind {
    if inference {
        JobKind::Inference
    } else {
        JobKind::Training
    }
}

/// Runs one operation; the result as text, so results of any type (and
/// errors, by message) compare.
async fn run(store: &dyn Store, op: &Op, at: i64) -> String {
    match op {
        Op::Submit {
            id,
            team: team_index,
            name,
            request,
            spec_variant,
            reject,
            kind_inference,
        } => {
            let mut job = new_job(
                &format!("job-{id}"),
                TEAMS[*team_index],
                &format!("name-{name}"),
            );
            job.request_id =
                request.map(|request| RequestId::new(format!("req-{request}")).unwrap());
            job.spec_yaml
                .push_str(&format!("# variant {spec_variant}\n"));
            job.kind = kind(*kind_inference);
            job.submitted_at = UnixMillis(at);
            if *reject {
                job.transition = JobTransition::Reject;
            }
            format!(
                "{:?}",
                store.submit(job).await.map_err(|error| error.to_string())
            )
        }
        Op::Apply(updates) => {
            let updates: Vec<StateUpdate> = updates
                .iter()
                .map(|(id, expected, transition, attempt)| StateUpdate {
                    job_id: job_id(&format!("job-{id}")),
                    expected_state: JobState::ALL[*expected],
                    transition: transition.map(|index| JobTransition::ALL[index]),
                    attempt: *attempt,
                    placement: (attempt % 2 == 1).then(|| serde_json::json!({"attempt": attempt})),
                    reason: format!("step at {at}"),
                    actor: "proptest".to_owned(),
                    details: serde_json::json!([at]),
                    at: UnixMillis(at),
                })
                .collect();
            format!(
                "{:?}",
                store
                    .apply(updates)
                    .await
                    .map_err(|error| error.to_string())
            )
        }
        Op::List {
            team: team_filter,
            states,
            kind_inference,
            newest_first,
            page_size,
        } => {
            let mut query = JobQuery {
                team: team_filter.map(|(index, include_sub_teams)| TeamFilter {
                    team: team(TEAMS[index]),
                    include_sub_teams,
                }),
                states: states
                    .iter()
                    .map(|index| JobState::ALL[*index])
                    .collect::<BTreeSet<_>>(),
                kind: kind_inference.map(kind),
                order: if *newest_first {
                    ListOrder::NewestFirst
                } else {
                    ListOrder::OldestFirst
                },
                page_size: *page_size,
                page_token: None,
            };
            let mut pages = Vec::new();
            loop {
                let page = store.list_jobs(query.clone()).await.unwrap();
                let next = page.next_page_token.clone();
                pages.push(format!("{page:?}"));
                match next {
                    Some(token) => query.page_token = Some(token),
                    None => break,
                }
            }
            pages.join("\n")
        }
        Op::Counts => format!("{:?}", store.job_counts().await.unwrap()),
        Op::Live => format!("{:?}", store.live_jobs().await.unwrap()),
        Op::EventsAfter(after, limit) => {
            format!(
                "{:?}",
                store.events_after(EventSeq(*after), *limit).await.unwrap()
            )
        }
        Op::Get(id) => format!(
            "{:?}",
            store.get_job(&job_id(&format!("job-{id}"))).await.unwrap()
        ),
        Op::Events(id) => format!(
            "{:?}",
            store
                .job_events(&job_id(&format!("job-{id}")))
                .await
                .unwrap()
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_and_the_fake_agree(ops in proptest::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let directory = tempfile::tempdir().unwrap();
            // No fsync per commit: durability is not what this test is about.
            let options = SqliteOptions { durability: Durability::ProcessCrashSafe, ..SqliteOptions::default() };
            let sqlite = SqliteStore::open(directory.path().join("store.db"), options).await.unwrap();
            let memory = MemoryStore::new();
            for (step, op) in ops.iter().enumerate() {
                let at = i64::try_from(step).unwrap() * 10;
                let expected = run(&memory, op, at).await;
                let actual = run(&sqlite, op, at).await;
                assert_eq!(actual, expected, "step {step}: {op:?}");
            }
            assert_eq!(check_consistent(&sqlite).await, check_consistent(&memory).await);
        });
    }
}
