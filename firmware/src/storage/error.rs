//! Why a flash operation failed.

use core::fmt;

/// A storage failure. The node keeps running without the value (a boot counter it cannot store is
/// still incremented in RAM), but reports it.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError<E> {
    /// The flash driver failed.
    Flash(E),
    /// The region is full and nothing could be dropped to make room.
    Full,
    /// The contents are not what this firmware wrote (a half-finished erase, or another layout).
    Corrupted,
    /// An item is larger than the buffers allow (a bug, not a flash condition).
    TooBig,
}

impl<E> From<sequential_storage::Error<E>> for StorageError<E> {
    fn from(e: sequential_storage::Error<E>) -> Self {
        match e {
            sequential_storage::Error::Storage { value, .. } => StorageError::Flash(value),
            sequential_storage::Error::FullStorage => StorageError::Full,
            sequential_storage::Error::ItemTooBig
            | sequential_storage::Error::BufferTooBig
            | sequential_storage::Error::BufferTooSmall(_) => StorageError::TooBig,
            _ => StorageError::Corrupted,
        }
    }
}

impl<E: fmt::Debug> fmt::Display for StorageError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Flash(e) => write!(f, "flash error: {e:?}"),
            StorageError::Full => f.write_str("flash region full"),
            StorageError::Corrupted => f.write_str("flash contents corrupted"),
            StorageError::TooBig => f.write_str("item larger than the storage buffers"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for StorageError<E> {}
