//! Disk per node and day in InfluxDB 1.6: a day of an air station's frames (one a minute, every
//! sensor present) written as the collector writes them, for 1 node and for `--disk-nodes` nodes,
//! with timestamps on the minute and with up to a second of jitter; once InfluxDB has snapshotted
//! its cache and compacted the shard, the files are measured.
//!
//! Its own influxd (not the harness's), so the config can make the cache go to TSM after 1 s
//! cold and fully compact after 1 s cold instead of InfluxDB's 10 min and 4 h.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use protocol::registry::{NodeInfo, StationKind};
use protocol::{AirSample, Body, Frame, QualityFlags};

use crate::support::{ChildProcess, free_ports};

const DAY_MS: u64 = 86_400_000;
const WEEK_MS: u64 = 7 * DAY_MS;
const MINUTES: u64 = 1_440;

/// One database's figures.
pub struct DiskRow {
    pub nodes: u32,
    pub jitter: bool,
    pub points: u64,
    pub line_bytes: u64,
    pub gzip_bytes: u64,
    pub shard_bytes: u64,
    pub tsm_files: usize,
    pub series_file_bytes: u64,
    pub series_file_allocated: u64,
    pub wal_bytes: u64,
}

/// A small deterministic generator (xorshift64*), so every run writes the same values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[-spread, spread]`.
    fn around(&mut self, spread: f64) -> f64 {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * spread
    }
}

/// A plausible day of one station: slow random walks for PM and gases, a daily cycle for
/// temperature, humidity and ozone, noise at each sensor's resolution.
struct Station {
    rng: Rng,
    pm2_5: f64,
    co: f64,
    no2: f64,
    so2: f64,
}

impl Station {
    fn new(node: u32) -> Self {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (u64::from(node) + 1).wrapping_mul(0x1000_0000_01b3));
        let pm2_5 = 20.0 + rng.around(15.0).abs();
        Station {
            rng,
            pm2_5,
            co: 800.0,
            no2: 25.0,
            so2: 8.0,
        }
    }

    fn sample(&mut self, minute: u64) -> AirSample {
        let r = &mut self.rng;
        let day = (minute as f64 / MINUTES as f64 - 0.375) * std::f64::consts::TAU;
        self.pm2_5 = (self.pm2_5 + r.around(1.5)).clamp(3.0, 300.0);
        self.co = (self.co + r.around(20.0)).clamp(200.0, 5_000.0);
        self.no2 = (self.no2 + r.around(0.8)).clamp(2.0, 200.0);
        self.so2 = (self.so2 + r.around(0.3)).clamp(1.0, 100.0);
        let tenth = |v: f64| (v * 10.0).round() as u16;
        let hundredth = |v: f64| (v * 100.0).round();
        AirSample {
            quality: QualityFlags::empty(),
            samples: 6,
            pm1_0: Some(tenth(self.pm2_5 * 0.7 + r.around(0.5))),
            pm2_5: Some(tenth(self.pm2_5)),
            pm10: Some(tenth(self.pm2_5 * 1.6 + r.around(2.0))),
            temperature: Some(hundredth(29.0 + 4.0 * day.sin() + r.around(0.05)) as i16),
            humidity: Some(hundredth(80.0 - 15.0 * day.sin() + r.around(0.3)) as u16),
            pressure: Some(tenth(1_008.0 + 2.0 * (2.0 * day).sin() + r.around(0.1))),
            co: Some(self.co.round() as u32),
            no2: Some(tenth(self.no2)),
            so2: Some(tenth(self.so2)),
            o3: Some(tenth(20.0 + 40.0 * day.sin().max(0.0) + r.around(1.0))),
        }
    }
}

/// influxd with its files in `dir`, the cache snapshotted and the shards compacted after 1 s cold.
struct OwnInflux {
    process: ChildProcess,
    url: String,
}

