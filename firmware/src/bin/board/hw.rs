//! The board's peripherals as the firmware's traits see them: CMSDK UARTs (sensor line, modem
//! line, console), the code memory as NOR flash, the stack paint, and the absent I²C bus.

use core::convert::Infallible;
use core::fmt;
use core::future::poll_fn;
use core::task::Poll;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{self, ErrorKind, NoAcknowledgeSource, Operation};
use embedded_storage_async::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

use super::{READ_TIMEOUT_MS, SYSCLK_HZ, uptime_ms};

/// A CMSDK APB UART: DATA +0x0, STATE +0x4 (bit 0 TX full, bit 1 RX full), CTRL +0x8 (bit 0 TX
/// enable, bit 1 RX enable), BAUDDIV +0x10 (services.md).
pub(crate) struct CmsdkUart {
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
    pub(crate) fn new(base: usize, baud: u32) -> Self {
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

    /// Reads what has arrived, up to `buf.len()` bytes; 0 if nothing has.
    fn read_available(&self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() && self.rx_ready() {
            // DATA holds one byte in its low 8 bits.
            buf[n] = (self.reg(Self::DATA) & 0xFF) as u8;
            n += 1;
        }
        n
    }

    fn put(&self, bytes: &[u8]) {
        for &byte in bytes {
            while self.reg(Self::STATE) & Self::TX_FULL != 0 {}
            self.set_reg(Self::DATA, u32::from(byte));
        }
    }
}

/// The UART gave no byte within [`READ_TIMEOUT_MS`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeout;

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

/// The PMS5003's line: blocking reads with a timeout, as the driver expects.
pub(crate) struct SensorUart(pub(crate) CmsdkUart);

impl embedded_io::ErrorType for SensorUart {
    type Error = Timeout;
}

impl embedded_io::Read for SensorUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Timeout> {
        if buf.is_empty() {
            return Ok(0);
        }
        let start = uptime_ms();
        loop {
            let n = self.0.read_available(buf);
            if n > 0 {
                return Ok(n);
            }
            if uptime_ms().saturating_sub(start) > READ_TIMEOUT_MS {
                return Err(Timeout);
            }
        }
    }
}

impl embedded_io::Write for SensorUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Timeout> {
        self.0.put(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Timeout> {
        Ok(())
    }
}

/// The modem's line in transparent mode: the MQTT byte stream. No data means the read stays
/// pending (minimq's contract); the executor polls it again on the next tick.
pub(crate) struct ModemUart(pub(crate) CmsdkUart);

impl embedded_io_async::ErrorType for ModemUart {
    type Error = Infallible;
}

impl embedded_io_async::Read for ModemUart {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        poll_fn(|_| match self.0.read_available(buf) {
            0 if !buf.is_empty() => Poll::Pending,
            n => Poll::Ready(Ok(n)),
        })
        .await
    }
}

impl embedded_io_async::Write for ModemUart {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.0.put(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// The diagnostic line on UART2.
pub(crate) struct Console(pub(crate) CmsdkUart);

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.put(s.as_bytes());
        Ok(())
    }
}

/// NOR flash emulated in a region of the code memory, with NOR rules (a write clears bits).
pub(crate) struct MemFlash {
    pub(crate) base: usize,
    pub(crate) len: u32,
}

#[derive(Debug)]
pub(crate) struct MemFlashError(NorFlashErrorKind);

impl NorFlashError for MemFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        self.0
    }
}

