//! Sensirion SHT4x temperature and humidity sensor on I²C, through `embedded_hal` 1.0.
//!
//! One byte of command, a wait, then a 6-byte reply `T_MSB T_LSB CRC RH_MSB RH_LSB CRC` with a
//! Sensirion CRC-8 after each word (`shared/reference/domain.md` §7.3). Raw ticks
//! ([`RawMeasurement`]) are kept apart from the converted values ([`Measurement`]), which are integer
//! milli-units so the node needs no floating point.

use core::fmt;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::crc8::checked_word;

/// The sensor's I²C address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Address {
    /// 0x44, the default part (domain.md §7.3).
    #[default]
    Address0x44,
    /// 0x45, the -B variant. Unconfirmed in domain.md §7.3 (`[U]`); hence a choice, not a default.
    Address0x45,
}

impl Address {
    /// The 7-bit bus address.
    pub const fn value(self) -> u8 {
        match self {
            Address::Address0x44 => 0x44,
            Address::Address0x45 => 0x45,
        }
    }
}

/// Measurement repeatability: higher precision takes longer and more energy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// High repeatability.
    #[default]
    High,
    /// Medium repeatability.
    Medium,
    /// Low repeatability.
    Low,
}

/// The heater settings (domain.md §7.3): power and pulse length. Each pulse ends with a
/// high-precision measurement, which the sensor returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heater {
    /// 200 mW for 1 s (0x39).
    P200mW1s,
    /// 200 mW for 0.1 s (0x32).
    P200mW100ms,
    /// 110 mW for 1 s (0x2F).
    P110mW1s,
    /// 110 mW for 0.1 s (0x24).
    P110mW100ms,
    /// 20 mW for 1 s (0x1E).
    P20mW1s,
    /// 20 mW for 0.1 s (0x15).
    P20mW100ms,
}

impl Heater {
    /// How long the heater is on, in ms.
    pub const fn on_ms(self) -> u32 {
        match self {
            Heater::P200mW1s | Heater::P110mW1s | Heater::P20mW1s => 1_000,
            Heater::P200mW100ms | Heater::P110mW100ms | Heater::P20mW100ms => 100,
        }
    }
}

/// The longest duty cycle the datasheet allows the heater (domain.md §7.3: ≤ 10 %): after a pulse
/// of length d the heater stays off for 9·d.
pub const HEATER_MAX_DUTY_PERCENT: u64 = 10;

/// The datasheet's command table (domain.md §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Measure T and RH with high repeatability.
    MeasureHighPrecision,
    /// Measure T and RH with medium repeatability.
    MeasureMediumPrecision,
    /// Measure T and RH with low repeatability.
    MeasureLowPrecision,
    /// Read the 32-bit serial number.
    SerialNumber,
    /// Soft reset.
    SoftReset,
    /// A heater pulse, then a measurement.
    Heat(Heater),
}

impl Command {
    /// The command byte (domain.md §7.3).
    pub const fn code(self) -> u8 {
        match self {
            Command::MeasureHighPrecision => 0xFD,
            Command::MeasureMediumPrecision => 0xF6,
            Command::MeasureLowPrecision => 0xE0,
            Command::SerialNumber => 0x89,
            Command::SoftReset => 0x94,
            Command::Heat(Heater::P200mW1s) => 0x39,
            Command::Heat(Heater::P200mW100ms) => 0x32,
            Command::Heat(Heater::P110mW1s) => 0x2F,
            Command::Heat(Heater::P110mW100ms) => 0x24,
            Command::Heat(Heater::P20mW1s) => 0x1E,
            Command::Heat(Heater::P20mW100ms) => 0x15,
        }
    }

    /// How long to wait before reading the reply, rounded up to whole ms from the datasheet's
    /// maximum durations (8.3, 4.5 and 1.6 ms for the measurements). The 1 ms for the serial number
    /// and the soft reset is the datasheet's reset time; the serial number's own time is not in
    /// domain.md and is an assumption.
    pub const fn duration_ms(self) -> u32 {
        match self {
            Command::MeasureHighPrecision => 9,
            Command::MeasureMediumPrecision => 5,
            Command::MeasureLowPrecision => 2,
            Command::SerialNumber | Command::SoftReset => 1,
            // The pulse (at most 10 % longer than nominal on the part) and the measurement after.
            Command::Heat(heater) => heater.on_ms() + heater.on_ms() / 10 + 9,
        }
    }
}

