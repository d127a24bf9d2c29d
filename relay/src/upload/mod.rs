//! Receivers: the servers the files are uploaded to. One blocking connection per receiver, on a
//! thread of its own (the files are small and few; an async FTP stack would buy nothing). SFTP's
//! client is async: its receiver blocks the thread on a small runtime of its own.
//!
//! Every upload goes to a temporary name in the target folder and is then renamed, so the
//! receiver never reads half a file: the rename is the commit point. After a crash the relay asks
//! [`Receiver::size_of`] before uploading a file again, so a file renamed but not yet recorded as
//! sent is recorded, not sent twice.

mod ftp;
mod host_key;
mod sftp;
pub mod worker;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use service::Secret;

pub use ftp::FtpReceiver;
pub(crate) use host_key::parse_sha256_fingerprint;
pub use sftp::SftpReceiver;

/// How a receiver is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Plain FTP (RFC 959), passive mode.
    Ftp,
    /// FTP with explicit TLS (`AUTH TLS`, RFC 4217), control and data channels protected.
    Ftps,
    /// SFTP (version 3, as OpenSSH serves it) over SSH, the server's host key checked.
    Sftp,
}

/// One receiver, a `[[receiver]]` table of the config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// A short name for logs and metrics (`stnmt`, `envisoft`).
    pub name: String,
    /// `ftp`, `ftps` or `sftp`.
    pub protocol: Protocol,
    /// Host name or address.
    pub host: String,
    /// TCP port; without it the protocol's own (FTP and FTPS: 21, SFTP: 22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Account name.
    pub username: String,
    /// The account's password; prefer `password_file` or the environment (never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A file holding the password (its first line), readable by the relay's user only
    /// (systemd's `LoadCredential=` puts one under `$CREDENTIALS_DIRECTORY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The name of an environment variable holding the password (`STNMT_FTP_PASSWORD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// SFTP: the account's private key (OpenSSH format, e.g. ed25519, without a passphrase),
    /// readable by the relay's user only; tried before the password when both are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// SFTP: a known_hosts file (OpenSSH format) with the server's host key, e.g. the lines
    /// `ssh-keyscan -p PORT HOST` prints, once their fingerprints were compared with the
    /// server operator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<PathBuf>,
    /// SFTP: the server's host key fingerprint as `ssh-keygen -l -f <key.pub>` prints it
    /// (`SHA256:...`); with `known_hosts` too, either may match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key_sha256: Option<String>,
    /// Folder on the server under which the dated folders are made (`/` for the account's root;
    /// SFTP: an absolute path, `/` being the server's root unless the account is chrooted).
    #[serde(default = "default_root")]
    pub root: String,
    /// FTPS (required): PEM file with the certificate authorities that sign the server's
    /// certificate; for a certificate from a public authority, the system's bundle
    /// (`/etc/ssl/certs/ca-certificates.crt` on Debian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Seconds a connect, command or transfer may take before it counts as failed.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
}

impl ReceiverConfig {
    /// The password from `password`, the first line of `password_file`, or the variable named
    /// by `password_env`, whichever is set (validation allows one); `None` when none is.
    pub(crate) fn stored_password(&self) -> Result<Option<Secret>, UploadError> {
        if let Some(password) = &self.password {
            return Ok(Some(password.clone()));
        }
        if let Some(var) = &self.password_env {
            // The variable's name goes into the error, never its value.
            return std::env::var(var)
                .map(|v| Some(Secret::new(v)))
                .map_err(|e| self.connect_error(&format!("reading password_env {var}"), e));
        }
        let Some(path) = &self.password_file else {
            return Ok(None);
        };
        ftp::read_password_file(path)
            .map(Some)
            .map_err(|e| self.connect_error(&format!("reading password_file {}", path.display()), e))
    }

    /// The TCP port: `port`, else the protocol's own.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.protocol {
            Protocol::Ftp | Protocol::Ftps => 21,
            Protocol::Sftp => 22,
        })
    }
}

fn default_root() -> String {
    "/".into()
}

fn default_timeout_s() -> u64 {
    30
}

impl ReceiverConfig {
    /// A failure to connect, log in or set up TLS at `step`.
    pub(crate) fn connect_error(&self, step: &str, detail: impl ToString) -> UploadError {
        UploadError::Connect {
            receiver: self.name.clone(),
            detail: format!("{step}: {}", detail.to_string()),
        }
    }

    /// A command or transfer the server refused.
    pub(crate) fn refused(&self, what: String, detail: impl ToString) -> UploadError {
        UploadError::Refused {
            receiver: self.name.clone(),
            what,
            detail: detail.to_string(),
        }
    }
}

/// Why an upload or a check failed; the relay retries later, in the same order.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Could not connect, log in, set up TLS or trust the server's host key.
    #[error("cannot connect to {receiver}: {detail}")]
    Connect {
        /// The receiver's name.
        receiver: String,
        /// What failed (never the password).
        detail: String,
    },
    /// The server refused or broke off a command or a transfer.
    #[error("{receiver} refused {what}: {detail}")]
    Refused {
        /// The receiver's name.
        receiver: String,
        /// The step (`STOR`, `RNFR`, `MKD`, ...; SFTP: `open`, `rename`, ...), with the path.
        what: String,
        /// The server's reply or the I/O error.
        detail: String,
    },
}

/// A server the files go to. Implementations connect lazily and reconnect after an error.
pub trait Receiver: Send {
    /// Uploads `bytes` as `dir/name` (`dir` relative to the receiver's root, `/`-separated,
    /// created when missing): first to a temporary name in `dir`, then renamed to `name`.
    ///
    /// # Errors
    ///
    /// The connection or a command failed; nothing is visible under `name` unless the rename
    /// succeeded.
    fn upload(&mut self, dir: &str, name: &str, bytes: &[u8]) -> Result<(), UploadError>;

    /// The size of `dir/name` on the server, `None` when there is no such file.
    ///
    /// # Errors
    ///
    /// The connection failed, or the server answered something else than a size or "no such
    /// file".
    fn size_of(&mut self, dir: &str, name: &str) -> Result<Option<u64>, UploadError>;
}

/// A receiver for `config`, not yet connected.
pub fn receiver(config: &ReceiverConfig) -> Box<dyn Receiver> {
    match config.protocol {
        Protocol::Ftp | Protocol::Ftps => Box::new(FtpReceiver::new(config.clone())),
        Protocol::Sftp => Box::new(SftpReceiver::new(config.clone())),
    }
}
