// The history chart of the selected station: a range (24 h, 7 days, 30 days, or the centre's
// local days chosen by hand) fetched from /readings (InfluxDB, or the API's own hourly history
// without it), the parameters with their units and a legend, the warning threshold that applies
// drawn as a dashed line, and the values of a point on hover (its title). Other stations of the
// same kind can be compared: then each station is one line of the parameter its rule watches.
"use strict";

const RANGES = { "24h": { hours: 24, every: "1h" }, "7d": { hours: 168, every: "1h" }, "30d": { hours: 720, every: "6h" } };
// What each kind of station plots: one unit per chart, so the lines share an axis.
const PLOTTED = { air: { keys: ["pm2_5", "pm10"], unit: "µg/m³", rule: "pm2_5" }, water: { keys: ["salinity"], unit: "‰", rule: "salinity" } };
// Okabe and Ito's palette, told apart with the common colour-vision deficiencies.
const LINE_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];
// At most this many stations on one chart (the selected one and five others).
const MAX_COMPARED = 5;

const chart = {
  range: "24h",
  thresholds: null,
  // The stations compared with the selected one (ids).
  compare: new Set(),
  // The number of the latest load: an answer to an older one (a range clicked, then another
  // before the first came back) is dropped, so the chart always shows the last choice.
  generation: 0,

  // The enabled warning rule on `param` (1 h window) most specific to the station: its own, its
  // district's, or the province-wide one (the engine's order, alerts/engine/state.rs).
  async threshold(s, param) {
    if (!this.thresholds) {
      const response = await api("/api/v1/thresholds");
      this.thresholds = response.ok ? await response.json() : [];
    }
    const rank = (r) => (r.scope === "station" && r.target === s.station ? 3 : r.scope === "district" && r.target === s.district ? 2 : r.scope === "all" ? 1 : 0);
    const today = new Date().toISOString().slice(0, 10);
    const fits = this.thresholds.filter((r) => r.parameter === param && r.window === "1h" && r.level === "warning"
      && r.direction === "above" && r.enabled && rank(r) > 0
      && (!r.valid_from || r.valid_from <= today) && (!r.valid_until || r.valid_until >= today));
    fits.sort((a, b) => rank(b) - rank(a) || b.id - a.id);
    return fits.length ? fits[0].trigger : null;
  },

  // The period and bucket of the range: the last hours, or whole local days chosen by hand,
  // bucketed so a chart holds at most a few hundred points.
  period() {
    if (this.range !== "custom") {
      const { hours, every } = RANGES[this.range];
      const to = new Date();
      return { from: new Date(to.getTime() - hours * 3600 * 1000), to, every };
    }
    const from = document.querySelector("#custom-from").value;
    const to = document.querySelector("#custom-to").value;
    if (!from || !to) return null;
    const [start, end] = [new Date(i18n.dayStart(from)), new Date(i18n.dayStart(to, 1))];
    const days = (end - start) / 86400e3;
    return { from: start, to: end, every: days <= 3 ? "1h" : days <= 31 ? "6h" : "1d" };
  },

  // The stations that may be compared with `s`: the others of its kind, by name.
  peers(s) {
    return [...state.stations.values()].filter((p) => p.kind === s.kind && p.station !== s.station)
      .sort((a, b) => (a.name || a.station).localeCompare(b.name || b.station, "vi"));
  },

  // The comparison's choices for `s`: one box per other station of its kind.
  renderCompare(s) {
    const box = document.querySelector("#compare-list");
    box.replaceChildren();
    for (const id of [...this.compare]) {
      const p = state.stations.get(id);
      if (!p || p.kind !== s.kind || id === s.station) this.compare.delete(id);
    }
    for (const p of this.peers(s)) {
      const input = el("input", { type: "checkbox", "data-compare": p.station });
      input.checked = this.compare.has(p.station);
      input.disabled = !input.checked && this.compare.size >= MAX_COMPARED;
      input.addEventListener("change", () => {
        if (input.checked) this.compare.add(p.station); else this.compare.delete(p.station);
        this.load(s);
      });
      box.append(el("label", {}, input, ` ${p.name || p.station}`));
    }
  },

  async load(s) {
    if (!s) return;
    const generation = ++this.generation;
    this.renderCompare(s);
    const svg = document.querySelector("#chart");
    const error = document.querySelector("#chart-error");
    error.hidden = true;
    svg.dataset.range = this.range;
    const period = this.period();
    if (!period) return;
    const { from, to, every } = period;
    const plotted = PLOTTED[s.kind] || PLOTTED.air;
    const stations = [s, ...[...this.compare].map((id) => state.stations.get(id))];
    // The stations' histories asked for together.
    const responses = await Promise.all(stations.map((station) => api(
      `/api/v1/stations/${encodeURIComponent(station.station)}/readings?from=${from.toISOString()}&to=${to.toISOString()}&every=${every}`)));
    if (generation !== this.generation) return;
    const refused = responses.find((r) => !r.ok);
    if (refused) {
      const body = await refused.json().catch(() => ({}));
      error.textContent = i18n.t("not_loaded", { why: body.message || refused.status });
      error.hidden = false;
      svg.replaceChildren();
      svg.dataset.points = "0";
      return;
    }
    const histories = await Promise.all(responses.map((r) => r.json()));
    const threshold = await this.threshold(s, plotted.rule);
    if (generation !== this.generation) return;
    // One station: each of its parameters; several: the watched parameter of each station.
    const series = stations.length === 1
      ? plotted.keys.map((k, i) => ({ label: parameterName(k), key: k, station: s.station, colour: LINE_COLOURS[i], points: histories[0].points || [] }))
      : stations.map((station, i) => ({ label: station.name || station.station, key: plotted.rule, station: station.station, colour: LINE_COLOURS[i], points: histories[i].points || [] }));
    svg.dataset.stations = String(stations.length);
    svg.dataset.from = from.toISOString();
    svg.dataset.to = to.toISOString();
    svg.dataset.every = every;
    this.draw(series, plotted, threshold, from, to);
  },

  draw(series, plotted, threshold, from, to) {
    const svg = document.querySelector("#chart");
    svg.replaceChildren();
    const ns = "http://www.w3.org/2000/svg";
    const add = (tag, attrs, text) => {
      const node = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text != null) node.textContent = text;
      svg.append(node);
      return node;
    };
    const values = series.flatMap((line) => line.points.map((p) => p.values[line.key]).filter((v) => v != null));
    const max = Math.max(1, threshold || 0, ...values) * 1.1;
    const [t0, t1] = [from.getTime(), to.getTime()];
    const x = (t) => 50 + ((t - t0) / (t1 - t0)) * 570;
    const y = (v) => 190 - (v / max) * 165;
    add("line", { x1: 50, y1: 190, x2: 620, y2: 190, stroke: "#999" });
    add("line", { x1: 50, y1: 25, x2: 50, y2: 190, stroke: "#999" });
    add("text", { x: 2, y: 30, "font-size": 10 }, `${i18n.number(max, 0)} ${plotted.unit}`);
    add("text", { x: 2, y: 190, "font-size": 10 }, "0");
    const long = t1 - t0 > 86400e3;
    const tick = (t) => (long ? i18n.time(new Date(t).toISOString()).replace(/^\d\d:\d\d,? ?/, "") : i18n.clock(new Date(t).toISOString()));
    add("text", { x: 50, y: 204, "font-size": 10, "data-tick": "start" }, tick(t0));
    add("text", { x: 560, y: 204, "font-size": 10, "data-tick": "end" }, tick(t1));
    if (threshold != null) {
      add("line", { x1: 50, y1: y(threshold), x2: 620, y2: y(threshold), stroke: "#c75000", "stroke-dasharray": "5 4", "data-threshold": threshold });
      add("text", { x: 452, y: y(threshold) - 4, "font-size": 10, fill: "#c75000" }, `${i18n.t("threshold")} ${i18n.number(threshold, 1)} ${plotted.unit}`);
    }
    // The legend: one row of up to three entries, a second row for more.
    series.forEach((line, i) => {
      const [lx, ly] = [60 + (i % 3) * 185, 6 + Math.floor(i / 3) * 12];
      add("rect", { x: lx, y: ly, width: 10, height: 10, fill: line.colour });
      add("text", { x: lx + 14, y: ly + 9, "font-size": 11, "data-legend": line.station }, `${line.label} (${plotted.unit})`);
      const pts = line.points.filter((p) => p.values[line.key] != null);
      if (!pts.length) return;
      add("polyline", { points: pts.map((p) => `${x(Date.parse(p.time))},${y(p.values[line.key])}`).join(" "), fill: "none", stroke: line.colour, "stroke-width": 2, "data-series": line.key, "data-station": line.station });
      for (const p of pts) {
        const dot = add("circle", { cx: x(Date.parse(p.time)), cy: y(p.values[line.key]), r: 3, fill: line.colour, "data-series": line.key, "data-station": line.station });
        const title = document.createElementNS(ns, "title");
        title.textContent = `${line.label} · ${parameterName(line.key)} ${i18n.number(p.values[line.key], 1)} ${plotted.unit} · ${i18n.time(p.time)}`;
        dot.append(title);
      }
    });
    svg.dataset.points = String(series.reduce((n, line) => n + line.points.length, 0));
  },
};
