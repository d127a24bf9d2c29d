//! The air-quality station: a PMS5003 for particulates and an SHT4x for temperature and humidity.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use embedded_io::{Read, Write};
use protocol::{AirSample, Body, QualityFlags};

use super::mean::{Mean, div_round, sample_count};
use super::sampler::Sampler;
use super::stuck::{StuckDetector, fingerprint};
use crate::drivers::pms5003::{self, Command, Pms5003};
use crate::drivers::sht4x::{self, Heater, Precision, Sht4x};

/// The PMS5003's fan needs this long after wake before readings are stable (domain.md §7.1, "≥ 30 s").
pub const PMS_WARM_UP_MS: u64 = 30_000;

/// Largest PM value, in µg/m³, that the frame can carry (`FORMAT.md` §4.1: 0–20 000 in 0.1 µg/m³).
/// A reading above it is garbage that passed the checksum; it is flagged and left out.
pub const PM_MAX_UG_M3: u16 = 2_000;

/// At or above this relative humidity (m%RH) the SHT4x gets a short heater pulse after its reading,
/// to drive off condensation on the sensing element (a dew-soaked sensor reads high for hours).
/// Nights in the Mekong Delta sit at 90–95 %RH, hence a threshold near saturation, and the
/// shortest pulse: at one reading every 5 s that is at most 2 % heater duty, within the 10 %.
pub const HEATER_ABOVE_MILLI_PERCENT: i32 = 98_000;

/// Frame temperature range in 0.01 °C (`FORMAT.md` §4.1); the SHT4x itself reads up to 125 °C.
const TEMPERATURE_RANGE: core::ops::RangeInclusive<i64> = -4_000..=8_500;

/// Samples a PMS5003 and an SHT4x into [`AirSample`]s.
///
/// The PMS5003 is driven in passive mode: one frame per request, so each reading belongs to the
/// sample it was asked for, rather than whatever an active-mode stream left in the UART buffer.
#[derive(Debug)]
pub struct AirSampler<U, I, D> {
    pms: Pms5003<U>,
    sht: Sht4x<I, D>,
    /// Wake and passive mode have been sent and the sensor has answered since.
    pms_ready: bool,
    /// When the last wake was sent, for the warm-up flag.
    pms_woke_at_ms: u64,
    /// Sleep the PMS5003's fan and laser between readings, waking it [`PMS_WARM_UP_MS`] before
    /// the next (the node turns this on when the sample interval is at least twice the warm-up):
    /// it saves most of the sensor's 100 mA and its fan's life.
    sleep_between: bool,
    pms_stuck: StuckDetector,
    sht_stuck: StuckDetector,
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
}

impl<U, I, D> AirSampler<U, I, D> {
    /// Takes the two drivers; the PMS5003 is configured on the first sample.
    pub fn new(pms: Pms5003<U>, sht: Sht4x<I, D>) -> Self {
        AirSampler {
            pms,
            sht,
            pms_ready: false,
            pms_woke_at_ms: 0,
            sleep_between: false,
            pms_stuck: StuckDetector::default(),
            sht_stuck: StuckDetector::default(),
            interval: Interval::default(),
        }
    }

    /// Gives the drivers back.
    pub fn destroy(self) -> (Pms5003<U>, Sht4x<I, D>) {
        (self.pms, self.sht)
    }

    /// PMS5003 frames rejected for a bad checksum since start.
    pub fn pms_checksum_errors(&self) -> u32 {
        self.pms.checksum_errors()
    }
}

impl<U: Read + Write, I: I2c, D: DelayNs> AirSampler<U, I, D> {
    fn read_pms(&mut self, uptime_ms: u64) -> Result<pms5003::Reading, pms5003::Error<U::Error>> {
        if !self.pms_ready {
            // An MCU reset does not reset the sensor, which may still be asleep from before: wake
            // it explicitly, then stop its stream so that reads answer requests.
            self.pms.send(Command::Wake)?;
            self.pms.send(Command::PassiveMode)?;
            self.pms_woke_at_ms = uptime_ms;
            self.pms_ready = true;
        }
        let result = self.pms.request();
        if let Err(pms5003::Error::Uart(_) | pms5003::Error::EndOfInput | pms5003::Error::NoStart) = result {
            // Silence, not a damaged frame: the sensor may have lost power and come back in active
            // mode with its fan stopped, so configure it again (and warm it up again) next time.
            self.pms_ready = false;
        }
        result
    }

