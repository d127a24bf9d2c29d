//! Each alert-rule feature with a driven clock: frames carry the node's time and `ingest` /
//! `tick` take the server's `now`, so hours pass in microseconds. Pending duration, hysteresis,
//! staleness and manual resolve, offline suppression, death status, overrides, re-firing.

mod common;

use axum::http::StatusCode;
use common::{Api, MINUTE, T0};
use ioc_api::store::Store;
use protocol::{AirSample, Body, FirmwareVersion, NodeStatus, StatusKind};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The server clock at the node's minute `m` after T0.
fn at(minute: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0 + minute * MINUTE) * 1_000_000).expect("time")
}

fn pm(api: &Api, minute: u64, ug: f64) {
    let body = Body::Air(AirSample {
        samples: 1,
        pm2_5: Some((ug * 10.0) as u16),
        ..AirSample::default()
    });
    api.frame(101, T0 + minute * MINUTE, body, at(minute));
}

/// An instant (`latest`) PM2.5 rule for the air station, replacing the defaults' 1h rule as
/// the only warning on `latest`.
async fn rule(api: &Api, admin: &str, extra: Value) -> Value {
    let mut spec = json!({"parameter": "pm2_5", "scope": "station", "target": "HG-VT-A01", "window": "latest",
        "level": "warning", "direction": "above", "trigger": 100.0, "recovery": 80.0, "stale_after_s": 3600});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    let (status, body) = api.post("/api/v1/thresholds", Some(admin), spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn latest_alerts(api: &Api) -> Vec<Value> {
    let (_, alerts) = api.get("/api/v1/alerts?station=HG-VT-A01").await;
    alerts
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["window"] == "latest" && a["parameter"] == "pm2_5")
        .cloned()
        .collect()
}

#[tokio::test]
async fn pending_duration_must_hold_without_a_break() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    rule(&api, &admin, json!({"pending_s": 600})).await;
    for m in 0..10 {
        pm(&api, m, 120.0);
    }
    assert!(
        latest_alerts(&api).await.is_empty(),
        "9 minutes above: still pending"
    );
    pm(&api, 10, 60.0); // a break resets the pending condition
    for m in 11..21 {
        pm(&api, m, 120.0);
    }
    assert!(latest_alerts(&api).await.is_empty(), "9 minutes since the break");
    pm(&api, 21, 120.0);
    let alerts = latest_alerts(&api).await;
    assert_eq!(alerts.len(), 1, "10 minutes above: fires");
    assert_eq!(alerts[0]["fired_at"], "2025-11-27T00:21:00Z");
}

#[tokio::test]
async fn hysteresis_keeps_it_firing_until_the_recovery_level_and_a_new_breach_is_a_new_alert() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    rule(&api, &admin, json!({})).await;
    pm(&api, 0, 120.0);
    pm(&api, 1, 150.0);
    pm(&api, 2, 95.0);
    pm(&api, 3, 81.0);
    let alerts = latest_alerts(&api).await;
    assert_eq!(
        (alerts.len(), alerts[0]["state"].as_str()),
        (1, Some("firing")),
        "81 > recovery 80"
    );
    assert_eq!(alerts[0]["peak"], 150.0);
    pm(&api, 4, 80.0);
    let alerts = latest_alerts(&api).await;
    assert_eq!(alerts[0]["state"], "resolved");
    assert_eq!(alerts[0]["resolved_at"], "2025-11-27T00:04:00Z");
    pm(&api, 5, 101.0);
    let alerts = latest_alerts(&api).await;
    assert_eq!(alerts.len(), 2);
    assert_ne!(
        alerts[0]["id"], alerts[1]["id"],
        "a new alert, not the old one reopened"
    );
    assert_eq!(alerts[0]["state"], "firing");
}

