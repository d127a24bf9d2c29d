//! Plantower PMS5003 particulate sensor on a UART (9600 8N1), through `embedded_io`.
//!
//! The sensor sends 32-byte frames: `42 4D`, a length of 28, thirteen big-endian u16 data words and a
//! 16-bit sum of bytes 0–29 (`shared/reference/domain.md` §7.1). Host commands are 7 bytes,
//! `42 4D CMD DATAH DATAL LRCH LRCL`, with the LRC the 16-bit sum of the first five. After the
//! passive-mode command the sensor answers an 8-byte ack, `42 4D 00 04 CMD DATA SUMH SUML`; the reader
//! skips acks wherever they turn up, so callers never have to know which command is acknowledged.
//!
//! The driver reads whatever comes down the line: it skips noise until `42 4D`, and gives up after a
//! bounded number of bytes so that a chattering line cannot hang the node.

use core::fmt;

use embedded_io::{Read, ReadExactError, Write};

/// Length of a data frame on the wire.
pub const FRAME_LEN: usize = 32;
/// Start bytes of every frame, data or ack ("BM"; domain.md §7.1).
const START: [u8; 2] = [0x42, 0x4D];
/// Value of the length field in a PMS5003 data frame: 13 data words and the checksum (domain.md §7.1).
const DATA_LENGTH: u16 = 28;
/// Value of the length field in a command ack (domain.md §7.1, "8-byte ack 42 4D 00 04").
const ACK_LENGTH: u16 = 4;
/// Bytes the reader looks through for a frame before giving up: three frames' worth covers a frame
/// that was in flight when the read started plus an ack.
const MAX_SCAN: usize = 3 * FRAME_LEN;

/// The host commands of the datasheet (domain.md §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Stop sending frames on its own; send one per [`Command::PassiveRead`]. Acknowledged.
    PassiveMode,
    /// Send frames continuously (the power-up default).
    ActiveMode,
    /// Ask for one frame in passive mode.
    PassiveRead,
    /// Stop the fan and the laser.
    Sleep,
    /// Start the fan and the laser; readings are stable 30 s later.
    Wake,
}

impl Command {
    /// The command byte.
    pub const fn code(self) -> u8 {
        match self {
            Command::PassiveMode | Command::ActiveMode => 0xE1,
            Command::PassiveRead => 0xE2,
            Command::Sleep | Command::Wake => 0xE4,
        }
    }

    /// The 16-bit data word sent with the command.
    pub const fn data(self) -> u16 {
        match self {
            Command::PassiveMode | Command::PassiveRead | Command::Sleep => 0,
            Command::ActiveMode | Command::Wake => 1,
        }
    }

    /// The 7 bytes on the wire, LRC included.
    pub const fn bytes(self) -> [u8; 7] {
        let [data_h, data_l] = self.data().to_be_bytes();
        let head = [START[0], START[1], self.code(), data_h, data_l];
        let lrc = head[0] as u16 + head[1] as u16 + head[2] as u16 + head[3] as u16 + head[4] as u16;
        let [lrc_h, lrc_l] = lrc.to_be_bytes();
        [head[0], head[1], head[2], head[3], head[4], lrc_h, lrc_l]
    }
}

/// Mass concentrations in whole µg/m³, as the sensor reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Concentrations {
    /// PM1.0.
    pub pm1_0: u16,
    /// PM2.5.
    pub pm2_5: u16,
    /// PM10.
    pub pm10: u16,
}

/// Particles per 0.1 L of air above each diameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParticleCounts {
    /// Above 0.3 µm.
    pub over_0_3um: u16,
    /// Above 0.5 µm.
    pub over_0_5um: u16,
    /// Above 1.0 µm.
    pub over_1_0um: u16,
    /// Above 2.5 µm.
    pub over_2_5um: u16,
    /// Above 5.0 µm.
    pub over_5_0um: u16,
    /// Above 10 µm.
    pub over_10um: u16,
}

