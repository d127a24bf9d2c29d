//! Store-and-forward, boot counter and downlink commands on an emulated NOR flash, with a clock the
//! test drives: outages, reboots and a full queue in simulated hours that run in milliseconds.

use std::cell::Cell;
use std::rc::Rc;

use firmware::node::{
    DownlinkError, FIRMWARE_VERSION, ForwardPolicy, LinkStatus, Node, NodeConfig, NodeIdentity, Sampler,
    StoreAndForward, Transport,
};
use firmware::storage::{FrameQueue, RamFlash, Settings};
use protocol::command::{Command, SignedCommand};
use protocol::topic::NodeChannel;
use protocol::{AirSample, Body, Frame, NodeKey, StatusKind, decode};

const KEY: NodeKey = NodeKey::new([0x42; 32]);
const WALL_MS: u64 = 1_764_201_600_000;
const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
type QueueFlash = RamFlash<{ 32 * 1024 }>;
type SettingsFlash = RamFlash<4096>;

/// A sampler whose PM2.5 is the sample count so far: every frame is different and checkable.
#[derive(Default)]
struct Counting {
    taken: u16,
    in_interval: u16,
}

impl Sampler for Counting {
    fn sample(&mut self, _uptime_ms: u64) {
        self.taken = self.taken.wrapping_add(1);
        self.in_interval += 1;
    }

    fn take_body(&mut self) -> Option<Body> {
        let samples = std::mem::take(&mut self.in_interval);
        (samples > 0).then(|| {
            Body::Air(AirSample {
                samples,
                pm2_5: Some(self.taken % 20_000),
                ..AirSample::default()
            })
        })
    }
}

/// The broker side of the link: takes frames while `up`, and notes when each arrived.
struct Link {
    up: bool,
    now: Rc<Cell<u64>>,
    delivered: Vec<(u64, NodeChannel, Frame)>,
}

impl Link {
    fn new(now: &Rc<Cell<u64>>) -> Self {
        Link {
            up: true,
            now: Rc::clone(now),
            delivered: Vec::new(),
        }
    }

    fn telemetry(&self) -> Vec<(u64, Frame)> {
        self.delivered
            .iter()
            .filter(|(_, c, _)| *c == NodeChannel::Telemetry)
            .map(|(t, _, f)| (*t, *f))
            .collect()
    }
}

impl Transport for Link {
    type Error = ();

    fn publish(&mut self, channel: NodeChannel, frame: &[u8]) -> Result<(), ()> {
        if !self.up {
            return Err(());
        }
        let frame = decode(frame, Some(&KEY)).expect("the node's frames verify");
        self.delivered.push((self.now.get(), channel, frame));
        Ok(())
    }
}

fn node(boot: u32) -> Node<Counting> {
    let identity = NodeIdentity {
        node_id: 7,
        boot,
        key: Some(KEY),
    };
    let config = NodeConfig {
        sample_interval_ms: 5_000,
        report_interval_ms: 60_000,
        firmware: FIRMWARE_VERSION,
    };
    Node::new(identity, config, Counting::default())
}

fn outbox(flash: QueueFlash) -> StoreAndForward<QueueFlash> {
    let queue = FrameQueue::open(flash, 0..32 * 1024).expect("queue opens");
    StoreAndForward::new(queue, ForwardPolicy::default())
}

/// Runs the node and its outbox from `from` to `until` (uptime ms) in 500 ms steps; the link is
/// down while `down(t)`. Returns the frames the node produced, by seq.
fn run(
    node: &mut Node<Counting>,
    saf: &mut StoreAndForward<QueueFlash>,
    link: &mut Link,
    from: u64,
    until: u64,
    down: impl Fn(u64) -> bool,
) -> u32 {
    let mut t = from;
    while t <= until {
        link.now.set(t);
        let up = !down(t);
        if up != link.up {
            link.up = up;
            saf.set_connected(up);
        }
        node.poll(t, WALL_MS + t, saf).expect("flash takes every frame");
        saf.pump(t, link).expect("flash works");
        t += 500;
    }
    node.seq()
}

