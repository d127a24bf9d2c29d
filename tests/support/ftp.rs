//! A real FTP or FTPS server (PyPI's `pyftpdlib`, FTPS through `pyOpenSSL`, both installed by
//! `./scripts/test ioc_tools`) run by `python3` on a free loopback port, one user, its files in a
//! temp dir. FTPS is explicit TLS (`AUTH TLS`) with a self-signed certificate made for the server
//! by the `openssl` command line (Debian package `openssl`).

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use super::ports::with_free_ports;
use super::process::{ChildProcess, find_program};

/// How long the server may take to answer its `220` greeting.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one readiness probe waits for the greeting.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Passive-mode data ports the server may use; a taken one is skipped by pyftpdlib, which falls
/// back to a kernel-chosen port when all are.
const PASSIVE_PORTS: usize = 8;
/// The account the server knows.
const USERNAME: &str = "relay";

/// The server: runs `python3 -u <dir>/ftp_server.py`, stays on one port and one folder across
/// [`FtpServer::stop`] and [`FtpServer::start_again`].
const SERVER_PY: &str = r#"
import argparse, logging, sys

try:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer
except ImportError as error:
    sys.exit(f"{error}: ./scripts/test ioc_tools installs pyftpdlib and pyopenssl from PyPI")

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--root", required=True)
parser.add_argument("--user", required=True)
parser.add_argument("--password-file", required=True)
parser.add_argument("--passive-ports", required=True)
parser.add_argument("--idle-timeout", type=int, default=300)
parser.add_argument("--certfile")
parser.add_argument("--keyfile")
args = parser.parse_args()

with open(args.password_file, encoding="utf-8") as file:
    password = file.read()

if args.certfile:
    try:
        from pyftpdlib.handlers import TLS_FTPHandler as Handler
    except ImportError as error:
        sys.exit(f"{error}: FTPS needs pyopenssl; ./scripts/test ioc_tools installs it from PyPI")
    Handler.certfile = args.certfile
    Handler.keyfile = args.keyfile
    # Explicit TLS only: a client that does not send AUTH TLS cannot log in or transfer.
    Handler.tls_control_required = True
    Handler.tls_data_required = True
else:
    Handler = FTPHandler

authorizer = DummyAuthorizer()
# e: cd, l: list, r: read, a: append, d: delete, f: rename, m: mkdir, w: store, M: chmod, T: mtime
authorizer.add_user(args.user, password, args.root, perm="elradfmwMT")
Handler.authorizer = authorizer
Handler.passive_ports = [int(port) for port in args.passive_ports.split(",")]
Handler.timeout = args.idle_timeout
Handler.banner = "pyftpdlib ready."

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
server = FTPServer(("127.0.0.1", args.port), Handler)
server.serve_forever()
"#;

/// How to run the server.
#[derive(Debug, Clone, Default)]
pub struct FtpServerOptions {
    /// FTPS: explicit TLS required on the control and data connections.
    pub tls: bool,
    /// Seconds of silence after which the server closes a control connection (pyftpdlib's
    /// default: 300).
    pub idle_timeout_s: Option<u64>,
}

/// A running pyftpdlib server; killed and reaped on drop.
#[derive(Debug)]
pub struct FtpServer {
    process: ChildProcess,
    port: u16,
    password: String,
    root: PathBuf,
    ca_file: Option<PathBuf>,
    // Dropped after `process`, so the server is gone before its files are.
    _dir: TempDir,
}

impl FtpServer {
    /// Starts a server on a free 127.0.0.1 port; returns once it answers `220`.
    ///
    /// # Errors
    /// When python3, pyftpdlib, pyOpenSSL or openssl is missing, the certificate cannot be made,
    /// or the server exits or is not ready in time (the error quotes its log).
    pub async fn start(options: FtpServerOptions) -> Result<Self> {
        with_free_ports(1 + PASSIVE_PORTS, |ports| Self::start_on(ports, options.clone())).await
    }

