//! An emulated TI ADS1115 on I²C (`shared/reference/domain.md` §7.4): the pointer register, the
//! config register with OS/MUX/PGA, single-shot conversions of the voltages a scenario sets on its
//! four inputs, and fault injection. Plus [`AnalogueWater`]: the voltages the low-cost water probes
//! (analogue pH board, galvanic DO, SEN0189 turbidity, 4–20 mA level) present for given water.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};

/// The address the emulated part answers on by default (ADDR to GND).
pub const ADS1115_ADDRESS: u8 = 0x48;

#[derive(Debug)]
struct State {
    /// AIN0..AIN3 in volts.
    inputs: [f64; 4],
    silent: bool,
    hung: bool,
    frozen: Option<i16>,
    /// Add a count of noise (−1, 0 or +1) to each conversion.
    noise: bool,
    conversions: u64,
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // Plain fields: a poisoned lock still holds a consistent state.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scenario's side of an [`EmulatedAds1115`].
#[derive(Debug, Clone)]
pub struct Ads1115Handle(Arc<Mutex<State>>);

impl Ads1115Handle {
    /// The voltages on AIN0..AIN3 from the next conversion on.
    pub fn set_inputs(&self, volts: [f64; 4]) {
        lock(&self.0).inputs = volts;
    }

    /// While silent the ADC NACKs every transfer (unpowered, or its bus is broken).
    pub fn set_silent(&self, silent: bool) {
        lock(&self.0).silent = silent;
    }

    /// While hung a started conversion never finishes (OS stays 0).
    pub fn set_hung(&self, hung: bool) {
        lock(&self.0).hung = hung;
    }

    /// While frozen every conversion returns this count, whatever the input.
    pub fn set_frozen(&self, count: Option<i16>) {
        lock(&self.0).frozen = count;
    }

    /// While set, each conversion is off by −1, 0 or +1 count, as a real input's noise makes it:
    /// without it a steady emulated input would look stuck to the node.
    pub fn set_noise(&self, noise: bool) {
        lock(&self.0).noise = noise;
    }

    /// Conversions started since power-up.
    pub fn conversions(&self) -> u64 {
        lock(&self.0).conversions
    }
}

/// An emulated ADS1115, at [`ADS1115_ADDRESS`] unless built with [`EmulatedAds1115::new_at`].
#[derive(Debug)]
pub struct EmulatedAds1115 {
    shared: Arc<Mutex<State>>,
    address: u8,
    pointer: u8,
    config: u16,
    conversion: i16,
}

impl EmulatedAds1115 {
    /// An ADC with `volts` on AIN0..AIN3.
    pub fn new(volts: [f64; 4]) -> Self {
        Self::new_at(ADS1115_ADDRESS, volts)
    }

    /// An ADC answering on `address` (its ADDR pin strapped elsewhere), with `volts` on AIN0..AIN3.
    pub fn new_at(address: u8, volts: [f64; 4]) -> Self {
        let state = State {
            inputs: volts,
            silent: false,
            hung: false,
            frozen: None,
            noise: false,
            conversions: 0,
        };
        EmulatedAds1115 {
            shared: Arc::new(Mutex::new(state)),
            address,
            pointer: 0,
            // Power-up default: idle, AIN0−AIN1, ±2.048 V, single-shot, 128 SPS, comparator off.
            config: 0x8583,
            conversion: 0,
        }
    }

    /// A handle for the scenario; clones share the same ADC.
    pub fn handle(&self) -> Ads1115Handle {
        Ads1115Handle(Arc::clone(&self.shared))
    }

    fn write_register(&mut self, bytes: &[u8]) {
        let Some((&pointer, data)) = bytes.split_first() else {
            return;
        };
        self.pointer = pointer & 0x03;
        if self.pointer == 0x01 && data.len() == 2 {
            let config = u16::from_be_bytes([data[0], data[1]]);
            let mut state = lock(&self.shared);
            if config & 0x8000 != 0 {
                state.conversions += 1;
                // A scrambled conversion counter picks the noise, so it does not repeat with the
                // node's pattern of conversions.
                let noise = if state.noise {
                    (state.conversions.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 62) as i16 % 3 - 1
                } else {
                    0
                };
                self.conversion = state.frozen.unwrap_or_else(|| {
                    // A clipped input stays clipped: noise does not bring it back in range.
                    match convert(&state.inputs, config) {
                        count @ (i16::MIN | i16::MAX) => count,
                        count => count.saturating_add(noise),
                    }
                });
                // OS reads 0 while converting: forever when hung; an answer is instant otherwise.
                self.config = if state.hung {
                    config & 0x7FFF
                } else {
                    config | 0x8000
                };
            } else {
                self.config = config;
            }
        }
    }

