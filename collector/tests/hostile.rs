//! Proves: hostile input published raw to the telemetry topics (random bytes, truncated frames,
//! oversized payloads, a valid frame with a flipped bit, replays of old frames, a frame from an
//! unknown node) is dead-lettered with the right reason, the counters match the dead-letter store,
//! nothing of it is stored, an exact repeat is acknowledged without a second write, and the
//! collector keeps working. The `dead-letters` subcommand reads the store back.

mod support;

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use collector::dead_letter::read_all;
use collector::pipeline::window::BOOTS;
use common::stream::{frame_bytes, wall_ms};
use common::{Bed, InProcess};
use protocol::inbound::accept;
use protocol::topic::DEFAULT_PREFIX;
use rand::{Rng, SeedableRng};
use rumqttc::MqttOptions;
use support::TestClient;

/// The boot of node 101's legitimate history: late enough that a boot the replay window has
/// forgotten exists.
const HISTORY_BOOT: u32 = BOOTS + 4;

fn topic(node: u32) -> String {
    format!("{DEFAULT_PREFIX}/node/{node}/telemetry")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_are_dead_lettered_with_the_right_reason_and_nothing_is_stored() -> Result<()> {
    let bed = Bed::start(common::registry(3)).await?;
    let registry = &bed.registry;
    let config = bed.config("hostile-collector");
    let config_path = bed.dir.path().join("collector.toml");
    std::fs::write(&config_path, toml::to_string(&config)?)?;
    let dead_letter_path = config.dead_letter.path.clone();
    let collector = InProcess::start(config, registry.clone()).await?;
    let stats = &collector.stats;
    let metrics_url = format!("http://{}/metrics", collector.http);

    // A legitimate history first: node 101, boot 20, seqs 0..=199.
    let start = wall_ms() - 3_600_000;
    let good = |boot: u32, seq: u32| frame_bytes(registry, 101, boot, seq, start + u64::from(seq) * 1_000);
    let mut client = TestClient::connect(bed.broker.port(), "hostile-publisher", true).await?;
    for seq in 0..200 {
        client.publish_qos1(&topic(101), &good(HISTORY_BOOT, seq)).await?;
    }
    common::wait_until("the history to be written", Duration::from_secs(30), || {
        stats.snapshot().written == 200
    })
    .await?;

    // The hostile set, each with the reason the collector must give.
    let mut hostile: Vec<(String, Vec<u8>, &str)> = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let valid = good(HISTORY_BOOT, 200);
    for i in 0..30 {
        let len = rng.random_range(0..=protocol::MAX_FRAME_LEN);
        let noise: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        // Pure noise, noise behind a valid header, and a valid frame's start with a noisy tail,
        // so the decoder is reached at every depth.
        let bytes: Vec<u8> = match i % 3 {
            0 => noise,
            1 => [0x01, 0x00]
                .into_iter()
                .chain(noise)
                .take(protocol::MAX_FRAME_LEN)
                .collect(),
            _ => {
                let keep = rng.random_range(2..valid.len());
                valid[..keep]
                    .iter()
                    .copied()
                    .chain(noise)
                    .take(protocol::MAX_FRAME_LEN)
                    .collect()
            }
        };
        // Random bytes fail in many ways; the shared acceptance rule says which.
        let node = if i % 3 == 2 { 101 } else { 102 };
        let reason = accept(registry, DEFAULT_PREFIX, &topic(node), &bytes)
            .err()
            .context("random bytes must not be accepted")?
            .reason;
        hostile.push((topic(node), bytes, reason));
    }
    hostile.push((topic(101), valid[..valid.len() - 3].to_vec(), "truncated"));
    hostile.push((topic(101), valid[..5].to_vec(), "truncated"));
    hostile.push((topic(101), vec![0x01; 100_000], "oversized"));
    let mut flipped = valid.clone();
    flipped[20] ^= 0x04;
    hostile.push((topic(101), flipped, "bad_tag"));
    // Replays: a frame delivered long ago (deep in its stream, not a redelivery of the last
    // frames), and a frame of a boot older than the window remembers. A frame of a recent earlier
    // boot is no replay: a node's flash queue keeps its backlog across reboots.
    hostile.push((topic(101), good(HISTORY_BOOT, 3), "replay"));
    hostile.push((topic(101), good(HISTORY_BOOT - BOOTS, 500), "replay"));
    let stranger = {
        let mut other = common::registry(1);
        other = protocol::registry::Registry::from_nodes(other.nodes().map(|n| {
            let mut n = n.clone();
            n.id = 999;
            n
        }))?;
        frame_bytes(&other, 999, 1, 0, start)
    };
    hostile.push((topic(999), stranger, "unknown_node"));
    for (t, payload, _) in &hostile {
        if payload.len() > 10_000 {
            // Larger than the test client's packet limit.
            let mut options = MqttOptions::new("hostile-large", "127.0.0.1", bed.broker.port());
            options.set_max_packet_size(1 << 20, 1 << 20);
            common::publish_once(options, t, payload.clone()).await?;
        } else {
            client.publish_qos1(t, payload).await?;
        }
    }
    // An exact repeat (a redelivery) and then a new valid frame: the collector still works.
    client.publish_qos1(&topic(101), &good(HISTORY_BOOT, 199)).await?;
    client.publish_qos1(&topic(101), &valid).await?;
    client.disconnect().await?;

    let want = hostile.len() as u64;
    common::wait_until(
        "every hostile frame to be counted",
        Duration::from_secs(30),
        || {
            let s = stats.snapshot();
            s.rejected_total() == want && s.written == 201 && s.duplicates == 1
        },
    )
    .await?;
    ensure!(collector.is_running(), "no panic, still running");

    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, reason) in &hostile {
        *expected.entry((*reason).to_owned()).or_default() += 1;
    }
    let counted: BTreeMap<String, u64> = stats
        .snapshot()
        .rejected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    ensure!(counted == expected, "counters {counted:?}, expected {expected:?}");
    let (records, unreadable) = read_all(&dead_letter_path)?;
    ensure!(unreadable == 0);
    let mut stored_reasons: BTreeMap<String, u64> = BTreeMap::new();
    for r in &records {
        *stored_reasons.entry(r.reason.clone()).or_default() += 1;
    }
    ensure!(
        stored_reasons == expected,
        "dead letters {stored_reasons:?}, expected {expected:?}"
    );
    for (t, payload, reason) in &hostile {
        let kept = payload.len().min(collector::dead_letter::MAX_KEPT_PAYLOAD);
        let raw = hex::encode(&payload[..kept]);
        let record = records
            .iter()
            .find(|r| r.topic == *t && r.payload_hex == raw && r.payload_len == payload.len())
            .with_context(|| format!("no dead letter keeps the raw bytes of a {reason} frame"))?;
        ensure!(record.reason == *reason, "{record:?} should say {reason}");
    }
    let points = common::stored_points(&bed.influx).await?;
    ensure!(
        points.len() == 201,
        "only the 201 valid frames are stored, found {}",
        points.len()
    );

    let metrics = reqwest::get(&metrics_url).await?.text().await?;
    for (reason, count) in &expected {
        let line = format!("citysense_collector_rejected_total{{reason=\"{reason}\"}} {count}");
        ensure!(metrics.contains(&line), "/metrics lacks {line}");
    }
    let summary = std::process::Command::new(env!("CARGO_BIN_EXE_citysense-collector"))
        .args(["dead-letters", "-c"])
        .arg(&config_path)
        .output()?;
    let summary = String::from_utf8_lossy(&summary.stdout);
    ensure!(
        summary.contains(&format!("total {:>14}", want))
            || summary
                .lines()
                .any(|l| l.starts_with("total") && l.ends_with(&want.to_string())),
        "dead-letters summary:\n{summary}"
    );
    collector.stop().await?;
    eprintln!(
        "hostile input: {want} published, {want} dead-lettered ({expected:?}), 1 exact repeat acked without a write, 201 valid stored, 0 hostile stored"
    );
    eprintln!("{summary}");
    Ok(())
}

