//! The firmware's own drivers against the emulations: known values round-trip within the sensors'
//! quantisation, and each injected fault reaches the driver as the error it should.

use embedded_hal::i2c::{ErrorKind, I2c, NoAcknowledgeSource};
use embedded_io::Read;
use firmware::drivers::pms5003::{self, Command, Pms5003};
use firmware::drivers::sht4x::{self, Address, Precision, Sht4x};

use super::*;

const CITY_AIR: PmLevels = PmLevels {
    pm1_0: 12.3,
    pm2_5: 25.6,
    pm10: 40.4,
};

fn passive_pms(levels: PmLevels) -> (Pms5003<EmulatedPms5003>, Pms5003Handle) {
    let device = EmulatedPms5003::new(levels);
    let handle = device.handle();
    let mut pms = Pms5003::new(device);
    pms.send(Command::PassiveMode).expect("passive mode");
    (pms, handle)
}

#[test]
fn pms_reports_the_true_levels_in_whole_micrograms() {
    let (mut pms, handle) = passive_pms(CITY_AIR);
    let reading = pms.request().expect("frame");
    assert_eq!(handle.mode(), PmsMode::Passive);
    let atm = reading.atmospheric;
    assert_eq!((atm.pm1_0, atm.pm2_5, atm.pm10), (12, 26, 40));
    assert!(
        reading.standard.pm10 >= atm.pm10,
        "CF=1 never reads below atmospheric"
    );
    let c = reading.counts;
    assert!(c.over_0_3um >= c.over_0_5um && c.over_2_5um >= c.over_10um && c.over_0_3um > 0);
}

#[test]
fn pms_acknowledges_passive_mode_with_the_documented_bytes() {
    let mut device = EmulatedPms5003::new(CITY_AIR);
    let mut pms = Pms5003::new(device);
    pms.send(Command::PassiveMode).expect("passive mode");
    device = pms.destroy();
    let mut ack = [0u8; 8];
    device.read_exact(&mut ack).expect("ack");
    assert_eq!(ack, [0x42, 0x4D, 0x00, 0x04, 0xE1, 0x00, 0x01, 0x74]);
    let mut more = [0u8; 1];
    assert_eq!(
        device.read(&mut more),
        Err(UartTimeout),
        "nothing else in passive mode"
    );
}

#[test]
fn pms_streams_in_active_mode_without_being_asked() {
    let device = EmulatedPms5003::new(CITY_AIR);
    let mut pms = Pms5003::new(device);
    assert_eq!(pms.read().expect("streamed frame").atmospheric.pm2_5, 26);
}

#[test]
fn pms_follows_changed_levels() {
    let (mut pms, handle) = passive_pms(CITY_AIR);
    handle.set_levels(PmLevels {
        pm1_0: 80.0,
        pm2_5: 150.4,
        pm10: 210.6,
    });
    assert_eq!(pms.request().expect("frame").atmospheric.pm2_5, 150);
}

#[test]
fn corrupted_pms_checksums_are_caught_and_counted() {
    let (mut pms, handle) = passive_pms(CITY_AIR);
    handle.corrupt_next_frames(2);
    for _ in 0..2 {
        assert!(matches!(pms.request(), Err(pms5003::Error::Checksum { .. })));
    }
    assert_eq!(pms.checksum_errors(), 2);
    assert_eq!(pms.request().expect("clean frame").atmospheric.pm1_0, 12);
}

#[test]
fn a_silent_pms_is_a_uart_error_until_it_comes_back() {
    let (mut pms, handle) = passive_pms(CITY_AIR);
    handle.set_silent(true);
    assert_eq!(pms.request(), Err(pms5003::Error::Uart(UartTimeout)));
    handle.set_silent(false);
    assert!(pms.request().is_ok());
}

#[test]
fn a_sleeping_pms_does_not_answer_until_woken() {
    let (mut pms, handle) = passive_pms(CITY_AIR);
    pms.send(Command::Sleep).expect("sleep");
    assert!(handle.is_asleep());
    assert_eq!(pms.request(), Err(pms5003::Error::Uart(UartTimeout)));
    pms.send(Command::Wake).expect("wake");
    assert!(pms.request().is_ok());
}

#[test]
fn a_stuck_pms_repeats_itself_whatever_the_air_does() {
    let (mut pms, handle) = passive_pms(CITY_AIR);
    handle.set_stuck(true);
    handle.set_levels(PmLevels {
        pm1_0: 1.0,
        pm2_5: 2.0,
        pm10: 3.0,
    });
    let first = pms.request().expect("frame");
    let second = pms.request().expect("frame");
    assert_eq!(first, second);
    assert_eq!(first.atmospheric.pm2_5, 26, "frozen at the level when it stuck");
    handle.set_stuck(false);
    assert_eq!(pms.request().expect("frame").atmospheric.pm2_5, 2);
}

