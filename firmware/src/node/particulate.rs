//! The particulate seam of the air station: a fan-driven optical sensor that is woken, answers one
//! reading per request, and sleeps between readings. The PMS5003 and the SDS011 drivers implement
//! it, so the air sampler runs either.

use embedded_io::{Read, Write};

use super::stuck::fingerprint;
use crate::drivers::pms5003::{self, Pms5003};
use crate::drivers::sds011::{self, Sds011};

/// The PMS5003's fan needs this long after wake before readings are stable (domain.md §7.1, "≥ 30 s").
pub const PMS_WARM_UP_MS: u64 = 30_000;

/// The SDS011 needs about as long after a work command (its working-period mode runs the fan 30 s
/// before each reading for the same reason).
pub const SDS_WARM_UP_MS: u64 = 30_000;

/// One reading in the frame's unit, 0.1 µg/m³.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmReading {
    /// PM1.0; `None` for a sensor that does not measure it (the SDS011).
    pub pm1_0: Option<u32>,
    /// PM2.5.
    pub pm2_5: u32,
    /// PM10.
    pub pm10: u32,
    /// A fingerprint of every raw word of the frame, for the stuck-value check.
    pub raw: u64,
}

/// Why the sensor gave no reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmFault {
    /// Nothing came back: the sensor may have lost power and restarted in its power-up mode, so
    /// the sampler wakes and configures it again before the next reading.
    Silent,
    /// A frame came back damaged (checksum, length, tail).
    Damaged,
}

/// A particulate sensor driven one reading at a time.
pub trait ParticulateSensor {
    /// How long after [`ParticulateSensor::start`] its readings are stable.
    fn warm_up_ms(&self) -> u64;

    /// Wakes the sensor and puts it in request mode (passive, query), so each reading belongs
    /// to the request it answers rather than to a stream left in the UART buffer.
    ///
    /// # Errors
    ///
    /// [`PmFault`] if the sensor does not take the commands.
    fn start(&mut self) -> Result<(), PmFault>;

    /// Requests one reading and reads it.
    ///
    /// # Errors
    ///
    /// [`PmFault`]: silence or a damaged frame.
    fn read_pm(&mut self) -> Result<PmReading, PmFault>;

    /// Stops the fan and laser until the next [`ParticulateSensor::start`].
    ///
    /// # Errors
    ///
    /// [`PmFault`] if the sensor does not take the command (it only costs power).
    fn stop(&mut self) -> Result<(), PmFault>;

    /// Frames rejected for a bad checksum since the driver was made.
    fn frames_rejected(&self) -> u32;
}

fn pms_fault<E>(e: pms5003::Error<E>) -> PmFault {
    match e {
        pms5003::Error::Uart(_) | pms5003::Error::EndOfInput | pms5003::Error::NoStart => PmFault::Silent,
        _ => PmFault::Damaged,
    }
}

fn sds_fault<E>(e: sds011::Error<E>) -> PmFault {
    match e {
        sds011::Error::Uart(_) | sds011::Error::EndOfInput | sds011::Error::NoStart => PmFault::Silent,
        _ => PmFault::Damaged,
    }
}

impl<U: Read + Write> ParticulateSensor for Pms5003<U> {
    fn warm_up_ms(&self) -> u64 {
        PMS_WARM_UP_MS
    }

    fn start(&mut self) -> Result<(), PmFault> {
        self.send(pms5003::Command::Wake).map_err(pms_fault)?;
        self.send(pms5003::Command::PassiveMode).map_err(pms_fault)
    }

    fn read_pm(&mut self) -> Result<PmReading, PmFault> {
        let full = self.request().map_err(pms_fault)?;
        let (s, a, c) = (full.standard, full.atmospheric, full.counts);
        let words = [
            s.pm1_0,
            s.pm2_5,
            s.pm10,
            a.pm1_0,
            a.pm2_5,
            a.pm10,
            c.over_0_3um,
            c.over_0_5um,
            c.over_1_0um,
            c.over_2_5um,
            c.over_5_0um,
            c.over_10um,
            full.reserved,
        ];
        // The atmospheric values, in whole µg/m³, to the frame's 0.1 µg/m³.
        Ok(PmReading {
            pm1_0: Some(u32::from(a.pm1_0) * 10),
            pm2_5: u32::from(a.pm2_5) * 10,
            pm10: u32::from(a.pm10) * 10,
            raw: fingerprint(words.map(u32::from)),
        })
    }

    fn stop(&mut self) -> Result<(), PmFault> {
        self.send(pms5003::Command::Sleep).map_err(pms_fault)
    }

    fn frames_rejected(&self) -> u32 {
        self.checksum_errors()
    }
}

impl<U: Read + Write> ParticulateSensor for Sds011<U> {
    fn warm_up_ms(&self) -> u64 {
        SDS_WARM_UP_MS
    }

    fn start(&mut self) -> Result<(), PmFault> {
        self.set(sds011::Command::Work).map_err(sds_fault)?;
        self.set(sds011::Command::QueryMode).map_err(sds_fault)
    }

    fn read_pm(&mut self) -> Result<PmReading, PmFault> {
        let reading = self.query().map_err(sds_fault)?;
        // Already in 0.1 µg/m³; the sensor's id is part of the frame, so part of the fingerprint.
        Ok(PmReading {
            pm1_0: None,
            pm2_5: u32::from(reading.pm2_5),
            pm10: u32::from(reading.pm10),
            raw: fingerprint([reading.pm2_5, reading.pm10, reading.id].map(u32::from)),
        })
    }

    fn stop(&mut self) -> Result<(), PmFault> {
        self.set(sds011::Command::Sleep).map_err(sds_fault)
    }

    fn frames_rejected(&self) -> u32 {
        self.checksum_errors()
    }
}