#[test]
fn a_two_hour_outage_then_reconnect_delivers_every_frame_once_in_order() {
    let now = Rc::new(Cell::new(0));
    let mut link = Link::new(&now);
    let mut saf = outbox(QueueFlash::new());
    saf.set_connected(true);
    let mut node = node(1);
    let produced = run(&mut node, &mut saf, &mut link, 0, 4 * HOUR, |t| {
        (HOUR..3 * HOUR).contains(&t)
    });

    let got = link.telemetry();
    let seqs: Vec<u32> = got.iter().map(|(_, f)| f.seq).collect();
    assert_eq!(produced as usize, 4 * 60, "one frame a minute for four hours");
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..produced).collect::<Vec<_>>(),
        "every frame exactly once"
    );
    assert_eq!(saf.queued(), 0);
    assert_eq!(saf.dropped(), 0);

    // The frames queued during the outage (sent at t = 60 min .. 179 min) arrive in order.
    let backlog: Vec<u32> = got
        .iter()
        .filter(|(_, f)| (HOUR..3 * HOUR).contains(&(f.time_ms - WALL_MS)))
        .map(|(_, f)| f.seq)
        .collect();
    assert_eq!(backlog.len(), 120);
    assert!(
        backlog.windows(2).all(|w| w[0] < w[1]),
        "backlog in order: {backlog:?}"
    );
    // Live frames never wait behind the backlog: each arrives within one step of being made.
    for (arrived, frame) in &got {
        let made = frame.time_ms - WALL_MS;
        if made >= 3 * HOUR {
            assert!(
                arrived - made <= 500,
                "live frame {} waited {} ms",
                frame.seq,
                arrived - made
            );
        }
    }
    // And the backlog is rate-limited: 120 frames at 500 ms take about a minute, not one step.
    let drained_at = got
        .iter()
        .filter(|(_, f)| f.time_ms - WALL_MS < 3 * HOUR)
        .map(|(t, _)| *t)
        .max()
        .expect("backlog delivered");
    assert!(
        (3 * HOUR + 59_000..3 * HOUR + 61_000).contains(&drained_at),
        "backlog drained at {drained_at}"
    );
}

/// The frame the outbox hands out next, as the byte the test queued it with.
fn next_byte(saf: &mut StoreAndForward<QueueFlash>, now_ms: u64) -> Option<u8> {
    let next = saf.next(now_ms).expect("flash works");
    next.map(|(_, entry)| entry.frame()[0])
}

#[test]
fn a_frame_unacknowledged_when_the_link_drops_goes_first_on_the_next_link() {
    let mut saf = outbox(QueueFlash::new());
    saf.set_connected(true);
    let send = |saf: &mut StoreAndForward<QueueFlash>, byte: u8| {
        saf.publish(NodeChannel::Telemetry, &[byte]).expect("queued");
    };
    send(&mut saf, 1);
    assert_eq!(next_byte(&mut saf, 0), Some(1));
    send(&mut saf, 2);
    assert_eq!(next_byte(&mut saf, 0), None, "one frame in flight at a time");

    // The link drops before frame 1's PUBACK: the broker may have it, or not.
    saf.set_connected(false);
    send(&mut saf, 3);
    assert_eq!(
        next_byte(&mut saf, 0),
        None,
        "nothing goes while the link is down"
    );
    saf.set_connected(true);
    saf.set_connected(false);
    saf.set_connected(true);
    send(&mut saf, 4);
    assert_eq!(
        next_byte(&mut saf, 0),
        Some(1),
        "the retry comes before the live frame 4, even after a second drop"
    );
    assert_eq!(next_byte(&mut saf, 0), None, "and is in flight again");
    saf.acked().expect("flash works");

    let mut order = Vec::new();
    let mut t = 0;
    while saf.queued() > 0 {
        if let Some(byte) = next_byte(&mut saf, t) {
            order.push(byte);
            saf.acked().expect("flash works");
        }
        t += 500;
    }
    assert_eq!(
        order,
        [4, 2, 3],
        "then the live frame, then the backlog oldest first"
    );
}

