//! `[quality.correction]`: which PM2.5 the indices and alerts use, per station or for every air
//! station: the sensor's own (`none`) or the US EPA correction with relative humidity (`epa`,
//! `quality::epa_pm25`), the reference's default for Plantower sensors.
//!
//! Design: off unless configured. The correction needs the station's RH in the same reading and
//! the sensor's cf_1 value, which these frames do not carry (`quality::epa_pm25` says what that
//! costs in smoke); a province turns it on where its co-location data shows the sensors read
//! high. The raw value stays what the reading shows and InfluxDB stores; the corrected one is
//! what enters the hourly history, so the indices, alerts and the exports from the local history
//! use it, and the station view and the AQI answer say which.
//!
//! A co-location calibration an operator applied to a station (`http/calibration.rs`) takes the
//! place of either: it was fitted on that sensor's raw values against a reference monitor, so it
//! is the better knowledge of that sensor.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::calibration::Calibration;
use super::epa::epa_pm25;

/// A PM2.5 correction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// The sensor's value as it is.
    #[default]
    None,
    /// US EPA (Barkjohn et al. 2021, 2022) with the reading's relative humidity.
    Epa,
    /// The station's applied co-location calibration; set through the API, never in the config.
    #[serde(skip_deserializing)]
    CoLocation,
}

impl Correction {
    /// The name the API shows for the PM2.5 a station's indices use.
    pub fn basis(self) -> &'static str {
        match self {
            Correction::None => "raw",
            Correction::Epa => "us_epa_rh",
            Correction::CoLocation => "co_location",
        }
    }
}

/// The co-location calibrations applied now, by station id: one set shared by every copy of
/// the config, so applying or rolling one back reaches ingest, views and exports at once.
#[derive(Debug, Clone, Default)]
pub struct AppliedCalibrations(Arc<RwLock<BTreeMap<String, Calibration>>>);

impl AppliedCalibrations {
    /// `station`'s applied calibration, if any.
    pub fn get(&self, station: &str) -> Option<Calibration> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(station)
            .cloned()
    }

    /// Applies `calibration` to `station`, or takes its calibration away (`None`).
    pub fn set(&self, station: &str, calibration: Option<Calibration>) {
        let mut applied = self.0.write().unwrap_or_else(|p| p.into_inner());
        match calibration {
            Some(c) => applied.insert(station.to_owned(), c),
            None => applied.remove(station),
        };
    }

    /// `raw` through `station`'s applied calibration, if it has one.
    fn apply(&self, station: &str, raw: f64) -> Option<f64> {
        let applied = self.0.read().unwrap_or_else(|p| p.into_inner());
        applied.get(station).map(|c| c.apply(raw))
    }

    fn contains(&self, station: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(station)
    }
}

impl PartialEq for AppliedCalibrations {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || *self.0.read().unwrap_or_else(|p| p.into_inner())
                == *other.0.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// `[quality.correction]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrectionConfig {
    /// For every air station's PM2.5. Default `none`.
    #[serde(default)]
    pub pm2_5: Correction,
    /// Per station id, in place of `pm2_5` (`{ "HG-VT-A01" = "epa" }`).
    #[serde(default)]
    pub stations: BTreeMap<String, Correction>,
    /// Co-location calibrations applied through the API (kept in the IOC's database).
    #[serde(skip)]
    pub applied: AppliedCalibrations,
}

impl CorrectionConfig {
    /// The correction of `station`'s PM2.5.
    pub fn of(&self, station: &str) -> Correction {
        if self.applied.contains(station) {
            return Correction::CoLocation;
        }
        self.stations.get(station).copied().unwrap_or(self.pm2_5)
    }

    /// `station`'s PM2.5 `raw` as the indices use it, with the reading's relative humidity
    /// `rh`; `None` when the correction needs an RH the reading lacks (the value is then left
    /// out rather than mixed into corrected means).
    pub fn apply(&self, station: &str, raw: f64, rh: Option<f64>) -> Option<f64> {
        match self.of(station) {
            Correction::None => Some(raw),
            Correction::Epa => rh.map(|rh| epa_pm25(raw, rh)),
            Correction::CoLocation => self.applied.apply(station, raw),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stations_override_the_default_and_epa_needs_humidity() {
        let config: CorrectionConfig =
            toml::from_str("pm2_5 = \"epa\"\nstations = { \"HG-VT-A02\" = \"none\" }").expect("parses");
        // 20 µg/m³ at 80 %RH: 0.524·20 − 0.0862·80 + 5.75 = 9.334.
        let corrected = config.apply("HG-VT-A01", 20.0, Some(80.0)).expect("corrected");
        assert!((corrected - 9.334).abs() < 1e-9, "{corrected}");
        assert_eq!(config.apply("HG-VT-A01", 20.0, None), None);
        assert_eq!(config.apply("HG-VT-A02", 20.0, None), Some(20.0));
        assert_eq!(
            CorrectionConfig::default().apply("HG-VT-A01", 20.0, None),
            Some(20.0)
        );
        assert!(toml::from_str::<CorrectionConfig>("pm2_5 = \"magic\"").is_err());
        assert_eq!(config.of("HG-VT-A01").basis(), "us_epa_rh");
    }
}
