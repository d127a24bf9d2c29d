//! Proves: simulated nodes (the firmware's node logic, flash outbox and MQTT client) that lose
//! their broker long enough to queue well over 128 frames each, and drain that backlog after the
//! live frames once the broker is back, get every frame into InfluxDB 1.6 exactly once: the
//! collector's replay window takes backlog frames hundreds of seqs behind the live stream as new,
//! and rejects nothing (`collector/src/pipeline/window.rs` used to dead-letter them as replays).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use collector::config::BatchConfig;
use firmware::node::NodeConfig;
use protocol::topic::NodeChannel;
use simulators::clock::{SimClock, Speed, wall_ms};
use support::reconnecting_node::{self, NodePlan, NodeRecord, Progress};
use support::{InProcess, Influx1, Mosquitto, MosquittoOptions};

const DATABASE: &str = "citysense";
/// Telemetry frames per node in all.
const FRAMES: u32 = 500;
/// Frames each node has acknowledged before the broker goes away.
const BEFORE_OUTAGE: u32 = 30;
/// The backlog each node builds while the broker is away (it holds there until the broker is back).
const BACKLOG: usize = 340;
/// The replay window's old depth (`collector::pipeline::window::WINDOW`): a backlog frame arrives
/// at least this far behind the newest seq, or the test would not reach the bug it guards.
const OLD_WINDOW: u32 = 128;
const DEADLINE: Duration = Duration::from_secs(120);

/// A point as InfluxDB returns it.
#[derive(Debug, Clone, Copy)]
struct Point {
    boot: u32,
    seq: u32,
    /// A status point whose `kind` tag is `death`.
    death: bool,
}