/// One decoded data frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// "CF=1, standard particle" values: the factory calibration, meant for indoor use.
    pub standard: Concentrations,
    /// "Atmospheric environment" values: the ones to report for ambient air.
    pub atmospheric: Concentrations,
    /// Particle counts.
    pub counts: ParticleCounts,
    /// Bytes 28–29: reserved on the PMS5003 (version and error code on the PMS7003, unconfirmed).
    pub reserved: u16,
}

/// Why a 32-byte frame is not a valid data frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame does not start with `42 4D`.
    NoStart,
    /// The length field is not 28.
    BadLength(u16),
    /// The checksum does not match the sum of bytes 0–29.
    Checksum {
        /// Sum computed over the bytes received.
        computed: u16,
        /// Checksum carried in bytes 30–31.
        received: u16,
    },
}

impl Reading {
    /// Decodes a data frame, checking start bytes, length and checksum.
    ///
    /// # Errors
    ///
    /// The first [`FrameError`] found, in that order.
    pub fn from_frame(frame: &[u8; FRAME_LEN]) -> Result<Self, FrameError> {
        if frame[..2] != START {
            return Err(FrameError::NoStart);
        }
        let word = |i: usize| u16::from_be_bytes([frame[i], frame[i + 1]]);
        let length = word(2);
        if length != DATA_LENGTH {
            return Err(FrameError::BadLength(length));
        }
        let computed = checksum(&frame[..30]);
        let received = word(30);
        if computed != received {
            return Err(FrameError::Checksum { computed, received });
        }
        Ok(Reading {
            standard: Concentrations {
                pm1_0: word(4),
                pm2_5: word(6),
                pm10: word(8),
            },
            atmospheric: Concentrations {
                pm1_0: word(10),
                pm2_5: word(12),
                pm10: word(14),
            },
            counts: ParticleCounts {
                over_0_3um: word(16),
                over_0_5um: word(18),
                over_1_0um: word(20),
                over_2_5um: word(22),
                over_5_0um: word(24),
                over_10um: word(26),
            },
            reserved: word(28),
        })
    }
}

/// The 16-bit wrapping sum the sensor uses for frames, acks and command LRCs.
fn checksum(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |sum, &b| sum.wrapping_add(u16::from(b)))
}

/// What went wrong talking to the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The UART failed (on a real board typically a read timeout: the sensor stopped answering).
    Uart(E),
    /// The UART reported end of input in the middle of a frame.
    EndOfInput,
    /// No `42 4D` start sequence in the bytes scanned.
    NoStart,
    /// A frame started but its length field is neither a data frame's 28 nor an ack's 4.
    BadLength(u16),
    /// A frame arrived whole but its checksum does not match (counted by [`Pms5003::checksum_errors`]).
    Checksum {
        /// Sum computed over the bytes received.
        computed: u16,
        /// Checksum carried in the frame.
        received: u16,
    },
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
            Error::Uart(e) => write!(f, "PMS5003 UART error: {e:?}"),
            Error::EndOfInput => f.write_str("PMS5003 UART ended in the middle of a frame"),
            Error::NoStart => write!(f, "no PMS5003 frame start in {MAX_SCAN} bytes"),
            Error::BadLength(n) => write!(f, "PMS5003 frame length {n}, expected {DATA_LENGTH}"),
            Error::Checksum { computed, received } => write!(
                f,
                "PMS5003 checksum mismatch: computed {computed:#06x}, frame says {received:#06x}"
            ),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// A PMS5003 on a UART.
#[derive(Debug)]
pub struct Pms5003<U> {
    uart: U,
    checksum_errors: u32,
}

impl<U> Pms5003<U> {
    /// Takes the UART; sends nothing (the sensor starts in active mode on its own).
    pub fn new(uart: U) -> Self {
        Pms5003 {
            uart,
            checksum_errors: 0,
        }
    }

    /// Gives the UART back.
    pub fn destroy(self) -> U {
        self.uart
    }

    /// Frames that arrived whole with a bad checksum since [`Pms5003::new`]: a rising count means a
    /// noisy line or a failing sensor even when most readings still get through.
    pub fn checksum_errors(&self) -> u32 {
        self.checksum_errors
    }
}

