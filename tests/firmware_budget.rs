//! The wire budget the firmware works to: each frame kind's encoded size next to the same content
//! as compact JSON (the golden vectors' decoded form, absent fields left out, plus the tag as hex),
//! and the full air frame within 64 bytes including its tag. `-- --nocapture` prints the table
//! that `docs/BENCHMARKS.md` quotes (on stderr).

use anyhow::{Context, Result, ensure};
use protocol::NodeKey;
use protocol::command::{CalibrationPoint, CalibrationStep, Command, Probe, SignedCommand};
use serde_json::{Map, Value, json};

/// Drops `null` fields, as a JSON encoder for sparse readings would.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

#[test]
fn every_frame_kind_is_far_smaller_than_its_json_and_a_full_air_frame_fits_64_bytes() -> Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/protocol/tests/golden/frames.json");
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let mut rows = Vec::new();
    for v in vectors["valid"].as_array().context("valid vectors")? {
        let name = v["name"].as_str().context("name")?.to_owned();
        let hex = v["hex"].as_str().context("hex")?;
        let binary = hex.len() / 2;
        let mut json = without_nulls(v["frame"].clone());
        json["tag"] = Value::String(hex[hex.len() - 16..].to_owned());
        rows.push((name, binary, serde_json::to_string(&json)?.len()));
    }
    let key = NodeKey::new([7; 32]);
    let calibrate = SignedCommand {
        node_id: 201,
        counter: 1_764_201_660_000,
        command: Command::Calibrate(CalibrationStep {
            probe: Probe::Ph,
            point: CalibrationPoint::Mid,
            reference: 7_000,
        }),
    };
    let bytes = calibrate.to_bytes(&key)?;
    let as_json = json!({"node_id": 201, "counter": 1_764_201_660_000u64,
        "command": {"calibrate": {"probe": "ph", "point": "mid", "reference": 7000}},
        "tag": bytes[bytes.len() - 8..].iter().map(|b| format!("{b:02x}")).collect::<String>()});
    rows.push((
        "command_calibrate".into(),
        bytes.len(),
        serde_json::to_string(&as_json)?.len(),
    ));

    eprintln!("| frame | postcard + tag, bytes | compact JSON, bytes | ratio |");
    eprintln!("|---|---|---|---|");
    for (name, binary, json) in &rows {
        eprintln!(
            "| `{name}` | {binary} | {json} | {:.1}× |",
            *json as f64 / *binary as f64
        );
        ensure!(
            binary < json,
            "{name}: {binary} bytes is not smaller than its JSON ({json})"
        );
    }
    let full_air = rows
        .iter()
        .find(|(name, _, _)| name == "air_full_hmac")
        .context("the full air vector")?;
    ensure!(
        full_air.1 <= 64,
        "a full air frame is {} bytes; the budget is 64",
        full_air.1
    );
    Ok(())
}
