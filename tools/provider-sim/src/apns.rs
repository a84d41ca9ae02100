//! An emulator of APNs for Live Activity pushes, checking requests as Apple does: HTTP/2
//! (cleartext, prior knowledge, locally), `POST /3/device/{token}` (`/sandbox/3/device/{token}`
//! for the development environment), a provider token (ES256 JWT: `kid` the key id, `iss` the
//! team id, `iat` within the hour, signed by the key whose public half it was given),
//! `apns-push-type: liveactivity`, `apns-topic: {bundle}.push-type.liveactivity`,
//! `apns-priority` 5 or 10, a payload of at most 4 KB. Error bodies carry Apple's `reason`; a
//! revoked token answers 410 `Unregistered`. Every accepted push is kept for tests to read.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

const MAX_PAYLOAD: usize = 4096;
const TOKEN_LIFETIME_SECS: i64 = 3600;

#[derive(Debug, Clone)]
pub struct ApnsConfig {
    pub key_id: String,
    pub team_id: String,
    /// The key's public point, uncompressed (`04 || x || y`, 65 bytes).
    pub public_key: Vec<u8>,
    /// The app's bundle id.
    pub bundle_id: String,
}

/// A push APNs accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub token: String,
    pub sandbox: bool,
    pub priority: u8,
    pub payload: Value,
}

#[derive(Default)]
struct Book {
    received: Vec<Received>,
    revoked: HashSet<String>,
    refused: Vec<(u16, String)>,
}

pub struct ApnsState {
    config: ApnsConfig,
    key: DecodingKey,
    book: Mutex<Book>,
}

impl ApnsState {
    pub fn received(&self) -> Vec<Received> {
        self.book
            .lock()
            .map(|b| b.received.clone())
            .unwrap_or_default()
    }

    /// Requests refused, with their status and reason.
    pub fn refused(&self) -> Vec<(u16, String)> {
        self.book
            .lock()
            .map(|b| b.refused.clone())
            .unwrap_or_default()
    }

    /// From now on this token answers 410 (the user ended the activity, or removed the app).
    pub fn revoke(&self, token: &str) {
        if let Ok(mut b) = self.book.lock() {
            b.revoked.insert(token.to_ascii_lowercase());
        }
    }
}

pub struct RunningApns {
    pub addr: SocketAddr,
    pub state: Arc<ApnsState>,
    handle: tokio::task::JoinHandle<()>,
}

impl RunningApns {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn sandbox_url(&self) -> String {
        format!("http://{}/sandbox", self.addr)
    }
}

impl Drop for RunningApns {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApnsSimError {
    #[error("the public key is not an uncompressed P-256 point")]
    Key,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub fn spawn(
    listener: tokio::net::TcpListener,
    config: ApnsConfig,
) -> Result<RunningApns, ApnsSimError> {
    let point = &config.public_key;
    if point.len() != 65 || point[0] != 4 {
        return Err(ApnsSimError::Key);
    }
    let (x, y) = (
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..]),
    );
    let key = DecodingKey::from_ec_components(&x, &y).map_err(|_| ApnsSimError::Key)?;
    let addr = listener.local_addr()?;
    let state = Arc::new(ApnsState {
        config,
        key,
        book: Mutex::default(),
    });
    let app = Router::new()
        .route("/3/device/{token}", post(production))
        .route("/sandbox/3/device/{token}", post(sandbox))
        .with_state(state.clone());
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(RunningApns {
        addr,
        state,
        handle,
    })
}

async fn production(
    state: State<Arc<ApnsState>>,
    token: Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&state, &token, false, version, &headers, &body)
}

async fn sandbox(
    state: State<Arc<ApnsState>>,
    token: Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&state, &token, true, version, &headers, &body)
}

