//! Store-and-forward: every frame goes to flash first and leaves it only when the broker has
//! acknowledged it (MQTT QoS 1 PUBACK), so neither a link outage nor a reboot loses it.
//!
//! What is sent next: a frame produced while the link is up ("live") goes first, oldest live
//! first; what was queued before the link came up ("backlog") drains oldest first, at most one per
//! [`ForwardPolicy::backlog_interval_ms`], so hours of backlog never delay a live reading by more
//! than one send. One frame is in flight at a time, which keeps the order of the backlog exact.
//! A frame in flight when the link drops goes first after reconnecting, before any live one (as
//! MQTT 3.1.1 §4.4 has a client resend its unacknowledged PUBLISH first): the broker may have
//! had it, and a receiver recognises it as a retry only among the node's last few frames
//! (`protocol::window::RECENT`).

use embedded_storage_async::nor_flash::MultiwriteNorFlash;
use protocol::topic::NodeChannel;

use super::transport::Transport;
use crate::storage::{Entry, FrameQueue, StorageError};

/// How fast the backlog drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardPolicy {
    /// At least this long between two backlog frames, in ms. The default, 500 ms, drains two hours
    /// of one-a-minute frames in a minute while a cellular link keeps room for live traffic.
    pub backlog_interval_ms: u32,
}

impl Default for ForwardPolicy {
    fn default() -> Self {
        ForwardPolicy {
            backlog_interval_ms: 500,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    entry: Entry,
    live: bool,
    /// False while it waits to be sent again on the next link.
    sent: bool,
}

/// The node's outbox on flash. As a [`Transport`] it takes the node's frames (never refusing one
/// for a link outage); [`StoreAndForward::next`] and [`StoreAndForward::acked`] hand them to the
/// real uplink.
#[derive(Debug)]
pub struct StoreAndForward<F: MultiwriteNorFlash> {
    queue: FrameQueue<F>,
    policy: ForwardPolicy,
    connected: bool,
    /// The newest `live` entries were queued while connected and not yet sent.
    live: usize,
    in_flight: Option<InFlight>,
    next_backlog_ms: u64,
}

impl<F: MultiwriteNorFlash> StoreAndForward<F> {
    /// Wraps the node's flash queue; whatever it holds is backlog.
    pub fn new(queue: FrameQueue<F>, policy: ForwardPolicy) -> Self {
        StoreAndForward {
            queue,
            policy,
            connected: false,
            live: 0,
            in_flight: None,
            next_backlog_ms: 0,
        }
    }

    /// Gives the queue back (for a simulated reboot).
    pub fn destroy(self) -> FrameQueue<F> {
        self.queue
    }

    /// Frames waiting on flash, the one in flight included.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Frames dropped because the queue was full, since boot.
    pub fn dropped(&self) -> u32 {
        self.queue.dropped()
    }

    /// The uplink came up or went down. Either way a frame in flight is still on flash and is the
    /// next one sent, as backlog now (the receiver drops the duplicate by node, boot, seq).
    pub fn set_connected(&mut self, connected: bool) {
        self.connected = connected;
        self.live = 0;
        if let Some(flight) = &mut self.in_flight {
            flight.live = false;
            flight.sent = false;
        }
    }

    /// The frame sent and not yet acknowledged, or waiting to be sent again, if any.
    pub fn in_flight(&self) -> Option<&Entry> {
        self.in_flight.as_ref().map(|flight| &flight.entry)
    }

    /// True between `set_connected(true)` and `set_connected(false)`.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The frame to send now, if any: nothing while one is in flight or the link is down; the one
    /// the last link left unacknowledged first.
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn next(&mut self, now_ms: u64) -> Result<Option<(NodeChannel, Entry)>, StorageError<F::Error>> {
        if !self.connected || self.queue.is_empty() {
            return Ok(None);
        }
        if let Some(flight) = &mut self.in_flight {
            if flight.sent {
                return Ok(None);
            }
            flight.sent = true;
            return Ok(Some((flight.entry.channel(), flight.entry)));
        }
        let (index, live) = if self.live > 0 {
            (self.queue.len() - self.live, true)
        } else if now_ms >= self.next_backlog_ms {
            self.next_backlog_ms = now_ms.saturating_add(u64::from(self.policy.backlog_interval_ms));
            (0, false)
        } else {
            return Ok(None);
        };
        let Some(entry) = self.queue.get(index)? else {
            return Ok(None);
        };
        self.in_flight = Some(InFlight {
            entry,
            live,
            sent: true,
        });
        Ok(Some((entry.channel(), entry)))
    }

    /// The broker acknowledged the frame in flight: it leaves the flash.
    ///
    /// # Errors
    ///
    /// The flash failed; the frame stays and will be sent again.
    pub fn acked(&mut self) -> Result<(), StorageError<F::Error>> {
        if let Some(flight) = self.in_flight.take() {
            let removed = self.queue.remove_entry(&flight.entry)?;
            if flight.live && removed.is_some() {
                self.live = self.live.saturating_sub(1);
            }
        }
        Ok(())
    }

    /// Sends whatever is due through a synchronous `link`, where a successful publish means the
    /// broker has it; a failure marks the link down. Returns the frames sent.
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn pump<T: Transport>(&mut self, now_ms: u64, link: &mut T) -> Result<usize, StorageError<F::Error>> {
        let mut sent = 0;
        while let Some((channel, entry)) = self.next(now_ms)? {
            if link.publish(channel, entry.frame()).is_err() {
                self.set_connected(false);
                break;
            }
            self.acked()?;
            sent += 1;
        }
        Ok(sent)
    }
}

impl<F: MultiwriteNorFlash> Transport for StoreAndForward<F> {
    type Error = StorageError<F::Error>;

    /// Queues the frame on flash; only a flash failure refuses it.
    fn publish(&mut self, channel: NodeChannel, frame: &[u8]) -> Result<(), Self::Error> {
        self.queue.push(channel, frame)?;
        if self.connected {
            self.live += 1;
        }
        // A live entry may have been dropped to make room only if the queue holds nothing else.
        self.live = self.live.min(self.queue.len());
        Ok(())
    }
}
