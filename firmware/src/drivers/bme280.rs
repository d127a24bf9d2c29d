//! Bosch BME280 temperature, humidity and pressure sensor on I²C, through `embedded_hal` 1.0
//! (`shared/reference/domain.md` §7.3): chip id 0x60 at 0xD0, calibration words at 0x88–0xA1 and
//! 0xE1–0xE7, forced-mode measurements read from 0xF7–0xFE, compensated with the datasheet's
//! integer formulas (32-bit for temperature and humidity, 64-bit for pressure): no floats.

use core::fmt;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

/// The bus address, set by the SDO pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Address {
    /// SDO to GND: 0x76.
    #[default]
    Sdo0x76,
    /// SDO to VDDIO: 0x77.
    Sdo0x77,
}

impl Address {
    /// The 7-bit bus address.
    pub const fn value(self) -> u8 {
        match self {
            Address::Sdo0x76 => 0x76,
            Address::Sdo0x77 => 0x77,
        }
    }
}

/// The chip id a BME280 reports (a BMP280, without humidity, reports 0x58: unconfirmed `[U]`).
pub const CHIP_ID: u8 = 0x60;
const REG_ID: u8 = 0xD0;
const REG_RESET: u8 = 0xE0;
const RESET: u8 = 0xB6;
const REG_CALIB_00: u8 = 0x88;
const REG_CALIB_26: u8 = 0xE1;
const REG_CTRL_HUM: u8 = 0xF2;
const REG_CTRL_MEAS: u8 = 0xF4;
const REG_DATA: u8 = 0xF7;
/// Oversampling ×1 for all three, forced mode (one measurement, then sleep): ctrl_meas is
/// osrs_t (bits 7:5) = 001, osrs_p (4:2) = 001, mode (1:0) = 01.
const CTRL_HUM_X1: u8 = 0b001;
const CTRL_MEAS_X1_FORCED: u8 = (0b001 << 5) | (0b001 << 2) | 0b01;
/// A forced measurement at ×1: 1.25 + 3 × 2.3 + 2 × 0.575 ms ≈ 9.3 ms, rounded up.
const MEASUREMENT_MS: u32 = 10;
/// Start-up after a soft reset.
const STARTUP_MS: u32 = 2;

/// The factory calibration words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct Calibration {
    pub t1: u16,
    pub t2: i16,
    pub t3: i16,
    pub p1: u16,
    pub p2: i16,
    pub p3: i16,
    pub p4: i16,
    pub p5: i16,
    pub p6: i16,
    pub p7: i16,
    pub p8: i16,
    pub p9: i16,
    pub h1: u8,
    pub h2: i16,
    pub h3: u8,
    pub h4: i16,
    pub h5: i16,
    pub h6: i8,
}

impl Calibration {
    /// Decodes the 26 bytes at 0x88 and the 7 at 0xE1.
    pub fn from_registers(low: &[u8; 26], high: &[u8; 7]) -> Self {
        let u = |i: usize| u16::from_le_bytes([low[i], low[i + 1]]);
        let s = |i: usize| i16::from_le_bytes([low[i], low[i + 1]]);
        Calibration {
            t1: u(0),
            t2: s(2),
            t3: s(4),
            p1: u(6),
            p2: s(8),
            p3: s(10),
            p4: s(12),
            p5: s(14),
            p6: s(16),
            p7: s(18),
            p8: s(20),
            p9: s(22),
            h1: low[25],
            h2: i16::from_le_bytes([high[0], high[1]]),
            h3: high[2],
            // H4 = E4[11:4] E5[3:0]; H5 = E6[11:4] E5[7:4], both signed 12-bit.
            h4: (i16::from(high[3] as i8) << 4) | i16::from(high[4] & 0x0F),
            h5: (i16::from(high[5] as i8) << 4) | i16::from(high[4] >> 4),
            h6: high[6] as i8,
        }
    }

    /// Temperature in 0.01 °C and the fine temperature the other two need.
    pub fn temperature(&self, adc_t: i32) -> (i32, i32) {
        // The datasheet's 32-bit formula in 64 bits: bus garbage cannot overflow it.
        let (t1, t2, t3) = (i64::from(self.t1), i64::from(self.t2), i64::from(self.t3));
        let adc_t = i64::from(adc_t);
        let var1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11;
        let var2 = (((((adc_t >> 4) - t1) * ((adc_t >> 4) - t1)) >> 12) * t3) >> 14;
        let t_fine = i32::try_from(var1 + var2).unwrap_or(0);
        (((i64::from(t_fine) * 5 + 128) >> 8) as i32, t_fine)
    }

