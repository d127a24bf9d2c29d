//! An NGSI-LD view of the stations (domain.md §6): `AirQualityObserved` and
//! `WaterQualityObserved` entities in normalised form, served as `application/ld+json`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use utoipa::IntoParams;

use super::ApiError;
use super::extract::{ApiQuery, Reader};
use crate::live::{Param, StationView};
use crate::state::AppState;

const AIR_CONTEXT: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld";
const WATER_CONTEXT: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.WaterQuality/master/context.jsonld";
const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";

fn entity_type(view: &StationView) -> &'static str {
    if view.kind == "water" {
        "WaterQualityObserved"
    } else {
        "AirQualityObserved"
    }
}

/// The entity id: `urn:ngsi-ld:<Type>:<station id>`.
fn entity_id(view: &StationView) -> String {
    format!("urn:ngsi-ld:{}:{}", entity_type(view), view.station)
}

fn property(value: Value, unit: Option<&str>, observed_at: Option<&str>) -> Value {
    let mut p = Map::new();
    p.insert("type".into(), json!("Property"));
    p.insert("value".into(), value);
    if let Some(u) = unit {
        p.insert("unitCode".into(), json!(u));
    }
    if let Some(t) = observed_at {
        p.insert("observedAt".into(), json!(t));
    }
    Value::Object(p)
}

/// The data model's attribute name, its value in the model's unit, and its UN/CEFACT code.
fn attribute(param: Param, value: f64, water: bool) -> Option<(&'static str, f64, Option<&'static str>)> {
    Some(match param {
        // µg/m³ is GQ (domain.md §6.1).
        Param::Pm1_0 => ("pm1", value, Some("GQ")),
        Param::Pm2_5 => ("pm25", value, Some("GQ")),
        Param::Pm10 => ("pm10", value, Some("GQ")),
        Param::Co => ("co", value, Some("GQ")),
        Param::No2 if !water => ("no2", value, Some("GQ")),
        Param::So2 => ("so2", value, Some("GQ")),
        Param::O3 => ("o3", value, Some("GQ")),
        Param::Temperature => ("temperature", value, Some("CEL")),
        // The model's relativeHumidity is 0..1, not %.
        Param::Humidity => ("relativeHumidity", value / 100.0, None),
        Param::Pressure => ("pressure", value, Some("A97")),
        Param::Ph => ("pH", value, None),
        // mg/L is M1.
        Param::DissolvedOxygen => ("O2", value, Some("M1")),
        // The model's default is S/m: 1 µS/cm = 1e-4 S/m.
        Param::Conductivity => ("conductivity", value * 1e-4, Some("D10")),
        Param::Turbidity => ("turbidity", value, None),
        // The model's default unit for salinity is ppt (‰).
        Param::Salinity => ("salinity", value, None),
        Param::WaterLevel => ("waterLevel", value, Some("MTR")),
        Param::No2 => return None,
    })
}

