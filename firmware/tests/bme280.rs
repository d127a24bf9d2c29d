//! BME280 driver against scripted I²C transactions (embedded-hal-mock).

use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as Delay};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2c};
use firmware::drivers::bme280::{Address, Bme280, Error, RawMeasurement};

/// The BMP280 datasheet's example words (T and P), then H1 = 75 and typical humidity words.
fn calibration() -> (Vec<u8>, Vec<u8>) {
    let low = vec![
        0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC, 0x7D, 0x8E, 0x43, 0xD6, 0xD0, 0x0B, 0x27, 0x0B, 0x8C, 0x00, 0xF9,
        0xFF, 0x8C, 0x3C, 0xF8, 0xC6, 0x70, 0x17, 0x00, 75,
    ];
    (low, vec![0x6A, 0x01, 0x00, 0x14, 0x25, 0x03, 30])
}

#[test]
fn init_resets_checks_the_id_and_reads_both_calibration_blocks_then_measures_forced() {
    let (low, high) = calibration();
    // adc_T = 519888 = 0x7EED0, adc_P = 415148 = 0x655AC, adc_H = 0x6A00.
    let data = vec![0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x6A, 0x00];
    let i2c = I2cMock::new(&[
        I2c::write(0x77, vec![0xE0, 0xB6]),
        I2c::write_read(0x77, vec![0xD0], vec![0x60]),
        I2c::write_read(0x77, vec![0x88], low),
        I2c::write_read(0x77, vec![0xE1], high),
        I2c::write(0x77, vec![0xF2, 0x01]),
        I2c::write(0x77, vec![0xF4, 0x25]),
        I2c::write_read(0x77, vec![0xF7], data),
    ]);
    let delay = CheckedDelay::new(&[Delay::delay_ms(2), Delay::delay_ms(10)]);
    let mut bme = Bme280::new_with_address(i2c, delay, Address::Sdo0x77);
    bme.init().expect("a BME280");
    let m = bme.measure().expect("measurement");
    assert_eq!(m.temperature_centi, 2_508, "25.08 °C, the datasheet example");
    assert_eq!(m.pressure_deci_hpa, 10_065, "1006.5 hPa");
    assert!((1..=10_000).contains(&m.humidity_centi));
    let (mut i2c, mut delay) = bme.destroy();
    i2c.done();
    delay.done();
}

#[test]
fn a_bmp280_or_an_absent_sensor_is_refused() {
    let i2c = I2cMock::new(&[
        I2c::write(0x76, vec![0xE0, 0xB6]),
        I2c::write_read(0x76, vec![0xD0], vec![0x58]),
    ]);
    let mut bme = Bme280::new(i2c, NoopDelay::new());
    assert_eq!(bme.init(), Err(Error::WrongChip(0x58)));
    bme.destroy().0.done();

    let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
    let i2c = I2cMock::new(&[I2c::write(0x76, vec![0xF2, 0x01]).with_error(nack)]);
    let mut bme = Bme280::new(i2c, NoopDelay::new());
    assert_eq!(bme.measure_raw(), Err::<RawMeasurement, _>(Error::I2c(nack)));
    bme.destroy().0.done();
}
