//! A real SFTP server: OpenSSH's `sshd` (Debian package `openssh-server`, installed by
//! `./scripts/test`) on a free loopback port, run as the current user with its own config, host
//! key and authorized client key in a temp dir, serving `internal-sftp`.
//!
//! Without root there is no password login (no PAM, no shadow file) and no `ChrootDirectory`:
//! the client logs in with a key, and the receiver's root is an absolute path inside the temp
//! dir ([`SshServer::root`]).

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustix::process::{Pid, Signal, kill_process};
use tempfile::TempDir;

use super::ports::with_free_ports;
use super::process::{ChildProcess, find_program};

/// How long sshd may take to answer with its banner.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one readiness probe waits for the banner.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the connections' processes get to exit after SIGTERM.
const SESSIONS_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// An ed25519 key pair made by `ssh-keygen`.
#[derive(Debug, Clone)]
pub struct SshKey {
    /// The private key file (OpenSSH format, no passphrase); `.pub` beside it.
    pub private: PathBuf,
    /// The public key as `<type> <base64>`, without the comment.
    pub public: String,
    /// Its fingerprint as `ssh-keygen -l -E sha256` prints it (`SHA256:...`).
    pub sha256: String,
}

/// Makes `<dir>/<name>` and `<dir>/<name>.pub`: a new ed25519 key without a passphrase.
///
/// # Errors
/// When `ssh-keygen` (Debian package `openssh-client`, a dependency of `openssh-server`) is
/// missing or fails.
pub fn ssh_keygen(dir: &Path, name: &str) -> Result<SshKey> {
    let keygen = find_program("ssh-keygen", "openssh-server")?;
    let private = dir.join(name);
    run(Command::new(&keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&private))?;
    let public_path = dir.join(format!("{name}.pub"));
    let line =
        fs::read_to_string(&public_path).with_context(|| format!("reading {}", public_path.display()))?;
    let public = line.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    // `256 SHA256:... name (ED25519)`: the fingerprint as the tool computes it, not as the code
    // under test does.
    let listed = run(Command::new(&keygen)
        .args(["-l", "-E", "sha256", "-f"])
        .arg(&public_path))?;
    let Some(sha256) = listed
        .split_whitespace()
        .nth(1)
        .filter(|f| f.starts_with("SHA256:"))
    else {
        bail!("ssh-keygen -l printed no SHA256 fingerprint: {listed:?}");
    };
    Ok(SshKey {
        private,
        public,
        sha256: sha256.to_owned(),
    })
}

/// A running `sshd -D -e -f <config>`; the server and its connections are killed on drop.
#[derive(Debug)]
pub struct SshServer {
    process: ChildProcess,
    port: u16,
    username: String,
    root: PathBuf,
    host_key: SshKey,
    client_key: SshKey,
    pid_file: PathBuf,
    // Dropped after `process`, so the server is gone before its files are.
    _dir: TempDir,
}

impl SshServer {
    /// Starts a server on a free 127.0.0.1 port; returns once it answers with its `SSH-2.0`
    /// banner.
    ///
    /// # Errors
    /// When sshd or ssh-keygen is missing, a key cannot be made, or the server exits or is not
    /// ready in time (the error quotes its log).
    pub async fn start() -> Result<Self> {
        with_free_ports(1, |ports| Self::start_on(ports[0])).await
    }

