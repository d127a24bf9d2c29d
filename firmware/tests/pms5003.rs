//! PMS5003 driver against scripted UART exchanges.

mod support;

use firmware::drivers::pms5003::{Command, Concentrations, Error, ParticleCounts, Pms5003};
use support::{ScriptedUart, Step, UartTimeout, pms_frame, pms_simple_frame};

fn checksum_of(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[30], frame[31]])
}

#[test]
fn a_good_frame_yields_both_variants_and_the_counts() {
    let frame = pms_frame([11, 22, 33], [10, 20, 30], [900, 300, 80, 12, 3, 1]);
    let mut pms = Pms5003::new(ScriptedUart::new([Step::Read(frame)]));
    let reading = pms.read().expect("good frame");
    assert_eq!(
        reading.standard,
        Concentrations {
            pm1_0: 11,
            pm2_5: 22,
            pm10: 33
        }
    );
    assert_eq!(
        reading.atmospheric,
        Concentrations {
            pm1_0: 10,
            pm2_5: 20,
            pm10: 30
        }
    );
    assert_eq!(
        reading.counts,
        ParticleCounts {
            over_0_3um: 900,
            over_0_5um: 300,
            over_1_0um: 80,
            over_2_5um: 12,
            over_5_0um: 3,
            over_10um: 1
        }
    );
    assert_eq!(pms.checksum_errors(), 0);
    pms.destroy().done();
}

#[test]
fn a_frame_split_over_many_reads_is_reassembled() {
    let frame = pms_simple_frame(1, 2, 3);
    let steps = frame.chunks(5).map(|c| Step::Read(c.to_vec()));
    let mut pms = Pms5003::new(ScriptedUart::new(steps));
    assert_eq!(pms.read().expect("frame").atmospheric.pm10, 3);
    pms.destroy().done();
}

#[test]
fn request_sends_the_passive_read_command_then_reads_the_frame() {
    let uart = ScriptedUart::new([
        Step::Write(vec![0x42, 0x4D, 0xE2, 0x00, 0x00, 0x01, 0x71]),
        Step::Read(pms_simple_frame(4, 5, 6)),
    ]);
    let mut pms = Pms5003::new(uart);
    assert_eq!(pms.request().expect("frame").atmospheric.pm2_5, 5);
    pms.destroy().done();
}

#[test]
fn each_command_writes_its_datasheet_bytes() {
    let commands = [
        Command::PassiveMode,
        Command::ActiveMode,
        Command::Sleep,
        Command::Wake,
    ];
    let uart = ScriptedUart::new([
        Step::Write(vec![0x42, 0x4D, 0xE1, 0x00, 0x00, 0x01, 0x70]),
        Step::Write(vec![0x42, 0x4D, 0xE1, 0x00, 0x01, 0x01, 0x71]),
        Step::Write(vec![0x42, 0x4D, 0xE4, 0x00, 0x00, 0x01, 0x73]),
        Step::Write(vec![0x42, 0x4D, 0xE4, 0x00, 0x01, 0x01, 0x74]),
    ]);
    let mut pms = Pms5003::new(uart);
    for command in commands {
        pms.send(command).expect("write");
    }
    pms.destroy().done();
}

#[test]
fn garbage_and_false_starts_before_the_sync_bytes_are_skipped() {
    // A lone 0x42, a 0x4D without its 0x42, then 0x42 0x42 0x4D: the second 0x42 starts the frame.
    let mut bytes = vec![0x00, 0x42, 0x13, 0x4D, 0xFF, 0x42];
    bytes.extend(pms_simple_frame(7, 8, 9));
    let mut pms = Pms5003::new(ScriptedUart::new([Step::Read(bytes)]));
    assert_eq!(pms.read().expect("frame after garbage").atmospheric.pm2_5, 8);
    pms.destroy().done();
}

#[test]
fn a_command_ack_before_the_frame_is_skipped() {
    // domain.md §7.1: the passive-mode command is answered with 42 4D 00 04 E1 00 01 74.
    let mut bytes = vec![0x42, 0x4D, 0x00, 0x04, 0xE1, 0x00, 0x01, 0x74];
    bytes.extend(pms_simple_frame(1, 2, 3));
    let mut pms = Pms5003::new(ScriptedUart::new([Step::Read(bytes)]));
    assert_eq!(pms.read().expect("frame after ack").atmospheric.pm1_0, 1);
    pms.destroy().done();
}

#[test]
fn a_checksum_error_is_reported_counted_and_the_next_frame_still_reads() {
    let good = pms_simple_frame(5, 6, 7);
    let mut bad = good.clone();
    bad[13] ^= 0x01; // atmospheric PM2.5 low byte damaged in transit
    let mut pms = Pms5003::new(ScriptedUart::new([Step::Read(bad), Step::Read(good.clone())]));
    match pms.read() {
        Err(Error::Checksum { computed, received }) => {
            assert_eq!(received, checksum_of(&good));
            assert_ne!(computed, received);
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    assert_eq!(pms.checksum_errors(), 1);
    assert_eq!(pms.read().expect("next frame").atmospheric.pm2_5, 6);
    assert_eq!(pms.checksum_errors(), 1);
    pms.destroy().done();
}

#[test]
fn a_frame_with_another_length_is_refused() {
    // A PMS3003 frame announces 20 (domain.md §7.1, variants).
    let mut frame = pms_simple_frame(1, 2, 3);
    frame[3] = 20;
    let mut pms = Pms5003::new(ScriptedUart::new([Step::Read(frame[..4].to_vec())]));
    assert_eq!(pms.read(), Err(Error::BadLength(20)));
    pms.destroy().done();
}

#[test]
fn a_silent_sensor_is_a_uart_error() {
    let mut pms = Pms5003::new(ScriptedUart::new([Step::ReadError]));
    assert_eq!(pms.read(), Err(Error::Uart(UartTimeout)));
    pms.destroy().done();
}

#[test]
fn a_sensor_that_stops_mid_frame_is_reported() {
    let frame = pms_simple_frame(1, 2, 3);
    let uart = ScriptedUart::new([Step::Read(frame[..12].to_vec()), Step::ReadError]);
    let mut pms = Pms5003::new(uart);
    assert_eq!(pms.read(), Err(Error::Uart(UartTimeout)));
    pms.destroy().done();

    let uart = ScriptedUart::new([Step::Read(frame[..12].to_vec()), Step::Eof]);
    let mut pms = Pms5003::new(uart);
    assert_eq!(pms.read(), Err(Error::EndOfInput));
    pms.destroy().done();
}

#[test]
fn endless_noise_gives_up_instead_of_hanging() {
    let mut pms = Pms5003::new(ScriptedUart::new([Step::Read(vec![0x42; 500])]));
    assert_eq!(pms.read(), Err(Error::NoStart));
}
