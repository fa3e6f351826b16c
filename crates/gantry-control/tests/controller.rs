//! The control loop's decisions, input by input, with no I/O: placements
//! persisted before their launch, executor events walked through the state
//! machine, retries, preemptions, lost clusters, room held for placements
//! not yet visible, recovery, cancels, quotas.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use gantry_control::offers::SpotRates;
use gantry_control::{
    CheckpointAnswer, Command, ControlSettings, Controller, Input, RecoveredJob, Transition,
};
use gantry_core::{
    CapacityType, Cloud, GpuModel, JobId, JobSpec, JobState, JobTransition, Money, TeamPath,
    TeamQuota,
};
use gantry_kube::inventory::{Inventory, Pool, PoolKey, PriceSource, Room};
use gantry_kube::{ClusterView, Desired, ExecutorEvent, Health, Phase, WorkloadKey};
use gantry_sched::Policy;

const NOW: i64 = 1_796_000_000_000;

fn pool(
    name: &str,
    model: GpuModel,
    gpus: u32,
    nodes: u32,
    price: &str,
    capacity: CapacityType,
) -> Pool {
    let node = Room {
        gpus,
        cpu_millis: 96_000,
        memory_bytes: 1 << 40,
    };
    Pool {
        key: PoolKey {
            instance_type: format!("{name}-type"),
            zone: "us-east-1a".to_owned(),
            capacity_type: capacity,
        },
        names: BTreeSet::from([name.to_owned()]),
        gpu: Some((model, gpus)),
        node,
        vcpus: 96,
        nodes,
        usable_nodes: nodes,
        idle_nodes: nodes,
        partial_nodes: Vec::new(),
        allocatable: Room {
            gpus: gpus * nodes,
            cpu_millis: 96_000 * u64::from(nodes),
            memory_bytes: (1 << 40) * u64::from(nodes),
        },
        allocated: Room::default(),
        price_per_node_hour: Some(Money::parse_dollars(price).unwrap()),
        price_source: PriceSource::PriceTable,
        price_age_s: None,
        price_note: None,
        catalog_note: None,
    }
}

fn view(cluster: &str, pools: Vec<Pool>, at_ms: i64) -> Arc<ClusterView> {
    Arc::new(ClusterView {
        cluster: cluster.to_owned(),
        cloud: Cloud::Aws,
        region: "us-east-1".to_owned(),
        health: Health::Reachable,
        health_reason: String::new(),
        synced: true,
        inventory: Inventory {
            pools,
            issues: Vec::new(),
        },
        updated_at: jiff::Timestamp::from_millisecond(at_ms).unwrap(),
    })
}

fn views(list: Vec<Arc<ClusterView>>) -> BTreeMap<String, Arc<ClusterView>> {
    list.into_iter().map(|v| (v.cluster.clone(), v)).collect()
}

fn settings(teams: Vec<TeamQuota>) -> ControlSettings {
    ControlSettings {
        policy: Policy::gantry(),
        teams,
        cloud_quotas: Vec::new(),
        spot_rates: SpotRates::default(),
        lost_grace_ms: 60_000,
        clusters: vec!["c1".to_owned(), "c2".to_owned()],
    }
}

fn spec(name: &str, gpus: u32, extra: &str) -> Arc<JobSpec> {
    let text = format!(
        "apiVersion: gantry.dev/v1\nkind: TrainingJob\nmetadata: {{name: {name}, team: nlp}}\nspec:\n  image: i\n  resources: {{gpu: {{count: {gpus}, types: [A100, H100]}}, cpu: 8, memory: 32Gi}}\n  expectedRuntime: 2h\n{extra}"
    );
    Arc::new(gantry_spec::parse_job(&text).unwrap_or_else(|e| panic!("{e:?}")))
}

fn id(text: &str) -> JobId {
    JobId::new(text).unwrap()
}

/// A controller that has recovered an empty store and sees two clusters.
fn started(teams: Vec<TeamQuota>) -> Controller {
    started_with(settings(teams))
}

