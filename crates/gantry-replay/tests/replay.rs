//! The replay end to end: hand-checkable event loops on tiny fleets, the
//! quota checker fed bad plans, determinism, and a short Philly replay on the
//! benchmark fleet through the real scheduler.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use gantry_core::{CapacityType, Money};
use gantry_replay::fleet::FleetModel;
use gantry_replay::report::PolicyReport;
use gantry_replay::simulation::{ReplayInput, World, replay};
use gantry_replay::spot_trace::{SpotSchedule, SpotSeries};
use gantry_replay::trace::parse_trace;
use gantry_replay::workload::{WorkloadRules, build_jobs};
use gantry_replay::{Benchmark, PolicyName, Window};
use gantry_sched::{Assignment, Explanation, Plan, Policy, Seconds, Snapshot};

fn fleet(yaml: &str) -> FleetModel {
    let config =
        gantry_spec::parse_config(yaml).unwrap_or_else(|d| panic!("{}", d.render("fleet")));
    FleetModel::from_config(&config).unwrap()
}

fn one_node_fleet(capacity: &str) -> FleetModel {
    fleet(&format!(
        "apiVersion: gantry.dev/v1
kind: GantryConfig
clusters:
  - name: one
    cloud: aws
    region: us-east-1
    simulated:
      nodePools:
        - {{name: a100, instanceType: p4d.24xlarge, gpu: {{model: A100, count: 1}}, cpu: 16, memory: 128Gi, nodes: 1, zone: us-east-1a, capacityType: {capacity}, pricePerHour: 1}}
teams:
  - {{name: team-a, quota: {{gpus: 1}}}}
"
    ))
}

/// A deliberately simple scheduler for tests: FIFO, each job on the first
/// offer with room, no quotas, no preemption.
fn first_fit(snapshot: &Snapshot, _policy: &Policy, _now: Seconds) -> Plan {
    let mut free: Vec<(u32, Vec<u32>)> = snapshot
        .offers
        .iter()
        .map(|offer| {
            (
                offer.idle_nodes,
                offer.partial_nodes.iter().map(|node| node.gpus).collect(),
            )
        })
        .collect();
    let mut plan = Plan::default();
    for job in &snapshot.queue {
        for (index, offer) in snapshot.offers.iter().enumerate() {
            let Some((model, per_node)) = offer.node.gpu else {
                continue;
            };
            if !job.replica.gpu_models.contains(&model)
                || per_node < job.replica.gpus
                || !job.placement.spot.accepts(offer.capacity_type)
            {
                continue;
            }
            let (idle, partial) = &mut free[index];
            if job.replicas == 1 && job.replica.gpus < per_node {
                if let Some(node) = partial.iter_mut().find(|gpus| **gpus >= job.replica.gpus) {
                    *node -= job.replica.gpus;
                } else if *idle > 0 {
                    *idle -= 1;
                    partial.push(per_node - job.replica.gpus);
                } else {
                    continue;
                }
            } else if *idle >= job.replicas {
                *idle -= job.replicas;
            } else {
                continue;
            }
            plan.placements
                .push(assignment(snapshot, job.id.clone(), index, job.replicas));
            break;
        }
    }
    plan
}

fn assignment(
    snapshot: &Snapshot,
    job: gantry_core::JobId,
    offer: usize,
    replicas: u32,
) -> Assignment {
    let chosen = &snapshot.offers[offer];
    Assignment {
        job,
        offer,
        cluster: chosen.cluster.clone(),
        pool: chosen.pool.clone(),
        zone: chosen.zone.clone(),
        cloud: chosen.cloud,
        region: chosen.region.clone(),
        capacity_type: chosen.capacity_type,
        gpu_model: chosen.gpu_model(),
        replicas,
        hourly_price: chosen.price_per_node_hour,
        expected_runtime_s: 0,
        expected_cost: Default::default(),
        explanation: Explanation::default(),
    }
}

const THREE_JOBS: &str = "job_id,submit_time_s,duration_s,num_gpus,gpu_type,cpu,mem_gib,user_or_group,final_status\n\
    j1,0,100,1,,,,team_a,\n\
    j2,10,50,1,,,,team_a,\n\
    j3,20,10,1,,,,team_a,\n";

