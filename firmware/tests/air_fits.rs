//! The air sampler over its other fits, against fake devices on scripted buses: an SDS011 instead
//! of the PMS5003, a BME280 instead of (or beside) the SHT4x, with the quality flags.

mod support;

use firmware::drivers::{Bme280, Pms5003, Sds011, Sht4x};
use firmware::node::{AirSampler, FIRMWARE_VERSION, Node, NodeConfig, NodeIdentity, STUCK_AFTER_MS, Sampler};
use protocol::{AirSample, Body, QualityFlags, decode};
use support::{FakeBme, FakePms, FakeSds, FakeSht, NoDelay, VecTransport};

fn air_node<S: Sampler>(sampler: S, sample_interval_ms: u32) -> Node<S> {
    let identity = NodeIdentity {
        node_id: 42,
        boot: 1,
        key: None,
    };
    let config = NodeConfig {
        sample_interval_ms,
        report_interval_ms: 60_000,
        firmware: FIRMWARE_VERSION,
    };
    Node::new(identity, config, sampler)
}

/// Polls every second from `from` to `until` inclusive and returns the air samples sent.
fn run<S: Sampler>(node: &mut Node<S>, from: u64, until: u64) -> Vec<AirSample> {
    let mut transport = VecTransport::default();
    let mut t = from;
    while t <= until {
        let _ = node.poll(t, 0, &mut transport);
        t += 1_000;
    }
    transport
        .sent
        .iter()
        .map(
            |(_, bytes)| match decode(bytes, None).expect("node frames decode").body {
                Body::Air(sample) => sample,
                other => panic!("expected an air body, got {other:?}"),
            },
        )
        .collect()
}

fn sds_sht(sds: &FakeSds, sht: &FakeSht) -> AirSampler<Sds011<FakeSds>, Sht4x<FakeSht, NoDelay>> {
    AirSampler::new(Sds011::new(sds.clone()), Sht4x::new(sht.clone(), NoDelay))
}

#[test]
fn an_sds011_node_reports_pm2_5_and_pm10_in_tenths_and_no_pm1_0() {
    let (sds, sht) = (FakeSds::default(), FakeSht::default());
    sds.state.borrow_mut().pm = (376, 512);
    sht.state.borrow_mut().ticks = (0x6666, 0x8000);
    let mut node = air_node(sds_sht(&sds, &sht), 1_000);
    let samples = run(&mut node, 0, 120_000);
    assert_eq!(samples.len(), 2);
    let first = samples[0];
    assert_eq!(
        (first.pm1_0, first.pm2_5, first.pm10),
        (None, Some(376), Some(512))
    );
    assert_eq!((first.temperature, first.pressure), (Some(2_500), None));
    assert_eq!(first.samples, 60);
    assert!(
        first.quality.contains(QualityFlags::WARMING_UP),
        "fan started at 0 s"
    );
    assert!(samples[1].quality.is_empty(), "warm by 60 s");
    // Work, query mode, then one query per sample: every reply read where it was asked for.
    let commands = sds.state.borrow().commands.clone();
    assert_eq!(&commands[..4], &[(6, 1), (2, 1), (4, 0), (4, 0)]);
}

#[test]
fn a_silent_sds011_is_a_fault_and_is_woken_again_when_it_returns() {
    let (sds, sht) = (FakeSds::default(), FakeSht::default());
    sds.state.borrow_mut().pm = (120, 200);
    let mut node = air_node(sds_sht(&sds, &sht), 1_000);
    run(&mut node, 0, 30_000);
    sds.state.borrow_mut().silent = true;
    run(&mut node, 31_000, 40_000);
    sds.state.borrow_mut().silent = false;
    let samples = run(&mut node, 41_000, 60_000);
    let sample = samples[0];
    assert!(sample.quality.contains(QualityFlags::SENSOR_FAULT));
    assert!(
        sample.quality.contains(QualityFlags::WARMING_UP),
        "restarted at 41 s"
    );
    assert_eq!(sample.pm2_5, Some(120), "the readings it did give");
    let works = sds
        .state
        .borrow()
        .commands
        .iter()
        .filter(|c| **c == (6, 1))
        .count();
    assert_eq!(works, 2, "woken at start and again after it fell silent");
}

#[test]
fn an_sds011_on_a_long_interval_sleeps_between_readings_with_no_reply_left_on_the_line() {
    let (sds, sht) = (FakeSds::default(), FakeSht::default());
    sds.state.borrow_mut().pm = (88, 140);
    // A reading every 2 minutes: the fan sleeps 90 s of every 120 s.
    let mut node = air_node(sds_sht(&sds, &sht), 120_000);
    let mut transport = VecTransport::default();
    let mut t = 0;
    while t <= 1_200_000 {
        let _ = node.poll(t, 0, &mut transport);
        t += 1_000;
    }
    let commands = sds.state.borrow().commands.clone();
    let count = |c| commands.iter().filter(|x| **x == c).count();
    assert_eq!(count((4, 0)), 11, "one query per reading");
    assert_eq!(count((6, 0)), 11, "asleep after every reading");
    assert_eq!(count((6, 1)), 11, "woken 30 s before each");
    for (_, bytes) in &transport.sent {
        let Body::Air(sample) = decode(bytes, None).expect("frame").body else {
            panic!("air body expected");
        };
        assert_eq!(sample.pm2_5, Some(88));
        assert!(
            !sample.quality.contains(QualityFlags::SENSOR_FAULT),
            "no reply was taken for a reading"
        );
    }
}

