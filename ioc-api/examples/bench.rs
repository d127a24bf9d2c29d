//! The IOC API's benchmarks, printed as a table (docs/BENCHMARKS.md, "IOC API"):
//!
//! 1. frame-to-SSE alert latency at a target frame rate through a real mosquitto: publishers
//!    send telemetry at `--rate` frames/s over `--stations` stations; every 50 ms one station gets
//!    a frame above a `latest` trigger, and the time from its PUBLISH to the `alert` event on
//!    `/api/v1/stream` is recorded (p50, p99, max);
//! 2. memory per station: resident memory before and after 10 000 stations each hold every air
//!    parameter's history buffers;
//! 3. `GET /api/v1/stations` throughput with wrk (Debian package `wrk`) for 12 and 1 000
//!    stations.
//!
//! `cargo run --release -p ioc-api --example bench -- --help`. Needs `mosquitto` and `wrk`
//! (`scripts/test ioc_tools` installs wrk; mosquitto comes with the test services).
// A benchmark prints its table on stdout.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures::StreamExt;
use ioc_api::store::Store;
use ioc_api::{AppState, Config, IocApi};
use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use service::mqtt::MqttConfig;
use tokio_util::sync::CancellationToken;

/// Measures the IOC API: alert latency under load, memory per station, stations throughput.
#[derive(Parser)]
struct Args {
    /// Telemetry frames per second for the latency run.
    #[arg(long, default_value_t = 10_000)]
    rate: u32,
    /// Stations in the latency run.
    #[arg(long, default_value_t = 1_000)]
    stations: u32,
    /// Length of the latency run, seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Stations for the memory measurement.
    #[arg(long, default_value_t = 10_000)]
    memory_stations: u32,
    /// wrk duration per case, seconds.
    #[arg(long, default_value_t = 10)]
    wrk_seconds: u64,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Broker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto() -> Result<Broker> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\nmax_queued_messages 0\npersistence false\n"
        ),
    )?;
    let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .context("mosquitto not found: apt-get install mosquitto")?;
    let child = Command::new(binary)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("mosquitto did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Broker {
        child,
        port,
        _dir: dir,
    })
}

fn registry(n: u32) -> Result<Registry> {
    Ok(Registry::from_nodes((0..n).map(|i| NodeInfo {
        id: 1_000 + i,
        station: format!("BENCH-{i:05}"),
        name: format!("Bench station {i}"),
        kind: StationKind::Air,
        district: format!("District {}", i % 8),
        location: Some((
            105.4 + f64::from(i % 100) * 0.001,
            9.7 + f64::from(i / 100) * 0.001,
        )),
        key: None,
    }))?)
}

fn frame(node: u32, seq: u32, time_ms: u64, pm2_5_deci: u16) -> Result<Vec<u8>> {
    let f = Frame {
        node_id: node,
        boot: 1,
        seq,
        time_ms,
        body: Body::Air(AirSample {
            samples: 12,
            pm1_0: Some(pm2_5_deci / 2),
            pm2_5: Some(pm2_5_deci),
            pm10: Some(pm2_5_deci * 2),
            temperature: Some(2_950),
            humidity: Some(8_000),
            ..AirSample::default()
        }),
    };
    let mut buf = [0u8; MAX_FRAME_LEN];
    Ok(f.encode(None, &mut buf)?.to_vec())
}

fn wall_ms() -> u64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn start_api(
    broker: &Broker,
    registry: &Registry,
    db: PathBuf,
) -> Result<(String, Arc<AppState>, CancellationToken)> {
    let mut config = Config::new(
        "127.0.0.1:0".parse()?,
        MqttConfig::new("127.0.0.1", broker.port, format!("bench-ioc-{}", free_port()?)),
        PathBuf::from("unused"),
        db,
    );
    config.alerts.mqtt = false;
    let api = IocApi::bind(config, registry.clone()).await?;
    let url = format!("http://{}", api.local_addr()?);
    let state = api.state();
    let mut subscribed = state.subscribed();
    let stop = CancellationToken::new();
    tokio::spawn(api.run(stop.clone().cancelled_owned()));
    tokio::time::timeout(Duration::from_secs(30), subscribed.wait_for(|s| *s)).await??;
    Ok((url, state, stop))
}

