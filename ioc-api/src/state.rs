//! The API's shared state and the two steps that change it: `ingest` (a verified frame) and
//! `tick` (the server clock advancing: offline stations, stale alerts).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use protocol::registry::{NodeInfo, Registry};
use protocol::window::{ReplayWindow, Verdict};
use protocol::{Body, Frame, QualityFlags};
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::alerts::{AlertChange, Engine, StationRef, StationRule, Transition, Watch, Window};
use crate::auth::TokenSet;
use crate::config::Config;
use crate::history::Influx;
use crate::indices::wqi::WqiParameter;
use crate::live::{HOUR_MS, HOURS_KEPT};
use crate::live::{Reading, Station, StationView, Stations, ViewSettings};
use crate::metrics::Metrics;
use crate::notify::{Hub, Outbound};
use crate::open_data::Publication;
use crate::store::{SavedHour, Store, StoreError};
use crate::time_fmt::rfc3339;

/// Everything the handlers read, shared behind an `Arc`.
#[derive(Debug)]
pub struct AppState {
    pub(crate) registry: Registry,
    pub(crate) stations: RwLock<Stations>,
    pub(crate) engine: Mutex<Engine>,
    pub(crate) store: Arc<Store>,
    pub(crate) hub: Hub,
    pub(crate) settings: ViewSettings,
    /// The open-data catalogue's publisher, licence and base URL.
    pub(crate) publication: Publication,
    pub(crate) anonymous_read: bool,
    pub(crate) prefix: String,
    pub(crate) alerts_to_mqtt: bool,
    /// Whether this instance evaluates the rules (`alerts.evaluate`): false in a replica, which
    /// raises, resolves and delivers nothing.
    pub(crate) evaluates_alerts: bool,
    pub(crate) outbound: mpsc::Sender<Outbound>,
    pub(crate) outbound_rx: Mutex<Option<mpsc::Receiver<Outbound>>>,
    pub(crate) webhooks: Vec<String>,
    pub(crate) webhook_wake: Arc<Notify>,
    pub(crate) tokens: RwLock<TokenSet>,
    pub(crate) influx: Option<Influx>,
    pub(crate) metrics: Metrics,
    pub(crate) mqtt_connected: AtomicBool,
    /// True once the broker granted the subscriptions.
    pub(crate) subscribed: watch::Sender<bool>,
    /// True once the rebuild from InfluxDB finished (or there is none to do).
    pub(crate) rebuilt: AtomicBool,
    /// Cancelled when the server stops, so open event streams end and shutdown can finish.
    pub(crate) shutdown: CancellationToken,
    rejected: AtomicU64,
    /// The replay window after the acceptance rule, the collector's: only new frames are
    /// readings. Saved in the database by the tick and at shutdown.
    window: Mutex<ReplayWindow>,
    /// Whether the window changed since it was last saved.
    window_changed: AtomicBool,
}

/// Locks recover from poisoning: a panicked handler must not take the whole API down.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|p| p.into_inner())
}

/// Puts the hours the local history holds for the kept span back into the stations' series, so
/// the hourly means after a restart without InfluxDB are the ones served before it.
fn restore_history(store: &Store, stations: &mut Stations, now: OffsetDateTime) -> Result<(), StoreError> {
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let from_ms = now_ms - (HOURS_KEPT as i64) * HOUR_MS as i64;
    let saved = store.hours(None, from_ms, now_ms + HOUR_MS as i64)?;
    let count = saved.len();
    for hour in saved {
        let Some(param) = crate::live::Param::parse(&hour.param) else {
            continue;
        };
        if let Some(station) = stations.by_station_mut(&hour.station) {
            station.series_mut(param, now).series.restore(&hour.record);
        }
    }
    if count > 0 {
        info!(hours = count, "Restored the hourly history from the database.");
    }
    Ok(())
}

pub(crate) fn station_ref(info: &NodeInfo) -> StationRef<'_> {
    StationRef {
        station: &info.station,
        node_id: info.id,
        district: &info.district,
    }
}

