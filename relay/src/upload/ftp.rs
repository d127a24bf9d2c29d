//! FTP and FTPS receivers (suppaftp, blocking): one control connection, opened on first use and
//! kept between calls, dropped after any error so that the next call connects afresh.
//!
//! Every path sent is absolute, built from the receiver's root and the file's folder, so the
//! session never changes directory and a reconnect needs no state but the login.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use service::Secret;
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, RustlsConnector, RustlsFtpStream};
use tracing::debug;

use super::{Protocol, Receiver, ReceiverConfig, UploadError};

/// Replies to `MKD` that may mean "it is there already": 550 from vsftpd, ProFTPD, pyftpdlib and
/// IIS ("File exists", "Create directory operation failed"), 521 as in RFC 959's appendix II
/// ("directory already exists; taking no action").
const MKD_EXISTS: [u32; 2] = [521, 550];
/// The reply to `SIZE` (and most commands) for "no such file".
const FILE_UNAVAILABLE: u32 = 550;

/// An FTP or FTPS server.
pub struct FtpReceiver {
    config: ReceiverConfig,
    /// Built on the first FTPS connect and kept: the data connections resume its TLS sessions,
    /// which servers with `require_ssl_reuse` (vsftpd's default) insist on.
    tls: Option<Arc<ClientConfig>>,
    session: Option<Session>,
}

/// A logged-in control connection.
struct Session {
    ftp: RustlsFtpStream,
    /// The folder the last upload went to (known to exist), to skip its `MKD`s next time.
    made: Option<String>,
}

impl FtpReceiver {
    /// A receiver for `config`, connected on first use.
    pub fn new(config: ReceiverConfig) -> Self {
        FtpReceiver {
            config,
            tls: None,
            session: None,
        }
    }

    /// The logged-in session, taken out of `self`, connecting when there is none. A kept
    /// connection is checked with `NOOP` first and replaced when the server has closed it
    /// meanwhile.
    ///
    /// Design: without the check, a server's idle timeout (often 300 s, as long as the interval
    /// between two files) would fail every other upload once before the reconnect; a `NOOP` costs
    /// one round trip per call.
    fn take_session(&mut self) -> Result<Session, UploadError> {
        if let Some(mut session) = self.session.take() {
            match session.ftp.noop() {
                Ok(()) => return Ok(session),
                Err(e) => {
                    debug!(receiver = %self.config.name, error = %e, "The kept FTP connection is gone; reconnecting.")
                }
            }
        }
        self.connect()
    }

    fn connect(&mut self) -> Result<Session, UploadError> {
        let tls = match self.config.protocol {
            Protocol::Ftps => Some(self.tls_config()?),
            // `receiver()` gives sftp to the SFTP receiver; plain FTP is all that is left here.
            Protocol::Ftp | Protocol::Sftp => None,
        };
        let config = &self.config;
        let password = self.password()?;
        let timeout = Duration::from_secs(config.timeout_s.max(1));
        let address = format!("{}:{}", config.host, config.port());
        let control = connect_tcp(&config.host, config.port(), timeout)
            .map_err(|e| self.connect_error(&format!("TCP to {address}"), e))?;
        let mut ftp = RustlsFtpStream::connect_with_stream(control)
            .map_err(|e| self.connect_error(&format!("greeting from {address}"), describe(&e)))?
            .passive_stream_builder(move |addr| {
                connect_addr(addr, timeout).map_err(FtpError::ConnectionError)
            });
        ftp.set_mode(Mode::Passive);
        // Design: the data connection goes to the control connection's peer, with the port from
        // the PASV reply; the address in the reply is ignored. A server behind NAT often announces
        // its private address, and a hostile one could point the relay elsewhere. The rejected
        // alternative, EPSV, has the same effect by design but older servers lack it.
        ftp.set_passive_nat_workaround(true);
        if let Some(tls) = tls {
            ftp = ftp
                .into_secure(RustlsConnector::from(tls), &config.host)
                .map_err(|e| self.connect_error("AUTH TLS", describe(&e)))?;
        }
        // Our errors and logs never carry the password (a server that echoes it is redacted too),
        // but suppaftp traces each command it sends, `PASS` with the password, at `trace` level
        // (target `suppaftp::sync_ftp::control`): `service::cli::init_tracing` keeps suppaftp at
        // `info` whatever `RUST_LOG` says.
        ftp.login(config.username.as_str(), password.expose())
            .map_err(|e| {
                let mut detail = describe(&e);
                if !password.expose().is_empty() {
                    detail = detail.replace(password.expose(), "<redacted>");
                }
                self.connect_error(&format!("login as {}", config.username), detail)
            })?;
        // Binary: the bytes arrive as written, and SIZE means bytes (some servers refuse SIZE in
        // ASCII mode).
        ftp.transfer_type(FileType::Binary)
            .map_err(|e| self.connect_error("TYPE I", describe(&e)))?;
        debug!(receiver = %config.name, address, protocol = ?config.protocol, "Connected to the receiver.");
        Ok(Session { ftp, made: None })
    }

