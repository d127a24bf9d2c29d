//! The running relay: the MQTT polling loop (manual acks after the journal is synced), the timer
//! that writes finished intervals and prunes the outbox, the upload workers and the HTTP port.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use protocol::registry::Registry;
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, Publish, QoS};
use service::mqtt::{NodeSubscription, reconnect_delay};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::intake::Intake;
use crate::outbox::Outbox;
use crate::stats::Stats;
use crate::upload::worker::{self, now_ms};

/// How often finished intervals are written and the outbox is pruned.
const TICK: Duration = Duration::from_millis(500);
/// Outbox fill levels that are logged once each time they are crossed upwards.
const FILL_WARNINGS: [u64; 3] = [50, 80, 95];
/// Messages held in memory while the outbox is full; at this many the relay stops reading from
/// the broker, which keeps the rest in the relay's session (and sends again whatever the relay
/// held if the connection drops meanwhile). Bounds the relay's memory in an outage of weeks.
const MAX_HELD: usize = 1_000;
/// How long the last acks may take at shutdown.
const FINISH: Duration = Duration::from_secs(5);

/// A relay ready to run.
pub struct Relay {
    config: Config,
    intake: Intake,
    outbox: Arc<Mutex<Outbox>>,
    stats: Arc<Stats>,
    listener: std::net::TcpListener,
    subscribed: watch::Sender<bool>,
}

impl Relay {
    /// Validates the config, opens the outbox and the journal (taking back the messages of
    /// intervals a stop left open) and binds the HTTP port, so every mistake shows before any
    /// message is taken.
    ///
    /// # Errors
    ///
    /// An invalid config, an outbox or port that cannot be opened.
    pub fn new(config: Config, registry: Registry) -> anyhow::Result<Self> {
        service::config::Validate::validate(&config)?;
        let names: Vec<String> = config.receivers.iter().map(|r| r.name.clone()).collect();
        let outbox = Outbox::open(
            &config.outbox.path,
            &names,
            config.outbox.max_bytes,
            config.outbox.keep_days,
        )
        .with_context(|| format!("cannot open the outbox {}", config.outbox.path.display()))?;
        let outbox = Arc::new(Mutex::new(outbox));
        let stats = Arc::new(Stats::new(names));
        let intake = Intake::open(&config, registry, Arc::clone(&outbox), Arc::clone(&stats))
            .with_context(|| format!("cannot open the journal in {}", config.outbox.path.display()))?;
        let listener = std::net::TcpListener::bind(config.http.listen)
            .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
        listener.set_nonblocking(true)?;
        Ok(Relay {
            config,
            intake,
            outbox,
            stats,
            listener,
            subscribed: watch::channel(false).0,
        })
    }

    /// The counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Becomes true once the broker has granted the subscription.
    pub fn subscribed(&self) -> watch::Receiver<bool> {
        self.subscribed.subscribe()
    }

    /// Where `/metrics` answers.
    ///
    /// # Errors
    ///
    /// The listener has no address.
    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Runs until `shutdown` is cancelled: then the journal is synced, the acks go out, the
    /// workers finish the file at hand and the relay disconnects.
    ///
    /// # Errors
    ///
    /// The journal or outbox failed to write (the relay stops rather than acknowledge what it
    /// could not keep), or the HTTP port failed.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Relay {
            config,
            mut intake,
            outbox,
            stats,
            listener,
            subscribed,
        } = self;
        let mut options = config.mqtt.options()?;
        options.set_manual_acks(true);
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        let subscription = NodeSubscription::new(client.clone(), &config.mqtt, subscribed.clone());

        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        let announce = announcer(client.clone(), config.mqtt.prefix.clone());
        for (i, r) in config.receivers.iter().enumerate() {
            workers.push(worker::spawn(
                i,
                r,
                (Arc::clone(&outbox), Arc::clone(&stats)),
                Arc::clone(&announce),
                Arc::clone(&stop),
            )?);
        }
        if config.receivers.is_empty() {
            warn!("No [[receiver]] configured: files are written to the outbox and kept, not uploaded.");
        }
        let router = crate::http::router(Arc::clone(&stats), Arc::clone(&outbox), subscribed.subscribe());
        let http_stop = shutdown.clone();
        let http = tokio::spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { http_stop.cancelled().await })
                .await
        });
        info!(
            receivers = config.receivers.len(),
            interval_s = config.files.interval_s,
            outbox = %config.outbox.path.display(),
            "Relay started."
        );

        let mut loop_state = Loop {
            intake: &mut intake,
            outbox: &outbox,
            stats: &stats,
            held: VecDeque::new(),
            to_ack: VecDeque::new(),
            warned_fill: 0,
        };
        let result = loop_state
            .poll(&client, &mut eventloop, &subscription, &shutdown)
            .await;
        if let Err(e) = &result {
            error!(error = %format!("{e:#}"), "The relay stops: it cannot keep what it would acknowledge.");
        }
        loop_state.finish(&client, &mut eventloop).await;
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        shutdown.cancel();
        let _ = http.await;
        info!("Relay stopped: every message taken is in the journal or in a file.");
        result
    }
}

