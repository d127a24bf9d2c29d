//! Node schedule, averaging and framing, with a clock the test drives.

mod support;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use firmware::drivers::{Pms5003, Sht4x};
use firmware::node::{
    AirSampler, FIRMWARE_VERSION, Node, NodeConfig, NodeIdentity, Sampler, WaterProbe, WaterReading,
    WaterSampler,
};
use protocol::topic::NodeChannel;
use protocol::{AirSample, Body, DecodeError, Frame, NodeKey, QualityFlags, StatusKind, WaterSample, decode};
use support::{FakePms, FakeSht, NoDelay, Offline, VecTransport};

const KEY: NodeKey = NodeKey::new([0x5A; 32]);
const WALL_MS: u64 = 1_764_201_660_000;

fn config(sample_interval_ms: u32, report_interval_ms: u32) -> NodeConfig {
    NodeConfig {
        sample_interval_ms,
        report_interval_ms,
        firmware: FIRMWARE_VERSION,
    }
}

fn identity(key: Option<NodeKey>) -> NodeIdentity {
    NodeIdentity {
        node_id: 42,
        boot: 3,
        key,
    }
}

/// A probe that plays back readings (repeating the last), or fails while `failing` is set.
#[derive(Clone, Default)]
struct ScriptedProbe {
    readings: Rc<RefCell<VecDeque<WaterReading>>>,
    last: Rc<RefCell<WaterReading>>,
    failing: Rc<RefCell<bool>>,
}

impl ScriptedProbe {
    fn constant(reading: WaterReading) -> Self {
        let probe = ScriptedProbe::default();
        *probe.last.borrow_mut() = reading;
        probe
    }
}

impl WaterProbe for ScriptedProbe {
    type Error = ();

    fn read(&mut self) -> Result<WaterReading, ()> {
        if *self.failing.borrow() {
            return Err(());
        }
        if let Some(next) = self.readings.borrow_mut().pop_front() {
            *self.last.borrow_mut() = next;
        }
        Ok(*self.last.borrow())
    }
}

fn river() -> WaterReading {
    WaterReading {
        ph: Some(7_120),
        dissolved_oxygen: Some(612),
        conductivity: Some(450),
        temperature: Some(2_875),
        ..WaterReading::default()
    }
}

/// Polls every `step_ms` from 0 to `until_ms` inclusive.
fn run<S: Sampler>(node: &mut Node<S>, transport: &mut VecTransport, step_ms: u64, until_ms: u64) {
    let mut t = 0;
    while t <= until_ms {
        // A publish error is part of some tests; they check the counters.
        let _ = node.poll(t, WALL_MS + t, transport);
        t += step_ms;
    }
}

fn decoded(transport: &VecTransport, key: Option<&NodeKey>) -> Vec<(NodeChannel, Frame)> {
    transport
        .sent
        .iter()
        .map(|(channel, bytes)| (*channel, decode(bytes, key).expect("node frames decode")))
        .collect()
}

fn water(frame: &Frame) -> WaterSample {
    match frame.body {
        Body::Water(sample) => sample,
        other => panic!("expected a water body, got {other:?}"),
    }
}

fn air(frame: &Frame) -> AirSample {
    match frame.body {
        Body::Air(sample) => sample,
        other => panic!("expected an air body, got {other:?}"),
    }
}

