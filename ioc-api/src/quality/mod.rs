//! Correction and quality control of readings, pure and cheap enough to run per reading.
//!
//! # Layout
//!
//! - `epa`: the US EPA correction of Plantower PM2.5 with relative humidity (Barkjohn et al.).
//! - `correction`: which stations' PM2.5 is corrected before indices and alerts use it.
//! - `calibration`: co-location fits (linear, piecewise linear) an operator can inspect and apply.
//! - `flags`: the QC flag names and the set a value carries.
//! - `rules`: one file per rule, each with its config: `range`, `stuck`, `spike` (Hampel),
//!   `sensor_limits` (RH and T at the sensor), `neighbour` (the district's median).
//! - `station`: a station's bounded QC memory and the per-reading check that runs the rules.
//! - `coverage`: expected, received and valid readings per hour and per day.
//! - `config`: the `[quality]` section that gathers the rules' configs, and its validation.
//!
//! Nothing here reads a clock, a lock or the network: the caller passes the node's time and the
//! neighbours' values, so every rule is tested with plain series.

pub mod calibration;
mod config;
mod correction;
mod coverage;
mod epa;
mod flags;
pub mod rules;
mod station;
mod stats;

pub use calibration::{
    BreakpointChoice, BreakpointSource, Calibration, CalibrationConfig, CalibrationError, FitStats, Method,
    Pair, Segment, fit_linear, fit_piecewise, pair_by_time,
};
pub use config::QualityConfig;
pub use correction::{AppliedCalibrations, Correction, CorrectionConfig};
pub use coverage::{COVERAGE_HOURS, Coverage, CoverageCount, CoverageError};
pub use epa::epa_pm25;
pub use flags::{QcFlag, QcFlags};
pub use station::{ReadingFlags, StationQc, no_neighbours};
