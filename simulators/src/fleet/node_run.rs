//! One node of a fleet: the board's main loop on the host. Connect with the death frame as the
//! will and publish the birth frame; sample on the simulated clock into the outbox; forward the
//! outbox one frame at a time with QoS 1; obey commands; on a reboot command let the frame in
//! flight be acknowledged, disconnect cleanly, restart the node from its flash and connect again.
//! When the link fails (the broker restarts, the connection is reset) go on sampling into the
//! outbox and connect again, as the board does: what was not acknowledged, and what was sampled
//! meanwhile, goes after the new birth frame, live frames first and the backlog paced.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use firmware::storage::Entry;
use firmware::uplink::{self, Downlink, Link, RX_BUFFER, TX_BUFFER, Topics, UplinkError};
use futures::FutureExt;
use protocol::StatusKind;
use protocol::command::Command;
use protocol::registry::NodeInfo;
use protocol::topic::NodeChannel;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{FleetConfig, FleetOptions, SentFrame, connect, power_and_link};
use crate::clock::Speed;
use crate::net::{IoError, TcpIo};
use crate::node::{Outgoing, SimNode};

/// Simulated status frames go out this often (simulated time).
const STATUS_INTERVAL_MS: u64 = 3_600_000;
/// Nodes booted this long before the first sample.
const BOOT_LEAD_MS: u64 = 5_000;
/// While the outbox holds this many frames the simulation waits for the link: simulated time
/// may run faster than the broker acknowledges, and the queue on flash is bounded.
const QUEUE_HIGH_WATER: usize = 32;
/// How long one wait for the link lasts, while frames are queued, before the outbox is looked
/// at again (its backlog is paced by the clock, not by packets).
const LINK_WAIT: Duration = Duration::from_millis(20);
/// How long to wait for the broker to acknowledge the next of the last frames before giving up.
const ACK_DEADLINE: Duration = Duration::from_secs(60);
/// How long a reboot waits for the frame in flight to be acknowledged before disconnecting.
const SETTLE_DEADLINE: Duration = Duration::from_secs(2);
/// How long a node whose link failed waits before connecting again.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// How long a node may stay without a link before the fleet gives up on it with an error.
const OFFLINE_LIMIT: Duration = Duration::from_secs(300);

/// A connection failed: the node goes on sampling into its outbox and connects again, as the
/// board does for any [`UplinkError`]. Other errors (a session that cannot be configured) end
/// the node.
#[derive(Debug)]
struct LinkLost {
    node: u32,
    what: &'static str,
    detail: String,
}

impl std::fmt::Display for LinkLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {}: {}: {}", self.node, self.what, self.detail)
    }
}

impl std::error::Error for LinkLost {}

/// How long [`NodeRun::pump`] waits for the broker before forwarding.
#[derive(Clone, Copy)]
enum Wait {
    /// Not at all: take what has arrived.
    No,
    /// Up to this long.
    UpTo(Duration),
    /// Up to this long, or until the fleet stops (the drain after a stop must not be cut short).
    UpToOrStop(Duration),
}

/// Why a connection ended.
enum Ended {
    /// Every frame sent (or the fleet stopped); the node is done.
    Done,
    /// A reboot command: restart and connect again.
    Reboot,
}

/// A node and where it is in simulated time.
struct NodeRun {
    node: SimNode,
    info: NodeInfo,
    config: Arc<FleetConfig>,
    cancel: CancellationToken,
    sent: Vec<SentFrame>,
    /// Simulated time of the next step, ms since the epoch.
    t: u64,
    /// Simulated time of the current boot: uptime is `t - boot_ms`.
    boot_ms: u64,
    telemetry: u32,
    next_status: u64,
    /// The outbox paces its backlog on this real clock: the link's capacity is real time.
    started: Instant,
    /// Set when a connection comes up; the reconnect loop clears it.
    linked: bool,
}

