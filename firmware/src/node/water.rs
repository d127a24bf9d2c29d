//! The water-quality station: a [`WaterProbe`] (Atlas EZO circuits, the ADS1115-read analogue
//! probes in [`super::AnalogueProbes`], or the simulators' emulations) averaged into
//! [`WaterSample`]s. Salinity comes from the probe when it computes it (EZO-EC), otherwise from
//! each reading's conductivity and temperature by PSS-78.

use protocol::command::CalibrationStep;
use protocol::{Body, QualityFlags, WaterSample};

use super::mean::{Mean, sample_count};
use super::sampler::{Calibrated, Sampler};
use super::stuck::{StuckDetector, fingerprint};
use crate::calibration::Calibration;
use crate::convert::pss78;

/// One reading of a water station's probes, in the frame's fixed-point units. A field is `None` when
/// that probe is not fitted or gave no value this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WaterReading {
    /// pH in 0.001 pH units.
    pub ph: Option<u16>,
    /// Dissolved oxygen in 0.01 mg/L.
    pub dissolved_oxygen: Option<u16>,
    /// Electrical conductivity in µS/cm, not temperature-compensated.
    pub conductivity: Option<u32>,
    /// Water temperature in 0.01 °C.
    pub temperature: Option<i16>,
    /// Turbidity in 0.1 NTU.
    pub turbidity: Option<u16>,
    /// Water level in mm above the gauge datum.
    pub water_level: Option<i32>,
    /// Practical salinity in 0.01, when the probe computes it.
    pub salinity: Option<u16>,
    /// A probe's calibration is older than its interval (or it was never calibrated).
    pub calibration_due: bool,
}

/// A set of water probes read together.
pub trait WaterProbe {
    /// Why a read failed.
    type Error;

    /// Reads every probe once.
    ///
    /// # Errors
    ///
    /// Whatever the probes' bus reports; the sampler flags a sensor fault.
    fn read(&mut self) -> Result<WaterReading, Self::Error>;

    /// Takes one calibration point with the probe in the standard (a downlink command) and returns
    /// the probe's new calibration for the node to keep in flash; `None` if the probe set has no
    /// such probe or cannot take the point now. `now_s` is Unix seconds, 0 when unsynced.
    fn calibrate(&mut self, step: CalibrationStep, now_s: u32) -> Option<Calibration> {
        let _ = (step, now_s);
        None
    }
}

/// Samples a [`WaterProbe`] into [`WaterSample`]s.
#[derive(Debug)]
pub struct WaterSampler<P> {
    probe: P,
    stuck: StuckDetector,
    interval: Interval,
}

#[derive(Debug, Default)]
struct Interval {
    rounds: u32,
    quality: QualityFlags,
    ph: Mean,
    dissolved_oxygen: Mean,
    conductivity: Mean,
    temperature: Mean,
    turbidity: Mean,
    water_level: Mean,
    salinity: Mean,
}

impl<P> WaterSampler<P> {
    /// Takes the probe set.
    pub fn new(probe: P) -> Self {
        WaterSampler {
            probe,
            stuck: StuckDetector::default(),
            interval: Interval::default(),
        }
    }

    /// The probe set, to load calibrations into it at boot.
    pub fn probe_mut(&mut self) -> &mut P {
        &mut self.probe
    }

    /// Gives the probe set back.
    pub fn destroy(self) -> P {
        self.probe
    }
}

/// Adds `value` if it lies within the frame's range for its field (`FORMAT.md` §4.2), flags it otherwise.
fn add_in_range(
    mean: &mut Mean,
    quality: &mut QualityFlags,
    value: Option<i64>,
    range: core::ops::RangeInclusive<i64>,
) {
    match value {
        Some(v) if range.contains(&v) => mean.add(v),
        Some(_) => quality.insert(QualityFlags::OUT_OF_RANGE),
        None => {}
    }
}

impl<P: WaterProbe> Sampler for WaterSampler<P> {
    fn sample(&mut self, uptime_ms: u64) {
        let i = &mut self.interval;
        i.rounds = i.rounds.saturating_add(1);
        let Ok(reading) = self.probe.read() else {
            i.quality.insert(QualityFlags::SENSOR_FAULT);
            return;
        };
        // Absent fields hash as a value no probe reports, so a probe dropping out is a change.
        let words = [
            reading.ph.map_or(u32::MAX, u32::from),
            reading.dissolved_oxygen.map_or(u32::MAX, u32::from),
            reading.conductivity.unwrap_or(u32::MAX),
            reading.temperature.map_or(u32::MAX, |t| t as u32),
            reading.turbidity.map_or(u32::MAX, u32::from),
            reading.water_level.map_or(u32::MAX, |l| l as u32),
        ];
        if self.stuck.observe(fingerprint(words), uptime_ms) {
            i.quality.insert(QualityFlags::STUCK_VALUE);
        }
        if reading.calibration_due {
            i.quality.insert(QualityFlags::CALIBRATION_DUE);
        }
        let salinity = reading
            .salinity
            .or_else(|| match (reading.conductivity, reading.temperature) {
                (Some(ec), Some(t)) => pss78::salinity_centi(ec, t),
                _ => None,
            });
        let q = &mut i.quality;
        add_in_range(&mut i.ph, q, reading.ph.map(i64::from), 0..=14_000);
        add_in_range(
            &mut i.dissolved_oxygen,
            q,
            reading.dissolved_oxygen.map(i64::from),
            0..=5_000,
        );
        add_in_range(
            &mut i.conductivity,
            q,
            reading.conductivity.map(i64::from),
            0..=500_000,
        );
        add_in_range(
            &mut i.temperature,
            q,
            reading.temperature.map(i64::from),
            -500..=5_000,
        );
        add_in_range(&mut i.turbidity, q, reading.turbidity.map(i64::from), 0..=40_000);
        add_in_range(
            &mut i.water_level,
            q,
            reading.water_level.map(i64::from),
            -20_000..=20_000,
        );
        add_in_range(&mut i.salinity, q, salinity.map(i64::from), 0..=5_000);
    }

    fn take_body(&mut self) -> Option<Body> {
        let i = core::mem::take(&mut self.interval);
        if i.rounds == 0 {
            return None;
        }
        // Values were range-checked on the way in, so the conversions cannot fail.
        Some(Body::Water(WaterSample {
            quality: i.quality,
            samples: sample_count(&[
                i.ph,
                i.dissolved_oxygen,
                i.conductivity,
                i.temperature,
                i.turbidity,
                i.water_level,
            ]),
            ph: i.ph.get().and_then(|v| u16::try_from(v).ok()),
            dissolved_oxygen: i.dissolved_oxygen.get().and_then(|v| u16::try_from(v).ok()),
            conductivity: i.conductivity.get().and_then(|v| u32::try_from(v).ok()),
            temperature: i.temperature.get().and_then(|v| i16::try_from(v).ok()),
            turbidity: i.turbidity.get().and_then(|v| u16::try_from(v).ok()),
            water_level: i.water_level.get().and_then(|v| i32::try_from(v).ok()),
            salinity: i.salinity.get().and_then(|v| u16::try_from(v).ok()),
        }))
    }

    fn calibrate(&mut self, step: CalibrationStep, now_s: u32) -> Option<Calibrated> {
        self.probe.calibrate(step, now_s).map(Calibrated::Probe)
    }
}
