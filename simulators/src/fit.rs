//! Which sensors a simulated air node carries (its "fit"), the emulated devices behind them and
//! the handles a scenario drives them through. The firmware's air sampler is generic over its
//! sensors; a simulated fleet picks the fit per node at run time, so the sensors sit behind enums
//! that hand each call to the firmware's own driver.

use std::fmt;
use std::str::FromStr;

use firmware::drivers::{Bme280, Pms5003, Sds011, Sht4x};
use firmware::node::{
    AirSampler, ClimateReading, ClimateSensor, GasFrontEnd, ParticulateSensor, PmFault, PmReading,
    SensorFault,
};

use crate::devices::{
    Bme280Handle, Climate, EmulatedAds1115, EmulatedBme280, EmulatedPms5003, EmulatedSds011, EmulatedSht4x,
    GasAir, GasBoardHandle, NoDelay, PmLevels, Pms5003Handle, Sds011Handle, Sht4xHandle, Weather, gas_board,
    restart_gas_board,
};
use crate::node::AirConditions;

/// The particulate sensor of an air node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PmModel {
    /// Plantower PMS5003 (PM1.0, PM2.5, PM10).
    #[default]
    Pms5003,
    /// Nova SDS011 (PM2.5, PM10).
    Sds011,
}

/// The climate sensors of an air node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClimateModel {
    /// Sensirion SHT4x: temperature and humidity.
    #[default]
    Sht4x,
    /// Bosch BME280: temperature, humidity and pressure.
    Bme280,
    /// An SHT4x for temperature and humidity beside a BME280 for pressure.
    Sht4xAndBme280,
}

/// What an air node is fitted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AirFit {
    /// The particulate sensor.
    pub pm: PmModel,
    /// The climate sensors.
    pub climate: ClimateModel,
    /// CO, NO2, SO2 and O3 cells on two ADS1115s.
    pub gas: bool,
}

impl Default for AirFit {
    /// PMS5003, SHT4x and the gas cells.
    fn default() -> Self {
        AirFit {
            pm: PmModel::Pms5003,
            climate: ClimateModel::Sht4x,
            gas: true,
        }
    }
}

impl AirFit {
    /// The fits a fleet cycles through with [`AirFits::Mixed`].
    pub const ALL: [AirFit; 3] = [
        AirFit {
            pm: PmModel::Pms5003,
            climate: ClimateModel::Sht4x,
            gas: true,
        },
        AirFit {
            pm: PmModel::Sds011,
            climate: ClimateModel::Bme280,
            gas: true,
        },
        AirFit {
            pm: PmModel::Pms5003,
            climate: ClimateModel::Sht4xAndBme280,
            gas: true,
        },
    ];
}

impl fmt::Display for AirFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pm = match self.pm {
            PmModel::Pms5003 => "pms5003",
            PmModel::Sds011 => "sds011",
        };
        let climate = match self.climate {
            ClimateModel::Sht4x => "sht4x",
            ClimateModel::Bme280 => "bme280",
            ClimateModel::Sht4xAndBme280 => "sht4x+bme280",
        };
        write!(f, "{pm}+{climate}")?;
        if self.gas {
            f.write_str("+gas")?;
        }
        Ok(())
    }
}

impl FromStr for AirFit {
    type Err = String;

    /// `pms5003+sht4x+gas`, `sds011+bme280`, `pms5003+sht4x+bme280`, ...: one particulate sensor,
    /// one or both climate sensors, and `gas` for the gas cells, in any order.
    fn from_str(text: &str) -> Result<Self, String> {
        let (mut pm, mut sht, mut bme, mut gas) = (None, false, false, false);
        for part in text.split('+').map(str::trim) {
            match part.to_ascii_lowercase().as_str() {
                "pms5003" if pm.is_none() => pm = Some(PmModel::Pms5003),
                "sds011" if pm.is_none() => pm = Some(PmModel::Sds011),
                "sht4x" => sht = true,
                "bme280" => bme = true,
                "gas" => gas = true,
                other => {
                    return Err(format!(
                        "unknown or repeated sensor {other:?} in {text:?}: one of pms5003 or sds011, then sht4x, bme280 or both, and gas, joined by +"
                    ));
                }
            }
        }
        let pm = pm.ok_or_else(|| format!("no particulate sensor (pms5003 or sds011) in {text:?}"))?;
        let climate = match (sht, bme) {
            (true, false) => ClimateModel::Sht4x,
            (false, true) => ClimateModel::Bme280,
            (true, true) => ClimateModel::Sht4xAndBme280,
            (false, false) => return Err(format!("no climate sensor (sht4x, bme280) in {text:?}")),
        };
        Ok(AirFit { pm, climate, gas })
    }
}

