//! Downlink commands on the node: authenticate with the node key, refuse replays with the counter
//! kept in flash, then act.

use core::fmt;

use embedded_storage_async::nor_flash::MultiwriteNorFlash;
use protocol::StatusKind;
use protocol::command::{self, Command, CommandError};

use super::runner::Node;
use super::sampler::{Calibrated, Sampler};
use super::transport::Transport;
use crate::storage::{Settings, StorageError};

/// Why a command was not obeyed.
#[derive(Debug)]
#[non_exhaustive]
pub enum DownlinkError<E> {
    /// The node has no key: it cannot tell a real command from a forged one, so it obeys none.
    NoKey,
    /// Forged, replayed, for another node, or malformed.
    Refused(CommandError),
    /// The counter could not be stored; obeying without it would reopen the replay window.
    Storage(StorageError<E>),
    /// The command was valid but this node cannot carry it out (a probe it does not have).
    Unsupported(Command),
}

impl<E: fmt::Debug> fmt::Display for DownlinkError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownlinkError::NoKey => f.write_str("command refused: the node has no key"),
            DownlinkError::Refused(e) => write!(f, "{e}"),
            DownlinkError::Storage(e) => write!(f, "command refused: cannot store its counter: {e}"),
            DownlinkError::Unsupported(c) => write!(f, "command not supported by this node: {c:?}"),
        }
    }
}

impl<S: Sampler> Node<S> {
    /// Checks a downlink command and carries out what the node itself can: a new reporting
    /// interval (also kept in flash), a status frame now (published through `transport`), a
    /// calibration step (handed to the sampler, the result kept in flash). Returns the accepted
    /// command; for [`Command::Reboot`] the caller resets the board.
    ///
    /// # Errors
    ///
    /// [`DownlinkError`]; a refused command changes nothing.
    pub fn handle_command<F: MultiwriteNorFlash, T: Transport>(
        &mut self,
        bytes: &[u8],
        settings: &mut Settings<F>,
        uptime_ms: u64,
        wall_ms: u64,
        transport: &mut T,
    ) -> Result<Command, DownlinkError<F::Error>> {
        let key = self.identity().key.clone().ok_or(DownlinkError::NoKey)?;
        let last = settings.downlink_counter().map_err(DownlinkError::Storage)?;
        let accepted =
            command::accept(bytes, self.identity().node_id, &key, last).map_err(DownlinkError::Refused)?;
        settings
            .set_downlink_counter(accepted.counter)
            .map_err(DownlinkError::Storage)?;
        match accepted.command {
            Command::SetReportInterval { seconds } => {
                settings
                    .set_report_interval_s(seconds)
                    .map_err(DownlinkError::Storage)?;
                self.set_report_interval_ms(seconds.saturating_mul(1_000), uptime_ms);
            }
            Command::RequestStatus => {
                // A failed publish is counted by the node like any other frame.
                let _ = self.publish_status(StatusKind::Periodic, uptime_ms, wall_ms, transport);
            }
            Command::Calibrate(step) => {
                let now_s = u32::try_from(wall_ms / 1_000).unwrap_or(0);
                let Some(calibrated) = self.sampler_mut().calibrate(step, now_s) else {
                    return Err(DownlinkError::Unsupported(accepted.command));
                };
                let stored = match calibrated {
                    Calibrated::Probe(calibration) => settings.set_calibration(step.probe, &calibration),
                    Calibrated::Gas(calibration) => {
                        settings.set_gas_calibration(step.probe, Some(&calibration))
                    }
                    Calibrated::GasCleared => settings.set_gas_calibration(step.probe, None),
                };
                self.mark_calibrating();
                stored.map_err(DownlinkError::Storage)?;
            }
            Command::Reboot => {}
        }
        Ok(accepted.command)
    }
}
