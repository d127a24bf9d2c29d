//! The measured parameters a station reports, as the API, the thresholds and InfluxDB name them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A measured parameter. Names are the InfluxDB field names (docs/influxdb-schema.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    /// PM1.0, µg/m³.
    #[serde(rename = "pm1_0")]
    Pm1_0,
    /// PM2.5, µg/m³.
    #[serde(rename = "pm2_5")]
    Pm2_5,
    /// PM10, µg/m³.
    Pm10,
    /// Air or water temperature, °C.
    Temperature,
    /// Relative humidity, %.
    Humidity,
    /// Air pressure, hPa.
    Pressure,
    /// CO, µg/m³.
    Co,
    /// NO2, µg/m³.
    No2,
    /// SO2, µg/m³.
    So2,
    /// O3, µg/m³.
    O3,
    /// pH.
    Ph,
    /// Dissolved oxygen, mg/L.
    DissolvedOxygen,
    /// Conductivity in situ, µS/cm.
    Conductivity,
    /// Turbidity, NTU.
    Turbidity,
    /// Water level, m above the gauge datum.
    WaterLevel,
    /// Salinity, ‰ (PSU): from the probe, or PSS-78 from conductivity and temperature.
    Salinity,
}

impl Param {
    /// Every parameter: the air fields first, then the water fields air points do not carry.
    pub const ALL: [Param; 16] = [
        Param::Pm1_0,
        Param::Pm2_5,
        Param::Pm10,
        Param::Temperature,
        Param::Humidity,
        Param::Pressure,
        Param::Co,
        Param::No2,
        Param::So2,
        Param::O3,
        Param::Ph,
        Param::DissolvedOxygen,
        Param::Conductivity,
        Param::Turbidity,
        Param::WaterLevel,
        Param::Salinity,
    ];

    /// The fields of an air station's points (`air_quality`): the first ten of [`Param::ALL`].
    pub const AIR: &'static [Param] = Param::ALL.split_at(10).0;

    /// The fields of a water station's points (`water_quality`).
    pub const WATER: [Param; 7] = [
        Param::Ph,
        Param::DissolvedOxygen,
        Param::Conductivity,
        Param::Temperature,
        Param::Turbidity,
        Param::WaterLevel,
        Param::Salinity,
    ];

    /// The InfluxDB measurement of a station kind and its fields.
    pub fn measurement(water: bool) -> (&'static str, &'static [Param]) {
        if water {
            ("water_quality", &Param::WATER)
        } else {
            ("air_quality", Param::AIR)
        }
    }

    /// The field name.
    pub fn as_str(self) -> &'static str {
        match self {
            Param::Pm1_0 => "pm1_0",
            Param::Pm2_5 => "pm2_5",
            Param::Pm10 => "pm10",
            Param::Temperature => "temperature",
            Param::Humidity => "humidity",
            Param::Pressure => "pressure",
            Param::Co => "co",
            Param::No2 => "no2",
            Param::So2 => "so2",
            Param::O3 => "o3",
            Param::Ph => "ph",
            Param::DissolvedOxygen => "dissolved_oxygen",
            Param::Conductivity => "conductivity",
            Param::Turbidity => "turbidity",
            Param::WaterLevel => "water_level",
            Param::Salinity => "salinity",
        }
    }

    /// Parses a field name.
    pub fn parse(name: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Unit, for exports and the dashboard.
    pub fn unit(self) -> &'static str {
        match self {
            Param::Pm1_0 | Param::Pm2_5 | Param::Pm10 | Param::Co | Param::No2 | Param::So2 | Param::O3 => {
                "µg/m³"
            }
            Param::Temperature => "°C",
            Param::Humidity => "%",
            Param::Pressure => "hPa",
            Param::Ph => "pH",
            Param::DissolvedOxygen => "mg/L",
            Param::Conductivity => "µS/cm",
            Param::Turbidity => "NTU",
            Param::WaterLevel => "m",
            Param::Salinity => "‰",
        }
    }

    /// The resolution a frame carries it in (`protocol`'s body fields), which the hourly
    /// history counts in; salinity derived on the server is kept to 0.01 like the probe's.
    pub fn step(self) -> f64 {
        match self {
            Param::Pm1_0 | Param::Pm2_5 | Param::Pm10 | Param::No2 | Param::So2 | Param::O3 => 0.1,
            Param::Pressure | Param::Turbidity => 0.1,
            Param::Co | Param::Conductivity => 1.0,
            Param::Temperature | Param::Humidity | Param::DissolvedOxygen | Param::Salinity => 0.01,
            Param::Ph | Param::WaterLevel => 0.001,
        }
    }

    /// `value` rounded to the resolution ([`Param::step`]): what the sensor can tell apart, and
    /// so what a mean or a derived value is shown with.
    pub fn round(self, value: f64) -> f64 {
        let per_unit = (1.0 / self.step()).round();
        (value * per_unit).round() / per_unit
    }

    /// Whether the station keeps hourly history of it (what the indices and thresholds use).
    /// Air temperature, humidity, pressure, PM1.0 and water level are shown live only.
    pub fn tracked(self, water: bool) -> bool {
        match self {
            Param::Pm2_5 | Param::Pm10 | Param::Co | Param::No2 | Param::So2 | Param::O3 => true,
            Param::Ph | Param::DissolvedOxygen | Param::Conductivity | Param::Turbidity | Param::Salinity => {
                true
            }
            Param::Temperature => water,
            Param::Pm1_0 | Param::Humidity | Param::Pressure | Param::WaterLevel => false,
        }
    }
}
