//! The end-to-end runs: mosquitto's own pass-through, and the collector into InfluxDB 1.6 and
//! VictoriaMetrics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tempfile::TempDir;

use crate::support::{Influx1, Mosquitto, MosquittoOptions, VictoriaMetrics, free_port};
use crate::workload::Workload;
use crate::{Args, Row};

/// Broker-side limit on unacknowledged messages per client; the collector's `max_unacked`.
pub const MAX_INFLIGHT: usize = 10_000;

/// mosquitto as the collector's docs configure it.
pub async fn broker() -> Result<Mosquitto> {
    Mosquitto::start(MosquittoOptions {
        max_inflight_messages: MAX_INFLIGHT,
        ..MosquittoOptions::default()
    })
    .await
}

/// Publishes every message over `connections` QoS 1 connections as fast as the broker takes them;
/// returns when the broker has acknowledged all. The clock starts at the first publish.
pub async fn publish_all(
    port: u16,
    messages: Vec<(String, Vec<u8>)>,
    args: &Args,
    name: &str,
) -> Result<Instant> {
    let connections = args.publishers;
    let mut parts: Vec<Vec<(String, Vec<u8>)>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, m) in messages.into_iter().enumerate() {
        parts[i % connections].push(m);
    }
    let mut clients = Vec::new();
    for (c, part) in parts.into_iter().enumerate() {
        let mut options = MqttOptions::new(format!("{name}-pub-{c}"), "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(60))
            .set_inflight(args.publisher_inflight)
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 1_000);
        let want = part.len() as u64;
        let acked = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&acked);
        let poller = tokio::spawn(async move {
            while counter.load(Ordering::Relaxed) < want {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("publisher: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            eventloop
        });
        clients.push((client, part, poller));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (client, part, poller) in clients {
        tasks.push(tokio::spawn(async move {
            for (topic, payload) in part {
                client.publish(topic, QoS::AtLeastOnce, false, payload).await?;
            }
            let mut eventloop = poller.await?;
            client.disconnect().await?;
            let _ = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await;
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started)
}

/// mosquitto alone: N publishers -> broker -> one QoS 1 subscriber that acks on receipt.
pub async fn passthrough(args: &Args) -> Result<Row> {
    let broker = broker().await?;
    let mut options = MqttOptions::new("bench-sink", "127.0.0.1", broker.port());
    options
        .set_keep_alive(Duration::from_secs(60))
        .set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, 1_000);
    client.subscribe("bench/#", QoS::AtLeastOnce).await?;
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = eventloop.poll().await? {
            break;
        }
    }
    let want = args.frames as u64;
    let receiver = tokio::spawn(async move {
        let mut got = 0u64;
        while got < want {
            if let Ok(Event::Incoming(Packet::Publish(_))) = eventloop.poll().await {
                got += 1;
            }
        }
        (Instant::now(), got)
    });
    let messages = (0..args.frames)
        .map(|i| (format!("bench/{}", i % 100), vec![0x5a; 48]))
        .collect();
    let started = publish_all(broker.port(), messages, args, "passthrough").await?;
    let (done, got) = receiver.await?;
    let row = Row {
        what: format!(
            "mosquitto QoS 1 pass-through ({} publishers, {} in flight each -> 1 subscriber)",
            args.publishers, args.publisher_inflight
        ),
        frames: args.frames,
        seconds: (done - started).as_secs_f64(),
        lost: args.frames as i64 - got as i64,
        rss_mb: None,
        note: "48-byte payloads, subscriber acks on receipt; the ceiling".into(),
    };
    eprintln!("{row:?}");
    Ok(row)
}

/// The release collector binary beside this example (`target/release/citysense-collector`).
fn collector_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("citysense-collector"))
        .context("locating the collector binary")?;
    if !bin.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p collector`",
            bin.display()
        );
    }
    Ok(bin)
}

pub struct CollectorRun {
    child: Child,
    pub metrics_url: String,
    _dir: TempDir,
}

impl CollectorRun {
    pub fn start(sink: collector::config::SinkConfig, mqtt_port: u16, workload: &Workload) -> Result<Self> {
        Self::start_member(sink, mqtt_port, workload, "bench-collector", None)
    }

    /// A collector under `client_id`, in the shared subscription `$share/{group}/...` when a
    /// group is given; its own spool, dead letters and HTTP port, as every member needs.
    pub fn start_member(
        sink: collector::config::SinkConfig,
        mqtt_port: u16,
        workload: &Workload,
        client_id: &str,
        shared_group: Option<&str>,
    ) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("bench-collector-").tempdir()?;
        // CSV: a 10,000-node TOML registry costs ~30 MB of peak RSS while it is parsed.
        let registry = dir.path().join("nodes.csv");
        std::fs::write(&registry, workload.registry.to_csv())?;
        let http = free_port()?;
        let mut config = collector::config::Config {
            mqtt: service::mqtt::MqttConfig {
                shared_group: shared_group.map(str::to_owned),
                ..service::mqtt::MqttConfig::new("127.0.0.1", mqtt_port, client_id)
            },
            registry: collector::config::RegistryConfig { path: registry },
            sink,
            batch: collector::config::BatchConfig::default(),
            dead_letter: collector::config::DeadLetterConfig::at(dir.path().join("dl.jsonl")),
            spool: collector::config::SpoolConfig::at(dir.path().join("spool")),
            http: collector::config::HttpConfig {
                listen: ([127, 0, 0, 1], http).into(),
            },
            shutdown: collector::config::ShutdownConfig::default(),
        };
        config.batch.max_unacked = MAX_INFLIGHT;
        let path = dir.path().join("collector.toml");
        std::fs::write(&path, toml::to_string(&config)?)?;
        let log = std::fs::File::create(dir.path().join("collector.log"))?;
        let child = Command::new(collector_binary()?)
            .args(["run", "-c"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .envs(
                std::env::var("BENCH_COLLECTOR_ENV")
                    .ok()
                    .and_then(|kv| {
                        kv.split_once('=')
                            .map(|(k, v)| vec![(k.to_owned(), v.to_owned())])
                    })
                    .unwrap_or_default(),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        Ok(CollectorRun {
            child,
            metrics_url: format!("http://127.0.0.1:{http}"),
            _dir: dir,
        })
    }

    pub async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("{}/readyz", self.metrics_url)).await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the collector did not become ready")
    }

    pub async fn metric(&self, name: &str) -> Result<f64> {
        let text = reqwest::get(format!("{}/metrics", self.metrics_url))
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("citysense_collector_{name} ")))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("metric {name}"))
    }

    /// The sum of every sample of a metric (`rejected_total{reason=...}` has one per reason).
    pub async fn metric_sum(&self, name: &str) -> Result<f64> {
        let text = reqwest::get(format!("{}/metrics", self.metrics_url))
            .await?
            .text()
            .await?;
        let prefix = format!("citysense_collector_{name}");
        Ok(text
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter(|rest| rest.starts_with([' ', '{']))
            .filter_map(|rest| rest.rsplit_once(' ')?.1.parse::<f64>().ok())
            .fold(0.0, |sum, v| sum + v))
    }

    /// The collector's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds the collector has used (user + system).
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.child.id())
    }

    /// Resident set now (VmRSS) in MB.
    pub fn rss_mb(&self) -> Option<f64> {
        memory_mb(self.child.id(), "VmRSS")
    }

    /// Peak resident set (VmHWM) in MB.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        memory_mb(self.child.id(), "VmHWM")
    }

    pub fn stop(mut self) {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::TERM,
        );
        let _ = self.child.wait();
    }
}

/// A memory figure of `/proc/<pid>/status` (`VmRSS`, `VmHWM`: kB there) in MB.
pub fn memory_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds (user + system) process `pid` has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime), counted from after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Busy CPU seconds of the whole machine (all cores), from `/proc/stat`.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = cpu
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum::<f64>();
    Some(busy / 100.0)
}

/// Runs the collector against `sink` and waits until it has written every frame.
async fn run_collector(
    args: &Args,
    workload: &Workload,
    sink: collector::config::SinkConfig,
    name: &str,
) -> Result<(Instant, Instant, Option<f64>, String)> {
    let broker = broker().await?;
    let run = CollectorRun::start(sink, broker.port(), workload)?;
    run.wait_ready().await?;
    let messages = workload.messages();
    let (cpu_before, busy_before) = (
        run.cpu_seconds().unwrap_or(0.0),
        machine_busy_seconds().unwrap_or(0.0),
    );
    let started = publish_all(broker.port(), messages, args, name).await?;
    let want = workload.frames as f64;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut samples = 0u32;
    loop {
        samples += 1;
        if std::env::var("BENCH_TRACE").is_ok() && samples.is_multiple_of(10) {
            eprintln!(
                "  rss {:.1} MB, unacked {}, written {}, acked {}",
                run.rss_mb().unwrap_or_default(),
                run.metric("unacked_messages").await.unwrap_or_default(),
                run.metric("written_total").await.unwrap_or_default(),
                run.metric("acked_total").await.unwrap_or_default()
            );
        }
        let written = run.metric("written_total").await.unwrap_or(0.0);
        if written >= want {
            break;
        }
        if Instant::now() > deadline {
            bail!("{name}: the collector wrote {written} of {want} within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = Instant::now();
    let rss = run.peak_rss_mb();
    let cpu = run.cpu_seconds().unwrap_or(0.0) - cpu_before;
    let busy = machine_busy_seconds().unwrap_or(0.0) - busy_before;
    let cpu_note = format!(
        "collector CPU {:.2} µs/frame ({:.0} % of the machine's busy time)",
        cpu * 1e6 / workload.frames as f64,
        100.0 * cpu / busy.max(1e-9)
    );
    run.stop();
    Ok((started, done, rss, cpu_note))
}

/// The collector's v1 sink into the `bench` database of `influx`.
pub fn influx1_sink(influx: &Influx1) -> collector::config::SinkConfig {
    collector::config::SinkConfig::InfluxV1 {
        url: influx.url(),
        database: "bench".into(),
        retention_policy: None,
        username: None,
        password: None,
        password_file: None,
        gzip: gzip(),
        timeout_ms: 30_000,
    }
}

pub async fn ours_influx1(args: &Args, workload: &Workload) -> Result<Row> {
    let influx = Influx1::start().await?;
    influx.create_database("bench").await?;
    let sink = influx1_sink(&influx);
    let (started, done, rss, cpu) = run_collector(args, workload, sink, "influx1").await?;
    let stored = influx_count(&influx).await?;
    let row = Row {
        what: format!(
            "collector -> InfluxDB 1.6 (v1 API), {} publishers, {} in flight each",
            args.publishers, args.publisher_inflight
        ),
        frames: workload.frames,
        seconds: (done - started).as_secs_f64(),
        lost: workload.frames as i64 - stored,
        rss_mb: rss,
        note: format!(
            "{} nodes (CSV registry), batches of 2,000, gzip {}, ack after the write; {cpu}; stored {stored}",
            workload.registry.len(),
            if gzip() { "on" } else { "off" }
        ),
    };
    eprintln!("{row:?}");
    Ok(row)
}

pub async fn ours_victoria(args: &Args, workload: &Workload) -> Result<Row> {
    let victoria = VictoriaMetrics::start().await?;
    let sink = collector::config::SinkConfig::InfluxV2 {
        url: victoria.url(),
        org: "bench".into(),
        bucket: "bench".into(),
        token: service::Secret::new("unused"),
        token_file: None,
        gzip: gzip(),
        timeout_ms: 30_000,
    };
    let (started, done, rss, cpu) = run_collector(args, workload, sink, "victoria").await?;
    let stored = victoria_count(&victoria).await?;
    let row = Row {
        what: format!(
            "collector -> VictoriaMetrics (v2 API, influxdb2 crate), {} publishers, {} in flight each",
            args.publishers, args.publisher_inflight
        ),
        frames: workload.frames,
        seconds: (done - started).as_secs_f64(),
        lost: workload.frames as i64 - stored as i64,
        rss_mb: rss,
        note: format!("same, through /api/v2/write; {cpu}; stored {stored}"),
    };
    eprintln!("{row:?}");
    Ok(row)
}

/// gzip on the write requests: on by default (the collector's default); `BENCH_GZIP=0` turns it
/// off, which suits loopback, where it costs CPU on both sides and saves no time.
pub fn gzip() -> bool {
    std::env::var("BENCH_GZIP").map_or(true, |v| v != "0")
}

/// Samples of `air_quality_seq` in VictoriaMetrics (one per stored frame).
pub async fn victoria_count(victoria: &VictoriaMetrics) -> Result<u64> {
    victoria.force_flush().await?;
    let series = victoria.export(r#"{__name__="air_quality_seq"}"#).await?;
    Ok(series.iter().map(|s| s.values.len() as u64).sum())
}

/// The same through the query API (cheap enough to poll).
pub async fn victoria_count_fast(victoria: &VictoriaMetrics) -> Result<u64> {
    let _ = victoria.force_flush().await;
    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/query", victoria.url()))
        .query(&[
            ("query", "sum(count_over_time(air_quality_seq[1d]))"),
            ("nocache", "1"),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(answer["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

/// InfluxDB 1.6 alone: the collector's exact points for the workload, built and (as the collector
/// does) gzipped before the clock starts, written in batches of 2,000 by two concurrent writers,
/// as the collector's defaults do. What the database takes with the whole machine to itself.
pub async fn influx_alone(workload: &Workload) -> Result<Row> {
    use std::io::Write;

    let influx = Influx1::start().await?;
    influx.create_database("bench").await?;
    let mut bodies = Vec::new();
    let mut lines = String::new();
    for i in 0..workload.frames {
        let frame = workload.frame(i);
        let node = workload.registry.get(frame.node_id).context("registered node")?;
        collector::sink::line_protocol::write_point(&mut lines, &frame, node, 0);
        if (i + 1) % 2_000 == 0 || i + 1 == workload.frames {
            let body = if gzip() {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(lines.as_bytes())?;
                encoder.finish()?
            } else {
                lines.as_bytes().to_vec()
            };
            bodies.push(body);
            lines.clear();
        }
    }
    let url = format!("{}/write?db=bench&precision=ms", influx.url());
    let client = reqwest::Client::new();
    let queue = Arc::new(std::sync::Mutex::new(bodies.into_iter()));
    let started = Instant::now();
    let mut writers = Vec::new();
    for _ in 0..2 {
        let (queue, client, url) = (Arc::clone(&queue), client.clone(), url.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.next();
                let Some(body) = next else {
                    return Ok::<_, anyhow::Error>(());
                };
                let mut request = client.post(&url).body(body);
                if gzip() {
                    request = request.header("Content-Encoding", "gzip");
                }
                let response = request.send().await?;
                if !response.status().is_success() {
                    bail!(
                        "InfluxDB answered {}: {}",
                        response.status(),
                        response.text().await?
                    );
                }
            }
        }));
    }
    for writer in writers {
        writer.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let stored = influx_count(&influx).await?;
    let row = Row {
        what: "InfluxDB 1.6 alone: the same points, prebuilt, 2 writers".into(),
        frames: workload.frames,
        seconds,
        lost: workload.frames as i64 - stored,
        rss_mb: None,
        note: format!(
            "no MQTT, no collector: batches of 2,000, gzip {}; the database's own ceiling for these 15-field points",
            if gzip() { "on" } else { "off" }
        ),
    };
    eprintln!("{row:?}");
    Ok(row)
}

/// Air points in the bench database.
pub async fn influx_count(influx: &Influx1) -> Result<i64> {
    let answer = influx
        .query("bench", "SELECT count(seq) FROM air_quality")
        .await?;
    Ok(answer["results"][0]["series"][0]["values"][0][1]
        .as_i64()
        .unwrap_or(0))
}
