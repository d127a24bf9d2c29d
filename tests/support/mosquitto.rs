//! A real mosquitto broker (Debian package `mosquitto`, 2.0.x) on a free loopback port.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use super::ports::with_free_ports;
use super::process::ChildProcess;

/// How long mosquitto may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// How to configure the broker.
#[derive(Debug, Clone, Default)]
pub struct MosquittoOptions {
    /// Keep sessions, subscriptions and queued messages on disk across a restart
    /// (`persistence true` with `persistence_location` in the broker's temp dir). Mosquitto writes the
    /// file when it stops gracefully ([`Mosquitto::restart`], [`Mosquitto::stop`]), not on a kill.
    pub persistence: bool,
    /// `max_inflight_messages`: QoS 1 messages the broker sends a client before it waits for
    /// their acks. 0 (the default) is unlimited; the collector's tests set the collector's
    /// `batch.max_unacked`, as `docs/collector.md` tells operators to.
    pub max_inflight_messages: usize,
    /// Run with the shipped security settings (`deploy/mosquitto/citysense.conf`) instead of
    /// anonymous access.
    pub security: Option<BrokerSecurity>,
    /// With `security`: the TLS listener also requires a client certificate signed by this CA
    /// (PEM), through the shipped file's commented `cafile` and `require_certificate true` lines.
    pub client_ca: Option<PathBuf>,
}

/// The files `citysense-provision` writes and a server certificate: the broker then runs with
/// `deploy/mosquitto/citysense.conf`, its paths pointed at these, its loopback listener on the
/// first free port and its TLS listener on a second.
#[derive(Debug, Clone)]
pub struct BrokerSecurity {
    /// mosquitto's `password_file`.
    pub passwd: PathBuf,
    /// mosquitto's `acl_file`.
    pub acl: PathBuf,
    /// The server's certificate (PEM), for `localhost` and 127.0.0.1.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// The shipped mosquitto snippet, with the package's paths and ports replaced by `security`'s,
/// `port` (its loopback listener) and `tls_port`; with `client_ca`, its client-certificate lines
/// uncommented and pointed at it.
fn secured_config(
    security: &BrokerSecurity,
    client_ca: Option<&Path>,
    port: u16,
    tls_port: u16,
) -> Result<String> {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/mosquitto/citysense.conf");
    let text = fs::read_to_string(shipped).with_context(|| format!("reading {shipped}"))?;
    let replaced = text
        .replace(
            "/etc/citysense/mosquitto/passwd",
            &security.passwd.display().to_string(),
        )
        .replace(
            "/etc/citysense/mosquitto/acl",
            &security.acl.display().to_string(),
        )
        .replace(
            "/etc/citysense/mosquitto/tls/server.crt",
            &security.cert.display().to_string(),
        )
        .replace(
            "/etc/citysense/mosquitto/tls/server.key",
            &security.key.display().to_string(),
        )
        .replace("\nlistener 8883\n", &format!("\nlistener {tls_port} 127.0.0.1\n"))
        .replace(
            "\nlistener 1883 127.0.0.1\n",
            &format!("\nlistener {port} 127.0.0.1\n"),
        );
    for listener in [tls_port, port] {
        if !replaced.contains(&format!("listener {listener} 127.0.0.1")) {
            anyhow::bail!(
                "{shipped} lacks the `listener 8883` or `listener 1883 127.0.0.1` line the test points at its ports"
            );
        }
    }
    let Some(client_ca) = client_ca else {
        return Ok(replaced);
    };
    let (cafile, require) = (
        "\n#cafile /etc/citysense/mosquitto/tls/clients-ca.crt\n",
        "\n#require_certificate true\n",
    );
    if !replaced.contains(cafile) || !replaced.contains(require) {
        anyhow::bail!("{shipped} lacks the commented `cafile` and `require_certificate true` lines");
    }
    Ok(replaced
        .replace(cafile, &format!("\ncafile {}\n", client_ca.display()))
        .replace(require, "\nrequire_certificate true\n"))
}

/// A running `mosquitto -c <conf>` child; killed and reaped on drop.
#[derive(Debug)]
pub struct Mosquitto {
    process: ChildProcess,
    port: u16,
    tls_port: Option<u16>,
    // Dropped after `process` (fields drop in order), so the broker is gone before its files are.
    _dir: TempDir,
}

impl Mosquitto {
    /// Starts a broker on a free 127.0.0.1 port; returns once the port accepts TCP connections.
    ///
    /// # Errors
    /// When mosquitto is not installed, or it exits or is not ready in time (the error quotes its log).
    pub async fn start(options: MosquittoOptions) -> Result<Self> {
        with_free_ports(2, |ports| Self::start_on(ports[0], ports[1], options.clone())).await
    }

