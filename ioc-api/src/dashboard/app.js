// The IOC dashboard: station list with index chips and last-seen ages, firing alerts with an
// acknowledge button, a 24-hour chart, salinity along the canals; live over the SSE stream. Every
// word and time goes through `i18n` (i18n.js).
"use strict";

// `history`: the transitions of the alerts whose history is open, by alert id.
const state = { stations: new Map(), alerts: [], selected: null, readings: 0, history: new Map() };
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "style") node.style.cssText = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function textColour(hex) {
  const n = parseInt(hex.slice(1), 16);
  const lum = 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
  return lum > 140 ? "#111" : "#fff";
}

function chip(index, label) {
  if (!index) return el("span", { class: "chip none", title: `${label}: ${i18n.t("not_enough")}` }, "–");
  return el("span", {
    class: "chip", "data-band": index.band.code, title: `${label}: ${i18n.band(index.band)}`,
    style: `background:${index.band.colour};color:${textColour(index.band.colour)}`,
  }, index.value);
}

function age(s) {
  if (!s.last_seen) return i18n.t("never");
  const secs = Math.max(0, Math.round((Date.now() - Date.parse(s.last_seen)) / 1000));
  if (secs < 90) return i18n.t("seconds", { n: secs });
  if (secs < 5400) return i18n.t("minutes", { n: Math.round(secs / 60) });
  return i18n.t("hours", { n: Math.round(secs / 3600) });
}

// A node whose frames are refused for reusing their (boot, seq) keys: its new readings are not
// stored, which the operator must see on the station itself (docs/ioc.md, "Which frames are readings").
function refusedBadge(s) {
  const reused = s.frames_refused ? s.frames_refused.seq_reused : 0;
  if (!reused) return "";
  return el("span", { class: "warn-badge", "data-refused": reused, title: i18n.t("reused_hint") },
    i18n.t("reused_keys", { n: reused }));
}

// Parameter names as the operators write them.
function parameterName(p) {
  const names = { pm2_5: "PM2.5", pm10: "PM10", pm1_0: "PM1.0", co: "CO", no2: "NO₂", so2: "SO₂", o3: "O₃", ph: "pH" };
  return names[p] || i18n.t(p);
}

function renderStations() {
  const body = $("#stations tbody");
  body.replaceChildren();
  for (const s of state.stations.values()) {
    const index = s.kind === "air" ? chip(s.vn_aqi, "VN_AQI") : chip(s.wqi, "VN_WQI");
    const pm = s.pm2_5_1h_mean == null ? "–" : `${i18n.number(s.pm2_5_1h_mean, 1)} µg/m³`;
    const sal = s.salinity ? `${i18n.number(s.salinity.ppt, 2)} ‰` : "–";
    const row = el("tr", { "data-station": s.station, class: (s.online ? "" : "offline") + (state.selected === s.station ? " selected" : "") },
      el("td", {}, s.name || s.station, refusedBadge(s)), el("td", {}, s.district), el("td", {}, index),
      el("td", {}, pm), el("td", {}, sal), el("td", { class: "age", "data-last-seen": s.last_seen || "" }, age(s)));
    row.addEventListener("click", () => select(s.station));
    body.append(row);
  }
  stationMap.update([...state.stations.values()], state.selected);
  renderHealth(state.stations.get(state.selected));
  renderSalinity();
}

function renderSalinity() {
  const box = $("#salinity");
  box.replaceChildren();
  const water = [...state.stations.values()].filter((s) => s.kind === "water")
    .sort((a, b) => ((a.location || [0])[0]) - ((b.location || [0])[0]));
  const max = Math.max(4.5, ...water.map((s) => (s.salinity ? s.salinity.ppt : 0)));
  for (const s of water) {
    const sal = s.salinity;
    const width = sal ? Math.max(2, (sal.ppt / max) * 260) : 0;
    box.append(el("div", { class: "bar", "data-station": s.station },
      el("span", { class: "name" }, s.name || s.station),
      el("span", { class: "fill", style: `width:${width}px;background:${sal ? sal.class.colour : "#ddd"}` }),
      el("span", {}, sal ? `${i18n.number(sal.ppt, 2)} ‰ · ${i18n.band(sal.class)}` : i18n.t("no_data"))));
  }
}

