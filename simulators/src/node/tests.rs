//! The simulated node: the firmware's node logic on the emulated sensors, its fits, its outbox and
//! its reboot.

use firmware::node::NodeConfig;
use protocol::NodeKey;
use protocol::command::{Command, Probe};
use protocol::registry::{NodeInfo, StationKind};
use protocol::topic::NodeChannel;
use protocol::{Body, QualityFlags, StatusKind};

use super::*;
use crate::devices::{Pms5003Handle, Sht4xHandle};
use crate::fit::AirFit;

const WALL_START_MS: u64 = 1_764_201_600_000;

fn info(id: u32, kind: StationKind, key: Option<NodeKey>) -> NodeInfo {
    NodeInfo {
        id,
        station: format!("HG-TEST-{id}"),
        name: String::new(),
        kind,
        district: "Vi Thanh".into(),
        location: None,
        key,
    }
}

fn config() -> NodeConfig {
    NodeConfig {
        sample_interval_ms: 1_000,
        report_interval_ms: 60_000,
        ..NodeConfig::default()
    }
}

fn hazy() -> AirConditions {
    AirConditions {
        pm1_0: 31.2,
        pm2_5: 47.6,
        pm10: 70.3,
        temperature_c: 31.5,
        humidity_pct: 64.0,
        pressure_hpa: 1_007.2,
        ..AirConditions::default()
    }
}

fn pms(node: &SimNode) -> &Pms5003Handle {
    node.air_sensors()
        .and_then(|s| s.pms5003.as_ref())
        .expect("a PMS5003")
}

fn sht(node: &SimNode) -> &Sht4xHandle {
    node.air_sensors()
        .and_then(|s| s.sht4x.as_ref())
        .expect("an SHT4x")
}

#[test]
fn sim_node_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<SimNode>();
}

#[test]
fn an_hour_of_an_air_node_gives_60_frames_with_the_set_pm2_5() {
    let key = NodeKey::new([9; 32]);
    let mut node = SimNode::new(&info(101, StationKind::Air, Some(key.clone())), 4, config());
    node.set_environment(Environment::Air(hazy()));
    let mut frames = Vec::new();
    for s in 0..=3_600u64 {
        frames.extend(node.poll(s * 1_000, WALL_START_MS + s * 1_000));
    }
    assert_eq!(frames.len(), 60);
    for (i, out) in frames.iter().enumerate() {
        assert_eq!(out.channel, NodeChannel::Telemetry);
        assert_eq!(out.frame.seq, i as u32);
        assert_eq!((out.frame.node_id, out.frame.boot), (101, 4));
        assert_eq!(out.frame.time_ms, WALL_START_MS + (i as u64 + 1) * 60_000);
        assert_eq!(protocol::decode(&out.bytes, Some(&key)), Ok(out.frame));
        let Body::Air(sample) = out.frame.body else {
            panic!("air node sent {:?}", out.frame.body);
        };
        // The PMS reports whole µg/m³ (48 for 47.6); the mean is in 0.1 µg/m³.
        let pm2_5 = f32::from(sample.pm2_5.expect("PM2.5 present")) / 10.0;
        assert!((pm2_5 - 47.6).abs() <= 0.5, "PM2.5 {pm2_5}");
        let t = f32::from(sample.temperature.expect("T present")) / 100.0;
        assert!((t - 31.5).abs() <= 0.01, "T {t}");
        let rh = f32::from(sample.humidity.expect("RH present")) / 100.0;
        assert!((rh - 64.0).abs() <= 0.01, "RH {rh}");
        assert_eq!(sample.samples, 60);
    }
    let Body::Air(first) = frames[0].frame.body else {
        unreachable!("checked above")
    };
    assert!(first.quality.contains(QualityFlags::WARMING_UP));
}

#[test]
fn coarse_polls_still_take_every_sample() {
    let mut node = SimNode::new(&info(7, StationKind::Air, None), 1, config());
    let mut frames = Vec::new();
    for minute in 0..=10u64 {
        frames.extend(node.poll(minute * 60_000, 0));
    }
    assert_eq!(frames.len(), 10);
    for out in &frames {
        assert_eq!(out.frame.time_ms, 0, "unsynced clock");
        let Body::Air(sample) = out.frame.body else {
            panic!("air node sent {:?}", out.frame.body);
        };
        assert_eq!(sample.samples, 60);
        assert_eq!(sample.pm2_5, Some(120), "default 12 µg/m³");
    }
}