    /// The password (`password`, `password_file` or `password_env`).
    fn password(&self) -> Result<Secret, UploadError> {
        self.config.stored_password()?.ok_or_else(|| {
            self.connect_error("login", "none of password, password_file and password_env is set")
        })
    }

    /// The TLS client config, built once: the authorities in `ca_file`.
    fn tls_config(&mut self) -> Result<Arc<ClientConfig>, UploadError> {
        if let Some(tls) = &self.tls {
            return Ok(Arc::clone(tls));
        }
        // Design: no system roots. The relay has no root-store crate (rustls-native-certs or
        // webpki-roots) among its dependencies, and one added only for this fallback is not worth
        // it; without ca_file FTPS fails here, saying so.
        let Some(path) = &self.config.ca_file else {
            return Err(self.connect_error(
                "TLS setup",
                "ftps needs ca_file: this build has no system root store; give the PEM file of the \
                 authority that signs the server's certificate",
            ));
        };
        let what = format!("TLS setup, ca_file {}", path.display());
        let pem = fs::read(path).map_err(|e| self.connect_error(&what, e))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| self.connect_error(&what, e))?;
            roots.add(cert).map_err(|e| self.connect_error(&what, e))?;
        }
        if roots.is_empty() {
            return Err(self.connect_error(&what, "holds no PEM certificate"));
        }
        // The ring provider, as for the broker (docs/decisions.md "TLS to the broker: rustls with
        // ring"): aws-lc-rs would build C code with cmake.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.connect_error("TLS setup", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tls = Arc::new(tls);
        self.tls = Some(Arc::clone(&tls));
        Ok(tls)
    }

    fn connect_error(&self, step: &str, detail: impl ToString) -> UploadError {
        self.config.connect_error(step, detail)
    }

    fn refused(&self, what: String, detail: impl ToString) -> UploadError {
        self.config.refused(what, detail)
    }

    /// Runs `step` on the session; any error drops the connection, so the next call reconnects.
    fn with_session<T>(
        &mut self,
        step: impl FnOnce(&mut Session, &Self) -> Result<T, UploadError>,
    ) -> Result<T, UploadError> {
        let mut session = self.take_session()?;
        let result = step(&mut session, self);
        if result.is_ok() {
            self.session = Some(session);
        }
        result
    }
}

impl Receiver for FtpReceiver {
    fn upload(&mut self, dir: &str, name: &str, bytes: &[u8]) -> Result<(), UploadError> {
        let folder =
            folder_path(&self.config.root, dir).map_err(|e| self.refused(format!("STOR {dir}"), e))?;
        check_name(name).map_err(|e| self.refused(format!("STOR {folder}"), e))?;
        let target = file_path(&folder, name);
        let part = file_path(&folder, &format!(".{name}.part"));
        self.with_session(|session, me| {
            if session.made.as_deref() != Some(folder.as_str()) {
                for made in folders_to_make(&me.config.root, &folder) {
                    match session.ftp.mkdir(&made) {
                        Ok(()) => {}
                        // Whether it existed or could not be made shows at STOR.
                        Err(FtpError::UnexpectedResponse(reply))
                            if MKD_EXISTS.contains(&reply.status.code()) => {}
                        Err(e) => return Err(me.refused(format!("MKD {made}"), describe(&e))),
                    }
                }
            }
            let mut reader = bytes;
            session
                .ftp
                .put_file(&part, &mut reader)
                .map_err(|e| me.refused(format!("STOR {part}"), describe(&e)))?;
            // The folder is there once a file went into it.
            session.made = Some(folder.clone());
            session
                .ftp
                .rename(&part, &target)
                .map_err(|e| me.refused(format!("RNFR {part} RNTO {target}"), describe(&e)))
        })
    }

    fn size_of(&mut self, dir: &str, name: &str) -> Result<Option<u64>, UploadError> {
        let folder =
            folder_path(&self.config.root, dir).map_err(|e| self.refused(format!("SIZE {dir}"), e))?;
        check_name(name).map_err(|e| self.refused(format!("SIZE {folder}"), e))?;
        let path = file_path(&folder, name);
        self.with_session(|session, me| match session.ftp.size(&path) {
            Ok(size) => Ok(Some(size as u64)),
            Err(FtpError::UnexpectedResponse(reply)) if reply.status.code() == FILE_UNAVAILABLE => Ok(None),
            Err(e) => Err(me.refused(format!("SIZE {path}"), describe(&e))),
        })
    }
}

/// The password in `path`: its first line (SFTP's receiver reads it the same way).
pub(super) fn read_password_file(path: &Path) -> io::Result<Secret> {
    let mut line = String::new();
    BufReader::new(fs::File::open(path)?).read_line(&mut line)?;
    Ok(Secret::new(line.trim_end_matches(['\r', '\n'])))
}

/// A suppaftp error for a message; a server's reply as it came (`550 File exists.`), without
/// suppaftp's `Invalid response: [550]` before it.
fn describe(error: &FtpError) -> String {
    match error {
        FtpError::UnexpectedResponse(reply) => reply.as_string().unwrap_or_else(|_| reply.to_string()),
        other => other.to_string(),
    }
}

