//! Checks an MQTT message against the registry: the one acceptance rule that the collector and the
//! IOC API share, so a frame one of them refuses the other refuses too.

use crate::registry::{NodeInfo, Registry, StationKind};
use crate::topic::{NodeChannel, parse_node_topic};
use crate::{Body, Frame, MAX_FRAME_LEN, decode, peek_node_id};

/// Why an inbound message was refused. `reason` is a stable label for counters and dead letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    /// Stable machine-readable label (`bad_tag`, `unknown_node`, ...).
    pub reason: &'static str,
    /// Human-readable detail.
    pub detail: String,
}

fn reject(reason: &'static str, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

/// Accepts a message if its topic is a node topic under `prefix`, the node is registered, the frame
/// decodes and verifies with the node's key, names the same node as the topic, and carries a body
/// that belongs on that channel from that kind of station.
///
/// # Errors
///
/// The [`Rejection`] with the first reason found.
pub fn accept<'r>(
    registry: &'r Registry,
    prefix: &str,
    topic: &str,
    payload: &[u8],
) -> Result<(Frame, &'r NodeInfo), Rejection> {
    let (topic_node, channel) = parse_node_topic(prefix, topic)
        .ok_or_else(|| reject("foreign_topic", format!("not a node topic: {topic}")))?;
    // Checked before anything reads the bytes: no valid frame is longer, and a huge payload
    // must cost nothing but this comparison.
    if payload.len() > MAX_FRAME_LEN {
        return Err(reject(
            "oversized",
            format!("{} bytes, a frame is at most {MAX_FRAME_LEN}", payload.len()),
        ));
    }
    let node = registry.get(topic_node).ok_or_else(|| {
        reject(
            "unknown_node",
            format!("node {topic_node} is not in the registry"),
        )
    })?;
    // A frame naming another node than its topic is refused before the key lookup matters.
    if let Ok(frame_node) = peek_node_id(payload)
        && frame_node != topic_node
    {
        return Err(reject(
            "topic_mismatch",
            format!("frame from node {frame_node} on node {topic_node}'s topic"),
        ));
    }
    let frame = decode(payload, node.key.as_ref()).map_err(|e| reject(e.reason(), e.to_string()))?;
    let fits = matches!(
        (&frame.body, channel, node.kind),
        (Body::Status(_), NodeChannel::Status, _)
            | (Body::Air(_), NodeChannel::Telemetry, StationKind::Air)
            | (Body::Water(_), NodeChannel::Telemetry, StationKind::Water)
    );
    if !fits {
        return Err(reject(
            "body_mismatch",
            format!(
                "{} station sent this body on its {} topic",
                node.kind.as_str(),
                channel.as_str()
            ),
        ));
    }
    Ok((frame, node))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AirSample, MAX_FRAME_LEN, NodeKey, WaterSample};

    fn registry() -> Registry {
        let node = |id, kind, key| NodeInfo {
            id,
            station: format!("S{id}"),
            name: String::new(),
            kind,
            district: String::new(),
            location: None,
            key,
        };
        Registry::from_nodes([
            node(1, StationKind::Air, Some(NodeKey::new([1; 32]))),
            node(2, StationKind::Water, None),
        ])
        .expect("valid")
    }

    fn bytes(node_id: u32, body: Body, key: Option<&NodeKey>) -> Vec<u8> {
        let frame = Frame {
            node_id,
            boot: 1,
            seq: 0,
            time_ms: 0,
            body,
        };
        let mut buf = [0u8; MAX_FRAME_LEN];
        frame.encode(key, &mut buf).expect("encodes").to_vec()
    }

    #[test]
    fn accepts_a_good_frame_and_names_each_refusal() {
        let reg = registry();
        let key = NodeKey::new([1; 32]);
        let air = bytes(1, Body::Air(AirSample::default()), Some(&key));
        assert!(accept(&reg, "p", "p/node/1/telemetry", &air).is_ok());

        let reason = |topic: &str, payload: &[u8]| accept(&reg, "p", topic, payload).expect_err(topic).reason;
        assert_eq!(reason("q/node/1/telemetry", &air), "foreign_topic");
        assert_eq!(reason("p/node/9/telemetry", &air), "unknown_node");
        assert_eq!(reason("p/node/2/telemetry", &air), "topic_mismatch");
        assert_eq!(reason("p/node/1/status", &air), "body_mismatch");
        assert_eq!(reason("p/node/1/telemetry", &air[..air.len() - 2]), "truncated");
        assert_eq!(
            reason("p/node/1/telemetry", &[0u8; MAX_FRAME_LEN + 1]),
            "oversized"
        );
        let water_from_air_node = bytes(1, Body::Water(WaterSample::default()), Some(&key));
        assert_eq!(
            reason("p/node/1/telemetry", &water_from_air_node),
            "body_mismatch"
        );
        let forged = bytes(1, Body::Air(AirSample::default()), Some(&NodeKey::new([9; 32])));
        assert_eq!(reason("p/node/1/telemetry", &forged), "bad_tag");
    }
}
