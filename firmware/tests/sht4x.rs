//! SHT4x driver against scripted I²C transactions (embedded-hal-mock).

mod support;

use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as Delay};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2c};
use firmware::drivers::sht4x::{Address, Command, Error, Precision, RawMeasurement, Sht4x};
use support::sht_reply;

#[test]
fn high_precision_measurement_writes_0xfd_waits_9_ms_and_converts() {
    // 0xBEEF with CRC 0x92 is the datasheet's CRC example (domain.md §7.3).
    let i2c = I2cMock::new(&[
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, vec![0xBE, 0xEF, 0x92, 0x80, 0x00, 0xA2]),
    ]);
    let delay = CheckedDelay::new(&[Delay::delay_ms(9)]);
    let mut sht = Sht4x::new(i2c, delay);
    let raw = sht.measure_raw(Precision::High).expect("measurement");
    assert_eq!(
        raw,
        RawMeasurement {
            temperature: 0xBEEF,
            humidity: 0x8000
        }
    );
    let (mut i2c, mut delay) = sht.destroy();
    i2c.done();
    delay.done();
}

#[test]
fn converted_values_follow_the_sht4x_formulas() {
    // T: −45 + 175·0x6666/65535 = 25.000 °C; RH: −6 + 125·0x8000/65535 = 56.501 %RH.
    let i2c = I2cMock::new(&[
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, sht_reply(0x6666, 0x8000)),
    ]);
    let mut sht = Sht4x::new(i2c, NoopDelay::new());
    let m = sht.measure(Precision::High).expect("measurement");
    assert_eq!(m.temperature_milli_celsius(), 25_000);
    assert_eq!(m.humidity_milli_percent(), 56_501);
    sht.destroy().0.done();
}

#[test]
fn medium_and_low_precision_use_their_codes_and_durations() {
    let i2c = I2cMock::new(&[
        I2c::write(0x44, vec![0xF6]),
        I2c::read(0x44, sht_reply(1, 2)),
        I2c::write(0x44, vec![0xE0]),
        I2c::read(0x44, sht_reply(3, 4)),
    ]);
    let delay = CheckedDelay::new(&[Delay::delay_ms(5), Delay::delay_ms(2)]);
    let mut sht = Sht4x::new(i2c, delay);
    assert_eq!(sht.measure_raw(Precision::Medium).expect("medium").humidity, 2);
    assert_eq!(sht.measure_raw(Precision::Low).expect("low").temperature, 3);
    let (mut i2c, mut delay) = sht.destroy();
    i2c.done();
    delay.done();
}

#[test]
fn command_table_matches_the_datasheet() {
    let table = [
        (Command::MeasureHighPrecision, 0xFD, 9),
        (Command::MeasureMediumPrecision, 0xF6, 5),
        (Command::MeasureLowPrecision, 0xE0, 2),
        (Command::SerialNumber, 0x89, 1),
        (Command::SoftReset, 0x94, 1),
    ];
    for (command, code, ms) in table {
        assert_eq!((command.code(), command.duration_ms()), (code, ms), "{command:?}");
    }
}

#[test]
fn the_rh_clamp_holds_at_both_ends() {
    let i2c = I2cMock::new(&[
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, sht_reply(0x8000, 0xFFFF)),
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, sht_reply(0x8000, 0x0000)),
    ]);
    let mut sht = Sht4x::new(i2c, NoopDelay::new());
    let wet = sht.measure(Precision::High).expect("measurement");
    assert_eq!(wet.humidity_milli_percent(), 100_000, "119 %RH reads as 100");
    let dry = sht.measure(Precision::High).expect("measurement");
    assert_eq!(dry.humidity_milli_percent(), 0, "−6 %RH reads as 0");
    sht.destroy().0.done();
}

#[test]
fn a_crc_error_in_either_word_is_reported() {
    let mut bad_t = sht_reply(0x6666, 0x8000);
    bad_t[2] ^= 0x01;
    let mut bad_rh = sht_reply(0x6666, 0x8000);
    bad_rh[4] ^= 0x80;
    let i2c = I2cMock::new(&[
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, bad_t),
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, bad_rh),
    ]);
    let mut sht = Sht4x::new(i2c, NoopDelay::new());
    assert_eq!(sht.measure(Precision::High), Err(Error::Crc));
    assert_eq!(sht.measure(Precision::High), Err(Error::Crc));
    sht.destroy().0.done();
}

#[test]
fn a_sensor_that_stops_answering_is_an_i2c_error() {
    let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
    let i2c = I2cMock::new(&[
        I2c::write(0x44, vec![0xFD]).with_error(nack),
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, vec![0; 6]).with_error(nack),
    ]);
    let mut sht = Sht4x::new(i2c, NoopDelay::new());
    assert_eq!(sht.measure(Precision::High), Err(Error::I2c(nack)));
    assert_eq!(sht.measure(Precision::High), Err(Error::I2c(nack)));
    sht.destroy().0.done();
}

#[test]
fn serial_number_and_soft_reset_at_the_alternate_address() {
    let i2c = I2cMock::new(&[
        I2c::write(0x45, vec![0x89]),
        I2c::read(0x45, sht_reply(0x1234, 0xABCD)),
        I2c::write(0x45, vec![0x94]),
    ]);
    let delay = CheckedDelay::new(&[Delay::delay_ms(1), Delay::delay_ms(1)]);
    let mut sht = Sht4x::new_with_address(i2c, delay, Address::Address0x45);
    assert_eq!(sht.serial_number().expect("serial"), 0x1234_ABCD);
    sht.soft_reset().expect("reset");
    let (mut i2c, mut delay) = sht.destroy();
    i2c.done();
    delay.done();
}

#[test]
fn a_heater_pulse_sends_its_code_waits_and_the_duty_cycle_is_kept_under_10_percent() {
    use firmware::drivers::sht4x::Heater;
    let i2c = I2cMock::new(&[
        I2c::write(0x44, vec![0x32]),
        I2c::read(0x44, sht_reply(0x7000, 0x3000)),
        I2c::write(0x44, vec![0x39]),
        I2c::read(0x44, sht_reply(0x7000, 0x3000)),
    ]);
    // 0.1 s pulse + 10 % + the 9 ms measurement; 1 s pulse likewise.
    let delay = CheckedDelay::new(&[Delay::delay_ms(119), Delay::delay_ms(1_109)]);
    let mut sht = Sht4x::new(i2c, delay);
    assert!(sht.heat(Heater::P200mW100ms, 5_000).is_ok());
    // 100 ms on: off for 900 ms after, so not before 6 000 ms.
    assert_eq!(
        sht.heat(Heater::P200mW1s, 5_999),
        Err(Error::HeaterDutyCycle { free_at_ms: 6_000 })
    );
    assert!(sht.heat(Heater::P200mW1s, 6_000).is_ok());
    assert!(matches!(
        sht.heat(Heater::P20mW100ms, 15_999),
        Err(Error::HeaterDutyCycle { .. })
    ));
    let (mut i2c, mut delay) = sht.destroy();
    i2c.done();
    delay.done();
}
