//! The end-of-test check: every published frame is in InfluxDB exactly once, with its seq.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use super::DATABASE;
use super::stream::Published;
use crate::support::Influx1;

/// A point as InfluxDB returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredPoint {
    /// Node tag.
    pub node: u32,
    /// Time, ms.
    pub time_ms: u64,
    /// `boot` field.
    pub boot: u32,
    /// `seq` field.
    pub seq: u32,
}

/// Every air-quality point in the test database.
///
/// # Errors
/// A failed query or an answer of another shape.
pub async fn stored_points(influx: &Influx1) -> Result<Vec<StoredPoint>> {
    let answer = influx
        .query(DATABASE, "SELECT boot, seq FROM air_quality GROUP BY node")
        .await?;
    let mut points = Vec::new();
    let Some(series) = answer["results"][0]["series"].as_array() else {
        return Ok(points);
    };
    for s in series {
        let node: u32 = s["tags"]["node"].as_str().context("node tag")?.parse()?;
        for row in s["values"].as_array().context("values")? {
            let field = |i: usize| row[i].as_u64().with_context(|| format!("column {i} of {row}"));
            points.push(StoredPoint {
                node,
                time_ms: field(0)?,
                boot: field(1)? as u32,
                seq: field(2)? as u32,
            });
        }
    }
    points.sort();
    Ok(points)
}

/// Polls the database every 500 ms until it holds `want` points or `limit` has passed; the
/// check that follows says what is missing.
///
/// A read that fails counts as "not yet": InfluxDB 1.6 stores each field of a point apart, and a
/// query that meets a write in progress can see a point's `seq` before its `boot` (seen: a row
/// `[time, null, 10]` while a spool drained), which [`stored_points`] refuses.
pub async fn wait_for_points(influx: &Influx1, want: usize, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if stored_points(influx)
            .await
            .is_ok_and(|points| points.len() >= want)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Figures of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Frames published and acknowledged by the broker.
    pub published: usize,
    /// Points in InfluxDB.
    pub stored: usize,
    /// Frames stored more than once (as separate points).
    pub duplicates: usize,
    /// Frames published and not stored.
    pub lost: usize,
}

/// Checks that `published` and the database hold the same frames, each once, and returns the
/// figures (also printed, prefixed by `label`).
///
/// # Errors
/// A frame missing, stored twice, or stored without being published.
pub async fn verify_exactly_once(
    influx: &Influx1,
    published: &BTreeSet<Published>,
    label: &str,
) -> Result<Figures> {
    let stored = stored_points(influx).await?;
    let mut per_frame: BTreeMap<(u32, u32, u32), usize> = BTreeMap::new();
    for p in &stored {
        *per_frame.entry((p.node, p.boot, p.seq)).or_default() += 1;
    }
    let duplicates = per_frame.values().map(|n| n - 1).sum();
    let lost: Vec<&Published> = published
        .iter()
        .filter(|p| {
            !stored
                .binary_search_by_key(&(p.node, p.time_ms), |s| (s.node, s.time_ms))
                .is_ok_and(|i| stored[i].seq == p.seq && stored[i].boot == p.boot)
        })
        .collect();
    let figures = Figures {
        published: published.len(),
        stored: stored.len(),
        duplicates,
        lost: lost.len(),
    };
    eprintln!(
        "{label}: published {}, stored {}, duplicates {}, lost {}",
        figures.published, figures.stored, figures.duplicates, figures.lost
    );
    ensure!(
        lost.is_empty(),
        "{} frames lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    ensure!(duplicates == 0, "{duplicates} frames stored twice");
    ensure!(
        stored.len() == published.len(),
        "{} points stored for {} frames published",
        stored.len(),
        published.len()
    );
    Ok(figures)
}