#[test]
fn a_water_node_reports_its_probes_and_its_faults() {
    let mut node = SimNode::new(&info(201, StationKind::Water, None), 1, config());
    node.set_environment(Environment::Water(WaterConditions {
        ph: 6.8,
        dissolved_oxygen_mg_l: 3.2,
        conductivity_us_cm: 2_400.0,
        temperature_c: 30.1,
    }));
    assert!(node.poll(59_999, 0).is_empty());
    // From the sample at 60 s on, which belongs to the second interval, the probes fail.
    node.water_probe().expect("water node").set_failing(true);
    let frames = node.poll(120_000, 0);
    let [first, second] = frames.as_slice() else {
        panic!("expected two frames, got {frames:?}");
    };
    let Body::Water(ok) = first.frame.body else {
        panic!("water node sent {:?}", first.frame.body);
    };
    let ph = f32::from(ok.ph.expect("pH")) / 1_000.0;
    assert!((ph - 6.8).abs() < 0.006, "pH {ph}");
    assert!(ok.conductivity.expect("EC").abs_diff(2_400) <= 5);
    let Body::Water(broken) = second.frame.body else {
        panic!("water node sent {:?}", second.frame.body);
    };
    assert_eq!(broken.ph, None);
    assert!(broken.quality.contains(QualityFlags::SENSOR_FAULT));
}

#[test]
fn a_pms_fault_reaches_the_frame_as_absent_pm_and_a_fault_flag() {
    let mut node = SimNode::new(&info(8, StationKind::Air, None), 1, config());
    pms(&node).set_silent(true);
    let out = node.poll(60_000, 0);
    let Body::Air(sample) = out[0].frame.body else {
        panic!("air node sent {:?}", out[0].frame.body);
    };
    assert_eq!(sample.pm2_5, None);
    assert!(sample.temperature.is_some());
    assert!(sample.quality.contains(QualityFlags::SENSOR_FAULT));
}

#[test]
fn a_steady_sensor_is_never_flagged_stuck_but_a_frozen_one_is_after_half_an_hour() {
    let mut node = SimNode::new(&info(11, StationKind::Air, None), 1, config());
    let mut flagged = Vec::new();
    let minute = |node: &mut SimNode, m: u64| {
        let frames = node.poll(m * 60_000, 0);
        frames.iter().any(
            |out| matches!(out.frame.body, Body::Air(s) if s.quality.contains(QualityFlags::STUCK_VALUE)),
        )
    };
    for m in 1..=120 {
        assert!(!minute(&mut node, m), "steady air flagged stuck at minute {m}");
    }
    pms(&node).set_stuck(true);
    for m in 121..=180 {
        flagged.push(minute(&mut node, m));
    }
    let first = flagged.iter().position(|&f| f).expect("flagged at some point");
    assert!((29..=31).contains(&first), "flagged after {first} minutes");
    assert!(flagged[first..].iter().all(|&f| f), "stays flagged while frozen");
}

#[test]
fn a_saturated_sensor_gets_heater_pulses_within_the_duty_cycle_and_they_are_not_averaged() {
    let mut node = SimNode::new(&info(13, StationKind::Air, None), 1, config());
    node.set_environment(Environment::Air(AirConditions {
        humidity_pct: 99.5,
        ..AirConditions::default()
    }));
    let frames = node.poll(600_000, 0);
    let pulses = sht(&node).heater_pulses();
    // One reading a second for ten minutes; a 0.1 s pulse allows the next after 1 s.
    assert!((550..=601).contains(&pulses), "{pulses} pulses");
    for out in frames {
        let Body::Air(s) = out.frame.body else {
            panic!("air body expected");
        };
        let rh = f32::from(s.humidity.expect("RH")) / 100.0;
        assert!(
            (rh - 99.5).abs() < 0.05,
            "heated readings left out of the mean: {rh}"
        );
    }
}

#[test]
fn status_frames_report_the_battery_and_the_link() {
    let mut node = SimNode::new(&info(12, StationKind::Water, None), 1, config());
    node.set_power_and_link(Some(3_870), Some(-83));
    let status = node.status(StatusKind::Periodic, 60_000, 0);
    let Body::Status(s) = status.frame.body else {
        panic!("status body expected");
    };
    assert_eq!((s.battery_mv, s.rssi_dbm), (Some(3_870), Some(-83)));
}

