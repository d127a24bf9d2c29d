// The rules view (#rules): every threshold rule, and a form to add one, change one, or switch one
// off and on again (an admin token; the API refuses others with 403). The API validates; its
// message appears next to the field it names (`field` in the error body), so the editor repeats
// none of the API's rules.
"use strict";

// The fields of a rule as the API takes it (ThresholdSpec); a listed rule also has id, updated_at
// and updated_by, which a replacement must not send.
const RULE_FIELDS = ["parameter", "scope", "target", "window", "level", "direction", "trigger", "recovery",
  "pending_s", "stale_after_s", "valid_from", "valid_until", "enabled", "source"];

const rules = {
  list: [],
  // The id of the rule being changed, or null for a new one.
  editing: null,

  async load() {
    const response = await api("/api/v1/thresholds");
    if (!response.ok) return;
    this.list = await response.json();
    // The chart's threshold line follows the rules as they are now.
    chart.thresholds = this.list;
    this.render();
  },

  where(r) {
    if (r.scope === "all") return i18n.t("scope_all");
    if (r.scope === "district") return `${i18n.t("scope_district")} ${r.target}`;
    const s = state.stations.get(r.target);
    return `${i18n.t("scope_station")} ${s ? s.name : r.target}`;
  },

  render() {
    const body = document.querySelector("#rules-table tbody");
    body.replaceChildren();
    for (const r of this.list) {
      const unit = ((pageSettings.parameters || []).find((p) => p.name === r.parameter) || {}).unit || "";
      const edit = el("button", { type: "button", "data-edit": r.id }, i18n.t("edit"));
      edit.addEventListener("click", () => this.edit(r));
      const toggle = el("button", { type: "button", "data-toggle": r.id }, i18n.t(r.enabled ? "disable" : "enable"));
      toggle.addEventListener("click", () => this.save({ ...this.spec(r), enabled: !r.enabled }, r.id));
      body.append(el("tr", { "data-rule-id": r.id, class: r.enabled ? "" : "disabled" },
        el("td", {}, parameterName(r.parameter), r.enabled ? "" : el("span", { class: "off" }, ` (${i18n.t("disabled")})`)),
        el("td", {}, this.where(r)),
        el("td", {}, i18n.t(`window_${r.window}`)),
        el("td", {}, i18n.t(r.level)),
        el("td", {}, `${i18n.t(r.direction)} ${i18n.number(r.trigger, 1)} ${unit}`),
        el("td", {}, r.recovery == null ? "–" : i18n.number(r.recovery, 1)),
        el("td", { class: "source" }, r.source || ""),
        el("td", { class: "row-actions" }, edit, toggle)));
    }
  },

  spec(r) {
    return Object.fromEntries(RULE_FIELDS.filter((k) => r[k] !== undefined).map((k) => [k, r[k]]));
  },

  // The form's choices, in the current language; the values chosen so far are kept.
  fill() {
    const form = document.querySelector("#rule-form");
    const choose = (name, options) => fillSelect(form.elements[name], options);
    choose("parameter", (pageSettings.parameters || []).map((p) => [p.name, parameterName(p.name)]));
    choose("scope", ["all", "district", "station"].map((s) => [s, i18n.t(`scope_${s}`)]));
    choose("window", ["latest", "1h", "8h", "24h"].map((w) => [w, i18n.t(`window_${w}`)]));
    choose("level", ["warning", "critical"].map((l) => [l, i18n.t(l)]));
    choose("direction", ["above", "below"].map((d) => [d, i18n.t(d)]));
    const stations = [...state.stations.values()];
    const districts = [...new Set(stations.map((s) => s.district))];
    document.querySelector("#rule-targets").replaceChildren(
      ...districts.map((d) => el("option", { value: d })),
      ...stations.map((s) => el("option", { value: s.station }, s.name || s.station)));
  },

  edit(r) {
    const form = document.querySelector("#rule-form");
    this.clearMessages();
    this.editing = r ? r.id : null;
    const title = document.querySelector("#rule-form-title");
    title.dataset.i18n = r ? "edit_rule" : "new_rule";
    title.textContent = i18n.t(title.dataset.i18n, { id: r ? r.id : "" });
    form.dataset.editing = r ? r.id : "";
    for (const k of RULE_FIELDS) {
      const input = form.elements[k];
      if (input.type === "checkbox") input.checked = r ? r[k] !== false : true;
      else input.value = r && r[k] != null ? r[k] : "";
    }
    if (r) form.scrollIntoView({ block: "nearest" });
  },

  // The form as a rule: empty optional fields are left out, numbers sent as numbers (a number
  // field the browser cannot read is sent as typed, for the API to name).
  fromForm() {
    const form = document.querySelector("#rule-form");
    const spec = {};
    for (const k of RULE_FIELDS) {
      const input = form.elements[k];
      if (input.type === "checkbox") { spec[k] = input.checked; continue; }
      const text = input.value.trim();
      if (!text) continue;
      spec[k] = input.type === "number" && Number.isFinite(Number(text)) ? Number(text) : text;
    }
    if (spec.scope === "all") delete spec.target;
    return spec;
  },

  clearMessages() {
    for (const span of document.querySelectorAll("#rule-form .field-error")) span.textContent = "";
    document.querySelector("#rule-error").textContent = "";
    document.querySelector("#rule-saved").textContent = "";
  },

  // Creates (id null) or replaces a rule; on a refusal shows why, next to the field at fault.
  async save(spec, id) {
    this.clearMessages();
    const response = await api(id == null ? "/api/v1/thresholds" : `/api/v1/thresholds/${id}`, {
      method: id == null ? "POST" : "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(spec),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      // A field named in the form is the form's only when the form sent this rule.
      const form = id === this.editing ? document.querySelector("#rule-form") : document.createElement("form");
      showRefusal(form, body, response.status, document.querySelector("#rule-error"), "not_saved");
      return;
    }
    document.querySelector("#rule-saved").textContent = i18n.t("saved", { id: body.id });
    if (id === this.editing) this.edit(null);
    await this.load();
  },

  init() {
    const form = document.querySelector("#rule-form");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.save(this.fromForm(), this.editing);
    });
    document.querySelector("#rule-cancel").addEventListener("click", () => this.edit(null));
  },
};
