//! The test's own node: signed air frames published straight to the broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Result;
use protocol::registry::NodeInfo;
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::TestClient;

/// Signed air frames from one node, published with QoS 1 one after the other (each waits for
/// its PUBACK) every 10 ms until cancelled; the node's clock is `base_ms` plus a second a frame.
pub(super) fn publish_frames(
    port: u16,
    node: NodeInfo,
    boot: u32,
    base_ms: u64,
    stop: CancellationToken,
) -> (Arc<AtomicU32>, JoinHandle<Result<u32>>) {
    let published = Arc::new(AtomicU32::new(0));
    let count = Arc::clone(&published);
    let task = tokio::spawn(async move {
        let mut client = TestClient::connect(port, &format!("node-{}-boot-{boot}", node.id), true).await?;
        let topic = NodeTopic {
            prefix: DEFAULT_PREFIX,
            node_id: node.id,
            channel: NodeChannel::Telemetry,
        }
        .to_string();
        let mut seq = 0;
        while !stop.is_cancelled() {
            let frame = Frame {
                node_id: node.id,
                boot,
                seq,
                time_ms: base_ms + u64::from(seq) * 1_000,
                body: Body::Air(AirSample {
                    samples: 6,
                    pm2_5: Some(150),
                    pm10: Some(300),
                    temperature: Some(2_950),
                    ..AirSample::default()
                }),
            };
            let mut buf = [0u8; MAX_FRAME_LEN];
            let bytes = frame
                .encode(node.key.as_ref(), &mut buf)
                .map_err(|e| anyhow::anyhow!("encode: {e:?}"))?;
            client.publish_qos1(&topic, bytes).await?;
            seq += 1;
            count.store(seq, Ordering::Release);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        client.disconnect().await?;
        Ok(seq)
    });
    (published, task)
}
