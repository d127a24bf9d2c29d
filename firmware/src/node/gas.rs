//! The air station's gas cells: CO, NO2, SO2 and O3 electrochemical sensors (Alphasense B4 style,
//! a working and an auxiliary electrode each) read through two ADS1115s, converted with
//! [`crate::convert::gas`], with their calibrations in flash and the quality flags of every
//! sensor: a fault, an out-of-range or saturated reading, a stuck value, a calibration due.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use protocol::command::{CalibrationPoint, CalibrationStep};

use super::absent::NoSensor;
use super::sampler::Calibrated;
use super::stuck::{StuckDetector, fingerprint};
use crate::convert::gas::{self as convert, Gas, GasCalibration};
use crate::drivers::ads1115::{self, Ads1115, Channel, Gain};

/// One reading of the gas cells, in the frame's units and signed (a cell in clean air reads a
/// little either side of zero; the sampler averages the signed values and sends a negative mean
/// as 0). `values` follows [`Gas::ALL`]: CO, NO2, SO2, O3; `None` for a cell not fitted or not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GasReading {
    /// CO in µg/m³; NO2, SO2, O3 in 0.1 µg/m³.
    pub values: [Option<i64>; 4],
    /// An ADC did not answer.
    pub fault: bool,
    /// A reading was saturated, below [`NEGATIVE_LIMIT_PPB`] or above its frame field.
    pub out_of_range: bool,
    /// A cell's raw counts have not changed for [`super::STUCK_AFTER_MS`].
    pub stuck: bool,
    /// A cell's calibration is older than its interval.
    pub calibration_due: bool,
}

/// The gas seam of the air station.
pub trait GasSensor {
    /// Reads every cell once. `uptime_ms` is for the stuck-value check.
    fn read_gases(&mut self, uptime_ms: u64) -> GasReading;

    /// The wall clock in Unix s (0 when not synced), for the calibration-due check.
    fn set_time(&mut self, now_s: u32) {
        let _ = now_s;
    }

    /// Takes one calibration point (zero air, a span gas, or clear) and returns what the node
    /// keeps in flash; `None` if there is no such cell or the point cannot be taken now.
    fn calibrate(&mut self, step: CalibrationStep, now_s: u32) -> Option<Calibrated> {
        let _ = (step, now_s);
        None
    }
}

impl GasSensor for NoSensor {
    fn read_gases(&mut self, _uptime_ms: u64) -> GasReading {
        GasReading::default()
    }
}

/// Cells that may not be fitted (chosen at run time, as the simulators do).
impl<T: GasSensor> GasSensor for Option<T> {
    fn read_gases(&mut self, uptime_ms: u64) -> GasReading {
        self.as_mut()
            .map_or_else(GasReading::default, |g| g.read_gases(uptime_ms))
    }

    fn set_time(&mut self, now_s: u32) {
        if let Some(g) = self {
            g.set_time(now_s);
        }
    }

    fn calibrate(&mut self, step: CalibrationStep, now_s: u32) -> Option<Calibrated> {
        self.as_mut()?.calibrate(step, now_s)
    }
}

/// Which of the front end's two ADCs a cell is wired to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adc {
    /// The first (ADDR to GND, 0x48, by default).
    First,
    /// The second (ADDR to VDD, 0x49).
    Second,
}

/// One cell: where its electrodes are wired and its constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasChannel {
    /// The ADC.
    pub adc: Adc,
    /// The working electrode's input.
    pub working: Channel,
    /// The auxiliary electrode's input.
    pub auxiliary: Channel,
    /// The ADC's range for both.
    pub gain: Gain,
    /// Alphasense's n (its table gives it by temperature), × 1000.
    pub n_milli: i32,
    /// The sensor board's certificate values, used until a field calibration is kept in flash.
    pub factory: GasCalibration,
}

/// The cells fitted, and what the front end needs to know about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasWiring {
    /// Carbon monoxide (CO-B4).
    pub co: Option<GasChannel>,
    /// Nitrogen dioxide (NO2-B43F).
    pub no2: Option<GasChannel>,
    /// Sulphur dioxide (SO2-B4).
    pub so2: Option<GasChannel>,
    /// Ozone (OX-B431, which answers NO2 too).
    pub o3: Option<GasChannel>,
    /// The ozone cell's signal per ppb of NO2, nV/ppb, taken away using the NO2 cell's reading
    /// (0 when no NO2 cell is fitted or the ozone cell is NO2-filtered).
    pub o3_no2_cross_nv_per_ppb: i32,
    /// A cell is due for calibration this long after its last point (s).
    pub calibration_interval_s: u32,
}

impl GasWiring {
    /// The cell for `gas`, if fitted.
    pub fn channel(&self, gas: Gas) -> Option<&GasChannel> {
        match gas {
            Gas::CarbonMonoxide => self.co.as_ref(),
            Gas::NitrogenDioxide => self.no2.as_ref(),
            Gas::SulphurDioxide => self.so2.as_ref(),
            Gas::Ozone => self.o3.as_ref(),
        }
    }
}

