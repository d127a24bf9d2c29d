//! TI ADS1115 16-bit ADC on I²C, through `embedded_hal` 1.0: single-shot conversions of the
//! analogue water probes (`shared/reference/domain.md` §7.4).
//!
//! Registers: 0x00 conversion (signed 16-bit), 0x01 config. A conversion writes the config with
//! OS = 1 (start), the input multiplexer, the gain (PGA), MODE = 1 (single-shot), the data rate and
//! the comparator disabled; waits one conversion time; checks OS = 1 (idle again); reads the
//! conversion register.

use core::fmt;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

/// The bus address, set by the ADDR pin (domain.md §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Address {
    /// ADDR to GND: 0x48.
    #[default]
    Gnd,
    /// ADDR to VDD: 0x49.
    Vdd,
    /// ADDR to SDA: 0x4A.
    Sda,
    /// ADDR to SCL: 0x4B.
    Scl,
}

impl Address {
    /// The 7-bit bus address.
    pub const fn value(self) -> u8 {
        match self {
            Address::Gnd => 0x48,
            Address::Vdd => 0x49,
            Address::Sda => 0x4A,
            Address::Scl => 0x4B,
        }
    }
}

/// Which input to convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// AIN0 − AIN1 (MUX 000).
    Differential01,
    /// AIN0 against GND (MUX 100).
    Ain0,
    /// AIN1 against GND (MUX 101).
    Ain1,
    /// AIN2 against GND (MUX 110).
    Ain2,
    /// AIN3 against GND (MUX 111).
    Ain3,
}

impl Channel {
    /// MUX bits 14:12 of the config register.
    pub const fn mux(self) -> u16 {
        match self {
            Channel::Differential01 => 0x0000,
            Channel::Ain0 => 0x4000,
            Channel::Ain1 => 0x5000,
            Channel::Ain2 => 0x6000,
            Channel::Ain3 => 0x7000,
        }
    }
}

/// Programmable gain: the full-scale range. Never put more than VDD + 0.3 V on an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gain {
    /// ±6.144 V, 187.5 µV per count.
    Fs6_144V,
    /// ±4.096 V, 125 µV per count.
    Fs4_096V,
    /// ±2.048 V (power-up default), 62.5 µV per count.
    #[default]
    Fs2_048V,
    /// ±1.024 V, 31.25 µV per count.
    Fs1_024V,
    /// ±0.512 V, 15.625 µV per count.
    Fs0_512V,
    /// ±0.256 V, 7.8125 µV per count.
    Fs0_256V,
}

impl Gain {
    /// PGA bits 11:9 of the config register.
    pub const fn pga(self) -> u16 {
        match self {
            Gain::Fs6_144V => 0x0000,
            Gain::Fs4_096V => 0x0200,
            Gain::Fs2_048V => 0x0400,
            Gain::Fs1_024V => 0x0600,
            Gain::Fs0_512V => 0x0800,
            Gain::Fs0_256V => 0x0A00,
        }
    }

    /// Full scale in µV.
    pub const fn full_scale_uv(self) -> i64 {
        match self {
            Gain::Fs6_144V => 6_144_000,
            Gain::Fs4_096V => 4_096_000,
            Gain::Fs2_048V => 2_048_000,
            Gain::Fs1_024V => 1_024_000,
            Gain::Fs0_512V => 512_000,
            Gain::Fs0_256V => 256_000,
        }
    }

    /// A raw count in µV, rounded to the nearest µV.
    pub const fn to_microvolts(self, raw: i16) -> i32 {
        let scaled = raw as i64 * self.full_scale_uv();
        let rounded = if scaled >= 0 {
            scaled + 16_384
        } else {
            scaled - 16_384
        };
        (rounded / 32_768) as i32
    }
}

/// Conversions per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataRate {
    /// 8 SPS: the quietest.
    Sps8,
    /// 32 SPS.
    Sps32,
    /// 128 SPS (power-up default).
    #[default]
    Sps128,
    /// 860 SPS.
    Sps860,
}

impl DataRate {
    /// DR bits 7:5 of the config register.
    pub const fn dr(self) -> u16 {
        match self {
            DataRate::Sps8 => 0x0000,
            DataRate::Sps32 => 0x0040,
            DataRate::Sps128 => 0x0080,
            DataRate::Sps860 => 0x00E0,
        }
    }

    /// One conversion, rounded up to whole ms, plus 1 ms for the internal oscillator's ±10 %.
    pub const fn conversion_ms(self) -> u32 {
        match self {
            DataRate::Sps8 => 126,
            DataRate::Sps32 => 33,
            DataRate::Sps128 => 9,
            DataRate::Sps860 => 3,
        }
    }
}

