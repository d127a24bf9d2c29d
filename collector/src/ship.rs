//! `ship`: sends a line-protocol file (written by the `file` sink) to InfluxDB, in batches, with
//! the same retry policy as live writes. Points keep their timestamps, so shipping twice
//! overwrites rather than duplicates.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, BufReader};
use tracing::{info, warn};

use crate::config::SinkConfig;
use crate::sink::{Backoff, Retry, Sink};

/// Lines per write when shipping.
const SHIP_BATCH_LINES: usize = 5_000;

/// Sends every line of `file` to the sink `target` describes; returns how many points went.
///
/// # Errors
///
/// The file cannot be read, the target is the file sink, or the database refuses the data.
pub async fn ship_file(file: &Path, target: &SinkConfig) -> anyhow::Result<u64> {
    if matches!(target, SinkConfig::File { .. }) {
        anyhow::bail!("the configured sink is a file; ship needs an influx_v1 or influx_v2 sink");
    }
    let mut sink = Sink::from_config(target)?;
    let input = tokio::fs::File::open(file)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
    let mut lines = BufReader::new(input).lines();
    let (mut chunk, mut in_chunk, mut shipped) = (String::new(), 0usize, 0u64);
    loop {
        let line = lines.next_line().await?;
        let done = line.is_none();
        if let Some(line) = line.filter(|l| !l.trim().is_empty()) {
            chunk.push_str(&line);
            chunk.push('\n');
            in_chunk += 1;
        }
        if in_chunk == SHIP_BATCH_LINES || (done && in_chunk > 0) {
            write_with_retry(&mut sink, &chunk).await?;
            shipped += in_chunk as u64;
            info!(shipped, "Shipped points.");
            chunk.clear();
            in_chunk = 0;
        }
        if done {
            return Ok(shipped);
        }
    }
}

async fn write_with_retry(sink: &mut Sink, lines: &str) -> anyhow::Result<()> {
    let mut backoff = Backoff::default();
    loop {
        match sink.write(lines).await {
            Ok(()) => return Ok(()),
            Err(e) if e.retry == Retry::Permanent => {
                anyhow::bail!("{} refused the data: {e}", sink.describe())
            }
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Write failed; retrying.");
                tokio::time::sleep(delay).await;
            }
        }
    }
}
