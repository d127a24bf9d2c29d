//! One station's file for one interval, in the layout of the receivers that implement Circular
//! 10/2021/TT-BTNMT (`vn-transmission.md`): no header, one line per parameter,
//! `<symbol>\t<value>\t<unit>\t<yyyyMMddHHmmss>\t<status>`, named
//! `<Province>_<Facility>_<Station>_<yyyyMMddHHmmss>.txt` in `<station>/yyyy/MM/dd/`. The name and
//! folder are templates in the config, since the layout comes from implementations, not from the
//! circular's appendix.

use std::fmt::Write;

use jiff::tz::TimeZone;
use protocol::QualityFlags;

/// A line's device status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// `00`: measuring.
    Measuring,
    /// `01`: calibrating.
    Calibrating,
    /// `02`: device fault.
    Fault,
}

impl Status {
    /// The two digits written in the file.
    pub fn code(self) -> &'static str {
        match self {
            Status::Measuring => "00",
            Status::Calibrating => "01",
            Status::Fault => "02",
        }
    }

    /// The status a sample's quality flags mean: a sensor fault, a reading out of the sensor's
    /// range or a stuck sensor is a device fault; a calibration under way is calibrating
    /// (FORMAT.md §4). Warm-up and calibration-due leave the reading valid.
    pub fn of(flags: QualityFlags) -> Status {
        let fault = QualityFlags::SENSOR_FAULT | QualityFlags::OUT_OF_RANGE | QualityFlags::STUCK_VALUE;
        if flags.bits() & fault.bits() != 0 {
            Status::Fault
        } else if flags.contains(QualityFlags::CALIBRATING) {
            Status::Calibrating
        } else {
            Status::Measuring
        }
    }
}

/// One line of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// The parameter's symbol (`PM2.5`).
    pub symbol: &'a str,
    /// The interval's mean.
    pub value: f64,
    /// Decimals written.
    pub decimals: u32,
    /// The unit (may be empty).
    pub unit: &'a str,
    /// The status over the interval: the worst of its frames.
    pub status: Status,
}

/// The `yyyyMMddHHmmss` stamp of `ms` (Unix epoch) in `zone`.
pub fn stamp(ms: i64, zone: &TimeZone) -> String {
    local(ms, zone).strftime("%Y%m%d%H%M%S").to_string()
}

fn local(ms: i64, zone: &TimeZone) -> jiff::ZonedDateTime {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(zone.clone())
}

/// The file's text: one line per parameter, each ended by `newline`.
pub fn render(lines: &[Line<'_>], stamp: &str, newline: &str) -> String {
    let mut out = String::new();
    for l in lines {
        let _ = write!(
            out,
            "{}\t{:.*}\t{}\t{stamp}\t{}{newline}",
            l.symbol,
            l.decimals as usize,
            l.value,
            l.unit,
            l.status.code()
        );
    }
    out
}

/// The codes and templates that name a file and its folder.
#[derive(Debug, Clone)]
pub struct Naming {
    /// Province code (`{province}`).
    pub province: String,
    /// Facility code (`{facility}`).
    pub facility: String,
    /// File name template: `{province}`, `{facility}`, `{station}`, `{time}`.
    pub file: String,
    /// Folder template: `{station}`, `{yyyy}`, `{MM}`, `{dd}` (of the file's time, local).
    pub folder: String,
}

impl Naming {
    /// The folder and file name for station code `station` at `ms`, local time in `zone`.
    pub fn place(&self, station: &str, ms: i64, zone: &TimeZone) -> (String, String) {
        let at = local(ms, zone);
        let name = self
            .file
            .replace("{province}", &self.province)
            .replace("{facility}", &self.facility)
            .replace("{station}", station)
            .replace("{time}", &stamp(ms, zone));
        let folder = self
            .folder
            .replace("{station}", station)
            .replace("{yyyy}", &format!("{:04}", at.year()))
            .replace("{MM}", &format!("{:02}", at.month()))
            .replace("{dd}", &format!("{:02}", at.day()));
        (folder, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vietnam() -> TimeZone {
        TimeZone::get("Asia/Ho_Chi_Minh").expect("zone")
    }

    #[test]
    fn lines_follow_the_reference_layout() {
        let lines = [
            Line {
                symbol: "PM2.5",
                value: 27.8125,
                decimals: 2,
                unit: "ug/m3",
                status: Status::Measuring,
            },
            Line {
                symbol: "pH",
                value: 7.8485,
                decimals: 4,
                unit: "",
                status: Status::Fault,
            },
        ];
        assert_eq!(
            render(&lines, "20260325000500", "\n"),
            "PM2.5\t27.81\tug/m3\t20260325000500\t00\npH\t7.8485\t\t20260325000500\t02\n"
        );
    }

    #[test]
    fn names_and_folders_are_local_time() {
        let naming = Naming {
            province: "HG".into(),
            facility: "IOC".into(),
            file: "{province}_{facility}_{station}_{time}.txt".into(),
            folder: "{station}/{yyyy}/{MM}/{dd}".into(),
        };
        // 2026-12-06T17:05:00Z is five past midnight on the 7th in Vietnam.
        let (folder, name) = naming.place("HGVTA01", 1_796_576_700_000, &vietnam());
        assert_eq!(folder, "HGVTA01/2026/12/07");
        assert_eq!(name, "HG_IOC_HGVTA01_20261207000500.txt");
    }

    #[test]
    fn the_worst_flag_decides_the_status() {
        assert_eq!(Status::of(QualityFlags::empty()), Status::Measuring);
        assert_eq!(Status::of(QualityFlags::WARMING_UP), Status::Measuring);
        assert_eq!(Status::of(QualityFlags::CALIBRATION_DUE), Status::Measuring);
        assert_eq!(Status::of(QualityFlags::CALIBRATING), Status::Calibrating);
        assert_eq!(
            Status::of(QualityFlags::CALIBRATING | QualityFlags::SENSOR_FAULT),
            Status::Fault
        );
        assert_eq!(Status::of(QualityFlags::STUCK_VALUE), Status::Fault);
    }
}