    fn sample_pms(&mut self, uptime_ms: u64) {
        let full = match self.read_pms(uptime_ms) {
            Ok(reading) => reading,
            Err(_) => {
                self.interval.quality.insert(QualityFlags::SENSOR_FAULT);
                return;
            }
        };
        let c = full.counts;
        let words = [
            full.standard.pm1_0,
            full.standard.pm2_5,
            full.standard.pm10,
            full.atmospheric.pm1_0,
            full.atmospheric.pm2_5,
            full.atmospheric.pm10,
            c.over_0_3um,
            c.over_0_5um,
            c.over_1_0um,
            c.over_2_5um,
            c.over_5_0um,
            c.over_10um,
            full.reserved,
        ];
        if self
            .pms_stuck
            .observe(fingerprint(words.map(u32::from)), uptime_ms)
        {
            self.interval.quality.insert(QualityFlags::STUCK_VALUE);
        }
        let reading = full.atmospheric;
        if uptime_ms < self.pms_woke_at_ms.saturating_add(PMS_WARM_UP_MS) {
            self.interval.quality.insert(QualityFlags::WARMING_UP);
        }
        if [reading.pm1_0, reading.pm2_5, reading.pm10]
            .iter()
            .any(|&pm| pm > PM_MAX_UG_M3)
        {
            self.interval.quality.insert(QualityFlags::OUT_OF_RANGE);
            return;
        }
        // Whole µg/m³ to the frame's 0.1 µg/m³.
        self.interval.pm1_0.add(i64::from(reading.pm1_0) * 10);
        self.interval.pm2_5.add(i64::from(reading.pm2_5) * 10);
        self.interval.pm10.add(i64::from(reading.pm10) * 10);
    }

    fn sample_sht(&mut self, uptime_ms: u64) {
        let Ok(raw) = self.sht.measure_raw(Precision::High) else {
            self.interval.quality.insert(QualityFlags::SENSOR_FAULT);
            return;
        };
        let fp = fingerprint([u32::from(raw.temperature), u32::from(raw.humidity)]);
        if self.sht_stuck.observe(fp, uptime_ms) {
            self.interval.quality.insert(QualityFlags::STUCK_VALUE);
        }
        let measurement = sht4x::Measurement::from(raw);
        if measurement.humidity_milli_percent() >= HEATER_ABOVE_MILLI_PERCENT {
            // The pulse's own reading is hot and dry, so it is not averaged; a refusal (duty
            // cycle) or a bus error only means no pulse this time.
            let _ = self.sht.heat(Heater::P200mW100ms, uptime_ms);
        }
        // m°C and m%RH to the frame's 0.01 °C and 0.01 %RH.
        let temperature = div_round(i64::from(measurement.temperature_milli_celsius()), 10);
        let humidity = div_round(i64::from(measurement.humidity_milli_percent()), 10);
        if TEMPERATURE_RANGE.contains(&temperature) {
            self.interval.temperature.add(temperature);
        } else {
            self.interval.quality.insert(QualityFlags::OUT_OF_RANGE);
        }
        // The driver clamps humidity to 0–100 %RH, which is the frame's range.
        self.interval.humidity.add(humidity);
    }
}

impl<U: Read + Write, I: I2c, D: DelayNs> Sampler for AirSampler<U, I, D> {
    fn sample(&mut self, uptime_ms: u64) {
        self.interval.rounds = self.interval.rounds.saturating_add(1);
        self.sample_pms(uptime_ms);
        self.sample_sht(uptime_ms);
        if self.sleep_between && self.pms_ready {
            // A failed sleep command only costs power; the next prepare wakes it regardless.
            let _ = self.pms.send(Command::Sleep);
        }
    }

    fn warm_up_ms(&self) -> u64 {
        PMS_WARM_UP_MS
    }

    fn set_duty_cycling(&mut self, on: bool) {
        self.sleep_between = on;
    }

    fn prepare(&mut self, uptime_ms: u64) {
        if !self.sleep_between {
            return;
        }
        // Wake and (re)configure now, so the fan has run its warm-up by the reading.
        if self.pms.send(Command::Wake).is_ok() && self.pms.send(Command::PassiveMode).is_ok() {
            self.pms_woke_at_ms = uptime_ms;
            self.pms_ready = true;
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
            samples: sample_count(&[i.pm1_0, i.pm2_5, i.pm10, i.temperature, i.humidity]),
            pm1_0: i.pm1_0.get().and_then(|v| u16::try_from(v).ok()),
            pm2_5: i.pm2_5.get().and_then(|v| u16::try_from(v).ok()),
            pm10: i.pm10.get().and_then(|v| u16::try_from(v).ok()),
            temperature: i.temperature.get().and_then(|v| i16::try_from(v).ok()),
            humidity: i.humidity.get().and_then(|v| u16::try_from(v).ok()),
            ..AirSample::default()
        }))
    }
}
