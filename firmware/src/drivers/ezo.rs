//! Atlas Scientific EZO circuits (pH, dissolved oxygen, conductivity) in I²C mode
//! (`shared/reference/domain.md` §7.5).
//!
//! A command is written as ASCII without a terminator; after its processing time the host reads
//! a status byte (1 success, 2 syntax error or failure, 254 still processing, 255 no data) then
//! the ASCII reply, NUL-terminated. Numbers are parsed into the frame's fixed-point units without
//! floating point.
//!
//! The EC circuit is read uncompensated (no `T` command is sent to it): the frame carries in-situ
//! conductivity and the node derives salinity by PSS-78 from it and the water temperature.

use core::fmt::{self, Write as _};

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use heapless::String;

/// Which circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// EZO-pH, default address 0x63 (99).
    Ph,
    /// EZO-DO, default address 0x61 (97).
    DissolvedOxygen,
    /// EZO-EC, default address 0x64 (100).
    Conductivity,
}

impl Kind {
    /// The factory I²C address.
    pub const fn default_address(self) -> u8 {
        match self {
            Kind::Ph => 0x63,
            Kind::DissolvedOxygen => 0x61,
            Kind::Conductivity => 0x64,
        }
    }

    /// How long `R` takes: pH about 900 ms, EC about 600 ms; DO about 600 ms is unconfirmed
    /// (`[U]` in domain.md), so DO gets the pH circuit's 900 ms to be safe.
    pub const fn read_ms(self) -> u32 {
        match self {
            Kind::Ph | Kind::DissolvedOxygen => 900,
            Kind::Conductivity => 600,
        }
    }
}

/// Processing time of commands other than `R` and `Cal` (Atlas: 300 ms).
const SHORT_MS: u32 = 300;
/// Processing time of a calibration (Atlas: 900 ms for pH; the longest, used for all).
const CAL_MS: u32 = 900;
/// Longest reply this driver reads: status byte, "EC,TDS,SAL,SG" at full width, NUL.
const REPLY_MAX: usize = 40;

const STATUS_OK: u8 = 1;
const STATUS_FAILED: u8 = 2;
const STATUS_PENDING: u8 = 254;
const STATUS_NO_DATA: u8 = 255;

/// What went wrong talking to a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The bus failed (a NACK: the circuit is absent, unpowered or in UART mode).
    I2c(E),
    /// Status 2: the circuit refused the command (syntax error, or a calibration it could not do).
    Failed,
    /// Status 254 even after waiting twice the processing time.
    StillProcessing,
    /// Status 255: there is nothing to read.
    NoData,
    /// The reply is not what the command answers (bad status byte, not a number).
    Malformed,
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::I2c(e) => write!(f, "EZO I2C error: {e:?}"),
            Error::Failed => f.write_str("EZO circuit refused the command"),
            Error::StillProcessing => f.write_str("EZO circuit still processing"),
            Error::NoData => f.write_str("EZO circuit has no data"),
            Error::Malformed => f.write_str("EZO reply malformed"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// A calibration command (domain.md §7.5): the point, and the standard's value in the circuit's
/// unit (0.001 pH, 0.01 mg/L, µS/cm) where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calibrate {
    /// `Cal,clear`.
    Clear,
    /// pH `Cal,mid,<pH>` (first), `Cal,low,<pH>`, `Cal,high,<pH>`; EC `Cal,low,<µS>`,
    /// `Cal,high,<µS>`.
    Mid(i32),
    /// See [`Calibrate::Mid`].
    Low(i32),
    /// See [`Calibrate::Mid`].
    High(i32),
    /// EC `Cal,dry`.
    Dry,
    /// EC `Cal,one,<µS>`.
    One(i32),
    /// DO `Cal` (in air).
    Air,
    /// DO `Cal,0` (zero solution).
    Zero,
}

/// One EZO circuit on an I²C bus.
#[derive(Debug)]
pub struct Ezo<I, D> {
    i2c: I,
    delay: D,
    kind: Kind,
    address: u8,
}

