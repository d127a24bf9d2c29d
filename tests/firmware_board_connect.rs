//! The board keeps its sampling schedule while the MQTT connect handshake waits on the network:
//! after a reboot its first connection goes unanswered for the whole 5 s connect window (a
//! cellular link still registering), and the frame that covers that window still holds every
//! sample that fell due in it.

#[path = "support/flaky_link.rs"]
mod flaky_link;
#[path = "support/qemu.rs"]
mod qemu;
mod support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use protocol::command::{Command, SignedCommand};
use protocol::registry::StationKind;
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic, parse_node_topic};
use protocol::{Body, Frame, NodeKey, StatusKind};
use provision::blob::SettingsBlob;
use provision::{Layout, NewNode, Provisioner};
use rumqttc::QoS;
use simulators::devices::PmLevels;
use support::{Mosquitto, MosquittoOptions, TestClient};

const NODE_ID: u32 = 302;
const WAIT: Duration = Duration::from_secs(30);

/// The next telemetry or status frame from the node matching `wanted`, decoded.
async fn next_frame(
    watcher: &mut TestClient,
    key: &NodeKey,
    wanted: impl Fn(NodeChannel, &Frame) -> bool,
) -> Result<Frame> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let publish = watcher.next_publish(left).await?;
        let (_, channel) = parse_node_topic(DEFAULT_PREFIX, &publish.topic).context("a node topic")?;
        if channel == NodeChannel::Command {
            continue;
        }
        let frame = protocol::decode(&publish.payload, Some(key))?;
        if wanted(channel, &frame) {
            return Ok(frame);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_due_while_the_board_connects_are_taken_not_skipped() -> Result<()> {
    let elf = qemu::build_board()?;
    let (flash, static_ram) = qemu::image_budget(&elf)?;
    ensure!(
        flash <= 64 * 1024 && static_ram <= 16 * 1024,
        "the full air node's image needs {flash} bytes of flash and {static_ram} of static RAM"
    );
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    // Held past the board's 5 s connect timeout minus a margin, then closed: the modem bridge
    // then dials again on the board's next CONNECT, which goes through.
    let link = flaky_link::FlakyLink::start(mosquitto.port(), Duration::from_millis(4_500)).await?;
    // Provisioned as in a province; this broker takes any login, the board sends its own.
    let provisioner = Provisioner::new(Layout::new(&dir.path().join("etc"), None), DEFAULT_PREFIX);
    let blob = provisioner.add_node(
        NewNode {
            id: NODE_ID,
            station: "HG-QEMU-02".into(),
            name: "Bo mạch QEMU 2".into(),
            kind: StationKind::Air,
            district: "Vị Thanh".into(),
            location: None,
        },
        "127.0.0.1:1883",
    )?;
    let provisioning = std::fs::read(blob)?;
    let key = NodeKey::new(
        SettingsBlob::decode(&provisioning)
            .context("a settings blob")?
            .key,
    );
    let cmd_topic = NodeTopic {
        prefix: DEFAULT_PREFIX,
        node_id: NODE_ID,
        channel: NodeChannel::Command,
    }
    .to_string();
    let mut watcher = TestClient::connect(mosquitto.port(), "board-connect-watcher", true).await?;
    watcher
        .subscribe(&format!("{DEFAULT_PREFIX}/node/{NODE_ID}/+"), QoS::AtLeastOnce)
        .await?;

    let levels = PmLevels {
        pm1_0: 10.0,
        pm2_5: 18.0,
        pm10: 27.0,
    };
    let mut board = qemu::Board::start(&elf, &provisioning, levels, link.port(), dir.path()).await?;
    let is_birth = |boot: u32| {
        move |_: NodeChannel, f: &Frame| {
            f.boot == boot && matches!(f.body, Body::Status(s) if s.kind == StatusKind::Birth)
        }
    };
    next_frame(&mut watcher, &key, is_birth(1)).await?;

    // A frame every 10 s, kept in flash across the reboot; a reading every 5 s as ever.
    let command = |counter, command| SignedCommand {
        node_id: NODE_ID,
        counter,
        command,
    };
    let interval = command(1, Command::SetReportInterval { seconds: 10 }).to_bytes(&key)?;
    watcher.publish_qos1(&cmd_topic, &interval).await?;
    link.swallow_next(1);
    let reboot = command(2, Command::Reboot).to_bytes(&key)?;
    watcher.publish_qos1(&cmd_topic, &reboot).await?;

    let birth = next_frame(&mut watcher, &key, is_birth(2)).await?;
    let Body::Status(status) = birth.body else {
        unreachable!("matched a birth frame")
    };
    ensure!(
        status.uptime_s >= 5,
        "the first connection after the reboot should have timed out; connected at {} s:\n{}",
        status.uptime_s,
        board.console()
    );
    let first = next_frame(&mut watcher, &key, |c, f| {
        c == NodeChannel::Telemetry && f.boot == 2
    })
    .await?;
    let Body::Air(sample) = first.body else {
        anyhow::bail!("an air node sent {:?}", first.body);
    };
    // Readings due at 0 s and 5 s of uptime, both inside the unanswered connect window.
    ensure!(
        sample.samples == 2 && sample.pm2_5 == Some(180),
        "the first frame of boot 2 holds {} readings (PM2.5 {:?}), 2 were due; console:\n{}",
        sample.samples,
        sample.pm2_5,
        board.console()
    );
    ensure!(board.is_running(), "QEMU stopped:\n{}", board.console());
    eprintln!(
        "board connect window: connected {} s after the reboot, first frame holds both readings due meanwhile",
        status.uptime_s
    );
    Ok(())
}
