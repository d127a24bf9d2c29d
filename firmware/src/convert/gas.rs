//! Electrochemical gas cells with a working and an auxiliary electrode (Alphasense B4 style, on an
//! individual sensor board or analogue front end that turns each electrode's current into a
//! voltage): from the two voltages to ppb, and from ppb to the frame's µg/m³. Integers only.
//!
//! The working electrode (WE) sees the gas; the auxiliary electrode (AE), buried in the
//! electrolyte, sees only the cell's background current, which follows temperature. Alphasense's
//! "algorithm 1" subtracts it, scaled by a factor n:
//!
//! ```text
//! WEc = (WE − WE0) − n·(AE − AE0)          ppb = WEc / sensitivity
//! ```
//!
//! with WE0 and AE0 the electrodes' outputs in zero air and the sensitivity the WEc per ppb, from
//! the sensor's calibration certificate or a zero and span calibration in the field
//! ([`GasCalibration`]). Then µg/m³ = ppb × MW / 24.45 at 25 °C and 1 atm (domain.md §1.7).

use protocol::command::Probe;

/// The four gases of the air frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gas {
    /// Carbon monoxide; the frame carries µg/m³.
    CarbonMonoxide,
    /// Nitrogen dioxide; 0.1 µg/m³.
    NitrogenDioxide,
    /// Sulphur dioxide; 0.1 µg/m³.
    SulphurDioxide,
    /// Ozone; 0.1 µg/m³.
    Ozone,
}

impl Gas {
    /// Every gas, in frame order of their fields (`co`, `no2`, `so2`, `o3`).
    pub const ALL: [Gas; 4] = [
        Gas::CarbonMonoxide,
        Gas::NitrogenDioxide,
        Gas::SulphurDioxide,
        Gas::Ozone,
    ];

    /// 1 ppb in 0.001 µg/m³ at 25 °C and 1 atm: MW / 24.45 (domain.md §1.7: CO 1.145, NO2
    /// 1.882, SO2 2.620, O3 1.963).
    pub const fn milli_ug_per_ppb(self) -> i64 {
        match self {
            Gas::CarbonMonoxide => 1_145,
            Gas::NitrogenDioxide => 1_882,
            Gas::SulphurDioxide => 2_620,
            Gas::Ozone => 1_963,
        }
    }

    /// Frame units per µg/m³: CO is carried in whole µg/m³, the others in 0.1 µg/m³
    /// (`FORMAT.md` §4.1).
    pub const fn units_per_ug(self) -> i64 {
        match self {
            Gas::CarbonMonoxide => 1,
            _ => 10,
        }
    }

    /// The largest value the frame field carries: CO 0–2 000 000 µg/m³, the others a u16.
    pub const fn frame_max(self) -> i64 {
        match self {
            Gas::CarbonMonoxide => 2_000_000,
            _ => u16::MAX as i64,
        }
    }

    /// The calibration command's probe for this gas.
    pub const fn probe(self) -> Probe {
        match self {
            Gas::CarbonMonoxide => Probe::CarbonMonoxide,
            Gas::NitrogenDioxide => Probe::NitrogenDioxide,
            Gas::SulphurDioxide => Probe::SulphurDioxide,
            Gas::Ozone => Probe::Ozone,
        }
    }

    /// The gas a calibration command's probe names, if it names one.
    pub const fn from_probe(probe: Probe) -> Option<Gas> {
        match probe {
            Probe::CarbonMonoxide => Some(Gas::CarbonMonoxide),
            Probe::NitrogenDioxide => Some(Gas::NitrogenDioxide),
            Probe::SulphurDioxide => Some(Gas::SulphurDioxide),
            Probe::Ozone => Some(Gas::Ozone),
            _ => None,
        }
    }

    /// Its index in [`Gas::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Gas::CarbonMonoxide => 0,
            Gas::NitrogenDioxide => 1,
            Gas::SulphurDioxide => 2,
            Gas::Ozone => 3,
        }
    }
}

