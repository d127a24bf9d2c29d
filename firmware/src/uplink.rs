//! MQTT on the node: `minimq` (MQTT 5, no allocation, no `unsafe`) over any `embedded-io-async`
//! byte stream: a cellular modem's transparent mode on the board, a TCP socket in the simulators.
//!
//! Per connection: a fresh MQTT session whose will is the node's death frame (retained, QoS 1);
//! a subscription to the node's command topic; the birth frame (retained, QoS 1); then frames from
//! the [`StoreAndForward`] outbox one at a time with QoS 1, each leaving the flash only after its
//! PUBACK. A fresh session per connection means the outbox alone decides what is resent, so the
//! client never replays a frame the outbox also resends.

use core::fmt;
use core::fmt::Write as _;

use embedded_storage_async::nor_flash::MultiwriteNorFlash;
use heapless::String;
use minimq::{
    Buffers, ConfigBuilder, ConfigError, Connection, Io, Op, Publication, QoS, Session, SubscriptionOptions,
    TopicFilter, Will,
};
use protocol::command::MAX_COMMAND_LEN;
use protocol::topic::{NodeChannel, NodeTopic};

use crate::node::StoreAndForward;

/// Longest topic this firmware builds: a 48-byte prefix, `/node/`, a u32 and `/telemetry`.
pub const TOPIC_CAPACITY: usize = 80;
/// Inbound MQTT packet buffer: a command publish with its topic and properties.
pub const RX_BUFFER: usize = 256;
/// Outbound buffer: CONNECT with the will, and one frame in flight plus a status frame.
pub const TX_BUFFER: usize = 640;

/// The node's three topics, built once.
#[derive(Debug, Clone)]
pub struct Topics {
    telemetry: String<TOPIC_CAPACITY>,
    status: String<TOPIC_CAPACITY>,
    cmd: String<TOPIC_CAPACITY>,
}

impl Topics {
    /// The topics of `node_id` under `prefix`, or `None` if the prefix is too long.
    pub fn new(prefix: &str, node_id: u32) -> Option<Self> {
        let topic = |channel| {
            let mut s = String::new();
            write!(
                s,
                "{}",
                NodeTopic {
                    prefix,
                    node_id,
                    channel
                }
            )
            .ok()?;
            Some(s)
        };
        Some(Topics {
            telemetry: topic(NodeChannel::Telemetry)?,
            status: topic(NodeChannel::Status)?,
            cmd: topic(NodeChannel::Command)?,
        })
    }

    /// The topic of one channel.
    pub fn of(&self, channel: NodeChannel) -> &str {
        match channel {
            NodeChannel::Telemetry => &self.telemetry,
            NodeChannel::Status => &self.status,
            NodeChannel::Command => &self.cmd,
        }
    }
}

/// What went wrong on the uplink. Any of them means: drop the connection and reconnect later.
#[derive(Debug)]
#[non_exhaustive]
pub enum UplinkError<E> {
    /// The MQTT session failed (transport, broker refusal, protocol).
    Mqtt(minimq::Error<E>),
    /// The session could not be configured (client id or topic too long).
    Config(ConfigError),
    /// The outbox's flash failed.
    Storage,
}

impl<E> From<minimq::Error<E>> for UplinkError<E> {
    fn from(e: minimq::Error<E>) -> Self {
        UplinkError::Mqtt(e)
    }
}

impl<E> From<minimq::PubError<(), E>> for UplinkError<E> {
    fn from(e: minimq::PubError<(), E>) -> Self {
        match e {
            minimq::PubError::Session(e) => UplinkError::Mqtt(e),
            // A frame larger than the TX buffer: a sizing bug.
            minimq::PubError::Payload(()) => {
                UplinkError::Mqtt(minimq::Error::Resource(minimq::ResourceError::BufferTooSmall))
            }
        }
    }
}

impl<E: fmt::Debug> fmt::Display for UplinkError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UplinkError::Mqtt(e) => write!(f, "MQTT: {e:?}"),
            UplinkError::Config(e) => write!(f, "MQTT configuration: {e:?}"),
            UplinkError::Storage => f.write_str("outbox flash failed"),
        }
    }
}