    async fn start_on(port: u16) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("sshd-")
            .tempdir()
            .context("creating a temp dir")?;
        let root = dir.path().join("files");
        fs::create_dir(&root).context("creating the files' root folder")?;
        let host_key = ssh_keygen(dir.path(), "host_key")?;
        let client_key = ssh_keygen(dir.path(), "client_key")?;
        let authorized_keys = dir.path().join("authorized_keys");
        fs::write(&authorized_keys, format!("{}\n", client_key.public)).context("writing authorized_keys")?;
        let username = run(Command::new("id").arg("-un"))?.trim().to_owned();
        if rustix::process::getuid().is_root() {
            // As root, sshd separates privileges into an empty chroot folder and refuses to start
            // without it ("Missing privilege separation directory: /run/sshd"); the Debian
            // service makes it at boot, which a test machine may not have had.
            fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        }
        let pid_file = dir.path().join("sshd.pid");
        let config_path = dir.path().join("sshd_config");
        fs::write(
            &config_path,
            format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {host}\n\
                 PidFile {pid}\n\
                 AuthorizedKeysFile {authorized}\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 AllowUsers {username}\n\
                 Subsystem sftp internal-sftp -l INFO\n\
                 LogLevel VERBOSE\n",
                host = host_key.private.display(),
                pid = pid_file.display(),
                authorized = authorized_keys.display(),
            ),
        )
        .context("writing sshd_config")?;

        // sshd re-executes itself per connection and wants its absolute path, which
        // `find_program` gives.
        let args = vec![
            "-D".to_owned(),
            "-e".to_owned(),
            "-f".to_owned(),
            config_path.display().to_string(),
        ];
        let process = ChildProcess::spawn("sshd", "openssh-server", args, dir.path().join("sshd.log"))?;
        let mut server = Self {
            process,
            port,
            username,
            root,
            host_key,
            client_key,
            pid_file,
            _dir: dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// The port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host to connect to.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The account: the user running the tests (sshd without root logs in no one else).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// An empty folder in the temp dir, to be the receiver's root (an absolute path: without
    /// root there is no chroot).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The private key the server accepts for [`SshServer::username`].
    pub fn client_key(&self) -> &Path {
        &self.client_key.private
    }

    /// The server's host key fingerprint, as `ssh-keygen -l` prints it.
    pub fn host_key_sha256(&self) -> &str {
        &self.host_key.sha256
    }

    /// The server's known_hosts line: `[127.0.0.1]:<port> ssh-ed25519 <base64>`.
    pub fn known_hosts_line(&self) -> String {
        format!("[{}]:{} {}", self.host(), self.port, self.host_key.public)
    }

    /// Stops the server: its open connections first (SIGTERM, waited for: sshd leaves them
    /// running when the listener goes, as a real restart would), then the listener. The port,
    /// keys and files stay the server's.
    ///
    /// # Errors
    /// When the pid file cannot be read, a connection does not end, or the listener cannot be
    /// stopped.
    pub async fn stop(&mut self) -> Result<()> {
        let sessions = self.sessions()?;
        for &pid in &sessions {
            // Fails only for a process that is gone already.
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + SESSIONS_EXIT_TIMEOUT;
        while sessions.iter().any(|&pid| is_alive(pid)) {
            if Instant::now() >= deadline {
                bail!("sshd's connections did not exit within {SESSIONS_EXIT_TIMEOUT:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.process.stop().await
    }

    /// Starts the server again on the same port, keys and files, after [`SshServer::stop`].
    ///
    /// # Errors
    /// As [`SshServer::start`].
    pub async fn start_again(&mut self) -> Result<()> {
        self.process.start_again()?;
        self.wait_ready().await
    }

    /// The end of the server's log (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// The processes serving connections: every descendant of the listener (sshd forks one per
    /// connection, which forks the session and its sftp server).
    fn sessions(&self) -> Result<Vec<Pid>> {
        let text = fs::read_to_string(&self.pid_file)
            .with_context(|| format!("reading {}", self.pid_file.display()))?;
        let listener: i32 = text
            .trim()
            .parse()
            .with_context(|| format!("{} holds no pid: {text:?}", self.pid_file.display()))?;
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        for entry in fs::read_dir("/proc").context("listing /proc")?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if let Some(parent) = parent_of(pid) {
                children.entry(parent).or_default().push(pid);
            }
        }
        let mut found = Vec::new();
        let mut queue = vec![listener];
        while let Some(pid) = queue.pop() {
            for &child in children.get(&pid).into_iter().flatten() {
                found.push(child);
                queue.push(child);
            }
        }
        Ok(found.into_iter().filter_map(Pid::from_raw).collect())
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        self.process
            .wait_ready(READY_TIMEOUT, || async move { greets(address) })
            .await
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        // The listener goes with `process`; its connections would outlive it.
        if let Ok(sessions) = self.sessions() {
            for pid in sessions {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
    }
}

/// Whether the server at `address` answers with an `SSH-2.0` banner.
fn greets(address: SocketAddr) -> bool {
    let Ok(stream) = TcpStream::connect_timeout(&address, PROBE_TIMEOUT) else {
        return false;
    };
    if stream.set_read_timeout(Some(PROBE_TIMEOUT)).is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("SSH-2.0-")
}

/// The parent of `pid` from `/proc/<pid>/stat`, `None` once it is gone.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses, so split after the last `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` still runs: present and not a zombie (a zombie has closed its sockets).
fn is_alive(pid: Pid) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())) else {
        return false;
    };
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// Runs `command`, returning its stdout.
fn run(command: &mut Command) -> Result<String> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("{command:?} printed non-UTF-8"))
}
