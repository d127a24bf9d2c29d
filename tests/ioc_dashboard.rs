//! The dashboard in Debian's headless Chromium against a running system: real mosquitto,
//! simulated nodes running the firmware's code (three hours of backfill, then a frame every two
//! seconds), the IOC API serving the page. The test waits for a live update over SSE, checks the
//! DOM (stations with index chips and ages, the firing alert, the chart, salinity bars),
//! acknowledges the alert with an operator token through the page, goes through the past alerts
//! and rules views (`views`), the chart, map and health panels (`panels`), the languages and the
//! phone and wall layouts (`screens`), and saves screenshots to `target/test-artifacts/`. A second test closes reading to token holders and
//! drives the page with a viewer token.

mod support;

#[path = "ioc_dashboard/panels.rs"]
mod panels;
#[path = "ioc_dashboard/screens.rs"]
mod screens;
#[path = "ioc_dashboard/views.rs"]
mod views;

use std::time::Duration;

use anyhow::{Result, ensure};
use support::{
    Chromium, FleetPlan, Mosquitto, MosquittoOptions, TestClient, ioc_config, start_fleet, start_ioc,
};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(90);
/// What the operator types when acknowledging.
const COMMENT: &str = "Đội kiểm tra đã đến hiện trường";
/// What the operator types when ending an alert by hand.
const RESOLVED: &str = "Đã nạp lại bộ đếm khởi động";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_live_stations_and_acknowledges_an_alert() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let registry = simulators::stations::hau_giang(3, 2);
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;
    let config = ioc_config(&mosquitto, "ioc-dashboard", &registry_path, dir.path());
    let ioc = start_ioc(config, &registry).await?;
    let operator = ioc
        .state
        .create_token("duty-officer", ioc_api::auth::Role::Operator, "test")?
        .ok_or_else(|| anyhow::anyhow!("token name taken"))?;
    let admin = ioc
        .state
        .create_token("lead", ioc_api::auth::Role::Admin, "test")?
        .ok_or_else(|| anyhow::anyhow!("token name taken"))?;

    let episode_node = registry
        .nodes()
        .find(|n| n.kind == protocol::registry::StationKind::Air)
        .map(|n| n.id)
        .ok_or_else(|| anyhow::anyhow!("no air node"))?;
    let fleet_stop = CancellationToken::new();
    let plan = FleetPlan {
        backfill: Duration::from_secs(3 * 3_600),
        report_ms: 2_000,
        frames_per_node: None,
        episode: Some((episode_node, 90)),
    };
    let fleet = start_fleet(&mosquitto, &registry, plan, fleet_stop.clone());

    // Backfill done: the episode's alert is firing before the browser opens.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let alerts: serde_json::Value = reqwest::get(format!("{}/api/v1/alerts?state=firing", ioc.url))
            .await?
            .json()
            .await?;
        if alerts.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no alert fired from the episode"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let chromium = Chromium::start(&format!("{}/", ioc.url), (1440, 900)).await?;
    let mut page = chromium.page().await?;
    page.wait_for(
        "document.querySelector('#live-status')?.dataset.state === 'live'",
        WAIT,
    )
    .await?;
    let before = page
        .eval("Number(document.body.dataset.readings)")
        .await?
        .as_u64()
        .unwrap_or(0);
    page.wait_for(
        &format!("Number(document.body.dataset.readings) > {before}"),
        WAIT,
    )
    .await?;

    let rows = page
        .eval("document.querySelectorAll('#stations tbody tr').length")
        .await?;
    ensure!(rows == 5, "station rows: {rows}");
    let air_chips = page
        .wait_for("document.querySelectorAll('#stations tr .chip[data-band]').length >= 3 && document.querySelectorAll('#stations tr .chip[data-band]').length", WAIT)
        .await?;
    ensure!(air_chips.as_u64() >= Some(3), "AQI chips: {air_chips}");
    let ages: Vec<String> = serde_json::from_value(
        page.eval("[...document.querySelectorAll('#stations td.age')].map(td => td.textContent)")
            .await?,
    )?;
    ensure!(
        ages.iter().all(|a| a.ends_with(" giây")),
        "last-seen ages: {ages:?}"
    );
    panels::check_map(&mut page).await?;
    let salinity_bars = page
        .eval("document.querySelectorAll('#salinity .bar .fill').length")
        .await?;
    ensure!(salinity_bars == 2, "salinity bars: {salinity_bars}");
    page.wait_for("document.querySelectorAll('#chart polyline').length > 0", WAIT)
        .await?;
    panels::check_history(&mut page).await?;
    page.wait_for(
        "document.querySelectorAll('#alerts li[data-alert-id]').length > 0",
        WAIT,
    )
    .await?;

    // Acknowledge through the page with a typed comment, as an operator would.
    page.eval(&format!(
        "(() => {{ const t = document.querySelector('#token'); t.value = '{operator}'; t.dispatchEvent(new Event('change')); \
         document.querySelector('#alerts li.firing input[data-comment-for]').value = '{COMMENT}'; \
         document.querySelector('#alerts li.firing button[data-ack]').click(); return true; }})()"
    ))
    .await?;
    page.wait_for(
        "document.querySelectorAll('#alerts li.acknowledged').length > 0",
        WAIT,
    )
    .await?;
    let acked: serde_json::Value = reqwest::get(format!("{}/api/v1/alerts?state=acknowledged", ioc.url))
        .await?
        .json()
        .await?;
    ensure!(
        acked[0]["acknowledged_by"] == "duty-officer" && acked[0]["ack_comment"] == COMMENT,
        "API after the click: {acked}"
    );
    // The alert's history shows the acknowledgement with its comment.
    page.eval("document.querySelector('#alerts li.acknowledged button[data-history]').click(), true")
        .await?;
    let history = page
        .wait_for(
            "document.querySelector('#alerts li.acknowledged ol.transitions li[data-kind=\"acknowledged\"]')?.textContent",
            WAIT,
        )
        .await?;
    ensure!(
        history
            .as_str()
            .is_some_and(|h| h.contains(COMMENT) && h.contains("duty-officer")),
        "transition shown: {history}"
    );

    // The episode node sends two frames under one key with other bytes (as a re-flashed node
    // does): the second is refused, and the station's row says so.
    let node = registry
        .get(episode_node)
        .ok_or_else(|| anyhow::anyhow!("episode node"))?;
    let topic = format!(
        "{}/node/{episode_node}/telemetry",
        protocol::topic::DEFAULT_PREFIX
    );
    let mut publisher = TestClient::connect(mosquitto.port(), "dashboard-reflash", true).await?;
    send_reused_key(&mut publisher, &topic, node, 999_999).await?;
    let badge = page
        .wait_for(
            &format!(
                "document.querySelector('#stations tr[data-station=\"{}\"] .warn-badge')?.dataset.refused",
                node.station
            ),
            WAIT,
        )
        .await?;
    ensure!(badge == "1", "reused-key badge: {badge}");
    // The relay's retained notice, through the broker: the station's last file reached the
    // authority 40 minutes ago, past the transmission_interrupted rule's 30.
    let delivered = time::OffsetDateTime::now_utc() - time::Duration::minutes(40);
    let delivered = delivered.format(&time::format_description::well_known::Rfc3339)?;
    let notice = serde_json::json!({"station": node.station, "receiver": "stnmt", "folder": "", "file": "f.txt",
        "interval_start": delivered, "delivered_at": delivered, "already_there": false});
    publisher
        .publish_qos1(
            &format!(
                "{}/transmission/{}/stnmt",
                protocol::topic::DEFAULT_PREFIX,
                node.station
            ),
            notice.to_string().as_bytes(),
        )
        .await?;
    panels::check_health(&mut page, &node.station).await?;
    // With the fleet stopped (its next new frame would end the alert by itself), another reused
    // key fires the node's sequence_reset alert; an operator ends it by hand, with a comment.
    fleet_stop.cancel();
    let _ = fleet.await;
    send_reused_key(&mut publisher, &topic, node, 999_998).await?;
    publisher.disconnect().await?;
    page.wait_for(
        "document.querySelector('#alerts li[data-parameter=\"sequence_reset\"] button[data-resolve]')",
        WAIT,
    )
    .await?;
    page.eval(&format!(
        "(() => {{ const li = document.querySelector('#alerts li[data-parameter=\"sequence_reset\"]'); \
         li.querySelector('input[data-comment-for]').value = '{RESOLVED}'; li.querySelector('button[data-resolve]').click(); return true; }})()"
    ))
    .await?;
    page.wait_for(
        "!document.querySelector('#alerts li[data-parameter=\"sequence_reset\"]')",
        WAIT,
    )
    .await?;
    let resolved: serde_json::Value = reqwest::get(format!("{}/api/v1/alerts?state=resolved", ioc.url))
        .await?
        .json()
        .await?;
    let alert = resolved
        .as_array()
        .and_then(|a| a.iter().find(|a| a["parameter"] == "sequence_reset"))
        .ok_or_else(|| anyhow::anyhow!("no resolved sequence_reset alert: {resolved}"))?;
    let detail: serde_json::Value = reqwest::get(format!("{}/api/v1/alerts/{}", ioc.url, alert["id"]))
        .await?
        .json()
        .await?;
    ensure!(
        detail["resolution"] == "manual"
            && detail["transitions"].as_array().is_some_and(|t| t
                .iter()
                .any(|t| t["kind"] == "resolved" && t["comment"] == RESOLVED)),
        "resolved by hand with the comment: {detail}"
    );

    views::check_past_alerts(&mut page).await?;
    views::check_rules(&mut page, &ioc.url, &admin, &node.station).await?;
    screens::check_languages(&mut page).await?;

    let artifact =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/ioc-dashboard.png");
    page.screenshot(&artifact).await?;
    eprintln!("dashboard screenshot: {}", artifact.display());
    page.eval("document.querySelector('#lang').click(), true").await?;
    page.wait_for("document.documentElement.lang === 'en'", WAIT)
        .await?;
    let english = artifact.with_file_name("ioc-dashboard-en.png");
    page.screenshot(&english).await?;
    eprintln!("dashboard screenshot: {}", english.display());
    page.eval("document.querySelector('#lang').click(), true").await?;
    screens::check_phone_and_wall(&ioc.url).await?;

    ioc.stop.cancel();
    ioc.task.await??;
    Ok(())
}

