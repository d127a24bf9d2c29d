//! Sending downlink commands the way the IOC API will: sign with the node's key
//! (`protocol::command`) and publish with QoS 1 on the node's command topic, here with the same
//! MQTT client the nodes use.

use std::time::Duration;

use anyhow::{Context, bail};
use minimq::{Buffers, ConfigBuilder, Publication, QoS, Session};
use protocol::command::{Command, SignedCommand};
use protocol::registry::Registry;
use protocol::topic::{NodeChannel, NodeTopic};

use crate::net::TcpIo;

/// How long the broker may take to acknowledge.
const ACK_DEADLINE: Duration = Duration::from_secs(10);

/// Signs `command` for `node_id` with its registered key and publishes it (QoS 1) to the broker at
/// `host:port` under `prefix`. `counter` must exceed the last one the node accepted; the caller's
/// clock in ms since the epoch is the usual choice. Returns the bytes sent.
///
/// # Errors
///
/// An unknown or keyless node, an invalid command, or a broker that does not acknowledge.
pub async fn send(
    host: &str,
    port: u16,
    prefix: &str,
    registry: &Registry,
    node_id: u32,
    counter: u64,
    command: Command,
) -> anyhow::Result<Vec<u8>> {
    let node = registry
        .get(node_id)
        .with_context(|| format!("node {node_id} is not in the registry"))?;
    let key = node
        .key
        .as_ref()
        .with_context(|| format!("node {node_id} has no key: it obeys no command"))?;
    let bytes = SignedCommand {
        node_id,
        counter,
        command,
    }
    .to_bytes(key)?;
    let topic = NodeTopic {
        prefix,
        node_id,
        channel: NodeChannel::Command,
    }
    .to_string();

    let (mut rx, mut tx) = ([0u8; 256], [0u8; 512]);
    let config = ConfigBuilder::new(Buffers::new(&mut rx, &mut tx))
        .client_id(&format!("citysense-sim-cmd-{node_id}"))
        .map_err(|e| anyhow::anyhow!("client id: {e}"))?;
    let mut session = Session::new(config);
    let io = TcpIo::connect(host, port)
        .await
        .with_context(|| format!("cannot connect to the broker at {host}:{port}"))?;
    let mut conn = session
        .connect(io)
        .await
        .map_err(|e| anyhow::anyhow!("MQTT connect: {e}"))?;
    let op = conn
        .publish(Publication::bytes(&topic, &bytes).qos(QoS::AtLeastOnce))
        .await
        .map_err(|e| anyhow::anyhow!("publish: {e:?}"))?
        .context("a QoS 1 publish has an operation")?;
    let acked = tokio::time::timeout(ACK_DEADLINE, async {
        while !conn.is_complete(&op) {
            conn.poll().await.map_err(|e| anyhow::anyhow!("MQTT: {e}"))?;
        }
        Ok::<_, anyhow::Error>(())
    })
    .await;
    match acked {
        Ok(result) => result?,
        Err(_) => bail!("the broker did not acknowledge the command within {ACK_DEADLINE:?}"),
    }
    let _ = conn.disconnect().await;
    Ok(bytes)
}
