//! Proves: restarting mosquitto (persistence on) twice mid-stream loses nothing: the collector
//! reconnects under its persistent session, subscribes again, and the broker hands it what it
//! had queued; the nodes resend what the broker had not acknowledged.

mod support;

mod common;

use std::time::Duration;

use anyhow::{Result, ensure};
use collector::Collector;
use common::{Broker, NodeStream, StreamConfig};
use support::Influx1;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_restarts_with_persistence_lose_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut broker = Broker::start(1_000, true).await?;
    let influx = Influx1::start().await?;
    influx.create_database(common::DATABASE).await?;
    let registry = common::registry(20);
    let registry_path = common::write_registry(&registry, dir.path());
    let config = common::config(
        broker.port(),
        "restart-collector",
        &registry_path,
        &influx.url(),
        dir.path(),
    );
    let collector = Collector::new(config, registry.clone())?;
    let stats = collector.stats();
    let mut subscribed = collector.subscribed();
    let stop = CancellationToken::new();
    let task = tokio::spawn(collector.run(stop.clone().cancelled_owned()));
    subscribed.wait_for(|s| *s).await?;

    // 20 nodes x 300 frames at 400 frames/s: 15 s of stream, the broker restarted at 4 s and 9 s.
    let stream = NodeStream::start(
        &registry,
        StreamConfig {
            port: broker.port(),
            rate: 400,
            frames_per_node: 300,
            connections: 4,
            boot: 1,
        },
        "restart",
    );
    let mut at_restart = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(4)).await;
        at_restart.push((stream.published_count().await, stats.snapshot().written));
        broker.restart().await?;
    }
    let published = stream.finish(Duration::from_secs(60)).await?;
    common::wait_until("every frame to be written", Duration::from_secs(60), || {
        stats.snapshot().written as usize >= published.len()
    })
    .await?;
    let end = stats.snapshot();
    ensure!(!task.is_finished(), "the collector kept running");
    stop.cancel();
    task.await?;
    eprintln!(
        "mosquitto restarted twice (published, written) at each restart: {at_restart:?}; collector received {}, duplicates suppressed {}",
        end.received, end.duplicates
    );
    common::verify_exactly_once(&influx, &published, "mosquitto restarts").await?;
    Ok(())
}
