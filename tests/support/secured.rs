//! What the broker-security tests share: a service's settings for the secured broker's TLS
//! listener, a node's signed frame, and what InfluxDB and the IOC API show of it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN, NodeKey};
use provision::Provisioner;
use provision::acl::Service;
use service::mqtt::{MqttConfig, TlsConfig};

use super::{Influx1, Mosquitto};

/// How long a frame may take to show up, or a refusal to happen.
const DEADLINE: Duration = Duration::from_secs(30);

/// A client certificate and its key.
pub type Identity = (PathBuf, PathBuf);

/// `service`'s broker settings: the TLS port, the server's certificate as the CA, its account
/// from `p`, and `identity` as its client certificate when given.
pub fn secured(
    mut mqtt: MqttConfig,
    mosquitto: &Mosquitto,
    server_cert: &Path,
    p: &Provisioner,
    service: Service,
    identity: Option<&Identity>,
) -> Result<MqttConfig> {
    mqtt.host = "localhost".into();
    mqtt.port = mosquitto.tls_port().context("a TLS listener")?;
    mqtt.tls = Some(TlsConfig {
        ca_file: server_cert.to_owned(),
        client_cert_file: identity.map(|(cert, _)| cert.clone()),
        client_key_file: identity.map(|(_, key)| key.clone()),
    });
    mqtt.username = Some(service.user().into());
    mqtt.password_file = Some(p.layout().secret(service));
    Ok(mqtt)
}

/// A frame of `node` signed with `key`; its PM2.5 (in 0.1 µg/m³) tells it apart.
pub fn signed_air_frame(node: u32, seq: u32, pm: u16, key: &NodeKey) -> Result<Vec<u8>> {
    let mut buf = [0u8; MAX_FRAME_LEN];
    let frame = Frame {
        node_id: node,
        boot: 1,
        seq,
        time_ms: simulators::clock::wall_ms(),
        body: Body::Air(AirSample {
            samples: 1,
            pm2_5: Some(pm),
            ..AirSample::default()
        }),
    };
    Ok(frame.encode(Some(key), &mut buf)?.to_vec())
}

/// PM2.5 points `database` holds for `station`.
pub async fn stored_pm2_5(influx: &Influx1, database: &str, station: &str) -> Result<Vec<f64>> {
    let result = influx
        .query(
            database,
            &format!("SELECT pm2_5 FROM air_quality WHERE station = '{station}'"),
        )
        .await?;
    Ok(result["results"][0]["series"][0]["values"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r[1].as_f64()).collect())
        .unwrap_or_default())
}

/// The PM2.5 of `station`'s latest reading in the IOC API at `url`.
pub async fn ioc_pm2_5(url: &str, station: &str) -> Result<Option<f64>> {
    let s: serde_json::Value = reqwest::get(format!("{url}/api/v1/stations/{station}"))
        .await?
        .json()
        .await?;
    Ok(s["reading"]["pm2_5"].as_f64())
}

/// Polls `done` every 200 ms until it says true, for at most [`DEADLINE`].
pub async fn wait_until<F, Fut>(what: &str, mut done: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done().await? {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
