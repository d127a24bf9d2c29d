//! The API's shared state and the two steps that change it: `ingest` (a verified frame) and
//! `tick` (the server clock advancing: offline stations, stale alerts).
//!
//! # Layout
//!
//! - `new`: building the state from the configuration and the database.
//! - `accessors`: lock guards and counters the handlers read.
//! - `ingest`: a frame from MQTT through the replay window into readings and rule evaluation.
//! - `tick`: the server clock advancing (offline stations, stale alerts).
//! - `announce`: alert changes out to the stream, MQTT and webhooks.
//! - `tokens`: reloading and creating API tokens.
//! - `persistence`: saving the replay window and the local hourly history.
//! - `views`: station views with their lab values and open alert counts.

mod accessors;
mod announce;
mod ingest;
mod new;
mod persistence;
mod tick;
mod tokens;
mod views;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use protocol::registry::{NodeInfo, Registry};
use protocol::window::ReplayWindow;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::alerts::{Engine, StationRef};
use crate::auth::TokenSet;
use crate::history::Influx;
use crate::live::{Stations, ViewSettings};
use crate::metrics::Metrics;
use crate::notify::{Hub, Outbound};
use crate::open_data::Publication;
use crate::quality::{CorrectionConfig, QualityConfig};
use crate::store::Store;

/// Everything the handlers read, shared behind an `Arc`.
#[derive(Debug)]
pub struct AppState {
    pub(crate) registry: Registry,
    pub(crate) stations: RwLock<Stations>,
    pub(crate) engine: Mutex<Engine>,
    pub(crate) store: Arc<Store>,
    pub(crate) hub: Hub,
    pub(crate) settings: ViewSettings,
    /// The QC rules each reading goes through before indices and alerts use it.
    pub(crate) quality: QualityConfig,
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

pub(crate) fn station_ref<'a>(info: &'a NodeInfo, correction: &CorrectionConfig) -> StationRef<'a> {
    StationRef {
        station: &info.station,
        node_id: info.id,
        district: &info.district,
        pm2_5_basis: correction.of(&info.station).basis(),
    }
}
