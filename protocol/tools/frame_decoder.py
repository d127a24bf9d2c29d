#!/usr/bin/env python3
"""Decoder for citysense frame format version 1, written from protocol/FORMAT.md alone.

It exists to prove the spec is enough for another language: it reads no Rust and shares no code with
the `protocol` crate. Python 3 standard library only.

    decode_frame(frame, key=None) -> dict

`frame` is bytes or a hex string; `key` is the node's 32-byte HMAC key (bytes or hex), or None for a
keyless node, which must send CRC-32 frames. The result has the spec's field names and raw fixed-point
integers, with absent fields as None:

    {"node_id": 7, "boot": 1, "seq": 0, "time_ms": ..., "body": {"air": {"quality": 1, ...}}}

A refused frame raises FrameError whose `reason` is the spec's reason name (FORMAT.md section 5).

Command line: python3 frame_decoder.py HEX [--key HEX]  prints the decoded frame as JSON.
"""

import hashlib
import hmac
import json
import sys
import zlib

VERSION = 0x01
FLAG_CRC = 0x01
TAG_LEN = 8
KEY_LEN = 32

# Reason names, FORMAT.md section 5.
TRUNCATED = "truncated"
UNKNOWN_VERSION = "unknown_version"
RESERVED_FLAGS = "reserved_flags"
MALFORMED = "malformed"
TRAILING_BYTES = "trailing_bytes"
TAG_KIND_MISMATCH = "tag_kind_mismatch"
BAD_TAG = "bad_tag"
OUT_OF_RANGE = "out_of_range"

# Quality flags: bits 0-4 defined, 5-7 reserved (section 4).
QUALITY_RESERVED_MASK = 0b1100_0000

# Sample bodies (sections 4.1, 4.2): (name, type, (min, max) or None for "any"), in mask-bit order.
AIR_FIELDS = [
    ("pm1_0", "u16", (0, 20_000)),
    ("pm2_5", "u16", (0, 20_000)),
    ("pm10", "u16", (0, 20_000)),
    ("temperature", "i16", (-4_000, 8_500)),
    ("humidity", "u16", (0, 10_000)),
    ("pressure", "u16", (3_000, 11_000)),
    ("co", "u32", (0, 2_000_000)),
    ("no2", "u16", None),
    ("so2", "u16", None),
    ("o3", "u16", None),
]
WATER_FIELDS = [
    ("ph", "u16", (0, 14_000)),
    ("dissolved_oxygen", "u16", (0, 5_000)),
    ("conductivity", "u32", (0, 500_000)),
    ("temperature", "i16", (-500, 5_000)),
    ("turbidity", "u16", (0, 40_000)),
    ("water_level", "i32", (-20_000, 20_000)),
    ("salinity", "u16", (0, 5_000)),
]
# Body kinds (section 2) and status kinds (section 4.3).
BODY_KINDS = {0: "air", 1: "water", 2: "status"}
SAMPLE_FIELDS = {"air": AIR_FIELDS, "water": WATER_FIELDS}
STATUS_KINDS = {0: "birth", 1: "periodic", 2: "death"}
STATUS_RANGES = {"battery_mv": (0, 20_000), "rssi_dbm": (-150, 0)}

# time_ms is 0 (clock not synced) or within this range, bounds included (section 5, step 6).
TIME_MS_RANGE = (1_500_000_000_000, 4_102_444_800_000)

# Unsigned varint widths: bits of the type and the most bytes it may take (section 3).
VARINT_WIDTH = {"u16": (16, 3), "u32": (32, 5), "u64": (64, 10)}
# Zigzag types: the unsigned varint each one travels as.
ZIGZAG_CARRIER = {"i16": "u16", "i32": "u32"}


