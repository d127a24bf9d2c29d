//! Checks of the test harness in `tests/support/` against the real services: if these fail, every
//! whole-path test built on the harness is suspect, so each one proves one thing the others rely on.

mod support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use rumqttc::QoS;
use serde_json::Value;
use support::{
    ChildProcess, Influx1, Mosquitto, MosquittoOptions, TestClient, VictoriaMetrics, VictoriaOptions,
    find_program, with_free_ports,
};

/// A fixed node timestamp (2025-11-27T00:00:00Z): older than the default VictoriaMetrics retention
/// would keep, so it also proves `-retentionPeriod=100y` is in effect.
const T0: i64 = 1_764_201_600_000;
/// How long a delivery or an export may take to show up.
const DEADLINE: Duration = Duration::from_secs(20);

/// The `values` rows of the first series of the first statement of an InfluxQL answer.
fn influx_rows(answer: &Value) -> Vec<Value> {
    answer["results"][0]["series"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Proves: a QoS 1 publish reaches a QoS 1 subscriber through mosquitto, payload and topic intact.
#[tokio::test]
async fn mosquitto_qos1_publish_reaches_subscriber() -> Result<()> {
    let broker = Mosquitto::start(MosquittoOptions::default()).await?;
    let topic = "city/haugiang/node/7/telemetry";
    let mut subscriber = TestClient::connect(broker.port(), "harness-sub", true).await?;
    subscriber.subscribe(topic, QoS::AtLeastOnce).await?;
    let mut publisher = TestClient::connect(broker.port(), "harness-pub", true).await?;
    let payload = [0x01, 0x01, 0x07, 0x01, 0x00, 0xe0, 0xfc];
    publisher.publish_qos1(topic, &payload).await?;

    let received = subscriber.next_publish(DEADLINE).await?;
    assert_eq!(received.topic, topic);
    assert_eq!(received.qos, QoS::AtLeastOnce);
    assert_eq!(received.payload.as_ref(), payload);
    Ok(())
}

/// Proves: with persistence on, a graceful broker restart keeps a persistent session and the QoS 1
/// message queued for it while it was offline.
#[tokio::test]
async fn mosquitto_restart_with_persistence_keeps_queued_qos1_message() -> Result<()> {
    let mut broker = Mosquitto::start(MosquittoOptions {
        persistence: true,
        ..MosquittoOptions::default()
    })
    .await?;
    let topic = "city/haugiang/node/7/telemetry";
    let mut collector = TestClient::connect(broker.port(), "harness-collector", false).await?;
    collector.subscribe(topic, QoS::AtLeastOnce).await?;
    collector.disconnect().await?;
    let mut node = TestClient::connect(broker.port(), "harness-node-7", true).await?;
    node.publish_qos1(topic, b"queued while offline").await?;
    node.disconnect().await?;

    broker.restart().await?;

    let mut collector = TestClient::connect(broker.port(), "harness-collector", false).await?;
    assert!(
        collector.connack.session_present,
        "session lost in restart; log:\n{}",
        broker.log_tail()
    );
    let received = collector.next_publish(DEADLINE).await?;
    assert_eq!(received.payload.as_ref(), b"queued while offline");
    Ok(())
}

/// Proves the previous check can fail: without persistence the restart forgets the session.
#[tokio::test]
async fn mosquitto_restart_without_persistence_forgets_session() -> Result<()> {
    let mut broker = Mosquitto::start(MosquittoOptions {
        persistence: false,
        ..MosquittoOptions::default()
    })
    .await?;
    let mut collector = TestClient::connect(broker.port(), "harness-collector", false).await?;
    collector.subscribe("city/#", QoS::AtLeastOnce).await?;
    collector.disconnect().await?;

    broker.restart().await?;

    let collector = TestClient::connect(broker.port(), "harness-collector", false).await?;
    assert!(!collector.connack.session_present);
    Ok(())
}

/// Proves: InfluxDB 1.6 takes line protocol on `/write?precision=ms`, returns it via InfluxQL, and a
/// second write of the same point (measurement, tags, timestamp) overwrites instead of adding.
#[tokio::test]
async fn influx1_write_query_and_same_point_overwrites() -> Result<()> {
    let influx = Influx1::start().await?;
    influx.create_database("citysense").await?;
    influx
        .write(
            "citysense",
            &format!("air_quality,node=101,station=hg-01 pm2_5=35.3,pm10=51.1 {T0}"),
        )
        .await?;

    let answer = influx
        .query("citysense", "SELECT pm2_5, pm10 FROM air_quality")
        .await?;
    let rows = influx_rows(&answer);
    assert_eq!(rows.len(), 1, "{answer}");
    assert_eq!(rows[0][0].as_i64(), Some(T0), "epoch=ms timestamps: {answer}");
    assert_eq!(rows[0][1].as_f64(), Some(35.3));
    assert_eq!(rows[0][2].as_f64(), Some(51.1));

    // The same identity again (a redelivery, here with a changed value to see which one stays).
    influx
        .write(
            "citysense",
            &format!("air_quality,node=101,station=hg-01 pm2_5=40 {T0}"),
        )
        .await?;
    // A different timestamp adds a point, so the count below is not stuck at 1.
    influx
        .write(
            "citysense",
            &format!("air_quality,node=101,station=hg-01 pm2_5=12 {}", T0 + 60_000),
        )
        .await?;

    let answer = influx
        .query("citysense", "SELECT count(pm2_5) FROM air_quality")
        .await?;
    assert_eq!(influx_rows(&answer)[0][1].as_i64(), Some(2), "{answer}");
    let answer = influx
        .query(
            "citysense",
            &format!("SELECT pm2_5 FROM air_quality WHERE time = {T0}ms"),
        )
        .await?;
    assert_eq!(
        influx_rows(&answer)[0][1].as_f64(),
        Some(40.0),
        "the last write wins: {answer}"
    );
    Ok(())
}

/// Proves: `Influx1::query` reports InfluxQL errors instead of returning them as data.
#[tokio::test]
async fn influx1_query_error_is_an_error() -> Result<()> {
    let influx = Influx1::start().await?;
    let error = influx
        .query("no_such_db", "SELECT * FROM air_quality")
        .await
        .expect_err("missing db must fail");
    assert!(format!("{error:#}").contains("database not found"), "{error:#}");
    let error = influx
        .query("citysense", "SELEKT nonsense")
        .await
        .expect_err("a parse error must fail");
    assert!(format!("{error:#}").contains("error"), "{error:#}");
    Ok(())
}

/// Proves: `stop` and `start_again` keep InfluxDB's data and port, as outage tests need.
#[tokio::test]
async fn influx1_stop_and_start_again_keeps_points() -> Result<()> {
    let mut influx = Influx1::start().await?;
    influx.create_database("citysense").await?;
    influx
        .write("citysense", &format!("water_quality,node=201 ph=7.15 {T0}"))
        .await?;
    let url = influx.url();

    influx.stop().await?;
    assert!(
        influx
            .write("citysense", "water_quality,node=201 ph=7 1")
            .await
            .is_err(),
        "down means down"
    );
    influx.start_again().await?;

    assert_eq!(influx.url(), url);
    let answer = influx.query("citysense", "SELECT ph FROM water_quality").await?;
    assert_eq!(influx_rows(&answer)[0][1].as_f64(), Some(7.15), "{answer}");
    Ok(())
}

/// Writes a redelivery of the PM2.5 point at `T0`, then a point one minute later so the export
/// has moved on.
async fn redeliver_then_move_on(vm: &VictoriaMetrics) -> Result<()> {
    vm.write_v2(
        "citysense",
        "telemetry",
        &format!("air_quality,node=101 pm2_5=35.3 {T0}"),
    )
    .await?;
    vm.write_v2(
        "citysense",
        "telemetry",
        &format!("air_quality,node=101 pm2_5=36 {}", T0 + 60_000),
    )
    .await
}

/// Proves: VictoriaMetrics 1.79 takes line protocol on `/api/v2/write?precision=ms`, exports it as
/// `measurement_field{tags}`, and under `-dedup.minScrapeInterval=1ms` a same-timestamp duplicate
/// counts once.
#[tokio::test]
async fn victoria_v2_write_export_and_duplicate_counts_once() -> Result<()> {
    let vm = VictoriaMetrics::start().await?;
    vm.write_v2(
        "citysense",
        "telemetry",
        &format!("air_quality,node=101 pm2_5=35.3,pm10=51.1 {T0}"),
    )
    .await?;
    let selector = r#"{__name__=~"air_quality_.*"}"#;
    let series = vm.wait_for_export(selector, DEADLINE, |s| s.len() == 2).await?;
    assert_eq!(series[0].metric["__name__"], "air_quality_pm10");
    assert_eq!(series[0].metric["node"], "101");
    assert_eq!(
        (series[0].values.as_slice(), series[0].timestamps.as_slice()),
        (&[51.1][..], &[T0][..])
    );
    assert_eq!(series[1].metric["__name__"], "air_quality_pm2_5");

    redeliver_then_move_on(&vm).await?;
    let pm2_5 = r#"air_quality_pm2_5{node="101"}"#;
    let series = vm
        .wait_for_export(pm2_5, DEADLINE, |s| s.iter().any(|s| s.timestamps.len() >= 2))
        .await?;
    assert_eq!(
        series[0].timestamps,
        vec![T0, T0 + 60_000],
        "duplicate counted twice: {series:?}"
    );
    assert_eq!(series[0].values, vec![35.3, 36.0]);
    Ok(())
}

/// Proves the dedup check above can fail: without the flag, this VictoriaMetrics keeps both
/// same-timestamp samples, so the flag is what makes redelivery idempotent.
#[tokio::test]
async fn victoria_without_dedup_flag_keeps_both_duplicates() -> Result<()> {
    let vm = VictoriaMetrics::start_with(VictoriaOptions { dedup: false }).await?;
    vm.write_v2(
        "citysense",
        "telemetry",
        &format!("air_quality,node=101 pm2_5=35.3 {T0}"),
    )
    .await?;
    redeliver_then_move_on(&vm).await?;
    let series = vm
        .wait_for_export(r#"{__name__="air_quality_pm2_5"}"#, DEADLINE, |s| {
            s.iter().any(|s| s.timestamps.last() == Some(&(T0 + 60_000)))
        })
        .await?;
    assert_eq!(series[0].timestamps, vec![T0, T0, T0 + 60_000], "{series:?}");
    Ok(())
}

/// Proves: `/internal/force_flush` exists on this version and makes a fresh sample exportable at once.
#[tokio::test]
async fn victoria_force_flush_makes_samples_visible_at_once() -> Result<()> {
    let vm = VictoriaMetrics::start().await?;
    vm.write_v2(
        "citysense",
        "telemetry",
        &format!("water_quality,node=201 ph=7.15 {T0}"),
    )
    .await?;
    vm.force_flush().await?;
    let series = vm.export(r#"{__name__="water_quality_ph"}"#).await?;
    ensure!(
        series.len() == 1 && series[0].values == [7.15],
        "not visible right after force_flush: {series:?}"
    );
    Ok(())
}

/// Proves: a service that dies at start-up fails fast with its command line and the tail of its log.
#[tokio::test]
async fn harness_start_failure_quotes_command_and_log() -> Result<()> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let args = vec!["-c".to_owned(), "/nonexistent/citysense.conf".to_owned()];
    let mut process = ChildProcess::spawn("mosquitto", "mosquitto", args, dir.path().join("log"))?;
    let error = process
        .wait_ready(DEADLINE, || async { false })
        .await
        .expect_err("a broker without its config must not become ready");
    let message = format!("{error:#}");
    assert!(message.contains("exited"), "{message}");
    assert!(
        message.contains("mosquitto -c /nonexistent/citysense.conf"),
        "{message}"
    );
    assert!(
        message.contains("Unable to open config file"),
        "log tail missing: {message}"
    );
    Ok(())
}

/// Proves: a missing service binary is an error naming its Debian package and `./scripts/test`.
#[test]
fn harness_missing_binary_names_package() {
    let error =
        find_program("citysense-no-such-daemon", "citysense-no-such-package").expect_err("not installed");
    let message = error.to_string();
    assert!(message.contains("citysense-no-such-package"), "{message}");
    assert!(message.contains("./scripts/test"), "{message}");
}

/// Proves: dropping a service stops it at once, so no test leaves a broker behind.
#[tokio::test]
async fn harness_drop_stops_the_service() -> Result<()> {
    let broker = Mosquitto::start(MosquittoOptions::default()).await?;
    let port = broker.port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(broker);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "broker still listening"
    );
    Ok(())
}

/// Proves: a start that fails because its port was taken meanwhile is retried on new ports, and any
/// other failure is not.
#[tokio::test]
async fn harness_retries_port_collisions_only() -> Result<()> {
    let mut calls = 0;
    let ports = with_free_ports(2, |ports| {
        calls += 1;
        let collided = calls == 1;
        async move {
            ensure!(!collided, "Error: Address already in use");
            Ok(ports)
        }
    })
    .await?;
    assert_eq!(calls, 2);
    assert_ne!(ports[0], ports[1]);

    let mut calls = 0;
    let result: Result<()> = with_free_ports(1, |_| {
        calls += 1;
        async { anyhow::bail!("Unable to open config file") }
    })
    .await;
    assert!(result.is_err());
    assert_eq!(calls, 1);
    Ok(())
}
