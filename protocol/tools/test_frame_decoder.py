#!/usr/bin/env python3
"""Cross-checks frame_decoder.py (written from FORMAT.md alone) against the golden vectors.

Every valid vector must decode to exactly its `frame`; every invalid one must be refused with exactly
its `reason`. A few more cases, built from the spec's text, cover rules no golden vector exercises.
Run: python3 protocol/tools/test_frame_decoder.py  (exit 1 on any failure; one-line summary last).
"""

import json
import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from frame_decoder import FrameError, decode_frame  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "frames.json")

# The worked example of FORMAT.md section 7 (a keyless air frame), split where the spec splits it.
HEAD = "0101" + "070100" + "e0fcf394ac33"  # version, flags=CRC, node 7, boot 1, seq 0, time_ms
AIR_BODY = "00" + "01" + "0c" + "0e" + "00" + "29" + "f901"  # kind air, quality, samples, mask, fields


def crc_frame(signed_hex):
    """A keyless frame: the signed bytes plus their CRC-32 tag, as the spec builds it."""
    signed = bytes.fromhex(signed_hex)
    return (signed + zlib.crc32(signed).to_bytes(4, "little") + bytes(4)).hex()


# (name, hex, key, expected reason) derived from FORMAT.md sections 3-5.
SPEC_CASES = [
    ("empty input", "", None, "truncated"),
    ("version byte only", "01", None, "truncated"),
    ("version then nothing after flags", "0101", None, "truncated"),
    ("reserved flag bit 1", "0103" + HEAD[4:] + AIR_BODY, None, "reserved_flags"),
    ("reserved quality bit 6", crc_frame(HEAD + "00" + "41" + "0c0e0029f901"), None, "malformed"),
    ("mask bit 10 on an air body", crc_frame(HEAD + "00010c" + "8008" + "0029f901"), None, "malformed"),
    ("mask bit 7 on a water body", crc_frame(HEAD + "01000c" + "80010000"), None, "malformed"),
    ("unknown body kind 3", crc_frame(HEAD + "03010c0e0029f901"), None, "malformed"),
    ("unknown status kind 3", crc_frame(HEAD + "02" + "03" + "000100" + "05" + "00" + "00" + "00" + "00"), None,
     "malformed"),
    ("status option byte 2", crc_frame(HEAD + "02" + "00" + "000100" + "05" + "02" + "00" + "00" + "00"), None,
     "malformed"),
    ("node_id varint of 6 bytes", crc_frame("0101" + "808080808000" + "0100e0fcf394ac33" + AIR_BODY), None,
     "malformed"),
    ("samples u16 overflow (3 bytes, 81919)", crc_frame(HEAD + "0001" + "ffff04" + "0e0029f901"), None,
     "malformed"),
    ("input ends inside a varint", "010107" + "80", None, "truncated"),
    ("no tag at all", HEAD + AIR_BODY, None, "truncated"),
    ("keyless node gets an HMAC frame", "0100" + crc_frame(HEAD + AIR_BODY)[4:], None, "tag_kind_mismatch"),
    ("CRC tag bytes 4-7 not zero", crc_frame(HEAD + AIR_BODY)[:-2] + "01", None, "bad_tag"),
    ("time_ms below 2017-07-14", crc_frame("0101070100" + "01" + AIR_BODY), None, "out_of_range"),
    ("pressure below 3000", crc_frame(HEAD + "0000" + "0c" + "20" + "b717"), None, "out_of_range"),  # 2999
    ("rssi above 0 dBm", crc_frame(HEAD + "02" + "00" + "000100" + "05" + "00" + "0102" + "00" + "00"), None,
     "out_of_range"),
]
# Frames the spec says are valid, with the decoded value or part of it.
SPEC_VALID = [
    ("time_ms 0 (clock not synced)", crc_frame("010107010000" + AIR_BODY), None, ("time_ms", 0)),
    ("zigzag -1 as rssi", crc_frame(HEAD + "02" + "01" + "000100" + "05" + "00" + "0101" + "00" + "00"), None,
     ("rssi_dbm", -1)),
]


def run():
    with open(GOLDEN, encoding="utf-8") as file:
        golden = json.load(file)
    failures = []
    passed = 0

    def check(name, ok, detail):
        nonlocal passed
        if ok:
            passed += 1
        else:
            failures.append(f"{name}: {detail}")

    # The spec's CRC: check value 0xCBF43926 for ASCII "123456789" (section 2).
    check("crc-32 check value", zlib.crc32(b"123456789") == 0xCBF43926, "zlib's CRC is not CRC-32/ISO-HDLC")

    for vector in golden["valid"]:
        try:
            decoded = decode_frame(vector["hex"], vector["key"])
        except FrameError as error:
            check(vector["name"], False, f"refused with {error.reason} ({error})")
            continue
        check(vector["name"], decoded == vector["frame"], f"decoded {decoded}, expected {vector['frame']}")

    for vector in golden["invalid"]:
        try:
            decoded = decode_frame(vector["hex"], vector["key"])
            check(vector["name"], False, f"accepted as {decoded}, expected {vector['reason']}")
        except FrameError as error:
            check(vector["name"], error.reason == vector["reason"], f"refused with {error.reason}, expected "
                  f"{vector['reason']} ({error})")

    for name, frame_hex, key, reason in SPEC_CASES:
        try:
            decoded = decode_frame(frame_hex, key)
            check(name, False, f"accepted as {decoded}, expected {reason}")
        except FrameError as error:
            check(name, error.reason == reason, f"refused with {error.reason}, expected {reason} ({error})")

    for name, frame_hex, key, (field, value) in SPEC_VALID:
        try:
            decoded = decode_frame(frame_hex, key)
        except FrameError as error:
            check(name, False, f"refused with {error.reason} ({error})")
            continue
        (body,) = decoded["body"].values()
        got = decoded[field] if field in decoded else body.get(field)
        check(name, got == value, f"{field} = {got}, expected {value}")

    for failure in failures:
        sys.stderr.write(f"FAIL {failure}\n")
    sys.stdout.write(f"frame_decoder: {passed} passed, {len(failures)} failed\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run())
