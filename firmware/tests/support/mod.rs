//! Test helpers shared by the firmware's integration tests: a scripted `embedded_io` UART (the
//! embedded-hal-mock crate has no embedded-io support), small fake devices for node tests, a transport
//! that keeps what it is given, and a PMS5003 frame builder written from the datasheet table.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use embedded_hal::i2c::{self, ErrorKind, NoAcknowledgeSource, Operation};
use firmware::drivers::crc8::crc8;
use firmware::node::Transport;
use protocol::topic::NodeChannel;

/// Why the scripted UART failed a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UartTimeout;

impl fmt::Display for UartTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("scripted UART timeout")
    }
}

impl std::error::Error for UartTimeout {}

impl embedded_io::Error for UartTimeout {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::TimedOut
    }
}

/// One expected exchange on the scripted UART.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The driver must write exactly these bytes (over one or more `write` calls).
    Write(Vec<u8>),
    /// The device sends these bytes.
    Read(Vec<u8>),
    /// The next read fails, as a UART with a read timeout does when the sensor is silent.
    ReadError,
    /// The next read returns end of input.
    Eof,
}

/// A UART that plays a script and panics on any deviation from it.
#[derive(Debug)]
pub struct ScriptedUart {
    steps: VecDeque<Step>,
}

impl ScriptedUart {
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        ScriptedUart {
            steps: steps.into_iter().collect(),
        }
    }

    /// Asserts the whole script was played.
    pub fn done(&self) {
        assert!(self.steps.is_empty(), "script not finished: {:?}", self.steps);
    }
}

impl embedded_io::ErrorType for ScriptedUart {
    type Error = UartTimeout;
}

impl embedded_io::Read for ScriptedUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartTimeout> {
        match self.steps.pop_front() {
            Some(Step::Read(mut bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.steps.push_front(Step::Read(bytes.split_off(n)));
                }
                Ok(n)
            }
            Some(Step::ReadError) => Err(UartTimeout),
            Some(Step::Eof) => Ok(0),
            other => panic!("driver read, script expected {other:?}"),
        }
    }
}

impl embedded_io::Write for ScriptedUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartTimeout> {
        match self.steps.pop_front() {
            Some(Step::Write(mut expected)) => {
                assert!(
                    expected.starts_with(buf),
                    "driver wrote {buf:02x?}, script expected {expected:02x?}"
                );
                if buf.len() < expected.len() {
                    self.steps.push_front(Step::Write(expected.split_off(buf.len())));
                }
                Ok(buf.len())
            }
            other => panic!("driver wrote {buf:02x?}, script expected {other:?}"),
        }
    }

    fn flush(&mut self) -> Result<(), UartTimeout> {
        Ok(())
    }
}

/// A PMS5003 data frame (domain.md §7.1) with the checksum the datasheet defines: `standard` are the
/// CF=1 values, `atmospheric` the ambient ones, `counts` the six particle counts.
pub fn pms_frame(standard: [u16; 3], atmospheric: [u16; 3], counts: [u16; 6]) -> Vec<u8> {
    let mut frame = vec![0x42, 0x4D, 0x00, 28];
    for word in standard.iter().chain(&atmospheric).chain(&counts).chain(&[0u16]) {
        frame.extend_from_slice(&word.to_be_bytes());
    }
    let sum: u16 = frame.iter().map(|&b| u16::from(b)).sum();
    frame.extend_from_slice(&sum.to_be_bytes());
    assert_eq!(frame.len(), 32);
    frame
}

/// A frame with only the atmospheric PM values set (CF=1 equal, counts zero).
pub fn pms_simple_frame(pm1_0: u16, pm2_5: u16, pm10: u16) -> Vec<u8> {
    pms_frame([pm1_0, pm2_5, pm10], [pm1_0, pm2_5, pm10], [0; 6])
}

/// An SHT4x reply: two words with their CRC-8.
pub fn sht_reply(temperature: u16, humidity: u16) -> Vec<u8> {
    let [t0, t1] = temperature.to_be_bytes();
    let [h0, h1] = humidity.to_be_bytes();
    vec![t0, t1, crc8([t0, t1]), h0, h1, crc8([h0, h1])]
}

