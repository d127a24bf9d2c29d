//! The OpenAPI document, generated from the handlers' annotations and the types they use, at
//! `/api/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, alerts, calibration, commands, export, health, indices, lab, ngsi, open_data, quality, stations,
    stream, thresholds,
};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `citysense-ioc-api token create` or POST /api/v1/tokens",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "citysense IOC API",
        description = "Live air and water quality for a provincial operations centre: stations, VN_AQI / US AQI / VN_WQI, thresholds (QCVN 05:2023, 08:2023), alerts, open data.",
        license(name = "Apache-2.0")
    ),
    paths(
        health::healthz, health::readyz, health::metrics,
        stations::list, stations::one, stations::readings, stations::hourly, quality::coverage, quality::flagged,
        indices::aqi, indices::wqi, lab::add,
        calibration::fit, calibration::list, calibration::apply, calibration::roll_back,
        alerts::list, alerts::one, alerts::acknowledge, alerts::resolve,
        thresholds::list, thresholds::one, thresholds::create, thresholds::replace, thresholds::delete,
        stream::stream, commands::send,
        export::json, export::csv, open_data::catalog_jsonld, ngsi::entities, ngsi::entity_by_id,
        admin::tokens, admin::create, admin::revoke, admin::audit, admin::deliveries,
    ),
    // Enums used only in query parameters are not collected from the paths by themselves.
    components(schemas(indices::Scheme, indices::Period)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`.
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
