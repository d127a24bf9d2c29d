//! The air-quality node on a Cortex-M4 board: QEMU's `mps2-an386`.
//!
//! ```text
//! cargo build -p firmware --features board --bin board --target thumbv7em-none-eabihf --profile firmware
//! qemu-system-arm -M mps2-an386 -nographic -serial tcp:127.0.0.1:<pms-port>,server=on,wait=off \
//!     -serial stdio -kernel target/thumbv7em-none-eabihf/firmware/board
//! ```
//!
//! UART0 (0x4000_4000) is the PMS5003's line; UART1 (0x4000_5000) is the uplink, one line per frame:
//! `<channel> <hex bytes>`, for a host-side bridge to publish. There is no SHT4x on this machine yet:
//! the I²C bus answers every transfer with a NACK, so frames carry PM only and the sensor-fault flag.
//! SysTick counts milliseconds; the node is polled on every tick.
#![no_std]
#![no_main]
// Talking to the UART means volatile reads and writes of its registers, which Rust only offers as
// `unsafe` pointer operations. They are confined to `CmsdkUart::reg`/`set_reg` below; this binary is
// the only place in the workspace that allows `unsafe`.
#![allow(unsafe_code)]

use core::convert::Infallible;
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{self, ErrorKind, NoAcknowledgeSource, Operation};
use firmware::drivers::{Pms5003, Sht4x};
use firmware::node::{AirSampler, Node, NodeConfig, NodeIdentity, Transport};
use panic_halt as _;
use protocol::StatusKind;
use protocol::topic::NodeChannel;

/// The mps2-an386 system clock (QEMU's default for the machine), which also drives SysTick.
const SYSCLK_HZ: u32 = 25_000_000;
/// CMSDK APB UART0 and UART1 (services.md, "Bare-metal target and QEMU").
const UART0_BASE: usize = 0x4000_4000;
const UART1_BASE: usize = 0x4000_5000;
/// The node id this image is provisioned with, until ids come from flash.
const NODE_ID: u32 = 1;
/// How long a UART read waits for its first byte. The PMS5003 answers a passive read within tens of
/// ms at 9600 baud, so this only bounds the wait for a sensor that is not there.
const READ_TIMEOUT_MS: u32 = 200;

/// Milliseconds since SysTick was started, wrapping after 49 days (see [`Uptime`]).
static MILLIS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

/// Extends the 32-bit tick count to the node's 64-bit uptime; it must be read at least once every
/// 49 days, which the main loop does every millisecond.
struct Uptime {
    last: u32,
    wraps: u64,
}

impl Uptime {
    fn now(&mut self) -> u64 {
        let ticks = MILLIS.load(Ordering::Relaxed);
        if ticks < self.last {
            self.wraps += 1;
        }
        self.last = ticks;
        self.wraps << 32 | u64::from(ticks)
    }
}

/// A CMSDK APB UART: DATA +0x0, STATE +0x4 (bit 0 TX full, bit 1 RX full), CTRL +0x8 (bit 0 TX
/// enable, bit 1 RX enable), BAUDDIV +0x10 (services.md).
struct CmsdkUart {
    base: usize,
}

impl CmsdkUart {
    const DATA: usize = 0x0;
    const STATE: usize = 0x4;
    const CTRL: usize = 0x8;
    const BAUDDIV: usize = 0x10;
    const TX_FULL: u32 = 1 << 0;
    const RX_FULL: u32 = 1 << 1;

    /// `base` must be one of this board's UART blocks, and each is built once, in `main`.
    fn new(base: usize, baud: u32) -> Self {
        let uart = CmsdkUart { base };
        uart.set_reg(Self::BAUDDIV, SYSCLK_HZ / baud);
        uart.set_reg(Self::CTRL, 0b11);
        uart
    }

    fn reg(&self, offset: usize) -> u32 {
        // SAFETY: `base + offset` is a register of a UART block that exists on this board (see
        // `new`); a volatile 32-bit read of it has no effect beyond the device's own.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn set_reg(&self, offset: usize, value: u32) {
        // SAFETY: as in `reg`; the registers written here are the documented ones.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn rx_ready(&self) -> bool {
        self.reg(Self::STATE) & Self::RX_FULL != 0
    }
}