fn started_with(settings: ControlSettings) -> Controller {
    let mut controller = Controller::new(settings);
    controller.handle(Input::Recovered(Vec::new(), Vec::new()), NOW);
    controller.handle(
        Input::Views(views(vec![
            view(
                "c1",
                vec![pool(
                    "a100",
                    GpuModel::A100,
                    8,
                    2,
                    "32.77",
                    CapacityType::OnDemand,
                )],
                NOW,
            ),
            view(
                "c2",
                vec![pool(
                    "h100",
                    GpuModel::H100,
                    8,
                    1,
                    "98.32",
                    CapacityType::OnDemand,
                )],
                NOW,
            ),
        ])),
        NOW,
    );
    controller
}

fn submit(controller: &mut Controller, job: &str, spec: Arc<JobSpec>) {
    controller.handle(
        Input::Submitted {
            id: id(job),
            spec,
            submitted_at_unix_ms: NOW,
        },
        NOW,
    );
}

fn persisted(commands: &[Command]) -> Vec<Transition> {
    commands
        .iter()
        .filter_map(|command| match command {
            Command::Persist(transitions) => Some(transitions.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn transitions_of(commands: &[Command], job: &str) -> Vec<JobTransition> {
    persisted(commands)
        .into_iter()
        .filter(|t| t.job_id.as_str() == job)
        .filter_map(|t| t.transition)
        .collect()
}

fn phase(job: &str, attempt: u32, cluster: &str, phase: Phase, reason: &str) -> Input {
    Input::Executor(Box::new(ExecutorEvent::Phase {
        cluster: cluster.to_owned(),
        key: WorkloadKey::new(id(job), attempt),
        phase,
        reason: reason.to_owned(),
        message: String::new(),
        exits: Vec::new(),
        at: jiff::Timestamp::from_millisecond(NOW).unwrap(),
        synthesized: false,
    }))
}

fn state(controller: &Controller, job: &str) -> Option<JobState> {
    controller.jobs().get(&id(job)).map(|j| j.state)
}

#[test]
fn a_placement_is_persisted_before_its_launch_on_the_cheapest_pool() {
    let mut controller = started(Vec::new());
    submit(&mut controller, "job-a", spec("a", 8, ""));
    assert!(controller.needs_pass());
    let commands = controller.pass(NOW + 10);
    let persist = commands
        .iter()
        .position(|c| matches!(c, Command::Persist(_)))
        .unwrap();
    let launch = commands
        .iter()
        .position(|c| matches!(c, Command::Launch(_)))
        .unwrap();
    assert!(persist < launch, "{commands:?}");
    let placed = &persisted(&commands)[0];
    assert_eq!(placed.transition, Some(JobTransition::Place));
    assert_eq!((placed.expected, placed.attempt), (JobState::Queued, 1));
    let placement = placed.placement.clone().unwrap();
    // 2 h on A100 at $32.77/h vs 2 h / (H100 speed-up) at $98.32/h: A100 wins.
    assert_eq!(placement.cluster, "c1");
    assert_eq!(placement.gpu_model.as_deref(), Some("A100"));
    let Command::Launch(request) = &commands[launch] else {
        unreachable!()
    };
    assert_eq!(request.key, WorkloadKey::new(id("job-a"), 1));
    assert_eq!(request.target.replicas, 1);
    assert_eq!(state(&controller, "job-a"), Some(JobState::Placed));
    assert!(controller.explanation(&id("job-a")).is_some());
}

#[test]
fn executor_events_walk_the_state_machine_and_skipped_steps_are_recorded() {
    let mut controller = started(Vec::new());
    submit(&mut controller, "job-a", spec("a", 8, ""));
    controller.pass(NOW);
    // The watch missed Launching: Running walks Launch then Start.
    let commands = controller.handle(phase("job-a", 1, "c1", Phase::Running, "Running"), NOW + 1);
    assert_eq!(
        transitions_of(&commands, "job-a"),
        [JobTransition::Launch, JobTransition::Start]
    );
    let expected: Vec<JobState> = persisted(&commands).iter().map(|t| t.expected).collect();
    assert_eq!(
        expected,
        [JobState::Placed, JobState::Launching],
        "each step checks the state before it"
    );
    // A repeated report changes nothing; an old attempt's is ignored.
    assert!(
        persisted(&controller.handle(phase("job-a", 1, "c1", Phase::Running, "Running"), NOW + 2))
            .is_empty()
    );
    assert!(
        persisted(&controller.handle(phase("job-a", 0, "c1", Phase::Failed, "Error"), NOW + 2))
            .is_empty()
    );
    assert!(
        persisted(&controller.handle(phase("job-a", 1, "c2", Phase::Failed, "Error"), NOW + 2))
            .is_empty(),
        "another cluster's report"
    );
    let commands = controller.handle(
        phase("job-a", 1, "c1", Phase::Succeeded, "Completed"),
        NOW + 3,
    );
    assert_eq!(transitions_of(&commands, "job-a"), [JobTransition::Succeed]);
    assert_eq!(
        state(&controller, "job-a"),
        None,
        "finished jobs leave the live set"
    );
}

#[test]
fn failures_are_retried_as_new_attempts_until_retries_run_out() {
    let mut controller = started(Vec::new());
    submit(&mut controller, "job-r", spec("r", 8, "  retries: 1\n"));
    controller.pass(NOW);
    controller.handle(phase("job-r", 1, "c1", Phase::Running, "Running"), NOW);
    let commands = controller.handle(phase("job-r", 1, "c1", Phase::Failed, "OOMKilled"), NOW + 1);
    assert_eq!(transitions_of(&commands, "job-r"), [JobTransition::Requeue]);
    let reason = &persisted(&commands)[0].reason;
    assert!(
        reason.contains("OOMKilled") && reason.contains("retry 1 of 1"),
        "{reason}"
    );
    assert_eq!(state(&controller, "job-r"), Some(JobState::Queued));
    let commands = controller.pass(NOW + 2);
    let placed = persisted(&commands);
    assert_eq!(
        (placed[0].transition, placed[0].attempt),
        (Some(JobTransition::Place), 2)
    );
    controller.handle(phase("job-r", 2, "c1", Phase::Running, "Running"), NOW + 3);
    let commands = controller.handle(phase("job-r", 2, "c1", Phase::Failed, "Error"), NOW + 4);
    assert_eq!(transitions_of(&commands, "job-r"), [JobTransition::Fail]);
    assert_eq!(state(&controller, "job-r"), None);
}

#[test]
fn a_preempted_job_goes_back_to_the_queue_and_runs_again() {
    let mut controller = started(Vec::new());
    submit(&mut controller, "job-p", spec("p", 8, ""));
    controller.pass(NOW);
    controller.handle(phase("job-p", 1, "c1", Phase::Running, "Running"), NOW);
    let commands = controller.handle(
        phase("job-p", 1, "c1", Phase::Preempted, "SpotInterruption"),
        NOW + 5,
    );
    assert_eq!(
        transitions_of(&commands, "job-p"),
        [JobTransition::Preempt, JobTransition::Requeue]
    );
    assert_eq!(persisted(&commands)[0].reason, "SpotInterruption");
    assert_eq!(state(&controller, "job-p"), Some(JobState::Queued));
    let again = controller.pass(NOW + 6);
    assert_eq!(persisted(&again)[0].attempt, 2);
}

#[test]
fn a_lost_clusters_jobs_are_placed_again_after_the_grace_period_only() {
    let mut controller = started(Vec::new());
    submit(&mut controller, "job-l", spec("l", 8, ""));
    controller.pass(NOW);
    controller.handle(phase("job-l", 1, "c1", Phase::Running, "Running"), NOW);
    controller.handle(
        Input::Executor(Box::new(ExecutorEvent::WorkloadLost {
            cluster: "c1".to_owned(),
            key: WorkloadKey::new(id("job-l"), 1),
            reason: "no successful call for 60s".to_owned(),
        })),
        NOW + 1_000,
    );
    assert!(
        persisted(&controller.handle(Input::Tick, NOW + 30_000)).is_empty(),
        "within the grace"
    );
    let commands = controller.handle(Input::Tick, NOW + 61_000);
    assert_eq!(
        transitions_of(&commands, "job-l"),
        [JobTransition::Preempt, JobTransition::Requeue]
    );
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, Command::Cancel { cluster, .. } if cluster == "c1"))
    );
    assert_eq!(state(&controller, "job-l"), Some(JobState::Queued));
}

#[test]
fn room_of_placements_not_yet_in_a_view_is_not_promised_twice() {
    let mut controller = started(Vec::new());
    // c1 has two 8-GPU A100 nodes, c2 one H100 node: three whole-node jobs fit, not four.
    for job in ["job-1", "job-2", "job-3", "job-4"] {
        submit(&mut controller, job, spec(job, 8, ""));
    }
    let placed: Vec<String> = persisted(&controller.pass(NOW))
        .into_iter()
        .map(|t| t.job_id.to_string())
        .collect();
    assert_eq!(placed.len(), 3, "{placed:?}");
    // The same (stale) views again: nothing more is placed.
    controller.handle(
        Input::Views(views(vec![
            view(
                "c1",
                vec![pool(
                    "a100",
                    GpuModel::A100,
                    8,
                    2,
                    "32.77",
                    CapacityType::OnDemand,
                )],
                NOW + 5,
            ),
            view(
                "c2",
                vec![pool(
                    "h100",
                    GpuModel::H100,
                    8,
                    1,
                    "98.32",
                    CapacityType::OnDemand,
                )],
                NOW + 5,
            ),
        ])),
        NOW + 5,
    );
    assert!(persisted(&controller.pass(NOW + 10)).is_empty());
    let waiting = controller
        .jobs()
        .values()
        .find(|job| job.state == JobState::Queued)
        .unwrap()
        .id
        .clone();
    let reason = controller
        .explanation(&waiting)
        .unwrap()
        .waiting_reason
        .clone()
        .unwrap();
    assert!(reason.contains("no free capacity"), "{reason}");
}

/// Where `job`'s placement transition in `commands` put it.
fn placed_on(commands: &[Command], job: &str) -> Option<String> {
    persisted(commands)
        .into_iter()
        .find(|t| t.job_id.as_str() == job && t.transition == Some(JobTransition::Place))
        .and_then(|t| t.placement)
        .map(|placement| placement.cluster)
}

// Passes keep the running jobs' allocations between them; in test builds
// every pass also checks them against a fresh build (see `Controller::pass`).
#[test]
fn kept_allocations_follow_jobs_as_they_start_their_pool_vanishes_and_they_end() {
    let mut controller = started(Vec::new());
    let an_hour_ago = NOW - 3_600_000;
    submit(&mut controller, "job-1", spec("a", 8, ""));
    let placed = controller.pass(an_hour_ago);
    assert_eq!(placed_on(&placed, "job-1").as_deref(), Some("c1"));
    // job-2 takes c1's other node: job-1 (placed, not shown yet) holds one.
    submit(&mut controller, "job-2", spec("b", 8, ""));
    let placed = controller.pass(an_hour_ago + 1);
    assert_eq!(placed_on(&placed, "job-2").as_deref(), Some("c1"));
    // job-1 starts an hour after it was placed, which changes its
    // allocation (started at, expected end); the views now show c1 full.
    controller.handle(phase("job-1", 1, "c1", Phase::Running, "Running"), NOW);
    let mut full = pool(
        "a100",
        GpuModel::A100,
        8,
        2,
        "32.77",
        CapacityType::OnDemand,
    );
    full.idle_nodes = 0;
    full.allocated.gpus = 16;
    let h100 = || {
        pool(
            "h100",
            GpuModel::H100,
            8,
            1,
            "98.32",
            CapacityType::OnDemand,
        )
    };
    controller.handle(
        Input::Views(views(vec![
            view("c1", vec![full], NOW + 1),
            view("c2", vec![h100()], NOW + 1),
        ])),
        NOW + 1,
    );
    submit(&mut controller, "job-3", spec("c", 8, ""));
    let placed = controller.pass(NOW + 2);
    assert_eq!(placed_on(&placed, "job-3").as_deref(), Some("c2"));
    // c1's pool vanishes from its view: its jobs hold ghost offers.
    controller.handle(
        Input::Views(views(vec![
            view("c1", Vec::new(), NOW + 3),
            view("c2", vec![h100()], NOW + 3),
        ])),
        NOW + 3,
    );
    // c2's only node is taken by job-3 (not shown yet): job-4 waits.
    submit(&mut controller, "job-4", spec("d", 8, ""));
    assert_eq!(placed_on(&controller.pass(NOW + 4), "job-4"), None);
    // job-3 ends: its room is free again, and job-4 takes it.
    controller.handle(phase("job-3", 1, "c2", Phase::Running, "Running"), NOW + 5);
    controller.handle(
        phase("job-3", 1, "c2", Phase::Succeeded, "Completed"),
        NOW + 6,
    );
    assert_eq!(state(&controller, "job-3"), None);
    assert_eq!(
        placed_on(&controller.pass(NOW + 7), "job-4").as_deref(),
        Some("c2")
    );
}

/// Team nlp, limited to `gpus` GPUs in all.
fn nlp_gpus(gpus: u32) -> TeamQuota {
    TeamQuota {
        team: TeamPath::parse("nlp").unwrap(),
        gpus: Some(gpus),
        gpus_by_model: BTreeMap::new(),
        cpu_millis: None,
        memory_bytes: None,
        budget_per_day: None,
    }
}

#[test]
fn team_quotas_are_hard_limits() {
    let mut controller = started(vec![nlp_gpus(8)]);
    submit(&mut controller, "job-1", spec("one", 8, ""));
    submit(&mut controller, "job-2", spec("two", 8, ""));
    let commands = controller.pass(NOW);
    assert_eq!(persisted(&commands).len(), 1);
    let reason = controller
        .explanation(&id("job-2"))
        .unwrap()
        .waiting_reason
        .clone()
        .unwrap();
    assert!(reason.contains("team quota of nlp"), "{reason}");
    let usage = controller.team_usage();
    let nlp = usage
        .iter()
        .find(|u| u.team.as_ref().map(TeamPath::as_str) == Some("nlp"))
        .unwrap();
    assert_eq!((nlp.gpus, nlp.queued), (8, 1));
}

fn decided_at(controller: &Controller, job: &str) -> i64 {
    controller.explanation(&id(job)).unwrap().decided_at_unix_ms
}

#[test]
fn a_job_over_quota_is_parked_until_something_is_released() {
    let mut controller = started(vec![nlp_gpus(8)]);
    submit(&mut controller, "job-1", spec("one", 8, ""));
    submit(&mut controller, "job-2", spec("two", 8, ""));
    controller.pass(NOW);
    assert_eq!(controller.parked_jobs(), 1);
    // A new job frees nothing: the parked one is not weighed again.
    submit(&mut controller, "job-3", spec("three", 8, ""));
    assert!(controller.needs_pass());
    assert!(persisted(&controller.pass(NOW + 1_000)).is_empty());
    assert_eq!(decided_at(&controller, "job-2"), NOW);
    assert_eq!(decided_at(&controller, "job-3"), NOW + 1_000);
    assert_eq!(controller.parked_jobs(), 2);
    // The same views again move nothing either.
    let same = controller.views().clone();
    controller.handle(Input::Views(same), NOW + 1_500);
    controller.pass(NOW + 1_500);
    assert_eq!(decided_at(&controller, "job-2"), NOW);
    // job-1 ends: both wake, and the older one takes the quota.
    controller.handle(
        phase("job-1", 1, "c1", Phase::Running, "Running"),
        NOW + 2_000,
    );
    controller.handle(
        phase("job-1", 1, "c1", Phase::Succeeded, "Completed"),
        NOW + 3_000,
    );
    let commands = controller.pass(NOW + 4_000);
    assert_eq!(transitions_of(&commands, "job-2"), [JobTransition::Place]);
    assert!(transitions_of(&commands, "job-3").is_empty());
    assert_eq!(decided_at(&controller, "job-3"), NOW + 4_000);
    assert_eq!(controller.parked_jobs(), 1);
}

#[test]
fn a_job_that_ran_waits_for_its_checkpoint_check_before_it_is_placed_again() {
    let mut controller = started(Vec::new());
    let checkpointing = "  checkpoint: {uri: 'gs://ckpt/job-c/', everyMinutes: 30}\n";
    submit(&mut controller, "job-c", spec("c", 8, checkpointing));
    controller.pass(NOW);
    // Running: nothing to check yet.
    controller.handle(phase("job-c", 1, "c1", Phase::Running, "Running"), NOW + 1);
    assert!(controller.take_checkpoint_checks().is_empty());
    controller.handle(
        phase("job-c", 1, "c1", Phase::Preempted, "SpotInterruption"),
        NOW + 2,
    );
    assert_eq!(state(&controller, "job-c"), Some(JobState::Queued));
    let checks = controller.take_checkpoint_checks();
    assert_eq!(checks.len(), 1);
    let check = checks.into_iter().next().unwrap();
    assert_eq!(
        (check.attempt, check.uri.to_string().as_str()),
        (1, "gs://ckpt/job-c/")
    );
    // Held: a pass does not place it, and its explanation says why.
    assert!(persisted(&controller.pass(NOW + 3)).is_empty());
    let waiting = controller
        .explanation(&id("job-c"))
        .unwrap()
        .waiting_reason
        .clone();
    assert!(waiting.unwrap().contains("checkpoint"));
    // A failed check holds it and is retried later, with one event.
    let failed = controller.handle(
        Input::CheckpointChecked {
            check: check.clone(),
            answer: CheckpointAnswer::Failed("permission denied".to_owned()),
        },
        NOW + 4,
    );
    assert!(
        persisted(&failed)[0]
            .reason
            .starts_with("CheckpointCheckFailed")
    );
    assert!(persisted(&controller.pass(NOW + 5)).is_empty());
    controller.handle(Input::Tick, NOW + 4 + 30_000);
    assert_eq!(
        controller.take_checkpoint_checks(),
        std::slice::from_ref(&check)
    );
    let found = controller.handle(
        Input::CheckpointChecked {
            check,
            answer: CheckpointAnswer::Found,
        },
        NOW + 40_000,
    );
    let note = &persisted(&found)[0];
    assert_eq!(note.transition, None);
    assert!(
        note.reason.starts_with("CheckpointFound"),
        "{}",
        note.reason
    );
    let again = controller.pass(NOW + 40_001);
    assert_eq!(transitions_of(&again, "job-c"), [JobTransition::Place]);
}

#[test]
fn a_job_that_does_not_park_is_weighed_again_at_the_next_tick() {
    // Strict FIFO (no backfill) parks nothing: a parked head would let the
    // jobs behind it pass.
    let mut controller = started_with(ControlSettings {
        policy: Policy {
            backfill: false,
            ..Policy::fifo_first_fit()
        },
        ..settings(Vec::new())
    });
    let jobs = ["j1", "j2", "j3", "j4", "j5", "j6", "j7", "j8"];
    for job in jobs {
        submit(&mut controller, job, spec(job, 8, ""));
    }
    controller.pass(NOW);
    assert!(
        jobs.iter()
            .any(|job| state(&controller, job) == Some(JobState::Queued))
    );
    assert!(!controller.needs_pass());
    assert_eq!(controller.parked_jobs(), 0);
    controller.handle(Input::Tick, NOW + 500);
    assert!(controller.needs_pass());
}

#[test]
fn recovery_tells_the_executor_what_runs_where() {
    let mut controller = Controller::new(settings(Vec::new()));
    let placement = gantry_control::PlacementRecord {
        cluster: "c2".to_owned(),
        cloud: "aws".to_owned(),
        region: "us-east-1".to_owned(),
        zone: "us-east-1a".to_owned(),
        pool: "h100".to_owned(),
        instance_type: "h100-type".to_owned(),
        capacity_type: "on-demand".to_owned(),
        gpu_model: Some("H100".to_owned()),
        replicas: 1,
        hourly_price_micro_usd: 98_320_000,
        expected_runtime_s: 3600,
        compute_micro_usd: 0,
        egress_micro_usd: 0,
        spot_loss_micro_usd: 0,
        price_source: "price-table".to_owned(),
        placed_at_unix_ms: NOW,
        started_at_unix_ms: Some(NOW),
        failures: 0,
    };
    let running = RecoveredJob {
        id: id("job-run"),
        spec: spec("run", 8, ""),
        state: JobState::Running,
        attempt: 3,
        submitted_at_unix_ms: NOW,
        placement: Some(placement),
    };
    let queued = RecoveredJob {
        id: id("job-q"),
        spec: spec("q", 8, ""),
        state: JobState::Queued,
        attempt: 0,
        submitted_at_unix_ms: NOW,
        placement: None,
    };
    let keep = vec![("c1".to_owned(), WorkloadKey::new(id("job-old"), 1))];
    let commands = controller.handle(Input::Recovered(vec![running, queued], keep), NOW);
    let mut desired: BTreeMap<String, Vec<Desired>> = BTreeMap::new();
    for command in commands {
        if let Command::SetDesired {
            cluster,
            desired: list,
        } = command
        {
            desired.insert(cluster, list);
        }
    }
    assert_eq!(desired.len(), 2, "every cluster is told, even with nothing");
    let c2 = &desired["c2"];
    assert!(
        matches!(&c2[..], [Desired::Run(request)] if request.key == WorkloadKey::new(id("job-run"), 3))
    );
    assert!(matches!(&desired["c1"][..], [Desired::Keep(key)] if key.job_id.as_str() == "job-old"));
    assert_eq!(state(&controller, "job-q"), Some(JobState::Queued));
    assert!(
        !controller.needs_pass(),
        "no pass before every cluster has been listed once"
    );
    controller.handle(
        Input::Views(views(vec![
            view("c1", Vec::new(), NOW),
            view(
                "c2",
                vec![pool(
                    "h100",
                    GpuModel::H100,
                    8,
                    1,
                    "98.32",
                    CapacityType::OnDemand,
                )],
                NOW,
            ),
        ])),
        NOW,
    );
    assert!(controller.needs_pass(), "the recovered queue wants a pass");
}

#[test]
fn cancel_persists_stops_the_workload_and_answers() {
    let mut controller = started(Vec::new());
    submit(&mut controller, "job-c", spec("c", 8, ""));
    controller.pass(NOW);
    let commands = controller.handle(
        Input::Cancel {
            id: id("job-c"),
            actor: "alice".to_owned(),
            reason: "wrong data".to_owned(),
        },
        NOW + 1,
    );
    let cancel = &persisted(&commands)[0];
    assert_eq!(
        (
            cancel.transition,
            cancel.actor.as_str(),
            cancel.reason.as_str()
        ),
        (Some(JobTransition::Cancel), "alice", "wrong data")
    );
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, Command::Cancel { key, .. } if key.attempt == 1))
    );
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::CancelOutcome {
            outcome: Ok(JobState::Cancelled),
            ..
        }
    )));
    let again = controller.handle(
        Input::Cancel {
            id: id("job-c"),
            actor: "alice".to_owned(),
            reason: String::new(),
        },
        NOW + 2,
    );
    assert!(matches!(
        &again[..],
        [Command::CancelOutcome {
            outcome: Err(_),
            ..
        }]
    ));
}

