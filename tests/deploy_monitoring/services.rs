//! The services, in-process: the ports their example configs listen on, and the relay started
//! from its example config.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use protocol::registry::Registry;
use service::mqtt::MqttConfig;
use tokio_util::sync::CancellationToken;

use crate::support::{Mosquitto, free_port};

/// The port of `http.listen` in a service's example config (parsed and validated as the service
/// does).
pub(super) fn example_port<T>(text: &str, listen: fn(&T) -> std::net::SocketAddr) -> Result<u16>
where
    T: serde::de::DeserializeOwned + service::config::Validate,
{
    Ok(listen(&service::config::from_toml::<T>(text)?).port())
}

/// Starts the relay from its example config with one receiver (nothing listens there; no file is
/// made, so it is never tried), once subscribed.
pub(super) async fn start_relay(
    mosquitto: &Mosquitto,
    registry: &Registry,
    registry_path: &Path,
    dir: &Path,
) -> Result<(
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<Result<()>>,
)> {
    // Design: the example config plus one [[receiver]] table rather than a struct literal, so
    // the relay runs the documented defaults; a receiver is needed for the per-receiver series.
    let text = format!(
        "{}\n[[receiver]]\nname = \"authority\"\nprotocol = \"ftp\"\nhost = \"127.0.0.1\"\n\
         port = {}\nusername = \"citysense\"\npassword = \"unused\"\n",
        relay::config::DEFAULT_CONFIG,
        free_port()?
    );
    let mut config: relay::Config = service::config::from_toml(&text)?;
    config.mqtt = MqttConfig::new(mosquitto.host(), mosquitto.port(), "monitoring-relay");
    config.registry.path = registry_path.to_owned();
    config.outbox.path = dir.join("relay-outbox");
    config.http.listen = ([127, 0, 0, 1], 0).into();
    let relay = relay::Relay::new(config, registry.clone())?;
    let addr = relay.http_addr()?;
    let mut subscribed = relay.subscribed();
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));
    tokio::time::timeout(Duration::from_secs(30), subscribed.wait_for(|s| *s))
        .await
        .context("the relay did not subscribe within 30 s")??;
    Ok((addr, stop, task))
}
