//! A steady stream of signed air frames from simulated nodes, published with QoS 1 over a few
//! connections. Every frame is remembered; [`NodeStream::finish`] waits until the broker has
//! acknowledged them all (reconnecting and resending across a broker restart, as rumqttc does).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use protocol::registry::Registry;
use protocol::topic::{NodeChannel, NodeTopic};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// How to stream.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Broker port on 127.0.0.1.
    pub port: u16,
    /// Frames per second over all nodes.
    pub rate: u32,
    /// Stop after this many frames per node.
    pub frames_per_node: u32,
    /// MQTT connections to publish over.
    pub connections: usize,
    /// Boot counter the nodes report.
    pub boot: u32,
}

/// One published frame: what must be in InfluxDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Published {
    /// Node id.
    pub node: u32,
    /// The node's timestamp (the point's time).
    pub time_ms: u64,
    /// Boot counter.
    pub boot: u32,
    /// Sequence number.
    pub seq: u32,
}

/// A running stream.
pub struct NodeStream {
    published: Arc<Mutex<Vec<Published>>>,
    acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<Result<()>>,
    pollers: Vec<JoinHandle<()>>,
    clients: Vec<AsyncClient>,
}

/// The node clock of frame `seq`: an hour ago plus a second per frame, so every point of a node
/// has its own time and none is in the future.
pub fn frame_time(start_ms: u64, seq: u32) -> u64 {
    start_ms + u64::from(seq) * 1_000
}

/// The signed bytes of frame (`boot`, `seq`) from `node`.
pub fn frame_bytes(registry: &Registry, node: u32, boot: u32, seq: u32, time_ms: u64) -> Vec<u8> {
    let info = registry.get(node).expect("registered node");
    let frame = Frame {
        node_id: node,
        boot,
        seq,
        time_ms,
        body: Body::Air(AirSample {
            samples: 6,
            pm2_5: Some((seq % 2_000) as u16),
            pm10: Some((seq % 3_000) as u16),
            temperature: Some(2_950),
            ..AirSample::default()
        }),
    };
    let mut buf = [0u8; MAX_FRAME_LEN];
    frame
        .encode(info.key.as_ref(), &mut buf)
        .expect("valid frame")
        .to_vec()
}

fn topic(node: u32) -> String {
    NodeTopic {
        prefix: protocol::topic::DEFAULT_PREFIX,
        node_id: node,
        channel: NodeChannel::Telemetry,
    }
    .to_string()
}

impl NodeStream {
    /// Starts publishing every node's frames round-robin at `config.rate` frames/s.
    pub fn start(registry: &Registry, config: StreamConfig, name: &str) -> Self {
        let start_ms = wall_ms() - 3_600_000;
        let nodes: Vec<u32> = registry.nodes().map(|n| n.id).collect();
        let acked = Arc::new(AtomicU64::new(0));
        let mut clients = Vec::new();
        let mut pollers = Vec::new();
        for c in 0..config.connections {
            let mut options = MqttOptions::new(format!("{name}-pub-{c}"), "127.0.0.1", config.port);
            options
                .set_keep_alive(Duration::from_secs(30))
                .set_clean_session(false)
                .set_inflight(1_000);
            let (client, mut eventloop) = AsyncClient::new(options, 1_000);
            let acked = Arc::clone(&acked);
            pollers.push(tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }));
            clients.push(client);
        }
        let published = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let registry = registry.clone();
            let clients = clients.clone();
            let published = Arc::clone(&published);
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let tick = Duration::from_millis(10);
                let per_tick = (config.rate as f64 / 100.0).max(0.01);
                let mut due = 0.0;
                let mut interval = tokio::time::interval(tick);
                let mut next = 0usize;
                let total = nodes.len() * config.frames_per_node as usize;
                while next < total && !stop.load(Ordering::Relaxed) {
                    interval.tick().await;
                    due += per_tick;
                    while due >= 1.0 && next < total {
                        due -= 1.0;
                        let node = nodes[next % nodes.len()];
                        let seq = (next / nodes.len()) as u32;
                        let time_ms = frame_time(start_ms, seq);
                        let bytes = frame_bytes(&registry, node, config.boot, seq, time_ms);
                        let client = &clients[next % clients.len()];
                        client
                            .publish(topic(node), QoS::AtLeastOnce, false, bytes)
                            .await?;
                        published.lock().await.push(Published {
                            node,
                            time_ms,
                            boot: config.boot,
                            seq,
                        });
                        next += 1;
                    }
                }
                Ok(())
            })
        };
        NodeStream {
            published,
            acked,
            stop,
            task,
            pollers,
            clients,
        }
    }

    /// Frames handed to the client so far.
    pub async fn published_count(&self) -> usize {
        self.published.lock().await.len()
    }

    /// Stops publishing early (the frames so far still count).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the stream to end and the broker to acknowledge every frame; returns them.
    ///
    /// # Errors
    /// A publish that failed, or acknowledgements missing after `limit`.
    pub async fn finish(self, limit: Duration) -> Result<BTreeSet<Published>> {
        self.task.await??;
        let published: BTreeSet<Published> = self.published.lock().await.iter().copied().collect();
        let want = published.len() as u64;
        let deadline = tokio::time::Instant::now() + limit;
        while self.acked.load(Ordering::Relaxed) < want {
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the broker acknowledged {} of {want} published frames",
                    self.acked.load(Ordering::Relaxed)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for client in &self.clients {
            let _ = client.disconnect().await;
        }
        for poller in self.pollers {
            let _ = tokio::time::timeout(Duration::from_secs(5), poller).await;
        }
        Ok(published)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