impl From<Precision> for Command {
    fn from(precision: Precision) -> Self {
        match precision {
            Precision::High => Command::MeasureHighPrecision,
            Precision::Medium => Command::MeasureMediumPrecision,
            Precision::Low => Command::MeasureLowPrecision,
        }
    }
}

/// A measurement as the sensor sends it: two 16-bit ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawMeasurement {
    /// Temperature ticks S_T.
    pub temperature: u16,
    /// Humidity ticks S_RH.
    pub humidity: u16,
}

/// A converted measurement in integer milli-units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measurement {
    temperature_milli_celsius: i32,
    humidity_milli_percent: i32,
}

impl Measurement {
    /// Temperature in m°C.
    pub const fn temperature_milli_celsius(&self) -> i32 {
        self.temperature_milli_celsius
    }

    /// Relative humidity in m%RH, within 0–100 000.
    pub const fn humidity_milli_percent(&self) -> i32 {
        self.humidity_milli_percent
    }
}

impl From<RawMeasurement> for Measurement {
    /// T = −45 + 175·S/65535 °C and RH = −6 + 125·S/65535 %RH clamped to 0–100 (domain.md §7.3).
    /// The humidity formula is the SHT4x one: the SHT3x's 100·S/65535, which hobby code often
    /// copies, reads up to 6 %RH off at the ends of the range.
    fn from(raw: RawMeasurement) -> Self {
        let temperature = -45_000 + scale(raw.temperature, 175_000);
        let humidity = (-6_000 + scale(raw.humidity, 125_000)).clamp(0, 100_000);
        Measurement {
            temperature_milli_celsius: temperature,
            humidity_milli_percent: humidity,
        }
    }
}

/// `span · ticks / 65535`, rounded to the nearest integer; u64 because 175 000 · 65 535 overflows u32.
fn scale(ticks: u16, span: u32) -> i32 {
    let scaled = (u64::from(span) * u64::from(ticks) + 32_767) / 65_535;
    // At most `span`, which fits in i32 for every span used here.
    i32::try_from(scaled).unwrap_or(i32::MAX)
}

/// What went wrong talking to the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The bus failed; a NACK usually means the sensor is absent or busy.
    I2c(E),
    /// A word's CRC-8 does not match.
    Crc,
    /// The heater was asked for sooner than its 10 % duty cycle allows; nothing was sent.
    HeaterDutyCycle {
        /// The uptime (ms) from which it may run again.
        free_at_ms: u64,
    },
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::I2c(e) => write!(f, "SHT4x I2C error: {e:?}"),
            Error::Crc => f.write_str("SHT4x reply failed its CRC-8"),
            Error::HeaterDutyCycle { free_at_ms } => {
                write!(f, "SHT4x heater held off until {free_at_ms} ms (10 % duty cycle)")
            }
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// An SHT4x on an I²C bus, with the delay it needs between command and reply.
#[derive(Debug)]
pub struct Sht4x<I, D> {
    i2c: I,
    delay: D,
    address: Address,
    heater_free_at_ms: u64,
}

impl<I, D> Sht4x<I, D> {
    /// A sensor at the default address 0x44.
    pub fn new(i2c: I, delay: D) -> Self {
        Self::new_with_address(i2c, delay, Address::default())
    }

    /// A sensor at `address`.
    pub fn new_with_address(i2c: I, delay: D, address: Address) -> Self {
        Sht4x {
            i2c,
            delay,
            address,
            heater_free_at_ms: 0,
        }
    }

    /// Gives back the bus and the delay.
    pub fn destroy(self) -> (I, D) {
        (self.i2c, self.delay)
    }
}

impl<I: I2c, D: DelayNs> Sht4x<I, D> {
    /// Measures and returns the raw ticks.
    ///
    /// # Errors
    ///
    /// [`Error::I2c`] from the bus, [`Error::Crc`] if either word fails its CRC.
    pub fn measure_raw(&mut self, precision: Precision) -> Result<RawMeasurement, Error<I::Error>> {
        let [temperature, humidity] = self.words(Command::from(precision))?;
        Ok(RawMeasurement {
            temperature,
            humidity,
        })
    }

