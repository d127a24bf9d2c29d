//! The air-quality node on a Cortex-M4 board: QEMU's `mps2-an386`.
//!
//! ```text
//! cargo build -p firmware --features board --bin board --target thumbv7em-none-eabihf --profile firmware
//! qemu-system-arm -M mps2-an386 -nographic -monitor none \
//!     -serial tcp:127.0.0.1:<pms-port>,server=on,wait=off \
//!     -serial tcp:127.0.0.1:<modem-port>,server=on,wait=off \
//!     -serial stdio \
//!     -device loader,file=<provisioning.bin>,addr=0x003f0000 \
//!     -kernel target/thumbv7em-none-eabihf/firmware/board
//! ```
//!
//! - UART0 (0x4000_4000): the PMS5003, 9600 baud, driven in passive mode.
//! - UART1 (0x4000_5000): the modem in transparent mode: the node's MQTT byte stream
//!   (`firmware::uplink`), which a host bridge carries to the broker.
//! - UART2 (0x4000_6000): a one-line diagnostic after each connect and status frame: boot counter,
//!   queue, stack high-water mark.
//! - Flash: the top of the 4 MiB code memory (RAM in QEMU, so writable) holds the settings map and
//!   the store-and-forward queue; the provisioning block (node id and key) is loaded at
//!   0x003F_0000 by the host, as a factory would program it. Without one the node is id 1, keyless.
//! - A full air node's sensors: the PMS5003; an SHT4x, a BME280 beside it for pressure and the gas
//!   cells (CO, NO2, SO2, O3 on two ADS1115s) on I²C. This machine has no I²C controller: the bus
//!   NACKs, so frames carry PM only and the sensor-fault flag, but the image holds every driver.
//!   The node's clock is not synced (`time_ms` 0): the collector stamps the points.
#![no_std]
#![no_main]
// Registers, the memory-mapped flash and the stack paint are volatile accesses at fixed
// addresses, which Rust only offers as `unsafe` pointer operations. They are confined to `hw.rs`
// (`CmsdkUart::reg`, `MemFlash`, `stack`); this binary is the only place in the workspace that
// allows it.
#![allow(unsafe_code)]

#[path = "board/hw.rs"]
mod hw;

use core::cell::Cell;
use core::convert::Infallible;
use core::fmt::Write as _;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use embassy_time::{Duration, Timer, with_timeout};
use firmware::convert::gas::Gas;
use firmware::drivers::ads1115::Address;
use firmware::drivers::{Ads1115, Bme280, Pms5003, Sht4x};
use firmware::node::{
    AirSampler, ForwardPolicy, GasFrontEnd, GasWiring, LinkStatus, Node, NodeConfig, NodeIdentity,
    StoreAndForward,
};
use firmware::storage::{FrameQueue, Settings};
use firmware::uplink::{self, Link, RX_BUFFER, TX_BUFFER, Topics};
use hw::{CmsdkUart, Console, MemFlash, ModemUart, NoI2c, SensorUart, SpinDelay, stack};
use panic_halt as _;
use protocol::command::Command;
use protocol::topic::DEFAULT_PREFIX;
use protocol::{MAX_FRAME_LEN, NodeKey, StatusKind};

/// The mps2-an386 system clock (QEMU's default for the machine), which also drives SysTick.
const SYSCLK_HZ: u32 = 25_000_000;
/// CMSDK APB UARTs (services.md, "Bare-metal target and QEMU").
const UART0_BASE: usize = 0x4000_4000;
const UART1_BASE: usize = 0x4000_5000;
const UART2_BASE: usize = 0x4000_6000;
/// Flash layout in the code memory (see `memory.x`, which keeps the image below it).
const SETTINGS_BASE: usize = 0x0038_0000;
const SETTINGS_LEN: u32 = 4 * 1024;
const QUEUE_BASE: usize = 0x0038_1000;
const QUEUE_LEN: u32 = 64 * 1024;
const PROVISIONING_BASE: usize = 0x003F_0000;
/// "CSN2": a provisioning block follows, as `citysense-provision` writes it
/// (`provision/src/blob.rs`): node id u32 LE, the 32-byte key, the 32-byte ASCII broker password,
/// then the broker address, which is the modem's business.
const PROVISIONING_MAGIC: u32 = 0x324E_5343;
const PASSWORD_LEN: usize = 32;
/// How long a PMS5003 read waits for its first byte.
const READ_TIMEOUT_MS: u64 = 200;
/// A status frame this often, besides birth and death.
const STATUS_INTERVAL_MS: u64 = 10 * 60_000;
/// How long to wait for the broker's CONNACK, and between attempts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a reboot waits for the frame in flight to be acknowledged.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);
const RECONNECT_DELAY_MS: u64 = 2_000;

/// Milliseconds since SysTick started.
static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

