//! Proves: killing the collector with SIGKILL every few seconds during a steady stream, and
//! restarting it each time, loses nothing and stores nothing twice. The collector runs as its own
//! process (its persistent session, spool and replay window across crashes are what is tested).
//! At the end, SIGTERM drains and exits within the grace period.

mod support;

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{Bed, CollectorProcess};
use rand::Rng;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_every_few_seconds_loses_and_duplicates_nothing() -> Result<()> {
    let bed = Bed::start(common::registry(20)).await?;
    let mut collector = CollectorProcess::spawn(bed.config("crash-collector"), bed.dir.path())?;
    collector.wait_ready().await?;

    // 20 nodes x 300 frames at 400 frames/s: about 15 s of stream.
    let stream = bed.stream(400, 300, 4, "crash");
    let mut kills = 0;
    let mut published_at_kills = Vec::new();
    for _ in 0..6 {
        let pause = rand::rng().random_range(1_000..2_500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        collector.kill();
        kills += 1;
        published_at_kills.push(stream.published_count().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
        collector.start_again()?;
        collector.wait_ready().await?;
    }
    let published = stream.finish(Duration::from_secs(60)).await?;
    common::wait_for_points(&bed.influx, published.len(), Duration::from_secs(60)).await;
    let metrics = collector.metrics().await?;
    // SIGTERM drains within the grace period (5 s in the test config).
    let stopping = std::time::Instant::now();
    collector.stop().await?;
    let stop_took = stopping.elapsed();
    anyhow::ensure!(stop_took < Duration::from_secs(7), "SIGTERM took {stop_took:?}");
    eprintln!("SIGTERM: drained and exited in {} ms", stop_took.as_millis());
    eprintln!(
        "kill -9 loop: {kills} kills (at {published_at_kills:?} frames published); last run: received {}, duplicates suppressed {}",
        metrics.get("received_total").copied().unwrap_or_default(),
        metrics.get("duplicates_total").copied().unwrap_or_default()
    );
    common::verify_exactly_once(&bed.influx, &published, "kill -9 loop").await?;
    Ok(())
}

/// Proves: kill -9 while InfluxDB is down and the collector is spooling loses nothing either: what
/// was acked is in the spool (a torn last record is cut at restart and comes back from the
/// broker), and the restarted collector drains the spool once InfluxDB returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_spooling_loses_nothing() -> Result<()> {
    let mut bed = Bed::start(common::registry(20)).await?;
    let config = bed.config("spool-crash");
    let spool_dir = config.spool.dir.clone();
    let mut collector = CollectorProcess::spawn(config, bed.dir.path())?;
    collector.wait_ready().await?;
    bed.influx.stop().await?;

    // 20 nodes x 200 frames at 400 frames/s: 10 s of stream, all of it while InfluxDB is down.
    let stream = bed.stream(400, 200, 4, "spool-crash");
    let mut spooled_at_kills = Vec::new();
    for _ in 0..4 {
        let pause = rand::rng().random_range(1_000..2_000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let metrics = collector.metrics().await.unwrap_or_default();
        spooled_at_kills.push(metrics.get("spool_bytes").copied().unwrap_or_default() as u64);
        collector.kill();
        tokio::time::sleep(Duration::from_millis(200)).await;
        collector.start_again()?;
        collector.wait_ready().await?;
    }
    let published = stream.finish(Duration::from_secs(60)).await?;
    let segments = std::fs::read_dir(&spool_dir)?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .count();
    bed.influx.start_again().await?;
    common::wait_for_points(&bed.influx, published.len(), Duration::from_secs(60)).await;
    collector.stop().await?;
    eprintln!(
        "kill -9 while spooling: 4 kills with the spool at {spooled_at_kills:?} bytes; {segments} segment(s) on disk before InfluxDB returned"
    );
    anyhow::ensure!(
        spooled_at_kills.iter().any(|b| *b > 0),
        "the kills hit a non-empty spool"
    );
    common::verify_exactly_once(&bed.influx, &published, "kill -9 while spooling").await?;
    Ok(())
}
