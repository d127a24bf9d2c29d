//! Frame encoding and decoding: round trips, each way a frame can be wrong, and the size bound.

use protocol::{
    AirSample, Body, DecodeError, EncodeError, FirmwareVersion, Frame, MAX_FRAME_LEN, NodeKey, NodeStatus,
    QualityFlags, StatusKind, TAG_LEN, TagKind, WaterSample, decode, peek_node_id,
};

const KEY: NodeKey = NodeKey::new([0x42; 32]);
const TIME: u64 = 1_764_201_600_000; // 2025-11-27T00:00:00Z

fn air() -> Frame {
    Frame {
        node_id: 7,
        boot: 3,
        seq: 1200,
        time_ms: TIME,
        body: Body::Air(AirSample {
            quality: QualityFlags::empty(),
            samples: 60,
            pm1_0: Some(182),
            pm2_5: Some(353),
            pm10: Some(511),
            temperature: Some(2_915),
            humidity: Some(7_820),
            pressure: Some(10_093),
            co: Some(850),
            no2: Some(312),
            so2: Some(95),
            o3: Some(1_041),
        }),
    }
}

fn encode(frame: &Frame, key: Option<&NodeKey>) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME_LEN];
    frame.encode(key, &mut buf).expect("valid frame encodes").to_vec()
}

#[test]
fn round_trip_with_hmac_and_with_crc() {
    let frame = air();
    assert_eq!(decode(&encode(&frame, Some(&KEY)), Some(&KEY)), Ok(frame));
    assert_eq!(decode(&encode(&frame, None), None), Ok(frame));
}

#[test]
fn a_full_air_frame_fits_in_64_bytes() {
    let bytes = encode(&air(), Some(&KEY));
    assert!(bytes.len() <= 64, "full air frame is {} bytes", bytes.len());
}

#[test]
fn absent_sensors_stay_absent() {
    let frame = Frame {
        body: Body::Air(AirSample {
            samples: 1,
            pm2_5: Some(0),
            ..AirSample::default()
        }),
        ..air()
    };
    let decoded = decode(&encode(&frame, Some(&KEY)), Some(&KEY)).expect("decodes");
    let Body::Air(sample) = decoded.body else {
        panic!("not an air body")
    };
    assert_eq!(sample.pm2_5, Some(0), "a zero reading is a reading");
    assert_eq!(sample.pm10, None, "an absent sensor is not a zero");
}

/// The largest valid frame: every field present at the top of its range, every varint at its
/// longest. Proves `MAX_FRAME_LEN` (the firmware's buffer size) is enough and is exact.
#[test]
fn the_largest_frame_fills_max_frame_len_exactly() {
    let largest = Frame {
        node_id: u32::MAX,
        boot: u32::MAX,
        seq: u32::MAX,
        time_ms: 4_102_444_800_000,
        body: Body::Air(AirSample {
            quality: QualityFlags::from_bits(0x1f).expect("known bits"),
            samples: u16::MAX,
            pm1_0: Some(20_000),
            pm2_5: Some(20_000),
            pm10: Some(20_000),
            temperature: Some(8_500),
            humidity: Some(10_000),
            pressure: Some(11_000),
            co: Some(2_000_000),
            no2: Some(u16::MAX),
            so2: Some(u16::MAX),
            o3: Some(u16::MAX),
        }),
    };
    assert_eq!(encode(&largest, Some(&KEY)).len(), MAX_FRAME_LEN);

    let water = Frame {
        body: Body::Water(WaterSample {
            quality: QualityFlags::empty(),
            samples: u16::MAX,
            ph: Some(14_000),
            dissolved_oxygen: Some(5_000),
            conductivity: Some(500_000),
            temperature: Some(5_000),
            turbidity: Some(40_000),
            water_level: Some(-20_000),
            salinity: Some(5_000),
        }),
        ..largest
    };
    let status = Frame {
        body: Body::Status(NodeStatus {
            kind: StatusKind::Death,
            firmware: FirmwareVersion {
                major: 255,
                minor: 255,
                patch: 255,
            },
            uptime_s: u32::MAX,
            battery_mv: Some(20_000),
            rssi_dbm: Some(-150),
            frames_dropped: u32::MAX,
            frames_queued: u16::MAX,
        }),
        ..largest
    };
    assert!(encode(&water, Some(&KEY)).len() <= MAX_FRAME_LEN);
    assert!(encode(&status, Some(&KEY)).len() <= MAX_FRAME_LEN);
}

#[test]
fn a_small_buffer_is_an_error_not_a_panic() {
    let mut small = [0u8; 20];
    assert_eq!(
        air().encode(Some(&KEY), &mut small),
        Err(EncodeError::BufferTooSmall)
    );
}

