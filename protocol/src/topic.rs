//! MQTT topic names. The node id in the topic lets a broker restrict each node to its own topics
//! (mosquitto: `pattern write {prefix}/node/%u/#` with the node id as username).
//!
//! ```text
//! {prefix}/node/{node_id}/telemetry   air and water samples (QoS 1)
//! {prefix}/node/{node_id}/status      birth, periodic, and death as the MQTT will (retained)
//! {prefix}/node/{node_id}/cmd         downlink commands to the node
//! {prefix}/alerts/{station_id}        alert changes from the IOC API (JSON, retained while firing)
//! {prefix}/transmission/{station_id}/{receiver}
//!                                     the relay's last file delivered to a receiver (JSON, retained)
//! ```

use core::fmt;

/// The prefix used when a deployment does not configure one.
pub const DEFAULT_PREFIX: &str = "city/haugiang";

/// Which of a node's topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeChannel {
    /// Air and water samples.
    Telemetry,
    /// Birth, periodic and death status frames.
    Status,
    /// Downlink commands.
    Command,
}

impl NodeChannel {
    /// The last topic level.
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeChannel::Telemetry => "telemetry",
            NodeChannel::Status => "status",
            NodeChannel::Command => "cmd",
        }
    }

    fn parse(level: &str) -> Option<Self> {
        match level {
            "telemetry" => Some(NodeChannel::Telemetry),
            "status" => Some(NodeChannel::Status),
            "cmd" => Some(NodeChannel::Command),
            _ => None,
        }
    }
}

/// One node's topic; `Display` writes it, so no allocation is needed on the node.
#[derive(Debug, Clone, Copy)]
pub struct NodeTopic<'a> {
    /// Deployment prefix, without a trailing slash.
    pub prefix: &'a str,
    /// The node.
    pub node_id: u32,
    /// Which of its topics.
    pub channel: NodeChannel,
}

impl fmt::Display for NodeTopic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/node/{}/{}",
            self.prefix,
            self.node_id,
            self.channel.as_str()
        )
    }
}

/// The subscription filter for one channel of every node: `{prefix}/node/+/{channel}`.
#[derive(Debug, Clone, Copy)]
pub struct AllNodes<'a> {
    /// Deployment prefix.
    pub prefix: &'a str,
    /// Which channel.
    pub channel: NodeChannel,
}

impl fmt::Display for AllNodes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/node/+/{}", self.prefix, self.channel.as_str())
    }
}

/// The topic the IOC API publishes a station's alert changes on.
#[derive(Debug, Clone, Copy)]
pub struct AlertTopic<'a> {
    /// Deployment prefix.
    pub prefix: &'a str,
    /// The station.
    pub station_id: &'a str,
}

impl fmt::Display for AlertTopic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/alerts/{}", self.prefix, self.station_id)
    }
}

/// The topic the relay publishes the last file it delivered for a station to a receiver on.
#[derive(Debug, Clone, Copy)]
pub struct TransmissionTopic<'a> {
    /// Deployment prefix.
    pub prefix: &'a str,
    /// The station.
    pub station_id: &'a str,
    /// The receiver's name in the relay's config.
    pub receiver: &'a str,
}

impl fmt::Display for TransmissionTopic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/transmission/{}/{}",
            self.prefix, self.station_id, self.receiver
        )
    }
}

/// Splits a node topic under `prefix` into node id and channel. Node ids are plain decimal: a
/// leading zero, a sign or an overflow makes the topic foreign, so one node has one topic.
pub fn parse_node_topic(prefix: &str, topic: &str) -> Option<(u32, NodeChannel)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix("/node/")?;
    let (id, channel) = rest.split_once('/')?;
    let canonical =
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && (id == "0" || !id.starts_with('0'));
    if !canonical {
        return None;
    }
    Some((id.parse().ok()?, NodeChannel::parse(channel)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip() {
        let topic = NodeTopic {
            prefix: DEFAULT_PREFIX,
            node_id: 42,
            channel: NodeChannel::Telemetry,
        };
        let text = topic.to_string();
        assert_eq!(text, "city/haugiang/node/42/telemetry");
        assert_eq!(
            parse_node_topic(DEFAULT_PREFIX, &text),
            Some((42, NodeChannel::Telemetry))
        );
    }

    #[test]
    fn foreign_topics_are_not_node_topics() {
        for topic in [
            "city/haugiang/node/042/telemetry",
            "city/haugiang/node/+1/telemetry",
            "city/haugiang/node/4294967296/telemetry",
            "city/haugiang/node/7/telemetry/extra",
            "city/haugiang/node//status",
            "city/other/node/7/status",
            "city/haugiang/alerts/HG-1",
        ] {
            assert_eq!(parse_node_topic(DEFAULT_PREFIX, topic), None, "{topic}");
        }
    }

    #[test]
    fn filters_and_alert_topics() {
        let all = AllNodes {
            prefix: "p",
            channel: NodeChannel::Status,
        };
        assert_eq!(all.to_string(), "p/node/+/status");
        assert_eq!(
            AlertTopic {
                prefix: "p",
                station_id: "HG-VT-01"
            }
            .to_string(),
            "p/alerts/HG-VT-01"
        );
    }
}
