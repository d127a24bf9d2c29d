//! How the config lays out a station's file for an interval: its folder and name, and its text
//! from the interval's means. The live intake and `resend` both use it, so a file made again
//! from InfluxDB is named and written as the one sent first.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use tracing::warn;

use crate::config::{Config, Stamp};
use crate::file::{Line, Naming, render, stamp};
use crate::interval::Closed;
use crate::params::ALL;

/// How a parameter is written, after the config's overrides.
#[derive(Debug, Clone)]
struct Written {
    symbol: String,
    unit: String,
    decimals: u32,
}

/// The files' layout.
#[derive(Debug, Clone)]
pub struct Layout {
    naming: Naming,
    zone: TimeZone,
    stamp: Stamp,
    newline: &'static str,
    length_ms: u64,
    /// Per parameter of [`ALL`], how it is written; `None` when it is left out.
    parameters: Vec<Option<Written>>,
    codes: BTreeMap<String, String>,
}

impl Layout {
    /// The layout of a (validated) config.
    pub fn new(config: &Config) -> Self {
        let f = &config.files;
        let parameters = ALL
            .iter()
            .map(|p| match config.parameters.get(p.key) {
                Some(o) if !o.send => None,
                o => Some(Written {
                    symbol: o
                        .and_then(|o| o.symbol.clone())
                        .unwrap_or_else(|| p.symbol.to_owned()),
                    unit: o
                        .and_then(|o| o.unit.clone())
                        .unwrap_or_else(|| p.unit.to_owned()),
                    decimals: o.and_then(|o| o.decimals).unwrap_or(p.decimals),
                }),
            })
            .collect();
        Layout {
            naming: Naming {
                province: f.province.clone(),
                facility: f.facility.clone(),
                file: f.file_name.clone(),
                folder: f.folder.clone(),
            },
            // Validation resolved the name already; UTC is only a guard.
            zone: TimeZone::get(&f.time_zone).unwrap_or(TimeZone::UTC),
            stamp: f.stamp,
            newline: f.newline.as_str(),
            length_ms: f.interval_s * 1_000,
            parameters,
            codes: f.station_codes.clone(),
        }
    }

    /// The time that names the interval starting at `start_ms`.
    fn named_at(&self, start_ms: u64) -> i64 {
        match self.stamp {
            Stamp::End => (start_ms + self.length_ms) as i64,
            Stamp::Start => start_ms as i64,
        }
    }

    /// The folder and name of `station`'s file for the interval starting at `start_ms`.
    pub fn place(&self, station: &str, start_ms: u64) -> (String, String) {
        let code = self.codes.get(station).map_or(station, String::as_str);
        self.naming.place(code, self.named_at(start_ms), &self.zone)
    }

    /// The text of the file `name` for a closed interval.
    pub fn text(&self, c: &Closed, name: &str) -> String {
        let at = stamp(self.named_at(c.start_ms), &self.zone);
        let lines: Vec<Line<'_>> = c
            .means
            .iter()
            .filter_map(|&(i, value, status)| {
                let w = self.parameters.get(i)?.as_ref()?;
                Some(Line {
                    symbol: &w.symbol,
                    value,
                    decimals: w.decimals,
                    unit: &w.unit,
                    status,
                })
            })
            .collect();
        if lines.is_empty() {
            warn!(
                file = name,
                "Every parameter of this interval is switched off (send = false); the file is empty."
            );
        }
        render(&lines, &at, self.newline)
    }
}