#[exception]
fn SysTick() {
    cortex_m::interrupt::free(|cs| {
        let ms = MILLIS.borrow(cs);
        ms.set(ms.get() + 1);
    });
}

fn uptime_ms() -> u64 {
    cortex_m::interrupt::free(|cs| MILLIS.borrow(cs).get())
}

/// embassy-time's clock for minimq's keepalive and timeouts: SysTick milliseconds at the 1 MHz
/// tick rate embassy-time uses by default. Nothing needs waking: the executor below polls on
/// every tick.
struct SysTickDriver;

impl embassy_time_driver::Driver for SysTickDriver {
    fn now(&self) -> u64 {
        uptime_ms() * 1_000
    }

    fn schedule_wake(&self, _at: u64, _waker: &Waker) {}
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver);

/// Runs the node's one task: poll, and sleep until the next SysTick when it cannot go on.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        cortex_m::asm::wfi();
    }
}

/// Reads the provisioning block: node id, key and broker password, if the host loaded one.
fn provisioning() -> (u32, Option<NodeKey>, Option<&'static [u8]>) {
    let word = |at: usize| {
        let b = |i| MemFlash::byte(PROVISIONING_BASE + at + i);
        u32::from_le_bytes([b(0), b(1), b(2), b(3)])
    };
    if word(0) != PROVISIONING_MAGIC {
        return (1, None, None);
    }
    let mut key = [0u8; 32];
    for (i, k) in key.iter_mut().enumerate() {
        *k = MemFlash::byte(PROVISIONING_BASE + 8 + i);
    }
    let password = MemFlash::provisioned(PROVISIONING_BASE + 40, PASSWORD_LEN);
    (word(4), Some(NodeKey::new(key)), Some(password))
}

type AirNode = Node<
    AirSampler<
        Pms5003<SensorUart>,
        Sht4x<NoI2c, SpinDelay>,
        Bme280<NoI2c, SpinDelay>,
        GasFrontEnd<NoI2c, SpinDelay>,
    >,
>;

/// Everything the node keeps between connections.
struct Board {
    node: AirNode,
    outbox: StoreAndForward<MemFlash>,
    settings: Settings<MemFlash>,
    console: Console,
    stack_top: usize,
    next_status_ms: u64,
    /// The broker password from the provisioning block (the user name is the client id).
    password: Option<&'static [u8]>,
}

impl Board {
    /// Samples and reports whatever is due, and refreshes what status frames report.
    fn tick(&mut self) {
        let now = uptime_ms();
        self.node.set_link_status(LinkStatus {
            queue_dropped: self.outbox.dropped(),
            queued: self.outbox.queued(),
            ..LinkStatus::default()
        });
        // Errors are counted by the node and reported in its next status frame.
        let _ = self.node.poll(now, 0, &mut self.outbox);
        if now >= self.next_status_ms {
            self.next_status_ms = now + STATUS_INTERVAL_MS;
            let _ = self
                .node
                .publish_status(StatusKind::Periodic, now, 0, &mut self.outbox);
            self.report("status");
        }
    }

    fn report(&mut self, event: &str) {
        let id = self.node.identity();
        let _ = writeln!(
            self.console,
            "{event}: node={} boot={} seq={} queued={} dropped={} stack_hwm={}",
            id.node_id,
            id.boot,
            self.node.seq(),
            self.outbox.queued(),
            self.outbox.dropped(),
            stack::high_water(self.stack_top)
        );
    }

    /// Runs `future` to its end while ticking the schedule at every poll (every SysTick: the
    /// executor below polls on each), so samples stay on time while the link waits on the network.
    async fn ticking<F: Future>(&mut self, future: F) -> F::Output {
        let mut future = pin!(future);
        poll_fn(|cx| {
            self.tick();
            future.as_mut().poll(cx)
        })
        .await
    }