const fn cell(
    adc: Adc,
    working: Channel,
    auxiliary: Channel,
    gain: Gain,
    n_milli: i32,
    zeros_uv: (i32, i32),
    sensitivity_nv_per_ppb: i32,
) -> GasChannel {
    GasChannel {
        adc,
        working,
        auxiliary,
        gain,
        n_milli,
        factory: GasCalibration {
            we_zero_uv: zeros_uv.0,
            ae_zero_uv: zeros_uv.1,
            sensitivity_nv_per_ppb,
            taken_at_s: 0,
        },
    }
}

impl Default for GasWiring {
    /// Alphasense B4 cells on individual sensor boards, two cells per ADS1115: CO on AIN0/AIN1
    /// and NO2 on AIN2/AIN3 of the first, SO2 and O3 likewise on the second. The constants are
    /// typical values, not a certificate: unverified `[U]`, to be replaced by each board's
    /// certificate or a field calibration (docs/firmware.md, "Gas cells"). n is Alphasense's
    /// algorithm-1 factor at 30 °C, the Mekong Delta's usual air temperature; SO2-B4 is corrected
    /// without its auxiliary electrode (n = 0), as Alphasense recommends for it.
    fn default() -> Self {
        use Channel::{Ain0, Ain1, Ain2, Ain3};
        GasWiring {
            // ~0.42 mV/ppb: 1 ppm CO is 420 mV, so ±4.096 V leaves room for 8 ppm.
            co: Some(cell(
                Adc::First,
                Ain0,
                Ain1,
                Gain::Fs4_096V,
                3_500,
                (330_000, 320_000),
                420_000,
            )),
            no2: Some(cell(
                Adc::First,
                Ain2,
                Ain3,
                Gain::Fs2_048V,
                400,
                (225_000, 240_000),
                210_000,
            )),
            so2: Some(cell(
                Adc::Second,
                Ain0,
                Ain1,
                Gain::Fs2_048V,
                0,
                (345_000, 340_000),
                300_000,
            )),
            o3: Some(cell(
                Adc::Second,
                Ain2,
                Ain3,
                Gain::Fs2_048V,
                2_000,
                (235_000, 225_000),
                300_000,
            )),
            o3_no2_cross_nv_per_ppb: 280_000,
            calibration_interval_s: 30 * 86_400,
        }
    }
}

/// The most negative reading accepted, in ppb. A B4 cell's noise is a few ppb and its zero drifts
/// by tens of ppb a year; further below zero the reading is a fault (a cell drying out, a wrong
/// zero), flagged out of range and left out. A judgement, kept in one place.
pub const NEGATIVE_LIMIT_PPB: i64 = 50;

/// Conversions averaged for a calibration point: the noise of one reading would otherwise set
/// the zero for a month.
const CALIBRATION_READINGS: i32 = 8;

/// The cells on two ADS1115s.
#[derive(Debug)]
pub struct GasFrontEnd<I, D> {
    adcs: [Ads1115<I, D>; 2],
    wiring: GasWiring,
    /// Field calibrations kept in flash, by [`Gas::index`]; `None`: the certificate values.
    calibrations: [Option<GasCalibration>; 4],
    stuck: [StuckDetector; 4],
    now_s: u32,
}

impl<I, D> GasFrontEnd<I, D> {
    /// The cells wired as `wiring` on `first` and `second`, on their certificate values.
    pub fn new(first: Ads1115<I, D>, second: Ads1115<I, D>, wiring: GasWiring) -> Self {
        GasFrontEnd {
            adcs: [first, second],
            wiring,
            calibrations: [None; 4],
            stuck: [StuckDetector::default(); 4],
            now_s: 0,
        }
    }

    /// Loads a field calibration kept in flash (at boot).
    pub fn set_calibration(&mut self, gas: Gas, calibration: GasCalibration) {
        self.calibrations[gas.index()] = Some(calibration);
    }

    /// The calibration a cell reads with: the field calibration, or its certificate values.
    pub fn calibration(&self, gas: Gas) -> Option<GasCalibration> {
        let channel = self.wiring.channel(gas)?;
        Some(self.calibrations[gas.index()].unwrap_or(channel.factory))
    }

    /// Gives the two ADCs back.
    pub fn destroy(self) -> [Ads1115<I, D>; 2] {
        self.adcs
    }
}

fn saturated(count: i16) -> bool {
    count == i16::MAX || count == i16::MIN
}

impl<I: I2c, D: DelayNs> GasFrontEnd<I, D> {
    fn adc(&mut self, adc: Adc) -> &mut Ads1115<I, D> {
        match adc {
            Adc::First => &mut self.adcs[0],
            Adc::Second => &mut self.adcs[1],
        }
    }

    /// The working and auxiliary electrodes' raw counts.
    fn counts(&mut self, channel: &GasChannel) -> Result<(i16, i16), ads1115::Error<I::Error>> {
        let adc = self.adc(channel.adc);
        let working = adc.read_raw(channel.working, channel.gain)?;
        let auxiliary = adc.read_raw(channel.auxiliary, channel.gain)?;
        Ok((working, auxiliary))
    }

