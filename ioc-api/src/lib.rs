//! The operations centre's API: live station state from MQTT, VN_AQI / US AQI / VN_WQI and
//! salinity classes, threshold rules with an alert lifecycle, persistence in SQLite, role
//! tokens, open data (CSV/JSON export, NGSI-LD), and a dashboard, all over one axum server.
//!
//! # Layout
//!
//! - `config`: the TOML configuration and its validation.
//! - `indices`: the index formulas, pure and table-driven.
//! - `live`: per-station latest reading, liveness and hourly history; the station view.
//! - `alerts`: threshold rules, their defaults, the engine and the alert lifecycle.
//! - `store`: SQLite persistence.
//! - `backup`: `backup` and `restore` of the database while the API runs, and the lock by which
//!   a restore knows it runs.
//! - `auth`: tokens and roles.
//! - `notify`: the SSE hub, MQTT out, webhooks.
//! - `history`: InfluxQL reads and the rebuild at start.
//! - `mqtt`: the subscription that feeds verified frames into the state.
//! - `state`: shared state, `ingest` and `tick`.
//! - `transmission`: the relay's notices of files the authority took, and `transmission_interrupted`.
//! - `metrics`: Prometheus text.
//! - `open_data`: the DCAT catalogue of the exports and the daily CSV files.
//! - `http`: routes and handlers; errors are JSON; the OpenAPI document; the dashboard.

pub mod alerts;
pub mod auth;
pub mod backup;
pub mod config;
pub mod history;
pub mod http;
pub mod indices;
pub mod live;
pub mod metrics;
mod mqtt;
pub mod notify;
pub mod open_data;
pub mod quality;
pub mod state;
pub mod store;
mod time_fmt;
mod transmission;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use protocol::registry::Registry;
use tokio::net::TcpListener;
use tracing::{info, warn};

pub use config::Config;
pub use state::AppState;

/// The API bound to its port, ready to run.
pub struct IocApi {
    config: Config,
    registry: Registry,
    listener: TcpListener,
    state: Arc<AppState>,
    /// Held until the run ends, so `restore` refuses while the API runs.
    lock: backup::DatabaseLock,
}

impl IocApi {
    /// Opens the database and binds the HTTP listener, so the address is known (and a taken
    /// port or an unusable database fails) before running.
    ///
    /// # Errors
    ///
    /// An invalid config, a restore in progress on the database, a database that cannot be
    /// opened, or a port that cannot be bound.
    pub async fn bind(mut config: Config, registry: Registry) -> anyhow::Result<Self> {
        service::config::Validate::validate(&config)?;
        let lock = backup::DatabaseLock::hold(&config.storage.path)?;
        let store = store::Store::open(&config.storage.path).map_err(|e| {
            anyhow::anyhow!("cannot open the database {}: {e}", config.storage.path.display())
        })?;
        if let Some(dir) = &config.open_data.daily_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("open_data.daily_dir: cannot create {}: {e}", dir.display()))?;
        }
        let listener = TcpListener::bind(config.http.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.http.listen))?;
        // The port actually bound, for the catalogue's links when no base URL is configured.
        config.http.listen = listener.local_addr()?;
        if config.open_data.base_url.is_none() {
            info!(
                base_url = %open_data::Publication::new(&config).base_url,
                "open_data.base_url is not set: the open-data catalogue links to this address; set it to the address the portal reaches."
            );
        }
        let state = AppState::new(&config, &registry, store)?;
        Ok(IocApi {
            config,
            registry,
            listener,
            state,
            lock,
        })
    }

    /// The address the API listens on.
    ///
    /// # Errors
    ///
    /// If the OS cannot report it.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (for embedding and tests).
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// Serves until `shutdown`: rebuilds the history from InfluxDB (when configured), then
    /// subscribes; runs the clock tick and the webhook deliveries; finishes open requests.
    ///
    /// # Errors
    ///
    /// If the server fails.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let IocApi {
            config,
            registry,
            listener,
            state,
            lock: _lock,
        } = self;
        info!(address = %listener.local_addr()?, stations = registry.len(), "IOC API listening.");
        let cancel = state.shutdown.clone();
        let final_state = Arc::clone(&state);

        // The rebuild runs before the subscription starts, so frames the broker kept for the
        // API's session are compared with what InfluxDB already holds (see history::rebuild).
        let mqtt_state = Arc::clone(&state);
        let mqtt_config = config.mqtt.clone();
        let mqtt_cancel = cancel.clone();
        // Keys and revocations in a rewritten registry apply to the frames at once; a new
        // station joins the views at the next start.
        let registry = service::registry::LiveRegistry::new(config.registry.path.clone(), registry);
        let subscription = tokio::spawn(async move {
            if let Some(influx) = mqtt_state.influx.clone()
                && !mqtt_state.rebuilt.load(Ordering::Relaxed)
            {
                if let Err(e) = history::rebuild(
                    &influx,
                    &mqtt_state.stations,
                    &mqtt_state.store,
                    &mqtt_state.quality.correction,
                )
                .await
                {
                    warn!(error = %e, "Could not rebuild the history from InfluxDB; indices fill from live frames.");
                }
                mqtt_state.rebuilt.store(true, Ordering::Relaxed);
            }
            mqtt::subscribe(mqtt_config, registry, mqtt_state, mqtt_cancel).await;
        });

        let tick_state = Arc::clone(&state);
        let tick_cancel = cancel.clone();
        let tick_every = Duration::from_secs(config.alerts.tick_s);
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick_every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = tick_cancel.cancelled() => break,
                    _ = interval.tick() => {
                        tick_state.tick(time::OffsetDateTime::now_utc());
                        tick_state.save_window();
                        tick_state.save_quality(time::OffsetDateTime::now_utc());
                        tick_state.save_history();
                        // Tokens created or revoked with the `token` command while the API runs
                        // take effect within a tick.
                        if let Err(e) = tick_state.reload_tokens() {
                            warn!(error = %e, "Cannot reload the API tokens.");
                        }
                    }
                }
            }
        });

        let daily = config.open_data.daily_dir.clone().map(|dir| {
            tokio::spawn(open_data::run_daily(
                Arc::clone(&state),
                dir,
                config.open_data.daily_backfill_days,
                cancel.clone(),
            ))
        });

        let webhooks = tokio::spawn(notify::webhook::deliver(
            config.webhooks.clone(),
            Arc::clone(&state.store),
            Arc::clone(&state.webhook_wake),
            cancel.clone(),
        ));

        let stop = cancel.clone();
        let app = http::router(
            Arc::clone(&state),
            &config.http.cors_origins,
            config.http.max_body_bytes,
        );
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            stop.cancel();
        });
        let served = server.await;
        cancel.cancel();
        let _ = subscription.await;
        let _ = ticker.await;
        let _ = webhooks.await;
        if let Some(daily) = daily {
            let _ = daily.await;
        }
        final_state.save_window();
        final_state.save_quality(time::OffsetDateTime::now_utc());
        final_state.save_history();
        served.map_err(Into::into)
    }
}

/// Loads the registry the config names, binds, and serves until `shutdown`.
///
/// # Errors
///
/// As [`IocApi::bind`] and [`IocApi::run`], or an unreadable registry.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let registry = Registry::load(&config.registry.path)?;
    IocApi::bind(config, registry).await?.run(shutdown).await
}
