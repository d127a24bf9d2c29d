//! Proves: restarting mosquitto (persistence on) twice mid-stream loses nothing: the collector
//! reconnects under its persistent session, subscribes again, and the broker hands it what it
//! had queued; the nodes resend what the broker had not acknowledged.

mod support;

mod common;

use std::time::Duration;

use anyhow::{Result, ensure};
use common::{Bed, InProcess, MAX_UNACKED};
use support::MosquittoOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_restarts_with_persistence_lose_nothing() -> Result<()> {
    let mut bed = Bed::start_with(
        common::registry(20),
        MosquittoOptions {
            persistence: true,
            max_inflight_messages: MAX_UNACKED,
            ..MosquittoOptions::default()
        },
    )
    .await?;
    let collector = InProcess::start(bed.config("restart-collector"), bed.registry.clone()).await?;
    let stats = &collector.stats;

    // 20 nodes x 300 frames at 400 frames/s: 15 s of stream, the broker restarted at 4 s and 9 s.
    let stream = bed.stream(400, 300, 4, "restart");
    let mut at_restart = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(4)).await;
        at_restart.push((stream.published_count().await, stats.snapshot().written));
        bed.broker.restart().await?;
    }
    let published = stream.finish(Duration::from_secs(60)).await?;
    common::wait_until("every frame to be written", Duration::from_secs(60), || {
        stats.snapshot().written as usize >= published.len()
    })
    .await?;
    let end = stats.snapshot();
    ensure!(collector.is_running(), "the collector kept running");
    collector.stop().await?;
    eprintln!(
        "mosquitto restarted twice (published, written) at each restart: {at_restart:?}; collector received {}, duplicates suppressed {}",
        end.received, end.duplicates
    );
    common::verify_exactly_once(&bed.influx, &published, "mosquitto restarts").await?;
    Ok(())
}