#[test]
fn a_quote_ranks_placements_and_changes_nothing() {
    let mut controller = started(Vec::new());
    let quote = controller.quote(&spec("q", 8, ""), NOW);
    assert!(quote.never_fits.is_none());
    assert!(!quote.placements.is_empty());
    assert_eq!(quote.placements[0].1.cluster, "c1");
    assert!(controller.jobs().is_empty());
    let impossible = controller.quote(&spec("big", 16, ""), NOW);
    assert!(
        impossible.never_fits.is_some(),
        "no pool has 16 GPUs a node"
    );
    assert!(
        persisted(&controller.pass(NOW)).is_empty(),
        "the quoted jobs were never queued"
    );
}

#[test]
fn a_pass_waits_for_every_clusters_first_listing_or_its_loss() {
    let mut controller = Controller::new(settings(Vec::new()));
    controller.handle(Input::Recovered(Vec::new(), Vec::new()), NOW);
    let only_c1 = view(
        "c1",
        vec![pool(
            "a100",
            GpuModel::A100,
            8,
            2,
            "32.77",
            CapacityType::OnDemand,
        )],
        NOW,
    );
    controller.handle(Input::Views(views(vec![only_c1.clone()])), NOW);
    submit(&mut controller, "job-w", spec("w", 8, ""));
    assert!(!controller.needs_pass(), "c2 has not answered yet");
    assert!(controller.admission_offers().is_none());
    let c2_lost = Arc::new(ClusterView {
        health: Health::Lost,
        health_reason: "connection refused".to_owned(),
        synced: false,
        ..(*view("c2", Vec::new(), NOW)).clone()
    });
    controller.handle(Input::Views(views(vec![only_c1, c2_lost])), NOW);
    assert!(
        controller.needs_pass(),
        "a lost cluster no longer holds passes back"
    );
    assert!(controller.admission_offers().is_some());
}
