//! Threshold rules: what is compared with what, where it applies, and how an alert it raises
//! behaves (pending duration, hysteresis, staleness). Stored in SQLite, editable over the API.

use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::ToSchema;

use crate::live::Param;

/// What a rule watches: a measured parameter, or one of the two station rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Watch {
    /// A measured parameter, through its averaging window.
    Param(Param),
    /// A station-level rule.
    Station(StationRule),
}

/// Rules about the station itself rather than a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StationRule {
    /// No frame for `trigger` seconds, or a death status: the node is offline. Suppresses the
    /// station's threshold alerts while it lasts.
    StationOffline,
    /// Frames flagged with a sensor fault, out-of-range or stuck value (FORMAT.md §4).
    SensorFault,
    /// Frames refused because the node reuses (boot, seq) keys with other bytes: re-flashed, or
    /// its boot counter lost (docs/decisions.md, "A reused sequence number is dead-lettered").
    /// 1 on each such frame, 0 on the node's next new frame.
    SequenceReset,
    /// Seconds since a receiver of the environment authority last took a file of the station,
    /// as the relay announces it; evaluated only for stations a relay reports on. The
    /// authority's receiver alerts on an interrupted transmission too (Circular 10/2021).
    TransmissionInterrupted,
}

impl Watch {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Watch::Param(p) => p.as_str(),
            Watch::Station(StationRule::StationOffline) => "station_offline",
            Watch::Station(StationRule::SensorFault) => "sensor_fault",
            Watch::Station(StationRule::SequenceReset) => "sequence_reset",
            Watch::Station(StationRule::TransmissionInterrupted) => "transmission_interrupted",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<Watch> {
        match name {
            "station_offline" => Some(Watch::Station(StationRule::StationOffline)),
            "sensor_fault" => Some(Watch::Station(StationRule::SensorFault)),
            "sequence_reset" => Some(Watch::Station(StationRule::SequenceReset)),
            "transmission_interrupted" => Some(Watch::Station(StationRule::TransmissionInterrupted)),
            other => Param::parse(other).map(Watch::Param),
        }
    }
}

/// From its name; an unknown name is refused with the names there are (serde's own message for
/// an untagged enum says only that no variant matched).
impl<'de> Deserialize<'de> for Watch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Watch::parse(&name).ok_or_else(|| {
            let names: Vec<&str> = Param::ALL
                .iter()
                .map(|p| p.as_str())
                .chain([
                    "station_offline",
                    "sensor_fault",
                    "sequence_reset",
                    "transmission_interrupted",
                ])
                .collect();
            serde::de::Error::custom(format!(
                "`{name}` is not a parameter or station rule; use one of {}",
                names.join(", ")
            ))
        })
    }
}

/// The averaging window a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Window {
    /// The latest reading.
    #[serde(rename = "latest")]
    Latest,
    /// The rolling one-hour mean (five-minute steps).
    #[serde(rename = "1h")]
    OneHour,
    /// The mean of the last 8 hourly means.
    #[serde(rename = "8h")]
    EightHours,
    /// The mean of the last 24 hourly means.
    #[serde(rename = "24h")]
    Day,
}

impl Window {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Latest => "latest",
            Window::OneHour => "1h",
            Window::EightHours => "8h",
            Window::Day => "24h",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<Window> {
        [Window::Latest, Window::OneHour, Window::EightHours, Window::Day]
            .into_iter()
            .find(|w| w.as_str() == name)
    }
}

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Needs attention.
    Warning,
    /// A regulatory limit is broken.
    Critical,
}

impl Level {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }

    /// Parses the name used in the API and the database.
    pub fn parse(name: &str) -> Option<Level> {
        [Level::Warning, Level::Critical]
            .into_iter()
            .find(|l| l.as_str() == name)
    }
}

/// Which side of the trigger is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Values above the trigger fire (pollutants).
    Above,
    /// Values below the trigger fire (dissolved oxygen, low pH).
    Below,
}

/// Where a rule applies, as clients send it; per slot the most specific rule wins: station
/// over district over everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// Every station.
    All,
    /// Every station of the district named by `target`.
    District,
    /// The station named by `target`.
    Station,
}