#[test]
fn a_reboot_in_the_middle_keeps_the_boot_counter_monotonic_and_the_queue_intact() {
    let now = Rc::new(Cell::new(0));
    let mut link = Link::new(&now);
    link.up = false;
    let mut settings = Settings::open(SettingsFlash::new(), 0..4096);
    let first_boot = settings.next_boot().expect("boot counter");
    assert_eq!(first_boot, 1);
    let mut saf = outbox(QueueFlash::new());
    let mut node_a = node(first_boot);
    let made_a = run(&mut node_a, &mut saf, &mut link, 0, 30 * MINUTE, |_| true);
    assert_eq!(saf.queued(), 30);

    // Power cycle: RAM is gone, the two flash regions stay.
    let (queue_flash, settings_flash) = (saf.destroy().destroy(), settings.destroy());
    let mut settings = Settings::open(settings_flash, 0..4096);
    let second_boot = settings.next_boot().expect("boot counter");
    assert!(second_boot > first_boot, "boot {second_boot} after {first_boot}");
    let mut saf = outbox(queue_flash);
    assert_eq!(saf.queued(), 30, "the queue survived the reboot");

    let mut node_b = node(second_boot);
    let made_b = run(&mut node_b, &mut saf, &mut link, 0, 10 * MINUTE, |t| {
        t < 2 * MINUTE
    });
    let got: Vec<(u32, u32)> = link.telemetry().iter().map(|(_, f)| (f.boot, f.seq)).collect();
    let mut expected: Vec<(u32, u32)> = (0..made_a).map(|s| (first_boot, s)).collect();
    expected.extend((0..made_b).map(|s| (second_boot, s)));
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "every frame of both boots once");
    let before_reboot: Vec<u32> = got
        .iter()
        .filter(|(b, _)| *b == first_boot)
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(
        before_reboot,
        (0..made_a).collect::<Vec<_>>(),
        "first boot's frames in order"
    );
}

#[test]
fn a_full_queue_drops_the_oldest_counts_them_and_reports_them_in_status() {
    let now = Rc::new(Cell::new(0));
    let mut link = Link::new(&now);
    link.up = false;
    // 4 KiB holds a few dozen frames: a day offline overflows it.
    let queue = FrameQueue::open(RamFlash::<4096>::new(), 0..4096).expect("queue opens");
    let mut saf = StoreAndForward::new(queue, ForwardPolicy::default());
    let mut node = node(1);
    let mut t = 0;
    while t <= 24 * HOUR {
        node.poll(t, WALL_MS + t, &mut saf)
            .expect("flash takes every frame");
        t += 5_000;
    }
    let made = node.seq();
    let (queued, dropped) = (saf.queued(), saf.dropped());
    assert!(dropped > 0 && queued > 0, "queued {queued}, dropped {dropped}");
    assert_eq!(
        queued as u32 + dropped,
        made,
        "every frame is either queued or counted"
    );

    node.set_link_status(LinkStatus {
        queue_dropped: dropped,
        queued,
        ..LinkStatus::default()
    });
    link.up = true;
    saf.set_connected(true);
    node.publish_status(StatusKind::Periodic, t, WALL_MS + t, &mut saf)
        .expect("queued");
    let mut t2 = t;
    while saf.queued() > 0 {
        saf.pump(t2, &mut link).expect("flash works");
        t2 += 500;
    }
    let status = link
        .delivered
        .iter()
        .find_map(|(_, c, f)| match f.body {
            Body::Status(s) if *c == NodeChannel::Status => Some(s),
            _ => None,
        })
        .expect("status delivered");
    assert_eq!(status.frames_dropped, dropped);
    assert_eq!(usize::from(status.frames_queued), queued);
    let seqs: Vec<u32> = link.telemetry().iter().map(|(_, f)| f.seq).collect();
    assert_eq!(
        seqs,
        (dropped..made).collect::<Vec<_>>(),
        "the newest frames survive, oldest first"
    );
}

