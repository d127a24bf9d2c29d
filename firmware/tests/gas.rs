//! The gas cells on two ADS1115s: scripted I²C for the conversions the front end makes, and node
//! tests on fake ADCs for the values in frames, the quality flags and the calibration downlink.

mod support;

use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2c};
use firmware::convert::gas::{Gas, GasCalibration};
use firmware::drivers::ads1115::{Address, Ads1115};
use firmware::drivers::{Pms5003, Sht4x};
use firmware::node::{
    AirSampler, FIRMWARE_VERSION, GasFrontEnd, GasSensor, GasWiring, NoSensor, Node, NodeConfig,
    NodeIdentity, STUCK_AFTER_MS,
};
use firmware::storage::{RamFlash, Settings};
use protocol::command::{CalibrationPoint, CalibrationStep, Command, Probe, SignedCommand};
use protocol::{AirSample, Body, NodeKey, QualityFlags, decode};
use support::{FakeAds, FakePms, FakeSht, NoDelay, VecTransport};

const KEY: NodeKey = NodeKey::new([0x33; 32]);
const WALL_MS: u64 = 1_764_201_600_000;
const DAY_MS: u64 = 86_400_000;

type GasNode =
    Node<AirSampler<Pms5003<FakePms>, Sht4x<FakeSht, NoDelay>, NoSensor, GasFrontEnd<FakeAds, NoDelay>>>;

/// What the cells see: ppb of CO, NO2, SO2, O3, and the auxiliary electrodes' background shift
/// in µV (temperature).
#[derive(Clone, Copy)]
struct Air {
    ppb: [i64; 4],
    background_uv: i64,
}

/// The electrode voltages (µV) of cells exactly as the default wiring's certificates say, on the
/// default wiring's inputs: `[first ADC, second ADC]`.
fn inputs(air: Air) -> [[i64; 4]; 2] {
    let wiring = GasWiring::default();
    let mut out = [[0i64; 4]; 2];
    for gas in Gas::ALL {
        let cell = wiring
            .channel(gas)
            .copied()
            .expect("the default wiring has every cell");
        let f = cell.factory;
        let mut signal = i64::from(f.sensitivity_nv_per_ppb) * air.ppb[gas.index()] / 1_000;
        if gas == Gas::Ozone {
            signal += i64::from(wiring.o3_no2_cross_nv_per_ppb) * air.ppb[1] / 1_000;
        }
        let we = i64::from(f.we_zero_uv) + signal + i64::from(cell.n_milli) * air.background_uv / 1_000;
        let ae = i64::from(f.ae_zero_uv) + air.background_uv;
        // CO and SO2 on AIN0/AIN1, NO2 and O3 on AIN2/AIN3.
        let (adc, at) = match gas {
            Gas::CarbonMonoxide => (0, 0),
            Gas::NitrogenDioxide => (0, 2),
            Gas::SulphurDioxide => (1, 0),
            Gas::Ozone => (1, 2),
        };
        out[adc][at] = we;
        out[adc][at + 1] = ae;
    }
    out
}

fn set_air(adcs: &[FakeAds; 2], air: Air) {
    for (adc, volts) in adcs.iter().zip(inputs(air)) {
        adc.state.borrow_mut().inputs_uv = volts;
    }
}

fn gas_node(adcs: &[FakeAds; 2], key: Option<NodeKey>) -> GasNode {
    let front_end = GasFrontEnd::new(
        Ads1115::new_with_address(adcs[0].clone(), NoDelay, Address::Gnd),
        Ads1115::new_with_address(adcs[1].clone(), NoDelay, Address::Vdd),
        GasWiring::default(),
    );
    let sampler = AirSampler::new(
        Pms5003::new(FakePms::default()),
        Sht4x::new(FakeSht::default(), NoDelay),
    )
    .with_gas(front_end);
    let identity = NodeIdentity {
        node_id: 9,
        boot: 1,
        key,
    };
    let config = NodeConfig {
        sample_interval_ms: 1_000,
        report_interval_ms: 60_000,
        firmware: FIRMWARE_VERSION,
    };
    Node::new(identity, config, sampler)
}