impl MemFlash {
    fn check(&self, offset: u32, len: usize, align: usize) -> Result<usize, MemFlashError> {
        let end = (offset as usize).saturating_add(len);
        if end > self.len as usize {
            return Err(MemFlashError(NorFlashErrorKind::OutOfBounds));
        }
        if !(offset as usize).is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(MemFlashError(NorFlashErrorKind::NotAligned));
        }
        Ok(self.base + offset as usize)
    }

    pub(crate) fn byte(addr: usize) -> u8 {
        // SAFETY: `addr` was bounds-checked by `check` against a region reserved for this flash
        // by `memory.x` (outside the image, the stack and the statics).
        unsafe { core::ptr::read_volatile(addr as *const u8) }
    }

    /// `len` bytes of the provisioning block at `addr`, borrowed where they lie.
    pub(crate) fn provisioned(addr: usize, len: usize) -> &'static [u8] {
        // SAFETY: the provisioning block is programmed before boot into a region `memory.x`
        // reserves outside the image, the stack, the statics, the settings and the queue; nothing
        // writes it while the firmware runs, so a shared borrow for the whole run holds.
        unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
    }

    fn set_byte(addr: usize, value: u8) {
        // SAFETY: as in `byte`.
        unsafe { core::ptr::write_volatile(addr as *mut u8, value) }
    }
}

impl ErrorType for MemFlash {
    type Error = MemFlashError;
}

impl ReadNorFlash for MemFlash {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), MemFlashError> {
        let addr = self.check(offset, bytes.len(), 1)?;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = Self::byte(addr + i);
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.len as usize
    }
}

impl NorFlash for MemFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 1024;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), MemFlashError> {
        let len = to.saturating_sub(from) as usize;
        let addr = self.check(from, len, Self::ERASE_SIZE)?;
        for i in 0..len {
            Self::set_byte(addr + i, 0xFF);
        }
        Ok(())
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), MemFlashError> {
        let addr = self.check(offset, bytes.len(), Self::WRITE_SIZE)?;
        for (i, &b) in bytes.iter().enumerate() {
            Self::set_byte(addr + i, Self::byte(addr + i) & b);
        }
        Ok(())
    }
}

impl MultiwriteNorFlash for MemFlash {}

/// Stack high-water mark: the stack below the entry point's frame is painted at start; the
/// lowest word no longer painted shows how deep the stack has gone.
pub(crate) mod stack {
    const PAINT: u32 = 0xCAFE_F00D;
    /// Bytes painted below the stack pointer at start (the 4 MiB RAM is far larger).
    const PAINTED: usize = 48 * 1024;

    /// Paints the stack below the current frame; returns the top it measures from.
    pub(crate) fn paint() -> usize {
        let sp = cortex_m::register::msp::read() as usize;
        let bottom = sp - PAINTED;
        // Leave 256 bytes below the current frame for this function's own calls.
        for addr in (bottom..sp - 256).step_by(4) {
            // SAFETY: RAM below the stack pointer that nothing uses yet (the stack grows down
            // into it later); 4 MiB of RAM lie below it on this board.
            unsafe { core::ptr::write_volatile(addr as *mut u32, PAINT) };
        }
        sp
    }

    /// Bytes of stack used at most since `paint`, measured from `top`.
    pub(crate) fn high_water(top: usize) -> usize {
        let bottom = top - PAINTED;
        let mut addr = bottom;
        // SAFETY: reads of the painted region, which stays mapped RAM.
        while addr < top && unsafe { core::ptr::read_volatile(addr as *const u32) } == PAINT {
            addr += 4;
        }
        top - addr
    }
}

/// The board has no I²C controller driver yet: every transfer is refused as an address NACK, which
/// is what an absent sensor looks like, so the node flags a sensor fault and leaves T/RH absent.
pub(crate) struct NoI2c;

impl i2c::ErrorType for NoI2c {
    type Error = ErrorKind;
}

impl i2c::I2c for NoI2c {
    fn transaction(&mut self, _address: u8, _operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))
    }
}

/// Busy-wait delay counted in core cycles.
pub(crate) struct SpinDelay;

impl DelayNs for SpinDelay {
    fn delay_ns(&mut self, ns: u32) {
        let cycles = u64::from(ns) * u64::from(SYSCLK_HZ) / 1_000_000_000;
        cortex_m::asm::delay(u32::try_from(cycles).unwrap_or(u32::MAX));
    }
}