    /// One connection: open, then forward frames and take commands until it fails. Returns true
    /// if a reboot was commanded.
    async fn connection(&mut self, modem: &mut ModemUart, topics: &Topics, client_id: &str) -> bool {
        let mut death = [0u8; MAX_FRAME_LEN];
        let mut birth = [0u8; MAX_FRAME_LEN];
        let now = uptime_ms();
        let (Ok(death), Ok(birth)) = (
            self.node.status_frame(StatusKind::Death, now, 0, &mut death),
            self.node.status_frame(StatusKind::Birth, now, 0, &mut birth),
        ) else {
            return false;
        };
        let (mut rx, mut tx) = ([0u8; RX_BUFFER], [0u8; TX_BUFFER]);
        let Ok(mut session) =
            uplink::session::<Infallible>(&mut rx, &mut tx, client_id, self.password, topics, death, 60)
        else {
            return false;
        };
        // The handshake can take seconds on a cellular link: the schedule keeps sampling (into the
        // flash queue) while it waits, as it does while the link is down.
        let opening = self.ticking(Link::open(&mut session, &mut *modem, topics, birth));
        let Ok(Ok(mut link)) = with_timeout(CONNECT_TIMEOUT, opening).await else {
            return false;
        };
        self.outbox.set_connected(true);
        self.report("connected");
        loop {
            self.tick();
            if link.forward(&mut self.outbox, uptime_ms()).await.is_err() {
                break;
            }
            let inbound = select(link.poll(), Timer::after_millis(2)).await;
            match inbound {
                Some(Ok(Some(command))) => {
                    let now = uptime_ms();
                    let result = self.node.handle_command(
                        command.bytes(),
                        &mut self.settings,
                        now,
                        0,
                        &mut self.outbox,
                    );
                    self.report(if result.is_ok() {
                        "command"
                    } else {
                        "command refused"
                    });
                    if let Ok(Command::Reboot) = result {
                        // Planned: the frame in flight gets its PUBACK first, so it is not sent
                        // again after the restart; the rest of the queue is on flash; DISCONNECT
                        // so no death frame is sent.
                        let _ = with_timeout(SETTLE_TIMEOUT, link.settle(&mut self.outbox)).await;
                        let _ = link.close().await;
                        self.outbox.set_connected(false);
                        return true;
                    }
                }
                Some(Err(_)) => break,
                _ => {}
            }
        }
        self.outbox.set_connected(false);
        false
    }
}

/// Races `a` against `b`: `Some` with `a`'s output if it finished first, `None` if `b` did.
async fn select<A: Future, B: Future>(a: A, b: B) -> Option<A::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if b.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

#[entry]
fn main() -> ! {
    let stack_top = stack::paint();
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

    let mut console = Console(CmsdkUart::new(UART2_BASE, 115_200));
    let (node_id, key, password) = provisioning();
    let mut settings = Settings::open(
        MemFlash {
            base: SETTINGS_BASE,
            len: SETTINGS_LEN,
        },
        0..SETTINGS_LEN,
    );
    // A part never formatted (QEMU's code memory starts as zeros, not erased) is formatted once.
    let boot = match settings.next_boot() {
        Err(firmware::storage::StorageError::Corrupted) => {
            let _ = writeln!(console, "settings flash not formatted: formatting");
            settings.format().and_then(|()| settings.next_boot())
        }
        other => other,
    };
    // Without a stored boot counter (node, boot, seq) could repeat after a reset: stop here.
    let Ok(boot) = boot else {
        let _ = writeln!(console, "fatal: cannot store the boot counter");
        loop {
            cortex_m::asm::wfi();
        }
    };
    let queue_flash = MemFlash {
        base: QUEUE_BASE,
        len: QUEUE_LEN,
    };
    let Ok((queue, _formatted)) = FrameQueue::open_or_format(queue_flash, 0..QUEUE_LEN) else {
        let _ = writeln!(console, "fatal: the frame queue's flash is unreadable");
        loop {
            cortex_m::asm::wfi();
        }
    };
    let mut config = NodeConfig::default();
    if let Ok(Some(seconds)) = settings.report_interval_s() {
        config.report_interval_ms = seconds.saturating_mul(1_000);
    }
    let pms = Pms5003::new(SensorUart(CmsdkUart::new(UART0_BASE, 9_600)));
    let sht = Sht4x::new(NoI2c, SpinDelay);
    let bme = Bme280::new(NoI2c, SpinDelay);
    let mut gas = GasFrontEnd::new(
        Ads1115::new(NoI2c, SpinDelay),
        Ads1115::new_with_address(NoI2c, SpinDelay, Address::Vdd),
        GasWiring::default(),
    );
    for cell in Gas::ALL {
        // A record that cannot be read leaves the cell on its certificate values.
        if let Ok(Some(calibration)) = settings.gas_calibration(cell.probe()) {
            gas.set_calibration(cell, calibration);
        }
    }
    let sampler = AirSampler::new(pms, sht).with_second_climate(bme).with_gas(gas);
    let identity = NodeIdentity { node_id, boot, key };
    let mut board = Board {
        node: Node::new(identity, config, sampler),
        outbox: StoreAndForward::new(queue, ForwardPolicy::default()),
        settings,
        console,
        stack_top,
        next_status_ms: STATUS_INTERVAL_MS,
        password,
    };
    board.report("boot");

    let Some(topics) = Topics::new(DEFAULT_PREFIX, node_id) else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let mut client_id = heapless::String::<24>::new();
    let _ = write!(client_id, "node-{node_id}");
    let mut modem = ModemUart(CmsdkUart::new(UART1_BASE, 115_200));
    run(async {
        loop {
            if board.connection(&mut modem, &topics, &client_id).await {
                cortex_m::peripheral::SCB::sys_reset();
            }
            // Keep sampling into the queue while the link is down.
            let retry_at = uptime_ms() + RECONNECT_DELAY_MS;
            while uptime_ms() < retry_at {
                board.tick();
                Timer::after_millis(1).await;
            }
        }
    })
}
