//! Emulated electrochemical gas cells (CO, NO2, SO2, O3) on their sensor boards, wired to two
//! emulated ADS1115s as the firmware's default [`GasWiring`] expects: the voltages each cell's
//! working and auxiliary electrodes present for given air, and the firmware's front end over them.
//!
//! A cell here follows the model the firmware corrects for (Alphasense's algorithm 1): the
//! auxiliary electrode's output moves with temperature (the cell's background current), the
//! working electrode's by n times that plus the gas signal; the ozone cell also answers NO2.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use firmware::convert::gas::Gas;
use firmware::drivers::ads1115::{Address, Ads1115};
use firmware::node::{Adc, GasChannel, GasFrontEnd, GasWiring};

use super::NoDelay;
use super::ads1115::{Ads1115Handle, EmulatedAds1115};

/// What the cells see: the gases in ppb and the air temperature.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GasAir {
    /// Carbon monoxide, ppb.
    pub co_ppb: f64,
    /// Nitrogen dioxide, ppb.
    pub no2_ppb: f64,
    /// Sulphur dioxide, ppb.
    pub so2_ppb: f64,
    /// Ozone, ppb.
    pub o3_ppb: f64,
    /// Air temperature, °C.
    pub temperature_c: f64,
}

impl GasAir {
    fn ppb(&self, gas: Gas) -> f64 {
        match gas {
            Gas::CarbonMonoxide => self.co_ppb,
            Gas::NitrogenDioxide => self.no2_ppb,
            Gas::SulphurDioxide => self.so2_ppb,
            Gas::Ozone => self.o3_ppb,
        }
    }
}

/// One cell as it really is: its zeros and sensitivity (which age away from its certificate), and
/// how its background moves with temperature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrueCell {
    /// WE and AE outputs in zero air at 20 °C, V.
    pub zeros_v: (f64, f64),
    /// Working-electrode volts per ppb.
    pub v_per_ppb: f64,
    /// The auxiliary electrode's drift, V per °C from 20 °C; the working electrode drifts n times it.
    pub ae_drift_v_per_c: f64,
    /// n, the working electrode's share of the background.
    pub n: f64,
}

/// The auxiliary electrodes' drift with temperature, V/°C: an invented but plausible size
/// (a few mV over the day's 8 °C swing), so that the node's correction has work to do.
const AE_DRIFT_V_PER_C: [f64; 4] = [-0.000_8, -0.000_2, 0.000_3, -0.000_3];

impl TrueCell {
    /// A cell exactly as its certificate (the firmware's default wiring) says; a gas the
    /// default wiring has no cell for gives a silent cell.
    pub fn as_certified(gas: Gas) -> Self {
        let ae_drift_v_per_c = AE_DRIFT_V_PER_C[gas.index()];
        match GasWiring::default().channel(gas) {
            Some(channel) => TrueCell {
                zeros_v: (
                    f64::from(channel.factory.we_zero_uv) * 1e-6,
                    f64::from(channel.factory.ae_zero_uv) * 1e-6,
                ),
                v_per_ppb: f64::from(channel.factory.sensitivity_nv_per_ppb) * 1e-9,
                ae_drift_v_per_c,
                n: f64::from(channel.n_milli) / 1_000.0,
            },
            None => TrueCell {
                zeros_v: (0.0, 0.0),
                v_per_ppb: 0.0,
                ae_drift_v_per_c,
                n: 0.0,
            },
        }
    }
}

#[derive(Debug)]
struct State {
    cells: [TrueCell; 4],
    air: GasAir,
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // Plain fields: a poisoned lock still holds a consistent state.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scenario's side of the emulated gas board: set the air, age a cell, reach the ADCs for
/// fault injection.
#[derive(Debug, Clone)]
pub struct GasBoardHandle {
    adcs: [Ads1115Handle; 2],
    shared: Arc<Mutex<State>>,
}

/// The OX cell's response to NO2, V/ppb: as the firmware's default wiring assumes.
fn o3_no2_cross_v_per_ppb() -> f64 {
    f64::from(GasWiring::default().o3_no2_cross_nv_per_ppb) * 1e-9
}

impl GasBoardHandle {
    /// What the cells see from the next conversion on.
    pub fn set_air(&self, air: GasAir) {
        let mut state = lock(&self.shared);
        state.air = air;
        self.apply(&state);
    }

