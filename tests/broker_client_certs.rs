//! Client certificates on the broker's TLS listener, as the shipped
//! `deploy/mosquitto/citysense.conf` describes them (its commented `cafile` and
//! `require_certificate true` lines turned on), with the accounts `citysense-provision` writes:
//! the collector and the IOC API connect with their password and a certificate from the clients'
//! CA, and a node's frame reaches InfluxDB and the IOC's station view; the right password without
//! a certificate, or with one from another CA, is refused in the TLS handshake (a TLS alert, no
//! CONNACK); a good certificate with a wrong password is refused at CONNECT.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use collector::config::BatchConfig;
use protocol::NodeKey;
use protocol::registry::{Registry, StationKind};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use provision::acl::Service;
use provision::blob::SettingsBlob;
use provision::{Layout, NewNode, Provisioner};
use rumqttc::tokio_rustls::rustls::{self, AlertDescription};
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, Packet};
use service::Secret;
use service::mqtt::MqttConfig;
use support::{
    BrokerSecurity, CertUsage, Identity, InProcess, Influx1, Mosquitto, MosquittoOptions, TestCa, TestClient,
    influx1_config, ioc_config, ioc_pm2_5, secured, self_signed_certificate, signed_air_frame, start_ioc,
    stored_pm2_5, wait_until,
};

const DATABASE: &str = "client_certs";
const NODE: u32 = 301;
/// How long one probe connection may take to be accepted or refused.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the broker does with one connection made from `mqtt` through the services' own
/// [`MqttConfig::options`]: the CONNACK's code when it accepts, else the connection's error.
async fn probe(mqtt: &MqttConfig) -> Result<Result<ConnectReturnCode, ConnectionError>> {
    let mut options = mqtt.options()?;
    options.set_clean_session(true);
    let (_client, mut event_loop) = AsyncClient::new(options, 8);
    tokio::time::timeout(PROBE_TIMEOUT, async {
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return Ok(ack.code),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .with_context(|| {
        format!(
            "{}: neither accepted nor refused within {PROBE_TIMEOUT:?}",
            mqtt.client_id
        )
    })
}

/// The TLS alert the broker sent, if `error` carries one: proof the refusal came from the TLS
/// layer, not from MQTT (no CONNACK was read).
///
/// Design: the alert is searched for through the whole error chain rather than matched at one
/// variant. Over TLS 1.3 (which rustls and mosquitto agree on despite `tls_version tlsv1.2`, a
/// minimum) the client's side of the handshake is complete before the broker has checked its
/// certificate, so rumqttc meets the broker's alert only when it reads the CONNACK, and reports
/// it as a read error (`MqttState(Deserialization(Io(AlertReceived(..))))`); over TLS 1.2 it is
/// `Tls(Io(..))`.
fn tls_alert(error: &ConnectionError) -> Option<AlertDescription> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        // An io::Error's `source()` skips the error it wraps, which is where rustls puts its own.
        let e = match e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => inner as &(dyn std::error::Error + 'static),
            None => e,
        };
        if let Some(rustls::Error::AlertReceived(alert)) = e.downcast_ref::<rustls::Error>() {
            return Some(*alert);
        }
        next = e.source();
    }
    None
}

