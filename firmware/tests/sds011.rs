//! SDS011 driver against a scripted UART.

mod support;

use firmware::drivers::sds011::{Command, Error, Reading, Sds011};
use support::{ScriptedUart, Step, UartTimeout};

/// A data (0xC0) or reply (0xC5) frame with the checksum domain.md §7.2 defines.
fn frame(kind: u8, body: [u8; 6]) -> Vec<u8> {
    let sum = body.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    let mut f = vec![0xAA, kind];
    f.extend_from_slice(&body);
    f.extend_from_slice(&[sum, 0xAB]);
    f
}

fn data(pm2_5: u16, pm10: u16) -> Vec<u8> {
    let [a, b] = pm2_5.to_le_bytes();
    let [c, d] = pm10.to_le_bytes();
    frame(0xC0, [a, b, c, d, 0x34, 0x12])
}

#[test]
fn query_mode_then_a_query_skips_the_reply_and_reads_tenths() {
    let uart = ScriptedUart::new([
        Step::Write(Command::QueryMode.bytes().to_vec()),
        Step::Write(Command::Query.bytes().to_vec()),
        Step::Read(frame(0xC5, [2, 1, 1, 0, 0x34, 0x12])),
        Step::Read(data(376, 512)),
    ]);
    let mut sds = Sds011::new(uart);
    sds.send(Command::QueryMode).expect("sent");
    let reading = sds.query().expect("frame");
    assert_eq!(
        reading,
        Reading {
            pm2_5: 376,
            pm10: 512,
            id: 0x1234
        },
        "37.6 and 51.2 µg/m³"
    );
    sds.destroy().done();
}

#[test]
fn noise_is_skipped_a_bad_checksum_counted_and_a_silent_sensor_is_an_error() {
    let mut corrupt = data(100, 200);
    corrupt[3] ^= 0x01;
    let mut bad_tail = data(1, 2);
    bad_tail[9] = 0x00;
    let uart = ScriptedUart::new([
        Step::Read(vec![0x00, 0x13, 0x37]),
        Step::Read(data(55, 66)),
        Step::Read(corrupt),
        Step::Read(bad_tail),
        Step::ReadError,
    ]);
    let mut sds = Sds011::new(uart);
    assert_eq!(sds.read().map(|r| (r.pm2_5, r.pm10)), Ok((55, 66)));
    assert_eq!(sds.read(), Err(Error::Checksum));
    assert_eq!(sds.checksum_errors(), 1);
    assert_eq!(sds.read(), Err(Error::BadTail));
    assert_eq!(sds.read(), Err(Error::Uart(UartTimeout)));
    sds.destroy().done();
}

#[test]
fn sleep_work_and_working_period_commands() {
    let period = Command::WorkingPeriod(5).bytes();
    assert_eq!((period[2], period[3], period[4]), (8, 1, 5));
    assert_eq!(period[17], ((8u32 + 1 + 5 + 0xFF + 0xFF) % 256) as u8);
    let work = Command::Work.bytes();
    assert_eq!((work[2], work[3], work[4]), (6, 1, 1));
}

#[test]
fn a_setting_command_reads_its_own_reply_past_a_streamed_frame() {
    let uart = ScriptedUart::new([
        Step::Write(Command::QueryMode.bytes().to_vec()),
        // Active mode: a data frame was on its way before the reply.
        Step::Read(data(10, 20)),
        Step::Read(frame(0xC5, [2, 1, 1, 0, 0x34, 0x12])),
        Step::Write(Command::Sleep.bytes().to_vec()),
        Step::ReadError,
    ]);
    let mut sds = Sds011::new(uart);
    sds.set(Command::QueryMode).expect("acknowledged");
    assert_eq!(
        sds.set(Command::Sleep),
        Err(Error::Uart(UartTimeout)),
        "no reply: the sensor did not hear it"
    );
    sds.destroy().done();
}
