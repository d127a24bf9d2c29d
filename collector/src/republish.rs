//! Sends dead-lettered frames through the broker again, byte for byte, to the topic they came on:
//! what an operator does once the cause is fixed. A node added to the registry after its first
//! frames arrived (`unknown_node`), or a field InfluxDB refused until its type was sorted out
//! (`sink_refused`), loses nothing: its frames are still in the dead-letter store.
//!
//! The collector handles them like any frame. One already written is a duplicate and is not
//! written twice, so publishing the same records again is harmless; one still wrong is
//! dead-lettered again with its reason.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rumqttc::{AsyncClient, Event, Packet, QoS};

use crate::config::Config;
use crate::dead_letter::{self, DeadLetter};

/// How long to wait for the broker to acknowledge what was sent.
const ACK_DEADLINE: Duration = Duration::from_secs(60);

/// What a republish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Republished {
    /// Records with the reason asked for.
    pub matched: usize,
    /// Frames the broker acknowledged (QoS 1).
    pub sent: usize,
    /// Records kept only in part (oversized payloads) or unreadable: not sent.
    pub skipped: usize,
}

/// The dead-lettered frames with one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// (topic, payload) of each complete record, in the order they were rejected.
    pub frames: Vec<(String, Vec<u8>)>,
    /// Records with the reason.
    pub matched: usize,
    /// Records kept only in part (oversized payloads) or unreadable.
    pub skipped: usize,
}

/// The frames a republish would send.
///
/// # Errors
///
/// The store cannot be read.
pub fn select(path: &Path, reason: &str) -> anyhow::Result<Selection> {
    let (records, _) =
        dead_letter::read_all(path).with_context(|| format!("cannot read {}", path.display()))?;
    let matched: Vec<DeadLetter> = records.into_iter().filter(|r| r.reason == reason).collect();
    let mut frames = Vec::new();
    for r in &matched {
        match hex::decode(&r.payload_hex) {
            Ok(payload) if payload.len() == r.payload_len => frames.push((r.topic.clone(), payload)),
            _ => {}
        }
    }
    Ok(Selection {
        skipped: matched.len() - frames.len(),
        matched: matched.len(),
        frames,
    })
}

/// Publishes the dead-lettered frames with `reason` to the broker `config` names (QoS 1, as
/// `<client_id>-republish`) and waits until the broker has acknowledged each.
///
/// # Errors
///
/// The store cannot be read, the broker refuses the connection, or it does not acknowledge
/// every frame within a minute.
pub async fn republish(config: &Config, reason: &str) -> anyhow::Result<Republished> {
    let Selection {
        frames,
        matched,
        skipped,
    } = select(&config.dead_letter.path, reason)?;
    if frames.is_empty() {
        return Ok(Republished {
            matched,
            sent: 0,
            skipped,
        });
    }
    let mut mqtt = config.mqtt.clone();
    mqtt.client_id = format!("{}-republish", mqtt.client_id);
    let mut options = mqtt.options()?;
    options.set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, frames.len().min(1_000));
    let want = frames.len();
    let sender = tokio::spawn(async move {
        for (topic, payload) in frames {
            client.publish(topic, QoS::AtLeastOnce, false, payload).await?;
        }
        Ok::<_, rumqttc::ClientError>(client)
    });
    let mut acked = 0;
    let waited = tokio::time::timeout(ACK_DEADLINE, async {
        while acked < want {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
    .await;
    let client = sender.await.context("the publishing task")??;
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await;
    match waited {
        Ok(Ok(())) => Ok(Republished {
            matched,
            sent: acked,
            skipped,
        }),
        Ok(Err(e)) => {
            Err(e).with_context(|| format!("broker {} after {acked} of {want} frames", config.mqtt.address()))
        }
        Err(_) => bail!("the broker acknowledged {acked} of {want} frames within {ACK_DEADLINE:?}"),
    }
}