/// Checks that `mqtt` is refused by a TLS alert among `expected`; returns the alert.
async fn refused_in_handshake(
    mqtt: &MqttConfig,
    expected: &[AlertDescription],
    mosquitto: &Mosquitto,
) -> Result<AlertDescription> {
    match probe(mqtt).await? {
        Ok(code) => bail!("{} was answered with a CONNACK ({code:?})", mqtt.client_id),
        Err(error) => match tls_alert(&error) {
            Some(alert) if expected.contains(&alert) => Ok(alert),
            _ => bail!(
                "{} was refused, but not by a TLS alert among {expected:?}: {error:?}\nbroker log:\n{}",
                mqtt.client_id,
                mosquitto.log_tail()
            ),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_connect_with_password_and_client_certificate_and_clients_without_one_are_refused()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let p = Provisioner::new(Layout::new(&dir.path().join("etc"), None), DEFAULT_PREFIX);
    p.service_accounts(&[])?;
    let station = format!("HG-VT-A{NODE}");
    let blob = SettingsBlob::decode(&std::fs::read(p.add_node(
        NewNode {
            id: NODE,
            station: station.clone(),
            name: format!("Trạm {NODE} Vị Thanh"),
            kind: StationKind::Air,
            district: "Vị Thanh".into(),
            location: Some((105.47, 9.78)),
        },
        "127.0.0.1:1883",
    )?)?)
    .context("a settings blob")?;
    let registry = Registry::load(p.layout().registry())?;

    let folder = |name: &str| -> Result<PathBuf> {
        let path = dir.path().join(name);
        std::fs::create_dir_all(&path)?;
        Ok(path)
    };
    let (server_cert, server_key) = self_signed_certificate(&folder("server")?)?;
    let clients = TestCa::new(&folder("clients")?, "clients")?;
    let collector_id = clients.issue(Service::Collector.user(), CertUsage::Client)?;
    let ioc_id = clients.issue(Service::Ioc.user(), CertUsage::Client)?;
    // Same name, same usage, another CA: only the signature differs.
    let rogue_id =
        TestCa::new(&folder("rogue")?, "rogue")?.issue(Service::Collector.user(), CertUsage::Client)?;
    let mosquitto = Mosquitto::start(MosquittoOptions {
        security: Some(BrokerSecurity {
            passwd: p.layout().passwd(),
            acl: p.layout().acl(),
            cert: server_cert.clone(),
            key: server_key,
        }),
        client_ca: Some(clients.cert.clone()),
        ..MosquittoOptions::default()
    })
    .await?;

    // One connection each, through the services' own TLS settings, differing only as named.
    let probe_as = |client_id: &str, identity: Option<&Identity>| {
        let mqtt = MqttConfig::new(mosquitto.host(), mosquitto.port(), client_id);
        secured(mqtt, &mosquitto, &server_cert, &p, Service::Collector, identity)
    };
    let accepted = probe(&probe_as("cert-control", Some(&collector_id))?).await?;
    ensure!(
        matches!(accepted, Ok(ConnectReturnCode::Success)),
        "the collector's password and certificate were not accepted: {accepted:?}\n{}",
        mosquitto.log_tail()
    );
    let no_cert = refused_in_handshake(
        &probe_as("cert-none", None)?,
        // TLS 1.3 has an alert of its own for it; TLS 1.2 sends handshake_failure.
        &[
            AlertDescription::CertificateRequired,
            AlertDescription::HandshakeFailure,
        ],
        &mosquitto,
    )
    .await
    .context("the right password without a client certificate")?;
    let rogue = refused_in_handshake(
        &probe_as("cert-rogue", Some(&rogue_id))?,
        &[AlertDescription::UnknownCA],
        &mosquitto,
    )
    .await
    .context("the right password with a certificate from another CA")?;
    let mut wrong_password = probe_as("cert-wrong-password", Some(&collector_id))?;
    wrong_password.password_file = None;
    wrong_password.password = Some(Secret::new("not-the-password"));
    let refused = probe(&wrong_password).await?;
    ensure!(
        matches!(
            refused,
            Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
            ))
        ),
        "a good certificate with a wrong password was not refused at CONNECT: {refused:?}"
    );

    // The services themselves, each with its own account and certificate.
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let mut collector_config = influx1_config(
        &mosquitto,
        (&influx, DATABASE),
        "certified-collector",
        p.layout().registry(),
        BatchConfig::default(),
        &folder("collector")?,
    );
    collector_config.mqtt = secured(
        collector_config.mqtt,
        &mosquitto,
        &server_cert,
        &p,
        Service::Collector,
        Some(&collector_id),
    )?;
    let collector = InProcess::start(collector_config, registry.clone())
        .await
        .context("the collector over TLS with its password and client certificate")?;
    let mut ioc_config = ioc_config(&mosquitto, "certified-ioc", p.layout().registry(), dir.path());
    ioc_config.mqtt = secured(
        ioc_config.mqtt,
        &mosquitto,
        &server_cert,
        &p,
        Service::Ioc,
        Some(&ioc_id),
    )?;
    let ioc = start_ioc(ioc_config, &registry)
        .await
        .context("the IOC API over TLS with its password and client certificate")?;

    // The node publishes on the loopback listener with its own account, as in broker_security.
    let mut node = TestClient::connect_as(
        mosquitto.port(),
        &format!("node-{NODE}"),
        true,
        Some((&format!("node-{NODE}"), blob.password())),
    )
    .await?;
    let topic = NodeTopic {
        prefix: DEFAULT_PREFIX,
        node_id: NODE,
        channel: NodeChannel::Telemetry,
    }
    .to_string();
    node.publish_qos1(&topic, &signed_air_frame(NODE, 0, 123, &NodeKey::new(blob.key))?)
        .await?;
    wait_until("the node's frame is stored", || async {
        Ok(stored_pm2_5(&influx, DATABASE, &station).await? == [12.3])
    })
    .await?;
    wait_until("the IOC shows the node's frame", || async {
        Ok(ioc_pm2_5(&ioc.url, &station).await? == Some(12.3))
    })
    .await?;
    eprintln!(
        "client certificates: collector and IOC API in over TLS with password + certificate, frame stored and shown; \
         no certificate refused ({no_cert:?}), another CA's refused ({rogue:?}), wrong password refused at CONNECT"
    );
    node.disconnect().await?;
    ioc.stop.cancel();
    collector.stop().await?;
    Ok(())
}
