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
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::ApiError;
use super::extract::{ApiJson, Operator};
use crate::notify::Outbound;
use crate::state::AppState;
use crate::time_fmt::rfc3339;

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
        /// The probe: the reading field it measures (`protocol::command::Probe::name`).
        #[serde(with = "by_name")]
        #[schema(schema_with = probe_schema)]
        probe: Probe,
        /// The point (Atlas EZO command set; a gas cell takes `zero` and `single`).
        #[serde(with = "by_name")]
        #[schema(schema_with = point_schema)]
        point: CalibrationPoint,
        /// The standard's value in the probe's frame unit (ppb for a gas cell); 0 for clear,
        /// dry, zero, air.
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
                probe,
                point,
                reference,
            }),
            CommandRequest::RequestStatus => Command::RequestStatus,
            CommandRequest::Reboot => Command::Reboot,
        }
    }
}

/// A protocol enum that hosts name in text.
trait Named: Copy + 'static {
    /// What a value is, for messages.
    const WHAT: &'static str;
    fn all() -> &'static [Self];
    fn name(self) -> &'static str;
}

impl Named for Probe {
    const WHAT: &'static str = "probe";
    fn all() -> &'static [Self] {
        &Probe::ALL
    }
    fn name(self) -> &'static str {
        Probe::name(self)
    }
}

impl Named for CalibrationPoint {
    const WHAT: &'static str = "calibration point";
    fn all() -> &'static [Self] {
        &CalibrationPoint::ALL
    }
    fn name(self) -> &'static str {
        CalibrationPoint::name(self)
    }
}

/// Probes and calibration points in JSON, by the protocol's names for them.
mod by_name {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Named;

    pub(super) fn serialize<T: Named, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.name())
    }

    pub(super) fn deserialize<'de, T: Named, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        let name = String::deserialize(deserializer)?;
        T::all()
            .iter()
            .copied()
            .find(|v| v.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = T::all().iter().map(|v| v.name()).collect();
                D::Error::custom(format!(
                    "unknown {} `{name}`, expected one of {}",
                    T::WHAT,
                    known.join(", ")
                ))
            })
    }
}

fn names_schema<T: Named>() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(T::all().iter().map(|v| v.name())))
        .build()
}

fn probe_schema() -> Object {
    names_schema::<Probe>()
}

fn point_schema() -> Object {
    names_schema::<CalibrationPoint>()
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn calibrations_name_every_probe_and_point_of_the_protocol() {
        let request: CommandRequest = serde_json::from_value(
            json!({"command": "calibrate", "probe": "ph", "point": "mid", "reference": 7000}),
        )
        .expect("valid");
        let step = CalibrationStep {
            probe: Probe::Ph,
            point: CalibrationPoint::Mid,
            reference: 7_000,
        };
        assert_eq!(request.to_command(), Command::Calibrate(step));
        assert_eq!(serde_json::to_value(&request).expect("serialises")["probe"], "ph");
        for probe in Probe::ALL {
            let request: CommandRequest = serde_json::from_value(
                json!({"command": "calibrate", "probe": probe.name(), "point": "zero"}),
            )
            .expect("every probe of the protocol");
            assert!(
                matches!(request.to_command(), Command::Calibrate(s) if s.probe == probe && s.reference == 0)
            );
        }
        let err = serde_json::from_value::<CommandRequest>(
            json!({"command": "calibrate", "probe": "pH", "point": "mid"}),
        )
        .expect_err("names are exact")
        .to_string();
        assert!(
            err.contains("unknown probe `pH`") && err.contains("dissolved_oxygen"),
            "{err}"
        );
    }

    #[test]
    fn the_openapi_schema_lists_the_protocol_names() {
        let schema = serde_json::to_value(point_schema()).expect("serialises");
        let names: Vec<&str> = CalibrationPoint::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(schema["enum"], json!(names));
        let schema = serde_json::to_value(probe_schema()).expect("serialises");
        assert_eq!(schema["enum"].as_array().map(Vec::len), Some(Probe::ALL.len()));
    }
}
