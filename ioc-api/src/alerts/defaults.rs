//! The rules a new database starts with: QCVN 05:2023/BTNMT for air and QCVN 08:2023/BTNMT for
//! surface water, plus the station rules. Operators edit them over the API afterwards.

use tracing::info;

use crate::store::{Store, StoreError};
use time::Date;
use time::Month;

use super::threshold::{Direction, Level, ScopeKind, StationRule, ThresholdSpec, Watch, Window};
use crate::live::Param;

const QCVN05: &str = "QCVN 05:2023/BTNMT, Bảng 1";
/// Table 2 (rivers, canals) comes from a noisy extract [U] (domain.md §4.2): verify against
/// the PDF and edit the rules where the province's class differs. The mark stays here, not in
/// the source the operators read.
const QCVN08: &str = "QCVN 08:2023/BTNMT, Bảng 2";

/// Sources the defaults carried before they were written in Vietnamese, with their current text:
/// a database seeded by an older version gets the new text on the rules no one has edited.
pub const RENAMED_SOURCES: [(&str, &str); 7] = [
    ("QCVN 05:2023/BTNMT Table 1", QCVN05),
    ("QCVN 08:2023/BTNMT Table 2 [U: noisy extract]", QCVN08),
    ("MARD/SIWRR salinity bulletins, 1 g/L crops", SALINITY_CROPS),
    (
        "MARD/SIWRR salinity bulletins, 4 g/L isohaline",
        SALINITY_ISOHALINE,
    ),
    ("no frame for the configured time, or a death status", OFFLINE),
    (
        "frame quality flags: sensor fault, out of range, stuck value (FORMAT.md §4)",
        SENSOR_FAULT,
    ),
    (
        "frames refused for reusing (boot, seq) keys with other bytes: node re-flashed or its boot counter lost (docs/decisions.md)",
        SEQUENCE_RESET,
    ),
];
const SALINITY_CROPS: &str =
    "Bản tin mặn MARD/SIWRR: 1 g/L, ngưỡng chịu mặn của cây trồng (salinity bulletins, crops)";
const SALINITY_ISOHALINE: &str =
    "Bản tin mặn MARD/SIWRR: đường đẳng mặn 4 g/L (salinity bulletins, isohaline)";
const OFFLINE: &str =
    "Không nhận khung trong thời gian cấu hình, hoặc thiết bị báo ngắt (no frame, or a death status)";
const SENSOR_FAULT: &str =
    "Cờ chất lượng của khung: lỗi cảm biến, ngoài dải đo, giá trị không đổi (FORMAT.md §4)";
const TRANSMISSION: &str = "Thông tư 10/2021/TT-BTNMT: bên nhận cảnh báo khi truyền dữ liệu bị gián đoạn (transmission to the authority interrupted)";
const SEQUENCE_RESET: &str = "Khung bị từ chối vì trùng số thứ tự (boot, seq): thiết bị nạp lại firmware hoặc mất bộ đếm khởi động (docs/decisions.md)";

/// Hysteresis of the defaults: an alert resolves once the value is 10 % back inside the limit.
const HYSTERESIS: f64 = 0.1;
const STALE_S: u64 = 2 * 3_600;

fn rule(
    param: Param,
    window: Window,
    level: Level,
    direction: Direction,
    trigger: f64,
    source: &str,
) -> ThresholdSpec {
    let recovery = match direction {
        Direction::Above => trigger * (1.0 - HYSTERESIS),
        Direction::Below => trigger * (1.0 + HYSTERESIS),
    };
    ThresholdSpec {
        parameter: Watch::Param(param),
        scope: ScopeKind::All,
        target: None,
        window,
        level,
        direction,
        trigger,
        recovery: Some((recovery * 1_000.0).round() / 1_000.0),
        pending_s: 0,
        stale_after_s: STALE_S,
        valid_from: None,
        valid_until: None,
        enabled: true,
        source: source.into(),
    }
}

/// A rule on the station itself, for every station: fires on its latest state, never stale.
fn station_rule(rule: StationRule, trigger: f64, source: &str) -> ThresholdSpec {
    ThresholdSpec {
        parameter: Watch::Station(rule),
        scope: ScopeKind::All,
        target: None,
        window: Window::Latest,
        level: Level::Warning,
        direction: Direction::Above,
        trigger,
        recovery: None,
        pending_s: 0,
        stale_after_s: 0,
        valid_from: None,
        valid_until: None,
        enabled: true,
        source: source.into(),
    }
}

/// Seconds without a file reaching the authority before `transmission_interrupted` fires: six
/// five-minute files. Circular 10/2021 has the receiver alert on interrupted transmission; the
/// delay it uses is not confirmed (vn-transmission.md), so the rule is editable like any other.
const TRANSMISSION_TRIGGER_S: f64 = 1_800.0;

/// The default `transmission_interrupted` rule; also added to a database seeded before it
/// existed (see [`added_later`]).
fn transmission_rule() -> ThresholdSpec {
    station_rule(
        StationRule::TransmissionInterrupted,
        TRANSMISSION_TRIGGER_S,
        TRANSMISSION,
    )
}

/// Default rules of kinds that later versions brought: a database that has no rule of their
/// kind gets them at start.
pub fn added_later() -> Vec<ThresholdSpec> {
    vec![transmission_rule()]
}

fn until(mut spec: ThresholdSpec, day: Option<Date>) -> ThresholdSpec {
    spec.valid_until = day;
    spec
}

fn from(mut spec: ThresholdSpec, day: Option<Date>) -> ThresholdSpec {
    spec.valid_from = day;
    spec
}