/// Latency of alert events under load.
async fn latency(args: &Args) -> Result<(usize, f64, f64, f64, f64)> {
    let broker = mosquitto()?;
    let registry = registry(args.stations)?;
    let dir = tempfile::tempdir()?;
    let (url, state, stop) = start_api(&broker, &registry, dir.path().join("bench.sqlite")).await?;
    let admin = state
        .create_token("bench", ioc_api::auth::Role::Admin, "bench")?
        .context("token")?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let rule = serde_json::json!({"parameter": "pm2_5", "scope": "all", "window": "latest", "level": "critical",
        "direction": "above", "trigger": 500.0, "recovery": 100.0, "stale_after_s": 0});
    let created = http
        .post(format!("{url}/api/v1/thresholds"))
        .bearer_auth(&admin)
        .json(&rule)
        .send()
        .await?;
    if !created.status().is_success() {
        bail!("rule: {}", created.text().await?);
    }

    // Crossing frames: station → when its PUBLISH was handed to the client.
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let samples: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut stream = http
        .get(format!("{url}/api/v1/stream"))
        .send()
        .await?
        .bytes_stream();
    let (sent_rx, samples_tx) = (Arc::clone(&sent), Arc::clone(&samples));
    let reader = tokio::spawn(async move {
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            let received = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if !block.contains("event: alert") {
                    continue;
                }
                let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                    continue;
                };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
                    continue;
                };
                if v["transition"] == "fired"
                    && let Some(station) = v["station"].as_str()
                    && let Some(t0) = sent_rx.lock().unwrap_or_else(|p| p.into_inner()).remove(station)
                {
                    samples_tx
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(received.duration_since(t0).as_secs_f64() * 1e3);
                }
            }
        }
    });

    let publishers = 4u32;
    let per_tick = (args.rate / publishers / 100).max(1); // 10 ms ticks
    let nodes: Vec<u32> = registry.nodes().map(|n| n.id).collect();
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let accepted_before = state.accepted();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let mut options = MqttOptions::new(format!("bench-pub-{p}"), "127.0.0.1", broker.port);
        options.set_max_packet_size(4096, 4096).set_inflight(1_000);
        let (client, mut eventloop) = AsyncClient::new(options, 10_000);
        tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
        let my_nodes: Vec<u32> = nodes.iter().copied().filter(|n| n % publishers == p).collect();
        let sent = Arc::clone(&sent);
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let (mut seq, mut i, mut last_cross) = (0u32, 0usize, Instant::now());
            while Instant::now() < until {
                tick.tick().await;
                for _ in 0..per_tick {
                    let node = my_nodes[i % my_nodes.len()];
                    i += 1;
                    seq += 1;
                    let station = registry.get(node).map(|n| n.station.clone()).unwrap_or_default();
                    let crossing = p == 0 && last_cross.elapsed() >= Duration::from_millis(50);
                    let pm = if crossing { 6_000 } else { 200 };
                    let topic = NodeTopic {
                        prefix: DEFAULT_PREFIX,
                        node_id: node,
                        channel: NodeChannel::Telemetry,
                    }
                    .to_string();
                    let Ok(payload) = frame(node, seq, wall_ms(), pm) else {
                        continue;
                    };
                    if crossing {
                        last_cross = Instant::now();
                        sent.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(station, Instant::now());
                    }
                    if client
                        .publish(topic, QoS::AtLeastOnce, false, payload)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let accepted = state.accepted() - accepted_before;
    reader.abort();
    stop.cancel();
    let mut s = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    s.sort_by(f64::total_cmp);
    Ok((
        s.len(),
        accepted as f64 / elapsed,
        percentile(&s, 0.5),
        percentile(&s, 0.99),
        s.last().copied().unwrap_or(f64::NAN),
    ))
}

fn rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")
}