const REG_CONVERSION: u8 = 0x00;
const REG_CONFIG: u8 = 0x01;
const OS: u16 = 0x8000;
const MODE_SINGLE_SHOT: u16 = 0x0100;
const COMP_DISABLED: u16 = 0x0003;

/// What went wrong talking to the ADC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The bus failed (a NACK: the ADC is absent or unpowered).
    I2c(E),
    /// The conversion had not finished after twice its time (a hung device).
    NotReady,
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::I2c(e) => write!(f, "ADS1115 I2C error: {e:?}"),
            Error::NotReady => f.write_str("ADS1115 conversion did not finish"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// An ADS1115 on an I²C bus.
#[derive(Debug)]
pub struct Ads1115<I, D> {
    i2c: I,
    delay: D,
    address: Address,
    rate: DataRate,
}

impl<I, D> Ads1115<I, D> {
    /// An ADC with ADDR to GND (0x48) at 128 SPS.
    pub fn new(i2c: I, delay: D) -> Self {
        Self::new_with_address(i2c, delay, Address::default())
    }

    /// An ADC at `address`.
    pub fn new_with_address(i2c: I, delay: D, address: Address) -> Self {
        Ads1115 {
            i2c,
            delay,
            address,
            rate: DataRate::default(),
        }
    }

    /// Uses `rate` for the next conversions (slower is quieter).
    pub fn set_data_rate(&mut self, rate: DataRate) {
        self.rate = rate;
    }

    /// Gives back the bus and the delay.
    pub fn destroy(self) -> (I, D) {
        (self.i2c, self.delay)
    }
}

impl<I: I2c, D: DelayNs> Ads1115<I, D> {
    /// The config word that starts a single-shot conversion of `channel` at `gain`.
    pub fn config_word(&self, channel: Channel, gain: Gain) -> u16 {
        OS | channel.mux() | gain.pga() | MODE_SINGLE_SHOT | self.rate.dr() | COMP_DISABLED
    }

    /// Converts `channel` once and returns the raw signed count.
    ///
    /// # Errors
    ///
    /// [`Error::I2c`] from the bus, [`Error::NotReady`] if the conversion never finishes.
    pub fn read_raw(&mut self, channel: Channel, gain: Gain) -> Result<i16, Error<I::Error>> {
        let [hi, lo] = self.config_word(channel, gain).to_be_bytes();
        let address = self.address.value();
        self.i2c
            .write(address, &[REG_CONFIG, hi, lo])
            .map_err(Error::I2c)?;
        self.delay.delay_ms(self.rate.conversion_ms());
        if !self.idle()? {
            self.delay.delay_ms(self.rate.conversion_ms());
            if !self.idle()? {
                return Err(Error::NotReady);
            }
        }
        let mut word = [0u8; 2];
        self.i2c
            .write_read(address, &[REG_CONVERSION], &mut word)
            .map_err(Error::I2c)?;
        Ok(i16::from_be_bytes(word))
    }

    /// Converts `channel` once and returns the input in µV.
    ///
    /// # Errors
    ///
    /// As [`Ads1115::read_raw`].
    pub fn read_microvolts(&mut self, channel: Channel, gain: Gain) -> Result<i32, Error<I::Error>> {
        self.read_raw(channel, gain).map(|raw| gain.to_microvolts(raw))
    }

    /// OS reads 1 when no conversion is running.
    fn idle(&mut self) -> Result<bool, Error<I::Error>> {
        let mut word = [0u8; 2];
        self.i2c
            .write_read(self.address.value(), &[REG_CONFIG], &mut word)
            .map_err(Error::I2c)?;
        Ok(u16::from_be_bytes(word) & OS != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsb_sizes_match_the_datasheet_table() {
        // domain.md §7.4: 187.5, 125, 62.5, 31.25, 15.625, 7.8125 µV per count.
        assert_eq!(Gain::Fs6_144V.to_microvolts(2), 375);
        assert_eq!(Gain::Fs4_096V.to_microvolts(1), 125);
        assert_eq!(Gain::Fs2_048V.to_microvolts(2), 125);
        assert_eq!(Gain::Fs1_024V.to_microvolts(4), 125);
        assert_eq!(Gain::Fs0_512V.to_microvolts(8), 125);
        assert_eq!(Gain::Fs0_256V.to_microvolts(16), 125);
        assert_eq!(Gain::Fs2_048V.to_microvolts(i16::MIN), -2_048_000);
    }
}
