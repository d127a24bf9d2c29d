//! Nova Fitness SDS011 particulate sensor on a UART (9600 8N1), through `embedded_io`: the
//! alternative to the PMS5003 (`shared/reference/domain.md` §7.2).
//!
//! Data frames are 10 bytes, `AA C0 PM25_L PM25_H PM10_L PM10_H ID_L ID_H CS AB`, with the PM
//! values in 0.1 µg/m³ (the frame's own unit) and CS the low byte of the sum of bytes 2–7. Command
//! replies have `C5` in byte 1. Commands are 19 bytes, `AA B4 CMD D1..D12 ID_L ID_H CS AB`, CS the
//! low byte of the sum of bytes 2–16; ID `FF FF` addresses every sensor on the line.

use core::fmt;

use embedded_io::{Read, ReadExactError, Write};

/// Length of a data or reply frame.
pub const FRAME_LEN: usize = 10;
/// Length of a command.
pub const COMMAND_LEN: usize = 19;
const HEAD: u8 = 0xAA;
const TAIL: u8 = 0xAB;
const DATA: u8 = 0xC0;
const REPLY: u8 = 0xC5;
const COMMAND: u8 = 0xB4;
/// Bytes scanned for a frame before giving up: a frame in flight, a reply and a data frame.
const MAX_SCAN: usize = 3 * FRAME_LEN;

/// The host commands (domain.md §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Report a frame every second on its own (the power-up default).
    ActiveMode,
    /// Report only when queried.
    QueryMode,
    /// Send one data frame now.
    Query,
    /// Stop the fan and the laser.
    Sleep,
    /// Start them again (readings are stable about 30 s later).
    Work,
    /// Work for 30 s and report every `n` minutes, sleeping between (0 = continuous).
    WorkingPeriod(u8),
}

impl Command {
    /// The command byte and data bytes D1, D2.
    pub const fn code(self) -> (u8, u8, u8) {
        match self {
            Command::ActiveMode => (2, 1, 0),
            Command::QueryMode => (2, 1, 1),
            Command::Query => (4, 0, 0),
            Command::Sleep => (6, 1, 0),
            Command::Work => (6, 1, 1),
            Command::WorkingPeriod(n) => (8, 1, n),
        }
    }

    /// The 19 bytes for every sensor on the line (ID `FF FF`).
    pub fn bytes(self) -> [u8; COMMAND_LEN] {
        let (cmd, d1, d2) = self.code();
        let mut out = [0u8; COMMAND_LEN];
        out[0] = HEAD;
        out[1] = COMMAND;
        out[2] = cmd;
        out[3] = d1;
        out[4] = d2;
        out[15] = 0xFF;
        out[16] = 0xFF;
        out[17] = checksum(&out[2..17]);
        out[18] = TAIL;
        out
    }
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b))
}

/// One data frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// PM2.5 in 0.1 µg/m³.
    pub pm2_5: u16,
    /// PM10 in 0.1 µg/m³.
    pub pm10: u16,
    /// The sensor's id.
    pub id: u16,
}

/// What went wrong talking to the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The UART failed (on a board typically a read timeout: the sensor stopped answering).
    Uart(E),
    /// The UART reported end of input mid-frame.
    EndOfInput,
    /// No frame start in the bytes scanned.
    NoStart,
    /// A frame arrived whole but its checksum does not match (counted).
    Checksum,
    /// A frame's last byte is not `AB`.
    BadTail,
}