#[tokio::test]
async fn a_stale_alert_is_marked_and_can_then_be_resolved_by_hand() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    let operator = api.token("duty", "operator");
    rule(&api, &admin, json!({})).await;
    pm(&api, 0, 120.0);
    // The station keeps reporting other things (status frames): it stays online, but PM2.5
    // stops. One hour later the alert is stale.
    for m in (5..=60).step_by(5) {
        status(&api, m, StatusKind::Periodic);
        api.state.tick(at(m));
    }
    let alert = &latest_alerts(&api).await[0];
    assert_eq!(alert["stale"], true, "{alert}");
    let id = alert["id"].as_i64().expect("id");
    let (status, body) = api
        .post(
            &format!("/api/v1/alerts/{id}/resolve"),
            Some(&operator),
            json!({"comment": "sensor removed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["resolution"].as_str(), body["resolved_by"].as_str()),
        (Some("manual"), Some("duty"))
    );
    let (_, detail) = api.get(&format!("/api/v1/alerts/{id}")).await;
    let kinds: Vec<&str> = detail["transitions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["fired", "stale", "resolved"]);
}

#[tokio::test]
async fn a_fresh_value_clears_staleness() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    rule(&api, &admin, json!({"stale_after_s": 600})).await;
    pm(&api, 0, 120.0);
    status(&api, 10, StatusKind::Periodic);
    api.state.tick(at(11));
    assert_eq!(latest_alerts(&api).await[0]["stale"], true);
    pm(&api, 12, 130.0);
    let alert = &latest_alerts(&api).await[0];
    assert_eq!(
        (alert["stale"].as_bool(), alert["state"].as_str()),
        (Some(false), Some("firing"))
    );
}

fn status(api: &Api, minute: u64, kind: StatusKind) {
    let body = Body::Status(NodeStatus {
        kind,
        firmware: FirmwareVersion::default(),
        uptime_s: 60,
        battery_mv: None,
        rssi_dbm: None,
        frames_dropped: 0,
        frames_queued: 0,
    });
    api.frame(101, T0 + minute * MINUTE, body, at(minute));
}

#[tokio::test]
async fn an_offline_station_suppresses_its_alerts_until_it_returns() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    rule(&api, &admin, json!({})).await;
    pm(&api, 0, 120.0);
    api.state.tick(at(4));
    let (_, open) = api.get("/api/v1/alerts?state=open").await;
    assert_eq!(
        open.as_array().map(Vec::len),
        Some(1),
        "4 minutes of silence is not offline"
    );
    api.state.tick(at(6)); // 360 s > 300 s
    let (_, open) = api.get("/api/v1/alerts?state=open").await;
    let parameters: Vec<(&str, bool)> = open
        .as_array()
        .expect("list")
        .iter()
        .map(|a| {
            (
                a["parameter"].as_str().unwrap_or(""),
                a["suppressed"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(parameters, [("station_offline", false), ("pm2_5", true)]);
    let (_, station) = api.get("/api/v1/stations/HG-VT-A01").await;
    assert_eq!(station["status"], "offline");

    pm(&api, 7, 120.0);
    let (_, open) = api.get("/api/v1/alerts?state=open").await;
    let open = open.as_array().expect("list");
    assert_eq!(open.len(), 1, "offline resolved: {open:?}");
    assert_eq!(
        (open[0]["parameter"].as_str(), open[0]["suppressed"].as_bool()),
        (Some("pm2_5"), Some(false))
    );
    let (_, all) = api.get("/api/v1/alerts?state=resolved").await;
    assert_eq!(all[0]["resolution"], "back_online");
}

#[tokio::test]
async fn a_death_status_is_offline_at_once() {
    let api = Api::new();
    pm(&api, 0, 10.0);
    status(&api, 1, StatusKind::Death);
    let (_, open) = api.get("/api/v1/alerts?state=open").await;
    assert_eq!(open[0]["parameter"], "station_offline", "{open}");
    status(&api, 2, StatusKind::Birth);
    let (_, open) = api.get("/api/v1/alerts?state=open").await;
    assert_eq!(open, json!([]));
}

#[tokio::test]
async fn the_most_specific_rule_wins_and_takes_over_the_open_alert() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    let general = json!({"parameter": "pm2_5", "scope": "all", "window": "latest", "level": "critical",
        "direction": "above", "trigger": 200.0});
    let (status, _) = api.post("/api/v1/thresholds", Some(&admin), general).await;
    assert_eq!(status, StatusCode::CREATED);
    let district = json!({"parameter": "pm2_5", "scope": "district", "target": "Vị Thanh", "window": "latest",
        "level": "critical", "direction": "above", "trigger": 150.0});
    let (_, district) = api.post("/api/v1/thresholds", Some(&admin), district).await;
    pm(&api, 0, 160.0);
    let (_, open) = api.get("/api/v1/alerts?state=open").await;
    assert_eq!(
        (open[0]["threshold"].as_f64(), open[0]["rule_id"].as_i64()),
        (Some(150.0), district["id"].as_i64())
    );
    // A station override on the same slot: the open alert continues under it.
    let station = json!({"parameter": "pm2_5", "scope": "station", "target": "HG-VT-A01", "window": "latest",
        "level": "critical", "direction": "above", "trigger": 170.0, "recovery": 165.0});
    api.post("/api/v1/thresholds", Some(&admin), station).await;
    pm(&api, 1, 166.0);
    let (_, open) = api.get("/api/v1/alerts?state=open").await;
    assert_eq!(open.as_array().map(Vec::len), Some(1), "still one alert: {open}");
    pm(&api, 2, 164.0);
    let (_, open) = api.get("/api/v1/alerts?state=open").await;
    assert_eq!(open, json!([]), "164 is below the override's recovery level 165");
}

#[tokio::test]
async fn deleting_a_rule_resolves_its_alerts() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    let created = rule(&api, &admin, json!({})).await;
    pm(&api, 0, 120.0);
    let id = created["id"].as_i64().expect("id");
    let (status, _) = api
        .delete(&format!("/api/v1/thresholds/{id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let alerts = latest_alerts(&api).await;
    assert_eq!(
        (alerts[0]["state"].as_str(), alerts[0]["resolution"].as_str()),
        (Some("resolved"), Some("rule_removed"))
    );
}

#[tokio::test]
async fn an_open_alerts_peak_is_stored_when_it_rises_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ioc-api.sqlite");
    {
        let api = common::Api::with_store(common::config(), Store::open(&path).expect("db"));
        let admin = api.token("lead", "admin");
        rule(&api, &admin, json!({})).await;
        pm(&api, 0, 120.0);
        pm(&api, 1, 150.0);
        pm(&api, 2, 130.0);
        // The process ends here without another transition, as in a crash.
    }
    let api = common::Api::with_store(common::config(), Store::open(&path).expect("db"));
    let alerts = latest_alerts(&api).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["state"], "firing");
    assert_eq!(alerts[0]["peak"], 150.0, "{}", alerts[0]);
}

/// After a restart, values from before the alert (a node's backlog, history replayed) neither
/// resolve it nor fire a second one: the acknowledged alert is the same, still acknowledged. When
/// it resolves on a value whose node time is before the acknowledgement (the operator acknowledged
/// on the server's clock, later), its times stay in order: fired ≤ acknowledged ≤ resolved.
#[tokio::test]
async fn an_acknowledged_alert_survives_a_restart_and_its_times_stay_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ioc-api.sqlite");
    let id = {
        let api = common::Api::with_store(common::config(), Store::open(&path).expect("db"));
        let admin = api.token("lead", "admin");
        rule(&api, &admin, json!({})).await;
        for m in 0..5 {
            pm(&api, m, 60.0);
        }
        pm(&api, 5, 120.0);
        let alerts = latest_alerts(&api).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let id = alerts[0]["id"].as_i64().expect("id");
        let operator = api.token("duty-officer", "operator");
        let (status, body) = api
            .post(
                &format!("/api/v1/alerts/{id}/ack"),
                Some(&operator),
                json!({"comment": "crew sent"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    };
    let api = common::Api::with_store(common::config(), Store::open(&path).expect("db"));
    // The minutes before the alert come in again, below the recovery level.
    for m in 0..5 {
        pm(&api, m, 60.0);
    }
    pm(&api, 6, 130.0);
    let alerts = latest_alerts(&api).await;
    assert_eq!(alerts.len(), 1, "no second alert: {alerts:?}");
    assert_eq!(
        (alerts[0]["id"].as_i64(), alerts[0]["state"].as_str()),
        (Some(id), Some("acknowledged"))
    );
    // It recovers at minute 7 of the node's clock, which is before the acknowledgement (the test's
    // node clock is in 2025, the server's is now).
    pm(&api, 7, 60.0);
    let (_, alert) = api.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(alert["state"], "resolved", "{alert}");
    let time = |field: &str| {
        let text = alert[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {alert}"));
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).expect("RFC 3339")
    };
    let (fired, acknowledged, resolved) = (time("fired_at"), time("acknowledged_at"), time("resolved_at"));
    assert!(
        fired <= acknowledged && acknowledged <= resolved,
        "fired {fired}, acknowledged {acknowledged}, resolved {resolved}"
    );
    assert_eq!(alert["fired_at"], "2025-11-27T00:05:00Z");
}

/// The ids of the `latest` PM2.5 alerts that `query` lists.
async fn listed(api: &Api, query: &str) -> Vec<i64> {
    let (status, alerts) = api.get(&format!("/api/v1/alerts?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {alerts}");
    alerts
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["window"] == "latest")
        .filter_map(|a| a["id"].as_i64())
        .collect()
}

/// Past alerts by period (open at some time in it), parameter and level; the period's ends are
/// instants, so a fraction of a second written differently does not move an alert in or out.
#[tokio::test]
async fn past_alerts_are_filtered_by_period_parameter_and_level() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    rule(&api, &admin, json!({})).await;
    pm(&api, 0, 120.0);
    pm(&api, 10, 50.0);
    pm(&api, 30, 130.0);
    let alerts = latest_alerts(&api).await;
    let (second, first) = (
        alerts[0]["id"].as_i64().expect("id"),
        alerts[1]["id"].as_i64().expect("id"),
    );
    let station = "station=HG-VT-A01&parameter=pm2_5";
    let period = |from: &str, to: &str| format!("{station}&from=2025-11-27T{from}Z&to=2025-11-27T{to}Z");
    assert_eq!(listed(&api, &period("00:05:00", "00:15:00")).await, [first]);
    assert_eq!(
        listed(&api, &period("00:15:00", "00:20:00")).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        listed(&api, &period("00:09:59.999", "00:30:00.000")).await,
        [first]
    );
    assert_eq!(
        listed(&api, &period("00:10:00.000000", "00:30:00.001")).await,
        [second, first]
    );
    assert_eq!(listed(&api, &period("00:25:00", "01:00:00")).await, [second]);
    assert_eq!(
        listed(&api, &format!("{station}&level=warning")).await,
        [second, first]
    );
    assert_eq!(
        listed(&api, &format!("{station}&level=critical")).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        listed(&api, "station=HG-VT-A01&parameter=salinity").await,
        Vec::<i64>::new()
    );
    for (query, field) in [
        ("level=severe", "level"),
        ("from=2025-11-27T01:00:00Z&to=2025-11-27T00:00:00Z", "from"),
        ("from=yesterday", "from"),
    ] {
        let (status, body) = api.get(&format!("/api/v1/alerts?{query}")).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{query}: {body}"
        );
    }
}

/// A database seeded by an older version, with its English default sources: the rules no one
/// edited get the current Vietnamese text at the next start; the one an admin changed keeps it.
#[test]
fn old_default_sources_are_rewritten_unless_someone_edited_the_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ioc-api.sqlite");
    let store = Store::open(&path).expect("db");
    let old_defaults: Vec<_> = ioc_api::alerts::default_rules(300)
        .into_iter()
        .map(|mut spec| {
            if let Some((old, _)) = ioc_api::alerts::RENAMED_SOURCES
                .iter()
                .find(|(_, new)| *new == spec.source)
            {
                spec.source = (*old).to_owned();
            }
            spec
        })
        .collect();
    store
        .seed_thresholds(&old_defaults, "2025-11-01T00:00:00Z")
        .expect("seed");
    let edited = store.thresholds().expect("rules")[0].clone();
    store
        .update_threshold(edited.id, &edited.spec, "2025-11-02T00:00:00Z", "lead")
        .expect("edit");
    drop(store);

    for start in 0..2 {
        let api = Api::with_store(common::config(), Store::open(&path).expect("db"));
        let rules = api.state.store().thresholds().expect("rules");
        assert_eq!(
            rules[0].spec.source, "QCVN 05:2023/BTNMT Table 1",
            "start {start}: edited by lead"
        );
        for rule in &rules[1..] {
            assert!(
                !rule.spec.source.contains("[U") && !rule.spec.source.starts_with("QCVN 05:2023/BTNMT Table"),
                "start {start}: {}",
                rule.spec.source
            );
            assert_eq!(rule.updated_by, "defaults");
        }
        assert!(
            rules
                .iter()
                .any(|r| r.spec.source == "QCVN 08:2023/BTNMT, Bảng 2")
        );
    }
}

fn notice(station: &str, file: &str, delivered: OffsetDateTime) -> Vec<u8> {
    let at = delivered
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    json!({"station": station, "receiver": "stnmt", "folder": format!("{station}/2025/11/27"), "file": file,
        "interval_start": at, "delivered_at": at, "already_there": false})
    .to_string()
    .into_bytes()
}

/// The relay's notices show on the station, and six intervals without one raise
/// `transmission_interrupted`, which resolves with the next file; a database seeded before
/// the rule existed gets it at start.
#[tokio::test]
async fn a_station_whose_files_stop_reaching_the_authority_raises_transmission_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ioc-api.sqlite");
    let store = Store::open(&path).expect("db");
    let without: Vec<_> = ioc_api::alerts::default_rules(300)
        .into_iter()
        .filter(|s| s.parameter.as_str() != "transmission_interrupted")
        .collect();
    store
        .seed_thresholds(&without, "2025-11-01T00:00:00Z")
        .expect("seed");
    drop(store);
    let api = Api::with_store(common::config(), Store::open(&path).expect("db"));
    let (_, rules) = api.get("/api/v1/thresholds").await;
    assert!(
        rules
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| r["parameter"] == "transmission_interrupted" && r["trigger"] == 1800.0),
        "{rules}"
    );

    api.state.transmission(
        &notice("HG-VT-A01", "HG_IOC_HG-VT-A01_20251127070500.txt", at(0)),
        at(0),
    );
    api.state.tick(at(1));
    let (_, station) = api.get("/api/v1/stations/HG-VT-A01").await;
    assert_eq!(
        station["transmission"][0]["file"], "HG_IOC_HG-VT-A01_20251127070500.txt",
        "{station}"
    );
    assert_eq!(station["transmission"][0]["receiver"], "stnmt");
    let open = |alerts: &Value| {
        alerts
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["parameter"] == "transmission_interrupted" && a["state"] != "resolved")
            .count()
    };
    api.state.tick(at(30));
    let (_, alerts) = api.get("/api/v1/alerts?station=HG-VT-A01").await;
    assert_eq!(open(&alerts), 0, "30 minutes is the limit, not past it: {alerts}");
    api.state.tick(at(31));
    let (_, alerts) = api.get("/api/v1/alerts?station=HG-VT-A01").await;
    assert_eq!(open(&alerts), 1, "{alerts}");
    // The water station, on which no relay reports, raises nothing.
    let (_, water) = api.get("/api/v1/alerts?station=HG-VT-W01").await;
    assert_eq!(open(&water), 0, "{water}");

    api.state.transmission(
        &notice("HG-VT-A01", "HG_IOC_HG-VT-A01_20251127074000.txt", at(32)),
        at(32),
    );
    api.state.tick(at(33));
    let (_, alerts) = api.get("/api/v1/alerts?station=HG-VT-A01").await;
    assert_eq!(open(&alerts), 0, "resolved by the next file: {alerts}");
    // A notice that is not JSON, or names no station, changes nothing.
    api.state.transmission(b"not json", at(34));
    api.state
        .transmission(&notice("HG-XX-A99", "x.txt", at(34)), at(34));
    let (_, station) = api.get("/api/v1/stations/HG-VT-A01").await;
    assert_eq!(station["transmission"].as_array().map(Vec::len), Some(1));
}
