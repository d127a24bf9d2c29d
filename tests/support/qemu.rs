//! The node's board binary under QEMU (`mps2-an386`), with its two host bridges: an emulated
//! PMS5003 (the simulators' byte-level emulation) on UART0, and the modem's transparent byte
//! stream on UART1 carried to the MQTT broker over TCP. UART2's diagnostic lines go to a file.
//! Included by the QEMU tests with `#[path]`, next to `support`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use simulators::devices::{EmulatedPms5003, PmLevels, PmsMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{ChildProcess, free_ports};

/// Where the board reads its provisioning block (see `firmware/src/bin/board.rs`).
const PROVISIONING_ADDR: &str = "0x003f0000";

/// Builds the board binary (release, size-optimised, the `firmware` profile) and returns its path.
///
/// # Errors
/// When cargo fails; its output is in the error.
pub fn build_board() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(cargo)
        .current_dir(&manifest_dir)
        .args([
            "build",
            "-p",
            "firmware",
            "--features",
            "board",
            "--bin",
            "board",
            "--target",
            "thumbv7em-none-eabihf",
            "--profile",
            "firmware",
            "--message-format=json-render-diagnostics",
        ])
        .output()
        .context("running cargo to build the board binary")?;
    if !output.status.success() {
        bail!(
            "building the board binary failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
        .context("cargo reported no board executable")
}

/// Flash and static RAM of the board binary, from its ELF section headers (ELF32, little-endian):
/// flash is every allocated section below the RAM base plus `.data`'s initial values; static RAM
/// is `.data`, `.bss` and `.uninit`.
///
/// # Errors
/// When the file is not a 32-bit little-endian ELF.
pub fn image_budget(elf: &Path) -> Result<(u64, u64)> {
    const RAM_BASE: u64 = 0x2000_0000;
    const SHF_ALLOC: u32 = 0x2;
    const SHT_NOBITS: u32 = 8;
    let bytes = std::fs::read(elf)?;
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 1, 1][..]) {
        bail!("{} is not a 32-bit little-endian ELF", elf.display());
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let (shoff, shentsize, shnum) = (
        u32_at(0x20) as usize,
        usize::from(u16_at(0x2E)),
        usize::from(u16_at(0x30)),
    );
    let (mut flash, mut ram) = (0u64, 0u64);
    for i in 0..shnum {
        let at = shoff + i * shentsize;
        let (kind, flags, addr, size) = (
            u32_at(at + 4),
            u32_at(at + 8),
            u64::from(u32_at(at + 12)),
            u64::from(u32_at(at + 20)),
        );
        if flags & SHF_ALLOC == 0 || size == 0 {
            continue;
        }
        if addr >= RAM_BASE {
            ram += size;
            if kind != SHT_NOBITS {
                flash += size; // .data's initial values are stored in flash
            }
        } else {
            flash += size;
        }
    }
    Ok((flash, ram))
}

/// A running board with its bridges.
pub struct Board {
    qemu: ChildProcess,
    console: PathBuf,
    bridges: Vec<tokio::task::JoinHandle<()>>,
}

