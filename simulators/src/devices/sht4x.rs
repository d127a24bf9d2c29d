//! An emulated Sensirion SHT4x on I²C: measurement replies with their CRC-8 from the true
//! temperature and humidity, NACKs where the part gives them, and fault injection
//! (`shared/reference/domain.md` §7.3).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};

/// The address the emulated part answers on (the default part, domain.md §7.3).
pub const SHT4X_ADDRESS: u8 = 0x44;

/// The true air temperature and humidity the sensor sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Climate {
    /// Temperature in °C.
    pub temperature_c: f32,
    /// Relative humidity in %RH.
    pub humidity_pct: f32,
}

#[derive(Debug)]
struct State {
    climate: Climate,
    serial: u32,
    corrupt_replies: u32,
    silent: bool,
    measurements: u32,
    heater_pulses: u32,
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // Plain fields, each written in one step: a poisoned lock still holds a consistent state.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scenario's side of an [`EmulatedSht4x`].
#[derive(Debug, Clone)]
pub struct Sht4xHandle(Arc<Mutex<State>>);

impl Sht4xHandle {
    /// What the sensor measures from the next command on.
    pub fn set_climate(&self, climate: Climate) {
        lock(&self.0).climate = climate;
    }

    /// What the sensor currently sees.
    pub fn climate(&self) -> Climate {
        lock(&self.0).climate
    }

    /// Damages the CRC of the first word in the next `n` replies.
    pub fn corrupt_next_replies(&self, n: u32) {
        lock(&self.0).corrupt_replies = n;
    }

    /// Heater pulses run since power-up.
    pub fn heater_pulses(&self) -> u32 {
        lock(&self.0).heater_pulses
    }

    /// While silent the sensor NACKs every transfer (unplugged, or hung).
    pub fn set_silent(&self, silent: bool) {
        lock(&self.0).silent = silent;
    }
}

/// An emulated SHT4x at [`SHT4X_ADDRESS`]. It answers as soon as it is asked: the emulation keeps no
/// time, so reading before the measurement duration is not punished.
#[derive(Debug)]
pub struct EmulatedSht4x {
    shared: Arc<Mutex<State>>,
    /// The reply to the last command, until read.
    pending: Option<[u8; 6]>,
}

impl EmulatedSht4x {
    /// A sensor seeing `climate`, with serial number `serial`.
    pub fn new(climate: Climate, serial: u32) -> Self {
        let state = State {
            climate,
            serial,
            corrupt_replies: 0,
            silent: false,
            measurements: 0,
            heater_pulses: 0,
        };
        EmulatedSht4x {
            shared: Arc::new(Mutex::new(state)),
            pending: None,
        }
    }

    /// A handle for the scenario; clones share the same sensor.
    pub fn handle(&self) -> Sht4xHandle {
        Sht4xHandle(Arc::clone(&self.shared))
    }

    fn command(&mut self, bytes: &[u8]) -> Result<(), ErrorKind> {
        let &[code] = bytes else {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data));
        };
        let mut state = lock(&self.shared);
        let words = match code {
            // Measurements at high, medium and low repeatability (precision changes nothing here).
            0xFD | 0xF6 | 0xE0 => {
                // The last bit flickers, as a real sensor's noise makes it (0.003 °C, 0.002 %RH):
                // without it a steady emulated climate would look stuck to the node.
                state.measurements = state.measurements.wrapping_add(1);
                Some(ticks(state.climate, state.measurements & 1 == 1))
            }
            // Heater pulses (200/110/20 mW, 1 s/0.1 s) end with a measurement of the heated
            // element: warmer and drier than the air.
            0x39 | 0x32 | 0x2F | 0x24 | 0x1E | 0x15 => {
                state.heater_pulses += 1;
                let hot = Climate {
                    temperature_c: state.climate.temperature_c + 5.0,
                    humidity_pct: (state.climate.humidity_pct - 20.0).max(0.0),
                };
                Some(ticks(hot, false))
            }
            0x89 => Some([(state.serial >> 16) as u16, state.serial as u16]),
            0x94 => None,
            _ => return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)),
        };
        self.pending = words.map(|[a, b]| {
            let mut reply = reply_bytes(a, b);
            if state.corrupt_replies > 0 {
                state.corrupt_replies -= 1;
                reply[2] ^= 0xFF;
            }
            reply
        });
        Ok(())
    }
}

/// The inverse of the datasheet conversion (domain.md §7.3): S_T = (T + 45)·65535/175 and
/// S_RH = (RH + 6)·65535/125, held within 16 bits; the temperature is rounded down, or up when
/// `flicker` (one tick up when exact), so it stays within one tick of the truth either way.
fn ticks(climate: Climate, flicker: bool) -> [u16; 2] {
    let to_ticks = |v: f64| v.round().clamp(0.0, 65_535.0) as u16;
    let t = (f64::from(climate.temperature_c) + 45.0) * 65_535.0 / 175.0;
    let t = if !flicker {
        t.floor()
    } else if t.ceil() > t {
        t.ceil()
    } else {
        t + 1.0
    };
    let rh = (f64::from(climate.humidity_pct) + 6.0) * 65_535.0 / 125.0;
    [t.clamp(0.0, 65_535.0) as u16, to_ticks(rh)]
}

/// `W1_MSB W1_LSB CRC W2_MSB W2_LSB CRC` with the Sensirion CRC-8, computed here bit by bit from the
/// reference's definition (poly 0x31, init 0xFF) so it checks the driver's table-driven one.
fn reply_bytes(first: u16, second: u16) -> [u8; 6] {
    let [a0, a1] = first.to_be_bytes();
    let [b0, b1] = second.to_be_bytes();
    [a0, a1, crc8(&[a0, a1]), b0, b1, crc8(&[b0, b1])]
}

fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0xFFu8;
    for &byte in bytes {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x31
            } else {
                crc << 1
            };
        }
    }
    crc
}

impl ErrorType for EmulatedSht4x {
    type Error = ErrorKind;
}

impl I2c for EmulatedSht4x {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        if address != SHT4X_ADDRESS || lock(&self.shared).silent {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for operation in operations {
            match operation {
                Operation::Write(bytes) => self.command(bytes)?,
                Operation::Read(buf) => {
                    // Nothing to send: the part NACKs its address, as it does while measuring.
                    let reply = self
                        .pending
                        .take()
                        .ok_or(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))?;
                    // Past the reply the bus floats high.
                    for (i, slot) in buf.iter_mut().enumerate() {
                        *slot = reply.get(i).copied().unwrap_or(0xFF);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_reference_check_value() {
        assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
    }
}
