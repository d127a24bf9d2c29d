//! An emulated Nova SDS011 on a UART (`shared/reference/domain.md` §7.2): 10-byte data frames with
//! their checksum, the 19-byte commands with their replies, active and query mode, sleep, working
//! period, and fault injection.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use embedded_io::{ErrorType, Read, Write};

use super::UartTimeout;

#[derive(Debug)]
struct State {
    /// PM2.5 and PM10 in µg/m³.
    levels: (f32, f32),
    query_mode: bool,
    asleep: bool,
    working_period_min: u8,
    silent: bool,
    stuck: Option<(u16, u16)>,
    corrupt_frames: u32,
    frames_sent: u64,
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // Plain fields: a poisoned lock still holds a consistent state.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scenario's side of an [`EmulatedSds011`].
#[derive(Debug, Clone)]
pub struct Sds011Handle(Arc<Mutex<State>>);

impl Sds011Handle {
    /// PM2.5 and PM10 in µg/m³ from the next frame on.
    pub fn set_levels(&self, pm2_5: f32, pm10: f32) {
        lock(&self.0).levels = (pm2_5, pm10);
    }

    /// While silent the sensor neither answers nor acts on commands.
    pub fn set_silent(&self, silent: bool) {
        lock(&self.0).silent = silent;
    }

    /// While stuck every frame repeats the values of the moment it stuck.
    pub fn set_stuck(&self, stuck: bool) {
        let mut state = lock(&self.0);
        state.stuck = stuck.then(|| tenths(state.levels));
    }

    /// Sends the next `n` frames with a wrong checksum.
    pub fn corrupt_next_frames(&self, n: u32) {
        lock(&self.0).corrupt_frames = n;
    }

    /// Query mode, as last set by a command.
    pub fn is_query_mode(&self) -> bool {
        lock(&self.0).query_mode
    }

    /// True after a sleep command until a work command.
    pub fn is_asleep(&self) -> bool {
        lock(&self.0).asleep
    }

    /// The working period in minutes (0 = continuous), as last set.
    pub fn working_period_min(&self) -> u8 {
        lock(&self.0).working_period_min
    }
}

fn tenths((pm2_5, pm10): (f32, f32)) -> (u16, u16) {
    let t = |v: f32| (v * 10.0).round().clamp(0.0, 9_999.0) as u16;
    (t(pm2_5), t(pm10))
}

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// The sensor's id in its frames.
const ID: [u8; 2] = [0xA1, 0x5B];

/// An emulated SDS011. Powers up awake, in active mode.
#[derive(Debug)]
pub struct EmulatedSds011 {
    shared: Arc<Mutex<State>>,
    to_host: VecDeque<u8>,
    from_host: Vec<u8>,
}

impl EmulatedSds011 {
    /// A sensor seeing PM2.5 and PM10 in µg/m³.
    pub fn new(pm2_5: f32, pm10: f32) -> Self {
        let state = State {
            levels: (pm2_5, pm10),
            query_mode: false,
            asleep: false,
            working_period_min: 0,
            silent: false,
            stuck: None,
            corrupt_frames: 0,
            frames_sent: 0,
        };
        EmulatedSds011 {
            shared: Arc::new(Mutex::new(state)),
            to_host: VecDeque::new(),
            from_host: Vec::new(),
        }
    }

    /// A handle for the scenario.
    pub fn handle(&self) -> Sds011Handle {
        Sds011Handle(Arc::clone(&self.shared))
    }

    fn queue(&mut self, kind: u8, body: [u8; 6], corrupt: bool) {
        let mut checksum = sum(&body);
        if corrupt {
            checksum = checksum.wrapping_add(1);
        }
        self.to_host.extend([0xAA, kind]);
        self.to_host.extend(body);
        self.to_host.extend([checksum, 0xAB]);
    }

