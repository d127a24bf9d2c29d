//! The dashboard in Debian's headless Chromium against a running system: real mosquitto,
//! simulated nodes running the firmware's code (three hours of backfill, then a frame every two
//! seconds), the IOC API serving the page. The test waits for a live update over SSE, checks the
//! DOM (stations with index chips and ages, the firing alert, the chart, salinity bars),
//! acknowledges the alert with an operator token through the page, and saves a screenshot to
//! `target/test-artifacts/ioc-dashboard.png`. A second test closes reading to token holders and
//! drives the page with a viewer token.

mod support;

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
    check_map(&mut page).await?;
    let salinity_bars = page
        .eval("document.querySelectorAll('#salinity .bar .fill').length")
        .await?;
    ensure!(salinity_bars == 2, "salinity bars: {salinity_bars}");
    page.wait_for("document.querySelectorAll('#chart polyline').length > 0", WAIT)
        .await?;
    check_history(&mut page).await?;
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
    check_health(&mut page, &node.station).await?;
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

    check_languages(&mut page).await?;

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
    check_phone_and_wall(&ioc.url).await?;

    ioc.stop.cancel();
    ioc.task.await??;
    Ok(())
}

/// The history chart: the warning threshold drawn for the selected air station, each point's
/// value on hover; choosing 7 days fetches a week and draws it from a week ago.
async fn check_history(page: &mut support::Page) -> Result<()> {
    let threshold = page
        .wait_for(
            "document.querySelector('#chart line[data-threshold]')?.dataset.threshold",
            WAIT,
        )
        .await?;
    ensure!(
        threshold == "45",
        "PM2.5 1 h warning threshold drawn: {threshold}"
    );
    let hover = page
        .eval("document.querySelector('#chart circle title')?.textContent")
        .await?;
    ensure!(
        hover.as_str().is_some_and(|t| t.contains("µg/m³")),
        "a point's value on hover: {hover}"
    );
    page.eval("document.querySelector('#ranges button[data-range=\"7d\"]').click(), true")
        .await?;
    let week = page
        .wait_for(
            "(() => { const c = document.querySelector('#chart'); if (c.dataset.range !== '7d' || !c.querySelector('polyline')) return null; \
             const ago = new Intl.DateTimeFormat('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh', day: '2-digit', month: '2-digit', year: 'numeric' }) \
               .format(Date.now() - 7 * 86400e3); \
             const first = c.querySelectorAll('text')[2].textContent; return first.includes(ago) && first; })()",
            WAIT,
        )
        .await?;
    eprintln!("7-day chart starts at {week}");
    page.eval("document.querySelector('#ranges button[data-range=\"24h\"]').click(), true")
        .await?;
    Ok(())
}

