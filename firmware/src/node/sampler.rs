//! The seam between the node's schedule and a station's sensors.

use protocol::Body;

/// Reads a station's sensors and averages them over a reporting interval.
pub trait Sampler {
    /// Reads every sensor once and adds the valid readings to the interval's means. A failed read
    /// sets the interval's sensor-fault flag instead; it never adds a 0.
    fn sample(&mut self, uptime_ms: u64);

    /// The interval's means with their quality flags, and a fresh interval. `None` if nothing was
    /// sampled since the last call. A sensor with no valid reading in the interval is absent (`None`)
    /// in the body, never 0.
    fn take_body(&mut self) -> Option<Body>;
}
