//! What a water station's probes see: the true state of the water, which the emulated EZO
//! circuits ([`super::ezo_station`]) and the analogue probes ([`super::AnalogueWater`]) turn into
//! bytes on their buses.

/// The true state of the water at the probes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaterLevels {
    /// pH.
    pub ph: f32,
    /// Dissolved oxygen in mg/L.
    pub dissolved_oxygen_mg_l: f32,
    /// Electrical conductivity in µS/cm.
    pub conductivity_us_cm: f32,
    /// Water temperature in °C.
    pub temperature_c: f32,
}