    /// Pressure in Pa × 256 (Q24.8), or 0 if the calibration would divide by zero.
    pub fn pressure_q24_8(&self, adc_p: i32, t_fine: i32) -> u32 {
        let mut var1 = i64::from(t_fine) - 128_000;
        let mut var2 = var1 * var1 * i64::from(self.p6);
        var2 += (var1 * i64::from(self.p5)) << 17;
        var2 += i64::from(self.p4) << 35;
        var1 = ((var1 * var1 * i64::from(self.p3)) >> 8) + ((var1 * i64::from(self.p2)) << 12);
        var1 = (((1i64 << 47) + var1) * i64::from(self.p1)) >> 33;
        if var1 == 0 {
            return 0;
        }
        let mut p = 1_048_576 - i64::from(adc_p);
        p = (((p << 31) - var2) * 3_125) / var1;
        var1 = (i64::from(self.p9) * (p >> 13) * (p >> 13)) >> 25;
        var2 = (i64::from(self.p8) * p) >> 19;
        p = ((p + var1 + var2) >> 8) + (i64::from(self.p7) << 4);
        u32::try_from(p).unwrap_or(0)
    }

    /// Relative humidity in %RH × 1024 (Q22.10), clamped to 0–100 %. The datasheet's 32-bit
    /// formula, evaluated in 64 bits so that garbage from the bus cannot overflow it.
    pub fn humidity_q22_10(&self, adc_h: i32, t_fine: i32) -> u32 {
        let (h1, h2, h3) = (i64::from(self.h1), i64::from(self.h2), i64::from(self.h3));
        let (h4, h5, h6) = (i64::from(self.h4), i64::from(self.h5), i64::from(self.h6));
        let x = i64::from(t_fine) - 76_800;
        let mut v = (((i64::from(adc_h) << 14) - (h4 << 20) - (h5 * x) + 16_384) >> 15)
            * (((((((x * h6) >> 10) * (((x * h3) >> 11) + 32_768)) >> 10) + 2_097_152) * h2 + 8_192) >> 14);
        v -= ((((v >> 15) * (v >> 15)) >> 7) * h1) >> 4;
        (v.clamp(0, 419_430_400) >> 12) as u32
    }
}

/// One compensated measurement in the frame's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measurement {
    /// Temperature in 0.01 °C.
    pub temperature_centi: i32,
    /// Relative humidity in 0.01 %RH.
    pub humidity_centi: u32,
    /// Pressure in 0.1 hPa (10 Pa).
    pub pressure_deci_hpa: u32,
}

/// Raw ADC values of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawMeasurement {
    /// 20-bit pressure.
    pub pressure: i32,
    /// 20-bit temperature.
    pub temperature: i32,
    /// 16-bit humidity.
    pub humidity: i32,
}