/// The map: one marker per station, each in the colour of the station's VN_AQI band or salinity
/// class as the API gives them, with the official bands in the legend; a click on a marker
/// selects its station.
async fn check_map(page: &mut support::Page) -> Result<()> {
    page.wait_for(
        "fetch('/api/v1/stations').then(r => r.json()).then(list => list.length > 0 && list.every(s => { \
           const m = document.querySelector(`#map .marker[data-station=\"${s.station}\"]`); \
           const c = s.kind === 'air' ? s.vn_aqi?.band.colour : s.salinity?.class.colour; \
           return m && m.dataset.colour === (c || '#c8ced6'); }) \
           && document.querySelectorAll('#map .marker').length === list.length)",
        WAIT,
    )
    .await?;
    let legend = page
        .eval("document.querySelector('#map-legend').textContent")
        .await?;
    let legend = legend.as_str().unwrap_or_default();
    ensure!(
        [
            "Tốt",
            "Trung bình",
            "Kém",
            "Xấu",
            "Rất xấu",
            "Nguy hại",
            "Nước ngọt"
        ]
        .iter()
        .all(|b| legend.contains(b)),
        "map legend: {legend}"
    );
    let picked = page
        .eval(
            "(() => { const m = [...document.querySelectorAll('#map .marker')].find(m => !m.classList.contains('selected')); \
             m.closest('.leaflet-marker-icon').dispatchEvent(new MouseEvent('click', { bubbles: true })); return m.dataset.station; })()",
        )
        .await?;
    let picked = picked.as_str().unwrap_or_default().to_owned();
    page.wait_for(
        &format!("document.querySelector('#stations tr.selected')?.dataset.station === '{picked}'"),
        WAIT,
    )
    .await?;
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

/// The health panel of the selected station: a water node's battery, signal, queue, firmware;
/// the episode node's refused frame marked as needing attention.
async fn check_health(page: &mut support::Page, flagged: &str) -> Result<()> {
    page.eval("[...document.querySelectorAll('#stations tbody tr')].find(r => r.dataset.station.includes('-W')).click(), true")
        .await?;
    let water = page
        .wait_for(
            "(() => { const v = k => document.querySelector(`#health tr[data-health=\"${k}\"] td`)?.textContent; \
             return v('health_battery')?.endsWith(' V') && v('health_rssi')?.endsWith('dBm') && v('health_firmware') \
             && [v('health_battery'), v('health_rssi'), v('health_queued'), v('health_firmware')]; })()",
            WAIT,
        )
        .await?;
    eprintln!("health of a water station: {water}");
    page.eval(&format!(
        "document.querySelector('#stations tbody tr[data-station=\"{flagged}\"]').click(), true"
    ))
    .await?;
    page.wait_for(
        "document.querySelector('#health tr[data-health=\"health_refused\"]')?.classList.contains('bad') \
         && document.querySelector('#health-panel').classList.contains('attention')",
        WAIT,
    )
    .await?;
    Ok(())
}

/// What an English-reading page shows that a Vietnamese one must not: every label and state the
/// dashboard writes in English.
const ENGLISH: [&str; 26] = [
    "Stations",
    "Station",
    "District",
    "Index",
    "Salinity",
    "Last seen",
    "Open alerts",
    "Firing",
    "Last 24 hours",
    "pick a station",
    "no data",
    "not enough data",
    "never",
    "connecting",
    "reconnecting",
    "Acknowledge",
    "Ack'd",
    "warning",
    "fired",
    "above",
    "open data",
    "thresholds",
    "Fresh",
    "Token",
    "History",
    "acknowledged",
];

/// Vietnamese by default, with no English word left and times in the centre's time zone
/// (UTC+7); English one click away, remembered across a reload; then back to Vietnamese.
async fn check_languages(page: &mut support::Page) -> Result<()> {
    let text = page.eval("document.body.innerText").await?;
    let text = text.as_str().unwrap_or_default().to_owned();
    let left: Vec<&str> = ENGLISH.iter().copied().filter(|w| text.contains(w)).collect();
    ensure!(
        left.is_empty(),
        "English in the Vietnamese page: {left:?}
{text}"
    );
    ensure!(
        text.contains("Trạm quan trắc") && text.contains("Vị Thanh"),
        "{text}"
    );
    // The alert's start in Vietnam time: fired_at (UTC) + 7 h, as HH:MM.
    let fired = page
        .eval("document.querySelector('#alerts .meta[data-fired-at]')?.dataset.firedAt")
        .await?;
    let fired = time::OffsetDateTime::parse(
        fired.as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )?;
    let local = fired.to_offset(time::macros::offset!(+7));
    let clock = format!("{:02}:{:02}", local.hour(), local.minute());
    let meta = page
        .eval("document.querySelector('#alerts .meta').textContent")
        .await?;
    ensure!(
        meta.as_str().is_some_and(|m| m.contains(&clock)),
        "alert time {meta} is not {clock} (UTC+7 of {fired})"
    );

    page.eval("document.querySelector('#lang').click(), true").await?;
    page.wait_for("document.documentElement.lang === 'en'", WAIT)
        .await?;
    let english = page.eval("document.body.innerText").await?;
    let english = english.as_str().unwrap_or_default();
    ensure!(
        english.contains("Stations") && english.contains("Open alerts") && english.contains("Ack'd by"),
        "{english}"
    );
    // Reloaded, the page stays in English (the choice is kept in local storage).
    page.eval("setTimeout(() => location.reload(), 0), true").await?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    page.wait_for(
        "document.documentElement.lang === 'en' && document.querySelectorAll('#stations tbody tr').length > 0",
        WAIT,
    )
    .await?;
    page.eval("document.querySelector('#lang').click(), true").await?;
    page.wait_for("document.documentElement.lang === 'vi'", WAIT)
        .await?;
    Ok(())
}

/// At 390×844 the page has no sideways scrolling and shows the alerts first; at 1920×1080 the
/// wall mode (`?wall`) has large type and no controls. Screenshots of both, in both languages.
async fn check_phone_and_wall(url: &str) -> Result<()> {
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    for (name, path, size) in [("phone", "/", (390, 844)), ("wall", "/?wall", (1920, 1080))] {
        let chromium = Chromium::start(&format!("{url}{path}"), size).await?;
        let mut page = chromium.page().await?;
        page.wait_for(
            "document.querySelectorAll('#stations tbody tr').length > 0 && document.querySelectorAll('#alerts li').length > 0",
            WAIT,
        )
        .await?;
        let layout = page
            .eval(
                "({ width: innerWidth, scroll: document.documentElement.scrollWidth,                  alertsFirst: document.querySelector('#alerts-panel').getBoundingClientRect().top                    < document.querySelector('#stations-panel').getBoundingClientRect().top,                  font: parseFloat(getComputedStyle(document.body).fontSize),                  controls: [...document.querySelectorAll('#token, #lang, #alerts button')]                    .filter(e => e.offsetParent !== null).length })",
            )
            .await?;
        ensure!(
            layout["scroll"].as_f64() <= layout["width"].as_f64(),
            "{name}: sideways scrolling: {layout}"
        );
        if name == "phone" {
            ensure!(
                layout["alertsFirst"] == true,
                "phone: the alerts are not first: {layout}"
            );
        } else {
            ensure!(
                layout["font"].as_f64() >= Some(20.0) && layout["controls"] == 0,
                "wall: {layout}"
            );
        }
        for lang in ["vi", "en"] {
            page.eval(&format!(
                "(() => {{ if (i18n.lang !== '{lang}') document.querySelector('#lang').click(); return true; }})()"
            ))
            .await?;
            page.wait_for(&format!("document.documentElement.lang === '{lang}'"), WAIT)
                .await?;
            let shot = artifacts.join(format!("ioc-dashboard-{name}-{lang}.png"));
            page.screenshot(&shot).await?;
            eprintln!("dashboard screenshot: {}", shot.display());
        }
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
