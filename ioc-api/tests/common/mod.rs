//! A router over state fed directly with frames: one air station (node 101) and one water
//! station (node 201), an in-memory database, requests through `tower::ServiceExt::oneshot`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ioc_api::store::Store;
use ioc_api::{AppState, Config};
use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::{AirSample, Body, Frame, NodeKey, WaterSample};
use serde_json::Value;
use service::mqtt::MqttConfig;
use time::OffsetDateTime;
use tower::ServiceExt;

/// 2025-11-27T00:00:00Z: the PM2.5 limits are the 2025 ones (50 µg/m³).
pub const T0: u64 = 1_764_201_600_000;
pub const MINUTE: u64 = 60_000;

pub fn registry() -> Registry {
    Registry::from_nodes([
        NodeInfo {
            id: 101,
            station: "HG-VT-A01".into(),
            name: "Vị Thanh".into(),
            kind: StationKind::Air,
            district: "Vị Thanh".into(),
            location: Some((105.47, 9.78)),
            key: Some(NodeKey::new([7; 32])),
        },
        NodeInfo {
            id: 201,
            station: "HG-VT-W01".into(),
            name: "Kênh Xà No".into(),
            kind: StationKind::Water,
            district: "Vị Thanh".into(),
            location: Some((105.45, 9.77)),
            key: None,
        },
    ])
    .expect("valid registry")
}

/// The tests here feed steady series (an hour at exactly 30 µg/m³) so that means and indices
/// come out round; the stuck and spike rules would rightly flag them, so they are off. The QC
/// rules have their own tests (`src/quality/`, and `tests/ioc_quality.rs` on the whole path).
pub fn config() -> Config {
    let mut config = Config::new(
        "127.0.0.1:0".parse().expect("address"),
        MqttConfig::new("127.0.0.1", 1883, "test"),
        PathBuf::from("unused.toml"),
        PathBuf::from(":memory:"),
    );
    config.quality.stuck.enabled = false;
    config.quality.spike.enabled = false;
    config
}

pub struct Api {
    pub state: Arc<AppState>,
    pub registry: Registry,
}

impl Api {
    pub fn new() -> Api {
        Self::with_config(config())
    }

    pub fn with_config(config: Config) -> Api {
        Self::with_store(config, Store::in_memory().expect("db"))
    }

    /// An API over `store`, e.g. a file reopened to play a restart.
    pub fn with_store(config: Config, store: Store) -> Api {
        Self::with_registry(config, registry(), store)
    }

    /// An API over other stations than [`registry`]'s.
    pub fn with_registry(config: Config, registry: Registry, store: Store) -> Api {
        let state = AppState::new(&config, &registry, store).expect("state");
        Api { state, registry }
    }

    pub fn frame(&self, node: u32, time_ms: u64, body: Body, now: OffsetDateTime) {
        let frame = Frame {
            node_id: node,
            boot: 1,
            seq: (time_ms / 1_000) as u32,
            time_ms,
            body,
        };
        self.state
            .ingest(&frame, self.registry.get(node).expect("registered"), now);
    }

    /// A frame as it comes off MQTT: encoded with the node's key (or CRC), through the replay
    /// window (`AppState::receive`), not a redelivery, not retained.
    pub fn message(&self, node: u32, boot: u32, seq: u32, time_ms: u64, body: Body, now: OffsetDateTime) {
        let info = self.registry.get(node).expect("registered");
        let frame = Frame {
            node_id: node,
            boot,
            seq,
            time_ms,
            body,
        };
        let mut buf = [0u8; protocol::MAX_FRAME_LEN];
        let payload = frame.encode(info.key.as_ref(), &mut buf).expect("encodes");
        self.state.receive(&frame, info, payload, false, false, now);
    }

    /// A PM2.5 sample (0.1 µg/m³ units) at minute `minute` after T0, arriving now.
    pub fn feed_pm(&self, node: u32, minute: u64, pm2_5_deci: u16) {
        let body = Body::Air(AirSample {
            samples: 6,
            pm2_5: Some(pm2_5_deci),
            ..AirSample::default()
        });
        self.frame(node, T0 + minute * MINUTE, body, OffsetDateTime::now_utc());
    }

    /// A water sample at minute `minute` after T0.
    pub fn feed_water(&self, minute: u64, sample: WaterSample, now: OffsetDateTime) {
        self.frame(201, T0 + minute * MINUTE, Body::Water(sample), now);
    }

    pub fn token(&self, name: &str, role: &str) -> String {
        let role = ioc_api::auth::Role::parse(role).expect("role");
        let token =
            ioc_api::http::create_token(self.state.store(), name, role, "test", OffsetDateTime::now_utc())
                .expect("db")
                .expect("new name");
        // Created behind the API's back, as the CLI does: count after a reload.
        self.state.reload_tokens().expect("db");
        token
    }

    pub fn router(&self) -> axum::Router {
        ioc_api::http::router(Arc::clone(&self.state), &[], 64 * 1024)
    }

    async fn send(&self, request: Request<HttpBody>) -> (StatusCode, Value) {
        let (status, _, bytes) = self.send_raw(request).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Status, content type and body bytes, for answers that are not JSON or whose bytes matter.
    async fn send_raw(&self, request: Request<HttpBody>) -> (StatusCode, String, Vec<u8>) {
        let response = self.router().oneshot(request).await.expect("response");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        (status, content_type, bytes.to_vec())
    }

    /// A GET's status, content type and body as text (UTF-8 is required: the test fails otherwise).
    pub async fn get_text(&self, uri: &str) -> (StatusCode, String, String) {
        let request = Request::get(uri).body(HttpBody::empty()).expect("request");
        let (status, content_type, bytes) = self.send_raw(request).await;
        (
            status,
            content_type,
            String::from_utf8(bytes).expect("UTF-8 body"),
        )
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.get_with(uri, None).await
    }

    pub async fn get_with(&self, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::get(uri);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        self.send(request.body(HttpBody::empty()).expect("request")).await
    }

    pub async fn post(&self, uri: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.raw_post(uri, token, "application/json", &body.to_string())
            .await
    }

    pub async fn raw_post(
        &self,
        uri: &str,
        token: Option<&str>,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut request = Request::post(uri).header("content-type", content_type);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        self.send(request.body(HttpBody::from(body.to_owned())).expect("request"))
            .await
    }

    pub async fn delete(&self, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::delete(uri);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        self.send(request.body(HttpBody::empty()).expect("request")).await
    }

    pub async fn put(&self, uri: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = Request::put(uri).header("content-type", "application/json");
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        self.send(request.body(HttpBody::from(body.to_string())).expect("request"))
            .await
    }
}
