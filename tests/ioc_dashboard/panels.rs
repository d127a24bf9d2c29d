//! The overview's panels: the history chart (ranges, custom days, stations compared), the map,
//! the selected station's health.

use anyhow::{Result, ensure};

use super::WAIT;
use crate::support;

/// The history chart: the warning threshold drawn for the selected air station, each point's
/// value on hover; choosing 7 days fetches a week and draws it from a week ago.
pub(super) async fn check_history(page: &mut support::Page) -> Result<()> {
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
    // Local days chosen by hand: from midnight in Vietnam two days ago to the end of today.
    let local = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7));
    let start = (local.date() - time::Duration::days(2))
        .midnight()
        .assume_offset(time::macros::offset!(+7))
        .to_offset(time::UtcOffset::UTC);
    let start = format!("{}T{:02}:00:00.000Z", start.date(), start.hour());
    page.eval(
        "(() => { document.querySelector('#ranges button[data-range=\"custom\"]').click(); \
         document.querySelector('#custom-from').value = i18n.today(-2); document.querySelector('#custom-to').value = i18n.today(0); \
         document.querySelector('#custom-apply').click(); return true; })()",
    )
    .await?;
    page.wait_for(
        &format!(
            "(() => {{ const c = document.querySelector('#chart'); return c.dataset.range === 'custom' && c.dataset.from === '{start}' \
             && c.dataset.every === '1h' && c.querySelector('polyline') !== null; }})()"
        ),
        WAIT,
    )
    .await?;
    // Two stations compared: one line each, the other station named in the legend.
    let peer = page
        .eval("(() => { const box = document.querySelector('#compare-list input[data-compare]'); box.click(); return box.dataset.compare; })()")
        .await?;
    let peer = peer.as_str().unwrap_or_default().to_owned();
    page.wait_for(
        &format!(
            "(() => {{ const c = document.querySelector('#chart'); const lines = new Set([...c.querySelectorAll('polyline')].map(p => p.dataset.station)); \
             return c.dataset.stations === '2' && lines.size === 2 && lines.has('{peer}') \
               && c.querySelector('text[data-legend=\"{peer}\"]').textContent.includes(state.stations.get('{peer}').name); }})()"
        ),
        WAIT,
    )
    .await?;
    page.eval(&format!(
        "document.querySelector('#compare-list input[data-compare=\"{peer}\"]').click(), true"
    ))
    .await?;
    page.wait_for("document.querySelector('#chart').dataset.stations === '1'", WAIT)
        .await?;
    page.eval("document.querySelector('#ranges button[data-range=\"24h\"]').click(), true")
        .await?;
    Ok(())
}

/// The map: one marker per station, each in the colour of the station's VN_AQI band or salinity
/// class as the API gives them, with the official bands in the legend; a click on a marker
/// selects its station.
pub(super) async fn check_map(page: &mut support::Page) -> Result<()> {
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

/// The health panel of the selected station: a water node's battery, signal, queue, firmware,
/// its QC verdict and its coverage (`valid/expected`);
/// the episode node's refused frame and its file that reached the authority 40 minutes ago
/// marked as needing attention, and the PM2.5 its indices use (the sensor's, in Vietnamese).
pub(super) async fn check_health(page: &mut support::Page, flagged: &str) -> Result<()> {
    page.eval("[...document.querySelectorAll('#stations tbody tr')].find(r => r.dataset.station.includes('-W')).click(), true")
        .await?;
    let water = page
        .wait_for(
            "(() => { const v = k => document.querySelector(`#health tr[data-health=\"${k}\"] td`)?.textContent; \
             return v('health_battery')?.endsWith(' V') && v('health_rssi')?.endsWith('dBm') && v('health_firmware') \
             && /^\\d+\\/\\d+ /.test(v('health_coverage_today') || '') && v('health_qc') \
             && [v('health_battery'), v('health_rssi'), v('health_queued'), v('health_firmware'), \
                 v('health_qc'), v('health_coverage_hour'), v('health_coverage_today')]; })()",
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
         && document.querySelector('#health tr[data-health=\"health_transmission\"]')?.classList.contains('bad') \
         && document.querySelector('#health tr[data-health=\"health_transmission\"] td').textContent.includes('(stnmt)') \
         && (document.querySelector('#health tr[data-health=\"health_pm25_basis\"] td')?.textContent || '').startsWith('giá trị cảm biến') \
         && document.querySelector('#health-panel').classList.contains('attention')",
        WAIT,
    )
    .await?;
    Ok(())
}