#[test]
fn status_frames_share_the_sequence_and_verify_with_the_key() {
    let key = NodeKey::new([3; 32]);
    let mut node = SimNode::new(&info(9, StationKind::Water, Some(key.clone())), 2, config());
    let birth = node.status(StatusKind::Birth, 0, WALL_START_MS);
    assert_eq!(birth.channel, NodeChannel::Status);
    assert_eq!(birth.frame.seq, 0);
    assert!(matches!(birth.frame.body, Body::Status(s) if s.kind == StatusKind::Birth));
    let telemetry = node.poll(60_000, WALL_START_MS + 60_000);
    assert_eq!(telemetry[0].frame.seq, 1);
    let death = node.status(StatusKind::Death, 60_000, WALL_START_MS + 60_000);
    assert_eq!(death.frame.seq, 2);
    assert_eq!(protocol::decode(&death.bytes, Some(&key)), Ok(death.frame));
}

fn air(out: &Outgoing) -> protocol::AirSample {
    match out.frame.body {
        Body::Air(sample) => sample,
        other => panic!("air body expected, got {other:?}"),
    }
}

fn fitted(id: u32, fit: &str) -> SimNode {
    let fit = fit.parse().expect("a fit");
    SimNode::with_fit(&info(id, StationKind::Air, None), 1, config(), fit)
}

#[test]
fn an_sds011_and_bme280_node_reports_pm_and_pressure_and_no_pm1_0() {
    let mut node = fitted(21, "sds011+bme280");
    node.set_environment(Environment::Air(hazy()));
    let sensors = node.air_sensors().expect("air node");
    assert!(sensors.pms5003.is_none() && sensors.sht4x.is_none());
    let frames = node.poll(2 * 3_600_000, 0);
    assert_eq!(frames.len(), 120);
    for out in &frames {
        let s = air(out);
        assert_eq!(s.pm1_0, None, "the SDS011 does not measure PM1.0");
        // Tenths of µg/m³ from the sensor, wandering a tenth around the truth.
        let pm2_5 = f32::from(s.pm2_5.expect("PM2.5")) / 10.0;
        assert!((pm2_5 - 47.6).abs() <= 0.11, "PM2.5 {pm2_5}");
        let pressure = f32::from(s.pressure.expect("pressure")) / 10.0;
        assert!((pressure - 1_007.2).abs() <= 0.11, "p {pressure}");
        let t = f32::from(s.temperature.expect("T")) / 100.0;
        assert!((t - 31.5).abs() <= 0.011, "T {t}");
        assert!(
            !s.quality.contains(QualityFlags::STUCK_VALUE),
            "steady air is not a stuck sensor"
        );
    }
}

#[test]
fn an_sht4x_beside_a_bme280_and_the_faults_of_either_reach_the_frame() {
    let mut node = fitted(22, "pms5003+sht4x+bme280");
    node.set_environment(Environment::Air(hazy()));
    let first = air(&node.poll(60_000, 0)[0]);
    assert!(first.pm1_0.is_some() && first.pressure == Some(10_072));
    let sensors = node.air_sensors().expect("air node").clone();
    sensors.bme280.as_ref().expect("a BME280").set_silent(true);
    // The frame at 120 s still holds the reading at 60 s; the one at 180 s has none.
    let silent = air(&node.poll(180_000, 0)[1]);
    assert_eq!(silent.pressure, None);
    assert!(silent.temperature.is_some(), "T from the SHT4x");
    assert!(silent.quality.contains(QualityFlags::SENSOR_FAULT));
    let mut sds = fitted(23, "sds011+bme280");
    sds.air_sensors()
        .and_then(|s| s.sds011.clone())
        .expect("an SDS011")
        .set_silent(true);
    let broken = air(&sds.poll(60_000, 0)[0]);
    assert_eq!((broken.pm2_5, broken.pm10), (None, None));
    assert!(broken.pressure.is_some() && broken.quality.contains(QualityFlags::SENSOR_FAULT));
}

fn command(node_id: u32, key: &NodeKey, counter: u64, command: Command) -> Vec<u8> {
    protocol::command::SignedCommand {
        node_id,
        counter,
        command,
    }
    .to_bytes(key)
    .expect("a valid command")
}

