//! The firmware's EZO driver and EZO probe set against the byte-level circuit emulations.

use firmware::drivers::ezo::{Ezo, Kind};
use firmware::node::{EzoProbes, WaterProbe};
use protocol::command::{CalibrationPoint, CalibrationStep, Probe};

use super::{EmulatedEzo, EzoHandle, NoDelay, PH_UNCALIBRATED_OFFSET};

type Circuit = Ezo<EmulatedEzo, NoDelay>;

fn station(ph: f64, dox: f64, ec: f64) -> (EzoProbes<Circuit, Circuit, Circuit>, [EzoHandle; 3]) {
    let circuits = [
        EmulatedEzo::new(Kind::Ph, ph),
        EmulatedEzo::new(Kind::DissolvedOxygen, dox),
        EmulatedEzo::new(Kind::Conductivity, ec),
    ];
    let handles = [circuits[0].handle(), circuits[1].handle(), circuits[2].handle()];
    let [p, o, e] = circuits;
    let probes = EzoProbes::new(
        Some(Ezo::new(p, NoDelay, Kind::Ph)),
        Some(Ezo::new(o, NoDelay, Kind::DissolvedOxygen)),
        Some(Ezo::new(e, NoDelay, Kind::Conductivity)),
    );
    (probes, handles)
}

#[test]
fn a_calibrated_station_reads_true_values_and_compensates_ph_and_do_only() {
    let (mut probes, [ph, dox, ec]) = station(6.85, 5.42, 2_400.0);
    probes.set_temperature(Some(2_910), 1_764_201_600);
    let before = probes.read().expect("reads");
    assert_eq!(before.ph, Some(6_850 + (PH_UNCALIBRATED_OFFSET * 1_000.0) as u16));
    assert!(before.calibration_due);
    assert_eq!(before.dissolved_oxygen, Some(542));
    assert_eq!(before.conductivity, Some(2_400), "EC is the first output");
    assert_eq!(before.temperature, Some(2_910));
    assert_eq!((ph.temperature_c(), dox.temperature_c()), (29.1, 29.1));
    assert_eq!(
        ec.temperature_c(),
        25.0,
        "EC stays uncompensated: in-situ conductivity"
    );

    let step = CalibrationStep {
        probe: Probe::Ph,
        point: CalibrationPoint::Mid,
        reference: 7_000,
    };
    let record = probes.calibrate(step, 1_764_201_600).expect("accepted");
    assert_eq!(record.points().len(), 1);
    assert_eq!(ph.calibrations(), ["Cal,mid,7.00"]);
    assert_eq!(probes.read().expect("reads").ph, Some(6_850));
    // Low before mid is refused by the circuit; after it, accepted.
    let low = CalibrationStep {
        point: CalibrationPoint::Low,
        reference: 4_000,
        ..step
    };
    assert!(probes.calibrate(low, 1_764_201_700).is_some());
}

#[test]
fn silent_busy_corrupted_and_frozen_circuits() {
    let (mut probes, [ph, dox, ec]) = station(7.0, 6.0, 300.0);
    dox.set_silent(true);
    assert_eq!(probes.read().map_err(|e| e.probe), Err(Probe::DissolvedOxygen));
    dox.set_silent(false);
    ec.busy_next_reads(2);
    assert_eq!(
        probes.read().map_err(|e| e.probe),
        Err(Probe::Conductivity),
        "254 twice"
    );
    ec.busy_next_reads(1);
    assert!(probes.read().is_ok(), "254 once is waited out");
    ph.corrupt_next_replies(1);
    assert_eq!(probes.read().map_err(|e| e.probe), Err(Probe::Ph));
    ph.set_frozen(Some("7.777"));
    ph.set_value(5.0);
    assert_eq!(probes.read().expect("reads").ph, Some(7_777));
}
