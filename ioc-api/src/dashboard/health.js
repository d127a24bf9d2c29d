// The selected station's health, from its view: when it was last heard from, its node's last
// status frame (battery, signal, queued and dropped frames, firmware, uptime), the quality flags
// of its latest reading (the node's, FORMAT.md §4, and the IOC's QC), its coverage this hour and
// today, and the frames the replay window refused. A value that
// needs attention is marked, so the panel reads at a glance.
"use strict";

// Quality flag bits of a reading (protocol/src/quality.rs, FORMAT.md §4).
const QUALITY_FLAGS = [[1, "flag_warming_up"], [2, "flag_sensor_fault"], [4, "flag_out_of_range"], [8, "flag_stuck_value"], [16, "flag_calibration_due"], [32, "flag_calibrating"]];
// Flags that mean the reading is not to be trusted (the IOC's sensor_fault rule uses the same).
const FAULT_BITS = 2 | 4 | 8;
// Attention levels: a battery under 3.5 V is near the cut-off of a Li-ion cell under load; an
// RSSI under -100 dBm is at the edge of a cellular or LoRa link; a queue of over 100 frames is
// more than an hour and a half of reports waiting at one a minute.
const LOW_BATTERY_V = 3.5;
const WEAK_RSSI_DBM = -100;
const LONG_QUEUE = 100;
// Coverage under the indices' 75 % (`indices.min_coverage`) needs attention, once at least four
// readings were expected (the first minutes of an hour say little).
const MIN_COVERAGE = 0.75;
const MIN_EXPECTED = 4;
// The default transmission_interrupted rule's limit (ioc-api src/alerts/defaults.rs): six
// five-minute files.
const TRANSMISSION_LATE_S = 1800;

function renderHealth(s) {
  const box = document.querySelector("#health");
  box.replaceChildren();
  document.querySelector("#health-title").textContent = s ? s.name || s.station : i18n.t("pick_station");
  if (!s) return;
  const h = s.health;
  const rows = [];
  const row = (key, value, bad) => rows.push(el("tr", { "data-health": key, class: bad ? "bad" : "" },
    el("th", {}, i18n.t(key)), el("td", {}, value)));
  row("health_status", i18n.t(`status_${s.status}`), s.status !== "online");
  row("health_last_seen", s.last_seen ? `${i18n.time(s.last_seen)} (${age(s)})` : i18n.t("never"), !s.online);
  if (h) {
    row("health_battery", h.battery_v == null ? i18n.t("mains") : `${i18n.number(h.battery_v, 2)} V`, h.battery_v != null && h.battery_v < LOW_BATTERY_V);
    row("health_rssi", h.rssi_dbm == null ? "–" : `${h.rssi_dbm} dBm`, h.rssi_dbm != null && h.rssi_dbm < WEAK_RSSI_DBM);
    row("health_queued", String(h.frames_queued), h.frames_queued > LONG_QUEUE);
    row("health_dropped", String(h.frames_dropped), h.frames_dropped > 0);
    row("health_firmware", h.firmware, false);
    row("health_uptime", i18n.t("hours", { n: i18n.number(h.uptime_s / 3600, 1) }), false);
  } else {
    row("health_node", i18n.t("no_status"), false);
  }
  const quality = s.reading ? s.reading.quality : 0;
  const flags = QUALITY_FLAGS.filter(([bit]) => quality & bit).map(([, key]) => i18n.t(key));
  row("health_sensors", flags.length ? flags.join(", ") : i18n.t("sensors_ok"), (quality & FAULT_BITS) !== 0);
  // The IOC's own checks of the latest reading (docs/ioc.md, "Quality control").
  const qc = Object.entries(s.qc || {}).map(([p, f]) => `${parameterName(p)}: ${f.map((x) => i18n.t(`qc_${x}`)).join(", ")}`);
  row("health_qc", qc.length ? qc.join("; ") : i18n.t("qc_ok"), qc.length > 0);
  const coverage = s.coverage || {};
  for (const [key, c] of [["health_coverage_hour", coverage.hour], ["health_coverage_today", coverage.today]]) {
    if (!c) continue;
    const low = c.expected >= MIN_EXPECTED && c.valid < MIN_COVERAGE * c.expected;
    row(key, i18n.t("coverage_counts", { valid: c.valid, expected: c.expected, received: c.received }), low);
  }
  // Which PM2.5 the indices and alerts use (docs/ioc.md, "PM2.5 correction").
  if (s.kind === "air" && s.pm2_5_basis) {
    const corrected = s.pm2_5_corrected == null ? "" : ` (${i18n.number(s.pm2_5_corrected, 1)} µg/m³)`;
    row("health_pm25_basis", i18n.t(`basis_${s.pm2_5_basis}`) + corrected, false);
  }
  const refused = s.frames_refused || { seq_reused: 0, replays: 0 };
  row("health_refused", i18n.t("refused_counts", { reused: refused.seq_reused, replays: refused.replays }), refused.seq_reused > 0);
  // The last file each of the authority's receivers took, through the relay.
  for (const t of s.transmission || []) {
    row("health_transmission", i18n.t("transmission_at", { time: i18n.time(t.delivered_at), receiver: t.receiver }), t.age_s > TRANSMISSION_LATE_S);
  }
  box.append(el("table", { class: "health" }, el("tbody", {}, ...rows)));
  document.querySelector("#health-panel").classList.toggle("attention", rows.some((r) => r.classList.contains("bad")));
}
