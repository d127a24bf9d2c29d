//! SFTP receivers (russh and russh-sftp): one SSH connection carrying one SFTP session, opened on
//! first use and kept between calls, dropped after any error so that the next call connects
//! afresh. The server's host key must be one `known_hosts` lists or `host_key_sha256` pins.
//!
//! Paths follow the FTP receiver's rules: absolute, built from the root and the file's folder, no
//! `..`.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use russh::client;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use serde::Serialize;
use service::Secret;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tracing::debug;

use super::ftp::{check_name, file_path, folder_path, folders_to_make};
use super::host_key::TrustedHostKeys;
use super::{Receiver, ReceiverConfig, UploadError};

/// OpenSSH's rename that replaces the target atomically (POSIX `rename(2)`); plain SFTP v3
/// `RENAME` refuses a target that exists.
const POSIX_RENAME: &str = "posix-rename@openssh.com";
/// OpenSSH's `fsync(2)` of an open file.
const FSYNC: &str = "fsync@openssh.com";
/// Data per write request: the SFTP v3 draft has every server take packets of 34,000 bytes, so
/// 32 KiB of data and the header fit any server.
const WRITE_CHUNK: usize = 32 * 1024;

/// An SFTP server.
pub struct SftpReceiver {
    config: ReceiverConfig,
    /// Built on first use and kept: the connection's tasks live on it.
    ///
    /// Design: a current-thread runtime that runs only while a call blocks the worker thread on
    /// it, as the FTP receiver blocks on its socket. Between files nothing polls the connection;
    /// what the server sends meanwhile waits in the kernel, and a connection it closed is found
    /// by the check at the next call. The rejected alternative, a runtime thread per receiver
    /// keeping the session live, buys nothing for a file every few minutes.
    runtime: Option<Runtime>,
    session: Option<Session>,
}

/// A logged-in connection with its SFTP session.
struct Session {
    ssh: client::Handle<HostKeyCheck>,
    sftp: RawSftpSession,
    /// The server offers `posix-rename@openssh.com`.
    posix_rename: bool,
    /// The server offers `fsync@openssh.com`.
    fsync: bool,
    /// The folder the last upload went to (known to exist), to skip its `mkdir`s next time.
    made: Option<String>,
}

impl SftpReceiver {
    /// A receiver for `config`, connected on first use.
    pub fn new(config: ReceiverConfig) -> Self {
        SftpReceiver {
            config,
            runtime: None,
            session: None,
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_s.max(1))
    }

