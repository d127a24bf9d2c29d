//! The embedded MQTT broker (rumqttd) for running without external services.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use anyhow::Context;
use tracing::error;

/// Starts rumqttd on `listen` (MQTT 3.1.1, for the services) and on a free port of the same
/// address (MQTT 5, for the simulated nodes, whose firmware client speaks only 5) in a thread of
/// its own, waits until both accept connections, and returns the MQTT 5 address.
///
/// # Errors
///
/// If the broker config is refused or a port does not open within 10 s.
pub fn start(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    drop(TcpListener::bind(listen).with_context(|| {
        format!("cannot listen on {listen} for the embedded MQTT broker (is another broker running? try --mqtt-listen 127.0.0.1:0)")
    })?);
    let listen_v5 = TcpListener::bind(SocketAddr::new(listen.ip(), 0))
        .and_then(|l| l.local_addr())
        .context("no free port for the embedded broker's MQTT 5 listener")?;
    // rumqttd's own example config, with the listener on our address.
    let text = format!(
        r#"
        id = 0
        [router]
        id = 0
        max_connections = 10010
        max_outgoing_packet_count = 200
        max_segment_size = 104857600
        max_segment_count = 10

        [v4.1]
        name = "v4-1"
        listen = "{listen}"
        next_connection_delay_ms = 1
            [v4.1.connections]
            connection_timeout_ms = 60000
            max_payload_size = 20480
            max_inflight_count = 500
            dynamic_filters = true

        [v5.1]
        name = "v5-1"
        listen = "{listen_v5}"
        next_connection_delay_ms = 1
            [v5.1.connections]
            connection_timeout_ms = 60000
            max_payload_size = 20480
            max_inflight_count = 500
            dynamic_filters = true
        "#
    );
    let config: rumqttd::Config = toml::from_str(&text).context("embedded broker config")?;
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                error!(error = %e, "The embedded MQTT broker stopped.");
            }
        })?;
    // Ready once the port is taken. Probing with a connection instead would make the broker log
    // an aborted MQTT connect at every start.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpListener::bind(listen).is_ok() || TcpListener::bind(listen_v5).is_ok() {
        if Instant::now() > deadline {
            anyhow::bail!(
                "the embedded MQTT broker did not open {listen} (is the port taken? try --mqtt-port 0)"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(listen_v5)
}
