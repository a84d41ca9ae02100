//! The local front door: API Gateway HTTP API (payload 2.0) in front of the built-in Lambda
//! host, plus the Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`) on the
//! same port, as `cargo lambda watch` serves them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::lambda_host::{InvokeError, LambdaHost};
use crate::routes::RouteTable;

/// API Gateway's payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

pub struct Gateway {
    pub host: Arc<LambdaHost>,
    pub routes: RouteTable,
    /// The function behind `$default`: what no route matches goes there, as on API Gateway.
    pub default_route: Option<String>,
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .fallback(api)
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
        .with_state(gateway)
}

async fn invoke(State(gw): State<Arc<Gateway>>, Path(name): Path<String>, body: Bytes) -> Response {
    match gw.host.invoke(&name, body).await {
        Ok(out) => (StatusCode::OK, out).into_response(),
        Err(InvokeError::NoSuchFunction(n)) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"Type": "User", "message": format!("Function not found: {n}")})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::OK,
            [("x-amz-function-error", "Unhandled")],
            axum::Json(json!({"errorType": "Runtime", "errorMessage": e.to_string()})),
        )
            .into_response(),
    }
}

/// The payload 2.0 event API Gateway would send for this request.
pub fn http_event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    route_path: Option<&str>,
    path_params: &HashMap<String, String>,
) -> Value {
    let mut hdrs: serde_json::Map<String, Value> = serde_json::Map::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let key = name.as_str().to_ascii_lowercase();
        match hdrs.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                hdrs.insert(key, Value::String(v));
            }
        }
    }
    let raw_query = uri.query().unwrap_or_default();
    let mut query: serde_json::Map<String, Value> = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        query.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    let route_key = route_path.map_or("$default".to_string(), |p| format!("{method} {p}"));
    let now = time::OffsetDateTime::now_utc();
    let domain = hdrs
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("localhost")
        .to_string();
    let (body, is_b64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (B64.encode(body), true),
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": hdrs,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap_or_default(),
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.unix_timestamp().to_string(),
            "timeEpoch": now.unix_timestamp() * 1000 + i64::from(now.millisecond()),
        },
        "isBase64Encoded": is_b64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !path_params.is_empty() {
        event["pathParameters"] = json!(path_params);
    }
    if !body.is_empty() {
        event["body"] = Value::String(body);
    }
    event
}

/// Turn a payload 2.0 response document into an HTTP response.
pub fn http_response(doc: &[u8]) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(doc) else {
        return (StatusCode::BAD_GATEWAY, "function returned invalid JSON").into_response();
    };
    let status = v
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let body = match v.get("body").and_then(Value::as_str) {
        Some(b) if v.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            B64.decode(b).unwrap_or_default()
        }
        Some(b) => b.as_bytes().to_vec(),
        None => Vec::new(),
    };
    let mut builder = Response::builder().status(status);
    if let Some(Value::Object(h)) = v.get("headers") {
        for (k, val) in h {
            if let Some(s) = val.as_str() {
                builder = builder.header(k, s);
            }
        }
    }
    if let Some(Value::Object(h)) = v.get("multiValueHeaders") {
        for (k, vals) in h {
            for val in vals
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                builder = builder.header(k, val);
            }
        }
    }
    builder
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

async fn api(
    State(gw): State<Arc<Gateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (event, function) = match gw.routes.find(method.as_str(), uri.path()) {
        Some(route) => (
            http_event(
                &method,
                &uri,
                &headers,
                &body,
                Some(&route.path),
                &route.params,
            ),
            route.function,
        ),
        None => match &gw.default_route {
            Some(f) => (
                http_event(&method, &uri, &headers, &body, None, &HashMap::new()),
                f.clone(),
            ),
            None => {
                let bare = axum::Json(json!({"message": "Not Found"}));
                return (StatusCode::NOT_FOUND, bare).into_response();
            }
        },
    };
    match gw
        .host
        .invoke(&function, Bytes::from(event.to_string()))
        .await
    {
        Ok(doc) => http_response(&doc),
        Err(e) => {
            tracing::error!(%function, error = %e, "invocation failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"message": "Internal Server Error"})),
            )
                .into_response()
        }
    }
}
