//! A NOR flash in RAM with real NOR rules, for host tests and simulators.

use embedded_storage_async::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Erase-page size of the emulated part (a typical internal-flash page of a small MCU).
pub const PAGE_SIZE: usize = 1024;

/// `BYTES` of NOR flash held in RAM: erased bytes read `0xFF`, a write can only clear bits (so it
/// ANDs with what is there, which is what makes it "multiwrite"), and erasing sets whole pages
/// back to `0xFF`. Alignment errors are reported as the hardware would.
#[derive(Debug, Clone)]
pub struct RamFlash<const BYTES: usize> {
    bytes: [u8; BYTES],
    /// Writes and erases since creation, for wear and cost checks in tests.
    operations: u64,
}

impl<const BYTES: usize> Default for RamFlash<BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const BYTES: usize> RamFlash<BYTES> {
    /// A fully erased part.
    pub const fn new() -> Self {
        RamFlash {
            bytes: [0xFF; BYTES],
            operations: 0,
        }
    }

    /// Program and erase operations so far.
    pub fn operations(&self) -> u64 {
        self.operations
    }

    /// The raw contents, for tests that corrupt or inspect them.
    pub fn bytes_mut(&mut self) -> &mut [u8; BYTES] {
        &mut self.bytes
    }
}

/// An access outside the part or not aligned to its word or page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashError(NorFlashErrorKind);

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        self.0
    }
}

impl<const BYTES: usize> ErrorType for RamFlash<BYTES> {
    type Error = FlashError;
}

fn check(
    offset: u32,
    len: usize,
    align: usize,
    capacity: usize,
) -> Result<core::ops::Range<usize>, FlashError> {
    let start = offset as usize;
    let end = start
        .checked_add(len)
        .ok_or(FlashError(NorFlashErrorKind::OutOfBounds))?;
    if end > capacity {
        return Err(FlashError(NorFlashErrorKind::OutOfBounds));
    }
    if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
        return Err(FlashError(NorFlashErrorKind::NotAligned));
    }
    Ok(start..end)
}

impl<const BYTES: usize> ReadNorFlash for RamFlash<BYTES> {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        let range = check(offset, bytes.len(), Self::READ_SIZE, BYTES)?;
        bytes.copy_from_slice(&self.bytes[range]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        BYTES
    }
}

impl<const BYTES: usize> NorFlash for RamFlash<BYTES> {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = PAGE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        let len = to
            .checked_sub(from)
            .ok_or(FlashError(NorFlashErrorKind::OutOfBounds))? as usize;
        let range = check(from, len, Self::ERASE_SIZE, BYTES)?;
        self.bytes[range].fill(0xFF);
        self.operations += 1;
        Ok(())
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let range = check(offset, bytes.len(), Self::WRITE_SIZE, BYTES)?;
        for (cell, &b) in self.bytes[range].iter_mut().zip(bytes) {
            *cell &= b;
        }
        self.operations += 1;
        Ok(())
    }
}

impl<const BYTES: usize> MultiwriteNorFlash for RamFlash<BYTES> {}
