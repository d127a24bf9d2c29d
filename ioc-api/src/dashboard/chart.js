// The history chart of the selected station: a range (24 h, 7 days, 30 days) fetched from
// /readings (InfluxDB, or the API's own hourly history without it), the parameters with their
// units and a legend, the warning threshold that applies drawn as a dashed line, and the values
// of a point on hover (its title).
"use strict";

const RANGES = { "24h": { hours: 24, every: "1h" }, "7d": { hours: 168, every: "1h" }, "30d": { hours: 720, every: "6h" } };
// What each kind of station plots: one unit per chart, so the lines share an axis.
const PLOTTED = { air: { keys: ["pm2_5", "pm10"], unit: "µg/m³", rule: "pm2_5" }, water: { keys: ["salinity"], unit: "‰", rule: "salinity" } };
const LINE_COLOURS = ["#1f5f99", "#b2182b"];

const chart = {
  range: "24h",
  thresholds: null,

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

  async load(s) {
    if (!s) return;
    const { hours, every } = RANGES[this.range];
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3600 * 1000);
    const url = `/api/v1/stations/${encodeURIComponent(s.station)}/readings?from=${from.toISOString()}&to=${to.toISOString()}&every=${every}`;
    const svg = document.querySelector("#chart");
    svg.dataset.range = this.range;
    const response = await api(url);
    if (!response.ok) { svg.replaceChildren(); svg.dataset.points = "0"; return; }
    const history = await response.json();
    const plotted = PLOTTED[s.kind] || PLOTTED.air;
    this.draw(history, plotted, await this.threshold(s, plotted.rule), from, to);
  },

  draw(history, plotted, threshold, from, to) {
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
    const points = history.points || [];
    const values = points.flatMap((p) => plotted.keys.map((k) => p.values[k]).filter((v) => v != null));
    const max = Math.max(1, threshold || 0, ...values) * 1.1;
    const [t0, t1] = [from.getTime(), to.getTime()];
    const x = (t) => 50 + ((t - t0) / (t1 - t0)) * 570;
    const y = (v) => 190 - (v / max) * 165;
    add("line", { x1: 50, y1: 190, x2: 620, y2: 190, stroke: "#999" });
    add("line", { x1: 50, y1: 25, x2: 50, y2: 190, stroke: "#999" });
    add("text", { x: 2, y: 30, "font-size": 10 }, `${i18n.number(max, 0)} ${plotted.unit}`);
    add("text", { x: 2, y: 190, "font-size": 10 }, "0");
    const long = this.range !== "24h";
    const tick = (t) => (long ? i18n.time(new Date(t).toISOString()).replace(/^\d\d:\d\d,? ?/, "") : i18n.clock(new Date(t).toISOString()));
    add("text", { x: 50, y: 204, "font-size": 10 }, tick(t0));
    add("text", { x: 560, y: 204, "font-size": 10 }, tick(t1));
    if (threshold != null) {
      add("line", { x1: 50, y1: y(threshold), x2: 620, y2: y(threshold), stroke: "#c75000", "stroke-dasharray": "5 4", "data-threshold": threshold });
      add("text", { x: 452, y: y(threshold) - 4, "font-size": 10, fill: "#c75000" }, `${i18n.t("threshold")} ${i18n.number(threshold, 1)} ${plotted.unit}`);
    }
    plotted.keys.forEach((k, i) => {
      const colour = LINE_COLOURS[i % LINE_COLOURS.length];
      const pts = points.filter((p) => p.values[k] != null);
      add("rect", { x: 60 + i * 120, y: 6, width: 10, height: 10, fill: colour });
      add("text", { x: 74 + i * 120, y: 15, "font-size": 11 }, `${parameterName(k)} (${plotted.unit})`);
      if (!pts.length) return;
      add("polyline", { points: pts.map((p) => `${x(Date.parse(p.time))},${y(p.values[k])}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2, "data-series": k });
      for (const p of pts) {
        const dot = add("circle", { cx: x(Date.parse(p.time)), cy: y(p.values[k]), r: 3, fill: colour, "data-series": k });
        const title = document.createElementNS(ns, "title");
        title.textContent = `${parameterName(k)} ${i18n.number(p.values[k], 1)} ${plotted.unit} · ${i18n.time(p.time)}`;
        dot.append(title);
      }
    });
    svg.dataset.points = String(points.length);
  },
};
