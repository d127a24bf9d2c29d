//! Scale-out on one machine: 1, 2, 4... collectors in one shared subscription
//! (`$share/collectors/...`), each the release `citysense-collector` in its own process with its
//! own client id, spool and dead letters, all writing into one InfluxDB 1.6 database. Each count
//! gets a fresh broker and database and the same workload as the single-collector rows.
//!
//! CPU is read per process from `/proc/<pid>/stat` (utime + stime): the collectors' own, and for
//! comparison influxd's, mosquitto's and this process's (the publishers). Every point is counted
//! afterwards per node, so a frame missing or stored as two points shows.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::run::{
    CollectorRun, broker, cpu_seconds, influx1_sink, machine_busy_seconds, memory_mb, publish_all,
};
use crate::support::Influx1;
use crate::workload::Workload;
use crate::{Args, load_average};

/// The shared subscription's group, as `docs/collector.md` names it.
const GROUP: &str = "collectors";

/// What one member did.
pub struct Member {
    pub received: f64,
    pub written: f64,
    pub duplicates: f64,
    pub rejected: f64,
    pub cpu_s: f64,
    pub peak_rss_mb: Option<f64>,
}

/// CPU and peak memory of one of the other processes.
#[derive(Default)]
pub struct Usage {
    pub cpu_s: f64,
    pub peak_rss_mb: Option<f64>,
}

/// What the database holds afterwards, per node.
pub struct Stored {
    /// Points (rows) in `air_quality`.
    pub points: u64,
    /// Frames published and not stored.
    pub lost: u64,
    /// Frames stored as more than one point.
    pub duplicate_points: u64,
    /// Nodes holding a seq that was never published.
    pub foreign_nodes: u64,
}

pub struct SharedRun {
    pub collectors: usize,
    /// In the shared subscription; `false` for the control run on a plain subscription.
    pub shared: bool,
    pub frames: usize,
    pub seconds: f64,
    pub members: Vec<Member>,
    pub influxd: Usage,
    pub mosquitto: Usage,
    pub publishers_cpu_s: f64,
    pub busy_s: f64,
    /// The span the CPU figures cover: from just before the publishers connect to the last write.
    pub cpu_window_s: f64,
    pub stored: Stored,
    pub load_start: String,
    pub load_end: String,
}

impl SharedRun {
    fn rate(&self) -> f64 {
        self.frames as f64 / self.seconds
    }

    fn collectors_cpu_s(&self) -> f64 {
        self.members.iter().map(|m| m.cpu_s).sum()
    }

    fn us_per_frame(&self, cpu_s: f64) -> f64 {
        cpu_s * 1e6 / self.frames as f64
    }

    /// Writes beyond one per frame, over all members: a frame written twice (InfluxDB then
    /// overwrites the point, so the count of points alone would not show it).
    fn extra_writes(&self) -> f64 {
        self.members.iter().map(|m| m.written).sum::<f64>() - self.frames as f64
    }
}

/// Runs every count in `counts` and prints the tables.
///
/// # Errors
/// A service that does not start, or a run that does not finish within 10 minutes.
pub async fn report(args: &Args, counts: &[usize]) -> Result<()> {
    if counts.contains(&0) {
        bail!("--shared-collectors: a count of 0 collectors");
    }
    let workload = Workload::new(args.nodes, args.frames);
    let ceiling = crate::run::influx_alone(&workload).await?;
    let mut runs = Vec::new();
    // The control: one collector on a subscription of its own, as the rows of the main table.
    let plan = std::iter::once((1, None)).chain(counts.iter().map(|&n| (n, Some(GROUP))));
    for (n, group) in plan {
        let run = run(args, &workload, n, group).await?;
        eprintln!(
            "{n} collector(s), {}: {:.1} s, {:.0} frames/s, lost {}, duplicate points {}",
            if run.shared { "shared" } else { "own subscription" },
            run.seconds,
            run.rate(),
            run.stored.lost,
            run.stored.duplicate_points
        );
        runs.push(run);
    }
    print_tables(args, &ceiling, &runs);
    Ok(())
}

