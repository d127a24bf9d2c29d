//! A delay that returns at once: simulated time is the caller's, not the host's.

use embedded_hal::delay::DelayNs;

/// Implements [`DelayNs`] without sleeping, so a simulated node runs faster than real time. The
/// emulated sensors answer as soon as they are asked, so no driver needs the wait.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDelay;

impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}
