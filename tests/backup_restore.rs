//! Backups taken while the services run restore onto a fresh machine: real mosquitto and
//! InfluxDB 1.x, the IOC API and the collector in-process, the `citysense-ioc-api` and
//! `citysense-collector` binaries taking the backups while frames flow and restoring them into
//! empty folders. After the restore the acknowledged alert, the edited threshold and the hourly
//! history are there, the frames spooled while InfluxDB was down drain into it once it is back,
//! none written twice (InfluxDB's own count of points received), and both services go on
//! taking new frames. Restores are refused while a service runs and onto state that is there.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use collector::config::BatchConfig;
use collector::spool::SpooledBatch;
use ioc_api::auth::Role;
use protocol::registry::{NodeInfo, Registry};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN};
use serde_json::{Value, json};
use support::{
    FleetPlan, InProcess, Influx1, Mosquitto, MosquittoOptions, TestClient, influx1_config, ioc_config,
    start_fleet, start_ioc,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const DATABASE: &str = "citysense";
const WAIT: Duration = Duration::from_secs(90);

/// A workspace binary next to this test's binary.
fn binary(name: &str, package: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("target dir")?;
    let path = dir.join(name);
    ensure!(
        path.is_file(),
        "{} is missing: build it first (`cargo build -p {package}`; scripts/test builds every target)",
        path.display()
    );
    Ok(path)
}

/// Runs `program args` off the runtime's threads.
async fn run(program: &Path, args: Vec<String>) -> Result<Output> {
    let program = program.to_owned();
    let output = tokio::task::spawn_blocking(move || Command::new(program).args(args).output()).await??;
    Ok(output)
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

fn succeeded(what: &str, output: &Output) -> Result<()> {
    ensure!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn refused(what: &str, output: &Output, because: &str) -> Result<()> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        !output.status.success() && stderr.contains(because),
        "{what} should have been refused with {because:?}: {} {stderr}",
        output.status
    );
    Ok(())
}

/// Signed air frames from one node, published with QoS 1 one after the other (each waits for
/// its PUBACK) every 10 ms until cancelled; the node's clock is `base_ms` plus a second a frame.
fn publish_frames(
    port: u16,
    node: NodeInfo,
    boot: u32,
    base_ms: u64,
    stop: CancellationToken,
) -> (Arc<AtomicU32>, JoinHandle<Result<u32>>) {
    let published = Arc::new(AtomicU32::new(0));
    let count = Arc::clone(&published);
    let task = tokio::spawn(async move {
        let mut client = TestClient::connect(port, &format!("node-{}-boot-{boot}", node.id), true).await?;
        let topic = NodeTopic {
            prefix: DEFAULT_PREFIX,
            node_id: node.id,
            channel: NodeChannel::Telemetry,
        }
        .to_string();
        let mut seq = 0;
        while !stop.is_cancelled() {
            let frame = Frame {
                node_id: node.id,
                boot,
                seq,
                time_ms: base_ms + u64::from(seq) * 1_000,
                body: Body::Air(AirSample {
                    samples: 6,
                    pm2_5: Some(150),
                    pm10: Some(300),
                    temperature: Some(2_950),
                    ..AirSample::default()
                }),
            };
            let mut buf = [0u8; MAX_FRAME_LEN];
            let bytes = frame
                .encode(node.key.as_ref(), &mut buf)
                .map_err(|e| anyhow::anyhow!("encode: {e:?}"))?;
            client.publish_qos1(&topic, bytes).await?;
            seq += 1;
            count.store(seq, Ordering::Release);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        client.disconnect().await?;
        Ok(seq)
    });
    (published, task)
}

/// Points in the database, over every measurement.
async fn point_count(influx: &Influx1) -> Result<u64> {
    let answer = influx
        .query(
            DATABASE,
            "SELECT count(seq) FROM air_quality, water_quality, node_status",
        )
        .await?;
    let mut total = 0;
    for series in answer["results"][0]["series"].as_array().into_iter().flatten() {
        total += series["values"][0][1].as_u64().context("a count")?;
    }
    Ok(total)
}

/// Points InfluxDB's HTTP API has received since it started (`SHOW STATS`, module `httpd`):
/// every write counts, a point written twice twice.
async fn points_received(influx: &Influx1) -> Result<u64> {
    let answer = influx.query(DATABASE, "SHOW STATS FOR 'httpd'").await?;
    let series = answer["results"][0]["series"]
        .as_array()
        .context("SHOW STATS answered no series")?;
    let mut total = 0;
    for s in series {
        let columns = s["columns"].as_array().context("columns")?;
        let at = columns
            .iter()
            .position(|c| c == "pointsWrittenOK")
            .with_context(|| format!("no pointsWrittenOK in {s}"))?;
        total += s["values"][0][at].as_u64().context("pointsWrittenOK")?;
    }
    Ok(total)
}

/// The points in a collector backup's spool segments, read here from the record layout
/// (`[len u32][crc32 u32][payload]`): how many, and how many distinct (series, time).
fn spooled_points(backup: &Path) -> Result<(usize, usize)> {
    let mut points = 0;
    let mut distinct = BTreeSet::new();
    for entry in std::fs::read_dir(backup.join("spool"))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "seg") {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let mut at = 0;
        while at < bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into()?) as usize;
            let payload = &bytes[at + 8..at + 8 + len];
            let batch = SpooledBatch::decode(payload)
                .with_context(|| format!("a record of {} is not a batch", path.display()))?;
            for p in batch.points {
                let series = p.line.split(' ').next().unwrap_or_default().to_owned();
                let time = p
                    .line
                    .trim_end()
                    .rsplit(' ')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                distinct.insert((series, time));
                points += 1;
            }
            at += 8 + len;
        }
    }
    Ok((points, distinct.len()))
}

