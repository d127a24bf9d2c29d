use std::time::Duration;

use rumqttc::{AsyncClient, MqttOptions, Publish, QoS};

use super::*;
use crate::dead_letter::DeadLetterStore;
use crate::pipeline::window::{Digest, FrameKey};
use crate::sink::InfluxV1Sink;
use crate::source::mqtt::AckQueue;

fn message(pkid: u16) -> Publish {
    let mut publish = Publish::new("p/node/1/telemetry", QoS::AtLeastOnce, vec![1, 2, 3]);
    publish.pkid = pkid;
    publish
}

/// Collects what the writer hands to the polling task, and says "flushed" once the queue closes.
fn poll_acks(mut queue: AckQueue) -> tokio::task::JoinHandle<Vec<u16>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        while let Some(pkid) = queue.rx.recv().await {
            acked.push(pkid);
        }
        if let Some(flushed) = queue.flushed.take() {
            let _ = flushed.send(());
        }
        acked
    })
}

#[tokio::test]
async fn nothing_after_a_batch_left_unacked_at_shutdown_is_acked() {
    // InfluxDB unreachable and the spool full: the first batch cannot be made durable before the
    // grace ends. The second holds only a redelivery of the first batch's frame (a duplicate,
    // durable at once). Acking it would make the broker drop the one message that was never
    // stored.
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = Spool::open(&dir.path().join("spool"), 1, 1 << 20).expect("spool");
    let dead_letters = DeadLetterStore::open(&dir.path().join("dl.jsonl"), 1 << 20).expect("dl");
    let shared = Shared {
        spool: Arc::new(Mutex::new(spool)),
        dead_letters: Arc::new(Mutex::new(dead_letters)),
        stats: Arc::default(),
        spooled: Arc::default(),
        space: Arc::default(),
    };
    shared.stats.set_sink_healthy(true);
    let sink = InfluxV1Sink::new(
        "http://127.0.0.1:1",
        "db",
        None,
        None,
        None,
        false,
        Duration::from_millis(200),
    )
    .expect("sink");
    let (client, _eventloop) = AsyncClient::new(MqttOptions::new("t", "127.0.0.1", 1), 10);
    let (acker, queue) = Acker::new(client);
    let acked = poll_acks(queue);
    let shutdown = CancellationToken::new();
    let writer = Writer {
        sink: Sink::InfluxV1(sink),
        shared,
        window: ReplayWindow::default(),
        window_file: WindowFile::in_dir(dir.path()),
        acker,
        shutdown: shutdown.clone(),
        grace: Duration::from_millis(100),
        acks_stopped: false,
    };
    let key = FrameKey {
        node: 1,
        boot: 1,
        seq: 1,
    };
    let mut first = Batch::with_room_for(1);
    first.lines.push_str("m v=1 1\n");
    first.push_point(message(1), 0..8, (key, Digest::of(b"m v=1 1")));
    let mut second = Batch::with_room_for(1);
    second.push(message(2));

    let (tx, rx) = mpsc::channel(2);
    let task = tokio::spawn(writer.run(rx));
    tx.send(first).await.expect("send");
    tx.send(second).await.expect("send");
    shutdown.cancel();
    drop(tx);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the writer ends within the grace")
        .expect("no panic");
    assert_eq!(
        acked.await.expect("acks"),
        Vec::<u16>::new(),
        "no ack may pass the message left unacked"
    );
}