impl Board {
    /// Boots `elf` with `provisioning` loaded, feeds it PMS5003 frames of `levels`, and bridges
    /// its modem UART to the broker at `127.0.0.1:broker_port`.
    ///
    /// # Errors
    /// When QEMU cannot start or its UARTs cannot be reached.
    pub async fn start(
        elf: &Path,
        provisioning: &[u8],
        levels: PmLevels,
        broker_port: u16,
        dir: &Path,
    ) -> Result<Self> {
        let prov = dir.join("provisioning.bin");
        std::fs::write(&prov, provisioning)?;
        let console = dir.join("board-console.log");
        let ports = free_ports(2)?;
        let (pms_port, modem_port) = (ports[0], ports[1]);
        let args = vec![
            "-M".into(),
            "mps2-an386".into(),
            "-display".into(),
            "none".into(),
            "-monitor".into(),
            "none".into(),
            "-serial".into(),
            format!("tcp:127.0.0.1:{pms_port},server=on,wait=off"),
            "-serial".into(),
            format!("tcp:127.0.0.1:{modem_port},server=on,wait=off"),
            "-serial".into(),
            format!("file:{}", console.display()),
            "-device".into(),
            format!("loader,file={},addr={PROVISIONING_ADDR}", prov.display()),
            "-kernel".into(),
            elf.display().to_string(),
        ];
        let mut qemu = ChildProcess::spawn("qemu-system-arm", "qemu-system-arm", args, dir.join("qemu.log"))?;
        let pms_stream = connect(&mut qemu, pms_port).await?;
        let modem = connect(&mut qemu, modem_port).await?;
        let emulated = EmulatedPms5003::new(levels);
        let bridges = vec![
            tokio::spawn(pms_bridge(pms_stream, emulated)),
            tokio::spawn(modem_bridge(modem, broker_port)),
        ];
        Ok(Board {
            qemu,
            console,
            bridges,
        })
    }

    /// The diagnostic lines the board printed so far.
    pub fn console(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }

    /// True while QEMU runs.
    pub fn is_running(&mut self) -> bool {
        self.qemu.is_running()
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        for bridge in &self.bridges {
            bridge.abort();
        }
        self.qemu.kill();
    }
}

/// Connects to one of QEMU's UART sockets, which open a moment after it starts.
async fn connect(qemu: &mut ChildProcess, port: u16) -> Result<TcpStream> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) if tokio::time::Instant::now() < deadline && qemu.is_running() => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(qemu.failure(format!("QEMU's UART on port {port} did not open: {e}"))),
        }
    }
}

/// UART0: bytes from the node go into the emulated PMS5003; what it sends goes back. In active
/// mode (its power-up default, until the node switches it to passive) it sends a frame a second,
/// as the real sensor does.
async fn pms_bridge(mut stream: TcpStream, mut sensor: EmulatedPms5003) {
    let handle = sensor.handle();
    let mut buf = [0u8; 64];
    let mut next_active = tokio::time::Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_millis(5), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(n)) => {
                sensor.receive(&buf[..n]);
            }
            Err(_) => {}
        }
        let active = handle.mode() == PmsMode::Active;
        if active && tokio::time::Instant::now() < next_active {
            continue;
        }
        next_active = tokio::time::Instant::now() + Duration::from_secs(1);
        // A read with nothing to send is the sensor's silence, not an error.
        loop {
            match sensor.transmit(&mut buf) {
                n if n > 0 => {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    if active && n < buf.len() {
                        break;
                    }
                }
                _ => break,
            }
        }
    }
}

/// UART1: the modem's transparent mode, byte for byte to the broker and back. Like a modem it
/// dials on the first bytes after a hang-up, so a node that closed its session (a reboot command)
/// reaches the broker again on its next CONNECT.
async fn modem_bridge(mut uart: TcpStream, broker_port: u16) {
    let mut up = [0u8; 1024];
    let mut down = [0u8; 1024];
    let mut broker: Option<TcpStream> = None;
    loop {
        let Some(link) = broker.as_mut() else {
            let n = match uart.read(&mut up).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let Ok(mut link) = TcpStream::connect(("127.0.0.1", broker_port)).await else {
                return;
            };
            let _ = link.set_nodelay(true);
            if link.write_all(&up[..n]).await.is_ok() {
                broker = Some(link);
            }
            continue;
        };
        let mut hung_up = false;
        tokio::select! {
            read = uart.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => hung_up = link.write_all(&up[..n]).await.is_err(),
            },
            read = link.read(&mut down) => match read {
                Ok(0) | Err(_) => hung_up = true,
                Ok(n) => {
                    if uart.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                }
            },
        }
        if hung_up {
            broker = None;
        }
    }
}
