// The stations on a map (Leaflet, served from the binary): one marker per station at its
// coordinates, coloured by its VN_AQI band (air) or salinity class (water), with the value on
// it; a legend of the official bands and the configured classes; a click selects the station.
// Tiles come from `stations.map_tiles` when the deployment has a tile server; without, the
// markers stand on a plain background, which is enough to see where each station is.
"use strict";

const pageSettings = JSON.parse(document.querySelector("#page-settings").textContent || "{}");

const stationMap = {
  map: null,
  markers: new Map(),
  fitted: false,

  init(onSelect) {
    this.onSelect = onSelect;
    this.map = L.map("map", { zoomControl: true, attributionControl: Boolean(pageSettings.tiles) });
    if (pageSettings.tiles) {
      L.tileLayer(pageSettings.tiles.url, { attribution: pageSettings.tiles.attribution, maxZoom: 18 }).addTo(this.map);
    } else {
      document.querySelector("#map").classList.add("plain");
    }
    // Hậu Giang until the stations are known.
    this.map.setView([9.78, 105.64], 10);
    this.legend();
  },

  // What a station's marker shows: the colour and the value of its index or salinity class.
  look(s) {
    if (s.kind === "air" && s.vn_aqi) return { colour: s.vn_aqi.band.colour, text: String(s.vn_aqi.value), band: s.vn_aqi.band };
    if (s.kind === "water" && s.salinity) return { colour: s.salinity.class.colour, text: i18n.number(s.salinity.ppt, 1), band: s.salinity.class };
    return { colour: "#c8ced6", text: "–", band: null };
  },

  update(stations, selected) {
    if (!this.map) return;
    const points = [];
    for (const s of stations) {
      if (!s.location) continue;
      const [lon, lat] = s.location;
      points.push([lat, lon]);
      const look = this.look(s);
      const html = `<span class="marker${s.station === selected ? " selected" : ""}${s.online ? "" : " offline"}" `
        + `data-station="${s.station}" data-colour="${look.colour}" `
        + `style="background:${look.colour};color:${textColour(look.colour)}">${look.text}</span>`;
      const icon = L.divIcon({ className: "marker-icon", html, iconSize: [34, 22], iconAnchor: [17, 11] });
      const title = `${s.name || s.station}${look.band ? ` · ${i18n.band(look.band)}` : ""}`;
      let marker = this.markers.get(s.station);
      if (!marker) {
        marker = L.marker([lat, lon], { icon, title, keyboard: true }).addTo(this.map);
        marker.on("click", () => this.onSelect(s.station));
        this.markers.set(s.station, marker);
      } else {
        marker.setIcon(icon);
        marker.options.title = title;
      }
    }
    if (!this.fitted && points.length) {
      this.map.fitBounds(points, { padding: [24, 24], maxZoom: 12 });
      this.fitted = true;
    }
  },

  // After the map's box was hidden (another view), Leaflet measures it again.
  resize() {
    if (this.map) this.map.invalidateSize();
  },

  // The official VN_AQI bands (Decision 1459) and the configured salinity classes.
  legend() {
    const box = document.querySelector("#map-legend");
    box.replaceChildren();
    const entry = (colour, text) => el("span", { class: "entry" }, el("span", { class: "swatch", style: `background:${colour}` }), text);
    box.append(el("strong", {}, "VN_AQI"));
    let lower = 0;
    for (const { upper, band } of pageSettings.vn_aqi || []) {
      const range = upper >= 65535 ? `> ${lower - 1}` : `${lower}–${upper}`;
      box.append(entry(band.colour, `${range} ${i18n.band(band)}`));
      lower = upper + 1;
    }
    box.append(el("strong", {}, i18n.t("salinity")));
    for (const c of pageSettings.salinity || []) box.append(entry(c.colour, `≥ ${i18n.number(c.from_ppt, 2)} ‰ ${i18n.band(c)}`));
  },
};