/// The points of one measurement, per node.
type Stored = BTreeMap<u32, Vec<Point>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_outage_backlog_far_behind_the_live_stream_is_written_exactly_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let batch = BatchConfig {
        max_frames: 500,
        max_age_ms: 200,
        ..BatchConfig::default()
    };
    // Persistence keeps the collector's session and what was queued for it across the outage.
    let mut mosquitto = Mosquitto::start(MosquittoOptions {
        persistence: true,
        max_inflight_messages: batch.max_unacked,
        ..MosquittoOptions::default()
    })
    .await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;

    let registry = simulators::stations::hau_giang(2, 1);
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;
    let mut collector = InProcess::spawn(
        support::influx1_config(
            &mosquitto,
            (&influx, DATABASE),
            "outage-collector",
            &registry_path,
            batch,
            dir.path(),
        ),
        registry.clone(),
    )?;
    collector.subscribed(DEADLINE).await?;
    let stats = Arc::clone(&collector.stats);

    // A frame every 10 simulated seconds at 600×: about 60 a second per node.
    let plan = NodePlan {
        host: mosquitto.host().into(),
        port: mosquitto.port(),
        client_prefix: "outage".into(),
        node: NodeConfig {
            sample_interval_ms: 2_000,
            report_interval_ms: 10_000,
            ..NodeConfig::default()
        },
        clock: SimClock::new(wall_ms() - 6 * 3_600_000, Speed::Factor(600.0)),
        frames: FRAMES,
        hold_at: BACKLOG,
    };
    let (progress, tasks): (Vec<_>, Vec<_>) = registry
        .nodes()
        .map(|info| reconnecting_node::spawn(info.clone(), plan.clone()))
        .unzip();

    wait_for_nodes("every node to have frames acknowledged", &progress, |p| {
        p.acked.load(Ordering::SeqCst) >= BEFORE_OUTAGE
    })
    .await?;
    mosquitto.stop().await?;
    wait_for_nodes(
        "every node to queue its backlog with the broker away",
        &progress,
        |p| !p.connected.load(Ordering::SeqCst) && p.queued.load(Ordering::SeqCst) >= BACKLOG,
    )
    .await?;
    mosquitto.start_again().await?;

    let mut records = Vec::new();
    for (task, progress) in tasks.into_iter().zip(&progress) {
        let record = tokio::time::timeout(DEADLINE, task).await.with_context(|| {
            format!(
                "a node sending everything after the outage: {}",
                progress.describe()
            )
        })???;
        records.push(record);
    }
    let produced: usize = records.iter().map(|r| r.produced.len()).sum();
    let mut telemetry = stored_telemetry(&influx).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while points(&telemetry) < produced || stats.snapshot().unacked > 0 {
        let now = stats.snapshot();
        // No rejection is expected at all; the first one says why frames will never arrive.
        if now.rejected_total() > 0 || tokio::time::Instant::now() > deadline {
            bail!(
                "InfluxDB holds {} of {produced} telemetry frames; the collector rejected {:?} \
                 (a `replay` is the window refusing the backlog): {now:?}",
                points(&telemetry),
                now.rejected
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        telemetry = stored_telemetry(&influx).await;
    }
    let end = stats.snapshot();
    collector.stop().await?;
    let status = stored(&influx, "node_status", "boot, seq, kind").await?;

    let (mut wills, mut acked_status) = (0, 0);
    for record in &records {
        check_telemetry(record, &telemetry)?;
        wills += check_status(record, &status)?;
        acked_status += statuses(record).count();
    }
    eprintln!(
        "collector: received {}, written {} ({} telemetry, {acked_status} acknowledged status, {wills} wills), redeliveries recognised {}, rejected {:?}",
        end.received,
        end.written,
        points(&telemetry),
        end.duplicates,
        end.rejected
    );
    ensure!(
        end.rejected_total() == 0,
        "the collector rejected {:?} (a `replay` is the window refusing the backlog)",
        end.rejected
    );
    // InfluxDB keeps one point per timestamp, so a frame written twice would not show there.
    let frames = points(&telemetry) + acked_status + wills;
    ensure!(
        end.written as usize == frames,
        "the collector wrote {} frames, not the {frames} it received once each",
        end.written
    );
    Ok(())
}

/// Checks one node's telemetry: nothing dropped, a backlog well behind the live stream, and
/// every frame it produced stored exactly once.
fn check_telemetry(record: &NodeRecord, telemetry: &Stored) -> Result<()> {
    let node = record.node_id;
    let acked = record
        .acked
        .iter()
        .filter(|(channel, _)| *channel == NodeChannel::Telemetry)
        .count();
    let backlog = record.backlog_at_connect.iter().copied().max().unwrap_or(0);
    let lag = deepest_lag(record);
    let stored = telemetry.get(&node).map_or(&[][..], Vec::as_slice);
    let distinct: BTreeSet<(u32, u32)> = stored.iter().map(|p| (p.boot, p.seq)).collect();
    let duplicates = stored.len() - distinct.len();
    eprintln!(
        "node {node}: produced {} telemetry, published {acked}; backlog at each connect {:?}, \
         deepest backlog frame {lag} seqs behind the newest; dropped {}; stored {}, duplicates {duplicates}",
        record.produced.len(),
        record.backlog_at_connect,
        record.dropped,
        stored.len()
    );
    ensure!(
        record.dropped == 0,
        "node {node}: its flash queue dropped {}",
        record.dropped
    );
    ensure!(
        record.produced.len() == FRAMES as usize && acked == FRAMES as usize,
        "node {node}: {} telemetry frames produced, {acked} acknowledged, not {FRAMES}",
        record.produced.len()
    );
    ensure!(
        backlog >= BACKLOG,
        "node {node}: backlog at reconnect {backlog}, below {BACKLOG}"
    );
    ensure!(
        lag > 2 * OLD_WINDOW,
        "node {node}: the backlog arrived only {lag} seqs behind the newest frame"
    );
    let want: BTreeSet<(u32, u32)> = record.produced.iter().map(|f| (f.boot, f.seq)).collect();
    let missing: Vec<&(u32, u32)> = want.difference(&distinct).collect();
    let unknown: Vec<&(u32, u32)> = distinct.difference(&want).collect();
    ensure!(
        missing.is_empty() && unknown.is_empty() && duplicates == 0,
        "node {node}: {} telemetry frames missing (first {:?}), {} stored that it never produced, \
         {duplicates} stored twice",
        missing.len(),
        missing.first(),
        unknown.len()
    );
    Ok(())
}

/// The status frames the broker acknowledged to the node (its births).
fn statuses(record: &NodeRecord) -> impl Iterator<Item = &protocol::Frame> {
    record
        .acked
        .iter()
        .filter(|(channel, _)| *channel == NodeChannel::Status)
        .map(|(_, frame)| frame)
}

/// Every acknowledged status frame is stored (births too, though each node built its will with
/// the same timestamp: `kind` is a tag), and anything else stored is a death frame, the will the
/// broker published when the outage cut the node off. Returns how many wills were stored.
fn check_status(record: &NodeRecord, status: &Stored) -> Result<usize> {
    let node = record.node_id;
    let stored = status.get(&node).map_or(&[][..], Vec::as_slice);
    let acked: BTreeSet<(u32, u32)> = statuses(record).map(|f| (f.boot, f.seq)).collect();
    let wills: Vec<&Point> = stored
        .iter()
        .filter(|p| !acked.contains(&(p.boot, p.seq)))
        .collect();
    if let Some(other) = wills.iter().find(|p| !p.death) {
        bail!("node {node}: a status point the node never had acknowledged: {other:?}");
    }
    for key in &acked {
        ensure!(
            stored.iter().any(|p| (p.boot, p.seq) == *key),
            "node {node}: acknowledged status frame {key:?} missing"
        );
    }
    Ok(wills.len())
}

/// How far (in seqs) the frame acknowledged furthest behind the newest one before it was: the
/// order the broker passes them on to the collector.
fn deepest_lag(record: &NodeRecord) -> u32 {
    let mut newest = 0;
    let mut deepest = 0;
    for (_, frame) in &record.acked {
        newest = newest.max(frame.seq);
        deepest = deepest.max(newest - frame.seq);
    }
    deepest
}

fn points(stored: &Stored) -> usize {
    stored.values().map(Vec::len).sum()
}

/// Telemetry points of both kinds; empty while a read fails.
async fn stored_telemetry(influx: &Influx1) -> Stored {
    let mut all = Stored::new();
    for measurement in ["air_quality", "water_quality"] {
        // A read that meets a write in progress can see a point's `seq` before its `boot`
        // (`collector/tests/common/check.rs`): that read counts as "not yet".
        let Ok(points) = stored(influx, measurement, "boot, seq").await else {
            return Stored::new();
        };
        for (node, frames) in points {
            all.entry(node).or_default().extend(frames);
        }
    }
    all
}

/// The points of `measurement`, per node; `fields` is `boot, seq` and optionally `kind`.
async fn stored(influx: &Influx1, measurement: &str, fields: &str) -> Result<Stored> {
    let answer = influx
        .query(
            DATABASE,
            &format!("SELECT {fields} FROM {measurement} GROUP BY node"),
        )
        .await?;
    let mut stored = Stored::new();
    let Some(series) = answer["results"][0]["series"].as_array() else {
        return Ok(stored);
    };
    for s in series {
        let node: u32 = s["tags"]["node"].as_str().context("node tag")?.parse()?;
        for row in s["values"].as_array().context("values")? {
            let field = |i: usize| row[i].as_u64().with_context(|| format!("column {i} of {row}"));
            stored.entry(node).or_default().push(Point {
                boot: u32::try_from(field(1)?)?,
                seq: u32::try_from(field(2)?)?,
                death: row.get(3).and_then(serde_json::Value::as_str) == Some("death"),
            });
        }
    }
    Ok(stored)
}

async fn wait_for_nodes(
    what: &str,
    progress: &[Arc<Progress>],
    done: impl Fn(&Progress) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !progress.iter().all(|p| done(p)) {
        if tokio::time::Instant::now() > deadline {
            let state: Vec<String> = progress.iter().map(|p| p.describe()).collect();
            bail!("timed out waiting for {what}: {state:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