fn print_tables(args: &Args, ceiling: &crate::Row, runs: &[SharedRun]) {
    let base = runs
        .iter()
        .find(|r| r.collectors == 1 && r.shared)
        .map(SharedRun::rate);
    println!(
        "\nshared subscription `$share/{GROUP}/...`: {} frames from {} nodes, {} publishers with {} in flight each, \
         mosquitto (max_inflight_messages {}) -> N collectors -> one InfluxDB 1.6 database",
        args.frames,
        args.nodes,
        args.publishers,
        args.publisher_inflight,
        crate::run::MAX_INFLIGHT
    );
    println!(
        "InfluxDB 1.6 alone in this run (the same points prebuilt, 2 writers, no MQTT): {:.1} s, {:.0} points/s, lost {}",
        ceiling.seconds,
        ceiling.frames as f64 / ceiling.seconds,
        ceiling.lost
    );
    println!(
        "\n| collectors | seconds | frames/s | vs 1 collector | collectors' CPU µs/frame | peak RSS per collector (MB) | frames taken per collector | lost | duplicate points | extra writes | duplicates suppressed | rejected | load average start → end |"
    );
    println!("|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---|");
    for r in runs {
        let rss: Vec<String> = r
            .members
            .iter()
            .map(|m| m.peak_rss_mb.map_or("-".into(), |v| format!("{v:.1}")))
            .collect();
        let shares: Vec<String> = r
            .members
            .iter()
            .map(|m| format!("{:.0} ({:.1} %)", m.written, 100.0 * m.written / r.frames as f64))
            .collect();
        println!(
            "| {} | {:.1} | {:.0} | {} | {:.2} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {} → {} |",
            label(r),
            r.seconds,
            r.rate(),
            base.map_or("-".into(), |b| format!("{:.2}×", r.rate() / b)),
            r.us_per_frame(r.collectors_cpu_s()),
            rss.join(" / "),
            shares.join(" / "),
            r.stored.lost,
            r.stored.duplicate_points,
            r.extra_writes(),
            r.members.iter().map(|m| m.duplicates).sum::<f64>(),
            r.members.iter().map(|m| m.rejected).sum::<f64>(),
            r.load_start,
            r.load_end,
        );
    }
    println!(
        "\nwhere the two cores went (CPU µs per frame, and share of the machine's busy time, from just before the publishers connect to the last write; machine busy: of the two cores' time in that span):\n"
    );
    println!(
        "| collectors | machine busy | collectors | influxd | mosquitto | publishers (bench) | rest | CPU per collector µs/frame of its own frames | influxd peak RSS (MB) | mosquitto peak RSS (MB) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    for r in runs {
        let part = |cpu: f64| {
            format!(
                "{:.2} ({:.0} %)",
                r.us_per_frame(cpu),
                100.0 * cpu / r.busy_s.max(1e-9)
            )
        };
        let rest = r.busy_s - r.collectors_cpu_s() - r.influxd.cpu_s - r.mosquitto.cpu_s - r.publishers_cpu_s;
        let own: Vec<String> = r
            .members
            .iter()
            .map(|m| format!("{:.2}", m.cpu_s * 1e6 / m.written.max(1.0)))
            .collect();
        println!(
            "| {} | {:.1} s of {:.1} ({:.0} %) | {} | {} | {} | {} | {} | {} | {} | {} |",
            label(r),
            r.busy_s,
            2.0 * r.cpu_window_s,
            100.0 * r.busy_s / (2.0 * r.cpu_window_s),
            part(r.collectors_cpu_s()),
            part(r.influxd.cpu_s),
            part(r.mosquitto.cpu_s),
            part(r.publishers_cpu_s),
            part(rest),
            own.join(" / "),
            r.influxd.peak_rss_mb.map_or("-".into(), |v| format!("{v:.0}")),
            r.mosquitto.peak_rss_mb.map_or("-".into(), |v| format!("{v:.0}")),
        );
    }
}

fn label(r: &SharedRun) -> String {
    if r.shared {
        r.collectors.to_string()
    } else {
        format!("{} (own subscription, no `$share`)", r.collectors)
    }
}