impl<E> From<ReadExactError<E>> for Error<E> {
    fn from(err: ReadExactError<E>) -> Self {
        match err {
            ReadExactError::UnexpectedEof => Error::EndOfInput,
            ReadExactError::Other(e) => Error::Uart(e),
        }
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Uart(e) => write!(f, "SDS011 UART error: {e:?}"),
            Error::EndOfInput => f.write_str("SDS011 UART ended in the middle of a frame"),
            Error::NoStart => write!(f, "no SDS011 frame start in {MAX_SCAN} bytes"),
            Error::Checksum => f.write_str("SDS011 checksum mismatch"),
            Error::BadTail => f.write_str("SDS011 frame does not end with AB"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// An SDS011 on a UART.
#[derive(Debug)]
pub struct Sds011<U> {
    uart: U,
    checksum_errors: u32,
}

impl<U> Sds011<U> {
    /// Takes the UART; sends nothing (the sensor starts in active mode).
    pub fn new(uart: U) -> Self {
        Sds011 {
            uart,
            checksum_errors: 0,
        }
    }

    /// Gives the UART back.
    pub fn destroy(self) -> U {
        self.uart
    }

    /// Frames that arrived whole with a bad checksum since [`Sds011::new`].
    pub fn checksum_errors(&self) -> u32 {
        self.checksum_errors
    }
}

impl<U: Write> Sds011<U> {
    /// Sends one command; its reply frame is skipped by the next read.
    ///
    /// # Errors
    ///
    /// [`Error::Uart`] if the UART refuses the bytes.
    pub fn send(&mut self, command: Command) -> Result<(), Error<U::Error>> {
        self.uart.write_all(&command.bytes()).map_err(Error::Uart)?;
        self.uart.flush().map_err(Error::Uart)
    }
}

impl<U: Read> Sds011<U> {
    /// Reads the next whole frame, data or reply, skipping noise; `scanned` counts the bytes
    /// looked at across calls so a caller bounds its whole search.
    fn next_frame(&mut self, scanned: &mut usize) -> Result<[u8; FRAME_LEN], Error<U::Error>> {
        while *scanned < MAX_SCAN {
            let mut byte = [0u8; 1];
            self.uart.read_exact(&mut byte)?;
            *scanned += 1;
            if byte[0] != HEAD {
                continue;
            }
            let mut frame = [0u8; FRAME_LEN];
            frame[0] = HEAD;
            self.uart.read_exact(&mut frame[1..])?;
            *scanned += FRAME_LEN - 1;
            if frame[9] != TAIL {
                return Err(Error::BadTail);
            }
            if checksum(&frame[2..8]) != frame[8] {
                self.checksum_errors = self.checksum_errors.saturating_add(1);
                return Err(Error::Checksum);
            }
            return match frame[1] {
                DATA | REPLY => Ok(frame),
                _ => Err(Error::NoStart),
            };
        }
        Err(Error::NoStart)
    }

    /// Reads the next data frame, skipping noise and command replies.
    ///
    /// # Errors
    ///
    /// [`Error`] from the UART or a damaged frame.
    pub fn read(&mut self) -> Result<Reading, Error<U::Error>> {
        let mut scanned = 0;
        loop {
            let frame = self.next_frame(&mut scanned)?;
            if frame[1] == DATA {
                let word = |i: usize| u16::from_le_bytes([frame[i], frame[i + 1]]);
                return Ok(Reading {
                    pm2_5: word(2),
                    pm10: word(4),
                    id: word(6),
                });
            }
        }
    }
}

impl<U: Read + Write> Sds011<U> {
    /// Asks for one frame (query mode) and reads it.
    ///
    /// # Errors
    ///
    /// As [`Sds011::send`] and [`Sds011::read`].
    pub fn query(&mut self) -> Result<Reading, Error<U::Error>> {
        self.send(Command::Query)?;
        self.read()
    }

    /// Sends a setting command (mode, sleep/work, working period) and reads its reply, skipping
    /// data frames already on their way, so that no reply is left on the line for a later
    /// [`Sds011::read`] to wade through: a node that sleeps the sensor between queries would
    /// otherwise pile up three replies before each reading.
    ///
    /// # Errors
    ///
    /// As [`Sds011::send`] and [`Sds011::read`]; [`Error::NoStart`] if no reply to this command
    /// came within the scan limit.
    pub fn set(&mut self, command: Command) -> Result<(), Error<U::Error>> {
        self.send(command)?;
        let (code, _, _) = command.code();
        let mut scanned = 0;
        loop {
            let frame = self.next_frame(&mut scanned)?;
            if frame[1] == REPLY && frame[2] == code {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_command_matches_the_reference_example() {
        // domain.md §7.2: AA B4 04 00×12 FF FF 02 AB.
        let mut expected = [0u8; COMMAND_LEN];
        expected[..3].copy_from_slice(&[0xAA, 0xB4, 0x04]);
        expected[15..].copy_from_slice(&[0xFF, 0xFF, 0x02, 0xAB]);
        assert_eq!(Command::Query.bytes(), expected);
        let sleep = Command::Sleep.bytes();
        assert_eq!((sleep[2], sleep[3], sleep[4], sleep[17]), (6, 1, 0, 0x05));
    }
}
