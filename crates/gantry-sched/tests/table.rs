//! Data-driven scheduler tests: each case is a small fleet, a queue and the
//! decisions expected, run through one helper.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use gantry_core::CapacityType::{OnDemand, Reserved, Spot};
use gantry_core::Cloud::{Aws, Azure, Gcp};
use gantry_core::GpuModel::{A100, H100, L4};
use gantry_core::{Glob, SpotPolicy};
use gantry_sched::{Policy, Snapshot, WaitReason, never_fits, schedule};
use support::*;

/// What a case expects of one job.
enum Expect {
    /// Placed on this pool.
    On(&'static str, &'static str),
    /// Waiting, with a reason whose text contains this.
    Waits(&'static str, &'static str),
    /// Preempted.
    Preempted(&'static str),
}

fn check(name: &str, snapshot: &Snapshot, policy: &Policy, expectations: &[Expect]) {
    let plan = schedule(snapshot, policy, 1_000_000);
    let again = schedule(snapshot, policy, 1_000_000);
    assert_eq!(plan, again, "{name}: same input, same plan");
    for expectation in expectations {
        match expectation {
            Expect::On(job, pool) => {
                let placement = plan
                    .placements
                    .iter()
                    .find(|placement| placement.job.as_str() == *job)
                    .unwrap_or_else(|| {
                        panic!("{name}: {job} not placed; plan: {:#?}", plan.waiting)
                    });
                assert_eq!(
                    placement.pool, *pool,
                    "{name}: {job} on {}; explanation {:#?}",
                    placement.pool, placement.explanation
                );
            }
            Expect::Waits(job, reason) => {
                let waiting = plan
                    .waiting
                    .iter()
                    .find(|waiting| waiting.job.as_str() == *job)
                    .unwrap_or_else(|| {
                        panic!(
                            "{name}: {job} not waiting; placements {:#?}",
                            plan.placements
                        )
                    });
                let text = waiting.reason.to_string();
                assert!(
                    text.contains(reason),
                    "{name}: {job} waits because `{text}`, expected `{reason}`"
                );
            }
            Expect::Preempted(job) => {
                assert!(
                    plan.preemptions
                        .iter()
                        .any(|preemption| preemption.victim.as_str() == *job),
                    "{name}: {job} not preempted: {:#?}",
                    plan.preemptions
                );
            }
        }
    }
    let expected_preemptions = expectations
        .iter()
        .filter(|expectation| matches!(expectation, Expect::Preempted(_)))
        .count();
    assert_eq!(
        plan.preemptions.len(),
        expected_preemptions,
        "{name}: preemptions {:#?}",
        plan.preemptions
    );
}

fn snapshot(offers: Vec<gantry_sched::Offer>, queue: Vec<gantry_sched::QueuedJob>) -> Snapshot {
    Snapshot {
        offers,
        queue,
        ..Snapshot::default()
    }
}

#[test]
fn offer_choice() {
    use Expect::*;
    let gantry = Policy::gantry();

    check(
        "the cheaper of two on-demand pools of one model",
        &snapshot(
            vec![
                gpu_offer("a", "pricey", Aws, "us-east-1", A100, 8, 2, OnDemand, "40"),
                gpu_offer("b", "cheap", Gcp, "us-central1", A100, 8, 2, OnDemand, "30"),
            ],
            vec![gpu_job("j", "t", &[A100], 8, 1)],
        ),
        &gantry,
        &[On("j", "cheap")],
    );

    check(
        "reserved capacity is already paid, so it goes first",
        &snapshot(
            vec![
                gpu_offer(
                    "a",
                    "on-demand",
                    Aws,
                    "us-east-1",
                    A100,
                    8,
                    2,
                    OnDemand,
                    "30",
                ),
                gpu_offer(
                    "b",
                    "reserved",
                    Aws,
                    "us-east-1",
                    A100,
                    8,
                    2,
                    Reserved,
                    "35",
                ),
            ],
            vec![gpu_job("j", "t", &[A100], 8, 1)],
        ),
        &gantry,
        &[On("j", "reserved")],
    );

    let faster = snapshot(
        vec![
            gpu_offer("a", "a100", Aws, "us-east-1", A100, 8, 2, OnDemand, "32"),
            gpu_offer("b", "h100", Aws, "us-east-1", H100, 8, 2, OnDemand, "64"),
        ],
        vec![gpu_job("j", "t", &[A100, H100], 8, 1)],
    );
    check(
        "more per hour but done sooner wins",
        &faster,
        &gantry,
        &[On("j", "h100")],
    );
    check(
        "cheapest-now looks at the hourly price only",
        &faster,
        &Policy::cheapest_now(),
        &[On("j", "a100")],
    );
    check(
        "first-fit takes the first pool that fits",
        &faster,
        &Policy::fifo_first_fit(),
        &[On("j", "a100")],
    );

    let mut with_data = gpu_job("j", "t", &[A100], 8, 1);
    with_data.data = vec![data(Gcp, "europe-west4", 2000)];
    check(
        "egress decides between equal prices",
        &snapshot(
            vec![
                gpu_offer("a", "us", Gcp, "us-central1", A100, 8, 1, OnDemand, "30"),
                gpu_offer("b", "eu", Gcp, "europe-west4", A100, 8, 1, OnDemand, "31"),
                gpu_offer(
                    "c",
                    "azure",
                    Azure,
                    "westeurope",
                    A100,
                    8,
                    1,
                    OnDemand,
                    "29",
                ),
            ],
            vec![with_data],
        ),
        &gantry,
        &[On("j", "eu")],
    );

    let mut long_no_checkpoint = gpu_job("risky", "t", &[A100], 8, 2);
    long_no_checkpoint.expected_runtime_s = 48 * HOUR;
    long_no_checkpoint.placement.spot = SpotPolicy::Allowed;
    let mut checkpointed = long_no_checkpoint.clone();
    checkpointed.id = job_id("safe");
    checkpointed.checkpoint_every_s = Some(600);
    let mut spot = gpu_offer("a", "spot", Aws, "us-east-1", A100, 8, 4, Spot, "18");
    spot.interruption_rate_per_hour = 0.2;
    let offers = vec![
        spot,
        gpu_offer(
            "a",
            "on-demand",
            Aws,
            "us-east-1",
            A100,
            8,
            4,
            OnDemand,
            "32",
        ),
    ];
    check(
        "spot loses a long uncheckpointed job more than it saves",
        &snapshot(offers.clone(), vec![long_no_checkpoint]),
        &gantry,
        &[On("risky", "on-demand")],
    );
    check(
        "spot is cheaper for a job that checkpoints often",
        &snapshot(offers.clone(), vec![checkpointed]),
        &gantry,
        &[On("safe", "spot")],
    );

    let mut never = gpu_job("never", "t", &[A100], 8, 1);
    never.placement.spot = SpotPolicy::Never;
    let mut required = gpu_job("required", "t", &[A100], 8, 1);
    required.placement.spot = SpotPolicy::Required;
    let mut cheap_spot = gpu_offer("a", "spot", Aws, "us-east-1", A100, 8, 4, Spot, "5");
    cheap_spot.interruption_rate_per_hour = 0.0;
    check(
        "spot policy: never and required",
        &snapshot(
            vec![
                cheap_spot,
                gpu_offer(
                    "a",
                    "on-demand",
                    Aws,
                    "us-east-1",
                    A100,
                    8,
                    4,
                    OnDemand,
                    "32",
                ),
            ],
            vec![never, required],
        ),
        &gantry,
        &[On("never", "on-demand"), On("required", "spot")],
    );

    let mut capped = gpu_job("capped", "t", &[A100], 8, 1);
    capped.placement.max_hourly_cost = Some(dollars("20"));
    check(
        "maxHourlyCost is never exceeded",
        &snapshot(
            vec![gpu_offer(
                "a",
                "p",
                Aws,
                "us-east-1",
                A100,
                8,
                4,
                OnDemand,
                "32",
            )],
            vec![capped],
        ),
        &gantry,
        &[Waits("capped", "above maxHourlyCost $20.00/h")],
    );

    let mut eu_only = gpu_job("eu", "t", &[A100], 8, 1);
    eu_only.placement.regions = vec![
        Glob::parse("europe-*").unwrap(),
        Glob::parse("westeurope").unwrap(),
    ];
    check(
        "region globs",
        &snapshot(
            vec![
                gpu_offer("a", "us", Aws, "us-east-1", A100, 8, 4, OnDemand, "20"),
                gpu_offer("b", "eu", Azure, "westeurope", A100, 8, 4, OnDemand, "40"),
            ],
            vec![eu_only],
        ),
        &gantry,
        &[On("eu", "eu")],
    );

    check(
        "CPU-only jobs go to CPU pools",
        &snapshot(
            vec![
                gpu_offer("a", "gpu", Aws, "us-east-1", L4, 1, 4, OnDemand, "1"),
                cpu_offer("a", "cpu", 2, "6"),
            ],
            vec![cpu_job("prep", "t", 64_000, 256)],
        ),
        &gantry,
        &[On("prep", "cpu")],
    );
}

#[test]
fn quotas_are_hard_limits() {
    use Expect::*;
    let gantry = Policy::gantry();
    let offers = vec![
        gpu_offer("a", "h100", Aws, "us-east-1", H100, 8, 4, OnDemand, "64"),
        gpu_offer("a", "a100", Aws, "us-east-1", A100, 8, 4, OnDemand, "32"),
    ];

    let mut limited = quota("nlp");
    limited.gpus = Some(8);
    let mut case = snapshot(
        offers.clone(),
        vec![
            gpu_job("one", "nlp", &[A100], 8, 1),
            gpu_job("two", "nlp", &[A100], 8, 1),
        ],
    );
    case.teams = vec![budget(limited, "0")];
    check(
        "team GPU quota",
        &case,
        &gantry,
        &[
            On("one", "a100"),
            Waits("two", "team quota of nlp: GPUs 8 in use + 8 requested > 8"),
        ],
    );

    let mut parent = quota("org");
    parent.gpus = Some(8);
    let mut case = snapshot(
        offers.clone(),
        vec![
            gpu_job("one", "org/a", &[A100], 8, 1),
            gpu_job("two", "org/b", &[A100], 8, 1),
        ],
    );
    case.teams = vec![budget(parent, "0")];
    check(
        "a parent's quota binds its children together",
        &case,
        &gantry,
        &[On("one", "a100"), Waits("two", "team quota of org")],
    );

    let mut no_h100 = quota("nlp");
    no_h100.gpus_by_model.insert(H100, 0);
    let mut case = snapshot(
        offers.clone(),
        vec![gpu_job("j", "nlp", &[H100, A100], 8, 1)],
    );
    case.teams = vec![budget(no_h100, "0")];
    check(
        "a per-model quota moves the job to its other model",
        &case,
        &gantry,
        &[On("j", "a100")],
    );

    let mut broke = quota("nlp");
    broke.budget_per_day = Some(dollars("100"));
    let mut case = snapshot(offers.clone(), vec![gpu_job("j", "nlp", &[A100], 8, 1)]);
    case.teams = vec![budget(broke, "90")];
    check(
        "daily budget",
        &case,
        &gantry,
        &[Waits("j", "daily budget of nlp")],
    );

    let mut case = snapshot(
        vec![
            gpu_offer("a", "use1", Aws, "us-east-1", A100, 8, 4, OnDemand, "30"),
            gpu_offer("b", "usw2", Aws, "us-west-2", A100, 8, 4, OnDemand, "33"),
        ],
        vec![
            gpu_job("one", "t", &[A100], 8, 1),
            gpu_job("two", "t", &[A100], 8, 1),
        ],
    );
    case.cloud_quotas = vec![cloud_quota(Aws, "us-east-1", 8)];
    check(
        "a cloud region quota sends the overflow elsewhere",
        &case,
        &gantry,
        &[On("one", "use1"), On("two", "usw2")],
    );
}

#[test]
fn gangs_order_and_preemption() {
    use Expect::*;
    let gantry = Policy::gantry();

    check(
        "a gang is placed whole in one pool or waits",
        &snapshot(
            vec![
                gpu_offer("a", "three", Aws, "us-east-1", H100, 8, 3, OnDemand, "50"),
                gpu_offer("b", "four", Gcp, "us-central1", H100, 8, 4, OnDemand, "70"),
            ],
            vec![
                gpu_job("gang", "t", &[H100], 8, 4),
                gpu_job("big", "t", &[H100], 8, 5),
            ],
        ),
        &gantry,
        &[
            On("gang", "four"),
            Waits("big", "no allowed pool has enough nodes for a gang of 5"),
        ],
    );

    let mut urgent = gpu_job("urgent", "t", &[A100], 8, 1);
    urgent.priority = 1000;
    urgent.submitted_at = 10;
    check(
        "priority before submission order",
        &snapshot(
            vec![gpu_offer(
                "a",
                "p",
                Aws,
                "us-east-1",
                A100,
                8,
                1,
                OnDemand,
                "30",
            )],
            vec![gpu_job("early", "t", &[A100], 8, 1), urgent],
        ),
        &gantry,
        &[On("urgent", "p"), Waits("early", "no free capacity")],
    );

    let offers = vec![gpu_offer(
        "a",
        "p",
        Aws,
        "us-east-1",
        A100,
        8,
        3,
        OnDemand,
        "30",
    )];
    let mut case = snapshot(offers, vec![]);
    case.offers[0].idle_nodes = 1;
    case.running = vec![
        running("big-user-1", "heavy", 0, &case, 1, 100, true, 0, 0),
        running("big-user-2", "heavy", 0, &case, 1, 100, true, 0, 0),
    ];
    let mut heavy_next = gpu_job("heavy-next", "heavy", &[A100], 8, 1);
    heavy_next.submitted_at = 1;
    let mut light_next = gpu_job("light-next", "light", &[A100], 8, 1);
    light_next.submitted_at = 2;
    case.queue = vec![heavy_next, light_next];
    let mut heavy_quota = quota("heavy");
    heavy_quota.gpus = Some(64);
    let mut light_quota = quota("light");
    light_quota.gpus = Some(64);
    case.teams = vec![budget(heavy_quota, "0"), budget(light_quota, "0")];
    check(
        "fair share: the team using less of its quota goes first",
        &case,
        &gantry,
        &[
            On("light-next", "p"),
            Waits("heavy-next", "no free capacity"),
        ],
    );
    check(
        "FIFO ignores fair share",
        &case,
        &Policy::cheapest_now(),
        &[
            On("heavy-next", "p"),
            Waits("light-next", "no free capacity"),
        ],
    );

    let mut case = snapshot(
        vec![gpu_offer(
            "a",
            "p",
            Aws,
            "us-east-1",
            A100,
            8,
            3,
            OnDemand,
            "30",
        )],
        vec![],
    );
    case.offers[0].idle_nodes = 0;
    let now = 1_000_000;
    case.running = vec![
        running(
            "fresh-checkpoint",
            "t",
            0,
            &case,
            1,
            10,
            true,
            now - 5 * HOUR,
            now - 60,
        ),
        running(
            "stale-checkpoint",
            "t",
            0,
            &case,
            1,
            10,
            true,
            now - 5 * HOUR,
            now - 3 * HOUR,
        ),
        running(
            "important",
            "t",
            0,
            &case,
            1,
            10,
            false,
            now - 5 * HOUR,
            now - 60,
        ),
    ];
    let mut eval = gpu_job("eval", "t", &[A100], 8, 1);
    eval.priority = 1000;
    let mut low = gpu_job("low", "t", &[A100], 8, 1);
    low.priority = 5;
    case.queue = vec![eval, low];
    check(
        "preemption stops the victim that loses least work, never a non-preemptible one",
        &case,
        &gantry,
        &[
            On("eval", "p"),
            Preempted("fresh-checkpoint"),
            Waits("low", "no free capacity"),
        ],
    );
    check(
        "baselines do not preempt",
        &case,
        &Policy::cheapest_now(),
        &[Waits("eval", "no free capacity")],
    );
}

#[test]
fn jobs_that_can_never_fit_say_why() {
    let offers = vec![gpu_offer(
        "a",
        "p",
        Aws,
        "us-east-1",
        H100,
        8,
        4,
        OnDemand,
        "60",
    )];
    let too_wide = gpu_job("wide", "t", &[H100], 16, 1);
    let reason = never_fits(&offers, &too_wide).unwrap();
    assert!(
        reason.contains("16 H100 GPUs on one node (the most is 8)"),
        "{reason}"
    );
    let mut nowhere = gpu_job("nowhere", "t", &[H100], 8, 1);
    nowhere.placement.clouds = [Gcp].into_iter().collect();
    assert_eq!(
        never_fits(&offers, &nowhere).unwrap(),
        "no cluster is in the allowed clouds, regions and clusters"
    );
    let wrong_model = gpu_job("l4", "t", &[L4], 1, 1);
    assert_eq!(
        never_fits(&offers, &wrong_model).unwrap(),
        "no allowed pool has L4 GPUs"
    );
    assert_eq!(
        never_fits(&offers, &gpu_job("ok", "t", &[H100], 8, 4)),
        None
    );

    let plan = schedule(&snapshot(offers, vec![too_wide]), &Policy::gantry(), 0);
    assert!(
        matches!(&plan.waiting[0].reason, WaitReason::NoMatchingOffer(detail) if detail.contains("on one node"))
    );
}

#[test]
fn explanations_list_the_chosen_and_the_rejected() {
    let mut capped = gpu_job("j", "t", &[A100, H100], 8, 1);
    capped.placement.max_hourly_cost = Some(dollars("50"));
    let case = snapshot(
        vec![
            gpu_offer("a", "a100", Aws, "us-east-1", A100, 8, 1, OnDemand, "32"),
            gpu_offer("a", "h100", Aws, "us-east-1", H100, 8, 1, OnDemand, "64"),
            gpu_offer(
                "b",
                "a100-b",
                Gcp,
                "us-central1",
                A100,
                8,
                1,
                OnDemand,
                "35",
            ),
        ],
        vec![capped],
    );
    let plan = schedule(&case, &Policy::gantry(), 0);
    let explanation = &plan.placements[0].explanation;
    assert_eq!(explanation.offers_considered, 3);
    assert_eq!(explanation.candidates[0].rejection, None);
    assert_eq!(explanation.candidates[0].offer, 0);
    assert!(explanation.candidates.iter().any(|candidate| matches!(
        candidate.rejection,
        Some(gantry_sched::Rejection::MaxHourlyCost { .. })
    )));
    assert!(
        explanation
            .candidates
            .iter()
            .any(|candidate| candidate.rejection == Some(gantry_sched::Rejection::Costlier))
    );
}

#[test]
fn patience_waits_for_a_busy_cheaper_offer() {
    use Expect::*;
    let now = 1_000_000;
    let mut busy_reserved = gpu_offer(
        "a",
        "reserved",
        Aws,
        "us-east-1",
        A100,
        8,
        1,
        Reserved,
        "35",
    );
    busy_reserved.idle_nodes = 0;
    let on_demand = gpu_offer(
        "a",
        "on-demand",
        Aws,
        "us-east-1",
        A100,
        8,
        1,
        OnDemand,
        "30",
    );
    let job_submitted_at = |id: &str, submitted_at| {
        let mut job = gpu_job(id, "t", &[A100], 8, 1);
        job.submitted_at = submitted_at;
        job
    };
    // One hour of run time: patience lasts one hour from submission.
    let waiting = snapshot(
        vec![busy_reserved.clone(), on_demand.clone()],
        vec![job_submitted_at("j", now - 600)],
    );
    check(
        "a fresh job waits for the busy reserved pool rather than pay on-demand",
        &waiting,
        &Policy::gantry(),
        &[Waits("j", "waiting until 1003000 for a busy offer")],
    );
    check(
        "without patience it takes on-demand now",
        &waiting,
        &Policy {
            patience: None,
            ..Policy::gantry()
        },
        &[On("j", "on-demand")],
    );
    check(
        "the baselines have no patience",
        &waiting,
        &Policy::cheapest_now(),
        &[On("j", "on-demand")],
    );
    check(
        "once its patience is over it takes on-demand",
        &snapshot(
            vec![busy_reserved, on_demand.clone()],
            vec![job_submitted_at("j", now - 3600)],
        ),
        &Policy::gantry(),
        &[On("j", "on-demand")],
    );
    let mut busy_cheap = gpu_offer("b", "cheap", Gcp, "us-central1", A100, 8, 1, OnDemand, "28");
    busy_cheap.idle_nodes = 0;
    check(
        "an offer with room that costs little more is taken at once",
        &snapshot(
            vec![busy_cheap, on_demand],
            vec![job_submitted_at("j", now - 600)],
        ),
        &Policy::gantry(),
        &[On("j", "on-demand")],
    );
}