#[test]
fn a_bme280_node_reports_pressure_temperature_and_humidity() {
    let (pms, bme) = (FakePms::default(), FakeBme::default());
    pms.state.borrow_mut().pm = [8, 12, 20];
    let sampler = AirSampler::new(Pms5003::new(pms.clone()), Bme280::new(bme.clone(), NoDelay));
    let mut node = air_node(sampler, 1_000);
    let samples = run(&mut node, 0, 60_000);
    let sample = samples[0];
    assert_eq!(sample.pressure, Some(10_065), "1006.5 hPa, the datasheet example");
    assert_eq!(sample.temperature, Some(2_508));
    assert!(sample.humidity.is_some_and(|h| (1..=10_000).contains(&h)));
    assert_eq!(sample.pm2_5, Some(120));
    assert!(!sample.quality.contains(QualityFlags::SENSOR_FAULT));
}

#[test]
fn an_sht4x_beside_a_bme280_gives_temperature_and_humidity_the_bme280_pressure() {
    let (pms, sht, bme) = (FakePms::default(), FakeSht::default(), FakeBme::default());
    sht.state.borrow_mut().ticks = (0x6666, 0x8000);
    let sampler = AirSampler::new(Pms5003::new(pms.clone()), Sht4x::new(sht.clone(), NoDelay))
        .with_second_climate(Bme280::new(bme.clone(), NoDelay));
    let mut node = air_node(sampler, 1_000);
    let sample = run(&mut node, 0, 60_000)[0];
    assert_eq!(
        (sample.temperature, sample.humidity, sample.pressure),
        (Some(2_500), Some(5_650), Some(10_065)),
        "T and RH from the SHT4x (25.00 °C, 56.50 %RH), p from the BME280"
    );

    // The SHT4x fails: T and RH now come from the BME280, and the fault is flagged.
    sht.state.borrow_mut().silent = true;
    let sample = run(&mut node, 61_000, 120_000)[0];
    assert_eq!(sample.temperature, Some(2_508));
    assert_eq!(sample.pressure, Some(10_065));
    assert!(sample.quality.contains(QualityFlags::SENSOR_FAULT));
}

#[test]
fn an_absent_bme280_leaves_pressure_absent_and_is_found_when_it_answers() {
    let (pms, bme) = (FakePms::default(), FakeBme::default());
    bme.state.borrow_mut().silent = true;
    let sampler = AirSampler::new(Pms5003::new(pms.clone()), Bme280::new(bme.clone(), NoDelay));
    let mut node = air_node(sampler, 1_000);
    let sample = run(&mut node, 0, 60_000)[0];
    assert_eq!((sample.pressure, sample.temperature), (None, None));
    assert!(sample.quality.contains(QualityFlags::SENSOR_FAULT));
    bme.state.borrow_mut().silent = false;
    // The frame at 120 s still holds the silent reading at 60 s; the one at 180 s is clean.
    let sample = run(&mut node, 61_000, 180_000)[1];
    assert_eq!(sample.pressure, Some(10_065), "calibration read once it answered");
    assert!(
        !sample.quality.contains(QualityFlags::SENSOR_FAULT),
        "{:?}",
        sample.quality
    );
}

#[test]
fn a_frozen_bme280_is_flagged_stuck_and_an_impossible_pressure_out_of_range() {
    let (pms, bme) = (FakePms::default(), FakeBme::default());
    let sampler = AirSampler::new(Pms5003::new(pms.clone()), Bme280::new(bme.clone(), NoDelay));
    let mut node = air_node(sampler, 1_000);
    bme.state.borrow_mut().noise = false;
    let minutes = STUCK_AFTER_MS / 60_000;
    let samples = run(&mut node, 0, (minutes + 2) * 60_000);
    assert!(!samples[0].quality.contains(QualityFlags::STUCK_VALUE), "not yet");
    assert!(
        samples
            .last()
            .is_some_and(|s| s.quality.contains(QualityFlags::STUCK_VALUE))
    );

    // adc_P 0: the compensation gives about 1 760 hPa, beyond the frame's 300–1100 hPa.
    let (pms, bme) = (FakePms::default(), FakeBme::default());
    bme.state.borrow_mut().data[..3].copy_from_slice(&[0, 0, 0]);
    let sampler = AirSampler::new(Pms5003::new(pms.clone()), Bme280::new(bme.clone(), NoDelay));
    let mut node = air_node(sampler, 1_000);
    let sample = run(&mut node, 0, 60_000)[0];
    assert_eq!(sample.pressure, None);
    assert_eq!(sample.temperature, Some(2_508), "the other fields still count");
    assert!(sample.quality.contains(QualityFlags::OUT_OF_RANGE));
}