class FrameError(Exception):
    """A frame refused with one of the spec's reason names (attribute `reason`)."""

    def __init__(self, reason, detail=""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class _Reader:
    """Reads postcard values (section 3) from a byte string, tracking the position."""

    def __init__(self, data, pos):
        self.data = data
        self.pos = pos

    def u8(self):
        if self.pos >= len(self.data):
            raise FrameError(TRUNCATED, f"input ends at byte {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self, kind):
        bits, max_len = VARINT_WIDTH[kind]
        value = 0
        for index in range(max_len):
            byte = self.u8()
            value |= (byte & 0x7F) << (7 * index)
            if byte & 0x80 == 0:
                if value >= 1 << bits:
                    raise FrameError(MALFORMED, f"varint {kind} overflows: {value}")
                return value
        raise FrameError(MALFORMED, f"varint {kind} longer than {max_len} bytes")

    def zigzag(self, kind):
        n = self.varint(ZIGZAG_CARRIER[kind])
        return (n >> 1) ^ -(n & 1)

    def value(self, kind):
        if kind in ZIGZAG_CARRIER:
            return self.zigzag(kind)
        return self.varint(kind)

    def option(self, kind):
        tag = self.u8()
        if tag == 0x00:
            return None
        if tag == 0x01:
            return self.value(kind)
        raise FrameError(MALFORMED, f"option byte {tag:#04x}")

    def enum(self, variants, what):
        # Design: an enum's variant index is read as a u32 varint (postcard's rule for enums).
        index = self.varint("u32")
        if index not in variants:
            raise FrameError(MALFORMED, f"unknown {what} {index}")
        return variants[index]


def _to_bytes(value, what):
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError as error:
            raise ValueError(f"{what} is not valid hex: {error}") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes or a hex string, not {type(value).__name__}")


def _decode_sample(reader, fields):
    sample = {"quality": reader.u8(), "samples": reader.varint("u16")}
    if sample["quality"] & QUALITY_RESERVED_MASK:
        raise FrameError(MALFORMED, f"reserved quality bits in {sample['quality']:#04x}")
    mask = reader.varint("u16")
    if mask >> len(fields):
        raise FrameError(MALFORMED, f"mask {mask:#06x} names a field beyond the last")
    for bit, (name, kind, _) in enumerate(fields):
        sample[name] = reader.value(kind) if mask & (1 << bit) else None
    return sample


def _decode_status(reader):
    return {
        "kind": reader.enum(STATUS_KINDS, "status kind"),
        "firmware": [reader.u8(), reader.u8(), reader.u8()],
        "uptime_s": reader.varint("u32"),
        "battery_mv": reader.option("u16"),
        "rssi_dbm": reader.option("i16"),
        "frames_dropped": reader.varint("u32"),
        "frames_queued": reader.varint("u16"),
    }


def _decode_fields(data):
    """Step 2: the postcard fields from byte 2; returns the frame and where the fields end."""
    reader = _Reader(data, 2)
    frame = {
        "node_id": reader.varint("u32"),
        "boot": reader.varint("u32"),
        "seq": reader.varint("u32"),
        "time_ms": reader.varint("u64"),
    }
    body_kind = reader.enum(BODY_KINDS, "body kind")
    if body_kind == "status":
        body = _decode_status(reader)
    else:
        body = _decode_sample(reader, SAMPLE_FIELDS[body_kind])
    frame["body"] = {body_kind: body}
    return frame, reader.pos


def _expected_tag(signed, key):
    if key is None:
        return zlib.crc32(signed).to_bytes(4, "little") + bytes(4)
    return hmac.new(key, signed, hashlib.sha256).digest()[:TAG_LEN]


def _check_ranges(frame):
    """Step 6: time_ms and every present field against its valid range."""
    time_ms = frame["time_ms"]
    if time_ms != 0 and not TIME_MS_RANGE[0] <= time_ms <= TIME_MS_RANGE[1]:
        raise FrameError(OUT_OF_RANGE, f"time_ms {time_ms}")
    (kind, body), = frame["body"].items()
    if kind == "status":
        ranges = STATUS_RANGES
    else:
        ranges = {name: limits for name, _, limits in SAMPLE_FIELDS[kind] if limits is not None}
    for name, (low, high) in ranges.items():
        value = body[name]
        if value is not None and not low <= value <= high:
            raise FrameError(OUT_OF_RANGE, f"{kind}.{name} {value} outside {low}..{high}")


def decode_frame(frame, key=None):
    """Decodes and verifies one frame; see the module doc.

    Raises FrameError with the spec's reason, checking in the spec's order (section 5). Raises
    ValueError or TypeError for arguments that are not a frame or a key at all.
    """
    data = _to_bytes(frame, "frame")
    if key is not None:
        key = _to_bytes(key, "key")
        if len(key) != KEY_LEN:
            raise ValueError(f"key must be {KEY_LEN} bytes, got {len(key)}")

    # Step 1: header.
    if not data:
        raise FrameError(TRUNCATED, "empty input")
    if data[0] != VERSION:
        raise FrameError(UNKNOWN_VERSION, f"version {data[0]:#04x}")
    if len(data) < 2:
        raise FrameError(TRUNCATED, "no flags byte")
    flags = data[1]
    if flags & ~FLAG_CRC & 0xFF:
        raise FrameError(RESERVED_FLAGS, f"flags {flags:#04x}")

    # Step 2: fields. Step 3: exactly a tag after them.
    decoded, end = _decode_fields(data)
    rest = len(data) - end
    if rest < TAG_LEN:
        raise FrameError(TRUNCATED, f"{rest} tag bytes, need {TAG_LEN}")
    if rest > TAG_LEN:
        raise FrameError(TRAILING_BYTES, f"{rest - TAG_LEN} bytes after the tag")

    # Step 4: the registration (key or none) decides the tag kind.
    is_crc = bool(flags & FLAG_CRC)
    if is_crc != (key is None):
        raise FrameError(TAG_KIND_MISMATCH, "CRC frame for a keyed node" if is_crc else "HMAC frame for a keyless node")

    # Step 5: the tag over every byte before it.
    signed, tag = data[:end], data[end:]
    if not hmac.compare_digest(tag, _expected_tag(signed, key)):
        raise FrameError(BAD_TAG)

    # Step 6: ranges, only now, so a forger cannot probe the rules.
    _check_ranges(decoded)
    return decoded


def main(argv):
    """Decodes the hex frame in argv[1] (with --key HEX for a keyed node) and prints it as JSON."""
    args = argv[1:]
    key = None
    if "--key" in args:
        index = args.index("--key")
        if index + 1 >= len(args):
            sys.stderr.write("--key needs a hex value\n")
            return 2
        key = args[index + 1]
        del args[index : index + 2]
    if len(args) != 1:
        sys.stderr.write("usage: frame_decoder.py HEX [--key HEX]\n")
        return 2
    try:
        decoded = decode_frame(args[0], key)
    except FrameError as error:
        sys.stderr.write(f"refused: {error}\n")
        return 1
    sys.stdout.write(json.dumps(decoded, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