/// Two frames of `node` under one key with other bytes, as a re-flashed node sends them: the
/// second is refused for its reused key.
async fn send_reused_key(
    publisher: &mut TestClient,
    topic: &str,
    node: &protocol::registry::NodeInfo,
    seq: u32,
) -> Result<()> {
    for time_ms in [
        simulators::clock::wall_ms() - 60_000,
        simulators::clock::wall_ms(),
    ] {
        let frame = protocol::Frame {
            node_id: node.id,
            boot: 1,
            seq,
            time_ms,
            body: protocol::Body::Air(protocol::AirSample {
                samples: 1,
                pm2_5: Some(150),
                ..protocol::AirSample::default()
            }),
        };
        let mut buf = [0u8; protocol::MAX_FRAME_LEN];
        publisher
            .publish_qos1(topic, frame.encode(node.key.as_ref(), &mut buf)?)
            .await?;
    }
    Ok(())
}

/// With open reading off, the page asks for a token; given a viewer token it shows the stations
/// and follows the stream (read with fetch, since an `EventSource` cannot send the token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_reads_closed_the_dashboard_works_from_a_viewer_token() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let registry = simulators::stations::hau_giang(2, 1);
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;
    let mut config = ioc_config(&mosquitto, "ioc-dashboard-closed", &registry_path, dir.path());
    config.auth.anonymous_read = false;
    let ioc = start_ioc(config, &registry).await?;
    let viewer = ioc
        .state
        .create_token("wall-screen", ioc_api::auth::Role::Viewer, "test")?
        .ok_or_else(|| anyhow::anyhow!("token name taken"))?;
    let fleet_stop = CancellationToken::new();
    let plan = FleetPlan {
        backfill: Duration::from_secs(600),
        report_ms: 2_000,
        frames_per_node: None,
        episode: None,
    };
    let fleet = start_fleet(&mosquitto, &registry, plan, fleet_stop.clone());

    let chromium = Chromium::start(&format!("{}/", ioc.url), (1280, 900)).await?;
    let mut page = chromium.page().await?;
    page.wait_for("document.querySelector('#auth-needed')?.hidden === false", WAIT)
        .await?;
    let rows = page
        .eval("document.querySelectorAll('#stations tbody tr').length")
        .await?;
    ensure!(rows == 0, "no station shown without a token: {rows}");

    // The token is typed just after a refused stream request, while the page waits to try
    // again: the stream is asked for with it at once, not after the wait.
    let restart_ms = page
        .eval(&format!(
            "(async () => {{ const fetch0 = window.fetch; let onStream = null; \
             window.fetch = (url, init) => {{ const p = fetch0(url, init); \
               if (String(url).includes('/api/v1/stream') && onStream) onStream(p); return p; }}; \
             await await new Promise((resolve) => {{ onStream = resolve; }}); \
             await new Promise((resolve) => setTimeout(resolve, 50)); \
             const next = new Promise((resolve) => {{ onStream = () => resolve(performance.now()); }}); \
             const t = document.querySelector('#token'); t.value = '{viewer}'; \
             const typed = performance.now(); t.dispatchEvent(new Event('change')); \
             const asked = await next; window.fetch = fetch0; return Math.round(asked - typed); }})()"
        ))
        .await?;
    ensure!(
        restart_ms.as_u64().is_some_and(|ms| ms < 1_000),
        "the stream was asked for {restart_ms} ms after the token was typed"
    );
    page.wait_for(
        "document.querySelector('#auth-needed').hidden && document.querySelectorAll('#stations tbody tr').length === 3",
        WAIT,
    )
    .await?;
    page.wait_for(
        "document.querySelector('#live-status')?.dataset.state === 'live' && Number(document.body.dataset.readings) > 0",
        WAIT,
    )
    .await?;
    let readings = page.eval("Number(document.body.dataset.readings)").await?;
    eprintln!("closed reads: the page shows 3 stations and {readings} live readings with a viewer token");

    fleet_stop.cancel();
    let _ = fleet.await;
    ioc.stop.cancel();
    ioc.task.await??;
    Ok(())
}
