//! The operations centre's API: live station state from MQTT, the PM2.5 alert rule, and a
//! server-sent-events stream for dashboards.
//!
//! # Layout
//!
//! - `config`: the TOML configuration and its validation.
//! - `mqtt`: the subscription that feeds verified frames into the state.
//! - `state`: shared state and the ingest step.
//! - `live`: per-station latest reading, last-seen, rolling windows.
//! - `alerts`: the PM2.5 rule and the alert book.
//! - `events`: what the SSE stream carries.
//! - `http`: routes and handlers; errors are JSON.

pub mod alerts;
pub mod config;
pub mod events;
pub mod http;
pub mod indices;
pub mod live;
mod mqtt;
pub mod state;
mod time_fmt;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use protocol::registry::Registry;
use tokio::net::TcpListener;
use tracing::info;

pub use config::Config;
pub use state::AppState;

/// The API bound to its port, ready to run.
pub struct IocApi {
    config: Config,
    registry: Registry,
    listener: TcpListener,
    state: Arc<AppState>,
}

impl IocApi {
    /// Binds the HTTP listener, so the address is known (and a taken port fails) before running.
    ///
    /// # Errors
    ///
    /// An invalid config or a port that cannot be bound.
    pub async fn bind(config: Config, registry: Registry) -> anyhow::Result<Self> {
        service::config::Validate::validate(&config)?;
        let listener = TcpListener::bind(config.http.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.http.listen))?;
        let offline_after = time::Duration::seconds(config.stations.offline_after_s as i64);
        let state = AppState::new(&registry, config.rules.pm2_5.clone(), offline_after);
        Ok(IocApi {
            config,
            registry,
            listener,
            state,
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

    /// Serves until `shutdown`, then stops the subscription and finishes open requests.
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
        } = self;
        info!(address = %listener.local_addr()?, stations = registry.len(), "IOC API listening.");
        let cancel = state.shutdown.clone();
        let subscription = tokio::spawn(mqtt::subscribe(
            config.mqtt,
            registry,
            Arc::clone(&state),
            cancel.clone(),
        ));
        let stop = cancel.clone();
        let server = axum::serve(listener, http::router(state)).with_graceful_shutdown(async move {
            shutdown.await;
            stop.cancel();
        });
        let served = server.await;
        cancel.cancel();
        let _ = subscription.await;
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
