//! An emulated Bosch BME280 on I²C (`shared/reference/domain.md` §7.3): chip id, calibration
//! registers (the BMP280 datasheet's example words plus typical humidity words), forced-mode
//! measurements whose raw ADC values compensate back to the climate the scenario sets, and faults.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use firmware::drivers::bme280::{CHIP_ID, Calibration};

/// The address the emulated part answers on (SDO to GND).
pub const BME280_ADDRESS: u8 = 0x76;

/// Calibration registers 0x88–0xA1 (26 bytes) and 0xE1–0xE7 (7 bytes).
const CALIB_LOW: [u8; 26] = [
    0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC, // T1 27504, T2 26435, T3 -1000
    0x7D, 0x8E, 0x43, 0xD6, 0xD0, 0x0B, 0x27, 0x0B, 0x8C,
    0x00, // P1 36477, P2 -10685, P3 3024, P4 2855, P5 140
    0xF9, 0xFF, 0x8C, 0x3C, 0xF8, 0xC6, 0x70, 0x17, // P6 -7, P7 15500, P8 -14600, P9 6000
    0x00, 75, // reserved, H1
];
const CALIB_HIGH: [u8; 7] = [0x6A, 0x01, 0x00, 0x14, 0x25, 0x03, 30];

/// The true conditions at the sensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weather {
    /// °C.
    pub temperature_c: f64,
    /// %RH.
    pub humidity_pct: f64,
    /// hPa.
    pub pressure_hpa: f64,
}

#[derive(Debug)]
struct State {
    weather: Weather,
    chip_id: u8,
    silent: bool,
    stuck: Option<[u8; 8]>,
    measurements: u64,
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // Plain fields: a poisoned lock still holds a consistent state.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scenario's side of an [`EmulatedBme280`].
#[derive(Debug, Clone)]
pub struct Bme280Handle(Arc<Mutex<State>>);

impl Bme280Handle {
    /// The conditions from the next measurement on.
    pub fn set_weather(&self, weather: Weather) {
        lock(&self.0).weather = weather;
    }

    /// While silent the sensor NACKs every transfer.
    pub fn set_silent(&self, silent: bool) {
        lock(&self.0).silent = silent;
    }

    /// Pretend to be another part (a BMP280 answers 0x58).
    pub fn set_chip_id(&self, id: u8) {
        lock(&self.0).chip_id = id;
    }

    /// While stuck the data registers keep the last measurement.
    pub fn set_stuck(&self, stuck: bool) {
        let mut state = lock(&self.0);
        state.stuck = stuck.then(|| data_registers(state.weather));
    }

    /// Forced measurements taken.
    pub fn measurements(&self) -> u64 {
        lock(&self.0).measurements
    }
}

/// An emulated BME280 at [`BME280_ADDRESS`].
#[derive(Debug)]
pub struct EmulatedBme280 {
    shared: Arc<Mutex<State>>,
    pointer: u8,
    data: [u8; 8],
}

impl EmulatedBme280 {
    /// A sensor in `weather`.
    pub fn new(weather: Weather) -> Self {
        let state = State {
            weather,
            chip_id: CHIP_ID,
            silent: false,
            stuck: None,
            measurements: 0,
        };
        EmulatedBme280 {
            shared: Arc::new(Mutex::new(state)),
            pointer: 0,
            data: [0x80, 0, 0, 0x80, 0, 0, 0x80, 0],
        }
    }

    /// A handle for the scenario.
    pub fn handle(&self) -> Bme280Handle {
        Bme280Handle(Arc::clone(&self.shared))
    }

