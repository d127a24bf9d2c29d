//! An SFTP server with password login (PyPI's asyncssh, `sftp_server.py` beside this file) on a
//! free loopback port, for the relay's password login: OpenSSH's sshd would check the password
//! against the machine's own accounts.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use super::ports::with_free_ports;
use super::process::{ChildProcess, find_program};
use super::sshd::{SshKey, ssh_keygen};

const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// The account the server knows.
pub const SFTP_USER: &str = "stnmt";

/// A running asyncssh SFTP server; killed on drop.
#[derive(Debug)]
pub struct PasswordSftpServer {
    process: ChildProcess,
    port: u16,
    root: PathBuf,
    password: String,
    host_key: SshKey,
    _dir: TempDir,
}

impl PasswordSftpServer {
    /// Starts the server; returns once its port accepts connections.
    ///
    /// # Errors
    /// When python3 or asyncssh (`./scripts/test` installs it) is missing, or the server does not
    /// start (the error quotes its log).
    pub async fn start() -> Result<Self> {
        with_free_ports(1, |ports| Self::start_on(ports[0])).await
    }

    async fn start_on(port: u16) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("sftp-").tempdir()?;
        let root = dir.path().join("files");
        fs::create_dir(&root)?;
        let host_key = ssh_keygen(dir.path(), "host_key")?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let password = format!("pw-{}-{nanos}", std::process::id());
        let password_file = dir.path().join("password");
        fs::write(&password_file, &password)?;
        let python = find_program("python3", "python3")?;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/sftp_server.py");
        let args = vec![
            script.to_owned(),
            root.display().to_string(),
            port.to_string(),
            SFTP_USER.to_owned(),
            password_file.display().to_string(),
            host_key.private.display().to_string(),
        ];
        let mut process = ChildProcess::spawn_built(python, args, dir.path().join("sftp.log"))?;
        process
            .wait_ready(READY_TIMEOUT, || async move {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            })
            .await
            .context("the asyncssh SFTP server (pip install asyncssh; ./scripts/test installs it)")?;
        Ok(Self {
            process,
            port,
            root,
            password,
            host_key,
            _dir: dir,
        })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where uploads land.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The account's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The host key's fingerprint as `ssh-keygen -l -E sha256` prints it.
    pub fn host_key_sha256(&self) -> &str {
        &self.host_key.sha256
    }

    /// The server's log (its login lines).
    pub fn log(&self) -> String {
        fs::read_to_string(self.process.log_path()).unwrap_or_default()
    }
}