    async fn start_on(port: u16, tls_port: u16, options: MosquittoOptions) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mosquitto-")
            .tempdir()
            .context("creating a temp dir")?;
        let data_dir = dir.path().join("data");
        fs::create_dir(&data_dir).context("creating the persistence dir")?;
        let config_path = dir.path().join("mosquitto.conf");
        if options.client_ca.is_some() && options.security.is_none() {
            anyhow::bail!("MosquittoOptions::client_ca goes with `security` (it is the TLS listener's)");
        }
        let access = match &options.security {
            None => format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
            Some(security) => secured_config(security, options.client_ca.as_deref(), port, tls_port)?,
        };
        let mut config = format!(
            "{access}\n\
             # 0 = unlimited; mosquitto's default (20) throttles a collector that acks after writing.\n\
             max_inflight_messages {}\n\
             max_queued_messages 0\n\
             log_dest stderr\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             persistence {}\n",
            options.max_inflight_messages, options.persistence
        );
        if options.persistence {
            // Saved as `<dir>/mosquitto.db` on a graceful stop (2.0 adds the slash itself).
            config.push_str(&format!("persistence_location {}\n", data_dir.display()));
        }
        if rustix::process::getuid().is_root() {
            // Started as root, mosquitto 2.0 switches to the user `mosquitto`, which cannot write to
            // this root-owned temp dir (seen: "Error saving in-memory database ... Permission
            // denied" on stop, so a restart silently loses the sessions); `user root` stays root.
            config.push_str("user root\n");
        }
        fs::write(&config_path, config).context("writing mosquitto.conf")?;

        let args = vec!["-c".to_owned(), config_path.display().to_string()];
        let process = ChildProcess::spawn("mosquitto", "mosquitto", args, dir.path().join("mosquitto.log"))?;
        let mut broker = Self {
            process,
            port,
            tls_port: options.security.is_some().then_some(tls_port),
            _dir: dir,
        };
        broker.wait_ready().await?;
        Ok(broker)
    }

    /// The TCP port the broker listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS listener's port, with [`MosquittoOptions::security`].
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// Makes the broker reread its password and ACL files (SIGHUP), as `systemctl reload` does.
    ///
    /// # Errors
    /// When the broker is not running.
    pub fn reload(&mut self) -> Result<()> {
        self.process.hang_up()
    }

    /// The host to connect to.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// Stops the broker gracefully (SIGTERM; with persistence on it saves its state first).
    ///
    /// # Errors
    /// When the process cannot be signalled or reaped.
    pub async fn stop(&mut self) -> Result<()> {
        self.process.stop().await
    }

    /// Kills the broker like a crash (SIGKILL): unsaved persistent state is lost.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the broker again on the same port with the same config and data dir, after
    /// [`Mosquitto::stop`] or [`Mosquitto::kill`].
    ///
    /// # Errors
    /// As [`Mosquitto::start`].
    pub async fn start_again(&mut self) -> Result<()> {
        self.process.start_again()?;
        self.wait_ready().await
    }

    /// Stops the broker gracefully and starts it again on the same port and data dir.
    ///
    /// # Errors
    /// As [`Mosquitto::stop`] and [`Mosquitto::start`].
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.start_again().await
    }

    /// The end of the broker's log (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let port = self.port;
        self.process
            .wait_ready(READY_TIMEOUT, || async move {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            })
            .await
    }
}