function renderAlerts() {
  const list = $("#alerts");
  // Comments being typed survive the list being drawn again (an alert event redraws it).
  const typed = new Map([...list.querySelectorAll("input[data-comment-for]")].map((i) => [i.dataset.commentFor, i.value]));
  list.replaceChildren();
  const open = state.alerts.filter((a) => a.state !== "resolved");
  const firing = open.filter((a) => a.state === "firing").length;
  const count = $("#alert-count");
  count.dataset.firing = firing;
  count.dataset.acknowledged = open.length - firing;
  count.textContent = i18n.t("alert_counts", { firing, acknowledged: open.length - firing });
  for (const a of open) {
    const station = state.stations.get(a.station);
    const what = `${parameterName(a.parameter)} (${i18n.t(`window_${a.window}`)}) ${i18n.t(a.direction)} `
      + `${i18n.number(a.threshold, 1)}: ${i18n.number(a.last_value, 1)}`;
    const controls = el("div", { class: "controls" });
    // The API lets an operator end by hand an alert whose input is stale, and the node's own
    // problems (sensor fault, reused frame numbers); a live measurement ends by hysteresis.
    const resolvable = a.stale || a.parameter === "sensor_fault" || a.parameter === "sequence_reset";
    const needsComment = a.state !== "acknowledged" || resolvable;
    const comment = el("input", { "data-comment-for": a.id, placeholder: i18n.t("comment"), "aria-label": i18n.t("comment"), maxlength: "500" });
    comment.value = typed.get(String(a.id)) || "";
    if (needsComment) controls.append(comment);
    if (a.state === "acknowledged") {
      controls.append(el("span", { class: "acked" }, i18n.t("acknowledged_by", { who: a.acknowledged_by })));
    } else {
      const button = el("button", { "data-ack": a.id }, i18n.t("acknowledge"));
      button.addEventListener("click", () => act(a.id, "ack", comment.value));
      controls.append(button);
    }
    if (resolvable) {
      const resolve = el("button", { "data-resolve": a.id }, i18n.t("resolve"));
      resolve.addEventListener("click", () => act(a.id, "resolve", comment.value));
      controls.append(resolve);
    }
    const history = el("button", { class: "link", "data-history": a.id }, i18n.t("history"));
    history.addEventListener("click", () => toggleTransitions(state.history, a.id, renderAlerts));
    controls.append(history);
    const item = el("li", { "data-alert-id": a.id, "data-parameter": a.parameter, class: `${a.level} ${a.state}` },
      el("div", {}, el("strong", {}, station ? station.name : a.station), " · ", what,
        el("div", { class: "meta", "data-fired-at": a.fired_at },
          i18n.t("fired", { level: i18n.t(a.level), time: i18n.time(a.fired_at) })
          + (a.stale ? `, ${i18n.t("stale")}` : "") + (a.suppressed ? `, ${i18n.t("offline_suppressed")}` : ""))),
      controls);
    if (state.history.has(a.id)) item.append(transitionsList(state.history.get(a.id)));
    list.append(item);
  }
}

// An alert's transitions, oldest first: when (local time), what, who, and the comment.
function transitionsList(transitions) {
  return el("ol", { class: "transitions" }, ...(transitions || []).map((t) => el("li", { "data-kind": t.kind },
    `${i18n.time(t.at)} · ${i18n.t(`transition_${t.kind}`)} · ${t.actor}${t.comment ? ` · “${t.comment}”` : ""}`)));
}