/// The default rules. `offline_after_s` is the station-offline trigger from the config.
pub fn default_rules(offline_after_s: u64) -> Vec<ThresholdSpec> {
    use Direction::{Above, Below};
    use Level::{Critical, Warning};
    use Window::{Day, EightHours, OneHour};
    // QCVN 05:2023 Table 1 footnote: PM2.5 24-hour limit 50 µg/Nm³, 45 from 1 Jan 2026 (§4.1).
    let change = Date::from_calendar_date(2026, Month::January, 1).ok();
    let last_old = change.and_then(Date::previous_day);
    // Sources are what the operators read in the rules view: Vietnamese, the English in brackets.
    let mut rules = vec![
        // Air, QCVN 05:2023 Table 1 (µg/Nm³; Nm³ at 25 °C, 760 mmHg) [V], domain.md §4.1.
        rule(Param::So2, OneHour, Critical, Above, 350.0, QCVN05),
        rule(Param::So2, Day, Critical, Above, 125.0, QCVN05),
        rule(Param::Co, OneHour, Critical, Above, 30_000.0, QCVN05),
        rule(Param::Co, EightHours, Critical, Above, 10_000.0, QCVN05),
        rule(Param::No2, OneHour, Critical, Above, 200.0, QCVN05),
        rule(Param::No2, Day, Critical, Above, 100.0, QCVN05),
        rule(Param::O3, OneHour, Critical, Above, 200.0, QCVN05),
        rule(Param::O3, EightHours, Critical, Above, 120.0, QCVN05),
        rule(Param::Pm10, Day, Critical, Above, 100.0, QCVN05),
        until(rule(Param::Pm2_5, Day, Critical, Above, 50.0, QCVN05), last_old),
        from(rule(Param::Pm2_5, Day, Critical, Above, 45.0, QCVN05), change),
        // Early warning: the 1-hour PM2.5 mean above the 24-hour limit in force. QCVN 05 sets no
        // 1-hour PM2.5 value; a station whose hourly mean stays above the daily limit is on
        // course to break it (docs/decisions.md).
        until(
            rule(Param::Pm2_5, OneHour, Warning, Above, 50.0, QCVN05),
            last_old,
        ),
        from(rule(Param::Pm2_5, OneHour, Warning, Above, 45.0, QCVN05), change),
        // Surface water, QCVN 08:2023 Table 2, rivers and canals, classes B–C (pH 6.0–8.5,
        // DO ≥ 4.0 mg/L class C; class D DO "≥ 2.0" as extracted) [U].
        rule(Param::Ph, OneHour, Warning, Below, 6.0, QCVN08),
        rule(Param::Ph, OneHour, Warning, Above, 8.5, QCVN08),
        rule(Param::DissolvedOxygen, OneHour, Warning, Below, 4.0, QCVN08),
        rule(Param::DissolvedOxygen, OneHour, Critical, Below, 2.0, QCVN08),
        // Salinity (domain.md §5.1): 1 ‰ most crops' tolerance, 4 ‰ the intrusion isohaline.
        rule(Param::Salinity, OneHour, Warning, Above, 1.0, SALINITY_CROPS),
        rule(Param::Salinity, OneHour, Critical, Above, 4.0, SALINITY_ISOHALINE),
    ];
    // Ph above 8.5: the hysteresis goes down from 8.5, not 10 % of it.
    for r in rules
        .iter_mut()
        .filter(|r| r.parameter == Watch::Param(Param::Ph))
    {
        r.recovery = Some(match r.direction {
            Above => 8.3,
            Below => 6.2,
        });
    }
    rules.push(station_rule(
        StationRule::StationOffline,
        offline_after_s as f64,
        OFFLINE,
    ));
    rules.push(station_rule(StationRule::SensorFault, 0.0, SENSOR_FAULT));
    rules.push(station_rule(StationRule::SequenceReset, 0.0, SEQUENCE_RESET));
    rules.push(transmission_rule());
    rules
}

/// Puts the default rules in `store`: all of them in a new database; in one from an earlier
/// version, the current wording of the sources no one edited and the rules of kinds added since.
///
/// # Errors
///
/// The database refused.
pub fn install_defaults(store: &Store, offline_after_s: u64, now: &str) -> Result<(), StoreError> {
    let seeded = store.seed_thresholds(&default_rules(offline_after_s), now)?;
    if seeded > 0 {
        info!(
            rules = seeded,
            "New database: stored the default QCVN 05:2023 / 08:2023 rules."
        );
    }
    let renamed = store.rename_default_sources(&RENAMED_SOURCES)?;
    if renamed > 0 {
        info!(
            rules = renamed,
            "Rewrote the source of unedited default rules in the current (Vietnamese) wording."
        );
    }
    let existing = store.thresholds()?;
    for spec in added_later() {
        if !existing.iter().any(|t| t.spec.parameter == spec.parameter) {
            store.insert_threshold(&spec, now, "defaults")?;
            info!(
                rule = spec.parameter.as_str(),
                "Added a default rule this version brings."
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_valid_and_pm2_5_tightens_in_2026() {
        let rules = default_rules(300);
        for r in &rules {
            assert_eq!(r.validate(), Ok(()), "{r:?}");
        }
        let pm_day: Vec<&ThresholdSpec> = rules
            .iter()
            .filter(|r| r.parameter == Watch::Param(Param::Pm2_5) && r.window == Window::Day)
            .collect();
        let on = |d| pm_day.iter().find(|r| r.valid_on(d)).map(|r| r.trigger);
        assert_eq!(on(time::macros::date!(2025 - 12 - 31)), Some(50.0));
        assert_eq!(on(time::macros::date!(2026 - 01 - 01)), Some(45.0));
    }
}