/// Quality flags that mean the sample is not trustworthy (FORMAT.md §4).
const FAULT_FLAGS: [QualityFlags; 3] = [
    QualityFlags::SENSOR_FAULT,
    QualityFlags::OUT_OF_RANGE,
    QualityFlags::STUCK_VALUE,
];

impl AppState {
    /// State for the registered stations over `store`: seeds the default rules on a new
    /// database, loads rules, open alerts and tokens.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn new(config: &Config, registry: &Registry, store: Store) -> Result<Arc<Self>, StoreError> {
        let now = OffsetDateTime::now_utc();
        crate::alerts::install_defaults(&store, config.stations.offline_after_s, &rfc3339(now))?;
        let engine = Engine::load(&store)?;
        let tokens = TokenSet::from_records(&store.tokens()?);
        let window = match store.replay_window()? {
            None => ReplayWindow::default(),
            Some(bytes) => ReplayWindow::decode(&bytes).unwrap_or_else(|| {
                warn!(
                    "The saved replay window is damaged or from an older version; starting with an empty one."
                );
                ReplayWindow::default()
            }),
        };
        let mut stations = Stations::new(registry);
        if config.influx.is_none() {
            restore_history(&store, &mut stations, now)?;
        }
        let (outbound, outbound_rx) = mpsc::channel(crate::notify::outbound::QUEUE);
        let first_event_id = (now.unix_timestamp_nanos() / 1_000_000).max(1) as u64 * 1_000;
        Ok(Arc::new(AppState {
            registry: registry.clone(),
            stations: RwLock::new(stations),
            engine: Mutex::new(engine),
            store: Arc::new(store),
            hub: Hub::new(config.alerts.replay_events, first_event_id),
            settings: ViewSettings {
                indices: config.indices.clone(),
                offline_after: time::Duration::seconds(config.stations.offline_after_s as i64),
                utc_offset_hours: config.stations.utc_offset_hours,
                time_zone: config.stations.time_zone.clone(),
                // Config validation resolved this name already; UTC is only a guard.
                zone: jiff::tz::TimeZone::get(&config.stations.time_zone).unwrap_or(jiff::tz::TimeZone::UTC),
                map_tiles: config
                    .stations
                    .map_tiles
                    .clone()
                    .map(|url| (url, config.stations.map_attribution.clone().unwrap_or_default())),
            },
            publication: Publication::new(config),
            anonymous_read: config.auth.anonymous_read,
            prefix: config.mqtt.prefix.clone(),
            alerts_to_mqtt: config.alerts.mqtt,
            evaluates_alerts: config.alerts.evaluate,
            outbound,
            outbound_rx: Mutex::new(Some(outbound_rx)),
            webhooks: config.webhooks.iter().map(|w| w.name.clone()).collect(),
            webhook_wake: Arc::new(Notify::new()),
            tokens: RwLock::new(tokens),
            influx: config.influx.clone().and_then(|c| {
                Influx::new(c)
                    .map_err(|e| warn!(error = %e, "No InfluxDB client; history and exports answer 503."))
                    .ok()
            }),
            metrics: Metrics::default(),
            mqtt_connected: AtomicBool::new(false),
            subscribed: watch::channel(false).0,
            rebuilt: AtomicBool::new(config.influx.as_ref().is_none_or(|i| !i.rebuild_at_start)),
            shutdown: CancellationToken::new(),
            rejected: AtomicU64::new(0),
            window: Mutex::new(window),
            window_changed: AtomicBool::new(false),
        }))
    }

    pub(crate) fn stations(&self) -> RwLockReadGuard<'_, Stations> {
        read(&self.stations)
    }

    pub(crate) fn engine(&self) -> MutexGuard<'_, Engine> {
        lock(&self.engine)
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Turns true once the broker has granted the API's subscriptions.
    pub fn subscribed(&self) -> watch::Receiver<bool> {
        self.subscribed.subscribe()
    }

    /// Frames refused by the acceptance rule so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Frames taken into the live state so far.
    pub fn accepted(&self) -> u64 {
        self.metrics.frames_accepted.load(Ordering::Relaxed)
    }

    pub(crate) fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Reloads the token set from the database (after a change through the API, or one made by
    /// the `token` command while the API runs).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn reload_tokens(&self) -> Result<(), StoreError> {
        let set = TokenSet::from_records(&self.store.tokens()?);
        *write(&self.tokens) = set;
        Ok(())
    }

    /// Creates a token now and makes it usable at once; `None` when the name is taken. The
    /// token is returned once; only its hash is stored.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn create_token(
        &self,
        name: &str,
        role: crate::auth::Role,
        by: &str,
    ) -> Result<Option<String>, StoreError> {
        let token = crate::http::create_token(&self.store, name, role, by, OffsetDateTime::now_utc())?;
        self.reload_tokens()?;
        Ok(token)
    }

    /// Lab values per water station, for VN_WQI.
    pub(crate) fn lab_values(&self, now: OffsetDateTime) -> HashMap<String, Vec<(WqiParameter, f64)>> {
        let water: Vec<String> = read(&self.stations)
            .iter()
            .filter(|s| s.is_water())
            .map(|s| s.info.station.clone())
            .collect();
        water
            .into_iter()
            .filter_map(|station| Some((station.clone(), self.lab_values_of(&station, now)?)))
            .collect()
    }

    /// The latest lab value of each parameter of one station within `indices.lab_max_age_days`;
    /// `None` when the database does not answer.
    fn lab_values_of(&self, station: &str, now: OffsetDateTime) -> Option<Vec<(WqiParameter, f64)>> {
        let since = rfc3339(now - time::Duration::days(i64::from(self.settings.indices.lab_max_age_days)));
        let results = self.store.latest_lab_results(station, &since).ok()?;
        Some(
            results
                .into_iter()
                .filter_map(|r| {
                    serde_json::from_value::<WqiParameter>(serde_json::Value::String(r.parameter))
                        .ok()
                        .map(|p| (p, r.value))
                })
                .collect(),
        )
    }

    /// Every station's view.
    pub fn views(&self, now: OffsetDateTime) -> Vec<StationView> {
        let lab = self.lab_values(now);
        let open = self.open_counts();
        self.stations()
            .iter()
            .map(|s| {
                s.view(
                    now,
                    &self.settings,
                    &lab,
                    open.get(&s.info.station).copied().unwrap_or(0),
                )
            })
            .collect()
    }

    /// One station's view.
    pub fn view(&self, station_id: &str, now: OffsetDateTime) -> Option<StationView> {
        // Only this station's lab values (a water station's), not every station's.
        let water = self.stations().by_station(station_id)?.is_water();
        let lab: HashMap<String, _> = water
            .then(|| self.lab_values_of(station_id, now))
            .flatten()
            .map(|values| (station_id.to_owned(), values))
            .into_iter()
            .collect();
        let open = self.engine().open_for(station_id).len();
        self.stations()
            .by_station(station_id)
            .map(|s| s.view(now, &self.settings, &lab, open))
    }

    fn open_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for alert in self.engine().open_alerts() {
            *counts.entry(alert.station).or_insert(0) += 1;
        }
        counts
    }

    /// Sends alert changes everywhere: the stream always; MQTT and webhooks unless the change
    /// only concerns a suppressed alert's staleness.
    pub(crate) fn announce(&self, changes: Vec<AlertChange>) {
        let now = OffsetDateTime::now_utc();
        for change in changes {
            let alert = &change.alert;
            info!(alert = alert.id, station = %alert.station, parameter = %alert.parameter, transition = change.transition.as_str(), value = alert.last_value, "Alert {}.", change.transition.as_str());
            self.metrics.alert_changes.fetch_add(1, Ordering::Relaxed);
            self.hub.publish("alert", &change);
            let quiet =
                alert.suppressed && matches!(change.transition, Transition::Stale | Transition::Fresh);
            if quiet {
                continue;
            }
            let Ok(payload) = serde_json::to_string(&change) else {
                continue;
            };
            if self.alerts_to_mqtt {
                self.publish_alert(&alert.station, &payload);
            }
            let now_ms = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
            for hook in &self.webhooks {
                if let Err(e) = self.store.queue_delivery(
                    hook,
                    alert.id,
                    change.transition.as_str(),
                    &payload,
                    &rfc3339(now),
                    now_ms,
                ) {
                    warn!(webhook = %hook, error = %e, "Cannot queue a webhook delivery.");
                }
            }
            if !self.webhooks.is_empty() {
                self.webhook_wake.notify_one();
            }
        }
    }

    /// `{prefix}/alerts/{station}`: retained while the station has an open alert; when the last
    /// one resolves, the change goes out unretained and the retained message is cleared.
    fn publish_alert(&self, station: &str, payload: &str) {
        let topic = format!("{}/alerts/{station}", self.prefix);
        let open = !self.engine().open_for(station).is_empty();
        let mut messages = vec![Outbound {
            topic: topic.clone(),
            payload: payload.as_bytes().to_vec(),
            retain: open,
        }];
        if !open {
            messages.push(Outbound {
                topic,
                payload: Vec::new(),
                retain: true,
            });
        }
        for message in messages {
            if self.outbound.try_send(message).is_err() {
                self.metrics.mqtt_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Takes a verified frame that arrived as an MQTT message (`payload`, with its DUP and retain
    /// flags) at `now`: the replay window decides, as in the collector, whether it is a reading
    /// ([`AppState::ingest`]), a duplicate (ignored), or refused: a reused key counts on the
    /// station and feeds its `sequence_reset` rule, a replay counts on the station.
    pub fn receive(
        &self,
        frame: &Frame,
        node: &NodeInfo,
        payload: &[u8],
        dup: bool,
        retain: bool,
        now: OffsetDateTime,
    ) {
        let verdict = {
            let mut window = lock(&self.window);
            let (key, digest, verdict) = window.check_message(frame, payload, dup, retain);
            if verdict == Verdict::New {
                window.mark(key, digest);
                self.window_changed.store(true, Ordering::Relaxed);
            }
            verdict
        };
        match verdict {
            Verdict::New => {
                self.ingest(frame, node, now);
                self.sequence_flag(node, 0.0, now);
            }
            Verdict::Duplicate => {
                self.metrics.frames_duplicate.fetch_add(1, Ordering::Relaxed);
            }
            Verdict::SeqReused(detail) => {
                self.metrics.frames_seq_reused.fetch_add(1, Ordering::Relaxed);
                debug!(node = node.id, detail = %detail, "Frame refused: reused sequence number.");
                if let Some(station) = write(&self.stations).by_node.get_mut(&node.id) {
                    station.refused.seq_reused += 1;
                    station.refused.last_seq_reused_at = Some(rfc3339(now));
                }
                self.sequence_flag(node, 1.0, now);
            }
            Verdict::Replay(detail) => {
                self.metrics.frames_replay.fetch_add(1, Ordering::Relaxed);
                debug!(node = node.id, detail = %detail, "Frame refused: replay.");
                if let Some(station) = write(&self.stations).by_node.get_mut(&node.id) {
                    station.refused.replays += 1;
                }
            }
        }
    }

    /// Evaluates the station's `sequence_reset` rules: 1 for a frame refused for a reused key,
    /// 0 for a new frame (only while such an alert is open, so the hot path stays cheap).
    fn sequence_flag(&self, node: &NodeInfo, flag: f64, now: OffsetDateTime) {
        if !self.evaluates_alerts {
            return;
        }
        let watch = Watch::Station(StationRule::SequenceReset);
        let changes = {
            let mut engine = lock(&self.engine);
            if flag == 0.0 && !engine.has_open(&node.station, watch) {
                return;
            }
            self.evaluate_station_rule(&mut engine, station_ref(node), watch, flag, now)
        };
        self.announce(changes);
    }

    /// Evaluates every applicable rule of a station-level `watch` (a value read at `now` on the
    /// server clock, not a frame's), returning the alert changes.
    pub(crate) fn evaluate_station_rule(
        &self,
        engine: &mut Engine,
        sref: StationRef<'_>,
        watch: Watch,
        value: f64,
        now: OffsetDateTime,
    ) -> Vec<AlertChange> {
        let rules: Vec<_> = engine
            .applicable(sref, watch, now.date())
            .into_iter()
            .cloned()
            .collect();
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        let mut changes = Vec::new();
        for rule in rules {
            match engine.evaluate(&self.store, sref, &rule, value, now_ms, now) {
                Ok(change) => changes.extend(change),
                Err(e) => warn!(error = %e, "Alert state not stored."),
            }
        }
        changes
    }

    /// Without InfluxDB, saves the hours that changed to the local history (the tick and the
    /// shutdown call this); with InfluxDB the history is there and nothing is saved.
    pub fn save_history(&self) {
        if self.influx.is_some() {
            return;
        }
        let hours: Vec<SavedHour> = {
            let mut stations = write(&self.stations);
            stations
                .by_node
                .values_mut()
                .flat_map(|station| {
                    let id = station.info.station.clone();
                    station.tracked.iter_mut().flat_map(move |t| {
                        let (id, param) = (id.clone(), t.param.as_str().to_owned());
                        t.series.take_changed().into_iter().map(move |record| SavedHour {
                            station: id.clone(),
                            param: param.clone(),
                            record,
                        })
                    })
                })
                .collect()
        };
        if let Err(e) = self.store.save_hours(&hours) {
            warn!(error = %e, hours = hours.len(), "Cannot save the hourly history; history and exports miss these hours.");
        }
    }

    /// Saves the replay window if it changed (the tick and the shutdown call this).
    pub fn save_window(&self) {
        if !self.window_changed.swap(false, Ordering::Relaxed) {
            return;
        }
        let encoded = lock(&self.window).encode();
        if let Err(e) = self.store.save_replay_window(&encoded) {
            self.window_changed.store(true, Ordering::Relaxed);
            warn!(error = %e, "Cannot save the replay window; a restart may count a re-flashed node's refused frames.");
        }
    }

    /// Takes a verified frame arriving at `now` (server clock): liveness, reading, history,
    /// rules; publishes the station's new view and any alert change. The MQTT path calls it
    /// through [`AppState::receive`], for new frames only.
    pub fn ingest(&self, frame: &Frame, node: &NodeInfo, now: OffsetDateTime) {
        self.metrics.frames_accepted.fetch_add(1, Ordering::Relaxed);
        let observed_ms = if frame.time_ms == 0 {
            (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64
        } else {
            frame.time_ms
        };
        let mut changes = Vec::new();
        let view = {
            let mut stations = write(&self.stations);
            let Some(station) = stations.seen(node.id, now) else {
                return;
            };
            let mut engine = lock(&self.engine);
            let store = &self.store;
            let sref = station_ref(node);
            let evaluate = self.evaluates_alerts;
            if evaluate {
                match engine.station_alive(store, &node.station, now) {
                    Ok(c) => changes.extend(c),
                    Err(e) => warn!(error = %e, "Alert state not stored."),
                }
            }
            match &frame.body {
                Body::Status(status) => {
                    station.take_status(status);
                    if station.dead && evaluate {
                        let day = now.date();
                        let rules: Vec<_> = engine
                            .applicable(sref, Watch::Station(StationRule::StationOffline), day)
                            .into_iter()
                            .cloned()
                            .collect();
                        for rule in rules {
                            match engine.station_offline(store, sref, &rule, rule.spec.trigger + 1.0, now) {
                                Ok(c) => changes.extend(c),
                                Err(e) => warn!(error = %e, "Alert state not stored."),
                            }
                        }
                    }
                    None
                }
                body => match Reading::from_body(body) {
                    None => None,
                    Some(mut reading) => {
                        if station.is_water() {
                            reading.derive_salinity();
                        }
                        let fresh = observed_ms > station.rebuilt_until_ms;
                        if fresh {
                            let water = station.is_water();
                            for (param, value) in reading.values() {
                                if param.tracked(water) {
                                    let tracked = station.series_mut(param, now);
                                    tracked.series.insert(observed_ms, value);
                                    tracked.updated = now;
                                }
                            }
                            if evaluate {
                                changes.extend(self.evaluate_frame(
                                    &mut engine,
                                    station,
                                    &reading,
                                    observed_ms,
                                    now,
                                ));
                            }
                        }
                        station.update_reading(observed_ms, reading).then(|| {
                            station.view(
                                now,
                                &self.settings,
                                &HashMap::new(),
                                engine.open_for(&node.station).len(),
                            )
                        })
                    }
                },
            }
        };
        if let Some(view) = view {
            self.hub.publish("reading", &view);
        }
        self.announce(changes);
    }

    fn evaluate_frame(
        &self,
        engine: &mut Engine,
        station: &Station,
        reading: &Reading,
        observed_ms: u64,
        now: OffsetDateTime,
    ) -> Vec<AlertChange> {
        let offset =
            time::UtcOffset::from_hms(self.settings.utc_offset_hours, 0, 0).unwrap_or(time::UtcOffset::UTC);
        let day = OffsetDateTime::from_unix_timestamp((observed_ms / 1_000) as i64)
            .map_or(now.date(), |t| t.to_offset(offset).date());
        let sref = station_ref(&station.info);
        let ix = &self.settings.indices;
        let mut changes = Vec::new();
        let mut watched: Vec<(Watch, Option<f64>, Option<&crate::live::Series>)> = reading
            .values()
            .map(|(p, v)| (Watch::Param(p), Some(v), station.series(p).map(|t| &t.series)))
            .collect();
        let fault = FAULT_FLAGS
            .iter()
            .any(|f| QualityFlags::from_bits(reading.quality()).is_some_and(|q| q.contains(*f)));
        watched.push((
            Watch::Station(StationRule::SensorFault),
            Some(if fault { 1.0 } else { 0.0 }),
            None,
        ));
        for (watch, latest, series) in watched {
            let rules: Vec<_> = engine.applicable(sref, watch, day).into_iter().cloned().collect();
            for rule in rules {
                let value = match rule.spec.window {
                    Window::Latest => latest,
                    Window::OneHour => series.and_then(|s| s.rolling_hour_mean(ix.min_coverage)),
                    Window::EightHours => {
                        series.and_then(|s| s.rolling_hours_mean(8, ix.min_hours_8h, ix.min_coverage))
                    }
                    Window::Day => {
                        series.and_then(|s| s.rolling_hours_mean(24, ix.daily_min_hours, ix.min_coverage))
                    }
                };
                let Some(value) = value else { continue };
                match engine.evaluate(&self.store, sref, &rule, value, observed_ms, now) {
                    Ok(Some(change)) => changes.push(change),
                    Ok(None) => {}
                    Err(e) => warn!(error = %e, "Alert state not stored."),
                }
            }
        }
        changes
    }

    /// Advances the server clock to `now`: stations silent past their offline rule (or dead)
    /// raise `station_offline`; alerts whose input stopped go stale. Nothing in a replica.
    pub fn tick(&self, now: OffsetDateTime) {
        if !self.evaluates_alerts {
            return;
        }
        let mut changes = Vec::new();
        {
            let stations = read(&self.stations);
            let mut engine = lock(&self.engine);
            for station in stations.iter() {
                let Some(last_seen) = station.last_seen else {
                    continue;
                };
                let silent_s = (now - last_seen).as_seconds_f64();
                let sref = station_ref(&station.info);
                let rules: Vec<_> = engine
                    .applicable(sref, Watch::Station(StationRule::StationOffline), now.date())
                    .into_iter()
                    .cloned()
                    .collect();
                for rule in rules {
                    let value = if station.dead {
                        silent_s.max(rule.spec.trigger + 1.0)
                    } else {
                        silent_s
                    };
                    if rule.spec.breached(value) {
                        match engine.station_offline(&self.store, sref, &rule, value, now) {
                            Ok(c) => changes.extend(c),
                            Err(e) => warn!(error = %e, "Alert state not stored."),
                        }
                    }
                }
            }
            changes.extend(self.transmission_changes(&stations, &mut engine, now));
            let last_update = |station_id: &str, watch: Watch| {
                let station = stations.by_station(station_id)?;
                match watch {
                    Watch::Param(p) => station.series(p).map(|t| t.updated).or(station.last_seen),
                    Watch::Station(_) => station.last_seen,
                }
            };
            match engine.mark_stale(&self.store, now, last_update) {
                Ok(c) => changes.extend(c),
                Err(e) => warn!(error = %e, "Alert state not stored."),
            }
        }
        self.announce(changes);
    }
}
