//! The node's schedule: when to sample, when to report, and how a frame is built and sent.

use protocol::topic::NodeChannel;
use protocol::{
    AirSample, Body, EncodeError, Frame, MAX_FRAME_LEN, NodeStatus, QualityFlags, StatusKind, TIME_MS_VALID,
    WaterSample,
};

use super::config::{NodeConfig, NodeIdentity};
use super::error::NodeError;
use super::sampler::Sampler;
use super::transport::Transport;

/// A sensor node: a [`Sampler`] on a schedule, turning its means into signed frames.
///
/// Samples fall on multiples of the sample interval and reports on multiples of the report interval,
/// both counted from uptime 0. A report covers the half-open interval since the previous one, so a
/// sample due at the same instant as a report goes into the next interval.
#[derive(Debug)]
pub struct Node<S> {
    identity: NodeIdentity,
    config: NodeConfig,
    sampler: S,
    seq: u32,
    next_sample_ms: u64,
    /// When to wake sleeping sensors for the next sample, if they sleep between samples.
    next_prepare_ms: Option<u64>,
    next_report_ms: u64,
    frames_sent: u32,
    frames_dropped: u32,
    link: LinkStatus,
    /// Reports still to be flagged [`QualityFlags::CALIBRATING`]: see [`Node::mark_calibrating`].
    calibrating_reports: u8,
}

/// Reports flagged after a calibration step: the one the step falls in (part of its means were
/// taken in the standard) and the next (the probe or cell settles back in the environment).
const CALIBRATING_REPORTS: u8 = 2;

/// What the node's status frames report about its power and uplink, as the board last measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStatus {
    /// Battery voltage in mV; `None` on mains power.
    pub battery_mv: Option<u16>,
    /// Link quality (modem RSSI) in dBm, when known.
    pub rssi_dbm: Option<i16>,
    /// Frames dropped from the store-and-forward queue since boot because it was full.
    pub queue_dropped: u32,
    /// Frames waiting in the store-and-forward queue.
    pub queued: usize,
}

impl<S> Node<S> {
    /// A node that has sent nothing in this boot: the first frame will carry sequence number 0.
    pub fn new(identity: NodeIdentity, config: NodeConfig, sampler: S) -> Self {
        let report_interval = u64::from(config.report_interval_ms.max(1));
        Node {
            identity,
            config,
            sampler,
            seq: 0,
            next_sample_ms: 0,
            next_prepare_ms: None,
            next_report_ms: report_interval,
            frames_sent: 0,
            frames_dropped: 0,
            link: LinkStatus::default(),
            calibrating_reports: 0,
        }
    }

    /// Updates what the next status frame reports about power, link and queue.
    pub fn set_link_status(&mut self, link: LinkStatus) {
        self.link = link;
    }

    /// Changes the reporting interval from now on (a downlink command); the current interval ends
    /// at the next multiple of the new one, and its readings go into that frame.
    pub fn set_report_interval_ms(&mut self, report_interval_ms: u32, uptime_ms: u64) {
        self.config.report_interval_ms = report_interval_ms.max(1);
        let interval = u64::from(self.config.report_interval_ms);
        self.next_report_ms = (uptime_ms - uptime_ms % interval).saturating_add(interval);
    }

    /// Flags the current report and the next as calibrating (a calibration step was taken), so
    /// that no one reads a standard's value as the environment's: the environment authority's
    /// files mark them `01`.
    pub fn mark_calibrating(&mut self) {
        self.calibrating_reports = CALIBRATING_REPORTS;
    }

    /// The sequence number the next frame will carry.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Frames handed to the transport successfully since boot.
    pub fn frames_sent(&self) -> u32 {
        self.frames_sent
    }

    /// Frames lost since boot: refused by the transport or not encodable. Reported in status frames.
    pub fn frames_dropped(&self) -> u32 {
        self.frames_dropped
    }

    /// The next uptime at which [`Node::poll`] has something to do (a sample or a report). A board
    /// can sleep until then; a simulation can step from one due time to the next.
    pub fn next_due_ms(&self) -> u64 {
        let due = self.next_sample_ms.min(self.next_report_ms);
        self.next_prepare_ms.map_or(due, |p| due.min(p))
    }

    /// Who the node is.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// Its intervals and firmware version.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The sampler, for its diagnostics.
    pub fn sampler(&self) -> &S {
        &self.sampler
    }

    /// The sampler, mutably (to reconfigure sensors between polls).
    pub fn sampler_mut(&mut self) -> &mut S {
        &mut self.sampler
    }

    /// Gives the sampler back, as a reset does with the sensors: what the node held in RAM (its
    /// sequence number, the interval's readings) is gone.
    pub fn destroy(self) -> S {
        self.sampler
    }

