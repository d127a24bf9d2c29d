//! Presence-mask encoding for sample bodies.
//!
//! A sample is a run of optional fixed-point fields. On the wire it is a varint bit mask (bit *i* set
//! when field *i* is present) followed by the present fields only, in field order. An absent sensor
//! costs one bit instead of postcard's one byte per `Option`, which keeps a full air frame within
//! 64 bytes.
//!
//! Design: a list of (channel id, value) pairs would evolve more freely but costs a byte per field;
//! the format version byte already covers evolution, so the mask wins.

use serde::de::{self, DeserializeOwned, SeqAccess};
use serde::ser::{Serialize, SerializeTuple, Serializer};

/// Writes a masked sample as a postcard tuple: leading plain fields, the mask, the present fields.
pub(crate) struct MaskedWriter<S: SerializeTuple> {
    tuple: S,
}

impl<S: SerializeTuple> MaskedWriter<S> {
    /// Starts a tuple; `max_len` is only a hint (postcard does not write tuple lengths).
    pub(crate) fn start<Ser>(serializer: Ser, max_len: usize) -> Result<Self, Ser::Error>
    where
        Ser: Serializer<SerializeTuple = S, Error = S::Error>,
    {
        Ok(MaskedWriter {
            tuple: serializer.serialize_tuple(max_len)?,
        })
    }

    /// Writes a field that is always present (quality flags, sample count, the mask itself).
    pub(crate) fn plain<T: Serialize>(&mut self, value: &T) -> Result<(), S::Error> {
        self.tuple.serialize_element(value)
    }

    /// Writes an optional field if present; its presence is already recorded in the mask.
    pub(crate) fn optional<T: Serialize>(&mut self, value: &Option<T>) -> Result<(), S::Error> {
        match value {
            Some(v) => self.tuple.serialize_element(v),
            None => Ok(()),
        }
    }

    pub(crate) fn end(self) -> Result<S::Ok, S::Error> {
        self.tuple.end()
    }
}

/// Builds the mask from the presence of each field, in field order.
pub(crate) fn mask_of(present: &[bool]) -> u16 {
    present
        .iter()
        .enumerate()
        .fold(0, |mask, (i, &p)| if p { mask | (1 << i) } else { mask })
}

/// Reads a masked sample back from a postcard tuple.
pub(crate) struct MaskedReader<'a, A> {
    seq: &'a mut A,
    mask: u16,
    next_bit: u32,
}

impl<'de, 'a, A: SeqAccess<'de>> MaskedReader<'a, A> {
    /// Reads a field that is always present.
    pub(crate) fn plain<T: DeserializeOwned>(seq: &mut A) -> Result<T, A::Error> {
        seq.next_element()?
            .ok_or_else(|| de::Error::custom("missing field"))
    }

    /// Reads the mask and rejects bits beyond the `field_count` fields this version knows.
    pub(crate) fn new(seq: &'a mut A, field_count: u32) -> Result<Self, A::Error> {
        let mask: u16 = Self::plain(seq)?;
        if u32::from(mask) >> field_count != 0 {
            return Err(de::Error::custom("unknown field bit in mask"));
        }
        Ok(MaskedReader {
            seq,
            mask,
            next_bit: 0,
        })
    }

    /// Reads the next field in order: `Some` if its mask bit is set, `None` otherwise.
    pub(crate) fn optional<T: DeserializeOwned>(&mut self) -> Result<Option<T>, A::Error> {
        let present = self.mask & (1 << self.next_bit) != 0;
        self.next_bit += 1;
        if present {
            Ok(Some(Self::plain(self.seq)?))
        } else {
            Ok(None)
        }
    }
}

/// Declares a sample body: always-present `quality` and `samples`, then optional fixed-point fields
/// encoded behind a presence mask. Field order is wire order; append new fields only with a new
/// format version.
macro_rules! masked_sample {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name {
            /// What the node knows about this sample's trustworthiness.
            pub quality: $crate::QualityFlags,
            /// How many raw readings were averaged into this sample.
            pub samples: u16,
            $( $(#[$fmeta])* pub $field: Option<$ty>, )+
        }

        impl $name {
            const FIELD_NAMES: &'static [&'static str] = &[$(stringify!($field)),+];
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mask = $crate::masked::mask_of(&[$(self.$field.is_some()),+]);
                let mut out = $crate::masked::MaskedWriter::start(serializer, 3 + Self::FIELD_NAMES.len())?;
                out.plain(&self.quality)?;
                out.plain(&self.samples)?;
                out.plain(&mask)?;
                $( out.optional(&self.$field)?; )+
                out.end()
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl<'de> serde::de::Visitor<'de> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                        f.write_str(concat!("a masked ", stringify!($name)))
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<$name, A::Error> {
                        use $crate::masked::MaskedReader;
                        let quality = MaskedReader::plain(&mut seq)?;
                        let samples = MaskedReader::plain(&mut seq)?;
                        let mut fields = MaskedReader::new(&mut seq, $name::FIELD_NAMES.len() as u32)?;
                        Ok($name { quality, samples, $( $field: fields.optional()?, )+ })
                    }
                }
                deserializer.deserialize_tuple(3 + $name::FIELD_NAMES.len(), Visitor)
            }
        }
    };
}

pub(crate) use masked_sample;
