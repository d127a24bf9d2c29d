//! The broker's security as `citysense-provision` generates it, on a real mosquitto running the
//! shipped `deploy/mosquitto/citysense.conf`: the collector and the IOC API connect over TLS with
//! their own least-privilege accounts; node A cannot publish on node B's topic nor read B's
//! commands (nothing of it is stored); a client without an account cannot connect; a revoked
//! node is refused by the broker and its frames by the collector; a rotated key and password are
//! taken by the collector and the IOC API without a restart, and the old ones stop working.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use collector::config::BatchConfig;
use protocol::NodeKey;
use protocol::registry::{Registry, StationKind};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use provision::acl::Service;
use provision::blob::SettingsBlob;
use provision::{Layout, NewNode, Provisioner};
use rumqttc::QoS;
use support::{
    BrokerSecurity, InProcess, Influx1, Mosquitto, MosquittoOptions, TestClient, influx1_config, ioc_config,
    ioc_pm2_5, secured, self_signed_certificate, signed_air_frame, start_ioc, stored_pm2_5, wait_until,
};

const DATABASE: &str = "secured";
const A: u32 = 201;
const B: u32 = 202;

fn new_node(id: u32) -> NewNode {
    NewNode {
        id,
        station: format!("HG-VT-A{id}"),
        name: format!("Trạm {id} Vị Thanh"),
        kind: StationKind::Air,
        district: "Vị Thanh".into(),
        location: Some((105.47, 9.78)),
    }
}

fn blob(path: &Path) -> Result<SettingsBlob> {
    SettingsBlob::decode(&std::fs::read(path)?).context("a settings blob")
}

fn telemetry(node: u32) -> String {
    NodeTopic {
        prefix: DEFAULT_PREFIX,
        node_id: node,
        channel: NodeChannel::Telemetry,
    }
    .to_string()
}

