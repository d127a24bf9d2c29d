//! Timestamps as the API writes them: RFC 3339 in UTC, and in the centre's zone for the exports'
//! local columns.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Formats an instant.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Formats ms since the Unix epoch; out-of-range values become the epoch rather than an error.
pub fn rfc3339_ms(ms: i128) -> String {
    rfc3339(OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Formats ms since the Unix epoch as RFC 3339 in `zone`, with its offset
/// (`2026-12-07T16:00:00+07:00`); out-of-range values become the epoch.
pub fn local_ms(ms: i64, zone: &jiff::tz::TimeZone) -> String {
    let at = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_carries_the_zone_offset() {
        let zone = jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").expect("bundled zone");
        // 2026-12-06T17:00:00Z is midnight of the 7th in Vietnam (UTC+7, no daylight saving).
        assert_eq!(local_ms(1_796_576_400_000, &zone), "2026-12-07T00:00:00+07:00");
        assert_eq!(rfc3339_ms(1_796_576_400_000), "2026-12-06T17:00:00Z");
    }
}