    /// Runs `step` on the session, on the receiver's runtime; any error drops the connection, so
    /// the next call reconnects.
    fn with_session<T>(
        &mut self,
        step: impl AsyncFnOnce(&mut Session, &Self) -> Result<T, UploadError>,
    ) -> Result<T, UploadError> {
        let runtime = match self.runtime.take() {
            Some(runtime) => runtime,
            None => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| self.connect_error("starting the SSH runtime", e))?,
        };
        let result = runtime.block_on(async {
            let mut session = self.take_session().await?;
            let result = step(&mut session, self).await;
            if result.is_ok() {
                self.session = Some(session);
            }
            result
        });
        self.runtime = Some(runtime);
        result
    }

    /// The session, taken out of `self`, connecting when there is none. A kept one is checked
    /// with a `realpath` first and replaced when the server has closed it meanwhile.
    ///
    /// Design: as FTP's `NOOP`, one round trip per call, so that a connection closed while idle
    /// costs a reconnect, not a failed upload and a backoff.
    async fn take_session(&mut self) -> Result<Session, UploadError> {
        if let Some(session) = self.session.take() {
            if session.ssh.is_closed() {
                debug!(receiver = %self.config.name, "The kept SSH connection is closed; reconnecting.");
            } else {
                match session.sftp.realpath(".").await {
                    Ok(_) => return Ok(session),
                    Err(e) => {
                        debug!(receiver = %self.config.name, error = %e, "The kept SFTP session is gone; reconnecting.")
                    }
                }
            }
        }
        self.connect().await
    }

    async fn connect(&self) -> Result<Session, UploadError> {
        let config = &self.config;
        let timeout = self.timeout();
        // Credentials and trust first: a missing key file or known_hosts fails before the network.
        let key = self.private_key()?;
        let password = self.password()?;
        let trusted = TrustedHostKeys::load(
            &config.host,
            config.port(),
            config.known_hosts.as_deref(),
            config.host_key_sha256.as_deref(),
        )
        .map_err(|e| self.connect_error("host key check", e))?;

        let address = format!("{}:{}", config.host, config.port());
        let tcp = connect_tcp(&config.host, config.port(), timeout)
            .await
            .map_err(|e| self.connect_error(&format!("TCP to {address}"), e))?;
        let ssh_config = Arc::new(client::Config {
            nodelay: true,
            ..client::Config::default()
        });
        let handshake = client::connect_stream(ssh_config, tcp, HostKeyCheck { trusted });
        let mut ssh = match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(ssh)) => ssh,
            Ok(Err(e)) => return Err(self.connect_error(&format!("SSH with {address}"), e)),
            Err(_) => return Err(self.connect_error(&format!("SSH with {address}"), no_answer(timeout))),
        };
        self.authenticate(&mut ssh, key, password).await?;

        let channel = within(timeout, ssh.channel_open_session())
            .await
            .map_err(|e| self.connect_error("opening a session channel", e))?;
        within(timeout, channel.request_subsystem(true, "sftp"))
            .await
            .map_err(|e| self.connect_error("starting the sftp subsystem", e))?;
        let sftp = RawSftpSession::new_with_config(
            channel.into_stream(),
            russh_sftp::client::Config {
                request_timeout_secs: timeout.as_secs(),
                ..russh_sftp::client::Config::default()
            },
        );
        let version = sftp
            .init()
            .await
            .map_err(|e| self.connect_error("SFTP init", e))?;
        let offers = |name: &str| version.extensions.get(name).is_some_and(|v| v == "1");
        let (posix_rename, fsync) = (offers(POSIX_RENAME), offers(FSYNC));
        debug!(receiver = %config.name, address, posix_rename, fsync, "Connected to the receiver.");
        Ok(Session {
            ssh,
            sftp,
            posix_rename,
            fsync,
            made: None,
        })
    }

    /// Logs in with the key, then (refused, or when there is none) with the password.
    async fn authenticate(
        &self,
        ssh: &mut client::Handle<HostKeyCheck>,
        key: Option<PrivateKey>,
        password: Option<Secret>,
    ) -> Result<(), UploadError> {
        let user = self.config.username.as_str();
        let step = format!("login as {user}");
        let timeout = self.timeout();
        let mut refused = Vec::new();
        if let Some(key) = key {
            // RSA signs with the hash the server names (rsa-sha2-256/512); without its word, the
            // legacy SHA-1 that old servers know. Other keys have one signature each.
            let hash = if key.algorithm().is_rsa() {
                within(timeout, ssh.best_supported_rsa_hash())
                    .await
                    .map_err(|e| self.connect_error(&step, e))?
                    .flatten()
            } else {
                None
            };
            let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
            let result = within(timeout, ssh.authenticate_publickey(user, key))
                .await
                .map_err(|e| self.connect_error(&step, e))?;
            if result.success() {
                return Ok(());
            }
            refused.push("key_file");
        }
        if let Some(password) = password {
            // russh's errors never carry what it sent, so the password cannot show in one.
            let result = within(timeout, ssh.authenticate_password(user, password.expose()))
                .await
                .map_err(|e| self.connect_error(&step, e))?;
            if result.success() {
                return Ok(());
            }
            refused.push("password");
        }
        Err(self.connect_error(
            &step,
            format!("the server refused the {}", refused.join(" and the ")),
        ))
    }

    /// The private key in `key_file`, if set.
    fn private_key(&self) -> Result<Option<PrivateKey>, UploadError> {
        let Some(path) = &self.config.key_file else {
            return Ok(None);
        };
        let what = format!("reading key_file {}", path.display());
        match russh::keys::load_secret_key(path, None) {
            Ok(key) => Ok(Some(key)),
            Err(russh::keys::Error::KeyIsEncrypted) => Err(self.connect_error(
                &what,
                "the key has a passphrase; give a key without one, readable by the relay only",
            )),
            Err(e) => Err(self.connect_error(&what, e)),
        }
    }

    /// The password (`password`, `password_file` or `password_env`), if any.
    fn password(&self) -> Result<Option<Secret>, UploadError> {
        self.config.stored_password()
    }

    fn connect_error(&self, step: &str, detail: impl ToString) -> UploadError {
        self.config.connect_error(step, detail)
    }

    fn refused(&self, what: String, detail: impl ToString) -> UploadError {
        self.config.refused(what, detail)
    }
}

