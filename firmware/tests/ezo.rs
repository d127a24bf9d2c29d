//! Atlas EZO driver against scripted I²C transactions (embedded-hal-mock).

use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as Delay};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2c};
use firmware::drivers::ezo::{Calibrate, Error, Ezo, Kind};

/// A 40-byte reply: status, ASCII, NUL padding (what the driver reads).
fn reply(status: u8, text: &str) -> Vec<u8> {
    let mut r = vec![0u8; 40];
    r[0] = status;
    r[1..1 + text.len()].copy_from_slice(text.as_bytes());
    r
}

#[test]
fn ph_read_writes_r_waits_900_ms_and_parses_milli_ph() {
    let i2c = I2cMock::new(&[
        I2c::write(0x63, b"R".to_vec()),
        I2c::read(0x63, reply(1, "7.123")),
    ]);
    let delay = CheckedDelay::new(&[Delay::delay_ms(900)]);
    let mut ph = Ezo::new(i2c, delay, Kind::Ph);
    assert_eq!(ph.read(), Ok(7_123));
    let (mut i2c, mut delay) = ph.destroy();
    i2c.done();
    delay.done();
}

#[test]
fn ec_read_takes_the_first_output_and_do_has_two_decimals() {
    let i2c = I2cMock::new(&[
        I2c::write(0x64, b"R".to_vec()),
        I2c::read(0x64, reply(1, "1970,1.00")),
    ]);
    let delay = CheckedDelay::new(&[Delay::delay_ms(600)]);
    let mut ec = Ezo::new(i2c, delay, Kind::Conductivity);
    assert_eq!(ec.read(), Ok(1_970));
    let (mut i2c, mut delay) = ec.destroy();
    i2c.done();
    delay.done();

    let i2c = I2cMock::new(&[I2c::write(0x61, b"R".to_vec()), I2c::read(0x61, reply(1, "6.48"))]);
    let mut dox = Ezo::new(i2c, NoopDelay::new(), Kind::DissolvedOxygen);
    assert_eq!(dox.read(), Ok(648));
    dox.destroy().0.done();
}

#[test]
fn temperature_and_calibration_commands_use_the_circuits_notation() {
    let i2c = I2cMock::new(&[
        I2c::write(0x63, b"T,28.40".to_vec()),
        I2c::read(0x63, reply(1, "")),
        I2c::write(0x63, b"Cal,mid,7.00".to_vec()),
        I2c::read(0x63, reply(1, "")),
        I2c::write(0x63, b"Cal,low,4.01".to_vec()),
        I2c::read(0x63, reply(2, "")),
    ]);
    let delay = CheckedDelay::new(&[Delay::delay_ms(300), Delay::delay_ms(900), Delay::delay_ms(900)]);
    let mut ph = Ezo::new(i2c, delay, Kind::Ph);
    assert_eq!(ph.set_temperature(2_840), Ok(()));
    assert_eq!(ph.calibrate(Calibrate::Mid(7_000)), Ok(()));
    assert_eq!(
        ph.calibrate(Calibrate::Low(4_010)),
        Err(Error::Failed),
        "status 2: refused"
    );
    let (mut i2c, mut delay) = ph.destroy();
    i2c.done();
    delay.done();

    let i2c = I2cMock::new(&[
        I2c::write(0x64, b"Cal,one,1413".to_vec()),
        I2c::read(0x64, reply(1, "")),
        I2c::write(0x64, b"O,TDS,0".to_vec()),
        I2c::read(0x64, reply(1, "")),
    ]);
    let mut ec = Ezo::new(i2c, NoopDelay::new(), Kind::Conductivity);
    assert_eq!(ec.calibrate(Calibrate::One(1_413)), Ok(()));
    assert_eq!(ec.set_output("TDS", false), Ok(()));
    ec.destroy().0.done();
}

#[test]
fn a_slow_circuit_gets_a_second_wait_and_other_statuses_are_errors() {
    let i2c = I2cMock::new(&[
        I2c::write(0x63, b"R".to_vec()),
        I2c::read(0x63, reply(254, "")),
        I2c::read(0x63, reply(1, "6.900")),
        I2c::write(0x63, b"R".to_vec()),
        I2c::read(0x63, reply(254, "")),
        I2c::read(0x63, reply(254, "")),
        I2c::write(0x63, b"R".to_vec()),
        I2c::read(0x63, reply(255, "")),
        I2c::write(0x63, b"R".to_vec()),
        I2c::read(0x63, reply(1, "7.1?3")),
        I2c::write(0x63, b"R".to_vec()),
        I2c::read(0x63, reply(0x37, "garbage")),
    ]);
    let mut ph = Ezo::new(i2c, NoopDelay::new(), Kind::Ph);
    assert_eq!(ph.read(), Ok(6_900));
    assert_eq!(ph.read(), Err(Error::StillProcessing));
    assert_eq!(ph.read(), Err(Error::NoData));
    assert_eq!(ph.read(), Err(Error::Malformed), "a corrupted digit");
    assert_eq!(ph.read(), Err(Error::Malformed), "not a status byte");
    ph.destroy().0.done();
}

#[test]
fn an_absent_circuit_is_an_i2c_error() {
    let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
    let i2c = I2cMock::new(&[I2c::write(0x61, b"R".to_vec()).with_error(nack)]);
    let mut dox = Ezo::new(i2c, NoopDelay::new(), Kind::DissolvedOxygen);
    assert_eq!(dox.read(), Err(Error::I2c(nack)));
    dox.destroy().0.done();
}