#[test]
fn a_reboot_takes_the_next_boot_from_flash_keeps_the_queue_and_restarts_the_sequence() {
    let key = NodeKey::new([4; 32]);
    let mut node = SimNode::new(&info(31, StationKind::Air, Some(key.clone())), 3, config());
    let bytes = command(31, &key, 10, Command::SetReportInterval { seconds: 120 });
    assert!(node.handle_command(&bytes, 1_000, 0).is_ok());
    let before: Vec<Outgoing> = node.poll(600_000, 0);
    assert_eq!(before.len(), 5, "a frame every two minutes");
    let queued = node.outbox_mut().queued();
    assert_eq!(queued, 5, "nothing forwarded: all still queued");

    let mut node = node.reboot();
    assert_eq!((node.boot(), node.seq()), (4, 0));
    assert_eq!(node.outbox_mut().queued(), queued, "the queue survives the reset");
    node.outbox_mut().set_connected(true);
    let mut kept = Vec::new();
    while let Ok(Some((channel, entry))) = node.outbox_mut().next(u64::MAX) {
        kept.push(node.outgoing(channel, entry.frame().to_vec()).expect("decodes"));
        node.outbox_mut().acked().expect("acked");
    }
    assert_eq!(
        kept.iter().map(|o| o.frame).collect::<Vec<_>>(),
        before.iter().map(|o| o.frame).collect::<Vec<_>>(),
        "the same frames, oldest first"
    );
    let birth = node.status(StatusKind::Birth, 0, 0);
    assert_eq!((birth.frame.boot, birth.frame.seq), (4, 0));
    let after = node.poll(240_000, 0);
    assert_eq!(after.len(), 2, "the interval set by command came back from flash");
    assert_eq!(after[0].frame.seq, 1);
    assert_eq!(
        node.handle_command(&bytes, 250_000, 0).err().as_deref(),
        Some("command counter 10 is not above the last accepted 10"),
        "the replay counter is in flash too"
    );
}

#[test]
fn a_rebooted_water_node_reads_its_calibrations_back_and_flags_none_due() {
    let mut node = SimNode::new(&info(41, StationKind::Water, None), 1, config());
    let mut node = {
        node.poll(60_000, 0);
        node.reboot()
    };
    let frames = node.poll(60_000, 0);
    let Body::Water(sample) = frames[0].frame.body else {
        panic!("water body expected");
    };
    assert!(sample.ph.is_some());
    assert!(!sample.quality.contains(QualityFlags::CALIBRATION_DUE));
    assert_eq!(frames[0].frame.boot, 2);
}

fn traffic_hour() -> AirConditions {
    AirConditions {
        co_ppb: 800.0,
        no2_ppb: 30.0,
        so2_ppb: 4.0,
        o3_ppb: 12.0,
        // 13 °C above the cells' 20 °C: their backgrounds have moved.
        temperature_c: 33.0,
        ..AirConditions::default()
    }
}

/// ppb to the frame's unit, with domain.md §1.7's factors: µg/m³ for CO, 0.1 µg/m³ for the rest.
fn expected(ppb: f32, ug_per_ppb: f32, units: f32) -> f32 {
    ppb * ug_per_ppb * units
}

#[test]
fn an_air_node_carries_its_gas_cells_readings_in_micrograms() {
    let mut node = SimNode::new(&info(51, StationKind::Air, None), 1, config());
    node.set_environment(Environment::Air(traffic_hour()));
    let frames = node.poll(3_600_000, 0);
    assert_eq!(frames.len(), 60);
    for out in &frames {
        let s = air(out);
        let got = |v: Option<u32>| v.map_or(f32::NAN, |v| v as f32);
        let checks = [
            ("CO", got(s.co), expected(800.0, 1.145, 1.0), 2.0),
            ("NO2", got(s.no2.map(u32::from)), expected(30.0, 1.882, 10.0), 8.0),
            ("SO2", got(s.so2.map(u32::from)), expected(4.0, 2.620, 10.0), 8.0),
            ("O3", got(s.o3.map(u32::from)), expected(12.0, 1.963, 10.0), 8.0),
        ];
        for (gas, value, want, tolerance) in checks {
            assert!((value - want).abs() <= tolerance, "{gas}: {value} for {want}");
        }
        assert!(
            s.quality.is_empty() || s.quality == QualityFlags::WARMING_UP,
            "{:?}",
            s.quality
        );
    }
}

