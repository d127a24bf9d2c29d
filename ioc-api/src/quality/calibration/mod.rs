//! Co-location calibration: a station's raw values fitted to a reference monitor's beside it,
//! as a line or a continuous piecewise line, kept as a [`Calibration`] an operator can read,
//! store, apply and roll back.

mod config;
mod error;
mod fit;
mod lsq;
mod model;

pub use config::CalibrationConfig;
pub use error::CalibrationError;
pub use fit::{BreakpointChoice, Pair, fit_linear, fit_piecewise, pair_by_time};
pub use model::{BreakpointSource, Calibration, FitStats, Method, Segment};