/// A new MQTT session for one connection. `death` is the node's death status frame, registered
/// as the retained QoS 1 will; it must outlive the session, like the buffers. With `password`
/// the node logs in with its client id as user name (`node-{id}` and the password of its
/// provisioning block: the broker account `citysense-provision` made for it).
///
/// # Errors
///
/// [`UplinkError::Config`] if the client id or topic does not fit.
pub fn session<'b, E>(
    rx: &'b mut [u8],
    tx: &'b mut [u8],
    client_id: &'b str,
    password: Option<&'b [u8]>,
    topics: &Topics,
    death: &'b [u8],
    keepalive_s: u16,
) -> Result<Session<'b>, UplinkError<E>> {
    let will = Will::new(topics.of(NodeChannel::Status), death, &[])
        .map_err(UplinkError::Config)?
        .retained()
        .qos(QoS::AtLeastOnce);
    let mut config = ConfigBuilder::new(Buffers::new(rx, tx))
        .client_id(client_id)
        .map_err(UplinkError::Config)?
        .keepalive_interval(keepalive_s)
        .will(will)
        .map_err(UplinkError::Config)?;
    if let Some(password) = password {
        config = config.auth(client_id, password).map_err(UplinkError::Config)?;
    }
    Ok(Session::new(config))
}

/// A downlink command received on the node's command topic, copied out of the MQTT buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downlink {
    bytes: [u8; MAX_COMMAND_LEN],
    len: usize,
}

impl Downlink {
    /// The command's bytes, for [`crate::node::Node::handle_command`].
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A live connection: publishes with QoS 1 and hands back downlink commands.
pub struct Link<'s, 'b, IO: Io> {
    conn: Connection<'s, 'b, IO>,
    topics: &'s Topics,
    birth: Op,
    in_flight: Option<Op>,
    /// Commands longer than any valid command, dropped unread.
    oversized_commands: u32,
}

impl<'s, 'b, IO: Io> fmt::Debug for Link<'s, 'b, IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("in_flight", &self.in_flight.is_some())
            .finish_non_exhaustive()
    }
}

impl<'s, 'b, IO: Io> Link<'s, 'b, IO> {
    /// Connects `session` over `io`, subscribes to the command topic and publishes `birth`.
    ///
    /// # Errors
    ///
    /// [`UplinkError::Mqtt`] if the broker refuses or the stream fails.
    pub async fn open(
        session: &'s mut Session<'b>,
        io: IO,
        topics: &'s Topics,
        birth: &[u8],
    ) -> Result<Self, UplinkError<IO::Error>> {
        let mut conn = session.connect(io).await?;
        let options = SubscriptionOptions::default().maximum_qos(QoS::AtLeastOnce);
        conn.subscribe(
            &[TopicFilter::new(topics.of(NodeChannel::Command)).options(options)],
            &[],
        )
        .await?;
        let birth = conn
            .publish(
                Publication::bytes(topics.of(NodeChannel::Status), birth)
                    .qos(QoS::AtLeastOnce)
                    .retain(),
            )
            .await?
            .ok_or(UplinkError::Mqtt(minimq::Error::NotReady))?;
        Ok(Link {
            conn,
            topics,
            birth,
            in_flight: None,
            oversized_commands: 0,
        })
    }

    /// Publishes one frame with QoS 1 (status frames retained) and returns the operation to
    /// check for the broker's PUBACK.
    ///
    /// # Errors
    ///
    /// [`UplinkError::Mqtt`]; the connection is dead then.
    pub async fn publish(
        &mut self,
        channel: NodeChannel,
        frame: &[u8],
    ) -> Result<Op, UplinkError<IO::Error>> {
        let mut publication = Publication::bytes(self.topics.of(channel), frame).qos(QoS::AtLeastOnce);
        if channel == NodeChannel::Status {
            publication = publication.retain();
        }
        let op = self.conn.publish(publication).await?;
        // QoS 1 always yields an operation handle.
        op.ok_or(UplinkError::Mqtt(minimq::Error::NotReady))
    }

    /// The birth frame's publish, to check for its PUBACK.
    pub fn birth(&self) -> &Op {
        &self.birth
    }

    /// True once the broker has acknowledged `op`.
    pub fn is_acked(&self, op: &Op) -> bool {
        self.conn.is_complete(op)
    }