/// Resident memory per station with every air parameter tracked, a day of hourly history, and the
/// station's replay window.
fn memory(stations: u32) -> Result<f64> {
    let registry = registry(stations)?;
    let mut config = Config::new(
        "127.0.0.1:0".parse()?,
        MqttConfig::new("127.0.0.1", 1, "x"),
        PathBuf::from("x"),
        PathBuf::from(":memory:"),
    );
    // The stream's replay buffer (alerts.replay_events × the size of a station view) is a fixed
    // cost, not a per-station one: keep it out of the per-station figure.
    config.alerts.replay_events = 1;
    let before = rss_kib()?;
    let state = AppState::new(&config, &registry, Store::in_memory()?)?;
    let now = time::OffsetDateTime::now_utc();
    let t0 = wall_ms() - 24 * 3_600_000;
    for node in registry.nodes() {
        // One frame per hour for a day: every hourly bucket of every tracked parameter in use.
        for h in 0..24u64 {
            let f = Frame {
                node_id: node.id,
                boot: 1,
                seq: h as u32,
                time_ms: t0 + h * 3_600_000,
                body: Body::Air(AirSample {
                    samples: 12,
                    pm1_0: Some(100),
                    pm2_5: Some(200),
                    pm10: Some(400),
                    temperature: Some(2_950),
                    humidity: Some(8_000),
                    pressure: Some(10_100),
                    co: Some(500),
                    no2: Some(300),
                    so2: Some(100),
                    o3: Some(600),
                    ..AirSample::default()
                }),
            };
            // Through the replay window, as frames from MQTT go: it holds a node's recent frames.
            let mut buf = [0u8; MAX_FRAME_LEN];
            let payload = f.encode(node.key.as_ref(), &mut buf)?;
            state.receive(&f, node, payload, false, false, now);
        }
    }
    let after = rss_kib()?;
    drop(state);
    Ok((after.saturating_sub(before)) as f64 * 1024.0 / f64::from(stations))
}

/// wrk against `/api/v1/stations` with `n` stations holding readings.
async fn throughput(n: u32, seconds: u64) -> Result<(f64, String)> {
    let broker = mosquitto()?;
    let registry = registry(n)?;
    let dir = tempfile::tempdir()?;
    let (url, state, stop) = start_api(&broker, &registry, dir.path().join("wrk.sqlite")).await?;
    let now = time::OffsetDateTime::now_utc();
    let t0 = wall_ms() - 3 * 3_600_000;
    for node in registry.nodes() {
        for m in (0..180u64).step_by(5) {
            let f = Frame {
                node_id: node.id,
                boot: 1,
                seq: m as u32,
                time_ms: t0 + m * 60_000,
                body: Body::Air(AirSample {
                    samples: 12,
                    pm2_5: Some(250),
                    pm10: Some(500),
                    temperature: Some(2_900),
                    humidity: Some(8_000),
                    ..AirSample::default()
                }),
            };
            state.ingest(&f, node, now);
        }
    }
    let body_len = reqwest::get(format!("{url}/api/v1/stations"))
        .await?
        .bytes()
        .await?
        .len();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("wrk")
            .args([
                "-t2",
                "-c32",
                &format!("-d{seconds}s"),
                "--latency",
                &format!("{url}/api/v1/stations"),
            ])
            .output()
    })
    .await??;
    stop.cancel();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("wrk output: {text}"))?;
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .map(|l| l.trim().trim_start_matches("99%").trim().to_owned())
        .unwrap_or_default();
    Ok((rps, format!("{} KiB body, p99 {p99}", body_len / 1024)))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let (samples, rate, p50, p99, max) = latency(&args).await?;
    let per_station = memory(args.memory_stations)?;
    let small = throughput(12, args.wrk_seconds).await?;
    let large = throughput(1_000, args.wrk_seconds).await?;
    println!("| measure | setting | result |");
    println!("|---|---|---|");
    println!(
        "| frame-to-SSE alert latency | {} stations, {rate:.0} frames/s achieved (target {}), {samples} alerts | p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms |",
        args.stations, args.rate
    );
    println!(
        "| memory per station | {} air stations, every parameter, 24 h of history | {:.0} bytes ({:.2} KiB) |",
        args.memory_stations,
        per_station,
        per_station / 1024.0
    );
    println!(
        "| GET /api/v1/stations | 12 stations, wrk -t2 -c32 {}s | {:.0} req/s ({}) |",
        args.wrk_seconds, small.0, small.1
    );
    println!(
        "| GET /api/v1/stations | 1000 stations, wrk -t2 -c32 {}s | {:.0} req/s ({}) |",
        args.wrk_seconds, large.0, large.1
    );
    Ok(())
}
