//! A kill -9 of the IOC API loses no alert, acknowledgement, threshold, token or audit entry:
//! the `citysense-ioc-api` binary runs as a child process against real mosquitto, tokens come
//! from its `token create` command, an alert fires from simulated nodes and is acknowledged,
//! an override is stored; the process is killed with SIGKILL and started again on the same
//! database.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use support::{ChildProcess, FleetPlan, Mosquitto, MosquittoOptions, free_port, start_fleet};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(90);

/// The API binary next to this test's binary (`scripts/test` builds every workspace target).
fn binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("target dir")?;
    let path = dir.join("citysense-ioc-api");
    ensure!(
        path.is_file(),
        "{} is missing: build it first (`cargo build -p ioc-api`; scripts/test builds every target)",
        path.display()
    );
    Ok(path)
}

async fn wait_ready(client: &reqwest::Client, url: &str, process: &mut ChildProcess) -> Result<()> {
    let ready = format!("{url}/readyz");
    process
        .wait_ready(WAIT, || {
            let request = client.get(&ready).send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_acks_and_thresholds_survive_a_kill_9() -> Result<()> {
    let binary = binary()?;
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions {
        persistence: false,
        ..MosquittoOptions::default()
    })
    .await?;
    let registry = simulators::stations::hau_giang(2, 0);
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;
    let port = free_port()?;
    let config_path = dir.path().join("ioc-api.toml");
    std::fs::write(
        &config_path,
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n[mqtt]\nhost = \"{}\"\nport = {}\nclient_id = \"ioc-restart\"\n\
             [registry]\npath = \"{}\"\n[storage]\npath = \"{}\"\n",
            mosquitto.host(),
            mosquitto.port(),
            registry_path.display(),
            dir.path().join("ioc.sqlite").display()
        ),
    )?;
    let config_arg = config_path.display().to_string();

    // An admin token from the command line, before the API ever ran.
    let created = Command::new(&binary)
        .args([
            "token",
            "--config",
            &config_arg,
            "create",
            "--name",
            "lead",
            "--role",
            "admin",
        ])
        .output()?;
    ensure!(
        created.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let admin = String::from_utf8(created.stdout)?.trim().to_owned();
    ensure!(admin.starts_with("cs_"), "token: {admin:?}");

    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().no_proxy().build()?;
    let args = vec!["run".to_owned(), "--config".to_owned(), config_arg.clone()];
    let mut api = ChildProcess::spawn(
        &binary.display().to_string(),
        "ioc-api (cargo build)",
        args,
        dir.path().join("ioc.log"),
    )?;
    wait_ready(&client, &url, &mut api).await?;

    // An operator token through the API, an override, and an alert from an episode.
    let operator: Value = client
        .post(format!("{url}/api/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"name": "duty", "role": "operator"}))
        .send()
        .await?
        .json()
        .await?;
    let operator = operator["token"].as_str().context("operator token")?.to_owned();
    let episode_node = registry.nodes().next().context("node")?.clone();
    let rule = json!({"parameter": "pm10", "scope": "station", "target": episode_node.station, "window": "1h",
        "level": "warning", "direction": "above", "trigger": 180.0, "recovery": 150.0, "pending_s": 300});
    let stored: Value = client
        .post(format!("{url}/api/v1/thresholds"))
        .bearer_auth(&admin)
        .json(&rule)
        .send()
        .await?
        .json()
        .await?;
    let rule_id = stored["id"].as_i64().context("rule id")?;

    let fleet_stop = CancellationToken::new();
    let plan = FleetPlan {
        backfill: Duration::from_secs(2 * 3_600),
        report_ms: 60_000,
        frames_per_node: Some(120),
        episode: Some((episode_node.id, 60)),
    };
    start_fleet(&mosquitto, &registry, plan, fleet_stop.clone()).await??;
    let deadline = tokio::time::Instant::now() + WAIT;
    let alert = loop {
        let firing: Value = client
            .get(format!("{url}/api/v1/alerts?state=firing"))
            .send()
            .await?
            .json()
            .await?;
        if let Some(a) = firing
            .as_array()
            .and_then(|a| a.iter().find(|a| a["parameter"] == "pm2_5"))
        {
            break a.clone();
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no PM2.5 alert fired: {firing}\n{}", api.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let id = alert["id"].as_i64().context("alert id")?;
    let acked = client
        .post(format!("{url}/api/v1/alerts/{id}/ack"))
        .bearer_auth(&operator)
        .json(&json!({"comment": "inspector on the way"}))
        .send()
        .await?;
    ensure!(acked.status().is_success(), "ack: {}", acked.text().await?);
    let before: Value = client
        .get(format!("{url}/api/v1/alerts"))
        .send()
        .await?
        .json()
        .await?;

    api.kill();
    let mut api = ChildProcess::spawn(
        &binary.display().to_string(),
        "ioc-api (cargo build)",
        vec!["run".to_owned(), "--config".to_owned(), config_arg],
        dir.path().join("ioc-2.log"),
    )?;
    wait_ready(&client, &url, &mut api).await?;

    let after: Value = client
        .get(format!("{url}/api/v1/alerts"))
        .send()
        .await?
        .json()
        .await?;
    let same = |v: &Value| {
        v.as_array().map(|a| {
            a.iter()
                .map(|x| (x["id"].clone(), x["state"].clone(), x["acknowledged_by"].clone()))
                .collect::<Vec<_>>()
        })
    };
    // Every alert from before the kill is there as it was. The fleet may still be publishing its
    // backfill, so a later alert can fire after the restart (CI under load: a PM10 one); that is
    // new data, not a change.
    let (before_keys, after_keys) = (
        same(&before).unwrap_or_default(),
        same(&after).unwrap_or_default(),
    );
    ensure!(
        !before_keys.is_empty() && before_keys.iter().all(|k| after_keys.contains(k)),
        "alerts changed across the kill:\n{before}\n{after}"
    );
    let detail: Value = client
        .get(format!("{url}/api/v1/alerts/{id}"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        detail["state"] == "acknowledged" && detail["ack_comment"] == "inspector on the way",
        "alert after restart: {detail}"
    );
    let kinds: Vec<&str> = detail["transitions"]
        .as_array()
        .context("transitions")?
        .iter()
        .filter_map(|t| t["kind"].as_str())
        .collect();
    ensure!(kinds == ["fired", "acknowledged"], "transitions: {kinds:?}");
    let rule: Value = client
        .get(format!("{url}/api/v1/thresholds/{rule_id}"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        rule["trigger"] == 180.0 && rule["updated_by"] == "lead",
        "override after restart: {rule}"
    );
    let audit: Value = client
        .get(format!("{url}/api/v1/audit"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let actions: Vec<&str> = audit
        .as_array()
        .context("audit")?
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    ensure!(
        actions
            == [
                "alert.acknowledge",
                "threshold.create",
                "token.create",
                "token.create"
            ],
        "audit after restart: {actions:?}"
    );
    // The operator token still works; a second ack of the same alert is a conflict, not a new alert.
    let again = client
        .post(format!("{url}/api/v1/alerts/{id}/ack"))
        .bearer_auth(&operator)
        .json(&json!({}))
        .send()
        .await?;
    ensure!(
        again.status() == reqwest::StatusCode::CONFLICT,
        "second ack: {}",
        again.status()
    );

    fleet_stop.cancel();
    api.stop().await?;
    Ok(())
}
