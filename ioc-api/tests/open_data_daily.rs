//! The daily CSV files with a driven clock: a pass at start after a missed midnight fills the
//! missing day, a day's file is written once and is the export's CSV of that local day, a file
//! already there is never rewritten, and a day without data gets no file.

mod common;

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use common::{Api, MINUTE, T0};
use ioc_api::live::HOUR_MS;
use ioc_api::open_data::write_missing_days;
use protocol::{AirSample, Body, WaterSample};
use time::OffsetDateTime;

const DAY_MS: u64 = 24 * HOUR_MS;
/// 2025-11-27T00:00 in Vietnam (UTC+7, the default `stations.time_zone`): 2025-11-26T17:00Z.
const LOCAL_27: u64 = T0 - 7 * HOUR_MS;

fn at(ms: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("time")
}

/// One air frame an hour (at :10) over the local day starting at `day`, and water frames too
/// when `water`; saved to the local history.
fn feed_day(api: &Api, day: u64, water: bool) {
    for hour in 0..24 {
        let t = day + hour * HOUR_MS + 10 * MINUTE;
        let air = AirSample {
            samples: 1,
            pm2_5: Some(150 + hour as u16),
            ..AirSample::default()
        };
        api.frame(101, t, Body::Air(air), at(t));
        if water {
            let sample = WaterSample {
                samples: 1,
                ph: Some(7_000),
                ..WaterSample::default()
            };
            api.frame(201, t, Body::Water(sample), at(t));
        }
    }
    api.state.save_history();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn missing_days_are_filled_once_and_existing_files_are_kept() {
    let api = Api::new();
    feed_day(&api, LOCAL_27, false);
    feed_day(&api, LOCAL_27 + DAY_MS, true);
    feed_day(&api, LOCAL_27 + 2 * DAY_MS, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let file =
        |kind: &str, day: &str| -> PathBuf { dir.path().join(kind).join("2025").join(format!("{day}.csv")) };
    // A portal's copy of the 27th, already there before the API starts.
    let kept = file("air", "2025-11-27");
    std::fs::create_dir_all(kept.parent().expect("folder")).expect("mkdir");
    std::fs::write(&kept, "kept\n").expect("write");

    // The API starts at 08:00 on the 29th: it was down at midnight, so the 28th is missing.
    let start = at(LOCAL_27 + 2 * DAY_MS + 8 * HOUR_MS);
    let pass = write_missing_days(&api.state, dir.path(), 7, start).await;
    assert_eq!(pass.failed, 0);
    assert_eq!(
        pass.written,
        [file("air", "2025-11-28"), file("water", "2025-11-28")],
        "the 28th of both kinds; the 27th of air is there, of water has no data"
    );
    assert_eq!(read(&kept), "kept\n", "an existing file is not rewritten");
    assert!(
        !file("water", "2025-11-27").exists(),
        "a day without data gets no file"
    );

    let day_28 = read(&file("air", "2025-11-28"));
    let (status, _, export) = api
        .get_text("/api/v1/export/hourly.csv?kind=air&from=2025-11-27T17:00:00Z&to=2025-11-28T17:00:00Z")
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(day_28, export, "the file is the export of the local day");
    let locals: Vec<&str> = day_28
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(7))
        .collect();
    assert_eq!(locals.len(), 24, "{day_28}");
    assert_eq!(locals[0], "2025-11-28T00:00:00+07:00");
    assert!(locals.iter().all(|t| t.starts_with("2025-11-28T")), "{locals:?}");

    let again = write_missing_days(&api.state, dir.path(), 7, start).await;
    assert!(again.written.is_empty(), "written once: {:?}", again.written);

    // Just after the next midnight: the 29th, and nothing else.
    let midnight = at(LOCAL_27 + 3 * DAY_MS + 5 * MINUTE);
    let pass = write_missing_days(&api.state, dir.path(), 7, midnight).await;
    assert_eq!(pass.written, [file("air", "2025-11-29")]);
    assert_eq!(
        read(&file("air", "2025-11-28")),
        day_28,
        "the 28th is kept as written"
    );
    assert_eq!(read(&kept), "kept\n");
    let temp_left = std::fs::read_dir(dir.path().join("air").join("2025"))
        .expect("folder")
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with('.'));
    assert!(!temp_left, "no temporary file is left behind");

    // With a one-day window the 28th would not even be looked at: only the day before.
    std::fs::remove_file(file("air", "2025-11-28")).expect("remove");
    let narrow = write_missing_days(&api.state, dir.path(), 1, midnight).await;
    assert!(narrow.written.is_empty(), "{:?}", narrow.written);
    let wide = write_missing_days(&api.state, dir.path(), 2, midnight).await;
    assert_eq!(wide.written, [file("air", "2025-11-28")]);
    assert_eq!(read(&file("air", "2025-11-28")), day_28, "the same file again");
}
