//! ADS1115 driver against scripted I²C transactions (embedded-hal-mock).

use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as Delay};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2c};
use firmware::drivers::ads1115::{Address, Ads1115, Channel, DataRate, Error, Gain};

#[test]
fn single_shot_writes_the_config_waits_checks_os_and_reads_the_conversion() {
    // AIN2 single-ended (0x6000) | OS (0x8000) | ±4.096 V (0x0200) | single-shot (0x0100) |
    // 128 SPS (0x0080) | comparator off (0x0003) = 0xE383.
    let i2c = I2cMock::new(&[
        I2c::write(0x48, vec![0x01, 0xE3, 0x83]),
        I2c::write_read(0x48, vec![0x01], vec![0xE3, 0x83]),
        I2c::write_read(0x48, vec![0x00], vec![0x1F, 0x40]),
    ]);
    let delay = CheckedDelay::new(&[Delay::delay_ms(9)]);
    let mut adc = Ads1115::new(i2c, delay);
    // 0x1F40 = 8000 counts × 125 µV = 1.000 V.
    assert_eq!(adc.read_microvolts(Channel::Ain2, Gain::Fs4_096V), Ok(1_000_000));
    let (mut i2c, mut delay) = adc.destroy();
    i2c.done();
    delay.done();
}

#[test]
fn a_slow_conversion_gets_a_second_wait_and_a_hung_one_an_error() {
    let busy = vec![0x63, 0x83]; // OS = 0: converting
    let i2c = I2cMock::new(&[
        I2c::write(0x49, vec![0x01, 0xC5, 0x03]),
        I2c::write_read(0x49, vec![0x01], busy.clone()),
        I2c::write_read(0x49, vec![0x01], vec![0xC5, 0x03]),
        I2c::write_read(0x49, vec![0x00], vec![0xFF, 0xFE]),
        I2c::write(0x49, vec![0x01, 0xC5, 0x03]),
        I2c::write_read(0x49, vec![0x01], busy.clone()),
        I2c::write_read(0x49, vec![0x01], busy),
    ]);
    let delay = CheckedDelay::new(&[
        Delay::delay_ms(126),
        Delay::delay_ms(126),
        Delay::delay_ms(126),
        Delay::delay_ms(126),
    ]);
    let mut adc = Ads1115::new_with_address(i2c, delay, Address::Vdd);
    adc.set_data_rate(DataRate::Sps8);
    assert_eq!(adc.read_raw(Channel::Ain0, Gain::Fs2_048V), Ok(-2));
    assert_eq!(adc.read_raw(Channel::Ain0, Gain::Fs2_048V), Err(Error::NotReady));
    let (mut i2c, mut delay) = adc.destroy();
    i2c.done();
    delay.done();
}

#[test]
fn an_absent_adc_is_an_i2c_error() {
    let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
    let i2c = I2cMock::new(&[I2c::write(0x48, vec![0x01, 0xC5, 0x83]).with_error(nack)]);
    let mut adc = Ads1115::new(i2c, NoopDelay::new());
    assert_eq!(adc.read_raw(Channel::Ain0, Gain::Fs2_048V), Err(Error::I2c(nack)));
    adc.destroy().0.done();
}