#[test]
fn truncated_frames_are_reported_as_truncated() {
    let bytes = encode(&air(), Some(&KEY));
    for len in 0..bytes.len() {
        let got = decode(&bytes[..len], Some(&KEY));
        // Cutting into the tag leaves a structurally complete body with too few tag bytes; cutting
        // into the body runs out mid-field. Both must say truncated (never bad tag or a panic),
        // except for the rare cut where the leftover tag bytes happen to parse as fields.
        assert!(
            matches!(
                got,
                Err(DecodeError::Truncated) | Err(DecodeError::BadTag) | Err(DecodeError::Malformed(_))
            ),
            "len {len}: {got:?}"
        );
    }
    assert_eq!(
        decode(&bytes[..bytes.len() - 1], Some(&KEY)),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        decode(&bytes[..bytes.len() - TAG_LEN], Some(&KEY)),
        Err(DecodeError::Truncated)
    );
    assert_eq!(decode(&[], Some(&KEY)), Err(DecodeError::Truncated));
    assert_eq!(decode(&[1], Some(&KEY)), Err(DecodeError::Truncated));
}

#[test]
fn trailing_bytes_are_counted() {
    let mut bytes = encode(&air(), Some(&KEY));
    bytes.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        decode(&bytes, Some(&KEY)),
        Err(DecodeError::TrailingBytes { count: 3 })
    );
}

#[test]
fn unknown_version_and_reserved_flags_are_refused() {
    let mut bytes = encode(&air(), Some(&KEY));
    bytes[0] = 2;
    assert_eq!(decode(&bytes, Some(&KEY)), Err(DecodeError::UnknownVersion(2)));
    let mut bytes = encode(&air(), Some(&KEY));
    bytes[1] = 0x80;
    assert_eq!(decode(&bytes, Some(&KEY)), Err(DecodeError::ReservedFlags(0x80)));
}

#[test]
fn any_flipped_bit_fails_the_tag_or_the_structure() {
    let bytes = encode(&air(), Some(&KEY));
    for i in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[i / 8] ^= 1 << (i % 8);
        assert!(
            decode(&flipped, Some(&KEY)).is_err(),
            "bit {i} flipped but frame accepted"
        );
    }
}

#[test]
fn wrong_key_is_a_bad_tag() {
    let bytes = encode(&air(), Some(&KEY));
    assert_eq!(
        decode(&bytes, Some(&NodeKey::new([0x43; 32]))),
        Err(DecodeError::BadTag)
    );
}

#[test]
fn a_crc_frame_from_a_keyed_node_is_a_downgrade_and_refused() {
    let bytes = encode(&air(), None);
    assert_eq!(
        decode(&bytes, Some(&KEY)),
        Err(DecodeError::TagKindMismatch {
            expected: TagKind::Hmac,
            found: TagKind::Crc32
        })
    );
}

#[test]
fn out_of_range_values_are_refused_on_both_sides() {
    let mut frame = air();
    if let Body::Air(sample) = &mut frame.body {
        sample.humidity = Some(10_001);
    }
    let mut buf = [0u8; MAX_FRAME_LEN];
    assert_eq!(
        frame.encode(Some(&KEY), &mut buf),
        Err(EncodeError::OutOfRange {
            field: "humidity",
            value: 10_001
        })
    );

    // A node with a buggy encoder: build the bytes by hand (humidity is field bit 4) and re-tag.
    let mut bytes = encode(&air(), None);
    let good_humidity = [0x8c, 0x3d]; // 7820 as a varint
    let at = bytes
        .windows(2)
        .position(|w| w == good_humidity)
        .expect("humidity bytes present");
    bytes[at..at + 2].copy_from_slice(&[0x91, 0x4e]); // 10001
    let signed_len = bytes.len() - TAG_LEN;
    let crc = crc32(&bytes[..signed_len]);
    bytes[signed_len..signed_len + 4].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        decode(&bytes, None),
        Err(DecodeError::OutOfRange {
            field: "humidity",
            value: 10_001
        })
    );
}

#[test]
fn time_must_be_zero_or_plausible() {
    let frame = Frame {
        time_ms: 1_000,
        ..air()
    };
    let mut buf = [0u8; MAX_FRAME_LEN];
    assert!(matches!(
        frame.encode(None, &mut buf),
        Err(EncodeError::OutOfRange { field: "time_ms", .. })
    ));
    let unsynced = Frame { time_ms: 0, ..air() };
    assert_eq!(decode(&encode(&unsynced, None), None), Ok(unsynced));
}

#[test]
fn peek_reads_the_node_id_before_verification() {
    let bytes = encode(&air(), Some(&KEY));
    assert_eq!(peek_node_id(&bytes), Ok(7));
    assert_eq!(peek_node_id(&[9, 0, 7]), Err(DecodeError::UnknownVersion(9)));
}

fn crc32(bytes: &[u8]) -> u32 {
    // Bitwise CRC-32/ISO-HDLC, written out so the test does not trust the crate's own CRC.
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn an_overlong_varint_within_its_byte_limit_is_accepted_as_format_md_says() {
    // node_id 7 written as 87 80 00 (three bytes instead of one), then a minimal air body.
    let mut bytes = vec![1, 1, 0x87, 0x80, 0x00, 1, 0, 0, 0, 0, 1, 0];
    let crc = crc32(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    let frame = decode(&bytes, None).expect("overlong varint accepted");
    assert_eq!(frame.node_id, 7);
}
