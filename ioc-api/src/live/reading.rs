//! A station's latest reading in SI-style units, as the API shows it.

use protocol::{AirSample, Body, WaterSample};
use serde::Serialize;
use utoipa::ToSchema;

use super::param::Param;

/// Measured values, scaled from the frame's fixed-point integers. Absent sensors are left out of
/// the JSON. Units: concentrations µg/m³; temperature °C; humidity %RH; pressure hPa;
/// dissolved oxygen mg/L; conductivity µS/cm; turbidity NTU; water level m; salinity PSU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Reading {
    #[serde(skip_serializing_if = "Option::is_none")]
    pm1_0: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pm2_5: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pm10: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    humidity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pressure: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    co: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    no2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    so2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    o3: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ph: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dissolved_oxygen: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conductivity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    turbidity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    water_level: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    salinity: Option<f64>,
    /// The frame's quality flag bits (see FORMAT.md); 0 is a clean sample.
    quality: u8,
    /// True when `salinity` was computed here (PSS-78) rather than sent by the probe.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    salinity_computed: bool,
}

fn scaled<T: Into<f64>>(value: Option<T>, divisor: f64) -> Option<f64> {
    value.map(|v| v.into() / divisor)
}

impl Reading {
    /// The reading a sample body carries; `None` for status bodies.
    pub fn from_body(body: &Body) -> Option<Reading> {
        match body {
            Body::Air(s) => Some(Self::air(s)),
            Body::Water(s) => Some(Self::water(s)),
            Body::Status(_) => None,
        }
    }

    fn air(s: &AirSample) -> Reading {
        Reading {
            pm1_0: scaled(s.pm1_0, 10.0),
            pm2_5: scaled(s.pm2_5, 10.0),
            pm10: scaled(s.pm10, 10.0),
            temperature: scaled(s.temperature, 100.0),
            humidity: scaled(s.humidity, 100.0),
            pressure: scaled(s.pressure, 10.0),
            co: scaled(s.co, 1.0),
            no2: scaled(s.no2, 10.0),
            so2: scaled(s.so2, 10.0),
            o3: scaled(s.o3, 10.0),
            quality: s.quality.bits(),
            ..Reading::default()
        }
    }

    fn water(s: &WaterSample) -> Reading {
        Reading {
            ph: scaled(s.ph, 1000.0),
            dissolved_oxygen: scaled(s.dissolved_oxygen, 100.0),
            conductivity: scaled(s.conductivity, 1.0),
            temperature: scaled(s.temperature, 100.0),
            turbidity: scaled(s.turbidity, 10.0),
            water_level: scaled(s.water_level, 1000.0),
            salinity: scaled(s.salinity, 100.0),
            quality: s.quality.bits(),
            ..Reading::default()
        }
    }

    /// PM2.5 in µg/m³, if measured.
    pub fn pm2_5(&self) -> Option<f64> {
        self.pm2_5
    }

    /// The frame's quality bits.
    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// One parameter's value, if measured.
    pub fn get(&self, param: Param) -> Option<f64> {
        match param {
            Param::Pm1_0 => self.pm1_0,
            Param::Pm2_5 => self.pm2_5,
            Param::Pm10 => self.pm10,
            Param::Temperature => self.temperature,
            Param::Humidity => self.humidity,
            Param::Pressure => self.pressure,
            Param::Co => self.co,
            Param::No2 => self.no2,
            Param::So2 => self.so2,
            Param::O3 => self.o3,
            Param::Ph => self.ph,
            Param::DissolvedOxygen => self.dissolved_oxygen,
            Param::Conductivity => self.conductivity,
            Param::Turbidity => self.turbidity,
            Param::WaterLevel => self.water_level,
            Param::Salinity => self.salinity,
        }
    }

    /// Every measured value.
    pub fn values(&self) -> impl Iterator<Item = (Param, f64)> + '_ {
        Param::ALL.into_iter().filter_map(|p| self.get(p).map(|v| (p, v)))
    }

    /// Fills in salinity computed from conductivity and temperature (PSS-78) when the probe did
    /// not send one; marked by `salinity_computed`.
    pub fn derive_salinity(&mut self) {
        if self.salinity.is_some() {
            return;
        }
        if let (Some(ec), Some(t)) = (self.conductivity, self.temperature) {
            self.salinity =
                crate::indices::salinity::practical_salinity(ec, t).map(|s| Param::Salinity.round(s));
            self.salinity_computed = self.salinity.is_some();
        }
    }
}
