//! Frame v1: header, postcard fields, tag. See `FORMAT.md` for the byte-level specification.

use crate::body::Body;
use crate::error::{DecodeError, EncodeError, from_postcard};
use crate::tag::{self, NodeKey, TAG_LEN, TagKind};

/// The format version this crate writes and reads (the first byte of every frame).
pub const FORMAT_VERSION: u8 = 1;

/// Bit 0 of the header flags: the tag is a CRC-32, not an HMAC. Bits 1–7 are reserved.
const FLAG_CRC_TAG: u8 = 0b0000_0001;

/// Node clock values a frame may carry besides 0: 2017-07-14 to 2100-01-01, in ms since the Unix
/// epoch. 0 means "clock not synced"; the collector then stamps the point. A node whose clock
/// reads outside this range sends 0.
pub const TIME_MS_VALID: core::ops::RangeInclusive<u64> = 1_500_000_000_000..=4_102_444_800_000;

/// The largest valid frame, in bytes: the size of the buffer a node needs.
///
/// Header: version 1 + flags 1 + node id 5 + boot 5 + seq 5 + time 6 (≤ 2^42 ms) = 23. Largest body
/// (air, every field present at its range maximum): kind 1 + quality 1 + samples 3 + mask 2 + three
/// PM fields 3×3 + temperature 3 + humidity 2 + pressure 2 + CO 3 + NO2/SO2/O3 3×3 = 35. Tag 8.
/// A test encodes exactly that frame and checks it is this long.
pub const MAX_FRAME_LEN: usize = 23 + 35 + TAG_LEN;

const HEADER_LEN: usize = 2;

/// One message from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The node's identity, unique in a deployment (also in the MQTT topic).
    pub node_id: u32,
    /// Boot counter, incremented by the node at every start and kept in flash.
    pub boot: u32,
    /// Sequence number within this boot, starting at 0; (node_id, boot, seq) names a frame.
    pub seq: u32,
    /// The node's clock in ms since the Unix epoch, or 0 when its clock is not synced.
    pub time_ms: u64,
    /// What the frame carries.
    pub body: Body,
}

impl Frame {
    /// Encodes the frame into `buf` and returns the encoded bytes, tagged with an HMAC when `key`
    /// is given and with a CRC-32 otherwise.
    ///
    /// # Errors
    ///
    /// [`EncodeError::OutOfRange`] if a field is outside its physical range (the node must fix its
    /// reading rather than send it), [`EncodeError::BufferTooSmall`] if `buf` is shorter than the
    /// frame; a buffer of [`MAX_FRAME_LEN`] bytes is always enough.
    pub fn encode<'b>(&self, key: Option<&NodeKey>, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        self.validate()
            .map_err(|(field, value)| EncodeError::OutOfRange { field, value })?;
        if buf.len() < HEADER_LEN + TAG_LEN {
            return Err(EncodeError::BufferTooSmall);
        }
        buf[0] = FORMAT_VERSION;
        buf[1] = if key.is_some() { 0 } else { FLAG_CRC_TAG };
        let fields = (self.node_id, self.boot, self.seq, self.time_ms, &self.body);
        let body_len = postcard::to_slice(&fields, &mut buf[HEADER_LEN..])
            .map_err(|_| EncodeError::BufferTooSmall)?
            .len();
        let signed_len = HEADER_LEN + body_len;
        let frame_len = signed_len + TAG_LEN;
        if buf.len() < frame_len {
            return Err(EncodeError::BufferTooSmall);
        }
        let tag = tag::compute(key, &buf[..signed_len]);
        buf[signed_len..frame_len].copy_from_slice(&tag);
        Ok(&buf[..frame_len])
    }

    fn validate(&self) -> Result<(), (&'static str, i64)> {
        if self.time_ms != 0 && !TIME_MS_VALID.contains(&self.time_ms) {
            return Err(("time_ms", i64::try_from(self.time_ms).unwrap_or(i64::MAX)));
        }
        self.body.validate()
    }
}

fn check_header(bytes: &[u8]) -> Result<TagKind, DecodeError> {
    let version = *bytes.first().ok_or(DecodeError::Truncated)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let flags = *bytes.get(1).ok_or(DecodeError::Truncated)?;
    if flags & !FLAG_CRC_TAG != 0 {
        return Err(DecodeError::ReservedFlags(flags));
    }
    Ok(if flags & FLAG_CRC_TAG != 0 {
        TagKind::Crc32
    } else {
        TagKind::Hmac
    })
}

/// Reads the node id without verifying anything else, so the receiver can look up the node's key.
///
/// # Errors
///
/// Any header or structure error that prevents reading the node id.
pub fn peek_node_id(bytes: &[u8]) -> Result<u32, DecodeError> {
    check_header(bytes)?;
    let (node_id, _) = postcard::take_from_bytes::<u32>(&bytes[HEADER_LEN..]).map_err(from_postcard)?;
    Ok(node_id)
}

/// Decodes and verifies a frame. `key` is the node's registered key, or `None` for a node
/// registered without a key (its frames must then carry a CRC-32 tag).
///
/// # Errors
///
/// The first [`DecodeError`] found, in the order its documentation gives.
pub fn decode(bytes: &[u8], key: Option<&NodeKey>) -> Result<Frame, DecodeError> {
    let found = check_header(bytes)?;
    type Fields = (u32, u32, u32, u64, Body);
    let ((node_id, boot, seq, time_ms, body), rest) =
        postcard::take_from_bytes::<Fields>(&bytes[HEADER_LEN..]).map_err(from_postcard)?;
    if rest.len() < TAG_LEN {
        return Err(DecodeError::Truncated);
    }
    if rest.len() > TAG_LEN {
        return Err(DecodeError::TrailingBytes {
            count: rest.len() - TAG_LEN,
        });
    }
    let expected = if key.is_some() {
        TagKind::Hmac
    } else {
        TagKind::Crc32
    };
    if found != expected {
        return Err(DecodeError::TagKindMismatch { expected, found });
    }
    let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    if !tag::verify(key, signed, tag) {
        return Err(DecodeError::BadTag);
    }
    let frame = Frame {
        node_id,
        boot,
        seq,
        time_ms,
        body,
    };
    frame
        .validate()
        .map_err(|(field, value)| DecodeError::OutOfRange { field, value })?;
    Ok(frame)
}
