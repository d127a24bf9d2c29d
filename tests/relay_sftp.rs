//! The relay's SFTP receiver against a real OpenSSH sshd: a file lands byte for byte in a dated
//! folder made on the way, no temporary file stays, `size_of` tells what is there, a file sent
//! again replaces the old one, a host key that is not the trusted one is refused (naming the one
//! seen), a missing key file is a clear error, and the same receiver uploads again after the
//! server was down for a while.

mod support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use relay::upload::{Protocol, Receiver, ReceiverConfig, UploadError, receiver};
use support::{PasswordSftpServer, SFTP_USER, SshServer, ssh_keygen};

/// The folder the authority's layout gives a station's day (`{station}/{yyyy}/{MM}/{dd}`).
const DAY: &str = "HG-VT-A01/2026/12/07";
const NAME: &str = "HG_VT_A01_20261207101500.txt";
/// A file's lines with both line endings and bytes that are not UTF-8: they must arrive as sent.
const BYTES: &[u8] = b"PM2.5\t27.81\tug/m3\t00\r\nTSP\t61.2\tug/m3\t00\nraw\t\xff\x00\xfe\t-\t02\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_uploads_check_sizes_replace_and_reconnect_after_a_restart() -> Result<()> {
    let mut server = SshServer::start().await?;
    let trust = tempfile::tempdir()?;
    let known_hosts = trust.path().join("known_hosts");
    fs::write(&known_hosts, format!("{}\n", server.known_hosts_line()))?;
    let mut config = receiver_config(&server);
    config.known_hosts = Some(known_hosts);
    let r = receiver(&config);

    // Nothing there yet, not even the folder.
    let (r, missing) = blocking(r, |r| r.size_of(DAY, NAME)).await?;
    ensure!(missing.context("size_of before the upload")?.is_none());

    let (r, uploaded) = blocking(r, |r| r.upload(DAY, NAME, BYTES)).await?;
    uploaded.with_context(|| format!("upload; server log:\n{}", server.log_tail()))?;
    let day = server.root().join(DAY);
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

    // Sent again (the authority asked for the period): the new bytes replace the old under the
    // same name, through the temporary name and posix-rename.
    let (r, again) = blocking(r, |r| r.upload(DAY, NAME, b"made again")).await?;
    again.context("upload over an existing file")?;
    ensure!(fs::read(day.join(NAME))? == b"made again");
    ensure!(entries(&day)? == [NAME], "{:?}", entries(&day)?);

    // The next day: the station's and the year's folders exist already.
    let (r, next_day) = blocking(r, |r| r.upload("HG-VT-A01/2026/12/08", NAME, BYTES)).await?;
    next_day.context("upload into the next day's folder")?;
    ensure!(fs::read(day.with_file_name("08").join(NAME))? == BYTES);

    // Down for a while: the kept connection is gone, calls fail; once it is back the same
    // receiver connects again.
    server.stop().await?;
    let (r, down) = blocking(r, |r| r.upload(DAY, "down.txt", BYTES)).await?;
    ensure!(down.is_err(), "an upload to a stopped server cannot succeed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (r, still_down) = blocking(r, |r| r.size_of(DAY, NAME)).await?;
    ensure!(still_down.is_err(), "size_of on a stopped server cannot succeed");
    server.start_again().await?;
    let (r, back) = blocking(r, |r| r.upload(DAY, "again.txt", BYTES)).await?;
    back.with_context(|| format!("upload after the restart; server log:\n{}", server.log_tail()))?;
    ensure!(fs::read(day.join("again.txt"))? == BYTES);
    let (_, size) = blocking(r, |r| r.size_of(DAY, "again.txt")).await?;
    ensure!(size? == Some(BYTES.len() as u64));
    ensure!(entries(&day)? == [NAME, "again.txt"], "{:?}", entries(&day)?);
    Ok(())
}

