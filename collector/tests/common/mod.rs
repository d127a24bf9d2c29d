//! What the collector's integration tests share: mosquitto with the settings the collector
//! documents and InfluxDB (`bed`), a stream of signed frames from simulated nodes, the collector
//! in-process or as its own process, and the check that every published frame is in InfluxDB
//! exactly once.
//!
//! Each test file includes this with `mod common;` beside `mod support;` (the parts of the
//! workspace's real-service harness the collector uses).

#![allow(dead_code, unused_imports, clippy::print_stderr)]

pub mod bed;
pub mod check;
pub mod process;
pub mod stream;

use std::path::{Path, PathBuf};
use std::time::Duration;

use collector::config::{
    BatchConfig, Config, DeadLetterConfig, HttpConfig, RegistryConfig, ShutdownConfig, SinkConfig,
    SpoolConfig,
};
use protocol::NodeKey;
use protocol::registry::{NodeInfo, Registry, StationKind};
use service::mqtt::MqttConfig;

pub use crate::support::InProcess;
pub use bed::{Bed, MAX_UNACKED};
pub use check::{StoredPoint, stored_points, verify_exactly_once, wait_for_points};
pub use process::CollectorProcess;
pub use stream::{NodeStream, StreamConfig};

/// The InfluxDB database the tests write to.
pub const DATABASE: &str = "citysense";

/// `count` air nodes (ids from 101), each with its own key.
pub fn registry(count: u32) -> Registry {
    let nodes = (0..count).map(|i| NodeInfo {
        id: 101 + i,
        station: format!("T-{i:03}"),
        name: format!("test station {i}"),
        kind: StationKind::Air,
        district: ["Vi Thanh", "Nga Bay", "Long My"][i as usize % 3].into(),
        location: None,
        key: Some(NodeKey::new([(i % 251) as u8 + 1; 32])),
    });
    Registry::from_nodes(nodes).expect("unique ids")
}

/// A collector config for tests: v1 sink to `influx_url`, its spool and dead letters in `dir`,
/// HTTP on a free port.
pub fn config(mqtt_port: u16, client_id: &str, registry_path: &Path, influx_url: &str, dir: &Path) -> Config {
    Config {
        mqtt: MqttConfig::new("127.0.0.1", mqtt_port, client_id),
        registry: RegistryConfig {
            path: registry_path.to_owned(),
        },
        sink: SinkConfig::InfluxV1 {
            url: influx_url.to_owned(),
            database: DATABASE.into(),
            retention_policy: None,
            username: None,
            password: None,
            password_file: None,
            gzip: true,
            timeout_ms: 5_000,
        },
        batch: BatchConfig {
            max_frames: 200,
            max_age_ms: 100,
            max_unacked: MAX_UNACKED,
        },
        dead_letter: DeadLetterConfig::at(dir.join(format!("{client_id}-dead-letter.jsonl"))),
        spool: SpoolConfig::at(dir.join(format!("{client_id}-spool"))),
        http: HttpConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
        },
        shutdown: ShutdownConfig { grace_ms: 5_000 },
    }
}

/// Writes the registry as TOML into `dir` and returns its path.
pub fn write_registry(registry: &Registry, dir: &Path) -> PathBuf {
    let path = dir.join("nodes.toml");
    std::fs::write(&path, registry.to_toml()).expect("write registry");
    path
}

/// Publishes one QoS 1 message over a connection of its own made with `options`, waits (10 s at
/// most) for the broker's PUBACK, and disconnects.
///
/// # Errors
/// When the broker does not acknowledge it in time.
pub async fn publish_once(
    options: rumqttc::MqttOptions,
    topic: &str,
    payload: Vec<u8>,
) -> anyhow::Result<()> {
    use rumqttc::{AsyncClient, Event, Packet, QoS};
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    client.publish(topic, QoS::AtLeastOnce, false, payload).await?;
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await? {
                return Ok::<_, anyhow::Error>(());
            }
        }
    })
    .await??;
    client.disconnect().await?;
    let _ = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await;
    Ok(())
}

/// Polls `done` every 50 ms until it is true or `limit` passes.
pub async fn wait_until<F: FnMut() -> bool>(what: &str, limit: Duration, mut done: F) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