    fn queue_data(&mut self) {
        let (body, corrupt) = {
            let mut state = lock(&self.shared);
            let (pm2_5, pm10) = state.stuck.unwrap_or_else(|| {
                // The last digit wanders by a tenth around the truth (0, +1, 0, −1), as a real
                // sensor's counting noise makes it; without it a steady emulated sensor would
                // look stuck to the node.
                let wander = [0, 1, 0, -1][(state.frames_sent % 4) as usize];
                let (a, b) = tenths(state.levels);
                let nudge = |v: u16| v.saturating_add_signed(wander);
                (nudge(a), nudge(b))
            });
            let corrupt = state.corrupt_frames > 0;
            state.corrupt_frames = state.corrupt_frames.saturating_sub(1);
            state.frames_sent += 1;
            let [a, b] = pm2_5.to_le_bytes();
            let [c, d] = pm10.to_le_bytes();
            ([a, b, c, d, ID[0], ID[1]], corrupt)
        };
        self.queue(0xC0, body, corrupt);
    }

    fn execute(&mut self, command: [u8; 19]) {
        if sum(&command[2..17]) != command[17] || command[18] != 0xAB {
            return;
        }
        let (cmd, set, value) = (command[2], command[3], command[4]);
        let reply = {
            let mut state = lock(&self.shared);
            match cmd {
                2 if set == 1 => {
                    state.query_mode = value == 1;
                    Some([2, 1, value, 0, ID[0], ID[1]])
                }
                4 if !state.asleep => None,
                6 if set == 1 => {
                    state.asleep = value == 0;
                    Some([6, 1, value, 0, ID[0], ID[1]])
                }
                8 if set == 1 => {
                    state.working_period_min = value;
                    Some([8, 1, value, 0, ID[0], ID[1]])
                }
                _ => return,
            }
        };
        match reply {
            Some(body) => self.queue(0xC5, body, false),
            None => self.queue_data(),
        }
    }
}

impl ErrorType for EmulatedSds011 {
    type Error = UartTimeout;
}

impl Read for EmulatedSds011 {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartTimeout> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (silent, streaming) = {
            let state = lock(&self.shared);
            (state.silent, !state.query_mode && !state.asleep)
        };
        if silent {
            return Err(UartTimeout);
        }
        if self.to_host.is_empty() && streaming {
            self.queue_data();
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

impl Write for EmulatedSds011 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartTimeout> {
        if lock(&self.shared).silent {
            return Ok(buf.len());
        }
        self.from_host.extend_from_slice(buf);
        loop {
            while !self.from_host.is_empty() && self.from_host[0] != 0xAA {
                self.from_host.remove(0);
            }
            if self.from_host.len() < 19 {
                break;
            }
            let mut command = [0u8; 19];
            command.copy_from_slice(&self.from_host[..19]);
            self.from_host.drain(..19);
            self.execute(command);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), UartTimeout> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use firmware::drivers::sds011::{self, Command, Sds011};

    use super::*;

    #[test]
    fn the_driver_configures_queries_and_sleeps_the_emulated_sensor() {
        let sensor = EmulatedSds011::new(37.64, 51.2);
        let handle = sensor.handle();
        let mut sds = Sds011::new(sensor);
        assert_eq!(
            sds.read().expect("active frame").pm2_5,
            376,
            "streams in active mode"
        );
        sds.send(Command::QueryMode).expect("sent");
        assert!(handle.is_query_mode());
        let reading = sds.query().expect("queried");
        assert_eq!(
            (reading.pm2_5, reading.pm10),
            (377, 513),
            "the second frame wanders a tenth up"
        );
        sds.send(Command::WorkingPeriod(3)).expect("sent");
        assert_eq!(handle.working_period_min(), 3);
        sds.send(Command::Sleep).expect("sent");
        assert!(handle.is_asleep());
        assert!(
            matches!(sds.query(), Err(sds011::Error::Uart(_))),
            "asleep: no answer"
        );
        sds.send(Command::Work).expect("sent");
        assert!(sds.query().is_ok());
    }

    #[test]
    fn corrupted_silent_and_stuck_sensors() {
        let sensor = EmulatedSds011::new(10.0, 20.0);
        let handle = sensor.handle();
        let mut sds = Sds011::new(sensor);
        sds.send(Command::QueryMode).expect("sent");
        handle.corrupt_next_frames(1);
        assert_eq!(sds.query(), Err(sds011::Error::Checksum));
        assert_eq!(sds.checksum_errors(), 1);
        handle.set_stuck(true);
        handle.set_levels(80.0, 90.0);
        assert_eq!(sds.query().expect("frame").pm2_5, 100, "frozen at 10.0");
        handle.set_silent(true);
        assert!(matches!(sds.query(), Err(sds011::Error::Uart(_))));
    }
}