/// What went wrong talking to the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The bus failed (a NACK: the sensor is absent).
    I2c(E),
    /// The chip id is not a BME280's.
    WrongChip(u8),
    /// [`Bme280::init`] has not read the calibration yet.
    NotInitialised,
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::I2c(e) => write!(f, "BME280 I2C error: {e:?}"),
            Error::WrongChip(id) => write!(f, "chip id {id:#04x} is not a BME280 ({CHIP_ID:#04x})"),
            Error::NotInitialised => f.write_str("BME280 calibration not read yet"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// A BME280 on an I²C bus.
#[derive(Debug)]
pub struct Bme280<I, D> {
    i2c: I,
    delay: D,
    address: Address,
    calibration: Option<Calibration>,
}

impl<I, D> Bme280<I, D> {
    /// A sensor at 0x76.
    pub fn new(i2c: I, delay: D) -> Self {
        Self::new_with_address(i2c, delay, Address::default())
    }

    /// A sensor at `address`.
    pub fn new_with_address(i2c: I, delay: D, address: Address) -> Self {
        Bme280 {
            i2c,
            delay,
            address,
            calibration: None,
        }
    }

    /// The calibration read by [`Bme280::init`].
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// Gives back the bus and the delay.
    pub fn destroy(self) -> (I, D) {
        (self.i2c, self.delay)
    }
}

impl<I: I2c, D: DelayNs> Bme280<I, D> {
    fn read_regs(&mut self, register: u8, buf: &mut [u8]) -> Result<(), Error<I::Error>> {
        self.i2c
            .write_read(self.address.value(), &[register], buf)
            .map_err(Error::I2c)
    }

    fn write_reg(&mut self, register: u8, value: u8) -> Result<(), Error<I::Error>> {
        self.i2c
            .write(self.address.value(), &[register, value])
            .map_err(Error::I2c)
    }

    /// Resets the sensor, checks its chip id and reads its calibration.
    ///
    /// # Errors
    ///
    /// [`Error::I2c`], or [`Error::WrongChip`] for another part at the address.
    pub fn init(&mut self) -> Result<(), Error<I::Error>> {
        self.write_reg(REG_RESET, RESET)?;
        self.delay.delay_ms(STARTUP_MS);
        let mut id = [0u8; 1];
        self.read_regs(REG_ID, &mut id)?;
        if id[0] != CHIP_ID {
            return Err(Error::WrongChip(id[0]));
        }
        let mut low = [0u8; 26];
        let mut high = [0u8; 7];
        self.read_regs(REG_CALIB_00, &mut low)?;
        self.read_regs(REG_CALIB_26, &mut high)?;
        self.calibration = Some(Calibration::from_registers(&low, &high));
        Ok(())
    }

    /// Takes one forced-mode measurement and returns the raw ADC values.
    ///
    /// # Errors
    ///
    /// [`Error::I2c`] from the bus.
    pub fn measure_raw(&mut self) -> Result<RawMeasurement, Error<I::Error>> {
        // ctrl_hum takes effect only after a write to ctrl_meas, so it goes first.
        self.write_reg(REG_CTRL_HUM, CTRL_HUM_X1)?;
        self.write_reg(REG_CTRL_MEAS, CTRL_MEAS_X1_FORCED)?;
        self.delay.delay_ms(MEASUREMENT_MS);
        let mut d = [0u8; 8];
        self.read_regs(REG_DATA, &mut d)?;
        let twenty = |m: u8, l: u8, x: u8| (i32::from(m) << 12) | (i32::from(l) << 4) | (i32::from(x) >> 4);
        Ok(RawMeasurement {
            pressure: twenty(d[0], d[1], d[2]),
            temperature: twenty(d[3], d[4], d[5]),
            humidity: (i32::from(d[6]) << 8) | i32::from(d[7]),
        })
    }

    /// Takes one measurement and compensates it.
    ///
    /// # Errors
    ///
    /// As [`Bme280::measure_raw`], or [`Error::NotInitialised`] before [`Bme280::init`].
    pub fn measure(&mut self) -> Result<Measurement, Error<I::Error>> {
        let calibration = self.calibration.ok_or(Error::NotInitialised)?;
        let raw = self.measure_raw()?;
        Ok(compensate(&calibration, raw))
    }
}

/// Compensates a raw measurement into the frame's units.
pub fn compensate(calibration: &Calibration, raw: RawMeasurement) -> Measurement {
    let (temperature_centi, t_fine) = calibration.temperature(raw.temperature);
    let pressure = calibration.pressure_q24_8(raw.pressure, t_fine);
    let humidity = calibration.humidity_q22_10(raw.humidity, t_fine);
    Measurement {
        temperature_centi,
        // Q22.10 %RH to 0.01 %RH, rounded.
        humidity_centi: (humidity * 100 + 512) / 1_024,
        // Q24.8 Pa to 10 Pa, rounded.
        pressure_deci_hpa: (pressure + 1_280) / 2_560,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Bosch's BMP280 datasheet, whose temperature and pressure formulas the
    /// BME280 shares: adc_T = 519888 gives 25.08 °C, adc_P = 415148 gives 100 653.27 Pa.
    fn datasheet() -> Calibration {
        Calibration {
            t1: 27_504,
            t2: 26_435,
            t3: -1_000,
            p1: 36_477,
            p2: -10_685,
            p3: 3_024,
            p4: 2_855,
            p5: 140,
            p6: -7,
            p7: 15_500,
            p8: -14_600,
            p9: 6_000,
            ..Calibration::default()
        }
    }

    #[test]
    fn temperature_and_pressure_match_the_datasheet_example() {
        let c = datasheet();
        let (t, t_fine) = c.temperature(519_888);
        assert_eq!(t, 2_508);
        let p = c.pressure_q24_8(415_148, t_fine);
        // 100 653.27 Pa × 256 = 25 767 237 (the datasheet's double-precision result); the
        // 64-bit integer formula truncates along the way and lands within 0.03 Pa of it.
        assert!(p.abs_diff(25_767_237) <= 8, "{p}");
        assert_eq!(t_fine, 128_422, "the datasheet's t_fine");
    }

    #[test]
    fn split_humidity_words_decode_as_signed_12_bit() {
        let mut low = [0u8; 26];
        low[25] = 75;
        // H2 = 362, H3 = 0, H4 = 0x145 = 325 (E4 = 0x14, E5 low nibble 5), H5 = 0x032 = 50
        // (E6 = 0x03, E5 high nibble 2), H6 = 30.
        let high = [0x6A, 0x01, 0x00, 0x14, 0x25, 0x03, 30];
        let c = Calibration::from_registers(&low, &high);
        assert_eq!((c.h1, c.h2, c.h3, c.h4, c.h5, c.h6), (75, 362, 0, 325, 50, 30));
        let negative = Calibration::from_registers(&low, &[0, 0, 0, 0xFF, 0xFF, 0xFF, 0xF0]);
        assert_eq!((negative.h4, negative.h5, negative.h6), (-1, -1, -16));
    }

    #[test]
    fn humidity_is_clamped_to_the_physical_range() {
        let mut c = datasheet();
        c.h1 = 75;
        c.h2 = 362;
        c.h4 = 325;
        c.h5 = 50;
        c.h6 = 30;
        let (_, t_fine) = c.temperature(519_888);
        assert!(c.humidity_q22_10(0, t_fine) == 0);
        assert!(c.humidity_q22_10(65_535, t_fine) <= 100 * 1_024);
        let mid = c.humidity_q22_10(30_000, t_fine);
        assert!((1_024..100 * 1_024).contains(&mid), "{mid}");
    }
}