    fn register(&self, address: u8, state: &State) -> u8 {
        match address {
            0xD0 => state.chip_id,
            0x88..=0xA1 => CALIB_LOW[usize::from(address - 0x88)],
            0xE1..=0xE7 => CALIB_HIGH[usize::from(address - 0xE1)],
            0xF7..=0xFE => self.data[usize::from(address - 0xF7)],
            _ => 0,
        }
    }
}

/// The smallest input in `range` at which `f` reaches `target` (`f` monotonic in `rising` sense).
fn search(range: std::ops::Range<i32>, target: i64, rising: bool, f: impl Fn(i32) -> i64) -> i32 {
    let (mut lo, mut hi) = (range.start, range.end - 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let below = if rising { f(mid) < target } else { f(mid) > target };
        if below { lo = mid + 1 } else { hi = mid }
    }
    lo
}

/// The raw ADC registers 0xF7–0xFE whose compensation gives `weather`.
fn data_registers(weather: Weather) -> [u8; 8] {
    let c = Calibration::from_registers(&CALIB_LOW, &CALIB_HIGH);
    let t_target = (weather.temperature_c * 100.0).round() as i64;
    let adc_t = search(0..1 << 20, t_target, true, |a| i64::from(c.temperature(a).0));
    let t_fine = c.temperature(adc_t).1;
    let p_target = (weather.pressure_hpa * 100.0 * 256.0).round() as i64;
    let adc_p = search(0..1 << 20, p_target, false, |a| {
        i64::from(c.pressure_q24_8(a, t_fine))
    });
    let h_target = (weather.humidity_pct * 1_024.0).round() as i64;
    let adc_h = search(0..1 << 16, h_target, true, |a| {
        i64::from(c.humidity_q22_10(a, t_fine))
    });
    let twenty = |v: i32| [(v >> 12) as u8, (v >> 4) as u8, ((v & 0xF) << 4) as u8];
    let [p0, p1, p2] = twenty(adc_p);
    let [t0, t1, t2] = twenty(adc_t);
    [p0, p1, p2, t0, t1, t2, (adc_h >> 8) as u8, adc_h as u8]
}

impl ErrorType for EmulatedBme280 {
    type Error = ErrorKind;
}

impl I2c for EmulatedBme280 {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        if address != BME280_ADDRESS || lock(&self.shared).silent {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    let Some((&register, values)) = bytes.split_first() else {
                        continue;
                    };
                    self.pointer = register;
                    // ctrl_meas with mode bits 01 or 10: one forced measurement.
                    if register == 0xF4
                        && values
                            .first()
                            .is_some_and(|v| v & 0b11 == 0b01 || v & 0b11 == 0b10)
                    {
                        let mut state = lock(&self.shared);
                        state.measurements += 1;
                        let flicker = state.measurements.is_multiple_of(2);
                        self.data = state.stuck.unwrap_or_else(|| {
                            let mut data = data_registers(state.weather);
                            // The pressure ADC's last bit flickers (about 0.002 hPa), as its noise
                            // makes it: without it a steady emulated sensor would look stuck.
                            if flicker {
                                data[2] ^= 0x10;
                            }
                            data
                        });
                    }
                }
                Operation::Read(buf) => {
                    let state = lock(&self.shared);
                    for (i, slot) in buf.iter_mut().enumerate() {
                        *slot = self.register(self.pointer.wrapping_add(i as u8), &state);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use firmware::drivers::bme280::{self, Bme280};

    use super::*;
    use crate::devices::NoDelay;

    fn humid_afternoon() -> Weather {
        Weather {
            temperature_c: 31.27,
            humidity_pct: 71.5,
            pressure_hpa: 1_008.6,
        }
    }

    #[test]
    fn the_driver_reads_the_weather_back_in_frame_units() {
        let sensor = EmulatedBme280::new(humid_afternoon());
        let mut bme = Bme280::new(sensor, NoDelay);
        bme.init().expect("a BME280");
        let m = bme.measure().expect("measurement");
        assert_eq!(m.temperature_centi, 3_127);
        assert!(m.humidity_centi.abs_diff(7_150) <= 1, "{m:?}");
        assert!(m.pressure_deci_hpa.abs_diff(10_086) <= 1, "{m:?}");
    }

    #[test]
    fn another_chip_a_silent_one_and_a_stuck_one() {
        let sensor = EmulatedBme280::new(humid_afternoon());
        let handle = sensor.handle();
        let mut bme = Bme280::new(sensor, NoDelay);
        assert!(matches!(bme.measure(), Err(bme280::Error::NotInitialised)));
        handle.set_chip_id(0x58);
        assert_eq!(bme.init(), Err(bme280::Error::WrongChip(0x58)));
        handle.set_chip_id(CHIP_ID);
        bme.init().expect("a BME280");
        handle.set_stuck(true);
        let a = bme.measure_raw().expect("raw");
        handle.set_weather(Weather {
            temperature_c: 20.0,
            ..humid_afternoon()
        });
        assert_eq!(bme.measure_raw().expect("raw"), a, "stuck registers");
        handle.set_silent(true);
        assert!(matches!(bme.measure(), Err(bme280::Error::I2c(_))));
    }
}
