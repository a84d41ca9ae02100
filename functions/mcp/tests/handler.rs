//! The MCP endpoint in process: JSON-RPC over Streamable HTTP into the router, the tools
//! answered by create-task's and status-query's handlers on in-memory ports.

use std::collections::HashMap;
use std::time::Duration;

use lambda_http::{Body, Request, Response};
use mcp::{Backend, Tools};
use serde_json::{Value, json};
use shared::edge::auth::AuthMode;
use shared::testing::{FakeProvider, MemoryBlobs, MemoryQueue, MemoryStore};
use tower::ServiceExt;

const SECRET: &[u8] = b"mcp-test-local-secret-0123456789";

struct InMemory {
    create: create_task::App<MemoryStore, FakeProvider, MemoryBlobs, MemoryQueue>,
    status: status_query::App<MemoryStore, MemoryBlobs, FakeProvider, MemoryQueue>,
}

impl Backend for InMemory {
    async fn call(&self, req: Request) -> Response<Body> {
        let path = req.uri().path();
        if req.method() == http::Method::GET
            && (path.starts_with("/v1/videos/") || path == "/v1/me")
        {
            status_query::handle(&self.status, req).await
        } else {
            create_task::handle(&self.create, req).await
        }
    }
}

fn backend() -> InMemory {
    let none: HashMap<&str, &str> = HashMap::new();
    let store = MemoryStore::default();
    let auth = || AuthMode::Local {
        secret: SECRET.to_vec(),
    };
    InMemory {
        create: create_task::App {
            store: store.clone(),
            provider: FakeProvider::default(),
            uploads: MemoryBlobs::default(),
            dispatch: MemoryQueue::default(),
            auth: auth(),
            webhook: shared::runtime::config::WebhookConfig {
                base_url: Some("https://api.example.com".into()),
                secret: b"test-webhook-secret-0123456789".to_vec(),
            },
            plans: shared::domain::plans::Plans::from_source(&none).unwrap(),
            moderation: shared::domain::moderation::Policy::from_source(&none).unwrap(),
            upload_policy: create_task::UploadPolicy {
                put_ttl: Duration::from_secs(600),
                allow_loopback_urls: false,
            },
            templates: shared::domain::templates::from_source(&none).unwrap(),
        },
        status: status_query::App {
            store,
            videos: MemoryBlobs::default(),
            provider: FakeProvider::default(),
            queue: MemoryQueue::default(),
            auth: auth(),
            presign_ttl: Duration::from_secs(900),
            capacity: 2,
            plans: shared::domain::plans::Plans::from_source(&none).unwrap(),
            poll: shared::lifecycle::sync::SyncPolicy {
                stale_after: Duration::from_secs(30),
                hard_timeout: Duration::from_secs(3 * 3600),
            },
            stream: None,
        },
    }
}

/// A JSON-RPC request to `/mcp` as an agent host sends it.
fn rpc_request(
    token: Option<&str>,
    id: u64,
    method: &str,
    params: Value,
) -> http::Request<axum::body::Body> {
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/mcp")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let mut params = params;
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}});
    if let Some(name) = params["name"].as_str() {
        req = req.header("mcp-name", name);
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    req.body(axum::body::Body::from(body.to_string())).unwrap()
}

async fn rpc(
    app: &axum::Router,
    token: Option<&str>,
    id: u64,
    method: &str,
    params: Value,
) -> Value {
    let req = rpc_request(token, id, method, params);
    let resp = app.clone().oneshot(req).await.unwrap();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&bytes)}))
}

/// The endpoint as the Lambda serves it: metadata, the 401 challenge, then MCP.
fn router(tools: Tools<InMemory>) -> axum::Router {
    let settings = mcp::Settings {
        api_base: Some("https://api.example.com".into()),
        authorization_server: Some("https://cognito-idp.us-east-1.amazonaws.com/pool-1".into()),
    };
    let endpoint = mcp::Endpoint::new(tools, settings);
    axum::Router::new().fallback_service(tower::service_fn(move |req| {
        let endpoint = endpoint.clone();
        async move { Ok::<_, std::convert::Infallible>(endpoint.handle(req).await) }
    }))
}

fn token(user: &str) -> String {
    shared::edge::auth::mint_local_token(SECRET, user, Some("pro"), 3600).unwrap()
}

#[tokio::test]
async fn the_tools_are_listed_with_the_http_apis_schemas() {
    let app = router(Tools::new(backend()).unwrap());
    let listed = rpc(&app, Some(&token("agent")), 1, "tools/list", json!({})).await;
    let tools = listed["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"));
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "estimate_video",
            "create_video",
            "get_video",
            "list_templates"
        ]
    );
    let create = &tools[1]["inputSchema"]["properties"]["request"];
    assert!(
        create["oneOf"][0]["properties"]["prompt_parts"].is_object(),
        "{create}"
    );
    assert!(
        !create.to_string().contains("$ref"),
        "references are inlined"
    );
    let kinds: Vec<&str> = create["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{create}"))
        .iter()
        .filter_map(|k| k["properties"]["type"]["const"].as_str())
        .collect();
    assert_eq!(
        kinds,
        shared::domain::validation::KIND_NAMES,
        "every kind the API takes"
    );
}

async fn call(app: &axum::Router, token: Option<&str>, id: u64, tool: &str, args: Value) -> Value {
    let answer = rpc(
        app,
        token,
        id,
        "tools/call",
        json!({"name": tool, "arguments": args}),
    )
    .await;
    answer["result"].clone()
}

