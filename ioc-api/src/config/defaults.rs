//! The named default of each field (serde's `default = "..."`) and each section's `Default`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{
    AlertsConfig, AuthConfig, HttpConfig, IndicesConfig, OpenDataConfig, StationsConfig, StorageConfig,
};
use crate::indices::salinity::default_classes;
use crate::indices::us_aqi::Pm25TopBand;
use crate::indices::wqi::Aggregation;

pub(super) fn yes() -> bool {
    true
}
pub(super) fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
pub(super) fn default_max_body_bytes() -> usize {
    64 * 1024
}
pub(super) fn default_offline_after_s() -> u64 {
    300
}
pub(super) fn default_utc_offset_hours() -> i8 {
    7
}
pub(super) fn default_time_zone() -> String {
    "Asia/Ho_Chi_Minh".into()
}
pub(super) fn default_database() -> PathBuf {
    PathBuf::from("ioc-api.sqlite")
}
pub(super) fn default_influx_timeout_s() -> u64 {
    10
}
pub(super) fn default_min_coverage() -> f64 {
    0.75
}
pub(super) fn default_daily_min_hours() -> usize {
    18
}
pub(super) fn default_min_hours_8h() -> usize {
    6
}
pub(super) fn default_lab_max_age_days() -> u32 {
    31
}
pub(super) fn default_replay_events() -> usize {
    4_096
}
pub(super) fn default_tick_s() -> u64 {
    1
}
pub(super) fn default_max_attempts() -> u32 {
    8
}
pub(super) fn default_initial_backoff_ms() -> u64 {
    1_000
}
pub(super) fn default_max_backoff_ms() -> u64 {
    300_000
}
pub(super) fn default_webhook_timeout_ms() -> u64 {
    10_000
}
pub(super) fn default_publisher() -> String {
    "Trung tâm Giám sát, điều hành đô thị thông minh".into()
}
pub(super) fn default_licence() -> String {
    "https://creativecommons.org/licenses/by/4.0/".into()
}
pub(super) fn default_daily_backfill_days() -> u32 {
    7
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            cors_origins: Vec::new(),
            max_body_bytes: default_max_body_bytes(),
        }
    }
}

impl Default for StationsConfig {
    fn default() -> Self {
        StationsConfig {
            offline_after_s: default_offline_after_s(),
            utc_offset_hours: default_utc_offset_hours(),
            time_zone: default_time_zone(),
            map_tiles: None,
            map_attribution: None,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: default_database(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { anonymous_read: true }
    }
}

impl Default for IndicesConfig {
    fn default() -> Self {
        IndicesConfig {
            min_coverage: default_min_coverage(),
            daily_min_hours: default_daily_min_hours(),
            min_hours_8h: default_min_hours_8h(),
            us_pm2_5_top_band: Pm25TopBand::default(),
            wqi_aggregation: Aggregation::default(),
            lab_max_age_days: default_lab_max_age_days(),
            salinity_classes: default_classes(),
        }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            mqtt: true,
            replay_events: default_replay_events(),
            tick_s: default_tick_s(),
            evaluate: true,
        }
    }
}

impl Default for OpenDataConfig {
    fn default() -> Self {
        OpenDataConfig {
            base_url: None,
            publisher: default_publisher(),
            contact_email: None,
            licence: default_licence(),
            homepage: None,
            daily_dir: None,
            daily_backfill_days: default_daily_backfill_days(),
        }
    }
}