/// Runs one node: connections until its frames are sent or the fleet stops, a reboot between
/// two of them when commanded.
pub(super) async fn run_node(
    info: NodeInfo,
    config: Arc<FleetConfig>,
    options: FleetOptions,
    cancel: CancellationToken,
) -> anyhow::Result<Vec<SentFrame>> {
    let topics = Topics::new(&config.prefix, info.id).context("topic prefix too long for a node")?;
    let password = options.passwords.get(&info.id).cloned();
    let client_id = match password {
        Some(_) => format!("node-{}", info.id),
        None => format!("{}-{}", config.client_prefix, info.id),
    };
    let start_ms = config.clock.start_ms();
    let fit = options.air_fits.of(info.id);
    let node = match &options.settings_dir {
        Some(dir) => {
            let path = dir.join(format!("node-{}.settings", info.id));
            SimNode::with_settings_file(&info, config.boot, config.node, fit, &path)
                .with_context(|| format!("cannot open the settings flash of node {}", info.id))?
        }
        None => SimNode::with_fit(&info, config.boot, config.node, fit),
    };
    let mut run = NodeRun {
        node,
        info,
        cancel,
        sent: Vec::new(),
        t: start_ms,
        boot_ms: start_ms.saturating_sub(BOOT_LEAD_MS),
        telemetry: 0,
        next_status: start_ms + STATUS_INTERVAL_MS,
        started: Instant::now(),
        linked: false,
        config,
    };
    let (mut rx, mut tx) = ([0u8; RX_BUFFER], [0u8; TX_BUFFER]);
    let mut offline_since: Option<Instant> = None;
    loop {
        let login = (client_id.as_str(), password.as_deref().map(str::as_bytes));
        match run.connection(&topics, login, &mut rx, &mut tx).await {
            Ok(Ended::Done) => break,
            Ok(Ended::Reboot) => run = run.reboot(),
            Err(e) if e.is::<LinkLost>() => {
                if std::mem::take(&mut run.linked) {
                    offline_since = None;
                }
                let since = *offline_since.get_or_insert_with(Instant::now);
                if run.cancel.is_cancelled() {
                    warn!(node = run.info.id, error = %e, "Simulated node lost its link while stopping.");
                    break;
                }
                if since.elapsed() > OFFLINE_LIMIT {
                    return Err(e.context(format!("no link for {OFFLINE_LIMIT:?}")));
                }
                warn!(
                    node = run.info.id,
                    queued = run.node.outbox_mut().queued(),
                    error = %e,
                    "Simulated node lost its link; sampling into its outbox and connecting again."
                );
                run.offline(Instant::now() + RECONNECT_DELAY).await;
                if run.cancel.is_cancelled() {
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
    debug!(node = run.info.id, frames = run.sent.len(), "Node finished.");
    Ok(run.sent)
}

impl NodeRun {
    fn uptime(&self) -> u64 {
        self.t.saturating_sub(self.boot_ms)
    }

    fn error(&self, what: &str, e: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("node {}: {what}: {e}", self.info.id)
    }

    fn link_lost(&self, what: &'static str, e: impl std::fmt::Display) -> anyhow::Error {
        anyhow::Error::new(LinkLost {
            node: self.info.id,
            what,
            detail: e.to_string(),
        })
    }

    fn sent_frame(&self, out: &Outgoing) -> SentFrame {
        SentFrame {
            station: self.info.station.clone(),
            channel: out.channel,
            frame: out.frame,
        }
    }

    /// Notes a frame the broker acknowledged.
    fn record(&mut self, entry: &Entry) {
        if let Some(out) = self.node.outgoing(entry.channel(), entry.frame().to_vec()) {
            let frame = self.sent_frame(&out);
            self.sent.push(frame);
        }
    }

    /// One MQTT connection, from CONNECT to DISCONNECT.
    async fn connection(
        &mut self,
        topics: &Topics,
        (client_id, password): (&str, Option<&[u8]>),
        rx: &mut [u8],
        tx: &mut [u8],
    ) -> anyhow::Result<Ended> {
        let death = self.node.status(StatusKind::Death, self.uptime(), self.t);
        let mut session = uplink::session(rx, tx, client_id, password, topics, &death.bytes, 30)
            .map_err(|e: UplinkError<IoError>| self.error("MQTT session", e))?;
        let io = connect(&self.config.host, self.config.port, &self.cancel)
            .await
            .map_err(|e| self.link_lost("connect", format!("{e:#}")))?;
        let birth = self.node.status(StatusKind::Birth, self.uptime(), self.t);
        let mut link = Link::open(&mut session, io, topics, &birth.bytes)
            .await
            .map_err(|e| self.link_lost("MQTT connect", e))?;
        self.linked = true;
        let mut birth = Some(birth);
        self.node.outbox_mut().set_connected(true);
        let result = match self.exchange(&mut link, &mut birth).await {
            Ok(Ended::Done) => self.drain(&mut link, &mut birth).await,
            other => other,
        };
        if let Ok(Ended::Reboot) = result {
            info!(
                node = self.info.id,
                boot = self.node.boot(),
                "Simulated node rebooting on command."
            );
            self.settle(&mut link, &mut birth).await;
        }
        // A planned stop either way: DISCONNECT, so the broker does not publish the death frame.
        if result.is_ok() {
            let _ = link.close().await;
        }
        self.node.outbox_mut().set_connected(false);
        result
    }

    /// Samples on the simulated clock and keeps the link moving, until the node has sent its
    /// frames, the fleet stops or a reboot is commanded.
    async fn exchange(
        &mut self,
        link: &mut Link<'_, '_, TcpIo>,
        birth: &mut Option<Outgoing>,
    ) -> anyhow::Result<Ended> {
        while self.producing() {
            // Until simulated time reaches the step, the link keeps moving: what is queued goes
            // out, commands and keepalives are answered.
            loop {
                let now = self.config.clock.now_ms();
                if now >= self.t || self.cancel.is_cancelled() {
                    break;
                }
                let idle = birth.is_none() && self.node.outbox_mut().queued() == 0;
                let wait = if idle {
                    self.config.clock.real_wait(self.t - now)
                } else {
                    LINK_WAIT
                };
                if let Some(ended) = self.pump(link, birth, Wait::UpToOrStop(wait)).await? {
                    return Ok(ended);
                }
            }
            if self.cancel.is_cancelled() {
                return Ok(Ended::Done);
            }
            self.sample();
            if let Some(ended) = self.pump(link, birth, Wait::No).await? {
                return Ok(ended);
            }
            while self.node.outbox_mut().queued() >= QUEUE_HIGH_WATER {
                if let Some(ended) = self.pump(link, birth, Wait::UpToOrStop(LINK_WAIT)).await? {
                    return Ok(ended);
                }
            }
            tokio::task::yield_now().await;
        }
        Ok(Ended::Done)
    }

    /// Whether the node still has telemetry to produce.
    fn producing(&self) -> bool {
        self.config
            .frames_per_node
            .is_none_or(|limit| self.telemetry < limit)
    }

    /// One step at simulated time `t`: the environment and power of that moment, a sample (and a
    /// frame when a report is due) into the outbox, a status frame when one is due; then the
    /// next step.
    fn sample(&mut self) {
        let (kind, id, t) = (self.info.kind, self.info.id, self.t);
        self.node
            .set_environment(self.config.scenario.environment(kind, id, t));
        let (battery_mv, rssi_dbm) = power_and_link(kind, id, t);
        self.node.set_power_and_link(battery_mv, rssi_dbm);
        let produced = self.node.poll(self.uptime(), t);
        let telemetry = produced
            .iter()
            .filter(|o| o.channel == NodeChannel::Telemetry)
            .count();
        self.telemetry = self
            .telemetry
            .saturating_add(u32::try_from(telemetry).unwrap_or(u32::MAX));
        if t >= self.next_status {
            self.node.publish_status(self.uptime(), t);
            self.next_status += STATUS_INTERVAL_MS;
        }
        self.t += u64::from(self.config.node.sample_interval_ms.max(1));
    }

    /// Without a link, until `until` (real time): the node goes on sampling as simulated time
    /// passes, its frames queued in the outbox's flash, which drops its oldest when full (the
    /// node counts them in its status), as the board does while its modem has no network.
    async fn offline(&mut self, until: Instant) {
        let (entered, entered_t) = (Instant::now(), self.t);
        while Instant::now() < until && !self.cancel.is_cancelled() {
            // An unlimited clock runs as fast as the broker takes frames; with no broker, the
            // node's time passes in real time from where it lost the link, so a backfill that
            // loses its link does not jump to the wall clock and drop its flash queue's oldest.
            let limit = match self.config.clock.speed() {
                Speed::Unlimited => {
                    let elapsed = u64::try_from(entered.elapsed().as_millis()).unwrap_or(u64::MAX);
                    self.config.clock.now_ms().min(entered_t.saturating_add(elapsed))
                }
                Speed::Factor(_) => self.config.clock.now_ms(),
            };
            while self.producing() && self.t <= limit {
                self.sample();
            }
            let left = until.saturating_duration_since(Instant::now());
            // A node that has made all its frames has nothing to wait for but the reconnect
            // (its next step stays behind the clock, which would make the wait 1 ms).
            let wait = if self.producing() {
                let ahead = self.t.saturating_sub(limit);
                self.config.clock.real_wait(ahead).min(left)
            } else {
                left
            };
            tokio::select! {
                () = self.cancel.cancelled() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Takes in what the broker sent (acknowledgements, commands), first waiting as `wait` says
    /// for something to arrive, and forwards the outbox's next frame.
    async fn pump(
        &mut self,
        link: &mut Link<'_, '_, TcpIo>,
        birth: &mut Option<Outgoing>,
        wait: Wait,
    ) -> anyhow::Result<Option<Ended>> {
        let mut ended = None;
        let (limit, stop) = match wait {
            Wait::No => (None, None),
            Wait::UpTo(limit) => (Some(limit), None),
            Wait::UpToOrStop(limit) => (Some(limit), Some(self.cancel.clone())),
        };
        if let Some(limit) = limit {
            // Both branches are cancel-safe: minimq's poll over a TCP read loses nothing when
            // dropped before it completes.
            let inbound = tokio::select! {
                result = tokio::time::timeout(limit, link.poll()) => result.ok(),
                () = async {
                    match &stop {
                        Some(token) => token.cancelled().await,
                        None => std::future::pending().await,
                    }
                } => None,
            };
            if let Some(result) = inbound {
                let command = result.map_err(|e| self.link_lost("MQTT", e))?;
                ended = self.obey(command);
            }
        }
        while ended.is_none()
            && let Some(result) = link.poll().now_or_never()
        {
            let command = result.map_err(|e| self.link_lost("MQTT", e))?;
            ended = self.obey(command);
        }
        self.birth_acked(link, birth);
        let in_flight = self.node.outbox_mut().in_flight().copied();
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let acked = link
            .forward(self.node.outbox_mut(), now)
            .await
            .map_err(|e| self.link_lost("forwarding", e))?;
        if acked && let Some(entry) = in_flight {
            self.record(&entry);
        }
        Ok(ended)
    }

    fn birth_acked(&mut self, link: &Link<'_, '_, TcpIo>, birth: &mut Option<Outgoing>) {
        if link.is_acked(link.birth())
            && let Some(out) = birth.take()
        {
            let frame = self.sent_frame(&out);
            self.sent.push(frame);
        }
    }

    /// Carries out a downlink command as the firmware does; a status frame it asks for goes to
    /// the outbox like any other. Returns [`Ended::Reboot`] for a reboot.
    fn obey(&mut self, command: Option<Downlink>) -> Option<Ended> {
        let command = command?;
        match self.node.handle_command(command.bytes(), self.uptime(), self.t) {
            Ok((Command::Reboot, _)) => Some(Ended::Reboot),
            Ok((command, _)) => {
                info!(node = self.info.id, ?command, "Simulated node obeyed a command.");
                None
            }
            Err(reason) => {
                warn!(node = self.info.id, %reason, "Simulated node refused a command.");
                None
            }
        }
    }

    /// Waits for the broker to acknowledge everything queued, giving up when it acknowledges
    /// nothing for [`ACK_DEADLINE`].
    ///
    /// Design: the deadline runs from the last acknowledgement, not from the start: a backlog
    /// leaves paced (one frame per backlog interval, 500 ms), so the backlog of a long outage
    /// takes minutes to drain while the broker keeps up.
    async fn drain(
        &mut self,
        link: &mut Link<'_, '_, TcpIo>,
        birth: &mut Option<Outgoing>,
    ) -> anyhow::Result<Ended> {
        let mut deadline = Instant::now() + ACK_DEADLINE;
        let mut acked = self.sent.len();
        while birth.is_some() || self.node.outbox_mut().queued() > 0 {
            if self.sent.len() > acked {
                acked = self.sent.len();
                deadline = Instant::now() + ACK_DEADLINE;
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "node {}: the broker acknowledged {} frames; {} still queued and none acknowledged for {ACK_DEADLINE:?}",
                    self.info.id,
                    self.sent.len(),
                    self.node.outbox_mut().queued()
                );
            }
            if let Some(ended) = self.pump(link, birth, Wait::UpTo(LINK_WAIT)).await? {
                return Ok(ended);
            }
        }
        Ok(Ended::Done)
    }

    /// Before a reboot: the frame in flight and the birth frame acknowledged, within
    /// [`SETTLE_DEADLINE`]. What is still unacknowledged stays in the outbox's flash and goes
    /// again after the restart.
    async fn settle(&mut self, link: &mut Link<'_, '_, TcpIo>, birth: &mut Option<Outgoing>) {
        let in_flight = self.node.outbox_mut().in_flight().copied();
        let settled = tokio::time::timeout(SETTLE_DEADLINE, async {
            link.settle(self.node.outbox_mut()).await?;
            while !link.is_acked(link.birth()) {
                link.poll().await?;
            }
            Ok::<_, UplinkError<IoError>>(())
        })
        .await;
        if let Ok(Ok(())) = settled {
            if let Some(entry) = in_flight {
                self.record(&entry);
            }
            self.birth_acked(link, birth);
        }
    }

    /// The node restarted from its flash; uptime starts again at the current step.
    fn reboot(mut self) -> Self {
        self.node = self.node.reboot();
        self.boot_ms = self.t;
        self
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;
    use crate::clock::{SimClock, Speed, wall_ms};

    /// A future that counts how often it is woken and polled.
    struct Polls<F> {
        inner: Pin<Box<F>>,
        count: u32,
    }

    impl<F: Future> Future for Polls<F> {
        type Output = u32;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.count += 1;
            match self.inner.as_mut().poll(cx) {
                Poll::Ready(_) => Poll::Ready(self.count),
                Poll::Pending => Poll::Pending,
            }
        }
    }

    fn node_run(frames_per_node: u32) -> NodeRun {
        node_run_with(frames_per_node, Speed::Factor(60.0), 600_000)
    }

    /// A node whose clock starts `behind_ms` before now at `speed`.
    fn node_run_with(frames_per_node: u32, speed: Speed, behind_ms: u64) -> NodeRun {
        let registry = crate::stations::hau_giang(1, 0);
        let info = registry.nodes().next().expect("a node").clone();
        let start_ms = wall_ms() - behind_ms;
        let config = Arc::new(FleetConfig {
            host: "127.0.0.1".into(),
            port: 1,
            prefix: "test".into(),
            client_prefix: "test".into(),
            registry: registry.clone(),
            node: firmware::node::NodeConfig::default(),
            clock: SimClock::new(start_ms, speed),
            frames_per_node: Some(frames_per_node),
            scenario: crate::signal::Scenario::default(),
            boot: 1,
        });
        NodeRun {
            node: SimNode::with_fit(
                &info,
                1,
                config.node,
                FleetOptions::default().air_fits.of(info.id),
            ),
            info,
            cancel: CancellationToken::new(),
            sent: Vec::new(),
            t: start_ms,
            boot_ms: start_ms - BOOT_LEAD_MS,
            telemetry: 0,
            next_status: start_ms + STATUS_INTERVAL_MS,
            started: Instant::now(),
            linked: false,
            config,
        }
    }

    /// Offline with all its frames made (its step behind the clock for good), a node sleeps
    /// until the reconnect instead of waking every millisecond.
    #[tokio::test]
    async fn offline_with_every_frame_made_sleeps_until_the_reconnect() {
        let mut run = node_run(0);
        let until = Instant::now() + Duration::from_millis(300);
        let polls = Polls {
            inner: Box::pin(run.offline(until)),
            count: 0,
        }
        .await;
        assert!(Instant::now() >= until, "offline until the reconnect");
        assert!(polls <= 3, "woken {polls} times in 300 ms");
        assert_eq!(run.telemetry, 0, "nothing sampled past the limit");
    }

    /// A backfill (unlimited clock, a week behind) that loses its link samples in real time from
    /// where it was, not all the way to the wall clock in one burst.
    #[tokio::test]
    async fn an_unlimited_clock_offline_advances_in_real_time() {
        let mut run = node_run_with(100_000, Speed::Unlimited, 7 * 24 * 3_600_000);
        let before = run.t;
        run.offline(Instant::now() + Duration::from_millis(300)).await;
        let advanced = run.t - before;
        assert!(
            advanced <= 2_000 + u64::from(run.config.node.sample_interval_ms),
            "advanced {advanced} ms of simulated time in 300 ms offline"
        );
    }
}