fn t2v(prompt: &str) -> Value {
    json!({"type": "text_to_video", "prompt": prompt, "duration": 5})
}

#[tokio::test]
async fn a_video_is_created_and_read_through_the_tools_once_per_call() {
    let app = router(Tools::new(backend()).unwrap());
    let agent = token("agent");
    let estimate = call(
        &app,
        Some(&agent),
        1,
        "estimate_video",
        json!({"request": t2v("a tide pool")}),
    )
    .await;
    assert_eq!(estimate["structuredContent"]["status"], 200, "{estimate}");
    assert!(estimate["structuredContent"]["body"]["cost_units"].as_f64() > Some(0.0));
    let args =
        json!({"request": t2v("a tide pool at dawn, macro lens"), "idempotency_key": "tide-1"});
    let created = call(&app, Some(&agent), 2, "create_video", args.clone()).await;
    assert_eq!(created["isError"], false, "{created}");
    assert_eq!(created["structuredContent"]["status"], 202);
    let id = created["structuredContent"]["body"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The same call again (a client retrying it, or a new session reusing the JSON-RPC id with
    // the same key): one task. A new key is a new video, whatever the JSON-RPC id.
    let again = call(&app, Some(&agent), 2, "create_video", args.clone()).await;
    assert_eq!(again["structuredContent"]["body"]["id"], id.as_str());
    let mut anew = args;
    anew["idempotency_key"] = json!("tide-2");
    let another = call(&app, Some(&agent), 2, "create_video", anew).await;
    assert_eq!(another["structuredContent"]["status"], 202, "{another}");
    assert_ne!(another["structuredContent"]["body"]["id"], id.as_str());
    let keyless = rpc(
        &app,
        Some(&agent),
        5,
        "tools/call",
        json!({"name": "create_video", "arguments": {"request": t2v("a tide pool")}}),
    )
    .await;
    assert!(
        keyless["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("idempotency_key")),
        "{keyless}"
    );
    let got = call(&app, Some(&agent), 3, "get_video", json!({"id": id})).await;
    assert_eq!(got["structuredContent"]["body"]["id"], id.as_str());
    let templates = call(&app, Some(&agent), 4, "list_templates", json!({})).await;
    assert!(
        templates["structuredContent"]["body"]["items"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
}

/// The code an HTTP create gives for this body.
async fn http_code(app: &InMemory, user: &str, body: &Value) -> String {
    let event = shared::testing::HttpEvent::new("POST", "/v1/videos")
        .user(None)
        .header("authorization", &format!("Bearer {}", token(user)))
        .header("idempotency-key", "http-1")
        .json(body.clone());
    let (_, _, answer) = shared::testing::response_parts(app.call(event.request()).await);
    answer["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn invalid_and_blocked_requests_get_the_http_apis_codes() {
    let app = router(Tools::new(backend()).unwrap());
    let http = backend();
    let cases = [
        (t2v(&"long ".repeat(600)), "prompt_too_long"),
        (
            json!({"type": "text_to_video", "duration": 5}),
            "prompt_required",
        ),
        (
            t2v("a graphic beheading in close-up"),
            "content_policy_violation",
        ),
        (
            json!({"type": "text_to_video", "prompt": "x", "colour": "red"}),
            "malformed_request",
        ),
    ];
    for (i, (body, code)) in cases.into_iter().enumerate() {
        let got = call(
            &app,
            Some(&token("agent")),
            10 + i as u64,
            "create_video",
            json!({"request": body, "idempotency_key": format!("bad-{i}")}),
        )
        .await;
        assert_eq!(got["isError"], true, "{got}");
        assert_eq!(
            got["structuredContent"]["body"]["error"]["code"], code,
            "{got}"
        );
        assert_eq!(http_code(&http, "agent", &body).await, code);
    }
    let missing = rpc(
        &app,
        Some(&token("agent")),
        21,
        "tools/call",
        json!({"name": "create_video", "arguments": {}}),
    )
    .await;
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("request"),
        "{missing}"
    );
}

/// The MCP authorization flow: without a token (or with one the API refuses) every MCP request
/// is 401 with `WWW-Authenticate: Bearer resource_metadata="…"`, nothing listed or made; the
/// metadata (RFC 9728) names the resource and the authorization server, at both well-known
/// paths, without a token.
#[tokio::test]
async fn without_a_good_token_the_endpoint_answers_the_challenge_and_its_metadata() {
    let app = router(Tools::new(backend()).unwrap());
    let forged =
        shared::edge::auth::mint_local_token(b"another-secret-0123456789-abcdef", "x", None, 60)
            .unwrap();
    for (token, error) in [(None, false), (Some(forged.as_str()), true)] {
        for method in ["tools/list", "tools/call"] {
            let req = rpc_request(
                token,
                1,
                method,
                json!({"name": "list_templates", "arguments": {}}),
            );
            let resp = app.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), 401, "{method} {token:?}");
            let challenge = resp.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                challenge.starts_with("Bearer resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\""),
                "{challenge}"
            );
            assert_eq!(
                challenge.contains("error=\"invalid_token\""),
                error,
                "{challenge}"
            );
        }
    }
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let req = http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["resource"], "https://api.example.com/mcp");
        assert_eq!(
            doc["authorization_servers"],
            json!(["https://cognito-idp.us-east-1.amazonaws.com/pool-1"])
        );
    }
    let listed = rpc(&app, Some(&token("agent")), 2, "tools/list", json!({})).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
}
