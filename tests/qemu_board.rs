//! Proof on a Cortex-M core: the board binary boots in QEMU (`mps2-an386`), reads an emulated
//! PMS5003 on one UART, speaks MQTT over another UART through a host bridge to real mosquitto,
//! and its HMAC-signed frames land in real InfluxDB 1.6 through the collector. The board is
//! provisioned as in a province: `citysense-provision` writes its settings blob (loaded into its
//! flash as is), its registry entry and its broker account, and the broker runs the shipped
//! security config, so the board logs in with its own password and the collector and the command
//! sender with theirs. A downlink command shortens its reporting interval on the way, a replayed
//! copy of it is refused, and a reboot command brings the node back with its flash-kept boot
//! counter incremented.

#[path = "support/qemu.rs"]
mod qemu;
mod support;

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use collector::config::{
    BatchConfig, DeadLetterConfig, HttpConfig, RegistryConfig, ShutdownConfig, SinkConfig, SpoolConfig,
};
use protocol::NodeKey;
use protocol::command::{Command, SignedCommand};
use protocol::registry::{Registry, StationKind};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use provision::acl::Service;
use provision::blob::SettingsBlob;
use provision::{Layout, NewNode, Provisioner};
use serde_json::Value;
use service::mqtt::MqttConfig;
use simulators::devices::PmLevels;
use support::{BrokerSecurity, InProcess, Influx1, Mosquitto, MosquittoOptions, TestClient};

const DATABASE: &str = "citysense";
const NODE_ID: u32 = 301;
const DEADLINE: Duration = Duration::from_secs(90);

/// Rows of an InfluxQL answer's first series, or none.
fn rows(answer: &Value) -> Vec<Vec<Value>> {
    answer["results"][0]["series"][0]["values"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r.as_array().cloned()).collect())
        .unwrap_or_default()
}