fn receive(
    state: &ApnsState,
    token: &str,
    sandbox: bool,
    version: Version,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let checked = check(state, token, version, headers, body);
    let Ok(mut book) = state.book.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let refusal = match checked {
        Ok(_) if book.revoked.contains(&token.to_ascii_lowercase()) => {
            Some((410, "Unregistered".to_string()))
        }
        Ok((priority, payload)) => {
            book.received.push(Received {
                token: token.to_ascii_lowercase(),
                sandbox,
                priority,
                payload,
            });
            None
        }
        Err((status, reason)) => Some((status, reason.to_string())),
    };
    let apns_id = uuid::Uuid::new_v4().to_string();
    match refusal {
        None => (StatusCode::OK, [("apns-id", apns_id)]).into_response(),
        Some((status, reason)) => {
            book.refused.push((status, reason.clone()));
            let mut doc = json!({ "reason": reason });
            if status == 410 {
                doc["timestamp"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() * 1000);
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, [("apns-id", apns_id)], axum::Json(doc)).into_response()
        }
    }
}

type Refusal = (u16, &'static str);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Apple's checks, in its order: protocol, token, authentication, headers, payload.
fn check(
    state: &ApnsState,
    token: &str,
    version: Version,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(u8, Value), Refusal> {
    if version != Version::HTTP_2 {
        return Err((400, "HTTP2Required"));
    }
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((400, "BadDeviceToken"));
    }
    authenticate(state, header(headers, "authorization"))?;
    if header(headers, "apns-push-type") != Some("liveactivity") {
        return Err((400, "InvalidPushType"));
    }
    let topic = format!("{}.push-type.liveactivity", state.config.bundle_id);
    match header(headers, "apns-topic") {
        None => return Err((400, "MissingTopic")),
        Some(t) if t != topic => return Err((400, "TopicDisallowed")),
        Some(_) => {}
    }
    let priority = match header(headers, "apns-priority") {
        None => 10,
        Some("5") => 5,
        Some("10") => 10,
        Some(_) => return Err((400, "BadPriority")),
    };
    if body.is_empty() {
        return Err((400, "PayloadEmpty"));
    }
    if body.len() > MAX_PAYLOAD {
        return Err((413, "PayloadTooLarge"));
    }
    let payload: Value = serde_json::from_slice(body).map_err(|_| (400, "BadPayload"))?;
    live_activity_payload(&payload)?;
    Ok((priority, payload))
}

fn authenticate(state: &ApnsState, authorization: Option<&str>) -> Result<(), Refusal> {
    let jwt = authorization
        .and_then(|a| {
            a.strip_prefix("bearer ")
                .or_else(|| a.strip_prefix("Bearer "))
        })
        .ok_or((403, "MissingProviderToken"))?;
    let head = jsonwebtoken::decode_header(jwt).map_err(|_| (403, "InvalidProviderToken"))?;
    if head.alg != Algorithm::ES256 || head.kid.as_deref() != Some(&state.config.key_id) {
        return Err((403, "InvalidProviderToken"));
    }
    let mut rules = Validation::new(Algorithm::ES256);
    rules.required_spec_claims.clear();
    rules.validate_exp = false;
    rules.set_issuer(&[&state.config.team_id]);
    let claims = jsonwebtoken::decode::<Value>(jwt, &state.key, &rules)
        .map_err(|_| (403, "InvalidProviderToken"))?
        .claims;
    let iat = claims["iat"]
        .as_i64()
        .ok_or((403, "InvalidProviderToken"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if now - iat > TOKEN_LIFETIME_SECS {
        return Err((403, "ExpiredProviderToken"));
    }
    Ok(())
}

/// What a Live Activity push must carry for ActivityKit to apply it.
fn live_activity_payload(payload: &Value) -> Result<(), Refusal> {
    let aps = payload.get("aps").ok_or((400, "BadPayload"))?;
    let event = aps["event"].as_str();
    let ok = matches!(event, Some("start" | "update" | "end"))
        && aps["timestamp"].is_i64()
        && aps["content-state"].is_object();
    if ok { Ok(()) } else { Err((400, "BadPayload")) }
}