/// Polls every second over `[from, until]` and returns the air samples sent.
fn run(node: &mut GasNode, from: u64, until: u64) -> Vec<AirSample> {
    let mut transport = VecTransport::default();
    let mut t = from;
    while t <= until {
        let _ = node.poll(t, WALL_MS + t, &mut transport);
        t += 1_000;
    }
    transport
        .sent
        .iter()
        .map(
            |(_, bytes)| match decode(bytes, Some(&KEY)).or_else(|_| decode(bytes, None)) {
                Ok(frame) => match frame.body {
                    Body::Air(sample) => sample,
                    other => panic!("air body expected, got {other:?}"),
                },
                Err(e) => panic!("undecodable frame: {e}"),
            },
        )
        .collect()
}

fn gases(sample: &AirSample) -> [Option<i64>; 4] {
    [
        sample.co.map(i64::from),
        sample.no2.map(i64::from),
        sample.so2.map(i64::from),
        sample.o3.map(i64::from),
    ]
}

fn near(got: Option<i64>, want: i64, tolerance: i64) -> bool {
    got.is_some_and(|g| (g - want).abs() <= tolerance)
}

#[test]
fn the_front_end_converts_each_electrode_once_on_the_scripted_bus() {
    // CO alone, on AIN0 (WE) and AIN1 (AE) at ±4.096 V, 125 µV a count: config, OS check,
    // conversion, for each electrode. 2_880 counts = 360 mV, 2_560 = 320 mV.
    let i2c = I2cMock::new(&[
        I2c::write(0x48, vec![0x01, 0xC3, 0x83]),
        I2c::write_read(0x48, vec![0x01], vec![0xC3, 0x83]),
        I2c::write_read(0x48, vec![0x00], 2_880i16.to_be_bytes().to_vec()),
        I2c::write(0x48, vec![0x01, 0xD3, 0x83]),
        I2c::write_read(0x48, vec![0x01], vec![0xD3, 0x83]),
        I2c::write_read(0x48, vec![0x00], 2_560i16.to_be_bytes().to_vec()),
    ]);
    let unused = I2cMock::new(&[]);
    let wiring = GasWiring {
        no2: None,
        so2: None,
        o3: None,
        ..GasWiring::default()
    };
    let mut cells = GasFrontEnd::new(
        Ads1115::new(i2c, NoopDelay::new()),
        Ads1115::new_with_address(unused, NoopDelay::new(), Address::Vdd),
        wiring,
    );
    let reading = cells.read_gases(0);
    // WEc = (360 − 330) − 3.5 × (320 − 320) mV = 30 mV; / 0.42 mV/ppb = 71.43 ppb = 81.8 µg/m³.
    assert_eq!(reading.values, [Some(82), None, None, None]);
    assert!(!reading.fault && !reading.out_of_range);
    let [first, second] = cells.destroy();
    first.destroy().0.done();
    second.destroy().0.done();
}

#[test]
fn the_four_gases_reach_the_frame_in_micrograms_with_the_background_taken_away() {
    let adcs = [FakeAds::default(), FakeAds::default()];
    // A warm afternoon: every auxiliary electrode 4 mV below its zero.
    set_air(
        &adcs,
        Air {
            ppb: [500, 20, 5, 30],
            background_uv: -4_000,
        },
    );
    let mut node = gas_node(&adcs, None);
    let sample = run(&mut node, 0, 60_000)[0];
    let [co, no2, so2, o3] = gases(&sample);
    // ppb × MW / 24.45 (domain.md §1.7): 572.8 µg/m³, 37.6, 13.1, 58.9 (0.1 µg/m³ for the last three).
    assert!(near(co, 573, 1), "CO {co:?}");
    assert!(near(no2, 376, 6), "NO2 {no2:?}");
    assert!(near(so2, 131, 6), "SO2 {so2:?}");
    assert!(near(o3, 589, 6), "O3 {o3:?}: its cell's NO2 response taken away");
    assert!(!sample.quality.contains(QualityFlags::SENSOR_FAULT));
    assert!(!sample.quality.contains(QualityFlags::STUCK_VALUE));
}

#[test]
fn a_silent_adc_takes_only_its_own_cells_away() {
    let adcs = [FakeAds::default(), FakeAds::default()];
    set_air(
        &adcs,
        Air {
            ppb: [400, 15, 4, 25],
            background_uv: 0,
        },
    );
    adcs[1].state.borrow_mut().silent = true;
    let mut node = gas_node(&adcs, None);
    let sample = run(&mut node, 0, 60_000)[0];
    let [co, no2, so2, o3] = gases(&sample);
    assert!(co.is_some() && no2.is_some(), "the first ADC still answers");
    assert_eq!((so2, o3), (None, None));
    assert!(sample.quality.contains(QualityFlags::SENSOR_FAULT));
}

