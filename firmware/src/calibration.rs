//! Probe calibrations: up to three (raw reading, true value) points per probe, with the time of the
//! last point so the node can flag a calibration that is due. Kept in flash by
//! [`crate::storage::Settings`]; applied by the analogue probe conversions.

/// One calibration point: what the probe read in a standard, and the standard's value, both in
/// the probe's fixed-point units (raw: the driver's raw unit, e.g. µV from the ADC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CalPoint {
    /// The probe's raw reading in the standard.
    pub raw: i32,
    /// The standard's true value (frame units: 0.001 pH, 0.01 mg/L, µS/cm, 0.1 NTU, mm).
    pub reference: i32,
}

/// A probe's calibration: its points in the order they were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Calibration {
    points: [CalPoint; 3],
    len: u8,
    /// When the last point was taken, in s since the Unix epoch (0 when the clock was not synced).
    pub taken_at_s: u32,
    /// The standard's temperature when the last point was taken, in 0.01 °C, if known: a pH
    /// electrode's slope follows the Nernst law from there.
    pub temperature_centi: Option<i16>,
}

/// Length of the flash record: version, count, time, temperature, three points.
const RECORD_LEN: usize = 1 + 1 + 4 + 2 + 3 * 8;
/// `temperature_centi` unknown, in the record.
const NO_TEMPERATURE: i16 = i16::MIN;
const RECORD_VERSION: u8 = 1;

impl Calibration {
    /// The points taken, oldest first.
    pub fn points(&self) -> &[CalPoint] {
        &self.points[..usize::from(self.len)]
    }

    /// Adds a point. A point at the same reference replaces the old one; a fourth point replaces
    /// the oldest, so a recalibration needs no explicit clear.
    pub fn add(&mut self, point: CalPoint, taken_at_s: u32) {
        let len = usize::from(self.len);
        if let Some(same) = self.points[..len]
            .iter_mut()
            .find(|p| p.reference == point.reference)
        {
            *same = point;
        } else if len < self.points.len() {
            self.points[len] = point;
            self.len += 1;
        } else {
            self.points.rotate_left(1);
            self.points[2] = point;
        }
        self.taken_at_s = taken_at_s;
    }

    /// True when the last point is older than `interval_s` at `now_s` (both Unix seconds). A
    /// probe never calibrated is due; an unknown time (0) is not, since the node cannot tell.
    pub fn is_due(&self, now_s: u32, interval_s: u32) -> bool {
        self.len == 0 || (self.taken_at_s != 0 && now_s.saturating_sub(self.taken_at_s) > interval_s)
    }

    pub(crate) fn to_bytes(self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[0] = RECORD_VERSION;
        out[1] = self.len;
        out[2..6].copy_from_slice(&self.taken_at_s.to_le_bytes());
        out[6..8].copy_from_slice(&self.temperature_centi.unwrap_or(NO_TEMPERATURE).to_le_bytes());
        for (i, p) in self.points.iter().enumerate() {
            let at = 8 + i * 8;
            out[at..at + 4].copy_from_slice(&p.raw.to_le_bytes());
            out[at + 4..at + 8].copy_from_slice(&p.reference.to_le_bytes());
        }
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != RECORD_LEN || bytes[0] != RECORD_VERSION || bytes[1] > 3 {
            return None;
        }
        let word = |at: usize| i32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let mut points = [CalPoint::default(); 3];
        for (i, p) in points.iter_mut().enumerate() {
            *p = CalPoint {
                raw: word(8 + i * 8),
                reference: word(12 + i * 8),
            };
        }
        let temperature = i16::from_le_bytes([bytes[6], bytes[7]]);
        Some(Calibration {
            points,
            len: bytes[1],
            taken_at_s: u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]),
            temperature_centi: (temperature != NO_TEMPERATURE).then_some(temperature),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_a_fourth_point_replaces_the_oldest() {
        let mut cal = Calibration::default();
        for (raw, reference) in [(10, 7_000), (20, 4_000), (30, 10_000), (40, 4_000), (50, 9_000)] {
            cal.add(CalPoint { raw, reference }, 1_700_000_000);
        }
        cal.temperature_centi = Some(2_815);
        let refs: Vec<i32> = cal.points().iter().map(|p| p.reference).collect();
        assert_eq!(
            refs,
            [4_000, 10_000, 9_000],
            "pH 4 replaced in place, then pH 7 rotated out"
        );
        assert_eq!(Calibration::from_bytes(&cal.to_bytes()), Some(cal));
        assert_eq!(Calibration::from_bytes(&[0; 3]), None);
    }

    #[test]
    fn due_after_the_interval_and_never_when_the_time_is_unknown() {
        let mut cal = Calibration::default();
        assert!(cal.is_due(1_000, 10));
        cal.add(CalPoint::default(), 1_000);
        assert!(!cal.is_due(1_010, 10));
        assert!(cal.is_due(1_011, 10));
        cal.taken_at_s = 0;
        assert!(!cal.is_due(u32::MAX, 10));
    }
}