    /// Measures and converts.
    ///
    /// # Errors
    ///
    /// As [`Sht4x::measure_raw`].
    pub fn measure(&mut self, precision: Precision) -> Result<Measurement, Error<I::Error>> {
        self.measure_raw(precision).map(Measurement::from)
    }

    /// Reads the sensor's 32-bit serial number.
    ///
    /// # Errors
    ///
    /// As [`Sht4x::measure_raw`].
    pub fn serial_number(&mut self) -> Result<u32, Error<I::Error>> {
        let [high, low] = self.words(Command::SerialNumber)?;
        Ok(u32::from(high) << 16 | u32::from(low))
    }

    /// Runs a heater pulse (to drive off condensation) and returns the measurement the sensor
    /// takes at its end, which reads hot and dry: use it to check the sensor, not as a reading.
    /// `now_ms` is the node's uptime; a pulse sooner than the 10 % duty cycle allows is refused.
    ///
    /// # Errors
    ///
    /// [`Error::HeaterDutyCycle`] without touching the bus, otherwise as [`Sht4x::measure_raw`].
    pub fn heat(&mut self, heater: Heater, now_ms: u64) -> Result<Measurement, Error<I::Error>> {
        if now_ms < self.heater_free_at_ms {
            return Err(Error::HeaterDutyCycle {
                free_at_ms: self.heater_free_at_ms,
            });
        }
        let on = u64::from(heater.on_ms());
        self.heater_free_at_ms = now_ms.saturating_add(on * 100 / HEATER_MAX_DUTY_PERCENT);
        let [temperature, humidity] = self.words(Command::Heat(heater))?;
        Ok(Measurement::from(RawMeasurement {
            temperature,
            humidity,
        }))
    }

    /// Resets the sensor and waits until it is ready again.
    ///
    /// # Errors
    ///
    /// [`Error::I2c`] from the bus.
    pub fn soft_reset(&mut self) -> Result<(), Error<I::Error>> {
        self.write(Command::SoftReset)?;
        self.delay.delay_ms(Command::SoftReset.duration_ms());
        Ok(())
    }

    fn write(&mut self, command: Command) -> Result<(), Error<I::Error>> {
        self.i2c
            .write(self.address.value(), &[command.code()])
            .map_err(Error::I2c)
    }

    /// Sends `command`, waits its duration and reads the two CRC-checked words of the reply.
    fn words(&mut self, command: Command) -> Result<[u16; 2], Error<I::Error>> {
        self.write(command)?;
        self.delay.delay_ms(command.duration_ms());
        let mut reply = [0u8; 6];
        self.i2c
            .read(self.address.value(), &mut reply)
            .map_err(Error::I2c)?;
        let first = checked_word([reply[0], reply[1], reply[2]]).ok_or(Error::Crc)?;
        let second = checked_word([reply[3], reply[4], reply[5]]).ok_or(Error::Crc)?;
        Ok([first, second])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_hits_the_ends_of_the_datasheet_formulas() {
        let low = Measurement::from(RawMeasurement {
            temperature: 0,
            humidity: 0,
        });
        assert_eq!(low.temperature_milli_celsius(), -45_000);
        assert_eq!(low.humidity_milli_percent(), 0, "−6 %RH clamps to 0");
        let high = Measurement::from(RawMeasurement {
            temperature: u16::MAX,
            humidity: u16::MAX,
        });
        assert_eq!(high.temperature_milli_celsius(), 130_000);
        assert_eq!(high.humidity_milli_percent(), 100_000, "119 %RH clamps to 100");
    }

    #[test]
    fn humidity_uses_the_sht4x_formula_not_the_sht3x_one() {
        // S = 0x8000: SHT4x gives −6 + 125·32768/65535 = 56.501 %RH; 100·S/65535 would give 50.001.
        let m = Measurement::from(RawMeasurement {
            temperature: 0x6666,
            humidity: 0x8000,
        });
        assert_eq!(m.humidity_milli_percent(), 56_501);
        // T: −45 + 175·26214/65535 = 25.000 °C exactly.
        assert_eq!(m.temperature_milli_celsius(), 25_000);
    }
}