    /// Replaces a cell's true constants (an aged or miscalibrated cell).
    pub fn set_cell(&self, gas: Gas, cell: TrueCell) {
        let mut state = lock(&self.shared);
        state.cells[gas.index()] = cell;
        self.apply(&state);
    }

    /// A cell's true constants.
    pub fn cell(&self, gas: Gas) -> TrueCell {
        lock(&self.shared).cells[gas.index()]
    }

    /// The first (0x48) or second (0x49) ADC, for fault injection.
    pub fn adc(&self, adc: Adc) -> &Ads1115Handle {
        match adc {
            Adc::First => &self.adcs[0],
            Adc::Second => &self.adcs[1],
        }
    }

    /// Sets every electrode's voltage on the ADC inputs the default wiring gives it.
    fn apply(&self, state: &State) {
        let wiring = GasWiring::default();
        let mut inputs = [[0.0; 4]; 2];
        for gas in Gas::ALL {
            let Some(channel) = wiring.channel(gas) else {
                continue;
            };
            let cell = state.cells[gas.index()];
            let background = cell.ae_drift_v_per_c * (state.air.temperature_c - 20.0);
            let mut signal = cell.v_per_ppb * state.air.ppb(gas);
            if gas == Gas::Ozone {
                signal += o3_no2_cross_v_per_ppb() * state.air.no2_ppb;
            }
            let we = cell.zeros_v.0 + cell.n * background + signal;
            let ae = cell.zeros_v.1 + background;
            let board = &mut inputs[adc_index(channel)];
            board[input(channel.working)] = we;
            board[input(channel.auxiliary)] = ae;
        }
        for (adc, volts) in self.adcs.iter().zip(inputs) {
            adc.set_inputs(volts);
        }
    }
}

fn adc_index(channel: &GasChannel) -> usize {
    match channel.adc {
        Adc::First => 0,
        Adc::Second => 1,
    }
}

fn input(channel: firmware::drivers::ads1115::Channel) -> usize {
    use firmware::drivers::ads1115::Channel;
    match channel {
        Channel::Ain0 | Channel::Differential01 => 0,
        Channel::Ain1 => 1,
        Channel::Ain2 => 2,
        Channel::Ain3 => 3,
    }
}

/// The firmware's gas front end over two emulated ADCs (0x48, 0x49, with input noise) and
/// certified cells seeing `air`.
pub fn gas_board(air: GasAir) -> (GasFrontEnd<EmulatedAds1115, NoDelay>, GasBoardHandle) {
    let first = EmulatedAds1115::new_at(Address::Gnd.value(), [0.0; 4]);
    let second = EmulatedAds1115::new_at(Address::Vdd.value(), [0.0; 4]);
    let handle = GasBoardHandle {
        adcs: [first.handle(), second.handle()],
        shared: Arc::new(Mutex::new(State {
            cells: Gas::ALL.map(TrueCell::as_certified),
            air,
        })),
    };
    for adc in &handle.adcs {
        adc.set_noise(true);
    }
    handle.apply(&lock(&handle.shared));
    let front_end = GasFrontEnd::new(
        Ads1115::new_with_address(first, NoDelay, Address::Gnd),
        Ads1115::new_with_address(second, NoDelay, Address::Vdd),
        GasWiring::default(),
    );
    (front_end, handle)
}

/// The same ADCs behind fresh drivers, as after an MCU reset.
pub fn restart_gas_board(
    front_end: GasFrontEnd<EmulatedAds1115, NoDelay>,
) -> GasFrontEnd<EmulatedAds1115, NoDelay> {
    let [first, second] = front_end.destroy();
    let (first, delay_1) = first.destroy();
    let (second, delay_2) = second.destroy();
    GasFrontEnd::new(
        Ads1115::new_with_address(first, delay_1, Address::Gnd),
        Ads1115::new_with_address(second, delay_2, Address::Vdd),
        GasWiring::default(),
    )
}