/// Writes `value / 10^decimals` in decimal, e.g. (2_840, 2) as "28.40".
fn write_fixed(out: &mut String<24>, value: i32, decimals: u32) -> fmt::Result {
    let scale = 10i32.pow(decimals);
    let sign = if value < 0 { "-" } else { "" };
    let (whole, frac) = (
        value.unsigned_abs() / scale as u32,
        value.unsigned_abs() % scale as u32,
    );
    if decimals == 0 {
        write!(out, "{sign}{whole}")
    } else {
        write!(out, "{sign}{whole}.{frac:0width$}", width = decimals as usize)
    }
}

/// Parses a decimal such as "7.123" or "-0.5" into an integer scaled by 10^`decimals`, rounding
/// extra digits half up. No floating point.
pub fn parse_fixed(text: &str, decimals: u32) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for b in whole.bytes() {
        value = value
            .checked_mul(10)?
            .checked_add(i64::from(char::from(b).to_digit(10)?))?;
    }
    let mut frac_digits = frac.bytes();
    for _ in 0..decimals {
        let d = match frac_digits.next() {
            Some(b) => i64::from(char::from(b).to_digit(10)?),
            None => 0,
        };
        value = value.checked_mul(10)?.checked_add(d)?;
    }
    match frac_digits.next() {
        Some(b) if char::from(b).to_digit(10)? >= 5 => value = value.checked_add(1)?,
        Some(_) => {}
        None => {}
    }
    // Any further characters must still be digits.
    if !frac_digits.all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(if negative { -value } else { value })
}

impl<I, D> Ezo<I, D> {
    /// A circuit at its factory address.
    pub fn new(i2c: I, delay: D, kind: Kind) -> Self {
        Self::new_with_address(i2c, delay, kind, kind.default_address())
    }

    /// A circuit at `address` (set with its `I2C,<n>` command).
    pub fn new_with_address(i2c: I, delay: D, kind: Kind, address: u8) -> Self {
        Ezo {
            i2c,
            delay,
            kind,
            address,
        }
    }

    /// Which circuit.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Gives back the bus and the delay.
    pub fn destroy(self) -> (I, D) {
        (self.i2c, self.delay)
    }
}

