//! A bounded FIFO of encoded frames on flash (`sequential_storage::queue`): what the node could not
//! send yet. When full, the oldest frame is dropped (and counted) to make room for the newest.

use core::ops::Range;

use embedded_storage_async::nor_flash::MultiwriteNorFlash;
use protocol::MAX_FRAME_LEN;
use protocol::topic::NodeChannel;
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::queue::{QueueConfig, QueueStorage};

use super::error::StorageError;
use crate::exec::block_on;

/// An entry: one channel byte, then the frame.
pub const ENTRY_MAX: usize = 1 + MAX_FRAME_LEN;
/// The data buffer sequential-storage reads entries into, word-aligned.
const BUFFER: usize = ENTRY_MAX.next_multiple_of(8);

type Queue<F> = QueueStorage<F, Cache<Uncached, Uncached, Uncached>>;

/// Frames waiting on flash, oldest first.
pub struct FrameQueue<F: MultiwriteNorFlash> {
    queue: Queue<F>,
    len: usize,
    dropped: u32,
}

impl<F: MultiwriteNorFlash> core::fmt::Debug for FrameQueue<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameQueue")
            .field("len", &self.len)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

fn channel_byte(channel: NodeChannel) -> u8 {
    match channel {
        NodeChannel::Telemetry => 0,
        NodeChannel::Status => 1,
        NodeChannel::Command => 2,
    }
}

fn channel_of(byte: u8) -> Option<NodeChannel> {
    match byte {
        0 => Some(NodeChannel::Telemetry),
        1 => Some(NodeChannel::Status),
        2 => Some(NodeChannel::Command),
        _ => None,
    }
}

/// One entry read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    bytes: [u8; ENTRY_MAX],
    len: usize,
}

impl Entry {
    fn new(channel: NodeChannel, frame: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; ENTRY_MAX];
        let len = 1 + frame.len();
        if len > ENTRY_MAX {
            return None;
        }
        bytes[0] = channel_byte(channel);
        bytes[1..len].copy_from_slice(frame);
        Some(Entry { bytes, len })
    }

    fn from_stored(stored: &[u8]) -> Option<Self> {
        let (&channel, frame) = stored.split_first()?;
        Entry::new(channel_of(channel)?, frame)
    }

    /// The topic the frame goes to.
    pub fn channel(&self) -> NodeChannel {
        channel_of(self.bytes[0]).unwrap_or(NodeChannel::Telemetry)
    }

    /// The encoded frame.
    pub fn frame(&self) -> &[u8] {
        &self.bytes[1..self.len]
    }

    fn stored(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<F: MultiwriteNorFlash> FrameQueue<F> {
    /// Opens the queue on `range` of `flash` and counts what a previous boot left in it.
    ///
    /// # Errors
    ///
    /// The flash failed or holds something else.
    ///
    /// # Panics
    ///
    /// If `range` is not page-aligned (a board layout bug).
    pub fn open(flash: F, range: Range<u32>) -> Result<Self, StorageError<F::Error>> {
        let mut queue = Self::unopened(flash, range);
        queue.len = queue.count()?;
        Ok(queue)
    }

    fn unopened(flash: F, range: Range<u32>) -> Self {
        FrameQueue {
            queue: QueueStorage::new(flash, QueueConfig::new(range), Cache::new_uncached()),
            len: 0,
            dropped: 0,
        }
    }

    /// Opens the queue as [`FrameQueue::open`] does, but erases a region whose contents are not a
    /// queue (never formatted, or corrupted) and starts empty. Returns the queue and whether it was
    /// erased.
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn open_or_format(flash: F, range: Range<u32>) -> Result<(Self, bool), StorageError<F::Error>> {
        let mut queue = Self::unopened(flash, range);
        match queue.count() {
            Ok(len) => {
                queue.len = len;
                Ok((queue, false))
            }
            Err(StorageError::Corrupted) => {
                block_on(queue.queue.erase_all())?;
                Ok((queue, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Gives the flash back.
    pub fn destroy(self) -> F {
        self.queue.destroy().0
    }

    fn count(&mut self) -> Result<usize, StorageError<F::Error>> {
        block_on(async {
            let mut buf = [0u8; BUFFER];
            let mut iter = self.queue.iter().await?;
            let mut n = 0;
            while iter.next(&mut buf).await?.is_some() {
                n += 1;
            }
            Ok(n)
        })
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Frames dropped to make room since this queue was opened.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// Appends a frame, dropping the oldest ones while there is no room. Returns how many were
    /// dropped for this one.
    ///
    /// # Errors
    ///
    /// The flash failed, or the frame does not fit even in an empty queue.
    pub fn push(&mut self, channel: NodeChannel, frame: &[u8]) -> Result<u32, StorageError<F::Error>> {
        let entry = Entry::new(channel, frame).ok_or(StorageError::TooBig)?;
        let mut dropped = 0;
        loop {
            match block_on(self.queue.push(entry.stored(), false)) {
                Ok(()) => {
                    self.len += 1;
                    return Ok(dropped);
                }
                Err(sequential_storage::Error::FullStorage) if self.len > 0 => {
                    // Design: pop one at a time rather than letting the crate erase the oldest
                    // page wholesale (`allow_overwrite_old_data`), so every lost frame is counted.
                    self.remove(0)?;
                    dropped += 1;
                    self.dropped = self.dropped.saturating_add(1);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The entry at `index` (0 = oldest), if there is one.
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn get(&mut self, index: usize) -> Result<Option<Entry>, StorageError<F::Error>> {
        block_on(async {
            let mut buf = [0u8; BUFFER];
            let mut iter = self.queue.iter().await?;
            let mut i = 0;
            while let Some(stored) = iter.next(&mut buf).await? {
                if i == index {
                    return Entry::from_stored(&stored)
                        .map(Some)
                        .ok_or(StorageError::Corrupted);
                }
                i += 1;
            }
            Ok(None)
        })
    }

    /// Removes the entry at `index` (0 = oldest).
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn remove(&mut self, index: usize) -> Result<(), StorageError<F::Error>> {
        let removed = block_on(async {
            let mut buf = [0u8; BUFFER];
            let mut iter = self.queue.iter().await?;
            let mut i = 0;
            while let Some(stored) = iter.next(&mut buf).await? {
                if i == index {
                    stored.pop().await?;
                    return Ok::<_, StorageError<F::Error>>(true);
                }
                i += 1;
            }
            Ok(false)
        })?;
        if removed {
            self.len -= 1;
        }
        Ok(())
    }

    /// Removes the first entry equal to `entry` (frames are unique by node, boot and seq), and
    /// returns its index, or `None` if it is no longer there (dropped meanwhile).
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn remove_entry(&mut self, entry: &Entry) -> Result<Option<usize>, StorageError<F::Error>> {
        let found = block_on(async {
            let mut buf = [0u8; BUFFER];
            let mut iter = self.queue.iter().await?;
            let mut i = 0;
            while let Some(stored) = iter.next(&mut buf).await? {
                if &stored[..] == entry.stored() {
                    stored.pop().await?;
                    return Ok::<_, StorageError<F::Error>>(Some(i));
                }
                i += 1;
            }
            Ok(None)
        })?;
        if found.is_some() {
            self.len -= 1;
        }
        Ok(found)
    }
}
