//! `gantry clusters` and `gantry quotas`: the fleet and the teams.

use std::io::Write;
use std::process::ExitCode;

use gantry_proto::{Cluster, ListClustersRequest, ListQuotasRequest, TeamQuota};

use crate::client::{Target, connect, request_failed};
use crate::render::{
    OutputFormat, Table, bytes, cpu, dollars, dollars_per_hour, duration, or_dash, used_of,
    write_structured,
};
use crate::views::{
    ClusterList, ClusterView, QuotaList, TeamQuotaView, capacity_name, health_name,
};

/// Clusters with their health, then every pool with capacity, usage and price.
pub(crate) async fn clusters(target: &Target, output: OutputFormat) -> anyhow::Result<ExitCode> {
    let mut clients = connect(target).await?;
    let response = clients
        .fleet
        .list_clusters(ListClustersRequest {})
        .await
        .map_err(|status| request_failed("clusters", &status, &clients.server))?
        .into_inner();
    let mut stdout = std::io::stdout().lock();
    match output {
        OutputFormat::Table => write_clusters(&mut stdout, &response.clusters)?,
        format => write_structured(
            &mut stdout,
            format,
            &ClusterList {
                clusters: response.clusters.iter().map(ClusterView::from).collect(),
            },
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

fn write_clusters(out: &mut impl Write, clusters: &[Cluster]) -> std::io::Result<()> {
    if clusters.is_empty() {
        return writeln!(out, "no clusters configured");
    }
    let mut table = Table::new(&[
        "CLUSTER", "CLOUD", "REGION", "HEALTH", "JOBS", "POOLS", "GPUS", "WHY",
    ])
    .right_align(&["JOBS", "POOLS", "GPUS"]);
    for cluster in clusters {
        let allocated: u64 = cluster
            .pools
            .iter()
            .map(|pool| u64::from(pool.gpus_allocated))
            .sum();
        let allocatable: u64 = cluster
            .pools
            .iter()
            .map(|pool| u64::from(pool.gpus_allocatable))
            .sum();
        table.row(vec![
            cluster.name.clone(),
            cluster.cloud.clone(),
            cluster.region.clone(),
            health_name(cluster.health),
            cluster.jobs.to_string(),
            cluster.pools.len().to_string(),
            format!("{allocated}/{allocatable}"),
            cluster.health_reason.clone(),
        ]);
    }
    table.write(out, "")?;

    let mut pools = Table::new(&[
        "CLUSTER",
        "POOL",
        "INSTANCE",
        "ZONE",
        "CAPACITY",
        "GPU",
        "NODES",
        "IDLE",
        "GPUS",
        "CPU",
        "MEMORY",
        "PRICE/NODE",
        "PRICE SOURCE",
    ])
    .right_align(&["NODES", "IDLE", "GPUS", "CPU", "MEMORY", "PRICE/NODE"]);
    let mut price_notes = Vec::new();
    let mut catalog_notes = Vec::new();
    for cluster in clusters {
        for pool in &cluster.pools {
            let gpu = if pool.gpu_model.is_empty() {
                "-".to_owned()
            } else {
                format!("{} x{}", pool.gpu_model, pool.gpus_per_node)
            };
            let price = if pool.price_per_node_hour_micro_usd == 0 {
                "-".to_owned()
            } else {
                dollars_per_hour(pool.price_per_node_hour_micro_usd)
            };
            let mut source = match (pool.price_source.as_str(), pool.price_age_s) {
                ("", _) => "-".to_owned(),
                (source, 0) => source.to_owned(),
                (source, age) => format!("{source} ({} old)", duration(age)),
            };
            if !pool.price_note.is_empty() {
                source.push('*');
                price_notes.push(format!(
                    "{}/{}: {}",
                    cluster.name, pool.name, pool.price_note
                ));
            }
            let mut name = pool.name.clone();
            if !pool.catalog_note.is_empty() {
                name.push('!');
                catalog_notes.push(format!(
                    "{}/{} ({}): {}",
                    cluster.name, pool.name, pool.instance_type, pool.catalog_note
                ));
            }
            let nodes = if pool.usable_nodes == pool.nodes {
                pool.nodes.to_string()
            } else {
                format!("{}/{} usable", pool.usable_nodes, pool.nodes)
            };
            pools.row(vec![
                cluster.name.clone(),
                name,
                or_dash(&pool.instance_type),
                or_dash(&pool.zone),
                capacity_name(pool.capacity_type),
                gpu,
                nodes,
                pool.idle_nodes.to_string(),
                format!("{}/{}", pool.gpus_allocated, pool.gpus_allocatable),
                format!(
                    "{}/{}",
                    cpu(pool.cpu_millis_allocated),
                    cpu(pool.cpu_millis_allocatable)
                ),
                format!(
                    "{}/{}",
                    bytes(pool.memory_bytes_allocated),
                    bytes(pool.memory_bytes_allocatable)
                ),
                price,
                source,
            ]);
        }
    }
    if !pools.is_empty() {
        writeln!(out)?;
        writeln!(out, "Pools (used/allocatable):")?;
        pools.write(out, "")?;
    }
    if !price_notes.is_empty() {
        writeln!(out)?;
        writeln!(out, "* priced from the table, not the live feed:")?;
        for note in &price_notes {
            writeln!(out, "  {note}")?;
        }
    }
    if !catalog_notes.is_empty() {
        writeln!(out)?;
        writeln!(out, "! nodes disagree with the cloud's instance catalog:")?;
        for note in &catalog_notes {
            writeln!(out, "  {note}")?;
        }
    }
    let issues: Vec<String> = clusters
        .iter()
        .flat_map(|cluster| {
            cluster
                .issues
                .iter()
                .map(move |issue| format!("{}: {issue}", cluster.name))
        })
        .collect();
    if !issues.is_empty() {
        writeln!(out)?;
        writeln!(out, "Issues:")?;
        for issue in issues {
            writeln!(out, "  {issue}")?;
        }
    }
    Ok(())
}

/// Every team: quota, usage and today's spend.
pub(crate) async fn quotas(target: &Target, output: OutputFormat) -> anyhow::Result<ExitCode> {
    let mut clients = connect(target).await?;
    let response = clients
        .fleet
        .list_quotas(ListQuotasRequest {})
        .await
        .map_err(|status| request_failed("quotas", &status, &clients.server))?
        .into_inner();
    let mut stdout = std::io::stdout().lock();
    match output {
        OutputFormat::Table => write_quotas(&mut stdout, &response.teams)?,
        format => write_structured(
            &mut stdout,
            format,
            &QuotaList {
                teams: response.teams.iter().map(TeamQuotaView::from).collect(),
            },
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

fn write_quotas(out: &mut impl Write, teams: &[TeamQuota]) -> std::io::Result<()> {
    if teams.is_empty() {
        return writeln!(out, "no teams have quotas");
    }
    let mut table = Table::new(&[
        "TEAM",
        "GPUS",
        "GPUS BY MODEL",
        "CPU",
        "MEMORY",
        "BUDGET/DAY",
        "SPENT TODAY",
        "QUEUED",
        "RUNNING",
    ])
    .right_align(&[
        "GPUS",
        "CPU",
        "MEMORY",
        "BUDGET/DAY",
        "SPENT TODAY",
        "QUEUED",
        "RUNNING",
    ]);
    for quota in teams {
        let view = TeamQuotaView::from(quota);
        let by_model: Vec<String> = view
            .gpus_by_model
            .iter()
            .map(|(model, usage)| {
                format!(
                    "{model} {}",
                    used_of(
                        usage.used.to_string(),
                        usage.limit.map(|limit| limit.to_string())
                    )
                )
            })
            .collect();
        table.row(vec![
            quota.team.clone(),
            used_of(
                quota.gpus_used.to_string(),
                quota.gpus_limit.map(|limit| limit.to_string()),
            ),
            if by_model.is_empty() {
                "-".to_owned()
            } else {
                by_model.join(", ")
            },
            used_of(cpu(quota.cpu_millis_used), quota.cpu_millis_limit.map(cpu)),
            used_of(
                bytes(quota.memory_bytes_used),
                quota.memory_bytes_limit.map(bytes),
            ),
            quota
                .budget_per_day_micro_usd
                .map_or_else(|| "∞".to_owned(), dollars),
            dollars(quota.spend_today_micro_usd),
            quota.queued_jobs.to_string(),
            quota.running_jobs.to_string(),
        ]);
    }
    table.write(out, "")
}
