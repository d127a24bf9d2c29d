//! The climate seam of the air station: temperature, humidity and pressure. The SHT4x (T, RH, with
//! its heater against condensation) and the BME280 (T, RH, p) drivers implement it; a station
//! may carry one, or an SHT4x for T and RH beside a BME280 for pressure.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::absent::NoSensor;
use super::mean::div_round;
use super::stuck::fingerprint;
use crate::drivers::bme280::{self, Bme280};
use crate::drivers::sht4x::{self, Heater, Precision, Sht4x};

/// At or above this relative humidity (m%RH) the SHT4x gets a short heater pulse after its reading,
/// to drive off condensation on the sensing element (a dew-soaked sensor reads high for hours).
/// Nights in the Mekong Delta sit at 90–95 %RH, hence a threshold near saturation, and the
/// shortest pulse: at one reading every 5 s that is at most 2 % heater duty, within the 10 %.
pub const HEATER_ABOVE_MILLI_PERCENT: i32 = 98_000;

/// One reading in the frame's units; a field is `None` when the sensor does not measure it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClimateReading {
    /// Temperature in 0.01 °C.
    pub temperature_centi: Option<i32>,
    /// Relative humidity in 0.01 %RH.
    pub humidity_centi: Option<i32>,
    /// Pressure in 0.1 hPa.
    pub pressure_deci_hpa: Option<i32>,
    /// A fingerprint of the raw bytes, for the stuck-value check; `None` when nothing was read
    /// (no sensor fitted).
    pub raw: Option<u64>,
}

/// The sensor did not answer, or answered with a damaged reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorFault;

/// A temperature / humidity / pressure sensor.
pub trait ClimateSensor {
    /// Takes one reading. `uptime_ms` paces sensors that must pace themselves (the SHT4x heater's
    /// duty cycle).
    ///
    /// # Errors
    ///
    /// [`SensorFault`]; the sampler flags it and adds nothing.
    fn read_climate(&mut self, uptime_ms: u64) -> Result<ClimateReading, SensorFault>;
}

impl<I: I2c, D: DelayNs> ClimateSensor for Sht4x<I, D> {
    fn read_climate(&mut self, uptime_ms: u64) -> Result<ClimateReading, SensorFault> {
        let raw = self.measure_raw(Precision::High).map_err(|_| SensorFault)?;
        let measurement = sht4x::Measurement::from(raw);
        if measurement.humidity_milli_percent() >= HEATER_ABOVE_MILLI_PERCENT {
            // The pulse's own reading is hot and dry, so it is not used; a refusal (duty cycle)
            // or a bus error only means no pulse this time.
            let _ = self.heat(Heater::P200mW100ms, uptime_ms);
        }
        // m°C and m%RH to the frame's 0.01 °C and 0.01 %RH; the driver clamps RH to 0–100 %.
        let to_centi = |milli: i32| i32::try_from(div_round(i64::from(milli), 10)).unwrap_or(i32::MAX);
        Ok(ClimateReading {
            temperature_centi: Some(to_centi(measurement.temperature_milli_celsius())),
            humidity_centi: Some(to_centi(measurement.humidity_milli_percent())),
            pressure_deci_hpa: None,
            raw: Some(fingerprint([u32::from(raw.temperature), u32::from(raw.humidity)])),
        })
    }
}

impl<I: I2c, D: DelayNs> ClimateSensor for Bme280<I, D> {
    fn read_climate(&mut self, _uptime_ms: u64) -> Result<ClimateReading, SensorFault> {
        // The calibration words are read once; a sensor absent at boot is looked for again at
        // every reading, so one plugged in later (or powered late) is picked up.
        let calibration = match self.calibration() {
            Some(c) => *c,
            None => {
                self.init().map_err(|_| SensorFault)?;
                *self.calibration().ok_or(SensorFault)?
            }
        };
        let raw = self.measure_raw().map_err(|_| SensorFault)?;
        let m = bme280::compensate(&calibration, raw);
        let word = |v: i32| v as u32;
        Ok(ClimateReading {
            temperature_centi: Some(m.temperature_centi),
            humidity_centi: i32::try_from(m.humidity_centi).ok(),
            pressure_deci_hpa: i32::try_from(m.pressure_deci_hpa).ok(),
            raw: Some(fingerprint([
                word(raw.temperature),
                word(raw.humidity),
                word(raw.pressure),
            ])),
        })
    }
}

impl ClimateSensor for NoSensor {
    fn read_climate(&mut self, _uptime_ms: u64) -> Result<ClimateReading, SensorFault> {
        Ok(ClimateReading::default())
    }
}

/// A sensor that may not be fitted (chosen at run time, as the simulators do).
impl<T: ClimateSensor> ClimateSensor for Option<T> {
    fn read_climate(&mut self, uptime_ms: u64) -> Result<ClimateReading, SensorFault> {
        match self {
            Some(sensor) => sensor.read_climate(uptime_ms),
            None => Ok(ClimateReading::default()),
        }
    }
}