/// The pinned fingerprint alone is trust enough; another pin, or a known_hosts line with another
/// key for this host, is refused before login, and the error names the fingerprint seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_trusted_host_key_is_accepted() -> Result<()> {
    let server = SshServer::start().await?;
    let mut pinned = receiver_config(&server);
    pinned.host_key_sha256 = Some(server.host_key_sha256().to_owned());
    let (_, uploaded) = blocking(receiver(&pinned), |r| r.upload(DAY, NAME, BYTES)).await?;
    uploaded.with_context(|| format!("upload with the pinned key; server log:\n{}", server.log_tail()))?;
    ensure!(fs::read(server.root().join(DAY).join(NAME))? == BYTES);

    let trust = tempfile::tempdir()?;
    let impostor = ssh_keygen(trust.path(), "impostor")?;
    let mut wrong_pin = receiver_config(&server);
    wrong_pin.host_key_sha256 = Some(impostor.sha256.clone());
    let known_hosts = trust.path().join("known_hosts");
    fs::write(
        &known_hosts,
        format!("[{}]:{} {}\n", server.host(), server.port(), impostor.public),
    )?;
    let mut wrong_line = receiver_config(&server);
    wrong_line.known_hosts = Some(known_hosts);

    for (what, config) in [("pin", wrong_pin), ("known_hosts", wrong_line)] {
        let (_, refused) = blocking(receiver(&config), |r| r.upload(DAY, "refused.txt", BYTES)).await?;
        let error = refused
            .err()
            .with_context(|| format!("another {what} must be refused"))?;
        let shown = error.to_string();
        ensure!(
            matches!(error, UploadError::Connect { .. }),
            "{what}: want a connect error: {shown}"
        );
        ensure!(
            shown.contains(server.host_key_sha256()) && shown.contains(&impostor.sha256),
            "{what}: the error names the key seen and the one trusted: {shown}"
        );
        ensure!(!server.root().join(DAY).join("refused.txt").exists());
    }
    Ok(())
}

/// A key file that is not there fails the call with its path, and the server is not asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_client_key_file_is_a_clear_error() -> Result<()> {
    let server = SshServer::start().await?;
    let mut config = receiver_config(&server);
    config.host_key_sha256 = Some(server.host_key_sha256().to_owned());
    let missing = server.root().join("no-such-key");
    config.key_file = Some(missing.clone());
    let (_, result) = blocking(receiver(&config), |r| r.size_of(DAY, NAME)).await?;
    let shown = result.err().context("a missing key file must fail")?.to_string();
    ensure!(
        shown.contains("key_file")
            && shown.contains(&missing.display().to_string())
            && shown.contains("No such file"),
        "{shown}"
    );
    Ok(())
}

/// A receiver logging in with the server's client key; the test adds what it trusts.
/// Password login (the password from a secret file, as deployed) against an independent SSH
/// implementation: the file lands, and a wrong password is refused with an error that names the
/// login, not the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_password_login_uploads_and_a_wrong_password_is_refused() -> Result<()> {
    let server = PasswordSftpServer::start().await?;
    let secrets = tempfile::tempdir()?;
    let password_file = secrets.path().join("stnmt-password");
    fs::write(&password_file, format!("{}\n", server.password()))?;
    let config = ReceiverConfig {
        name: "stnmt".into(),
        protocol: Protocol::Sftp,
        host: "127.0.0.1".into(),
        port: Some(server.port()),
        username: SFTP_USER.into(),
        password: None,
        password_file: Some(password_file.clone()),
        password_env: None,
        key_file: None,
        known_hosts: None,
        host_key_sha256: Some(server.host_key_sha256().to_owned()),
        root: "/".into(),
        ca_file: None,
        timeout_s: 10,
    };
    let (_, uploaded) = blocking(receiver(&config), |r| r.upload(DAY, NAME, BYTES)).await?;
    uploaded.with_context(|| format!("upload with a password; server log:\n{}", server.log()))?;
    ensure!(
        fs::read(server.root().join(DAY).join(NAME))? == BYTES,
        "the file on the server differs"
    );
    ensure!(entries(&server.root().join(DAY))? == [NAME], "no `.part` left");

    fs::write(&password_file, "not-the-password\n")?;
    let (_, refused) = blocking(receiver(&config), |r| r.upload(DAY, NAME, BYTES)).await?;
    let message = refused
        .err()
        .context("a wrong password was accepted")?
        .to_string();
    ensure!(
        !message.contains("not-the-password") && !message.contains(server.password()),
        "the error shows a password: {message}"
    );
    ensure!(
        server.log().contains(&format!("login {SFTP_USER}: refused")),
        "the server saw no refused login:\n{}",
        server.log()
    );
    eprintln!("sftp password login: uploaded; a wrong password refused with: {message}");
    Ok(())
}

fn receiver_config(server: &SshServer) -> ReceiverConfig {
    ReceiverConfig {
        name: "stnmt".into(),
        protocol: Protocol::Sftp,
        host: server.host().into(),
        port: Some(server.port()),
        username: server.username().into(),
        password: None,
        password_file: None,
        password_env: None,
        key_file: Some(server.client_key().to_path_buf()),
        known_hosts: None,
        host_key_sha256: None,
        root: server.root().display().to_string(),
        ca_file: None,
        timeout_s: 10,
    }
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
