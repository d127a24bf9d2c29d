//! Proves: two collectors on one shared subscription (`$share/collectors/...`) split the stream
//! and write each frame once; when one is killed (SIGKILL) the other carries on, and once the
//! dead one's session is recovered (it restarts under the same client id) nothing is lost.
//!
//! What mosquitto 2.0 does meanwhile (see `docs/collector.md`): it keeps dispatching round-robin
//! to the dead member's persistent session too, so about half of what is published while it is
//! down waits in that session, with the messages it had in flight, until it comes back. Nothing is
//! re-dispatched to the live member (eclipse-mosquitto/mosquitto#2662).

mod support;

mod common;

use std::time::Duration;

use anyhow::{Result, ensure};
use common::{Bed, CollectorProcess};

fn written(metrics: &std::collections::BTreeMap<String, f64>) -> u64 {
    metrics.get("written_total").copied().unwrap_or_default() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_split_the_stream_and_survive_one_being_killed() -> Result<()> {
    let bed = Bed::start(common::registry(20)).await?;
    let member = |id: &str| {
        let mut config = bed.config(id);
        config.mqtt.shared_group = Some("collectors".into());
        CollectorProcess::spawn(config, bed.dir.path())
    };
    let mut a = member("shared-a")?;
    let mut b = member("shared-b")?;
    a.wait_ready().await?;
    b.wait_ready().await?;

    // 20 nodes x 450 frames at 300 frames/s: 30 s of stream.
    let stream = bed.stream(300, 450, 4, "shared");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (a_before, b_before) = (written(&a.metrics().await?), written(&b.metrics().await?));
    let total_before = a_before + b_before;
    ensure!(
        a_before * 10 > total_before * 3 && b_before * 10 > total_before * 3,
        "the load is split: a wrote {a_before}, b wrote {b_before}"
    );
    a.kill();
    let published_at_kill = stream.published_count().await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let published_while_down = stream.published_count().await - published_at_kill;
    let b_while = written(&b.metrics().await?) - b_before;
    ensure!(b.is_running(), "b carries on");
    ensure!(b_while > 0, "b kept writing while a was down");
    a.start_again()?;
    a.wait_ready().await?;

    let published = stream.finish(Duration::from_secs(60)).await?;
    common::wait_for_points(&bed.influx, published.len(), Duration::from_secs(60)).await;
    let (a_after, b_after) = (written(&a.metrics().await?), written(&b.metrics().await?));
    a.stop().await?;
    b.stop().await?;
    eprintln!(
        "shared subscription: before the kill a wrote {a_before}, b wrote {b_before}; while a was down ({published_while_down} published) b wrote {b_while}; \
         a's restarted run wrote {a_after} (its session's backlog and its share since), b wrote {b_after} in all"
    );
    common::verify_exactly_once(
        &bed.influx,
        &published,
        "shared subscription with a member killed",
    )
    .await?;
    Ok(())
}