/// The UART gave no byte within [`READ_TIMEOUT_MS`].
#[derive(Debug, Clone, Copy)]
struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UART read timed out")
    }
}

impl core::error::Error for Timeout {}

impl embedded_io::Error for Timeout {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::TimedOut
    }
}

impl embedded_io::ErrorType for CmsdkUart {
    type Error = Timeout;
}

impl embedded_io::Read for CmsdkUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Timeout> {
        if buf.is_empty() {
            return Ok(0);
        }
        let start = MILLIS.load(Ordering::Relaxed);
        while !self.rx_ready() {
            if MILLIS.load(Ordering::Relaxed).wrapping_sub(start) > READ_TIMEOUT_MS {
                return Err(Timeout);
            }
        }
        let mut n = 0;
        while n < buf.len() && self.rx_ready() {
            // DATA holds one byte in its low 8 bits.
            buf[n] = (self.reg(Self::DATA) & 0xFF) as u8;
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::Write for CmsdkUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Timeout> {
        for &byte in buf {
            while self.reg(Self::STATE) & Self::TX_FULL != 0 {}
            self.set_reg(Self::DATA, u32::from(byte));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Timeout> {
        while self.reg(Self::STATE) & Self::TX_FULL != 0 {}
        Ok(())
    }
}

/// The uplink: each frame as one text line on UART1, for a host-side bridge to publish on MQTT.
struct SerialUplink {
    uart: CmsdkUart,
}

impl SerialUplink {
    fn put(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            while self.uart.reg(CmsdkUart::STATE) & CmsdkUart::TX_FULL != 0 {}
            self.uart.set_reg(CmsdkUart::DATA, u32::from(byte));
        }
    }
}

impl Transport for SerialUplink {
    type Error = Infallible;

    fn publish(&mut self, channel: NodeChannel, frame: &[u8]) -> Result<(), Infallible> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.put(channel.as_str().as_bytes());
        self.put(b" ");
        for &byte in frame {
            self.put(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xF)]]);
        }
        self.put(b"\n");
        Ok(())
    }
}

/// The board has no I²C controller driver yet: every transfer is refused as an address NACK, which
/// is what an absent sensor looks like, so the node flags a sensor fault and leaves T/RH absent.
struct NoI2c;

impl i2c::ErrorType for NoI2c {
    type Error = ErrorKind;
}

impl i2c::I2c for NoI2c {
    fn transaction(&mut self, _address: u8, _operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))
    }
}

/// Busy-wait delay counted in core cycles.
struct SpinDelay;

impl DelayNs for SpinDelay {
    fn delay_ns(&mut self, ns: u32) {
        let cycles = u64::from(ns) * u64::from(SYSCLK_HZ) / 1_000_000_000;
        cortex_m::asm::delay(u32::try_from(cycles).unwrap_or(u32::MAX));
    }
}

#[entry]
fn main() -> ! {
    // `take` only fails if called twice; this is its one call.
    let Some(mut core) = cortex_m::Peripherals::take() else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(SYSCLK_HZ / 1_000 - 1);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();

    let pms = Pms5003::new(CmsdkUart::new(UART0_BASE, 9_600));
    let sht = Sht4x::new(NoI2c, SpinDelay);
    let identity = NodeIdentity {
        node_id: NODE_ID,
        // No boot counter in flash yet: every start is boot 0, so the collector's (node, boot, seq)
        // dedupe will treat frames after a reset as repeats until it is.
        boot: 0,
        // Keyless (CRC-32 frames) until keys are provisioned into flash.
        key: None,
    };
    let mut node = Node::new(identity, NodeConfig::default(), AirSampler::new(pms, sht));
    let mut uplink = SerialUplink {
        uart: CmsdkUart::new(UART1_BASE, 115_200),
    };
    let mut uptime = Uptime { last: 0, wraps: 0 };

    // Errors are counted by the node (frames_dropped) and reported in its next status frame; a board
    // has nobody else to tell.
    let _ = node.publish_status(StatusKind::Birth, uptime.now(), 0, &mut uplink);
    loop {
        let _ = node.poll(uptime.now(), 0, &mut uplink);
        cortex_m::asm::wfi();
    }
}