async fn node_client(mosquitto: &Mosquitto, id: u32, password: &str) -> Result<TestClient> {
    TestClient::connect_as(
        mosquitto.port(),
        &format!("node-{id}"),
        true,
        Some((&format!("node-{id}"), password)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_accounts_confine_each_node_and_service_and_rotation_needs_no_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let p = Provisioner::new(Layout::new(&dir.path().join("etc"), None), DEFAULT_PREFIX);
    p.service_accounts(&[])?;
    let blob_a = blob(&p.add_node(new_node(A), "127.0.0.1:1883")?)?;
    let blob_b = blob(&p.add_node(new_node(B), "127.0.0.1:1883")?)?;
    let registry = Registry::load(p.layout().registry())?;
    let (cert, key) = self_signed_certificate(dir.path())?;
    let mut mosquitto = Mosquitto::start(MosquittoOptions {
        security: Some(BrokerSecurity {
            passwd: p.layout().passwd(),
            acl: p.layout().acl(),
            cert: cert.clone(),
            key,
        }),
        ..MosquittoOptions::default()
    })
    .await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;

    std::fs::create_dir_all(dir.path().join("collector"))?;
    let mut collector_config = influx1_config(
        &mosquitto,
        (&influx, DATABASE),
        "secured-collector",
        p.layout().registry(),
        BatchConfig::default(),
        &dir.path().join("collector"),
    );
    collector_config.mqtt = secured(
        collector_config.mqtt,
        &mosquitto,
        &cert,
        &p,
        Service::Collector,
        None,
    )?;
    let collector = InProcess::start(collector_config, registry.clone())
        .await
        .context("the collector over TLS with its own account")?;
    let mut ioc_config = ioc_config(&mosquitto, "secured-ioc", p.layout().registry(), dir.path());
    ioc_config.mqtt = secured(ioc_config.mqtt, &mosquitto, &cert, &p, Service::Ioc, None)?;
    let ioc = start_ioc(ioc_config, &registry)
        .await
        .context("the IOC API over TLS with its own account")?;
    let (station_a, station_b) = (format!("HG-VT-A{A}"), format!("HG-VT-A{B}"));
    let key_a = NodeKey::new(blob_a.key);
    let key_b = NodeKey::new(blob_b.key);

    // A client without an account, or with a wrong password, is refused at CONNECT.
    ensure!(
        TestClient::connect(mosquitto.port(), "intruder", true)
            .await
            .is_err(),
        "an anonymous client was let in"
    );
    ensure!(
        node_client(&mosquitto, A, blob_b.password()).await.is_err(),
        "node A got in with node B's password"
    );

    // Node A publishes on its own topic: stored, and shown by the IOC.
    let mut node_a = node_client(&mosquitto, A, blob_a.password()).await?;
    node_a
        .publish_qos1(&telemetry(A), &signed_air_frame(A, 0, 111, &key_a)?)
        .await?;
    wait_until("node A's frame is stored", || async {
        Ok(stored_pm2_5(&influx, DATABASE, &station_a).await? == [11.1])
    })
    .await?;
    wait_until("the IOC shows node A's frame", || async {
        Ok(ioc_pm2_5(&ioc.url, &station_a).await? == Some(11.1))
    })
    .await?;

    // Node A publishes a genuine frame of node B on B's topic: the broker drops it (mosquitto
    // acknowledges and discards, or closes the connection: either way nothing reaches a service).
    let received = collector.stats.snapshot().received;
    let denied = node_a
        .publish_qos1(&telemetry(B), &signed_air_frame(B, 0, 222, &key_b)?)
        .await;
    let how = if denied.is_ok() {
        "acknowledged and dropped"
    } else {
        "connection closed"
    };
    eprintln!("node A's publication on B's topic: {how}");
    // Nor may it read B's commands: mosquitto grants the subscription but delivers nothing the
    // ACL does not let it read, while B gets the IOC API's command.
    let cmd_b = format!("{DEFAULT_PREFIX}/node/{B}/cmd");
    let mut spy = node_client(&mosquitto, A, blob_a.password()).await?;
    spy.subscribe(&cmd_b, QoS::AtLeastOnce).await?;
    let mut node_b = node_client(&mosquitto, B, blob_b.password()).await?;
    node_b.subscribe(&cmd_b, QoS::AtLeastOnce).await?;
    let ioc_password = std::fs::read_to_string(p.layout().secret(Service::Ioc))?;
    let mut commander = TestClient::connect_as(
        mosquitto.port(),
        "secured-commander",
        true,
        Some((Service::Ioc.user(), ioc_password.trim())),
    )
    .await?;
    commander.publish_qos1(&cmd_b, b"a signed command").await?;
    node_b
        .next_publish(Duration::from_secs(10))
        .await
        .context("node B gets its command")?;
    ensure!(
        spy.next_publish(Duration::from_secs(2)).await.is_err(),
        "node A read node B's command"
    );
    spy.disconnect().await?;
    node_b.disconnect().await?;
    commander.disconnect().await?;
    let mut node_a = node_client(&mosquitto, A, blob_a.password()).await?;
    // A frame of A's own after it, so that "not arrived" is not "not arrived yet".
    node_a
        .publish_qos1(&telemetry(A), &signed_air_frame(A, 1, 112, &key_a)?)
        .await?;
    wait_until("node A's second frame is stored", || async {
        Ok(stored_pm2_5(&influx, DATABASE, &station_a).await?.len() == 2)
    })
    .await?;
    ensure!(
        stored_pm2_5(&influx, DATABASE, &station_b).await?.is_empty(),
        "node A's publication on B's topic was stored"
    );
    ensure!(
        collector.stats.snapshot().received == received + 1,
        "the collector saw node A's publication on B's topic"
    );

    // Revoked: node B's account is gone, and its frames are refused by the collector.
    p.revoke_node(B)?;
    mosquitto.reload()?;
    wait_until("the revoked node is refused", || async {
        Ok(node_client(&mosquitto, B, blob_b.password()).await.is_err())
    })
    .await?;
    let collector_password = std::fs::read_to_string(p.layout().secret(Service::Collector))?;
    let rejected = collector.stats.snapshot().rejected_total();
    // Tried through the only other account that may write telemetry (for republishing).
    tokio::time::sleep(service::registry::RELOAD_EVERY).await;
    let mut republisher = TestClient::connect_as(
        mosquitto.port(),
        "secured-republish",
        true,
        Some((Service::Collector.user(), collector_password.trim())),
    )
    .await?;
    republisher
        .publish_qos1(&telemetry(B), &signed_air_frame(B, 1, 223, &key_b)?)
        .await?;
    wait_until("the revoked node's frame is refused", || async {
        Ok(collector.stats.snapshot().rejected_total() > rejected)
    })
    .await?;
    ensure!(
        stored_pm2_5(&influx, DATABASE, &station_b).await?.is_empty(),
        "the revoked node's frame was stored"
    );

    // Rotated: node A's new key and password work, the old ones do not; no service restarts.
    let new_a = blob(&p.rotate_node(A, "127.0.0.1:1883")?)?;
    mosquitto.reload()?;
    tokio::time::sleep(service::registry::RELOAD_EVERY).await;
    wait_until("node A's old password is refused", || async {
        Ok(node_client(&mosquitto, A, blob_a.password()).await.is_err())
    })
    .await?;
    let mut node_a = node_client(&mosquitto, A, new_a.password()).await?;
    let new_key = NodeKey::new(new_a.key);
    let rejected = collector.stats.snapshot().rejected_total();
    node_a
        .publish_qos1(&telemetry(A), &signed_air_frame(A, 2, 113, &key_a)?)
        .await?;
    node_a
        .publish_qos1(&telemetry(A), &signed_air_frame(A, 3, 114, &new_key)?)
        .await?;
    wait_until("the new key's frame is stored", || async {
        Ok(stored_pm2_5(&influx, DATABASE, &station_a).await?.contains(&11.4))
    })
    .await?;
    wait_until("the IOC takes the new key", || async {
        Ok(ioc_pm2_5(&ioc.url, &station_a).await? == Some(11.4))
    })
    .await?;
    ensure!(
        !stored_pm2_5(&influx, DATABASE, &station_a).await?.contains(&11.3),
        "a frame under the old key was stored"
    );
    ensure!(
        collector.stats.snapshot().rejected_total() == rejected + 1,
        "the old key's frame is refused"
    );
    eprintln!(
        "broker security: TLS services, per-node ACL, refused intruder, revoked and rotated node, all without a service restart"
    );
    node_a.disconnect().await?;
    republisher.disconnect().await?;
    ioc.stop.cancel();
    collector.stop().await?;
    Ok(())
}
