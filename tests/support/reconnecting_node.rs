//! A simulated node that rides out a broker outage as the board does: the firmware's node logic and
//! flash outbox (`simulators::node::SimNode`) and its MQTT client (`firmware::uplink`) over TCP,
//! like a node of `simulators::fleet`, but it keeps sampling into flash while the broker is
//! unreachable and connects again when it is back. The fleet cannot be used for that: its nodes
//! end on their first link error.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use firmware::node::NodeConfig;
use firmware::uplink::{self, Link, RX_BUFFER, TX_BUFFER, Topics, UplinkError};
use futures::FutureExt;
use protocol::registry::NodeInfo;
use protocol::topic::{DEFAULT_PREFIX, NodeChannel};
use protocol::{Frame, StatusKind};
use simulators::clock::SimClock;
use simulators::net::{IoError, TcpIo};
use simulators::node::{Outgoing, SimNode};
use simulators::signal::Scenario;
use tokio::task::JoinHandle;

/// How long one wait for the broker lasts before the node samples and forwards again.
const LINK_WAIT: Duration = Duration::from_millis(5);
/// Between two attempts to reach a broker that refused the connection.
const RETRY: Duration = Duration::from_millis(50);
/// How long the MQTT handshake may take before the node gives up and tries again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Nodes booted this long before their first sample.
const BOOT_LEAD_MS: u64 = 5_000;

/// What one node does.
#[derive(Debug, Clone)]
pub struct NodePlan {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Client ids are `{client_prefix}-{node_id}`.
    pub client_prefix: String,
    /// Sampling and reporting intervals.
    pub node: NodeConfig,
    /// Simulated time; the node's uptime, sampling and backlog pacing all run on it.
    pub clock: SimClock,
    /// Telemetry frames to produce in all.
    pub frames: u32,
    /// While the link is down and this many frames are queued, the node stops advancing its
    /// simulated time (and catches up once connected).
    // Design: without it the backlog an outage leaves depends on how fast the machine runs and
    // could overflow the flash queue (which drops the oldest frames); with it the backlog is this
    // size exactly. The fleet does the same online (its `QUEUE_HIGH_WATER`), with a smaller mark.
    pub hold_at: usize,
}

/// What the test can watch while the node runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Telemetry frames produced so far.
    pub produced: AtomicU32,
    /// Frames on the node's flash, the one in flight included.
    pub queued: AtomicUsize,
    /// Whether an MQTT connection is up.
    pub connected: AtomicBool,
    /// Frames the broker acknowledged so far.
    pub acked: AtomicU32,
    /// Why the last connection ended or failed, for messages when a wait times out.
    pub last_error: Mutex<String>,
}

impl Progress {
    /// A one-line account for assertion messages.
    pub fn describe(&self) -> String {
        let error = self.last_error.lock().map(|e| e.clone()).unwrap_or_default();
        format!(
            "produced {}, acked {}, queued {}, connected {}, last link error {error:?}",
            self.produced.load(Ordering::SeqCst),
            self.acked.load(Ordering::SeqCst),
            self.queued.load(Ordering::SeqCst),
            self.connected.load(Ordering::SeqCst)
        )
    }
}

/// What the node did, once it has sent everything.
#[derive(Debug, Default)]
pub struct NodeRecord {
    /// The node.
    pub node_id: u32,
    /// Every telemetry frame the node produced, in order.
    pub produced: Vec<Frame>,
    /// Every frame the broker acknowledged (births included), in the order of the acks.
    pub acked: Vec<(NodeChannel, Frame)>,
    /// Frames queued on flash at each successful connect: the backlog it starts with.
    pub backlog_at_connect: Vec<usize>,
    /// Frames the full flash queue dropped.
    pub dropped: u32,
}

/// Starts a node; it ends once it has produced its frames and the broker has acknowledged all.
pub fn spawn(info: NodeInfo, plan: NodePlan) -> (Arc<Progress>, JoinHandle<Result<NodeRecord>>) {
    let progress = Arc::new(Progress::default());
    let start = plan.clock.start_ms();
    let run = Run {
        node: SimNode::new(&info, 1, plan.node),
        record: NodeRecord {
            node_id: info.id,
            ..NodeRecord::default()
        },
        info,
        t: start,
        boot_ms: start.saturating_sub(BOOT_LEAD_MS),
        progress: Arc::clone(&progress),
        plan,
    };
    (progress, tokio::spawn(run.run()))
}

struct Run {
    node: SimNode,
    info: NodeInfo,
    plan: NodePlan,
    /// Simulated time of the next sampling step.
    t: u64,
    boot_ms: u64,
    progress: Arc<Progress>,
    record: NodeRecord,
}

