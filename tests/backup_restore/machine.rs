//! One machine's configuration: the IOC API's and the collector's, written as files for the
//! binaries.

use std::path::Path;

use anyhow::Result;
use collector::config::BatchConfig;
use protocol::registry::Registry;

use super::DATABASE;
use crate::support::{Influx1, Mosquitto, influx1_config, ioc_config};

/// The configs of one machine: the IOC API's and the collector's, as files for the binaries.
pub(super) struct Machine {
    pub(super) ioc: ioc_api::Config,
    pub(super) ioc_file: String,
    pub(super) collector: collector::Config,
    pub(super) collector_file: String,
}

impl Machine {
    pub(super) fn new(
        dir: &Path,
        mosquitto: &Mosquitto,
        influx: &Influx1,
        registry: &Registry,
    ) -> Result<Machine> {
        std::fs::create_dir_all(dir.join("ioc"))?;
        let registry_path = dir.join("nodes.toml");
        std::fs::write(&registry_path, registry.to_toml())?;
        let ioc = ioc_config(mosquitto, "ioc-api", &registry_path, &dir.join("ioc"));
        let batch = BatchConfig {
            max_frames: 20,
            max_age_ms: 25,
            ..BatchConfig::default()
        };
        let mut collector = influx1_config(
            mosquitto,
            (influx, DATABASE),
            "collector",
            &registry_path,
            batch,
            &dir.join("collector"),
        );
        // Small segments: the backup holds several, the newest one being appended to.
        collector.spool.segment_bytes = 16 * 1024;
        let ioc_file = dir.join("ioc-api.toml");
        std::fs::write(&ioc_file, toml::to_string(&ioc)?)?;
        let collector_file = dir.join("collector.toml");
        std::fs::write(&collector_file, toml::to_string(&collector)?)?;
        Ok(Machine {
            ioc,
            ioc_file: ioc_file.display().to_string(),
            collector,
            collector_file: collector_file.display().to_string(),
        })
    }
}
