//! Extractors whose rejections are JSON errors naming the field: query strings, JSON bodies,
//! path ids, and the bearer token with its role.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::auth::{Caller, Role};
use crate::state::AppState;

/// The name inside the first pair of backticks of a serde message ("unknown field `x`").
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

fn field_of(path: &str, message: &str) -> String {
    if path.is_empty() || path == "." {
        backticked(message).unwrap_or_else(|| "body".into())
    } else if path.contains('?') {
        // serde_path_to_error writes `?` for a map key it could not read (an unknown name).
        backticked(message).map_or_else(|| path.to_owned(), |name| path.replace('?', &name))
    } else {
        path.to_owned()
    }
}

/// The names between backticks in `list` ("`a`, `b`" or "`a` or `b`"), joined for a message.
fn names(list: &str) -> String {
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// serde's wording turned into the user's: what is wrong with the value, in the terms of a query
/// parameter or a body field (`noun`), without the parser's vocabulary.
fn readable(message: &str, noun: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        return if expected.contains("there are no fields") {
            format!("unknown {noun} `{name}`: none is taken here")
        } else {
            format!("unknown {noun} `{name}`: use one of {}", names(expected))
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        return format!("`{value}` is not a known value: use one of {}", names(expected));
    }
    if message.starts_with("duplicate field `") {
        return format!("{noun} given twice");
    }
    let plain = [
        (
            "invalid digit found in string",
            "must be a whole number of 0 or more",
        ),
        ("number too large to fit in target type", "is too large"),
        ("number too small to fit in target type", "is too small"),
        ("cannot parse integer from empty string", "must not be empty"),
        ("invalid float literal", "must be a number"),
        (
            "provided string was not `true` or `false`",
            "must be true or false",
        ),
    ];
    plain
        .iter()
        .find(|(serde, _)| message.contains(serde))
        .map_or_else(|| message.to_owned(), |(_, ours)| (*ours).to_owned())
}

/// A query string parsed into `T` (use `deny_unknown_fields`); errors name the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|e| {
                let message = e.inner().to_string();
                ApiError::bad_query(
                    field_of(&e.path().to_string(), &message),
                    readable(&message, "parameter"),
                )
            })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// Middleware for routes that take no query string: any parameter is a 400 naming it.
pub async fn no_query(request: Request, next: axum::middleware::Next) -> axum::response::Response {
    let first = request
        .uri()
        .query()
        .and_then(|q| form_urlencoded_parse(q).next())
        .map(|(name, _)| name.into_owned());
    match first {
        Some(name) => axum::response::IntoResponse::into_response(ApiError::bad_query(
            name.clone(),
            format!("unknown parameter `{name}`: this endpoint takes no query parameters"),
        )),
        None => next.run(request).await,
    }
}

/// A JSON body parsed into `T`; malformed JSON is a 400, a wrong field a 422 naming it.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::unsupported_media());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::bad_body("the body could not be read")
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(&mut de) {
            Ok(value) => {
                if de.end().is_err() {
                    return Err(ApiError::bad_body("trailing characters after the JSON value"));
                }
                Ok(ApiJson(value))
            }
            Err(e) => {
                let message = e.inner().to_string();
                if e.inner().is_syntax() || e.inner().is_eof() {
                    Err(ApiError::bad_body(format!(
                        "the body is not valid JSON: {message}"
                    )))
                } else {
                    Err(ApiError::invalid_field(
                        field_of(&e.path().to_string(), &message),
                        readable(&message, "field"),
                    ))
                }
            }
        }
    }
}

/// Parses a numeric path id, naming the segment on failure.
pub fn path_id(field: &'static str, text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_query(field, format!("must be a positive integer, got {text:?}")))
}

fn caller(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("use `Authorization: Bearer <token>`"))?;
    let tokens = state.tokens.read().unwrap_or_else(|p| p.into_inner());
    tokens
        .verify(token)
        .map(Some)
        .ok_or_else(|| ApiError::unauthorized("the token is not valid (unknown or revoked)"))
}

fn require(parts: &Parts, state: &AppState, role: Role) -> Result<Caller, ApiError> {
    match caller(parts, state)? {
        None => Err(ApiError::unauthorized(format!(
            "this needs a token with the {role} role"
        ))),
        Some(c) if c.role.is_some_and(|r| r >= role) => Ok(c),
        Some(c) => Err(ApiError::forbidden(format!(
            "token {:?} has the {} role; this needs {role}",
            c.name,
            c.role.map_or("no", Role::as_str)
        ))),
    }
}

/// A caller allowed to read: anyone when anonymous reading is on (a token, if sent, must still
/// be valid), a viewer token otherwise.
pub struct Reader;

impl FromRequestParts<Arc<AppState>> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        if state.anonymous_read {
            caller(parts, state)?;
            return Ok(Reader);
        }
        require(parts, state, Role::Viewer).map(|_| Reader)
    }
}

/// A caller with the operator role (or admin).
pub struct Operator(pub Caller);

impl FromRequestParts<Arc<AppState>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        require(parts, state, Role::Operator).map(Operator)
    }
}

/// A caller with the admin role.
pub struct Admin(pub Caller);

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        require(parts, state, Role::Admin).map(Admin)
    }
}

impl Caller {
    /// The role name for the audit log.
    pub fn role_name(&self) -> &'static str {
        self.role.map_or("anonymous", Role::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn serde_messages_read_in_the_users_terms() {
        assert_eq!(
            readable("unknown field `foo`, expected one of `from`, `to`", "parameter"),
            "unknown parameter `foo`: use one of `from`, `to`"
        );
        assert_eq!(
            readable("unknown field `foo`, expected `limit`", "parameter"),
            "unknown parameter `foo`: use one of `limit`"
        );
        assert_eq!(
            readable("unknown field `foo`, there are no fields", "field"),
            "unknown field `foo`: none is taken here"
        );
        assert_eq!(
            readable(
                "unknown variant `hot`, expected one of `air`, `water`",
                "parameter"
            ),
            "`hot` is not a known value: use one of `air`, `water`"
        );
        assert_eq!(
            readable("invalid digit found in string", "parameter"),
            "must be a whole number of 0 or more"
        );
        assert_eq!(
            readable("number too large to fit in target type", "parameter"),
            "is too large"
        );
        assert_eq!(
            readable("missing field `values`", "field"),
            "missing field `values`"
        );
    }
}
