//! The air-quality station: a particulate sensor (PMS5003 or SDS011) and a climate sensor (SHT4x
//! or BME280), optionally a second climate sensor beside the first (a BME280 for pressure next to
//! an SHT4x) and gas cells (CO, NO2, SO2, O3), averaged into [`AirSample`]s.

use protocol::command::CalibrationStep;
use protocol::{AirSample, Body, QualityFlags};

use super::absent::NoSensor;
use super::climate::{ClimateReading, ClimateSensor};
use super::gas::GasSensor;
use super::mean::{Mean, sample_count};
use super::particulate::{ParticulateSensor, PmFault};
use super::sampler::{Calibrated, Sampler};
use super::stuck::StuckDetector;

/// Largest PM value, in µg/m³, that the frame can carry (`FORMAT.md` §4.1: 0–20 000 in 0.1 µg/m³).
/// A reading above it is garbage that passed the checksum; it is flagged and left out.
pub const PM_MAX_UG_M3: u16 = 2_000;

/// Frame ranges (`FORMAT.md` §4.1): temperature in 0.01 °C (the sensors read beyond it), relative
/// humidity in 0.01 %RH, pressure in 0.1 hPa.
const TEMPERATURE_RANGE: core::ops::RangeInclusive<i64> = -4_000..=8_500;
const HUMIDITY_RANGE: core::ops::RangeInclusive<i64> = 0..=10_000;
const PRESSURE_RANGE: core::ops::RangeInclusive<i64> = 3_000..=11_000;

/// Samples a [`ParticulateSensor`] `P` and a [`ClimateSensor`] `C`, optionally a second climate
/// sensor `X` and [`GasSensor`] cells `G`, into [`AirSample`]s.
///
/// The particulate sensor is driven in request mode: one reading per request, so each reading
/// belongs to the sample it was asked for, rather than whatever a streaming sensor left in the
/// UART buffer. Each field comes from the first climate sensor that measures it: `C` before `X`.
#[derive(Debug)]
pub struct AirSampler<P, C, X = NoSensor, G = NoSensor> {
    pm: P,
    climate: C,
    second_climate: X,
    gas: G,
    /// Wake and request mode have been sent and the sensor has answered since.
    pm_ready: bool,
    /// When the last wake was sent, for the warm-up flag.
    pm_woke_at_ms: u64,
    /// Sleep the particulate sensor's fan and laser between readings, waking it its warm-up time
    /// before the next (the node turns this on when the sample interval is at least twice the
    /// warm-up): it saves most of the sensor's 100 mA and its fan's life.
    sleep_between: bool,
    pm_stuck: StuckDetector,
    climate_stuck: StuckDetector,
    second_climate_stuck: StuckDetector,
    interval: Interval,
}

#[derive(Debug, Default)]
struct Interval {
    rounds: u32,
    quality: QualityFlags,
    pm1_0: Mean,
    pm2_5: Mean,
    pm10: Mean,
    temperature: Mean,
    humidity: Mean,
    pressure: Mean,
    /// CO, NO2, SO2, O3 in frame units, signed.
    gases: [Mean; 4],
}

/// Adds `value` to `mean` if it lies within `range`, flags it otherwise; an absent value adds nothing.
fn add_in_range(
    mean: &mut Mean,
    quality: &mut QualityFlags,
    value: Option<i64>,
    range: &core::ops::RangeInclusive<i64>,
) {
    match value {
        Some(v) if range.contains(&v) => mean.add(v),
        Some(_) => quality.insert(QualityFlags::OUT_OF_RANGE),
        None => {}
    }
}

impl<P, C> AirSampler<P, C> {
    /// Takes the particulate and climate sensors' drivers; the particulate sensor is configured
    /// on the first sample.
    pub fn new(pm: P, climate: C) -> Self {
        AirSampler {
            pm,
            climate,
            second_climate: NoSensor,
            gas: NoSensor,
            pm_ready: false,
            pm_woke_at_ms: 0,
            sleep_between: false,
            pm_stuck: StuckDetector::default(),
            climate_stuck: StuckDetector::default(),
            second_climate_stuck: StuckDetector::default(),
            interval: Interval::default(),
        }
    }
}

