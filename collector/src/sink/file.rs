//! A local line-protocol file: the sink for running without InfluxDB. Each write is appended and
//! fsynced before it returns, so acknowledged frames survive a crash; `citysense-collector ship`
//! sends the file to InfluxDB later.

use std::path::{Path, PathBuf};

use tokio::fs::File;
use tokio::io::AsyncWriteExt;

use crate::sink::WriteError;

/// Appends points to a file. Clones append to the same file, one write at a time.
#[derive(Debug, Clone)]
pub struct FileSink {
    path: PathBuf,
    file: std::sync::Arc<tokio::sync::Mutex<File>>,
}

impl FileSink {
    /// Opens (creating if needed) the file for appending.
    ///
    /// # Errors
    ///
    /// The I/O error.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot open line-protocol file {}: {e}", path.display()))?;
        Ok(FileSink {
            path: path.to_owned(),
            file: std::sync::Arc::new(tokio::sync::Mutex::new(File::from_std(file))),
        })
    }

    pub(crate) async fn write(&mut self, lines: &str) -> Result<(), WriteError> {
        let io = async {
            let mut file = self.file.lock().await;
            file.write_all(lines.as_bytes()).await?;
            file.sync_data().await
        };
        io.await
            .map_err(|e| crate::sink::retry::classify_transport(format!("{}: {e}", self.path.display())))
    }

    pub(crate) fn describe(&self) -> String {
        format!("line-protocol file {}", self.path.display())
    }
}
