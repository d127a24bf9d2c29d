//! A simulated node's settings flash kept in a file, so the node keeps its boot counter and
//! settings (reporting interval, calibrations, downlink counter) across runs, as the board keeps
//! them across power cycles. Without this every demo start would boot the nodes as boot 1 again
//! and reuse the (boot, seq) keys of the run before.

use std::io;
use std::path::{Path, PathBuf};

use embedded_storage_async::nor_flash::{ErrorType, MultiwriteNorFlash, NorFlash, ReadNorFlash};
use firmware::storage::{FlashError, RamFlash};

/// `BYTES` of NOR flash in RAM (the firmware's [`RamFlash`], with its NOR rules), whose image is
/// written to a file after every write and erase: write to a temporary file, then rename, so the
/// file always holds a whole image.
#[derive(Debug, Clone)]
pub struct FileFlash<const BYTES: usize> {
    ram: RamFlash<BYTES>,
    /// Where the image is kept; `None` keeps it in memory only.
    path: Option<PathBuf>,
    /// Whether saving failed once (warned about once; the node carries on from RAM).
    save_failed: bool,
}

impl<const BYTES: usize> FileFlash<BYTES> {
    /// An erased part in memory only.
    pub fn in_memory() -> Self {
        FileFlash {
            ram: RamFlash::new(),
            path: None,
            save_failed: false,
        }
    }

    /// The part whose image is kept at `path`: what the file holds, or an erased part when there
    /// is no file yet. Also says whether the file existed (a node that has booted before).
    ///
    /// # Errors
    ///
    /// The I/O error reading it, or [`io::ErrorKind::InvalidData`] for a file that is not an
    /// image of this part (another size).
    pub fn open(path: &Path) -> io::Result<(Self, bool)> {
        let mut flash = FileFlash {
            ram: RamFlash::new(),
            path: Some(path.to_path_buf()),
            save_failed: false,
        };
        match std::fs::read(path) {
            Ok(image) if image.len() == BYTES => {
                flash.ram.bytes_mut().copy_from_slice(&image);
                Ok((flash, true))
            }
            Ok(image) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} holds {} bytes, not a {BYTES}-byte settings flash image; remove it to start the node afresh",
                    path.display(),
                    image.len()
                ),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((flash, false)),
            Err(e) => Err(e),
        }
    }

    fn save(&mut self) {
        let Some(path) = &self.path else { return };
        let tmp = path.with_extension("tmp");
        let saved =
            std::fs::write(&tmp, self.ram.bytes_mut().as_slice()).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = saved
            && !std::mem::replace(&mut self.save_failed, true)
        {
            tracing::warn!(path = %path.display(), error = %e,
                "Cannot save a simulated node's settings flash; it carries on from memory, and its next run may boot with an older boot counter.");
        }
    }
}

impl<const BYTES: usize> ErrorType for FileFlash<BYTES> {
    type Error = FlashError;
}

impl<const BYTES: usize> ReadNorFlash for FileFlash<BYTES> {
    const READ_SIZE: usize = RamFlash::<BYTES>::READ_SIZE;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        self.ram.read(offset, bytes).await
    }

    fn capacity(&self) -> usize {
        self.ram.capacity()
    }
}

impl<const BYTES: usize> NorFlash for FileFlash<BYTES> {
    const WRITE_SIZE: usize = RamFlash::<BYTES>::WRITE_SIZE;
    const ERASE_SIZE: usize = RamFlash::<BYTES>::ERASE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        self.ram.erase(from, to).await?;
        self.save();
        Ok(())
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        self.ram.write(offset, bytes).await?;
        self.save();
        Ok(())
    }
}

impl<const BYTES: usize> MultiwriteNorFlash for FileFlash<BYTES> {}

#[cfg(test)]
mod tests {
    use firmware::storage::Settings;

    use super::*;

    const BYTES: usize = 4096;

    #[test]
    fn the_boot_counter_survives_reopening_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node-1.settings");
        let boots: Vec<u32> = (0..3)
            .map(|_| {
                let (flash, _) = FileFlash::<BYTES>::open(&path).expect("open");
                let mut settings = Settings::open(flash, 0..BYTES as u32);
                settings.next_boot().expect("boot")
            })
            .collect();
        assert_eq!(boots, vec![1, 2, 3]);
        let (_, existed) = FileFlash::<BYTES>::open(&path).expect("open");
        assert!(existed);
    }

    #[test]
    fn a_file_of_another_size_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node-1.settings");
        std::fs::write(&path, [0u8; 10]).expect("write");
        let e = FileFlash::<BYTES>::open(&path).expect_err("refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("remove it"), "{e}");
    }
}