#[test]
fn saturated_or_far_negative_cells_are_out_of_range_and_a_mean_just_below_zero_is_sent_as_0() {
    let adcs = [FakeAds::default(), FakeAds::default()];
    set_air(
        &adcs,
        Air {
            ppb: [0, -2, -120, 10],
            background_uv: 0,
        },
    );
    // The CO cell's working electrode beyond ±4.096 V.
    adcs[0].state.borrow_mut().inputs_uv[0] = 4_500_000;
    let mut node = gas_node(&adcs, None);
    let sample = run(&mut node, 0, 60_000)[0];
    let [co, no2, so2, o3] = gases(&sample);
    assert_eq!(co, None, "saturated");
    assert_eq!(no2, Some(0), "−2 ppb is noise around clean air");
    assert_eq!(so2, None, "−120 ppb is a fault, not air");
    assert!(o3.is_some());
    assert!(sample.quality.contains(QualityFlags::OUT_OF_RANGE));
}

#[test]
fn a_frozen_adc_is_flagged_stuck_after_half_an_hour() {
    let adcs = [FakeAds::default(), FakeAds::default()];
    set_air(
        &adcs,
        Air {
            ppb: [300, 10, 3, 20],
            background_uv: 0,
        },
    );
    let mut cells = GasFrontEnd::new(
        Ads1115::new_with_address(adcs[0].clone(), NoDelay, Address::Gnd),
        Ads1115::new_with_address(adcs[1].clone(), NoDelay, Address::Vdd),
        GasWiring::default(),
    );
    let hour = 3_600_000;
    assert!(
        (0..=hour).step_by(5_000).all(|t| !cells.read_gases(t).stuck),
        "live inputs are never stuck"
    );
    adcs[1].state.borrow_mut().frozen = Some(2_000);
    let frozen: Vec<bool> = (1..=STUCK_AFTER_MS / 5_000 + 1)
        .map(|i| cells.read_gases(hour + i * 5_000).stuck)
        .collect();
    assert!(!frozen[0]);
    assert!(
        frozen.last().copied().unwrap_or(false),
        "flagged after 30 minutes"
    );
    assert!(
        cells.read_gases(hour + STUCK_AFTER_MS + 10_000).values[0].is_some(),
        "the live ADC's cells still read"
    );
}

fn calibrate(
    node: &mut GasNode,
    settings: &mut Settings<RamFlash<4096>>,
    counter: u64,
    point: CalibrationPoint,
    reference: i32,
    wall_ms: u64,
) {
    let bytes = SignedCommand {
        node_id: 9,
        counter,
        command: Command::Calibrate(CalibrationStep {
            probe: Probe::CarbonMonoxide,
            point,
            reference,
        }),
    }
    .to_bytes(&KEY)
    .expect("a valid command");
    node.handle_command(&bytes, settings, 0, wall_ms, &mut VecTransport::default())
        .expect("obeyed");
}

