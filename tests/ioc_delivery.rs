//! Where alerts go, through real mosquitto: `{prefix}/alerts/{station}` as JSON, retained while
//! the station has an open alert and cleared when it resolves; signed webhooks, retried after a
//! failure, with the delivery status visible; the SSE stream resumed with `Last-Event-ID`; and a
//! node command published on `{prefix}/node/{id}/cmd` that the node's own decoder accepts.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use axum::http::{HeaderMap, StatusCode};
use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN};
use rumqttc::QoS;
use serde_json::{Value, json};
use service::Secret;
use sha2::Sha256;
use simulators::clock::wall_ms;
use support::{Mosquitto, MosquittoOptions, TestClient, ioc_config, start_ioc, take_events};
use tokio::sync::mpsc;

const SECRET: &str = "webhook-secret-0123456789";
const STEP: Duration = Duration::from_secs(20);

/// A webhook receiver that answers 500 to the first delivery and 200 after, checking each
/// signature independently of the API's code.
async fn receiver() -> Result<(String, mpsc::UnboundedReceiver<Value>, Arc<AtomicUsize>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (tx, counter) = (tx.clone(), Arc::clone(&counter));
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let timestamp = headers
                    .get("x-citysense-timestamp")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let signature = headers
                    .get("x-citysense-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()) else {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                };
                mac.update(format!("{timestamp}.{body}").as_bytes());
                let expected = format!("sha256={}", hex_encode(&mac.finalize().into_bytes()));
                if signature != expected {
                    return StatusCode::UNAUTHORIZED;
                }
                if n == 0 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let _ = tx.send(serde_json::from_str(&body).unwrap_or(Value::Null));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, rx, calls))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads SSE events (id, type, data) from `url`, sending `Last-Event-ID` when given.