/// State of the fake PMS5003, shared with the test that moved the device into a sampler.
#[derive(Debug, Default)]
pub struct FakePmsState {
    /// Atmospheric PM1.0, PM2.5, PM10 in µg/m³ for the next frames.
    pub pm: [u16; 3],
    /// Reads fail while set.
    pub silent: bool,
    /// Commands received, by command byte and data.
    pub commands: Vec<(u8, u8)>,
}

/// A minimal PMS5003 for node tests: answers each passive read with a frame of `state.pm`.
#[derive(Debug, Default, Clone)]
pub struct FakePms {
    pub state: Rc<RefCell<FakePmsState>>,
    rx: Rc<RefCell<VecDeque<u8>>>,
    tx: Rc<RefCell<Vec<u8>>>,
}

impl embedded_io::ErrorType for FakePms {
    type Error = UartTimeout;
}

impl embedded_io::Write for FakePms {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartTimeout> {
        let mut tx = self.tx.borrow_mut();
        tx.extend_from_slice(buf);
        while tx.len() >= 7 {
            let command: Vec<u8> = tx.drain(..7).collect();
            let mut state = self.state.borrow_mut();
            state.commands.push((command[2], command[4]));
            if command[2] == 0xE2 && !state.silent {
                let [a, b, c] = state.pm;
                self.rx.borrow_mut().extend(pms_simple_frame(a, b, c));
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), UartTimeout> {
        Ok(())
    }
}

impl embedded_io::Read for FakePms {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartTimeout> {
        let mut rx = self.rx.borrow_mut();
        if self.state.borrow().silent || rx.is_empty() {
            return Err(UartTimeout);
        }
        let n = buf.len().min(rx.len());
        for slot in &mut buf[..n] {
            *slot = rx.pop_front().unwrap_or_default();
        }
        Ok(n)
    }
}

/// State of the fake SHT4x.
#[derive(Debug, Default)]
pub struct FakeShtState {
    /// Raw ticks (T, RH) for the next measurements.
    pub ticks: (u16, u16),
    /// Every transfer is NACKed while set.
    pub silent: bool,
}

/// A minimal SHT4x for node tests: replies to any command with `state.ticks`.
#[derive(Debug, Default, Clone)]
pub struct FakeSht {
    pub state: Rc<RefCell<FakeShtState>>,
}

impl i2c::ErrorType for FakeSht {
    type Error = ErrorKind;
}

impl i2c::I2c for FakeSht {
    fn transaction(&mut self, _address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        let state = self.state.borrow();
        if state.silent {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations {
            if let Operation::Read(buf) = op {
                let reply = sht_reply(state.ticks.0, state.ticks.1);
                buf.copy_from_slice(&reply[..buf.len()]);
            }
        }
        Ok(())
    }
}

/// A delay that returns at once.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDelay;

impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// A transport that keeps every frame it is given, in order.
#[derive(Debug, Default)]
pub struct VecTransport {
    pub sent: Vec<(NodeChannel, Vec<u8>)>,
    /// Publishes fail while set.
    pub offline: bool,
}

/// The transport's refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offline;

impl Transport for VecTransport {
    type Error = Offline;

