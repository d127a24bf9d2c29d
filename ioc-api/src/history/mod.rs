//! InfluxDB reads over InfluxQL (`/query`): station history, hourly means for the open-data
//! export, and the rebuild of the hourly history at start.
//!
//! # Layout
//!
//! - `client`: the `/query` client and its error classes.
//! - `rebuild`: filling the stations' hourly history from InfluxDB.

mod client;
mod rebuild;

pub use client::{Influx, InfluxError, Point, SeriesRows, quote};
pub use rebuild::rebuild;
pub(crate) use rebuild::without_flagged;
