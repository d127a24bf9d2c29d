//! The IOC API's HTTP endpoints as the test reads them.

use anyhow::{Context, Result, ensure};
use serde_json::Value;

/// A rule as `GET /api/v1/thresholds` shows it, as `PUT` takes it.
pub(super) fn spec_of(rule: &Value) -> Result<Value> {
    let mut spec = rule.clone();
    for field in ["id", "updated_at", "updated_by"] {
        spec.as_object_mut().context("a rule object")?.remove(field);
    }
    Ok(spec)
}

pub(super) async fn get(client: &reqwest::Client, url: &str) -> Result<Value> {
    let response = client.get(url).send().await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "GET {url}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

/// `citysense_ioc_frames_accepted_total` from the IOC API's `/metrics`.
pub(super) async fn frames_accepted(client: &reqwest::Client, url: &str) -> Result<u64> {
    let text = client.get(format!("{url}/metrics")).send().await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("citysense_ioc_frames_accepted_total "))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no frames_accepted_total in /metrics:\n{text}"))
}
