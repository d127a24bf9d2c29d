//! Live state per station: latest reading, liveness, and the recent history (hourly means and
//! the rolling hour) the indices and thresholds use.

mod param;
mod reading;
mod series;
mod stations;
mod view;

pub use param::Param;
pub use reading::Reading;
pub use series::{HOUR_MS, HOURS_KEPT, HourRecord, SLOT_MS, Series};
pub(crate) use stations::{FlaggedValue, RAW_PM2_5, Station};
pub use stations::{NodeHealth, RefusedFrames, Stations, Transmission};
pub use view::{CoverageNow, IndexBrief, SalinityBrief, StationView, ViewSettings, pollutant_param};
pub(crate) use view::{
    last_complete_day, local_day_start_ms, salinity_of, us_current, vn_daily, vn_hourly, wqi_of,
};
