//! Emulated Atlas Scientific EZO circuits (pH, DO, EC) in I²C mode (`shared/reference/domain.md`
//! §7.5): ASCII commands, the status byte and NUL-terminated replies, temperature compensation,
//! the EC outputs, calibration commands, and fault injection. An uncalibrated pH circuit reads
//! [`PH_UNCALIBRATED_OFFSET`] high until its mid point is taken, so calibration visibly matters.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use firmware::drivers::ezo::Kind;

/// How far an uncalibrated emulated pH electrode reads high.
pub const PH_UNCALIBRATED_OFFSET: f64 = 0.12;

#[derive(Debug)]
struct State {
    /// pH, DO in mg/L, or in-situ EC in µS/cm.
    value: f64,
    temperature_c: f64,
    /// EC outputs: EC, TDS, S (salinity), SG.
    outputs: [bool; 4],
    mid_calibrated: bool,
    calibrations: Vec<String>,
    silent: bool,
    busy_reads: u32,
    corrupt_replies: u32,
    frozen: Option<String>,
    /// Readings taken with noise on: the last digit flickers as a real probe's does.
    noisy_reads: Option<u64>,
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // Plain fields: a poisoned lock still holds a consistent state.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scenario's side of an [`EmulatedEzo`].
#[derive(Debug, Clone)]
pub struct EzoHandle(Arc<Mutex<State>>);

impl EzoHandle {
    /// What the probe measures from the next read on (pH, mg/L or µS/cm).
    pub fn set_value(&self, value: f64) {
        lock(&self.0).value = value;
    }

    /// The temperature the circuit was last told (`T,<°C>`), 25 °C by default.
    pub fn temperature_c(&self) -> f64 {
        lock(&self.0).temperature_c
    }

    /// Calibration commands accepted so far, as sent.
    pub fn calibrations(&self) -> Vec<String> {
        lock(&self.0).calibrations.clone()
    }

    /// While silent the circuit NACKs every transfer.
    pub fn set_silent(&self, silent: bool) {
        lock(&self.0).silent = silent;
    }

    /// The next `n` reads answer 254 (still processing).
    pub fn busy_next_reads(&self, n: u32) {
        lock(&self.0).busy_reads = n;
    }

    /// The next `n` replies have a digit replaced by garbage.
    pub fn corrupt_next_replies(&self, n: u32) {
        lock(&self.0).corrupt_replies = n;
    }

    /// Switches read noise on or off (off by default): the last digit flickers by one, as a real
    /// probe's does, so that a steady emulated canal does not look stuck to the node.
    pub fn set_noise(&self, noise: bool) {
        lock(&self.0).noisy_reads = noise.then_some(0);
    }

    /// While frozen every `R` answers this text, whatever the water does.
    pub fn set_frozen(&self, text: Option<&str>) {
        lock(&self.0).frozen = text.map(str::to_owned);
    }
}

/// One emulated circuit at its factory address.
#[derive(Debug)]
pub struct EmulatedEzo {
    kind: Kind,
    shared: Arc<Mutex<State>>,
    pending: Option<Vec<u8>>,
}

impl EmulatedEzo {
    /// A circuit of `kind` whose probe sees `value`.
    pub fn new(kind: Kind, value: f64) -> Self {
        let state = State {
            value,
            temperature_c: 25.0,
            outputs: [true; 4],
            mid_calibrated: false,
            calibrations: Vec::new(),
            silent: false,
            busy_reads: 0,
            corrupt_replies: 0,
            frozen: None,
            noisy_reads: None,
        };
        EmulatedEzo {
            kind,
            shared: Arc::new(Mutex::new(state)),
            pending: None,
        }
    }

    /// A handle for the scenario.
    pub fn handle(&self) -> EzoHandle {
        EzoHandle(Arc::clone(&self.shared))
    }

