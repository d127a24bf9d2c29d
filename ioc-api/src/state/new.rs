//! Building the state: rules, open alerts, tokens and the replay window from the database.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};

use protocol::registry::Registry;
use protocol::window::ReplayWindow;
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::AppState;
use crate::alerts::Engine;
use crate::auth::TokenSet;
use crate::config::Config;
use crate::history::Influx;
use crate::live::{HOUR_MS, HOURS_KEPT, RAW_PM2_5, Series};
use crate::live::{Stations, ViewSettings};
use crate::metrics::Metrics;
use crate::notify::Hub;
use crate::open_data::Publication;
use crate::quality::{AppliedCalibrations, CorrectionConfig, Coverage, QualityConfig};
use crate::store::{Store, StoreError};
use crate::time_fmt::rfc3339;

/// Puts the hours the local history holds for the kept span back into the stations' series, so
/// the hourly means after a restart without InfluxDB are the ones served before it.
fn restore_history(store: &Store, stations: &mut Stations, now: OffsetDateTime) -> Result<(), StoreError> {
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let from_ms = now_ms - (HOURS_KEPT as i64) * HOUR_MS as i64;
    let saved = store.hours(None, from_ms, now_ms + HOUR_MS as i64)?;
    let count = saved.len();
    for hour in saved {
        let Some(station) = stations.by_station_mut(&hour.station) else {
            continue;
        };
        if hour.param == RAW_PM2_5 {
            let step = crate::live::Param::Pm2_5.step();
            let raw = station.raw_pm2_5.get_or_insert_with(|| Series::new(step));
            raw.restore(&hour.record);
        } else if let Some(param) = crate::live::Param::parse(&hour.param) {
            station.series_mut(param, now).series.restore(&hour.record);
        }
    }
    if count > 0 {
        info!(hours = count, "Restored the hourly history from the database.");
    }
    Ok(())
}

/// Puts each station's saved QC memory and coverage back.
fn restore_quality(store: &Store, stations: &mut Stations) -> Result<(), StoreError> {
    let saved = store.quality_states()?;
    let count = saved.len();
    for state in saved {
        if let Some(station) = stations.by_station_mut(&state.station) {
            station.qc = state.qc;
            for (hour_ms, received, valid) in state.coverage {
                station.coverage.restore(hour_ms, received, valid);
            }
        }
    }
    if count > 0 {
        info!(stations = count, "Restored quality control from the database.");
    }
    Ok(())
}

/// The config's PM2.5 correction with the co-location calibrations the database has applied,
/// in a set of this state's own (another state built from the same config shares none of it).
fn applied_correction(config: &Config, store: &Store) -> Result<CorrectionConfig, StoreError> {
    let correction = CorrectionConfig {
        applied: AppliedCalibrations::default(),
        ..config.quality.correction.clone()
    };
    let applied = store.applied_calibrations()?;
    for c in &applied {
        correction.applied.set(&c.station, Some(c.calibration.clone()));
    }
    if !applied.is_empty() {
        info!(
            stations = applied.len(),
            "Applied the co-location calibrations kept in the database."
        );
    }
    Ok(correction)
}

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
        let quality = QualityConfig {
            correction: applied_correction(config, &store)?,
            ..config.quality.clone()
        };
        let coverage = Coverage::clamped(config.quality.report_interval_s);
        let mut stations = Stations::new(registry, &coverage);
        restore_quality(&store, &mut stations)?;
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
                correction: quality.correction.clone(),
            },
            quality,
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
}
