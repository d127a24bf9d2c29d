//! `citysense-relay resend`: a station's files for a period made again from the points InfluxDB
//! holds, laid out exactly as the live relay writes them, and uploaded again (the authority asks
//! for this after its own outages). It runs beside the service and leaves its outbox alone.

use anyhow::{Context, bail, ensure};
use protocol::QualityFlags;
use protocol::registry::{Registry, StationKind};
use serde_json::Value;

use crate::config::{Config, InfluxConfig};
use crate::file::Status;
use crate::interval::{Intervals, Reading};
use crate::layout::Layout;
use crate::params::index_of;
use crate::upload::receiver;

/// A file made again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remade {
    /// Folder on the receivers.
    pub folder: String,
    /// Name.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// The files of `station` for the intervals that overlap `[from_ms, to_ms)`, from InfluxDB.
///
/// # Errors
///
/// No `[influx]` in the config, an unknown station, or InfluxDB refused or was unreachable.
pub async fn remake(
    config: &Config,
    registry: &Registry,
    station: &str,
    (from_ms, to_ms): (u64, u64),
) -> anyhow::Result<Vec<Remade>> {
    let influx = config
        .influx
        .as_ref()
        .context("resend reads InfluxDB: add an [influx] table to the config (see print-default-config)")?;
    let node = registry
        .nodes()
        .find(|n| n.station == station)
        .with_context(|| format!("no station {station:?} in the registry"))?;
    ensure!(from_ms < to_ms, "--from must be before --to");
    let (measurement, water) = match node.kind {
        StationKind::Air => ("air_quality", false),
        StationKind::Water => ("water_quality", true),
    };
    let mut intervals = Intervals::new(config.files.interval_s * 1_000, 0);
    let from = intervals.start_at(from_ms);
    let to = intervals.start_at(to_ms - 1) + intervals.length_ms();
    // The station id comes from the registry, so it needs no escaping beyond the quote rule.
    let q = format!(
        "SELECT * FROM {measurement} WHERE station = '{}' AND time >= {from}ms AND time < {to}ms",
        station.replace('\'', "\\'")
    );
    let answer = query(influx, &q).await?;
    for series in answer["results"][0]["series"].as_array().into_iter().flatten() {
        let columns: Vec<&str> = series["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let at = |row: &[Value], name: &str| {
            columns
                .iter()
                .position(|c| *c == name)
                .and_then(|i| row.get(i))
                .cloned()
        };
        for row in series["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
        {
            let Some(time) = at(row, "time").and_then(|v| v.as_u64()) else {
                continue;
            };
            let number =
                |name: &str| at(row, name).and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
            let key = (
                number("node").unwrap_or(u64::from(node.id)) as u32,
                number("boot").unwrap_or(0) as u32,
                number("seq").unwrap_or(time) as u32,
            );
            let values = columns
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((index_of(c, water)?, row.get(i)?.as_f64()?)))
                .collect();
            let quality = number("quality")
                .and_then(|q| u8::try_from(q).ok())
                .and_then(QualityFlags::from_bits);
            let reading = Reading {
                key,
                start_ms: intervals.start_at(time),
                values,
                status: Status::of(quality.unwrap_or_default()),
            };
            intervals.add_reading(station, &reading, 0);
        }
    }
    let layout = Layout::new(config);
    Ok(intervals
        .take_due(u64::MAX)
        .into_iter()
        .map(|c| {
            let (folder, name) = layout.place(station, c.start_ms);
            let text = layout.text(&c, &name);
            Remade { folder, name, text }
        })
        .collect())
}

/// Uploads `files` to the receivers named in `only` (every receiver when empty), in order;
/// `progress` hears of each file. Returns how many uploads were made.
///
/// # Errors
///
/// An unknown receiver name, or an upload failed (the message names the file; the files before
/// it are up).
pub async fn upload(
    config: &Config,
    files: Vec<Remade>,
    only: &[String],
    progress: impl Fn(&str, &Remade) + Send + 'static,
) -> anyhow::Result<usize> {
    for name in only {
        ensure!(
            config.receivers.iter().any(|r| &r.name == name),
            "no receiver named {name:?} in the config"
        );
    }
    let chosen: Vec<_> = config
        .receivers
        .iter()
        .filter(|r| only.is_empty() || only.contains(&r.name))
        .cloned()
        .collect();
    if chosen.is_empty() {
        bail!("the config has no [[receiver]] to send to");
    }
    tokio::task::spawn_blocking(move || {
        let mut uploads = 0;
        for r in &chosen {
            let mut server = receiver(r);
            for f in &files {
                server
                    .upload(&f.folder, &f.name, f.text.as_bytes())
                    .with_context(|| format!("{}/{} to {}", f.folder, f.name, r.name))?;
                progress(&r.name, f);
                uploads += 1;
            }
        }
        Ok(uploads)
    })
    .await?
}

async fn query(influx: &InfluxConfig, influxql: &str) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(influx.timeout_s.max(1)))
        .build()?;
    let mut request = client
        .get(format!("{}/query", influx.url.trim_end_matches('/')))
        .query(&[("db", influx.database.as_str()), ("q", influxql), ("epoch", "ms")]);
    match (&influx.password, influx.token_auth) {
        (Some(token), true) => request = request.header("authorization", format!("Token {}", token.expose())),
        (Some(password), false) => {
            request = request.basic_auth(
                influx.username.clone().unwrap_or_default(),
                Some(password.expose()),
            );
        }
        (None, _) => {}
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("InfluxDB at {} is unreachable", influx.url))?;
    let status = response.status();
    let body: Value = response.json().await.context("InfluxDB's answer is not JSON")?;
    let error = body["error"]
        .as_str()
        .or_else(|| body["results"][0]["error"].as_str());
    if let Some(e) = error {
        bail!("InfluxDB refused the query ({status}): {e}");
    }
    ensure!(status.is_success(), "InfluxDB answered {status}");
    Ok(body)
}
