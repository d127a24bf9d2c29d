//! The low-cost water station: analogue pH, galvanic DO, turbidity and a 4–20 mA level
//! transducer on one ADS1115, converted with their calibrations (`crate::convert::analogue`).
//! Temperature comes from elsewhere (a thermistor or RTD channel the board reads) through
//! [`AnalogueProbes::set_temperature`]; without it 25 °C is assumed for the pH slope and DO
//! saturation, and no temperature is reported.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use protocol::command::{CalibrationPoint, CalibrationStep, Probe};

use super::water::{WaterProbe, WaterReading};
use crate::calibration::{CalPoint, Calibration};
use crate::convert::analogue::{
    LevelTransducer, dissolved_oxygen_air_point, dissolved_oxygen_centi, ph_milli, turbidity_deci,
};
use crate::drivers::ads1115::{self, Ads1115, Channel, Gain};

/// Which ADC input each probe is wired to (`None`: not fitted), and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalogueWiring {
    /// The pH board's output.
    pub ph: Option<Channel>,
    /// The galvanic DO probe's amplified output.
    pub dissolved_oxygen: Option<Channel>,
    /// The turbidity sensor's output.
    pub turbidity: Option<Channel>,
    /// The turbidity sensor's supply in mV (its curve scales with it).
    pub turbidity_supply_mv: u32,
    /// The level transducer's shunt voltage, and its range.
    pub level: Option<(Channel, LevelTransducer)>,
    /// A probe is due for calibration this long after its last point (s).
    pub calibration_interval_s: u32,
}

impl Default for AnalogueWiring {
    /// pH on AIN0, DO on AIN1, turbidity powered at 3.3 V (so its output stays within the ADC's
    /// input range) on AIN2, a 0–5 m transducer on a 150 Ω shunt on AIN3; calibration due every
    /// 30 days.
    fn default() -> Self {
        AnalogueWiring {
            ph: Some(Channel::Ain0),
            dissolved_oxygen: Some(Channel::Ain1),
            turbidity: Some(Channel::Ain2),
            turbidity_supply_mv: 3_300,
            level: Some((
                Channel::Ain3,
                LevelTransducer {
                    shunt_ohm: 150,
                    at_4ma_mm: 0,
                    at_20ma_mm: 5_000,
                },
            )),
            calibration_interval_s: 30 * 86_400,
        }
    }
}

/// The ADC's gain for every probe: ±4.096 V covers the 0–3.3 V a 3.3 V board can present.
const GAIN: Gain = Gain::Fs4_096V;

const PROBES: usize = 5;

/// A water probe's slot in the calibration table; `None` for the gas probes.
fn index(probe: Probe) -> Option<usize> {
    match probe {
        Probe::Ph => Some(0),
        Probe::DissolvedOxygen => Some(1),
        Probe::Conductivity => Some(2),
        Probe::Turbidity => Some(3),
        Probe::WaterLevel => Some(4),
        Probe::CarbonMonoxide | Probe::NitrogenDioxide | Probe::SulphurDioxide | Probe::Ozone => None,
    }
}

/// The analogue probe set on an ADS1115.
#[derive(Debug)]
pub struct AnalogueProbes<I, D> {
    adc: Ads1115<I, D>,
    wiring: AnalogueWiring,
    calibrations: [Option<Calibration>; PROBES],
    temperature_centi: Option<i16>,
    now_s: u32,
}

impl<I, D> AnalogueProbes<I, D> {
    /// Probes wired as `wiring`, uncalibrated.
    pub fn new(adc: Ads1115<I, D>, wiring: AnalogueWiring) -> Self {
        AnalogueProbes {
            adc,
            wiring,
            calibrations: [None; PROBES],
            temperature_centi: None,
            now_s: 0,
        }
    }

    /// Loads a calibration kept in flash (at boot).
    pub fn set_calibration(&mut self, probe: Probe, calibration: Calibration) {
        if let Some(slot) = index(probe) {
            self.calibrations[slot] = Some(calibration);
        }
    }