/// A rule as clients send it (create or replace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// A parameter (`pm2_5`, `dissolved_oxygen`, …) or `station_offline` / `sensor_fault` /
    /// `sequence_reset`.
    #[schema(value_type = String, example = "pm2_5")]
    pub parameter: Watch,
    /// Where it applies: `all`, `district` or `station`.
    pub scope: ScopeKind,
    /// The district or station id for `district` and `station` scopes.
    #[serde(default)]
    pub target: Option<String>,
    /// The averaging window (`latest`, `1h`, `8h`, `24h`); station rules use `latest`.
    pub window: Window,
    /// `warning` or `critical`.
    pub level: Level,
    /// `above` or `below`.
    pub direction: Direction,
    /// The trigger level, in the parameter's unit (for `station_offline`: seconds without a frame;
    /// for `sensor_fault` and `sequence_reset`: 0, the flag is 1 when set).
    pub trigger: f64,
    /// The level the value must return to before the alert resolves (hysteresis): at or below
    /// it for `above` rules, at or above it for `below` rules. Defaults to the trigger.
    #[serde(default)]
    pub recovery: Option<f64>,
    /// How long the condition must hold before the alert fires, seconds ("for").
    #[serde(default)]
    pub pending_s: u64,
    /// With no new value for this many seconds a firing alert is marked stale (then it can be
    /// resolved by hand). 0 disables staleness.
    #[serde(default = "default_stale_after_s")]
    pub stale_after_s: u64,
    /// First day the rule applies (inclusive), `YYYY-MM-DD`; regulations change on a date.
    #[serde(default, with = "opt_date")]
    #[schema(value_type = Option<String>, example = "2026-01-01")]
    pub valid_from: Option<Date>,
    /// Last day the rule applies (inclusive).
    #[serde(default, with = "opt_date")]
    #[schema(value_type = Option<String>)]
    pub valid_until: Option<Date>,
    /// Disabled rules are kept but not evaluated.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where the value comes from, e.g. "QCVN 05:2023/BTNMT, Bảng 1".
    #[serde(default)]
    pub source: String,
}

fn default_stale_after_s() -> u64 {
    2 * 3_600
}
fn yes() -> bool {
    true
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Threshold {
    /// Id.
    pub id: i64,
    /// The rule.
    #[serde(flatten)]
    pub spec: ThresholdSpec,
    /// When it was last changed (RFC 3339).
    pub updated_at: String,
    /// Who changed it last (token name, or `defaults`).
    pub updated_by: String,
}

/// A rule that cannot work; names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field.
    pub field: &'static str,
    /// Why.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

impl ThresholdSpec {
    /// Whether the rule applies to `station` in `district` (this runs for every rule on every
    /// frame, so it allocates nothing).
    pub fn covers(&self, station: &str, district: &str) -> bool {
        let target = self.target.as_deref();
        match self.scope {
            ScopeKind::All => true,
            ScopeKind::District => target == Some(district),
            ScopeKind::Station => target == Some(station),
        }
    }

    /// Specificity: station over district over everywhere.
    pub fn rank(&self) -> u8 {
        match self.scope {
            ScopeKind::All => 0,
            ScopeKind::District => 1,
            ScopeKind::Station => 2,
        }
    }

    /// The recovery level (the trigger when none is set).
    pub fn recovery_level(&self) -> f64 {
        self.recovery.unwrap_or(self.trigger)
    }

    /// Whether `value` breaks the trigger.
    pub fn breached(&self, value: f64) -> bool {
        match self.direction {
            Direction::Above => value > self.trigger,
            Direction::Below => value < self.trigger,
        }
    }

    /// Whether `value` is back on the good side of the recovery level.
    pub fn recovered(&self, value: f64) -> bool {
        match self.direction {
            Direction::Above => value <= self.recovery_level(),
            Direction::Below => value >= self.recovery_level(),
        }
    }

    /// Whether the rule applies on `day`.
    pub fn valid_on(&self, day: Date) -> bool {
        self.enabled && self.valid_from.is_none_or(|f| day >= f) && self.valid_until.is_none_or(|u| day <= u)
    }

    /// Checks a rule before it is stored.
    ///
    /// # Errors
    ///
    /// [`Invalid`] naming the field: a recovery level on the wrong side of the trigger, a
    /// non-finite number, a station rule with another window, an empty scope target, dates in
    /// the wrong order, durations over a year.
    pub fn validate(&self) -> Result<(), Invalid> {
        const YEAR_S: u64 = 366 * 86_400;
        if !self.trigger.is_finite() {
            return Err(invalid("trigger", "must be a finite number"));
        }
        if let Some(recovery) = self.recovery {
            if !recovery.is_finite() {
                return Err(invalid("recovery", "must be a finite number"));
            }
            let wrong_side = match self.direction {
                Direction::Above => recovery > self.trigger,
                Direction::Below => recovery < self.trigger,
            };
            if wrong_side {
                let side = match self.direction {
                    Direction::Above => "at or below",
                    Direction::Below => "at or above",
                };
                return Err(invalid(
                    "recovery",
                    format!(
                        "must be {side} the trigger ({}) for a rule that fires {}; got {recovery}",
                        self.trigger,
                        match self.direction {
                            Direction::Above => "above it",
                            Direction::Below => "below it",
                        }
                    ),
                ));
            }
        }
        if let Watch::Station(rule) = self.parameter {
            if self.window != Window::Latest {
                return Err(invalid(
                    "window",
                    "station rules (station_offline, sensor_fault, sequence_reset) use `latest`",
                ));
            }
            if self.direction != Direction::Above {
                return Err(invalid("direction", "station rules fire `above` their trigger"));
            }
            if rule == StationRule::TransmissionInterrupted && !(1.0..=YEAR_S as f64).contains(&self.trigger)
            {
                return Err(invalid(
                    "trigger",
                    "transmission_interrupted takes seconds since the last file delivered, 1 to 31 622 400",
                ));
            }
            if rule == StationRule::StationOffline && !(1.0..=YEAR_S as f64).contains(&self.trigger) {
                return Err(invalid(
                    "trigger",
                    "station_offline takes seconds without a frame, 1 to 31 622 400",
                ));
            }
        }
        match (self.scope, self.target.as_deref()) {
            (ScopeKind::All, Some(_)) => {
                return Err(invalid("target", "must be absent for scope `all`"));
            }
            (ScopeKind::District | ScopeKind::Station, t)
                if t.is_none_or(|t| t.trim().is_empty() || t.len() > 128) =>
            {
                return Err(invalid(
                    "target",
                    "must name the district or station (1 to 128 characters)",
                ));
            }
            _ => {}
        }
        if self.pending_s > YEAR_S {
            return Err(invalid("pending_s", "must be at most a year"));
        }
        if self.stale_after_s > YEAR_S {
            return Err(invalid("stale_after_s", "must be at most a year"));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && from > until
        {
            return Err(invalid("valid_until", "must not be before valid_from"));
        }
        if self.source.len() > 200 {
            return Err(invalid("source", "must be at most 200 characters"));
        }
        Ok(())
    }
}

/// `Option<Date>` as `YYYY-MM-DD`.
mod opt_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::macros::format_description;

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]");

    pub fn serialize<S: Serializer>(value: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match value.and_then(|d| d.format(FORMAT).ok()) {
            Some(text) => s.serialize_str(&text),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            Date::parse(&t, FORMAT).map_err(|_| serde::de::Error::custom("expected a date YYYY-MM-DD"))
        })
        .transpose()
    }

    pub fn format(date: Date) -> String {
        date.format(FORMAT).unwrap_or_default()
    }
}

