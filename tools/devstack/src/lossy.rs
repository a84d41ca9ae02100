//! A proxy in front of moto that loses replies: the request reaches DynamoDB and is applied,
//! but the caller is told 500, as when a connection drops after the commit. The SDK retries,
//! so every conditional write must recognise its own earlier success.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::{DevError, forward};

#[derive(Clone)]
struct Proxy {
    upstream: Arc<Mutex<String>>,
    http: reqwest::Client,
    losses: Arc<Mutex<Losses>>,
}

/// Which replies to lose: the next few of an operation, and every n-th write.
#[derive(Default)]
struct Losses {
    /// Operation (the `X-Amz-Target` suffix, e.g. `PutItem`) → replies still to lose.
    next: HashMap<String, usize>,
    every: Option<usize>,
    writes_seen: usize,
    lost: usize,
    /// Every call forwarded, by operation (`X-Amz-Target` suffix, else the HTTP method).
    calls: HashMap<String, usize>,
}

const WRITES: [&str; 4] = ["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"];

/// A running proxy; `endpoint` goes where moto's would.
pub struct LossyProxy {
    pub endpoint: String,
    upstream: Arc<Mutex<String>>,
    losses: Arc<Mutex<Losses>>,
}

impl LossyProxy {
    /// A proxy to `upstream` (empty: set it with `connect` once it is known).
    pub async fn start(upstream: &str) -> Result<Self, DevError> {
        let losses = Arc::new(Mutex::new(Losses::default()));
        let upstream = Arc::new(Mutex::new(upstream.trim_end_matches('/').to_string()));
        let proxy = Proxy {
            upstream: upstream.clone(),
            http: shared::runtime::net::client().expect("HTTP client"),
            losses: losses.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        Ok(Self {
            endpoint: forward::serve("lossy proxy", app).await?,
            upstream,
            losses,
        })
    }

    pub fn connect(&self, upstream: &str) {
        if let Ok(mut u) = self.upstream.lock() {
            *u = upstream.trim_end_matches('/').to_string();
        }
    }

    /// Lose the replies of the next `n` calls of `operation` (after they were applied).
    pub fn lose_next(&self, operation: &str, n: usize) {
        if let Ok(mut l) = self.losses.lock() {
            l.next.insert(operation.to_string(), n);
        }
    }

    /// Lose the reply of every `n`-th write (put, update, delete, transaction).
    pub fn lose_every_nth_write(&self, n: usize) {
        if let Ok(mut l) = self.losses.lock() {
            l.every = Some(n.max(1));
        }
    }

    /// Replies of `operation` still to lose.
    pub fn pending(&self, operation: &str) -> usize {
        self.losses
            .lock()
            .map(|l| l.next.get(operation).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Calls forwarded so far, by operation: AWS round trips, counted where they happen.
    pub fn calls(&self) -> HashMap<String, usize> {
        self.losses
            .lock()
            .map(|l| l.calls.clone())
            .unwrap_or_default()
    }

    pub fn reset_calls(&self) {
        if let Ok(mut l) = self.losses.lock() {
            l.calls.clear();
        }
    }

    /// Replies lost so far.
    pub fn lost(&self) -> usize {
        self.losses.lock().map(|l| l.lost).unwrap_or(0)
    }
}

async fn forward(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    count_call(&p, &method, &headers);
    let upstream = p.upstream.lock().map(|u| u.clone()).unwrap_or_default();
    let reply = match forward::send(&p.http, &upstream, method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(failed) => return failed,
    };
    if take_loss(&p, &headers) {
        let lost = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"reply lost"}"#;
        return (StatusCode::INTERNAL_SERVER_ERROR, lost).into_response();
    }
    forward::relay(reply).await
}

fn count_call(p: &Proxy, method: &Method, headers: &HeaderMap) {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let op = target
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or(method.as_str());
    if let Ok(mut l) = p.losses.lock() {
        *l.calls.entry(op.to_string()).or_default() += 1;
    }
}

fn take_loss(p: &Proxy, headers: &HeaderMap) -> bool {
    let Some(op) = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
    else {
        return false;
    };
    let Ok(mut l) = p.losses.lock() else {
        return false;
    };
    let scripted = match l.next.get_mut(op) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    };
    let periodic = WRITES.contains(&op) && {
        l.writes_seen += 1;
        l.every.is_some_and(|n| l.writes_seen % n == 0)
    };
    if scripted || periodic {
        l.lost += 1;
    }
    scripted || periodic
}