    fn reading(&self, state: &State) -> String {
        if let Some(frozen) = &state.frozen {
            return frozen.clone();
        }
        match self.kind {
            Kind::Ph => {
                let offset = if state.mid_calibrated {
                    0.0
                } else {
                    PH_UNCALIBRATED_OFFSET
                };
                format!("{:.3}", state.value + offset)
            }
            Kind::DissolvedOxygen => format!("{:.2}", state.value),
            Kind::Conductivity => {
                let ec = state.value;
                let salinity = firmware::convert::pss78::salinity(ec, state.temperature_c).unwrap_or(0.0);
                let fields = [
                    format!("{ec:.0}"),
                    format!("{:.0}", ec * 0.54),
                    format!("{salinity:.2}"),
                    "1.000".to_owned(),
                ];
                fields
                    .iter()
                    .zip(state.outputs)
                    .filter(|(_, on)| *on)
                    .map(|(f, _)| f.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            }
        }
    }

    /// Acts on one command; returns the status and reply text.
    fn execute(&self, command: &str, state: &mut State) -> (u8, String) {
        let parts: Vec<&str> = command.split(',').collect();
        match (self.kind, parts.as_slice()) {
            (_, ["R"]) => (1, self.reading(state)),
            (_, ["T", t]) => match t.parse::<f64>() {
                Ok(t) => {
                    state.temperature_c = t;
                    (1, String::new())
                }
                Err(_) => (2, String::new()),
            },
            (Kind::Conductivity, ["O", parameter, on]) => {
                let index = match *parameter {
                    "EC" => 0,
                    "TDS" => 1,
                    "S" => 2,
                    "SG" => 3,
                    _ => return (2, String::new()),
                };
                state.outputs[index] = *on == "1";
                (1, String::new())
            }
            (_, ["Cal", "clear"]) => {
                state.mid_calibrated = false;
                state.calibrations.push(command.to_owned());
                (1, String::new())
            }
            (Kind::Ph, ["Cal", "mid", _]) => {
                state.mid_calibrated = true;
                state.calibrations.push(command.to_owned());
                (1, String::new())
            }
            // The mid point first (domain.md §7.5): low or high before it is refused.
            (Kind::Ph, ["Cal", "low" | "high", _]) if !state.mid_calibrated => (2, String::new()),
            (Kind::Ph, ["Cal", "low" | "high", _])
            | (Kind::DissolvedOxygen, ["Cal"] | ["Cal", "0"])
            | (Kind::Conductivity, ["Cal", "dry"] | ["Cal", "one" | "low" | "high", _]) => {
                state.calibrations.push(command.to_owned());
                (1, String::new())
            }
            _ => (2, String::new()),
        }
    }
}

impl ErrorType for EmulatedEzo {
    type Error = ErrorKind;
}

impl I2c for EmulatedEzo {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        if address != self.kind.default_address() || lock(&self.shared).silent {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    let command = String::from_utf8_lossy(bytes).into_owned();
                    let mut state = lock(&self.shared);
                    let (status, text) = self.execute(&command, &mut state);
                    let mut reply = vec![status];
                    reply.extend_from_slice(text.as_bytes());
                    if state.corrupt_replies > 0 && reply.len() > 1 {
                        state.corrupt_replies -= 1;
                        reply[1] = b'?';
                    }
                    reply.push(0);
                    self.pending = Some(reply);
                }
                Operation::Read(buf) => {
                    let mut state = lock(&self.shared);
                    buf.fill(0);
                    if state.busy_reads > 0 {
                        state.busy_reads -= 1;
                        buf[0] = 254;
                        continue;
                    }
                    match self.pending.take() {
                        Some(reply) => {
                            let n = reply.len().min(buf.len());
                            buf[..n].copy_from_slice(&reply[..n]);
                        }
                        None => buf[0] = 255,
                    }
                }
            }
        }
        Ok(())
    }
}

/// A water station's three circuits as the simulated node's firmware sees them.
pub type EzoCircuit = firmware::drivers::Ezo<EmulatedEzo, super::NoDelay>;

/// The scenario's side of an emulated EZO station: set the water, inject faults.
#[derive(Debug, Clone)]
pub struct EzoStationHandle {
    /// The pH circuit.
    pub ph: EzoHandle,
    /// The DO circuit.
    pub dissolved_oxygen: EzoHandle,
    /// The EC circuit.
    pub conductivity: EzoHandle,
}

impl EzoStationHandle {
    /// What the probes see from the next read on (the temperature goes to the node's own
    /// thermometer, not to the circuits).
    pub fn set_levels(&self, levels: super::WaterLevels) {
        self.ph.set_value(f64::from(levels.ph));
        self.dissolved_oxygen
            .set_value(f64::from(levels.dissolved_oxygen_mg_l));
        self.conductivity.set_value(f64::from(levels.conductivity_us_cm));
    }

    /// While set, every circuit NACKs (the station's I²C bus is down).
    pub fn set_failing(&self, failing: bool) {
        for circuit in [&self.ph, &self.dissolved_oxygen, &self.conductivity] {
            circuit.set_silent(failing);
        }
    }
}

/// Three emulated circuits seeing `levels`, with read noise on, and the firmware's probe set over
/// them, factory-calibrated (pH mid point, DO in air, EC dry) at an unknown time, so no
/// calibration is flagged due.
pub fn ezo_station(
    levels: super::WaterLevels,
) -> (
    firmware::node::EzoProbes<EzoCircuit, EzoCircuit, EzoCircuit>,
    EzoStationHandle,
) {
    use firmware::drivers::Ezo;
    use firmware::node::{EzoProbes, WaterProbe};
    use protocol::command::{CalibrationPoint, CalibrationStep, Probe};

    let ph = EmulatedEzo::new(Kind::Ph, f64::from(levels.ph));
    let dissolved_oxygen = EmulatedEzo::new(Kind::DissolvedOxygen, f64::from(levels.dissolved_oxygen_mg_l));
    let conductivity = EmulatedEzo::new(Kind::Conductivity, f64::from(levels.conductivity_us_cm));
    let handle = EzoStationHandle {
        ph: ph.handle(),
        dissolved_oxygen: dissolved_oxygen.handle(),
        conductivity: conductivity.handle(),
    };
    for circuit in [&handle.ph, &handle.dissolved_oxygen, &handle.conductivity] {
        circuit.set_noise(true);
    }
    let mut probes = EzoProbes::new(
        Some(Ezo::new(ph, super::NoDelay, Kind::Ph)),
        Some(Ezo::new(dissolved_oxygen, super::NoDelay, Kind::DissolvedOxygen)),
        Some(Ezo::new(conductivity, super::NoDelay, Kind::Conductivity)),
    );
    for (probe, point, reference) in [
        (Probe::Ph, CalibrationPoint::Mid, 7_000),
        (Probe::DissolvedOxygen, CalibrationPoint::Air, 0),
        (Probe::Conductivity, CalibrationPoint::Dry, 0),
    ] {
        let step = CalibrationStep {
            probe,
            point,
            reference,
        };
        if let Some(record) = probes.calibrate(step, 0) {
            probes.set_calibration(probe, record);
        }
    }
    (probes, handle)
}