/// Publishes, retained, the last file each receiver has taken for a station on
/// `{prefix}/transmission/{station}/{receiver}`, so the IOC can show when a station's data last
/// reached the authority (and alert when it stops), across restarts of either side.
fn announcer(client: AsyncClient, prefix: String) -> worker::Announce {
    Arc::new(
        move |receiver: &str, file: &crate::outbox::Stored, already_there: bool| {
            let topic = protocol::topic::TransmissionTopic {
                prefix: &prefix,
                station_id: &file.station,
                receiver,
            }
            .to_string();
            let body = serde_json::json!({
                "station": file.station,
                "receiver": receiver,
                "folder": file.folder,
                "file": file.name,
                "interval_start": rfc3339(file.interval_ms),
                "delivered_at": rfc3339(now_ms()),
                "already_there": already_there,
            });
            // The next delivery publishes again; a full request queue only delays the news.
            if client
                .try_publish(topic, QoS::AtLeastOnce, true, body.to_string())
                .is_err()
            {
                warn!(receiver, station = %file.station, "Could not queue the transmission notice; the next file's will follow.");
            }
        },
    )
}

fn rfc3339(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

struct Loop<'a> {
    intake: &'a mut Intake,
    outbox: &'a Mutex<Outbox>,
    stats: &'a Stats,
    /// Messages taken while the outbox was full, not yet journalled nor acknowledged.
    held: VecDeque<Publish>,
    /// Messages journalled and synced, waiting for room in the request channel.
    to_ack: VecDeque<Publish>,
    warned_fill: u64,
}

impl Loop<'_> {
    async fn poll(
        &mut self,
        client: &AsyncClient,
        eventloop: &mut EventLoop,
        subscription: &NodeSubscription,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(TICK);
        let mut failures = 0u32;
        loop {
            self.send_acks(client);
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => self.on_tick()?,
                event = eventloop.poll(), if self.held.len() < MAX_HELD => match event {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if self.full() {
                            self.held.push_back(p);
                        } else {
                            self.take(p)?;
                        }
                    }
                    Ok(event) => {
                        if matches!(event, Event::Incoming(Packet::ConnAck(_))) {
                            failures = 0;
                            self.stats.set_mqtt_connected(true);
                        }
                        subscription.observe(&event);
                    }
                    Err(e) => {
                        self.stats.set_mqtt_connected(false);
                        // Acks of messages from the lost connection mean nothing to the broker:
                        // it sends them again (the intake counts those as duplicates), and the
                        // held ones too.
                        self.to_ack.clear();
                        self.held.clear();
                        failures += 1;
                        let delay = reconnect_delay(failures);
                        warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "MQTT connection lost; reconnecting.");
                        tokio::time::sleep(delay).await;
                    }
                },
            }
            self.intake.sync().context("cannot sync the journal")?;
        }
    }

    fn take(&mut self, p: Publish) -> anyhow::Result<()> {
        self.intake
            .take(&p.topic, &p.payload, now_ms())
            .context("cannot write the journal")?;
        self.to_ack.push_back(p);
        Ok(())
    }

    fn full(&self) -> bool {
        self.outbox.lock().map(|o| o.is_full()).unwrap_or(true)
    }

    fn on_tick(&mut self) -> anyhow::Result<()> {
        let now = now_ms();
        self.intake
            .close_due(now)
            .context("cannot write a file to the outbox")?;
        let (bytes, max) = {
            let mut o = self
                .outbox
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            o.prune(now).context("cannot prune the outbox")?;
            o.usage()
        };
        self.warn_fill(bytes, max);
        while !self.full()
            && let Some(p) = self.held.pop_front()
        {
            self.take(p)?;
        }
        self.stats.set_open(self.intake.open_count(), self.held.len());
        Ok(())
    }

    fn warn_fill(&mut self, bytes: u64, max: u64) {
        let percent = bytes.saturating_mul(100) / max.max(1);
        let level = FILL_WARNINGS
            .iter()
            .rev()
            .find(|&&l| percent >= l)
            .copied()
            .unwrap_or(0);
        if level > self.warned_fill {
            if percent >= 100 {
                error!(
                    bytes,
                    max,
                    "The outbox is full of files a receiver has not taken: the relay takes no more messages (the broker keeps them) until a receiver takes files. Check the receivers' logs and /metrics."
                );
            } else {
                warn!(
                    percent,
                    bytes,
                    max,
                    "The outbox is filling with files a receiver has not taken; check the receivers."
                );
            }
        }
        self.warned_fill = level;
    }

    fn send_acks(&mut self, client: &AsyncClient) {
        while let Some(p) = self.to_ack.front() {
            if client.try_ack(p).is_err() {
                break;
            }
            self.to_ack.pop_front();
        }
    }

    /// Syncs, sends the last acks and disconnects, polling until the broker has them.
    async fn finish(&mut self, client: &AsyncClient, eventloop: &mut EventLoop) {
        if let Err(e) = self.intake.sync() {
            error!(error = %e, "Could not sync the journal; the broker will send those messages again.");
            self.to_ack.clear();
        }
        let drain = async {
            loop {
                self.send_acks(client);
                if self.to_ack.is_empty() {
                    let _ = client.try_disconnect();
                }
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        if tokio::time::timeout(FINISH, drain).await.is_err() {
            warn!("The last acks could not be sent in time; the broker will send those messages again.");
        }
        self.stats.set_mqtt_connected(false);
    }
}
