//! Links `protocol` and `firmware` into a host binary with no `std`: if any dependency pulled `std`
//! in, this would not build (duplicate panic handler, missing `std` for the target's no_std build).
//! At run time it encodes and decodes a frame and runs both drivers against dummy buses; the exit
//! status says whether each step gave the expected answer.
#![no_std]
#![no_main]

use core::convert::Infallible;
use core::panic::PanicInfo;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{self, Operation};
use firmware::drivers::pms5003::Pms5003;
use firmware::drivers::sht4x::{Precision, Sht4x};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN, NodeKey, QualityFlags};

#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    // No std means no unwinding and no process exit; spinning keeps the failure visible as a hang.
    loop {}
}

/// The host's prebuilt `core` is compiled for unwinding, so its objects name the unwinding personality
/// routine, which `std` would supply. With `panic = "abort"` nothing ever calls it; the symbol only
/// has to exist for the link.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// An I²C bus with an SHT4x on it that always measures the same thing: 25.000 °C (S_T 0x6666) and
/// 56.501 %RH (S_RH 0x8000), with their CRC-8 bytes.
struct DummyI2c;

impl i2c::ErrorType for DummyI2c {
    type Error = i2c::ErrorKind;
}

impl i2c::I2c for DummyI2c {
    fn transaction(&mut self, _address: u8, operations: &mut [Operation<'_>]) -> Result<(), i2c::ErrorKind> {
        for op in operations {
            if let Operation::Read(buf) = op {
                let reply = [0x66, 0x66, 0x93, 0x80, 0x00, 0xA2];
                let n = buf.len().min(reply.len());
                buf[..n].copy_from_slice(&reply[..n]);
            }
        }
        Ok(())
    }
}

struct NoDelay;

impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// A UART with a PMS5003 frame waiting: atmospheric PM1.0/2.5/10 = 5/12/20 µg/m³.
struct DummyUart {
    frame: [u8; 32],
    at: usize,
}

impl embedded_io::ErrorType for DummyUart {
    type Error = Infallible;
}

impl embedded_io::Read for DummyUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let n = buf.len().min(self.frame.len() - self.at);
        buf[..n].copy_from_slice(&self.frame[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn pms_frame() -> [u8; 32] {
    let words: [u16; 13] = [5, 12, 20, 5, 12, 20, 900, 300, 80, 12, 3, 1, 0];
    let mut frame = [0u8; 32];
    frame[..4].copy_from_slice(&[0x42, 0x4D, 0x00, 28]);
    for (i, word) in words.iter().enumerate() {
        frame[4 + 2 * i..6 + 2 * i].copy_from_slice(&word.to_be_bytes());
    }
    let sum = frame[..30]
        .iter()
        .fold(0u16, |s, &b| s.wrapping_add(u16::from(b)));
    frame[30..].copy_from_slice(&sum.to_be_bytes());
    frame
}

fn frame_round_trip() -> bool {
    let key = NodeKey::new([7; 32]);
    let frame = Frame {
        node_id: 101,
        boot: 2,
        seq: 3,
        time_ms: 1_764_201_660_000,
        body: Body::Air(AirSample {
            quality: QualityFlags::WARMING_UP,
            samples: 12,
            pm2_5: Some(123),
            ..AirSample::default()
        }),
    };
    let mut buf = [0u8; MAX_FRAME_LEN];
    let Ok(bytes) = frame.encode(Some(&key), &mut buf) else {
        return false;
    };
    protocol::decode(bytes, Some(&key)) == Ok(frame) && protocol::decode(bytes, None).is_err()
}

fn drivers_read_the_dummy_buses() -> bool {
    let mut sht = Sht4x::new(DummyI2c, NoDelay);
    let sht_ok = matches!(
        sht.measure(Precision::High),
        Ok(m) if m.temperature_milli_celsius() == 25_000 && m.humidity_milli_percent() == 56_501
    );
    let mut pms = Pms5003::new(DummyUart {
        frame: pms_frame(),
        at: 0,
    });
    let pms_ok = matches!(pms.read(), Ok(r) if r.atmospheric.pm2_5 == 12 && r.standard.pm10 == 20);
    sht_ok && pms_ok
}

/// The C entry point (crt1 calls it). Exit status: 0 all good, 1 frame round trip failed, 2 a driver
/// failed.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    if !frame_round_trip() {
        return 1;
    }
    if !drivers_read_the_dummy_buses() {
        return 2;
    }
    0
}
