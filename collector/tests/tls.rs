//! Proves: the collector reaches a broker over TLS (rustls with the ring provider, the broker's
//! certificate checked against a CA file) with a user name and password, and a wrong password
//! is refused rather than silently ignored.

mod support;

mod common;

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use common::InProcess;
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use service::Secret;
use service::mqtt::TlsConfig;
use support::{ChildProcess, Influx1, with_free_ports};

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn certificates(dir: &Path) -> Result<()> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=citysense test CA",
    ]);
    openssl(dir, &ca)?;
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr)?;
    fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n")?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    )
}

async fn tls_broker(dir: &Path) -> Result<(ChildProcess, u16)> {
    let passwords = dir.join("passwords");
    let status = Command::new(support::find_program("mosquitto_passwd", "mosquitto")?)
        .args(["-b", "-c"])
        .arg(&passwords)
        .args(["collector", "s3cret"])
        .status()?;
    ensure!(status.success(), "mosquitto_passwd failed");
    with_free_ports(1, |ports| {
        let dir = dir.to_owned();
        let passwords = passwords.clone();
        async move {
            let port = ports[0];
            let mut conf = format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
                 cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n\
                 max_inflight_messages 1000\nmax_queued_messages 0\nlog_dest stderr\npersistence false\n",
                passwords.display(),
                d = dir.display()
            );
            if rustix::process::getuid().is_root() {
                conf.push_str("user root\n");
            }
            fs::write(dir.join("mosquitto.conf"), conf)?;
            let mut process = ChildProcess::spawn(
                "mosquitto",
                "mosquitto",
                vec!["-c".into(), dir.join("mosquitto.conf").display().to_string()],
                dir.join("mosquitto.log"),
            )?;
            process
                .wait_ready(Duration::from_secs(15), || async move {
                    TcpStream::connect(("127.0.0.1", port)).is_ok()
                })
                .await?;
            Ok((process, port))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_speaks_tls_with_a_password_to_the_broker() -> Result<()> {
    let dir = tempfile::tempdir()?;
    certificates(dir.path())?;
    let (_broker, port) = tls_broker(dir.path()).await?;
    let influx = Influx1::start().await?;
    influx.create_database(common::DATABASE).await?;
    let registry = common::registry(1);
    let registry_path = common::write_registry(&registry, dir.path());
    let tls = TlsConfig {
        ca_file: dir.path().join("ca.pem"),
        client_cert_file: None,
        client_key_file: None,
    };
    let config = |client_id: &str, password: &str| {
        let mut config = common::config(port, client_id, &registry_path, &influx.url(), dir.path());
        config.mqtt.tls = Some(tls.clone());
        config.mqtt.username = Some("collector".into());
        config.mqtt.password = Some(Secret::new(password));
        config
    };

    // Wrong password: the broker refuses, the collector never reports itself subscribed.
    let mut refused = InProcess::spawn(config("tls-wrong", "wrong"), registry.clone())?;
    ensure!(
        refused.subscribed(Duration::from_secs(3)).await.is_err(),
        "a wrong password must not get a session"
    );
    refused.stop().await?;

    let mut collector = InProcess::spawn(config("tls-collector", "s3cret"), registry.clone())?;
    collector.subscribed(Duration::from_secs(15)).await?;
    let stats = &collector.stats;

    // A node publishing over TLS with the same credentials.
    let mut options = MqttOptions::new("tls-node", "127.0.0.1", port);
    options
        .set_credentials("collector", "s3cret")
        .set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(
            tls.client_config()?,
        ))));
    let frame = common::stream::frame_bytes(&registry, 101, 1, 0, common::stream::wall_ms() - 60_000);
    common::publish_once(options, "city/haugiang/node/101/telemetry", frame).await?;
    common::wait_until("the frame to be written", Duration::from_secs(15), || {
        stats.snapshot().written == 1
    })
    .await?;
    collector.stop().await?;
    ensure!(common::stored_points(&influx).await?.len() == 1);
    eprintln!(
        "TLS (rustls/ring) with user and password: wrong password refused, 1 frame published over TLS, 1 stored"
    );
    Ok(())
}