impl<I: I2c, D: DelayNs> Ezo<I, D> {
    /// Sends `command`, waits `wait_ms` and reads the reply into `reply`; returns its text.
    ///
    /// # Errors
    ///
    /// [`Error`] from the bus or the status byte.
    pub fn command<'r>(
        &mut self,
        command: &str,
        wait_ms: u32,
        reply: &'r mut [u8; REPLY_MAX],
    ) -> Result<&'r str, Error<I::Error>> {
        self.i2c
            .write(self.address, command.as_bytes())
            .map_err(Error::I2c)?;
        self.delay.delay_ms(wait_ms);
        self.i2c.read(self.address, reply).map_err(Error::I2c)?;
        if reply[0] == STATUS_PENDING {
            // Slower than the datasheet time (a cold circuit): one more wait, then give up.
            self.delay.delay_ms(wait_ms);
            self.i2c.read(self.address, reply).map_err(Error::I2c)?;
        }
        match reply[0] {
            STATUS_OK => {}
            STATUS_FAILED => return Err(Error::Failed),
            STATUS_PENDING => return Err(Error::StillProcessing),
            STATUS_NO_DATA => return Err(Error::NoData),
            _ => return Err(Error::Malformed),
        }
        let body = &reply[1..];
        let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
        core::str::from_utf8(&body[..end]).map_err(|_| Error::Malformed)
    }

    /// Reads once: pH in 0.001 pH, DO in 0.01 mg/L, or EC in µS/cm (the first value of the
    /// reply, whatever other outputs are enabled).
    ///
    /// # Errors
    ///
    /// [`Error`]; [`Error::Malformed`] if the reply is not a number in range.
    pub fn read(&mut self) -> Result<u32, Error<I::Error>> {
        let mut reply = [0u8; REPLY_MAX];
        let kind = self.kind;
        let text = self.command("R", kind.read_ms(), &mut reply)?;
        let first = text.split(',').next().unwrap_or("");
        let decimals = match kind {
            Kind::Ph => 3,
            Kind::DissolvedOxygen => 2,
            Kind::Conductivity => 0,
        };
        parse_fixed(first, decimals)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or(Error::Malformed)
    }

    /// Sets the temperature the circuit compensates for, in 0.01 °C (`T,<°C>`).
    ///
    /// # Errors
    ///
    /// [`Error`] from the bus or the circuit.
    pub fn set_temperature(&mut self, temperature_centi: i16) -> Result<(), Error<I::Error>> {
        let mut cmd = String::<24>::new();
        cmd.push_str("T,").map_err(|_| Error::Malformed)?;
        write_fixed(&mut cmd, i32::from(temperature_centi), 2).map_err(|_| Error::Malformed)?;
        let mut reply = [0u8; REPLY_MAX];
        self.command(&cmd, SHORT_MS, &mut reply).map(|_| ())
    }

    /// Turns one of the EC circuit's outputs (`EC`, `TDS`, `S`, `SG`) on or off (`O,<p>,<0|1>`).
    ///
    /// # Errors
    ///
    /// [`Error`] from the bus or the circuit.
    pub fn set_output(&mut self, parameter: &str, on: bool) -> Result<(), Error<I::Error>> {
        let mut cmd = String::<24>::new();
        write!(cmd, "O,{parameter},{}", u8::from(on)).map_err(|_| Error::Malformed)?;
        let mut reply = [0u8; REPLY_MAX];
        self.command(&cmd, SHORT_MS, &mut reply).map(|_| ())
    }

    /// Takes a calibration point in the circuit (it keeps its calibration itself).
    ///
    /// # Errors
    ///
    /// [`Error::Failed`] if the circuit refused it (wrong point for this circuit, or the probe
    /// not in the standard), otherwise as [`Ezo::command`].
    pub fn calibrate(&mut self, point: Calibrate) -> Result<(), Error<I::Error>> {
        // The circuit's own notation: pH with two decimals ("Cal,mid,7.00"), µS/cm whole.
        let in_units = |v: i32| match self.kind {
            Kind::Ph => ((v + 5).div_euclid(10), 2),
            Kind::DissolvedOxygen => (v, 2),
            Kind::Conductivity => (v, 0),
        };
        let mut cmd = String::<24>::new();
        let (name, value) = match point {
            Calibrate::Clear => ("Cal,clear", None),
            Calibrate::Mid(v) => ("Cal,mid,", Some(v)),
            Calibrate::Low(v) => ("Cal,low,", Some(v)),
            Calibrate::High(v) => ("Cal,high,", Some(v)),
            Calibrate::Dry => ("Cal,dry", None),
            Calibrate::One(v) => ("Cal,one,", Some(v)),
            Calibrate::Air => ("Cal", None),
            Calibrate::Zero => ("Cal,0", None),
        };
        cmd.push_str(name).map_err(|_| Error::Malformed)?;
        if let Some(v) = value {
            let (v, decimals) = in_units(v);
            write_fixed(&mut cmd, v, decimals).map_err(|_| Error::Malformed)?;
        }
        let mut reply = [0u8; REPLY_MAX];
        self.command(&cmd, CAL_MS, &mut reply).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_parse_and_format_without_floats() {
        assert_eq!(parse_fixed("7.123", 3), Some(7_123));
        assert_eq!(parse_fixed("7.1", 3), Some(7_100));
        assert_eq!(parse_fixed("7.1235", 3), Some(7_124), "rounds half up");
        assert_eq!(parse_fixed("1413", 0), Some(1_413));
        assert_eq!(parse_fixed("-0.5", 2), Some(-50));
        assert_eq!(parse_fixed("7.x", 3), None);
        assert_eq!(parse_fixed("", 3), None);
        assert_eq!(parse_fixed("*OK", 3), None);
        let mut s = String::<24>::new();
        write_fixed(&mut s, 2_840, 2).expect("fits");
        assert_eq!(s.as_str(), "28.40");
        let mut s = String::<24>::new();
        write_fixed(&mut s, -125, 2).expect("fits");
        assert_eq!(s.as_str(), "-1.25");
    }
}