impl<P, C, X, G> AirSampler<P, C, X, G> {
    /// Adds a second climate sensor for what the first does not measure (a BME280's pressure
    /// beside an SHT4x).
    pub fn with_second_climate<Y>(self, second: Y) -> AirSampler<P, C, Y, G> {
        AirSampler {
            pm: self.pm,
            climate: self.climate,
            second_climate: second,
            gas: self.gas,
            pm_ready: self.pm_ready,
            pm_woke_at_ms: self.pm_woke_at_ms,
            sleep_between: self.sleep_between,
            pm_stuck: self.pm_stuck,
            climate_stuck: self.climate_stuck,
            second_climate_stuck: StuckDetector::default(),
            interval: self.interval,
        }
    }

    /// Adds gas cells.
    pub fn with_gas<H>(self, gas: H) -> AirSampler<P, C, X, H> {
        AirSampler {
            pm: self.pm,
            climate: self.climate,
            second_climate: self.second_climate,
            gas,
            pm_ready: self.pm_ready,
            pm_woke_at_ms: self.pm_woke_at_ms,
            sleep_between: self.sleep_between,
            pm_stuck: self.pm_stuck,
            climate_stuck: self.climate_stuck,
            second_climate_stuck: self.second_climate_stuck,
            interval: self.interval,
        }
    }

    /// Gives the drivers back: particulate, climate, second climate, gas cells.
    pub fn destroy(self) -> (P, C, X, G) {
        (self.pm, self.climate, self.second_climate, self.gas)
    }

    /// The particulate sensor, for its diagnostics.
    pub fn particulate(&self) -> &P {
        &self.pm
    }

    /// The gas cells, to load their calibrations at boot.
    pub fn gas_mut(&mut self) -> &mut G {
        &mut self.gas
    }
}

impl<P: ParticulateSensor, C: ClimateSensor, X: ClimateSensor, G: GasSensor> AirSampler<P, C, X, G> {
    fn sample_pm(&mut self, uptime_ms: u64) {
        if !self.pm_ready {
            // An MCU reset does not reset the sensor, which may still be asleep from before: wake
            // it explicitly and put it in request mode.
            if self.pm.start().is_err() {
                self.interval.quality.insert(QualityFlags::SENSOR_FAULT);
                return;
            }
            self.pm_woke_at_ms = uptime_ms;
            self.pm_ready = true;
        }
        let reading = match self.pm.read_pm() {
            Ok(reading) => reading,
            Err(fault) => {
                if fault == PmFault::Silent {
                    // Silence, not a damaged frame: the sensor may have lost power and come back
                    // in its streaming mode with its fan stopped, so configure it again (and warm
                    // it up again) next time.
                    self.pm_ready = false;
                }
                self.interval.quality.insert(QualityFlags::SENSOR_FAULT);
                return;
            }
        };
        if self.pm_stuck.observe(reading.raw, uptime_ms) {
            self.interval.quality.insert(QualityFlags::STUCK_VALUE);
        }
        if uptime_ms < self.pm_woke_at_ms.saturating_add(self.pm.warm_up_ms()) {
            self.interval.quality.insert(QualityFlags::WARMING_UP);
        }
        let max = u32::from(PM_MAX_UG_M3) * 10;
        let values = [reading.pm1_0.unwrap_or(0), reading.pm2_5, reading.pm10];
        if values.iter().any(|&pm| pm > max) {
            self.interval.quality.insert(QualityFlags::OUT_OF_RANGE);
            return;
        }
        if let Some(pm1_0) = reading.pm1_0 {
            self.interval.pm1_0.add(i64::from(pm1_0));
        }
        self.interval.pm2_5.add(i64::from(reading.pm2_5));
        self.interval.pm10.add(i64::from(reading.pm10));
    }

    /// One climate sensor's reading, with its stuck check; `None` (and the fault flag) if it failed.
    fn reading_of<S: ClimateSensor>(
        sensor: &mut S,
        stuck: &mut StuckDetector,
        quality: &mut QualityFlags,
        uptime_ms: u64,
    ) -> ClimateReading {
        let Ok(reading) = sensor.read_climate(uptime_ms) else {
            quality.insert(QualityFlags::SENSOR_FAULT);
            return ClimateReading::default();
        };
        if reading.raw.is_some_and(|raw| stuck.observe(raw, uptime_ms)) {
            quality.insert(QualityFlags::STUCK_VALUE);
        }
        reading
    }

