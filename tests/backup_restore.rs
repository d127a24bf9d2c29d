//! Backups taken while the services run restore onto a fresh machine: real mosquitto and
//! InfluxDB 1.x, the IOC API and the collector in-process, the `citysense-ioc-api` and
//! `citysense-collector` binaries taking the backups while frames flow and restoring them into
//! empty folders. After the restore the acknowledged alert, the edited threshold and the hourly
//! history are there, the frames spooled while InfluxDB was down drain into it once it is back,
//! none written twice (InfluxDB's own count of points received), and both services go on
//! taking new frames. Restores are refused while a service runs and onto state that is there.

mod support;

#[path = "backup_restore/binaries.rs"]
mod binaries;
#[path = "backup_restore/ioc_http.rs"]
mod ioc_http;
#[path = "backup_restore/machine.rs"]
mod machine;
#[path = "backup_restore/points.rs"]
mod points;
#[path = "backup_restore/publish.rs"]
mod publish;
#[path = "backup_restore/wait.rs"]
mod wait;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use binaries::{args, binary, refused, run, succeeded};
use ioc_api::auth::Role;
use ioc_http::{frames_accepted, get, spec_of};
use machine::Machine;
use points::{point_count, points_received, spooled_points};
use protocol::registry::Registry;
use publish::publish_frames;
use serde_json::{Value, json};
use support::{FleetPlan, InProcess, Influx1, Mosquitto, MosquittoOptions, start_fleet, start_ioc};
use tokio_util::sync::CancellationToken;
use wait::wait_for;

const DATABASE: &str = "citysense";
const WAIT: Duration = Duration::from_secs(90);

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