// An alert's transitions from the API, or null when it refuses.
async function alertTransitions(id) {
  const response = await api(`/api/v1/alerts/${id}`);
  return response.ok ? (await response.json()).transitions : null;
}

// Opens or closes the transitions of alert `id` kept in `open` (a map by id), then redraws.
async function toggleTransitions(open, id, redraw) {
  if (open.has(id)) {
    open.delete(id);
  } else {
    const transitions = await alertTransitions(id);
    if (!transitions) return;
    open.set(id, transitions);
  }
  redraw();
}

// A select's options ([value, label] pairs), keeping the value chosen so far when it remains.
function fillSelect(select, options) {
  const chosen = select.value;
  select.replaceChildren(...options.map(([value, label]) => el("option", { value }, label)));
  if (options.some(([value]) => value === chosen)) select.value = chosen;
}

// The message of a refused request (`body` the API's error) next to the field of `form` it
// names; when it names none there, in `fallback`, prefixed by `words`' text.
function showRefusal(form, body, status, fallback, words) {
  const message = body && body.message ? i18n.apiMessage(body.message) : String(status);
  const place = body && body.field && form.querySelector(`[data-error-for="${body.field}"]`);
  if (place) place.textContent = message;
  else { fallback.textContent = i18n.t(words, { why: message }); fallback.hidden = false; }
}

// The token typed in the header, sent with every request when present: reads need a viewer
// token when the API's `auth.anonymous_read` is off, acknowledging needs an operator token.
function token() { return $("#token").value.trim(); }

function authorised(headers = {}) {
  return token() ? { ...headers, authorization: `Bearer ${token()}` } : headers;
}

async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: authorised(init.headers) });
  $("#auth-needed").hidden = response.status !== 401;
  return response;
}

// Acknowledges (`ack`) or resolves (`resolve`) with the operator's comment (none when the field
// is left empty).
async function act(id, action, comment) {
  const error = $("#ack-error");
  error.hidden = true;
  const text = comment.trim();
  const response = await api(`/api/v1/alerts/${id}/${action}`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify(text ? { comment: text } : {}),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    error.textContent = i18n.t(action === "ack" ? "not_acknowledged" : "not_resolved", { why: body.message || response.status });
    error.hidden = false;
  }
  if (state.history.has(id)) {
    const transitions = await alertTransitions(id);
    if (transitions) state.history.set(id, transitions);
  }
  await loadAlerts();
}

async function select(id) {
  state.selected = id;
  renderStations();
  const s = state.stations.get(id);
  const title = $("#chart-title");
  delete title.dataset.i18n;
  title.textContent = s ? s.name || id : id;
  await chart.load(s);
}


async function loadStations() {
  const response = await api("/api/v1/stations");
  if (!response.ok) return;
  for (const s of await response.json()) state.stations.set(s.station, s);
  renderStations();
  pastAlerts.fill();
  rules.fill();
  if (!state.selected && state.stations.size) select(state.stations.keys().next().value);
}

async function loadAlerts() {
  const response = await api("/api/v1/alerts?state=open");
  if (!response.ok) return;
  state.alerts = await response.json();
  renderAlerts();
}

function onEvent(type, data) {
  if (type === "reading") {
    const s = JSON.parse(data);
    state.stations.set(s.station, s);
    state.readings += 1;
    document.body.dataset.readings = state.readings;
    renderStations();
  } else if (type === "alert") {
    loadAlerts();
  } else if (type === "threshold") {
    rules.load();
  } else if (type === "lagged") {
    loadStations(); loadAlerts();
  }
}

function live(on) {
  const status = $("#live-status");
  status.dataset.state = on ? "live" : "reconnecting";
  status.dataset.i18n = on ? "live" : "reconnecting";
  status.textContent = i18n.t(status.dataset.i18n);
  status.className = on ? "live" : "offline";
}

