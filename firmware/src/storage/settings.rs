//! What the node keeps across reboots: boot counter, downlink counter, reporting interval, probe
//! calibrations and gas-cell calibrations, as a key-value map on flash (`sequential_storage::map`).

use core::ops::Range;

use embedded_storage_async::nor_flash::MultiwriteNorFlash;
use protocol::command::Probe;
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{MapConfig, MapStorage};

use super::error::StorageError;
use crate::calibration::Calibration;
use crate::convert::gas::GasCalibration;
use crate::exec::block_on;

/// Map keys. Stable: a firmware update must read what the previous one wrote.
mod key {
    pub const BOOT: u8 = 0x01;
    pub const DOWNLINK_COUNTER: u8 = 0x02;
    pub const REPORT_INTERVAL_S: u8 = 0x03;
    /// Calibrations are `CALIBRATION + probe index` (the probe's wire index, `FORMAT.md` §9);
    /// a gas probe's key holds a gas-cell record, the others a probe record.
    pub const CALIBRATION: u8 = 0x10;
}

/// Largest stored item: key 1 + a calibration record, rounded up to the flash word.
const BUFFER: usize = 64;

type Map<F> = MapStorage<u8, F, Cache<Uncached, Uncached, Uncached, u8>>;

/// The node's settings on a flash region of at least two erase pages.
pub struct Settings<F: MultiwriteNorFlash> {
    map: Map<F>,
}

impl<F: MultiwriteNorFlash> core::fmt::Debug for Settings<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Settings").finish_non_exhaustive()
    }
}

fn probe_key(probe: Probe) -> u8 {
    key::CALIBRATION
        + match probe {
            Probe::Ph => 0,
            Probe::DissolvedOxygen => 1,
            Probe::Conductivity => 2,
            Probe::Turbidity => 3,
            Probe::WaterLevel => 4,
            Probe::CarbonMonoxide => 5,
            Probe::NitrogenDioxide => 6,
            Probe::SulphurDioxide => 7,
            Probe::Ozone => 8,
        }
}

impl<F: MultiwriteNorFlash> Settings<F> {
    /// Opens the map on `range` of `flash`. An erased region is an empty map.
    ///
    /// # Panics
    ///
    /// If `range` is not page-aligned or shorter than two pages (a board layout bug).
    pub fn open(flash: F, range: Range<u32>) -> Self {
        Settings {
            map: MapStorage::new(flash, MapConfig::new(range), Cache::new_uncached()),
        }
    }

    /// Erases the whole region: for a part that was never formatted (a fresh part that is not
    /// erased, or memory standing in for flash) or whose contents are [`StorageError::Corrupted`].
    /// Everything is lost, the boot counter included.
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn format(&mut self) -> Result<(), StorageError<F::Error>> {
        Ok(block_on(self.map.erase_all())?)
    }

    /// Gives the flash back.
    pub fn destroy(self) -> F {
        self.map.destroy().0
    }

    fn fetch<V: for<'a> sequential_storage::map::Value<'a>>(
        &mut self,
        key: u8,
    ) -> Result<Option<V>, StorageError<F::Error>> {
        let mut buf = [0u8; BUFFER];
        Ok(block_on(self.map.fetch_item::<V>(&mut buf, &key))?)
    }

    fn store<V: for<'a> sequential_storage::map::Value<'a>>(
        &mut self,
        key: u8,
        value: &V,
    ) -> Result<(), StorageError<F::Error>> {
        let mut buf = [0u8; BUFFER];
        Ok(block_on(self.map.store_item(&mut buf, &key, value))?)
    }

    /// Increments the boot counter and returns the new value; call once per start, before the
    /// first frame. The first boot of a fresh node is 1.
    ///
    /// # Errors
    ///
    /// The flash failed; the node must not send frames then, or (node, boot, seq) could repeat.
    pub fn next_boot(&mut self) -> Result<u32, StorageError<F::Error>> {
        let boot = self.fetch::<u32>(key::BOOT)?.unwrap_or(0).wrapping_add(1);
        self.store(key::BOOT, &boot)?;
        Ok(boot)
    }

