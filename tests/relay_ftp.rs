//! The relay's FTP and FTPS receivers against a real server (pyftpdlib, FTPS with a certificate
//! made for the test): a file lands byte for byte in a dated folder made on the way, no temporary
//! file stays, `size_of` tells what is there, a wrong password fails without showing itself, and
//! the same receiver uploads again after the server was down for a while.

mod support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use relay::upload::{Protocol, Receiver, ReceiverConfig, UploadError, receiver};
use service::Secret;
use support::{FtpServer, FtpServerOptions, self_signed_certificate};

/// The folder the authority's layout gives a station's day (`{station}/{yyyy}/{MM}/{dd}`).
const DAY: &str = "HG-VT-A01/2026/12/07";
const NAME: &str = "HG_VT_A01_20261207101500.txt";
/// A file's lines with both line endings and bytes that are not UTF-8: binary mode must keep them.
const BYTES: &[u8] = b"PM2.5\t27.81\tug/m3\t00\r\nTSP\t61.2\tug/m3\t00\nraw\t\xff\x00\xfe\t-\t02\r\n";
/// The receiver's root on the server; it exists, the folders below it are the relay's to make.
const ROOT: &str = "/incoming";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_uploads_check_sizes_refuse_a_wrong_password_and_reconnect() -> Result<()> {
    upload_scenario(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftps_uploads_check_sizes_refuse_a_wrong_password_and_reconnect() -> Result<()> {
    upload_scenario(true).await
}

/// FTPS trusts `ca_file` only: a server whose certificate another authority signed is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftps_refuses_a_certificate_the_ca_file_does_not_sign() -> Result<()> {
    let server = start(FtpServerOptions {
        tls: true,
        ..FtpServerOptions::default()
    })
    .await?;
    let other = tempfile::tempdir()?;
    let (other_ca, _key) = self_signed_certificate(other.path())?;
    let mut config = receiver_config(&server, Protocol::Ftps);
    config.ca_file = Some(other_ca);
    let (_, result) = blocking(receiver(&config), |r| r.upload(DAY, NAME, BYTES)).await?;
    let error = result.expect_err("an untrusted certificate must fail");
    ensure!(
        matches!(error, UploadError::Connect { .. }),
        "want a connect error, got {error}"
    );
    ensure!(
        !day_dir(&server).exists(),
        "nothing may be made on an untrusted server"
    );
    Ok(())
}

/// A connection the server closed for idleness is replaced on the next call, which succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closed_when_idle_is_replaced_without_a_failure() -> Result<()> {
    let server = start(FtpServerOptions {
        idle_timeout_s: Some(1),
        ..FtpServerOptions::default()
    })
    .await?;
    let config = receiver_config(&server, Protocol::Ftp);
    let (r, first) = blocking(receiver(&config), |r| r.upload(DAY, NAME, BYTES)).await?;
    first.context("first upload")?;
    // pyftpdlib checks idleness once a second: after 2.5 s the kept connection is closed.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, second) = blocking(r, |r| r.upload(DAY, "second.txt", BYTES)).await?;
    second.with_context(|| format!("upload after the idle close; server log:\n{}", server.log_tail()))?;
    ensure!(fs::read(day_dir(&server).join("second.txt"))? == BYTES);
    Ok(())
}