// The stream read with fetch rather than EventSource, which cannot send the token: the same
// event-stream parsing, and on a break the same resumption, from the last event id.
let streamAbort = null;
let restartStream = false;
let wakeStream = null;
async function connect() {
  let lastId = null;
  for (;;) {
    // A restart asked for until now is this connection, made with the token as it is now.
    restartStream = false;
    streamAbort = new AbortController();
    try {
      const headers = authorised({ accept: "text/event-stream" });
      if (lastId) headers["last-event-id"] = lastId;
      const response = await fetch("/api/v1/stream", { headers, signal: streamAbort.signal });
      $("#auth-needed").hidden = response.status !== 401;
      if (!response.ok) throw new Error(`stream: ${response.status}`);
      live(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = (buffer + value).replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = "message";
          const data = [];
          for (const line of block.split("\n")) {
            const colon = line.indexOf(":");
            if (colon === 0) continue;
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "event") type = text;
            else if (field === "data") data.push(text);
            else if (field === "id") lastId = text;
          }
          if (data.length) onEvent(type, data.join("\n"));
        }
      }
    } catch (e) {
      // A break, a refusal or a new token: connect again below.
    }
    if (restartStream) continue;
    live(false);
    // A new token cuts the wait short.
    await new Promise((resolve) => { wakeStream = resolve; setTimeout(resolve, 2000); });
    wakeStream = null;
  }
}

$("#token").value = localStorage.getItem("citysense-token") || "";
$("#token").addEventListener("change", (e) => {
  localStorage.setItem("citysense-token", e.target.value.trim());
  loadStations().then(loadAlerts);
  // The stream goes on with the new token at once.
  restartStream = true;
  if (streamAbort) streamAbort.abort();
  if (wakeStream) wakeStream();
});
setInterval(() => document.querySelectorAll("td.age").forEach((td) => {
  const s = state.stations.get(td.parentElement.dataset.station);
  if (s) td.textContent = age(s);
}), 1000);
for (const button of document.querySelectorAll("#ranges button[data-range]")) {
  button.addEventListener("click", () => {
    chart.range = button.dataset.range;
    for (const b of document.querySelectorAll("#ranges button[data-range]")) b.classList.toggle("active", b === button);
    const custom = chart.range === "custom";
    $("#custom-range").hidden = !custom;
    // A custom range starts as the last week of local days, to be changed.
    if (custom && !$("#custom-from").value) { $("#custom-from").value = i18n.today(-6); $("#custom-to").value = i18n.today(0); }
    if (state.selected) chart.load(state.stations.get(state.selected));
  });
}
$("#custom-apply").addEventListener("click", () => { if (state.selected) chart.load(state.stations.get(state.selected)); });
$("#lang").addEventListener("click", () => {
  i18n.set(i18n.lang === "vi" ? "en" : "vi");
  renderStations();
  renderAlerts();
  stationMap.legend();
  pastAlerts.fill();
  pastAlerts.render();
  rules.fill();
  rules.render();
  if (state.selected) select(state.selected);
});

// The views, one at a time, named by the address's fragment: the overview, past alerts, rules.
function showView() {
  const view = ["past-alerts", "rules"].includes(location.hash.slice(1)) ? location.hash.slice(1) : "overview";
  document.body.dataset.view = view;
  for (const main of document.querySelectorAll("body > main")) main.hidden = main.id !== view;
  for (const link of document.querySelectorAll("#views a")) link.classList.toggle("active", link.dataset.view === view);
  // The map was laid out while hidden: it measures its box again.
  if (view === "overview") stationMap.resize();
  if (view === "past-alerts") pastAlerts.load();
  if (view === "rules") rules.load();
}
window.addEventListener("hashchange", showView);
// The wall screen: large type, no controls (`?wall`).
if (new URLSearchParams(location.search).has("wall")) document.body.classList.add("wall");
i18n.apply();
stationMap.init(select);
pastAlerts.init();
rules.init();
loadStations().then(loadAlerts).then(() => { showView(); connect(); });
