// The dashboard's words, Vietnamese first (the operators' language) and English one click away,
// and times in the operations centre's time zone (the page's data-time-zone, from the API's
// `stations.time_zone`; the API itself answers in UTC). Numbers and dates follow vi-VN or en-GB.
"use strict";

const WORDS = {
  vi: {
    subtitle: "Trung tâm IOC · chất lượng không khí và nước",
    switch_language: "English",
    token: "Mã truy cập",
    token_hint: "Mã xem để đọc khi API không mở công khai; mã điều hành để xác nhận cảnh báo",
    auth_needed: "API này cần mã truy cập để đọc: nhập mã xem ở trên.",
    health: "Tình trạng trạm",
    health_status: "Trạng thái",
    health_last_seen: "Nhận lần cuối",
    health_battery: "Pin",
    health_rssi: "Tín hiệu",
    health_queued: "Khung đang chờ gửi",
    health_dropped: "Khung bị bỏ",
    health_firmware: "Phiên bản firmware",
    health_uptime: "Thời gian chạy",
    health_node: "Thiết bị",
    health_sensors: "Cảm biến",
    health_refused: "Khung bị từ chối",
    refused_counts: "{reused} trùng số thứ tự, {replays} gửi lại",
    status_online: "đang hoạt động",
    status_offline: "mất kết nối",
    status_never_seen: "chưa từng nhận dữ liệu",
    mains: "điện lưới",
    no_status: "chưa nhận khung trạng thái",
    sensors_ok: "bình thường",
    flag_warming_up: "đang khởi động",
    flag_sensor_fault: "lỗi cảm biến",
    flag_out_of_range: "ngoài dải đo",
    flag_stuck_value: "giá trị không đổi",
    flag_calibration_due: "đến hạn hiệu chuẩn",
    stations: "Trạm quan trắc",
    map: "Bản đồ trạm",
    station: "Trạm",
    district: "Huyện / thành phố",
    index: "Chỉ số",
    pm_1h: "PM2.5 · 1 giờ",
    salinity: "Độ mặn",
    last_seen: "Lần cuối",
    open_alerts: "Cảnh báo đang mở",
    alert_counts: "· {firing} chưa xác nhận, {acknowledged} đã xác nhận",
    chart: "Diễn biến",
    range_24h: "24 giờ",
    range_7d: "7 ngày",
    range_30d: "30 ngày",
    threshold: "ngưỡng",
    pick_station: "chọn một trạm",
    chart_label: "Biểu đồ 24 giờ",
    salinity_panel: "Độ mặn dọc các kênh (tây → đông)",
    no_data: "không có dữ liệu",
    not_enough: "chưa đủ dữ liệu",
    never: "chưa có",
    seconds: "{n} giây",
    minutes: "{n} phút",
    hours: "{n} giờ",
    connecting: "đang kết nối…",
    live: "trực tiếp",
    reconnecting: "đang kết nối lại…",
    acknowledge: "Xác nhận",
    acknowledged_by: "Đã xác nhận: {who}",
    comment: "Ghi chú",
    history: "Lịch sử",
    transition_fired: "bắt đầu",
    transition_acknowledged: "xác nhận",
    transition_resolved: "kết thúc",
    transition_stale: "dữ liệu cũ",
    transition_fresh: "có dữ liệu mới",
    transition_suppressed: "tạm ẩn (trạm mất kết nối)",
    transition_unsuppressed: "hiện lại",
    not_acknowledged: "Chưa xác nhận được: {why}",
    fired: "{level}, bắt đầu {time}",
    stale: "dữ liệu cũ",
    offline_suppressed: "trạm mất kết nối",
    above: "trên",
    below: "dưới",
    warning: "cảnh báo",
    critical: "nghiêm trọng",
    window_latest: "tức thời",
    window_1h: "1 giờ",
    window_8h: "8 giờ",
    window_24h: "24 giờ",
    station_offline: "mất kết nối",
    sensor_fault: "lỗi cảm biến",
    sequence_reset: "trùng số thứ tự khung",
    reused_keys: "⚠ trùng số thứ tự khung: {n}",
    reused_hint: "Trạm dùng lại số thứ tự khung đã dùng (nạp lại firmware hoặc mất bộ đếm khởi động): các khung này bị từ chối, không được lưu.",
    footer_thresholds: "ngưỡng",
    open_data: "dữ liệu mở (CSV)",
    dissolved_oxygen: "Oxy hòa tan",
    conductivity: "Độ dẫn điện",
    turbidity: "Độ đục",
    temperature: "Nhiệt độ",
  },
  en: {
    subtitle: "IOC · air and water quality",
    switch_language: "Tiếng Việt",
    token: "Token",
    token_hint: "A viewer token to read when open reading is off; an operator token to acknowledge",
    auth_needed: "This API needs a token to read: enter a viewer token above.",
    health: "Station health",
    health_status: "Status",
    health_last_seen: "Last heard",
    health_battery: "Battery",
    health_rssi: "Signal",
    health_queued: "Frames queued",
    health_dropped: "Frames dropped",
    health_firmware: "Firmware",
    health_uptime: "Uptime",
    health_node: "Node",
    health_sensors: "Sensors",
    health_refused: "Frames refused",
    refused_counts: "{reused} reused numbers, {replays} replays",
    status_online: "online",
    status_offline: "offline",
    status_never_seen: "never heard from",
    mains: "mains",
    no_status: "no status frame yet",
    sensors_ok: "normal",
    flag_warming_up: "warming up",
    flag_sensor_fault: "sensor fault",
    flag_out_of_range: "out of range",
    flag_stuck_value: "stuck value",
    flag_calibration_due: "calibration due",
    stations: "Stations",
    map: "Station map",
    station: "Station",
    district: "District",
    index: "Index",
    pm_1h: "PM2.5 · 1 h",
    salinity: "Salinity",
    last_seen: "Last seen",
    open_alerts: "Open alerts",
    alert_counts: "· {firing} firing, {acknowledged} acknowledged",
    chart: "History",
    range_24h: "24 h",
    range_7d: "7 days",
    range_30d: "30 days",
    threshold: "threshold",
    pick_station: "pick a station",
    chart_label: "24-hour chart",
    salinity_panel: "Salinity along the canals (west → east)",
    no_data: "no data",
    not_enough: "not enough data",
    never: "never",
    seconds: "{n} s",
    minutes: "{n} min",
    hours: "{n} h",
    connecting: "connecting…",
    live: "live",
    reconnecting: "reconnecting…",
    acknowledge: "Acknowledge",
    acknowledged_by: "Ack'd by {who}",
    comment: "Comment",
    history: "History",
    transition_fired: "fired",
    transition_acknowledged: "acknowledged",
    transition_resolved: "resolved",
    transition_stale: "stale",
    transition_fresh: "fresh again",
    transition_suppressed: "suppressed (station offline)",
    transition_unsuppressed: "unsuppressed",
    not_acknowledged: "Not acknowledged: {why}",
    fired: "{level}, fired {time}",
    stale: "stale",
    offline_suppressed: "station offline",
    above: "above",
    below: "below",
    warning: "warning",
    critical: "critical",
    window_latest: "latest",
    window_1h: "1 h",
    window_8h: "8 h",
    window_24h: "24 h",
    station_offline: "offline",
    sensor_fault: "sensor fault",
    sequence_reset: "reused frame numbers",
    reused_keys: "⚠ reused frame numbers: {n}",
    reused_hint: "The node reuses frame sequence numbers (re-flashed, or its boot counter lost): these frames are refused, not stored.",
    footer_thresholds: "thresholds",
    open_data: "open data (CSV)",
    dissolved_oxygen: "Dissolved oxygen",
    conductivity: "Conductivity",
    turbidity: "Turbidity",
    temperature: "Temperature",
  },
};

