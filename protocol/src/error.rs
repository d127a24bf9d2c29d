//! Everything that can be wrong with a frame, as a value the caller can branch on.

use core::fmt;

use crate::tag::TagKind;

/// Why a byte string is not a valid frame.
///
/// The decoder checks in this order, and reports the first failure: length, version, header flags,
/// structure (postcard), the count of bytes left for the tag, the tag, then physical ranges. A frame
/// that fails its tag is never range-checked, so a forgery cannot probe the range rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end before the frame does (fewer than the header and tag, or mid-field).
    Truncated,
    /// The first byte names a format version this decoder does not know.
    UnknownVersion(u8),
    /// A reserved bit of the header flags is set.
    ReservedFlags(u8),
    /// The bytes do not follow the structure of a v1 frame (bad varint, unknown body kind,
    /// unknown field bit, an integer that does not fit its field).
    Malformed(&'static str),
    /// More bytes follow the 8-byte tag; `count` is how many.
    TrailingBytes {
        /// Bytes after the end of the tag.
        count: usize,
    },
    /// The frame's tag kind is not the one registered for the node (for example a CRC-tagged frame
    /// claiming to come from a node that has a key).
    TagKindMismatch {
        /// What the registry expects for this node.
        expected: TagKind,
        /// What the frame says it carries.
        found: TagKind,
    },
    /// The tag does not match the frame's bytes: corrupted in transit, or forged.
    BadTag,
    /// A field holds a value outside what the sensor can physically report.
    OutOfRange {
        /// The field name as in `FORMAT.md`.
        field: &'static str,
        /// The raw fixed-point value found.
        value: i64,
    },
}

impl DecodeError {
    /// A short, stable, machine-friendly name for counters and dead-letter records.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::UnknownVersion(_) => "unknown_version",
            DecodeError::ReservedFlags(_) => "reserved_flags",
            DecodeError::Malformed(_) => "malformed",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
            DecodeError::TagKindMismatch { .. } => "tag_kind_mismatch",
            DecodeError::BadTag => "bad_tag",
            DecodeError::OutOfRange { .. } => "out_of_range",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("frame is truncated"),
            DecodeError::UnknownVersion(v) => write!(f, "unknown frame format version {v}"),
            DecodeError::ReservedFlags(v) => write!(f, "reserved header flag bits set ({v:#04x})"),
            DecodeError::Malformed(why) => write!(f, "malformed frame: {why}"),
            DecodeError::TrailingBytes { count } => write!(f, "{count} trailing bytes after the tag"),
            DecodeError::TagKindMismatch { expected, found } => {
                write!(
                    f,
                    "frame carries a {found} tag but the node is registered for {expected}"
                )
            }
            DecodeError::BadTag => f.write_str("tag does not match the frame (corrupted or forged)"),
            DecodeError::OutOfRange { field, value } => {
                write!(f, "field {field} = {value} is outside its physical range")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is smaller than the frame; [`crate::MAX_FRAME_LEN`] always suffices.
    BufferTooSmall,
    /// A field holds a value outside its physical range; the node must not send it.
    OutOfRange {
        /// The field name as in `FORMAT.md`.
        field: &'static str,
        /// The raw fixed-point value.
        value: i64,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall => f.write_str("output buffer too small for the frame"),
            EncodeError::OutOfRange { field, value } => {
                write!(f, "field {field} = {value} is outside its physical range")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// Maps postcard's structural errors onto ours. Postcard reports an unexpected end for any read past
/// the input, which is exactly truncation.
pub(crate) fn from_postcard(err: postcard::Error) -> DecodeError {
    match err {
        postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated,
        postcard::Error::DeserializeBadVarint => DecodeError::Malformed("bad varint"),
        postcard::Error::DeserializeBadEnum => DecodeError::Malformed("unknown enum variant"),
        postcard::Error::DeserializeBadBool => DecodeError::Malformed("bad bool"),
        postcard::Error::DeserializeBadOption => DecodeError::Malformed("bad option tag"),
        postcard::Error::SerdeDeCustom => DecodeError::Malformed("invalid field"),
        _ => DecodeError::Malformed("invalid encoding"),
    }
}
