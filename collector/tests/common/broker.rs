//! mosquitto configured the way `docs/collector.md` tells operators to: a bounded number of
//! unacknowledged messages in flight to each client (so the broker, not the collector, holds a
//! backlog), unlimited queues for persistent sessions, optional persistence for restart tests.

use std::fs;
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::support::{ChildProcess, with_free_ports};

/// A running mosquitto; killed on drop.
pub struct Broker {
    process: ChildProcess,
    port: u16,
    _dir: TempDir,
}

impl Broker {
    /// Starts mosquitto with `max_inflight_messages = max_inflight` and, if asked, persistence.
    ///
    /// # Errors
    /// When mosquitto is missing or does not accept connections in time.
    pub async fn start(max_inflight: usize, persistence: bool) -> Result<Self> {
        with_free_ports(1, |ports| Self::start_on(ports[0], max_inflight, persistence)).await
    }

    async fn start_on(port: u16, max_inflight: usize, persistence: bool) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mosquitto-collector-")
            .tempdir()?;
        let data = dir.path().join("data");
        fs::create_dir(&data)?;
        let mut conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\n\
             max_inflight_messages {max_inflight}\nmax_queued_messages 0\n\
             log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             persistence {persistence}\n"
        );
        if persistence {
            conf.push_str(&format!(
                "persistence_location {}/\nautosave_interval 0\n",
                data.display()
            ));
        }
        if rustix::process::getuid().is_root() {
            conf.push_str("user root\n");
        }
        let conf_path = dir.path().join("mosquitto.conf");
        fs::write(&conf_path, conf).context("writing mosquitto.conf")?;
        let process = ChildProcess::spawn(
            "mosquitto",
            "mosquitto",
            vec!["-c".into(), conf_path.display().to_string()],
            dir.path().join("mosquitto.log"),
        )?;
        let mut broker = Broker {
            process,
            port,
            _dir: dir,
        };
        broker.wait_ready().await?;
        Ok(broker)
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops gracefully (SIGTERM: with persistence, mosquitto saves its sessions) and starts again
    /// on the same port and data.
    ///
    /// # Errors
    /// When the process cannot be stopped or does not come back.
    pub async fn restart(&mut self) -> Result<()> {
        self.process.stop().await?;
        self.process.start_again()?;
        self.wait_ready().await
    }

    /// The end of the broker's log.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let port = self.port;
        self.process
            .wait_ready(Duration::from_secs(15), || async move {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            })
            .await
    }
}
