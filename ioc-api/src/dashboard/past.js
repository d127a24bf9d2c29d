// The past alerts view (#past-alerts): the alerts open at some time in a period of the centre's
// local days, by station, parameter, level and state, newest first (GET /api/v1/alerts with
// `from`/`to`); a row opens its transitions. The API's message for a refused filter is shown next
// to the field it names.
"use strict";

const pastAlerts = {
  // The transitions of the rows that are open, by alert id.
  open: new Map(),
  rows: [],

  // The filters' choices, in the current language; the values chosen so far are kept.
  fill() {
    const form = document.querySelector("#past-filters");
    const choose = (name, options) => fillSelect(form.elements[name], [["", i18n.t("any")], ...options]);
    choose("station", [...state.stations.values()].map((s) => [s.station, s.name || s.station]));
    choose("parameter", (pageSettings.parameters || []).map((p) => [p.name, parameterName(p.name)]));
    choose("level", ["warning", "critical"].map((l) => [l, i18n.t(l)]));
    choose("state", ["firing", "acknowledged", "resolved"].map((s) => [s, i18n.t(`state_${s}`)]));
    if (!form.elements.from.value) form.elements.from.value = i18n.today(-6);
    if (!form.elements.to.value) form.elements.to.value = i18n.today(0);
  },

  query() {
    const form = document.querySelector("#past-filters");
    const q = new URLSearchParams({ limit: "1000" });
    for (const name of ["station", "parameter", "level", "state"]) {
      if (form.elements[name].value) q.set(name, form.elements[name].value);
    }
    // Local days, both included: from the first day's midnight to the midnight after the last.
    if (form.elements.from.value) q.set("from", i18n.dayStart(form.elements.from.value));
    if (form.elements.to.value) q.set("to", i18n.dayStart(form.elements.to.value, 1));
    return q;
  },

  async load() {
    const form = document.querySelector("#past-filters");
    for (const span of form.querySelectorAll(".field-error")) span.textContent = "";
    const error = document.querySelector("#past-error");
    error.hidden = true;
    const response = await api(`/api/v1/alerts?${this.query()}`);
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      showRefusal(form, body, response.status, error, "not_loaded");
      return;
    }
    this.rows = body || [];
    this.render();
  },

  render() {
    const body = document.querySelector("#past-table tbody");
    body.replaceChildren();
    const summary = document.querySelector("#past-summary");
    summary.dataset.count = this.rows.length;
    summary.textContent = i18n.t("past_count", { n: this.rows.length });
    for (const a of this.rows) {
      const station = state.stations.get(a.station);
      const ended = a.resolved_at ? `${i18n.time(a.resolved_at)} (${i18n.t(`resolution_${a.resolution}`)})` : "–";
      const row = el("tr", { "data-alert-id": a.id, class: `${a.level} ${a.state}` },
        el("td", { "data-fired-at": a.fired_at }, i18n.time(a.fired_at)),
        el("td", {}, station ? station.name : a.station),
        el("td", {}, `${parameterName(a.parameter)} (${i18n.t(`window_${a.window}`)})`),
        el("td", {}, i18n.t(a.level)),
        el("td", {}, i18n.t(`state_${a.state}`)),
        el("td", {}, i18n.number(a.peak, 1)),
        el("td", {}, ended));
      row.addEventListener("click", () => this.toggle(a.id));
      body.append(row);
      if (this.open.has(a.id)) {
        body.append(el("tr", { class: "transitions-row", "data-transitions-for": a.id },
          el("td", { colspan: "7" }, transitionsList(this.open.get(a.id)))));
      }
    }
  },

  toggle(id) {
    return toggleTransitions(this.open, id, () => this.render());
  },

  init() {
    document.querySelector("#past-filters").addEventListener("submit", (e) => {
      e.preventDefault();
      this.load();
    });
  },
};
