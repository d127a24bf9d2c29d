//! Air- and water-quality indices, computed exactly as their decisions define them. Pure functions
//! over hourly means: no clock, no I/O, so each is tested with hand-computed vectors.
//!
//! # Layout
//!
//! - `segments`: piecewise-linear interpolation over breakpoint tables, and the rounding rule.
//! - `nowcast`: the 12-hour NowCast for particulate matter (and the 8-hour one for US ozone).
//! - `category`: bands, names and colours.
//! - `vn_aqi`: VN_AQI, Decision 1459/QĐ-TCMT, hourly and daily.
//! - `us_aqi`: US EPA AQI with the 2024 PM2.5 breakpoints.
//! - `wqi`: VN_WQI, Decision 1460/QĐ-TCMT, with DO saturation and the data-sufficiency rule.
//! - `salinity`: PSS-78 (with the Hill low-salinity extension) and the salinity classes.

pub mod category;
pub mod nowcast;
pub mod salinity;
mod segments;
pub mod us_aqi;
pub mod vn_aqi;
pub mod wqi;

pub use category::Band;
pub use segments::round_half_up;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The pollutants the air indices use. Concentrations are µg/m³ throughout (Decision 1459 uses
/// µg/m³ even for CO, domain.md §1); the US scheme converts to ppm/ppb itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pollutant {
    /// PM2.5.
    #[serde(rename = "pm2_5")]
    Pm25,
    /// PM10.
    Pm10,
    /// Ozone.
    O3,
    /// Nitrogen dioxide.
    No2,
    /// Sulphur dioxide.
    So2,
    /// Carbon monoxide.
    Co,
}

impl Pollutant {
    /// Every pollutant, in the order the decisions list them.
    pub const ALL: [Pollutant; 6] = [
        Pollutant::Pm25,
        Pollutant::Pm10,
        Pollutant::O3,
        Pollutant::No2,
        Pollutant::So2,
        Pollutant::Co,
    ];

    /// The name used in readings and InfluxDB fields.
    pub fn as_str(self) -> &'static str {
        match self {
            Pollutant::Pm25 => "pm2_5",
            Pollutant::Pm10 => "pm10",
            Pollutant::O3 => "o3",
            Pollutant::No2 => "no2",
            Pollutant::So2 => "so2",
            Pollutant::Co => "co",
        }
    }
}

/// One pollutant's part of an AQI.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SubIndex {
    /// The pollutant.
    pub pollutant: Pollutant,
    /// Which value was used: `nowcast`, `1h`, `8h`, `24h`, `max_1h`, `max_8h`.
    pub basis: &'static str,
    /// The concentration the sub-index was computed from, µg/m³ (rounded to 0.1).
    pub concentration: f64,
    /// The sub-index, rounded half up to an integer.
    pub index: u16,
}

/// An index value with the part that decided it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AqiResult {
    /// The index: the largest sub-index, rounded half up.
    pub aqi: u16,
    /// The pollutant with the largest sub-index.
    pub dominant: Pollutant,
    /// The band the index falls in.
    pub band: Band,
    /// Every sub-index that could be computed.
    pub sub_indices: Vec<SubIndex>,
}