/// How a fleet fits its air nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AirFits {
    /// Every air node the same.
    All(AirFit),
    /// Each node by its id, cycling through [`AirFit::ALL`]: a mixed fleet, as a province that
    /// bought sensors over several years has.
    Mixed,
}

impl Default for AirFits {
    /// PMS5003, SHT4x and the gas cells everywhere.
    fn default() -> Self {
        AirFits::All(AirFit::default())
    }
}

impl AirFits {
    /// The fit of node `node_id`.
    pub fn of(&self, node_id: u32) -> AirFit {
        match self {
            AirFits::All(fit) => *fit,
            AirFits::Mixed => AirFit::ALL[node_id as usize % AirFit::ALL.len()],
        }
    }
}

impl FromStr for AirFits {
    type Err = String;

    /// `mixed`, or one fit for every node (see [`AirFit`]'s `FromStr`).
    fn from_str(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("mixed") {
            Ok(AirFits::Mixed)
        } else {
            text.parse().map(AirFits::All)
        }
    }
}

/// The particulate sensor's driver, whichever is fitted.
#[derive(Debug)]
pub enum SimPm {
    /// A PMS5003.
    Pms5003(Pms5003<EmulatedPms5003>),
    /// An SDS011.
    Sds011(Sds011<EmulatedSds011>),
}

impl ParticulateSensor for SimPm {
    fn warm_up_ms(&self) -> u64 {
        match self {
            SimPm::Pms5003(s) => s.warm_up_ms(),
            SimPm::Sds011(s) => s.warm_up_ms(),
        }
    }

    fn start(&mut self) -> Result<(), PmFault> {
        match self {
            SimPm::Pms5003(s) => s.start(),
            SimPm::Sds011(s) => s.start(),
        }
    }

    fn read_pm(&mut self) -> Result<PmReading, PmFault> {
        match self {
            SimPm::Pms5003(s) => s.read_pm(),
            SimPm::Sds011(s) => s.read_pm(),
        }
    }

    fn stop(&mut self) -> Result<(), PmFault> {
        match self {
            SimPm::Pms5003(s) => s.stop(),
            SimPm::Sds011(s) => s.stop(),
        }
    }

    fn frames_rejected(&self) -> u32 {
        match self {
            SimPm::Pms5003(s) => s.frames_rejected(),
            SimPm::Sds011(s) => s.frames_rejected(),
        }
    }
}

/// The first climate sensor's driver, whichever is fitted.
#[derive(Debug)]
pub enum SimClimate {
    /// An SHT4x.
    Sht4x(Sht4x<EmulatedSht4x, NoDelay>),
    /// A BME280.
    Bme280(Bme280<EmulatedBme280, NoDelay>),
}

impl ClimateSensor for SimClimate {
    fn read_climate(&mut self, uptime_ms: u64) -> Result<ClimateReading, SensorFault> {
        match self {
            SimClimate::Sht4x(s) => s.read_climate(uptime_ms),
            SimClimate::Bme280(s) => s.read_climate(uptime_ms),
        }
    }
}

/// The simulated gas cells' front end.
pub type SimGas = GasFrontEnd<EmulatedAds1115, NoDelay>;

/// The simulated air node's sampler: any fit.
pub type SimAirSampler =
    AirSampler<SimPm, SimClimate, Option<Bme280<EmulatedBme280, NoDelay>>, Option<SimGas>>;

/// The scenario's handles on an air node's emulated sensors; `None` for those not fitted.
#[derive(Debug, Clone, Default)]
pub struct AirSensors {
    /// The PMS5003, if fitted.
    pub pms5003: Option<Pms5003Handle>,
    /// The SDS011, if fitted.
    pub sds011: Option<Sds011Handle>,
    /// The SHT4x, if fitted.
    pub sht4x: Option<Sht4xHandle>,
    /// The BME280, if fitted.
    pub bme280: Option<Bme280Handle>,
    /// The gas cells, if fitted.
    pub gas: Option<GasBoardHandle>,
}

fn pm_levels(c: &AirConditions) -> PmLevels {
    PmLevels {
        pm1_0: c.pm1_0,
        pm2_5: c.pm2_5,
        pm10: c.pm10,
    }
}

fn climate(c: &AirConditions) -> Climate {
    Climate {
        temperature_c: c.temperature_c,
        humidity_pct: c.humidity_pct,
    }
}

fn gas_air(c: &AirConditions) -> GasAir {
    GasAir {
        co_ppb: f64::from(c.co_ppb),
        no2_ppb: f64::from(c.no2_ppb),
        so2_ppb: f64::from(c.so2_ppb),
        o3_ppb: f64::from(c.o3_ppb),
        temperature_c: f64::from(c.temperature_c),
    }
}

fn weather(c: &AirConditions) -> Weather {
    Weather {
        temperature_c: f64::from(c.temperature_c),
        humidity_pct: f64::from(c.humidity_pct),
        pressure_hpa: f64::from(c.pressure_hpa),
    }
}

