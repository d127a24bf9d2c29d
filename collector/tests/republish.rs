//! A node's frames that arrived before it was in the registry are dead-lettered as
//! `unknown_node`; once the node is added and the collector restarted, `republish` sends them
//! through the broker again and every one is written once. Republishing them a second time
//! writes nothing more: the last 16 (the window's recent frames, `RECENT`) come back as duplicates,
//! the older ones as replays, dead-lettered again.

mod support;

mod common;

use std::time::Duration;

use anyhow::{Result, ensure};
use collector::pipeline::window::RECENT;
use collector::republish::{Republished, republish};
use common::stream::{frame_bytes, wall_ms};
use common::{Bed, InProcess};
use protocol::topic::DEFAULT_PREFIX;
use support::TestClient;

const FRAMES: u32 = 20;
const NEWCOMER: u32 = 102;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_of_a_node_added_later_are_republished_and_written_once() -> Result<()> {
    let bed = Bed::start(common::registry(1)).await?;
    let config = bed.config("republish-collector");
    let with_newcomer = common::registry(2);

    // Node 102 reports before anyone added it to the registry.
    let collector = InProcess::start(config.clone(), bed.registry.clone()).await?;
    let topic = format!("{DEFAULT_PREFIX}/node/{NEWCOMER}/telemetry");
    let start = wall_ms() - 3_600_000;
    let mut client = TestClient::connect(bed.broker.port(), "republish-node", true).await?;
    for seq in 0..FRAMES {
        let frame = frame_bytes(&with_newcomer, NEWCOMER, 1, seq, start + u64::from(seq) * 60_000);
        client.publish_qos1(&topic, &frame).await?;
    }
    client.disconnect().await?;
    let stats = &collector.stats;
    common::wait_until(
        "the newcomer's frames to be dead-lettered",
        Duration::from_secs(30),
        || stats.snapshot().rejected.get("unknown_node") == Some(&u64::from(FRAMES)),
    )
    .await?;
    collector.stop().await?;

    // The operator adds the node and restarts the collector, then republishes.
    common::write_registry(&with_newcomer, bed.dir.path());
    let collector = InProcess::start(config.clone(), with_newcomer.clone()).await?;
    let first = republish(&config, "unknown_node").await?;
    ensure!(
        first
            == Republished {
                matched: FRAMES as usize,
                sent: FRAMES as usize,
                skipped: 0
            },
        "{first:?}"
    );
    let stats = &collector.stats;
    common::wait_until(
        "the republished frames to be written",
        Duration::from_secs(30),
        || stats.snapshot().written == u64::from(FRAMES),
    )
    .await?;

    // Again: the same records, now seen. Only the node's last frames still have known bytes.
    let second = republish(&config, "unknown_node").await?;
    ensure!(second.sent == FRAMES as usize, "{second:?}");
    let recent = (RECENT as u32).min(FRAMES);
    common::wait_until("the second round to be refused", Duration::from_secs(30), || {
        let s = stats.snapshot();
        s.duplicates == u64::from(recent) && s.rejected.get("replay") == Some(&u64::from(FRAMES - recent))
    })
    .await?;
    let end = stats.snapshot();
    collector.stop().await?;

    let mut seqs: Vec<u32> = common::stored_points(&bed.influx)
        .await?
        .iter()
        .filter(|p| p.node == NEWCOMER)
        .map(|p| p.seq)
        .collect();
    seqs.sort_unstable();
    ensure!(
        seqs == (0..FRAMES).collect::<Vec<_>>(),
        "stored seqs of node {NEWCOMER}: {seqs:?}"
    );
    ensure!(
        end.rejected_total() == u64::from(FRAMES - recent),
        "rejected after the restart: {:?}",
        end.rejected
    );
    eprintln!(
        "republish: {FRAMES} frames dead-lettered as unknown_node, republished twice ({} + {} sent): written {}, duplicates {}, stored {}",
        first.sent,
        second.sent,
        end.written,
        end.duplicates,
        seqs.len()
    );
    Ok(())
}
