//! Counting points: in InfluxDB, received by InfluxDB, and in a collector backup's spool.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use collector::spool::SpooledBatch;

use super::DATABASE;
use crate::support::Influx1;

/// Points in the database, over every measurement.
pub(super) async fn point_count(influx: &Influx1) -> Result<u64> {
    let answer = influx
        .query(
            DATABASE,
            "SELECT count(seq) FROM air_quality, water_quality, node_status",
        )
        .await?;
    let mut total = 0;
    for series in answer["results"][0]["series"].as_array().into_iter().flatten() {
        total += series["values"][0][1].as_u64().context("a count")?;
    }
    Ok(total)
}

/// Points InfluxDB's HTTP API has received since it started (`SHOW STATS`, module `httpd`):
/// every write counts, a point written twice twice.
pub(super) async fn points_received(influx: &Influx1) -> Result<u64> {
    let answer = influx.query(DATABASE, "SHOW STATS FOR 'httpd'").await?;
    let series = answer["results"][0]["series"]
        .as_array()
        .context("SHOW STATS answered no series")?;
    let mut total = 0;
    for s in series {
        let columns = s["columns"].as_array().context("columns")?;
        let at = columns
            .iter()
            .position(|c| c == "pointsWrittenOK")
            .with_context(|| format!("no pointsWrittenOK in {s}"))?;
        total += s["values"][0][at].as_u64().context("pointsWrittenOK")?;
    }
    Ok(total)
}

/// The points in a collector backup's spool segments, read here from the record layout
/// (`[len u32][crc32 u32][payload]`): how many, and how many distinct (series, time).
pub(super) fn spooled_points(backup: &Path) -> Result<(usize, usize)> {
    let mut points = 0;
    let mut distinct = BTreeSet::new();
    for entry in std::fs::read_dir(backup.join("spool"))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "seg") {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let mut at = 0;
        while at < bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into()?) as usize;
            let payload = &bytes[at + 8..at + 8 + len];
            let batch = SpooledBatch::decode(payload)
                .with_context(|| format!("a record of {} is not a batch", path.display()))?;
            for p in batch.points {
                let series = p.line.split(' ').next().unwrap_or_default().to_owned();
                let time = p
                    .line
                    .trim_end()
                    .rsplit(' ')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                distinct.insert((series, time));
                points += 1;
            }
            at += 8 + len;
        }
    }
    Ok((points, distinct.len()))
}
