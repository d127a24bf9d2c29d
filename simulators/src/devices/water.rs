//! An emulated water probe set (pH, dissolved oxygen, conductivity, temperature) behind the
//! firmware's [`WaterProbe`] seam. The real probes (Atlas EZO circuits, ADS1115-read analogue boards)
//! get byte-level emulations when their drivers exist.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use firmware::node::{WaterProbe, WaterReading};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The true state of the water at the probes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaterLevels {
    /// pH.
    pub ph: f32,
    /// Dissolved oxygen in mg/L.
    pub dissolved_oxygen_mg_l: f32,
    /// Electrical conductivity in µS/cm.
    pub conductivity_us_cm: f32,
    /// Water temperature in °C.
    pub temperature_c: f32,
}

/// The probe set did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeFault;

impl fmt::Display for ProbeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("emulated water probe fault")
    }
}

impl std::error::Error for ProbeFault {}

/// Noise amplitudes (uniform, ±): about the resolution of EZO-class probes.
const PH_NOISE: f64 = 0.005;
const DO_NOISE_MG_L: f64 = 0.02;
const EC_NOISE_FRACTION: f64 = 0.002;
const TEMPERATURE_NOISE_C: f64 = 0.02;

#[derive(Debug)]
struct State {
    levels: WaterLevels,
    noise: bool,
    failing: bool,
    rng: StdRng,
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // Plain fields: a poisoned lock still holds a consistent state.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scenario's side of an [`EmulatedWaterProbe`].
#[derive(Debug, Clone)]
pub struct WaterProbeHandle(Arc<Mutex<State>>);

impl WaterProbeHandle {
    /// What the probes measure from the next read on.
    pub fn set_levels(&self, levels: WaterLevels) {
        lock(&self.0).levels = levels;
    }

    /// What the probes currently see.
    pub fn levels(&self) -> WaterLevels {
        lock(&self.0).levels
    }

    /// Switches the read noise on or off (on by default).
    pub fn set_noise(&self, noise: bool) {
        lock(&self.0).noise = noise;
    }

    /// While set, every read fails.
    pub fn set_failing(&self, failing: bool) {
        lock(&self.0).failing = failing;
    }
}

/// Emulated probes: the true values plus small uniform noise, in the frame's fixed-point units.
#[derive(Debug)]
pub struct EmulatedWaterProbe {
    shared: Arc<Mutex<State>>,
}

impl EmulatedWaterProbe {
    /// Probes seeing `levels`; `seed` makes the noise reproducible.
    pub fn new(levels: WaterLevels, seed: u64) -> Self {
        let state = State {
            levels,
            noise: true,
            failing: false,
            rng: StdRng::seed_from_u64(seed),
        };
        EmulatedWaterProbe {
            shared: Arc::new(Mutex::new(state)),
        }
    }

    /// A handle for the scenario; clones share the same probes.
    pub fn handle(&self) -> WaterProbeHandle {
        WaterProbeHandle(Arc::clone(&self.shared))
    }
}

impl WaterProbe for EmulatedWaterProbe {
    type Error = ProbeFault;

    fn read(&mut self) -> Result<WaterReading, ProbeFault> {
        let mut state = lock(&self.shared);
        if state.failing {
            return Err(ProbeFault);
        }
        let levels = state.levels;
        let noise = state.noise;
        let mut jitter = |amplitude: f64| {
            if noise {
                state.rng.random_range(-amplitude..=amplitude)
            } else {
                0.0
            }
        };
        let ph = f64::from(levels.ph) + jitter(PH_NOISE);
        let dissolved_oxygen = f64::from(levels.dissolved_oxygen_mg_l) + jitter(DO_NOISE_MG_L);
        let ec = f64::from(levels.conductivity_us_cm);
        let conductivity = ec + ec * jitter(EC_NOISE_FRACTION);
        let temperature = f64::from(levels.temperature_c) + jitter(TEMPERATURE_NOISE_C);
        // `as` saturates, which is what a probe's output register does too; the sampler range-checks.
        Ok(WaterReading {
            ph: Some((ph * 1_000.0).round() as u16),
            dissolved_oxygen: Some((dissolved_oxygen * 100.0).round() as u16),
            conductivity: Some(conductivity.round() as u32),
            temperature: Some((temperature * 100.0).round() as i16),
            ..WaterReading::default()
        })
    }
}