impl OwnInflux {
    async fn start(dir: &Path) -> Result<Self> {
        let ports = free_ports(2)?;
        let root = dir.display();
        let config = format!(
            "reporting-disabled = true\n\
             bind-address = \"127.0.0.1:{}\"\n\
             [meta]\n  dir = \"{root}/meta\"\n\
             [data]\n  dir = \"{root}/data\"\n  wal-dir = \"{root}/wal\"\n  query-log-enabled = false\n  \
             cache-snapshot-write-cold-duration = \"1s\"\n  compact-full-write-cold-duration = \"1s\"\n\
             [http]\n  bind-address = \"127.0.0.1:{}\"\n  log-enabled = false\n",
            ports[1], ports[0]
        );
        let config_path = dir.join("influxdb.conf");
        std::fs::write(&config_path, config)?;
        let mut process = ChildProcess::spawn(
            "influxd",
            "influxdb",
            vec!["-config".into(), config_path.display().to_string()],
            dir.join("influxd.log"),
        )?;
        let url = format!("http://127.0.0.1:{}", ports[0]);
        let client = reqwest::Client::new();
        process
            .wait_ready(Duration::from_secs(60), || {
                let (client, ping) = (client.clone(), format!("{url}/ping"));
                async move {
                    client
                        .get(ping)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().as_u16() == 204)
                }
            })
            .await?;
        Ok(OwnInflux { process, url })
    }

    async fn query(&self, db: &str, q: &str) -> Result<serde_json::Value> {
        let answer = reqwest::Client::new()
            .post(format!("{}/query", self.url))
            .form(&[("db", db), ("q", q)])
            .send()
            .await?
            .error_for_status()?
            .json::<serde_json::Value>()
            .await?;
        Ok(answer)
    }
}

/// Bytes of the regular files under `dir` (apparent size, and allocated blocks); the TSM files
/// and whether a compaction's `.tmp` file is still there.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct Sizes {
    bytes: u64,
    allocated: u64,
    tsm_files: usize,
    tmp_files: usize,
}

fn sizes(dir: &Path) -> Sizes {
    use std::os::unix::fs::MetadataExt;
    let mut out = Sizes::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let inner = sizes(&entry.path());
            out.bytes += inner.bytes;
            out.allocated += inner.allocated;
            out.tsm_files += inner.tsm_files;
            out.tmp_files += inner.tmp_files;
        } else {
            out.bytes += meta.len();
            out.allocated += meta.blocks() * 512;
            let name = entry.file_name().to_string_lossy().into_owned();
            out.tsm_files += usize::from(name.ends_with(".tsm"));
            out.tmp_files += usize::from(name.ends_with(".tmp"));
        }
    }
    out
}

/// The shard files of database `db` (everything under `data/<db>` but the series file) and its
/// series file (`data/<db>/_series`, one per database, sized by series, not by day).
fn db_sizes(root: &Path, db: &str) -> (Sizes, Sizes, Sizes) {
    let data = root.join("data").join(db);
    let all = sizes(&data);
    let series = sizes(&data.join("_series"));
    let shards = Sizes {
        bytes: all.bytes - series.bytes,
        allocated: all.allocated - series.allocated,
        tsm_files: all.tsm_files,
        tmp_files: all.tmp_files,
    };
    (shards, series, sizes(&root.join("wal").join(db)))
}

/// Writes a day of `nodes` stations into `db`; returns (points, line protocol bytes, gzip bytes).
async fn write_day(
    influx: &OwnInflux,
    db: &str,
    nodes: u32,
    jitter: bool,
    day_start: u64,
) -> Result<(u64, u64, u64)> {
    influx.query(db, &format!("CREATE DATABASE \"{db}\"")).await?;
    let client = reqwest::Client::new();
    let url = format!("{}/write?db={db}&precision=ms", influx.url);
    let mut stations: Vec<Station> = (0..nodes).map(Station::new).collect();
    let infos: Vec<NodeInfo> = (0..nodes)
        .map(|i| NodeInfo {
            id: 100_000 + i,
            station: format!("HG-{i:05}"),
            name: String::new(),
            kind: StationKind::Air,
            district: ["Vi Thanh", "Nga Bay", "Long My", "Vi Thuy", "Chau Thanh"][i as usize % 5].into(),
            location: None,
            key: None,
        })
        .collect();
    let mut tags = collector::sink::line_protocol::TagCache::default();
    let mut jitter_rng = Rng(0x5eed);
    let (mut points, mut line_bytes, mut gzip_bytes) = (0u64, 0u64, 0u64);
    let mut lines = String::new();
    // Minute by minute, every node, as the stations report: each write spans many series.
    for minute in 0..MINUTES {
        for (k, station) in stations.iter_mut().enumerate() {
            let offset = if jitter { jitter_rng.next() % 1_000 } else { 0 };
            let frame = Frame {
                node_id: infos[k].id,
                boot: 1,
                seq: minute as u32,
                time_ms: day_start + minute * 60_000 + offset,
                body: Body::Air(station.sample(minute)),
            };
            tags.write_point(&mut lines, &frame, &infos[k], 0);
            points += 1;
            if points.is_multiple_of(5_000) || (minute + 1 == MINUTES && k + 1 == nodes as usize) {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(lines.as_bytes())?;
                let body = encoder.finish()?;
                line_bytes += lines.len() as u64;
                gzip_bytes += body.len() as u64;
                let response = client
                    .post(&url)
                    .header("Content-Encoding", "gzip")
                    .body(body)
                    .send()
                    .await?;
                if !response.status().is_success() {
                    bail!(
                        "InfluxDB answered {}: {}",
                        response.status(),
                        response.text().await?
                    );
                }
                lines.clear();
            }
        }
    }
    Ok((points, line_bytes, gzip_bytes))
}

