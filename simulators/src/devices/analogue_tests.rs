//! The firmware's ADS1115 driver and analogue probe set against the byte-level ADC emulation:
//! calibration by downlink-style steps, readings back in frame units, and the ADC's faults.

use firmware::drivers::ads1115::{self, Ads1115, Channel, Gain};
use firmware::node::{AnalogueProbes, AnalogueWiring, WaterProbe};
use protocol::command::{CalibrationPoint, CalibrationStep, Probe};

use super::{AnalogueWater, EmulatedAds1115, NoDelay};

fn water(ph: f64, do_mg_l: f64) -> AnalogueWater {
    AnalogueWater {
        ph,
        dissolved_oxygen_mg_l: do_mg_l,
        temperature_c: 28.0,
        turbidity_ntu: 45.0,
        level_mm: 1_250.0,
    }
}

fn step(probe: Probe, point: CalibrationPoint, reference: i32) -> CalibrationStep {
    CalibrationStep {
        probe,
        point,
        reference,
    }
}

#[test]
fn the_driver_reads_what_the_emulated_adc_is_given() {
    let adc = EmulatedAds1115::new([1.0, 0.3, 3.3, -0.1]);
    let mut driver = Ads1115::new(adc, NoDelay);
    assert_eq!(
        driver.read_microvolts(Channel::Ain0, Gain::Fs4_096V),
        Ok(1_000_000)
    );
    assert_eq!(
        driver.read_microvolts(Channel::Ain1, Gain::Fs0_256V),
        Ok(256_000 - 8),
        "clipped at full scale"
    );
    assert_eq!(
        driver.read_microvolts(Channel::Differential01, Gain::Fs1_024V),
        Ok(700_000)
    );
}

#[test]
fn calibrated_probes_read_the_water_in_frame_units() {
    let adc = EmulatedAds1115::new(water(7.0, 7.5).volts());
    let handle = adc.handle();
    let mut probes = AnalogueProbes::new(Ads1115::new(adc, NoDelay), AnalogueWiring::default());
    probes.set_temperature(Some(2_800), 1_764_201_600);
    let uncalibrated = probes.read().expect("reads");
    assert!(uncalibrated.calibration_due, "never calibrated");
    assert_eq!(
        uncalibrated.dissolved_oxygen, None,
        "a galvanic probe needs its air point"
    );

    // Buffers pH 7 and pH 4, then DO in air-saturated water, as the IOC would command them.
    assert!(
        probes
            .calibrate(step(Probe::Ph, CalibrationPoint::Mid, 7_000), 1_764_201_600)
            .is_some()
    );
    handle.set_inputs(water(4.0, 7.5).volts());
    assert!(
        probes
            .calibrate(step(Probe::Ph, CalibrationPoint::Low, 4_000), 1_764_201_600)
            .is_some()
    );
    let saturated = water(7.0, 7.72).volts(); // DO_sat(28 °C) = 7.72 mg/L
    handle.set_inputs(saturated);
    let do_cal = probes
        .calibrate(
            step(Probe::DissolvedOxygen, CalibrationPoint::Air, 0),
            1_764_201_600,
        )
        .expect("air point");
    assert_eq!(do_cal.points()[0].reference, 772);

    handle.set_inputs(water(6.62, 4.1).volts());
    let r = probes.read().expect("reads");
    assert!(!r.calibration_due);
    assert!(r.ph.expect("pH").abs_diff(6_620) <= 3, "pH {:?}", r.ph);
    assert!(
        r.dissolved_oxygen.expect("DO").abs_diff(410) <= 2,
        "DO {:?}",
        r.dissolved_oxygen
    );
    assert!(
        r.turbidity.expect("NTU").abs_diff(450) <= 5,
        "turbidity {:?}",
        r.turbidity
    );
    assert!(
        r.water_level.expect("level").abs_diff(1_250) <= 2,
        "level {:?}",
        r.water_level
    );
    assert_eq!(r.temperature, Some(2_800));
}

#[test]
fn a_silent_or_hung_adc_is_an_error_and_a_frozen_one_repeats_itself() {
    let adc = EmulatedAds1115::new(water(7.0, 7.5).volts());
    let handle = adc.handle();
    let mut probes = AnalogueProbes::new(Ads1115::new(adc, NoDelay), AnalogueWiring::default());
    handle.set_silent(true);
    assert!(matches!(probes.read(), Err(ads1115::Error::I2c(_))));
    handle.set_silent(false);
    handle.set_hung(true);
    assert_eq!(probes.read(), Err(ads1115::Error::NotReady));
    handle.set_hung(false);
    handle.set_frozen(Some(12_000));
    let a = probes.read().expect("reads");
    handle.set_inputs(water(9.0, 2.0).volts());
    assert_eq!(
        probes.read().expect("reads"),
        a,
        "every channel reads the frozen count"
    );
}
