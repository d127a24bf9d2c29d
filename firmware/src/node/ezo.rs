//! The water station on Atlas EZO circuits: pH, dissolved oxygen and conductivity, each an
//! [`Ezo`] driver (on one shared bus on a board). The circuits keep their calibrations
//! themselves; the node keeps the date of the last point per probe to flag a calibration due.
//! Temperature comes from the board's thermometer through [`EzoProbes::set_temperature`] and is
//! sent to the pH and DO circuits for their compensation when it changes.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use protocol::command::{CalibrationPoint, CalibrationStep, Probe};

use super::water::{WaterProbe, WaterReading};
use crate::calibration::{CalPoint, Calibration};
use crate::drivers::ezo::{self, Calibrate, Ezo};

/// A probe is due for calibration this long after its last point: 30 days.
pub const EZO_CALIBRATION_INTERVAL_S: u32 = 30 * 86_400;

/// The three circuits; any may be absent.
#[derive(Debug)]
pub struct EzoProbes<P, O, E> {
    ph: Option<P>,
    dissolved_oxygen: Option<O>,
    conductivity: Option<E>,
    temperature_centi: Option<i16>,
    sent_temperature: Option<i16>,
    now_s: u32,
    /// Calibration records by probe: pH, DO, EC.
    calibrations: [Option<Calibration>; 3],
}

impl<P, O, E> EzoProbes<P, O, E> {
    /// The circuits fitted.
    pub fn new(ph: Option<P>, dissolved_oxygen: Option<O>, conductivity: Option<E>) -> Self {
        EzoProbes {
            ph,
            dissolved_oxygen,
            conductivity,
            temperature_centi: None,
            sent_temperature: None,
            now_s: 0,
            calibrations: [None; 3],
        }
    }

    /// The water temperature in 0.01 °C, and the time (Unix s, 0 unsynced) for the
    /// calibration-due check.
    pub fn set_temperature(&mut self, temperature_centi: Option<i16>, now_s: u32) {
        self.temperature_centi = temperature_centi;
        self.now_s = now_s;
    }

    /// Loads a calibration record kept in flash (at boot).
    pub fn set_calibration(&mut self, probe: Probe, calibration: Calibration) {
        if let Some(slot) = slot(probe) {
            self.calibrations[slot] = Some(calibration);
        }
    }

    /// A probe's calibration record, to keep in flash.
    pub fn calibration(&self, probe: Probe) -> Option<Calibration> {
        slot(probe).and_then(|s| self.calibrations[s])
    }

    /// Gives the circuits back: pH, DO, EC.
    pub fn destroy(self) -> (Option<P>, Option<O>, Option<E>) {
        (self.ph, self.dissolved_oxygen, self.conductivity)
    }

    fn due(&self, probe: Probe) -> bool {
        slot(probe)
            .and_then(|s| self.calibrations[s].as_ref())
            .is_none_or(|c| c.is_due(self.now_s, EZO_CALIBRATION_INTERVAL_S))
    }
}

fn slot(probe: Probe) -> Option<usize> {
    match probe {
        Probe::Ph => Some(0),
        Probe::DissolvedOxygen => Some(1),
        Probe::Conductivity => Some(2),
        _ => None,
    }
}

/// Why the probe set could not be read: which circuit failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EzoFailure {
    /// The circuit.
    pub probe: Probe,
}

fn read_one<I: I2c, D: DelayNs>(
    circuit: &mut Option<Ezo<I, D>>,
    temperature: Option<i16>,
    send_temperature: bool,
) -> Result<Option<u32>, ezo::Error<I::Error>> {
    let Some(circuit) = circuit else {
        return Ok(None);
    };
    if let (true, Some(t)) = (send_temperature, temperature) {
        circuit.set_temperature(t)?;
    }
    circuit.read().map(Some)
}

impl<IP, DP, IO, DO, IE, DE> WaterProbe for EzoProbes<Ezo<IP, DP>, Ezo<IO, DO>, Ezo<IE, DE>>
where
    IP: I2c,
    DP: DelayNs,
    IO: I2c,
    DO: DelayNs,
    IE: I2c,
    DE: DelayNs,
{
    type Error = EzoFailure;

    fn read(&mut self) -> Result<WaterReading, EzoFailure> {
        let send = self.temperature_centi.is_some() && self.temperature_centi != self.sent_temperature;
        let t = self.temperature_centi;
        let ph = read_one(&mut self.ph, t, send).map_err(|_| EzoFailure { probe: Probe::Ph })?;
        let dissolved_oxygen = read_one(&mut self.dissolved_oxygen, t, send).map_err(|_| EzoFailure {
            probe: Probe::DissolvedOxygen,
        })?;
        // The EC circuit is read uncompensated: the frame carries in-situ conductivity.
        let conductivity = read_one(&mut self.conductivity, None, false).map_err(|_| EzoFailure {
            probe: Probe::Conductivity,
        })?;
        if send {
            self.sent_temperature = t;
        }
        let fitted = [
            (self.ph.is_some(), Probe::Ph),
            (self.dissolved_oxygen.is_some(), Probe::DissolvedOxygen),
            (self.conductivity.is_some(), Probe::Conductivity),
        ];
        Ok(WaterReading {
            ph: ph.and_then(|v| u16::try_from(v).ok()),
            dissolved_oxygen: dissolved_oxygen.and_then(|v| u16::try_from(v).ok()),
            conductivity,
            temperature: t,
            calibration_due: fitted.iter().any(|&(fitted, probe)| fitted && self.due(probe)),
            ..WaterReading::default()
        })
    }

    fn calibrate(&mut self, step: CalibrationStep, now_s: u32) -> Option<Calibration> {
        let command = match (step.probe, step.point) {
            (_, CalibrationPoint::Clear) => Calibrate::Clear,
            (Probe::Ph, CalibrationPoint::Mid) => Calibrate::Mid(step.reference),
            (Probe::Ph | Probe::Conductivity, CalibrationPoint::Low) => Calibrate::Low(step.reference),
            (Probe::Ph | Probe::Conductivity, CalibrationPoint::High) => Calibrate::High(step.reference),
            (Probe::Conductivity, CalibrationPoint::Dry) => Calibrate::Dry,
            (Probe::Conductivity, CalibrationPoint::Single) => Calibrate::One(step.reference),
            (Probe::DissolvedOxygen, CalibrationPoint::Air) => Calibrate::Air,
            (Probe::DissolvedOxygen, CalibrationPoint::Zero) => Calibrate::Zero,
            _ => return None,
        };
        let done = match step.probe {
            Probe::Ph => self.ph.as_mut()?.calibrate(command).is_ok(),
            Probe::DissolvedOxygen => self.dissolved_oxygen.as_mut()?.calibrate(command).is_ok(),
            Probe::Conductivity => self.conductivity.as_mut()?.calibrate(command).is_ok(),
            _ => false,
        };
        if !done {
            return None;
        }
        let record = &mut self.calibrations[slot(step.probe)?];
        if command == Calibrate::Clear {
            *record = None;
            return Some(Calibration::default());
        }
        // The circuit holds the real calibration; the node's record is for the due date.
        let calibration = record.get_or_insert_with(Calibration::default);
        calibration.add(
            CalPoint {
                raw: 0,
                reference: step.reference,
            },
            now_s,
        );
        calibration.temperature_centi = self.temperature_centi;
        Some(*calibration)
    }
}