fn command(counter: u64, command: Command, key: &NodeKey) -> Vec<u8> {
    SignedCommand {
        node_id: 7,
        counter,
        command,
    }
    .to_bytes(key)
    .expect("valid command")
}

#[test]
fn a_command_is_obeyed_once_and_its_replay_is_refused_even_after_a_reboot() {
    let now = Rc::new(Cell::new(0));
    let mut link = Link::new(&now);
    let mut settings = Settings::open(SettingsFlash::new(), 0..4096);
    let mut node = node(1);
    let five_minutes = command(10, Command::SetReportInterval { seconds: 300 }, &KEY);
    let obeyed = node.handle_command(&five_minutes, &mut settings, 0, WALL_MS, &mut link);
    assert_eq!(obeyed.ok(), Some(Command::SetReportInterval { seconds: 300 }));
    assert_eq!(settings.report_interval_s().expect("flash"), Some(300));
    assert_eq!(settings.downlink_counter().expect("flash"), 10);

    let mut t = 0;
    while t <= 20 * MINUTE {
        node.poll(t, WALL_MS + t, &mut link).expect("link up");
        t += 5_000;
    }
    assert_eq!(link.telemetry().len(), 4, "one frame per 5 minutes");

    let replay = node.handle_command(&five_minutes, &mut settings, t, WALL_MS + t, &mut link);
    assert!(matches!(replay, Err(DownlinkError::Refused(e)) if e.reason() == "replayed"));

    // After a reboot the counter is still in flash.
    let mut settings = Settings::open(settings.destroy(), 0..4096);
    let mut node = self::node(2);
    let replay = node.handle_command(&five_minutes, &mut settings, 0, WALL_MS, &mut link);
    assert!(matches!(replay, Err(DownlinkError::Refused(e)) if e.reason() == "replayed"));

    let forged = command(11, Command::Reboot, &NodeKey::new([1; 32]));
    let refused = node.handle_command(&forged, &mut settings, 0, WALL_MS, &mut link);
    assert!(matches!(refused, Err(DownlinkError::Refused(e)) if e.reason() == "bad_tag"));

    let before = link.delivered.len();
    let status = command(12, Command::RequestStatus, &KEY);
    assert!(
        node.handle_command(&status, &mut settings, 0, WALL_MS, &mut link)
            .is_ok()
    );
    assert!(matches!(
        link.delivered[before..],
        [(
            _,
            NodeChannel::Status,
            Frame {
                body: Body::Status(_),
                ..
            }
        )]
    ));

    let mut keyless = Node::new(
        NodeIdentity {
            node_id: 7,
            boot: 1,
            key: None,
        },
        NodeConfig::default(),
        Counting::default(),
    );
    let refused = keyless.handle_command(
        &command(13, Command::Reboot, &KEY),
        &mut settings,
        0,
        0,
        &mut link,
    );
    assert!(matches!(refused, Err(DownlinkError::NoKey)));
}

#[test]
fn flash_that_was_never_formatted_is_formatted_once_and_then_kept() {
    // Memory standing in for flash (QEMU's code memory) starts as zeros, not erased 0xFF.
    let mut zeros = SettingsFlash::new();
    zeros.bytes_mut().fill(0);
    let mut settings = Settings::open(zeros, 0..4096);
    assert!(settings.next_boot().is_err(), "zeros are not a map");
    settings.format().expect("erase works");
    assert_eq!(settings.next_boot().expect("formatted"), 1);

    let mut zeros = QueueFlash::new();
    zeros.bytes_mut().fill(0);
    let (mut queue, formatted) = FrameQueue::open_or_format(zeros, 0..32 * 1024).expect("formats");
    assert!(formatted);
    queue.push(NodeChannel::Telemetry, &[1, 2, 3]).expect("push");
    let (queue, formatted) = FrameQueue::open_or_format(queue.destroy(), 0..32 * 1024).expect("opens");
    assert!(!formatted, "a formatted queue is opened, not erased again");
    assert_eq!(queue.len(), 1);
}
