//! A sensor slot left empty: the air sampler's optional second climate sensor and gas front end
//! default to it, so a station without them carries no code or state for them.

/// No sensor fitted: reads nothing and never fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoSensor;