#[test]
fn an_aged_co_cell_is_calibrated_by_downlink_and_stays_calibrated_after_a_reboot() {
    use firmware::convert::gas::Gas;
    use protocol::command::{CalibrationPoint, CalibrationStep};

    let key = NodeKey::new([6; 32]);
    let mut node = SimNode::new(&info(52, StationKind::Air, Some(key.clone())), 1, config());
    let board = node.air_sensors().and_then(|s| s.gas.clone()).expect("gas cells");
    let mut cell = board.cell(Gas::CarbonMonoxide);
    cell.zeros_v = (cell.zeros_v.0 + 0.025, cell.zeros_v.1 + 0.004);
    cell.v_per_ppb *= 0.85;
    board.set_cell(Gas::CarbonMonoxide, cell);
    let at = |co_ppb: f32| {
        Environment::Air(AirConditions {
            co_ppb,
            ..traffic_hour()
        })
    };
    let co_of = |frames: &[Outgoing]| frames.last().and_then(|o| air(o).co).map_or(0.0, |v| v as f32);
    node.set_environment(at(800.0));
    let aged = co_of(&node.poll(60_000, 0));
    assert!((aged - 916.0).abs() > 50.0, "aged cell reads {aged} µg/m³");

    let calibrate = |node: &mut SimNode, counter: u64, point: CalibrationPoint, reference: i32| {
        let step = CalibrationStep {
            probe: Probe::CarbonMonoxide,
            point,
            reference,
        };
        let bytes = command(52, &key, counter, Command::Calibrate(step));
        node.handle_command(&bytes, 60_000, WALL_START_MS)
            .expect("calibration obeyed");
    };
    node.set_environment(at(0.0));
    calibrate(&mut node, 1, CalibrationPoint::Zero, 0);
    node.set_environment(at(2_000.0));
    calibrate(&mut node, 2, CalibrationPoint::Single, 2_000);
    node.set_environment(at(800.0));
    node.poll(120_000, 0);
    let calibrated = co_of(&node.poll(180_000, 0));
    assert!(
        (calibrated - 916.0).abs() <= 3.0,
        "calibrated cell reads {calibrated}"
    );

    let mut node = node.reboot();
    node.set_environment(at(800.0));
    let after = co_of(&node.poll(120_000, 0));
    assert!((after - 916.0).abs() <= 3.0, "after the reboot: {after}");
}

#[test]
fn a_silent_gas_adc_reaches_the_frame_as_absent_gases_and_a_fault() {
    let mut node = SimNode::new(&info(53, StationKind::Air, None), 1, config());
    let board = node.air_sensors().and_then(|s| s.gas.clone()).expect("gas cells");
    board.adc(firmware::node::Adc::Second).set_silent(true);
    let s = air(&node.poll(60_000, 0)[0]);
    assert!(s.co.is_some() && s.no2.is_some());
    assert_eq!((s.so2, s.o3), (None, None));
    assert!(s.quality.contains(QualityFlags::SENSOR_FAULT));
}

/// A node whose settings flash is a file boots with the next boot counter each run, as a board
/// does across power cycles, whatever boot the run asks for; a new file starts at that boot.
#[test]
fn a_node_on_a_settings_file_boots_with_the_next_counter_each_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node-41.settings");
    let boots: Vec<u32> = (0..3)
        .map(|_| {
            let node = SimNode::with_settings_file(
                &info(41, StationKind::Water, None),
                5,
                config(),
                AirFit::default(),
                &path,
            )
            .expect("opens");
            node.boot()
        })
        .collect();
    assert_eq!(boots, vec![5, 6, 7]);
    let rebooted = SimNode::with_settings_file(
        &info(41, StationKind::Water, None),
        1,
        config(),
        AirFit::default(),
        &path,
    )
    .expect("opens")
    .reboot();
    assert_eq!(rebooted.boot(), 9, "a reboot within a run counts too");
    let again = SimNode::with_settings_file(
        &info(41, StationKind::Water, None),
        1,
        config(),
        AirFit::default(),
        &path,
    )
    .expect("opens");
    assert_eq!(again.boot(), 10);
}
