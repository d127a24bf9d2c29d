//! The measured quantities a station's file can carry: their keys (the InfluxDB field names, as
//! in `docs/influxdb-schema.md`), the symbols and units the files use by default, and their
//! values in a frame.
//!
//! The symbols seen in implementations (`PM2.5`, `Temp`, `Humidity`, `pH`, ...) are in
//! `vn-transmission.md`; the circular's own table was not read, so every symbol and unit here is
//! a default that `[parameters.<key>]` overrides.

use protocol::{AirSample, Body, WaterSample};

/// A quantity and how the files name it by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameter {
    /// The field name (`pm2_5`), also the key of its `[parameters.<key>]` table.
    pub key: &'static str,
    /// Default symbol in the file.
    pub symbol: &'static str,
    /// Default unit in the file (may be empty, as for pH).
    pub unit: &'static str,
    /// Decimals written: the sensor's resolution in the frame.
    pub decimals: u32,
    /// True for a water station's quantity.
    pub water: bool,
}

const fn air(key: &'static str, symbol: &'static str, unit: &'static str, decimals: u32) -> Parameter {
    Parameter {
        key,
        symbol,
        unit,
        decimals,
        water: false,
    }
}

const fn water(key: &'static str, symbol: &'static str, unit: &'static str, decimals: u32) -> Parameter {
    Parameter {
        key,
        symbol,
        unit,
        decimals,
        water: true,
    }
}

/// Every quantity, air first, in the order their lines are written.
pub const ALL: [Parameter; 17] = [
    air("pm1_0", "PM1", "ug/m3", 1),
    air("pm2_5", "PM2.5", "ug/m3", 1),
    air("pm10", "PM10", "ug/m3", 1),
    air("co", "CO", "ug/m3", 0),
    air("no2", "NO2", "ug/m3", 1),
    air("so2", "SO2", "ug/m3", 1),
    air("o3", "O3", "ug/m3", 1),
    air("temperature", "Temp", "oC", 2),
    air("humidity", "Humidity", "%", 2),
    air("pressure", "Pressure", "hPa", 1),
    water("ph", "pH", "", 3),
    water("dissolved_oxygen", "DO", "mg/L", 2),
    water("conductivity", "EC", "uS/cm", 0),
    water("temperature", "Temp", "oC", 2),
    water("turbidity", "Turbidity", "NTU", 1),
    water("water_level", "WaterLevel", "m", 3),
    water("salinity", "Salinity", "PSU", 2),
];

/// The index in [`ALL`] of `key` for the given kind of station.
pub fn index_of(key: &str, water: bool) -> Option<usize> {
    ALL.iter().position(|p| p.key == key && p.water == water)
}

fn scaled<T: Into<f64>>(value: Option<T>, decimals: i32) -> Option<f64> {
    value.map(|v| v.into() / 10f64.powi(decimals))
}

/// The values a sample body carries, each with its index in [`ALL`]; status bodies carry none.
pub fn values(body: &Body) -> Vec<(usize, f64)> {
    let raw: Vec<Option<f64>> = match body {
        Body::Air(s) => air_values(s).to_vec(),
        Body::Water(s) => water_values(s).to_vec(),
        Body::Status(_) => return Vec::new(),
    };
    let first = if matches!(body, Body::Water(_)) { 10 } else { 0 };
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (first + i, v)))
        .collect()
}

fn air_values(s: &AirSample) -> [Option<f64>; 10] {
    [
        scaled(s.pm1_0, 1),
        scaled(s.pm2_5, 1),
        scaled(s.pm10, 1),
        scaled(s.co, 0),
        scaled(s.no2, 1),
        scaled(s.so2, 1),
        scaled(s.o3, 1),
        scaled(s.temperature, 2),
        scaled(s.humidity, 2),
        scaled(s.pressure, 1),
    ]
}

fn water_values(s: &WaterSample) -> [Option<f64>; 7] {
    [
        scaled(s.ph, 3),
        scaled(s.dissolved_oxygen, 2),
        scaled(s.conductivity, 0),
        scaled(s.temperature, 2),
        scaled(s.turbidity, 1),
        scaled(s.water_level, 3),
        scaled(s.salinity, 2),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_in_the_files_units_with_their_index() {
        let body = Body::Water(WaterSample {
            ph: Some(7_250),
            water_level: Some(-1_250),
            ..WaterSample::default()
        });
        let got = values(&body);
        assert_eq!(got, vec![(10, 7.25), (15, -1.25)]);
        assert_eq!(ALL[10].key, "ph");
        assert_eq!(ALL[15].key, "water_level");
        assert_eq!(index_of("temperature", true), Some(13));
        assert_eq!(index_of("temperature", false), Some(7));
    }
}