const i18n = {
  lang: WORDS[localStorage.getItem("citysense-lang")] ? localStorage.getItem("citysense-lang") : "vi",
  zone: document.documentElement.dataset.timeZone || "Asia/Ho_Chi_Minh",

  locale() { return this.lang === "vi" ? "vi-VN" : "en-GB"; },

  // The word for `key` in the current language, with {name} filled from `vars`; an unknown key is
  // shown as itself, so a missing word is visible rather than blank.
  t(key, vars = {}) {
    const text = WORDS[this.lang][key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  },

  // An RFC 3339 time as the operators read it: local time of the centre, then the date.
  time(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return new Intl.DateTimeFormat(this.locale(), {
      timeZone: this.zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
      day: "2-digit", month: "2-digit", year: "numeric",
    }).format(d);
  },

  // The hour and minute only, for chart axes.
  clock(iso) {
    return new Intl.DateTimeFormat(this.locale(), {
      timeZone: this.zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(new Date(iso));
  },

  number(value, digits) {
    return Number(value).toLocaleString(this.locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits });
  },

  // The name of an index band or salinity class in the current language.
  band(b) { return this.lang === "vi" ? b.name_vi : b.name_en; },

  // Every element marked data-i18n (text), data-i18n-title or data-i18n-placeholder.
  apply() {
    document.documentElement.lang = this.lang;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = this.t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-title]")) node.title = this.t(node.dataset.i18nTitle);
    for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", this.t(node.dataset.i18nLabel));
  },

  set(lang) {
    this.lang = lang;
    localStorage.setItem("citysense-lang", lang);
    this.apply();
  },
};