    /// The electrodes in µV averaged over [`CALIBRATION_READINGS`] conversions; `None` if the ADC
    /// fails or saturates.
    fn averaged_uv(&mut self, channel: &GasChannel) -> Option<(i32, i32)> {
        let (mut we, mut ae) = (0i64, 0i64);
        for _ in 0..CALIBRATION_READINGS {
            let (w, a) = self.counts(channel).ok()?;
            if saturated(w) || saturated(a) {
                return None;
            }
            we += i64::from(channel.gain.to_microvolts(w));
            ae += i64::from(channel.gain.to_microvolts(a));
        }
        let n = i64::from(CALIBRATION_READINGS);
        Some((i32::try_from(we / n).ok()?, i32::try_from(ae / n).ok()?))
    }

    /// A cell's corrected signal WEc in µV from electrode voltages, with the ozone cell's NO2
    /// response taken away using `no2_milli_ppb`.
    fn corrected(
        &self,
        gas: Gas,
        channel: &GasChannel,
        uv: (i32, i32),
        no2_milli_ppb: Option<i64>,
    ) -> Option<i64> {
        let calibration = self.calibration(gas)?;
        let mut wec = convert::corrected_uv(uv.0, uv.1, &calibration, channel.n_milli);
        if gas == Gas::Ozone
            && let Some(no2) = no2_milli_ppb
        {
            wec -= convert::cross_uv(no2, self.wiring.o3_no2_cross_nv_per_ppb);
        }
        Some(wec)
    }

    /// The NO2 cell's reading now, in 0.001 ppb, for the ozone cell's correction.
    fn no2_now(&mut self) -> Option<i64> {
        let channel = *self.wiring.channel(Gas::NitrogenDioxide)?;
        let uv = self.averaged_uv(&channel)?;
        let wec = self.corrected(Gas::NitrogenDioxide, &channel, uv, None)?;
        convert::milli_ppb(wec, &self.calibration(Gas::NitrogenDioxide)?)
    }
}

impl<I: I2c, D: DelayNs> GasSensor for GasFrontEnd<I, D> {
    fn read_gases(&mut self, uptime_ms: u64) -> GasReading {
        let mut reading = GasReading::default();
        let mut milli_ppb = [None; 4];
        for gas in Gas::ALL {
            let i = gas.index();
            let Some(channel) = self.wiring.channel(gas).copied() else {
                continue;
            };
            let Ok((we, ae)) = self.counts(&channel) else {
                reading.fault = true;
                continue;
            };
            let raw = fingerprint([we, ae].map(|c| u32::from(c as u16)));
            reading.stuck |= self.stuck[i].observe(raw, uptime_ms);
            reading.calibration_due |= self
                .calibration(gas)
                .is_some_and(|c| c.is_due(self.now_s, self.wiring.calibration_interval_s));
            if saturated(we) || saturated(ae) {
                reading.out_of_range = true;
                continue;
            }
            let uv = (channel.gain.to_microvolts(we), channel.gain.to_microvolts(ae));
            // NO2 comes before O3 in `Gas::ALL`, so the ozone cell's correction has it.
            let no2 = milli_ppb[Gas::NitrogenDioxide.index()];
            let Some(ppb) = self
                .corrected(gas, &channel, uv, no2)
                .and_then(|wec| convert::milli_ppb(wec, &self.calibration(gas)?))
            else {
                continue;
            };
            milli_ppb[i] = Some(ppb);
            let value = convert::frame_units(gas, ppb);
            if ppb < -NEGATIVE_LIMIT_PPB * 1_000 || value > gas.frame_max() {
                reading.out_of_range = true;
                continue;
            }
            reading.values[i] = Some(value);
        }
        reading
    }

    fn set_time(&mut self, now_s: u32) {
        self.now_s = now_s;
    }

    fn calibrate(&mut self, step: CalibrationStep, now_s: u32) -> Option<Calibrated> {
        let gas = Gas::from_probe(step.probe)?;
        let channel = *self.wiring.channel(gas)?;
        let current = self.calibration(gas)?;
        let calibration = match step.point {
            CalibrationPoint::Clear => {
                self.calibrations[gas.index()] = None;
                return Some(Calibrated::GasCleared);
            }
            // In zero air: what the electrodes read now is their zero.
            CalibrationPoint::Zero => {
                let (we, ae) = self.averaged_uv(&channel)?;
                GasCalibration {
                    we_zero_uv: we,
                    ae_zero_uv: ae,
                    taken_at_s: now_s,
                    ..current
                }
            }
            // In a span gas of `reference` ppb: the sensitivity that reads it.
            CalibrationPoint::Single => {
                let no2 = if gas == Gas::Ozone { self.no2_now() } else { None };
                let uv = self.averaged_uv(&channel)?;
                let wec = self.corrected(gas, &channel, uv, no2)?;
                GasCalibration {
                    sensitivity_nv_per_ppb: convert::span_sensitivity(wec, step.reference)?,
                    taken_at_s: now_s,
                    ..current
                }
            }
            _ => return None,
        };
        self.calibrations[gas.index()] = Some(calibration);
        Some(Calibrated::Gas(calibration))
    }
}