fn entity(view: &StationView) -> Value {
    let mut e = Map::new();
    let water = view.kind == "water";
    e.insert("id".into(), json!(entity_id(view)));
    e.insert("type".into(), json!(entity_type(view)));
    let observed = view.observed_at.as_deref();
    if let Some(t) = observed {
        e.insert("dateObserved".into(), property(json!(t), None, None));
    }
    e.insert("name".into(), property(json!(view.name), None, None));
    e.insert("areaServed".into(), property(json!(view.district), None, None));
    if let Some([lon, lat]) = view.location {
        e.insert(
            "location".into(),
            json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}),
        );
    }
    if let Some(reading) = &view.reading {
        for (param, value) in reading.values() {
            if let Some((name, v, unit)) = attribute(param, value, water) {
                e.insert(
                    name.into(),
                    property(json!((v * 10_000.0).round() / 10_000.0), unit, observed),
                );
            }
        }
    }
    // `pm25` is the sensor's own value; where the station's PM2.5 is corrected (`quality.correction`
    // or a co-location calibration), `pm25Corrected` is the value its indices and alerts use.
    // Each says which it is in a sub-property `basis` (`raw`, `us_epa_rh`, `co_location`).
    if let Some(pm25) = e.get_mut("pm25") {
        pm25["basis"] = property(json!("raw"), None, None);
    }
    if let Some(corrected) = view.pm2_5_corrected {
        let mut p = property(json!(corrected), Some("GQ"), observed);
        p["basis"] = property(json!(view.pm2_5_basis), None, None);
        e.insert("pm25Corrected".into(), p);
    }
    if let Some(aqi) = &view.vn_aqi {
        let mut index = property(json!(aqi.value), None, observed);
        index["referenceSpecification"] = property(json!("VN_AQI QĐ 1459/QĐ-TCMT"), None, None);
        e.insert("airQualityIndex".into(), index);
        e.insert(
            "airQualityLevel".into(),
            property(json!(aqi.band.code), None, observed),
        );
    }
    if let Some(wqi) = &view.wqi {
        let mut index = property(json!(wqi.value), None, observed);
        index["referenceSpecification"] = property(json!("VN_WQI QĐ 1460/QĐ-TCMT"), None, None);
        e.insert("waterQualityIndex".into(), index);
    }
    e.insert(
        "refDevice".into(),
        json!({"type": "Relationship", "object": format!("urn:ngsi-ld:Device:citysense-node-{}", view.node_id)}),
    );
    let context = if water { WATER_CONTEXT } else { AIR_CONTEXT };
    e.insert("@context".into(), json!([context, CORE_CONTEXT]));
    Value::Object(e)
}

fn ld_json(value: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/ld+json")], value.to_string()).into_response()
}

/// Entity query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntityQuery {
    /// `AirQualityObserved` or `WaterQualityObserved` (default: both).
    #[serde(rename = "type")]
    entity_type: Option<String>,
}

/// Every station as an NGSI-LD entity.
#[utoipa::path(get, path = "/api/v1/ngsi-ld/entities", tag = "open data", params(EntityQuery),
    responses((status = 200, description = "NGSI-LD entities", content_type = "application/ld+json", body = Object),
        (status = 400, body = ApiError)))]
pub(crate) async fn entities(
    State(state): State<Arc<AppState>>,
    _: Reader,
    ApiQuery(q): ApiQuery<EntityQuery>,
) -> Result<Response, ApiError> {
    if let Some(t) = &q.entity_type
        && t != "AirQualityObserved"
        && t != "WaterQualityObserved"
    {
        return Err(ApiError::bad_query(
            "type",
            "must be AirQualityObserved or WaterQualityObserved",
        ));
    }
    let views = state.views(OffsetDateTime::now_utc());
    let list: Vec<Value> = views
        .iter()
        .filter(|v| q.entity_type.as_deref().is_none_or(|t| t == entity_type(v)))
        .map(entity)
        .collect();
    Ok(ld_json(&Value::Array(list)))
}

/// One entity by its URN (`urn:ngsi-ld:AirQualityObserved:<station>`).
#[utoipa::path(get, path = "/api/v1/ngsi-ld/entities/{entity_id}", tag = "open data",
    params(("entity_id" = String, Path, description = "Entity URN", example = "urn:ngsi-ld:AirQualityObserved:HG-VT-A01")),
    responses((status = 200, description = "NGSI-LD entity", content_type = "application/ld+json", body = Object),
        (status = 404, body = ApiError)))]
pub(crate) async fn entity_by_id(
    State(state): State<Arc<AppState>>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let views = state.views(OffsetDateTime::now_utc());
    views
        .iter()
        .find(|v| entity_id(v) == id)
        .map(|v| ld_json(&entity(v)))
        .ok_or_else(|| ApiError::not_found(format!("no entity {id:?}")))
}