#[test]
fn zero_air_and_span_gas_by_downlink_correct_an_aged_cell_are_kept_in_flash_and_fall_due() {
    let adcs = [FakeAds::default(), FakeAds::default()];
    let mut settings = Settings::open(RamFlash::<4096>::new(), 0..4096);
    let mut node = gas_node(&adcs, Some(KEY));
    // The CO cell has aged: its zeros moved and it lost 10 % of its sensitivity.
    let aged = |ppb: i64| {
        let mut volts = inputs(Air {
            ppb: [0, 10, 3, 20],
            background_uv: 0,
        });
        volts[0][0] = 350_000 + 378 * ppb;
        volts[0][1] = 325_000;
        volts
    };
    let set = |volts: [[i64; 4]; 2]| {
        for (adc, v) in adcs.iter().zip(volts) {
            adc.state.borrow_mut().inputs_uv = v;
        }
    };
    set(aged(500));
    let before = gases(&run(&mut node, 0, 60_000)[0])[0];
    assert!(!near(before, 573, 50), "an aged cell reads wrong: {before:?}");

    set(aged(0));
    calibrate(&mut node, &mut settings, 1, CalibrationPoint::Zero, 0, WALL_MS);
    set(aged(2_000));
    calibrate(
        &mut node,
        &mut settings,
        2,
        CalibrationPoint::Single,
        2_000,
        WALL_MS,
    );
    let stored = settings
        .gas_calibration(Probe::CarbonMonoxide)
        .expect("flash")
        .expect("kept");
    assert!((stored.we_zero_uv - 350_000).abs() <= 250, "{stored:?}");
    assert!((stored.ae_zero_uv - 325_000).abs() <= 250, "{stored:?}");
    assert!(
        (stored.sensitivity_nv_per_ppb - 378_000).abs() <= 1_000,
        "{stored:?}"
    );
    assert_eq!(stored.taken_at_s, (WALL_MS / 1_000) as u32);

    set(aged(500));
    let after = gases(&run(&mut node, 61_000, 120_000)[0])[0];
    assert!(near(after, 573, 2), "calibrated: {after:?}");

    // A restarted node loads the record from flash and reads the same.
    let mut restarted = gas_node(&adcs, Some(KEY));
    let kept: GasCalibration = settings
        .gas_calibration(Probe::CarbonMonoxide)
        .expect("flash")
        .expect("kept");
    restarted
        .sampler_mut()
        .gas_mut()
        .set_calibration(Gas::CarbonMonoxide, kept);
    let sample = run(&mut restarted, 0, 60_000)[0];
    assert!(near(sample.co.map(i64::from), 573, 2));
    assert!(!sample.quality.contains(QualityFlags::CALIBRATION_DUE));

    // 31 days on, the calibration is due.
    let mut transport = VecTransport::default();
    for t in (0..=60_000).step_by(1_000) {
        let _ = restarted.poll(120_000 + t, WALL_MS + 31 * DAY_MS + t, &mut transport);
    }
    // The frame at 180 s: every reading in it taken 31 days on.
    let last = transport.sent.last().expect("frames");
    let due = decode(&last.1, Some(&KEY)).expect("frame");
    assert!(matches!(due.body, Body::Air(s) if s.quality.contains(QualityFlags::CALIBRATION_DUE)));

    // Clear: the record leaves the flash and the cell reads with its certificate values again.
    calibrate(&mut node, &mut settings, 3, CalibrationPoint::Clear, 0, WALL_MS);
    assert_eq!(
        settings.gas_calibration(Probe::CarbonMonoxide).expect("flash"),
        None
    );
    let cleared = gases(&run(&mut node, 121_000, 180_000)[0])[0];
    assert_eq!(cleared, before, "back on the certificate values");
}

#[test]
fn a_span_with_no_gas_at_the_cell_is_refused_and_changes_nothing() {
    let adcs = [FakeAds::default(), FakeAds::default()];
    set_air(
        &adcs,
        Air {
            ppb: [0, 0, 0, 0],
            background_uv: 0,
        },
    );
    let mut settings = Settings::open(RamFlash::<4096>::new(), 0..4096);
    let mut node = gas_node(&adcs, Some(KEY));
    let bytes = SignedCommand {
        node_id: 9,
        counter: 1,
        command: Command::Calibrate(CalibrationStep {
            probe: Probe::CarbonMonoxide,
            point: CalibrationPoint::Single,
            reference: 2_000,
        }),
    }
    .to_bytes(&KEY)
    .expect("a valid command");
    let refused = node.handle_command(&bytes, &mut settings, 0, WALL_MS, &mut VecTransport::default());
    assert!(refused.is_err(), "no span gas reached the cell");
    assert_eq!(
        settings.gas_calibration(Probe::CarbonMonoxide).expect("flash"),
        None
    );
}

#[test]
fn the_report_a_calibration_step_falls_in_and_the_next_are_flagged_calibrating() {
    let adcs = [FakeAds::default(), FakeAds::default()];
    set_air(
        &adcs,
        Air {
            ppb: [0, 0, 0, 0],
            background_uv: 0,
        },
    );
    let mut settings = Settings::open(RamFlash::<4096>::new(), 0..4096);
    let mut node = gas_node(&adcs, Some(KEY));
    let calibrating = |s: &AirSample| s.quality.contains(QualityFlags::CALIBRATING);
    let before = run(&mut node, 0, 60_000);
    assert!(!calibrating(&before[0]), "no step yet");

    // The zero air is at the cell in the middle of the second report's interval.
    run(&mut node, 61_000, 90_000);
    calibrate(&mut node, &mut settings, 1, CalibrationPoint::Zero, 0, WALL_MS);
    let after = run(&mut node, 91_000, 240_000);
    let flags: Vec<bool> = after.iter().map(calibrating).collect();
    assert_eq!(
        flags,
        [true, true, false],
        "the reports at 120 s and 180 s are flagged, the one at 240 s is clean"
    );
}
