//! Water-quality sample.

use super::range::check;
use crate::masked::masked_sample;

masked_sample! {
    /// Means over one reporting interval of a water-quality station's probes.
    pub struct WaterSample {
        /// pH in 0.001 pH units. Range 0–14.
        ph: u16,
        /// Dissolved oxygen in 0.01 mg/L. Range 0–50 mg/L.
        dissolved_oxygen: u16,
        /// Electrical conductivity, in situ (not temperature-compensated), in µS/cm. Range
        /// 0–500 000 µS/cm (the Atlas EZO-EC span); salinity is derived on the server by PSS-78.
        conductivity: u32,
        /// Water temperature in 0.01 °C. Range −5 to 50 °C.
        temperature: i16,
        /// Turbidity in 0.1 NTU. Range 0–4000 NTU.
        turbidity: u16,
        /// Water level above the gauge datum in mm. Range −20 to 20 m.
        water_level: i32,
        /// Practical salinity (PSS-78) in 0.01, when the probe computes it. Range 0–50.
        salinity: u16,
    }
}

impl WaterSample {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, i64)> {
        check("ph", self.ph, 0, 14_000)?;
        check("dissolved_oxygen", self.dissolved_oxygen, 0, 5_000)?;
        check("conductivity", self.conductivity, 0, 500_000)?;
        check("temperature", self.temperature, -500, 5_000)?;
        check("turbidity", self.turbidity, 0, 40_000)?;
        check("water_level", self.water_level, -20_000, 20_000)?;
        check("salinity", self.salinity, 0, 5_000)?;
        Ok(())
    }
}
