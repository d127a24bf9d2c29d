//! Golden vectors: `tests/golden/frames.json` holds frames as hex with their decoded values, and
//! frames that must be refused with the reason. Both directions are checked, so any change to the
//! encoding fails here. After a deliberate format change (with a new version byte), regenerate the
//! hex with `GOLDEN_REGENERATE=1 cargo test -p protocol --test golden` and review the diff.

use std::path::PathBuf;

use protocol::{
    AirSample, Body, FirmwareVersion, Frame, MAX_FRAME_LEN, NodeKey, NodeStatus, QualityFlags, StatusKind,
    WaterSample, decode,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Vectors {
    comment: String,
    valid: Vec<Valid>,
    invalid: Vec<Invalid>,
}

#[derive(Serialize, Deserialize)]
struct Valid {
    name: String,
    key: Option<String>,
    hex: String,
    frame: JsonFrame,
}

#[derive(Serialize, Deserialize)]
struct Invalid {
    name: String,
    key: Option<String>,
    hex: String,
    reason: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct JsonFrame {
    node_id: u32,
    boot: u32,
    seq: u32,
    time_ms: u64,
    body: JsonBody,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum JsonBody {
    Air {
        quality: u8,
        samples: u16,
        #[serde(default)]
        pm1_0: Option<u16>,
        #[serde(default)]
        pm2_5: Option<u16>,
        #[serde(default)]
        pm10: Option<u16>,
        #[serde(default)]
        temperature: Option<i16>,
        #[serde(default)]
        humidity: Option<u16>,
        #[serde(default)]
        pressure: Option<u16>,
        #[serde(default)]
        co: Option<u32>,
        #[serde(default)]
        no2: Option<u16>,
        #[serde(default)]
        so2: Option<u16>,
        #[serde(default)]
        o3: Option<u16>,
    },
    Water {
        quality: u8,
        samples: u16,
        #[serde(default)]
        ph: Option<u16>,
        #[serde(default)]
        dissolved_oxygen: Option<u16>,
        #[serde(default)]
        conductivity: Option<u32>,
        #[serde(default)]
        temperature: Option<i16>,
        #[serde(default)]
        turbidity: Option<u16>,
        #[serde(default)]
        water_level: Option<i32>,
        #[serde(default)]
        salinity: Option<u16>,
    },
    Status {
        kind: String,
        firmware: [u8; 3],
        uptime_s: u32,
        battery_mv: Option<u16>,
        rssi_dbm: Option<i16>,
        frames_dropped: u32,
        frames_queued: u16,
    },
}

impl JsonFrame {
    fn into_frame(self) -> Frame {
        let body = match self.body {
            JsonBody::Air {
                quality,
                samples,
                pm1_0,
                pm2_5,
                pm10,
                temperature,
                humidity,
                pressure,
                co,
                no2,
                so2,
                o3,
            } => Body::Air(AirSample {
                quality: QualityFlags::from_bits(quality).expect("known quality bits"),
                samples,
                pm1_0,
                pm2_5,
                pm10,
                temperature,
                humidity,
                pressure,
                co,
                no2,
                so2,
                o3,
            }),
            JsonBody::Water {
                quality,
                samples,
                ph,
                dissolved_oxygen,
                conductivity,
                temperature,
                turbidity,
                water_level,
                salinity,
            } => Body::Water(WaterSample {
                quality: QualityFlags::from_bits(quality).expect("known quality bits"),
                samples,
                ph,
                dissolved_oxygen,
                conductivity,
                temperature,
                turbidity,
                water_level,
                salinity,
            }),
            JsonBody::Status {
                kind,
                firmware,
                uptime_s,
                battery_mv,
                rssi_dbm,
                frames_dropped,
                frames_queued,
            } => Body::Status(NodeStatus {
                kind: match kind.as_str() {
                    "birth" => StatusKind::Birth,
                    "periodic" => StatusKind::Periodic,
                    "death" => StatusKind::Death,
                    other => panic!("unknown status kind {other}"),
                },
                firmware: FirmwareVersion {
                    major: firmware[0],
                    minor: firmware[1],
                    patch: firmware[2],
                },
                uptime_s,
                battery_mv,
                rssi_dbm,
                frames_dropped,
                frames_queued,
            }),
        };
        Frame {
            node_id: self.node_id,
            boot: self.boot,
            seq: self.seq,
            time_ms: self.time_ms,
            body,
        }
    }
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/frames.json")
}

fn key(hex_key: &Option<String>) -> Option<NodeKey> {
    hex_key.as_ref().map(|k| {
        let bytes: [u8; 32] = hex::decode(k)
            .expect("key is hex")
            .try_into()
            .expect("key is 32 bytes");
        NodeKey::new(bytes)
    })
}

fn encode(frame: &Frame, key: Option<&NodeKey>) -> String {
    let mut buf = [0u8; MAX_FRAME_LEN];
    hex::encode(frame.encode(key, &mut buf).expect("golden frame encodes"))
}

#[test]
fn golden_vectors_hold_both_ways() {
    let text = std::fs::read_to_string(path()).expect("golden file readable");
    let mut vectors: Vectors = serde_json::from_str(&text).expect("golden file parses");
    let regenerate = std::env::var_os("GOLDEN_REGENERATE").is_some();

    for v in &mut vectors.valid {
        let key = key(&v.key);
        let frame = v.frame.clone().into_frame();
        let encoded = encode(&frame, key.as_ref());
        if regenerate {
            v.hex = encoded;
            continue;
        }
        assert_eq!(
            encoded, v.hex,
            "{}: encode(frame) differs from the golden bytes",
            v.name
        );
        let bytes = hex::decode(&v.hex).expect("hex");
        assert_eq!(
            decode(&bytes, key.as_ref()),
            Ok(frame),
            "{}: decode(bytes) differs",
            v.name
        );
    }
    for v in &vectors.invalid {
        let bytes = hex::decode(&v.hex).expect("hex");
        let err = decode(&bytes, key(&v.key).as_ref()).expect_err(&v.name);
        assert_eq!(err.reason(), v.reason, "{}: {err}", v.name);
    }
    if regenerate {
        let text = serde_json::to_string_pretty(&vectors).expect("serialise") + "\n";
        std::fs::write(path(), text).expect("write golden file");
    }
}
