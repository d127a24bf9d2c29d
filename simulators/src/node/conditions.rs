//! What a station's sensors see: the conditions the caller sets, in the units people use.

use crate::devices::WaterLevels;

/// What an air station's sensors see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AirConditions {
    /// PM1.0 in µg/m³.
    pub pm1_0: f32,
    /// PM2.5 in µg/m³.
    pub pm2_5: f32,
    /// PM10 in µg/m³.
    pub pm10: f32,
    /// Air temperature in °C.
    pub temperature_c: f32,
    /// Relative humidity in %RH.
    pub humidity_pct: f32,
    /// Station pressure in hPa.
    pub pressure_hpa: f32,
    /// Carbon monoxide, ppb.
    pub co_ppb: f32,
    /// Nitrogen dioxide, ppb.
    pub no2_ppb: f32,
    /// Sulphur dioxide, ppb.
    pub so2_ppb: f32,
    /// Ozone, ppb.
    pub o3_ppb: f32,
}

impl Default for AirConditions {
    /// A clean, humid Mekong Delta morning.
    fn default() -> Self {
        AirConditions {
            pm1_0: 8.0,
            pm2_5: 12.0,
            pm10: 20.0,
            temperature_c: 28.0,
            humidity_pct: 78.0,
            pressure_hpa: 1_009.0,
            co_ppb: 300.0,
            no2_ppb: 10.0,
            so2_ppb: 2.5,
            o3_ppb: 15.0,
        }
    }
}

/// What a water station's probes see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaterConditions {
    /// pH.
    pub ph: f32,
    /// Dissolved oxygen in mg/L.
    pub dissolved_oxygen_mg_l: f32,
    /// Electrical conductivity in µS/cm.
    pub conductivity_us_cm: f32,
    /// Water temperature in °C.
    pub temperature_c: f32,
}

impl Default for WaterConditions {
    /// A fresh-water canal in the dry season, before salt intrusion.
    fn default() -> Self {
        WaterConditions {
            ph: 7.2,
            dissolved_oxygen_mg_l: 6.0,
            conductivity_us_cm: 300.0,
            temperature_c: 29.0,
        }
    }
}

/// The conditions at one station.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Environment {
    /// At an air-quality station.
    Air(AirConditions),
    /// At a water-quality station.
    Water(WaterConditions),
}

pub(super) fn water_levels(c: &WaterConditions) -> WaterLevels {
    WaterLevels {
        ph: c.ph,
        dissolved_oxygen_mg_l: c.dissolved_oxygen_mg_l,
        conductivity_us_cm: c.conductivity_us_cm,
        temperature_c: c.temperature_c,
    }
}

/// °C to the frame's 0.01 °C.
pub(super) fn centi(celsius: f32) -> i16 {
    (celsius * 100.0).round() as i16
}