    fn publish(&mut self, channel: NodeChannel, frame: &[u8]) -> Result<(), Offline> {
        if self.offline {
            return Err(Offline);
        }
        self.sent.push((channel, frame.to_vec()));
        Ok(())
    }
}

/// An SDS011 frame (domain.md §7.2): `kind` 0xC0 data or 0xC5 reply, six body bytes, the checksum.
pub fn sds_frame(kind: u8, body: [u8; 6]) -> Vec<u8> {
    let sum = body.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    let mut frame = vec![0xAA, kind];
    frame.extend_from_slice(&body);
    frame.extend_from_slice(&[sum, 0xAB]);
    frame
}

/// State of the fake SDS011.
#[derive(Debug, Default)]
pub struct FakeSdsState {
    /// PM2.5 and PM10 in 0.1 µg/m³ for the next data frames.
    pub pm: (u16, u16),
    /// The sensor answers nothing while set.
    pub silent: bool,
    /// Asleep after a sleep command, until a work command: queries go unanswered.
    pub asleep: bool,
    /// Commands it heard (not while silent): (command byte, D2).
    pub commands: Vec<(u8, u8)>,
}

/// A minimal SDS011 for node tests: replies to setting commands, answers queries with `state.pm`.
#[derive(Debug, Default, Clone)]
pub struct FakeSds {
    pub state: Rc<RefCell<FakeSdsState>>,
    rx: Rc<RefCell<VecDeque<u8>>>,
    tx: Rc<RefCell<Vec<u8>>>,
}

impl embedded_io::ErrorType for FakeSds {
    type Error = UartTimeout;
}

impl embedded_io::Write for FakeSds {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartTimeout> {
        let mut tx = self.tx.borrow_mut();
        tx.extend_from_slice(buf);
        while tx.len() >= 19 {
            let command: Vec<u8> = tx.drain(..19).collect();
            let mut state = self.state.borrow_mut();
            let (cmd, d2) = (command[2], command[4]);
            if state.silent {
                continue;
            }
            state.commands.push((cmd, d2));
            let frame = match cmd {
                4 if state.asleep => continue,
                4 => {
                    let [a, b] = state.pm.0.to_le_bytes();
                    let [c, d] = state.pm.1.to_le_bytes();
                    sds_frame(0xC0, [a, b, c, d, 0x34, 0x12])
                }
                _ => {
                    if cmd == 6 {
                        state.asleep = d2 == 0;
                    }
                    sds_frame(0xC5, [cmd, 1, d2, 0, 0x34, 0x12])
                }
            };
            self.rx.borrow_mut().extend(frame);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), UartTimeout> {
        Ok(())
    }
}

impl embedded_io::Read for FakeSds {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartTimeout> {
        let mut rx = self.rx.borrow_mut();
        if self.state.borrow().silent || rx.is_empty() {
            return Err(UartTimeout);
        }
        let n = buf.len().min(rx.len());
        for slot in &mut buf[..n] {
            *slot = rx.pop_front().unwrap_or_default();
        }
        Ok(n)
    }
}

/// The BMP280 datasheet's example calibration words (T and P), H1 = 75 and typical humidity words:
/// registers 0x88–0xA1 and 0xE1–0xE7.
pub const BME_CALIBRATION: ([u8; 26], [u8; 7]) = (
    [
        0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC, 0x7D, 0x8E, 0x43, 0xD6, 0xD0, 0x0B, 0x27, 0x0B, 0x8C, 0x00, 0xF9,
        0xFF, 0x8C, 0x3C, 0xF8, 0xC6, 0x70, 0x17, 0x00, 75,
    ],
    [0x6A, 0x01, 0x00, 0x14, 0x25, 0x03, 30],
);

/// Data registers 0xF7–0xFE of the datasheet example: adc_P 415148, adc_T 519888 (25.08 °C,
/// 1006.5 hPa), adc_H 0x6A00.
pub const BME_DATA: [u8; 8] = [0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x6A, 0x00];

/// State of the fake BME280.
#[derive(Debug)]
pub struct FakeBmeState {
    /// Data registers 0xF7–0xFE for the next measurements.
    pub data: [u8; 8],
    /// Flip the lowest pressure bit at every measurement, as ADC noise does (a real sensor's raw
    /// words never repeat for long).
    pub noise: bool,
    /// Every transfer is NACKed while set.
    pub silent: bool,
    /// Forced measurements started.
    pub measurements: u32,
}

impl Default for FakeBmeState {
    fn default() -> Self {
        FakeBmeState {
            data: BME_DATA,
            noise: true,
            silent: false,
            measurements: 0,
        }
    }
}

/// A minimal BME280 for node tests: chip id, calibration and data registers.
#[derive(Debug, Default, Clone)]
pub struct FakeBme {
    pub state: Rc<RefCell<FakeBmeState>>,
    pointer: Rc<RefCell<u8>>,
}

impl i2c::ErrorType for FakeBme {
    type Error = ErrorKind;
}

impl i2c::I2c for FakeBme {
    fn transaction(&mut self, _address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        let mut state = self.state.borrow_mut();
        if state.silent {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    let Some((&register, rest)) = bytes.split_first() else {
                        continue;
                    };
                    *self.pointer.borrow_mut() = register;
                    if register == 0xF4 && rest.first().is_some_and(|v| v & 0b11 == 0b01) {
                        state.measurements += 1;
                        if state.noise {
                            state.data[2] ^= 0x10;
                        }
                    }
                }
                Operation::Read(buf) => {
                    let start = *self.pointer.borrow();
                    for (i, slot) in buf.iter_mut().enumerate() {
                        let register = start.wrapping_add(i as u8);
                        *slot = match register {
                            0xD0 => 0x60,
                            0x88..=0xA1 => BME_CALIBRATION.0[usize::from(register - 0x88)],
                            0xE1..=0xE7 => BME_CALIBRATION.1[usize::from(register - 0xE1)],
                            0xF7..=0xFE => state.data[usize::from(register - 0xF7)],
                            _ => 0,
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

/// State of the fake ADS1115.
#[derive(Debug, Default)]
pub struct FakeAdsState {
    /// AIN0..AIN3 in µV.
    pub inputs_uv: [i64; 4],
    /// Every transfer is NACKed while set.
    pub silent: bool,
    /// Every conversion returns this count while set.
    pub frozen: Option<i16>,
    /// Conversions started.
    pub conversions: u32,
}

/// A minimal ADS1115 for node tests: single-ended conversions of `state.inputs_uv` at the gain
/// written, finished at once, with a count of noise on about half the conversions so that steady
/// inputs are not a stuck sensor.
#[derive(Debug, Default, Clone)]
pub struct FakeAds {
    pub state: Rc<RefCell<FakeAdsState>>,
    pointer: Rc<RefCell<u8>>,
    config: Rc<RefCell<u16>>,
    conversion: Rc<RefCell<i16>>,
}

impl i2c::ErrorType for FakeAds {
    type Error = ErrorKind;
}

impl i2c::I2c for FakeAds {
    fn transaction(&mut self, _address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        let mut state = self.state.borrow_mut();
        if state.silent {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    *self.pointer.borrow_mut() = bytes[0];
                    if bytes[0] == 0x01 && bytes.len() == 3 {
                        let config = u16::from_be_bytes([bytes[1], bytes[2]]);
                        *self.config.borrow_mut() = config | 0x8000;
                        state.conversions += 1;
                        let input = usize::from((config >> 12) & 0x3);
                        let full_scale_uv: i64 = match (config >> 9) & 0x7 {
                            0 => 6_144_000,
                            1 => 4_096_000,
                            2 => 2_048_000,
                            3 => 1_024_000,
                            4 => 512_000,
                            _ => 256_000,
                        };
                        let count = (state.inputs_uv[input] * 32_768 / full_scale_uv)
                            .clamp(i64::from(i16::MIN), i64::from(i16::MAX));
                        // A scrambled counter, so the noise does not repeat with the pattern of
                        // conversions a reading makes.
                        let noise = i64::from(state.conversions.wrapping_mul(2_654_435_761) >> 31);
                        let count = if count == i64::from(i16::MAX) {
                            count
                        } else {
                            count + noise
                        };
                        *self.conversion.borrow_mut() = state.frozen.unwrap_or(count as i16);
                    }
                }
                Operation::Read(buf) => {
                    let word = match *self.pointer.borrow() {
                        0x00 => self.conversion.borrow().to_be_bytes(),
                        _ => self.config.borrow().to_be_bytes(),
                    };
                    buf.copy_from_slice(&word[..buf.len()]);
                }
            }
        }
        Ok(())
    }
}