/// A cell's zero offsets and sensitivity: the sensor's certificate values, or the result of a
/// zero-air and span-gas calibration. Kept in flash by [`crate::storage::Settings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasCalibration {
    /// WE0: the working electrode's output in zero air, µV at the ADC (electronic and sensor
    /// zero together, what Alphasense calls the total zero offset).
    pub we_zero_uv: i32,
    /// AE0: the auxiliary electrode's output in zero air, µV.
    pub ae_zero_uv: i32,
    /// WEc per ppb of the gas, nV/ppb; never 0.
    pub sensitivity_nv_per_ppb: i32,
    /// When the last calibration point was taken, Unix s; 0 when unknown (certificate values
    /// entered without a date, or a node without a synced clock), which is never due.
    pub taken_at_s: u32,
}

/// Length of the flash record: version, WE0, AE0, sensitivity, time.
const RECORD_LEN: usize = 1 + 4 * 4;
/// Distinct from the probe calibration record's version byte, so one is never read as the other.
const RECORD_VERSION: u8 = 0x47;

impl GasCalibration {
    /// True when the last point is older than `interval_s` at `now_s` (Unix s); never when the
    /// time of either is unknown (0).
    pub fn is_due(&self, now_s: u32, interval_s: u32) -> bool {
        self.taken_at_s != 0 && now_s != 0 && now_s.saturating_sub(self.taken_at_s) > interval_s
    }

    pub(crate) fn to_bytes(self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[0] = RECORD_VERSION;
        out[1..5].copy_from_slice(&self.we_zero_uv.to_le_bytes());
        out[5..9].copy_from_slice(&self.ae_zero_uv.to_le_bytes());
        out[9..13].copy_from_slice(&self.sensitivity_nv_per_ppb.to_le_bytes());
        out[13..17].copy_from_slice(&self.taken_at_s.to_le_bytes());
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != RECORD_LEN || bytes[0] != RECORD_VERSION {
            return None;
        }
        let word = |at: usize| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        let calibration = GasCalibration {
            we_zero_uv: i32::from_le_bytes(word(1)),
            ae_zero_uv: i32::from_le_bytes(word(5)),
            sensitivity_nv_per_ppb: i32::from_le_bytes(word(9)),
            taken_at_s: u32::from_le_bytes(word(13)),
        };
        (calibration.sensitivity_nv_per_ppb != 0).then_some(calibration)
    }
}

/// `n / d` rounded to the nearest integer, halves away from zero; `None` when `d` is 0.
fn div_round(n: i64, d: i64) -> Option<i64> {
    if d == 0 {
        return None;
    }
    let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
    Some(if n >= 0 { (n + d / 2) / d } else { (n - d / 2) / d })
}

/// WEc in µV: the working electrode's signal with its zero and the auxiliary electrode's
/// background (scaled by `n_milli` / 1000) taken away.
pub fn corrected_uv(we_uv: i32, ae_uv: i32, calibration: &GasCalibration, n_milli: i32) -> i64 {
    let we = i64::from(we_uv) - i64::from(calibration.we_zero_uv);
    let ae = i64::from(ae_uv) - i64::from(calibration.ae_zero_uv);
    we - div_round(i64::from(n_milli) * ae, 1_000).unwrap_or(0)
}

/// The gas in 0.001 ppb for a corrected signal `wec_uv`; `None` for a zero sensitivity.
pub fn milli_ppb(wec_uv: i64, calibration: &GasCalibration) -> Option<i64> {
    div_round(
        wec_uv.checked_mul(1_000_000)?,
        i64::from(calibration.sensitivity_nv_per_ppb),
    )
}

/// The signal an interfering gas at `milli_ppb` adds to a cell whose cross-sensitivity to it is
/// `nv_per_ppb`, in µV: an oxidising-gas cell (OX-B431) answers NO2 nearly as much as ozone.
pub fn cross_uv(milli_ppb: i64, nv_per_ppb: i32) -> i64 {
    div_round(milli_ppb.saturating_mul(i64::from(nv_per_ppb)), 1_000_000).unwrap_or(0)
}

