//! A Lambda function URL: every request to its origin is one invocation with the payload 2.0
//! event (as function URLs send it). In `RESPONSE_STREAM` mode the answer is passed on as the
//! function writes it: the metadata prelude (status, headers) up to eight NUL bytes, then the
//! body, chunk by chunk.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;

use crate::gateway::{http_event, http_response};
use crate::lambda_host::{LambdaHost, ResponseStream, Streamed};

struct Url {
    host: Arc<LambdaHost>,
    function: String,
}

pub fn router(host: Arc<LambdaHost>, function: String) -> Router {
    Router::new()
        .fallback(serve)
        .with_state(Arc::new(Url { host, function }))
}

async fn serve(
    State(url): State<Arc<Url>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let event = http_event(&method, &uri, &headers, &body, None, &HashMap::new());
    let payload = Bytes::from(event.to_string());
    match url.host.invoke_streaming(&url.function, payload).await {
        Ok(Streamed::Chunks(chunks)) => streamed(chunks).await,
        Ok(Streamed::Whole(doc)) => http_response(&doc),
        Err(e) => {
            tracing::error!(function = %url.function, error = %e, "invocation failed");
            (StatusCode::BAD_GATEWAY, "Internal Server Error").into_response()
        }
    }
}

const DELIMITER: &[u8] = &[0u8; 8];

/// Read the prelude, then hand the rest of the stream to the client as it comes.
async fn streamed(mut chunks: ResponseStream) -> Response {
    let mut head = Vec::new();
    let split = loop {
        match chunks.recv().await {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => {
                return (StatusCode::BAD_GATEWAY, "stream ended in its prelude").into_response();
            }
        }
        if let Some(at) = head.windows(DELIMITER.len()).position(|w| w == DELIMITER) {
            break at;
        }
    };
    let Ok(prelude) = serde_json::from_slice::<Value>(&head[..split]) else {
        return (StatusCode::BAD_GATEWAY, "unreadable stream prelude").into_response();
    };
    let first = Bytes::copy_from_slice(&head[split + DELIMITER.len()..]);
    let rest = tokio_stream_of(chunks);
    let body = futures_util::stream::once(async move { first })
        .chain(rest)
        .map(Ok::<_, std::convert::Infallible>);
    let mut builder = Response::builder().status(
        prelude
            .get("statusCode")
            .and_then(Value::as_u64)
            .and_then(|s| StatusCode::from_u16(s as u16).ok())
            .unwrap_or(StatusCode::OK),
    );
    if let Some(Value::Object(h)) = prelude.get("headers") {
        for (k, v) in h {
            if let Some(v) = v.as_str() {
                builder = builder.header(k, v);
            }
        }
    }
    builder
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

fn tokio_stream_of(mut rx: ResponseStream) -> impl futures_util::Stream<Item = Bytes> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