    /// Builds a status frame into `buf` and returns its bytes, for [`NodeChannel::Status`]. It takes
    /// the next sequence number like any frame. Publish the birth frame after connecting; build the
    /// death frame at connect time and register it as the MQTT will.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] only through a bug: every status field the node fills is within range.
    pub fn status_frame<'b>(
        &mut self,
        kind: StatusKind,
        uptime_ms: u64,
        wall_ms: u64,
        buf: &'b mut [u8; MAX_FRAME_LEN],
    ) -> Result<&'b [u8], EncodeError> {
        let body = self.status_body(kind, uptime_ms);
        self.encode(body, wall_ms, buf)
    }

    fn status_body(&self, kind: StatusKind, uptime_ms: u64) -> Body {
        Body::Status(NodeStatus {
            kind,
            firmware: self.config.firmware,
            uptime_s: u32::try_from(uptime_ms / 1_000).unwrap_or(u32::MAX),
            battery_mv: self.link.battery_mv,
            rssi_dbm: self.link.rssi_dbm,
            frames_dropped: self.frames_dropped.saturating_add(self.link.queue_dropped),
            frames_queued: u16::try_from(self.link.queued).unwrap_or(u16::MAX),
        })
    }

    fn encode<'b>(
        &mut self,
        body: Body,
        wall_ms: u64,
        buf: &'b mut [u8; MAX_FRAME_LEN],
    ) -> Result<&'b [u8], EncodeError> {
        let frame = Frame {
            node_id: self.identity.node_id,
            boot: self.identity.boot,
            seq: self.seq,
            time_ms: if TIME_MS_VALID.contains(&wall_ms) {
                wall_ms
            } else {
                0
            },
            body,
        };
        // Design: the number is used up even if the frame is then lost, so (node, boot, seq) never
        // names two different frames; the receiver sees the gap instead of a false duplicate.
        self.seq = self.seq.wrapping_add(1);
        frame.encode(self.identity.key.as_ref(), buf)
    }

    /// Encodes `body` and publishes it on `channel`, counting the outcome.
    fn send<T: Transport>(
        &mut self,
        channel: NodeChannel,
        body: Body,
        wall_ms: u64,
        transport: &mut T,
    ) -> Result<(), NodeError<T::Error>> {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let result = match self.encode(body, wall_ms, &mut buf) {
            Ok(bytes) => transport.publish(channel, bytes).map_err(NodeError::Publish),
            Err(e) => Err(NodeError::Encode(e)),
        };
        match result {
            Ok(()) => self.frames_sent = self.frames_sent.saturating_add(1),
            Err(_) => self.frames_dropped = self.frames_dropped.saturating_add(1),
        }
        result
    }

    /// Builds a status frame and publishes it on [`NodeChannel::Status`].
    ///
    /// # Errors
    ///
    /// [`NodeError::Publish`] if the transport refuses it (counted as dropped).
    pub fn publish_status<T: Transport>(
        &mut self,
        kind: StatusKind,
        uptime_ms: u64,
        wall_ms: u64,
        transport: &mut T,
    ) -> Result<(), NodeError<T::Error>> {
        let body = self.status_body(kind, uptime_ms);
        self.send(NodeChannel::Status, body, wall_ms, transport)
    }
}

/// The first multiple of `interval` after `now`, given the `due` time that has just passed. A node
/// that was not polled for a while skips the missed slots rather than sampling them all at once.
fn next_slot(due: u64, now: u64, interval: u32) -> u64 {
    let interval = u64::from(interval.max(1));
    let next = due.saturating_add(interval);
    if next > now {
        next
    } else {
        (now - now % interval).saturating_add(interval)
    }
}

impl<S: Sampler> Node<S> {
    /// Runs everything due at `uptime_ms`: first the report (if due), then the sample (if due).
    /// `wall_ms` is the synced wall clock in ms since the epoch, or 0 when not synced; an implausible
    /// value is sent as 0 so that the collector stamps the frame.
    ///
    /// # Errors
    ///
    /// [`NodeError`] if a telemetry frame could not be sent; it is counted in
    /// [`Node::frames_dropped`] and the schedule goes on. Sampling still happens in that call.
    pub fn poll<T: Transport>(
        &mut self,
        uptime_ms: u64,
        wall_ms: u64,
        transport: &mut T,
    ) -> Result<(), NodeError<T::Error>> {
        let mut result = Ok(());
        if uptime_ms >= self.next_report_ms {
            self.next_report_ms = next_slot(self.next_report_ms, uptime_ms, self.config.report_interval_ms);
            if let Some(mut body) = self.sampler.take_body() {
                if self.calibrating_reports > 0 {
                    self.calibrating_reports -= 1;
                    if let Body::Air(AirSample { quality, .. }) | Body::Water(WaterSample { quality, .. }) =
                        &mut body
                    {
                        quality.insert(QualityFlags::CALIBRATING);
                    }
                }
                result = self.send(NodeChannel::Telemetry, body, wall_ms, transport);
            }
        }
        if self
            .next_prepare_ms
            .is_some_and(|p| uptime_ms >= p && uptime_ms < self.next_sample_ms)
        {
            self.next_prepare_ms = None;
            self.sampler.prepare(uptime_ms);
        }
        if uptime_ms >= self.next_sample_ms {
            self.next_sample_ms = next_slot(self.next_sample_ms, uptime_ms, self.config.sample_interval_ms);
            // Sensors that need a warm-up sleep between samples when the gap allows it, and are
            // woken that long before the next one.
            let warm_up = self.sampler.warm_up_ms();
            let sleeps = warm_up > 0 && u64::from(self.config.sample_interval_ms) >= 2 * warm_up;
            self.sampler.set_duty_cycling(sleeps);
            self.sampler.set_time(u32::try_from(wall_ms / 1_000).unwrap_or(0));
            self.sampler.sample(uptime_ms);
            self.next_prepare_ms = sleeps.then(|| self.next_sample_ms.saturating_sub(warm_up));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::next_slot;

    #[test]
    fn next_slot_stays_on_the_grid_and_skips_missed_slots() {
        assert_eq!(next_slot(0, 0, 1_000), 1_000);
        assert_eq!(next_slot(1_000, 1_500, 1_000), 2_000);
        assert_eq!(next_slot(1_000, 5_200, 1_000), 6_000);
        assert_eq!(next_slot(5, 5, 0), 6, "a zero interval is treated as 1 ms");
        assert_eq!(
            next_slot(u64::MAX - 5, u64::MAX, 1_000),
            u64::MAX,
            "saturates, never wraps"
        );
    }
}