    /// The water temperature in 0.01 °C from the board's thermometer, and the time (Unix s, 0
    /// unsynced) for the calibration-due check.
    pub fn set_temperature(&mut self, temperature_centi: Option<i16>, now_s: u32) {
        self.temperature_centi = temperature_centi;
        self.now_s = now_s;
    }

    /// Gives the ADC back.
    pub fn destroy(self) -> Ads1115<I, D> {
        self.adc
    }

    fn temperature_c(&self) -> f64 {
        self.temperature_centi.map_or(25.0, |t| f64::from(t) / 100.0)
    }

    fn calibration(&self, probe: Probe) -> Option<&Calibration> {
        index(probe).and_then(|slot| self.calibrations[slot].as_ref())
    }

    fn due(&self, probe: Probe) -> bool {
        match self.calibration(probe) {
            Some(c) => c.is_due(self.now_s, self.wiring.calibration_interval_s),
            None => true,
        }
    }

    fn channel(&self, probe: Probe) -> Option<Channel> {
        match probe {
            Probe::Ph => self.wiring.ph,
            Probe::DissolvedOxygen => self.wiring.dissolved_oxygen,
            Probe::Turbidity => self.wiring.turbidity,
            Probe::WaterLevel => self.wiring.level.map(|(c, _)| c),
            _ => None,
        }
    }
}

impl<I: I2c, D: DelayNs> WaterProbe for AnalogueProbes<I, D> {
    type Error = ads1115::Error<I::Error>;

    fn read(&mut self) -> Result<WaterReading, Self::Error> {
        let t = self.temperature_c();
        let mut reading = WaterReading {
            temperature: self.temperature_centi,
            ..WaterReading::default()
        };
        if let Some(channel) = self.wiring.ph {
            let uv = self.adc.read_microvolts(channel, GAIN)?;
            reading.ph = ph_milli(uv, t, self.calibration(Probe::Ph));
            reading.calibration_due |= self.due(Probe::Ph);
        }
        if let Some(channel) = self.wiring.dissolved_oxygen {
            let uv = self.adc.read_microvolts(channel, GAIN)?;
            let cal = self.calibration(Probe::DissolvedOxygen);
            reading.dissolved_oxygen = dissolved_oxygen_centi(uv, t, cal);
            reading.calibration_due |= self.due(Probe::DissolvedOxygen);
        }
        if let Some(channel) = self.wiring.turbidity {
            let uv = self.adc.read_microvolts(channel, GAIN)?;
            let cal = self.calibration(Probe::Turbidity);
            reading.turbidity = turbidity_deci(uv, self.wiring.turbidity_supply_mv, cal);
        }
        if let Some((channel, transducer)) = self.wiring.level {
            let uv = self.adc.read_microvolts(channel, GAIN)?;
            let cal = self.calibration(Probe::WaterLevel);
            reading.water_level = transducer.level_mm(uv, cal);
        }
        Ok(reading)
    }

    fn calibrate(&mut self, step: CalibrationStep, now_s: u32) -> Option<Calibration> {
        let slot = index(step.probe)?;
        if step.point == CalibrationPoint::Clear {
            self.calibrations[slot] = None;
            return Some(Calibration::default());
        }
        let uv = self.adc.read_microvolts(self.channel(step.probe)?, GAIN).ok()?;
        let point = match (step.probe, step.point) {
            (Probe::DissolvedOxygen, CalibrationPoint::Air) => {
                dissolved_oxygen_air_point(uv, self.temperature_c())
            }
            (Probe::DissolvedOxygen | Probe::Turbidity, CalibrationPoint::Zero) => CalPoint {
                raw: uv,
                reference: 0,
            },
            (Probe::Ph, CalibrationPoint::Low | CalibrationPoint::Mid | CalibrationPoint::High)
            | (Probe::WaterLevel, CalibrationPoint::Single) => CalPoint {
                raw: uv,
                reference: step.reference,
            },
            _ => return None,
        };
        let temperature = self.temperature_centi;
        let calibration = self.calibrations[slot].get_or_insert_with(Calibration::default);
        calibration.add(point, now_s);
        calibration.temperature_centi = temperature;
        Some(*calibration)
    }
}