/// 0.001 ppb of `gas` in its frame unit (µg/m³ for CO, 0.1 µg/m³ for the others), rounded;
/// signed: a cell in clean air reads a little either side of zero.
pub fn frame_units(gas: Gas, milli_ppb: i64) -> i64 {
    let scaled = milli_ppb
        .saturating_mul(gas.milli_ug_per_ppb())
        .saturating_mul(gas.units_per_ug());
    div_round(scaled, 1_000_000).unwrap_or(0)
}

/// The sensitivity that makes a corrected signal `wec_uv` read `reference_ppb` (a span gas), in
/// nV/ppb; `None` for a reference of 0 or a signal too small to be a working cell.
pub fn span_sensitivity(wec_uv: i64, reference_ppb: i32) -> Option<i32> {
    if reference_ppb <= 0 {
        return None;
    }
    let nv = div_round(wec_uv.checked_mul(1_000)?, i64::from(reference_ppb))?;
    // Below 1 µV per ppb a 16-bit ADC cannot tell ppb apart: no gas reached the cell, or it is dead.
    (nv.abs() >= 1_000).then(|| i32::try_from(nv).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CO: GasCalibration = GasCalibration {
        we_zero_uv: 330_000,
        ae_zero_uv: 320_000,
        sensitivity_nv_per_ppb: 420_000,
        taken_at_s: 0,
    };

    #[test]
    fn algorithm_1_and_the_unit_conversion_match_a_float_reference() {
        // 500 ppb CO at a temperature where the background moved AE by −4 mV, n = 3.5.
        let (ae, n) = (CO.ae_zero_uv - 4_000, 3_500);
        let we = CO.we_zero_uv + 420 * 500 + (-14_000);
        let wec = corrected_uv(we, ae, &CO, n);
        assert_eq!(wec, 210_000);
        let ppb = milli_ppb(wec, &CO).expect("sensitivity");
        assert_eq!(ppb, 500_000);
        // 500 ppb × 28.01 / 24.45 = 572.8 µg/m³.
        assert_eq!(frame_units(Gas::CarbonMonoxide, ppb), 573);
        let float = 500.0 * 28.01 / 24.45;
        assert!((573.0_f64 - float).abs() < 0.6);
        // 20 ppb NO2 = 37.64 µg/m³ in 0.1 µg/m³.
        assert_eq!(frame_units(Gas::NitrogenDioxide, 20_000), 376);
        assert_eq!(frame_units(Gas::Ozone, -1_000), -20, "signed near zero");
    }

    #[test]
    fn a_span_point_gives_the_sensitivity_and_a_dead_cell_none() {
        assert_eq!(span_sensitivity(210_000, 500), Some(420_000));
        assert_eq!(span_sensitivity(-60_000, 200), Some(-300_000), "either sign");
        assert_eq!(
            span_sensitivity(300, 500),
            None,
            "0.6 µV per ppb: no gas reached it"
        );
        assert_eq!(span_sensitivity(1_000, 0), None);
        assert_eq!(
            milli_ppb(
                1,
                &GasCalibration {
                    sensitivity_nv_per_ppb: 0,
                    ..CO
                }
            ),
            None
        );
        assert_eq!(cross_uv(30_000, 280_000), 8_400, "30 ppb NO2 on an OX cell");
    }

    #[test]
    fn the_record_round_trips_and_refuses_other_records() {
        let cal = GasCalibration {
            taken_at_s: 1_764_201_600,
            ..CO
        };
        assert_eq!(GasCalibration::from_bytes(&cal.to_bytes()), Some(cal));
        assert_eq!(GasCalibration::from_bytes(&[1; RECORD_LEN]), None);
        let mut zero = cal.to_bytes();
        zero[9..13].copy_from_slice(&0i32.to_le_bytes());
        assert_eq!(GasCalibration::from_bytes(&zero), None, "a zero sensitivity");
        assert!(!cal.is_due(0, 10), "clock unknown");
        assert!(cal.is_due(1_764_201_611, 10));
        assert!(!CO.is_due(u32::MAX, 10), "certificate without a date");
    }
}
