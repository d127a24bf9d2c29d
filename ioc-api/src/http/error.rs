//! Errors as JSON bodies with a stable code, the field at fault, and no internals (no stack
//! traces, no SQL, no upstream messages).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An error response: `{"error": code, "message": text, "field": name?}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// Stable code: `invalid_query`, `invalid_body`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `unavailable`, `payload_too_large`, `internal`.
    error: &'static str,
    /// What is wrong, for people.
    message: String,
    /// The query parameter, path segment or body field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        error: &'static str,
        message: impl Into<String>,
        field: Option<String>,
    ) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
            field,
        }
    }

    /// 400: a query parameter or path segment is wrong.
    pub fn bad_query(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            message,
            Some(field.into()),
        )
    }

    /// 400: the body is not JSON at all.
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_body", message, None)
    }

    /// 422: the body is JSON but a field is wrong.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            message,
            Some(field.into()),
        )
    }

    /// 401: no token, or one that is not valid.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message, None)
    }

    /// 403: a valid token without the role.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message, None)
    }

    /// 404: no such resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message, None)
    }

    /// 409: the resource is not in a state that allows it.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message, None)
    }

    /// 413: the body is too large.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than this server takes (http.max_body_bytes)",
            None,
        )
    }

    /// 415: the body is not declared as JSON.
    pub fn unsupported_media() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_body",
            "send the body as JSON with Content-Type: application/json",
            None,
        )
    }

    /// 503: a dependency (InfluxDB, the broker) is not available or not configured.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message, None)
    }

    /// 500, for a failure the client cannot fix. The cause is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "Request failed inside the API.");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request; it has been logged",
            None,
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, Json(self)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"citysense\""),
            );
        }
        response
    }
}

/// The fallback for unknown paths.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", uri.path()))
}

/// The fallback for a known path with another method.
pub(crate) async fn method_not_allowed() -> Response {
    let body = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
        None,
    );
    body.into_response()
}

/// A panic in a handler becomes a JSON 500; the process and the other requests go on.
pub(crate) fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(&"a handler panicked").into_response()
}
