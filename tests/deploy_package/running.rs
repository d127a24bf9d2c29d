//! A service running from its unit: started, waited for, stopped with SIGTERM as systemd does.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use rustix::process::{Pid, Signal, kill_process};

use super::DEADLINE;
use super::account::Account;
use super::commands::{output, tail};
use super::unit::Unit;

/// A service started from its unit: directly (no systemd) or by systemctl.
pub(super) enum Running<'a> {
    Direct {
        unit: &'a Unit,
        child: Child,
        log: PathBuf,
    },
    Systemd {
        unit: &'a Unit,
    },
}

impl<'a> Running<'a> {
    pub(super) fn start(unit: &'a Unit, systemd: bool, logs: &Path, account: &Account) -> Result<Self> {
        if systemd {
            output(Command::new("systemctl").args(["start", unit.spec.unit]))?;
            return Ok(Running::Systemd { unit });
        }
        unit.make_state_directories(account)?;
        let log = logs.join(format!("{}.log", unit.spec.binary));
        let file = File::create(&log)?;
        let child = unit
            .command(&unit.exec_start, account)
            .envs(unit.environment_file_vars()?)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {}", unit.exec_start.join(" ")))?;
        eprintln!(
            "{}: ran ExecStart={} as {}:{} (pid {})",
            unit.spec.unit,
            unit.exec_start.join(" "),
            unit.user,
            unit.group,
            child.id()
        );
        Ok(Running::Direct { unit, child, log })
    }

    /// The unit, borrowed for as long as the units live (not as long as `self`).
    fn unit(&self) -> &'a Unit {
        match self {
            Running::Direct { unit, .. } | Running::Systemd { unit } => unit,
        }
    }

    /// What the service wrote to stdout/stderr (the journal, under systemd).
    fn log(&self) -> Result<String> {
        match self {
            Running::Direct { log, .. } => Ok(fs::read_to_string(log)?),
            Running::Systemd { unit } => {
                output(Command::new("journalctl").args(["--no-pager", "--output=cat", "-u", unit.spec.unit]))
            }
        }
    }

    /// Until `/readyz` answers 200.
    pub(super) async fn wait_ready(&mut self, http: &reqwest::Client, url: &str) -> Result<()> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Running::Direct { child, .. } = self
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.unit().spec.unit,
                    tail(&self.log()?, 30)
                );
            }
            let ready = http
                .get(format!("{url}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{} not ready at {url} within {DEADLINE:?}:\n{}",
                self.unit().spec.unit,
                tail(&self.log()?, 30)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM (what systemd sends, `KillSignal=`), then exit status 0 within `TimeoutStopSec=`;
    /// and its log has no colour codes (journald would keep them).
    pub(super) async fn stop_and_check(&mut self) -> Result<()> {
        let unit = self.unit();
        let limit = unit.timeout_stop;
        let started = Instant::now();
        match self {
            Running::Direct { child, .. } => {
                let status = stop(child, limit).await?;
                ensure!(
                    status.code() == Some(0),
                    "{} exited {status} on SIGTERM, expected 0:\n{}",
                    unit.spec.unit,
                    tail(&self.log()?, 30)
                );
            }
            Running::Systemd { unit } => {
                output(Command::new("systemctl").args(["stop", unit.spec.unit]))?;
                let show = output(Command::new("systemctl").args([
                    "show",
                    "-p",
                    "Result,ExecMainStatus",
                    unit.spec.unit,
                ]))?;
                ensure!(
                    show.contains("Result=success") && show.contains("ExecMainStatus=0"),
                    "{} did not stop cleanly: {show}",
                    unit.spec.unit
                );
            }
        }
        let took = started.elapsed();
        ensure!(
            took < limit,
            "{} took {took:?} to stop, TimeoutStopSec={limit:?}",
            unit.spec.unit
        );
        let log = self.log()?;
        ensure!(
            !log.contains('\u{1b}'),
            "{} logs colour codes:\n{}",
            unit.spec.unit,
            tail(&log, 5)
        );
        eprintln!(
            "{}: SIGTERM -> exit 0 in {} ms (TimeoutStopSec={}s); {} log lines, no colour codes",
            unit.spec.unit,
            took.as_millis(),
            limit.as_secs(),
            log.lines().count()
        );
        Ok(())
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        match self {
            // A test that failed half-way must not leave a service running as the user the purge
            // removes (deluser refuses a user with processes).
            Running::Direct { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Running::Systemd { unit } => {
                let _ = Command::new("systemctl").args(["stop", unit.spec.unit]).status();
            }
        }
    }
}

/// SIGTERM, then the exit status once it comes, or SIGKILL and an error after `limit`.
async fn stop(child: &mut Child, limit: Duration) -> Result<ExitStatus> {
    let pid = Pid::from_child(child);
    kill_process(pid, Signal::TERM).context("sending SIGTERM")?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            bail!("no exit within TimeoutStopSec={limit:?} of SIGTERM; killed");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