fn run_with(
    fleet: &FleetModel,
    trace: &str,
    spot: &[Option<SpotSchedule>],
    policy: &Policy,
    scheduler: &(dyn Fn(&Snapshot, &Policy, Seconds) -> Plan + Sync),
) -> gantry_replay::simulation::Outcome {
    let load = parse_trace(trace).unwrap();
    assert!(load.bad_rows.is_empty(), "{:?}", load.bad_rows);
    let rules = WorkloadRules::clamped_to(fleet);
    let (jobs, bad) = build_jobs(&load.jobs, &rules, &fleet.gpu_models());
    assert!(bad.is_empty());
    let world = World::default();
    let none = vec![None; fleet.pools.len()];
    let input = ReplayInput {
        fleet,
        jobs: &jobs,
        rules: &rules,
        spot: if spot.is_empty() { &none } else { spot },
        world: &world,
        origin: 0,
        cycle_s: 0,
        parking: true,
    };
    replay(input, policy, scheduler)
}

#[test]
fn three_jobs_on_one_node_wait_their_turn() {
    let fleet = one_node_fleet("on-demand");
    // j1 runs 0..100, j2 100..150, j3 150..160.
    let expected_jct = vec![100, 140, 140];
    let expected_wait = vec![0, 90, 130];
    let outcome = run_with(
        &fleet,
        THREE_JOBS,
        &[],
        &Policy::fifo_first_fit(),
        &first_fit,
    );
    assert_eq!(outcome.completed, 3);
    assert_eq!(outcome.jct_s, expected_jct);
    assert_eq!(outcome.wait_s, expected_wait);
    assert_eq!(outcome.makespan_end, 160);
    // 100 + 50 + 10 GPU-seconds at $1 per node-hour, each run rounded to
    // the micro-dollar: 27,778 + 13,889 + 2,778.
    assert_eq!(outcome.on_demand_cost, Money::from_micros(44_445));
    assert_eq!(outcome.gpu_busy_s, 160);
    assert_eq!(outcome.quota_violations, 0);
    assert_eq!(outcome.infeasible_placements, 0);

    // The real scheduler, under every policy, has no other choice.
    for name in PolicyName::ALL {
        let outcome = run_with(
            &fleet,
            THREE_JOBS,
            &[],
            &name.policy(),
            &gantry_sched::schedule,
        );
        assert_eq!(outcome.jct_s, expected_jct, "{}", name.as_str());
        assert_eq!(outcome.wait_s, expected_wait, "{}", name.as_str());
        assert_eq!(outcome.quota_violations, 0, "{}", name.as_str());
        assert_eq!(outcome.infeasible_placements, 0, "{}", name.as_str());
    }
}

#[test]
fn reserved_capacity_is_free_at_the_margin() {
    let fleet = one_node_fleet("reserved");
    let outcome = run_with(
        &fleet,
        THREE_JOBS,
        &[],
        &Policy::fifo_first_fit(),
        &first_fit,
    );
    assert_eq!(outcome.on_demand_cost, Money::ZERO);
    assert_eq!(outcome.reserved_busy_gpu_s, 160);
    // The fixed cost is paid over the span (here 0..100, j1's submit + duration).
    assert_eq!(fleet.reserved_cost(100), Money::from_micros(27_778));
}

#[test]
fn a_spot_interruption_resumes_from_the_last_checkpoint() {
    let fleet = one_node_fleet("spot");
    // Unavailable from 4,000 s to 4,200 s (ticks of 200 s), then available again.
    let mut unavailable = vec![false; 30];
    unavailable[20] = true;
    let series = SpotSeries {
        trace_id: 7,
        cloud: None,
        zone: "us-east-1a".into(),
        instance: "v100_1".into(),
        gpu_model: None,
        gap_s: 200,
        unavailable,
    };
    let spot = vec![Some(SpotSchedule::from_series(&series))];
    let trace = "job_id,submit_time_s,duration_s,num_gpus,user_or_group\nlong,0,5000,1,team-a\n";
    let outcome = run_with(&fleet, trace, &spot, &Policy::fifo_first_fit(), &first_fit);
    // Runs 0..4000, checkpointed at 3,600 s; waits 4000..4200; restarts with
    // 300 s overhead and the 1,400 s left: done at 5,900.
    assert_eq!(outcome.spot_interruptions, 1);
    assert_eq!(outcome.jct_s, vec![5_900]);
    assert_eq!(outcome.wait_s, vec![200]);
    assert_eq!(outcome.lost_gpu_s, 400);
    assert_eq!(outcome.gpu_busy_s, 4_000 + 1_700);
    assert_eq!(outcome.spot_cost, Money::from_micros(1_583_333));
}