impl Drop for SftpReceiver {
    fn drop(&mut self) {
        // The session's handles first, then the runtime without waiting for its tasks: a receiver
        // may be dropped on an async thread (a test's), where a blocking shutdown panics.
        self.session = None;
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Receiver for SftpReceiver {
    fn upload(&mut self, dir: &str, name: &str, bytes: &[u8]) -> Result<(), UploadError> {
        let folder =
            folder_path(&self.config.root, dir).map_err(|e| self.refused(format!("open {dir}"), e))?;
        check_name(name).map_err(|e| self.refused(format!("open {folder}"), e))?;
        let target = file_path(&folder, name);
        let part = file_path(&folder, &format!(".{name}.part"));
        self.with_session(async |session, me| {
            if session.made.as_deref() != Some(folder.as_str()) {
                for made in folders_to_make(&me.config.root, &folder) {
                    session
                        .make_folder(&made)
                        .await
                        .map_err(|e| me.refused(format!("mkdir {made}"), e))?;
                }
            }
            session
                .write_file(&part, bytes)
                .await
                .map_err(|e| me.refused(format!("write {part}"), e))?;
            // The folder is there once a file went into it.
            session.made = Some(folder.clone());
            session.rename(&part, &target).await.map_err(|e| {
                let mut detail = e.to_string();
                if !session.posix_rename {
                    detail.push_str(&format!(
                        " (the server lacks {POSIX_RENAME}: a file already under that name is not replaced)"
                    ));
                }
                me.refused(format!("rename {part} to {target}"), detail)
            })
        })
    }

    fn size_of(&mut self, dir: &str, name: &str) -> Result<Option<u64>, UploadError> {
        let folder =
            folder_path(&self.config.root, dir).map_err(|e| self.refused(format!("stat {dir}"), e))?;
        check_name(name).map_err(|e| self.refused(format!("stat {folder}"), e))?;
        let path = file_path(&folder, name);
        self.with_session(async |session, me| match session.sftp.stat(path.as_str()).await {
            Ok(attrs) => match attrs.attrs.size {
                Some(size) => Ok(Some(size)),
                None => Err(me.refused(format!("stat {path}"), "the server gave no size")),
            },
            Err(SftpError::Status(status)) if status.status_code == StatusCode::NoSuchFile => Ok(None),
            Err(e) => Err(me.refused(format!("stat {path}"), e)),
        })
    }
}

impl Session {
    /// Makes the folder `path` unless it is one already. SFTP v3 has no "exists" status (OpenSSH
    /// answers a bare failure), so a refused `mkdir` is followed by a `stat`.
    async fn make_folder(&self, path: &str) -> Result<(), SftpError> {
        let Err(refused) = self.sftp.mkdir(path, FileAttributes::empty()).await else {
            return Ok(());
        };
        match self.sftp.stat(path).await {
            Ok(attrs) if attrs.attrs.is_dir() => Ok(()),
            _ => Err(refused),
        }
    }

    /// Writes `bytes` as the file `path` (made or truncated), synced on the server when it can.
    async fn write_file(&self, path: &str, bytes: &[u8]) -> Result<(), SftpError> {
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
        let handle = self.sftp.open(path, flags, FileAttributes::empty()).await?.handle;
        let mut offset = 0;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            self.sftp.write(handle.as_str(), offset, chunk.to_vec()).await?;
            offset += chunk.len() as u64;
        }
        // Design: the rename must not reach the disk before the data, or a crash of the server
        // could leave the real name with missing bytes. Without fsync@openssh.com the server's
        // own write-back decides; the upload does not fail for it.
        if self.fsync {
            self.sftp.fsync(handle.as_str()).await?;
        }
        // A server may report a failed write only at close.
        self.sftp.close(handle).await?;
        Ok(())
    }

    /// Renames `from` to `to`, replacing a file already there, atomically, when the server offers
    /// posix-rename; else a plain SFTP rename, which on OpenSSH-like servers fails when `to`
    /// exists.
    ///
    /// Design: never remove-then-rename to emulate the replace: between the two, the receiver
    /// would see no file under the name.
    async fn rename(&self, from: &str, to: &str) -> Result<(), SftpError> {
        if !self.posix_rename {
            return self.sftp.rename(from, to).await.map(|_| ());
        }
        #[derive(Serialize)]
        struct PosixRename<'a> {
            oldpath: &'a str,
            newpath: &'a str,
        }
        let data = russh_sftp::ser::to_bytes(&PosixRename {
            oldpath: from,
            newpath: to,
        })?;
        match self.sftp.extended(POSIX_RENAME, data.to_vec()).await? {
            Packet::Status(status) if status.status_code == StatusCode::Ok => Ok(()),
            Packet::Status(status) => Err(SftpError::Status(status)),
            _ => Err(SftpError::UnexpectedPacket),
        }
    }
}

