//! An emulated Plantower PMS5003 on a UART: 32-byte frames with their checksum, the five host
//! commands, and fault injection (`shared/reference/domain.md` §7.1).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use embedded_io::{ErrorType, Read, Write};

/// The true mass concentrations the sensor sees, in µg/m³.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PmLevels {
    /// PM1.0.
    pub pm1_0: f32,
    /// PM2.5.
    pub pm2_5: f32,
    /// PM10.
    pub pm10: f32,
}

/// How the sensor sends frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmsMode {
    /// A frame whenever the host listens (the power-up default).
    Active,
    /// A frame per passive-read command.
    Passive,
}

/// The UART read found nothing to read: what a UART with a read timeout reports for a silent sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UartTimeout;

impl fmt::Display for UartTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no byte from the PMS5003 before the UART timeout")
    }
}

impl std::error::Error for UartTimeout {}

impl embedded_io::Error for UartTimeout {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::TimedOut
    }
}

#[derive(Debug)]
struct State {
    levels: PmLevels,
    mode: PmsMode,
    asleep: bool,
    silent: bool,
    stuck: Option<[u16; 13]>,
    corrupt_frames: u32,
    garbage: Vec<u8>,
    frames_sent: u64,
}

/// The scenario's side of an [`EmulatedPms5003`]: set the air it sees, inject faults.
#[derive(Debug, Clone)]
pub struct Pms5003Handle(Arc<Mutex<State>>);

/// Locks the shared state. It stays consistent under a panic elsewhere (plain fields, each written in
/// one step), so a poisoned lock is used as is.
fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pms5003Handle {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.0)
    }

    /// What the sensor measures from the next frame on.
    pub fn set_levels(&self, levels: PmLevels) {
        self.state().levels = levels;
    }

    /// What the sensor currently sees.
    pub fn levels(&self) -> PmLevels {
        self.state().levels
    }

    /// Sends the next `n` frames with a wrong checksum.
    pub fn corrupt_next_frames(&self, n: u32) {
        self.state().corrupt_frames = n;
    }

    /// While silent the sensor neither answers nor acts on commands (unplugged, or its UART died).
    pub fn set_silent(&self, silent: bool) {
        self.state().silent = silent;
    }

    /// While stuck every frame repeats the data of the frame that would have been sent now,
    /// whatever the air does (a jammed fan or a frozen sensor firmware).
    pub fn set_stuck(&self, stuck: bool) {
        let mut state = self.state();
        state.stuck = if stuck {
            Some(data_words(state.levels))
        } else {
            None
        };
    }

    /// Sends `bytes` of line noise before the next frame.
    pub fn inject_garbage(&self, bytes: &[u8]) {
        self.state().garbage.extend_from_slice(bytes);
    }

    /// The current mode, as last set by a command.
    pub fn mode(&self) -> PmsMode {
        self.state().mode
    }

    /// True after a sleep command until a wake command.
    pub fn is_asleep(&self) -> bool {
        self.state().asleep
    }

    /// Data frames sent since power-up.
    pub fn frames_sent(&self) -> u64 {
        self.state().frames_sent
    }
}

/// An emulated PMS5003 as seen from the host's UART. Powers up awake, in active mode.
#[derive(Debug)]
pub struct EmulatedPms5003 {
    shared: Arc<Mutex<State>>,
    /// Bytes on their way to the host.
    to_host: VecDeque<u8>,
    /// Bytes received from the host that do not yet make a whole command.
    from_host: Vec<u8>,
}

const START: [u8; 2] = [0x42, 0x4D];

impl EmulatedPms5003 {
    /// A sensor seeing `levels`.
    pub fn new(levels: PmLevels) -> Self {
        let state = State {
            levels,
            mode: PmsMode::Active,
            asleep: false,
            silent: false,
            stuck: None,
            corrupt_frames: 0,
            garbage: Vec::new(),
            frames_sent: 0,
        };
        EmulatedPms5003 {
            shared: Arc::new(Mutex::new(state)),
            to_host: VecDeque::new(),
            from_host: Vec::new(),
        }
    }

    /// A handle for the scenario; clones share the same sensor.
    pub fn handle(&self) -> Pms5003Handle {
        Pms5003Handle(Arc::clone(&self.shared))
    }

    /// Bytes from the host's UART, for a bridge to a real serial line (the QEMU board's UART).
    pub fn receive(&mut self, bytes: &[u8]) {
        let _ = Write::write(self, bytes);
    }

    /// Bytes the sensor sends now, for a bridge; 0 when it is silent.
    pub fn transmit(&mut self, buf: &mut [u8]) -> usize {
        Read::read(self, buf).unwrap_or(0)
    }

    /// Queues one data frame built from the current (or stuck) values.
    fn queue_frame(&mut self) {
        let frame = {
            let mut state = lock(&self.shared);
            let words = state.stuck.unwrap_or_else(|| {
                let mut words = data_words(state.levels);
                // Real particle counts fluctuate from frame to frame even in steady air; without
                // this a steady emulated sensor would look stuck to the node.
                let jitter = (state.frames_sent.wrapping_mul(2_654_435_761) >> 29) as u16;
                for count in &mut words[6..8] {
                    *count = count.saturating_add(jitter);
                }
                words
            });
            let corrupt = state.corrupt_frames > 0;
            state.corrupt_frames = state.corrupt_frames.saturating_sub(1);
            state.frames_sent += 1;
            let garbage = std::mem::take(&mut state.garbage);
            self.to_host.extend(garbage);
            frame_bytes(&words, corrupt)
        };
        self.to_host.extend(frame);
    }