async fn wait_for_rows(
    influx: &Influx1,
    query: &str,
    count: usize,
    board: &mut qemu::Board,
) -> Result<Vec<Vec<Value>>> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let found = rows(&influx.query(DATABASE, query).await?);
        if found.len() >= count {
            return Ok(found);
        }
        if tokio::time::Instant::now() > deadline || !board.is_running() {
            bail!(
                "`{query}` has {} rows, wanted {count}; board console:\n{}",
                found.len(),
                board.console()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_in_qemu_gets_its_signed_frames_into_influxdb() -> Result<()> {
    let elf = qemu::build_board()?;
    let (flash, static_ram) = qemu::image_budget(&elf)?;
    eprintln!("board image: {flash} bytes of flash, {static_ram} bytes of static RAM");
    ensure!(
        flash <= 64 * 1024,
        "the board image needs {flash} bytes of flash; the budget is 64 KiB"
    );
    ensure!(
        static_ram <= 16 * 1024,
        "the board image needs {static_ram} bytes of static RAM; the budget is 16 KiB"
    );
    let dir = tempfile::tempdir()?;
    let provisioner = Provisioner::new(Layout::new(&dir.path().join("etc"), None), DEFAULT_PREFIX);
    provisioner.service_accounts(&[])?;
    let blob_path = provisioner.add_node(
        NewNode {
            id: NODE_ID,
            station: "HG-QEMU-01".into(),
            name: "Bo mạch QEMU".into(),
            kind: StationKind::Air,
            district: "Vị Thanh".into(),
            location: None,
        },
        "127.0.0.1:1883",
    )?;
    let provisioning = std::fs::read(&blob_path)?;
    let key = NodeKey::new(
        SettingsBlob::decode(&provisioning)
            .context("a settings blob")?
            .key,
    );
    let (cert, tls_key) = support::self_signed_certificate(dir.path())?;
    let mosquitto = Mosquitto::start(MosquittoOptions {
        security: Some(BrokerSecurity {
            passwd: provisioner.layout().passwd(),
            acl: provisioner.layout().acl(),
            cert,
            key: tls_key,
        }),
        ..MosquittoOptions::default()
    })
    .await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;

    let registry_path = provisioner.layout().registry().to_owned();
    let registry = Registry::load(&registry_path)?;
    let mut mqtt = MqttConfig::new(mosquitto.host(), mosquitto.port(), "collector-qemu");
    mqtt.username = Some(Service::Collector.user().into());
    mqtt.password_file = Some(provisioner.layout().secret(Service::Collector));
    let config = collector::Config {
        mqtt,
        registry: RegistryConfig { path: registry_path },
        sink: SinkConfig::influx_v1(influx.url(), DATABASE),
        batch: BatchConfig {
            max_frames: 100,
            max_age_ms: 100,
            ..BatchConfig::default()
        },
        dead_letter: DeadLetterConfig::at(dir.path().join("dead-letter.jsonl")),
        spool: SpoolConfig::at(dir.path().join("spool")),
        http: HttpConfig {
            listen: "127.0.0.1:0".parse()?,
        },
        shutdown: ShutdownConfig::default(),
    };
    let mut collector = InProcess::spawn(config, registry)?;
    collector.subscribed(DEADLINE).await?;

    let levels = PmLevels {
        pm1_0: 21.0,
        pm2_5: 37.0,
        pm10: 52.0,
    };
    let mut board = qemu::Board::start(&elf, &provisioning, levels, mosquitto.port(), dir.path()).await?;

    // The birth frame arrives first (retained status, QoS 1), signed with the provisioned key.
    let births = wait_for_rows(
        &influx,
        &format!("SELECT seq FROM node_status WHERE node = '{NODE_ID}'"),
        1,
        &mut board,
    )
    .await?;
    eprintln!("birth frame stored: {births:?}");

    // Downlink: report every 10 s instead of every minute. The replayed copy must be refused.
    let command = SignedCommand {
        node_id: NODE_ID,
        counter: 1,
        command: Command::SetReportInterval { seconds: 10 },
    }
    .to_bytes(&key)?;
    let topic = NodeTopic {
        prefix: DEFAULT_PREFIX,
        node_id: NODE_ID,
        channel: NodeChannel::Command,
    }
    .to_string();
    let ioc_password = std::fs::read_to_string(provisioner.layout().secret(Service::Ioc))?;
    let mut ioc = TestClient::connect_as(
        mosquitto.port(),
        "ioc-test",
        true,
        Some((Service::Ioc.user(), ioc_password.trim())),
    )
    .await?;
    ioc.publish_qos1(&topic, &command).await?;

    let frames = wait_for_rows(
        &influx,
        &format!("SELECT pm1_0, pm2_5, pm10, seq FROM air_quality WHERE node = '{NODE_ID}'"),
        2,
        &mut board,
    )
    .await?;
    for row in &frames {
        // The sensor reports whole µg/m³; the frame carries the interval mean in 0.1 µg/m³.
        ensure!(
            row[1].as_f64() == Some(21.0) && row[2].as_f64() == Some(37.0) && row[3].as_f64() == Some(52.0),
            "stored PM values {row:?}, the emulated sensor reads 21/37/52"
        );
    }

    // Replay the same command with a request for status in between: only the status request is
    // obeyed (a new periodic status frame), the replay changes nothing and is not answered.
    ioc.publish_qos1(&topic, &command).await?;
    let status = SignedCommand {
        node_id: NODE_ID,
        counter: 2,
        command: Command::RequestStatus,
    }
    .to_bytes(&key)?;
    ioc.publish_qos1(&topic, &status).await?;
    wait_for_rows(
        &influx,
        &format!("SELECT seq FROM node_status WHERE node = '{NODE_ID}'"),
        2,
        &mut board,
    )
    .await?;

    // A reboot command: the node closes its session, resets the core, and comes back with the
    // boot counter it keeps in flash incremented: its next birth frame says boot 2.
    let reboot = SignedCommand {
        node_id: NODE_ID,
        counter: 3,
        command: Command::Reboot,
    }
    .to_bytes(&key)?;
    ioc.publish_qos1(&topic, &reboot).await?;
    wait_for_rows(
        &influx,
        &format!("SELECT seq FROM node_status WHERE node = '{NODE_ID}' AND boot = 2"),
        1,
        &mut board,
    )
    .await?;
    ioc.disconnect().await?;

    let snapshot = collector.stats.snapshot();
    ensure!(
        snapshot.rejected_total() == 0,
        "the collector refused some of the board's frames: {:?}",
        snapshot.rejected
    );
    let console = board.console();
    eprintln!("board console:\n{console}");
    let hwm = console
        .lines()
        .filter_map(|l| l.split("stack_hwm=").nth(1))
        .filter_map(|v| v.trim().parse::<usize>().ok())
        .max()
        .context("the board printed no stack high-water mark")?;
    eprintln!(
        "qemu board: {} telemetry frames and the status frames stored in InfluxDB; stack high-water mark {hwm} bytes",
        frames.len()
    );
    drop(board);
    collector.stop().await
}