impl Run {
    async fn run(mut self) -> Result<NodeRecord> {
        let topics = Topics::new(DEFAULT_PREFIX, self.info.id).context("topics")?;
        let client_id = format!("{}-{}", self.plan.client_prefix, self.info.id);
        let (mut rx, mut tx) = ([0u8; RX_BUFFER], [0u8; TX_BUFFER]);
        loop {
            match self.connection(&topics, &client_id, &mut rx, &mut tx).await {
                Ok(()) => break,
                Err(e) => {
                    if let Ok(mut last) = self.progress.last_error.lock() {
                        *last = format!("{e:#}");
                    }
                }
            }
            // The link failed or never came up: sample into flash and try again, as the board does.
            self.produce_due();
            tokio::time::sleep(RETRY).await;
        }
        self.record.dropped = self.node.outbox_mut().dropped();
        Ok(self.record)
    }

    fn done_producing(&self) -> bool {
        self.record.produced.len() >= self.plan.frames as usize
    }

    /// Uptime at the current sampling step, for the frames.
    fn uptime(&self) -> u64 {
        self.t.saturating_sub(self.boot_ms)
    }

    /// The node's own clock, which paces the backlog (on the board: its uptime in real ms).
    // Design: simulated ms, where the fleet paces on real ms: at the default 500 ms per frame a
    // backlog of hundreds drains in about a second of real time, in the simulated minutes a board
    // would take, instead of minutes of test time.
    fn uptime_now(&self) -> u64 {
        self.plan.clock.now_ms().saturating_sub(self.boot_ms)
    }

    /// Runs every sampling step simulated time has reached (offline: while the queue is below the
    /// mark).
    fn produce_due(&mut self) {
        let step = u64::from(self.plan.node.sample_interval_ms.max(1));
        while !self.done_producing() && self.t <= self.plan.clock.now_ms() {
            let outbox = self.node.outbox_mut();
            if !outbox.is_connected() && outbox.queued() >= self.plan.hold_at {
                break;
            }
            let env = Scenario::default().environment(self.info.kind, self.info.id, self.t);
            self.node.set_environment(env);
            let frames = self.node.poll(self.uptime(), self.t);
            self.record.produced.extend(
                frames
                    .into_iter()
                    .filter(|o| o.channel == NodeChannel::Telemetry)
                    .map(|o| o.frame),
            );
            self.t += step;
        }
        self.progress
            .produced
            .store(self.record.produced.len() as u32, Ordering::SeqCst);
        self.progress
            .queued
            .store(self.node.outbox_mut().queued(), Ordering::SeqCst);
    }

    fn acked(&mut self, out: Outgoing) {
        self.record.acked.push((out.channel, out.frame));
        self.progress.acked.fetch_add(1, Ordering::SeqCst);
    }

    /// One connection: `Ok` once everything is produced and acknowledged (then closed cleanly),
    /// an error when the broker cannot be reached or the link fails.
    async fn connection(
        &mut self,
        topics: &Topics,
        client_id: &str,
        rx: &mut [u8],
        tx: &mut [u8],
    ) -> Result<()> {
        let io = TcpIo::connect(&self.plan.host, self.plan.port).await?;
        let death = self.node.status(StatusKind::Death, self.uptime(), self.t);
        let mut session = uplink::session(rx, tx, client_id, None, topics, &death.bytes, 30)
            .map_err(|e: UplinkError<IoError>| anyhow!("session: {e}"))?;
        let birth = self.node.status(StatusKind::Birth, self.uptime(), self.t);
        let mut link = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Link::open(&mut session, io, topics, &birth.bytes),
        )
        .await
        .context("MQTT handshake timed out")?
        .map_err(|e| anyhow!("connect: {e}"))?;
        let mut birth = Some(birth);
        let outbox = self.node.outbox_mut();
        outbox.set_connected(true);
        self.record.backlog_at_connect.push(outbox.queued());
        self.progress.connected.store(true, Ordering::SeqCst);
        let result = self.exchange(&mut link, &mut birth).await;
        self.node.outbox_mut().set_connected(false);
        self.progress.connected.store(false, Ordering::SeqCst);
        result.map_err(|e| anyhow!("link: {e}"))?;
        // DISCONNECT, so the broker does not publish the death frame.
        let _ = link.close().await;
        Ok(())
    }

    /// Samples and forwards until everything is acknowledged or the link fails.
    async fn exchange(
        &mut self,
        link: &mut Link<'_, '_, TcpIo>,
        birth: &mut Option<Outgoing>,
    ) -> Result<(), UplinkError<IoError>> {
        loop {
            self.produce_due();
            // Commands are not part of this test; what arrives is taken in and left unobeyed.
            if let Ok(result) = tokio::time::timeout(LINK_WAIT, link.poll()).await {
                result?;
            }
            while let Some(result) = link.poll().now_or_never() {
                result?;
            }
            if link.is_acked(link.birth())
                && let Some(out) = birth.take()
            {
                self.acked(out);
            }
            let in_flight = self.node.outbox_mut().in_flight().copied();
            let now = self.uptime_now();
            if link.forward(self.node.outbox_mut(), now).await?
                && let Some(entry) = in_flight
                && let Some(out) = self.node.outgoing(entry.channel(), entry.frame().to_vec())
            {
                self.acked(out);
            }
            let queued = self.node.outbox_mut().queued();
            self.progress.queued.store(queued, Ordering::SeqCst);
            if self.done_producing() && queued == 0 && birth.is_none() {
                return Ok(());
            }
        }
    }
}
