//! The points the dashboard's queries run on, written by the collector's own line-protocol code,
//! and whether an answer holds any of them.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use protocol::registry::{NodeInfo, StationKind};
use protocol::{AirSample, Body, FirmwareVersion, Frame, NodeStatus, QualityFlags, StatusKind, WaterSample};
use serde_json::Value;

/// Whether an InfluxDB answer holds a value other than 0 (a series that `fill(0)` made up from
/// nothing would not).
pub(super) fn has_data(answer: &Value) -> bool {
    let series = answer["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["series"].as_array().into_iter().flatten());
    series
        .flat_map(|s| s["values"].as_array().into_iter().flatten())
        .any(|row| {
            row.as_array()
                .into_iter()
                .flatten()
                .skip(1)
                .any(|v| v.is_string() || v.as_f64().is_some_and(|x| x != 0.0))
        })
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Points as the collector writes them (its own line-protocol code): an air and a water sample
/// with every field and every quality flag, and a status report. Returns the lines and the
/// stations.
pub(super) fn sample_points() -> Result<(String, Vec<String>)> {
    let node = |id, station: &str, kind| NodeInfo {
        id,
        station: station.into(),
        name: station.into(),
        kind,
        district: "Vị Thanh".into(),
        location: None,
        key: None,
    };
    let air = node(101, "HG-VT-A01", StationKind::Air);
    let water = node(201, "HG-VT-W01", StationKind::Water);
    let every_flag = QualityFlags::from_bits(0b11_1111).context("the six flags")?;
    let at = now_ms() - 600_000;
    // The water node's clock is not synced (time 0): the collector stamps it when it arrives.
    let points = [
        (
            &air,
            at,
            Body::Air(AirSample {
                quality: every_flag,
                samples: 12,
                pm1_0: Some(81),
                pm2_5: Some(125),
                pm10: Some(202),
                temperature: Some(2_915),
                humidity: Some(7_850),
                pressure: Some(10_082),
                co: Some(410),
                no2: Some(213),
                so2: Some(52),
                o3: Some(401),
            }),
        ),
        (
            &water,
            0,
            Body::Water(WaterSample {
                quality: every_flag,
                samples: 12,
                ph: Some(7_120),
                dissolved_oxygen: Some(540),
                conductivity: Some(1_250),
                temperature: Some(2_840),
                turbidity: Some(352),
                water_level: Some(1_250),
                salinity: Some(60),
            }),
        ),
        (
            &air,
            at,
            Body::Status(NodeStatus {
                kind: StatusKind::Periodic,
                firmware: FirmwareVersion {
                    major: 1,
                    minor: 2,
                    patch: 0,
                },
                uptime_s: 3_600,
                battery_mv: Some(3_912),
                rssi_dbm: Some(-71),
                frames_dropped: 2,
                frames_queued: 0,
            }),
        ),
    ];
    let mut lines = String::new();
    for (seq, (node, time_ms, body)) in (0..).zip(points) {
        let frame = Frame {
            node_id: node.id,
            boot: 1,
            seq,
            time_ms,
            body,
        };
        collector::sink::line_protocol::write_point(&mut lines, &frame, node, at);
    }
    Ok((lines, vec![air.station, water.station]))
}
