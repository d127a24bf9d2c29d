//! QC flags: why a value is kept but left out of indices and alerts.

use std::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// One QC rule's verdict. The names are stable: the API, the database and `docs/ioc.md` use
/// them, and each one's bit (its position here) is what [`QcFlags::bits`] stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QcFlag {
    /// Outside the parameter's physical range (or not a number). Bit 0.
    Range,
    /// The same value repeated too long. Bit 1.
    Stuck,
    /// Far from the median of the station's own recent values (Hampel identifier). Bit 2.
    Spike,
    /// Relative humidity at the sensor above its limit (100 %): the whole reading. Bit 3.
    RhLimit,
    /// Temperature at the sensor above its limit (65 °C): the whole reading. Bit 4.
    TLimit,
    /// Far outside the median of the district's other stations. Bit 5.
    Neighbour,
    /// The node itself marked the sample: a sensor warming up, faulty, outside its measuring
    /// range, stuck, or being calibrated (FORMAT.md §4): the whole reading. Bit 6.
    Node,
}

impl QcFlag {
    /// Every flag, in bit order.
    pub const ALL: [QcFlag; 7] = [
        QcFlag::Range,
        QcFlag::Stuck,
        QcFlag::Spike,
        QcFlag::RhLimit,
        QcFlag::TLimit,
        QcFlag::Neighbour,
        QcFlag::Node,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            QcFlag::Range => "range",
            QcFlag::Stuck => "stuck",
            QcFlag::Spike => "spike",
            QcFlag::RhLimit => "rh_limit",
            QcFlag::TLimit => "t_limit",
            QcFlag::Neighbour => "neighbour",
            QcFlag::Node => "node",
        }
    }

    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<QcFlag> {
        QcFlag::ALL.into_iter().find(|f| f.as_str() == name)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for QcFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`QcFlag`]s: empty for a value that may be used. Serialised as a list of names in
/// bit order (`["range", "stuck"]`); stored as [`QcFlags::bits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct QcFlags(u8);

impl QcFlags {
    const KNOWN: u8 = 0b0111_1111;

    /// No flag: a value that may be used.
    pub const fn empty() -> Self {
        QcFlags(0)
    }

    /// The stored byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Flags from a stored byte, or `None` if it sets a bit no flag has.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !Self::KNOWN == 0 {
            Some(QcFlags(bits))
        } else {
            None
        }
    }

    /// True if no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True if `flag` is set.
    pub const fn contains(self, flag: QcFlag) -> bool {
        self.0 & flag.bit() != 0
    }

    /// Sets `flag`.
    pub fn insert(&mut self, flag: QcFlag) {
        self.0 |= flag.bit();
    }

    /// Sets `flag` when `condition` holds (how the rules report).
    pub fn set_if(&mut self, flag: QcFlag, condition: bool) {
        if condition {
            self.insert(flag);
        }
    }

    /// The flags set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = QcFlag> {
        QcFlag::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

impl From<QcFlag> for QcFlags {
    fn from(flag: QcFlag) -> Self {
        QcFlags(flag.bit())
    }
}

impl FromIterator<QcFlag> for QcFlags {
    fn from_iter<I: IntoIterator<Item = QcFlag>>(iter: I) -> Self {
        let mut flags = QcFlags::empty();
        for flag in iter {
            flags.insert(flag);
        }
        flags
    }
}

impl std::ops::BitOr for QcFlags {
    type Output = QcFlags;
    fn bitor(self, rhs: QcFlags) -> QcFlags {
        QcFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for QcFlags {
    fn bitor_assign(&mut self, rhs: QcFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for QcFlags {
    /// Comma-separated names (`range,stuck`); empty for no flag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, flag) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(flag.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for QcFlags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.count_ones() as usize))?;
        for flag in self.iter() {
            seq.serialize_element(&flag)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for QcFlags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> Visitor<'de> for Names {
            type Value = QcFlags;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of QC flag names (range, stuck, spike, rh_limit, t_limit, neighbour)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<QcFlags, A::Error> {
                let mut flags = QcFlags::empty();
                while let Some(flag) = seq.next_element::<QcFlag>()? {
                    flags.insert(flag);
                }
                Ok(flags)
            }
        }
        deserializer.deserialize_seq(Names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bits_are_pinned() {
        // Stored bytes and API names must not move when a flag is added.
        let pinned = [
            (QcFlag::Range, "range", 1),
            (QcFlag::Stuck, "stuck", 2),
            (QcFlag::Spike, "spike", 4),
            (QcFlag::RhLimit, "rh_limit", 8),
            (QcFlag::TLimit, "t_limit", 16),
            (QcFlag::Neighbour, "neighbour", 32),
            (QcFlag::Node, "node", 64),
        ];
        for (flag, name, bits) in pinned {
            assert_eq!(flag.as_str(), name);
            assert_eq!(QcFlags::from(flag).bits(), bits);
            assert_eq!(QcFlag::parse(name), Some(flag));
            assert_eq!(
                serde_json::to_string(&flag).expect("serialises"),
                format!("\"{name}\"")
            );
        }
    }

    #[test]
    fn a_set_serialises_as_names_in_bit_order_and_reads_back() {
        let flags: QcFlags = [QcFlag::Neighbour, QcFlag::Range].into_iter().collect();
        let json = serde_json::to_string(&flags).expect("serialises");
        assert_eq!(json, r#"["range","neighbour"]"#);
        assert_eq!(serde_json::from_str::<QcFlags>(&json).expect("parses"), flags);
        assert_eq!(flags.to_string(), "range,neighbour");
        assert_eq!(
            serde_json::to_string(&QcFlags::empty()).expect("serialises"),
            "[]"
        );
    }

    #[test]
    fn unknown_names_and_bits_are_refused() {
        assert!(serde_json::from_str::<QcFlags>(r#"["range","wobbly"]"#).is_err());
        assert_eq!(QcFlags::from_bits(0b1000_0000), None);
        assert_eq!(
            QcFlags::from_bits(0b0010_0001).map(|f| f.to_string()),
            Some("range,neighbour".into())
        );
    }
}
