//! A simulated laboratory: the water samples' values no probe measures (BOD5, COD, ammonium,
//! phosphate, coliform), which VN_WQI needs, posted to the IOC API's
//! `POST /api/v1/stations/{id}/lab-results` with an operator token, as a laboratory's staff would.
//!
//! Values are plausible for the Mekong Delta's canals in the units of Decision 1460/QĐ-TCMT
//! (mg/L, coliform in MPN/100 mL): organic load and nutrients from rice fields and towns put them
//! around QCVN 08:2023's class B, so the index comes out "medium" to "good". Each station gets
//! its own level, the same for the same sampling day, so posting a day's sample again gives the
//! same values and the IOC keeps one sample.

use anyhow::{Context, Result, ensure};
use protocol::registry::{Registry, StationKind};
use serde_json::json;

const DAY_MS: u64 = 86_400_000;
const HOUR_MS: u64 = 3_600_000;
/// Samples are taken at 08:00 Vietnam time (UTC+7, no daylight saving).
const SAMPLING_HOUR_UTC: u64 = 1;

/// A repeatable number in [-1, 1) for a station and a day.
fn wobble(node_id: u32, day: u64, salt: u64) -> f64 {
    let mut x = u64::from(node_id)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(day.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(salt.wrapping_mul(0x94D0_49BB_1331_11EB));
    x ^= x >> 31;
    x = x.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x ^= x >> 32;
    (x % 2_000) as f64 / 1_000.0 - 1.0
}

/// The last sampling time at or before `now_ms`: 08:00 Vietnam time of today or yesterday.
pub fn last_sampling_ms(now_ms: u64) -> u64 {
    let today = now_ms - now_ms % DAY_MS + SAMPLING_HOUR_UTC * HOUR_MS;
    if today <= now_ms { today } else { today - DAY_MS }
}

/// The laboratory's values of the sample taken at `sampled_at_ms` at node `node_id`'s station,
/// by VN_WQI parameter name.
pub fn sample_values(node_id: u32, sampled_at_ms: u64) -> Vec<(&'static str, f64)> {
    let day = sampled_at_ms / DAY_MS;
    let level = 1.0 + 0.35 * wobble(node_id, 0, 1);
    let v = |base: f64, salt: u64, decimals: i32| {
        let x = base * level * (1.0 + 0.15 * wobble(node_id, day, salt));
        let per = 10f64.powi(decimals);
        (x * per).round() / per
    };
    vec![
        ("bod5", v(5.5, 2, 1)),
        ("cod", v(14.0, 3, 1)),
        ("n_nh4", v(0.35, 4, 2)),
        ("p_po4", v(0.16, 5, 2)),
        ("coliform", v(3_600.0, 6, -2)),
    ]
}

/// The RFC 3339 text of `ms` (UTC).
fn rfc3339(ms: u64) -> Result<String> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)?;
    Ok(at.format(&time::format_description::well_known::Rfc3339)?)
}

/// Posts the sample taken at `sampled_at_ms` for every water station of `registry` to the IOC
/// API at `api` (`http://host:port`) with an operator `token`; returns how many were taken.
///
/// # Errors
///
/// The API cannot be reached or refuses a sample (the answer's message is in the error).
pub async fn post_samples(api: &str, token: &str, registry: &Registry, sampled_at_ms: u64) -> Result<usize> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut posted = 0;
    for node in registry.nodes().filter(|n| n.kind == StationKind::Water) {
        let values: serde_json::Map<String, serde_json::Value> = sample_values(node.id, sampled_at_ms)
            .into_iter()
            .map(|(name, value)| (name.to_owned(), json!(value)))
            .collect();
        let url = format!("{api}/api/v1/stations/{}/lab-results", node.station);
        let response = client
            .post(&url)
            .bearer_auth(token)
            .json(&json!({"sampled_at": rfc3339(sampled_at_ms)?, "values": values}))
            .send()
            .await
            .with_context(|| format!("cannot reach the IOC API at {url}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        ensure!(
            status.is_success(),
            "{url} refused the lab sample: {status} {body}"
        );
        posted += 1;
    }
    Ok(posted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07 10:00 UTC (17:00 in Vietnam).
    const NOW: u64 = 1_796_637_600_000;

    #[test]
    fn samples_are_taken_at_eight_in_vietnam_and_repeat_for_the_same_day() {
        let sampled = last_sampling_ms(NOW);
        assert_eq!(rfc3339(sampled).expect("a time"), "2026-12-07T01:00:00Z");
        assert_eq!(last_sampling_ms(sampled - 1), sampled - DAY_MS);
        assert_eq!(sample_values(201, sampled), sample_values(201, sampled + 5));
        assert_ne!(sample_values(201, sampled), sample_values(202, sampled));
    }

    #[test]
    fn values_stay_in_a_canal_s_range() {
        for node in 200..260 {
            for day in 0..30 {
                for (name, value) in sample_values(node, NOW + day * DAY_MS) {
                    let (low, high) = match name {
                        "bod5" => (2.5, 9.5),
                        "cod" => (6.0, 25.0),
                        "n_nh4" => (0.15, 0.6),
                        "p_po4" => (0.07, 0.28),
                        "coliform" => (1_500.0, 6_300.0),
                        other => panic!("unexpected {other}"),
                    };
                    assert!((low..=high).contains(&value), "{name} {value} at node {node}");
                }
            }
        }
    }
}
