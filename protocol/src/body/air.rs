//! Air-quality sample.

use super::range::check;
use crate::masked::masked_sample;

masked_sample! {
    /// Means over one reporting interval of an air-quality station's sensors.
    ///
    /// Concentrations are in µg/m³ at the sensor (QCVN 05:2023 and Decision 1459/QĐ-TCMT both use
    /// µg/m³, CO included), so the servers never convert units to compute VN_AQI.
    pub struct AirSample {
        /// PM1.0 in 0.1 µg/m³ (PMS5003 "atmospheric environment" value). Range 0–2000 µg/m³.
        pm1_0: u16,
        /// PM2.5 in 0.1 µg/m³. Range 0–2000 µg/m³.
        pm2_5: u16,
        /// PM10 in 0.1 µg/m³. Range 0–2000 µg/m³.
        pm10: u16,
        /// Air temperature in 0.01 °C. Range −40 to 85 °C.
        temperature: i16,
        /// Relative humidity in 0.01 %RH. Range 0–100 %.
        humidity: u16,
        /// Station pressure in 0.1 hPa. Range 300–1100 hPa.
        pressure: u16,
        /// CO in µg/m³. Range 0–2 000 000 µg/m³ (about 1 750 ppm).
        co: u32,
        /// NO2 in 0.1 µg/m³. Range 0–6553.5 µg/m³.
        no2: u16,
        /// SO2 in 0.1 µg/m³. Range 0–6553.5 µg/m³.
        so2: u16,
        /// O3 in 0.1 µg/m³. Range 0–6553.5 µg/m³.
        o3: u16,
    }
}

impl AirSample {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, i64)> {
        // The PMS5003's stated maximum is 1000 µg/m³; twice that leaves room for other sensors and
        // still rejects garbage such as 0xFFFF.
        check("pm1_0", self.pm1_0, 0, 20_000)?;
        check("pm2_5", self.pm2_5, 0, 20_000)?;
        check("pm10", self.pm10, 0, 20_000)?;
        check("temperature", self.temperature, -4_000, 8_500)?;
        check("humidity", self.humidity, 0, 10_000)?;
        check("pressure", self.pressure, 3_000, 11_000)?;
        check("co", self.co, 0, 2_000_000)?;
        Ok(())
    }
}