/// Proves, against real InfluxDB 1.6: when the database refuses some points of a batch (here a
/// field type conflict: `ph` already stored as an integer, so every water point is refused), the
/// batch is split, the air points are written, and each refused point is dead-lettered with
/// InfluxDB's own message and its raw frame; the messages are acked, nothing is retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_influxdb_refuses_are_isolated_and_dead_lettered_with_its_message() -> Result<()> {
    use protocol::registry::{NodeInfo, Registry, StationKind};
    use protocol::{Body, Frame, MAX_FRAME_LEN, NodeKey, WaterSample};

    let mut nodes: Vec<NodeInfo> = common::registry(2).nodes().cloned().collect();
    nodes.push(NodeInfo {
        id: 201,
        station: "W-201".into(),
        name: String::new(),
        kind: StationKind::Water,
        district: "Vi Thanh".into(),
        location: None,
        key: Some(NodeKey::new([42; 32])),
    });
    let bed = Bed::start(Registry::from_nodes(nodes)?).await?;
    let registry = &bed.registry;
    // The conflict: `ph` is an integer field in this shard (field types are per shard, so the
    // point is an hour old like the frames), the collector writes a float.
    let start = wall_ms() - 3_600_000;
    bed.influx
        .write(
            common::DATABASE,
            &format!("water_quality,node=0 ph=7i {}", start - 1),
        )
        .await?;
    let mut config = bed.config("refused-collector");
    config.batch.max_age_ms = 500;
    let dead_letter_path = config.dead_letter.path.clone();
    let collector = InProcess::start(config, registry.clone()).await?;
    let stats = &collector.stats;

    let water = |seq: u32| -> Result<Vec<u8>> {
        let frame = Frame {
            node_id: 201,
            boot: 1,
            seq,
            time_ms: start + u64::from(seq) * 1_000,
            body: Body::Water(WaterSample {
                samples: 3,
                ph: Some(7_250),
                temperature: Some(2_900),
                ..WaterSample::default()
            }),
        };
        let key = registry.get(201).and_then(|n| n.key.as_ref());
        let mut buf = [0u8; MAX_FRAME_LEN];
        Ok(frame.encode(key, &mut buf)?.to_vec())
    };
    let mut client = TestClient::connect(bed.broker.port(), "refused-publisher", true).await?;
    // One batch: air and water frames interleaved.
    for seq in 0..20 {
        for node in [101, 102] {
            client
                .publish_qos1(
                    &topic(node),
                    &frame_bytes(registry, node, 1, seq, start + u64::from(seq) * 1_000),
                )
                .await?;
        }
        if seq % 4 == 0 {
            client.publish_qos1(&topic(201), &water(seq)?).await?;
        }
    }
    client.disconnect().await?;
    let waited = common::wait_until(
        "the batch to be written and split",
        Duration::from_secs(30),
        || {
            let s = stats.snapshot();
            s.written == 40 && s.rejected.get("sink_refused") == Some(&5) && s.acked == 45
        },
    )
    .await;
    if let Err(e) = waited {
        anyhow::bail!("{e}: {:?}", stats.snapshot());
    }
    let (records, _) = read_all(&dead_letter_path)?;
    ensure!(records.len() == 5, "{records:?}");
    for r in &records {
        ensure!(r.reason == "sink_refused" && r.topic == topic(201), "{r:?}");
        ensure!(
            r.detail.contains("field type conflict"),
            "InfluxDB's message is kept: {}",
            r.detail
        );
        ensure!(
            r.payload_len > 0 && !r.payload_hex.is_empty(),
            "the raw frame is kept"
        );
    }
    ensure!(
        common::stored_points(&bed.influx).await?.len() == 40,
        "every air point is stored"
    );
    collector.stop().await?;
    eprintln!(
        "InfluxDB refused 5 of 45 points (field type conflict): split, 40 written, 5 dead-lettered with \"{}\"",
        records[0].detail.chars().take(120).collect::<String>()
    );
    Ok(())
}