/// One count: a fresh broker and database, `collectors` members (in `group` when given), the
/// whole workload.
async fn run(args: &Args, workload: &Workload, collectors: usize, group: Option<&str>) -> Result<SharedRun> {
    let load_start = load_average();
    let broker = broker().await?;
    let influx = Influx1::start().await?;
    influx.create_database("bench").await?;
    let mut members = Vec::new();
    for k in 0..collectors {
        members.push(CollectorRun::start_member(
            influx1_sink(&influx),
            broker.port(),
            workload,
            &format!("bench-collector-{k}"),
            group,
        )?);
    }
    for member in &members {
        member.wait_ready().await?;
    }
    let influxd = child_named("influxd").context("influxd among this process's children")?;
    let mosquitto = child_named("mosquitto").context("mosquitto among this process's children")?;
    let messages = workload.messages();

    let cpu = |pid: u32| cpu_seconds(pid).unwrap_or(0.0);
    let members_before: Vec<f64> = members.iter().map(|m| cpu(m.pid())).collect();
    let (influxd_before, mosquitto_before, own_before) =
        (cpu(influxd), cpu(mosquitto), cpu(std::process::id()));
    let busy_before = machine_busy_seconds().unwrap_or(0.0);
    let cpu_window = Instant::now();
    let started = publish_all(broker.port(), messages, args, &format!("shared-{collectors}")).await?;

    let want = workload.frames as f64;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut written = 0.0;
        for member in &members {
            written += member.metric("written_total").await.unwrap_or(0.0);
        }
        if written >= want {
            break;
        }
        if Instant::now() > deadline {
            bail!("{collectors} collectors wrote {written} of {want} within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = Instant::now();
    let members_cpu: Vec<f64> = members
        .iter()
        .zip(&members_before)
        .map(|(m, before)| cpu(m.pid()) - before)
        .collect();
    let influxd_cpu = cpu(influxd) - influxd_before;
    let mosquitto_cpu = cpu(mosquitto) - mosquitto_before;
    let own_cpu = cpu(std::process::id()) - own_before;
    let busy_s = machine_busy_seconds().unwrap_or(0.0) - busy_before;

    // Let the acks go out before the figures are read and the members stop.
    let settle = Instant::now() + Duration::from_secs(60);
    while Instant::now() < settle {
        let mut unacked = 0.0;
        for member in &members {
            unacked += member.metric("unacked_messages").await.unwrap_or(1.0);
        }
        if unacked == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut figures = Vec::new();
    for (member, cpu_s) in members.iter().zip(members_cpu) {
        figures.push(Member {
            received: member.metric("received_total").await?,
            written: member.metric("written_total").await?,
            duplicates: member.metric("duplicates_total").await?,
            rejected: member.metric_sum("rejected_total").await?,
            cpu_s,
            peak_rss_mb: member.peak_rss_mb(),
        });
    }
    let influxd_usage = Usage {
        cpu_s: influxd_cpu,
        peak_rss_mb: memory_mb(influxd, "VmHWM"),
    };
    let mosquitto_usage = Usage {
        cpu_s: mosquitto_cpu,
        peak_rss_mb: memory_mb(mosquitto, "VmHWM"),
    };
    for member in members {
        member.stop();
    }
    let received: f64 = figures.iter().map(|m| m.received).sum();
    if received < want {
        eprintln!("{collectors} collectors received {received} of {want} messages");
    }
    let stored = count_points(&influx, workload).await?;
    drop(broker);
    Ok(SharedRun {
        collectors,
        shared: group.is_some(),
        frames: workload.frames,
        seconds: (done - started).as_secs_f64(),
        members: figures,
        influxd: influxd_usage,
        mosquitto: mosquitto_usage,
        publishers_cpu_s: own_cpu,
        busy_s,
        cpu_window_s: (done - cpu_window).as_secs_f64(),
        stored,
        load_start,
        load_end: load_average(),
    })
}

/// Counts every point per node: node `k` was sent seqs `0..count_k` once each (the workload's
/// frame `i` is node `i % nodes`, seq `i / nodes`), and its point time follows from its seq, so
/// "count = distinct seqs = count_k, min 0, max count_k - 1" is exactly "each frame once".
async fn count_points(influx: &Influx1, workload: &Workload) -> Result<Stored> {
    let answer = influx
        .query(
            "bench",
            "SELECT count(seq), count(distinct(seq)), min(seq), max(seq) FROM air_quality GROUP BY node",
        )
        .await?;
    let nodes = workload.registry.len();
    let expected = |k: usize| workload.frames / nodes + usize::from(k < workload.frames % nodes);
    let mut seen = vec![(0u64, 0u64); nodes];
    let mut foreign_nodes = 0;
    for series in answer["results"][0]["series"].as_array().into_iter().flatten() {
        let node: usize = series["tags"]["node"].as_str().context("node tag")?.parse()?;
        let row = &series["values"][0];
        let (count, distinct, min, max) = (
            row[1].as_u64().context("count")?,
            row[2].as_u64().context("distinct count")?,
            row[3].as_u64().context("min")?,
            row[4].as_u64().context("max")?,
        );
        let Some(k) = node.checked_sub(100_000).filter(|k| *k < nodes) else {
            foreign_nodes += 1;
            continue;
        };
        if min != 0 || max as usize >= expected(k) {
            foreign_nodes += 1;
        }
        seen[k] = (count, distinct);
    }
    let mut stored = Stored {
        points: 0,
        lost: 0,
        duplicate_points: 0,
        foreign_nodes,
    };
    for (k, (count, distinct)) in seen.into_iter().enumerate() {
        stored.points += count;
        stored.lost += (expected(k) as u64).saturating_sub(distinct);
        stored.duplicate_points += count - distinct;
    }
    if stored.foreign_nodes > 0 {
        eprintln!(
            "{} nodes hold seqs that were never published",
            stored.foreign_nodes
        );
    }
    Ok(stored)
}

/// The pid of this process's child named `comm` (the broker and the database the harness
/// started; each run starts its own and the previous ones are reaped).
fn child_named(comm: &str) -> Option<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let Some((head, tail)) = stat.rsplit_once(')') else {
                    return false;
                };
                let name = head.split_once('(').map_or("", |(_, n)| n);
                let ppid = tail.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
                name == comm && ppid == Some(me)
            })
        })
        .max()
}