/// The russh handler: trusts the host key that `trusted` accepts, nothing else.
struct HostKeyCheck {
    trusted: TrustedHostKeys,
}

/// Why the handshake failed: russh's error, or our refusal of the host key (with the
/// fingerprint seen).
#[derive(Debug)]
enum HandshakeError {
    Ssh(russh::Error),
    HostKey(String),
}

impl From<russh::Error> for HandshakeError {
    fn from(error: russh::Error) -> Self {
        HandshakeError::Ssh(error)
    }
}

impl Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Ssh(e) => e.fmt(f),
            HandshakeError::HostKey(refusal) => f.write_str(refusal),
        }
    }
}

impl client::Handler for HostKeyCheck {
    type Error = HandshakeError;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => self
                .trusted
                .check(key)
                .map(|()| true)
                .map_err(HandshakeError::HostKey),
            // Not asked for (no certificate algorithm is offered), so not trusted either.
            PublicKeyOrCertificate::Certificate(_) => Err(HandshakeError::HostKey(
                "the server offered a host certificate; only plain host keys are checked".into(),
            )),
        }
    }
}

/// `step`'s result, or "no answer" after `timeout`.
async fn within<T, E: Display>(
    timeout: Duration,
    step: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, step).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(no_answer(timeout)),
    }
}

fn no_answer(timeout: Duration) -> String {
    format!("no answer within {} s", timeout.as_secs())
}

/// Connects to the first address of `host:port` that answers within `timeout`.
async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addresses = within(timeout, tokio::net::lookup_host((host, port))).await?;
    let mut last = "the name resolves to no address".to_owned();
    for address in addresses {
        match within(timeout, TcpStream::connect(address)).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = format!("{address}: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> ReceiverConfig {
        toml::from_str(&format!(
            "name = \"stnmt\"\nprotocol = \"sftp\"\nhost = \"127.0.0.1\"\nusername = \"relay\"\n{extra}"
        ))
        .expect("config")
    }

    #[test]
    fn sftp_defaults_to_port_22_and_a_missing_key_file_fails_before_the_network() {
        let receiver = SftpReceiver::new(config(
            "key_file = \"/nonexistent/id_ed25519\"\nhost_key_sha256 = \"SHA256:tMQ+sUzRYKg8xo1nTh3EIwIl8To6/qmHgI7+LVWBWFo\"",
        ));
        assert_eq!(receiver.config.port(), 22);
        let error = receiver.private_key().expect_err("no such file").to_string();
        assert!(
            error.contains("key_file /nonexistent/id_ed25519") && error.contains("No such file"),
            "{error}"
        );
    }

    #[test]
    fn a_key_with_a_passphrase_is_refused_saying_so() {
        // `ssh-keygen -t ed25519 -N secret-phrase` (a throwaway key).
        const ENCRYPTED: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCwtW+6vb
gliicvAM6+maa+AAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIAmVz66p265Caa+E
aXbyyA8Qbu7yPbJ/yklNQvlVnLebAAAAkJAIJUQ/s5yqIpjRNWjHBpvFvjZPFHTjGQfHty
HNc31Nu5PqupJ+LklLTf8m55edm0j05666xzfYsxnVPSeo+Uzl7Mlo0Srum+ZQ7IgyecJF
9kbpYlqNYE88z760UvxT8fGH5V5leMHDOCOO51xOpxPAXWEeoFgQy7SrVE5N5opL/DjDDf
n/rNcVDjjr/HLUDw==
-----END OPENSSH PRIVATE KEY-----
";
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("id_ed25519");
        std::fs::write(&path, ENCRYPTED).expect("write");
        let receiver = SftpReceiver::new(config(&format!("key_file = {:?}", path.display().to_string())));
        let error = receiver.private_key().expect_err("encrypted").to_string();
        assert!(error.contains("passphrase"), "{error}");
    }
}
