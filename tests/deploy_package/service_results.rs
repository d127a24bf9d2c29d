//! What the running services produced: points in InfluxDB, online stations in the IOC API, the
//! relay's files, and their state under /var/lib/citysense.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use protocol::registry::Registry;
use serde_json::Value;

use super::account::Account;
use super::{DATABASE, DEADLINE, USER};
use crate::support::Influx1;

/// Every telemetry frame is a point in InfluxDB (`seq` is in every point).
pub(super) async fn check_influx(influx: &Influx1, air: u64, water: u64) -> Result<()> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut found = Vec::new();
        for measurement in ["air_quality", "water_quality"] {
            let answer = influx
                .query(DATABASE, &format!("SELECT count(seq) FROM {measurement}"))
                .await?;
            found.push(
                answer["results"][0]["series"][0]["values"][0][1]
                    .as_u64()
                    .unwrap_or(0),
            );
        }
        if found == [air, water] {
            eprintln!("InfluxDB: {air} air and {water} water points, one per telemetry frame");
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "InfluxDB holds {found:?} (air, water) points, expected [{air}, {water}]"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The IOC API's station list shows every station of the registry online.
pub(super) async fn check_ioc_stations(http: &reqwest::Client, url: &str, registry: &Registry) -> Result<()> {
    let expected: BTreeSet<String> = registry.nodes().map(|n| n.station.clone()).collect();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let stations: Vec<Value> = http
            .get(format!("{url}/api/v1/stations"))
            .send()
            .await?
            .json()
            .await?;
        let online: BTreeSet<String> = stations
            .iter()
            .filter(|s| s["status"] == "online")
            .filter_map(|s| s["station"].as_str().map(str::to_owned))
            .collect();
        if online == expected {
            eprintln!("IOC API: /api/v1/stations shows {online:?} online");
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "IOC API shows {online:?} online, expected {expected:?}: {stations:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The relay wrote the backfilled hour's intervals (at least 11 of the 5-minute ones closed by
/// now, whatever the phase) as files in its state directory, owned by its user.
pub(super) async fn check_relay_files(
    http: &reqwest::Client,
    url: &str,
    registry: &Registry,
    account: &Account,
) -> Result<()> {
    let at_least = 11 * registry.len() as u64;
    let files_written = || async {
        let health: Value = http.get(format!("{url}/healthz")).send().await?.json().await?;
        anyhow::Ok((health["files_written"].as_u64().unwrap_or(0), health))
    };
    let deadline = Instant::now() + DEADLINE;
    let before = loop {
        let (written, health) = files_written().await?;
        if written >= at_least {
            break written;
        }
        ensure!(
            Instant::now() < deadline,
            "the relay wrote {written} files, expected at least {at_least}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // The outbox writes `.<name>.tmp` and renames it; the current interval may close meanwhile,
    // so the count on disk lies between the counter before and after the listing.
    let files: BTreeMap<PathBuf, u32> = files_under(Path::new("/var/lib/citysense/relay/outbox/files"))?
        .into_iter()
        .filter(|(p, _)| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    let (after, _) = files_written().await?;
    let on_disk = files.len() as u64;
    ensure!(
        (before..=after).contains(&on_disk),
        "{on_disk} files in the outbox, the relay counted {before} then {after}"
    );
    for (path, uid) in &files {
        ensure!(*uid == account.uid, "{} is not {USER}'s", path.display());
    }
    eprintln!("relay: {on_disk} files in /var/lib/citysense/relay/outbox/files, owned by {USER}");
    Ok(())
}

/// The services wrote their state where their configs say, inside their state directories, as
/// their user.
pub(super) fn check_state(account: &Account) -> Result<()> {
    for path in [
        "/var/lib/citysense/collector/spool",
        "/var/lib/citysense/ioc/ioc-api.sqlite",
        "/var/lib/citysense/relay/outbox",
    ] {
        let meta = fs::metadata(path).with_context(|| format!("{path} was not written"))?;
        ensure!(meta.uid() == account.uid, "{path} is not {USER}'s");
    }
    eprintln!("state: spool, SQLite database and outbox under /var/lib/citysense, owned by {USER}");
    Ok(())
}

/// Regular files under `dir` with their owner.
fn files_under(dir: &Path) -> Result<BTreeMap<PathBuf, u32>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files.insert(entry.path(), meta.uid());
            }
        }
    }
    Ok(files)
}