    fn read_register(&self) -> [u8; 2] {
        match self.pointer {
            0x00 => self.conversion.to_be_bytes(),
            0x01 => self.config.to_be_bytes(),
            _ => [0, 0],
        }
    }
}

/// The count for the inputs selected by `config`'s MUX at its PGA, clipped to 16 bits.
fn convert(inputs: &[f64; 4], config: u16) -> i16 {
    let volts = match (config >> 12) & 0x7 {
        0 => inputs[0] - inputs[1],
        1 => inputs[0] - inputs[3],
        2 => inputs[1] - inputs[3],
        3 => inputs[2] - inputs[3],
        n => inputs[usize::from(n - 4)],
    };
    let full_scale = match (config >> 9) & 0x7 {
        0 => 6.144,
        1 => 4.096,
        2 => 2.048,
        3 => 1.024,
        4 => 0.512,
        _ => 0.256,
    };
    (volts / full_scale * 32_768.0)
        .round()
        .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

impl ErrorType for EmulatedAds1115 {
    type Error = ErrorKind;
}

impl I2c for EmulatedAds1115 {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        if address != self.address || lock(&self.shared).silent {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => self.write_register(bytes),
                Operation::Read(buf) => {
                    let word = self.read_register();
                    for (slot, byte) in buf.iter_mut().zip(word.iter().cycle()) {
                        *slot = *byte;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The analogue probes as the node's default wiring sees them (`AnalogueWiring::default`: pH on
/// AIN0, DO on AIN1, turbidity at 3.3 V on AIN2, a 0–5 m 4–20 mA transducer on 150 Ω on AIN3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalogueWater {
    /// pH.
    pub ph: f64,
    /// Dissolved oxygen in mg/L.
    pub dissolved_oxygen_mg_l: f64,
    /// Water temperature in °C.
    pub temperature_c: f64,
    /// Turbidity in NTU.
    pub turbidity_ntu: f64,
    /// Level in mm above the datum.
    pub level_mm: f64,
}

/// The pH board's output at pH 7, and its probe's efficiency (a slightly aged electrode).
pub const PH_BOARD_MID_V: f64 = 1.52;
/// Slope efficiency of the emulated pH electrode relative to Nernst.
pub const PH_EFFICIENCY: f64 = 0.97;
/// The galvanic DO probe's amplified output in air-saturated water.
pub const DO_AIR_V: f64 = 1.2;

impl AnalogueWater {
    /// The four input voltages.
    pub fn volts(&self) -> [f64; 4] {
        let nernst_v = 198.41e-6 * (self.temperature_c + 273.15);
        let ph_v = PH_BOARD_MID_V - (self.ph - 7.0) * PH_EFFICIENCY * nernst_v;
        let t = self.temperature_c;
        let saturation = 14.652 + t * (-0.410_22 + t * (0.007_991_0 - t * 0.000_077_774));
        let do_v = DO_AIR_V * self.dissolved_oxygen_mg_l / saturation;
        // The SEN0189 curve's upper branch solved for V: −1120.4 V² + 5742.3 V − (4352.9 + NTU) = 0.
        let c = 4_352.9 + self.turbidity_ntu.clamp(0.0, 3_000.0);
        // The branch above the apex (2.56 V): clearer water, higher voltage. The curve is for a
        // 5 V supply; the sensor runs on 3.3 V.
        let at_5v = (5_742.3 + (5_742.3f64 * 5_742.3 - 4.0 * 1_120.4 * c).max(0.0).sqrt()) / (2.0 * 1_120.4);
        let turbidity_v = at_5v * 3.3 / 5.0;
        let ma = 4.0 + 16.0 * self.level_mm / 5_000.0;
        [ph_v, do_v, turbidity_v, ma * 0.150]
    }
}
