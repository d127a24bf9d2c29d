//! Per-sample quality flags: what the node knows about the trustworthiness of a reading.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bit set carried in every air and water sample (one byte on the wire).
///
/// Bits 6–7 are reserved and must be zero; a decoder rejects a frame that sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct QualityFlags(u8);

impl QualityFlags {
    /// A sensor was still in its warm-up period (for example the PMS5003 fan's 30 s).
    pub const WARMING_UP: QualityFlags = QualityFlags(1 << 0);
    /// A sensor failed to answer or answered with a bad checksum during the interval.
    pub const SENSOR_FAULT: QualityFlags = QualityFlags(1 << 1);
    /// A sensor reported a value outside its specified measuring range.
    pub const OUT_OF_RANGE: QualityFlags = QualityFlags(1 << 2);
    /// A sensor reported the same raw value for longer than is physically plausible.
    pub const STUCK_VALUE: QualityFlags = QualityFlags(1 << 3);
    /// A sensor's calibration is older than its calibration interval.
    pub const CALIBRATION_DUE: QualityFlags = QualityFlags(1 << 4);
    /// A sensor was being calibrated during the interval (a span or zero gas, a buffer
    /// solution): the value is the calibration's, not the environment's. The environment
    /// authority's files mark such readings `01` (Circular 10/2021).
    pub const CALIBRATING: QualityFlags = QualityFlags(1 << 5);

    const KNOWN: u8 = 0b0011_1111;

    /// No flag set: a clean sample.
    pub const fn empty() -> Self {
        QualityFlags(0)
    }

    /// Builds flags from their wire byte, or `None` if a reserved bit is set.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !Self::KNOWN == 0 {
            Some(QualityFlags(bits))
        } else {
            None
        }
    }

    /// The wire byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True if every flag in `other` is set in `self`.
    pub const fn contains(self, other: QualityFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets every flag in `other`.
    pub fn insert(&mut self, other: QualityFlags) {
        self.0 |= other.0;
    }

    /// True if no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for QualityFlags {
    type Output = QualityFlags;
    fn bitor(self, rhs: QualityFlags) -> QualityFlags {
        QualityFlags(self.0 | rhs.0)
    }
}

impl Serialize for QualityFlags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.0)
    }
}

impl<'de> Deserialize<'de> for QualityFlags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bits = u8::deserialize(deserializer)?;
        QualityFlags::from_bits(bits).ok_or_else(|| serde::de::Error::custom("reserved quality bits set"))
    }
}