    /// Acts on one 7-byte command `42 4D CMD DATAH DATAL LRCH LRCL`; a bad LRC is ignored, as the
    /// sensor does.
    fn execute(&mut self, command: [u8; 7]) {
        let lrc = sum(&command[..5]);
        if lrc != u16::from_be_bytes([command[5], command[6]]) {
            return;
        }
        let data = u16::from_be_bytes([command[3], command[4]]);
        let mut state = lock(&self.shared);
        match (command[2], data) {
            (0xE1, 0) => {
                state.mode = PmsMode::Passive;
                // The one ack domain.md §7.1 documents: 42 4D 00 04 CMD DATA, then the sum.
                let mut ack = vec![START[0], START[1], 0x00, 0x04, 0xE1, 0x00];
                ack.extend_from_slice(&sum(&ack).to_be_bytes());
                drop(state);
                self.to_host.extend(ack);
            }
            (0xE1, _) => state.mode = PmsMode::Active,
            (0xE2, _) if state.mode == PmsMode::Passive && !state.asleep => {
                drop(state);
                self.queue_frame();
            }
            (0xE4, 0) => {
                state.asleep = true;
                // Sleep stops the fan and the output: anything not yet sent is lost.
                drop(state);
                self.to_host.clear();
            }
            (0xE4, _) => state.asleep = false,
            _ => {}
        }
    }
}

/// The 13 data words of a frame (domain.md §7.1): CF=1 PM1.0/2.5/10, atmospheric PM1.0/2.5/10, six
/// particle counts, reserved.
fn data_words(levels: PmLevels) -> [u16; 13] {
    // The sensor reports whole µg/m³.
    let whole = |v: f32| v.round().clamp(0.0, f32::from(u16::MAX)) as u16;
    let atm = [whole(levels.pm1_0), whole(levels.pm2_5), whole(levels.pm10)];
    // CF=1 equals the atmospheric value in clean air and reads higher above about 30 µg/m³; the
    // shape is what matters here, not Plantower's undisclosed curve.
    let cf1 = atm.map(|v| {
        if v <= 30 {
            v
        } else {
            v.saturating_add((v - 30) / 2)
        }
    });
    // Counts per 0.1 L, roughly proportional to the mass in each size range and decreasing with
    // size as real counts do; the node does not report them.
    let fine = u32::from(atm[1]);
    let coarse = u32::from(atm[2].saturating_sub(atm[1]));
    let mut counts = [
        150 * u32::from(atm[0]) + 20 * fine,
        45 * u32::from(atm[0]) + 6 * fine + 5 * coarse,
        10 * fine + 4 * coarse,
        fine + 3 * coarse,
        coarse,
        coarse / 4,
    ]
    .map(|c| u16::try_from(c).unwrap_or(u16::MAX));
    for i in 1..counts.len() {
        counts[i] = counts[i].min(counts[i - 1]);
    }
    let mut words = [0u16; 13];
    words[..3].copy_from_slice(&cf1);
    words[3..6].copy_from_slice(&atm);
    words[6..12].copy_from_slice(&counts);
    words
}

/// A 32-byte frame: start, length 28, data words, checksum = 16-bit sum of bytes 0–29.
fn frame_bytes(words: &[u16; 13], corrupt: bool) -> Vec<u8> {
    let mut frame = Vec::with_capacity(32);
    frame.extend_from_slice(&START);
    frame.extend_from_slice(&28u16.to_be_bytes());
    for word in words {
        frame.extend_from_slice(&word.to_be_bytes());
    }
    let mut checksum = sum(&frame);
    if corrupt {
        checksum = checksum.wrapping_add(1);
    }
    frame.extend_from_slice(&checksum.to_be_bytes());
    frame
}

fn sum(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |s, &b| s.wrapping_add(u16::from(b)))
}

impl ErrorType for EmulatedPms5003 {
    type Error = UartTimeout;
}

impl Read for EmulatedPms5003 {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartTimeout> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (silent, streaming) = {
            let state = lock(&self.shared);
            (state.silent, state.mode == PmsMode::Active && !state.asleep)
        };
        if silent {
            return Err(UartTimeout);
        }
        if self.to_host.is_empty() && streaming {
            // In active mode the next frame is always on its way; the host just waits for it.
            self.queue_frame();
        }
        if self.to_host.is_empty() {
            return Err(UartTimeout);
        }
        let n = buf.len().min(self.to_host.len());
        for (slot, byte) in buf.iter_mut().zip(self.to_host.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for EmulatedPms5003 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartTimeout> {
        if lock(&self.shared).silent {
            // The host's UART sends regardless; nobody is listening.
            return Ok(buf.len());
        }
        self.from_host.extend_from_slice(buf);
        loop {
            // Resynchronise on the start bytes, as the sensor does.
            while self.from_host.len() >= 2 && self.from_host[..2] != START {
                self.from_host.remove(0);
            }
            if self.from_host.len() < 7 {
                break;
            }
            let mut command = [0u8; 7];
            command.copy_from_slice(&self.from_host[..7]);
            self.from_host.drain(..7);
            self.execute(command);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), UartTimeout> {
        Ok(())
    }
}
