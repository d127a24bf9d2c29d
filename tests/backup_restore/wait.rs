//! Waiting for a condition the services reach on their own.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::WAIT;

pub(super) async fn wait_for<F: FnMut() -> bool>(what: &str, mut done: F) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