impl AirSensors {
    /// What every fitted sensor sees from its next reading on.
    pub fn set_conditions(&self, c: &AirConditions) {
        if let Some(pms) = &self.pms5003 {
            pms.set_levels(pm_levels(c));
        }
        if let Some(sds) = &self.sds011 {
            sds.set_levels(c.pm2_5, c.pm10);
        }
        if let Some(sht) = &self.sht4x {
            sht.set_climate(climate(c));
        }
        if let Some(bme) = &self.bme280 {
            bme.set_weather(weather(c));
        }
        if let Some(gas) = &self.gas {
            gas.set_air(gas_air(c));
        }
    }
}

/// Emulated sensors for `fit`, seeing `conditions`, with the drivers the node's sampler takes.
/// `serial` is the SHT4x's serial number.
pub fn air_sensors(fit: AirFit, conditions: &AirConditions, serial: u32) -> (SimAirSampler, AirSensors) {
    let mut handles = AirSensors::default();
    let pm = match fit.pm {
        PmModel::Pms5003 => {
            let device = EmulatedPms5003::new(pm_levels(conditions));
            handles.pms5003 = Some(device.handle());
            SimPm::Pms5003(Pms5003::new(device))
        }
        PmModel::Sds011 => {
            let device = EmulatedSds011::new(conditions.pm2_5, conditions.pm10);
            handles.sds011 = Some(device.handle());
            SimPm::Sds011(Sds011::new(device))
        }
    };
    let mut bme = || {
        let device = EmulatedBme280::new(weather(conditions));
        handles.bme280 = Some(device.handle());
        Bme280::new(device, NoDelay)
    };
    let (first, second) = match fit.climate {
        ClimateModel::Bme280 => (SimClimate::Bme280(bme()), None),
        ClimateModel::Sht4x | ClimateModel::Sht4xAndBme280 => {
            let second = (fit.climate == ClimateModel::Sht4xAndBme280).then(&mut bme);
            let device = EmulatedSht4x::new(climate(conditions), serial);
            handles.sht4x = Some(device.handle());
            (SimClimate::Sht4x(Sht4x::new(device, NoDelay)), second)
        }
    };
    let gas = fit.gas.then(|| {
        let (front_end, handle) = gas_board(gas_air(conditions));
        handles.gas = Some(handle);
        front_end
    });
    let sampler = AirSampler::new(pm, first)
        .with_second_climate(second)
        .with_gas(gas);
    (sampler, handles)
}

/// The same sensors behind fresh drivers, as after an MCU reset: the devices keep their state (a
/// sleeping fan stays asleep), the drivers' RAM does not.
pub fn restart_air(sampler: SimAirSampler) -> SimAirSampler {
    let (pm, first, second, gas) = sampler.destroy();
    let pm = match pm {
        SimPm::Pms5003(s) => SimPm::Pms5003(Pms5003::new(s.destroy())),
        SimPm::Sds011(s) => SimPm::Sds011(Sds011::new(s.destroy())),
    };
    let first = match first {
        SimClimate::Sht4x(s) => {
            let (bus, delay) = s.destroy();
            SimClimate::Sht4x(Sht4x::new(bus, delay))
        }
        SimClimate::Bme280(s) => {
            let (bus, delay) = s.destroy();
            SimClimate::Bme280(Bme280::new(bus, delay))
        }
    };
    let second = second.map(|s| {
        let (bus, delay) = s.destroy();
        Bme280::new(bus, delay)
    });
    AirSampler::new(pm, first)
        .with_second_climate(second)
        .with_gas(gas.map(restart_gas_board))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_parse_and_print_back() {
        for fit in AirFit::ALL {
            assert_eq!(fit.to_string().parse::<AirFit>(), Ok(fit));
        }
        assert_eq!(
            "BME280 + SDS011"
                .parse::<AirFit>()
                .map(|f| (f.pm, f.climate, f.gas)),
            Ok((PmModel::Sds011, ClimateModel::Bme280, false))
        );
        assert_eq!(AirFit::default().to_string(), "pms5003+sht4x+gas");
        assert!("sht4x".parse::<AirFit>().is_err(), "no particulate sensor");
        assert!("pms5003+sds011+sht4x".parse::<AirFit>().is_err(), "two");
        assert!("pms5003".parse::<AirFit>().is_err(), "no climate sensor");
        assert_eq!("mixed".parse::<AirFits>(), Ok(AirFits::Mixed));
        let mixed: Vec<AirFit> = (101..104).map(|id| AirFits::Mixed.of(id)).collect();
        assert_eq!(mixed.len(), 3);
        assert!(mixed.iter().all(|f| AirFit::ALL.contains(f)) && mixed[0] != mixed[1]);
    }
}
