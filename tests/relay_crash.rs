//! The relay on real services, through a crash: the FTP server is down while an hour of files
//! is written, comes back, and the relay (its own process) is killed with SIGKILL while it
//! uploads the backlog, then started again.

#[path = "relay/common.rs"]
mod common;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use common::{DEADLINE, files_under, hour_start, parse_file, relay_config, run_fleet_hour};
use support::{FtpServer, FtpServerOptions, Mosquitto, MosquittoOptions};

/// The relay's binary, built beside this test by `cargo build -p relay` (`./scripts/test` builds
/// every service binary before the tests: cargo builds a test only its own package's binaries).
fn relay_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test binary's folder")?;
    let binary = dir.join("citysense-relay");
    ensure!(
        binary.is_file(),
        "{} is missing: build it first with `cargo build -p relay` (./scripts/test builds every service binary)",
        binary.display()
    );
    Ok(binary)
}

async fn healthz(url: &str) -> Result<serde_json::Value> {
    Ok(reqwest::get(url).await?.json().await?)
}

/// The receiver is down while an hour of files is written; it comes back, and the relay is
/// killed (SIGKILL) while it uploads the backlog, then started again. Afterwards every file is on
/// the server once, complete, with the outbox's bytes, none partial, and each was renamed into
/// place once (the server's own log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_outage_and_a_crash_mid_upload_leave_every_file_there_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let mut ftp = FtpServer::start(FtpServerOptions::default()).await?;
    let registry = simulators::stations::hau_giang(2, 1);
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;
    let mut config = relay_config(&mosquitto, &ftp, &registry_path, dir.path());
    let port = support::free_port()?;
    config.http.listen = format!("127.0.0.1:{port}").parse()?;
    let config_path = dir.path().join("relay.toml");
    std::fs::write(&config_path, toml::to_string(&config)?)?;
    let url = format!("http://127.0.0.1:{port}");
    let mut process = support::ChildProcess::spawn_built(
        relay_binary()?,
        vec!["run".into(), "-c".into(), config_path.display().to_string()],
        dir.path().join("relay.log"),
    )?;
    let ready = |url: String| async move {
        reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
    };
    process
        .wait_ready(Duration::from_secs(30), || ready(url.clone()))
        .await?;

    ftp.stop().await?;
    run_fleet_hour(&mosquitto, &registry, hour_start()).await?;
    let files = 12 * registry.len() as u64;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let h = healthz(&format!("{url}/healthz")).await?;
        if h["files_written"] == files && h["receivers"][0]["failures"].as_u64() > Some(0) {
            ensure!(
                h["receivers"][0]["pending"] == files,
                "all wait while the server is down: {h}"
            );
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "outbox not filled: {h}\n{}",
            process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The server returns; kill the relay once a few files are up and the rest still go.
    ftp.start_again().await?;
    let at_kill = loop {
        let on_server = files_under(ftp.root())?;
        if on_server.keys().filter(|k| !k.contains(".part")).count() >= 3 {
            process.kill();
            break on_server.len();
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no upload after the server returned\n{}",
            process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    ensure!(
        (at_kill as u64) < files,
        "the crash came after every upload ({at_kill}); the test proves nothing"
    );

    process.start_again()?;
    let on_server = loop {
        let on_server = files_under(ftp.root())?;
        let h = healthz(&format!("{url}/healthz")).await.unwrap_or_default();
        if on_server.len() as u64 == files && h["receivers"][0]["pending"] == 0 {
            break on_server;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{} of {files} on the server after the restart: {h}\n{}",
            on_server.len(),
            process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let server_log = std::fs::read_to_string(ftp.log_path()).context("the FTP server's log")?;
    for (path, text) in &on_server {
        ensure!(!path.contains(".part"), "a partial file is left: {path}");
        let kept = std::fs::read_to_string(dir.path().join("outbox").join("files").join(path))
            .with_context(|| format!("the outbox's copy of {path}"))?;
        ensure!(text == &kept, "{path} differs from the outbox's copy");
        parse_file(text).with_context(|| path.clone())?;
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let renames = server_log
            .lines()
            .filter(|l| l.contains("RNTO") && l.contains(&name))
            .count();
        ensure!(renames == 1, "{path} was renamed into place {renames} times");
    }
    let h = healthz(&format!("{url}/healthz")).await?;
    eprintln!(
        "relay crash: killed with {at_kill} of {files} files on the server; after the restart {} uploaded, {} found already there",
        h["receivers"][0]["uploaded"], h["receivers"][0]["already_there"]
    );
    process.stop().await?;
    Ok(())
}
