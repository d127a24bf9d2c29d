//! A service running as a child process: binary lookup, log capture, readiness polling, stop/start.

use std::env;
use std::fmt::Display;
use std::fs::{self, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use rustix::process::{Pid, Signal, kill_process};

/// How long a child gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between two readiness probes or two exit checks.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How much of the log an error message quotes.
const LOG_TAIL_LINES: usize = 30;

/// Finds `binary` on `PATH` or in the sbin folders (mosquitto lives in `/usr/sbin`, which a
/// non-root `PATH` often lacks).
///
/// # Errors
/// When the binary is nowhere: the message names the Debian package and `./scripts/test`, which
/// installs it. A whole-path test never skips for lack of a service.
pub fn find_program(binary: &str, package: &str) -> Result<PathBuf> {
    let path_dirs = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin", "/usr/bin", "/usr/local/sbin"].map(PathBuf::from);
    path_dirs
        .into_iter()
        .chain(extra)
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!(
                "`{binary}` not found on PATH or in /usr/sbin: install the Debian package `{package}` \
                 (`./scripts/test` installs it: apt-get install -y {package})"
            )
        })
}

/// A child process whose stdout and stderr are appended to a log file, killed and reaped on drop.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    log_path: PathBuf,
    child: Option<Child>,
}

impl ChildProcess {
    /// Starts `binary` (from the Debian `package`) with `args`, logging to `log_path`.
    ///
    /// # Errors
    /// When the binary is missing, the log cannot be opened or the spawn fails.
    pub fn spawn(binary: &str, package: &str, args: Vec<String>, log_path: PathBuf) -> Result<Self> {
        Self::spawn_built(find_program(binary, package)?, args, log_path)
    }

    /// Starts the program at `program` (a binary of this workspace, say) with `args`.
    ///
    /// # Errors
    /// When the log cannot be opened or the spawn fails.
    pub fn spawn_built(program: PathBuf, args: Vec<String>, log_path: PathBuf) -> Result<Self> {
        let name = program
            .file_name()
            .map_or_else(|| "program".to_owned(), |n| n.to_string_lossy().into_owned());
        let mut process = Self {
            name,
            program,
            args,
            log_path,
            child: None,
        };
        process.start_again()?;
        Ok(process)
    }

    /// Starts the same command line again (after [`ChildProcess::stop`]); the log is appended to.
    ///
    /// # Errors
    /// When the process is still running, the log cannot be opened or the spawn fails.
    pub fn start_again(&mut self) -> Result<()> {
        if self.is_running() {
            return Err(anyhow!("{} is still running; stop it first", self.name));
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening log file {}", self.log_path.display()))?;
        writeln!(log, "=== harness: starting `{}`", self.command_line())?;
        let stderr = log.try_clone().context("duplicating the log file handle")?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| self.failure(format!("could not spawn {}: {e}", self.name)))?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls `probe` until it returns true, failing early if the process exits.
    ///
    /// # Errors
    /// When the process exits or `timeout` passes first; the error quotes the command line and the
    /// end of the log.
    pub async fn wait_ready<F, Fut>(&mut self, timeout: Duration, mut probe: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let exited = match self.child.as_mut() {
                None => return Err(self.failure(format!("{} is not running", self.name))),
                Some(child) => child.try_wait().context("checking the child's status")?,
            };
            if let Some(status) = exited {
                self.child = None;
                return Err(self.failure(format!("{} exited ({status}) before it was ready", self.name)));
            }
            if probe().await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.failure(format!("{} was not ready within {timeout:?}", self.name)));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Stops the process gracefully: SIGTERM (mosquitto saves its persistence file then, influxd and
    /// victoria-metrics flush), then SIGKILL if it has not exited within 20 s. Stopping a process that
    /// is not running does nothing.
    ///
    /// # Errors
    /// When the signal cannot be sent or the process cannot be reaped.
    pub async fn stop(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        if child.try_wait()?.is_none() {
            kill_process(Pid::from_child(child), Signal::TERM)
                .with_context(|| format!("sending SIGTERM to {}", self.name))?;
            let deadline = Instant::now() + STOP_TIMEOUT;
            while child.try_wait()?.is_none() {
                if Instant::now() >= deadline {
                    child.kill().with_context(|| format!("killing {}", self.name))?;
                    child.wait()?;
                    break;
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
        self.child = None;
        Ok(())
    }

    /// Sends SIGHUP (mosquitto rereads its password and ACL files).
    ///
    /// # Errors
    /// When the process is not running or the signal cannot be sent.
    pub fn hang_up(&mut self) -> Result<()> {
        let child = self
            .child
            .as_mut()
            .ok_or_else(|| anyhow!("{} is not running", self.name))?;
        kill_process(Pid::from_child(child), Signal::HUP)
            .with_context(|| format!("sending SIGHUP to {}", self.name))
    }

    /// Kills the process at once (SIGKILL, like a crash) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Either call fails only when the child is already gone, which is the goal.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is alive (it has been started and has not exited).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// The command line, for error messages.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Where the child's output goes.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last lines of the log.
    pub fn log_tail(&self) -> String {
        match fs::read_to_string(&self.log_path) {
            Ok(text) => {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
            }
            Err(e) => format!("(could not read {}: {e})", self.log_path.display()),
        }
    }

    /// An error carrying `what`, the command line and the end of the log.
    pub fn failure(&self, what: impl Display) -> anyhow::Error {
        anyhow!(
            "{what}\ncommand: {}\nlast {LOG_TAIL_LINES} lines of {}:\n{}",
            self.command_line(),
            self.log_path.display(),
            self.log_tail()
        )
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        // Design: SIGKILL, not a graceful stop: Drop cannot await, and the temp dir goes with the
        // service anyway. A test run that is killed itself (Ctrl-C, a nextest timeout) signals the
        // whole process group, so the children go too.
        self.kill();
    }
}