pub(crate) use opt_date::format as format_date;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ThresholdSpec {
        ThresholdSpec {
            parameter: Watch::Param(Param::Pm2_5),
            scope: ScopeKind::All,
            target: None,
            window: Window::OneHour,
            level: Level::Warning,
            direction: Direction::Above,
            trigger: 50.0,
            recovery: Some(40.0),
            pending_s: 0,
            stale_after_s: 3_600,
            valid_from: None,
            valid_until: None,
            enabled: true,
            source: String::new(),
        }
    }

    #[test]
    fn recovery_on_the_wrong_side_is_refused_naming_the_field() {
        assert_eq!(spec().validate(), Ok(()));
        let wrong = ThresholdSpec {
            recovery: Some(55.0),
            ..spec()
        };
        assert_eq!(wrong.validate().map_err(|e| e.field), Err("recovery"));
        let below = ThresholdSpec {
            direction: Direction::Below,
            trigger: 4.0,
            recovery: Some(3.5),
            ..spec()
        };
        assert_eq!(below.validate().map_err(|e| e.field), Err("recovery"));
        let below_ok = ThresholdSpec {
            recovery: Some(4.5),
            ..below
        };
        assert_eq!(below_ok.validate(), Ok(()));
    }

    #[test]
    fn hysteresis_band() {
        let s = spec();
        assert!(s.breached(50.1) && !s.breached(50.0));
        assert!(!s.recovered(45.0) && s.recovered(40.0));
    }

    #[test]
    fn json_shape() {
        let json = serde_json::json!({
            "parameter": "dissolved_oxygen", "scope": "district", "target": "Vi Thanh",
            "window": "1h", "level": "critical", "direction": "below", "trigger": 4.0,
            "valid_from": "2026-01-01"
        });
        let s: ThresholdSpec = serde_json::from_value(json).expect("valid");
        assert!(s.covers("HG-VT-A01", "Vi Thanh") && !s.covers("HG-VT-A01", "Long My"));
        assert_eq!(
            (s.scope, s.target.as_deref(), s.rank()),
            (ScopeKind::District, Some("Vi Thanh"), 1)
        );
        assert_eq!(s.parameter, Watch::Param(Param::DissolvedOxygen));
        assert_eq!(s.stale_after_s, 7_200);
        assert!(s.valid_from.is_some());
        let back = serde_json::to_value(&s).expect("json");
        assert_eq!(back["target"], "Vi Thanh");
        assert_eq!(back["parameter"], "dissolved_oxygen");
    }
}
