//! Live state per station: latest reading, when it was seen, rolling means.

mod reading;
mod stations;
mod window;

pub use reading::Reading;
pub use stations::{StationView, Stations};
pub use window::RollingWindow;
