//! `POST /api/v1/stations/{id}/commands`: a downlink command for the station's node, encoded
//! and signed by `protocol::command` (FORMAT.md §9) and published on `{prefix}/node/{id}/cmd`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use protocol::EncodeError;
use protocol::command::{CalibrationPoint, CalibrationStep, Command, Probe, SignedCommand};
use protocol::topic::{NodeChannel, NodeTopic};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::ApiError;
use super::extract::{ApiJson, Operator};
use crate::notify::Outbound;
use crate::state::AppState;
use crate::time_fmt::rfc3339;

/// A probe to calibrate.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProbeName {
    /// pH; reference in 0.001 pH.
    Ph,
    /// Dissolved oxygen; reference in 0.01 mg/L.
    DissolvedOxygen,
    /// Conductivity; reference in µS/cm.
    Conductivity,
    /// Turbidity; reference in 0.1 NTU.
    Turbidity,
    /// Water level; reference in mm.
    WaterLevel,
}

/// A calibration point (Atlas EZO command set).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PointName {
    /// Forget the calibration.
    Clear,
    /// Dry probe.
    Dry,
    /// Zero solution.
    Zero,
    /// In air.
    Air,
    /// Low buffer.
    Low,
    /// Mid buffer.
    Mid,
    /// High buffer.
    High,
    /// Single-point standard.
    Single,
}

/// The command, as operators write it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum CommandRequest {
    /// Report every `seconds` (10–86 400).
    SetReportInterval {
        /// Seconds.
        seconds: u32,
    },
    /// Take one calibration point.
    Calibrate {
        /// The probe.
        probe: ProbeName,
        /// The point.
        point: PointName,
        /// The standard's value in the probe's frame unit; 0 for clear, dry, zero, air.
        #[serde(default)]
        reference: i32,
    },
    /// Publish a status frame now.
    RequestStatus,
    /// Restart the node.
    Reboot,
}

impl CommandRequest {
    fn to_command(&self) -> Command {
        match *self {
            CommandRequest::SetReportInterval { seconds } => Command::SetReportInterval { seconds },
            CommandRequest::Calibrate {
                probe,
                point,
                reference,
            } => Command::Calibrate(CalibrationStep {
                probe: match probe {
                    ProbeName::Ph => Probe::Ph,
                    ProbeName::DissolvedOxygen => Probe::DissolvedOxygen,
                    ProbeName::Conductivity => Probe::Conductivity,
                    ProbeName::Turbidity => Probe::Turbidity,
                    ProbeName::WaterLevel => Probe::WaterLevel,
                },
                point: match point {
                    PointName::Clear => CalibrationPoint::Clear,
                    PointName::Dry => CalibrationPoint::Dry,
                    PointName::Zero => CalibrationPoint::Zero,
                    PointName::Air => CalibrationPoint::Air,
                    PointName::Low => CalibrationPoint::Low,
                    PointName::Mid => CalibrationPoint::Mid,
                    PointName::High => CalibrationPoint::High,
                    PointName::Single => CalibrationPoint::Single,
                },
                reference,
            }),
            CommandRequest::RequestStatus => Command::RequestStatus,
            CommandRequest::Reboot => Command::Reboot,
        }
    }
}

/// What was sent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CommandSent {
    station: String,
    node_id: u32,
    /// The anti-replay counter the command carries.
    counter: u64,
    /// Where it was published.
    topic: String,
    /// The signed bytes, hex.
    bytes_hex: String,
    command: CommandRequest,
}

/// Sends a downlink command to the station's node (operator). The node must have a key: a
/// keyless node obeys no command (FORMAT.md §9).
#[utoipa::path(post, path = "/api/v1/stations/{id}/commands", tag = "commands", request_body = CommandRequest,
    params(("id" = String, Path, description = "Station id", example = "HG-VT-A01")), security(("bearer" = [])),
    responses((status = 202, body = CommandSent), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError),
        (status = 503, body = ApiError)))]
pub(crate) async fn send(
    State(state): State<Arc<AppState>>,
    Operator(caller): Operator,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<CommandRequest>,
) -> Result<(StatusCode, Json<CommandSent>), ApiError> {
    let node = state
        .registry
        .nodes()
        .find(|n| n.station == id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no station with id {id:?}")))?;
    let key = node
        .key
        .as_ref()
        .ok_or_else(|| ApiError::conflict(format!("node {} has no key; it obeys no command", node.id)))?;
    let now = OffsetDateTime::now_utc();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    let command = SignedCommand {
        node_id: node.id,
        counter: 0,
        command: request.to_command(),
    };
    // Ranges are checked before a counter is spent.
    command.to_bytes(key).map_err(|e| match e {
        EncodeError::OutOfRange { field, value } => {
            ApiError::invalid_field(field, format!("{value} is outside the range the node accepts"))
        }
        other => ApiError::internal(&other),
    })?;
    let counter = state.store.next_command_counter(now_ms)?;
    let bytes = SignedCommand { counter, ..command }
        .to_bytes(key)
        .map_err(|e| ApiError::internal(&e))?;
    let topic = NodeTopic {
        prefix: &state.prefix,
        node_id: node.id,
        channel: NodeChannel::Command,
    }
    .to_string();
    state
        .outbound
        .try_send(Outbound {
            topic: topic.clone(),
            payload: bytes.clone(),
            retain: false,
        })
        .map_err(|_| {
            ApiError::unavailable("the MQTT publisher is not running or its queue is full; try again")
        })?;
    state.metrics.commands_sent.fetch_add(1, Ordering::Relaxed);
    state.store.audit(
        &rfc3339(now),
        &caller.name,
        caller.role_name(),
        "node.command",
        &format!("station/{id}"),
        &serde_json::json!({ "command": &request, "counter": counter }).to_string(),
    )?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CommandSent {
            station: id,
            node_id: node.id,
            counter,
            topic,
            bytes_hex: hex::encode(&bytes),
            command: request,
        }),
    ))
}