#[test]
fn sequence_numbers_start_at_0_and_step_by_one_across_status_and_telemetry() {
    let mut node = Node::new(
        identity(None),
        config(1_000, 60_000),
        WaterSampler::new(ScriptedProbe::constant(river())),
    );
    let mut transport = VecTransport::default();
    node.publish_status(StatusKind::Birth, 0, 0, &mut transport)
        .expect("birth");
    run(&mut node, &mut transport, 500, 300_000);
    let frames = decoded(&transport, None);
    assert_eq!(frames.len(), 6);
    assert_eq!(frames[0].0, NodeChannel::Status);
    assert!(frames[1..].iter().all(|(c, _)| *c == NodeChannel::Telemetry));
    let seqs: Vec<u32> = frames.iter().map(|(_, f)| f.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
    assert!(frames.iter().all(|(_, f)| f.node_id == 42 && f.boot == 3));
    assert_eq!(node.seq(), 6);
    assert_eq!(node.frames_sent(), 6);
}

#[test]
fn one_frame_per_report_interval_each_covering_its_own_samples() {
    let mut node = Node::new(
        identity(None),
        config(1_000, 60_000),
        WaterSampler::new(ScriptedProbe::constant(river())),
    );
    let mut transport = VecTransport::default();
    run(&mut node, &mut transport, 100, 600_050);
    let frames = decoded(&transport, None);
    assert_eq!(frames.len(), 10, "reports at 60 s, 120 s, … 600 s");
    for (i, (_, frame)) in frames.iter().enumerate() {
        let due = (i as u64 + 1) * 60_000;
        assert_eq!(
            frame.time_ms,
            WALL_MS + due,
            "frame {i} sent on the first poll at its due time"
        );
        assert_eq!(water(frame).samples, 60, "half-open interval [t-60 s, t) at 1 Hz");
    }
}

#[test]
fn a_late_poll_sends_one_frame_and_does_not_replay_missed_samples() {
    let probe = ScriptedProbe::constant(river());
    let mut node = Node::new(identity(None), config(1_000, 60_000), WaterSampler::new(probe));
    let mut transport = VecTransport::default();
    node.poll(0, 0, &mut transport).expect("poll");
    node.poll(250_000, 0, &mut transport).expect("poll");
    node.poll(299_000, 0, &mut transport).expect("poll");
    node.poll(300_000, 0, &mut transport).expect("poll");
    let frames = decoded(&transport, None);
    assert_eq!(frames.len(), 2);
    assert_eq!(water(&frames[0].1).samples, 1, "only the sample at 0 s");
    assert_eq!(water(&frames[1].1).samples, 2, "the samples at 250 s and 299 s");
}

#[test]
fn means_are_rounded_fixed_point_averages_of_the_interval() {
    let probe = ScriptedProbe::default();
    // Four samples per interval: pH 7.000, 7.001, 7.002, 7.003 → 7.0015 → 7.002 (halves away from
    // zero); temperature −1.00, −1.03, −1.00, −1.03 °C → −1.015 → −1.02 °C.
    probe.readings.borrow_mut().extend((0..4).map(|i| WaterReading {
        ph: Some(7_000 + i),
        temperature: Some(if i % 2 == 0 { -100 } else { -103 }),
        conductivity: Some(1_000 * u32::from(i)),
        ..WaterReading::default()
    }));
    let mut node = Node::new(identity(None), config(1_000, 4_000), WaterSampler::new(probe));
    let mut transport = VecTransport::default();
    run(&mut node, &mut transport, 1_000, 4_000);
    let frames = decoded(&transport, None);
    let sample = water(&frames[0].1);
    assert_eq!(sample.samples, 4);
    assert_eq!(sample.ph, Some(7_002));
    assert_eq!(sample.temperature, Some(-102));
    assert_eq!(sample.conductivity, Some(1_500));
}

#[test]
fn an_absent_probe_stays_absent_and_a_failing_one_is_flagged_not_zeroed() {
    let probe = ScriptedProbe::constant(WaterReading {
        dissolved_oxygen: None,
        ..river()
    });
    let failing = probe.failing.clone();
    let mut node = Node::new(identity(None), config(1_000, 10_000), WaterSampler::new(probe));
    let mut transport = VecTransport::default();
    run(&mut node, &mut transport, 1_000, 9_000);
    // From the sample at 10 s on, which belongs to the second interval, every read fails.
    *failing.borrow_mut() = true;
    run_from(&mut node, &mut transport, 10_000, 20_000);
    let frames = decoded(&transport, None);
    let healthy = water(&frames[0].1);
    assert_eq!(healthy.dissolved_oxygen, None);
    assert_eq!(healthy.ph, Some(7_120));
    assert!(healthy.quality.is_empty());
    let broken = water(&frames[1].1);
    assert_eq!(broken.samples, 0);
    assert_eq!(
        (broken.ph, broken.conductivity, broken.temperature),
        (None, None, None)
    );
    assert!(broken.quality.contains(QualityFlags::SENSOR_FAULT));
}

fn run_from<S: Sampler>(node: &mut Node<S>, transport: &mut VecTransport, from_ms: u64, until_ms: u64) {
    let mut t = from_ms;
    while t <= until_ms {
        let _ = node.poll(t, WALL_MS + t, transport);
        t += 1_000;
    }
}

#[test]
fn out_of_range_readings_are_flagged_and_left_out() {
    let probe = ScriptedProbe::default();
    probe.readings.borrow_mut().extend([
        WaterReading {
            ph: Some(15_000),
            ..river()
        },
        river(),
    ]);
    let mut node = Node::new(identity(None), config(1_000, 2_000), WaterSampler::new(probe));
    let mut transport = VecTransport::default();
    run(&mut node, &mut transport, 1_000, 2_000);
    let sample = water(&decoded(&transport, None)[0].1);
    assert_eq!(sample.ph, Some(7_120), "the pH 15 reading is not averaged in");
    assert!(sample.quality.contains(QualityFlags::OUT_OF_RANGE));
}

#[test]
fn twenty_four_hours_of_keyed_frames_verify_with_the_key() {
    let mut node = Node::new(
        identity(Some(KEY)),
        config(1_000, 60_000),
        WaterSampler::new(ScriptedProbe::constant(river())),
    );
    let mut transport = VecTransport::default();
    run(&mut node, &mut transport, 1_000, 24 * 3_600 * 1_000);
    let frames = decoded(&transport, Some(&KEY));
    assert_eq!(frames.len(), 24 * 60);
    for (i, (_, frame)) in frames.iter().enumerate() {
        assert_eq!(frame.seq, i as u32);
        assert_eq!(water(frame).samples, 60);
        assert_eq!(water(frame).ph, Some(7_120));
    }
}

#[test]
fn keyless_frames_carry_a_crc_and_keyed_frames_need_the_right_key() {
    let mut keyless = Node::new(
        identity(None),
        config(1_000, 2_000),
        WaterSampler::new(ScriptedProbe::constant(river())),
    );
    let mut transport = VecTransport::default();
    run(&mut keyless, &mut transport, 1_000, 2_000);
    let bytes = &transport.sent[0].1;
    assert_eq!(bytes[1] & 1, 1, "CRC flag set");
    decode(bytes, None).expect("keyless frame decodes without a key");

    let mut keyed = Node::new(
        identity(Some(KEY)),
        config(1_000, 2_000),
        WaterSampler::new(ScriptedProbe::constant(river())),
    );
    let mut transport = VecTransport::default();
    run(&mut keyed, &mut transport, 1_000, 2_000);
    let bytes = &transport.sent[0].1;
    decode(bytes, Some(&KEY)).expect("keyed frame verifies");
    assert_eq!(
        decode(bytes, Some(&NodeKey::new([0xA5; 32]))),
        Err(DecodeError::BadTag)
    );
    assert!(matches!(
        decode(bytes, None),
        Err(DecodeError::TagKindMismatch { .. })
    ));
}

#[test]
fn a_refused_publish_is_counted_and_reported_in_the_next_status() {
    let mut node = Node::new(
        identity(None),
        config(1_000, 5_000),
        WaterSampler::new(ScriptedProbe::constant(river())),
    );
    let mut transport = VecTransport {
        offline: true,
        ..VecTransport::default()
    };
    for t in (0..=5_000).step_by(1_000) {
        let result = node.poll(t, 0, &mut transport);
        if t == 5_000 {
            assert!(matches!(result, Err(firmware::node::NodeError::Publish(Offline))));
        }
    }
    assert_eq!((node.frames_sent(), node.frames_dropped(), node.seq()), (0, 1, 1));
    transport.offline = false;
    node.publish_status(StatusKind::Periodic, 6_500, 0, &mut transport)
        .expect("status");
    let frame = decode(&transport.sent[0].1, None).expect("status frame");
    assert_eq!(frame.seq, 1, "the lost frame used seq 0");
    match frame.body {
        Body::Status(status) => {
            assert_eq!(status.kind, StatusKind::Periodic);
            assert_eq!(status.frames_dropped, 1);
            assert_eq!(status.uptime_s, 6);
            assert_eq!(status.firmware, FIRMWARE_VERSION);
        }
        other => panic!("expected status, got {other:?}"),
    }
}

#[test]
fn status_frame_builds_into_the_callers_buffer_and_an_unsynced_clock_is_sent_as_0() {
    let mut node = Node::new(
        identity(Some(KEY)),
        config(1_000, 60_000),
        WaterSampler::new(ScriptedProbe::default()),
    );
    let mut buf = [0u8; protocol::MAX_FRAME_LEN];
    let bytes = node
        .status_frame(StatusKind::Death, 1_000, 12_345, &mut buf)
        .expect("status frame");
    let frame = decode(bytes, Some(&KEY)).expect("death frame");
    assert_eq!(frame.time_ms, 0, "12 345 ms since 1970 is an unset clock");
    assert!(matches!(frame.body, Body::Status(s) if s.kind == StatusKind::Death));
}

type TestAirSampler = AirSampler<Pms5003<FakePms>, Sht4x<FakeSht, NoDelay>>;

fn air_node(pms: &FakePms, sht: &FakeSht) -> Node<TestAirSampler> {
    let sampler = AirSampler::new(Pms5003::new(pms.clone()), Sht4x::new(sht.clone(), NoDelay));
    Node::new(identity(None), config(1_000, 60_000), sampler)
}

#[test]
fn air_sampler_converts_to_frame_units_and_flags_the_warm_up() {
    let (pms, sht) = (FakePms::default(), FakeSht::default());
    pms.state.borrow_mut().pm = [8, 12, 20];
    // 0x6666 → 25.000 °C; 0x8000 → 56.501 %RH.
    sht.state.borrow_mut().ticks = (0x6666, 0x8000);
    let mut node = air_node(&pms, &sht);
    let mut transport = VecTransport::default();
    run(&mut node, &mut transport, 1_000, 120_000);
    let frames = decoded(&transport, None);
    assert_eq!(frames.len(), 2);
    let first = air(&frames[0].1);
    assert_eq!(
        (first.pm1_0, first.pm2_5, first.pm10),
        (Some(80), Some(120), Some(200))
    );
    assert_eq!(first.temperature, Some(2_500));
    assert_eq!(first.humidity, Some(5_650));
    assert_eq!(first.samples, 60);
    assert!(
        first.quality.contains(QualityFlags::WARMING_UP),
        "fan started at 0 s"
    );
    assert!(air(&frames[1].1).quality.is_empty(), "warm by 60 s");
    // Wake, then passive mode, then one passive read per sample.
    let commands = pms.state.borrow().commands.clone();
    assert_eq!(&commands[..3], &[(0xE4, 1), (0xE1, 0), (0xE2, 0)]);
}

#[test]
fn air_pm_mean_keeps_the_tenths_the_sensor_cannot_report() {
    let (pms, sht) = (FakePms::default(), FakeSht::default());
    let mut node = air_node(&pms, &sht);
    let mut transport = VecTransport::default();
    for t in (0..=60_000).step_by(1_000) {
        // 12 and 13 µg/m³ alternately: the mean is 12.5 µg/m³ = 125 in 0.1 µg/m³.
        pms.state.borrow_mut().pm[1] = if (t / 1_000) % 2 == 0 { 12 } else { 13 };
        let _ = node.poll(t, 0, &mut transport);
    }
    assert_eq!(air(&decoded(&transport, None)[0].1).pm2_5, Some(125));
}

#[test]
fn a_silent_pms_leaves_pm_absent_while_temperature_still_reports() {
    let (pms, sht) = (FakePms::default(), FakeSht::default());
    pms.state.borrow_mut().silent = true;
    sht.state.borrow_mut().ticks = (0x6666, 0x8000);
    let mut node = air_node(&pms, &sht);
    let mut transport = VecTransport::default();
    run(&mut node, &mut transport, 1_000, 60_000);
    let sample = air(&decoded(&transport, None)[0].1);
    assert_eq!((sample.pm1_0, sample.pm2_5, sample.pm10), (None, None, None));
    assert_eq!(sample.temperature, Some(2_500));
    assert!(sample.quality.contains(QualityFlags::SENSOR_FAULT));
}

#[test]
fn a_silent_sht_leaves_temperature_absent_and_a_returning_pms_is_woken_again() {
    let (pms, sht) = (FakePms::default(), FakeSht::default());
    sht.state.borrow_mut().silent = true;
    pms.state.borrow_mut().pm = [1, 2, 3];
    let mut node = air_node(&pms, &sht);
    let mut transport = VecTransport::default();
    run(&mut node, &mut transport, 1_000, 60_000);
    pms.state.borrow_mut().silent = true;
    let _ = node.poll(61_000, 0, &mut transport);
    pms.state.borrow_mut().silent = false;
    let _ = node.poll(62_000, 0, &mut transport);
    let sample = air(&decoded(&transport, None)[0].1);
    assert_eq!((sample.temperature, sample.humidity), (None, None));
    assert_eq!(sample.pm2_5, Some(20));
    assert!(sample.quality.contains(QualityFlags::SENSOR_FAULT));
    let commands = pms.state.borrow().commands.clone();
    let wakes = commands.iter().filter(|c| **c == (0xE4, 1)).count();
    assert_eq!(wakes, 2, "woken at start and again after it fell silent");
}

#[test]
fn an_implausible_pms_value_is_flagged_not_sent() {
    let (pms, sht) = (FakePms::default(), FakeSht::default());
    pms.state.borrow_mut().pm = [10, 5_000, 20];
    let mut node = air_node(&pms, &sht);
    let mut transport = VecTransport::default();
    run(&mut node, &mut transport, 1_000, 60_000);
    let sample = air(&decoded(&transport, None)[0].1);
    assert_eq!(sample.pm2_5, None);
    assert!(sample.quality.contains(QualityFlags::OUT_OF_RANGE));
}

#[test]
fn a_long_sample_interval_sleeps_the_pms_between_readings_and_wakes_it_for_its_warm_up() {
    let (pms, sht) = (FakePms::default(), FakeSht::default());
    pms.state.borrow_mut().pm = [8, 12, 20];
    sht.state.borrow_mut().ticks = (0x6666, 0x8000);
    let sampler = AirSampler::new(Pms5003::new(pms.clone()), Sht4x::new(sht.clone(), NoDelay));
    // A reading every 2 minutes, a frame every 10: the fan would idle 90 % of the time.
    let mut node = Node::new(identity(None), config(120_000, 600_000), sampler);
    let mut transport = VecTransport::default();
    // Poll every second, recording the time of each PMS command.
    let mut log = Vec::new();
    let mut t = 0;
    while t <= 1_200_000 {
        let before = pms.state.borrow().commands.len();
        let _ = node.poll(t, 0, &mut transport);
        for &command in &pms.state.borrow().commands[before..] {
            log.push((t, command));
        }
        t += 1_000;
    }
    let (wake, sleep, read) = ((0xE4, 1), (0xE4, 0), (0xE2, 0));
    let at = |c| {
        log.iter()
            .filter(|(_, cmd)| *cmd == c)
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
    };
    assert_eq!(at(read), (0..=10).map(|i| i * 120_000).collect::<Vec<_>>());
    assert_eq!(at(sleep), at(read), "asleep right after every reading");
    let wakes = at(wake);
    assert_eq!(wakes[0], 0, "woken at boot");
    assert_eq!(
        &wakes[1..],
        (1..=10).map(|i| i * 120_000 - 30_000).collect::<Vec<_>>(),
        "30 s ahead"
    );
    let frames = decoded(&transport, None);
    assert!(
        !air(&frames[1].1).quality.contains(QualityFlags::WARMING_UP),
        "warm by each reading"
    );

    // At a 5 s interval the fan just runs.
    let (pms, sht) = (FakePms::default(), FakeSht::default());
    let mut node = air_node(&pms, &sht);
    run(&mut node, &mut VecTransport::default(), 1_000, 120_000);
    assert!(!pms.state.borrow().commands.contains(&sleep));
}
