//! The collector's benchmark: a command that prints a table, not a test.
//!
//! ```sh
//! scripts/bench-collector            # installs the peers (Node-RED, Python) and runs everything
//! cargo run --release -p collector --example bench -- --help
//! ```
//!
//! What it measures, in one run on this machine:
//! 1. in-process cost per frame of the collector's hot path (verify + decode + replay window +
//!    line protocol + batch), over frames from 10,000 nodes;
//! 2. mosquitto's own QoS 1 pass-through (N publishers -> broker -> 1 subscriber, 48-byte
//!    payloads): the ceiling;
//! 3. InfluxDB 1.6 alone taking the collector's points for the workload (prebuilt, no MQTT): the
//!    database's own ceiling on this machine;
//! 4. end to end, N publishing connections -> mosquitto -> the collector (release binary, its own
//!    process) -> InfluxDB 1.6 (v1 API) and -> VictoriaMetrics (v2 API, influxdb2 crate), QoS 1,
//!    acking after the write, every frame checked in the database (zero loss), collector RSS;
//! 5. the same workload through two peers that ack on receipt: a Node-RED flow (mqtt in ->
//!    influxdb batch out, 1,000 points a write; it gets an equivalent JSON payload, Node-RED
//!    cannot read postcard) and a Python collector (paho-mqtt + influxdb-client, batches of
//!    5,000; it decodes and verifies the same postcard frames with `protocol/tools/frame_decoder.py`).
//!
//! Two modes instead of the table above:
//! - `--shared-collectors 1,2,4`: that many collectors (release binary, separate processes, own
//!   client ids) in one shared subscription `$share/collectors/...` into one InfluxDB 1.6
//!   database, each count from a fresh broker and database; wall time, frames/s, the collectors'
//!   CPU per frame (`/proc/<pid>/stat`), peak RSS and share of each, every point counted per node
//!   afterwards (lost, stored twice), and where the machine's CPU went;
//! - `--disk-per-day`: a day of one air station's frames (one a minute) and of `--disk-nodes`
//!   stations into InfluxDB 1.6, the shard measured after snapshot and compaction.

#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

#[path = "../../tests/support/mod.rs"]
mod support;

mod disk;
mod inprocess;
mod peers;
mod run;
mod shared;
mod workload;

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;

/// Benchmarks the collector against mosquitto's ceiling and two peers; prints a table.
#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Frames in each end-to-end run.
    #[arg(long, default_value_t = 1_000_000)]
    pub frames: usize,
    /// Simulated nodes (the registry size).
    #[arg(long, default_value_t = 10_000)]
    pub nodes: u32,
    /// Publishing MQTT connections.
    #[arg(long, default_value_t = 8)]
    pub publishers: usize,
    /// QoS 1 messages each publisher keeps unacknowledged. 1,000 pipelines hard enough to fill the
    /// two cores; 20 (paho-mqtt's default) is what a typical client sends, and leaves the broker
    /// rather than the CPU as the ceiling.
    #[arg(long, default_value_t = 1_000)]
    pub publisher_inflight: u16,
    /// Frames for the in-process measurement.
    #[arg(long, default_value_t = 2_000_000)]
    pub inprocess_frames: usize,
    /// Where `scripts/bench-collector` installed the peers (`node-red/`, `py/`); peers are skipped
    /// when absent.
    #[arg(long, default_value = "target/bench-peers")]
    pub peers_dir: PathBuf,
    /// Skip the peers.
    #[arg(long)]
    pub no_peers: bool,
    /// Only the in-process measurement.
    #[arg(long)]
    pub inprocess_only: bool,
    /// Only the shared-subscription runs: each count of collectors in turn (e.g. `1,2,4`), all in
    /// `$share/collectors/...`, into one InfluxDB 1.6 database.
    #[arg(long, value_delimiter = ',')]
    pub shared_collectors: Vec<usize>,
    /// Only the disk measurement: a day of frames (one a minute) of 1 and of `--disk-nodes`
    /// air stations into InfluxDB 1.6, measured after snapshot and compaction.
    #[arg(long)]
    pub disk_per_day: bool,
    /// Stations in the larger day of `--disk-per-day`.
    #[arg(long, default_value_t = 1_000)]
    pub disk_nodes: u32,
}

/// One line of the result table.
#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    pub frames: usize,
    pub seconds: f64,
    pub lost: i64,
    pub rss_mb: Option<f64>,
    pub note: String,
}

impl Row {
    fn rate(&self) -> f64 {
        self.frames as f64 / self.seconds
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    println!("load average at start: {}", load_average());
    if !args.shared_collectors.is_empty() || args.disk_per_day {
        if !args.shared_collectors.is_empty() {
            shared::report(&args, &args.shared_collectors).await?;
        }
        if args.disk_per_day {
            disk::print(&disk::measure(args.disk_nodes).await?);
        }
        println!("\nload average at the end: {}", load_average());
        return Ok(());
    }
    let ns = inprocess::measure(args.inprocess_frames, args.nodes);
    println!(
        "\nin-process cost per frame ({} frames from {} nodes): {}",
        args.inprocess_frames,
        args.nodes,
        ns.describe()
    );
    if args.inprocess_only {
        return Ok(());
    }
    let workload = workload::Workload::new(args.nodes, args.frames);
    let mut rows = Vec::new();
    rows.push(run::passthrough(&args).await?);
    rows.push(run::influx_alone(&workload).await?);
    rows.push(run::ours_influx1(&args, &workload).await?);
    rows.push(run::ours_victoria(&args, &workload).await?);
    if !args.no_peers {
        match peers::node_red(&args, &workload).await {
            Ok(row) => rows.push(row),
            Err(e) => eprintln!("Node-RED peer skipped: {e:#}"),
        }
        match peers::python(&args, &workload).await {
            Ok(row) => rows.push(row),
            Err(e) => eprintln!("Python peer skipped: {e:#}"),
        }
    }

    let ceiling = rows[0].rate();
    println!("\n| run | frames | seconds | frames/s | vs mosquitto | lost | RSS MB | notes |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for row in &rows {
        println!(
            "| {} | {} | {:.1} | {:.0} | {:.0} % | {} | {} | {} |",
            row.what,
            row.frames,
            row.seconds,
            row.rate(),
            100.0 * row.rate() / ceiling,
            row.lost,
            row.rss_mb.map_or("-".into(), |m| format!("{m:.1}")),
            row.note
        );
    }
    let ours = rows
        .iter()
        .find(|r| r.what.starts_with("collector -> VictoriaMetrics"));
    if let Some(ours) = ours {
        for peer in rows.iter().filter(|r| r.what.starts_with("peer")) {
            println!(
                "ratio collector (v2) / {}: {:.2}",
                peer.what,
                ours.rate() / peer.rate()
            );
        }
    }
    println!("\nin-process: {}", ns.describe());
    println!("load average at the end: {}", load_average());
    Ok(())
}

/// `/proc/loadavg`, to show whether something else was using the two cores.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