/// Writes the four days (1 and `many` nodes, on the minute and jittered), waits for the shards to
/// settle and measures them.
///
/// # Errors
/// influxd not starting, a refused write, or a count that does not match.
pub async fn measure(many: u32) -> Result<Vec<DiskRow>> {
    let dir = tempfile::Builder::new().prefix("bench-disk-").tempdir()?;
    let influx = OwnInflux::start(dir.path()).await?;
    // A Tuesday of last week: inside one shard group (7 days; Go's `Time.Truncate` counts from
    // year 1, so groups start on Mondays, and 1970-01-05 was one).
    let monday = 4 * DAY_MS;
    let now = crate::workload::wall_ms();
    let day_start = ((now - monday) / WEEK_MS - 1) * WEEK_MS + monday + DAY_MS;
    let cases = [(1, false), (1, true), (many, false), (many, true)];
    let mut rows = Vec::new();
    for (nodes, jitter) in cases {
        let db = format!("day_{nodes}_{}", if jitter { "jitter" } else { "minute" });
        let started = Instant::now();
        let (points, line_bytes, gzip_bytes) = write_day(&influx, &db, nodes, jitter, day_start).await?;
        eprintln!(
            "{db}: {points} points written in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        rows.push(DiskRow {
            nodes,
            jitter,
            points,
            line_bytes,
            gzip_bytes,
            shard_bytes: 0,
            tsm_files: 0,
            series_file_bytes: 0,
            series_file_allocated: 0,
            wal_bytes: 0,
        });
    }
    // Settled: no WAL left, no compaction in progress, sizes unchanged for 5 s (at most 5 min).
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = Vec::new();
    let mut still = 0;
    loop {
        let now: Vec<_> = rows
            .iter()
            .map(|r| {
                let db = format!("day_{}_{}", r.nodes, if r.jitter { "jitter" } else { "minute" });
                db_sizes(dir.path(), &db)
            })
            .collect();
        let quiet = now
            .iter()
            .all(|(shards, _, wal)| wal.bytes == 0 && shards.tmp_files == 0);
        still = if quiet && now == last { still + 1 } else { 0 };
        if still >= 5 {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("the shards did not settle within 5 minutes; measured as they are");
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for row in &mut rows {
        let db = format!(
            "day_{}_{}",
            row.nodes,
            if row.jitter { "jitter" } else { "minute" }
        );
        let answer = influx.query(&db, "SELECT count(seq) FROM air_quality").await?;
        let stored = answer["results"][0]["series"][0]["values"][0][1]
            .as_u64()
            .unwrap_or(0);
        if stored != row.points {
            bail!("{db}: {stored} points stored of {}", row.points);
        }
        let (shards, series, wal) = db_sizes(dir.path(), &db);
        row.shard_bytes = shards.bytes;
        row.tsm_files = shards.tsm_files;
        row.series_file_bytes = series.bytes;
        row.series_file_allocated = series.allocated;
        row.wal_bytes = wal.bytes;
    }
    drop(influx.process);
    Ok(rows)
}

/// Prints the table.
pub fn print(rows: &[DiskRow]) {
    println!(
        "\ndisk per node and day, InfluxDB 1.6 (inmem index), one air frame a minute with every sensor (15 fields), after snapshot and full compaction:\n"
    );
    println!(
        "| nodes | timestamps | points | line protocol B/point | gzip B/point | shard on disk B/point | shard per node per day | TSM files | series file (per database) | WAL left |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.2} | {:.1} KiB | {} | {:.1} MiB apparent, {:.0} KiB allocated | {} |",
            r.nodes,
            if r.jitter {
                "minute + 0–999 ms"
            } else {
                "on the minute"
            },
            r.points,
            r.line_bytes as f64 / r.points as f64,
            r.gzip_bytes as f64 / r.points as f64,
            r.shard_bytes as f64 / r.points as f64,
            r.shard_bytes as f64 / f64::from(r.nodes) / 1024.0,
            r.tsm_files,
            r.series_file_bytes as f64 / 1_048_576.0,
            r.series_file_allocated as f64 / 1024.0,
            r.wal_bytes,
        );
    }
}