#[test]
fn plans_over_a_quota_are_counted() {
    let fleet = fleet(
        "apiVersion: gantry.dev/v1
kind: GantryConfig
clusters:
  - name: one
    cloud: gcp
    region: us-central1
    simulated:
      nodePools:
        - {name: a100, instanceType: a2-highgpu-8g, gpu: {model: A100, count: 8}, cpu: 96, memory: 680Gi, nodes: 1, zone: us-central1-a, pricePerHour: 29.38708}
teams:
  - {name: team-a, quota: {gpus: 1}}
cloudQuotas:
  - {cloud: gcp, region: us-central1, gpus: 2}
",
    );
    let trace = "job_id,submit_time_s,duration_s,num_gpus,user_or_group\n\
        a,0,100,1,team-a\nb,0,100,1,team-a\nc,0,100,1,team-b\n";
    // The test scheduler ignores quotas: after its plan team-a holds 2 GPUs
    // (limit 1) and the region 3 (limit 2).
    let outcome = run_with(&fleet, trace, &[], &Policy::fifo_first_fit(), &first_fit);
    assert_eq!(
        outcome.quota_violations, 2,
        "{:?}",
        outcome.quota_violation_examples
    );
    assert!(
        outcome
            .quota_violation_examples
            .iter()
            .any(|v| v.contains("team team-a: gpus 2 over the limit 1"))
    );
    assert!(
        outcome
            .quota_violation_examples
            .iter()
            .any(|v| v.contains("cloud gcp us-central1: gpus 3 over the limit 2"))
    );
    // The real scheduler keeps to both.
    let outcome = run_with(
        &fleet,
        trace,
        &[],
        &Policy::gantry(),
        &gantry_sched::schedule,
    );
    assert_eq!(outcome.quota_violations, 0);
    assert_eq!(outcome.completed, 3);
}

#[test]
fn plans_that_do_not_fit_are_refused_and_counted() {
    let fleet = one_node_fleet("on-demand");
    // A scheduler that places every queued job on the single node at once.
    let greedy = |snapshot: &Snapshot, _: &Policy, _: Seconds| Plan {
        placements: snapshot
            .queue
            .iter()
            .map(|job| assignment(snapshot, job.id.clone(), 0, 1))
            .collect(),
        ..Plan::default()
    };
    let outcome = run_with(&fleet, THREE_JOBS, &[], &Policy::fifo_first_fit(), &greedy);
    assert!(outcome.infeasible_placements > 0);
    assert_eq!(outcome.completed, 3);
    assert_eq!(outcome.makespan_end, 160);
}

fn bench_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn shared_traces() -> PathBuf {
    let path = bench_path("../shared/data/traces");
    assert!(
        path.is_dir(),
        "the shared traces are expected at {}",
        path.display()
    );
    path
}

const SMALL_TRACE: &str = "job_id,submit_time_s,duration_s,num_gpus,gpu_type,cpu,mem_gib,user_or_group,final_status\n\
    a,0,7200,8,,,,team_a,\n\
    b,60,3600,1,,,,team_b,\n\
    c,120,600,2,V100,,,team_b,\n\
    d,180,20000,16,,,,team_a,\n\
    e,240,900,1,,,,team_b,\n\
    f,300,86400,4,,,,team_a,\n\
    g,360,1200,1,H100,,,team_b,\n\
    h,420,5000,8,,,,team_b,\n";

fn small_benchmark() -> Benchmark {
    let text = std::fs::read_to_string(bench_path("examples/bench/small.yaml")).unwrap();
    let fleet = fleet(&text);
    let load = parse_trace(SMALL_TRACE).unwrap();
    let (benchmark, bad) =
        Benchmark::new(&load.jobs, fleet, Window::default(), None, World::default());
    assert!(bad.is_empty());
    benchmark
}

