//! The docs port: the app's contract (`/openapi.yaml`, its `servers` set to this stack) and the
//! playground (`/playground/`, static HTML and JavaScript from `playground/`), which calls the
//! API through `/v1/…` on the same origin (forwarded to the stack's API) with a local token
//! from `/playground/config.json`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use crate::DevError;

pub struct Docs {
    pub spec: String,
    pub api_url: String,
    pub playground_dir: PathBuf,
    /// A local token for the playground's user.
    pub token: String,
    pub http: reqwest::Client,
}

pub fn router(docs: Arc<Docs>) -> axum::Router {
    axum::Router::new()
        .route("/openapi.yaml", get(spec))
        .route("/playground/config.json", get(config))
        .route(
            "/playground/",
            get(|s| file(s, Path("index.html".to_string()))),
        )
        .route("/playground/{*file}", get(file))
        .route("/v1/{*rest}", any(forward))
        .with_state(docs)
}

async fn spec(State(d): State<Arc<Docs>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml")], d.spec.clone())
}

async fn config(State(d): State<Arc<Docs>>) -> impl IntoResponse {
    axum::Json(serde_json::json!({ "token": d.token }))
}

async fn file(State(d): State<Arc<Docs>>, Path(name): Path<String>) -> Response {
    let known = ["index.html", "playground.js", "playground.css"];
    if !known.contains(&name.as_str()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let kind = match name.rsplit('.').next() {
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        _ => "text/html; charset=utf-8",
    };
    match tokio::fs::read(d.playground_dir.join(&name)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The request as the API would get it from the app, and its answer as the app would see it.
async fn forward(State(d): State<Arc<Docs>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut out = d
        .http
        .request(parts.method, format!("{}{path}", d.api_url))
        .body(body);
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            out = out.header(name, value);
        }
    }
    match out.send().await {
        Ok(resp) => {
            let status = resp.status();
            let mut headers = HeaderMap::new();
            for (name, value) in resp.headers() {
                if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
                    headers.insert(name, value.clone());
                }
            }
            let bytes = resp.bytes().await.unwrap_or_else(|_| Bytes::new());
            (status, headers, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Serve the docs port; the spec's and the playground's URLs.
pub async fn serve(
    listener: tokio::net::TcpListener,
    docs: Docs,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<(String, String), DevError> {
    let port = listener
        .local_addr()
        .map_err(|e| DevError::Process(e.to_string()))?
        .port();
    let app = router(Arc::new(docs));
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }));
    Ok((
        format!("http://127.0.0.1:{port}/openapi.yaml"),
        format!("http://127.0.0.1:{port}/playground/"),
    ))
}