impl<U: Write> Pms5003<U> {
    /// Sends one command. Any ack it causes is skipped by the next [`Pms5003::read`].
    ///
    /// # Errors
    ///
    /// [`Error::Uart`] if the UART refuses the bytes.
    pub fn send(&mut self, command: Command) -> Result<(), Error<U::Error>> {
        self.uart.write_all(&command.bytes()).map_err(Error::Uart)?;
        self.uart.flush().map_err(Error::Uart)
    }
}

impl<U: Read> Pms5003<U> {
    /// Reads the next data frame from the line, skipping noise and acks.
    ///
    /// # Errors
    ///
    /// [`Error::Uart`] or [`Error::EndOfInput`] from the UART, [`Error::NoStart`] if no frame starts
    /// within the scan limit, [`Error::BadLength`] or [`Error::Checksum`] for a damaged frame.
    pub fn read(&mut self) -> Result<Reading, Error<U::Error>> {
        let mut scanned = 0;
        let mut previous = None;
        while scanned < MAX_SCAN {
            let byte = self.byte()?;
            scanned += 1;
            if previous != Some(START[0]) || byte != START[1] {
                previous = Some(byte);
                continue;
            }
            previous = None;
            let mut frame = [0u8; FRAME_LEN];
            frame[..2].copy_from_slice(&START);
            self.uart.read_exact(&mut frame[2..4])?;
            match u16::from_be_bytes([frame[2], frame[3]]) {
                DATA_LENGTH => {
                    self.uart.read_exact(&mut frame[4..])?;
                    return Reading::from_frame(&frame).map_err(|e| self.frame_error(e));
                }
                ACK_LENGTH => {
                    // Design: an ack is skipped without checking its sum; a damaged ack only
                    // costs the bytes, while a reader that failed on it would lose the frame behind.
                    let mut ack = [0u8; ACK_LENGTH as usize];
                    self.uart.read_exact(&mut ack)?;
                    scanned += 2 + ack.len();
                }
                other => return Err(Error::BadLength(other)),
            }
        }
        Err(Error::NoStart)
    }

    fn byte(&mut self) -> Result<u8, Error<U::Error>> {
        let mut byte = [0u8; 1];
        self.uart.read_exact(&mut byte)?;
        Ok(byte[0])
    }

    fn frame_error(&mut self, err: FrameError) -> Error<U::Error> {
        match err {
            FrameError::NoStart => Error::NoStart,
            FrameError::BadLength(n) => Error::BadLength(n),
            FrameError::Checksum { computed, received } => {
                self.checksum_errors = self.checksum_errors.saturating_add(1);
                Error::Checksum { computed, received }
            }
        }
    }
}

impl<U: Read + Write> Pms5003<U> {
    /// Asks for one frame (passive mode) and reads it.
    ///
    /// # Errors
    ///
    /// As [`Pms5003::send`] and [`Pms5003::read`].
    pub fn request(&mut self) -> Result<Reading, Error<U::Error>> {
        self.send(Command::PassiveRead)?;
        self.read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_bytes_match_the_datasheet_table() {
        // domain.md §7.1, host commands.
        assert_eq!(
            Command::PassiveRead.bytes(),
            [0x42, 0x4D, 0xE2, 0x00, 0x00, 0x01, 0x71]
        );
        assert_eq!(
            Command::PassiveMode.bytes(),
            [0x42, 0x4D, 0xE1, 0x00, 0x00, 0x01, 0x70]
        );
        assert_eq!(
            Command::ActiveMode.bytes(),
            [0x42, 0x4D, 0xE1, 0x00, 0x01, 0x01, 0x71]
        );
        assert_eq!(Command::Sleep.bytes(), [0x42, 0x4D, 0xE4, 0x00, 0x00, 0x01, 0x73]);
        assert_eq!(Command::Wake.bytes(), [0x42, 0x4D, 0xE4, 0x00, 0x01, 0x01, 0x74]);
    }
}