#[test]
fn the_small_bench_fleet_runs_every_policy_within_quotas_and_above_the_bound() {
    let benchmark = small_benchmark();
    for name in PolicyName::ALL {
        let report = benchmark.run(name.as_str(), &name.policy(), &gantry_sched::schedule);
        assert_eq!(report.completed, 8, "{report:?}");
        assert_eq!(report.quota_violations, 0, "{report:?}");
        assert_eq!(report.infeasible_placements, 0, "{report:?}");
        assert!(
            report.total_cost_usd + 0.01 >= report.lower_bound_cost_usd,
            "{report:?}"
        );
    }
}

#[test]
fn the_same_inputs_give_the_same_report() {
    let reports = || -> Vec<PolicyReport> {
        let benchmark = small_benchmark();
        PolicyName::ALL
            .into_iter()
            .map(|name| {
                benchmark
                    .run(name.as_str(), &name.policy(), &gantry_sched::schedule)
                    .without_timings()
            })
            .collect()
    };
    let first = serde_json::to_string(&reports()).unwrap();
    let second = serde_json::to_string(&reports()).unwrap();
    assert_eq!(first, second);
}

#[test]
fn the_philly_trace_reads_whole() {
    let text =
        std::fs::read_to_string(shared_traces().join("philly_2017_pollux_jobs.csv")).unwrap();
    let load = parse_trace(&text).unwrap();
    assert_eq!(load.jobs.len(), 82_247);
    assert!(
        load.bad_rows.is_empty(),
        "{:?}",
        &load.bad_rows[..load.bad_rows.len().min(5)]
    );
}

#[test]
fn the_first_weeks_of_philly_replay_on_the_bench_fleet() {
    // Days 0-20: the trace's first day with load is day 20 (1,500 jobs);
    // days 0-19 hold about 70 jobs.
    let traces = shared_traces();
    let text = std::fs::read_to_string(traces.join("philly_2017_pollux_jobs.csv")).unwrap();
    let load = parse_trace(&text).unwrap();
    let fleet = fleet(&std::fs::read_to_string(bench_path("examples/bench/philly.yaml")).unwrap());
    let index = std::fs::read_to_string(traces.join("spot_traces_index.csv")).unwrap();
    let values = std::fs::read_to_string(traces.join("spot_traces_values.csv")).unwrap();
    let series = gantry_replay::spot_trace::parse_spot_traces(&index, &values).unwrap();
    let window = Window {
        from_day: 0,
        days: Some(21),
    };
    let (benchmark, bad) =
        Benchmark::new(&load.jobs, fleet, window, Some(&series), World::default());
    assert!(bad.is_empty());
    assert!(benchmark.jobs.len() > 1_500, "{}", benchmark.jobs.len());
    assert!(
        benchmark
            .spot
            .iter()
            .filter(|schedule| schedule.is_some())
            .count()
            == 6
    );
    assert_eq!(
        benchmark
            .fleet
            .pools
            .iter()
            .filter(|pool| pool.capacity_type == CapacityType::Spot)
            .count(),
        6
    );
    for name in PolicyName::ALL {
        let report = benchmark.run(name.as_str(), &name.policy(), &gantry_sched::schedule);
        assert_eq!(report.completed, benchmark.jobs.len(), "{report:?}");
        assert_eq!(report.quota_violations, 0, "{report:?}");
        assert_eq!(report.infeasible_placements, 0, "{report:?}");
        assert!(
            report.total_cost_usd + 0.01 >= report.lower_bound_cost_usd,
            "{report:?}"
        );
    }
}

#[test]
fn a_scheduling_cycle_delays_decisions_to_its_boundaries() {
    let fleet = one_node_fleet("on-demand");
    let load = parse_trace(THREE_JOBS).unwrap();
    let rules = WorkloadRules::clamped_to(&fleet);
    let (jobs, _) = build_jobs(&load.jobs, &rules, &fleet.gpu_models());
    let world = World::default();
    let spot = vec![None; fleet.pools.len()];
    let input = ReplayInput {
        fleet: &fleet,
        jobs: &jobs,
        rules: &rules,
        spot: &spot,
        world: &world,
        origin: 0,
        cycle_s: 60,
        parking: true,
    };
    // j1 starts at 0 (a boundary); j1 ends at 100, so j2 starts at 120 and
    // ends at 170; j3 starts at 180 and ends at 190.
    let outcome = replay(input, &Policy::fifo_first_fit(), &first_fit);
    assert_eq!(outcome.jct_s, vec![100, 160, 170]);
    assert_eq!(outcome.wait_s, vec![0, 110, 160]);
}

