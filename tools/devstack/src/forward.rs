//! Forwarding one request to moto and its reply back, for the proxies in front of it.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::DevError;

/// Serves `app` (a proxy: every path to one handler) on a free loopback port; its endpoint.
pub async fn serve(what: &str, app: axum::Router) -> Result<String, DevError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| DevError::Process(format!("{what}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| DevError::Process(format!("{what}: {e}")))?;
    // No body limit: S3 parts are megabytes.
    let app = app.layer(axum::extract::DefaultBodyLimit::disable());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

/// Sends the request on to `upstream`; a transport failure is already the caller's 502.
pub async fn send(
    http: &reqwest::Client,
    upstream: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<reqwest::Response, Response> {
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut req = http.request(method, format!("{upstream}{path}"));
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    req.body(body)
        .send()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())
}

/// moto's reply as the caller's.
pub async fn relay(reply: reqwest::Response) -> Response {
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