/// Connects to the first address of `host:port` that answers within `timeout`, with read and
/// write timeouts set.
fn connect_tcp(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address");
    for addr in (host, port).to_socket_addrs()? {
        match connect_addr(addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A TCP connection to `addr` whose connect, reads and writes each give up after `timeout`.
fn connect_addr(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// The absolute path of `dir` under `root` (`/`-separated, empty parts dropped, `root` taken from
/// the account's top even without a leading `/`). SFTP's receiver follows the same path rules.
///
/// # Errors
/// When `dir` climbs out of the root (`..`).
pub(super) fn folder_path(root: &str, dir: &str) -> Result<String, &'static str> {
    let dir_parts = parts(dir);
    if dir_parts.contains(&"..") {
        return Err("the folder must not contain `..`");
    }
    let all: Vec<&str> = parts(root).into_iter().chain(dir_parts).collect();
    Ok(format!("/{}", all.join("/")))
}

/// The folders to create for `folder`, outermost first: those below `root`, which must exist.
pub(super) fn folders_to_make(root: &str, folder: &str) -> Vec<String> {
    let depth = parts(root).len();
    let all = parts(folder);
    (depth + 1..=all.len())
        .map(|n| format!("/{}", all[..n].join("/")))
        .collect()
}

pub(super) fn file_path(folder: &str, name: &str) -> String {
    if folder.ends_with('/') {
        format!("{folder}{name}")
    } else {
        format!("{folder}/{name}")
    }
}

pub(super) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\r', '\n']) {
        return Err("the file name must be one plain path segment");
    }
    Ok(())
}

fn parts(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_absolute_under_the_root_whatever_the_slashes() {
        for (root, dir, want) in [
            ("/", "HG-VT-A01/2026/12/07", "/HG-VT-A01/2026/12/07"),
            ("/", "", "/"),
            ("", "a", "/a"),
            ("incoming", "a/b", "/incoming/a/b"),
            ("/incoming/", "/a//b/", "/incoming/a/b"),
            ("/in/./box", "./a", "/in/box/a"),
        ] {
            assert_eq!(
                folder_path(root, dir).as_deref(),
                Ok(want),
                "root {root:?}, dir {dir:?}"
            );
        }
        assert!(folder_path("/", "a/../../etc").is_err());
        assert_eq!(file_path("/", "x.txt"), "/x.txt");
        assert_eq!(file_path("/a/b", ".x.txt.part"), "/a/b/.x.txt.part");
    }

    #[test]
    fn only_the_folders_below_the_root_are_made_outermost_first() {
        assert_eq!(
            folders_to_make("/incoming", "/incoming/HG-VT-A01/2026/12"),
            [
                "/incoming/HG-VT-A01",
                "/incoming/HG-VT-A01/2026",
                "/incoming/HG-VT-A01/2026/12"
            ]
        );
        assert_eq!(folders_to_make("/", "/a"), ["/a"]);
        assert!(folders_to_make("/incoming", "/incoming").is_empty());
    }

    #[test]
    fn names_are_one_segment() {
        assert!(check_name("HG_VT_A01_20261207101500.txt").is_ok());
        for bad in ["", ".", "..", "a/b", "a\r\nDELE b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_password_file_gives_its_first_line_and_ftps_without_ca_file_says_why() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("password");
        fs::write(&path, "s3cret-pw\r\nsecond line\n").expect("write");
        let mut config: ReceiverConfig = toml::from_str(
            "name = \"stnmt\"\nprotocol = \"ftps\"\nhost = \"127.0.0.1\"\nusername = \"relay\"",
        )
        .expect("config");
        config.password_file = Some(path);
        let mut receiver = FtpReceiver::new(config);
        assert_eq!(receiver.password().expect("password").expose(), "s3cret-pw");

        let error = receiver.tls_config().expect_err("no ca_file").to_string();
        assert!(error.contains("ca_file"), "{error}");
    }

    #[test]
    fn password_env_reads_the_variable_and_a_missing_one_names_only_itself() {
        let mut config: ReceiverConfig = toml::from_str(
            "name = \"stnmt\"\nprotocol = \"ftp\"\nhost = \"127.0.0.1\"\nusername = \"relay\"",
        )
        .expect("config");
        // PATH is set in every test environment; the relay reads it as it would a password.
        config.password_env = Some("PATH".into());
        let path = std::env::var("PATH").expect("PATH");
        assert_eq!(
            FtpReceiver::new(config.clone())
                .password()
                .expect("password")
                .expose(),
            path
        );
        config.password_env = Some("CITYSENSE_TEST_NO_SUCH_VARIABLE".into());
        let error = FtpReceiver::new(config)
            .password()
            .expect_err("unset")
            .to_string();
        assert!(error.contains("CITYSENSE_TEST_NO_SUCH_VARIABLE"), "{error}");
    }
}
