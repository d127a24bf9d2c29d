//! Property tests: every valid frame survives a round trip, and no byte string panics the decoder.

use proptest::prelude::*;
use protocol::{
    AirSample, Body, FirmwareVersion, Frame, MAX_FRAME_LEN, NodeKey, NodeStatus, QualityFlags, StatusKind,
    WaterSample, decode, peek_node_id,
};

fn quality() -> impl Strategy<Value = QualityFlags> {
    (0u8..64).prop_map(|bits| QualityFlags::from_bits(bits).expect("bits below 64 are known"))
}

prop_compose! {
    fn air()(
        quality in quality(), samples in any::<u16>(),
        pm1_0 in proptest::option::of(0u16..=20_000), pm2_5 in proptest::option::of(0u16..=20_000),
        pm10 in proptest::option::of(0u16..=20_000), temperature in proptest::option::of(-4_000i16..=8_500),
        humidity in proptest::option::of(0u16..=10_000), pressure in proptest::option::of(3_000u16..=11_000),
        co in proptest::option::of(0u32..=2_000_000), no2 in any::<Option<u16>>(),
        so2 in any::<Option<u16>>(), o3 in any::<Option<u16>>(),
    ) -> Body {
        Body::Air(AirSample { quality, samples, pm1_0, pm2_5, pm10, temperature, humidity, pressure, co, no2, so2, o3 })
    }
}

prop_compose! {
    fn water()(
        quality in quality(), samples in any::<u16>(),
        ph in proptest::option::of(0u16..=14_000), dissolved_oxygen in proptest::option::of(0u16..=5_000),
        conductivity in proptest::option::of(0u32..=500_000), temperature in proptest::option::of(-500i16..=5_000),
        turbidity in proptest::option::of(0u16..=40_000), water_level in proptest::option::of(-20_000i32..=20_000),
        salinity in proptest::option::of(0u16..=5_000),
    ) -> Body {
        Body::Water(WaterSample { quality, samples, ph, dissolved_oxygen, conductivity, temperature, turbidity, water_level, salinity })
    }
}

prop_compose! {
    fn status()(
        kind in prop_oneof![Just(StatusKind::Birth), Just(StatusKind::Periodic), Just(StatusKind::Death)],
        fw in any::<(u8, u8, u8)>(), uptime_s in any::<u32>(),
        battery_mv in proptest::option::of(0u16..=20_000), rssi_dbm in proptest::option::of(-150i16..=0),
        frames_dropped in any::<u32>(), frames_queued in any::<u16>(),
    ) -> Body {
        let firmware = FirmwareVersion { major: fw.0, minor: fw.1, patch: fw.2 };
        Body::Status(NodeStatus { kind, firmware, uptime_s, battery_mv, rssi_dbm, frames_dropped, frames_queued })
    }
}

prop_compose! {
    fn frame()(
        node_id in any::<u32>(), boot in any::<u32>(), seq in any::<u32>(),
        time_ms in prop_oneof![Just(0u64), 1_500_000_000_000u64..=4_102_444_800_000],
        body in prop_oneof![air(), water(), status()],
    ) -> Frame {
        Frame { node_id, boot, seq, time_ms, body }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn decode_of_encode_is_identity(frame in frame(), key in any::<Option<[u8; 32]>>()) {
        let key = key.map(NodeKey::new);
        let mut buf = [0u8; MAX_FRAME_LEN];
        let bytes = frame.encode(key.as_ref(), &mut buf).expect("in-range frames encode");
        prop_assert!(bytes.len() <= MAX_FRAME_LEN);
        prop_assert_eq!(decode(bytes, key.as_ref()), Ok(frame));
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = decode(&bytes, None);
        let _ = decode(&bytes, Some(&NodeKey::new([1; 32])));
        let _ = peek_node_id(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_mutated_frames(frame in frame(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let mut bytes = frame.encode(None, &mut buf).expect("encodes").to_vec();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = decode(&bytes, None);
    }
}

mod commands {
    use proptest::prelude::*;
    use protocol::NodeKey;
    use protocol::command::{
        CalibrationPoint, CalibrationStep, Command, MAX_COMMAND_LEN, Probe, SignedCommand, decode,
    };

    fn command() -> impl Strategy<Value = Command> {
        let probe = prop_oneof![
            Just(Probe::Ph),
            Just(Probe::DissolvedOxygen),
            Just(Probe::Conductivity),
            Just(Probe::Turbidity),
            Just(Probe::WaterLevel),
            Just(Probe::CarbonMonoxide),
            Just(Probe::NitrogenDioxide),
            Just(Probe::SulphurDioxide),
            Just(Probe::Ozone)
        ];
        let point = (0u8..8).prop_map(|p| match p {
            0 => CalibrationPoint::Clear,
            1 => CalibrationPoint::Dry,
            2 => CalibrationPoint::Zero,
            3 => CalibrationPoint::Air,
            4 => CalibrationPoint::Low,
            5 => CalibrationPoint::Mid,
            6 => CalibrationPoint::High,
            _ => CalibrationPoint::Single,
        });
        prop_oneof![
            (10u32..=86_400).prop_map(|seconds| Command::SetReportInterval { seconds }),
            (probe, point, 0i32..=5_000).prop_map(|(probe, point, reference)| Command::Calibrate(
                CalibrationStep {
                    probe,
                    point,
                    reference
                }
            )),
            Just(Command::RequestStatus),
            Just(Command::Reboot),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        /// Every valid command survives encode then decode, within MAX_COMMAND_LEN.
        #[test]
        fn decode_of_encode_is_identity(node_id in any::<u32>(), counter in any::<u64>(), command in command(), key in any::<[u8; 32]>()) {
            let key = NodeKey::new(key);
            let cmd = SignedCommand { node_id, counter, command };
            let mut buf = [0u8; MAX_COMMAND_LEN];
            let bytes = cmd.encode(&key, &mut buf).expect("valid commands encode");
            prop_assert_eq!(decode(bytes, &key), Ok(cmd));
        }

        /// The command decoder returns an error, never panics, on arbitrary bytes.
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes, &NodeKey::new([1; 32]));
        }
    }
}
