//! Timestamps as the API writes them: RFC 3339 in UTC.

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