async fn upload_scenario(tls: bool) -> Result<()> {
    let mut server = start(FtpServerOptions {
        tls,
        ..FtpServerOptions::default()
    })
    .await?;
    let protocol = if tls { Protocol::Ftps } else { Protocol::Ftp };
    let mut config = receiver_config(&server, protocol);
    // FTPS reads its password from a file, FTP takes it inline: both ways are covered.
    let secrets = tempfile::tempdir()?;
    if tls {
        let path = secrets.path().join("password");
        fs::write(&path, format!("{}\n", server.password()))?;
        config.password = None;
        config.password_file = Some(path);
    }
    let r = receiver(&config);

    // Nothing there yet, not even the folder.
    let (r, missing) = blocking(r, |r| r.size_of(DAY, NAME)).await?;
    ensure!(missing.context("size_of before the upload")?.is_none());

    let (r, uploaded) = blocking(r, |r| r.upload(DAY, NAME, BYTES)).await?;
    uploaded.with_context(|| format!("upload; server log:\n{}", server.log_tail()))?;
    let day = day_dir(&server);
    ensure!(
        fs::read(day.join(NAME))? == BYTES,
        "the file on the server differs"
    );
    ensure!(
        entries(&day)? == [NAME],
        "only the file, no `.part`: {:?}",
        entries(&day)?
    );

    let (r, size) = blocking(r, |r| r.size_of(DAY, NAME)).await?;
    ensure!(size? == Some(BYTES.len() as u64));
    let (r, other) = blocking(r, |r| r.size_of(DAY, "HG_VT_A01_20261207102000.txt")).await?;
    ensure!(other?.is_none());

    // The next day: the station's and the year's folders exist already (MKD refused, carried on).
    let (r, next_day) = blocking(r, |r| r.upload("HG-VT-A01/2026/12/08", NAME, b"next day")).await?;
    next_day.context("upload into the next day's folder")?;
    ensure!(fs::read(day.with_file_name("08").join(NAME))? == b"next day");

    // A wrong password is a connect error that does not show the password.
    let wrong = format!("Wrong-{}-password", server.port());
    let mut bad = receiver_config(&server, protocol);
    bad.password = Some(Secret::new(wrong.clone()));
    let (_, refused) = blocking(receiver(&bad), |r| r.upload(DAY, "bad.txt", BYTES)).await?;
    let error = refused.expect_err("a wrong password must fail");
    let shown = format!("{error} {error:?}");
    ensure!(
        matches!(error, UploadError::Connect { .. }),
        "want a connect error: {shown}"
    );
    ensure!(!shown.contains(&wrong), "the error shows the password: {shown}");
    ensure!(!day.join("bad.txt").exists());

    // Down for a while: the kept connection is gone, calls fail; once it is back the same
    // receiver connects again.
    server.stop().await?;
    let (r, down) = blocking(r, |r| r.upload(DAY, "down.txt", BYTES)).await?;
    ensure!(down.is_err(), "an upload to a stopped server cannot succeed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (r, still_down) = blocking(r, |r| r.size_of(DAY, NAME)).await?;
    ensure!(still_down.is_err(), "size_of on a stopped server cannot succeed");
    server.start_again().await?;
    let (r, again) = blocking(r, |r| r.upload(DAY, "again.txt", BYTES)).await?;
    again.with_context(|| format!("upload after the restart; server log:\n{}", server.log_tail()))?;
    ensure!(fs::read(day.join("again.txt"))? == BYTES);
    let (_, size) = blocking(r, |r| r.size_of(DAY, "again.txt")).await?;
    ensure!(size? == Some(BYTES.len() as u64));
    ensure!(entries(&day)? == ["HG_VT_A01_20261207101500.txt", "again.txt"]);
    Ok(())
}

/// A server with the receivers' root folder made.
async fn start(options: FtpServerOptions) -> Result<FtpServer> {
    let server = FtpServer::start(options).await?;
    fs::create_dir(server.root().join(ROOT.trim_start_matches('/')))?;
    Ok(server)
}

fn receiver_config(server: &FtpServer, protocol: Protocol) -> ReceiverConfig {
    ReceiverConfig {
        name: "stnmt".into(),
        protocol,
        host: server.host().into(),
        port: Some(server.port()),
        username: server.username().into(),
        password: Some(Secret::new(server.password())),
        password_file: None,
        password_env: None,
        key_file: None,
        known_hosts: None,
        host_key_sha256: None,
        root: ROOT.into(),
        ca_file: server.ca_file().map(Path::to_path_buf),
        timeout_s: 10,
    }
}

/// The day's folder on the server's disk.
fn day_dir(server: &FtpServer) -> std::path::PathBuf {
    server.root().join(ROOT.trim_start_matches('/')).join(DAY)
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Result<Vec<String>> {
    let mut names = fs::read_dir(dir)?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// Runs a blocking receiver call on tokio's blocking pool and hands the receiver back.
async fn blocking<T: Send + 'static>(
    mut receiver: Box<dyn Receiver>,
    call: impl FnOnce(&mut dyn Receiver) -> T + Send + 'static,
) -> Result<(Box<dyn Receiver>, T)> {
    tokio::task::spawn_blocking(move || {
        let result = call(receiver.as_mut());
        (receiver, result)
    })
    .await
    .context("the blocking receiver call panicked")
}