async fn sse(url: &str, last_event_id: Option<u64>, want: usize) -> Result<Vec<(u64, String, Value)>> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let mut request = client.get(url);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let mut body = request.send().await?.bytes_stream();
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while events.len() < want {
        let chunk = tokio::time::timeout(STEP, body.next())
            .await
            .context("stream stalled")?
            .context("stream ended")??;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        for block in take_events(&mut buffer) {
            if let (Some(id), Some(kind), Some(data)) = (block.id, block.event, block.data) {
                events.push((
                    id.parse()?,
                    kind,
                    serde_json::from_str(&data).unwrap_or(Value::Null),
                ));
            }
        }
    }
    Ok(events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_mqtt_webhooks_and_the_stream_and_commands_reach_the_node() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let registry = simulators::stations::hau_giang(1, 0);
    let node = registry.nodes().next().context("node")?.clone();
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;
    let (hook_url, mut hooks, calls) = receiver().await?;
    let mut config = ioc_config(&mosquitto, "ioc-delivery", &registry_path, dir.path());
    config.webhooks = vec![ioc_api::config::WebhookConfig {
        name: "sms-gateway".into(),
        url: hook_url,
        secret: Secret::new(SECRET),
        secret_file: None,
        max_attempts: 5,
        initial_backoff_ms: 50,
        max_backoff_ms: 200,
        timeout_ms: 5_000,
    }];
    let ioc = start_ioc(config, &registry).await?;
    let admin = ioc
        .state
        .create_token("lead", ioc_api::auth::Role::Admin, "test")?
        .context("token")?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let rule = json!({"parameter": "pm2_5", "scope": "station", "target": node.station, "window": "latest",
        "level": "critical", "direction": "above", "trigger": 100.0, "recovery": 50.0});
    let created = client
        .post(format!("{}/api/v1/thresholds", ioc.url))
        .bearer_auth(&admin)
        .json(&rule)
        .send()
        .await?;
    ensure!(
        created.status() == reqwest::StatusCode::CREATED,
        "rule: {}",
        created.text().await?
    );

    let mut watcher = TestClient::connect(mosquitto.port(), "alert-watcher", true).await?;
    watcher
        .subscribe(&format!("{DEFAULT_PREFIX}/alerts/#"), QoS::AtLeastOnce)
        .await?;
    watcher
        .subscribe(&format!("{DEFAULT_PREFIX}/node/+/cmd"), QoS::AtLeastOnce)
        .await?;
    let stream_url = format!("{}/api/v1/stream", ioc.url);
    let first_events = tokio::spawn({
        let url = stream_url.clone();
        async move { sse(&url, None, 2).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut node_client = TestClient::connect(mosquitto.port(), "node-under-test", true).await?;
    let topic = NodeTopic {
        prefix: DEFAULT_PREFIX,
        node_id: node.id,
        channel: NodeChannel::Telemetry,
    }
    .to_string();
    let t0 = wall_ms() - 60_000;
    for (i, pm) in [(0u64, 1_500u16), (1, 300)] {
        let frame = Frame {
            node_id: node.id,
            boot: 1,
            seq: i as u32,
            time_ms: t0 + i * 10_000,
            body: Body::Air(AirSample {
                samples: 1,
                pm2_5: Some(pm),
                ..AirSample::default()
            }),
        };
        let mut buf = [0u8; MAX_FRAME_LEN];
        node_client
            .publish_qos1(&topic, frame.encode(node.key.as_ref(), &mut buf)?)
            .await?;
    }

    // MQTT: the firing change retained, then the resolution unretained and the retained copy
    // cleared with an empty retained message.
    let alert_topic = format!("{DEFAULT_PREFIX}/alerts/{}", node.station);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let p = watcher.next_publish(STEP).await?;
        ensure!(p.topic == alert_topic, "alert on {}", p.topic);
        let body: Value = if p.payload.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&p.payload)?
        };
        seen.push((
            body["transition"].as_str().unwrap_or("").to_owned(),
            p.retain,
            p.payload.is_empty(),
        ));
    }
    // A live subscriber gets retain=false on delivery (MQTT 3.1.1 §3.3.1.3), so check the
    // broker's retained copy with a new subscriber instead: none is left once resolved.
    ensure!(
        seen == [
            ("fired".into(), false, false),
            ("resolved".into(), false, false),
            (String::new(), false, true)
        ],
        "alert messages: {seen:?}"
    );
    let mut late = TestClient::connect(mosquitto.port(), "late-watcher", true).await?;
    late.subscribe(&alert_topic, QoS::AtLeastOnce).await?;
    ensure!(
        late.next_publish(Duration::from_millis(500)).await.is_err(),
        "a retained alert survived its resolution"
    );

    // Webhooks: the first attempt got a 500 and was retried; both changes delivered, signed.
    let mut delivered = Vec::new();
    while delivered.len() < 2 {
        let body = tokio::time::timeout(STEP, hooks.recv())
            .await
            .context("webhook")?
            .context("receiver")?;
        delivered.push(body["transition"].as_str().unwrap_or("").to_owned());
    }
    ensure!(
        delivered == ["resolved", "fired"] || delivered == ["fired", "resolved"],
        "webhooks: {delivered:?}"
    );
    ensure!(
        calls.load(Ordering::SeqCst) >= 3,
        "the failed attempt was not retried"
    );
    let deliveries: Value = client
        .get(format!("{}/api/v1/webhooks/deliveries", ioc.url))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let statuses: Vec<(&str, u64)> = deliveries
        .as_array()
        .context("deliveries")?
        .iter()
        .map(|d| {
            (
                d["status"].as_str().unwrap_or(""),
                d["attempts"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    ensure!(
        statuses.iter().all(|(s, _)| *s == "delivered"),
        "deliveries: {deliveries}"
    );
    ensure!(
        statuses.iter().map(|(_, a)| a).sum::<u64>() == 3,
        "attempts: {statuses:?}"
    );

    // The stream: typed events with ids; resuming after the first replays the rest.
    let events = first_events.await??;
    ensure!(
        events
            .iter()
            .all(|(_, kind, _)| kind == "reading" || kind == "alert"),
        "{events:?}"
    );
    let all = sse(&stream_url, Some(events[0].0 - 1), 4).await?;
    ensure!(
        all[0].0 == events[0].0,
        "resume from before the first event starts with it: {:?}",
        all[0]
    );
    let kinds: Vec<&str> = all.iter().map(|(_, k, _)| k.as_str()).collect();
    ensure!(
        kinds.contains(&"alert") && kinds.contains(&"reading"),
        "replayed kinds: {kinds:?}"
    );
    let ids: Vec<u64> = all.iter().map(|(id, _, _)| *id).collect();
    ensure!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    // A command: operator role, published on the node's cmd topic, accepted by the node's decoder.
    let operator = ioc
        .state
        .create_token("duty", ioc_api::auth::Role::Operator, "test")?
        .context("token")?;
    let sent = client
        .post(format!("{}/api/v1/stations/{}/commands", ioc.url, node.station))
        .bearer_auth(&operator)
        .json(&json!({"command": "set_report_interval", "seconds": 300}))
        .send()
        .await?;
    ensure!(
        sent.status() == reqwest::StatusCode::ACCEPTED,
        "command: {}",
        sent.text().await?
    );
    let p = watcher.next_publish(STEP).await?;
    ensure!(
        p.topic == format!("{DEFAULT_PREFIX}/node/{}/cmd", node.id),
        "command topic {}",
        p.topic
    );
    let key = node.key.clone().context("simulated nodes have keys")?;
    let command = protocol::command::decode(&p.payload, &key).map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(
        command.node_id == node.id
            && command.command == protocol::command::Command::SetReportInterval { seconds: 300 },
        "decoded {command:?}"
    );
    let bad = client
        .post(format!("{}/api/v1/stations/{}/commands", ioc.url, node.station))
        .bearer_auth(&operator)
        .json(&json!({"command": "set_report_interval", "seconds": 5}))
        .send()
        .await?;
    let status = bad.status();
    let body: Value = bad.json().await?;
    ensure!(
        status == reqwest::StatusCode::UNPROCESSABLE_ENTITY && body["field"] == "seconds",
        "{status} {body}"
    );

    watcher.disconnect().await?;
    node_client.disconnect().await?;
    ioc.stop.cancel();
    ioc.task.await??;
    Ok(())
}
