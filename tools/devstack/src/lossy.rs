//! A proxy in front of moto that loses replies: the request reaches DynamoDB and is applied,
//! but the caller is told 500, as when a connection drops after the commit. The SDK retries,
//! so every conditional write must recognise its own earlier success.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::DevError;

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    /// Operation (the `X-Amz-Target` suffix, e.g. `PutItem`) → replies still to lose.
    losses: Arc<Mutex<HashMap<String, usize>>>,
}

/// A running proxy; `endpoint` goes where moto's would.
pub struct LossyProxy {
    pub endpoint: String,
    losses: Arc<Mutex<HashMap<String, usize>>>,
}

impl LossyProxy {
    pub async fn start(upstream: &str) -> Result<Self, DevError> {
        let losses = Arc::new(Mutex::new(HashMap::new()));
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            losses: losses.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| DevError::Process(format!("lossy proxy: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| DevError::Process(format!("lossy proxy: {e}")))?;
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            endpoint: format!("http://{addr}"),
            losses,
        })
    }

    /// Lose the replies of the next `n` calls of `operation` (after they were applied).
    pub fn lose_next(&self, operation: &str, n: usize) {
        if let Ok(mut l) = self.losses.lock() {
            l.insert(operation.to_string(), n);
        }
    }

    /// Replies of `operation` still to lose.
    pub fn pending(&self, operation: &str) -> usize {
        self.losses
            .lock()
            .map(|l| l.get(operation).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

async fn forward(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut req = p.http.request(method, format!("{}{path}", p.upstream));
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    let reply = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    if take_loss(&p, &headers) {
        let lost = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"reply lost"}"#;
        return (StatusCode::INTERNAL_SERVER_ERROR, lost).into_response();
    }
    let status = reply.status();
    let reply_headers = reply.headers().clone();
    let bytes = reply.bytes().await.unwrap_or_default();
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    for (name, value) in &reply_headers {
        if name != "content-length" && name != "transfer-encoding" {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}

fn take_loss(p: &Proxy, headers: &HeaderMap) -> bool {
    let Some(op) = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
    else {
        return false;
    };
    let Ok(mut losses) = p.losses.lock() else {
        return false;
    };
    match losses.get_mut(op) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}
