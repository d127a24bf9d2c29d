//! Flash storage on `sequential-storage`, which does the wear levelling and power-loss recovery:
//! the node's [`Settings`] (a key-value map) and its store-and-forward [`FrameQueue`]. Both take
//! any `embedded-storage-async` NOR flash; [`RamFlash`] is one in RAM for host tests and simulators.
//!
//! A board gives each its own region (two partitions of one part, or two parts); the regions
//! must be page-aligned, and the map needs at least two pages.

mod error;
mod queue;
mod ram_flash;
mod settings;

pub use error::StorageError;
pub use queue::{ENTRY_MAX, Entry, FrameQueue};
pub use ram_flash::{FlashError, PAGE_SIZE, RamFlash};
pub use settings::Settings;