#[test]
fn the_lower_bound_counts_reserved_capacity_once() {
    let fleet = fleet(
        "apiVersion: gantry.dev/v1
kind: GantryConfig
clusters:
  - name: one
    cloud: aws
    region: us-east-1
    simulated:
      nodePools:
        - {name: reserved, instanceType: x, gpu: {model: A100, count: 1}, cpu: 16, memory: 128Gi, nodes: 1, zone: us-east-1a, capacityType: reserved, pricePerHour: 1}
        - {name: on-demand, instanceType: x, gpu: {model: A100, count: 1}, cpu: 16, memory: 128Gi, nodes: 1, zone: us-east-1a, pricePerHour: 2}
",
    );
    let load = parse_trace(THREE_JOBS).unwrap();
    let (benchmark, _) =
        Benchmark::new(&load.jobs, fleet, Window::default(), None, World::default());
    // Span 0..100: reserved $1/h x 100 s. Cheapest non-reserved: $2/h for
    // 100 + 50 + 10 s. The reserved GPU's 100 GPU-seconds can save at most
    // 100 s at $2/h.
    assert_eq!(benchmark.span_s, 100);
    let bound = benchmark.lower_bound;
    assert_eq!(bound.reserved_fixed, Money::from_micros(27_778));
    assert_eq!(
        bound.cheapest_sum,
        Money::from_micros(55_556 + 27_778 + 5_556)
    );
    assert_eq!(bound.reserved_saving, Money::from_micros(55_556));
    assert_eq!(bound.total(), Money::from_micros(61_112));
    // First fit reaches it: j1 on reserved, j2 and then j3 on on-demand.
    let report = benchmark.run("test", &Policy::fifo_first_fit(), &first_fit);
    assert_eq!(report.total_cost_usd, 0.06);
    assert_eq!(report.cost_over_lower_bound, 1.0);
}

#[test]
fn parking_changes_nothing_but_the_work_done() {
    // A busy synthetic trace on the small fleet: 300 jobs of two teams over
    // six hours, sizes 1 to 16 GPUs, so capacity, team and cloud quotas all bind.
    let mut trace = String::from("job_id,submit_time_s,duration_s,num_gpus,user_or_group\n");
    let mut state: u64 = 7;
    for index in 0..300 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let gpus = [1, 1, 1, 2, 4, 8, 16][(state >> 33) as usize % 7];
        let duration = 300 + (state >> 40) % 7_200;
        let team = if (state >> 20).is_multiple_of(3) {
            "team-a"
        } else {
            "team-b"
        };
        trace.push_str(&format!(
            "j{index},{},{duration},{gpus},{team}\n",
            index * 72
        ));
    }
    let text = std::fs::read_to_string(bench_path("examples/bench/small.yaml")).unwrap();
    let load = parse_trace(&trace).unwrap();
    let (mut benchmark, bad) = Benchmark::new(
        &load.jobs,
        fleet(&text),
        Window::default(),
        None,
        World::default(),
    );
    assert!(bad.is_empty());
    for name in PolicyName::ALL {
        benchmark.parking = true;
        let parked = benchmark.run(name.as_str(), &name.policy(), &gantry_sched::schedule);
        benchmark.parking = false;
        let unparked = benchmark.run(name.as_str(), &name.policy(), &gantry_sched::schedule);
        assert!(parked.max_queue <= unparked.max_queue);
        assert!(
            parked.mean_queue < unparked.mean_queue,
            "parking should show fewer jobs: {} vs {}",
            parked.mean_queue,
            unparked.mean_queue
        );
        assert!(
            unparked.p99_wait_s > 0.0,
            "the trace should contend: {unparked:?}"
        );
        let outcome = |report: &PolicyReport| {
            (
                report.completed,
                report.total_cost_usd,
                report.avg_jct_s,
                report.p99_jct_s,
                report.avg_wait_s,
                report.gpu_utilization,
                report.spot_interruptions,
                report.placements,
                report.quota_violations,
            )
        };
        assert_eq!(outcome(&parked), outcome(&unparked), "{}", name.as_str());
    }
}