/// A rule as `GET /api/v1/thresholds` shows it, as `PUT` takes it.
fn spec_of(rule: &Value) -> Result<Value> {
    let mut spec = rule.clone();
    for field in ["id", "updated_at", "updated_by"] {
        spec.as_object_mut().context("a rule object")?.remove(field);
    }
    Ok(spec)
}

async fn get(client: &reqwest::Client, url: &str) -> Result<Value> {
    let response = client.get(url).send().await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "GET {url}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

/// `citysense_ioc_frames_accepted_total` from the IOC API's `/metrics`.
async fn frames_accepted(client: &reqwest::Client, url: &str) -> Result<u64> {
    let text = client.get(format!("{url}/metrics")).send().await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("citysense_ioc_frames_accepted_total "))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no frames_accepted_total in /metrics:\n{text}"))
}

async fn wait_for<F: FnMut() -> bool>(what: &str, mut done: F) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The configs of one machine: the IOC API's and the collector's, as files for the binaries.
struct Machine {
    ioc: ioc_api::Config,
    ioc_file: String,
    collector: collector::Config,
    collector_file: String,
}

impl Machine {
    fn new(dir: &Path, mosquitto: &Mosquitto, influx: &Influx1, registry: &Registry) -> Result<Machine> {
        std::fs::create_dir_all(dir.join("ioc"))?;
        let registry_path = dir.join("nodes.toml");
        std::fs::write(&registry_path, registry.to_toml())?;
        let ioc = ioc_config(mosquitto, "ioc-api", &registry_path, &dir.join("ioc"));
        let batch = BatchConfig {
            max_frames: 20,
            max_age_ms: 25,
            ..BatchConfig::default()
        };
        let mut collector = influx1_config(
            mosquitto,
            (influx, DATABASE),
            "collector",
            &registry_path,
            batch,
            &dir.join("collector"),
        );
        // Small segments: the backup holds several, the newest one being appended to.
        collector.spool.segment_bytes = 16 * 1024;
        let ioc_file = dir.join("ioc-api.toml");
        std::fs::write(&ioc_file, toml::to_string(&ioc)?)?;
        let collector_file = dir.join("collector.toml");
        std::fs::write(&collector_file, toml::to_string(&collector)?)?;
        Ok(Machine {
            ioc,
            ioc_file: ioc_file.display().to_string(),
            collector,
            collector_file: collector_file.display().to_string(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backups_taken_while_running_restore_onto_a_fresh_machine() -> Result<()> {
    let started = Instant::now();
    let ioc_bin = binary("citysense-ioc-api", "ioc-api")?;
    let collector_bin = binary("citysense-collector", "collector")?;
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let mut influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let registry = simulators::stations::hau_giang(3, 1);
    let episode_node = registry.nodes().next().context("a node")?.clone();
    // One node is left to the test's own frames; the fleet runs the others.
    let extra = registry
        .nodes()
        .find(|n| n.kind == protocol::registry::StationKind::Air && n.id != episode_node.id)
        .context("a second air node")?
        .clone();
    let fleet_registry = Registry::from_nodes(registry.nodes().filter(|n| n.id != extra.id).cloned())?;
    let a = Machine::new(&dir.path().join("a"), &mosquitto, &influx, &registry)?;
    let http = reqwest::Client::builder().no_proxy().build()?;

    let ioc = start_ioc(a.ioc.clone(), &registry).await?;
    let collector = InProcess::start(a.collector.clone(), registry.clone()).await?;
    let now = time::OffsetDateTime::now_utc();
    let store = ioc.state.store();
    let admin =
        ioc_api::http::create_token(store, "lead", Role::Admin, "test", now)?.context("admin token")?;
    let operator =
        ioc_api::http::create_token(store, "duty", Role::Operator, "test", now)?.context("operator")?;
    ioc.state.reload_tokens()?;

    // Two hours of a fleet, the last with a PM2.5 episode at one station: an alert fires.
    let fleet_stop = CancellationToken::new();
    let plan = FleetPlan {
        backfill: Duration::from_secs(2 * 3_600),
        report_ms: 60_000,
        frames_per_node: Some(120),
        episode: Some((episode_node.id, 60)),
    };
    let fleet = start_fleet(&mosquitto, &fleet_registry, plan, fleet_stop.clone()).await??;
    let url = ioc.url.clone();
    let deadline = Instant::now() + WAIT;
    let alert = loop {
        let firing = get(&http, &format!("{url}/api/v1/alerts?state=firing")).await?;
        if let Some(a) = firing
            .as_array()
            .and_then(|a| a.iter().find(|a| a["parameter"] == "pm2_5"))
        {
            break a.clone();
        }
        ensure!(Instant::now() < deadline, "no PM2.5 alert fired: {firing}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let alert_id = alert["id"].as_i64().context("alert id")?;
    let acked = http
        .post(format!("{url}/api/v1/alerts/{alert_id}/ack"))
        .bearer_auth(&operator)
        .json(&json!({"comment": "crew sent"}))
        .send()
        .await?;
    ensure!(acked.status().is_success(), "ack: {}", acked.text().await?);

    // An admin's edit of a default rule.
    let rules = get(&http, &format!("{url}/api/v1/thresholds")).await?;
    let rule = rules
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|r| r["parameter"] == "so2" && r["direction"] == "above")
        })
        .context("an SO2 rule")?
        .clone();
    let rule_id = rule["id"].as_i64().context("rule id")?;
    let mut spec = spec_of(&rule)?;
    let trigger = rule["trigger"].as_f64().context("trigger")? + 12.5;
    spec["trigger"] = json!(trigger);
    let edited = http
        .put(format!("{url}/api/v1/thresholds/{rule_id}"))
        .bearer_auth(&admin)
        .json(&spec)
        .send()
        .await?;
    ensure!(edited.status().is_success(), "edit: {}", edited.text().await?);

    // Everything the fleet sent is in InfluxDB.
    let sent = fleet.sent.len() as u64;
    let stats = Arc::clone(&collector.stats);
    wait_for("the collector to take the fleet's frames", || {
        let s = stats.snapshot();
        s.acked >= sent && s.unacked == 0
    })
    .await?;
    let before_outage = point_count(&influx).await?;
    ensure!(before_outage > 0, "nothing written");

    // InfluxDB goes down; the collector spools the test's own frames.
    influx.stop().await?;
    let base_ms = (now.unix_timestamp_nanos() / 1_000_000) as u64 - 30 * 60_000;
    let phase2_stop = CancellationToken::new();
    let (_, phase2) = publish_frames(mosquitto.port(), extra.clone(), 2, base_ms, phase2_stop.clone());
    wait_for("frames to be spooled", || stats.snapshot().spooled >= 100).await?;
    // Two ticks after the last change: the history the IOC saved is what it serves.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let span = format!(
        "from={}&to={}&every=1h",
        (now - time::Duration::hours(4)).format(&time::format_description::well_known::Rfc3339)?,
        (now + time::Duration::hours(1)).format(&time::format_description::well_known::Rfc3339)?
    );
    let history_url = format!("/api/v1/stations/{}/readings?{span}", episode_node.station);
    let history = get(&http, &format!("{url}{history_url}")).await?;
    let alert_before = get(&http, &format!("{url}/api/v1/alerts/{alert_id}")).await?;

    // While frames arrive, an admin edits another rule again and again (each edit a
    // transaction: the rule and its audit entry). Both backups at once, repeated until one pair
    // overlapped a spool append and an edit, so the copies were taken under concurrent writes.
    let hammered = rules
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|r| r["parameter"] == "co" && r["direction"] == "above")
        })
        .context("a CO rule")?
        .clone();
    let hammered_id = hammered["id"].as_i64().context("rule id")?;
    let hammered_base = hammered["trigger"].as_f64().context("trigger")?;
    let edits = Arc::new(AtomicU32::new(0));
    let hammer_stop = CancellationToken::new();
    let hammer = {
        let (http, url, admin) = (http.clone(), url.clone(), admin.clone());
        let (edits, stop) = (Arc::clone(&edits), hammer_stop.clone());
        let mut spec = spec_of(&hammered)?;
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let n = edits.load(Ordering::Acquire) + 1;
                spec["trigger"] = json!(hammered_base + f64::from(n));
                let put = http
                    .put(format!("{url}/api/v1/thresholds/{hammered_id}"))
                    .bearer_auth(&admin)
                    .json(&spec)
                    .send()
                    .await?;
                ensure!(put.status().is_success(), "edit {n}: {}", put.text().await?);
                edits.store(n, Ordering::Release);
            }
            Ok::<_, anyhow::Error>(())
        })
    };
    let ioc_backup = dir.path().join("ioc-backup.sqlite");
    let collector_backup = dir.path().join("collector-backup");
    let (ioc_backup_arg, collector_backup_arg) = (
        ioc_backup.display().to_string(),
        collector_backup.display().to_string(),
    );
    let mut attempts = 0;
    let (edits_during, backup_took, ioc_said) = loop {
        attempts += 1;
        let _ = std::fs::remove_dir_all(&collector_backup);
        let before = (stats.snapshot().spooled, edits.load(Ordering::Acquire));
        let backup_started = Instant::now();
        let (ioc_done, collector_done) = tokio::join!(
            run(
                &ioc_bin,
                args(&["backup", "--config", &a.ioc_file, "--to", &ioc_backup_arg])
            ),
            run(
                &collector_bin,
                args(&[
                    "backup",
                    "--config",
                    &a.collector_file,
                    "--to",
                    &collector_backup_arg
                ])
            )
        );
        let took = backup_started.elapsed();
        let after = (stats.snapshot().spooled, edits.load(Ordering::Acquire));
        let ioc_done = ioc_done?;
        succeeded("IOC backup", &ioc_done)?;
        succeeded("collector backup", &collector_done?)?;
        if after.0 > before.0 && after.1 > before.1 {
            let said = String::from_utf8_lossy(&ioc_done.stderr).trim().to_owned();
            break ((before.1, after.1), took, said);
        }
        ensure!(
            attempts < 20,
            "20 pairs of backups, none overlapping a spool append and a rule edit"
        );
    };
    hammer_stop.cancel();
    hammer.await??;
    // Frames keep coming after the backups; those are not in them.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A restore is refused while the services run.
    let output = run(
        &ioc_bin,
        args(&[
            "restore",
            "--config",
            &a.ioc_file,
            "--from",
            &ioc_backup_arg,
            "--force",
        ]),
    )
    .await?;
    refused("IOC restore while it runs", &output, "is running")?;
    let output = run(
        &collector_bin,
        args(&[
            "restore",
            "--config",
            &a.collector_file,
            "--from",
            &collector_backup_arg,
            "--force",
        ]),
    )
    .await?;
    refused("collector restore while it runs", &output, "is running")?;

    // Stop everything.
    phase2_stop.cancel();
    let phase2_frames = phase2.await??;
    wait_for("the last frames to be spooled", || stats.snapshot().unacked == 0).await?;
    fleet_stop.cancel();
    let a_stats = stats.snapshot();
    collector.stop().await?;
    ioc.stop.cancel();
    ioc.task.await??;
    let (spooled, spooled_distinct) = spooled_points(&collector_backup)?;
    ensure!(
        spooled > 0 && (spooled as u64) < a_stats.spooled,
        "the backup holds some of what was spooled ({spooled} of {}), not what came after it",
        a_stats.spooled
    );
    ensure!(spooled == spooled_distinct, "a point spooled twice");

    // A fresh machine: empty folders, the same configuration, the backups restored.
    let b = Machine::new(&dir.path().join("b"), &mosquitto, &influx, &registry)?;
    let output = run(
        &ioc_bin,
        args(&["restore", "--config", &b.ioc_file, "--from", &ioc_backup_arg]),
    )
    .await?;
    succeeded("IOC restore", &output)?;
    let output = run(
        &collector_bin,
        args(&[
            "restore",
            "--config",
            &b.collector_file,
            "--from",
            &collector_backup_arg,
        ]),
    )
    .await?;
    succeeded("collector restore", &output)?;
    let output = run(
        &collector_bin,
        args(&[
            "restore",
            "--config",
            &b.collector_file,
            "--from",
            &collector_backup_arg,
        ]),
    )
    .await?;
    refused("a second collector restore without --force", &output, "not empty")?;

    let ioc = start_ioc(b.ioc.clone(), &registry).await?;
    let collector = InProcess::start(b.collector.clone(), registry.clone()).await?;
    let url = ioc.url.clone();
    let alert_after = get(&http, &format!("{url}/api/v1/alerts/{alert_id}")).await?;
    ensure!(
        alert_after["state"] == "acknowledged"
            && alert_after["acknowledged_by"] == "duty"
            && alert_after["ack_comment"] == "crew sent"
            && alert_after["transitions"] == alert_before["transitions"],
        "the acknowledged alert after the restore: {alert_after}\nbefore: {alert_before}"
    );
    let rule_after = get(&http, &format!("{url}/api/v1/thresholds/{rule_id}")).await?;
    ensure!(
        rule_after["trigger"] == json!(trigger) && rule_after["updated_by"] == "lead",
        "the edited threshold after the restore: {rule_after}"
    );
    // The backup is one state: the hammered rule's value is that of the last edit its audit
    // log holds, an edit made while the backup ran.
    let hammered_after = get(&http, &format!("{url}/api/v1/thresholds/{hammered_id}")).await?;
    let audit = http
        .get(format!("{url}/api/v1/audit?limit=1000"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json::<Value>()
        .await?;
    let target = format!("threshold/{hammered_id}");
    let audited = audit
        .as_array()
        .context("audit")?
        .iter()
        .filter(|e| e["action"] == "threshold.update" && e["target"] == target.as_str())
        .count() as u32;
    let restored_edit = hammered_after["trigger"].as_f64().context("trigger")? - hammered_base;
    ensure!(
        restored_edit == f64::from(audited) && (edits_during.0..=edits_during.1 + 1).contains(&audited),
        "the backup of a rule edited {edits_during:?} times before and after it holds edit {restored_edit} and {audited} audit entries"
    );
    let history_after = get(&http, &format!("{url}{history_url}")).await?;
    ensure!(
        history_after == history && history["points"].as_array().is_some_and(|p| p.len() >= 2),
        "the hourly history after the restore:\n{history_after}\nbefore:\n{history}"
    );
    let tokens = http
        .get(format!("{url}/api/v1/tokens"))
        .bearer_auth(&admin)
        .send()
        .await?;
    ensure!(
        tokens.status().is_success(),
        "the admin token after the restore: {}",
        tokens.status()
    );

    // InfluxDB returns: the restored spool drains, then new frames flow through both services.
    let accepted_before = frames_accepted(&http, &url).await?;
    influx.start_again().await?;
    let stats = Arc::clone(&collector.stats);
    wait_for("the restored spool to drain", || {
        let s = stats.snapshot();
        s.drained as usize >= spooled && s.spool_bytes == 0
    })
    .await?;
    let phase3_stop = CancellationToken::new();
    let phase3_base = base_ms + 10 * 60_000;
    let (phase3_count, phase3) = publish_frames(
        mosquitto.port(),
        extra.clone(),
        3,
        phase3_base,
        phase3_stop.clone(),
    );
    wait_for("new frames", || phase3_count.load(Ordering::Acquire) >= 40).await?;
    phase3_stop.cancel();
    let phase3_frames = u64::from(phase3.await??);
    wait_for("the new frames to be written", || {
        let s = stats.snapshot();
        s.written >= spooled as u64 + phase3_frames && s.unacked == 0
    })
    .await?;
    let b_stats = stats.snapshot();
    let total = point_count(&influx).await?;
    let received = points_received(&influx).await?;
    let accepted_after = frames_accepted(&http, &url).await?;
    collector.stop().await?;
    ioc.stop.cancel();
    ioc.task.await??;

    ensure!(
        b_stats.drained as usize == spooled && b_stats.written == spooled as u64 + phase3_frames,
        "the restored collector wrote the {spooled} spooled points and the {phase3_frames} new ones once: {b_stats:?}"
    );
    ensure!(
        total == before_outage + spooled as u64 + phase3_frames,
        "InfluxDB holds {total} points: {before_outage} before the outage + {spooled} from the restored spool + {phase3_frames} new"
    );
    ensure!(
        received == spooled as u64 + phase3_frames,
        "InfluxDB received {received} points since it came back; {spooled} spooled + {phase3_frames} new: something was written twice"
    );
    ensure!(
        accepted_after == accepted_before + phase3_frames,
        "the restored IOC API took the new frames: {accepted_before} then {accepted_after} accepted, {phase3_frames} sent"
    );
    eprintln!(
        "Backups of both services in {backup_took:?} (attempt {attempts}) while frames were spooled and rule {hammered_id} edited (edits {edits_during:?}; {ioc_said}) ({} frames of the test's node during the outage, {} spooled, {spooled} of them in the backup); restored onto a fresh machine: alert {alert_id} acknowledged, rule {rule_id} at {trigger}, history equal; InfluxDB {before_outage} + {spooled} drained + {phase3_frames} new = {total} points, {received} received since its restart; {:.0?} in all",
        phase2_frames,
        a_stats.spooled,
        started.elapsed()
    );
    Ok(())
}
