//! The seam between the node's schedule and a station's sensors.

use protocol::Body;
use protocol::command::CalibrationStep;

use crate::calibration::Calibration;
use crate::convert::gas::GasCalibration;

/// What a calibration step leaves for the node to keep in flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calibrated {
    /// A water probe's calibration points.
    Probe(Calibration),
    /// A gas cell's zeros and sensitivity.
    Gas(GasCalibration),
    /// A gas cell back on its certificate values: its record in flash goes.
    GasCleared,
}

/// Reads a station's sensors and averages them over a reporting interval.
pub trait Sampler {
    /// Reads every sensor once and adds the valid readings to the interval's means. A failed read
    /// sets the interval's sensor-fault flag instead; it never adds a 0.
    fn sample(&mut self, uptime_ms: u64);

    /// The interval's means with their quality flags, and a fresh interval. `None` if nothing was
    /// sampled since the last call. A sensor with no valid reading in the interval is absent (`None`)
    /// in the body, never 0.
    fn take_body(&mut self) -> Option<Body>;

    /// Takes one calibration point (a downlink command) with the probe in the standard, and returns
    /// the probe's calibration with it added, for the node to keep in flash; `None` if this
    /// station has no such probe or the probe cannot be read now. `now_s` is Unix seconds (0 when
    /// the clock is not synced).
    fn calibrate(&mut self, step: CalibrationStep, now_s: u32) -> Option<Calibrated> {
        let _ = (step, now_s);
        None
    }

    /// The wall clock before each sample, Unix s (0 when not synced): for sensors whose
    /// calibration falls due.
    fn set_time(&mut self, now_s: u32) {
        let _ = now_s;
    }

    /// How long before a reading the sensors need waking (a fan's warm-up); 0 if they need no
    /// warm-up or never sleep.
    fn warm_up_ms(&self) -> u64 {
        0
    }

    /// Lets the sampler sleep its sensors between readings; the node turns it on when the sample
    /// interval is at least twice [`Sampler::warm_up_ms`], and calls [`Sampler::prepare`] that long
    /// before each reading.
    fn set_duty_cycling(&mut self, on: bool) {
        let _ = on;
    }

    /// Wakes the sensors for the reading due [`Sampler::warm_up_ms`] from now.
    fn prepare(&mut self, uptime_ms: u64) {
        let _ = uptime_ms;
    }
}