    /// Stores `last` as the counter of the last start, so the next [`Settings::next_boot`] returns
    /// `last + 1`: for carrying a node's counter over to a new flash part (a board swap) and for
    /// simulations that start a node at a given boot. Lowering it on a node that has sent frames
    /// would let (node, boot, seq) repeat.
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn set_boot_counter(&mut self, last: u32) -> Result<(), StorageError<F::Error>> {
        self.store(key::BOOT, &last)
    }

    /// The counter of the last downlink command accepted (0 if none ever was).
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn downlink_counter(&mut self) -> Result<u64, StorageError<F::Error>> {
        Ok(self.fetch::<u64>(key::DOWNLINK_COUNTER)?.unwrap_or(0))
    }

    /// Records the counter of a command just accepted, before it is acted on.
    ///
    /// # Errors
    ///
    /// The flash failed; the command must then be refused.
    pub fn set_downlink_counter(&mut self, counter: u64) -> Result<(), StorageError<F::Error>> {
        self.store(key::DOWNLINK_COUNTER, &counter)
    }

    /// The reporting interval set by a downlink command, if any.
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn report_interval_s(&mut self) -> Result<Option<u32>, StorageError<F::Error>> {
        self.fetch::<u32>(key::REPORT_INTERVAL_S)
    }

    /// Keeps a new reporting interval.
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn set_report_interval_s(&mut self, seconds: u32) -> Result<(), StorageError<F::Error>> {
        self.store(key::REPORT_INTERVAL_S, &seconds)
    }

    /// A probe's calibration, if it was ever calibrated.
    ///
    /// # Errors
    ///
    /// The flash failed, or the record is not one this firmware wrote.
    pub fn calibration(&mut self, probe: Probe) -> Result<Option<Calibration>, StorageError<F::Error>> {
        let mut buf = [0u8; BUFFER];
        let stored = block_on(self.map.fetch_item::<&[u8]>(&mut buf, &probe_key(probe)))?;
        match stored {
            None => Ok(None),
            Some(bytes) => Calibration::from_bytes(bytes)
                .map(Some)
                .ok_or(StorageError::Corrupted),
        }
    }

    /// Keeps a probe's calibration.
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn set_calibration(
        &mut self,
        probe: Probe,
        calibration: &Calibration,
    ) -> Result<(), StorageError<F::Error>> {
        let bytes = calibration.to_bytes();
        let mut buf = [0u8; BUFFER];
        Ok(block_on(self.map.store_item(
            &mut buf,
            &probe_key(probe),
            &&bytes[..],
        ))?)
    }

    /// A gas cell's field calibration, if one was taken (otherwise it reads with its certificate
    /// values).
    ///
    /// # Errors
    ///
    /// The flash failed, or the record is not one this firmware wrote.
    pub fn gas_calibration(
        &mut self,
        probe: Probe,
    ) -> Result<Option<GasCalibration>, StorageError<F::Error>> {
        let mut buf = [0u8; BUFFER];
        let stored = block_on(self.map.fetch_item::<&[u8]>(&mut buf, &probe_key(probe)))?;
        match stored {
            None => Ok(None),
            Some(bytes) => GasCalibration::from_bytes(bytes)
                .map(Some)
                .ok_or(StorageError::Corrupted),
        }
    }

    /// Keeps a gas cell's field calibration, or with `None` removes it (the cell goes back to its
    /// certificate values).
    ///
    /// # Errors
    ///
    /// The flash failed.
    pub fn set_gas_calibration(
        &mut self,
        probe: Probe,
        calibration: Option<&GasCalibration>,
    ) -> Result<(), StorageError<F::Error>> {
        let mut buf = [0u8; BUFFER];
        let key = probe_key(probe);
        match calibration {
            Some(calibration) => {
                let bytes = calibration.to_bytes();
                Ok(block_on(self.map.store_item(&mut buf, &key, &&bytes[..]))?)
            }
            None => Ok(block_on(self.map.remove_item(&mut buf, &key))?),
        }
    }
}