    /// True if the connection can take another QoS 1 publish now.
    pub fn can_publish(&self) -> bool {
        self.conn.can_publish(QoS::AtLeastOnce)
    }

    /// Makes whatever progress is possible without waiting (acks, keepalive, inbound packets) and
    /// returns a downlink command if one arrived.
    ///
    /// # Errors
    ///
    /// [`UplinkError::Mqtt`]; the connection is dead then.
    pub async fn drive(&mut self) -> Result<Option<Downlink>, UplinkError<IO::Error>> {
        let inbound = self.conn.drive().await?;
        Ok(command(self.topics, &mut self.oversized_commands, inbound))
    }

    /// Waits until something happens on the connection, then as [`Link::drive`]. Cancel-safe when
    /// the transport is, so a caller can race it against its own timer.
    ///
    /// # Errors
    ///
    /// [`UplinkError::Mqtt`]; the connection is dead then.
    pub async fn poll(&mut self) -> Result<Option<Downlink>, UplinkError<IO::Error>> {
        let inbound = self.conn.poll().await?;
        Ok(command(self.topics, &mut self.oversized_commands, inbound))
    }

    /// Moves the outbox forward: confirms the frame in flight once acknowledged, then publishes
    /// the next one due. Returns true if a frame was acknowledged.
    ///
    /// # Errors
    ///
    /// [`UplinkError`]; the caller drops the link and marks the outbox disconnected.
    pub async fn forward<F: MultiwriteNorFlash>(
        &mut self,
        outbox: &mut StoreAndForward<F>,
        now_ms: u64,
    ) -> Result<bool, UplinkError<IO::Error>> {
        let mut acked = false;
        if let Some(op) = &self.in_flight
            && self.conn.is_complete(op)
        {
            self.in_flight = None;
            outbox.acked().map_err(|_| UplinkError::Storage)?;
            acked = true;
        }
        if self.in_flight.is_none() && self.can_publish() {
            let next = outbox.next(now_ms).map_err(|_| UplinkError::Storage)?;
            if let Some((channel, entry)) = next {
                self.in_flight = Some(self.publish(channel, entry.frame()).await?);
            }
        }
        Ok(acked)
    }

    /// Waits until the broker has acknowledged the frame in flight, which then leaves the outbox:
    /// before a planned close (a reboot command), so that the frame is neither left half-sent
    /// (and sent again after the restart) nor lost. Commands arriving meanwhile are not obeyed;
    /// their sender sees no effect and may send them again. Bound it with a timeout: a frame still
    /// unacknowledged stays on flash and goes again after reconnecting.
    ///
    /// # Errors
    ///
    /// [`UplinkError`]; the frame stays on flash.
    pub async fn settle<F: MultiwriteNorFlash>(
        &mut self,
        outbox: &mut StoreAndForward<F>,
    ) -> Result<(), UplinkError<IO::Error>> {
        while let Some(op) = &self.in_flight {
            if self.conn.is_complete(op) {
                self.in_flight = None;
                outbox.acked().map_err(|_| UplinkError::Storage)?;
            } else {
                self.conn.poll().await?;
            }
        }
        Ok(())
    }

    /// Closes the connection with an MQTT DISCONNECT, which tells the broker *not* to publish the
    /// will: for a planned stop such as a reboot command.
    ///
    /// # Errors
    ///
    /// [`UplinkError::Mqtt`] if the stream fails on the way out.
    pub async fn close(mut self) -> Result<(), UplinkError<IO::Error>> {
        self.conn.disconnect().await?;
        Ok(())
    }
}

/// Copies a downlink command out of an inbound publish on the node's command topic.
fn command(
    topics: &Topics,
    oversized: &mut u32,
    inbound: Option<minimq::InboundPublish<'_>>,
) -> Option<Downlink> {
    let publish = inbound?;
    let payload = publish.payload();
    if publish.topic() != topics.of(NodeChannel::Command) {
        return None;
    }
    if payload.len() > MAX_COMMAND_LEN {
        *oversized = oversized.saturating_add(1);
        return None;
    }
    let mut bytes = [0u8; MAX_COMMAND_LEN];
    bytes[..payload.len()].copy_from_slice(payload);
    Some(Downlink {
        bytes,
        len: payload.len(),
    })
}