    fn sample_climate(&mut self, uptime_ms: u64) {
        let quality = &mut self.interval.quality;
        let first = Self::reading_of(&mut self.climate, &mut self.climate_stuck, quality, uptime_ms);
        let second = Self::reading_of(
            &mut self.second_climate,
            &mut self.second_climate_stuck,
            quality,
            uptime_ms,
        );
        let pick = |a: Option<i32>, b: Option<i32>| a.or(b).map(i64::from);
        let i = &mut self.interval;
        let q = &mut i.quality;
        let temperature = pick(first.temperature_centi, second.temperature_centi);
        add_in_range(&mut i.temperature, q, temperature, &TEMPERATURE_RANGE);
        let humidity = pick(first.humidity_centi, second.humidity_centi);
        add_in_range(&mut i.humidity, q, humidity, &HUMIDITY_RANGE);
        let pressure = pick(first.pressure_deci_hpa, second.pressure_deci_hpa);
        add_in_range(&mut i.pressure, q, pressure, &PRESSURE_RANGE);
    }

    fn sample_gas(&mut self, uptime_ms: u64) {
        let reading = self.gas.read_gases(uptime_ms);
        let q = &mut self.interval.quality;
        for (flag, set) in [
            (QualityFlags::SENSOR_FAULT, reading.fault),
            (QualityFlags::OUT_OF_RANGE, reading.out_of_range),
            (QualityFlags::STUCK_VALUE, reading.stuck),
            (QualityFlags::CALIBRATION_DUE, reading.calibration_due),
        ] {
            if set {
                q.insert(flag);
            }
        }
        for (mean, value) in self.interval.gases.iter_mut().zip(reading.values) {
            if let Some(v) = value {
                mean.add(v);
            }
        }
    }
}

impl<P: ParticulateSensor, C: ClimateSensor, X: ClimateSensor, G: GasSensor> Sampler
    for AirSampler<P, C, X, G>
{
    fn sample(&mut self, uptime_ms: u64) {
        self.interval.rounds = self.interval.rounds.saturating_add(1);
        self.sample_pm(uptime_ms);
        self.sample_climate(uptime_ms);
        self.sample_gas(uptime_ms);
        if self.sleep_between && self.pm_ready {
            // A failed sleep command only costs power; the next prepare wakes it regardless.
            let _ = self.pm.stop();
        }
    }

    fn warm_up_ms(&self) -> u64 {
        self.pm.warm_up_ms()
    }

    fn set_time(&mut self, now_s: u32) {
        self.gas.set_time(now_s);
    }

    fn calibrate(&mut self, step: CalibrationStep, now_s: u32) -> Option<Calibrated> {
        self.gas.calibrate(step, now_s)
    }

    fn set_duty_cycling(&mut self, on: bool) {
        self.sleep_between = on;
    }

    fn prepare(&mut self, uptime_ms: u64) {
        if !self.sleep_between {
            return;
        }
        // Wake and reconfigure now, so the fan has run its warm-up by the reading.
        if self.pm.start().is_ok() {
            self.pm_woke_at_ms = uptime_ms;
            self.pm_ready = true;
        }
    }

    fn take_body(&mut self) -> Option<Body> {
        let i = core::mem::take(&mut self.interval);
        if i.rounds == 0 {
            return None;
        }
        // Every value added passed a range check that fits its field, so the conversions below
        // cannot fail; `.ok()` keeps a bug from turning into a panic.
        Some(Body::Air(AirSample {
            quality: i.quality,
            samples: sample_count(&[
                i.pm1_0,
                i.pm2_5,
                i.pm10,
                i.temperature,
                i.humidity,
                i.pressure,
                i.gases[0],
                i.gases[1],
                i.gases[2],
                i.gases[3],
            ]),
            pm1_0: i.pm1_0.get().and_then(|v| u16::try_from(v).ok()),
            pm2_5: i.pm2_5.get().and_then(|v| u16::try_from(v).ok()),
            pm10: i.pm10.get().and_then(|v| u16::try_from(v).ok()),
            temperature: i.temperature.get().and_then(|v| i16::try_from(v).ok()),
            humidity: i.humidity.get().and_then(|v| u16::try_from(v).ok()),
            pressure: i.pressure.get().and_then(|v| u16::try_from(v).ok()),
            // A cell's mean below zero is clean air read through its noise: sent as 0.
            co: i.gases[0].get().and_then(|v| u32::try_from(v.max(0)).ok()),
            no2: i.gases[1].get().and_then(|v| u16::try_from(v.max(0)).ok()),
            so2: i.gases[2].get().and_then(|v| u16::try_from(v.max(0)).ok()),
            o3: i.gases[3].get().and_then(|v| u16::try_from(v.max(0)).ok()),
        }))
    }
}
