//! The replay window in the IOC API, the collector's: a re-flashed node that numbers its frames
//! from the start again has them refused (not readings, as the collector does not store them),
//! counted on the station's health and in `/metrics`, and its `sequence_reset` alert fires, then
//! resolves on its next new frame. The window survives a restart.

mod common;

use common::{Api, MINUTE, T0};
use ioc_api::store::Store;
use protocol::{AirSample, Body};
use serde_json::Value;
use time::OffsetDateTime;

fn at(minute: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0 + minute * MINUTE) * 1_000_000).expect("time")
}

fn pm(ug: f64) -> Body {
    Body::Air(AirSample {
        samples: 1,
        pm2_5: Some((ug * 10.0) as u16),
        ..AirSample::default()
    })
}

async fn station(api: &Api) -> Value {
    let (_, body) = api.get("/api/v1/stations/HG-VT-A01").await;
    body
}

async fn sequence_alerts(api: &Api) -> Vec<Value> {
    let (_, alerts) = api.get("/api/v1/alerts?station=HG-VT-A01").await;
    alerts
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["parameter"] == "sequence_reset")
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_node_reusing_its_keys_is_refused_counted_and_alerted_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ioc-api.sqlite");
    {
        let api = Api::with_store(common::config(), Store::open(&path).expect("db"));
        for seq in 0..10 {
            api.message(
                101,
                1,
                seq,
                T0 + u64::from(seq) * MINUTE,
                pm(20.0),
                at(u64::from(seq)),
            );
        }
        // Sent again by the node (a lost acknowledgement): a duplicate, nothing counted.
        api.message(101, 1, 9, T0 + 9 * MINUTE, pm(20.0), at(9));
        let before = station(&api).await;
        assert_eq!(before["reading"]["pm2_5"], 20.0, "{before}");

        // Re-flashed an hour later: boot 1 and seq 0 again, other readings.
        for seq in 0..10 {
            let minute = 60 + u64::from(seq);
            api.message(101, 1, seq, T0 + minute * MINUTE, pm(300.0), at(minute));
        }
        let after = station(&api).await;
        // The window knows the bytes of the node's last RECENT frames (seqs 2 to 9).
        let recent = protocol::window::RECENT as u64;
        assert_eq!(after["frames_refused"]["seq_reused"], recent, "{after}");
        assert_eq!(after["frames_refused"]["replays"], 10 - recent, "{after}");
        assert_eq!(
            after["reading"], before["reading"],
            "the refused frames are no readings"
        );
        let alerts = sequence_alerts(&api).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0]["state"], "firing");
        let text = ioc_api::metrics::render(&api.state);
        assert!(
            text.contains(&format!("citysense_ioc_frames_seq_reused_total {recent}")),
            "{text}"
        );
        assert!(text.contains("citysense_ioc_frames_duplicate_total 1"), "{text}");
        api.state.save_window();
    }
    // After a restart the window still knows the node's keys and their bytes.
    let api = Api::with_store(common::config(), Store::open(&path).expect("db"));
    api.message(101, 1, 7, T0 + 67 * MINUTE, pm(300.0), at(67));
    let restarted = station(&api).await;
    assert_eq!(restarted["frames_refused"]["seq_reused"], 1, "{restarted}");
    assert_eq!(
        sequence_alerts(&api).await[0]["state"],
        "firing",
        "the same alert"
    );
    // The node's first frame beyond what it sent before is new: a reading, and the alert resolves.
    api.message(101, 1, 10, T0 + 70 * MINUTE, pm(30.0), at(70));
    let back = station(&api).await;
    assert_eq!(back["reading"]["pm2_5"], 30.0, "{back}");
    let alerts = sequence_alerts(&api).await;
    assert_eq!(
        (
            alerts.len(),
            alerts[0]["state"].as_str(),
            alerts[0]["resolution"].as_str()
        ),
        (1, Some("resolved"), Some("hysteresis"))
    );
}