    async fn start_on(ports: Vec<u16>, options: FtpServerOptions) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("ftp-")
            .tempdir()
            .context("creating a temp dir")?;
        let port = ports[0];
        let root = dir.path().join("root");
        fs::create_dir(&root).context("creating the server's root folder")?;
        // Unique per server, so a test can look for it in error messages.
        let password = format!("Pw-{port}-{}-secret", std::process::id());
        let password_file = dir.path().join("password");
        fs::write(&password_file, &password).context("writing the password file")?;
        let script = dir.path().join("ftp_server.py");
        fs::write(&script, SERVER_PY).context("writing ftp_server.py")?;

        let passive: Vec<String> = ports[1..].iter().map(u16::to_string).collect();
        let mut args = vec![
            "-u".to_owned(),
            script.display().to_string(),
            "--port".to_owned(),
            port.to_string(),
            "--root".to_owned(),
            root.display().to_string(),
            "--user".to_owned(),
            USERNAME.to_owned(),
            "--password-file".to_owned(),
            password_file.display().to_string(),
            "--passive-ports".to_owned(),
            passive.join(","),
        ];
        if let Some(idle) = options.idle_timeout_s {
            args.extend(["--idle-timeout".to_owned(), idle.to_string()]);
        }
        let ca_file = if options.tls {
            let (cert, key) = self_signed_certificate(dir.path())?;
            args.extend([
                "--certfile".to_owned(),
                cert.display().to_string(),
                "--keyfile".to_owned(),
                key.display().to_string(),
            ]);
            Some(cert)
        } else {
            None
        };

        let process = ChildProcess::spawn("python3", "python3", args, dir.path().join("ftp.log"))?;
        let mut server = Self {
            process,
            port,
            password,
            root,
            ca_file,
            _dir: dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// The control port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host to connect to; the certificate names it.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The account's name.
    pub fn username(&self) -> &'static str {
        USERNAME
    }

    /// The account's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The folder the account's `/` is, to check uploads on disk.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// FTPS: the PEM of the server's self-signed certificate, the client's only trusted authority.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Stops the server (SIGTERM); the port and the folder stay the server's.
    ///
    /// # Errors
    /// When the process cannot be signalled or reaped.
    pub async fn stop(&mut self) -> Result<()> {
        self.process.stop().await
    }

    /// Starts the server again on the same port, folder and certificate, after
    /// [`FtpServer::stop`].
    ///
    /// # Errors
    /// As [`FtpServer::start`].
    pub async fn start_again(&mut self) -> Result<()> {
        self.process.start_again()?;
        self.wait_ready().await
    }

    /// The end of the server's log (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// The server's whole log: one line per command with its reply (`STOR <path> completed=1`,
    /// `MKD <path> 550 'File exists.'`), across restarts.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        self.process
            .wait_ready(READY_TIMEOUT, || async move { greets(address) })
            .await
    }
}

/// Whether the server at `address` accepts a connection and greets it with `220`.
fn greets(address: SocketAddr) -> bool {
    let Ok(stream) = TcpStream::connect_timeout(&address, PROBE_TIMEOUT) else {
        return false;
    };
    if stream.set_read_timeout(Some(PROBE_TIMEOUT)).is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("220")
}

/// Makes `cert.pem` and `key.pem` in `dir`: a self-signed P-256 certificate for `localhost` and
/// `127.0.0.1`, valid two days.
///
/// Design: `CA:FALSE`, not `openssl req -x509`'s default `CA:TRUE`: webpki refuses a CA
/// certificate as a server's own (`CaUsedAsEndEntity`), and as a trust anchor it needs none.
pub fn self_signed_certificate(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let openssl = find_program("openssl", "openssl")?;
    let config = dir.join("openssl.cnf");
    fs::write(
        &config,
        "[req]\n\
         distinguished_name = dn\n\
         x509_extensions = server\n\
         prompt = no\n\
         [dn]\n\
         CN = localhost\n\
         [server]\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\n",
    )
    .context("writing openssl.cnf")?;
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let output = Command::new(&openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-days", "2", "-config"])
        .arg(&config)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .with_context(|| format!("running {}", openssl.display()))?;
    if !output.status.success() {
        bail!(
            "openssl req could not make the test certificate ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok((cert, key))
}