#[test]
fn line_noise_before_a_frame_is_skipped_by_the_driver() {
    let (mut pms, handle) = passive_pms(CITY_AIR);
    handle.inject_garbage(&[0x00, 0x42, 0xFF, 0x4D, 0x13]);
    assert_eq!(pms.request().expect("frame").atmospheric.pm10, 40);
}

#[test]
fn commands_with_a_bad_lrc_are_ignored() {
    let device = EmulatedPms5003::new(CITY_AIR);
    let handle = device.handle();
    let mut uart = device;
    let mut passive = Command::PassiveMode.bytes();
    passive[6] ^= 1;
    embedded_io::Write::write_all(&mut uart, &passive).expect("write");
    assert_eq!(handle.mode(), PmsMode::Active);
}

const ROOM: Climate = Climate {
    temperature_c: 23.45,
    humidity_pct: 67.8,
};

fn sht(climate: Climate) -> (Sht4x<EmulatedSht4x, NoDelay>, Sht4xHandle) {
    let device = EmulatedSht4x::new(climate, 0x1234_5678);
    let handle = device.handle();
    (Sht4x::new(device, NoDelay), handle)
}

#[test]
fn sht_round_trips_temperature_and_humidity_within_one_tick() {
    // One tick is 175/65535 ≈ 0.0027 °C and 125/65535 ≈ 0.0019 %RH; the driver rounds to m°C.
    for climate in [
        ROOM,
        Climate {
            temperature_c: -12.5,
            humidity_pct: 3.0,
        },
        Climate {
            temperature_c: 41.0,
            humidity_pct: 99.5,
        },
    ] {
        let (mut sensor, _) = sht(climate);
        for precision in [Precision::High, Precision::Medium, Precision::Low] {
            let m = sensor.measure(precision).expect("measurement");
            let t = f64::from(m.temperature_milli_celsius()) / 1_000.0;
            let rh = f64::from(m.humidity_milli_percent()) / 1_000.0;
            assert!(
                (t - f64::from(climate.temperature_c)).abs() < 0.003,
                "{t} vs {climate:?}"
            );
            assert!(
                (rh - f64::from(climate.humidity_pct)).abs() < 0.003,
                "{rh} vs {climate:?}"
            );
        }
    }
}

#[test]
fn sht_readings_the_formula_puts_outside_0_to_100_percent_are_clamped_by_the_driver() {
    // The RH formula spans −6 to 119 %RH; a real part reads a little beyond 0–100 near its limits.
    let (mut sensor, handle) = sht(ROOM);
    handle.set_climate(Climate {
        temperature_c: 20.0,
        humidity_pct: 104.0,
    });
    assert_eq!(
        sensor
            .measure(Precision::High)
            .expect("wet")
            .humidity_milli_percent(),
        100_000
    );
    handle.set_climate(Climate {
        temperature_c: 20.0,
        humidity_pct: -3.0,
    });
    assert_eq!(
        sensor
            .measure(Precision::High)
            .expect("dry")
            .humidity_milli_percent(),
        0
    );
}

#[test]
fn sht_serial_number_and_reset() {
    let (mut sensor, _) = sht(ROOM);
    assert_eq!(sensor.serial_number().expect("serial"), 0x1234_5678);
    sensor.soft_reset().expect("reset");
}

#[test]
fn sht_nacks_a_wrong_address() {
    let device = EmulatedSht4x::new(ROOM, 1);
    let mut sensor = Sht4x::new_with_address(device, NoDelay, Address::Address0x45);
    assert_eq!(
        sensor.measure(Precision::High),
        Err(sht4x::Error::I2c(ErrorKind::NoAcknowledge(
            NoAcknowledgeSource::Address
        )))
    );
}

#[test]
fn sht_nacks_a_read_with_no_measurement_pending() {
    let mut device = EmulatedSht4x::new(ROOM, 1);
    let mut buf = [0u8; 6];
    assert_eq!(
        device.read(SHT4X_ADDRESS, &mut buf),
        Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))
    );
    device.write(SHT4X_ADDRESS, &[0xFD]).expect("measure");
    device.read(SHT4X_ADDRESS, &mut buf).expect("reply");
    assert!(
        device.read(SHT4X_ADDRESS, &mut buf).is_err(),
        "a reply is read once"
    );
}

#[test]
fn sht_crc_corruption_is_caught_then_clears() {
    let (mut sensor, handle) = sht(ROOM);
    handle.corrupt_next_replies(1);
    assert_eq!(sensor.measure(Precision::High), Err(sht4x::Error::Crc));
    assert!(sensor.measure(Precision::High).is_ok());
}

#[test]
fn a_silent_sht_is_an_i2c_error() {
    let (mut sensor, handle) = sht(ROOM);
    handle.set_silent(true);
    assert!(matches!(
        sensor.measure(Precision::High),
        Err(sht4x::Error::I2c(ErrorKind::NoAcknowledge(_)))
    ));
    handle.set_silent(false);
    assert!(sensor.measure(Precision::High).is_ok());
}
